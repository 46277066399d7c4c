/* image_policy.h — the one decision "may this file go onto this chip, and
 * where?" shared by every front end (flashline write/verify, the Lua
 * binding flashline.image.plan, the recipe steps flash and verify).
 *
 * What it offers: fl_image_plan() looks at the file's CONTENT (formats/
 * image_id.h), not only its name, and returns either a placement (flash
 * offset, bytes of the file skipped, length, a one-line why) or a refusal
 * with a status and an operator-readable message.  It is a pure function of
 * its arguments: it never touches a unit, so callers run it before
 * connecting (with the chip's default flash size) and again once the unit
 * has told its real flash size.
 *
 * Refused (spec tuya-config-and-beken-images.md B5.3, B6; issue 7):
 *   - OTA packages (_UG_, .rbl) and rotated dumps — never raw-flashed;
 *   - a code image whose content says another chip (BK7231M and BK7231N are
 *     one family), or whose chip the content cannot tell — unless force;
 *   - a name that contradicts the content (OpenBK7231N_... holding a T image,
 *     _QIO_ on something that is not a QIO image) — unless force;
 *   - wrong CRC16 blocks, a missing or damaged RBL header/package (truncated);
 *   - a file that is not a code image for any chip (random data, a config
 *     region, a CRC-stripped image) unless raw AND an explicit offset;
 *   - an explicit offset that contradicts the content (a _QIO_ image starts
 *     at 0x0, a _UA_ image or a dump read from 0x11000 at 0x11000);
 *   - a range past the end of the flash, or modifying 0x0-0x11000 without
 *     allow_bootloader on chips that guard it (not for read-only use);
 *   - with qio_whole, a _QIO_ image for a chip whose UART path would skip
 *     the bootloader, without allow_bootloader: that path writes the whole
 *     image, bootloader included, and never skips it silently.
 *
 * Espressif chips (issue 13; formats/esp_image.h):
 *   - a merged factory image (OpenESP*_<ver>.factory.bin) is placed whole at
 *     0x0; a bootloader image at the chip's bootloader offset;
 *   - an app image needs --offset, one an app partition can have (64 KiB
 *     aligned from 0x10000): the unit's partition table, not the image, says
 *     which app partition boots (see place_esp_app);
 *   - an image whose header names another ESP chip (chip ID, ESP8266 vs
 *     ESP32 format), a factory image whose bootloader sits where this chip's
 *     ROM does not look, or whose file name names another chip — unless
 *     force, as for Beken images;
 *   - a Beken file on an ESP chip and an ESP file on a Beken chip: always
 *     (another family's ROM cannot start it; force does not apply);
 *   - a damaged image (truncated, checksum, SHA-256, partition-table MD5),
 *     and a factory image whose partitions run past the flash.
 *
 * Statuses: FL_ERR_FORMAT (the file is wrong for this), FL_ERR_USAGE (raw
 * without an offset, an ESP app without one), FL_ERR_REFUSED (range or
 * bootloader guard). */
#ifndef FL_FLASH_IMAGE_POLICY_H
#define FL_FLASH_IMAGE_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flash/chips.h"
#include "formats/image_id.h"
#include "util/error.h"

typedef struct fl_image_plan_opts {
    int64_t offset;        /* explicit flash offset of the file's first byte, or -1 */
    bool raw;              /* a file that is not a code image may go at `offset` as plain data */
    bool allow_bootloader; /* permit modifying 0x0-0x11000 (a _QIO_ is then written from 0x0) */
    bool force;            /* accept an image whose content or name says another chip */
    bool read_only;        /* verify: nothing is modified, so the bootloader guard does not apply */
    bool qio_whole;        /* the path writes a _QIO_ image whole from 0x0 (a driver with
                              FL_PLACE_QIO_WHOLE, flash/driver.h: SPI, where restoring the
                              bootloader is the point); set by fl_flash_plan_image */
} fl_image_plan_opts;

/* Defaults: no offset, everything else off. */
void fl_image_plan_opts_init(fl_image_plan_opts *o);

typedef struct fl_placement {
    uint32_t flash_offset; /* where the first used byte of the file goes */
    uint32_t file_skip;    /* bytes at the start of the file not used (a QIO's bootloader) */
    uint32_t length;       /* bytes used: file length - file_skip */
    fl_image_kind kind;    /* what the content is */
    char chip[16];         /* the chip the content names ("BK7231N"), "" if it cannot tell */
    char why[200];         /* one line for the operator */
} fl_placement;

/* The largest flash `chip` can have: what range checks use before the unit
 * has told its real size (flash loaders: the 2 MiB they assume, BK7252 4 MiB
 * after its probe; ROM loaders report any 3-byte-address flash: 16 MiB). */
uint32_t fl_chip_flash_size_limit(const fl_chip *chip);

/* May `len` bytes at `off` be used on a flash of `flash_size` bytes?  Past
 * the end is refused; when `modifies`, so is 0x0-0x11000 on chips that guard
 * it unless allow_bootloader.  `what` (may be NULL) prefixes the message. */
fl_status fl_flash_range_check(const fl_chip *chip, const char *what, uint32_t off, uint64_t len,
                               uint32_t flash_size, bool modifies, bool allow_bootloader,
                               fl_error *err);

/* Decide for `data` (`len` bytes, the file called `name` — only its base
 * name is used, as a hint to compare with the content) on `chip` with a
 * flash of `flash_size` bytes.  FL_OK fills *out; otherwise err says why. */
fl_status fl_image_plan(const fl_chip *chip, const char *name, const uint8_t *data, size_t len,
                        uint32_t flash_size, const fl_image_plan_opts *opts, fl_placement *out,
                        fl_error *err);

#endif
