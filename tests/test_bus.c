/* test_bus — getting the bus (--reset auto and none) and --baud max, judged by
 * the simulator's bus trace (events=FILE with trace on): which LinkChecks the
 * host sent at which rate, which one the loader answered, whether RTS was
 * pulsed and the chip reset, in that order.  Timescale 0: the ORDER and the
 * counts are asserted, never the times (those are `make bench`, bench_bus). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drivers/beken_uart/session.h"
#include "flash/flash.h"
#include "link/link.h"
#include "sim/beken_sim.h"
#include "testlib.h"
#include "util/clock.h"

static char dir[] = "/tmp/fl-test-bus-XXXXXX";

typedef struct {
    fl_sim *sim;
    char events[600];
    long mark; /* the record's size when the action under test began */
} rig;

/* A line that carries LinkChecks but garbles long messages above this rate
 * (the simulator's marginal=N) for the next rig_up; 0 = none. */
static uint32_t marginal_next;

static bool rig_up(rig *r, const char *name, bool manual, uint32_t max_baud, double drop,
                   double corrupt, uint32_t seed)
{
    memset(r, 0, sizeof *r);
    snprintf(r->events, sizeof r->events, "%s/%s.ev", dir, name);
    fl_sim_options o;
    fl_sim_options_init(&o);
    o.chip = "bk7231n";
    o.timescale = 0;
    o.quiet_app = true;
    o.manual_reset = manual;
    o.max_baud = max_baud;
    o.marginal_baud = marginal_next;
    marginal_next = 0;
    o.drop_rate = drop;
    o.corrupt_rate = corrupt;
    o.seed = seed;
    o.events_path = r->events;
    o.trace_bus = true;
    fl_error e;
    if (fl_sim_create(&o, &r->sim, &e) || fl_sim_start(r->sim, &e)) {
        CHECK(0, "simulator: %s", e.msg);
        return false;
    }
    return true;
}

static void rig_down(rig *r)
{
    if (r->sim)
        fl_sim_destroy(r->sim);
    r->sim = NULL;
}

static void mark(rig *r)
{
    struct stat st;
    r->mark = stat(r->events, &st) == 0 ? (long)st.st_size : 0;
}

/* The trace since the mark, one event per entry ("link-check baud=921600"),
 * host_bytes cut off. */
static size_t trace(rig *r, char ev[][48], size_t cap)
{
    FILE *f = fopen(r->events, "r");
    size_t n = 0;
    char line[256];
    if (!f)
        return 0;
    fseek(f, r->mark, SEEK_SET);
    while (n < cap && fgets(line, sizeof line, f)) {
        char *hb = strstr(line, " host_bytes=");
        if (hb)
            *hb = '\0';
        line[strcspn(line, "\n")] = '\0';
        snprintf(ev[n++], 48, "%s", line);
    }
    fclose(f);
    return n;
}

static size_t find(char ev[][48], size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(ev[i], what))
            return i;
    return (size_t)-1;
}

static size_t count_before(char ev[][48], size_t upto, const char *prefix)
{
    size_t c = 0;
    for (size_t i = 0; i < upto; i++)
        c += !strncmp(ev[i], prefix, strlen(prefix));
    return c;
}

/* Every answer is confirmed by a second LinkCheck once the line is quiet
 * (stale replies are never asked for): the trace ends with that pair at the
 * rate answered.  Checked here and taken off, so the cases read as the
 * strategy's own steps. */
static void take_confirmation(char ev[][48], size_t *n)
{
    if (*n < 3) {
        CHECK(0, "too short to hold an answer and its confirmation (%zu events)", *n);
        return;
    }
    const char *rate = strchr(ev[*n - 3], ' ');
    char want_check[48];
    snprintf(want_check, sizeof want_check, "link-check%s", rate ? rate : "");
    CHECK(!strncmp(ev[*n - 3], "link-answer", 11) && !strcmp(ev[*n - 2], want_check) &&
              !strcmp(ev[*n - 1], ev[*n - 3]),
          "the answer is confirmed at the same rate: %s / %s / %s", ev[*n - 3], ev[*n - 2],
          ev[*n - 1]);
    *n -= 2;
}

typedef struct {
    fl_link *link;
    fl_beken *b;
} sess;

static bool sess_open(rig *r, sess *s)
{
    fl_error e;
    if (fl_link_open(fl_sim_url(r->sim), &s->link, &e) ||
        fl_beken_open(s->link, fl_chip_find("bk7231n"), NULL, &s->b, &e)) {
        CHECK(0, "open: %s", e.msg);
        return false;
    }
    return true;
}

static void sess_close(sess *s)
{
    fl_beken_close(s->b);
    fl_link_close(s->link);
}

static fl_status get_bus(rig *r, fl_reset_mode mode, uint32_t baud, uint32_t last, double timeout)
{
    sess s;
    if (!sess_open(r, &s))
        return FL_ERR_INTERNAL;
    fl_connect_opts o;
    fl_connect_opts_init(&o);
    o.reset = mode;
    o.baud = baud;
    o.last_baud = last;
    o.link_timeout_s = timeout;
    fl_error e;
    fl_status st = fl_beken_get_bus(s.b, &o, &e);
    sess_close(&s);
    return st;
}

/* The loader in download mode at `rate`, as `--after stay --baud rate` leaves it. */
static void leave_in_loader(rig *r, fl_reset_mode how, uint32_t rate)
{
    sess s;
    if (!sess_open(r, &s))
        return;
    fl_connect_opts o;
    fl_connect_opts_init(&o);
    o.reset = how;
    o.link_timeout_s = 10;
    fl_error e;
    CHECK(fl_beken_get_bus(s.b, &o, &e) == FL_OK, "prepare: %s", e.msg);
    CHECK(fl_beken_set_baud(s.b, rate, &e) == FL_OK && s.b->baud == rate, "prepare at %u", rate);
    sess_close(&s);
}

static void wait_state(rig *r, const char *state)
{
    fl_sim_stats st;
    for (int i = 0; i < 500; i++) { /* a chip state, polled: the sim has no callback */
        fl_sim_get_stats(r->sim, &st);
        if (!strcmp(st.state, state))
            return;
        fl_sleep(0.01);
    }
    CHECK(0, "the simulated chip never reached state %s", state);
}

/* Left at 1500000 and remembered: one LinkCheck there, answered; nothing reset. */
static void test_remembered_rate_first(void)
{
    rig r;
    if (!rig_up(&r, "remembered", false, 0, 0, 0, 0))
        return;
    leave_in_loader(&r, FL_RESET_PULSE, 1500000);
    mark(&r);
    CHECK(get_bus(&r, FL_RESET_AUTO, 921600, 1500000, 10) == FL_OK, "auto gets the bus");
    char ev[64][48];
    size_t n = trace(&r, ev, 64);
    take_confirmation(ev, &n);
    CHECK(n == 2, "exactly one LinkCheck and its answer (%zu events)", n);
    CHECK_STR(ev[0], "link-check baud=1500000");
    CHECK_STR(ev[1], "link-answer baud=1500000");
    rig_down(&r);
}

/* Not remembered, but the rate asked for: 115200 first, then --baud; no pulse. */
static void test_asked_rate_before_pulse(void)
{
    rig r;
    if (!rig_up(&r, "asked", false, 0, 0, 0, 0))
        return;
    leave_in_loader(&r, FL_RESET_PULSE, 2000000);
    mark(&r);
    CHECK(get_bus(&r, FL_RESET_AUTO, 2000000, 0, 10) == FL_OK, "auto gets the bus");
    char ev[64][48];
    size_t n = trace(&r, ev, 64);
    take_confirmation(ev, &n);
    CHECK(n == 3, "two LinkChecks and one answer (%zu events)", n);
    CHECK_STR(ev[0], "link-check baud=115200");
    CHECK_STR(ev[1], "link-check baud=2000000");
    CHECK_STR(ev[2], "link-answer baud=2000000");
    rig_down(&r);
}

/* A chip running its firmware: the two quick checks, then at once one pulse,
 * and the loader answers at 115200 after the reset; no `reboot` text first. */
static void test_firmware_pulse_early(void)
{
    rig r;
    if (!rig_up(&r, "firmware", false, 0, 0, 0, 0))
        return;
    fl_sim_power_cycle(r.sim);
    wait_state(&r, "app");
    mark(&r);
    CHECK(get_bus(&r, FL_RESET_AUTO, 921600, 0, 10) == FL_OK, "auto gets the bus");
    char ev[256][48];
    size_t n = trace(&r, ev, 256);
    take_confirmation(ev, &n);
    size_t pulse = find(ev, n, "rts-low"), reset = find(ev, n, "reset"),
           answer = find(ev, n, "link-answer baud=115200");
    CHECK(n >= 5, "%zu events", n);
    CHECK_STR(ev[0], "link-check baud=115200");
    CHECK_STR(ev[1], "link-check baud=921600");
    CHECK(pulse == 2, "the pulse is the third action (at %zu)", pulse);
    CHECK(count_before(ev, n, "rts-low") == 1, "one pulse only");
    /* the trace notes a LinkCheck when it arrives, the reset when the RTS
     * release reaches the chip: one sent right after the release may come first */
    CHECK(reset != (size_t)-1 && reset > pulse && answer > reset && answer == n - 1,
          "reset at %zu, answered at %zu of %zu", reset, answer, n);
    CHECK(find(ev, n, "reboot-text") == (size_t)-1, "no reboot text");
    CHECK(count_before(ev, answer, "link-check baud=115200") == answer - 3,
          "after the pulse only 115200 is asked");
    CHECK(count_before(ev, n, "reset") == 1, "one reset");
    rig_down(&r);
}

/* A chip in its boot window (just power-cycled): the first check answers. */
static void test_boot_window(void)
{
    rig r;
    if (!rig_up(&r, "window", false, 0, 0, 0, 0))
        return;
    fl_sim_power_cycle(r.sim);
    mark(&r);
    CHECK(get_bus(&r, FL_RESET_AUTO, 921600, 0, 10) == FL_OK, "auto gets the bus");
    char ev[64][48];
    size_t n = trace(&r, ev, 64);
    take_confirmation(ev, &n);
    CHECK(n == 2, "%zu events", n);
    CHECK_STR(ev[0], "link-check baud=115200");
    CHECK_STR(ev[1], "link-answer baud=115200");
    rig_down(&r);
}

/* A fixture whose RTS does not reach CEN, the loader left at 2000000 and not
 * remembered: quick checks, the (useless) pulse and its short listen, then
 * the other likely rates in order up to 2000000 - no reset ever happens. */
static void test_no_cen_wiring_sweeps_rates(void)
{
    rig r;
    if (!rig_up(&r, "nocen", true, 0, 0, 0, 0))
        return;
    fl_sim_power_cycle(r.sim);
    leave_in_loader(&r, FL_RESET_NONE, 2000000);
    mark(&r);
    CHECK(get_bus(&r, FL_RESET_AUTO, 921600, 0, 10) == FL_OK, "auto gets the bus");
    char ev[256][48];
    size_t n = trace(&r, ev, 256);
    take_confirmation(ev, &n);
    size_t pulse = find(ev, n, "rts-low"), at15 = find(ev, n, "link-check baud=1500000"),
           at20 = find(ev, n, "link-check baud=2000000");
    CHECK(n >= 6, "%zu events", n);
    CHECK_STR(ev[0], "link-check baud=115200");
    CHECK_STR(ev[1], "link-check baud=921600");
    CHECK(pulse == 2, "pulse at %zu", pulse);
    CHECK(at15 != (size_t)-1 && at15 > pulse && at20 == at15 + 1, "1500000 at %zu, 2000000 at %zu",
          at15, at20);
    CHECK(n - 1 == at20 + 1 && !strcmp(ev[n - 1], "link-answer baud=2000000"),
          "answered at 2000000, last: %s", n ? ev[n - 1] : "");
    CHECK(find(ev, n, "reset") == (size_t)-1, "never reset");
    CHECK(find(ev, n, "reboot-text") == (size_t)-1, "no reboot text");
    rig_down(&r);
}

/* --reset none never pulses: the quick rates, then every likely rate. */
static void test_none_never_pulses(void)
{
    rig r;
    if (!rig_up(&r, "none", false, 0, 0, 0, 0))
        return;
    leave_in_loader(&r, FL_RESET_PULSE, 3000000);
    mark(&r);
    CHECK(get_bus(&r, FL_RESET_NONE, 921600, 0, 10) == FL_OK, "none gets the bus");
    char ev[64][48];
    size_t n = trace(&r, ev, 64);
    take_confirmation(ev, &n);
    static const char *const want[] = {
        "link-check baud=115200",  "link-check baud=921600", "link-check baud=1500000",
        "link-check baud=2000000", "link-check baud=460800", "link-check baud=230400",
        "link-check baud=1000000", "link-check baud=3000000", "link-answer baud=3000000"};
    CHECK(n == sizeof want / sizeof want[0], "%zu events", n);
    for (size_t i = 0; i < n && i < sizeof want / sizeof want[0]; i++)
        CHECK_STR(ev[i], want[i]);
    rig_down(&r);
}

/* --baud max through fl_beken_connect: the rate chosen, the rate that failed,
 * and a read at the chosen rate equal to the simulated flash. */
static void baud_max_case(const char *name, uint32_t max_baud, double drop, double corrupt,
                          uint32_t seed, uint32_t want, uint32_t want_failed)
{
    rig r;
    if (!rig_up(&r, name, false, max_baud, drop, corrupt, seed))
        return;
    sess s;
    if (!sess_open(&r, &s)) {
        rig_down(&r);
        return;
    }
    fl_connect_opts o;
    fl_connect_opts_init(&o);
    o.baud = FL_BAUD_MAX;
    o.link_timeout_s = 20;
    fl_error e;
    fl_status st = fl_beken_connect(s.b, &o, &e);
    CHECK(st == FL_OK, "%s: connect: %s", name, st ? e.msg : "");
    if (want)
        CHECK(s.b->baud == want, "%s: chose %u, wanted %u", name, s.b->baud, want);
    else
        CHECK(s.b->baud >= 230400 && s.b->baud <= 3000000, "%s: chose %u", name, s.b->baud);
    if (want || want_failed)
        CHECK(s.b->baud_max_failed == want_failed, "%s: failed at %u, wanted %u", name,
              s.b->baud_max_failed, want_failed);
    enum { LEN = 0x20000 };
    uint8_t *got = malloc(LEN), *ref = malloc(LEN);
    if (!st && got && ref) {
        st = fl_beken_read(s.b, 0x100000, LEN, got, &e);
        CHECK(st == FL_OK, "%s: read at %u: %s", name, s.b->baud, st ? e.msg : "");
        CHECK(fl_sim_flash_read(r.sim, 0x100000, ref, LEN, &e) == FL_OK, "sim read");
        CHECK(st || !memcmp(got, ref, LEN), "%s: the read equals the flash", name);
    }
    free(got);
    free(ref);
    sess_close(&s);
    rig_down(&r);
}

static void test_baud_max_clean(void)
{
    baud_max_case("max-clean", 0, 0, 0, 0, 3000000, 0);
}

static void test_baud_max_line_limit(void)
{
    baud_max_case("max-1M", 1000000, 0, 0, 0, 921600, 1500000);
    baud_max_case("max-300k", 300000, 0, 0, 0, 230400, 460800);
    baud_max_case("max-2M", 2000000, 0, 0, 0, 2000000, 3000000);
}

/* LinkChecks and the switch echo pass up to 3000000, 4 KiB frames break above
 * 1000000: the CRC-checked read walks it back down to 921600. */
static void test_baud_max_marginal_line(void)
{
    marginal_next = 1000000;
    baud_max_case("max-marginal", 0, 0, 0, 0, 921600, 1500000);
}

/* Line trouble (lost and garbled bytes): it may settle lower, never reads wrong. */
static void test_baud_max_line_faults(void)
{
    for (uint32_t seed = 1; seed <= 4; seed++) {
        char name[32];
        snprintf(name, sizeof name, "max-faults-%u", seed);
        baud_max_case(name, seed % 2 ? 1500000 : 0, 0.005, 0.005, seed, 0, 0);
    }
}

int main(void)
{
    if (!mkdtemp(dir))
        return 2;
    RUN(test_remembered_rate_first);
    RUN(test_asked_rate_before_pulse);
    RUN(test_firmware_pulse_early);
    RUN(test_boot_window);
    RUN(test_no_cen_wiring_sweeps_rates);
    RUN(test_none_never_pulses);
    RUN(test_baud_max_clean);
    RUN(test_baud_max_line_limit);
    RUN(test_baud_max_marginal_line);
    RUN(test_baud_max_line_faults);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return testlib_finish();
}
