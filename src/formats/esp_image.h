/* esp_image.h — Espressif firmware files, by their content (spec
 * other-platforms.md §2; the format is esptool's, see esptool/bin_image.py).
 *
 * What it offers: fl_esp_identify() tells whether a file is
 *   - a merged "factory" image written at flash 0x0 (OpenESP*_<ver>.factory.bin,
 *     esptool merge_bin output, or a dump read from 0x0): the 2nd-stage
 *     bootloader at the chip's bootloader offset (0x1000 on ESP32/S2, 0x2000 on
 *     C5, 0x0 elsewhere), the partition table at 0x8000, the app at its
 *     factory / ota_0 partition (usually 0x10000);
 *   - a single app image (OpenESP32_<ver>.img) or a single bootloader image;
 * and checks every byte it can: the header, every segment against the file
 * end, the XOR checksum (seed 0xEF over the segment data, stored in the last
 * byte of a 16-byte-aligned block), the SHA-256 appended when the extended
 * header says so, the partition table's MD5 entry, and the ESP8266 "V2"
 * (0xEA) image's trailing CRC32.
 *
 * Image layouts:
 *   V1   (ESP8266 ROM image): 8-byte header (0xE9, segment count, flash mode,
 *        flash size/frequency, entry), segments, checksum.
 *   V2   (ESP8266 0xEA, the SDK's boot_v1.x loader): 0xEA header, the irom
 *        segment (not checksummed), a V1 image, then a CRC32 of the file.
 *   EXT  (ESP32 family, and the ESP8266 RTOS SDK's "V3" app): the 8-byte header,
 *        a 16-byte extended header (WP pin, SPI drive, chip ID, min/max chip
 *        revision, hash_appended), segments, checksum, optional SHA-256.
 *
 * Pure function of the bytes; the result is a plain struct owned by the
 * caller (nothing to free). */
#ifndef FL_FORMATS_ESP_IMAGE_H
#define FL_FORMATS_ESP_IMAGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FL_ESP_IMAGE_MAGIC 0xE9
#define FL_ESP_IMAGE_V2_MAGIC 0xEA
#define FL_ESP_MAX_SEGMENTS 16      /* esptool refuses more */
#define FL_ESP_PTABLE_OFFSET 0x8000u /* where the partition table sits in flash */
#define FL_ESP_PTABLE_MAX 0xC00u     /* the table's maximum length (95 entries + MD5) */
#define FL_ESP_MAX_PARTITIONS 95
#define FL_ESP_APP_ALIGN 0x10000u    /* app partitions: the MMU maps flash in 64 KiB pages */
#define FL_ESP_CHIP_ESP8266 (-1)     /* chip "ID" of the ESP8266, whose images carry none */

typedef enum fl_esp_format {
    FL_ESP_FMT_V1,  /* ESP8266 ROM image: no extended header */
    FL_ESP_FMT_V2,  /* ESP8266 0xEA image (irom + V1 + CRC32) */
    FL_ESP_FMT_EXT, /* ESP32 family (and ESP8266 RTOS SDK apps): extended header */
} fl_esp_format;

typedef struct fl_esp_segment {
    uint32_t load_addr;
    uint32_t length;
    size_t file_offset; /* of the segment's 8-byte header, from the image start */
} fl_esp_segment;

/* One image (bootloader or app). */
typedef struct fl_esp_image {
    bool present;          /* a header with the magic was found */
    size_t file_offset;    /* where the image starts in the file */
    size_t length;         /* bytes of the image: header to checksum (and digest / CRC) */
    fl_esp_format format;
    uint8_t n_segments;    /* as the header says */
    uint8_t flash_mode;    /* 0 qio, 1 qout, 2 dio, 3 dout, 4 fast read, 5 slow read */
    uint8_t flash_size_freq; /* high nibble size, low nibble frequency (chip-specific codes) */
    uint32_t entry;
    /* extended header (FL_ESP_FMT_EXT) */
    uint8_t wp_pin;
    int chip_id;           /* the header's chip ID; FL_ESP_CHIP_ESP8266 for V1/V2/V3 ESP8266 */
    uint8_t min_rev;       /* legacy single-byte minimum revision */
    uint16_t min_rev_full, max_rev_full; /* major * 100 + minor; max 0xFFFF = none */
    bool hash_appended;
    /* ESP8266 V2 */
    uint32_t irom_length;
    bool crc32_ok;
    fl_esp_segment seg[FL_ESP_MAX_SEGMENTS];
    uint8_t n_seg_read;    /* segments read (< n_segments when the image is cut) */
    uint8_t checksum_stored, checksum_calc;
    bool checksum_ok;
    bool hash_ok;          /* hash_appended: the SHA-256 matches */
    bool is_app;           /* holds flash-mapped code or an app description */
    char app_project[33];  /* esp_app_desc_t, "" when absent (bootloaders, ESP8266) */
    char app_version[33];
    char app_idf_version[33];
    char error[200];       /* first integrity problem, "" when intact */
} fl_esp_image;

typedef struct fl_esp_partition {
    char label[17];
    uint8_t type, subtype;
    uint32_t offset, size, flags;
} fl_esp_partition;

typedef struct fl_esp_ptable {
    bool present;          /* at least one entry with the magic 0xAA 0x50 */
    size_t n;
    fl_esp_partition e[FL_ESP_MAX_PARTITIONS];
    bool have_md5, md5_ok;
    char error[160];       /* "" when intact */
} fl_esp_ptable;

typedef enum fl_esp_kind {
    FL_ESP_NONE = 0,
    FL_ESP_FACTORY,    /* merged image from flash 0x0 */
    FL_ESP_APP,        /* one app image, offset given by the partition table on the unit */
    FL_ESP_BOOTLOADER, /* one bootloader image (goes at the chip's bootloader offset) */
} fl_esp_kind;

typedef struct fl_esp_info {
    fl_esp_kind kind;
    bool strong;           /* the structure leaves no doubt (a damaged image may still be one) */
    fl_esp_image boot;     /* FACTORY and BOOTLOADER */
    uint32_t boot_offset;  /* FACTORY: flash (= file) offset of the bootloader */
    fl_esp_ptable ptable;  /* FACTORY */
    fl_esp_image app;      /* FACTORY and APP */
    uint32_t app_offset;   /* FACTORY: the factory / ota_0 partition */
    int chip_id;           /* FL_ESP_CHIP_ESP8266, an image chip ID, or -2 when unknown */
    char chip[16];         /* "ESP32-C3", "ESP8266", "ESP chip ID 99" */
    char evidence[200];    /* what said so */
    char error[240];       /* first integrity problem of the file, "" when intact */
} fl_esp_info;

/* Does `buf` look like an Espressif file?  True fills *out (kind, images,
 * partition table, chip, error); false when it is not one (out->kind NONE).
 * A file that starts like one but is damaged is true with out->error set;
 * out->strong says whether the structure is certain enough to win over other
 * readings of the same bytes (a valid partition table, or an image whose every
 * segment, checksum and digest fit). */
bool fl_esp_identify(const uint8_t *buf, size_t len, fl_esp_info *out);

/* One image at buf[0] (false when the magic is not there).  With 0xE9 the
 * layout whose segments and checksum fit decides between the ESP8266 ROM's
 * and the extended header; an extended header with a zero chip-ID field and
 * code in ESP8266 IRAM is the RTOS SDK's app (chip_id FL_ESP_CHIP_ESP8266). */
bool fl_esp_image_parse(const uint8_t *buf, size_t len, fl_esp_image *out);

/* The partition table at buf[0] (up to FL_ESP_PTABLE_MAX bytes). */
void fl_esp_ptable_parse(const uint8_t *buf, size_t len, fl_esp_ptable *out);

/* The factory / ota_0 app partition, or NULL. */
const fl_esp_partition *fl_esp_app_partition(const fl_esp_ptable *t);

/* "ESP32-C3" for an image chip ID, "ESP8266" for FL_ESP_CHIP_ESP8266; NULL when unknown. */
const char *fl_esp_chip_name(int chip_id);
/* Where the ROM of the chip with this image chip ID loads the bootloader from. */
uint32_t fl_esp_bootloader_offset(int chip_id);

const char *fl_esp_flash_mode_name(uint8_t mode); /* "dio", or "unknown" */
/* "4MB" / "80m" for the header byte of an image for chip_id; "?" when unknown. */
const char *fl_esp_flash_size_name(int chip_id, uint8_t size_freq);
const char *fl_esp_flash_freq_name(int chip_id, uint8_t size_freq);
/* "app" / "data" / "0x40"; subtype "factory", "ota_0", "nvs", … or "0x%02x". */
const char *fl_esp_ptype_name(uint8_t type, char buf[8]);
const char *fl_esp_psubtype_name(uint8_t type, uint8_t subtype, char buf[8]);

/* The identification as a JSON object (new reference). */
json_t *fl_esp_info_json(const fl_esp_info *in);

#endif
