/* obk_rules.c — loading and matching the OBK pin rules (see obk_rules.h). */
#include "formats/obk_rules.h"

#include <ctype.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/obk_config.h"
#include "util/fileio.h"

/* generated from db/obk-pin-rules.jsonl by the Makefile (build/gen/obk_rules.c) */
extern const char fl_obk_rules_text[];

typedef struct rule {
    char **keys;
    size_t nkeys;
    fl_obk_action_kind kind;
    int role, channel;   /* channel -1: the number in the key */
    int lv_role[2];      /* -1: none */
    int lva_role, lva_channel; /* -1: none; lva_channel -1: the rule's channel */
    char *text;
} rule;

struct fl_obk_rules {
    rule *r;
    size_t n;
};

static void rule_free(rule *x)
{
    for (size_t i = 0; i < x->nkeys; i++)
        free(x->keys[i]);
    free(x->keys);
    free(x->text);
}

void fl_obk_rules_free(fl_obk_rules *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        rule_free(&r->r[i]);
    free(r->r);
    free(r);
}

size_t fl_obk_rules_count(const fl_obk_rules *r)
{
    return r ? r->n : 0;
}

/* --- parsing one line --------------------------------------------------------------- */

#define BAD(...) (fl_fail(err, FL_ERR_FORMAT, __VA_ARGS__), false)

static bool role_of(const char *text, int *role, int *channel, const char *what, fl_error *err)
{
    char name[64];
    const char *semi = strchr(text, ';');
    size_t n = semi ? (size_t)(semi - text) : strlen(text);
    if (n >= sizeof name)
        return BAD("%s: role '%s' is too long", what, text);
    memcpy(name, text, n);
    name[n] = '\0';
    *role = fl_obk_cfg_role_index(name);
    if (*role <= 0)
        return BAD("%s: '%s' is not an OpenBeken role", what, name);
    if (channel) {
        *channel = -1;
        if (semi) {
            char *end;
            long c = strtol(semi + 1, &end, 10);
            if (!semi[1] || *end || c < 0 || c >= FL_OBK_CFG_CHANNELS)
                return BAD("%s: channel '%s' is not 0..%d", what, semi + 1, FL_OBK_CFG_CHANNELS - 1);
            *channel = (int)c;
        }
    } else if (semi) {
        return BAD("%s: no channel here ('%s')", what, text);
    }
    return true;
}

static bool valid_key(const char *k)
{
    if (!*k || strlen(k) > 60)
        return false;
    const char *hash = strchr(k, '#');
    if (hash && strchr(hash + 1, '#'))
        return false; /* one number per key */
    if (strchr(k + 1, '*') || (k[0] == '*' && (hash || !k[1])))
        return false; /* '*' only as a prefix, and not with '#' */
    return true;
}

static bool add_key(rule *x, json_t *v, fl_error *err)
{
    if (!json_is_string(v) || !valid_key(json_string_value(v)))
        return BAD("key: a non-empty string of at most 60 characters, one '#' at most, '*' only as a prefix");
    char **k = realloc(x->keys, (x->nkeys + 1) * sizeof *k);
    if (!k || !(k[x->nkeys] = strdup(json_string_value(v)))) {
        if (k)
            x->keys = k;
        return BAD("out of memory");
    }
    x->keys = k;
    x->nkeys++;
    return true;
}

static bool parse_keys(rule *x, json_t *key, fl_error *err)
{
    if (json_is_array(key)) {
        size_t i;
        json_t *v;
        if (!json_array_size(key))
            return BAD("key: an empty list");
        json_array_foreach(key, i, v) if (!add_key(x, v, err)) return false;
        return true;
    }
    if (!key)
        return BAD("a rule needs \"key\"");
    return add_key(x, key, err);
}

static bool parse_channel(rule *x, json_t *ch, fl_error *err)
{
    x->channel = 0;
    if (!ch)
        return true;
    if (json_is_string(ch) && !strcmp(json_string_value(ch), "#")) {
        for (size_t i = 0; i < x->nkeys; i++)
            if (!strchr(x->keys[i], '#'))
                return BAD("channel \"#\": key '%s' has no '#'", x->keys[i]);
        x->channel = -1;
        return true;
    }
    if (!json_is_integer(ch) || json_integer_value(ch) < 0 || json_integer_value(ch) >= FL_OBK_CFG_CHANNELS)
        return BAD("channel: a number 0..%d or \"#\"", FL_OBK_CFG_CHANNELS - 1);
    x->channel = (int)json_integer_value(ch);
    return true;
}

static bool parse_lv(rule *x, json_t *lv, fl_error *err)
{
    if (!lv)
        return true;
    if (!json_is_object(lv) || !json_object_size(lv))
        return BAD("lv: an object {\"0\": ROLE, \"1\": ROLE}");
    const char *k;
    json_t *v;
    json_object_foreach(lv, k, v) {
        if (strcmp(k, "0") && strcmp(k, "1"))
            return BAD("lv: level '%s' is not 0 or 1", k);
        if (!json_is_string(v) || !role_of(json_string_value(v), &x->lv_role[k[0] - '0'], NULL, "lv", err))
            return err && err->code ? false : BAD("lv: a role name is needed");
    }
    return true;
}

static const char *const members[] = {"key", "role", "channel", "lv", "lv_aware", "describe", "command",
                                      "ignore", "unknown", "note", NULL};

static bool parse_rule(json_t *o, rule *x, fl_error *err)
{
    memset(x, 0, sizeof *x);
    x->role = x->lva_role = -1;
    x->lv_role[0] = x->lv_role[1] = -1;
    x->lva_channel = -1;
    if (!json_is_object(o))
        return BAD("a rule is a JSON object");
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        size_t i = 0;
        while (members[i] && strcmp(members[i], k))
            i++;
        if (!members[i])
            return BAD("unknown member \"%s\" (known: key role channel lv lv_aware describe command ignore "
                       "unknown note)", k);
    }
    if (!parse_keys(x, json_object_get(o, "key"), err))
        return false;
    json_t *role = json_object_get(o, "role"), *desc = json_object_get(o, "describe"),
           *cmd = json_object_get(o, "command"), *ign = json_object_get(o, "ignore"),
           *unk = json_object_get(o, "unknown"), *lva = json_object_get(o, "lv_aware"),
           *note = json_object_get(o, "note");
    int kinds = !!role + !!desc + !!cmd + !!ign + !!unk;
    if (kinds != 1)
        return BAD("a rule needs exactly one of role, describe, command, ignore, unknown");
    if (note && !json_is_string(note))
        return BAD("note: a string");
    if (role) {
        x->kind = FL_OBK_ACT_ROLE;
        if (!json_is_string(role) || !role_of(json_string_value(role), &x->role, NULL, "role", err))
            return err && err->code ? false : BAD("role: a role name is needed");
    } else if (desc || cmd) {
        json_t *t = desc ? desc : cmd;
        x->kind = desc ? FL_OBK_ACT_DESCRIBE : FL_OBK_ACT_COMMAND;
        if (!json_is_string(t) || !*json_string_value(t) || strlen(json_string_value(t)) > 200)
            return BAD("%s: a text of 1..200 characters", desc ? "describe" : "command");
        if (!(x->text = strdup(json_string_value(t))))
            return BAD("out of memory");
    } else {
        json_t *t = ign ? ign : unk;
        if (!json_is_true(t))
            return BAD("%s: only true", ign ? "ignore" : "unknown");
        x->kind = ign ? FL_OBK_ACT_IGNORE : FL_OBK_ACT_UNKNOWN;
    }
    if (!parse_channel(x, json_object_get(o, "channel"), err) || !parse_lv(x, json_object_get(o, "lv"), err))
        return false;
    if ((json_object_get(o, "channel") || json_object_get(o, "lv")) && x->kind != FL_OBK_ACT_ROLE)
        return BAD("channel and lv go with role");
    if (lva) {
        if (x->kind != FL_OBK_ACT_ROLE && x->kind != FL_OBK_ACT_DESCRIBE)
            return BAD("lv_aware goes with role or describe");
        if (!json_is_string(lva) || !role_of(json_string_value(lva), &x->lva_role, &x->lva_channel, "lv_aware", err))
            return err && err->code ? false : BAD("lv_aware: \"ROLE\" or \"ROLE;CHANNEL\"");
        if (x->lva_channel < 0 && x->kind == FL_OBK_ACT_DESCRIBE)
            x->lva_channel = 0;
    }
    return true;
}

/* --- files ---------------------------------------------------------------------------------- */

static bool blank_or_comment(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && isspace((unsigned char)s[i]))
        i++;
    return i == n || s[i] == '#';
}

fl_status fl_obk_rules_add_text(fl_obk_rules *r, const char *name, const char *text, size_t len, fl_error *err)
{
    rule *add = NULL;
    size_t n = 0, line = 0;
    fl_status st = FL_OK;
    for (size_t pos = 0; pos < len && st == FL_OK;) {
        const char *s = text + pos, *nl = memchr(s, '\n', len - pos);
        size_t l = nl ? (size_t)(nl - s) : len - pos;
        pos += l + 1;
        line++;
        if (blank_or_comment(s, l))
            continue;
        json_error_t je;
        json_t *o = json_loadb(s, l, JSON_REJECT_DUPLICATES, &je);
        rule *grown = o ? realloc(add, (n + 1) * sizeof *add) : NULL;
        fl_error e = {0};
        if (!o)
            st = fl_fail(err, FL_ERR_FORMAT, "%s:%zu: not a JSON object (%s, column %d)", name, line, je.text,
                         je.column);
        else if (!grown)
            st = fl_fail(err, FL_ERR_INTERNAL, "out of memory");
        else if (add = grown, !parse_rule(o, &add[n], &e)) {
            rule_free(&add[n]);
            st = fl_fail(err, e.code ? e.code : FL_ERR_FORMAT, "%s:%zu: %s", name, line, e.msg);
        } else {
            n++;
        }
        json_decref(o);
    }
    rule *all = st == FL_OK && n ? realloc(r->r, (r->n + n) * sizeof *all) : NULL;
    if (st == FL_OK && n && !all)
        st = fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    if (st != FL_OK) {
        for (size_t i = 0; i < n; i++)
            rule_free(&add[i]);
        free(add);
        return st;
    }
    if (n) { /* the new rules go first: they override */
        memmove(all + n, all, r->n * sizeof *all);
        memcpy(all, add, n * sizeof *all);
        r->r = all;
        r->n += n;
    }
    free(add);
    return FL_OK;
}

fl_status fl_obk_rules_add_file(fl_obk_rules *r, const char *path, fl_error *err)
{
    uint8_t *d = NULL;
    size_t n = 0;
    fl_status st = fl_read_file(path, &d, &n, 4u << 20, err);
    if (st)
        return st;
    st = fl_obk_rules_add_text(r, path, (const char *)d, n, err);
    free(d);
    return st;
}

static fl_status new_builtin(fl_obk_rules **out, fl_error *err)
{
    fl_obk_rules *r = calloc(1, sizeof *r);
    if (!r)
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    fl_status st = fl_obk_rules_add_text(r, "db/obk-pin-rules.jsonl (built in)", fl_obk_rules_text,
                                         strlen(fl_obk_rules_text), err);
    if (st) {
        fl_obk_rules_free(r);
        return st;
    }
    *out = r;
    return FL_OK;
}

fl_status fl_obk_rules_new_empty(fl_obk_rules **out, fl_error *err)
{
    if (!(*out = calloc(1, sizeof **out)))
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    return FL_OK;
}

fl_status fl_obk_rules_new(fl_obk_rules **out, fl_error *err)
{
    return new_builtin(out, err);
}

static fl_obk_rules *builtin;
static fl_error builtin_err;
static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;

static void load_builtin(void)
{
    new_builtin(&builtin, &builtin_err);
}

const fl_obk_rules *fl_obk_rules_builtin(fl_error *err)
{
    pthread_once(&builtin_once, load_builtin);
    if (!builtin && err)
        *err = builtin_err;
    return builtin;
}

/* --- matching ---------------------------------------------------------------------------------- */

/* key against a pattern: '#' = one or more digits (the number, *n), a
 * leading '*' = any prefix. */
static bool key_match(const char *pat, const char *key, int *n)
{
    size_t kl = strlen(key);
    if (pat[0] == '*') {
        size_t sl = strlen(pat + 1);
        return kl >= sl && !strcmp(key + kl - sl, pat + 1);
    }
    const char *hash = strchr(pat, '#');
    if (!hash)
        return !strcmp(pat, key);
    size_t pl = (size_t)(hash - pat), sl = strlen(hash + 1);
    if (kl <= pl + sl || strncmp(key, pat, pl) || strcmp(key + kl - sl, hash + 1))
        return false;
    int v = 0;
    for (size_t i = pl; i < kl - sl; i++) {
        if (!isdigit((unsigned char)key[i]) || v > 100000)
            return false;
        v = v * 10 + (key[i] - '0');
    }
    *n = v;
    return true;
}

fl_obk_action fl_obk_rules_match(const fl_obk_rules *r, const char *key, int level, bool lv_aware)
{
    fl_obk_action a = {FL_OBK_ACT_NONE, 0, 0, NULL};
    for (size_t i = 0; r && i < r->n; i++) {
        const rule *x = &r->r[i];
        int num = 0;
        size_t k = 0;
        while (k < x->nkeys && !key_match(x->keys[k], key, &num))
            k++;
        if (k == x->nkeys)
            continue;
        a.kind = x->kind;
        a.text = x->text;
        a.role = x->role;
        a.channel = x->channel < 0 ? num : x->channel;
        if (lv_aware && x->lva_role > 0) {
            a.kind = FL_OBK_ACT_ROLE;
            a.role = x->lva_role;
            if (x->lva_channel >= 0)
                a.channel = x->lva_channel;
        } else if (lv_aware && x->kind == FL_OBK_ACT_ROLE && (level == 0 || level == 1) && x->lv_role[level] > 0) {
            a.role = x->lv_role[level];
        }
        return a;
    }
    return a;
}
