/* recipe.h — YAML recipes: a product's link defaults, variables and ordered
 * steps (libyaml).  Loading checks the shape; every error names
 * FILE:LINE:COLUMN and what was expected there.
 *
 *   name: bk7231n-obk                  # shown and logged with every run
 *   description: back up, flash OpenBeken, verify
 *   chip: bk7231n
 *   link: { baud: 921600, reset: auto, link_timeout: 20 }
 *   vars: { firmware: ../shared/testdata/obk-images/OpenBK7231N_QIO_1.18.300.bin }
 *   steps:
 *     - connect
 *     - backup: { dir: backups }
 *     - flash: { image: "${firmware}" }
 *
 * Values are kept as text; `${name}` references are expanded when a step
 * runs (fl_recipe_expand). */
#ifndef FL_STATION_RECIPE_H
#define FL_STATION_RECIPE_H

#include <stddef.h>

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

typedef struct fl_recipe {
    char *path;
    char *dir;          /* directory of the recipe file (relative paths resolve here) */
    char sha256[65];    /* of the file's bytes: logged with every run */
    char *name;
    char *description;
    char *chip;
    fl_recipe_pos chip_pos;
    fl_recipe_kv *link; /* baud, reset, link_timeout */
    size_t nlink;
    fl_recipe_kv *vars;
    size_t nvars;
    fl_recipe_step *steps;
    size_t nsteps;
} fl_recipe;

fl_status fl_recipe_load(const char *path, fl_recipe **out, fl_error *err);
void fl_recipe_free(fl_recipe *r);

/* Value of key in kvs, or NULL. */
const char *fl_recipe_get(const fl_recipe_kv *kvs, size_t n, const char *key);

/* Looks a variable up; returns its value, or NULL when unknown. */
typedef const char *(*fl_recipe_lookup)(void *ctx, const char *name);

/* Expand `${name}` in text (`$$` is a literal `$`).  *out is malloc'd.
 * An unknown name is an error naming FILE:LINE:COLUMN (pos of the value). */
fl_status fl_recipe_expand(const fl_recipe *r, const char *text, fl_recipe_pos pos,
                           fl_recipe_lookup lookup, void *ctx, char **out, fl_error *err);

#endif
