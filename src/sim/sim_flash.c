/* sim_flash.c — the SPI NOR flash behind the simulated loader (spec §12.4, §10).
 *
 * physical = wire address mod size (the flash ignores high address bits: §9.2
 * wraparound); erase sets aligned units to 0xFF; program ANDs (only clears bits);
 * a page program wraps inside its 256-byte page; the status register (SR1 BP0-BP4,
 * SR2 CMP) decodes to a protected range the way Winbond/GigaDevice parts do it, and
 * erase/program of protected locations is silently ignored. */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <zlib.h>

#include "sim/sim_flashfile.h"
#include "sim/sim_internal.h"
#include "util/crc32.h"

#define MIN_SIZE (64u * 1024)
#define MAX_SIZE (128u * 1024 * 1024)

static bool pow2(uint64_t v)
{
    return v && !(v & (v - 1));
}

/* Decode SR protection into one physical range [lo, hi).  SR1 bits: BP0..BP2 (2-4),
 * TB (5, "BP3": range from the bottom), SEC (6, "BP4": 4 KiB granularity); SR2 bit 6
 * (bit 14 of the 16-bit view) CMP complements the range.  This is the common
 * Winbond/GigaDevice table (e.g. GD25Q16: BP=001 protects the top 1/32 = 64 KiB and
 * BP0|CMP therefore everything but the top 64 KiB). */
static void decode_protection(sim_flash *f)
{
    uint16_t sr = sim_flash_sr16(f);
    unsigned bp = (sr >> 2) & 7, tb = (sr >> 5) & 1, sec = (sr >> 6) & 1, cmp = (sr >> 14) & 1;
    uint32_t size = f->size, len;
    if (bp == 0)
        len = 0;
    else if (sec)
        len = bp >= 6 ? size : 4096u << (bp >= 4 ? 3 : bp - 1);
    else {
        uint32_t unit = size / 64 > 65536 ? size / 64 : 65536;
        len = bp == 7 ? size : (uint32_t)((uint64_t)unit << (bp - 1) > size ? size : unit << (bp - 1));
    }
    if (len > size)
        len = size;
    uint32_t lo, hi;
    if (len == 0)
        lo = hi = 0;
    else if (len == size)
        lo = 0, hi = size;
    else if (tb)
        lo = 0, hi = len;
    else
        lo = size - len, hi = size;
    if (cmp) {
        if (len == 0)
            lo = 0, hi = size;
        else if (len == size)
            lo = hi = 0;
        else if (tb)
            lo = len, hi = size;
        else
            lo = 0, hi = size - len;
    }
    f->prot_lo = lo;
    f->prot_hi = hi;
}

uint16_t sim_flash_sr16(const sim_flash *f)
{
    return (uint16_t)(f->sr[0] | f->sr[1] << 8);
}

void sim_flash_set_sr16(sim_flash *f, uint16_t v)
{
    f->sr[0] = (uint8_t)(v & 0xFC); /* WIP/WEL are not stored */
    f->sr[1] = (uint8_t)(v >> 8) & 0x7F;
    decode_protection(f);
}

uint32_t sim_flash_phys(const sim_flash *f, uint32_t wire_addr)
{
    return wire_addr & (f->size - 1);
}

bool sim_flash_range_protected(const sim_flash *f, uint32_t phys, uint32_t len)
{
    if (f->prot_hi <= f->prot_lo || len == 0)
        return false;
    uint64_t end = (uint64_t)phys + len;
    return phys < f->prot_hi && end > f->prot_lo;
}

static fl_status bad_size(fl_error *err, fl_status code, const char *what, uint64_t v)
{
    return fl_fail(err, code,
                   "%s of %llu bytes is not a flash size (need a power of two from 64K to 128M, "
                   "e.g. 2M or 4M)",
                   what, (unsigned long long)v);
}

/* How much of a flash file that existed to map: all of it, or --size of it;
 * a file that is no flash dump is refused. */
static fl_status found_size(const sim_flashfile *ff, uint32_t size_opt, uint32_t *size,
                            fl_error *err)
{
    uint64_t fsize = ff->size;
    if (!pow2(fsize) || fsize < MIN_SIZE)
        return fl_fail(err, FL_ERR_FORMAT,
                       "flash file %s is %llu bytes: a flash dump must be a power of two "
                       "(64K .. 128M), e.g. a full 2M read",
                       ff->path, (unsigned long long)fsize);
    if (size_opt && fsize < size_opt)
        return fl_fail(err, FL_ERR_FORMAT,
                       "flash file %s is %llu bytes, smaller than --size %u: pad it or drop "
                       "--size",
                       ff->path, (unsigned long long)fsize, size_opt);
    if (!size_opt) {
        if (fsize > MAX_SIZE)
            return bad_size(err, FL_ERR_FORMAT, "flash file", fsize);
        *size = (uint32_t)fsize;
    }
    return FL_OK;
}

fl_status sim_flash_open(sim_flash *f, const char *path, uint32_t size_opt, uint32_t def_size,
                         fl_error *err)
{
    memset(f, 0, sizeof *f);
    if (size_opt && (!pow2(size_opt) || size_opt < MIN_SIZE || size_opt > MAX_SIZE))
        return bad_size(err, FL_ERR_USAGE, "--size", size_opt);
    uint32_t size = size_opt ? size_opt : def_size;
    fl_status st;
    if (!path) {
        if ((st = sim_flash_alloc(size, &f->mem, err)))
            return st;
        f->map_len = size;
        f->size = size;
        return FL_OK;
    }
    sim_flashfile ff;
    if ((st = sim_flashfile_open(&ff, path, size, err)))
        return st;
    if (!ff.created && (st = found_size(&ff, size_opt, &size, err))) {
        sim_flashfile_close(&ff);
        return st;
    }
    if ((st = sim_flashfile_map(&ff, size, &f->mem, err)))
        return st;
    f->map_len = size;
    f->size = size;
    f->mapped = true;
    f->created = ff.created;
    return FL_OK;
}

void sim_flash_sync(sim_flash *f)
{
    if (f->mem && f->mapped)
        msync(f->mem, f->map_len, MS_SYNC);
}

void sim_flash_close(sim_flash *f)
{
    if (!f->mem)
        return;
    sim_flash_sync(f);
    munmap(f->mem, f->map_len);
    f->mem = NULL;
}

void sim_flash_read(const sim_flash *f, uint32_t wire_addr, uint8_t *buf, uint32_t n)
{
    uint32_t phys = sim_flash_phys(f, wire_addr);
    while (n > 0) {
        uint32_t chunk = f->size - phys < n ? f->size - phys : n;
        memcpy(buf, f->mem + phys, chunk);
        buf += chunk;
        n -= chunk;
        phys = 0;
    }
}

static uint32_t count_changes_ff(const sim_flash *f, uint32_t phys, uint32_t len, uint32_t guard)
{
    uint32_t c = 0;
    for (uint32_t i = 0; i < len && phys + i < guard; i++)
        c += f->mem[phys + i] != 0xFF;
    return c;
}

int sim_flash_erase(sim_flash *f, uint32_t wire_addr, uint32_t unit, uint32_t part, uint32_t guard,
                    uint32_t *changed_below)
{
    if (unit > f->size)
        unit = f->size;
    uint32_t phys = sim_flash_phys(f, wire_addr) & ~(unit - 1);
    if (sim_flash_range_protected(f, phys, unit))
        return SIM_FLASH_PROTECTED;
    if (part > unit)
        part = unit;
    if (changed_below)
        *changed_below += count_changes_ff(f, phys, part, guard);
    memset(f->mem + phys, 0xFF, part);
    return SIM_FLASH_DONE;
}

int sim_flash_chip_erase(sim_flash *f, uint32_t part, uint32_t guard, uint32_t *changed_below)
{
    /* A chip erase is refused by the flash when any block is protected. */
    if (f->prot_hi > f->prot_lo)
        return SIM_FLASH_PROTECTED;
    if (part > f->size)
        part = f->size;
    if (changed_below)
        *changed_below += count_changes_ff(f, 0, part, guard);
    memset(f->mem, 0xFF, part);
    return SIM_FLASH_DONE;
}

int sim_flash_program_page(sim_flash *f, uint32_t wire_addr, const uint8_t *data, uint32_t n,
                           uint32_t guard, uint32_t *changed_below)
{
    uint32_t phys = sim_flash_phys(f, wire_addr);
    uint32_t base = phys & ~0xFFu;
    if (sim_flash_range_protected(f, base, 256))
        return SIM_FLASH_PROTECTED;
    if (n > 256)
        n = 256;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t a = base + ((phys + i) & 0xFF);
        uint8_t old = f->mem[a], nv = old & data[i];
        if (nv != old) {
            if (changed_below && a < guard)
                (*changed_below)++;
            f->mem[a] = nv;
        }
    }
    return SIM_FLASH_DONE;
}

unsigned sim_flash_program(sim_flash *f, uint32_t wire_addr, const uint8_t *data, uint32_t n,
                           uint32_t guard, uint32_t *changed_below)
{
    unsigned pages = 0;
    while (n > 0) {
        uint32_t room = 256 - (wire_addr & 0xFF);
        uint32_t chunk = n < room ? n : room;
        sim_flash_program_page(f, wire_addr, data, chunk, guard, changed_below);
        pages++;
        wire_addr += chunk;
        data += chunk;
        n -= chunk;
    }
    return pages;
}

static void write_sr(sim_flash *f, int reg, uint8_t v)
{
    if (reg == 0)
        f->sr[0] = v & 0xFC;
    else if (reg == 1)
        f->sr[1] = (uint8_t)((v & 0x43) | ((f->sr[1] | v) & 0x38)); /* LB1-3 are one-time */
    else
        f->sr[2] = v;
    decode_protection(f);
}

void sim_flash_spi(sim_flash *f, const uint8_t *tx, uint32_t n, uint8_t *rx)
{
    memset(rx, 0xFF, n); /* MISO floats high while the flash is not driving it */
    if (n == 0)
        return;
    uint8_t id[3] = {(uint8_t)(f->jedec >> 16), (uint8_t)(f->jedec >> 8), (uint8_t)f->jedec};
    switch (tx[0]) {
    case 0x9F: /* JEDEC ID */
        for (uint32_t i = 1; i < n && i <= 3; i++)
            rx[i] = id[i - 1];
        break;
    case 0x90: /* manufacturer / device ID after 3 address bytes */
        if (n > 4)
            rx[4] = id[0];
        if (n > 5)
            rx[5] = (uint8_t)(id[2] - 1);
        break;
    case 0x05:
    case 0x35:
    case 0x15: {
        uint8_t v = tx[0] == 0x05 ? (uint8_t)(f->sr[0] | (f->wel ? 2 : 0))
                    : tx[0] == 0x35 ? f->sr[1] : f->sr[2];
        for (uint32_t i = 1; i < n; i++)
            rx[i] = v;
        break;
    }
    case 0x03: /* read data */
        if (n > 4) {
            uint32_t a = (uint32_t)tx[1] << 16 | (uint32_t)tx[2] << 8 | tx[3];
            sim_flash_read(f, a, rx + 4, n - 4);
        }
        break;
    case 0x06:
        f->wel = true;
        break;
    case 0x04:
        f->wel = false;
        break;
    case 0x01: /* write SR1 (and SR2 with a second byte) */
        if (f->wel && n >= 2) {
            write_sr(f, 0, tx[1]);
            if (n >= 3)
                write_sr(f, 1, tx[2]);
            f->wel = false;
        }
        break;
    case 0x31:
    case 0x11:
        if (f->wel && n >= 2) {
            write_sr(f, tx[0] == 0x31 ? 1 : 2, tx[1]);
            f->wel = false;
        }
        break;
    default: /* anything else: not modelled, the flash does not answer */
        break;
    }
}

uint32_t sim_flash_crc(const sim_flash *f, uint32_t wire_addr, uint64_t n)
{
    uint32_t phys = sim_flash_phys(f, wire_addr);
    uLong z = crc32(0L, Z_NULL, 0);
    uint64_t head = f->size - phys < n ? f->size - phys : n;
    z = crc32(z, f->mem + phys, (uInt)head);
    n -= head;
    uint64_t cycles = n / f->size, tail = n % f->size;
    if (cycles) {
        /* k whole copies of the flash appended, by doubling (crc32_combine). */
        uLong blk = crc32(crc32(0L, Z_NULL, 0), f->mem, f->size);
        z_off_t blen = (z_off_t)f->size;
        while (cycles) {
            if (cycles & 1)
                z = crc32_combine(z, blk, blen);
            cycles >>= 1;
            if (cycles) {
                blk = crc32_combine(blk, blk, blen);
                blen *= 2;
            }
        }
    }
    if (tail)
        z = crc32(z, f->mem, (uInt)tail);
    return ~(uint32_t)z;
}
