/* sim_server.c — the simulator's event loop and its three doors:
 *
 *  - RFC 2217 (Telnet COM-PORT-OPTION) on a TCP listener: one client at a time; a
 *    second connection waits in the backlog until the first one closes.  Baud rate,
 *    data size/parity/stop bits, DTR/RTS, purge and masks are answered with cmd + 100
 *    as RFC 2217 requires.  A new client starts at 115200 8N1 with DTR/RTS released;
 *    when a client goes away its lines are released (as ser2net does);
 *  - a control channel (TCP, one text line per command, one line answered);
 *  - optionally a pseudo-terminal whose baud rate follows what the other side sets.
 *
 * The loop advances the model to "now", hands out the bytes whose stop bit has left,
 * then sleeps until the next deadline (ppoll with a precise timeout, absolute
 * deadlines inside the model, so wire time does not drift). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "sim/sim_internal.h"
#include "util/clock.h"

#define WIRE_BACKPRESSURE 65536 /* stop reading a client while this much is still on the wire */

/* ------------------------------------------------------------------ helpers */

static void ep_out(sim_ep *ep, const uint8_t *p, size_t n)
{
    if (ep->fd >= 0)
        sim_ep_append(ep, p, n);
}

static void wake(fl_sim *s)
{
    if (s->wake_wr >= 0) {
        char c = 1;
        ssize_t r = write(s->wake_wr, &c, 1);
        (void)r;
    }
}

static void close_tcp(fl_sim *s, double now)
{
    sim_ep *ep = &s->ep[EP_TCP];
    if (ep->fd < 0)
        return;
    close(ep->fd);
    ep->fd = -1;
    ep->out_len = 0;
    /* the adapter goes away: its modem lines are released */
    sim_wire_push_marker(s, EP_TCP, W_LINES, 1 | 4, now);
    s->stats.client_connected = false;
}

/* ------------------------------------------------------------------ telnet / RFC 2217 */

static void tn_send_verb(sim_ep *ep, uint8_t verb, uint8_t opt)
{
    uint8_t b[3];
    ep_out(ep, b, tn_verb(b, verb, opt));
}

static void on_verb(void *ctx, uint8_t verb, uint8_t opt)
{
    fl_sim *s = ctx;
    sim_ep *ep = &s->ep[EP_TCP];
    bool *flag = NULL;
    switch (verb) {
    case TN_WILL: /* the client offers to do opt: we agree for the options we need */
        flag = opt == TN_OPT_COM_PORT ? &ep->we_do_comport
               : opt == TN_OPT_BINARY ? &ep->we_do_binary
               : opt == TN_OPT_SGA    ? &ep->we_do_sga
                                      : NULL;
        if (!flag)
            tn_send_verb(ep, TN_DONT, opt);
        else if (!*flag)
            *flag = true, tn_send_verb(ep, TN_DO, opt);
        break;
    case TN_DO: /* the client asks us to do opt */
        flag = opt == TN_OPT_BINARY ? &ep->we_will_binary
               : opt == TN_OPT_SGA  ? &ep->we_will_sga
                                    : NULL;
        if (opt == TN_OPT_COM_PORT)
            tn_send_verb(ep, TN_WILL, opt);
        else if (!flag)
            tn_send_verb(ep, TN_WONT, opt);
        else if (!*flag)
            *flag = true, tn_send_verb(ep, TN_WILL, opt);
        break;
    case TN_WONT:
        flag = opt == TN_OPT_COM_PORT ? &ep->we_do_comport
               : opt == TN_OPT_BINARY ? &ep->we_do_binary
               : opt == TN_OPT_SGA    ? &ep->we_do_sga
                                      : NULL;
        if (flag && *flag)
            *flag = false, tn_send_verb(ep, TN_DONT, opt);
        break;
    case TN_DONT:
        flag = opt == TN_OPT_BINARY ? &ep->we_will_binary : opt == TN_OPT_SGA ? &ep->we_will_sga : NULL;
        if (flag && *flag)
            *flag = false, tn_send_verb(ep, TN_WONT, opt);
        break;
    default:
        break;
    }
}

/* Rate the host side's bytes are really sent at: anything but 8N1 garbles like a
 * wrong baud rate would. */
static uint32_t ep_eff_baud(const sim_ep *ep)
{
    return ep->fmt_ok ? ep->baud : 1;
}

static void ep_line_change(fl_sim *s, int idx, double now)
{
    sim_ep *ep = &s->ep[idx];
    uint32_t eff = ep_eff_baud(ep);
    if (eff != ep->baud_enq) {
        ep->baud_enq = eff;
        sim_wire_push_marker(s, idx, W_BAUD, eff, now);
    }
}

static void comport_reply(sim_ep *ep, uint8_t cmd, const uint8_t *v, size_t n)
{
    uint8_t b[64];
    ep_out(ep, b, tn_subneg(b, (uint8_t)(cmd + CPO_SERVER_OFFSET), v, n));
}

static void purge_tx(fl_sim *s, int idx, double now)
{
    /* host → chip bytes still in the adapter (not yet on the wire) are discarded */
    sim_ring keep = {.esz = sizeof(wire_ent)};
    for (size_t i = 0; i < s->wire.len; i++) {
        wire_ent *e = sim_ring_peek(&s->wire, i);
        if (!(e->kind == W_DATA && e->ep == idx && e->t > now))
            sim_ring_push(&keep, e, 0);
    }
    sim_ring_free(&s->wire);
    s->wire = keep;
    double last = now;
    for (size_t i = 0; i < s->wire.len; i++) {
        wire_ent *e = sim_ring_peek(&s->wire, i);
        if (e->t > last)
            last = e->t;
    }
    s->rx_line_free = last;
}

static void on_comport(void *ctx, uint8_t cmd, const uint8_t *v, size_t n)
{
    fl_sim *s = ctx;
    sim_ep *ep = &s->ep[EP_TCP];
    double now = fl_now();
    uint8_t r[4];
    switch (cmd) {
    case 0: { /* SIGNATURE */
        static const char sig[] = "flashline-sim";
        comport_reply(ep, cmd, (const uint8_t *)sig, sizeof sig - 1);
        break;
    }
    case CPO_SET_BAUDRATE:
        if (n >= 4 && tn_be32(v) != 0) {
            ep->baud = tn_be32(v);
            ep_line_change(s, EP_TCP, now);
        }
        tn_put_be32(r, ep->baud);
        comport_reply(ep, cmd, r, 4);
        break;
    case CPO_SET_DATASIZE:
        if (n >= 1 && v[0] >= 5 && v[0] <= 8)
            ep->datasize = v[0];
        ep->fmt_ok = ep->datasize == 8 && ep->parity == 1 && ep->stopsize == 1;
        ep_line_change(s, EP_TCP, now);
        r[0] = ep->datasize;
        comport_reply(ep, cmd, r, 1);
        break;
    case CPO_SET_PARITY:
        if (n >= 1 && v[0] >= 1 && v[0] <= 5)
            ep->parity = v[0];
        ep->fmt_ok = ep->datasize == 8 && ep->parity == 1 && ep->stopsize == 1;
        ep_line_change(s, EP_TCP, now);
        r[0] = ep->parity;
        comport_reply(ep, cmd, r, 1);
        break;
    case CPO_SET_STOPSIZE:
        if (n >= 1 && v[0] >= 1 && v[0] <= 3)
            ep->stopsize = v[0];
        ep->fmt_ok = ep->datasize == 8 && ep->parity == 1 && ep->stopsize == 1;
        ep_line_change(s, EP_TCP, now);
        r[0] = ep->stopsize;
        comport_reply(ep, cmd, r, 1);
        break;
    case CPO_SET_CONTROL: {
        uint8_t c = n >= 1 ? v[0] : 0, a = c;
        switch (c) {
        case 0: a = ep->flow; break;                         /* query outbound flow control */
        case 1: case 2: case 3: ep->flow = c; break;
        case 4: a = ep->brk ? 5 : 6; break;                  /* query BREAK */
        case 5: case 6: ep->brk = c == 5; break;
        case 7: a = ep->dtr ? CPO_CTL_DTR_ON : CPO_CTL_DTR_OFF; break;
        case CPO_CTL_DTR_ON:
        case CPO_CTL_DTR_OFF:
            ep->dtr = c == CPO_CTL_DTR_ON;
            sim_wire_push_marker(s, EP_TCP, W_LINES, 4 | (ep->dtr ? 8 : 0), now);
            break;
        case 10: a = ep->rts ? CPO_CTL_RTS_ON : CPO_CTL_RTS_OFF; break;
        case CPO_CTL_RTS_ON:
        case CPO_CTL_RTS_OFF:
            ep->rts = c == CPO_CTL_RTS_ON;
            sim_wire_push_marker(s, EP_TCP, W_LINES, 1 | (ep->rts ? 2 : 0), now);
            break;
        case 13: a = 14; break;                              /* query inbound: none */
        default: break;                                      /* 14..19: accepted as is */
        }
        comport_reply(ep, cmd, &a, 1);
        break;
    }
    case CPO_FLOWCONTROL_SUSPEND:
        ep->suspended = true;
        break;
    case CPO_FLOWCONTROL_RESUME:
        ep->suspended = false;
        break;
    case CPO_SET_LINESTATE_MASK:
    case CPO_SET_MODEMSTATE_MASK:
        comport_reply(ep, cmd, v, n > 1 ? 1 : n);
        break;
    case CPO_NOTIFY_MODEMSTATE:
    case CPO_NOTIFY_LINESTATE:
        r[0] = 0;
        comport_reply(ep, cmd, r, 1);
        break;
    case CPO_PURGE_DATA:
        if (n >= 1 && (v[0] == 2 || v[0] == 3))
            purge_tx(s, EP_TCP, now);
        comport_reply(ep, cmd, v, n > 1 ? 1 : n);
        break;
    default:
        break;
    }
}

static void on_data(void *ctx, const uint8_t *data, size_t len)
{
    fl_sim *s = ctx;
    if (s->ep[EP_TCP].fd < 0 || s->tcp_close_req)
        return;
    if (s->o.disconnect_after >= 0 && !s->disconnect_done) {
        uint64_t limit = (uint64_t)s->o.disconnect_after;
        uint64_t left = limit > s->stats.bytes_from_host ? limit - s->stats.bytes_from_host : 0;
        if (len >= left) {
            len = (size_t)left;
            s->disconnect_done = true;
            s->tcp_close_req = true;
            sim_event(s, "disconnect");
        }
    }
    s->stats.bytes_from_host += len;
    sim_wire_push_data(s, EP_TCP, data, len, fl_now());
}

/* ------------------------------------------------------------------ pty */

struct sim_termios2 {
    tcflag_t c_iflag, c_oflag, c_cflag, c_lflag;
    cc_t c_line;
    cc_t c_cc[19];
    speed_t c_ispeed, c_ospeed;
};
#define SIM_TCGETS2 _IOR('T', 0x2A, struct sim_termios2)

static uint32_t pty_baud(fl_sim *s)
{
    struct sim_termios2 t2;
    if (ioctl(s->pty_slave, SIM_TCGETS2, &t2) == 0 && t2.c_ospeed > 0)
        return t2.c_ospeed;
    struct termios t;
    if (tcgetattr(s->pty_slave, &t) != 0)
        return 115200;
    static const struct { speed_t sp; uint32_t baud; } map[] = {
        {B9600, 9600},     {B19200, 19200},     {B38400, 38400},     {B57600, 57600},
        {B115200, 115200}, {B230400, 230400},   {B460800, 460800},   {B500000, 500000},
        {B921600, 921600}, {B1000000, 1000000}, {B1500000, 1500000}, {B2000000, 2000000},
        {B3000000, 3000000},
    };
    speed_t sp = cfgetospeed(&t);
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (map[i].sp == sp)
            return map[i].baud;
    return 1;
}

static void pty_refresh(fl_sim *s, double now)
{
    sim_ep *ep = &s->ep[EP_PTY];
    uint32_t b = pty_baud(s);
    if (b != ep->baud) {
        ep->baud = b;
        ep_line_change(s, EP_PTY, now);
    }
    s->pty_next_poll = now + s->tm.pty_baud_poll;
}

static fl_status open_pty(fl_sim *s, fl_error *err)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0 || grantpt(m) != 0 || unlockpt(m) != 0 ||
        ptsname_r(m, s->pty_path, sizeof s->pty_path) != 0) {
        int e = errno;
        if (m >= 0)
            close(m);
        return fl_fail(err, FL_ERR_LINK, "cannot create a pseudo-terminal: %s", strerror(e));
    }
    int sl = open(s->pty_path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (sl < 0) {
        int e = errno;
        close(m);
        return fl_fail(err, FL_ERR_LINK, "cannot open %s: %s", s->pty_path, strerror(e));
    }
    struct termios t;
    if (tcgetattr(sl, &t) == 0) {
        cfmakeraw(&t);
        cfsetispeed(&t, B115200);
        cfsetospeed(&t, B115200);
        tcsetattr(sl, TCSANOW, &t);
    }
    fcntl(m, F_SETFL, fcntl(m, F_GETFL) | O_NONBLOCK);
    s->pty_master = m;
    s->pty_slave = sl; /* kept open so the master never sees a hang-up */
    sim_ep *ep = &s->ep[EP_PTY];
    ep->fd = m;
    ep->telnet = false;
    ep->baud = ep->baud_enq = ep->baud_line = 115200;
    ep->fmt_ok = true;
    return FL_OK;
}

/* ------------------------------------------------------------------ control channel */

static uint32_t default_jedec(const fl_sim *s);

/* "insert PATH": the unit on the fixture is taken out (power off, its flash
 * saved to its file) and another one, whose flash is the file PATH (created
 * blank if missing, like --flash), is put in and powered.  A station's loop
 * mode is tested with it: a different unit (another MAC) appears. */
static bool insert_unit(fl_sim *s, const char *path, double now, char *why, size_t cap)
{
    sim_dev *d = &s->dev;
    sim_flash fresh;
    fl_error e = {0};
    if (!*path || sim_flash_open(&fresh, path, 0, s->chip->flash_size, &e) != FL_OK) {
        snprintf(why, cap, "error: insert: %s", *path ? e.msg : "which flash file?");
        return false;
    }
    char *copy = strdup(path);
    if (!copy) {
        sim_flash_close(&fresh);
        snprintf(why, cap, "error: insert: out of memory");
        return false;
    }
    d->power_on = false;
    sim_dev_update_power(s, now);
    sim_flash_close(&s->flash);
    s->flash = fresh;
    s->flash.jedec = default_jedec(s);
    if (s->chip->pers == SIM_LBOOT && s->flash.created)
        sim_loader_install_standin(&s->flash, s->chip->lb_limit, s->chip->boot_version);
    sim_flash_set_sr16(&s->flash, s->chip->sr_default);
    free(s->flash_path);
    s->flash_path = copy;
    s->o.flash_path = copy;
    if (s->esp && !s->o.esp_mac_set) {
        /* another unit has another factory MAC; the same flash file is the same unit */
        uint32_t h = 2166136261u ^ s->o.seed;
        for (const char *c = path; *c; c++)
            h = (h ^ (uint8_t)*c) * 16777619u;
        sim_esp_default_mac(s, h, s->mac);
    }
    d->power_on = true;
    sim_dev_update_power(s, now);
    return true;
}

static void control_locked(fl_sim *s, const char *cmdline, char *ans, size_t cap)
{
    char cmd[4200];
    size_t n = 0;
    while (*cmdline == ' ' || *cmdline == '\t')
        cmdline++;
    while (cmdline[n] && cmdline[n] != '\r' && cmdline[n] != '\n' && n < sizeof cmd - 1)
        cmd[n] = cmdline[n], n++;
    while (n > 0 && (cmd[n - 1] == ' ' || cmd[n - 1] == '\t'))
        n--;
    cmd[n] = '\0';
    double now = fl_now();
    sim_advance(s, now);
    sim_dev *d = &s->dev;
    bool known = true;
    if (!strcmp(cmd, "power-cycle")) {
        d->power_on = false;
        sim_dev_update_power(s, now);
        d->power_on = true;
        sim_dev_update_power(s, now);
    } else if (!strncmp(cmd, "insert ", 7)) {
        if (!insert_unit(s, cmd + 7, now, ans, cap))
            return;
    } else if (!strcmp(cmd, "power-off") || !strcmp(cmd, "remove")) {
        d->power_on = false;
        sim_dev_update_power(s, now);
    } else if (!strcmp(cmd, "power-on")) {
        d->power_on = true;
        sim_dev_update_power(s, now);
    } else if (!strcmp(cmd, "cen-low")) {
        d->cen_ctl_high = false;
        sim_dev_update_power(s, now);
    } else if (!strcmp(cmd, "cen-high")) {
        d->cen_ctl_high = true;
        sim_dev_update_power(s, now);
    } else if (s->esp && (!strcmp(cmd, "boot-button down") || !strcmp(cmd, "boot-button up"))) {
        d->boot_button = !strcmp(cmd, "boot-button down"); /* sampled at the next start */
        d->boot_button_release = false;
    } else if (s->esp && !strcmp(cmd, "power-cycle-download")) {
        d->boot_button = d->boot_button_release = true; /* let go once the chip sampled it */
        d->power_on = false;
        sim_dev_update_power(s, now);
        d->power_on = true;
        sim_dev_update_power(s, now);
    } else if (strcmp(cmd, "state") != 0) {
        known = false;
    }
    if (!known) {
        snprintf(ans, cap,
                 "error: unknown command '%.100s' (commands: power-cycle power-off power-on "
                 "cen-low cen-high state remove insert FILE%s)",
                 cmd, s->esp ? " boot-button down|up power-cycle-download" : "");
        return;
    }
    char st[200];
    int sl = snprintf(st, sizeof st, "%s baud=%u power=%s cen=%s rts=%s%s", sim_state_name(d->state),
             (unsigned)d->baud, d->power_on ? "on" : "off", d->cen_ctl_high ? "high" : "low",
             d->rts_asserted ? (s->o.manual_reset ? "asserted(ignored)" : "asserted") : "released",
             d->loader_damaged ? " loader=damaged" : "");
    if (s->esp && sl > 0 && (size_t)sl < sizeof st)
        snprintf(st + sl, sizeof st - (size_t)sl, " io0=%s button=%s",
                 sim_esp_io0_low(s) ? "low" : "high", d->boot_button ? "down" : "up");
    if (!strcmp(cmd, "state"))
        snprintf(ans, cap, "%s", st);
    else
        snprintf(ans, cap, "ok %s", st);
}

void fl_sim_control(fl_sim *sim, const char *command, char *answer, size_t cap)
{
    pthread_mutex_lock(&sim->lock);
    control_locked(sim, command ? command : "", answer, cap);
    pthread_mutex_unlock(&sim->lock);
    wake(sim);
}

void fl_sim_power_cycle(fl_sim *sim)
{
    char ans[256];
    fl_sim_control(sim, "power-cycle", ans, sizeof ans);
}

static void ctl_close(fl_sim *s, int i)
{
    close(s->ctl_fd[i]);
    s->ctl_fd[i] = -1;
    s->ctl_len[i] = 0;
}

static void ctl_read(fl_sim *s, int i)
{
    char *buf = s->ctl_buf[i];
    ssize_t r = recv(s->ctl_fd[i], buf + s->ctl_len[i], sizeof s->ctl_buf[i] - 1 - s->ctl_len[i], 0);
    if (r <= 0) {
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            return;
        ctl_close(s, i);
        return;
    }
    s->ctl_len[i] += (size_t)r;
    for (;;) {
        char *nl = memchr(buf, '\n', s->ctl_len[i]);
        if (!nl) {
            if (s->ctl_len[i] >= sizeof s->ctl_buf[i] - 1)
                s->ctl_len[i] = 0; /* overlong line: drop it */
            return;
        }
        *nl = '\0';
        char ans[300];
        bool blank = true;
        for (char *c = buf; *c; c++)
            if (*c != ' ' && *c != '\r' && *c != '\t')
                blank = false;
        if (!blank) {
            pthread_mutex_lock(&s->lock);
            control_locked(s, buf, ans, sizeof ans - 1);
            pthread_mutex_unlock(&s->lock);
            size_t al = strlen(ans);
            ans[al++] = '\n';
            if (send(s->ctl_fd[i], ans, al, MSG_NOSIGNAL) < 0) {
                ctl_close(s, i);
                return;
            }
        }
        size_t used = (size_t)(nl + 1 - buf);
        memmove(buf, nl + 1, s->ctl_len[i] - used);
        s->ctl_len[i] -= used;
    }
}

/* ------------------------------------------------------------------ sockets */

static fl_status listen_on(const char *host, int port, int *fd_out, char *url, size_t ucap,
                           const char *scheme, fl_error *err)
{
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    int rc = getaddrinfo(host, ps, &hints, &res);
    if (rc)
        return fl_fail(err, FL_ERR_USAGE, "cannot listen on %s:%d: %s (use e.g. 127.0.0.1:0)", host,
                       port, gai_strerror(rc));
    int fd = -1, e = 0;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 4) == 0)
            break;
        e = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return fl_fail(err, FL_ERR_LINK,
                       "cannot listen on %s:%d: %s (pick another port, or 0 for a free one)", host,
                       port, strerror(e));
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    char hbuf[64], pbuf[16];
    if (getnameinfo((struct sockaddr *)&ss, sl, hbuf, sizeof hbuf, pbuf, sizeof pbuf,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        snprintf(hbuf, sizeof hbuf, "%s", "127.0.0.1"), snprintf(pbuf, sizeof pbuf, "%d", port);
    if (ss.ss_family == AF_INET6)
        snprintf(url, ucap, "%s://[%s]:%s", scheme, hbuf, pbuf);
    else
        snprintf(url, ucap, "%s://%s:%s", scheme, hbuf, pbuf);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    *fd_out = fd;
    return FL_OK;
}

static void accept_client(fl_sim *s)
{
    int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pthread_mutex_lock(&s->lock);
    sim_ep *ep = &s->ep[EP_TCP];
    uint8_t *keep = ep->out;
    size_t keep_cap = ep->out_cap;
    memset(ep, 0, sizeof *ep);
    ep->out = keep;
    ep->out_cap = keep_cap;
    ep->fd = fd;
    ep->telnet = true;
    ep->baud = ep->baud_enq = ep->baud_line = 115200;
    ep->datasize = 8, ep->parity = 1, ep->stopsize = 1, ep->flow = 1;
    ep->fmt_ok = true;
    tn_decoder_init(&s->tn, s);
    s->tn.on_data = on_data;
    s->tn.on_verb = on_verb;
    s->tn.on_comport = on_comport;
    s->tcp_close_req = false;
    s->stats.client_connected = true;
    pthread_mutex_unlock(&s->lock);
}

/* Write what is pending for one client; false = the client is gone (the caller closes
 * it, under the lock).  Only the loop thread touches ep->out. */
static bool flush_ep(fl_sim *s, int idx)
{
    sim_ep *ep = &s->ep[idx];
    if (ep->fd < 0 || ep->out_len == 0 || ep->suspended)
        return true;
    ssize_t w = idx == EP_TCP ? send(ep->fd, ep->out, ep->out_len, MSG_NOSIGNAL | MSG_DONTWAIT)
                              : write(ep->fd, ep->out, ep->out_len);
    if (w < 0) {
        if (errno == EAGAIN || errno == EINTR) {
            if (idx == EP_PTY && ep->out_len > 65536)
                ep->out_len = 0; /* nobody reads the pty: the bytes are lost, as on a UART */
            return true;
        }
        if (idx == EP_PTY) {
            ep->out_len = 0;
            return true;
        }
        return false;
    }
    memmove(ep->out, ep->out + w, ep->out_len - (size_t)w);
    ep->out_len -= (size_t)w;
    return true;
}

static void flush_all(fl_sim *s)
{
    if (!flush_ep(s, EP_TCP)) {
        pthread_mutex_lock(&s->lock);
        close_tcp(s, fl_now());
        pthread_mutex_unlock(&s->lock);
    }
    flush_ep(s, EP_PTY);
}

/* ------------------------------------------------------------------ loop */

static void snapshot(fl_sim *s)
{
    fl_sim_stats *st = &s->stats;
    st->baud = s->dev.baud;
    snprintf(st->state, sizeof st->state, "%s", sim_state_name(s->dev.state));
    st->status_reg = (uint32_t)s->flash.sr[0] | (uint32_t)s->flash.sr[1] << 8 |
                     (uint32_t)s->flash.sr[2] << 16;
    st->loader_damaged = s->dev.loader_damaged;
}

static void read_client(fl_sim *s)
{
    uint8_t buf[16384];
    ssize_t r = recv(s->ep[EP_TCP].fd, buf, sizeof buf, 0);
    if (r < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    pthread_mutex_lock(&s->lock);
    double now = fl_now();
    if (r <= 0) {
        close_tcp(s, now);
    } else {
        tn_decode(&s->tn, buf, (size_t)r);
        if (s->tcp_close_req) {
            /* --disconnect-after: flush what the chip already said, then hang up */
            flush_ep(s, EP_TCP);
            close_tcp(s, now);
        }
    }
    pthread_mutex_unlock(&s->lock);
}

static void read_pty(fl_sim *s)
{
    uint8_t buf[4096];
    ssize_t r = read(s->pty_master, buf, sizeof buf);
    if (r <= 0)
        return;
    pthread_mutex_lock(&s->lock);
    double now = fl_now();
    s->stats.bytes_from_host += (uint64_t)r;
    /* A pty has no wire, so it cannot tell whether these bytes were written
     * before or after a rate change that happened since we last looked: a
     * host that sends the set-baud command and then switches its own rate
     * leaves both in the buffer when the simulator is scheduled late (a busy
     * machine).  Such a chunk is taken at the old rate while the chip still
     * listens there; the next chunk is at the new rate.  Over rfc2217 rate
     * changes travel in order with the data, and none of this applies. */
    uint32_t before = s->ep[EP_PTY].baud_enq;
    bool changed = pty_baud(s) != s->ep[EP_PTY].baud;
    if (changed && s->dev.baud == before) {
        sim_wire_push_data(s, EP_PTY, buf, (size_t)r, now);
        pty_refresh(s, now);
    } else {
        pty_refresh(s, now);
        sim_wire_push_data(s, EP_PTY, buf, (size_t)r, now);
    }
    pthread_mutex_unlock(&s->lock);
}

static void run_loop(fl_sim *s)
{
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0); /* 1 µs: wire time wants precise wake-ups */
    while (!atomic_load(&s->stop_req)) {
        pthread_mutex_lock(&s->lock);
        double now = fl_now();
        if (s->pty_master >= 0 && now >= s->pty_next_poll)
            pty_refresh(s, now);
        double next = sim_advance(s, now);
        double n2 = sim_deliver(s, now);
        if (n2 < next)
            next = n2;
        if (s->pty_master >= 0 && s->pty_next_poll < next)
            next = s->pty_next_poll;
        snapshot(s);
        bool backpressure = s->wire.len > WIRE_BACKPRESSURE;
        pthread_mutex_unlock(&s->lock);

        flush_all(s);

        struct pollfd pf[8 + SIM_MAX_CTL];
        int np = 0, i_wake = -1, i_listen = -1, i_client = -1, i_ctl = -1, i_pty = -1;
        int i_c[SIM_MAX_CTL];
        pf[i_wake = np++] = (struct pollfd){.fd = s->wake_rd, .events = POLLIN};
        if (s->ep[EP_TCP].fd < 0)
            pf[i_listen = np++] = (struct pollfd){.fd = s->listen_fd, .events = POLLIN};
        else {
            short ev = backpressure ? 0 : POLLIN;
            if (s->ep[EP_TCP].out_len && !s->ep[EP_TCP].suspended)
                ev |= POLLOUT;
            pf[i_client = np++] = (struct pollfd){.fd = s->ep[EP_TCP].fd, .events = ev};
        }
        bool ctl_room = false;
        for (int i = 0; i < SIM_MAX_CTL; i++) {
            i_c[i] = -1;
            if (s->ctl_fd[i] >= 0)
                pf[i_c[i] = np++] = (struct pollfd){.fd = s->ctl_fd[i], .events = POLLIN};
            else
                ctl_room = true;
        }
        if (ctl_room)
            pf[i_ctl = np++] = (struct pollfd){.fd = s->ctl_listen_fd, .events = POLLIN};
        if (s->pty_master >= 0) {
            short ev = backpressure ? 0 : POLLIN;
            if (s->ep[EP_PTY].out_len)
                ev |= POLLOUT;
            pf[i_pty = np++] = (struct pollfd){.fd = s->pty_master, .events = ev};
        }

        double wait = next - fl_now();
        if (wait > 0.5)
            wait = 0.5;
        if (wait < 0)
            wait = 0;
        struct timespec ts = {.tv_sec = (time_t)wait, .tv_nsec = (long)((wait - floor(wait)) * 1e9)};
        int rc = ppoll(pf, (nfds_t)np, &ts, NULL);
        if (rc <= 0)
            continue;
        if (pf[i_wake].revents & POLLIN) {
            char junk[64];
            while (read(s->wake_rd, junk, sizeof junk) > 0)
                ;
        }
        if (i_client >= 0 && pf[i_client].revents) {
            if (pf[i_client].revents & (POLLIN | POLLHUP | POLLERR))
                read_client(s);
            if (s->ep[EP_TCP].fd >= 0 && (pf[i_client].revents & POLLOUT))
                flush_all(s);
        }
        if (i_listen >= 0 && (pf[i_listen].revents & POLLIN))
            accept_client(s);
        for (int i = 0; i < SIM_MAX_CTL; i++)
            if (i_c[i] >= 0 && pf[i_c[i]].revents)
                ctl_read(s, i);
        if (i_ctl >= 0 && (pf[i_ctl].revents & POLLIN)) {
            int fd = accept4(s->ctl_listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            for (int i = 0; fd >= 0 && i < SIM_MAX_CTL; i++)
                if (s->ctl_fd[i] < 0) {
                    s->ctl_fd[i] = fd;
                    s->ctl_len[i] = 0;
                    fd = -1;
                }
            if (fd >= 0)
                close(fd);
        }
        if (i_pty >= 0 && (pf[i_pty].revents & POLLIN))
            read_pty(s);
    }
    pthread_mutex_lock(&s->lock);
    sim_flash_sync(&s->flash);
    pthread_mutex_unlock(&s->lock);
}

/* ------------------------------------------------------------------ API */

static char *dup_or_null(const char *p)
{
    return p ? strdup(p) : NULL;
}

static uint32_t default_jedec(const fl_sim *s)
{
    if (s->o.jedec)
        return s->o.jedec & 0xFFFFFF;
    unsigned lg = 0;
    while ((1u << lg) < s->flash.size)
        lg++;
    return (s->chip->jedec & 0xFFFF00) | lg; /* capacity byte follows the flash size */
}

fl_status fl_sim_create(const fl_sim_options *opts, fl_sim **out, fl_error *err)
{
    *out = NULL;
    const sim_chip *chip = sim_chip_find(opts->chip);
    if (!chip) {
        char list[200] = "";
        for (const char *const *n = fl_sim_chip_names(); *n; n++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", *list ? " " : "", *n);
        return fl_fail(err, FL_ERR_USAGE, "unknown chip '%s' (simulated chips: %s)",
                       opts->chip ? opts->chip : "(none)", list);
    }
    if (!(opts->timescale >= 0) || opts->timescale > 1000)
        return fl_fail(err, FL_ERR_USAGE, "timescale %g is out of range (0 = no delays, 1 = real time)",
                       opts->timescale);
    if (!(opts->drop_rate >= 0 && opts->drop_rate <= 1) ||
        !(opts->corrupt_rate >= 0 && opts->corrupt_rate <= 1) ||
        !(opts->stall_rate >= 0 && opts->stall_rate <= 1))
        return fl_fail(err, FL_ERR_USAGE, "fault rates are probabilities from 0 to 1");
    if (opts->stall_ms < 0)
        return fl_fail(err, FL_ERR_USAGE, "stall must be >= 0 ms");
    fl_sim *s = calloc(1, sizeof *s);
    if (!s)
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    s->listen_fd = s->ctl_listen_fd = s->wake_rd = s->wake_wr = s->pty_master = s->pty_slave = -1;
    for (int i = 0; i < SIM_MAX_CTL; i++)
        s->ctl_fd[i] = -1;
    for (int i = 0; i < SIM_NEP; i++)
        s->ep[i].fd = -1, s->ep[i].baud = s->ep[i].baud_enq = s->ep[i].baud_line = 115200;
    s->wire.esz = sizeof(wire_ent);
    s->fifo.esz = sizeof(fifo_ent);
    s->tx.esz = sizeof(tx_ent);
    pthread_mutex_init(&s->lock, NULL);
    s->o = *opts;
    s->chip_name = dup_or_null(chip->name);
    s->flash_path = dup_or_null(opts->flash_path);
    s->listen_host = strdup(opts->listen_host && *opts->listen_host ? opts->listen_host : "127.0.0.1");
    s->o.chip = s->chip_name;
    s->o.flash_path = s->flash_path;
    s->o.listen_host = s->listen_host;
    s->chip = chip;
    s->esp = chip->pers == SIM_ESP ? sim_esp_chip_find(chip->name) : NULL;
    s->tm = sim_timing_default;
    s->ts = opts->timescale;
    s->stall_rate = opts->stall_rate > 0 ? opts->stall_rate : 0.02;
    s->rng = opts->seed ? (uint64_t)opts->seed * 0x9E3779B97F4A7C15ULL + 1 : 0x2545F4914F6CDD1DULL;
    fl_status st = sim_flash_open(&s->flash, s->flash_path, opts->flash_size, chip->flash_size, err);
    if (st == FL_OK) {
        s->flash.jedec = default_jedec(s);
        if (chip->pers == SIM_LBOOT && (s->flash.created || !s->flash_path))
            sim_loader_install_standin(&s->flash, chip->lb_limit, chip->boot_version);
        sim_flash_set_sr16(&s->flash, chip->sr_default);
        st = listen_on(s->listen_host, opts->listen_port, &s->listen_fd, s->url, sizeof s->url,
                       "rfc2217", err);
    }
    if (st == FL_OK)
        st = listen_on(s->listen_host, opts->control_port, &s->ctl_listen_fd, s->ctl_url,
                       sizeof s->ctl_url, "tcp", err);
    if (st == FL_OK && opts->pty)
        st = open_pty(s, err);
    if (st == FL_OK)
        st = sim_events_open(s, opts->events_path, err);
    if (st == FL_OK && s->esp)
        st = sim_esp_create(s, err);
    if (st == FL_OK) {
        int p[2];
        if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0)
            st = fl_fail(err, FL_ERR_INTERNAL, "pipe: %s", strerror(errno));
        else
            s->wake_rd = p[0], s->wake_wr = p[1];
    }
    if (st) {
        bool created = s->flash.created;
        fl_sim_destroy(s);
        if (created && opts->flash_path)
            unlink(opts->flash_path); /* do not leave a blank file behind a failed start */
        return st;
    }
    sim_dev_init(s, fl_now());
    snapshot(s);
    *out = s;
    return FL_OK;
}

const char *fl_sim_url(const fl_sim *sim)
{
    return sim->url;
}

const char *fl_sim_control_url(const fl_sim *sim)
{
    return sim->ctl_url;
}

const char *fl_sim_pty_path(const fl_sim *sim)
{
    return sim->pty_master >= 0 ? sim->pty_path : NULL;
}

static void *thread_main(void *arg)
{
    run_loop(arg);
    return NULL;
}

fl_status fl_sim_start(fl_sim *sim, fl_error *err)
{
    if (sim->thread_started)
        return fl_fail(err, FL_ERR_USAGE, "simulator already started");
    /* the loop thread must not take the process's SIGINT/SIGTERM */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&sim->thread, NULL, thread_main, sim);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc)
        return fl_fail(err, FL_ERR_INTERNAL, "cannot start the simulator thread: %s", strerror(rc));
    sim->thread_started = true;
    return FL_OK;
}

fl_status fl_sim_run(fl_sim *sim, fl_error *err)
{
    (void)err;
    run_loop(sim);
    return FL_OK;
}

void fl_sim_stop(fl_sim *sim)
{
    /* async-signal-safe: an atomic store and a write() */
    atomic_store(&sim->stop_req, 1);
    if (sim->wake_wr >= 0) {
        char c = 0;
        ssize_t r = write(sim->wake_wr, &c, 1);
        (void)r;
    }
}

void fl_sim_get_stats(fl_sim *sim, fl_sim_stats *out)
{
    pthread_mutex_lock(&sim->lock);
    snapshot(sim);
    *out = sim->stats;
    pthread_mutex_unlock(&sim->lock);
}

uint32_t fl_sim_flash_size(fl_sim *sim)
{
    return sim->flash.size;
}

fl_status fl_sim_flash_read(fl_sim *sim, uint32_t addr, void *buf, uint32_t len, fl_error *err)
{
    if ((uint64_t)addr + len > sim->flash.size)
        return fl_fail(err, FL_ERR_REFUSED, "0x%x+%u is past the end of the %u-byte flash", addr,
                       len, sim->flash.size);
    pthread_mutex_lock(&sim->lock);
    memcpy(buf, sim->flash.mem + addr, len);
    pthread_mutex_unlock(&sim->lock);
    return FL_OK;
}

fl_status fl_sim_flash_load(fl_sim *sim, uint32_t addr, const void *data, uint32_t len,
                            fl_error *err)
{
    if ((uint64_t)addr + len > sim->flash.size)
        return fl_fail(err, FL_ERR_REFUSED, "0x%x+%u is past the end of the %u-byte flash", addr,
                       len, sim->flash.size);
    pthread_mutex_lock(&sim->lock);
    memcpy(sim->flash.mem + addr, data, len);
    pthread_mutex_unlock(&sim->lock);
    return FL_OK;
}

void fl_sim_destroy(fl_sim *sim)
{
    if (!sim)
        return;
    if (sim->thread_started) {
        fl_sim_stop(sim);
        pthread_join(sim->thread, NULL);
    }
    for (int i = 0; i < SIM_MAX_CTL; i++)
        if (sim->ctl_fd[i] >= 0)
            close(sim->ctl_fd[i]);
    if (sim->ep[EP_TCP].fd >= 0)
        close(sim->ep[EP_TCP].fd);
    int fds[] = {sim->listen_fd, sim->ctl_listen_fd, sim->wake_rd, sim->wake_wr, sim->pty_master,
                 sim->pty_slave};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    sim_flash_close(&sim->flash);
    sim_esp_free(sim);
    sim_events_close(sim);
    sim_ring_free(&sim->wire);
    sim_ring_free(&sim->fifo);
    sim_ring_free(&sim->tx);
    for (int i = 0; i < SIM_NEP; i++)
        free(sim->ep[i].out);
    free(sim->chip_name);
    free(sim->flash_path);
    free(sim->listen_host);
    pthread_mutex_destroy(&sim->lock);
    free(sim);
}
