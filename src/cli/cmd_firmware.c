/* flashline firmware — the station's firmware store: add, list, fetch, path. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "flash/chips.h"
#include "station/fwstore.h"
#include "station/home.h"

static void usage(void)
{
    printf("usage: flashline firmware add FILE... [--chip CHIP] [--version V] [--json]\n"
           "       flashline firmware list [--json]\n"
           "       flashline firmware fetch CHIP [VERSION|latest] [--from URL] [--sha256 HEX]\n"
           "                                [--json]\n"
           "       flashline firmware path REF\n\n"
           "The firmware store keeps the images a station flashes in the station home\n"
           "(HOME/firmware/: <sha256>.bin and index.json; the home is $FLASHLINE_HOME, else\n"
           "$XDG_DATA_HOME/flashline, else ~/.local/share/flashline).\n"
           "Recipes name an image from the store instead of a path:\n"
           "  OpenBK7231N@1.18.300   name (or chip: bk7231n@1.18.300) and version; @latest\n"
           "  sha256:HEX             the image's SHA-256 (a unique prefix of 12+ digits)\n\n"
           "add    checks each image with the same policy as 'flashline write' (CRC16\n"
           "       blocks, RBL headers, truncation, the chip its content names) and records\n"
           "       name, chip, version, SHA-256, size, where it came from and when.  Chip\n"
           "       and version come from an OpenBeken file name (OpenBK7231N_QIO_1.18.300.bin)\n"
           "       or --chip/--version; an image whose chip cannot be told is refused, and\n"
       "       so is another image of a name and version the store already has.\n"
           "list   what the store holds.\n"
           "fetch  downloads the chip's _QIO_ image of an OpenBeken release from GitHub\n"
           "       (openshwprojects/OpenBK7231T_App), checks it against the SHA-256 digest\n"
           "       in the release metadata and adds it.  An interrupted download is resumed\n"
           "       (HTTP Range) by the next fetch; a download whose digest does not match is\n"
           "       deleted and nothing is stored.\n"
           "path   prints the stored file of a reference (for scripts).\n\n"
           "Options:\n"
           "  --chip CHIP       the chip the image is for (%s)\n"
           "  --version V       its version (default: from the file name)\n"
           "  --from URL        releases API to ask (default: $FLASHLINE_RELEASES_URL, else\n"
           "                    %s)\n"
           "  --sha256 HEX      pin the image's SHA-256 yourself (needed for a release whose\n"
           "                    metadata has no digest; must agree with one that has)\n"
           "  --json            JSON on stdout (list: one object per image)\n\n"
           /* its own table: the flash verbs' one speaks of ports and chips */
           "Exit codes:\n"
           "  0  success\n"
           "  2  bad command line\n"
           "  3  an image refused (corrupt, not firmware, another chip, a download whose\n"
           "     SHA-256 does not match), a reference not in the store, or station.yaml\n"
           "     or the store's index.json unusable\n"
           "  4  the release server could not be reached, answered an HTTP error (no such\n"
           "     release: 404), or the transfer was cut (fetch again to continue it)\n"
           "  7  refused: the release gives no SHA-256 digest (pin one with --sha256),\n"
           "     another image already has this name and version (give --version), or\n"
           "     the image is larger than the chip's flash\n"
           "  9  internal error\n"
           "  130 interrupted (Ctrl-C or SIGTERM)\n",
           fl_chip_names(), FL_FWSTORE_RELEASES_URL);
}

static json_t *entry_json(const fl_fw_entry *e)
{
    return json_pack("{s:o, s:o, s:s, s:o, s:s, s:s, s:I, s:o, s:s, s:o}", "name",
                     cli_json_text(e->name), "file", cli_json_text(e->file), "chip", e->chip,
                     "version", cli_json_text(e->version), "kind", e->kind, "sha256", e->sha256,
                     "size", (json_int_t)e->size, "source", cli_json_text(e->source), "added",
                     e->added, "path", cli_json_text(e->path));
}

static void print_entry(const char *what, const fl_fw_entry *e, bool json)
{
    if (json) {
        json_t *o = json_pack("{s:s}", "event", what), *fields = entry_json(e);
        json_object_update(o, fields); /* "event" first, as in every JSON event */
        json_decref(fields);
        cli_json_print(o);
    } else {
        printf("%s %s@%s (%s, %s, %llu bytes)\n  sha256 %s\n  %s\n", what, e->name,
               e->version[0] ? e->version : "?", e->chip, e->kind, (unsigned long long)e->size,
               e->sha256, e->path);
    }
}

static int do_list(const fl_fwstore *s, bool json)
{
    size_t n = fl_fwstore_count(s);
    if (!json && n == 0)
        fprintf(stderr, "the firmware store %s is empty (flashline firmware add FILE, or "
                        "flashline firmware fetch CHIP VERSION)\n", fl_fwstore_dir(s));
    if (!json && n)
        printf("%-14s %-10s %-8s %-5s %-12s %9s  %s\n", "NAME", "VERSION", "CHIP", "KIND",
               "SHA256", "SIZE", "SOURCE");
    for (size_t i = 0; i < n; i++) {
        const fl_fw_entry *e = fl_fwstore_entry(s, i);
        if (json)
            cli_json_print(entry_json(e));
        else
            printf("%-14s %-10s %-8s %-5s %.12s %9llu  %s\n", e->name,
                   e->version[0] ? e->version : "-", e->chip, e->kind, e->sha256,
                   (unsigned long long)e->size, e->source);
    }
    return EXIT_OK;
}

static int do_add(fl_fwstore *s, const char **files, int n, const fl_fw_add_opts *o, bool json)
{
    for (int i = 0; i < n; i++) {
        const fl_fw_entry *e;
        bool added;
        fl_error err = {0};
        if (fl_fwstore_add_file(s, files[i], o, &e, &added, &err))
            return cli_early_error("firmware add", err.code, "%s", err.msg);
        print_entry(added ? "added" : json ? "present" : "already in the store:", e, json);
    }
    return EXIT_OK;
}

static int do_fetch(fl_fwstore *s, const fl_fw_fetch_opts *fo, bool json)
{
    cli_output out;
    cli_output_init(&out, json, NULL);
    cli_stop_on_signals();
    fl_events ev = cli_output_events(&out);
    ev.cancelled = cli_stop_requested;
    const fl_fw_entry *e;
    bool added;
    fl_error err = {0};
    fl_status st = fl_fwstore_fetch(s, fo, &ev, &e, &added, &err);
    cli_output_end_phase(&out);
    if (st) /* a digest mismatch is a bad input file, not a bad unit */
        return cli_report_error_as(&out, "firmware fetch", &err,
                                   st == FL_ERR_VERIFY ? EXIT_INPUT : cli_exit_code(st));
    print_entry(added ? "fetched" : json ? "present" : "already in the store:", e, json);
    return EXIT_OK;
}

int cmd_firmware(int argc, char **argv)
{
    bool json = false, help = false;
    const char *chip = NULL, *version = NULL, *from = NULL, *sha = NULL;
    const cli_opt opts[] = {{"json", OPT_FLAG, NULL, &json},
                            {"chip", OPT_STRING, &chip, NULL, 'c'},
                            {"version", OPT_STRING, &version},
                            {"from", OPT_STRING, &from},
                            {"sha256", OPT_STRING, &sha},
                            {0}};
    const char *pos[64];
    int npos;
    int rc = cli_parse("firmware", argc, argv, opts, pos, 64, &npos, &help);
    if (rc)
        return rc;
    if (help) {
        usage();
        return EXIT_OK;
    }
    if (npos < 1)
        return cli_usage_error("firmware", "give add, list, fetch or path (see --help)");
    const char *sub = pos[0];
    bool is_add = !strcmp(sub, "add"), is_list = !strcmp(sub, "list"),
         is_fetch = !strcmp(sub, "fetch"), is_path = !strcmp(sub, "path");
    if (!is_add && !is_list && !is_fetch && !is_path)
        return cli_usage_error("firmware", "unknown subcommand '%s' (add, list, fetch, path)", sub);
    if (is_add && npos < 2)
        return cli_usage_error("firmware", "add needs a FILE");
    if (is_list && npos != 1)
        return cli_usage_error("firmware", "list takes no arguments");
    if (is_fetch && (npos < 2 || npos > 3))
        return cli_usage_error("firmware", "fetch needs CHIP [VERSION|latest]");
    if (is_path && npos != 2)
        return cli_usage_error("firmware", "path needs one REF (NAME@VERSION or sha256:HEX)");
    if (!is_add && !is_fetch && (chip || version))
        return cli_usage_error("firmware", "--chip and --version are for add");
    if (!is_fetch && (from || sha))
        return cli_usage_error("firmware", "--from and --sha256 are for fetch");

    fl_error err = {0};
    fl_home *home;
    if (fl_home_open(NULL, &home, &err))
        return cli_early_error("firmware", err.code, "%s", err.msg);
    fl_fwstore *s;
    if (fl_fwstore_open(fl_home_firmware_dir(home), &s, &err)) {
        fl_home_close(home);
        return cli_early_error("firmware", err.code, "%s", err.msg);
    }
    if (is_list) {
        rc = do_list(s, json);
    } else if (is_add) {
        fl_fw_add_opts o = {.chip = chip, .version = version};
        rc = do_add(s, pos + 1, npos - 1, &o, json);
    } else if (is_fetch) {
        fl_fw_fetch_opts fo = {.chip = chip ? chip : pos[1],
                               .version = npos > 2 ? pos[2] : "latest", .base_url = from,
                               .sha256 = sha};
        if (chip && strcmp(chip, pos[1]))
            rc = cli_usage_error("firmware", "fetch: give the chip once (CHIP or --chip)");
        else
            rc = do_fetch(s, &fo, json);
    } else {
        const fl_fw_entry *e;
        if (fl_fwstore_find(s, pos[1], &e, &err))
            rc = cli_early_error("firmware path", err.code, "%s", err.msg);
        else
            printf("%s\n", e->path);
    }
    fl_fwstore_close(s);
    fl_home_close(home);
    return rc;
}
