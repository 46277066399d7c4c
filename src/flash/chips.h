/* chips.h — what the host knows about each Beken chip (spec beken-uart.md
 * §11.2, tuya-config-and-beken-images.md B5/B6). */
#ifndef FL_FLASH_CHIPS_H
#define FL_FLASH_CHIPS_H

#include <stdbool.h>
#include <stdint.h>

/* What kind of part a chip is: which drivers can serve it follows from this. */
typedef enum fl_chip_family {
    FL_FAMILY_BEKEN,   /* Beken BK72xx Wi-Fi SoCs: UART loader, SPI mode through CEN */
    FL_FAMILY_SPI_NOR, /* a plain 25-series SPI NOR flash chip on a programmer */
    FL_FAMILY_ESP,     /* Espressif ESP8266 / ESP32 family: ROM loader over SLIP (spec
                          other-platforms.md §2) */
} fl_chip_family;

typedef enum fl_loader_kind {
    FL_LOADER_ROM,   /* mask-ROM loader: survives any flash content */
    FL_LOADER_FLASH, /* "l_boot" in flash 0x0–0x11000: overwriting it bricks the UART path */
} fl_loader_kind;

typedef enum fl_boot_guard {
    FL_GUARD_NONE,    /* writes below 0x11000 allowed (ROM loader, QIO written from 0) */
    FL_GUARD_OPT_IN,  /* ROM loader, but the flash bootloader holds keys: needs --allow-bootloader */
    FL_GUARD_BRICK,   /* flash loader: writing below 0x11000 removes the UART loader */
} fl_boot_guard;

#define FL_BOOTLOADER_SIZE 0x11000u

typedef struct fl_chip {
    const char *name;     /* "bk7231n": what --chip takes */
    const char *display;  /* "BK7231N" */
    fl_chip_family family;
    fl_loader_kind loader;
    fl_boot_guard guard;
    bool qio_skips_bootloader; /* a _QIO_ image is written from 0x11000 (its head skipped) */
    uint32_t chip_id_reg;      /* register holding the chip ID; 0 = none readable */
    const char *chip_id_norm;  /* normalised ID string the GUI matches ("7231c"), NULL = unknown */
    bool tuya_boot_version;    /* answers short 0x11 with a version string */
    uint32_t default_flash_size;
    uint32_t rf_offset;        /* RF calibration TLV sector (MAC at +0x24), 0 = unknown */
    uint32_t obk_config_offset; /* OpenBeken config sector (formats/obk_config.h), 0 = none */
    int obk_pin_count;          /* its pin layout: 32 or 48 (spec C.3), 0 = no config */
    /* FL_FAMILY_ESP only (zero elsewhere): */
    int esp_image_chip_id;         /* chip ID in an image's extended header and in
                                      GET_SECURITY_INFO (ESP32 0, S2 2, C3 5, S3 9, C2 12,
                                      C6 13); -1 = the ESP8266, whose images have none */
    uint32_t esp_bootloader_offset; /* where the 2nd-stage bootloader sits in flash (and in
                                       a *.factory.bin): 0x1000 on ESP32/S2, else 0x0 */
} fl_chip;

/* NULL when the name is unknown. Case-insensitive. */
const fl_chip *fl_chip_find(const char *name);
/* NULL-terminated list of all chips. */
const fl_chip *const *fl_chip_all(void);
/* "bk7231t bk7231u ...": the Beken chips of the table, for help texts. */
const char *fl_chip_names(void);
/* Every chip of the table: the Beken chips, "spi-nor", then the ESP chips. */
const char *fl_chip_names_all(void);
/* "beken", "spi-nor", "esp": the family's name in Lua tables and JSON. */
const char *fl_chip_family_name(fl_chip_family family);
/* "esp8266 esp32 ...": the chips of one family, for help texts and errors. */
const char *fl_chip_names_family(fl_chip_family family);

/* The GUI's normalisation of a chip-ID register value: lower-case hex without
 * leading zero bytes and without one leading 0x01 byte (0x0007231C → "7231c"). */
void fl_chip_id_normalise(uint32_t value, char out[16]);

/* The chip whose ID register reads `norm` (first match), or NULL. */
const fl_chip *fl_chip_by_id(const char *norm);

#endif
