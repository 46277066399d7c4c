/* obk_config_json.c — OBK config settings by name, JSON in and out, and the
 * credentials hash (see obk_config.h). */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "formats/obk_config.h"

#define REDACTED "<redacted>"

typedef struct str_field {
    const char *key;
    size_t off, cap;
    bool secret;
} str_field;

#define SF(key, field, secret) {key, offsetof(fl_obk_config, field), sizeof(((fl_obk_config *)0)->field), secret}

static const str_field str_fields[] = {
    SF("wifi_ssid", wifi_ssid, false),     SF("wifi_pass", wifi_pass, true),
    SF("mqtt_host", mqtt_host, false),     SF("mqtt_user", mqtt_user, false),
    SF("mqtt_pass", mqtt_pass, true),      SF("mqtt_topic", mqtt_client_id, false),
    SF("mqtt_group", mqtt_group, false),   SF("short_name", short_name, false),
    SF("long_name", long_name, false),     SF("init_command", init_command, false),
    SF("wifi_ssid2", wifi_ssid2, false),   SF("wifi_pass2", wifi_pass2, true),
    SF("web_password", web_password, true),
};
#define N_STR (sizeof str_fields / sizeof str_fields[0])

const char *fl_obk_config_keys(void)
{
    return "wifi_ssid wifi_pass mqtt_host mqtt_port mqtt_user mqtt_pass mqtt_topic mqtt_group name "
           "short_name long_name init_command wifi_ssid2 wifi_pass2 web_password flag pin";
}

bool fl_obk_config_key_is_secret(const char *key)
{
    for (size_t i = 0; i < N_STR; i++)
        if (!strcmp(str_fields[i].key, key))
            return str_fields[i].secret;
    return false;
}

static fl_status set_text(fl_obk_config *c, const str_field *f, const char *value, fl_error *err)
{
    size_t n = strlen(value);
    if (n >= f->cap)
        return fl_fail(err, FL_ERR_USAGE, "%s: %zu bytes, the OBK config holds at most %zu", f->key, n, f->cap - 1);
    char *dst = (char *)c + f->off;
    memset(dst, 0, f->cap);
    memcpy(dst, value, n);
    return FL_OK;
}

static bool parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    if (!s || !*s)
        return false;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static fl_status set_flag(fl_obk_config *c, const char *value, fl_error *err)
{
    const char *eq = strchr(value, '=');
    char name[64];
    if (!eq || (size_t)(eq - value) >= sizeof name)
        return fl_fail(err, FL_ERR_USAGE, "flag '%s': write NAME=0 or NAME=1", value);
    memcpy(name, value, (size_t)(eq - value));
    name[eq - value] = '\0';
    int idx = fl_obk_flag_index(name);
    if (idx < 0)
        return fl_fail(err, FL_ERR_USAGE, "flag '%s' is not an OpenBeken flag (names as OBK_FLAG_..., or 0..%d)",
                       name, FL_OBK_FLAG_COUNT - 1);
    if (strcmp(eq + 1, "0") && strcmp(eq + 1, "1"))
        return fl_fail(err, FL_ERR_USAGE, "flag %s: value '%s' is not 0 or 1", name, eq + 1);
    fl_obk_flag_set(c, idx, eq[1] == '1');
    return FL_OK;
}

static fl_status set_pin(fl_obk_config *c, const char *value, fl_error *err)
{
    char buf[96], *eq;
    long pin, ch = 0;
    if (strlen(value) >= sizeof buf || !(eq = strchr(strcpy(buf, value), '=')))
        return fl_fail(err, FL_ERR_USAGE, "pin '%s': write N=ROLE[,CHANNEL]", value);
    *eq = '\0';
    if (!parse_long(buf, 0, c->pin_count - 1, &pin))
        return fl_fail(err, FL_ERR_USAGE, "pin '%s': the pin is not a number 0..%d (this chip's layout)", buf,
                       c->pin_count - 1);
    char *role = eq + 1, *comma = strpbrk(role, ",;");
    if (comma) {
        *comma = '\0';
        if (!parse_long(comma + 1, 0, FL_OBK_CFG_CHANNELS - 1, &ch))
            return fl_fail(err, FL_ERR_USAGE, "pin %ld: channel '%s' is not a number 0..%d", pin, comma + 1,
                           FL_OBK_CFG_CHANNELS - 1);
    }
    int r = fl_obk_cfg_role_index(role);
    if (r < 0)
        return fl_fail(err, FL_ERR_USAGE, "pin %ld: '%s' is not an OpenBeken pin role (e.g. Rel, Btn, LED, PWM, "
                       "WifiLED_n, None)", pin, role);
    c->pins[pin] = (fl_obk_cfg_pin){(uint8_t)r, (uint8_t)ch, 0};
    return FL_OK;
}

fl_status fl_obk_config_set(fl_obk_config *c, const char *key, const char *value, fl_error *err)
{
    if (!key || !value)
        return fl_fail(err, FL_ERR_USAGE, "OBK config: a setting without a name or value");
    if (!strcmp(key, "flag"))
        return set_flag(c, value, err);
    if (!strcmp(key, "pin"))
        return set_pin(c, value, err);
    if (!strcmp(key, "mqtt_port")) {
        long port;
        if (!parse_long(value, 1, 65535, &port))
            return fl_fail(err, FL_ERR_USAGE, "mqtt_port '%s' is not a port number 1..65535", value);
        c->mqtt_port = (int32_t)port;
        return FL_OK;
    }
    if (!strcmp(key, "name")) {
        fl_status st = fl_obk_config_set(c, "short_name", value, err);
        if (!st)
            st = fl_obk_config_set(c, "long_name", value, err);
        /* the firmware's own default: the client ID (the MQTT topic) is the short name */
        if (!st)
            st = fl_obk_config_set(c, "mqtt_topic", value, err);
        return st;
    }
    for (size_t i = 0; i < N_STR; i++)
        if (!strcmp(str_fields[i].key, key))
            return set_text(c, &str_fields[i], value, err);
    return fl_fail(err, FL_ERR_USAGE, "'%s' is not an OBK config setting (known: %s)", key, fl_obk_config_keys());
}

static fl_status apply_member(fl_obk_config *c, const char *key, json_t *v, fl_error *err)
{
    char num[32];
    if (json_is_string(v))
        return fl_obk_config_set(c, key, json_string_value(v), err);
    if (json_is_integer(v)) {
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
        return fl_obk_config_set(c, key, num, err);
    }
    return fl_fail(err, FL_ERR_USAGE, "%s: a string or a number is needed", key);
}

fl_status fl_obk_config_apply_json(fl_obk_config *c, json_t *obj, fl_error *err)
{
    if (!json_is_object(obj))
        return fl_fail(err, FL_ERR_USAGE, "OBK config settings: a JSON object is needed");
    const char *key;
    json_t *v;
    char buf[160];
    json_object_foreach(obj, key, v) {
        fl_status st = FL_OK;
        if (!strcmp(key, "flags") && json_is_object(v)) {
            const char *fk;
            json_t *fv;
            json_object_foreach(v, fk, fv) {
                if (!json_is_boolean(fv) && !json_is_integer(fv))
                    return fl_fail(err, FL_ERR_USAGE, "flags.%s: true/false or 0/1 is needed", fk);
                snprintf(buf, sizeof buf, "%s=%s", fk,
                         json_is_true(fv) || (json_is_integer(fv) && json_integer_value(fv) == 1) ? "1"
                         : json_is_integer(fv) && json_integer_value(fv) != 0 ? "x" : "0");
                if ((st = fl_obk_config_set(c, "flag", buf, err)))
                    return st;
            }
        } else if (!strcmp(key, "pins") && json_is_object(v)) {
            const char *pk;
            json_t *pv;
            json_object_foreach(v, pk, pv) {
                if (!json_is_string(pv))
                    return fl_fail(err, FL_ERR_USAGE, "pins.%s: \"ROLE[,CHANNEL]\" is needed", pk);
                snprintf(buf, sizeof buf, "%s=%s", pk, json_string_value(pv));
                if ((st = fl_obk_config_set(c, "pin", buf, err)))
                    return st;
            }
        } else if ((st = apply_member(c, key, v, err))) {
            return st;
        }
    }
    return FL_OK;
}

static json_t *text(const char *s)
{
    /* config strings are whatever the unit holds: not always UTF-8 */
    json_t *j = json_string(s);
    return j ? j : json_stringn_nocheck(s, strlen(s));
}

json_t *fl_obk_config_json(const fl_obk_config *c, bool secrets)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "version", json_integer(c->version));
    json_object_set_new(o, "pin_layout", json_integer(c->pin_count));
    for (size_t i = 0; i < N_STR; i++) {
        const char *v = (const char *)c + str_fields[i].off;
        json_object_set_new(o, str_fields[i].key, str_fields[i].secret && !secrets && *v ? json_string(REDACTED) : text(v));
    }
    json_object_set_new(o, "mqtt_port", json_integer(c->mqtt_port));
    char mac[18];
    snprintf(mac, sizeof mac, "%02X:%02X:%02X:%02X:%02X:%02X", c->mac[0], c->mac[1], c->mac[2], c->mac[3],
             c->mac[4], c->mac[5]);
    json_object_set_new(o, "mac", json_string(mac));
    json_t *flags = json_array();
    for (int i = 0; i < 64; i++)
        if (fl_obk_flag_get(c, i)) {
            const char *n = fl_obk_flag_name(i);
            char unk[16];
            snprintf(unk, sizeof unk, "%d", i);
            json_array_append_new(flags, json_string(n ? n : unk));
        }
    json_object_set_new(o, "flags", flags);
    json_t *pins = json_object();
    for (int p = 0; p < c->pin_count; p++) {
        if (!c->pins[p].role)
            continue;
        char k[8], v[64];
        const char *r = fl_obk_cfg_role_name(c->pins[p].role);
        snprintf(k, sizeof k, "%d", p);
        if (r)
            snprintf(v, sizeof v, "%s;%d", r, c->pins[p].channel);
        else
            snprintf(v, sizeof v, "role%d;%d", c->pins[p].role, c->pins[p].channel);
        json_object_set_new(pins, k, json_string(v));
    }
    json_object_set_new(o, "pins", pins);
    json_object_set_new(o, "webapp_root", text(c->webapp_root));
    json_object_set_new(o, "ntp_server", text(c->ntp_server));
    json_object_set_new(o, "change_counter", json_integer(c->change_counter));
    char h[65];
    fl_obk_config_credentials_hash(c, h);
    json_object_set_new(o, "credentials_sha256", json_string(h));
    return o;
}

void fl_obk_config_credentials_hash(const fl_obk_config *c, char out[65])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char md[32];
    unsigned int n = 0;
    const char *parts[] = {"flashline-obk-credentials-v1", c->wifi_ssid, c->wifi_pass, c->mqtt_host, c->mqtt_user,
                           c->mqtt_pass};
    if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
        for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
            EVP_DigestUpdate(ctx, parts[i], strlen(parts[i]) + 1); /* with the NUL: fields cannot run together */
        EVP_DigestFinal_ex(ctx, md, &n);
    }
    EVP_MD_CTX_free(ctx);
    out[0] = '\0';
    for (unsigned i = 0; i < n && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}
