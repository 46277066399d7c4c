/* link_net.c — tcp:// (raw bytes) and rfc2217:// (Telnet COM-PORT control).
 *
 * RFC 2217 carries the baud rate and DTR/RTS to the far end, so ser2net
 * ports and `flashline sim` behave like a local adapter.  Incoming bytes go
 * through the Telnet decoder into a small buffer that read() serves from. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "link/link_impl.h"
#include "util/clock.h"
#include "util/rfc2217.h"

#define RX_CAP 65536

typedef struct net_link {
    fl_link base;
    int fd;
    bool rfc2217;
    bool dead;
    tn_decoder dec;
    uint8_t rx[RX_CAP]; /* decoded data not yet handed out */
    size_t rx_head, rx_len;
    int dtr, rts;
} net_link;

static void rx_push(void *ctx, const uint8_t *data, size_t len)
{
    net_link *n = ctx;
    if (n->rx_head > 0 && n->rx_head + n->rx_len + len > RX_CAP) {
        memmove(n->rx, n->rx + n->rx_head, n->rx_len);
        n->rx_head = 0;
    }
    size_t room = RX_CAP - n->rx_head - n->rx_len;
    if (len > room)
        len = room; /* overflow: the chip talks faster than we read; drop like a UART FIFO */
    memcpy(n->rx + n->rx_head + n->rx_len, data, len);
    n->rx_len += len;
}

static void send_raw(net_link *n, const uint8_t *p, size_t len)
{
    while (len > 0 && !n->dead) {
        ssize_t w = send(n->fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            n->dead = true;
            return;
        }
        p += w;
        len -= (size_t)w;
    }
}

static void on_verb(void *ctx, uint8_t verb, uint8_t opt)
{
    /* Accept what we asked for; refuse anything else so the server doesn't wait. */
    net_link *n = ctx;
    uint8_t out[3];
    bool ours = opt == TN_OPT_BINARY || opt == TN_OPT_SGA || opt == TN_OPT_COM_PORT;
    if (verb == TN_DO && !ours)
        send_raw(n, out, tn_verb(out, TN_WONT, opt));
    else if (verb == TN_WILL && !ours)
        send_raw(n, out, tn_verb(out, TN_DONT, opt));
}

static void on_comport(void *ctx, uint8_t cmd, const uint8_t *value, size_t vlen)
{
    (void)ctx, (void)cmd, (void)value, (void)vlen; /* acks and modem-state notifications */
}

static fl_status link_dead(net_link *n, fl_error *err)
{
    return fl_fail(err, FL_ERR_LINK,
                   "connection to %s was closed by the other end (is the server or simulator "
                   "still running?)",
                   n->base.url);
}

/* Wait up to timeout_s for socket data and decode it; 0 = nothing arrived. */
static fl_status pump(net_link *n, double timeout_s, fl_error *err)
{
    if (n->dead)
        return link_dead(n, err);
    struct pollfd p = {.fd = n->fd, .events = POLLIN};
    int ms = timeout_s <= 0 ? 0 : (int)(timeout_s * 1000.0 + 0.999);
    int r = poll(&p, 1, ms);
    if (r < 0 && errno == EINTR)
        return FL_OK;
    if (r < 0)
        return fl_fail(err, FL_ERR_LINK, "poll on %s: %s", n->base.url, strerror(errno));
    if (r == 0)
        return FL_OK;
    uint8_t buf[16384];
    ssize_t got = recv(n->fd, buf, sizeof buf, 0);
    if (got < 0 && (errno == EINTR || errno == EAGAIN))
        return FL_OK;
    if (got <= 0) {
        n->dead = true;
        return link_dead(n, err);
    }
    if (n->rfc2217)
        tn_decode(&n->dec, buf, (size_t)got);
    else
        rx_push(n, buf, (size_t)got);
    return FL_OK;
}

static fl_status net_read(fl_link *l, uint8_t *buf, size_t len, double timeout_s, size_t *got,
                          fl_error *err)
{
    net_link *n = (net_link *)l;
    double deadline = fl_now() + timeout_s;
    *got = 0;
    for (;;) {
        if (n->rx_len > 0) {
            size_t take = n->rx_len < len ? n->rx_len : len;
            memcpy(buf, n->rx + n->rx_head, take);
            n->rx_head += take;
            n->rx_len -= take;
            if (n->rx_len == 0)
                n->rx_head = 0;
            *got = take;
            return FL_OK;
        }
        double left = deadline - fl_now();
        fl_status st = pump(n, left, err);
        if (st)
            return st;
        if (n->rx_len == 0 && fl_now() >= deadline)
            return FL_OK;
    }
}

static fl_status net_write(fl_link *l, const uint8_t *data, size_t len, fl_error *err)
{
    net_link *n = (net_link *)l;
    if (n->rfc2217) {
        uint8_t tmp[8192];
        while (len > 0 && !n->dead) {
            size_t chunk = len < sizeof tmp / 2 ? len : sizeof tmp / 2;
            send_raw(n, tmp, tn_escape(tmp, data, chunk));
            data += chunk;
            len -= chunk;
        }
    } else {
        send_raw(n, data, len);
    }
    return n->dead ? link_dead(n, err) : FL_OK;
}

static void send_comport(net_link *n, uint8_t cmd, const uint8_t *value, size_t vlen)
{
    uint8_t tmp[32];
    send_raw(n, tmp, tn_subneg(tmp, cmd, value, vlen));
}

static fl_status net_set_baud(fl_link *l, uint32_t baud, fl_error *err)
{
    net_link *n = (net_link *)l;
    uint8_t v[4];
    tn_put_be32(v, baud);
    send_comport(n, CPO_SET_BAUDRATE, v, 4);
    return n->dead ? link_dead(n, err) : FL_OK;
}

static fl_status net_set_lines(fl_link *l, int dtr, int rts, fl_error *err)
{
    net_link *n = (net_link *)l;
    if (dtr >= 0) {
        uint8_t v = dtr ? CPO_CTL_DTR_ON : CPO_CTL_DTR_OFF;
        send_comport(n, CPO_SET_CONTROL, &v, 1);
        n->dtr = dtr;
    }
    if (rts >= 0) {
        uint8_t v = rts ? CPO_CTL_RTS_ON : CPO_CTL_RTS_OFF;
        send_comport(n, CPO_SET_CONTROL, &v, 1);
        n->rts = rts;
    }
    return n->dead ? link_dead(n, err) : FL_OK;
}

static fl_status net_drain(fl_link *l, fl_error *err)
{
    net_link *n = (net_link *)l;
    return n->dead ? link_dead(n, err) : FL_OK; /* send() already handed it to the kernel */
}

static void net_discard_input(fl_link *l)
{
    net_link *n = (net_link *)l;
    fl_error ignored;
    n->rx_len = n->rx_head = 0;
    while (!n->dead) { /* swallow whatever is already queued in the socket */
        size_t before = n->rx_len;
        if (pump(n, 0, &ignored) != FL_OK || n->rx_len == before)
            break;
        n->rx_len = n->rx_head = 0;
    }
    n->rx_len = n->rx_head = 0;
}

static void net_close(fl_link *l)
{
    net_link *n = (net_link *)l;
    close(n->fd);
    free(n);
}

static const fl_link_ops net_ops = {
    .kind = "tcp",
    .write = net_write,
    .read = net_read,
    .set_baud = net_set_baud,
    .set_lines = net_set_lines,
    .drain = net_drain,
    .discard_input = net_discard_input,
    .close = net_close,
};

static const fl_link_ops rfc2217_ops = {
    .kind = "rfc2217",
    .write = net_write,
    .read = net_read,
    .set_baud = net_set_baud,
    .set_lines = net_set_lines,
    .drain = net_drain,
    .discard_input = net_discard_input,
    .close = net_close,
};

static fl_status split_hostport(const char *hostport, char *host, size_t hcap, char *port,
                                size_t pcap, fl_error *err)
{
    const char *colon = strrchr(hostport, ':');
    if (!colon || colon == hostport || !colon[1] || (size_t)(colon - hostport) >= hcap ||
        strlen(colon + 1) >= pcap)
        return fl_fail(err, FL_ERR_USAGE, "expected HOST:PORT, got '%s'", hostport);
    const char *h = hostport;
    size_t hl = (size_t)(colon - hostport);
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') /* [::1]:port */
        h++, hl -= 2;
    memcpy(host, h, hl);
    host[hl] = '\0';
    strcpy(port, colon + 1);
    return FL_OK;
}

static int connect_any(const char *host, const char *port, char *why, size_t whycap)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc) {
        snprintf(why, whycap, "%s", gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        snprintf(why, whycap, "%s", strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

fl_status fl_link_open_net(const char *hostport, bool rfc2217, const char *url, fl_link **out,
                           fl_error *err)
{
    char host[200], port[16], why[128] = "no address";
    fl_status st = split_hostport(hostport, host, sizeof host, port, sizeof port, err);
    if (st)
        return st;
    int fd = connect_any(host, port, why, sizeof why);
    if (fd < 0)
        return fl_fail(err, FL_ERR_LINK,
                       "cannot connect to %s: %s (is the server / `flashline sim` running there?)",
                       url, why);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* small frames, low latency */
    net_link *n = calloc(1, sizeof *n);
    if (!n) {
        close(fd);
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    }
    n->fd = fd;
    n->rfc2217 = rfc2217;
    n->base.ops = rfc2217 ? &rfc2217_ops : &net_ops;
    n->base.baud = 115200;
    n->base.has_baud = rfc2217;
    n->base.has_lines = rfc2217;
    snprintf(n->base.url, sizeof n->base.url, "%s", url);
    tn_decoder_init(&n->dec, n);
    n->dec.on_data = rx_push;
    n->dec.on_verb = on_verb;
    n->dec.on_comport = on_comport;
    if (rfc2217) {
        uint8_t b[64];
        size_t o = 0;
        o += tn_verb(b + o, TN_WILL, TN_OPT_COM_PORT);
        o += tn_verb(b + o, TN_WILL, TN_OPT_BINARY);
        o += tn_verb(b + o, TN_DO, TN_OPT_BINARY);
        o += tn_verb(b + o, TN_WILL, TN_OPT_SGA);
        o += tn_verb(b + o, TN_DO, TN_OPT_SGA);
        send_raw(n, b, o);
        uint8_t eight = 8, none = 1, one_stop = 1;
        send_comport(n, CPO_SET_DATASIZE, &eight, 1);
        send_comport(n, CPO_SET_PARITY, &none, 1);
        send_comport(n, CPO_SET_STOPSIZE, &one_stop, 1);
        net_set_baud(&n->base, 115200, err);
        net_set_lines(&n->base, 0, 0, err);
        if (n->dead) {
            net_close(&n->base);
            return fl_fail(err, FL_ERR_LINK, "%s closed the connection during set-up", url);
        }
    }
    *out = &n->base;
    return FL_OK;
}
