/* strlist.h — a growable list of owned strings (warnings, init commands).
 * Results of the format parsers carry these so that front ends (CLI, Lua,
 * station DB) can show or store them; the parsers themselves never print. */
#ifndef FL_FORMATS_STRLIST_H
#define FL_FORMATS_STRLIST_H

#include <stdbool.h>
#include <stddef.h>

typedef struct fl_strlist {
    char **items;
    size_t n, cap;
} fl_strlist;

/* Append a formatted string; false only when out of memory. */
bool fl_strlist_addf(fl_strlist *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool fl_strlist_contains(const fl_strlist *l, const char *s);
void fl_strlist_free(fl_strlist *l);

#endif
