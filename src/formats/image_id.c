/* image_id.c — content-based identification of Beken images and dumps
 * (spec B1-B7). */
#include "formats/image_id.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "formats/aes.h"
#include "formats/bytes.h"
#include "formats/tuya_kv.h"
#include "formats/tuya_secrets.h"
#include "util/error.h"

#define BOOT_PHYS 0x11000u        /* bootloader partition, physical bytes */
#define APP_LOGICAL_MAX 0x110000u /* largest app partition seen (U/7238/7252 layout) */
#define UA_MAX_PHYS 0x130000u     /* app containers are at most ~0x121000 bytes */

const char *fl_image_kind_name(fl_image_kind k)
{
    switch (k) {
    case FL_IMAGE_UNKNOWN: return "unknown";
    case FL_IMAGE_ERASED: return "erased";
    case FL_IMAGE_FULL_DUMP: return "full_dump";
    case FL_IMAGE_ROTATED_DUMP: return "rotated_dump";
    case FL_IMAGE_APP_DUMP: return "app_dump";
    case FL_IMAGE_QIO: return "qio";
    case FL_IMAGE_UA: return "ua";
    case FL_IMAGE_UG: return "ug";
    case FL_IMAGE_RBL: return "rbl";
    case FL_IMAGE_TUYA_CONFIG: return "tuya_config";
    case FL_IMAGE_OBK_CONFIG: return "obk_config";
    case FL_IMAGE_RAW_ARM: return "raw_arm";
    case FL_IMAGE_LOGICAL: return "logical";
    case FL_IMAGE_ESP_FACTORY: return "esp_factory";
    case FL_IMAGE_ESP_APP: return "esp_app";
    case FL_IMAGE_ESP_BOOTLOADER: return "esp_bootloader";
    }
    return "unknown";
}

const char *fl_image_kind_text(fl_image_kind k)
{
    switch (k) {
    case FL_IMAGE_UNKNOWN: return "unrecognised file";
    case FL_IMAGE_ERASED: return "erased flash (every byte 0xFF)";
    case FL_IMAGE_FULL_DUMP: return "full flash dump (from 0x0)";
    case FL_IMAGE_ROTATED_DUMP: return "rotated full flash dump (file starts at flash 0x11000 and wraps)";
    case FL_IMAGE_APP_DUMP: return "flash dump read from 0x11000 (no bootloader)";
    case FL_IMAGE_QIO: return "_QIO_ image: bootloader + app from 0x0";
    case FL_IMAGE_UA: return "_UA_ image: app container, written at 0x11000";
    case FL_IMAGE_UG: return "_UG_ Tuya OTA package (for tuya-cloudcutter, never raw-flashed)";
    case FL_IMAGE_RBL: return "RBL OTA package (OpenBeken web OTA)";
    case FL_IMAGE_TUYA_CONFIG: return "Tuya configuration region only (config-only dump)";
    case FL_IMAGE_OBK_CONFIG: return "OpenBeken configuration sector (\"CFG\")";
    case FL_IMAGE_RAW_ARM: return "plain ARM binary (no CRC blocks, not encrypted)";
    case FL_IMAGE_LOGICAL: return "logical code image (CRC16 removed, RBL headers at the partition ends)";
    case FL_IMAGE_ESP_FACTORY: return "Espressif factory image: bootloader, partition table and app, written at 0x0";
    case FL_IMAGE_ESP_APP: return "Espressif app image (goes into an app partition; no bootloader, no partition table)";
    case FL_IMAGE_ESP_BOOTLOADER: return "Espressif bootloader image (goes where the chip's ROM loads it)";
    }
    return "unrecognised file";
}

bool fl_image_kind_is_esp(fl_image_kind k)
{
    return k == FL_IMAGE_ESP_FACTORY || k == FL_IMAGE_ESP_APP || k == FL_IMAGE_ESP_BOOTLOADER;
}

static bool is_pow2(size_t n)
{
    return n && !(n & (n - 1));
}

size_t fl_image_flash_to_file(const fl_image_info *info, uint32_t flash)
{
    size_t f;
    if (info->rotated) {
        if (flash >= info->size)
            return SIZE_MAX;
        f = (flash + info->size - BOOT_PHYS % info->size) % info->size;
    } else {
        if (flash < info->flash_base)
            return SIZE_MAX;
        f = flash - info->flash_base;
    }
    return f < info->size ? f : SIZE_MAX;
}

static uint32_t file_to_flash(const fl_image_info *info, size_t off)
{
    if (info->rotated)
        return (uint32_t)((off + BOOT_PHYS) % info->size);
    return (uint32_t)(off + info->flash_base);
}

/* Known code keys, tried in this order. */
static const fl_bk_key *const known_keys[] = {&fl_bk_key_tuya, &fl_bk_key_zero, &fl_bk_key_uascent};

/* Is there a code partition start at file offset `off` whose first block
 * decrypts at logical address `logical` to ARM vectors?  *key gets the key. */
static bool code_start(const uint8_t *buf, size_t len, size_t off, uint32_t logical, fl_bk_key *key)
{
    if (off > len || len - off < FL_BK_CRC_PHYS)
        return false;
    const uint8_t *b = buf + off;
    if (fl_all_bytes(b, FL_BK_CRC_PHYS, 0xFF) || !fl_bk_crc_block_ok(b))
        return false;
    for (size_t i = 0; i < sizeof known_keys / sizeof known_keys[0]; i++) {
        uint8_t w[8];
        memcpy(w, b, 8);
        fl_bk_crypt(known_keys[i], logical, w, 8);
        if (fl_bk_is_arm_vectors(w, 8)) {
            *key = *known_keys[i];
            return true;
        }
    }
    return false;
}

/* Eight CRC-valid blocks (not all erased) at `off`: CRC-wrapped content,
 * whatever key encrypts it. */
static bool crc_grid(const uint8_t *buf, size_t len, size_t off)
{
    if (off > len || len - off < 8 * FL_BK_CRC_PHYS)
        return false;
    bool data = false;
    for (int i = 0; i < 8; i++) {
        const uint8_t *b = buf + off + (size_t)i * FL_BK_CRC_PHYS;
        if (!fl_bk_crc_block_ok(b))
            return false;
        data |= !fl_all_bytes(b, FL_BK_CRC_PHYS, 0xFF);
    }
    return data;
}

/* Is there a CRC-wrapped RBL header named `name`? */
static bool wrapped_rbl_named(const uint8_t *buf, size_t len, const char *name)
{
    const uint8_t *s = buf, *end = buf + len;
    while (s + 3 * FL_BK_CRC_PHYS <= end) {
        const uint8_t *hit = memmem(s, (size_t)(end - s), "RBL\0", 4);
        if (!hit || (size_t)(end - hit) < 3 * FL_BK_CRC_PHYS)
            return false;
        s = hit + 1;
        if (!fl_bk_crc_block_ok(hit) || !fl_bk_crc_block_ok(hit + 34) || !fl_bk_crc_block_ok(hit + 68))
            continue;
        uint8_t h[96];
        fl_rbl_header r;
        fl_bk_crc_strip(hit, 3 * FL_BK_CRC_PHYS, h, NULL);
        if (fl_rbl_parse(h, sizeof h, &r, NULL) == FL_OK && r.hdr_crc_ok && !strcmp(r.name, name))
            return true;
    }
    return false;
}

/* --- RBL headers -------------------------------------------------------------- */

static void check_package(const uint8_t *buf, size_t len, size_t start, fl_image_rbl *r)
{
    uint32_t pkg = r->h.size_package;
    size_t blocks = ((size_t)pkg + 31) / 32, phys = blocks * FL_BK_CRC_PHYS;
    if (start > len || len - start < phys || pkg == 0)
        return;
    uint8_t *p = malloc(blocks * 32);
    if (!p)
        return;
    fl_bk_crc_strip(buf + start, phys, p, NULL);
    r->data_available = true;
    r->data = fl_rbl_check_data(&r->h, p, blocks * 32);
    free(p);
}

static void add_rbl(fl_image_info *info, const uint8_t *buf, size_t len, size_t off)
{
    if (info->n_rbl >= FL_IMAGE_MAX_RBL)
        return;
    fl_image_rbl r = {0};
    r.file_offset = off;
    bool wrapped = len - off >= 3 * FL_BK_CRC_PHYS;
    for (int i = 0; wrapped && i < 3; i++) {
        const uint8_t *b = buf + off + (size_t)i * FL_BK_CRC_PHYS;
        wrapped = !fl_all_bytes(b, FL_BK_CRC_PHYS, 0xFF) && fl_bk_crc_block_ok(b);
    }
    if (wrapped) {
        uint8_t h[3 * 32];
        fl_bk_crc_strip(buf + off, 3 * FL_BK_CRC_PHYS, h, NULL);
        if (fl_rbl_parse(h, sizeof h, &r.h, NULL) != FL_OK)
            return;
        r.in_flash = true;
        /* Partition start: the latest code partition start before the header
         * on the same 34-byte grid. */
        size_t starts[2] = {info->have_boot ? info->boot_file : SIZE_MAX,
                            info->have_app ? info->app_file : SIZE_MAX};
        size_t best = SIZE_MAX;
        for (int i = 0; i < 2; i++)
            if (starts[i] != SIZE_MAX && starts[i] <= off && (best == SIZE_MAX || starts[i] > best))
                best = starts[i];
        if (best != SIZE_MAX) {
            r.partition = fl_bk_phys_to_logical(file_to_flash(info, best));
            if ((off - best) % FL_BK_CRC_PHYS != 0)
                fl_strlist_addf(&info->notes,
                                "%s RBL header at 0x%zx is off its partition's 34-byte grid by %zu bytes "
                                "(its blocks carry their own CRCs)",
                                r.h.name, off, (off - best) % FL_BK_CRC_PHYS);
            check_package(buf, len, best, &r);
        }
    } else {
        if (fl_rbl_parse(buf + off, len - off, &r.h, NULL) != FL_OK || !r.h.hdr_crc_ok)
            return; /* "RBL\0" inside code or data: not a header */
        size_t pkg = off + FL_RBL_HEADER_SIZE;
        if (off == 0 || (info->ug && off == 32)) {
            if (len - pkg >= r.h.size_package) {
                r.data_available = true;
                r.data = fl_rbl_check_data(&r.h, buf + pkg, len - pkg);
            }
        } else {
            /* Inside a CRC-stripped image that starts at logical 0 (or at the
             * app, 0x10000): the package starts at its partition start. */
            size_t start = 0;
            if (strcmp(r.h.name, "bootloader") != 0 && off >= FL_BK_APP_LOGICAL)
                for (size_t i = 0; i < info->n_rbl; i++)
                    if (info->rbl[i].logical && !strcmp(info->rbl[i].h.name, "bootloader"))
                        start = FL_BK_APP_LOGICAL; /* an image from 0: the app starts at 0x10000 */
            if (r.h.size_package > off - start)
                return; /* would overlap the header: not a partition-end header */
            r.logical = true;
            r.partition = (uint32_t)start;
            r.data_available = true;
            r.data = fl_rbl_check_data(&r.h, buf + start, len - start);
        }
    }
    info->rbl[info->n_rbl++] = r;
}

static void find_rbls(fl_image_info *info, const uint8_t *buf, size_t len)
{
    const uint8_t *s = buf, *end = buf + len;
    while (s + 4 <= end && info->n_rbl < FL_IMAGE_MAX_RBL) {
        const uint8_t *hit = memmem(s, (size_t)(end - s), "RBL\0", 4);
        if (!hit || (size_t)(end - hit) < FL_RBL_HEADER_SIZE)
            break;
        add_rbl(info, buf, len, (size_t)(hit - buf));
        s = hit + 1;
    }
}

static const fl_image_rbl *rbl_named(const fl_image_info *info, const char *name)
{
    for (size_t i = 0; i < info->n_rbl; i++)
        if (info->rbl[i].in_flash && !strcmp(info->rbl[i].h.name, name))
            return &info->rbl[i];
    return NULL;
}

/* --- OTA packages --------------------------------------------------------------- */

static void check_ota_payload(fl_image_info *info, const uint8_t *p, size_t avail, uint32_t algo)
{
    static const struct {
        const char *name, *key;
    } ota_keys[] = {
        {"OpenBeken OTA key", "0123456789ABCDEF0123456789ABCDEF"},
        {"old OpenBK7231N OTA key", "BDB4CE110F4787C2F539BF50E30A14E0"},
    };
    if (avail < 16)
        return;
    if ((algo & 0xFF) == 0) {
        if (p[0] == 0x1F && p[1] == 0x8B)
            info->ota_key = "none (gzip in clear)";
        return;
    }
    for (size_t i = 0; i < sizeof ota_keys / sizeof ota_keys[0]; i++) {
        uint8_t out[16];
        if (fl_aes256_cbc_decrypt((const uint8_t *)ota_keys[i].key, (const uint8_t *)"0123456789ABCDEF",
                                  p, out, 16) &&
            out[0] == 0x1F && out[1] == 0x8B && out[2] == 0x08) {
            info->ota_key = ota_keys[i].name;
            return;
        }
    }
    fl_strlist_addf(&info->notes, "the OTA payload does not decrypt to gzip with the known OTA keys");
}

static bool parse_ug(fl_image_info *info, const uint8_t *buf, size_t len)
{
    static const uint8_t head[4] = {0x55, 0xAA, 0x55, 0xAA}, tail[4] = {0xAA, 0x55, 0xAA, 0x55};
    if (len < 32 || memcmp(buf, head, 4) != 0)
        return false;
    if (memcmp(buf + 28, tail, 4) != 0) {
        fl_strlist_addf(&info->notes, "starts like a UG package but the header end marker is missing");
        return false;
    }
    info->ug = true;
    memcpy(info->ug_version, buf + 4, 12);
    info->ug_version[12] = '\0';
    for (char *c = info->ug_version; *c; c++)
        if (*c < 0x20 || *c > 0x7E)
            *c = '?';
    info->ug_payload_len = fl_be32(buf + 16);
    info->ug_header_sum_ok = fl_byte_sum(buf, 24) == fl_be32(buf + 24);
    if (info->ug_payload_len <= len - 32)
        info->ug_payload_sum_ok = fl_byte_sum(buf + 32, info->ug_payload_len) == fl_be32(buf + 20);
    else
        fl_strlist_addf(&info->notes, "UG payload truncated: header says %u bytes, file holds %zu",
                        info->ug_payload_len, len - 32);
    if (info->ug_payload_len > 0xA6000)
        fl_strlist_addf(&info->notes, "UG payload is larger than the 0xA6000-byte download partition");
    return true;
}

/* --- bootloader and app ------------------------------------------------------------ */

static const struct {
    const char *needle, *chip;
} boot_strings[] = {
    /* Most specific first: the BK7252N loader also names BK7238. */
    {"BK7252N", "BK7252N"}, {"BK7251", "BK7252"},     {"BK7231u", "BK7231U"},
    {"BK7231U", "BK7231U"}, {"BK7238", "BK7238"},     {"BK7231N_", "BK7231N"},
    {"BK7231S_", "BK7231T"}, {"BK7231T_", "BK7231T"},
};

static void token_at(const uint8_t *p, const uint8_t *end, char *out, size_t cap)
{
    size_t i = 0;
    while (p + i < end && i + 1 < cap && (isalnum(p[i]) || p[i] == '_' || p[i] == '.'))
        out[i] = (char)p[i], i++;
    out[i] = '\0';
}

static const char *boot_chip(const uint8_t *p, size_t len, char *version, size_t cap)
{
    for (size_t i = 0; i < sizeof boot_strings / sizeof boot_strings[0]; i++) {
        const uint8_t *hit = memmem(p, len, boot_strings[i].needle, strlen(boot_strings[i].needle));
        if (hit) {
            token_at(hit, p + len, version, cap);
            return boot_strings[i].chip;
        }
    }
    return NULL;
}

static void analyse_boot(fl_image_info *info, const uint8_t *buf, size_t len, const char **chip)
{
    size_t avail = len - info->boot_file < BOOT_PHYS ? len - info->boot_file : BOOT_PHYS;
    fl_bk_crc_check(buf + info->boot_file, avail, &info->boot_crc);
    size_t ll = fl_bk_crc_stripped_size(avail);
    uint8_t *l = malloc(ll ? ll : 1);
    if (!l)
        return;
    fl_bk_crc_strip(buf + info->boot_file, avail, l, NULL);
    info->have_fal = fl_fal_find(l, ll, &info->fal);
    if (!info->code_key_known) {
        free(l);
        return; /* strings and the key copy need the key */
    }
    fl_bk_crypt(&info->code_key, 0, l, ll);
    *chip = boot_chip(l, ll, info->boot_version, sizeof info->boot_version);
    if (*chip && !strcmp(*chip, "BK7231N") && fl_bk_key_is_bypass(&info->code_key))
        *chip = "BK7231M"; /* BK7231M and zero-key N builds run the N loader in clear */
    if (!fl_bk_key_is_bypass(&info->code_key)) {
        /* The loader keeps a copy of its key, readable only with that key (B2.2). */
        static const uint32_t copies[] = {0x48, 0x44, 0x1F08};
        for (size_t i = 0; i < 3; i++) {
            if (copies[i] + 16 > ll)
                continue;
            uint8_t k[16];
            for (int w = 0; w < 4; w++)
                fl_put_le32(k + 4 * w, info->code_key.coef[w]);
            if (!memcmp(l + copies[i], k, 16)) {
                info->key_copy_offset = copies[i];
                break;
            }
        }
    }
    free(l);
}

/* Physical length of the app container present in the file. */
static size_t app_phys_len(const fl_image_info *info, size_t len)
{
    size_t avail = len - info->app_file;
    const fl_image_rbl *app = rbl_named(info, "app");
    if (app && app->file_offset >= info->app_file) {
        size_t before = app->file_offset - info->app_file;
        /* A header off the grid (OBK's 1 MiB T QIO) ends the code blocks. */
        avail = before % FL_BK_CRC_PHYS ? before - before % FL_BK_CRC_PHYS
                                        : before + 3 * FL_BK_CRC_PHYS;
    }
    else if (info->kind == FL_IMAGE_FULL_DUMP || info->kind == FL_IMAGE_ROTATED_DUMP ||
             info->kind == FL_IMAGE_APP_DUMP) {
        uint32_t logical = 0x108700; /* T/N app partition (B4.4) */
        for (size_t i = 0; info->have_fal && i < info->fal.n; i++)
            if (!strcmp(info->fal.e[i].name, "app") && info->fal.e[i].length <= APP_LOGICAL_MAX)
                logical = info->fal.e[i].length;
        size_t phys = fl_bk_logical_to_phys(logical);
        if (phys < avail)
            avail = phys;
    }
    if (info->rotated && avail > info->size - BOOT_PHYS)
        avail = info->size - BOOT_PHYS; /* the app does not wrap into the bootloader */
    return avail;
}

static void analyse_app(fl_image_info *info, const uint8_t *buf, size_t len)
{
    size_t phys = app_phys_len(info, len);
    fl_bk_crc_check(buf + info->app_file, phys, &info->app_crc);
    if (!info->code_key_known)
        return;
    size_t ll = fl_bk_crc_stripped_size(phys);
    uint8_t *l = malloc(ll ? ll : 1);
    if (!l)
        return;
    fl_bk_crc_strip(buf + info->app_file, phys, l, NULL);
    fl_bk_crypt(&info->code_key, FL_BK_APP_LOGICAL, l, ll);
    const uint8_t *s = l, *end = l + ll;
    while (s < end) {
        const uint8_t *hit = memmem(s, (size_t)(end - s), "OpenBK", 6);
        if (!hit)
            break;
        char tok[48];
        token_at(hit, end, tok, sizeof tok);
        const char *us = strchr(tok, '_');
        /* "OpenBK7231N_1.18.300": a platform name, '_', a version digit. */
        if (us && isdigit((unsigned char)us[1]) && strncmp(tok, "OpenBK7231T_App", 15) != 0) {
            snprintf(info->obk_version, sizeof info->obk_version, "%s", tok);
            break;
        }
        s = hit + 1;
    }
    free(l);
}

/* A CRC-stripped image: strings are readable when the code is in clear. */
static void analyse_logical(fl_image_info *info, const uint8_t *buf, size_t len, const char **chip)
{
    bool from_boot = false;
    for (size_t i = 0; i < info->n_rbl; i++)
        from_boot |= info->rbl[i].logical && !strcmp(info->rbl[i].h.name, "bootloader");
    if (from_boot && fl_bk_is_arm_vectors(buf, len)) {
        *chip = boot_chip(buf, len < 0x10000 ? len : 0x10000, info->boot_version, sizeof info->boot_version);
        fl_strlist_addf(&info->notes, "code in clear (decrypted, or built with zero keys)");
    } else if (!fl_bk_is_arm_vectors(buf, len)) {
        fl_strlist_addf(&info->notes, "code not in clear: encrypted (decrypt with --addr and --key)");
    }
    size_t app = from_boot ? FL_BK_APP_LOGICAL : 0;
    if (app < len && fl_bk_is_arm_vectors(buf + app, len - app)) {
        const uint8_t *hit = memmem(buf + app, len - app, "OpenBK72", 8);
        while (hit) {
            char tok[48];
            token_at(hit, buf + len, tok, sizeof tok);
            const char *us = strchr(tok, '_');
            if (us && isdigit((unsigned char)us[1])) {
                snprintf(info->obk_version, sizeof info->obk_version, "%s", tok);
                break;
            }
            hit = memmem(hit + 1, (size_t)(buf + len - hit - 1), "OpenBK72", 8);
        }
    }
}

/* --- data partitions ------------------------------------------------------------ */

static void analyse_data(fl_image_info *info, const uint8_t *buf, size_t len)
{
    static const uint32_t rf[] = {0x1D0000, 0x1E0000};
    for (int i = 0; i < 2; i++) {
        size_t f = fl_image_flash_to_file(info, rf[i]);
        if (f != SIZE_MAX && len - f >= 0x2A && !memcmp(buf + f, "TLV\0", 4)) {
            info->have_rf = true;
            info->rf_offset = rf[i];
            memcpy(info->mac, buf + f + 0x24, 6);
            break;
        }
    }
    static const uint32_t cfg[] = {0x1D1000, 0x1E1000};
    for (int i = 0; i < 2; i++) {
        size_t f = fl_image_flash_to_file(info, cfg[i]);
        if (f != SIZE_MAX && len - f >= 4 && !memcmp(buf + f, "CFG", 3)) {
            info->have_obk_config = true;
            info->obk_config_offset = cfg[i];
        }
    }
    size_t kv;
    if (fl_tuya_kv_locate(buf, len, &kv)) {
        info->have_tuya_kv = true;
        info->tuya_kv_file_offset = kv;
        info->tuya_kv_offset = file_to_flash(info, kv);
    }
}

/* --- chip decision -------------------------------------------------------------- */

static bool n_layout(const char *chip)
{
    return !strcmp(chip, "BK7231N") || !strcmp(chip, "BK7231M");
}

/* One more piece of evidence, "; "-separated (util/error.h fl_text_appendf). */
#define add_evidence(owner, ...)                                                                  \
    fl_text_appendf((owner)->chip_evidence, sizeof (owner)->chip_evidence, "; ", __VA_ARGS__)

static const char *name_chip(const char *name, char *buf, size_t cap)
{
    if (!name)
        return NULL;
    const char *b = strrchr(name, '/');
    b = b ? b + 1 : name;
    for (const char *p = b; *p; p++) {
        if (strncasecmp(p, "bk72", 4) != 0)
            continue;
        size_t i = 0;
        while (i + 1 < cap && isalnum((unsigned char)p[i]))
            buf[i] = (char)toupper((unsigned char)p[i]), i++;
        buf[i] = '\0';
        return i >= 6 ? buf : NULL;
    }
    return NULL;
}

/* Agreement check between a named chip and a layout family. */
static void weigh(fl_image_info *info, char *chosen, size_t cap, bool n)
{
    if (!chosen[0])
        snprintf(chosen, cap, "%s", n ? "BK7231N" : "BK7231T");
    else if (n != n_layout(chosen))
        info->chip_conflict = true;
}

static void decide_chip(fl_image_info *info, const char *boot, const char *name)
{
    char chosen[16] = "";
    if (boot) {
        snprintf(chosen, sizeof chosen, "%s", boot);
        add_evidence(info, "bootloader %s", info->boot_version);
    }
    if (info->code_key_known) {
        const char *kn = fl_bk_key_name(&info->code_key);
        add_evidence(info, "code key %s", kn ? kn : "custom");
    }
    if (info->obk_version[0]) {
        char obk[16];
        snprintf(obk, sizeof obk, "%s", info->obk_version + 4);
        char *us = strchr(obk, '_');
        if (us)
            *us = '\0';
        if (!strcmp(obk, "BK7231N") && info->code_key_known && fl_bk_key_is_bypass(&info->code_key))
            snprintf(obk, sizeof obk, "BK7231M"); /* the M build reports itself as N */
        add_evidence(info, "app %s", info->obk_version);
        if (!chosen[0])
            snprintf(chosen, sizeof chosen, "%s", obk);
        else if (strcmp(chosen, obk) != 0)
            info->chip_conflict = true;
    }
    if (info->have_rf) {
        add_evidence(info, "RF calibration at 0x%X", info->rf_offset);
        weigh(info, chosen, sizeof chosen, info->rf_offset == 0x1D0000);
    }
    for (size_t i = 0; info->have_fal && i < info->fal.n; i++) {
        uint32_t d = info->fal.e[i].offset;
        if (strcmp(info->fal.e[i].name, "download") != 0)
            continue;
        add_evidence(info, "FAL download partition at 0x%X", d);
        if (d == 0x12A000 || d == 0x132000)
            weigh(info, chosen, sizeof chosen, d == 0x12A000);
    }
    char nb[16];
    const char *nc = name_chip(name, nb, sizeof nb);
    if (nc) {
        add_evidence(info, "file name says %s", nc);
        if (!chosen[0]) {
            snprintf(chosen, sizeof chosen, "%s", nc);
            info->chip_from_name = true;
        } else if (strncmp(nc, chosen, strlen(chosen)) != 0)
            fl_strlist_addf(&info->notes, "the file name says %s but the content says %s", nc, chosen);
    }
    snprintf(info->chip, sizeof info->chip, "%s", chosen);
    if (info->chip_conflict)
        fl_strlist_addf(&info->notes, "chip evidence disagrees: %s", info->chip_evidence);
}

/* --- top level ---------------------------------------------------------------------- */

/* "OpenESP32C3_1.18.300.factory.bin" → "ESP32-C3": the chip an Espressif
 * file name says, as the chip table displays it, or NULL. */
const char *fl_image_esp_chip_in_name(const char *name, char *out, size_t cap)
{
    if (!name)
        return NULL;
    const char *b = strrchr(name, '/');
    b = b ? b + 1 : name;
    for (const char *p = b; *p; p++) {
        if (strncasecmp(p, "esp", 3) != 0 || !isdigit((unsigned char)p[3]))
            continue;
        char tok[16];
        size_t i = 0;
        while (i + 1 < sizeof tok && isalnum((unsigned char)p[i]))
            tok[i] = (char)tolower((unsigned char)p[i]), i++;
        tok[i] = '\0';
        static const struct {
            const char *tok, *display;
        } names[] = {{"esp8266", "ESP8266"}, {"esp8285", "ESP8266"}, {"esp32", "ESP32"},
                     {"esp32s2", "ESP32-S2"}, {"esp32s3", "ESP32-S3"}, {"esp32c2", "ESP32-C2"},
                     {"esp32c3", "ESP32-C3"}, {"esp32c5", "ESP32-C5"}, {"esp32c6", "ESP32-C6"},
                     {"esp32c61", "ESP32-C61"}, {"esp32h2", "ESP32-H2"}, {"esp32p4", "ESP32-P4"}};
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
            if (!strcmp(tok, names[k].tok)) {
                snprintf(out, cap, "%s", names[k].display);
                return out;
            }
    }
    return NULL;
}

/* An Espressif file: the details live in info->esp; chip, evidence and
 * notes are filled like for the Beken kinds. */
static void take_esp(fl_image_info *info, const fl_esp_info *esp, const char *name)
{
    info->kind = esp->kind == FL_ESP_FACTORY ? FL_IMAGE_ESP_FACTORY
                 : esp->kind == FL_ESP_APP   ? FL_IMAGE_ESP_APP
                                             : FL_IMAGE_ESP_BOOTLOADER;
    info->esp = *esp;
    snprintf(info->chip, sizeof info->chip, "%s", esp->chip);
    snprintf(info->chip_evidence, sizeof info->chip_evidence, "%s", esp->evidence);
    /* OpenBeken's ESP-IDF build is the project "OpenBeken"; another app's
     * version is not an OpenBeken version (backups classify by it) */
    const fl_esp_image *app = &esp->app;
    if (app->app_version[0] && !strncmp(app->app_project, "OpenBeken", 9))
        snprintf(info->obk_version, sizeof info->obk_version, "%s_%s", app->app_project,
                 app->app_version);
    char nb[16];
    const char *nc = fl_image_esp_chip_in_name(name, nb, sizeof nb);
    if (nc && esp->chip[0] && strcasecmp(nc, esp->chip) != 0)
        fl_strlist_addf(&info->notes, "the file name says %s but the content says %s", nc, esp->chip);
    if (esp->error[0])
        fl_strlist_addf(&info->notes, "damaged: %s", esp->error);
    if (esp->kind == FL_ESP_FACTORY && is_pow2(info->size) && info->size >= 0x80000)
        fl_strlist_addf(&info->notes, "the size of a whole flash: probably a dump read from 0x0");
    if (esp->ptable.present && !esp->ptable.have_md5)
        fl_strlist_addf(&info->notes, "the partition table has no MD5 entry (not checked)");
}

static fl_status identify_beken(const uint8_t *buf, size_t len, const char *name,
                                fl_image_info *info, fl_error *err);

fl_status fl_image_identify(const uint8_t *buf, size_t len, const char *name, fl_image_info *info,
                            fl_error *err)
{
    memset(info, 0, sizeof *info);
    info->size = len;
    if (len == 0)
        return fl_fail(err, FL_ERR_FORMAT, "the file is empty");
    if (fl_all_bytes(buf, len, 0xFF)) {
        info->kind = FL_IMAGE_ERASED;
        return FL_OK;
    }
    /* An Espressif structure that fits wins; one that starts like it but is
     * cut or damaged only when the Beken reading finds no image either (a
     * Beken file may start with 0xE9 by chance). */
    fl_esp_info *esp = malloc(sizeof *esp);
    if (!esp)
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    bool is_esp = fl_esp_identify(buf, len, esp);
    fl_status st = FL_OK;
    if (is_esp && esp->strong) {
        take_esp(info, esp, name);
    } else {
        st = identify_beken(buf, len, name, info, err);
        if (!st && is_esp && (info->kind == FL_IMAGE_UNKNOWN || info->kind == FL_IMAGE_RAW_ARM)) {
            fl_image_info_free(info);
            memset(info, 0, sizeof *info);
            info->size = len;
            take_esp(info, esp, name);
        }
    }
    free(esp);
    return st;
}

static fl_status identify_beken(const uint8_t *buf, size_t len, const char *name,
                                fl_image_info *info, fl_error *err)
{
    if (len >= 3 && !memcmp(buf, "CFG", 3)) {
        info->kind = FL_IMAGE_OBK_CONFIG;
        return FL_OK;
    }
    if (parse_ug(info, buf, len)) {
        info->kind = FL_IMAGE_UG;
        if (len >= 32 + FL_RBL_HEADER_SIZE) {
            add_rbl(info, buf, len, 32);
            if (info->n_rbl)
                check_ota_payload(info, buf + 32 + FL_RBL_HEADER_SIZE, len - 32 - FL_RBL_HEADER_SIZE,
                                  info->rbl[0].h.algo);
            else
                fl_strlist_addf(&info->notes, "no valid RBL header after the UG header");
        }
        decide_chip(info, NULL, name);
        return FL_OK;
    }
    fl_rbl_header h;
    if (len >= FL_RBL_HEADER_SIZE && fl_rbl_parse(buf, len, &h, NULL) == FL_OK) {
        info->kind = FL_IMAGE_RBL;
        add_rbl(info, buf, len, 0);
        if (info->n_rbl)
            check_ota_payload(info, buf + FL_RBL_HEADER_SIZE, len - FL_RBL_HEADER_SIZE, h.algo);
        else
            fl_strlist_addf(&info->notes, "RBL header CRC is wrong: damaged package");
        decide_chip(info, NULL, name);
        return FL_OK;
    }

    fl_bk_key kb, ka = {{0}}, ke;
    bool unknown_key = false;
    bool boot0 = code_start(buf, len, 0, 0, &kb);
    bool app11 = len > BOOT_PHYS && code_start(buf, len, BOOT_PHYS, FL_BK_APP_LOGICAL, &ka);
    bool app0 = code_start(buf, len, 0, FL_BK_APP_LOGICAL, &ke);
    bool boot_end = is_pow2(len) && len >= 2 * BOOT_PHYS &&
                    code_start(buf, len, len - BOOT_PHYS, 0, &kb) && app0;
    if (boot0 && (app11 || len <= BOOT_PHYS)) {
        info->kind = is_pow2(len) && len >= 0x200000 ? FL_IMAGE_FULL_DUMP : FL_IMAGE_QIO;
        info->have_boot = true;
        info->boot_file = 0;
        info->have_app = app11;
        info->app_file = BOOT_PHYS;
        code_start(buf, len, 0, 0, &info->code_key);
        if (len <= BOOT_PHYS)
            fl_strlist_addf(&info->notes, "bootloader only (no app partition in the file)");
    } else if (boot_end) {
        info->kind = FL_IMAGE_ROTATED_DUMP;
        info->rotated = true;
        info->have_boot = info->have_app = true;
        info->boot_file = len - BOOT_PHYS;
        info->app_file = 0;
        info->code_key = kb;
    } else if (app0) {
        info->kind = len > UA_MAX_PHYS ? FL_IMAGE_APP_DUMP : FL_IMAGE_UA;
        info->flash_base = BOOT_PHYS;
        info->have_app = true;
        info->app_file = 0;
        info->code_key = ke;
    } else if (crc_grid(buf, len, 0)) {
        /* CRC-wrapped code that no known key turns into ARM vectors. */
        unknown_key = true;
        if (len > BOOT_PHYS && wrapped_rbl_named(buf, len, "bootloader")) {
            info->kind = is_pow2(len) && len >= 0x200000 ? FL_IMAGE_FULL_DUMP : FL_IMAGE_QIO;
            info->have_boot = true;
            info->have_app = crc_grid(buf, len, BOOT_PHYS);
            info->app_file = BOOT_PHYS;
        } else {
            info->kind = len > UA_MAX_PHYS ? FL_IMAGE_APP_DUMP : FL_IMAGE_UA;
            info->flash_base = BOOT_PHYS;
            info->have_app = true;
        }
        fl_strlist_addf(&info->notes, "the code is encrypted with an unknown key (not tuya, zero or uascent); "
                                      "give the coefficients with --key");
    }
    info->code_key_known = (info->have_boot || info->have_app) && !unknown_key;
    if (info->have_app && info->have_boot && memcmp(&ka, &info->code_key, sizeof ka) != 0 && app11)
        fl_strlist_addf(&info->notes, "bootloader and app use different code keys");

    find_rbls(info, buf, len);
    const char *boot = NULL;
    if (info->have_boot)
        analyse_boot(info, buf, len, &boot);
    if (info->have_app)
        analyse_app(info, buf, len);
    analyse_data(info, buf, len);

    bool logical = false;
    for (size_t i = 0; i < info->n_rbl; i++)
        logical |= info->rbl[i].logical;
    if (info->kind == FL_IMAGE_UNKNOWN && logical) {
        info->kind = FL_IMAGE_LOGICAL;
        analyse_logical(info, buf, len, &boot);
    } else if (info->kind == FL_IMAGE_UNKNOWN) {
        if (info->have_tuya_kv) {
            info->kind = FL_IMAGE_TUYA_CONFIG;
            info->tuya_kv_offset = (uint32_t)info->tuya_kv_file_offset; /* flash offset unknown */
        } else if (fl_bk_is_arm_vectors(buf, len) && !(len >= 34 && fl_bk_crc_block_ok(buf))) {
            info->kind = FL_IMAGE_RAW_ARM;
        }
    }
    if (info->kind == FL_IMAGE_QIO && len >= BOOT_PHYS && !rbl_named(info, "app") && info->have_app)
        fl_strlist_addf(&info->notes, "the app RBL header is not in the file (the image ends at 0x%zx)", len);
    if (info->boot_crc.bad)
        fl_strlist_addf(&info->notes, "bootloader: %zu CRC16 block(s) wrong (first at block %zu)",
                        info->boot_crc.bad, info->boot_crc.first_bad);
    if (info->app_crc.bad)
        fl_strlist_addf(&info->notes, "app: %zu CRC16 block(s) wrong (first at block %zu)",
                        info->app_crc.bad, info->app_crc.first_bad);
    decide_chip(info, boot, name);
    return FL_OK;
}

void fl_image_info_free(fl_image_info *info)
{
    fl_strlist_free(&info->notes);
}

fl_status fl_image_code_logical(const uint8_t *buf, size_t len, const fl_image_info *info,
                                uint8_t **out, size_t *out_len, uint32_t *base, fl_error *err)
{
    *out = NULL;
    *out_len = 0;
    if (!info->have_app && !info->have_boot)
        return fl_fail(err, FL_ERR_FORMAT, "%s: no bootloader or app partition found",
                       fl_image_kind_text(info->kind));
    size_t boot_phys = 0, app_phys = 0;
    if (info->have_boot)
        boot_phys = len - info->boot_file < BOOT_PHYS ? len - info->boot_file : BOOT_PHYS;
    if (info->have_app)
        app_phys = app_phys_len(info, len);
    size_t total = fl_bk_crc_stripped_size(boot_phys) + fl_bk_crc_stripped_size(app_phys);
    uint8_t *l = malloc(total ? total : 1);
    if (!l)
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    size_t o = 0;
    if (info->have_boot) {
        fl_bk_crc_strip(buf + info->boot_file, boot_phys, l, NULL);
        o = fl_bk_crc_stripped_size(boot_phys);
    }
    if (info->have_app)
        fl_bk_crc_strip(buf + info->app_file, app_phys, l + o, NULL);
    /* An app header off the grid was left out above: append it (stripped on
     * its own grid) so that the logical image still carries it. */
    const fl_image_rbl *app = rbl_named(info, "app");
    if (info->have_app && app && app->file_offset >= info->app_file &&
        (app->file_offset - info->app_file) % FL_BK_CRC_PHYS != 0) {
        uint8_t *g = realloc(l, total + 96);
        if (!g) {
            free(l);
            return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
        }
        l = g;
        fl_bk_crc_strip(buf + app->file_offset, 3 * FL_BK_CRC_PHYS, l + total, NULL);
        total += 96;
    }
    *out = l;
    *out_len = total;
    *base = info->have_boot ? 0 : FL_BK_APP_LOGICAL;
    return FL_OK;
}

/* --- JSON ------------------------------------------------------------------------- */

static json_t *hexj(uint64_t v)
{
    char s[24];
    snprintf(s, sizeof s, "0x%llX", (unsigned long long)v);
    return json_string(s);
}

static json_t *crc_json(const fl_bk_crc_report *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "blocks", json_integer((json_int_t)r->blocks));
    json_object_set_new(o, "good", json_integer((json_int_t)r->good));
    json_object_set_new(o, "erased", json_integer((json_int_t)r->erased));
    json_object_set_new(o, "bad", json_integer((json_int_t)r->bad));
    json_object_set_new(o, "first_bad_block", r->bad ? json_integer((json_int_t)r->first_bad) : json_null());
    return o;
}

static const char *data_rule_name(fl_rbl_crc_rule r)
{
    switch (r) {
    case FL_RBL_CRC_STORED: return "ok";
    case FL_RBL_CRC_PADDED: return "ok (padding rule)";
    case FL_RBL_CRC_BAD: break;
    }
    return "bad";
}

json_t *fl_image_info_json(const fl_image_info *in, bool show_mac)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "kind", json_string(fl_image_kind_name(in->kind)));
    json_object_set_new(o, "description", json_string(fl_image_kind_text(in->kind)));
    json_object_set_new(o, "size", json_integer((json_int_t)in->size));
    if (in->kind == FL_IMAGE_ROTATED_DUMP || in->flash_base)
        json_object_set_new(o, "file_offset_0_is_flash", hexj(in->rotated ? 0x11000 : in->flash_base));
    json_object_set_new(o, "chip", in->chip[0] ? json_string(in->chip) : json_null());
    json_object_set_new(o, "chip_evidence", json_string(in->chip_evidence));
    json_object_set_new(o, "chip_conflict", json_boolean(in->chip_conflict));
    if (in->code_key_known) {
        const char *kn = fl_bk_key_name(&in->code_key);
        char k[40];
        snprintf(k, sizeof k, "%08X %08X %08X %08X", in->code_key.coef[0], in->code_key.coef[1],
                 in->code_key.coef[2], in->code_key.coef[3]);
        json_object_set_new(o, "code_key", json_string(kn ? kn : k));
        json_object_set_new(o, "code_key_coefficients", json_string(k));
    }
    if (in->have_boot) {
        json_t *b = json_object();
        json_object_set_new(b, "file_offset", hexj(in->boot_file));
        json_object_set_new(b, "version", in->boot_version[0] ? json_string(in->boot_version) : json_null());
        json_object_set_new(b, "key_copy_offset", in->key_copy_offset ? hexj(in->key_copy_offset) : json_null());
        json_object_set_new(b, "crc16", crc_json(&in->boot_crc));
        json_object_set_new(o, "bootloader", b);
    }
    if (in->have_app) {
        json_t *a = json_object();
        json_object_set_new(a, "file_offset", hexj(in->app_file));
        json_object_set_new(a, "openbeken", in->obk_version[0] ? json_string(in->obk_version) : json_null());
        json_object_set_new(a, "crc16", crc_json(&in->app_crc));
        json_object_set_new(o, "app", a);
    }
    if (in->have_fal) {
        json_t *f = json_array();
        for (size_t i = 0; i < in->fal.n; i++) {
            json_t *e = json_object();
            json_object_set_new(e, "name", json_string(in->fal.e[i].name));
            json_object_set_new(e, "flash", json_string(in->fal.e[i].flash_name));
            json_object_set_new(e, "offset", hexj(in->fal.e[i].offset));
            json_object_set_new(e, "length", hexj(in->fal.e[i].length));
            json_array_append_new(f, e);
        }
        json_object_set_new(o, "partitions", f);
    }
    json_t *rb = json_array();
    for (size_t i = 0; i < in->n_rbl; i++) {
        const fl_image_rbl *r = &in->rbl[i];
        json_t *e = json_object();
        json_object_set_new(e, "file_offset", hexj(r->file_offset));
        json_object_set_new(e, "placement", json_string(r->in_flash ? "partition end (CRC blocks)" : r->logical ? "partition end (logical image)" : "file start"));
        json_object_set_new(e, "name", json_string(r->h.name));
        json_object_set_new(e, "version", json_string(r->h.version));
        json_object_set_new(e, "encryption", json_string(fl_rbl_encryption_name(r->h.algo)));
        json_object_set_new(e, "compression", json_string(fl_rbl_compression_name(r->h.algo)));
        json_object_set_new(e, "timestamp", json_integer(r->h.timestamp));
        json_object_set_new(e, "size_raw", json_integer(r->h.size_raw));
        json_object_set_new(e, "size_package", json_integer(r->h.size_package));
        json_object_set_new(e, "data_crc", hexj(r->h.data_crc));
        json_object_set_new(e, "header_crc_ok", json_boolean(r->h.hdr_crc_ok));
        json_object_set_new(e, "data_crc_ok", r->data_available ? json_boolean(r->data != FL_RBL_CRC_BAD) : json_null());
        if (r->data_available)
            json_object_set_new(e, "data_crc_result", json_string(data_rule_name(r->data)));
        if (r->in_flash || r->logical)
            json_object_set_new(e, "partition_logical", hexj(r->partition));
        json_array_append_new(rb, e);
    }
    json_object_set_new(o, "rbl", rb);
    if (in->ug) {
        json_t *u = json_object();
        json_object_set_new(u, "version", json_string(in->ug_version));
        json_object_set_new(u, "payload_length", json_integer(in->ug_payload_len));
        json_object_set_new(u, "payload_sum_ok", json_boolean(in->ug_payload_sum_ok));
        json_object_set_new(u, "header_sum_ok", json_boolean(in->ug_header_sum_ok));
        json_object_set_new(o, "ug", u);
    }
    if (in->kind == FL_IMAGE_RBL || in->kind == FL_IMAGE_UG)
        json_object_set_new(o, "ota_key", in->ota_key ? json_string(in->ota_key) : json_null());
    if (in->have_rf) {
        char mac[18];
        fl_format_mac(in->mac, show_mac, mac);
        json_object_set_new(o, "rf_calibration", hexj(in->rf_offset));
        json_object_set_new(o, "mac", json_string(mac));
    }
    if (in->have_tuya_kv)
        json_object_set_new(o, in->kind == FL_IMAGE_TUYA_CONFIG ? "tuya_kv_file_offset" : "tuya_kv",
                            hexj(in->tuya_kv_offset));
    if (in->have_obk_config)
        json_object_set_new(o, "obk_config", hexj(in->obk_config_offset));
    if (fl_image_kind_is_esp(in->kind))
        json_object_set_new(o, "esp", fl_esp_info_json(&in->esp));
    json_t *n = json_array();
    for (size_t i = 0; i < in->notes.n; i++)
        json_array_append_new(n, json_string(in->notes.items[i]));
    json_object_set_new(o, "notes", n);
    return o;
}
