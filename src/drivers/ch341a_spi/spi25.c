/* spi25.c — SPI NOR commands over the CH341A (spec B.5-B.8, B.11). */
#include "drivers/ch341a_spi/spi25.h"

#include <stdlib.h>
#include <string.h>

#define OP_WRSR 0x01u
#define OP_PP 0x02u
#define OP_READ 0x03u
#define OP_RDSR1 0x05u
#define OP_WREN 0x06u
#define OP_WRDI 0x04u
#define OP_WRSR3 0x11u
#define OP_RDSR3 0x15u
#define OP_SE 0x20u
#define OP_WRSR2 0x31u
#define OP_RDSR2 0x35u
#define OP_EWSR 0x50u
#define OP_RDID 0x9Fu
#define OP_CE 0xC7u
#define OP_BE64 0xD8u

#define SR1_WIP 0x01u
#define SR1_WEL 0x02u
#define SR2_CMP 0x40u
#define SPI25_MAX_24BIT 0x1000000u /* 3-byte addressing; 4-byte mode is not used */

/* Bytes per READ frame: large frames keep the CH341A streaming (B.11 item 3);
 * one frame per batch, the replies come back with transfers in flight. */
#define READ_CHUNK 65536u
/* An RDSR frame that fills one 0xA8 packet, so more frames can follow it in
 * the same OUT transfer; the flash streams SR1 for every byte. */
#define RDSR_FULL CH341A_SPI_MAX
#define PP_DELAY_START_US 760u /* first guess at a page program's busy time (typ. 0.7 ms) */
#define PP_DELAY_MAX_US 5000u
#define WREN_TRIES 3
#define DEAD_SR_US 200000u /* SR1 0xFF this long while polling: nothing drives MISO */
#define PAGE_TRIES 4
/* Pipelined page programs (program_pipelined): pages per stream, and how
 * many 31-byte RDSR packets follow each page program: 4 x 31 bytes at the
 * CH341A's ~1.4 MHz are ~710 us, just over a typical 0.7 ms page program;
 * a page found still busy adds one, up to the max. */
#define PIPE_PAGES (SPI25_BLOCK / SPI25_PAGE)
#define PIPE_SR_START 4u
#define PIPE_SR_MAX 16u
#define PIPE_FIRST_PAGES 32u /* the first batch of a write; doubles on success */
#define PIPE_RETRY_PAGES 8u  /* the batch after a failed one */
#define ERASE_TRIES 3
/* Timed page programs (program_timed): one SPI byte at the CH341A's fixed
 * ~1.4 MHz clock, and the margin on the longest page program a pipelined
 * batch measured. */
#define SPI25_BYTE_NS 5714u
#define TIMED_MARGIN_US 25u
#define TIMED_MAX_US 2400u  /* a longer wait fits no bit-banged frame: stay pipelined */
#define TIMED_FAILS_MAX 2u  /* read-back failures before timed programs are given up */

struct fl_spi25 {
    ch341a *c;
    const fl_events *ev;
    fl_spi25_info info;
    bool unprotected;
    bool bus_failed;      /* the transport failed: stop, do not escalate */
    bool pp_pending;      /* a page program frame is open: it runs when CS rises */
    bool wren_open;       /* a WREN frame is open: it latches when CS rises */
    unsigned pp_delay_us; /* wait inside the device before the next WREN */
    bool plain_pp;        /* 275-byte frames failed once: plain 256-byte programs from now on */
    unsigned pipe_sr_packets; /* RDSR packets that cover a page program in a pipelined batch */
    bool pipe_off;        /* the pipelined checks cannot work on this chip: page by page */
    unsigned pp_busy_max_us; /* longest page program a pipelined batch saw (0: none yet) */
    int timed;            /* timed page programs: 0 not tried yet, 1 in use, -1 off */
    unsigned timed_us;    /* their wait after each page program */
    unsigned timed_fails; /* sectors whose read-back failed after timed programs */
    bool timed_used;      /* the last program_pages call used them */
    bool whole_chip_known; /* info.size is the whole part: a chip erase stays inside it */
    fl_spi25_stats st;
    ch341a_batch batch;
    uint8_t *rx;
    size_t rx_cap;
};

static uint32_t align_down(uint32_t v, uint32_t a) { return v & ~(a - 1); }
static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

static bool all_ff(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0xFF)
            return false;
    return true;
}

fl_status fl_spi25_new(ch341a *bus, const fl_events *ev, fl_spi25 **out, fl_error *err)
{
    fl_spi25 *s = calloc(1, sizeof *s);
    if (!s)
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    s->c = bus;
    s->ev = ev;
    s->pp_delay_us = PP_DELAY_START_US;
    s->pipe_sr_packets = PIPE_SR_START;
    ch341a_batch_init(&s->batch);
    *out = s;
    return FL_OK;
}

void fl_spi25_free(fl_spi25 *s)
{
    if (!s)
        return;
    ch341a_batch_free(&s->batch);
    free(s->rx);
    free(s);
}

const fl_spi25_info *fl_spi25_get_info(const fl_spi25 *s) { return &s->info; }
void fl_spi25_set_size(fl_spi25 *s, uint32_t size)
{
    s->info.size = size;
    s->whole_chip_known = false; /* assumed: the part may be larger */
}
void fl_spi25_get_stats(const fl_spi25 *s, fl_spi25_stats *out) { *out = s->st; }

/* ---- frames ----------------------------------------------------------------- */

static fl_status rx_reserve(fl_spi25 *s, size_t n, fl_error *err)
{
    if (n <= s->rx_cap)
        return FL_OK;
    uint8_t *p = realloc(s->rx, n);
    if (!p)
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    s->rx = p;
    s->rx_cap = n;
    return FL_OK;
}

/* Run the batch being built into s->rx; a transport failure marks the session. */
static fl_status run(fl_spi25 *s, fl_error *err)
{
    fl_status st = rx_reserve(s, s->batch.rx_len, err);
    if (!st)
        st = ch341a_run(s->c, &s->batch, s->rx, err);
    if (st && st != FL_ERR_INTERNAL)
        s->bus_failed = true;
    return st;
}

/* One frame (CS low until the next frame or release); s->rx holds its n reply bytes. */
static fl_status frame(fl_spi25 *s, const uint8_t *tx, size_t tx_len, size_t n, unsigned delay_us,
                       fl_error *err)
{
    ch341a_batch_reset(&s->batch);
    fl_status st = ch341a_batch_frame(s->c, &s->batch, tx, tx_len, n, delay_us, NULL, err);
    return st ? st : run(s, err);
}

static fl_status release(fl_spi25 *s, fl_error *err)
{
    fl_status st = ch341a_release(s->c, err);
    if (st)
        s->bus_failed = true;
    return st;
}

/* Finish a public operation: CS high whatever happened (the flash drops a
 * half-sent command), keeping the first error. */
static fl_status finish(fl_spi25 *s, fl_status st, fl_error *err)
{
    fl_error e;
    fl_status r = release(s, st ? &e : err);
    s->pp_pending = false;
    s->wren_open = false;
    return st ? st : r;
}

static fl_status rdsr_delayed(fl_spi25 *s, uint8_t opcode, unsigned delay_us, uint8_t *value,
                              fl_error *err)
{
    uint8_t op = opcode;
    fl_status st = frame(s, &op, 1, 2, delay_us, err);
    if (!st)
        *value = s->rx[1];
    return st;
}

/* Inside an operation: CS stays low until the next frame or finish(). */
static fl_status read_sr(fl_spi25 *s, uint8_t opcode, uint8_t *value, fl_error *err)
{
    return rdsr_delayed(s, opcode, 0, value, err);
}

static fl_status cmd(fl_spi25 *s, const uint8_t *tx, size_t n, fl_error *err)
{
    return frame(s, tx, n, n, 0, err);
}

static fl_status cmd_addr(fl_spi25 *s, uint8_t op, uint32_t addr, fl_error *err)
{
    uint8_t tx[4] = {op, (uint8_t)(addr >> 16), (uint8_t)(addr >> 8), (uint8_t)addr};
    return cmd(s, tx, sizeof tx, err);
}

/* Poll SR1 until WIP clears, against a budget on the device clock (the
 * emulator's virtual one, so timeouts are exact there too).  `cancellable`:
 * a stop request ends the wait (only where nothing must be put back after
 * it: a chip erase; a sector erase inside a write is followed by programming
 * the bytes it keeps, so it is never cut short). */
static fl_status wait_ready_c(fl_spi25 *s, uint64_t budget_us, unsigned first_delay_us,
                              const char *what, bool cancellable, fl_error *err)
{
    uint64_t interval = budget_us / 250;
    if (interval < 100)
        interval = 100;
    if (interval > 20000)
        interval = 20000;
    uint64_t t0 = ch341a_now_us(s->c);
    for (unsigned delay = first_delay_us;; delay = 0) {
        uint8_t sr;
        fl_status st = rdsr_delayed(s, OP_RDSR1, delay, &sr, err);
        if (st)
            return st;
        if (!(sr & SR1_WIP))
            return FL_OK;
        uint64_t spent = ch341a_now_us(s->c) - t0;
        if (sr == 0xFF && spent > DEAD_SR_US)
            return fl_fail(err, FL_ERR_NO_BUS,
                           "%s: SR1 reads 0xFF for %llu ms, the flash stopped answering (wiring, "
                           "power, or a Beken chip that left SPI mode)",
                           what, (unsigned long long)(spent / 1000));
        if (spent > budget_us)
            return fl_fail(err, FL_ERR_TIMEOUT,
                           "%s: the flash is still busy after %llu ms (SR1=0x%02X)%s", what,
                           (unsigned long long)(spent / 1000), sr,
                           sr == 0xFF ? ": SR1 reads 0xFF, the flash stopped answering" : "");
        if (cancellable && fl_cancelled(s->ev))
            return fl_fail(err, FL_ERR_CANCELLED,
                           "%s stopped after %llu ms; the flash finishes it on its own", what,
                           (unsigned long long)(spent / 1000));
        ch341a_delay_us(s->c, interval);
    }
}

static fl_status wait_ready(fl_spi25 *s, uint64_t budget_us, unsigned first_delay_us,
                            const char *what, fl_error *err)
{
    return wait_ready_c(s, budget_us, first_delay_us, what, false, err);
}

/* WREN, then SR1 must show WEL (and no WIP): every erase, program and status
 * write starts here (B.6). */
static fl_status write_enable(fl_spi25 *s, fl_error *err)
{
    uint8_t sr = 0;
    for (int i = 0; i < WREN_TRIES; i++) {
        uint8_t op = OP_WREN;
        fl_status st = cmd(s, &op, 1, err);
        if (!st)
            st = read_sr(s, OP_RDSR1, &sr, err);
        if (st)
            return st;
        if ((sr & (SR1_WEL | SR1_WIP)) == SR1_WEL && sr != 0xFF)
            return FL_OK;
        s->st.retries++;
        if (sr & SR1_WIP && sr != 0xFF) {
            st = wait_ready(s, SPI25_T_CE_US, 0, "waiting to write-enable", err);
            if (st)
                return st;
        }
    }
    return fl_fail(err, FL_ERR_PROTOCOL, "the flash does not latch write enable (SR1=0x%02X%s)", sr,
                   sr == 0xFF ? ": nothing answers" : "");
}

/* ---- identity --------------------------------------------------------------- */

fl_status fl_spi25_rdid(fl_spi25 *s, uint8_t reply[4], fl_error *err)
{
    uint8_t op = OP_RDID;
    fl_status st = frame(s, &op, 1, 4, 0, err);
    if (!st)
        memcpy(reply, s->rx, 4);
    return finish(s, st, err);
}

fl_status fl_spi25_read_sr(fl_spi25 *s, uint8_t opcode, uint8_t *value, fl_error *err)
{
    return finish(s, read_sr(s, opcode, value, err), err); /* a public call leaves CS high */
}

static const char *rule_text(fl_jedec_size_rule r)
{
    switch (r) {
    case FL_JEDEC_SIZE_TABLE: return "from the part table";
    case FL_JEDEC_SIZE_CAPACITY: return "from the capacity byte";
    default: return "unknown";
    }
}

static fl_status read_all_sr(fl_spi25 *s, uint8_t *sr1, uint8_t *sr2, uint8_t *sr3,
                             fl_error *err)
{
    fl_status st = read_sr(s, OP_RDSR1, sr1, err);
    if (!st)
        st = read_sr(s, OP_RDSR2, sr2, err);
    if (!st)
        st = read_sr(s, OP_RDSR3, sr3, err);
    return st;
}

fl_status fl_spi25_identify(fl_spi25 *s, fl_error *err)
{
    uint8_t r[4];
    fl_status st = fl_spi25_rdid(s, r, err);
    if (st)
        return fl_fail_prefix(err, "reading the JEDEC ID");
    fl_spi25_info *in = &s->info;
    memcpy(in->jedec, r + 1, 3);
    fl_logf(s->ev, FL_LOG_INFO, "JEDEC ID: %02X-%02X-%02X-%02X", r[0], r[1], r[2], r[3]);
    in->size_rule = fl_jedec_flash_size(in->jedec, &in->size);
    if (in->size_rule == FL_JEDEC_NO_CHIP)
        return fl_fail(err, FL_ERR_NO_BUS,
                       "no SPI flash answers: the JEDEC ID reads %02X %02X %02X (MISO %s) — check "
                       "SCK/MOSI/MISO/CS wiring and power",
                       r[1], r[2], r[3], r[1] == 0xFF ? "stays high" : "stays low");
    in->part = fl_spi_part_find(in->jedec);
    in->bk_part = fl_flash_part_find(in->jedec);
    fl_spi_sr_layout_find(in->jedec, &in->sr_layout);
    const char *vendor = in->part ? in->part->vendor : in->bk_part ? in->bk_part->vendor : NULL;
    const char *name = in->part ? in->part->name : in->bk_part ? in->bk_part->name : NULL;
    if (name)
        fl_logf(s->ev, FL_LOG_INFO, "flash: %s %s, %u KiB (%s)", vendor, name, in->size / 1024,
                rule_text(in->size_rule));
    else if (in->size)
        fl_logf(s->ev, FL_LOG_INFO, "flash %02X %02X %02X is not in the part table: %u KiB %s",
                in->jedec[0], in->jedec[1], in->jedec[2], in->size / 1024,
                rule_text(in->size_rule));
    else
        fl_logf(s->ev, FL_LOG_WARN,
                "flash %02X %02X %02X is not in the part table and its capacity byte 0x%02X "
                "does not tell a size",
                in->jedec[0], in->jedec[1], in->jedec[2], in->jedec[2]);
    s->whole_chip_known = in->size != 0 && in->size <= SPI25_MAX_24BIT;
    if (in->size > SPI25_MAX_24BIT) {
        fl_logf(s->ev, FL_LOG_WARN,
                "the flash holds %u MiB but 3-byte addresses reach only the first 16 MiB: "
                "working on those",
                in->size >> 20);
        in->size = SPI25_MAX_24BIT;
    }
    if (in->size_rule == FL_JEDEC_SIZE_TABLE && in->jedec[2] < 32 &&
        (1u << in->jedec[2]) != in->size)
        fl_logf(s->ev, FL_LOG_INFO,
                "(the capacity byte alone would say %u KiB; the table's size is used)",
                (1u << in->jedec[2]) / 1024);
    st = read_all_sr(s, &in->sr1, &in->sr2, &in->sr3, err);
    st = finish(s, st, err);
    if (st)
        return fl_fail_prefix(err, "reading the status registers");
    fl_logf(s->ev, FL_LOG_INFO, "status: SR1=0x%02X SR2(35h)=0x%02X SR3(15h)=0x%02X", in->sr1,
            in->sr2, in->sr3);
    return FL_OK;
}

/* ---- read ------------------------------------------------------------------- */

static fl_status read_raw(fl_spi25 *s, uint32_t addr, uint32_t len, uint8_t *out,
                          const char *phase, uint32_t done0, uint32_t total, fl_error *err)
{
    for (uint32_t off = 0; off < len;) {
        if (fl_cancelled(s->ev))
            return fl_fail(err, FL_ERR_CANCELLED, "stopped at 0x%06X", addr + off);
        uint32_t n = len - off < READ_CHUNK ? len - off : READ_CHUNK;
        uint32_t a = addr + off;
        uint8_t tx[4] = {OP_READ, (uint8_t)(a >> 16), (uint8_t)(a >> 8), (uint8_t)a};
        fl_status st = frame(s, tx, sizeof tx, 4 + (size_t)n, 0, err);
        if (st)
            return fl_fail_prefix(err, "reading 0x%06X", a);
        memcpy(out + off, s->rx + 4, n);
        off += n;
        if (phase)
            fl_progress(s->ev, phase, done0 + off, total);
    }
    return FL_OK;
}

fl_status fl_spi25_read(fl_spi25 *s, uint32_t addr, uint32_t len, uint8_t *out, fl_error *err)
{
    fl_status st = read_raw(s, addr, len, out, "read", 0, len, err);
    return finish(s, st, err);
}

fl_status fl_spi25_verify(fl_spi25 *s, uint32_t addr, const uint8_t *data, uint32_t len,
                          uint32_t *bad_addr, fl_error *err)
{
    uint8_t *buf = malloc(READ_CHUNK);
    if (!buf)
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    fl_status st = FL_OK;
    for (uint32_t off = 0; off < len && !st;) {
        uint32_t n = len - off < READ_CHUNK ? len - off : READ_CHUNK;
        st = read_raw(s, addr + off, n, buf, NULL, 0, 0, err);
        for (uint32_t i = 0; !st && i < n; i++)
            if (buf[i] != data[off + i]) {
                if (bad_addr)
                    *bad_addr = addr + off + i;
                st = fl_fail(err, FL_ERR_VERIFY, "flash differs at 0x%06X: reads 0x%02X, expected 0x%02X",
                             addr + off + i, buf[i], data[off + i]);
            }
        off += n;
        if (!st)
            fl_progress(s->ev, "verify", off, len);
    }
    free(buf);
    return finish(s, st, err);
}

/* ---- status registers and protection ----------------------------------------- */

static bool sr_unprotected(uint8_t sr1, uint8_t sr2)
{
    return !(sr1 & 0xFC) && (sr2 == 0xFF || !(sr2 & SR2_CMP));
}

/* One status write: WREN (or EWSR for the volatile path), the frame, wait. */
static fl_status sr_write(fl_spi25 *s, bool ewsr, const uint8_t *tx, size_t n, fl_error *err)
{
    fl_status st;
    if (ewsr) {
        uint8_t op = OP_EWSR;
        st = cmd(s, &op, 1, err);
    } else {
        st = write_enable(s, err);
    }
    if (!st)
        st = cmd(s, tx, n, err);
    if (!st)
        st = wait_ready(s, SPI25_T_WRSR_US, 0, "status register write", err);
    return st;
}

/* A step of the escalation failed: go on unless the transport is gone. */
static fl_status step_result(fl_spi25 *s, fl_status st, int step, fl_error *err)
{
    if (!st || s->bus_failed)
        return st;
    fl_logf(s->ev, FL_LOG_DEBUG, "unprotect step %d: %s", step, err ? err->msg : "failed");
    return FL_OK;
}

fl_status fl_spi25_unprotect(fl_spi25 *s, fl_error *err)
{
    if (s->unprotected)
        return FL_OK;
    s->bus_failed = false; /* from here on, a transport failure stops the escalation */
    uint8_t sr1, sr2, sr3;
    fl_status st = read_all_sr(s, &sr1, &sr2, &sr3, err);
    if (st)
        return finish(s, st, err);
    fl_logf(s->ev, FL_LOG_INFO, "status before unprotect: SR1=0x%02X SR2(35h)=0x%02X SR3(15h)=0x%02X",
            sr1, sr2, sr3);
    int step = 0;
    const char *how = "nothing to clear";
    while (!sr_unprotected(sr1, sr2) && step < 4) {
        step++;
        fl_error e = {0};
        if (step == 1) { /* the GUI tool's routine (B.7.2) */
            how = "WRSR 01 00, then SR2 bit 6 (CMP) through 31h";
            static const uint8_t w[2] = {OP_WRSR, 0x00};
            st = step_result(s, sr_write(s, false, w, 2, &e), step, &e);
            if (!st)
                st = read_all_sr(s, &sr1, &sr2, &sr3, &e);
            if (!st && sr2 != 0xFF && (sr2 & SR2_CMP)) {
                uint8_t w2[2] = {OP_WRSR2, (uint8_t)(sr2 & ~SR2_CMP)};
                st = step_result(s, sr_write(s, false, w2, 2, &e), step, &e);
                if (!st)
                    st = read_sr(s, OP_RDSR2, &sr2, &e);
                if (!st && (sr2 & SR2_CMP)) {
                    uint8_t w3[3] = {OP_WRSR, 0x00, (uint8_t)(sr2 & ~SR2_CMP)};
                    st = step_result(s, sr_write(s, false, w3, 3, &e), step, &e);
                }
            }
        } else if (step == 2) { /* two-byte WRSR also clears CMP, SRP1 and QE */
            how = "two-byte WRSR 01 00 00";
            static const uint8_t w[3] = {OP_WRSR, 0x00, 0x00};
            st = step_result(s, sr_write(s, false, w, 3, &e), step, &e);
        } else if (step == 3) { /* Winbond / GigaDevice order (AsProgrammer) */
            how = "WRSR2 31 00 and WRSR3 11 00";
            static const uint8_t w2[2] = {OP_WRSR2, 0x00}, w3[2] = {OP_WRSR3, 0x00};
            if (sr2 != 0xFF)
                st = step_result(s, sr_write(s, false, w2, 2, &e), step, &e);
            if (!st && sr3 != 0xFF)
                st = step_result(s, sr_write(s, false, w3, 2, &e), step, &e);
        } else { /* EWSR 50h: SST, and the volatile SR on Winbond-style parts */
            how = "EWSR 50 + WRSR (volatile status register)";
            static const uint8_t w1[2] = {OP_WRSR, 0x00}, w2[3] = {OP_WRSR, 0x00, 0x00};
            st = step_result(s, sr_write(s, true, w1, 2, &e), step, &e);
            if (!st)
                st = step_result(s, sr_write(s, true, w2, 3, &e), step, &e);
        }
        if (!st)
            st = read_all_sr(s, &sr1, &sr2, &sr3, &e);
        if (st) {
            if (err)
                *err = e;
            return finish(s, fl_fail_prefix(err, "removing write protection"), err);
        }
        fl_logf(s->ev, FL_LOG_DEBUG, "unprotect step %d (%s): SR1=0x%02X SR2=0x%02X SR3=0x%02X",
                step, how, sr1, sr2, sr3);
    }
    st = finish(s, FL_OK, err);
    if (st)
        return st;
    fl_logf(s->ev, FL_LOG_INFO, "status after unprotect: SR1=0x%02X SR2(35h)=0x%02X SR3(15h)=0x%02X (%s%s)",
            sr1, sr2, sr3, step ? "step: " : "", how);
    if (!sr_unprotected(sr1, sr2)) {
        if ((sr1 & 0x7C) || (sr2 != 0xFF && (sr2 & SR2_CMP)))
            return fl_fail(err, FL_ERR_CHIP,
                           "the flash stays write-protected after every unprotect method "
                           "(SR1=0x%02X SR2=0x%02X SR3=0x%02X); is WP# held low?",
                           sr1, sr2, sr3);
        fl_logf(s->ev, FL_LOG_WARN, "SR1 bit 7 (SRP) stays set; the block-protect bits are clear");
    }
    if (step == 4)
        fl_logf(s->ev, FL_LOG_WARN,
                "protection cleared in the volatile status register only: it returns at power-off");
    s->unprotected = true;
    return FL_OK;
}

fl_status fl_spi25_protect(fl_spi25 *s, fl_error *err)
{
    const fl_spi_sr_layout *l = &s->info.sr_layout;
    uint8_t want = l->known ? l->protect_mask : 0x1C; /* BP0-BP2 all ones: whole chip on most parts */
    uint8_t sr2 = 0xFF;
    fl_status st = FL_OK;
    if (l->known && l->sr_bytes == 2 && l->cmp_bit)
        st = read_sr(s, OP_RDSR2, &sr2, err);
    if (!st) {
        uint8_t w[3] = {OP_WRSR, want, (uint8_t)(sr2 & ~l->cmp_bit)};
        st = sr_write(s, false, w, sr2 == 0xFF ? 2 : 3, err);
    }
    uint8_t sr1 = 0;
    if (!st)
        st = read_sr(s, OP_RDSR1, &sr1, err);
    st = finish(s, st, err);
    if (st)
        return fl_fail_prefix(err, "setting write protection");
    if ((sr1 & want) != want)
        return fl_fail(err, FL_ERR_CHIP, "write protection did not take: SR1=0x%02X, wanted bits 0x%02X",
                       sr1, want);
    fl_logf(s->ev, FL_LOG_INFO, "flash write-protected (SR1=0x%02X)", sr1);
    s->unprotected = false;
    return FL_OK;
}

/* ---- erase ------------------------------------------------------------------ */

static fl_status first_not_blank(fl_spi25 *s, uint32_t addr, uint32_t len, bool *blank,
                                 uint32_t *where, uint8_t *value, fl_error *err)
{
    uint8_t *buf = malloc(len < READ_CHUNK ? len : READ_CHUNK);
    if (!buf)
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    fl_status st = FL_OK;
    *blank = true;
    for (uint32_t off = 0; off < len && !st && *blank;) {
        uint32_t n = len - off < READ_CHUNK ? len - off : READ_CHUNK;
        st = read_raw(s, addr + off, n, buf, NULL, 0, 0, err);
        for (uint32_t i = 0; !st && i < n; i++)
            if (buf[i] != 0xFF) {
                *blank = false;
                *where = addr + off + i;
                *value = buf[i];
                break;
            }
        off += n;
    }
    free(buf);
    return st;
}

/* Erase one 4 KiB sector or 64 KiB block and prove it blank (retried). */
static fl_status erase_unit(fl_spi25 *s, uint32_t addr, uint32_t size, fl_error *err)
{
    bool block = size == SPI25_BLOCK;
    uint32_t where = 0;
    uint8_t value = 0;
    for (int i = 0; i < ERASE_TRIES; i++) {
        fl_status st = write_enable(s, err);
        if (!st)
            st = cmd_addr(s, block ? OP_BE64 : OP_SE, addr, err);
        if (!st)
            st = wait_ready(s, block ? SPI25_T_BE_US : SPI25_T_SE_US, 0,
                            block ? "64 KiB block erase" : "sector erase", err);
        bool blank = false;
        if (!st)
            st = first_not_blank(s, addr, size, &blank, &where, &value, err);
        if (st)
            return fl_fail_prefix(err, "erasing 0x%06X", addr);
        if (blank)
            return FL_OK;
        s->st.retries++;
        fl_logf(s->ev, FL_LOG_WARN, "erase of 0x%06X: 0x%06X reads 0x%02X afterwards, retry %d",
                addr, where, value, i + 1);
    }
    return fl_fail(err, FL_ERR_VERIFY,
                   "blank check failed: after erasing 0x%06X-0x%06X, 0x%06X reads 0x%02X (the "
                   "flash ignored the erase: write-protected?)",
                   addr, addr + size - 1, where, value);
}

static fl_status chip_erase(fl_spi25 *s, fl_error *err)
{
    uint8_t op = OP_CE;
    fl_logf(s->ev, FL_LOG_INFO, "chip erase of %u KiB", s->info.size / 1024);
    fl_status st = write_enable(s, err);
    if (!st)
        st = cmd(s, &op, 1, err);
    if (!st)
        st = wait_ready_c(s, SPI25_T_CE_US, 0, "chip erase", true, err);
    bool blank = false;
    uint32_t where = 0;
    uint8_t value = 0;
    if (!st)
        st = first_not_blank(s, 0, s->info.size, &blank, &where, &value, err);
    if (!st && !blank)
        st = fl_fail(err, FL_ERR_VERIFY,
                     "blank check failed: after the chip erase 0x%06X reads 0x%02X (write-protected?)",
                     where, value);
    return st;
}

/* ---- program ------------------------------------------------------------------ */

/* Page programs one at a time, one USB round trip per page (the fallback of
 * the pipelined path below, and the path for a part it cannot prove).  A
 * stream carries
 *     [RDSR, one full packet] [PP: 4 + 275 bytes, nine full packets] [CS up, wait D, WREN]
 * The RDSR's CS edge completes the WREN the previous stream ended with, and
 * its SR1 must show WEL and no WIP: then the page program after it is
 * accepted; otherwise the flash ignored it (still busy, or WREN lost) and the
 * page is sent again (the same bytes programmed twice are harmless).  The
 * next page's WREN follows a wait D inside the CH341A (UIO STM_US) long
 * enough for this page to program; D grows when a page finds the flash busy.
 *
 * Why 275 data bytes: a short 0xA8 packet ends a USB transfer (the WREN after
 * it could not follow), so the frame is padded to whole packets by sending
 * the page cyclically: past 256 bytes a NOR page latch wraps and keeps the
 * last 256 (datasheets; spec E-25), which are exactly the page's bytes. */
#define PP_DATA_WRAPPED (9u * CH341A_SPI_MAX - 4u)

static fl_status wren_alone(fl_spi25 *s, fl_error *err)
{
    uint8_t wren = OP_WREN;
    ch341a_batch_reset(&s->batch);
    fl_status st = ch341a_batch_frame(s->c, &s->batch, &wren, 1, 1,
                                      s->pp_pending ? s->pp_delay_us : 0, NULL, err);
    if (!st)
        st = run(s, err);
    if (!st) {
        s->pp_pending = false;
        s->wren_open = true;
    }
    return st;
}

static fl_status program_page(fl_spi25 *s, uint32_t addr, const uint8_t *data, bool more,
                              fl_error *err)
{
    uint8_t sr = 0;
    uint8_t tx[4 + PP_DATA_WRAPPED];
    tx[0] = OP_PP;
    tx[1] = (uint8_t)(addr >> 16);
    tx[2] = (uint8_t)(addr >> 8);
    tx[3] = (uint8_t)addr; /* page-aligned: byte i lands at offset i % 256 */
    for (uint32_t i = 0; i < PP_DATA_WRAPPED; i++)
        tx[4 + i] = data[i % SPI25_PAGE];
    for (int attempt = 0; attempt < PAGE_TRIES; attempt++) {
        fl_status st = s->wren_open ? FL_OK : wren_alone(s, err);
        if (st)
            return st;
        uint8_t rdsr = OP_RDSR1, wren = OP_WREN;
        size_t sr_off = 0;
        ch341a_batch_reset(&s->batch);
        st = ch341a_batch_frame(s->c, &s->batch, &rdsr, 1, RDSR_FULL, 0, &sr_off, err);
        if (!st)
            st = ch341a_batch_frame(s->c, &s->batch, tx, sizeof tx, sizeof tx, 0, NULL, err);
        if (!st && more)
            st = ch341a_batch_frame(s->c, &s->batch, &wren, 1, 1, s->pp_delay_us, NULL, err);
        if (!st)
            st = run(s, err);
        s->wren_open = false;
        if (st)
            return st;
        sr = s->rx[sr_off + RDSR_FULL - 1]; /* the latest SR1 of the streamed ones */
        if ((sr & (SR1_WEL | SR1_WIP)) == SR1_WEL && sr != 0xFF) {
            s->pp_pending = !more; /* with `more` it ran before the WREN that ends the stream */
            s->wren_open = more;
            s->st.pages_programmed++;
            return FL_OK;
        }
        s->st.retries++;
        if (sr == 0xFF)
            continue;
        /* The previous program outlasted D: the RDSR finds it busy, or, if it
         * ended in between, finds WEL clear (the WREN sent after D met the
         * busy flash and was ignored).  Wait longer from now on. */
        if (sr & SR1_WIP || !(sr & SR1_WEL)) {
            s->pp_delay_us += s->pp_delay_us / 4 + 100;
            if (s->pp_delay_us > PP_DELAY_MAX_US)
                s->pp_delay_us = PP_DELAY_MAX_US;
        }
        if (sr & SR1_WIP) {
            st = wait_ready(s, SPI25_T_PP_US, 0, "page program", err);
            if (st)
                return st;
        }
    }
    return fl_fail(err, FL_ERR_PROTOCOL,
                   "page program at 0x%06X not accepted after %d tries (SR1=0x%02X%s)", addr,
                   PAGE_TRIES, sr, sr == 0xFF ? ": nothing answers" : "");
}

/* One page the textbook way: WREN (WEL checked), PP with exactly 256 data
 * bytes, wait for WIP to clear.  Slower (the short last packet ends a USB
 * transfer, and every page waits on its own), but it relies on no page-latch
 * wrap: the fallback for a part that does not take the 275-byte frames. */
static fl_status program_page_plain(fl_spi25 *s, uint32_t addr, const uint8_t *data,
                                    fl_error *err)
{
    uint8_t tx[4 + SPI25_PAGE] = {OP_PP, (uint8_t)(addr >> 16), (uint8_t)(addr >> 8),
                                  (uint8_t)addr};
    memcpy(tx + 4, data, SPI25_PAGE);
    fl_status st = write_enable(s, err);
    if (!st)
        st = cmd(s, tx, sizeof tx, err);
    if (!st)
        st = wait_ready(s, SPI25_T_PP_US, 0, "page program", err);
    if (!st)
        s->st.pages_programmed++;
    return st;
}

/* Pipelined page programs: many pages in one stream, one OUT transfer
 * (piece) per page, each ending on its 1-byte WREN (a short packet ends a
 * transfer; the next piece is queued behind it):
 *     [PP: 4 + 275 bytes] [RDSR, k full packets] [WREN]
 * The RDSR runs while the page programs, its SR1 bytes take the place of a
 * wait: the first must show WIP and WEL (this page's program was accepted
 * and is running), the last must show neither (it finished, so the WREN
 * after it latches and the next page's program is accepted).  Before the
 * first page, write_enable checks WEL the slow way.  A page counts as
 * programmed only if the RDSR before it ended idle and its own RDSR started
 * busy.  From the first page that is not proven, the pages are sent again
 * after the flash is idle (k grows if it was still busy); a part no window
 * can prove goes through program_page one by one (program_pipelined).
 * Programming the same bytes twice is harmless, and every byte is read
 * back after, so nothing passes unnoticed.
 *
 * Cost per page on the emulator's model (1.4 MHz, 16 slots per frame, one
 * command buffered): 279 PP bytes (1.59 ms) + the RDSR window (0.71 ms) +
 * the slot hops of the short commands (UIO, WREN) ~0.4 ms = ~2.7 ms, i.e.
 * ~95 KB/s, against ~3 frames (85 KB/s) with a stream per page.  The page
 * program time itself cannot overlap anything: a busy flash ignores all
 * but RDSR.  The hops come from commands that take no time: the device
 * holds one command while it runs another, so after a UIO or a WREN the
 * engine waits for the next packet's bus slot.  The timed path below has
 * none of them (~2.3 ms a page, ~110 KB/s). */
static fl_status program_done(fl_spi25 *s, fl_error *err);

static fl_status pipeline_batch(fl_spi25 *s, uint32_t base, const uint8_t *want,
                                const uint32_t *offs, size_t n, size_t *sr_off, fl_error *err)
{
    unsigned k = s->pipe_sr_packets;
    ch341a_batch_reset(&s->batch);
    fl_status st = FL_OK;
    for (size_t i = 0; i < n && !st; i++) {
        uint32_t addr = base + offs[i];
        uint8_t tx[4 + PP_DATA_WRAPPED];
        tx[0] = OP_PP;
        tx[1] = (uint8_t)(addr >> 16);
        tx[2] = (uint8_t)(addr >> 8);
        tx[3] = (uint8_t)addr;
        for (uint32_t j = 0; j < PP_DATA_WRAPPED; j++)
            tx[4 + j] = want[offs[i] + j % SPI25_PAGE];
        uint8_t rdsr = OP_RDSR1, wren = OP_WREN;
        st = ch341a_batch_frame(s->c, &s->batch, tx, sizeof tx, sizeof tx, 0, NULL, err);
        if (!st)
            st = ch341a_batch_frame(s->c, &s->batch, &rdsr, 1, (size_t)k * RDSR_FULL, 0,
                                    &sr_off[i], err);
        if (!st && i + 1 < n)
            st = ch341a_batch_frame(s->c, &s->batch, &wren, 1, 1, 0, NULL, err);
        if (!st && i + 1 < n)
            st = ch341a_batch_end_piece(&s->batch, err);
    }
    return st ? st : run(s, err);
}

/* A proven page's RDSR window (its status bytes after the opcode): the
 * bytes still busy tell how long the program took, to within a byte. */
static void note_busy_time(fl_spi25 *s, const uint8_t *sr, size_t n)
{
    size_t busy = 0;
    while (busy < n && (sr[busy] & SR1_WIP))
        busy++;
    unsigned us = (unsigned)(((uint64_t)busy + 2) * SPI25_BYTE_NS / 1000); /* + opcode, rounding */
    if (us > s->pp_busy_max_us)
        s->pp_busy_max_us = us;
}

/* How many of the n pages the batch's RDSR bytes prove programmed; *slow:
 * a page program outlasted its RDSR window (the WREN after it met a busy
 * flash, so the page after it is not proven). */
static size_t pipeline_good(fl_spi25 *s, size_t n, const size_t *sr_off, bool *slow)
{
    size_t len = (size_t)s->pipe_sr_packets * RDSR_FULL;
    *slow = false;
    for (size_t i = 0; i < n; i++) {
        uint8_t first = s->rx[sr_off[i] + 1], last = s->rx[sr_off[i] + len - 1];
        bool ran = first != 0xFF && (first & (SR1_WIP | SR1_WEL)) == (SR1_WIP | SR1_WEL);
        if (!ran)
            return i;
        s->st.pages_programmed++;
        if (last == 0xFF || (last & (SR1_WIP | SR1_WEL))) {
            *slow = true;
            return i + 1;
        }
        note_busy_time(s, s->rx + sr_off[i] + 1, len - 1);
    }
    return n;
}

/* Timed page programs: after a pipelined batch has proven that this part
 * takes the page programs and measured how long the longest took, the rest
 * go without status reads, one piece (one OUT transfer) per page:
 *     [UIO: CS high, wait T, CS low, WREN bit-banged, CS high, CS low] [PP: 4 + 256 bytes]
 * T = the longest program seen + a margin.  The WREN rides in the UIO
 * packets of the wait (ch341a_batch_bitbang), so the SPI engine never idles
 * between commands and each page costs its 260 SPI bytes plus T (~2.3 ms at
 * 1.4 MHz and a 0.7 ms program, against ~2.7 ms pipelined).  Nothing proves
 * a page here: a page whose program outlasted T (its WREN met a busy flash,
 * so the PP after it was ignored) is found by the read-back of every touched
 * sector that always follows (update_run), which rewrites the sector the
 * proven way and lengthens T; two such sectors and timed programs stop. */
static fl_status timed_batch(fl_spi25 *s, uint32_t base, const uint8_t *want, const uint32_t *offs,
                             size_t n, fl_error *err)
{
    ch341a_batch_reset(&s->batch);
    fl_status st = FL_OK;
    for (size_t i = 0; i < n && !st; i++) {
        uint32_t addr = base + offs[i];
        uint8_t tx[4 + SPI25_PAGE] = {OP_PP, (uint8_t)(addr >> 16), (uint8_t)(addr >> 8),
                                      (uint8_t)addr};
        memcpy(tx + 4, want + offs[i], SPI25_PAGE);
        uint8_t wren = OP_WREN;
        /* every piece alike (the same wait too): pieces must be equal */
        st = ch341a_batch_bitbang(s->c, &s->batch, s->timed_us, &wren, 1, true, err);
        if (!st)
            st = ch341a_batch_data(s->c, &s->batch, tx, sizeof tx, sizeof tx, NULL, err);
        if (!st)
            st = ch341a_batch_end_piece(&s->batch, err);
    }
    if (!st)
        st = ch341a_batch_release(s->c, &s->batch, 0, err);
    if (!st)
        st = run(s, err);
    if (!st)
        s->st.pages_programmed += (unsigned)n;
    return st ? st : wait_ready(s, SPI25_T_PP_US, s->timed_us, "page program", err);
}

static fl_status program_timed(fl_spi25 *s, uint32_t base, const uint8_t *want,
                               const uint32_t *offs, size_t n, fl_error *err)
{
    fl_status st = program_done(s, err); /* the flash idle before the first WREN */
    s->timed_used = true;
    for (size_t at = 0; at < n && !st; at += PIPE_PAGES) {
        size_t m = n - at < PIPE_PAGES ? n - at : PIPE_PAGES;
        st = timed_batch(s, base, want, offs + at, m, err);
        if (st)
            st = fl_fail_prefix(err, "programming 0x%06X", base + offs[at]);
    }
    return st;
}

/* Does this programmer clock a bit-banged WREN into the flash (the UIO pins
 * drive the SPI lines)?  Checked once, the proven way: WRDI, the
 * bit-banged WREN, then RDSR must show WEL; WRDI again after. */
static bool bitbang_works(fl_spi25 *s, fl_error *err)
{
    uint8_t wrdi = OP_WRDI, wren = OP_WREN, sr = 0;
    fl_status st = cmd(s, &wrdi, 1, err);
    if (!st) {
        ch341a_batch_reset(&s->batch);
        st = ch341a_batch_bitbang(s->c, &s->batch, 0, &wren, 1, false, err);
        if (!st)
            st = run(s, err);
    }
    if (!st)
        st = read_sr(s, OP_RDSR1, &sr, err);
    bool ok = !st && sr != 0xFF && (sr & (SR1_WEL | SR1_WIP)) == SR1_WEL;
    if (!st)
        (void)cmd(s, &wrdi, 1, err);
    fl_logf(s->ev, FL_LOG_DEBUG, "bit-banged WREN %s (SR1=0x%02X)",
            ok ? "taken: timed page programs from here on" : "not taken: pipelined page programs",
            sr);
    return ok;
}

/* After a pipelined batch that proved every page: may the rest go timed? */
static void consider_timed(fl_spi25 *s, fl_error *err)
{
    if (s->timed != 0 || !s->pp_busy_max_us)
        return;
    unsigned t = s->pp_busy_max_us + s->pp_busy_max_us / 8 + TIMED_MARGIN_US;
    if (t > TIMED_MAX_US || !bitbang_works(s, err)) {
        s->timed = -1;
        return;
    }
    s->timed = 1;
    s->timed_us = t;
}

static fl_status program_pipelined(fl_spi25 *s, uint32_t base, const uint8_t *want,
                                   const uint32_t *offs, size_t n, fl_error *err)
{
    size_t sr_off[PIPE_PAGES];
    fl_status st = FL_OK;
    size_t batch = PIPE_FIRST_PAGES; /* a slow part wastes little before it is noticed */
    size_t at = 0;
    while (at < n && !st && !s->pipe_off) {
        size_t m = n - at < batch ? n - at : batch;
        s->pp_pending = s->wren_open = false;
        st = write_enable(s, err);
        if (!st)
            st = pipeline_batch(s, base, want, offs + at, m, sr_off, err);
        if (st)
            return fl_fail_prefix(err, "programming 0x%06X", base + offs[at]);
        bool slow;
        size_t good = pipeline_good(s, m, sr_off, &slow);
        at += good;
        if (good == m && !slow) {
            batch = batch * 2 < PIPE_PAGES ? batch * 2 : PIPE_PAGES;
            consider_timed(s, err);
            if (s->timed == 1 && at < n)
                return program_timed(s, base, want, offs + at, n - at, err);
            continue;
        }
        /* The flash was slower than the RDSR window (widen it), or a page
         * program was not proven: wait for the flash, then send the pages
         * from the first unproven one again, in a small batch first.  No page
         * proven at all (a part that finishes a page before the first status
         * byte, or ignores the frames), or slower than the widest window:
         * the checks cannot work on this part, page by page from here on. */
        s->st.retries++;
        if (slow && s->pipe_sr_packets < PIPE_SR_MAX)
            s->pipe_sr_packets++;
        else if (!good || slow)
            s->pipe_off = true;
        batch = PIPE_RETRY_PAGES;
        fl_logf(s->ev, FL_LOG_DEBUG,
                "pipelined page programs: %zu of %zu confirmed%s; RDSR window %u packets%s", good,
                m, slow ? ", the flash still busy after one" : "", s->pipe_sr_packets,
                s->pipe_off ? "; one page at a time from here on" : "");
        st = wait_ready(s, SPI25_T_PP_US, 0, "page program", err);
    }
    for (; at < n && !st; at++) {
        st = program_page(s, base + offs[at], want + offs[at], at + 1 < n, err);
        if (st)
            st = fl_fail_prefix(err, "programming 0x%06X", base + offs[at]);
    }
    fl_error e;
    fl_status done = program_done(s, st ? &e : err);
    return st ? st : done;
}

/* Let the last page program run and finish (a WREN left open is harmless:
 * the RDSR's CS edge completes it, and the next command clears nothing). */
static fl_status program_done(fl_spi25 *s, fl_error *err)
{
    bool wait = s->pp_pending || s->wren_open;
    unsigned d = s->pp_pending ? s->pp_delay_us : 0;
    s->pp_pending = false;
    s->wren_open = false;
    return wait ? wait_ready(s, SPI25_T_PP_US, d, "page program", err) : FL_OK;
}

/* Program the listed pages (offsets into want, relative to base); `plain`:
 * one 256-byte page program at a time (program_page_plain). */
static fl_status program_pages(fl_spi25 *s, uint32_t base, const uint8_t *want,
                               const uint32_t *offs, size_t n, bool plain, fl_error *err)
{
    fl_status st = FL_OK;
    s->timed_used = false;
    if (!plain && n > 1 && s->timed == 1)
        return program_timed(s, base, want, offs, n, err);
    if (!plain && n > 1 && !s->pipe_off)
        return program_pipelined(s, base, want, offs, n, err);
    for (size_t i = 0; i < n && !st; i++) {
        st = plain ? program_page_plain(s, base + offs[i], want + offs[i], err)
                   : program_page(s, base + offs[i], want + offs[i], i + 1 < n, err);
        if (st)
            st = fl_fail_prefix(err, "programming 0x%06X", base + offs[i]);
    }
    fl_error e;
    fl_status done = program_done(s, st ? &e : err);
    return st ? st : done;
}

/* Pages of [0, len) of want that differ from have (NULL: erased, so pages
 * all 0xFF need nothing); appended to offs. */
static size_t pages_to_program(fl_spi25 *s, const uint8_t *want, const uint8_t *have,
                               uint32_t from, uint32_t len, uint32_t *offs, size_t n)
{
    for (uint32_t off = from; off < from + len; off += SPI25_PAGE) {
        bool same = have ? !memcmp(want + off, have + off, SPI25_PAGE)
                         : all_ff(want + off, SPI25_PAGE);
        if (same)
            s->st.pages_skipped++;
        else
            offs[n++] = off;
    }
    return n;
}

static fl_status program_range(fl_spi25 *s, uint32_t base, const uint8_t *want,
                               const uint8_t *have, uint32_t len, bool plain, fl_error *err)
{
    uint32_t offs[SPI25_BLOCK / SPI25_PAGE];
    size_t n = pages_to_program(s, want, have, 0, len, offs, 0);
    return program_pages(s, base, want, offs, n, plain, err);
}

/* ---- sector updates ------------------------------------------------------------- */

enum { NEED_NONE, NEED_PROGRAM, NEED_ERASE };

/* Add the device-clock time since `since` to *phase; returns now. */
static uint64_t phase_time(fl_spi25 *s, uint64_t *phase, uint64_t since)
{
    uint64_t now = ch341a_now_us(s->c);
    *phase += now - since;
    return now;
}

static int sector_need(const uint8_t *cur, const uint8_t *want)
{
    if (!memcmp(cur, want, SPI25_SECTOR))
        return NEED_NONE;
    for (uint32_t i = 0; i < SPI25_SECTOR; i++)
        if ((cur[i] & want[i]) != want[i]) /* a bit must go 0 → 1: only an erase does that */
            return NEED_ERASE;
    return NEED_PROGRAM;
}

static fl_status verify_fail(uint32_t addr, uint8_t got, uint8_t want, fl_error *err)
{
    /* got & ~want: bits that read 1 but were programmed to 0 */
    const char *why = (got & ~want) ? "bits that should be 0 are 1: the program did not take"
                                    : "bits that should be 1 are 0: the erase did not take";
    return fl_fail(err, FL_ERR_VERIFY, "verify failed at 0x%06X: reads 0x%02X, wrote 0x%02X (%s)",
                   addr, got, want, why);
}

/* Bring one sector from `cur` to `want` the hard way (erase + plain 256-byte
 * page programs, which need no page-latch wrap) and read it back: the retry
 * after a failed verify. */
static fl_status redo_sector(fl_spi25 *s, uint32_t base, const uint8_t *want, uint8_t *scratch,
                             fl_error *err)
{
    fl_status st = erase_unit(s, base, SPI25_SECTOR, err);
    if (!st)
        st = program_range(s, base, want, NULL, SPI25_SECTOR, true, err);
    if (!st)
        st = read_raw(s, base, SPI25_SECTOR, scratch, NULL, 0, 0, err);
    for (uint32_t i = 0; !st && i < SPI25_SECTOR; i++)
        if (scratch[i] != want[i])
            st = verify_fail(base + i, scratch[i], want[i], err);
    return st;
}

/* A sector written with timed page programs read back wrong: a page program
 * outlasted the wait (or the part misses bit-banged commands now and then).
 * Wait longer from now on; after TIMED_FAILS_MAX such sectors, no more
 * timed programs this session. */
static void timed_failed(fl_spi25 *s)
{
    s->timed_us += s->timed_us / 2;
    if (++s->timed_fails >= TIMED_FAILS_MAX || s->timed_us > TIMED_MAX_US)
        s->timed = -1;
    fl_logf(s->ev, FL_LOG_WARN, "timed page programs: a sector read back wrong; %s",
            s->timed == 1 ? "waiting longer after each page from now on"
                          : "proven (pipelined) page programs from now on");
}

/* A failure after a run's erases began (a lost reply, a USB error) may leave
 * sectors erased that also hold bytes outside the caller's range; `want`
 * holds those bytes (read before, fill_* kept them).  Every sector that
 * needed an erase is brought to `want` the hard way (redo_sector) before the
 * error goes up, so nothing outside the range is lost; if that fails too,
 * the error names the sectors that may have lost bytes. */
static fl_status salvage_erased(fl_spi25 *s, uint32_t base, const uint8_t *want, const int *need,
                                uint32_t nsec, uint8_t *scratch, fl_error *err)
{
    fl_error why = *err, e;
    uint32_t lost_lo = 0, lost_hi = 0;
    for (uint32_t i = 0; i < nsec; i++) {
        uint32_t off = i * SPI25_SECTOR;
        if (need[i] != NEED_ERASE || !redo_sector(s, base + off, want + off, scratch, &e))
            continue;
        if (lost_hi == 0)
            lost_lo = base + off;
        lost_hi = base + off + SPI25_SECTOR;
    }
    if (lost_hi == 0)
        return fl_fail(err, why.code, "%s; the sectors it had erased were written again, nothing "
                                      "outside the range is lost",
                       why.msg);
    return fl_fail(err, why.code, "%s; 0x%06X..0x%06X may be left erased, bytes outside the "
                                  "range included: restore them from a backup",
                   why.msg, lost_lo, lost_hi);
}

/* [base, base+len): whole sectors inside one 64 KiB block; cur = what the
 * flash holds, want = what it must hold.  `scratch` holds len bytes. */
static fl_status update_run(fl_spi25 *s, uint32_t base, const uint8_t *cur, const uint8_t *want,
                            uint32_t len, uint8_t *scratch, fl_error *err)
{
    uint32_t nsec = len / SPI25_SECTOR;
    int need[SPI25_BLOCK / SPI25_SECTOR];
    uint32_t n_erase = 0, n_touch = 0, first = nsec, last = 0;
    for (uint32_t i = 0; i < nsec; i++) {
        need[i] = sector_need(cur + i * SPI25_SECTOR, want + i * SPI25_SECTOR);
        n_erase += need[i] == NEED_ERASE;
        if (need[i] != NEED_NONE) {
            n_touch++;
            if (first == nsec)
                first = i;
            last = i;
        }
    }
    s->st.sectors_skipped += nsec - n_touch;
    if (!n_touch)
        return FL_OK;
    fl_status st = FL_OK;
    uint64_t t = ch341a_now_us(s->c);
    if (n_erase == nsec && len == SPI25_BLOCK && base % SPI25_BLOCK == 0) {
        st = erase_unit(s, base, SPI25_BLOCK, err);
    } else {
        for (uint32_t i = 0; i < nsec && !st; i++)
            if (need[i] == NEED_ERASE)
                st = erase_unit(s, base + i * SPI25_SECTOR, SPI25_SECTOR, err);
    }
    t = phase_time(s, &s->st.us_erase, t);
    if (st)
        return salvage_erased(s, base, want, need, nsec, scratch, err);
    uint32_t offs[SPI25_BLOCK / SPI25_PAGE];
    size_t npages = 0;
    for (uint32_t i = first; i <= last; i++)
        if (need[i] != NEED_NONE)
            npages = pages_to_program(s, want, need[i] == NEED_ERASE ? NULL : cur,
                                      i * SPI25_SECTOR, SPI25_SECTOR, offs, npages);
    bool plain = s->plain_pp;
    st = program_pages(s, base, want, offs, npages, plain, err);
    t = phase_time(s, &s->st.us_program, t);
    if (st)
        return salvage_erased(s, base, want, need, nsec, scratch, err);
    /* every byte of every touched sector, read back */
    uint32_t v0 = first * SPI25_SECTOR, vlen = (last + 1 - first) * SPI25_SECTOR;
    st = read_raw(s, base + v0, vlen, scratch, NULL, 0, 0, err);
    t = phase_time(s, &s->st.us_readback, t);
    if (st)
        return fl_fail_prefix(err, "reading back");
    for (uint32_t i = first; i <= last; i++) {
        uint32_t off = i * SPI25_SECTOR;
        if (need[i] == NEED_NONE || !memcmp(scratch + off - v0, want + off, SPI25_SECTOR))
            continue;
        uint32_t j = 0;
        while (scratch[off - v0 + j] == want[off + j])
            j++;
        fl_logf(s->ev, FL_LOG_WARN, "sector 0x%06X: 0x%06X reads 0x%02X, wrote 0x%02X; rewriting it",
                base + off, base + off + j, scratch[off - v0 + j], want[off + j]);
        s->st.retries++;
        if (s->timed_used) {
            timed_failed(s);
        } else if (!plain && !s->plain_pp) {
            /* A part that does not keep the last 256 bytes of a longer page
             * program (spec E-25) fails every sector the fast way: once is
             * enough to stop relying on it. */
            s->plain_pp = true;
            fl_logf(s->ev, FL_LOG_WARN,
                    "the 275-byte page-program frames did not all take; rewriting with plain "
                    "256-byte page programs for the rest of this session (slower)");
        }
        st = redo_sector(s, base + off, want + off, scratch + off - v0, err);
        t = phase_time(s, &s->st.us_program, t);
        if (st)
            return st;
    }
    s->st.sectors_written += n_touch;
    return FL_OK;
}

/* Walk [addr, addr+len) in runs of whole sectors within one 64 KiB block:
 * read what is there, let `fill` say what must be there, update. */
typedef void (*fill_fn)(uint8_t *want, uint32_t run_base, uint32_t run_len, uint32_t addr,
                        const uint8_t *data, uint32_t len);

static void fill_data(uint8_t *want, uint32_t run_base, uint32_t run_len, uint32_t addr,
                      const uint8_t *data, uint32_t len)
{
    uint64_t lo = addr > run_base ? addr : run_base;
    uint64_t hi = (uint64_t)addr + len < (uint64_t)run_base + run_len ? (uint64_t)addr + len
                                                                      : (uint64_t)run_base + run_len;
    if (hi > lo)
        memcpy(want + (lo - run_base), data + (lo - addr), hi - lo);
}

static void fill_erased(uint8_t *want, uint32_t run_base, uint32_t run_len, uint32_t addr,
                        const uint8_t *data, uint32_t len)
{
    uint64_t lo = addr > run_base ? addr : run_base;
    uint64_t hi = (uint64_t)addr + len < (uint64_t)run_base + run_len ? (uint64_t)addr + len
                                                                      : (uint64_t)run_base + run_len;
    if (hi > lo)
        memset(want + (lo - run_base), 0xFF, hi - lo);
}

static fl_status update_range(fl_spi25 *s, uint32_t addr, uint32_t len, const uint8_t *data,
                              fill_fn fill, const char *phase, fl_error *err)
{
    uint8_t *cur = malloc(SPI25_BLOCK), *want = malloc(SPI25_BLOCK), *scratch = malloc(SPI25_BLOCK);
    fl_status st = cur && want && scratch ? FL_OK : fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    uint32_t start = align_down(addr, SPI25_SECTOR);
    uint64_t end = align_up((uint64_t)addr + len, SPI25_SECTOR);
    for (uint64_t base = start; base < end && !st;) {
        if (fl_cancelled(s->ev)) {
            st = fl_fail(err, FL_ERR_CANCELLED, "stopped at 0x%06llX", (unsigned long long)base);
            break;
        }
        uint64_t next = align_up(base + 1, SPI25_BLOCK);
        if (next > end)
            next = end;
        uint32_t n = (uint32_t)(next - base);
        uint64_t t = ch341a_now_us(s->c);
        st = read_raw(s, (uint32_t)base, n, cur, NULL, 0, 0, err);
        phase_time(s, &s->st.us_preread, t);
        if (st)
            break;
        memcpy(want, cur, n);
        fill(want, (uint32_t)base, n, addr, data, len);
        st = update_run(s, (uint32_t)base, cur, want, n, scratch, err);
        base = next;
        uint64_t done = base > (uint64_t)addr + len ? len : base - addr;
        if (!st)
            fl_progress(s->ev, phase, base <= addr ? 0 : done, len);
    }
    free(cur);
    free(want);
    free(scratch);
    return st;
}

fl_status fl_spi25_write(fl_spi25 *s, uint32_t addr, const uint8_t *data, uint32_t len,
                         fl_error *err)
{
    if (!len)
        return FL_OK;
    fl_status st = fl_spi25_unprotect(s, err);
    if (!st)
        st = update_range(s, addr, len, data, fill_data, "write", err);
    return finish(s, st, err);
}

fl_status fl_spi25_erase(fl_spi25 *s, uint32_t addr, uint32_t len, fl_error *err)
{
    if (!len)
        return FL_OK;
    fl_status st = fl_spi25_unprotect(s, err);
    if (st)
        return st;
    /* a chip erase only where the size is the whole part: past 16 MiB (3-byte
     * addresses) or with an assumed size it would erase bytes outside the range */
    if (addr == 0 && len == s->info.size && s->whole_chip_known) {
        st = chip_erase(s, err);
        if (!st)
            fl_progress(s->ev, "erase", len, len);
        return finish(s, st, err);
    }
    uint64_t end = (uint64_t)addr + len;
    uint32_t whole0 = (uint32_t)align_up(addr, SPI25_SECTOR);
    uint32_t whole1 = align_down((uint32_t)end, SPI25_SECTOR);
    /* partial sectors at either end: erase, and write their other bytes back */
    bool head = addr % SPI25_SECTOR != 0;
    bool tail = end % SPI25_SECTOR != 0 && !(head && whole1 < addr);
    if (head) {
        uint32_t head_end = (uint64_t)whole0 < end ? whole0 : (uint32_t)end;
        st = update_range(s, addr, head_end - addr, NULL, fill_erased, "erase", err);
    }
    if (!st && tail)
        st = update_range(s, whole1, (uint32_t)(end - whole1), NULL, fill_erased, "erase", err);
    /* whole sectors between: 64 KiB blocks where aligned */
    for (uint32_t a = whole0; !st && a < whole1;) {
        if (fl_cancelled(s->ev)) {
            st = fl_fail(err, FL_ERR_CANCELLED, "stopped at 0x%06X", a);
            break;
        }
        uint32_t size = a % SPI25_BLOCK == 0 && whole1 - a >= SPI25_BLOCK ? SPI25_BLOCK : SPI25_SECTOR;
        st = erase_unit(s, a, size, err);
        a += size;
        if (!st)
            fl_progress(s->ev, "erase", a - addr, len);
    }
    return finish(s, st, err);
}
