/* obk_pins.h — Tuya `user_param_key` -> OpenBeken pin roles and channels.
 *
 * Two modes (spec A10.5, D6):
 *  - compat (default): exactly the mapping of BK7231GUIFlashTool (the C#
 *    rules, A10.2/A10.3); `*_lv` keys are ignored.  This is what the golden
 *    table and most community templates expect.
 *  - lv-aware (opt-in): honours `*_lv` active levels (inverted `_n` roles),
 *    maps `ir` to IRRecv, `key_pin` to Btn_Tgl_All, `mic` to ADC,
 *    `firstpin_pin`/`secpin_pin` to PWM and latching relays to the Bridge
 *    roles (D8, D11) — unverified on hardware, hence opt-in.
 * In compat mode every place where lv-aware would differ becomes a warning,
 * and every pin-like key that gets no role is a warning too: nothing is
 * dropped silently. */
#ifndef FL_FORMATS_OBK_PINS_H
#define FL_FORMATS_OBK_PINS_H

#include <stdbool.h>

#include "formats/strlist.h"
#include "formats/tuya_upk.h"
#include "util/error.h"

#define FL_OBK_MAX_PINS 32

typedef enum fl_obk_mode {
    FL_OBK_COMPAT = 0,
    FL_OBK_LV_AWARE = 1,
} fl_obk_mode;

typedef struct fl_obk_pin {
    bool used;
    const char *role; /* OBK short role name (static string), e.g. "PWM", "WifiLED_n" */
    int role_index;   /* value stored in the OBK binary config */
    int channel;      /* 0 when the role has no channel */
    char key[40];     /* the Tuya key that set it */
} fl_obk_pin;

typedef struct fl_obk_map {
    fl_obk_pin pins[FL_OBK_MAX_PINS]; /* indexed by pin (= BK GPIO) number */
    size_t n_pins;                    /* pins with a role */
    fl_strlist commands;              /* OBK startup command lines (PWMFrequency, *_Current, LED_Map) */
    fl_strlist warnings;              /* unknown pin keys, overwrites, lv-aware differences */
    fl_strlist hints;                 /* non-pin findings: TuyaMCU baud, metering chip, battery */
    const char *led_driver;           /* I2C LED driver ("SM2135", ...) or NULL */
} fl_obk_map;

/* Build the map.  Odd input never fails (bad values become warnings); the
 * status is FL_OK today and is there for callers to check all the same. */
fl_status fl_obk_map_build(const fl_upk *upk, fl_obk_mode mode, fl_obk_map *out, fl_error *err);

/* The same with a rule set (obk_rules.h; NULL: the built-in rules).  Fails
 * only when the built-in rules do not load (a broken build). */
struct fl_obk_rules;
fl_status fl_obk_map_build_rules(const fl_upk *upk, fl_obk_mode mode, const struct fl_obk_rules *rules,
                                 fl_obk_map *out, fl_error *err);

void fl_obk_map_free(fl_obk_map *m);

/* OBK console command that applies the map:
 * "backlog setPinRole 6 PWM; setPinChannel 6 1; ..." (malloc'd, or NULL when
 * no pin has a role or out of memory). */
char *fl_obk_map_backlog(const fl_obk_map *m);

/* Role table (the firmware's, obk_config.h): name -> index (-1 if unknown
 * or None) and index -> name (NULL). */
int fl_obk_role_index(const char *name);
const char *fl_obk_role_name(int index);

#endif
