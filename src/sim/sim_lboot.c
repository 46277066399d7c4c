/* sim_lboot.c — the flash-loader personality (BK7231T/U, BK7252: "l_boot" in flash).
 *
 * After Beken's legacy bootloader ([LBOOT], spec §5.2, §4, §10.4):
 *  - header 01 E0 FC with no resynchronisation: an unexpected byte sends the parser back
 *    to "wait for 0x01" and is not looked at again (01 01 E0 FC ... is lost);
 *  - short frames: L = 0 is ignored, L bytes go to a 16-byte buffer, then dispatch;
 *  - long frames: FF must be followed by F4; N = 0 is ignored; N bytes are collected;
 *  - no timeout on partial frames: the parser swallows whatever comes next;
 *  - unknown short codes and flash operations: silence;
 *  - 4 KiB writes program each 256-byte page as soon as it is in; a 0x07 frame whose
 *    length is not 5 + 256k never completes (the parser keeps swallowing);
 *  - raw addresses below the protected limit: 0x09/0x06/0x0F answer ST=6 (the 0x0F
 *    check is signed, so addresses >= 0x80000000 are refused too); 0x07 below 0x2000:
 *    ST=6 with the first two address bytes replaced by 00 20;
 *  - CheckCRC covers floor((end - start + 1) / 256) blocks of 256 bytes (more than
 *    65535 blocks: the 16-bit loop counter never ends and the loader hangs), then
 *    protects the whole flash and disarms the erase-unprotect;
 *  - LinkCheck arms "unprotect on next erase"; the next sized erase past the limit
 *    clears the protection first;
 *  - the buffers keep their content between frames (missing bytes read stale data). */
#include <string.h>

#include "sim/sim_internal.h"

enum { L_HEAD, L_OP1, L_OP2, L_LEN, L_CMD, L_CMDF, L_FL0, L_FL1, L_SCMD };

#define LB_NONE_MASK 0x407C
#define LB_ALL_VALUE 0x001C

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void sim_lb_reset(fl_sim *s)
{
    lb_parser *p = &s->dev.lb;
    memset(p, 0, sizeof *p); /* RAM is cleared by the restart */
    p->st = L_HEAD;
}

/* cmd_response(): 04 0E <length> 01 E0 FC <cmd> <payload: length-4 bytes> */
static void cmd_response(fl_sim *s, double t, uint8_t cmd, uint8_t length, const uint8_t *payload)
{
    uint8_t buf[300] = {0x04, 0x0E, length, 0x01, 0xE0, 0xFC, cmd};
    if (length < 4)
        return;
    memcpy(buf + 7, payload, (size_t)length - 4);
    sim_tx(s, t, buf, (size_t)length + 3, true);
}

/* operate_flash_cmd_response(): 04 0E FF 01 E0 FC F4 <len LE16> <cmd> <st> <len-2 bytes> */
static void flash_response(fl_sim *s, double t, uint8_t cmd, uint8_t st, uint16_t length,
                           const uint8_t *payload)
{
    uint8_t hdr[11] = {0x04, 0x0E, 0xFF, 0x01, 0xE0, 0xFC, 0xF4,
                       (uint8_t)length, (uint8_t)(length >> 8), cmd, st};
    if (length < 2)
        return;
    double tt = sim_tx(s, t, hdr, sizeof hdr, true);
    if (length > 2)
        sim_tx(s, tt, payload, (size_t)length - 2, false);
}

static void protect(fl_sim *s, bool all)
{
    uint16_t sr = sim_flash_sr16(&s->flash) & (uint16_t)~LB_NONE_MASK;
    sim_flash_set_sr16(&s->flash, all ? (uint16_t)(sr | LB_ALL_VALUE) : sr);
}

/* ------------------------------------------------------------------ short commands */

static void dispatch_short(fl_sim *s, double t)
{
    lb_parser *p = &s->dev.lb;
    sim_dev *d = &s->dev;
    const uint8_t *b = p->cmd;
    switch (b[0]) {
    case 0x00: { /* LinkCheck */
        static const uint8_t zero = 0;
        sim_dev_enter_download(s);
        d->erase_enable = true;
        cmd_response(s, t, 0x01, 5, &zero);
        sim_trace(s, "link-answer", d->baud);
        break;
    }
    case 0x10: { /* CheckCRC: 256-byte blocks, then protect ALL */
        uint32_t start = le32(b + 1), end = le32(b + 5);
        uint32_t blocks = (end - start + 1) / 256;
        if (blocks > 0xFFFF) {
            d->state = DEV_HUNG; /* uint16_t loop counter: never finishes */
            sim_event(s, "hung");
            s->stats.frames_bad++;
            return;
        }
        uint64_t n = (uint64_t)blocks * 256;
        uint32_t crc = sim_flash_crc(&s->flash, start, n);
        double done = t + sim_dev_crc_time(s, n);
        protect(s, true);
        d->erase_enable = false; /* spec §12.5; the published l_boot leaves it armed */
        d->busy_until = done;
        uint8_t pl[4] = {(uint8_t)crc, (uint8_t)(crc >> 8), (uint8_t)(crc >> 16),
                         (uint8_t)(crc >> 24)};
        cmd_response(s, done, 0x10, 8, pl);
        break;
    }
    case 0x0F: { /* SetBaudRate: switch, wait (delay + 1) 2-ms ticks, echo */
        double delay = 0.002 * (b[5] + 1); /* protocol delay: not scaled */
        sim_dev_set_baud(s, le32(b + 1));
        d->busy_until = t + delay;
        cmd_response(s, t + delay, 0x0F, 9, b + 1);
        break;
    }
    case 0x0E: /* Reboot: only with A5, silently */
        if (b[1] == 0xA5) {
            s->stats.frames_ok++;
            sim_event(s, "reboot-command");
            sim_dev_schedule_reset(s, t, s->tm.reboot_delay);
            return;
        }
        s->stats.frames_bad++;
        return;
    case 0x11: /* ReadBootVersion: Tuya BK7231T builds only */
        if (s->chip->boot_version) {
            const char *v = s->chip->boot_version;
            cmd_response(s, t, 0x11, (uint8_t)(4 + strlen(v)), (const uint8_t *)v);
            break;
        }
        /* fall through */
    default:
        s->stats.frames_bad++;
        return; /* silence */
    }
    s->stats.frames_ok++;
}

/* ------------------------------------------------------------------ long commands */

static void op_read4k(fl_sim *s, double t)
{
    lb_parser *p = &s->dev.lb;
    uint32_t addr = le32(p->data + 1);
    if (addr < s->chip->lb_limit) {
        p->data[5] = (uint8_t)(p->scmd_length - 5);
        flash_response(s, t, 0x09, 6, 7, p->data + 1);
        s->stats.frames_bad++;
        return;
    }
    sim_flash_read(&s->flash, addr, p->data + 5, 4096);
    flash_response(s, t, 0x09, 0, 4102, p->data + 1);
    s->stats.frames_ok++;
}

static void op_erase(fl_sim *s, double t)
{
    lb_parser *p = &s->dev.lb;
    sim_dev *d = &s->dev;
    int32_t addr = (int32_t)le32(p->data + 2); /* INT32 in the reference code */
    if (addr < (int32_t)s->chip->lb_limit) {
        flash_response(s, t, 0x0F, 6, 7, p->data + 1);
        s->stats.frames_bad++;
        return;
    }
    if (d->erase_enable) {
        protect(s, false);
        d->erase_enable = false;
    }
    double done = t;
    bool bo = false;
    if (p->data[1] == 0x20)
        done = sim_dev_erase(s, t, (uint32_t)addr, 0x1000, &bo);
    else if (p->data[1] == 0xD8)
        done = sim_dev_erase(s, t, (uint32_t)addr, 0x10000, &bo);
    if (bo)
        return;
    d->busy_until = done;
    flash_response(s, done, 0x0F, 0, 7, p->data + 1);
    s->stats.frames_ok++;
}

static void op_write(fl_sim *s, double t)
{
    lb_parser *p = &s->dev.lb;
    sim_dev *d = &s->dev;
    uint32_t addr = le32(p->data + 1);
    if (addr < s->chip->lb_limit) {
        p->data[5] = (uint8_t)(p->scmd_length - 5);
        flash_response(s, t, 0x06, 6, 7, p->data + 1);
        s->stats.frames_bad++;
        return;
    }
    uint32_t n = p->scmd_length >= 5 ? p->scmd_length - 5u : 0;
    if (n > sizeof p->data - 5)
        n = sizeof p->data - 5;
    double done = t;
    bool bo = false;
    for (uint32_t off = 0; off < n && !bo;) {
        uint32_t room = 256 - ((addr + off) & 0xFF);
        uint32_t chunk = n - off < room ? n - off : room;
        done = sim_dev_program_page(s, done, addr + off, p->data + 5 + off, chunk, false, &bo);
        off += chunk;
    }
    if (bo)
        return;
    s->stats.program_busy_s += s->ts > 0 ? (done - t) / s->ts : s->tm.page_program;
    p->data[5] = (uint8_t)(p->scmd_length - 5);
    d->busy_until = done;
    flash_response(s, done, 0x06, 0, 7, p->data + 1);
    s->stats.frames_ok++;
}

/* One byte of a 0x07 frame has been stored: program a page when one is complete. */
static void op_write4k_byte(fl_sim *s, double t)
{
    lb_parser *p = &s->dev.lb;
    sim_dev *d = &s->dev;
    if (p->index < 256u * (p->index_cnt + 1) + 5)
        return;
    uint32_t addr = le32(p->data + 1);
    if (addr < 0x2000) {
        p->index_cnt++;
        if (p->index == p->scmd_length) {
            p->data[1] = 0x00;
            p->data[2] = 0x20;
            flash_response(s, t, 0x07, 6, 6, p->data + 1);
            s->stats.frames_bad++;
            p->st = L_HEAD;
            p->index_cnt = 0;
        }
        return;
    }
    bool bo = false;
    uint32_t off = 256u * p->index_cnt;
    if (off + 256 <= sizeof p->data - 5) {
        double start = p->prog_done > t ? p->prog_done : t;
        p->prog_done = sim_dev_program_page(s, start, addr + off, p->data + 5 + off, 256, false, &bo);
        if (bo)
            return;
    }
    p->index_cnt++;
    if (p->index == p->scmd_length) {
        double ready = p->prog_done > t ? p->prog_done : t;
        s->stats.program_busy_s += s->ts > 0 ? (ready - t) / s->ts : s->tm.page_program;
        d->busy_until = ready;
        flash_response(s, ready, 0x07, 0, 6, p->data + 1);
        s->stats.frames_ok++;
        p->st = L_HEAD;
        p->index_cnt = 0;
    }
}

/* ------------------------------------------------------------------ parser */

void sim_lb_rx(fl_sim *s, uint8_t b, double t)
{
    lb_parser *p = &s->dev.lb;
    switch (p->st) {
    case L_HEAD:
        if (b == 0x01)
            p->st = L_OP1;
        break;
    case L_OP1:
        p->st = b == 0xE0 ? L_OP2 : L_HEAD;
        break;
    case L_OP2:
        p->st = b == 0xFC ? L_LEN : L_HEAD;
        break;
    case L_LEN:
        p->length = b;
        if (b == 0xFF) {
            p->st = L_CMDF;
        } else if (b > 0) {
            p->st = L_CMD;
            p->index = 0;
        } else {
            p->st = L_HEAD;
        }
        break;
    case L_CMD:
        if (p->index < sizeof p->cmd)
            p->cmd[p->index] = b;
        p->index++;
        if (p->index == p->length) {
            p->st = L_HEAD;
            dispatch_short(s, t);
        }
        break;
    case L_CMDF:
        p->st = b == 0xF4 ? L_FL0 : L_HEAD;
        break;
    case L_FL0:
        p->scmd_length = b;
        p->st = L_FL1;
        break;
    case L_FL1:
        p->scmd_length = (uint16_t)(p->scmd_length + (b << 8));
        p->st = p->scmd_length > 0 ? L_SCMD : L_HEAD;
        p->index = 0;
        p->index_cnt = 0;
        p->prog_done = 0;
        break;
    case L_SCMD:
        if (p->index < sizeof p->data)
            p->data[p->index] = b;
        if (p->index < 0xFFFF)
            p->index++;
        if (p->data[0] == 0x09 && p->index == p->scmd_length) {
            p->st = L_HEAD;
            op_read4k(s, t);
        } else if (p->data[0] == 0x0F && p->index == p->scmd_length) {
            p->st = L_HEAD;
            op_erase(s, t);
        } else if (p->data[0] == 0x06 && p->index == p->scmd_length) {
            p->st = L_HEAD;
            op_write(s, t);
        } else if (p->data[0] == 0x07) {
            op_write4k_byte(s, t); /* may never complete: keeps swallowing */
        } else if (p->index == p->scmd_length) {
            p->st = L_HEAD; /* unknown operation: silence */
            s->stats.frames_bad++;
        }
        break;
    }
}
