/* test_ch341a_spi.c — the CH341A SPI driver: packet building (exact bytes),
 * bit reversal, the SPI NOR part table and size rule, and (against the CH341A
 * emulator) identify, read, write, erase, unprotect, Beken SPI-mode entry and
 * the failure paths, through the driver table entry the library calls. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "drivers/ch341a_spi/beken_spi.h"
#include "drivers/ch341a_spi/ch341a.h"
#include "drivers/ch341a_spi/spi25.h"
#include "flash/driver.h"
#include "flash/flash_parts.h"
#include "formats/beken_rf.h"
#include "sim/ch341a/ch341a_emu.h"
#include "testlib.h"

/* ---- a recording USB device: OUT bytes kept, SPI looped back (MISO = MOSI) ---- */

typedef struct mock {
    uint8_t out[8192];
    size_t out_len;
    unsigned transfers;
    uint8_t in[8192]; /* queued reply bytes (wire order) */
    size_t in_len;
    uint64_t now;
} mock;

/* Parse the packets as the CH341A would and queue SPI echoes. */
static void mock_take(mock *m, const uint8_t *d, size_t len)
{
    memcpy(m->out + m->out_len, d, len);
    m->out_len += len;
    m->transfers++;
    for (size_t p = 0; p < len; p += CH341A_PACKET)
        if (d[p] == CH341A_CMD_SPI) {
            size_t n = len - p < CH341A_PACKET ? len - p : CH341A_PACKET;
            memcpy(m->in + m->in_len, d + p + 1, n - 1);
            m->in_len += n - 1;
        }
}

static fl_status m_out(fl_usb *u, const uint8_t *d, size_t len, unsigned t, fl_error *err)
{
    mock_take(u->impl, d, len);
    return FL_OK;
}

static fl_status m_in(fl_usb *u, uint8_t *buf, size_t len, size_t *got, unsigned t, fl_error *err)
{
    mock *m = u->impl;
    if (!m->in_len)
        return fl_fail(err, FL_ERR_TIMEOUT, "nothing queued");
    size_t n = m->in_len < CH341A_SPI_MAX ? m->in_len : CH341A_SPI_MAX;
    if (n > len)
        n = len;
    memcpy(buf, m->in, n);
    memmove(m->in, m->in + n, m->in_len - n);
    m->in_len -= n;
    *got = n;
    return FL_OK;
}

static fl_status m_ctl(fl_usb *u, bool in, uint8_t r, uint16_t v, uint16_t i, uint8_t *d,
                       uint16_t len, size_t *got, unsigned t, fl_error *err)
{
    return FL_OK;
}

static fl_status m_stream(fl_usb *u, const uint8_t *out, size_t out_len, size_t packet,
                          uint8_t *in, size_t in_len, size_t rpp, unsigned depth, unsigned t,
                          fl_error *err)
{
    mock *m = u->impl;
    mock_take(m, out, out_len);
    if (m->in_len < in_len)
        return fl_fail(err, FL_ERR_TIMEOUT, "short");
    memcpy(in, m->in, in_len);
    memmove(m->in, m->in + in_len, m->in_len - in_len);
    m->in_len -= in_len;
    return FL_OK;
}

static void m_delay(fl_usb *u, uint64_t us) { ((mock *)u->impl)->now += us; }
static uint64_t m_now(fl_usb *u) { return ((mock *)u->impl)->now; }
static void m_close(fl_usb *u) {}

static const fl_usb_ops mock_ops = {"mock", m_out, m_in, m_ctl, m_stream, m_delay, m_now, m_close};

static void mock_usb(fl_usb *u, mock *m)
{
    memset(u, 0, sizeof *u);
    memset(m, 0, sizeof *m);
    u->ops = &mock_ops;
    u->impl = m;
    snprintf(u->where, sizeof u->where, "mock");
}

static void expect_bytes(const uint8_t *got, const uint8_t *want, size_t n, const char *what)
{
    size_t i = 0;
    while (i < n && got[i] == want[i])
        i++;
    CHECK(i == n, "%s: byte %zu is 0x%02X, expected 0x%02X", what, i, i < n ? got[i] : 0,
          i < n ? want[i] : 0);
}

typedef struct logbuf_t {
    char text[65536];
    size_t len;
} logbuf_t;

static void lb_log(void *ctx, fl_log_level level, const char *msg)
{
    logbuf_t *l = ctx;
    int n = snprintf(l->text + l->len, sizeof l->text - l->len, "%s\n", msg);
    if (n > 0 && l->len + (size_t)n < sizeof l->text)
        l->len += (size_t)n;
}

/* ---- pure: reversal and packets ------------------------------------------------ */

static void test_reverse_table(void)
{
    /* spec A.6: logical -> wire */
    static const uint8_t pairs[][2] = {{0x01, 0x80}, {0x02, 0x40}, {0x03, 0xC0}, {0x04, 0x20},
                                       {0x05, 0xA0}, {0x06, 0x60}, {0x0B, 0xD0}, {0x20, 0x04},
                                       {0x31, 0x8C}, {0x35, 0xAC}, {0x50, 0x0A}, {0x60, 0x06},
                                       {0x9F, 0xF9}, {0xC7, 0xE3}, {0xD2, 0x4B}, {0xD8, 0x1B},
                                       {0x00, 0x00}, {0xFF, 0xFF}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        CHECK_EQ_UINT(ch341a_reverse(pairs[i][0]), pairs[i][1]);
    for (unsigned v = 0; v < 256; v++)
        CHECK_EQ_UINT(ch341a_reverse(ch341a_reverse((uint8_t)v)), v);
}

static void test_spi_packets(void)
{
    uint8_t tx[65], out[80];
    for (int i = 0; i < 65; i++)
        tx[i] = (uint8_t)i;
    size_t n = ch341a_spi_packets(tx, sizeof tx, out);
    CHECK_EQ_UINT(n, 68);
    CHECK_EQ_UINT(ch341a_spi_out_len(65), 68);
    CHECK_EQ_UINT(ch341a_spi_out_len(31), 32);
    CHECK_EQ_UINT(ch341a_spi_out_len(260), 269); /* a page program: 9 packets */
    CHECK_EQ_UINT(out[0], 0xA8);
    CHECK_EQ_UINT(out[32], 0xA8);
    CHECK_EQ_UINT(out[64], 0xA8);
    CHECK_EQ_UINT(out[1], 0x00);
    CHECK_EQ_UINT(out[2], 0x80);  /* logical 1 */
    CHECK_EQ_UINT(out[33], ch341a_reverse(31));
    CHECK_EQ_UINT(out[67], ch341a_reverse(64));
}

static void test_init_and_jedec_frame(void)
{
    fl_usb u;
    mock m;
    mock_usb(&u, &m);
    ch341a *c;
    fl_error err;
    CHECK(ch341a_init(&u, &c, &err) == FL_OK, "%s", err.msg);
    static const uint8_t init[] = {0xAA, 0x61, 0x00, 0xAB, 0xB7, 0x7F, 0x20};
    CHECK_EQ_UINT(m.out_len, sizeof init);
    expect_bytes(m.out, init, sizeof init, "init");
    m.out_len = 0;

    /* JEDEC: 9F + 3 filler, CS was high: one UIO packet (assert) + one SPI packet */
    uint8_t op = 0x9F, rx[4];
    CHECK(ch341a_xfer(c, &op, 1, rx, 4, &err) == FL_OK, "%s", err.msg);
    uint8_t want[37] = {0xAB, 0xB6, 0x7F, 0x20};
    uint8_t spi[5] = {0xA8, 0xF9, 0xFF, 0xFF, 0xFF};
    memcpy(want + 32, spi, 5);
    CHECK_EQ_UINT(m.out_len, sizeof want);
    expect_bytes(m.out, want, sizeof want, "jedec frame");
    CHECK_EQ_UINT(rx[0], 0x9F); /* the loopback gives MOSI back, reversed twice */
    CHECK_EQ_UINT(rx[3], 0xFF);
    m.out_len = 0;

    /* next frame: CS goes high (1 us), then low again, in the same UIO packet */
    uint8_t rd[2] = {0x05, 0x00};
    CHECK(ch341a_xfer(c, rd, 2, NULL, 2, &err) == FL_OK, "%s", err.msg);
    uint8_t want2[35] = {0xAB, 0xB7, 0xC1, 0xB6, 0x7F, 0x20};
    want2[32] = 0xA8;
    want2[33] = 0xA0;
    want2[34] = 0x00;
    CHECK_EQ_UINT(m.out_len, sizeof want2);
    expect_bytes(m.out, want2, sizeof want2, "second frame");
    m.out_len = 0;

    CHECK(ch341a_release(c, &err) == FL_OK, "%s", err.msg);
    static const uint8_t rel[] = {0xAB, 0xB7, 0x20};
    CHECK_EQ_UINT(m.out_len, sizeof rel);
    expect_bytes(m.out, rel, sizeof rel, "release");
    ch341a_free(c);
}

static void test_d2_kept_in_cs_toggles(void)
{
    fl_usb u;
    mock m;
    mock_usb(&u, &m);
    ch341a *c;
    fl_error err;
    CHECK(ch341a_init(&u, &c, &err) == FL_OK, "%s", err.msg);
    m.out_len = 0;
    CHECK(ch341a_set_d2(c, false, &err) == FL_OK, "%s", err.msg);
    static const uint8_t low[] = {0xAB, 0xB3, 0x7F, 0x20}; /* spec A.8: CEN low, CS high */
    expect_bytes(m.out, low, sizeof low, "CEN low");
    m.out_len = 0;
    uint8_t d2 = 0xD2;
    CHECK(ch341a_xfer(c, &d2, 1, NULL, 1, &err) == FL_OK, "%s", err.msg);
    CHECK_EQ_UINT(m.out[1], 0xB2); /* CS low, D2 still low */
    m.out_len = 0;
    CHECK(ch341a_xfer(c, &d2, 1, NULL, 1, &err) == FL_OK, "%s", err.msg);
    CHECK_EQ_UINT(m.out[1], 0xB3); /* CS high, D2 low */
    CHECK_EQ_UINT(m.out[3], 0xB2);
    m.out_len = 0;
    CHECK(ch341a_set_d2(c, true, &err) == FL_OK, "%s", err.msg);
    static const uint8_t high[] = {0xAB, 0xB7, 0x7F, 0x20};
    expect_bytes(m.out, high, sizeof high, "CEN high");
    m.out_len = 0;
    CHECK(ch341a_gpio_set(c, 1, true, false, &err) == FL_OK, "%s", err.msg); /* D1 low */
    CHECK_EQ_UINT(m.out[1], 0xB5);
    CHECK(ch341a_gpio_set(c, 6, true, false, &err) == FL_ERR_USAGE, "D6 is input only");
    ch341a_free(c);
}

/* A page program frame: 260 bytes = 8 full packets + 12 bytes; the batch puts
 * an RDSR that fills one packet before it and a device-side wait before WREN. */
static void test_batch_layout(void)
{
    fl_usb u;
    mock m;
    mock_usb(&u, &m);
    ch341a *c;
    fl_error err;
    CHECK(ch341a_init(&u, &c, &err) == FL_OK, "%s", err.msg);
    ch341a_batch b;
    ch341a_batch_init(&b);
    uint8_t pp[260] = {0x02, 0x01, 0x23, 0x00};
    for (int i = 4; i < 260; i++)
        pp[i] = (uint8_t)i;
    uint8_t rdsr = 0x05;
    size_t off0 = 99, off1 = 99;
    CHECK(ch341a_batch_frame(c, &b, &rdsr, 1, 31, 0, &off0, &err) == FL_OK, "%s", err.msg);
    CHECK(ch341a_batch_open(&b), "a full packet leaves the batch open");
    CHECK(ch341a_batch_frame(c, &b, pp, 260, 260, 0, &off1, &err) == FL_OK, "%s", err.msg);
    CHECK(!ch341a_batch_open(&b), "a short last packet closes the batch");
    CHECK(ch341a_batch_frame(c, &b, &rdsr, 1, 2, 0, NULL, &err) == FL_ERR_INTERNAL,
          "no frame after a short packet");
    CHECK_EQ_UINT(off0, 0);
    CHECK_EQ_UINT(off1, 31);
    CHECK_EQ_UINT(b.rx_len, 291);
    CHECK_EQ_UINT(b.out_len, 32 + 32 + 32 + 269);
    /* packets: UIO assert | A8 05 FF*30 | UIO pluck | A8 02 01 23 00 04.. | ... | A8 + 12 */
    CHECK_EQ_UINT(b.out[0], 0xAB);
    CHECK_EQ_UINT(b.out[32], 0xA8);
    CHECK_EQ_UINT(b.out[33], 0xA0);
    CHECK_EQ_UINT(b.out[63], 0xFF);
    static const uint8_t pluck[6] = {0xAB, 0xB7, 0xC1, 0xB6, 0x7F, 0x20};
    expect_bytes(b.out + 64, pluck, sizeof pluck, "pluck");
    for (int p = 0; p < 9; p++)
        CHECK(b.out[96 + p * 32] == 0xA8, "packet %d starts with A8", p);
    CHECK_EQ_UINT(b.out[97], 0x40);   /* 02 */
    CHECK_EQ_UINT(b.out[98], 0x80);   /* 01 */
    CHECK_EQ_UINT(b.out[99], 0xC4);   /* 23 */
    CHECK_EQ_UINT(b.out[96 + 8 * 32 + 12], ch341a_reverse(pp[259]));
    uint8_t rx[291];
    CHECK(ch341a_run(c, &b, rx, &err) == FL_OK, "%s", err.msg);
    CHECK_EQ_UINT(rx[0], 0x05);
    CHECK_EQ_UINT(rx[31], 0x02);
    CHECK_EQ_UINT(rx[290], pp[259]);

    /* a wait of 100 us inside the device, then WREN: 63 + 37 us of STM_US */
    ch341a_batch_reset(&b);
    uint8_t wren = 0x06;
    CHECK(ch341a_batch_frame(c, &b, &wren, 1, 1, 100, NULL, &err) == FL_OK, "%s", err.msg);
    static const uint8_t waited[] = {0xAB, 0xB7, 0xFF, 0xE5, 0xB6, 0x7F, 0x20};
    expect_bytes(b.out, waited, sizeof waited, "delayed frame");
    CHECK_EQ_UINT(b.out_len, 34);
    CHECK_EQ_UINT(b.out[33], 0x60);
    /* a wait longer than one packet holds spills into more UIO packets */
    ch341a_batch_reset(&b);
    CHECK(ch341a_batch_frame(c, &b, &wren, 1, 1, 3000, NULL, &err) == FL_OK, "%s", err.msg);
    unsigned total = 0;
    size_t k = 0;
    for (; k + 32 <= b.out_len; k += 32) {
        CHECK_EQ_UINT(b.out[k], 0xAB);
        for (int i = 1; i < 32 && b.out[k + i] != 0x20; i++)
            if ((b.out[k + i] & 0xC0) == 0xC0)
                total += b.out[k + i] & 0x3F;
    }
    CHECK_EQ_UINT(total, 3000);
    CHECK_EQ_UINT(b.out[k], 0xA8);
    ch341a_batch_free(&b);
    ch341a_free(c);
}

/* ---- the escalating unprotect, against a scripted status-register chip ----------
 * The emulator's NOR clears protection at the first step, so the later steps
 * of spec B.7.3 are driven here by a tiny model that parses the same packets
 * and only accepts some of the status writes. */

enum { SRCHIP_NORMAL, SRCHIP_NO_SHORT_WRSR, SRCHIP_EWSR_ONLY, SRCHIP_LOCKED, SRCHIP_DIES };

typedef struct srchip {
    int kind;
    bool cs_low, wel, ewsr, dead;
    uint8_t sr1, sr2, sr3;
    uint8_t frame[8];
    size_t n;
    unsigned writes; /* status writes that took effect */
    uint8_t in[4096];
    size_t in_len;
    uint64_t now;
} srchip;

static void srchip_frame_end(srchip *m)
{
    const uint8_t *f = m->frame;
    bool ewsr = m->ewsr;
    m->ewsr = false;
    if (m->kind == SRCHIP_DIES && m->n == 4 && f[0] == 0x20 && m->wel)
        m->dead = true; /* the erase starts, then nothing drives MISO any more */
    if (m->n == 1 && f[0] == 0x06 && m->kind != SRCHIP_EWSR_ONLY && m->kind != SRCHIP_LOCKED)
        m->wel = true;
    if (m->n == 1 && f[0] == 0x50)
        m->ewsr = true;
    bool may = m->kind == SRCHIP_EWSR_ONLY ? ewsr : m->wel;
    bool wr = false;
    if (f[0] == 0x01 && may && (m->n == 3 || (m->n == 2 && m->kind != SRCHIP_NO_SHORT_WRSR))) {
        m->sr1 = f[1] & 0xFC;
        if (m->n == 3)
            m->sr2 = f[2];
        wr = true;
    } else if (f[0] == 0x31 && m->n == 2 && may) {
        m->sr2 = f[1];
        wr = true;
    } else if (f[0] == 0x11 && m->n == 2 && may) {
        m->sr3 = f[1];
        wr = true;
    }
    if (wr) {
        m->writes++;
        m->wel = false;
    }
}

static uint8_t srchip_byte(srchip *m, uint8_t mosi)
{
    uint8_t miso = 0xFF;
    if (m->n > 0 && !m->dead) {
        switch (m->frame[0]) {
        case 0x05: miso = (uint8_t)(m->sr1 | (m->wel ? 0x02 : 0)); break;
        case 0x35: miso = m->sr2; break;
        case 0x15: miso = m->sr3; break;
        case 0x9F: miso = m->n == 1 ? 0xEF : m->n == 2 ? 0x40 : 0x16; break;
        }
    }
    if (m->n < sizeof m->frame)
        m->frame[m->n] = mosi;
    m->n++;
    return miso;
}

static void srchip_take(srchip *m, const uint8_t *d, size_t len)
{
    for (size_t p = 0; p < len; p += CH341A_PACKET) {
        size_t n = len - p < CH341A_PACKET ? len - p : CH341A_PACKET;
        const uint8_t *k = d + p;
        if (k[0] == CH341A_CMD_UIO) {
            for (size_t i = 1; i < n && k[i] != CH341A_UIO_END; i++)
                if ((k[i] & 0xC0) == CH341A_UIO_OUT) {
                    bool low = !(k[i] & 1);
                    if (m->cs_low && !low)
                        srchip_frame_end(m);
                    if (!m->cs_low && low)
                        m->n = 0;
                    m->cs_low = low;
                }
        } else if (k[0] == CH341A_CMD_SPI) {
            for (size_t i = 1; i < n; i++)
                m->in[m->in_len++] = ch341a_reverse(
                    m->cs_low ? srchip_byte(m, ch341a_reverse(k[i])) : 0xFF);
        }
    }
}

static fl_status s_out(fl_usb *u, const uint8_t *d, size_t len, unsigned t, fl_error *err)
{
    srchip_take(u->impl, d, len);
    return FL_OK;
}

static fl_status s_in(fl_usb *u, uint8_t *buf, size_t len, size_t *got, unsigned t, fl_error *err)
{
    srchip *m = u->impl;
    size_t n = m->in_len < len ? m->in_len : len;
    if (n > CH341A_SPI_MAX)
        n = CH341A_SPI_MAX;
    if (!n)
        return fl_fail(err, FL_ERR_TIMEOUT, "nothing queued");
    memcpy(buf, m->in, n);
    memmove(m->in, m->in + n, m->in_len - n);
    m->in_len -= n;
    *got = n;
    return FL_OK;
}

static fl_status s_stream(fl_usb *u, const uint8_t *out, size_t out_len, size_t packet,
                          uint8_t *in, size_t in_len, size_t rpp, unsigned depth, unsigned t,
                          fl_error *err)
{
    srchip *m = u->impl;
    srchip_take(m, out, out_len);
    if (m->in_len < in_len)
        return fl_fail(err, FL_ERR_TIMEOUT, "short");
    memcpy(in, m->in, in_len);
    memmove(m->in, m->in + in_len, m->in_len - in_len);
    m->in_len -= in_len;
    return FL_OK;
}

static void s_delay(fl_usb *u, uint64_t us) { ((srchip *)u->impl)->now += us; }
static uint64_t s_now(fl_usb *u) { return ((srchip *)u->impl)->now += 10; }

static const fl_usb_ops srchip_ops = {"srchip", s_out, s_in, m_ctl, s_stream, s_delay, s_now,
                                      m_close};

static fl_status unprotect_on(int kind, srchip *m, logbuf_t *lb)
{
    fl_usb u;
    memset(&u, 0, sizeof u);
    memset(m, 0, sizeof *m);
    m->kind = kind;
    m->sr1 = 0xFC; /* BP0-BP4 and SRP set */
    m->sr2 = 0x42; /* CMP and QE */
    m->sr3 = 0x60;
    u.ops = &srchip_ops;
    u.impl = m;
    fl_events ev = {.log = lb_log, .ctx = lb};
    lb->len = 0;
    lb->text[0] = '\0';
    ch341a *c;
    fl_spi25 *f;
    fl_error err;
    fl_status st = ch341a_init(&u, &c, &err);
    CHECK(!st, "%s", err.msg);
    if (st)
        return st;
    CHECK(fl_spi25_new(c, &ev, &f, &err) == FL_OK, "%s", err.msg);
    st = fl_spi25_unprotect(f, &err);
    if (st)
        snprintf(lb->text + lb->len, sizeof lb->text - lb->len, "ERROR %s\n", err.msg);
    CHECK(!m->cs_low, "CS high after the unprotect");
    fl_spi25_free(f);
    ch341a_free(c);
    return st;
}

/* MISO goes dead during a sector erase: the busy poll gives up after 200 ms of
 * SR1 = 0xFF instead of waiting out the erase budget. */
static void test_dead_flash_while_busy(void)
{
    srchip m;
    memset(&m, 0, sizeof m);
    m.kind = SRCHIP_DIES;
    fl_usb u;
    memset(&u, 0, sizeof u);
    u.ops = &srchip_ops;
    u.impl = &m;
    ch341a *c;
    fl_spi25 *f;
    fl_error err;
    CHECK(ch341a_init(&u, &c, &err) == FL_OK, "%s", err.msg);
    CHECK(fl_spi25_new(c, NULL, &f, &err) == FL_OK, "%s", err.msg);
    fl_spi25_set_size(f, 4u << 20);
    fl_status st = fl_spi25_erase(f, 0x1000, 0x1000, &err);
    CHECK(st == FL_ERR_NO_BUS && strstr(err.msg, "stopped answering"), "%d %s", st, err.msg);
    CHECK(m.dead && m.now < 1000000, "gave up after %llu us", (unsigned long long)m.now);
    CHECK(!m.cs_low, "CS high");
    fl_spi25_free(f);
    ch341a_free(c);
}

static void test_unprotect_escalation(void)
{
    srchip m;
    logbuf_t lb;
    /* the GUI routine works: one WRSR and one WRSR2 */
    CHECK(unprotect_on(SRCHIP_NORMAL, &m, &lb) == FL_OK, "%s", lb.text);
    CHECK(m.sr1 == 0 && !(m.sr2 & 0x40) && m.writes == 2, "normal: SR1 %02X SR2 %02X, %u writes",
          m.sr1, m.sr2, m.writes);
    CHECK(strstr(lb.text, "status before unprotect: SR1=0xFC SR2(35h)=0x42 SR3(15h)=0x60") &&
              strstr(lb.text, "status after unprotect: SR1=0x00 SR2(35h)=0x02 SR3(15h)=0x60"),
          "normal: logged before and after: %s", lb.text);
    /* a part that ignores the one-byte WRSR: step 2's two-byte form clears it */
    CHECK(unprotect_on(SRCHIP_NO_SHORT_WRSR, &m, &lb) == FL_OK, "%s", lb.text);
    CHECK(m.sr1 == 0 && m.sr2 == 0, "two-byte WRSR: SR1 %02X SR2 %02X", m.sr1, m.sr2);
    CHECK(strstr(lb.text, "two-byte WRSR") != NULL, "step 2 named: %s", lb.text);
    /* WREN never latches: only the EWSR (50h) path writes the status */
    CHECK(unprotect_on(SRCHIP_EWSR_ONLY, &m, &lb) == FL_OK, "%s", lb.text);
    CHECK(m.sr1 == 0 && m.sr2 == 0, "EWSR: SR1 %02X SR2 %02X", m.sr1, m.sr2);
    CHECK(strstr(lb.text, "volatile status register only") != NULL, "volatile warned: %s",
          lb.text);
    /* nothing takes: a clear failure naming the registers */
    fl_status st = unprotect_on(SRCHIP_LOCKED, &m, &lb);
    CHECK(st == FL_ERR_CHIP && strstr(lb.text, "stays write-protected") &&
              strstr(lb.text, "SR1=0xFC SR2=0x42"),
          "locked: %d %s", st, lb.text);
}

/* A transport without `stream`: each packet goes alone and each SPI packet's
 * reply is read before the next (the simple path). */
static void test_packetwise_path(void)
{
    static const fl_usb_ops no_stream = {"mock", m_out, m_in, m_ctl, NULL, m_delay, m_now, m_close};
    fl_usb u;
    mock m;
    mock_usb(&u, &m);
    u.ops = &no_stream;
    ch341a *c;
    fl_error err;
    CHECK(ch341a_init(&u, &c, &err) == FL_OK, "%s", err.msg);
    m.transfers = 0;
    uint8_t tx[70], rx[70];
    for (int i = 0; i < 70; i++)
        tx[i] = (uint8_t)(i * 3);
    CHECK(ch341a_xfer(c, tx, sizeof tx, rx, sizeof rx, &err) == FL_OK, "%s", err.msg);
    CHECK(!memcmp(rx, tx, sizeof tx), "replies in order");
    CHECK_EQ_UINT(m.transfers, 4); /* UIO assert, then three SPI packets one by one */
    CHECK_EQ_UINT(m.in_len, 0);
    ch341a_free(c);
}

/* Pieces: equal lengths only; each piece may end on a short SPI packet and the next
 * one still follows; without `stream`, packets are cut inside each piece. */
static void test_batch_pieces(void)
{
    static const fl_usb_ops no_stream = {"mock", m_out, m_in, m_ctl, NULL, m_delay, m_now, m_close};
    fl_usb u;
    mock m;
    mock_usb(&u, &m);
    u.ops = &no_stream;
    ch341a *c;
    fl_error err;
    CHECK(ch341a_init(&u, &c, &err) == FL_OK, "%s", err.msg);
    ch341a_batch b;
    ch341a_batch_init(&b);
    uint8_t op[2] = {0x06, 0x05};
    CHECK(ch341a_batch_frame(c, &b, op, 1, 1, 0, NULL, &err) == FL_OK, "%s", err.msg);
    CHECK(!ch341a_batch_open(&b), "a 1-byte frame ends on a short packet");
    CHECK(ch341a_batch_frame(c, &b, op, 1, 1, 0, NULL, &err) == FL_ERR_INTERNAL,
          "nothing may follow it in the same piece");
    CHECK(ch341a_batch_end_piece(&b, &err) == FL_OK, "%s", err.msg);
    CHECK_EQ_UINT(b.piece, CH341A_PACKET + 2);
    CHECK(ch341a_batch_open(&b), "a new piece may start");
    size_t off = 0;
    CHECK(ch341a_batch_frame(c, &b, op + 1, 1, 1, 0, &off, &err) == FL_OK, "%s", err.msg);
    CHECK_EQ_UINT(off, 1);
    CHECK(ch341a_batch_end_piece(&b, &err) == FL_OK, "same length: %s", err.msg);
    CHECK(ch341a_batch_frame(c, &b, op, 2, 2, 0, NULL, &err) == FL_OK, "%s", err.msg);
    CHECK(ch341a_batch_end_piece(&b, &err) == FL_ERR_INTERNAL, "a longer piece is refused");
    ch341a_batch_reset(&b);
    CHECK(ch341a_batch_frame(c, &b, op, 1, 1, 0, NULL, &err) == FL_OK &&
              ch341a_batch_end_piece(&b, &err) == FL_OK &&
              ch341a_batch_frame(c, &b, op + 1, 1, 1, 0, NULL, &err) == FL_OK,
          "%s", err.msg);
    m.transfers = 0;
    m.out_len = 0;
    uint8_t rx[3];
    CHECK(ch341a_run(c, &b, rx, &err) == FL_OK, "%s", err.msg);
    /* UIO, WREN (2 bytes), UIO, RDSR opcode (2 bytes): each its own transfer */
    CHECK_EQ_UINT(m.transfers, 4);
    CHECK_EQ_UINT(m.out_len, 2 * CH341A_PACKET + 2 + 2);
    CHECK(m.out[CH341A_PACKET] == CH341A_CMD_SPI && m.out[CH341A_PACKET + 1] == 0x60 &&
              m.out[CH341A_PACKET + 2] == CH341A_CMD_UIO &&
              m.out[2 * CH341A_PACKET + 2] == CH341A_CMD_SPI,
          "the second piece starts right after the 2-byte WREN packet");
    /* a last piece longer than the others would be cut wrongly: refused */
    ch341a_batch_reset(&b);
    CHECK(ch341a_batch_frame(c, &b, op, 1, 1, 0, NULL, &err) == FL_OK &&
              ch341a_batch_end_piece(&b, &err) == FL_OK &&
              ch341a_batch_frame(c, &b, op + 1, 1, 2, 0, NULL, &err) == FL_OK,
          "%s", err.msg);
    m.transfers = 0;
    CHECK(ch341a_run(c, &b, rx, &err) == FL_ERR_INTERNAL && m.transfers == 0,
          "a longer last piece: %s", err.msg);
    ch341a_batch_free(&b);
    ch341a_free(c);
}

/* ---- pure: the part table and the size rule ------------------------------------- */

static void test_part_table(void)
{
    CHECK_EQ_UINT(fl_spi_part_count(), 274);
    unsigned wrong_formula = 0;
    for (size_t i = 0; i < fl_spi_part_count(); i++) {
        const fl_spi_part *p = fl_spi_part_at(i);
        CHECK(fl_spi_part_find(p->jedec) == p, "%s is found by its own ID", p->name);
        CHECK(p->size >= 0x8000 && (p->size & (p->size - 1)) == 0, "%s size %u", p->name, p->size);
        if (p->jedec[2] >= 32 || (1u << p->jedec[2]) != p->size)
            wrong_formula++;
    }
    CHECK_EQ_UINT(wrong_formula, 50); /* the appendix's "1<<cap ok = no" rows */
    CHECK(fl_spi_part_at(274) == NULL, "past the end");
    static const uint8_t en[3] = {0x1C, 0x70, 0x15}, amic[3] = {0x37, 0x20, 0x20};
    const fl_spi_part *p = fl_spi_part_find(en);
    CHECK(p && !strcmp(p->name, "EN25QH16B") && p->size == 0x200000, "EN25QH16B");
    /* the BK list and its lookup are unchanged for the UART driver */
    const fl_flash_part *bk = fl_flash_part_find(en);
    CHECK(bk && bk->sr_bytes == 1 && bk->sr_mask == 0x003C, "BK list entry kept");
    CHECK(fl_flash_part_find(amic) == NULL, "the GUI list does not leak into the BK lookup");
}

static void test_size_rule(void)
{
    uint32_t size;
    static const uint8_t gd25q32[3] = {0xC8, 0x40, 0x16}, w25q32[3] = {0xEF, 0x40, 0x16},
                         unknown16[3] = {0xAA, 0x55, 0x15},
                         unknown_big[3] = {0xAA, 0x55, 0x1A}, unknown_small[3] = {0xAA, 0x55, 0x0F},
                         none[3] = {0x00, 0x00, 0x00}, dead[3] = {0xFF, 0xFF, 0xFF},
                         amic[3] = {0x37, 0x20, 0x20}, at25[3] = {0x1F, 0x43, 0x00},
                         s25fl016a[3] = {0x01, 0x02, 0x14}, gd512[3] = {0xC8, 0x47, 0x1A};
    CHECK_EQ_UINT(fl_jedec_flash_size(gd25q32, &size), FL_JEDEC_SIZE_TABLE);
    CHECK_EQ_UINT(size, 0x400000);
    CHECK_EQ_UINT(fl_jedec_flash_size(w25q32, &size), FL_JEDEC_SIZE_CAPACITY); /* not listed */
    CHECK_EQ_UINT(size, 0x400000);
    CHECK_EQ_UINT(fl_jedec_flash_size(unknown16, &size), FL_JEDEC_SIZE_CAPACITY);
    CHECK_EQ_UINT(size, 0x200000);
    CHECK_EQ_UINT(fl_jedec_flash_size(unknown_big, &size), FL_JEDEC_SIZE_UNKNOWN);
    CHECK_EQ_UINT(size, 0);
    CHECK_EQ_UINT(fl_jedec_flash_size(unknown_small, &size), FL_JEDEC_SIZE_UNKNOWN);
    CHECK_EQ_UINT(fl_jedec_flash_size(none, &size), FL_JEDEC_NO_CHIP);
    CHECK_EQ_UINT(fl_jedec_flash_size(dead, &size), FL_JEDEC_NO_CHIP);
    /* table rows the GUI's 1 << cap gets wrong */
    CHECK_EQ_UINT(fl_jedec_flash_size(amic, &size), FL_JEDEC_SIZE_TABLE);
    CHECK_EQ_UINT(size, 0x10000);
    CHECK_EQ_UINT(fl_jedec_flash_size(at25, &size), FL_JEDEC_SIZE_TABLE);
    CHECK_EQ_UINT(size, 0x40000);
    if (fl_spi_part_find(s25fl016a)) {
        CHECK_EQ_UINT(fl_jedec_flash_size(s25fl016a, &size), FL_JEDEC_SIZE_TABLE);
        CHECK_EQ_UINT(size, 0x200000);
    }
    /* only in the BK list: still a table size (64 MiB, outside the formula's range) */
    CHECK_EQ_UINT(fl_jedec_flash_size(gd512, &size), FL_JEDEC_SIZE_TABLE);
    CHECK_EQ_UINT(size, 0x4000000);
}

static void test_sr_layouts(void)
{
    fl_spi_sr_layout l;
    static const uint8_t th[3] = {0xEB, 0x60, 0x15}, en[3] = {0x1C, 0x70, 0x15},
                         mx[3] = {0xC2, 0x23, 0x15}, gt[3] = {0xC4, 0x40, 0x10},
                         unk[3] = {0xAA, 0x55, 0x15}, bk[3] = {0x01, 0x4B, 0x42};
    fl_spi_sr_layout_find(th, &l);
    CHECK(l.known && l.sr_bytes == 2 && l.protect_mask == 0x7C && l.cmp_bit == 0x40, "th25q16b");
    fl_spi_sr_layout_find(en, &l);
    CHECK(l.known && l.sr_bytes == 1 && l.protect_mask == 0x7C && l.cmp_bit == 0, "en25qh16b");
    fl_spi_sr_layout_find(mx, &l);
    CHECK(l.known && l.sr_bytes == 1 && l.protect_mask == 0x3C, "mx25v16b");
    fl_spi_sr_layout_find(gt, &l);
    CHECK(l.known && l.sr_bytes == 2 && l.protect_mask == 0x7C && l.cmp_bit == 0x40, "from BK list");
    fl_spi_sr_layout_find(unk, &l);
    CHECK(!l.known, "unknown part");
    fl_spi_sr_layout_find(bk, &l);
    CHECK(!l.known, "BK placeholder has no SR");
}

static void test_rf_mac(void)
{
    uint8_t sec[4096];
    memset(sec, 0xFF, sizeof sec);
    memcpy(sec, "TLV", 4);
    static const uint8_t tag[8] = {0x02, 0x11, 0x11, 0x11, 0x06, 0x00, 0x00, 0x00};
    memcpy(sec + 0x1C, tag, 8);
    static const uint8_t mac[6] = {0xC8, 0x47, 0x8C, 0x01, 0x02, 0x03};
    memcpy(sec + 0x24, mac, 6);
    uint8_t got[6];
    fl_error err;
    CHECK(fl_beken_rf_mac(sec, sizeof sec, 0x1E0000, got, &err) == FL_OK, "%s", err.msg);
    CHECK(!memcmp(got, mac, 6), "MAC taken from +0x24");
    sec[0x1C] = 0x03;
    CHECK(fl_beken_rf_mac(sec, sizeof sec, 0x1E0000, got, &err) == FL_ERR_FORMAT, "bad tag");
}

static void test_driver_entry(void)
{
    const fl_driver *d = &fl_driver_ch341a_spi;
    CHECK_STR(d->name, "ch341a-spi");
    CHECK(d->claims_port("ch341a") && d->claims_port("ch341a:1-4.2") &&
              d->claims_port("ch341a:sim?target=bk7231t"),
          "claims ch341a ports");
    CHECK(!d->claims_port("/dev/ttyUSB0") && !d->claims_port("sim:bk7231n") &&
              !d->claims_port("ch341ax"),
          "leaves other ports");
    const char *yes[] = {"bk7231t", "bk7231u", "bk7231n", "bk7231m", "bk7252", "spi-nor"};
    const char *no[] = {"bk7238", "bk7252n", "bk7236", "bk7258"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        CHECK(d->serves(fl_chip_find(yes[i])), "serves %s", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        CHECK(!d->serves(fl_chip_find(no[i])), "refuses %s", no[i]);
    CHECK(d->placement_flags & FL_PLACE_QIO_WHOLE, "QIO written whole");
    CHECK(d->device_crc == NULL, "no device CRC over SPI");
    CHECK(d->open && d->close && d->read && d->erase && d->write && d->verify && d->read_mac &&
              d->reboot && d->set_allow_bootloader && d->stats && d->protect,
          "every operation is there");
    fl_driver_session *s = NULL;
    fl_identity id;
    fl_error err;
    fl_status st = d->open("ch341a:sim?target=bk7238", fl_chip_find("bk7238"), NULL, NULL, &s,
                           &id, &err);
    CHECK(st == FL_ERR_USAGE && s == NULL && strstr(err.msg, "BK7238"), "bk7238 refused: %s",
          err.msg);
}

/* ---- against the emulator (timescale=0: virtual time, nothing sleeps) ---- */

typedef logbuf_t logbuf;
#define log_sink lb_log

static const fl_driver *D = &fl_driver_ch341a_spi;

/* A flash file of `size` bytes holding a pattern that is never 0xFF. */
static char *pattern_file(uint32_t size, uint8_t **pattern)
{
    static int seq;
    char *path = malloc(64);
    snprintf(path, 64, "/tmp/test_ch341a_spi_%d_%d.bin", (int)getpid(), seq++);
    uint8_t *p = malloc(size);
    for (uint32_t i = 0; i < size; i++)
        p[i] = (uint8_t)((i * 131u + (i >> 9)) % 255u);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(p, 1, size, f) == size, "writing %s", path);
    if (f)
        fclose(f);
    *pattern = p;
    return path;
}

static uint8_t *load_file(const char *path, uint32_t size)
{
    uint8_t *b = malloc(size);
    FILE *f = fopen(path, "rb");
    CHECK(f && fread(b, 1, size, f) == size, "reading %s", path);
    if (f)
        fclose(f);
    return b;
}

static fl_driver_session *drv_open(const char *url, const char *chip, logbuf *lb, fl_identity *id,
                                   fl_status want, fl_error *err)
{
    static fl_events ev;
    ev.log = log_sink;
    ev.ctx = lb;
    lb->len = 0;
    lb->text[0] = '\0';
    fl_driver_session *s = NULL;
    fl_status st = D->open(url, fl_chip_find(chip), NULL, &ev, &s, id, err);
    CHECK(st == want, "open %s as %s: %s (status %d, wanted %d)", url, chip,
          st ? err->msg : "ok", st, want);
    CHECK((s != NULL) == (st == FL_OK), "a session only on success");
    return s;
}

static void test_identify_profiles(void)
{
    static const struct {
        const char *target;
        uint8_t jedec[3];
        uint32_t size;
        const char *part, *access;
        uint8_t sr1;
    } cases[] = {
        {"bk7231t", {0x1C, 0x70, 0x15}, 0x200000, "ESMT EN25QH16B", "spi mode", 0x7C},
        {"bk7231n", {0xEB, 0x60, 0x15}, 0x200000, "TH25Q-16HB", "spi mode", 0x7C},
        {"bk7252", {0x0B, 0x40, 0x16}, 0x400000, "XT25F32B", "spi mode", 0x7C},
        {"spi-nor", {0xEF, 0x40, 0x16}, 0x400000, "", "spi", 0x00},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char url[128];
        snprintf(url, sizeof url, "ch341a:sim?target=%s&timescale=0", cases[i].target);
        logbuf lb;
        fl_identity id;
        fl_error err;
        fl_driver_session *s = drv_open(url, cases[i].target, &lb, &id, FL_OK, &err);
        if (!s)
            continue;
        CHECK(!memcmp(id.jedec, cases[i].jedec, 3) && id.have_jedec, "%s JEDEC %02X%02X%02X",
              cases[i].target, id.jedec[0], id.jedec[1], id.jedec[2]);
        CHECK_EQ_UINT(id.flash_size, cases[i].size);
        CHECK(strstr(id.flash_part, cases[i].part) != NULL, "%s part '%s'", cases[i].target,
              id.flash_part);
        CHECK_STR(id.access, cases[i].access);
        CHECK_STR(id.driver, "ch341a-spi");
        CHECK(strstr(id.programmer, "emulator") && strstr(id.programmer, url), "programmer '%s'",
              id.programmer);
        CHECK(id.have_sr && (id.sr & 0xFF) == cases[i].sr1, "%s SR1 0x%02X", cases[i].target,
              id.sr & 0xFF);
        CHECK(id.chip == fl_chip_find(cases[i].target), "chip kept");
        if (strcmp(cases[i].target, "spi-nor"))
            CHECK(strstr(lb.text, "Beken SPI mode entered") != NULL, "%s: sync logged",
                  cases[i].target);
        D->close(s);
    }
}

static void test_size_edge_cases(void)
{
    logbuf lb;
    fl_identity id;
    fl_error err;
    /* 32 MiB: 3-byte addresses reach 16 MiB, so the driver works on those */
    fl_driver_session *s = drv_open("ch341a:sim?target=spi-nor&jedec=EF4019&timescale=0",
                                    "spi-nor", &lb, &id, FL_OK, &err);
    if (s) {
        CHECK_EQ_UINT(id.flash_size, 16u << 20);
        CHECK(strstr(lb.text, "only the first 16 MiB") != NULL, "clamp logged");
        D->close(s);
    }
    /* an ID no table knows with a capacity byte the stricter rule refuses */
    drv_open("ch341a:sim?target=spi-nor&jedec=AA551A&size=1048576&timescale=0", "spi-nor", &lb,
             &id, FL_ERR_CHIP, &err);
    CHECK(strstr(err.msg, "cannot tell the size") != NULL, "%s", err.msg);
    /* a Beken chip then falls back to the chip's own flash size */
    s = drv_open("ch341a:sim?target=bk7231n&jedec=AA551A&size=2097152&timescale=0", "bk7231n",
                 &lb, &id, FL_OK, &err);
    if (s) {
        CHECK_EQ_UINT(id.flash_size, 2u << 20);
        D->close(s);
    }
}

/* Write at an address that is neither sector- nor page-aligned, read back,
 * and check every byte of the file: the range holds the data, the rest of
 * the partial sectors (and everything else) the old pattern. */
static void roundtrip(const char *jedec, uint32_t size)
{
    uint8_t *pat;
    char *path = pattern_file(size, &pat);
    char url[256];
    snprintf(url, sizeof url, "ch341a:sim?target=spi-nor&jedec=%s&flash=%s&timescale=0", jedec,
             path);
    logbuf lb;
    fl_identity id;
    fl_error err;
    fl_driver_session *s = drv_open(url, "spi-nor", &lb, &id, FL_OK, &err);
    if (!s)
        goto out;
    CHECK_EQ_UINT(id.flash_size, size);
    const uint32_t addr = 0x10F80, len = 0x11100; /* crosses pages, sectors and a 64K block */
    uint8_t *data = malloc(len), *back = malloc(len);
    for (uint32_t i = 0; i < len; i++)
        data[i] = (uint8_t)(i * 7u + (i >> 8) + 1u);
    data[5] = 0xFF; /* a byte equal to the erased value inside the range */
    CHECK(D->write(s, addr, data, len, &err) == FL_OK, "write: %s", err.msg);
    CHECK(D->read(s, addr, len, back, &err) == FL_OK, "read: %s", err.msg);
    CHECK(!memcmp(back, data, len), "%s: read back equals what was written", jedec);
    uint32_t bad = 0;
    CHECK(D->verify(s, addr, data, len, &bad, &err) == FL_OK, "verify: %s", err.msg);
    /* the last bytes of the flash, across its last page boundary */
    uint8_t tail[0x300];
    memset(tail, 0x3C, sizeof tail);
    CHECK(D->write(s, size - sizeof tail, tail, sizeof tail, &err) == FL_OK, "tail: %s", err.msg);
    /* the same data again: every sector skipped */
    fl_flash_stats a, b;
    D->stats(s, &a);
    CHECK(D->write(s, addr, data, len, &err) == FL_OK, "rewrite: %s", err.msg);
    D->stats(s, &b);
    CHECK(b.blocks_written == a.blocks_written && b.blocks_skipped > a.blocks_skipped,
          "rewriting the same data skips every sector (%u/%u -> %u/%u)", a.blocks_written,
          a.blocks_skipped, b.blocks_written, b.blocks_skipped);
    uint8_t mac[6];
    CHECK(D->read_mac(s, mac, &err) == FL_ERR_FORMAT, "no MAC on a plain flash");
    CHECK(D->reboot(s, &err) == FL_OK, "reboot of a plain flash is a no-op");
    D->close(s);
    uint8_t *f = load_file(path, size);
    memcpy(pat + addr, data, len);
    memcpy(pat + size - sizeof tail, tail, sizeof tail);
    uint32_t i = 0;
    while (i < size && f[i] == pat[i])
        i++;
    CHECK(i == size, "%s: flash file differs at 0x%06X (0x%02X, expected 0x%02X)", jedec, i,
          i < size ? f[i] : 0, i < size ? pat[i] : 0);
    free(f);
    free(data);
    free(back);
out:
    unlink(path);
    free(path);
    free(pat);
}

static void test_spi_nor_roundtrips(void)
{
    roundtrip("EF4016", 4u << 20);
    roundtrip("C84015", 2u << 20);
}

static void test_protected_chip(void)
{
    /* block protection all ones and CMP set (SR2 bit 6): the GUI routine's 31h path */
    logbuf lb;
    fl_identity id;
    fl_error err;
    fl_driver_session *s = drv_open("ch341a:sim?target=spi-nor&sr1=0x7C&sr2=0x40&timescale=0",
                                    "spi-nor", &lb, &id, FL_OK, &err);
    if (!s)
        return;
    CHECK_EQ_UINT(id.sr & 0xFFFF, 0x407C);
    uint8_t data[4096];
    memset(data, 0x42, sizeof data);
    CHECK(D->write(s, 0x3000, data, sizeof data, &err) == FL_OK, "write: %s", err.msg);
    CHECK(strstr(lb.text, "status before unprotect: SR1=0x7C SR2(35h)=0x40 SR3(15h)=0x00"),
          "SRs logged before: %s", lb.text);
    CHECK(strstr(lb.text, "status after unprotect: SR1=0x00 SR2(35h)=0x00 SR3(15h)=0x00"),
          "SRs logged after: %s", lb.text);
    uint8_t back[4096];
    CHECK(D->read(s, 0x3000, sizeof back, back, &err) == FL_OK && !memcmp(back, data, sizeof back),
          "data landed once unprotected");
    /* protect again: SR1 gets the part's protect-all pattern (w_25q32: BP0-BP4, spec B.7.1) */
    CHECK(D->protect(s, true, &err) == FL_OK, "protect: %s", err.msg);
    CHECK(strstr(lb.text, "flash write-protected (SR1=0x7C)") != NULL, "protect logged: %s",
          lb.text);
    memset(data, 0x24, sizeof data);
    CHECK(D->write(s, 0x3000, data, sizeof data, &err) == FL_OK, "write after protect: %s",
          err.msg); /* unprotects again on its own */
    D->close(s);

    /* a 1-byte status register (BK7231T's EN25QH16B: SR2 reads 0xFF) */
    s = drv_open("ch341a:sim?target=bk7231t&timescale=0", "bk7231t", &lb, &id, FL_OK, &err);
    if (!s)
        return;
    CHECK(D->write(s, 0x11000, data, sizeof data, &err) == FL_OK, "bk7231t write: %s", err.msg);
    CHECK(strstr(lb.text, "status before unprotect: SR1=0x7C SR2(35h)=0xFF") != NULL, "before");
    CHECK(strstr(lb.text, "status after unprotect: SR1=0x00 SR2(35h)=0xFF") != NULL, "after");
    D->close(s);
}

static void test_partial_and_chip_erase(void)
{
    const uint32_t size = 2u << 20;
    uint8_t *pat;
    char *path = pattern_file(size, &pat);
    char url[256];
    snprintf(url, sizeof url, "ch341a:sim?target=spi-nor&jedec=C84015&flash=%s&timescale=0",
             path);
    logbuf lb;
    fl_identity id;
    fl_error err;
    fl_driver_session *s = drv_open(url, "spi-nor", &lb, &id, FL_OK, &err);
    if (s) {
        CHECK(D->erase(s, 0x1100, 0x2000, &err) == FL_OK, "partial erase: %s", err.msg);
        CHECK(D->erase(s, 0x5010, 0x20, &err) == FL_OK, "erase inside one sector: %s", err.msg);
        CHECK(D->erase(s, 0x20000, 0x21000, &err) == FL_OK, "block + sector erase: %s", err.msg);
        D->close(s);
        uint8_t *f = load_file(path, size);
        memset(pat + 0x1100, 0xFF, 0x2000);
        memset(pat + 0x5010, 0xFF, 0x20);
        memset(pat + 0x20000, 0xFF, 0x21000);
        uint32_t i = 0;
        while (i < size && f[i] == pat[i])
            i++;
        CHECK(i == size, "erase: file differs at 0x%06X (0x%02X, expected 0x%02X)", i,
              i < size ? f[i] : 0, i < size ? pat[i] : 0);
        free(f);
    }
    snprintf(url, sizeof url, "ch341a:sim?target=spi-nor&jedec=C84015&flash=%s&timescale=0&fast=1",
             path);
    s = drv_open(url, "spi-nor", &lb, &id, FL_OK, &err);
    if (s) {
        CHECK(D->erase(s, 0, size, &err) == FL_OK, "chip erase: %s", err.msg);
        CHECK(strstr(lb.text, "chip erase") != NULL, "chip erase used");
        D->close(s);
        uint8_t *f = load_file(path, size);
        uint32_t i = 0;
        while (i < size && f[i] == 0xFF)
            i++;
        CHECK(i == size, "chip erase left 0x%06X = 0x%02X", i, i < size ? f[i] : 0);
        free(f);
    }
    unlink(path);
    free(path);
    free(pat);
}

static void test_torn_program_and_verify_failure(void)
{
    logbuf lb;
    fl_identity id;
    fl_error err;
    fl_driver_session *s = drv_open("ch341a:sim?target=spi-nor&timescale=0&torn_program=3",
                                    "spi-nor", &lb, &id, FL_OK, &err);
    if (!s)
        return;
    uint8_t data[8192], back[8192];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i ^ 0xA5);
    CHECK(D->write(s, 0x8000, data, sizeof data, &err) == FL_OK, "write: %s", err.msg);
    fl_flash_stats st;
    D->stats(s, &st);
    CHECK(st.retries >= 1, "the torn page was caught by the read-back and rewritten");
    CHECK(strstr(lb.text, "rewriting it") != NULL, "the read-back failure is logged");
    CHECK(D->read(s, 0x8000, sizeof back, back, &err) == FL_OK && !memcmp(back, data, sizeof back),
          "the data is right after the retry");
    data[0x1234] ^= 0x10;
    uint32_t bad = 0;
    CHECK(D->verify(s, 0x8000, data, sizeof data, &bad, &err) == FL_ERR_VERIFY, "verify fails");
    CHECK_EQ_UINT(bad, 0x8000 + 0x1234);
    D->close(s);
}

/* A lower-level rig for what the driver session hides: the emulator behind it. */
typedef struct rig {
    fl_usb *u;
    fl_ch341a_emu *e;
    ch341a *c;
    fl_spi25 *f;
    logbuf lb;
    fl_events ev;
} rig;

static bool rig_open(rig *r, const char *url)
{
    memset(r, 0, sizeof *r);
    r->ev.log = log_sink;
    r->ev.ctx = &r->lb;
    fl_error err;
    bool ok = fl_usb_open(url, &r->u, &err) == FL_OK && ch341a_init(r->u, &r->c, &err) == FL_OK &&
              fl_spi25_new(r->c, &r->ev, &r->f, &err) == FL_OK;
    CHECK(ok, "rig %s: %s", url, err.msg);
    if (ok)
        r->e = fl_ch341a_emu_of(r->u);
    return ok;
}

static void rig_close(rig *r)
{
    fl_spi25_free(r->f);
    ch341a_free(r->c);
    fl_usb_close(r->u);
}

static bool cs_high(rig *r)
{
    uint8_t dir, out;
    fl_ch341a_emu_pins(r->e, &dir, &out);
    return (dir & 1) && (out & 1);
}

/* GPIO through the UIO stream: a pin set as output reads back its level;
 * the SPI lines and CEN keep their roles. */
static void test_gpio(void)
{
    rig r;
    if (!rig_open(&r, "ch341a:sim?target=spi-nor&timescale=0"))
        return;
    fl_error err;
    uint8_t v = 0;
    CHECK(ch341a_gpio_read(r.c, &v, &err) == FL_OK, "%s", err.msg);
    /* idle: CS0 1, CS1 1, D2 1, SCK 0, DOUT2 1, MOSI 1, MISO (D7) pulled high */
    CHECK_EQ_UINT(v & 0xBF, 0xB7);
    CHECK(ch341a_gpio_set(r.c, 1, true, false, &err) == FL_OK, "%s", err.msg);
    CHECK(ch341a_gpio_read(r.c, &v, &err) == FL_OK && (v & 0x02) == 0, "D1 driven low: 0x%02X", v);
    CHECK(ch341a_set_d2(r.c, false, &err) == FL_OK, "%s", err.msg);
    uint8_t dir, out;
    fl_ch341a_emu_pins(r.e, &dir, &out);
    CHECK(dir == 0x3F && out == 0x31, "CEN low, D1 low, CS high: DIR %02X OUT %02X", dir, out);
    CHECK(ch341a_set_d2(r.c, true, &err) == FL_OK, "%s", err.msg);
    CHECK(ch341a_gpio_set(r.c, 1, true, true, &err) == FL_OK, "%s", err.msg);
    CHECK(fl_spi25_identify(r.f, &err) == FL_OK, "SPI still works: %s", err.msg);
    rig_close(&r);
}

static void test_blank_check_failure(void)
{
    uint8_t *pat;
    char *path = pattern_file(4u << 20, &pat);
    char url[256];
    snprintf(url, sizeof url, "ch341a:sim?target=spi-nor&flash=%s&timescale=0", path);
    rig r;
    if (rig_open(&r, url)) {
        fl_error err;
        CHECK(fl_spi25_identify(r.f, &err) == FL_OK, "%s", err.msg);
        CHECK(fl_spi25_unprotect(r.f, &err) == FL_OK, "%s", err.msg);
        /* the chip protects itself behind the driver's back (WREN; WRSR 7C) */
        uint8_t wren = 0x06, wrsr[2] = {0x01, 0x7C}, rd[2] = {0x05, 0};
        CHECK(ch341a_xfer(r.c, &wren, 1, NULL, 1, &err) == FL_OK &&
                  ch341a_xfer(r.c, wrsr, 2, NULL, 2, &err) == FL_OK &&
                  ch341a_xfer(r.c, rd, 1, NULL, 2, &err) == FL_OK,
              "raw WRSR: %s", err.msg);
        fl_status st = fl_spi25_erase(r.f, 0x10000, 0x1000, &err);
        CHECK(st == FL_ERR_VERIFY && strstr(err.msg, "blank check failed"), "erase: %d %s", st,
              err.msg);
        CHECK(cs_high(&r), "CS released after the failure");
        uint8_t data[4096];
        memset(data, 0x11, sizeof data);
        st = fl_spi25_write(r.f, 0x30000, data, sizeof data, &err);
        CHECK(st == FL_ERR_VERIFY && strstr(err.msg, "blank check failed"), "write: %d %s", st,
              err.msg);
        rig_close(&r);
    }
    unlink(path);
    free(path);
    free(pat);
}

static void test_usb_failure_mid_write(void)
{
    unsigned failed = 0, in_batch = 0;
    /* USB calls 9..17 of a 16 KiB write onto an erased chip: unprotect's status reads,
     * the pre-read, the write-enable and the pipelined page-program stream, the
     * read-back */
    for (unsigned n = 9; n <= 17; n++) {
        char url[128];
        snprintf(url, sizeof url, "ch341a:sim?target=spi-nor&timescale=0&fail_usb=%u", n);
        rig r;
        if (!rig_open(&r, url))
            continue;
        fl_error err;
        CHECK(fl_spi25_identify(r.f, &err) == FL_OK, "%s", err.msg);
        uint8_t data[16384], back[16384];
        memset(data, 0x5A, sizeof data);
        fl_status st = fl_spi25_write(r.f, 0x40000, data, sizeof data, &err);
        /* the fault lands somewhere in the write: reported, unless it hit the final CS
         * release, which is sent again */
        CHECK(st == FL_OK || (st == FL_ERR_LINK && strstr(err.msg, "fail_usb")),
              "fail_usb=%u: %d %s", n, st, err.msg);
        failed += st == FL_ERR_LINK;
        in_batch += st == FL_ERR_LINK && strstr(err.msg, "programming 0x040000");
        CHECK(cs_high(&r), "fail_usb=%u: CS released", n);
        /* the session goes on working after the fault */
        st = fl_spi25_write(r.f, 0x40000, data, sizeof data, &err);
        CHECK(st == FL_OK, "fail_usb=%u: retried write: %s", n, err.msg);
        CHECK(fl_spi25_read(r.f, 0x40000, sizeof back, back, &err) == FL_OK &&
                  !memcmp(back, data, sizeof back),
              "fail_usb=%u: data right after the retry", n);
        rig_close(&r);
    }
    CHECK(failed >= 6, "most faults fail the write (%u of 9)", failed);
    CHECK(in_batch >= 1, "a fault inside the page-program stream is reported as such (%u)",
          in_batch);
}

static void test_beken_diagnosis(void)
{
    static const struct {
        const char *opt, *needle;
    } cases[] = {
        {"no_sync=1", "echoed the 0xD2 sync"},
        {"stuck_miso=ff", "MISO read 0xFF on every byte"},
        {"stuck_miso=00", "MISO stuck at 0x00"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char url[128];
        snprintf(url, sizeof url, "ch341a:sim?target=bk7231n&timescale=0&%s", cases[i].opt);
        logbuf lb;
        fl_identity id;
        fl_error err;
        drv_open(url, "bk7231n", &lb, &id, FL_ERR_NO_BUS, &err);
        CHECK(strstr(err.msg, cases[i].needle) != NULL, "%s: %s", cases[i].opt, err.msg);
        CHECK(strstr(lb.text, "attempt 10 of 10") != NULL, "%s: 10 attempts", cases[i].opt);
    }
    logbuf lb;
    fl_identity id;
    fl_error err;
    drv_open("ch341a:sim?target=nosuchchip&timescale=0", "bk7231n", &lb, &id, FL_ERR_USAGE, &err);
    /* the probe sees a real ID at once (t_switch 0): the GUI test fails, the JEDEC read passes */
    fl_driver_session *s =
        drv_open("ch341a:sim?target=bk7252&timescale=0&t_switch_ms=0", "bk7252", &lb, &id, FL_OK,
                 &err);
    if (s)
        D->close(s);
}

static void test_beken_recovery_and_boot(void)
{
    const uint32_t size = 2u << 20;
    uint8_t *pat;
    char *path = pattern_file(size, &pat);
    memset(pat, 0xFF, size); /* bootloader erased: the chip boots nothing */
    /* an RF calibration sector with a MAC at 0x1E0000 */
    static const uint8_t tag[8] = {0x02, 0x11, 0x11, 0x11, 0x06, 0x00, 0x00, 0x00};
    static const uint8_t mac[6] = {0xD8, 0x1F, 0x12, 0x34, 0x56, 0x78};
    memcpy(pat + 0x1E0000, "TLV", 4);
    memcpy(pat + 0x1E001C, tag, 8);
    memcpy(pat + 0x1E0024, mac, 6);
    FILE *fp = fopen(path, "wb");
    CHECK(fp && fwrite(pat, 1, size, fp) == size, "file");
    if (fp)
        fclose(fp);
    char url[256];
    snprintf(url, sizeof url, "ch341a:sim?target=bk7231t&flash=%s&timescale=0", path);
    logbuf lb;
    fl_identity id;
    fl_error err;
    fl_driver_session *s = drv_open(url, "bk7231t", &lb, &id, FL_OK, &err);
    uint8_t *boot = malloc(0x11000);
    for (uint32_t i = 0; i < 0x11000; i++)
        boot[i] = (uint8_t)(i * 13u + 5u);
    if (s) {
        D->set_allow_bootloader(s, true);
        CHECK(D->write(s, 0, boot, 0x11000, &err) == FL_OK, "bootloader write: %s", err.msg);
        uint8_t got[6];
        CHECK(D->read_mac(s, got, &err) == FL_OK && !memcmp(got, mac, 6), "MAC: %s", err.msg);
        CHECK(D->reboot(s, &err) == FL_OK, "reboot: %s", err.msg);
        /* after the boot pulse the next operation syncs again */
        uint8_t back[256];
        CHECK(D->read(s, 0, sizeof back, back, &err) == FL_OK && !memcmp(back, boot, sizeof back),
              "read after reboot: %s", err.msg);
        D->close(s);
        uint8_t *f = load_file(path, size);
        CHECK(!memcmp(f, boot, 0x11000), "bootloader restored in the file");
        free(f);
    }
    /* the exit pulse lets the chip boot: the gate leaves SPI mode and the firmware runs */
    rig r;
    if (rig_open(&r, url)) {
        uint8_t idr[4];
        CHECK(fl_beken_spi_enter(r.c, r.f, &r.ev, 3, idr, &err) == FL_OK, "enter: %s", err.msg);
        CHECK_EQ_UINT(fl_ch341a_emu_gate(r.e), FL_GATE_FLASH_MODE);
        /* the entry as the spec has it: CEN low >= 100 ms, then 10 frames of 25 x 0xD2 */
        size_t lo = fl_ch341a_emu_find_event(r.e, 0, FL_EV_CEN, "low");
        size_t hi = lo == (size_t)-1 ? lo : fl_ch341a_emu_find_event(r.e, lo, FL_EV_CEN, "high");
        CHECK(lo != (size_t)-1 && hi != (size_t)-1 &&
                  fl_ch341a_emu_event_at(r.e, hi)->t_us - fl_ch341a_emu_event_at(r.e, lo)->t_us >=
                      100000,
              "CEN held low for 100 ms");
        unsigned sync_frames = 0;
        for (size_t k = hi; k != (size_t)-1 && k < fl_ch341a_emu_event_count(r.e); k++) {
            const fl_ch341a_event *v = fl_ch341a_emu_event_at(r.e, k);
            if (v->kind == FL_EV_FRAME && v->a == 0xD2 && v->b == 25)
                sync_frames++;
        }
        CHECK_EQ_UINT(sync_frames, 10);
        CHECK(fl_beken_spi_exit(r.c, &r.ev, &err) == FL_OK, "exit: %s", err.msg);
        ch341a_delay_us(r.c, 600000);
        CHECK_EQ_UINT(fl_ch341a_emu_gate(r.e), FL_GATE_RUN_FIRMWARE);
        size_t k = fl_ch341a_emu_find_event(r.e, 0, FL_EV_BOOTED, "firmware booted");
        CHECK(k != (size_t)-1, "the firmware booted");
        uint8_t dir, out;
        fl_ch341a_emu_pins(r.e, &dir, &out);
        CHECK((dir & 0x04) && (out & 0x04), "CEN left high");
        rig_close(&r);
    }
    free(boot);
    unlink(path);
    free(path);
    free(pat);
}

static unsigned count_text(const char *hay, const char *needle)
{
    unsigned n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static size_t count_events(fl_ch341a_emu *e, fl_ch341a_event_kind kind, const char *needle)
{
    size_t n = 0;
    for (size_t k = fl_ch341a_emu_find_event(e, 0, kind, needle); k != (size_t)-1;
         k = fl_ch341a_emu_find_event(e, k + 1, kind, needle))
        n++;
    return n;
}

/* A part whose page latch does not wrap (pp_no_wrap: the emulator discards a
 * page program of more than 256 data bytes): the read-back catches the fast
 * path's failure, the sector is rewritten with plain 256-byte page programs
 * (logged once, counted as a retry) and the session stays on them. */
/* Random bytes (xorshift), different per seed. */
static void fill_pattern(uint8_t *p, size_t n, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
}

/* Pipelined page programs (spi25.c program_pipelined): a write that starts and ends
 * inside pages and crosses sector and 64 KiB block boundaries lands exactly, with
 * every page program confirmed by its RDSR bytes (no retry, no command ignored) and
 * far fewer streams than pages. */
static void test_pipelined_write(void)
{
    enum { ADDR = 0xFE80, LEN = 0x11300 };
    static uint8_t data[LEN], back[LEN + 512];
    fill_pattern(data, LEN, 1);
    rig r;
    if (!rig_open(&r, "ch341a:sim?target=spi-nor&timescale=0"))
        return;
    fl_error err;
    CHECK(fl_spi25_identify(r.f, &err) == FL_OK, "identify: %s", err.msg);
    fl_ch341a_counters c0, c1;
    fl_ch341a_emu_counters(r.e, &c0);
    CHECK(fl_spi25_write(r.f, ADDR, data, LEN, &err) == FL_OK, "write: %s", err.msg);
    fl_ch341a_emu_counters(r.e, &c1);
    CHECK(cs_high(&r), "CS released");
    CHECK(fl_spi25_read(r.f, ADDR - 256, LEN + 512, back, &err) == FL_OK, "%s", err.msg);
    CHECK(!memcmp(back + 256, data, LEN), "the data reads back");
    bool around = true;
    for (size_t i = 0; i < 256; i++)
        around = around && back[i] == 0xFF && back[256 + LEN + i] == 0xFF;
    CHECK(around, "the bytes around the range stay erased");
    fl_spi25_stats st;
    fl_spi25_get_stats(r.f, &st);
    unsigned pages = (ADDR + LEN + 255) / 256 - ADDR / 256;
    CHECK_EQ_UINT(st.pages_programmed, pages);
    CHECK_EQ_UINT(c1.page_programs - c0.page_programs, pages);
    CHECK_EQ_UINT(st.retries, 0);
    CHECK_EQ_UINT(count_events(r.e, FL_EV_IGNORED, NULL), 0);
    CHECK(c1.streams - c0.streams < pages / 4, "%llu streams for %u pages",
          (unsigned long long)(c1.streams - c0.streams), pages);
    rig_close(&r);
}

/* Timed page programs (spi25.c program_timed): after the first pipelined batch
 * proves the part and measures its page program, the rest of a large write goes
 * with bit-banged WRENs and no status reads; every page is programmed exactly
 * once, no command meets a busy flash, and the data is right. */
static void test_timed_write(void)
{
    enum { ADDR = 0x20000, LEN = 0x20000 };
    static uint8_t data[LEN], back[LEN];
    fill_pattern(data, LEN, 21);
    rig r;
    if (!rig_open(&r, "ch341a:sim?target=spi-nor&timescale=0"))
        return;
    fl_error err;
    CHECK(fl_spi25_identify(r.f, &err) == FL_OK, "identify: %s", err.msg);
    fl_ch341a_counters c0, c1;
    fl_ch341a_emu_counters(r.e, &c0);
    CHECK(fl_spi25_write(r.f, ADDR, data, LEN, &err) == FL_OK, "write: %s", err.msg);
    fl_ch341a_emu_counters(r.e, &c1);
    CHECK_EQ_UINT(count_text(r.lb.text, "bit-banged WREN taken"), 1);
    CHECK_EQ_UINT(c1.page_programs - c0.page_programs, LEN / 256);
    CHECK_EQ_UINT(count_events(r.e, FL_EV_IGNORED, NULL), 0);
    fl_spi25_stats st;
    fl_spi25_get_stats(r.f, &st);
    CHECK_EQ_UINT(st.retries, 0);
    CHECK_EQ_UINT(st.pages_programmed, LEN / 256);
    /* 2 x 64 KiB blocks: one pipelined batch, then one timed stream each */
    CHECK(c1.streams - c0.streams < 40, "%llu streams",
          (unsigned long long)(c1.streams - c0.streams));
    CHECK(cs_high(&r), "CS released");
    CHECK(fl_spi25_read(r.f, ADDR, LEN, back, &err) == FL_OK && !memcmp(back, data, LEN),
          "the data is right");
    rig_close(&r);
}

/* One page in the timed part programs four times slower than the rest: the WREN
 * after it meets a busy flash, the next page's program is ignored, the read-back
 * finds the sector wrong and rewrites it the proven way, the wait grows, and the
 * data ends up right.  A second such sector would stop timed programs. */
static void test_timed_slow_page(void)
{
    enum { ADDR = 0x40000, LEN = 0x10000 };
    static uint8_t data[LEN], back[LEN];
    fill_pattern(data, LEN, 22);
    rig r;
    /* the first batch is 32 pipelined pages: page program 100 is a timed one */
    if (!rig_open(&r, "ch341a:sim?target=spi-nor&timescale=0&slow_program=100"))
        return;
    fl_error err;
    CHECK(fl_spi25_identify(r.f, &err) == FL_OK, "identify: %s", err.msg);
    CHECK(fl_spi25_write(r.f, ADDR, data, LEN, &err) == FL_OK, "write: %s", err.msg);
    CHECK(count_events(r.e, FL_EV_IGNORED, "busy: 0x06") >= 1, "a WREN met the busy flash");
    CHECK_EQ_UINT(count_text(r.lb.text, "timed page programs: a sector read back wrong; "
                                        "waiting longer"), 1);
    fl_spi25_stats st;
    fl_spi25_get_stats(r.f, &st);
    CHECK(st.retries >= 1, "counted as a retry (%u)", st.retries);
    CHECK(fl_spi25_read(r.f, ADDR, LEN, back, &err) == FL_OK && !memcmp(back, data, LEN),
          "the data is right");
    CHECK(cs_high(&r), "CS released");
    rig_close(&r);
}

/* A programmer whose UIO writes do not reach the SPI lines: the bit-banged WREN
 * is checked once, found missing, and the write stays pipelined and right. */
static void test_timed_no_bitbang(void)
{
    enum { ADDR = 0x60000, LEN = 0x10000 };
    static uint8_t data[LEN], back[LEN];
    fill_pattern(data, LEN, 23);
    rig r;
    if (!rig_open(&r, "ch341a:sim?target=spi-nor&timescale=0&uio_spi=0"))
        return;
    fl_error err;
    CHECK(fl_spi25_identify(r.f, &err) == FL_OK, "identify: %s", err.msg);
    CHECK(fl_spi25_write(r.f, ADDR, data, LEN, &err) == FL_OK, "write: %s", err.msg);
    CHECK_EQ_UINT(count_text(r.lb.text, "bit-banged WREN not taken"), 1);
    CHECK_EQ_UINT(count_events(r.e, FL_EV_IGNORED, NULL), 0);
    fl_spi25_stats st;
    fl_spi25_get_stats(r.f, &st);
    CHECK_EQ_UINT(st.retries, 0);
    CHECK(fl_spi25_read(r.f, ADDR, LEN, back, &err) == FL_OK && !memcmp(back, data, LEN),
          "the data is right");
    rig_close(&r);
}

/* A chip slower than the RDSR window: the pipelined checks see it busy, the rest of
 * the batch goes one page at a time, and the flash ends up right. */
static void test_pipelined_slow_chip(void)
{
    static const unsigned pp_us[] = {1200, 6000};
    static uint8_t data[0x8000], back[0x8000];
    for (size_t k = 0; k < sizeof pp_us / sizeof pp_us[0]; k++) {
        char url[96];
        snprintf(url, sizeof url, "ch341a:sim?target=spi-nor&timescale=0&pp_us=%u", pp_us[k]);
        rig r;
        if (!rig_open(&r, url))
            return;
        fill_pattern(data, sizeof data, (uint32_t)k + 7);
        fl_error err;
        CHECK(fl_spi25_identify(r.f, &err) == FL_OK, "identify: %s", err.msg);
        CHECK(fl_spi25_write(r.f, 0x30100, data, sizeof data, &err) == FL_OK,
              "pp_us=%u: write: %s", pp_us[k], err.msg);
        CHECK(cs_high(&r), "pp_us=%u: CS released", pp_us[k]);
        CHECK(count_events(r.e, FL_EV_IGNORED, "busy: 0x06") >= 1,
              "pp_us=%u: a pipelined WREN met the busy flash", pp_us[k]);
        CHECK(count_text(r.lb.text, "pipelined page programs") >= 1,
              "pp_us=%u: the fallback is logged", pp_us[k]);
        fl_spi25_stats st;
        fl_spi25_get_stats(r.f, &st);
        CHECK(st.retries >= 1, "pp_us=%u: counted as a retry (%u)", pp_us[k], st.retries);
        CHECK(count_text(r.lb.text, "RDSR window 5 packets") >= 1,
              "pp_us=%u: the RDSR window widens", pp_us[k]);
        /* 1.2 ms fits a wider window: batches go on; 6 ms fits none: page by page */
        CHECK_EQ_UINT(count_text(r.lb.text, "one page at a time from here on"), k == 1);
        CHECK(fl_spi25_read(r.f, 0x30100, sizeof back, back, &err) == FL_OK &&
                  !memcmp(back, data, sizeof back),
              "pp_us=%u: the data is right", pp_us[k]);
        rig_close(&r);
    }
}

/* A part that finishes a page program before the first status byte (fast=1: no
 * busy time at all) cannot prove its pages: after one batch the session goes page
 * by page, and the data is right. */
static void test_pipelined_unprovable(void)
{
    static uint8_t data[0x8000], back[0x8000];
    fill_pattern(data, sizeof data, 11);
    rig r;
    if (!rig_open(&r, "ch341a:sim?target=spi-nor&timescale=0&fast=1"))
        return;
    fl_error err;
    CHECK(fl_spi25_identify(r.f, &err) == FL_OK, "identify: %s", err.msg);
    CHECK(fl_spi25_write(r.f, 0x10000, data, sizeof data, &err) == FL_OK, "write: %s", err.msg);
    CHECK_EQ_UINT(count_text(r.lb.text, "one page at a time from here on"), 1);
    fl_spi25_stats st;
    fl_spi25_get_stats(r.f, &st);
    CHECK_EQ_UINT(st.retries, 1);
    CHECK(fl_spi25_read(r.f, 0x10000, sizeof back, back, &err) == FL_OK &&
              !memcmp(back, data, sizeof back),
          "the data is right");
    CHECK(cs_high(&r), "CS released");
    rig_close(&r);
}

/* A reply lost inside the page-program stream: a timeout, reported, CS high; the
 * session then writes the same range right. */
static void test_pipelined_lost_reply(void)
{
    static uint8_t data[16384], back[16384];
    fill_pattern(data, sizeof data, 3);
    rig r;
    /* ~530 reply packets for the pre-read, then 14 per page in the stream */
    if (!rig_open(&r, "ch341a:sim?target=spi-nor&timescale=0&lose_reply=900"))
        return;
    fl_error err;
    CHECK(fl_spi25_identify(r.f, &err) == FL_OK, "identify: %s", err.msg);
    fl_status st = fl_spi25_write(r.f, 0x40000, data, sizeof data, &err);
    CHECK(st == FL_ERR_TIMEOUT && strstr(err.msg, "programming 0x040000"),
          "lost reply mid-batch: %d %s", st, err.msg);
    CHECK(cs_high(&r), "CS released");
    CHECK(fl_spi25_write(r.f, 0x40000, data, sizeof data, &err) == FL_OK, "again: %s", err.msg);
    CHECK(fl_spi25_read(r.f, 0x40000, sizeof back, back, &err) == FL_OK &&
              !memcmp(back, data, sizeof back),
          "the data is right after the retry");
    rig_close(&r);
}

/* Timed page programs under faults, on a flash full of other data: a write that
 * starts and ends inside sectors, with a torn or slow page, a lost reply or a
 * failed USB call landing in the timed part.  Either the write succeeds with the
 * range exact, or it fails with an error; in both cases every byte outside the
 * range is as before, and a second write of the same range on the same session
 * succeeds exactly. */
static fl_status timed_faults_write(rig *r, uint32_t addr, const uint8_t *data, size_t len,
                                    fl_error *err)
{
    fl_status st = fl_spi25_identify(r->f, err);
    return st ? st : fl_spi25_write(r->f, addr, data, len, err);
}

static void test_timed_faults(void)
{
    enum { ADDR = 0x20480, LEN = 0x20000 - 0x900, SPAN = 0x60000 };
    static uint8_t before[SPAN], data[LEN];
    fill_pattern(data, LEN, 31);
    fill_pattern(before, SPAN, 40);
    /* a clean run first: how many USB calls, reply packets and page programs the
     * write takes, so the faults land at fractions of it (most in the timed part) */
    rig r;
    if (!rig_open(&r, "ch341a:sim?target=spi-nor&timescale=0"))
        return;
    size_t size;
    memcpy(fl_ch341a_emu_flash(r.e, &size), before, SPAN);
    fl_error err;
    fl_ch341a_counters c;
    CHECK(timed_faults_write(&r, ADDR, data, LEN, &err) == FL_OK, "clean: %s", err.msg);
    CHECK_EQ_UINT(count_text(r.lb.text, "bit-banged WREN taken"), 1);
    fl_ch341a_emu_counters(r.e, &c);
    rig_close(&r);
    uint64_t calls = c.out_transfers + c.in_transfers + c.control_transfers + c.streams;
    /* 65 (fails, a real bug): lose_reply lands in the blank check after the 64 KiB
     * erase of 0x030000, the block holding the range's partial last sector:
     * update_run returns the error with 0x3FB80..0x3FFFF (outside the range)
     * erased, and the write again pre-reads them as 0xFF and succeeds */
    static const unsigned pct[] = {40, 65, 90};
    char faults[12][64];
    size_t nf = 0;
    for (size_t i = 0; i < sizeof pct / sizeof pct[0]; i++) {
        snprintf(faults[nf++], 64, "torn_program=%llu", (unsigned long long)(c.page_programs * pct[i] / 100));
        snprintf(faults[nf++], 64, "slow_program=%llu", (unsigned long long)(c.page_programs * pct[i] / 100));
        snprintf(faults[nf++], 64, "lose_reply=%llu", (unsigned long long)(c.in_packets * pct[i] / 100));
        snprintf(faults[nf++], 64, "fail_usb=%llu", (unsigned long long)(calls * pct[i] / 100));
    }
    unsigned failed = 0, retried = 0;
    for (size_t k = 0; k < nf; k++) {
        char url[128];
        snprintf(url, sizeof url, "ch341a:sim?target=spi-nor&timescale=0&%s", faults[k]);
        if (!rig_open(&r, url))
            return;
        uint8_t *mem = fl_ch341a_emu_flash(r.e, &size);
        memcpy(mem, before, SPAN);
        fl_status st = timed_faults_write(&r, ADDR, data, LEN, &err);
        fl_spi25_stats ss;
        fl_spi25_get_stats(r.f, &ss);
        retried += ss.retries > 0;
        CHECK(cs_high(&r), "%s: CS released", faults[k]);
        bool outside = !memcmp(mem, before, ADDR) &&
                       !memcmp(mem + ADDR + LEN, before + ADDR + LEN, SPAN - ADDR - LEN);
        CHECK(outside, "%s (status %d): every byte outside the range is as before", faults[k],
              st);
        if (st == FL_OK) {
            CHECK(!memcmp(mem + ADDR, data, LEN), "%s: success and the range is exact",
                  faults[k]);
        } else {
            failed++;
            CHECK(err.msg[0] != 0, "%s: the failure has a message", faults[k]);
            st = fl_spi25_write(r.f, ADDR, data, LEN, &err);
            CHECK(st == FL_OK, "%s: the write again: %s", faults[k], err.msg);
            CHECK(!memcmp(mem + ADDR, data, LEN) && !memcmp(mem, before, ADDR) &&
                      !memcmp(mem + ADDR + LEN, before + ADDR + LEN, SPAN - ADDR - LEN),
                  "%s: after the write again, the range exact and the rest as before",
                  faults[k]);
        }
        rig_close(&r);
    }
    /* the faults did something: torn and slow pages are caught and redone, lost
     * replies and failed USB calls fail the write */
    CHECK(retried >= 4, "%u writes retried", retried);
    CHECK(failed >= 2, "%u writes failed first", failed);
    printf("     timed faults: %zu runs, %u retried, %u failed first\n", nf, retried, failed);
}

static void test_no_wrap_fallback(void)
{
    static uint8_t data[8192], back[8192];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7 + (i >> 8));
    fl_error err;
    rig r;
    if (!rig_open(&r, "ch341a:sim?target=spi-nor&timescale=0&pp_no_wrap=1"))
        return;
    CHECK(fl_spi25_identify(r.f, &err) == FL_OK, "identify: %s", err.msg);
    CHECK(fl_spi25_write(r.f, 0x8000, data, sizeof data, &err) == FL_OK, "write: %s", err.msg);
    CHECK(count_events(r.e, FL_EV_IGNORED, "more than a page") >= 1,
          "the 275-byte frames were tried and discarded by the part");
    fl_spi25_stats st;
    fl_spi25_get_stats(r.f, &st);
    CHECK(st.retries >= 1, "the fallback counts as a retry (%u)", st.retries);
    CHECK_EQ_UINT(count_text(r.lb.text, "plain 256-byte page programs"), 1);
    CHECK(fl_spi25_read(r.f, 0x8000, sizeof back, back, &err) == FL_OK &&
              !memcmp(back, data, sizeof back),
          "the data is right after the fallback");
    CHECK(cs_high(&r), "CS released");

    /* later writes go plain at once: nothing discarded, nothing rewritten */
    unsigned retries = st.retries, rewrites = count_text(r.lb.text, "rewriting it");
    fl_ch341a_emu_clear_events(r.e);
    for (size_t i = 0; i < 4096; i++)
        data[i] ^= 0x5A;
    CHECK(fl_spi25_write(r.f, 0x20000, data, 4096, &err) == FL_OK, "second write: %s", err.msg);
    CHECK_EQ_UINT(count_events(r.e, FL_EV_IGNORED, "more than a page"), 0);
    CHECK(count_events(r.e, FL_EV_FLASH, "program 0x02") == 16, "16 plain page programs");
    CHECK_EQ_UINT(count_text(r.lb.text, "rewriting it"), rewrites);
    CHECK_EQ_UINT(count_text(r.lb.text, "plain 256-byte page programs"), 1);
    fl_spi25_get_stats(r.f, &st);
    CHECK_EQ_UINT(st.retries, retries);
    CHECK(fl_spi25_read(r.f, 0x20000, 4096, back, &err) == FL_OK && !memcmp(back, data, 4096),
          "second write read back");
    rig_close(&r);

    /* a part that wraps never needs it */
    if (!rig_open(&r, "ch341a:sim?target=spi-nor&timescale=0"))
        return;
    CHECK(fl_spi25_identify(r.f, &err) == FL_OK, "identify: %s", err.msg);
    CHECK(fl_spi25_write(r.f, 0x8000, data, sizeof data, &err) == FL_OK, "write: %s", err.msg);
    fl_spi25_get_stats(r.f, &st);
    CHECK_EQ_UINT(st.retries, 0);
    CHECK_EQ_UINT(count_text(r.lb.text, "plain 256-byte"), 0);
    CHECK_EQ_UINT(count_events(r.e, FL_EV_IGNORED, NULL), 0);
    rig_close(&r);

    /* the plain rewrite fails too (its first page program torn): a verify failure */
    if (!rig_open(&r, "ch341a:sim?target=spi-nor&timescale=0&pp_no_wrap=1&torn_program=1"))
        return;
    CHECK(fl_spi25_identify(r.f, &err) == FL_OK, "identify: %s", err.msg);
    CHECK(fl_spi25_write(r.f, 0x8000, data, 4096, &err) == FL_ERR_VERIFY, "write must fail");
    CHECK(strstr(err.msg, "verify failed at 0x008") != NULL, "message: %s", err.msg);
    CHECK(strstr(err.msg, "the program did not take") != NULL, "diagnosis: %s", err.msg);
    CHECK(cs_high(&r), "CS released after the failure");
    rig_close(&r);
}

/* Erasing "the whole flash" uses a chip erase only when that is the whole
 * part: a 32 MiB part worked on through its first 16 MiB, or a size assumed
 * for an unknown ID, keeps everything past the range. */
static void test_no_chip_erase_past_range(void)
{
    static const struct { const char *url; uint32_t size, marker; } cases[] = {
        {"ch341a:sim?target=spi-nor&jedec=EF4019&timescale=0&fast=1", 0, 0x1800000},
        {"ch341a:sim?target=bk7231n&jedec=AA551A&size=4194304&timescale=0&fast=1", 2u << 20,
         0x300000},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        rig r;
        if (!rig_open(&r, cases[k].url))
            continue;
        fl_error err;
        if (fl_ch341a_emu_gate(r.e) != FL_GATE_NONE) {
            uint8_t id[4];
            CHECK(fl_beken_spi_enter(r.c, r.f, &r.ev, 3, id, &err) == FL_OK, "enter: %s", err.msg);
        }
        CHECK(fl_spi25_identify(r.f, &err) == FL_OK, "identify: %s", err.msg);
        if (cases[k].size)
            fl_spi25_set_size(r.f, cases[k].size);
        size_t fsize;
        uint8_t *mem = fl_ch341a_emu_flash(r.e, &fsize);
        CHECK(fsize > cases[k].marker, "the part is larger than the range");
        mem[0x1000] = 0x00;
        mem[cases[k].marker] = 0x00;
        uint32_t size = fl_spi25_get_info(r.f)->size;
        CHECK(fl_spi25_erase(r.f, 0, size, &err) == FL_OK, "erase: %s", err.msg);
        CHECK_EQ_UINT(mem[0x1000], 0xFF);
        CHECK_EQ_UINT(mem[cases[k].marker], 0x00);
        CHECK(fl_ch341a_emu_find_event(r.e, 0, FL_EV_FLASH, "chip erase") == (size_t)-1,
              "no chip erase (case %zu)", k);
        rig_close(&r);
    }
}

/* The public status-register read is an operation like the others: CS high after it. */
static void test_read_sr_releases_cs(void)
{
    rig r;
    if (!rig_open(&r, "ch341a:sim?target=spi-nor&timescale=0&sr1=0x1C"))
        return;
    fl_error err;
    uint8_t v = 0;
    CHECK(fl_spi25_read_sr(r.f, 0x05, &v, &err) == FL_OK, "%s", err.msg);
    CHECK_EQ_UINT(v, 0x1C);
    CHECK(cs_high(&r), "CS released after fl_spi25_read_sr");
    rig_close(&r);
}

static int cancel_now(void *ctx)
{
    return *(int *)ctx;
}

/* A stop request ends the wait for a chip erase (which can run for minutes)
 * with CS released; a write asked to stop stops between 64 KiB runs (a
 * sector erase inside one is never cut short: the bytes it keeps are
 * programmed back first). */
static void test_cancel_during_chip_erase(void)
{
    rig r;
    if (!rig_open(&r, "ch341a:sim?target=spi-nor&timescale=0"))
        return;
    int stop = 0;
    fl_events ev = {.log = NULL, .cancelled = cancel_now, .ctx = &stop};
    fl_spi25 *f;
    fl_error err;
    CHECK(fl_spi25_new(r.c, &ev, &f, &err) == FL_OK, "%s", err.msg);
    CHECK(fl_spi25_identify(f, &err) == FL_OK, "identify: %s", err.msg);
    uint8_t d[4096];
    memset(d, 0x11, sizeof d);
    CHECK(fl_spi25_write(f, 0x1800, d, 0x800, &err) == FL_OK, "write: %s", err.msg);
    stop = 1;
    uint32_t size = fl_spi25_get_info(f)->size;
    CHECK(fl_spi25_erase(f, 0, size, &err) == FL_ERR_CANCELLED, "chip erase cancelled: %s",
          err.msg);
    CHECK(strstr(err.msg, "chip erase stopped") != NULL, "message: %s", err.msg);
    CHECK(cs_high(&r), "CS released");
    /* a stop before a write touches nothing */
    uint8_t back[0x800];
    memset(d, 0x22, sizeof d);
    CHECK(fl_spi25_write(f, 0x1800, d, 0x800, &err) == FL_ERR_CANCELLED, "write cancelled: %s",
          err.msg);
    stop = 0;
    CHECK(fl_spi25_read(f, 0x1800, sizeof back, back, &err) == FL_OK, "read: %s", err.msg);
    CHECK(back[0] != 0x22 && back[0x7FF] != 0x22, "nothing of the cancelled write landed");
    fl_spi25_free(f);
    rig_close(&r);
}

static void run_emulator_tests(void)
{
    RUN(test_identify_profiles);
    RUN(test_size_edge_cases);
    RUN(test_spi_nor_roundtrips);
    RUN(test_protected_chip);
    RUN(test_partial_and_chip_erase);
    RUN(test_torn_program_and_verify_failure);
    RUN(test_no_wrap_fallback);
    RUN(test_cancel_during_chip_erase);
    RUN(test_read_sr_releases_cs);
    RUN(test_no_chip_erase_past_range);
    RUN(test_gpio);
    RUN(test_blank_check_failure);
    RUN(test_usb_failure_mid_write);
    RUN(test_pipelined_write);
    RUN(test_pipelined_slow_chip);
    RUN(test_timed_write);
    RUN(test_timed_slow_page);
    RUN(test_timed_no_bitbang);
    RUN(test_timed_faults);
    RUN(test_pipelined_lost_reply);
    RUN(test_pipelined_unprovable);
    RUN(test_beken_diagnosis);
    RUN(test_beken_recovery_and_boot);
}

int main(void)
{
    RUN(test_reverse_table);
    RUN(test_spi_packets);
    RUN(test_init_and_jedec_frame);
    RUN(test_d2_kept_in_cs_toggles);
    RUN(test_batch_layout);
    RUN(test_unprotect_escalation);
    RUN(test_dead_flash_while_busy);
    RUN(test_packetwise_path);
    RUN(test_batch_pieces);
    RUN(test_part_table);
    RUN(test_size_rule);
    RUN(test_sr_layouts);
    RUN(test_rf_mac);
    RUN(test_driver_entry);
    run_emulator_tests();
    return testlib_finish();
}
