/* make_seeds — seed corpora for the fuzz targets, cut from the real test
 * files (../shared/testdata).  Written under the directory given as argv[1]
 * (tests/fuzz/run uses build/fuzz/corpus-<target>/, outside git).  The
 * decrypted KV seeds hold the dump owners' secrets: they stay in the build
 * tree and are never printed. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/aes.h"
#include "formats/bytes.h"
#include "formats/obk_config.h"
#include "formats/tuya_kv.h"
#include "util/fileio.h"

#include "../esp_image_build.h"

static const char *out_dir;

static void put(const char *target, const char *name, const uint8_t *d, size_t n)
{
    char dir[1024], path[1400];
    snprintf(dir, sizeof dir, "%s/corpus-%s", out_dir, target);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(d, 1, n, f) != n) {
        fprintf(stderr, "make_seeds: cannot write %s\n", path);
        exit(1);
    }
    fclose(f);
}

/* Decrypt the data sectors after the key block (base string 8710_2M, the
 * one every test dump uses). */
static void kv_seeds(const char *id, const uint8_t *d, size_t len)
{
    fl_tuya_kv kv;
    if (fl_tuya_kv_read(d, len, &kv, NULL) != FL_OK)
        return;
    size_t kb = kv.key_block_offset;
    fl_tuya_kv_free(&kv);
    uint8_t head[32], key[16];
    fl_aes_ecb a;
    fl_aes_ecb_init(&a, (const uint8_t *)"qwertyuiopasdfgh");
    fl_aes_ecb_decrypt(&a, d + kb, head, 32);
    fl_aes_ecb_free(&a);
    static const char p1[] = "8710", p2[] = "HHRRQbyemofrtytf";
    for (int i = 0; i < 16; i++)
        key[i] = (uint8_t)(p1[i % 4] + p2[i] + head[8 + i]);
    size_t n = (len - kb) / FL_TUYA_SECTOR - 1;
    if (n > 17)
        n = 17;
    uint8_t *plain = malloc(n * FL_TUYA_SECTOR);
    fl_aes_ecb_init(&a, key);
    fl_aes_ecb_decrypt(&a, d + kb + FL_TUYA_SECTOR, plain, n * FL_TUYA_SECTOR);
    fl_aes_ecb_free(&a);
    memset(key, 0, sizeof key);
    char name[64];
    snprintf(name, sizeof name, "%s-all", id);
    put("tuya_kv", name, plain, n * FL_TUYA_SECTOR);
    snprintf(name, sizeof name, "%s-first4", id);
    put("tuya_kv", name, plain, 4 * FL_TUYA_SECTOR);
    free(plain);
    /* The raw store region for the whole-path target. */
    size_t region = len - kb < 0x12000 ? len - kb : 0x12000;
    snprintf(name, sizeof name, "%s-region", id);
    put("tuya_extract", name, d + kb, region);
}

/* OBK config blocks: defaults and filled, both layouts, and older versions. */
static void obk_seeds(void)
{
    static fl_obk_config c;
    static uint8_t s[FL_OBK_CFG_SECTOR];
    for (int pins = 32; pins <= 48; pins += 16) {
        const uint8_t mac[6] = {0xC8, 0x47, 0x8C, 1, 2, 3};
        fl_obk_config_defaults(&c, pins, mac);
        char name[32];
        snprintf(name, sizeof name, "defaults-%d", pins);
        if (fl_obk_config_build(&c, s, NULL) == FL_OK)
            put("obk_config", name, s, sizeof s);
        fl_obk_config_set(&c, "wifi_ssid", "net", NULL);
        fl_obk_config_set(&c, "pin", "6=Rel,1", NULL);
        fl_obk_config_set(&c, "flag", "SLOW_PWM=1", NULL);
        snprintf(name, sizeof name, "set-%d", pins);
        if (fl_obk_config_build(&c, s, NULL) == FL_OK)
            put("obk_config", name, s, sizeof s);
    }
    for (int v = 3; v <= 4; v++) { /* rewrite the version and its CRC */
        size_t n = v == 3 ? FL_OBK_CFG_SIZE_V3 : FL_OBK_CFG_SIZE;
        fl_put_le32(s + 4, (uint32_t)v);
        s[3] = fl_obk_crc8(s + 4, n - 4, true);
        char name[32];
        snprintf(name, sizeof name, "version-%d", v);
        put("obk_config", name, s, n);
    }
    static const char settings[] = "{\"wifi_ssid\": \"a\", \"mqtt_port\": 1883, \"flags\": {\"SLOW_PWM\": true}, "
                                   "\"pins\": {\"6\": \"Rel,1\"}}";
    put("obk_config", "settings.json", (const uint8_t *)settings, sizeof settings - 1);
}

/* Espressif images, built in esptool's layout (tests/esp_image_build.h): a
 * factory image per chip layout, the app and bootloader alone, the ESP8266's
 * V1 and 0xEA images. */
static void esp_seeds(void)
{
    static const struct {
        int chip;
        uint32_t boot;
        const char *name;
    } f[] = {{0, 0x1000, "esp32"}, {5, 0, "esp32c3"}, {EB_CHIP_ESP8266, 0, "esp8266"}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        size_t n;
        uint8_t *d = eb_factory(f[i].chip, f[i].boot, f[i].chip, 2048, &n);
        if (!d)
            continue;
        char name[64];
        snprintf(name, sizeof name, "factory-%s", f[i].name);
        put("esp_image", name, d, n);
        snprintf(name, sizeof name, "app-%s", f[i].name);
        put("esp_image", name, d + 0x10000, n - 0x10000);
        snprintf(name, sizeof name, "ptable-%s", f[i].name);
        put("esp_image", name, d + 0x8000, 0xC00);
        free(d);
    }
    static uint8_t img[0x2000];
    put("esp_image", "boot-esp32", img, eb_image(img, 0, false, true, 0x20));
    put("esp_image", "boot-esp8266-v1", img, eb_image(img, EB_CHIP_ESP8266, false, false, 0x20));
    put("esp_image", "app-esp8266-v2", img, eb_image_v2(img));
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: make_seeds OUT_DIR SHARED_TESTDATA_DIR\n");
        return 2;
    }
    out_dir = argv[1];
    obk_seeds();
    esp_seeds();
    const char *sub[] = {"tuya-dumps", "obk-images"};
    for (int s = 0; s < 2; s++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/%s", argv[2], sub[s]);
        DIR *dd = opendir(dir);
        if (!dd) {
            fprintf(stderr, "make_seeds: cannot open %s\n", dir);
            return 1;
        }
        struct dirent *de;
        while ((de = readdir(dd))) {
            if (de->d_name[0] == '.')
                continue;
            char path[2100], id[16];
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            snprintf(id, sizeof id, "%.*s", 12, de->d_name);
            uint8_t *d;
            size_t len;
            fl_error e;
            if (fl_read_file(path, &d, &len, 16u << 20, &e) != FL_OK)
                continue;
            if (s == 0)
                kv_seeds(id, d, len);
            char name[64];
            /* Bootloader + the start of the app: enough for identification. */
            size_t head = len < 0x12000 ? len : 0x12000;
            snprintf(name, sizeof name, "%s-head", id);
            put("image", name, d, head);
            if (len >= 0x11000 + 0x200) {
                snprintf(name, sizeof name, "%s-ua", id);
                put("image", name, d + 0x11000, len - 0x11000 < 0x8000 ? len - 0x11000 : 0x8000);
            }
            /* CRC target: a key then CRC-wrapped code (bootloader start and its RBL header). */
            uint8_t crc[16 + 0x800];
            static const uint8_t tuya_key[16] = {0x93, 0xB0, 0x0F, 0x51, 0xDC, 0xEA, 0xCB, 0xA3,
                                                 0x7E, 0xA1, 0x93, 0x59, 0x03, 0xEB, 0xAD, 0xC7};
            memcpy(crc, tuya_key, 16);
            size_t cn = len < 0x800 ? len : 0x800;
            memcpy(crc + 16, d, cn);
            snprintf(name, sizeof name, "%s-boot", id);
            put("crc", name, crc, 16 + cn);
            if (len > 0x10F9A + 102) {
                memcpy(crc + 16, d + 0x10F9A - 340, 442);
                snprintf(name, sizeof name, "%s-rbl", id);
                put("crc", name, crc, 16 + 442);
            }
            free(d);
        }
        closedir(dd);
    }
    return 0;
}
