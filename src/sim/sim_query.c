/* sim_query.c — the simulators' option-query pieces (see sim_query.h). */
#include "sim/sim_query.h"
#include "util/parse.h"

#include <math.h>
#include <stdlib.h>

void sim_url_decode(char *s, bool plus_is_space)
{
    char *o = s;
    for (; *s; s++) {
        if (*s == '%' && fl_hex_digit(s[1]) >= 0 && fl_hex_digit(s[2]) >= 0) {
            *o++ = (char)(fl_hex_digit(s[1]) * 16 + fl_hex_digit(s[2]));
            s += 2;
        } else {
            *o++ = plus_is_space && *s == '+' ? ' ' : *s;
        }
    }
    *o = '\0';
}

bool sim_parse_double(const char *v, double *out)
{
    if (!v || !*v)
        return false;
    char *end;
    double x = strtod(v, &end);
    if (*end || !isfinite(x))
        return false;
    *out = x;
    return true;
}
