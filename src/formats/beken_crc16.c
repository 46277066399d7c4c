/* beken_crc16.c — CRC-16/CMS and the 34-byte block format (spec B1). */
#include "formats/beken_crc16.h"

#include <string.h>

uint32_t fl_bk_logical_to_phys(uint32_t logical)
{
    return logical + (logical / FL_BK_CRC_DATA) * 2;
}

uint32_t fl_bk_phys_to_logical(uint32_t phys)
{
    uint32_t block = phys / FL_BK_CRC_PHYS, in = phys % FL_BK_CRC_PHYS;
    if (in >= FL_BK_CRC_DATA) /* a CRC byte: belongs to no logical address */
        return (block + 1) * FL_BK_CRC_DATA;
    return block * FL_BK_CRC_DATA + in;
}

static bool all_ff(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0xFF)
            return false;
    return true;
}

static bool block_crc_matches(const uint8_t *b)
{
    uint16_t stored = (uint16_t)(b[32] << 8 | b[33]);
    return fl_crc16_cms(b, FL_BK_CRC_DATA) == stored;
}

bool fl_bk_crc_block_ok(const uint8_t *phys34)
{
    return block_crc_matches(phys34) || all_ff(phys34, FL_BK_CRC_PHYS);
}

static void account(fl_bk_crc_report *rep, const uint8_t *b, size_t index)
{
    rep->blocks++;
    if (block_crc_matches(b)) {
        rep->good++;
    } else if (all_ff(b, FL_BK_CRC_PHYS)) {
        rep->erased++;
    } else {
        if (rep->bad == 0)
            rep->first_bad = index;
        rep->bad++;
    }
}

static void report_init(fl_bk_crc_report *rep, size_t len)
{
    memset(rep, 0, sizeof *rep);
    rep->first_bad = SIZE_MAX;
    rep->tail = len % FL_BK_CRC_PHYS;
}

void fl_bk_crc_check(const uint8_t *phys, size_t len, fl_bk_crc_report *rep)
{
    report_init(rep, len);
    for (size_t i = 0; i < len / FL_BK_CRC_PHYS; i++)
        account(rep, phys + i * FL_BK_CRC_PHYS, i);
}

size_t fl_bk_crc_stripped_size(size_t phys_len)
{
    return (phys_len / FL_BK_CRC_PHYS) * FL_BK_CRC_DATA;
}

void fl_bk_crc_strip(const uint8_t *phys, size_t len, uint8_t *out, fl_bk_crc_report *rep)
{
    fl_bk_crc_report local;
    if (!rep)
        rep = &local;
    report_init(rep, len);
    for (size_t i = 0; i < len / FL_BK_CRC_PHYS; i++) {
        const uint8_t *b = phys + i * FL_BK_CRC_PHYS;
        account(rep, b, i);
        memcpy(out + i * FL_BK_CRC_DATA, b, FL_BK_CRC_DATA);
    }
}

size_t fl_bk_crc_added_size(size_t logical_len)
{
    return (logical_len + FL_BK_CRC_DATA - 1) / FL_BK_CRC_DATA * FL_BK_CRC_PHYS;
}

void fl_bk_crc_add(const uint8_t *logical, size_t len, uint8_t *out)
{
    size_t blocks = (len + FL_BK_CRC_DATA - 1) / FL_BK_CRC_DATA;
    for (size_t i = 0; i < blocks; i++) {
        uint8_t *b = out + i * FL_BK_CRC_PHYS;
        size_t n = len - i * FL_BK_CRC_DATA;
        if (n > FL_BK_CRC_DATA)
            n = FL_BK_CRC_DATA;
        memcpy(b, logical + i * FL_BK_CRC_DATA, n);
        memset(b + n, 0xFF, FL_BK_CRC_DATA - n);
        uint16_t crc = fl_crc16_cms(b, FL_BK_CRC_DATA);
        b[32] = (uint8_t)(crc >> 8);
        b[33] = (uint8_t)crc;
    }
}

void fl_bk_crc_add_block(const uint8_t in[32], uint8_t out[34], bool erased_if_ff)
{
    memmove(out, in, FL_BK_CRC_DATA);
    if (erased_if_ff && all_ff(out, FL_BK_CRC_DATA)) {
        out[32] = out[33] = 0xFF;
        return;
    }
    uint16_t crc = fl_crc16_cms(out, FL_BK_CRC_DATA);
    out[32] = (uint8_t)(crc >> 8);
    out[33] = (uint8_t)crc;
}
