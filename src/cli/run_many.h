/* run_many.h — `flashline run` on several ports at once (run_many.c). */
#ifndef FL_CLI_RUN_MANY_H
#define FL_CLI_RUN_MANY_H

#include <stdbool.h>
#include <stddef.h>

#include "station/run.h"

/* Run tmpl's recipe on every port (tmpl->port and tmpl->ev are ignored),
 * print the live view / plain lines / JSON events and one result per port;
 * returns the exit code of the worst outcome (0 PASS, 1 FAIL, 10 ERROR,
 * 130 ABORTED) or a usage/internal error's. */
int cli_run_many(const fl_run_opts *tmpl, const char *const *ports, size_t n, bool json);

#endif
