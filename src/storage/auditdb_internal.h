/* auditdb_internal.h — what auditdb*.c share; not part of the API. */
#ifndef FL_STORAGE_AUDITDB_INTERNAL_H
#define FL_STORAGE_AUDITDB_INTERNAL_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/auditdb.h"

/* PRAGMA application_id of a flashline audit log: "FLLN". */
#define FL_AUDITDB_APP_ID 0x464C4C4E

/* A record made while a step is open, committed with the step. */
typedef enum adb_rec_kind { REC_MEASURE, REC_ARTIFACT, REC_TUYA } adb_rec_kind;

typedef struct adb_rec {
    adb_rec_kind kind;
    char *a;       /* measurement name / artifact kind / Tuya config JSON */
    char *b;       /* measurement unit / artifact path / OBK pins JSON */
    char *c;       /* artifact sha256 */
    double value;  /* measurement */
    int64_t size;  /* artifact size; Tuya: redacted flag */
    char *content; /* artifact: what a backup holds (0005), NULL = not said */
    int vendor;    /* artifact: 1 vendor firmware, 0 not, -1 not said */
    char *store_name, *store_version, *store_source; /* artifact from the firmware store (0006) */
} adb_rec;

struct fl_auditdb {
    sqlite3 *sql;
    char *path;
    fl_auditdb_opts opts;
    char host[256];
    int recovered_at_open;

    /* the run being recorded (0 = none) */
    int64_t run_id;
    int64_t unit_id;
    int64_t step_id;
    int step_idx; /* number of the last step begun */
    adb_rec *recs;
    size_t nrecs, caprecs;
};

/* Map a SQLite result code to an fl_status and a message that names the log
 * and says what to do; `what` is the operation ("beginning a run"). */
fl_status adb_fail(fl_auditdb *db, int rc, fl_error *err, const char *what);

/* Run one statement with bound arguments.  fmt has one letter per `?`:
 *   t  const char * (NULL binds NULL)      i  int64_t
 *   I  int64_t, 0 binds NULL               d  double
 * If out is not NULL it receives column 0 of the first row (*have says
 * whether there was one).  Returns a SQLite result code (SQLITE_OK). */
int adb_stmt(fl_auditdb *db, int64_t *out, int *have, const char *sql, const char *fmt, ...);
/* Prepare `sql` and bind its arguments as adb_stmt does, for a caller that
 * reads the rows itself.  *st (NULL if preparing failed) is the caller's to
 * finalize whatever the result code. */
int adb_prepare(fl_auditdb *db, sqlite3_stmt **st, const char *sql, const char *fmt, ...);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK.  Writers take the write lock up
 * front, so the busy handler can wait for it (a deferred transaction that
 * upgrades would get SQLITE_BUSY at once). */
int adb_begin(fl_auditdb *db);

/* Deadline (monotonic ms) for an operation that waits busy_timeout_ms. */
int64_t adb_deadline(const fl_auditdb *db);

/* After a result code rc: true if it is SQLITE_BUSY/LOCKED and the deadline
 * has not passed, after a short pause: the caller tries again.  For the
 * paths where SQLite returns BUSY without calling its busy handler. */
bool adb_retry_busy(int rc, int64_t deadline, int *attempt);
int adb_commit(fl_auditdb *db);
void adb_rollback(fl_auditdb *db);

/* Now as "2026-11-20T22:45:00.123Z" (opts.now or the real clock). */
void adb_now(const fl_auditdb *db, char out[32]);

/* "<boot id>/<start time>" of a process, "" when /proc cannot tell. */
void adb_proc_token(long pid, char *out, size_t cap);

/* Normalises a 64-hex-digit SHA-256 to lowercase; false if malformed. */
int adb_sha256_norm(const char *in, char out[65]);

#endif
