/* sim_query.h — pieces of the simulators' `?key=value&…` option queries
 * (private to src/sim): the UART simulator's `sim:CHIP?…` (sim_options.c)
 * and the CH341A emulator's `ch341a:sim?…` (ch341a/profiles.c). */
#ifndef FL_SIM_QUERY_H
#define FL_SIM_QUERY_H

#include <stdbool.h>


/* Decode %XX escapes in place (a '%' without two hex digits stays);
 * plus_is_space: '+' becomes ' ' as in a form-encoded query. */
void sim_url_decode(char *s, bool plus_is_space);

/* A whole finite decimal number (not NULL or empty). */
bool sim_parse_double(const char *v, double *out);

#endif
