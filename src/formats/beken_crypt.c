/* beken_crypt.c — keystream of the BK7231 code cipher (spec B2.1). */
#include "formats/beken_crypt.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

const fl_bk_key fl_bk_key_tuya = {{0x510FB093u, 0xA3CBEADCu, 0x5993A17Eu, 0xC7ADEB03u}};
const fl_bk_key fl_bk_key_zero = {{0, 0, 0, 0}};
const fl_bk_key fl_bk_key_uascent = {{0x4862379Au, 0x8612784Bu, 0x85C5E258u, 0x75754528u}};

static const struct {
    const char *name;
    const fl_bk_key *key;
} known_keys[] = {
    {"tuya", &fl_bk_key_tuya},
    {"default", &fl_bk_key_tuya},
    {"zero", &fl_bk_key_zero},
    {"uascent", &fl_bk_key_uascent},
};

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

bool fl_bk_key_parse(const char *s, fl_bk_key *out)
{
    if (!s)
        return false;
    for (size_t i = 0; i < sizeof known_keys / sizeof known_keys[0]; i++)
        if (!strcasecmp(s, known_keys[i].name)) {
            *out = *known_keys[i].key;
            return true;
        }
    /* Collect hex digits; separators only between whole words. */
    fl_bk_key k = {{0}};
    int digits = 0, in_word = 0;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && strlen(s) == 34)
        s += 2;
    for (const char *p = s; *p; p++) {
        int v = hexval((unsigned char)*p);
        if (v >= 0) {
            if (digits >= 32)
                return false;
            k.coef[digits / 8] = k.coef[digits / 8] << 4 | (uint32_t)v;
            digits++;
            in_word++;
        } else if (*p == ' ' || *p == ',' || *p == ':' || *p == '\t') {
            if (in_word != 0 && in_word != 8)
                return false;
            in_word = 0;
        } else {
            return false;
        }
        if (in_word == 8)
            in_word = 0;
    }
    if (digits != 32)
        return false;
    *out = k;
    return true;
}

const char *fl_bk_key_name(const fl_bk_key *k)
{
    if (!memcmp(k, &fl_bk_key_tuya, sizeof *k))
        return "tuya";
    if (!memcmp(k, &fl_bk_key_zero, sizeof *k))
        return "zero";
    if (!memcmp(k, &fl_bk_key_uascent, sizeof *k))
        return "uascent";
    return NULL;
}

bool fl_bk_key_is_bypass(const fl_bk_key *k)
{
    uint32_t c3 = k->coef[3], top = c3 >> 24;
    return top == 0x00 || top == 0xFF || (c3 & 0xF) == 0xF;
}

static inline uint32_t rotl32(uint32_t x, unsigned r)
{
    r &= 31;
    return r ? (x << r) | (x >> (32 - r)) : x;
}

static inline uint32_t rotr32(uint32_t x, unsigned r)
{
    r &= 31;
    return r ? (x >> r) | (x << (32 - r)) : x;
}

static uint32_t pn15(uint32_t c1, uint32_t c3, uint32_t a)
{
    uint32_t b3 = a >> 24 & 0xFF, b2 = a >> 16 & 0xFF, b1 = a >> 8 & 0xFF, b0 = a & 0xFF;
    uint32_t hi = (c3 >> 5 & 2) ? (b2 << 8 | b3) : (b3 << 8 | b2);
    uint32_t lo = (c3 >> 5 & 1) ? (b0 << 8 | b1) : (b1 << 8 | b0);
    uint32_t x = (hi ^ lo ^ (c1 >> 16)) & 0xFFFF;
    uint32_t rot = ((x << 9) | (x >> 7)) & 0xFFFF;
    return rot ^ (0x6371u & ((x >> 5 & 0xF) * 0x1111u));
}

static uint32_t pn16(uint32_t c1, uint32_t c3, uint32_t a)
{
    uint32_t sel = c3 >> 8 & 3;
    uint32_t mix = (c1 >> 8 & 0xFF) << 9 | (c3 >> 4 & 1) << 8 | (c1 & 0xFF);
    uint32_t y = ((a >> sel) & 0x1FFFF) ^ mix;
    uint32_t n = (y >> 13 & 1) | (y >> 9 & 1) << 1 | (y >> 5 & 1) << 2 | (y >> 1 & 1) << 3;
    uint32_t rot = (y & 0x3FF) << 7 | (y >> 10 & 0x7F);
    return rot ^ (0x13659u & ((y >> 4 & 1) << 16 | n * 0x1111u));
}

static uint32_t pn32(uint32_t c0, uint32_t c3, uint32_t a)
{
    uint32_t z = rotr32(a, 8 * (c3 >> 11 & 3)) ^ c0;
    return rotl32(z, 17) ^ (0xE519A4F1u & ((z >> 2 & 0xF) * 0x11111111u));
}

uint32_t fl_bk_keystream(const fl_bk_key *k, uint32_t addr)
{
    if (fl_bk_key_is_bypass(k))
        return 0;
    uint32_t c3 = k->coef[3], ks = 0;
    if (!(c3 & 1))
        ks ^= pn15(k->coef[1], c3, addr) << 16;
    if (!(c3 & 2))
        ks ^= pn16(k->coef[1], c3, addr) & 0xFFFF; /* masked: D1 */
    if (!(c3 & 4))
        ks ^= pn32(k->coef[0], c3, addr);
    if (!(c3 & 8))
        ks ^= k->coef[2];
    return ks;
}

void fl_bk_crypt(const fl_bk_key *k, uint32_t addr, uint8_t *buf, size_t len)
{
    if (fl_bk_key_is_bypass(k))
        return;
    size_t i = 0;
    while (i < len) {
        uint32_t a = addr + (uint32_t)i, word = a & ~3u, ks = fl_bk_keystream(k, word);
        unsigned first = a & 3;
        if (first == 0 && len - i >= 4) {
            buf[i] ^= (uint8_t)ks;
            buf[i + 1] ^= (uint8_t)(ks >> 8);
            buf[i + 2] ^= (uint8_t)(ks >> 16);
            buf[i + 3] ^= (uint8_t)(ks >> 24);
            i += 4;
            continue;
        }
        for (unsigned b = first; b < 4 && i < len; b++, i++)
            buf[i] ^= (uint8_t)(ks >> (8 * b));
    }
}
