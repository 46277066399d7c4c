/* auditdb_testutil.h — helpers shared by the audit-log tests: a temp dir,
 * a raw SQLite connection to read rows back independently of the API, and
 * a fake clock. */
#ifndef FL_AUDITDB_TESTUTIL_H
#define FL_AUDITDB_TESTUTIL_H

#include <ftw.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char tu_dir[64];

static inline int tu_rm(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    if (flag == FTW_DP || flag == FTW_D)
        chmod(p, 0700);
    return remove(p);
}

static inline void tu_cleanup(void)
{
    if (tu_dir[0])
        nftw(tu_dir, tu_rm, 16, FTW_DEPTH | FTW_PHYS);
}

static inline void tu_init(const char *prefix)
{
    snprintf(tu_dir, sizeof tu_dir, "/tmp/%s.XXXXXX", prefix);
    if (!mkdtemp(tu_dir)) {
        perror("mkdtemp");
        exit(2);
    }
    /* other users (the read-only tests drop to "nobody") must traverse it */
    chmod(tu_dir, 0755);
    atexit(tu_cleanup);
}

/* tu_dir/name, in a small ring of buffers so a few can be alive at once. */
static inline const char *tu_path(const char *name)
{
    static char ring[8][256];
    static int next;
    char *p = ring[next++ % 8];
    snprintf(p, 256, "%s/%s", tu_dir, name);
    return p;
}

static inline sqlite3 *tu_raw(const char *path)
{
    sqlite3 *s = NULL;
    if (sqlite3_open(path, &s) != SQLITE_OK) {
        fprintf(stderr, "raw open %s: %s\n", path, sqlite3_errmsg(s));
        exit(2);
    }
    sqlite3_busy_timeout(s, 5000);
    return s;
}

static inline void tu_exec(sqlite3 *s, const char *sql)
{
    char *e = NULL;
    if (sqlite3_exec(s, sql, NULL, NULL, &e) != SQLITE_OK) {
        fprintf(stderr, "raw exec failed: %s\n  in: %.200s\n", e, sql);
        sqlite3_free(e);
    }
}

/* Column 0 of the first row of a printf-formatted query (%q, %Q work);
 * -1 when there is no row or the query fails. */
static inline int64_t tu_int(sqlite3 *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    sqlite3_stmt *st;
    int64_t v = -1;
    if (sqlite3_prepare_v2(s, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    } else {
        fprintf(stderr, "raw query failed: %s\n  in: %s\n", sqlite3_errmsg(s), sql);
    }
    sqlite3_free(sql);
    return v;
}

/* Text of column 0 of the first row ("(null)" for NULL, "(none)" for no
 * row); from a ring of buffers. */
static inline const char *tu_text(sqlite3 *s, const char *fmt, ...)
{
    static char ring[8][2048];
    static int next;
    char *out = ring[next++ % 8];
    va_list ap;
    va_start(ap, fmt);
    char *sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    sqlite3_stmt *st;
    snprintf(out, 2048, "(none)");
    if (sqlite3_prepare_v2(s, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            const unsigned char *t = sqlite3_column_text(st, 0);
            snprintf(out, 2048, "%s", t ? (const char *)t : "(null)");
        }
        sqlite3_finalize(st);
    } else {
        snprintf(out, 2048, "(error: %s)", sqlite3_errmsg(s));
    }
    sqlite3_free(sql);
    return out;
}

/* A clock that starts at a given UTC time and advances by `step` per read. */
typedef struct tu_clock {
    double t, step;
} tu_clock;

static inline double tu_clock_now(void *ctx)
{
    tu_clock *c = ctx;
    double t = c->t;
    c->t += c->step;
    return t;
}

/* Unix time of "YYYY-MM-DD" + hours. */
static inline double tu_utc(int y, int mo, int d, int h, int mi)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};
    return (double)timegm(&tm);
}

static const char SHA_A[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char SHA_B[] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
static const char SHA_C[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#endif
