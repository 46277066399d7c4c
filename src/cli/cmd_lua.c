/* flashline lua — run a Lua 5.4 script with the flashline modules. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "lua/lua_host.h"
#include "station/home.h"

static void usage(void)
{
    printf("usage: flashline lua SCRIPT [ARGS...]\n\n"
           "Runs SCRIPT in Lua 5.4 with `require \"flashline\"` (modules chip, link, beken,\n"
           "log, util, ...; see lua/API.md).  ARGS are in `arg` and `...`.  Log lines and progress\n"
           "from the script go to stderr like the other verbs.\n"
           "Exit: 0 when the script finishes, 2 when it raises an error (message and\n"
           "traceback on stderr), 130 when stopped by Ctrl-C or SIGTERM.\n");
}

int cmd_lua(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage();
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    cli_output out;
    cli_output_init(&out, false, "");
    fl_events ev = cli_output_events(&out);
    ev.cancelled = cli_stop_requested;
    cli_stop_on_signals();
    fl_error err = {0};
    lua_State *L = fl_lua_new(&ev, &err);
    if (!L)
        return cli_report_error(&out, "lua", &err);
    /* db.open() without a path opens the station's log, as every verb does;
     * a home that cannot be opened leaves db.open() needing a path. */
    char log_path[4096];
    fl_error herr;
    if (fl_home_resolve_log(NULL, log_path, sizeof log_path, &herr) == FL_OK)
        fl_lua_set_default_db(L, log_path);
    fl_status st = fl_lua_run_file(L, argv[1], argc - 2, argv + 2, &err);
    fl_lua_close(L);
    cli_output_end_phase(&out);
    if (st) {
        fprintf(stderr, "flashline lua: %s\n", err.msg);
        return st == FL_ERR_CANCELLED ? EXIT_CANCELLED : EXIT_USAGE;
    }
    return EXIT_OK;
}
