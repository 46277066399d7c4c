/* OBK config block (spec ch341-spi-and-obk-config.md part C): the CRC test
 * vectors, the header checks, versions 3/4/5, defaults, flag bits, both pin
 * layouts byte by byte, build -> parse identity, and the pin section made
 * from the 24 golden Tuya dumps. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "flash/chips.h"
#include "formats/bytes.h"
#include "formats/obk_config.h"
#include "formats/tuya_extract.h"
#include "testlib.h"

#define GOLDEN SHARED_DIR "/spec/tuya-config-golden.json"

/* --- C.2 test vectors ------------------------------------------------------------------- */

static void test_crc_vectors(void)
{
    const uint8_t v4[] = {4, 0, 0, 0}, ff[] = {0xFF}, b80[] = {0x80};
    uint8_t all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    CHECK_EQ_UINT(fl_obk_crc8((const uint8_t *)"123456789", 9, false), 0xA1);
    CHECK_EQ_UINT(fl_obk_crc8((const uint8_t *)"123456789", 9, true), 0x63);
    CHECK_EQ_UINT(fl_obk_crc8(v4, 4, false), 0x0E);
    CHECK_EQ_UINT(fl_obk_crc8(v4, 4, true), 0xA4);
    CHECK_EQ_UINT(fl_obk_crc8(ff, 1, false), 0x35);
    CHECK_EQ_UINT(fl_obk_crc8(ff, 1, true), 0xEF);
    CHECK_EQ_UINT(fl_obk_crc8(b80, 1, false), 0x8C);
    CHECK_EQ_UINT(fl_obk_crc8(b80, 1, true), 0x8C);
    CHECK_EQ_UINT(fl_obk_crc8(all, 256, false), 0x18);
    CHECK_EQ_UINT(fl_obk_crc8(all, 256, true), 0xDB);
}

/* "CFG", version v, zeros: the spec's config vectors. */
static void bare_block(uint8_t *b, size_t size, int v)
{
    memset(b, 0, size);
    memcpy(b, "CFG", 3);
    fl_put_le32(b + 4, (uint32_t)v);
}

static void test_crc_config_vectors(void)
{
    static uint8_t b[FL_OBK_CFG_SIZE];
    bare_block(b, sizeof b, 4);
    CHECK_EQ_UINT(fl_obk_crc8(b + 4, FL_OBK_CFG_SIZE - 4, false), 0x86);
    CHECK_EQ_UINT(fl_obk_crc8(b + 4, FL_OBK_CFG_SIZE - 4, true), 0x63);
    bare_block(b, sizeof b, 5);
    CHECK_EQ_UINT(fl_obk_crc8(b + 4, FL_OBK_CFG_SIZE - 4, false), 0x2B);
    CHECK_EQ_UINT(fl_obk_crc8(b + 4, FL_OBK_CFG_SIZE - 4, true), 0x31);
    bare_block(b, FL_OBK_CFG_SIZE_V3, 3);
    CHECK_EQ_UINT(fl_obk_crc8(b + 4, FL_OBK_CFG_SIZE_V3 - 4, false), 0xD2);
    CHECK_EQ_UINT(fl_obk_crc8(b + 4, FL_OBK_CFG_SIZE_V3 - 4, true), 0x76);
}

/* --- header checks -------------------------------------------------------------------------- */

static fl_status parse(const uint8_t *b, size_t n, fl_obk_config *c, fl_obk_header *h, fl_error *e)
{
    return fl_obk_config_parse(b, n, 32, false, c, h, e);
}

static void test_reading_versions(void)
{
    static uint8_t b[FL_OBK_CFG_SECTOR];
    static fl_obk_config c;
    fl_obk_header h;
    fl_error e = {0};
    memset(b, 0xFF, sizeof b);
    bare_block(b, FL_OBK_CFG_SIZE_V3, 3); /* bytes past 2016 stay 0xFF: not part of a v3 block */
    b[3] = 0x76;
    CHECK(parse(b, sizeof b, &c, &h, &e) == FL_OK, "v3: %s", e.msg);
    CHECK(h.size == FL_OBK_CFG_SIZE_V3 && c.version == 3, "v3 size %zu", h.size);
    CHECK(c.web_password[0] == 0 && c.wifi_ssid2[0] == 0, "v3: fields past 2016 bytes are empty");

    bare_block(b, FL_OBK_CFG_SIZE, 4);
    memcpy(b + 0xC84, "webpw", 6);
    memcpy(b + 0x14, "ssid4", 6);
    b[3] = fl_obk_crc8(b + 4, FL_OBK_CFG_SIZE - 4, true);
    CHECK(parse(b, FL_OBK_CFG_SIZE, &c, &h, &e) == FL_OK, "v4: %s", e.msg);
    CHECK(c.version == 4, "v4 version %d", (int)c.version);
    CHECK_STR(c.wifi_ssid, "ssid4");
    CHECK(c.web_password[0] == 0, "v4: the web password is dropped as the firmware drops it");

    bare_block(b, FL_OBK_CFG_SIZE, 5);
    b[3] = 0x31;
    CHECK(parse(b, FL_OBK_CFG_SIZE, &c, &h, &e) == FL_OK && h.check == FL_OBK_VALID, "v5: %s", e.msg);
}

static void expect_fail(const uint8_t *b, size_t n, fl_obk_check want, const char *words)
{
    static fl_obk_config c;
    fl_obk_header h;
    fl_error e = {0};
    CHECK(parse(b, n, &c, &h, &e) == FL_ERR_FORMAT, "%s accepted", fl_obk_check_name(want));
    CHECK(h.check == want, "check %s, expected %s", fl_obk_check_name(h.check), fl_obk_check_name(want));
    CHECK(strstr(e.msg, words) != NULL, "message '%s' lacks '%s'", e.msg, words);
}

static void test_bad_blocks(void)
{
    static uint8_t b[FL_OBK_CFG_SIZE];
    memset(b, 0xFF, sizeof b);
    expect_fail(b, sizeof b, FL_OBK_ERASED, "erased");
    bare_block(b, sizeof b, 5);
    b[3] = 0x31;
    b[1] = 'X';
    expect_fail(b, sizeof b, FL_OBK_BAD_IDENT, "CFG");
    const int bad_versions[] = {0, 2, 6, 100, 101, -1};
    for (size_t i = 0; i < sizeof bad_versions / sizeof bad_versions[0]; i++) {
        bare_block(b, sizeof b, bad_versions[i]);
        b[3] = fl_obk_crc8(b + 4, sizeof b - 4, true);
        expect_fail(b, sizeof b, FL_OBK_BAD_VERSION, "version");
    }
    bare_block(b, sizeof b, 5);
    b[3] = 0x30;
    expect_fail(b, sizeof b, FL_OBK_BAD_CRC, "stored 0x30, computed 0x31");
    /* the GUI tool's unsigned CRC (right on other platforms) is named as such */
    b[3] = 0x2B;
    expect_fail(b, sizeof b, FL_OBK_BAD_CRC, "unsigned");
    b[3] = 0x31;
    expect_fail(b, 3000, FL_OBK_SHORT, "cut short");
    /* a damaged block can still be shown when the caller asks */
    b[3] = 0x30;
    static fl_obk_config c;
    fl_obk_header h;
    fl_error e = {0};
    CHECK(fl_obk_config_parse(b, sizeof b, 32, true, &c, &h, &e) == FL_OK && h.check == FL_OBK_BAD_CRC,
          "accept_bad_crc: %s", e.msg);
    CHECK(fl_obk_config_parse(b, sizeof b, 40, true, &c, &h, &e) == FL_ERR_USAGE, "40-pin layout accepted");
}

/* --- defaults, flags, chips ------------------------------------------------------------------------ */

static void test_defaults(void)
{
    static fl_obk_config c;
    static uint8_t s[FL_OBK_CFG_SECTOR];
    const uint8_t mac[6] = {0xC8, 0x47, 0x8C, 0x12, 0xAB, 0x0F};
    fl_error e = {0};
    fl_obk_config_defaults(&c, 32, mac);
    CHECK(fl_obk_config_build(&c, s, &e) == FL_OK, "build: %s", e.msg);
    CHECK(!memcmp(s, "CFG", 3), "ident");
    CHECK_EQ_UINT(fl_le32(s + 4), 5);
    CHECK_EQ_UINT(s[3], fl_obk_crc8(s + 4, FL_OBK_CFG_SIZE - 4, true));
    CHECK_EQ_UINT(fl_le32(s + 0x294), 1883);
    CHECK_STR((const char *)s + 0x1D4, "homeassistant");
    CHECK_STR((const char *)s + 0x214, "qqqqqqqqqq");
    CHECK_STR((const char *)s + 0x554, "obks");
    CHECK_STR((const char *)s + 0x298, "https://openbekeniot.github.io/webapp/");
    CHECK_STR((const char *)s + 0x5A0, "192.168.0.1");
    CHECK_STR((const char *)s + 0x478, "217.147.223.78");
    CHECK_STR((const char *)s + 0x2DE, "obk8c12ab0f");
    CHECK_STR((const char *)s + 0x2FE, "OpenBeken_8c12ab0f");
    CHECK_STR((const char *)s + 0x194, "obk8c12ab0f");
    CHECK(!memcmp(s + 0x2D8, mac, 6), "mac");
    CHECK(s[0x4B8] == 3 && s[0x4B9] == 10 && s[0x4BA] == 5, "buttons %u/%u/%u", s[0x4B8], s[0x4B9], s[0x4BA]);
    CHECK_EQ_UINT(s[0x597], 5);
    CHECK_EQ_UINT(fl_le32(s + 8), 1u << 10);
    CHECK_EQ_UINT(fl_le32(s + 0x53C), 0x3F800000u);      /* 1.0f */
    CHECK_EQ_UINT(fl_le32(s + 0x53C + 12), 0x400CCCCDu); /* 2.2f */
    CHECK_EQ_UINT(fl_le32(s + 0x53C + 16), 0x3DCCCCCDu); /* 0.1f */
    CHECK(s[0x537] == 0xFF && s[0x53B] == 0xFF, "LED remap unused");
    size_t ff = 0;
    for (size_t i = FL_OBK_CFG_SIZE; i < FL_OBK_CFG_SECTOR; i++)
        ff += s[i] == 0xFF;
    CHECK_EQ_UINT(ff, FL_OBK_CFG_SECTOR - FL_OBK_CFG_SIZE);
}

static void test_flags(void)
{
    CHECK_EQ_UINT(fl_obk_flag_index("MQTT_BROADCASTSELFSTATEONCONNECT"), 10);
    CHECK_EQ_UINT(fl_obk_flag_index("obk_flag_wifi_enhanced_fast_connect"), 51);
    CHECK_EQ_UINT(fl_obk_flag_index("40"), 40);
    CHECK(fl_obk_flag_index("52") == -1 && fl_obk_flag_index("NO_SUCH_FLAG") == -1 && fl_obk_flag_index("") == -1,
          "unknown flags");
    CHECK_STR(fl_obk_flag_name(0), "MQTT_BROADCASTLEDPARAMSTOGETHER");
    CHECK_STR(fl_obk_flag_name(32), "LED_USE_OLD_LINEAR_MODE");
    CHECK(fl_obk_flag_name(52) == NULL, "flag 52 named");
    static fl_obk_config c;
    static uint8_t s[FL_OBK_CFG_SECTOR];
    fl_error e = {0};
    fl_obk_config_defaults(&c, 32, NULL);
    fl_obk_flag_set(&c, fl_obk_flag_index("MQTT_ENERGY_IN_KWH"), true); /* flag 40 = genericFlags2 bit 8 */
    fl_obk_flag_set(&c, 10, false);
    fl_obk_flag_set(&c, 31, true);
    CHECK(fl_obk_config_build(&c, s, &e) == FL_OK, "%s", e.msg);
    CHECK_EQ_UINT(fl_le32(s + 8), 1u << 31);
    CHECK_EQ_UINT(fl_le32(s + 12), 1u << 8);
    CHECK(fl_obk_flag_get(&c, 40) && !fl_obk_flag_get(&c, 10), "flag get");
}

static void test_chip_table(void)
{
    struct { const char *chip; uint32_t off; int pins; } want[] = {
        {"bk7231t", 0x1E1000, 32}, {"bk7231u", 0x1E1000, 32}, {"bk7238", 0x1E1000, 32},
        {"bk7252", 0x1E1000, 48},  {"bk7252n", 0x1E1000, 48}, {"bk7231n", 0x1D1000, 32},
        {"bk7231m", 0x1D1000, 32}, {"bk7236", 0, 0},          {"bk7258", 0, 0},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const fl_chip *c = fl_chip_find(want[i].chip);
        CHECK(c && c->obk_config_offset == want[i].off && c->obk_pin_count == want[i].pins, "%s", want[i].chip);
        /* the RF calibration is in the sector below, never the same one */
        if (c && c->obk_config_offset)
            CHECK(c->rf_offset + 0x1000 == c->obk_config_offset, "%s RF below config", want[i].chip);
    }
}

static void test_roles(void)
{
    CHECK_EQ_UINT(fl_obk_cfg_role_index("Rel"), 1);
    CHECK_EQ_UINT(fl_obk_cfg_role_index("wifiled_n"), 9);
    CHECK_EQ_UINT(fl_obk_cfg_role_index("BL0939_MISO"), 98);
    CHECK(fl_obk_cfg_role_index("error") == -1 && fl_obk_cfg_role_name(99) == NULL, "99 is a count");
    /* the Tuya mapper's role numbers agree with the firmware table */
    for (int i = 1; i < 99; i++) {
        const char *n = fl_obk_role_name(i);
        if (n)
            CHECK(fl_obk_cfg_role_index(n) == i, "role %s: %d vs %d", n, fl_obk_cfg_role_index(n), i);
    }
}

/* --- layouts byte by byte (C.3) and the firmware's own check ----------------------------------- */

/* The firmware's Tiny_CRC8 on signed `char` (the -fsigned-char Beken build),
 * written the firmware's way, independent of fl_obk_crc8. */
static uint8_t firmware_crc(const uint8_t *d, size_t n)
{
    signed char crc = 0;
    while (n--) {
        signed char extract = (signed char)*d++;
        for (int i = 8; i; i--) {
            signed char sum = (signed char)((crc ^ extract) & 0x01);
            crc = (signed char)(crc >> 1);
            if (sum)
                crc = (signed char)(crc ^ (signed char)0x8C);
            extract = (signed char)(extract >> 1);
        }
    }
    return (uint8_t)crc;
}

/* A string field with nothing after its NUL (so whole structs compare). */
#define SETS(field, text) (memset(c->field, 0, sizeof c->field), snprintf(c->field, sizeof c->field, "%s", text))

static void fill_config(fl_obk_config *c, int pins)
{
    fl_obk_config_defaults(c, pins, NULL);
    c->flags = 0x000FABCD12345678ull;
    c->change_counter = 0x1234;
    c->ota_counter = 0x5678;
    SETS(wifi_ssid, "line-ssid");
    SETS(wifi_pass, "test-wifi-pass");
    SETS(mqtt_host, "mqtt.example");
    SETS(mqtt_client_id, "client");
    SETS(mqtt_user, "user");
    SETS(mqtt_pass, "test-mqtt-pass");
    c->mqtt_port = 8883;
    const uint8_t mac[6] = {1, 2, 3, 4, 5, 6};
    memcpy(c->mac, mac, 6);
    SETS(short_name, "short");
    SETS(long_name, "a long name");
    for (int i = 0; i < pins; i++)
        c->pins[i] = (fl_obk_cfg_pin){(uint8_t)(i + 1), (uint8_t)(i + 2), (uint8_t)(i + 3)};
    for (int i = 0; i < FL_OBK_CFG_CHANNELS; i++) {
        c->channel_types[i] = (uint8_t)(i % 68);
        c->start_values[i] = (int16_t)(-i * 3);
    }
    c->log2lfs = 7;
    c->dgr_send_flags = 0x11223344;
    c->dgr_recv_flags = -5;
    SETS(dgr_name, "dgr");
    SETS(ntp_server, "ntp.example");
    c->button_short = 4, c->button_long = 11, c->button_repeat = 6;
    c->lfs_size = 0x8000;
    c->logger_flags = 0x1E;
    memcpy(c->ip, (uint8_t[]){192, 168, 1, 50}, 4);
    memcpy(c->netmask, (uint8_t[]){255, 255, 255, 0}, 4);
    memcpy(c->gateway, (uint8_t[]){192, 168, 1, 1}, 4);
    memcpy(c->dns, (uint8_t[]){8, 8, 8, 8}, 4);
    memcpy(c->led_remap, (uint8_t[]){0, 1, 2, 3, 4}, 5);
    c->led_corr[3] = 2.5f;
    SETS(mqtt_group, "group");
    c->boot_ok_seconds = 9;
    c->ping_interval = 60;
    c->ping_seconds = 3;
    SETS(ping_host, "10.0.0.1");
    SETS(init_command, "backlog PWMFrequency 1000");
    SETS(wifi_ssid2, "ssid2");
    memset(c->wifi_pass2, 'p', sizeof c->wifi_pass2 - 1); /* the full 67 chars: proves 0xC40/68 */
    SETS(web_password, "web");
    c->mqtt_use_tls = 1;
    c->mqtt_verify_tls_cert = 1;
    SETS(mqtt_cert_file, "ca.pem");
    c->disable_web_server = 1;
}

static void check_layout(int pins)
{
    static fl_obk_config c;
    static uint8_t s[FL_OBK_CFG_SECTOR];
    fl_error e = {0};
    fill_config(&c, pins);
    CHECK(fl_obk_config_build(&c, s, &e) == FL_OK, "%d pins: %s", pins, e.msg);
    /* the firmware's load check: ident, version, its CRC over [4, 3584) */
    CHECK(!memcmp(s, "CFG", 3) && fl_le32(s + 4) == 5, "%d pins header", pins);
    CHECK_EQ_UINT(s[3], firmware_crc(s + 4, FL_OBK_CFG_SIZE - 4));
    /* offsets per spec C.3: group D (32) and group A (48) */
    const size_t d = pins == 48 ? 0x30 : 0;
    const size_t ch = pins == 48 ? 0x36E : 0x35E, ch2 = pins == 48 ? 0x39E : 0x37E;
    CHECK(s[0x33E] == 1 && s[0x33E + (size_t)pins - 1] == pins, "%d pins: roles", pins);
    CHECK(s[ch] == 2 && s[ch2] == 3 && s[ch2 + (size_t)pins - 1] == pins + 2, "%d pins: channels", pins);
    CHECK(s[0x39E + d] == 0 && s[0x39E + d + 63] == 63, "%d pins: channel types", pins);
    CHECK_EQ_UINT(fl_le16(s + 0x3DE + d + 2), (uint16_t)-3);
    CHECK_EQ_UINT(s[0x45E + d], 7);
    CHECK_EQ_UINT(fl_le32(s + 0x460 + d), 0x11223344);
    CHECK_EQ_UINT(fl_le32(s + 0x464 + d), (uint32_t)-5);
    CHECK_STR((const char *)s + 0x468 + d, "dgr");
    CHECK_STR((const char *)s + 0x478 + d, "ntp.example");
    CHECK(s[0x4B8 + d] == 4 && s[0x4B9 + d] == 11 && s[0x4BA + d] == 6, "%d pins: buttons", pins);
    CHECK_EQ_UINT(fl_le32(s + 0x4BC + d), 0x8000);
    CHECK_EQ_UINT(fl_le32(s + 0x4C0 + d), 0x1E);
    /* the same from 0x527 on */
    CHECK(!memcmp(s + 0x527, (uint8_t[]){192, 168, 1, 50, 255, 255, 255, 0, 192, 168, 1, 1, 8, 8, 8, 8}, 16),
          "%d pins: static IP", pins);
    CHECK(!memcmp(s + 0x537, (uint8_t[]){0, 1, 2, 3, 4}, 5), "LED remap");
    CHECK_EQ_UINT(fl_le32(s + 0x53C + 12), 0x40200000u); /* 2.5f */
    CHECK_STR((const char *)s + 0x554, "group");
    CHECK_EQ_UINT(s[0x597], 9);
    CHECK_EQ_UINT(fl_le32(s + 0x598), 60);
    CHECK_STR((const char *)s + 0x5A0, "10.0.0.1");
    CHECK_STR((const char *)s + 0x5E0, "backlog PWMFrequency 1000");
    CHECK_STR((const char *)s + 0xC00, "ssid2");
    CHECK(s[0xC40] == 'p' && s[0xC40 + 66] == 'p' && s[0xC40 + 67] == 0, "wifi_pass2 at 0xC40, 68 bytes");
    CHECK_STR((const char *)s + 0xC84, "web"); /* not the GUI's wifi_pass2 */
    CHECK(s[0xCA5] == 1 && s[0xCA6] == 1 && s[0xCBB] == 1, "TLS / web server bytes");
    CHECK_STR((const char *)s + 0xCA7, "ca.pem");
    CHECK_STR((const char *)s + 0x14, "line-ssid");
    CHECK_STR((const char *)s + 0x214, "test-mqtt-pass");
    CHECK_EQ_UINT(fl_le32(s + 0x294), 8883);
    CHECK_EQ_UINT(fl_le32(s + 0xC), 0x000FABCDu);
    CHECK_EQ_UINT(fl_le16(s + 0x10), 0x1234);
}

static void test_layouts(void)
{
    check_layout(32);
    check_layout(48);
}

static void round_trip(int pins)
{
    static fl_obk_config a, b;
    static uint8_t s1[FL_OBK_CFG_SECTOR], s2[FL_OBK_CFG_SECTOR];
    fl_error e = {0};
    fill_config(&a, pins);
    CHECK(fl_obk_config_build(&a, s1, &e) == FL_OK, "%s", e.msg);
    CHECK(fl_obk_config_parse(s1, sizeof s1, pins, false, &b, NULL, &e) == FL_OK, "%d: %s", pins, e.msg);
    /* every field: the struct up to the raw copy is the same */
    memcpy(a.raw, b.raw, sizeof a.raw);
    size_t diff = 0;
    while (diff < offsetof(fl_obk_config, raw) && ((uint8_t *)&a)[diff] == ((uint8_t *)&b)[diff])
        diff++;
    CHECK(diff == offsetof(fl_obk_config, raw), "%d pins: parse(build(x)) != x at struct byte %zu", pins, diff);
    CHECK_STR(b.wifi_pass, "test-wifi-pass");
    CHECK(b.led_corr[3] == 2.5f && b.start_values[5] == -15 && b.flags == a.flags, "%d pins: numbers", pins);
    CHECK(fl_obk_config_build(&b, s2, &e) == FL_OK && !memcmp(s1, s2, sizeof s1), "%d pins: rebuild differs",
          pins);
    /* a wrong layout reads other bytes: the layouts really differ */
    static fl_obk_config other;
    CHECK(fl_obk_config_parse(s1, sizeof s1, pins == 32 ? 48 : 32, false, &other, NULL, &e) == FL_OK, "%s", e.msg);
    CHECK(other.pins[0].channel != b.pins[0].channel || other.button_short != b.button_short, "layouts alike");
    /* too long a string is refused, not cut silently */
    memset(a.short_name, 'x', sizeof a.short_name);
    CHECK(fl_obk_config_build(&a, s2, &e) == FL_ERR_USAGE && strstr(e.msg, "short_name"), "long name: %s", e.msg);
}

static void test_round_trip(void)
{
    round_trip(32);
    round_trip(48);
}

/* Unknown bytes survive a rewrite: build over a parsed block keeps them. */
static void test_unknown_bytes_kept(void)
{
    static fl_obk_config c;
    static uint8_t s[FL_OBK_CFG_SECTOR], t[FL_OBK_CFG_SECTOR];
    fl_error e = {0};
    fl_obk_config_defaults(&c, 32, NULL);
    CHECK(fl_obk_config_build(&c, s, &e) == FL_OK, "%s", e.msg);
    s[0xCBC + 10] = 0x5A; /* reserved area */
    s[0x498 + 3] = 0x42;  /* power calibration, not a field of the struct */
    s[3] = fl_obk_crc8(s + 4, FL_OBK_CFG_SIZE - 4, true);
    CHECK(fl_obk_config_parse(s, sizeof s, 32, false, &c, NULL, &e) == FL_OK, "%s", e.msg);
    snprintf(c.wifi_ssid, sizeof c.wifi_ssid, "new");
    CHECK(fl_obk_config_build(&c, t, &e) == FL_OK, "%s", e.msg);
    CHECK(t[0xCBC + 10] == 0x5A && t[0x498 + 3] == 0x42, "unknown bytes lost");
    CHECK_STR((const char *)t + 0x14, "new");
}

/* --- goldens: the pin section from the 24 Tuya dumps ---------------------------------------------- */

static void golden_dump(json_t *g)
{
    const char *id = json_string_value(json_object_get(g, "id"));
    char path[600];
    snprintf(path, sizeof path, "%s/%s", SHARED_DIR, json_string_value(json_object_get(g, "path")));
    size_t len;
    uint8_t *data = tl_load(path, &len);
    if (!data)
        return;
    static fl_tuya_config t;
    fl_error e = {0};
    if (fl_tuya_extract(data, len, path, NULL, &t, &e) != FL_OK) {
        CHECK(0, "%s: %s", id, e.msg);
        free(data);
        return;
    }
    for (int pins = 32; pins <= 48; pins += 16) {
        static fl_obk_config c, back;
        static uint8_t s[FL_OBK_CFG_SECTOR];
        fl_obk_config_defaults(&c, pins, NULL);
        CHECK(fl_obk_config_set_pins(&c, &t.obk, true, &e) == FL_OK, "%s: %s", id, e.msg);
        CHECK(fl_obk_config_build(&c, s, &e) == FL_OK, "%s: %s", id, e.msg);
        CHECK(fl_obk_config_parse(s, sizeof s, pins, false, &back, NULL, &e) == FL_OK, "%s: %s", id, e.msg);
        json_t *want = json_object_get(g, "expected_obk_pins_csharp_rules");
        size_t used = 0;
        for (int p = 0; p < pins; p++) {
            if (back.pins[p].role == 0)
                continue;
            used++;
            char key[8], got[64];
            snprintf(key, sizeof key, "%d", p);
            snprintf(got, sizeof got, "%s;%d", fl_obk_cfg_role_name(back.pins[p].role), back.pins[p].channel);
            const char *w = json_string_value(json_object_get(want, key));
            CHECK(w && !strcmp(w, got), "%s/%d: P%d = %s, golden %s", id, pins, p, got, w ? w : "(none)");
        }
        CHECK(used == (json_is_object(want) ? json_object_size(want) : 0), "%s: %zu pins", id, used);
        json_t *cmds = json_object_get(g, "expected_init_commands_csharp_rules");
        if (json_array_size(cmds) > 0)
            CHECK(strstr(back.init_command, json_string_value(json_array_get(cmds, 0))) != NULL,
                  "%s: startup command missing", id);
        else
            CHECK(back.init_command[0] == 0, "%s: unexpected startup command", id);
    }
    fl_tuya_config_free(&t);
    free(data);
}

static void test_golden_pins(void)
{
    json_error_t je;
    json_t *golden = json_load_file(GOLDEN, 0, &je);
    CHECK(golden != NULL, "cannot read %s: %s", GOLDEN, je.text);
    if (!golden)
        return;
    json_t *dumps = json_object_get(golden, "dumps"), *g;
    CHECK(json_array_size(dumps) == 24, "golden lists %zu dumps", json_array_size(dumps));
    size_t i;
    json_array_foreach(dumps, i, g) golden_dump(g);
    json_decref(golden);
}

int main(void)
{
    RUN(test_crc_vectors);
    RUN(test_crc_config_vectors);
    RUN(test_reading_versions);
    RUN(test_bad_blocks);
    RUN(test_defaults);
    RUN(test_flags);
    RUN(test_chip_table);
    RUN(test_roles);
    RUN(test_layouts);
    RUN(test_round_trip);
    RUN(test_unknown_bytes_kept);
    RUN(test_golden_pins);
    return testlib_finish();
}
