/* auditdb.h — the station's audit log: one SQLite file recording every run.
 *
 * What it offers
 *   - open/create a log (WAL, foreign keys, busy_timeout), applying the
 *     numbered migrations compiled in from db/migrations/ in order;
 *   - crash recovery: runs left RUNNING by a process that is gone (SIGKILL,
 *     power loss) are marked ABORTED at open, their finished steps intact;
 *   - recording a run: begin (committed at once as RUNNING, so a crash leaves
 *     evidence), the unit, how it was reached (driver, programmer), steps,
 *     measurements, artifacts, Tuya configs, end.
 *
 * Threads and workers.  A handle is one SQLite connection and is used by one
 * thread at a time: give every worker (port) its own handle on the same file.
 * There is no global mutable state; handles on one file coordinate through
 * SQLite's locks (WAL + BEGIN IMMEDIATE + busy_timeout).
 *
 * One transaction per step.  step_begin commits the step row as RUNNING.
 * Measurements, artifacts and Tuya configs recorded while a step is open are
 * kept in memory and committed together with the step's outcome by step_end:
 * a step is never half-written.  If step_end fails (e.g. the log is locked)
 * nothing of it is written and the step stays open, so the caller may retry
 * or end the run.  Records made while no step is open belong to the run and
 * are committed at once.
 *
 * A handle records one run at a time.  Ending the run (or closing the handle,
 * which ends an unfinished run as ABORTED) closes a step left open with the
 * run's outcome.  Ctrl-C / SIGTERM: the run loop calls run_end(ABORTED).
 * SIGKILL / crash: the next open (any process) finds the run and marks it.
 *
 * Errors come back as fl_status + a message that names the file and says what
 * to do: FL_ERR_FILE for a locked log (another writer beyond busy_timeout),
 * a read-only file or directory, a full disk; FL_ERR_FORMAT for a corrupt
 * file, a SQLite file that is not an audit log, or a schema newer than this
 * binary; FL_ERR_USAGE for API misuse (step_begin without a run, bad MAC…).
 * No call ever leaves a partial record behind.
 *
 * Time stamps are UTC, ISO 8601 with milliseconds ("2026-11-20T22:45:00.123Z"),
 * so they sort as text and work with SQLite's date functions. */
#ifndef FL_STORAGE_AUDITDB_H
#define FL_STORAGE_AUDITDB_H

#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"

/* --- outcomes --------------------------------------------------------------
 * They separate the unit from the station: FAIL means the unit is bad, ERROR
 * means the station, link or fixture is (the unit may be fine). */
typedef enum fl_outcome {
    FL_OUTCOME_RUNNING = 0, /* in progress (never a valid end outcome) */
    FL_OUTCOME_PASS,
    FL_OUTCOME_FAIL,    /* the unit is bad (verify mismatch, wrong chip) */
    FL_OUTCOME_ERROR,   /* station / link / fixture problem */
    FL_OUTCOME_ABORTED, /* operator (Ctrl-C, SIGTERM) or crash */
} fl_outcome;

const char *fl_outcome_name(fl_outcome o); /* "RUNNING", "PASS", ... */
/* Case-insensitive "pass"/"PASS"...; false when unknown. */
bool fl_outcome_parse(const char *s, fl_outcome *out);
/* The outcome a failed library call implies: FL_OK → PASS, VERIFY/CHIP → FAIL,
 * CANCELLED → ABORTED, everything else (link, no bus, file…) → ERROR. */
fl_outcome fl_outcome_from_status(fl_status st);

/* --- opening ------------------------------------------------------------ */
typedef struct fl_auditdb fl_auditdb;

typedef struct fl_auditdb_opts {
    int busy_timeout_ms;  /* wait this long for another writer (default 5000) */
    bool no_recover;      /* skip crash recovery at open */
    /* Runs started on another host cannot be pid-checked: they are taken as
     * dead when their heartbeat is older than this (default 900 s). */
    double stale_after_s;
    /* Wall clock in Unix seconds, for tests; NULL = the real clock. */
    double (*now)(void *ctx);
    void *now_ctx;
} fl_auditdb_opts;

void fl_auditdb_opts_init(fl_auditdb_opts *o);

/* Schema version this binary writes (the highest db/migrations/NNNN). */
int fl_auditdb_schema_version(void);

/* Open or create the log at path, migrate it, and (unless opts->no_recover)
 * mark runs of dead processes ABORTED.  opts may be NULL (defaults). */
fl_status fl_auditdb_open(const char *path, const fl_auditdb_opts *opts, fl_auditdb **out,
                          fl_error *err);

/* Ends an unfinished run as ABORTED ("closed while in progress"), then closes.
 * NULL is a no-op. */
void fl_auditdb_close(fl_auditdb *db);

const char *fl_auditdb_path(const fl_auditdb *db);

/* Mark RUNNING runs whose process is gone as ABORTED: same host and the pid
 * is not alive (or was reused by another process), or another host and the
 * heartbeat is stale.  Their RUNNING steps become ABORTED, finished steps are
 * kept.  *n_aborted (may be NULL) gets how many runs were marked.  Runs of
 * this process are never touched. */
fl_status fl_auditdb_recover(fl_auditdb *db, int *n_aborted, fl_error *err);

/* How many runs the recovery at open marked ABORTED (for a log line). */
int fl_auditdb_recovered_at_open(const fl_auditdb *db);

/* --- recording a run ---------------------------------------------------- */
typedef struct fl_audit_run_info {
    const char *station;       /* station id/name; NULL or "" = this host's name */
    const char *operator_name; /* may be NULL */
    const char *recipe_name;   /* may be NULL */
    const char *recipe_sha256; /* 64 hex digits or NULL */
    const char *port;          /* port URL; may be NULL */
} fl_audit_run_info;

/* Insert the run as RUNNING and commit it before returning. */
fl_status fl_auditdb_run_begin(fl_auditdb *db, const fl_audit_run_info *info, int64_t *run_id,
                               fl_error *err);

/* A unit is found again by MAC, else (no MAC) by alt_id, and created when
 * new.  Known fields fill in what earlier runs did not know. */
typedef struct fl_audit_unit {
    const char *mac;         /* "AA:BB:CC:DD:EE:FF", "aa-bb-…" or 12 hex digits; NULL = unknown */
    const char *alt_id;      /* identity when the MAC is unknown, e.g. a JEDEC-based id */
    const char *chip;        /* "bk7231n"; may be NULL */
    const char *jedec_id;    /* 6 hex digits in wire order, "c84016"; may be NULL */
    int64_t flash_size;      /* bytes, 0 = unknown */
    const char *loader_kind; /* "rom" / "flash" (UART loaders), "spi mode" / "spi" (a SPI
                              * programmer: how the chip answered); may be NULL */
} fl_audit_unit;

/* "AA-BB-CC-DD-EE-FF", "aabbccddeeff", "aa:bb:…" → "aa:bb:cc:dd:ee:ff" (the
 * form stored); false if it is not a MAC. */
bool fl_audit_mac_normalize(const char *in, char out[18]);

/* Record the unit and attach it to the current run (one transaction).
 * May be called again when more is known (e.g. the MAC after a backup);
 * unit_id may be NULL. */
fl_status fl_auditdb_run_unit(fl_auditdb *db, const fl_audit_unit *unit, int64_t *unit_id,
                              fl_error *err);

/* How the run reached its chip: the driver ("beken-uart", "ch341a-spi";
 * required) and the programmer (fl_identity.programmer: the port URL,
 * "ch341a bus 1 port 4", "emulator ch341a:sim?…"; NULL = unknown).  Committed
 * at once on the run's row; only while the run is being recorded (a finished
 * run is frozen).  Calling it again (a reconnect) replaces both. */
fl_status fl_auditdb_run_link(fl_auditdb *db, const char *driver, const char *programmer,
                              fl_error *err);

/* Commit a new step (numbered 1, 2, … within the run) as RUNNING. */
fl_status fl_auditdb_step_begin(fl_auditdb *db, const char *name, int64_t *step_id,
                                fl_error *err);

/* A numeric measurement (bytes, baud, retries, a CRC…); unit text may be NULL. */
fl_status fl_auditdb_measure(fl_auditdb *db, const char *name, double value, const char *unit,
                             fl_error *err);

/* A file the run produced or used: kind "backup", "firmware", "image"…;
 * sha256 is 64 hex digits; size in bytes. */
fl_status fl_auditdb_artifact(fl_auditdb *db, const char *kind, const char *path,
                              const char *sha256, int64_t size, fl_error *err);

/* The same, saying what the artifact holds (migration 0005, for backups):
 * content "openbeken 1.18.300", "tuya", "vendor", "blank", "unknown" (NULL:
 * not said); vendor 1 when it is the vendor's firmware, 0 when not, -1 not
 * said.  A unit's first vendor backup is its original vendor firmware. */
fl_status fl_auditdb_artifact_content(fl_auditdb *db, const char *kind, const char *path,
                                      const char *sha256, int64_t size, const char *content,
                                      int vendor, fl_error *err);

/* Where a firmware image came from in the station's firmware store
 * (migration 0006): its name ("OpenBK7231N"), version and source (the file or
 * release URL it was added from); NULL members are not said. */
typedef struct fl_audit_store_ref {
    const char *name, *version, *source;
} fl_audit_store_ref;

/* An artifact with all it can say: content/vendor as above, and the firmware
 * store's identity of a flashed image (store may have only NULL members). */
fl_status fl_auditdb_artifact_full(fl_auditdb *db, const char *kind, const char *path,
                                   const char *sha256, int64_t size, const char *content,
                                   int vendor, const fl_audit_store_ref *store, fl_error *err);

/* The latest run that PASSed recipe_name on the unit (a MAC in any form, or
 * an alt_id): run_id 0 when there is none. */
typedef struct fl_audit_prior {
    int64_t run_id;
    char started_utc[32];
    char ended_utc[32];
    char station[128];
} fl_audit_prior;
fl_status fl_auditdb_last_pass(fl_auditdb *db, const char *recipe_name, const char *unit,
                               fl_audit_prior *out, fl_error *err);

/* Backups a proven read may take sectors from (issue 11): "backup"
 * artifacts of runs that PASSed recipe_name on a unit of the same chip and
 * flash size, latest first (at most cap; *n of them).  The caller checks the
 * file still holds sha256. */
typedef struct fl_audit_backup_ref {
    int64_t run_id;
    int64_t size;
    char sha256[65];
    char path[4096];
} fl_audit_backup_ref;
fl_status fl_auditdb_reference_backups(fl_auditdb *db, const char *recipe_name, const char *chip,
                                       int64_t flash_size, fl_audit_backup_ref *out, size_t cap,
                                       size_t *n, fl_error *err);

/* A decoded Tuya configuration (JSON object text) and the derived OBK pin
 * map (JSON text or NULL).  redacted says whether secrets were removed (the
 * default; storing them is the operator's explicit opt-in).  Attached to the
 * run's unit when one is known. */
fl_status fl_auditdb_tuya_config(fl_auditdb *db, const char *config_json, bool redacted,
                                 const char *obk_pins_json, fl_error *err);

/* Commit the open step's outcome, message (may be NULL) and every record
 * made since step_begin, in one transaction. */
fl_status fl_auditdb_step_end(fl_auditdb *db, fl_outcome outcome, const char *message,
                              fl_error *err);

/* Refresh the run's heartbeat (step_begin/step_end do it too).  Call it now
 * and then during very long steps if runs may be recovered from other hosts. */
fl_status fl_auditdb_heartbeat(fl_auditdb *db, fl_error *err);

/* End the run (outcome must not be RUNNING).  An open step is closed in the
 * same transaction with the same outcome.  On failure the run stays open. */
fl_status fl_auditdb_run_end(fl_auditdb *db, fl_outcome outcome, const char *message,
                             fl_error *err);

/* Ids of what is being recorded; 0 when none. */
int64_t fl_auditdb_current_run(const fl_auditdb *db);
int64_t fl_auditdb_current_step(const fl_auditdb *db);

#endif
