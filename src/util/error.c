#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

fl_status fl_fail(fl_error *err, fl_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

fl_status fl_fail_prefix(fl_error *err, const char *fmt, ...)
{
    if (!err)
        return FL_ERR_INTERNAL;
    char prefix[256], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    /* prefix + ": " + old message, truncated to fit */
    size_t p = strnlen(prefix, sizeof err->msg - 3);
    memcpy(err->msg, prefix, p);
    memcpy(err->msg + p, ": ", 2);
    size_t room = sizeof err->msg - p - 3, o = strnlen(old, room);
    memcpy(err->msg + p + 2, old, o);
    err->msg[p + 2 + o] = '\0';
    return err->code;
}

void fl_error_clear(fl_error *err)
{
    if (err) {
        err->code = FL_OK;
        err->msg[0] = '\0';
    }
}

const char *fl_status_name(fl_status code)
{
    switch (code) {
    case FL_OK: return "ok";
    case FL_ERR_USAGE: return "usage";
    case FL_ERR_FILE: return "file";
    case FL_ERR_FORMAT: return "format";
    case FL_ERR_LINK: return "link";
    case FL_ERR_NO_BUS: return "no-bus";
    case FL_ERR_PROTOCOL: return "protocol";
    case FL_ERR_TIMEOUT: return "timeout";
    case FL_ERR_CHIP: return "chip";
    case FL_ERR_REFUSED: return "refused";
    case FL_ERR_VERIFY: return "verify";
    case FL_ERR_RESET: return "reset";
    case FL_ERR_INTERNAL: return "internal";
    case FL_ERR_CANCELLED: return "cancelled";
    }
    return "unknown";
}
