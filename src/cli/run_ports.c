/* run_ports.c — where `flashline run RECIPE` finds its ports when no --port
 * is given: a recipe made for one fixture names its ports, and a station
 * names its own in station.yaml, so the operator types only the recipe. */
#include "cli/run_ports.h"

#include <string.h>

#include "cli/cli.h"
#include "station/home.h"
#include "station/recipe.h"

int cli_default_ports_find(const char *recipe_path, cli_default_ports *out)
{
    memset(out, 0, sizeof *out);
    fl_error err = {0};
    /* The recipe is loaded again by the run itself: this load only reads its
     * ports: (and fails with the same FILE:LINE:COLUMN the run would give). */
    if (fl_recipe_load(recipe_path, &out->recipe, &err))
        return cli_report_error_as(NULL, "run", &err, EXIT_INPUT);
    if (out->recipe->nports) {
        out->items = (const char *const *)out->recipe->ports;
        out->n = out->recipe->nports;
        out->from = "the recipe";
        return 0;
    }
    if (fl_home_open(NULL, &out->home, &err))
        return cli_report_error_as(NULL, "run", &err, EXIT_INPUT);
    out->items = fl_home_ports(out->home, &out->n);
    out->from = fl_home_config_path(out->home);
    if (out->n)
        return 0;
    int rc = cli_usage_error("run", "which port? give --port URL, or a 'ports:' list in the recipe "
                             "or in %s (or --check)", fl_home_config_path(out->home));
    cli_default_ports_free(out);
    return rc;
}

void cli_default_ports_free(cli_default_ports *p)
{
    fl_recipe_free(p->recipe);
    fl_home_close(p->home);
    memset(p, 0, sizeof *p);
}
