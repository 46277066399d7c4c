/* esp_image_build.h — synthetic Espressif images for the tests and the fuzz
 * seeds: built here byte by byte in esptool's layout (header, extended
 * header, segments, XOR-0xEF checksum at the end of a 16-byte block, SHA-256;
 * the partition table with its MD5 entry), so that a test can make a valid
 * image for any chip and then damage it on purpose. */
#ifndef FL_TESTS_ESP_IMAGE_BUILD_H
#define FL_TESTS_ESP_IMAGE_BUILD_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define EB_CHIP_ESP8266 (-1)

static void eb_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

static void eb_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
}

/* Segment data: a pattern that differs per segment and position. */
static size_t eb_segment(uint8_t *out, size_t pos, uint32_t addr, const uint8_t *data, uint32_t len,
                         uint8_t *sum)
{
    eb_le32(out + pos, addr);
    eb_le32(out + pos + 4, len);
    pos += 8;
    for (uint32_t i = 0; i < len; i++) {
        out[pos + i] = data ? data[i] : (uint8_t)(addr + i * 7 + (i >> 8));
        *sum ^= out[pos + i];
    }
    return pos + len;
}

static size_t eb_checksum(uint8_t *out, size_t pos, uint8_t sum)
{
    while (pos % 16 != 15)
        out[pos++] = 0;
    out[pos++] = sum;
    return pos;
}

/* One image into out (room for 4 KiB + app_len).  chip_id: an image chip ID,
 * or EB_CHIP_ESP8266 for the ROM's V1 layout (bootloader) / the RTOS SDK's V3
 * layout (app).  An app carries an esp_app_desc_t naming version 1.18.300.
 * size_freq: the header's flash size/frequency byte.  Returns its length. */
static size_t eb_image(uint8_t *out, int chip_id, bool app, bool hash, uint8_t size_freq)
{
    bool v1 = chip_id == EB_CHIP_ESP8266 && !app;
    size_t pos = 0;
    uint8_t sum = 0xEF;
    out[0] = 0xE9;
    out[1] = 2;
    out[2] = chip_id == EB_CHIP_ESP8266 ? 3 : 2; /* dout / dio */
    out[3] = size_freq;
    eb_le32(out + 4, chip_id == EB_CHIP_ESP8266 ? 0x40100004 : 0x40080400);
    pos = 8;
    if (!v1) {
        memset(out + 8, 0, 16);
        out[8] = 0xEE; /* WP pin: not used */
        if (chip_id != EB_CHIP_ESP8266) {
            eb_le16(out + 12, (uint16_t)chip_id);
            eb_le16(out + 15, 0);   /* min revision v0.0 */
            eb_le16(out + 17, 399); /* max revision v3.99 */
        }
        out[23] = hash ? 1 : 0;
        pos = 24;
    }
    if (app) {
        uint8_t desc[256] = {0};
        eb_le32(desc, 0xABCD5432u);
        memcpy(desc + 16, "1.18.300", 8);
        memcpy(desc + 48, "OpenBeken", 9);
        memcpy(desc + 112, "v5.3.2", 6);
        uint32_t drom = chip_id == 0 ? 0x3F400020 : chip_id == 2 ? 0x3F000020 : 0x3C000020;
        if (chip_id == EB_CHIP_ESP8266)
            drom = 0x40100000; /* RTOS SDK: IRAM */
        pos = eb_segment(out, pos, drom, desc, sizeof desc, &sum);
        pos = eb_segment(out, pos, chip_id == EB_CHIP_ESP8266 ? 0x3FFE8000 : 0x40080000, NULL, 1000,
                         &sum);
    } else {
        pos = eb_segment(out, pos, chip_id == EB_CHIP_ESP8266 ? 0x40100000 : 0x3FFF0030, NULL, 300,
                         &sum);
        pos = eb_segment(out, pos, chip_id == EB_CHIP_ESP8266 ? 0x3FFE8000 : 0x40078000, NULL, 600,
                         &sum);
    }
    pos = eb_checksum(out, pos, sum);
    if (hash && !v1) {
        unsigned int n = 0;
        EVP_Digest(out, pos, out + pos, &n, EVP_sha256(), NULL);
        pos += 32;
    }
    return pos;
}

/* The ESP8266 SDK's 0xEA image: irom segment, a V1 image, CRC32. */
static size_t eb_image_v2(uint8_t *out)
{
    uint8_t sum = 0xEF, ignored = 0;
    out[0] = 0xEA, out[1] = 4, out[2] = 0, out[3] = 0x20;
    eb_le32(out + 4, 0x40100004);
    size_t pos = eb_segment(out, 8, 0, NULL, 512, &ignored);
    out[pos] = 0xE9, out[pos + 1] = 1, out[pos + 2] = 0, out[pos + 3] = 0x20;
    eb_le32(out + pos + 4, 0x40100004);
    pos = eb_segment(out, pos + 8, 0x40100000, NULL, 256, &sum);
    pos = eb_checksum(out, pos, sum);
    uint32_t c = (uint32_t)crc32(0L, out, (uInt)pos);
    eb_le32(out + pos, c & 0x80000000u ? c ^ 0xFFFFFFFFu : c + 1);
    return pos + 4;
}

static void eb_partition(uint8_t *e, uint8_t type, uint8_t sub, uint32_t off, uint32_t size,
                         const char *label)
{
    memset(e, 0, 32);
    e[0] = 0xAA, e[1] = 0x50, e[2] = type, e[3] = sub;
    eb_le32(e + 4, off);
    eb_le32(e + 8, size);
    memcpy(e + 12, label, strlen(label));
}

/* OpenBeken-like table for a flash of flash_kib: nvs, otadata, phy, ota_0 at
 * 0x10000 and ota_1, then the MD5 entry. */
static void eb_ptable(uint8_t *t, uint32_t flash_kib)
{
    memset(t, 0xFF, 0xC00);
    uint32_t slot = ((flash_kib * 1024u - 0x10000u) / 2) & ~0xFFFFu;
    eb_partition(t, 1, 0x02, 0x9000, 0x4000, "nvs");
    eb_partition(t + 32, 1, 0x00, 0xD000, 0x2000, "otadata");
    eb_partition(t + 64, 1, 0x01, 0xF000, 0x1000, "phy_init");
    eb_partition(t + 96, 0, 0x10, 0x10000, slot, "ota_0");
    eb_partition(t + 128, 0, 0x11, 0x10000 + slot, slot, "ota_1");
    uint8_t *m = t + 160;
    m[0] = 0xEB, m[1] = 0xEB;
    unsigned int n = 0;
    EVP_Digest(t, 160, m + 16, &n, EVP_md5(), NULL);
}

/* A merged factory image as esptool merge_bin writes it: 0xFF padding, the
 * bootloader at boot_off, the table at 0x8000, the app at 0x10000.
 * *len gets the length; free() the result. */
static uint8_t *eb_factory(int boot_chip, uint32_t boot_off, int app_chip, uint32_t flash_kib,
                           size_t *len)
{
    uint8_t *f = malloc(0x20000);
    if (!f)
        return NULL;
    memset(f, 0xFF, 0x20000);
    uint8_t size_freq = boot_chip == EB_CHIP_ESP8266 ? (flash_kib == 1024 ? 0x20 : 0x30)
                                                     : (flash_kib == 2048 ? 0x10 : 0x20);
    eb_image(f + boot_off, boot_chip, false, boot_chip != EB_CHIP_ESP8266, size_freq);
    eb_ptable(f + 0x8000, flash_kib);
    *len = 0x10000 + eb_image(f + 0x10000, app_chip, true, app_chip != EB_CHIP_ESP8266, size_freq);
    return f;
}

#endif
