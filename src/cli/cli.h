/* cli.h — what the command-line front end shares between its verbs.
 *
 * Each verb lives in cmd_<verb>.c as `int cmd_<verb>(int argc, char **argv)`
 * (argv[0] is the verb) and is listed in main.c's table.  Verbs print; the
 * library below them never does. */
#ifndef FL_CLI_CLI_H
#define FL_CLI_CLI_H

#include <jansson.h>
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
 * getopt_long underneath: "--name VALUE", "--name=VALUE", short forms "-p URL"
 * and "-pURL" where a table entry names one, flags, repeatable options, and
 * "--" ending the options (later arguments are positional even if they start
 * with '-').  Positional arguments are collected in order.  Long names must be
 * spelt in full: an abbreviation is refused (a production line should never
 * run "--allow" as "--allow-bootloader"). */
typedef enum { OPT_FLAG, OPT_STRING, OPT_LIST } cli_opt_kind;

/* The values of a repeatable option, in command-line order.  The strings
 * point into argv; only `items` is allocated (cli_list_free). */
typedef struct cli_list {
    const char **items;
    size_t n;
} cli_list;

void cli_list_free(cli_list *l);

/* Tables list only the fields an entry needs, e.g. {"json", OPT_FLAG, NULL, &json}
 * or {"port", OPT_STRING, &port, NULL, 'p'}: the rest are zero, as C says, so
 * -Wextra's reminder about them is switched off for the CLI. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

typedef struct cli_opt {
    const char *name;  /* without the leading "--" */
    cli_opt_kind kind;
    const char **str;  /* OPT_STRING: receives the value (the last one given wins) */
    bool *flag;        /* OPT_FLAG: set true */
    char short_name;   /* optional: -X form (0 = none; 'h' is always --help) */
    cli_list *list;    /* OPT_LIST: every value is appended */
} cli_opt;

/* Returns 0, or reports a usage error naming the verb (a JSON "error" event
 * under --json, see cli_usage_error) and returns EXIT_USAGE.  Positionals go
 * to pos[0..*npos) (at most max_pos).  "-h"/"--help" sets *help.  argv is not
 * reordered.  The caller frees the cli_list of every OPT_LIST option, also
 * when parsing fails. */
int cli_parse(const char *verb, int argc, char **argv, const cli_opt *opts, const char **pos,
              int max_pos, int *npos, bool *help);

/* Parse a size or address: decimal, 0x hex, with optional K/M suffix (KiB/MiB).
 * No sign, no blanks, no junk. */
bool cli_parse_u32(const char *s, uint32_t *out);
/* Parse a duration in seconds: a finite decimal number with min < value <= max
 * (so "nan", "inf", "-1", "1e999" and "5s" are all refused). */
bool cli_parse_seconds(const char *s, double min, double max, double *out);

/* --- errors before a verb has its output set up ------------------------------
 * main() pre-scans argv for --json (up to "--") before the verb parses, so a
 * usage error or an early error (file missing, bad port) comes out as a JSON
 * "error" event on stdout under --json, and as one line on stderr otherwise. */
void cli_set_json_mode(bool on);
bool cli_json_mode(void);
/* Report a usage error: "flashline VERB: <message>".  Returns EXIT_USAGE. */
int cli_usage_error(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Report any early failure (status decides the exit code and "kind").  Returns the exit code. */
int cli_early_error(const char *verb, fl_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* --- output ----------------------------------------------------------------
 * Human output goes to stderr: on a terminal one progress line per phase,
 * laid out for the terminal's width (re-read after SIGWINCH) and shown only
 * once a phase has moved data for long enough to matter; not a terminal (or
 * TERM=dumb): occasional plain lines, never a carriage return.  --json writes
 * one JSON object per line on stdout instead, every one built with jansson. */
typedef struct cli_output {
    bool json;
    bool tty; /* stderr is a terminal that understands \r and erase-line */
    bool quiet;
    const char *port; /* carried in every JSON event */
    double phase_start;
    char *phase;      /* the progress phase being shown (owned; NULL = none) */
    uint64_t last_done;
    int last_decile;  /* --json: last percent sent; plain lines: last quarter printed */
    double last_draw;
    uint64_t first_done; /* done at the phase's first event: the rate counts from there */
    uint64_t total;
    bool shown;          /* this phase earned its progress display (ran long enough) */
    uint64_t drawn_done; /* done as last shown */
    int width;           /* terminal columns the progress line is laid out for (0 = not read) */
    int resize_seen;     /* cli_resizes() when width was read */
    int drawn_len;       /* columns of the progress line on screen (0 = none) */
} cli_output;

void cli_output_init(cli_output *out, bool json, const char *port);
fl_events cli_output_events(cli_output *out);
/* Finish a progress line (newline on a TTY). */
void cli_output_end_phase(cli_output *out);
/* The terminal's columns: stderr's, else $COLUMNS, else 80. */
int cli_terminal_width(void);
/* From now on count terminal resizes (SIGWINCH, SA_RESTART); cli_resizes()
 * is the count: a drawer that remembers it knows when to read the width again. */
void cli_follow_resizes(void);
int cli_resizes(void);
/* Whether to colour text written to stream: a terminal, NO_COLOR unset or
 * empty (https://no-color.org) and TERM not "dumb". */
bool cli_use_color(FILE *stream);
/* One JSON event line {"event":EVENT,"port":PORT,<fields>} on stdout, flushed.
 * fields is a JSON object whose members follow in order (may be NULL); the
 * call takes the reference (json_pack(...) can be passed straight in). */
void cli_json_event(cli_output *out, const char *event, json_t *fields);
/* Print one JSON value as a compact line on stdout and flush; takes the reference. */
void cli_json_print(json_t *value);
/* A JSON string for any C text: bytes that are not UTF-8 become U+FFFD, so a
 * file name or a device description never makes a field disappear. */
json_t *cli_json_text(const char *s);
/* Report a failed verb: human line on stderr or a JSON "error" event. */
int cli_report_error(cli_output *out, const char *verb, const fl_error *err);
/* The same for a verb whose exit code is not cli_exit_code(err->code) (the JSON
 * "exit" field must be the real one); out may be NULL before the output exists. */
int cli_report_error_as(cli_output *out, const char *verb, const fl_error *err, int exit_code);

/* --- stopping --------------------------------------------------------------
 * Ctrl-C and SIGTERM set a flag that fl_events.cancelled reads (stop.c). */
void cli_stop_on_signals(void);
int cli_stop_requested(void *ctx);

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
int cmd_obk_config(int argc, char **argv);
int cmd_image(int argc, char **argv);
int cmd_query(int argc, char **argv);
int cmd_firmware(int argc, char **argv);

#endif
