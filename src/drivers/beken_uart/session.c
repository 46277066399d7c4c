/* session.c — getting the bus, baud switching, identification, protection
 * (spec beken-uart.md §6, §7, §9.7, §10, §11). */
#include "drivers/beken_uart/session.h"
#include "formats/beken_rf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/beken_uart/integrity.h"
#include "util/clock.h"
#include "util/crc32.h"

#define LINK_CHECK_WAIT_S 0.015 /* per attempt: frame + reply take ~1.2 ms at 115200 */
#define BAUD_DELAY_MS 20

void fl_connect_opts_init(fl_connect_opts *o)
{
    fl_flash_opts_init(o);
}

void fl_beken_identity(const fl_beken *b, fl_identity *id)
{
    id->flash_size = b->flash_size;
    id->have_jedec = b->have_jedec;
    memcpy(id->jedec, b->jedec, sizeof id->jedec);
    if (b->part)
        snprintf(id->flash_part, sizeof id->flash_part, "%s %s", b->part->vendor, b->part->name);
    id->have_chip_id = b->have_chip_id;
    id->chip_id = b->chip_id;
    memcpy(id->chip_id_norm, b->chip_id_norm, sizeof id->chip_id_norm);
    memcpy(id->boot_version, b->boot_version, sizeof id->boot_version);
    id->have_sr = b->have_sr;
    id->sr = b->sr;
    id->baud = b->baud;
    id->baud_max_failed = b->baud_max_failed;
}

fl_status fl_beken_open(fl_link *link, const fl_chip *chip, const fl_events *ev, fl_beken **out,
                        fl_error *err)
{
    fl_beken *s = calloc(1, sizeof *s);
    if (!s)
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    if (!chip) {
        /* Until detected, getting the bus is the same for every Beken loader;
         * the provisional chip only fills the fields. */
        s->chip_unknown = true;
        chip = fl_chip_find("bk7231n");
    }
    s->wire.link = link;
    s->wire.loader = chip->loader;
    s->chip = chip;
    s->ev = ev;
    s->flash_size = chip->default_flash_size;
    s->baud = link->baud;
    *out = s;
    return FL_OK;
}

void fl_beken_close(fl_beken *s)
{
    if (s)
        fl_integrity_free(s->integrity);
    free(s);
}

/* ---- getting the bus ------------------------------------------------------ */

/* "BK7231N", or "Beken" while the chip is still to be detected. */
static const char *chip_label(const fl_beken *s)
{
    return s->chip_unknown ? "Beken" : s->chip->display;
}

static bool link_check_retry(fl_beken *s, int tries, double wait);

/* Rates a loader may still be listening at: a previous session switched it
 * (or crashed before rebooting it) and a loader keeps its rate until reset.
 * The GUI tool's and bk7231tools' common choices, then the rest of the
 * ladder --baud max climbs, the fastest proven first. */
static const uint32_t likely_rates[] = {921600, 1500000, 2000000, 460800, 230400,
                                        1000000, 3000000, 2500000, 1843200, 1228800};
#define QUICK_CHECK_S 0.02 /* one LinkCheck: the reply is back in ~1 ms at any rate */

/* One LinkCheck at `rate`; *linked with s->baud set when the loader answers. */
static fl_status check_at(fl_beken *s, uint32_t rate, double wait, bool *linked, fl_error *err)
{
    fl_status st;
    *linked = false;
    if (rate != s->wire.link->baud) {
        if (!s->wire.link->has_baud)
            return FL_OK; /* tcp:// bridges keep one rate */
        if ((st = fl_link_set_baud(s->wire.link, rate, err)))
            return st;
        bk_discard(&s->wire); /* what arrived at the old rate is noise */
    }
    fl_error e;
    st = bk_link_check(&s->wire, wait, &e);
    if (st == FL_ERR_LINK) {
        *err = e;
        return st;
    }
    if (st == FL_OK) {
        s->baud = rate;
        *linked = true;
    }
    return FL_OK;
}

static bool in_list(const uint32_t *v, size_t n, uint32_t x)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == x)
            return true;
    return false;
}

/* The rates worth one quick LinkCheck before anything is reset, most likely
 * first: the rate flashline last left the loader at on this port, 115200 (a
 * loader never switched, or one in its boot window), the rate asked for. */
static size_t first_rates(const fl_connect_opts *o, uint32_t *out)
{
    size_t n = 0;
    if (o->last_baud && o->last_baud != FL_BAUD_MAX)
        out[n++] = o->last_baud;
    if (!in_list(out, n, 115200))
        out[n++] = 115200;
    if (o->baud && o->baud != FL_BAUD_MAX && !in_list(out, n, o->baud))
        out[n++] = o->baud;
    return n;
}

/* One LinkCheck at each of the first rates (quick) or at every other likely
 * rate; *linked with s->baud set when the loader answers, else the link is
 * back at 115200. */
static fl_status sweep_rates(fl_beken *s, const fl_connect_opts *o, bool quick, bool *linked,
                             fl_error *err)
{
    enum { NLIKELY = sizeof likely_rates / sizeof likely_rates[0] };
    uint32_t first[3], order[NLIKELY + 3];
    size_t nfirst = first_rates(o, first), n = 0;
    if (quick) {
        memcpy(order, first, nfirst * sizeof *first);
        n = nfirst;
    } else {
        for (size_t i = 0; i < NLIKELY; i++)
            if (!in_list(first, nfirst, likely_rates[i]))
                order[n++] = likely_rates[i];
    }
    *linked = false;
    fl_status st = FL_OK;
    for (size_t i = 0; i < n && !*linked; i++) {
        if (fl_cancelled(s->ev))
            return fl_fail(err, FL_ERR_CANCELLED, "cancelled while waiting for the chip");
        if ((st = check_at(s, order[i], QUICK_CHECK_S, linked, err)))
            return st;
    }
    if (!*linked && s->wire.link->baud != 115200) {
        if ((st = fl_link_set_baud(s->wire.link, 115200, err)))
            return st;
        bk_discard(&s->wire);
    }
    return FL_OK;
}

/* Link-check repeatedly for `seconds`; true once the loader answers. */
static bool spam_link_check(fl_beken *s, double seconds, fl_status *fatal, fl_error *err)
{
    double end = fl_now() + seconds;
    while (fl_now() < end) {
        fl_error e;
        fl_status st = bk_link_check(&s->wire, LINK_CHECK_WAIT_S, &e);
        if (st == FL_OK)
            return true;
        if (st == FL_ERR_LINK) { /* the transport itself died */
            *err = e;
            *fatal = st;
            return false;
        }
        if (fl_cancelled(s->ev)) {
            *fatal = fl_fail(err, FL_ERR_CANCELLED, "cancelled while waiting for the chip");
            return false;
        }
    }
    return false;
}

/* RTS low → CEN low holds the chip in reset; releasing it starts the ROM /
 * bootloader window.  Same order as bk7231tools (§6.2). */
static fl_status pulse_reset(fl_beken *s, fl_error *err)
{
    fl_status st = fl_link_set_lines(s->wire.link, 1, 1, err);
    if (!st) {
        fl_sleep(0.1);
        st = fl_link_set_lines(s->wire.link, 0, -1, err);
    }
    if (!st) {
        fl_sleep(0.05);
        st = fl_link_set_lines(s->wire.link, -1, 0, err);
    }
    return st;
}

static fl_status send_reboot_text(fl_beken *s, fl_error *err)
{
    static const char text[] = "reboot\r\n";
    return fl_link_write(s->wire.link, text, sizeof text - 1, err);
}

typedef enum { STAGE_QUICK, STAGE_CHECK, STAGE_PROBE, STAGE_REBOOT, STAGE_PULSE, STAGE_PROMPT } stage_kind;

/* One attempt of a strategy: what to do, then how long to link-check. */
static fl_status run_stage(fl_beken *s, const fl_connect_opts *o, stage_kind kind,
                           double listen_s, bool *linked, fl_error *err)
{
    fl_status st = FL_OK;
    switch (kind) {
    case STAGE_CHECK: break;
    case STAGE_QUICK:
    case STAGE_PROBE:
        /* not listening stages: one LinkCheck per rate */
        return sweep_rates(s, o, kind == STAGE_QUICK, linked, err);
    case STAGE_REBOOT:
        fl_logf(s->ev, FL_LOG_DEBUG, "sending 'reboot' to a running OpenBeken");
        st = send_reboot_text(s, err);
        break;
    case STAGE_PULSE:
        if (!s->wire.link->has_lines)
            return FL_OK;
        fl_logf(s->ev, FL_LOG_DEBUG, "pulsing RTS/DTR (CEN) to reset the chip");
        st = pulse_reset(s, err);
        break;
    case STAGE_PROMPT:
        fl_prompt(s->ev, "Power-cycle the unit now (or briefly short CEN to GND) - waiting for "
                         "its bootloader on %s",
                  s->wire.link->url);
        break;
    }
    if (st)
        return st;
    fl_status fatal = FL_OK;
    *linked = spam_link_check(s, listen_s, &fatal, err);
    return fatal;
}

/* Round `round` of --reset auto (the order --help explains):
 *   0  one LinkCheck at the rate last left on this port, 115200 and --baud
 *      (~20 ms each): a loader still in download mode answers at once;
 *   1  RTS/DTR pulse, then LinkChecks for 0.35 s (the ROM window is 0.25 s):
 *      a chip running its firmware costs what a plain pulse costs;
 *   2  one LinkCheck at every other likely rate: a loader left at a rate not
 *      remembered, on a fixture whose RTS does not reach CEN;
 *   3  `reboot` text to a running OpenBeken (no CEN wiring at all), 1 s;
 *   4  another pulse with a longer listen (a slow power supply), 1.2 s;
 *   then ask for a power-cycle and pulse/reboot in turn until --link-timeout. */
static stage_kind pick_auto(int round, bool can_pulse, double *listen)
{
    switch (round) {
    case 0: return *listen = 0, STAGE_QUICK;
    case 1: return *listen = 0.35, can_pulse ? STAGE_PULSE : STAGE_CHECK;
    case 2: return *listen = 0, STAGE_PROBE;
    case 3: return *listen = 1.0, STAGE_REBOOT;
    case 4: return *listen = 1.2, can_pulse ? STAGE_PULSE : STAGE_CHECK;
    default:
        if ((round - 5) % 2 == 0)
            return *listen = 5.0, STAGE_PROMPT;
        return *listen = 2.0, can_pulse ? STAGE_PULSE : STAGE_REBOOT;
    }
}

/* Round `round` of the strategy `o->reset`: what to do and how long to listen. */
static stage_kind pick_stage(const fl_connect_opts *o, int round, bool can_pulse, double *listen)
{
    /* A loader left at another rate takes neither `reboot` text nor needs a
     * power-cycle: those strategies ask at the likely rates first. */
    bool probe_first = round <= 1 && (o->reset == FL_RESET_REBOOT || o->reset == FL_RESET_MANUAL ||
                                      (o->reset == FL_RESET_PULSE && !can_pulse));
    if (probe_first)
        return *listen = 0, round == 0 ? STAGE_QUICK : STAGE_PROBE;
    switch (o->reset) {
    case FL_RESET_NONE: /* already in download mode: at 115200, or at a rate left behind */
        if (round == 0)
            return *listen = 0, STAGE_QUICK;
        *listen = 0.5;
        return round % 2 ? STAGE_PROBE : STAGE_CHECK;
    case FL_RESET_PULSE: *listen = 2.0; return can_pulse ? STAGE_PULSE : STAGE_CHECK;
    case FL_RESET_REBOOT: *listen = 2.0; return STAGE_REBOOT;
    case FL_RESET_MANUAL: *listen = 10.0; return STAGE_PROMPT;
    case FL_RESET_AUTO:
    default: return pick_auto(round, can_pulse, listen);
    }
}

/* An answer counts once the line has gone quiet after it and the loader
 * answers again: replies an earlier session left on the way (a pty or a
 * bridge buffers them) keep coming and then stop, and they are never asked
 * for - waiting for quiet before the first check instead would cost every
 * unit the wait, and a chatty firmware's log never goes quiet. */
static bool answer_repeated(fl_beken *s, fl_status *fatal, fl_error *err)
{
    *fatal = FL_OK;
    bk_drain_quiet(&s->wire, 0.02, 0.5);
    if (link_check_retry(s, 2, QUICK_CHECK_S))
        return true;
    fl_logf(s->ev, FL_LOG_DEBUG, "an answer that was not repeated (stale replies on the line)");
    if (s->baud != 115200) {
        s->baud = 115200;
        if ((*fatal = fl_link_set_baud(s->wire.link, 115200, err)))
            return false;
    }
    bk_discard(&s->wire);
    return false;
}

fl_status fl_beken_get_bus(fl_beken *s, const fl_connect_opts *o, fl_error *err)
{
    if (!s->same_unit) {
        fl_integrity_forget(s); /* what it knew may describe another unit's flash */
        s->conn = *o; /* the caller's own ask: fallbacks and recoveries follow it */
        s->have_conn = true;
    }
    fl_status st = fl_link_set_baud(s->wire.link, 115200, err);
    if (st)
        return st;
    s->baud = 115200;
    /* Stale replies and a running firmware's log: dropped, not waited out
     * (a chatty application never goes quiet); every check discards again. */
    bk_discard(&s->wire);
    double start = fl_now(), limit = o->link_timeout_s > 0 ? o->link_timeout_s : 20.0;
    bool linked = false;
    bool can_pulse = s->wire.link->has_lines;
    fl_logf(s->ev, FL_LOG_INFO, "waiting for the %s bootloader on %s", chip_label(s),
            s->wire.link->url);
    /* The staged default, like ltchiptool's: maybe it is already listening
     * (at 115200, or at the rate an earlier session left it at), maybe
     * OpenBeken runs and takes `reboot`, maybe CEN is wired to RTS;
     * otherwise only a human can reset it. */
    for (int round = 0; !linked && fl_now() - start < limit; round++) {
        double left = limit - (fl_now() - start), listen = 0;
        stage_kind kind = pick_stage(o, round, can_pulse, &listen);
        if (listen > left)
            listen = left;
        if ((st = run_stage(s, o, kind, listen, &linked, err)))
            return st;
        if (linked && !(linked = answer_repeated(s, &st, err)) && st)
            return st;
    }
    if (!linked)
        return fl_fail(err, FL_ERR_NO_BUS,
                       "no answer from the %s bootloader on %s within %.0f s: check TX/RX wiring "
                       "(crossed), 3.3 V power and GND, then reset the unit (CEN to GND or "
                       "power-cycle) while flashline waits",
                       chip_label(s), s->wire.link->url, limit);
    if (s->baud != 115200)
        fl_logf(s->ev, FL_LOG_INFO,
                "the loader was still listening at %u baud (left there by an earlier session)",
                s->baud);
    s->needs_arm = false;
    fl_logf(s->ev, FL_LOG_INFO, "bootloader answered after %.2f s", fl_now() - start);
    return FL_OK;
}

void fl_beken_recovery_opts(const fl_beken *s, fl_reset_mode how, double timeout_s,
                            fl_connect_opts *o)
{
    fl_connect_opts_init(o);
    o->reset = how;
    o->link_timeout_s = timeout_s;
    o->last_baud = s->baud; /* where the loader was talked to last: asked there first */
    if (!s->have_conn)
        return;
    if (s->conn.reset != FL_RESET_AUTO)
        o->reset = s->conn.reset; /* e.g. none: RTS is not wired to CEN here, never pulse */
    if (s->conn.link_timeout_s > 0 && s->conn.link_timeout_s < timeout_s)
        o->link_timeout_s = s->conn.link_timeout_s;
    o->baud = s->conn.baud;
}

fl_status fl_beken_regain_bus(fl_beken *s, const fl_connect_opts *o, fl_error *err)
{
    bool was = s->same_unit;
    s->same_unit = true;
    fl_status st = fl_beken_get_bus(s, o, err);
    s->same_unit = was;
    return st;
}

/* ---- baud switching ------------------------------------------------------- */

static bool link_check_retry(fl_beken *s, int tries, double wait)
{
    for (int i = 0; i < tries; i++) {
        fl_error e;
        if (bk_link_check(&s->wire, wait, &e) == FL_OK)
            return true;
    }
    return false;
}

/* Options to take the bus again at 115200 after a rate failed: the way the
 * caller asked for it (reset mode, link timeout), else the defaults within 10 s. */
static void retake_opts(const fl_beken *s, fl_connect_opts *o)
{
    if (s->have_conn) {
        *o = s->conn;
    } else {
        fl_connect_opts_init(o);
        o->link_timeout_s = 10;
    }
    o->baud = 115200; /* not worth probing for: the rate that just failed */
}

fl_status fl_beken_set_baud(fl_beken *s, uint32_t baud, fl_error *err)
{
    if (baud == s->baud)
        return FL_OK;
    if (!s->wire.link->has_baud) { /* tcp:// bridges keep their own rate: the chip must too */
        fl_logf(s->ev, FL_LOG_WARN, "%s cannot change the adapter's baud rate; staying at %u",
                s->wire.link->url, s->baud);
        return FL_OK;
    }
    fl_error e;
    fl_status st = bk_set_baud(&s->wire, baud, BAUD_DELAY_MS, &e);
    if (st == FL_ERR_LINK) {
        *err = e;
        return st;
    }
    /* tyutool: a lost echo is no failure.  The waits are generous because
     * they cost only when the echo was lost, and a busy host (or a pty
     * bridge) can be late by more than a few byte times. */
    if (st == FL_OK || link_check_retry(s, 12, 0.25)) {
        s->baud = baud;
        fl_logf(s->ev, FL_LOG_INFO, "switched to %u baud", baud);
        return FL_OK;
    }
    /* Fall back to 115200: first assume the chip never switched, then re-link. */
    fl_logf(s->ev, FL_LOG_WARN, "switching to %u baud failed (%s); falling back to 115200", baud,
            e.msg);
    if ((st = fl_link_set_baud(s->wire.link, 115200, err)))
        return st;
    s->baud = 115200;
    bk_drain_quiet(&s->wire, 0.05, 0.5);
    if (link_check_retry(s, 5, 0.05))
        return FL_OK;
    /* Take the bus again the way the caller asked for it (reset mode, link
     * timeout): a fixture without RTS must not be pulsed, nor an operator
     * kept waiting longer than --link-timeout. */
    fl_connect_opts o;
    retake_opts(s, &o);
    fl_logf(s->ev, FL_LOG_INFO, "taking the bus again at 115200 (--reset %s, within %.0f s)",
            fl_reset_mode_name(o.reset), o.link_timeout_s);
    return fl_beken_regain_bus(s, &o, err);
}

/* ---- identification ------------------------------------------------------- */

/* The JEDEC ID sets the flash size: a garbled byte must not.  The first
 * answer given twice is believed. */
static fl_status read_jedec_agreed(fl_beken *s, fl_error *err)
{
    enum { MAX_ASKS = 8 };
    uint8_t seen[MAX_ASKS][3];
    int n = 0;
    fl_status st = FL_ERR_TIMEOUT;
    for (int i = 0; i < MAX_ASKS; i++) {
        if ((st = bk_get_jedec(&s->wire, seen[n], err)) == FL_ERR_LINK)
            return st;
        if (st)
            continue;
        for (int k = 0; k < n; k++)
            if (!memcmp(seen[k], seen[n], 3)) {
                memcpy(s->jedec, seen[n], 3);
                return FL_OK;
            }
        n++;
    }
    return st ? st : fl_fail(err, FL_ERR_PROTOCOL, "the flash ID differs on every request");
}

static fl_status identify_rom(fl_beken *s, fl_error *err)
{
    fl_error e;
    fl_status st = FL_ERR_TIMEOUT;
    int timeouts = 0;
    for (int i = 0; i < 3 && st != FL_OK && st != FL_ERR_LINK; i++) { /* a lost reply is no verdict */
        st = bk_read_reg(&s->wire, s->chip->chip_id_reg, &s->chip_id, 0.3, &e);
        timeouts += st == FL_ERR_TIMEOUT;
    }
    if (st != FL_OK && timeouts == 3 && link_check_retry(s, 3, 0.05))
        return fl_fail(err, FL_ERR_CHIP,
                       "the loader does not answer ReadReg: this is a flash-loader chip "
                       "(BK7231T/U or BK7252), not %s - check --chip",
                       s->chip->name);
    if (st) {
        *err = e;
        return fl_fail_prefix(err, "reading the chip ID");
    }
    s->have_chip_id = true;
    fl_chip_id_normalise(s->chip_id, s->chip_id_norm);
    /* Frames carry no checksum: a garbled reply looks like another chip.
     * Call it a mismatch only when the same answer comes twice. */
    uint32_t first = s->chip_id;
    for (int i = 0; i < 4 && s->chip->chip_id_norm &&
                    strcmp(s->chip_id_norm, s->chip->chip_id_norm) != 0; i++) {
        uint32_t again;
        if ((st = bk_read_reg(&s->wire, s->chip->chip_id_reg, &again, 0.3, &e)) == FL_ERR_LINK)
            break;
        if (st)
            continue;
        fl_chip_id_normalise(again, s->chip_id_norm);
        s->chip_id = again;
        if (again == first)
            break;
        first = again;
    }
    if (st == FL_ERR_LINK) {
        *err = e;
        return st;
    }
    if (s->chip->chip_id_norm && strcmp(s->chip_id_norm, s->chip->chip_id_norm) != 0) {
        const fl_chip *other = fl_chip_by_id(s->chip_id_norm);
        return fl_fail(err, FL_ERR_CHIP, "chip ID 0x%X (%s) is not a %s%s%s - check --chip",
                       s->chip_id, other ? other->display : "unknown chip", s->chip->display,
                       other ? "; use --chip " : "", other ? other->name : "");
    }
    if ((st = read_jedec_agreed(s, err)))
        return fl_fail_prefix(err, "reading the flash JEDEC ID");
    s->have_jedec = true;
    s->part = fl_flash_part_find(s->jedec);
    uint8_t cap = s->jedec[2];
    if (cap >= 0x10 && cap <= 0x1A)
        s->flash_size = 1u << cap;
    else if (s->part)
        s->flash_size = s->part->size;
    else
        fl_logf(s->ev, FL_LOG_WARN, "flash ID %02X %02X %02X has no usable size; assuming %u KiB",
                s->jedec[0], s->jedec[1], s->jedec[2], s->flash_size / 1024);
    return FL_OK;
}

static fl_status read_sr(fl_beken *s, uint16_t *sr, fl_error *err)
{
    const uint8_t defaults[2] = {0x05, 0x35};
    int n = s->part ? s->part->sr_bytes : 2;
    if (n > 2)
        n = 2; /* the third register holds no protection bits we clear */
    uint16_t v = 0;
    for (int i = 0; i < n; i++) {
        uint8_t op = s->part ? s->part->sr_read[i] : defaults[i], b;
        fl_status st = bk_op_read_sr(s, op, &b, err);
        if (st)
            return st;
        v |= (uint16_t)b << (8 * i);
    }
    *sr = v;
    return FL_OK;
}

/* Flash loaders cannot report their flash size; the 2 MiB default is checked
 * on BK7252 (2 or 4 MiB) with the wraparound probe of §9.4: on 2 MiB the
 * address bit 21 is ignored, so 0x211000 reads as 0x11000.  Compared by
 * device CRCs that two replies agree on - a garbled read once made a 2 MiB
 * chip look like 4 MiB, and every later proof then looked past its end. */
static fl_status probe_flash_size(fl_beken *s, fl_error *err)
{
    uint32_t crc_low, crc_high;
    fl_status st = bk_op_crc_agreed(s, 0x11000, BK_BLOCK, &crc_low, err);
    if (!st)
        st = bk_op_crc_agreed(s, 0x11000 + 0x200000, BK_BLOCK, &crc_high, err);
    if (st)
        return st;
    s->flash_size = crc_low == crc_high ? 0x200000 : 0x400000;
    fl_logf(s->ev, FL_LOG_DEBUG, "wraparound probe: flash is %u MiB", s->flash_size >> 20);
    return FL_OK;
}

static fl_status identify_flash_loader(fl_beken *s, fl_error *err)
{
    fl_error e;
    uint32_t v;
    /* A ROM loader answers ReadReg; a flash loader stays silent. */
    if (bk_read_reg(&s->wire, 0x800000, &v, 0.15, &e) == FL_OK) {
        char norm[16];
        fl_chip_id_normalise(v, norm);
        const fl_chip *other = fl_chip_by_id(norm);
        return fl_fail(err, FL_ERR_CHIP,
                       "this chip has a ROM loader (chip ID 0x%X, %s), not the flash loader of a "
                       "%s - check --chip",
                       v, other ? other->display : "unknown", s->chip->display);
    }
    /* A garbled ReadReg can leave the loader waiting for the rest of a frame. */
    if (!link_check_retry(s, 3, 0.1) &&
        (bk_op_unstick(s, &e) == FL_ERR_LINK || !link_check_retry(s, 3, 0.1)))
        return fl_fail(err, FL_ERR_PROTOCOL, "the bootloader stopped answering after ReadReg");
    if (s->chip->tuya_boot_version) {
        if (bk_boot_version(&s->wire, s->boot_version, sizeof s->boot_version, 0.2, &e) != FL_OK)
            fl_logf(s->ev, FL_LOG_WARN, "the bootloader did not report its version (%s)", e.msg);
    }
    if (!strcmp(s->chip->name, "bk7252"))
        return probe_flash_size(s, err);
    return FL_OK;
}

fl_status fl_beken_identify(fl_beken *s, fl_error *err)
{
    fl_status st = s->chip->loader == FL_LOADER_ROM ? identify_rom(s, err)
                                                    : identify_flash_loader(s, err);
    if (st)
        return st;
    if (s->chip->loader == FL_LOADER_ROM) {
        fl_error e;
        if (read_sr(s, &s->sr, &e) == FL_OK)
            s->have_sr = true;
        else
            fl_logf(s->ev, FL_LOG_WARN, "cannot read the flash status register: %s", e.msg);
    }
    return FL_OK;
}

fl_status fl_beken_connect(fl_beken *s, const fl_connect_opts *o, fl_error *err)
{
    fl_status st = fl_beken_get_bus(s, o, err);
    /* --baud max climbs from 115200 once the chip is known (the CRC check
     * needs its loader's CRC range rule); a fixed rate is set at once */
    if (!st && o->baud == FL_BAUD_MAX && s->baud != 115200)
        st = fl_beken_set_baud(s, 115200, err);
    if (!st && o->baud && o->baud != FL_BAUD_MAX && o->baud != s->baud)
        st = fl_beken_set_baud(s, o->baud, err);
    if (!st && s->chip_unknown)
        st = fl_beken_detect(s, err);
    if (!st)
        st = fl_beken_identify(s, err);
    if (!st && o->baud == FL_BAUD_MAX)
        st = fl_beken_set_baud_max(s, err);
    return st;
}

/* ---- the fastest rate that holds (--baud max) ------------------------------ */

/* Climbed from 115200; a CH340 or CP2102 stops at 2 Mbaud, FT232 at 3. */
static const uint32_t max_ladder[] = {230400, 460800, 921600, 1500000, 2000000, 3000000};
#define MAX_CHECK_ADDR 0x11000u /* the application's first sector: on every chip, never guarded */

/* A rate holds when the loader answers and a 4 KiB read arrives whole: the
 * host's CRC of what came over the line equals the chip's own CRC of the
 * same range (two tries: one garbled message on a good line is no verdict). */
static bool transfer_holds(fl_beken *s)
{
    uint8_t *buf = malloc(BK_BLOCK);
    bool ok = false;
    for (int i = 0; i < 2 && buf && !ok; i++) {
        fl_error e;
        uint32_t dev;
        ok = bk_link_check(&s->wire, 0.1, &e) == FL_OK &&
             bk_read_4k(&s->wire, MAX_CHECK_ADDR, buf, &e) == FL_OK &&
             bk_crc(&s->wire, MAX_CHECK_ADDR, BK_BLOCK, &dev, &e) == FL_OK &&
             dev == fl_beken_crc(buf, BK_BLOCK);
    }
    free(buf);
    return ok;
}

/* The step to `rate` failed: get the loader back to `good`.  It either never
 * switched (it answers at `good`), or switched and the line garbles there:
 * then only a reset brings it back, the way the caller asked for the bus. */
static fl_status back_to(fl_beken *s, uint32_t rate, uint32_t good, fl_error *err)
{
    fl_status st;
    if ((st = fl_link_set_baud(s->wire.link, good, err)))
        return st;
    bk_drain_quiet(&s->wire, 0.02, 0.2);
    s->baud = good;
    if (link_check_retry(s, 3, 0.03))
        return FL_OK;
    fl_connect_opts o;
    retake_opts(s, &o);
    o.last_baud = rate; /* where the loader most likely is */
    fl_logf(s->ev, FL_LOG_INFO, "taking the bus again to return to %u baud", good);
    if ((st = fl_beken_regain_bus(s, &o, err)))
        return st;
    if (s->baud != 115200 && (st = fl_beken_set_baud(s, 115200, err)))
        return st;
    return good == 115200 ? FL_OK : fl_beken_set_baud(s, good, err);
}

#define MAX_ECHO_S 0.15 /* the echo comes ~1 ms after the switch delay at any rate */

/* Climb: the adapter must take the rate, then the loader must echo the switch
 * or answer a LinkCheck there (cheap, ~25 ms a step).  passed[] gets the
 * rates that did; *failed the first that did not (the loader is brought back). */
static fl_status climb(fl_beken *s, uint32_t *passed, size_t *n, uint32_t *failed,
                       const char **why, fl_error *err)
{
    for (size_t i = 0; i < sizeof max_ladder / sizeof max_ladder[0] && !*why; i++) {
        uint32_t rate = max_ladder[i], good = passed[*n - 1];
        if (rate <= good)
            continue;
        fl_error e;
        /* the adapter first: a rate it refuses must not reach the chip */
        bool refused = fl_link_set_baud(s->wire.link, rate, &e) != FL_OK;
        fl_status st = fl_link_set_baud(s->wire.link, good, err);
        if (st)
            return st;
        if (refused) {
            *failed = rate, *why = "the adapter refuses it";
            break;
        }
        st = bk_set_baud_within(&s->wire, rate, BAUD_DELAY_MS, MAX_ECHO_S, &e);
        if (st == FL_ERR_LINK) {
            *err = e;
            return st;
        }
        s->baud = rate;
        if (st == FL_OK || link_check_retry(s, 2, 0.05)) {
            passed[(*n)++] = rate;
            continue;
        }
        *failed = rate, *why = "the loader does not answer there";
        if ((st = back_to(s, rate, good, err)))
            return fl_fail_prefix(err, "returning to %u baud after %u failed", good, rate);
    }
    return FL_OK;
}

fl_status fl_beken_set_baud_max(fl_beken *s, fl_error *err)
{
    s->baud_max_failed = 0;
    if (!s->wire.link->has_baud) {
        fl_logf(s->ev, FL_LOG_WARN, "%s keeps one rate: --baud max stays at %u",
                s->wire.link->url, s->baud);
        return FL_OK;
    }
    enum { NL = sizeof max_ladder / sizeof max_ladder[0] };
    uint32_t passed[NL + 1] = {s->baud}, failed = 0;
    size_t n = 1;
    const char *why = NULL;
    fl_status st = climb(s, passed, &n, &failed, &why, err);
    if (st)
        return st;
    /* Then down from the top until a CRC-checked 4 KiB read comes through
     * whole (the starting rate is the safe one the chip was identified at):
     * a line that carries LinkChecks may still garble long frames. */
    while (n > 1 && !transfer_holds(s)) {
        uint32_t top = passed[--n], lower = passed[n - 1];
        failed = top, why = "a CRC-checked 4 KiB read did not come through";
        fl_error e;
        st = bk_set_baud_within(&s->wire, lower, BAUD_DELAY_MS, MAX_ECHO_S, &e);
        if (st == FL_ERR_LINK) {
            *err = e;
            return st;
        }
        s->baud = lower;
        if (st && !link_check_retry(s, 2, 0.05) && (st = back_to(s, top, lower, err)))
            return fl_fail_prefix(err, "returning to %u baud after %u failed", lower, top);
    }
    s->baud_max_failed = failed;
    if (why)
        fl_logf(s->ev, FL_LOG_INFO, "--baud max: %u baud holds (%u: %s)", s->baud, failed, why);
    else
        fl_logf(s->ev, FL_LOG_INFO, "--baud max: %u baud holds (the fastest tried)", s->baud);
    return FL_OK;
}

/* ---- telling the chip --------------------------------------------------------- */

/* Chips that answer alike but are handled alike (BK7231N and BK7231M) can be
 * taken for one another; any difference in how flashline treats them cannot. */
static bool handled_alike(const fl_chip *a, const fl_chip *b)
{
    return a->loader == b->loader && a->guard == b->guard &&
           a->qio_skips_bootloader == b->qio_skips_bootloader &&
           a->tuya_boot_version == b->tuya_boot_version &&
           a->default_flash_size == b->default_flash_size && a->rf_offset == b->rf_offset &&
           a->obk_config_offset == b->obk_config_offset;
}

/* "bk7231t, bk7231u or bk7252" of the Beken chips `pick` selects. */
static size_t candidates(const fl_chip **out, size_t cap, bool (*pick)(const fl_chip *, const void *),
                         const void *arg, char *names, size_t ncap)
{
    size_t n = 0, len = 0;
    names[0] = '\0';
    for (const fl_chip *const *c = fl_chip_all(); *c; c++)
        if ((*c)->family == FL_FAMILY_BEKEN && pick(*c, arg) && n < cap)
            out[n++] = *c;
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(names + len, len < ncap ? ncap - len : 0, "%s%s",
                                i == 0 ? "" : i + 1 == n ? " or " : ", ", out[i]->name);
    return n;
}

static bool is_flash_loader(const fl_chip *c, const void *arg)
{
    (void)arg;
    return c->loader == FL_LOADER_FLASH;
}

typedef struct { uint32_t reg; const char *norm; } id_match;

static bool has_id(const fl_chip *c, const void *arg)
{
    const id_match *m = arg;
    return c->chip_id_reg == m->reg && c->chip_id_norm && !strcmp(c->chip_id_norm, m->norm);
}

static fl_status take_chip(fl_beken *s, const fl_chip *chip)
{
    s->chip = chip;
    s->wire.loader = chip->loader;
    s->flash_size = chip->default_flash_size;
    s->chip_unknown = false;
    return FL_OK;
}

/* Read chip-ID register `reg`: FL_OK, FL_ERR_TIMEOUT when three asks go
 * unanswered, or the link's failure. */
static fl_status ask_chip_id(fl_beken *s, uint32_t reg, uint32_t *value, fl_error *err)
{
    fl_status st = FL_ERR_TIMEOUT;
    for (int i = 0; i < 3 && st != FL_OK && st != FL_ERR_LINK; i++)
        st = bk_read_reg(&s->wire, reg, value, 0.3, err);
    return st;
}

fl_status fl_beken_detect(fl_beken *s, fl_error *err)
{
    enum { MAX_CAND = 8 };
    const fl_chip *cand[MAX_CAND];
    char names[160];
    bool answered = false;
    uint32_t tried[MAX_CAND], value = 0, first_value = 0, first_reg = 0;
    size_t ntried = 0;
    for (const fl_chip *const *c = fl_chip_all(); *c; c++) {
        uint32_t reg = (*c)->chip_id_reg;
        bool seen = !reg || (*c)->family != FL_FAMILY_BEKEN;
        for (size_t i = 0; i < ntried && !seen; i++)
            seen = tried[i] == reg;
        if (seen || ntried == MAX_CAND)
            continue;
        tried[ntried++] = reg;
        fl_error e;
        fl_status st = ask_chip_id(s, reg, &value, &e);
        if (st == FL_ERR_LINK) {
            *err = e;
            return st;
        }
        if (st)
            continue;
        if (!answered)
            first_value = value, first_reg = reg;
        answered = true;
        id_match m = {reg, NULL};
        char norm[16];
        fl_chip_id_normalise(value, norm);
        m.norm = norm;
        size_t n = candidates(cand, MAX_CAND, has_id, &m, names, sizeof names);
        if (!n)
            continue; /* another register may hold this chip's ID */
        for (size_t i = 1; i < n; i++)
            if (!handled_alike(cand[0], cand[i]))
                return fl_fail(err, FL_ERR_USAGE,
                               "chip ID 0x%X (%s) is %s: they answer alike but are handled "
                               "differently (flash size, offsets): give --chip",
                               value, norm, names);
        s->have_chip_id = true;
        s->chip_id = value;
        memcpy(s->chip_id_norm, norm, sizeof s->chip_id_norm);
        if (n > 1)
            fl_logf(s->ev, FL_LOG_INFO,
                    "chip ID 0x%X: taken as %s (%s answer alike and are handled alike)", value,
                    cand[0]->display, names);
        else
            fl_logf(s->ev, FL_LOG_INFO, "chip ID 0x%X: %s", value, cand[0]->display);
        return take_chip(s, cand[0]);
    }
    if (answered)
        return fl_fail(err, FL_ERR_CHIP,
                       "chip ID 0x%X (register 0x%08X) is not in the chip table: give --chip "
                       "(known: %s)",
                       first_value, first_reg, fl_chip_names());
    /* No ReadReg answer, yet the loader answers LinkCheck: a flash loader,
     * and those of BK7231T/U and BK7252 say nothing that tells them apart. */
    fl_error e;
    if (!link_check_retry(s, 3, 0.1) &&
        (bk_op_unstick(s, &e) == FL_ERR_LINK || !link_check_retry(s, 3, 0.1)))
        return fl_fail(err, FL_ERR_PROTOCOL, "the bootloader stopped answering after ReadReg");
    candidates(cand, MAX_CAND, is_flash_loader, NULL, names, sizeof names);
    return fl_fail(err, FL_ERR_USAGE,
                   "this chip has a flash loader (it does not answer ReadReg), and the flash "
                   "loaders of %s answer alike: give --chip (e.g. --chip %s)",
                   names, cand[0]->name);
}

/* ---- protection (ROM loaders) ---------------------------------------------- */

/* Set the `mask` bits of the status register to `want`, leaving the others
 * as they were first read, and prove it by reading back.  Each command is
 * retried on line errors; a garbled write that changed other bits (QE matters:
 * a QIO firmware needs it) is put right by the next round. */
static fl_status write_sr_verified(fl_beken *s, uint16_t want, uint16_t mask, fl_error *err)
{
    int nbytes = s->part && s->part->sr_bytes == 1 ? 1 : 2;
    uint16_t keep = (uint16_t)(mask | (nbytes == 2 ? 0x0200 : 0)); /* + QE */
    uint16_t orig, next = 0;
    fl_status st = read_sr(s, &orig, err);
    for (int attempt = 0; !st; attempt++) {
        uint16_t now;
        if (attempt == 0)
            now = orig, next = (uint16_t)((orig & ~mask) | (want & mask));
        else if ((st = read_sr(s, &now, err)))
            break;
        if ((now & keep) == (next & keep)) {
            s->sr = now;
            s->have_sr = true;
            return FL_OK;
        }
        if (attempt == 5)
            return fl_fail(err, FL_ERR_PROTOCOL,
                           "flash status register reads 0x%04X, not 0x%04X (mask 0x%04X), after 5 "
                           "writes: the flash may be hardware write-protected",
                           now, next, keep);
        uint8_t v[2] = {(uint8_t)next, (uint8_t)(next >> 8)};
        if (attempt > 0)
            s->retries++;
        st = bk_op_write_sr(s, v, (size_t)nbytes, err);
        fl_sleep(0.02); /* SR writes take up to ~15 ms in the flash chip */
    }
    return st;
}

fl_status fl_beken_unprotect(fl_beken *s, fl_error *err)
{
    if (s->chip->loader != FL_LOADER_ROM || s->unprotected)
        return FL_OK;
    uint16_t mask = s->part ? s->part->sr_mask : 0x407C;
    if (s->part && s->part->sr_bytes == 0) {
        s->unprotected = true;
        return FL_OK;
    }
    if (!s->part)
        fl_logf(s->ev, FL_LOG_WARN,
                "flash %02X %02X %02X is not in the table; clearing BP0-BP4 and CMP (0x407C)",
                s->jedec[0], s->jedec[1], s->jedec[2]);
    fl_status st = write_sr_verified(s, 0, mask, err);
    if (st)
        return fl_fail_prefix(err, "removing flash write protection");
    s->unprotected = true;
    return FL_OK;
}

fl_status fl_beken_protect(fl_beken *s, fl_error *err)
{
    if (s->chip->loader != FL_LOADER_ROM)
        return FL_OK;
    uint16_t mask = s->part ? s->part->sr_mask : 0x407C;
    if (s->part && s->part->sr_bytes == 0)
        return FL_OK;
    fl_status st = write_sr_verified(s, 0x001C, mask, err); /* BP0-BP2: the table's protect value */
    if (st)
        return fl_fail_prefix(err, "restoring flash write protection");
    s->unprotected = false;
    return FL_OK;
}

/* ---- misc ------------------------------------------------------------------ */

fl_status fl_beken_read_mac(fl_beken *s, uint8_t mac[6], fl_error *err)
{
    if (!s->chip->rf_offset || s->chip->rf_offset + BK_BLOCK > s->flash_size)
        return fl_fail(err, FL_ERR_FORMAT, "no RF calibration sector known for %s",
                       s->chip->display);
    uint8_t *blk = malloc(BK_BLOCK);
    if (!blk)
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    fl_status st = fl_beken_read(s, s->chip->rf_offset, BK_BLOCK, blk, err);
    if (!st)
        st = fl_beken_rf_mac(blk, BK_BLOCK, s->chip->rf_offset, mac, err);
    free(blk);
    return st;
}

fl_status fl_beken_reboot(fl_beken *s, fl_error *err)
{
    static const uint8_t a5 = 0xA5;
    for (int i = 0; i < 3; i++) {
        fl_status st = bk_send_short(&s->wire, BK_REBOOT, &a5, 1, err);
        if (st)
            return st;
        fl_sleep(0.01);
    }
    return FL_OK;
}

fl_status fl_beken_check_range(const fl_beken *s, uint32_t addr, uint32_t len, bool modifies,
                               fl_error *err)
{
    if ((uint64_t)addr + len > s->flash_size)
        return fl_fail(err, FL_ERR_REFUSED,
                       "0x%06X..0x%06llX is past the end of the %u KiB flash", addr,
                       (unsigned long long)addr + len, s->flash_size / 1024);
    if (!modifies || addr >= FL_BOOTLOADER_SIZE || s->allow_bootloader ||
        s->chip->guard == FL_GUARD_NONE)
        return FL_OK;
    if (s->chip->guard == FL_GUARD_BRICK)
        return fl_fail(err, FL_ERR_REFUSED,
                       "refusing to modify 0x%06X: 0x0-0x11000 holds the %s's only UART "
                       "bootloader, overwriting it bricks the chip (SPI recovery only); pass "
                       "--allow-bootloader if you really mean it",
                       addr, s->chip->display);
    return fl_fail(err, FL_ERR_REFUSED,
                   "refusing to modify 0x%06X: 0x0-0x11000 holds the %s's flash bootloader (keys "
                   "and partition table); pass --allow-bootloader to overwrite it",
                   addr, s->chip->display);
}
