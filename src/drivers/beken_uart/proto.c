/* proto.c — Beken loader frames and commands (spec beken-uart.md §2–§4). */
#include "drivers/beken_uart/proto.h"

#include <stdio.h>
#include <string.h>

#include "util/clock.h"

#define SHORT_HDR 7u  /* 04 0E R 01 E0 FC RC */
#define LONG_HDR 10u  /* 04 0E FF 01 E0 FC F4 Mlo Mhi OP */
#define TURNAROUND_S 0.12 /* OS + USB adapter latency allowance on top of wire time */

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

double bk_wire_time(const bk_wire *w, size_t bytes)
{
    return (double)bytes * 10.0 / (double)(w->link->baud ? w->link->baud : 115200);
}

static double reply_timeout(const bk_wire *w, size_t req, size_t resp, double work_s)
{
    return bk_wire_time(w, req + resp) * 1.5 + work_s + TURNAROUND_S;
}

static void consume(bk_wire *w, size_t n)
{
    if (n >= w->rx_len) {
        w->rx_len = 0;
        return;
    }
    memmove(w->rx, w->rx + n, w->rx_len - n);
    w->rx_len -= n;
}

void bk_discard(bk_wire *w)
{
    w->rx_len = 0;
    fl_link_discard_input(w->link);
}

void bk_drain_quiet(bk_wire *w, double quiet_s, double max_s)
{
    double end = fl_now() + max_s;
    uint8_t junk[4096];
    w->rx_len = 0;
    for (;;) {
        double left = end - fl_now();
        if (left <= 0)
            return;
        size_t got = 0;
        fl_error ignored;
        if (fl_link_read(w->link, junk, sizeof junk, quiet_s < left ? quiet_s : left, &got,
                         &ignored) != FL_OK ||
            got == 0)
            return;
    }
}

/* Make sure at least n bytes are buffered, reading until the deadline. */
static fl_status need(bk_wire *w, size_t n, double deadline, fl_error *err)
{
    while (w->rx_len < n) {
        double left = deadline - fl_now();
        if (left <= 0)
            return fl_fail(err, FL_ERR_TIMEOUT, "no complete response (%zu bytes received)",
                           w->rx_len);
        size_t got = 0;
        fl_status st = fl_link_read(w->link, w->rx + w->rx_len, BK_RX_CAP - w->rx_len, left, &got,
                                    err);
        if (st)
            return st;
        w->rx_len += got;
    }
    return FL_OK;
}

/* Drop bytes up to the next `04 0E`, keeping a trailing 0x04 that may start one. */
static void skip_to_event(bk_wire *w)
{
    size_t i = 0;
    while (i + 1 < w->rx_len && !(w->rx[i] == 0x04 && w->rx[i + 1] == 0x0E))
        i++;
    if (i + 1 >= w->rx_len && !(w->rx_len > 0 && w->rx[w->rx_len - 1] == 0x04))
        i = w->rx_len;
    w->garbage_bytes += (unsigned)i;
    consume(w, i);
}

static const uint8_t HCI_OPCODE[3] = {0x01, 0xE0, 0xFC};

/* Scan for the response to `code` (short) or long operation `code`; copy its
 * payload.  Frames of the wrong kind or code are skipped, as bk7231tools does. */
static fl_status read_response(bk_wire *w, bool is_long, uint8_t code, uint8_t *resp, size_t cap,
                               size_t *resp_len, double deadline, fl_error *err)
{
    for (;;) {
        skip_to_event(w);
        fl_status st = need(w, 3, deadline, err);
        if (st)
            return st;
        if (w->rx[0] != 0x04 || w->rx[1] != 0x0E)
            continue;
        bool frame_long = w->rx[2] == 0xFF;
        if (frame_long != is_long) {
            consume(w, 2);
            continue;
        }
        size_t hdr = is_long ? LONG_HDR : SHORT_HDR;
        if ((st = need(w, hdr, deadline, err)))
            return st;
        if (memcmp(w->rx + 3, HCI_OPCODE, 3) != 0 || (is_long && w->rx[6] != 0xF4)) {
            consume(w, 2);
            continue;
        }
        size_t total, plen;
        uint8_t got_code;
        if (is_long) {
            size_t m = (size_t)w->rx[7] | (size_t)w->rx[8] << 8;
            if (m < 2 || m + 9 > BK_RX_CAP) {
                consume(w, 2);
                continue;
            }
            total = m + 9;
            plen = m - 1; /* ST + data */
            got_code = w->rx[9];
        } else {
            size_t r = w->rx[2];
            if (r < 4) {
                consume(w, 2);
                continue;
            }
            total = r + 3;
            plen = r - 4;
            got_code = w->rx[6];
        }
        if ((st = need(w, total, deadline, err)))
            return fl_fail(err, st, "incomplete response to 0x%02X (%zu of %zu bytes)", code,
                           w->rx_len, total);
        if (got_code != code) {
            consume(w, total);
            continue;
        }
        if (plen > cap) {
            consume(w, total);
            return fl_fail(err, FL_ERR_PROTOCOL, "response to 0x%02X too long (%zu bytes)", code,
                           plen);
        }
        memcpy(resp, w->rx + hdr, plen);
        *resp_len = plen;
        consume(w, total);
        return FL_OK;
    }
}

static size_t build_short(uint8_t *f, uint8_t code, const uint8_t *payload, size_t plen)
{
    f[0] = 0x01, f[1] = 0xE0, f[2] = 0xFC, f[3] = (uint8_t)(1 + plen), f[4] = code;
    if (plen)
        memcpy(f + 5, payload, plen);
    return 5 + plen;
}

static size_t build_long(uint8_t *f, uint8_t op, const uint8_t *payload, size_t plen)
{
    size_t n = 1 + plen;
    f[0] = 0x01, f[1] = 0xE0, f[2] = 0xFC, f[3] = 0xFF, f[4] = 0xF4;
    f[5] = (uint8_t)n, f[6] = (uint8_t)(n >> 8), f[7] = op;
    if (plen)
        memcpy(f + 8, payload, plen);
    return 8 + plen;
}

/* Note when a frame will have left the wire (the flash loader's idle
 * watchdog counts from there). */
static fl_status sent(bk_wire *w, fl_status st, size_t bytes)
{
    if (st == FL_OK)
        w->last_tx_s = fl_now() + bk_wire_time(w, bytes);
    return st;
}

fl_status bk_send_short(bk_wire *w, uint8_t code, const uint8_t *payload, size_t plen,
                        fl_error *err)
{
    uint8_t f[5 + 32];
    if (plen > 32)
        return fl_fail(err, FL_ERR_INTERNAL, "short payload too long");
    return sent(w, fl_link_write(w->link, f, build_short(f, code, payload, plen), err),
                5 + plen);
}

fl_status bk_short(bk_wire *w, uint8_t code, const uint8_t *payload, size_t plen,
                   uint8_t expect_rc, uint8_t *resp, size_t cap, size_t *resp_len,
                   double timeout_s, fl_error *err)
{
    bk_discard(w);
    fl_status st = bk_send_short(w, code, payload, plen, err);
    if (st)
        return st;
    return read_response(w, false, expect_rc, resp, cap, resp_len, fl_now() + timeout_s, err);
}

fl_status bk_long(bk_wire *w, uint8_t op, const uint8_t *payload, size_t plen, uint8_t *resp,
                  size_t cap, size_t *resp_len, double timeout_s, fl_error *err)
{
    uint8_t f[8 + 4 + BK_BLOCK];
    if (plen > 4 + BK_BLOCK)
        return fl_fail(err, FL_ERR_INTERNAL, "long payload too long");
    bk_discard(w);
    fl_status st = sent(w, fl_link_write(w->link, f, build_long(f, op, payload, plen), err),
                        8 + plen);
    if (st)
        return st;
    return read_response(w, true, op, resp, cap, resp_len, fl_now() + timeout_s, err);
}

/* ---- commands ------------------------------------------------------------ */

fl_status bk_link_check(bk_wire *w, double timeout_s, fl_error *err)
{
    uint8_t r[8];
    size_t n;
    fl_status st = bk_short(w, BK_LINK_CHECK, NULL, 0, 0x01, r, sizeof r, &n, timeout_s, err);
    if (st)
        return st;
    if (n != 1 || r[0] != 0x00)
        return fl_fail(err, FL_ERR_PROTOCOL, "unexpected link-check reply");
    return FL_OK;
}

fl_status bk_read_reg(bk_wire *w, uint32_t addr, uint32_t *value, double timeout_s, fl_error *err)
{
    uint8_t p[4], r[16];
    size_t n;
    put_le32(p, addr);
    fl_status st = bk_short(w, BK_READ_REG, p, 4, BK_READ_REG, r, sizeof r, &n, timeout_s, err);
    if (st)
        return st;
    if (n != 8 || get_le32(r) != addr)
        return fl_fail(err, FL_ERR_PROTOCOL, "ReadReg 0x%08X: bad reply", addr);
    *value = get_le32(r + 4);
    return FL_OK;
}

fl_status bk_boot_version(bk_wire *w, char *out, size_t cap, double timeout_s, fl_error *err)
{
    uint8_t r[64];
    size_t n;
    fl_status st = bk_short(w, BK_BOOT_VERSION, NULL, 0, BK_BOOT_VERSION, r, sizeof r, &n,
                            timeout_s, err);
    if (st)
        return st;
    if (n == 1 && r[0] == 0x07)
        return fl_fail(err, FL_ERR_PROTOCOL, "loader has no version string");
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < cap; i++)
        if (r[i] >= 0x20 && r[i] < 0x7F)
            out[o++] = (char)r[i];
    while (o > 0 && out[o - 1] == ' ')
        o--;
    out[o] = '\0';
    return FL_OK;
}

static fl_status check_status(uint8_t stcode, const char *what, uint32_t addr, fl_error *err)
{
    if (stcode == 0)
        return FL_OK;
    /* We never send an address inside the protected area unless asked to:
     * status 6 for one outside it means the loader got a garbled address,
     * which is line trouble (retried), not a refusal to report. */
    if (stcode == 6 && addr >= 0x11000)
        return fl_fail(err, FL_ERR_PROTOCOL,
                       "%s at 0x%06X refused by the loader as protected bootloader area: the "
                       "address was garbled on the line",
                       what, addr);
    if (stcode == 6)
        return fl_fail(err, FL_ERR_REFUSED,
                       "%s at 0x%06X refused by the loader (status 6: protected bootloader area)",
                       what, addr);
    return fl_fail(err, FL_ERR_PROTOCOL, "%s at 0x%06X failed with loader status %u", what, addr,
                   stcode);
}

fl_status bk_get_jedec(bk_wire *w, uint8_t jedec[3], fl_error *err)
{
    static const uint8_t p[4] = {0x9F, 0, 0, 0};
    uint8_t r[16];
    size_t n;
    fl_status st = bk_long(w, BK_LONG_SPI_OP, p, 4, r, sizeof r, &n, reply_timeout(w, 12, 15, 0),
                           err);
    if (st)
        return st;
    if (n != 5)
        return fl_fail(err, FL_ERR_PROTOCOL, "flash ID reply has %zu bytes, expected 5", n);
    if ((st = check_status(r[0], "flash ID", 0, err)))
        return st;
    memcpy(jedec, r + 2, 3);
    return FL_OK;
}

fl_status bk_read_sr(bk_wire *w, uint8_t opcode, uint8_t *value, fl_error *err)
{
    uint8_t r[8];
    size_t n;
    fl_status st = bk_long(w, BK_LONG_READ_SR, &opcode, 1, r, sizeof r, &n,
                           reply_timeout(w, 9, 13, 0), err);
    if (st)
        return st;
    if (n != 3 || r[1] != opcode)
        return fl_fail(err, FL_ERR_PROTOCOL, "status-register read 0x%02X: bad reply", opcode);
    if ((st = check_status(r[0], "status-register read", 0, err)))
        return st;
    *value = r[2];
    return FL_OK;
}

fl_status bk_write_sr(bk_wire *w, const uint8_t *value, size_t nbytes, fl_error *err)
{
    uint8_t p[3] = {0x01, value[0], nbytes > 1 ? value[1] : 0}, r[8];
    size_t n;
    fl_status st = bk_long(w, BK_LONG_WRITE_SR, p, 1 + nbytes, r, sizeof r, &n,
                           reply_timeout(w, 11, 14, 0.05), err);
    if (st)
        return st;
    if (n != 2 + nbytes || memcmp(r + 1, p, 1 + nbytes) != 0)
        return fl_fail(err, FL_ERR_PROTOCOL, "status-register write: bad echo");
    return check_status(r[0], "status-register write", 0, err);
}

fl_status bk_read_4k(bk_wire *w, uint32_t addr, uint8_t *out, fl_error *err)
{
    uint8_t p[4], r[5 + BK_BLOCK];
    size_t n;
    put_le32(p, addr);
    fl_status st = bk_long(w, BK_LONG_READ_4K, p, 4, r, sizeof r, &n,
                           reply_timeout(w, 12, 15 + BK_BLOCK, 0.02), err);
    if (st)
        return st;
    if (n >= 5 && r[0] != 0)
        return check_status(r[0], "read", addr, err);
    if (n != 5 + BK_BLOCK)
        return fl_fail(err, FL_ERR_PROTOCOL, "read at 0x%06X returned %zu bytes", addr,
                       n >= 5 ? n - 5 : 0);
    if (get_le32(r + 1) != addr)
        return fl_fail(err, FL_ERR_PROTOCOL, "read at 0x%06X answered for 0x%06X", addr,
                       get_le32(r + 1));
    memcpy(out, r + 5, BK_BLOCK);
    return FL_OK;
}

fl_status bk_write_4k(bk_wire *w, uint32_t addr, const uint8_t *data, fl_error *err)
{
    uint8_t p[4 + BK_BLOCK], r[16];
    size_t n;
    put_le32(p, addr);
    memcpy(p + 4, data, BK_BLOCK);
    /* 16 page programs, the last not hidden behind reception. */
    fl_status st = bk_long(w, BK_LONG_WRITE_4K, p, sizeof p, r, sizeof r, &n,
                           reply_timeout(w, 8 + sizeof p, 15, 0.1), err);
    if (st)
        return st;
    if (n != 5)
        return fl_fail(err, FL_ERR_PROTOCOL, "write at 0x%06X: reply has %zu bytes", addr, n);
    if ((st = check_status(r[0], "write", addr, err)))
        return st;
    if (get_le32(r + 1) != addr)
        return fl_fail(err, FL_ERR_PROTOCOL, "write at 0x%06X answered for 0x%06X", addr,
                       get_le32(r + 1));
    return FL_OK;
}

fl_status bk_erase(bk_wire *w, uint8_t size_op, uint32_t addr, fl_error *err)
{
    uint8_t p[5] = {size_op}, r[16];
    size_t n;
    put_le32(p + 1, addr);
    double work = size_op == BK_ERASE_4K ? 0.6 : 3.0; /* datasheet maxima, not typicals */
    fl_status st = bk_long(w, BK_LONG_ERASE, p, 5, r, sizeof r, &n, reply_timeout(w, 13, 15, work),
                           err);
    if (st)
        return st;
    if (n != 6 || r[1] != size_op || get_le32(r + 2) != addr)
        return fl_fail(err, FL_ERR_PROTOCOL, "erase at 0x%06X: bad echo", addr);
    return check_status(r[0], "erase", addr, err);
}

fl_status bk_crc(bk_wire *w, uint32_t start, uint32_t len, uint32_t *crc, fl_error *err)
{
    if (len == 0)
        return fl_fail(err, FL_ERR_INTERNAL, "CRC over nothing");
    if (w->loader == FL_LOADER_FLASH && len % 256 != 0)
        return fl_fail(err, FL_ERR_INTERNAL, "flash-loader CRC needs whole 256-byte blocks");
    uint32_t end = w->loader == FL_LOADER_ROM ? start + len - 1 : start + len;
    uint8_t p[8], r[8];
    size_t n;
    put_le32(p, start);
    put_le32(p + 4, end);
    /* bk7231tools assumes >= 400 kB/s on the device; allow that plus slack. */
    double work = (double)len / 400000.0 + 0.2;
    fl_status st = bk_short(w, BK_CHECK_CRC, p, 8, BK_CHECK_CRC, r, sizeof r, &n,
                            reply_timeout(w, 13, 11, work), err);
    if (st)
        return st;
    if (n != 4)
        return fl_fail(err, FL_ERR_PROTOCOL, "CRC reply has %zu bytes", n);
    *crc = get_le32(r);
    return FL_OK;
}

fl_status bk_set_baud(bk_wire *w, uint32_t baud, uint8_t delay_ms, fl_error *err)
{
    return bk_set_baud_within(w, baud, delay_ms, 1.0, err);
}

fl_status bk_set_baud_within(bk_wire *w, uint32_t baud, uint8_t delay_ms, double echo_s,
                             fl_error *err)
{
    uint8_t p[5], r[16];
    size_t n;
    put_le32(p, baud);
    p[4] = delay_ms;
    bk_discard(w);
    fl_status st = bk_send_short(w, BK_SET_BAUD, p, 5, err);
    if (!st)
        st = fl_link_drain(w->link, err);
    if (st)
        return st;
    /* The loader switches as soon as the frame is in and answers after
     * `delay` ms at the new rate: switch the host half-way through. */
    fl_sleep(delay_ms / 2000.0);
    if ((st = fl_link_set_baud(w->link, baud, err)))
        return st;
    double deadline = fl_now() + echo_s + 2.0 * (delay_ms + 1) / 1000.0;
    if ((st = read_response(w, false, BK_SET_BAUD, r, sizeof r, &n, deadline, err)))
        return st;
    if (n != 5 || memcmp(r, p, 5) != 0)
        return fl_fail(err, FL_ERR_PROTOCOL, "baud-rate echo does not match");
    return FL_OK;
}
