/* ch341a.c — CH341A packets: stream config, UIO pins, SPI frames in batches. */
#include "drivers/ch341a_spi/ch341a.h"

#include <stdlib.h>
#include <string.h>

struct ch341a {
    fl_usb *u;
    uint8_t out6;  /* idle levels of D0..D5 (CS0 high); bit 2 is D2 = Beken CEN */
    uint8_t dir6;  /* directions of D0..D5 (1 = output) */
    bool cs_low;   /* CS0 as the device last drove it */
    ch341a_stats stats;
};

/* IN transfers kept queued while a batch streams out (flashrom keeps 32). */
#define STREAM_DEPTH 32u
/* After a failed batch: how long to wait for stale replies while draining. */
#define DRAIN_TIMEOUT_MS 20u
#define MAX_UIO_DELAY 63u /* STM_US takes 6 bits of microseconds */
#define BITBANG_MAX 4u    /* bytes in one bit-banged frame (ch341a_batch_bitbang) */
#define BITBANG_MAX_DELAY_US (40u * MAX_UIO_DELAY)

uint8_t ch341a_reverse(uint8_t b)
{
    b = (uint8_t)((b & 0xF0) >> 4 | (b & 0x0F) << 4);
    b = (uint8_t)((b & 0xCC) >> 2 | (b & 0x33) << 2);
    b = (uint8_t)((b & 0xAA) >> 1 | (b & 0x55) << 1);
    return b;
}

size_t ch341a_spi_out_len(size_t n)
{
    return n + (n + CH341A_SPI_MAX - 1) / CH341A_SPI_MAX;
}

/* Packets for tx[0..tx_len) followed by filler up to n bytes. */
static size_t spi_packets_fill(const uint8_t *tx, size_t tx_len, size_t n, uint8_t *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (i % CH341A_SPI_MAX == 0)
            out[k++] = CH341A_CMD_SPI;
        out[k++] = i < tx_len ? ch341a_reverse(tx[i]) : 0xFF; /* filler 0xFF reversed is 0xFF */
    }
    return k;
}

size_t ch341a_spi_packets(const uint8_t *tx, size_t n, uint8_t *out)
{
    return spi_packets_fill(tx, n, n, out);
}

/* ---- plain transfers ----------------------------------------------------- */

static fl_status send(ch341a *c, const uint8_t *buf, size_t len, fl_error *err)
{
    c->stats.out_transfers++;
    return fl_usb_bulk_out(c->u, buf, len, CH341A_USB_TIMEOUT_MS, err);
}

static uint8_t idle_out(const ch341a *c)
{
    return (uint8_t)(c->out6 | CH341A_PIN_CS0);
}

static fl_status send_pins(ch341a *c, fl_error *err)
{
    uint8_t p[4] = {CH341A_CMD_UIO, (uint8_t)(CH341A_UIO_OUT | idle_out(c)),
                    (uint8_t)(CH341A_UIO_DIR | c->dir6), CH341A_UIO_END};
    fl_status st = send(c, p, sizeof p, err);
    if (!st)
        c->cs_low = false;
    return st;
}

fl_status ch341a_init(fl_usb *u, ch341a **out, fl_error *err)
{
    *out = NULL;
    ch341a *c = calloc(1, sizeof *c);
    if (!c)
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    c->u = u;
    c->out6 = CH341A_IDLE_NO_D2 | CH341A_PIN_CEN; /* CEN high: a Beken chip keeps running */
    c->dir6 = CH341A_DIR_SPI;
    c->cs_low = true; /* unknown until the first pin packet: release it */
    /* AA 61 00: STM_SET (100 kHz I2C, single-width SPI, bit 2 clear), END. */
    static const uint8_t cfg[3] = {CH341A_CMD_I2C, 0x61, 0x00};
    fl_status st = send(c, cfg, sizeof cfg, err);
    if (!st)
        st = send_pins(c, err);
    if (st) {
        free(c);
        return fl_fail_prefix(err, "setting up the CH341A");
    }
    *out = c;
    return FL_OK;
}

void ch341a_free(ch341a *c)
{
    if (!c)
        return;
    /* CS high, and let go of SCK/MOSI/CS so a booting target's pins are not
     * fought; D2 stays driven at its level (CEN must not float low). */
    uint8_t p[4] = {CH341A_CMD_UIO, (uint8_t)(CH341A_UIO_OUT | idle_out(c)),
                    (uint8_t)(CH341A_UIO_DIR | CH341A_PIN_CEN), CH341A_UIO_END};
    fl_error e;
    (void)send(c, p, sizeof p, &e);
    free(c);
}

fl_usb *ch341a_usb(ch341a *c) { return c->u; }
uint64_t ch341a_now_us(ch341a *c) { return fl_usb_now_us(c->u); }
void ch341a_delay_us(ch341a *c, uint64_t us) { fl_usb_delay_us(c->u, us); }
bool ch341a_d2(const ch341a *c) { return c->out6 & CH341A_PIN_CEN; }

fl_status ch341a_set_d2(ch341a *c, bool high, fl_error *err)
{
    c->out6 = (uint8_t)(high ? c->out6 | CH341A_PIN_CEN : c->out6 & ~CH341A_PIN_CEN);
    c->dir6 |= CH341A_PIN_CEN;
    return send_pins(c, err);
}

fl_status ch341a_gpio_set(ch341a *c, unsigned bit, bool output, bool level, fl_error *err)
{
    if (bit > 5)
        return fl_fail(err, FL_ERR_USAGE, "CH341A UIO drives D0..D5 only (asked for D%u)", bit);
    uint8_t m = (uint8_t)(1u << bit);
    c->out6 = (uint8_t)(level ? c->out6 | m : c->out6 & ~m);
    c->dir6 = (uint8_t)(output ? c->dir6 | m : c->dir6 & ~m);
    return send_pins(c, err);
}

fl_status ch341a_gpio_read(ch341a *c, uint8_t *d7_0, fl_error *err)
{
    static const uint8_t p[3] = {CH341A_CMD_UIO, CH341A_UIO_IN, CH341A_UIO_END};
    fl_status st = send(c, p, sizeof p, err);
    uint8_t buf[CH341A_PACKET];
    size_t got = 0;
    if (!st)
        st = fl_usb_bulk_in(c->u, buf, sizeof buf, &got, CH341A_USB_TIMEOUT_MS, err);
    if (!st && got != 1)
        st = fl_fail(err, FL_ERR_PROTOCOL, "CH341A pin read: %zu bytes instead of 1", got);
    if (st)
        return fl_fail_prefix(err, "reading the CH341A pins");
    *d7_0 = buf[0];
    return FL_OK;
}

fl_status ch341a_release(ch341a *c, fl_error *err)
{
    uint8_t p[3] = {CH341A_CMD_UIO, (uint8_t)(CH341A_UIO_OUT | idle_out(c)), CH341A_UIO_END};
    fl_status st = send(c, p, sizeof p, err);
    if (st) { /* once more: a flash left selected mid-command is worse than a slow error */
        fl_error e;
        if (!send(c, p, sizeof p, &e))
            st = FL_OK;
    }
    if (!st)
        c->cs_low = false;
    return st;
}

/* ---- batches ------------------------------------------------------------- */

void ch341a_batch_init(ch341a_batch *b)
{
    memset(b, 0, sizeof *b);
    b->fresh = true;
}

void ch341a_batch_reset(ch341a_batch *b)
{
    b->out_len = 0;
    b->rx_len = 0;
    b->ended_short = false;
    b->cs_low = false;
    b->fresh = true;
    b->piece = 0;
    b->pieces = 0;
}

void ch341a_batch_free(ch341a_batch *b)
{
    free(b->out);
    memset(b, 0, sizeof *b);
}

bool ch341a_batch_open(const ch341a_batch *b)
{
    return !b->ended_short;
}

static fl_status reserve(ch341a_batch *b, size_t more, fl_error *err)
{
    if (b->out_len + more <= b->out_cap)
        return FL_OK;
    size_t cap = b->out_cap ? b->out_cap : 1024;
    while (cap < b->out_len + more)
        cap *= 2;
    uint8_t *p = realloc(b->out, cap);
    if (!p)
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    b->out = p;
    b->out_cap = cap;
    return FL_OK;
}

/* One or more UIO packets, each padded to 32 bytes (a following command
 * must start on a packet boundary): CS high if low, wait, then CS low if
 * `select`.  CS high lasts at least 1 us. */
static fl_status uio_cs(ch341a *c, ch341a_batch *b, bool select, unsigned delay_us,
                        fl_error *err)
{
    if (b->ended_short)
        return fl_fail(err, FL_ERR_INTERNAL, "CH341A batch: a command after a short SPI packet");
    if (b->fresh) {
        b->cs_low = c->cs_low;
        b->fresh = false;
    }
    if (b->cs_low && delay_us == 0)
        delay_us = 1;
    bool release = b->cs_low;
    for (;;) {
        fl_status st = reserve(b, CH341A_PACKET, err);
        if (st)
            return st;
        uint8_t *p = b->out + b->out_len;
        memset(p, 0, CH341A_PACKET);
        size_t k = 0;
        p[k++] = CH341A_CMD_UIO;
        if (release) {
            p[k++] = (uint8_t)(CH341A_UIO_OUT | idle_out(c));
            release = false;
        }
        while (delay_us && k < CH341A_PACKET - 3) { /* keep room for OUT, DIR, END */
            unsigned d = delay_us < MAX_UIO_DELAY ? delay_us : MAX_UIO_DELAY;
            p[k++] = (uint8_t)(CH341A_UIO_US | d);
            delay_us -= d;
        }
        if (!delay_us && select) {
            p[k++] = (uint8_t)(CH341A_UIO_OUT | (idle_out(c) & ~CH341A_PIN_CS0));
            p[k++] = (uint8_t)(CH341A_UIO_DIR | c->dir6);
        }
        p[k++] = CH341A_UIO_END;
        b->out_len += CH341A_PACKET;
        if (!delay_us)
            break;
    }
    b->cs_low = select;
    return FL_OK;
}

fl_status ch341a_batch_frame(ch341a *c, ch341a_batch *b, const uint8_t *tx, size_t tx_len,
                             size_t n, unsigned delay_us, size_t *rx_off, fl_error *err)
{
    fl_status st = uio_cs(c, b, true, delay_us, err);
    return st ? st : ch341a_batch_data(c, b, tx, tx_len, n, rx_off, err);
}

fl_status ch341a_batch_data(ch341a *c, ch341a_batch *b, const uint8_t *tx, size_t tx_len,
                            size_t n, size_t *rx_off, fl_error *err)
{
    (void)c;
    if (b->ended_short || !b->cs_low || b->fresh)
        return fl_fail(err, FL_ERR_INTERNAL, "CH341A batch: SPI data with no frame open");
    if (tx_len > n)
        tx_len = n;
    fl_status st = reserve(b, ch341a_spi_out_len(n), err);
    if (st)
        return st;
    if (rx_off)
        *rx_off = b->rx_len;
    b->out_len += spi_packets_fill(tx, tx_len, n, b->out + b->out_len);
    b->rx_len += n;
    b->ended_short = n % CH341A_SPI_MAX != 0;
    return FL_OK;
}

/* UIO instructions of a bit-banged frame, in order (see ch341a_batch_bitbang). */
typedef struct uio_prog {
    uint8_t ins[96 + 2 * 8 * BITBANG_MAX];
    size_t n;
} uio_prog;

static void uio_add(uio_prog *u, uint8_t instruction)
{
    u->ins[u->n++] = instruction;
}

/* SPI mode 0 by hand: MOSI set while SCK is low, sampled on the rising edge;
 * SCK low again before CS rises. */
static void uio_bitbang(const ch341a *c, uio_prog *u, const uint8_t *tx, size_t n)
{
    uint8_t sel = (uint8_t)(idle_out(c) & ~(CH341A_PIN_CS0 | CH341A_PIN_SCK | CH341A_PIN_MOSI));
    for (size_t i = 0; i < n; i++)
        for (int bit = 7; bit >= 0; bit--) {
            uint8_t v = (uint8_t)(sel | ((tx[i] >> bit) & 1 ? CH341A_PIN_MOSI : 0));
            uio_add(u, (uint8_t)(CH341A_UIO_OUT | v));
            uio_add(u, (uint8_t)(CH341A_UIO_OUT | v | CH341A_PIN_SCK));
        }
    uio_add(u, (uint8_t)(CH341A_UIO_OUT | sel));
}

/* Whole 32-byte UIO packets; the LAST packet is filled first, so the
 * packets before the SPI data that follows are as long as they can be and
 * that data is already waiting in the device when they end. */
static fl_status uio_pack(ch341a_batch *b, const uio_prog *u, fl_error *err)
{
    const size_t per = CH341A_PACKET - 2; /* the command byte and END */
    size_t packets = (u->n + per - 1) / per, first = u->n - (packets - 1) * per;
    fl_status st = reserve(b, packets * CH341A_PACKET, err);
    for (size_t k = 0, at = 0; !st && k < packets; k++) {
        size_t take = k == 0 ? first : per;
        uint8_t *p = b->out + b->out_len;
        memset(p, 0, CH341A_PACKET);
        p[0] = CH341A_CMD_UIO;
        memcpy(p + 1, u->ins + at, take);
        p[1 + take] = CH341A_UIO_END;
        at += take;
        b->out_len += CH341A_PACKET;
    }
    return st;
}

fl_status ch341a_batch_bitbang(ch341a *c, ch341a_batch *b, unsigned delay_us, const uint8_t *tx,
                               size_t n, bool select_after, fl_error *err)
{
    if (b->ended_short)
        return fl_fail(err, FL_ERR_INTERNAL, "CH341A batch: a command after a short SPI packet");
    if (n > BITBANG_MAX || delay_us > BITBANG_MAX_DELAY_US)
        return fl_fail(err, FL_ERR_INTERNAL, "CH341A batch: bit-banged frame too long");
    if (b->fresh) {
        b->cs_low = c->cs_low;
        b->fresh = false;
    }
    uio_prog u = {.n = 0};
    uint8_t idle = (uint8_t)(idle_out(c) & ~CH341A_PIN_SCK);
    if (b->cs_low || delay_us)
        uio_add(&u, (uint8_t)(CH341A_UIO_OUT | idle)); /* ends the frame before */
    for (; delay_us; delay_us -= delay_us < MAX_UIO_DELAY ? delay_us : MAX_UIO_DELAY)
        uio_add(&u, (uint8_t)(CH341A_UIO_US | (delay_us < MAX_UIO_DELAY ? delay_us : MAX_UIO_DELAY)));
    uio_add(&u, (uint8_t)(CH341A_UIO_DIR | c->dir6));
    uio_bitbang(c, &u, tx, n);
    uio_add(&u, (uint8_t)(CH341A_UIO_OUT | idle)); /* CS high: the command runs */
    if (select_after)
        uio_add(&u, (uint8_t)(CH341A_UIO_OUT | (idle & ~CH341A_PIN_CS0)));
    b->cs_low = select_after;
    return uio_pack(b, &u, err);
}

fl_status ch341a_batch_end_piece(ch341a_batch *b, fl_error *err)
{
    size_t want = b->piece ? (b->pieces + 1) * b->piece : b->out_len;
    if (b->out_len == 0 || b->out_len != want)
        return fl_fail(err, FL_ERR_INTERNAL,
                       "CH341A batch: piece %zu ends at byte %zu, not %zu (pieces must be equal)",
                       b->pieces + 1, b->out_len, want);
    if (!b->piece)
        b->piece = b->out_len;
    b->pieces++;
    b->ended_short = false; /* the next piece is a transfer of its own */
    return FL_OK;
}

fl_status ch341a_batch_release(ch341a *c, ch341a_batch *b, unsigned delay_us, fl_error *err)
{
    return uio_cs(c, b, false, delay_us, err);
}

/* Throw away replies a failed batch left queued, so the next command does
 * not take them for its own. */
static void drain(ch341a *c)
{
    uint8_t buf[CH341A_PACKET];
    fl_error e;
    for (int i = 0; i < 256; i++) {
        size_t got = 0;
        if (fl_usb_bulk_in(c->u, buf, sizeof buf, &got, DRAIN_TIMEOUT_MS, &e) || got == 0)
            break;
    }
}

/* Without transfers in flight: each packet on its own, and after each SPI
 * packet its reply (ch341prog's way, spec A.2 point 5). */
static fl_status run_packetwise(ch341a *c, const ch341a_batch *b, uint8_t *rx, fl_error *err)
{
    size_t got_total = 0;
    for (size_t p = 0; p < b->out_len;) {
        /* 32-byte packets within each piece; a piece may end on a short one */
        size_t piece_end = b->piece ? (p / b->piece + 1) * b->piece : b->out_len;
        if (piece_end > b->out_len)
            piece_end = b->out_len;
        size_t n = piece_end - p < CH341A_PACKET ? piece_end - p : CH341A_PACKET;
        size_t at = p;
        p += n;
        fl_status st = send(c, b->out + at, n, err);
        if (st)
            return st;
        if (b->out[at] != CH341A_CMD_SPI)
            continue;
        uint8_t buf[CH341A_PACKET];
        size_t got = 0;
        st = fl_usb_bulk_in(c->u, buf, sizeof buf, &got, CH341A_USB_TIMEOUT_MS, err);
        if (!st && got != n - 1)
            st = fl_fail(err, FL_ERR_PROTOCOL, "CH341A answered %zu SPI bytes instead of %zu",
                         got, n - 1);
        if (st)
            return st;
        memcpy(rx + got_total, buf, got);
        got_total += got;
    }
    return FL_OK;
}

static fl_status run_wire(ch341a *c, const ch341a_batch *b, uint8_t *rx, fl_error *err)
{
    c->stats.spi_bytes += b->rx_len;
    if (b->rx_len == 0)
        return send(c, b->out, b->out_len, err);
    if (!c->u->ops->stream)
        return run_packetwise(c, b, rx, err);
    /* even one packet goes as a stream: its reply is asked for while the OUT
     * is on its way, one bus frame instead of two */
    c->stats.out_transfers++;
    unsigned timeout = CH341A_USB_TIMEOUT_MS + (unsigned)(b->out_len / 16);
    return fl_usb_stream(c->u, b->out, b->out_len, b->piece ? b->piece : CH341A_PACKET, rx,
                         b->rx_len, CH341A_SPI_MAX, STREAM_DEPTH, timeout, err);
}

fl_status ch341a_run(ch341a *c, const ch341a_batch *b, uint8_t *rx, fl_error *err)
{
    if (b->out_len == 0)
        return FL_OK;
    if (b->piece && b->out_len - b->pieces * b->piece > b->piece)
        return fl_fail(err, FL_ERR_INTERNAL,
                       "CH341A batch: the last piece is longer than the others (%zu > %zu)",
                       b->out_len - b->pieces * b->piece, b->piece);
    uint8_t *tmp = NULL;
    if (!rx && b->rx_len) {
        rx = tmp = malloc(b->rx_len);
        if (!tmp)
            return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    }
    fl_status st = run_wire(c, b, rx, err);
    if (st) {
        free(tmp);
        /* CS may be low with a half-sent command: raise it so the flash
         * drops the command, and forget stale replies */
        fl_error e;
        drain(c);
        c->cs_low = true;
        (void)ch341a_release(c, &e);
        return fl_fail_prefix(err, "CH341A SPI transfer");
    }
    for (size_t i = 0; i < b->rx_len; i++)
        rx[i] = ch341a_reverse(rx[i]);
    free(tmp);
    if (!b->fresh)
        c->cs_low = b->cs_low;
    return FL_OK;
}

fl_status ch341a_xfer(ch341a *c, const uint8_t *tx, size_t tx_len, uint8_t *rx, size_t n,
                      fl_error *err)
{
    ch341a_batch b;
    ch341a_batch_init(&b);
    fl_status st = ch341a_batch_frame(c, &b, tx, tx_len, n, 0, NULL, err);
    if (!st)
        st = ch341a_run(c, &b, rx, err);
    ch341a_batch_free(&b);
    return st;
}

void ch341a_get_stats(const ch341a *c, ch341a_stats *out)
{
    *out = c->stats;
}
