/* sim_rom.c — the ROM-loader personality (BK7231N/M, BK7238, BK7252N, BK7236/58).
 *
 * Byte parser and handlers after Beken's download loader ([IDK], spec §5.1, §4):
 *  - header 01 E0 FC; a 0x01 while expecting E0/FC restarts the header (resync);
 *  - length L; L = 0xFF: long frame, the next byte is taken as sub-command (F4 is not
 *    enforced), then N (LE u16), then N bytes; a long frame whose sub-command is not F4
 *    is dispatched like a short command with that code;
 *  - once the first payload byte is in, an idle line commits the frame: short frames get
 *    an error event with status 5 (its length byte is one more than the bytes that
 *    follow, as the reference code computes it), long frames ST=5;  a frame that stopped
 *    before its first payload byte waits forever;
 *  - the receive buffer is refilled with 0xFF between frames, so missing parameters read
 *    as 0xFF;
 *  - 4 KiB writes are programmed page by page while the frame streams in;
 *  - unknown short codes: status 7, unknown flash operations: ST=7;
 *  - CheckCRC covers end - start + 1 bytes (inclusive end). */
#include <string.h>

#include "sim/sim_internal.h"

enum { R_TYPE, R_OP1, R_OP2, R_LEN, R_DATA, R_LSUB, R_LLEN1, R_LLEN2, R_LSTART, R_LDATA };

#define RX_CAP (sizeof(((rom_parser *)0)->rx))

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

static void clear_frame(rom_parser *p)
{
    memset(p->rx, 0xFF, 256); /* [IDK] clear_uart_buffer refills the first 256 bytes */
    p->st = R_TYPE;
    p->idx = p->got = 0;
    p->n = 0;
    p->head_total = 0;
    p->payload_started = false;
    p->pages_done = 0;
    p->len_error = false;
}

void sim_rom_reset(fl_sim *s)
{
    rom_parser *p = &s->dev.rom;
    memset(p->rx, 0xFF, sizeof p->rx);
    clear_frame(p);
    p->prog_done = 0;
}

/* 04 0E <total> <operate...>: short event; `total` is what the loader computes, which
 * is not always the number of bytes that follow. */
static void send_short(fl_sim *s, double t, uint8_t total, const uint8_t *operate, size_t n)
{
    uint8_t buf[8 + 300];
    buf[0] = 0x04, buf[1] = 0x0E, buf[2] = total;
    if (n > sizeof buf - 3)
        n = sizeof buf - 3;
    memcpy(buf + 3, operate, n);
    sim_tx(s, t, buf, 3 + n, true);
}

/* 04 0E FF 01 E0 FC F4 <M> <op> <st> <payload>, M = 2 + plen */
static void send_long(fl_sim *s, double t, uint8_t op, uint8_t st, const uint8_t *payload,
                      size_t plen)
{
    uint8_t hdr[11] = {0x04, 0x0E, 0xFF, 0x01, 0xE0, 0xFC, 0xF4, 0, 0, op, st};
    size_t m = 2 + plen;
    hdr[7] = (uint8_t)m, hdr[8] = (uint8_t)(m >> 8);
    double tt = sim_tx(s, t, hdr, sizeof hdr, true);
    if (plen)
        sim_tx(s, tt, payload, plen, false);
}

/* [IDK] flash_partition_is_invalid, modelled for the flash-size part only (the BK7236
 * partition table is not public): ranges beyond the flash get no answer at all. */
static bool idk_invalid(const fl_sim *s, uint32_t addr, uint32_t len)
{
    return s->chip->idk && (uint64_t)addr + len > s->flash.size;
}

/* ------------------------------------------------------------------ short commands */

static void rom_short(fl_sim *s, double t)
{
    rom_parser *p = &s->dev.rom;
    uint8_t cmd = p->rx[0];
    const uint8_t *prm = p->rx + 1;
    uint8_t L = p->head_total;
    uint8_t op[300] = {0x01, 0xE0, 0xFC};
    sim_dev *d = &s->dev;
    switch (cmd) {
    case 0x00: /* LinkCheck */
    case 0x02: /* BL2 LinkCheck ([IDK] family only) */
        if (cmd == 0x02 && !s->chip->idk)
            goto unknown;
        op[3] = (uint8_t)(cmd + 1), op[4] = 0x00;
        send_short(s, t, (uint8_t)p->idx, op, 5);
        sim_dev_enter_download(s);
        sim_trace(s, "link-answer", d->baud);
        break;
    case 0x01: { /* WriteReg: echo of what was received */
        size_t n = L;
        memcpy(op + 3, p->rx, n > sizeof op - 3 ? sizeof op - 3 : n);
        sim_reg_write(s, le32(prm), le32(prm + 4));
        send_short(s, t, (uint8_t)(L + 3), op, 3 + n);
        break;
    }
    case 0x03: /* ReadReg */
        op[3] = 0x03;
        memcpy(op + 4, prm, 4);
        put_le32(op + 8, sim_reg_read(s, le32(prm)));
        send_short(s, t, 0x0C, op, 12);
        break;
    case 0x0E: /* Reboot */
        if (prm[0] == 0xA5) {
            s->stats.frames_ok++;
            sim_event(s, "reboot-command");
            sim_dev_schedule_reset(s, t, s->tm.reboot_delay);
            return;
        }
        op[3] = 0x0E, op[4] = prm[0];
        send_short(s, t, 0x05, op, 5);
        break;
    case 0x70: /* Reset "SEAN" */
        if (!memcmp(prm, "SEAN", 4)) {
            s->stats.frames_ok++;
            sim_event(s, "reboot-command");
            sim_dev_schedule_reset(s, t, s->tm.reboot_delay);
            return;
        }
        op[3] = 0x70;
        memcpy(op + 4, prm, 4);
        send_short(s, t, 0x08, op, 8);
        break;
    case 0x0F: { /* SetBaudRate: switch now, wait `delay` ms, echo at the new rate */
        uint32_t baud = le32(prm);
        double delay = prm[4] / 1000.0; /* a protocol delay: not scaled */
        sim_dev_set_baud(s, baud);
        op[3] = 0x0F;
        memcpy(op + 4, prm, 5);
        d->busy_until = t + delay;
        send_short(s, t + delay, 0x09, op, 9);
        break;
    }
    case 0x10: { /* CheckCRC, end inclusive */
        uint32_t start = le32(prm), end = le32(prm + 4);
        uint32_t len = end - start + 1;
        uint32_t crc = sim_flash_crc(&s->flash, start, len);
        double done = t + sim_dev_crc_time(s, len);
        d->busy_until = done;
        op[3] = 0x10;
        put_le32(op + 4, crc);
        send_short(s, done, 0x08, op, 8);
        break;
    }
    case 0xAA: /* StayRom */
        op[3] = 0xAA, op[4] = prm[0];
        send_short(s, t, 0x05, op, 5);
        sim_dev_enter_download(s);
        break;
    default:
    unknown:
        op[3] = cmd, op[4] = 0x07; /* UNKNOW_CMD */
        send_short(s, t, 0x05, op, 5);
        s->stats.frames_bad++;
        return;
    }
    s->stats.frames_ok++;
}

/* ------------------------------------------------------------------ 4 KiB write streaming */

/* Called at each page boundary of a 0x07 frame and at its commit.  Returns true when
 * the loader answered (or browned out) and the frame is over. */
static bool w4k_event(fl_sim *s, double t, bool commit, bool timeout)
{
    rom_parser *p = &s->dev.rom;
    uint32_t addr = le32(p->rx + 4);
    uint8_t payload[4];
    memcpy(payload, p->rx + 4, 4);
    if (timeout) {
        send_long(s, t, 0x07, 5, payload, 4); /* PACK_PAYLOAD_LACK; pages so far stay */
        s->stats.frames_bad++;
        return true;
    }
    if (p->n != 0x1005) {
        /* [IDK]: the length error is noticed at the first page event and answered at
         * the next one (or at once at the end of the frame) — possibly mid-frame. */
        if (!p->len_error) {
            p->len_error = true;
            if (!commit)
                return false;
        }
        send_long(s, t, 0x07, 4, payload, 4); /* PACK_LEN_ERROR */
        s->stats.frames_bad++;
        return true;
    }
    if (!commit || p->pages_done < 16) {
        unsigned j = p->pages_done;
        if (j == 0 && idk_invalid(s, addr, 0x1000)) {
            p->len_error = true; /* reused as "silent": no answer for this frame */
        }
        if (!p->len_error && j < 16) {
            bool bo;
            double start = p->prog_done > t ? p->prog_done : t;
            p->prog_done = sim_dev_program_page(s, start, addr + 256 * j, p->rx + 8 + 256 * j,
                                                256, true, &bo);
            if (bo)
                return true;
        }
        p->pages_done++;
    }
    if (!commit)
        return false;
    if (p->len_error) {
        s->stats.frames_bad++;
        return true; /* forbidden range on the [IDK] family: no answer */
    }
    double ready = p->prog_done > t ? p->prog_done : t;
    s->stats.program_busy_s +=
        s->ts > 0 ? (ready - t) / s->ts : (p->prog_done > 0 ? s->tm.page_program : 0);
    s->dev.busy_until = ready;
    send_long(s, ready, 0x07, 0, payload, 4);
    s->stats.frames_ok++;
    return true;
}

/* ------------------------------------------------------------------ long commands */

static void rom_long(fl_sim *s, double t, bool timeout)
{
    rom_parser *p = &s->dev.rom;
    sim_dev *d = &s->dev;
    uint8_t opc = p->rx[3];
    uint16_t N = p->n;
    const uint8_t *prm = p->rx + 4;
    bool complete = p->idx == (uint32_t)N + 7;
    uint8_t st = complete ? 0 : 5;
    uint8_t pl[4200];
    bool bo = false;
    double done = t;
    switch (opc) {
    case 0x06: { /* FlashWrite */
        uint32_t addr = le32(prm);
        uint8_t count = 0;
        if (complete && N < 5) {
            st = 4; /* modelled: the reference code would underflow here */
        } else if (complete) {
            uint32_t n = N - 5u;
            if (idk_invalid(s, addr, n)) {
                s->stats.frames_bad++;
                return;
            }
            done = t;
            for (uint32_t off = 0; off < n && !bo;) {
                uint32_t room = 256 - ((addr + off) & 0xFF);
                uint32_t chunk = n - off < room ? n - off : room;
                done = sim_dev_program_page(s, done, addr + off, prm + 4 + off, chunk, false, &bo);
                off += chunk;
            }
            if (bo)
                return;
            s->stats.program_busy_s += s->ts > 0 ? (done - t) / s->ts : s->tm.page_program;
            count = (uint8_t)n;
        }
        memcpy(pl, prm, 4);
        pl[4] = st == 0 ? count : 0;
        d->busy_until = done;
        send_long(s, done, 0x06, st, pl, 5);
        break;
    }
    case 0x07:
        w4k_event(s, t, true, timeout);
        return;
    case 0x08: { /* FlashRead (size u8) */
        memcpy(pl, prm, 4);
        if (complete && N != 6)
            st = 4;
        if (st == 0) {
            uint8_t size = prm[4];
            sim_flash_read(&s->flash, le32(prm), pl + 4, size);
            send_long(s, t, 0x08, 0, pl, 4 + (size_t)size);
        } else {
            send_long(s, t, 0x08, st, pl, 4);
        }
        break;
    }
    case 0x09: /* FlashRead4K */
        memcpy(pl, prm, 4);
        if (complete && N != 5)
            st = 4;
        if (st == 0) {
            sim_flash_read(&s->flash, le32(prm), pl + 4, 4096);
            send_long(s, t, 0x09, 0, pl, 4100);
        } else {
            send_long(s, t, 0x09, st, pl, 4);
        }
        break;
    case 0x0A: /* ChipErase */
        if (s->chip->idk) {
            s->stats.frames_bad++;
            return; /* [IDK] returns before executing it: no answer */
        }
        if (complete && N != 2)
            st = 4;
        if (st == 0) {
            done = sim_dev_chip_erase(s, t, &bo);
            if (bo)
                return;
        }
        pl[0] = prm[0];
        d->busy_until = done;
        send_long(s, done, 0x0A, st, pl, 1);
        break;
    case 0x0B: { /* FlashErase4K */
        uint32_t addr = le32(prm);
        if (idk_invalid(s, addr, 0x1000)) {
            s->stats.frames_bad++;
            return;
        }
        if (complete && N != 5)
            st = 4;
        if (st == 0) {
            done = sim_dev_erase(s, t, addr, 0x1000, &bo);
            if (bo)
                return;
        }
        memcpy(pl, prm, 4);
        d->busy_until = done;
        send_long(s, done, 0x0B, st, pl, 4);
        break;
    }
    case 0x0C: { /* FlashReadSR: one opcode out, one byte back */
        uint8_t tx[2] = {prm[0], 0}, rx[2];
        sim_flash_spi(&s->flash, tx, 2, rx);
        pl[0] = prm[0], pl[1] = rx[1];
        if (!sim_sr_reply_lost(s))
            send_long(s, t, 0x0C, 0, pl, 2);
        break;
    }
    case 0x0D: { /* FlashWriteSR: WREN, <opcode value...>, WRDI; echo of what was sent */
        uint32_t n = N >= 1 ? N - 1u : 0;
        if (n > 8)
            n = 8; /* [IDK] copies into an 8-byte buffer */
        uint8_t wren = 0x06, wrdi = 0x04, rx[8];
        sim_flash_spi(&s->flash, &wren, 1, rx);
        sim_flash_spi(&s->flash, prm, n, rx);
        sim_flash_spi(&s->flash, &wrdi, 1, rx);
        memcpy(pl, prm, n);
        if (!sim_sr_reply_lost(s))
            send_long(s, t, 0x0D, 0, pl, n);
        break;
    }
    case 0x0E: { /* FlashSpiOp: N-1 bytes out, N-1 bytes captured (full duplex) */
        uint32_t n = N >= 1 ? N - 1u : 0;
        if (n > 256)
            n = 256;
        sim_flash_spi(&s->flash, prm, n, pl);
        send_long(s, t, 0x0E, 0, pl, n);
        break;
    }
    case 0x0F: { /* FlashErase, sized */
        uint8_t zz = prm[0];
        uint32_t addr = le32(prm + 1);
        if (complete && N != 6)
            st = 4;
        if (st == 0) {
            uint32_t unit = zz == 0x20 ? 0x1000 : zz == 0x52 ? 0x8000 : zz == 0xD8 ? 0x10000 : 0;
            if (!unit || idk_invalid(s, addr, unit)) {
                s->stats.frames_bad++;
                return; /* [IDK] treats it as invalid: no answer */
            }
            done = sim_dev_erase(s, t, addr, unit, &bo);
            if (bo)
                return;
        }
        pl[0] = zz;
        memcpy(pl + 1, prm + 1, 4);
        d->busy_until = done;
        send_long(s, done, 0x0F, st, pl, 5);
        break;
    }
    default:
        send_long(s, t, opc, 7, NULL, 0); /* UNKNOW_CMD */
        s->stats.frames_bad++;
        return;
    }
    if (st == 0)
        s->stats.frames_ok++;
    else
        s->stats.frames_bad++;
}

/* ------------------------------------------------------------------ commit */

static void commit(fl_sim *s, double t, bool timeout)
{
    rom_parser *p = &s->dev.rom;
    if (p->head_total != 0xFF && p->idx != 4u + p->head_total) {
        /* short frame cut short: error event with status 5 */
        uint8_t op[300] = {0x01, 0xE0, 0xFC, 0x05};
        size_t n = 4;
        if (p->idx > 3) {
            op[n++] = p->head_total;
            size_t k = p->idx - 4;
            if (k > sizeof op - n)
                k = sizeof op - n;
            memcpy(op + n, p->rx, k);
            n += k;
        }
        send_short(s, t, (uint8_t)(p->idx + 2), op, n);
        s->stats.frames_bad++;
    } else if (p->head_total == 0xFF && p->rx[0] == 0xF4) {
        rom_long(s, t, timeout);
    } else {
        rom_short(s, t);
    }
    if (s->dev.state == DEV_BOOT || s->dev.state == DEV_DOWNLOAD)
        clear_frame(p);
}

double sim_rom_next_timer(fl_sim *s)
{
    rom_parser *p = &s->dev.rom;
    if (p->st == R_TYPE || !p->payload_started)
        return SIM_INF;
    double t = s->dev.last_rx + s->tm.rom_partial_timeout;
    return t > s->dev.busy_until ? t : s->dev.busy_until;
}

void sim_rom_timeout(fl_sim *s, double t)
{
    commit(s, t, true);
}

static void store(rom_parser *p, uint8_t b)
{
    if (p->got < RX_CAP)
        p->rx[p->got] = b;
    p->got++;
    p->idx++;
}

void sim_rom_rx(fl_sim *s, uint8_t b, double t)
{
    rom_parser *p = &s->dev.rom;
    switch (p->st) {
    case R_TYPE:
        if (b == 0x01)
            p->st = R_OP1, p->idx = 1;
        break;
    case R_OP1:
        if (b == 0xE0)
            p->st = R_OP2, p->idx = 2;
        else if (b == 0x01)
            p->idx = 1;
        else
            p->st = R_TYPE;
        break;
    case R_OP2:
        if (b == 0xFC)
            p->st = R_LEN, p->idx = 3;
        else if (b == 0x01)
            p->st = R_OP1, p->idx = 1;
        else
            p->st = R_TYPE;
        break;
    case R_LEN:
        p->head_total = b;
        p->idx = 4;
        p->got = 0;
        if (b == 0xFF) {
            p->st = R_LSUB;
        } else if (b == 0) {
            p->payload_started = true;
            commit(s, t, false);
        } else {
            p->st = R_DATA;
        }
        break;
    case R_DATA:
        p->payload_started = true;
        store(p, b);
        if (p->got == p->head_total)
            commit(s, t, false);
        break;
    case R_LSUB:
        p->rx[0] = b;
        p->idx = 5;
        p->st = R_LLEN1;
        break;
    case R_LLEN1:
        p->rx[1] = b;
        p->idx = 6;
        p->st = R_LLEN2;
        break;
    case R_LLEN2:
        p->rx[2] = b;
        p->idx = 7;
        p->n = (uint16_t)(p->rx[1] | b << 8);
        p->st = R_LSTART;
        break;
    case R_LSTART:
        p->payload_started = true;
        p->got = 3;
        p->prog_done = 0;
        if (p->n == 0) {
            commit(s, t, false); /* this byte is consumed and lost */
            break;
        }
        p->st = R_LDATA;
        /* fall through */
    case R_LDATA: {
        store(p, b);
        uint32_t k = p->got - 3; /* bytes after the length field, op included */
        if (p->rx[0] == 0xF4 && p->rx[3] == 0x07 && k > 5 && (k - 5) % 256 == 0 &&
            k < p->n) {
            if (w4k_event(s, t, false, false)) {
                if (s->dev.state == DEV_BOOT || s->dev.state == DEV_DOWNLOAD)
                    clear_frame(p); /* answered mid-frame: the rest is parsed afresh */
                break;
            }
        }
        if (k == p->n)
            commit(s, t, false);
        break;
    }
    }
}
