/* station_testutil.h — helpers shared by the station tests (test_station,
 * test_batch, test_batch8): copying a unit's flash file, and reading one
 * number back from the audit log with raw SQLite, independently of the API. */
#ifndef FL_STATION_TESTUTIL_H
#define FL_STATION_TESTUTIL_H

#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/fileio.h"

/* Copy a flash file (a dump) for a simulated unit; false if it cannot. */
static inline bool st_copy(const char *from, const char *to)
{
    uint8_t *d;
    size_t n;
    fl_error e;
    if (fl_read_file(from, &d, &n, 8u << 20, &e) != FL_OK)
        return false;
    bool ok = fl_write_file_durable(to, d, n, &e) == FL_OK;
    free(d);
    return ok;
}

/* The first column of the first row of the SQL fmt makes (printf-style:
 * run ids, ports), or -1 with the reason on stderr. */
static inline long long st_count(sqlite3 *db, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline long long st_count(sqlite3 *db, const char *fmt, ...)
{
    char sql[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    sqlite3_stmt *st;
    long long n = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    else
        fprintf(stderr, "# sql failed: %s: %s\n", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return n;
}

#endif
