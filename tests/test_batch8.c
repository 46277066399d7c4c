/* Issue 10 point 5: the audit log stays exact with 8 workers.  Eight
 * simulated units (eight different dumps: eight MACs) run one recipe at
 * once (timescale=0) against a log that does not exist yet, so its creation
 * and migration race as well as every write after it.  Then, with exact
 * counts: 8 runs, none left RUNNING; each run has exactly the steps,
 * measurements and artifacts the same recipe records for one unit run
 * alone (a reference run into a log of its own), no row twice, every row
 * tied to its own run, unit and port; batch_summary by=port gives one row
 * per port. */
#include <limits.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "station/batch.h"
#include "storage/auditdb_query.h"
#include "station_testutil.h"
#include "testlib.h"
#include "util/fileio.h"

#define DUMPS SHARED_DIR "/testdata/tuya-dumps/"
#define IMAGE SHARED_DIR "/testdata/obk-images/OpenBK7231N_QIO_1.18.300.bin"
#define N 8

/* BK7231N-compatible dumps with eight different MACs */
static const char *const DUMP_NAMES[N] = {
    "01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin",
    "02-BK7231N-LSPA9-Clone-First-ByDarkMan-topic3887748.bin",
    "03-BK7231N-LSPA9-Clone-Second-ByDarkMan-topic3887748.bin",
    "08-ELEGRP-DPR10-Touch-Dimmer-Switch-TuyaMCU.bin",
    "09-Feconn-FE-MR16-5W-GU5-3-RGBCT-Bulb.bin",
    "12-Kanlux-33643-S-GU10-RGBCCT-Bulb.bin",
    "15-MOES-WK-US2-TC-In-Wall-Outlet.bin",
    "16-Mirabella-Genio-I003632-Plug.bin",
};

static char dir[] = "/tmp/fl-batch8-XXXXXX";

static bool write_recipe(const char *path)
{
    char image[PATH_MAX];
    if (!realpath(IMAGE, image))
        return false;
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    /* no reference backup from the log: whether a worker finds one depends on
     * whether another has PASSed yet, and so would its artifact count */
    fprintf(f,
            "name: batch8\nchip: bk7231n\n"
            "steps:\n  - connect\n  - identify\n  - backup:\n      dir: %s/backups\n"
            "      auto_reference: \"false\"\n"
            "  - flash:\n      image: %s\n  - verify\n",
            dir, image);
    return fclose(f) == 0;
}

/* What one run of the recipe records, alone in a log of its own. */
typedef struct per_run {
    long long steps, measurements, artifacts;
} per_run;

static per_run counts_of(sqlite3 *h, long long run)
{
    return (per_run){
        st_count(h, "select count(*) from steps where run_id = %lld", run),
        st_count(h, "select count(*) from measurements where run_id = %lld", run),
        st_count(h, "select count(*) from artifacts where run_id = %lld", run),
    };
}

static per_run reference_run(const char *recipe)
{
    per_run ref = {-1, -1, -1};
    char db[PATH_MAX], unit[PATH_MAX], port[PATH_MAX + 64];
    snprintf(db, sizeof db, "%s/reference.db", dir);
    snprintf(unit, sizeof unit, "%s/reference.bin", dir);
    CHECK(st_copy(DUMPS "01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin", unit), "reference unit");
    snprintf(port, sizeof port, "sim:bk7231n?flash=%s&timescale=0", unit);
    fl_run_opts o = {.recipe_path = recipe, .db_path = db, .port = port, .station = "ref"};
    fl_run_result r;
    fl_error err;
    CHECK(fl_station_run(&o, &r, &err) == FL_OK && r.outcome == FL_OUTCOME_PASS,
          "reference run: %s %s", err.msg, r.message);
    sqlite3 *h;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK)
        ref = counts_of(h, r.run_id);
    sqlite3_close(h);
    /* the recipe's five steps, and something measured and kept by them */
    CHECK(ref.steps == 5 && ref.measurements > 0 && ref.artifacts > 0,
          "reference: %lld steps, %lld measurements, %lld artifacts", ref.steps,
          ref.measurements, ref.artifacts);
    return ref;
}

/* batch_summary by=port: one row per port, each with its one PASS. */
static void check_summary(const char *db, char ports[N][PATH_MAX + 64])
{
    fl_query *q = NULL;
    fl_query_result *res = NULL;
    fl_error err;
    CHECK(fl_query_builtin("batch_summary", &q, &err) == FL_OK, "%s", err.msg);
    fl_query_arg by = {"by", "port"};
    CHECK(q && fl_query_run(db, q, &by, 1, &res, &err) == FL_OK, "batch_summary: %s", err.msg);
    if (res) {
        CHECK_EQ_UINT(res->nrows, N);
        int port_col = -1, runs_col = -1, pass_col = -1;
        for (int c = 0; c < res->ncols; c++) {
            port_col = strcmp(res->cols[c], "port") ? port_col : c;
            runs_col = strcmp(res->cols[c], "runs") ? runs_col : c;
            pass_col = strcmp(res->cols[c], "pass") ? pass_col : c;
        }
        CHECK(port_col >= 0 && runs_col >= 0 && pass_col >= 0, "columns port, runs, pass");
        int seen[N] = {0};
        for (size_t row = 0; row < res->nrows && port_col >= 0; row++) {
            const fl_qvalue *v = &res->cells[row * (size_t)res->ncols];
            for (int i = 0; i < N; i++)
                if (v[port_col].text && !strcmp(v[port_col].text, ports[i]))
                    seen[i]++;
            CHECK(!strcmp(v[runs_col].text, "1") && !strcmp(v[pass_col].text, "1"),
                  "row %zu: runs %s pass %s", row, v[runs_col].text, v[pass_col].text);
        }
        for (int i = 0; i < N; i++)
            CHECK(seen[i] == 1, "port %d has %d summary rows", i, seen[i]);
    }
    fl_query_result_free(res);
    fl_query_free(q);
}

static void check_run_rows(sqlite3 *h, long long run, const char *port, const char *mac,
                           per_run ref, int i)
{
    per_run got = counts_of(h, run);
    CHECK(got.steps == ref.steps && got.measurements == ref.measurements &&
              got.artifacts == ref.artifacts,
          "port %d: %lld/%lld/%lld steps/measurements/artifacts, wanted %lld/%lld/%lld", i,
          got.steps, got.measurements, got.artifacts, ref.steps, ref.measurements,
          ref.artifacts);
    CHECK_EQ_UINT(st_count(h, "select count(*) from steps where run_id = %lld and outcome = 'PASS'",
                        run), ref.steps);
    CHECK_EQ_UINT(st_count(h, "select count(distinct idx) from steps where run_id = %lld and "
                           "idx between 1 and %lld", run, ref.steps), ref.steps);
    /* its own port and unit */
    sqlite3_stmt *st;
    bool own = false;
    if (sqlite3_prepare_v2(h, "select r.port, u.mac from runs r join units u on u.id = r.unit_id "
                              "where r.id = ?", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, run);
        own = sqlite3_step(st) == SQLITE_ROW &&
              !strcmp((const char *)sqlite3_column_text(st, 0), port) &&
              !strcasecmp((const char *)sqlite3_column_text(st, 1), mac);
    }
    sqlite3_finalize(st);
    CHECK(own, "port %d: the run records its own port and unit (%s)", i, port);
}

static void test_eight_workers_one_new_log(void)
{
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    /* the station home (firmware store, station.yaml) in the temp dir, never $HOME's */
    char home[PATH_MAX];
    snprintf(home, sizeof home, "%s/home", dir);
    setenv("FLASHLINE_HOME", home, 1);
    char recipe[PATH_MAX], db[PATH_MAX], files[N][PATH_MAX], ports[N][PATH_MAX + 64];
    snprintf(recipe, sizeof recipe, "%s/batch8.yaml", dir);
    snprintf(db, sizeof db, "%s/audit.db", dir);
    CHECK(write_recipe(recipe), "recipe written");
    per_run ref = reference_run(recipe);
    const char *port_list[N];
    for (int i = 0; i < N; i++) {
        snprintf(files[i], sizeof files[i], "%s/unit%d.bin", dir, i);
        char from[PATH_MAX];
        snprintf(from, sizeof from, "%s%s", DUMPS, DUMP_NAMES[i]);
        CHECK(st_copy(from, files[i]), "unit %d", i);
        snprintf(ports[i], sizeof ports[i], "sim:bk7231n?flash=%s&timescale=0", files[i]);
        port_list[i] = ports[i];
    }
    CHECK(access(db, F_OK) != 0, "the log does not exist before the batch");
    fl_run_opts run = {.recipe_path = recipe, .db_path = db, .station = "batch8"};
    fl_batch_opts o = {.run = &run, .ports = port_list, .nports = N};
    fl_batch_result r[N];
    fl_error err;
    CHECK(fl_batch_run(&o, r, &err) == FL_OK, "batch: %s", err.msg);
    for (int i = 0; i < N; i++)
        CHECK(r[i].status == FL_OK && r[i].res.outcome == FL_OUTCOME_PASS,
              "port %d: status %d, %s: %s %s", i, r[i].status, fl_outcome_name(r[i].res.outcome),
              r[i].err.msg, r[i].res.message);

    sqlite3 *h;
    CHECK(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK, "open log");
    CHECK_EQ_UINT(st_count(h, "select count(*) from runs"), N);
    CHECK_EQ_UINT(st_count(h, "select count(distinct id) from runs"), N);
    CHECK_EQ_UINT(st_count(h, "select count(*) from runs where outcome = 'PASS'"), N);
    CHECK_EQ_UINT(st_count(h, "select count(*) from runs where outcome = 'RUNNING'"), 0);
    CHECK_EQ_UINT(st_count(h, "select count(*) from steps where outcome = 'RUNNING'"), 0);
    CHECK_EQ_UINT(st_count(h, "select count(*) from stations"), 1);
    CHECK_EQ_UINT(st_count(h, "select count(*) from units"), N);
    CHECK_EQ_UINT(st_count(h, "select count(distinct unit_id) from runs"), N);
    CHECK_EQ_UINT(st_count(h, "select count(distinct port) from runs"), N);
    /* totals: eight times one run's, nothing lost, nothing twice */
    CHECK_EQ_UINT(st_count(h, "select count(*) from steps"), N * ref.steps);
    CHECK_EQ_UINT(st_count(h, "select count(*) from measurements"), N * ref.measurements);
    CHECK_EQ_UINT(st_count(h, "select count(*) from artifacts"), N * ref.artifacts);
    CHECK_EQ_UINT(st_count(h, "select count(*) from (select distinct run_id, step_id, name, value, "
                           "unit from measurements)"), N * ref.measurements);
    CHECK_EQ_UINT(st_count(h, "select count(*) from (select distinct run_id, kind, path from "
                           "artifacts)"), N * ref.artifacts);
    CHECK_EQ_UINT(st_count(h, "select count(distinct path) from artifacts where kind = 'backup'"), N);
    /* no row tied to a step of another run */
    CHECK_EQ_UINT(st_count(h, "select count(*) from measurements m join steps s on s.id = m.step_id "
                           "where s.run_id != m.run_id"), 0);
    CHECK_EQ_UINT(st_count(h, "select count(*) from artifacts a join steps s on s.id = a.step_id "
                           "where s.run_id != a.run_id"), 0);
    for (int i = 0; i < N; i++)
        check_run_rows(h, r[i].res.run_id, ports[i], r[i].res.unit, ref, i);
    sqlite3_close(h);
    check_summary(db, ports);

    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "cleanup");
}

int main(void)
{
    RUN(test_eight_workers_one_new_log);
    return testlib_finish();
}
