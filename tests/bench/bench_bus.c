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

static fl_sim *sim_up(uint32_t max_baud, bool manual, double faults, uint32_t marginal)
{
    fl_sim_options o;
    fl_sim_options_init(&o);
    o.chip = "bk7231n";
    o.timescale = 1;
    o.max_baud = max_baud;
    o.manual_reset = manual;
    o.marginal_baud = marginal;
    o.drop_rate = o.corrupt_rate = faults;
    o.seed = 11;
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

/* One get_bus with `mode`, asking for `baud` afterwards (`last`: the rate the
 * home remembers for the port); seconds taken. */
static double time_get_bus_last(fl_sim *sim, fl_reset_mode mode, uint32_t baud, uint32_t last,
                                uint32_t *left_at)
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
    o.last_baud = last;
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

static double time_get_bus(fl_sim *sim, fl_reset_mode mode, uint32_t baud, uint32_t *left_at)
{
    return time_get_bus_last(sim, mode, baud, 0, left_at);
}

/* fl_beken_connect with --baud `baud` (FL_BAUD_MAX too) from a chip in its
 * boot window: seconds, the rate in use and the rate that failed. */
static double time_connect(fl_sim *sim, uint32_t baud, uint32_t *chosen, uint32_t *failed)
{
    fl_link *l;
    fl_beken *b;
    fl_error e;
    fl_sim_power_cycle(sim);
    if (fl_link_open(fl_sim_url(sim), &l, &e) || fl_beken_open(l, fl_chip_find("bk7231n"), NULL, &b, &e))
        die("open", e.msg);
    fl_connect_opts o;
    fl_connect_opts_init(&o);
    o.baud = baud;
    double t0 = fl_now();
    if (fl_beken_connect(b, &o, &e))
        die("connect", e.msg);
    double t = fl_now() - t0;
    *chosen = b->baud;
    *failed = b->baud_max_failed;
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

static void bus_times(int reps)
{
    fl_sim *sim = sim_up(0, false, 0, 0);
    static const uint32_t left[] = {115200, 460800, 921600, 1000000, 1500000, 2000000, 3000000};
    double worst = 0, worst_mem = 0;
    for (size_t i = 0; i < sizeof left / sizeof left[0]; i++) {
        double best = 1e9, mem = 1e9;
        for (int r = 0; r < reps; r++) {
            leave_in_loader(sim, left[i]);
            double t = time_get_bus(sim, FL_RESET_AUTO, 921600, NULL);
            best = t < best ? t : best;
            leave_in_loader(sim, left[i]);
            t = time_get_bus_last(sim, FL_RESET_AUTO, 921600, left[i], NULL);
            mem = t < mem ? t : mem;
        }
        worst = best > worst ? best : worst;
        worst_mem = mem > worst_mem ? mem : worst_mem;
        printf("  auto, chip in download mode at %7u baud:  %.3f s  (rate remembered: %.3f s)\n",
               left[i], best, mem);
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
    fl_sim_destroy(sim);
    printf("  pulse, chip running its firmware:            %.3f s\n", pulse);
    printf("  auto,  chip running its firmware:            %.3f s  (%+.3f s against pulse)\n",
           autofw, autofw - pulse);
    printf("  auto,  chip just power-cycled (boot window): %.3f s\n", window);
    /* a fixture whose RTS does not reach CEN: only the rate sweep finds the loader */
    sim = sim_up(0, true, 0, 0);
    double nocen = 1e9, nocen_mem = 1e9;
    for (int r = 0; r < reps; r++) {
        fl_sim_power_cycle(sim);
        uint32_t rate = 2000000;
        time_get_bus(sim, FL_RESET_NONE, 115200, &rate);
        double t = time_get_bus(sim, FL_RESET_AUTO, 921600, NULL);
        nocen = t < nocen ? t : nocen;
        t = time_get_bus_last(sim, FL_RESET_AUTO, 921600, 2000000, NULL);
        nocen_mem = t < nocen_mem ? t : nocen_mem;
    }
    fl_sim_destroy(sim);
    printf("  auto, no CEN wiring, loader at 2000000:      %.3f s  (rate remembered: %.3f s)\n",
           nocen, nocen_mem);
    printf("  targets: download mode < 0.300 s (worst %.3f s, remembered %.3f s): %s; firmware "
           "within 0.05 s of a pulse: %s\n",
           worst, worst_mem, worst < 0.3 && worst_mem < 0.3 ? "met" : "MISSED",
           autofw - pulse <= 0.05 ? "met" : "MISSED");
}

static void max_case(const char *label, uint32_t max_baud, uint32_t marginal, double faults)
{
    fl_sim *sim = sim_up(max_baud, false, faults, marginal);
    uint32_t chosen, failed, c2, f2;
    double fixed = time_connect(sim, 921600, &c2, &f2);
    double t = time_connect(sim, FL_BAUD_MAX, &chosen, &failed);
    fl_sim_destroy(sim);
    char why[48] = "";
    if (failed)
        snprintf(why, sizeof why, ", %u failed", failed);
    printf("  --baud max, %-34s %7u baud in %.3f s%s  (connect at 921600: %.3f s)\n", label,
           chosen, t, why, fixed);
}

int main(int argc, char **argv)
{
    bool quick = argc > 1 && !strcmp(argv[1], "--quick");
    int reps = quick ? 1 : 3;
    printf("bench_bus: getting the bus (BK7231N simulator, timescale 1; best of %d)\n", reps);
    bus_times(reps);
    max_case("clean line:", 0, 0, 0);
    max_case("line garbles above 1000000:", 1000000, 0, 0);
    max_case("line garbles above 2000000:", 2000000, 0, 0);
    max_case("4 KiB frames break above 1000000:", 0, 1000000, 0);
    max_case("0.5 % drops and garbles:", 0, 0, 0.005);
    return 0;
}
