/* link_sim.c — `sim:CHIP[?options]`: start the Beken simulator in-process on
 * loopback and talk to it over rfc2217, exactly as to an external one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link/link_impl.h"
#include "sim/beken_sim.h"

fl_status fl_link_open_sim(const char *spec, const char *url, fl_link **out, fl_error *err)
{
    char *copy = strdup(spec);
    if (!copy)
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    char *query = strchr(copy, '?');
    if (query)
        *query++ = '\0';
    fl_sim_options opts;
    fl_sim_options_init(&opts);
    opts.chip = copy;
    opts.listen_host = "127.0.0.1";
    opts.listen_port = 0;
    fl_status st = query ? fl_sim_options_from_query(&opts, query, err) : FL_OK;
    fl_sim *sim = NULL;
    if (st == FL_OK)
        st = fl_sim_create(&opts, &sim, err);
    if (st == FL_OK)
        st = fl_sim_start(sim, err);
    if (st == FL_OK)
        st = fl_link_open_net(fl_sim_url(sim) + strlen("rfc2217://"), true, url, out, err);
    if (st) {
        if (sim)
            fl_sim_destroy(sim);
        free(copy);
        return fl_fail_prefix(err, "starting simulator %s", url);
    }
    (*out)->owned_sim = sim;
    (*out)->owned_sim_spec = copy;
    return FL_OK;
}
