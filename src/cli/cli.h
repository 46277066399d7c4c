/* cli.h — what the command-line front end shares between its verbs.
 *
 * Each verb lives in cmd_<verb>.c as `int cmd_<verb>(int argc, char **argv)`
 * (argv[0] is the verb) and is listed in main.c's table.  Verbs print; the
 * library below them never does. */
#ifndef FL_CLI_CLI_H
#define FL_CLI_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "util/error.h"
#include "util/events.h"

/* Exit codes (documented in `flashline --help`). */
enum {
    EXIT_OK = 0,
    EXIT_UNIT_FAIL = 1,  /* verify mismatch, wrong chip: the unit is bad or not the expected one */
    EXIT_USAGE = 2,      /* bad command line */
    EXIT_INPUT = 3,      /* input file missing, unreadable, malformed or wrong kind */
    EXIT_LINK = 4,       /* port missing, busy, or link lost */
    EXIT_NO_BUS = 5,     /* chip never answered: not in download mode / wiring / power */
    EXIT_PROTOCOL = 6,   /* chip stopped answering correctly mid-operation */
    EXIT_REFUSED = 7,    /* refused: bootloader area, past flash end */
    EXIT_RESET = 8,      /* unit reset during the operation (brown-out): rerun */
    EXIT_INTERNAL = 9,   /* bug or out of memory */
    EXIT_CANCELLED = 130,
};

int cli_exit_code(fl_status status);
extern const char cli_exit_codes_help[];

/* --- options ---------------------------------------------------------------
 * A tiny long-option parser: "--name VALUE", "--name=VALUE", flags, and
 * positional arguments collected in order. */
typedef enum { OPT_FLAG, OPT_STRING } cli_opt_kind;

typedef struct cli_opt {
    const char *name;  /* without the leading "--" */
    cli_opt_kind kind;
    const char **str;  /* OPT_STRING: receives the value */
    bool *flag;        /* OPT_FLAG: set true */
} cli_opt;

/* Returns 0, or prints an error naming the verb and returns EXIT_USAGE.
 * Positionals go to pos[0..*npos) (at most max_pos). "-h"/"--help" sets *help. */
int cli_parse(const char *verb, int argc, char **argv, const cli_opt *opts, const char **pos,
              int max_pos, int *npos, bool *help);

/* Parse a size or address: decimal, 0x hex, with optional K/M suffix (KiB/MiB). */
bool cli_parse_u32(const char *s, uint32_t *out);

/* --- output ----------------------------------------------------------------
 * Human output goes to stderr (progress bar on a TTY, plain lines otherwise);
 * --json writes one JSON object per line on stdout instead. */
typedef struct cli_output {
    bool json;
    bool tty;
    bool quiet;
    const char *port; /* carried in every JSON event */
    double phase_start;
    char phase[32];
    uint64_t last_done;
    int last_decile;
    double last_draw;
} cli_output;

void cli_output_init(cli_output *out, bool json, const char *port);
fl_events cli_output_events(cli_output *out);
/* Finish a progress line (newline on a TTY). */
void cli_output_end_phase(cli_output *out);
/* One JSON event line {"event":..., "port":..., <fields>} where fields is a
 * preformatted JSON fragment without braces (may be NULL). */
void cli_json_event(cli_output *out, const char *event, const char *fields);
/* Report a failed verb: human line on stderr or a JSON "error" event. */
int cli_report_error(cli_output *out, const char *verb, const fl_error *err);
void cli_json_escape(char *dst, size_t cap, const char *src);

/* --- verbs -------------------------------------------------------------- */
int cmd_info(int argc, char **argv);
int cmd_read(int argc, char **argv);
int cmd_write(int argc, char **argv);
int cmd_erase(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_ports(int argc, char **argv);
int cmd_sim(int argc, char **argv);
int cmd_lua(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_tuya(int argc, char **argv);
int cmd_image(int argc, char **argv);
int cmd_query(int argc, char **argv);

#endif
