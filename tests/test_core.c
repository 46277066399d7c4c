/* Unit tests for the host core that need no simulator: the device CRC, the
 * RFC 2217 codec, chip-ID normalisation, image placement, durable files and
 * UTF-8-safe message cuts. */
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flash/chips.h"
#include "flash/flash_parts.h"
#include "flash/image_policy.h"
#include "testlib.h"
#include "util/crc32.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/rfc2217.h"

static void test_crc_vectors(void)
{
    /* spec beken-uart.md §8.1 */
    CHECK_EQ_UINT(fl_beken_crc("123456789", 9), 0x340BC6D9);
    uint8_t ff[65536];
    memset(ff, 0xFF, sizeof ff);
    CHECK_EQ_UINT(fl_beken_crc(ff, 4096), 0x0EAB98F5);
    CHECK_EQ_UINT(fl_beken_crc(ff, 256), 0x015757DE);
    CHECK_EQ_UINT(fl_beken_crc(ff, 65536), 0x215481B1);
    CHECK_EQ_UINT(fl_beken_crc_ff(65536), 0x215481B1);
    CHECK_EQ_UINT(fl_beken_crc(ff, 4096) ^ 0xFFFFFFFFu, 0xF154670A); /* zlib's value */
    uint32_t reg = fl_beken_crc_update(FL_BEKEN_CRC_INIT, "1234", 4);
    CHECK_EQ_UINT(fl_beken_crc_update(reg, "56789", 5), 0x340BC6D9);
}

struct sink {
    uint8_t data[256];
    size_t len;
    int comport_cmd;
    uint8_t value[8];
    size_t vlen;
    int verbs;
};

static void on_data(void *ctx, const uint8_t *d, size_t n)
{
    struct sink *s = ctx;
    memcpy(s->data + s->len, d, n);
    s->len += n;
}

static void on_comport(void *ctx, uint8_t cmd, const uint8_t *v, size_t n)
{
    struct sink *s = ctx;
    s->comport_cmd = cmd;
    memcpy(s->value, v, n);
    s->vlen = n;
}

static void on_verb(void *ctx, uint8_t verb, uint8_t opt)
{
    ((struct sink *)ctx)->verbs++;
}

static void test_rfc2217_codec(void)
{
    const uint8_t payload[] = {0x01, 0xFF, 0x02, 0xFF, 0xFF, 0x03};
    uint8_t wire[64];
    size_t n = tn_escape(wire, payload, sizeof payload);
    CHECK_EQ_UINT(n, sizeof payload + 3);
    uint8_t baud[4];
    tn_put_be32(baud, 921600);
    n += tn_subneg(wire + n, CPO_SET_BAUDRATE, baud, 4);
    n += tn_verb(wire + n, TN_WILL, TN_OPT_COM_PORT);
    wire[n++] = 0x42;
    /* feed one byte at a time: state must survive between calls */
    struct sink s = {0};
    tn_decoder d;
    tn_decoder_init(&d, &s);
    d.on_data = on_data;
    d.on_comport = on_comport;
    d.on_verb = on_verb;
    for (size_t i = 0; i < n; i++)
        tn_decode(&d, wire + i, 1);
    CHECK_EQ_UINT(s.len, sizeof payload + 1);
    CHECK(!memcmp(s.data, payload, sizeof payload), "data bytes survive escaping");
    CHECK_EQ_UINT(s.data[sizeof payload], 0x42);
    CHECK_EQ_UINT(s.comport_cmd, CPO_SET_BAUDRATE);
    CHECK_EQ_UINT(s.vlen, 4);
    CHECK_EQ_UINT(tn_be32(s.value), 921600);
    CHECK_EQ_UINT(s.verbs, 1);
    /* and all at once */
    struct sink t = {0};
    tn_decoder_init(&d, &t);
    d.on_data = on_data;
    d.on_comport = on_comport;
    tn_decode(&d, wire, n);
    CHECK_EQ_UINT(t.len, sizeof payload + 1);
    CHECK(!memcmp(t.data, payload, sizeof payload), "bulk decode");
}

static void test_chip_ids(void)
{
    char out[16];
    fl_chip_id_normalise(0x0007231C, out);
    CHECK_STR(out, "7231c");
    fl_chip_id_normalise(0x00007238, out);
    CHECK_STR(out, "7238");
    fl_chip_id_normalise(0x01007236, out); /* one leading 0x01 byte is dropped */
    CHECK_STR(out, "7236");
    CHECK(fl_chip_by_id("7238") == fl_chip_find("bk7238"), "7238 maps to bk7238");
    CHECK(fl_chip_find("BK7231N") && fl_chip_find("BK7231N")->loader == FL_LOADER_ROM, "N is ROM");
    CHECK(fl_chip_find("bk7231t")->loader == FL_LOADER_FLASH, "T is flash loader");
    CHECK(fl_chip_find("bk7999") == NULL, "unknown chip");
    const uint8_t gd[3] = {0xC8, 0x40, 0x15}, nope[3] = {1, 2, 3};
    const fl_flash_part *p = fl_flash_part_find(gd);
    CHECK(p && p->size == 0x200000 && p->sr_bytes == 2 && p->sr_mask == 0x407C, "GD25Q16 entry");
    CHECK(fl_flash_part_find(nope) == NULL, "unknown flash");
}

/* fl_image_plan with opts built from the arguments. */
static fl_status plan(const fl_chip *chip, const char *name, const uint8_t *d, size_t len,
                      int64_t offset, bool raw, bool allow_boot, bool force, fl_placement *p,
                      fl_error *e)
{
    fl_image_plan_opts o;
    fl_image_plan_opts_init(&o);
    o.offset = offset;
    o.raw = raw;
    o.allow_bootloader = allow_boot;
    o.force = force;
    return fl_image_plan(chip, name, d, len, 0x200000, &o, p, e);
}

#define IMG_DIR SHARED_DIR "/testdata/obk-images/"

static void test_placement(void)
{
    fl_placement p;
    fl_error e;
    const fl_chip *t = fl_chip_find("bk7231t"), *n = fl_chip_find("bk7231n"),
                  *m = fl_chip_find("bk7231m"), *b38 = fl_chip_find("bk7238");
    size_t tl, nl, bl;
    uint8_t *ti = tl_load(IMG_DIR "OpenBK7231T_QIO_1.18.300.bin", &tl);
    uint8_t *ni = tl_load(IMG_DIR "OpenBK7231N_QIO_1.18.300.bin", &nl);
    uint8_t *bi = tl_load(IMG_DIR "OpenBK7238_QIO_1.18.300.bin", &bl);
    if (!ti || !ni || !bi)
        goto out;
    CHECK(!plan(t, "x/OpenBK7231T_QIO_1.bin", ti, tl, -1, false, false, false, &p, &e),
          "T QIO accepted: %s", e.msg);
    CHECK(p.flash_offset == 0x11000 && p.file_skip == 0x11000 && p.length == tl - 0x11000,
          "T QIO skips the bootloader");
    CHECK(!plan(t, "firmware.bin", ti, tl, -1, false, false, false, &p, &e) &&
              p.kind == FL_IMAGE_QIO && p.flash_offset == 0x11000,
          "a neutral name is placed by its content");
    CHECK(!plan(n, "OpenBK7231N_QIO_1.bin", ni, nl, -1, false, false, false, &p, &e) &&
              p.flash_offset == 0x11000 && p.file_skip == 0x11000,
          "N QIO skips without opt-in");
    CHECK(!plan(n, "OpenBK7231N_QIO_1.bin", ni, nl, -1, false, true, false, &p, &e) &&
              p.flash_offset == 0 && p.file_skip == 0,
          "N QIO from 0 with --allow-bootloader");
    CHECK(!plan(m, "OpenBK7231N_QIO_1.bin", ni, nl, -1, false, false, false, &p, &e),
          "an N image is accepted on an M chip (one family): %s", e.msg);
    CHECK(!plan(b38, "OpenBK7238_QIO_1.bin", bi, bl, -1, false, false, false, &p, &e) &&
              p.flash_offset == 0 && p.file_skip == 0,
          "7238 QIO from 0");
    CHECK(plan(t, "OpenBK7231T_QIO_1.bin", ni, nl, -1, false, false, false, &p, &e) ==
                  FL_ERR_FORMAT &&
              strstr(e.msg, "bk7231n image"),
          "another chip's image is refused by its content, whatever its name: %s", e.msg);
    CHECK(!plan(t, "x.bin", ni, nl, -1, false, false, true, &p, &e), "--force overrides the chip");
    CHECK(plan(n, "OpenBK7231T_QIO_1.bin", ni, nl, -1, false, false, false, &p, &e) ==
                  FL_ERR_FORMAT &&
              strstr(e.msg, "the name says BK7231T"),
          "a name contradicting the content is refused: %s", e.msg);
    CHECK(plan(t, "OpenBK7231T_QIO_1.bin", ti, tl, 0x11000, false, false, false, &p, &e) ==
                  FL_ERR_FORMAT,
          "an offset contradicting the content is refused");
    CHECK(plan(t, "OpenBK7231T_QIO_1.bin", ti, tl, 0, false, false, false, &p, &e) ==
                  FL_ERR_REFUSED && strstr(e.msg, "allow-bootloader"),
          "QIO at 0 on a flash-loader chip needs --allow-bootloader");
    /* damage: one flipped byte, a cut file, a file of another kind */
    ti[0x30000] ^= 0x01;
    CHECK(plan(t, "OpenBK7231T_QIO_1.bin", ti, tl, -1, false, false, false, &p, &e) ==
                  FL_ERR_FORMAT && strstr(e.msg, "CRC16"),
          "a flipped byte is refused: %s", e.msg);
    ti[0x30000] ^= 0x01;
    ti[0xFFF90] ^= 0x01; /* padding before the off-grid app header: no CRC covers it */
    CHECK(plan(t, "OpenBK7231T_QIO_1.bin", ti, tl, -1, false, false, false, &p, &e) ==
                  FL_ERR_FORMAT && strstr(e.msg, "padding"),
          "a flipped padding byte is refused: %s", e.msg);
    ti[0xFFF90] ^= 0x01;
    CHECK(!plan(t, "OpenBK7231T_QIO_1.bin", ti, tl, -1, false, false, false, &p, &e),
          "restored image accepted again");
    CHECK(plan(t, "OpenBK7231T_QIO_1.bin", ti, 0x80000 + 7, -1, false, false, false, &p, &e) ==
                  FL_ERR_FORMAT && strstr(e.msg, "truncated"),
          "a truncated image is refused: %s", e.msg);
    CHECK(plan(t, "OpenBK7231T_UG_1.bin", ti, tl, -1, false, false, false, &p, &e) == FL_ERR_FORMAT,
          "an OTA name on a QIO is refused");
    uint8_t data[0x2000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7 + (i >> 8));
    CHECK(plan(t, "OpenBK7231T_QIO_x.bin", data, sizeof data, -1, false, false, false, &p, &e) ==
                  FL_ERR_FORMAT && strstr(e.msg, "--raw"),
          "data named _QIO_ is refused: %s", e.msg);
    CHECK(plan(t, "d.bin", data, sizeof data, 0x20000, false, false, false, &p, &e) == FL_ERR_FORMAT,
          "data with --offset but without --raw is refused");
    CHECK(plan(t, "d.bin", data, sizeof data, -1, true, false, false, &p, &e) == FL_ERR_USAGE,
          "--raw without --offset is a usage error");
    CHECK(!plan(t, "d.bin", data, sizeof data, 0x20000, true, false, false, &p, &e) &&
              p.flash_offset == 0x20000 && p.file_skip == 0 && p.length == sizeof data,
          "data with --offset and --raw goes where asked");
    CHECK(plan(t, "d.bin", data, sizeof data, 0x1FF000, true, false, false, &p, &e) ==
              FL_ERR_REFUSED,
          "past the end of the flash is refused");
    CHECK(plan(t, "d.bin", data, 0, 0x20000, true, false, false, &p, &e) == FL_ERR_FORMAT,
          "an empty file is refused");
    size_t rot_len;
    uint8_t *rot = tl_load(SHARED_DIR "/testdata/tuya-dumps/13-LED-Moon-18W-CCT-Kobi.bin", &rot_len);
    if (rot) {
        CHECK(plan(t, "13-LED-Moon.bin", rot, rot_len, -1, false, false, false, &p, &e) ==
                      FL_ERR_FORMAT && strstr(e.msg, "rotated"),
              "a rotated dump is refused, not written shifted: %s", e.msg);
        free(rot);
    }
    CHECK(fl_chip_flash_size_limit(t) == 0x200000 && fl_chip_flash_size_limit(n) == 16u << 20,
          "flash size limits before identification");
out:
    free(ti);
    free(ni);
    free(bi);
}

static void test_durable_write(void)
{
    char dir[] = "/tmp/fl-core-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[256];
    snprintf(path, sizeof path, "%s/out.bin", dir);
    fl_error e;
    CHECK(!fl_write_file_durable(path, "abc", 3, &e), "write");
    uint8_t *data;
    size_t len;
    CHECK(!fl_read_file(path, &data, &len, 100, &e) && len == 3 && !memcmp(data, "abc", 3), "read back");
    free(data);
    CHECK(fl_read_file(path, &data, &len, 2, &e) == FL_ERR_FORMAT, "size limit enforced");
    char bad[300];
    snprintf(bad, sizeof bad, "%s/missing/out.bin", dir);
    CHECK(fl_write_file_durable(bad, "abc", 3, &e) == FL_ERR_FILE, "missing dir is an error");
    CHECK(strstr(e.msg, "missing") != NULL, "message names the path");
    unlink(path);
    rmdir(dir);
}

/* Every byte of s is valid UTF-8 (no lone lead byte, no stray continuation). */
static int valid_utf8(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        int n = *p < 0x80 ? 1 : (*p & 0xE0) == 0xC0 ? 2 : (*p & 0xF0) == 0xE0 ? 3
              : (*p & 0xF8) == 0xF0 ? 4 : 0;
        if (!n)
            return 0;
        for (int k = 1; k < n; k++)
            if ((p[k] & 0xC0) != 0x80)
                return 0;
        p += n;
    }
    return 1;
}

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);
    return n >= t && !memcmp(s + n - t, tail, t);
}

/* Cut messages keep whole characters and end with the mark "…". */
static void test_text_cut(void)
{
    char buf[16];
    CHECK(fl_text_copy(buf, sizeof buf, "short") == 5 && !strcmp(buf, "short"), "fits: unchanged");
    CHECK(fl_text_copy(buf, sizeof buf, "exactly 15 byte") == 15, "15 bytes fit in 16");
    CHECK_STR(buf, "exactly 15 byte");
    fl_text_copy(buf, sizeof buf, "0123456789abcdefXYZ");
    CHECK_STR(buf, "0123456789ab" FL_CUT_MARK);
    /* "é" is 2 bytes: 7 of them are 14; the cut must not keep half of one */
    for (size_t cap = 4; cap <= sizeof buf; cap++) {
        fl_text_copy(buf, cap, "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9");
        CHECK(valid_utf8(buf) && ends_with(buf, FL_CUT_MARK) && strlen(buf) < cap,
              "cap %zu: '%s' is whole characters ending in the mark", cap, buf);
    }
    /* 4-byte characters too */
    fl_text_copy(buf, sizeof buf, "\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80");
    CHECK_STR(buf, "\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80" FL_CUT_MARK);

    fl_error e;
    char big[3000];
    memset(big, 'a', sizeof big);
    big[1] = '\xC3'; /* shift the 2-byte characters to odd offsets */
    for (size_t i = 2; i + 1 < sizeof big; i += 2)
        big[i] = '\xA9', big[i + 1] = '\xC3';
    big[sizeof big - 2] = '\xA9';
    big[sizeof big - 1] = '\0';
    CHECK(valid_utf8(big), "test input is valid UTF-8");
    fl_fail(&e, FL_ERR_FORMAT, "x%s", big);
    CHECK(e.code == FL_ERR_FORMAT && valid_utf8(e.msg) && ends_with(e.msg, FL_CUT_MARK) &&
          strlen(e.msg) >= sizeof e.msg - 4, "fl_fail cuts a long message with the mark (%zu bytes)",
          strlen(e.msg));
    fl_fail(&e, FL_ERR_FORMAT, "%s", big + 1);
    fl_fail_prefix(&e, "context");
    CHECK(!strncmp(e.msg, "context: ", 9) && valid_utf8(e.msg) && ends_with(e.msg, FL_CUT_MARK),
          "fl_fail_prefix keeps the prefix and cuts the old message with the mark");
    fl_fail(&e, FL_ERR_FORMAT, "short %s", "one");
    fl_fail_prefix(&e, "context");
    CHECK_STR(e.msg, "context: short one");
}

int main(void)
{
    RUN(test_crc_vectors);
    RUN(test_rfc2217_codec);
    RUN(test_chip_ids);
    RUN(test_placement);
    RUN(test_durable_write);
    RUN(test_text_cut);
    return testlib_finish();
}
