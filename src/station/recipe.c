/* recipe.c — loading YAML recipes with libyaml's document API. */
#include "station/recipe.h"

#include <libgen.h>
#include <stdbool.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "util/fileio.h"

#define MAX_RECIPE_BYTES (1u << 20)

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

static fl_status fail_at(loader *ld, fl_recipe_pos p, const char *fmt, const char *what)
{
    char msg[400];
    snprintf(msg, sizeof msg, fmt, what);
    return fl_fail(ld->err, FL_ERR_FORMAT, "%s:%d:%d: %s", ld->r->path, p.line, p.column, msg);
}

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

/* A mapping of scalars → kv array (used for link:, vars: and step args). */
static fl_status load_kvs(loader *ld, yaml_node_t *map, const char *what, fl_recipe_kv **out,
                          size_t *n)
{
    if (map->type != YAML_MAPPING_NODE)
        return fail_at(ld, pos_of(map), "expected a mapping of names to values for %s", what);
    size_t count = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    fl_recipe_kv *kvs = calloc(count ? count : 1, sizeof *kvs);
    if (!kvs)
        return fl_fail(ld->err, FL_ERR_INTERNAL, "out of memory");
    *out = kvs;
    *n = 0;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(ld, p->key), *v = node(ld, p->value);
        if (k->type != YAML_SCALAR_NODE)
            return fail_at(ld, pos_of(k), "expected a name in %s", what);
        if (v->type != YAML_SCALAR_NODE)
            return fail_at(ld, pos_of(v), "expected a single value (text or number) in %s",
                           what);
        for (size_t i = 0; i < *n; i++)
            if (scalar_is(k, kvs[i].key))
                return fail_at(ld, pos_of(k), "'%s' is given twice", kvs[i].key);
        kvs[*n].key = scalar_dup(k);
        kvs[*n].value = scalar_dup(v);
        kvs[*n].pos = pos_of(v);
        kvs[*n].key_pos = pos_of(k);
        (*n)++;
    }
    return FL_OK;
}

static fl_status load_step(loader *ld, yaml_node_t *item, fl_recipe_step *step)
{
    step->pos = pos_of(item);
    if (item->type == YAML_SCALAR_NODE) { /* "- connect" */
        step->type = scalar_dup(item);
        return FL_OK;
    }
    if (item->type != YAML_MAPPING_NODE ||
        item->data.mapping.pairs.top - item->data.mapping.pairs.start != 1)
        return fail_at(ld, step->pos,
                       "expected a step: a name (\"- connect\") or one name with its arguments "
                       "(\"- flash: { image: fw.bin }\"), got %s",
                       node_kind(item));
    yaml_node_pair_t *p = item->data.mapping.pairs.start;
    yaml_node_t *k = node(ld, p->key), *v = node(ld, p->value);
    if (k->type != YAML_SCALAR_NODE)
        return fail_at(ld, pos_of(k), "expected a step name, got %s", node_kind(k));
    step->type = scalar_dup(k);
    step->pos = pos_of(k);
    if (v->type == YAML_SCALAR_NODE && v->data.scalar.length == 0)
        return FL_OK; /* "- connect:" with nothing after it */
    return load_kvs(ld, v, "the step's arguments", &step->args, &step->nargs);
}

static fl_status load_steps(loader *ld, yaml_node_t *seq)
{
    if (seq->type != YAML_SEQUENCE_NODE)
        return fail_at(ld, pos_of(seq), "expected a list of steps under 'steps', got %s",
                       node_kind(seq));
    size_t count = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    if (count == 0)
        return fail_at(ld, pos_of(seq), "%s", "'steps' is empty: a recipe needs at least one step");
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
        return fail_at(ld, pos_of(v), "expected text for '%s'", key);
    *out = scalar_dup(v);
    return FL_OK;
}

static fl_status load_top(loader *ld)
{
    yaml_node_t *root = yaml_document_get_root_node(&ld->doc);
    if (!root)
        return fl_fail(ld->err, FL_ERR_FORMAT, "%s: the file is empty: expected a recipe "
                                               "(name, chip, steps)", ld->r->path);
    if (root->type != YAML_MAPPING_NODE)
        return fail_at(ld, pos_of(root), "expected a mapping with name, chip and steps, got %s",
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
            st = load_kvs(ld, v, "'link'", &ld->r->link, &ld->r->nlink);
        else if (scalar_is(k, "vars"))
            st = load_kvs(ld, v, "'vars'", &ld->r->vars, &ld->r->nvars);
        else if (scalar_is(k, "steps"))
            steps = v;
        else if (k->type == YAML_SCALAR_NODE)
            st = fail_at(ld, pos_of(k),
                         "unknown key '%s' (expected name, description, chip, link, vars, steps)",
                         (const char *)k->data.scalar.value);
        else
            st = fail_at(ld, pos_of(k), "%s", "expected a key name");
    }
    if (st)
        return st;
    if (!ld->r->name)
        return fail_at(ld, pos_of(root), "%s", "missing 'name' (the recipe's name, logged with every run)");
    if (!ld->r->chip)
        return fail_at(ld, pos_of(root), "%s", "missing 'chip' (e.g. chip: bk7231n)");
    if (!steps)
        return fail_at(ld, pos_of(root), "%s", "missing 'steps' (the list of steps to run)");
    for (size_t i = 0; i < ld->r->nlink; i++) {
        const char *k = ld->r->link[i].key;
        if (strcmp(k, "baud") && strcmp(k, "reset") && strcmp(k, "link_timeout"))
            return fail_at(ld, ld->r->link[i].key_pos,
                           "unknown link setting '%s' (expected baud, reset, link_timeout)", k);
    }
    return load_steps(ld, steps);
}

static void sha256_hex(const uint8_t *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

fl_status fl_recipe_load(const char *path, fl_recipe **out, fl_error *err)
{
    *out = NULL;
    uint8_t *text;
    size_t len;
    fl_status st = fl_read_file(path, &text, &len, MAX_RECIPE_BYTES, err);
    if (st)
        return fl_fail_prefix(err, "recipe");
    fl_recipe *r = calloc(1, sizeof *r);
    char *dcopy = strdup(path);
    if (!r || !dcopy) {
        free(text), free(r), free(dcopy);
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    }
    r->path = strdup(path);
    r->dir = strdup(dirname(dcopy));
    free(dcopy);
    sha256_hex(text, len, r->sha256);

    loader ld = {.r = r, .err = err};
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, text, len);
    if (!yaml_parser_load(&parser, &ld.doc)) {
        st = fl_fail(err, FL_ERR_FORMAT, "%s:%zu:%zu: %s%s%s", path, parser.problem_mark.line + 1,
                     parser.problem_mark.column + 1, parser.problem ? parser.problem : "bad YAML",
                     parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        free(text);
        fl_recipe_free(r);
        return st;
    }
    st = load_top(&ld);
    yaml_document_delete(&ld.doc);
    yaml_parser_delete(&parser);
    free(text);
    if (st) {
        fl_recipe_free(r);
        return st;
    }
    *out = r;
    return FL_OK;
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
