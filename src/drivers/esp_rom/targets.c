/* targets.c — per-chip ROM facts (targets.h), from esptool's target classes. */
#include "drivers/esp_rom/targets.h"

#include <stddef.h>
#include <string.h>

/* C3-style SPI controller layout: usr 0x18, usr1 0x1C, usr2 0x20, dlen 0x24/0x28, W0 0x58 */
#define SPI_C3(base) .spi_base = (base), .spi_usr = 0x18, .spi_usr1 = 0x1C, .spi_usr2 = 0x20, \
                     .spi_mosi_dlen = 0x24, .spi_miso_dlen = 0x28, .spi_w0 = 0x58

static const esp_target targets[] = {
    {.name = "esp8266", .display = "ESP8266", .chip_id = -1, .magic = {0xFFF0C101},
     .is_8266 = true, .spi_base = 0x60000200, .spi_usr = 0x1C, .spi_usr1 = 0x20,
     .spi_usr2 = 0x24, .spi_w0 = 0x40, .mac = ESP_MAC_8266, .boot_pin = "GPIO0"},
    {.name = "esp32", .display = "ESP32", .chip_id = 0, .magic = {0x00F01D83},
     .spi_base = 0x3FF42000, .spi_usr = 0x1C, .spi_usr1 = 0x20, .spi_usr2 = 0x24,
     .spi_mosi_dlen = 0x28, .spi_miso_dlen = 0x2C, .spi_w0 = 0x80, .mac = ESP_MAC_ESP32,
     .mac_reg = 0x3FF5A000, .efuse_crypt_cnt_reg = 0x3FF5A000, .efuse_crypt_cnt_mask = 0x7Fu << 20,
     .efuse_secure_boot_reg = 0x3FF5A018, .efuse_secure_boot_mask = 1u << 4, .boot_pin = "GPIO0"},
    {.name = "esp32s2", .display = "ESP32-S2", .chip_id = 2, .magic = {0x000007C6},
     .begin_has_encrypt = true, .security_info = true, SPI_C3(0x3F402000),
     .mac = ESP_MAC_WORDS, .mac_reg = 0x3F41A044, .boot_pin = "GPIO0"},
    {.name = "esp32s3", .display = "ESP32-S3", .chip_id = 9, .magic = {0x00000009},
     .begin_has_encrypt = true, .security_info = true, .chip_id_in_secinfo = true,
     SPI_C3(0x60002000), .mac = ESP_MAC_WORDS, .mac_reg = 0x60007044, .boot_pin = "GPIO0"},
    {.name = "esp32c2", .display = "ESP32-C2", .chip_id = 12, .magic = {0x6F51306F, 0x7C41A06F},
     .begin_has_encrypt = true, .security_info = true, .chip_id_in_secinfo = true,
     SPI_C3(0x60002000), .mac = ESP_MAC_WORDS, .mac_reg = 0x60008840, .boot_pin = "GPIO9"},
    {.name = "esp32c3", .display = "ESP32-C3", .chip_id = 5,
     .magic = {0x6921506F, 0x1B31506F, 0x4881606F, 0x4361606F}, .begin_has_encrypt = true,
     .security_info = true, .chip_id_in_secinfo = true, SPI_C3(0x60002000),
     .mac = ESP_MAC_WORDS, .mac_reg = 0x60008844, .boot_pin = "GPIO9"},
    {.name = "esp32c6", .display = "ESP32-C6", .chip_id = 13, .magic = {0x2CE0806F},
     .begin_has_encrypt = true, .security_info = true, .chip_id_in_secinfo = true,
     SPI_C3(0x60003000), .mac = ESP_MAC_WORDS, .mac_reg = 0x600B0844, .boot_pin = "GPIO9"},
};

#define NTARGETS (sizeof targets / sizeof targets[0])

const esp_target *esp_target_find(const char *name)
{
    for (size_t i = 0; name && i < NTARGETS; i++)
        if (!strcmp(targets[i].name, name))
            return &targets[i];
    return NULL;
}

const esp_target *esp_target_by_magic(uint32_t magic)
{
    for (size_t i = 0; i < NTARGETS; i++)
        for (size_t k = 0; k < 4 && targets[i].magic[k]; k++)
            if (targets[i].magic[k] == magic)
                return &targets[i];
    return NULL;
}

const esp_target *esp_target_by_chip_id(uint32_t id)
{
    for (size_t i = 0; i < NTARGETS; i++)
        if (targets[i].chip_id >= 0 && (uint32_t)targets[i].chip_id == id)
            return &targets[i];
    return NULL;
}
