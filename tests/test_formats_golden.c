/* Golden test: reads ../shared/spec/tuya-config-golden.json itself and, for
 * every dump listed there, checks what flashline extracts against it: file
 * identity (SHA-256), layout (rotation, chip, RF block, RBL headers), the KV
 * store (key-block offset, data sectors, base string, key names), the
 * user_param_key values and source, the OBK pins and startup commands under
 * the C# rules and the lv-aware proposal.
 *
 * It also proves the redaction: every secret value of every dump must be
 * absent from the default (redacted) JSON.  Secret values are compared in
 * memory and never printed; failure messages name keys and fields only. */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdint.h>

#include "formats/image_id.h"
#include "formats/tuya_extract.h"
#include "formats/tuya_secrets.h"
#include "testlib.h"
#include "util/fileio.h"

#define GOLDEN SHARED_DIR "/spec/tuya-config-golden.json"

static json_t *golden;

static void sha256_hex(const uint8_t *d, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned int ml = 0;
    EVP_Digest(d, n, md, &ml, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static unsigned long hexnum(const char *s)
{
    return s ? strtoul(s, NULL, 16) : 0xFFFFFFFFul;
}

/* Value of a golden UPK entry as the text flashline keeps. */
static bool golden_value(json_t *v, char *buf, size_t cap, bool *is_int)
{
    *is_int = json_is_integer(v);
    if (json_is_integer(v))
        snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
    else if (json_is_string(v))
        snprintf(buf, cap, "%s", json_string_value(v));
    else
        return false;
    return true;
}

static void check_pins(const char *id, const char *what, json_t *want, const fl_obk_map *m)
{
    size_t n = json_is_object(want) ? json_object_size(want) : 0;
    CHECK(m->n_pins == n, "%s %s: %zu pins, golden %zu", id, what, m->n_pins, n);
    const char *pin;
    json_t *v;
    json_object_foreach(want, pin, v) {
        int p = atoi(pin);
        char got[64] = "(none)";
        if (p >= 0 && p < FL_OBK_MAX_PINS && m->pins[p].used)
            snprintf(got, sizeof got, "%s;%d", m->pins[p].role, m->pins[p].channel);
        CHECK(!strcmp(got, json_string_value(v)), "%s %s: P%s = %s, golden %s", id, what, pin, got,
              json_string_value(v));
    }
}

static void check_rbl(const char *id, const fl_image_info *in, json_t *want)
{
    const char *name;
    json_t *w;
    json_object_foreach(want, name, w) {
        const fl_image_rbl *r = NULL;
        for (size_t i = 0; i < in->n_rbl; i++)
            if (in->rbl[i].in_flash && !strcmp(in->rbl[i].h.name, name))
                r = &in->rbl[i];
        CHECK(r != NULL, "%s: no %s RBL header", id, name);
        if (!r)
            continue;
        CHECK_STR(r->h.version, json_string_value(json_object_get(w, "version")));
        CHECK_EQ_UINT(r->h.algo, json_integer_value(json_object_get(w, "algo")));
        CHECK_EQ_UINT(r->h.size_raw, json_integer_value(json_object_get(w, "size_raw")));
        CHECK_EQ_UINT(r->h.size_package, json_integer_value(json_object_get(w, "size_pkg")));
        CHECK_EQ_UINT(r->h.timestamp, json_integer_value(json_object_get(w, "ts")));
        CHECK_EQ_UINT(r->h.data_crc, json_integer_value(json_object_get(w, "data_crc")));
        CHECK(r->h.hdr_crc_ok == json_is_true(json_object_get(w, "hdr_crc_ok")), "%s %s: header CRC", id, name);
        CHECK(r->data_available && r->data != FL_RBL_CRC_BAD, "%s %s: package CRC does not hold", id, name);
    }
}

static void check_dump(json_t *g)
{
    const char *id = json_string_value(json_object_get(g, "id"));
    char path[600];
    snprintf(path, sizeof path, "%s/%s", SHARED_DIR, json_string_value(json_object_get(g, "path")));
    size_t len;
    uint8_t *data = tl_load(path, &len);
    if (!data)
        return;
    char sha[65];
    sha256_hex(data, len, sha);
    CHECK_STR(sha, json_string_value(json_object_get(g, "sha256")));
    CHECK_EQ_UINT(len, json_integer_value(json_object_get(g, "size")));

    fl_tuya_config c;
    fl_error e = {0};
    fl_status st = fl_tuya_extract(data, len, path, NULL, &c, &e);
    CHECK(st == FL_OK, "%s: extraction failed: %s", id, e.msg);
    if (st != FL_OK) {
        free(data);
        return;
    }
    /* Layout. */
    bool rotated = json_is_true(json_object_get(g, "rotated_by_0x11000"));
    CHECK(c.image.rotated == rotated, "%s: rotated %d, golden %d", id, c.image.rotated, rotated);
    fl_image_kind want_kind = len < 0x200000 ? FL_IMAGE_TUYA_CONFIG
                              : rotated      ? FL_IMAGE_ROTATED_DUMP
                                             : FL_IMAGE_FULL_DUMP;
    CHECK(c.image.kind == want_kind, "%s: kind %s", id, fl_image_kind_name(c.image.kind));
    CHECK_STR(c.chip, json_string_value(json_object_get(g, "chip")));
    json_t *rf = json_object_get(g, "rf_tlv_flash_offset");
    if (json_is_string(rf))
        CHECK(c.image.have_rf && c.image.rf_offset == hexnum(json_string_value(rf)), "%s: RF at 0x%X", id,
              c.image.rf_offset);
    else
        CHECK(!c.image.have_rf, "%s: unexpected RF block", id);
    json_t *rbl = json_object_get(g, "rbl_headers_in_flash");
    if (json_is_object(rbl))
        check_rbl(id, &c.image, rbl);

    /* Store. */
    unsigned long kb = hexnum(json_string_value(json_object_get(g, "kv_key_block_flash_offset")));
    unsigned long got_kb = c.kv_flash_known ? c.kv_flash_offset : c.kv.key_block_offset;
    CHECK(got_kb == kb, "%s: key block at 0x%lX, golden 0x%lX", id, got_kb, kb);
    CHECK_EQ_UINT(c.kv.data_sectors, json_integer_value(json_object_get(g, "kv_data_sectors")));
    CHECK_STR(c.kv.base_string, json_string_value(json_object_get(g, "kv_base_string")));
    json_t *keys = json_object_get(g, "kv_keys_full_scan");
    CHECK(c.kv.n == json_array_size(keys), "%s: %zu keys, golden %zu", id, c.kv.n, json_array_size(keys));
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k) {
        const fl_tuya_kv_entry *en = fl_tuya_kv_find(&c.kv, json_string_value(k));
        CHECK(en != NULL, "%s: key %s missing", id, json_string_value(k));
        if (en)
            CHECK(en->checksum_ok && en->complete, "%s: key %s checksum", id, en->name);
    }
    /* bk7231tools' 32 KiB window is a subset of the full scan. */
    json_array_foreach(json_object_get(json_object_get(g, "bk7231tools"), "keys"), i, k)
        CHECK(fl_tuya_kv_find(&c.kv, json_string_value(k)) != NULL, "%s: bk7231tools key %s missing", id,
              json_string_value(k));

    json_t *env = json_object_get(g, "em_sys_env");
    if (json_is_string(env))
        CHECK_STR(c.em_sys_env, json_string_value(env));
    else
        CHECK(c.em_sys_env[0] == '\0', "%s: em_sys_env '%s' not in golden", id, c.em_sys_env);
    json_t *baud = json_object_get(g, "baud_cfg");
    if (json_is_string(baud)) {
        const fl_tuya_kv_entry *be = fl_tuya_kv_find(&c.kv, "baud_cfg");
        CHECK(be && !strcmp((const char *)be->value, json_string_value(baud)), "%s: baud_cfg value", id);
        CHECK(c.baud == 9600, "%s: baud %ld", id, c.baud);
    }

    /* user_param_key. */
    json_t *src = json_object_get(g, "user_param_key_source");
    const char *want_src = json_is_string(src) ? json_string_value(src) : NULL;
    const char *got_src = fl_upk_source_name(c.upk_source);
    CHECK((!want_src && !got_src) || (want_src && got_src && !strcmp(want_src, got_src)), "%s: UPK source %s, golden %s",
          id, got_src ? got_src : "none", want_src ? want_src : "none");
    json_t *upk = json_object_get(g, "user_param_key");
    CHECK(c.upk.n == (json_is_object(upk) ? json_object_size(upk) : 0), "%s: %zu UPK keys, golden %zu", id, c.upk.n,
          json_is_object(upk) ? json_object_size(upk) : 0);
    const char *uk;
    json_t *uv;
    json_object_foreach(upk, uk, uv) {
        char want[256];
        bool is_int;
        CHECK(golden_value(uv, want, sizeof want, &is_int), "%s: golden UPK %s has an odd type", id, uk);
        const char *got = fl_upk_get(&c.upk, uk);
        CHECK(got && !strcmp(got, want), "%s: UPK %s = %s, golden %s", id, uk, got ? got : "(missing)", want);
        if (got)
            CHECK(fl_upk_value_is_int(got) == is_int, "%s: UPK %s typed %s, golden %s", id, uk,
                  fl_upk_value_is_int(got) ? "int" : "string", is_int ? "int" : "string");
    }
    json_t *mod = json_object_get(upk, "module");
    if (json_is_string(mod))
        CHECK_STR(c.module, json_string_value(mod));

    /* OBK pins, compat (C# rules) and lv-aware. */
    check_pins(id, "C# rules", json_object_get(g, "expected_obk_pins_csharp_rules"), &c.obk);
    json_t *cmds = json_object_get(g, "expected_init_commands_csharp_rules");
    CHECK(c.obk.commands.n == json_array_size(cmds), "%s: %zu startup commands, golden %zu", id, c.obk.commands.n,
          json_array_size(cmds));
    json_array_foreach(cmds, i, k) if (i < c.obk.commands.n)
        CHECK_STR(c.obk.commands.items[i], json_string_value(k));
    if (!json_is_object(json_object_get(g, "expected_obk_pins_csharp_rules")))
        CHECK(fl_strlist_contains(&c.obk.hints, "no pins found: TuyaMCU or a custom device"), "%s: no-pins hint", id);
    fl_tuya_config_free(&c);

    fl_tuya_extract_opts lv = {.mode = FL_OBK_LV_AWARE};
    CHECK(fl_tuya_extract(data, len, path, &lv, &c, &e) == FL_OK, "%s: lv-aware extraction: %s", id, e.msg);
    check_pins(id, "lv-aware", json_object_get(g, "proposed_lv_aware_pins"), &c.obk);
    fl_tuya_config_free(&c);
    free(data);
}

static void test_golden(void)
{
    json_t *dumps = json_object_get(golden, "dumps");
    CHECK(json_array_size(dumps) == 24, "golden lists %zu dumps", json_array_size(dumps));
    size_t i;
    json_t *g;
    json_array_foreach(dumps, i, g) check_dump(g);
}

/* --- redaction -------------------------------------------------------------------------- */

static bool contains(const char *hay, const char *needle)
{
    return strstr(hay, needle) != NULL;
}

/* Is `s` also the value of a field that is shown (e.g. a version string
 * repeated in a public field)?  Then finding it is not a leak. */
static bool public_value(json_t *shown, const char *s)
{
    json_t *keys = json_object_get(shown, "keys"), *k;
    size_t i;
    json_array_foreach(keys, i, k) {
        const char *name = json_string_value(json_object_get(k, "name"));
        json_t *v = json_object_get(k, "value");
        if (json_is_object(v)) {
            const char *f;
            json_t *fv;
            json_object_foreach(v, f, fv) if (fl_tuya_field_class(name, f) == FL_CLASS_PUBLIC &&
                                              json_is_string(fv) && !strcmp(json_string_value(fv), s)) return true;
        }
    }
    return false;
}

/* Every secret string of the shown JSON (by the classes of tuya_secrets.h)
 * must be absent from the redacted JSON text. */
static void check_redaction(const char *id, json_t *shown, const char *redacted_text, size_t *count)
{
    json_t *keys = json_object_get(shown, "keys"), *k;
    size_t i;
    json_array_foreach(keys, i, k) {
        const char *name = json_string_value(json_object_get(k, "name"));
        json_t *v = json_object_get(k, "value");
        fl_secret_class kc = fl_tuya_key_class(name);
        if (kc == FL_CLASS_PUBLIC)
            continue;
        if (json_is_object(v)) {
            const char *f;
            json_t *fv;
            json_object_foreach(v, f, fv) {
                fl_secret_class fc = fl_tuya_field_class(name, f);
                if (fc == FL_CLASS_PUBLIC || fc == FL_CLASS_LOW)
                    continue;
                char num[32];
                const char *s = json_is_string(fv) ? json_string_value(fv) : NULL;
                if (json_is_integer(fv)) {
                    snprintf(num, sizeof num, "%lld", (long long)json_integer_value(fv));
                    s = num;
                }
                if (!s || strlen(s) < 6 || public_value(shown, s))
                    continue; /* too short to search for, or legitimately shown elsewhere */
                /* Identifiers keep their vendor part only: the full value must go too. */
                CHECK(!contains(redacted_text, s), "%s: %s.%s leaks in redacted output", id, name, f);
                (*count)++;
            }
        } else if (json_is_string(v) && strlen(json_string_value(v)) >= 6) {
            CHECK(!contains(redacted_text, json_string_value(v)), "%s: %s leaks in redacted output", id, name);
            (*count)++;
        }
    }
    json_t *file = json_object_get(shown, "file");
    const char *mac = json_string_value(json_object_get(file, "mac"));
    if (mac) {
        CHECK(!contains(redacted_text, mac), "%s: the full MAC leaks in redacted output", id);
        (*count)++;
    }
}

static void test_redaction(void)
{
    json_t *dumps = json_object_get(golden, "dumps"), *g;
    size_t i, secrets = 0;
    json_array_foreach(dumps, i, g) {
        const char *id = json_string_value(json_object_get(g, "id"));
        char path[600];
        snprintf(path, sizeof path, "%s/%s", SHARED_DIR, json_string_value(json_object_get(g, "path")));
        size_t len;
        uint8_t *data = tl_load(path, &len);
        if (!data)
            continue;
        fl_tuya_config c;
        fl_error e;
        if (fl_tuya_extract(data, len, path, NULL, &c, &e) != FL_OK) {
            CHECK(0, "%s: %s", id, e.msg);
            free(data);
            continue;
        }
        json_t *shown = fl_tuya_config_json(&c, FL_TUYA_JSON_SECRETS | FL_TUYA_JSON_OBK);
        json_t *red = fl_tuya_config_json(&c, FL_TUYA_JSON_OBK);
        char *rt = json_dumps(red, JSON_COMPACT);
        CHECK(rt && contains(rt, "\"" FL_REDACTED "\""), "%s: nothing redacted", id);
        CHECK(json_is_false(json_object_get(red, "secrets_shown")), "%s: secrets_shown flag", id);
        if (rt)
            check_redaction(id, shown, rt, &secrets);
        /* The raw KV values of gw_* records never appear verbatim either. */
        for (size_t j = 0; rt && j < c.kv.n; j++)
            if (!strncmp(c.kv.entries[j].name, "gw_", 3) && c.kv.entries[j].len >= 16)
                CHECK(!contains(rt, (const char *)c.kv.entries[j].value), "%s: raw %s leaks", id,
                      c.kv.entries[j].name);
        free(rt);
        json_decref(shown);
        json_decref(red);
        fl_tuya_config_free(&c);
        free(data);
    }
    CHECK(secrets > 24 * 5, "only %zu secret values were checked", secrets);
}

int main(void)
{
    json_error_t je;
    golden = json_load_file(GOLDEN, 0, &je);
    if (!golden) {
        fprintf(stderr, "cannot load %s: %s (line %d)\n", GOLDEN, je.text, je.line);
        printf("RESULT passed=0 failed=1\n");
        return 1;
    }
    RUN(test_golden);
    RUN(test_redaction);
    json_decref(golden);
    return testlib_finish();
}
