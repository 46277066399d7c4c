-- description: Batch summary: PASS/FAIL/ERROR/ABORTED counts and pass rate per station per day (UTC), or per port too (by=port).
-- param: from=      first day, YYYY-MM-DD (UTC); "" = from the beginning
-- param: to=        last day, inclusive, YYYY-MM-DD (UTC); "" = up to now
-- param: station=   only this station ("" = every station)
-- param: by=station  "station": one row per station per day; "port": one per port of each station too
SELECT substr(r.started_utc, 1, 10)         AS day,
       s.name                                AS station,
       CASE WHEN :by = 'port' THEN coalesce(r.port, '') ELSE '' END AS port,
       count(*)                              AS runs,
       count(DISTINCT r.unit_id)             AS units,
       sum(r.outcome = 'PASS')               AS pass,
       sum(r.outcome = 'FAIL')               AS fail,
       sum(r.outcome = 'ERROR')              AS error,
       sum(r.outcome = 'ABORTED')            AS aborted,
       sum(r.outcome = 'RUNNING')            AS running,
       round(100.0 * sum(r.outcome = 'PASS') / count(*), 1) AS pass_pct
FROM runs r
JOIN stations s ON s.id = r.station_id
WHERE (:from = '' OR r.started_utc >= :from)
  AND (:to = '' OR r.started_utc < date(:to, '+1 day'))
  AND (:station = '' OR s.name = :station)
GROUP BY day, station, 3
ORDER BY day, station, 3;
