/* tuya_secrets.c — classification table of spec A8 and redaction. */
#include "formats/tuya_secrets.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(s, *list))
            return true;
    return false;
}

static bool contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (!strncasecmp(hay, needle, n))
            return true;
    return false;
}

/* Names that smell like credentials, for keys the table does not know. */
static bool secret_looking(const char *name)
{
    static const char *const words[] = {"key", "psk", "pass", "pwd", "token", "seed",
                                        "secret", "auth", "uuid", "cert", NULL};
    for (int i = 0; words[i]; i++)
        if (contains_ci(name, words[i]))
            return true;
    return false;
}

fl_secret_class fl_tuya_key_class(const char *k)
{
    static const char *const structured[] = {"gw_bi", "gw_di", "gw_wsm", "gw_ai", NULL};
    static const char *const secret[] = {"ble_beaconkey", "tuya_seed", NULL};
    static const char *const pub[] = {"user_param_key", "em_sys_env", "baud_cfg", "wf_start_md",
                                      "is_stride", "tls_ca_cnt", "timer_arr", "mf_test_close",
                                      "save_off_stat", "moniter_time_save", "trace_time_save",
                                      "voice_ctrl_enc", NULL};
    if (in_list(k, structured))
        return FL_CLASS_STRUCTURED;
    if (in_list(k, secret))
        return FL_CLASS_SECRET;
    if (in_list(k, pub))
        return FL_CLASS_PUBLIC;
    if (!strncmp(k, "gw_", 3) || secret_looking(k))
        return FL_CLASS_SECRET; /* unknown gateway records hold cloud state */
    return FL_CLASS_PUBLIC;
}

fl_secret_class fl_tuya_field_class(const char *k, const char *f)
{
    if (!strcmp(k, "gw_bi")) {
        static const char *const pub[] = {"country_code", "prod_test", "ap_ssid", "bt_hid", NULL};
        if (in_list(f, pub))
            return FL_CLASS_PUBLIC;
        if (!strcmp(f, "bt_mac"))
            return FL_CLASS_IDENTIFIER;
        return FL_CLASS_SECRET; /* uuid, auth_key, psk_key, ap_passwd, fac_pin, unknown */
    }
    if (!strcmp(k, "gw_di")) {
        static const char *const pub[] = {"swv", "bv", "pv", "lpv", "pk", "firmk", "cadv", "cdv",
                                          "dev_swv", "mcu_swv", "s_id", "sync", "sync_ts", NULL};
        return in_list(f, pub) ? FL_CLASS_PUBLIC : FL_CLASS_SECRET; /* id, uid, ... */
    }
    if (!strcmp(k, "gw_wsm")) {
        static const char *const pub[] = {"nc_tp", "md", "stat", "dns_prio", NULL};
        if (in_list(f, pub))
            return FL_CLASS_PUBLIC;
        if (!strcmp(f, "ssid"))
            return FL_CLASS_PERSONAL;
        return FL_CLASS_SECRET; /* passwd, token, reg_key, region, random, wfb64, unknown */
    }
    if (!strcmp(k, "gw_ai")) {
        static const char *const low[] = {"time_z", "http_url", "https_url", "mq_url", "mqtt_url",
                                          "ai_url", "tz", NULL};
        if (in_list(f, low) || contains_ci(f, "url") || contains_ci(f, "ip") ||
            contains_ci(f, "host") || contains_ci(f, "port"))
            return secret_looking(f) ? FL_CLASS_SECRET : FL_CLASS_LOW;
        return FL_CLASS_SECRET; /* key, lckey, hs_psk, mq_psk, psk21_key, unknown */
    }
    return fl_tuya_key_class(k) == FL_CLASS_STRUCTURED ? FL_CLASS_SECRET : fl_tuya_key_class(k);
}

const char *fl_secret_class_name(fl_secret_class c)
{
    switch (c) {
    case FL_CLASS_PUBLIC: return "public";
    case FL_CLASS_IDENTIFIER: return "identifier";
    case FL_CLASS_PERSONAL: return "personal";
    case FL_CLASS_SECRET: return "secret";
    case FL_CLASS_LOW: return "low";
    case FL_CLASS_STRUCTURED: return "structured";
    }
    return "secret";
}

void fl_format_mac(const uint8_t mac[6], bool show_all, char out[18])
{
    if (show_all)
        snprintf(out, 18, "%02X:%02X:%02X:%02X:%02X:%02X", mac[0], mac[1], mac[2], mac[3], mac[4],
                 mac[5]);
    else
        snprintf(out, 18, "%02X:%02X:%02X:xx:xx:xx", mac[0], mac[1], mac[2]);
}

char *fl_mask_mac_text(const char *s)
{
    char *o = strdup(s);
    if (!o)
        return NULL;
    int hex = 0;
    for (char *p = o; *p; p++)
        if (isxdigit((unsigned char)*p) && ++hex > 6)
            *p = 'x';
        else if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '-' && *p != '.')
            return memset(o, 'x', strlen(o)), o; /* not a MAC: mask it all */
    return o;
}

/* --- typed values ----------------------------------------------------------- */

static bool is_text(const uint8_t *v, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((v[i] < 0x20 || v[i] > 0x7E) && v[i] != '\r' && v[i] != '\n' && v[i] != '\t')
            return false;
    return true;
}

static json_t *raw_json(const uint8_t *v, size_t len)
{
    while (len > 0 && v[len - 1] == 0)
        len--;
    if (!is_text(v, len)) {
        static const char hx[] = "0123456789abcdef";
        char *s = malloc(4 + 2 * len + 1);
        if (!s)
            return NULL;
        memcpy(s, "HEX:", 4);
        for (size_t i = 0; i < len; i++) {
            s[4 + 2 * i] = hx[v[i] >> 4];
            s[5 + 2 * i] = hx[v[i] & 15];
        }
        s[4 + 2 * len] = '\0';
        json_t *j = json_string(s);
        free(s);
        return j;
    }
    json_t *j = len ? json_loadb((const char *)v, len, JSON_DECODE_ANY, NULL) : NULL;
    return j ? j : json_stringn((const char *)v, len);
}

static json_t *redact_field(fl_secret_class c, json_t *value)
{
    switch (c) {
    case FL_CLASS_PUBLIC:
        return json_incref(value);
    case FL_CLASS_IDENTIFIER:
        if (json_is_string(value)) {
            char *m = fl_mask_mac_text(json_string_value(value));
            json_t *j = m ? json_string(m) : json_string(FL_REDACTED);
            free(m);
            return j;
        }
        return json_string(FL_REDACTED);
    case FL_CLASS_LOW:
        return json_string(FL_OMITTED);
    default:
        return json_string(FL_REDACTED);
    }
}

json_t *fl_tuya_value_json(const char *kv_key, const uint8_t *value, size_t len, bool show)
{
    json_t *raw = raw_json(value, len);
    if (!raw || show)
        return raw;
    fl_secret_class c = fl_tuya_key_class(kv_key);
    if (c == FL_CLASS_STRUCTURED && json_is_object(raw)) {
        json_t *out = json_object();
        const char *f;
        json_t *v;
        json_object_foreach(raw, f, v) json_object_set_new(out, f, redact_field(fl_tuya_field_class(kv_key, f), v));
        json_decref(raw);
        return out;
    }
    json_t *out = redact_field(c == FL_CLASS_STRUCTURED ? FL_CLASS_SECRET : c, raw);
    json_decref(raw);
    return out;
}

bool fl_tuya_value_has_secrets(const char *kv_key, const uint8_t *value, size_t len)
{
    fl_secret_class c = fl_tuya_key_class(kv_key);
    if (c == FL_CLASS_PUBLIC)
        return false;
    if (c != FL_CLASS_STRUCTURED)
        return true;
    json_t *raw = raw_json(value, len);
    if (!json_is_object(raw)) {
        json_decref(raw);
        return true;
    }
    bool any = false;
    const char *f;
    json_t *v;
    json_object_foreach(raw, f, v) if (fl_tuya_field_class(kv_key, f) != FL_CLASS_PUBLIC) any = true;
    json_decref(raw);
    return any;
}
