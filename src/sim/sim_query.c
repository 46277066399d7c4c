/* sim_query.c — the simulators' option-query pieces (see sim_query.h). */
#include "sim/sim_query.h"

#include <math.h>
#include <stdlib.h>

int sim_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void sim_url_decode(char *s, bool plus_is_space)
{
    char *o = s;
    for (; *s; s++) {
        if (*s == '%' && sim_hexval(s[1]) >= 0 && sim_hexval(s[2]) >= 0) {
            *o++ = (char)(sim_hexval(s[1]) * 16 + sim_hexval(s[2]));
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
