/* rbl.c — RBL header parse/encode and CRC checks (spec B4.1, B4.2). */
#include "formats/rbl.h"

#include <string.h>
#include <zlib.h>

#include "formats/bytes.h"

static void copy_str(char *dst, size_t cap, const uint8_t *src, size_t n)
{
    size_t i = 0;
    for (; i < n && i + 1 < cap && src[i]; i++)
        dst[i] = (char)src[i];
    dst[i] = '\0';
}

static uint32_t crc32_buf(uint32_t crc, const uint8_t *p, size_t n)
{
    uLong c = crc;
    while (n > 0) {
        uInt chunk = n > 0x40000000u ? 0x40000000u : (uInt)n;
        c = crc32(c, p, chunk);
        p += chunk;
        n -= chunk;
    }
    return (uint32_t)c;
}

fl_status fl_rbl_parse(const uint8_t *p, size_t len, fl_rbl_header *h, fl_error *err)
{
    memset(h, 0, sizeof *h);
    if (len < FL_RBL_HEADER_SIZE)
        return fl_fail(err, FL_ERR_FORMAT, "RBL header truncated (%zu of 96 bytes)", len);
    if (memcmp(p, "RBL\0", 4) != 0)
        return fl_fail(err, FL_ERR_FORMAT, "no RBL header (magic \"RBL\\0\" missing)");
    h->algo = fl_le32(p + 4);
    h->timestamp = fl_le32(p + 8);
    copy_str(h->name, sizeof h->name, p + 12, 16);
    copy_str(h->version, sizeof h->version, p + 28, 24);
    copy_str(h->serial, sizeof h->serial, p + 52, 24);
    h->data_crc = fl_le32(p + 76);
    h->hash = fl_le32(p + 80);
    h->size_raw = fl_le32(p + 84);
    h->size_package = fl_le32(p + 88);
    h->hdr_crc = fl_le32(p + 92);
    h->hdr_crc_ok = crc32_buf(0, p, 92) == h->hdr_crc;
    return FL_OK;
}

static void put_str(uint8_t *dst, size_t n, const char *s)
{
    memset(dst, 0, n);
    size_t l = strlen(s);
    memcpy(dst, s, l < n ? l : n);
}

void fl_rbl_encode(fl_rbl_header *h, uint8_t out[FL_RBL_HEADER_SIZE])
{
    memset(out, 0, FL_RBL_HEADER_SIZE);
    memcpy(out, "RBL\0", 4);
    fl_put_le32(out + 4, h->algo);
    fl_put_le32(out + 8, h->timestamp);
    put_str(out + 12, 16, h->name);
    put_str(out + 28, 24, h->version);
    put_str(out + 52, 24, h->serial);
    fl_put_le32(out + 76, h->data_crc);
    fl_put_le32(out + 80, h->hash);
    fl_put_le32(out + 84, h->size_raw);
    fl_put_le32(out + 88, h->size_package);
    h->hdr_crc = crc32_buf(0, out, 92);
    h->hdr_crc_ok = true;
    fl_put_le32(out + 92, h->hdr_crc);
}

fl_rbl_crc_rule fl_rbl_check_data(const fl_rbl_header *h, const uint8_t *pkg, size_t avail)
{
    if (h->size_package > avail)
        return FL_RBL_CRC_BAD;
    if (crc32_buf(0, pkg, h->size_package) == h->data_crc)
        return FL_RBL_CRC_STORED;
    if (h->size_raw <= h->size_package && h->size_package - h->size_raw <= 255) {
        uint8_t pad[255];
        uint32_t n = h->size_package - h->size_raw;
        memset(pad, (int)n, n);
        uint32_t c = crc32_buf(crc32_buf(0, pkg, h->size_raw), pad, n);
        if (c == h->data_crc)
            return FL_RBL_CRC_PADDED;
    }
    return FL_RBL_CRC_BAD;
}

const char *fl_rbl_encryption_name(uint32_t algo)
{
    switch (algo & 0xFF) {
    case 0: return "none";
    case 1: return "xor";
    case 2: return "aes256";
    }
    return "unknown";
}

const char *fl_rbl_compression_name(uint32_t algo)
{
    switch (algo >> 8 & 0xFF) {
    case 0: return "none";
    case 1: return "gzip";
    case 2: return "quicklz";
    case 3: return "fastlz";
    }
    return "unknown";
}
