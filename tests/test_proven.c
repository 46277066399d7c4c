/* test_proven.c — fl_flash_read_proven (issue 11 points 1, 2 and 6): sectors
 * proven erased or equal to a reference by the chip's CRC are not moved, the
 * result is byte-exact; under line faults every backup of a unit that differs
 * from its reference in random sectors is byte-exact or reported as failed. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flash/flash.h"
#include "testlib.h"
#include "util/crc32.h"

#define SECTOR 0x1000u
#define DUMP SHARED_DIR "/testdata/tuya-dumps/02-BK7231N-LSPA9-Clone-First-ByDarkMan-topic3887748.bin"

static char tmpdir[256];

static bool sector_is_ff(const uint8_t *p)
{
    for (uint32_t i = 0; i < SECTOR; i++)
        if (p[i] != 0xFF)
            return false;
    return true;
}

static unsigned erased_sectors(const uint8_t *d, size_t len)
{
    unsigned n = 0;
    for (size_t a = 0; a < len; a += SECTOR)
        n += sector_is_ff(d + a);
    return n;
}

static bool save(const char *path, const uint8_t *d, size_t len)
{
    FILE *fp = fopen(path, "wb");
    bool ok = fp && fwrite(d, 1, len, fp) == len;
    if (fp)
        ok = !fclose(fp) && ok;
    return ok;
}

static fl_flash *open_chip(const char *chip, const char *name, const uint8_t *flash, size_t len,
                           const char *faults, fl_error *err);

/* A session on a simulated BK7231N whose flash is `flash` (faults: extra query). */
static fl_flash *open_unit(const char *name, const uint8_t *flash, size_t len, const char *faults,
                           fl_error *err)
{
    return open_chip("bk7231n", name, flash, len, faults, err);
}

static fl_flash *open_chip(const char *chip, const char *name, const uint8_t *flash, size_t len,
                           const char *faults, fl_error *err)
{
    char path[512], port[800];
    snprintf(path, sizeof path, "%s/%s.bin", tmpdir, name);
    if (!save(path, flash, len)) {
        fl_fail(err, FL_ERR_FILE, "cannot write %s", path);
        return NULL;
    }
    snprintf(port, sizeof port, "sim:%s?flash=%s&timescale=0&quiet=1%s", chip, path, faults);
    fl_flash_opts o;
    fl_flash_opts_init(&o);
    fl_flash *f = NULL;
    if (fl_flash_open(port, chip, &o, NULL, &f, err))
        return NULL;
    return f;
}

static void test_erased_proven(void)
{
    size_t len;
    uint8_t *dump = tl_load(DUMP, &len);
    fl_error err = {0};
    fl_flash *f = dump ? open_unit("erased", dump, len, "", &err) : NULL;
    CHECK(f, "open: %s", err.msg);
    if (!f) {
        free(dump);
        return;
    }
    uint8_t *out = malloc(len);
    fl_read_stats rs;
    fl_status st = fl_flash_read_proven(f, 0, (uint32_t)len, out, NULL, 0, &rs, &err);
    CHECK(st == FL_OK, "proven read: %s", err.msg);
    CHECK(!st && !memcmp(out, dump, len), "the proven read is byte-exact");
    unsigned ff = erased_sectors(dump, len);
    CHECK(rs.proven, "the UART driver proves sectors");
    CHECK_EQ_UINT(rs.sectors, len / SECTOR);
    CHECK_EQ_UINT(rs.proven_erased, ff);
    CHECK_EQ_UINT(rs.sectors_read, len / SECTOR - ff);
    CHECK_EQ_UINT(rs.from_reference, 0);
    CHECK(ff > 100, "the dump has erased sectors to prove (%u)", ff);
    /* not sector-aligned: the bytes asked for, nothing around them */
    memset(out, 0xA5, 0x6000);
    st = fl_flash_read_proven(f, 0x1F0123, 0x5000, out, NULL, 0, &rs, &err);
    CHECK(st == FL_OK && !memcmp(out, dump + 0x1F0123, 0x5000) && out[0x5000] == 0xA5,
          "an unaligned proven read gives exactly the range: %s", err.msg);
    CHECK_EQ_UINT(rs.sectors, 6);
    st = fl_flash_read_proven(f, 0x1FF000, 0x2000, out, NULL, 0, &rs, &err);
    CHECK(st == FL_ERR_REFUSED, "past the end of flash is refused (%d)", st);
    st = fl_flash_read_proven(f, 0, 16, NULL, NULL, 0, &rs, &err);
    CHECK(st == FL_ERR_USAGE, "no buffer: a usage error (%d)", st);
    fl_flash_close(f);
    free(out);
    free(dump);
}

/* Set the 4 bytes at sec[pos] so that the sector's device CRC is `want`.  The
 * CRC is affine in those 32 bits: solve the 32x32 system over GF(2). */
static bool force_crc(uint8_t *sec, uint32_t pos, uint32_t want)
{
    uint32_t col[32], base;
    memset(sec + pos, 0, 4);
    base = fl_beken_crc(sec, SECTOR);
    for (int b = 0; b < 32; b++) {
        memset(sec + pos, 0, 4);
        sec[pos + b / 8] = (uint8_t)(1u << (b % 8));
        col[b] = fl_beken_crc(sec, SECTOR) ^ base;
    }
    /* Gaussian elimination: rows are CRC bits, columns the 32 unknown bits */
    uint64_t rows[32]; /* low 32 bits: coefficients; bit 32: right-hand side */
    uint32_t rhs = want ^ base;
    for (int r = 0; r < 32; r++) {
        rows[r] = (uint64_t)((rhs >> r) & 1u) << 32;
        for (int b = 0; b < 32; b++)
            rows[r] |= (uint64_t)((col[b] >> r) & 1u) << b;
    }
    for (int c = 0; c < 32; c++) {
        int piv = -1;
        for (int r = c; r < 32 && piv < 0; r++)
            if (rows[r] >> c & 1u)
                piv = r;
        if (piv < 0)
            return false;
        uint64_t t = rows[c];
        rows[c] = rows[piv], rows[piv] = t;
        for (int r = 0; r < 32; r++)
            if (r != c && (rows[r] >> c & 1u))
                rows[r] ^= rows[c];
    }
    uint32_t v = 0;
    for (int b = 0; b < 32; b++)
        v |= (uint32_t)(rows[b] >> 32 & 1u) << b;
    memcpy(sec + pos, &v, 4); /* bit b of v is bit b%8 of byte b/8: little-endian */
    return fl_beken_crc(sec, SECTOR) == want;
}

/* Point 2's "two independent CRC32 matches": a unit sector that differs from
 * the reference yet has the same 4 KiB CRC (forged here; on a real line it is
 * a 2^-32 accident) is classified as the reference's, and must be caught by
 * the second check, which cuts every sector in half (a range holding the
 * whole sector would miss it: CRC32 is linear). */
static void test_crc_collision_caught(void)
{
    size_t len;
    uint8_t *ref = tl_load(DUMP, &len);
    if (!ref)
        return;
    uint8_t *unit = malloc(len);
    memcpy(unit, ref, len);
    const uint32_t a = 0x34000; /* inside the Tuya application: a long run of reference sectors */
    for (uint32_t i = 100; i < 140; i++)
        unit[a + i] ^= (uint8_t)(0x5A + i);
    bool forged = force_crc(unit + a, 3000, fl_beken_crc(ref + a, SECTOR));
    CHECK(forged && memcmp(unit + a, ref + a, SECTOR) != 0,
          "a sector that differs from the reference with the same CRC was built");
    fl_error err = {0};
    fl_flash *f = forged ? open_unit("collide", unit, len, "", &err) : NULL;
    CHECK(!forged || f, "open: %s", err.msg);
    if (f) {
        uint8_t *out = malloc(len);
        fl_read_stats rs;
        fl_status st = fl_flash_read_proven(f, 0, (uint32_t)len, out, ref, len, &rs, &err);
        CHECK(st == FL_OK && !memcmp(out, unit, len),
              "the colliding sector is not taken from the reference: byte-exact (%s)", err.msg);
        CHECK(rs.reread >= 1, "the second check caught it and read it (%u read again)",
              rs.reread);
        fl_flash_close(f);
        free(out);
    }
    free(unit);
    free(ref);
}

/* The unit differs from the reference in a few sectors: only those move. */
static void test_reference(void)
{
    size_t len;
    uint8_t *ref = tl_load(DUMP, &len);
    if (!ref)
        return;
    uint8_t *unit = malloc(len);
    memcpy(unit, ref, len);
    const uint32_t changed[] = {0x1E000, 0x1D0000, 0x1F3000}; /* app, config, near the end */
    unsigned differ = 0;
    for (size_t k = 0; k < sizeof changed / sizeof changed[0]; k++) {
        for (uint32_t i = 0; i < SECTOR; i++)
            unit[changed[k] + i] = (uint8_t)(i * 7 + k);
        differ++;
    }
    memcpy(unit + 0x1E8000, ref + 0x12000, SECTOR); /* content found elsewhere in the reference */
    differ += !!memcmp(ref + 0x1E8000, ref + 0x12000, SECTOR);
    fl_error err = {0};
    fl_flash *f = open_unit("ref", unit, len, "", &err);
    CHECK(f, "open: %s", err.msg);
    if (f) {
        uint8_t *out = malloc(len);
        fl_read_stats rs;
        fl_status st = fl_flash_read_proven(f, 0, (uint32_t)len, out, ref, len, &rs, &err);
        CHECK(st == FL_OK && !memcmp(out, unit, len), "with a reference: byte-exact (%s)",
              err.msg);
        CHECK_EQ_UINT(rs.sectors_read, differ);
        CHECK_EQ_UINT(rs.proven_erased + rs.from_reference + rs.sectors_read, len / SECTOR);
        CHECK(rs.from_reference > 250, "most sectors taken from the reference (%u)",
              rs.from_reference);
        /* a shorter reference: sectors past its end have none */
        st = fl_flash_read_proven(f, 0, (uint32_t)len, out, ref, 0x100000, &rs, &err);
        CHECK(st == FL_OK && !memcmp(out, unit, len), "a short reference: byte-exact");
        CHECK(rs.sectors_read >= len / SECTOR / 2 - erased_sectors(unit + 0x100000, 0x100000),
              "past the reference's end sectors move (%u)", rs.sectors_read);
        fl_flash_close(f);
        free(out);
    }
    free(unit);
    free(ref);
}

/* A flash loader (BK7231T): CRCs in whole 256-byte blocks, the loader's own
 * area reached above the flash's end; a reference from another product. */
static void test_flash_loader(void)
{
    size_t len, rlen;
    uint8_t *dump = tl_load(SHARED_DIR "/testdata/tuya-dumps/05-Biltema-24264-A15-E27-CCT-Mini-Globe-Bulb.bin", &len);
    uint8_t *ref = tl_load(DUMP, &rlen);
    fl_error err = {0};
    fl_flash *f = dump && ref ? open_chip("bk7231t", "loader", dump, len, "", &err) : NULL;
    CHECK(f, "open bk7231t: %s", err.msg);
    if (f) {
        uint8_t *out = malloc(len);
        fl_read_stats rs;
        fl_status st = fl_flash_read_proven(f, 0, (uint32_t)len, out, ref, rlen, &rs, &err);
        CHECK(st == FL_OK && !memcmp(out, dump, len), "flash loader: byte-exact (%s)", err.msg);
        CHECK_EQ_UINT(rs.proven_erased, erased_sectors(dump, len));
        CHECK_EQ_UINT(rs.sectors_read + rs.proven_erased + rs.from_reference, len / SECTOR);
        fl_flash_close(f);
        free(out);
    }
    free(dump);
    free(ref);
}

/* Drivers without a device CRC: a plain read. */
static void test_no_device_crc(void)
{
    size_t len;
    uint8_t *dump = tl_load(DUMP, &len);
    if (!dump)
        return;
    char path[512], port[800];
    snprintf(path, sizeof path, "%s/spi.bin", tmpdir);
    CHECK(save(path, dump, len), "save %s", path);
    snprintf(port, sizeof port, "ch341a:sim?target=bk7231n&flash=%s", path);
    fl_flash_opts o;
    fl_flash_opts_init(&o);
    fl_flash *f = NULL;
    fl_error err = {0};
    fl_status st = fl_flash_open(port, "bk7231n", &o, NULL, &f, &err);
    CHECK(st == FL_OK, "open %s: %s", port, err.msg);
    if (!st) {
        uint8_t *out = malloc(0x20000);
        fl_read_stats rs;
        st = fl_flash_read_proven(f, 0x1E0000, 0x20000, out, dump, len, &rs, &err);
        CHECK(st == FL_OK && !memcmp(out, dump + 0x1E0000, 0x20000), "plain read: %s", err.msg);
        CHECK(!rs.proven && rs.sectors_read == 32 && rs.proven_erased == 0,
              "no device CRC: every sector moved (%u)", rs.sectors_read);
        fl_flash_close(f);
        free(out);
    }
    free(dump);
}

/* ---- point 6: faults -------------------------------------------------------- */

#define BACKUPS 200
#define THREADS 40 /* the time goes into the host's real-time recovery waits, not CPU */

typedef struct fault_job {
    const uint8_t *ref;
    size_t len;
    int first, count;
    const char *faults;
    unsigned ok, failed, wrong, moved, from_ref, reread;
    char last_error[160];
} fault_job;

static uint32_t rnd(uint32_t *s)
{
    *s ^= *s << 13, *s ^= *s >> 17, *s ^= *s << 5;
    return *s;
}

/* The reference with 1..8 random sectors changed: random bytes, erased, a
 * copy of another sector, or data where the reference is erased. */
static void make_unit(const uint8_t *ref, size_t len, uint32_t seed, uint8_t *unit)
{
    memcpy(unit, ref, len);
    uint32_t s = seed * 2654435761u + 1, nsec = (uint32_t)(len / SECTOR);
    unsigned k = 1 + rnd(&s) % 8;
    for (unsigned n = 0; n < k; n++) {
        uint8_t *p = unit + (size_t)(rnd(&s) % nsec) * SECTOR;
        switch (rnd(&s) % 3) {
        case 0:
            for (uint32_t i = 0; i < SECTOR; i++)
                p[i] = (uint8_t)rnd(&s);
            break;
        case 1:
            memset(p, 0xFF, SECTOR);
            break;
        default:
            memcpy(p, ref + (size_t)(rnd(&s) % nsec) * SECTOR, SECTOR);
            p[rnd(&s) % SECTOR] ^= 0x01; /* one bit off another sector */
            break;
        }
    }
}

static void *fault_worker(void *arg)
{
    fault_job *j = arg;
    uint8_t *unit = malloc(j->len), *out = malloc(j->len);
    for (int i = j->first; i < j->first + j->count && unit && out; i++) {
        make_unit(j->ref, j->len, (uint32_t)i, unit);
        char name[32], faults[96];
        snprintf(name, sizeof name, "fault-%d", i);
        snprintf(faults, sizeof faults, "%s&seed=%d", j->faults, i + 1);
        fl_error err = {0};
        fl_flash *f = open_unit(name, unit, j->len, faults, &err);
        fl_read_stats rs = {0};
        fl_status st = f ? fl_flash_read_proven(f, 0, (uint32_t)j->len, out, j->ref, j->len, &rs,
                                                &err)
                         : FL_ERR_LINK;
        fl_flash_close(f);
        char path[512];
        snprintf(path, sizeof path, "%s/%s.bin", tmpdir, name);
        unlink(path); /* 200 units of 2 MiB need not all stay in /tmp */
        if (st) {
            j->failed++;
            snprintf(j->last_error, sizeof j->last_error, "%s", err.msg);
        } else if (memcmp(out, unit, j->len)) {
            j->wrong++;
        } else {
            j->ok++;
        }
        j->moved += rs.sectors_read, j->from_ref += rs.from_reference, j->reread += rs.reread;
    }
    free(unit), free(out);
    return NULL;
}

static void run_faults(const char *faults, int backups, fault_job *sum)
{
    size_t len;
    uint8_t *ref = tl_load(DUMP, &len);
    memset(sum, 0, sizeof *sum);
    if (!ref)
        return;
    fault_job jobs[THREADS];
    pthread_t th[THREADS];
    int per = (backups + THREADS - 1) / THREADS, started = 0;
    for (int t = 0; t < THREADS && t * per < backups; t++, started++) {
        jobs[t] = (fault_job){.ref = ref, .len = len, .first = t * per, .faults = faults,
                              .count = (t + 1) * per > backups ? backups - t * per : per};
        pthread_create(&th[t], NULL, fault_worker, &jobs[t]);
    }
    for (int t = 0; t < started; t++) {
        pthread_join(th[t], NULL);
        sum->ok += jobs[t].ok, sum->failed += jobs[t].failed, sum->wrong += jobs[t].wrong;
        sum->moved += jobs[t].moved, sum->from_ref += jobs[t].from_ref;
        sum->reread += jobs[t].reread;
        if (jobs[t].last_error[0])
            snprintf(sum->last_error, sizeof sum->last_error, "%s", jobs[t].last_error);
    }
    free(ref);
}

static void test_faults_never_silently_wrong(void)
{
    fault_job s;
    run_faults("&drop=0.005&corrupt=0.005", BACKUPS, &s);
    printf("# %d backups at drop/corrupt 0.005: %u exact, %u reported failed (%s), %u wrong; "
           "%u sectors moved, %u from the reference, %u read again after the second check\n",
           BACKUPS, s.ok, s.failed, s.last_error, s.wrong, s.moved, s.from_ref, s.reread);
    CHECK_EQ_UINT(s.wrong, 0);
    CHECK_EQ_UINT(s.ok + s.failed, BACKUPS);
    CHECK(s.ok >= BACKUPS * 9 / 10, "most backups succeed through the faults (%u)", s.ok);
    CHECK(s.from_ref > (unsigned)BACKUPS * 250, "the reference was used (%u sectors)", s.from_ref);
}

/* A line far worse than point 6's: the second check must be what catches the
 * garbled proofs (some sectors read again), and still nothing is wrong. */
static void test_second_check_catches(void)
{
    fault_job s;
    run_faults("&corrupt=0.05", 10, &s);
    printf("# 10 backups at corrupt 0.05: %u exact, %u failed, %u wrong, %u read again\n", s.ok,
           s.failed, s.wrong, s.reread);
    CHECK_EQ_UINT(s.wrong, 0);
    CHECK(s.reread > 0, "garbled CRC requests were caught by the second check (%u)", s.reread);
    CHECK(s.ok > 0, "some backups succeed (%u)", s.ok);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_proven.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_erased_proven);
    RUN(test_reference);
    RUN(test_crc_collision_caught);
    RUN(test_flash_loader);
    RUN(test_no_device_crc);
    RUN(test_faults_never_silently_wrong);
    RUN(test_second_check_catches);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return testlib_finish();
}
