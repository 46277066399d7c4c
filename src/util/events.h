/* events.h — how the library reports log lines, progress and operator prompts.
 *
 * The library never prints.  Front ends (CLI, Lua, station workers) pass an
 * fl_events sink; every field may be NULL.  A sink belongs to one port/worker,
 * so the ctx pointer is where a front end keeps "which port this is". */
#ifndef FL_UTIL_EVENTS_H
#define FL_UTIL_EVENTS_H

#include <stdint.h>

typedef enum fl_log_level {
    FL_LOG_DEBUG,
    FL_LOG_INFO,
    FL_LOG_WARN,
    FL_LOG_ERROR,
} fl_log_level;

typedef struct fl_events {
    void (*log)(void *ctx, fl_log_level level, const char *msg);
    /* `phase` is a short verb ("read", "write", "erase", "verify", "link"). */
    void (*progress)(void *ctx, const char *phase, uint64_t done, uint64_t total);
    /* The operator must act (power-cycle, press reset).  Shown prominently. */
    void (*prompt)(void *ctx, const char *msg);
    /* Polled during long operations; non-zero stops them with FL_ERR_CANCELLED. */
    int (*cancelled)(void *ctx);
    void *ctx;
} fl_events;

void fl_logf(const fl_events *ev, fl_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void fl_progress(const fl_events *ev, const char *phase, uint64_t done, uint64_t total);
void fl_prompt(const fl_events *ev, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int fl_cancelled(const fl_events *ev);

#endif
