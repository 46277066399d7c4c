/* flash_proven.c — fl_flash_read_proven: sectors proven by the chip's CRC
 * (erased, or the same as a reference image) are not moved (see flash.h).
 *
 * Why it is safe.  A sector that crossed the wire proves itself: its bytes
 * must give the CRC the chip reported (a garbled request or reply only makes
 * that fail, and the sector is asked and read again).  A sector that did not
 * cross rests on one CRC reply, and is checked a second time:
 *
 *  - Sectors taken from a REFERENCE (issue 11 point 2: a collision must need
 *    two independent CRC32 matches) are checked again over ranges that cut
 *    EVERY sector in half: [a+2K, a+6K) over each pair of neighbours.  CRC32
 *    is linear: a difference pattern its 4 KiB CRC misses is also missed by
 *    every range that holds the whole sector, so a range containing a whole
 *    sector proves nothing new about it; two halves are independent checks.
 *  - ERASED sectors (point 1: one CRC equal to erased flash's is the proof)
 *    are checked again over 64 KiB chunks cut half a sector off the sector
 *    grid.  This guards the reply, not the CRC: CheckCRC carries start and
 *    end as separate fields, so one garbled byte changes the length of the
 *    range and cannot fake erased flash's CRC of the same length; a second,
 *    different request would have to be garbled the same way too.
 *
 * A check that fails once is asked again (most mismatches are garbled
 * replies) and believed only on two matches; what still differs is read for
 * real. */
#include <stdlib.h>
#include <string.h>

#include "flash/flash_internal.h"
#include "util/crc32.h"

#define SECTOR 0x1000u
#define WINDOW 0x10000u   /* classify and move this much at a time (progress, memory locality) */
#define CHECK_CHUNK 0x10000u
#define MAX_TRIES 8

enum { S_PENDING = 0, S_READ, S_ERASED, S_REFERENCE }; /* PENDING: to be moved */

typedef struct proven_job {
    fl_flash *f;
    uint32_t a0, a1, n;      /* sector-aligned hull and its sector count */
    uint8_t *buf;            /* the hull's bytes */
    uint8_t *state;          /* S_* per sector */
    uint32_t *crc;           /* the chip's reply per sector */
    const uint8_t *ref;
    size_t ref_len;
    fl_read_stats *st;
    uint64_t done;
} proven_job;

static fl_status quick_crc(proven_job *j, uint32_t addr, uint32_t len, uint32_t *crc,
                           fl_error *err)
{
    return j->f->drv->quick_crc(j->f->s, addr, len, crc, err);
}

static void progress(proven_job *j, uint32_t bytes)
{
    j->done += bytes;
    fl_progress(j->f->ev, "read", j->done, (uint64_t)j->a1 - j->a0);
}

/* Sector i crossed the wire: its bytes must give the CRC the chip reported.
 * A mismatch is a garbled read or a garbled CRC request: ask and read again. */
static fl_status prove_read_sector(proven_job *j, uint32_t i, fl_error *err)
{
    uint32_t a = j->a0 + i * SECTOR;
    uint8_t *p = j->buf + (a - j->a0);
    for (int attempt = 0;; attempt++) {
        if (fl_beken_crc(p, SECTOR) == j->crc[i])
            return FL_OK;
        if (attempt == MAX_TRIES)
            return fl_fail(err, FL_ERR_VERIFY,
                           "sector 0x%06X reads differently every time (CRC never matches)", a);
        fl_logf(j->f->ev, FL_LOG_DEBUG, "sector 0x%06X: CRC mismatch, asking and reading again",
                a);
        fl_status st = quick_crc(j, a, SECTOR, &j->crc[i], err);
        if (!st && fl_beken_crc(p, SECTOR) != j->crc[i])
            st = j->f->drv->read_raw(j->f->s, a, SECTOR, p, err);
        if (st)
            return st;
    }
}

/* Move the sectors [i0, i1) marked S_PENDING, in runs, and prove each. */
static fl_status transfer(proven_job *j, uint32_t i0, uint32_t i1, fl_error *err)
{
    for (uint32_t i = i0; i < i1;) {
        if (j->state[i] != S_PENDING) {
            i++;
            continue;
        }
        uint32_t e = i;
        while (e < i1 && j->state[e] == S_PENDING)
            e++;
        uint32_t a = j->a0 + i * SECTOR;
        fl_status st = j->f->drv->read_raw(j->f->s, a, (e - i) * SECTOR, j->buf + (a - j->a0), err);
        for (uint32_t k = i; k < e && !st; k++)
            st = prove_read_sector(j, k, err);
        if (st)
            return st;
        memset(j->state + i, S_READ, e - i);
        j->st->sectors_read += e - i;
        progress(j, (e - i) * SECTOR);
        i = e;
    }
    return FL_OK;
}

/* Ask the chip about the sectors [i0, i1), fill those it proves, move the rest. */
static fl_status classify(proven_job *j, uint32_t i0, uint32_t i1, fl_error *err)
{
    const uint32_t ff = fl_beken_crc_ff(SECTOR);
    for (uint32_t i = i0; i < i1; i++) {
        uint32_t a = j->a0 + i * SECTOR;
        fl_status st = quick_crc(j, a, SECTOR, &j->crc[i], err);
        if (st)
            return st;
        uint8_t *p = j->buf + (a - j->a0);
        j->state[i] = S_PENDING;
        if (j->crc[i] == ff) {
            memset(p, 0xFF, SECTOR);
            j->state[i] = S_ERASED;
        } else if (j->ref && (uint64_t)a + SECTOR <= j->ref_len &&
                   j->crc[i] == fl_beken_crc(j->ref + a, SECTOR)) {
            memcpy(p, j->ref + a, SECTOR);
            j->state[i] = S_REFERENCE;
        }
        if (j->state[i] != S_PENDING)
            progress(j, SECTOR);
    }
    return transfer(j, i0, i1, err);
}

/* Does the chip agree that [a, a+len) holds what buf says?  One matching
 * reply is enough; after a mismatch (a garbled reply, most likely: reading
 * 64 KiB again costs 0.7 s at 921600) only two matches are believed. */
static fl_status check_range(proven_job *j, uint32_t a, uint32_t len, bool *same, fl_error *err)
{
    uint32_t want = fl_beken_crc(j->buf + (a - j->a0), len), got;
    int asks = 1, matches = 0;
    for (int k = 0; k < asks + 2 && matches < asks; k++) {
        fl_status st = quick_crc(j, a, len, &got, err);
        if (st)
            return st;
        if (got == want) {
            matches++;
        } else if (k > 0 || matches) {
            break; /* two mismatches: the chip holds something else */
        } else {
            asks = 2;
        }
    }
    *same = matches == asks;
    return FL_OK;
}

/* The range [a, a+len) did not check: its proven sectors go over the wire. */
static fl_status reread(proven_job *j, uint32_t a, uint32_t len, fl_error *err)
{
    uint32_t i0 = (a - j->a0) / SECTOR, i1 = (a + len - j->a0 + SECTOR - 1) / SECTOR;
    unsigned moved = 0;
    for (uint32_t i = i0; i < i1; i++) {
        if (j->state[i] == S_READ)
            continue;
        if (j->state[i] == S_ERASED)
            j->st->proven_erased--;
        else
            j->st->from_reference--;
        j->state[i] = S_PENDING;
        fl_status st = quick_crc(j, j->a0 + i * SECTOR, SECTOR, &j->crc[i], err);
        if (st)
            return st;
        moved++;
    }
    fl_logf(j->f->ev, FL_LOG_WARN,
            "0x%06X..0x%06X differs from its proof (a garbled CRC request): reading its %u "
            "proven sectors",
            a, a + len, moved);
    unsigned before = j->st->sectors_read;
    j->done -= (uint64_t)moved * SECTOR; /* transfer() counts them again */
    fl_status st = transfer(j, i0, i1, err);
    j->st->reread += j->st->sectors_read - before;
    return st;
}

/* Check [c, next) and read what does not hold for real. */
static fl_status check_or_reread(proven_job *j, uint32_t c, uint32_t next, fl_error *err)
{
    bool same;
    fl_status st = check_range(j, c, next - c, &same, err);
    if (!st && !same)
        st = reread(j, c, next - c, err);
    return st;
}

/* The second check over one run [r0, r1) of sectors in one state: ranges
 * whose cuts lie half a sector off the sector grid, one per sector for
 * reference sectors (every sector cut), 64 KiB for erased ones (top of file). */
static fl_status check_run(proven_job *j, uint32_t r0, uint32_t r1, bool every_sector,
                           fl_error *err)
{
    uint32_t step = every_sector ? SECTOR : CHECK_CHUNK;
    for (uint32_t c = r0; c < r1;) {
        uint32_t next = c == r0 ? r0 + SECTOR / 2 : c + step;
        if (next > r1)
            next = r1;
        fl_status st = check_or_reread(j, c, next, err);
        if (st)
            return st;
        c = next;
    }
    return FL_OK;
}

/* The second check over each run of sectors that did not cross the wire
 * (erased runs and reference runs apart: they are checked differently). */
static fl_status check_proven(proven_job *j, fl_error *err)
{
    for (uint32_t i = 0; i < j->n;) {
        uint8_t kind = j->state[i];
        if (kind == S_READ) {
            i++;
            continue;
        }
        uint32_t e = i;
        while (e < j->n && j->state[e] == kind)
            e++;
        fl_status st = check_run(j, j->a0 + i * SECTOR, j->a0 + e * SECTOR,
                                 kind == S_REFERENCE, err);
        if (st)
            return st;
        i = e;
    }
    return FL_OK;
}

static fl_status run_job(proven_job *j, fl_error *err)
{
    for (uint32_t w = j->a0; w < j->a1;) {
        uint32_t we = (w / WINDOW + 1) * WINDOW;
        if (we > j->a1)
            we = j->a1;
        if (fl_cancelled(j->f->ev))
            return fl_fail(err, FL_ERR_CANCELLED, "stopped by the operator during read at 0x%06X",
                           w);
        fl_status st = classify(j, (w - j->a0) / SECTOR, (we - j->a0) / SECTOR, err);
        if (st)
            return st;
        w = we;
    }
    for (uint32_t i = 0; i < j->n; i++) {
        j->st->proven_erased += j->state[i] == S_ERASED;
        j->st->from_reference += j->state[i] == S_REFERENCE;
    }
    return check_proven(j, err);
}

static fl_status plain_read(fl_flash *f, uint32_t addr, uint32_t len, uint8_t *out,
                            fl_read_stats *st, fl_error *err)
{
    fl_status s = fl_flash_read(f, addr, len, out, err);
    if (!s)
        st->sectors_read = st->sectors;
    return s;
}

fl_status fl_flash_read_proven(fl_flash *f, uint32_t addr, uint32_t len, uint8_t *out,
                               const uint8_t *reference, size_t ref_len, fl_read_stats *stats,
                               fl_error *err)
{
    fl_read_stats dummy;
    fl_read_stats *rs = stats ? stats : &dummy;
    memset(rs, 0, sizeof *rs);
    fl_status st = fl_flash_check_call(f, out, len, "read", err);
    if (!st)
        st = fl_flash_check_range(f, addr, len, false, err);
    if (st || len == 0)
        return st;
    uint32_t a0 = addr & ~(SECTOR - 1);
    uint32_t a1 = (uint32_t)(((uint64_t)addr + len + SECTOR - 1) & ~(uint64_t)(SECTOR - 1));
    rs->sectors = (a1 - a0) / SECTOR;
    const fl_driver *d = f->drv;
    if (!d->quick_crc || !d->read_raw)
        return plain_read(f, addr, len, out, rs, err);
    rs->proven = true;
    proven_job j = {.f = f, .a0 = a0, .a1 = a1, .n = rs->sectors, .ref = reference,
                    .ref_len = reference ? ref_len : 0, .st = rs};
    j.buf = malloc(a1 - a0);
    j.state = calloc(j.n, 1);
    j.crc = calloc(j.n, sizeof *j.crc);
    if (!j.buf || !j.state || !j.crc)
        st = fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    if (!st)
        st = run_job(&j, err);
    if (!st) {
        memcpy(out, j.buf + (addr - a0), len);
        if (d->note_content)
            d->note_content(f->s, a0, a1 - a0, j.buf);
        /* debug: the front ends say it their way (read's summary, the backup step's line) */
        fl_logf(f->ev, FL_LOG_DEBUG, "0x%06X..0x%06X: %u sectors moved (%u again), %u erased, "
                "%u from the reference",
                a0, a1, rs->sectors_read, rs->reread, rs->proven_erased, rs->from_reference);
    }
    free(j.buf), free(j.state), free(j.crc);
    return st;
}
