/* obk_rules.h — the Tuya key -> OpenBeken role rules, as data.
 *
 * The rules live in one file shipped with flashline, db/obk-pin-rules.jsonl
 * (installed as PREFIX/share/flashline/db/obk-pin-rules.jsonl; its schema
 * is in its header and in db/README.md): one JSON object per line, so a new
 * mapping is one line and every error names a file and a line.  The binary
 * carries the same file as its built-in copy (generated at build time from
 * that one source), parsed at run time; a station or a recipe adds or
 * overrides rules with its own file, whose rules are tried first (the first
 * rule whose key matches wins).
 *
 * Not in the rules: the I2C LED-driver block (which driver follows from the
 * current keys) and the device hints; they stay in obk_pins.c. */
#ifndef FL_FORMATS_OBK_RULES_H
#define FL_FORMATS_OBK_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

typedef struct fl_obk_rules fl_obk_rules;

/* The built-in rules (parsed once, shared, never freed); NULL with err set
 * if the built-in copy does not parse (a build error, caught by the tests). */
const fl_obk_rules *fl_obk_rules_builtin(fl_error *err);

/* A new rule set holding a copy of the built-in rules. */
fl_status fl_obk_rules_new(fl_obk_rules **out, fl_error *err);
/* An empty rule set (a file checked on its own, the fuzzer). */
fl_status fl_obk_rules_new_empty(fl_obk_rules **out, fl_error *err);
void fl_obk_rules_free(fl_obk_rules *r);

/* Add the rules of a file (or of text named `name`) in front of those
 * already there.  FL_ERR_FORMAT "FILE:LINE: what is wrong" on a bad line
 * (nothing is added then); FL_ERR_FILE when the file cannot be read. */
fl_status fl_obk_rules_add_file(fl_obk_rules *r, const char *path, fl_error *err);
fl_status fl_obk_rules_add_text(fl_obk_rules *r, const char *name, const char *text, size_t len, fl_error *err);

size_t fl_obk_rules_count(const fl_obk_rules *r);

/* What a key maps to (obk_pins.c applies it). */
typedef enum fl_obk_action_kind {
    FL_OBK_ACT_NONE,     /* no rule */
    FL_OBK_ACT_ROLE,     /* role + channel */
    FL_OBK_ACT_DESCRIBE, /* text: what the pin is (no role) */
    FL_OBK_ACT_COMMAND,  /* text: startup command taking the value as a number */
    FL_OBK_ACT_IGNORE,   /* not a pin key */
    FL_OBK_ACT_UNKNOWN,  /* a pin-like key without a rule */
} fl_obk_action_kind;

typedef struct fl_obk_action {
    fl_obk_action_kind kind;
    int role; /* firmware role number (obk_config.h role table) */
    int channel;
    const char *text;
} fl_obk_action;

/* level: the key's _lv active level (-1 none); lv_aware: the opt-in mode. */
fl_obk_action fl_obk_rules_match(const fl_obk_rules *r, const char *key, int level, bool lv_aware);

#endif
