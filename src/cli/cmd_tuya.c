/* flashline tuya — Tuya configuration from a flash dump (src/formats/tuya_extract.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "formats/obk_rules.h"
#include "formats/tuya_extract.h"
#include "formats/tuya_secrets.h"
#include "util/fileio.h"

/* Largest input accepted: 8 MiB flash (BK7258) with room to spare. */
#define MAX_INPUT (16u * 1024 * 1024)

static void usage(FILE *f)
{
    fprintf(f,
            "usage: flashline tuya extract DUMP [--json] [--show-secrets] [--obk] [--lv-aware]\n"
            "                                   [--key COEFS] [--no-app-search] [--pin-rules FILE]\n\n"
            "Finds the Tuya key-value store in DUMP wherever it is (full dump, dump read from\n"
            "0x11000 or rotated, config-only region such as the 72 KiB OBK web-app backup),\n"
            "decrypts it and prints the module, chip, MAC, the user_param_key fields and every\n"
            "other key.  Without a user_param_key in the store, the default compiled into the\n"
            "decrypted app is used and labelled \"firmware default\".\n\n"
            "Secrets (Wi-Fi SSID and password, auth/local/PSK keys, uuid, device id, tokens)\n"
            "are shown as %s and the MAC as its vendor part only, unless --show-secrets.\n\n"
            "Options:\n"
            "  --json           one JSON object on stdout (event \"tuya_config\")\n"
            "  --show-secrets   print secret values and the full MAC (they are real credentials)\n"
            "  --obk            add the OpenBeken pin roles/channels, startup commands, a\n"
            "                   console command and a template; unknown pin keys are warnings\n"
            "  --lv-aware       pin mapping that honours the *_lv active levels, maps ir,\n"
            "                   key_pin, mic and latching relays (unverified; implies --obk).\n"
            "                   Default: the BK7231GUIFlashTool rules, lv differences as warnings\n"
            "  --key COEFS      code key for the app search: tuya, zero, uascent or four hex\n"
            "                   words (default: detected from the bootloader)\n"
            "  --no-app-search  do not look for a compiled-in user_param_key in the app\n"
            "  --pin-rules FILE more Tuya key -> OpenBeken role rules, tried before the shipped\n"
            "                   db/obk-pin-rules.jsonl (same format: one JSON rule per line)\n\n"
            "Exit 0 on success, 3 when DUMP is unreadable, too large (over %u bytes), or holds\n"
            "no decodable Tuya store (the message says what was searched and why it failed).\n\n"
            "%s",
            FL_REDACTED, MAX_INPUT, cli_exit_codes_help);
}

static void print_list(const char *title, const fl_strlist *l)
{
    if (!l->n)
        return;
    printf("%s:\n", title);
    for (size_t i = 0; i < l->n; i++)
        printf("  - %s\n", l->items[i]);
}

static void print_value(const fl_tuya_kv_entry *e, bool show)
{
    json_t *v = fl_tuya_value_json(e->name, e->value, e->len, show);
    if (json_is_string(v)) {
        printf("%s", json_string_value(v));
    } else if (v) {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        printf("%s", s ? s : "?");
        free(s);
    }
    json_decref(v);
}

static void print_human(const fl_tuya_config *c, const char *path, bool show, bool obk)
{
    const fl_image_info *im = &c->image;
    const fl_tuya_kv *kv = &c->kv;
    printf("File:        %s (%zu bytes): %s\n", path, im->size, fl_image_kind_text(im->kind));
    printf("Chip:        %s", c->chip[0] ? c->chip : "unknown");
    if (im->chip_evidence[0] || c->chip_hint[0])
        printf(" (%s%s%s%s)", im->chip_evidence, im->chip_evidence[0] && c->chip_hint[0] ? "; " : "",
               c->chip_hint[0] ? "config says " : "", c->chip_hint);
    printf("\n");
    if (im->have_rf) {
        char mac[18];
        fl_format_mac(im->mac, show, mac);
        printf("MAC:         %s (RF calibration at 0x%06X)%s\n", mac, im->rf_offset,
               show ? "" : " [masked; --show-secrets shows it]");
    }
    printf("Module:      %s\n", c->module[0] ? c->module : "(none)");
    if (c->em_sys_env[0])
        printf("em_sys_env:  %s\n", c->em_sys_env);
    if (c->baud >= 0)
        printf("Baud:        %ld (TuyaMCU)\n", c->baud);
    printf("Tuya store:  key block at %s 0x%06zX, base string %s, %zu data sectors, %zu blocks%s%s\n",
           c->kv_flash_known ? "flash" : "file offset",
           c->kv_flash_known ? (size_t)c->kv_flash_offset : kv->key_block_offset, kv->base_string,
           kv->data_sectors, kv->live_blocks, kv->contiguous ? "" : " (not contiguous)",
           kv->protected_block ? "; protected (secrets-only) block present" : "");

    if (c->upk_source) {
        printf("\nuser_param_key (%s, %zu keys):\n",
               c->upk_source == FL_UPK_KV ? "from the KV store" : "firmware default compiled into the app",
               c->upk.n);
        for (size_t i = 0; i < c->upk.n; i++)
            printf("  %-16s %s\n", c->upk.pairs[i].key, c->upk.pairs[i].value);
    } else {
        printf("\nuser_param_key: none (not in the KV store%s)\n",
               c->image.have_app ? ", none compiled into the app" : "; no app in the file to search");
    }

    printf("\nKeys (%zu)%s:\n", kv->n, show ? "" : ", secrets redacted");
    for (size_t i = 0; i < kv->n; i++) {
        const fl_tuya_kv_entry *e = &kv->entries[i];
        printf("  %-16s %5zu B %s ", e->name, e->len, e->checksum_ok ? "  " : "!!");
        print_value(e, show);
        printf("\n");
    }

    if (obk) {
        const fl_obk_map *m = &c->obk;
        printf("\nOpenBeken pins (%s rules):\n", c->mode == FL_OBK_LV_AWARE ? "lv-aware" : "compat");
        if (!m->n_pins)
            printf("  (none)\n");
        for (int p = 0; p < FL_OBK_MAX_PINS; p++)
            if (m->pins[p].used)
                printf("  P%-3d %-14s channel %-2d (%s)\n", p, m->pins[p].role, m->pins[p].channel,
                       m->pins[p].key);
        if (m->commands.n) {
            printf("Startup command:\n");
            for (size_t i = 0; i < m->commands.n; i++)
                printf("  %s\n", m->commands.items[i]);
        }
        char *bl = fl_obk_map_backlog(m);
        if (bl)
            printf("Console:     %s\n", bl);
        free(bl);
        json_t *t = fl_tuya_obk_template(c);
        char *ts = t ? json_dumps(t, JSON_COMPACT) : NULL;
        if (ts)
            printf("Template:    %s\n", ts);
        free(ts);
        json_decref(t);
        print_list("Pin warnings", &m->warnings);
        print_list("Hints", &m->hints);
    }
    fl_strlist all = {0};
    for (size_t i = 0; i < c->warnings.n; i++)
        fl_strlist_addf(&all, "%s", c->warnings.items[i]);
    for (size_t i = 0; i < kv->warnings.n; i++)
        fl_strlist_addf(&all, "%s", kv->warnings.items[i]);
    for (size_t i = 0; i < im->notes.n; i++)
        fl_strlist_addf(&all, "%s", im->notes.items[i]);
    if (all.n)
        printf("\n");
    print_list("Warnings", &all);
    fl_strlist_free(&all);
}

static int extract(int argc, char **argv)
{
    bool json = false, show = false, obk = false, lv = false, no_app = false, help = false;
    const char *key = NULL, *rules_path = NULL;
    const cli_opt opts[] = {
        {"pin-rules", OPT_STRING, &rules_path, NULL},
        {"json", OPT_FLAG, NULL, &json},
        {"show-secrets", OPT_FLAG, NULL, &show},
        {"obk", OPT_FLAG, NULL, &obk},
        {"lv-aware", OPT_FLAG, NULL, &lv},
        {"no-app-search", OPT_FLAG, NULL, &no_app},
        {"key", OPT_STRING, &key, NULL},
        {0},
    };
    const char *pos[1];
    int npos;
    int rc = cli_parse("tuya extract", argc, argv, opts, pos, 1, &npos, &help);
    if (rc)
        return rc;
    if (help) {
        usage(stdout);
        return EXIT_OK;
    }
    if (npos != 1)
        return cli_usage_error("tuya extract", "expected one DUMP file (see --help)");
    fl_tuya_extract_opts o = {0};
    o.mode = lv ? FL_OBK_LV_AWARE : FL_OBK_COMPAT;
    o.no_app_search = no_app;
    if (key) {
        if (!fl_bk_key_parse(key, &o.key))
            return cli_usage_error("tuya extract",
                                   "--key '%s' is not tuya, zero, uascent or four hex words", key);
        o.have_key = true;
    }
    obk = obk || lv;

    cli_output out;
    cli_output_init(&out, json, NULL);
    fl_error err = {0};
    uint8_t *data = NULL;
    size_t len = 0;
    fl_status st = fl_read_file(pos[0], &data, &len, MAX_INPUT, &err);
    if (st == FL_OK && len == 0)
        st = fl_fail(&err, FL_ERR_FORMAT, "%s is empty", pos[0]);
    fl_tuya_config c;
    fl_obk_rules *rules = NULL;
    if (st == FL_OK && rules_path && !(st = fl_obk_rules_new(&rules, &err)))
        st = fl_obk_rules_add_file(rules, rules_path, &err);
    o.rules = rules;
    if (st == FL_OK) {
        st = fl_tuya_extract(data, len, pos[0], &o, &c, &err);
        if (st != FL_OK)
            fl_fail_prefix(&err, "%s", pos[0]);
    }
    free(data);
    fl_obk_rules_free(rules); /* the map holds static role names, not the rules' */
    if (st != FL_OK)
        return cli_report_error(&out, "tuya extract", &err);

    if (json) {
        json_t *j = fl_tuya_config_json(&c, (show ? FL_TUYA_JSON_SECRETS : 0) | (obk ? FL_TUYA_JSON_OBK : 0));
        json_t *line = json_object();
        json_object_set_new(line, "event", json_string("tuya_config"));
        json_object_set_new(line, "path", cli_json_text(pos[0]));
        json_object_update(line, j);
        cli_json_print(line);
        json_decref(j);
    } else {
        print_human(&c, pos[0], show, obk);
    }
    fl_tuya_config_free(&c);
    return EXIT_OK;
}

int cmd_tuya(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (!strcmp(argv[1], "extract"))
        return extract(argc - 1, argv + 1);
    return cli_usage_error("tuya", "unknown action '%s' (only 'extract'; see 'flashline tuya --help')",
                           argv[1]);
}
