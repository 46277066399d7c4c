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
     0x1E0000, 0x1E1000, 32, 0, 0},
    {"bk7231u", "BK7231U", FL_FAMILY_BEKEN, FL_LOADER_FLASH, FL_GUARD_BRICK, true, 0, NULL, false, 0x200000,
     0x1E0000, 0x1E1000, 32, 0, 0},
    {"bk7252", "BK7252", FL_FAMILY_BEKEN, FL_LOADER_FLASH, FL_GUARD_BRICK, true, 0, NULL, false, 0x200000,
     0x1E0000, 0x1E1000, 48, 0, 0},
    {"bk7231n", "BK7231N", FL_FAMILY_BEKEN, FL_LOADER_ROM, FL_GUARD_OPT_IN, true, 0x800000, "7231c", false,
     0x200000, 0x1D0000, 0x1D1000, 32, 0, 0},
    {"bk7231m", "BK7231M", FL_FAMILY_BEKEN, FL_LOADER_ROM, FL_GUARD_OPT_IN, true, 0x800000, "7231c", false,
     0x200000, 0x1D0000, 0x1D1000, 32, 0, 0},
    {"bk7238", "BK7238", FL_FAMILY_BEKEN, FL_LOADER_ROM, FL_GUARD_NONE, false, 0x800000, "7238", false, 0x200000,
     0x1E0000, 0x1E1000, 32, 0, 0},
    {"bk7252n", "BK7252N", FL_FAMILY_BEKEN, FL_LOADER_ROM, FL_GUARD_NONE, false, 0x800000, "7252a", false,
     0x200000, 0x1E0000, 0x1E1000, 48, 0, 0},
    {"bk7236", "BK7236", FL_FAMILY_BEKEN, FL_LOADER_ROM, FL_GUARD_NONE, false, 0x44010004, "7236", false,
     0x400000, 0x3FE000, 0, 0, 0, 0},
    {"bk7258", "BK7258", FL_FAMILY_BEKEN, FL_LOADER_ROM, FL_GUARD_NONE, false, 0x44010004, "7236", false,
     0x800000, 0x7FE000, 0, 0, 0, 0},
    /* a generic SPI NOR chip on a programmer: size and protection from its JEDEC ID */
    {"spi-nor", "SPI NOR", FL_FAMILY_SPI_NOR, FL_LOADER_ROM, FL_GUARD_NONE, false, 0, NULL, false,
     0, 0, 0, 0, 0, 0},
    /* Espressif (spec other-platforms.md §2): ROM loaders survive any flash content, so
     * nothing is guarded; OpenESP *.factory.bin images are written whole from 0x0 */
#define ESP_CHIP(n, d, id, boot)                                                                  \
    {.name = n, .display = d, .family = FL_FAMILY_ESP, .loader = FL_LOADER_ROM,                  \
     .guard = FL_GUARD_NONE, .default_flash_size = 0x400000, .esp_image_chip_id = id,           \
     .esp_bootloader_offset = boot}
    ESP_CHIP("esp8266", "ESP8266", -1, 0x0),
    ESP_CHIP("esp32", "ESP32", 0, 0x1000),
    ESP_CHIP("esp32s2", "ESP32-S2", 2, 0x1000),
    ESP_CHIP("esp32s3", "ESP32-S3", 9, 0x0),
    ESP_CHIP("esp32c2", "ESP32-C2", 12, 0x0),
    ESP_CHIP("esp32c3", "ESP32-C3", 5, 0x0),
    ESP_CHIP("esp32c6", "ESP32-C6", 13, 0x0),
#undef ESP_CHIP
};

#define N_CHIPS (sizeof chips / sizeof chips[0])
static const fl_chip *chip_list[N_CHIPS + 1]; /* filled once, NULL-terminated */
static pthread_once_t list_once = PTHREAD_ONCE_INIT;

static void build_list(void)
{
    for (size_t i = 0; i < N_CHIPS; i++)
        chip_list[i] = &chips[i];
}

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
    pthread_once(&list_once, build_list);
    return (const fl_chip *const *)chip_list;
}

/* Space-separated names from the table, built once (several station workers
 * may ask at the same time): the Beken chips, and every chip. */
static char beken_names[160], esp_names[160], all_names[320];
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
        if (chips[i].family == FL_FAMILY_ESP)
            append_name(esp_names, sizeof esp_names, chips[i].name);
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

const char *fl_chip_family_name(fl_chip_family family)
{
    switch (family) {
    case FL_FAMILY_BEKEN: return "beken";
    case FL_FAMILY_ESP: return "esp";
    case FL_FAMILY_SPI_NOR: return "spi-nor";
    }
    return "?";
}

const char *fl_chip_names_family(fl_chip_family family)
{
    pthread_once(&names_once, build_names);
    switch (family) {
    case FL_FAMILY_BEKEN: return beken_names;
    case FL_FAMILY_ESP: return esp_names;
    case FL_FAMILY_SPI_NOR: return "spi-nor";
    }
    return "";
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
