#include "beken/placement.h"

#include "formats/image_id.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* "OpenBK7231N_QIO_1.18.300.bin" → "BK7231N"; false when not an OBK name. */
static bool obk_chip_from_name(const char *name, char *out, size_t cap)
{
    if (strncmp(name, "Open", 4) != 0)
        return false;
    const char *p = name + 4, *end = strchr(p, '_');
    if (!end || (size_t)(end - p) >= cap || end - p < 4)
        return false;
    for (size_t i = 0; i < (size_t)(end - p); i++)
        out[i] = (char)toupper((unsigned char)p[i]);
    out[end - p] = '\0';
    return true;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcasecmp(s + n - m, suffix);
}

fl_status fl_place_image(const fl_chip *chip, const char *path, const uint8_t *data,
                         size_t file_len,
                         uint32_t flash_size, int64_t explicit_offset, bool allow_bootloader,
                         bool force, fl_placement *out, fl_error *err)
{
    const char *name = base_name(path);
    memset(out, 0, sizeof *out);
    char named[24];
    if (obk_chip_from_name(name, named, sizeof named) && strcmp(named, chip->display) != 0 &&
        !force)
        return fl_fail(err, FL_ERR_FORMAT,
                       "%s is built for %s, but the chip is %s: use the Open%s_... image (or "
                       "--force if the name is wrong)",
                       name, named, chip->display, chip->display);
    if (strstr(name, "_UG_") || has_suffix(name, ".rbl"))
        return fl_fail(err, FL_ERR_FORMAT,
                       "%s is an OTA package (for Tuya/OpenBeken over-the-air update), not a "
                       "flash image: use the _QIO_ image (or _UA_ on %s)",
                       name, chip->display);
    if (explicit_offset >= 0) {
        out->flash_offset = (uint32_t)explicit_offset;
        snprintf(out->why, sizeof out->why, "at 0x%06X as given", out->flash_offset);
        return FL_OK;
    }
    /* The GUI's own backups: readResult_<chip>_UA_ starts at 0x11000. */
    if (strstr(name, "_UA_")) {
        out->flash_offset = FL_BOOTLOADER_SIZE;
        snprintf(out->why, sizeof out->why, "_UA_ image / read from 0x11000: written at 0x11000");
        return FL_OK;
    }
    bool qio = strstr(name, "_QIO_") || strncmp(name, "readResult_", 11) == 0 ||
               file_len == flash_size;
    if (qio && data) {
        fl_image_info info;
        fl_error e = {0};
        bool known = fl_image_identify(data, file_len, name, &info, &e) == FL_OK;
        bool rotated = known && info.rotated;
        bool shifted = rotated || (known && info.kind == FL_IMAGE_APP_DUMP);
        if (known)
            fl_image_info_free(&info);
        if (shifted) {
            return fl_fail(err, FL_ERR_FORMAT,
                           "%s is a dump %s: it does not start at flash 0x0; give --offset "
                           "0x11000 for a dump read from there, or restore the original order "
                           "first (the last 0x11000 bytes of a rotated dump belong in front)",
                           name, rotated ? "whose read started at 0x11000 and wrapped (rotated)"
                                         : "read from 0x11000");
        }
    }
    if (qio) {
        if (chip->qio_skips_bootloader && !allow_bootloader) {
            if (file_len <= FL_BOOTLOADER_SIZE)
                return fl_fail(err, FL_ERR_FORMAT,
                               "%s holds only the bootloader area (%zu bytes): nothing to write "
                               "after 0x11000",
                               name, file_len);
            out->flash_offset = FL_BOOTLOADER_SIZE;
            out->file_skip = FL_BOOTLOADER_SIZE;
            snprintf(out->why, sizeof out->why,
                     "full/QIO image: bootloader kept, file from 0x11000 written at 0x11000");
        } else {
            snprintf(out->why, sizeof out->why, "full/QIO image: written from 0x0");
        }
        return FL_OK;
    }
    return fl_fail(err, FL_ERR_USAGE,
                   "cannot tell where %s goes (not a _QIO_/_UA_ image or a full dump): give "
                   "--offset",
                   name);
}
