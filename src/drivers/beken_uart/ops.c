/* ops.c — verified flash operations on a connected session: read, erase,
 * write (skipping blocks that already match) and verify, all checked with the
 * loader's CRC and retried after resynchronising (spec beken-uart.md §8, §9). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/beken_uart/integrity.h"
#include "drivers/beken_uart/session.h"
#include "util/clock.h"
#include "util/crc32.h"

#define WINDOW 0x10000u      /* CRC / 64 KiB-erase unit */
#define BLOCK BK_BLOCK
#define MAX_TRIES 8          /* per command before giving up on a block */
#define MAX_VERIFY_REWRITES 3
/* [LBOOT] reboots after CHECK_CNT idle polls in download mode; the wall-clock
 * value is unknown (spec §6.1, the simulator guesses 1.5 s).  A quiet line
 * shorter than this cannot have triggered it. */
#define LBOOT_WATCHDOG_MIN_S 1.0

static uint32_t align_down(uint32_t v, uint32_t a) { return v & ~(a - 1); }
static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

/* Flash loaders refuse raw addresses below their own end; the flash ignores
 * address bits above its size, so logical + size reaches the same byte (§9.2). */
static uint32_t wire_addr(const fl_beken *s, uint32_t logical)
{
    if (s->chip->loader == FL_LOADER_FLASH && logical < FL_BOOTLOADER_SIZE)
        return logical + s->flash_size;
    return logical;
}

static bool all_ff(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0xFF)
            return false;
    return true;
}

static bool fatal_status(fl_status st)
{
    return st == FL_ERR_LINK || st == FL_ERR_REFUSED || st == FL_ERR_CANCELLED ||
           st == FL_ERR_INTERNAL || st == FL_ERR_RESET;
}

static fl_status classify_silence(fl_beken *s, const char *what, uint32_t addr, double silent_s,
                                  fl_error *err);

/* A flash loader has no timeout on partial frames: after a lost byte it
 * keeps waiting for the rest and would swallow our next command.  0xFF bytes
 * complete any frame harmlessly: programming 0xFF changes nothing, and an
 * address completed with 0xFF lies above 0x80000000, which the loader
 * refuses.  Then it waits for 0x01 again.  ROM loaders time out by themselves. */
fl_status bk_op_unstick(fl_beken *s, fl_error *err)
{
    if (s->chip->loader != FL_LOADER_FLASH)
        return FL_OK;
    static const uint8_t filler[BLOCK + 16] = {[0 ... BLOCK + 15] = 0xFF};
    fl_status st = fl_link_write(s->wire.link, filler, sizeof filler, err);
    if (!st)
        bk_drain_quiet(&s->wire, 0.02 + bk_wire_time(&s->wire, 64),
                       0.5 + bk_wire_time(&s->wire, sizeof filler + 2 * BLOCK));
    return st;
}

/* After a failed command: let the line go quiet, then see whether the loader
 * still answers.  If it no longer does — at our rate or at 115200 — the unit
 * has reset or lost power, and whatever was being written is incomplete. */
static fl_status recover(fl_beken *s, const char *what, uint32_t addr, const fl_error *cause,
                         fl_error *err)
{
    s->retries++;
    double silent_s = fl_now() - s->wire.last_tx_s; /* we waited this long for a reply */
    fl_logf(s->ev, FL_LOG_DEBUG, "%s at 0x%06X failed (%s); resynchronising", what, addr,
            cause->msg);
    if (fatal_status(cause->code)) {
        *err = *cause;
        return cause->code;
    }
    if (fl_cancelled(s->ev))
        return fl_fail(err, FL_ERR_CANCELLED, "cancelled during %s at 0x%06X", what, addr);
    for (int i = 0; i < 5; i++) {
        /* Let a reply in flight finish (a lost byte may have turned our next
         * bytes into the end of a frame that answers with 4 KiB). */
        bk_drain_quiet(&s->wire, 0.02 + bk_wire_time(&s->wire, 64),
                       0.5 + bk_wire_time(&s->wire, 2 * BLOCK));
        fl_error e;
        fl_status st = bk_op_unstick(s, &e);
        if (!st)
            st = bk_link_check(&s->wire, 0.05 + bk_wire_time(&s->wire, BLOCK + 64), &e);
        if (st == FL_OK) {
            s->needs_arm = false; /* a link check re-arms the flash loader's unprotect */
            /* the garbled frame may have reached the loader itself: find out
             * while it still answers (a reset later would brick the unit) */
            return fl_integrity_check_boot(s, err);
        }
        if (st == FL_ERR_LINK) {
            *err = e;
            return st;
        }
    }
    return classify_silence(s, what, addr, silent_s, err);
}

/* Listen at 115200 for the chip's own text: firmware log or boot banner.  A
 * whole line of text is needed: bytes sent at another rate read as random
 * bytes, and those must not pass for a firmware that rebooted. */
static bool firmware_is_talking(fl_beken *s, double seconds)
{
    uint8_t buf[512];
    size_t run = 0;
    double end = fl_now() + seconds;
    while (fl_now() < end) {
        size_t got = 0;
        fl_error e;
        if (fl_link_read(s->wire.link, buf, sizeof buf, end - fl_now(), &got, &e) != FL_OK)
            return false;
        for (size_t i = 0; i < got; i++) {
            if ((buf[i] == '\r' || buf[i] == '\n') && run >= 16)
                return true;
            run = buf[i] >= 0x20 && buf[i] < 0x7F ? run + 1 : 0;
        }
    }
    return false;
}

/* Reset the chip (RTS, or `reboot` to a running firmware) and take the bus
 * again at our rate. */
static fl_status reset_and_resume(fl_beken *s, uint32_t want, fl_reset_mode how, fl_error *err)
{
    fl_connect_opts o;
    fl_beken_recovery_opts(s, how, 6, &o);
    fl_status st = fl_beken_regain_bus(s, &o, err);
    if (!st && want != 115200)
        st = fl_beken_set_baud(s, want, err);
    if (!st) {
        s->resets++;
        s->needs_arm = false;
    }
    return st;
}

/* The loader is silent at our rate.  Only real evidence makes it a reset
 * (brown-out): the chip is back at 115200 — answering in its boot window
 * although we talked at another rate, or printing its firmware's text.
 * Silence alone is line trouble: a garbled frame can leave a loader busy for
 * minutes (a CRC over a garbled range), hung (a flash loader's 16-bit loop)
 * or at another rate (a garbled SetBaudRate); that is reset over RTS where
 * wired, and otherwise reported as the loader no longer answering. */
static fl_status classify_silence(fl_beken *s, const char *what, uint32_t addr, double silent_s,
                                  fl_error *err)
{
    uint32_t want = s->baud;
    fl_error e;
    const char *state = NULL;
    if (fl_link_set_baud(s->wire.link, 115200, &e) == FL_OK) {
        s->baud = 115200;
        for (int i = 0; i < 10 && !state; i++)
            if (bk_link_check(&s->wire, 0.03, &e) == FL_OK) {
                if (want == 115200) { /* same rate as before: it merely answers again */
                    s->needs_arm = false;
                    return FL_OK;
                }
                state = "came back at 115200 baud in its boot window";
            }
        if (!state && firmware_is_talking(s, 1.0))
            state = "rebooted into its firmware";
    }
    /* A flash loader left waiting for the rest of a garbled frame restarts
     * by its own idle watchdog when the line stays quiet: we caused that. */
    if (state && s->chip->loader == FL_LOADER_FLASH && silent_s >= LBOOT_WATCHDOG_MIN_S) {
        fl_logf(s->ev, FL_LOG_WARN,
                "the unit restarted during %s at 0x%06X after %.1f s without a reply (the "
                "bootloader's idle watchdog: a line error left it waiting); taking the bus "
                "again and continuing",
                what, addr, silent_s);
        fl_reset_mode how = s->wire.link->has_lines ? FL_RESET_PULSE : FL_RESET_REBOOT;
        if (reset_and_resume(s, want, how, &e) == FL_OK)
            return fl_integrity_check_boot(s, err);
        return fl_fail(err, FL_ERR_PROTOCOL,
                       "the bootloader restarted during %s at 0x%06X (its idle watchdog, after a "
                       "line error) and could not be taken again (%s): power-cycle the unit and "
                       "rerun",
                       what, addr, e.msg);
    }
    if (state)
        return fl_fail(err, FL_ERR_RESET,
                       "the unit reset during %s at 0x%06X and %s - brown-out or loose power? "
                       "Check the 3.3 V supply (it must hold up under flash writes) and GND, then "
                       "rerun: flash from 0x%06X on may be incomplete",
                       what, addr, state, addr);
    if (s->wire.link->has_lines) {
        fl_logf(s->ev, FL_LOG_WARN,
                "the bootloader stopped answering during %s at 0x%06X (a line error can leave "
                "it busy or hung); resetting it over RTS and continuing",
                what, addr);
        if (reset_and_resume(s, want, FL_RESET_PULSE, &e) == FL_OK)
            return fl_integrity_check_boot(s, err);
        return fl_fail(err, FL_ERR_PROTOCOL,
                       "the bootloader stopped answering during %s at 0x%06X and did not come "
                       "back after a reset over RTS (%s): check the wiring and lower --baud, "
                       "then power-cycle the unit and rerun",
                       what, addr, e.msg);
    }
    return fl_fail(err, FL_ERR_PROTOCOL,
                   "the bootloader stopped answering during %s at 0x%06X with no sign of a reset "
                   "(a line error can leave it busy or hung): check the wiring and lower --baud, "
                   "then power-cycle the unit and rerun",
                   what, addr);
}

/* Run one command with retries.  `op` returns FL_OK or a failure. */
typedef fl_status (*block_op)(fl_beken *s, uint32_t addr, void *arg, fl_error *err);

static fl_status with_retries(fl_beken *s, const char *what, uint32_t addr, block_op op, void *arg,
                              fl_error *err)
{
    fl_error e = {0};
    for (int attempt = 0; attempt < MAX_TRIES; attempt++) {
        if (fl_cancelled(s->ev)) /* between commands: never half a frame */
            return fl_fail(err, FL_ERR_CANCELLED, "stopped by the operator during %s at 0x%06X",
                           what, addr);
        fl_status st = op(s, addr, arg, &e);
        if (st == FL_OK)
            return FL_OK;
        if ((st = recover(s, what, addr, &e, err)))
            return st;
    }
    return fl_fail(err, FL_ERR_PROTOCOL, "%s at 0x%06X failed %d times; last error: %s", what,
                   addr, MAX_TRIES, e.msg);
}

static fl_status op_read(fl_beken *s, uint32_t addr, void *buf, fl_error *err)
{
    return bk_read_4k(&s->wire, wire_addr(s, addr), buf, err);
}

struct crc_arg { uint32_t len; uint32_t *crc; };

static fl_status op_crc(fl_beken *s, uint32_t addr, void *arg, fl_error *err)
{
    struct crc_arg *a = arg;
    fl_status st = bk_crc(&s->wire, wire_addr(s, addr), a->len, a->crc, err);
    if (s->chip->loader == FL_LOADER_FLASH)
        s->needs_arm = true; /* the flash loader re-protects everything after a CRC (§10.4) */
    return st;
}

static fl_status device_crc(fl_beken *s, uint32_t addr, uint32_t len, uint32_t *crc,
                            fl_error *err)
{
    struct crc_arg a = {len, crc};
    return with_retries(s, "CRC", addr, op_crc, &a, err);
}

static fl_status op_erase(fl_beken *s, uint32_t addr, void *arg, fl_error *err)
{
    uint8_t size_op = *(uint8_t *)arg;
    if (s->needs_arm) { /* flash loader: unprotect happens on the first erase after a link check */
        fl_status st = bk_link_check(&s->wire, 0.05 + bk_wire_time(&s->wire, 32), err);
        if (st)
            return st;
        s->needs_arm = false;
    }
    return bk_erase(&s->wire, size_op, wire_addr(s, addr), err);
}

fl_status bk_op_crc(fl_beken *s, uint32_t addr, uint32_t len, uint32_t *crc, fl_error *err)
{
    return device_crc(s, addr, len, crc, err);
}

fl_status bk_op_crc_is(fl_beken *s, uint32_t addr, uint32_t len, uint32_t want, int tries,
                       bool *match, fl_error *err)
{
    uint32_t crc;
    *match = false;
    for (int i = 0; i < tries && !*match; i++) {
        fl_status st = device_crc(s, addr, len, &crc, err);
        if (st)
            return st;
        *match = crc == want;
    }
    return FL_OK;
}

struct sr_arg { uint8_t opcode; uint8_t *value; const uint8_t *bytes; size_t n; };

static fl_status op_read_sr(fl_beken *s, uint32_t addr, void *arg, fl_error *err)
{
    struct sr_arg *a = arg;
    return bk_read_sr(&s->wire, a->opcode, a->value, err);
}

static fl_status op_write_sr(fl_beken *s, uint32_t addr, void *arg, fl_error *err)
{
    struct sr_arg *a = arg;
    return bk_write_sr(&s->wire, a->bytes, a->n, err);
}

fl_status bk_op_read_sr(fl_beken *s, uint8_t opcode, uint8_t *value, fl_error *err)
{
    struct sr_arg a = {opcode, value, NULL, 0};
    return with_retries(s, "status-register read", opcode, op_read_sr, &a, err);
}

fl_status bk_op_write_sr(fl_beken *s, const uint8_t *value, size_t nbytes, fl_error *err)
{
    struct sr_arg a = {0x01, NULL, value, nbytes};
    return with_retries(s, "status-register write", 0x01, op_write_sr, &a, err);
}

static fl_status erase_unit(fl_beken *s, uint32_t addr, uint8_t size_op, fl_error *err)
{
    return with_retries(s, "erase", addr, op_erase, &size_op, err);
}

static fl_status op_write(fl_beken *s, uint32_t addr, void *data, fl_error *err)
{
    return bk_write_4k(&s->wire, wire_addr(s, addr), data, err);
}

/* Frames carry no checksum: a garbled CRC reply looks like a mismatch.  Ask
 * again before believing one. */
static fl_status crc_matches(fl_beken *s, uint32_t addr, uint32_t len, const uint8_t *expect,
                             bool *match, fl_error *err)
{
    return bk_op_crc_is(s, addr, len, fl_beken_crc(expect, len), 2, match, err);
}

/* ---- read ------------------------------------------------------------------ */

/* Read whole blocks [addr, addr+len) (block-aligned) and prove them with the
 * device CRC; blocks that fail are re-read on their own. */
static fl_status read_window(fl_beken *s, uint32_t addr, uint32_t len, uint8_t *buf,
                             uint64_t *done, uint64_t total, fl_error *err)
{
    fl_status st;
    for (uint32_t off = 0; off < len; off += BLOCK) {
        if ((st = with_retries(s, "read", addr + off, op_read, buf + off, err)))
            return st;
        *done += BLOCK;
        fl_progress(s->ev, "read", *done > total ? total : *done, total);
    }
    uint32_t crc;
    if ((st = device_crc(s, addr, len, &crc, err)))
        return st;
    if (crc == fl_beken_crc(buf, len)) {
        fl_integrity_note_read(s, addr, len, buf);
        return FL_OK;
    }
    for (uint32_t off = 0; off < len; off += BLOCK) {
        for (int attempt = 0;; attempt++) {
            if ((st = device_crc(s, addr + off, BLOCK, &crc, err)))
                return st;
            if (crc == fl_beken_crc(buf + off, BLOCK))
                break;
            if (attempt == MAX_TRIES)
                return fl_fail(err, FL_ERR_VERIFY,
                               "block 0x%06X reads differently every time (CRC never matches)",
                               addr + off);
            s->retries++;
            fl_logf(s->ev, FL_LOG_DEBUG, "block 0x%06X: CRC mismatch, reading again", addr + off);
            if ((st = with_retries(s, "read", addr + off, op_read, buf + off, err)))
                return st;
        }
    }
    fl_integrity_note_read(s, addr, len, buf);
    return FL_OK;
}

fl_status fl_beken_read(fl_beken *s, uint32_t addr, uint32_t len, uint8_t *out, fl_error *err)
{
    fl_status st = fl_beken_check_range(s, addr, len, false, err);
    if (st || len == 0)
        return st;
    uint32_t start = align_down(addr, BLOCK);
    uint32_t end = (uint32_t)align_up((uint64_t)addr + len, BLOCK);
    uint8_t *win = malloc(WINDOW);
    if (!win)
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    uint64_t done = 0, total = end - start;
    for (uint32_t w = start; w < end && !st;) {
        uint32_t wlen = WINDOW - (w % WINDOW);
        if (wlen > end - w)
            wlen = end - w;
        st = read_window(s, w, wlen, win, &done, total, err);
        if (!st) { /* copy the part of this window the caller asked for */
            uint32_t from = w > addr ? w : addr;
            uint32_t to = w + wlen < addr + len ? w + wlen : addr + len;
            memcpy(out + (from - addr), win + (from - w), to - from);
        }
        w += wlen;
    }
    free(win);
    return st;
}

/* Whole blocks, line-level retries only: the library's proven read
 * (flash/flash_proven.c) proves each block against the CRC it asked first. */
fl_status fl_beken_read_raw(fl_beken *s, uint32_t addr, uint32_t len, uint8_t *out, fl_error *err)
{
    fl_status st = fl_beken_check_range(s, addr, len, false, err);
    if (!st && (addr % BLOCK || len % BLOCK))
        st = fl_fail(err, FL_ERR_INTERNAL, "raw read of 0x%X bytes at 0x%06X: not whole blocks",
                     len, addr);
    for (uint32_t off = 0; off < len && !st; off += BLOCK)
        st = with_retries(s, "read", addr + off, op_read, out + off, err);
    return st;
}

/* ---- erase ----------------------------------------------------------------- */

static fl_status erase_range(fl_beken *s, uint32_t addr, uint32_t len, fl_error *err);

fl_status fl_beken_erase(fl_beken *s, uint32_t addr, uint32_t len, fl_error *err)
{
    if (addr % BLOCK || len % BLOCK)
        return fl_fail(err, FL_ERR_USAGE,
                       "erase works on whole 4 KiB sectors: offset and size must be multiples "
                       "of 0x1000 (got 0x%X + 0x%X)",
                       addr, len);
    fl_status st = fl_beken_check_range(s, addr, len, true, err);
    if (st || len == 0)
        return st;
    if ((st = fl_integrity_begin(s, addr, addr + len, err)) || (st = fl_beken_unprotect(s, err)))
        return st;
    if ((st = erase_range(s, addr, len, err)))
        st = fl_integrity_salvage(s, addr, addr + len, st, err);
    else
        st = fl_integrity_finish(s, addr, addr + len, NULL, err);
    return st;
}

static fl_status erase_span(fl_beken *s, uint32_t addr, uint32_t end, uint32_t first,
                            uint32_t total, fl_error *err)
{
    for (uint32_t a = addr; a < end;) {
        bool big = a % WINDOW == 0 && end - a >= WINDOW;
        fl_status st = erase_unit(s, a, big ? BK_ERASE_64K : BK_ERASE_4K, err);
        if (st)
            return st;
        a += big ? WINDOW : BLOCK;
        if (total)
            fl_progress(s->ev, "erase", a - first, total);
    }
    return FL_OK;
}

static fl_status erase_range(fl_beken *s, uint32_t addr, uint32_t len, fl_error *err)
{
    uint32_t end = addr + len;
    fl_status st = erase_span(s, addr, end, addr, len, err);
    /* Prove it: a protected flash ignores erases while the loader says OK, and
     * a garbled address erases somewhere else (erased again here; where it
     * landed is the integrity map's business). */
    for (uint32_t w = addr; w < end && !st;) {
        uint32_t wlen = WINDOW - (w % WINDOW);
        if (wlen > end - w)
            wlen = end - w;
        for (int again = 0; !st; again++) {
            bool blank;
            if ((st = bk_op_crc_is(s, w, wlen, fl_beken_crc_ff(wlen), 2, &blank, err)) || blank)
                break;
            if (again == MAX_VERIFY_REWRITES)
                return fl_fail(err, FL_ERR_VERIFY,
                               "0x%06X..0x%06X is not blank after erasing: the flash is "
                               "write-protected or failing",
                               w, w + wlen);
            s->retries++;
            fl_logf(s->ev, FL_LOG_DEBUG, "0x%06X..0x%06X not blank after erasing; erasing again",
                    w, w + wlen);
            st = erase_span(s, w, w + wlen, w, 0, err);
        }
        w += wlen;
    }
    return st;
}

/* ---- write ----------------------------------------------------------------- */

/* Erase (unless known blank) and program one block, retrying from the erase
 * when a write fails: a half-received write may have programmed garbage. */
static fl_status program_block(fl_beken *s, uint32_t a, const uint8_t *data, bool erased,
                               fl_error *err)
{
    fl_error e = {0};
    for (int attempt = 0; attempt < MAX_TRIES; attempt++) {
        fl_status st;
        if (!erased && (st = erase_unit(s, a, BK_ERASE_4K, err)))
            return st;
        if (all_ff(data, BLOCK))
            return FL_OK;
        st = op_write(s, a, (void *)data, &e);
        if (st == FL_OK) {
            s->blocks_written++;
            return FL_OK;
        }
        if ((st = recover(s, "write", a, &e, err)))
            return st;
        erased = false;
    }
    return fl_fail(err, FL_ERR_PROTOCOL, "write at 0x%06X failed %d times; last error: %s", a,
                   MAX_TRIES, e.msg);
}

fl_status bk_op_rewrite_sector(fl_beken *s, uint32_t a, const uint8_t *data, fl_error *err)
{
    for (int rewrite = 0;; rewrite++) {
        bool ok;
        fl_status st = program_block(s, a, data, false, err);
        if (!st)
            st = crc_matches(s, a, BLOCK, data, &ok, err);
        if (st || ok)
            return st;
        if (rewrite == MAX_VERIFY_REWRITES)
            return fl_fail(err, FL_ERR_VERIFY,
                           "block 0x%06X does not hold the data after %d rewrites: "
                           "write-protected or worn-out flash",
                           a, MAX_VERIFY_REWRITES);
        s->retries++;
    }
}

/* Compare each block's device CRC with the target: same[i] / blank[i].
 * With `trust_map`, a block whose CRC this session already proved (the
 * station's backup just read the whole flash) is not asked again: a unit's
 * first write then costs no CRC round trips before it starts.  Whatever is
 * decided this way is proven after the write, as every write is (the
 * window CRCs, and fl_integrity_finish over the whole job). */
static fl_status classify_blocks(fl_beken *s, uint32_t w, uint32_t n, const uint8_t *target,
                                 bool trust_map, bool *same, bool *blank, uint32_t *ndiff,
                                 fl_error *err)
{
    const uint32_t ff = fl_beken_crc_ff(BLOCK);
    *ndiff = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t crc;
        fl_status st = FL_OK;
        if (!trust_map || !fl_integrity_known_crc(s, w + i * BLOCK, &crc))
            st = device_crc(s, w + i * BLOCK, BLOCK, &crc, err);
        if (st)
            return st;
        same[i] = crc == fl_beken_crc(target + i * BLOCK, BLOCK);
        blank[i] = crc == ff;
        *ndiff += !same[i];
    }
    return FL_OK;
}

static fl_status verify_window_written(fl_beken *s, uint32_t w, uint32_t n,
                                       const uint8_t *target, fl_error *err)
{
    uint32_t crc;
    fl_status st = device_crc(s, w, n * BLOCK, &crc, err);
    if (st || crc == fl_beken_crc(target, n * BLOCK))
        return st;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *blk = target + i * BLOCK;
        for (int rewrite = 0;; rewrite++) {
            if ((st = device_crc(s, w + i * BLOCK, BLOCK, &crc, err)))
                return st;
            if (crc == fl_beken_crc(blk, BLOCK))
                break;
            if (rewrite == MAX_VERIFY_REWRITES)
                return fl_fail(err, FL_ERR_VERIFY,
                               "block 0x%06X does not hold the data after %d rewrites: "
                               "write-protected or worn-out flash",
                               w + i * BLOCK, MAX_VERIFY_REWRITES);
            s->retries++;
            fl_logf(s->ev, FL_LOG_DEBUG, "block 0x%06X failed verification; rewriting",
                    w + i * BLOCK);
            if ((st = program_block(s, w + i * BLOCK, blk, false, err)))
                return st;
        }
    }
    return FL_OK;
}

/* How a window's blocks are erased: one by one (4 KiB erases where needed),
 * or by one 32 KiB or 64 KiB erase that covers them. */
enum { BY_BLOCK = 0, BY_32K, BY_64K };

/* Typical erase times of 25-series NOR in units of a 4 KiB erase (about
 * 45 ms): 32 KiB ≈ 3.3, 64 KiB ≈ 5.5.  Only the ratios matter here. */
#define COST_ERASE_32K 3.3
#define COST_ERASE_64K 5.5

/* The same unit for sending one 4 KiB block again: a big erase also wipes
 * blocks that already held their data, and those must be programmed again. */
static double resend_cost(const fl_beken *s)
{
    return (BLOCK * 10.0 / (s->baud ? s->baud : 115200)) / 0.045;
}

/* May a block known blank be programmed without its own erase?  Not on flash
 * loaders: they re-protect after every CRC and unprotect on an erase, so there
 * a write always follows an erase, even into blank flash. */
static bool blank_needs_no_erase(const fl_beken *s)
{
    return s->chip->loader == FL_LOADER_ROM;
}

/* Blocks [i0, i1) of a window: what erasing them one by one costs, and the
 * extra sending a big erase over them causes. */
static void erase_costs(const fl_beken *s, uint32_t i0, uint32_t i1, const uint8_t *target,
                        const bool *same, const bool *blank, double *by_block, double *extra)
{
    bool may_skip_erase = blank_needs_no_erase(s);
    *by_block = *extra = 0;
    for (uint32_t i = i0; i < i1; i++) {
        if (!same[i] && !(may_skip_erase && blank[i]))
            *by_block += 1.0;
        if (same[i] && !all_ff(target + i * BLOCK, BLOCK))
            *extra += resend_cost(s);
    }
}

/* Decide how[i] for the n blocks of the window at w: the cheapest of a 64 KiB
 * erase, 32 KiB erases over aligned halves (ROM loaders: the flash loaders
 * know only 4 KiB and 64 KiB) and erasing block by block.  Every choice is
 * proven the same way afterwards (the window CRC), so this only decides time. */
static void plan_erases(const fl_beken *s, uint32_t w, uint32_t n, const uint8_t *target,
                        const bool *same, const bool *blank, uint8_t *how)
{
    const uint32_t half = WINDOW / BLOCK / 2, half_bytes = WINDOW / 2;
    double cost_halves = 0;
    memset(how, BY_BLOCK, n);
    /* segments between absolute 32 KiB boundaries: [h0, h1) */
    for (uint32_t h0 = 0; h0 < n;) {
        uint32_t to_boundary = (half_bytes - (w + h0 * BLOCK) % half_bytes) / BLOCK;
        uint32_t h1 = h0 + to_boundary < n ? h0 + to_boundary : n;
        double by_block, extra;
        erase_costs(s, h0, h1, target, same, blank, &by_block, &extra);
        if (s->chip->loader == FL_LOADER_ROM && h1 - h0 == half &&
            COST_ERASE_32K + extra < by_block) {
            memset(how + h0, BY_32K, h1 - h0);
            cost_halves += COST_ERASE_32K + extra;
        } else {
            cost_halves += by_block;
        }
        h0 = h1;
    }
    if (n == WINDOW / BLOCK) {
        double by_block, extra;
        erase_costs(s, 0, n, target, same, blank, &by_block, &extra);
        if (COST_ERASE_64K + extra < cost_halves)
            memset(how, BY_64K, n);
    }
}

/* Program blocks [i0, i1) of a window that one big erase has just cleared. */
static fl_status program_erased(fl_beken *s, uint32_t w, uint32_t i0, uint32_t i1,
                                const uint8_t *target, fl_error *err)
{
    fl_status st = FL_OK;
    for (uint32_t i = i0; i < i1 && !st; i++)
        st = program_block(s, w + i * BLOCK, target + i * BLOCK, true, err);
    return st;
}

static fl_status write_window(fl_beken *s, uint32_t w, uint32_t n, const uint8_t *target,
                              bool trust_map, fl_error *err)
{
    bool same[WINDOW / BLOCK], blank[WINDOW / BLOCK];
    uint8_t how[WINDOW / BLOCK];
    uint32_t ndiff;
    fl_status st = classify_blocks(s, w, n, target, trust_map, same, blank, &ndiff, err);
    if (st)
        return st;
    s->blocks_skipped += n - ndiff;
    if (ndiff == 0) /* from the map: asked once for the whole window (cheap) */
        return trust_map ? verify_window_written(s, w, n, target, err) : FL_OK;
    bool may_skip_erase = blank_needs_no_erase(s);
    plan_erases(s, w, n, target, same, blank, how);
    for (uint32_t i = 0; i < n && !st;) {
        if (how[i] == BY_64K || how[i] == BY_32K) {
            uint32_t span = how[i] == BY_64K ? n : WINDOW / BLOCK / 2; /* aligned: planned so */
            st = erase_unit(s, w + i * BLOCK, how[i] == BY_64K ? BK_ERASE_64K : BK_ERASE_32K, err);
            if (!st)
                st = program_erased(s, w, i, i + span, target, err);
            i += span;
            continue;
        }
        if (!same[i])
            st = program_block(s, w + i * BLOCK, target + i * BLOCK, may_skip_erase && blank[i],
                               err);
        i++;
    }
    if (st)
        return st;
    return verify_window_written(s, w, n, target, err);
}

/* The 4 KiB-aligned image of [a0, a1) with data placed at addr; partial head
 * and tail sectors are filled from flash so their other bytes survive. */
static fl_status build_target(fl_beken *s, uint32_t addr, const uint8_t *data, uint32_t len,
                              uint32_t a0, uint32_t a1, uint8_t **out, fl_error *err)
{
    uint8_t *t = malloc(a1 - a0);
    if (!t)
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    fl_status st = FL_OK;
    if (addr != a0)
        st = fl_beken_read(s, a0, BLOCK, t, err);
    if (!st && addr + len != a1 && (a1 - BLOCK != a0 || addr == a0))
        st = fl_beken_read(s, a1 - BLOCK, BLOCK, t + (a1 - BLOCK - a0), err);
    if (st) {
        free(t);
        return fl_fail_prefix(err, "reading the partial sectors around the image");
    }
    memcpy(t + (addr - a0), data, len);
    *out = t;
    return FL_OK;
}

/* One CRC per window over [a0, a1); windows that differ are written again.
 * *clean says whether every window matched. */
static fl_status recheck_windows(fl_beken *s, uint32_t a0, uint32_t a1, const uint8_t *target,
                                 bool *clean, fl_error *err)
{
    *clean = true;
    for (uint32_t w = a0; w < a1;) {
        uint32_t wlen = WINDOW - (w % WINDOW), crc;
        if (wlen > a1 - w)
            wlen = a1 - w;
        bool match;
        fl_status st = crc_matches(s, w, wlen, target + (w - a0), &match, err);
        if (st)
            return st;
        (void)crc;
        if (!match) {
            *clean = false;
            fl_logf(s->ev, FL_LOG_WARN, "0x%06X..0x%06X changed after it was verified (a line "
                                        "error hit an address); writing it again",
                    w, w + wlen);
            if ((st = write_window(s, w, wlen / BLOCK, target + (w - a0), false, err)))
                return st;
        }
        w += wlen;
    }
    return FL_OK;
}

fl_status fl_beken_write(fl_beken *s, uint32_t addr, const uint8_t *data, uint32_t len,
                         fl_error *err)
{
    fl_status st = fl_beken_check_range(s, addr, len, true, err);
    if (st || len == 0)
        return st;
    uint32_t a0 = align_down(addr, BLOCK), a1 = (uint32_t)align_up((uint64_t)addr + len, BLOCK);
    uint8_t *target = NULL;
    if ((st = build_target(s, addr, data, len, a0, a1, &target, err)))
        return st;
    unsigned troubles = s->retries + s->resets;
    /* Everything outside [a0, a1) is mapped before the first erase... */
    if ((st = fl_integrity_begin(s, a0, a1, err)) || (st = fl_beken_unprotect(s, err))) {
        free(target);
        return st;
    }
    for (uint32_t w = a0; w < a1 && !st;) {
        uint32_t wlen = WINDOW - (w % WINDOW);
        if (wlen > a1 - w)
            wlen = a1 - w;
        st = write_window(s, w, wlen / BLOCK, target + (w - a0), true, err);
        w += wlen;
        if (!st)
            fl_progress(s->ev, "write", w - a0, a1 - a0);
    }
    /* A garbled address in an erase or write frame lands somewhere else: after
     * any line trouble, prove the whole range again before calling it done. */
    bool clean = troubles == s->retries + s->resets;
    for (int pass = 0; !st && !clean && pass < MAX_VERIFY_REWRITES; pass++)
        st = recheck_windows(s, a0, a1, target, &clean, err); /* clean: every window matched */
    if (!st && !clean) /* the line, not the unit: a station ERROR */
        st = fl_fail(err, FL_ERR_PROTOCOL, "the written range keeps changing under line errors: "
                                           "check the wiring and lower --baud");
    /* ... and proven again now, the bootloader area included. */
    if (st)
        st = fl_integrity_salvage(s, a0, a1, st, err);
    else
        st = fl_integrity_finish(s, a0, a1, target, err);
    free(target);
    return st;
}

/* ---- verify ---------------------------------------------------------------- */

static fl_status verify_partial_block(fl_beken *s, uint32_t from, uint32_t to,
                                      const uint8_t *expect, bool *ok, fl_error *err)
{
    uint8_t *blk = malloc(BLOCK);
    if (!blk)
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    uint32_t b = align_down(from, BLOCK);
    fl_status st = fl_beken_read(s, b, BLOCK, blk, err);
    if (!st)
        *ok = !memcmp(blk + (from - b), expect, to - from);
    free(blk);
    return st;
}

fl_status fl_beken_verify(fl_beken *s, uint32_t addr, const uint8_t *data, uint32_t len,
                          uint32_t *bad_addr, fl_error *err)
{
    fl_status st = fl_beken_check_range(s, addr, len, false, err);
    if (st || len == 0)
        return st;
    uint32_t end = addr + len;
    for (uint32_t a = addr; a < end;) {
        uint32_t next = (uint32_t)align_up((uint64_t)a + 1, BLOCK);
        bool ok = true;
        if (a % BLOCK || next > end) { /* partial sector: compare bytes */
            uint32_t to = next < end ? next : end;
            if ((st = verify_partial_block(s, a, to, data + (a - addr), &ok, err)))
                return st;
            next = to;
        } else { /* whole sectors up to the next window boundary: one CRC */
            next = (uint32_t)align_up((uint64_t)a + 1, WINDOW);
            uint32_t last = align_down(end, BLOCK);
            if (next > last)
                next = last;
            if ((st = crc_matches(s, a, next - a, data + (a - addr), &ok, err)))
                return st;
            if (!ok) { /* find the first bad sector for the report */
                bool found = false;
                for (uint32_t b = a; b < next && !found; b += BLOCK) {
                    bool good;
                    if ((st = crc_matches(s, b, BLOCK, data + (b - addr), &good, err)))
                        return st;
                    if (!good) {
                        a = b;
                        found = true;
                    }
                }
                ok = !found; /* every sector matched: the window reply was garbled */
            }
        }
        if (!ok) {
            if (bad_addr)
                *bad_addr = a;
            return fl_fail(err, FL_ERR_VERIFY, "flash differs from the file in the sector at 0x%06X",
                           align_down(a, BLOCK));
        }
        fl_progress(s->ev, "verify", next - addr, len);
        a = next;
    }
    return FL_OK;
}
