/* stop.c — Ctrl-C and SIGTERM as an operator's stop request.
 *
 * The verbs never stop the library from a signal handler: the handler only
 * sets a flag, and the library polls it through fl_events.cancelled between
 * commands (the Lua host's hook polls it inside steps), so a unit is left at
 * a safe point and the run is recorded ABORTED. */
#include <signal.h>

#include "cli/cli.h"

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

void cli_stop_on_signals(void)
{
    signal(SIGINT, on_stop_signal);
    signal(SIGTERM, on_stop_signal);
}

int cli_stop_requested(void *ctx)
{
    (void)ctx;
    return stop_requested;
}
