/* link_tty.c — local ttys through plain termios, for what libserialport refuses:
 * pseudo-terminals (/dev/pts/N, socat and `flashline sim --pty` links), tty0tty's
 * /dev/tnt*, and other ttys without a sysfs device behind them.
 *
 * Raw 8N1, no flow control, non-blocking I/O with poll() for timeouts.  Baud rates
 * without a B-constant go through termios2/BOTHER on Linux (ptys accept any rate).
 * A tty without modem lines (a pty answers ENOTTY/EINVAL) is a link without DTR/RTS,
 * not an error: the session then resets the chip by other means. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "link/link_impl.h"
#include "util/clock.h"

typedef struct tty_link {
    fl_link base;
    int fd;
} tty_link;

static fl_status tty_err(tty_link *t, const char *what, int e, fl_error *err)
{
    return fl_fail(err, FL_ERR_LINK, "%s on %s failed: %s (was the adapter unplugged?)", what,
                   t->base.url, strerror(e));
}

/* Wait until fd is ready for `events`, at most timeout_s (<= 0: just look).
 * Returns 1 ready, 0 timed out, -1 hung up or failed (errno set). */
static int wait_ready(int fd, short events, double timeout_s)
{
    double deadline = fl_now() + (timeout_s > 0 ? timeout_s : 0);
    for (;;) {
        double left = deadline - fl_now();
        int ms = left <= 0 ? 0 : (int)(left * 1000.0 + 0.999);
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, ms);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            return 0;
        if (p.revents & events)
            return 1;
        errno = (p.revents & POLLNVAL) ? EBADF : EIO; /* POLLHUP / POLLERR */
        return -1;
    }
}

static fl_status tty_write(fl_link *l, const uint8_t *data, size_t len, fl_error *err)
{
    tty_link *t = (tty_link *)l;
    /* Timeout scaled to the wire time, so a stuck adapter is an error, not a hang. */
    double limit = len * 10.0 / (l->baud ? l->baud : 9600) * 2 + 1.0;
    double deadline = fl_now() + limit;
    size_t sent = 0;
    while (sent < len) {
        ssize_t w = write(t->fd, data + sent, len - sent);
        if (w > 0) {
            sent += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno != EAGAIN)
            return tty_err(t, "write", errno, err);
        int r = wait_ready(t->fd, POLLOUT, deadline - fl_now());
        if (r < 0)
            return tty_err(t, "write", errno, err);
        if (r == 0)
            return fl_fail(err, FL_ERR_LINK, "write on %s stalled (%zu of %zu bytes sent)", l->url,
                           sent, len);
    }
    return FL_OK;
}

static fl_status hung_up(fl_link *l, fl_error *err)
{
    return fl_fail(err, FL_ERR_LINK,
                   "%s hung up (adapter unplugged, or the other end of the pseudo-terminal "
                   "closed)",
                   l->url);
}

static fl_status tty_read(fl_link *l, uint8_t *buf, size_t len, double timeout_s, size_t *got,
                          fl_error *err)
{
    tty_link *t = (tty_link *)l;
    double deadline = fl_now() + timeout_s;
    *got = 0;
    for (;;) {
        double left = deadline - fl_now();
        struct pollfd p = {.fd = t->fd, .events = POLLIN};
        int r = poll(&p, 1, left <= 0 ? 0 : (int)(left * 1000.0 + 0.999));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return tty_err(t, "read", errno, err);
        if (r == 0)
            return FL_OK; /* timed out: not an error */
        /* With VMIN = VTIME = 0 an empty read returns 0, so only POLLHUP tells a hang-up. */
        ssize_t n = read(t->fd, buf, len);
        if (n > 0) {
            *got = (size_t)n;
            return FL_OK;
        }
        if (n < 0 && errno == EIO)
            return hung_up(l, err);
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return tty_err(t, "read", errno, err);
        if (p.revents & (POLLHUP | POLLERR | POLLNVAL))
            return hung_up(l, err);
    }
}

/* ---- baud rates ------------------------------------------------------------ */

static speed_t standard_speed(uint32_t baud)
{
    static const struct { uint32_t baud; speed_t sp; } map[] = {
        {1200, B1200},       {2400, B2400},       {4800, B4800},       {9600, B9600},
        {19200, B19200},     {38400, B38400},     {57600, B57600},     {115200, B115200},
        {230400, B230400},
#ifdef B460800
        {460800, B460800},
#endif
#ifdef B500000
        {500000, B500000},
#endif
#ifdef B921600
        {921600, B921600},
#endif
#ifdef B1000000
        {1000000, B1000000},
#endif
#ifdef B1500000
        {1500000, B1500000},
#endif
#ifdef B2000000
        {2000000, B2000000},
#endif
#ifdef B3000000
        {3000000, B3000000},
#endif
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (map[i].baud == baud)
            return map[i].sp;
    return (speed_t)-1;
}

#if defined(__linux__) &&                                                                        \
    (defined(__x86_64__) || defined(__i386__) || defined(__aarch64__) || defined(__arm__) ||     \
     defined(__riscv))
/* The kernel's struct termios2 (asm-generic layout); <asm/termbits.h> clashes with
 * <termios.h>, so it is spelled out here. */
struct fl_termios2 {
    tcflag_t c_iflag, c_oflag, c_cflag, c_lflag;
    cc_t c_line;
    cc_t c_cc[19];
    speed_t c_ispeed, c_ospeed;
};
#define FL_TCGETS2 _IOR('T', 0x2A, struct fl_termios2)
#define FL_TCSETS2 _IOW('T', 0x2B, struct fl_termios2)
#define FL_CBAUD 0010017
#define FL_BOTHER 0010000
#define FL_IBSHIFT 16

static int set_any_speed(int fd, uint32_t baud)
{
    struct fl_termios2 t2;
    if (ioctl(fd, FL_TCGETS2, &t2) != 0)
        return -1;
    t2.c_cflag &= ~(tcflag_t)(FL_CBAUD | (FL_CBAUD << FL_IBSHIFT));
    t2.c_cflag |= FL_BOTHER | (FL_BOTHER << FL_IBSHIFT);
    t2.c_ispeed = t2.c_ospeed = baud;
    return ioctl(fd, FL_TCSETS2, &t2);
}
#else
static int set_any_speed(int fd, uint32_t baud)
{
    (void)fd, (void)baud;
    errno = ENOTSUP;
    return -1;
}
#endif

static fl_status tty_set_baud(fl_link *l, uint32_t baud, fl_error *err)
{
    tty_link *t = (tty_link *)l;
    speed_t sp = standard_speed(baud);
    int rc;
    if (sp != (speed_t)-1) {
        struct termios tio;
        rc = tcgetattr(t->fd, &tio);
        if (rc == 0 && (cfsetispeed(&tio, sp) != 0 || cfsetospeed(&tio, sp) != 0))
            rc = -1;
        if (rc == 0)
            rc = tcsetattr(t->fd, TCSANOW, &tio);
    } else {
        rc = set_any_speed(t->fd, baud);
    }
    if (rc != 0)
        return fl_fail(err, FL_ERR_LINK, "%s cannot be set to %u baud: %s", l->url, baud,
                       strerror(errno));
    return FL_OK;
}

/* ---- modem lines ----------------------------------------------------------- */

/* A pty (and some virtual ttys) have no modem lines at all. */
static bool no_modem_lines(int e)
{
    return e == ENOTTY || e == EINVAL || e == ENOTSUP || e == EOPNOTSUPP || e == ENOSYS ||
           e == 515 /* ENOIOCTLCMD leaking from an old driver */;
}

static int modem_bits(int on_off_mask, int dtr, int rts)
{
    int bits = 0;
    if (dtr == on_off_mask)
        bits |= TIOCM_DTR;
    if (rts == on_off_mask)
        bits |= TIOCM_RTS;
    return bits;
}

static fl_status tty_set_lines(fl_link *l, int dtr, int rts, fl_error *err)
{
    tty_link *t = (tty_link *)l;
    int set = modem_bits(1, dtr, rts), clear = modem_bits(0, dtr, rts);
    if (set && ioctl(t->fd, TIOCMBIS, &set) != 0)
        return tty_err(t, "setting DTR/RTS", errno, err);
    if (clear && ioctl(t->fd, TIOCMBIC, &clear) != 0)
        return tty_err(t, "releasing DTR/RTS", errno, err);
    return FL_OK;
}

static fl_status tty_drain(fl_link *l, fl_error *err)
{
    tty_link *t = (tty_link *)l;
    while (tcdrain(t->fd) != 0) {
        if (errno != EINTR)
            return tty_err(t, "drain", errno, err);
    }
    return FL_OK;
}

static void tty_discard_input(fl_link *l)
{
    tcflush(((tty_link *)l)->fd, TCIFLUSH);
}

static void tty_close(fl_link *l)
{
    tty_link *t = (tty_link *)l;
    close(t->fd);
    free(t);
}

static const fl_link_ops tty_ops = {
    .kind = "serial",
    .write = tty_write,
    .read = tty_read,
    .set_baud = tty_set_baud,
    .set_lines = tty_set_lines,
    .drain = tty_drain,
    .discard_input = tty_discard_input,
    .close = tty_close,
};

/* Raw 8N1 at 115200, no flow control, reads never block in the kernel. */
static fl_status configure(tty_link *t, fl_error *err)
{
    struct termios tio;
    if (tcgetattr(t->fd, &tio) != 0)
        return fl_fail(err, FL_ERR_LINK, "cannot read the settings of %s: %s", t->base.url,
                       strerror(errno));
    cfmakeraw(&tio);
    tio.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | CSTOPB | CRTSCTS);
    tio.c_cflag |= CS8 | CLOCAL | CREAD;
    tio.c_iflag &= ~(tcflag_t)(IXON | IXOFF | IXANY);
    tio.c_cc[VMIN] = 0;
    tio.c_cc[VTIME] = 0;
    if (cfsetispeed(&tio, B115200) != 0 || cfsetospeed(&tio, B115200) != 0 ||
        tcsetattr(t->fd, TCSANOW, &tio) != 0)
        return fl_fail(err, FL_ERR_LINK, "cannot configure %s for 115200 8N1: %s", t->base.url,
                       strerror(errno));
    return FL_OK;
}

/* Release DTR and RTS; a tty that has no modem lines becomes a link without them. */
static fl_status probe_lines(tty_link *t, fl_error *err)
{
    int bits = TIOCM_DTR | TIOCM_RTS;
    if (ioctl(t->fd, TIOCMBIC, &bits) == 0) {
        t->base.has_lines = true;
        return FL_OK;
    }
    if (no_modem_lines(errno)) {
        t->base.has_lines = false;
        return FL_OK;
    }
    return tty_err(t, "releasing DTR/RTS", errno, err);
}

fl_status fl_link_open_tty(int fd, const char *name, fl_link **out, fl_error *err)
{
    *out = NULL;
    tty_link *t = calloc(1, sizeof *t);
    if (!t) {
        close(fd);
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    }
    t->fd = fd;
    t->base.ops = &tty_ops;
    t->base.has_baud = true;
    t->base.baud = 115200;
    snprintf(t->base.url, sizeof t->base.url, "%s", name);
    fl_status st;
    if ((st = configure(t, err)) || (st = probe_lines(t, err))) {
        tty_close(&t->base);
        return st;
    }
    *out = &t->base;
    return FL_OK;
}
