/* test_ch341a_emu.c — the CH341A + Beken + SPI NOR emulator driven with raw
 * packets (spec D.6 scenarios), independent of the real driver.  Everything
 * runs at timescale=0: virtual time only, no sleeping. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "link/usb.h"
#include "sim/beken_sim.h"
#include "sim/ch341a/ch341a_emu.h"
#include "testlib.h"
#include "util/clock.h"

#define TO 1000 /* ms, the usual libusb timeout */

static uint8_t rev(uint8_t b)
{
    uint8_t r = 0;
    for (int i = 0; i < 8; i++)
        if (b & (1u << i))
            r |= (uint8_t)(0x80u >> i);
    return r;
}

typedef struct rig {
    fl_usb *u;
    fl_ch341a_emu *e;
    uint8_t d2; /* 0x04 CEN high, 0 CEN low */
    bool reverse;
} rig;

static bool rig_open(rig *r, const char *url)
{
    memset(r, 0, sizeof *r);
    fl_error err;
    if (fl_usb_open(url, &r->u, &err) != FL_OK) {
        CHECK(0, "open %s: %s", url, err.msg);
        return false;
    }
    r->e = fl_ch341a_emu_of(r->u);
    CHECK(r->e != NULL, "fl_ch341a_emu_of");
    r->d2 = 0x04;
    r->reverse = true;
    return r->e != NULL;
}

static void rig_close(rig *r)
{
    fl_usb_close(r->u);
}

static fl_status out(rig *r, const uint8_t *b, size_t n)
{
    fl_error err;
    return fl_usb_bulk_out(r->u, b, n, TO, &err);
}

#define OUT(r, ...)                                                                    \
    do {                                                                               \
        const uint8_t pkt_[] = {__VA_ARGS__};                                          \
        if (out((r), pkt_, sizeof pkt_) != FL_OK)                                      \
            CHECK(0, "bulk out");                                                      \
    } while (0)

static void init_pins(rig *r)
{
    OUT(r, 0xAA, 0x61, 0x00);
    OUT(r, 0xAB, (uint8_t)(0x80 | 0x33 | r->d2), 0x7F, 0x20);
}

static void cen(rig *r, bool high)
{
    r->d2 = high ? 0x04 : 0x00;
    OUT(r, 0xAB, (uint8_t)(0x80 | 0x33 | r->d2), 0x7F, 0x20);
}

static void delay_ms(rig *r, unsigned ms)
{
    fl_usb_delay_us(r->u, (uint64_t)ms * 1000);
}

/* One CS frame in the explicit style (A.7): assert, SPI packets alternating with their
 * replies, release.  rx may be NULL.  Returns false on a USB error. */
static bool frame(rig *r, const uint8_t *tx, uint8_t *rx, size_t n)
{
    fl_error err;
    OUT(r, 0xAB, (uint8_t)(0x80 | 0x36 | r->d2), 0x7F, 0x20);
    for (size_t off = 0; off < n; off += 31) {
        size_t k = n - off < 31 ? n - off : 31;
        uint8_t p[32] = {0xA8};
        for (size_t i = 0; i < k; i++)
            p[1 + i] = r->reverse ? rev(tx[off + i]) : tx[off + i];
        if (out(r, p, k + 1) != FL_OK)
            return false;
        uint8_t in[32];
        size_t got = 0;
        if (fl_usb_bulk_in(r->u, in, sizeof in, &got, TO, &err) != FL_OK || got != k) {
            CHECK(0, "reply of %zu bytes: got %zu (%s)", k, got, err.msg);
            return false;
        }
        for (size_t i = 0; rx && i < k; i++)
            rx[off + i] = r->reverse ? rev(in[i]) : in[i];
    }
    OUT(r, 0xAB, (uint8_t)(0x80 | 0x37 | r->d2), 0x20);
    return true;
}

static uint32_t jedec(rig *r, uint8_t *first)
{
    uint8_t tx[4] = {0x9F, 0, 0, 0}, rx[4] = {0};
    frame(r, tx, rx, 4);
    if (first)
        *first = rx[0];
    return (uint32_t)rx[1] << 16 | (uint32_t)rx[2] << 8 | rx[3];
}

static uint8_t rdsr(rig *r, uint8_t op)
{
    uint8_t tx[2] = {op, 0}, rx[2] = {0};
    frame(r, tx, rx, 2);
    return rx[1];
}

static void cmd1(rig *r, uint8_t op)
{
    frame(r, &op, NULL, 1);
}

static bool wait_ready(rig *r)
{
    for (int i = 0; i < 200000; i++) {
        if (!(rdsr(r, 0x05) & 1))
            return true;
        delay_ms(r, 1);
    }
    return false;
}

static void cmd_addr(rig *r, uint8_t op, uint32_t a)
{
    uint8_t tx[4] = {op, (uint8_t)(a >> 16), (uint8_t)(a >> 8), (uint8_t)a};
    frame(r, tx, NULL, 4);
}

static void program(rig *r, uint32_t a, const uint8_t *d, size_t n)
{
    uint8_t tx[4 + 512];
    tx[0] = 0x02;
    tx[1] = (uint8_t)(a >> 16);
    tx[2] = (uint8_t)(a >> 8);
    tx[3] = (uint8_t)a;
    memcpy(tx + 4, d, n);
    cmd1(r, 0x06);
    frame(r, tx, NULL, n + 4);
    CHECK(wait_ready(r), "busy after program");
}

static void erase4k(rig *r, uint32_t a)
{
    cmd1(r, 0x06);
    cmd_addr(r, 0x20, a);
    CHECK(wait_ready(r), "busy after erase");
}

static void read_flash(rig *r, uint32_t a, uint8_t *buf, size_t n)
{
    uint8_t tx[4 + 1024] = {0x03, (uint8_t)(a >> 16), (uint8_t)(a >> 8), (uint8_t)a};
    uint8_t rx[4 + 1024];
    memset(tx + 4, 0xFF, n);
    frame(r, tx, rx, n + 4);
    memcpy(buf, rx + 4, n);
}

static void write_sr(rig *r, const uint8_t *tx, size_t n)
{
    cmd1(r, 0x06);
    frame(r, tx, NULL, n);
    CHECK(wait_ready(r), "busy after WRSR");
}

/* The GUI tool's entry (B.2.1): CEN low 100 ms, 10 x 25 x 0xD2, probe, 1000 x 25 x 0x00. */
static bool gui_sync_attempt(rig *r, uint8_t probe[4])
{
    cen(r, false);
    delay_ms(r, 100);
    cen(r, true);
    uint8_t d2[25], zero[25] = {0};
    memset(d2, 0xD2, sizeof d2);
    for (int i = 0; i < 10; i++)
        frame(r, d2, NULL, sizeof d2);
    uint8_t tx[4] = {0x9F, 0, 0, 0};
    frame(r, tx, probe, 4);
    if (!(probe[0] != 0 && !probe[1] && !probe[2] && !probe[3]))
        return false;
    for (int i = 0; i < 1000; i++)
        frame(r, zero, NULL, sizeof zero);
    return true;
}

static bool open_synced(rig *r, const char *url)
{
    if (!rig_open(r, url))
        return false;
    init_pins(r);
    uint8_t probe[4];
    bool ok = gui_sync_attempt(r, probe);
    CHECK(ok, "GUI sync probe %02X %02X %02X %02X", probe[0], probe[1], probe[2], probe[3]);
    return ok;
}

/* ---------------------------------------------------------------- */

static void test_init_logged(void)
{
    rig r;
    if (!rig_open(&r, "ch341a:sim?target=bk7231t&timescale=0"))
        return;
    CHECK_STR(r.u->where, "emulator");
    init_pins(&r);
    fl_ch341a_emu *e = r.e;
    size_t i = fl_ch341a_emu_find_event(e, 0, FL_EV_STREAM_CFG, NULL);
    CHECK(i != (size_t)-1, "stream config logged");
    if (i != (size_t)-1)
        CHECK_EQ_UINT(fl_ch341a_emu_event_at(e, i)->a, 1);
    size_t p = fl_ch341a_emu_find_event(e, 0, FL_EV_PINS, "DIR 3F OUT 37");
    CHECK(p != (size_t)-1, "pins DIR 3F, CS high, D2 high logged");
    CHECK(fl_ch341a_emu_find_event(e, 0, FL_EV_CEN, NULL) == (size_t)-1,
          "CEN never went low (input pull-up -> driven high)");
    uint8_t dir, o;
    fl_ch341a_emu_pins(e, &dir, &o);
    CHECK_EQ_UINT(dir, 0x3F);
    CHECK_EQ_UINT(o, 0x37);
    CHECK_EQ_UINT(fl_ch341a_emu_gate(e), FL_GATE_RUN_FIRMWARE);
    rig_close(&r);
}

static void test_jedec_bit_reversal(void)
{
    rig r;
    if (!rig_open(&r, "ch341a:sim?target=spi-nor&timescale=0"))
        return;
    init_pins(&r);
    uint8_t first;
    CHECK_EQ_UINT(jedec(&r, &first), 0xEF4016);
    CHECK_EQ_UINT(first, 0xFF); /* a stand-alone flash drives 0xFF during the opcode */
    r.reverse = false;          /* a driver that forgot the reversal */
    uint8_t tx[4] = {0x9F, 0, 0, 0}, rx[4];
    frame(&r, tx, rx, 4);
    CHECK(!(rx[1] == 0xEF && rx[2] == 0x40 && rx[3] == 0x16), "unreversed JEDEC must fail");
    rig_close(&r);
}

static void test_jedec_option_and_size(void)
{
    rig r;
    if (!rig_open(&r, "ch341a:sim?target=spi-nor&jedec=C84017&timescale=0"))
        return;
    init_pins(&r);
    CHECK_EQ_UINT(jedec(&r, NULL), 0xC84017);
    size_t size;
    fl_ch341a_emu_flash(r.e, &size);
    CHECK_EQ_UINT(size, 8u << 20);
    rig_close(&r);
}

static void test_gui_sync(void)
{
    rig r;
    if (!open_synced(&r, "ch341a:sim?target=bk7231t&timescale=0"))
        return;
    uint8_t first;
    CHECK_EQ_UINT(jedec(&r, &first), 0x1C7015);
    CHECK_EQ_UINT(first, 0x00);
    CHECK_EQ_UINT(fl_ch341a_emu_gate(r.e), FL_GATE_FLASH_MODE);
    /* E-3: CEN was low for at least 100 ms */
    size_t lo = fl_ch341a_emu_find_event(r.e, 0, FL_EV_CEN, "low");
    size_t hi = fl_ch341a_emu_find_event(r.e, lo, FL_EV_CEN, "high");
    CHECK(lo != (size_t)-1 && hi != (size_t)-1, "CEN edges logged");
    if (lo != (size_t)-1 && hi != (size_t)-1)
        CHECK(fl_ch341a_emu_event_at(r.e, hi)->t_us - fl_ch341a_emu_event_at(r.e, lo)->t_us >=
                  100000,
              "CEN low >= 100 ms");
    CHECK(fl_ch341a_emu_find_event(r.e, 0, FL_EV_GATE, "BOOT_WINDOW -> SYNCED") != (size_t)-1,
          "gate synced");
    /* leaving: a CEN pulse without sync boots the firmware after the window */
    cen(&r, false);
    delay_ms(&r, 100);
    cen(&r, true);
    delay_ms(&r, 600);
    CHECK_EQ_UINT(fl_ch341a_emu_gate(r.e), FL_GATE_RUN_FIRMWARE);
    CHECK(fl_ch341a_emu_find_event(r.e, 0, FL_EV_BOOTED, "firmware booted") == (size_t)-1,
          "erased flash: nothing to boot");
    CHECK(fl_ch341a_emu_find_event(r.e, 0, FL_EV_BOOTED, "erased") != (size_t)-1,
          "boot of an erased chip logged");
    rig_close(&r);
}

static void test_reset_too_short(void)
{
    rig r;
    if (!rig_open(&r, "ch341a:sim?target=bk7231t&timescale=0&t_reset_min_ms=150"))
        return;
    init_pins(&r);
    int ok = 0;
    for (int attempt = 0; attempt < 10; attempt++) {
        uint8_t probe[4];
        ok += gui_sync_attempt(&r, probe);
        delay_ms(&r, 1000);
    }
    CHECK_EQ_UINT(ok, 0);
    CHECK(fl_ch341a_emu_find_event(r.e, 0, FL_EV_IGNORED, "shorter than t_reset_min") != (size_t)-1,
          "short pulse logged");
    CHECK(fl_ch341a_emu_gate(r.e) != FL_GATE_FLASH_MODE, "never reached flash mode");
    rig_close(&r);
}

static void test_t_switch_zero(void)
{
    rig r;
    if (!rig_open(&r, "ch341a:sim?target=bk7231n&timescale=0&t_switch_ms=0"))
        return;
    init_pins(&r);
    uint8_t probe[4];
    CHECK(!gui_sync_attempt(&r, probe), "the GUI probe sees a real ID and fails");
    CHECK_EQ_UINT(probe[1], 0xEB);
    CHECK_EQ_UINT(jedec(&r, NULL), 0xEB6015); /* the recommended flow's JEDEC fallback */
    rig_close(&r);
}

static void test_python_sync(void)
{
    rig r;
    if (!rig_open(&r, "ch341a:sim?target=bk7252&timescale=0"))
        return;
    init_pins(&r);
    cen(&r, false);
    delay_ms(&r, 1000);
    cen(&r, true);
    uint8_t d2[250], rx[250];
    memset(d2, 0xD2, sizeof d2);
    frame(&r, d2, rx, sizeof d2);
    CHECK_EQ_UINT(rx[0], 0xD2); /* [HID]: D2 then 249 x 00 */
    int zeros = 0;
    for (int i = 1; i < 250; i++)
        zeros += rx[i] == 0;
    CHECK_EQ_UINT(zeros, 249);
    delay_ms(&r, 100);
    CHECK_EQ_UINT(jedec(&r, NULL), 0x0B4016);
    rig_close(&r);
}

static void test_sync_without_reversal_fails(void)
{
    rig r;
    if (!rig_open(&r, "ch341a:sim?target=bk7231t&timescale=0"))
        return;
    init_pins(&r);
    r.reverse = false;
    uint8_t probe[4];
    /* the boot window echoes too, so the GUI's probe test alone passes; the JEDEC read after
     * the flush is what tells (B.2.3 step 5) */
    gui_sync_attempt(&r, probe);
    CHECK(fl_ch341a_emu_find_event(r.e, 0, FL_EV_GATE, "-> SYNCED") == (size_t)-1, "no sync");
    CHECK_EQ_UINT(fl_ch341a_emu_gate(r.e), FL_GATE_RUN_FIRMWARE);
    r.reverse = true;
    CHECK_EQ_UINT(jedec(&r, NULL), 0xFFFFFF); /* firmware running: the bus is silent */
    rig_close(&r);
}

static void test_unprotect_1byte_sr(void)
{
    rig r;
    if (!open_synced(&r, "ch341a:sim?target=bk7231t&timescale=0"))
        return;
    CHECK_EQ_UINT(rdsr(&r, 0x05), 0x7C);
    CHECK_EQ_UINT(rdsr(&r, 0x35), 0xFF); /* no SR2 on this part */
    uint8_t d[16], back[16];
    memset(d, 0x5A, sizeof d);
    program(&r, 0x11000, d, sizeof d);
    read_flash(&r, 0x11000, back, sizeof back);
    CHECK(back[0] == 0xFF && back[15] == 0xFF, "protected program ignored");
    CHECK(fl_ch341a_emu_find_event(r.e, 0, FL_EV_IGNORED, "protected") != (size_t)-1,
          "logged as protected");
    CHECK_EQ_UINT(rdsr(&r, 0x05) & 0x02, 0); /* WEL cleared by the rejection */
    uint8_t wrsr[2] = {0x01, 0x00};
    write_sr(&r, wrsr, 2);
    CHECK_EQ_UINT(rdsr(&r, 0x05), 0x00);
    program(&r, 0x11000, d, sizeof d);
    read_flash(&r, 0x11000, back, sizeof back);
    CHECK(!memcmp(back, d, sizeof d), "program after unprotect");
    rig_close(&r);
}

static void test_unprotect_cmp(void)
{
    rig r;
    if (!open_synced(&r, "ch341a:sim?target=bk7231n&timescale=0&sr2=0x40"))
        return;
    CHECK_EQ_UINT(rdsr(&r, 0x35), 0x40);
    uint8_t wrsr[2] = {0x01, 0x00};
    write_sr(&r, wrsr, 2);
    CHECK_EQ_UINT(rdsr(&r, 0x05), 0x00);
    uint8_t d[4] = {1, 2, 3, 4}, back[4];
    program(&r, 0x0, d, 4); /* BP = 0 with CMP = 1: everything protected */
    read_flash(&r, 0x0, back, 4);
    CHECK_EQ_UINT(back[0], 0xFF);
    uint8_t wrsr2[2] = {0x31, 0x00};
    write_sr(&r, wrsr2, 2);
    CHECK_EQ_UINT(rdsr(&r, 0x35), 0x00);
    program(&r, 0x0, d, 4);
    read_flash(&r, 0x0, back, 4);
    CHECK(!memcmp(back, d, 4), "program after clearing CMP");
    rig_close(&r);
}

static void test_wrsr1_clears_sr2_and_volatile(void)
{
    rig r;
    if (!rig_open(&r, "ch341a:sim?target=spi-nor&timescale=0&sr1=0x1C&sr2=0x42&"
                      "wrsr1_clears_sr2=1"))
        return;
    init_pins(&r);
    uint8_t wrsr[2] = {0x01, 0x00};
    write_sr(&r, wrsr, 2);
    CHECK_EQ_UINT(rdsr(&r, 0x35), 0x00);
    /* 0x50 then 01: volatile, no WEL needed, lost at power cycle */
    uint8_t prot[2] = {0x01, 0x1C};
    write_sr(&r, prot, 2);
    CHECK_EQ_UINT(rdsr(&r, 0x05), 0x1C);
    cmd1(&r, 0x50);
    uint8_t clr[2] = {0x01, 0x00};
    frame(&r, clr, NULL, 2);
    CHECK_EQ_UINT(rdsr(&r, 0x05), 0x00);
    fl_ch341a_emu_power_cycle(r.e);
    CHECK_EQ_UINT(rdsr(&r, 0x05), 0x1C);
    /* WRSR without WREN and without 0x50 is ignored */
    frame(&r, clr, NULL, 2);
    CHECK_EQ_UINT(rdsr(&r, 0x05), 0x1C);
    rig_close(&r);
}

static void test_program_is_and(void)
{
    rig r;
    if (!rig_open(&r, "ch341a:sim?target=spi-nor&timescale=0"))
        return;
    init_pins(&r);
    uint8_t a[4] = {0xF0, 0xFF, 0x0F, 0x00}, b[4] = {0x3C, 0x00, 0xFF, 0xFF}, back[4];
    program(&r, 0x1000, a, 4);
    program(&r, 0x1000, b, 4);
    read_flash(&r, 0x1000, back, 4);
    CHECK_EQ_UINT(back[0], 0x30);
    CHECK_EQ_UINT(back[1], 0x00);
    CHECK_EQ_UINT(back[2], 0x0F);
    CHECK_EQ_UINT(back[3], 0x00);
    erase4k(&r, 0x1800); /* any address inside the sector */
    read_flash(&r, 0x1000, back, 4);
    CHECK_EQ_UINT(back[0], 0xFF);
    rig_close(&r);
}

static void test_page_wrap(void)
{
    rig r;
    if (!rig_open(&r, "ch341a:sim?target=spi-nor&timescale=0&fast=1"))
        return;
    init_pins(&r);
    uint8_t d[300], back[512];
    for (int i = 0; i < 300; i++)
        d[i] = (uint8_t)(i * 7 + 1);
    program(&r, 0x2000, d, 300); /* unsplit: wraps inside the page, last 256 win */
    read_flash(&r, 0x2000, back, 512);
    CHECK(!memcmp(back, d + 256, 44), "bytes 256..299 landed at the page start");
    CHECK(!memcmp(back + 44, d + 44, 212), "bytes 44..255 in place");
    CHECK_EQ_UINT(back[256], 0xFF); /* the next page untouched */
    /* a program starting mid-page wraps to the page start */
    uint8_t e2[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    program(&r, 0x30FC, e2, 8);
    read_flash(&r, 0x3000, back, 4);
    CHECK_EQ_UINT(back[0], 5);
    read_flash(&r, 0x3100, back, 1);
    CHECK_EQ_UINT(back[0], 0xFF);
    rig_close(&r);
}

/* pp_no_wrap=1: a part that does not wrap its page latch discards a page
 * program of more than 256 data bytes (logged), and takes exactly 256. */
static void test_page_no_wrap(void)
{
    rig r;
    if (!rig_open(&r, "ch341a:sim?target=spi-nor&timescale=0&fast=1&pp_no_wrap=1"))
        return;
    init_pins(&r);
    uint8_t d[300], back[256];
    for (int i = 0; i < 300; i++)
        d[i] = (uint8_t)(i * 7 + 1);
    program(&r, 0x2000, d, 257);
    read_flash(&r, 0x2000, back, 256);
    CHECK_EQ_UINT(back[0], 0xFF);
    CHECK_EQ_UINT(back[255], 0xFF);
    CHECK(fl_ch341a_emu_find_event(r.e, 0, FL_EV_IGNORED, "257 data bytes, more than a page") !=
              (size_t)-1,
          "the discarded program is logged");
    uint8_t sr1, sr2, sr3;
    fl_ch341a_emu_status(r.e, &sr1, &sr2, &sr3);
    CHECK_EQ_UINT(sr1 & 0x02, 0); /* WEL cleared */
    program(&r, 0x2000, d, 256);
    read_flash(&r, 0x2000, back, 256);
    CHECK(!memcmp(back, d, 256), "exactly one page is programmed");
    rig_close(&r);
}

static void test_read_wraps_and_fast_read(void)
{
    rig r;
    if (!rig_open(&r, "ch341a:sim?target=spi-nor&timescale=0&fast=1&jedec=EF4010"))
        return;
    init_pins(&r);
    uint8_t d[2] = {0x11, 0x22}, back[4];
    program(&r, 0xFFFF, d, 1);
    program(&r, 0x0, d + 1, 1);
    read_flash(&r, 0xFFFF, back, 2);
    CHECK_EQ_UINT(back[0], 0x11);
    CHECK_EQ_UINT(back[1], 0x22);
    uint8_t tx[7] = {0x0B, 0x00, 0xFF, 0xFF, 0x00, 0xFF, 0xFF}, rx[7];
    frame(&r, tx, rx, 7);
    CHECK_EQ_UINT(rx[5], 0x11);
    CHECK_EQ_UINT(rx[6], 0x22);
    rig_close(&r);
}

static void test_strict_packetising(void)
{
    rig r;
    if (!rig_open(&r, "ch341a:sim?target=spi-nor&timescale=0"))
        return;
    init_pins(&r);
    /* CS assert and WREN in one 32-byte chunk: the A8 is payload after the UIO END */
    OUT(&r, 0xAB, 0xB6, 0x7F, 0x20, 0xA8, 0x60);
    OUT(&r, 0xAB, 0xB7, 0x20);
    CHECK_EQ_UINT(rdsr(&r, 0x05) & 0x02, 0);
    fl_ch341a_counters c;
    fl_ch341a_emu_counters(r.e, &c);
    uint64_t spi_before = c.spi_packets;
    /* padded to 32 bytes, the same command goes through */
    uint8_t buf[34] = {0xAB, 0xB6, 0x7F, 0x20};
    buf[32] = 0xA8;
    buf[33] = 0x60;
    CHECK(out(&r, buf, sizeof buf) == FL_OK, "out");
    uint8_t in[32];
    size_t got;
    fl_error err;
    CHECK(fl_usb_bulk_in(r.u, in, sizeof in, &got, TO, &err) == FL_OK && got == 1, "reply");
    OUT(&r, 0xAB, 0xB7, 0x20);
    CHECK_EQ_UINT(rdsr(&r, 0x05) & 0x02, 0x02);
    fl_ch341a_emu_counters(r.e, &c);
    CHECK(c.spi_packets > spi_before, "spi packets counted");
    /* an unknown command byte is ignored and logged */
    OUT(&r, 0x55, 0x01);
    CHECK(fl_ch341a_emu_find_event(r.e, 0, FL_EV_USB, "unknown command 0x55") != (size_t)-1,
          "unknown command logged");
    rig_close(&r);
}

static void test_cs_rise_in_next_transfer(void)
{
    rig r;
    if (!rig_open(&r, "ch341a:sim?target=spi-nor&timescale=0"))
        return;
    init_pins(&r);
    /* flashrom style: pluck CS, then the SPI bytes; CS stays low after the command */
    uint8_t buf[33] = {0xAB, 0xB7, 0xB7, 0xB7, 0xB6, 0x20};
    buf[32] = 0xA8;
    uint8_t p2[2] = {0xA8, rev(0x06)};
    CHECK(out(&r, buf, 32) == FL_OK && out(&r, p2, 2) == FL_OK, "out");
    uint8_t in[32];
    size_t got;
    fl_error err;
    fl_usb_bulk_in(r.u, in, sizeof in, &got, TO, &err);
    uint8_t sr1;
    fl_ch341a_emu_status(r.e, &sr1, NULL, NULL);
    CHECK_EQ_UINT(sr1 & 2, 0); /* not yet: CS is still low */
    OUT(&r, 0xAB, 0xB7, 0x20);
    fl_ch341a_emu_status(r.e, &sr1, NULL, NULL);
    CHECK_EQ_UINT(sr1 & 2, 2);
    rig_close(&r);
}

static void test_malformed_frames(void)
{
    rig r;
    if (!rig_open(&r, "ch341a:sim?target=spi-nor&timescale=0&fast=1"))
        return;
    init_pins(&r);
    uint8_t d[4] = {0, 0, 0, 0}, back[4];
    program(&r, 0x4000, d, 4);
    uint8_t wren2[2] = {0x06, 0x00};
    frame(&r, wren2, NULL, 2);
    CHECK_EQ_UINT(rdsr(&r, 0x05) & 2, 0);
    cmd1(&r, 0x06);
    uint8_t short_erase[3] = {0x20, 0x00, 0x40};
    frame(&r, short_erase, NULL, 3);
    read_flash(&r, 0x4000, back, 4);
    CHECK_EQ_UINT(back[0], 0x00);
    CHECK(fl_ch341a_emu_find_event(r.e, 0, FL_EV_IGNORED, "bad length: 0x20") != (size_t)-1,
          "bad length logged");
    uint8_t long_erase[5] = {0x20, 0x00, 0x40, 0x00, 0x00};
    frame(&r, long_erase, NULL, 5);
    read_flash(&r, 0x4000, back, 4);
    CHECK_EQ_UINT(back[0], 0x00);
    rig_close(&r);
}

/* SPI clocked by hand through UIO pin writes (bit-banged, mode 0, MSB first):
 * `bits` of `byte` with CS low, then CS high.  One UIO packet. */
static void bitbang(rig *r, uint8_t byte, int bits)
{
    uint8_t p[32] = {0xAB};
    size_t k = 1;
    uint8_t sel = (uint8_t)(0x16 | r->d2); /* CS low, SCK low, MOSI low */
    for (int i = 0; i < bits; i++) {
        uint8_t v = (uint8_t)(sel | ((byte >> (7 - i)) & 1 ? 0x20 : 0));
        p[k++] = (uint8_t)(0x80 | v);
        p[k++] = (uint8_t)(0x80 | v | 0x08);
    }
    p[k++] = (uint8_t)(0x80 | sel);
    p[k++] = (uint8_t)(0x80 | 0x37 | r->d2); /* CS high */
    p[k++] = 0x20;
    if (out(r, p, k) != FL_OK)
        CHECK(0, "bulk out");
}

/* A WREN bit-banged through UIO writes reaches the flash like one from the SPI
 * engine; seven bits and CS high are dropped (and logged); a programmer whose
 * UIO writes do not reach the SPI lines (uio_spi=0) delivers nothing. */
static void test_bitbang(void)
{
    rig r;
    if (!rig_open(&r, "ch341a:sim?target=spi-nor&timescale=0"))
        return;
    init_pins(&r);
    cmd1(&r, 0x04);
    CHECK_EQ_UINT(rdsr(&r, 0x05) & 2, 0);
    bitbang(&r, 0x06, 8);
    CHECK_EQ_UINT(rdsr(&r, 0x05) & 2, 2); /* WEL set by the bit-banged WREN */
    cmd1(&r, 0x04);
    bitbang(&r, 0x06, 7);
    CHECK_EQ_UINT(rdsr(&r, 0x05) & 2, 0);
    CHECK(fl_ch341a_emu_find_event(r.e, 0, FL_EV_USB, "partial byte is dropped") != (size_t)-1,
          "the partial byte is logged");
    bitbang(&r, 0x06, 8);
    CHECK_EQ_UINT(rdsr(&r, 0x05) & 2, 2);
    bitbang(&r, 0x04, 8); /* the bits are decoded: WRDI clears WEL */
    CHECK_EQ_UINT(rdsr(&r, 0x05) & 2, 0);
    rig_close(&r);

    if (!rig_open(&r, "ch341a:sim?target=spi-nor&timescale=0&uio_spi=0"))
        return;
    init_pins(&r);
    bitbang(&r, 0x06, 8);
    CHECK_EQ_UINT(rdsr(&r, 0x05) & 2, 0);
    cmd1(&r, 0x06);
    CHECK_EQ_UINT(rdsr(&r, 0x05) & 2, 2); /* the SPI engine still works */
    rig_close(&r);
}

static void test_busy(void)
{
    rig r;
    if (!rig_open(&r, "ch341a:sim?target=spi-nor&timescale=0"))
        return;
    init_pins(&r);
    cmd1(&r, 0x06);
    uint64_t t0 = fl_usb_now_us(r.u);
    cmd_addr(&r, 0xD8, 0x10000);
    CHECK_EQ_UINT(rdsr(&r, 0x05) & 3, 3); /* WIP, and WEL until the erase completes */
    CHECK_EQ_UINT(jedec(&r, NULL), 0xFFFFFF); /* only RDSR during BUSY */
    cmd1(&r, 0x06);
    CHECK(fl_ch341a_emu_find_event(r.e, 0, FL_EV_IGNORED, "busy") != (size_t)-1, "logged");
    CHECK(wait_ready(&r), "ready");
    CHECK_EQ_UINT(rdsr(&r, 0x05) & 2, 0); /* the WREN sent while busy did not stick */
    uint64_t took = fl_usb_now_us(r.u) - t0;
    CHECK(took >= 250000 && took < 270000, "64K erase busy %llu us", (unsigned long long)took);
    CHECK_EQ_UINT(jedec(&r, NULL), 0xEF4016);
    rig_close(&r);
}

static void test_erased_bootloader_enters_spi(void)
{
    char path[] = "/tmp/fl_ch341a_emu_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    close(fd);
    unlink(path); /* a missing file: erased flash, created */
    char url[256];
    snprintf(url, sizeof url, "ch341a:sim?target=bk7231t&flash=%s&timescale=0", path);
    rig r;
    if (!open_synced(&r, url)) {
        unlink(path);
        return;
    }
    CHECK_EQ_UINT(jedec(&r, NULL), 0x1C7015);
    uint8_t wrsr[2] = {0x01, 0x00};
    write_sr(&r, wrsr, 2);
    uint8_t boot[64];
    for (int i = 0; i < 64; i++)
        boot[i] = (uint8_t)(0xA0 + i);
    program(&r, 0x0, boot, sizeof boot);
    rig_close(&r);
    /* the file holds it, and its size is the profile's */
    FILE *f = fopen(path, "rb");
    uint8_t back[64];
    CHECK(f && fread(back, 1, 64, f) == 64, "read file");
    CHECK(!memcmp(back, boot, 64), "program persisted in the flash file");
    if (f) {
        fseek(f, 0, SEEK_END);
        CHECK_EQ_UINT(ftell(f), 2u << 20);
        fclose(f);
    }
    /* reopened: a CEN pulse without sync now boots firmware */
    if (rig_open(&r, url)) {
        init_pins(&r);
        cen(&r, false);
        delay_ms(&r, 100);
        cen(&r, true);
        delay_ms(&r, 600);
        CHECK(fl_ch341a_emu_find_event(r.e, 0, FL_EV_BOOTED, "firmware booted") != (size_t)-1,
              "booted");
        rig_close(&r);
    }
    /* a file of the wrong size is refused */
    fl_usb *u = NULL;
    fl_error err;
    snprintf(url, sizeof url, "ch341a:sim?target=bk7252&flash=%s&timescale=0", path);
    CHECK(fl_usb_open(url, &u, &err) == FL_ERR_FORMAT, "4M profile on a 2M file");
    fl_usb_close(u);
    unlink(path);
}

static void test_options(void)
{
    static const struct {
        const char *url;
        fl_status want;
        const char *needle;
    } cases[] = {
        {"ch341a:sim?target=bk7231t&bogus=1", FL_ERR_USAGE, "'bogus'"},
        {"ch341a:sim?target=bk9999", FL_ERR_USAGE, "target"},
        {"ch341a:sim", FL_ERR_USAGE, "target="},
        {"ch341a:sim?target=spi-nor&jedec=EF40", FL_ERR_USAGE, "jedec"},
        {"ch341a:sim?target=spi-nor&jedec=EF4001", FL_ERR_USAGE, "size="},
        {"ch341a:sim?target=spi-nor&size=3M", FL_ERR_USAGE, "size"},
        {"ch341a:sim?target=spi-nor&stuck_miso=7f", FL_ERR_USAGE, "stuck_miso"},
        {"ch341a:sim?target=spi-nor&has_sr2=yes", FL_ERR_USAGE, "has_sr2"},
        {"ch341a:sim?target=spi-nor&timescale=-1", FL_ERR_USAGE, "timescale"},
        {"ch341a:sim?fast=1&target=spi-nor", FL_ERR_USAGE, "first"},
        {"ch341a:sim?target=spi-nor&jedec=EF4001&size=1M&sr1=0x3c&has_sr3=0&seed=7", FL_OK, NULL},
        {"ch341a:sim?target=spi-nor&bp_bits=3", FL_ERR_USAGE, "bp_bits"},
        {"ch341a:sim?target=spi-nor&flash=", FL_ERR_USAGE, "flash"},
        {"ch341a:sim?target=spi-nor&fast", FL_ERR_USAGE, "fast"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fl_usb *u = NULL;
        fl_error err = {0};
        fl_status st = fl_usb_open(cases[i].url, &u, &err);
        CHECK(st == cases[i].want, "%s: status %d (%s)", cases[i].url, st, err.msg);
        if (cases[i].needle)
            CHECK(strstr(err.msg, cases[i].needle) != NULL, "%s: message '%s'", cases[i].url,
                  err.msg);
        fl_usb_close(u);
    }
}

static void test_faults(void)
{
    rig r;
    fl_error err;
    if (rig_open(&r, "ch341a:sim?target=spi-nor&timescale=0&fail_usb=3")) {
        CHECK(out(&r, (const uint8_t[]){0xAA, 0x61, 0x00}, 3) == FL_OK, "1");
        CHECK(out(&r, (const uint8_t[]){0xAB, 0xB7, 0x7F, 0x20}, 4) == FL_OK, "2");
        CHECK(fl_usb_bulk_out(r.u, (const uint8_t[]){0xAB, 0xB6, 0x20}, 3, TO, &err) ==
                  FL_ERR_LINK,
              "3rd fails");
        CHECK(out(&r, (const uint8_t[]){0xAB, 0xB7, 0x20}, 3) == FL_OK, "4");
        rig_close(&r);
    }
    if (rig_open(&r, "ch341a:sim?target=spi-nor&timescale=0&stuck_miso=00")) {
        init_pins(&r);
        CHECK_EQ_UINT(jedec(&r, NULL), 0);
        rig_close(&r);
    }
    if (rig_open(&r, "ch341a:sim?target=spi-nor&timescale=0&torn_program=2&fast=1")) {
        init_pins(&r);
        uint8_t d[16] = {0}, back[16];
        program(&r, 0x0, d, 16);
        program(&r, 0x100, d, 16);
        read_flash(&r, 0x100, back, 16);
        CHECK_EQ_UINT(back[7], 0x00);
        CHECK_EQ_UINT(back[8], 0xFF);
        read_flash(&r, 0x0, back, 16);
        CHECK_EQ_UINT(back[15], 0x00);
        rig_close(&r);
    }
    if (rig_open(&r, "ch341a:sim?target=spi-nor&timescale=0&max_pending_in=1")) {
        init_pins(&r);
        OUT(&r, 0xAB, 0xB6, 0x7F, 0x20);
        OUT(&r, 0xA8, 0xF9, 0, 0, 0);
        uint8_t p[2] = {0xA8, 0};
        CHECK(fl_usb_bulk_out(r.u, p, 2, 50, &err) == FL_ERR_TIMEOUT,
              "refused with a reply unread");
        uint8_t in[32];
        size_t got;
        CHECK(fl_usb_bulk_in(r.u, in, sizeof in, &got, TO, &err) == FL_OK && got == 4, "reply");
        CHECK(fl_usb_bulk_in(r.u, in, sizeof in, &got, 20, &err) == FL_ERR_TIMEOUT,
              "nothing queued: timeout");
        rig_close(&r);
    }
    if (rig_open(&r, "ch341a:sim?target=spi-nor&timescale=0&lose_reply=2")) {
        init_pins(&r);
        OUT(&r, 0xAB, 0xB6, 0x7F, 0x20);
        OUT(&r, 0xA8, 0xF9, 0, 0, 0);
        OUT(&r, 0xA8, 0, 0);
        uint8_t in[32];
        size_t got;
        CHECK(fl_usb_bulk_in(r.u, in, sizeof in, &got, TO, &err) == FL_OK && got == 4, "first");
        uint64_t t0 = fl_usb_now_us(r.u);
        CHECK(fl_usb_bulk_in(r.u, in, sizeof in, &got, 100, &err) == FL_ERR_TIMEOUT,
              "second lost: timeout");
        CHECK_EQ_UINT(fl_usb_now_us(r.u) - t0, 100000);
        OUT(&r, 0xAB, 0xB7, 0x20);
        uint8_t dir, o;
        fl_ch341a_emu_pins(r.e, &dir, &o);
        CHECK_EQ_UINT(o & 1, 1); /* CS released after the failure */
        rig_close(&r);
    }
    if (rig_open(&r, "ch341a:sim?target=spi-nor&timescale=0&has_sr2=0&sr1=0x1C")) {
        init_pins(&r);
        CHECK_EQ_UINT(rdsr(&r, 0x35), 0xFF); /* no SR2: the GUI's "unsupported" */
        uint8_t w31[2] = {0x31, 0x00};
        write_sr(&r, w31, 2);
        uint8_t wrsr[2] = {0x01, 0x00};
        write_sr(&r, wrsr, 2);
        CHECK_EQ_UINT(rdsr(&r, 0x05), 0x00);
        CHECK_EQ_UINT(rdsr(&r, 0x35), 0xFF);
        rig_close(&r);
    }
    if (rig_open(&r, "ch341a:sim?target=bk7231t&timescale=0&no_sync=1")) {
        init_pins(&r);
        uint8_t probe[4];
        gui_sync_attempt(&r, probe);
        CHECK_EQ_UINT(jedec(&r, NULL), 0xFFFFFF);
        CHECK_EQ_UINT(fl_ch341a_emu_gate(r.e), FL_GATE_RUN_FIRMWARE);
        rig_close(&r);
    }
}

static void test_switch_after_frames(void)
{
    rig r;
    if (!rig_open(&r, "ch341a:sim?target=bk7231t&timescale=0&switch_after_frames=3&"
                      "t_switch_ms=0"))
        return;
    init_pins(&r);
    cen(&r, false);
    delay_ms(&r, 100);
    cen(&r, true);
    uint8_t d2[40];
    memset(d2, 0xD2, sizeof d2);
    frame(&r, d2, NULL, sizeof d2);
    delay_ms(&r, 100); /* time does not switch it in this mode */
    uint8_t first;
    uint32_t id = jedec(&r, &first);
    CHECK(first == 0x9F && id == 0, "still SYNCED: echo, got %02X %06X", first, id);
    frame(&r, d2, NULL, 4);
    frame(&r, d2, NULL, 4);
    CHECK_EQ_UINT(jedec(&r, NULL), 0x1C7015);
    rig_close(&r);
}

/* A whole read frame through `stream`: the CS-assert UIO command padded to 32 bytes, then
 * SPI packets of 31 bytes, replies kept in flight `depth` deep; CS released after. */
static bool stream_read(rig *r, uint32_t a, uint8_t *buf, size_t n, unsigned depth)
{
    size_t total = n + 4, packets = (total + 30) / 31;
    size_t out_len = 32 + total + packets;
    uint8_t *o = calloc(1, out_len), *in = malloc(total);
    if (!o || !in)
        return free(o), free(in), false;
    o[0] = 0xAB;
    o[1] = (uint8_t)(0x80 | 0x36 | r->d2);
    o[2] = 0x7F;
    o[3] = 0x20;
    uint8_t hdr[4] = {0x03, (uint8_t)(a >> 16), (uint8_t)(a >> 8), (uint8_t)a};
    size_t w = 32;
    for (size_t i = 0; i < total; i++) {
        if (i % 31 == 0)
            o[w++] = 0xA8;
        o[w++] = rev(i < 4 ? hdr[i] : 0xFF);
    }
    fl_error err;
    fl_status st = fl_usb_stream(r->u, o, out_len, 32, in, total, 31, depth, TO, &err);
    CHECK(st == FL_OK, "stream: %s", err.msg);
    for (size_t i = 0; i < n; i++)
        buf[i] = rev(in[4 + i]);
    OUT(r, 0xAB, (uint8_t)(0x80 | 0x37 | r->d2), 0x20);
    free(o);
    free(in);
    return st == FL_OK;
}

static void test_timing_sync_vs_stream(void)
{
    rig r;
    if (!rig_open(&r, "ch341a:sim?target=spi-nor&timescale=0&fast=1"))
        return;
    init_pins(&r);
    size_t size;
    uint8_t *mem = fl_ch341a_emu_flash(r.e, &size);
    for (size_t i = 0; i < 65536; i++)
        mem[i] = (uint8_t)(i * 13 + (i >> 8));
    /* one packet OUT, then its IN: two 1 ms frames */
    uint64_t t0 = fl_usb_now_us(r.u);
    uint8_t tx[31] = {0x9F}, rx[31];
    OUT(&r, 0xAB, 0xB6, 0x7F, 0x20);
    uint64_t t1 = fl_usb_now_us(r.u);
    frame(&r, tx, rx, 31);
    uint64_t t2 = fl_usb_now_us(r.u);
    CHECK_EQ_UINT(t1 - t0, 1000);
    CHECK_EQ_UINT(t2 - t1, 1000 + 2000 + 1000); /* assert, A8 + IN, release */
    /* 64 KiB read one packet at a time */
    static uint8_t a[65536], b[65536];
    t0 = fl_usb_now_us(r.u);
    for (uint32_t off = 0; off < sizeof a; off += 1024)
        read_flash(&r, off, a + off, 1024);
    uint64_t sync_us = fl_usb_now_us(r.u) - t0;
    CHECK(!memcmp(a, mem, sizeof a), "sync read content");
    /* the same through stream, 32 transfers in flight */
    t0 = fl_usb_now_us(r.u);
    CHECK(stream_read(&r, 0, b, sizeof b, 32), "stream read");
    uint64_t stream_us = fl_usb_now_us(r.u) - t0;
    CHECK(!memcmp(b, mem, sizeof b), "stream read content");
    double ceiling = fl_ch341a_emu_ceiling_bps(r.e);
    double rate = 65536.0 / ((double)stream_us / 1e6);
    CHECK(ceiling > 170000 && ceiling < 180000, "ceiling %.0f B/s (1.4 MHz / 8)", ceiling);
    CHECK(rate <= ceiling && rate > 0.9 * ceiling, "stream %.0f B/s of ceiling %.0f", rate,
          ceiling);
    fprintf(stderr, "# 64K: sync %.2f s, stream %.3f s (%.0f B/s, ceiling %.0f)\n",
            (double)sync_us / 1e6, (double)stream_us / 1e6, rate, ceiling);
    CHECK(sync_us > 8 * stream_us, "sync %llu us vs stream %llu us", (unsigned long long)sync_us,
          (unsigned long long)stream_us);
    /* depth 1: a round trip per packet again */
    t0 = fl_usb_now_us(r.u);
    CHECK(stream_read(&r, 0, b, 4096, 1), "stream depth 1");
    uint64_t d1_us = fl_usb_now_us(r.u) - t0;
    CHECK(!memcmp(b, mem, 4096), "depth 1 content");
    fprintf(stderr, "# 4K depth 1: %.3f s\n", (double)d1_us / 1e6);
    CHECK(d1_us > 3 * (stream_us / 16), "depth 1 %llu us for 4K vs %llu us for 64K at depth 32",
          (unsigned long long)d1_us, (unsigned long long)stream_us);
    rig_close(&r);
}

static void test_timescale_sleeps(void)
{
    rig r;
    if (!rig_open(&r, "ch341a:sim?target=spi-nor&timescale=1"))
        return;
    double t0 = fl_now();
    delay_ms(&r, 30);
    init_pins(&r);
    double real = fl_now() - t0;
    CHECK(real >= 0.030, "real time %.3f s for 32 ms modelled", real);
    rig_close(&r);
}

static void test_dll_set_output_and_status(void)
{
    rig r;
    if (!rig_open(&r, "ch341a:sim?target=bk7231t&timescale=0"))
        return;
    init_pins(&r);
    /* the vendor DLL's CEN low / high (A.8 method 2): D2 only as output, D0/D3/D5 float */
    OUT(&r, 0xA1, 0x6A, 0x1F, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00);
    CHECK_EQ_UINT(fl_ch341a_emu_gate(r.e), FL_GATE_RESET_HELD);
    delay_ms(&r, 100);
    OUT(&r, 0xA1, 0x6A, 0x1F, 0x00, 0x00, 0x04, 0x04, 0x00, 0x00, 0x00, 0x00);
    CHECK_EQ_UINT(fl_ch341a_emu_gate(r.e), FL_GATE_BOOT_WINDOW);
    uint8_t dir, o;
    fl_ch341a_emu_pins(r.e, &dir, &o);
    CHECK_EQ_UINT(dir, 0x04);
    /* SPI with D0/D3/D5 inputs: the target sees nothing, MISO floats high */
    OUT(&r, 0xA8, 0x4B, 0x4B);
    uint8_t in[32];
    size_t got;
    fl_error err;
    CHECK(fl_usb_bulk_in(r.u, in, sizeof in, &got, TO, &err) == FL_OK && got == 2, "reply");
    CHECK(in[0] == 0xFF && in[1] == 0xFF, "floating MISO");
    CHECK(fl_ch341a_emu_find_event(r.e, 0, FL_EV_USB, "not all outputs") != (size_t)-1, "logged");
    /* UIO input: one byte of D7..D0 */
    OUT(&r, 0xAB, 0x80 | 0x37, 0x7F, 0x00, 0x20);
    CHECK(fl_usb_bulk_in(r.u, in, sizeof in, &got, TO, &err) == FL_OK && got == 1, "pins byte");
    CHECK_EQ_UINT(in[0], 0xF7);
    /* 0xA0 status: 6 bytes, pins first */
    OUT(&r, 0xA0);
    CHECK(fl_usb_bulk_in(r.u, in, sizeof in, &got, TO, &err) == FL_OK && got == 6, "status");
    CHECK_EQ_UINT(in[0], 0xF7);
    uint8_t ver[2] = {0, 0};
    CHECK(fl_usb_control(r.u, true, 0x5F, 0, 0, ver, 2, &got, TO, &err) == FL_OK && got == 2,
          "GET_VER");
    CHECK_EQ_UINT(ver[0], 0x30);
    /* a short buffer for a longer reply is an overflow, as libusb says */
    OUT(&r, 0xA8, 0, 0, 0);
    CHECK(fl_usb_bulk_in(r.u, in, 1, &got, TO, &err) == FL_ERR_LINK, "overflow");
    rig_close(&r);
}

static void test_erase_program_verify_64k(void)
{
    rig r;
    if (!open_synced(&r, "ch341a:sim?target=bk7231n&timescale=0"))
        return;
    uint8_t wrsr[3] = {0x01, 0x00, 0x00};
    write_sr(&r, wrsr, 3);
    CHECK_EQ_UINT(rdsr(&r, 0x05), 0x00);
    static uint8_t img[65536], back[65536];
    for (size_t i = 0; i < sizeof img; i++)
        img[i] = (uint8_t)(i ^ (i >> 7) ^ 0x5A);
    for (uint32_t a = 0; a < sizeof img; a += 4096)
        erase4k(&r, 0x11000 + a);
    /* pages split at page boundaries, starting mid-page to exercise the split */
    size_t off = 0;
    while (off < sizeof img) {
        uint32_t a = 0x11000 + (uint32_t)off;
        size_t room = 256 - (a & 0xFF), n = sizeof img - off < 200 ? sizeof img - off : 200;
        if (n > room)
            n = room;
        program(&r, a, img + off, n);
        off += n;
    }
    CHECK(stream_read(&r, 0x11000, back, sizeof back, 32), "read back");
    CHECK(!memcmp(img, back, sizeof img), "64K at 0x11000 verified");
    CHECK(stream_read(&r, 0x10000, back, 4096, 32), "below");
    CHECK(back[0] == 0xFF && back[4095] == 0xFF, "the sector below untouched");
    fl_ch341a_counters c;
    fl_ch341a_emu_counters(r.e, &c);
    CHECK_EQ_UINT(c.erases, 16);
    CHECK(c.page_programs >= 256, "page programs %llu", (unsigned long long)c.page_programs);
    rig_close(&r);
}

static void test_chip_erase_and_partial_protection(void)
{
    rig r;
    /* BP = 1 on a 5-bit field: the top size >> 5 = 128 KiB of 4 MiB */
    if (!rig_open(&r, "ch341a:sim?target=spi-nor&timescale=0&sr1=0x04"))
        return;
    init_pins(&r);
    size_t size;
    uint8_t *mem = fl_ch341a_emu_flash(r.e, &size);
    memset(mem, 0x00, size);
    cmd1(&r, 0x06);
    cmd1(&r, 0xC7);
    CHECK_EQ_UINT(rdsr(&r, 0x05) & 3, 0); /* ignored: no BUSY, WEL cleared */
    CHECK_EQ_UINT(mem[0], 0x00);
    erase4k(&r, 0x0);
    CHECK_EQ_UINT(mem[0], 0xFF);
    erase4k(&r, (uint32_t)size - 0x20000);
    CHECK_EQ_UINT(mem[size - 0x20000], 0x00);
    erase4k(&r, (uint32_t)size - 0x21000);
    CHECK_EQ_UINT(mem[size - 0x21000], 0xFF);
    /* WRDI clears WEL */
    cmd1(&r, 0x06);
    cmd1(&r, 0x04);
    CHECK_EQ_UINT(rdsr(&r, 0x05) & 2, 0);
    uint8_t wrsr[2] = {0x01, 0x00};
    write_sr(&r, wrsr, 2);
    cmd1(&r, 0x06);
    uint64_t t0 = fl_usb_now_us(r.u);
    cmd1(&r, 0x60);
    CHECK(wait_ready(&r), "chip erase done");
    uint64_t took = fl_usb_now_us(r.u) - t0;
    CHECK(took >= 15000000 && took < 15100000, "4 MiB chip erase %llu us",
          (unsigned long long)took);
    CHECK(mem[size - 1] == 0xFF && mem[size / 2] == 0xFF, "erased");
    /* 32K block erase aligns down */
    memset(mem, 0x00, 0x10000);
    cmd1(&r, 0x06);
    cmd_addr(&r, 0x52, 0x9123);
    CHECK(wait_ready(&r), "ready");
    CHECK(mem[0x8000] == 0xFF && mem[0xFFFF] == 0xFF && mem[0x7FFF] == 0x00, "32K at 0x8000");
    rig_close(&r);
}

static void test_every_beken_profile_syncs(void)
{
    static const struct {
        const char *target;
        uint32_t jedec, size;
        uint8_t sr2;
    } t[] = {
        {"bk7231t", 0x1C7015, 2u << 20, 0xFF}, {"bk7231u", 0x1C7015, 2u << 20, 0xFF},
        {"bk7231n", 0xEB6015, 2u << 20, 0x00}, {"bk7231m", 0xEB6015, 2u << 20, 0x00},
        {"bk7238", 0xC84015, 2u << 20, 0x00},  {"bk7252", 0x0B4016, 4u << 20, 0x00},
        {"bk7252n", 0x0B4016, 4u << 20, 0x00},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char url[128];
        snprintf(url, sizeof url, "ch341a:sim?target=%s&timescale=0", t[i].target);
        rig r;
        if (!open_synced(&r, url))
            continue;
        CHECK(jedec(&r, NULL) == t[i].jedec, "%s JEDEC", t[i].target);
        CHECK(rdsr(&r, 0x05) == 0x7C, "%s starts protected as OBK leaves it", t[i].target);
        CHECK(rdsr(&r, 0x35) == t[i].sr2, "%s SR2", t[i].target);
        size_t size;
        fl_ch341a_emu_flash(r.e, &size);
        CHECK(size == t[i].size, "%s size %zu", t[i].target, size);
        rig_close(&r);
    }
}

static void test_profile_knobs(void)
{
    rig r;
    /* 4-bit BP field (mx_25v16b-like): BP = 0xF protects everything, BP = 1 the top 1/8 */
    if (!rig_open(&r, "ch341a:sim?target=spi-nor&timescale=0&fast=1&bp_bits=4&sr1=0x04&"
                      "opcode_phase=0x00&rdid_repeat=1&jedec=C22315"))
        return;
    init_pins(&r);
    uint8_t tx[8] = {0x9F}, rx[8];
    frame(&r, tx, rx, 8);
    CHECK(rx[0] == 0x00 && rx[1] == 0xC2 && rx[4] == 0xC2 && rx[6] == 0x15, "repeat, phase");
    size_t size;
    uint8_t *mem = fl_ch341a_emu_flash(r.e, &size);
    CHECK_EQ_UINT(size, 2u << 20);
    memset(mem, 0, size);
    erase4k(&r, (uint32_t)(size - size / 8));
    CHECK_EQ_UINT(mem[size - size / 8], 0x00);
    erase4k(&r, (uint32_t)(size - size / 8 - 4096));
    CHECK_EQ_UINT(mem[size - size / 8 - 4096], 0xFF);
    rig_close(&r);
}

/* The UART simulator (sim:CHIP?flash=FILE) and this emulator work on the same file. */
static void test_shares_file_with_uart_sim(void)
{
    char path[] = "/tmp/fl_ch341a_share_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    close(fd);
    unlink(path);
    char url[256];
    snprintf(url, sizeof url, "ch341a:sim?target=bk7231t&flash=%s&timescale=0", path);
    rig r;
    if (!open_synced(&r, url)) {
        unlink(path);
        return;
    }
    uint8_t wrsr[2] = {0x01, 0x00};
    write_sr(&r, wrsr, 2);
    uint8_t d[32];
    for (int i = 0; i < 32; i++)
        d[i] = (uint8_t)(0x30 + i);
    program(&r, 0x11000, d, sizeof d);
    fl_sim_options o;
    fl_sim_options_init(&o);
    o.chip = "bk7231t";
    o.flash_path = path;
    o.timescale = 0;
    fl_sim *sim = NULL;
    fl_error err;
    /* while the emulator still has it open: the UART simulator maps the same bytes */
    CHECK(fl_sim_create(&o, &sim, &err) == FL_OK, "UART sim on the file: %s", err.msg);
    if (sim) {
        uint8_t back[32];
        CHECK(fl_sim_flash_read(sim, 0x11000, back, 32, &err) == FL_OK, "sim read");
        CHECK(!memcmp(back, d, 32), "the UART simulator sees the SPI write");
        uint8_t mark[4] = {0xC0, 0xFF, 0xEE, 0x00};
        CHECK(fl_sim_flash_load(sim, 0x20000, mark, 4, &err) == FL_OK, "sim load");
        fl_sim_destroy(sim);
        uint8_t back2[4];
        read_flash(&r, 0x20000, back2, 4);
        CHECK(!memcmp(back2, mark, 4), "the emulator sees the UART simulator's write");
    }
    rig_close(&r);
    unlink(path);
}

int main(void)
{
    RUN(test_init_logged);
    RUN(test_jedec_bit_reversal);
    RUN(test_jedec_option_and_size);
    RUN(test_gui_sync);
    RUN(test_every_beken_profile_syncs);
    RUN(test_reset_too_short);
    RUN(test_t_switch_zero);
    RUN(test_python_sync);
    RUN(test_sync_without_reversal_fails);
    RUN(test_unprotect_1byte_sr);
    RUN(test_unprotect_cmp);
    RUN(test_wrsr1_clears_sr2_and_volatile);
    RUN(test_program_is_and);
    RUN(test_page_wrap);
    RUN(test_page_no_wrap);
    RUN(test_read_wraps_and_fast_read);
    RUN(test_strict_packetising);
    RUN(test_cs_rise_in_next_transfer);
    RUN(test_malformed_frames);
    RUN(test_busy);
    RUN(test_bitbang);
    RUN(test_erased_bootloader_enters_spi);
    RUN(test_shares_file_with_uart_sim);
    RUN(test_options);
    RUN(test_faults);
    RUN(test_profile_knobs);
    RUN(test_switch_after_frames);
    RUN(test_timing_sync_vs_stream);
    RUN(test_dll_set_output_and_status);
    RUN(test_erase_program_verify_64k);
    RUN(test_chip_erase_and_partial_protection);
    RUN(test_timescale_sleeps);
    return testlib_finish();
}
