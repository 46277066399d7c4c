/* test_ch341a_spi.c — the CH341A SPI driver: packet building (exact bytes),
 * bit reversal, the SPI NOR part table and size rule, and (against the CH341A
 * emulator) identify, read, write, erase, unprotect, Beken SPI-mode entry and
 * the failure paths, through the driver table entry the library calls. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/ch341a_spi/ch341a.h"
#include "drivers/ch341a_spi/spi25.h"
#include "flash/driver.h"
#include "flash/flash_parts.h"
#include "formats/beken_rf.h"
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

/* ---- against the emulator ---- */

static void run_emulator_tests(void) {}

int main(void)
{
    RUN(test_reverse_table);
    RUN(test_spi_packets);
    RUN(test_init_and_jedec_frame);
    RUN(test_d2_kept_in_cs_toggles);
    RUN(test_batch_layout);
    RUN(test_part_table);
    RUN(test_size_rule);
    RUN(test_sr_layouts);
    RUN(test_rf_mac);
    RUN(test_driver_entry);
    run_emulator_tests();
    return testlib_finish();
}
