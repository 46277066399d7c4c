/* ch341a_dev.c — the CH341A itself (spec D.2, E-5..E-13): every OUT chunk of
 * up to 32 bytes is one command, parsed on its own (never across chunks):
 *   0xAB UIO stream: 0x40|m DIR, 0x80|v OUT, 0xC0|n delay n µs, 0x00 read pins
 *        (queues one byte), 0x20 END (the rest of the chunk is ignored);
 *   0xA8 SPI stream: bit-reversed wire bytes, one reply packet of the same count;
 *   0xAA I2C stream: 0x60|s sets speed and SPI width (recorded), 0x00 END;
 *   0xA1 SET_OUTPUT (the vendor DLL's pin call, [JL-GPIO] layout), 0xA0 status.
 * Any other command byte is ignored and logged: the real chip's reaction to an
 * unknown code is undocumented, and silence is what a driver would see.
 *
 * Pins to target: D0 CSN, D3 SCK, D5 MOSI, D7 MISO, D2 CEN (E-12).  A pin that
 * is an input floats high (pull-up assumption, unverified), so CS and CEN are
 * only low when driven low.
 *
 * UIO writes drive the same pins the SPI engine uses, so a driver can also
 * clock bytes out by hand (bit-bang): with CS low, every rising SCK edge from
 * a UIO OUT samples MOSI, most significant bit first, and eight of them make
 * a byte the target sees exactly as one from the engine.  A byte left short
 * when CS rises is dropped, as a real flash drops it.  What the target drives
 * on MISO meanwhile is not modelled (a UIO read of D7 reads high), so only
 * writes can be bit-banged here. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/ch341a/ch341a_internal.h"

#define PINS_SPI 0x29 /* D0 CS, D3 SCK, D5 MOSI must be outputs */

void emu_log(emu *e, uint64_t t_ns, fl_ch341a_event_kind kind, uint32_t a, uint32_t b,
             const char *fmt, ...)
{
    if (!e->ev)
        return;
    size_t slot;
    if (e->ev_len < EMU_EVENT_CAP) {
        slot = (e->ev_start + e->ev_len++) % EMU_EVENT_CAP;
    } else { /* full: drop the oldest */
        slot = e->ev_start;
        e->ev_start = (e->ev_start + 1) % EMU_EVENT_CAP;
        e->ev_dropped++;
    }
    fl_ch341a_event *ev = &e->ev[slot];
    ev->t_us = t_ns / 1000;
    ev->kind = kind;
    ev->a = a;
    ev->b = b;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ev->text, sizeof ev->text, fmt, ap);
    va_end(ap);
}

bool dev_queue_reply(emu *e, const uint8_t *data, size_t n, uint64_t ready_ns)
{
    if (n == 0)
        return true;
    if (e->opt.lose_reply && ++e->replies_made == e->opt.lose_reply) {
        emu_log(e, ready_ns, FL_EV_USB, 0, (uint32_t)n,
                "fault: reply packet %llu (%zu bytes) lost", (unsigned long long)e->replies_made,
                n);
        return true;
    }
    if (e->q_len == e->q_cap) {
        size_t cap = e->q_cap ? e->q_cap * 2 : 64;
        reply *q = malloc(cap * sizeof *q);
        if (!q)
            return false;
        for (size_t i = 0; i < e->q_len; i++)
            q[i] = e->q[(e->q_head + i) % e->q_cap];
        free(e->q);
        e->q = q;
        e->q_head = 0;
        e->q_cap = cap;
    }
    reply *r = &e->q[(e->q_head + e->q_len++) % e->q_cap];
    memcpy(r->data, data, n);
    r->len = (uint8_t)n;
    r->ready_ns = ready_ns;
    return true;
}

static void hex8(char *out, size_t cap, const uint8_t *b, uint32_t n)
{
    size_t o = 0;
    out[0] = '\0';
    for (uint32_t i = 0; i < n && i < 8 && o + 4 < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, i ? " %02X" : "%02X", b[i]);
    if (n > 8 && o + 4 < cap)
        snprintf(out + o, cap - o, " …");
}

static void frame_end(emu *e)
{
    gate_cs_rise(e);
    if (e->fr_len == 0)
        return;
    e->cnt.cs_frames++;
    char mo[40], mi[40];
    hex8(mo, sizeof mo, e->fr_mosi, e->fr_len);
    hex8(mi, sizeof mi, e->fr_miso, e->fr_len);
    emu_log(e, e->now_ns, FL_EV_FRAME, e->fr_mosi[0], e->fr_len, "MOSI %s / MISO %s", mo, mi);
}

/* One byte reaches the target with CS low (from the engine or bit-banged):
 * what the target drives back, logged in the frame. */
static uint8_t target_byte(emu *e, uint8_t mosi)
{
    uint8_t miso = gate_byte(e, mosi);
    if (e->opt.stuck_miso >= 0)
        miso = (uint8_t)e->opt.stuck_miso;
    if (e->fr_len < 8) {
        e->fr_mosi[e->fr_len] = mosi;
        e->fr_miso[e->fr_len] = miso;
    }
    e->fr_len++;
    return miso;
}

/* A UIO write moved SCK from low to high with CS low: MOSI is one bit. */
static void bitbang_edge(emu *e, uint8_t old_out)
{
    bool rising = !(old_out & 0x08) && (e->out & 0x08);
    if (!rising || !e->cs_low || (e->dir & PINS_SPI) != PINS_SPI || !e->opt.uio_spi)
        return;
    e->bb_bits = (uint8_t)(e->bb_bits << 1 | ((e->out & 0x20) ? 1 : 0));
    if (++e->bb_count == 8) {
        e->bb_count = 0;
        (void)target_byte(e, e->bb_bits);
        e->cnt.spi_bytes++;
    }
}

void dev_set_pins(emu *e, uint8_t dir, uint8_t out)
{
    dir &= 0x3F;
    out &= 0x3F;
    if (dir == e->dir && out == e->out)
        return;
    uint8_t old_out = e->out;
    e->dir = dir;
    e->out = out;
    emu_log(e, e->now_ns, FL_EV_PINS, dir, out, "DIR %02X OUT %02X", dir, out);
    bool cs = (dir & 0x01) && !(out & 0x01);
    bool cen = (dir & 0x04) && !(out & 0x04);
    if (e->cs_low && !cs) {
        if (e->bb_count)
            emu_log(e, e->now_ns, FL_EV_USB, 0xAB, e->bb_count,
                    "CS rose after %u bit-banged bits: the partial byte is dropped", e->bb_count);
        e->cs_low = false;
        frame_end(e);
    }
    if (cen != e->cen_low) {
        e->cen_low = cen;
        emu_log(e, e->now_ns, FL_EV_CEN, cen, 0, "CEN %s", cen ? "low" : "high");
        gate_cen(e, cen);
    }
    if (!e->cs_low && cs) {
        e->cs_low = true;
        e->fr_len = 0;
        e->bb_count = 0;
        gate_cs_fall(e);
    }
    bitbang_edge(e, old_out);
}

uint8_t dev_pins_in(emu *e)
{
    uint8_t v = (uint8_t)((e->out & e->dir) | (~e->dir & 0x3F)); /* inputs read high */
    v |= 0x40;                                                    /* D6: unused input */
    bool miso_high = e->opt.stuck_miso < 0 || e->opt.stuck_miso == 0xFF;
    return (uint8_t)(v | (miso_high ? 0x80 : 0));
}

static void uio(emu *e, const uint8_t *p, size_t n)
{
    uint8_t in[CH341_PACKET];
    size_t got = 0;
    for (size_t i = 1; i < n; i++) {
        uint8_t s = p[i];
        if (s == 0x20)
            break; /* END: the rest of the packet is ignored */
        switch (s & 0xC0) {
        case 0x40: dev_set_pins(e, s & 0x3F, e->out); break;
        case 0x80: dev_set_pins(e, e->dir, s & 0x3F); break;
        case 0xC0: e->now_ns += (uint64_t)(s & 0x3F) * 1000; break;
        default:
            if (s == 0x00)
                in[got++] = dev_pins_in(e);
            break; /* 0x01..0x3F other than END: no documented meaning, ignored */
        }
        /* flashrom measured about 0.75 µs per UIO instruction ([FR]) */
        e->now_ns += 750;
    }
    dev_queue_reply(e, in, got, e->now_ns);
}

static uint8_t spi_byte(emu *e, uint8_t wire, bool *unwired)
{
    uint8_t miso = 0xFF;
    if ((e->dir & PINS_SPI) != PINS_SPI)
        *unwired = true; /* E-7: pins not outputs, the target sees nothing */
    else if (e->cs_low)
        miso = target_byte(e, rev8(wire));
    if (e->opt.stuck_miso >= 0)
        miso = (uint8_t)e->opt.stuck_miso;
    /* one byte on the wire: 8 SPI clocks */
    e->now_ns += 8000000000ull / e->opt.spi_hz;
    return rev8(miso);
}

static void spi(emu *e, const uint8_t *p, size_t n)
{
    uint8_t r[CH341_PACKET];
    bool unwired = false;
    for (size_t i = 1; i < n; i++)
        r[i - 1] = spi_byte(e, p[i], &unwired);
    e->cnt.spi_packets++;
    e->cnt.spi_bytes += n - 1;
    if (unwired)
        emu_log(e, e->now_ns, FL_EV_USB, 0xA8, e->dir,
                "SPI packet while D0/D3/D5 are not all outputs (DIR %02X): target sees nothing",
                e->dir);
    dev_queue_reply(e, r, n - 1, e->now_ns);
}

static void i2c_stream(emu *e, const uint8_t *p, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        uint8_t s = p[i];
        if (s == 0x00)
            break; /* END */
        if ((s & 0xF0) == 0x60) {
            e->stream_cfg = s & 0x0F;
            emu_log(e, e->now_ns, FL_EV_STREAM_CFG, s & 0x0F, 0, "stream config speed %u, %s SPI",
                    s & 3, (s & 4) ? "dual" : "single");
            if (s & 4)
                emu_log(e, e->now_ns, FL_EV_USB, 0xAA, s,
                        "dual-width SPI requested: the target is wired single");
        } else if ((s & 0xF0) == 0x40) {
            e->now_ns += (uint64_t)(s & 0x0F) * 1000;
        } else if ((s & 0xF0) == 0x50) {
            e->now_ns += (uint64_t)(s & 0x0F) * 1000000;
        } else if ((s & 0xC0) == 0x80) {
            i += s & 0x3F; /* OUT: its data bytes go to an I2C bus nobody is on */
        }
        /* 0x74 START, 0x75 STOP, 0xC0|n IN: no I2C target, recorded nowhere */
    }
}

static void set_output(emu *e, const uint8_t *p, size_t n)
{
    /* A1 6A mask d15_8 dir15_8 d7_0 dir7_0 d19_16 ... ([JL-GPIO]); bit 2 of the mask: data
     * 7..0 valid, bit 3: direction 7..0 valid (0x1F: all). */
    if (n < 8 || p[1] != 0x6A) {
        emu_log(e, e->now_ns, FL_EV_USB, 0xA1, (uint32_t)n, "SET_OUTPUT packet malformed");
        return;
    }
    uint8_t mask = p[2];
    dev_set_pins(e, (mask & 0x08) ? p[6] : e->dir, (mask & 0x04) ? p[5] : e->out);
}

void dev_packet(emu *e, const uint8_t *p, size_t n)
{
    e->cnt.out_packets++;
    if (n == 0)
        return;
    gate_settle(e); /* time-driven gate changes are logged before this command's events */
    switch (p[0]) {
    case 0xAB: uio(e, p, n); break;
    case 0xA8: spi(e, p, n); break;
    case 0xAA: i2c_stream(e, p, n); break;
    case 0xA1: set_output(e, p, n); break;
    case 0xA0: {
        uint8_t st[6] = {dev_pins_in(e), 0, 0, 0, 0, 0};
        dev_queue_reply(e, st, sizeof st, e->now_ns);
        break;
    }
    default:
        emu_log(e, e->now_ns, FL_EV_USB, p[0], (uint32_t)n, "unknown command 0x%02X ignored",
                p[0]);
        break;
    }
}

/* The target loses power; the programmer (its pins and queued replies) stays as it was. */
void dev_power_cycle(emu *e)
{
    nor_power_cycle(e);
    gate_power_cycle(e);
    emu_log(e, e->now_ns, FL_EV_POWER, 0, 0, "power cycle");
}
