/* aes.h — the two AES modes the formats need, via libcrypto (OpenSSL EVP).
 *
 * AES-128-ECB without padding decrypts the Tuya KV sectors (spec A3);
 * AES-256-CBC decrypts OBK OTA packages (B4.3).  A context is kept per key
 * so that scanning many sectors does not re-run the key schedule. */
#ifndef FL_FORMATS_AES_H
#define FL_FORMATS_AES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fl_aes_ecb {
    void *ctx; /* EVP_CIPHER_CTX */
} fl_aes_ecb;

/* Prepare AES-128-ECB decryption under `key`; false when libcrypto fails. */
bool fl_aes_ecb_init(fl_aes_ecb *a, const uint8_t key[16]);
/* Decrypt len bytes (a multiple of 16); in and out may be the same buffer. */
bool fl_aes_ecb_decrypt(fl_aes_ecb *a, const uint8_t *in, uint8_t *out, size_t len);
void fl_aes_ecb_free(fl_aes_ecb *a);

/* One-shot AES-128-ECB encryption (tests and synthetic images). */
bool fl_aes128_ecb_encrypt(const uint8_t key[16], const uint8_t *in, uint8_t *out, size_t len);

/* One-shot AES-256-CBC decryption without padding removal; len a multiple of 16. */
bool fl_aes256_cbc_decrypt(const uint8_t key[32], const uint8_t iv[16], const uint8_t *in,
                           uint8_t *out, size_t len);
bool fl_aes256_cbc_encrypt(const uint8_t key[32], const uint8_t iv[16], const uint8_t *in,
                           uint8_t *out, size_t len);

#endif
