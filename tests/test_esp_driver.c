/* test_esp_driver — the esp-rom driver (src/drivers/esp_rom/) through the
 * library session (flash/flash.h) against the ESP simulator at timescale 0:
 * round trips on ESP32 and ESP32-C3, the ESP8266's limits (its erase-size
 * bug, no read, no MD5), refusals (wrong --chip, flash encryption, secure
 * boot, Secure Download Mode backups), --baud, the manual BOOT-button
 * prompt, and line faults: every operation ends with the right bytes or a
 * clear error, and the simulated flash never holds anything else. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/esp_rom/slip.h"
#include "flash/flash.h"
#include "sim/beken_sim.h"
#include "testlib.h"
#include "util/clock.h"

#define MIB (1u << 20)

/* ---- the rig: one in-process simulator, its flash known to the test ------------ */

typedef struct rig {
    fl_sim *sim;
    uint32_t size;
    uint8_t *model; /* what the flash must hold */
    uint8_t *known; /* 1 where model is certain (a failed write leaves its range unknown) */
} rig;

typedef struct sink {
    char prompts[4][512];
    int nprompts;
    char log[8192];
    fl_sim *press_on_prompt; /* a prompt makes the "operator" hold BOOT and power-cycle */
    fl_sim *cycle_on_prompt; /* ... or power-cycle without holding BOOT */
} sink;

static void sink_log(void *ctx, fl_log_level level, const char *msg)
{
    sink *s = ctx;
    (void)level;
    size_t n = strlen(s->log);
    snprintf(s->log + n, sizeof s->log - n, "%s\n", msg);
}

static void sink_prompt(void *ctx, const char *msg)
{
    sink *s = ctx;
    if (s->nprompts < 4)
        snprintf(s->prompts[s->nprompts], sizeof s->prompts[0], "%s", msg);
    s->nprompts++;
    if (s->press_on_prompt) {
        char answer[128];
        fl_sim_control(s->press_on_prompt, "power-cycle-download", answer, sizeof answer);
    }
    if (s->cycle_on_prompt) {
        char answer[128];
        fl_sim_control(s->cycle_on_prompt, "power-cycle", answer, sizeof answer);
    }
}

static fl_events events_of(sink *s)
{
    memset(s, 0, sizeof *s);
    fl_events ev = {.log = sink_log, .prompt = sink_prompt, .ctx = s};
    return ev;
}

static void fill_random(uint8_t *buf, size_t len, uint64_t seed)
{
    uint64_t x = seed | 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (uint8_t)(x >> 24);
    }
}

/* extra: "sdm", "crypt", "secureboot", "manual", "drop", "corrupt" as fields below */
typedef struct rig_opts {
    bool sdm, crypt, secure_boot, manual, loud;
    uint32_t max_baud;
    int64_t brownout_at;
    bool mac_set;
    uint8_t mac[6];
    double drop, corrupt;
    uint32_t seed;
} rig_opts;

static bool rig_up(rig *r, const char *chip, uint32_t size, const rig_opts *x)
{
    memset(r, 0, sizeof *r);
    fl_sim_options o;
    fl_sim_options_init(&o);
    o.chip = chip;
    o.flash_size = size;
    o.timescale = 0;
    o.quiet_app = !(x && x->loud);
    if (x) {
        o.esp_sdm = x->sdm;
        o.esp_flash_crypt = x->crypt;
        o.esp_secure_boot = x->secure_boot;
        o.manual_reset = x->manual;
        o.drop_rate = x->drop;
        o.corrupt_rate = x->corrupt;
        o.seed = x->seed;
        o.max_baud = x->max_baud;
        if (x->brownout_at)
            o.brownout_at = x->brownout_at;
        o.esp_mac_set = x->mac_set;
        memcpy(o.esp_mac, x->mac, 6);
    }
    fl_error e;
    if (fl_sim_create(&o, &r->sim, &e) || fl_sim_start(r->sim, &e)) {
        CHECK(0, "simulator %s: %s", chip, e.msg);
        return false;
    }
    r->size = fl_sim_flash_size(r->sim);
    r->model = malloc(r->size);
    r->known = malloc(r->size);
    fill_random(r->model, r->size, 0xE5B0 + size);
    memset(r->known, 1, r->size);
    if (fl_sim_flash_load(r->sim, 0, r->model, r->size, &e)) {
        CHECK(0, "loading the flash: %s", e.msg);
        return false;
    }
    return true;
}

static void rig_down(rig *r)
{
    if (r->sim)
        fl_sim_destroy(r->sim);
    free(r->model);
    free(r->known);
    memset(r, 0, sizeof *r);
}

/* The simulated flash equals the model wherever the model is known. */
static bool flash_matches(rig *r, uint32_t *first_bad)
{
    uint8_t *now = malloc(r->size);
    fl_error e;
    bool ok = now && fl_sim_flash_read(r->sim, 0, now, r->size, &e) == FL_OK;
    for (uint32_t i = 0; ok && i < r->size; i++)
        if (r->known[i] && now[i] != r->model[i]) {
            *first_bad = i;
            ok = false;
        }
    free(now);
    return ok;
}

static fl_status open_rig(rig *r, const char *chip, const fl_flash_opts *o, const fl_events *ev,
                          fl_flash **f, fl_error *err)
{
    fl_flash_opts def;
    if (!o) {
        fl_flash_opts_init(&def);
        def.baud = 921600;
        def.link_timeout_s = 10;
        o = &def;
    }
    return fl_flash_open(fl_sim_url(r->sim), chip, o, ev, f, err);
}

/* ---- pure parts ------------------------------------------------------------------------- */

static void test_slip_and_boot_text(void)
{
    const uint8_t pkt[] = {0x01, 0x0A, 0x04, 0x00, 0xC0, 0xDB, 0x12, 0x34, 0, 0, 0, 0};
    uint8_t frame[64];
    size_t n = esp_slip_encode(pkt, sizeof pkt, frame, sizeof frame);
    CHECK_EQ_UINT(n, sizeof pkt + 2 + 2);
    CHECK(frame[5] == 0xDB && frame[6] == 0xDC && frame[7] == 0xDB && frame[8] == 0xDD,
          "0xC0 and 0xDB escaped");
    static esp_slip_decoder d;
    esp_slip_reset(&d);
    esp_slip_clear_text(&d);
    const char *text = "rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n";
    bool done = false;
    esp_slip_feed(&d, (const uint8_t *)text, strlen(text), &done);
    CHECK(!done, "text outside frames is no frame");
    size_t used = esp_slip_feed(&d, frame, n, &done);
    CHECK(done && !d.bad && used == n && d.len == sizeof pkt && !memcmp(d.frame, pkt, sizeof pkt),
          "the frame decodes back");
    esp_reply r;
    CHECK(esp_reply_parse(d.frame, d.len, &r) && r.op == 0x0A && r.value == 0x3412DBC0,
          "reply parsed: op 0x%02X value 0x%08X", r.op, r.value);
    unsigned mode;
    bool download;
    char name[48];
    CHECK(esp_boot_text(d.text, &mode, &download, name, sizeof name) && mode == 0x13 &&
              !download && !strcmp(name, "SPI_FAST_FLASH_BOOT"),
          "boot text: mode 0x%X %s", mode, name);
    CHECK(esp_boot_text("boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\nwaiting for "
                        "download\n", &mode, &download, name, sizeof name) && mode == 3 && download,
          "download boot text");
    const uint8_t bad[] = {0xC0, 0x01, 0xDB, 0x11, 0xC0};
    esp_slip_reset(&d);
    esp_slip_feed(&d, bad, sizeof bad, &done);
    CHECK(done && d.bad, "a bad escape marks the frame bad");
}

/* ---- round trips --------------------------------------------------------------------------- */

static void round_trip(const char *chip)
{
    rig r;
    rig_opts x = {.mac_set = true, .mac = {0x24, 0x6F, 0x28, 0xA1, 0xB2, 0xC3}};
    if (!rig_up(&r, chip, MIB, &x))
        return;
    sink s;
    fl_events ev = events_of(&s);
    fl_flash *f = NULL;
    fl_error err = {0};
    fl_status st = open_rig(&r, chip, NULL, &ev, &f, &err);
    CHECK(st == FL_OK, "%s: open: %s", chip, err.msg);
    if (st) {
        rig_down(&r);
        return;
    }
    const fl_identity *id = fl_flash_identity(f);
    CHECK_EQ_UINT(id->flash_size, MIB);
    CHECK(id->have_jedec, "%s: JEDEC ID read", chip);
    CHECK_STR(id->access, "ROM loader");
    CHECK_STR(id->verified_by, "the ROM's MD5");
    CHECK_EQ_UINT(id->baud, 921600);
    CHECK(!strcmp(id->driver, "esp-rom"), "driver %s", id->driver);

    /* 40 KiB of new data at an unaligned offset: partial sectors keep their other bytes */
    uint32_t addr = 0x21234, len = 40000;
    uint8_t *data = malloc(len), *back = malloc(len);
    fill_random(data, len, 77);
    st = fl_flash_write(f, addr, data, len, &err);
    CHECK(st == FL_OK, "%s: write: %s", chip, err.msg);
    memcpy(r.model + addr, data, len);
    uint32_t bad = 0;
    st = fl_flash_verify(f, addr, data, len, &bad, &err);
    CHECK(st == FL_OK, "%s: verify: %s", chip, err.msg);
    st = fl_flash_read(f, addr, len, back, &err);
    CHECK(st == FL_OK && !memcmp(back, data, len), "%s: read back: %s", chip, err.msg);
    CHECK(flash_matches(&r, &bad), "%s: flash differs at 0x%X", chip, bad);

    /* the same again: every sector already holds it */
    fl_flash_stats before, after;
    fl_flash_stats_get(f, &before);
    st = fl_flash_write(f, addr, data, len, &err);
    fl_flash_stats_get(f, &after);
    CHECK(st == FL_OK && after.blocks_written == before.blocks_written &&
              after.blocks_skipped > before.blocks_skipped,
          "%s: identical rewrite skipped (written %u -> %u)", chip, before.blocks_written,
          after.blocks_written);

    /* a changed byte in the file is found */
    data[5000] ^= 0x40;
    st = fl_flash_verify(f, addr, data, len, &bad, &err);
    CHECK(st == FL_ERR_VERIFY && bad == ((addr + 5000) & ~0xFFFu), "%s: verify finds 0x%X (%s)",
          chip, bad, err.msg);
    data[5000] ^= 0x40;

    /* erase of a range with partial sectors */
    st = fl_flash_erase(f, 0x30800, 0x2000, &err);
    CHECK(st == FL_OK, "%s: erase: %s", chip, err.msg);
    memset(r.model + 0x30800, 0xFF, 0x2000);
    CHECK(flash_matches(&r, &bad), "%s: after the erase flash differs at 0x%X", chip, bad);

    uint8_t mac[6];
    st = fl_flash_read_mac(f, mac, &err);
    CHECK(st == FL_OK && !memcmp(mac, x.mac, 6), "%s: MAC %02X:%02X:%02X:%02X:%02X:%02X from the "
          "eFuses: %s", chip, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], err.msg);
    fl_flash_close(f);
    free(data);
    free(back);
    rig_down(&r);
}

static void test_round_trip_esp32(void) { round_trip("esp32"); }
static void test_round_trip_esp32c3(void) { round_trip("esp32c3"); }
/* the S2's security info has no chip ID: the magic word tells it */
static void test_round_trip_esp32s2(void) { round_trip("esp32s2"); }

/* ESP8266: write whole sectors across a 64 KiB block boundary (the ROM's
 * erase-size bug would erase more), no read, no MD5, unaligned refused. */
static void test_esp8266(void)
{
    rig r;
    if (!rig_up(&r, "esp8266", MIB, NULL))
        return;
    sink s;
    fl_events ev = events_of(&s);
    fl_flash *f = NULL;
    fl_error err = {0};
    fl_status st = open_rig(&r, "esp8266", NULL, &ev, &f, &err);
    CHECK(st == FL_OK, "esp8266: open: %s", err.msg);
    if (st) {
        rig_down(&r);
        return;
    }
    const fl_identity *id = fl_flash_identity(f);
    CHECK(strstr(id->verified_by, "checksum") && strstr(id->verified_by, "ESP8266"),
          "honest verified_by: %s", id->verified_by);
    CHECK_EQ_UINT(id->baud, 115200); /* no CHANGE_BAUDRATE in its ROM */
    CHECK(strstr(s.log, "ESP8266 ROM cannot change its rate") != NULL, "says why: %s", s.log);
    uint32_t addr = 0xD000, len = 0x5000, bad = 0;
    uint8_t *data = malloc(len);
    fill_random(data, len, 8266);
    st = fl_flash_write(f, addr, data, len, &err);
    CHECK(st == FL_OK, "esp8266: write: %s", err.msg);
    memcpy(r.model + addr, data, len);
    CHECK(flash_matches(&r, &bad), "esp8266: flash differs at 0x%X (erase-size workaround)", bad);

    uint8_t buf[64];
    st = fl_flash_read(f, 0, sizeof buf, buf, &err);
    CHECK(st == FL_ERR_REFUSED && strstr(err.msg, "ESP8266 ROM") && strstr(err.msg, "read"),
          "read refused clearly: %s", err.msg);
    st = fl_flash_verify(f, addr, data, len, &bad, &err);
    CHECK(st == FL_ERR_REFUSED, "verify refused: %s", err.msg);
    st = fl_flash_write(f, 0x40010, data, 0x1800, &err);
    CHECK(st == FL_ERR_REFUSED && strstr(err.msg, "4 KiB sector boundary"),
          "a start inside a sector refused: %s", err.msg);
    /* an end inside a sector: the rest of that sector is erased, and said */
    s.log[0] = '\0';
    st = fl_flash_write(f, 0x70000, data, 0x1800, &err);
    CHECK(st == FL_OK, "an end inside a sector goes ahead: %s", err.msg);
    memcpy(r.model + 0x70000, data, 0x1800);
    memset(r.model + 0x71800, 0xFF, 0x800);
    CHECK(flash_matches(&r, &bad), "esp8266: tail write differs at 0x%X", bad);
    CHECK(strstr(s.log, "0x071800..0x072000") && strstr(s.log, "is erased"),
          "the erased tail is said: %s", s.log);
    st = fl_flash_write(f, 0x50000, data, 0x1000, &err);
    CHECK(st == FL_ERR_REFUSED && strstr(err.msg, "single 4 KiB sector"),
          "one sector alone refused (the ROM would erase the next too): %s", err.msg);
    /* three sectors inside a 64 KiB block: an odd count the ROM cannot erase exactly */
    st = fl_flash_write(f, 0x61000, data, 0x3000, &err);
    CHECK(st == FL_OK, "three sectors: %s", err.msg);
    memcpy(r.model + 0x61000, data, 0x3000);
    CHECK(flash_matches(&r, &bad), "esp8266: refused write changed 0x%X", bad);
    uint8_t mac[6];
    st = fl_flash_read_mac(f, mac, &err);
    CHECK(st == FL_OK && mac[0] == 0x18 && mac[1] == 0xFE && mac[2] == 0x34,
          "esp8266 MAC %02X:%02X:%02X: %s", mac[0], mac[1], mac[2], err.msg);
    fl_flash_close(f);
    free(data);
    rig_down(&r);
}

/* ---- refusals ------------------------------------------------------------------------------ */

static void test_wrong_chip(void)
{
    static const char *const pairs[][2] = {{"esp32c3", "esp32"}, {"esp32", "esp8266"},
                                           {"esp8266", "esp32"}, {"esp32s3", "esp32c3"}};
    static const char *const names[][2] = {{"ESP32-C3", "ESP32"}, {"ESP32", "ESP8266"},
                                           {"ESP8266", "ESP32"}, {"ESP32-S3", "ESP32-C3"}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        rig r;
        if (!rig_up(&r, pairs[i][0], MIB, NULL))
            continue;
        fl_flash *f = NULL;
        fl_error err = {0};
        fl_status st = open_rig(&r, pairs[i][1], NULL, NULL, &f, &err);
        char unit[64], named[64];
        snprintf(unit, sizeof unit, "is an %s ", names[i][0]);
        snprintf(named, sizeof named, "not the %s ", names[i][1]);
        CHECK(st == FL_ERR_CHIP && !f && strstr(err.msg, unit) && strstr(err.msg, named) &&
                  strstr(err.msg, pairs[i][0]),
              "%s unit, --chip %s: %d %s", pairs[i][0], pairs[i][1], st, err.msg);
        uint32_t bad;
        CHECK(flash_matches(&r, &bad), "wrong chip: flash touched at 0x%X", bad);
        fl_flash_close(f);
        rig_down(&r);
    }
}

static void test_secured_untouched(void)
{
    static const struct { const char *chip; rig_opts x; const char *says; } cases[] = {
        {"esp32", {.crypt = true}, "flash encryption"},
        {"esp32c3", {.crypt = true}, "flash encryption"},
        {"esp32", {.secure_boot = true}, "secure boot"},
        {"esp32s3", {.secure_boot = true}, "secure boot"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rig r;
        if (!rig_up(&r, cases[i].chip, MIB, &cases[i].x))
            continue;
        fl_flash *f = NULL;
        fl_error err = {0};
        fl_status st = open_rig(&r, cases[i].chip, NULL, NULL, &f, &err);
        CHECK(st == FL_ERR_REFUSED && !f && strstr(err.msg, cases[i].says),
              "%s with %s: %d %s", cases[i].chip, cases[i].says, st, err.msg);
        uint32_t bad;
        CHECK(flash_matches(&r, &bad), "secured unit touched at 0x%X", bad);
        fl_flash_close(f);
        rig_down(&r);
    }
}

static void test_secure_download_mode(void)
{
    rig_opts x = {.sdm = true};
    rig r;
    if (!rig_up(&r, "esp32c3", MIB, &x))
        return;
    fl_flash *f = NULL;
    fl_error err = {0};
    fl_status st = open_rig(&r, "esp32c3", NULL, NULL, &f, &err);
    CHECK(st == FL_OK, "SDM unit opens: %s", err.msg);
    if (!st) {
        uint8_t buf[4096];
        st = fl_flash_read(f, 0, sizeof buf, buf, &err);
        CHECK(st == FL_ERR_REFUSED &&
                  strstr(err.msg, "this unit's ROM is in Secure Download Mode: it cannot be "
                                  "read or backed up"),
              "backup refused: %s", err.msg);
        fl_read_stats rs;
        st = fl_flash_read_proven(f, 0, sizeof buf, buf, NULL, 0, &rs, &err);
        CHECK(st == FL_ERR_REFUSED, "proven read (backup) refused: %s", err.msg);
        const fl_identity *id = fl_flash_identity(f);
        CHECK(strstr(id->verified_by, "Secure Download Mode") != NULL, "verified_by: %s",
              id->verified_by);
        uint32_t bad;
        CHECK(flash_matches(&r, &bad), "SDM: flash touched at 0x%X", bad);
        /* writing is what that mode allows: whole sectors, checked block by block */
        fill_random(buf, sizeof buf, 4242);
        st = fl_flash_write(f, 0x42000, buf, sizeof buf, &err);
        CHECK(st == FL_OK, "SDM: a whole-sector write: %s", err.msg);
        memcpy(r.model + 0x42000, buf, sizeof buf);
        CHECK(flash_matches(&r, &bad), "SDM: after the write flash differs at 0x%X", bad);
        st = fl_flash_write(f, 0x42010, buf, 100, &err);
        CHECK(st == FL_ERR_REFUSED && strstr(err.msg, "Secure Download Mode"),
              "SDM: a partial-sector write is refused: %s", err.msg);
        uint8_t mac[6];
        st = fl_flash_read_mac(f, mac, &err);
        CHECK(st == FL_ERR_FORMAT && strstr(err.msg, "Secure Download Mode"),
              "SDM: no MAC, said why: %s", err.msg);
    }
    fl_flash_close(f);
    rig_down(&r);
}

/* ---- getting the bus ------------------------------------------------------------------------- */

/* A unit without auto-reset wiring: --reset auto pulses (nothing happens),
 * then asks the operator; the "operator" holds BOOT and power-cycles. */
static void test_manual_prompt(void)
{
    rig_opts x = {.manual = true};
    rig r;
    if (!rig_up(&r, "esp32", MIB, &x))
        return;
    sink s;
    fl_events ev = events_of(&s);
    s.press_on_prompt = r.sim;
    fl_flash_opts o;
    fl_flash_opts_init(&o);
    o.baud = 115200;
    o.link_timeout_s = 15;
    fl_flash *f = NULL;
    fl_error err = {0};
    fl_status st = open_rig(&r, "esp32", &o, &ev, &f, &err);
    CHECK(st == FL_OK, "manual unit opens after the prompt: %s", err.msg);
    CHECK(s.nprompts == 1 && strstr(s.prompts[0], "hold its BOOT button") &&
              strstr(s.prompts[0], "press and release RESET") && strstr(s.prompts[0], "ESP32"),
          "one clear prompt (%d): %s", s.nprompts, s.prompts[0]);
    /* RTS does not reach EN here: the ROM's "run user code" starts the firmware */
    st = f ? fl_flash_reboot(f, &err) : FL_ERR_INTERNAL;
    fl_sim_stats ss;
    fl_sim_get_stats(r.sim, &ss);
    CHECK(st == FL_OK && !strcmp(ss.state, "app"), "soft reboot: %s (state %s)", err.msg,
          ss.state);
    fl_flash_close(f);

    /* --reset pulse never asks: it fails, saying the chip booted its firmware or
     * that nothing answered */
    s.press_on_prompt = NULL;
    s.nprompts = 0;
    o.reset = FL_RESET_PULSE;
    o.link_timeout_s = 2;
    char answer[128];
    fl_sim_control(r.sim, "power-cycle", answer, sizeof answer); /* firmware runs */
    st = open_rig(&r, "esp32", &o, &ev, &f, &err);
    CHECK(st == FL_ERR_NO_BUS && s.nprompts == 0 && strstr(err.msg, "--reset pulse"),
          "pulse on a manual unit: %d %s", st, err.msg);
    fl_flash_close(f);
    rig_down(&r);

    /* the operator resets without holding BOOT: the ROM's boot text says so */
    x.loud = true;
    if (!rig_up(&r, "esp32", MIB, &x))
        return;
    ev = events_of(&s);
    s.cycle_on_prompt = r.sim;
    o.reset = FL_RESET_MANUAL;
    o.link_timeout_s = 1.5;
    st = open_rig(&r, "esp32", &o, &ev, &f, &err);
    CHECK(st == FL_ERR_NO_BUS && strstr(err.msg, "wrong boot mode detected (boot:0x") &&
              strstr(err.msg, "GPIO0 was high"),
          "wrong boot mode named: %d %s", st, err.msg);
    fl_flash_close(f);
    rig_down(&r);
}

/* The classic reset pulses a unit whose firmware runs into download mode;
 * --reset none on a running firmware fails and names the wrong boot mode. */
static void test_auto_reset_and_boot_mode(void)
{
    rig r;
    if (!rig_up(&r, "esp32", MIB, NULL))
        return;
    sink s;
    fl_events ev = events_of(&s);
    fl_flash_opts o;
    fl_flash_opts_init(&o);
    o.baud = 115200;
    o.link_timeout_s = 10;
    o.reset = FL_RESET_PULSE;
    fl_flash *f = NULL;
    fl_error err = {0};
    fl_status st = open_rig(&r, "esp32", &o, &ev, &f, &err);
    CHECK(st == FL_OK && s.nprompts == 0, "classic reset into download mode: %s", err.msg);
    st = f ? fl_flash_reboot(f, &err) : FL_ERR_INTERNAL;
    CHECK(st == FL_OK, "reboot: %s", err.msg);
    /* the chip starts once EN's RC has charged: wait for that event (bounded) */
    fl_sim_stats ss;
    for (int i = 0; i < 200; i++) {
        fl_sim_get_stats(r.sim, &ss);
        if (!strcmp(ss.state, "app"))
            break;
        fl_sleep(0.01);
    }
    CHECK(!strcmp(ss.state, "app"), "after reboot the firmware runs (state %s)", ss.state);
    /* the session takes the loader again by itself for the next operation */
    uint8_t buf[256];
    st = f ? fl_flash_read(f, 0x1000, sizeof buf, buf, &err) : FL_ERR_INTERNAL;
    CHECK(st == FL_OK && !memcmp(buf, r.model + 0x1000, sizeof buf), "read after reboot: %s",
          err.msg);
    fl_flash_close(f);
    rig_down(&r);
}

/* --after stay: the loader is kept at the rate it was switched to; the next
 * session (reset none, the rate remembered) finds it there at once. */
static void test_after_stay(void)
{
    rig r;
    if (!rig_up(&r, "esp32", MIB, NULL))
        return;
    fl_flash_opts o;
    fl_flash_opts_init(&o);
    o.baud = 921600;
    o.after = FL_AFTER_STAY;
    o.link_timeout_s = 10;
    fl_flash *f = NULL;
    fl_error err = {0};
    fl_status st = open_rig(&r, "esp32", &o, NULL, &f, &err);
    uint8_t data[8192];
    fill_random(data, sizeof data, 99);
    if (!st)
        st = fl_flash_write(f, 0x70000, data, sizeof data, &err);
    if (!st)
        st = fl_flash_finish(f, &err);
    CHECK(st == FL_OK, "write with --after stay: %s", err.msg);
    fl_flash_close(f);
    memcpy(r.model + 0x70000, data, sizeof data);
    fl_sim_stats ss;
    fl_sim_get_stats(r.sim, &ss);
    CHECK(!strcmp(ss.state, "download") && ss.baud == 921600, "the loader stays (%s at %u)",
          ss.state, ss.baud);
    o.reset = FL_RESET_NONE;
    o.last_baud = 921600;
    o.link_timeout_s = 3;
    st = open_rig(&r, "esp32", &o, NULL, &f, &err);
    uint32_t bad = 0;
    CHECK(st == FL_OK && fl_flash_verify(f, 0x70000, data, sizeof data, &bad, &err) == FL_OK,
          "the next session finds it without a reset: %s", err.msg);
    fl_flash_close(f);
    CHECK(flash_matches(&r, &bad), "after stay: flash differs at 0x%X", bad);
    rig_down(&r);
}

static void test_baud(void)
{
    rig r;
    if (!rig_up(&r, "esp32c3", MIB, NULL))
        return;
    sink s;
    fl_events ev = events_of(&s);
    fl_flash_opts o;
    fl_flash_opts_init(&o);
    o.baud = FL_BAUD_MAX;
    o.link_timeout_s = 10;
    fl_flash *f = NULL;
    fl_error err = {0};
    fl_status st = open_rig(&r, "esp32c3", &o, &ev, &f, &err);
    CHECK(st == FL_OK, "--baud max: %s", err.msg);
    if (!st) {
        const fl_identity *id = fl_flash_identity(f);
        CHECK(id->baud > 921600, "--baud max climbs: %u", id->baud);
        uint8_t buf[8192];
        st = fl_flash_read(f, 0x8000, sizeof buf, buf, &err);
        CHECK(st == FL_OK && !memcmp(buf, r.model + 0x8000, sizeof buf), "read at %u: %s",
              id->baud, err.msg);
    }
    fl_flash_close(f);
    rig_down(&r);

    /* a line that garbles above 1 Mbaud: max settles below it (the chip is taken
     * back by a reset), a fixed rate above it falls back to 115200; both still work */
    static const uint32_t asks[] = {FL_BAUD_MAX, 2000000};
    static const uint32_t gets[] = {921600, 115200};
    for (int i = 0; i < 2; i++) {
        rig_opts x = {.max_baud = 1000000};
        if (!rig_up(&r, "esp32", MIB, &x))
            return;
        o.baud = asks[i];
        st = open_rig(&r, "esp32", &o, &ev, &f, &err);
        CHECK(st == FL_OK, "--baud %u over a 1 Mbaud line: %s", asks[i], err.msg);
        if (!st) {
            CHECK_EQ_UINT(fl_flash_identity(f)->baud, gets[i]);
            uint8_t buf[4096];
            st = fl_flash_read(f, 0x9000, sizeof buf, buf, &err);
            CHECK(st == FL_OK && !memcmp(buf, r.model + 0x9000, sizeof buf),
                  "read after the fallback: %s", err.msg);
        }
        fl_flash_close(f);
        rig_down(&r);
    }
}

/* A brown-out in the middle of a write (during an erase, during programming):
 * the unit restarts into its firmware; the driver notices (text where only
 * frames belong, no SYNC answer), takes the loader again and finishes. */
static void test_brownout(void)
{
    static const struct { const char *chip; int64_t at; } cases[] = {
        {"esp32", 600}, {"esp32", 40000}, {"esp8266", 600}, {"esp8266", 40000}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rig_opts x = {.loud = true, .brownout_at = cases[i].at};
        rig r;
        if (!rig_up(&r, cases[i].chip, MIB, &x))
            return;
        fl_flash *f = NULL;
        fl_error err = {0};
        fl_status st = open_rig(&r, cases[i].chip, NULL, NULL, &f, &err);
        uint32_t len = 0x20000, bad = 0;
        uint8_t *data = malloc(len);
        fill_random(data, len, 31 + i);
        if (!st)
            st = fl_flash_write(f, 0x80000, data, len, &err);
        CHECK(st == FL_OK, "%s brown-out at %lld: %s", cases[i].chip, (long long)cases[i].at,
              err.msg);
        fl_flash_stats fs = {0};
        if (f)
            fl_flash_stats_get(f, &fs);
        fl_sim_stats ss;
        fl_sim_get_stats(r.sim, &ss);
        CHECK(ss.brownouts == 1 && fs.resets >= 1, "%s: the brown-out happened (%u) and was "
              "survived (%u resets)", cases[i].chip, ss.brownouts, fs.resets);
        fl_flash_close(f);
        memcpy(r.model + 0x80000, data, len);
        CHECK(flash_matches(&r, &bad), "%s brown-out: flash differs at 0x%X", cases[i].chip, bad);
        free(data);
        rig_down(&r);
    }
}

/* ---- faults ------------------------------------------------------------------------------------ */

/* drop/corrupt at 0.001 per message over many writes and reads: each ends with
 * the right bytes or a clear error; the flash never holds anything unexpected. */
static void fault_run(const char *chip, uint32_t seed, double rate, int ops, bool heavy)
{
    rig_opts x = {.drop = rate, .corrupt = rate, .seed = seed};
    rig r;
    if (!rig_up(&r, chip, MIB, &x))
        return;
    fl_flash_opts o;
    fl_flash_opts_init(&o);
    o.baud = 921600;
    o.link_timeout_s = 10;
    fl_flash *f = NULL;
    fl_error err = {0};
    sink s;
    fl_events ev = events_of(&s);
    fl_status st = open_rig(&r, chip, &o, &ev, &f, &err);
    CHECK(st == FL_OK, "%s faults: open: %s", chip, err.msg);
    unsigned ok_ops = 0, failed_ops = 0;
    uint32_t len = 0x18000;
    uint8_t *data = malloc(len), *back = malloc(len);
    for (int i = 0; !st && i < ops; i++) {
        bool whole = !strcmp(chip, "esp8266"); /* its ROM cannot keep partial sectors */
        uint32_t addr = 0x10000u * (uint32_t)(i + 1) + (i % 2 && !whole ? 0x234 : 0);
        fill_random(data, len, seed * 100 + (uint32_t)i);
        st = fl_flash_write(f, addr, data, len, &err);
        if (st == FL_OK) {
            ok_ops++;
            memcpy(r.model + addr, data, len);
        } else {
            failed_ops++;
            CHECK(st != FL_ERR_INTERNAL && err.msg[0], "a clear failure: %s", err.msg);
            memset(r.known + (addr & ~0xFFFu), 0, ((addr + len + 0xFFF) & ~0xFFFu) - (addr & ~0xFFFu));
            st = FL_OK;
            continue;
        }
        if (!strcmp(chip, "esp8266"))
            continue;
        st = fl_flash_read(f, addr, len, back, &err);
        if (st == FL_OK) {
            ok_ops++;
            CHECK(!memcmp(back, r.model + addr, len), "%s: a read returned wrong bytes", chip);
        } else {
            failed_ops++;
            CHECK(err.msg[0] != 0, "a clear failure");
            st = FL_OK;
        }
    }
    fl_flash_close(f);
    uint32_t bad = 0;
    CHECK(flash_matches(&r, &bad), "%s faults: flash holds unexpected bytes at 0x%X", chip, bad);
    CHECK(ok_ops >= (unsigned)ops / 2, "%s faults: %u operations right, %u failed clearly", chip,
          ok_ops, failed_ops);
    if (heavy) /* a line that keeps losing replies: commands are no longer sent ahead */
        CHECK(strstr(s.log, "sending one command at a time") != NULL,
              "%s faults: the driver stopped sending ahead: %.300s", chip, s.log);
    fl_sim_stats ss;
    fl_sim_get_stats(r.sim, &ss);
    fprintf(stderr, "  %s faults %.3f (seed %u): %u ok, %u failed; %llu bytes dropped, %llu "
            "garbled\n", chip, rate, seed, ok_ops, failed_ops,
            (unsigned long long)ss.bytes_dropped, (unsigned long long)ss.bytes_corrupted);
    free(data);
    free(back);
    rig_down(&r);
}

static void test_faults_esp32(void) { fault_run("esp32", 7, 0.001, 8, false); }
static void test_faults_esp32c3(void) { fault_run("esp32c3", 11, 0.001, 8, false); }
static void test_faults_esp8266(void) { fault_run("esp8266", 13, 0.001, 8, false); }
/* ten times the rate: the recovery paths (restarted runs, halved read pieces, one
 * command at a time) all run */
static void test_faults_heavy(void) { fault_run("esp32", 21, 0.01, 3, true); }

int main(void)
{
    RUN(test_slip_and_boot_text);
    RUN(test_round_trip_esp32);
    RUN(test_round_trip_esp32c3);
    RUN(test_round_trip_esp32s2);
    RUN(test_esp8266);
    RUN(test_wrong_chip);
    RUN(test_secured_untouched);
    RUN(test_secure_download_mode);
    RUN(test_manual_prompt);
    RUN(test_auto_reset_and_boot_mode);
    RUN(test_after_stay);
    RUN(test_baud);
    RUN(test_brownout);
    RUN(test_faults_esp32);
    RUN(test_faults_esp32c3);
    RUN(test_faults_esp8266);
    RUN(test_faults_heavy);
    return testlib_finish();
}
