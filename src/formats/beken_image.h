/* beken_image.h — what to encrypt in a logical (CRC-stripped) code image.
 *
 * The code cipher covers the code only: RBL headers and the bootloader's FAL
 * partition table are stored in clear (spec B4.2, B4.4).  A "plan" lists
 * the byte ranges of a logical image that carry code: the package of every
 * RBL header found (from its partition start), minus the partition table;
 * or, with no header at all, the whole image minus the table.  Because the
 * cipher is an XOR, the same plan serves decryption and encryption, so a
 * decrypt -> encrypt round trip reproduces the original bytes. */
#ifndef FL_FORMATS_BEKEN_IMAGE_H
#define FL_FORMATS_BEKEN_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "formats/beken_crypt.h"
#include "formats/rbl.h"

#define FL_BK_BOOT_LOGICAL 0x0u
#define FL_BK_APP_LOGICAL 0x10000u  /* app partition start, logical */
#define FL_BK_APP_PHYS 0x11000u     /* ... and physical (flash offset) */
#define FL_FAL_MAGIC 0x45503130u    /* "01PE" */
#define FL_FAL_ENTRY_SIZE 64

typedef struct fl_fal_entry {
    char name[25];
    char flash_name[25];
    uint32_t offset, length;
} fl_fal_entry;

typedef struct fl_fal_table {
    fl_fal_entry e[8];
    size_t n;
    size_t pos; /* offset of the first entry in the buffer searched */
} fl_fal_table;

/* Find the FAL partition table in a (CRC-stripped, not necessarily
 * decrypted: the table is stored in clear) bootloader.  Entries must carry
 * the magic, a printable name and a flash name starting with "beken". */
bool fl_fal_find(const uint8_t *p, size_t len, fl_fal_table *t);

typedef struct fl_code_region {
    uint32_t start, len; /* logical address and length */
    char what[24];       /* "bootloader", "app", "whole image" */
    bool from_rbl;       /* length taken from an RBL header */
    fl_rbl_header rbl;   /* valid when from_rbl */
    uint32_t header_addr;
} fl_code_region;

typedef struct fl_code_plan {
    fl_code_region r[6];
    size_t n;
    bool have_fal;
    uint32_t fal_start, fal_len; /* logical range kept in clear */
} fl_code_plan;

/* Plan for `len` logical bytes whose first byte is at logical address `base`. */
void fl_code_plan_make(const uint8_t *logical, size_t len, uint32_t base, fl_code_plan *plan);

/* XOR the planned ranges with the keystream of `key`. */
void fl_code_plan_apply(const fl_code_plan *plan, const fl_bk_key *key, uint8_t *logical,
                        size_t len, uint32_t base);

/* Does any byte of [addr, addr+len) fall inside a planned code range? */
bool fl_code_plan_covers(const fl_code_plan *plan, uint32_t addr, uint32_t len);

/* Does a decrypted code start look like the ARM vector table the Beken
 * images begin with ("xx xx 00 EA 14 F0 9F E5", spec B3)? */
bool fl_bk_is_arm_vectors(const uint8_t *p, size_t len);

#endif
