-- description: Units per firmware image and recipe hash: distinct units flashed, passed, and runs, over a date range.
-- param: from=   first day, YYYY-MM-DD (UTC); "" = from the beginning
-- param: to=     last day, inclusive, YYYY-MM-DD (UTC); "" = up to now
--
-- The image of a run is its artifact of kind "firmware" ("(none)" for runs
-- that flashed nothing, e.g. backup-only recipes); firmware_store is its
-- firmware-store identity ("OpenBK7231N@1.18.300", migration 0006) when the
-- recipe named it from the store, "" otherwise.
SELECT COALESCE(fw.sha256, '(none)')        AS firmware_sha256,
       min(fw.path)                          AS firmware,
       COALESCE(max(fw.store_name || '@' || COALESCE(fw.store_version, '?')), '') AS firmware_store,
       r.recipe_name                         AS recipe,
       COALESCE(r.recipe_sha256, '')         AS recipe_sha256,
       count(DISTINCT r.unit_id)             AS units,
       count(DISTINCT CASE WHEN r.outcome = 'PASS' THEN r.unit_id END) AS units_passed,
       count(DISTINCT r.id)                  AS runs,
       min(r.started_utc)                    AS first,
       max(r.started_utc)                    AS last
FROM runs r
LEFT JOIN artifacts fw ON fw.run_id = r.id AND fw.kind = 'firmware'
WHERE (:from = '' OR r.started_utc >= :from)
  AND (:to = '' OR r.started_utc < date(:to, '+1 day'))
GROUP BY 1, 4, 5
ORDER BY units DESC, firmware_sha256, recipe, recipe_sha256;
