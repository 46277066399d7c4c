-- 0003_append_only: an audit log is evidence, so finished records cannot be
-- changed or deleted through SQL.  A run or step may only be updated while it
-- is RUNNING (its end, heartbeat, unit); measurements, artifacts and Tuya
-- configs are never updated or deleted.  Units and stations stay mutable
-- (last_seen, fields learned later).  Purging old data, if ever needed, is a
-- deliberate migration that drops these triggers.

CREATE TRIGGER runs_no_delete BEFORE DELETE ON runs
BEGIN SELECT RAISE(ABORT, 'audit log is append-only: runs cannot be deleted'); END;

CREATE TRIGGER runs_finished_frozen BEFORE UPDATE ON runs WHEN OLD.outcome <> 'RUNNING'
BEGIN SELECT RAISE(ABORT, 'audit log is append-only: a finished run cannot be changed'); END;

CREATE TRIGGER steps_no_delete BEFORE DELETE ON steps
BEGIN SELECT RAISE(ABORT, 'audit log is append-only: steps cannot be deleted'); END;

CREATE TRIGGER steps_finished_frozen BEFORE UPDATE ON steps WHEN OLD.outcome <> 'RUNNING'
BEGIN SELECT RAISE(ABORT, 'audit log is append-only: a finished step cannot be changed'); END;

CREATE TRIGGER measurements_no_update BEFORE UPDATE ON measurements
BEGIN SELECT RAISE(ABORT, 'audit log is append-only: measurements cannot be changed'); END;
CREATE TRIGGER measurements_no_delete BEFORE DELETE ON measurements
BEGIN SELECT RAISE(ABORT, 'audit log is append-only: measurements cannot be deleted'); END;

CREATE TRIGGER artifacts_no_update BEFORE UPDATE ON artifacts
BEGIN SELECT RAISE(ABORT, 'audit log is append-only: artifacts cannot be changed'); END;
CREATE TRIGGER artifacts_no_delete BEFORE DELETE ON artifacts
BEGIN SELECT RAISE(ABORT, 'audit log is append-only: artifacts cannot be deleted'); END;

CREATE TRIGGER tuya_configs_no_update BEFORE UPDATE ON tuya_configs
BEGIN SELECT RAISE(ABORT, 'audit log is append-only: Tuya configs cannot be changed'); END;
CREATE TRIGGER tuya_configs_no_delete BEFORE DELETE ON tuya_configs
BEGIN SELECT RAISE(ABORT, 'audit log is append-only: Tuya configs cannot be deleted'); END;

-- Nothing can be added to a finished run either.
CREATE TRIGGER steps_run_open BEFORE INSERT ON steps
WHEN (SELECT outcome FROM runs WHERE id = NEW.run_id) <> 'RUNNING'
BEGIN SELECT RAISE(ABORT, 'audit log is append-only: the run is finished'); END;

CREATE TRIGGER measurements_run_open BEFORE INSERT ON measurements
WHEN (SELECT outcome FROM runs WHERE id = NEW.run_id) <> 'RUNNING'
BEGIN SELECT RAISE(ABORT, 'audit log is append-only: the run is finished'); END;

CREATE TRIGGER artifacts_run_open BEFORE INSERT ON artifacts
WHEN (SELECT outcome FROM runs WHERE id = NEW.run_id) <> 'RUNNING'
BEGIN SELECT RAISE(ABORT, 'audit log is append-only: the run is finished'); END;

CREATE TRIGGER tuya_configs_run_open BEFORE INSERT ON tuya_configs
WHEN (SELECT outcome FROM runs WHERE id = NEW.run_id) <> 'RUNNING'
BEGIN SELECT RAISE(ABORT, 'audit log is append-only: the run is finished'); END;
