/* fl_batch_run: one recipe on several simulated ports at once.  A mixed batch
 * of four units: one whose link dies mid-run (ERROR), one that browns out in
 * the middle of the flash write (ERROR, reported as a reset), one that is the
 * wrong chip for the recipe (ERROR: the station's fault, not the unit's) and
 * one that passes.  Outcomes and audit-log rows are checked exactly, and
 * every event reaches the sink of its own port.  (How long the passing unit
 * takes beside the others, against alone, is measured by `make bench`,
 * bench_ports: a timing figure, not a test.) */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "station/batch.h"
#include "station_testutil.h"
#include "testlib.h"
#include "util/fileio.h"

#define DUMP SHARED_DIR "/testdata/tuya-dumps/01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin"
#define IMAGE SHARED_DIR "/testdata/obk-images/OpenBK7231N_QIO_1.18.300.bin"
#define NPORTS 4

typedef struct sink {
    fl_events ev;
    const char *port;
    int events;
    int foreign; /* lines naming another port's simulator file: must stay 0 */
    int done_calls;
} sink;

typedef struct batch_ctx {
    sink s[NPORTS];
    const char *files[NPORTS];
    pthread_mutex_t lock;
} batch_ctx;

static void on_log(void *ctx, fl_log_level level, const char *msg)
{
    sink *s = ctx;
    s->events++;
    if (strstr(msg, "/unit") && !strstr(msg, s->port))
        s->foreign++;
    (void)level;
}

static void on_progress(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
    sink *s = ctx;
    s->events++;
    (void)phase, (void)done, (void)total;
}

static const fl_events *events_for(void *ctx, size_t i)
{
    batch_ctx *b = ctx;
    return &b->s[i].ev;
}

static void on_done(void *ctx, size_t i, const fl_batch_result *r)
{
    batch_ctx *b = ctx;
    pthread_mutex_lock(&b->lock);
    b->s[i].done_calls++;
    (void)r;
    pthread_mutex_unlock(&b->lock);
}

static bool write_recipe(const char *path, const char *backups)
{
    char image[4096];
    if (!realpath(IMAGE, image))
        return false;
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    fprintf(f,
            "name: batch-test\nchip: bk7231n\n"
            "steps:\n  - connect\n  - identify\n  - backup:\n      dir: %s\n"
            "  - flash:\n      image: %s\n  - verify\n",
            backups, image);
    return fclose(f) == 0;
}

static void test_mixed_batch(void)
{
    char dir[] = "/tmp/fl-batch-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char db[300], recipe[300], backups[300], files[NPORTS][300], ports[NPORTS][600];
    snprintf(db, sizeof db, "%s/audit.db", dir);
    char home[300]; /* never the real station home */
    snprintf(home, sizeof home, "%s/home", dir);
    setenv("FLASHLINE_HOME", home, 1);
    snprintf(recipe, sizeof recipe, "%s/batch.yaml", dir);
    snprintf(backups, sizeof backups, "%s/backups", dir);
    CHECK(write_recipe(recipe, backups), "recipe written");
    /* 0: the link dies after the connect (ERROR); 1: a brown-out once ~300 KB of
     * the write have reached the chip (ERROR, a reset); 2: a BK7231T for a
     * BK7231N recipe (ERROR); 3: a good unit (PASS) */
    const char *extra[NPORTS] = {"&disconnect=4000", "&brownout=300000", "", ""};
    const char *chip[NPORTS] = {"bk7231n", "bk7231n", "bk7231t", "bk7231n"};
    for (int i = 0; i < NPORTS; i++) {
        snprintf(files[i], sizeof files[i], "%s/unit%d.bin", dir, i);
        if (i != 2)
            st_copy(DUMP, files[i]);
        snprintf(ports[i], sizeof ports[i], "sim:%s?flash=%s&timescale=0%s", chip[i],
                 files[i], extra[i]);
    }
    batch_ctx b = {.lock = PTHREAD_MUTEX_INITIALIZER};
    const char *port_list[NPORTS];
    for (int i = 0; i < NPORTS; i++) {
        b.s[i] = (sink){.ev = {.log = on_log, .progress = on_progress, .ctx = &b.s[i]},
                        .port = files[i]};
        port_list[i] = ports[i];
    }
    fl_run_opts run = {.recipe_path = recipe, .db_path = db, .station = "batch-test"};
    fl_batch_opts o = {.run = &run, .ports = port_list, .nports = NPORTS,
                       .events_for = events_for, .on_done = on_done, .ctx = &b};
    fl_batch_result r[NPORTS];
    fl_error err;
    CHECK(fl_batch_run(&o, r, &err) == FL_OK, "batch: %s", err.msg);
    for (int i = 0; i < NPORTS; i++) {
        CHECK(r[i].status == FL_OK, "port %d recorded: %s", i, r[i].err.msg);
        CHECK_EQ_UINT(b.s[i].done_calls, 1);
        CHECK(b.s[i].events > 0 && b.s[i].foreign == 0, "port %d: %d events, %d foreign", i,
              b.s[i].events, b.s[i].foreign);
    }
    CHECK(r[0].res.outcome == FL_OUTCOME_ERROR, "dead link: %s %s",
          fl_outcome_name(r[0].res.outcome), r[0].res.message);
    CHECK(r[1].res.outcome == FL_OUTCOME_ERROR && !strcmp(r[1].res.failed_step, "flash") &&
              strcasestr(r[1].res.message, "reset"),
          "brown-out: %s in '%s': %s", fl_outcome_name(r[1].res.outcome), r[1].res.failed_step,
          r[1].res.message);
    CHECK(r[2].res.outcome == FL_OUTCOME_ERROR && strcasestr(r[2].res.message, "bk7231n") &&
              strcasestr(r[2].res.message, "bk7231t"),
          "wrong chip: %s: %s", fl_outcome_name(r[2].res.outcome), r[2].res.message);
    CHECK(r[3].res.outcome == FL_OUTCOME_PASS, "good unit: %s %s",
          fl_outcome_name(r[3].res.outcome), r[3].res.message);

    sqlite3 *h;
    CHECK(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK, "open log");
    CHECK_EQ_UINT(st_count(h, "select count(*) from runs"), NPORTS);
    CHECK_EQ_UINT(st_count(h, "select count(*) from runs where outcome = 'PASS'"), 1);
    CHECK_EQ_UINT(st_count(h, "select count(*) from runs where outcome = 'ERROR'"), 3);
    CHECK_EQ_UINT(st_count(h, "select count(*) from runs where outcome = 'RUNNING'"), 0);
    CHECK_EQ_UINT(st_count(h, "select count(*) from steps where outcome = 'RUNNING'"), 0);
    /* the passing unit: all five steps; the brown-out unit stopped in its flash step */
    char sql[300];
    snprintf(sql, sizeof sql, "select count(*) from steps where run_id = %lld and outcome = 'PASS'",
             (long long)r[3].res.run_id);
    CHECK_EQ_UINT(st_count(h, "%s", sql), 5);
    snprintf(sql, sizeof sql,
             "select count(*) from steps where run_id = %lld and name = 'flash' and outcome = "
             "'ERROR'",
             (long long)r[1].res.run_id);
    CHECK_EQ_UINT(st_count(h, "%s", sql), 1);
    /* the good and the brown-out unit share a MAC (one dump) and back up at the same
     * moment: two backups, two files, neither over the other */
    CHECK_EQ_UINT(st_count(h, "select count(*) from artifacts where kind = 'backup'"), 2);
    CHECK_EQ_UINT(st_count(h, "select count(distinct path) from artifacts where kind = 'backup'"), 2);
    /* every run carries its own port */
    for (int i = 0; i < NPORTS; i++) {
        snprintf(sql, sizeof sql, "select count(*) from runs where id = %lld and port = '%s'",
                 (long long)r[i].res.run_id, ports[i]);
        CHECK(st_count(h, "%s", sql) == 1, "run of port %d records its port", i);
    }
    sqlite3_close(h);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "cleanup");
}

/* A bad batch is refused before any worker starts. */
static void test_bad_batch(void)
{
    fl_run_opts run = {.recipe_path = "recipes/demo.yaml", .db_path = "/nonexistent/x.db"};
    const char *same[2] = {"sim:bk7231n", "sim:bk7231n"};
    fl_batch_opts o = {.run = &run, .ports = same, .nports = 2};
    fl_batch_result r[2];
    fl_error err;
    CHECK(fl_batch_run(&o, r, &err) == FL_ERR_USAGE && strstr(err.msg, "given twice"), "%s",
          err.msg);
    o.nports = 0;
    CHECK(fl_batch_run(&o, r, &err) == FL_ERR_USAGE, "no ports: %s", err.msg);
}

int main(void)
{
    RUN(test_bad_batch);
    RUN(test_mixed_batch);
    return testlib_finish();
}
