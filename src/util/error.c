#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

fl_status fl_fail(fl_error *err, fl_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        if (n >= (int)sizeof err->msg)
            fl_text_mark_cut(err->msg, sizeof err->msg);
        err->code = code;
    }
    return code;
}

fl_status fl_fail_prefix(fl_error *err, const char *fmt, ...)
{
    if (!err)
        return FL_ERR_INTERNAL;
    /* prefix + ": " + old message, composed whole and then cut to fit */
    char joined[sizeof err->msg + 256 + 2];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(joined, 256, fmt, ap);
    va_end(ap);
    if (n >= 256)
        fl_text_mark_cut(joined, 256);
    size_t p = strlen(joined);
    snprintf(joined + p, sizeof joined - p, ": %s", err->msg);
    fl_text_copy(err->msg, sizeof err->msg, joined);
    return err->code;
}

/* Cut text at byte `at` or before it, where a character starts. */
static size_t char_start_at_or_before(const char *s, size_t at)
{
    while (at > 0 && ((unsigned char)s[at] & 0xC0) == 0x80)
        at--;
    return at;
}

void fl_text_mark_cut(char *buf, size_t cap)
{
    size_t mark = sizeof FL_CUT_MARK - 1;
    if (cap <= mark) {
        if (cap)
            buf[0] = '\0';
        return;
    }
    size_t at = char_start_at_or_before(buf, cap - 1 - mark);
    memcpy(buf + at, FL_CUT_MARK, mark + 1);
}

size_t fl_text_copy(char *dst, size_t cap, const char *src)
{
    if (!cap)
        return 0;
    size_t n = strlen(src);
    if (n < cap) {
        memcpy(dst, src, n + 1);
        return n;
    }
    memcpy(dst, src, cap - 1);
    dst[cap - 1] = '\0';
    fl_text_mark_cut(dst, cap);
    return strlen(dst);
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

void fl_text_appendf(char *buf, size_t cap, const char *sep, const char *fmt, ...)
{
    size_t o = strlen(buf);
    if (o + strlen(sep) + 1 >= cap)
        return;
    if (o)
        o += (size_t)snprintf(buf + o, cap - o, "%s", sep);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + o, cap - o, fmt, ap);
    va_end(ap);
}
