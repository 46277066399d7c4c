/* run_many.h — `flashline run` on several ports at once (run_many.c). */
#ifndef FL_CLI_RUN_MANY_H
#define FL_CLI_RUN_MANY_H

#include <stdbool.h>
#include <stddef.h>

#include "station/run.h"

/* Run tmpl's recipe on every port (tmpl->port and tmpl->ev are ignored),
 * print the live view / plain lines / JSON events and one result per port;
 * returns the exit code of the worst outcome (0 PASS, 1 FAIL, 7 refused
 * repeat, 10 ERROR, 130 ABORTED) or a usage/internal error's.  `loop`: each
 * port serves unit after unit until Ctrl-C (station/batch.h), a result line
 * (or JSON event) as each unit ends; stopping the loop is not an outcome of
 * its own (a unit stopped mid-run is ABORTED). */
int cli_run_many(const fl_run_opts *tmpl, const char *const *ports, size_t n, bool json,
                 bool loop);

#endif
