/* auditdb_query.h — named, read-only audit queries over the log.
 *
 * The canned queries are db/queries/NAME.sql, compiled into the binary.  A
 * query file is one SELECT with :named parameters, headed by comments:
 *
 *   -- description: one line shown by `flashline query --list`
 *   -- param: mac            MAC of the unit (required: no "=")
 *   -- param: limit=20       how many rows (optional, default 20)
 *   -- param: from=          optional, default "" (the query treats "" as "no bound")
 *
 * Every :name the SQL uses must be declared by a "-- param:" line.
 *
 * Read-only is enforced, not trusted: the log is opened with
 * SQLITE_OPEN_READONLY and PRAGMA query_only, ATTACH/PRAGMA/writes are
 * denied by an authorizer, the statement must be sqlite3_stmt_readonly and
 * there must be exactly one.  A query that breaks any of these fails with
 * FL_ERR_REFUSED before returning a row. */
#ifndef FL_STORAGE_AUDITDB_QUERY_H
#define FL_STORAGE_AUDITDB_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct fl_query_param {
    char *name;
    char *default_value; /* NULL = required */
    char *description;
} fl_query_param;

typedef struct fl_query {
    char *name;
    char *description;
    char *sql;
    fl_query_param *params;
    size_t nparams;
} fl_query;

/* The built-in queries, sorted by name. */
size_t fl_query_builtin_count(void);
/* Name of the i-th one ("recent_runs") into buf; "" past the end. */
void fl_query_builtin_name(size_t i, char *buf, size_t cap);
/* Parse built-in query `name`; FL_ERR_USAGE naming the known ones if absent. */
fl_status fl_query_builtin(const char *name, fl_query **out, fl_error *err);

/* Parse a query from text (name is used in messages) or from a file. */
fl_status fl_query_parse(const char *name, const char *text, fl_query **out, fl_error *err);
fl_status fl_query_load_file(const char *path, fl_query **out, fl_error *err);
void fl_query_free(fl_query *q);

/* One argument: --param name=value. */
typedef struct fl_query_arg {
    const char *name;
    const char *value;
} fl_query_arg;

typedef enum fl_qtype { FL_QT_NULL, FL_QT_INT, FL_QT_REAL, FL_QT_TEXT, FL_QT_BLOB } fl_qtype;

typedef struct fl_qvalue {
    fl_qtype type;
    int64_t i;
    double r;
    char *text; /* the value as text for every type but NULL (NULL then); a blob as the
                 * SQL literal x'00ff41' (lower-case hex) */
} fl_qvalue;

typedef struct fl_query_result {
    int ncols;
    char **cols;
    size_t nrows;
    fl_qvalue *cells; /* row-major: cells[row * ncols + col] */
} fl_query_result;

/* Run q against the log at db_path (opened read-only; never created).
 * Every value binds as text (SQLite converts where a column or LIMIT wants a
 * number; queries CAST when they compute with one).  A missing required or
 * unknown parameter is FL_ERR_USAGE with a message listing the query's
 * parameters.  The SQL function fl_mac(x) normalises a MAC (error if x is
 * not one).  FL_ERR_REFUSED: the query is not a single read-only SELECT. */
fl_status fl_query_run(const char *db_path, const fl_query *q, const fl_query_arg *args,
                       size_t nargs, fl_query_result **out, fl_error *err);

/* fl_query_run with a time limit: the query is stopped after timeout_s
 * seconds (0 < timeout_s <= FL_QUERY_MAX_TIMEOUT_S, else FL_ERR_USAGE) with
 * FL_ERR_TIMEOUT -- a recursive CTE without an end cannot run for ever.
 * fl_query_run uses FL_QUERY_DEFAULT_TIMEOUT_S.  A result larger than
 * FL_QUERY_MAX_RESULT_BYTES in memory, or a single value (string, blob)
 * larger than that, is FL_ERR_REFUSED; so is load_extension(). */
#define FL_QUERY_DEFAULT_TIMEOUT_S 10
#define FL_QUERY_MAX_TIMEOUT_S 86400
#define FL_QUERY_MAX_RESULT_BYTES (256 << 20)
fl_status fl_query_run_timed(const char *db_path, const fl_query *q, const fl_query_arg *args,
                             size_t nargs, double timeout_s, fl_query_result **out, fl_error *err);
/* fl_query_run_timed with a smaller result limit (1024 <= max_result_bytes
 * <= FL_QUERY_MAX_RESULT_BYTES, else FL_ERR_USAGE): lets a test reach the
 * limit without allocating hundreds of MiB.  Sizes count every cell as it
 * will be held (a blob as its hex text), checked before the cell is copied. */
fl_status fl_query_run_limited(const char *db_path, const fl_query *q, const fl_query_arg *args,
                               size_t nargs, double timeout_s, size_t max_result_bytes,
                               fl_query_result **out, fl_error *err);
void fl_query_result_free(fl_query_result *r);

/* "mac, from=, limit=20" — the parameter list as shown in messages. */
void fl_query_params_text(const fl_query *q, char *buf, size_t cap);

#endif
