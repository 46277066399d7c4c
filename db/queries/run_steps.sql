-- description: The steps of one run: outcome, duration, message, measurements and artifacts.
-- param: run   the run id (first column of recent_runs)
SELECT st.idx      AS step,
       st.name     AS name,
       st.outcome  AS outcome,
       round((julianday(st.ended_utc) - julianday(st.started_utc)) * 86400, 3) AS seconds,
       st.message  AS message,
       (SELECT group_concat(x, ', ') FROM
          (SELECT m.name || '=' || printf('%.15g', m.value) || COALESCE(' ' || m.unit, '') AS x
             FROM measurements m WHERE m.step_id = st.id ORDER BY m.id)) AS measurements,
       (SELECT group_concat(x, ', ') FROM
          (SELECT a.kind || ' ' || a.path || ' (' || a.size || ' B, sha256 ' || substr(a.sha256, 1, 12) || ')' AS x
             FROM artifacts a WHERE a.step_id = st.id ORDER BY a.id)) AS artifacts
FROM steps st
WHERE st.run_id = :run
ORDER BY st.idx;
