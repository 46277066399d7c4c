/* crc16.c — CRC-16/CMS (see crc16.h). */
#include "util/crc16.h"

#include <pthread.h>

/* Byte table for the MSB-first CRC with poly 0x8005, filled once
 * (pthread_once: several station workers may checksum at the same time). */
static uint16_t crc_table[256];
static pthread_once_t crc_table_once = PTHREAD_ONCE_INIT;

static void crc_table_init(void)
{
    for (unsigned i = 0; i < 256; i++) {
        uint16_t c = (uint16_t)(i << 8);
        for (int b = 0; b < 8; b++)
            c = (uint16_t)((c & 0x8000) ? (c << 1) ^ 0x8005 : c << 1);
        crc_table[i] = c;
    }
}

static uint16_t crc16(const uint8_t *p, size_t len)
{
    uint16_t crc = 0xFFFF;
    for (size_t i = 0; i < len; i++)
        crc = (uint16_t)((crc << 8) ^ crc_table[((crc >> 8) ^ p[i]) & 0xFF]);
    return crc;
}

uint16_t fl_crc16_cms(const void *data, size_t len)
{
    pthread_once(&crc_table_once, crc_table_init);
    return crc16(data, len);
}
