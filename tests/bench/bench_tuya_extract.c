/* bench_tuya_extract — time of `flashline tuya extract` work on the real
 * 2 MiB dumps: read the file, identify it, find and decrypt the Tuya store,
 * rebuild the values, (for dumps without a user_param_key) decrypt the app
 * and search it, map the pins and produce the JSON.  Prints the median and
 * the worst dump; exits 1 if any dump takes 20 ms or more (issue 3, point 7).
 *
 * usage: bench_tuya_extract [--runs N] [DUMP...]   (default: every 2 MiB dump
 * in ../shared/testdata/tuya-dumps, 30 runs each) */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "formats/tuya_extract.h"
#include "util/fileio.h"

#define DUMPS "../shared/testdata/tuya-dumps"
#define LIMIT_MS 20.0

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One extraction as the CLI does it; returns milliseconds or -1. */
static double once(const char *path)
{
    double t0 = now_ms();
    uint8_t *d;
    size_t len;
    fl_error e;
    if (fl_read_file(path, &d, &len, 16u << 20, &e) != FL_OK) {
        fprintf(stderr, "bench_tuya_extract: %s\n", e.msg);
        return -1;
    }
    fl_tuya_config c;
    fl_status st = fl_tuya_extract(d, len, path, NULL, &c, &e);
    free(d);
    if (st != FL_OK) {
        fprintf(stderr, "bench_tuya_extract: %s: %s\n", path, e.msg);
        return -1;
    }
    json_t *j = fl_tuya_config_json(&c, FL_TUYA_JSON_OBK);
    char *s = json_dumps(j, JSON_COMPACT);
    free(s);
    json_decref(j);
    fl_tuya_config_free(&c);
    return now_ms() - t0;
}

int main(int argc, char **argv)
{
    int runs = 30;
    char *paths[64];
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (n < 64)
            paths[n++] = argv[i];
    }
    if (n == 0) {
        DIR *d = opendir(DUMPS);
        if (!d) {
            fprintf(stderr, "bench_tuya_extract: cannot open %s (run from the project root)\n", DUMPS);
            return 2;
        }
        struct dirent *de;
        while ((de = readdir(d)) && n < 64) {
            if (de->d_name[0] == '.')
                continue;
            char p[1024];
            snprintf(p, sizeof p, "%s/%s", DUMPS, de->d_name);
            FILE *f = fopen(p, "rb");
            if (!f)
                continue;
            fseek(f, 0, SEEK_END);
            long sz = ftell(f);
            fclose(f);
            if (sz == 2 * 1024 * 1024)
                paths[n++] = strdup(p);
        }
        closedir(d);
    }
    if (runs < 1)
        runs = 1;
    double *all = malloc(sizeof(double) * (size_t)runs * (size_t)n), worst = 0;
    const char *worst_path = "";
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        once(paths[i]); /* warm the page cache and the allocator */
        double *mine = malloc(sizeof(double) * (size_t)runs);
        for (int r = 0; r < runs; r++) {
            double t = once(paths[i]);
            if (t < 0)
                return 2;
            mine[r] = all[k++] = t;
        }
        qsort(mine, (size_t)runs, sizeof *mine, cmp_double);
        double med = mine[runs / 2];
        if (med > worst) {
            worst = med;
            worst_path = paths[i];
        }
        free(mine);
    }
    qsort(all, k, sizeof *all, cmp_double);
    const char *base = strrchr(worst_path, '/');
    printf("tuya extract, 2 MiB dump (read + identify + decrypt + rebuild + pins + JSON), %d dumps x %d runs:\n"
           "  median %.2f ms, p95 %.2f ms, slowest dump %.2f ms median (%s); limit %.0f ms: %s\n",
           n, runs, all[k / 2], all[k * 95 / 100], worst, base ? base + 1 : worst_path, LIMIT_MS,
           worst < LIMIT_MS ? "PASS" : "FAIL");
    free(all);
    return worst < LIMIT_MS ? 0 : 1;
}
