#include "util/events.h"

#include <stdarg.h>
#include <stdio.h>

void fl_logf(const fl_events *ev, fl_log_level level, const char *fmt, ...)
{
    if (!ev || !ev->log)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ev->log(ev->ctx, level, msg);
}

void fl_progress(const fl_events *ev, const char *phase, uint64_t done, uint64_t total)
{
    if (ev && ev->progress)
        ev->progress(ev->ctx, phase, done, total);
}

void fl_prompt(const fl_events *ev, const char *fmt, ...)
{
    if (!ev || !ev->prompt)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ev->prompt(ev->ctx, msg);
}

int fl_cancelled(const fl_events *ev)
{
    return ev && ev->cancelled && ev->cancelled(ev->ctx);
}
