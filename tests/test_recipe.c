/* test_recipe.c — the recipe loader on its own: what it accepts, the bounds a
 * hostile file meets (depth, aliases, size, documents, duplicates), the checks
 * that need the command line, and a mutation smoke run of the fuzz body over
 * the stock recipes and the bad-recipe corpus. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/recipe_body.h"
#include "station/recipe.h"
#include "testlib.h"

static uint32_t rng_state = 0x7ec1be5u;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static fl_status parse(const char *text, fl_recipe **r, fl_error *e)
{
    return fl_recipe_parse("t.yaml", (const uint8_t *)text, strlen(text), r, e);
}

/* The error a text gets, or "" when it loads. */
static const char *error_of(const char *text)
{
    static fl_error e;
    fl_recipe *r = NULL;
    memset(&e, 0, sizeof e);
    if (parse(text, &r, &e) == FL_OK) {
        fl_recipe_free(r);
        return "";
    }
    return e.msg;
}

#define HEAD "name: t\nchip: bk7231n\n"

static void test_good_recipe(void)
{
    fl_recipe *r = NULL;
    fl_error e = {0};
    const char *text = HEAD "link: { baud: 921600, reset: manual, link_timeout: 2.5 }\n"
                            "vars: { fw: &fw a.bin, copy: *fw }\n"
                            "steps:\n  - connect:\n  - flash: { image: \"${fw}\", offset: 0x11000 }\n";
    CHECK(parse(text, &r, &e) == FL_OK, "%s", e.msg);
    if (!r)
        return;
    CHECK_STR(r->name, "t");
    CHECK_STR(r->chip, "bk7231n");
    CHECK(r->nsteps == 2 && r->steps[0].nargs == 0 && r->steps[1].nargs == 2, "steps");
    CHECK_STR(fl_recipe_get(r->vars, r->nvars, "copy"), "a.bin"); /* a plain alias is fine */
    CHECK_STR(fl_recipe_get(r->link, r->nlink, "link_timeout"), "2.5");
    CHECK_STR(r->dir, ".");
    fl_recipe_free(r);
}

static void test_structure_refused(void)
{
    CHECK(strstr(error_of(HEAD "steps: [connect]\nchip: bk7231t\n"),
                 "t.yaml:4:1: 'chip' is given twice (first at line 2)"), "%s", error_of(""));
    CHECK(strstr(error_of(HEAD "steps: [connect]\n---\n" HEAD "steps: [connect]\n"),
                 "t.yaml:4:1: a second YAML document"), "2 docs");
    CHECK(strstr(error_of(HEAD "steps: [connect]\n...\n---\nfoo\n"), "second YAML document"),
          "2 docs after an end marker");
    CHECK(!strcmp(error_of("---\n" HEAD "steps: [connect]\n...\n"), ""), "one explicit document");
    CHECK(strstr(error_of(HEAD "steps:\n  - lua: {file: x, a: {b: 1, b: 2}}\n"), "'b' is given twice"),
          "duplicate deep inside a value");
    CHECK(strstr(error_of(HEAD "steps:\n  - flash: { image: \"a\\0b\" }\n"), "NUL character"),
          "NUL");
    CHECK(strstr(error_of(HEAD "steps:\n  - connect\n  - ~\n"), "t.yaml:5:5: empty step"), "null step");
    CHECK(strstr(error_of(HEAD "description:\nsteps: [connect]\n"), "'description' has no value"),
          "null description");
    CHECK(strstr(error_of(HEAD "vars: { \"a b\": 1 }\nsteps: [connect]\n"), "not a variable name"),
          "var name");
    CHECK(strstr(error_of(HEAD "vars: { operator: me }\nsteps: [connect]\n"), "built-in variable"),
          "built-in var");
    CHECK(strstr(error_of(HEAD "link: { baud: 115200.5 }\nsteps: [connect]\n"), "'baud' is '115200.5'"),
          "fractional baud");
    CHECK(strstr(error_of(HEAD "link: { baud: 9599 }\nsteps: [connect]\n"), "expected a whole number"),
          "baud below range");
    CHECK(!strcmp(error_of(HEAD "link: { baud: 9600 }\nsteps: [connect]\n"), ""), "baud 9600");
    CHECK(!strcmp(error_of(HEAD "link: { baud: 6000000 }\nsteps: [connect]\n"), ""), "baud 6M");
    CHECK(strstr(error_of(HEAD "link: { link_timeout: 1e3 }\nsteps: [connect]\n"), "link_timeout"),
          "exponent");
    CHECK(strstr(error_of(HEAD "link: { link_timeout: 3600.1 }\nsteps: [connect]\n"), "at most 3600"),
          "timeout cap");
}

/* ports: the units' ports in order, with where each was written; refused
 * like any other key when malformed (the corpus in tests/recipes/bad has
 * one file per mistake, checked through the CLI by tests/cli/recipes.sh). */
static void test_ports(void)
{
    fl_recipe *r = NULL;
    fl_error e = {0};
    const char *text = HEAD "ports:\n  - /dev/ttyUSB0\n  - \"sim:bk7231n?flash=a.bin&timescale=0\"\n"
                            "steps: [connect]\n";
    CHECK(parse(text, &r, &e) == FL_OK, "%s", e.msg);
    if (r) {
        CHECK_EQ_UINT(r->nports, 2);
        if (r->nports == 2) {
            CHECK_STR(r->ports[0], "/dev/ttyUSB0");
            CHECK_STR(r->ports[1], "sim:bk7231n?flash=a.bin&timescale=0");
            CHECK(r->ports_pos[1].line == 5 && r->ports_pos[1].column == 5, "pos %d:%d",
                  r->ports_pos[1].line, r->ports_pos[1].column);
        }
        fl_recipe_free(r);
    }
    r = NULL;
    CHECK(parse(HEAD "steps: [connect]\n", &r, &e) == FL_OK && r && r->nports == 0 && !r->ports,
          "no ports: key, no ports");
    fl_recipe_free(r);
    CHECK(strstr(error_of(HEAD "ports: [a, b, a]\nsteps: [connect]\n"),
                 "t.yaml:3:15: port 'a' is listed twice in 'ports' (first at line 3)"),
          "duplicate port: %s", error_of(HEAD "ports: [a, b, a]\nsteps: [connect]\n"));
    CHECK(strstr(error_of(HEAD "ports:\nsteps: [connect]\n"),
                 "t.yaml:3:7: expected a list of port URLs under 'ports'"),
          "null ports: %s", error_of(HEAD "ports:\nsteps: [connect]\n"));
    CHECK(strstr(error_of(HEAD "ports: [a]\nsteps: [connect]\nports: [b]\n"),
                 "t.yaml:5:1: 'ports' is given twice (first at line 3)"),
          "ports twice: %s", error_of(HEAD "ports: [a]\nsteps: [connect]\nports: [b]\n"));
    CHECK(strstr(error_of(HEAD "ports: [\"a\\tb\"]\nsteps: [connect]\n"), "control characters"),
          "control character");
    /* 65 ports: one past the batch's limit */
    char many[2048];
    int n = snprintf(many, sizeof many, HEAD "ports: [");
    for (int i = 0; i < 65; i++)
        n += snprintf(many + n, sizeof many - (size_t)n, "%sp%d", i ? ", " : "", i);
    snprintf(many + n, sizeof many - (size_t)n, "]\nsteps: [connect]\n");
    CHECK(strstr(error_of(many), "t.yaml:3:8: 'ports' lists 65 ports: at most 64"), "65 ports: %s",
          error_of(many));
}

/* Nesting, the top mapping being level 1: 64 levels are still read (and
 * refused for their shape), 65 are refused as too deep; 200000 end at once. */
static char *nested(int depth)
{
    size_t n = strlen(HEAD "steps: \n") + 2 * (size_t)depth + 1;
    char *t = malloc(n);
    char *p = t + sprintf(t, HEAD "steps: ");
    memset(p, '[', (size_t)depth);
    memset(p + depth, ']', (size_t)depth);
    strcpy(p + 2 * depth, "\n");
    return t;
}

static void test_depth(void)
{
    char *t = nested(63);
    CHECK(strstr(error_of(t), "expected a step"), "64 levels: %s", error_of(t));
    free(t);
    t = nested(64);
    CHECK(strstr(error_of(t), "t.yaml:3:71: nested deeper than 64 levels"), "65: %s", error_of(t));
    free(t);
    t = nested(200000);
    CHECK(strstr(error_of(t), "nested deeper than 64 levels"), "200000 levels");
    free(t);
}

static void test_aliases(void)
{
    /* 10 x 10 x 10 x 10 = 10000 values plus the lists: over the bound */
    const char *bomb = HEAD "vars: { a: &a [x, x, x, x, x, x, x, x, x, x] }\n"
                            "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                            "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                            "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                            "steps: [connect]\n";
    /* 1243 values up to "d: &d [", each *c adds 1111: the 8th, at column 36, is too many */
    CHECK(strstr(error_of(bomb), "t.yaml:6:36: aliases expand the recipe beyond 10000 values"),
          "bomb: %s", error_of(bomb));
    CHECK(strstr(error_of(HEAD "steps: &s [connect, *s]\n"), "refers to a node that contains it"),
          "cycle");
    CHECK(strstr(error_of(HEAD "steps: [*nope]\n"), "has no anchor"), "undefined");
    CHECK(strstr(error_of(HEAD "vars: { &k a: 1, *k : 2 }\nsteps: [connect]\n"), "cannot be a key"),
          "alias key");
}

static const char *lookup(void *ctx, const char *name)
{
    (void)ctx;
    if (!strcmp(name, "chip"))
        return "bk7231n";
    if (!strcmp(name, "baud"))
        return "-5";
    if (!strcmp(name, "known"))
        return "1";
    return NULL;
}

static const char *check_error(const char *text, const char *const *sets, size_t nsets)
{
    static fl_error e;
    fl_recipe *r = NULL;
    memset(&e, 0, sizeof e);
    if (parse(text, &r, &e) != FL_OK)
        return e.msg;
    fl_status st = fl_recipe_check(r, sets, nsets, lookup, NULL, &e);
    fl_recipe_free(r);
    return st ? e.msg : "";
}

static void test_check(void)
{
    CHECK(fl_recipe_is_late_var("unit.mac") && fl_recipe_is_late_var("run.id") &&
              !fl_recipe_is_late_var("unit.") && !fl_recipe_is_late_var("mac") &&
              !fl_recipe_is_late_var("unit.a b"),
          "late names");
    CHECK(!strcmp(check_error(HEAD "steps:\n  - backup: { dir: \"${unit.mac}/${run.id}/${known}\" }\n",
                              NULL, 0), ""),
          "late and known names");
    CHECK(strstr(check_error(HEAD "steps:\n  - backup: { dir: \"${nope}\" }\n", NULL, 0),
                 "t.yaml:4:20: unknown variable ${nope}"),
          "unknown in a plain argument");
    CHECK(strstr(check_error(HEAD "steps:\n  - connect: { baud: \"${baud}\" }\n", NULL, 0),
                 "'baud' is '-5' (from '${baud}')"),
          "expanded value range-checked");
    CHECK(!strcmp(check_error(HEAD "steps:\n  - connect: { baud: \"${unit.baud}\" }\n", NULL, 0), ""),
          "a value known only at run time is not range-checked now");
    CHECK(!strcmp(check_error(HEAD "steps:\n  - lua: { file: x.lua, baud: -5 }\n", NULL, 0), ""),
          "custom steps' arguments are theirs");
    const char *unknown[] = {"nosuch=1"}, *builtin[] = {"port=x"}, *twice[] = {"v=1", "v=2"};
    const char *declared[] = {"v=2"}, *used[] = {"u=3"};
    const char *with_vars = HEAD "vars: { v: 1, w: 2 }\nsteps:\n  - backup: { dir: \"${u}\" }\n";
    CHECK(strstr(check_error(with_vars, unknown, 1), "has no variable 'nosuch' (its variables: v, w)"),
          "unknown --set: %s", check_error(with_vars, unknown, 1));
    CHECK(strstr(check_error(with_vars, builtin, 1), "not a recipe variable"), "built-in --set");
    CHECK(strstr(check_error(with_vars, twice, 2), "given twice"), "--set twice");
    /* u is used but neither declared nor known to lookup: the --set is fine,
     * the reference still needs a value from the caller's lookup */
    CHECK(strstr(check_error(with_vars, used, 1), "unknown variable ${u}"), "used --set");
    CHECK(!strcmp(check_error(HEAD "vars: { v: 1 }\nsteps: [connect]\n", declared, 1), ""),
          "declared --set");
    fl_error e;
    fl_recipe *r = NULL;
    if (parse(with_vars, &r, &e) == FL_OK) {
        CHECK(fl_recipe_check(r, unknown, 1, lookup, NULL, &e) == FL_ERR_USAGE, "usage status");
        fl_recipe_free(r);
    }
}

/* ---- mutation smoke run of the fuzz body (a few seconds) ---------------------- */

static size_t load_seeds(char **seeds, size_t cap)
{
    size_t n = 0;
    const char *dirs[] = {"recipes", "tests/recipes/bad"};
    for (size_t d = 0; d < 2; d++) {
        DIR *dir = opendir(dirs[d]);
        CHECK(dir != NULL, "cannot open %s (run from the repository root)", dirs[d]);
        struct dirent *de;
        while (dir && (de = readdir(dir)) && n < cap) {
            size_t len = strlen(de->d_name);
            if (len < 5 || strcmp(de->d_name + len - 5, ".yaml"))
                continue;
            char path[512];
            snprintf(path, sizeof path, "%s/%s", dirs[d], de->d_name);
            uint8_t *t = tl_load(path, &len);
            if (t) {
                seeds[n] = realloc(t, len + 1);
                seeds[n++][len] = '\0';
            }
        }
        if (dir)
            closedir(dir);
    }
    return n;
}

/* Flip, insert or delete bytes, favouring the ones YAML gives meaning to. */
static size_t mutate(char *m, size_t len, size_t cap)
{
    static const char special[] = "-:[]{}&*!|>'\"#%@`,?~\n \t$\\";
    int edits = 1 + (int)(rnd() % 6);
    for (int i = 0; i < edits && len > 0; i++) {
        size_t at = rnd() % len;
        char c = rnd() % 4 ? special[rnd() % (sizeof special - 1)] : (char)rnd();
        switch (rnd() % 3) {
        case 0: m[at] = c; break;
        case 1:
            if (len + 1 < cap) {
                memmove(m + at + 1, m + at, len - at);
                m[at] = c;
                len++;
            }
            break;
        default:
            memmove(m + at, m + at + 1, len - at - 1);
            len--;
        }
    }
    return len;
}

static void test_mutation_smoke(void)
{
    char *seeds[128];
    size_t nseeds = load_seeds(seeds, 128);
    CHECK(nseeds > 20, "%zu seeds", nseeds);
    if (nseeds == 0)
        return;
    int runs = 0, loaded = 0;
    char m[8192];
    for (int i = 0; i < 600; i++) {
        const char *s = seeds[(size_t)i % nseeds];
        size_t len = strlen(s) < sizeof m ? strlen(s) : sizeof m - 64;
        memcpy(m, s, len);
        len = mutate(m, len, sizeof m);
        fl_recipe *r = NULL;
        fl_error e;
        if (fl_recipe_parse("x.yaml", (const uint8_t *)m, len, &r, &e) == FL_OK) {
            loaded++;
            fl_recipe_free(r);
        }
        fuzz_recipe((const uint8_t *)m, len);
        runs++;
    }
    for (size_t i = 0; i < nseeds; i++) { /* unmutated, and cut anywhere */
        fuzz_recipe((const uint8_t *)seeds[i], strlen(seeds[i]));
        fuzz_recipe((const uint8_t *)seeds[i], rnd() % (strlen(seeds[i]) + 1));
        runs += 2;
        free(seeds[i]);
    }
    CHECK(runs == 600 + 2 * (int)nseeds, "ran %d inputs", runs);
    CHECK(loaded > 0 && loaded < 600, "%d of 600 mutants loaded: the mutations reach both paths",
          loaded);
}

int main(void)
{
    RUN(test_good_recipe);
    RUN(test_structure_refused);
    RUN(test_ports);
    RUN(test_depth);
    RUN(test_aliases);
    RUN(test_check);
    RUN(test_mutation_smoke);
    return testlib_finish();
}
