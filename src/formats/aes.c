/* aes.c — thin EVP wrappers (no padding: every format here uses whole blocks). */
#include "formats/aes.h"

#include <limits.h>
#include <openssl/evp.h>

static bool update_all(EVP_CIPHER_CTX *c, const uint8_t *in, uint8_t *out, size_t len)
{
    while (len > 0) {
        int chunk = len > (size_t)(INT_MAX & ~15) ? (INT_MAX & ~15) : (int)len, got = 0;
        if (EVP_CipherUpdate(c, out, &got, in, chunk) != 1 || got != chunk)
            return false;
        in += chunk;
        out += chunk;
        len -= (size_t)chunk;
    }
    return true;
}

bool fl_aes_ecb_init(fl_aes_ecb *a, const uint8_t key[16])
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    a->ctx = c;
    if (!c)
        return false;
    if (EVP_DecryptInit_ex(c, EVP_aes_128_ecb(), NULL, key, NULL) != 1 ||
        EVP_CIPHER_CTX_set_padding(c, 0) != 1) {
        EVP_CIPHER_CTX_free(c);
        a->ctx = NULL;
        return false;
    }
    return true;
}

bool fl_aes_ecb_decrypt(fl_aes_ecb *a, const uint8_t *in, uint8_t *out, size_t len)
{
    if (!a->ctx || len % 16)
        return false;
    return update_all(a->ctx, in, out, len);
}

void fl_aes_ecb_free(fl_aes_ecb *a)
{
    EVP_CIPHER_CTX_free(a->ctx);
    a->ctx = NULL;
}

static bool one_shot(const EVP_CIPHER *cipher, int enc, const uint8_t *key, const uint8_t *iv,
                     const uint8_t *in, uint8_t *out, size_t len)
{
    if (len % 16)
        return false;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (!c)
        return false;
    bool ok = EVP_CipherInit_ex(c, cipher, NULL, key, iv, enc) == 1 &&
              EVP_CIPHER_CTX_set_padding(c, 0) == 1 && update_all(c, in, out, len);
    EVP_CIPHER_CTX_free(c);
    return ok;
}

bool fl_aes128_ecb_encrypt(const uint8_t key[16], const uint8_t *in, uint8_t *out, size_t len)
{
    return one_shot(EVP_aes_128_ecb(), 1, key, NULL, in, out, len);
}

bool fl_aes256_cbc_decrypt(const uint8_t key[32], const uint8_t iv[16], const uint8_t *in,
                           uint8_t *out, size_t len)
{
    return one_shot(EVP_aes_256_cbc(), 0, key, iv, in, out, len);
}

bool fl_aes256_cbc_encrypt(const uint8_t key[32], const uint8_t iv[16], const uint8_t *in,
                           uint8_t *out, size_t len)
{
    return one_shot(EVP_aes_256_cbc(), 1, key, iv, in, out, len);
}
