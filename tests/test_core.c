/* Unit tests for the host core that need no simulator: the device CRC, the
 * RFC 2217 codec, chip-ID normalisation, image placement and durable files. */
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "beken/chips.h"
#include "beken/flash_parts.h"
#include "beken/placement.h"
#include "testlib.h"
#include "util/crc32.h"
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

static void test_placement(void)
{
    fl_placement p;
    fl_error e;
    const fl_chip *t = fl_chip_find("bk7231t"), *n = fl_chip_find("bk7231n"),
                  *b38 = fl_chip_find("bk7238");
    CHECK(!fl_place_image(t, "x/OpenBK7231T_QIO_1.bin", NULL, 0x100000, 0x200000, -1, false, false, &p, &e),
          "T QIO accepted");
    CHECK(p.flash_offset == 0x11000 && p.file_skip == 0x11000, "T QIO skips the bootloader");
    CHECK(!fl_place_image(n, "OpenBK7231N_QIO_1.bin", NULL, 0x129F70, 0x200000, -1, false, false, &p, &e),
          "N QIO");
    CHECK(p.flash_offset == 0x11000 && p.file_skip == 0x11000, "N QIO skips without opt-in");
    CHECK(!fl_place_image(n, "OpenBK7231N_QIO_1.bin", NULL, 0x129F70, 0x200000, -1, true, false, &p, &e),
          "N QIO opt-in");
    CHECK(p.flash_offset == 0 && p.file_skip == 0, "N QIO from 0 with --allow-bootloader");
    CHECK(!fl_place_image(b38, "OpenBK7238_QIO_1.bin", NULL, 0x132000, 0x200000, -1, false, false, &p, &e),
          "7238 QIO");
    CHECK(p.flash_offset == 0 && p.file_skip == 0, "7238 QIO from 0");
    CHECK(!fl_place_image(t, "OpenBK7231T_UA_1.bin", NULL, 0x100000, 0x200000, -1, false, false, &p, &e),
          "UA");
    CHECK(p.flash_offset == 0x11000 && p.file_skip == 0, "UA at 0x11000");
    CHECK(fl_place_image(t, "OpenBK7231N_QIO_1.bin", NULL, 0x100000, 0x200000, -1, false, false, &p, &e) ==
              FL_ERR_FORMAT,
          "wrong-chip image refused");
    CHECK(strstr(e.msg, "BK7231N") != NULL, "message names the image's chip: %s", e.msg);
    CHECK(!fl_place_image(t, "OpenBK7231N_QIO_1.bin", NULL, 0x100000, 0x200000, -1, false, true, &p, &e),
          "--force overrides");
    CHECK(fl_place_image(t, "OpenBK7231T_UG_1.bin", NULL, 0x100000, 0x200000, -1, false, false, &p, &e) ==
              FL_ERR_FORMAT,
          "UG refused");
    CHECK(!fl_place_image(t, "readResult_BK7231T_UA_2024.bin", NULL, 0x1EF000, 0x200000, -1, false,
                          false, &p, &e) && p.flash_offset == 0x11000 && p.file_skip == 0,
          "the GUI's _UA_ backups start at 0x11000");
    uint8_t *rot;
    size_t rot_len;
    if (fl_read_file(SHARED_DIR "/testdata/tuya-dumps/13-LED-Moon-18W-CCT-Kobi.bin", &rot, &rot_len,
                     4u << 20, &e) == FL_OK) {
        CHECK(fl_place_image(t, "13-LED-Moon.bin", rot, rot_len, 0x200000, -1, false, false, &p,
                             &e) == FL_ERR_FORMAT && strstr(e.msg, "rotated"),
              "a rotated dump is refused, not written shifted: %s", e.msg);
        free(rot);
    } else {
        CHECK(0, "cannot read dump 13: %s", e.msg);
    }
    CHECK(fl_place_image(t, "firmware.bin", NULL, 0x1000, 0x200000, -1, false, false, &p, &e) ==
              FL_ERR_USAGE,
          "unknown file needs --offset");
    CHECK(!fl_place_image(t, "firmware.bin", NULL, 0x1000, 0x200000, 0x20000, false, false, &p, &e) &&
              p.flash_offset == 0x20000,
          "explicit offset");
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

int main(void)
{
    RUN(test_crc_vectors);
    RUN(test_rfc2217_codec);
    RUN(test_chip_ids);
    RUN(test_placement);
    RUN(test_durable_write);
    return testlib_finish();
}
