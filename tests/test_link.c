/* test_link.c — the termios transport on a pseudo-terminal and the stale-input drain:
 * a pty opens (no modem lines, no error), reads time out without error, any baud
 * rate reaches the tty (termios2/BOTHER), the drain throws away what is waiting and
 * is bounded when the line never falls quiet, a hang-up is a link error. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "link/link.h"
#include "testlib.h"
#include "util/clock.h"

typedef struct pty_pair {
    int master;
    char path[64];
} pty_pair;

static bool make_pty(pty_pair *p)
{
    p->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (p->master < 0 || grantpt(p->master) || unlockpt(p->master) ||
        ptsname_r(p->master, p->path, sizeof p->path)) {
        CHECK(0, "cannot create a pty: %s", strerror(errno));
        return false;
    }
    return true;
}

/* Everything the master can read within timeout_s (the bytes the link wrote). */
static size_t master_read(int fd, char *buf, size_t cap, double timeout_s)
{
    size_t have = 0;
    double end = fl_now() + timeout_s;
    while (have < cap) {
        double left = end - fl_now();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)(left * 1000) + 1) <= 0)
            break;
        ssize_t r = read(fd, buf + have, cap - have);
        if (r <= 0)
            break;
        have += (size_t)r;
    }
    return have;
}

static void test_pty_opens_without_modem_lines(void)
{
    pty_pair p;
    if (!make_pty(&p))
        return;
    fl_link *l = NULL;
    fl_error err = {0};
    fl_status st = fl_link_open(p.path, &l, &err);
    CHECK(st == FL_OK, "opening %s: %s", p.path, err.msg);
    if (st) {
        close(p.master);
        return;
    }
    CHECK(l->has_baud, "a pty takes baud rates");
    CHECK(!l->has_lines, "a pty has no DTR/RTS");
    CHECK(fl_link_set_lines(l, 1, 1, &err) == FL_ERR_USAGE, "set_lines on a pty is refused");
    fl_link *second = NULL;
    CHECK(fl_link_open(p.path, &second, &err) == FL_ERR_LINK && strstr(err.msg, "busy"),
          "a second opener is told the port is busy: %s", err.msg);
    fl_link_close(second);
    fl_link_close(l);

    /* serial: prefix, same path */
    char url[80];
    snprintf(url, sizeof url, "serial:%s", p.path);
    CHECK(fl_link_open(url, &l, &err) == FL_OK, "opening %s: %s", url, err.msg);
    fl_link_close(l);
    close(p.master);
}

static void test_pty_read_write(void)
{
    pty_pair p;
    fl_link *l = NULL;
    fl_error err = {0};
    if (!make_pty(&p) || fl_link_open(p.path, &l, &err) != FL_OK) {
        CHECK(0, "open: %s", err.msg);
        return;
    }
    uint8_t buf[64];
    size_t got = 99;
    double t0 = fl_now();
    CHECK(fl_link_read(l, buf, sizeof buf, 0.05, &got, &err) == FL_OK, "quiet read: %s", err.msg);
    CHECK(got == 0, "nothing arrived, got %zu", got);
    CHECK(fl_now() - t0 >= 0.04, "the read waited for its timeout");

    CHECK(write(p.master, "hello", 5) == 5, "master write");
    CHECK(fl_link_read_exact(l, buf, 5, 5.0, &err) == FL_OK, "read_exact: %s", err.msg);
    CHECK(!memcmp(buf, "hello", 5), "the bytes arrive unchanged");

    const uint8_t bin[4] = {0x00, 0x0D, 0x0A, 0xFF}; /* raw: no CR/LF mapping, no 8th-bit strip */
    CHECK(fl_link_write(l, bin, 4, &err) == FL_OK, "write: %s", err.msg);
    CHECK(fl_link_drain(l, &err) == FL_OK, "drain: %s", err.msg);
    char back[8];
    CHECK(master_read(p.master, back, 4, 5.0) == 4 && !memcmp(back, bin, 4),
          "binary bytes leave unchanged");
    fl_link_close(l);
    close(p.master);
}

#if defined(__linux__)
struct k_termios2 {
    tcflag_t c_iflag, c_oflag, c_cflag, c_lflag;
    cc_t c_line;
    cc_t c_cc[19];
    speed_t c_ispeed, c_ospeed;
};
#define K_TCGETS2 _IOR('T', 0x2A, struct k_termios2)

static unsigned tty_speed(const char *path)
{
    int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK);
    struct k_termios2 t2;
    unsigned v = fd >= 0 && ioctl(fd, K_TCGETS2, &t2) == 0 ? t2.c_ospeed : 0;
    if (fd >= 0)
        close(fd);
    return v;
}

static void test_pty_any_baud(void)
{
    pty_pair p;
    fl_link *l = NULL;
    fl_error err = {0};
    if (!make_pty(&p) || fl_link_open(p.path, &l, &err) != FL_OK) {
        CHECK(0, "open: %s", err.msg);
        return;
    }
    CHECK_EQ_UINT(tty_speed(p.path), 115200);
    const uint32_t rates[] = {921600, 750000, 1500000, 2000000, 123456, 115200};
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
        CHECK(fl_link_set_baud(l, rates[i], &err) == FL_OK, "%u baud: %s", rates[i], err.msg);
        CHECK_EQ_UINT(tty_speed(p.path), rates[i]);
        CHECK_EQ_UINT(l->baud, rates[i]);
    }
    fl_link_close(l);
    close(p.master);
}
#endif

static void test_drain_throws_away_waiting_input(void)
{
    pty_pair p;
    fl_link *l = NULL;
    fl_error err = {0};
    if (!make_pty(&p) || fl_link_open(p.path, &l, &err) != FL_OK) {
        CHECK(0, "open: %s", err.msg);
        return;
    }
    static const uint8_t stale[8] = {0x04, 0x0E, 0x05, 0x01, 0xE0, 0xFC, 0x01, 0x00};
    for (int i = 0; i < 40; i++)
        CHECK(write(p.master, stale, sizeof stale) == sizeof stale, "master write");
    size_t dropped = 0;
    CHECK(fl_link_drain_until_quiet(l, 0.05, 5.0, &dropped, &err) == FL_OK, "drain: %s", err.msg);
    CHECK(dropped == 40 * sizeof stale, "dropped %zu of %zu stale bytes", dropped,
          40 * sizeof stale);
    uint8_t buf[16];
    size_t got = 99;
    CHECK(fl_link_read(l, buf, sizeof buf, 0.02, &got, &err) == FL_OK && got == 0,
          "nothing stale is left (got %zu)", got);

    /* A quiet line: the drain costs one quiet period, not the cap. */
    double t0 = fl_now();
    CHECK(fl_link_drain_until_quiet(l, 0.02, 30.0, &dropped, &err) == FL_OK, "drain: %s", err.msg);
    CHECK(dropped == 0, "a quiet line drops nothing (%zu)", dropped);
    CHECK(fl_now() - t0 < 10.0, "a quiet line ends the drain long before the cap");
    fl_link_close(l);
    close(p.master);
}

typedef struct chatter {
    int fd;
    atomic_bool stop;
    double give_up; /* the writer's own deadline, so an unbounded drain fails, not hangs */
} chatter;

static void *chatter_main(void *arg)
{
    chatter *c = arg;
    static const char line[] = "app: still running, still talking\r\n";
    while (!atomic_load(&c->stop) && fl_now() < c->give_up) {
        if (write(c->fd, line, sizeof line - 1) < 0 && errno != EAGAIN)
            break;
        fl_sleep(0.002);
    }
    return NULL;
}

static void test_drain_is_bounded_on_a_talking_line(void)
{
    pty_pair p;
    fl_link *l = NULL;
    fl_error err = {0};
    if (!make_pty(&p) || fl_link_open(p.path, &l, &err) != FL_OK) {
        CHECK(0, "open: %s", err.msg);
        return;
    }
    fcntl(p.master, F_SETFL, fcntl(p.master, F_GETFL) | O_NONBLOCK);
    CHECK(write(p.master, "boot\r\n", 6) == 6, "first words are on the line before the drain");
    chatter c = {.fd = p.master, .give_up = fl_now() + 20.0};
    atomic_init(&c.stop, false);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, chatter_main, &c) == 0, "thread");
    size_t dropped = 0;
    double t0 = fl_now();
    /* quiet_s far above the writer's 2 ms pace: only the cap can end this drain */
    fl_status st = fl_link_drain_until_quiet(l, 1.0, 0.3, &dropped, &err);
    double took = fl_now() - t0;
    atomic_store(&c.stop, true);
    pthread_join(th, NULL);
    CHECK(st == FL_OK, "drain: %s", err.msg);
    CHECK(dropped > 0, "the talk was thrown away");
    CHECK(took < 15.0, "the drain stopped at its cap while the line kept talking (%.2f s)", took);
    fl_link_close(l);
    close(p.master);
}

static void test_hangup_is_a_link_error(void)
{
    pty_pair p;
    fl_link *l = NULL;
    fl_error err = {0};
    if (!make_pty(&p) || fl_link_open(p.path, &l, &err) != FL_OK) {
        CHECK(0, "open: %s", err.msg);
        return;
    }
    close(p.master); /* the bridge went away */
    uint8_t buf[8];
    size_t got = 0;
    CHECK(fl_link_read(l, buf, sizeof buf, 1.0, &got, &err) == FL_ERR_LINK,
          "a read after the hang-up is a link error");
    CHECK(strstr(err.msg, "hung up") != NULL, "message: %s", err.msg);
    CHECK(fl_link_drain_until_quiet(l, 0.05, 0.5, NULL, &err) == FL_ERR_LINK,
          "the drain reports the dead link");
    fl_link_close(l);
}

static void test_not_a_port(void)
{
    char file[] = "/tmp/flashline-test-link.XXXXXX";
    int fd = mkstemp(file);
    CHECK(fd >= 0, "temp file");
    if (fd >= 0)
        close(fd);
    struct { const char *url, *says; } cases[] = {
        {"/dev/null", "is not a serial port (a character device that is not a tty)"},
        {"/", "is a directory, not a serial port"},
        {file, "is a regular file, not a serial port"},
        {"/nonexistent/ttyUSB7", "does not exist"},
        {"serial:/nonexistent/ttyUSB7", "'flashline ports' lists the ports"},
        {"/dev/ptmx", "pseudo-terminal multiplexer"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fl_link *l = NULL;
        fl_error err = {0};
        fl_status st = fl_link_open(cases[i].url, &l, &err);
        CHECK(st == FL_ERR_LINK, "%s: status %d", cases[i].url, (int)st);
        CHECK(strstr(err.msg, cases[i].says) != NULL, "%s: '%s'", cases[i].url, err.msg);
        CHECK(l == NULL, "no link on failure");
    }
    unlink(file);
}

int main(void)
{
    RUN(test_pty_opens_without_modem_lines);
    RUN(test_pty_read_write);
#if defined(__linux__)
    RUN(test_pty_any_baud);
#endif
    RUN(test_drain_throws_away_waiting_input);
    RUN(test_drain_is_bounded_on_a_talking_line);
    RUN(test_hangup_is_a_link_error);
    RUN(test_not_a_port);
    return testlib_finish();
}
