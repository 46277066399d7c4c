/* args.c — long-option parsing and number parsing for the verbs. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "util/parse.h"

static const cli_opt *find_opt(const cli_opt *opts, const char *name, size_t len)
{
    for (const cli_opt *o = opts; o && o->name; o++)
        if (strlen(o->name) == len && !strncmp(o->name, name, len))
            return o;
    return NULL;
}

int cli_parse(const char *verb, int argc, char **argv, const cli_opt *opts, const char **pos,
              int max_pos, int *npos, bool *help)
{
    *npos = 0;
    if (help)
        *help = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            if (help)
                *help = true;
            continue;
        }
        if (!strcmp(a, "-o"))
            a = "--output";
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (*npos >= max_pos) {
                fprintf(stderr, "flashline %s: unexpected argument '%s'\n", verb, a);
                return EXIT_USAGE;
            }
            pos[(*npos)++] = a;
            continue;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const cli_opt *o = find_opt(opts, name, len);
        if (!o) {
            fprintf(stderr, "flashline %s: unknown option '--%.*s' (see 'flashline %s --help')\n",
                    verb, (int)len, name, verb);
            return EXIT_USAGE;
        }
        if (o->kind == OPT_FLAG) {
            if (eq) {
                fprintf(stderr, "flashline %s: option '--%s' takes no value\n", verb, o->name);
                return EXIT_USAGE;
            }
            *o->flag = true;
            continue;
        }
        if (eq) {
            *o->str = eq + 1;
        } else if (i + 1 < argc) {
            *o->str = argv[++i];
        } else {
            fprintf(stderr, "flashline %s: option '--%s' needs a value\n", verb, o->name);
            return EXIT_USAGE;
        }
    }
    return 0;
}

bool cli_parse_u32(const char *s, uint32_t *out)
{
    uint64_t v;
    if (!fl_parse_size(s, 0, &v) || v > 0xFFFFFFFFu)
        return false;
    *out = (uint32_t)v;
    return true;
}

int cli_exit_code(fl_status status)
{
    switch (status) {
    case FL_OK: return EXIT_OK;
    case FL_ERR_VERIFY:
    case FL_ERR_CHIP: return EXIT_UNIT_FAIL;
    case FL_ERR_USAGE: return EXIT_USAGE;
    case FL_ERR_FILE:
    case FL_ERR_FORMAT: return EXIT_INPUT;
    case FL_ERR_LINK: return EXIT_LINK;
    case FL_ERR_NO_BUS: return EXIT_NO_BUS;
    case FL_ERR_PROTOCOL:
    case FL_ERR_TIMEOUT: return EXIT_PROTOCOL;
    case FL_ERR_REFUSED: return EXIT_REFUSED;
    case FL_ERR_RESET: return EXIT_RESET;
    case FL_ERR_CANCELLED: return EXIT_CANCELLED;
    case FL_ERR_INTERNAL: return EXIT_INTERNAL;
    }
    return EXIT_INTERNAL;
}

const char cli_exit_codes_help[] =
    "Exit codes:\n"
    "  0  success\n"
    "  1  unit failed: verify mismatch, or the chip is not the --chip named\n"
    "  2  bad command line\n"
    "  3  input file missing, unreadable, malformed or the wrong kind for the chip\n"
    "  4  port missing or busy, or the link was lost\n"
    "  5  no answer from the chip: not in download mode (check wiring, power, reset)\n"
    "  6  the chip stopped answering correctly in the middle of an operation\n"
    "  7  refused: bootloader area (needs --allow-bootloader) or past the end of flash\n"
    "  8  the unit reset during the operation (brown-out? check the 3.3 V supply); rerun\n"
    "  9  internal error\n"
    "  130 interrupted (Ctrl-C)\n";
