/* auditdb.c — opening the audit log: checks, pragmas, migrations, errors.
 *
 * Recording (runs, steps, records) is in auditdb_run.c, crash recovery in
 * auditdb_recover.c, the read-only queries in auditdb_query.c. */
#include "storage/auditdb_internal.h"

#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "storage/auditdb_sql.h"

/* --- outcomes ----------------------------------------------------------- */
static const char *const outcome_names[] = {"RUNNING", "PASS", "FAIL", "ERROR", "ABORTED"};

const char *fl_outcome_name(fl_outcome o)
{
    if ((unsigned)o < sizeof outcome_names / sizeof outcome_names[0])
        return outcome_names[o];
    return "?";
}

bool fl_outcome_parse(const char *s, fl_outcome *out)
{
    for (unsigned i = 0; s && i < sizeof outcome_names / sizeof outcome_names[0]; i++)
        if (!strcasecmp(s, outcome_names[i])) {
            *out = (fl_outcome)i;
            return true;
        }
    return false;
}

fl_outcome fl_outcome_from_status(fl_status st)
{
    switch (st) {
    case FL_OK: return FL_OUTCOME_PASS;
    case FL_ERR_VERIFY:
    case FL_ERR_CHIP: return FL_OUTCOME_FAIL;
    case FL_ERR_CANCELLED: return FL_OUTCOME_ABORTED;
    default: return FL_OUTCOME_ERROR;
    }
}

/* --- embedded SQL ------------------------------------------------------- */
const fl_sql_file *fl_sql_find(const char *path)
{
    for (size_t i = 0; i < fl_sql_file_count; i++)
        if (!strcmp(fl_sql_files[i].path, path))
            return &fl_sql_files[i];
    return NULL;
}

#define MIGRATION_DIR "db/migrations/"

/* Number of an embedded migration ("db/migrations/0002_x.sql" → 2), 0 if
 * the entry is not a migration. */
static int migration_number(const fl_sql_file *f)
{
    size_t n = strlen(MIGRATION_DIR);
    if (strncmp(f->path, MIGRATION_DIR, n) != 0 || !isdigit((unsigned char)f->path[n]))
        return 0;
    return atoi(f->path + n);
}

int fl_auditdb_schema_version(void)
{
    int v = 0;
    for (size_t i = 0; i < fl_sql_file_count; i++) {
        int n = migration_number(&fl_sql_files[i]);
        if (n > v)
            v = n;
    }
    return v;
}

/* --- small helpers ------------------------------------------------------ */
void fl_auditdb_opts_init(fl_auditdb_opts *o)
{
    memset(o, 0, sizeof *o);
    o->busy_timeout_ms = 5000;
    o->stale_after_s = 900;
}

const char *fl_auditdb_path(const fl_auditdb *db) { return db ? db->path : NULL; }
int fl_auditdb_recovered_at_open(const fl_auditdb *db) { return db ? db->recovered_at_open : 0; }
int64_t fl_auditdb_current_run(const fl_auditdb *db) { return db ? db->run_id : 0; }
int64_t fl_auditdb_current_step(const fl_auditdb *db) { return db ? db->step_id : 0; }

void adb_now(const fl_auditdb *db, char out[32])
{
    double t;
    if (db && db->opts.now) {
        t = db->opts.now(db->opts.now_ctx);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        t = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    }
    time_t secs = (time_t)floor(t);
    unsigned ms = (unsigned)((t - (double)secs) * 1000.0) % 1000u;
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(out, 24, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03uZ", ms);
}

int adb_sha256_norm(const char *in, char out[65])
{
    if (!in || strlen(in) != 64)
        return 0;
    for (int i = 0; i < 64; i++) {
        if (!isxdigit((unsigned char)in[i]))
            return 0;
        out[i] = (char)tolower((unsigned char)in[i]);
    }
    out[64] = '\0';
    return 1;
}

bool fl_audit_mac_normalize(const char *in, char out[18])
{
    if (!in)
        return false;
    int nd = 0;
    char sep = 0;
    for (const char *p = in; *p; p++) {
        if (isxdigit((unsigned char)*p)) {
            if (nd == 12)
                return false;
            /* position of this digit in "aa:bb:cc:dd:ee:ff" */
            out[nd / 2 * 3 + nd % 2] = (char)tolower((unsigned char)*p);
            nd++;
        } else if ((*p == ':' || *p == '-') && nd % 2 == 0 && nd > 0 && nd < 12 &&
                   (sep == 0 || sep == *p) && p[1] != *p) {
            sep = *p; /* one kind of separator, only between byte pairs */
        } else {
            return false;
        }
    }
    if (nd != 12)
        return false;
    /* "aabb:ccddeeff" mixes styles: separators must be all or nothing */
    if (sep) {
        int seps = 0;
        for (const char *p = in; *p; p++)
            seps += *p == sep;
        if (seps != 5)
            return false;
    }
    for (int i = 2; i < 17; i += 3)
        out[i] = ':';
    out[17] = '\0';
    return true;
}

/* --- errors ------------------------------------------------------------- */

/* Why a file could not be opened or written, from the permissions: what a
 * bare SQLite "unable to open database file" does not say. */
static void diagnose_access(const char *path, char *buf, size_t cap)
{
    char *copy = strdup(path);
    const char *dir = copy ? dirname(copy) : ".";
    struct stat st;
    buf[0] = '\0';
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        snprintf(buf, cap, "directory %s does not exist: create it or choose another --db", dir);
    else if (access(path, F_OK) == 0 && access(path, W_OK) != 0)
        snprintf(buf, cap,
                 "the file is read-only for this user: make it writable, or log elsewhere "
                 "with --db FILE / $FLASHLINE_DB");
    else if (access(dir, W_OK) != 0)
        snprintf(buf, cap,
                 "directory %s is not writable, and SQLite must create the log and its "
                 "-wal and -shm files there: make it writable, or log elsewhere with "
                 "--db FILE / $FLASHLINE_DB",
                 dir);
    free(copy);
}

fl_status adb_fail(fl_auditdb *db, int rc, fl_error *err, const char *what)
{
    const char *path = db->path;
    /* a code we detected ourselves has no SQLite message ("not an error") */
    const char *msg = db->sql && (sqlite3_errcode(db->sql) & 0xff) == (rc & 0xff)
                          ? sqlite3_errmsg(db->sql)
                          : sqlite3_errstr(rc);
    char diag[600];
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return fl_fail(err, FL_ERR_FILE,
                       "%s: audit log %s is locked by another writer (waited %d ms): another "
                       "flashline process or a sqlite3 shell holds a write transaction; finish "
                       "or close it and retry",
                       what, path, db->opts.busy_timeout_ms);
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_AUTH:
        diagnose_access(path, diag, sizeof diag);
        return fl_fail(err, FL_ERR_FILE, "%s: cannot write audit log %s (%s)%s%s", what, path, msg,
                       diag[0] ? ": " : "", diag);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return fl_fail(err, FL_ERR_FORMAT,
                       "%s: %s is corrupt or not a SQLite database (%s): move it aside (keep "
                       "it, it is evidence) and rerun to start a new log, or restore it from "
                       "a backup",
                       what, path, msg);
    case SQLITE_FULL:
        return fl_fail(err, FL_ERR_FILE, "%s: disk full writing audit log %s: free space and retry",
                       what, path);
    case SQLITE_IOERR:
        return fl_fail(err, FL_ERR_FILE, "%s: I/O error on audit log %s (%s): check the disk",
                       what, path, msg);
    case SQLITE_CONSTRAINT:
        return fl_fail(err, FL_ERR_REFUSED, "%s: the audit log %s refused the record (%s)", what,
                       path, msg);
    default:
        return fl_fail(err, FL_ERR_INTERNAL, "%s: SQLite error on %s: %s", what, path, msg);
    }
}

/* --- statements --------------------------------------------------------- */
static int bind_args(sqlite3_stmt *st, const char *fmt, va_list ap)
{
    int rc = SQLITE_OK;
    for (int i = 1; fmt && *fmt && rc == SQLITE_OK; fmt++, i++) {
        switch (*fmt) {
        case 't': {
            const char *s = va_arg(ap, const char *);
            rc = s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
            break;
        }
        case 'i': rc = sqlite3_bind_int64(st, i, va_arg(ap, int64_t)); break;
        case 'I': {
            int64_t v = va_arg(ap, int64_t);
            rc = v ? sqlite3_bind_int64(st, i, v) : sqlite3_bind_null(st, i);
            break;
        }
        case 'd': rc = sqlite3_bind_double(st, i, va_arg(ap, double)); break;
        default: rc = SQLITE_MISUSE;
        }
    }
    return rc;
}

static int vprepare(fl_auditdb *db, sqlite3_stmt **st, const char *sql, const char *fmt, va_list ap)
{
    *st = NULL;
    int rc = sqlite3_prepare_v2(db->sql, sql, -1, st, NULL);
    return rc == SQLITE_OK ? bind_args(*st, fmt, ap) : rc;
}

int adb_prepare(fl_auditdb *db, sqlite3_stmt **st, const char *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vprepare(db, st, sql, fmt, ap);
    va_end(ap);
    return rc;
}

int adb_stmt(fl_auditdb *db, int64_t *out, int *have, const char *sql, const char *fmt, ...)
{
    sqlite3_stmt *st = NULL;
    if (have)
        *have = 0;
    va_list ap;
    va_start(ap, fmt);
    int rc = vprepare(db, &st, sql, fmt, ap);
    va_end(ap);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (out && (!have || !*have))
            *out = sqlite3_column_int64(st, 0);
        if (have)
            *have = 1;
        rc = SQLITE_OK;
    }
    if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
    /* finalize keeps the error message of a failed step for adb_fail */
    sqlite3_finalize(st);
    return rc;
}

/* --- waiting for other writers ---------------------------------------- */

static bool is_busy(int rc)
{
    return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t adb_deadline(const fl_auditdb *db) { return monotonic_ms() + db->opts.busy_timeout_ms; }

/* SQLite's busy handler is not called on every path that can meet another
 * connection's lock: a journal-mode change, a lock upgrade that could
 * deadlock and a WAL being set up or torn down by another process return
 * SQLITE_BUSY at once.  So every such step is retried here until the
 * caller's deadline, with a short growing pause (and a little jitter, so
 * that threads started together do not retry in lockstep). */
bool adb_retry_busy(int rc, int64_t deadline, int *attempt)
{
    if (!is_busy(rc) || monotonic_ms() >= deadline)
        return false;
    int pause = 1 << (*attempt < 5 ? *attempt : 5); /* 1, 2, 4 .. 32 ms */
    (*attempt)++;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    pause += (int)((ts.tv_nsec / 1000) % 7);
    int64_t left = deadline - monotonic_ms();
    if (left <= 0)
        return true; /* one last try */
    sqlite3_sleep(pause < left ? pause : (int)left);
    return true;
}

int adb_begin(fl_auditdb *db)
{
    int64_t deadline = adb_deadline(db);
    int attempt = 0, rc;
    do
        rc = sqlite3_exec(db->sql, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    while (adb_retry_busy(rc, deadline, &attempt));
    return rc;
}

int adb_commit(fl_auditdb *db)
{
    int rc = sqlite3_exec(db->sql, "COMMIT", NULL, NULL, NULL);
    return rc;
}

void adb_rollback(fl_auditdb *db)
{
    if (!sqlite3_get_autocommit(db->sql))
        sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
}

static int pragma_int(fl_auditdb *db, const char *sql, int64_t *out)
{
    *out = 0;
    return adb_stmt(db, out, NULL, sql, NULL);
}

/* --- identity ----------------------------------------------------------- */

/* What the file says it is, read in one transaction so that the three values
 * come from one snapshot.  Read one by one, a log that another process is
 * creating at this moment could show the application_id from before its
 * creation and the table count from after: a false "not an audit log". */
typedef struct adb_identity {
    int64_t app_id, version, ntables;
} adb_identity;

static int read_identity_in_txn(fl_auditdb *db, adb_identity *id)
{
    int rc = pragma_int(db, "PRAGMA application_id", &id->app_id);
    if (rc == SQLITE_OK)
        rc = pragma_int(db, "PRAGMA user_version", &id->version);
    if (rc == SQLITE_OK)
        rc = pragma_int(db, "SELECT count(*) FROM sqlite_master", &id->ntables);
    return rc;
}

static int read_identity(fl_auditdb *db, adb_identity *id)
{
    int rc = sqlite3_exec(db->sql, "BEGIN", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = read_identity_in_txn(db, id);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db->sql, "COMMIT", NULL, NULL, NULL);
    adb_rollback(db);
    return rc;
}

/* Is the file an audit log this binary can use (or a new, empty file)? */
static fl_status judge_identity(fl_auditdb *db, const adb_identity *id, fl_error *err)
{
    bool empty = id->app_id == 0 && id->version == 0 && id->ntables == 0;
    if (id->app_id != FL_AUDITDB_APP_ID && !empty)
        return fl_fail(err, FL_ERR_FORMAT,
                       "%s is a SQLite database but not a flashline audit log (application_id "
                       "0x%08llx, %lld tables): give --db the station's log, or a new file name",
                       db->path, (unsigned long long)(uint32_t)id->app_id,
                       (long long)id->ntables);
    int latest = fl_auditdb_schema_version();
    if (id->version > latest)
        return fl_fail(err, FL_ERR_FORMAT,
                       "audit log %s has schema version %lld, newer than this flashline knows "
                       "(%d): it was written by a newer flashline; use that version (or "
                       "--db another file), this one will not touch it",
                       db->path, (long long)id->version, latest);
    return FL_OK;
}

/* --- migrations --------------------------------------------------------- */

/* The embedded migrations must be numbered 1..N without gaps: a gap or a
 * duplicate would silently skip or repeat schema changes. */
static fl_status check_migration_numbers(fl_error *err)
{
    int expect = 1;
    for (size_t i = 0; i < fl_sql_file_count; i++) {
        int n = migration_number(&fl_sql_files[i]);
        if (!n)
            continue;
        if (n != expect)
            return fl_fail(err, FL_ERR_INTERNAL,
                           "built-in migrations are misnumbered at %s (expected %04d): "
                           "a build problem, rebuild flashline",
                           fl_sql_files[i].path, expect);
        expect++;
    }
    return FL_OK;
}

/* Run the migration's SQL, set its version and check the foreign keys, all
 * inside the caller's transaction. */
static fl_status run_migration_sql(fl_auditdb *db, const fl_sql_file *f, int n, const char *what,
                                   fl_error *err)
{
    int rc = sqlite3_exec(db->sql, f->text, NULL, NULL, NULL);
    if (rc == SQLITE_OK) {
        char set[64];
        snprintf(set, sizeof set, "PRAGMA user_version = %d", n);
        rc = sqlite3_exec(db->sql, set, NULL, NULL, NULL);
    }
    int have = 0;
    if (rc == SQLITE_OK) /* foreign keys are off while migrating: check by hand */
        rc = adb_stmt(db, NULL, &have, "PRAGMA foreign_key_check", NULL);
    if (rc != SQLITE_OK)
        return adb_fail(db, rc, err, what);
    if (have)
        return fl_fail(err, FL_ERR_INTERNAL, "%s: it would break foreign keys; the log is unchanged",
                       what);
    return FL_OK;
}

/* Apply one migration in its own write transaction.  Any number of
 * processes may be opening (or creating) the log at once: the identity and
 * version are read again under the write lock, so exactly one of them
 * applies each migration and the others find it done. */
static fl_status apply_migration(fl_auditdb *db, const fl_sql_file *f, int n, fl_error *err)
{
    char what[300];
    snprintf(what, sizeof what, "upgrading the audit log to schema v%d (%s)", n, f->path);
    int rc = adb_begin(db);
    if (rc != SQLITE_OK)
        return adb_fail(db, rc, err, what);
    adb_identity id;
    rc = read_identity_in_txn(db, &id);
    fl_status s = rc == SQLITE_OK ? judge_identity(db, &id, err) : adb_fail(db, rc, err, what);
    if (s == FL_OK && id.version < n) {
        s = run_migration_sql(db, f, n, what, err);
        if (s == FL_OK && (rc = adb_commit(db)) != SQLITE_OK)
            s = adb_fail(db, rc, err, what);
    }
    adb_rollback(db); /* no-op after a commit */
    return s;
}

static fl_status migrate(fl_auditdb *db, int from, fl_error *err)
{
    fl_status s = check_migration_numbers(err);
    if (s != FL_OK)
        return s;
    /* foreign_keys cannot change inside a transaction; migrations may need
     * them off to rebuild a table, so they are off for all of them. */
    sqlite3_exec(db->sql, "PRAGMA foreign_keys = OFF", NULL, NULL, NULL);
    for (size_t i = 0; i < fl_sql_file_count && s == FL_OK; i++) {
        int n = migration_number(&fl_sql_files[i]);
        if (n > from)
            s = apply_migration(db, &fl_sql_files[i], n, err);
    }
    sqlite3_exec(db->sql, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
    return s;
}

/* --- open / close ------------------------------------------------------- */

/* Check what the file is, waiting out another process's lock. */
static fl_status check_identity(fl_auditdb *db, int *version, fl_error *err)
{
    int64_t deadline = adb_deadline(db);
    int attempt = 0, rc;
    adb_identity id;
    do
        rc = read_identity(db, &id);
    while (adb_retry_busy(rc, deadline, &attempt));
    if (rc != SQLITE_OK)
        return adb_fail(db, rc, err, "opening the audit log");
    fl_status s = judge_identity(db, &id, err);
    if (s == FL_OK)
        *version = (int)id.version;
    return s;
}

/* One try at WAL mode; SQLITE_CANTOPEN if SQLite keeps another mode. */
static int try_wal(fl_auditdb *db)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->sql, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *mode = (const char *)sqlite3_column_text(st, 0);
        rc = mode && !strcasecmp(mode, "wal") ? SQLITE_OK : SQLITE_CANTOPEN;
    }
    sqlite3_finalize(st);
    return rc;
}

static fl_status set_pragmas(fl_auditdb *db, fl_error *err)
{
    /* Switching a new log to WAL needs the file to itself for a moment, and
     * SQLite does not call the busy handler for that: wait here. */
    int64_t deadline = adb_deadline(db);
    int attempt = 0, rc;
    do
        rc = try_wal(db);
    while (adb_retry_busy(rc, deadline, &attempt));
    if (rc != SQLITE_OK)
        return adb_fail(db, rc, err, "switching the audit log to WAL mode");
    /* FULL: a committed record (e.g. a backup's hash before the erase that
     * follows) must survive a power cut, not only a crash. */
    rc = sqlite3_exec(db->sql,
                      "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;",
                      NULL, NULL, NULL);
    return rc == SQLITE_OK ? FL_OK : adb_fail(db, rc, err, "configuring the audit log");
}

static fl_status open_connection(fl_auditdb *db, fl_error *err)
{
    int rc = sqlite3_open_v2(db->path, &db->sql,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK)
        return adb_fail(db, rc, err, "opening the audit log");
    sqlite3_extended_result_codes(db->sql, 1);
    sqlite3_busy_timeout(db->sql, db->opts.busy_timeout_ms);
    /* SQLite silently falls back to read-only when the file is not writable;
     * a station must not find that out at its first record. */
    if (sqlite3_db_readonly(db->sql, "main") == 1)
        return adb_fail(db, SQLITE_READONLY, err, "opening the audit log");
    return FL_OK;
}

fl_status fl_auditdb_open(const char *path, const fl_auditdb_opts *opts, fl_auditdb **out,
                          fl_error *err)
{
    *out = NULL;
    if (!path || !*path)
        return fl_fail(err, FL_ERR_USAGE, "no audit log path given");
    if (!sqlite3_threadsafe())
        return fl_fail(err, FL_ERR_INTERNAL, "SQLite was built without thread support");
    fl_auditdb *db = calloc(1, sizeof *db);
    if (!db || !(db->path = strdup(path))) {
        free(db);
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory opening %s", path);
    }
    if (opts)
        db->opts = *opts;
    else
        fl_auditdb_opts_init(&db->opts);
    if (db->opts.busy_timeout_ms <= 0)
        db->opts.busy_timeout_ms = 5000;
    if (db->opts.stale_after_s <= 0)
        db->opts.stale_after_s = 900;
    if (gethostname(db->host, sizeof db->host - 1) != 0 || !db->host[0])
        snprintf(db->host, sizeof db->host, "localhost");

    int version = 0;
    fl_status s = open_connection(db, err);
    if (s == FL_OK)
        s = check_identity(db, &version, err);
    if (s == FL_OK)
        s = set_pragmas(db, err);
    if (s == FL_OK && version < fl_auditdb_schema_version())
        s = migrate(db, version, err);
    if (s == FL_OK && !db->opts.no_recover)
        s = fl_auditdb_recover(db, &db->recovered_at_open, err);
    if (s != FL_OK) {
        fl_auditdb_close(db);
        return s;
    }
    *out = db;
    return FL_OK;
}

void fl_auditdb_close(fl_auditdb *db)
{
    if (!db)
        return;
    if (db->run_id && db->sql) {
        /* Best effort: if this fails too, recovery finds the run later. */
        fl_error ignored;
        fl_auditdb_run_end(db, FL_OUTCOME_ABORTED,
                           "the recording was closed while the run was in progress", &ignored);
    }
    for (size_t i = 0; i < db->nrecs; i++) {
        free(db->recs[i].a);
        free(db->recs[i].b);
        free(db->recs[i].c);
    }
    free(db->recs);
    sqlite3_close_v2(db->sql);
    free(db->path);
    free(db);
}
