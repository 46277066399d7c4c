/* rbl.h — RBL container headers (RT-Thread OTA format used by Beken SDKs).
 *
 * A 96-byte header describes a firmware package: at the *end* of a code
 * partition in flash (CRC-wrapped like the code, spec B4.2), or at the
 * *start* of an OTA file `Open<chip>_<ver>.rbl` (plain, B4.3).  This module
 * parses one header, checks its own CRC-32 and the package CRC, and finds
 * headers inside a larger image. */
#ifndef FL_FORMATS_RBL_H
#define FL_FORMATS_RBL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define FL_RBL_HEADER_SIZE 96

typedef struct fl_rbl_header {
    uint32_t algo;      /* byte 0: 0 none, 1 XOR, 2 AES-256; byte 1: 0 none, 1 gzip, 2 QuickLZ, 3 FastLZ */
    uint32_t timestamp; /* Unix time */
    char name[17];      /* partition name, e.g. "app", "bootloader" (NUL-terminated copy) */
    char version[25];
    char serial[25];
    uint32_t data_crc; /* CRC-32 (zlib) of the package */
    uint32_t hash;     /* FNV-1a of the raw firmware (not validated, D15) */
    uint32_t size_raw;
    uint32_t size_package;
    uint32_t hdr_crc;  /* CRC-32 (zlib) of bytes 0..91 */
    bool hdr_crc_ok;
} fl_rbl_header;

/* Parse 96 bytes.  FL_ERR_FORMAT if the magic "RBL\0" is missing or len is
 * short; a wrong header CRC is *not* an error (see h->hdr_crc_ok). */
fl_status fl_rbl_parse(const uint8_t *p, size_t len, fl_rbl_header *h, fl_error *err);

/* Encode a header (computes hdr_crc; h->hdr_crc is updated). */
void fl_rbl_encode(fl_rbl_header *h, uint8_t out[FL_RBL_HEADER_SIZE]);

/* Does the package CRC hold?  `pkg` is the package (at least size_package
 * bytes available in `avail`, else false).  Two rules are accepted:
 * the CRC-32 of the size_package bytes as stored (OTA files), or the rule
 * observed in flash (spec B4.2): the first size_raw bytes followed by
 * (size_package - size_raw) bytes each equal to that difference. */
typedef enum fl_rbl_crc_rule {
    FL_RBL_CRC_BAD = 0,
    FL_RBL_CRC_STORED,  /* CRC over the stored bytes */
    FL_RBL_CRC_PADDED,  /* CRC over size_raw bytes + padding bytes */
} fl_rbl_crc_rule;
fl_rbl_crc_rule fl_rbl_check_data(const fl_rbl_header *h, const uint8_t *pkg, size_t avail);

const char *fl_rbl_encryption_name(uint32_t algo);
const char *fl_rbl_compression_name(uint32_t algo);

#endif
