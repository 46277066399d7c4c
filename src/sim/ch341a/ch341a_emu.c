/* ch341a_emu.c — the emulator as an fl_usb (link/usb.h): USB full-speed
 * timing on a virtual clock, fault injection, real-time pacing, and the test
 * hooks of ch341a_emu.h.
 *
 * Timing model (issue 8 point 7):
 *   - USB full speed: 1 ms frames, each with `packets_per_frame` bulk packet
 *     slots shared by both directions (default 16: a full-speed frame carries
 *     1500 bytes, i.e. at most ~19 bulk packets of 64 bytes; 32-byte CH341A
 *     packets pay the same per-packet overhead).
 *   - A synchronous bulk_out / bulk_in / control completes at the end of the
 *     frame its last packet went in (the host controller reports completions
 *     at frame ends), so a driver that alternates one OUT packet and its IN
 *     reply pays two frames per 31 SPI bytes.
 *   - The CH341A shifts SPI bytes at spi_hz / 8 bytes per second and buffers
 *     one command while it shifts another; a reply becomes readable when its
 *     packet has been shifted.
 *   - `stream` keeps `depth` IN transfers in flight while the OUT data flows:
 *     packets go back to back, limited by the slot budget and by the SPI clock.
 *     Its OUT data may be cut into `packet`-byte pieces that each end on a
 *     short packet: each piece is an OUT transfer of its own, and the libusb
 *     transport keeps the next ones queued (usb_libusb.c, OUT_DEPTH), so the
 *     host controller starts a piece right after the previous one's short
 *     packet; no frame end is waited for between them.  Only the stream's
 *     own completion lands on a frame end.  The CH341A still parses every
 *     32-byte (or shorter, last) chunk of a piece as one command (spec A.2),
 *     and still holds one command while it shifts another.
 *
 * SPI clock: the CH341A's hardware SPI runs at a fixed clock of about 1.4 MHz
 * (gschorcht/spi-ch341-usb README, "Limitations": "fixed clock frequency of
 * about 1.4 MHz"; WCH documents no way to change it).  That is 175 KB/s on the
 * wire, above ch341prog's 82 KB/s read of a W25Q64 (8 MiB in 101.8 s; its
 * later README says 63 s, 133 KB/s) and above the vendor DLL's "about 68K
 * bytes" per second, which both pay USB round trips.  Option spi_hz= changes it.
 *
 * For driver authors: every transfer (and every `stream` call) costs at least
 * one frame, and a short SPI packet (fewer than 31 bytes) ends a transfer, so
 * commands that must end on a short packet (WREN, the last packet of a page
 * program) each cost a frame; reads in long frames approach the ceiling.
 * Inside a stream, a command that takes no time (a UIO packet without a
 * wait, a 1-byte WREN) leaves the SPI engine idle until the next packet's
 * slot, since the device buffers only one command while it runs another. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link/usb_impl.h"
#include "sim/ch341a/ch341a_internal.h"
#include "util/clock.h"

#define FRAME_NS 1000000ull
#define MS_NS 1000000ull
#define PACE_SLACK_S 0.002 /* host overhead absorbed before the schedule restarts */

static const fl_usb_ops emu_ops;

static emu *E(fl_usb *u)
{
    return &((fl_ch341a_emu *)u->impl)->e;
}

/* ---- clock ---- */

static uint64_t slot_ns(const emu *e)
{
    return FRAME_NS / e->opt.packets_per_frame;
}

static uint64_t slot_at_or_after(const emu *e, uint64_t t)
{
    uint64_t s = slot_ns(e);
    /* slots are laid out inside each frame from its start */
    uint64_t frame = t / FRAME_NS, in_frame = (t % FRAME_NS + s - 1) / s;
    if (in_frame >= e->opt.packets_per_frame)
        return (frame + 1) * FRAME_NS;
    return frame * FRAME_NS + in_frame * s;
}

static uint64_t frame_end(uint64_t t)
{
    return (t / FRAME_NS + 1) * FRAME_NS;
}

/* The host's clock moved to `t`: the device catches up, and with timescale > 0 real time
 * is paced to timescale x modelled time. */
static void host_at(emu *e, uint64_t t)
{
    uint64_t before = e->host_ns;
    if (t > e->host_ns)
        e->host_ns = t;
    if (e->now_ns < t)
        e->now_ns = t;
    if (e->opt.timescale <= 0)
        return;
    /* Time the host spent elsewhere (computing, waiting for a user) is not credited to
     * the device: past a small slack the schedule restarts from now, so every call still
     * costs at least its modelled time and a benchmark never beats the model. */
    double real = fl_now(), start = e->real_origin + (double)before / 1e9 * e->opt.timescale;
    if (real > start + PACE_SLACK_S)
        e->real_origin += real - start - PACE_SLACK_S;
    fl_sleep_until(e->real_origin + (double)e->host_ns / 1e9 * e->opt.timescale);
}

static uint64_t host_now(const emu *e)
{
    return e->host_ns;
}

/* The earliest a new transfer can use the bus. */
static uint64_t bus_from(const emu *e)
{
    return host_now(e) > e->bus_free_ns ? host_now(e) : e->bus_free_ns;
}

/* ---- faults ---- */

static fl_status usb_fault(emu *e, const char *what, fl_error *err)
{
    e->usb_calls++;
    if (e->opt.fail_usb && e->usb_calls == e->opt.fail_usb) {
        emu_log(e, host_now(e), FL_EV_USB, 0, (uint32_t)e->usb_calls,
                "fault: USB call %llu (%s) fails", (unsigned long long)e->usb_calls, what);
        return fl_fail(err, FL_ERR_LINK,
                       "CH341A emulator: %s failed (injected fault fail_usb=%llu)", what,
                       (unsigned long long)e->opt.fail_usb);
    }
    return FL_OK;
}

/* ---- the device pipeline ---- */

/* One OUT chunk reaches the device at `arrive`: it starts when the SPI engine is free. */
static void deliver(emu *e, const uint8_t *p, size_t n, uint64_t arrive)
{
    uint64_t start = arrive > e->engine_free_ns ? arrive : e->engine_free_ns;
    if (e->now_ns < start)
        e->now_ns = start;
    dev_packet(e, p, n);
    e->accept_ns = e->engine_free_ns; /* one command buffered while the next shifts */
    e->engine_free_ns = e->now_ns;
}

static bool refuse_out(const emu *e)
{
    return e->opt.max_pending_in && e->q_len >= e->opt.max_pending_in;
}

static fl_status emu_bulk_out(fl_usb *u, const uint8_t *data, size_t len, unsigned timeout_ms,
                              fl_error *err)
{
    emu *e = E(u);
    fl_status st = usb_fault(e, "bulk OUT", err);
    if (st)
        return st;
    e->cnt.out_transfers++;
    uint64_t t = host_now(e), last = t;
    for (size_t off = 0; off < len; off += CH341_PACKET) {
        if (refuse_out(e)) {
            emu_log(e, t, FL_EV_USB, 0, (uint32_t)e->q_len,
                    "OUT refused: %zu replies unread (max_pending_in)", e->q_len);
            host_at(e, host_now(e) + (uint64_t)timeout_ms * MS_NS);
            return fl_fail(err, FL_ERR_TIMEOUT,
                           "CH341A emulator: bulk OUT timed out after %u ms (the device holds %zu "
                           "unread replies)",
                           timeout_ms, e->q_len);
        }
        uint64_t want = t;
        if (want < e->bus_free_ns)
            want = e->bus_free_ns;
        if (want < e->accept_ns)
            want = e->accept_ns;
        uint64_t slot = slot_at_or_after(e, want);
        e->bus_free_ns = slot + slot_ns(e);
        size_t n = len - off < CH341_PACKET ? len - off : CH341_PACKET;
        deliver(e, data + off, n, slot);
        last = slot;
        t = slot + slot_ns(e);
    }
    host_at(e, frame_end(last));
    return FL_OK;
}

/* The head reply's slot if it can be read at or after `t`. */
static uint64_t in_slot(emu *e, uint64_t t)
{
    const reply *r = &e->q[e->q_head];
    uint64_t want = t;
    if (want < e->bus_free_ns)
        want = e->bus_free_ns;
    if (want < r->ready_ns)
        want = r->ready_ns;
    return slot_at_or_after(e, want);
}

static void pop_reply(emu *e, uint8_t *buf, size_t cap, size_t *got, bool *overflow)
{
    const reply *r = &e->q[e->q_head];
    size_t n = r->len < cap ? r->len : cap;
    memcpy(buf, r->data, n);
    *got = n;
    *overflow = r->len > cap;
    e->q_head = (e->q_head + 1) % e->q_cap;
    e->q_len--;
    e->cnt.in_packets++;
}

static fl_status emu_bulk_in(fl_usb *u, uint8_t *buf, size_t len, size_t *got, unsigned timeout_ms,
                             fl_error *err)
{
    emu *e = E(u);
    *got = 0;
    fl_status st = usb_fault(e, "bulk IN", err);
    if (st)
        return st;
    e->cnt.in_transfers++;
    uint64_t t = host_now(e), deadline = t + (uint64_t)timeout_ms * MS_NS;
    if (e->q_len == 0 || in_slot(e, t) > deadline) {
        host_at(e, deadline);
        return fl_fail(err, FL_ERR_TIMEOUT, "CH341A emulator: bulk IN got nothing in %u ms",
                       timeout_ms);
    }
    uint64_t slot = in_slot(e, t);
    e->bus_free_ns = slot + slot_ns(e);
    bool overflow;
    pop_reply(e, buf, len, got, &overflow);
    host_at(e, frame_end(slot));
    if (overflow)
        return fl_fail(err, FL_ERR_LINK,
                       "CH341A emulator: bulk IN overflow (a %zu-byte buffer for a longer packet)",
                       len);
    return FL_OK;
}

static fl_status emu_control(fl_usb *u, bool in, uint8_t request, uint16_t value, uint16_t index,
                             uint8_t *data, uint16_t len, size_t *got, unsigned timeout_ms,
                             fl_error *err)
{
    emu *e = E(u);
    (void)value;
    (void)index;
    (void)timeout_ms;
    if (got)
        *got = 0;
    fl_status st = usb_fault(e, "control", err);
    if (st)
        return st;
    e->cnt.control_transfers++;
    if (in && request == 0x5F) { /* GET_VER: 30 00 per [JL] (unverified) */
        static const uint8_t ver[2] = {0x30, 0x00};
        size_t n = len < 2 ? len : 2;
        memcpy(data, ver, n);
        if (got)
            *got = n;
    }
    uint64_t slot = slot_at_or_after(e, bus_from(e));
    e->bus_free_ns = slot + slot_ns(e);
    host_at(e, frame_end(slot));
    return FL_OK;
}

/* ---- stream: transfers in flight ---- */

typedef struct stream_state {
    const uint8_t *out;
    size_t out_len, packet, off;
    uint8_t *in;
    size_t in_len, in_got, rpp;
    unsigned tokens;        /* IN transfers submitted and waiting */
    uint64_t returns[256];  /* completion times of IN transfers to resubmit */
    unsigned n_returns;
    uint64_t last_done;
} stream_state;

static size_t next_chunk(const stream_state *s)
{
    /* the OUT data is `packet`-byte pieces; USB cuts each into 32-byte chunks */
    size_t in_piece = s->off % s->packet, left = s->packet - in_piece;
    if (left > CH341_PACKET)
        left = CH341_PACKET;
    if (left > s->out_len - s->off)
        left = s->out_len - s->off;
    return left;
}

static void reclaim_tokens(stream_state *s, uint64_t t)
{
    for (unsigned i = 0; i < s->n_returns;) {
        if (s->returns[i] <= t) {
            s->tokens++;
            s->returns[i] = s->returns[--s->n_returns];
        } else {
            i++;
        }
    }
}

static uint64_t earliest_return(const stream_state *s)
{
    uint64_t m = UINT64_MAX;
    for (unsigned i = 0; i < s->n_returns; i++)
        if (s->returns[i] < m)
            m = s->returns[i];
    return m;
}

static fl_status emu_stream(fl_usb *u, const uint8_t *out, size_t out_len, size_t packet,
                            uint8_t *in, size_t in_len, size_t reply_per_packet, unsigned depth,
                            unsigned timeout_ms, fl_error *err)
{
    emu *e = E(u);
    fl_status st = usb_fault(e, "stream", err);
    if (st)
        return st;
    if (packet == 0 || reply_per_packet == 0 || depth == 0 || depth > 256)
        return fl_fail(err, FL_ERR_USAGE,
                       "CH341A emulator: stream needs packet, reply_per_packet > 0 and depth "
                       "1..256");
    e->cnt.streams++;
    stream_state s = {.out = out, .out_len = out_len, .packet = packet, .in = in,
                      .in_len = in_len, .rpp = reply_per_packet, .tokens = depth};
    uint64_t t = slot_at_or_after(e, bus_from(e));
    uint64_t progress = t, out_done = host_now(e);
    while (s.off < s.out_len || s.in_got < s.in_len) {
        reclaim_tokens(&s, t);
        bool can_in = s.in_got < s.in_len && e->q_len && s.tokens &&
                      e->q[e->q_head].ready_ns <= t;
        bool can_out = s.off < s.out_len && e->accept_ns <= t && !refuse_out(e);
        if (can_in) {
            size_t got;
            bool overflow;
            size_t room = s.in_len - s.in_got < s.rpp ? s.in_len - s.in_got : s.rpp;
            pop_reply(e, s.in + s.in_got, room, &got, &overflow);
            if (overflow) {
                host_at(e, frame_end(t));
                return fl_fail(err, FL_ERR_LINK,
                               "CH341A emulator: stream IN overflow (a reply longer than the "
                               "%zu bytes left)",
                               room);
            }
            s.in_got += got;
            s.tokens--;
            s.returns[s.n_returns++] = frame_end(t); /* resubmitted at its completion */
            s.last_done = frame_end(t);
            progress = t;
        } else if (can_out) {
            size_t n = next_chunk(&s);
            deliver(e, s.out + s.off, n, t);
            s.off += n;
            out_done = frame_end(t);
            progress = t;
            if (s.off == s.out_len)
                e->cnt.out_transfers++;
        } else {
            /* nothing this slot: jump to the next moment something can change */
            uint64_t next = UINT64_MAX;
            if (s.in_got < s.in_len && e->q_len) {
                uint64_t r = e->q[e->q_head].ready_ns, back = earliest_return(&s);
                next = s.tokens || back <= r ? r : back;
            }
            if (s.off < s.out_len && !refuse_out(e) && e->accept_ns < next)
                next = e->accept_ns;
            if (next == UINT64_MAX || next > progress + (uint64_t)timeout_ms * MS_NS) {
                host_at(e, progress + (uint64_t)timeout_ms * MS_NS);
                return fl_fail(err, FL_ERR_TIMEOUT,
                               "CH341A emulator: stream got %zu of %zu reply bytes, then nothing "
                               "for %u ms",
                               s.in_got, s.in_len, timeout_ms);
            }
            t = slot_at_or_after(e, next > t ? next : t + 1);
            continue;
        }
        e->cnt.in_transfers += can_in;
        t = slot_at_or_after(e, t + slot_ns(e));
    }
    e->bus_free_ns = t;
    uint64_t done = s.last_done > out_done ? s.last_done : out_done;
    host_at(e, done);
    return FL_OK;
}

/* ---- the rest of fl_usb ---- */

static void emu_delay_us(fl_usb *u, uint64_t us)
{
    emu *e = E(u);
    host_at(e, host_now(e) + us * 1000);
}

static uint64_t emu_now_us(fl_usb *u)
{
    return host_now(E(u)) / 1000;
}

static void emu_free(fl_ch341a_emu *x)
{
    if (!x)
        return;
    nor_close(&x->e.nor);
    free(x->e.q);
    free(x->e.ev);
    free(x->query);
    free(x);
}

static void emu_close(fl_usb *u)
{
    emu_free(u->impl);
    free(u);
}

static const fl_usb_ops emu_ops = {
    .kind = "emulator",
    .bulk_out = emu_bulk_out,
    .bulk_in = emu_bulk_in,
    .control = emu_control,
    .stream = emu_stream,
    .delay_us = emu_delay_us,
    .now_us = emu_now_us,
    .close = emu_close,
};

fl_status fl_usb_open_emulator(const char *query, const char *url, fl_usb **out, fl_error *err)
{
    *out = NULL;
    fl_ch341a_emu *x = calloc(1, sizeof *x);
    fl_usb *u = calloc(1, sizeof *u);
    if (!x || !u || !(x->query = strdup(query ? query : "")) ||
        !(x->e.ev = calloc(EMU_EVENT_CAP, sizeof *x->e.ev))) {
        free(u);
        emu_free(x);
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory opening the CH341A emulator");
    }
    emu *e = &x->e;
    fl_status st = emu_options_parse(&e->opt, x->query, err);
    if (!st)
        st = nor_open(&e->nor, &e->opt, err);
    if (st) {
        free(u);
        emu_free(x);
        return st;
    }
    gate_init(e);
    e->real_origin = fl_now();
    u->ops = &emu_ops;
    snprintf(u->url, sizeof u->url, "%s", url ? url : "ch341a:sim");
    snprintf(u->where, sizeof u->where, "emulator");
    u->impl = x;
    *out = u;
    return FL_OK;
}

/* ---- test hooks ---- */

fl_ch341a_emu *fl_ch341a_emu_of(fl_usb *u)
{
    return u && u->ops == &emu_ops ? u->impl : NULL;
}

fl_ch341a_gate fl_ch341a_emu_gate(fl_ch341a_emu *x)
{
    gate_settle(&x->e);
    return x->e.gate.state;
}

size_t fl_ch341a_emu_event_count(fl_ch341a_emu *x)
{
    return x->e.ev_len;
}

const fl_ch341a_event *fl_ch341a_emu_event_at(fl_ch341a_emu *x, size_t i)
{
    return i < x->e.ev_len ? &x->e.ev[(x->e.ev_start + i) % EMU_EVENT_CAP] : NULL;
}

size_t fl_ch341a_emu_events_dropped(fl_ch341a_emu *x)
{
    return x->e.ev_dropped;
}

void fl_ch341a_emu_clear_events(fl_ch341a_emu *x)
{
    x->e.ev_start = x->e.ev_len = 0;
}

size_t fl_ch341a_emu_find_event(fl_ch341a_emu *x, size_t from, fl_ch341a_event_kind kind,
                                const char *needle)
{
    gate_settle(&x->e);
    for (size_t i = from; i < x->e.ev_len; i++) {
        const fl_ch341a_event *ev = fl_ch341a_emu_event_at(x, i);
        if (ev->kind == kind && (!needle || strstr(ev->text, needle)))
            return i;
    }
    return (size_t)-1;
}

void fl_ch341a_emu_status(fl_ch341a_emu *x, uint8_t *sr1, uint8_t *sr2, uint8_t *sr3)
{
    if (sr1)
        *sr1 = nor_read_sr(&x->e, 0);
    if (sr2)
        *sr2 = nor_read_sr(&x->e, 1);
    if (sr3)
        *sr3 = nor_read_sr(&x->e, 2);
}

void fl_ch341a_emu_pins(fl_ch341a_emu *x, uint8_t *dir, uint8_t *out)
{
    *dir = x->e.dir;
    *out = x->e.out;
}

void fl_ch341a_emu_counters(fl_ch341a_emu *x, fl_ch341a_counters *c)
{
    *c = x->e.cnt;
}

void fl_ch341a_emu_power_cycle(fl_ch341a_emu *x)
{
    dev_power_cycle(&x->e);
}

uint64_t fl_ch341a_emu_now_us(fl_ch341a_emu *x)
{
    return host_now(&x->e) / 1000;
}

uint8_t *fl_ch341a_emu_flash(fl_ch341a_emu *x, size_t *size)
{
    *size = x->e.nor.size;
    return x->e.nor.mem;
}

double fl_ch341a_emu_ceiling_bps(fl_ch341a_emu *x)
{
    const emu *e = &x->e;
    double spi = (double)e->opt.spi_hz / 8.0;
    /* each SPI packet (31 payload bytes) needs one OUT and one IN slot */
    double usb = (double)e->opt.packets_per_frame / 2.0 * 1000.0 * 31.0;
    return spi < usb ? spi : usb;
}
