/* auditdb_query.c — parsing and running the named read-only audit queries.
 *
 * Read-only is enforced in layers, so that no single mistake lets a query
 * file change the evidence: a SQLITE_OPEN_READONLY connection with
 * query_only and defensive mode, no ATTACH, an authorizer that allows only
 * reading, sqlite3_stmt_readonly, and exactly one statement per file. */
#include "storage/auditdb_query.h"

#include <ctype.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "storage/auditdb.h"
#include "storage/auditdb_internal.h"
#include "storage/auditdb_sql.h"
#include "util/fileio.h"

#define QUERY_DIR "db/queries/"

/* --- the built-in list -------------------------------------------------- */
static int is_query_file(const fl_sql_file *f)
{
    size_t n = strlen(f->path), d = strlen(QUERY_DIR);
    return n > d + 4 && !strncmp(f->path, QUERY_DIR, d) && !strcmp(f->path + n - 4, ".sql");
}

static const fl_sql_file *builtin_at(size_t i)
{
    for (size_t k = 0; k < fl_sql_file_count; k++)
        if (is_query_file(&fl_sql_files[k]) && i-- == 0)
            return &fl_sql_files[k];
    return NULL;
}

size_t fl_query_builtin_count(void)
{
    size_t n = 0;
    for (size_t k = 0; k < fl_sql_file_count; k++)
        n += (size_t)is_query_file(&fl_sql_files[k]);
    return n;
}

void fl_query_builtin_name(size_t i, char *buf, size_t cap)
{
    const fl_sql_file *f = builtin_at(i);
    const char *base = f ? f->path + strlen(QUERY_DIR) : "";
    snprintf(buf, cap, "%.*s", f ? (int)(strlen(base) - 4) : 0, base);
}

/* --- parsing the header ------------------------------------------------- */
static void param_free(fl_query_param *p)
{
    free(p->name);
    free(p->default_value);
    free(p->description);
}

void fl_query_free(fl_query *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->nparams; i++)
        param_free(&q->params[i]);
    free(q->params);
    free(q->name);
    free(q->description);
    free(q->sql);
    free(q);
}

static char *trimmed_dup(const char *s, size_t n)
{
    while (n && isspace((unsigned char)*s))
        s++, n--;
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    return strndup(s, n);
}

static int valid_param_name(const char *s, size_t n)
{
    if (!n || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
            return 0;
    return 1;
}

/* "-- param: NAME[=DEFAULT] description" (text after "param:"). */
static fl_status parse_param(fl_query *q, const char *s, size_t len, fl_error *err)
{
    while (len && isspace((unsigned char)*s))
        s++, len--;
    size_t n = 0;
    while (n < len && !isspace((unsigned char)s[n]) && s[n] != '=')
        n++;
    if (!valid_param_name(s, n))
        return fl_fail(err, FL_ERR_FORMAT, "query %s: bad '-- param:' line (want NAME[=DEFAULT] "
                       "description)", q->name);
    fl_query_param p = {.name = strndup(s, n)};
    size_t rest = n;
    if (rest < len && s[rest] == '=') {
        size_t d = ++rest;
        while (rest < len && !isspace((unsigned char)s[rest]))
            rest++;
        p.default_value = strndup(s + d, rest - d);
    }
    p.description = trimmed_dup(s + rest, len - rest);
    fl_query_param *m = realloc(q->params, (q->nparams + 1) * sizeof *m);
    if (!m || !p.name || !p.description) {
        param_free(&p);
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory parsing query %s", q->name);
    }
    q->params = m;
    q->params[q->nparams++] = p;
    return FL_OK;
}

/* One line of the leading comment block. */
static fl_status parse_header_line(fl_query *q, const char *line, size_t len, fl_error *err)
{
    const char *s = line + 2; /* after "--" */
    len -= 2;
    while (len && *s == ' ')
        s++, len--;
    if (len >= 12 && !strncmp(s, "description:", 12)) {
        free(q->description);
        q->description = trimmed_dup(s + 12, len - 12);
        return q->description ? FL_OK : fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    }
    if (len >= 6 && !strncmp(s, "param:", 6))
        return parse_param(q, s + 6, len - 6, err);
    return FL_OK; /* an ordinary comment */
}

fl_status fl_query_parse(const char *name, const char *text, fl_query **out, fl_error *err)
{
    *out = NULL;
    fl_query *q = calloc(1, sizeof *q);
    if (!q || !(q->name = strdup(name)) || !(q->sql = strdup(text))) {
        fl_query_free(q);
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory parsing query %s", name);
    }
    fl_status s = FL_OK;
    const char *p = text;
    while (s == FL_OK && *p) { /* the header: comments and blank lines */
        size_t len = strcspn(p, "\n");
        const char *l = p;
        size_t ll = len;
        while (ll && isspace((unsigned char)*l))
            l++, ll--;
        if (ll >= 2 && l[0] == '-' && l[1] == '-')
            s = parse_header_line(q, l, ll, err);
        else if (ll)
            break;
        p += len + (p[len] == '\n');
    }
    if (s == FL_OK && (!q->description || !q->description[0]))
        s = fl_fail(err, FL_ERR_FORMAT,
                    "query %s has no '-- description:' line at the top", name);
    if (s != FL_OK) {
        fl_query_free(q);
        return s;
    }
    *out = q;
    return FL_OK;
}

fl_status fl_query_builtin(const char *name, fl_query **out, fl_error *err)
{
    *out = NULL;
    size_t n = fl_query_builtin_count();
    char b[256];
    for (size_t i = 0; i < n; i++) {
        fl_query_builtin_name(i, b, sizeof b);
        if (name && !strcmp(b, name))
            return fl_query_parse(name, builtin_at(i)->text, out, err);
    }
    char list[1024] = "";
    for (size_t i = 0, o = 0; i < n && o < sizeof list; i++) {
        fl_query_builtin_name(i, b, sizeof b);
        o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", b);
    }
    return fl_fail(err, FL_ERR_USAGE, "no query named '%s' (known: %s; see flashline query --list)",
                   name ? name : "", list);
}

fl_status fl_query_load_file(const char *path, fl_query **out, fl_error *err)
{
    uint8_t *data;
    size_t len;
    *out = NULL;
    fl_status s = fl_read_file(path, &data, &len, 1 << 20, err);
    if (s != FL_OK)
        return s;
    char *text = malloc(len + 1);
    if (!text) {
        free(data);
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory reading %s", path);
    }
    memcpy(text, data, len);
    text[len] = '\0';
    free(data);
    if (strlen(text) != len)
        s = fl_fail(err, FL_ERR_FORMAT, "%s is not a text file", path);
    else
        s = fl_query_parse(path, text, out, err);
    free(text);
    return s;
}

void fl_query_params_text(const fl_query *q, char *buf, size_t cap)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < q->nparams && o < cap; i++) {
        const fl_query_param *p = &q->params[i];
        o += (size_t)snprintf(buf + o, cap - o, "%s%s%s%s", i ? ", " : "", p->name,
                              p->default_value ? "=" : "",
                              p->default_value ? p->default_value : "");
    }
    if (!q->nparams)
        snprintf(buf, cap, "none");
}

/* --- results ------------------------------------------------------------ */
void fl_query_result_free(fl_query_result *r)
{
    if (!r)
        return;
    for (int c = 0; c < r->ncols; c++)
        free(r->cols[c]);
    for (size_t i = 0; i < r->nrows * (size_t)r->ncols; i++)
        free(r->cells[i].text);
    free(r->cols);
    free(r->cells);
    free(r);
}

/* Shortest text that reads back as the same double. */
static void real_text(double v, char *buf, size_t cap)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

/* A blob is shown as the SQL literal x'00ff41' -- never as raw bytes, never as NULL. */
static int blob_cell(sqlite3_stmt *st, int c, fl_qvalue *v)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *b = sqlite3_column_blob(st, c);
    size_t n = (size_t)sqlite3_column_bytes(st, c);
    v->type = FL_QT_BLOB;
    v->text = malloc(2 * n + 4);
    if (!v->text)
        return 0;
    char *o = v->text;
    *o++ = 'x';
    *o++ = '\'';
    for (size_t i = 0; i < n; i++) {
        *o++ = hex[b[i] >> 4];
        *o++ = hex[b[i] & 15];
    }
    *o++ = '\'';
    *o = '\0';
    return 1;
}

static int cell_from(sqlite3_stmt *st, int c, fl_qvalue *v)
{
    char num[40];
    memset(v, 0, sizeof *v);
    switch (sqlite3_column_type(st, c)) {
    case SQLITE_NULL: v->type = FL_QT_NULL; return 1;
    case SQLITE_INTEGER:
        v->type = FL_QT_INT;
        v->i = sqlite3_column_int64(st, c);
        snprintf(num, sizeof num, "%lld", (long long)v->i);
        return (v->text = strdup(num)) != NULL;
    case SQLITE_FLOAT:
        v->type = FL_QT_REAL;
        v->r = sqlite3_column_double(st, c);
        real_text(v->r, num, sizeof num);
        return (v->text = strdup(num)) != NULL;
    case SQLITE_BLOB: return blob_cell(st, c, v);
    default: {
        const unsigned char *t = sqlite3_column_text(st, c);
        v->type = FL_QT_TEXT;
        v->text = strndup(t ? (const char *)t : "", (size_t)sqlite3_column_bytes(st, c));
        return v->text != NULL;
    }
    }
}

/* Bytes a cell will take in the result, known before it is copied, so a
 * result never grows past its limit in memory. */
static size_t cell_size(sqlite3_stmt *st, int c)
{
    switch (sqlite3_column_type(st, c)) {
    case SQLITE_NULL: return sizeof(fl_qvalue);
    case SQLITE_INTEGER:
    case SQLITE_FLOAT: return sizeof(fl_qvalue) + 40;
    case SQLITE_BLOB: return sizeof(fl_qvalue) + 2 * (size_t)sqlite3_column_bytes(st, c) + 4;
    default: return sizeof(fl_qvalue) + (size_t)sqlite3_column_bytes(st, c) + 1;
    }
}

/* 1: row added; 0: out of memory; -1: the result would pass max bytes. */
static int add_row(fl_query_result *r, sqlite3_stmt *st, size_t *cap, size_t *bytes, size_t max)
{
    size_t nc = (size_t)r->ncols, need = 0;
    for (size_t c = 0; c < nc; c++)
        need += cell_size(st, (int)c);
    if (need > max - *bytes)
        return -1;
    if (r->nrows == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        fl_qvalue *m = realloc(r->cells, ncap * nc * sizeof *m);
        if (!m)
            return 0;
        r->cells = m;
        *cap = ncap;
    }
    fl_qvalue *row = r->cells + r->nrows * nc;
    for (size_t c = 0; c < nc; c++)
        if (!cell_from(st, (int)c, &row[c])) {
            for (size_t k = 0; k <= c; k++)
                free(row[k].text);
            return 0;
        }
    *bytes += need;
    r->nrows++;
    return 1;
}

/* --- the guarded connection -------------------------------------------- */

/* Only reading: SELECT, reading columns, calling functions, recursive CTEs.
 * Everything else — writes, DDL, PRAGMA, ATTACH, transactions — is denied
 * while the statement is prepared. */
static int authorizer(void *ctx, int action, const char *a, const char *b, const char *c,
                      const char *d)
{
    switch (action) {
    case SQLITE_SELECT:
    case SQLITE_READ:
    case SQLITE_FUNCTION: /* b: the function's name */
        /* load_extension is off on this connection anyway; refusing it here
         * makes the answer "refused", not a runtime error */
        if (b && !sqlite3_stricmp(b, "load_extension")) {
            *(bool *)ctx = true; /* SQLite reports this denial as a plain error */
            return SQLITE_DENY;
        }
        return SQLITE_OK;
    case SQLITE_RECURSIVE: return SQLITE_OK;
    default: *(bool *)ctx = true; return SQLITE_DENY;
    }
}

/* fl_mac(x): the stored form of a MAC, so queries accept any spelling. */
static void sql_fl_mac(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const char *in = (const char *)sqlite3_value_text(argv[0]);
    char mac[18], msg[200];
    if (!in) {
        sqlite3_result_null(ctx);
        return;
    }
    if (!fl_audit_mac_normalize(in, mac)) {
        snprintf(msg, sizeof msg, "'%.60s' is not a MAC address (want aa:bb:cc:dd:ee:ff)", in);
        sqlite3_result_error(ctx, msg, -1);
        return;
    }
    sqlite3_result_text(ctx, mac, -1, SQLITE_TRANSIENT);
}

typedef struct qconn {
    sqlite3 *sql;
    const char *path;
    double timeout_s;   /* the time limit, for messages */
    double deadline;    /* monotonic seconds; the progress handler stops the query there */
    size_t max_bytes;   /* the result limit; also SQLite's limit on one value */
    bool timed_out;
    bool denied;        /* the authorizer refused something while preparing */
} qconn;

static double monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Called every few thousand VM instructions: a recursive CTE without an
 * end, or a cross join over a big log, is stopped at the time limit
 * (SQLITE_INTERRUPT) instead of running for ever. */
static int over_time(void *ctx)
{
    qconn *c = ctx;
    if (monotonic_s() < c->deadline)
        return 0;
    c->timed_out = true;
    return 1;
}

static fl_status conn_fail(qconn *c, int rc, fl_error *err, const char *what)
{
    fl_auditdb shim = {.sql = c->sql, .path = (char *)c->path};
    shim.opts.busy_timeout_ms = 5000;
    return adb_fail(&shim, rc, err, what);
}

/* Is it a flashline log of a schema this binary understands? */
static fl_status check_log(qconn *c, fl_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->sql,
                                "SELECT * FROM pragma_application_id, pragma_user_version", -1,
                                &st, NULL);
    int64_t app = 0, ver = 0;
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        app = sqlite3_column_int64(st, 0);
        ver = sqlite3_column_int64(st, 1);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK)
        return conn_fail(c, rc, err, "opening the audit log to query it");
    if (app != FL_AUDITDB_APP_ID)
        return fl_fail(err, FL_ERR_FORMAT, "%s is not a flashline audit log (application_id "
                       "0x%08llx): give --db the station's log", c->path,
                       (unsigned long long)(uint32_t)app);
    if (ver > fl_auditdb_schema_version())
        return fl_fail(err, FL_ERR_FORMAT,
                       "audit log %s has schema version %lld, newer than this flashline knows "
                       "(%d): query it with the newer flashline that wrote it",
                       c->path, (long long)ver, fl_auditdb_schema_version());
    return FL_OK;
}

static fl_status open_readonly(qconn *c, fl_error *err)
{
    struct stat stt;
    if (stat(c->path, &stt) != 0)
        return fl_fail(err, FL_ERR_FILE,
                       "no audit log at %s (%s): give --db FILE or set $FLASHLINE_DB, or run a "
                       "recipe first (verbs without --db share the station home's log)",
                       c->path, strerror(errno));
    if (S_ISDIR(stt.st_mode))
        return fl_fail(err, FL_ERR_FILE, "%s is a directory, not an audit log: give --db the log "
                       "file", c->path);
    int rc = sqlite3_open_v2(c->path, &c->sql, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        return conn_fail(c, rc, err, "opening the audit log to query it");
    sqlite3_extended_result_codes(c->sql, 1);
    sqlite3_busy_timeout(c->sql, 5000);
    sqlite3_limit(c->sql, SQLITE_LIMIT_ATTACHED, 0);
    /* No single string or blob larger than the whole result may be: SQLite
     * refuses randomblob(1e9) with SQLITE_TOOBIG before allocating it. */
    sqlite3_limit(c->sql, SQLITE_LIMIT_LENGTH,
                  c->max_bytes < INT32_MAX ? (int)c->max_bytes : INT32_MAX);
    sqlite3_db_config(c->sql, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(c->sql, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
    fl_status s = check_log(c, err);
    if (s != FL_OK)
        return s;
    rc = sqlite3_exec(c->sql, "PRAGMA query_only = ON", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function(c->sql, "fl_mac", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                                     NULL, sql_fl_mac, NULL, NULL);
    if (rc != SQLITE_OK)
        return conn_fail(c, rc, err, "preparing the query connection");
    /* Last: from here on not even PRAGMA is allowed. */
    sqlite3_set_authorizer(c->sql, authorizer, &c->denied);
    return FL_OK;
}

static fl_status refuse(const fl_query *q, fl_error *err, const char *why)
{
    return fl_fail(err, FL_ERR_REFUSED,
                   "query %s refused: %s; a query must be a single read-only SELECT", q->name, why);
}

/* Prepare q's one statement; anything but comments after it is refused. */
static fl_status prepare_one(qconn *c, const fl_query *q, sqlite3_stmt **out, fl_error *err)
{
    const char *tail = NULL;
    sqlite3_stmt *st = NULL;
    *out = NULL;
    int rc = sqlite3_prepare_v2(c->sql, q->sql, -1, &st, &tail);
    if ((rc & 0xff) == SQLITE_AUTH || (rc != SQLITE_OK && c->denied)) {
        sqlite3_finalize(st);
        return refuse(q, err, "it does more than read (or calls load_extension)");
    }
    if (rc != SQLITE_OK)
        return fl_fail(err, FL_ERR_FORMAT, "query %s: %s", q->name, sqlite3_errmsg(c->sql));
    if (!st)
        return fl_fail(err, FL_ERR_FORMAT, "query %s contains no SQL statement", q->name);
    sqlite3_stmt *next = NULL;
    rc = sqlite3_prepare_v2(c->sql, tail, -1, &next, NULL);
    sqlite3_finalize(next);
    if (rc != SQLITE_OK || next) {
        sqlite3_finalize(st);
        return refuse(q, err, "it holds more than one statement");
    }
    if (!sqlite3_stmt_readonly(st) || sqlite3_column_count(st) == 0) {
        sqlite3_finalize(st);
        return refuse(q, err, "it is not a read-only SELECT");
    }
    *out = st;
    return FL_OK;
}

/* --- parameters --------------------------------------------------------- */
static const fl_query_param *find_param(const fl_query *q, const char *name)
{
    for (size_t i = 0; i < q->nparams; i++)
        if (!strcmp(q->params[i].name, name))
            return &q->params[i];
    return NULL;
}

static fl_status check_args(const fl_query *q, const fl_query_arg *args, size_t nargs,
                            fl_error *err)
{
    char list[600];
    fl_query_params_text(q, list, sizeof list);
    for (size_t i = 0; i < nargs; i++)
        if (!args[i].name || !find_param(q, args[i].name))
            return fl_fail(err, FL_ERR_USAGE, "query %s has no parameter '%s' (parameters: %s)",
                           q->name, args[i].name ? args[i].name : "", list);
    for (size_t i = 0; i < q->nparams; i++) {
        const fl_query_param *p = &q->params[i];
        int given = 0;
        for (size_t k = 0; k < nargs; k++)
            given |= !strcmp(args[k].name, p->name);
        if (!given && !p->default_value)
            return fl_fail(err, FL_ERR_USAGE,
                           "query %s needs --param %s=VALUE (%s) (parameters: %s)", q->name,
                           p->name, p->description, list);
    }
    return FL_OK;
}

/* Bind every :name the SQL uses; the last --param of a name wins. */
static fl_status bind_params(sqlite3_stmt *st, const fl_query *q, const fl_query_arg *args,
                             size_t nargs, fl_error *err)
{
    int n = sqlite3_bind_parameter_count(st);
    for (int i = 1; i <= n; i++) {
        const char *pn = sqlite3_bind_parameter_name(st, i);
        const fl_query_param *p = pn && *pn == ':' ? find_param(q, pn + 1) : NULL;
        if (!p)
            return fl_fail(err, FL_ERR_FORMAT,
                           "query %s uses parameter %s without declaring it (add '-- param: "
                           "NAME description' to its header; only :NAME parameters are allowed)",
                           q->name, pn ? pn : "?");
        const char *value = p->default_value;
        for (size_t k = 0; k < nargs; k++)
            if (!strcmp(args[k].name, p->name))
                value = args[k].value;
        if (sqlite3_bind_text(st, i, value ? value : "", -1, SQLITE_TRANSIENT) != SQLITE_OK)
            return fl_fail(err, FL_ERR_INTERNAL, "cannot bind %s", pn);
    }
    return FL_OK;
}

static fl_status collect(qconn *c, sqlite3_stmt *st, const fl_query *q, fl_query_result **out,
                         fl_error *err)
{
    fl_query_result *r = calloc(1, sizeof *r);
    if (!r)
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    r->ncols = sqlite3_column_count(st);
    r->cols = calloc((size_t)r->ncols, sizeof *r->cols);
    int ok = r->cols != NULL;
    for (int i = 0; ok && i < r->ncols; i++)
        ok = (r->cols[i] = strdup(sqlite3_column_name(st, i))) != NULL;
    size_t cap = 0, bytes = 0;
    int rc = SQLITE_ROW;
    while (ok == 1 && (rc = sqlite3_step(st)) == SQLITE_ROW)
        ok = add_row(r, st, &cap, &bytes, c->max_bytes);
    fl_status s = FL_OK;
    if (!ok)
        s = fl_fail(err, FL_ERR_INTERNAL, "out of memory reading the result of %s", q->name);
    else if (ok < 0)
        s = fl_fail(err, FL_ERR_REFUSED,
                    "query %s refused: its result would pass its limit of %zu bytes at row %zu; "
                    "add a LIMIT or a narrower WHERE", q->name, c->max_bytes, r->nrows + 1);
    else if ((rc & 0xff) == SQLITE_TOOBIG)
        s = fl_fail(err, FL_ERR_REFUSED,
                    "query %s refused: a value in row %zu is larger than the result limit of %zu "
                    "bytes; select a smaller part of it", q->name, r->nrows + 1, c->max_bytes);
    else if ((rc & 0xff) == SQLITE_INTERRUPT && c->timed_out)
        s = fl_fail(err, FL_ERR_TIMEOUT,
                    "query %s stopped at its time limit of %g s with %zu rows read (nothing was "
                    "changed): a recursive query without an end, or a query too heavy for this "
                    "log; give it more time with --timeout SECONDS",
                    q->name, c->timeout_s, r->nrows);
    else if (rc != SQLITE_DONE && ((rc & 0xff) == SQLITE_ERROR || (rc & 0xff) == SQLITE_MISMATCH))
        s = fl_fail(err, FL_ERR_USAGE, "query %s: %s", q->name, sqlite3_errmsg(c->sql));
    else if (rc != SQLITE_DONE)
        s = conn_fail(c, rc, err, "running the query");
    if (s != FL_OK) {
        fl_query_result_free(r);
        return s;
    }
    *out = r;
    return FL_OK;
}

fl_status fl_query_run(const char *db_path, const fl_query *q, const fl_query_arg *args,
                       size_t nargs, fl_query_result **out, fl_error *err)
{
    return fl_query_run_timed(db_path, q, args, nargs, FL_QUERY_DEFAULT_TIMEOUT_S, out, err);
}

fl_status fl_query_run_timed(const char *db_path, const fl_query *q, const fl_query_arg *args,
                             size_t nargs, double timeout_s, fl_query_result **out, fl_error *err)
{
    return fl_query_run_limited(db_path, q, args, nargs, timeout_s, FL_QUERY_MAX_RESULT_BYTES,
                                out, err);
}

fl_status fl_query_run_limited(const char *db_path, const fl_query *q, const fl_query_arg *args,
                               size_t nargs, double timeout_s, size_t max_result_bytes,
                               fl_query_result **out, fl_error *err)
{
    *out = NULL;
    if (max_result_bytes < 1024 || max_result_bytes > FL_QUERY_MAX_RESULT_BYTES)
        return fl_fail(err, FL_ERR_USAGE, "query result limit %zu bytes is out of range (1024 "
                       "<= N <= %d)", max_result_bytes, FL_QUERY_MAX_RESULT_BYTES);
    if (!(timeout_s > 0 && timeout_s <= FL_QUERY_MAX_TIMEOUT_S))
        return fl_fail(err, FL_ERR_USAGE, "query time limit %g s is out of range (0 < S <= %d)",
                       timeout_s, FL_QUERY_MAX_TIMEOUT_S);
    fl_status s = check_args(q, args, nargs, err);
    if (s != FL_OK)
        return s;
    qconn c = {.path = db_path, .timeout_s = timeout_s, .deadline = monotonic_s() + timeout_s,
               .max_bytes = max_result_bytes};
    sqlite3_stmt *st = NULL;
    s = open_readonly(&c, err);
    if (s == FL_OK) {
        sqlite3_progress_handler(c.sql, 1000, over_time, &c);
        s = prepare_one(&c, q, &st, err);
    }
    if (s == FL_OK)
        s = bind_params(st, q, args, nargs, err);
    if (s == FL_OK)
        s = collect(&c, st, q, out, err);
    sqlite3_finalize(st);
    sqlite3_close_v2(c.sql);
    return s;
}
