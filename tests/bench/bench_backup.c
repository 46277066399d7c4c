/* bench_backup — the backup of a Tuya dump at real wire timing (simulator,
 * timescale 1), issue 11 points 1, 2 and 5: the plain read (every byte over
 * the wire, 64 KiB proven per CRC) against the proven read (erased sectors
 * proven by the chip's CRC) and the proven read with a reference (the
 * previous unit of the same product: only the sectors that differ move).
 * Also the cost model's worst case: a flash with no erased sector, where the
 * proven read must not be more than a few % slower than the plain one.
 *
 * Prints seconds, the ratio to the plain read, and ideal ÷ actual on the
 * bytes actually moved: "wire" ideal = sectors moved × 4096 × 10 ÷ baud;
 * "+crc" adds the chip's modelled CRC time (the simulator's crc_busy_s: a
 * proof the chip has to compute, as bench_wire adds the modelled erase time).
 *
 * usage: bench_backup [--quick] [BAUD]   (default 921600; --quick: 512 KiB) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flash/flash.h"
#include "sim/beken_sim.h"
#include "util/clock.h"
#include "util/fileio.h"

#define SHARED "../shared/testdata"
#define SECTOR 4096u

static void die(const char *what, const fl_error *e)
{
    fprintf(stderr, "bench_backup: %s: %s\n", what, e->msg);
    exit(1);
}

typedef struct unit {
    fl_sim *sim;
    fl_flash *f;
} unit;

static void start(unit *u, const char *flash_path, uint32_t baud)
{
    fl_error e = {0};
    fl_sim_options o;
    fl_sim_options_init(&o);
    o.chip = "bk7231n";
    o.flash_path = flash_path;
    o.timescale = 1.0;
    o.quiet_app = true;
    if (fl_sim_create(&o, &u->sim, &e) || fl_sim_start(u->sim, &e))
        die("starting the simulator", &e);
    fl_flash_opts fo;
    fl_flash_opts_init(&fo);
    fo.baud = baud;
    if (fl_flash_open(fl_sim_url(u->sim), "bk7231n", &fo, NULL, &u->f, &e))
        die("connecting", &e);
    if (fl_flash_identity(u->f)->baud != baud)
        fprintf(stderr, "bench_backup: warning: running at %u, not %u\n",
                fl_flash_identity(u->f)->baud, baud);
}

static void stop(unit *u)
{
    fl_flash_close(u->f);
    fl_sim_destroy(u->sim);
}

static void save(const char *path, const uint8_t *d, size_t n)
{
    fl_error e;
    if (fl_write_file_durable(path, d, n, &e))
        die("writing test data", &e);
}

/* One read of [0, len) on a fresh unit holding `flash`: seconds, stats. */
static double timed_read(const char *path, const uint8_t *flash, size_t flash_len, uint32_t len,
                         uint32_t baud, bool proven, const uint8_t *ref, fl_read_stats *rs,
                         double *crc_busy)
{
    save(path, flash, flash_len);
    unit u;
    start(&u, path, baud);
    uint8_t *buf = malloc(len);
    fl_error e = {0};
    fl_sim_stats s0, s1;
    fl_sim_get_stats(u.sim, &s0);
    double t0 = fl_now();
    fl_status st = proven ? fl_flash_read_proven(u.f, 0, len, buf, ref, ref ? flash_len : 0, rs, &e)
                          : fl_flash_read(u.f, 0, len, buf, &e);
    double secs = fl_now() - t0;
    if (st)
        die("read", &e);
    fl_sim_get_stats(u.sim, &s1);
    *crc_busy = s1.crc_busy_s - s0.crc_busy_s;
    if (memcmp(buf, flash, len)) {
        fprintf(stderr, "bench_backup: the read is not byte-exact\n");
        exit(1);
    }
    if (!proven) {
        memset(rs, 0, sizeof *rs);
        rs->sectors = rs->sectors_read = len / SECTOR;
    }
    free(buf);
    stop(&u);
    return secs;
}

/* The station cycle on a fresh unit holding `flash`: connect, backup (naive or
 * proven against ref), write the OpenBeken image, verify.  Seconds. */
static double timed_cycle(const char *path, const uint8_t *flash, size_t flash_len, uint32_t baud,
                          bool proven, const uint8_t *ref, const uint8_t *img, size_t img_len,
                          fl_read_stats *rs)
{
    save(path, flash, flash_len);
    double t0 = fl_now();
    unit u;
    start(&u, path, baud);
    double t_conn = fl_now();
    uint8_t *buf = malloc(flash_len);
    fl_error e = {0};
    fl_status st = proven ? fl_flash_read_proven(u.f, 0, (uint32_t)flash_len, buf, ref,
                                                 ref ? flash_len : 0, rs, &e)
                          : fl_flash_read(u.f, 0, (uint32_t)flash_len, buf, &e);
    double t_backup = fl_now();
    fl_sim_stats sb, sw, sv;
    fl_sim_get_stats(u.sim, &sb);
    fl_image_plan_opts po = {.offset = -1};
    fl_placement pl;
    if (!st)
        st = fl_flash_plan_image(fl_sim_url(u.sim), fl_chip_find("bk7231n"),
                                 "OpenBK7231N_QIO_1.18.300.bin", img, img_len,
                                 (uint32_t)flash_len, &po, &pl, &e);
    if (!st)
        st = fl_flash_write(u.f, pl.flash_offset, img + pl.file_skip, pl.length, &e);
    double t_write = fl_now();
    fl_sim_get_stats(u.sim, &sw);
    if (!st)
        st = fl_flash_verify(u.f, pl.flash_offset, img + pl.file_skip, pl.length, NULL, &e);
    if (st)
        die("cycle", &e);
    double secs = fl_now() - t0;
    fl_sim_get_stats(u.sim, &sv);
    printf("    phases: connect %.2f s, backup %.2f s (chip CRC %.2f s), write %.2f s (wire %.2f s, "
           "erase %.2f s, program %.2f s, CRC %.2f s), verify %.2f s (CRC %.2f s)\n",
           t_conn - t0, t_backup - t_conn, sb.crc_busy_s, t_write - t_backup,
           (double)(sw.bytes_from_host - sb.bytes_from_host) * 10.0 / baud,
           sw.erase_busy_s - sb.erase_busy_s, sw.program_busy_s - sb.program_busy_s,
           sw.crc_busy_s - sb.crc_busy_s, fl_now() - t_write, sv.crc_busy_s - sw.crc_busy_s);
    /* the write's ideal on the bytes it moved: their wire time plus the erase the chip must
     * do (as issue 13 defines a write's ideal), against what it took */
    double write_ideal = (double)(sw.bytes_from_host - sb.bytes_from_host) * 10.0 / baud +
                         (sw.erase_busy_s - sb.erase_busy_s);
    printf("    write ideal (wire + modelled erase) / actual: %.3f\n",
           write_ideal / (t_write - t_backup));
    free(buf);
    stop(&u);
    return secs;
}

static void row(const char *what, double secs, double plain, const fl_read_stats *rs,
                uint32_t baud, double crc_busy)
{
    double ideal = rs->sectors_read * (double)SECTOR * 10.0 / baud;
    printf("%-34s %8.2f %7.3f %6u %6u %6u %7.3f %7.3f %7.2f\n", what, secs,
           plain > 0 ? secs / plain : 1, rs->sectors_read, rs->proven_erased, rs->from_reference,
           ideal / secs, (ideal + crc_busy) / secs, crc_busy);
}

/* The backup rows: naive, proven, proven + reference, and the worst case. */
static void backup_rows(const char *path, const uint8_t *dump, const uint8_t *next,
                        const uint8_t *full, size_t n, uint32_t len, uint32_t baud)
{
    fl_read_stats rs;
    printf("== backup of a Tuya dump (%u KiB) at %u baud, real wire timing ==\n", len / 1024,
           baud);
    printf("%-34s %8s %7s %6s %6s %6s %7s %7s %7s\n", "read", "seconds", "ratio", "moved",
           "erased", "ref", "wire", "+crc", "crc s");
    double crc;
    double plain = timed_read(path, dump, n, len, baud, false, NULL, &rs, &crc);
    row("naive (every byte, today's read)", plain, plain, &rs, baud, crc);
    double t = timed_read(path, dump, n, len, baud, true, NULL, &rs, &crc);
    row("proven (erased sectors by CRC)", t, plain, &rs, baud, crc);
    t = timed_read(path, next, n, len, baud, true, dump, &rs, &crc);
    row("proven + reference (next unit)", t, plain, &rs, baud, crc);
    printf("== worst case: no erased sector ==\n");
    double fplain = timed_read(path, full, n, len, baud, false, NULL, &rs, &crc);
    row("naive", fplain, fplain, &rs, baud, crc);
    t = timed_read(path, full, n, len, baud, true, NULL, &rs, &crc);
    row("proven (must stay within a few %)", t, fplain, &rs, baud, crc);
}

int main(int argc, char **argv)
{
    uint32_t baud = 921600;
    bool quick = false, cycle_only = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = true;
        else if (!strcmp(argv[i], "--cycle")) /* only the station cycle rows */
            cycle_only = true;
        else
            baud = (uint32_t)strtoul(argv[i], NULL, 0);
    }
    const char *dump_path = SHARED "/tuya-dumps/02-BK7231N-LSPA9-Clone-First-ByDarkMan-topic3887748.bin";
    uint8_t *dump;
    size_t n;
    fl_error e;
    if (fl_read_file(dump_path, &dump, &n, 8u << 20, &e))
        die("reading the dump", &e);
    uint32_t len = quick ? 0x80000 : (uint32_t)n;
    /* the next unit of the product: its own MAC, config and a KV sector differ */
    uint8_t *next = malloc(n), *full = malloc(n);
    memcpy(next, dump, n);
    const uint32_t differ[] = {0x1D0000, 0x1E1000, 0x1F0000, 0x10000};
    for (size_t k = 0; k < sizeof differ / sizeof differ[0]; k++)
        for (uint32_t i = 0; i < SECTOR; i += 5)
            next[differ[k] % len + i] ^= (uint8_t)(0x11 + i);
    uint32_t x = 12345; /* a flash with no erased sector: the proven read's worst case */
    for (size_t i = 0; i < n; i++)
        x = x * 1103515245u + 12345u, full[i] = (uint8_t)(x >> 16);
    char path[] = "/tmp/fl-bench-backup-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 1;
    close(fd);

    fl_read_stats rs;
    if (!cycle_only)
        backup_rows(path, dump, next, full, n, len, baud);
    if (!quick) {
        uint8_t *img;
        size_t img_len;
        if (fl_read_file(SHARED "/obk-images/OpenBK7231N_QIO_1.18.300.bin", &img, &img_len,
                         8u << 20, &e))
            die("reading the image", &e);
        double naive_wire = (n + img_len - 0x11000) * 10.0 / baud;
        printf("== station cycle: connect, backup, write OpenBeken, verify (naive wire time: "
               "2 MiB read + image write = %.2f s) ==\n", naive_wire);
        double c = getenv("FL_BENCH_SKIP_NAIVE") ? 0 : timed_cycle(path, dump, n, baud, false, NULL, img, img_len, &rs);
        printf("%-34s %8.2f %7.3f of the naive wire time\n", "today (plain read)", c,
               c / naive_wire);
        c = timed_cycle(path, dump, n, baud, true, NULL, img, img_len, &rs);
        printf("%-34s %8.2f %7.3f of the naive wire time\n", "(a) first unit (proven)", c,
               c / naive_wire);
        c = timed_cycle(path, next, n, baud, true, dump, img, img_len, &rs);
        printf("%-34s %8.2f %7.3f of the naive wire time\n", "(b) next unit (reference)", c,
               c / naive_wire);
        free(img);
    }
    unlink(path);
    free(dump), free(next), free(full);
    return 0;
}
