/* esp_image.c — Espressif images, merged factory images and partition tables
 * (see the header; format facts from esptool's bin_image.py and targets/,
 * and ESP-IDF's partition table format; the code is our own). */
#include "formats/esp_image.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "formats/bytes.h"
#include "util/error.h"

#define HEADER_LEN 8
#define EXT_HEADER_LEN 16
#define SEG_HEADER_LEN 8
#define CHECKSUM_SEED 0xEF
#define DIGEST_LEN 32
#define APP_DESC_MAGIC 0xABCD5432u /* esp_app_desc_t at the start of an IDF app's first segment */
#define PT_MAGIC 0x50AA
#define PT_MD5_MAGIC 0xEBEB
#define PT_END 0xFFFF
#define PT_ENTRY 32
#define CHIP_UNKNOWN (-2)

/* --- chips ------------------------------------------------------------------ */

static const struct {
    int id;
    const char *name;
    uint32_t boot; /* where its ROM loads the 2nd-stage bootloader */
} chip_ids[] = {
    /* image chip IDs as esptool's targets give them (IMAGE_CHIP_ID) */
    {FL_ESP_CHIP_ESP8266, "ESP8266", 0x0}, {0, "ESP32", 0x1000},     {2, "ESP32-S2", 0x1000},
    {5, "ESP32-C3", 0x0},                  {9, "ESP32-S3", 0x0},     {12, "ESP32-C2", 0x0},
    {13, "ESP32-C6", 0x0},                 {16, "ESP32-H2", 0x0},    {18, "ESP32-P4", 0x2000},
    {20, "ESP32-C61", 0x0},                {23, "ESP32-C5", 0x2000},
};

const char *fl_esp_chip_name(int chip_id)
{
    for (size_t i = 0; i < sizeof chip_ids / sizeof chip_ids[0]; i++)
        if (chip_ids[i].id == chip_id)
            return chip_ids[i].name;
    return NULL;
}

uint32_t fl_esp_bootloader_offset(int chip_id)
{
    for (size_t i = 0; i < sizeof chip_ids / sizeof chip_ids[0]; i++)
        if (chip_ids[i].id == chip_id)
            return chip_ids[i].boot;
    return 0;
}

const char *fl_esp_flash_mode_name(uint8_t mode)
{
    static const char *const names[] = {"qio", "qout", "dio", "dout", "fast_read", "slow_read"};
    return mode < sizeof names / sizeof names[0] ? names[mode] : "unknown";
}

const char *fl_esp_flash_size_name(int chip_id, uint8_t size_freq)
{
    static const char *const esp8266[16] = {"512KB", "256KB", "1MB", "2MB", "4MB", "2MB-c1", "4MB-c1",
                                            NULL,    "8MB",   "16MB"};
    static const char *const esp32[16] = {"1MB", "2MB", "4MB", "8MB", "16MB", "32MB", "64MB", "128MB"};
    const char *s = (chip_id == FL_ESP_CHIP_ESP8266 ? esp8266 : esp32)[size_freq >> 4];
    return s ? s : "?";
}

const char *fl_esp_flash_freq_name(int chip_id, uint8_t size_freq)
{
    uint8_t f = size_freq & 0x0F;
    if (chip_id == 12) /* ESP32-C2: its own clock codes (esptool targets/esp32c2.py) */
        return f == 0xF ? "60m" : f == 0 ? "30m" : f == 1 ? "20m" : f == 2 ? "15m" : "?";
    if (chip_id == 13 && f == 0)
        return "80m/40m"; /* ESP32-C6: esptool writes 0 for both (a ROM divider workaround) */
    return f == 0xF ? "80m" : f == 0 ? "40m" : f == 1 ? "26m" : f == 2 ? "20m" : "?";
}

const char *fl_esp_ptype_name(uint8_t type, char buf[8])
{
    if (type == 0)
        return "app";
    if (type == 1)
        return "data";
    snprintf(buf, 8, "0x%02x", type);
    return buf;
}

const char *fl_esp_psubtype_name(uint8_t type, uint8_t sub, char buf[8])
{
    if (type == 0) {
        if (sub == 0x00)
            return "factory";
        if (sub == 0x20)
            return "test";
        if (sub >= 0x10 && sub <= 0x1F) {
            snprintf(buf, 8, "ota_%u", sub - 0x10u);
            return buf;
        }
    } else if (type == 1) {
        static const char *const low[] = {"ota", "phy", "nvs", "coredump", "nvs_keys", "efuse",
                                          "undefined"};
        static const char *const high[] = {"esphttpd", "fat", "spiffs", "littlefs"};
        if (sub < sizeof low / sizeof low[0])
            return low[sub];
        if (sub >= 0x80 && sub - 0x80u < sizeof high / sizeof high[0])
            return high[sub - 0x80];
    }
    snprintf(buf, 8, "0x%02x", sub);
    return buf;
}

/* --- one image -------------------------------------------------------------------- */

static void set_error(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Keep the first problem only: it is the one the operator must fix. */
static void set_error(char *dst, size_t cap, const char *fmt, ...)
{
    if (dst[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

#define IM_ERROR(im, ...) set_error((im)->error, sizeof (im)->error, __VA_ARGS__)

static bool digest(const EVP_MD *md, const uint8_t *p, size_t n, uint8_t *out)
{
    unsigned int len = 0;
    return EVP_Digest(p, n, out, &len, md, NULL) == 1;
}

/* Segments, checksum and digest from `pos` (just after the header(s)).
 * Positions are from the image start: the checksum's 16-byte alignment is
 * the image's own.  Returns false when the structure does not fit the file
 * (a segment or the checksum byte past its end, too many segments). */
static bool read_body(const uint8_t *buf, size_t len, size_t pos, fl_esp_image *im)
{
    if (im->n_segments > FL_ESP_MAX_SEGMENTS) {
        IM_ERROR(im, "%u segments in the header (at most %d): not an image, or damaged",
                 im->n_segments, FL_ESP_MAX_SEGMENTS);
        return false;
    }
    uint8_t sum = CHECKSUM_SEED;
    for (unsigned i = 0; i < im->n_segments; i++) {
        if (len < pos || len - pos < SEG_HEADER_LEN) {
            IM_ERROR(im, "truncated: segment %u of %u (its header at +0x%zX) is past the end of "
                         "the %zu bytes", i + 1, im->n_segments, pos, len);
            return false;
        }
        fl_esp_segment *s = &im->seg[i];
        s->file_offset = pos;
        s->load_addr = fl_le32(buf + pos);
        s->length = fl_le32(buf + pos + 4);
        pos += SEG_HEADER_LEN;
        if (s->length > len - pos) {
            IM_ERROR(im, "truncated or damaged: segment %u (load 0x%08X, %u bytes at +0x%zX) runs "
                         "past the end of the %zu bytes", i + 1, s->load_addr, s->length, pos, len);
            im->n_seg_read = (uint8_t)(i + 1);
            return false;
        }
        for (uint32_t k = 0; k < s->length; k++)
            sum ^= buf[pos + k];
        pos += s->length;
        im->n_seg_read = (uint8_t)(i + 1);
    }
    pos += 15 - pos % 16; /* the checksum is the last byte of a 16-byte block */
    if (pos >= len) {
        IM_ERROR(im, "truncated: the checksum byte at +0x%zX is past the end of the %zu bytes",
                 pos, len);
        return false;
    }
    im->checksum_stored = buf[pos++];
    im->checksum_calc = sum;
    im->checksum_ok = sum == im->checksum_stored;
    if (!im->checksum_ok)
        IM_ERROR(im, "checksum wrong: stored 0x%02X, the segment data gives 0x%02X (a damaged "
                     "byte)", im->checksum_stored, sum);
    im->length = pos;
    if (im->hash_appended) {
        if (len - pos < DIGEST_LEN) {
            IM_ERROR(im, "truncated: the SHA-256 digest at +0x%zX is not all in the %zu bytes",
                     pos, len);
            return false;
        }
        uint8_t md[EVP_MAX_MD_SIZE];
        im->hash_ok = digest(EVP_sha256(), buf, pos, md) && !memcmp(md, buf + pos, DIGEST_LEN);
        if (!im->hash_ok)
            IM_ERROR(im, "SHA-256 digest wrong (stored at +0x%zX): the image is damaged", pos);
        im->length = pos + DIGEST_LEN;
    }
    return true;
}

static bool in(uint32_t a, uint32_t lo, uint32_t hi)
{
    return a >= lo && a < hi;
}

/* Flash-mapped (cache) address ranges: only apps execute from flash. */
static bool flash_mapped(int chip_id, uint32_t a)
{
    switch (chip_id) {
    case FL_ESP_CHIP_ESP8266: return in(a, 0x40200000, 0x40300000);
    case 0: return in(a, 0x3F400000, 0x3F800000) || in(a, 0x400D0000, 0x40400000);
    case 2: return in(a, 0x3F000000, 0x3FF80000) || in(a, 0x40080000, 0x40B80000);
    default: return in(a, 0x3C000000, 0x3E000000) || in(a, 0x42000000, 0x44000000);
    }
}

static void copy_text(char *dst, size_t cap, const uint8_t *src, size_t n)
{
    size_t i = 0;
    for (; i < n && i + 1 < cap && src[i]; i++)
        dst[i] = src[i] >= 0x20 && src[i] < 0x7F ? (char)src[i] : '?';
    dst[i] = '\0';
}

static void classify(const uint8_t *buf, size_t len, fl_esp_image *im)
{
    for (unsigned i = 0; i < im->n_seg_read; i++)
        im->is_app |= flash_mapped(im->chip_id, im->seg[i].load_addr);
    /* the first segment may be the one that runs past the end of a cut file */
    if (im->n_seg_read && im->seg[0].length >= 256 &&
        im->seg[0].file_offset + SEG_HEADER_LEN + 256 <= len) {
        const uint8_t *d = buf + im->seg[0].file_offset + SEG_HEADER_LEN;
        if (fl_le32(d) == APP_DESC_MAGIC) { /* version +16, project +48, IDF version +112 */
            im->is_app = true;
            copy_text(im->app_version, sizeof im->app_version, d + 16, 32);
            copy_text(im->app_project, sizeof im->app_project, d + 48, 32);
            copy_text(im->app_idf_version, sizeof im->app_idf_version, d + 112, 32);
        }
    }
}

static void read_header(const uint8_t *buf, fl_esp_image *im)
{
    im->present = true;
    im->n_segments = buf[1];
    im->flash_mode = buf[2];
    im->flash_size_freq = buf[3];
    im->entry = fl_le32(buf + 4);
}

static bool parse_ext(const uint8_t *buf, size_t len, fl_esp_image *im)
{
    memset(im, 0, sizeof *im);
    read_header(buf, im);
    im->format = FL_ESP_FMT_EXT;
    if (len < HEADER_LEN + EXT_HEADER_LEN) {
        IM_ERROR(im, "truncated: %zu bytes, the headers alone are %d", len,
                 HEADER_LEN + EXT_HEADER_LEN);
        return false;
    }
    const uint8_t *x = buf + HEADER_LEN;
    im->wp_pin = x[0];
    im->chip_id = fl_le16(x + 4);
    im->min_rev = x[6];
    im->min_rev_full = fl_le16(x + 7);
    im->max_rev_full = fl_le16(x + 9);
    if (x[15] > 1) {
        IM_ERROR(im, "extended header's hash_appended byte is 0x%02X (0 or 1): not an ESP32-family "
                     "image, or damaged", x[15]);
        return false;
    }
    im->hash_appended = x[15] == 1;
    return read_body(buf, len, HEADER_LEN + EXT_HEADER_LEN, im);
}

static bool parse_v1(const uint8_t *buf, size_t len, fl_esp_image *im)
{
    memset(im, 0, sizeof *im);
    read_header(buf, im);
    im->format = FL_ESP_FMT_V1;
    im->chip_id = FL_ESP_CHIP_ESP8266;
    return read_body(buf, len, HEADER_LEN, im);
}

/* esptool's esp8266_crc32: zlib's CRC32, then one of two adjustments the SDK's
 * loader expects. */
static uint32_t esp8266_crc32(const uint8_t *p, size_t n)
{
    uint32_t c = (uint32_t)crc32(0L, p, (uInt)n);
    return c & 0x80000000u ? c ^ 0xFFFFFFFFu : c + 1;
}

static void parse_v2(const uint8_t *buf, size_t len, fl_esp_image *im)
{
    memset(im, 0, sizeof *im);
    im->present = true;
    im->format = FL_ESP_FMT_V2;
    im->chip_id = FL_ESP_CHIP_ESP8266;
    im->is_app = true; /* the 0xEA image is what the SDK's boot loader starts */
    if (len < 2 * HEADER_LEN) {
        IM_ERROR(im, "truncated: %zu bytes of an ESP8266 V2 (0xEA) image", len);
        return;
    }
    im->irom_length = fl_le32(buf + 12);
    size_t second = 2 * HEADER_LEN + (size_t)im->irom_length;
    if (im->irom_length > len || second + HEADER_LEN > len) {
        IM_ERROR(im, "truncated: the irom segment (%u bytes) and the second header are not all "
                     "in the %zu bytes", im->irom_length, len);
        return;
    }
    if (buf[second] != FL_ESP_IMAGE_MAGIC) {
        IM_ERROR(im, "damaged: no second header (0xE9) after the irom segment at 0x%zX", second);
        return;
    }
    read_header(buf + second, im);
    /* read_body aligns the checksum from the start of the file: pass the file */
    if (!read_body(buf, len, second + HEADER_LEN, im))
        return;
    if (len - im->length < 4) {
        IM_ERROR(im, "truncated: the CRC32 after the checksum is not in the %zu bytes", len);
        return;
    }
    im->crc32_ok = esp8266_crc32(buf, im->length) == fl_le32(buf + im->length);
    if (!im->crc32_ok)
        IM_ERROR(im, "CRC32 wrong: the image is damaged");
    im->length += 4;
}

/* Header bytes esptool can write: 1-16 segments, a flash mode it knows, a
 * size code of its tables (ESP8266 up to 0x9) and a frequency code (0, 1, 2
 * or 0xF).  Random data passes about once in a million. */
static bool plausible_header(const uint8_t *buf, size_t len)
{
    if (len < HEADER_LEN)
        return false;
    uint8_t freq = buf[3] & 0x0F;
    return (buf[0] == FL_ESP_IMAGE_MAGIC || buf[0] == FL_ESP_IMAGE_V2_MAGIC) && buf[1] >= 1 &&
           buf[1] <= FL_ESP_MAX_SEGMENTS && buf[2] <= 5 && buf[3] >> 4 <= 9 &&
           (freq <= 2 || freq == 0xF);
}

/* The ESP8266 RTOS SDK writes its apps with esptool's "V3" layout: an
 * extended header whose chip-ID bytes stay zero (= ESP32's ID).  Its code
 * runs from ESP8266 IRAM (0x40100000); an ESP32 image loads there only into
 * its flash cache window, and always has IRAM or DROM segments of its own.
 * (Inferred from the address maps in esptool's targets, not from a sample.) */
static bool looks_esp8266_v3(const uint8_t *buf, size_t len, const fl_esp_image *im)
{
    if (im->format != FL_ESP_FMT_EXT || im->chip_id != 0 || len < HEADER_LEN + EXT_HEADER_LEN ||
        !fl_all_bytes(buf + HEADER_LEN + 4, 11, 0))
        return false;
    bool iram8266 = false, esp32 = false;
    for (unsigned i = 0; i < im->n_seg_read; i++) {
        uint32_t a = im->seg[i].load_addr;
        iram8266 |= in(a, 0x40100000, 0x40108000);
        esp32 |= in(a, 0x3F400000, 0x3F800000) || in(a, 0x40080000, 0x400A0000);
    }
    return iram8266 && !esp32;
}

bool fl_esp_image_parse(const uint8_t *buf, size_t len, fl_esp_image *out)
{
    memset(out, 0, sizeof *out);
    if (len < 1 || (buf[0] != FL_ESP_IMAGE_MAGIC && buf[0] != FL_ESP_IMAGE_V2_MAGIC))
        return false;
    if (buf[0] == FL_ESP_IMAGE_V2_MAGIC) {
        parse_v2(buf, len, out);
        classify(buf, len, out);
        return true;
    }
    /* 0xE9 on both families: the extended header decides.  The layout whose
     * segments and checksum fit the file wins; when both or neither do, the
     * checksum, then the ESP32 header's WP-pin marker 0xEE, decides. */
    fl_esp_image ext, v1;
    bool ext_fits = parse_ext(buf, len, &ext), v1_fits = parse_v1(buf, len, &v1);
    bool take_ext;
    if (ext_fits != v1_fits)
        take_ext = ext_fits;
    else if (ext_fits && ext.checksum_ok != v1.checksum_ok)
        take_ext = ext.checksum_ok;
    else
        take_ext = len > HEADER_LEN && buf[HEADER_LEN] == 0xEE;
    *out = take_ext ? ext : v1;
    if (looks_esp8266_v3(buf, len, out))
        out->chip_id = FL_ESP_CHIP_ESP8266;
    classify(buf, len, out);
    return true;
}

/* --- partition table --------------------------------------------------------------- */

static bool sane_entry(const uint8_t *e)
{
    if (fl_le16(e) != PT_MAGIC || fl_le32(e + 4) % 0x1000 != 0)
        return false;
    for (int i = 12; i < 28 && e[i]; i++)
        if (e[i] < 0x20 || e[i] >= 0x7F)
            return false;
    return true;
}

void fl_esp_ptable_parse(const uint8_t *buf, size_t len, fl_esp_ptable *t)
{
    memset(t, 0, sizeof *t);
    if (len > FL_ESP_PTABLE_MAX)
        len = FL_ESP_PTABLE_MAX;
    if (len < PT_ENTRY || !sane_entry(buf))
        return;
    t->present = true;
    size_t off = 0;
    for (; off + PT_ENTRY <= len; off += PT_ENTRY) {
        const uint8_t *e = buf + off;
        uint16_t magic = fl_le16(e);
        if (magic == PT_END)
            return;
        if (magic == PT_MD5_MAGIC) {
            uint8_t md[EVP_MAX_MD_SIZE];
            t->have_md5 = true;
            t->md5_ok = fl_all_bytes(e + 2, 14, 0xFF) && digest(EVP_md5(), buf, off, md) &&
                        !memcmp(md, e + 16, 16);
            if (!t->md5_ok)
                set_error(t->error, sizeof t->error,
                          "partition table MD5 wrong (entry at +0x%zX): the table is damaged", off);
            return;
        }
        if (magic != PT_MAGIC) {
            set_error(t->error, sizeof t->error,
                      "partition table entry %zu has the magic 0x%04X (not 0x50AA, 0xEBEB or "
                      "0xFFFF): the table is damaged", off / PT_ENTRY + 1, magic);
            return;
        }
        if (t->n == FL_ESP_MAX_PARTITIONS)
            break;
        fl_esp_partition *p = &t->e[t->n++];
        p->type = e[2];
        p->subtype = e[3];
        p->offset = fl_le32(e + 4);
        p->size = fl_le32(e + 8);
        copy_text(p->label, sizeof p->label, e + 12, 16);
        p->flags = fl_le32(e + 28);
    }
    if (off + PT_ENTRY > len && len < FL_ESP_PTABLE_MAX)
        set_error(t->error, sizeof t->error,
                  "truncated: the partition table runs past the end of the file");
}

const fl_esp_partition *fl_esp_app_partition(const fl_esp_ptable *t)
{
    const fl_esp_partition *ota0 = NULL;
    for (size_t i = 0; i < t->n; i++) {
        if (t->e[i].type == 0 && t->e[i].subtype == 0x00)
            return &t->e[i]; /* the factory app is what boots when otadata is blank */
        if (t->e[i].type == 0 && t->e[i].subtype == 0x10 && !ota0)
            ota0 = &t->e[i];
    }
    return ota0;
}

/* --- the whole file --------------------------------------------------------------- */

/* One more piece of evidence, "; "-separated (util/error.h fl_text_appendf). */
#define add_evidence(owner, ...)                                                                  \
    fl_text_appendf((owner)->evidence, sizeof (owner)->evidence, "; ", __VA_ARGS__)

static void name_chip(fl_esp_info *in, int id)
{
    in->chip_id = id;
    const char *n = fl_esp_chip_name(id);
    if (n)
        snprintf(in->chip, sizeof in->chip, "%s", n);
    else
        snprintf(in->chip, sizeof in->chip, "ESP chip ID %d", id);
}

static void image_evidence(fl_esp_info *in, const char *what, const fl_esp_image *im)
{
    if (im->format == FL_ESP_FMT_EXT && im->chip_id != FL_ESP_CHIP_ESP8266)
        add_evidence(in, "%s header chip ID %d", what, im->chip_id);
    else
        add_evidence(in, "%s in the ESP8266 format (%s)", what,
                     im->format == FL_ESP_FMT_V2 ? "0xEA"
                     : im->format == FL_ESP_FMT_EXT ? "RTOS SDK, IRAM 0x4010xxxx"
                                                    : "no extended header");
}

#define INFO_ERROR(in, ...) set_error((in)->error, sizeof (in)->error, __VA_ARGS__)

/* Where a factory image's bootloader is: the first offset whose bytes before
 * are erased and which holds the image magic. */
static bool find_boot(const uint8_t *buf, size_t len, uint32_t *off)
{
    static const uint32_t offsets[] = {0x0, 0x1000, 0x2000};
    for (size_t i = 0; i < 3; i++) {
        uint32_t o = offsets[i];
        if (len > o && buf[o] == FL_ESP_IMAGE_MAGIC && fl_all_bytes(buf, o, 0xFF)) {
            *off = o;
            return true;
        }
    }
    return false;
}

static void identify_factory(const uint8_t *buf, size_t len, fl_esp_info *in)
{
    in->kind = FL_ESP_FACTORY;
    in->strong = true;
    fl_esp_ptable_parse(buf + FL_ESP_PTABLE_OFFSET, len - FL_ESP_PTABLE_OFFSET, &in->ptable);
    bool have_boot = find_boot(buf, len, &in->boot_offset);
    if (have_boot) {
        fl_esp_image_parse(buf + in->boot_offset, FL_ESP_PTABLE_OFFSET - in->boot_offset, &in->boot);
        in->boot.file_offset = in->boot_offset;
        name_chip(in, in->boot.chip_id);
        image_evidence(in, "bootloader", &in->boot);
        add_evidence(in, "bootloader at 0x%X", in->boot_offset);
        if (in->boot.error[0])
            INFO_ERROR(in, "bootloader at 0x%X: %s", in->boot_offset, in->boot.error);
    } else {
        INFO_ERROR(in, "no bootloader image (0xE9) at 0x0, 0x1000 or 0x2000 before the partition "
                       "table at 0x8000");
    }
    if (in->ptable.error[0])
        INFO_ERROR(in, "%s", in->ptable.error);
    const fl_esp_partition *app = fl_esp_app_partition(&in->ptable);
    if (!app) {
        INFO_ERROR(in, "the partition table has no factory or ota_0 app partition");
        return;
    }
    in->app_offset = app->offset;
    if (app->offset >= len) {
        INFO_ERROR(in, "truncated: the app partition \"%s\" at 0x%X is past the end of the "
                       "%zu-byte file", app->label, app->offset, len);
        return;
    }
    if (!fl_esp_image_parse(buf + app->offset, len - app->offset, &in->app)) {
        INFO_ERROR(in, "no app image (0xE9) at 0x%X, where the partition table puts \"%s\"",
                   app->offset, app->label);
        return;
    }
    in->app.file_offset = app->offset;
    /* the RTOS SDK's app carries no chip ID: the ESP8266 bootloader says it */
    if (have_boot && in->boot.chip_id == FL_ESP_CHIP_ESP8266 && in->app.format == FL_ESP_FMT_EXT &&
        in->app.chip_id == 0 && len - app->offset >= HEADER_LEN + EXT_HEADER_LEN &&
        fl_all_bytes(buf + app->offset + HEADER_LEN + 4, 11, 0))
        in->app.chip_id = FL_ESP_CHIP_ESP8266;
    if (in->app.error[0])
        INFO_ERROR(in, "app at 0x%X: %s", app->offset, in->app.error);
    if (have_boot && in->app.chip_id != in->boot.chip_id) {
        const char *b = fl_esp_chip_name(in->boot.chip_id), *a = fl_esp_chip_name(in->app.chip_id);
        INFO_ERROR(in, "mixed up: the bootloader is for %s (chip ID %d) but the app at 0x%X for %s "
                       "(chip ID %d)", b ? b : "?", in->boot.chip_id, app->offset, a ? a : "?",
                   in->app.chip_id);
    } else if (!have_boot) {
        name_chip(in, in->app.chip_id);
        image_evidence(in, "app", &in->app);
    }
}

bool fl_esp_identify(const uint8_t *buf, size_t len, fl_esp_info *in)
{
    memset(in, 0, sizeof *in);
    in->chip_id = CHIP_UNKNOWN;
    uint32_t boot;
    fl_esp_ptable t;
    bool table = len > FL_ESP_PTABLE_OFFSET + PT_ENTRY;
    if (table) {
        fl_esp_ptable_parse(buf + FL_ESP_PTABLE_OFFSET, len - FL_ESP_PTABLE_OFFSET, &t);
        table = t.present;
    }
    if (table && (find_boot(buf, len, &boot) || fl_all_bytes(buf, FL_ESP_PTABLE_OFFSET, 0xFF))) {
        identify_factory(buf, len, in);
        return true;
    }
    if (!plausible_header(buf, len))
        return false;
    fl_esp_image_parse(buf, len, &in->app);
    /* a lone image is certain only when its checksum holds too: a Beken
     * file may start like a header by chance, and then fit by chance */
    in->strong = in->app.n_seg_read == in->app.n_segments && in->app.length && in->app.checksum_ok;
    in->kind = in->app.is_app ? FL_ESP_APP : FL_ESP_BOOTLOADER;
    if (in->kind == FL_ESP_BOOTLOADER) {
        in->boot = in->app;
        memset(&in->app, 0, sizeof in->app);
    }
    const fl_esp_image *im = in->kind == FL_ESP_APP ? &in->app : &in->boot;
    name_chip(in, im->chip_id);
    image_evidence(in, in->kind == FL_ESP_APP ? "app" : "bootloader", im);
    if (im->error[0])
        INFO_ERROR(in, "%s", im->error);
    return true;
}

/* --- JSON ------------------------------------------------------------------------- */

static json_t *hexj(uint64_t v)
{
    char s[24];
    snprintf(s, sizeof s, "0x%llX", (unsigned long long)v);
    return json_string(s);
}

static json_t *rev_json(uint16_t full)
{
    if (full == 0xFFFF)
        return json_null();
    char s[16];
    snprintf(s, sizeof s, "v%u.%u", full / 100u, full % 100u);
    return json_string(s);
}

static const char *format_name(const fl_esp_image *im)
{
    if (im->format == FL_ESP_FMT_V2)
        return "esp8266-v2";
    if (im->format == FL_ESP_FMT_V1)
        return "esp8266-v1";
    return im->chip_id == FL_ESP_CHIP_ESP8266 ? "esp8266-v3" : "esp32";
}

static json_t *image_json(const fl_esp_image *im)
{
    json_t *o = json_object();
    json_object_set_new(o, "file_offset", hexj(im->file_offset));
    json_object_set_new(o, "length", json_integer((json_int_t)im->length));
    json_object_set_new(o, "format", json_string(format_name(im)));
    json_object_set_new(o, "flash_mode", json_string(fl_esp_flash_mode_name(im->flash_mode)));
    json_object_set_new(o, "flash_size", json_string(fl_esp_flash_size_name(im->chip_id, im->flash_size_freq)));
    json_object_set_new(o, "flash_freq", json_string(fl_esp_flash_freq_name(im->chip_id, im->flash_size_freq)));
    json_object_set_new(o, "entry", hexj(im->entry));
    if (im->format == FL_ESP_FMT_EXT) {
        json_object_set_new(o, "chip_id", im->chip_id == FL_ESP_CHIP_ESP8266 ? json_null() : json_integer(im->chip_id));
        json_object_set_new(o, "min_rev", rev_json(im->min_rev_full));
        json_object_set_new(o, "max_rev", rev_json(im->max_rev_full));
        json_object_set_new(o, "hash_appended", json_boolean(im->hash_appended));
    }
    json_t *segs = json_array();
    for (unsigned i = 0; i < im->n_seg_read; i++)
        json_array_append_new(segs, json_pack("{s:o,s:I,s:o}", "load_addr", hexj(im->seg[i].load_addr),
                                              "length", (json_int_t)im->seg[i].length, "file_offset",
                                              hexj(im->file_offset + im->seg[i].file_offset)));
    json_object_set_new(o, "segments", segs);
    json_object_set_new(o, "checksum_ok", json_boolean(im->checksum_ok));
    json_object_set_new(o, "sha256_ok", im->hash_appended ? json_boolean(im->hash_ok) : json_null());
    if (im->format == FL_ESP_FMT_V2)
        json_object_set_new(o, "crc32_ok", json_boolean(im->crc32_ok));
    if (im->app_project[0] || im->app_version[0])
        json_object_set_new(o, "app_description",
                            json_pack("{s:s,s:s,s:s}", "project", im->app_project, "version",
                                      im->app_version, "idf_version", im->app_idf_version));
    json_object_set_new(o, "error", im->error[0] ? json_string(im->error) : json_null());
    return o;
}

json_t *fl_esp_info_json(const fl_esp_info *in)
{
    static const char *const kinds[] = {"none", "factory", "app", "bootloader"};
    json_t *o = json_object();
    json_object_set_new(o, "kind", json_string(kinds[in->kind]));
    json_object_set_new(o, "chip", in->chip[0] ? json_string(in->chip) : json_null());
    if (in->boot.present) {
        json_t *b = image_json(&in->boot);
        if (in->kind == FL_ESP_FACTORY)
            json_object_set_new(b, "flash_offset", hexj(in->boot_offset));
        json_object_set_new(o, "bootloader", b);
    }
    if (in->kind == FL_ESP_FACTORY) {
        json_t *pt = json_object(), *parts = json_array();
        json_object_set_new(pt, "flash_offset", hexj(FL_ESP_PTABLE_OFFSET));
        json_object_set_new(pt, "md5", json_string(!in->ptable.have_md5 ? "absent"
                                                   : in->ptable.md5_ok   ? "ok"
                                                                         : "wrong"));
        for (size_t i = 0; i < in->ptable.n; i++) {
            const fl_esp_partition *p = &in->ptable.e[i];
            char tb[8], sb[8];
            json_array_append_new(parts, json_pack("{s:s,s:s,s:s,s:o,s:o,s:I}", "name", p->label,
                                                   "type", fl_esp_ptype_name(p->type, tb), "subtype",
                                                   fl_esp_psubtype_name(p->type, p->subtype, sb),
                                                   "offset", hexj(p->offset), "size", hexj(p->size),
                                                   "flags", (json_int_t)p->flags));
        }
        json_object_set_new(pt, "partitions", parts);
        json_object_set_new(o, "partition_table", pt);
    }
    if (in->app.present) {
        json_t *a = image_json(&in->app);
        if (in->kind == FL_ESP_FACTORY)
            json_object_set_new(a, "flash_offset", hexj(in->app_offset));
        json_object_set_new(o, "app", a);
    }
    json_object_set_new(o, "error", in->error[0] ? json_string(in->error) : json_null());
    return o;
}
