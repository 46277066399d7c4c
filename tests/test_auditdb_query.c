/* Tests for the canned audit queries (src/storage/auditdb_query.c, db/queries).
 *
 * A log is filled through the recording API from a plan of runs (days,
 * stations, units, outcomes, failing steps, images); what every query must
 * return is computed here from the same plan, independently of its SQL.
 * Then the read-only guard: write attempts in every shape are refused and
 * leave the log unchanged. */
#include <stdbool.h>

#include <math.h>

#include "auditdb_testutil.h"
#include "storage/auditdb.h"
#include "storage/auditdb_query.h"
#include "testlib.h"

typedef struct plan {
    int day; /* of November 2026 */
    const char *station;
    const char *mac; /* NULL: the unit was never identified */
    fl_outcome outcome;
    const char *fail_step; /* the step that ends non-PASS; NULL: none */
    const char *reason;
    const char *fw; /* image flashed (recorded in the flash step, if reached) */
    const char *recipe_sha;
    int64_t id;
} plan;

static plan plans[] = {
    {18, "line-1", "aa:bb:cc:00:00:01", FL_OUTCOME_PASS, NULL, NULL, SHA_B, SHA_A, 0},
    {18, "line-1", "aa:bb:cc:00:00:02", FL_OUTCOME_FAIL, "verify", "CRC mismatch at 0x11000", SHA_B, SHA_A, 0},
    {18, "line-2", "aa:bb:cc:00:00:03", FL_OUTCOME_ERROR, "connect", "no answer from the chip", SHA_B, SHA_A, 0},
    {19, "line-1", "aa:bb:cc:00:00:02", FL_OUTCOME_PASS, NULL, NULL, SHA_B, SHA_A, 0},
    {19, "line-2", "aa:bb:cc:00:00:04", FL_OUTCOME_ERROR, "connect", "no answer from the chip", SHA_B, SHA_A, 0},
    {19, "line-2", "aa:bb:cc:00:00:05", FL_OUTCOME_ABORTED, "flash", "operator pressed Ctrl-C", SHA_C, SHA_B, 0},
    {19, "line-1", "aa:bb:cc:00:00:06", FL_OUTCOME_FAIL, "verify", "CRC mismatch at 0x11000", SHA_C, SHA_B, 0},
    {20, "line-1", "aa:bb:cc:00:00:07", FL_OUTCOME_PASS, NULL, NULL, SHA_C, SHA_B, 0},
    {20, "line-1", "aa:bb:cc:00:00:01", FL_OUTCOME_PASS, NULL, NULL, SHA_C, SHA_B, 0},
    {20, "line-2", NULL, FL_OUTCOME_ABORTED, NULL, "SIGTERM before identify", SHA_C, SHA_B, 0},
    {20, "line-2", "aa:bb:cc:00:00:08", FL_OUTCOME_ERROR, "connect", "no answer from the chip", SHA_C, SHA_B, 0},
    {20, "line-1", "aa:bb:cc:00:00:09", FL_OUTCOME_PASS, NULL, NULL, SHA_C, SHA_B, 0},
};
#define NPLANS (sizeof plans / sizeof plans[0])

static const char *const step_names[] = {"connect", "backup", "flash", "verify"};

/* Did the run connect (and so record how it reached the chip)?  line-1
 * flashes over a UART, line-2 over a CH341A. */
static bool linked(const plan *p)
{
    return p->mac && !(p->fail_step && !strcmp(p->fail_step, "connect"));
}
static const char *plan_driver(const plan *p)
{
    return !linked(p) ? "" : !strcmp(p->station, "line-1") ? "beken-uart" : "ch341a-spi";
}
static const char *plan_programmer(const plan *p)
{
    return !linked(p) ? "" : !strcmp(p->station, "line-1") ? "sim:bk7231n" : "ch341a bus 1 port 4";
}

/* Did the run get as far as the flash step (and so record its image)? */
static bool flashed(const plan *p)
{
    if (p->outcome == FL_OUTCOME_PASS)
        return true;
    if (!p->fail_step)
        return false;
    return !strcmp(p->fail_step, "flash") || !strcmp(p->fail_step, "verify");
}

static const char *failing_step(const plan *p) { return p->fail_step ? p->fail_step : "(no step)"; }

static const char *dbpath;

static void record_plan(plan *p, int index)
{
    tu_clock clk = {tu_utc(2026, 11, p->day, 8 + index, 0), 1.0};
    fl_auditdb_opts o;
    fl_auditdb_opts_init(&o);
    o.now = tu_clock_now;
    o.now_ctx = &clk;
    fl_auditdb *db = NULL;
    fl_error err = {0};
    CHECK(fl_auditdb_open(dbpath, &o, &db, &err) == FL_OK, "%s", err.msg);
    fl_audit_run_info info = {p->station, "op", "recipe", p->recipe_sha, "sim:bk7231n"};
    CHECK(fl_auditdb_run_begin(db, &info, &p->id, &err) == FL_OK, "%s", err.msg);
    if (p->mac) {
        fl_audit_unit u = {p->mac, NULL, "bk7231n", "c84016", 2 << 20, "rom"};
        CHECK(fl_auditdb_run_unit(db, &u, NULL, &err) == FL_OK, "%s", err.msg);
    }
    for (size_t s = 0; s < 4; s++) {
        bool fails = p->fail_step && !strcmp(p->fail_step, step_names[s]);
        CHECK(fl_auditdb_step_begin(db, step_names[s], NULL, &err) == FL_OK, "%s", err.msg);
        if (s == 0 && linked(p))
            CHECK(fl_auditdb_run_link(db, plan_driver(p), plan_programmer(p), &err) == FL_OK, "%s",
                  err.msg);
        if (!strcmp(step_names[s], "backup"))
            fl_auditdb_artifact(db, "backup", "/backups/unit.bin", SHA_A, 2 << 20, &err);
        if (!strcmp(step_names[s], "flash")) {
            fl_auditdb_artifact(db, "firmware", "/fw/obk.bin", p->fw, 1000, &err);
            fl_auditdb_measure(db, "bytes", 4096, "B", &err);
        }
        fl_auditdb_measure(db, "retries", (double)s, NULL, &err);
        CHECK(fl_auditdb_step_end(db, fails ? p->outcome : FL_OUTCOME_PASS,
                                  fails ? p->reason : NULL, &err) == FL_OK, "%s", err.msg);
        /* a run-level abort happens after the first step */
        if (fails || (!p->fail_step && p->outcome != FL_OUTCOME_PASS))
            break;
    }
    const char *msg = p->outcome == FL_OUTCOME_PASS ? "ok" : p->fail_step ? "run failed" : p->reason;
    CHECK(fl_auditdb_run_end(db, p->outcome, msg, &err) == FL_OK, "%s", err.msg);
    fl_auditdb_close(db);
}

/* --- running queries ----------------------------------------------------- */
static fl_query_result *run_named(const char *name, const fl_query_arg *args, size_t nargs)
{
    fl_query *q = NULL;
    fl_error err = {0};
    fl_query_result *r = NULL;
    CHECK(fl_query_builtin(name, &q, &err) == FL_OK, "%s", err.msg);
    if (q)
        CHECK(fl_query_run(dbpath, q, args, nargs, &r, &err) == FL_OK, "%s: %s", name, err.msg);
    fl_query_free(q);
    return r;
}

static fl_status run_text(const char *sql, const fl_query_arg *args, size_t nargs,
                          fl_query_result **r, fl_error *err)
{
    fl_query *q = NULL;
    *r = NULL;
    fl_status s = fl_query_parse("test", sql, &q, err);
    if (s == FL_OK)
        s = fl_query_run(dbpath, q, args, nargs, r, err);
    fl_query_free(q);
    return s;
}

static int col(const fl_query_result *r, const char *name)
{
    for (int c = 0; r && c < r->ncols; c++)
        if (!strcmp(r->cols[c], name))
            return c;
    CHECK(0, "no column %s", name);
    return -1;
}

/* Cell text ("" for NULL). */
static const char *cell(const fl_query_result *r, size_t row, const char *name)
{
    int c = col(r, name);
    if (c < 0 || row >= r->nrows)
        return "";
    const char *t = r->cells[row * (size_t)r->ncols + (size_t)c].text;
    return t ? t : "";
}

static long long icell(const fl_query_result *r, size_t row, const char *name)
{
    return atoll(cell(r, row, name));
}

static char day_text(int day, char out[11])
{
    snprintf(out, 11, "2026-11-%02d", day);
    return 0;
}

/* --- the canned queries -------------------------------------------------- */
static void test_recent_runs(void)
{
    fl_query_arg lim = {"limit", "3"};
    fl_query_result *r = run_named("recent_runs", &lim, 1);
    CHECK(r && r->nrows == 3, "rows");
    for (size_t i = 0; r && i < r->nrows && i < 3; i++) {
        const plan *p = &plans[NPLANS - 1 - i];
        CHECK(icell(r, i, "run") == p->id, "row %zu run %lld, want %lld", i, icell(r, i, "run"),
              (long long)p->id);
        CHECK_STR(cell(r, i, "outcome"), fl_outcome_name(p->outcome));
        CHECK_STR(cell(r, i, "station"), p->station);
        CHECK_STR(cell(r, i, "unit"), p->mac ? p->mac : "");
        CHECK_STR(cell(r, i, "driver"), plan_driver(p));
        CHECK_STR(cell(r, i, "programmer"), plan_programmer(p));
    }
    fl_query_result_free(r);

    fl_query_arg args[] = {{"station", "line-2"}, {"limit", "100"}};
    r = run_named("recent_runs", args, 2);
    size_t want = 0;
    for (size_t i = 0; i < NPLANS; i++)
        want += !strcmp(plans[i].station, "line-2");
    CHECK(r && r->nrows == want, "line-2 rows %zu, want %zu", r ? r->nrows : 0, want);
    for (size_t i = 0; r && i < r->nrows; i++)
        CHECK_STR(cell(r, i, "station"), "line-2");
    /* the default limit applies without --param */
    fl_query_result_free(r);
    r = run_named("recent_runs", NULL, 0);
    CHECK(r && r->nrows == (NPLANS < 20 ? NPLANS : 20), "default limit");
    fl_query_result_free(r);
}

static void test_unit_history(void)
{
    const char *mac = "aa:bb:cc:00:00:02";
    fl_query_arg a = {"mac", "AA-BB-CC-00-00-02"}; /* any spelling */
    fl_query_result *r = run_named("unit_history", &a, 1);
    size_t row = 0;
    for (size_t i = 0; r && i < NPLANS; i++) {
        const plan *p = &plans[i];
        if (!p->mac || strcmp(p->mac, mac))
            continue;
        CHECK(icell(r, row, "run") == p->id, "history row %zu", row);
        CHECK_STR(cell(r, row, "outcome"), fl_outcome_name(p->outcome));
        CHECK_STR(cell(r, row, "backup_sha256"), SHA_A);
        CHECK_STR(cell(r, row, "firmware_sha256"), flashed(p) ? p->fw : "");
        CHECK_STR(cell(r, row, "chip"), "bk7231n");
        CHECK_STR(cell(r, row, "driver"), plan_driver(p));
        CHECK_STR(cell(r, row, "programmer"), plan_programmer(p));
        row++;
    }
    CHECK(r && r->nrows == row && row == 2, "history rows %zu", r ? r->nrows : 0);
    fl_query_result_free(r);

    /* a bad MAC is an error that says so, not an empty result */
    fl_query *q = NULL;
    fl_error err = {0};
    fl_query_builtin("unit_history", &q, &err);
    fl_query_arg bad = {"mac", "nonsense"};
    r = NULL;
    fl_status s = fl_query_run(dbpath, q, &bad, 1, &r, &err);
    CHECK(s == FL_ERR_USAGE && strstr(err.msg, "not a MAC address"), "%d %s", s, err.msg);
    /* a missing parameter lists what the query takes */
    s = fl_query_run(dbpath, q, NULL, 0, &r, &err);
    CHECK(s == FL_ERR_USAGE && strstr(err.msg, "needs --param mac=VALUE") &&
              strstr(err.msg, "parameters: mac"), "%d %s", s, err.msg);
    fl_query_free(q);
}

/* failures over [from, to]: groups (step, outcome, reason) → count, from the plan */
static void check_failures(int from, int to)
{
    char f[11], t[11];
    day_text(from, f);
    day_text(to, t);
    fl_query_arg args[] = {{"from", f}, {"to", t}};
    fl_query_result *r = run_named("failures", args, 2);
    size_t groups = 0;
    long long total = 0;
    for (size_t i = 0; i < NPLANS; i++) {
        const plan *p = &plans[i];
        if (p->outcome == FL_OUTCOME_PASS || p->day < from || p->day > to)
            continue;
        total++;
        bool first = true; /* count each group once */
        long long n = 0;
        for (size_t k = 0; k < NPLANS; k++) {
            const plan *o = &plans[k];
            if (o->outcome == FL_OUTCOME_PASS || o->day < from || o->day > to)
                continue;
            bool same = o->outcome == p->outcome && !strcmp(failing_step(o), failing_step(p)) &&
                        !strcmp(o->reason, p->reason);
            if (same && k < i)
                first = false;
            n += same;
        }
        if (!first)
            continue;
        groups++;
        bool found = false;
        for (size_t row = 0; r && row < r->nrows; row++)
            if (!strcmp(cell(r, row, "step"), failing_step(p)) &&
                !strcmp(cell(r, row, "outcome"), fl_outcome_name(p->outcome)) &&
                !strcmp(cell(r, row, "reason"), p->reason)) {
                found = true;
                CHECK(icell(r, row, "runs") == n, "%s/%s: %lld runs, want %lld", failing_step(p),
                      p->reason, icell(r, row, "runs"), n);
            }
        CHECK(found, "no failures row for %s / %s", failing_step(p), p->reason);
    }
    CHECK(r && r->nrows == groups, "failures %s..%s: %zu rows, want %zu", f, t, r ? r->nrows : 0,
          groups);
    long long sum = 0;
    for (size_t row = 0; r && row < r->nrows; row++) {
        sum += icell(r, row, "runs");
        if (row)
            CHECK(icell(r, row, "runs") <= icell(r, row - 1, "runs"), "not sorted by count");
    }
    CHECK(sum == total, "failed runs %lld, want %lld", sum, total);
    fl_query_result_free(r);
}

static void test_failures(void)
{
    check_failures(1, 30);
    check_failures(19, 19);
    check_failures(20, 20);
    fl_query_result *r = run_named("failures", NULL, 0); /* no bounds = everything */
    long long sum = 0, want = 0;
    for (size_t row = 0; r && row < r->nrows; row++)
        sum += icell(r, row, "runs");
    for (size_t i = 0; i < NPLANS; i++)
        want += plans[i].outcome != FL_OUTCOME_PASS;
    CHECK(sum == want, "unbounded: %lld, want %lld", sum, want);
    fl_query_result_free(r);
}

static void test_units_per_firmware(void)
{
    fl_query_result *r = run_named("units_per_firmware", NULL, 0);
    size_t groups = 0;
    for (size_t i = 0; i < NPLANS; i++) {
        const plan *p = &plans[i];
        const char *fw = flashed(p) ? p->fw : "(none)";
        bool first = true;
        long long runs = 0, units = 0, passed = 0;
        for (size_t k = 0; k < NPLANS; k++) { /* same (image, recipe) group */
            const plan *o = &plans[k];
            if (strcmp(flashed(o) ? o->fw : "(none)", fw) || strcmp(o->recipe_sha, p->recipe_sha))
                continue;
            if (k < i)
                first = false;
            runs++;
            bool seen = false, seen_pass = false; /* distinct units, and passed ones */
            for (size_t j = 0; j < k; j++) {
                const plan *e = &plans[j];
                if (strcmp(flashed(e) ? e->fw : "(none)", fw) ||
                    strcmp(e->recipe_sha, p->recipe_sha) || !e->mac || !o->mac ||
                    strcmp(e->mac, o->mac))
                    continue;
                seen = true;
                seen_pass |= e->outcome == FL_OUTCOME_PASS;
            }
            units += o->mac && !seen;
            passed += o->mac && o->outcome == FL_OUTCOME_PASS && !seen_pass;
        }
        if (!first)
            continue;
        groups++;
        bool found = false;
        for (size_t row = 0; r && row < r->nrows; row++)
            if (!strcmp(cell(r, row, "firmware_sha256"), fw) &&
                !strcmp(cell(r, row, "recipe_sha256"), p->recipe_sha)) {
                found = true;
                CHECK(icell(r, row, "runs") == runs && icell(r, row, "units") == units &&
                          icell(r, row, "units_passed") == passed,
                      "%.8s/%.8s: runs %lld units %lld passed %lld, want %lld %lld %lld", fw,
                      p->recipe_sha, icell(r, row, "runs"), icell(r, row, "units"),
                      icell(r, row, "units_passed"), runs, units, passed);
            }
        CHECK(found, "no row for image %.8s recipe %.8s", fw, p->recipe_sha);
    }
    CHECK(r && r->nrows == groups, "%zu rows, want %zu", r ? r->nrows : 0, groups);
    fl_query_result_free(r);
}

static void check_batch(const char *station_filter)
{
    fl_query_arg a = {"station", station_filter ? station_filter : ""};
    fl_query_result *r = run_named("batch_summary", &a, 1);
    size_t row = 0;
    static const char *const stations[] = {"line-1", "line-2"};
    for (int day = 1; day <= 30; day++)
        for (int s = 0; s < 2; s++) { /* rows come by day, then station */
            if (station_filter && strcmp(stations[s], station_filter))
                continue;
            long long n[5] = {0}, total = 0;
            for (size_t i = 0; i < NPLANS; i++)
                if (plans[i].day == day && !strcmp(plans[i].station, stations[s])) {
                    n[plans[i].outcome]++;
                    total++;
                }
            if (!total)
                continue;
            char d[11];
            day_text(day, d);
            CHECK_STR(cell(r, row, "day"), d);
            CHECK_STR(cell(r, row, "station"), stations[s]);
            CHECK(icell(r, row, "runs") == total && icell(r, row, "pass") == n[FL_OUTCOME_PASS] &&
                      icell(r, row, "fail") == n[FL_OUTCOME_FAIL] &&
                      icell(r, row, "error") == n[FL_OUTCOME_ERROR] &&
                      icell(r, row, "aborted") == n[FL_OUTCOME_ABORTED] &&
                      icell(r, row, "running") == 0,
                  "%s %s counts", d, stations[s]);
            double pct = atof(cell(r, row, "pass_pct"));
            double want = 100.0 * (double)n[FL_OUTCOME_PASS] / (double)total;
            CHECK(pct > want - 0.051 && pct < want + 0.051, "pass_pct %.1f want %.1f", pct, want);
            row++;
        }
    CHECK(r && r->nrows == row, "batch rows %zu, want %zu", r ? r->nrows : 0, row);
    fl_query_result_free(r);
}

static void test_batch_summary(void)
{
    check_batch(NULL);
    check_batch("line-2");
}

static void test_run_steps(void)
{
    const plan *p = &plans[1]; /* failed at verify */
    char id[32];
    snprintf(id, sizeof id, "%lld", (long long)p->id);
    fl_query_arg a = {"run", id};
    fl_query_result *r = run_named("run_steps", &a, 1);
    CHECK(r && r->nrows == 4, "steps");
    for (size_t i = 0; r && i < r->nrows && i < 4; i++) {
        CHECK_STR(cell(r, i, "name"), step_names[i]);
        CHECK(icell(r, i, "step") == (long long)i + 1, "idx");
        bool fails = !strcmp(step_names[i], p->fail_step);
        CHECK_STR(cell(r, i, "outcome"), fails ? "FAIL" : "PASS");
        CHECK_STR(cell(r, i, "message"), fails ? p->reason : "");
        CHECK(atof(cell(r, i, "seconds")) >= 0.999, "duration %s", cell(r, i, "seconds"));
    }
    if (r && r->nrows == 4) {
        CHECK_STR(cell(r, 2, "measurements"), "bytes=4096 B, retries=2");
        CHECK(strstr(cell(r, 1, "artifacts"), "backup /backups/unit.bin (2097152 B") != NULL,
              "%s", cell(r, 1, "artifacts"));
        CHECK(r->cells[0 * r->ncols + col(r, "step")].type == FL_QT_INT, "typed integer");
        CHECK(r->cells[0 * r->ncols + col(r, "message")].type == FL_QT_NULL, "typed NULL");
    }
    fl_query_result_free(r);
}

static void test_builtins_well_formed(void)
{
    size_t n = fl_query_builtin_count();
    CHECK(n >= 5, "%zu built-in queries", n);
    const char *want[] = {"recent_runs", "unit_history", "failures", "units_per_firmware",
                          "batch_summary"};
    for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
        fl_query *q = NULL;
        fl_error err = {0};
        CHECK(fl_query_builtin(want[w], &q, &err) == FL_OK && q->description[0], "%s: %s",
              want[w], err.msg);
        fl_query_free(q);
    }
    fl_query *q = NULL;
    fl_error err = {0};
    CHECK(fl_query_builtin("nope", &q, &err) == FL_ERR_USAGE && strstr(err.msg, "recent_runs"),
          "%s", err.msg);
}

/* --- read-only enforcement ---------------------------------------------- */
static const char *log_state(void)
{
    sqlite3 *raw = tu_raw(dbpath);
    static char buf[2048];
    snprintf(buf, sizeof buf, "%s|%s|%lld",
             tu_text(raw, "SELECT count(*) || ':' || group_concat(id || outcome || "
                          "COALESCE(message, ''), ',') FROM runs"),
             tu_text(raw, "SELECT (SELECT count(*) FROM steps) || ':' || (SELECT count(*) FROM "
                          "stations) || ':' || (SELECT count(*) FROM units) || ':' || (SELECT "
                          "count(*) FROM measurements) || ':' || (SELECT count(*) FROM "
                          "sqlite_master)"),
             (long long)tu_int(raw, "PRAGMA user_version"));
    sqlite3_close(raw);
    return buf;
}

static void test_read_only_enforced(void)
{
    char before[2048];
    snprintf(before, sizeof before, "%s", log_state());
    const char *evil_db = tu_path("evil.db"), *copy_db = tu_path("copy.db");
    char attach[512], vacuum[512];
    snprintf(attach, sizeof attach, "-- description: x\nATTACH DATABASE '%s' AS evil", evil_db);
    snprintf(vacuum, sizeof vacuum, "-- description: x\nVACUUM INTO '%s'", copy_db);
    const char *evil[] = {
        "-- description: x\nDELETE FROM runs",
        "-- description: x\nSELECT 1; DELETE FROM runs",
        "-- description: x\nSELECT * FROM runs; SELECT 1",
        "-- description: x\nSELECT 1 /* ; */; UPDATE runs SET message = 'x'",
        "-- description: x\nUPDATE runs SET outcome = 'PASS'",
        "-- description: x\nINSERT INTO stations (name, host, first_seen, last_seen) "
        "VALUES ('x', 'x', 'x', 'x')",
        "-- description: x\nREPLACE INTO units (id, alt_id, first_seen, last_seen) "
        "VALUES (1, 'x', 'x', 'x')",
        "-- description: x\nWITH x AS (SELECT 1) DELETE FROM runs",
        "-- description: x\nDROP TABLE measurements",
        "-- description: x\nCREATE TABLE t (x)",
        "-- description: x\nCREATE TEMP TABLE t AS SELECT * FROM runs",
        "-- description: x\nDROP TRIGGER runs_no_delete",
        attach,
        vacuum,
        "-- description: x\nPRAGMA user_version = 99",
        "-- description: x\nPRAGMA writable_schema = ON",
        "-- description: x\nBEGIN IMMEDIATE",
        "-- description: x\nSAVEPOINT a",
        "-- description: x\nANALYZE",
        "-- description: x\nREINDEX",
    };
    for (size_t i = 0; i < sizeof evil / sizeof evil[0]; i++) {
        fl_query_result *r = NULL;
        fl_error err = {0};
        fl_status s = run_text(evil[i], NULL, 0, &r, &err);
        CHECK(s == FL_ERR_REFUSED && r == NULL && strstr(err.msg, "refused"),
              "not refused (%d: %s): %s", s, err.msg, strchr(evil[i], '\n') + 1);
        fl_query_result_free(r);
    }
    /* functions that could touch the system are not available either */
    fl_query_result *r = NULL;
    fl_error err = {0};
    CHECK(run_text("-- description: x\nSELECT load_extension('/tmp/x.so')", NULL, 0, &r, &err) !=
              FL_OK, "load_extension ran");
    CHECK_STR(log_state(), before);
    CHECK(access(evil_db, F_OK) != 0 && access(copy_db, F_OK) != 0, "a file was created");

    /* a harmless query with a trailing comment is fine */
    fl_status s = run_text("-- description: count\nSELECT count(*) AS n FROM runs; -- done\n", NULL,
                           0, &r, &err);
    CHECK(s == FL_OK && r && r->nrows == 1 && atoll(r->cells[0].text) == (long long)NPLANS,
          "%d %s", s, err.msg);
    fl_query_result_free(r);
}

static void test_query_errors(void)
{
    fl_query_result *r = NULL;
    fl_error err = {0};
    fl_status s = run_text("SELECT 1", NULL, 0, &r, &err);
    CHECK(s == FL_ERR_FORMAT && strstr(err.msg, "description"), "%d %s", s, err.msg);
    s = run_text("-- description: x\nSELECT :who", NULL, 0, &r, &err);
    CHECK(s == FL_ERR_FORMAT && strstr(err.msg, ":who without declaring"), "%d %s", s, err.msg);
    s = run_text("-- description: x\nSELECT ?", NULL, 0, &r, &err);
    CHECK(s == FL_ERR_FORMAT, "positional parameter: %d %s", s, err.msg);
    s = run_text("-- description: x\n-- param: a=1 the a\n-- param: b the b\nSELECT :a, :b",
                 (fl_query_arg[]){{"c", "1"}}, 1, &r, &err);
    CHECK(s == FL_ERR_USAGE && strstr(err.msg, "no parameter 'c'") &&
              strstr(err.msg, "parameters: a=1, b"), "%d %s", s, err.msg);
    s = run_text("-- description: x\n-- param: a=1 the a\nSELECT :a + 1 AS v",
                 (fl_query_arg[]){{"a", "41"}}, 1, &r, &err);
    CHECK(s == FL_OK && r && !strcmp(r->cells[0].text, "42"), "%d %s", s, err.msg);
    fl_query_result_free(r);

    /* a log that does not exist is not created by a query */
    fl_query *q = NULL;
    fl_query_builtin("recent_runs", &q, &err);
    const char *missing = tu_path("missing.db");
    s = fl_query_run(missing, q, NULL, 0, &r, &err);
    CHECK(s == FL_ERR_FILE && strstr(err.msg, "no audit log at") && strstr(err.msg, "--db"),
          "%d %s", s, err.msg);
    CHECK(access(missing, F_OK) != 0, "query created the log");
    /* another application's SQLite file */
    const char *other = tu_path("other.db");
    sqlite3 *raw = tu_raw(other);
    tu_exec(raw, "CREATE TABLE runs (x)");
    sqlite3_close(raw);
    s = fl_query_run(other, q, NULL, 0, &r, &err);
    CHECK(s == FL_ERR_FORMAT && strstr(err.msg, "not a flashline audit log"), "%d %s", s, err.msg);
    fl_query_free(q);
}

/* Queries read committed data while a station holds the write lock. */
static void test_query_while_locked(void)
{
    sqlite3 *raw = tu_raw(dbpath);
    tu_exec(raw, "BEGIN IMMEDIATE; UPDATE units SET chip = 'uncommitted'");
    fl_query_result *r = NULL;
    fl_error err = {0};
    fl_status s = run_text("-- description: x\nSELECT count(*) FROM units WHERE chip = "
                           "'uncommitted'", NULL, 0, &r, &err);
    CHECK(s == FL_OK && r && !strcmp(r->cells[0].text, "0"), "%d %s", s, err.msg);
    fl_query_result_free(r);
    tu_exec(raw, "ROLLBACK");
    sqlite3_close(raw);
}

/* A query without an end stops at its time limit; the limit is checked. */
static void test_query_time_limit(void)
{
    fl_query *q = NULL;
    fl_error err = {0};
    CHECK(fl_query_parse("forever", "-- description: x\nWITH RECURSIVE n(x) AS (SELECT 1 UNION "
                         "ALL SELECT x + 1 FROM n) SELECT count(*) FROM n", &q, &err) == FL_OK,
          "%s", err.msg);
    if (!q)
        return;
    fl_query_result *r = NULL;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fl_status s = fl_query_run_timed(dbpath, q, NULL, 0, 0.3, &r, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    CHECK(s == FL_ERR_TIMEOUT && !r && strstr(err.msg, "time limit of 0.3 s") &&
              strstr(err.msg, "--timeout"), "%d %s", s, err.msg);
    /* it ran at least its limit, and stopped (the bound is generous, not a timing claim) */
    CHECK(took >= 0.3 && took < 60, "took %.2f s", took);
    double bad[] = {0, -1, 86401, NAN, INFINITY};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s = fl_query_run_timed(dbpath, q, NULL, 0, bad[i], &r, &err);
        CHECK(s == FL_ERR_USAGE && !r && strstr(err.msg, "out of range"), "limit %g: %d %s",
              bad[i], s, err.msg);
    }
    fl_query_free(q);
    /* an ordinary query is untouched by the limit */
    CHECK(fl_query_parse("one", "-- description: x\nSELECT count(*) FROM runs", &q, &err) == FL_OK,
          "%s", err.msg);
    s = fl_query_run_timed(dbpath, q, NULL, 0, 30, &r, &err);
    CHECK(s == FL_OK && r && r->nrows == 1, "%d %s", s, err.msg);
    fl_query_result_free(r);
    fl_query_free(q);
}

int main(void)
{
    tu_init("flashline-query");
    dbpath = tu_path("audit.db");
    for (size_t i = 0; i < NPLANS; i++)
        record_plan(&plans[i], (int)i);
    RUN(test_builtins_well_formed);
    RUN(test_recent_runs);
    RUN(test_unit_history);
    RUN(test_failures);
    RUN(test_units_per_firmware);
    RUN(test_batch_summary);
    RUN(test_run_steps);
    RUN(test_read_only_enforced);
    RUN(test_query_errors);
    RUN(test_query_while_locked);
    RUN(test_query_time_limit);
    return testlib_finish();
}
