/* image_id.h — tell what a BK72xx-related (or Espressif) file is, by its content.
 *
 * Kinds: full flash dump, rotated dump (read started at 0x11000 and
 * wrapped), dump read from 0x11000, `_QIO_` (bootloader + app), `_UA_` (app
 * container), `_UG_` (Tuya OTA wrapper), `.rbl` OTA package, Tuya config
 * region only, OBK config, plain ARM binary, erased.  Along the way it
 * collects what a flasher needs to know: the code key (chip family hint),
 * the bootloader version, RBL headers with their CRCs, the FAL partition
 * table, the RF calibration block with the MAC, the Tuya KV location and
 * the OpenBeken version string.  Pure function of the bytes (plus an
 * optional file name used only as a hint); the result is a plain struct
 * owned by the caller (free its notes with fl_image_info_free). */
#ifndef FL_FORMATS_IMAGE_ID_H
#define FL_FORMATS_IMAGE_ID_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "formats/beken_crc16.h"
#include "formats/beken_crypt.h"
#include "formats/beken_image.h"
#include "formats/esp_image.h"
#include "formats/rbl.h"
#include "formats/strlist.h"
#include "util/error.h"

typedef enum fl_image_kind {
    FL_IMAGE_UNKNOWN = 0,
    FL_IMAGE_ERASED,       /* every byte 0xFF */
    FL_IMAGE_FULL_DUMP,    /* whole flash from 0x0 */
    FL_IMAGE_ROTATED_DUMP, /* whole flash, file offset 0 = flash 0x11000 (wrapped read) */
    FL_IMAGE_APP_DUMP,     /* flash read from 0x11000 to the end (no bootloader) */
    FL_IMAGE_QIO,          /* bootloader + app from 0x0 (release image) */
    FL_IMAGE_UA,           /* app container only, written at 0x11000 */
    FL_IMAGE_UG,           /* Tuya OTA wrapper (55 AA 55 AA) around an RBL package */
    FL_IMAGE_RBL,          /* OTA package with its header at the start */
    FL_IMAGE_TUYA_CONFIG,  /* Tuya KV region only (config-only dump) */
    FL_IMAGE_OBK_CONFIG,   /* OpenBeken config sector ("CFG") */
    FL_IMAGE_RAW_ARM,      /* plain ARM code without CRC blocks */
    FL_IMAGE_LOGICAL,      /* CRC-stripped code image with its RBL headers ('image decrypt' output) */
    /* Espressif (formats/esp_image.h; info->esp holds the details) */
    FL_IMAGE_ESP_FACTORY,    /* merged image from 0x0: bootloader, partition table, app */
    FL_IMAGE_ESP_APP,        /* one app image: its partition's offset comes from the unit */
    FL_IMAGE_ESP_BOOTLOADER, /* one 2nd-stage bootloader (or ESP8266 ROM-boot) image */
} fl_image_kind;

/* One of the FL_IMAGE_ESP_* kinds. */
bool fl_image_kind_is_esp(fl_image_kind k);

const char *fl_image_kind_name(fl_image_kind k); /* short id: "full_dump", "qio", ... */
const char *fl_image_kind_text(fl_image_kind k); /* human description */

#define FL_IMAGE_MAX_RBL 4

typedef struct fl_image_rbl {
    size_t file_offset;     /* where the header starts in the file */
    bool in_flash;          /* stored CRC-wrapped at a partition end */
    bool logical;           /* at a partition end of a CRC-stripped image (not in_flash) */
                            /* neither: at the start of an OTA package */
    fl_rbl_header h;
    uint32_t partition;     /* in_flash/logical: logical address of the partition start */
    fl_rbl_crc_rule data;   /* package CRC result (over the stored, i.e. encrypted, code) */
    bool data_available;    /* the whole package is inside the file */
} fl_image_rbl;

typedef struct fl_image_info {
    fl_image_kind kind;
    size_t size;

    /* Mapping file -> flash: flash = file + flash_base, or for a rotated
     * dump flash = (file + 0x11000) mod size. */
    uint32_t flash_base;
    bool rotated;

    /* Chip family, "" when it cannot be told; evidence lists what said so. */
    char chip[16];
    char chip_evidence[320];
    bool chip_conflict;
    bool chip_from_name;         /* only the file name named the chip */

    /* Code partitions. */
    bool have_boot, have_app;
    size_t boot_file, app_file;  /* file offsets of the partition starts */
    fl_bk_crc_report boot_crc;   /* over the bootloader partition (0x11000 bytes or less) */
    fl_bk_crc_report app_crc;    /* over the app container present in the file */
    bool code_key_known;
    fl_bk_key code_key;          /* key that turns the code into ARM vectors */
    char boot_version[40];       /* e.g. "BK7231N_1.0.1" (decrypted bootloader) */
    uint32_t key_copy_offset;    /* logical offset of the bootloader's key copy, 0 if none */
    char obk_version[48];        /* e.g. "OpenBK7231N_1.18.300" found in the app */
    fl_fal_table fal;
    bool have_fal;

    fl_image_rbl rbl[FL_IMAGE_MAX_RBL];
    size_t n_rbl;

    /* OTA packaging. */
    bool ug;
    char ug_version[13];
    uint32_t ug_payload_len;
    bool ug_payload_sum_ok, ug_header_sum_ok;
    const char *ota_key;         /* AES key name that decrypts the OTA payload to gzip, or NULL */

    /* Data partitions (flash offsets). */
    bool have_rf;
    uint32_t rf_offset;
    uint8_t mac[6];              /* device identifier: mask when showing (tuya_secrets.h) */
    bool have_tuya_kv;
    uint32_t tuya_kv_offset;     /* flash offset of the KV key block */
    size_t tuya_kv_file_offset;
    bool have_obk_config;
    uint32_t obk_config_offset;

    /* Espressif kinds: headers, segments, partition table, integrity (esp.error). */
    fl_esp_info esp;

    fl_strlist notes;            /* remarks for the operator */
} fl_image_info;

/* Identify `len` bytes.  name_hint (may be NULL) is the file name; it is only
 * used to compare with the content ("Open<chip>_..." names).  Fails only on
 * empty input (FL_ERR_FORMAT) or out-of-memory; an unrecognised file is
 * FL_OK with kind FL_IMAGE_UNKNOWN. */
fl_status fl_image_identify(const uint8_t *buf, size_t len, const char *name_hint,
                            fl_image_info *info, fl_error *err);

void fl_image_info_free(fl_image_info *info);

/* The Espressif chip a file name says ("OpenESP32C3_1.18.300.factory.bin" →
 * "ESP32-C3", as the chip table displays it) into out, or NULL. */
const char *fl_image_esp_chip_in_name(const char *name, char *out, size_t cap);

/* The identification as a JSON object (new reference).  The MAC is masked to
 * its vendor part unless show_mac. */
json_t *fl_image_info_json(const fl_image_info *info, bool show_mac);

/* File offset of a flash offset (the reverse of the mapping above), or
 * SIZE_MAX when the flash offset is not in the file. */
size_t fl_image_flash_to_file(const fl_image_info *info, uint32_t flash);

/* The code region as a logical image: CRC stripped, in flash order (a
 * rotated dump is put back in order), from the bootloader (logical 0) or, for
 * files without one, from the app (logical 0x10000), up to the end of the app
 * container.  *base receives the logical address of out[0].  Not decrypted. */
fl_status fl_image_code_logical(const uint8_t *buf, size_t len, const fl_image_info *info,
                                uint8_t **out, size_t *out_len, uint32_t *base, fl_error *err);

#endif
