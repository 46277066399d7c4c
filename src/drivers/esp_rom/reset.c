/* reset.c — download-mode entry: classic auto-reset, the operator's BOOT
 * button, and the ROM's boot text (reset.h). */
#include "drivers/esp_rom/reset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"

#define SYNC_WAIT_S 0.1 /* esptool's SYNC_TIMEOUT: the ROM answers within ~1 ms */
#define SYNC_TRIES 5

fl_status esp_classic_reset(esp_rom *e, double boot_hold_s, fl_error *err)
{
    /* the same order of single-line changes as esptool's ClassicReset: the
     * brief DTR+RTS state on the way is shorter than EN's RC delay */
    fl_status st = fl_link_set_lines(e->link, 0, -1, err); /* IO0 high */
    if (!st)
        st = fl_link_set_lines(e->link, -1, 1, err); /* EN low: in reset */
    if (st)
        return st;
    fl_sleep(0.1);
    st = fl_link_set_lines(e->link, 1, -1, err); /* IO0 low */
    if (!st)
        st = fl_link_set_lines(e->link, -1, 0, err); /* EN high: out of reset, strap sampled */
    if (st)
        return st;
    fl_sleep(boot_hold_s);
    return fl_link_set_lines(e->link, 0, -1, err); /* IO0 released */
}

fl_status esp_hard_reset(esp_rom *e, fl_error *err)
{
    if (!e->link->has_lines)
        return fl_fail(err, FL_ERR_USAGE, "%s cannot drive RTS to reset the unit", e->link->url);
    fl_status st = fl_link_set_lines(e->link, 0, 1, err); /* IO0 released, EN low */
    if (st)
        return st;
    fl_sleep(0.1);
    st = fl_link_set_lines(e->link, -1, 0, err);
    e->resets++;
    return st;
}


/* SYNC up to `tries` times at the link's rate; *ok when answered. */
static fl_status sync_tries(esp_rom *e, int tries, bool *ok, fl_error *err)
{
    *ok = false;
    for (int i = 0; i < tries && !*ok; i++) {
        fl_status st = esp_sync(e, SYNC_WAIT_S, ok, err);
        if (st)
            return st;
    }
    return FL_OK;
}

static fl_status set_rate(esp_rom *e, uint32_t rate, fl_error *err)
{
    if (rate == e->link->baud)
        return FL_OK;
    if (!e->link->has_baud)
        return FL_OK;
    fl_status st = fl_link_set_baud(e->link, rate, err);
    if (!st) {
        e->baud = rate;
        esp_discard(e);
    }
    return st;
}

/* A loader left in download mode answers at 115200, or at the rate an
 * earlier session switched it to (o->last_baud). */
static fl_status quick_sync(esp_rom *e, const fl_flash_opts *o, bool *ok, fl_error *err)
{
    fl_status st;
    *ok = false;
    if (o->last_baud && o->last_baud != FL_BAUD_MAX && o->last_baud != 115200 &&
        e->t->is_8266 == false) {
        if ((st = set_rate(e, o->last_baud, err)) || (st = sync_tries(e, 2, ok, err)))
            return st;
        if (*ok)
            return FL_OK;
    }
    if ((st = set_rate(e, 115200, err)))
        return st;
    e->baud = 115200;
    return sync_tries(e, 2, ok, err);
}

static void prompt_manual(esp_rom *e, double left)
{
    fl_prompt(e->ev,
              "Put the %s into download mode: hold its BOOT button (%s to GND), press and "
              "release RESET (EN) - or power it on - then release BOOT.  flashline is waiting "
              "for the ROM loader on %s (%.0f s left)",
              e->t->display, e->t->boot_pin, e->link->url, left);
}

/* What the boot text says, for the error when nothing answered. */
static void boot_note(esp_rom *e, char *out, size_t cap, bool *wrong_mode)
{
    unsigned mode;
    bool download;
    char name[48];
    out[0] = '\0';
    *wrong_mode = false;
    if (!esp_boot_text(e->dec.text, &mode, &download, name, sizeof name))
        return;
    if (download) {
        snprintf(out, cap,
                 "; the ROM printed that it is in download mode (boot:0x%02X %s), but no SYNC "
                 "answer came: the serial TX path (host to chip) seems to be down",
                 mode, name);
    } else {
        *wrong_mode = true;
        snprintf(out, cap,
                 "; wrong boot mode detected (boot:0x%02X%s%s%s): %s was high when EN rose, so "
                 "the chip started its firmware instead of the ROM download mode - the DTR/RTS "
                 "auto-reset wiring is missing, or hold BOOT while resetting",
                 mode, name[0] ? " (" : "", name, name[0] ? ")" : "", e->t->boot_pin);
    }
}

typedef enum { STEP_QUICK, STEP_RESET, STEP_PROMPT, STEP_LISTEN } step_kind;

static step_kind pick_step(const fl_flash_opts *o, int round, bool can_pulse)
{
    switch (o->reset) {
    case FL_RESET_NONE: return round == 0 ? STEP_QUICK : STEP_LISTEN;
    case FL_RESET_MANUAL: return round == 0 ? STEP_QUICK : round == 1 ? STEP_PROMPT : STEP_LISTEN;
    case FL_RESET_PULSE:
    case FL_RESET_REBOOT: return can_pulse ? STEP_RESET : STEP_LISTEN;
    case FL_RESET_AUTO:
    default:
        if (round == 0)
            return STEP_QUICK;
        if (round <= 2 && can_pulse)
            return STEP_RESET;
        return round == (can_pulse ? 3 : 1) ? STEP_PROMPT : STEP_LISTEN;
    }
}

fl_status esp_connect(esp_rom *e, const fl_flash_opts *o, fl_error *err)
{
    double start = fl_now(), limit = o->link_timeout_s > 0 ? o->link_timeout_s : 20.0;
    bool can_pulse = e->link->has_lines, ok = false, prompted = false;
    int pulses = 0;
    fl_status st;
    e->watch_reset = false; /* boot text is what a reset here is for */
    esp_slip_clear_text(&e->dec);
    fl_logf(e->ev, FL_LOG_INFO, "waiting for the %s ROM loader on %s", e->t->display,
            e->link->url);
    for (int round = 0; !ok && fl_now() - start < limit; round++) {
        /* esptool alternates its reset delays: IO0 held 0.05 s, then 0.55 s for slow boards */
        double hold = pulses % 2 ? 0.55 : 0.05;
        switch (pick_step(o, round, can_pulse)) {
        case STEP_QUICK:
            st = quick_sync(e, o, &ok, err);
            break;
        case STEP_RESET:
            if ((st = set_rate(e, 115200, err)))
                return st;
            fl_logf(e->ev, FL_LOG_DEBUG, "classic DTR/RTS reset into download mode (IO0 held "
                                         "%.2f s)", hold);
            esp_discard(e);
            esp_slip_clear_text(&e->dec);
            st = esp_classic_reset(e, hold, err);
            e->resets += !st;
            pulses++;
            if (!st)
                st = sync_tries(e, SYNC_TRIES, &ok, err);
            e->reset_works |= ok;
            break;
        case STEP_PROMPT:
            if ((st = set_rate(e, 115200, err)))
                return st;
            prompt_manual(e, limit - (fl_now() - start));
            prompted = true;
            st = sync_tries(e, 1, &ok, err);
            break;
        case STEP_LISTEN:
        default:
            if (o->reset == FL_RESET_NONE && o->last_baud && o->last_baud != FL_BAUD_MAX &&
                o->last_baud != 115200 && !e->t->is_8266 && (st = set_rate(e, round % 2 ? o->last_baud : 115200, err)))
                return st;
            st = sync_tries(e, 1, &ok, err);
            break;
        }
        if (st)
            return st;
        if (fl_cancelled(e->ev))
            return fl_fail(err, FL_ERR_CANCELLED, "cancelled while waiting for the chip");
    }
    if (!ok) {
        char note[400];
        bool wrong_mode;
        boot_note(e, note, sizeof note, &wrong_mode);
        return fl_fail(err, FL_ERR_NO_BUS,
                       "no SYNC answer from the %s ROM loader on %s within %.0f s (--reset %s)%s%s",
                       e->t->display, e->link->url, limit, fl_reset_mode_name(o->reset),
                       note,
                       note[0] ? ""
                       : prompted
                           ? ": check TX/RX (crossed), 3.3 V and GND, and that BOOT was held "
                             "while the unit was reset"
                           : ": check TX/RX (crossed), 3.3 V and GND; without DTR/RTS "
                             "auto-reset wiring use --reset manual");
    }
    if (e->baud != 115200)
        fl_logf(e->ev, FL_LOG_INFO, "the ROM loader was still listening at %u baud", e->baud);
    fl_logf(e->ev, FL_LOG_INFO, "ROM loader answered after %.2f s", fl_now() - start);
    e->rebooted = false;
    return FL_OK;
}
