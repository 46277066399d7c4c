/* spi_nor.c — the 25-series SPI NOR flash behind the CH341A (spec D.4,
 * E-20..E-31): frames with strict byte counts, RDID, READ/FAST READ, page
 * program that only clears bits and wraps inside its page, 4K/32K/64K/chip
 * erase, WEL, BUSY with datasheet-typical durations, SR1/SR2/SR3, the 0x50
 * volatile path and block protection.
 *
 * Read-type commands answer byte by byte while CS is low; state-changing
 * commands act on the CS rising edge, whenever it comes (same USB transfer
 * or a later one, flashrom style).  The flash array lives in the flash file,
 * mapped shared, so every change is in the file at once (the UART simulator
 * maps the same file the same way). */
#include <string.h>
#include <sys/mman.h>

#include "sim/ch341a/ch341a_internal.h"
#include "sim/sim_flashfile.h"

#define US 1000ull /* ns per µs */

/* ---- the flash file ---- */

static fl_status map_file(spi_nor *n, const char *path, uint32_t size, fl_error *err)
{
    sim_flashfile ff;
    fl_status st = sim_flashfile_open(&ff, path, size, err);
    if (st)
        return st;
    if (!ff.created && ff.size != size) {
        sim_flashfile_close(&ff);
        return fl_fail(err, FL_ERR_FORMAT,
                       "flash file %s is %llu bytes but the emulated %s flash is %u bytes (give "
                       "size= or jedec= for another size)",
                       path, (unsigned long long)ff.size, n->opt->target, size);
    }
    if ((st = sim_flashfile_map(&ff, size, &n->mem, err)))
        return st;
    n->mapped = true;
    return FL_OK;
}

fl_status nor_open(spi_nor *n, const emu_options *o, fl_error *err)
{
    memset(n, 0, sizeof *n);
    n->opt = o;
    n->size = o->size;
    n->sr_nv[0] = o->sr1 & 0xFC;
    n->sr_nv[1] = o->sr2;
    n->sr_nv[2] = o->sr3;
    if (o->flash_path)
        return map_file(n, o->flash_path, n->size, err);
    return sim_flash_alloc(n->size, &n->mem, err);
}

void nor_close(spi_nor *n)
{
    if (!n->mem)
        return;
    if (n->mapped)
        msync(n->mem, n->size, MS_SYNC);
    munmap(n->mem, n->size);
    n->mem = NULL;
}

/* ---- status registers ---- */

static const uint8_t *sr_now(const spi_nor *n)
{
    return n->vol_active ? n->sr_vol : n->sr_nv;
}

static bool busy(const emu *e)
{
    return e->now_ns < e->nor.busy_until_ns;
}

/* E-27: WEL stays set while an operation runs and drops when it completes. */
static void settle(emu *e)
{
    if (e->nor.wel_until_done && !busy(e)) {
        e->nor.wel = false;
        e->nor.wel_until_done = false;
    }
}

uint8_t nor_read_sr(emu *e, int reg)
{
    settle(e);
    const spi_nor *n = &e->nor;
    if (reg == 0)
        return (uint8_t)(sr_now(n)[0] | (n->wel ? 2 : 0) | (busy(e) ? 1 : 0));
    if (reg == 1)
        return n->opt->has_sr2 ? sr_now(n)[1] : 0xFF;
    return n->opt->has_sr3 ? sr_now(n)[2] : 0xFF;
}

/* E-30: the protected range [lo, hi) from BP and CMP. */
static void protected_range(const spi_nor *n, uint32_t *lo, uint32_t *hi)
{
    /* the spec's N: 6 for a 5-bit field (BP 1..5 = top 1/32 .. 1/2), 4 for a 4-bit one
     * (BP 1..3 = top 1/8 .. 1/2) */
    unsigned bits = n->opt->bp_bits, all = (1u << bits) - 1, big_n = bits == 5 ? 6 : 4;
    unsigned bp = (sr_now(n)[0] >> 2) & all;
    bool cmp = n->opt->has_sr2 && (sr_now(n)[1] & 0x40);
    uint32_t len;
    if (bp == 0)
        len = 0;
    else if (bp >= big_n)
        len = n->size; /* BP of N or more, and all ones, protect everything */
    else
        len = n->size >> (big_n - bp);
    *lo = n->size - len;
    *hi = n->size;
    if (cmp) { /* the complement: everything below the top region */
        *hi = *lo;
        *lo = 0;
    }
}

static bool is_protected(const spi_nor *n, uint32_t a, uint32_t len)
{
    uint32_t lo, hi;
    protected_range(n, &lo, &hi);
    return lo < hi && a < hi && a + (uint64_t)len > lo;
}

/* ---- frame execution ---- */

static uint64_t dur(const emu *e, uint64_t us)
{
    return e->opt.fast ? 0 : us * US;
}

static uint64_t chip_erase_us(uint32_t size)
{
    /* D.4 defaults: 8 s for 2 MiB, 15 s for 4 MiB; bigger parts a bit under 4 s/MiB, kept
     * inside the GUI tool's 120 s budget */
    uint64_t us = size <= (2u << 20) ? 8000000ull : 15000000ull * (size >> 20) / 4;
    return us > 100000000ull ? 100000000ull : us;
}

static bool write_enabled(emu *e, const char *what, uint32_t a)
{
    if (e->nor.wel)
        return true;
    emu_log(e, e->now_ns, FL_EV_IGNORED, e->nor.opcode, a, "%s 0x%06X: not write enabled", what,
            a);
    return false;
}

static void start_busy(emu *e, uint64_t ns)
{
    e->nor.busy_until_ns = e->now_ns + ns;
    e->nor.wel_until_done = true;
}

static void do_program(emu *e)
{
    spi_nor *n = &e->nor;
    uint32_t page = n->addr & (n->size - 1) & ~0xFFu;
    if (!write_enabled(e, "program", n->addr))
        return;
    if (is_protected(n, page, 256)) {
        n->wel = false;
        emu_log(e, e->now_ns, FL_EV_IGNORED, 0x02, n->addr, "program 0x%06X: protected", n->addr);
        return;
    }
    if (e->opt.pp_no_wrap && n->count - 4 > 256) {
        n->wel = false;
        emu_log(e, e->now_ns, FL_EV_IGNORED, 0x02, n->addr,
                "program 0x%06X: %u data bytes, more than a page (pp_no_wrap)", n->addr,
                n->count - 4);
        return;
    }
    n->programs_seen++;
    unsigned valid = 0;
    for (unsigned i = 0; i < 256; i++)
        valid += n->latch_valid[i];
    unsigned keep = valid;
    if (e->opt.torn_program && n->programs_seen == e->opt.torn_program) {
        keep = valid / 2;
        emu_log(e, e->now_ns, FL_EV_USB, 0, n->addr, "fault: torn page program at 0x%06X keeps "
                "%u of %u bytes", n->addr, keep, valid);
    }
    for (unsigned i = 0, done = 0; i < 256 && done < keep; i++) {
        if (!n->latch_valid[i])
            continue;
        n->mem[page + i] &= n->latch[i]; /* E-24: program only clears bits */
        done++;
    }
    e->cnt.page_programs++;
    emu_log(e, e->now_ns, FL_EV_FLASH, 0x02, n->addr, "program 0x%06X %u", n->addr,
            n->count - 4);
    uint64_t us = e->opt.pp_us;
    if (e->opt.slow_program && e->cnt.page_programs == e->opt.slow_program) {
        us *= 4;
        emu_log(e, e->now_ns, FL_EV_USB, 0, n->addr,
                "fault: page program %llu at 0x%06X takes %llu us",
                (unsigned long long)e->opt.slow_program, n->addr, (unsigned long long)us);
    }
    start_busy(e, dur(e, us));
}

static void do_erase(emu *e, uint32_t unit, uint64_t us, const char *name)
{
    spi_nor *n = &e->nor;
    bool chip = unit == 0;
    uint32_t a = chip ? 0 : n->addr & (n->size - 1) & ~(unit - 1);
    uint32_t len = chip ? n->size : unit;
    if (!write_enabled(e, name, n->addr))
        return;
    if (is_protected(n, a, len)) {
        n->wel = false;
        emu_log(e, e->now_ns, FL_EV_IGNORED, n->opcode, a, "%s 0x%06X: protected", name, a);
        return;
    }
    memset(n->mem + a, 0xFF, len);
    e->cnt.erases++;
    emu_log(e, e->now_ns, FL_EV_FLASH, n->opcode, a, "%s 0x%06X", name, a);
    start_busy(e, dur(e, us));
}

static void write_sr_reg(spi_nor *n, uint8_t *sr, int reg, uint8_t v)
{
    if (reg == 0)
        sr[0] = v & 0xFC; /* WIP and WEL are not writable */
    else if (reg == 1 && n->opt->has_sr2)
        sr[1] = (uint8_t)((v & 0x43) | ((sr[1] | v) & 0x38)); /* LB1..3 one-time, SUS read-only */
    else if (reg == 2 && n->opt->has_sr3)
        sr[2] = v;
}

/* 01 / 31 / 11 with a valid count.  After 0x50 (volatile_sr) the write goes to the volatile
 * copy without WEL and without BUSY; otherwise it needs WEL and takes 10 ms. */
static void do_wrsr(emu *e)
{
    spi_nor *n = &e->nor;
    bool vol = n->ewsr && n->opt->volatile_sr;
    if (!vol && !write_enabled(e, "write status", 0))
        return;
    uint8_t sr[3];
    memcpy(sr, sr_now(n), 3);
    if (n->opcode == 0x01) {
        write_sr_reg(n, sr, 0, n->arg[0]);
        if (n->count == 3)
            write_sr_reg(n, sr, 1, n->arg[1]);
        else if (n->opt->wrsr1_clears_sr2 && n->opt->has_sr2)
            sr[1] = 0;
    } else {
        write_sr_reg(n, sr, n->opcode == 0x31 ? 1 : 2, n->arg[0]);
    }
    if (vol) {
        memcpy(n->sr_vol, sr, 3);
        n->vol_active = true;
    } else {
        memcpy(n->sr_nv, sr, 3);
        n->vol_active = false;
        start_busy(e, dur(e, 10000));
    }
    if (vol)
        n->wel = false;
    emu_log(e, e->now_ns, FL_EV_FLASH, n->opcode, 0, "wrsr%s sr1=%02X sr2=%02X sr3=%02X",
            vol ? " volatile" : "", nor_read_sr(e, 0) & 0xFC, nor_read_sr(e, 1),
            nor_read_sr(e, 2));
}

/* E-20: the byte count each state-changing command must have, or 0 for "not one". */
static bool count_ok(uint8_t op, uint32_t c)
{
    switch (op) {
    case 0x06: case 0x04: case 0xC7: case 0x60: case 0x62: case 0x50:
        return c == 1;
    case 0x20: case 0x52: case 0xD8:
        return c == 4;
    case 0x02:
        return c >= 5;
    case 0x01:
        return c == 2 || c == 3;
    case 0x31: case 0x11:
        return c == 2;
    default:
        return true;
    }
}

static bool state_changing(uint8_t op)
{
    static const uint8_t ops[] = {0x06, 0x04, 0x01, 0x31, 0x11, 0x50, 0x02,
                                  0x20, 0x52, 0xD8, 0xC7, 0x60, 0x62};
    return memchr(ops, op, sizeof ops) != NULL;
}

void nor_cs_fall(emu *e)
{
    spi_nor *n = &e->nor;
    settle(e);
    n->in_frame = true;
    n->count = 0;
    n->addr = 0;
    memset(n->latch_valid, 0, sizeof n->latch_valid);
    n->frame_busy = busy(e);
}

static uint8_t read_reply(emu *e, uint32_t i)
{
    spi_nor *n = &e->nor;
    uint32_t first = n->opcode == 0x0B ? 5 : 4;
    if (i < first)
        return 0xFF;
    uint8_t v = n->mem[n->addr & (n->size - 1)]; /* E-23: wraps at the end to 0 */
    n->addr = (n->addr + 1) & (n->size - 1);
    return v;
}

uint8_t nor_byte(emu *e, uint8_t mosi)
{
    spi_nor *n = &e->nor;
    if (!n->in_frame)
        return 0xFF;
    uint32_t i = n->count++;
    if (i == 0) {
        n->opcode = mosi;
        return n->opt->opcode_phase;
    }
    uint8_t op = n->opcode;
    bool sr_read = op == 0x05 || op == 0x35 || op == 0x15;
    if (n->frame_busy && !sr_read)
        return 0xFF; /* E-28: only RDSR during BUSY */
    if (i <= 3) {
        n->addr = (n->addr << 8 | mosi) & 0xFFFFFF;
        n->arg[i - 1] = mosi;
    }
    switch (op) {
    case 0x9F: { /* E-22: ID, then 0x00 padding */
        uint8_t id[3] = {(uint8_t)(n->opt->jedec >> 16), (uint8_t)(n->opt->jedec >> 8),
                         (uint8_t)n->opt->jedec};
        return i <= 3 ? id[i - 1] : n->opt->rdid_repeat ? id[(i - 1) % 3] : 0x00;
    }
    case 0x05:
        return nor_read_sr(e, 0); /* live: WIP drops while the host keeps reading */
    case 0x35:
        return nor_read_sr(e, 1);
    case 0x15:
        return nor_read_sr(e, 2);
    case 0x03:
    case 0x0B:
        if (i == 3)
            n->addr &= n->size - 1;
        return read_reply(e, i);
    case 0x02:
        if (i >= 4) { /* E-25: the latch wraps inside the page; the last 256 bytes win */
            uint32_t pos = (n->addr + (i - 4)) & 0xFF;
            n->latch[pos] = mosi;
            n->latch_valid[pos] = true;
        }
        return 0xFF;
    default:
        return 0xFF;
    }
}

static void execute(emu *e)
{
    spi_nor *n = &e->nor;
    uint8_t op = n->opcode;
    switch (op) {
    case 0x06: n->wel = true; break;
    case 0x04: n->wel = false; break;
    case 0x50: break; /* handled by the caller: arms the next frame */
    case 0x01: case 0x31: case 0x11: do_wrsr(e); break;
    case 0x02: do_program(e); break;
    case 0x20: do_erase(e, 4096, 50000, "erase 4K"); break;
    case 0x52: do_erase(e, 32768, 150000, "erase 32K"); break;
    case 0xD8: do_erase(e, 65536, 250000, "erase 64K"); break;
    case 0xC7: case 0x60: case 0x62: do_erase(e, 0, chip_erase_us(n->size), "chip erase"); break;
    default: break;
    }
}

void nor_cs_rise(emu *e)
{
    spi_nor *n = &e->nor;
    if (!n->in_frame)
        return;
    n->in_frame = false;
    bool was_ewsr = n->ewsr;
    n->ewsr = false;
    if (n->count == 0)
        return;
    uint8_t op = n->opcode;
    if (!state_changing(op))
        return;
    if (n->frame_busy) {
        emu_log(e, e->now_ns, FL_EV_IGNORED, op, n->count, "busy: 0x%02X ignored", op);
        return;
    }
    if (!count_ok(op, n->count)) {
        emu_log(e, e->now_ns, FL_EV_IGNORED, op, n->count, "bad length: 0x%02X with %u bytes",
                op, n->count);
        return;
    }
    if (op == 0x50) {
        n->ewsr = n->opt->volatile_sr;
        return;
    }
    n->ewsr = was_ewsr; /* EWSR arms exactly the next frame */
    execute(e);
    n->ewsr = false;
}

void nor_cen_reset(emu *e)
{
    e->nor.wel = false;
    e->nor.wel_until_done = false;
    e->nor.in_frame = false;
    e->nor.ewsr = false;
}

void nor_power_cycle(emu *e)
{
    spi_nor *n = &e->nor;
    n->wel = false;
    n->wel_until_done = false;
    n->ewsr = false;
    n->vol_active = false;
    n->in_frame = false;
    n->busy_until_ns = 0;
}
