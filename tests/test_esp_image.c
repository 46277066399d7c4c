/* test_esp_image.c — Espressif images (src/formats/esp_image.h), their
 * identification (image_id.h) and the placement policy for them
 * (flash/image_policy.h): synthetic images built by tests/esp_image_build.h
 * for every ESP chip, then damaged on purpose (cut, a flipped byte, a wrong
 * chip ID, a bootloader at the wrong offset, a bad partition table), every
 * chip pair, Beken <-> Espressif refusals, and a mutation smoke run of the
 * fuzz body. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

#include "esp_image_build.h"
#include "flash/chips.h"
#include "flash/image_policy.h"
#include "formats/esp_image.h"
#include "formats/image_id.h"
#include "fuzz/esp_image_body.h"
#include "station/fwstore.h"
#include "util/fileio.h"
#include <unistd.h>

static uint8_t img[0x20000];

static fl_image_kind kind_of(const uint8_t *d, size_t n, const char *name, fl_image_info *in)
{
    fl_error e = {0};
    if (fl_image_identify(d, n, name, in, &e) != FL_OK)
        return (fl_image_kind)-1;
    return in->kind;
}

/* fl_image_plan on chip `chip` without options but the ones given. */
static fl_status plan(const char *chip, const char *name, const uint8_t *d, size_t n, int64_t offset,
                      bool force, uint32_t flash, fl_placement *p, fl_error *e)
{
    fl_image_plan_opts o;
    fl_image_plan_opts_init(&o);
    o.offset = offset;
    o.force = force;
    const fl_chip *c = fl_chip_find(chip);
    CHECK(c != NULL, "chip %s", chip);
    memset(e, 0, sizeof *e);
    return fl_image_plan(c, name, d, n, flash ? flash : fl_chip_flash_size_limit(c), &o, p, e);
}

/* --- parsing ---------------------------------------------------------------------- */

static void test_factory_esp32(void)
{
    size_t n;
    uint8_t *f = eb_factory(0, 0x1000, 0, 4096, &n);
    fl_image_info in;
    CHECK(kind_of(f, n, "OpenESP32_1.18.300.factory.bin", &in) == FL_IMAGE_ESP_FACTORY, "kind %d", in.kind);
    CHECK_STR(in.chip, "ESP32");
    CHECK_EQ_UINT(in.esp.boot_offset, 0x1000);
    CHECK_EQ_UINT(in.esp.app_offset, 0x10000);
    CHECK(in.esp.error[0] == 0, "error: %s", in.esp.error);
    CHECK(in.esp.ptable.n == 5 && in.esp.ptable.have_md5 && in.esp.ptable.md5_ok, "table %zu", in.esp.ptable.n);
    CHECK_STR(in.esp.ptable.e[3].label, "ota_0");
    CHECK(in.esp.boot.checksum_ok && in.esp.boot.hash_appended && in.esp.boot.hash_ok, "boot sums");
    CHECK(in.esp.app.checksum_ok && in.esp.app.hash_ok && in.esp.app.is_app, "app sums");
    CHECK_STR(in.esp.app.app_version, "1.18.300");
    CHECK_STR(in.obk_version, "OpenBeken_1.18.300");
    CHECK_STR(fl_esp_flash_mode_name(in.esp.boot.flash_mode), "dio");
    CHECK_STR(fl_esp_flash_size_name(0, in.esp.boot.flash_size_freq), "4MB");
    CHECK_STR(fl_esp_flash_freq_name(0, in.esp.boot.flash_size_freq), "40m");
    CHECK(in.esp.boot.max_rev_full == 399 && in.esp.boot.n_seg_read == 2, "header fields");
    json_t *j = fl_image_info_json(&in, false);
    json_t *esp = json_object_get(j, "esp");
    CHECK_STR(json_string_value(json_object_get(j, "kind")), "esp_factory");
    CHECK_STR(json_string_value(json_object_get(esp, "chip")), "ESP32");
    CHECK_STR(json_string_value(json_object_get(json_object_get(esp, "partition_table"), "md5")), "ok");
    json_t *parts = json_object_get(json_object_get(esp, "partition_table"), "partitions");
    CHECK(json_array_size(parts) == 5, "partitions in JSON");
    CHECK_STR(json_string_value(json_object_get(json_array_get(parts, 3), "subtype")), "ota_0");
    CHECK_STR(json_string_value(json_object_get(json_object_get(esp, "app"), "flash_offset")), "0x10000");
    CHECK(json_array_size(json_object_get(json_object_get(esp, "bootloader"), "segments")) == 2, "segments");
    json_decref(j);
    fl_image_info_free(&in);
    free(f);
}

static void test_factory_other_chips(void)
{
    static const struct {
        int id;
        const char *name;
        uint32_t boot;
    } c[] = {{5, "ESP32-C3", 0}, {9, "ESP32-S3", 0}, {12, "ESP32-C2", 0}, {13, "ESP32-C6", 0},
             {2, "ESP32-S2", 0x1000}};
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        size_t n;
        uint8_t *f = eb_factory(c[i].id, c[i].boot, c[i].id, 4096, &n);
        fl_image_info in;
        CHECK(kind_of(f, n, NULL, &in) == FL_IMAGE_ESP_FACTORY, "%s", c[i].name);
        CHECK_STR(in.chip, c[i].name);
        CHECK(in.esp.boot_offset == c[i].boot && !in.esp.error[0], "%s: boot 0x%X %s", c[i].name,
              in.esp.boot_offset, in.esp.error);
        fl_image_info_free(&in);
        free(f);
    }
}

static void test_esp8266(void)
{
    size_t n;
    uint8_t *f = eb_factory(EB_CHIP_ESP8266, 0, EB_CHIP_ESP8266, 1024, &n);
    fl_image_info in;
    CHECK(kind_of(f, n, NULL, &in) == FL_IMAGE_ESP_FACTORY, "kind");
    CHECK_STR(in.chip, "ESP8266");
    CHECK(in.esp.boot.format == FL_ESP_FMT_V1 && in.esp.app.format == FL_ESP_FMT_EXT, "formats");
    CHECK(in.esp.app.chip_id == FL_ESP_CHIP_ESP8266 && !in.esp.error[0], "app read as ESP8266: %s", in.esp.error);
    CHECK_STR(fl_esp_flash_size_name(FL_ESP_CHIP_ESP8266, in.esp.boot.flash_size_freq), "1MB");
    fl_image_info_free(&in);
    /* the app alone: the RTOS SDK's layout with a zero chip ID, told by its IRAM address */
    CHECK(kind_of(f + 0x10000, n - 0x10000, NULL, &in) == FL_IMAGE_ESP_APP, "app alone");
    CHECK_STR(in.chip, "ESP8266");
    fl_image_info_free(&in);
    /* the ROM-loaded V1 image alone */
    size_t b = eb_image(img, EB_CHIP_ESP8266, false, false, 0x20);
    CHECK(kind_of(img, b, NULL, &in) == FL_IMAGE_ESP_BOOTLOADER, "V1 alone");
    CHECK(in.esp.boot.format == FL_ESP_FMT_V1 && in.esp.boot.checksum_ok, "V1 checksum");
    CHECK_STR(in.chip, "ESP8266");
    fl_image_info_free(&in);
    /* the SDK's 0xEA image */
    size_t v2 = eb_image_v2(img);
    CHECK(kind_of(img, v2, NULL, &in) == FL_IMAGE_ESP_APP, "V2 kind");
    CHECK(in.esp.app.format == FL_ESP_FMT_V2 && in.esp.app.crc32_ok && in.esp.app.checksum_ok &&
              !in.esp.error[0], "V2 sums: %s", in.esp.error);
    fl_image_info_free(&in);
    img[20] ^= 1; /* in the irom segment: only the CRC32 covers it */
    CHECK(kind_of(img, v2, NULL, &in) == FL_IMAGE_ESP_APP && strstr(in.esp.error, "CRC32 wrong"),
          "V2 CRC32: %s", in.esp.error);
    fl_image_info_free(&in);
    free(f);
}

static void test_single_images(void)
{
    fl_image_info in;
    size_t n = eb_image(img, 5, true, true, 0x20);
    CHECK(kind_of(img, n, NULL, &in) == FL_IMAGE_ESP_APP, "app");
    CHECK_STR(in.chip, "ESP32-C3");
    CHECK(in.esp.app.hash_ok && in.esp.app.length == n, "app length %zu", in.esp.app.length);
    fl_image_info_free(&in);
    memcpy(img + 24 + 8 + 48, "vendor-app", 10); /* another project: not an OpenBeken version */
    CHECK(kind_of(img, n, NULL, &in) == FL_IMAGE_ESP_APP && !in.obk_version[0] &&
              !strcmp(in.esp.app.app_project, "vendor-app"), "vendor app: \"%s\"", in.obk_version);
    fl_image_info_free(&in);
    n = eb_image(img, 0, false, true, 0x20);
    CHECK(kind_of(img, n, NULL, &in) == FL_IMAGE_ESP_BOOTLOADER, "bootloader");
    CHECK_STR(in.chip, "ESP32");
    fl_image_info_free(&in);
    n = eb_image(img, 23, false, true, 0x20);
    CHECK(kind_of(img, n, NULL, &in) == FL_IMAGE_ESP_BOOTLOADER, "C5 bootloader");
    CHECK_STR(in.chip, "ESP32-C5");
    fl_image_info_free(&in);
    n = eb_image(img, 77, false, true, 0x20);
    CHECK(kind_of(img, n, NULL, &in) == FL_IMAGE_ESP_BOOTLOADER, "unknown chip ID");
    CHECK_STR(in.chip, "ESP chip ID 77");
    fl_image_info_free(&in);
}

/* --- damage ------------------------------------------------------------------------- */

static const char *damage(uint8_t *f, size_t n, fl_image_info *in)
{
    fl_image_info_free(in);
    if (kind_of(f, n, NULL, in) != FL_IMAGE_ESP_FACTORY && !fl_image_kind_is_esp(in->kind))
        return "(not identified as Espressif)";
    return in->esp.error;
}

static void test_damage(void)
{
    size_t n;
    uint8_t *f = eb_factory(0, 0x1000, 0, 4096, &n);
    fl_image_info in = {0};
    const char *e;
    e = damage(f, n - 100, &in);
    CHECK(strstr(e, "app at 0x10000: truncated") != NULL, "cut app: %s", e);
    e = damage(f, 0x10010, &in);
    CHECK(strstr(e, "truncated") != NULL, "cut in the app header: %s", e);
    e = damage(f, 0x8000 + 64, &in);
    CHECK(strstr(e, "truncated") != NULL, "cut in the table: %s", e);
    f[0x10000 + 24 + 8 + 100] ^= 0x01; /* a byte of the app's first segment */
    e = damage(f, n, &in);
    CHECK(strstr(e, "app at 0x10000: checksum wrong") != NULL, "flipped app byte: %s", e);
    f[0x10000 + 24 + 8 + 100] ^= 0x01;
    f[n - 1] ^= 0x80; /* the app's SHA-256 */
    e = damage(f, n, &in);
    CHECK(strstr(e, "SHA-256 digest wrong") != NULL, "flipped digest: %s", e);
    f[n - 1] ^= 0x80;
    f[0x8000 + 40] ^= 0x01; /* otadata's offset: only the MD5 entry notices */
    e = damage(f, n, &in);
    CHECK(strstr(e, "partition table MD5 wrong") != NULL, "table byte: %s", e);
    f[0x8000 + 40] ^= 0x01;
    f[0x8000 + 96 + 1] = 0x51; /* ota_0's magic */
    e = damage(f, n, &in);
    CHECK(strstr(e, "entry 4 has the magic 0x51AA") != NULL, "entry magic: %s", e);
    f[0x8000 + 96 + 1] = 0x50;
    eb_le32(f + 0x1000 + 24 + 4, 0x100000); /* the bootloader's first segment: 1 MiB */
    e = damage(f, n, &in);
    CHECK(strstr(e, "bootloader at 0x1000: truncated or damaged: segment 1") &&
              strstr(e, "runs past the end"), "segment past the end: %s", e);
    fl_image_info_free(&in);
    free(f);
    /* the app of another chip inside a factory image */
    f = eb_factory(0, 0x1000, 5, 4096, &n);
    e = damage(f, n, &in);
    CHECK(strstr(e, "mixed up: the bootloader is for ESP32") && strstr(e, "ESP32-C3"), "mixed: %s", e);
    fl_image_info_free(&in);
    free(f);
    /* a lone image: cut, then too many segments */
    size_t m = eb_image(img, 0, true, true, 0x20);
    e = damage(img, m - 40, &in);
    CHECK(strstr(e, "truncated") != NULL, "cut image: %s", e);
    fl_image_info_free(&in);
    img[1] = 17;
    CHECK(kind_of(img, m, NULL, &in) != FL_IMAGE_ESP_APP, "17 segments is not an image");
    fl_image_info_free(&in);
}

/* A Beken-looking file that starts with 0xE9 by chance stays unknown/Beken,
 * and random data is not an Espressif image. */
static void test_not_esp(void)
{
    fl_image_info in;
    for (int i = 0; i < 4096; i++)
        img[i] = (uint8_t)(i * 37 + 11);
    img[0] = 0xE9;
    img[1] = 3;
    img[2] = 0;
    img[3] = 0x7A; /* frequency code 0xA: no esptool writes it */
    CHECK(kind_of(img, 4096, NULL, &in) == FL_IMAGE_UNKNOWN, "implausible header: kind %d", in.kind);
    fl_image_info_free(&in);
    img[3] = 0x20; /* a header esptool could write, with garbage after it */
    CHECK(fl_image_kind_is_esp(kind_of(img, 4096, NULL, &in)) && in.esp.error[0] && !in.esp.strong,
          "plausible header: a damaged reading only (kind %d)", in.kind);
    fl_image_info_free(&in);
    size_t n;
    uint8_t *d = tl_load("../shared/testdata/obk-images/OpenBK7231N_QIO_1.18.300.bin", &n);
    if (d) {
        CHECK(kind_of(d, n, NULL, &in) == FL_IMAGE_QIO, "the Beken QIO stays a QIO");
        fl_image_info_free(&in);
        free(d);
    }
}

/* --- policy --------------------------------------------------------------------------- */

static void lower(char *d, const char *s)
{
    while ((*d++ = (char)((*s >= 'A' && *s <= 'Z') ? *s + 32 : *s)))
        s++;
}

static void test_policy_pairs(void)
{
    static const char *const names[] = {"esp8266", "esp32", "esp32s2", "esp32s3",
                                        "esp32c2", "esp32c3", "esp32c6"};
    for (size_t a = 0; a < 7; a++) {
        const fl_chip *ca = fl_chip_find(names[a]);
        size_t n;
        uint8_t *f = eb_factory(ca->esp_image_chip_id, ca->esp_bootloader_offset, ca->esp_image_chip_id,
                                2048, &n);
        for (size_t b = 0; b < 7; b++) {
            fl_placement p;
            fl_error e;
            fl_status st = plan(names[b], "firmware.bin", f, n, -1, false, 0, &p, &e);
            if (a == b) {
                CHECK(st == FL_OK && p.flash_offset == 0 && p.length == n, "%s on %s: %s", names[a],
                      names[b], e.msg);
                char why[120];
                snprintf(why, sizeof why, "merged OpenESP image: bootloader at 0x%X, partition table at "
                         "0x8000, app at 0x10000", ca->esp_bootloader_offset);
                CHECK_STR(p.why, why);
                CHECK(p.kind == FL_IMAGE_ESP_FACTORY, "kind");
            } else {
                char lc[16];
                lower(lc, ca->display);
                CHECK(st == FL_ERR_FORMAT && strstr(e.msg, lc) && strstr(e.msg, names[b]) &&
                          strstr(e.msg, "--force"), "%s on %s: %s", names[a], names[b], e.msg);
                st = plan(names[b], "firmware.bin", f, n, -1, true, 0, &p, &e);
                CHECK(st == FL_OK && p.flash_offset == 0, "forced %s on %s: %s", names[a], names[b], e.msg);
            }
        }
        free(f);
    }
}

static void test_policy_rules(void)
{
    size_t n;
    fl_placement p;
    fl_error e;
    uint8_t *f = eb_factory(0, 0x1000, 0, 4096, &n);
    CHECK(plan("esp32", "OpenESP32_1.18.300.factory.bin", f, n, 0, false, 0, &p, &e) == FL_OK, "--offset 0: %s", e.msg);
    CHECK(plan("esp32", "x.bin", f, n, 0x1000, false, 0, &p, &e) == FL_ERR_FORMAT &&
              strstr(e.msg, "belongs at 0x000000"), "--offset 0x1000: %s", e.msg);
    /* the name contradicts the content */
    CHECK(plan("esp32", "OpenESP32C3_1.18.300.factory.bin", f, n, -1, false, 0, &p, &e) == FL_ERR_FORMAT &&
              strstr(e.msg, "name says ESP32-C3"), "name: %s", e.msg);
    CHECK(plan("esp32c3", "OpenESP32C3_1.18.300.factory.bin", f, n, -1, false, 0, &p, &e) == FL_ERR_FORMAT &&
              strstr(e.msg, "an esp32 factory image") && strstr(e.msg, "esp32c3"), "content: %s", e.msg);
    /* partitions for 4 MB on a 2 MB flash */
    CHECK(plan("esp32", "x.bin", f, n, -1, false, 2u << 20, &p, &e) == FL_ERR_REFUSED &&
              strstr(e.msg, "past the end of the 2048 KiB flash"), "flash size: %s", e.msg);
    /* a damaged image is refused even with --force */
    f[0x10000 + 200] ^= 4;
    CHECK(plan("esp32", "x.bin", f, n, -1, true, 0, &p, &e) == FL_ERR_FORMAT &&
              strstr(e.msg, "damaged") && strstr(e.msg, "checksum wrong"), "damaged: %s", e.msg);
    free(f);
    /* an ESP32 bootloader (chip ID 0) at 0x0: laid out for another chip */
    f = eb_factory(0, 0, 0, 4096, &n);
    CHECK(plan("esp32", "x.bin", f, n, -1, false, 0, &p, &e) == FL_ERR_FORMAT &&
              strstr(e.msg, "bootloader at 0x0") && strstr(e.msg, "loads it from 0x1000"),
          "boot offset: %s", e.msg);
    free(f);
    /* a C3 layout (bootloader at 0x0) with an S2 chip ID: both name the S2, the offset says no */
    f = eb_factory(2, 0, 2, 4096, &n);
    CHECK(plan("esp32s2", "x.bin", f, n, -1, false, 0, &p, &e) == FL_ERR_FORMAT &&
              strstr(e.msg, "esp32s2's ROM loads it from 0x1000"), "S2 offset: %s", e.msg);
    free(f);
    /* an app image needs an offset that can be an app partition */
    size_t m = eb_image(img, 0, true, true, 0x20);
    CHECK(plan("esp32", "OpenESP32_1.18.300.img", img, m, -1, false, 0, &p, &e) == FL_ERR_USAGE &&
              strstr(e.msg, "give --offset"), "app without offset: %s", e.msg);
    CHECK(plan("esp32", "a.img", img, m, 0x10000, false, 0, &p, &e) == FL_OK && p.flash_offset == 0x10000 &&
              p.kind == FL_IMAGE_ESP_APP, "app at 0x10000: %s", e.msg);
    CHECK(plan("esp32", "a.img", img, m, 0x8000, false, 0, &p, &e) == FL_ERR_FORMAT, "app at 0x8000");
    CHECK(plan("esp32", "a.img", img, m, 0x18000, false, 0, &p, &e) == FL_ERR_FORMAT &&
              strstr(e.msg, "cannot be an app partition"), "app at 0x18000: %s", e.msg);
    CHECK(plan("esp32c3", "a.img", img, m, 0x10000, false, 0, &p, &e) == FL_ERR_FORMAT &&
              strstr(e.msg, "an esp32 app image") && strstr(e.msg, "esp32c3"), "app wrong chip: %s", e.msg);
    /* a bootloader image goes where the ROM loads it */
    m = eb_image(img, 5, false, true, 0x20);
    CHECK(plan("esp32c3", "b.bin", img, m, -1, false, 0, &p, &e) == FL_OK && p.flash_offset == 0,
          "C3 bootloader: %s", e.msg);
    m = eb_image(img, 0, false, true, 0x20);
    CHECK(plan("esp32", "b.bin", img, m, -1, false, 0, &p, &e) == FL_OK && p.flash_offset == 0x1000,
          "ESP32 bootloader: %s", e.msg);
    CHECK(plan("esp32", "b.bin", img, m, 0, false, 0, &p, &e) == FL_ERR_FORMAT, "ESP32 bootloader at 0");
}

static void test_policy_families(void)
{
    size_t n;
    fl_placement p;
    fl_error e;
    uint8_t *bk = tl_load("../shared/testdata/obk-images/OpenBK7231N_QIO_1.18.300.bin", &n);
    if (bk) {
        for (int force = 0; force < 2; force++) {
            CHECK(plan("esp32", "OpenBK7231N_QIO_1.18.300.bin", bk, n, -1, force, 0, &p, &e) ==
                          FL_ERR_FORMAT && strstr(e.msg, "bk7231n") && strstr(e.msg, "esp32") &&
                      strstr(e.msg, "Espressif"), "Beken on ESP (force %d): %s", force, e.msg);
        }
        /* the Beken policy itself is unchanged */
        CHECK(plan("bk7231n", "OpenBK7231N_QIO_1.18.300.bin", bk, n, -1, false, 0, &p, &e) == FL_OK,
              "Beken on Beken: %s", e.msg);
        free(bk);
    }
    uint8_t *f = eb_factory(5, 0, 5, 2048, &n);
    for (int force = 0; force < 2; force++)
        CHECK(plan("bk7231n", "OpenESP32C3_1.18.300.factory.bin", f, n, -1, force, 0, &p, &e) ==
                      FL_ERR_FORMAT && strstr(e.msg, "esp32-c3") && strstr(e.msg, "bk7231n") &&
                  strstr(e.msg, "Beken chip"), "ESP on Beken (force %d): %s", force, e.msg);
    CHECK(plan("spi-nor", "x.bin", f, n, -1, false, 0, &p, &e) == FL_ERR_FORMAT, "ESP on spi-nor");
    CHECK(plan("spi-nor", "x.bin", f, n, -1, true, 0, &p, &e) == FL_OK && p.flash_offset == 0,
          "forced on spi-nor: %s", e.msg);
    free(f);
    /* plain data on an ESP chip: as on any chip, --raw with an offset */
    memset(img, 0x5A, 8192);
    fl_image_plan_opts o;
    fl_image_plan_opts_init(&o);
    o.raw = true;
    o.offset = 0x300000;
    CHECK(fl_image_plan(fl_chip_find("esp32"), "d.bin", img, 8192, 4u << 20, &o, &p, &e) == FL_OK &&
              p.flash_offset == 0x300000, "raw data: %s", e.msg);
}

/* --- the firmware store ------------------------------------------------------------------ */

static bool write_tmp(const char *path, const uint8_t *d, size_t n)
{
    fl_error e;
    return fl_write_file_durable(path, d, n, &e) == FL_OK;
}

static void test_fwstore(void)
{
    char dir[] = "/tmp/fl-esp-store-XXXXXX", path[128];
    CHECK(mkdtemp(dir) != NULL, "temp dir");
    fl_fwstore *s;
    fl_error e = {0};
    char store[160];
    snprintf(store, sizeof store, "%s/firmware", dir);
    CHECK(fl_fwstore_open(store, &s, &e) == FL_OK, "open: %s", e.msg);
    size_t n;
    uint8_t *f = eb_factory(0, 0x1000, 0, 4096, &n);
    snprintf(path, sizeof path, "%s/OpenESP32_1.18.300.factory.bin", dir);
    CHECK(write_tmp(path, f, n), "write");
    const fl_fw_entry *en = NULL;
    bool added = false;
    CHECK(fl_fwstore_add_file(s, path, NULL, &en, &added, &e) == FL_OK && added, "add: %s", e.msg);
    CHECK(en && !strcmp(en->name, "OpenESP32") && !strcmp(en->chip, "esp32") &&
              !strcmp(en->version, "1.18.300") && !strcmp(en->kind, "esp_factory"), "entry");
    unlink(path);
    free(f);
    /* a chip the table lacks (ESP32-C5: chip ID 23, bootloader at 0x2000) under --chip esp32 */
    f = eb_factory(23, 0x2000, 23, 4096, &n);
    snprintf(path, sizeof path, "%s/firmware-c5.bin", dir);
    CHECK(write_tmp(path, f, n), "write");
    fl_fw_add_opts o = {.chip = "esp32", .version = "1.0"};
    CHECK(fl_fwstore_add_file(s, path, &o, NULL, NULL, &e) == FL_ERR_FORMAT &&
              strstr(e.msg, "esp32-c5") && strstr(e.msg, "the chip is esp32"), "C5 as esp32: %s", e.msg);
    unlink(path);
    free(f);
    /* a bootloader alone does not flash a unit */
    n = eb_image(img, 0, false, true, 0x20);
    snprintf(path, sizeof path, "%s/bootloader.bin", dir);
    CHECK(write_tmp(path, img, n), "write");
    o.chip = "esp32";
    CHECK(fl_fwstore_add_file(s, path, &o, NULL, NULL, &e) == FL_ERR_FORMAT &&
              strstr(e.msg, "bootloader image alone"), "bootloader: %s", e.msg);
    unlink(path);
    CHECK_EQ_UINT(fl_fwstore_count(s), 1);
    fl_fwstore_close(s);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "cleanup");
}

/* --- fuzz body smoke run ------------------------------------------------------------- */

static uint32_t rnd_state = 12345;
static uint32_t rnd(void)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return rnd_state >> 8;
}

static void test_mutations(void)
{
    size_t n;
    uint8_t *f = eb_factory(0, 0x1000, 0, 4096, &n);
    uint8_t *m = malloc(n);
    int damaged = 0;
    for (int round = 0; round < 300; round++) {
        memcpy(m, f, n);
        int flips = 1 + (int)(rnd() % 8);
        for (int i = 0; i < flips; i++) {
            size_t at = rnd() % 3 == 0 ? 0x8000 + rnd() % 0x100 : rnd() % 2 ? 0x1000 + rnd() % 64 : 0x10000 + rnd() % 64;
            m[at] = (uint8_t)rnd();
        }
        size_t cut = rnd() % 4 ? n : rnd() % n;
        damaged += fuzz_esp_image(m, cut);
        damaged += fuzz_esp_image(m + 0x10000, cut > 0x10000 ? cut - 0x10000 : 0);
    }
    for (size_t cut = 1; cut < 40; cut++) { /* every short prefix, in a buffer of its size */
        uint8_t *p = malloc(cut);
        memcpy(p, f + 0x1000, cut);
        damaged += fuzz_esp_image(p, cut);
        free(p);
    }
    CHECK(fuzz_esp_image(f, n) == 0, "the intact image reads intact");
    free(m);
    free(f);
    CHECK(damaged > 100, "mutations are seen as damage (%d of 600)", damaged);
}

int main(void)
{
    RUN(test_factory_esp32);
    RUN(test_factory_other_chips);
    RUN(test_esp8266);
    RUN(test_single_images);
    RUN(test_damage);
    RUN(test_not_esp);
    RUN(test_policy_pairs);
    RUN(test_policy_rules);
    RUN(test_policy_families);
    RUN(test_fwstore);
    RUN(test_mutations);
    return testlib_finish();
}
