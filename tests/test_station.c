/* The station core is ready for many ports: two workers, each with its own
 * Lua state and simulator, run a recipe at the same time against one audit
 * log.  Both must PASS, both runs must be recorded with their own steps and
 * units, and every event must reach the sink of the worker it belongs to. */
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <unistd.h>

#include "station/recipe.h"
#include "station/run.h"
#include "station_testutil.h"
#include "testlib.h"
#include "util/fileio.h"

#define DUMP_A SHARED_DIR "/testdata/tuya-dumps/01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin"
#define DUMP_B SHARED_DIR "/testdata/tuya-dumps/15-MOES-WK-US2-TC-In-Wall-Outlet.bin"

typedef struct worker {
    char port[512];
    const char *db;
    const char *sets[1];
    char firmware[PATH_MAX + 16]; /* demo.yaml names its image from the store: a file instead */
    fl_run_result res;
    fl_status st;
    fl_error err;
    int foreign_events; /* lines naming the other worker's port: must stay 0 */
    int events;
} worker;

/* A line that names a simulator port must name this worker's own. */
static void on_log(void *ctx, fl_log_level level, const char *msg)
{
    worker *w = ctx;
    w->events++;
    if (strstr(msg, "sim:bk7231n?") && !strstr(msg, w->port))
        w->foreign_events++;
    (void)level;
}

static void on_progress(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
    worker *w = ctx;
    w->events++;
    (void)phase, (void)done, (void)total;
}

static void *run_worker(void *arg)
{
    worker *w = arg;
    fl_events ev = {.log = on_log, .progress = on_progress, .ctx = w};
    fl_run_opts o = {.recipe_path = "recipes/demo.yaml", .port = w->port, .db_path = w->db,
                     .station = "parallel", .sets = w->sets, .nsets = 1, .ev = &ev};
    w->st = fl_station_run(&o, &w->res, &w->err);
    return NULL;
}

static void test_two_ports_in_parallel(void)
{
    char dir[] = "/tmp/fl-station-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char db[300], fa[300], fb[300];
    snprintf(db, sizeof db, "%s/audit.db", dir);
    snprintf(fa, sizeof fa, "%s/a.bin", dir);
    snprintf(fb, sizeof fb, "%s/b.bin", dir);
    st_copy(DUMP_A, fa);
    st_copy(DUMP_B, fb);
    /* both workers share the station home: its backups/ holds their dumps */
    char home[300];
    snprintf(home, sizeof home, "%s/home", dir);
    setenv("FLASHLINE_HOME", home, 1);
    worker w[2] = {0};
    const char *files[2] = {fa, fb};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        snprintf(w[i].port, sizeof w[i].port, "sim:bk7231n?flash=%s&timescale=0&quiet=1", files[i]);
        char *img = realpath(SHARED_DIR "/testdata/obk-images/OpenBK7231N_QIO_1.18.300.bin", NULL);
        snprintf(w[i].firmware, sizeof w[i].firmware, "firmware=%s", img ? img : "missing");
        free(img);
        w[i].sets[0] = w[i].firmware;
        w[i].db = db;
        pthread_create(&th[i], NULL, run_worker, &w[i]);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    fl_recipe *r;
    fl_error e;
    CHECK(fl_recipe_load("recipes/demo.yaml", &r, &e) == FL_OK, "load demo recipe: %s", e.msg);
    size_t nsteps = r ? r->nsteps : 0;
    fl_recipe_free(r);
    for (int i = 0; i < 2; i++) {
        CHECK(w[i].st == FL_OK, "worker %d: %s", i, w[i].err.msg);
        CHECK(w[i].res.outcome == FL_OUTCOME_PASS, "worker %d outcome %s: %s", i,
              fl_outcome_name(w[i].res.outcome), w[i].res.message);
        CHECK(w[i].res.steps_run == nsteps, "worker %d ran %zu of %zu steps", i, w[i].res.steps_run,
              nsteps);
        CHECK(w[i].events > 10 && w[i].foreign_events == 0, "worker %d events %d", i, w[i].events);
    }
    CHECK(w[0].res.run_id != w[1].res.run_id, "two runs");
    CHECK(strcmp(w[0].res.unit, w[1].res.unit) != 0, "two different units: %s / %s",
          w[0].res.unit, w[1].res.unit);
    sqlite3 *h;
    CHECK(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK, "open log");
    CHECK_EQ_UINT(st_count(h, "select count(*) from runs where outcome = 'PASS'"), 2);
    CHECK_EQ_UINT(st_count(h, "select count(*) from steps where outcome = 'PASS'"), 2 * nsteps);
    CHECK_EQ_UINT(st_count(h, "select count(distinct unit_id) from runs"), 2);
    CHECK_EQ_UINT(st_count(h, "select count(*) from artifacts where kind = 'backup'"), 2);
    /* in the home's backups/, by absolute path, both Tuya dumps: vendor firmware */
    char sql[600];
    snprintf(sql, sizeof sql, "select count(*) from artifacts where kind = 'backup' and path "
             "like '%s/backups/%%.bin' and content = 'tuya' and vendor = 1", home);
    CHECK_EQ_UINT(st_count(h, "%s", sql), 2);
    sqlite3_close(h);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "cleanup");
}

int main(void)
{
    RUN(test_two_ports_in_parallel);
    return testlib_finish();
}
