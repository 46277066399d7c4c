/* flashline — command-line entry point: dispatches to one verb. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
    bool takes_json; /* has --json: usage errors become JSON events under it */
} command;

static const command commands[] = {
    {"info", cmd_info, "identify the chip: loader kind, chip ID, flash JEDEC ID and size", true},
    {"read", cmd_read, "read flash to a file (default: the whole flash)", true},
    {"write", cmd_write, "write a file to flash (QIO images placed per chip), verified by CRC", true},
    {"verify", cmd_verify, "compare flash with a file by CRC", true},
    {"erase", cmd_erase, "erase a range or the whole flash (bootloader kept)", true},
    {"ports", cmd_ports, "list local serial ports with USB VID:PID and serial number", true},
    {"run", cmd_run, "run a YAML recipe on a unit and log it in the audit DB", true},
    {"lua", cmd_lua, "run a Lua script with the flashline modules (see lua/API.md)"},
    {"sim", cmd_sim, "run the Beken bootloader simulator (serves rfc2217://)"},
    {"tuya", cmd_tuya, "tuya extract DUMP: Tuya config, secrets redacted; --obk for OpenBeken pins", true},
    {"image", cmd_image, "image info|decrypt|encrypt|crc FILE: identify and convert Beken images", true},
    {"query", cmd_query, "query NAME: canned read-only audit-log queries (--list shows them)", true},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: flashline VERB [options]     (flashline VERB --help for details)\n\n"
               "Production-line flasher for Beken BK72xx Wi-Fi modules.\n\nVerbs:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "\nPorts (--port): /dev/ttyUSB0 | serial:/dev/ttyUSB0 | rfc2217://HOST:PORT |\n"
            "  tcp://HOST:PORT | sim:CHIP[?flash=FILE&timescale=0&...] (built-in simulator)\n"
            "Chips (--chip): bk7231t bk7231u bk7231n bk7231m bk7238 bk7252 bk7252n bk7236 bk7258\n\n"
            "%s",
            cli_exit_codes_help);
}

/* Whether --json is among the verb's arguments (options end at "--"), known
 * before the verb parses them so that even its usage errors are JSON. */
static bool wants_json(int argc, char **argv)
{
    for (int i = 2; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (!strcmp(argv[i], "--json"))
            return true;
    return false;
}

int main(int argc, char **argv)
{
    /* A dead TCP peer must be an error message, not a silent SIGPIPE death. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) {
            cli_set_json_mode(commands[i].takes_json && wants_json(argc, argv));
            return commands[i].run(argc - 1, argv + 1);
        }
    cli_set_json_mode(wants_json(argc, argv));
    return cli_usage_error(NULL, "unknown verb '%s' (run 'flashline --help' for the list)", argv[1]);
}
