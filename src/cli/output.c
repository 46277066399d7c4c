/* output.c — progress, log lines and JSON events for the verbs.
 *
 * On a terminal: one redrawn progress line per phase with rate and ETA.
 * Not a terminal: a plain line every 10 %.  --json: one object per line on
 * stdout ({"event":"progress",...}), nothing else on stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/clock.h"

void cli_json_escape(char *dst, size_t cap, const char *src)
{
    size_t o = 0;
    for (; *src && o + 7 < cap; src++) {
        unsigned char c = (unsigned char)*src;
        if (c == '"' || c == '\\') {
            dst[o++] = '\\';
            dst[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(dst + o, cap - o, "\\u%04x", c);
        } else {
            dst[o++] = (char)c;
        }
    }
    dst[o] = '\0';
}

void cli_json_event(cli_output *out, const char *event, const char *fields)
{
    char port[300];
    cli_json_escape(port, sizeof port, out->port ? out->port : "");
    printf("{\"event\":\"%s\",\"port\":\"%s\"%s%s}\n", event, port, fields && *fields ? "," : "",
           fields ? fields : "");
    fflush(stdout);
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

static void on_progress(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
    cli_output *out = ctx;
    double now = fl_now();
    if (strcmp(out->phase, phase) != 0) {
        cli_output_end_phase(out);
        snprintf(out->phase, sizeof out->phase, "%s", phase);
        out->phase_start = now;
        out->last_decile = -1;
        out->last_draw = 0;
    }
    out->last_done = done;
    double elapsed = now - out->phase_start;
    double rate = elapsed > 0 ? (double)done / elapsed : 0;
    double eta = rate > 0 ? (double)(total - done) / rate : -1;
    if (out->json) {
        char f[256];
        snprintf(f, sizeof f,
                 "\"phase\":\"%s\",\"done\":%llu,\"total\":%llu,\"rate\":%.0f,\"eta_s\":%.1f",
                 phase, (unsigned long long)done, (unsigned long long)total, rate, eta);
        int decile = total ? (int)(done * 100 / total) : 100;
        if (decile != out->last_decile) { /* at most one event per percent */
            out->last_decile = decile;
            cli_json_event(out, "progress", f);
        }
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
        char m[1200], f[1300];
        cli_json_escape(m, sizeof m, msg);
        snprintf(f, sizeof f, "\"level\":\"%s\",\"message\":\"%s\"", level_name(level), m);
        cli_json_event(out, "log", f);
        return;
    }
    if (out->quiet && level < FL_LOG_WARN)
        return;
    if (out->tty && out->phase[0])
        fputc('\n', stderr), out->phase[0] = '\0';
    if (level >= FL_LOG_WARN)
        fprintf(stderr, "%s: %s\n", level_name(level), msg);
    else
        fprintf(stderr, "%s\n", msg);
}

static void on_prompt(void *ctx, const char *msg)
{
    cli_output *out = ctx;
    if (out->json) {
        char m[600], f[700];
        cli_json_escape(m, sizeof m, msg);
        snprintf(f, sizeof f, "\"message\":\"%s\"", m);
        cli_json_event(out, "prompt", f);
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
    if (out->phase[0] && out->tty && !out->json && !out->quiet)
        fputc('\n', stderr);
    out->phase[0] = '\0';
}

int cli_report_error(cli_output *out, const char *verb, const fl_error *err)
{
    cli_output_end_phase(out);
    int code = cli_exit_code(err->code);
    if (out->json) {
        char m[1200], f[1400];
        cli_json_escape(m, sizeof m, err->msg);
        snprintf(f, sizeof f, "\"verb\":\"%s\",\"kind\":\"%s\",\"exit\":%d,\"message\":\"%s\"",
                 verb, fl_status_name(err->code), code, m);
        cli_json_event(out, "error", f);
    } else {
        fprintf(stderr, "flashline %s: error: %s\n", verb, err->msg);
    }
    return code;
}
