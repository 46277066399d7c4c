/* bench_ports — N units at once, at real wire timing (issue 10 points 2 and 6).
 *
 * A recipe that connects at 921600, identifies the chip, flashes the
 * OpenBeken BK7231N image and verifies it, run through fl_batch_run (what
 * `flashline run --port A --port B ...` does) on 1, 4 and 8 simulated
 * BK7231N units at timescale 1: every byte takes its wire time, erases and
 * CRCs their modelled time.  Printed: the total wall-clock time of each
 * batch and total(N) / total(1); the target is total(8) <= 1.25 x total(1)
 * on a 2-core machine (the workers wait on their links, they do not compute).
 *
 * Then the mixed batch (tests/test_batch.c's four units): a dead link, a
 * brown-out mid-write, a wrong chip and a good unit; the good unit's time
 * beside the others against alone, target within 10 %.
 *
 * usage: bench_ports [--quick]   (--quick: 1 and 4 ports only) */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "station/batch.h"
#include "util/clock.h"
#include "util/fileio.h"

#define SHARED "../shared"
#define DUMP SHARED "/testdata/tuya-dumps/01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin"
#define IMAGE SHARED "/testdata/obk-images/OpenBK7231N_QIO_1.18.300.bin"
#define MAX_PORTS 8

static char dir[] = "/tmp/fl-bench-ports-XXXXXX";

static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench_ports: %s: %s\n", what, why);
    exit(1);
}

static void fresh_unit(const char *path)
{
    uint8_t *d;
    size_t n;
    fl_error e;
    if (fl_read_file(DUMP, &d, &n, 8u << 20, &e) || fl_write_file_durable(path, d, n, &e))
        die("unit file", e.msg);
    free(d);
}

static void write_recipe(const char *path, const char *baud)
{
    char image[4096];
    if (!realpath(IMAGE, image))
        die("image", "not found (run from the source tree, ../shared beside it)");
    FILE *f = fopen(path, "w");
    if (!f)
        die("recipe", path);
    fprintf(f,
            "name: bench-ports\nchip: bk7231n\nlink:\n  baud: %s\n  reset: auto\n"
            "steps:\n  - connect\n  - identify\n  - flash:\n      image: %s\n  - verify\n",
            baud, image);
    fclose(f);
}

/* Run the recipe on n ports whose URLs are in ports; results in r. */
static double run_batch(const char *recipe, const char *db, const char *const *ports, size_t n,
                        fl_batch_result *r)
{
    fl_run_opts run = {.recipe_path = recipe, .db_path = db, .station = "bench"};
    fl_batch_opts o = {.run = &run, .ports = ports, .nports = n};
    fl_error err;
    double t0 = fl_now();
    if (fl_batch_run(&o, r, &err))
        die("batch", err.msg);
    return fl_now() - t0;
}

static double clean_batch(const char *recipe, const char *db, size_t n)
{
    static char urls[MAX_PORTS][600];
    const char *ports[MAX_PORTS] = {0};
    fl_batch_result r[MAX_PORTS];
    for (size_t i = 0; i < n; i++) {
        char unit[400];
        snprintf(unit, sizeof unit, "%s/u%zu.bin", dir, i);
        fresh_unit(unit);
        snprintf(urls[i], sizeof urls[i], "sim:bk7231n?flash=%s&timescale=1", unit);
        ports[i] = urls[i];
    }
    double total = run_batch(recipe, db, ports, n, r);
    for (size_t i = 0; i < n; i++)
        if (r[i].status || r[i].res.outcome != FL_OUTCOME_PASS)
            die("a clean unit did not pass", r[i].status ? r[i].err.msg : r[i].res.message);
    return total;
}

/* The good unit's time alone, then beside a dead link, a brown-out and a
 * wrong chip (each set up as tests/test_batch.c does). */
static void mixed(const char *recipe, const char *db)
{
    static char urls[4][600];
    const char *extra[4] = {"&disconnect=4000", "&brownout=300000", "", ""};
    const char *chip[4] = {"bk7231n", "bk7231n", "bk7231t", "bk7231n"};
    const char *ports[4] = {0};
    fl_batch_result r[4];
    for (int i = 0; i < 4; i++) {
        char unit[400];
        snprintf(unit, sizeof unit, "%s/m%d.bin", dir, i);
        if (i != 2)
            fresh_unit(unit);
        else
            unlink(unit);
        snprintf(urls[i], sizeof urls[i], "sim:%s?flash=%s&timescale=1%s", chip[i], unit,
                 extra[i]);
        ports[i] = urls[i];
    }
    run_batch(recipe, db, ports + 3, 1, r + 3);
    double alone = r[3].seconds;
    char unit3[400];
    snprintf(unit3, sizeof unit3, "%s/m3.bin", dir);
    fresh_unit(unit3);
    run_batch(recipe, db, ports, 4, r);
    const char *want[4] = {"ERROR", "ERROR", "ERROR", "PASS"};
    for (int i = 0; i < 4; i++)
    {
        static const char *const name[4] = {"dead link", "brown-out", "wrong chip", "good"};
        printf("   %-10s %-6s %5.1f s  %.70s\n", name[i],
               r[i].status ? "ERROR" : fl_outcome_name(r[i].res.outcome), r[i].seconds,
               r[i].status ? r[i].err.msg : r[i].res.message);
    }
    double ratio = r[3].seconds / alone;
    printf("mixed batch      good unit %.1f s beside the others, %.1f s alone: %.2fx  target <= "
           "1.10: %s\n",
           r[3].seconds, alone, ratio, ratio <= 1.10 ? "met" : "MISSED");
    for (int i = 0; i < 4; i++)
        if (strcmp(r[i].status ? "ERROR" : fl_outcome_name(r[i].res.outcome), want[i]))
            printf("   (unit %d ended %s, expected %s)\n", i,
                   r[i].status ? "ERROR" : fl_outcome_name(r[i].res.outcome), want[i]);
}

int main(int argc, char **argv)
{
    bool quick = argc > 1 && !strcmp(argv[1], "--quick");
    if (!mkdtemp(dir))
        die("mkdtemp", dir);
    char recipe[300], db[300];
    snprintf(recipe, sizeof recipe, "%s/r.yaml", dir);
    snprintf(db, sizeof db, "%s/audit.db", dir);
    write_recipe(recipe, "921600");
    printf("== N units at once: connect at 921600, identify, flash OpenBeken (1.2 MB), verify; "
           "simulated BK7231N at timescale 1 ==\n");
    double one = clean_batch(recipe, db, 1);
    printf("ports 1          total %6.1f s\n", one);
    size_t sizes[] = {4, 8};
    for (size_t k = 0; k < (quick ? 1u : 2u); k++) {
        double t = clean_batch(recipe, db, sizes[k]);
        printf("ports %zu          total %6.1f s  %.2fx total(1)%s\n", sizes[k], t, t / one,
               sizes[k] == 8 ? (t / one <= 1.25 ? "  target <= 1.25: met" : "  target <= 1.25: MISSED")
                             : "");
    }
    mixed(recipe, db);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 1;
    return 0;
}
