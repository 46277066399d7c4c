-- 0001_initial: stations, units, runs, steps, measurements, artifacts.
-- Applied by fl_auditdb_open inside one transaction, with user_version set
-- after it.  See db/schema.sql for the documented current schema.

PRAGMA application_id = 1179405390;  -- 0x464C4C4E "FLLN": marks a flashline audit log

CREATE TABLE stations (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE CHECK (length(name) > 0),
    host        TEXT NOT NULL,
    first_seen  TEXT NOT NULL,
    last_seen   TEXT NOT NULL
);

CREATE TABLE units (
    id          INTEGER PRIMARY KEY,
    mac         TEXT UNIQUE CHECK (mac IS NULL OR (length(mac) = 17 AND mac GLOB
                '[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]')),
    alt_id      TEXT CHECK (alt_id IS NULL OR length(alt_id) > 0),
    chip        TEXT,
    jedec_id    TEXT CHECK (jedec_id IS NULL OR (length(jedec_id) = 6 AND NOT jedec_id GLOB '*[^0-9a-f]*')),
    flash_size  INTEGER CHECK (flash_size IS NULL OR flash_size > 0),
    loader_kind TEXT,
    first_seen  TEXT NOT NULL,
    last_seen   TEXT NOT NULL,
    CHECK (mac IS NOT NULL OR alt_id IS NOT NULL)
);
CREATE INDEX units_alt_id ON units (alt_id);

CREATE TABLE runs (
    id            INTEGER PRIMARY KEY,
    station_id    INTEGER NOT NULL REFERENCES stations (id),
    operator      TEXT,
    recipe_name   TEXT,
    recipe_sha256 TEXT CHECK (recipe_sha256 IS NULL OR
                  (length(recipe_sha256) = 64 AND NOT recipe_sha256 GLOB '*[^0-9a-f]*')),
    port          TEXT,
    unit_id       INTEGER REFERENCES units (id),
    started_utc   TEXT NOT NULL,
    ended_utc     TEXT,
    outcome       TEXT NOT NULL DEFAULT 'RUNNING'
                  CHECK (outcome IN ('RUNNING', 'PASS', 'FAIL', 'ERROR', 'ABORTED')),
    message       TEXT,
    pid           INTEGER NOT NULL,
    host          TEXT NOT NULL,
    proc_token    TEXT,
    heartbeat_utc TEXT NOT NULL,
    CHECK ((outcome = 'RUNNING') = (ended_utc IS NULL))
);
CREATE INDEX runs_started ON runs (started_utc);
CREATE INDEX runs_unit ON runs (unit_id);
CREATE INDEX runs_running ON runs (outcome) WHERE outcome = 'RUNNING';

CREATE TABLE steps (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL REFERENCES runs (id),
    idx         INTEGER NOT NULL CHECK (idx >= 1),
    name        TEXT NOT NULL CHECK (length(name) > 0),
    started_utc TEXT NOT NULL,
    ended_utc   TEXT,
    outcome     TEXT NOT NULL DEFAULT 'RUNNING'
                CHECK (outcome IN ('RUNNING', 'PASS', 'FAIL', 'ERROR', 'ABORTED')),
    message     TEXT,
    UNIQUE (run_id, idx),
    CHECK ((outcome = 'RUNNING') = (ended_utc IS NULL))
);

CREATE TABLE measurements (
    id      INTEGER PRIMARY KEY,
    run_id  INTEGER NOT NULL REFERENCES runs (id),
    step_id INTEGER REFERENCES steps (id),
    name    TEXT NOT NULL CHECK (length(name) > 0),
    value   REAL NOT NULL,
    unit    TEXT
);
CREATE INDEX measurements_run ON measurements (run_id);
CREATE INDEX measurements_step ON measurements (step_id);

CREATE TABLE artifacts (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL REFERENCES runs (id),
    step_id     INTEGER REFERENCES steps (id),
    kind        TEXT NOT NULL CHECK (length(kind) > 0),
    path        TEXT NOT NULL CHECK (length(path) > 0),
    sha256      TEXT NOT NULL CHECK (length(sha256) = 64 AND NOT sha256 GLOB '*[^0-9a-f]*'),
    size        INTEGER NOT NULL CHECK (size >= 0),
    created_utc TEXT NOT NULL
);
CREATE INDEX artifacts_run ON artifacts (run_id);
CREATE INDEX artifacts_sha256 ON artifacts (sha256);
