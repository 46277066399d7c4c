/* Unit tests for src/formats: CRC16 blocks, the code cipher (spec test
 * vectors), RBL headers, the UPK tokenizer, the OBK pin rules on synthetic
 * configs, identification of every real test file, code plans and OTA/UG
 * packages built here.  The real dumps' secrets are never printed: checks on
 * dump contents report key names only. */
#include <dirent.h>
#include <stdint.h>
#include <zlib.h>

#include "formats/aes.h"
#include "formats/beken_crc16.h"
#include "formats/beken_crypt.h"
#include "formats/beken_image.h"
#include "formats/image_id.h"
#include "formats/obk_pins.h"
#include "formats/rbl.h"
#include "formats/tuya_upk.h"
#include "testlib.h"
#include "util/fileio.h"

#define OBK_DIR SHARED_DIR "/testdata/obk-images"
#define DUMP_DIR SHARED_DIR "/testdata/tuya-dumps"

static uint32_t rng_state = 12345;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

/* --- CRC16 -------------------------------------------------------------------------- */

static void test_crc16_vectors(void)
{
    uint8_t z[32] = {0}, f[32];
    memset(f, 0xFF, sizeof f);
    CHECK_EQ_UINT(fl_crc16_cms("123456789", 9), 0xAEE7);
    CHECK_EQ_UINT(fl_crc16_cms(z, 32), 0x8029);
    CHECK_EQ_UINT(fl_crc16_cms(f, 32), 0x000C);
    CHECK_EQ_UINT(fl_bk_logical_to_phys(0x10000), 0x11000);
    CHECK_EQ_UINT(fl_bk_phys_to_logical(0x11000), 0x10000);
    CHECK_EQ_UINT(fl_bk_logical_to_phys(0x108700), 0x118F70);
    CHECK_EQ_UINT(fl_bk_phys_to_logical(0x118F70), 0x108700);
    CHECK_EQ_UINT(fl_bk_phys_to_logical(32), 32); /* a CRC byte maps to the next block */
    for (uint32_t a = 0; a < 0x200000; a += 0x1234 * 32)
        CHECK_EQ_UINT(fl_bk_phys_to_logical(fl_bk_logical_to_phys(a)), a);
}

static void test_crc16_roundtrip(void)
{
    static const size_t lens[] = {0, 1, 31, 32, 33, 64, 1000, 4096};
    for (size_t t = 0; t < sizeof lens / sizeof lens[0]; t++) {
        size_t n = lens[t];
        uint8_t *in = malloc(n + 1), *phys = malloc(fl_bk_crc_added_size(n) + 1);
        for (size_t i = 0; i < n; i++)
            in[i] = (uint8_t)rnd();
        size_t pl = fl_bk_crc_added_size(n);
        CHECK_EQ_UINT(pl, (n + 31) / 32 * 34);
        fl_bk_crc_add(in, n, phys);
        fl_bk_crc_report r;
        fl_bk_crc_check(phys, pl, &r);
        CHECK(r.bad == 0 && r.tail == 0 && r.blocks == pl / 34, "len %zu: %zu bad", n, r.bad);
        uint8_t *back = malloc(fl_bk_crc_stripped_size(pl) + 1);
        fl_bk_crc_strip(phys, pl, back, &r);
        CHECK_EQ_UINT(fl_bk_crc_stripped_size(pl), (n + 31) / 32 * 32);
        CHECK(!memcmp(back, in, n), "len %zu: strip(add(x)) != x", n);
        for (size_t i = n; i < fl_bk_crc_stripped_size(pl); i++)
            CHECK(back[i] == 0xFF, "padding byte %zu is 0x%02X", i, back[i]);
        if (pl >= 68) { /* corrupt block 1: exactly one bad block, the right one */
            phys[34 + 5] ^= 0x40;
            fl_bk_crc_check(phys, pl, &r);
            CHECK(r.bad == 1 && r.first_bad == 1, "len %zu: bad=%zu first=%zu", n, r.bad, r.first_bad);
            CHECK(!fl_bk_crc_block_ok(phys + 34), "corrupted block accepted");
            memset(phys + 34, 0xFF, 34); /* erased flash is not a CRC error */
            fl_bk_crc_check(phys, pl, &r);
            CHECK(r.bad == 0 && r.erased == 1, "erased block: bad=%zu erased=%zu", r.bad, r.erased);
        }
        fl_bk_crc_check(phys, pl > 5 ? pl - 5 : 0, &r);
        CHECK_EQ_UINT(r.tail, (pl > 5 ? pl - 5 : 0) % 34);
        free(in);
        free(phys);
        free(back);
    }
    uint8_t ff[32], out[34];
    memset(ff, 0xFF, 32);
    fl_bk_crc_add_block(ff, out, true);
    CHECK(out[32] == 0xFF && out[33] == 0xFF, "erased block kept erased");
    fl_bk_crc_add_block(ff, out, false);
    CHECK(out[32] == 0x00 && out[33] == 0x0C, "real CRC of 0xFF block");
}

/* --- code cipher --------------------------------------------------------------------- */

static void test_crypt_vectors(void)
{
    static const struct {
        uint32_t a, ks;
    } tuya[] = {{0x0, 0x7CB50721}, {0x4, 0x7CB50F21}, {0x10000, 0x7EB50721},
                {0x10004, 0x7EB50F21}, {0x10008, 0x7EB51721}, {0x100000, 0x5CB50721}},
      uascent[] = {{0x0, 0x2E388101}, {0x4, 0x2F298018}, {0x10000, 0x2C388123},
                   {0x10004, 0x2D29803A}, {0x10008, 0x0C38A303}};
    for (size_t i = 0; i < sizeof tuya / sizeof tuya[0]; i++)
        CHECK(fl_bk_keystream(&fl_bk_key_tuya, tuya[i].a) == tuya[i].ks, "tuya 0x%X -> %08X, expected %08X",
              tuya[i].a, fl_bk_keystream(&fl_bk_key_tuya, tuya[i].a), tuya[i].ks);
    for (size_t i = 0; i < sizeof uascent / sizeof uascent[0]; i++)
        CHECK(fl_bk_keystream(&fl_bk_key_uascent, uascent[i].a) == uascent[i].ks,
              "uascent 0x%X -> %08X, expected %08X", uascent[i].a,
              fl_bk_keystream(&fl_bk_key_uascent, uascent[i].a), uascent[i].ks);
    /* The app's first two words encrypt to the signature of B2.3. */
    uint8_t app[8] = {0x0E, 0x00, 0x00, 0xEA, 0x14, 0xF0, 0x9F, 0xE5};
    static const uint8_t sig[8] = {0x2F, 0x07, 0xB5, 0x94, 0x35, 0xFF, 0x2A, 0x9B};
    fl_bk_crypt(&fl_bk_key_tuya, 0x10000, app, 8);
    CHECK(!memcmp(app, sig, 8), "app signature mismatch");
    uint8_t app11[4] = {0x18, 0x00, 0x00, 0xEA}; /* dump 11's first word */
    fl_bk_crypt(&fl_bk_key_tuya, 0x10000, app11, 4);
    CHECK(app11[0] == 0x39 && app11[1] == 0x07 && app11[2] == 0xB5 && app11[3] == 0x94, "dump 11 signature");
    CHECK(fl_bk_key_is_bypass(&fl_bk_key_zero), "zero key must bypass");
    CHECK(!fl_bk_key_is_bypass(&fl_bk_key_tuya), "tuya key must not bypass");
    CHECK_EQ_UINT(fl_bk_keystream(&fl_bk_key_zero, 0x1234), 0);
}

static void test_crypt_properties(void)
{
    uint8_t buf[4099], ref[4099], part[4099];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = ref[i] = (uint8_t)rnd();
    const fl_bk_key *keys[] = {&fl_bk_key_tuya, &fl_bk_key_uascent};
    for (int k = 0; k < 2; k++) {
        fl_bk_crypt(keys[k], 0x10000, buf, sizeof buf);
        CHECK(memcmp(buf, ref, sizeof buf) != 0, "encryption changed nothing");
        /* Any slice at any alignment sees the same keystream bytes. */
        for (size_t off = 1; off < 9; off++) {
            memcpy(part, ref, sizeof part);
            fl_bk_crypt(keys[k], 0x10000 + (uint32_t)off, part + off, sizeof part - off - 2);
            CHECK(!memcmp(part + off, buf + off, sizeof part - off - 2), "unaligned slice at +%zu differs", off);
        }
        fl_bk_crypt(keys[k], 0x10000, buf, sizeof buf);
        CHECK(!memcmp(buf, ref, sizeof buf), "crypt is not an involution");
    }
    /* Random keys: the cipher is its own inverse and bypass rules hold. */
    for (int t = 0; t < 200; t++) {
        fl_bk_key k = {{rnd(), rnd(), rnd(), rnd()}};
        uint32_t a = rnd() & ~3u, w = rnd(), x = w ^ fl_bk_keystream(&k, a);
        CHECK((x ^ fl_bk_keystream(&k, a)) == w, "keystream not deterministic");
        if (fl_bk_key_is_bypass(&k))
            CHECK(fl_bk_keystream(&k, a) == 0, "bypass key with a keystream");
    }
    fl_bk_key by = {{1, 2, 3, 0xFF000000u}}, by2 = {{1, 2, 3, 0x1234560Fu}};
    CHECK(fl_bk_key_is_bypass(&by) && fl_bk_key_is_bypass(&by2), "bypass rules of B2.1 step 1");
}

static void test_key_parse(void)
{
    fl_bk_key k;
    CHECK(fl_bk_key_parse("tuya", &k) && !memcmp(&k, &fl_bk_key_tuya, sizeof k), "name tuya");
    CHECK(fl_bk_key_parse("DEFAULT", &k) && !memcmp(&k, &fl_bk_key_tuya, sizeof k), "name default");
    CHECK(fl_bk_key_parse("zero", &k) && !memcmp(&k, &fl_bk_key_zero, sizeof k), "name zero");
    CHECK(fl_bk_key_parse("510FB093 A3CBEADC 5993A17E C7ADEB03", &k) && !memcmp(&k, &fl_bk_key_tuya, sizeof k),
          "spaced words");
    CHECK(fl_bk_key_parse("4862379a,8612784b,85c5e258,75754528", &k) && !memcmp(&k, &fl_bk_key_uascent, sizeof k),
          "comma words");
    CHECK(fl_bk_key_parse("510FB093A3CBEADC5993A17EC7ADEB03", &k) && !memcmp(&k, &fl_bk_key_tuya, sizeof k),
          "32 digits");
    CHECK_STR(fl_bk_key_name(&fl_bk_key_uascent), "uascent");
    const char *bad[] = {"", "xyz", "510FB093 A3CBEADC 5993A17E", "510FB093A3CBEADC5993A17EC7ADEB0311",
                         "510FB09 3A3CBEADC 5993A17E C7ADEB03", "510FB093 A3CBEADC 5993A17E C7ADEB0G", NULL};
    for (int i = 0; bad[i]; i++)
        CHECK(!fl_bk_key_parse(bad[i], &k), "accepted bad key '%s'", bad[i]);
    CHECK(!fl_bk_key_parse(NULL, &k), "accepted NULL");
}

/* --- RBL --------------------------------------------------------------------------- */

static void test_rbl_encode_parse(void)
{
    fl_rbl_header h = {0}, p;
    h.algo = 0x0102;
    h.timestamp = 1700000000;
    snprintf(h.name, sizeof h.name, "app");
    snprintf(h.version, sizeof h.version, "1.18.300");
    snprintf(h.serial, sizeof h.serial, "0000000000");
    uint8_t pkg[100];
    for (int i = 0; i < 100; i++)
        pkg[i] = (uint8_t)i;
    h.size_raw = 96;
    h.size_package = 100;
    /* Padding rule: CRC over 96 bytes + 4 bytes of value 4. */
    uint8_t padded[100];
    memcpy(padded, pkg, 96);
    memset(padded + 96, 4, 4);
    h.data_crc = (uint32_t)crc32(0, padded, 100);
    uint8_t raw[96];
    fl_rbl_encode(&h, raw);
    fl_error e;
    CHECK(fl_rbl_parse(raw, 96, &p, &e) == FL_OK, "parse: %s", e.msg);
    CHECK(p.hdr_crc_ok, "header CRC");
    CHECK_STR(p.name, "app");
    CHECK_STR(p.version, "1.18.300");
    CHECK_EQ_UINT(p.size_package, 100);
    CHECK_STR(fl_rbl_encryption_name(p.algo), "aes256");
    CHECK_STR(fl_rbl_compression_name(p.algo), "gzip");
    CHECK(fl_rbl_check_data(&p, pkg, 100) == FL_RBL_CRC_PADDED, "padding rule");
    CHECK(fl_rbl_check_data(&p, padded, 100) == FL_RBL_CRC_STORED, "stored rule");
    CHECK(fl_rbl_check_data(&p, pkg, 99) == FL_RBL_CRC_BAD, "short package must fail");
    raw[40] ^= 1;
    CHECK(fl_rbl_parse(raw, 96, &p, NULL) == FL_OK && !p.hdr_crc_ok, "corrupt header CRC detected");
    CHECK(fl_rbl_parse(raw, 95, &p, &e) == FL_ERR_FORMAT, "truncated header");
    raw[0] = 'X';
    CHECK(fl_rbl_parse(raw, 96, &p, &e) == FL_ERR_FORMAT, "bad magic");
}

/* --- UPK tokenizer -------------------------------------------------------------------- */

static void test_upk_parse(void)
{
    fl_upk u;
    fl_error e;
    const char *t1 = "{Jsonver:1.1.8,module:WBLC9,c_pin:26,category:0505,crc:105,}\0\0\0";
    CHECK(fl_upk_parse(t1, strlen(t1) + 3, &u, &e) == FL_OK, "pseudo-JSON: %s", e.msg);
    CHECK_EQ_UINT(u.n, 5);
    CHECK_STR(u.pairs[0].key, "Jsonver");
    CHECK_STR(fl_upk_get(&u, "Jsonver"), "1.1.8");
    CHECK_STR(fl_upk_get(&u, "c_pin"), "26");
    CHECK_STR(fl_upk_get(&u, "category"), "0505");
    CHECK(fl_upk_value_is_int("26") && fl_upk_value_is_int("0"), "ints");
    CHECK(!fl_upk_value_is_int("0505") && !fl_upk_value_is_int("1.0.5") && !fl_upk_value_is_int("false") &&
          !fl_upk_value_is_int("") && !fl_upk_value_is_int("-1"), "non-ints");
    fl_upk_free(&u);

    const char *t2 = " {\"module\": \"CB2S\", \"rl1_pin\": 26, \"x\": {\"a\": [1, 2]}, \"s\": \"a\\\"b\", \"rl1_pin\": 7}";
    CHECK(fl_upk_parse(t2, strlen(t2), &u, &e) == FL_OK, "JSON: %s", e.msg);
    CHECK_STR(fl_upk_get(&u, "module"), "CB2S");
    CHECK(u.n == 4 && u.pairs[0].quoted && !u.pairs[1].quoted, "quoted flags");
    CHECK_STR(fl_upk_get(&u, "x"), "{\"a\": [1, 2]}");
    CHECK_STR(fl_upk_get(&u, "s"), "a\"b");
    CHECK_STR(fl_upk_get(&u, "rl1_pin"), "26"); /* the first of a repeated key */
    CHECK_EQ_UINT(u.duplicates, 1);
    fl_upk_free(&u);

    const char *bad[] = {"", "module:CB2S", "{", "{a:1", "{a}", "{:1}", "{a:\"x}", "{}", "{a:{b:1}", "{a:1 b:2}", NULL};
    for (int i = 0; bad[i]; i++) {
        CHECK(fl_upk_parse(bad[i], strlen(bad[i]), &u, &e) == FL_ERR_FORMAT, "accepted '%s'", bad[i]);
        CHECK(u.n == 0 && u.pairs == NULL && u.raw == NULL, "state after failure on '%s'", bad[i]);
    }
}

/* --- OBK rules on synthetic configs ---------------------------------------------------------- */

static fl_obk_map map_of(const char *text, fl_obk_mode mode)
{
    fl_upk u;
    fl_obk_map m;
    fl_error e;
    memset(&m, 0, sizeof m);
    if (fl_upk_parse(text, strlen(text), &u, &e) != FL_OK) {
        CHECK(0, "parse '%s': %s", text, e.msg);
        return m;
    }
    CHECK(fl_obk_map_build(&u, mode, &m, &e) == FL_OK, "build: %s", e.msg);
    fl_upk_free(&u);
    return m;
}

static bool has_item(const fl_strlist *l, const char *needle)
{
    for (size_t i = 0; i < l->n; i++)
        if (strstr(l->items[i], needle))
            return true;
    return false;
}

static bool pin_is(const fl_obk_map *m, int p, const char *role, int ch)
{
    return m->pins[p].used && !strcmp(m->pins[p].role, role) && m->pins[p].channel == ch &&
           m->pins[p].role_index == fl_obk_role_index(role) && m->pins[p].role_index > 0;
}

static void test_obk_rules(void)
{
    fl_obk_map m = map_of("{rl_on1_pin:6,rl_off1_pin:7,k2pin_pin:8,onoff3:9,door1_magt_pin:10,"
                          "wfst:11,reset_pin:14,infre:15,mosi:16,foo_pin:17,bar_io:20,pwmhz:x,ir:21,"
                          "bt2_pin:abc,samp_pin:22,samp_sw_pin:23,samp_sw_lv:0}",
                          FL_OBK_COMPAT);
    CHECK(pin_is(&m, 6, "Rel", 1) && pin_is(&m, 7, "Rel_n", 1), "latching relay, compat");
    CHECK(pin_is(&m, 8, "Btn", 2) && pin_is(&m, 9, "TglChanOnTgl", 3) && pin_is(&m, 10, "dInput", 1), "numbered keys");
    CHECK(pin_is(&m, 11, "WifiLED_n", 0) && pin_is(&m, 14, "Btn", 0) && pin_is(&m, 15, "IRSend", 0), "fixed keys");
    CHECK(pin_is(&m, 16, "SM16703P_DIN", 0) && pin_is(&m, 22, "BAT_ADC", 0) && pin_is(&m, 23, "BAT_Relay", 0), "misc");
    CHECK(!m.pins[17].used && has_item(&m.warnings, "unknown pin key foo_pin"), "unknown _pin key warned");
    CHECK(!m.pins[20].used && has_item(&m.warnings, "unknown pin key bar_io"), "unknown _io key warned");
    CHECK(has_item(&m.warnings, "pwmhz='x'") && m.commands.n == 0, "non-numeric pwmhz warned, no command");
    CHECK(!m.pins[21].used && has_item(&m.warnings, "P21: ir"), "ir described in compat");
    CHECK(has_item(&m.warnings, "bt2_pin='abc' is not a pin number"), "bad pin value warned");
    CHECK(has_item(&m.warnings, "P6: --lv-aware would use BridgeFWD") &&
          has_item(&m.warnings, "P23: --lv-aware would use BAT_Relay_n"), "lv differences listed");
    char *bl = fl_obk_map_backlog(&m);
    CHECK(bl && !strncmp(bl, "backlog setPinRole 6 Rel; setPinChannel 6 1; ", 45), "backlog: %s", bl ? bl : "(null)");
    free(bl);
    fl_obk_map_free(&m);

    m = map_of("{rl_on1_pin:6,rl_off1_pin:7,ir:21,key_pin:5,mic:23,firstpin_pin:24,secpin_pin:26,"
               "rl2_pin:8,rl2_lv:0,bt1_pin:9,bt1_lv:1,netled_pin:10,netled_lv:1,r_pin:11,r_lv:0}",
               FL_OBK_LV_AWARE);
    CHECK(pin_is(&m, 6, "BridgeFWD", 1) && pin_is(&m, 7, "BridgeREV", 1), "latching relay, lv-aware");
    CHECK(pin_is(&m, 21, "IRRecv", 0) && pin_is(&m, 5, "Btn_Tgl_All", 0) && pin_is(&m, 23, "ADC", 0), "extended keys");
    CHECK(pin_is(&m, 24, "PWM", 1) && pin_is(&m, 26, "PWM", 2), "web-app PWM keys");
    CHECK(pin_is(&m, 8, "Rel_n", 2) && pin_is(&m, 9, "Btn_n", 1) && pin_is(&m, 10, "WifiLED", 0) &&
          pin_is(&m, 11, "PWM_n", 0), "levels honoured");
    fl_obk_map_free(&m);

    /* Overwrite: a later key on the same pin wins, with a warning. */
    m = map_of("{bt1_pin:7,total_bt_pin:7}", FL_OBK_COMPAT);
    CHECK(pin_is(&m, 7, "Btn_Tgl_All", 0) && has_item(&m.warnings, "replaces bt1_pin"), "overwrite");
    fl_obk_map_free(&m);

    /* I2C drivers (A10.3). */
    m = map_of("{iicscl:8,iicsda:26,ehccur:3,campere:9,wampere:5,iicr:2,iicg:1,iicb:0,iicc:4,iicw:3,dmod:2}", FL_OBK_COMPAT);
    CHECK(pin_is(&m, 26, "SM2135DAT", 0) && pin_is(&m, 8, "SM2135CLK", 0), "SM2135 roles");
    CHECK(m.commands.n == 2 && !strcmp(m.commands.items[0], "SM2135_Current 3 5") &&
          !strcmp(m.commands.items[1], "LED_Map 2 1 0 4 3"), "SM2135 commands");
    CHECK_STR(m.led_driver, "SM2135");
    fl_obk_map_free(&m);
    m = map_of("{iicscl:8,iicsda:26,dccur:4,dwcur:7,drgbcur:2}", FL_OBK_COMPAT);
    CHECK(pin_is(&m, 26, "BP5758D_DAT", 0) && m.commands.n == 2 && !strcmp(m.commands.items[0], "BP5758D_Current 2 7") &&
          !strcmp(m.commands.items[1], "LED_Map -1 -1 -1 -1 -1"), "BP5758D max rule and default map");
    fl_obk_map_free(&m);
    m = map_of("{iicscl:8,iicsda:26,kp58wcur:7,kp58ccur:2}", FL_OBK_COMPAT);
    CHECK(pin_is(&m, 8, "KP18058_CLK", 0) && !strcmp(m.commands.items[0], "KP18058_Current 7 2") &&
          has_item(&m.warnings, "KP18058_Current"), "KP18058 order reproduced and flagged");
    fl_obk_map_free(&m);
    m = map_of("{iicscl:8,iicsda:26,dmod:7}", FL_OBK_COMPAT);
    CHECK(!m.pins[8].used && !m.pins[26].used && has_item(&m.warnings, "dmod suggests SM2235"), "unknown driver");
    fl_obk_map_free(&m);
    m = map_of("{iicscl:8,iicsda:26,cjwcur:3,dmod:2}", FL_OBK_COMPAT);
    CHECK(pin_is(&m, 26, "BP1658CJ_DAT", 0) && has_item(&m.warnings, "dmod suggests SM2135"), "dmod disagreement");
    fl_obk_map_free(&m);

    m = map_of("{module:CB3S,baud:115200,chip_type:4}", FL_OBK_COMPAT);
    CHECK(m.n_pins == 0 && has_item(&m.hints, "no pins found") && has_item(&m.hints, "baud=115200") &&
          has_item(&m.hints, "BL0942"), "hints");
    fl_obk_map_free(&m);
    CHECK(fl_obk_role_index("BL0937SEL_n") == 64 && fl_obk_role_index("RCRecv") == 87 &&
          fl_obk_role_index("nope") == -1, "role indices");
    CHECK_STR(fl_obk_role_name(9), "WifiLED_n");
}

/* --- identification of the real files ----------------------------------------------------- */

static void test_identify_obk_images(void)
{
    DIR *d = opendir(OBK_DIR);
    CHECK(d != NULL, "cannot open %s", OBK_DIR);
    if (!d)
        return;
    int seen = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strstr(de->d_name, "_QIO_"))
            continue;
        char path[512], want[16];
        snprintf(path, sizeof path, "%s/%s", OBK_DIR, de->d_name);
        /* "OpenBK7231N_QIO_..." -> "BK7231N" */
        snprintf(want, sizeof want, "%.*s", (int)(strstr(de->d_name, "_QIO_") - de->d_name - 4), de->d_name + 4);
        size_t len;
        uint8_t *data = tl_load(path, &len);
        if (!data)
            continue;
        seen++;
        fl_image_info in;
        fl_error e;
        /* No name hint: the chip must come from the content alone. */
        CHECK(fl_image_identify(data, len, NULL, &in, &e) == FL_OK, "%s: %s", de->d_name, e.msg);
        CHECK(in.kind == FL_IMAGE_QIO, "%s: kind %s", de->d_name, fl_image_kind_name(in.kind));
        CHECK(!strcmp(in.chip, want), "%s: chip '%s', expected %s (%s)", de->d_name, in.chip, want, in.chip_evidence);
        CHECK(in.have_boot && in.have_app && in.have_fal, "%s: partitions", de->d_name);
        CHECK(in.boot_crc.bad == 0 && in.app_crc.bad == 0, "%s: CRC16 %zu/%zu bad", de->d_name, in.boot_crc.bad,
              in.app_crc.bad);
        bool zero = !strcmp(want, "BK7231T") || !strcmp(want, "BK7231N") ? false : true;
        CHECK(in.code_key_known && fl_bk_key_is_bypass(&in.code_key) == zero, "%s: code key", de->d_name);
        CHECK(!strncmp(in.obk_version, "OpenBK", 6) && strstr(in.obk_version, "1.18.300"), "%s: OBK version '%s'",
              de->d_name, in.obk_version);
        int boot = 0, app = 0;
        for (size_t i = 0; i < in.n_rbl; i++) {
            const fl_image_rbl *r = &in.rbl[i];
            CHECK(r->in_flash && r->h.hdr_crc_ok, "%s: RBL %s header", de->d_name, r->h.name);
            CHECK(r->data_available && r->data != FL_RBL_CRC_BAD, "%s: RBL %s package CRC", de->d_name, r->h.name);
            boot += !strcmp(r->h.name, "bootloader");
            app += !strcmp(r->h.name, "app");
        }
        CHECK(boot == 1 && app == 1, "%s: %d bootloader / %d app headers", de->d_name, boot, app);
        /* Name hint agreeing with the content adds no note about names. */
        fl_image_info_free(&in);
        CHECK(fl_image_identify(data, len, path, &in, &e) == FL_OK && !in.chip_conflict, "%s with name", de->d_name);
        for (size_t i = 0; i < in.notes.n; i++)
            CHECK(!strstr(in.notes.items[i], "file name says"), "%s: %s", de->d_name, in.notes.items[i]);
        fl_image_info_free(&in);

        /* The same app as a _UA_ file: the app container alone. */
        if (len > 0x11000) {
            fl_image_identify(data + 0x11000, len - 0x11000, NULL, &in, &e);
            CHECK(in.kind == FL_IMAGE_UA && in.have_app && !in.have_boot, "%s as UA: %s", de->d_name,
                  fl_image_kind_name(in.kind));
            CHECK(in.app_crc.bad == 0, "%s as UA: CRC", de->d_name);
            fl_image_info_free(&in);
        }
        /* Decrypt, then encrypt with the same plan: identical code. */
        uint8_t *l;
        size_t ll;
        uint32_t base;
        fl_image_identify(data, len, NULL, &in, &e);
        CHECK(fl_image_code_logical(data, len, &in, &l, &ll, &base, &e) == FL_OK, "%s: logical", de->d_name);
        if (l) {
            uint8_t *copy = malloc(ll);
            memcpy(copy, l, ll);
            fl_code_plan plan;
            fl_code_plan_make(l, ll, base, &plan);
            CHECK(plan.n == 2 && plan.have_fal, "%s: plan with %zu regions", de->d_name, plan.n);
            fl_code_plan_apply(&plan, &in.code_key, l, ll, base);
            CHECK(fl_bk_is_arm_vectors(l, ll) && fl_bk_is_arm_vectors(l + 0x10000, ll - 0x10000),
                  "%s: decrypted code starts with ARM vectors", de->d_name);
            fl_code_plan plan2;
            fl_code_plan_make(l, ll, base, &plan2);
            CHECK(plan2.n == plan.n && plan2.fal_start == plan.fal_start, "%s: same plan in clear", de->d_name);
            fl_code_plan_apply(&plan2, &in.code_key, l, ll, base);
            CHECK(!memcmp(l, copy, ll), "%s: decrypt/encrypt round trip", de->d_name);
            free(copy);
            free(l);
        }
        fl_image_info_free(&in);
        free(data);
    }
    closedir(d);
    CHECK(seen == 7, "saw %d OBK images, expected 7", seen);
}

/* Re-encrypt the N QIO with a key nobody knows: still recognised by its
 * CRC blocks and RBL headers, with the key reported unknown. */
static void test_unknown_key(void)
{
    size_t len;
    uint8_t *data = tl_load(OBK_DIR "/OpenBK7231N_QIO_1.18.300.bin", &len);
    if (!data)
        return;
    fl_image_info in;
    fl_error e;
    uint8_t *l;
    size_t ll;
    uint32_t base;
    fl_image_identify(data, len, NULL, &in, &e);
    CHECK(fl_image_code_logical(data, len, &in, &l, &ll, &base, &e) == FL_OK, "logical: %s", e.msg);
    fl_image_info_free(&in);
    if (!l) {
        free(data);
        return;
    }
    fl_bk_key custom = {{0x11223344, 0x55667788, 0x99AABBCC, 0x12345670}};
    fl_code_plan plan;
    fl_code_plan_make(l, ll, base, &plan);
    fl_code_plan_apply(&plan, &fl_bk_key_tuya, l, ll, base);
    fl_code_plan_apply(&plan, &custom, l, ll, base);
    uint8_t *phys = malloc(fl_bk_crc_added_size(ll));
    for (size_t b = 0; b * 32 < ll; b++)
        fl_bk_crc_add_block(l + b * 32, phys + b * 34, !fl_code_plan_covers(&plan, (uint32_t)(b * 32), 32));
    size_t pl = fl_bk_crc_added_size(ll);
    CHECK(fl_image_identify(phys, pl, NULL, &in, &e) == FL_OK, "identify: %s", e.msg);
    CHECK(in.kind == FL_IMAGE_QIO && in.have_boot && in.have_app && !in.code_key_known, "kind %s, key known %d",
          fl_image_kind_name(in.kind), in.code_key_known);
    CHECK(has_item(&in.notes, "unknown key"), "unknown key noted");
    CHECK(in.n_rbl == 2 && in.rbl[0].h.hdr_crc_ok && in.rbl[1].h.hdr_crc_ok && in.have_fal, "headers and table in clear");
    CHECK(in.boot_crc.bad == 0 && in.app_crc.bad == 0, "CRC blocks");
    fl_image_info_free(&in);
    /* The app alone (a _UA_ file) under the unknown key. */
    CHECK(fl_image_identify(phys + 0x11000, pl - 0x11000, NULL, &in, &e) == FL_OK && in.kind == FL_IMAGE_UA &&
              !in.code_key_known, "UA with unknown key: %s", fl_image_kind_name(in.kind));
    fl_image_info_free(&in);
    free(phys);
    free(l);
    free(data);
}

static void test_identify_synthetic(void)
{
    fl_image_info in;
    fl_error e;
    uint8_t buf[8192] = {0};
    CHECK(fl_image_identify(buf, 0, NULL, &in, &e) == FL_ERR_FORMAT, "empty input");
    memset(buf, 0xFF, sizeof buf);
    CHECK(fl_image_identify(buf, sizeof buf, NULL, &in, &e) == FL_OK && in.kind == FL_IMAGE_ERASED, "erased");
    fl_image_info_free(&in);
    memcpy(buf, "CFG", 3);
    CHECK(fl_image_identify(buf, sizeof buf, NULL, &in, &e) == FL_OK && in.kind == FL_IMAGE_OBK_CONFIG, "CFG");
    fl_image_info_free(&in);
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)rnd();
    CHECK(fl_image_identify(buf, sizeof buf, NULL, &in, &e) == FL_OK && in.kind == FL_IMAGE_UNKNOWN, "garbage");
    fl_image_info_free(&in);
    static const uint8_t vec[8] = {0x0E, 0x00, 0x00, 0xEA, 0x14, 0xF0, 0x9F, 0xE5};
    memcpy(buf, vec, 8);
    CHECK(fl_image_identify(buf, sizeof buf, NULL, &in, &e) == FL_OK && in.kind == FL_IMAGE_RAW_ARM, "raw ARM");
    fl_image_info_free(&in);
}

/* Build an OBK-style OTA package: RBL header + AES-256-CBC(gzip(app)), in a UG wrapper. */
static size_t make_ota(uint8_t *out, size_t cap, bool ug, bool corrupt)
{
    uint8_t app[3000];
    for (size_t i = 0; i < sizeof app; i++)
        app[i] = (uint8_t)(i * 7);
    uint8_t gz[4096];
    z_stream z = {0};
    deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
    z.next_in = app;
    z.avail_in = sizeof app;
    z.next_out = gz;
    z.avail_out = sizeof gz;
    deflate(&z, Z_FINISH);
    size_t gl = z.total_out;
    deflateEnd(&z);
    size_t pad = 16 - gl % 16;
    memset(gz + gl, (int)pad, pad);
    size_t el = gl + pad;
    size_t hdr = ug ? 32 : 0;
    CHECK(hdr + 96 + el <= cap, "buffer");
    uint8_t *enc = out + hdr + 96;
    fl_aes256_cbc_encrypt((const uint8_t *)"0123456789ABCDEF0123456789ABCDEF", (const uint8_t *)"0123456789ABCDEF",
                          gz, enc, el);
    fl_rbl_header h = {0};
    h.algo = 0x0102;
    snprintf(h.name, sizeof h.name, "app");
    snprintf(h.version, sizeof h.version, "1.18.300");
    h.size_raw = sizeof app;
    h.size_package = (uint32_t)el;
    h.data_crc = (uint32_t)crc32(0, enc, (uInt)el);
    fl_rbl_encode(&h, out + hdr);
    if (ug) {
        uint32_t plen = (uint32_t)(96 + el);
        static const uint8_t head[4] = {0x55, 0xAA, 0x55, 0xAA}, tail[4] = {0xAA, 0x55, 0xAA, 0x55};
        memcpy(out, head, 4);
        memset(out + 4, 0, 12);
        memcpy(out + 4, "1.18.300", 8);
        out[16] = (uint8_t)(plen >> 24), out[17] = (uint8_t)(plen >> 16), out[18] = (uint8_t)(plen >> 8), out[19] = (uint8_t)plen;
        uint32_t s = 0;
        for (uint32_t i = 0; i < plen; i++)
            s += out[32 + i];
        out[20] = (uint8_t)(s >> 24), out[21] = (uint8_t)(s >> 16), out[22] = (uint8_t)(s >> 8), out[23] = (uint8_t)s;
        uint32_t hs = 0;
        for (int i = 0; i < 24; i++)
            hs += out[i];
        out[24] = (uint8_t)(hs >> 24), out[25] = (uint8_t)(hs >> 16), out[26] = (uint8_t)(hs >> 8), out[27] = (uint8_t)hs;
        memcpy(out + 28, tail, 4);
    }
    if (corrupt)
        out[hdr + 96 + 5] ^= 0x10;
    return hdr + 96 + el;
}

static void test_ota_packages(void)
{
    uint8_t buf[8192];
    fl_image_info in;
    fl_error e;
    size_t n = make_ota(buf, sizeof buf, false, false);
    CHECK(fl_image_identify(buf, n, "OpenBK7231N_1.18.300.rbl", &in, &e) == FL_OK && in.kind == FL_IMAGE_RBL,
          "RBL kind %s", fl_image_kind_name(in.kind));
    CHECK(in.n_rbl == 1 && in.rbl[0].h.hdr_crc_ok && in.rbl[0].data == FL_RBL_CRC_STORED, "RBL CRCs");
    CHECK(in.ota_key && strstr(in.ota_key, "OpenBeken"), "OTA key recognised");
    CHECK_STR(in.chip, "BK7231N"); /* from the name only */
    fl_image_info_free(&in);
    n = make_ota(buf, sizeof buf, true, false);
    CHECK(fl_image_identify(buf, n, NULL, &in, &e) == FL_OK && in.kind == FL_IMAGE_UG, "UG kind %s",
          fl_image_kind_name(in.kind));
    CHECK(in.ug_header_sum_ok && in.ug_payload_sum_ok && in.n_rbl == 1 && in.rbl[0].data == FL_RBL_CRC_STORED,
          "UG sums and inner RBL");
    CHECK_STR(in.ug_version, "1.18.300");
    fl_image_info_free(&in);
    n = make_ota(buf, sizeof buf, true, true);
    CHECK(fl_image_identify(buf, n, NULL, &in, &e) == FL_OK && !in.ug_payload_sum_ok && in.rbl[0].data == FL_RBL_CRC_BAD,
          "corruption detected in UG");
    fl_image_info_free(&in);
    CHECK(fl_image_identify(buf, 40, NULL, &in, &e) == FL_OK && in.kind == FL_IMAGE_UG && !in.ug_payload_sum_ok,
          "truncated UG");
    CHECK(has_item(&in.notes, "truncated"), "truncation noted");
    fl_image_info_free(&in);
}

int main(void)
{
    RUN(test_crc16_vectors);
    RUN(test_crc16_roundtrip);
    RUN(test_crypt_vectors);
    RUN(test_crypt_properties);
    RUN(test_key_parse);
    RUN(test_rbl_encode_parse);
    RUN(test_upk_parse);
    RUN(test_obk_rules);
    RUN(test_identify_obk_images);
    RUN(test_unknown_key);
    RUN(test_identify_synthetic);
    RUN(test_ota_packages);
    return testlib_finish();
}
