#include "flash/chips.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Offsets: spec tuya-config-and-beken-images.md B5.1 (RF TLV, OBK config);
 * OBK pin layouts: ch341-spi-and-obk-config.md C.3 (BK7252/BK7252N
 * use the firmware's 48-pin group A); guards and QIO placement: B5.3 / B6; loader kinds and IDs: beken-uart.md §11. */
static const fl_chip chips[] = {
    {"bk7231t", "BK7231T", FL_FAMILY_BEKEN, FL_LOADER_FLASH, FL_GUARD_BRICK, true, 0, NULL, true, 0x200000,
     0x1E0000, 0x1E1000, 32},
    {"bk7231u", "BK7231U", FL_FAMILY_BEKEN, FL_LOADER_FLASH, FL_GUARD_BRICK, true, 0, NULL, false, 0x200000,
     0x1E0000, 0x1E1000, 32},
    {"bk7252", "BK7252", FL_FAMILY_BEKEN, FL_LOADER_FLASH, FL_GUARD_BRICK, true, 0, NULL, false, 0x200000,
     0x1E0000, 0x1E1000, 48},
    {"bk7231n", "BK7231N", FL_FAMILY_BEKEN, FL_LOADER_ROM, FL_GUARD_OPT_IN, true, 0x800000, "7231c", false,
     0x200000, 0x1D0000, 0x1D1000, 32},
    {"bk7231m", "BK7231M", FL_FAMILY_BEKEN, FL_LOADER_ROM, FL_GUARD_OPT_IN, true, 0x800000, "7231c", false,
     0x200000, 0x1D0000, 0x1D1000, 32},
    {"bk7238", "BK7238", FL_FAMILY_BEKEN, FL_LOADER_ROM, FL_GUARD_NONE, false, 0x800000, "7238", false, 0x200000,
     0x1E0000, 0x1E1000, 32},
    {"bk7252n", "BK7252N", FL_FAMILY_BEKEN, FL_LOADER_ROM, FL_GUARD_NONE, false, 0x800000, "7252a", false,
     0x200000, 0x1E0000, 0x1E1000, 48},
    {"bk7236", "BK7236", FL_FAMILY_BEKEN, FL_LOADER_ROM, FL_GUARD_NONE, false, 0x44010004, "7236", false,
     0x400000, 0x3FE000, 0, 0},
    {"bk7258", "BK7258", FL_FAMILY_BEKEN, FL_LOADER_ROM, FL_GUARD_NONE, false, 0x44010004, "7236", false,
     0x800000, 0x7FE000, 0, 0},
    /* a generic SPI NOR chip on a programmer: size and protection from its JEDEC ID */
    {"spi-nor", "SPI NOR", FL_FAMILY_SPI_NOR, FL_LOADER_ROM, FL_GUARD_NONE, false, 0, NULL, false,
     0, 0, 0, 0},
};

static const fl_chip *const chip_list[] = {&chips[0], &chips[1], &chips[2], &chips[3], &chips[4],
                                           &chips[5], &chips[6], &chips[7], &chips[8], &chips[9], NULL};

const fl_chip *fl_chip_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof chips / sizeof chips[0]; i++)
        if (!strcasecmp(chips[i].name, name))
            return &chips[i];
    return NULL;
}

const fl_chip *const *fl_chip_all(void)
{
    return chip_list;
}

/* Space-separated names from the table, built once (several station workers
 * may ask at the same time): the Beken chips, and every chip. */
static char beken_names[160], all_names[192];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void append_name(char *buf, size_t cap, const char *name)
{
    size_t n = strlen(buf);
    snprintf(buf + n, cap - n, "%s%s", n ? " " : "", name);
}

static void build_names(void)
{
    for (size_t i = 0; i < sizeof chips / sizeof chips[0]; i++) {
        if (chips[i].family == FL_FAMILY_BEKEN)
            append_name(beken_names, sizeof beken_names, chips[i].name);
        append_name(all_names, sizeof all_names, chips[i].name);
    }
}

const char *fl_chip_names(void)
{
    pthread_once(&names_once, build_names);
    return beken_names;
}

const char *fl_chip_names_all(void)
{
    pthread_once(&names_once, build_names);
    return all_names;
}

void fl_chip_id_normalise(uint32_t value, char out[16])
{
    uint8_t b[4] = {(uint8_t)(value >> 24), (uint8_t)(value >> 16), (uint8_t)(value >> 8),
                    (uint8_t)value};
    int i = 0;
    while (i < 3 && b[i] == 0)
        i++;
    if (i < 3 && b[i] == 0x01)
        i++;
    size_t o = 0;
    for (; i < 4; i++)
        o += (size_t)snprintf(out + o, 16 - o, "%02x", b[i]);
    /* "07231c" → "7231c", "007236" → "7236": no leading zeros in the GUI's strings */
    size_t z = 0;
    while (out[z] == '0' && out[z + 1])
        z++;
    memmove(out, out + z, strlen(out + z) + 1);
}

const fl_chip *fl_chip_by_id(const char *norm)
{
    for (size_t i = 0; i < sizeof chips / sizeof chips[0]; i++)
        if (chips[i].chip_id_norm && !strcmp(chips[i].chip_id_norm, norm))
            return &chips[i];
    return NULL;
}
