/* run_ports.h — the ports `flashline run RECIPE` uses when the command line
 * names none (run_ports.c).
 *
 * Precedence: --port on the command line (not handled here), then the
 * recipe's `ports:` list, then the station home's station.yaml `ports:`. */
#ifndef FL_CLI_RUN_PORTS_H
#define FL_CLI_RUN_PORTS_H

#include <stddef.h>

typedef struct fl_recipe fl_recipe;
typedef struct fl_home fl_home;

typedef struct cli_default_ports {
    const char *const *items; /* owned by recipe or home below */
    size_t n;
    const char *from;         /* "the recipe" or the station.yaml path, for messages */
    fl_recipe *recipe;
    fl_home *home;
} cli_default_ports;

/* Fills *out from the recipe (a file path) or station.yaml.  Returns 0, or
 * reports the problem (a recipe or station.yaml that does not load: exit 3;
 * no ports anywhere: a usage error, exit 2) and returns the exit code. */
int cli_default_ports_find(const char *recipe_path, cli_default_ports *out);
void cli_default_ports_free(cli_default_ports *p);

#endif
