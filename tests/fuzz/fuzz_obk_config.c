/* libFuzzer target: the OBK config parser (formats/obk_config.h) on both
 * layouts, build -> parse -> build stability, the JSON view, and the
 * settings JSON applied to a config.  Invariants abort(). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "formats/obk_config.h"

#define FUZZ_ASSERT(c) \
    do {               \
        if (!(c))      \
            abort();   \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse_build(const uint8_t *data, size_t size, int pins)
{
    static fl_obk_config c, d;
    static uint8_t s1[FL_OBK_CFG_SECTOR], s2[FL_OBK_CFG_SECTOR];
    fl_obk_header h;
    fl_error e = {0};
    fl_status st = fl_obk_config_parse(data, size, pins, size & 1, &c, &h, &e);
    FUZZ_ASSERT((st == FL_OK) == (h.check == FL_OBK_VALID || ((size & 1) && h.check == FL_OBK_BAD_CRC)));
    if (st != FL_OK) {
        FUZZ_ASSERT(e.code == FL_ERR_FORMAT && e.msg[0]);
        return;
    }
    json_decref(fl_obk_config_json(&c, false));
    if (fl_obk_config_build(&c, s1, &e) != FL_OK)
        return; /* a field without its NUL: refused, never cut */
    FUZZ_ASSERT(fl_obk_config_parse(s1, sizeof s1, pins, false, &d, &h, &e) == FL_OK);
    FUZZ_ASSERT(fl_obk_config_build(&d, s2, &e) == FL_OK && !memcmp(s1, s2, sizeof s1));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse_build(data, size, 32);
    parse_build(data, size, 48);
    json_t *j = json_loadb((const char *)data, size, 0, NULL);
    if (j) {
        static fl_obk_config c;
        static uint8_t s[FL_OBK_CFG_SECTOR];
        fl_error e = {0};
        fl_obk_config_defaults(&c, 32, NULL);
        if (fl_obk_config_apply_json(&c, j, &e) == FL_OK)
            FUZZ_ASSERT(fl_obk_config_build(&c, s, &e) == FL_OK);
        json_decref(j);
    }
    return 0;
}
