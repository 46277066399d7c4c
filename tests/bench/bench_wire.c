/* bench_wire — wire-time efficiency of flashline against the simulator at
 * timescale 1 (real wire timing).  For each baud rate: a full 2 MiB read, a
 * 1.2 MiB image write onto a unit holding a real Tuya dump, and the same
 * write again (every sector identical).  Prints ideal ÷ actual, where
 * ideal = payload bytes × 10 ÷ baud (+ the simulator's modelled erase time).
 *
 * usage: bench_wire [--quick] [BAUD...]   (default 115200 921600) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drivers/beken_uart/session.h"
#include "link/link.h"
#include "sim/beken_sim.h"
#include "util/clock.h"
#include "util/fileio.h"

#define SHARED "../shared/testdata"

static void die(const char *what, const fl_error *e)
{
    fprintf(stderr, "bench_wire: %s: %s\n", what, e->msg);
    exit(1);
}

typedef struct run {
    fl_sim *sim;
    fl_link *link;
    fl_beken *s;
} run;

static void start(run *r, const char *chip, const char *flash_path, uint32_t baud)
{
    fl_error e = {0};
    fl_sim_options o;
    fl_sim_options_init(&o);
    o.chip = chip;
    o.flash_path = flash_path;
    o.timescale = 1.0;
    o.quiet_app = true;
    if (fl_sim_create(&o, &r->sim, &e) || fl_sim_start(r->sim, &e))
        die("starting the simulator", &e);
    if (fl_link_open(fl_sim_url(r->sim), &r->link, &e))
        die("connecting", &e);
    if (fl_beken_open(r->link, fl_chip_find(chip), NULL, &r->s, &e))
        die("session", &e);
    fl_connect_opts co;
    fl_connect_opts_init(&co);
    co.baud = baud;
    if (fl_beken_connect(r->s, &co, &e))
        die("connect", &e);
    if (r->s->baud != baud)
        fprintf(stderr, "bench_wire: warning: running at %u, not %u\n", r->s->baud, baud);
    r->s->allow_bootloader = true;
}

static void stop(run *r)
{
    fl_beken_close(r->s);
    fl_link_close(r->link);
    fl_sim_destroy(r->sim);
}

static double erase_s(run *r)
{
    fl_sim_stats st;
    fl_sim_get_stats(r->sim, &st);
    return st.erase_busy_s;
}

static void copy_file(const char *from, const char *to)
{
    uint8_t *d;
    size_t n;
    fl_error e;
    if (fl_read_file(from, &d, &n, 64u << 20, &e) || fl_write_file_durable(to, d, n, &e))
        die("copying test data", &e);
    free(d);
}

int main(int argc, char **argv)
{
    uint32_t bauds[8];
    int nb = 0;
    bool quick = false;
    for (int i = 1; i < argc && nb < 8; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = true;
        else
            bauds[nb++] = (uint32_t)strtoul(argv[i], NULL, 0);
    }
    if (nb == 0)
        bauds[nb++] = 115200, bauds[nb++] = 921600;
    const char *dump = SHARED "/tuya-dumps/15-MOES-WK-US2-TC-In-Wall-Outlet.bin";
    const char *image = SHARED "/obk-images/OpenBK7238_QIO_1.18.300.bin";
    char unit[] = "/tmp/fl-bench-XXXXXX";
    int fd = mkstemp(unit);
    if (fd < 0)
        return 1;
    close(fd);
    uint8_t *img;
    size_t img_len;
    fl_error e;
    if (fl_read_file(image, &img, &img_len, 8u << 20, &e))
        die("reading the image", &e);
    uint32_t read_len = quick ? 0x40000 : 0x200000;
    uint32_t write_len = quick ? 0x40000 : (uint32_t)img_len;
    uint8_t *buf = malloc(read_len);

    printf("%-8s %-22s %10s %10s %8s\n", "baud", "operation", "ideal s", "actual s", "ratio");
    for (int b = 0; b < nb; b++) {
        uint32_t baud = bauds[b];
        copy_file(dump, unit);
        run r;
        start(&r, "bk7238", unit, baud);

        double t0 = fl_now();
        if (fl_beken_read(r.s, 0, read_len, buf, &e))
            die("read", &e);
        double actual = fl_now() - t0, ideal = read_len * 10.0 / baud;
        printf("%-8u %-22s %10.2f %10.2f %8.3f\n", baud, "read 2 MiB", ideal, actual, ideal / actual);

        double er0 = erase_s(&r);
        unsigned w0 = r.s->blocks_written, k0 = r.s->blocks_skipped;
        t0 = fl_now();
        if (fl_beken_write(r.s, 0, img, write_len, &e))
            die("write", &e);
        double full = fl_now() - t0;
        /* Payload = the sectors that had to go over the wire: all-0xFF sectors
         * of the image and sectors the unit already held are not sent. */
        unsigned written = r.s->blocks_written - w0, skipped = r.s->blocks_skipped - k0;
        double erase = erase_s(&r) - er0;
        ideal = written * 4096.0 * 10.0 / baud + erase;
        printf("%-8u %-22s %10.2f %10.2f %8.3f   (%u sectors sent, %u blank or already equal; "
               "modelled erase %.2f s)\n",
               baud, "write 1.2 MiB", ideal, full, ideal / full, written, skipped, erase);
        double naive = write_len * 10.0 / baud + erase;
        printf("%-8u %-22s %10.2f %10.2f %8.3f   (ideal counting every image byte)\n", baud,
               "write 1.2 MiB (image)", naive, full, naive / full);

        t0 = fl_now();
        if (fl_beken_write(r.s, 0, img, write_len, &e))
            die("rewrite", &e);
        double again = fl_now() - t0;
        printf("%-8u %-22s %10s %10.2f %7.1fx faster than the full write\n", baud,
               "identical re-write", "-", again, full / again);
        stop(&r);
    }
    unlink(unit);
    free(buf);
    free(img);
    return 0;
}
