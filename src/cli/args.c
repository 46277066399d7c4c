/* args.c — option parsing (getopt_long over each verb's cli_opt table) and
 * number parsing for the verbs. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "util/parse.h"

/* getopt_long's "val" for table entry i; above every char a short option can be. */
#define OPT_VAL_BASE 256

void cli_list_free(cli_list *l)
{
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static bool list_add(cli_list *l, const char *value)
{
    const char **grown = realloc(l->items, (l->n + 1) * sizeof *grown);
    if (!grown)
        return false;
    grown[l->n++] = value;
    l->items = grown;
    return true;
}

/* What getopt_long needs, built from the verb's table. */
typedef struct parser {
    const char *verb;
    const cli_opt *opts;
    size_t nopts;
    struct option *longopts;
    char *shortopts;
    bool *seen; /* OPT_STRING given already: a second value is refused */
} parser;

static void parser_free(parser *p)
{
    free(p->longopts);
    free(p->shortopts);
    free(p->seen);
}

static bool parser_build(parser *p, const char *verb, const cli_opt *opts)
{
    memset(p, 0, sizeof *p);
    p->verb = verb;
    p->opts = opts;
    while (opts && opts[p->nopts].name)
        p->nopts++;
    p->longopts = calloc(p->nopts + 2, sizeof *p->longopts);
    /* "-": non-options come back in order as 1 (argv is never permuted);
     * ":": a missing value is reported as ':' so we can name the option. */
    p->shortopts = calloc(2 * p->nopts + 4, 1);
    p->seen = calloc(p->nopts + 1, sizeof *p->seen);
    if (!p->longopts || !p->shortopts || !p->seen)
        return false;
    char *s = p->shortopts;
    *s++ = '-', *s++ = ':', *s++ = 'h';
    for (size_t i = 0; i < p->nopts; i++) {
        const cli_opt *o = &opts[i];
        int arg = o->kind == OPT_FLAG ? no_argument : required_argument;
        p->longopts[i] = (struct option){o->name, arg, NULL, OPT_VAL_BASE + (int)i};
        if (o->short_name) {
            *s++ = o->short_name;
            if (arg == required_argument)
                *s++ = ':';
        }
    }
    p->longopts[p->nopts] = (struct option){"help", no_argument, NULL, 'h'};
    return true;
}

/* The table entry getopt_long returned, or NULL for --help and non-options. */
static const cli_opt *opt_for(const parser *p, int val)
{
    if (val >= OPT_VAL_BASE && (size_t)(val - OPT_VAL_BASE) < p->nopts)
        return &p->opts[val - OPT_VAL_BASE];
    for (size_t i = 0; val > 0 && val < OPT_VAL_BASE && i < p->nopts; i++)
        if (p->opts[i].short_name == val)
            return &p->opts[i];
    return NULL;
}

/* How the user wrote an option, for messages: "--port" or "-p (--port)". */
static int name_error(const parser *p, const char *arg, const cli_opt *o, const char *what)
{
    if (o && strncmp(arg, "--", 2) != 0)
        return cli_usage_error(p->verb, "option '-%c' (--%s) %s", o->short_name, o->name, what);
    return cli_usage_error(p->verb, "option '--%s' %s", o ? o->name : "help", what);
}

/* getopt_long accepts any unambiguous prefix of a long name; we do not. */
static bool spelt_in_full(const char *arg, const char *name)
{
    if (strncmp(arg, "--", 2) != 0)
        return true; /* a short form */
    size_t len = strcspn(arg + 2, "=");
    return strlen(name) == len && !strncmp(arg + 2, name, len);
}

static int unknown_option(const parser *p, const char *arg, int optopt_char)
{
    if (!strncmp(arg, "--", 2))
        return cli_usage_error(p->verb, "unknown option '--%.*s' (see 'flashline %s --help')",
                               (int)strcspn(arg + 2, "="), arg + 2, p->verb);
    return cli_usage_error(p->verb, "unknown option '-%c' (see 'flashline %s --help')",
                           optopt_char, p->verb);
}

static int take_value(parser *p, const char *arg, const cli_opt *o, const char *value)
{
    switch (o->kind) {
    case OPT_FLAG: *o->flag = true; return 0;
    case OPT_LIST:
        if (!list_add(o->list, value))
            return cli_early_error(p->verb, FL_ERR_INTERNAL, "out of memory");
        return 0;
    case OPT_STRING: {
        bool *seen = &p->seen[o - p->opts];
        if (*seen && strcmp(*o->str, value) != 0)
            return name_error(p, arg, o, "was given twice with different values");
        *seen = true;
        *o->str = value;
        return 0;
    }
    }
    return 0;
}

static int parse_loop(parser *p, int argc, char **argv, const char **pos, int max_pos, int *npos,
                      bool *help)
{
    optind = 0; /* glibc: start afresh, whatever an earlier parse left */
    opterr = 0; /* our messages name the verb */
    for (;;) {
        int at = optind ? optind : 1; /* the argv element getopt is about to read */
        int c = getopt_long(argc, argv, p->shortopts, p->longopts, NULL);
        if (c == -1)
            break;
        const char *arg = at < argc ? argv[at] : "";
        if (c == 1) {
            if (*npos >= max_pos)
                return cli_usage_error(p->verb, "unexpected argument '%s'", optarg);
            pos[(*npos)++] = optarg;
            continue;
        }
        if (c == '?') {
            const cli_opt *o = opt_for(p, optopt);
            if ((o || optopt == 'h') && !strncmp(arg, "--", 2))
                return name_error(p, arg, o, "takes no value");
            return unknown_option(p, arg, optopt);
        }
        if (c == ':')
            return name_error(p, arg, opt_for(p, optopt), "needs a value");
        const cli_opt *o = opt_for(p, c);
        if (!spelt_in_full(arg, o ? o->name : "help"))
            return unknown_option(p, arg, 0);
        if (!o) {
            if (help)
                *help = true;
            continue;
        }
        int rc = take_value(p, arg, o, optarg);
        if (rc)
            return rc;
    }
    /* after "--": everything left is positional */
    for (int i = optind; i < argc; i++) {
        if (*npos >= max_pos)
            return cli_usage_error(p->verb, "unexpected argument '%s'", argv[i]);
        pos[(*npos)++] = argv[i];
    }
    return 0;
}

int cli_parse(const char *verb, int argc, char **argv, const cli_opt *opts, const char **pos,
              int max_pos, int *npos, bool *help)
{
    *npos = 0;
    if (help)
        *help = false;
    parser p;
    int rc = parser_build(&p, verb, opts)
                 ? parse_loop(&p, argc, argv, pos, max_pos, npos, help)
                 : cli_early_error(verb, FL_ERR_INTERNAL, "out of memory");
    parser_free(&p);
    return rc;
}

bool cli_parse_u32(const char *s, uint32_t *out)
{
    uint64_t v;
    /* fl_parse_size would let strtoull skip leading blanks (and a sign after them) */
    if (!s || !isdigit((unsigned char)s[0]) || !fl_parse_size(s, 0, &v) || v > 0xFFFFFFFFu)
        return false;
    *out = (uint32_t)v;
    return true;
}

bool cli_parse_seconds(const char *s, double min, double max, double *out)
{
    /* digits and one point only: strtod alone would take "nan", "inf", "-1",
     * "0x1p4" and " 5" */
    if (!s || !*s || strspn(s, "0123456789.") != strlen(s) || !strpbrk(s, "0123456789") ||
        strchr(s, '.') != strrchr(s, '.'))
        return false;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (*end || errno || !isfinite(d) || !(d > min) || d > max)
        return false;
    *out = d;
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
    "  4  port or programmer missing or busy, or the link was lost\n"
    "  5  no answer from the chip: not in download mode (UART) or no SPI response /\n"
    "     SPI mode not entered (SPI programmer); check wiring, power, reset or CEN\n"
    "  6  the chip stopped answering correctly in the middle of an operation\n"
    "  7  refused: bootloader area (needs --allow-bootloader) or past the end of flash;\n"
    "     ESP: a read the ROM cannot do (ESP8266, Secure Download Mode), or a unit with\n"
    "     flash encryption or secure boot\n"
    "  8  the unit reset during the operation (brown-out? check the 3.3 V supply); rerun\n"
    "  9  internal error\n"
    "  130 interrupted (Ctrl-C or SIGTERM: stops at the next safe point; a second one\n"
    "      stops at once)\n";
