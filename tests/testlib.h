/* testlib.h — the unit-test harness: checks that count, a summary line that
 * tests/run adds up.  Each tests/test_*.c defines test functions and a main()
 * that calls RUN(test_fn) for each and returns testlib_finish(). */
#ifndef FL_TESTLIB_H
#define FL_TESTLIB_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tl_passed, tl_failed;
static const char *tl_current;

#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        if (cond) {                                                                       \
            tl_passed++;                                                                  \
        } else {                                                                          \
            tl_failed++;                                                                  \
            fprintf(stderr, "FAIL %s (%s:%d): %s: ", tl_current, __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                          \
        }                                                                                 \
    } while (0)

#define CHECK_EQ_UINT(a, b)                                                               \
    CHECK((unsigned long long)(a) == (unsigned long long)(b), "%s = 0x%llx, expected 0x%llx", \
          #a, (unsigned long long)(a), (unsigned long long)(b))

static inline int tl_streq(const char *a, const char *b) { return a && b && !strcmp(a, b); }
#define CHECK_STR(a, b)                                                                   \
    CHECK(tl_streq((a), (b)), "%s = \"%s\", expected \"%s\"", #a, tl_streq((a), (a)) ? (a) : "(null)", (b))

#define RUN(fn)                                                                           \
    do {                                                                                  \
        tl_current = #fn;                                                                 \
        int before = tl_failed;                                                           \
        fn();                                                                             \
        fprintf(stderr, "%s %s\n", tl_failed == before ? "ok  " : "FAIL", #fn);           \
    } while (0)

static inline int testlib_finish(void)
{
    printf("RESULT passed=%d failed=%d\n", tl_passed, tl_failed);
    return tl_failed ? 1 : 0;
}

/* A whole test-data file (malloc'd), or NULL after a failed check. */
#include "util/fileio.h"
static inline uint8_t *tl_load(const char *path, size_t *len)
{
    uint8_t *d = NULL;
    fl_error e;
    if (fl_read_file(path, &d, len, 16u << 20, &e) != FL_OK) {
        CHECK(0, "cannot read %s: %s", path, e.msg);
        return NULL;
    }
    return d;
}

/* Path of the shared test data, relative to the project root (tests run there). */
#define SHARED_DIR "../shared"

#endif
