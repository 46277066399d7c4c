-- 0002_tuya_configs: decoded Tuya configurations, for the extraction step.

CREATE TABLE tuya_configs (
    id            INTEGER PRIMARY KEY,
    run_id        INTEGER NOT NULL REFERENCES runs (id),
    step_id       INTEGER REFERENCES steps (id),
    unit_id       INTEGER REFERENCES units (id),
    config_json   TEXT NOT NULL CHECK (json_valid(config_json)),
    redacted      INTEGER NOT NULL CHECK (redacted IN (0, 1)),
    obk_pins_json TEXT CHECK (obk_pins_json IS NULL OR json_valid(obk_pins_json)),
    created_utc   TEXT NOT NULL
);
CREATE INDEX tuya_configs_run ON tuya_configs (run_id);
CREATE INDEX tuya_configs_unit ON tuya_configs (unit_id);
