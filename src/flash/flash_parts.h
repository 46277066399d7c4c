/* flash_parts.h — SPI NOR parts seen on Beken modules: JEDEC ID → name, size
 * and how to clear block protection (spec beken-uart.md §10.5, the GUI's table). */
#ifndef FL_FLASH_FLASH_PARTS_H
#define FL_FLASH_FLASH_PARTS_H

#include <stdbool.h>
#include <stddef.h>
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

/* ---- the GUI tool's SPI flash info list (CH341A SPI paths) ----------------
 * spec ch341-spi-and-obk-config.md Appendix 1: 274 parts, name, vendor and
 * size by JEDEC ID.  Info only: it says nothing about geometry (every part is
 * taken as 256-byte pages and 4 KiB sectors) nor protection.  The list above
 * (fl_flash_part_find) is the BK SDK's and stays what the UART driver uses. */
typedef struct fl_spi_part {
    uint8_t jedec[3]; /* manufacturer, memory type, capacity code */
    const char *name;
    const char *vendor;
    uint32_t size;
} fl_spi_part;

/* NULL when the ID is not in the list. */
const fl_spi_part *fl_spi_part_find(const uint8_t jedec[3]);
/* The list, for tests and `--help`: count and i-th entry (source order). */
size_t fl_spi_part_count(void);
const fl_spi_part *fl_spi_part_at(size_t i);

/* Where a part keeps its block-protection bits (spec B.7.1, the BK SDK's
 * flash table; else derived from the BK list above). */
typedef struct fl_spi_sr_layout {
    bool known;           /* false: nothing known, use the generic escalation */
    uint8_t sr_bytes;     /* 1: SR1 only; 2: SR1 + SR2 (read 0x35) */
    uint8_t protect_mask; /* SR1 bits of the protect field: 0x7C (BP0-BP4), 0x3C (BP0-BP3) */
    uint8_t cmp_bit;      /* SR2 bit that complements the field (0x40), 0 = none */
} fl_spi_sr_layout;

void fl_spi_sr_layout_find(const uint8_t jedec[3], fl_spi_sr_layout *out);

/* How the size of a flash was told from its JEDEC ID (spec B.8, the stricter
 * rule: table size if the ID is known, else 1 << capacity only for capacity
 * bytes 0x10..0x19, i.e. 64 KiB to 32 MiB). */
typedef enum fl_jedec_size_rule {
    FL_JEDEC_SIZE_TABLE,    /* a table knows the part */
    FL_JEDEC_SIZE_CAPACITY, /* 1 << capacity byte */
    FL_JEDEC_SIZE_UNKNOWN,  /* a real-looking ID whose size cannot be told */
    FL_JEDEC_NO_CHIP,       /* manufacturer 0x00 or 0xFF: no chip, or MISO stuck */
} fl_jedec_size_rule;

/* *size is 0 unless the rule is TABLE or CAPACITY. */
fl_jedec_size_rule fl_jedec_flash_size(const uint8_t jedec[3], uint32_t *size);

#endif
