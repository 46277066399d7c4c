/* tuya_kv.h — the Tuya SDK's encrypted key-value store in a BK72xx dump.
 *
 * Finds the key block anywhere in a buffer (full dump, dump saved from
 * 0x11000 or rotated, config-only region, any 4 KiB phase), derives the data
 * key with every known base string, decrypts the data sectors (AES-128-ECB),
 * picks the live copy of each block and rebuilds the values from the index
 * pages (spec tuya-config-and-beken-images.md A1-A4).
 *
 * Results are owned by the caller (fl_tuya_kv_free); there is no global
 * state, so several workers can parse at once.  Values may hold secrets:
 * this module only decodes, tuya_secrets.h decides what may be shown. */
#ifndef FL_FORMATS_TUYA_KV_H
#define FL_FORMATS_TUYA_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "formats/strlist.h"
#include "util/error.h"

#define FL_TUYA_SECTOR 4096u
#define FL_TUYA_KEY_MAGIC 0x13579753u
#define FL_TUYA_DATA_MAGIC 0x98761234u
#define FL_TUYA_DATA_MAGIC_OS3 0x135726ABu

typedef struct fl_tuya_kv_entry {
    char *name;
    uint8_t *value;   /* len bytes, plus a NUL after them for convenience */
    size_t len;       /* as rebuilt (may be shorter than declared if incomplete) */
    size_t declared;  /* length field of the index page */
    bool checksum_ok; /* byte sum of the value matches the index page */
    bool complete;    /* every referenced page was present */
    uint32_t element; /* version number of the entry */
    uint16_t block_id;
    uint8_t page;
} fl_tuya_kv_entry;

typedef struct fl_tuya_kv {
    fl_tuya_kv_entry *entries; /* in store order (block id, then page) */
    size_t n;

    size_t key_block_offset;    /* offset of the key block in the buffer */
    const char *base_string;    /* which base string derived the data key */
    uint32_t data_magic;        /* magic of the data sectors */
    size_t data_sectors;        /* valid data sectors found (including swap copies) */
    size_t live_blocks;         /* distinct block ids */
    size_t first_data_offset, last_data_offset;
    bool contiguous;            /* data sectors form one run right after the key block */
    size_t key_block_candidates;
    bool protected_block;       /* the secrets-only block of spec A5 was seen */
    size_t protected_block_offset;
    fl_strlist warnings;
} fl_tuya_kv;

/* Decode the store.  FL_ERR_FORMAT with a message that says what was
 * searched and why it failed when no store can be decoded.  On success the
 * store may still have zero entries (all index pages empty). */
fl_status fl_tuya_kv_read(const uint8_t *buf, size_t len, fl_tuya_kv *kv, fl_error *err);

/* Rebuild the values from data sectors that are already decrypted
 * (`n` sectors of 4096 bytes back to back; invalid ones are skipped, as in
 * a dump).  The step after decryption on its own: for stores decrypted
 * elsewhere, for tests and for fuzzing the page/index parser. */
fl_status fl_tuya_kv_parse_plain(const uint8_t *sectors, size_t n, fl_tuya_kv *kv, fl_error *err);

void fl_tuya_kv_free(fl_tuya_kv *kv);

/* Entry by exact name, or NULL. */
const fl_tuya_kv_entry *fl_tuya_kv_find(const fl_tuya_kv *kv, const char *name);

/* Cheap presence test (no data decryption): number of key blocks with a
 * valid checksum; *first receives the offset of the first one. */
size_t fl_tuya_kv_locate(const uint8_t *buf, size_t len, size_t *first);

/* AES-128-ECB of sixteen 0xFF bytes under the master key: the ciphertext
 * the key block carries at +0x20 (spec A2 method 1). */
extern const uint8_t fl_tuya_key_block_signature[16];

#endif
