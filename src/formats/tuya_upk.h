/* tuya_upk.h — the `user_param_key` pin/feature configuration ("UPK").
 *
 * Stored as Tuya pseudo-JSON (`{Jsonver:1.1.8,module:WBLC9,c_pin:26,crc:105}`:
 * no quotes, sometimes a trailing comma) or as real JSON (spec A7).  One
 * small tokenizer reads both and keeps the pairs in stored order, because
 * the order decides which role wins when two keys name the same pin
 * (A10.6).  Values are kept as the text they were written with; nested
 * objects/arrays are kept verbatim. */
#ifndef FL_FORMATS_TUYA_UPK_H
#define FL_FORMATS_TUYA_UPK_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

typedef struct fl_upk_pair {
    char *key;
    char *value;
    bool quoted; /* the value was a JSON string in the source */
} fl_upk_pair;

typedef struct fl_upk {
    fl_upk_pair *pairs; /* stored order; a repeated key keeps its first value */
    size_t n;
    char *raw;          /* the text parsed (trailing NULs removed) */
    size_t duplicates;  /* repeated keys ignored */
} fl_upk;

/* Parse `len` bytes (may contain trailing NULs).  FL_ERR_FORMAT when the
 * text is not an object of key:value pairs. */
fl_status fl_upk_parse(const char *text, size_t len, fl_upk *out, fl_error *err);

void fl_upk_free(fl_upk *u);

/* Value of `key` or NULL. */
const char *fl_upk_get(const fl_upk *u, const char *key);

/* bk7231tools' typing rule: a decimal integer without a leading zero
 * ("0" allowed) is a number; everything else ("0505", "1.0.5", "false") is
 * a string.  Used for JSON output so that it matches the golden tables. */
bool fl_upk_value_is_int(const char *v);

#endif
