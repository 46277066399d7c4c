#include "util/crc32.h"

#include <string.h>
#include <zlib.h>

uint32_t fl_beken_crc_update(uint32_t reg, const void *data, size_t len)
{
    /* zlib keeps the final-XORed value between calls, the device keeps the
     * raw register: complement on the way in and out. */
    uLong z = ~reg & 0xFFFFFFFFu;
    const unsigned char *p = data;
    while (len > 0) {
        uInt chunk = len > 0x40000000u ? 0x40000000u : (uInt)len;
        z = crc32(z, p, chunk);
        p += chunk;
        len -= chunk;
    }
    return ~(uint32_t)z;
}

uint32_t fl_beken_crc(const void *data, size_t len)
{
    return fl_beken_crc_update(FL_BEKEN_CRC_INIT, data, len);
}

uint32_t fl_beken_crc_ff(size_t len)
{
    unsigned char ff[4096];
    memset(ff, 0xFF, sizeof ff);
    uint32_t reg = FL_BEKEN_CRC_INIT;
    while (len > 0) {
        size_t n = len < sizeof ff ? len : sizeof ff;
        reg = fl_beken_crc_update(reg, ff, n);
        len -= n;
    }
    return reg;
}
