/* batch.h — one recipe on several ports at once: a worker thread per port.
 *
 * What it offers
 *   fl_batch_run runs fl_station_run (run.h) on every port of the batch, each
 *   on a thread of its own with its own Lua state, audit-log handle and
 *   events sink, and returns when every worker has ended.  A worker that
 *   fails, hangs on its own link (until its own timeouts) or hits a step
 *   error never stops or slows the others: they share nothing but the log
 *   file, which SQLite's locks keep exact (every run recorded once).
 *
 * The caller says what each port's events go to (events_for, called on the
 * worker's thread before it starts) and hears of each ending (on_done, called
 * on the worker's thread: serialise what it prints).  Cancelling: each
 * sink's `cancelled` is polled as in a single run; make it return non-zero
 * for every port to stop the batch at the next safe point of each worker.
 *
 * The library never prints. */
#ifndef FL_STATION_BATCH_H
#define FL_STATION_BATCH_H

#include <stddef.h>

#include "station/run.h"

#define FL_BATCH_MAX_PORTS 64

typedef struct fl_batch_result {
    fl_status status;   /* FL_OK: the run took place and was recorded (see res) */
    fl_error err;       /* why not, when status != FL_OK */
    fl_run_result res;
    double seconds;     /* wall-clock time of this port's run */
    unsigned units;     /* units run on this port (loop mode: all of them; res is the last) */
} fl_batch_result;

typedef struct fl_batch_opts {
    /* Everything but port and ev is used for every port (recipe, db, station,
     * operator, --set values...). */
    const fl_run_opts *run;
    const char *const *ports;
    size_t nports;      /* 1..FL_BATCH_MAX_PORTS */
    /* The sink for port i (NULL: none).  Must stay valid until on_done(i). */
    const fl_events *(*events_for)(void *ctx, size_t i);
    /* Port i has ended a unit (may be NULL). */
    void (*on_done)(void *ctx, size_t i, const fl_batch_result *r);
    void *ctx;
    /* Loop mode (flashline run --loop): every port serves unit after unit
     * until its sink's `cancelled` says stop.  It waits for a unit to answer
     * (listening for the loader, never resetting anything: the operator
     * puts the unit on the fixture in download mode), runs the recipe, then
     * waits until that unit is gone (no answer) or a different one answers.
     * A unit that stays on the fixture (its MAC answers again) is not run
     * twice; one put back later is the audit log's to recognise (a unit
     * that already PASSed the recipe is refused without --again, run.h). */
    bool loop;
    /* Port i between units (may be NULL): "waiting for a unit", "remove the
     * unit" ... (called on the worker's thread). */
    void (*on_idle)(void *ctx, size_t i, const char *state);
} fl_batch_opts;

/* results: nports entries.  FL_OK when every worker was started and joined
 * (whatever their outcomes); FL_ERR_USAGE for a bad batch (no ports, too
 * many, a port given twice), FL_ERR_INTERNAL when a thread cannot be made
 * (the workers already started are joined first). */
fl_status fl_batch_run(const fl_batch_opts *o, fl_batch_result *results, fl_error *err);

#endif
