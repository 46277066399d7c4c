/* cmd_query.c — `flashline query`: the canned, read-only audit queries.
 *
 * Output goes to stdout: an aligned table by default, RFC 4180 CSV with
 * --csv (header row, CRLF line ends), or JSON Lines with --json (one object
 * per row, keys in column order, numbers as numbers, NULL as null).  A blob
 * is shown as hex, never as raw bytes: x'00ff41' in the table and CSV,
 * {"blob_hex": "00ff41"} in JSON.  Errors go to stderr with the documented
 * exit codes.  $FLASHLINE_QUERY_MAX_BYTES lowers the result limit (tests use
 * it to reach the limit without allocating hundreds of MiB). */
#include <jansson.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "storage/auditdb.h"
#include "storage/auditdb_query.h"
#include "station/home.h"

/* The codes `flashline query` returns; the general table speaks of chips
 * and ports, none of which a query touches.  tests/cli/query_*.sh checks
 * each one, db/README.md repeats them. */
static const char query_exit_codes_help[] =
    "Exit codes:\n"
    "  0  the query ran (also when it found no rows)\n"
    "  2  bad command line: unknown query, missing or unknown --param, a bad --timeout, or\n"
    "     a value the query rejects while it runs (e.g. a --param that is not a MAC)\n"
    "  3  the log or the query file is missing, unreadable or not what it should be (not a\n"
    "     flashline audit log, a newer schema, a malformed query file)\n"
    "  6  the query ran into its time limit (--timeout) and was stopped\n"
    "  7  refused: the query is not a single read-only SELECT, calls load_extension(), or\n"
    "     its result (or one value in it) is larger than 256 MiB\n"
    "  9  internal error\n";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: flashline query NAME [--param KEY=VALUE ...] [--csv|--json] [--db FILE]\n"
            "       flashline query --file QUERY.sql [--param KEY=VALUE ...] [--csv|--json] "
            "[--db FILE]\n"
            "       flashline query --list [--json]\n"
            "       flashline query NAME --help       (the query's parameters)\n\n"
            "Runs a named, read-only query over the station's audit log.\n\n"
            "  --list           the built-in queries with a one-line description\n"
            "  --param K=V      a query parameter (repeatable); see NAME --help\n"
            "  --db FILE        the audit log (default: $FLASHLINE_DB, else the station\n"
            "                   home's: station.yaml's db:, else HOME/flashline.db; the\n"
            "                   same log from any directory, see --home)\n"
            "  --csv            RFC 4180 CSV: a header row, CRLF line ends, NULL as empty\n"
            "  --json           JSON Lines: one object per row, keys in column order\n"
            "                   (a blob is shown as hex: x'00ff41' in the table and CSV,\n"
            "                   {\"blob_hex\": \"00ff41\"} in JSON)\n"
            "  --file FILE      run a query file of your own (same format as db/queries/*.sql:\n"
            "                   '-- description:' and '-- param:' header, one SELECT)\n"
            "  --timeout S      stop the query after S seconds (default %d, at most %d)\n\n"
            "A query can only read: the log is opened read-only and anything but a single\n"
            "SELECT is refused (exit 7).\n\n%s",
            FL_QUERY_DEFAULT_TIMEOUT_S, FL_QUERY_MAX_TIMEOUT_S, query_exit_codes_help);
}

/* --- options ------------------------------------------------------------ */
typedef struct query_cli {
    bool list, csv, json, help;
    const char *db, *file, *name, *timeout_text;
    double timeout_s;
    fl_query_arg *args;
    size_t nargs;
} query_cli;

/* Every --param KEY=VALUE, split at the first '=' (argv strings are ours to modify). */
static int take_params(const cli_list *params, query_cli *q)
{
    q->args = calloc(params->n + 1, sizeof *q->args);
    if (!q->args)
        return cli_early_error("query", FL_ERR_INTERNAL, "out of memory");
    for (size_t i = 0; i < params->n; i++) {
        char *kv = (char *)params->items[i], *eq = strchr(kv, '=');
        if (!eq || eq == kv)
            return cli_usage_error("query", "--param wants KEY=VALUE, got '%s'", kv);
        *eq = '\0';
        q->args[q->nargs++] = (fl_query_arg){kv, eq + 1};
    }
    return 0;
}

static int parse(int argc, char **argv, query_cli *q)
{
    cli_list params = {0};
    const cli_opt opts[] = {
        {"list", OPT_FLAG, NULL, &q->list}, {"csv", OPT_FLAG, NULL, &q->csv},
        {"json", OPT_FLAG, NULL, &q->json}, {"db", OPT_STRING, &q->db, NULL},
        {"file", OPT_STRING, &q->file, NULL}, {"timeout", OPT_STRING, &q->timeout_text, NULL},
        {"param", OPT_LIST, NULL, NULL, 0, &params},
        {NULL, 0, NULL, NULL},
    };
    const char *pos[1];
    int npos = 0;
    int rc = cli_parse("query", argc, argv, opts, pos, 1, &npos, &q->help);
    if (!rc)
        rc = take_params(&params, q);
    cli_list_free(&params);
    if (rc)
        return rc;
    q->name = npos ? pos[0] : NULL;
    const char *bad = NULL;
    q->timeout_s = FL_QUERY_DEFAULT_TIMEOUT_S;
    if (q->timeout_text && !cli_parse_seconds(q->timeout_text, 0, FL_QUERY_MAX_TIMEOUT_S,
                                              &q->timeout_s))
        return cli_usage_error("query", "--timeout wants seconds, 0 < S <= %d; got '%s'",
                               FL_QUERY_MAX_TIMEOUT_S, q->timeout_text);
    if (q->csv && q->json)
        bad = "--csv and --json exclude each other";
    else if (!q->help && !q->list && !q->name == !q->file)
        bad = "give a query NAME or --file FILE (flashline query --list shows the names)";
    if (bad)
        return cli_usage_error("query", "%s", bad);
    return 0;
}

/* --- output ------------------------------------------------------------- */

/* Display width: UTF-8 continuation bytes take no column. */
static size_t text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

/* Table cells stay on one line: control characters become spaces. */
static void put_cell(const char *s, size_t width, bool right, bool last)
{
    size_t pad = width - text_width(s);
    if (right)
        printf("%*s", (int)pad, "");
    for (; *s; s++)
        putchar((unsigned char)*s < 0x20 ? ' ' : *s);
    if (!right && !last)
        printf("%*s", (int)pad, "");
}

static void print_table(const fl_query_result *r)
{
    size_t nc = (size_t)r->ncols;
    size_t *w = calloc(nc, sizeof *w);
    bool *right = calloc(nc, sizeof *right);
    if (!w || !right) {
        free(w);
        free(right);
        return;
    }
    for (size_t c = 0; c < nc; c++) {
        w[c] = text_width(r->cols[c]);
        right[c] = r->nrows > 0;
    }
    for (size_t i = 0; i < r->nrows; i++)
        for (size_t c = 0; c < nc; c++) {
            const fl_qvalue *v = &r->cells[i * nc + c];
            size_t cw = v->text ? text_width(v->text) : 0;
            if (cw > w[c])
                w[c] = cw;
            if (v->type == FL_QT_TEXT || v->type == FL_QT_BLOB) /* numbers right, text left */
                right[c] = false;
        }
    for (size_t c = 0; c < nc; c++) {
        put_cell(r->cols[c], w[c], right[c], c + 1 == nc);
        fputs(c + 1 == nc ? "\n" : "  ", stdout);
    }
    for (size_t c = 0; c < nc; c++) {
        for (size_t k = 0; k < w[c]; k++)
            putchar('-');
        fputs(c + 1 == nc ? "\n" : "  ", stdout);
    }
    for (size_t i = 0; i < r->nrows; i++)
        for (size_t c = 0; c < nc; c++) {
            const fl_qvalue *v = &r->cells[i * nc + c];
            put_cell(v->text ? v->text : "", w[c], right[c], c + 1 == nc);
            fputs(c + 1 == nc ? "\n" : "  ", stdout);
        }
    fprintf(stderr, "(%zu row%s)\n", r->nrows, r->nrows == 1 ? "" : "s");
    free(w);
    free(right);
}

/* RFC 4180: quote a field holding a comma, quote, CR or LF; double quotes. */
static void csv_field(const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(*s);
    }
    putchar('"');
}

static void print_csv(const fl_query_result *r)
{
    size_t nc = (size_t)r->ncols;
    for (size_t c = 0; c < nc; c++) {
        csv_field(r->cols[c]);
        fputs(c + 1 == nc ? "\r\n" : ",", stdout);
    }
    for (size_t i = 0; i < r->nrows; i++)
        for (size_t c = 0; c < nc; c++) {
            const fl_qvalue *v = &r->cells[i * nc + c];
            csv_field(v->text ? v->text : "");
            fputs(c + 1 == nc ? "\r\n" : ",", stdout);
        }
}

static json_t *json_value(const fl_qvalue *v)
{
    switch (v->type) {
    case FL_QT_NULL: return json_null();
    case FL_QT_INT: return json_integer((json_int_t)v->i);
    case FL_QT_REAL: return json_real(v->r);
    case FL_QT_BLOB: /* text is x'HEX': the hex alone, marked as a blob */
        return json_pack("{s:s%}", "blob_hex", v->text + 2, strlen(v->text) - 3);
    default: return json_string(v->text);
    }
}

static int print_json(const fl_query_result *r)
{
    size_t nc = (size_t)r->ncols;
    for (size_t i = 0; i < r->nrows; i++) {
        json_t *o = json_object();
        for (size_t c = 0; o && c < nc; c++) {
            json_t *v = json_value(&r->cells[i * nc + c]);
            /* text that is not UTF-8 cannot be a JSON string: show it as null */
            json_object_set_new(o, r->cols[c], v ? v : json_null());
        }
        if (!o)
            return EXIT_INTERNAL;
        cli_json_print(o);
    }
    return EXIT_OK;
}

/* --- listing and help ------------------------------------------------- */
static int list_queries(bool json)
{
    size_t n = fl_query_builtin_count();
    fl_error err;
    for (size_t i = 0; i < n; i++) {
        char name[256];
        fl_query *q;
        fl_query_builtin_name(i, name, sizeof name);
        if (fl_query_builtin(name, &q, &err) != FL_OK)
            return cli_early_error("query", FL_ERR_INTERNAL, "%s", err.msg);
        if (json) {
            json_t *params = json_array();
            for (size_t k = 0; k < q->nparams; k++)
                json_array_append_new(
                    params, json_pack("{s:s, s:o, s:s}", "name", q->params[k].name, "default",
                                      q->params[k].default_value
                                          ? json_string(q->params[k].default_value)
                                          : json_null(),
                                      "description", q->params[k].description));
            json_t *o = json_pack("{s:s, s:s, s:o}", "name", q->name, "description",
                                  q->description, "params", params);
            cli_json_print(o);
        } else {
            printf("%-20s %s\n", q->name, q->description);
        }
        fl_query_free(q);
    }
    return EXIT_OK;
}

static void query_help(const fl_query *q)
{
    printf("flashline query %s — %s\n\nparameters:\n", q->name, q->description);
    if (!q->nparams)
        printf("  (none)\n");
    for (size_t i = 0; i < q->nparams; i++) {
        const fl_query_param *p = &q->params[i];
        char head[128];
        if (p->default_value)
            snprintf(head, sizeof head, "%s=%s", p->name, p->default_value[0] ? p->default_value : "\"\"");
        else
            snprintf(head, sizeof head, "%s (required)", p->name);
        printf("  --param %-22s %s\n", head, p->description);
    }
}

/* --- the verb ----------------------------------------------------------- */

/* $FLASHLINE_QUERY_MAX_BYTES may only lower the limit; anything else is ignored. */
static size_t result_limit(void)
{
    const char *e = getenv("FLASHLINE_QUERY_MAX_BYTES");
    char *end = NULL;
    errno = 0;
    unsigned long long v = e && *e ? strtoull(e, &end, 10) : 0;
    if (!v || errno || *end || v < 1024 || v > FL_QUERY_MAX_RESULT_BYTES)
        return FL_QUERY_MAX_RESULT_BYTES;
    return (size_t)v;
}

static int run_query(const query_cli *o)
{
    fl_error err;
    fl_query *q = NULL;
    fl_status s = o->file ? fl_query_load_file(o->file, &q, &err)
                          : fl_query_builtin(o->name, &q, &err);
    if (s != FL_OK)
        return cli_early_error("query", s, "%s", err.msg);
    if (o->help) {
        query_help(q);
        fl_query_free(q);
        return EXIT_OK;
    }
    fl_query_result *r = NULL;
    char log_path[4096];
    s = fl_home_resolve_log(o->db, log_path, sizeof log_path, &err);
    if (s == FL_OK)
        s = fl_query_run_limited(log_path, q, o->args, o->nargs, o->timeout_s, result_limit(),
                                 &r, &err);
    fl_query_free(q);
    if (s != FL_OK)
        return cli_early_error("query", s, "%s", err.msg);
    int rc = EXIT_OK;
    if (o->csv)
        print_csv(r);
    else if (o->json)
        rc = print_json(r);
    else
        print_table(r);
    fl_query_result_free(r);
    return rc;
}

int cmd_query(int argc, char **argv)
{
    query_cli o = {0};
    int rc = parse(argc, argv, &o);
    if (!rc && o.list)
        rc = list_queries(o.json);
    else if (!rc && o.help && !o.name && !o.file)
        usage(stdout);
    else if (!rc)
        rc = run_query(&o);
    free(o.args);
    return rc;
}
