/* sim_uart.c — the wire between host and chip (spec §12.3).
 *
 * Host → chip: every data byte read from a client is timestamped with the moment its
 * stop bit reaches the chip, max(previous arrival + 10/host_baud, time read) × timescale
 * for the wire part; baud changes and modem-line changes from the host travel in the
 * same queue, so they take effect in stream order.  At its arrival time a byte passes
 * the injected faults and the baud check (host rate ≠ chip rate: random byte, ~50 %
 * lost) and lands in the chip's RX FIFO; the loader takes it from there when it is not
 * busy.
 *
 * Chip → host: the loader queues bytes at the chip rate from max(ready, line free);
 * each is handed to the clients when its stop bit has left (absolute deadlines, so
 * there is no drift), after faults and the baud check against each client's rate. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_internal.h"

#define CHUNK_S 0.001           /* batch wake-ups to about 1 ms while streaming */
#define BAUD_TOLERANCE 0.025    /* UARTs cope with ~2.5 % rate error */
#define LB_FIFO_BYTES 512       /* [LBOOT] bim_uart_rx_buf */
#define WIRE_MAX (1u << 20)

/* ------------------------------------------------------------------ ring */

bool sim_ring_push(sim_ring *r, const void *e, size_t max_len)
{
    if (max_len && r->len >= max_len)
        return false;
    if (r->len == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 1024;
        uint8_t *nb = malloc(ncap * r->esz);
        if (!nb)
            return false;
        for (size_t i = 0; i < r->len; i++)
            memcpy(nb + i * r->esz, sim_ring_peek(r, i), r->esz);
        free(r->buf);
        r->buf = nb;
        r->cap = ncap;
        r->head = 0;
    }
    memcpy((uint8_t *)r->buf + ((r->head + r->len) % r->cap) * r->esz, e, r->esz);
    r->len++;
    return true;
}

void *sim_ring_peek(sim_ring *r, size_t i)
{
    return (uint8_t *)r->buf + ((r->head + i) % r->cap) * r->esz;
}

void sim_ring_pop(sim_ring *r)
{
    if (!r->len)
        return;
    r->head = (r->head + 1) % r->cap;
    if (--r->len == 0)
        r->head = 0;
}

void sim_ring_clear(sim_ring *r)
{
    r->head = r->len = 0;
}

void sim_ring_free(sim_ring *r)
{
    free(r->buf);
    r->buf = NULL;
    r->cap = r->head = r->len = 0;
}

/* ------------------------------------------------------------------ rng */

uint32_t sim_rand(fl_sim *s)
{
    /* xorshift64* — per instance, reproducible from the seed */
    uint64_t x = s->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s->rng = x;
    return (uint32_t)((x * 0x2545F4914F6CDD1DULL) >> 32);
}

double sim_rand01(fl_sim *s)
{
    return sim_rand(s) / 4294967296.0;
}

/* ------------------------------------------------------------------ timing */

double sim_byte_time(const fl_sim *s, uint32_t baud)
{
    if (baud < 300)
        baud = 300;
    return 10.0 / baud * s->ts; /* 8N1: start + 8 data + stop */
}

bool sim_baud_mismatch(uint32_t a, uint32_t b)
{
    double hi = a > b ? a : b, lo = a > b ? b : a;
    return hi <= 0 || (hi - lo) / hi > BAUD_TOLERANCE;
}

/* ------------------------------------------------------------------ host → chip */

/* Injected faults are drawn per message, not per byte: each burst the host
 * sends (one socket read: a command frame) and each burst the chip sends (a
 * reply, a line of text) loses one byte with probability drop_rate and has
 * one byte garbled with probability corrupt_rate.  Per byte, a rate like
 * 0.001 would hit nearly every 4 KiB frame (1 - 0.999^4108 = 98 %) and no
 * loader could be flashed through such a line at all; per message it
 * exercises every recovery path of a host at a rate a flash can survive.
 * *drop_at / *corrupt_at get the index hit, or SIZE_MAX. */
static void pick_faults(fl_sim *s, size_t len, uint32_t baud, size_t *drop_at, size_t *corrupt_at)
{
    *drop_at = *corrupt_at = SIZE_MAX;
    if (len == 0)
        return;
    if (s->o.marginal_baud && baud > s->o.marginal_baud && len > 64) {
        *corrupt_at = sim_rand(s) % len; /* test fault marginal: long messages break */
        return;
    }
    if (s->o.drop_rate > 0 && sim_rand01(s) < s->o.drop_rate)
        *drop_at = sim_rand(s) % len;
    if (s->o.corrupt_rate > 0 && sim_rand01(s) < s->o.corrupt_rate)
        *corrupt_at = sim_rand(s) % len;
}

static uint8_t fault_at(size_t i, size_t drop_at, size_t corrupt_at)
{
    return (uint8_t)((i == drop_at ? SIM_FAULT_DROP : 0) | (i == corrupt_at ? SIM_FAULT_CORRUPT : 0));
}

/* Bus trace: spot the LinkCheck frames the host sends (01 E0 FC 01 00), at
 * whatever rate - the chip may never see them whole when the rates differ. */
static void trace_link_checks(fl_sim *s, const uint8_t *data, size_t len, uint32_t baud)
{
    static const uint8_t frame[5] = {0x01, 0xE0, 0xFC, 0x01, 0x00};
    if (!s->o.trace_bus)
        return;
    for (size_t i = 0; i < len; i++) {
        if (data[i] == frame[s->lc_match])
            s->lc_match++;
        else
            s->lc_match = data[i] == frame[0];
        if (s->lc_match == sizeof frame) {
            s->lc_match = 0;
            sim_trace(s, "link-check", baud);
        }
    }
}

void sim_wire_push_data(fl_sim *s, int ep, const uint8_t *data, size_t len, double t_read)
{
    uint32_t baud = s->ep[ep].baud_enq;
    trace_link_checks(s, data, len, baud);
    double bt = sim_byte_time(s, baud);
    size_t drop_at, corrupt_at;
    pick_faults(s, len, baud, &drop_at, &corrupt_at);
    for (size_t i = 0; i < len; i++) {
        double t = s->rx_line_free + bt;
        if (t < t_read)
            t = t_read;
        s->rx_line_free = t;
        wire_ent e = {.t = t, .arg = baud, .kind = W_DATA, .byte = data[i], .ep = (uint8_t)ep,
                      .fault = fault_at(i, drop_at, corrupt_at)};
        sim_ring_push(&s->wire, &e, WIRE_MAX);
    }
}

void sim_wire_push_marker(fl_sim *s, int ep, int kind, uint32_t arg, double t_read)
{
    double t = s->rx_line_free > t_read ? s->rx_line_free : t_read;
    wire_ent e = {.t = t, .arg = arg, .kind = (uint8_t)kind, .ep = (uint8_t)ep};
    sim_ring_push(&s->wire, &e, 0);
}

/* A byte that went through a UART at the wrong rate: lost or something else. */
static bool garble(fl_sim *s, uint8_t *b)
{
    if (sim_rand(s) & 1) {
        s->stats.bytes_dropped++;
        return false;
    }
    *b = (uint8_t)sim_rand(s);
    s->stats.bytes_corrupted++;
    return true;
}

/* Test fault max_baud: the line cannot carry this rate. */
static bool line_too_fast(const fl_sim *s, uint32_t baud)
{
    return s->o.max_baud && baud > s->o.max_baud;
}

/* Apply the fault picked for this byte; false = the byte is lost. */
static bool inject(fl_sim *s, uint8_t *b, uint8_t fault)
{
    if (fault & SIM_FAULT_DROP) {
        s->stats.bytes_dropped++;
        return false;
    }
    if (fault & SIM_FAULT_CORRUPT) {
        *b ^= (uint8_t)(1 + sim_rand(s) % 255);
        s->stats.bytes_corrupted++;
    }
    return true;
}

static void wire_deliver(fl_sim *s)
{
    wire_ent e = *(wire_ent *)sim_ring_peek(&s->wire, 0);
    sim_ring_pop(&s->wire);
    sim_dev *d = &s->dev;
    switch (e.kind) {
    case W_DATA: {
        s->wire_host_bytes++;
        if (s->o.brownout_at >= 0 && !d->brownout_done && !d->brownout_armed &&
            s->wire_host_bytes >= (uint64_t)s->o.brownout_at)
            d->brownout_armed = true;
        if (!sim_dev_accepts_bytes(s))
            return;
        uint8_t b = e.byte;
        if (!inject(s, &b, e.fault))
            return;
        if ((sim_baud_mismatch(e.arg, d->baud) || line_too_fast(s, d->baud)) && !garble(s, &b))
            return;
        if (s->chip->pers == SIM_LBOOT && s->fifo.len >= LB_FIFO_BYTES)
            return; /* ring buffer overrun while the loader is busy */
        if (s->esp && s->fifo.len >= sim_esp_rx_buffer())
            return; /* ESP ROM: its receive buffer overran while a command executes */
        d->last_rx = e.t;
        fifo_ent f = {.t = e.t, .byte = b};
        sim_ring_push(&s->fifo, &f, 1u << 20); /* ROM: the ISR parses on; bounded anyway */
        return;
    }
    case W_BAUD:
        s->ep[e.ep].baud_line = e.arg;
        return;
    case W_LINES:
        if (e.arg & 1)
            d->rts_asserted = (e.arg & 2) != 0;
        if ((e.arg & 3) == 3)
            sim_trace(s, "rts-low", 0);
        if (e.arg & 4)
            d->dtr_asserted = (e.arg & 8) != 0;
        sim_dev_update_power(s, e.t);
        return;
    default:
        return;
    }
}

static double fifo_time(fl_sim *s)
{
    if (!s->fifo.len)
        return SIM_INF;
    double t = ((fifo_ent *)sim_ring_peek(&s->fifo, 0))->t;
    return t > s->dev.busy_until ? t : s->dev.busy_until;
}

double sim_advance(fl_sim *s, double now)
{
    for (int guard = 0; guard < 10000000; guard++) {
        double tw = s->wire.len ? ((wire_ent *)sim_ring_peek(&s->wire, 0))->t : SIM_INF;
        double tf = fifo_time(s);
        double tt = sim_dev_next_timer(s);
        double td = tf < tt ? tf : tt;
        if (tw < td) { /* ties: the chip first takes what already reached it */
            if (tw > now)
                break;
            wire_deliver(s);
        } else {
            if (td > now)
                break;
            if (tt < tf) { /* ties: a byte that is there counts before any deadline */
                sim_dev_fire_timers(s, tt);
            } else {
                fifo_ent f = *(fifo_ent *)sim_ring_peek(&s->fifo, 0);
                sim_ring_pop(&s->fifo);
                sim_dev_rx(s, f.byte, tf);
            }
        }
    }
    double next = SIM_INF;
    if (s->wire.len) {
        double head = ((wire_ent *)sim_ring_peek(&s->wire, 0))->t;
        double tail = ((wire_ent *)sim_ring_peek(&s->wire, s->wire.len - 1))->t;
        double w = head > now + CHUNK_S ? head : now + CHUNK_S;
        next = w < tail ? w : tail;
    }
    double tf = fifo_time(s), tt = sim_dev_next_timer(s);
    if (tf < next)
        next = tf;
    if (tt < next)
        next = tt;
    return next;
}

/* ------------------------------------------------------------------ chip → host */

double sim_tx(fl_sim *s, double t, const uint8_t *data, size_t len, bool reply)
{
    if (reply && s->o.stall_ms > 0 && sim_rand01(s) < s->stall_rate)
        t += s->o.stall_ms / 1000.0; /* a fault, deliberately not scaled */
    double bt = sim_byte_time(s, s->dev.baud);
    size_t drop_at, corrupt_at;
    pick_faults(s, len, s->dev.baud, &drop_at, &corrupt_at);
    for (size_t i = 0; i < len; i++) {
        double start = s->tx_line_free > t ? s->tx_line_free : t;
        s->tx_line_free = start + bt;
        tx_ent e = {.t_done = s->tx_line_free, .baud = s->dev.baud, .byte = data[i],
                    .fault = fault_at(i, drop_at, corrupt_at)};
        sim_ring_push(&s->tx, &e, 0);
    }
    return s->tx_line_free > t ? s->tx_line_free : t;
}

void sim_tx_cut(fl_sim *s, double t)
{
    /* Bytes still in the chip's transmitter when it resets never leave. */
    while (s->tx.len) {
        tx_ent *e = sim_ring_peek(&s->tx, s->tx.len - 1);
        if (e->t_done <= t)
            break;
        s->tx.len--;
    }
    if (!s->tx.len)
        s->tx.head = 0;
    s->tx_line_free = s->tx.len ? ((tx_ent *)sim_ring_peek(&s->tx, s->tx.len - 1))->t_done : t;
    if (s->tx_line_free > t)
        s->tx_line_free = t;
}

void sim_ep_append(sim_ep *ep, const uint8_t *p, size_t n)
{
    if (ep->out_len + n > ep->out_cap) {
        size_t ncap = ep->out_cap ? ep->out_cap : 4096;
        while (ncap < ep->out_len + n)
            ncap *= 2;
        if (ncap > (8u << 20))
            return; /* nobody reads: drop, as a UART would */
        uint8_t *nb = realloc(ep->out, ncap);
        if (!nb)
            return;
        ep->out = nb;
        ep->out_cap = ncap;
    }
    memcpy(ep->out + ep->out_len, p, n);
    ep->out_len += n;
}

double sim_deliver(fl_sim *s, double now)
{
    while (s->tx.len) {
        tx_ent e = *(tx_ent *)sim_ring_peek(&s->tx, 0);
        if (e.t_done > now)
            break;
        sim_ring_pop(&s->tx);
        s->stats.bytes_to_host++;
        uint8_t b = e.byte;
        if (!inject(s, &b, e.fault))
            continue;
        for (int i = 0; i < SIM_NEP; i++) {
            sim_ep *ep = &s->ep[i];
            if (ep->fd < 0)
                continue;
            uint8_t c = b;
            if ((sim_baud_mismatch(e.baud, ep->baud_line) || line_too_fast(s, e.baud)) &&
                !garble(s, &c))
                continue;
            if (ep->telnet && c == TN_IAC) {
                uint8_t two[2] = {TN_IAC, TN_IAC};
                sim_ep_append(ep, two, 2);
            } else {
                sim_ep_append(ep, &c, 1);
            }
        }
    }
    if (!s->tx.len)
        return SIM_INF;
    double head = ((tx_ent *)sim_ring_peek(&s->tx, 0))->t_done;
    double tail = ((tx_ent *)sim_ring_peek(&s->tx, s->tx.len - 1))->t_done;
    double w = head > now + CHUNK_S ? head : now + CHUNK_S;
    return w < tail ? w : tail;
}
