/* sim_options.c — simulator option defaults and the `sim:CHIP?key=val&...` query. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_internal.h"
#include "sim/sim_query.h"
#include "util/parse.h"

void fl_sim_options_init(fl_sim_options *o)
{
    memset(o, 0, sizeof *o);
    o->listen_host = "127.0.0.1";
    o->listen_port = 0;
    o->timescale = 1.0;
    o->stall_rate = 0; /* 0 with stall_ms > 0 means the default, 0.02 */
    o->disconnect_after = -1;
    o->brownout_at = -1;
}

static bool parse_bool(const char *v, bool *out)
{
    if (!v || !*v || !strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
        !strcasecmp(v, "on"))
        return *out = true, true;
    if (!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off"))
        return *out = false, true;
    return false;
}

/* "AA:BB:CC:DD:EE:FF" (or with '-') */
static bool parse_mac(const char *v, uint8_t mac[6])
{
    if (!v || strlen(v) != 17)
        return false;
    for (int i = 0; i < 6; i++) {
        int hi = fl_hex_digit(v[3 * i]), lo = fl_hex_digit(v[3 * i + 1]);
        if (hi < 0 || lo < 0 || (i < 5 && v[3 * i + 2] != ':' && v[3 * i + 2] != '-'))
            return false;
        mac[i] = (uint8_t)(hi * 16 + lo);
    }
    return true;
}

fl_status fl_sim_options_from_query(fl_sim_options *o, char *query, fl_error *err)
{
    static const char known[] = "flash size timescale drop corrupt stall stallrate disconnect "
                                "brownout manual seed quiet jedec pty control misdirect srlost "
                                "events maxbaud trace marginal sdm crypt secureboot mac";
    char *save = NULL;
    for (char *kv = strtok_r(query, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
        char *v = strchr(kv, '=');
        if (v)
            *v++ = '\0';
        sim_url_decode(kv, true);
        if (v)
            sim_url_decode(v, true);
        uint64_t u = 0;
        double d = 0;
        bool b = false, ok = true;
        if (!strcmp(kv, "flash")) {
            ok = v && *v;
            if (ok)
                o->flash_path = v;
        } else if (!strcmp(kv, "events")) {
            ok = v && *v;
            if (ok)
                o->events_path = v;
        } else if (!strcmp(kv, "size")) {
            ok = fl_parse_size(v, 0, &u) && u <= 0xFFFFFFFFu;
            if (ok)
                o->flash_size = (uint32_t)u;
        } else if (!strcmp(kv, "timescale")) {
            ok = sim_parse_double(v, &d) && d >= 0;
            if (ok)
                o->timescale = d;
        } else if (!strcmp(kv, "drop") || !strcmp(kv, "corrupt") || !strcmp(kv, "stallrate")) {
            ok = sim_parse_double(v, &d) && d >= 0 && d <= 1;
            if (ok)
                *(kv[0] == 'd' ? &o->drop_rate : kv[0] == 'c' ? &o->corrupt_rate : &o->stall_rate) = d;
        } else if (!strcmp(kv, "stall")) {
            ok = fl_parse_size(v, 10, &u) && u <= 600000;
            if (ok)
                o->stall_ms = (int)u;
        } else if (!strcmp(kv, "disconnect") || !strcmp(kv, "brownout")) {
            ok = fl_parse_size(v, 0, &u) && u <= (uint64_t)INT64_MAX;
            if (ok)
                *(kv[0] == 'd' ? &o->disconnect_after : &o->brownout_at) = (int64_t)u;
        } else if (!strcmp(kv, "manual") || !strcmp(kv, "quiet") || !strcmp(kv, "pty")) {
            ok = parse_bool(v, &b);
            if (ok)
                *(kv[0] == 'm' ? &o->manual_reset : kv[0] == 'q' ? &o->quiet_app : &o->pty) = b;
        } else if (!strcmp(kv, "sdm") || !strcmp(kv, "crypt") || !strcmp(kv, "secureboot")) {
            ok = parse_bool(v, &b);
            if (ok)
                *(kv[0] == 's' && kv[1] == 'd' ? &o->esp_sdm
                  : kv[0] == 'c'               ? &o->esp_flash_crypt
                                               : &o->esp_secure_boot) = b;
        } else if (!strcmp(kv, "mac")) {
            ok = parse_mac(v, o->esp_mac);
            o->esp_mac_set = ok;
        } else if (!strcmp(kv, "trace")) {
            ok = parse_bool(v, &b);
            if (ok)
                o->trace_bus = b;
        } else if (!strcmp(kv, "seed")) {
            ok = fl_parse_size(v, 0, &u) && u <= 0xFFFFFFFFu;
            if (ok)
                o->seed = (uint32_t)u;
        } else if (!strcmp(kv, "jedec")) {
            ok = fl_parse_size(v, 16, &u) && u > 0 && u <= 0xFFFFFF;
            if (ok)
                o->jedec = (uint32_t)u;
        } else if (!strcmp(kv, "misdirect") || !strcmp(kv, "srlost")) {
            ok = fl_parse_size(v, 10, &u) && u <= 0xFFFFFFFFu;
            if (ok)
                *(kv[0] == 'm' ? &o->misdirect_erase : &o->sr_lost) = (uint32_t)u;
        } else if (!strcmp(kv, "maxbaud") || !strcmp(kv, "marginal")) {
            ok = fl_parse_size(v, 10, &u) && u <= 0xFFFFFFFFu;
            if (ok)
                *(kv[1] == 'a' && kv[2] == 'x' ? &o->max_baud : &o->marginal_baud) = (uint32_t)u;
        } else if (!strcmp(kv, "control")) {
            ok = fl_parse_size(v, 10, &u) && u <= 65535;
            if (ok)
                o->control_port = (int)u;
        } else {
            return fl_fail(err, FL_ERR_USAGE, "unknown simulator option '%s' (known: %s)", kv, known);
        }
        if (!ok)
            return fl_fail(err, FL_ERR_USAGE, "bad value '%s' for simulator option '%s'",
                           v ? v : "", kv);
    }
    return FL_OK;
}
