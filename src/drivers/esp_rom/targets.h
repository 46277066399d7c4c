/* targets.h — what differs between the Espressif ROM loaders, per chip, as
 * esptool's targets/ (esp32.py, esp8266.py, ...) know it: the magic word at 0x40001000, the SPI
 * controller's registers (for the flash JEDEC ID), where the MAC and the
 * security eFuses are, and which commands the ROM has. */
#ifndef FL_DRIVERS_ESP_ROM_TARGETS_H
#define FL_DRIVERS_ESP_ROM_TARGETS_H

#include <stdbool.h>
#include <stdint.h>

#define ESP_MAGIC_REG 0x40001000u

typedef enum esp_mac_layout {
    ESP_MAC_8266,  /* OTP words 0x3FF00050/54/5C and the OUI rule */
    ESP_MAC_ESP32, /* eFuse words 1 and 2, a CRC byte pair dropped */
    ESP_MAC_WORDS, /* mac0 at mac_reg, the top two bytes in mac_reg + 4 */
} esp_mac_layout;

typedef struct esp_target {
    const char *name;         /* "esp32": the chip table's name */
    const char *display;      /* "ESP32-C3" */
    int chip_id;              /* GET_SECURITY_INFO / image chip ID; -1 none (ESP8266) */
    uint32_t magic[4];        /* magic words at 0x40001000 (0 ends the list) */
    bool is_8266;             /* ESP8266 ROM: 2 status bytes, no SPI_ATTACH/SET_PARAMS,
                                 no CHANGE_BAUDRATE, no MD5, no READ_FLASH_SLOW */
    bool begin_has_encrypt;   /* FLASH_BEGIN takes a fifth word (not ESP32 / ESP8266 ROMs) */
    bool security_info;       /* the ROM answers GET_SECURITY_INFO (S2 and later) */
    bool chip_id_in_secinfo;  /* ... with a chip ID (not the S2's 12-byte answer) */
    /* SPI controller (esptool's SPI_REG_BASE and offsets; dlen 0 = ESP8266 layout) */
    uint32_t spi_base, spi_usr, spi_usr1, spi_usr2, spi_mosi_dlen, spi_miso_dlen, spi_w0;
    esp_mac_layout mac;
    uint32_t mac_reg;
    /* security eFuses read directly (ESP32: no GET_SECURITY_INFO) */
    uint32_t efuse_crypt_cnt_reg, efuse_crypt_cnt_mask;
    uint32_t efuse_secure_boot_reg, efuse_secure_boot_mask;
    const char *boot_pin;     /* "IO0", "GPIO9" */
} esp_target;

/* NULL when the chip table names a chip this driver has no facts for. */
const esp_target *esp_target_find(const char *name);
/* The target whose magic word this is, or NULL. */
const esp_target *esp_target_by_magic(uint32_t magic);
/* The target with this security-info chip ID, or NULL. */
const esp_target *esp_target_by_chip_id(uint32_t id);

#endif
