-- schema.sql — the flashline audit log, current schema (version 6).
--
-- This file documents the schema; the database is built by applying
-- db/migrations/NNNN_*.sql in order (fl_auditdb_open does it, one transaction
-- per migration, PRAGMA user_version = the last one applied).  tests/
-- test_auditdb.c checks that this file and the migrations build the same
-- tables, indexes and triggers: change both together, and never edit a
-- migration that has shipped — add a new one.
--
-- Conventions
--   * Time stamps are UTC text, ISO 8601 with milliseconds and a Z:
--     "2026-11-20T22:45:00.123Z".  They sort as text; substr(t, 1, 10) is the day.
--   * Outcomes separate the unit from the station:
--       RUNNING  in progress (or the process died: recovery turns it into ABORTED)
--       PASS     everything succeeded
--       FAIL     the unit is bad (verify mismatch, wrong chip)
--       ERROR    the station, link or fixture failed; the unit may be fine
--       ABORTED  stopped by the operator (Ctrl-C, SIGTERM) or by a crash
--   * Hashes are SHA-256 as 64 lowercase hex digits.
--   * The log is append-only (migration 0003): finished runs and steps, and all
--     measurements, artifacts and Tuya configs, cannot be changed or deleted.
--   * Connections use WAL, foreign_keys = ON, synchronous = FULL, a busy timeout.
--   * PRAGMA application_id = 0x464C4C4E ("FLLN") marks a flashline audit log.

PRAGMA application_id = 1179405390;

-- A station: one PC driving one or more ports.  Named by --station (default:
-- the host name).
CREATE TABLE stations (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE CHECK (length(name) > 0),
    host        TEXT NOT NULL,          -- host name of the last process using it
    first_seen  TEXT NOT NULL,
    last_seen   TEXT NOT NULL
);

-- A physical module.  Found again by MAC ("aa:bb:cc:dd:ee:ff"); when the MAC
-- cannot be read, by alt_id (e.g. an id the run loop derives from the JEDEC
-- ID).  Fields learned in later runs fill in the unknown ones.
CREATE TABLE units (
    id          INTEGER PRIMARY KEY,
    mac         TEXT UNIQUE CHECK (mac IS NULL OR (length(mac) = 17 AND mac GLOB
                '[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]')),
    alt_id      TEXT CHECK (alt_id IS NULL OR length(alt_id) > 0),
    chip        TEXT,                   -- "bk7231n", ...
    jedec_id    TEXT CHECK (jedec_id IS NULL OR (length(jedec_id) = 6 AND NOT jedec_id GLOB '*[^0-9a-f]*')),
    flash_size  INTEGER CHECK (flash_size IS NULL OR flash_size > 0),  -- bytes
    loader_kind TEXT,                   -- "rom" or "flash" bootloader personality; "spi mode" / "spi" when reached by a SPI programmer
    first_seen  TEXT NOT NULL,
    last_seen   TEXT NOT NULL,
    CHECK (mac IS NOT NULL OR alt_id IS NOT NULL)
);
CREATE INDEX units_alt_id ON units (alt_id);

-- One pass of a recipe over one unit on one port.  Inserted (and committed)
-- as RUNNING before the unit is touched, so a crash always leaves evidence.
-- pid, host and proc_token identify the writing process for crash recovery:
-- proc_token is "<boot id>/<process start time>" so that a pid reused by
-- another process is not mistaken for the run's.  heartbeat_utc is refreshed
-- at every step; runs of other hosts are recovered when it is stale.
CREATE TABLE runs (
    id            INTEGER PRIMARY KEY,
    station_id    INTEGER NOT NULL REFERENCES stations (id),
    operator      TEXT,
    recipe_name   TEXT,
    recipe_sha256 TEXT CHECK (recipe_sha256 IS NULL OR
                  (length(recipe_sha256) = 64 AND NOT recipe_sha256 GLOB '*[^0-9a-f]*')),
    port          TEXT,                 -- port URL as given on the command line
    unit_id       INTEGER REFERENCES units (id),  -- NULL until the unit is identified
    started_utc   TEXT NOT NULL,
    ended_utc     TEXT,                 -- NULL exactly while RUNNING
    outcome       TEXT NOT NULL DEFAULT 'RUNNING'
                  CHECK (outcome IN ('RUNNING', 'PASS', 'FAIL', 'ERROR', 'ABORTED')),
    message       TEXT,                 -- why it ended that way, for a human
    pid           INTEGER NOT NULL,
    host          TEXT NOT NULL,
    proc_token    TEXT,
    heartbeat_utc TEXT NOT NULL,
    -- How the run reached its chip (migration 0004), written by the connect
    -- step while the run is RUNNING; NULL for runs that never connected.
    driver        TEXT,                 -- "beken-uart", "ch341a-spi"
    programmer    TEXT,                 -- port URL, "ch341a bus 1 port 4", "emulator ch341a:sim?…"
    CHECK ((outcome = 'RUNNING') = (ended_utc IS NULL))
);
CREATE INDEX runs_started ON runs (started_utc);
CREATE INDEX runs_unit ON runs (unit_id);
CREATE INDEX runs_running ON runs (outcome) WHERE outcome = 'RUNNING';

-- The steps of a run (connect, identify, backup, flash, verify, ...), numbered
-- from 1.  The row is committed as RUNNING at step start; its outcome and all
-- its measurements, artifacts and Tuya configs are committed together at
-- step end (one transaction per step).
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

-- Numbers a step (or, with step_id NULL, the run) measured: bytes, baud,
-- retries, CRCs, seconds.  unit is free text ("B", "baud", "s").
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

-- Files a run produced or used: kind "backup" (the unit's original flash),
-- "firmware" (the image flashed), "image", ... by path, SHA-256 and size.
CREATE TABLE artifacts (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL REFERENCES runs (id),
    step_id     INTEGER REFERENCES steps (id),
    kind        TEXT NOT NULL CHECK (length(kind) > 0),
    path        TEXT NOT NULL CHECK (length(path) > 0),
    sha256      TEXT NOT NULL CHECK (length(sha256) = 64 AND NOT sha256 GLOB '*[^0-9a-f]*'),
    size        INTEGER NOT NULL CHECK (size >= 0),
    created_utc TEXT NOT NULL,
    -- What a backup holds (migration 0005): "openbeken 1.18.300", "tuya",
    -- "vendor", "blank", "unknown"; vendor = 1 when it is the vendor's
    -- firmware.  A unit's original vendor firmware is its first vendor backup.
    content     TEXT CHECK (content IS NULL OR length(content) > 0),
    vendor      INTEGER CHECK (vendor IS NULL OR vendor IN (0, 1)),
    -- A flashed image named from the firmware store (migration 0006): the
    -- store's name ("OpenBK7231N"), version and where it came from (file or
    -- release URL); NULL when the recipe gave a path.
    store_name    TEXT CHECK (store_name IS NULL OR length(store_name) > 0),
    store_version TEXT CHECK (store_version IS NULL OR length(store_version) > 0),
    store_source  TEXT CHECK (store_source IS NULL OR length(store_source) > 0)
);
CREATE INDEX artifacts_run ON artifacts (run_id);
CREATE INDEX artifacts_sha256 ON artifacts (sha256);

-- Tuya configurations decoded from a unit's backup: the JSON (secrets
-- replaced by "<redacted>" unless the operator opted in: redacted = 0) and
-- the OpenBeken pin map derived from it.
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

-- Append-only: finished records cannot be changed or deleted, nothing can be
-- added to a finished run.  Units and stations stay mutable.
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

PRAGMA user_version = 6;
