/* flash_parts.h — SPI NOR parts seen on Beken modules: JEDEC ID → name, size
 * and how to clear block protection (spec beken-uart.md §10.5, the GUI's table). */
#ifndef FL_FLASH_FLASH_PARTS_H
#define FL_FLASH_FLASH_PARTS_H

#include <stdint.h>

typedef struct fl_flash_part {
    uint8_t jedec[3]; /* manufacturer, memory type, capacity code (wire order) */
    const char *name;
    const char *vendor;
    uint32_t size;
    uint8_t sr_bytes;   /* status-register bytes to read/write (0 = none) */
    uint16_t sr_mask;   /* protection bits (BP*, CMP...) in the composed 16-bit SR */
    uint8_t sr_read[3]; /* read opcodes per SR byte (0x05, 0x35, 0x15) */
} fl_flash_part;

/* NULL when the ID is unknown. */
const fl_flash_part *fl_flash_part_find(const uint8_t jedec[3]);

#endif
