/* flashline obk-config — show or write the OpenBeken config block
 * (src/formats/obk_config.h) on a unit or in a dump file. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/flash_cli.h"
#include "formats/obk_config.h"
#include "formats/obk_rules.h"
#include "formats/tuya_extract.h"
#include "util/fileio.h"

#define MAX_DUMP (16u * 1024 * 1024)

static void usage(void)
{
    printf("usage: flashline obk-config show (--port URL [--chip CHIP] | DUMP [--chip CHIP] [--offset A])\n"
           "                                [--json] [--show-secrets]\n"
           "       flashline obk-config write --port URL [--chip CHIP] [--wifi-ssid S] [--wifi-pass P]\n"
           "                                [--mqtt-host H] [--mqtt-port N] [--mqtt-user U] [--mqtt-pass P]\n"
           "                                [--mqtt-topic T] [--name NAME] [--flag NAME=0|1]...\n"
           "                                [--pins-from-tuya DUMP [--pin-rules FILE] | --pin N=ROLE[,CHANNEL]...]\n"
           "                                [--from-file FILE.json] [--replace-invalid] [--json]\n\n"
           "The OpenBeken configuration (Wi-Fi, MQTT, device name, flags, pin roles) sits in one\n"
           "4 KiB sector: 0x1E1000 on BK7231T/U, BK7238, BK7252, BK7252N; 0x1D1000 on BK7231N/M.\n"
           "BK7252 and BK7252N use the firmware's 48-pin layout, the others 32 pins.\n\n"
           "show reads that sector from the unit, or from DUMP (a full flash dump, or the\n"
           "sector alone; without --chip both offsets are tried, N first, and the 32-pin\n"
           "layout is assumed).  A block with a wrong CRC is shown with a warning and exit 3;\n"
           "an erased sector, a wrong ident or an unknown version is reported as such.\n\n"
           "write starts from the unit's valid config (an erased sector: the firmware's\n"
           "defaults, with the unit's MAC), applies the settings, writes version 5 with the\n"
           "signed CRC the Beken firmware checks, erases only the config sector (never the RF\n"
           "calibration below it) and reads the block back to verify it.  A config that is\n"
           "present but invalid is not overwritten unless --replace-invalid.\n\n"
           "Passwords (Wi-Fi, MQTT, web) are printed as <redacted> unless --show-secrets;\n"
           "credentials_sha256 identifies the credentials a unit got without holding them.\n\n"
           "Options:\n"
           "  --offset A             show DUMP: where the block starts in the file\n"
           "  --wifi-ssid S          Wi-Fi network\n"
           "  --wifi-pass P          Wi-Fi password\n"
           "  --mqtt-host H          MQTT broker\n"
           "  --mqtt-port N          MQTT port (default 1883)\n"
           "  --mqtt-user U          MQTT user\n"
           "  --mqtt-pass P          MQTT password\n"
           "  --mqtt-topic T         MQTT topic (the client ID; default: the name)\n"
           "  --name NAME            device name (short and long name)\n"
           "  --flag NAME=0|1        set a flag (OBK_FLAG_ name without the prefix, or its number)\n"
           "  --pin N=ROLE[,CH]      pin role and channel (role names as the OpenBeken web page)\n"
           "  --pins-from-tuya DUMP  the pins (and startup commands) from a Tuya dump\n"
           "  --pin-rules FILE       more Tuya key rules for --pins-from-tuya, tried before the\n"
           "                         shipped db/obk-pin-rules.jsonl\n"
           "  --from-file FILE.json  settings as a JSON object (keys: %s,\n"
           "                         flags {NAME: bool}, pins {\"N\": \"ROLE,CH\"}); options win\n"
           "  --replace-invalid      write over a config with a bad CRC, ident or version\n"
           "  --show-secrets         print passwords\n"
           "%s\n%s",
           fl_obk_config_keys(), flash_cli_common_help(), cli_exit_codes_help);
}

typedef struct obk_opts {
    const char *wifi_ssid, *wifi_pass, *mqtt_host, *mqtt_port, *mqtt_user, *mqtt_pass, *mqtt_topic, *name;
    const char *pins_from_tuya, *pin_rules, *from_file;
    cli_list flags, pins;
    bool show_secrets, replace_invalid;
} obk_opts;

/* --- printing ------------------------------------------------------------------------ */

static void print_config(const fl_obk_config *c, bool secrets)
{
    json_t *j = fl_obk_config_json(c, secrets);
    const char *order[] = {"short_name", "long_name", "wifi_ssid", "wifi_pass", "mqtt_host", "mqtt_port",
                           "mqtt_user", "mqtt_pass", "mqtt_topic", "mqtt_group", "webapp_root", "ntp_server",
                           "init_command", "wifi_ssid2", "wifi_pass2", "web_password", "mac", "change_counter",
                           "credentials_sha256"};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        json_t *v = json_object_get(j, order[i]);
        if (json_is_string(v))
            printf("  %-19s %s\n", order[i], json_string_value(v));
        else if (json_is_integer(v))
            printf("  %-19s %lld\n", order[i], (long long)json_integer_value(v));
    }
    json_t *f;
    size_t i;
    printf("  %-19s", "flags");
    json_array_foreach(json_object_get(j, "flags"), i, f) printf(" %s", json_string_value(f));
    printf("\n  pins:\n");
    const char *pin;
    json_t *pv;
    json_object_foreach(json_object_get(j, "pins"), pin, pv) printf("    P%-3s %s\n", pin, json_string_value(pv));
    json_decref(j);
}

static int report_show(cli_output *out, const char *where, uint32_t offset, const fl_chip *chip, int pins,
                       const fl_obk_config *c, const fl_obk_header *h, bool secrets, fl_error *err)
{
    if (out->json) {
        json_t *o = json_pack("{s:s, s:I, s:s?, s:i, s:s, s:o}", "source", where, "offset", (json_int_t)offset,
                              "chip", chip ? chip->name : NULL, "pin_layout", pins, "check",
                              fl_obk_check_name(h->check), "config", fl_obk_config_json(c, secrets));
        cli_json_event(out, "obk_config", o);
    } else {
        printf("OBK config at 0x%06X of %s (%s%s%d-pin layout): version %d, CRC 0x%02X %s\n", offset, where,
               chip ? chip->display : "", chip ? ", " : "", pins, (int)h->version, h->crc_stored,
               h->check == FL_OBK_VALID ? "ok" : "WRONG");
        print_config(c, secrets);
    }
    if (h->check == FL_OBK_BAD_CRC) /* shown, but never passed as good */
        return cli_report_error(out, "obk-config show", err);
    return EXIT_OK;
}

/* --- show ----------------------------------------------------------------------------- */

static int show_dump(const char *path, const char *chip_name, const char *offset_text, bool json, bool secrets)
{
    cli_output out;
    cli_output_init(&out, json, NULL);
    const fl_chip *chip = NULL;
    if (chip_name && (!(chip = fl_chip_find(chip_name)) || !chip->obk_config_offset))
        return cli_usage_error("obk-config show", "--chip %s: no OBK config location known (chips: %s)", chip_name,
                               fl_chip_names());
    uint32_t fixed = 0;
    if (offset_text && flash_cli_number("obk-config show", "offset", offset_text, &fixed))
        return EXIT_USAGE;
    fl_error err = {0};
    uint8_t *data = NULL;
    size_t len = 0;
    if (fl_read_file(path, &data, &len, MAX_DUMP, &err))
        return cli_report_error(&out, "obk-config show", &err);
    /* where to look: --offset; the sector alone; the chip's offset; else N, then T (as the GUI tool) */
    uint32_t cands[2] = {0x1D1000, 0x1E1000};
    size_t ncand = 2;
    if (offset_text || len <= FL_OBK_CFG_SECTOR)
        cands[0] = offset_text ? fixed : 0, ncand = 1;
    else if (chip)
        cands[0] = chip->obk_config_offset, ncand = 1;
    int pins = chip ? chip->obk_pin_count : 32;
    fl_obk_header h = {0};
    static fl_obk_config c;
    fl_status st = FL_ERR_FORMAT;
    uint32_t at = cands[0];
    for (size_t i = 0; i < ncand; i++) {
        fl_error e = {0};
        fl_obk_header hi;
        fl_status s = cands[i] < len ? fl_obk_config_parse(data + cands[i], len - cands[i], pins, true, &c, &hi, &e)
                                     : fl_fail(&e, FL_ERR_FORMAT, "the file ends before 0x%06X", cands[i]);
        if (i == 0 || s == FL_OK || hi.check > h.check) { /* keep the most telling result */
            st = s, h = hi, err = e, at = cands[i];
        }
        if (s == FL_OK)
            break;
    }
    free(data);
    if (st != FL_OK) {
        fl_fail_prefix(&err, "%s at 0x%06X", path, at);
        return cli_report_error(&out, "obk-config show", &err);
    }
    if (h.check == FL_OBK_BAD_CRC)
        fl_fail(&err, FL_ERR_FORMAT, "%s at 0x%06X: stored CRC 0x%02X, the firmware computes 0x%02X: it would load "
                "its defaults", path, at, h.crc_stored, h.crc_signed);
    return report_show(&out, path, at, chip, pins, &c, &h, secrets, &err);
}

/* Read the config sector of the connected unit. */
static fl_status read_sector(flash_cli *c, uint8_t sec[FL_OBK_CFG_SECTOR], const fl_chip **chip, fl_error *err)
{
    *chip = fl_flash_identity(c->flash)->chip;
    if (!(*chip)->obk_config_offset)
        return fl_fail(err, FL_ERR_REFUSED, "%s: no OBK config location is known for this chip",
                       (*chip)->display);
    return fl_flash_read(c->flash, (*chip)->obk_config_offset, FL_OBK_CFG_SECTOR, sec, err);
}

static int show_unit(flash_cli *c, bool secrets)
{
    int rc;
    const fl_chip *chip = flash_cli_chip("obk-config show", c, &rc);
    if (!chip && rc)
        return rc;
    cli_output_init(&c->out, c->json, c->port);
    if ((rc = flash_cli_connect("obk-config show", c)))
        return rc;
    static uint8_t sec[FL_OBK_CFG_SECTOR];
    static fl_obk_config cfg;
    fl_obk_header h = {0};
    fl_error err = {0};
    fl_status st = read_sector(c, sec, &chip, &err);
    cli_output_end_phase(&c->out);
    if (!st)
        st = fl_obk_config_parse(sec, sizeof sec, chip->obk_pin_count, true, &cfg, &h, &err);
    if (st) {
        if (h.check != FL_OBK_VALID)
            fl_fail_prefix(&err, "%s at 0x%06X", chip->display, chip->obk_config_offset);
        return flash_cli_done("obk-config show", c, cli_report_error(&c->out, "obk-config show", &err));
    }
    if (h.check == FL_OBK_BAD_CRC)
        fl_fail(&err, FL_ERR_FORMAT, "stored CRC 0x%02X, the firmware computes 0x%02X: it would load its defaults",
                h.crc_stored, h.crc_signed);
    rc = report_show(&c->out, c->port, chip->obk_config_offset, chip, chip->obk_pin_count, &cfg, &h, secrets, &err);
    return flash_cli_done("obk-config show", c, rc);
}

/* --- write ---------------------------------------------------------------------------- */

/* Every setting of the command line, over c: --from-file first, then the
 * options (which win), then the pins.  tuya (may be NULL) is the extracted
 * dump of --pins-from-tuya. */
static fl_status apply_settings(fl_obk_config *c, const obk_opts *o, json_t *file, const fl_tuya_config *tuya,
                                fl_error *err)
{
    fl_status st = file ? fl_obk_config_apply_json(c, file, err) : FL_OK;
    if (st)
        return fl_fail_prefix(err, "%s", o->from_file);
    const struct {
        const char *key, *value;
    } kv[] = {{"name", o->name},           {"wifi_ssid", o->wifi_ssid}, {"wifi_pass", o->wifi_pass},
              {"mqtt_host", o->mqtt_host}, {"mqtt_port", o->mqtt_port}, {"mqtt_user", o->mqtt_user},
              {"mqtt_pass", o->mqtt_pass}, {"mqtt_topic", o->mqtt_topic}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        if (kv[i].value && (st = fl_obk_config_set(c, kv[i].key, kv[i].value, err)))
            return st;
    for (size_t i = 0; i < o->flags.n; i++)
        if ((st = fl_obk_config_set(c, "flag", o->flags.items[i], err)))
            return st;
    if (tuya && (st = fl_obk_config_set_pins(c, &tuya->obk, true, err)))
        return st;
    for (size_t i = 0; i < o->pins.n; i++)
        if ((st = fl_obk_config_set(c, "pin", o->pins.items[i], err)))
            return st;
    return FL_OK;
}

/* What to start from: the unit's valid config, defaults on an erased sector,
 * defaults over an invalid one only when asked. */
static fl_status choose_base(flash_cli *c, const fl_chip *chip, const uint8_t *sec, bool replace_invalid,
                             fl_obk_config *cfg, const char **base, fl_error *err)
{
    fl_obk_header h;
    fl_error perr = {0};
    if (fl_obk_config_parse(sec, FL_OBK_CFG_SECTOR, chip->obk_pin_count, false, cfg, &h, &perr) == FL_OK) {
        *base = "existing";
        return FL_OK;
    }
    if (h.check != FL_OBK_ERASED && !replace_invalid)
        return fl_fail(err, FL_ERR_REFUSED, "the config at 0x%06X is not valid (%s); not overwritten: "
                       "--replace-invalid starts from the defaults", chip->obk_config_offset, perr.msg);
    uint8_t mac[6];
    fl_error merr = {0};
    bool have_mac = fl_flash_read_mac(c->flash, mac, &merr) == FL_OK;
    fl_obk_config_defaults(cfg, chip->obk_pin_count, have_mac ? mac : NULL);
    *base = h.check == FL_OBK_ERASED ? "defaults" : "replaced-invalid";
    if (h.check != FL_OBK_ERASED && !c->json)
        fprintf(stderr, "flashline obk-config: replacing the invalid config at 0x%06X (%s)\n",
                chip->obk_config_offset, perr.msg);
    return FL_OK;
}

static fl_status write_and_verify(flash_cli *c, const fl_chip *chip, const fl_obk_config *cfg, fl_error *err)
{
    static uint8_t img[FL_OBK_CFG_SECTOR], back[FL_OBK_CFG_SECTOR];
    fl_status st = fl_obk_config_build(cfg, img, err);
    /* exactly the one sector: fl_flash_write erases what it writes, nothing else */
    if (!st)
        st = fl_flash_write(c->flash, chip->obk_config_offset, img, FL_OBK_CFG_SECTOR, err);
    if (!st)
        st = fl_flash_read(c->flash, chip->obk_config_offset, FL_OBK_CFG_SECTOR, back, err);
    if (!st && memcmp(img, back, sizeof img))
        st = fl_fail(err, FL_ERR_VERIFY, "the config read back from 0x%06X differs from what was written",
                     chip->obk_config_offset);
    static fl_obk_config again;
    if (!st && fl_obk_config_parse(back, sizeof back, chip->obk_pin_count, false, &again, NULL, err))
        st = fl_fail_prefix(err, "read back");
    return st;
}

static int write_unit(flash_cli *c, obk_opts *o)
{
    int rc;
    const fl_chip *chip = flash_cli_chip("obk-config write", c, &rc);
    if (!chip && rc)
        return rc;
    if (o->pins_from_tuya && o->pins.n)
        return cli_usage_error("obk-config write", "--pins-from-tuya and --pin exclude each other");
    if (chip && !chip->obk_config_offset)
        return cli_usage_error("obk-config write", "--chip %s: no OBK config location known", chip->name);
    cli_output_init(&c->out, c->json, c->port);
    /* every input is read and every setting tried on a scratch config before the unit is touched */
    fl_error err = {0};
    json_t *file = NULL;
    static fl_tuya_config tuya;
    bool have_tuya = false;
    if (o->from_file) {
        json_error_t je;
        if (!(file = json_load_file(o->from_file, 0, &je)))
            return cli_early_error("obk-config write", FL_ERR_FILE, "%s: %s (line %d)", o->from_file, je.text,
                                   je.line);
    }
    if (o->pins_from_tuya) {
        uint8_t *d = NULL;
        size_t n = 0;
        fl_obk_rules *rules = NULL;
        fl_tuya_extract_opts xo = {0};
        fl_status st = o->pin_rules ? fl_obk_rules_new(&rules, &err) : FL_OK;
        if (!st && rules)
            st = fl_obk_rules_add_file(rules, o->pin_rules, &err);
        xo.rules = rules;
        if (!st)
            st = fl_read_file(o->pins_from_tuya, &d, &n, MAX_DUMP, &err);
        if (!st && !(st = fl_tuya_extract(d, n, o->pins_from_tuya, &xo, &tuya, &err)))
            have_tuya = true;
        free(d);
        fl_obk_rules_free(rules);
        if (st) {
            json_decref(file);
            if (err.code != FL_ERR_FORMAT || !o->pin_rules || !strstr(err.msg, o->pin_rules))
                fl_fail_prefix(&err, "%s", o->pins_from_tuya);
            return cli_report_error(&c->out, "obk-config write", &err);
        }
    }
    if (o->pin_rules && !o->pins_from_tuya) {
        json_decref(file);
        return cli_usage_error("obk-config write", "--pin-rules goes with --pins-from-tuya");
    }
    static fl_obk_config cfg;
    fl_obk_config_defaults(&cfg, chip ? chip->obk_pin_count : 48, NULL);
    fl_status st = apply_settings(&cfg, o, file, have_tuya ? &tuya : NULL, &err);
    if (st) {
        rc = cli_report_error(&c->out, "obk-config write", &err);
        goto out;
    }
    if ((rc = flash_cli_connect("obk-config write", c)))
        goto out;
    static uint8_t sec[FL_OBK_CFG_SECTOR];
    const char *base = NULL;
    st = read_sector(c, sec, &chip, &err);
    if (!st)
        st = choose_base(c, chip, sec, o->replace_invalid, &cfg, &base, &err);
    if (!st)
        st = apply_settings(&cfg, o, file, have_tuya ? &tuya : NULL, &err);
    if (!st)
        st = write_and_verify(c, chip, &cfg, &err);
    cli_output_end_phase(&c->out);
    if (!st)
        st = flash_cli_finish(c, &err);
    if (st) {
        rc = cli_report_error(&c->out, "obk-config write", &err);
    } else if (c->json) {
        char hash[65];
        fl_obk_config_credentials_hash(&cfg, hash);
        cli_json_event(&c->out, "done",
                       json_pack("{s:s, s:s, s:I, s:i, s:s, s:s, s:o}", "verb", "obk-config write", "chip",
                                 chip->name, "offset", (json_int_t)chip->obk_config_offset, "pin_layout",
                                 chip->obk_pin_count, "base", base, "credentials_sha256", hash, "config",
                                 fl_obk_config_json(&cfg, o->show_secrets)));
    } else {
        char hash[65];
        fl_obk_config_credentials_hash(&cfg, hash);
        printf("OBK config written to 0x%06X (%s, %d-pin layout, from %s), version 5, read back and verified\n",
               chip->obk_config_offset, chip->display, chip->obk_pin_count, base);
        print_config(&cfg, o->show_secrets);
    }
    rc = flash_cli_done("obk-config write", c, rc);
out:
    json_decref(file);
    if (have_tuya)
        fl_tuya_config_free(&tuya);
    return rc;
}

int cmd_obk_config(int argc, char **argv)
{
    flash_cli c = {0};
    obk_opts o = {0};
    const char *offset = NULL;
    const cli_opt opts[] = {FLASH_COMMON_OPTS(c),
                            {"offset", OPT_STRING, &offset, NULL},
                            {"wifi-ssid", OPT_STRING, &o.wifi_ssid, NULL},
                            {"wifi-pass", OPT_STRING, &o.wifi_pass, NULL},
                            {"mqtt-host", OPT_STRING, &o.mqtt_host, NULL},
                            {"mqtt-port", OPT_STRING, &o.mqtt_port, NULL},
                            {"mqtt-user", OPT_STRING, &o.mqtt_user, NULL},
                            {"mqtt-pass", OPT_STRING, &o.mqtt_pass, NULL},
                            {"mqtt-topic", OPT_STRING, &o.mqtt_topic, NULL},
                            {"name", OPT_STRING, &o.name, NULL},
                            {"flag", OPT_LIST, NULL, NULL, 0, &o.flags},
                            {"pin", OPT_LIST, NULL, NULL, 0, &o.pins},
                            {"pins-from-tuya", OPT_STRING, &o.pins_from_tuya, NULL},
                            {"from-file", OPT_STRING, &o.from_file, NULL},
                            {"pin-rules", OPT_STRING, &o.pin_rules, NULL},
                            {"replace-invalid", OPT_FLAG, NULL, &o.replace_invalid},
                            {"show-secrets", OPT_FLAG, NULL, &o.show_secrets},
                            {0}};
    const char *pos[2];
    int npos = 0;
    int rc = cli_parse("obk-config", argc, argv, opts, pos, 2, &npos, &c.help);
    if (rc || c.help) {
        if (!rc)
            usage();
        goto out;
    }
    bool is_write = npos >= 1 && !strcmp(pos[0], "write");
    if (npos < 1 || (!is_write && strcmp(pos[0], "show"))) {
        rc = cli_usage_error("obk-config", "expected show or write (see --help)");
    } else if (is_write) {
        if (npos != 1 || !c.port)
            rc = cli_usage_error("obk-config write", "write works on a unit: --port URL, and no file");
        else
            rc = write_unit(&c, &o);
    } else {
        bool setting = o.wifi_ssid || o.wifi_pass || o.mqtt_host || o.mqtt_port || o.mqtt_user || o.mqtt_pass ||
                       o.mqtt_topic || o.name || o.flags.n || o.pins.n || o.pins_from_tuya || o.from_file;
        if (setting)
            rc = cli_usage_error("obk-config show", "settings are for write");
        else if ((npos == 2) == (c.port != NULL))
            rc = cli_usage_error("obk-config show", "give either --port URL or a DUMP file");
        else if (npos == 2)
            rc = show_dump(pos[1], c.chip, offset, c.json, o.show_secrets);
        else
            rc = show_unit(&c, o.show_secrets);
    }
out:
    cli_list_free(&o.flags);
    cli_list_free(&o.pins);
    return rc;
}
