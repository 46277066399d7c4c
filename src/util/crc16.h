/* crc16.h — CRC-16/CMS, the checksum of the Beken flash controller's 34-byte
 * code blocks (formats/beken_crc16.h builds on it; the UART simulator uses it
 * to tell whether a flash-loader chip's bootloader is intact).
 * Poly 0x8005, init 0xFFFF, no reflection, no final XOR; "123456789" → 0xAEE7. */
#ifndef FL_UTIL_CRC16_H
#define FL_UTIL_CRC16_H

#include <stddef.h>
#include <stdint.h>

uint16_t fl_crc16_cms(const void *data, size_t len);

#endif
