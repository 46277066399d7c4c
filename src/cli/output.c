/* output.c — progress, log lines and JSON events for the verbs.
 *
 * On a terminal: one redrawn progress line per phase with rate and ETA.
 * Not a terminal: a plain line every 10 %.  --json: one object per line on
 * stdout ({"event":"progress",...}), nothing else on stdout. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/clock.h"

/* --- JSON lines -------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at s, or 0 if it is not one
 * (overlong forms, surrogates and code points past U+10FFFF are not). */
static size_t utf8_seq_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t n = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 ? 2 : 0;
    if (n == 0 || s[0] > 0xF4)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] > 0x9F) ||
        (s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] > 0x8F))
        return 0;
    return n;
}

json_t *cli_json_text(const char *s)
{
    if (!s)
        s = "";
    json_t *j = json_string(s);
    if (j)
        return j;
    /* not UTF-8 (a file name from a Latin-1 system, garbage from a port) */
    size_t len = strlen(s);
    char *clean = malloc(len * 3 + 1), *o = clean;
    if (!clean)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = utf8_seq_len(p);
        if (n) {
            memcpy(o, p, n), o += n, p += n;
        } else {
            memcpy(o, "\xEF\xBF\xBD", 3), o += 3, p++;
        }
    }
    *o = '\0';
    j = json_string(clean);
    free(clean);
    return j;
}

static void print_line(json_t *value, size_t flags)
{
    char *line = value ? json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY | flags) : NULL;
    if (line) {
        fputs(line, stdout);
        fputc('\n', stdout);
    } else {
        /* only out of memory gets here; keep the line a JSON object all the same */
        fputs("{\"event\":\"error\",\"kind\":\"internal\",\"message\":\"cannot encode JSON\"}\n",
              stdout);
    }
    fflush(stdout);
    free(line);
    json_decref(value);
}

void cli_json_print(json_t *value)
{
    print_line(value, 0); /* data (query rows, image reports): every digit */
}

static json_t *event_object(const char *event, const char *port, json_t *fields)
{
    json_t *o = json_object();
    json_object_set_new(o, "event", json_string(event));
    json_object_set_new(o, "port", cli_json_text(port));
    if (json_is_object(fields))
        json_object_update(o, fields);
    json_decref(fields);
    return o;
}

static void print_event(const char *port, const char *event, json_t *fields)
{
    /* 10 digits: an ETA of 0.3 s is 0.3, not 0.29999999999999999 */
    print_line(event_object(event, port, fields), JSON_REAL_PRECISION(10));
}

void cli_json_event(cli_output *out, const char *event, json_t *fields)
{
    print_event(out ? out->port : NULL, event, fields);
}

/* The error event every failure under --json ends with. */
static void json_error(const char *port, const char *verb, fl_status status, int exit_code,
                       const char *msg)
{
    print_event(port, "error",
                json_pack("{s:o, s:s, s:i, s:o}", "verb", verb ? cli_json_text(verb) : json_null(),
                          "kind", fl_status_name(status), "exit", exit_code, "message",
                          cli_json_text(msg)));
}

/* --- errors before a verb's output exists ----------------------------------- */

static bool json_mode;

void cli_set_json_mode(bool on)
{
    json_mode = on;
}

bool cli_json_mode(void)
{
    return json_mode;
}

static int early_error(const char *verb, fl_status status, const char *fmt, va_list ap)
{
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    const char *text = msg ? msg : "out of memory while reporting an error";
    if (json_mode)
        json_error(NULL, verb, status, cli_exit_code(status), text);
    else
        fprintf(stderr, "flashline%s%s: %s%s\n", verb ? " " : "", verb ? verb : "",
                status == FL_ERR_USAGE ? "" : "error: ", text);
    free(msg);
    return cli_exit_code(status);
}

int cli_usage_error(const char *verb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = early_error(verb, FL_ERR_USAGE, fmt, ap);
    va_end(ap);
    return rc;
}

int cli_early_error(const char *verb, fl_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = early_error(verb, status, fmt, ap);
    va_end(ap);
    return rc;
}

/* --- human output ------------------------------------------------------------ */

static void fmt_rate(char *buf, size_t cap, double bytes_per_s)
{
    if (bytes_per_s >= 1024 * 1024)
        snprintf(buf, cap, "%.2f MiB/s", bytes_per_s / (1024 * 1024));
    else
        snprintf(buf, cap, "%.1f KiB/s", bytes_per_s / 1024);
}

static void fmt_eta(char *buf, size_t cap, double s)
{
    if (s < 0 || s > 99 * 3600)
        snprintf(buf, cap, "--:--");
    else
        snprintf(buf, cap, "%d:%02d", (int)s / 60, (int)s % 60);
}

static void json_progress(cli_output *out, const char *phase, uint64_t done, uint64_t total,
                          double rate, double eta)
{
    int percent = total ? (int)(done * 100 / total) : 100;
    if (percent == out->last_decile) /* at most one event per percent */
        return;
    out->last_decile = percent;
    cli_json_event(out, "progress",
                   json_pack("{s:o, s:I, s:I, s:I, s:f}", "phase", cli_json_text(phase), "done",
                             (json_int_t)done, "total", (json_int_t)total, "rate",
                             (json_int_t)rate, "eta_s", round(eta * 10) / 10));
}

static void start_phase(cli_output *out, const char *phase, double now)
{
    cli_output_end_phase(out);
    out->phase = strdup(phase);
    out->phase_start = now;
    out->last_decile = -1;
    out->last_draw = 0;
}

static void on_progress(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
    cli_output *out = ctx;
    double now = fl_now();
    if (!out->phase || strcmp(out->phase, phase) != 0)
        start_phase(out, phase, now);
    out->last_done = done;
    double elapsed = now - out->phase_start;
    double rate = elapsed > 0 ? (double)done / elapsed : 0;
    double eta = rate > 0 ? (double)(total - done) / rate : -1;
    if (out->json) {
        json_progress(out, phase, done, total, rate, eta);
        return;
    }
    if (out->quiet)
        return;
    char r[32], e[16];
    fmt_rate(r, sizeof r, rate);
    fmt_eta(e, sizeof e, eta);
    int pct = total ? (int)(done * 100 / total) : 100;
    if (out->tty) {
        if (now - out->last_draw < 0.1 && done != total)
            return;
        out->last_draw = now;
        int width = 30, fill = total ? (int)(done * (uint64_t)width / total) : width;
        char bar[64];
        for (int i = 0; i < width; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[width] = '\0';
        fprintf(stderr, "\r%-7s [%s] %3d%% %8llu/%llu B %s ETA %s ", phase, bar, pct,
                (unsigned long long)done, (unsigned long long)total, r, e);
        fflush(stderr);
    } else {
        int decile = pct / 10;
        if (decile == out->last_decile)
            return;
        out->last_decile = decile;
        fprintf(stderr, "%s: %d%% (%llu/%llu bytes, %s, ETA %s)\n", phase, pct,
                (unsigned long long)done, (unsigned long long)total, r, e);
    }
}

static const char *level_name(fl_log_level level)
{
    switch (level) {
    case FL_LOG_DEBUG: return "debug";
    case FL_LOG_INFO: return "info";
    case FL_LOG_WARN: return "warning";
    case FL_LOG_ERROR: return "error";
    }
    return "info";
}

static void on_log(void *ctx, fl_log_level level, const char *msg)
{
    cli_output *out = ctx;
    if (level == FL_LOG_DEBUG && !getenv("FLASHLINE_DEBUG"))
        return;
    if (out->json) {
        cli_json_event(out, "log",
                       json_pack("{s:s, s:o}", "level", level_name(level), "message",
                                 cli_json_text(msg)));
        return;
    }
    if (out->quiet && level < FL_LOG_WARN)
        return;
    if (out->tty && out->phase)
        cli_output_end_phase(out);
    if (level >= FL_LOG_WARN)
        fprintf(stderr, "%s: %s\n", level_name(level), msg);
    else
        fprintf(stderr, "%s\n", msg);
}

static void on_prompt(void *ctx, const char *msg)
{
    cli_output *out = ctx;
    if (out->json) {
        cli_json_event(out, "prompt", json_pack("{s:o}", "message", cli_json_text(msg)));
        return;
    }
    fprintf(stderr, ">>> %s\n", msg);
}

void cli_output_init(cli_output *out, bool json, const char *port)
{
    memset(out, 0, sizeof *out);
    out->json = json;
    out->tty = isatty(STDERR_FILENO);
    out->port = port;
    out->last_decile = -1;
}

fl_events cli_output_events(cli_output *out)
{
    fl_events ev = {0};
    ev.log = on_log;
    ev.progress = on_progress;
    ev.prompt = on_prompt;
    ev.ctx = out;
    return ev;
}

void cli_output_end_phase(cli_output *out)
{
    if (out->phase && out->tty && !out->json && !out->quiet)
        fputc('\n', stderr);
    free(out->phase);
    out->phase = NULL;
}

int cli_report_error_as(cli_output *out, const char *verb, const fl_error *err, int exit_code)
{
    if (out)
        cli_output_end_phase(out);
    if (out ? out->json : json_mode)
        json_error(out ? out->port : NULL, verb, err->code, exit_code, err->msg);
    else
        fprintf(stderr, "flashline %s: error: %s\n", verb, err->msg);
    return exit_code;
}

int cli_report_error(cli_output *out, const char *verb, const fl_error *err)
{
    return cli_report_error_as(out, verb, err, cli_exit_code(err->code));
}
