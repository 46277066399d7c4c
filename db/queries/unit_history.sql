-- description: Every run of one unit (by MAC), oldest first, how it was reached, with the backup taken (path, what it holds; "original" marks the unit's original vendor firmware) and the image flashed.
-- param: mac   the unit's MAC: aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF or aabbccddeeff
-- The original vendor firmware is the unit's FIRST backup that holds vendor
-- firmware (not OpenBeken, not blank; migration 0005): a later run backs up
-- OpenBeken, and artifact ids only grow, so the mark never moves.
WITH unit AS (SELECT id FROM units WHERE mac = fl_mac(:mac)),
original AS (
    SELECT min(a.id) AS id FROM artifacts a JOIN runs r ON r.id = a.run_id
    WHERE r.unit_id = (SELECT id FROM unit) AND a.kind = 'backup' AND a.vendor = 1
)
SELECT r.id                AS run,
       r.started_utc       AS started,
       s.name              AS station,
       r.operator          AS operator,
       r.port              AS port,
       r.driver            AS driver,      -- how the run reached the chip: beken-uart, ch341a-spi
       r.programmer        AS programmer,  -- the port URL or the programmer (ch341a bus 1 port 4)
       u.chip              AS chip,
       r.recipe_name       AS recipe,
       substr(r.recipe_sha256, 1, 12) AS recipe_sha,
       r.outcome           AS outcome,
       r.message           AS message,
       (SELECT group_concat(a.path, ' ') FROM artifacts a
         WHERE a.run_id = r.id AND a.kind = 'backup')   AS backup,
       (SELECT group_concat(coalesce(a.content, '?') ||
                            CASE WHEN a.id = (SELECT id FROM original) THEN ' (original)'
                                 ELSE '' END, ' ')
          FROM artifacts a WHERE a.run_id = r.id AND a.kind = 'backup') AS backup_holds,
       (SELECT group_concat(a.sha256, ' ') FROM artifacts a
         WHERE a.run_id = r.id AND a.kind = 'backup')   AS backup_sha256,
       (SELECT group_concat(a.sha256, ' ') FROM artifacts a
         WHERE a.run_id = r.id AND a.kind = 'firmware') AS firmware_sha256
FROM runs r
JOIN units u ON u.id = r.unit_id
JOIN stations s ON s.id = r.station_id
WHERE u.id = (SELECT id FROM unit)
ORDER BY r.started_utc, r.id;
