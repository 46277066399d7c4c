-- description: The most recent runs, newest first: station, port, driver and programmer, unit, recipe, outcome, duration.
-- param: limit=20   how many runs to show
-- param: station=   only runs of this station ("" = every station)
SELECT r.id                             AS run,
       r.started_utc                    AS started,
       s.name                           AS station,
       r.port                           AS port,
       r.driver                         AS driver,
       r.programmer                     AS programmer,
       COALESCE(u.mac, u.alt_id)        AS unit,
       u.chip                           AS chip,
       r.recipe_name                    AS recipe,
       r.outcome                        AS outcome,
       round((julianday(r.ended_utc) - julianday(r.started_utc)) * 86400, 1) AS seconds,
       r.message                        AS message
FROM runs r
JOIN stations s ON s.id = r.station_id
LEFT JOIN units u ON u.id = r.unit_id
WHERE (:station = '' OR s.name = :station)
ORDER BY r.started_utc DESC, r.id DESC
LIMIT :limit;
