/* OBK pin rules as data (issue 12 point 4): the shipped file loads and is
 * the built-in copy, an override file adds and replaces rules, bad rule
 * files fail with file and line and add nothing. */
#include <stdio.h>

#include "formats/obk_rules.h"
#include "formats/tuya_extract.h"
#include "testlib.h"

#define RULES_FILE "db/obk-pin-rules.jsonl"

static char tmpdir[] = "/tmp/flashline-rules.XXXXXX";

static const char *write_tmp(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return path;
}

static void test_shipped_file_is_builtin(void)
{
    fl_error e = {0};
    const fl_obk_rules *b = fl_obk_rules_builtin(&e);
    CHECK(b != NULL, "built-in rules: %s", e.msg);
    /* the shipped file, loaded from disk, has as many rules as the built-in copy */
    size_t lines = 0;
    char buf[512];
    FILE *f = fopen(RULES_FILE, "r");
    CHECK(f != NULL, "cannot open %s", RULES_FILE);
    while (f && fgets(buf, sizeof buf, f))
        lines += buf[0] == '{';
    if (f)
        fclose(f);
    fl_obk_rules *r = NULL;
    CHECK(fl_obk_rules_new(&r, &e) == FL_OK, "%s", e.msg);
    size_t base = fl_obk_rules_count(r);
    CHECK(base == lines && lines > 40, "built in %zu rules, the file has %zu", base, lines);
    CHECK(fl_obk_rules_add_file(r, RULES_FILE, &e) == FL_OK, "%s", e.msg);
    CHECK_EQ_UINT(fl_obk_rules_count(r), 2 * base);
    fl_obk_rules_free(r);
}

static void test_matching(void)
{
    const fl_obk_rules *b = fl_obk_rules_builtin(NULL);
    fl_obk_action a = fl_obk_rules_match(b, "led3_pin", -1, false);
    CHECK(a.kind == FL_OBK_ACT_ROLE && a.role == 5 && a.channel == 3, "led3_pin: %d %d %d", a.kind, a.role, a.channel);
    a = fl_obk_rules_match(b, "led3_pin", 0, true);
    CHECK(a.role == 6, "led3_pin lv 0 lv-aware: LED_n, got %d", a.role);
    a = fl_obk_rules_match(b, "led3_pin", 0, false);
    CHECK(a.role == 5, "compat ignores _lv");
    a = fl_obk_rules_match(b, "rl_on2_pin", -1, true);
    CHECK(a.role == 54 && a.channel == 2, "rl_on2_pin lv-aware: BridgeFWD;2, got %d;%d", a.role, a.channel);
    a = fl_obk_rules_match(b, "firstpin_pin", -1, true);
    CHECK(a.kind == FL_OBK_ACT_ROLE && a.role == 7 && a.channel == 1, "firstpin_pin lv-aware: PWM;1");
    a = fl_obk_rules_match(b, "firstpin_pin", -1, false);
    CHECK(a.kind == FL_OBK_ACT_DESCRIBE, "firstpin_pin compat: described");
    CHECK(fl_obk_rules_match(b, "pwmhz", -1, false).kind == FL_OBK_ACT_COMMAND, "pwmhz");
    CHECK(fl_obk_rules_match(b, "weird_pin", -1, false).kind == FL_OBK_ACT_UNKNOWN, "weird_pin");
    CHECK(fl_obk_rules_match(b, "led1_lv", -1, false).kind == FL_OBK_ACT_IGNORE, "led1_lv");
    CHECK(fl_obk_rules_match(b, "module", -1, false).kind == FL_OBK_ACT_NONE, "module");
    CHECK(fl_obk_rules_match(b, "ledx_pin", -1, false).kind == FL_OBK_ACT_UNKNOWN, "ledx_pin: # is digits only");
}

/* An override file changes what a real dump maps to. */
static void test_override_applied(void)
{
    size_t len;
    uint8_t *data = tl_load(SHARED_DIR "/testdata/tuya-dumps/04-BK7231T-TuyaConfig-PC44HA.bin", &len);
    if (!data)
        return;
    fl_tuya_config c;
    fl_error e = {0};
    CHECK(fl_tuya_extract(data, len, "04", NULL, &c, &e) == FL_OK, "%s", e.msg);
    CHECK(c.obk.pins[26].used && !strcmp(c.obk.pins[26].role, "Rel") && c.obk.pins[26].channel == 1,
          "dump 04 P26 is Rel;1 by the shipped rules");
    const char *key = c.obk.pins[26].key[0] ? c.obk.pins[26].key : "rl1_pin";
    char text[512];
    snprintf(text, sizeof text,
             "# station override: this product's relay is driven inverted\n"
             "\n{\"key\": \"%s\", \"role\": \"Rel_n\", \"channel\": 5}\n"
             "{\"key\": \"custom_pin\", \"role\": \"Btn\", \"channel\": 2}\n",
             key);
    fl_tuya_config_free(&c);
    fl_obk_rules *r = NULL;
    CHECK(fl_obk_rules_new(&r, &e) == FL_OK, "%s", e.msg);
    CHECK(fl_obk_rules_add_file(r, write_tmp("station.jsonl", text), &e) == FL_OK, "%s", e.msg);
    fl_tuya_extract_opts o = {.rules = r};
    CHECK(fl_tuya_extract(data, len, "04", &o, &c, &e) == FL_OK, "%s", e.msg);
    CHECK(c.obk.pins[26].used && !strcmp(c.obk.pins[26].role, "Rel_n") && c.obk.pins[26].channel == 5,
          "override: P26 = %s;%d", c.obk.pins[26].role, c.obk.pins[26].channel);
    CHECK(c.obk.pins[6].used && !strcmp(c.obk.pins[6].role, "WifiLED_n"), "other pins keep the shipped rules");
    fl_tuya_config_free(&c);
    free(data);
    /* an added rule for a key the shipped rules call unknown */
    fl_obk_action a = fl_obk_rules_match(r, "custom_pin", -1, false);
    CHECK(a.kind == FL_OBK_ACT_ROLE && a.role == 3 && a.channel == 2, "custom_pin: Btn;2");
    fl_obk_rules_free(r);
}

static void bad(const char *text, const char *want)
{
    fl_obk_rules *r = NULL;
    fl_error e = {0};
    if (fl_obk_rules_new(&r, &e) != FL_OK)
        return;
    size_t before = fl_obk_rules_count(r);
    const char *path = write_tmp("bad.jsonl", text);
    CHECK(fl_obk_rules_add_file(r, path, &e) == FL_ERR_FORMAT, "accepted: %s", text);
    char prefix[300];
    snprintf(prefix, sizeof prefix, "%s:", path);
    CHECK(!strncmp(e.msg, prefix, strlen(prefix)) && strstr(e.msg, want), "message '%s' lacks '%s'", e.msg, want);
    CHECK(fl_obk_rules_count(r) == before, "rules were added from a bad file");
    fl_obk_rules_free(r);
}

static void test_bad_files(void)
{
    const char *ok = "{\"key\": \"a_pin\", \"role\": \"Rel\"}\n";
    char text[256];
    snprintf(text, sizeof text, "# c\n%s{\"key\": \"b_pin\", \"role\": \"Rel\"\n", ok);
    bad(text, ":3: not a JSON object");
    snprintf(text, sizeof text, "%s%s{\"key\": \"c_pin\", \"role\": \"Lamp\"}\n", ok, ok);
    bad(text, ":3: role: 'Lamp' is not an OpenBeken role");
    bad("{\"key\": \"a\", \"role\": \"Rel\", \"colour\": 1}", ":1: unknown member \"colour\"");
    bad("{\"key\": \"a\", \"role\": \"Rel\", \"describe\": \"x\"}", ":1: a rule needs exactly one of");
    bad("{\"key\": \"a\", \"role\": \"Rel\", \"channel\": \"#\"}", ":1: channel \"#\": key 'a' has no '#'");
    bad("{\"key\": \"a#\", \"role\": \"Rel\", \"channel\": 64}", ":1: channel: a number 0..63");
    bad("{\"key\": \"a\", \"role\": \"Rel\", \"lv\": {\"2\": \"Rel_n\"}}", ":1: lv: level '2' is not 0 or 1");
    bad("{\"key\": [], \"role\": \"Rel\"}", ":1: key: an empty list");
    bad("{\"key\": \"a#b#\", \"role\": \"Rel\"}", ":1: key:");
    bad("{\"role\": \"Rel\"}", ":1: a rule needs \"key\"");
    bad("{\"key\": \"a\", \"ignore\": false}", ":1: ignore: only true");
    bad("{\"key\": \"a\", \"describe\": \"x\", \"lv_aware\": \"PWM;99\"}", ":1: lv_aware: channel '99'");
    bad("[1, 2]", ":1: a rule is a JSON object");
    fl_obk_rules *r = NULL;
    fl_error e = {0};
    if (fl_obk_rules_new(&r, &e) == FL_OK) {
        CHECK(fl_obk_rules_add_file(r, "/nonexistent/rules.jsonl", &e) == FL_ERR_FILE, "missing file");
        CHECK(strstr(e.msg, "/nonexistent/rules.jsonl") != NULL, "names the file: %s", e.msg);
        fl_obk_rules_free(r);
    }
}

int main(void)
{
    if (!mkdtemp(tmpdir))
        return 2;
    RUN(test_shipped_file_is_builtin);
    RUN(test_matching);
    RUN(test_override_applied);
    RUN(test_bad_files);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd)) { /* best effort */
    }
    return testlib_finish();
}
