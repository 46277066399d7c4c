/* integrity.c — the session's map of the whole flash and the proof after
 * every modifying operation (see integrity.h for the idea). */
#include "drivers/beken_uart/integrity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "util/clock.h"
#include "util/crc32.h"

#define SECTOR BK_BLOCK
#define WINDOW 0x10000u
#define SECTORS_PER_WINDOW (WINDOW / SECTOR)
#define MAX_PASSES 3 /* restoring can itself be garbled: prove again, a few times */

enum { SEC_UNKNOWN = 0, SEC_CRC, SEC_CONTENT };

struct fl_integrity {
    uint32_t size, nsec, nwin;
    uint32_t *sec_crc;    /* device CRC each sector must have now */
    uint8_t *sec_state;   /* SEC_*: CONTENT = shadow holds the sector's bytes */
    uint32_t *win_crc;    /* measured device CRC of a window ... */
    bool *win_known;      /* ... valid while nothing in it was modified */
    uint8_t *shadow;      /* size bytes once a read has proven content, else NULL */
    bool active;          /* between begin and finish/abandon of an operation ... */
    uint32_t job_a0, job_a1; /* ... on these sectors */
    bool restoring;       /* fl_integrity_check_boot is running (no recursion) */
};

void fl_integrity_free(fl_integrity *g)
{
    if (!g)
        return;
    free(g->sec_crc), free(g->sec_state), free(g->win_crc), free(g->win_known), free(g->shadow);
    free(g);
}

void fl_integrity_forget(fl_beken *s)
{
    fl_integrity_free(s->integrity);
    s->integrity = NULL;
}

/* The map for the current flash size (a BK7252 probe may change it), or NULL
 * when memory is short. */
static fl_integrity *map_of(fl_beken *s)
{
    fl_integrity *g = s->integrity;
    if (g && g->size == s->flash_size)
        return g;
    fl_integrity_forget(s);
    if (s->flash_size < SECTOR)
        return NULL;
    g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->size = s->flash_size;
    g->nsec = s->flash_size / SECTOR;
    g->nwin = (s->flash_size + WINDOW - 1) / WINDOW;
    g->sec_crc = calloc(g->nsec, sizeof *g->sec_crc);
    g->sec_state = calloc(g->nsec, 1);
    g->win_crc = calloc(g->nwin, sizeof *g->win_crc);
    g->win_known = calloc(g->nwin, sizeof *g->win_known);
    if (!g->sec_crc || !g->sec_state || !g->win_crc || !g->win_known) {
        fl_integrity_free(g);
        return NULL;
    }
    s->integrity = g;
    return g;
}

/* Device values are complemented zlib values (util/crc32.h). */
static uint32_t crc_join(uint32_t first, uint32_t second, uint32_t second_len)
{
    return ~(uint32_t)crc32_combine(~first, ~second, (z_off_t)second_len);
}

static uint32_t win_start(uint32_t w) { return w * WINDOW; }

static uint32_t win_end(const fl_integrity *g, uint32_t w)
{
    uint64_t e = (uint64_t)w * WINDOW + WINDOW;
    return e > g->size ? g->size : (uint32_t)e;
}

/* The device CRC window w must have, if known. */
static bool window_expect(const fl_integrity *g, uint32_t w, uint32_t *crc)
{
    uint32_t s0 = win_start(w) / SECTOR, s1 = win_end(g, w) / SECTOR;
    bool all = true;
    for (uint32_t i = s0; i < s1 && all; i++)
        all = g->sec_state[i] != SEC_UNKNOWN;
    if (all) {
        uint32_t c = g->sec_crc[s0];
        for (uint32_t i = s0 + 1; i < s1; i++)
            c = crc_join(c, g->sec_crc[i], SECTOR);
        *crc = c;
        return true;
    }
    if (g->win_known[w])
        *crc = g->win_crc[w];
    return g->win_known[w];
}

bool fl_integrity_known_crc(fl_beken *s, uint32_t addr, uint32_t *crc)
{
    const fl_integrity *g = s->integrity;
    if (!g || g->size != s->flash_size || addr % SECTOR || addr >= g->size ||
        g->sec_state[addr / SECTOR] == SEC_UNKNOWN)
        return false;
    *crc = g->sec_crc[addr / SECTOR];
    return true;
}

void fl_integrity_note_read(fl_beken *s, uint32_t addr, uint32_t len, const uint8_t *data)
{
    fl_integrity *g = map_of(s);
    if (!g || addr % SECTOR || len % SECTOR || (uint64_t)addr + len > g->size)
        return;
    if (!g->shadow)
        g->shadow = malloc(g->size); /* without it, sectors are still known by CRC */
    for (uint32_t off = 0; off < len; off += SECTOR) {
        uint32_t i = (addr + off) / SECTOR;
        g->sec_crc[i] = fl_beken_crc(data + off, SECTOR);
        g->sec_state[i] = g->shadow ? SEC_CONTENT : SEC_CRC;
        if (g->shadow)
            memcpy(g->shadow + addr + off, data + off, SECTOR);
    }
}

static bool in_job(uint32_t addr, uint32_t a0, uint32_t a1) { return addr >= a0 && addr < a1; }

/* A map value comes from one reply: a garbled one (or the answer to a garbled
 * request) would later look like a change outside the job.  Believe a value
 * only once two replies agree. */
fl_status bk_op_crc_agreed(fl_beken *s, uint32_t addr, uint32_t len, uint32_t *crc, fl_error *err)
{
    enum { MAX_ASKS = 6 };
    uint32_t seen[MAX_ASKS];
    for (int n = 0; n < MAX_ASKS; n++) {
        fl_status st = bk_op_crc(s, addr, len, &seen[n], err);
        if (st)
            return st;
        for (int k = 0; k < n; k++)
            if (seen[k] == seen[n]) {
                *crc = seen[n];
                return FL_OK;
            }
        if (n > 0)
            fl_logf(s->ev, FL_LOG_DEBUG, "CRC of 0x%06X..0x%06X: 0x%08X differs; asking again",
                    addr, addr + len, seen[n]);
    }
    return fl_fail(err, FL_ERR_PROTOCOL,
                   "the CRC of 0x%06X..0x%06X differs on every request: check the wiring and "
                   "lower --baud",
                   addr, addr + len);
}

/* The bootloader is the one region whose loss bricks a unit (or, on N-class
 * chips, loses its keys), and a garbled erase address can land on it as
 * anywhere else.  Knowing it by CRC only lets the unit FAIL; knowing its
 * content lets it be put back.  So before an operation outside it, its
 * 68 KiB are read (about 0.8 s at 921600; free after a backup). */
static fl_status keep_bootloader(fl_beken *s, fl_integrity *g, uint32_t a0, fl_error *err)
{
    if (a0 < FL_BOOTLOADER_SIZE)
        return FL_OK;
    for (uint32_t a = 0; a < FL_BOOTLOADER_SIZE; a += SECTOR)
        if (g->sec_state[a / SECTOR] != SEC_CONTENT)
            goto read_it;
    return FL_OK;
read_it:;
    uint8_t *buf = malloc(FL_BOOTLOADER_SIZE);
    if (!buf)
        return FL_OK; /* still proven by CRC: a change fails the unit instead */
    fl_status st = fl_beken_read(s, 0, FL_BOOTLOADER_SIZE, buf, err);
    free(buf);
    return st ? fl_fail_prefix(err, "keeping a copy of the bootloader before modifying the flash")
              : FL_OK;
}

fl_status fl_integrity_begin(fl_beken *s, uint32_t a0, uint32_t a1, fl_error *err)
{
    fl_integrity *g = map_of(s);
    if (!g)
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory (flash integrity map)");
    fl_status kst = keep_bootloader(s, g, a0, err);
    if (kst)
        return kst;
    g = map_of(s);
    if (!g)
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory (flash integrity map)");
    double t0 = fl_now();
    for (uint32_t w = 0; w < g->nwin; w++) {
        uint32_t ws = win_start(w), we = win_end(g, w), crc;
        if (a0 <= ws && we <= a1)
            continue; /* wholly rewritten: the operation proves it */
        fl_status st = FL_OK;
        if (we <= a0 || ws >= a1) {
            if (!window_expect(g, w, &crc) && !(st = bk_op_crc_agreed(s, ws, we - ws, &crc, err))) {
                g->win_crc[w] = crc;
                g->win_known[w] = true;
            }
        } else { /* shared with the job: its other sectors are needed one by one */
            for (uint32_t a = ws; a < we && !st; a += SECTOR) {
                uint32_t i = a / SECTOR;
                if (in_job(a, a0, a1) || g->sec_state[i] != SEC_UNKNOWN)
                    continue;
                if (!(st = bk_op_crc_agreed(s, a, SECTOR, &g->sec_crc[i], err)))
                    g->sec_state[i] = SEC_CRC;
            }
        }
        if (st)
            return fl_fail_prefix(err, "mapping the flash before modifying it");
    }
    fl_logf(s->ev, FL_LOG_DEBUG, "flash outside 0x%06X..0x%06X mapped in %.2f s", a0, a1,
            fl_now() - t0);
    g->active = true, g->job_a0 = a0, g->job_a1 = a1;
    return FL_OK;
}

void fl_integrity_abandon(fl_beken *s, uint32_t a0, uint32_t a1)
{
    fl_integrity *g = s->integrity;
    if (!g || a1 <= a0)
        return;
    g->active = false;
    for (uint32_t w = a0 / WINDOW; w < g->nwin && win_start(w) < a1; w++) {
        g->win_known[w] = false;
        for (uint32_t a = win_start(w); a < win_end(g, w); a += SECTOR)
            g->sec_state[a / SECTOR] = SEC_UNKNOWN;
    }
}

static const uint8_t *blank_sector(void)
{
    static const uint8_t ff[SECTOR] = {[0 ... SECTOR - 1] = 0xFF};
    return ff;
}

/* The job now holds target: that is what its sectors must show from here on. */
static void record_job(fl_integrity *g, uint32_t a0, uint32_t a1, const uint8_t *target)
{
    for (uint32_t a = a0; a < a1; a += SECTOR) {
        const uint8_t *d = target ? target + (a - a0) : blank_sector();
        uint32_t i = a / SECTOR;
        g->sec_crc[i] = fl_beken_crc(d, SECTOR);
        g->sec_state[i] = g->shadow ? SEC_CONTENT : SEC_CRC;
        if (g->shadow)
            memcpy(g->shadow + a, d, SECTOR);
    }
    for (uint32_t w = a0 / WINDOW; w < g->nwin && win_start(w) < a1; w++)
        g->win_known[w] = false; /* its measured CRC is history; sectors describe it now */
}

/* what: "the 4 KiB sector there", "the 4 KiB sector there is now blank", ... */
static fl_status unrestorable(fl_beken *s, uint32_t addr, const char *what, fl_error *err)
{
    if (s->chip->loader == FL_LOADER_FLASH && addr < FL_BOOTLOADER_SIZE)
        return fl_fail(err, FL_ERR_VERIFY,
                       "the bootloader area changed at 0x%06X during the operation (a line error "
                       "garbled an address): the chip will not answer on UART after its next "
                       "reset. Keep it powered and write 0x0-0x11000 back from a backup with "
                       "--allow-bootloader now",
                       addr);
    return fl_fail(err, FL_ERR_VERIFY,
                   "flash outside the written range changed at 0x%06X (%s; a line error garbled "
                   "an erase or write address) and this session read no backup of it to "
                   "restore: write it back from a backup of this unit",
                   addr, what);
}

/* A window differs from what it must hold and none of its sectors is known:
 * name it, and the sector that is blank now if there is one (a garbled erase
 * blanks one). */
static fl_status window_lost(fl_beken *s, fl_integrity *g, uint32_t w, fl_error *err)
{
    uint32_t ws = win_start(w), we = win_end(g, w), first_blank = 0;
    unsigned blanks = 0;
    for (uint32_t a = ws; a < we; a += SECTOR) {
        bool blank = false;
        fl_status st = bk_op_crc_is(s, a, SECTOR, fl_beken_crc_ff(SECTOR), 1, &blank, err);
        if (st)
            return st;
        if (blank && !blanks++)
            first_blank = a;
    }
    char what[96];
    if (blanks == 1) {
        snprintf(what, sizeof what, "that 4 KiB sector is blank now; the change lies within "
                 "0x%06X..0x%06X", ws, we);
        return unrestorable(s, first_blank, what, err);
    }
    snprintf(what, sizeof what, "somewhere within 0x%06X..0x%06X", ws, we);
    return unrestorable(s, ws, what, err);
}

/* One log line per run of sectors written back. */
typedef struct { uint32_t from, to; bool job; } rewrite_run;

static void log_run(fl_beken *s, rewrite_run *r)
{
    if (r->to == r->from)
        return;
    char where[48];
    if (r->to - r->from == SECTOR)
        snprintf(where, sizeof where, "sector 0x%06X", r->from);
    else
        snprintf(where, sizeof where, "sectors 0x%06X..0x%06X", r->from, r->to);
    if (r->job)
        fl_logf(s->ev, FL_LOG_WARN,
                "%s changed after it was written (a line error garbled an address); wrote it "
                "again",
                where);
    else
        fl_logf(s->ev, FL_LOG_WARN,
                "restored %s from the backup (changed outside the written range: a line "
                "error garbled an address)",
                where);
    r->from = r->to;
}

static void note_rewrite(fl_beken *s, rewrite_run *r, uint32_t a, bool job)
{
    if (r->to != a || r->job != job) {
        log_run(s, r);
        r->from = a, r->job = job;
    }
    r->to = a + SECTOR;
}

/* Window w does not hold what it must: find the sectors, write back those
 * whose content is known.  *rewrote says whether anything was written. */
static fl_status narrow(fl_beken *s, fl_integrity *g, uint32_t w, uint32_t a0, uint32_t a1,
                        const uint8_t *target, bool *rewrote, fl_error *err)
{
    bool unknown = false, found = false;
    rewrite_run run = {0, 0, false};
    fl_status st = FL_OK;
    for (uint32_t a = win_start(w); a < win_end(g, w) && !st; a += SECTOR) {
        uint32_t i = a / SECTOR;
        if (g->sec_state[i] == SEC_UNKNOWN) {
            unknown = true;
            continue;
        }
        bool same;
        if ((st = bk_op_crc_is(s, a, SECTOR, g->sec_crc[i], 2, &same, err)) || same)
            continue;
        found = true;
        const uint8_t *content = NULL;
        if (in_job(a, a0, a1))
            content = target ? target + (a - a0) : blank_sector();
        else if (g->sec_state[i] == SEC_CONTENT)
            content = g->shadow + a;
        if (!content) {
            st = unrestorable(s, a, "the 4 KiB sector there", err);
        } else if ((st = bk_op_rewrite_sector(s, a, content, err))) {
            fl_fail_prefix(err, "restoring the sector at 0x%06X", a);
        } else {
            *rewrote = true;
            if (!in_job(a, a0, a1))
                s->sectors_restored++;
            note_rewrite(s, &run, a, in_job(a, a0, a1));
        }
    }
    log_run(s, &run); /* what was written back is said even when a later sector fails */
    if (st || found || !unknown)
        return st; /* fixed, or every sector matched: the window reply was garbled */
    /* Only unrecorded sectors can hold the change: make sure it is one. */
    uint32_t want = 0;
    bool same = false;
    window_expect(g, w, &want);
    st = bk_op_crc_is(s, win_start(w), win_end(g, w) - win_start(w), want, 3, &same, err);
    if (st || same)
        return st;
    return window_lost(s, g, w, err);
}

fl_status fl_integrity_finish(fl_beken *s, uint32_t a0, uint32_t a1, const uint8_t *target,
                              fl_error *err)
{
    fl_integrity *g = map_of(s);
    if (!g)
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory (flash integrity map)");
    g->active = false;
    record_job(g, a0, a1, target);
    double t0 = fl_now();
    for (int pass = 0; pass < MAX_PASSES; pass++) {
        bool rewrote = false;
        for (uint32_t w = 0; w < g->nwin; w++) {
            uint32_t ws = win_start(w), we = win_end(g, w), want;
            if (pass == 0 && a0 <= ws && we <= a1)
                continue; /* the operation has just proven it */
            if (!window_expect(g, w, &want))
                continue; /* nothing known (memory was short when mapping) */
            bool same;
            fl_status st = bk_op_crc_is(s, ws, we - ws, want, 2, &same, err);
            if (!st && !same)
                st = narrow(s, g, w, a0, a1, target, &rewrote, err);
            if (st) {
                fl_integrity_abandon(s, ws, we);
                return st;
            }
        }
        if (!rewrote) {
            fl_logf(s->ev, FL_LOG_DEBUG, "flash outside 0x%06X..0x%06X proven in %.2f s", a0, a1,
                    fl_now() - t0);
            return FL_OK;
        }
    }
    return fl_fail(err, FL_ERR_PROTOCOL,
                   "the flash keeps changing outside the written range under line errors: check "
                   "the wiring and lower --baud");
}

fl_status fl_integrity_check_boot(fl_beken *s, fl_error *err)
{
    fl_integrity *g = s->integrity;
    uint32_t boot = FL_BOOTLOADER_SIZE, last = boot / SECTOR - 1, w0;
    if (!g || !g->active || g->restoring || s->chip->loader != FL_LOADER_FLASH ||
        g->job_a0 < boot || g->size < WINDOW + SECTOR || g->sec_state[last] == SEC_UNKNOWN ||
        !window_expect(g, 0, &w0))
        return FL_OK;
    bool same;
    g->restoring = true;
    fl_status st = bk_op_crc_is(s, 0, boot, crc_join(w0, g->sec_crc[last], SECTOR), 2, &same, err);
    if (!st && !same) {
        /* Sector by sector where known; a window known only as a whole
         * cannot be put back: that is the bootloader message. */
        bool rewrote = false;
        st = narrow(s, g, 0, g->job_a0, g->job_a1, NULL, &rewrote, err);
        if (!st) {
            bool ok;
            st = bk_op_crc_is(s, last * SECTOR, SECTOR, g->sec_crc[last], 2, &ok, err);
            if (!st && !ok && g->sec_state[last] == SEC_CONTENT) {
                st = bk_op_rewrite_sector(s, last * SECTOR, g->shadow + last * SECTOR, err);
                if (!st)
                    s->sectors_restored++;
                if (!st)
                    fl_logf(s->ev, FL_LOG_WARN,
                            "restored sector 0x%06X from the backup (changed outside the written "
                            "range: a line error garbled an address)",
                            last * SECTOR);
            } else if (!st && !ok) {
                st = unrestorable(s, last * SECTOR, "the 4 KiB sector there", err);
            }
        }
    }
    g->restoring = false;
    return st;
}

/* One window or sector outside a failed job: put back what changed where the
 * content is known.  *lost is the first address that could not be. */
static fl_status salvage_range(fl_beken *s, fl_integrity *g, uint32_t a, uint32_t len,
                               uint32_t want, bool *lost, uint32_t *lost_at, fl_error *err)
{
    bool same, rewrote = false;
    fl_status st = bk_op_crc_is(s, a, len, want, 2, &same, err);
    if (st || same)
        return st;
    if (len == SECTOR) {
        if (g->sec_state[a / SECTOR] != SEC_CONTENT) {
            *lost = true, *lost_at = a;
            return FL_OK;
        }
        if ((st = bk_op_rewrite_sector(s, a, g->shadow + a, err)))
            return st;
        s->sectors_restored++;
        fl_logf(s->ev, FL_LOG_WARN,
                "restored sector 0x%06X from the backup (changed outside the written range: a "
                "line error garbled an address)",
                a);
        return FL_OK;
    }
    fl_error e;
    if (narrow(s, g, a / WINDOW, 0, 0, NULL, &rewrote, &e) == FL_ERR_VERIFY)
        *lost = true, *lost_at = a;
    return FL_OK;
}

fl_status fl_integrity_salvage(fl_beken *s, uint32_t a0, uint32_t a1, fl_status why,
                               fl_error *err)
{
    fl_integrity *g = s->integrity;
    if (!g || !g->active)
        return why;
    g->active = false;
    /* the job's own sectors are unknown now; what is around them is not */
    for (uint32_t a = a0; a < a1; a += SECTOR)
        g->sec_state[a / SECTOR] = SEC_UNKNOWN;
    for (uint32_t w = a0 / WINDOW; w < g->nwin && win_start(w) < a1; w++)
        g->win_known[w] = false;
    fl_error e;
    if (why == FL_ERR_LINK || why == FL_ERR_CANCELLED)
        return why; /* nobody to ask */
    if (why == FL_ERR_RESET) { /* it reset: take the bus again to look */
        fl_connect_opts o;
        fl_beken_recovery_opts(s, s->wire.link->has_lines ? FL_RESET_PULSE : FL_RESET_REBOOT, 6,
                               &o);
        if (fl_beken_regain_bus(s, &o, &e) != FL_OK) {
            size_t n = strlen(err->msg);
            snprintf(err->msg + n, sizeof err->msg - n,
                     " (the rest of the flash could not be checked afterwards)");
            return why;
        }
    } else if (bk_link_check(&s->wire, 0.05 + bk_wire_time(&s->wire, 64), &e) != FL_OK) {
        return why; /* still not answering: the failure says so */
    }
    s->needs_arm = false;
    bool lost = false;
    uint32_t lost_at = 0;
    fl_status st = FL_OK;
    g->restoring = true;
    for (uint32_t w = 0; w < g->nwin && !st; w++) {
        uint32_t ws = win_start(w), we = win_end(g, w), want;
        if (we <= a0 || ws >= a1) {
            if (window_expect(g, w, &want))
                st = salvage_range(s, g, ws, we - ws, want, &lost, &lost_at, &e);
            continue;
        }
        for (uint32_t a = ws; a < we && !st; a += SECTOR)
            if (!in_job(a, a0, a1) && g->sec_state[a / SECTOR] != SEC_UNKNOWN)
                st = salvage_range(s, g, a, SECTOR, g->sec_crc[a / SECTOR], &lost, &lost_at, &e);
    }
    g->restoring = false;
    if (lost) {
        char first[sizeof err->msg];
        snprintf(first, sizeof first, "%s", err->msg);
        return fl_fail(err, FL_ERR_VERIFY,
                       "%s; and flash outside the written range changed at 0x%06X (a line error "
                       "garbled an address) with no backup of it in this session",
                       first, lost_at);
    }
    return why;
}
