/* placement.h — where a firmware file goes on a given chip
 * (spec tuya-config-and-beken-images.md B5.3 and B6). */
#ifndef FL_BEKEN_PLACEMENT_H
#define FL_BEKEN_PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "beken/chips.h"
#include "util/error.h"

typedef struct fl_placement {
    uint32_t flash_offset; /* where the first written byte goes */
    uint32_t file_skip;    /* bytes of the file not written (a QIO's bootloader) */
    char why[160];         /* one line for the operator */
} fl_placement;

/* explicit_offset: the caller's --offset, or -1.  Refuses files that are not
 * for this chip by name (OpenBK7231N_... on a bk7231t) unless force, OTA
 * packages (_UG_, .rbl), and unknown files without an explicit offset. */
/* data (may be NULL) lets the content decide: a rotated dump (read from
 * 0x11000 and wrapped) is refused instead of being written shifted. */
fl_status fl_place_image(const fl_chip *chip, const char *path, const uint8_t *data,
                         size_t file_len,
                         uint32_t flash_size, int64_t explicit_offset, bool allow_bootloader,
                         bool force, fl_placement *out, fl_error *err);

#endif
