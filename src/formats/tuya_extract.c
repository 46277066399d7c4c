/* tuya_extract.c — end-to-end Tuya config extraction (spec A11). */
#include "formats/tuya_extract.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "formats/bytes.h"
#include "formats/tuya_secrets.h"

const char *fl_upk_source_name(fl_upk_source s)
{
    switch (s) {
    case FL_UPK_KV: return "kv";
    case FL_UPK_APP_CODE: return "app_code";
    case FL_UPK_NONE: break;
    }
    return NULL;
}

/* --- chip hints from the config (A9) -------------------------------------------- */

const char *fl_tuya_chip_from_module(const char *m)
{
    if (!m || !*m)
        return NULL;
    if (!strncasecmp(m, "WR", 2) || !strncasecmp(m, "CR", 2))
        return "RTL87X0C";
    if (!strncasecmp(m, "WD", 2))
        return "RDA5981";
    if (!strncasecmp(m, "T34", 3))
        return "BK7231N";
    if (toupper((unsigned char)m[0]) == 'T' && isdigit((unsigned char)m[1])) {
        switch (m[1]) {
        case '1': return "BK7238";
        case '2': return "BK7231N";
        case '3': return "BK7236";
        case '4': return "BK7252N";
        case '5': return "BK7258";
        }
        return NULL;
    }
    if (!strncasecmp(m, "CB", 2))
        return "BK7231N";
    if (toupper((unsigned char)m[0]) == 'W')
        return "BK7231T";
    if (toupper((unsigned char)m[0]) == 'X')
        return "XR809";
    return NULL;
}

const char *fl_tuya_chip_from_env(const char *e)
{
    static const struct {
        const char *env, *chip;
    } t[] = {
        {"bk7231n", "BK7231N"}, {"bk7231nl", "BK7231N"}, {"t2", "BK7231N"},
        {"bk7231t", "BK7231T"}, {"BK7231S_2M", "BK7231T"}, {"bk7231", "BK7231Q"},
        {"t1", "BK7238"},       {"bk7238", "BK7238"},
    };
    if (!e)
        return NULL;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcasecmp(e, t[i].env))
            return t[i].chip;
    return NULL;
}

static bool same_family(const char *a, const char *b)
{
    bool an = !strcmp(a, "BK7231N") || !strcmp(a, "BK7231M");
    bool bn = !strcmp(b, "BK7231N") || !strcmp(b, "BK7231M");
    bool at = !strcmp(a, "BK7231T") || !strcmp(a, "BK7231U") || !strcmp(a, "BK7231Q");
    bool bt = !strcmp(b, "BK7231T") || !strcmp(b, "BK7231U") || !strcmp(b, "BK7231Q");
    return (an && bn) || (at && bt) || !strcmp(a, b);
}

/* --- the compiled-in UPK (A6) ------------------------------------------------------- */

/* Look in the decrypted app for the default UPK string: a NUL-delimited
 * string holding ",crc:", ",module:" or "Jsonver:" that parses as a UPK with
 * a module or at least one pin role. */
static bool upk_from_app(const uint8_t *buf, size_t len, fl_tuya_config *c, const fl_bk_key *key)
{
    uint8_t *l;
    size_t ll;
    uint32_t base;
    if (fl_image_code_logical(buf, len, &c->image, &l, &ll, &base, NULL) != FL_OK)
        return false;
    size_t app_off = base == 0 ? FL_BK_APP_LOGICAL : 0;
    if (app_off >= ll) {
        free(l);
        return false;
    }
    uint8_t *app = l + app_off;
    size_t al = ll - app_off;
    fl_bk_crypt(key, FL_BK_APP_LOGICAL, app, al);
    static const char *const needles[] = {",crc:", ",module:", "Jsonver:"};
    bool found = false;
    for (size_t n = 0; n < 3 && !found; n++) {
        const uint8_t *s = app, *end = app + al;
        size_t nl = strlen(needles[n]);
        while (!found) {
            const uint8_t *hit = memmem(s, (size_t)(end - s), needles[n], nl);
            if (!hit)
                break;
            s = hit + 1;
            if (hit + nl >= end || hit[nl] == 0)
                continue; /* a format string fragment, not data */
            const uint8_t *a = hit, *b = hit;
            while (a > app && a[-1] != 0 && hit - a < 4096)
                a--;
            while (b < end && *b != 0 && b - hit < 4096)
                b++;
            const uint8_t *brace = memchr(a, '{', (size_t)(b - a));
            if (!brace)
                continue;
            fl_upk u;
            if (fl_upk_parse((const char *)brace, (size_t)(b - brace), &u, NULL) != FL_OK)
                continue;
            fl_obk_map m;
            fl_obk_map_build(&u, FL_OBK_COMPAT, &m, NULL);
            bool useful = fl_upk_get(&u, "module") || m.n_pins > 0;
            fl_obk_map_free(&m);
            if (!useful) {
                fl_upk_free(&u);
                continue;
            }
            c->upk = u;
            c->upk_source = FL_UPK_APP_CODE;
            c->upk_app_offset = FL_BK_APP_LOGICAL + (uint32_t)(brace - app);
            found = true;
        }
    }
    free(l);
    return found;
}

/* --- top level ---------------------------------------------------------------------- */

static void copy_text(char *dst, size_t cap, const fl_tuya_kv_entry *e)
{
    size_t n = 0;
    for (size_t i = 0; e && i < e->len && n + 1 < cap && e->value[i]; i++)
        if (e->value[i] >= 0x20 && e->value[i] < 0x7F)
            dst[n++] = (char)e->value[i];
    dst[n] = '\0';
}

fl_status fl_tuya_extract(const uint8_t *buf, size_t len, const char *name_hint,
                          const fl_tuya_extract_opts *opts, fl_tuya_config *c, fl_error *err)
{
    static const fl_tuya_extract_opts dflt = {0};
    if (!opts)
        opts = &dflt;
    memset(c, 0, sizeof *c);
    c->baud = -1;
    c->mode = opts->mode;
    fl_status st = fl_image_identify(buf, len, name_hint, &c->image, err);
    if (st != FL_OK)
        return st;
    st = fl_tuya_kv_read(buf, len, &c->kv, err);
    if (st != FL_OK) {
        if (c->image.kind != FL_IMAGE_UNKNOWN && c->image.kind != FL_IMAGE_TUYA_CONFIG)
            fl_fail_prefix(err, "%s", fl_image_kind_text(c->image.kind));
        fl_tuya_config_free(c);
        return st;
    }
    /* Flash address of the store: known when the file's place in flash is. */
    if (c->image.kind == FL_IMAGE_FULL_DUMP || c->image.kind == FL_IMAGE_ROTATED_DUMP ||
        c->image.kind == FL_IMAGE_APP_DUMP) {
        c->kv_flash_known = true;
        c->kv_flash_offset = c->image.rotated
                                 ? (uint32_t)((c->kv.key_block_offset + 0x11000) % len)
                                 : (uint32_t)(c->kv.key_block_offset + c->image.flash_base);
    }
    copy_text(c->em_sys_env, sizeof c->em_sys_env, fl_tuya_kv_find(&c->kv, "em_sys_env"));

    const fl_tuya_kv_entry *ue = fl_tuya_kv_find(&c->kv, "user_param_key");
    if (ue) {
        fl_error perr;
        if (fl_upk_parse((const char *)ue->value, ue->len, &c->upk, &perr) == FL_OK)
            c->upk_source = FL_UPK_KV;
        else
            fl_strlist_addf(&c->warnings, "user_param_key in the KV store does not parse: %s", perr.msg);
    }
    if (c->upk_source == FL_UPK_NONE && !opts->no_app_search && c->image.have_app) {
        fl_bk_key key = opts->have_key ? opts->key : c->image.code_key;
        if (upk_from_app(buf, len, c, &key))
            fl_strlist_addf(&c->warnings,
                            "no user_param_key in the KV store: using the default compiled into the app "
                            "(\"firmware default\"); the device may have been configured differently");
    }

    const fl_tuya_kv_entry *be = fl_tuya_kv_find(&c->kv, "baud_cfg");
    const char *ub = c->upk_source ? fl_upk_get(&c->upk, "baud") : NULL;
    if (ub) {
        c->baud = strtol(ub, NULL, 10);
    } else if (be) {
        json_t *j = json_loadb((const char *)be->value, strnlen((const char *)be->value, be->len), 0, NULL);
        json_t *b = json_object_get(j, "baud");
        if (json_is_integer(b))
            c->baud = (long)json_integer_value(b);
        json_decref(j);
    }

    const char *mod = c->upk_source ? fl_upk_get(&c->upk, "module") : NULL;
    if (mod)
        snprintf(c->module, sizeof c->module, "%s", mod);
    const char *hint = fl_tuya_chip_from_env(c->em_sys_env);
    if (!hint)
        hint = fl_tuya_chip_from_module(c->module);
    if (hint)
        snprintf(c->chip_hint, sizeof c->chip_hint, "%s", hint);
    if (c->image.chip[0] && !c->image.chip_from_name) {
        snprintf(c->chip, sizeof c->chip, "%s", c->image.chip);
        if (hint && !same_family(c->image.chip, hint))
            fl_strlist_addf(&c->warnings, "the Tuya config suggests %s (em_sys_env/module) but the flash says %s",
                            hint, c->image.chip);
    } else if (hint) {
        snprintf(c->chip, sizeof c->chip, "%s", hint);
    } else {
        snprintf(c->chip, sizeof c->chip, "%s", c->image.chip);
    }

    fl_upk empty = {0};
    st = fl_obk_map_build_rules(c->upk_source ? &c->upk : &empty, opts->mode, opts->rules, &c->obk, err);
    if (st != FL_OK) {
        fl_tuya_config_free(c);
        return st;
    }
    if (!ub && c->baud >= 0)
        fl_strlist_addf(&c->obk.hints, "baud_cfg baud=%ld: TuyaMCU device (startDriver TuyaMCU; tuyaMcu_setBaudRate %ld)",
                        c->baud, c->baud);
    return FL_OK;
}

void fl_tuya_config_free(fl_tuya_config *c)
{
    fl_image_info_free(&c->image);
    fl_tuya_kv_free(&c->kv);
    fl_upk_free(&c->upk);
    fl_obk_map_free(&c->obk);
    fl_strlist_free(&c->warnings);
    memset(c, 0, sizeof *c);
}

/* --- JSON ------------------------------------------------------------------------- */

static json_t *strlist_json(const fl_strlist *l)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < l->n; i++)
        json_array_append_new(a, json_string(l->items[i]));
    return a;
}

static json_t *hex32(uint32_t v)
{
    char s[16];
    snprintf(s, sizeof s, "0x%X", v);
    return json_string(s);
}

static json_t *upk_json(const fl_upk *u)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < u->n; i++) {
        const fl_upk_pair *p = &u->pairs[i];
        json_t *v = !p->quoted && fl_upk_value_is_int(p->value)
                        ? json_integer(strtoll(p->value, NULL, 10))
                        : json_string(p->value);
        json_object_set_new(o, p->key, v ? v : json_null());
    }
    return o;
}

static json_t *pins_json(const fl_obk_map *m)
{
    json_t *o = json_object();
    for (int p = 0; o && p < FL_OBK_MAX_PINS; p++) {
        if (!m->pins[p].used)
            continue;
        char k[16], v[48];
        snprintf(k, sizeof k, "%d", p);
        snprintf(v, sizeof v, "%s;%d", m->pins[p].role, m->pins[p].channel);
        json_object_set_new(o, k, json_string(v));
    }
    return o;
}

static char *joined_commands(const fl_obk_map *m)
{
    size_t n = 1;
    for (size_t i = 0; i < m->commands.n; i++)
        n += strlen(m->commands.items[i]) + 1;
    char *s = malloc(n);
    if (!s)
        return NULL;
    s[0] = '\0';
    for (size_t i = 0; i < m->commands.n; i++) {
        if (i)
            strcat(s, "\n");
        strcat(s, m->commands.items[i]);
    }
    return s;
}

json_t *fl_tuya_obk_template(const fl_tuya_config *c)
{
    json_t *t = json_object();
    if (!t)
        return NULL;
    char *cmd = joined_commands(&c->obk);
    json_object_set_new(t, "vendor", json_string("Tuya"));
    json_object_set_new(t, "bDetailed", json_string("0"));
    json_object_set_new(t, "name", json_string(c->module[0] ? c->module : "TODO"));
    json_object_set_new(t, "model", json_string("TODO"));
    json_object_set_new(t, "chip", json_string(c->chip[0] ? c->chip : "BK7231N"));
    json_object_set_new(t, "board", json_string(c->module[0] ? c->module : "TODO"));
    json_object_set_new(t, "keywords", json_array());
    json_object_set_new(t, "pins", pins_json(&c->obk));
    json_object_set_new(t, "command", json_string(cmd ? cmd : ""));
    json_object_set_new(t, "image", json_string(""));
    json_object_set_new(t, "wiki", json_string(""));
    free(cmd);
    return t;
}

static json_t *file_json(const fl_tuya_config *c, bool show)
{
    const fl_image_info *im = &c->image;
    json_t *f = json_object();
    json_object_set_new(f, "kind", json_string(fl_image_kind_name(im->kind)));
    json_object_set_new(f, "description", json_string(fl_image_kind_text(im->kind)));
    json_object_set_new(f, "size", json_integer((json_int_t)im->size));
    json_object_set_new(f, "rotated", json_boolean(im->rotated));
    json_object_set_new(f, "chip_evidence", json_string(im->chip_evidence));
    if (im->have_rf) {
        char mac[18];
        fl_format_mac(im->mac, show, mac);
        json_object_set_new(f, "rf_offset", hex32(im->rf_offset));
        json_object_set_new(f, "mac", json_string(mac));
        json_object_set_new(f, "mac_masked", json_boolean(!show));
    }
    return f;
}

json_t *fl_tuya_config_json(const fl_tuya_config *c, unsigned flags)
{
    bool show = flags & FL_TUYA_JSON_SECRETS;
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "file", file_json(c, show));
    json_object_set_new(o, "chip", c->chip[0] ? json_string(c->chip) : json_null());
    json_object_set_new(o, "chip_hint_from_config", c->chip_hint[0] ? json_string(c->chip_hint) : json_null());
    json_object_set_new(o, "module", c->module[0] ? json_string(c->module) : json_null());
    json_object_set_new(o, "em_sys_env", c->em_sys_env[0] ? json_string(c->em_sys_env) : json_null());
    json_object_set_new(o, "baud", c->baud >= 0 ? json_integer(c->baud) : json_null());

    const fl_tuya_kv *kv = &c->kv;
    json_t *s = json_object();
    json_object_set_new(s, "key_block_file_offset", hex32((uint32_t)kv->key_block_offset));
    json_object_set_new(s, "key_block_flash_offset", c->kv_flash_known ? hex32(c->kv_flash_offset) : json_null());
    json_object_set_new(s, "base_string", json_string(kv->base_string));
    json_object_set_new(s, "data_magic", hex32(kv->data_magic));
    json_object_set_new(s, "data_sectors", json_integer((json_int_t)kv->data_sectors));
    json_object_set_new(s, "live_blocks", json_integer((json_int_t)kv->live_blocks));
    json_object_set_new(s, "contiguous", json_boolean(kv->contiguous));
    json_object_set_new(s, "protected_block_file_offset",
                        kv->protected_block ? hex32((uint32_t)kv->protected_block_offset) : json_null());
    json_object_set_new(o, "storage", s);

    json_object_set_new(o, "user_param_key_source",
                        c->upk_source ? json_string(fl_upk_source_name(c->upk_source)) : json_null());
    json_object_set_new(o, "user_param_key", c->upk_source ? upk_json(&c->upk) : json_null());

    json_t *keys = json_array();
    for (size_t i = 0; i < kv->n; i++) {
        const fl_tuya_kv_entry *e = &kv->entries[i];
        json_t *k = json_object();
        json_object_set_new(k, "name", json_string(e->name));
        json_object_set_new(k, "length", json_integer((json_int_t)e->len));
        json_object_set_new(k, "checksum_ok", json_boolean(e->checksum_ok));
        json_object_set_new(k, "class", json_string(fl_secret_class_name(fl_tuya_key_class(e->name))));
        json_object_set_new(k, "redacted", json_boolean(!show && fl_tuya_value_has_secrets(e->name, e->value, e->len)));
        json_t *v = fl_tuya_value_json(e->name, e->value, e->len, show);
        json_object_set_new(k, "value", v ? v : json_null());
        json_array_append_new(keys, k);
    }
    json_object_set_new(o, "keys", keys);
    json_object_set_new(o, "secrets_shown", json_boolean(show));

    if (flags & FL_TUYA_JSON_OBK) {
        json_t *ob = json_object();
        json_object_set_new(ob, "mode", json_string(c->mode == FL_OBK_LV_AWARE ? "lv-aware" : "compat"));
        json_object_set_new(ob, "pins", pins_json(&c->obk));
        json_t *roles = json_array();
        for (int p = 0; p < FL_OBK_MAX_PINS; p++) {
            const fl_obk_pin *pin = &c->obk.pins[p];
            if (!pin->used)
                continue;
            json_t *r = json_object();
            json_object_set_new(r, "pin", json_integer(p));
            json_object_set_new(r, "role", json_string(pin->role));
            json_object_set_new(r, "role_index", json_integer(pin->role_index));
            json_object_set_new(r, "channel", json_integer(pin->channel));
            json_object_set_new(r, "key", json_string(pin->key));
            json_array_append_new(roles, r);
        }
        json_object_set_new(ob, "roles", roles);
        json_object_set_new(ob, "commands", strlist_json(&c->obk.commands));
        char *bl = fl_obk_map_backlog(&c->obk);
        json_object_set_new(ob, "backlog", bl ? json_string(bl) : json_null());
        free(bl);
        json_object_set_new(ob, "led_driver", c->obk.led_driver ? json_string(c->obk.led_driver) : json_null());
        json_object_set_new(ob, "template", fl_tuya_obk_template(c));
        json_object_set_new(ob, "warnings", strlist_json(&c->obk.warnings));
        json_object_set_new(ob, "hints", strlist_json(&c->obk.hints));
        json_object_set_new(o, "obk", ob);
    }

    json_t *w = strlist_json(&c->warnings);
    for (size_t i = 0; w && i < kv->warnings.n; i++)
        json_array_append_new(w, json_string(kv->warnings.items[i]));
    for (size_t i = 0; w && i < c->image.notes.n; i++)
        json_array_append_new(w, json_string(c->image.notes.items[i]));
    json_object_set_new(o, "warnings", w);
    return o;
}
