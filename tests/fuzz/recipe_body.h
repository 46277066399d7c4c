/* recipe_body.h — what the recipe fuzz target does with one input.  Shared by
 * the libFuzzer target (tests/fuzz/fuzz_recipe.c) and the mutation smoke run
 * of the unit suite (tests/test_recipe.c).  Any bytes must give either a
 * recipe whose invariants hold or a FILE:LINE:COLUMN error, without a crash,
 * a leak, a sanitizer report or a long stall (abort() when an invariant
 * breaks, which libFuzzer reports as a crash). */
#ifndef FL_FUZZ_RECIPE_BODY_H
#define FL_FUZZ_RECIPE_BODY_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "station/recipe.h"

#define FUZZ_RECIPE_ASSERT(c) \
    do {                      \
        if (!(c))             \
            abort();          \
    } while (0)

/* Built-ins as a run would give them, plus one --set. */
static inline const char *fuzz_recipe_lookup(void *ctx, const char *name)
{
    const fl_recipe *r = ctx;
    if (!strcmp(name, "chip"))
        return r->chip;
    if (!strcmp(name, "port") || !strcmp(name, "station") || !strcmp(name, "set_by_cli"))
        return "x";
    return fl_recipe_get(r->vars, r->nvars, name);
}

static inline void fuzz_recipe_kvs(const fl_recipe *r, const fl_recipe_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        FUZZ_RECIPE_ASSERT(kv[i].key && kv[i].key[0] && kv[i].value);
        FUZZ_RECIPE_ASSERT(kv[i].pos.line >= 1 && kv[i].pos.column >= 1);
        char *out = NULL;
        fl_error e;
        if (fl_recipe_expand(r, kv[i].value, kv[i].pos, fuzz_recipe_lookup, (void *)r, &out, &e) ==
            FL_OK)
            free(out);
        else
            FUZZ_RECIPE_ASSERT(e.msg[0] != '\0');
    }
}

static inline void fuzz_recipe(const uint8_t *data, size_t size)
{
    fl_recipe *r = NULL;
    fl_error e = {0};
    if (fl_recipe_parse("fuzz.yaml", data, size, &r, &e) != FL_OK) {
        /* every refusal says where: "fuzz.yaml:LINE:COLUMN: ..." or "fuzz.yaml: ..." */
        FUZZ_RECIPE_ASSERT(r == NULL && !strncmp(e.msg, "fuzz.yaml:", 10));
        return;
    }
    FUZZ_RECIPE_ASSERT(r->name && r->name[0] && r->chip && r->chip[0] && r->nsteps > 0);
    FUZZ_RECIPE_ASSERT(strlen(r->sha256) == 64);
    for (size_t i = 0; i < r->nsteps; i++) {
        FUZZ_RECIPE_ASSERT(r->steps[i].type && r->steps[i].type[0]);
        fuzz_recipe_kvs(r, r->steps[i].args, r->steps[i].nargs);
    }
    fuzz_recipe_kvs(r, r->link, r->nlink);
    fuzz_recipe_kvs(r, r->vars, r->nvars);
    fl_status st = fl_recipe_check(r, NULL, 0, fuzz_recipe_lookup, r, &e);
    FUZZ_RECIPE_ASSERT(st == FL_OK || e.msg[0] != '\0');
    const char *sets[] = {"set_by_cli=1"};
    st = fl_recipe_check(r, sets, 1, fuzz_recipe_lookup, r, &e);
    FUZZ_RECIPE_ASSERT(st == FL_OK || e.msg[0] != '\0');
    fl_recipe_free(r);
}

#endif
