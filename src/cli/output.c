/* output.c — progress, log lines and JSON events for the verbs.
 *
 * On a terminal: one redrawn progress line per phase with rate and ETA, fitted
 * to the terminal's width and refitted after a resize; only for phases that
 * move data for more than a moment.  Not a terminal: a plain line at each
 * quarter (or every PLAIN_EVERY_S), never a carriage return.  --json: one
 * object per line on stdout ({"event":"progress",...}), nothing else on stdout. */
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
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

/* A phase earns a progress display once it has moved data for this long, or
 * earlier when what is left is predicted to take PREDICT_S more: a 4 KiB read
 * during `info` or a CRC check during verify never shows a bar. */
#define SHOW_AFTER_S 0.5
#define PREDICT_AFTER_S 0.1
#define PREDICT_S 1.0
#define REDRAW_S 0.1      /* at most ten redraws a second on a terminal */
#define PLAIN_EVERY_S 10  /* not a terminal: a line at each quarter, or this often */
#define MIN_BAR 10        /* narrower than this, the bar says nothing: dropped */
#define MAX_BAR 40
#define MAX_NAME 16       /* bytes of a phase name shown (Lua steps name their own) */

static volatile sig_atomic_t resizes; /* SIGWINCH received so far */

static void on_winch(int sig)
{
    (void)sig;
    resizes++; /* only the handler writes it */
}

int cli_resizes(void)
{
    return resizes;
}

/* SA_RESTART: a resize must not fail a read on the serial line; the links
 * retry their polls after EINTR anyway. */
void cli_follow_resizes(void)
{
    static bool installed;
    if (installed)
        return;
    installed = true;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_winch;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGWINCH, &sa, NULL);
}

int cli_terminal_width(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    const char *env = getenv("COLUMNS");
    char *end;
    long cols = env ? strtol(env, &end, 10) : 0;
    if (env && *env && !*end && cols > 0 && cols <= 10000)
        return (int)cols;
    return 80;
}

bool cli_use_color(FILE *stream)
{
    const char *no_color = getenv("NO_COLOR"), *term = getenv("TERM");
    if ((no_color && *no_color) || (term && !strcmp(term, "dumb")))
        return false;
    return isatty(fileno(stream));
}

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

static void fmt_amount(char *buf, size_t cap, uint64_t done, uint64_t total)
{
    if (total >= 1024 * 1024)
        snprintf(buf, cap, "%.2f/%.2f MiB", done / 1048576.0, total / 1048576.0);
    else if (total >= 1024)
        snprintf(buf, cap, "%llu/%llu KiB", (unsigned long long)(done / 1024),
                 (unsigned long long)(total / 1024));
    else
        snprintf(buf, cap, "%llu/%llu B", (unsigned long long)done, (unsigned long long)total);
}

/* The phase name as one safe run of printable bytes: a name from a Lua step
 * may hold control characters that would move the cursor and break the
 * line's accounting.  Cut at a character boundary. */
static void safe_name(char *buf, const char *phase)
{
    size_t n = 0;
    for (; phase[n] && n < MAX_NAME; n++)
        buf[n] = (unsigned char)phase[n] < 0x20 || phase[n] == 0x7F ? '?' : phase[n];
    if (((unsigned char)phase[n] & 0xC0) == 0x80) { /* cut inside a character: drop it */
        while (n > 0 && ((unsigned char)buf[n - 1] & 0xC0) == 0x80)
            n--;
        if (n > 0)
            n--; /* its lead byte */
    }
    buf[n] = '\0';
}

/* What one progress line says, before it is fitted to a width. */
typedef struct {
    char name[MAX_NAME + 1];
    int pct;
    double fraction;
    char amount[48], rate[32], eta[24]; /* empty = not known */
} progress_text;

static progress_text describe(const cli_output *out, double now)
{
    progress_text t = {0};
    safe_name(t.name, out->phase);
    uint64_t done = out->last_done > out->total ? out->total : out->last_done;
    t.pct = (int)(done * 100 / out->total);
    t.fraction = (double)done / (double)out->total;
    fmt_amount(t.amount, sizeof t.amount, done, out->total);
    double elapsed = now - out->phase_start;
    uint64_t moved = done > out->first_done ? done - out->first_done : 0;
    if (moved > 0 && elapsed >= PREDICT_AFTER_S) {
        double rate = (double)moved / elapsed;
        fmt_rate(t.rate, sizeof t.rate, rate);
        if (done < out->total) {
            char e[16];
            fmt_eta(e, sizeof e, (double)(out->total - done) / rate);
            snprintf(t.eta, sizeof t.eta, "ETA %s", e);
        }
    }
    return t;
}

static int compose(char *line, size_t cap, const progress_text *t, int bar, bool amount,
                   bool rate, bool eta)
{
    char b[MAX_BAR + 4] = "";
    if (bar > 0) {
        int fill = (int)(t->fraction * bar);
        b[0] = '[';
        for (int i = 0; i < bar; i++)
            b[1 + i] = i < fill ? '#' : '.';
        memcpy(b + 1 + bar, "] ", 3);
    }
    rate = rate && t->rate[0];
    eta = eta && t->eta[0];
    return snprintf(line, cap, "%-7s %s%3d%%%s%s%s%s%s%s", t->name, b, t->pct, amount ? "  " : "",
                    amount ? t->amount : "", rate ? "  " : "", rate ? t->rate : "",
                    eta ? "  " : "", eta ? t->eta : "");
}

/* The widest text the phase can show: the layout is chosen for it, so the
 * bar keeps its width while the numbers change and the ETA comes and goes. */
static progress_text widest(const progress_text *t, uint64_t total)
{
    progress_text w = *t;
    w.pct = 100;
    fmt_amount(w.amount, sizeof w.amount, total, total);
    if (t->rate[0]) {
        snprintf(w.rate, sizeof w.rate, "9999.9 KiB/s");
        snprintf(w.eta, sizeof w.eta, "ETA 99:59");
    }
    return w;
}

/* The line fitted to cols - 1 columns (the last column is left free: a line
 * that fills it leaves terminals in a pending-wrap state they treat
 * differently).  Given up in this order: the byte counts, the bar (below
 * MIN_BAR), the ETA, the rate; then the text is cut. */
static int fit_line(char *line, size_t cap, const progress_text *t, uint64_t total, int cols)
{
    static const bool keep[][3] = {/* amount, rate, eta */
                                   {1, 1, 1}, {0, 1, 1}, {0, 1, 1}, {0, 1, 0}, {0, 0, 0}};
    progress_text w = widest(t, total);
    int room = cols - 1, len = 0;
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        bool with_bar = i < 2;
        int need = compose(line, cap, &w, 0, keep[i][0], keep[i][1], keep[i][2]);
        int bar = room - need - 3; /* "[" bar "] " */
        if (bar > MAX_BAR)
            bar = MAX_BAR;
        if (with_bar && bar < MIN_BAR)
            continue;
        if (!with_bar && need > room)
            continue;
        len = compose(line, cap, t, with_bar ? bar : 0, keep[i][0], keep[i][1], keep[i][2]);
        if (len <= room)
            return len;
    }
    len = compose(line, cap, t, 0, false, false, false);
    if (room < 1)
        room = 1;
    if (len > room) { /* narrower than any layout: cut, never inside a character */
        len = room;
        while (len > 0 && ((unsigned char)line[len] & 0xC0) == 0x80)
            len--;
        line[len] = '\0';
    }
    return len;
}

/* Rows the line on screen takes at the current width: after a terminal gets
 * narrower it rewraps the old line (tmux, VTE, kitty, iTerm2, Windows
 * Terminal do), and the cursor sits on its last row. */
static int drawn_rows(const cli_output *out)
{
    return out->drawn_len <= 0 ? 0 : (out->drawn_len - 1) / (out->width > 0 ? out->width : 1) + 1;
}

/* The escape sequence that takes the cursor back to where the progress line
 * starts, for the text that replaces it. */
static void line_start(const cli_output *out, char *buf, size_t cap)
{
    int rows = drawn_rows(out);
    if (rows > 1)
        snprintf(buf, cap, "\r\033[%dA", rows - 1);
    else
        snprintf(buf, cap, "\r");
}

static void refresh_width(cli_output *out)
{
    if (out->resize_seen != resizes || out->width == 0) {
        out->resize_seen = resizes;
        out->width = cli_terminal_width();
    }
}

/* Make room for a log line or a prompt: a finished phase keeps its line; an
 * unfinished one is taken off the screen and the next progress event draws
 * it again below the message. */
static void erase_progress(cli_output *out)
{
    if (out->drawn_len <= 0)
        return;
    if (out->last_done >= out->total) {
        cli_output_end_phase(out);
        return;
    }
    refresh_width(out);
    char start[24];
    line_start(out, start, sizeof start);
    fprintf(stderr, "%s\033[J", start);
    fflush(stderr);
    out->drawn_len = 0;
}

static void draw_bar(cli_output *out, double now)
{
    refresh_width(out);
    progress_text t = describe(out, now);
    char line[512], start[24], all[560];
    int len = fit_line(line, sizeof line, &t, out->total, out->width);
    line_start(out, start, sizeof start);
    /* one write: start of the old line, the new text, the rest of the old one cleared */
    snprintf(all, sizeof all, "%s%s%s", start, line, drawn_rows(out) > 1 ? "\033[J" : "\033[K");
    fputs(all, stderr);
    fflush(stderr);
    out->drawn_len = len;
    out->drawn_done = out->last_done;
    out->last_draw = now;
}

static void plain_line(cli_output *out, double now)
{
    progress_text t = describe(out, now);
    fprintf(stderr, "%s: %d%% (%s%s%s%s%s)\n", t.name, t.pct, t.amount, t.rate[0] ? ", " : "",
            t.rate, t.eta[0] ? ", " : "", t.eta);
    out->drawn_done = out->last_done;
    out->last_draw = now;
}

/* Whether the phase has earned its display: data moved (a phase whose only
 * event says "done" transferred nothing worth a bar), for SHOW_AFTER_S or with
 * PREDICT_S still to go. */
static bool worth_showing(cli_output *out, double now)
{
    if (out->shown)
        return true;
    uint64_t moved = out->last_done > out->first_done ? out->last_done - out->first_done : 0;
    if (out->total == 0 || moved == 0)
        return false;
    double elapsed = now - out->phase_start;
    bool predicted_long = false;
    if (elapsed >= PREDICT_AFTER_S && out->last_done < out->total)
        predicted_long = (double)(out->total - out->last_done) / ((double)moved / elapsed) >=
                         PREDICT_S;
    out->shown = elapsed >= SHOW_AFTER_S || predicted_long;
    return out->shown;
}

static void show_progress(cli_output *out, double now)
{
    bool final = out->last_done >= out->total;
    if (out->tty) {
        bool resized = out->resize_seen != resizes;
        if (out->drawn_len > 0 && !final && !resized && now - out->last_draw < REDRAW_S)
            return;
        if (out->drawn_len > 0 && out->drawn_done == out->last_done && !resized)
            return;
        draw_bar(out, now);
        return;
    }
    int quarter = (int)(out->last_done * 4 / out->total);
    if (out->drawn_done == out->last_done && out->last_decile >= 0)
        return;
    if (quarter <= out->last_decile && now - out->last_draw < PLAIN_EVERY_S)
        return;
    out->last_decile = quarter;
    plain_line(out, now);
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

static void start_phase(cli_output *out, const char *phase, uint64_t done, double now)
{
    cli_output_end_phase(out);
    out->phase = strdup(phase);
    out->phase_start = now;
    out->last_decile = -1;
    out->last_draw = 0;
    out->first_done = done;
    out->drawn_done = 0;
    out->shown = false;
}

/* A finished phase followed by an event of the same name that starts over
 * (another total, or less done) is a new operation, not more of the old one:
 * a recipe's flash step reads 4 KiB after its backup step read the whole
 * flash, and that read must be judged (and timed) on its own. */
static bool starts_over(const cli_output *out, uint64_t done, uint64_t total)
{
    return out->total && out->last_done >= out->total &&
           (total != out->total || done < out->last_done);
}

static void on_progress(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
    cli_output *out = ctx;
    double now = fl_now();
    if (!phase)
        phase = "";
    if (!out->phase || strcmp(out->phase, phase) != 0 || starts_over(out, done, total))
        start_phase(out, phase, done, now);
    if (!out->phase) /* out of memory: no display rather than a crash */
        return;
    out->last_done = done;
    out->total = total;
    if (out->json) {
        double elapsed = now - out->phase_start;
        double rate = elapsed > 0 ? (double)done / elapsed : 0;
        double eta = rate > 0 ? (double)(total - done) / rate : -1;
        json_progress(out, phase, done, total, rate, eta);
        return;
    }
    if (out->quiet || !worth_showing(out, now))
        return;
    show_progress(out, now);
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
    erase_progress(out);
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
    erase_progress(out);
    fprintf(stderr, ">>> %s\n", msg);
}

void cli_output_init(cli_output *out, bool json, const char *port)
{
    memset(out, 0, sizeof *out);
    out->json = json;
    const char *term = getenv("TERM");
    out->tty = isatty(STDERR_FILENO) && !(term && !strcmp(term, "dumb"));
    out->port = port;
    out->last_decile = -1;
    if (out->tty && !json)
        cli_follow_resizes();
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
    if (out->phase && out->drawn_len > 0) {
        if (out->drawn_done != out->last_done) /* the last events were throttled */
            draw_bar(out, fl_now());
        fputc('\n', stderr);
        out->drawn_len = 0;
    } else if (out->phase && out->shown && !out->tty && !out->json && !out->quiet &&
               out->drawn_done != out->last_done && out->total) {
        plain_line(out, fl_now()); /* where a failed phase stopped */
    }
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
