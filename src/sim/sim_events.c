/* sim_events.c — optional record of the faults the simulator injected (`events=PATH`).
 *
 * A soak test has to judge the host's verdict against what really happened to the
 * unit: "the unit reset" is right only if the chip did reset, "link lost" only if the
 * line went away.  Inside `flashline write --port sim:...` the simulator's counters die
 * with the process, so each injected brown-out, watchdog reset, hang, reboot command and
 * disconnect is appended to a file as one line, "KIND host_bytes=N", as it happens
 * (flushed at once: the record must survive a host that crashes or is killed).  When the
 * simulator is destroyed, one more line counts the bytes dropped and garbled on the line. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sim/sim_internal.h"

fl_status sim_events_open(fl_sim *s, const char *path, fl_error *err)
{
    if (!path || !*path)
        return FL_OK;
    /* append: a host that reopens the link starts a second simulator on the same record */
    s->events = fopen(path, "ae");
    if (!s->events)
        return fl_fail(err, FL_ERR_FILE, "cannot open the simulator event record %s: %s", path,
                       strerror(errno));
    return FL_OK;
}

void sim_event(fl_sim *s, const char *kind)
{
    if (!s->events)
        return;
    fprintf(s->events, "%s host_bytes=%llu\n", kind, (unsigned long long)s->wire_host_bytes);
    fflush(s->events);
}

void sim_trace(fl_sim *s, const char *kind, uint32_t baud)
{
    if (!s->events || !s->o.trace_bus)
        return;
    if (baud)
        fprintf(s->events, "%s baud=%u host_bytes=%llu\n", kind, baud,
                (unsigned long long)s->wire_host_bytes);
    else
        fprintf(s->events, "%s host_bytes=%llu\n", kind, (unsigned long long)s->wire_host_bytes);
    fflush(s->events);
}

void sim_events_close(fl_sim *s)
{
    if (!s->events)
        return;
    /* drops and garbles are too many for a line each: one total when the unit goes away */
    fprintf(s->events, "line-faults dropped=%llu garbled=%llu\n",
            (unsigned long long)s->stats.bytes_dropped, (unsigned long long)s->stats.bytes_corrupted);
    fclose(s->events);
    s->events = NULL;
}
