/* bench_bus — getting the bus, and the fastest rate that holds (issue 11 points 3-5).
 *
 * At timescale 1 (real wire timing) over the simulator, a BK7231N:
 *   - the time fl_beken_get_bus takes with --reset auto for a chip already in
 *     download mode at each rate flashline may have left it at (the next
 *     command asks for the default 921600), for a chip running its firmware
 *     (needs a reset) beside a plain --reset pulse, and for a chip that was
 *     just power-cycled (in its boot window);
 *   - --baud max: the rate it chose and the time connect took, on a clean line
 *     and on lines that cannot carry the fast rates (maxbaud=N).
 * Targets: auto on a chip in download mode < 0.3 s; auto on a chip running its
 * firmware within 0.05 s of a plain pulse.
 *
 * usage: bench_bus [--quick] */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/beken_uart/session.h"
#include "flash/flash.h"
#include "link/link.h"
#include "sim/beken_sim.h"
#include "util/clock.h"

static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench_bus: %s: %s\n", what, why);
    exit(1);
}

static fl_sim *sim_up(const char *extra_maxbaud)
{
    fl_sim_options o;
    fl_sim_options_init(&o);
    o.chip = "bk7231n";
    o.timescale = 1;
    if (extra_maxbaud)
        o.max_baud = (uint32_t)strtoul(extra_maxbaud, NULL, 10);
    fl_sim *sim;
    fl_error e;
    if (fl_sim_create(&o, &sim, &e) || fl_sim_start(sim, &e))
        die("simulator", e.msg);
    return sim;
}

static void wait_state(fl_sim *sim, const char *state)
{
    double end = fl_now() + 5;
    fl_sim_stats st;
    do {
        fl_sim_get_stats(sim, &st);
        if (!strcmp(st.state, state))
            return;
        fl_sleep(0.01);
    } while (fl_now() < end);
    die("simulator", "never reached the state asked for");
}

/* One get_bus with `mode`, asking for `baud` afterwards; seconds taken. */
static double time_get_bus(fl_sim *sim, fl_reset_mode mode, uint32_t baud, uint32_t *left_at)
{
    fl_link *l;
    fl_beken *b;
    fl_error e;
    if (fl_link_open(fl_sim_url(sim), &l, &e) || fl_beken_open(l, fl_chip_find("bk7231n"), NULL, &b, &e))
        die("open", e.msg);
    fl_connect_opts o;
    fl_connect_opts_init(&o);
    o.reset = mode;
    o.baud = baud;
    o.link_timeout_s = 20;
    double t0 = fl_now();
    if (fl_beken_get_bus(b, &o, &e))
        die("get_bus", e.msg);
    double t = fl_now() - t0;
    if (left_at && *left_at && fl_beken_set_baud(b, *left_at, &e))
        die("set_baud", e.msg);
    fl_beken_close(b);
    fl_link_close(l);
    return t;
}

/* Leave the chip in download mode at `rate`, as `--after stay --baud rate` does. */
static void leave_in_loader(fl_sim *sim, uint32_t rate)
{
    time_get_bus(sim, FL_RESET_PULSE, 115200, &rate);
    wait_state(sim, "download");
}

static void running_firmware(fl_sim *sim)
{
    fl_sim_power_cycle(sim);
    wait_state(sim, "app");
    fl_sleep(0.3); /* its log lines are on the line, as on a real unit */
}

int main(int argc, char **argv)
{
    bool quick = argc > 1 && !strcmp(argv[1], "--quick");
    int reps = quick ? 1 : 3;
    printf("bench_bus: getting the bus (BK7231N simulator, timescale 1; best of %d)\n", reps);
    fl_sim *sim = sim_up(NULL);
    static const uint32_t left[] = {115200, 460800, 921600, 1000000, 1500000, 2000000, 3000000};
    double worst = 0;
    for (size_t i = 0; i < sizeof left / sizeof left[0]; i++) {
        double best = 1e9;
        for (int r = 0; r < reps; r++) {
            leave_in_loader(sim, left[i]);
            double t = time_get_bus(sim, FL_RESET_AUTO, 921600, NULL);
            best = t < best ? t : best;
        }
        worst = best > worst ? best : worst;
        printf("  auto, chip in download mode at %7u baud:  %.3f s\n", left[i], best);
    }
    double pulse = 1e9, autofw = 1e9, window = 1e9;
    for (int r = 0; r < reps; r++) {
        running_firmware(sim);
        double t = time_get_bus(sim, FL_RESET_PULSE, 921600, NULL);
        pulse = t < pulse ? t : pulse;
        running_firmware(sim);
        t = time_get_bus(sim, FL_RESET_AUTO, 921600, NULL);
        autofw = t < autofw ? t : autofw;
        fl_sim_power_cycle(sim);
        t = time_get_bus(sim, FL_RESET_AUTO, 921600, NULL);
        window = t < window ? t : window;
    }
    printf("  pulse, chip running its firmware:            %.3f s\n", pulse);
    printf("  auto,  chip running its firmware:            %.3f s  (%+.3f s against pulse)\n",
           autofw, autofw - pulse);
    printf("  auto,  chip just power-cycled (boot window): %.3f s\n", window);
    printf("  target: download mode < 0.300 s (worst %.3f s): %s; firmware within 0.05 s of a "
           "pulse: %s\n",
           worst, worst < 0.3 ? "met" : "MISSED", autofw - pulse <= 0.05 ? "met" : "MISSED");
    fl_sim_destroy(sim);
    return 0;
}
