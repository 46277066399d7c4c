/* obk_pins.c — Tuya keys -> OBK pin map (spec A10): the key rules are data
 * (obk_rules.h); the I2C LED-driver block and the hints are here. */
#include "formats/obk_pins.h"

#include "formats/obk_config.h"
#include "formats/obk_rules.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fl_obk_role_index(const char *name)
{
    int index = fl_obk_cfg_role_index(name);
    return index > 0 ? index : -1;
}

const char *fl_obk_role_name(int index)
{
    return index > 0 ? fl_obk_cfg_role_name(index) : NULL;
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

/* Walk the keys through the rules (obk_rules.h: db/obk-pin-rules.jsonl). */
static fl_status build(const fl_upk *u, bool lv, const fl_obk_rules *rules, fl_obk_map *m)
{
    memset(m, 0, sizeof *m);
    for (size_t i = 0; i < u->n; i++) {
        const char *k = u->pairs[i].key, *v = u->pairs[i].value;
        fl_obk_action a = fl_obk_rules_match(rules, k, level_of(u, k), lv);
        int pin;
        switch (a.kind) {
        case FL_OBK_ACT_ROLE:
            if (valid_pin(v, &pin))
                set_role(m, pin, fl_obk_cfg_role_name(a.role), a.channel, k);
            else
                fl_strlist_addf(&m->warnings, "%s='%s' is not a pin number 0..31; ignored", k, v);
            break;
        case FL_OBK_ACT_COMMAND: {
            long x;
            if (parse_int(v, &x))
                fl_strlist_addf(&m->commands, "%s %ld", a.text, x);
            else
                fl_strlist_addf(&m->warnings, "%s='%s' is not a number; no %s", k, v, a.text);
            break;
        }
        case FL_OBK_ACT_DESCRIBE:
            if (valid_pin(v, &pin))
                fl_strlist_addf(&m->warnings, "P%d: %s = %s has no OBK role here", pin, k, a.text);
            else
                fl_strlist_addf(&m->warnings, "%s='%s': %s, no OBK role", k, v, a.text);
            break;
        case FL_OBK_ACT_UNKNOWN:
            fl_strlist_addf(&m->warnings, "unknown pin key %s='%s': no OBK role assigned", k, v);
            break;
        case FL_OBK_ACT_NONE:
        case FL_OBK_ACT_IGNORE:
            break;
        }
    }
    i2c_block(u, lv, m);
    hints(u, m);
    return FL_OK;
}

fl_status fl_obk_map_build(const fl_upk *upk, fl_obk_mode mode, fl_obk_map *out, fl_error *err)
{
    return fl_obk_map_build_rules(upk, mode, NULL, out, err);
}

fl_status fl_obk_map_build_rules(const fl_upk *upk, fl_obk_mode mode, const fl_obk_rules *rules, fl_obk_map *out,
                                 fl_error *err)
{
    memset(out, 0, sizeof *out);
    if (!rules && !(rules = fl_obk_rules_builtin(err)))
        return err ? err->code : FL_ERR_INTERNAL;
    bool lv = mode == FL_OBK_LV_AWARE;
    build(upk, lv, rules, out);
    if (!lv) {
        /* Report where the opt-in rules would differ (A10.5: warnings, a human decides). */
        fl_obk_map alt;
        build(upk, true, rules, &alt);
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
