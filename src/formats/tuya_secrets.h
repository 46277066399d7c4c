/* tuya_secrets.h — which Tuya KV values are secrets, and their redaction.
 *
 * Real dumps carry the owner's Wi-Fi password, the cloud auth key, local
 * keys and device ids (spec A8).  Neither reference tool redacts them;
 * flashline shows every *key name* (auditors see what existed) but replaces
 * secret values with "<redacted>" unless the operator opts in.  Inside the
 * gw_* JSON objects the rule is default-deny: only fields known to be
 * harmless (versions, product key, country code, ...) are shown. */
#ifndef FL_FORMATS_TUYA_SECRETS_H
#define FL_FORMATS_TUYA_SECRETS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum fl_secret_class {
    FL_CLASS_PUBLIC = 0, /* shown */
    FL_CLASS_IDENTIFIER, /* device identifier (MAC): partly masked */
    FL_CLASS_PERSONAL,   /* e.g. the home Wi-Fi SSID: redacted by default */
    FL_CLASS_SECRET,     /* credentials: redacted by default */
    FL_CLASS_LOW,        /* cloud URLs and similar noise: omitted by default */
    FL_CLASS_STRUCTURED, /* a JSON object classified field by field */
} fl_secret_class;

#define FL_REDACTED "<redacted>"
#define FL_OMITTED "<omitted>"

/* Class of a whole KV entry by its name. */
fl_secret_class fl_tuya_key_class(const char *kv_key);

/* Class of one field inside a structured entry (gw_bi, gw_di, gw_wsm, gw_ai). */
fl_secret_class fl_tuya_field_class(const char *kv_key, const char *field);

const char *fl_secret_class_name(fl_secret_class c);

/* Typed value for output (spec A4.5): trailing NULs stripped; text that
 * parses as JSON becomes that JSON, other text a string, binary
 * "HEX:<hex>".  Redacted per the classes above unless show_secrets.
 * Returns a new reference (NULL only when out of memory). */
json_t *fl_tuya_value_json(const char *kv_key, const uint8_t *value, size_t len,
                           bool show_secrets);

/* True if the value holds at least one field/value that is redacted or
 * omitted when show_secrets is false. */
bool fl_tuya_value_has_secrets(const char *kv_key, const uint8_t *value, size_t len);

/* "AA:BB:CC:DD:EE:FF" or, masked, "AA:BB:CC:xx:xx:xx" (OUI kept). */
void fl_format_mac(const uint8_t mac[6], bool show_all, char out[18]);

/* Mask a MAC written as text (12 hex digits, with or without separators):
 * keeps the first 6 hex digits.  Returns a malloc'd string. */
char *fl_mask_mac_text(const char *s);

#endif
