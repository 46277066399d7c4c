/* beken_crypt.h — the BK7231 address-dependent code cipher.
 *
 * Code in the bootloader and app partitions is stored XORed with a keystream
 * that depends only on four 32-bit coefficients (kept in eFuse) and the
 * word's logical address (CRC bytes removed).  Encryption and decryption are
 * the same operation (spec tuya-config-and-beken-images.md B2).  Where the
 * reference tools disagree (PN16 carry, D1) this follows the masked rule of
 * the hardware description. */
#ifndef FL_FORMATS_BEKEN_CRYPT_H
#define FL_FORMATS_BEKEN_CRYPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fl_bk_key {
    uint32_t coef[4];
} fl_bk_key;

/* Known coefficient sets (B2.2). */
extern const fl_bk_key fl_bk_key_tuya;    /* 510FB093 A3CBEADC 5993A17E C7ADEB03: T/U and Tuya N */
extern const fl_bk_key fl_bk_key_zero;    /* all zero: BK7231M, "zero keys" N (plaintext) */
extern const fl_bk_key fl_bk_key_uascent; /* 4862379A 8612784B 85C5E258 75754528 */

/* Parse a key: a known name ("tuya"/"default", "zero", "uascent"), four
 * 8-digit hex words separated by spaces, commas or colons, or 32 hex digits
 * (coef0 first, each word written most significant digit first). */
bool fl_bk_key_parse(const char *s, fl_bk_key *out);

/* Name of a known key ("tuya", "zero", "uascent") or NULL. */
const char *fl_bk_key_name(const fl_bk_key *k);

/* True when the coefficients switch the cipher off (data stored in clear). */
bool fl_bk_key_is_bypass(const fl_bk_key *k);

/* Keystream word for the logical byte address `addr` (multiple of 4). */
uint32_t fl_bk_keystream(const fl_bk_key *k, uint32_t addr);

/* XOR `len` bytes in place, the first of which sits at logical address
 * `addr`.  Words are little-endian; any alignment and length are handled
 * (a partial word uses the matching bytes of its keystream word). */
void fl_bk_crypt(const fl_bk_key *k, uint32_t addr, uint8_t *buf, size_t len);

#endif
