/* crc32.h — the CRC the Beken loaders compute (spec beken-uart.md §8.1).
 *
 * Reflected CRC-32/IEEE, init 0xFFFFFFFF, *no* final XOR: the device value is
 * the bitwise complement of zlib's crc32().  "123456789" → 0x340BC6D9. */
#ifndef FL_UTIL_CRC32_H
#define FL_UTIL_CRC32_H

#include <stddef.h>
#include <stdint.h>

#define FL_BEKEN_CRC_INIT 0xFFFFFFFFu

/* Continue a running device-style register over more data. */
uint32_t fl_beken_crc_update(uint32_t reg, const void *data, size_t len);

/* Device value over one buffer (init 0xFFFFFFFF). */
uint32_t fl_beken_crc(const void *data, size_t len);

/* Device value over `len` bytes of 0xFF, without a buffer. */
uint32_t fl_beken_crc_ff(size_t len);

#endif
