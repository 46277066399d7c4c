/* run.h — running one recipe on one port: the station's unit of work.
 *
 * fl_station_run loads and checks the recipe (every step known, every
 * argument expected, firmware files present) before the unit is touched,
 * opens the station home (station/home.h: its log, backups dir and
 * station.yaml defaults) and the audit log, then runs the steps in order in a
 * Lua state of its own, recording the run, each step (one transaction per
 * step), the unit, measurements and artifacts.
 *
 * Outcomes the station decides itself: a recipe for another chip than the
 * unit's is an ERROR naming both chips; a unit that already PASSed the same
 * recipe (by name, unit MAC or alt id) is stopped right after it is
 * identified, as ABORTED with a message naming the earlier run, unless
 * o->again or the recipe's allow_repeat (then the run records the
 * measurement repeat_of_run).  It keeps no global state: a station runs one
 * call per port, each on its own thread with its own events sink. */
#ifndef FL_STATION_RUN_H
#define FL_STATION_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/auditdb.h"
#include "util/error.h"
#include "util/events.h"

typedef struct fl_run_opts {
    const char *recipe_path;
    const char *port;          /* link URL for this worker */
    const char *db_path;       /* NULL: $FLASHLINE_DB, else the station home's log */
    const char *station;       /* NULL: station.yaml's, else this host's name */
    const char *operator_name; /* NULL: station.yaml's (may be none) */
    bool again;                /* run even if the unit already PASSed this recipe */
    const char *const *sets;   /* "KEY=VALUE" overrides of recipe vars */
    size_t nsets;
    const fl_events *ev;       /* log/progress/prompt/cancel for this worker (may be NULL) */
    /* Command-line overrides of the recipe's link: settings (NULL: the recipe's);
     * they win over link: and over a connect step's own arguments.  Checked by
     * the caller (flashline run: a number in 9600..6000000, a reset mode). */
    const char *link_baud;
    const char *link_reset;
    /* Step i (0-based) of n starts on `unit` (its MAC or other id, "" while
     * unknown); may be NULL.  ctx is ev->ctx, so a front end with one sink
     * per port knows the port. */
    void (*on_step)(void *ev_ctx, size_t i, size_t n, const char *name, const char *unit);
} fl_run_opts;

/* The longest step message kept (bytes, with the terminating NUL): a longer
 * one is cut at a character boundary and ends with "…" (FL_CUT_MARK). */
#define FL_STEP_MESSAGE_MAX 2000

typedef struct fl_run_result {
    fl_outcome outcome;   /* PASS, FAIL, ERROR, ABORTED */
    int64_t run_id;       /* 0 when nothing was recorded */
    size_t steps_run;     /* steps started */
    char failed_step[64]; /* the step that ended the run, "" on PASS */
    char message[FL_STEP_MESSAGE_MAX + 64]; /* why it ended: "step: its message" */
    char unit[64];        /* MAC or other unit id, "" if unknown */
    int64_t repeat_of;    /* the earlier run in which the unit PASSed this recipe, 0: none */
    bool refused_repeat;  /* stopped (ABORTED) because of repeat_of: no --again */
} fl_run_result;

/* FL_OK when the run took place and was recorded: the verdict is in
 * res->outcome.  Any other status means the run could not start (bad recipe,
 * missing firmware, unusable audit log): nothing was recorded and the unit
 * was not touched; err says why, with FILE:LINE:COLUMN for recipe errors. */
fl_status fl_station_run(const fl_run_opts *o, fl_run_result *res, fl_error *err);

/* Check a recipe as fl_station_run would, without a port or a log. */
fl_status fl_station_check(const char *recipe_path, const char *const *sets, size_t nsets,
                           fl_error *err);

#endif
