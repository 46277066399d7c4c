-- description: Runs that did not pass, grouped by the step that failed and the reason, over a date range.
-- param: from=   first day, YYYY-MM-DD (UTC); "" = from the beginning
-- param: to=     last day, inclusive, YYYY-MM-DD (UTC); "" = up to now
--
-- The failing step of a run is its first step whose outcome is not PASS;
-- "(no step)" when the run ended badly outside any step.  The reason is the
-- step's message, else the run's.
WITH bad AS (
    SELECT r.id, r.outcome, r.started_utc, r.message,
           (SELECT st.id FROM steps st
             WHERE st.run_id = r.id AND st.outcome <> 'PASS'
             ORDER BY st.idx LIMIT 1) AS step_id
    FROM runs r
    WHERE r.outcome IN ('FAIL', 'ERROR', 'ABORTED')
      AND (:from = '' OR r.started_utc >= :from)
      AND (:to = '' OR r.started_utc < date(:to, '+1 day'))
)
SELECT COALESCE(st.name, '(no step)')           AS step,
       b.outcome                                AS outcome,
       COALESCE(st.message, b.message, '')      AS reason,
       count(*)                                 AS runs,
       min(b.started_utc)                       AS first,
       max(b.started_utc)                       AS last,
       max(b.id)                                AS last_run
FROM bad b
LEFT JOIN steps st ON st.id = b.step_id
GROUP BY 1, 2, 3
ORDER BY runs DESC, step, outcome, reason;
