/* stop.c — Ctrl-C and SIGTERM as an operator's stop request.
 *
 * The verbs never stop the library from a signal handler: the handler only
 * sets a flag, and the library polls it through fl_events.cancelled between
 * commands (the Lua host's hook polls it inside steps), so a unit is left at
 * a safe point and the run is recorded ABORTED. */
#include <signal.h>
#include <unistd.h>

#include "cli/cli.h"

static volatile sig_atomic_t stop_requested;

/* A second signal means the first could not be honoured - a step stuck
 * inside one long C call (a runaway pattern match), a hung driver - so the
 * process ends at once.  The run it leaves RUNNING is found by the crash
 * recovery at the next start and recorded ABORTED (as after kill -9). */
static void on_stop_signal(int sig)
{
    (void)sig;
    if (stop_requested) {
        static const char msg[] = "\nflashline: stopped at once (second interrupt); an unfinished "
                                  "run is recorded ABORTED at the next start\n";
        ssize_t ignored = write(2, msg, sizeof msg - 1);
        (void)ignored;
        _exit(130);
    }
    static const char first[] = "\nflashline: stopping at the next safe point (interrupt again "
                                "to stop at once)\n";
    ssize_t ignored = write(2, first, sizeof first - 1);
    (void)ignored;
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
