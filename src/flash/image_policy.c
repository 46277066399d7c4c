/* image_policy.c — may this file go onto this chip, and where (see the header). */
#include "flash/image_policy.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

void fl_image_plan_opts_init(fl_image_plan_opts *o)
{
    memset(o, 0, sizeof *o);
    o->offset = -1;
}

static const char *base_name(const char *path)
{
    if (!path || !*path)
        return "the file";
    const char *slash = strrchr(path, '/');
    return slash && slash[1] ? slash + 1 : path;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcasecmp(s + n - m, suffix);
}

/* "OpenBK7231N_QIO_1.bin", "readResult_BK7231T_UA_x.bin" → "BK7231N" / "BK7231T". */
static bool chip_in_name(const char *name, char *out, size_t cap)
{
    for (const char *p = name; *p; p++) {
        if (strncasecmp(p, "bk72", 4) != 0)
            continue;
        size_t i = 0;
        while (i + 1 < cap && isalnum((unsigned char)p[i]))
            out[i] = (char)toupper((unsigned char)p[i]), i++;
        out[i] = '\0';
        return i >= 6;
    }
    return false;
}

/* BK7231M images run on BK7231N-class chips (zero keys) and vice versa: only
 * a different family is another chip. */
static const char *family(const char *chip)
{
    return !strcasecmp(chip, "BK7231M") ? "BK7231N" : chip;
}

static bool same_family(const char *a, const char *b)
{
    return !strcasecmp(family(a), family(b));
}

static void lower(char *dst, size_t cap, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < cap; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[i] = '\0';
}

static bool is_code_kind(fl_image_kind k)
{
    return k == FL_IMAGE_QIO || k == FL_IMAGE_FULL_DUMP || k == FL_IMAGE_UA ||
           k == FL_IMAGE_APP_DUMP;
}

/* The code kinds in a few words (fl_image_kind_text says where they go too). */
static const char *code_kind_label(fl_image_kind k)
{
    switch (k) {
    case FL_IMAGE_QIO: return "_QIO_ image";
    case FL_IMAGE_FULL_DUMP: return "full flash dump";
    case FL_IMAGE_UA: return "_UA_ image";
    case FL_IMAGE_APP_DUMP: return "dump read from 0x11000";
    case FL_IMAGE_ESP_FACTORY: return "factory image";
    case FL_IMAGE_ESP_APP: return "app image";
    case FL_IMAGE_ESP_BOOTLOADER: return "bootloader image";
    default: return fl_image_kind_text(k);
    }
}

/* Flash address of the file's first byte, by content. */
static uint32_t content_base(fl_image_kind k)
{
    return k == FL_IMAGE_UA || k == FL_IMAGE_APP_DUMP ? FL_BOOTLOADER_SIZE : 0;
}

static const fl_image_rbl *rbl_in_flash(const fl_image_info *info, const char *name)
{
    for (size_t i = 0; i < info->n_rbl; i++)
        if (info->rbl[i].in_flash && !strcmp(info->rbl[i].h.name, name))
            return &info->rbl[i];
    return NULL;
}

/* --- the checks, each returning FL_OK or a refusal ----------------------------- */

uint32_t fl_chip_flash_size_limit(const fl_chip *chip)
{
    if (chip->loader == FL_LOADER_ROM)
        return 16u << 20;
    return !strcmp(chip->name, "bk7252") ? 4u << 20 : chip->default_flash_size;
}

fl_status fl_flash_range_check(const fl_chip *chip, const char *what, uint32_t off, uint64_t len,
                               uint32_t flash_size, bool modifies, bool allow_bootloader,
                               fl_error *err)
{
    const char *sep = what ? ": " : "";
    what = what ? what : "";
    if ((uint64_t)off + len > flash_size)
        return fl_fail(err, FL_ERR_REFUSED, "%s%s0x%06X..0x%06llX is past the end of the %u KiB flash",
                       what, sep, off, (unsigned long long)off + len, flash_size / 1024);
    if (!modifies || allow_bootloader || off >= FL_BOOTLOADER_SIZE || len == 0 ||
        chip->guard == FL_GUARD_NONE)
        return FL_OK;
    if (chip->guard == FL_GUARD_BRICK)
        return fl_fail(err, FL_ERR_REFUSED,
                       "%s%srefusing to modify 0x%06X: 0x0-0x11000 holds the %s's only UART "
                       "bootloader; a wrong or partial one leaves the chip reachable only by SPI "
                       "recovery (CH341A); pass --allow-bootloader if you really mean it",
                       what, sep, off, chip->display);
    return fl_fail(err, FL_ERR_REFUSED,
                   "%s%srefusing to modify 0x%06X: 0x0-0x11000 holds the %s's flash bootloader "
                   "(keys and partition table); pass --allow-bootloader to overwrite it",
                   what, sep, off, chip->display);
}

static fl_status check_range(const fl_chip *chip, const char *name, uint32_t off, size_t len,
                             uint32_t flash_size, const fl_image_plan_opts *o, fl_error *err)
{
    return fl_flash_range_check(chip, name, off, len, flash_size, !o->read_only,
                                o->allow_bootloader, err);
}

/* Files that are never written to flash as they are. */
static fl_status check_not_ota(const char *name, const fl_image_info *info, const fl_chip *chip,
                               fl_error *err)
{
    if (info->kind == FL_IMAGE_UG || info->kind == FL_IMAGE_RBL)
        return fl_fail(err, FL_ERR_FORMAT,
                       "%s is %s: an over-the-air update, not a flash image; use the _QIO_ "
                       "image (or _UA_ on %s)",
                       name, info->kind == FL_IMAGE_UG ? "a _UG_ Tuya OTA package"
                                                       : "an RBL OTA package",
                       chip->display);
    if (info->kind == FL_IMAGE_ROTATED_DUMP)
        return fl_fail(err, FL_ERR_FORMAT,
                       "%s is a rotated dump (its read started at 0x11000 and wrapped): it does "
                       "not start at flash 0x0; restore the original order first (the last "
                       "0x11000 bytes belong in front)",
                       name);
    return FL_OK;
}

/* The chip the content names against the unit's and against the file name. */
static fl_status check_chip(const char *name, const fl_image_info *info, const fl_chip *chip,
                            const fl_image_plan_opts *o, fl_error *err)
{
    if (o->force)
        return FL_OK;
    const char *content = info->chip_from_name ? "" : info->chip;
    if (!content[0])
        return fl_fail(err, FL_ERR_FORMAT,
                       "%s: the content does not tell which chip this %s is for (%s); pass "
                       "--force to write it to the %s anyway",
                       name, fl_image_kind_name(info->kind),
                       info->code_key_known ? "no chip evidence" : "unknown code key",
                       chip->display);
    char lc[16], lu[16];
    lower(lc, sizeof lc, content);
    lower(lu, sizeof lu, chip->name);
    if (!same_family(content, chip->display))
        return fl_fail(err, FL_ERR_FORMAT,
                       "%s is a %s image (%.160s), but the chip is %s: use the image built for %s "
                       "(or --force if you are sure)",
                       name, lc, info->chip_evidence[0] ? info->chip_evidence : "by its content",
                       lu, chip->display);
    char named[24];
    if (chip_in_name(name, named, sizeof named) && !same_family(named, content))
        return fl_fail(err, FL_ERR_FORMAT,
                       "%s: the name says %s but the content is a %s image (%.160s): renamed or "
                       "mixed up? (--force if you are sure)",
                       name, named, content, info->chip_evidence);
    return FL_OK;
}

/* The name's kind (_QIO_, _UA_, OTA) must not contradict the content's. */
static fl_status check_name_kind(const char *name, const fl_image_info *info, fl_error *err)
{
    bool qio = info->kind == FL_IMAGE_QIO || info->kind == FL_IMAGE_FULL_DUMP;
    const char *says = NULL;
    if (strstr(name, "_QIO_") && !qio)
        says = "_QIO_ (bootloader + app from 0x0)";
    else if (strstr(name, "_UA_") && qio)
        says = "_UA_ (app only, at 0x11000)";
    else if (strstr(name, "_UG_") || has_suffix(name, ".rbl"))
        says = "an OTA package";
    if (!says)
        return FL_OK;
    return fl_fail(err, FL_ERR_FORMAT, "%s: the name says %s, but the content is a %s", name,
                   says, fl_image_kind_text(info->kind));
}

/* An RBL header off its partition's 34-byte grid (OBK's 1 MiB T image) leaves
 * a few bytes between the last CRC block and the header that no CRC covers:
 * they are padding, 0xFF. */
static fl_status check_gap(const char *name, const uint8_t *data, const fl_image_rbl *r,
                           size_t part_file, fl_error *err)
{
    if (r->file_offset < part_file)
        return FL_OK;
    size_t gap = (r->file_offset - part_file) % FL_BK_CRC_PHYS;
    for (size_t i = r->file_offset - gap; i < r->file_offset; i++)
        if (data[i] != 0xFF)
            return fl_fail(err, FL_ERR_FORMAT,
                           "%s is corrupt: byte 0x%zX, in the padding before the %s's RBL "
                           "header, is 0x%02X instead of 0xFF",
                           name, i, r->h.name, data[i]);
    return FL_OK;
}

/* A release image (_QIO_, _UA_) ends with the app's RBL header: the file
 * offset just past it, or 0 for other kinds (dumps hold the partitions
 * beyond the app on purpose). */
static size_t release_image_end(const fl_image_info *info)
{
    if (info->kind != FL_IMAGE_QIO && info->kind != FL_IMAGE_UA)
        return 0;
    const fl_image_rbl *app = rbl_in_flash(info, "app");
    return app ? app->file_offset + FL_RBL_HEADER_SIZE / FL_BK_CRC_DATA * FL_BK_CRC_PHYS : 0;
}

/* Anything but 0xFF after a release image's app would land beyond the app -
 * on the Tuya config, the RF calibration - with no CRC to say what it is. */
static fl_status check_trailing(const char *name, const fl_image_info *info, const uint8_t *data,
                                fl_error *err)
{
    size_t end = release_image_end(info);
    for (size_t i = end; end && i < info->size; i++)
        if (data[i] != 0xFF)
            return fl_fail(err, FL_ERR_FORMAT,
                           "%s has %zu bytes of trailing data after the app's RBL header (the "
                           "first non-0xFF at file offset 0x%zX): they would overwrite what lies "
                           "beyond the app (Tuya config, RF calibration); the file is not a clean "
                           "release image",
                           name, info->size - end, i);
    return FL_OK;
}

/* Where the bytes worth writing end: a release image's 0xFF padding after the
 * app is not written (it would erase whatever lies beyond the app - the Tuya
 * config, the RF calibration - for nothing). */
static size_t used_length(const fl_image_info *info, size_t len)
{
    size_t end = release_image_end(info);
    return end && end < len ? end : len;
}

/* CRC16 blocks and the RBL headers that close each code partition: a flipped
 * byte fails a block, a cut file lacks the header at the partition end. */
static fl_status check_intact(const char *name, const fl_image_info *info, const uint8_t *data,
                              fl_error *err)
{
    const fl_bk_crc_report *bad = info->boot_crc.bad ? &info->boot_crc
                                  : info->app_crc.bad ? &info->app_crc
                                                      : NULL;
    if (bad) {
        size_t base = bad == &info->boot_crc ? info->boot_file : info->app_file;
        return fl_fail(err, FL_ERR_FORMAT,
                       "%s fails its CRC16 block check: %zu block(s) of the %s wrong, the first "
                       "at file offset 0x%zX; the file is corrupt",
                       name, bad->bad, bad == &info->boot_crc ? "bootloader" : "app",
                       base + bad->first_bad * FL_BK_CRC_PHYS);
    }
    static const char *const parts[2] = {"bootloader", "app"};
    for (int i = 0; i < 2; i++) {
        if (i == 0 ? !info->have_boot : !info->have_app)
            continue;
        /* A whole-flash dump holds every partition; other files must end with
         * the app's header, or be cut. */
        const fl_image_rbl *r = rbl_in_flash(info, parts[i]);
        if (!r && info->kind != FL_IMAGE_FULL_DUMP)
            return fl_fail(err, FL_ERR_FORMAT,
                           "%s is truncated or damaged: the %s's RBL header (at the end of its "
                           "partition) is not in the %zu-byte file",
                           name, parts[i], info->size);
        if (r && (!r->data_available || r->data == FL_RBL_CRC_BAD))
            return fl_fail(err, FL_ERR_FORMAT,
                           "%s is %s: the %s package (%u bytes, header at file offset 0x%zX) %s",
                           name, r->data_available ? "corrupt" : "truncated", parts[i],
                           r->h.size_package, r->file_offset,
                           r->data_available ? "fails its CRC" : "is not all in the file");
        fl_status st;
        size_t part = i == 0 ? info->boot_file : info->app_file;
        if (r && (st = check_gap(name, data, r, part, err)))
            return st;
    }
    if (!info->have_app)
        return fl_fail(err, FL_ERR_FORMAT,
                       "%s is truncated: it holds only the bootloader (%zu bytes), no app", name,
                       info->size);
    return check_trailing(name, info, data, err);
}

/* --- placement ----------------------------------------------------------------- */

static fl_status place_data(const fl_chip *chip, const char *name, const fl_image_info *info,
                            const fl_image_plan_opts *o, fl_placement *out, fl_error *err)
{
    if (!o->raw || o->offset < 0) {
        const char *named = strstr(name, "_QIO_")  ? "; the name says _QIO_"
                            : strstr(name, "_UA_") ? "; the name says _UA_"
                                                   : "";
        if (o->raw)
            return fl_fail(err, FL_ERR_USAGE,
                           "%s: --raw needs --offset (where the first byte goes)", name);
        return fl_fail(err, FL_ERR_FORMAT,
                       "%s is not a flash image for %s (content: %s%s); to write it as plain "
                       "data give both --offset and --raw",
                       name, chip->display, fl_image_kind_text(info->kind), named);
    }
    out->flash_offset = (uint32_t)o->offset;
    snprintf(out->why, sizeof out->why, "plain data (%s) at 0x%06X as given (raw)",
             fl_image_kind_text(info->kind), out->flash_offset);
    return FL_OK;
}

static fl_status place_code(const fl_chip *chip, const char *name, const fl_image_info *info,
                            const fl_image_plan_opts *o, fl_placement *out, fl_error *err)
{
    uint32_t base = content_base(info->kind);
    const char *kind = code_kind_label(info->kind);
    if (o->offset >= 0) {
        if ((uint64_t)o->offset != base)
            return fl_fail(err, FL_ERR_FORMAT,
                           "%s is a %s: its first byte belongs at 0x%06X, not at --offset "
                           "0x%06llX (leave out --offset%s)%s",
                           name, kind, base, (unsigned long long)o->offset,
                           base == 0 ? ": the bootloader part is skipped where the chip needs it"
                                     : "",
                           o->raw ? "; --raw is for files that are not firmware images" : "");
        out->flash_offset = base;
        snprintf(out->why, sizeof out->why, "%s: whole file at 0x%06X as given", kind, base);
        return FL_OK;
    }
    if (base) {
        out->flash_offset = base;
        snprintf(out->why, sizeof out->why, "%s: written at 0x%06X", kind, base);
        return FL_OK;
    }
    if (o->qio_whole) {
        /* SPI: the bootloader is written too (restoring it is the point), so
         * the opt-in is asked for here rather than half the image written. */
        if (chip->qio_skips_bootloader && !o->allow_bootloader && !o->read_only)
            return fl_fail(err, FL_ERR_REFUSED,
                           "%s is a %s: over SPI the whole image, bootloader included, is "
                           "written from 0x0 (0x0-0x11000 is the %s's bootloader); add "
                           "--allow-bootloader (recipe: allow_bootloader: \"true\") to write it",
                           name, kind, chip->display);
        snprintf(out->why, sizeof out->why, "%s: written whole from 0x0 (bootloader included)",
                 kind);
        return FL_OK;
    }
    if (chip->qio_skips_bootloader && !o->allow_bootloader) {
        if (info->size <= FL_BOOTLOADER_SIZE)
            return fl_fail(err, FL_ERR_FORMAT,
                           "%s holds only the bootloader area (%zu bytes): nothing to write "
                           "after 0x11000",
                           name, info->size);
        out->flash_offset = out->file_skip = FL_BOOTLOADER_SIZE;
        snprintf(out->why, sizeof out->why,
                 "%s: bootloader kept, file from 0x11000 written at 0x11000", kind);
        return FL_OK;
    }
    snprintf(out->why, sizeof out->why, "%s: written from 0x0", kind);
    return FL_OK;
}

/* --- Espressif ---------------------------------------------------------------------- */

/* Beken code and OTA files: none of them can run on another family. */
static bool is_beken_kind(fl_image_kind k)
{
    return is_code_kind(k) || k == FL_IMAGE_ROTATED_DUMP || k == FL_IMAGE_UG ||
           k == FL_IMAGE_RBL || k == FL_IMAGE_LOGICAL;
}

/* A Beken file on an Espressif chip or an Espressif file on a Beken chip:
 * another family's ROM cannot start it, so --force does not apply. */
static fl_status refuse_family(const char *name, const fl_image_info *info, const fl_chip *chip,
                               fl_error *err)
{
    bool esp = fl_image_kind_is_esp(info->kind);
    char lc[16];
    lower(lc, sizeof lc, info->chip[0] ? info->chip : esp ? "espressif" : "beken");
    return fl_fail(err, FL_ERR_FORMAT,
                   "%s is %s %s %s (%.160s), but the chip is %s, %s: that ROM cannot start it "
                   "(--force does not apply across families); use the image built for %s",
                   name, lc[0] == 'e' ? "an" : "a", lc, code_kind_label(info->kind),
                   info->chip_evidence[0] ? info->chip_evidence : "by its content", chip->name,
                   esp ? "a Beken chip" : "an Espressif chip", chip->display);
}

/* The chip the content names (header chip ID, ESP8266 format) against the
 * unit's and against the file name, as check_chip does for Beken images. */
static fl_status check_esp_chip(const char *name, const fl_image_info *info, const fl_chip *chip,
                                const fl_image_plan_opts *o, fl_error *err)
{
    if (o->force || !info->chip[0])
        return FL_OK; /* no chip: the integrity check says why */
    char lc[16];
    lower(lc, sizeof lc, info->chip);
    if (chip->family != FL_FAMILY_ESP || info->esp.chip_id != chip->esp_image_chip_id)
        return fl_fail(err, FL_ERR_FORMAT,
                       "%s is an %s %s (%.160s), but the chip is %s: use the image built for %s "
                       "(or --force if you are sure)",
                       name, lc, code_kind_label(info->kind), info->chip_evidence, chip->name,
                       chip->display);
    char named[16];
    if (fl_image_esp_chip_in_name(name, named, sizeof named) && strcasecmp(named, info->chip))
        return fl_fail(err, FL_ERR_FORMAT,
                       "%s: the name says %s but the content is a %s image (%.160s): renamed or "
                       "mixed up? (--force if you are sure)",
                       name, named, info->chip, info->chip_evidence);
    /* the ROM loads the bootloader from one fixed offset: a factory image laid
     * out for another offset does not boot even when the chip ID agrees */
    const fl_esp_info *e = &info->esp;
    if (e->kind == FL_ESP_FACTORY && e->boot.present && e->boot_offset != chip->esp_bootloader_offset)
        return fl_fail(err, FL_ERR_FORMAT,
                       "%s has its bootloader at 0x%X, but the %s's ROM loads it from 0x%X: the "
                       "image is laid out for another chip (or --force if you are sure)",
                       name, e->boot_offset, chip->name, chip->esp_bootloader_offset);
    return FL_OK;
}

/* A factory image's partitions must fit the flash it goes on (the 1 MB and
 * 2 MB ESP8266 builds differ only there). */
static fl_status check_esp_partitions(const char *name, const fl_esp_info *e, uint32_t flash_size,
                                      fl_error *err)
{
    for (size_t i = 0; i < e->ptable.n; i++) {
        const fl_esp_partition *p = &e->ptable.e[i];
        if ((uint64_t)p->offset + p->size > flash_size)
            return fl_fail(err, FL_ERR_REFUSED,
                           "%s: its partition table puts \"%s\" at 0x%X..0x%llX, past the end of "
                           "the %u KiB flash: the image is built for a larger flash",
                           name, p->label, p->offset, (unsigned long long)p->offset + p->size,
                           flash_size / 1024);
    }
    return FL_OK;
}

static fl_status place_esp_at(const char *name, const char *kind, uint32_t base,
                              const fl_image_plan_opts *o, fl_placement *out, fl_error *err)
{
    if (o->offset >= 0 && (uint64_t)o->offset != base)
        return fl_fail(err, FL_ERR_FORMAT,
                       "%s is %s: its first byte belongs at 0x%06X, not at --offset 0x%06llX "
                       "(leave out --offset)",
                       name, kind, base, (unsigned long long)o->offset);
    out->flash_offset = base;
    return FL_OK;
}

/* An app image carries no placement: the unit's partition table decides
 * which app partition boots (factory, else ota_0, else what otadata
 * selects), and OpenBeken's web OTA writes its .img into whichever OTA slot
 * is next.  esptool's merge_bin and OpenBeken's factory images put the app at
 * 0x10000, but writing an app there on a unit whose otadata selects ota_1
 * changes nothing that boots, and on other vendors' layouts it overwrites
 * data.  So no default: the operator (or recipe) says where, and the offset
 * must be one an app partition can have (64 KiB-aligned past the partition
 * table; 4 KiB on the ESP8266 SDK's 0xEA images). */
static fl_status place_esp_app(const char *name, const fl_image_info *info,
                               const fl_image_plan_opts *o, fl_placement *out, fl_error *err)
{
    bool v2 = info->esp.app.format == FL_ESP_FMT_V2;
    uint32_t align = v2 ? 0x1000 : FL_ESP_APP_ALIGN, first = v2 ? 0x1000 : FL_ESP_APP_ALIGN;
    if (o->offset < 0)
        return fl_fail(err, FL_ERR_USAGE,
                       "%s is an Espressif app image (no bootloader, no partition table): it "
                       "belongs in an app partition whose offset only the unit's partition table "
                       "knows; give --offset (OpenBeken's factory/ota_0 partition is 0x10000), or "
                       "write the OpenESP*.factory.bin image, which is placed whole at 0x0",
                       name);
    if (o->offset < first || o->offset % align)
        return fl_fail(err, FL_ERR_FORMAT,
                       "%s is an Espressif app image: --offset 0x%06llX cannot be an app "
                       "partition (they start at a multiple of 0x%X from 0x%X; 0x0-0x10000 holds "
                       "the bootloader and the partition table)",
                       name, (unsigned long long)o->offset, align, first);
    out->flash_offset = (uint32_t)o->offset;
    snprintf(out->why, sizeof out->why, "Espressif app image (%s): at 0x%06X as given", info->chip,
             out->flash_offset);
    return FL_OK;
}

static fl_status decide_esp(const fl_chip *chip, const char *name, const fl_image_info *info,
                            uint32_t flash_size, const fl_image_plan_opts *o, fl_placement *out,
                            fl_error *err)
{
    if (chip->family == FL_FAMILY_BEKEN)
        return refuse_family(name, info, chip, err);
    const fl_esp_info *e = &info->esp;
    fl_status st = check_esp_chip(name, info, chip, o, err);
    if (st)
        return st;
    if (e->error[0])
        return fl_fail(err, FL_ERR_FORMAT, "%s is a damaged %s: %s", name,
                       code_kind_label(info->kind), e->error);
    switch (info->kind) {
    case FL_IMAGE_ESP_FACTORY:
        if ((st = check_esp_partitions(name, e, flash_size, err)) ||
            (st = place_esp_at(name, "a merged factory image", 0, o, out, err)))
            return st;
        snprintf(out->why, sizeof out->why,
                 "merged OpenESP image: bootloader at 0x%X, partition table at 0x%X, app at 0x%X",
                 e->boot_offset, FL_ESP_PTABLE_OFFSET, e->app_offset);
        return FL_OK;
    case FL_IMAGE_ESP_BOOTLOADER: {
        uint32_t base = chip->family == FL_FAMILY_ESP ? chip->esp_bootloader_offset
                                                      : fl_esp_bootloader_offset(e->chip_id);
        if ((st = place_esp_at(name, "a bootloader image", base, o, out, err)))
            return st;
        snprintf(out->why, sizeof out->why,
                 "Espressif bootloader image: written at 0x%X, where the %s ROM loads it", base,
                 info->chip);
        return FL_OK;
    }
    default:
        return place_esp_app(name, info, o, out, err);
    }
}

/* The decision for identified content, before the final range check. */
static fl_status decide(const fl_chip *chip, const char *name, const fl_image_info *info,
                        const uint8_t *data, size_t len, uint32_t flash_size, const fl_image_plan_opts *o,
                        fl_placement *out, fl_error *err)
{
    if (fl_image_kind_is_esp(info->kind))
        return decide_esp(chip, name, info, flash_size, o, out, err);
    if (chip->family == FL_FAMILY_ESP && is_beken_kind(info->kind))
        return refuse_family(name, info, chip, err);
    fl_status st = check_not_ota(name, info, chip, err);
    if (st)
        return st;
    if (!is_code_kind(info->kind)) {
        /* Plain data: where it would go is the first question (a range in the
         * bootloader or past the end is refused whether or not --raw is given). */
        if (o->offset >= 0 &&
            (st = check_range(chip, name, (uint32_t)o->offset, len, flash_size, o, err)))
            return st;
        return place_data(chip, name, info, o, out, err);
    }
    if ((st = check_chip(name, info, chip, o, err)) || (st = check_name_kind(name, info, err)) ||
        (st = check_intact(name, info, data, err)))
        return st;
    return place_code(chip, name, info, o, out, err);
}

fl_status fl_image_plan(const fl_chip *chip, const char *path, const uint8_t *data, size_t len,
                        uint32_t flash_size, const fl_image_plan_opts *o, fl_placement *out,
                        fl_error *err)
{
    const char *name = base_name(path);
    memset(out, 0, sizeof *out);
    if (len == 0 || !data)
        return fl_fail(err, FL_ERR_FORMAT, "%s is empty", name);
    if (o->offset > 0xFFFFFFFFll)
        return fl_fail(err, FL_ERR_USAGE, "%s: --offset 0x%llX is not a flash address", name,
                       (unsigned long long)o->offset);
    fl_image_info info;
    fl_error e = {0};
    fl_status st = fl_image_identify(data, len, name, &info, &e);
    if (st)
        return fl_fail(err, st, "%s: %s", name, e.msg);
    out->kind = info.kind;
    if (!info.chip_from_name)
        snprintf(out->chip, sizeof out->chip, "%s", info.chip);
    st = decide(chip, name, &info, data, len, flash_size, o, out, err);
    if (!st)
        out->length = (uint32_t)(used_length(&info, len) - out->file_skip);
    fl_image_info_free(&info);
    if (st)
        return st;
    return check_range(chip, name, out->flash_offset, out->length, flash_size, o, err);
}
