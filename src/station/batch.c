/* batch.c — a worker thread per port, each running one recipe (run.c). */
#include "station/batch.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "flash/flash.h"
#include "formats/tuya_secrets.h"
#include "station/recipe.h"
#include "util/clock.h"

typedef struct batch_worker {
    const fl_batch_opts *o;
    size_t index;
    const char *chip; /* the recipe's, for loop mode's looks at the port */
    fl_run_opts run;
    fl_batch_result *out;
} batch_worker;

/* Sleep up to s seconds; true when the port was told to stop meanwhile. */
static bool sleep_cancellable(const batch_worker *w, double s)
{
    double end = fl_now() + s;
    while (!fl_cancelled(w->run.ev) && fl_now() < end)
        fl_sleep(0.05);
    return fl_cancelled(w->run.ev);
}

/* ---- loop mode ------------------------------------------------------------- */

#define LOOP_POLL_S 1.0     /* between two looks for a unit that is being removed */
#define GONE_TIMEOUT_S 1.5  /* no answer this long: the unit is gone */
#define WAIT_TIMEOUT_S 10.0 /* listening for a boot window; then a plain look again */

static void idle(const batch_worker *w, const char *state)
{
    if (w->o->on_idle)
        w->o->on_idle(w->o->ctx, w->index, state);
}

/* The probe's own sink: nothing of it is logged (a port with no unit says
 * "no answer" every second); a prompt becomes the port's idle state; the
 * port's stop request is honoured. */
static void probe_prompt(void *ctx, const char *msg)
{
    (void)msg;
    idle(ctx, "waiting for a unit (on the fixture, in download mode)");
}

static int probe_cancelled(void *ctx)
{
    return fl_cancelled(((const batch_worker *)ctx)->run.ev);
}

/* Is a unit there?  The bus got with `reset` within timeout_s; its MAC (or,
 * without one, its flash ID) in unit.  The session is closed without the
 * after-step, so the unit stays in its loader for the run. */
static fl_status probe_unit(const batch_worker *w, fl_reset_mode reset, double timeout_s,
                            char *unit, size_t cap, fl_error *err)
{
    fl_events ev = {.prompt = probe_prompt, .cancelled = probe_cancelled, .ctx = (void *)w};
    fl_flash_opts fo;
    fl_flash_opts_init(&fo);
    fo.reset = reset;
    fo.link_timeout_s = timeout_s;
    fo.baud = 115200; /* stay at the loader's rate: the run's connect finds it there */
    fl_flash *f;
    fl_status st = fl_flash_open(w->run.port, w->chip, &fo, &ev, &f, err);
    if (st)
        return st;
    uint8_t mac[6];
    fl_error e;
    char text[18];
    if (fl_flash_read_mac(f, mac, &e) == FL_OK) {
        fl_format_mac(mac, true, text);
        snprintf(unit, cap, "%s", text);
    } else {
        const fl_identity *id = fl_flash_identity(f);
        snprintf(unit, cap, "jedec-%02X%02X%02X", id->jedec[0], id->jedec[1], id->jedec[2]);
    }
    fl_flash_close(f);
    return FL_OK;
}

/* Wait for a unit to answer; FL_ERR_CANCELLED when the port is told to stop.
 * Two ways a unit shows up: already in its loader (put on the fixture in
 * download mode, or a simulator's unit) answers a plain LinkCheck at once;
 * one being powered up answers only in its boot window, which the manual
 * strategy's stream of LinkChecks catches.  Turn and turn about, nothing
 * ever reset by the station. */
static fl_status wait_for_unit(const batch_worker *w, char *unit, size_t cap)
{
    idle(w, "waiting for a unit");
    for (;;) {
        fl_error err;
        fl_status st = probe_unit(w, FL_RESET_NONE, GONE_TIMEOUT_S, unit, cap, &err);
        if (st == FL_ERR_NO_BUS || st == FL_ERR_TIMEOUT)
            st = probe_unit(w, FL_RESET_MANUAL, WAIT_TIMEOUT_S, unit, cap, &err);
        if (st == FL_OK || st == FL_ERR_CANCELLED)
            return st;
        if (st != FL_ERR_NO_BUS && st != FL_ERR_TIMEOUT) {
            /* the port itself failed (unplugged adapter): say so, try again later */
            fl_logf(w->run.ev, FL_LOG_WARN, "waiting for a unit: %s", err.msg);
            if (sleep_cancellable(w, 5.0))
                return FL_ERR_CANCELLED;
        }
    }
}

/* After a unit: wait until it is gone or another answers (*next then holds
 * its id, to run at once).  FL_ERR_CANCELLED when told to stop. */
static fl_status wait_for_change(const batch_worker *w, const char *last, char *next, size_t cap)
{
    idle(w, "remove the unit");
    for (;;) {
        if (sleep_cancellable(w, LOOP_POLL_S))
            return FL_ERR_CANCELLED;
        fl_error err;
        fl_status st = probe_unit(w, FL_RESET_NONE, GONE_TIMEOUT_S, next, cap, &err);
        if (st == FL_ERR_CANCELLED)
            return st;
        if (st) {
            next[0] = '\0'; /* gone */
            return FL_OK;
        }
        if (strcasecmp(next, last) != 0) /* the run's id is lower case */
            return FL_OK;
        idle(w, "remove the unit (it still answers: not run twice)");
    }
}

static void run_unit(batch_worker *w)
{
    double t0 = fl_now();
    w->out->status = fl_station_run(&w->run, &w->out->res, &w->out->err);
    w->out->seconds = fl_now() - t0;
    w->out->units++;
    if (w->o->on_done)
        w->o->on_done(w->o->ctx, w->index, w->out);
}

static void loop_port(batch_worker *w)
{
    char last[64] = "", unit[64] = "";
    while (!fl_cancelled(w->run.ev)) {
        if (!unit[0] && wait_for_unit(w, unit, sizeof unit))
            break;
        if (!strcasecmp(unit, last)) { /* the same unit still there: not twice */
            if (wait_for_change(w, last, unit, sizeof unit))
                break;
            continue;
        }
        idle(w, "");
        run_unit(w);
        snprintf(last, sizeof last, "%s", w->out->res.unit[0] ? w->out->res.unit : unit);
        if (wait_for_change(w, last, unit, sizeof unit))
            break;
    }
}


static void *worker_main(void *arg)
{
    batch_worker *w = arg;
    const fl_batch_opts *o = w->o;
    w->run = *o->run;
    w->run.port = o->ports[w->index];
    w->run.ev = o->events_for ? o->events_for(o->ctx, w->index) : NULL;
    if (o->loop)
        loop_port(w);
    else
        run_unit(w);
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
    /* loop mode looks for units of the recipe's chip */
    fl_recipe *r = NULL;
    if (o->loop) { /* a bad recipe stops the loop before any port waits for a unit */
        st = fl_station_check(o->run->recipe_path, o->run->sets, o->run->nsets, err);
        if (!st)
            st = fl_recipe_load(o->run->recipe_path, &r, err);
        if (st)
            return st;
    }
    batch_worker w[FL_BATCH_MAX_PORTS];
    pthread_t th[FL_BATCH_MAX_PORTS];
    size_t started = 0;
    memset(results, 0, o->nports * sizeof *results);
    for (; started < o->nports; started++) {
        w[started] = (batch_worker){.o = o, .index = started, .out = &results[started],
                                    .chip = r ? r->chip : NULL};
        if (pthread_create(&th[started], NULL, worker_main, &w[started]) != 0) {
            st = fl_fail(err, FL_ERR_INTERNAL, "cannot start a worker for port %s",
                         o->ports[started]);
            break;
        }
    }
    for (size_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    fl_recipe_free(r);
    return st;
}
