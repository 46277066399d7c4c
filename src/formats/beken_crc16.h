/* beken_crc16.h — the 34-byte CRC blocks of Beken code partitions.
 *
 * The bootloader and app partitions of BK72xx flash are stored as 34-byte
 * "physical" blocks: 32 data bytes followed by a CRC-16/CMS of those bytes,
 * big-endian (spec tuya-config-and-beken-images.md B1).  The flash controller
 * checks and strips them on the fly, so everything the CPU sees (and the code
 * cipher of beken_crypt.h) uses "logical" addresses without the CRC bytes.
 *
 * This module offers the CRC itself, logical <-> physical address
 * conversion and check / strip / add over whole buffers.  No allocation: the
 * caller sizes the output with the *_size helpers. */
#ifndef FL_FORMATS_BEKEN_CRC16_H
#define FL_FORMATS_BEKEN_CRC16_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/crc16.h" /* fl_crc16_cms */
#include "util/error.h"

#define FL_BK_CRC_DATA 32 /* data bytes per block */
#define FL_BK_CRC_PHYS 34 /* data + big-endian CRC16 */


/* physical = logical + (logical / 32) * 2 and the inverse.  Both are exact
 * only for addresses on the data part of a block; phys_to_logical maps a
 * CRC byte to the start of the next block's data. */
uint32_t fl_bk_logical_to_phys(uint32_t logical);
uint32_t fl_bk_phys_to_logical(uint32_t phys);

typedef struct fl_bk_crc_report {
    size_t blocks;    /* whole 34-byte blocks examined */
    size_t good;      /* CRC correct */
    size_t erased;    /* all 34 bytes 0xFF: erased flash, not an error */
    size_t bad;       /* CRC wrong */
    size_t first_bad; /* index of the first bad block, or SIZE_MAX */
    size_t tail;      /* bytes after the last whole block (0..33) */
} fl_bk_crc_report;

/* Check every whole block of a physical buffer.  Never fails; look at
 * rep->bad / rep->tail. */
void fl_bk_crc_check(const uint8_t *phys, size_t len, fl_bk_crc_report *rep);

/* Does block `i` of `phys` carry a correct CRC (erased counts as correct)? */
bool fl_bk_crc_block_ok(const uint8_t *phys34);

/* Bytes fl_bk_crc_strip writes for `phys_len` input bytes: 32 per whole
 * block (a trailing partial block is dropped). */
size_t fl_bk_crc_stripped_size(size_t phys_len);

/* Remove the CRC bytes: out gets fl_bk_crc_stripped_size(len) bytes.  Blocks
 * with a bad CRC are copied anyway and counted in rep (may be NULL); the
 * caller decides whether that is fatal.  out must not overlap phys. */
void fl_bk_crc_strip(const uint8_t *phys, size_t len, uint8_t *out, fl_bk_crc_report *rep);

/* Bytes fl_bk_crc_add writes for `logical_len` input bytes: the data is
 * padded with 0xFF to a multiple of 32, then 34 bytes per block. */
size_t fl_bk_crc_added_size(size_t logical_len);

/* Add CRC bytes; a trailing partial block is padded with 0xFF first (what
 * erased flash would hold).  out must not overlap logical. */
void fl_bk_crc_add(const uint8_t *logical, size_t len, uint8_t *out);

/* One block: 32 data bytes -> 34 bytes.  With erased_if_ff an all-0xFF block
 * is written as 34 x 0xFF, the way erased flash (and the Beken packager's
 * padding between a package and its RBL header) looks; use it only outside
 * code, since the flash controller would see a wrong CRC there. */
void fl_bk_crc_add_block(const uint8_t in[32], uint8_t out[34], bool erased_if_ff);

#endif
