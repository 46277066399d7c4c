/* spi25.h — a 25-series SPI NOR flash behind a CH341A: identify, read,
 * erase, program, verify, status registers and unprotect.
 *
 * Spec ch341-spi-and-obk-config.md B.5-B.8 and B.11 (the improvements over
 * the GUI tool): the stricter JEDEC size rule; READ in large frames; page
 * programs split on 256-byte pages, each after WREN with WEL checked; 4 KiB
 * sector and 64 KiB block erase with a blank check; busy polling against
 * wall-clock (device-clock) budgets; the escalating unprotect with SR1/SR2/SR3
 * logged before and after; every written byte read back.
 *
 * Every operation leaves CS high when it returns.  Addresses are 24-bit. */
#ifndef FL_DRIVERS_CH341A_SPI_SPI25_H
#define FL_DRIVERS_CH341A_SPI_SPI25_H

#include <stdbool.h>
#include <stdint.h>

#include "drivers/ch341a_spi/ch341a.h"
#include "flash/flash_parts.h"
#include "util/error.h"
#include "util/events.h"

#define SPI25_PAGE 256u
#define SPI25_SECTOR 4096u
#define SPI25_BLOCK 65536u

/* Busy budgets (B.11 item 8), microseconds of device clock. */
#define SPI25_T_PP_US 50000u
#define SPI25_T_SE_US 2000000u
#define SPI25_T_BE_US 5000000u
#define SPI25_T_CE_US 200000000u
#define SPI25_T_WRSR_US 1000000u

typedef struct fl_spi25 fl_spi25;

typedef struct fl_spi25_info {
    uint8_t jedec[3];           /* manufacturer, type, capacity */
    fl_jedec_size_rule size_rule;
    uint32_t size;              /* 0 when the rule could not tell */
    const fl_spi_part *part;    /* GUI info list entry, or NULL */
    const fl_flash_part *bk_part; /* BK SDK list entry, or NULL */
    fl_spi_sr_layout sr_layout;
    uint8_t sr1, sr2, sr3;      /* as read at identify (0xFF: register absent) */
} fl_spi25_info;

typedef struct fl_spi25_stats {
    unsigned retries;        /* commands repeated (busy flash, WEL not latched, erase retried) */
    unsigned sectors_written;
    unsigned sectors_skipped;
    unsigned pages_programmed;
    unsigned pages_skipped;  /* all 0xFF after an erase, or already right */
    /* Device-clock time (ch341a_now_us: exact on the emulator, whatever the
     * host's load) spent in each phase of fl_spi25_write / erase updates:
     * reading a block before deciding, sector/block erases with their blank
     * checks, page programs (with their busy waits and any rewrite of a
     * sector whose read-back failed), and the read-back of touched sectors. */
    uint64_t us_preread, us_erase, us_program, us_readback;
} fl_spi25_stats;

fl_status fl_spi25_new(ch341a *bus, const fl_events *ev, fl_spi25 **out, fl_error *err);
void fl_spi25_free(fl_spi25 *s);

/* Frame `9F` + 3 filler: reply[0] is what MISO carried during the opcode. */
fl_status fl_spi25_rdid(fl_spi25 *s, uint8_t reply[4], fl_error *err);
/* JEDEC ID, size (B.8 stricter rule), part names, SR1/SR2/SR3.
 * FL_ERR_NO_BUS when the ID says no chip (manufacturer 0x00/0xFF). */
fl_status fl_spi25_identify(fl_spi25 *s, fl_error *err);
const fl_spi25_info *fl_spi25_get_info(const fl_spi25 *s);
/* The size to work with when identify could not tell it (Beken: the chip's). */
void fl_spi25_set_size(fl_spi25 *s, uint32_t size);

/* Status register by read opcode (0x05, 0x35, 0x15). */
fl_status fl_spi25_read_sr(fl_spi25 *s, uint8_t opcode, uint8_t *value, fl_error *err);

fl_status fl_spi25_read(fl_spi25 *s, uint32_t addr, uint32_t len, uint8_t *out, fl_error *err);
/* Erase exactly [addr, addr+len): whole sectors (64 KiB blocks where aligned)
 * are erased and blank-checked; bytes of a partial sector outside the range
 * are read first and written back.  Whole chip: chip erase (only when the
 * size is the whole part; a stop request ends its wait). */
fl_status fl_spi25_erase(fl_spi25 *s, uint32_t addr, uint32_t len, fl_error *err);
/* Make [addr, addr+len) hold data: sectors already holding it are skipped, a
 * sector is erased only if some bit must go 0→1 (then blank-checked), pages
 * all 0xFF after an erase are skipped, neighbouring bytes of partial sectors
 * are kept, and every byte of every touched sector is read back.  Pages go
 * out as 275-byte frames (the page repeated; a NOR page latch keeps the last
 * 256 bytes), up to a 64 KiB block of them in one stream, each followed by
 * an RDSR that must show it accepted and finished (spi25.c,
 * program_pipelined; a page it does not prove is sent again one at a time
 * with WEL checked first).  Once a batch has proven every page, measured
 * the longest page program and the programmer has shown that a bit-banged
 * WREN reaches the flash, later pages go timed: 256-byte page programs,
 * each after a wait of that longest program + 1/8 + 25 us and a WREN
 * bit-banged in the UIO packets of the wait (program_timed), with no
 * status reads; the read-back proves them.  A sector whose read-back fails
 * is erased and rewritten with plain 256-byte page programs; after a
 * pipelined write the session then keeps using those, after a timed one it
 * waits 1.5x longer (twice, then no more timed programs); each is logged
 * and counted as a retry before a verify failure is reported. */
fl_status fl_spi25_write(fl_spi25 *s, uint32_t addr, const uint8_t *data, uint32_t len,
                         fl_error *err);
/* Read back and compare every byte; FL_ERR_VERIFY with *bad_addr the first
 * differing byte. */
fl_status fl_spi25_verify(fl_spi25 *s, uint32_t addr, const uint8_t *data, uint32_t len,
                          uint32_t *bad_addr, fl_error *err);

/* Clear block protection by escalating (spec B.7.3), logging SR1/SR2/SR3
 * before and after.  Done once per session; erase and write call it. */
fl_status fl_spi25_unprotect(fl_spi25 *s, fl_error *err);
/* Set the part's protect-all pattern (BP bits all ones, CMP clear). */
fl_status fl_spi25_protect(fl_spi25 *s, fl_error *err);

void fl_spi25_get_stats(const fl_spi25 *s, fl_spi25_stats *out);

#endif
