/* libFuzzer target: the OBK pin-rules loader (formats/obk_rules.h) on
 * arbitrary text, then matching keys with the rules it accepted.  A bad
 * file must fail with "NAME:LINE: ..." and add nothing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/obk_rules.h"

#define FUZZ_ASSERT(c) \
    do {               \
        if (!(c))      \
            abort();   \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fl_obk_rules *r = NULL;
    fl_error e = {0};
    if (fl_obk_rules_new_empty(&r, &e) != FL_OK)
        return 0;
    fl_status st = fl_obk_rules_add_text(r, "fuzz.jsonl", (const char *)data, size, &e);
    if (st != FL_OK) {
        FUZZ_ASSERT(fl_obk_rules_count(r) == 0);
        FUZZ_ASSERT(e.code == FL_ERR_INTERNAL || !strncmp(e.msg, "fuzz.jsonl:", 11));
    } else {
        static const char *const keys[] = {"led1_pin", "rl", "rl12_pin", "pwmhz", "x_pin", "a", "", "k3pin_pin"};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            for (int lv = -1; lv <= 1; lv++) {
                fl_obk_action a = fl_obk_rules_match(r, keys[i], lv, lv >= 0);
                FUZZ_ASSERT(a.kind != FL_OBK_ACT_ROLE || (a.role > 0 && a.role < 99));
            }
    }
    fl_obk_rules_free(r);
    return 0;
}
