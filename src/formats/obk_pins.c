/* obk_pins.c — Tuya key -> OBK role table (spec A10). */
#include "formats/obk_pins.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* OBK role indices (spec A10.1: 0-68 from new_pins.h, the rest from the
 * GUI flasher's role list). */
static const struct {
    int index;
    const char *name;
} roles[] = {
    {1, "Rel"},           {2, "Rel_n"},          {3, "Btn"},           {4, "Btn_n"},
    {5, "LED"},           {6, "LED_n"},          {7, "PWM"},           {8, "WifiLED"},
    {9, "WifiLED_n"},     {10, "Btn_Tgl_All"},   {11, "Btn_Tgl_All_n"}, {12, "dInput"},
    {13, "dInput_n"},     {14, "TglChanOnTgl"},  {15, "dInput_NoPullUp"}, {16, "dInput_NoPullUp_n"},
    {17, "BL0937SEL"},    {18, "BL0937CF"},      {19, "BL0937CF1"},    {20, "ADC"},
    {21, "SM2135DAT"},    {22, "SM2135CLK"},     {23, "BP5758D_DAT"},  {24, "BP5758D_CLK"},
    {25, "BP1658CJ_DAT"}, {26, "BP1658CJ_CLK"},  {27, "PWM_n"},        {28, "IRRecv"},
    {29, "IRSend"},       {37, "SM16703P_DIN"},  {52, "SM2235DAT"},    {53, "SM2235CLK"},
    {54, "BridgeFWD"},    {55, "BridgeREV"},     {60, "BAT_ADC"},      {61, "BAT_Relay"},
    {64, "BL0937SEL_n"},  {75, "BAT_Relay_n"},   {76, "KP18058_CLK"},  {77, "KP18058_DAT"},
    {87, "RCRecv"},
};

int fl_obk_role_index(const char *name)
{
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (!strcmp(roles[i].name, name))
            return roles[i].index;
    return -1;
}

const char *fl_obk_role_name(int index)
{
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (roles[i].index == index)
            return roles[i].name;
    return NULL;
}

/* --- key patterns --------------------------------------------------------- */

/* key == prefix <digits> suffix; *n receives the digits. */
static bool num_match(const char *key, const char *prefix, const char *suffix, int *n)
{
    size_t pl = strlen(prefix), sl = strlen(suffix), kl = strlen(key);
    if (kl <= pl + sl || strncmp(key, prefix, pl) != 0 || strcmp(key + kl - sl, suffix) != 0)
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

static bool is_one_of(const char *key, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(key, *list))
            return true;
    return false;
}

static bool parse_int(const char *s, long *out)
{
    if (!s || !*s)
        return false;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end != '\0' || end == s)
        return false;
    *out = v;
    return true;
}

/* Active level of a pin key: `<name>_pin` -> `<name>_lv`, other keys
 * `<key>_lv`.  -1 when absent or not a number. */
static int level_of(const fl_upk *u, const char *key)
{
    char lv[80];
    size_t kl = strlen(key);
    if (kl > 4 && !strcmp(key + kl - 4, "_pin"))
        snprintf(lv, sizeof lv, "%.*s_lv", (int)(kl - 4), key);
    else
        snprintf(lv, sizeof lv, "%s_lv", key);
    long v;
    return parse_int(fl_upk_get(u, lv), &v) ? (int)v : -1;
}

typedef enum { A_NONE, A_ROLE, A_DESCRIBED, A_PWMHZ } act_kind;

typedef struct action {
    act_kind kind;
    const char *role;
    int channel;
    const char *what; /* A_DESCRIBED: what the pin is */
} action;

static action role(const char *r, int ch)
{
    return (action){A_ROLE, r, ch, NULL};
}

static action described(const char *what)
{
    return (action){A_DESCRIBED, NULL, 0, what};
}

/* The table of A10.2.  `lv` selects the lv-aware/extended variants. */
static action map_key(const fl_upk *u, const char *k, bool lv)
{
    static const char *const wifi_led[] = {"netled_pin", "wfst", "wfst_pin", "status_led_pin", NULL};
    static const char *const pwm_keys[] = {"r_pin", "g_pin", "b_pin", "c_pin", "w_pin", NULL};
    int n, level = level_of(u, k);
    if (num_match(k, "led", "_pin", &n))
        return role(lv && level == 0 ? "LED_n" : "LED", n);
    if (num_match(k, "netled", "_pin", &n) || is_one_of(k, wifi_led))
        return role(lv && level == 1 ? "WifiLED" : "WifiLED_n", 0);
    if (!strcmp(k, "bz_pin_pin") || !strcmp(k, "buzzer_io"))
        return described("buzzer");
    if (!strcmp(k, "remote_io"))
        return role("RCRecv", 0);
    if (!strcmp(k, "samp_sw_pin"))
        return role(lv && level == 0 ? "BAT_Relay_n" : "BAT_Relay", 0);
    if (!strcmp(k, "samp_pin"))
        return role("BAT_ADC", 0);
    if (!strcmp(k, "i2c_scl_pin") || !strcmp(k, "i2c_sda_pin"))
        return described("I2C bus (OBK has no I2C pin role)");
    if (!strcmp(k, "alt_pin_pin"))
        return described("ALT pin");
    if (!strcmp(k, "one_wire_pin"))
        return described("one-wire bus");
    if (!strcmp(k, "backlit_io_pin"))
        return role("LED", 0);
    if (!strcmp(k, "rl"))
        return role(lv && level == 0 ? "Rel_n" : "Rel", 0);
    if (num_match(k, "rl", "_pin", &n))
        return role(lv && level == 0 ? "Rel_n" : "Rel", n);
    if (num_match(k, "rl_on", "_pin", &n))
        return role(lv ? "BridgeFWD" : "Rel", n);
    if (num_match(k, "rl_off", "_pin", &n))
        return role(lv ? "BridgeREV" : "Rel_n", n);
    if (!strcmp(k, "bt_pin") || !strcmp(k, "bt"))
        return role(lv && level == 1 ? "Btn_n" : "Btn", 0);
    if (num_match(k, "k", "pin_pin", &n))
        return role("Btn", n);
    if (num_match(k, "bt", "_pin", &n))
        return role(lv && level == 1 ? "Btn_n" : "Btn", n);
    if (num_match(k, "door", "_magt_pin", &n))
        return role("dInput", n);
    if (num_match(k, "onoff", "", &n))
        return role("TglChanOnTgl", n);
    if (!strcmp(k, "gate_sensor_pin_pin") || !strcmp(k, "basic_pin_pin"))
        return role("dInput", 0);
    if (!strcmp(k, "ele_pin") || !strcmp(k, "epin"))
        return role("BL0937CF", 0);
    if (!strcmp(k, "vi_pin") || !strcmp(k, "ivpin"))
        return role("BL0937CF1", 0);
    if (!strcmp(k, "sel_pin_pin") || !strcmp(k, "ivcpin"))
        return role(lv && level == 0 ? "BL0937SEL_n" : "BL0937SEL", 0);
    for (int i = 0; pwm_keys[i]; i++)
        if (!strcmp(k, pwm_keys[i]))
            return role(lv && level == 0 ? "PWM_n" : "PWM", i);
    if (!strcmp(k, "mic") || !strcmp(k, "micpin"))
        return lv ? role("ADC", 0) : described("microphone (the web app maps it to ADC)");
    if (!strcmp(k, "ctrl_pin"))
        return described("control pin");
    if (!strcmp(k, "irpin") || !strcmp(k, "infrr"))
        return role("IRRecv", 0);
    if (!strcmp(k, "infre"))
        return role("IRSend", 0);
    if (!strcmp(k, "reset_pin"))
        return role("Btn", 0);
    if (!strcmp(k, "pwmhz"))
        return (action){A_PWMHZ, NULL, 0, NULL};
    if (!strcmp(k, "pirsense_pin") || !strcmp(k, "pirin_pin"))
        return described("PIR sensor");
    if (!strcmp(k, "mosi"))
        return role("SM16703P_DIN", 0);
    if (!strcmp(k, "miso") || !strcmp(k, "SCL") || !strcmp(k, "CS"))
        return described("SPI bus");
    if (!strcmp(k, "total_bt_pin"))
        return role(lv && level == 1 ? "Btn_Tgl_All_n" : "Btn_Tgl_All", 0);
    if (!strcmp(k, "ir"))
        return lv ? role("IRRecv", 0) : described("IR receiver per the LibreTiny docs (IRRecv with --lv-aware)");
    if (!strcmp(k, "key_pin"))
        return lv ? role("Btn_Tgl_All", 0) : described("key (the web app maps it to Btn_Tgl_All)");
    if (!strcmp(k, "firstpin_pin"))
        return lv ? role("PWM", 1) : described("PWM output 1 (web app)");
    if (!strcmp(k, "secpin_pin"))
        return lv ? role("PWM", 2) : described("PWM output 2 (web app)");
    if (!strcmp(k, "ele_rx") || !strcmp(k, "ele_tx"))
        return described("BL0942 metering UART (RX1 = P10, TX1 = P11; startDriver BL0942)");
    return (action){A_NONE, NULL, 0, NULL};
}

/* Keys that look like a pin assignment but are not in the table. */
static bool looks_like_pin_key(const char *k)
{
    size_t kl = strlen(k);
    if (kl >= 3 && !strcmp(k + kl - 3, "_lv"))
        return false;
    if (!strcmp(k, "iicscl") || !strcmp(k, "iicsda"))
        return false; /* handled by the I2C block */
    return (kl >= 3 && !strcmp(k + kl - 3, "pin")) || (kl >= 3 && !strcmp(k + kl - 3, "_io")) ||
           (kl >= 5 && !strcmp(k + kl - 5, "_gpio"));
}

/* --- assembly ----------------------------------------------------------------- */

static bool valid_pin(const char *v, int *pin)
{
    long p;
    if (!parse_int(v, &p) || p < 0 || p >= FL_OBK_MAX_PINS)
        return false;
    *pin = (int)p;
    return true;
}

static void set_role(fl_obk_map *m, int pin, const char *r, int ch, const char *key)
{
    fl_obk_pin *p = &m->pins[pin];
    if (p->used && (strcmp(p->role, r) != 0 || p->channel != ch))
        fl_strlist_addf(&m->warnings, "P%d: %s (%s) replaces %s (%s) on the same pin", pin, key, r,
                        p->key, p->role);
    if (!p->used)
        m->n_pins++;
    p->used = true;
    p->role = r;
    p->role_index = fl_obk_role_index(r);
    p->channel = ch;
    snprintf(p->key, sizeof p->key, "%s", key);
}

static const char *get_or(const fl_upk *u, const char *key, const char *dflt)
{
    const char *v = fl_upk_get(u, key);
    return v && *v ? v : dflt;
}

/* First present of three keys (the C# rule: presence, not validity), else "1". */
static const char *first3(const fl_upk *u, const char *a, const char *b, const char *c)
{
    const char *v = fl_upk_get(u, a);
    if (!v || !*v)
        v = b ? fl_upk_get(u, b) : NULL;
    if ((!v || !*v) && c)
        v = fl_upk_get(u, c);
    return v && *v ? v : "1";
}

static void current_cmd(fl_obk_map *m, const char *cmd, const char *a, const char *b)
{
    long x, y;
    if (parse_int(a, &x) && parse_int(b, &y))
        fl_strlist_addf(&m->commands, "%s %ld %ld", cmd, x, y);
    else
        fl_strlist_addf(&m->warnings, "%s: current values '%s' / '%s' are not numbers; no command", cmd,
                        a, b);
}

static const char *driver_from_dmod(const fl_upk *u)
{
    long d;
    if (!parse_int(fl_upk_get(u, "dmod"), &d))
        return NULL;
    switch (d) {
    case 2: case 3: case 4: return "SM2135";
    case 5: return "BP1658CJ";
    case 6: return "BP5758D";
    case 7: return "SM2235";
    }
    return NULL;
}

/* A10.3: I2C LED drivers, applied after the key walk (may overwrite). */
static void i2c_block(const fl_upk *u, bool lv, fl_obk_map *m)
{
    const char *scl = fl_upk_get(u, "iicscl"), *sda = fl_upk_get(u, "iicsda");
    if (!scl || !sda || !*scl || !*sda) {
        if ((scl && *scl) || (sda && *sda))
            fl_strlist_addf(&m->warnings, "only one of iicscl/iicsda present; I2C LED driver not configured");
        return;
    }
    const char *drv = NULL, *dat = NULL, *clk = NULL;
    if (fl_upk_get(u, "ehccur") || fl_upk_get(u, "wampere") || fl_upk_get(u, "iicccur")) {
        drv = "SM2135", dat = "SM2135DAT", clk = "SM2135CLK";
        current_cmd(m, "SM2135_Current", first3(u, "ehccur", "iicccur", "campere"),
                    first3(u, "ehwcur", "iicwcur", "wampere"));
    } else if (fl_upk_get(u, "dccur")) {
        drv = "BP5758D", dat = "BP5758D_DAT", clk = "BP5758D_CLK";
        long w, c;
        const char *ws = first3(u, "dwcur", NULL, NULL), *cs = first3(u, "dccur", NULL, NULL);
        if (parse_int(ws, &w) && parse_int(cs, &c)) {
            char mx[24];
            snprintf(mx, sizeof mx, "%ld", w > c ? w : c);
            current_cmd(m, "BP5758D_Current", first3(u, "drgbcur", NULL, NULL), mx);
        } else {
            current_cmd(m, "BP5758D_Current", ws, cs);
        }
    } else if (fl_upk_get(u, "cjwcur")) {
        drv = "BP1658CJ", dat = "BP1658CJ_DAT", clk = "BP1658CJ_CLK";
        current_cmd(m, "BP1658CJ_Current", first3(u, "cjccur", NULL, NULL),
                    first3(u, "cjwcur", NULL, NULL));
    } else if (fl_upk_get(u, "2235ccur")) {
        drv = "SM2235", dat = "SM2235DAT", clk = "SM2235CLK";
        current_cmd(m, "SM2235_Current", first3(u, "2235ccur", NULL, NULL),
                    first3(u, "2235wcur", NULL, NULL));
    } else if (fl_upk_get(u, "2335ccur") && lv) {
        drv = "SM2235", dat = "SM2235DAT", clk = "SM2235CLK";
        fl_strlist_addf(&m->warnings, "2335ccur: SM2335 driven as SM2235 (no current command)");
    } else if (fl_upk_get(u, "kp58wcur")) {
        drv = "KP18058", dat = "KP18058_DAT", clk = "KP18058_CLK";
        /* The C# tool passes the white current first (D12): reproduced, flagged. */
        current_cmd(m, "KP18058_Current", first3(u, "kp58wcur", NULL, NULL),
                    first3(u, "kp58ccur", NULL, NULL));
        fl_strlist_addf(&m->warnings, "KP18058_Current: argument order (white, colour) copied from the "
                                      "GUI flasher looks swapped; check on the device");
    }
    const char *by_dmod = driver_from_dmod(u);
    if (!drv) {
        fl_strlist_addf(&m->warnings, "I2C LED driver not identified from the current keys (iicscl=%s, iicsda=%s)%s%s; "
                                      "no DAT/CLK roles set",
                        scl, sda, by_dmod ? "; dmod suggests " : "", by_dmod ? by_dmod : "");
    } else {
        m->led_driver = drv;
        if (by_dmod && strcmp(by_dmod, drv) != 0)
            fl_strlist_addf(&m->warnings, "I2C LED driver %s chosen from the current keys, but dmod suggests %s",
                            drv, by_dmod);
        int p;
        if (valid_pin(sda, &p))
            set_role(m, p, dat, 0, "iicsda");
        else
            fl_strlist_addf(&m->warnings, "iicsda='%s' is not a pin number 0..31", sda);
        if (valid_pin(scl, &p))
            set_role(m, p, clk, 0, "iicscl");
        else
            fl_strlist_addf(&m->warnings, "iicscl='%s' is not a pin number 0..31", scl);
    }
    long r, g, b, c, w;
    if (parse_int(get_or(u, "iicr", "-1"), &r) && parse_int(get_or(u, "iicg", "-1"), &g) &&
        parse_int(get_or(u, "iicb", "-1"), &b) && parse_int(get_or(u, "iicc", "-1"), &c) &&
        parse_int(get_or(u, "iicw", "-1"), &w))
        fl_strlist_addf(&m->commands, "LED_Map %ld %ld %ld %ld %ld", r, g, b, c, w);
    else
        fl_strlist_addf(&m->warnings, "iicr/iicg/iicb/iicc/iicw are not all numbers; no LED_Map command");
}

static void hints(const fl_upk *u, fl_obk_map *m)
{
    long v;
    const char *baud = fl_upk_get(u, "baud");
    if (baud)
        fl_strlist_addf(&m->hints, "baud=%s: TuyaMCU or BL0942 device (for TuyaMCU: startDriver TuyaMCU; "
                                   "tuyaMcu_setBaudRate %s)", baud, baud);
    if (parse_int(fl_upk_get(u, "chip_type"), &v)) {
        switch (v) {
        case 0: fl_strlist_addf(&m->hints, "chip_type=0: BL0937 power metering (driver starts from its pins)"); break;
        case 1: fl_strlist_addf(&m->hints, "chip_type=1: HLW8012 power metering (BL0937 roles; check the SEL polarity)"); break;
        case 2: fl_strlist_addf(&m->hints, "chip_type=2: HLW8032 UART power metering; OBK's CSE7766 driver may fit (unverified), not started automatically"); break;
        case 3: case 4: fl_strlist_addf(&m->hints, "chip_type=%ld: BL0942 UART power metering (startDriver BL0942; sources disagree on 3 vs 4)", v); break;
        default: fl_strlist_addf(&m->hints, "chip_type=%ld: unknown power-metering chip", v); break;
        }
    }
    if (fl_upk_get(u, "max_V") || fl_upk_get(u, "min_V"))
        fl_strlist_addf(&m->hints, "battery device (max_V=%s, min_V=%s, probably mV): OBK battery driver",
                        get_or(u, "max_V", "?"), get_or(u, "min_V", "?"));
    if (fl_upk_get(u, "ele_rx") || fl_upk_get(u, "ele_tx"))
        fl_strlist_addf(&m->hints, "ele_rx/ele_tx: BL0942 on UART1; startDriver BL0942");
}

static fl_status build(const fl_upk *u, bool lv, fl_obk_map *m)
{
    memset(m, 0, sizeof *m);
    for (size_t i = 0; i < u->n; i++) {
        const char *k = u->pairs[i].key, *v = u->pairs[i].value;
        action a = map_key(u, k, lv);
        int pin;
        switch (a.kind) {
        case A_ROLE:
            if (valid_pin(v, &pin))
                set_role(m, pin, a.role, a.channel, k);
            else
                fl_strlist_addf(&m->warnings, "%s='%s' is not a pin number 0..31; ignored", k, v);
            break;
        case A_PWMHZ: {
            long hz;
            if (parse_int(v, &hz))
                fl_strlist_addf(&m->commands, "PWMFrequency %ld", hz);
            else
                fl_strlist_addf(&m->warnings, "pwmhz='%s' is not a number; no PWMFrequency", v);
            break;
        }
        case A_DESCRIBED:
            if (valid_pin(v, &pin))
                fl_strlist_addf(&m->warnings, "P%d: %s = %s has no OBK role here", pin, k, a.what);
            else
                fl_strlist_addf(&m->warnings, "%s='%s': %s, no OBK role", k, v, a.what);
            break;
        case A_NONE:
            if (looks_like_pin_key(k))
                fl_strlist_addf(&m->warnings, "unknown pin key %s='%s': no OBK role assigned", k, v);
            break;
        }
    }
    i2c_block(u, lv, m);
    hints(u, m);
    return FL_OK;
}

fl_status fl_obk_map_build(const fl_upk *upk, fl_obk_mode mode, fl_obk_map *out, fl_error *err)
{
    bool lv = mode == FL_OBK_LV_AWARE;
    build(upk, lv, out);
    if (!lv) {
        /* Report where the opt-in rules would differ (A10.5: warnings, a human decides). */
        fl_obk_map alt;
        build(upk, true, &alt);
        for (int p = 0; p < FL_OBK_MAX_PINS; p++) {
            const fl_obk_pin *a = &out->pins[p], *b = &alt.pins[p];
            if (a->used == b->used && (!a->used || (!strcmp(a->role, b->role) && a->channel == b->channel)))
                continue;
            if (!b->used)
                continue;
            if (!a->used)
                fl_strlist_addf(&out->warnings, "P%d: --lv-aware would add %s;%d (from %s)", p, b->role,
                                b->channel, b->key);
            else
                fl_strlist_addf(&out->warnings, "P%d: --lv-aware would use %s instead of %s (%s with its _lv level)",
                                p, b->role, a->role, b->key);
        }
        fl_obk_map_free(&alt);
    }
    if (out->n_pins == 0)
        fl_strlist_addf(&out->hints, "no pins found: TuyaMCU or a custom device");
    return FL_OK;
}

void fl_obk_map_free(fl_obk_map *m)
{
    fl_strlist_free(&m->commands);
    fl_strlist_free(&m->warnings);
    fl_strlist_free(&m->hints);
    memset(m, 0, sizeof *m);
}

char *fl_obk_map_backlog(const fl_obk_map *m)
{
    if (m->n_pins == 0)
        return NULL;
    size_t cap = 16 + (size_t)FL_OBK_MAX_PINS * 80, o = 0;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    o += (size_t)snprintf(s + o, cap - o, "backlog");
    const char *sep = " ";
    for (int p = 0; p < FL_OBK_MAX_PINS; p++) {
        const fl_obk_pin *pin = &m->pins[p];
        if (!pin->used)
            continue;
        o += (size_t)snprintf(s + o, cap - o, "%ssetPinRole %d %s; setPinChannel %d %d", sep, p,
                              pin->role, p, pin->channel);
        sep = "; ";
    }
    return s;
}
