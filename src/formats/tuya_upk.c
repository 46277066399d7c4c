/* tuya_upk.c — tokenizer for Tuya pseudo-JSON and plain JSON objects. */
#include "formats/tuya_upk.h"

#include <stdlib.h>
#include <string.h>

typedef struct cursor {
    const char *p, *end;
} cursor;

static void skip_ws(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' || *c->p == '\n'))
        c->p++;
}

static bool is_delim(char ch)
{
    return ch == '{' || ch == '}' || ch == '[' || ch == ']' || ch == ':' || ch == ',';
}

/* A JSON string starting at the opening quote; escapes are decoded for the
 * simple cases (\" \\ \/ \n \t \r \b \f); \uXXXX is kept as written. */
static char *read_quoted(cursor *c)
{
    c->p++; /* opening quote */
    size_t cap = (size_t)(c->end - c->p) + 1, o = 0;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    while (c->p < c->end && *c->p != '"') {
        char ch = *c->p++;
        if (ch == '\\' && c->p < c->end) {
            char e = *c->p++;
            switch (e) {
            case 'n': ch = '\n'; break;
            case 't': ch = '\t'; break;
            case 'r': ch = '\r'; break;
            case 'b': ch = '\b'; break;
            case 'f': ch = '\f'; break;
            case 'u': s[o++] = '\\'; ch = 'u'; break;
            default: ch = e; break;
            }
        }
        s[o++] = ch;
    }
    if (c->p >= c->end) {
        free(s);
        return NULL; /* unterminated */
    }
    c->p++; /* closing quote */
    s[o] = '\0';
    return s;
}

/* A bare run up to the next delimiter, trimmed. */
static char *read_bare(cursor *c)
{
    const char *start = c->p;
    while (c->p < c->end && !is_delim(*c->p))
        c->p++;
    const char *e = c->p;
    while (e > start && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        e--;
    return strndup(start, (size_t)(e - start));
}

/* A nested object or array kept verbatim (brackets balanced, strings skipped). */
static char *read_nested(cursor *c)
{
    const char *start = c->p;
    int depth = 0;
    bool in_str = false;
    for (; c->p < c->end; c->p++) {
        char ch = *c->p;
        if (in_str) {
            if (ch == '\\' && c->p + 1 < c->end)
                c->p++;
            else if (ch == '"')
                in_str = false;
        } else if (ch == '"') {
            in_str = true;
        } else if (ch == '{' || ch == '[') {
            depth++;
        } else if (ch == '}' || ch == ']') {
            if (--depth == 0) {
                c->p++;
                return strndup(start, (size_t)(c->p - start));
            }
        }
    }
    return NULL;
}

static fl_status add_pair(fl_upk *u, char *k, char *v, bool quoted, fl_error *err)
{
    if (fl_upk_get(u, k)) {
        u->duplicates++;
        free(k);
        free(v);
        return FL_OK;
    }
    fl_upk_pair *grown = realloc(u->pairs, (u->n + 1) * sizeof *grown);
    if (!grown) {
        free(k);
        free(v);
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    }
    u->pairs = grown;
    u->pairs[u->n++] = (fl_upk_pair){k, v, quoted};
    return FL_OK;
}

static fl_status syntax(fl_upk *u, fl_error *err, const cursor *c, const char *base,
                        const char *what)
{
    size_t at = (size_t)(c->p - base);
    fl_upk_free(u);
    return fl_fail(err, FL_ERR_FORMAT, "user_param_key: %s at offset %zu", what, at);
}

fl_status fl_upk_parse(const char *text, size_t len, fl_upk *u, fl_error *err)
{
    memset(u, 0, sizeof *u);
    while (len > 0 && (text[len - 1] == '\0' || text[len - 1] == '\n' || text[len - 1] == '\r'))
        len--;
    if (memchr(text, '\0', len))
        len = strnlen(text, len);
    u->raw = strndup(text, len);
    if (!u->raw)
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    cursor c = {u->raw, u->raw + len};
    skip_ws(&c);
    if (c.p >= c.end || *c.p != '{')
        return syntax(u, err, &c, u->raw, "expected '{'");
    c.p++;
    for (;;) {
        skip_ws(&c);
        if (c.p >= c.end)
            return syntax(u, err, &c, u->raw, "missing '}'");
        if (*c.p == '}')
            break;
        if (*c.p == ',') { /* empty element, e.g. "{a:1,,b:2}" or a trailing comma */
            c.p++;
            continue;
        }
        char *k = *c.p == '"' ? read_quoted(&c) : read_bare(&c);
        if (!k || !*k) {
            free(k);
            return syntax(u, err, &c, u->raw, "expected a key");
        }
        skip_ws(&c);
        if (c.p >= c.end || *c.p != ':') {
            free(k);
            return syntax(u, err, &c, u->raw, "expected ':' after a key");
        }
        c.p++;
        skip_ws(&c);
        bool quoted = c.p < c.end && *c.p == '"';
        char *v = quoted ? read_quoted(&c)
                 : (c.p < c.end && (*c.p == '{' || *c.p == '[')) ? read_nested(&c)
                                                                 : read_bare(&c);
        if (!v) {
            free(k);
            return syntax(u, err, &c, u->raw, "unterminated value");
        }
        fl_status st = add_pair(u, k, v, quoted, err);
        if (st != FL_OK) {
            fl_upk_free(u);
            return st;
        }
        skip_ws(&c);
        if (c.p < c.end && *c.p == ',') {
            c.p++;
            continue;
        }
        if (c.p < c.end && *c.p == '}')
            break;
        return syntax(u, err, &c, u->raw, "expected ',' or '}'");
    }
    if (u->n == 0)
        return syntax(u, err, &c, u->raw, "no key:value pairs");
    return FL_OK;
}

void fl_upk_free(fl_upk *u)
{
    for (size_t i = 0; i < u->n; i++) {
        free(u->pairs[i].key);
        free(u->pairs[i].value);
    }
    free(u->pairs);
    free(u->raw);
    memset(u, 0, sizeof *u);
}

const char *fl_upk_get(const fl_upk *u, const char *key)
{
    for (size_t i = 0; i < u->n; i++)
        if (!strcmp(u->pairs[i].key, key))
            return u->pairs[i].value;
    return NULL;
}

bool fl_upk_value_is_int(const char *v)
{
    if (!v || !*v)
        return false;
    if (v[0] == '0')
        return v[1] == '\0';
    for (const char *p = v; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return strlen(v) <= 18; /* fits an int64 in JSON output */
}
