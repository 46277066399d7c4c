/* obk_config.h — the OpenBeken configuration block (`mainConfig_t`) in a
 * Beken flash: parse, check, build (spec ch341-spi-and-obk-config.md part C).
 *
 * The block sits at the start of one 4 KiB sector (fl_chip.obk_config_offset,
 * just above the RF calibration, which must never be erased with it).  It is
 * 3584 bytes (2016 for version 3): "CFG", a CRC-8 over [4, size) and a
 * little-endian version.  flashline writes version 5 (what the firmware
 * writes; the GUI tool's 4 makes the firmware clear the web password at
 * boot), reads 3, 4 and 5, and uses the *signed* CRC-8 variant the Beken
 * firmware checks (its Tiny_CRC8 on `char` built with -fsigned-char).
 *
 * Where the block is and which layout a chip uses come from the chip table
 * (fl_chip.obk_config_offset, fl_chip.obk_pin_count in flash/chips.h).
 * Two pin layouts: 32 pins (BK7231T/U/N/M, BK7238) and 48 pins (BK7252,
 * BK7252N); they differ from 0x35E to 0x526 (spec C.3).  The GUI tool uses
 * the 32-pin offsets everywhere and writes wifi_pass2 at webPassword's
 * place: neither is repeated here.
 *
 * Unknown and reserved bytes are kept: fl_obk_config holds the raw block it
 * was parsed from and build() lays the fields over it, so build(parse(x)) is
 * x again (apart from the CRC, recomputed, and the version, set to 5). */
#ifndef FL_FORMATS_OBK_CONFIG_H
#define FL_FORMATS_OBK_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define FL_OBK_CFG_SIZE 3584u    /* version >= 4 (0x0E00) */
#define FL_OBK_CFG_SIZE_V3 2016u /* version 3 */
#define FL_OBK_CFG_SECTOR 4096u  /* the one sector it lives in */
#define FL_OBK_CFG_VERSION 5
#define FL_OBK_CFG_MAX_VERSION 100 /* above: not a config (GUI tool rule) */
#define FL_OBK_CFG_MAX_PINS 48
#define FL_OBK_CFG_CHANNELS 64
#define FL_OBK_FLAG_COUNT 52

/* CRC-8 poly 0x8C reflected, init 0.  signed_variant: arithmetic right
 * shift (bit 7 kept), as the Beken firmware computes it. */
uint8_t fl_obk_crc8(const uint8_t *data, size_t len, bool signed_variant);

/* What the header check found. */
typedef enum fl_obk_check {
    FL_OBK_VALID = 0,
    FL_OBK_ERASED,      /* all 0xFF: no config was ever written */
    FL_OBK_BAD_IDENT,   /* not "CFG" */
    FL_OBK_BAD_VERSION, /* version not 3, 4 or 5 */
    FL_OBK_BAD_CRC,     /* stored CRC is not the signed CRC of the block */
    FL_OBK_SHORT,       /* fewer bytes than the version's size */
} fl_obk_check;

typedef struct fl_obk_header {
    fl_obk_check check;
    int32_t version;
    size_t size;         /* bytes the CRC covers the block to (2016 / 3584) */
    uint8_t crc_stored;
    uint8_t crc_signed;  /* computed, the firmware's variant */
    uint8_t crc_unsigned; /* computed, CRC-8/MAXIM (other platforms) */
} fl_obk_header;

const char *fl_obk_check_name(fl_obk_check c); /* "valid", "bad-crc", ... */

/* Check a block (buf at the config offset, len bytes available).  Never
 * fails; see h->check. */
void fl_obk_config_check(const uint8_t *buf, size_t len, fl_obk_header *h);

/* One pin as the firmware stores it. */
typedef struct fl_obk_cfg_pin {
    uint8_t role, channel, channel2;
} fl_obk_cfg_pin;

typedef struct fl_obk_config {
    int pin_count; /* 32 or 48: the layout */
    int32_t version;
    uint64_t flags; /* flag n = bit n (genericFlags, then genericFlags2) */
    uint16_t change_counter, ota_counter;
    char wifi_ssid[64], wifi_pass[64];
    char mqtt_host[256], mqtt_client_id[64], mqtt_user[64], mqtt_pass[128];
    int32_t mqtt_port;
    char webapp_root[64];
    uint8_t mac[6];
    char short_name[32], long_name[64];
    fl_obk_cfg_pin pins[FL_OBK_CFG_MAX_PINS];
    uint8_t channel_types[FL_OBK_CFG_CHANNELS];
    int16_t start_values[FL_OBK_CFG_CHANNELS];
    uint8_t log2lfs;
    int32_t dgr_send_flags, dgr_recv_flags;
    char dgr_name[16], ntp_server[32];
    uint8_t button_short, button_long, button_repeat;
    uint32_t lfs_size;
    int32_t logger_flags;
    uint8_t ip[4], netmask[4], gateway[4], dns[4];
    uint8_t led_remap[5];
    float led_corr[6];
    char mqtt_group[64];
    uint8_t boot_ok_seconds;
    int32_t ping_interval, ping_seconds;
    char ping_host[64];
    char init_command[1568];
    char wifi_ssid2[64], wifi_pass2[68], web_password[33];
    uint8_t mqtt_use_tls, mqtt_verify_tls_cert;
    char mqtt_cert_file[20];
    uint8_t disable_web_server;
    uint8_t raw[FL_OBK_CFG_SIZE]; /* the block parsed (unknown bytes kept by build) */
} fl_obk_config;

/* The firmware's defaults (spec C.6) for a layout: version 5, MQTT port 1883,
 * user "homeassistant", the firmware's default MQTT password, group "obks",
 * web app root, ping host, NTP server, button timings 3/10/5, boot-success
 * time 5, flag 10 set, LED correction 1,1,1,2.2,0.1,0.1, LED remap unused.
 * mac (may be NULL) sets mac and the names "obk" + MAC[2..5] and
 * "OpenBeken_" + MAC[2..5]; without it the names stay empty. */
void fl_obk_config_defaults(fl_obk_config *c, int pin_count, const uint8_t mac[6]);

/* Parse a block with the given layout (32 or 48).  Fails with
 * FL_ERR_FORMAT, naming the problem (erased, ident, version, CRC — with the
 * stored and computed values), unless the header is valid; with
 * accept_bad_crc a block whose only fault is its CRC is parsed all the same
 * (for `show` of a damaged block; h says so).  h may be NULL. */
fl_status fl_obk_config_parse(const uint8_t *buf, size_t len, int pin_count, bool accept_bad_crc,
                              fl_obk_config *out, fl_obk_header *h, fl_error *err);

/* Build the 4096-byte sector image: the fields over c->raw, "CFG",
 * version 5, signed CRC over [4, 3584), bytes 3584..4095 0xFF.  Fails
 * (FL_ERR_USAGE) on a bad layout or a string without its NUL. */
fl_status fl_obk_config_build(const fl_obk_config *c, uint8_t out[FL_OBK_CFG_SECTOR], fl_error *err);

/* Flags by name: "MQTT_BROADCASTSELFSTATEONCONNECT" (the firmware macro
 * without OBK_FLAG_, case-insensitive; "OBK_FLAG_..." and the number work
 * too).  -1 when unknown. */
int fl_obk_flag_index(const char *name);
const char *fl_obk_flag_name(int index); /* NULL outside 0..51 */
bool fl_obk_flag_get(const fl_obk_config *c, int index);
void fl_obk_flag_set(fl_obk_config *c, int index, bool on);

/* Role names (the firmware's web/command names, spec C.8) by number and
 * back (case-insensitive, as the firmware parses them).  -1 / NULL. */
int fl_obk_cfg_role_index(const char *name);
const char *fl_obk_cfg_role_name(int index);

/* Put a Tuya-derived pin map (obk_pins.h) into the config: the whole pins
 * block is cleared first (as the firmware's "clear IO" does), then every
 * mapped pin gets its role and channel.  With commands, the map's startup
 * commands replace init_command as one "backlog a; b" line.  Fails
 * (FL_ERR_USAGE) when a pin is past the layout or the commands do not fit. */
struct fl_obk_map;
fl_status fl_obk_config_set_pins(fl_obk_config *c, const struct fl_obk_map *m, bool commands, fl_error *err);

/* --- settings by name (CLI options, --from-file JSON, the recipe step) ---
 *
 * fl_obk_config_set(c, key, value): key is one of wifi_ssid, wifi_pass,
 * mqtt_host, mqtt_port, mqtt_user, mqtt_pass, mqtt_topic (the client ID,
 * which OpenBeken uses as its topic), mqtt_group, name (short and long
 * device name; also the client ID unless mqtt_topic is set), short_name,
 * long_name, init_command, flag ("NAME=0|1"), pin ("N=ROLE[,CHANNEL]";
 * "N=None" clears).  FL_ERR_USAGE naming the key on a bad key or value,
 * never a silent cut. */
fl_status fl_obk_config_set(fl_obk_config *c, const char *key, const char *value, fl_error *err);

/* The keys fl_obk_config_set takes, space separated (help texts). */
const char *fl_obk_config_keys(void);

/* Is the key a password (never shown unless asked)? */
bool fl_obk_config_key_is_secret(const char *key);

/* Apply a JSON object: every member through fl_obk_config_set (numbers as
 * text), "flags": {NAME: true|false|0|1} and "pins": {"N": "ROLE[,CH]"}.
 * An unknown member is FL_ERR_USAGE naming it. */
typedef struct json_t json_t;
fl_status fl_obk_config_apply_json(fl_obk_config *c, json_t *obj, fl_error *err);

/* The config as JSON (new reference, NULL on out of memory): the settings
 * above, mac, flags set (by name), pins {"6": "WifiLED_n;0"} and
 * credentials_sha256.  Passwords are FL_REDACTED-style "<redacted>" (empty
 * ones stay "") unless secrets. */
json_t *fl_obk_config_json(const fl_obk_config *c, bool secrets);

/* SHA-256 (hex) over the Wi-Fi and MQTT credentials (SSID, password, host,
 * user, password, NUL-separated, with a fixed label): an auditor who knows
 * the credentials a unit should have can check which it got; the log never
 * holds the passwords themselves. */
void fl_obk_config_credentials_hash(const fl_obk_config *c, char out[65]);

/* Field offsets of a layout, for tests and tools that patch one field. */
typedef struct fl_obk_layout {
    size_t roles, channels, channels2, channel_types, start_values, log2lfs, dgr_send, dgr_recv, dgr_name,
        ntp_server, cal, buttons, lfs_size, logger_flags;
} fl_obk_layout;
bool fl_obk_layout_for(int pin_count, fl_obk_layout *l);

#endif
