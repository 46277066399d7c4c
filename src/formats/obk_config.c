/* obk_config.c — the OpenBeken config block (spec part C; see obk_config.h). */
#include "formats/obk_config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "formats/bytes.h"
#include "formats/obk_pins.h"

/* --- CRC (C.2) ---------------------------------------------------------------------- */

/* One byte, bit by bit, as the definition says. */
static uint8_t crc8_byte(uint8_t crc, uint8_t in, bool signed_variant)
{
    for (int b = 0; b < 8; b++) {
        int s = (crc ^ in) & 1;
        /* the firmware's `char` is signed on Beken: its >> keeps bit 7 */
        crc = (uint8_t)(signed_variant ? (crc >> 1) | (crc & 0x80) : crc >> 1);
        if (s)
            crc ^= 0x8C;
        in >>= 1;
    }
    return crc;
}

/* Both variants are linear over GF(2) in (crc, byte) together, so one step
 * is by_crc[crc] ^ by_byte[byte]: two small tables per variant. */
static uint8_t by_crc[2][256], by_byte[2][256];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void build_tables(void)
{
    for (int v = 0; v < 2; v++)
        for (int i = 0; i < 256; i++) {
            by_crc[v][i] = crc8_byte((uint8_t)i, 0, v);
            by_byte[v][i] = crc8_byte(0, (uint8_t)i, v);
        }
}

uint8_t fl_obk_crc8(const uint8_t *data, size_t len, bool signed_variant)
{
    pthread_once(&tables_once, build_tables);
    const uint8_t *tc = by_crc[signed_variant], *tb = by_byte[signed_variant];
    uint8_t crc = 0;
    for (size_t i = 0; i < len; i++)
        crc = tc[crc] ^ tb[data[i]];
    return crc;
}

/* --- layout (C.3) --------------------------------------------------------------------- */

/* Fixed offsets (the same on both layouts). */
enum {
    O_VERSION = 0x004, O_FLAGS = 0x008, O_FLAGS2 = 0x00C, O_CHANGE = 0x010, O_OTA = 0x012,
    O_SSID = 0x014, O_PASS = 0x054, O_MQTT_HOST = 0x094, O_CLIENT_ID = 0x194, O_MQTT_USER = 0x1D4,
    O_MQTT_PASS = 0x214, O_MQTT_PORT = 0x294, O_WEBAPP = 0x298, O_MAC = 0x2D8, O_SHORT = 0x2DE,
    O_LONG = 0x2FE, O_ROLES = 0x33E,
    O_IP = 0x527, O_NETMASK = 0x52B, O_GATEWAY = 0x52F, O_DNS = 0x533, O_LED_REMAP = 0x537,
    O_LED_CORR = 0x53C, O_MQTT_GROUP = 0x554, O_BOOT_OK = 0x597, O_PING_INTERVAL = 0x598,
    O_PING_SECONDS = 0x59C, O_PING_HOST = 0x5A0, O_INIT_CMD = 0x5E0, O_SSID2 = 0xC00, O_PASS2 = 0xC40,
    O_WEB_PASS = 0xC84, O_TLS = 0xCA5, O_TLS_VERIFY = 0xCA6, O_CERT = 0xCA7, O_NO_WEB = 0xCBB,
};

bool fl_obk_layout_for(int pin_count, fl_obk_layout *l)
{
    if (pin_count != 32 && pin_count != 48)
        return false;
    size_t n = (size_t)pin_count;
    l->roles = O_ROLES;
    l->channels = O_ROLES + n;
    l->channels2 = O_ROLES + 2 * n;
    l->channel_types = O_ROLES + 3 * n;
    l->start_values = l->channel_types + FL_OBK_CFG_CHANNELS;
    l->log2lfs = l->start_values + 2 * FL_OBK_CFG_CHANNELS;
    l->dgr_send = l->log2lfs + 2; /* + unused_fill */
    l->dgr_recv = l->dgr_send + 4;
    l->dgr_name = l->dgr_recv + 4;
    l->ntp_server = l->dgr_name + 16;
    l->cal = l->ntp_server + 32;
    l->buttons = l->cal + 32;
    l->lfs_size = l->buttons + 4; /* short, long, repeat, unused_fill1 */
    l->logger_flags = l->lfs_size + 4;
    return true;
}

/* --- header check --------------------------------------------------------------------- */

const char *fl_obk_check_name(fl_obk_check c)
{
    switch (c) {
    case FL_OBK_VALID: return "valid";
    case FL_OBK_ERASED: return "erased";
    case FL_OBK_BAD_IDENT: return "bad-ident";
    case FL_OBK_BAD_VERSION: return "bad-version";
    case FL_OBK_BAD_CRC: return "bad-crc";
    case FL_OBK_SHORT: return "short";
    }
    return "?";
}

void fl_obk_config_check(const uint8_t *buf, size_t len, fl_obk_header *h)
{
    memset(h, 0, sizeof *h);
    if (len < 8) {
        h->check = FL_OBK_SHORT;
        return;
    }
    h->crc_stored = buf[3];
    h->version = (int32_t)fl_le32(buf + O_VERSION);
    if (fl_all_bytes(buf, len < FL_OBK_CFG_SIZE ? len : FL_OBK_CFG_SIZE, 0xFF)) {
        h->check = FL_OBK_ERASED;
        return;
    }
    if (memcmp(buf, "CFG", 3) != 0) {
        h->check = FL_OBK_BAD_IDENT;
        return;
    }
    if (h->version < 3 || h->version > FL_OBK_CFG_VERSION) {
        h->check = FL_OBK_BAD_VERSION;
        return;
    }
    h->size = h->version == 3 ? FL_OBK_CFG_SIZE_V3 : FL_OBK_CFG_SIZE;
    if (len < h->size) {
        h->check = FL_OBK_SHORT;
        return;
    }
    h->crc_signed = fl_obk_crc8(buf + 4, h->size - 4, true);
    h->crc_unsigned = fl_obk_crc8(buf + 4, h->size - 4, false);
    h->check = h->crc_signed == h->crc_stored ? FL_OBK_VALID : FL_OBK_BAD_CRC;
}

static fl_status header_error(const fl_obk_header *h, size_t len, fl_error *err)
{
    switch (h->check) {
    case FL_OBK_VALID: return FL_OK;
    case FL_OBK_ERASED:
        return fl_fail(err, FL_ERR_FORMAT, "no OBK config: the sector is erased (all 0xFF)");
    case FL_OBK_BAD_IDENT:
        return fl_fail(err, FL_ERR_FORMAT, "not an OBK config: the ident is not \"CFG\"");
    case FL_OBK_BAD_VERSION:
        return fl_fail(err, FL_ERR_FORMAT, "OBK config version %d is unknown (known: 3, 4, 5)", (int)h->version);
    case FL_OBK_SHORT:
        return fl_fail(err, FL_ERR_FORMAT, "OBK config cut short: %zu bytes, version %d needs %zu", len,
                       (int)h->version, h->size ? h->size : (size_t)8);
    case FL_OBK_BAD_CRC:
        return fl_fail(err, FL_ERR_FORMAT,
                       "OBK config CRC is wrong: stored 0x%02X, computed 0x%02X (the Beken firmware's signed "
                       "CRC-8)%s",
                       h->crc_stored, h->crc_signed,
                       h->crc_unsigned == h->crc_stored ? "; it is the unsigned CRC-8, which Beken firmware rejects" : "");
    }
    return fl_fail(err, FL_ERR_INTERNAL, "OBK config check %d", (int)h->check);
}

/* --- parse ------------------------------------------------------------------------------ */

static void get_str(char *dst, size_t cap, const uint8_t *src)
{
    /* the firmware keeps a NUL in every field; a field without one is cut */
    size_t n = strnlen((const char *)src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static float get_f32(const uint8_t *p)
{
    uint32_t u = fl_le32(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static void put_f32(uint8_t *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    fl_put_le32(p, u);
}

#define GET_STR(field, off) get_str(c->field, sizeof c->field, r + (off))

static void parse_fields(fl_obk_config *c, const fl_obk_layout *l)
{
    const uint8_t *r = c->raw;
    c->version = (int32_t)fl_le32(r + O_VERSION);
    c->flags = (uint64_t)fl_le32(r + O_FLAGS) | (uint64_t)fl_le32(r + O_FLAGS2) << 32;
    c->change_counter = fl_le16(r + O_CHANGE);
    c->ota_counter = fl_le16(r + O_OTA);
    GET_STR(wifi_ssid, O_SSID);
    GET_STR(wifi_pass, O_PASS);
    GET_STR(mqtt_host, O_MQTT_HOST);
    GET_STR(mqtt_client_id, O_CLIENT_ID);
    GET_STR(mqtt_user, O_MQTT_USER);
    GET_STR(mqtt_pass, O_MQTT_PASS);
    c->mqtt_port = (int32_t)fl_le32(r + O_MQTT_PORT);
    GET_STR(webapp_root, O_WEBAPP);
    memcpy(c->mac, r + O_MAC, 6);
    GET_STR(short_name, O_SHORT);
    GET_STR(long_name, O_LONG);
    for (int i = 0; i < c->pin_count; i++) {
        c->pins[i].role = r[l->roles + (size_t)i];
        c->pins[i].channel = r[l->channels + (size_t)i];
        c->pins[i].channel2 = r[l->channels2 + (size_t)i];
    }
    memcpy(c->channel_types, r + l->channel_types, FL_OBK_CFG_CHANNELS);
    for (int i = 0; i < FL_OBK_CFG_CHANNELS; i++)
        c->start_values[i] = (int16_t)fl_le16(r + l->start_values + 2 * (size_t)i);
    c->log2lfs = r[l->log2lfs];
    c->dgr_send_flags = (int32_t)fl_le32(r + l->dgr_send);
    c->dgr_recv_flags = (int32_t)fl_le32(r + l->dgr_recv);
    GET_STR(dgr_name, l->dgr_name);
    GET_STR(ntp_server, l->ntp_server);
    c->button_short = r[l->buttons];
    c->button_long = r[l->buttons + 1];
    c->button_repeat = r[l->buttons + 2];
    c->lfs_size = fl_le32(r + l->lfs_size);
    c->logger_flags = (int32_t)fl_le32(r + l->logger_flags);
    memcpy(c->ip, r + O_IP, 4);
    memcpy(c->netmask, r + O_NETMASK, 4);
    memcpy(c->gateway, r + O_GATEWAY, 4);
    memcpy(c->dns, r + O_DNS, 4);
    memcpy(c->led_remap, r + O_LED_REMAP, 5);
    for (int i = 0; i < 6; i++)
        c->led_corr[i] = get_f32(r + O_LED_CORR + 4 * (size_t)i);
    GET_STR(mqtt_group, O_MQTT_GROUP);
    c->boot_ok_seconds = r[O_BOOT_OK];
    c->ping_interval = (int32_t)fl_le32(r + O_PING_INTERVAL);
    c->ping_seconds = (int32_t)fl_le32(r + O_PING_SECONDS);
    GET_STR(ping_host, O_PING_HOST);
    GET_STR(init_command, O_INIT_CMD);
    GET_STR(wifi_ssid2, O_SSID2);
    GET_STR(wifi_pass2, O_PASS2);
    GET_STR(web_password, O_WEB_PASS);
    c->mqtt_use_tls = r[O_TLS];
    c->mqtt_verify_tls_cert = r[O_TLS_VERIFY];
    GET_STR(mqtt_cert_file, O_CERT);
    c->disable_web_server = r[O_NO_WEB];
}

fl_status fl_obk_config_parse(const uint8_t *buf, size_t len, int pin_count, bool accept_bad_crc,
                              fl_obk_config *out, fl_obk_header *hp, fl_error *err)
{
    fl_obk_header local, *h = hp ? hp : &local;
    fl_obk_layout l;
    if (!fl_obk_layout_for(pin_count, &l))
        return fl_fail(err, FL_ERR_USAGE, "OBK config layout of %d pins is not known (32 or 48)", pin_count);
    fl_obk_config_check(buf, len, h);
    if (h->check != FL_OBK_VALID && !(accept_bad_crc && h->check == FL_OBK_BAD_CRC))
        return header_error(h, len, err);
    memset(out, 0, sizeof *out);
    out->pin_count = pin_count;
    /* a version-3 block is 2016 bytes: the fields past it did not exist yet */
    memcpy(out->raw, buf, h->size);
    parse_fields(out, &l);
    /* What the firmware does when it loads an older block (C.2): it clears
     * the web password before saving as version 5.  Doing the same here keeps
     * a rewrite from bringing back a password the unit would have dropped. */
    if (out->version < 5)
        memset(out->web_password, 0, sizeof out->web_password);
    return FL_OK;
}

/* --- defaults (C.6) ------------------------------------------------------------------------ */

void fl_obk_config_defaults(fl_obk_config *c, int pin_count, const uint8_t mac[6])
{
    memset(c, 0, sizeof *c);
    c->pin_count = pin_count;
    c->version = FL_OBK_CFG_VERSION;
    c->mqtt_port = 1883;
    snprintf(c->mqtt_user, sizeof c->mqtt_user, "homeassistant");
    snprintf(c->mqtt_pass, sizeof c->mqtt_pass, "qqqqqqqqqq"); /* the firmware's own default */
    snprintf(c->mqtt_group, sizeof c->mqtt_group, "obks");
    snprintf(c->webapp_root, sizeof c->webapp_root, "https://openbekeniot.github.io/webapp/");
    snprintf(c->ping_host, sizeof c->ping_host, "192.168.0.1");
    snprintf(c->ntp_server, sizeof c->ntp_server, "217.147.223.78");
    c->button_short = 3;
    c->button_long = 10;
    c->button_repeat = 5;
    c->boot_ok_seconds = 5;
    c->flags = 1ull << 10; /* MQTT_BROADCASTSELFSTATEONCONNECT */
    const float corr[6] = {1.0f, 1.0f, 1.0f, 2.2f, 0.1f, 0.1f};
    memcpy(c->led_corr, corr, sizeof corr);
    memset(c->led_remap, 0xFF, sizeof c->led_remap);
    if (mac) {
        memcpy(c->mac, mac, 6);
        snprintf(c->short_name, sizeof c->short_name, "obk%02x%02x%02x%02x", mac[2], mac[3], mac[4], mac[5]);
        snprintf(c->long_name, sizeof c->long_name, "OpenBeken_%02x%02x%02x%02x", mac[2], mac[3], mac[4],
                 mac[5]);
        snprintf(c->mqtt_client_id, sizeof c->mqtt_client_id, "%s", c->short_name);
    }
}

/* --- build ----------------------------------------------------------------------------------- */

static fl_status put_str(uint8_t *dst, size_t cap, const char *src, const char *name, fl_error *err)
{
    size_t n = strnlen(src, cap);
    if (n >= cap)
        return fl_fail(err, FL_ERR_USAGE, "OBK config: %s is longer than %zu bytes", name, cap - 1);
    memset(dst, 0, cap);
    memcpy(dst, src, n);
    return FL_OK;
}

#define PUT_STR(field, off)                                                                \
    do {                                                                                   \
        if (put_str(r + (off), sizeof c->field, c->field, #field, err) != FL_OK)           \
            return err ? err->code : FL_ERR_USAGE;                                         \
    } while (0)

static fl_status build_fields(const fl_obk_config *c, const fl_obk_layout *l, uint8_t *r, fl_error *err)
{
    fl_put_le32(r + O_FLAGS, (uint32_t)c->flags);
    fl_put_le32(r + O_FLAGS2, (uint32_t)(c->flags >> 32));
    fl_put_le16(r + O_CHANGE, c->change_counter);
    fl_put_le16(r + O_OTA, c->ota_counter);
    PUT_STR(wifi_ssid, O_SSID);
    PUT_STR(wifi_pass, O_PASS);
    PUT_STR(mqtt_host, O_MQTT_HOST);
    PUT_STR(mqtt_client_id, O_CLIENT_ID);
    PUT_STR(mqtt_user, O_MQTT_USER);
    PUT_STR(mqtt_pass, O_MQTT_PASS);
    fl_put_le32(r + O_MQTT_PORT, (uint32_t)c->mqtt_port);
    PUT_STR(webapp_root, O_WEBAPP);
    memcpy(r + O_MAC, c->mac, 6);
    PUT_STR(short_name, O_SHORT);
    PUT_STR(long_name, O_LONG);
    for (int i = 0; i < c->pin_count; i++) {
        r[l->roles + (size_t)i] = c->pins[i].role;
        r[l->channels + (size_t)i] = c->pins[i].channel;
        r[l->channels2 + (size_t)i] = c->pins[i].channel2;
    }
    memcpy(r + l->channel_types, c->channel_types, FL_OBK_CFG_CHANNELS);
    for (int i = 0; i < FL_OBK_CFG_CHANNELS; i++)
        fl_put_le16(r + l->start_values + 2 * (size_t)i, (uint16_t)c->start_values[i]);
    r[l->log2lfs] = c->log2lfs;
    fl_put_le32(r + l->dgr_send, (uint32_t)c->dgr_send_flags);
    fl_put_le32(r + l->dgr_recv, (uint32_t)c->dgr_recv_flags);
    PUT_STR(dgr_name, l->dgr_name);
    PUT_STR(ntp_server, l->ntp_server);
    r[l->buttons] = c->button_short;
    r[l->buttons + 1] = c->button_long;
    r[l->buttons + 2] = c->button_repeat;
    fl_put_le32(r + l->lfs_size, c->lfs_size);
    fl_put_le32(r + l->logger_flags, (uint32_t)c->logger_flags);
    memcpy(r + O_IP, c->ip, 4);
    memcpy(r + O_NETMASK, c->netmask, 4);
    memcpy(r + O_GATEWAY, c->gateway, 4);
    memcpy(r + O_DNS, c->dns, 4);
    memcpy(r + O_LED_REMAP, c->led_remap, 5);
    for (int i = 0; i < 6; i++)
        put_f32(r + O_LED_CORR + 4 * (size_t)i, c->led_corr[i]);
    PUT_STR(mqtt_group, O_MQTT_GROUP);
    r[O_BOOT_OK] = c->boot_ok_seconds;
    fl_put_le32(r + O_PING_INTERVAL, (uint32_t)c->ping_interval);
    fl_put_le32(r + O_PING_SECONDS, (uint32_t)c->ping_seconds);
    PUT_STR(ping_host, O_PING_HOST);
    PUT_STR(init_command, O_INIT_CMD);
    PUT_STR(wifi_ssid2, O_SSID2);
    PUT_STR(wifi_pass2, O_PASS2);
    PUT_STR(web_password, O_WEB_PASS);
    r[O_TLS] = c->mqtt_use_tls;
    r[O_TLS_VERIFY] = c->mqtt_verify_tls_cert;
    PUT_STR(mqtt_cert_file, O_CERT);
    r[O_NO_WEB] = c->disable_web_server;
    return FL_OK;
}

fl_status fl_obk_config_build(const fl_obk_config *c, uint8_t out[FL_OBK_CFG_SECTOR], fl_error *err)
{
    fl_obk_layout l;
    if (!fl_obk_layout_for(c->pin_count, &l))
        return fl_fail(err, FL_ERR_USAGE, "OBK config layout of %d pins is not known (32 or 48)", c->pin_count);
    uint8_t *r = out;
    memcpy(r, c->raw, FL_OBK_CFG_SIZE);
    fl_status st = build_fields(c, &l, r, err);
    if (st != FL_OK)
        return st;
    memcpy(r, "CFG", 3);
    fl_put_le32(r + O_VERSION, FL_OBK_CFG_VERSION);
    r[3] = fl_obk_crc8(r + 4, FL_OBK_CFG_SIZE - 4, true);
    /* the rest of the sector stays erased, as the firmware and GUI tool leave it */
    memset(r + FL_OBK_CFG_SIZE, 0xFF, FL_OBK_CFG_SECTOR - FL_OBK_CFG_SIZE);
    return FL_OK;
}

/* --- flags (C.5) and roles (C.8) ------------------------------------------------------------------ */

static const char *const flag_names[FL_OBK_FLAG_COUNT] = {
    "MQTT_BROADCASTLEDPARAMSTOGETHER", "MQTT_BROADCASTLEDFINALCOLOR", "MQTT_BROADCASTSELFSTATEPERMINUTE",
    "LED_RAWCHANNELSMODE", "LED_FORCESHOWRGBCWCONTROLLER", "CMD_ENABLETCPRAWPUTTYSERVER", "BTN_INSTANTTOUCH",
    "MQTT_ALWAYSSETRETAIN", "LED_ALTERNATE_CW_MODE", "SM2135_SEPARATE_MODES",
    "MQTT_BROADCASTSELFSTATEONCONNECT", "SLOW_PWM", "LED_REMEMBERLASTSTATE", "HTTP_PINMONITOR",
    "IR_PUBLISH_RECEIVED", "IR_ALLOW_UNKNOWN", "LED_BROADCAST_FULL_RGBCW", "LED_AUTOENABLE_ON_WWW_ACTION",
    "LED_SMOOTH_TRANSITIONS", "TUYAMCU_ALWAYSPUBLISHCHANNELS", "LED_FORCE_MODE_RGB",
    "MQTT_RETAIN_POWER_CHANNELS", "IR_PUBLISH_RECEIVED_IN_JSON", "LED_AUTOENABLE_ON_ANY_ACTION",
    "LED_EMULATE_COOL_WITH_RGB", "POWER_ALLOW_NEGATIVE", "USE_SECONDARY_UART", "AUTOMAIC_HASS_DISCOVERY",
    "LED_SETTING_WHITE_RGB_ENABLES_CW", "USE_SHORT_DEVICE_NAME_AS_HOSTNAME", "DO_TASMOTA_TELE_PUBLISHES",
    "CMD_ACCEPT_UART_COMMANDS", "LED_USE_OLD_LINEAR_MODE", "PUBLISH_MULTIPLIED_VALUES",
    "MQTT_HASS_ADD_RELAYS_AS_LIGHTS", "NOT_PUBLISH_AVAILABILITY", "DRV_DISABLE_AUTOSTART", "WIFI_FAST_CONNECT",
    "POWER_FORCE_ZERO_IF_RELAYS_OPEN", "MQTT_PUBLISH_ALL_CHANNELS", "MQTT_ENERGY_IN_KWH", "BUTTON_DISABLE_ALL",
    "DOORSENSOR_INVERT_STATE", "TUYAMCU_USE_QUEUE", "HTTP_DISABLE_AUTH_IN_SAFE_MODE",
    "DISCOVERY_DONT_MERGE_LIGHTS", "TUYAMCU_STORE_RAW_DATA", "TUYAMCU_STORE_ALL_DATA", "POWER_INVERT_AC",
    "HTTP_NO_ONOFF_WORDS", "MQTT_NEVERAPPENDGET", "WIFI_ENHANCED_FAST_CONNECT",
};

int fl_obk_flag_index(const char *name)
{
    if (!name || !*name)
        return -1;
    if (!strncasecmp(name, "OBK_FLAG_", 9))
        name += 9;
    char *end;
    long n = strtol(name, &end, 10);
    if (end != name && *end == '\0')
        return n >= 0 && n < FL_OBK_FLAG_COUNT ? (int)n : -1;
    for (int i = 0; i < FL_OBK_FLAG_COUNT; i++)
        if (!strcasecmp(flag_names[i], name))
            return i;
    return -1;
}

const char *fl_obk_flag_name(int index)
{
    return index >= 0 && index < FL_OBK_FLAG_COUNT ? flag_names[index] : NULL;
}

bool fl_obk_flag_get(const fl_obk_config *c, int index)
{
    return index >= 0 && index < 64 && (c->flags >> index & 1u);
}

void fl_obk_flag_set(fl_obk_config *c, int index, bool on)
{
    if (index < 0 || index >= 64)
        return;
    if (on)
        c->flags |= 1ull << index;
    else
        c->flags &= ~(1ull << index);
}

/* htmlPinRoleNames in firmware order (0 is shown as "None"). */
static const char *const role_names[] = {
    "None", "Rel", "Rel_n", "Btn", "Btn_n", "LED", "LED_n", "PWM", "WifiLED", "WifiLED_n", "Btn_Tgl_All",
    "Btn_Tgl_All_n", "dInput", "dInput_n", "TglChanOnTgl", "dInput_NoPullUp", "dInput_NoPullUp_n", "BL0937SEL",
    "BL0937CF", "BL0937CF1", "ADC", "SM2135DAT", "SM2135CLK", "BP5758D_DAT", "BP5758D_CLK", "BP1658CJ_DAT",
    "BP1658CJ_CLK", "PWM_n", "IRRecv", "IRSend", "Btn_NextColor", "Btn_NextColor_n", "Btn_NextDimmer",
    "Btn_NextDimmer_n", "AlwaysHigh", "AlwaysLow", "UCS1912_DIN", "SM16703P_DIN", "Btn_NextTemperature",
    "Btn_NextTemperature_n", "Btn_ScriptOnly", "Btn_ScriptOnly_n", "DHT11", "DHT12", "DHT21", "DHT22",
    "CHT83XX_SDA", "CHT83XX_SCK", "SHT3X_SDA", "SHT3X_SCK", "SoftSDA", "SoftSCL", "SM2235DAT", "SM2235CLK",
    "BridgeFWD", "BridgeREV", "Btn_SmartLED", "Btn_SmartLED_n", "DoorSnsrWSleep", "DoorSnsrWSleep_nPup",
    "BAT_ADC", "BAT_Relay", "TM1637_DIO", "TM1637_CLK", "BL0937SEL_n", "DoorSnsrWSleep_pd", "SGP_CLK",
    "SGP_DAT", "ADC_Button", "GN6932_CLK", "GN6932_DAT", "GN6932_STB", "TM1638_CLK", "TM1638_DAT",
    "TM1638_STB", "BAT_Relay_n", "KP18058_CLK", "KP18058_DAT", "DS1820_IO", "PWM_ScriptOnly",
    "PWM_ScriptOnly_n", "Counter_f", "Counter_r", "IRRecv_nPup", "StripState", "StripState_n",
    "HLW_8112_SCSN", "RCRecv", "RCRecv_nPup", "Btn_pd", "Btn_pd_n", "TglChanOnTgl_pd", "ShutterA", "ShutterB",
    "BtnShutterUp", "BtnShutterDown", "BL0939_SCLK", "BL0939_MOSI", "BL0939_MISO",
};
#define N_ROLES ((int)(sizeof role_names / sizeof role_names[0]))

int fl_obk_cfg_role_index(const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < N_ROLES; i++)
        if (!strcasecmp(role_names[i], name))
            return i;
    return -1;
}

const char *fl_obk_cfg_role_name(int index)
{
    return index >= 0 && index < N_ROLES ? role_names[index] : NULL;
}

/* --- pins from a Tuya map ------------------------------------------------------------------------ */

fl_status fl_obk_config_set_pins(fl_obk_config *c, const fl_obk_map *m, bool commands, fl_error *err)
{
    memset(c->pins, 0, sizeof c->pins);
    for (int p = 0; p < FL_OBK_MAX_PINS; p++) {
        const fl_obk_pin *pin = &m->pins[p];
        if (!pin->used)
            continue;
        if (p >= c->pin_count)
            return fl_fail(err, FL_ERR_USAGE, "OBK config: P%d is past the %d-pin layout", p, c->pin_count);
        int role = fl_obk_cfg_role_index(pin->role);
        if (role < 0 || pin->channel < 0 || pin->channel >= FL_OBK_CFG_CHANNELS)
            return fl_fail(err, FL_ERR_USAGE, "OBK config: P%d role %s channel %d cannot be stored", p, pin->role,
                           pin->channel);
        c->pins[p].role = (uint8_t)role;
        c->pins[p].channel = (uint8_t)pin->channel;
    }
    if (!commands || m->commands.n == 0)
        return FL_OK;
    char line[sizeof c->init_command];
    size_t o = (size_t)snprintf(line, sizeof line, "backlog");
    for (size_t i = 0; i < m->commands.n && o < sizeof line; i++)
        o += (size_t)snprintf(line + o, sizeof line - o, "%s%s", i ? "; " : " ", m->commands.items[i]);
    if (o >= sizeof line)
        return fl_fail(err, FL_ERR_USAGE, "OBK config: the startup commands do not fit in %zu bytes",
                       sizeof line - 1);
    memcpy(c->init_command, line, o + 1);
    return FL_OK;
}
