/* sim_client.h — a small raw RFC 2217 test client for the simulator tests (no src/link):
 * TCP + util/rfc2217 codec, Beken frame builders, a simulator starter. */
#ifndef FL_TESTS_SIM_CLIENT_H
#define FL_TESTS_SIM_CLIENT_H

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sim/beken_sim.h"
#include "util/clock.h"
#include "util/crc32.h"
#include "util/rfc2217.h"

typedef struct tcli {
    int fd;
    tn_decoder dec;
    uint8_t *rx;
    size_t rx_len, rx_cap;
    bool closed;
    int verbs[8][2];
    int nverbs;
    uint8_t cp_cmd[32];
    uint32_t cp_val[32];
    int ncp;
} tcli;

static inline void tc_on_data(void *ctx, const uint8_t *d, size_t n)
{
    tcli *c = ctx;
    if (c->rx_len + n > c->rx_cap) {
        c->rx_cap = (c->rx_len + n) * 2;
        c->rx = realloc(c->rx, c->rx_cap);
    }
    memcpy(c->rx + c->rx_len, d, n);
    c->rx_len += n;
}

static inline void tc_on_verb(void *ctx, uint8_t verb, uint8_t opt)
{
    tcli *c = ctx;
    if (c->nverbs < 8)
        c->verbs[c->nverbs][0] = verb, c->verbs[c->nverbs][1] = opt, c->nverbs++;
}

static inline void tc_on_comport(void *ctx, uint8_t cmd, const uint8_t *v, size_t n)
{
    tcli *c = ctx;
    if (c->ncp < 32) {
        c->cp_cmd[c->ncp] = cmd;
        c->cp_val[c->ncp] = n >= 4 ? tn_be32(v) : n >= 1 ? v[0] : 0;
        c->ncp++;
    }
}

static inline bool tc_connect_url(tcli *c, const char *url)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    const char *hp = strstr(url, "://");
    hp = hp ? hp + 3 : url;
    char host[64];
    const char *colon = strrchr(hp, ':');
    if (!colon)
        return false;
    snprintf(host, sizeof host, "%.*s", (int)(colon - hp), hp);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    if (getaddrinfo(host, colon + 1, &hints, &res))
        return false;
    int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return false;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    tn_decoder_init(&c->dec, c);
    c->dec.on_data = tc_on_data;
    c->dec.on_verb = tc_on_verb;
    c->dec.on_comport = tc_on_comport;
    return true;
}

static inline void tc_close(tcli *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->rx);
    c->rx = NULL;
    c->rx_len = c->rx_cap = 0;
}

static inline void tc_raw(tcli *c, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) {
            c->closed = true;
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

static inline void tc_send(tcli *c, const void *data, size_t n)
{
    uint8_t *tmp = malloc(2 * n + 1);
    tc_raw(c, tmp, tn_escape(tmp, data, n));
    free(tmp);
}

static inline void tc_comport(tcli *c, uint8_t cmd, const uint8_t *v, size_t n)
{
    uint8_t b[64];
    tc_raw(c, b, tn_subneg(b, cmd, v, n));
}

static inline void tc_set_baud(tcli *c, uint32_t baud)
{
    uint8_t v[4];
    tn_put_be32(v, baud);
    tc_comport(c, CPO_SET_BAUDRATE, v, 4);
}

static inline void tc_rts(tcli *c, bool on)
{
    uint8_t v = on ? CPO_CTL_RTS_ON : CPO_CTL_RTS_OFF;
    tc_comport(c, CPO_SET_CONTROL, &v, 1);
}

static inline void tc_dtr(tcli *c, bool on)
{
    uint8_t v = on ? CPO_CTL_DTR_ON : CPO_CTL_DTR_OFF;
    tc_comport(c, CPO_SET_CONTROL, &v, 1);
}

/* Wait up to timeout for socket data; decode it. */
static inline void tc_pump(tcli *c, double timeout)
{
    if (c->closed || c->fd < 0)
        return;
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    int ms = timeout <= 0 ? 0 : (int)(timeout * 1000 + 0.999);
    if (poll(&p, 1, ms) <= 0)
        return;
    uint8_t buf[65536];
    ssize_t r = recv(c->fd, buf, sizeof buf, 0);
    if (r <= 0) {
        c->closed = true;
        return;
    }
    tn_decode(&c->dec, buf, (size_t)r);
}

/* Read exactly n bytes (or what arrived before the timeout); returns the count. */
static inline size_t tc_read(tcli *c, uint8_t *out, size_t n, double timeout)
{
    double deadline = fl_now() + timeout;
    while (c->rx_len < n && !c->closed) {
        double left = deadline - fl_now();
        if (left <= 0)
            break;
        tc_pump(c, left);
    }
    size_t got = c->rx_len < n ? c->rx_len : n;
    if (out && got)
        memcpy(out, c->rx, got);
    if (got)
        memmove(c->rx, c->rx + got, c->rx_len - got);
    c->rx_len -= got;
    return got;
}

/* Collect everything until the line has been quiet for `quiet` seconds. */
static inline size_t tc_read_quiet(tcli *c, uint8_t *out, size_t cap, double quiet)
{
    for (;;) {
        size_t before = c->rx_len;
        tc_pump(c, quiet);
        if (c->rx_len == before || c->closed)
            break;
    }
    return tc_read(c, out, c->rx_len < cap ? c->rx_len : cap, 0);
}

static inline void tc_flush_input(tcli *c, double quiet)
{
    tc_read_quiet(c, NULL, (size_t)-1, quiet);
}

/* ---- frames ---- */

static inline size_t fr_short(uint8_t *o, uint8_t cmd, const uint8_t *p, size_t n)
{
    o[0] = 0x01, o[1] = 0xE0, o[2] = 0xFC, o[3] = (uint8_t)(1 + n), o[4] = cmd;
    if (n)
        memcpy(o + 5, p, n);
    return 5 + n;
}

static inline size_t fr_long(uint8_t *o, uint8_t op, const uint8_t *p, size_t n)
{
    size_t N = 1 + n;
    o[0] = 0x01, o[1] = 0xE0, o[2] = 0xFC, o[3] = 0xFF, o[4] = 0xF4;
    o[5] = (uint8_t)N, o[6] = (uint8_t)(N >> 8), o[7] = op;
    if (n)
        memcpy(o + 8, p, n);
    return 8 + n;
}

static inline void le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static const uint8_t LINKCHECK[] = {0x01, 0xE0, 0xFC, 0x01, 0x00};
static const uint8_t LINKCHECK_REPLY[] = {0x04, 0x0E, 0x05, 0x01, 0xE0, 0xFC, 0x01, 0x00};

/* Send a frame and read `want` reply bytes; returns the count read. */
static inline size_t tc_cmd(tcli *c, const uint8_t *frame, size_t n, uint8_t *reply, size_t want,
                     double timeout)
{
    tc_send(c, frame, n);
    return tc_read(c, reply, want, timeout);
}

static inline size_t tc_count(const uint8_t *hay, size_t n, const void *needle, size_t k)
{
    size_t found = 0;
    for (const uint8_t *p = hay; n >= k && (p = memmem(p, n - (size_t)(p - hay), needle, k)); p += k)
        found++;
    return found;
}

/* Pump until `want` LinkCheck replies are in the receive buffer or the deadline passes. */
static inline size_t tc_wait_linkchecks(tcli *c, size_t want, double deadline)
{
    size_t seen = tc_count(c->rx, c->rx_len, LINKCHECK_REPLY, 8);
    while (seen < want && !c->closed) {
        double left = deadline - fl_now();
        if (left <= 0)
            break;
        tc_pump(c, left);
        seen = tc_count(c->rx, c->rx_len, LINKCHECK_REPLY, 8);
    }
    return seen;
}

/* RTS pulse, then LinkCheck until a reply comes (skipping garbage before it, as
 * bk7231tools does), then drain.
 *
 * Load-proof: each try waits longer than the one before (a busy machine delays the
 * simulator's thread, not the chip's model), and the drain does not guess with a quiet
 * time.  The RTS pulse travels in stream order before the LinkChecks, so a chip that
 * answered one LinkCheck answers every one sent after the reset; the drain waits for
 * all of them, so no late reply is left to be taken for the next command's answer. */
static inline bool tc_link(tcli *c)
{
    c->rx_len = 0; /* a reply counted below must come after this reset */
    tc_rts(c, true);
    tc_rts(c, false);
    size_t sent = 0, seen = 0;
    double wait = 0.02;
    for (int i = 0; i < 8 && seen == 0 && !c->closed; i++) {
        tc_send(c, LINKCHECK, sizeof LINKCHECK);
        sent++;
        seen = tc_wait_linkchecks(c, 1, fl_now() + wait);
        wait = wait * 2 < 0.32 ? wait * 2 : 0.32;
    }
    if (seen > 0)
        tc_wait_linkchecks(c, sent, fl_now() + 2.0); /* a lost LinkCheck costs 2 s, nothing else */
    tc_flush_input(c, 0.01);
    return seen > 0;
}

/* ---- simulator instances ---- */

typedef struct tsim {
    fl_sim *sim;
    char *query;
} tsim;

/* chip + "key=val&..." (timescale=0 and quiet=1 unless the query says otherwise). */
static inline bool tsim_start(tsim *t, const char *chip, const char *query, fl_error *err)
{
    fl_sim_options o;
    fl_sim_options_init(&o);
    o.chip = chip;
    o.timescale = 0;
    o.quiet_app = true;
    t->sim = NULL;
    t->query = strdup(query ? query : "");
    if (query && *query && fl_sim_options_from_query(&o, t->query, err) != FL_OK)
        return false;
    if (fl_sim_create(&o, &t->sim, err) != FL_OK)
        return false;
    return fl_sim_start(t->sim, err) == FL_OK;
}

static inline void tsim_stop(tsim *t)
{
    fl_sim_destroy(t->sim);
    free(t->query);
    t->sim = NULL;
    t->query = NULL;
}

#endif
