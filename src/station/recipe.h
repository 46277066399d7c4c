/* recipe.h — YAML recipes: a product's link defaults, variables and ordered
 * steps (libyaml).  Loading checks the shape; every error names
 * FILE:LINE:COLUMN and what was expected there.
 *
 *   name: bk7231n-obk                  # shown and logged with every run
 *   description: back up, flash OpenBeken, verify
 *   chip: bk7231n
 *   link: { baud: 921600, reset: auto, link_timeout: 20 }
 *   allow_repeat: false                # true: units that PASSed it before may run it again
 *   ports: [ /dev/ttyUSB0, /dev/ttyUSB1 ]  # where `flashline run` looks when given no --port
 *   vars: { firmware: ../shared/testdata/obk-images/OpenBK7231N_QIO_1.18.300.bin }
 *   steps:
 *     - connect
 *     - backup: { dir: backups }
 *     - flash: { image: "${firmware}" }
 *
 * Values are kept as text; `${name}` references in step arguments are
 * expanded when a step runs (fl_recipe_expand); link: and vars: values are
 * taken literally.
 *
 * What is refused, always with FILE:LINE:COLUMN, before any unit is touched:
 *   - bad YAML, a second document, a key given twice in any mapping, nesting
 *     deeper than 64 levels, aliases expanding past 10000 values (or to a node
 *     containing them), more than 10000 values, a NUL character in a value or
 *     a value longer than 4000 characters (also once expanded);
 *   - unknown top-level keys or link settings, empty (null) values, a steps
 *     list that is empty or holds anything but step names with arguments;
 *   - ports: that is not a list of port URLs (text on one line), is empty,
 *     holds more than FL_RECIPE_MAX_PORTS or names a port twice;
 *   - vars whose name is not an identifier or is built in (port, chip, recipe,
 *     recipe_dir, station, operator), ${...} in link: or vars: values;
 *   - link and stock-step values out of range: baud 9600..6000000 (or max), timeouts
 *     0 < s <= 3600, reset auto|pulse|reboot|manual|none, flash offsets below
 *     16 MiB, yes/no flags true|false|yes|no, file names not empty;
 *   - (fl_recipe_check) a ${name} that is neither a var, a --set, a built-in
 *     nor a run-time name (unit.FIELD, run.FIELD), and a --set naming none of
 *     the recipe's variables (exit 2: a command-line error). */
#ifndef FL_STATION_RECIPE_H
#define FL_STATION_RECIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct fl_recipe_pos {
    int line, column; /* 1-based */
} fl_recipe_pos;

typedef struct fl_recipe_kv {
    char *key;
    char *value;
    fl_recipe_pos pos;     /* of the value */
    fl_recipe_pos key_pos; /* of the key */
} fl_recipe_kv;

typedef struct fl_recipe_step {
    char *type; /* step name: connect, backup, flash, verify, lua, ... */
    fl_recipe_pos pos;
    fl_recipe_kv *args;
    size_t nargs;
} fl_recipe_step;

/* A recipe's ports: list holds at most this many (the batch's limit). */
#define FL_RECIPE_MAX_PORTS 64

typedef struct fl_recipe {
    char *path;
    char *dir;          /* directory of the recipe file (relative paths resolve here) */
    char sha256[65];    /* of the file's bytes: logged with every run */
    char *name;
    char *description;
    char *chip;
    fl_recipe_pos chip_pos;
    bool allow_repeat;  /* a unit that PASSed this recipe may run it again without --again */
    fl_recipe_kv *link; /* baud, reset, link_timeout */
    size_t nlink;
    fl_recipe_kv *vars;
    size_t nvars;
    /* ports: the units' ports when the command line gives none (taken
     * literally: no ${...}); NULL/0 when the recipe has no ports: key. */
    char **ports;
    fl_recipe_pos *ports_pos;
    size_t nports;
    fl_recipe_step *steps;
    size_t nsteps;
} fl_recipe;

fl_status fl_recipe_load(const char *path, fl_recipe **out, fl_error *err);
/* The same from text in memory; path names it in errors and gives its directory. */
fl_status fl_recipe_parse(const char *path, const uint8_t *text, size_t len, fl_recipe **out,
                          fl_error *err);
void fl_recipe_free(fl_recipe *r);

/* Value of key in kvs, or NULL. */
const char *fl_recipe_get(const fl_recipe_kv *kvs, size_t n, const char *key);

/* Looks a variable up; returns its value, or NULL when unknown. */
typedef const char *(*fl_recipe_lookup)(void *ctx, const char *name);

/* Expand `${name}` in text (`$$` is a literal `$`).  *out is malloc'd.
 * An unknown name is an error naming FILE:LINE:COLUMN (pos of the value). */
fl_status fl_recipe_expand(const fl_recipe *r, const char *text, fl_recipe_pos pos,
                           fl_recipe_lookup lookup, void *ctx, char **out, fl_error *err);

/* unit.FIELD and run.FIELD: names only a run can give a value (steps fill
 * ctx.unit and ctx.run as they go). */
bool fl_recipe_is_late_var(const char *name);

/* The checks that need the command line, before any step is loaded: every
 * "KEY=VALUE" in sets names a variable the recipe declares or uses (else
 * FL_ERR_USAGE), and every step argument expands (lookup gives vars, --set
 * and built-ins; late names are recognised here) to a value in range for the
 * stock steps' typed arguments (FL_ERR_FORMAT with FILE:LINE:COLUMN). */
fl_status fl_recipe_check(const fl_recipe *r, const char *const *sets, size_t nsets,
                          fl_recipe_lookup lookup, void *ctx, fl_error *err);

#endif
