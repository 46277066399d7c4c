/* bodies.h — what each fuzz target does with one input.  Shared by the
 * libFuzzer targets (tests/fuzz/fuzz_*.c) and by the mutation smoke test of
 * the unit suite (tests/test_formats_kv.c), so both exercise the same paths.
 * Inputs are arbitrary bytes; every function must return without a crash, a
 * leak or a sanitizer report, and the invariants below must hold (abort()
 * otherwise, which libFuzzer reports as a crash). */
#ifndef FL_FUZZ_BODIES_H
#define FL_FUZZ_BODIES_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/beken_crc16.h"
#include "formats/beken_crypt.h"
#include "formats/beken_image.h"
#include "formats/image_id.h"
#include "formats/obk_pins.h"
#include "formats/rbl.h"
#include "formats/tuya_extract.h"
#include "formats/tuya_kv.h"
#include "formats/tuya_upk.h"

#define FUZZ_ASSERT(c) \
    do {               \
        if (!(c))      \
            abort();   \
    } while (0)

/* The page/index parser behind the decryption: the input is taken as
 * decrypted sectors whose magic and checksum are made valid here, so that
 * mutations reach the block, bitmap, index-page and value logic. */
static inline void fuzz_tuya_kv_plain(const uint8_t *data, size_t size)
{
    size_t n = size / FL_TUYA_SECTOR;
    if (n == 0 || n > 64) {
        /* Small inputs: exercise the UPK tokenizer and pin rules instead. */
        fl_upk u;
        if (fl_upk_parse((const char *)data, size, &u, NULL) == FL_OK) {
            fl_obk_map m;
            fl_obk_map_build(&u, size & 1 ? FL_OBK_LV_AWARE : FL_OBK_COMPAT, &m, NULL);
            char *bl = fl_obk_map_backlog(&m);
            free(bl);
            fl_obk_map_free(&m);
            fl_upk_free(&u);
        }
        return;
    }
    uint8_t *s = malloc(n * FL_TUYA_SECTOR);
    if (!s)
        return;
    memcpy(s, data, n * FL_TUYA_SECTOR);
    for (size_t i = 0; i < n; i++) {
        uint8_t *p = s + i * FL_TUYA_SECTOR;
        if (p[0] & 0x80)
            continue; /* leave some sectors invalid */
        uint32_t magic = p[1] & 1 ? FL_TUYA_DATA_MAGIC_OS3 : FL_TUYA_DATA_MAGIC, sum = 0;
        for (size_t k = 8; k < FL_TUYA_SECTOR; k++)
            sum += p[k];
        for (int b = 0; b < 4; b++) {
            p[b] = (uint8_t)(magic >> (8 * b));
            p[4 + b] = (uint8_t)(sum >> (8 * b));
        }
    }
    fl_tuya_kv kv;
    if (fl_tuya_kv_parse_plain(s, n, &kv, NULL) == FL_OK) {
        for (size_t i = 0; i < kv.n; i++) {
            const fl_tuya_kv_entry *e = &kv.entries[i];
            FUZZ_ASSERT(e->name && e->value && e->value[e->len] == 0 && e->len <= e->declared);
            FUZZ_ASSERT(fl_tuya_kv_find(&kv, e->name) == e);
            if (!strcmp(e->name, "user_param_key")) {
                fl_upk u;
                if (fl_upk_parse((const char *)e->value, e->len, &u, NULL) == FL_OK)
                    fl_upk_free(&u);
            }
        }
        fl_tuya_kv_free(&kv);
    }
    free(s);
}

/* The whole extraction on raw bytes: identification, key-block search,
 * decryption, app-code search, pin map and both JSON views. */
static inline void fuzz_tuya_extract(const uint8_t *data, size_t size)
{
    fl_tuya_extract_opts o = {0};
    o.mode = size & 1 ? FL_OBK_LV_AWARE : FL_OBK_COMPAT;
    fl_tuya_config c;
    fl_error e;
    if (fl_tuya_extract(data, size, NULL, &o, &c, &e) != FL_OK) {
        FUZZ_ASSERT(e.code == FL_ERR_FORMAT && e.msg[0]);
        return;
    }
    json_t *a = fl_tuya_config_json(&c, FL_TUYA_JSON_OBK);
    json_t *b = fl_tuya_config_json(&c, FL_TUYA_JSON_SECRETS);
    json_decref(a);
    json_decref(b);
    fl_tuya_config_free(&c);
}

/* Identification, JSON, the logical code view and the code plan. */
static inline void fuzz_image(const uint8_t *data, size_t size)
{
    fl_image_info in;
    fl_error e;
    if (fl_image_identify(data, size, size & 2 ? "OpenBK7231N_QIO_1.0.bin" : NULL, &in, &e) != FL_OK) {
        FUZZ_ASSERT(size == 0);
        return;
    }
    json_t *j = fl_image_info_json(&in, size & 1);
    json_decref(j);
    uint8_t *l;
    size_t ll;
    uint32_t base;
    if (fl_image_code_logical(data, size, &in, &l, &ll, &base, &e) == FL_OK) {
        fl_code_plan plan;
        fl_code_plan_make(l, ll, base, &plan);
        fl_code_plan_apply(&plan, &in.code_key, l, ll, base);
        free(l);
    }
    fl_image_info_free(&in);
}

/* CRC16 blocks, the cipher and RBL headers, with their invariants. */
static inline void fuzz_crc_crypt(const uint8_t *data, size_t size)
{
    if (size < 16)
        return;
    fl_bk_key k;
    memcpy(k.coef, data, 16);
    uint32_t addr = (uint32_t)data[0] << 16 | (uint32_t)data[1] << 2;
    data += 16, size -= 16;

    fl_bk_crc_report r;
    fl_bk_crc_check(data, size, &r);
    FUZZ_ASSERT(r.blocks == size / 34 && r.good + r.erased + r.bad == r.blocks && r.tail == size % 34);
    uint8_t *st = malloc(fl_bk_crc_stripped_size(size) + 1);
    uint8_t *ad = malloc(fl_bk_crc_added_size(size) + 1);
    uint8_t *back = malloc(fl_bk_crc_stripped_size(fl_bk_crc_added_size(size)) + 1);
    uint8_t *cp = malloc(size + 1);
    if (st && ad && back && cp) {
        fl_bk_crc_strip(data, size, st, NULL);
        fl_bk_crc_add(data, size, ad);
        fl_bk_crc_check(ad, fl_bk_crc_added_size(size), &r);
        FUZZ_ASSERT(r.bad == 0);
        fl_bk_crc_strip(ad, fl_bk_crc_added_size(size), back, &r);
        FUZZ_ASSERT(memcmp(back, data, size) == 0);
        memcpy(cp, data, size);
        fl_bk_crypt(&k, addr, cp, size);
        fl_bk_crypt(&k, addr, cp, size);
        FUZZ_ASSERT(memcmp(cp, data, size) == 0);
        fl_code_plan plan;
        fl_code_plan_make(cp, size, addr & ~3u, &plan);
        fl_code_plan_apply(&plan, &k, cp, size, addr & ~3u);
        fl_code_plan_apply(&plan, &k, cp, size, addr & ~3u);
        FUZZ_ASSERT(memcmp(cp, data, size) == 0);
    }
    free(st);
    free(ad);
    free(back);
    free(cp);
    fl_rbl_header h;
    if (fl_rbl_parse(data, size, &h, NULL) == FL_OK)
        (void)fl_rbl_check_data(&h, data, size);
}

#endif
