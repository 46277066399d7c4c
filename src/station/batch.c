/* batch.c — a worker thread per port, each running one recipe (run.c). */
#include "station/batch.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "util/clock.h"

typedef struct batch_worker {
    const fl_batch_opts *o;
    size_t index;
    fl_run_opts run;
    fl_batch_result *out;
} batch_worker;

static void *worker_main(void *arg)
{
    batch_worker *w = arg;
    const fl_batch_opts *o = w->o;
    w->run = *o->run;
    w->run.port = o->ports[w->index];
    w->run.ev = o->events_for ? o->events_for(o->ctx, w->index) : NULL;
    double t0 = fl_now();
    w->out->status = fl_station_run(&w->run, &w->out->res, &w->out->err);
    w->out->seconds = fl_now() - t0;
    if (o->on_done)
        o->on_done(o->ctx, w->index, w->out);
    return NULL;
}

/* The same port twice would be two workers fighting over one unit. */
static fl_status check_ports(const fl_batch_opts *o, fl_error *err)
{
    if (o->nports == 0 || o->nports > FL_BATCH_MAX_PORTS)
        return fl_fail(err, FL_ERR_USAGE, "a batch needs 1 to %d ports (got %zu)",
                       FL_BATCH_MAX_PORTS, o->nports);
    for (size_t i = 0; i < o->nports; i++) {
        if (!o->ports[i] || !o->ports[i][0])
            return fl_fail(err, FL_ERR_USAGE, "port %zu of the batch is empty", i + 1);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(o->ports[i], o->ports[j]))
                return fl_fail(err, FL_ERR_USAGE, "port %s is given twice", o->ports[i]);
    }
    return FL_OK;
}

fl_status fl_batch_run(const fl_batch_opts *o, fl_batch_result *results, fl_error *err)
{
    fl_status st = check_ports(o, err);
    if (st)
        return st;
    batch_worker w[FL_BATCH_MAX_PORTS];
    pthread_t th[FL_BATCH_MAX_PORTS];
    size_t started = 0;
    memset(results, 0, o->nports * sizeof *results);
    for (; started < o->nports; started++) {
        w[started] = (batch_worker){.o = o, .index = started, .out = &results[started]};
        if (pthread_create(&th[started], NULL, worker_main, &w[started]) != 0) {
            st = fl_fail(err, FL_ERR_INTERNAL, "cannot start a worker for port %s",
                         o->ports[started]);
            break;
        }
    }
    for (size_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    return st;
}
