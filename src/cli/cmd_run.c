/* flashline run — run a YAML recipe on a port and log it in the audit DB. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "flash/flash.h"
#include "station/run.h"

#define MAX_SETS 64

static void usage(void)
{
    printf("usage: flashline run RECIPE.yaml --port URL [--set KEY=VALUE ...] [--db FILE]\n"
           "                    [--baud N] [--reset MODE] [--station ID] [--operator NAME]\n"
           "                    [--json]\n"
           "       flashline run RECIPE.yaml --check [--set KEY=VALUE ...]\n\n"
           "Runs the recipe's steps in order on one unit and records the run, every step,\n"
           "the unit, measurements and artifacts in the audit log.  The recipe is checked\n"
           "first (unknown steps, arguments or ${variables}, values out of range, keys\n"
           "given twice, missing firmware files): a bad recipe fails with\n"
           "FILE:LINE:COLUMN before the unit is touched.  Ctrl-C stops the run and\n"
           "records it as ABORTED.\n\n"
           "Options:\n"
           "  -p, --port URL    the unit's port (see 'flashline info --help')\n"
           "  -b, --baud N      override the recipe's link: baud (and a connect step's own)\n"
           "  --reset MODE      override the recipe's link: reset (auto, pulse, reboot, manual,\n"
           "                    none; also --before MODE, as the flash verbs call it)\n"
           "  --set KEY=VALUE   give a recipe variable (repeatable, once per KEY); KEY must be\n"
           "                    one the recipe declares under 'vars:' or uses as ${KEY}, else\n"
           "                    the run is refused (exit 2) naming the recipe's variables; a\n"
           "                    value naming an existing file is taken relative to the\n"
           "                    working directory\n"
           "  --db FILE         audit log (default: $FLASHLINE_DB, else ./flashline.db)\n"
           "  --station ID      station name in the log (default: host name)\n"
           "  --operator NAME   operator in the log\n"
           "  --check           only check the recipe; touch nothing\n"
           "  --json            one JSON event per line on stdout\n\n"
           "Exit codes:\n"
           "  0   PASS\n"
           "  1   FAIL: the unit is bad (verify mismatch, wrong chip, ...)\n"
           "  2   bad command line\n"
           "  3   the recipe, a firmware file or the audit log is unusable (nothing was run)\n"
           "  10  ERROR: station, link or fixture problem (the unit may be fine)\n"
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

static int outcome_exit(fl_outcome o)
{
    switch (o) {
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
                       json_pack("{s:s, s:I, s:o, s:I, s:o, s:o}", "outcome",
                                 fl_outcome_name(r->outcome), "run_id", (json_int_t)r->run_id,
                                 "unit", cli_json_text(r->unit), "steps_run",
                                 (json_int_t)r->steps_run, "failed_step",
                                 cli_json_text(r->failed_step), "message",
                                 cli_json_text(r->message)));
        return;
    }
    const char *color = "", *reset = "";
    if (out->tty) {
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
    if (*baud && (!cli_parse_u32(*baud, &b) || b < 9600 || b > 6000000))
        return cli_usage_error("run", "--baud '%s' must be a rate in 9600..6000000", *baud);
    if (*baud) { /* the step reads a plain number */
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
    bool json = false, check = false, help = false;
    cli_list set_args = {0};
    const cli_opt opts[] = {
        {"port", OPT_STRING, &port, NULL, 'p', NULL},
        {"baud", OPT_STRING, &baud, NULL, 'b', NULL},
        {"reset", OPT_STRING, &reset, NULL},
        {"before", OPT_STRING, &before, NULL},
        {"db", OPT_STRING, &db, NULL},
        {"station", OPT_STRING, &station, NULL},
        {"operator", OPT_STRING, &op, NULL},
        {"set", OPT_LIST, NULL, NULL, 0, &set_args},
        {"json", OPT_FLAG, NULL, &json},
        {"check", OPT_FLAG, NULL, &check},
        {0},
    };
    const char *pos[1];
    int npos, rc = cli_parse("run", argc, argv, opts, pos, 1, &npos, &help);
    if (!rc && help)
        usage();
    else if (!rc && npos != 1)
        rc = cli_usage_error("run", "which recipe? (flashline run RECIPE.yaml --port URL)");
    else if (!rc && !check && !port)
        rc = cli_usage_error("run", "--port is required (or --check)");
    else if (!rc && set_args.n > MAX_SETS)
        rc = cli_usage_error("run", "at most %d --set options", MAX_SETS);
    else if (!rc && !help)
        rc = check_link_overrides(&baud, baud_buf, sizeof baud_buf, &reset, before);
    char *sets[MAX_SETS];
    int nsets = 0;
    for (size_t i = 0; !rc && !help && i < set_args.n; i++)
        sets[nsets++] = normalise_set(set_args.items[i]);
    cli_list_free(&set_args);
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
                         .operator_name = op, .sets = (const char *const *)sets,
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
                cli_report_error_as(&out, "run", &err, outcome_exit(r.outcome));
            print_result(&out, pos[0], &r);
            rc = outcome_exit(r.outcome);
        }
    }
    for (int i = 0; i < nsets; i++)
        free(sets[i]);
    return rc;
}
