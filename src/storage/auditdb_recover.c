/* auditdb_recover.c — finding runs whose process died and marking them ABORTED.
 *
 * A run row carries the pid, host and a process token "<boot id>/<start
 * time>" of its writer.  On the same host the run is dead when that process
 * is gone: no such pid, a zombie, a pid reused by a younger process, or a
 * different boot.  Runs of another host cannot be checked that way; they
 * are dead when their heartbeat is older than opts.stale_after_s. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "storage/auditdb_internal.h"

static int read_boot_id(char *out, size_t cap)
{
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (!f)
        return 0;
    int ok = fgets(out, (int)cap, f) != NULL;
    fclose(f);
    out[strcspn(out, "\n")] = '\0';
    return ok && out[0];
}

/* Start time (field 22 of /proc/PID/stat) and state; 0 if not readable.
 * The command name (field 2) may hold spaces and ')', so parse after the
 * last ')'. */
static int proc_stat(long pid, unsigned long long *start, char *state)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    p++;
    *state = 0;
    for (int field = 3; field <= 22; field++) {
        while (*p == ' ')
            p++;
        if (!*p)
            return 0;
        if (field == 3)
            *state = *p;
        if (field == 22) {
            *start = strtoull(p, NULL, 10);
            return 1;
        }
        p += strcspn(p, " ");
    }
    return 0;
}

void adb_proc_token(long pid, char *out, size_t cap)
{
    char boot[64];
    unsigned long long start;
    char state;
    out[0] = '\0';
    if (read_boot_id(boot, sizeof boot) && proc_stat(pid, &start, &state))
        snprintf(out, cap, "%s/%llu", boot, start);
}

/* Is the process that wrote a run on this host still there? */
static int local_process_alive(long pid, const char *token)
{
    char boot[64];
    const char *slash = token ? strrchr(token, '/') : NULL;
    if (slash && read_boot_id(boot, sizeof boot)) {
        if (strncmp(token, boot, (size_t)(slash - token)) != 0 || boot[slash - token] != '\0')
            return 0; /* the host rebooted since */
        unsigned long long start;
        char state;
        if (!proc_stat(pid, &start, &state))
            return 0;
        return state != 'Z' && start == strtoull(slash + 1, NULL, 10);
    }
    /* No /proc: the pid alone (a reused pid keeps the run "alive"). */
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

typedef struct candidate {
    int64_t id;
    char why[400];
} candidate;

/* Decide about one RUNNING run; fills c->why when it is dead. */
static int run_is_dead(fl_auditdb *db, sqlite3_stmt *st, candidate *c)
{
    long pid = (long)sqlite3_column_int64(st, 1);
    const char *host = (const char *)sqlite3_column_text(st, 2);
    const char *token = (const char *)sqlite3_column_text(st, 3);
    double age = sqlite3_column_double(st, 4);
    const char *beat = (const char *)sqlite3_column_text(st, 5);
    c->id = sqlite3_column_int64(st, 0);
    if (host && !strcmp(host, db->host)) {
        if (local_process_alive(pid, token))
            return 0;
        snprintf(c->why, sizeof c->why,
                 "interrupted: flashline process %ld on %s is gone (killed or crashed); last "
                 "sign of life %s",
                 pid, host, beat ? beat : "?");
        return 1;
    }
    if (age <= db->opts.stale_after_s)
        return 0;
    snprintf(c->why, sizeof c->why,
             "interrupted: no heartbeat from process %ld on %s for %.0f s (limit %.0f s); last "
             "sign of life %s",
             pid, host ? host : "?", age, db->opts.stale_after_s, beat ? beat : "?");
    return 1;
}

/* Read the RUNNING runs (no lock needed in WAL) and keep the dead ones. */
static int find_dead(fl_auditdb *db, const char *now, candidate **out, size_t *n)
{
    sqlite3_stmt *st = NULL;
    *out = NULL;
    *n = 0;
    int rc = sqlite3_prepare_v2(db->sql,
                                "SELECT id, pid, host, proc_token, "
                                "(julianday(?) - julianday(heartbeat_utc)) * 86400, heartbeat_utc "
                                "FROM runs WHERE outcome = 'RUNNING' ORDER BY id",
                                -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 1, now, -1, SQLITE_TRANSIENT);
    size_t cap = 0;
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        candidate c;
        if (!run_is_dead(db, st, &c))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            candidate *m = realloc(*out, cap * sizeof *m);
            if (!m) {
                rc = SQLITE_NOMEM;
                break;
            }
            *out = m;
        }
        (*out)[(*n)++] = c;
    }
    if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
    sqlite3_finalize(st);
    return rc;
}

/* Steps end at the run's last heartbeat: the last moment it was known alive. */
static int mark_aborted(fl_auditdb *db, const candidate *c, const char *now, int *marked)
{
    char msg[520];
    snprintf(msg, sizeof msg, "%s; marked ABORTED at %s by process %ld", c->why, now,
             (long)getpid());
    int rc = adb_stmt(db, NULL, NULL,
                      "UPDATE steps SET outcome = 'ABORTED', message = ?, "
                      "ended_utc = (SELECT heartbeat_utc FROM runs WHERE id = ?) "
                      "WHERE run_id = ? AND outcome = 'RUNNING'",
                      "tii", "interrupted: the process ended during this step", c->id, c->id);
    if (rc == SQLITE_OK)
        rc = adb_stmt(db, NULL, NULL,
                      "UPDATE runs SET outcome = 'ABORTED', message = ?, ended_utc = heartbeat_utc "
                      "WHERE id = ? AND outcome = 'RUNNING'",
                      "ti", msg, c->id);
    if (rc == SQLITE_OK)
        *marked += sqlite3_changes(db->sql);
    return rc;
}

fl_status fl_auditdb_recover(fl_auditdb *db, int *n_aborted, fl_error *err)
{
    const char *what = "recovering runs left RUNNING by a crash";
    if (n_aborted)
        *n_aborted = 0;
    if (!db)
        return fl_fail(err, FL_ERR_USAGE, "%s: no audit log handle", what);
    char now[32];
    adb_now(db, now);
    candidate *dead;
    size_t n;
    int rc = find_dead(db, now, &dead, &n);
    int marked = 0;
    if (rc == SQLITE_OK && n) {
        /* Only now take the write lock; the UPDATEs re-check RUNNING in case
         * another process recovered the same run meanwhile. */
        rc = adb_begin(db);
        for (size_t i = 0; rc == SQLITE_OK && i < n; i++)
            rc = mark_aborted(db, &dead[i], now, &marked);
        if (rc == SQLITE_OK)
            rc = adb_commit(db);
    }
    free(dead);
    if (rc != SQLITE_OK) {
        fl_status s = adb_fail(db, rc, err, what);
        adb_rollback(db);
        return s;
    }
    if (n_aborted)
        *n_aborted = marked;
    return FL_OK;
}
