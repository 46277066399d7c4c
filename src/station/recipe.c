/* recipe.c — loading YAML recipes with libyaml.
 *
 * Two passes over the text: a scan of libyaml's events first refuses what the
 * document API would accept silently or too slowly (a second document,
 * duplicate keys at any level, nesting deeper than MAX_DEPTH, aliases that
 * expand beyond MAX_EXPANDED values, NUL bytes in values); only then is the
 * document loaded and its shape checked.  The scan stops at the first problem,
 * so a hostile file costs at most a few hundred events. */
#include "station/recipe.h"

#include <ctype.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "util/fileio.h"
#include "util/sha256.h"

#define MAX_RECIPE_BYTES (1u << 20)
#define MAX_DEPTH 64         /* a recipe needs 4; libyaml's scanner is quadratic in depth */
#define MAX_NODES 10000      /* values written in the file */
#define MAX_EXPANDED 10000   /* values once every alias is expanded (billion laughs) */
#define MAX_ANCHORS 256
#define MAX_VALUE_LEN 4000   /* step arguments end up in PATH_MAX buffers: never cut one short */

typedef struct loader {
    fl_recipe *r;
    yaml_document_t doc;
    fl_error *err;
} loader;

static fl_recipe_pos pos_of(const yaml_node_t *n)
{
    fl_recipe_pos p = {(int)n->start_mark.line + 1, (int)n->start_mark.column + 1};
    return p;
}

static fl_recipe_pos pos_of_mark(yaml_mark_t m)
{
    fl_recipe_pos p = {(int)m.line + 1, (int)m.column + 1};
    return p;
}

static fl_status failf(loader *ld, fl_recipe_pos p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static fl_status failf(loader *ld, fl_recipe_pos p, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return fl_fail(ld->err, FL_ERR_FORMAT, "%s:%d:%d: %s", ld->r->path, p.line, p.column, msg);
}

static fl_status yaml_fail(loader *ld, const yaml_parser_t *parser)
{
    return fl_fail(ld->err, FL_ERR_FORMAT, "%s:%zu:%zu: %s%s%s", ld->r->path,
                   parser->problem_mark.line + 1, parser->problem_mark.column + 1,
                   parser->problem ? parser->problem : "bad YAML", parser->context ? " " : "",
                   parser->context ? parser->context : "");
}

/* ---- the event scan ---------------------------------------------------------- */

typedef struct scan_key {
    char *text;
    size_t len;
    yaml_mark_t mark;
} scan_key;

typedef struct scan_frame {
    bool is_map;
    size_t items;   /* children started so far (in a mapping: key, value, key, ...) */
    size_t size;    /* values under this node once aliases are expanded, itself included */
    char *anchor;   /* its &anchor, registered when the node ends */
    scan_key *keys; /* a mapping's scalar keys, for the duplicate check */
    size_t nkeys, cap;
} scan_frame;

typedef struct scan_anchor {
    char *name;
    size_t size;
} scan_anchor;

typedef struct scanner {
    loader *ld;
    scan_frame stack[MAX_DEPTH];
    int depth;
    scan_anchor anchors[MAX_ANCHORS];
    size_t nanchors;
    size_t nodes, expanded, docs;
} scanner;

static void frame_free(scan_frame *f)
{
    for (size_t i = 0; i < f->nkeys; i++)
        free(f->keys[i].text);
    free(f->keys);
    free(f->anchor);
    memset(f, 0, sizeof *f);
}

static void scanner_free(scanner *sc)
{
    while (sc->depth > 0)
        frame_free(&sc->stack[--sc->depth]);
    for (size_t i = 0; i < sc->nanchors; i++)
        free(sc->anchors[i].name);
}

static int key_cmp(const void *a, const void *b)
{
    const scan_key *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->text, y->text, n);
    if (c)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->mark.index < y->mark.index ? -1 : x->mark.index > y->mark.index;
}

/* Sorting finds every duplicate in n log n (a hostile mapping may hold
 * thousands of keys); the one reported is the first repeat in the file. */
static fl_status check_duplicate_keys(scanner *sc, scan_frame *f)
{
    if (f->nkeys < 2)
        return FL_OK;
    qsort(f->keys, f->nkeys, sizeof *f->keys, key_cmp);
    const scan_key *first = NULL, *repeat = NULL;
    for (size_t i = 1; i < f->nkeys; i++) {
        const scan_key *a = &f->keys[i - 1], *b = &f->keys[i];
        bool same_as_prev = a->len == b->len && !memcmp(a->text, b->text, a->len);
        bool starts_group = i < 2 || !(f->keys[i - 2].len == a->len &&
                                      !memcmp(f->keys[i - 2].text, a->text, a->len));
        if (same_as_prev && starts_group && (!repeat || b->mark.index < repeat->mark.index))
            first = a, repeat = b;
    }
    if (!repeat)
        return FL_OK;
    return failf(sc->ld, pos_of_mark(repeat->mark), "'%.*s' is given twice (first at line %zu)",
                 (int)(repeat->len > 100 ? 100 : repeat->len), repeat->text,
                 first->mark.line + 1);
}

static scan_frame *top_frame(scanner *sc)
{
    return sc->depth ? &sc->stack[sc->depth - 1] : NULL;
}

/* Every value adds its expanded size to the document's: the scan refuses a
 * document that would expand past MAX_EXPANDED before anything walks it. */
static fl_status count_expanded(scanner *sc, size_t size, yaml_mark_t mark)
{
    sc->expanded += size;
    if (sc->expanded > MAX_EXPANDED || size > MAX_EXPANDED)
        return failf(sc->ld, pos_of_mark(mark),
                     "aliases expand the recipe beyond %d values: refused (an alias bomb?)",
                     MAX_EXPANDED);
    return FL_OK;
}

static fl_status add_anchor(scanner *sc, const yaml_char_t *name, size_t size, yaml_mark_t mark)
{
    if (sc->nanchors == MAX_ANCHORS)
        return failf(sc->ld, pos_of_mark(mark), "more than %d anchors (&name): refused",
                     MAX_ANCHORS);
    char *copy = strdup((const char *)name);
    if (!copy)
        return fl_fail(sc->ld->err, FL_ERR_INTERNAL, "out of memory");
    sc->anchors[sc->nanchors].name = copy;
    sc->anchors[sc->nanchors++].size = size;
    return FL_OK;
}

static fl_status alias_size(scanner *sc, const yaml_char_t *name, yaml_mark_t mark, size_t *size)
{
    for (size_t i = sc->nanchors; i-- > 0;) /* the latest definition wins */
        if (!strcmp(sc->anchors[i].name, (const char *)name)) {
            *size = sc->anchors[i].size;
            return FL_OK;
        }
    for (int d = 0; d < sc->depth; d++)
        if (sc->stack[d].anchor && !strcmp(sc->stack[d].anchor, (const char *)name))
            return failf(sc->ld, pos_of_mark(mark),
                         "alias *%.100s refers to a node that contains it (endless)", name);
    return failf(sc->ld, pos_of_mark(mark), "alias *%.100s has no anchor &%.100s before it", name,
                 name);
}

static fl_status remember_key(scanner *sc, scan_frame *f, const yaml_event_t *ev)
{
    if (f->nkeys == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        scan_key *k = realloc(f->keys, cap * sizeof *k);
        if (!k)
            return fl_fail(sc->ld->err, FL_ERR_INTERNAL, "out of memory");
        f->keys = k, f->cap = cap;
    }
    scan_key *k = &f->keys[f->nkeys];
    k->len = ev->data.scalar.length;
    k->text = malloc(k->len ? k->len : 1);
    if (!k->text)
        return fl_fail(sc->ld->err, FL_ERR_INTERNAL, "out of memory");
    memcpy(k->text, ev->data.scalar.value, k->len);
    k->mark = ev->start_mark;
    f->nkeys++;
    return FL_OK;
}

/* A value (scalar, alias or the start of a collection) inside the current
 * collection: is it a mapping key, and does the file stay within bounds? */
static fl_status scan_node(scanner *sc, const yaml_event_t *ev)
{
    scan_frame *parent = top_frame(sc);
    bool is_key = parent && parent->is_map && parent->items % 2 == 0;
    if (parent)
        parent->items++;
    if (ev->type != YAML_ALIAS_EVENT && ++sc->nodes > MAX_NODES)
        return failf(sc->ld, pos_of_mark(ev->start_mark),
                     "more than %d values: this is not a recipe", MAX_NODES);
    switch (ev->type) {
    case YAML_ALIAS_EVENT: {
        if (is_key)
            return failf(sc->ld, pos_of_mark(ev->start_mark),
                         "an alias (*%.100s) cannot be a key", ev->data.alias.anchor);
        size_t size = 0;
        fl_status st = alias_size(sc, ev->data.alias.anchor, ev->start_mark, &size);
        if (!st)
            st = count_expanded(sc, size, ev->start_mark);
        if (!st && parent)
            parent->size += size;
        return st;
    }
    case YAML_SCALAR_EVENT: {
        if (memchr(ev->data.scalar.value, 0, ev->data.scalar.length))
            return failf(sc->ld, pos_of_mark(ev->start_mark),
                         "%s", "a NUL character (\\0) in a value: refused");
        if (ev->data.scalar.length > MAX_VALUE_LEN)
            return failf(sc->ld, pos_of_mark(ev->start_mark),
                         "a value of %zu characters: at most %d are allowed",
                         ev->data.scalar.length, MAX_VALUE_LEN);
        fl_status st = count_expanded(sc, 1, ev->start_mark);
        if (!st && is_key)
            st = remember_key(sc, parent, ev);
        if (!st && ev->data.scalar.anchor)
            st = add_anchor(sc, ev->data.scalar.anchor, 1, ev->start_mark);
        if (!st && parent)
            parent->size++;
        return st;
    }
    default: { /* sequence or mapping start */
        if (sc->depth == MAX_DEPTH)
            return failf(sc->ld, pos_of_mark(ev->start_mark),
                         "nested deeper than %d levels: refused", MAX_DEPTH);
        fl_status st = count_expanded(sc, 1, ev->start_mark);
        if (st)
            return st;
        const yaml_char_t *anchor = ev->type == YAML_MAPPING_START_EVENT
                                        ? ev->data.mapping_start.anchor
                                        : ev->data.sequence_start.anchor;
        scan_frame *f = &sc->stack[sc->depth++];
        memset(f, 0, sizeof *f);
        f->is_map = ev->type == YAML_MAPPING_START_EVENT;
        f->size = 1;
        if (anchor && !(f->anchor = strdup((const char *)anchor)))
            return fl_fail(sc->ld->err, FL_ERR_INTERNAL, "out of memory");
        return FL_OK;
    }
    }
}

static fl_status scan_end(scanner *sc, const yaml_event_t *ev)
{
    scan_frame *f = top_frame(sc);
    fl_status st = f->is_map ? check_duplicate_keys(sc, f) : FL_OK;
    if (!st && f->anchor)
        st = add_anchor(sc, (const yaml_char_t *)f->anchor, f->size, ev->start_mark);
    size_t size = f->size;
    frame_free(f);
    sc->depth--;
    if (!st && sc->depth)
        sc->stack[sc->depth - 1].size += size;
    return st;
}

static fl_status scan_event(scanner *sc, const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++sc->docs > 1)
            return failf(sc->ld, pos_of_mark(ev->start_mark), "%s",
                         "a second YAML document starts here: a recipe is one document "
                         "(remove the '---' and what follows)");
        return FL_OK;
    case YAML_ALIAS_EVENT:
    case YAML_SCALAR_EVENT:
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        return scan_node(sc, ev);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return scan_end(sc, ev);
    default:
        return FL_OK;
    }
}

static fl_status scan_events(loader *ld, const uint8_t *text, size_t len)
{
    scanner sc = {.ld = ld};
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, text, len);
    fl_status st = FL_OK;
    for (bool done = false; !st && !done;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            st = yaml_fail(ld, &parser);
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        st = scan_event(&sc, &ev);
        yaml_event_delete(&ev);
    }
    scanner_free(&sc);
    yaml_parser_delete(&parser);
    return st;
}

/* ---- the document ------------------------------------------------------------ */

static const char *node_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE: return "a value";
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_MAPPING_NODE: return "a mapping";
    default: return "nothing";
    }
}

static yaml_node_t *node(loader *ld, int id)
{
    return yaml_document_get_node(&ld->doc, id);
}

static char *scalar_dup(const yaml_node_t *n)
{
    return strndup((const char *)n->data.scalar.value, n->data.scalar.length);
}

static bool scalar_is(const yaml_node_t *n, const char *s)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.length == strlen(s) &&
           !memcmp(n->data.scalar.value, s, n->data.scalar.length);
}

/* `key:` with nothing after it, `~` or `null` (unquoted): YAML's null. */
static bool scalar_is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    return n->data.scalar.length == 0 || scalar_is(n, "~") || scalar_is(n, "null") ||
           scalar_is(n, "Null") || scalar_is(n, "NULL");
}

/* Built-in variables: a recipe var or --set of the same name would change
 * what ${name} says without changing what the run does. */
static const char *const BUILTIN_VARS[] = {"port", "chip", "recipe", "recipe_dir", "station",
                                           "operator", NULL};

static bool is_builtin_var(const char *name)
{
    for (const char *const *b = BUILTIN_VARS; *b; b++)
        if (!strcmp(*b, name))
            return true;
    return false;
}

static bool is_var_name(const char *s)
{
    if (!(isalpha((unsigned char)*s) || *s == '_'))
        return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_' || *s == '-'))
            return false;
    return true;
}

/* ---- typed values -------------------------------------------------------------
 * Recipe values are text; these are the ones the stock steps read as numbers,
 * modes or yes/no.  A value out of range is refused here rather than wrapped
 * or ignored later (baud -5 once ran at 4294967291).  The lists mirror
 * the params of lua/steps/ (NAME.lua) and fl_reset_mode_parse(). */

typedef enum arg_kind {
    ARG_BAUD, ARG_SECONDS, ARG_RESET, ARG_OFFSET, ARG_SIZE, ARG_YESNO, ARG_PATH
} arg_kind;

#define MIN_BAUD 9600
#define MAX_BAUD 6000000
#define MAX_TIMEOUT_S 3600.0
#define FLASH_ADDR_LIMIT 0x1000000u /* 16 MiB: the largest flash a Beken module carries */

static const struct typed_arg {
    const char *step; /* NULL: the recipe's link: settings */
    const char *arg;
    arg_kind kind;
} TYPED_ARGS[] = {
    {NULL, "baud", ARG_BAUD},
    {NULL, "link_timeout", ARG_SECONDS},
    {NULL, "reset", ARG_RESET},
    {"connect", "baud", ARG_BAUD},
    {"connect", "link_timeout", ARG_SECONDS},
    {"connect", "reset", ARG_RESET},
    {"flash", "image", ARG_PATH},
    {"flash", "offset", ARG_OFFSET},
    {"flash", "allow_bootloader", ARG_YESNO},
    {"flash", "force", ARG_YESNO},
    {"flash", "raw", ARG_YESNO},
    {"verify", "image", ARG_PATH},
    {"verify", "offset", ARG_OFFSET},
    {"verify", "raw", ARG_YESNO},
    {"verify", "allow_bootloader", ARG_YESNO},
    {"verify", "force", ARG_YESNO},
    {"erase", "offset", ARG_OFFSET},
    {"erase", "size", ARG_SIZE},
    {"erase", "allow_bootloader", ARG_YESNO},
    {"identify", "require_mac", ARG_YESNO},
    {"extract_tuya", "store_secrets", ARG_YESNO},
    {"extract_tuya", "required", ARG_YESNO},
    {"backup", "dir", ARG_PATH},
    {"lua", "file", ARG_PATH},
};

static const struct typed_arg *typed_arg(const char *step, const char *arg)
{
    for (size_t i = 0; i < sizeof TYPED_ARGS / sizeof TYPED_ARGS[0]; i++) {
        const struct typed_arg *t = &TYPED_ARGS[i];
        if (((!t->step && !step) || (t->step && step && !strcmp(t->step, step))) &&
            !strcmp(t->arg, arg))
            return t;
    }
    return NULL;
}

static bool digits_only(const char *s, size_t max)
{
    size_t n = strspn(s, "0123456789");
    return n > 0 && n <= max && s[n] == '\0';
}

static bool is_baud(const char *v)
{
    if (!strcmp(v, "max")) /* the fastest rate the line holds: the connect step probes */
        return true;
    if (!digits_only(v, 7))
        return false;
    long b = strtol(v, NULL, 10);
    return b >= MIN_BAUD && b <= MAX_BAUD;
}

/* Plain decimal seconds ("20", "2.5"): no sign, exponent, hex, nan or inf. */
static bool is_seconds(const char *v)
{
    size_t whole = strspn(v, "0123456789");
    const char *rest = v + whole;
    size_t frac = 0;
    if (*rest == '.') {
        frac = strspn(rest + 1, "0123456789");
        rest += 1 + frac;
    }
    if (whole + frac == 0 || *rest || whole > 6)
        return false;
    double s = strtod(v, NULL);
    return isfinite(s) && s > 0 && s <= MAX_TIMEOUT_S;
}

/* Decimal or 0x hex, as the steps' tonumber() reads it, into *a; false when
 * it is neither or has more than 8 hex / 10 decimal digits. */
static bool parse_flash_number(const char *v, unsigned long *a)
{
    if ((v[0] == '0') && (v[1] == 'x' || v[1] == 'X')) {
        size_t n = strspn(v + 2, "0123456789abcdefABCDEF");
        if (n == 0 || n > 8 || v[2 + n])
            return false;
        *a = strtoul(v + 2, NULL, 16);
        return true;
    }
    if (!digits_only(v, 10))
        return false;
    *a = strtoul(v, NULL, 10);
    return true;
}

/* A byte count for a flash range: more than 0, at most 16 MiB. */
static bool is_flash_size(const char *v)
{
    unsigned long a;
    return parse_flash_number(v, &a) && a > 0 && a <= FLASH_ADDR_LIMIT;
}

/* Decimal or 0x hex, as the steps' tonumber() reads it; below 16 MiB. */
static bool is_flash_address(const char *v)
{
    unsigned long a;
    return parse_flash_number(v, &a) && a < FLASH_ADDR_LIMIT;
}

static bool one_of(const char *v, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(v, *list))
            return true;
    return false;
}

/* NULL when v is a good value of this kind, else what was expected. */
static const char *bad_value(arg_kind kind, const char *v)
{
    static const char *const resets[] = {"auto", "pulse", "reboot", "manual", "none", NULL};
    static const char *const yesno[] = {"true", "false", "yes", "no", NULL};
    switch (kind) {
    case ARG_BAUD: return is_baud(v) ? NULL : "a whole number of baud from 9600 to 6000000, or max";
    case ARG_SECONDS:
        return is_seconds(v) ? NULL : "seconds as a plain number greater than 0 and at most 3600";
    case ARG_RESET: return one_of(v, resets) ? NULL : "one of auto, pulse, reboot, manual, none";
    case ARG_OFFSET:
        return is_flash_address(v) ? NULL
                                   : "a flash address, decimal or 0x hex, below 16 MiB (0x1000000)";
    case ARG_SIZE:
        return is_flash_size(v) ? NULL
                                : "a size in bytes, decimal or 0x hex, more than 0 and at most "
                                  "16 MiB (0x1000000)";
    case ARG_YESNO: return one_of(v, yesno) ? NULL : "true or false (yes or no)";
    case ARG_PATH: return *v ? NULL : "a file or directory name, not empty";
    }
    return NULL;
}

/* ---- loading the document ------------------------------------------------------ */

typedef enum kv_kind { KV_ARGS, KV_LINK, KV_VARS } kv_kind;

static const char *kv_what(kv_kind kind)
{
    return kind == KV_LINK ? "'link'" : kind == KV_VARS ? "'vars'" : "the step's arguments";
}

/* One name: value pair of link:, vars: or a step's arguments. */
static fl_status check_pair(loader *ld, kv_kind kind, const fl_recipe_kv *kv,
                            const yaml_node_t *v)
{
    if (scalar_is_null(v)) {
        if (kind == KV_VARS)
            return failf(ld, kv->pos, "variable '%s' has no value (give it one here; --set %s=... "
                         "can still override it)", kv->key, kv->key);
        return failf(ld, kv->pos, "'%s' has no value (write one, or leave '%s' out)", kv->key,
                     kv->key);
    }
    if (kind == KV_VARS) {
        if (!is_var_name(kv->key))
            return failf(ld, kv->key_pos, "'%.100s' is not a variable name (letters, digits, _ and "
                         "-, starting with a letter or _)", kv->key);
        if (is_builtin_var(kv->key))
            return failf(ld, kv->key_pos, "'%s' is a built-in variable (port, chip, recipe, "
                         "recipe_dir, station, operator) and cannot be redefined", kv->key);
    }
    if (kind != KV_ARGS && strstr(kv->value, "${"))
        return failf(ld, kv->pos, "%s values cannot use variables (${...}): only step arguments "
                     "are expanded", kind == KV_LINK ? "'link'" : "'vars'");
    if (kind == KV_LINK) {
        const struct typed_arg *t = typed_arg(NULL, kv->key);
        if (!t)
            return failf(ld, kv->key_pos,
                         "unknown link setting '%.100s' (expected baud, reset, link_timeout)",
                         kv->key);
        const char *want = bad_value(t->kind, kv->value);
        if (want)
            return failf(ld, kv->pos, "'%s' is '%.60s': expected %s", kv->key, kv->value, want);
    }
    return FL_OK;
}

/* A mapping of scalars → kv array (used for link:, vars: and step args).
 * Duplicate names were refused by the event scan. */
static fl_status load_kvs(loader *ld, yaml_node_t *map, kv_kind kind, fl_recipe_kv **out,
                          size_t *n)
{
    const char *what = kv_what(kind);
    if (map->type != YAML_MAPPING_NODE)
        return failf(ld, pos_of(map), "expected a mapping of names to values for %s", what);
    size_t count = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    fl_recipe_kv *kvs = calloc(count ? count : 1, sizeof *kvs);
    if (!kvs)
        return fl_fail(ld->err, FL_ERR_INTERNAL, "out of memory");
    *out = kvs;
    *n = 0;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(ld, p->key), *v = node(ld, p->value);
        if (k->type != YAML_SCALAR_NODE || k->data.scalar.length == 0)
            return failf(ld, pos_of(k), "expected a name in %s", what);
        if (v->type != YAML_SCALAR_NODE)
            return failf(ld, pos_of(v), "expected a single value (text or number) in %s",
                           what);
        kvs[*n].key = scalar_dup(k);
        kvs[*n].value = scalar_dup(v);
        kvs[*n].pos = pos_of(v);
        kvs[*n].key_pos = pos_of(k);
        if (!kvs[*n].key || !kvs[*n].value) {
            (*n)++;
            return fl_fail(ld->err, FL_ERR_INTERNAL, "out of memory");
        }
        fl_status st = check_pair(ld, kind, &kvs[*n], v);
        (*n)++;
        if (st)
            return st;
    }
    return FL_OK;
}

static fl_status load_step(loader *ld, yaml_node_t *item, fl_recipe_step *step)
{
    step->pos = pos_of(item);
    if (scalar_is_null(item))
        return failf(ld, step->pos, "%s", "empty step: expected a step name (\"- connect\")");
    if (item->type == YAML_SCALAR_NODE) { /* "- connect" */
        step->type = scalar_dup(item);
        return step->type ? FL_OK : fl_fail(ld->err, FL_ERR_INTERNAL, "out of memory");
    }
    if (item->type != YAML_MAPPING_NODE ||
        item->data.mapping.pairs.top - item->data.mapping.pairs.start != 1)
        return failf(ld, step->pos,
                       "expected a step: a name (\"- connect\") or one name with its arguments "
                       "(\"- flash: { image: fw.bin }\"), got %s",
                       node_kind(item));
    yaml_node_pair_t *p = item->data.mapping.pairs.start;
    yaml_node_t *k = node(ld, p->key), *v = node(ld, p->value);
    if (k->type != YAML_SCALAR_NODE || scalar_is_null(k))
        return failf(ld, pos_of(k), "expected a step name, got %s",
                       k->type == YAML_SCALAR_NODE ? "nothing" : node_kind(k));
    step->type = scalar_dup(k);
    step->pos = pos_of(k);
    if (!step->type)
        return fl_fail(ld->err, FL_ERR_INTERNAL, "out of memory");
    if (scalar_is_null(v))
        return FL_OK; /* "- connect:" with nothing after it */
    return load_kvs(ld, v, KV_ARGS, &step->args, &step->nargs);
}

static fl_status load_steps(loader *ld, yaml_node_t *seq)
{
    if (seq->type != YAML_SEQUENCE_NODE)
        return failf(ld, pos_of(seq), "expected a list of steps under 'steps', got %s",
                       scalar_is_null(seq) ? "nothing" : node_kind(seq));
    size_t count = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    if (count == 0)
        return failf(ld, pos_of(seq), "%s", "'steps' is empty: a recipe needs at least one step");
    ld->r->steps = calloc(count, sizeof *ld->r->steps);
    if (!ld->r->steps)
        return fl_fail(ld->err, FL_ERR_INTERNAL, "out of memory");
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++) {
        fl_status st = load_step(ld, node(ld, *it), &ld->r->steps[ld->r->nsteps++]);
        if (st)
            return st;
    }
    return FL_OK;
}

static fl_status load_text_field(loader *ld, yaml_node_t *v, const char *key, char **out)
{
    if (v->type != YAML_SCALAR_NODE)
        return failf(ld, pos_of(v), "expected text for '%s', got %s", key, node_kind(v));
    if (scalar_is_null(v) || v->data.scalar.length == 0)
        return failf(ld, pos_of(v), "'%s' has no value: expected text", key);
    *out = scalar_dup(v);
    return *out ? FL_OK : fl_fail(ld->err, FL_ERR_INTERNAL, "out of memory");
}

/* allow_repeat: true|false|yes|no (a re-run on a unit that already PASSed
 * the recipe goes ahead without `run --again`). */
static fl_status load_allow_repeat(loader *ld, yaml_node_t *v)
{
    char *text = NULL;
    fl_status st = load_text_field(ld, v, "allow_repeat", &text);
    if (st)
        return st;
    if (!strcmp(text, "true") || !strcmp(text, "yes"))
        ld->r->allow_repeat = true;
    else if (strcmp(text, "false") && strcmp(text, "no"))
        st = failf(ld, pos_of(v), "allow_repeat must be true, false, yes or no, not '%.100s'",
                   text);
    free(text);
    return st;
}

/* One port URL of a ports: list: text on one line, taken literally. */
static fl_status check_port_item(loader *ld, yaml_node_t *it, size_t index)
{
    if (it->type != YAML_SCALAR_NODE || scalar_is_null(it) || it->data.scalar.length == 0)
        return failf(ld, pos_of(it), "port %zu of 'ports' must be a port URL (e.g. /dev/ttyUSB0), "
                     "got %s", index + 1, it->type == YAML_SCALAR_NODE ? "nothing" : node_kind(it));
    const unsigned char *v = it->data.scalar.value;
    for (size_t i = 0; i < it->data.scalar.length; i++)
        if (v[i] < 0x20 || v[i] == 0x7F)
            return failf(ld, pos_of(it), "port %zu of 'ports' must be one line of text "
                         "without control characters", index + 1);
    if (memmem(v, it->data.scalar.length, "${", 2))
        return failf(ld, pos_of(it), "port %zu of 'ports' is taken literally: no ${...} there",
                     index + 1);
    return FL_OK;
}

/* ports: a list of the port URLs `flashline run` uses when the command line
 * gives none; the same port twice would be two workers on one unit. */
static fl_status load_ports(loader *ld, yaml_node_t *seq)
{
    if (seq->type != YAML_SEQUENCE_NODE)
        return failf(ld, pos_of(seq), "expected a list of port URLs under 'ports' "
                     "(ports: [/dev/ttyUSB0, /dev/ttyUSB1]), got %s",
                     scalar_is_null(seq) ? "nothing" : node_kind(seq));
    size_t count = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    if (count == 0)
        return failf(ld, pos_of(seq), "%s", "'ports' is empty: give at least one port URL "
                     "or leave the key out");
    if (count > FL_RECIPE_MAX_PORTS)
        return failf(ld, pos_of(seq), "'ports' lists %zu ports: at most %d", count,
                     FL_RECIPE_MAX_PORTS);
    fl_recipe *r = ld->r;
    r->ports = calloc(count, sizeof *r->ports);
    r->ports_pos = calloc(count, sizeof *r->ports_pos);
    if (!r->ports || !r->ports_pos)
        return fl_fail(ld->err, FL_ERR_INTERNAL, "out of memory");
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *it = node(ld, seq->data.sequence.items.start[i]);
        fl_status st = check_port_item(ld, it, i);
        if (st)
            return st;
        for (size_t j = 0; j < r->nports; j++)
            if (scalar_is(it, r->ports[j]))
                return failf(ld, pos_of(it), "port '%.200s' is listed twice in 'ports' (first "
                             "at line %d)", r->ports[j], r->ports_pos[j].line);
        if (!(r->ports[r->nports] = scalar_dup(it)))
            return fl_fail(ld->err, FL_ERR_INTERNAL, "out of memory");
        r->ports_pos[r->nports++] = pos_of(it);
    }
    return FL_OK;
}

static fl_status load_top(loader *ld)
{
    yaml_node_t *root = yaml_document_get_root_node(&ld->doc);
    if (!root || scalar_is_null(root))
        return fl_fail(ld->err, FL_ERR_FORMAT, "%s: the file is empty: expected a recipe "
                                               "(name, chip, steps)", ld->r->path);
    if (root->type != YAML_MAPPING_NODE)
        return failf(ld, pos_of(root), "expected a mapping with name, chip and steps, got %s",
                       node_kind(root));
    fl_status st = FL_OK;
    yaml_node_t *steps = NULL;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
         !st && p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(ld, p->key), *v = node(ld, p->value);
        if (scalar_is(k, "name"))
            st = load_text_field(ld, v, "name", &ld->r->name);
        else if (scalar_is(k, "description"))
            st = load_text_field(ld, v, "description", &ld->r->description);
        else if (scalar_is(k, "chip")) {
            st = load_text_field(ld, v, "chip", &ld->r->chip);
            ld->r->chip_pos = pos_of(v);
        } else if (scalar_is(k, "link"))
            st = load_kvs(ld, v, KV_LINK, &ld->r->link, &ld->r->nlink);
        else if (scalar_is(k, "allow_repeat"))
            st = load_allow_repeat(ld, v);
        else if (scalar_is(k, "vars"))
            st = load_kvs(ld, v, KV_VARS, &ld->r->vars, &ld->r->nvars);
        else if (scalar_is(k, "ports"))
            st = load_ports(ld, v);
        else if (scalar_is(k, "steps"))
            steps = v;
        else if (k->type == YAML_SCALAR_NODE)
            st = failf(ld, pos_of(k),
                       "unknown key '%.100s' (expected name, description, chip, link, vars, "
                       "allow_repeat, ports, steps)",
                       (const char *)k->data.scalar.value);
        else
            st = failf(ld, pos_of(k), "%s", "expected a key name");
    }
    if (st)
        return st;
    if (!ld->r->name)
        return failf(ld, pos_of(root), "%s", "missing 'name' (the recipe's name, logged with every run)");
    if (!ld->r->chip)
        return failf(ld, pos_of(root), "%s", "missing 'chip' (e.g. chip: bk7231n)");
    if (!steps)
        return failf(ld, pos_of(root), "%s", "missing 'steps' (the list of steps to run)");
    return load_steps(ld, steps);
}

/* The document API, once the scan has vouched for the text. */
static fl_status load_document(loader *ld, const uint8_t *text, size_t len)
{
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, text, len);
    if (!yaml_parser_load(&parser, &ld->doc)) {
        fl_status st = yaml_fail(ld, &parser);
        yaml_parser_delete(&parser);
        return st;
    }
    yaml_parser_delete(&parser);
    fl_status st = load_top(ld);
    yaml_document_delete(&ld->doc);
    return st;
}

fl_status fl_recipe_parse(const char *path, const uint8_t *text, size_t len, fl_recipe **out,
                          fl_error *err)
{
    *out = NULL;
    fl_recipe *r = calloc(1, sizeof *r);
    char *dcopy = strdup(path);
    if (r) {
        r->path = strdup(path);
        r->dir = dcopy ? strdup(dirname(dcopy)) : NULL;
    }
    free(dcopy);
    if (!r || !r->path || !r->dir) {
        fl_recipe_free(r);
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    }
    fl_sha256_hex(text, len, r->sha256);
    loader ld = {.r = r, .err = err};
    fl_status st = scan_events(&ld, text, len);
    if (!st)
        st = load_document(&ld, text, len);
    if (st) {
        fl_recipe_free(r);
        return st;
    }
    *out = r;
    return FL_OK;
}

fl_status fl_recipe_load(const char *path, fl_recipe **out, fl_error *err)
{
    *out = NULL;
    uint8_t *text;
    size_t len;
    fl_status st = fl_read_file(path, &text, &len, MAX_RECIPE_BYTES, err);
    if (st)
        return fl_fail_prefix(err, "recipe");
    st = fl_recipe_parse(path, text, len, out, err);
    free(text);
    return st;
}

static void free_kvs(fl_recipe_kv *kvs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kvs[i].key);
        free(kvs[i].value);
    }
    free(kvs);
}

void fl_recipe_free(fl_recipe *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nsteps; i++) {
        free(r->steps[i].type);
        free_kvs(r->steps[i].args, r->steps[i].nargs);
    }
    free(r->steps);
    free_kvs(r->link, r->nlink);
    free_kvs(r->vars, r->nvars);
    for (size_t i = 0; i < r->nports; i++)
        free(r->ports[i]);
    free(r->ports);
    free(r->ports_pos);
    free(r->path), free(r->dir), free(r->name), free(r->description), free(r->chip);
    free(r);
}

const char *fl_recipe_get(const fl_recipe_kv *kvs, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(kvs[i].key, key))
            return kvs[i].value;
    return NULL;
}

/* A growing output buffer for expansion. */
typedef struct strbuf {
    char *p;
    size_t len, cap;
} strbuf;

static bool sb_add(strbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return false;
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return true;
}

fl_status fl_recipe_expand(const fl_recipe *r, const char *text, fl_recipe_pos pos,
                           fl_recipe_lookup lookup, void *ctx, char **out, fl_error *err)
{
    strbuf b = {0};
    bool ok = sb_add(&b, "", 0);
    for (const char *s = text; ok && *s;) {
        if (s[0] == '$' && s[1] == '$') {
            ok = sb_add(&b, "$", 1);
            s += 2;
        } else if (s[0] == '$' && s[1] == '{') {
            const char *end = strchr(s + 2, '}');
            if (!end) {
                free(b.p);
                return fl_fail(err, FL_ERR_FORMAT, "%s:%d:%d: '${' without a closing '}' in '%s'",
                               r->path, pos.line, pos.column, text);
            }
            char name[128];
            size_t n = (size_t)(end - s - 2);
            if (n == 0 || n >= sizeof name) {
                free(b.p);
                return fl_fail(err, FL_ERR_FORMAT, "%s:%d:%d: bad variable name in '%s'", r->path,
                               pos.line, pos.column, text);
            }
            memcpy(name, s + 2, n);
            name[n] = '\0';
            const char *v = lookup(ctx, name);
            if (!v && (!strncmp(name, "unit.", 5) || !strncmp(name, "run.", 4))) {
                free(b.p);
                return fl_fail(err, FL_ERR_FORMAT,
                               "%s:%d:%d: unknown variable ${%s} (run-time names are unit.FIELD "
                               "and run.FIELD, FIELD made of letters, digits, _ and -)",
                               r->path, pos.line, pos.column, name);
            }
            if (!v) {
                free(b.p);
                return fl_fail(err, FL_ERR_FORMAT,
                               "%s:%d:%d: unknown variable ${%s} (define it under 'vars:' or "
                               "with --set %s=VALUE)",
                               r->path, pos.line, pos.column, name, name);
            }
            ok = sb_add(&b, v, strlen(v));
            s = end + 1;
        } else {
            ok = sb_add(&b, s, 1);
            s++;
        }
    }
    if (!ok) {
        free(b.p);
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    }
    *out = b.p;
    return FL_OK;
}

/* ---- checks that need the command line ------------------------------------------ */

bool fl_recipe_is_late_var(const char *name)
{
    const char *field = !strncmp(name, "unit.", 5) ? name + 5
                        : !strncmp(name, "run.", 4) ? name + 4
                                                    : NULL;
    return field && is_var_name(field);
}

typedef struct check_lookup_ctx {
    fl_recipe_lookup lookup;
    void *ctx;
    bool saw_late; /* the value cannot be known before the run */
} check_lookup_ctx;

/* Late names are known to exist but not their value; a malformed unit./run.
 * name is as unknown as any other. */
static const char *check_lookup(void *p, const char *name)
{
    check_lookup_ctx *c = p;
    if (fl_recipe_is_late_var(name)) {
        c->saw_late = true;
        return "";
    }
    if (!strncmp(name, "unit.", 5) || !strncmp(name, "run.", 4))
        return NULL;
    return c->lookup(c->ctx, name);
}

/* Does text refer to ${name}?  (`$$` is a literal dollar, not a reference.) */
static bool refers_to(const char *text, const char *name, size_t name_len)
{
    for (const char *s = text; *s; s++) {
        if (s[0] == '$' && s[1] == '$') {
            s++;
        } else if (s[0] == '$' && s[1] == '{') {
            const char *end = strchr(s + 2, '}');
            if (!end)
                return false;
            if ((size_t)(end - s - 2) == name_len && !strncmp(s + 2, name, name_len))
                return true;
            s = end;
        }
    }
    return false;
}

static bool recipe_uses(const fl_recipe *r, const char *name, size_t len)
{
    for (size_t i = 0; i < r->nsteps; i++)
        for (size_t k = 0; k < r->steps[i].nargs; k++)
            if (refers_to(r->steps[i].args[k].value, name, len))
                return true;
    return false;
}

static void list_vars(const fl_recipe *r, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < r->nvars && used < cap; i++)
        used += (size_t)snprintf(out + used, cap - used, "%s%s", i ? ", " : "", r->vars[i].key);
}

/* Every --set names a variable the recipe declares under vars: or uses as
 * ${NAME}, once; built-in names and unit./run. fields cannot be set. */
static fl_status check_sets(const fl_recipe *r, const char *const *sets, size_t nsets,
                            fl_error *err)
{
    for (size_t i = 0; i < nsets; i++) {
        const char *eq = strchr(sets[i], '=');
        size_t len = eq ? (size_t)(eq - sets[i]) : strlen(sets[i]);
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name ? len : sizeof name - 1),
                 sets[i]);
        for (size_t j = 0; j < i; j++)
            if (!strncmp(sets[j], sets[i], len) && sets[j][len] == '=')
                return fl_fail(err, FL_ERR_USAGE, "--set %s is given twice", name);
        if (is_builtin_var(name) || fl_recipe_is_late_var(name))
            return fl_fail(err, FL_ERR_USAGE,
                           "--set %s: '%s' is not a recipe variable but set by flashline "
                           "(from the recipe, --port, --station, --operator or the unit)",
                           name, name);
        if (len < sizeof name && (fl_recipe_get(r->vars, r->nvars, name) || recipe_uses(r, name, len)))
            continue;
        char known[300];
        list_vars(r, known, sizeof known);
        return fl_fail(err, FL_ERR_USAGE,
                       "--set %s: %s has no variable '%s' (%s%s%s)", name, r->path, name,
                       known[0] ? "its variables: " : "it declares no vars:", known,
                       known[0] ? "" : " and uses no ${...} that --set could give");
    }
    return FL_OK;
}

/* One step argument: every ${name} known (or late), and a typed argument in
 * range once expanded, unless it depends on the unit. */
static fl_status check_arg(const fl_recipe *r, const fl_recipe_step *st, const fl_recipe_kv *a,
                           check_lookup_ctx *c, fl_error *err)
{
    char *v = NULL;
    c->saw_late = false;
    fl_status s = fl_recipe_expand(r, a->value, a->pos, check_lookup, c, &v, err);
    if (s)
        return s;
    const struct typed_arg *t = typed_arg(st->type, a->key);
    const char *want = t && !c->saw_late ? bad_value(t->kind, v) : NULL;
    if (strlen(v) > MAX_VALUE_LEN)
        s = fl_fail(err, FL_ERR_FORMAT, "%s:%d:%d: '%s' expands to %zu characters: at most %d are "
                    "allowed", r->path, a->pos.line, a->pos.column, a->key, strlen(v),
                    MAX_VALUE_LEN);
    else if (want) {
        bool expanded = strcmp(v, a->value) != 0;
        s = fl_fail(err, FL_ERR_FORMAT, "%s:%d:%d: '%s' is '%.60s'%s%.60s%s: expected %s", r->path,
                    a->pos.line, a->pos.column, a->key, v, expanded ? " (from '" : "",
                    expanded ? a->value : "", expanded ? "')" : "", want);
    }
    free(v);
    return s;
}

fl_status fl_recipe_check(const fl_recipe *r, const char *const *sets, size_t nsets,
                          fl_recipe_lookup lookup, void *ctx, fl_error *err)
{
    fl_status s = check_sets(r, sets, nsets, err);
    check_lookup_ctx c = {.lookup = lookup, .ctx = ctx};
    for (size_t i = 0; !s && i < r->nsteps; i++)
        for (size_t k = 0; !s && k < r->steps[i].nargs; k++)
            s = check_arg(r, &r->steps[i], &r->steps[i].args[k], &c, err);
    return s;
}
