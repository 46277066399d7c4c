/* run_many.c — `flashline run RECIPE --port A --port B ...`: one worker per
 * port (station/batch.h) and one writer for everything they report.
 *
 * Three ways out, chosen once:
 *   --json        one JSON object per line on stdout, each event whole (a
 *                 mutex: no two workers' lines ever interleave), every one
 *                 carrying its port; a "batch" event ends the run;
 *   a terminal    the live view: one line per port (port, unit, step,
 *                 progress bar fitted to the terminal width, rate, last
 *                 outcome, units done) and a footer with the counts and
 *                 units per hour, redrawn in place (at most 10 times a
 *                 second, and at once on a step or an outcome); warnings
 *                 and errors are printed above it; a resize is followed;
 *                 NO_COLOR honoured;
 *   otherwise     plain lines, each prefixed with its port's label.
 * Then one result line per port, and the exit code of the worst outcome. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/run_many.h"
#include "station/batch.h"
#include "util/clock.h"

#define REDRAW_S 0.1
#define PLAIN_AFTER_S 0.5 /* plain progress lines only for a phase that has run this long */
#define MIN_BAR 8

typedef struct many many;

typedef struct port_view {
    many *m;
    size_t index;
    const char *port;
    char label[48];       /* "2 sim:bk7231n" / "1 /dev/ttyUSB0": unique by its number */
    cli_output out;       /* the JSON writer for this port */
    fl_events ev;
    /* live state (under m->lock) */
    char step[32];
    char phase[16];
    uint64_t done, total;
    double phase_t0;
    int last_quarter;     /* plain lines: the last 25 % mark printed */
    bool phase_shown;     /* plain lines: this phase has printed one */
    const char *outcome;  /* "" while running */
    char unit[64];
    bool finished;
    unsigned units;       /* units ended on this port */
} port_view;

struct many {
    pthread_mutex_t lock;
    bool json, tty, color, loop;
    const char *recipe;
    int rc;               /* the worst port's exit code so far */
    fl_outcome worst;     /* and its outcome */
    size_t n;
    port_view *pv;
    int drawn;            /* lines of the view on screen */
    int *drawn_len;       /* their visible lengths (n + 1: the footer last) */
    double last_draw, t0;
    unsigned counts[5];   /* by fl_outcome */
    int width;            /* terminal columns (0 = not read yet) ... */
    int resize_seen;      /* ... as of this many resizes (output.c counts them) */
};

static int term_width(many *m)
{
    if (!m->width || m->resize_seen != cli_resizes()) {
        m->resize_seen = cli_resizes();
        m->width = cli_terminal_width();
    }
    return m->width;
}

/* "sim:bk7231n?flash=..." is long and the options say little at a glance. */
static void make_label(port_view *pv)
{
    size_t cut = strcspn(pv->port, "?");
    snprintf(pv->label, sizeof pv->label, "%zu %.*s", pv->index + 1, (int)(cut > 40 ? 40 : cut),
             pv->port);
}

/* ---- the live view ------------------------------------------------------------ */

static const char *outcome_color(const many *m, const char *outcome)
{
    if (!m->color || !outcome || !*outcome)
        return "";
    return !strcmp(outcome, "PASS") ? "\033[1;32m" : !strcmp(outcome, "FAIL") ? "\033[1;31m"
                                                                              : "\033[1;33m";
}

static void format_rate(char *out, size_t cap, const port_view *pv)
{
    double dt = fl_now() - pv->phase_t0;
    if (!pv->total || dt < 0.5 || !pv->done) {
        snprintf(out, cap, "%s", "");
        return;
    }
    snprintf(out, cap, "%.1f KiB/s", (double)pv->done / dt / 1024.0);
}

/* Column widths: full at 72 columns and more, compact below. */
typedef struct columns {
    int label, unit, step;
} columns;

static columns columns_for(int width)
{
    return width >= 72 ? (columns){16, 17, 12} : (columns){8, 8, 9};
}

/* One port's line as plain text, at most width - 1 columns (the last column
 * of a terminal line wraps on some terminals): label, unit (its end when the
 * column is narrow: a MAC's last bytes tell units apart), step, then while
 * running a bar in the room left, percent and rate; the outcome at the end,
 * from *outcome_at (-1: not shown). */
static void format_port(const port_view *pv, int width, char *line, size_t cap, int *outcome_at)
{
    columns c = columns_for(width);
    const char *unit = pv->unit[0] ? pv->unit : "-";
    size_t ulen = strlen(unit);
    if ((int)ulen > c.unit)
        unit += ulen - (size_t)c.unit;
    char mid[48] = "", rate[24];
    if (!pv->finished && pv->total) {
        format_rate(rate, sizeof rate, pv);
        snprintf(mid, sizeof mid, " %3d%% %s", (int)(pv->done * 100 / pv->total), rate);
    }
    const char *outcome = pv->outcome ? pv->outcome : "";
    int n = snprintf(line, cap, "%-*.*s %-*s %-*.*s", c.label, c.label, pv->label, c.unit, unit,
                     c.step, c.step, pv->finished ? "done" : pv->step[0] ? pv->step : "-");
    int room = width - 1 - n - (int)strlen(mid) - 1 - (int)strlen(outcome);
    if (room - 3 >= MIN_BAR && pv->total && !pv->finished) {
        int bar = room - 3, fill = (int)((double)bar * (double)pv->done / (double)pv->total);
        n += snprintf(line + n, cap - (size_t)n, " [");
        for (int i = 0; i < bar && (size_t)n + 2 < cap; i++)
            line[n++] = i < fill ? '#' : '.';
        n += snprintf(line + n, cap - (size_t)n, "]");
    }
    n += snprintf(line + n, cap - (size_t)n, "%s ", mid);
    if (pv->m->loop) /* units done on this port, before the last one's outcome */
        n += snprintf(line + n, cap - (size_t)n, "#%u ", pv->units);
    *outcome_at = n;
    snprintf(line + n, cap - (size_t)n, "%s", outcome);
    if (width - 1 >= 0 && strlen(line) > (size_t)(width - 1)) {
        line[width - 1 > 0 ? width - 1 : 0] = '\0';
        if (*outcome_at >= width - 1)
            *outcome_at = -1;
    }
}

/* Print a port's line; returns its visible length. */
static int draw_port(const many *m, const port_view *pv, int width)
{
    char line[512];
    int at;
    format_port(pv, width, line, sizeof line, &at);
    const char *oc = outcome_color(m, pv->outcome);
    fputs("\r\033[K", stderr);
    if (*oc && at >= 0)
        fprintf(stderr, "%.*s%s%s\033[0m", at, line, oc, line + at);
    else
        fputs(line, stderr);
    return (int)strlen(line);
}

static int draw_footer(const many *m, int width)
{
    unsigned done = m->counts[FL_OUTCOME_PASS] + m->counts[FL_OUTCOME_FAIL] +
                    m->counts[FL_OUTCOME_ERROR] + m->counts[FL_OUTCOME_ABORTED];
    double hours = (fl_now() - m->t0) / 3600.0;
    char line[200];
    snprintf(line, sizeof line, "PASS %u  FAIL %u  ERROR %u  ABORTED %u   %.0f units/h   %d:%02d",
             m->counts[FL_OUTCOME_PASS], m->counts[FL_OUTCOME_FAIL], m->counts[FL_OUTCOME_ERROR],
             m->counts[FL_OUTCOME_ABORTED], hours > 0 ? done / hours : 0.0,
             (int)(hours * 60), (int)(hours * 3600) % 60);
    if ((int)strlen(line) > width - 1)
        line[width - 1 > 0 ? width - 1 : 0] = '\0';
    fprintf(stderr, "\r\033[K%s", line);
    return (int)strlen(line);
}

/* Rows the view takes now: a terminal that reflows on a resize (most do,
 * tmux too) wraps each old line over ceil(len / width) rows. */
static int view_rows(const many *m, int width)
{
    int rows = 0;
    for (int i = 0; i < m->drawn; i++)
        rows += m->drawn_len[i] > 0 && width > 0 ? (m->drawn_len[i] + width - 1) / width : 1;
    return rows;
}

/* Back to the first row of the view, and clear from there down. */
static void erase_view(many *m, int width)
{
    int rows = view_rows(m, width);
    if (rows > 1)
        fprintf(stderr, "\033[%dA", rows - 1);
    if (m->drawn)
        fputs("\r\033[J", stderr);
    m->drawn = 0;
}

/* Redraw in place (at most every REDRAW_S unless `now`). */
static void draw(many *m, bool now)
{
    double t = fl_now();
    if (!now && t - m->last_draw < REDRAW_S)
        return;
    m->last_draw = t;
    int width = term_width(m);
    erase_view(m, width);
    for (size_t i = 0; i < m->n; i++) {
        m->drawn_len[i] = draw_port(m, &m->pv[i], width);
        fputc('\n', stderr);
    }
    m->drawn_len[m->n] = draw_footer(m, width);
    m->drawn = (int)m->n + 1;
    fflush(stderr);
}

/* Clear the view so a line can be printed above it (the next draw puts it back). */
static void clear_view(many *m)
{
    erase_view(m, term_width(m));
}

/* ---- the workers' events --------------------------------------------------------- */

static void pv_log(void *ctx, fl_log_level level, const char *msg)
{
    port_view *pv = ctx;
    many *m = pv->m;
    if (level == FL_LOG_DEBUG && !getenv("FLASHLINE_DEBUG"))
        return;
    pthread_mutex_lock(&m->lock);
    if (m->json) {
        fl_events e = cli_output_events(&pv->out);
        e.log(e.ctx, level, msg);
    } else if (m->tty) {
        if (level >= FL_LOG_WARN) {
            clear_view(m);
            fprintf(stderr, "[%s] %s: %s\n", pv->label, level == FL_LOG_WARN ? "warning" : "error",
                    msg);
            draw(m, true);
        }
    } else {
        fprintf(stderr, "[%s] %s%s\n", pv->label,
                level == FL_LOG_WARN ? "warning: " : level == FL_LOG_ERROR ? "error: " : "", msg);
    }
    pthread_mutex_unlock(&m->lock);
}

static void pv_progress(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
    port_view *pv = ctx;
    many *m = pv->m;
    pthread_mutex_lock(&m->lock);
    if (strncmp(pv->phase, phase, sizeof pv->phase - 1) != 0) {
        snprintf(pv->phase, sizeof pv->phase, "%s", phase);
        pv->phase_t0 = fl_now();
        pv->last_quarter = -1;
        pv->phase_shown = false;
    }
    pv->done = done;
    pv->total = total;
    if (m->json) {
        fl_events e = cli_output_events(&pv->out);
        e.progress(e.ctx, phase, done, total);
    } else if (m->tty) {
        draw(m, false);
    } else if (total) {
        /* as a single run's plain lines: nothing for a moment's work (a phase
         * shows once it has run 0.5 s), then each quarter, and its end */
        int q = (int)(done * 4 / total);
        bool long_enough = fl_now() - pv->phase_t0 >= PLAIN_AFTER_S;
        if (q != pv->last_quarter && q > 0 && (long_enough || (q == 4 && pv->phase_shown))) {
            pv->last_quarter = q;
            pv->phase_shown = true;
            fprintf(stderr, "[%s] %s %d%%\n", pv->label, phase, q * 25);
        }
    }
    pthread_mutex_unlock(&m->lock);
}

static void pv_prompt(void *ctx, const char *msg)
{
    port_view *pv = ctx;
    many *m = pv->m;
    pthread_mutex_lock(&m->lock);
    if (m->json) {
        fl_events e = cli_output_events(&pv->out);
        e.prompt(e.ctx, msg);
    } else {
        if (m->tty)
            clear_view(m);
        fprintf(stderr, "[%s] >>> %s\n", pv->label, msg);
        if (m->tty)
            draw(m, true);
    }
    pthread_mutex_unlock(&m->lock);
}

static void pv_step(void *ctx, size_t i, size_t n, const char *name, const char *unit)
{
    port_view *pv = ctx;
    many *m = pv->m;
    pthread_mutex_lock(&m->lock);
    snprintf(pv->unit, sizeof pv->unit, "%s", unit);
    snprintf(pv->step, sizeof pv->step, "%zu/%zu %s", i + 1, n, name);
    pv->total = pv->done = 0;
    pv->phase[0] = '\0';
    if (m->tty && !m->json)
        draw(m, true);
    pthread_mutex_unlock(&m->lock);
}

static const fl_events *events_for(void *ctx, size_t i)
{
    many *m = ctx;
    return &m->pv[i].ev;
}

static int port_exit(const fl_batch_result *r);
static int exit_rank(int code);
static void print_port_result(many *m, const port_view *pv, const fl_batch_result *r,
                              const char *recipe);

static void on_done(void *ctx, size_t i, const fl_batch_result *r)
{
    many *m = ctx;
    port_view *pv = &m->pv[i];
    pthread_mutex_lock(&m->lock);
    fl_outcome o = r->status ? FL_OUTCOME_ERROR : r->res.outcome;
    m->counts[o]++;
    pv->units++;
    pv->outcome = r->res.refused_repeat ? "REPEAT" : fl_outcome_name(o);
    pv->finished = true;
    snprintf(pv->unit, sizeof pv->unit, "%s", r->res.unit);
    int code = port_exit(r);
    if (exit_rank(code) > exit_rank(m->rc)) {
        m->rc = code;
        m->worst = o;
    }
    if (m->loop) { /* every unit's result as it ends: a loop runs all shift */
        if (m->tty && !m->json)
            clear_view(m);
        print_port_result(m, pv, r, m->recipe);
        fflush(stdout);
    }
    if (m->tty && !m->json)
        draw(m, true);
    pthread_mutex_unlock(&m->lock);
}

/* Loop mode: port i between units. */
static void on_idle(void *ctx, size_t i, const char *state)
{
    many *m = ctx;
    port_view *pv = &m->pv[i];
    pthread_mutex_lock(&m->lock);
    bool changed = strncmp(pv->step, state, sizeof pv->step - 1) != 0;
    snprintf(pv->step, sizeof pv->step, "%s", state);
    if (*state) {
        pv->finished = false;
        pv->total = pv->done = 0;
    }
    if (m->json && changed && *state)
        cli_json_event(&pv->out, "idle", json_pack("{s:o}", "state", cli_json_text(state)));
    else if (m->tty && !m->json)
        draw(m, true);
    else if (!m->json && changed && *state)
        fprintf(stderr, "[%s] %s\n", pv->label, state);
    pthread_mutex_unlock(&m->lock);
}

/* ---- results ----------------------------------------------------------------------- */

/* A port's exit code, as a single run's (cmd_run.c): 7 for a unit refused
 * because it already PASSed the recipe. */
static int port_exit(const fl_batch_result *r)
{
    if (r->status)
        return 10;
    if (r->res.refused_repeat)
        return EXIT_REFUSED;
    switch (r->res.outcome) {
    case FL_OUTCOME_PASS: return EXIT_OK;
    case FL_OUTCOME_FAIL: return EXIT_UNIT_FAIL;
    case FL_OUTCOME_ABORTED: return EXIT_CANCELLED;
    default: return 10;
    }
}

/* The batch's exit code is the worst port's: an operator stop, then a
 * station ERROR, a refused repeat, a FAIL, PASS. */
static int exit_rank(int code)
{
    switch (code) {
    case EXIT_OK: return 0;
    case EXIT_UNIT_FAIL: return 1;
    case EXIT_REFUSED: return 2;
    case 10: return 3;
    default: return 4;
    }
}

static void print_port_result(many *m, const port_view *pv, const fl_batch_result *r,
                              const char *recipe)
{
    fl_outcome o = r->status ? FL_OUTCOME_ERROR : r->res.outcome;
    const char *msg = r->status ? r->err.msg : r->res.message;
    if (m->json) {
        cli_json_event((cli_output *)&pv->out, "result",
                       json_pack("{s:s, s:I, s:o, s:I, s:o, s:o, s:f, s:b}", "outcome",
                                 fl_outcome_name(o), "run_id", (json_int_t)r->res.run_id, "unit",
                                 cli_json_text(r->res.unit), "steps_run",
                                 (json_int_t)r->res.steps_run, "failed_step",
                                 cli_json_text(r->res.failed_step), "message", cli_json_text(msg),
                                 "seconds", r->seconds, "refused_repeat",
                                 (int)r->res.refused_repeat));
        return;
    }
    const char *oc = outcome_color(m, fl_outcome_name(o));
    printf("%s%s%s  [%s]  unit %s  run #%lld  (%s, %.1f s)%s%s\n", oc, fl_outcome_name(o),
           *oc ? "\033[0m" : "", pv->label, r->res.unit[0] ? r->res.unit : "?",
           (long long)r->res.run_id, recipe, r->seconds, msg[0] ? ": " : "", msg);
}

static void setup_views(many *m, const char *const *ports, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        port_view *pv = &m->pv[i];
        pv->m = m;
        pv->index = i;
        pv->port = ports[i];
        pv->last_quarter = -1;
        make_label(pv);
        cli_output_init(&pv->out, m->json, ports[i]);
        pv->ev = (fl_events){.log = pv_log, .progress = pv_progress, .prompt = pv_prompt,
                             .cancelled = cli_stop_requested, .ctx = pv};
    }
}

int cli_run_many(const fl_run_opts *tmpl, const char *const *ports, size_t n, bool json,
                 bool loop)
{
    many m = {.lock = PTHREAD_MUTEX_INITIALIZER, .json = json, .n = n, .t0 = fl_now(),
              .loop = loop, .recipe = tmpl->recipe_path, .worst = FL_OUTCOME_PASS};
    m.tty = !json && isatty(STDERR_FILENO);
    m.color = m.tty && cli_use_color(stdout);
    m.pv = calloc(n, sizeof *m.pv);
    m.drawn_len = calloc(n + 1, sizeof *m.drawn_len);
    fl_batch_result *res = calloc(n, sizeof *res);
    if (!m.pv || !res || !m.drawn_len) {
        free(m.drawn_len);
        free(m.pv);
        free(res);
        return cli_early_error("run", FL_ERR_INTERNAL, "out of memory");
    }
    setup_views(&m, ports, n);
    if (m.tty)
        cli_follow_resizes();
    fl_run_opts run = *tmpl;
    run.on_step = pv_step;
    fl_batch_opts o = {.run = &run, .ports = ports, .nports = n, .events_for = events_for,
                       .on_done = on_done, .ctx = &m, .loop = loop, .on_idle = on_idle};
    fl_error err = {0};
    cli_stop_on_signals();
    fl_status st = fl_batch_run(&o, res, &err);
    int rc = 0;
    if (st) {
        if (m.tty)
            clear_view(&m);
        rc = cli_report_error_as(NULL, "run", &err, cli_exit_code(st));
    } else {
        if (m.tty) {
            draw(&m, true);
            fputc('\n', stderr);
        }
        for (size_t i = 0; i < n && !loop; i++) /* a loop printed each unit as it ended */
            print_port_result(&m, &m.pv[i], &res[i], tmpl->recipe_path);
        rc = m.rc;
        unsigned units = 0;
        for (size_t i = 0; i < n; i++)
            units += res[i].units;
        if (json)
            cli_json_event(NULL, "batch",
                           json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:I}", "ports",
                                     (json_int_t)n, "units", (json_int_t)units, "pass",
                                     (json_int_t)m.counts[FL_OUTCOME_PASS], "fail",
                                     (json_int_t)m.counts[FL_OUTCOME_FAIL], "error",
                                     (json_int_t)m.counts[FL_OUTCOME_ERROR], "aborted",
                                     (json_int_t)m.counts[FL_OUTCOME_ABORTED], "worst",
                                     fl_outcome_name(m.worst), "exit", (json_int_t)rc));
    }
    for (size_t i = 0; i < n; i++)
        cli_output_end_phase(&m.pv[i].out);
    free(m.drawn_len);
    free(m.pv);
    free(res);
    return rc;
}
