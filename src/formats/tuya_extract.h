/* tuya_extract.h — from a flash dump to a Tuya configuration and OBK pin map.
 *
 * The end-to-end procedure of spec A11: identify the file (rotation, chip,
 * MAC), decode the KV store (tuya_kv.h), take `user_param_key` from it or,
 * failing that, the default compiled into the decrypted app ("firmware
 * default", A6), parse it (tuya_upk.h) and map it to OBK roles
 * (obk_pins.h).  Everything is returned in one caller-owned struct; JSON for
 * the CLI, the Lua binding and the station DB comes from one function that
 * redacts secrets unless told otherwise. */
#ifndef FL_FORMATS_TUYA_EXTRACT_H
#define FL_FORMATS_TUYA_EXTRACT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "formats/beken_crypt.h"
#include "formats/image_id.h"
#include "formats/obk_pins.h"
#include "formats/strlist.h"
#include "formats/tuya_kv.h"
#include "formats/tuya_upk.h"
#include "util/error.h"

typedef enum fl_upk_source {
    FL_UPK_NONE = 0,
    FL_UPK_KV,       /* the user_param_key entry of the KV store */
    FL_UPK_APP_CODE, /* the default compiled into the app ("firmware default") */
} fl_upk_source;

typedef struct fl_tuya_extract_opts {
    fl_obk_mode mode;   /* pin-mapping rules (default compat) */
    bool no_app_search; /* do not look for a compiled-in UPK in the app */
    bool have_key;      /* decrypt the app with `key` instead of the detected one */
    fl_bk_key key;
    const struct fl_obk_rules *rules; /* pin rules (obk_rules.h); NULL: the built-in ones */
} fl_tuya_extract_opts;

typedef struct fl_tuya_config {
    fl_image_info image;     /* what the input file is */
    fl_tuya_kv kv;           /* the decoded store (holds secrets) */
    bool kv_flash_known;     /* kv_flash_offset is a flash address (not just a file offset) */
    uint32_t kv_flash_offset;

    fl_upk_source upk_source;
    fl_upk upk;              /* empty when upk_source is FL_UPK_NONE */
    uint32_t upk_app_offset; /* FL_UPK_APP_CODE: logical address of the text */

    char module[32];         /* UPK "module", "" if none */
    char em_sys_env[32];     /* KV "em_sys_env", "" if none */
    char chip[16];           /* best chip guess: the image's, else the config's hint */
    char chip_hint[16];      /* chip named by em_sys_env / module prefix (spec A9) */
    long baud;               /* TuyaMCU baud (UPK "baud" or KV baud_cfg), -1 if none */

    fl_obk_mode mode;
    fl_obk_map obk;
    fl_strlist warnings;
} fl_tuya_config;

/* Run the whole procedure.  name_hint (may be NULL) is the file name.
 * Fails with FL_ERR_FORMAT, and a message saying what was searched and why
 * it failed, when no Tuya KV store can be decoded. */
fl_status fl_tuya_extract(const uint8_t *buf, size_t len, const char *name_hint,
                          const fl_tuya_extract_opts *opts, fl_tuya_config *out, fl_error *err);

void fl_tuya_config_free(fl_tuya_config *c);

const char *fl_upk_source_name(fl_upk_source s); /* "kv", "app_code", NULL */

/* Chip named by a module name or em_sys_env value (A9), or NULL. */
const char *fl_tuya_chip_from_module(const char *module);
const char *fl_tuya_chip_from_env(const char *em_sys_env);

enum {
    FL_TUYA_JSON_SECRETS = 1 << 0, /* show secret values (default: "<redacted>") */
    FL_TUYA_JSON_OBK = 1 << 1,     /* include the OBK pin map, commands and template */
};

/* The configuration as a JSON object (new reference; NULL on out of memory). */
json_t *fl_tuya_config_json(const fl_tuya_config *c, unsigned flags);

/* OBK template JSON (spec A10.6 (b)) as a new reference. */
json_t *fl_tuya_obk_template(const fl_tuya_config *c);

#endif
