/* link_serial.c — local serial ports: libserialport for real UARTs and USB adapters,
 * plain termios (link_tty.c) for ptys and what libserialport refuses; a precise
 * reason for every path that is not a port; port listing. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libserialport.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "link/link_impl.h"

typedef struct serial_link {
    fl_link base;
    struct sp_port *port;
} serial_link;

static const char *sp_why(void)
{
    char *m = sp_last_error_message();
    static __thread char buf[160];
    snprintf(buf, sizeof buf, "%s", m ? m : "unknown error");
    sp_free_error_message(m);
    return buf;
}

static fl_status sp_err(serial_link *s, const char *what, fl_error *err)
{
    return fl_fail(err, FL_ERR_LINK, "%s on %s failed: %s (was the adapter unplugged?)", what,
                   s->base.url, sp_why());
}

static fl_status ser_write(fl_link *l, const uint8_t *data, size_t len, fl_error *err)
{
    serial_link *s = (serial_link *)l;
    /* Timeout scaled to the wire time, so a stuck adapter is an error, not a hang. */
    unsigned ms = (unsigned)(len * 10.0 * 1000.0 / (l->baud ? l->baud : 9600) * 2) + 1000;
    enum sp_return r = sp_blocking_write(s->port, data, len, ms);
    if (r < 0)
        return sp_err(s, "write", err);
    if ((size_t)r < len)
        return fl_fail(err, FL_ERR_LINK, "write on %s stalled (%d of %zu bytes sent)", l->url,
                       (int)r, len);
    return FL_OK;
}

static fl_status ser_read(fl_link *l, uint8_t *buf, size_t len, double timeout_s, size_t *got,
                          fl_error *err)
{
    serial_link *s = (serial_link *)l;
    unsigned ms = timeout_s <= 0 ? 1 : (unsigned)(timeout_s * 1000.0 + 0.999);
    enum sp_return r = sp_blocking_read_next(s->port, buf, len, ms);
    if (r < 0)
        return sp_err(s, "read", err);
    *got = (size_t)r;
    return FL_OK;
}

static fl_status ser_set_baud(fl_link *l, uint32_t baud, fl_error *err)
{
    serial_link *s = (serial_link *)l;
    if (sp_set_baudrate(s->port, (int)baud) != SP_OK)
        return fl_fail(err, FL_ERR_LINK, "%s cannot be set to %u baud: %s", l->url, baud, sp_why());
    return FL_OK;
}

static fl_status ser_set_lines(fl_link *l, int dtr, int rts, fl_error *err)
{
    serial_link *s = (serial_link *)l;
    if (dtr >= 0 && sp_set_dtr(s->port, dtr ? SP_DTR_ON : SP_DTR_OFF) != SP_OK)
        return sp_err(s, "setting DTR", err);
    if (rts >= 0 && sp_set_rts(s->port, rts ? SP_RTS_ON : SP_RTS_OFF) != SP_OK)
        return sp_err(s, "setting RTS", err);
    return FL_OK;
}

static fl_status ser_drain(fl_link *l, fl_error *err)
{
    serial_link *s = (serial_link *)l;
    if (sp_drain(s->port) != SP_OK)
        return sp_err(s, "drain", err);
    return FL_OK;
}

static void ser_discard_input(fl_link *l)
{
    sp_flush(((serial_link *)l)->port, SP_BUF_INPUT);
}

static void ser_close(fl_link *l)
{
    serial_link *s = (serial_link *)l;
    sp_close(s->port);
    sp_free_port(s->port);
    free(s);
}

static const fl_link_ops serial_ops = {
    .kind = "serial",
    .write = ser_write,
    .read = ser_read,
    .set_baud = ser_set_baud,
    .set_lines = ser_set_lines,
    .drain = ser_drain,
    .discard_input = ser_discard_input,
    .close = ser_close,
};

/* ---- opening: an accurate reason for every path that is not a usable port ---- */

/* Who may open the device: the group to join when the group has read/write access. */
static fl_status permission_failure(const char *name, const struct stat *st, fl_error *err)
{
    if (!st) /* a directory on the way cannot be searched */
        return fl_fail(err, FL_ERR_LINK, "no permission to reach %s (a directory on its path is "
                                         "closed to your user)", name);
    const struct group *g = getgrgid(st->st_gid);
    bool group_rw = (st->st_mode & (S_IRGRP | S_IWGRP)) == (S_IRGRP | S_IWGRP);
    if (g && group_rw && st->st_gid != 0)
        return fl_fail(err, FL_ERR_LINK,
                       "no permission to open %s: add your user to the '%s' group (sudo usermod "
                       "-aG %s $USER, then log in again) or run as root",
                       name, g->gr_name, g->gr_name);
    return fl_fail(err, FL_ERR_LINK,
                   "no permission to open %s (mode %04o, only its owner may open it): run as that "
                   "user or root, or give the device to the 'dialout' group (USB-UART adapters "
                   "are in 'dialout': sudo usermod -aG dialout $USER, then log in again)",
                   name, (unsigned)(st->st_mode & 07777));
}

static fl_status missing_failure(const char *name, fl_error *err)
{
    return fl_fail(err, FL_ERR_LINK,
                   "serial port %s does not exist: check that the USB-UART adapter is plugged "
                   "in and the name is right ('flashline ports' lists the ports)",
                   name);
}

/* Turn an open failure (errno) into advice the operator can act on. */
static fl_status open_failure(const char *name, const struct stat *st, int saved_errno,
                              const char *detail, fl_error *err)
{
    switch (saved_errno) {
    case ENOENT:
    case ENOTDIR:
        return missing_failure(name, err);
    case ENODEV:
    case ENXIO:
        return fl_fail(err, FL_ERR_LINK,
                       "serial port %s has no device behind it (unplugged, or the bridge that "
                       "made it has stopped); 'flashline ports' lists the ports",
                       name);
    case EBUSY:
    case EWOULDBLOCK:
        return fl_fail(err, FL_ERR_LINK,
                       "serial port %s is busy: another program (serial monitor, ModemManager, "
                       "another flashline) has it open",
                       name);
    case EACCES:
    case EPERM:
        return permission_failure(name, st, err);
    default:
        return fl_fail(err, FL_ERR_LINK, "cannot open serial port %s: %s", name,
                       detail ? detail : strerror(saved_errno));
    }
}

/* Everything but a character device is refused by what it is. */
static fl_status check_node(const char *name, struct stat *st, fl_error *err)
{
    if (stat(name, st) != 0)
        return open_failure(name, NULL, errno, NULL, err);
    if (S_ISCHR(st->st_mode))
        return FL_OK;
    const char *what = S_ISDIR(st->st_mode)    ? "a directory"
                       : S_ISREG(st->st_mode)  ? "a regular file"
                       : S_ISFIFO(st->st_mode) ? "a FIFO (named pipe)"
                       : S_ISSOCK(st->st_mode) ? "a socket"
                       : S_ISBLK(st->st_mode)  ? "a block device"
                                               : "not a device";
    return fl_fail(err, FL_ERR_LINK, "%s is %s, not a serial port", name, what);
}

/* Unix98 pty slaves (/dev/pts/N, majors 136-143) and BSD ones (major 3): libserialport
 * finds no sysfs device for them, so they always go through termios. */
static bool is_pty_slave(const struct stat *st)
{
    unsigned maj = major(st->st_rdev);
    return (maj >= 136 && maj <= 143) || maj == 3;
}

/* /dev/ptmx opens a brand-new master with nobody on the other side. */
static bool is_ptmx(const struct stat *st)
{
    return major(st->st_rdev) == 5 && minor(st->st_rdev) == 2;
}

/* Opens through plain termios; the node is known to be a character device. */
static fl_status open_with_termios(const char *name, const struct stat *st, fl_link **out,
                                   fl_error *err)
{
    int fd = open(name, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return open_failure(name, st, errno, NULL, err);
    if (!isatty(fd)) {
        close(fd);
        return fl_fail(err, FL_ERR_LINK,
                       "%s is not a serial port (a character device that is not a tty)", name);
    }
    /* Advisory, like libserialport: two flashlines never share a port. */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
        close(fd);
        return open_failure(name, st, EBUSY, NULL, err);
    }
    return fl_link_open_tty(fd, name, out, err);
}

/* The libserialport way (real UARTs and USB adapters).  *refused is set when
 * libserialport cannot handle the port at all, so termios may try. */
static fl_status open_with_libserialport(const char *name, const struct stat *st, fl_link **out,
                                         bool *refused, fl_error *err)
{
    *refused = false;
    struct sp_port *port = NULL;
    if (sp_get_port_by_name(name, &port) != SP_OK) {
        *refused = true;
        return fl_fail(err, FL_ERR_LINK, "libserialport does not know %s: %s", name, sp_why());
    }
    errno = 0;
    if (sp_open(port, SP_MODE_READ_WRITE) != SP_OK) {
        int e = errno;
        const char *why = sp_why();
        sp_free_port(port);
        /* permission and busy are the operator's to fix; anything else termios may handle */
        *refused = !(e == EACCES || e == EPERM || e == EBUSY);
        return open_failure(name, st, e, why, err);
    }
    serial_link *s = calloc(1, sizeof *s);
    if (!s) {
        sp_close(port);
        sp_free_port(port);
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    }
    s->port = port;
    s->base.ops = &serial_ops;
    s->base.has_baud = true;
    s->base.has_lines = true;
    s->base.baud = 115200;
    snprintf(s->base.url, sizeof s->base.url, "%s", name);
    fl_status rc;
    if (sp_set_baudrate(port, 115200) != SP_OK || sp_set_bits(port, 8) != SP_OK ||
        sp_set_parity(port, SP_PARITY_NONE) != SP_OK || sp_set_stopbits(port, 1) != SP_OK ||
        sp_set_flowcontrol(port, SP_FLOWCONTROL_NONE) != SP_OK) {
        rc = fl_fail(err, FL_ERR_LINK, "cannot configure %s for 115200 8N1: %s", name, sp_why());
        ser_close(&s->base);
        *refused = true;
        return rc;
    }
    if ((rc = ser_set_lines(&s->base, 0, 0, err)) != FL_OK) {
        ser_close(&s->base);
        *refused = true; /* a tty without modem lines: termios copes */
        return rc;
    }
    *out = &s->base;
    return FL_OK;
}

fl_status fl_link_open_serial(const char *name, fl_link **out, fl_error *err)
{
    *out = NULL;
    struct stat st;
    fl_status rc = check_node(name, &st, err);
    if (rc)
        return rc;
    if (is_ptmx(&st))
        return fl_fail(err, FL_ERR_LINK,
                       "%s is the pseudo-terminal multiplexer, not a port: give the slave the "
                       "bridge printed (/dev/pts/N)",
                       name);
    if (is_pty_slave(&st))
        return open_with_termios(name, &st, out, err);
    bool refused;
    rc = open_with_libserialport(name, &st, out, &refused, err);
    if (rc == FL_OK || !refused)
        return rc;
    /* libserialport refused (a virtual tty, /dev/tnt*, a non-tty device): plain termios
     * either works or says precisely what the node is. */
    return open_with_termios(name, &st, out, err);
}

static void describe_port(struct sp_port *p, fl_port_info *info)
{
    memset(info, 0, sizeof *info);
    info->usb_vid = info->usb_pid = -1;
    const char *s;
    snprintf(info->name, sizeof info->name, "%s", sp_get_port_name(p));
    if ((s = sp_get_port_description(p)))
        snprintf(info->description, sizeof info->description, "%s", s);
    switch (sp_get_port_transport(p)) {
    case SP_TRANSPORT_USB: {
        strcpy(info->transport, "usb");
        int vid, pid, bus, addr;
        if (sp_get_port_usb_vid_pid(p, &vid, &pid) == SP_OK)
            info->usb_vid = vid, info->usb_pid = pid;
        if (sp_get_port_usb_bus_address(p, &bus, &addr) == SP_OK)
            snprintf(info->usb_path, sizeof info->usb_path, "%d-%d", bus, addr);
        if ((s = sp_get_port_usb_serial(p)))
            snprintf(info->serial, sizeof info->serial, "%s", s);
        break;
    }
    case SP_TRANSPORT_BLUETOOTH: strcpy(info->transport, "bluetooth"); break;
    default: strcpy(info->transport, "native"); break;
    }
}

fl_status fl_link_list_ports(fl_port_info **ports, size_t *count, fl_error *err)
{
    *ports = NULL;
    *count = 0;
    struct sp_port **list = NULL;
    if (sp_list_ports(&list) != SP_OK)
        return fl_fail(err, FL_ERR_LINK, "cannot list serial ports: %s", sp_why());
    size_t n = 0;
    while (list[n])
        n++;
    fl_port_info *out = calloc(n ? n : 1, sizeof *out);
    if (!out) {
        sp_free_port_list(list);
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        describe_port(list[i], &out[i]);
    sp_free_port_list(list);
    *ports = out;
    *count = n;
    return FL_OK;
}
