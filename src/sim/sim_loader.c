/* sim_loader.c — is the UART loader of a flash-loader chip still there?
 *
 * BK7231T/U and BK7252 keep their UART download loader ("l_boot") in flash
 * 0x0–0x11000, stored like all Beken code as 34-byte blocks (32 data bytes +
 * CRC-16/CMS) that the flash controller checks as it fetches them.  A unit
 * whose loader was erased, or whose loader holds a block with a wrong CRC,
 * never reaches its UART loader: it must not answer on UART (only SPI mode,
 * which is in silicon, still reaches its flash).  The real 2 MiB dumps in the
 * test data all pass this check; erased blocks after the loader's code are
 * padding and count as fine, but the first block (the reset vector) must hold
 * code.
 *
 * A flash the simulator creates blank is not a factory unit: such units left
 * the factory with a loader, so the simulator writes a stand-in one (valid
 * CRC blocks whose data names the simulator) unless the caller gave a file. */
#include <string.h>

#include "sim/sim_internal.h"
#include "util/crc16.h"

#define BLOCK_PHYS 34
#define BLOCK_DATA 32

static bool block_erased(const uint8_t *b)
{
    for (int i = 0; i < BLOCK_PHYS; i++)
        if (b[i] != 0xFF)
            return false;
    return true;
}

static bool block_crc_ok(const uint8_t *b)
{
    uint16_t stored = (uint16_t)(b[BLOCK_DATA] << 8 | b[BLOCK_DATA + 1]);
    return fl_crc16_cms(b, BLOCK_DATA) == stored;
}

bool sim_loader_intact(const sim_flash *f, uint32_t limit)
{
    if (limit > f->size || limit < BLOCK_PHYS || block_erased(f->mem))
        return false;
    for (uint32_t a = 0; a + BLOCK_PHYS <= limit; a += BLOCK_PHYS) {
        const uint8_t *b = f->mem + a;
        if (!block_erased(b) && !block_crc_ok(b))
            return false;
    }
    return true;
}

void sim_loader_install_standin(sim_flash *f, uint32_t limit, const char *version)
{
    static const char tag[] = "flashline simulator stand-in UART loader ";
    uint8_t data[BLOCK_DATA];
    for (uint32_t a = 0, n = 0; a + BLOCK_PHYS <= limit && a + BLOCK_PHYS <= f->size;
         a += BLOCK_PHYS, n++) {
        for (int i = 0; i < BLOCK_DATA; i++)
            data[i] = (uint8_t)tag[(n * BLOCK_DATA + (uint32_t)i) % (sizeof tag - 1)];
        if (n == 0 && version)
            strncpy((char *)data, version, BLOCK_DATA - 1);
        uint16_t crc = fl_crc16_cms(data, BLOCK_DATA);
        memcpy(f->mem + a, data, BLOCK_DATA);
        f->mem[a + BLOCK_DATA] = (uint8_t)(crc >> 8);
        f->mem[a + BLOCK_DATA + 1] = (uint8_t)crc;
    }
}
