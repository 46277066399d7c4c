/* error.h — status codes and the error record every library call fills in.
 *
 * The library never prints and never exits: a failing call returns a
 * non-zero fl_status and leaves a one-line, operator-readable message in the
 * caller's fl_error.  The CLI maps statuses to documented exit codes. */
#ifndef FL_UTIL_ERROR_H
#define FL_UTIL_ERROR_H

#include <stddef.h>

typedef enum fl_status {
    FL_OK = 0,
    FL_ERR_USAGE,        /* bad argument or option */
    FL_ERR_FILE,         /* cannot read / write a local file */
    FL_ERR_FORMAT,       /* input file malformed, truncated or wrong kind */
    FL_ERR_LINK,         /* port missing / busy / link died */
    FL_ERR_NO_BUS,       /* chip never answered the link check */
    FL_ERR_PROTOCOL,     /* chip answered, but not what the protocol says */
    FL_ERR_TIMEOUT,      /* a command got no answer in time */
    FL_ERR_CHIP,         /* chip is not the one the caller named */
    FL_ERR_REFUSED,      /* operation refused (bootloader area, past flash end) */
    FL_ERR_VERIFY,       /* data read back does not match */
    FL_ERR_RESET,        /* the unit reset during an operation (brown-out) */
    FL_ERR_INTERNAL,     /* out of memory, thread failure, bug */
    FL_ERR_CANCELLED,    /* stopped by the caller */
} fl_status;

typedef struct fl_error {
    fl_status code;
    char msg[1024];
} fl_error;

/* Record a failure and return its code, so callers can write
 * `return fl_fail(err, FL_ERR_LINK, "cannot open %s", path);`.
 * err may be NULL. */
fl_status fl_fail(fl_error *err, fl_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix the existing message with context: "writing 0x11000: <old msg>". */
fl_status fl_fail_prefix(fl_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void fl_error_clear(fl_error *err);

/* The mark a cut message ends with: "…" (U+2026), so a reader knows text is missing. */
#define FL_CUT_MARK "\xE2\x80\xA6"

/* Copy the NUL-terminated src into dst (cap >= 4 bytes).  If it does not fit
 * it is cut at a UTF-8 character boundary (never inside a multi-byte
 * sequence) and ends with FL_CUT_MARK.  Returns strlen(dst). */
size_t fl_text_copy(char *dst, size_t cap, const char *src);

/* Append a formatted piece to the text in buf (cap bytes), after `sep` when
 * buf is not empty (evidence lists: "a; b; c").  What does not fit is left
 * out; buf stays NUL-terminated. */
void fl_text_appendf(char *buf, size_t cap, const char *sep, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* buf (cap bytes) holds text that vsnprintf/snprintf cut to cap - 1 bytes:
 * back it up to a character boundary and end it with FL_CUT_MARK. */
void fl_text_mark_cut(char *buf, size_t cap);
const char *fl_status_name(fl_status code);

#endif
