/* test_flash.c — the driver-neutral session (flash/flash.h) over the Beken
 * UART driver and the in-process simulator: open, identity, read, write,
 * verify, device CRC, and the library's refusals before any driver call
 * (a chip the port's driver does not serve, past the end, the bootloader). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flash/driver.h"
#include "flash/flash.h"
#include "sim/beken_sim.h"
#include "testlib.h"
#include "util/crc32.h"

#define PORT "sim:bk7231n?timescale=0&quiet=1"
#define IMG_DIR SHARED_DIR "/testdata/obk-images/"
#define QIO_N IMG_DIR "OpenBK7231N_QIO_1.18.300.bin"

static fl_flash *open_n(bool allow_bootloader)
{
    fl_flash_opts o;
    fl_flash_opts_init(&o);
    o.baud = 115200; /* no switch: nothing to learn from it here */
    o.allow_bootloader = allow_bootloader;
    fl_flash *f = NULL;
    fl_error err = {0};
    fl_status st = fl_flash_open(PORT, "bk7231n", &o, NULL, &f, &err);
    CHECK(st == FL_OK && f, "open %s: %s", PORT, err.msg);
    return st ? NULL : f;
}

static void test_driver_table(void)
{
    const fl_driver *const *d = fl_drivers();
    CHECK(d[0] != NULL, "at least one driver");
    size_t n = 0;
    while (d[n])
        n++;
    CHECK(d[n - 1] == &fl_driver_beken_uart, "the UART driver is offered ports last");
    fl_error err = {0};
    CHECK(fl_driver_for("/dev/ttyUSB0", fl_chip_find("bk7231t"), &err) == &fl_driver_beken_uart,
          "a tty port reaches a Beken chip over UART");
    CHECK(!fl_driver_beken_uart.claims_port("ch341a:1-4"), "the UART driver leaves USB URLs");
    CHECK(fl_driver_beken_uart.claims_port("rfc2217://host:4000"), "rfc2217 is a UART");
    CHECK(fl_driver_for("/dev/ttyUSB0", NULL, &err) == &fl_driver_beken_uart,
          "with no chip, a UART port goes to the driver that tells the chip");
    CHECK(fl_driver_for("/dev/ttyUSB0", fl_chip_find("esp32"), &err) == &fl_driver_esp_rom,
          "an ESP chip on the same port goes to the ESP driver");
    CHECK(fl_driver_for("ch341a", fl_chip_find("esp32c3"), &err) == NULL &&
              strstr(err.msg, "esp32c3") && strstr(err.msg, "ch341a-spi"),
          "an ESP chip on a SPI programmer says what the port reaches: %s", err.msg);
    CHECK(strstr(fl_flash_drivers_help(), "beken-uart") &&
              strstr(fl_flash_drivers_help(), "sim:CHIP"),
          "drivers help names the driver and its ports: %s", fl_flash_drivers_help());
}

/* The write erases each window the cheapest way (ops.c plan_erases), with
 * the modelled erase time as the witness: a 4 KiB erase 45 ms, 32 KiB 150 ms,
 * 64 KiB 250 ms (sim timing table).  The flash outside the job never changes. */
static double erase_time_of_write(const char *chip, uint32_t addr, uint32_t len,
                                  uint32_t same_len, bool *outside_intact)
{
    enum { SIZE = 0x200000, BOOT = 0x11000 };
    uint8_t *flash = malloc(SIZE), *data = malloc(len), *after = malloc(SIZE);
    fl_sim_options so;
    fl_sim_options_init(&so);
    so.chip = chip;
    so.timescale = 0;
    so.quiet_app = true;
    fl_sim *sim = NULL;
    fl_error err = {0};
    fl_flash *f = NULL;
    double t = -1;
    *outside_intact = false;
    /* the simulator's own bootloader area (a flash loader must find its
     * loader there), nothing erased after it: every sector needs erasing */
    fl_status st = fl_sim_create(&so, &sim, &err);
    if (!st)
        st = fl_sim_flash_read(sim, 0, flash, BOOT, &err);
    for (uint32_t i = BOOT; i < SIZE; i++)
        flash[i] = (uint8_t)(i * 13 + (i >> 12));
    for (uint32_t i = 0; i < len; i++)
        data[i] = i < same_len ? flash[addr + i] : (uint8_t)(i * 5 + 1);
    if (!st)
        st = fl_sim_flash_load(sim, BOOT, flash + BOOT, SIZE - BOOT, &err);
    if (!st)
        st = fl_sim_start(sim, &err);
    fl_flash_opts o;
    fl_flash_opts_init(&o);
    o.baud = 921600;
    if (!st)
        st = fl_flash_open(fl_sim_url(sim), chip, &o, NULL, &f, &err);
    CHECK(st == FL_OK, "%s: %s", chip, err.msg);
    if (!st) {
        fl_sim_stats s0, s1;
        fl_sim_get_stats(sim, &s0);
        st = fl_flash_write(f, addr, data, len, &err);
        CHECK(st == FL_OK, "%s: write 0x%X bytes at 0x%06X: %s", chip, len, addr, err.msg);
        fl_sim_get_stats(sim, &s1);
        t = s1.erase_busy_s - s0.erase_busy_s;
        fl_flash_close(f);
        if (!fl_sim_flash_read(sim, 0, after, SIZE, &err))
            *outside_intact = !memcmp(after, flash, addr) && !memcmp(after + addr, data, len) &&
                              !memcmp(after + addr + len, flash + addr + len, SIZE - addr - len);
    }
    if (sim)
        fl_sim_destroy(sim);
    free(flash), free(data), free(after);
    return t;
}

static void test_erase_plan(void)
{
    bool intact;
    /* the first window of an app written from 0x11000: 7 sectors, then an
     * aligned 32 KiB half (ROM loaders know 0x52) */
    double t = erase_time_of_write("bk7231n", 0x11000, 0xF000, 0, &intact);
    CHECK(t > 0.464 && t < 0.466, "ROM loader: 7 x 4 KiB + one 32 KiB erase (%.3f s)", t);
    CHECK(intact, "the data is written and nothing outside it changed");
    /* the flash loaders know 4 KiB and 64 KiB only */
    t = erase_time_of_write("bk7231t", 0x11000, 0xF000, 0, &intact);
    CHECK(t > 0.674 && t < 0.676, "flash loader: 15 x 4 KiB (%.3f s)", t);
    CHECK(intact, "flash loader: written, nothing else changed");
    /* a whole window whose first half already holds the data: one 32 KiB
     * erase, not a 64 KiB one that would make the first half be sent again */
    t = erase_time_of_write("bk7231n", 0x100000, 0x10000, 0x8000, &intact);
    CHECK(t > 0.149 && t < 0.151, "half the window already right: one 32 KiB erase (%.3f s)", t);
    CHECK(intact, "half window: written, nothing else changed");
    /* a whole window that differs: one 64 KiB erase */
    t = erase_time_of_write("bk7231n", 0x100000, 0x10000, 0, &intact);
    CHECK(t > 0.249 && t < 0.251, "a whole differing window: one 64 KiB erase (%.3f s)", t);
    CHECK(intact, "whole window: written, nothing else changed");
}

static void test_spi_nor_over_uart_refused(void)
{
    fl_flash_opts o;
    fl_flash_opts_init(&o);
    fl_flash *f = NULL;
    fl_error err = {0};
    fl_status st = fl_flash_open(PORT, "spi-nor", &o, NULL, &f, &err);
    CHECK(st == FL_ERR_USAGE && !f, "spi-nor over sim: is a usage error (got %d)", st);
    CHECK(strstr(err.msg, "needs a SPI programmer") && strstr(err.msg, "ch341a") &&
              strstr(err.msg, "bk7231n"),
          "the message says what to use and what the port reaches: %s", err.msg);
    st = fl_flash_open(PORT, "bk9999", &o, NULL, &f, &err);
    CHECK(st == FL_ERR_USAGE && strstr(err.msg, "unknown chip"), "unknown chip: %s", err.msg);
}

static void test_identity(void)
{
    fl_flash *f = open_n(false);
    if (!f)
        return;
    const fl_identity *id = fl_flash_identity(f);
    CHECK_STR(id->driver, "beken-uart");
    CHECK_STR(id->access, "ROM loader");
    CHECK_STR(id->chip->name, "bk7231n");
    CHECK_EQ_UINT(id->flash_size, 0x200000);
    CHECK(id->have_jedec && id->have_chip_id, "a ROM loader tells JEDEC and chip ID");
    CHECK_STR(id->chip_id_norm, "7231c");
    CHECK(strstr(id->programmer, "sim:bk7231n") != NULL, "programmer: %s", id->programmer);
    CHECK_EQ_UINT(id->baud, 115200);
    CHECK_STR(id->verified_by, "the chip's CRC");
    CHECK(!id->sr_separate, "a loader reports its status register as one word");
    fl_flash_close(f);
}

static void test_round_trip(void)
{
    fl_flash *f = open_n(false);
    if (!f)
        return;
    enum { ADDR = 0x100000, LEN = 0x3000 };
    uint8_t *data = malloc(LEN), *back = malloc(LEN);
    for (size_t i = 0; i < LEN; i++)
        data[i] = (uint8_t)(i * 7 + (i >> 8));
    fl_error err = {0};
    CHECK(fl_flash_write(f, ADDR, data, LEN, &err) == FL_OK, "write: %s", err.msg);
    CHECK(fl_flash_read(f, ADDR, LEN, back, &err) == FL_OK, "read: %s", err.msg);
    CHECK(!memcmp(data, back, LEN), "read back what was written");
    uint32_t bad = 0;
    CHECK(fl_flash_verify(f, ADDR, data, LEN, &bad, &err) == FL_OK, "verify: %s", err.msg);
    uint32_t crc = 0;
    CHECK(fl_flash_device_crc(f, ADDR, LEN, &crc, &err) == FL_OK, "device crc: %s", err.msg);
    CHECK_EQ_UINT(crc, fl_beken_crc(data, LEN));
    data[0x1800] ^= 0x01;
    fl_status st = fl_flash_verify(f, ADDR, data, LEN, &bad, &err);
    CHECK(st == FL_ERR_VERIFY, "a changed byte fails verify (got %d)", st);
    CHECK_EQ_UINT(bad, ADDR + 0x1000);
    fl_flash_stats stats;
    fl_flash_stats_get(f, &stats);
    CHECK_EQ_UINT(stats.blocks_written, 3);
    CHECK(fl_flash_protect(f, false, &err) == FL_OK, "unprotect: %s", err.msg);
    CHECK(fl_flash_erase(f, ADDR, 0x1000, &err) == FL_OK, "erase: %s", err.msg);
    CHECK(fl_flash_read(f, ADDR, 0x1000, back, &err) == FL_OK, "read: %s", err.msg);
    size_t ff = 0;
    while (ff < 0x1000 && back[ff] == 0xFF)
        ff++;
    CHECK_EQ_UINT(ff, 0x1000);
    free(data);
    free(back);
    fl_flash_close(f);
}

/* The library refuses before the driver is asked: the messages are the
 * policy's (flash/image_policy.h), the same for every driver. */
static void test_range_policy(void)
{
    fl_flash *f = open_n(false);
    if (!f)
        return;
    uint8_t buf[0x1000];
    memset(buf, 0x5A, sizeof buf);
    fl_error err = {0};
    fl_status st = fl_flash_write(f, 0x1FF000, buf, 0x2000, &err);
    CHECK(st == FL_ERR_REFUSED && strstr(err.msg, "past the end"), "past the end: %s", err.msg);
    st = fl_flash_read(f, 0x200000, 1, buf, &err);
    CHECK(st == FL_ERR_REFUSED && strstr(err.msg, "past the end"), "read past the end: %s",
          err.msg);
    st = fl_flash_erase(f, 0x10000, 0x1000, &err);
    CHECK(st == FL_ERR_REFUSED && strstr(err.msg, "--allow-bootloader"), "bootloader: %s",
          err.msg);
    st = fl_flash_write(f, 0x0, buf, sizeof buf, &err);
    CHECK(st == FL_ERR_REFUSED, "write at 0 refused (got %d)", st);
    CHECK(fl_flash_read(f, 0x0, sizeof buf, buf, &err) == FL_OK, "reading it is fine: %s",
          err.msg);
    CHECK(fl_flash_check_range(f, 0x0, 0x1000, true, &err) == FL_ERR_REFUSED, "check_range");
    fl_flash_set_allow_bootloader(f, true);
    CHECK(fl_flash_check_range(f, 0x0, 0x1000, true, &err) == FL_OK, "allowed: %s", err.msg);
    uint8_t boot[0x1000];
    CHECK(fl_flash_read(f, 0x10000, sizeof boot, boot, &err) == FL_OK, "read: %s", err.msg);
    CHECK(fl_flash_write(f, 0x10000, boot, sizeof boot, &err) == FL_OK,
          "with the opt-in, the bootloader area is written: %s", err.msg);
    fl_flash_close(f);
}

/* The same session over the CH341A emulator says how it verifies and that
 * its status registers were read one by one. */
static void test_identity_spi(void)
{
    fl_flash_opts o;
    fl_flash_opts_init(&o);
    fl_flash *f = NULL;
    fl_error err = {0};
    fl_status st = fl_flash_open("ch341a:sim?target=spi-nor&jedec=EF4016&sr2=02&timescale=0",
                                 "spi-nor", &o, NULL, &f, &err);
    CHECK(st == FL_OK && f, "open: %s", err.msg);
    if (!f)
        return;
    const fl_identity *id = fl_flash_identity(f);
    CHECK_STR(id->driver, "ch341a-spi");
    CHECK_STR(id->verified_by, "reading back every byte");
    CHECK(id->have_sr && id->sr_separate, "SR1/SR2/SR3 read one by one");
    CHECK_EQ_UINT((id->sr >> 8) & 0xFF, 0x02);
    CHECK_EQ_UINT(id->baud, 0);
    fl_flash_close(f);
}

/* A caller's mistake is a usage error before any driver call. */
static void test_bad_arguments(void)
{
    fl_flash *f = open_n(true);
    if (!f)
        return;
    fl_error err = {0};
    CHECK(fl_flash_write(f, 0x11000, NULL, 16, &err) == FL_ERR_USAGE && strstr(err.msg, "no buffer"),
          "write without data: %s", err.msg);
    CHECK(fl_flash_read(f, 0x11000, 16, NULL, &err) == FL_ERR_USAGE, "read without a buffer");
    CHECK(fl_flash_verify(f, 0x11000, NULL, 16, NULL, &err) == FL_ERR_USAGE, "verify without data");
    CHECK(fl_flash_write(NULL, 0x11000, (const uint8_t *)"x", 1, &err) == FL_ERR_USAGE,
          "no session");
    CHECK(fl_flash_erase(NULL, 0x11000, 0x1000, &err) == FL_ERR_USAGE, "erase without a session");
    fl_flash_close(f);
    /* no chip: the port's driver tells it (checked in test_chip_detected) */
    CHECK(fl_flash_check_port("/dev/ttyUSB0", NULL, &err) == FL_OK,
          "no chip: a UART port's driver is there to tell it: %s", err.msg);
    fl_image_plan_opts po;
    fl_image_plan_opts_init(&po);
    fl_placement pl;
    CHECK(fl_flash_plan_image("", NULL, "x.bin", (const uint8_t *)"x", 1, 0, &po, &pl, &err) ==
              FL_ERR_USAGE,
          "plan without a chip: %s", err.msg);
}

/* Placement through the port: the UART path keeps an N bootloader; a path
 * that writes a _QIO_ whole (FL_PLACE_QIO_WHOLE) asks for the opt-in. */
/* --before/--after names, esptool's spellings included. */
static void test_mode_names(void)
{
    fl_reset_mode r = FL_RESET_PULSE;
    CHECK(fl_reset_mode_parse("none", &r) && r == FL_RESET_NONE, "none");
    CHECK(fl_reset_mode_parse("no_reset", &r) && r == FL_RESET_NONE, "esptool's no_reset");
    CHECK(fl_reset_mode_parse("default-reset", &r) && r == FL_RESET_AUTO, "esptool's default-reset");
    CHECK(!fl_reset_mode_parse("no-reset-no-sync", &r), "no-reset-no-sync has no meaning here");
    fl_after_mode a = FL_AFTER_REBOOT;
    CHECK(fl_after_mode_parse("stay", &a) && a == FL_AFTER_STAY, "stay");
    CHECK(fl_after_mode_parse("hard_reset", &a) && a == FL_AFTER_REBOOT, "esptool's hard_reset");
    CHECK(fl_after_mode_parse("no-reset", &a) && a == FL_AFTER_STAY, "esptool's no-reset");
    CHECK(!fl_after_mode_parse("soft-reset", &a) && !fl_after_mode_parse("", &a),
          "unknown --after names refused");
    fl_flash_opts o;
    fl_flash_opts_init(&o);
    CHECK(o.after == FL_AFTER_REBOOT, "the library default is reboot");
}

static fl_status open_no_chip(const char *port, fl_flash **f, fl_error *err)
{
    fl_flash_opts o;
    fl_flash_opts_init(&o);
    o.baud = 115200;
    *f = NULL;
    return fl_flash_open(port, NULL, &o, NULL, f, err);
}

/* Without a chip the UART driver reads the chip ID and takes the chip from
 * the one table. */
static void test_chip_detected(void)
{
    static const struct { const char *port, *chip; } cases[] = {
        {"sim:bk7231n?timescale=0&quiet=1", "bk7231n"}, /* N and M: alike, the first taken */
        {"sim:bk7238?timescale=0&quiet=1", "bk7238"},
        {"sim:bk7252n?timescale=0&quiet=1", "bk7252n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fl_flash *f;
        fl_error err = {0};
        fl_status st = open_no_chip(cases[i].port, &f, &err);
        CHECK(st == FL_OK, "%s without a chip opens: %s", cases[i].port, err.msg);
        if (st)
            continue;
        const fl_identity *id = fl_flash_identity(f);
        CHECK(!strcmp(id->chip->name, cases[i].chip), "%s is identified as %s (got %s)",
              cases[i].port, cases[i].chip, id->chip->name);
        CHECK(id->have_chip_id && id->have_jedec && id->flash_size, "and fully identified");
        fl_flash_close(f);
    }
}

/* Where the loader says nothing that tells the chips apart: a usage error
 * naming the candidates and --chip, no session. */
static void test_chip_not_told_apart(void)
{
    fl_flash *f;
    fl_error err = {0};
    fl_status st = open_no_chip("sim:bk7231t?timescale=0&quiet=1", &f, &err);
    CHECK(st == FL_ERR_USAGE && !f, "a flash loader without --chip: usage error (got %d)", st);
    CHECK(strstr(err.msg, "bk7231t") && strstr(err.msg, "bk7231u") && strstr(err.msg, "bk7252") &&
              strstr(err.msg, "--chip"),
          "names the candidates and --chip: %s", err.msg);
    st = open_no_chip("sim:bk7236?timescale=0&quiet=1", &f, &err);
    CHECK(st == FL_ERR_USAGE && !f, "BK7236/BK7258 (one chip ID) without --chip: usage error (%d)",
          st);
    CHECK(strstr(err.msg, "bk7236") && strstr(err.msg, "bk7258") && strstr(err.msg, "--chip"),
          "names both: %s", err.msg);
    st = open_no_chip("ch341a:sim?target=bk7231t", &f, &err);
    CHECK(st == FL_ERR_USAGE && !f && strstr(err.msg, "--chip spi-nor") &&
              strstr(err.msg, "bk7231t"),
          "a Beken chip on a SPI programmer must be named: %s", err.msg);
    st = open_no_chip("ch341a:sim?target=spi-nor&jedec=EF4017&timescale=0", &f, &err);
    CHECK(st == FL_OK && f, "a plain SPI NOR flash is told by its JEDEC ID: %s", err.msg);
    if (f) {
        CHECK_STR(fl_flash_identity(f)->chip->name, "spi-nor");
        fl_flash_close(f);
    }
}

/* A flash loader cannot be kept waiting: --after stay is refused before the
 * port is opened. */
static void test_after_refused(void)
{
    fl_flash_opts o;
    fl_flash_opts_init(&o);
    o.after = FL_AFTER_STAY;
    fl_flash *f = NULL;
    fl_error err = {0};
    fl_status st = fl_flash_open("sim:bk7231u?timescale=0", "bk7231u", &o, NULL, &f, &err);
    CHECK(st == FL_ERR_USAGE && !f && strstr(err.msg, "--after stay") &&
              strstr(err.msg, "watchdog"),
          "stay on a flash loader: %s", err.msg);
}

/* finish with reboot and with stay (what the chip then does is checked
 * against the simulator's state in tests/cli/conventions.sh). */
static void test_finish(void)
{
    fl_flash_opts o;
    fl_flash_opts_init(&o);
    fl_flash *f = NULL;
    fl_error err = {0};
    CHECK(fl_flash_finish(NULL, &err) == FL_ERR_USAGE, "finish without a session");
    fl_status st = fl_flash_open(PORT, "bk7231n", &o, NULL, &f, &err);
    CHECK(st == FL_OK, "open: %s", err.msg);
    if (st)
        return;
    CHECK(fl_flash_finish(f, &err) == FL_OK, "finish with reboot: %s", err.msg);
    fl_flash_close(f);
    o.after = FL_AFTER_STAY;
    st = fl_flash_open(PORT, "bk7231n", &o, NULL, &f, &err);
    CHECK(st == FL_OK, "open with stay: %s", err.msg);
    if (st)
        return;
    CHECK(fl_flash_finish(f, &err) == FL_OK, "finish with stay: %s", err.msg);
    fl_flash_close(f);
}

static void test_plan_image(void)
{
    size_t len;
    uint8_t *img = tl_load(QIO_N, &len);
    if (!img)
        return;
    const fl_chip *n = fl_chip_find("bk7231n");
    fl_image_plan_opts o;
    fl_image_plan_opts_init(&o);
    fl_placement p;
    fl_error err = {0};
    CHECK(fl_flash_plan_image(PORT, n, QIO_N, img, len, 0, &o, &p, &err) == FL_OK, "plan: %s",
          err.msg);
    CHECK_EQ_UINT(p.flash_offset, 0x11000);
    CHECK_EQ_UINT(p.file_skip, 0x11000);

    o.qio_whole = true; /* what fl_flash_plan_image sets for an SPI driver */
    fl_status st = fl_image_plan(n, QIO_N, img, len, 0x200000, &o, &p, &err);
    CHECK(st == FL_ERR_REFUSED && strstr(err.msg, "over SPI") &&
              strstr(err.msg, "--allow-bootloader") && strstr(err.msg, "allow_bootloader"),
          "whole-image path without the opt-in: %s", err.msg);
    o.allow_bootloader = true;
    CHECK(fl_image_plan(n, QIO_N, img, len, 0x200000, &o, &p, &err) == FL_OK, "opt-in: %s",
          err.msg);
    CHECK_EQ_UINT(p.flash_offset, 0);
    CHECK_EQ_UINT(p.file_skip, 0);
    o.allow_bootloader = false;
    o.read_only = true;
    CHECK(fl_image_plan(n, QIO_N, img, len, 0x200000, &o, &p, &err) == FL_OK,
          "verify compares the whole image: %s", err.msg);
    CHECK_EQ_UINT(p.flash_offset, 0);

    /* a T image renamed to an N name: refused by content, whatever the path */
    uint8_t *t = tl_load(IMG_DIR "OpenBK7231T_QIO_1.18.300.bin", &len);
    if (t) {
        fl_image_plan_opts_init(&o);
        st = fl_flash_plan_image(PORT, n, "OpenBK7231N_QIO_renamed.bin", t, len, 0, &o, &p, &err);
        CHECK(st == FL_ERR_FORMAT && strstr(err.msg, "bk7231t image"), "renamed: %s", err.msg);
    }
    free(t);
    free(img);
}

int main(void)
{
    RUN(test_driver_table);
    RUN(test_spi_nor_over_uart_refused);
    RUN(test_identity);
    RUN(test_round_trip);
    RUN(test_range_policy);
    RUN(test_plan_image);
    RUN(test_identity_spi);
    RUN(test_bad_arguments);
    RUN(test_mode_names);
    RUN(test_chip_detected);
    RUN(test_chip_not_told_apart);
    RUN(test_after_refused);
    RUN(test_finish);
    RUN(test_erase_plan);
    return testlib_finish();
}
