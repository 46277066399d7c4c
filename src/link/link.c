/* link.c — URL dispatch and the transport-independent helpers. */
#include "link/link.h"

#include <stdlib.h>
#include <string.h>

#include "link/link_impl.h"
#include "sim/beken_sim.h"
#include "util/clock.h"

fl_status fl_link_open(const char *url, fl_link **out, fl_error *err)
{
    *out = NULL;
    if (!url || !*url)
        return fl_fail(err, FL_ERR_USAGE, "no port given (use --port /dev/ttyUSB0, "
                                          "rfc2217://HOST:PORT, tcp://HOST:PORT or sim:CHIP)");
    if (!strncmp(url, "rfc2217://", 10))
        return fl_link_open_net(url + 10, true, url, out, err);
    if (!strncmp(url, "tcp://", 6))
        return fl_link_open_net(url + 6, false, url, out, err);
    if (!strncmp(url, "sim:", 4))
        return fl_link_open_sim(url + 4, url, out, err);
    if (!strncmp(url, "serial:", 7))
        return fl_link_open_serial(url + 7, out, err);
    if (strstr(url, "://"))
        return fl_fail(err, FL_ERR_USAGE,
                       "unknown port scheme in '%s' (known: rfc2217://, tcp://, serial:, sim:)",
                       url);
    return fl_link_open_serial(url, out, err);
}

void fl_link_close(fl_link *l)
{
    if (!l)
        return;
    fl_sim *sim = l->owned_sim;
    char *spec = l->owned_sim_spec;
    l->ops->close(l);
    if (sim)
        fl_sim_destroy(sim); /* after the socket is gone: the simulator sees a clean hang-up */
    free(spec);
}

fl_status fl_link_write(fl_link *l, const void *data, size_t len, fl_error *err)
{
    return l->ops->write(l, data, len, err);
}

fl_status fl_link_read(fl_link *l, void *buf, size_t len, double timeout_s, size_t *got,
                       fl_error *err)
{
    return l->ops->read(l, buf, len, timeout_s, got, err);
}

fl_status fl_link_read_exact(fl_link *l, void *buf, size_t len, double timeout_s, fl_error *err)
{
    double deadline = fl_now() + timeout_s;
    size_t have = 0;
    while (have < len) {
        double left = deadline - fl_now();
        if (left <= 0)
            return fl_fail(err, FL_ERR_TIMEOUT, "timed out after %zu of %zu bytes", have, len);
        size_t got = 0;
        fl_status st = l->ops->read(l, (uint8_t *)buf + have, len - have, left, &got, err);
        if (st)
            return st;
        have += got;
    }
    return FL_OK;
}

fl_status fl_link_set_baud(fl_link *l, uint32_t baud, fl_error *err)
{
    if (!l->has_baud) {
        l->baud = baud; /* raw TCP bridges: the far end's rate is fixed by its own setup */
        return FL_OK;
    }
    fl_status st = l->ops->set_baud(l, baud, err);
    if (st == FL_OK)
        l->baud = baud;
    return st;
}

fl_status fl_link_set_lines(fl_link *l, int dtr, int rts, fl_error *err)
{
    if (!l->has_lines)
        return fl_fail(err, FL_ERR_USAGE, "%s cannot drive DTR/RTS", l->url);
    return l->ops->set_lines(l, dtr, rts, err);
}

fl_status fl_link_drain(fl_link *l, fl_error *err)
{
    return l->ops->drain(l, err);
}

void fl_link_discard_input(fl_link *l)
{
    l->ops->discard_input(l);
}

fl_status fl_link_drain_until_quiet(fl_link *l, double quiet_s, double max_s, size_t *dropped,
                                    fl_error *err)
{
    uint8_t junk[4096];
    size_t total = 0;
    double end = fl_now() + max_s;
    fl_status st = FL_OK;
    for (;;) {
        double left = end - fl_now();
        if (left <= 0)
            break;
        size_t got = 0;
        st = l->ops->read(l, junk, sizeof junk, quiet_s < left ? quiet_s : left, &got, err);
        if (st || got == 0)
            break;
        total += got;
    }
    if (dropped)
        *dropped = total;
    return st;
}
