#include "util/events.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* The whole message, however long (a script may log a page of text): no
 * fixed buffer to cut it.  NULL only when out of memory. */
static char *format_message(const char *fmt, va_list ap)
{
    char *msg = NULL;
    return vasprintf(&msg, fmt, ap) < 0 ? NULL : msg;
}

void fl_logf(const fl_events *ev, fl_log_level level, const char *fmt, ...)
{
    if (!ev || !ev->log)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *msg = format_message(fmt, ap);
    va_end(ap);
    ev->log(ev->ctx, level, msg ? msg : "(out of memory formatting a log line)");
    free(msg);
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
    va_list ap;
    va_start(ap, fmt);
    char *msg = format_message(fmt, ap);
    va_end(ap);
    ev->prompt(ev->ctx, msg ? msg : "(out of memory formatting a prompt)");
    free(msg);
}

int fl_cancelled(const fl_events *ev)
{
    return ev && ev->cancelled && ev->cancelled(ev->ctx);
}
