-- description: Every run of one unit (by MAC), oldest first, how it was reached, with the backup taken and the image flashed.
-- param: mac   the unit's MAC: aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF or aabbccddeeff
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
       (SELECT group_concat(a.sha256, ' ') FROM artifacts a
         WHERE a.run_id = r.id AND a.kind = 'backup')   AS backup_sha256,
       (SELECT group_concat(a.sha256, ' ') FROM artifacts a
         WHERE a.run_id = r.id AND a.kind = 'firmware') AS firmware_sha256
FROM runs r
JOIN units u ON u.id = r.unit_id
JOIN stations s ON s.id = r.station_id
WHERE u.mac = fl_mac(:mac)
ORDER BY r.started_utc, r.id;
