/* parse.h — numbers as operators type them on command lines and in URLs. */
#ifndef FL_UTIL_PARSE_H
#define FL_UTIL_PARSE_H

#include <stdbool.h>
#include <stdint.h>

/* A size or address: digits in `base` (0 = decimal or 0x hex), optionally
 * followed by K or M (KiB, MiB; "k", "KiB", "MB" accepted).  No sign, no
 * trailing junk, no overflow. */
bool fl_parse_size(const char *text, int base, uint64_t *out);

/* The value of one hex digit (0-9, a-f, A-F), or -1. */
int fl_hex_digit(int c);

#endif
