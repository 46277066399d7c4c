/* flashline run — run a YAML recipe on a port and log it in the audit DB. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/run_many.h"
#include "cli/run_ports.h"
#include "flash/flash.h"
#include "lua/lua_host.h"
#include "station/run.h"

#define MAX_SETS 64

static void usage(void)
{
    printf("usage: flashline run RECIPE.yaml [--port URL ...] [--set KEY=VALUE ...] [--db FILE]\n"
           "                    [--baud N] [--reset MODE] [--station ID] [--operator NAME]\n"
           "                    [--again] [--loop] [--json]\n"
           "       flashline run RECIPE.yaml --check [--set KEY=VALUE ...]\n\n"
           "Runs the recipe's steps in order on one unit and records the run, every step,\n"
           "the unit, measurements and artifacts in the audit log.  The recipe is checked\n"
           "first (unknown steps, arguments or ${variables}, values out of range, keys\n"
           "given twice, missing firmware files): a bad recipe fails with\n"
           "FILE:LINE:COLUMN before the unit is touched.  Ctrl-C stops the run and\n"
           "records it as ABORTED.\n\n"
           "RECIPE.yaml is a file, or the name of a stock recipe (bk7231n-obk or\n"
           "bk7231n-obk.yaml) when there is no such file here: the stock recipes are in\n"
           "share/flashline/recipes of an installed copy (recipes/ in the source tree).\n\n"
           "The run is recorded in the station home's audit log (the same log from any\n"
           "directory) and backups go to the home's backups/ directory, both by absolute\n"
           "path; station.yaml in the home gives the default station, operator, log and\n"
           "backups directory (--home DIR or $FLASHLINE_HOME moves the home).\n\n"
           "A unit that already PASSed the same recipe (same recipe name, same MAC or id)\n"
           "is not flashed again: the run stops right after the unit is identified, is\n"
           "recorded as ABORTED with a message naming the earlier run, and exits 7.  Give\n"
           "--again (or `allow_repeat: true` in the recipe) to flash it again; its first\n"
           "vendor backup stays marked as its original firmware (query unit_history).\n"
           "A recipe for another chip than the unit's is an ERROR of the station (exit 10)\n"
           "naming both chips.\n\n"
           "Ports: --port URL on the command line (repeatable); without it, the recipe's\n"
           "'ports:' list (ports: [/dev/ttyUSB0, /dev/ttyUSB1]), else the 'ports:' list of\n"
           "station.yaml in the station home.  One port is a single run as above; several\n"
           "run one worker per port at once.\n\n"
           "Options:\n"
           "  -p, --port URL    the unit's port (see 'flashline info --help'); give it again\n"
           "                    for more units at once: one worker per port, a live view\n"
           "                    on a terminal (plain lines prefixed with the port, or\n"
           "                    --json events, otherwise); the exit code is the worst\n"
           "                    outcome's\n"
           "  -b, --baud N|max  override the recipe's link: baud (and a connect step's own);\n"
           "                    max: the fastest rate the line holds (see read --help)\n"
           "  --reset MODE      override the recipe's link: reset (auto, pulse, reboot, manual,\n"
           "                    none; also --before MODE, as the flash verbs call it)\n"
           "  --set KEY=VALUE   give a recipe variable (repeatable, once per KEY); KEY must be\n"
           "                    one the recipe declares under 'vars:' or uses as ${KEY}, else\n"
           "                    the run is refused (exit 2) naming the recipe's variables; a\n"
           "                    value naming an existing file is taken relative to the\n"
           "                    working directory\n"
           "  --db FILE         audit log (default: $FLASHLINE_DB, else the station home's:\n"
           "                    station.yaml's db:, else HOME/flashline.db)\n"
           "  --station ID      station name in the log (default: station.yaml's station:,\n"
           "                    else the host name)\n"
           "  --operator NAME   operator in the log (default: station.yaml's operator:)\n"
           "  --again           flash a unit again that already PASSed this recipe\n"
           "  --loop            serve unit after unit on every port until Ctrl-C: wait for\n"
           "                    a unit in download mode (listening only: nothing is reset),\n"
           "                    run the recipe, show its result, wait until the unit is\n"
           "                    removed or another answers; a unit left on the fixture is\n"
           "                    not run twice, one put back after a PASS is refused (exit\n"
           "                    7's rule, shown as REPEAT) unless --again.  Ctrl-C: each\n"
           "                    port stops at a safe point (a unit mid-run is ABORTED);\n"
           "                    the exit code is the worst unit's\n"
           "  --check           only check the recipe; touch nothing\n"
           "  --json            one JSON event per line on stdout\n\n"
           "Exit codes:\n"
           "  0   PASS\n"
           "  1   FAIL: the unit is bad (verify mismatch, no MAC where required, ...)\n"
           "  2   bad command line\n"
           "  3   the recipe, a firmware file, station.yaml or the audit log is unusable\n"
           "      (nothing was run)\n"
           "  7   refused: the unit already PASSed this recipe (recorded as ABORTED; nothing\n"
           "      was read or written beyond identifying it); use --again to flash it again\n"
           "  10  ERROR: station, link or fixture problem, or a recipe for another chip than\n"
           "      the unit's (the unit may be fine)\n"
           "  130 ABORTED by the operator\n");
}

/* A --set value naming an existing file is made absolute, so recipes can
 * resolve their own relative paths against the recipe's directory. */
static char *normalise_set(const char *set)
{
    const char *eq = strchr(set, '=');
    if (!eq || eq[1] == '/' || eq[1] == '\0')
        return strdup(set);
    char *real = realpath(eq + 1, NULL);
    if (!real)
        return strdup(set);
    size_t n = (size_t)(eq - set) + 1 + strlen(real) + 1;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%.*s=%s", (int)(eq - set), set, real);
    free(real);
    return out;
}

/* The stock recipes: recipes/ beside the Lua steps' lua/ directory, that is
 * PREFIX/share/flashline/recipes of an installed copy and recipes/ of the
 * source tree (lua_host.c finds lua/ from the executable). */
static void stock_recipes_dir(char *out, size_t cap)
{
    const char *lua = fl_lua_dir();
    const char *slash = strrchr(lua, '/');
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s/recipes", slash ? (int)(slash - lua) : 1, slash ? lua : ".");
    char *real = realpath(dir, NULL);
    snprintf(out, cap, "%s", real ? real : dir);
    free(real);
}

static int is_yaml(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return d->d_name[0] != '.' && n > 5 && !strcmp(d->d_name + n - 5, ".yaml");
}

/* A recipe given by name (no '/') that is not a file in the working
 * directory is the stock recipe of that name, with or without ".yaml":
 * *recipe becomes its path (*owned, to free).  When there is none, the
 * error lists the stock recipes. */
static int find_stock_recipe(const char **recipe, char **owned)
{
    const char *name = *recipe;
    *owned = NULL;
    if (strchr(name, '/') || access(name, F_OK) == 0)
        return 0;
    char dir[4096];
    stock_recipes_dir(dir, sizeof dir);
    size_t len = strlen(name);
    bool has_ext = len > 5 && !strcmp(name + len - 5, ".yaml");
    if (asprintf(owned, "%s/%s%s", dir, name, has_ext ? "" : ".yaml") < 0) {
        *owned = NULL;
        return cli_early_error("run", FL_ERR_INTERNAL, "out of memory");
    }
    if (access(*owned, F_OK) == 0) {
        *recipe = *owned;
        return 0;
    }
    free(*owned);
    *owned = NULL;
    struct dirent **list;
    int n = scandir(dir, &list, is_yaml, alphasort);
    char names[1024] = "";
    for (int i = 0, used = 0; i < n; i++) {
        if (used < (int)sizeof names)
            used += snprintf(names + used, sizeof names - (size_t)used, "%s%.*s", i ? ", " : "",
                             (int)strlen(list[i]->d_name) - 5, list[i]->d_name);
        free(list[i]);
    }
    if (n >= 0)
        free(list);
    return cli_early_error("run", FL_ERR_FILE,
                           "no recipe file '%s' here, and no stock recipe of that name in %s "
                           "(stock recipes: %s)",
                           name, dir, names[0] ? names : "none");
}

static int outcome_exit(const fl_run_result *r)
{
    if (r->refused_repeat)
        return EXIT_REFUSED;
    switch (r->outcome) {
    case FL_OUTCOME_PASS: return 0;
    case FL_OUTCOME_FAIL: return 1;
    case FL_OUTCOME_ABORTED: return EXIT_CANCELLED;
    default: return 10;
    }
}

static void print_result(cli_output *out, const char *recipe, const fl_run_result *r)
{
    if (out->json) {
        cli_json_event(out, "result",
                       json_pack("{s:s, s:I, s:o, s:I, s:o, s:o, s:I}", "outcome",
                                 fl_outcome_name(r->outcome), "run_id", (json_int_t)r->run_id,
                                 "unit", cli_json_text(r->unit), "steps_run",
                                 (json_int_t)r->steps_run, "failed_step",
                                 cli_json_text(r->failed_step), "message",
                                 cli_json_text(r->message), "repeat_of",
                                 (json_int_t)r->repeat_of));
        return;
    }
    const char *color = "", *reset = "";
    if (cli_use_color(stdout)) { /* NO_COLOR, and the line goes to stdout */
        color = r->outcome == FL_OUTCOME_PASS ? "\033[1;32m"
                : r->outcome == FL_OUTCOME_FAIL ? "\033[1;31m" : "\033[1;33m";
        reset = "\033[0m";
    }
    printf("%s%s%s  %s  unit %s  run #%lld  (%s)%s%s\n", color, fl_outcome_name(r->outcome), reset,
           out->port ? out->port : "", r->unit[0] ? r->unit : "?", (long long)r->run_id, recipe,
           r->message[0] ? ": " : "", r->message);
}

/* --baud/--reset (or --before) as the flash verbs check them; *reset
 * becomes the one reset mode given. */
static int check_link_overrides(const char **baud, char *baud_buf, size_t cap, const char **reset,
                                const char *before)
{
    uint32_t b = 0;
    bool max = *baud && !strcmp(*baud, "max"); /* the connect step probes for it */
    if (*baud && !max && (!cli_parse_u32(*baud, &b) || b < 9600 || b > 6000000))
        return cli_usage_error("run", "--baud '%s' must be a rate in 9600..6000000 or max", *baud);
    if (*baud && !max) { /* the step reads a plain number */
        snprintf(baud_buf, cap, "%u", b);
        *baud = baud_buf;
    }
    if (*reset && before && strcmp(*reset, before) != 0)
        return cli_usage_error("run", "--before '%s' and --reset '%s' are the same option: give one",
                               before, *reset);
    if (!*reset)
        *reset = before;
    fl_reset_mode mode;
    if (*reset && !fl_reset_mode_parse(*reset, &mode))
        return cli_usage_error("run", "--reset must be auto, pulse, reboot, manual or none");
    return 0;
}

int cmd_run(int argc, char **argv)
{
    const char *port = NULL, *db = NULL, *station = NULL, *op = NULL;
    const char *baud = NULL, *reset = NULL, *before = NULL;
    char baud_buf[16];
    bool json = false, check = false, help = false, again = false, loop = false;
    cli_list set_args = {0}, port_args = {0};
    const cli_opt opts[] = {
        {"port", OPT_LIST, NULL, NULL, 'p', &port_args},
        {"baud", OPT_STRING, &baud, NULL, 'b', NULL},
        {"reset", OPT_STRING, &reset, NULL},
        {"before", OPT_STRING, &before, NULL},
        {"db", OPT_STRING, &db, NULL},
        {"station", OPT_STRING, &station, NULL},
        {"operator", OPT_STRING, &op, NULL},
        {"set", OPT_LIST, NULL, NULL, 0, &set_args},
        {"json", OPT_FLAG, NULL, &json},
        {"check", OPT_FLAG, NULL, &check},
        {"again", OPT_FLAG, NULL, &again},
        {"loop", OPT_FLAG, NULL, &loop},
        {0},
    };
    const char *pos[1];
    int npos, rc = cli_parse("run", argc, argv, opts, pos, 1, &npos, &help);
    port = port_args.n ? port_args.items[0] : NULL;
    if (!rc && help)
        usage();
    else if (!rc && npos != 1)
        rc = cli_usage_error("run", "which recipe? (flashline run RECIPE.yaml --port URL)");
    else if (!rc && set_args.n > MAX_SETS)
        rc = cli_usage_error("run", "at most %d --set options", MAX_SETS);
    else if (!rc && loop && check)
        rc = cli_usage_error("run", "--loop runs units; --check touches none: give one of them");
    else if (!rc && !help)
        rc = check_link_overrides(&baud, baud_buf, sizeof baud_buf, &reset, before);
    char *stock = NULL;
    if (!rc && !help) /* before --port: `flashline run nosuch` lists the stock recipes */
        rc = find_stock_recipe(&pos[0], &stock);
    /* no --port: the recipe's ports:, else station.yaml's (run_ports.c) */
    cli_default_ports defaults = {0};
    if (!rc && !help && !check && !port_args.n) {
        rc = cli_default_ports_find(pos[0], &defaults);
        port = defaults.n ? defaults.items[0] : NULL;
    }
    const char *const *ports = port_args.n ? port_args.items : defaults.items;
    size_t nports = port_args.n ? port_args.n : defaults.n;
    char *sets[MAX_SETS];
    int nsets = 0;
    for (size_t i = 0; !rc && !help && i < set_args.n; i++)
        sets[nsets++] = normalise_set(set_args.items[i]);
    cli_list_free(&set_args);
    if (rc || help || check || (nports < 2 && !loop)) {
        if (rc || help) {
            cli_list_free(&port_args);
            cli_default_ports_free(&defaults);
            free(stock);
        }
    } else {
        fl_run_opts o = {.recipe_path = pos[0], .db_path = db, .station = station,
                         .operator_name = op, .again = again, .sets = (const char *const *)sets,
                         .nsets = (size_t)nsets, .link_baud = baud, .link_reset = reset};
        rc = cli_run_many(&o, ports, nports, json, loop);
        cli_list_free(&port_args);
        cli_default_ports_free(&defaults);
        for (int i = 0; i < nsets; i++)
            free(sets[i]);
        free(stock);
        return rc;
    }
    if (rc || help)
        return rc;

    cli_output out;
    cli_output_init(&out, json, port);
    fl_events ev = cli_output_events(&out);
    ev.cancelled = cli_stop_requested;
    fl_error err = {0};
    fl_status st;
    if (check) {
        st = fl_station_check(pos[0], (const char *const *)sets, (size_t)nsets, &err);
        if (!st && json)
            cli_json_event(&out, "check", json_pack("{s:o, s:b}", "recipe", cli_json_text(pos[0]),
                                                    "valid", 1));
        else if (!st)
            fprintf(stderr, "%s: recipe is valid\n", pos[0]);
        else
            rc = cli_report_error(&out, "run", &err);
    } else {
        cli_stop_on_signals();
        fl_run_opts o = {.recipe_path = pos[0], .port = port, .db_path = db, .station = station,
                         .operator_name = op, .again = again, .sets = (const char *const *)sets,
                         .nsets = (size_t)nsets, .ev = &ev};
        o.link_baud = baud;
        o.link_reset = reset;
        fl_run_result r;
        st = fl_station_run(&o, &r, &err);
        cli_output_end_phase(&out);
        if (st && r.run_id == 0) {
            /* Stopped before the run was recorded (Ctrl-C during the checks)
             * is still an operator stop, not a bad input. */
            int code = err.code == FL_ERR_USAGE       ? EXIT_USAGE
                       : err.code == FL_ERR_CANCELLED ? EXIT_CANCELLED
                                                      : EXIT_INPUT;
            rc = cli_report_error_as(&out, "run", &err, code);
        } else {
            if (st) /* recorded, but the log failed at the end */
                cli_report_error_as(&out, "run", &err, outcome_exit(&r));
            print_result(&out, pos[0], &r);
            rc = outcome_exit(&r);
        }
    }
    for (int i = 0; i < nsets; i++)
        free(sets[i]);
    free(stock);
    cli_list_free(&port_args);
    cli_default_ports_free(&defaults);
    return rc;
}
