/* session.h — one Beken chip on one link: getting the bus, baud switching,
 * identification, protection, and the verified flash operations.
 *
 * Typical use:
 *   fl_beken *s; fl_beken_open(link, chip, &events, &s, &err);
 *   fl_beken_connect(s, &connect_opts, &err);   // bus + baud + identify
 *   fl_beken_read(s, 0, s->flash_size, buf, &err);
 *   fl_beken_close(s);                           // does not close the link
 */
#ifndef FL_BEKEN_UART_SESSION_H
#define FL_BEKEN_UART_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "flash/chips.h"
#include "flash/flash.h"
#include "flash/flash_parts.h"
#include "drivers/beken_uart/proto.h"
#include "link/link.h"
#include "util/error.h"
#include "util/events.h"

/* How to get the bus: the session options of flash/flash.h (reset mode,
 * link timeout, baud; allow_bootloader is taken from the session instead). */
typedef fl_flash_opts fl_connect_opts;

void fl_connect_opts_init(fl_connect_opts *o);

typedef struct fl_beken {
    bk_wire wire;
    const fl_chip *chip;
    const fl_events *ev;
    bool allow_bootloader; /* caller's explicit opt-in to touch 0x0–0x11000 */

    /* identity, filled by fl_beken_connect */
    uint32_t flash_size;
    bool have_jedec;
    uint8_t jedec[3];
    const fl_flash_part *part;
    bool have_chip_id;
    uint32_t chip_id;
    char chip_id_norm[16];
    char boot_version[48];
    bool have_sr;
    uint16_t sr;      /* composed status register as read at connect */
    uint32_t baud;    /* rate in use */
    uint32_t baud_max_failed; /* --baud max: the first rate that did not hold, 0 = none */

    /* what the session knows the whole flash holds (drivers/beken_uart/integrity.h) */
    struct fl_integrity *integrity;
    bool same_unit; /* set while recovery re-takes the bus of the unit it was talking to */

    /* protocol state */
    bool needs_arm;   /* flash loader: a CRC re-protected the flash; LinkCheck before erasing */
    bool unprotected; /* ROM: block protection cleared this session */

    /* counters for logs and the audit trail */
    unsigned retries;
    unsigned resets;  /* hung flash loaders reset over RTS and resumed */
    unsigned blocks_skipped;
    unsigned blocks_written;
    unsigned sectors_restored; /* changed outside an operation's range, written back from the backup */

    /* how the caller asked for the bus (reset mode, link timeout, baud): the
     * baud fallback and recovery take the bus again the same way */
    fl_connect_opts conn;
    bool have_conn;
    /* opened without a chip: fl_beken_connect tells it from the chip ID
     * register (fl_beken_detect) before identifying */
    bool chip_unknown;
} fl_beken;

/* chip NULL: not known yet; fl_beken_connect detects it (fl_beken_detect). */
fl_status fl_beken_open(fl_link *link, const fl_chip *chip, const fl_events *ev, fl_beken **out,
                        fl_error *err);
/* Copy what the session learnt at connect (flash size, JEDEC ID and part,
 * chip ID, boot version, status register, baud) into *id; chip, driver,
 * access and programmer are left to the caller. */
void fl_beken_identity(const fl_beken *b, fl_identity *id);

void fl_beken_close(fl_beken *s);

/* Get the bus, switch baud (falling back to 115200), identify the chip
 * (detecting it first when the session was opened without one). */
fl_status fl_beken_connect(fl_beken *s, const fl_connect_opts *o, fl_error *err);

/* Tell the chip from its chip ID register (ROM loaders; the one chip table
 * says which register and value mean which chip) and make it the session's
 * chip.  Chips that answer alike and are handled alike (BK7231N/M) give the
 * first; where they differ, or a flash loader stays silent (BK7231T/U and
 * BK7252 answer the same), FL_ERR_USAGE names the candidates and asks for
 * --chip.  Needs the bus. */
fl_status fl_beken_detect(fl_beken *s, fl_error *err);

/* Pieces of connect, for engineers' own flows.  Getting the bus forgets what
 * the session knew about the flash: another unit may be on the line now.
 * Every mode but pulse first asks once (~20 ms each) at o->last_baud, 115200
 * and o->baud: a loader keeps its rate until reset.  auto then pulses RTS
 * (a running firmware costs what a plain pulse costs), asks once at every
 * other likely rate (921600, 1500000, 2000000, ...), types `reboot`, pulses
 * again and asks for a power-cycle; none alternates the rates and listening. */
fl_status fl_beken_get_bus(fl_beken *s, const fl_connect_opts *o, fl_error *err);
fl_status fl_beken_set_baud(fl_beken *s, uint32_t baud, fl_error *err);
/* --baud max: climb from the rate in use through 230400 ... 3000000, keep the
 * fastest at which a 4 KiB read's host CRC equals the chip's CRC of it; stop
 * at the first rate the adapter refuses or the line garbles (the loader is
 * brought back, by a reset where it cannot be talked back).  Needs the chip
 * identified.  s->baud_max_failed names the rate that failed. */
fl_status fl_beken_set_baud_max(fl_beken *s, fl_error *err);
fl_status fl_beken_identify(fl_beken *s, fl_error *err);

/* ROM loaders: clear / set block protection from the flash table.  Flash
 * loaders manage protection themselves; these are no-ops there. */
fl_status fl_beken_unprotect(fl_beken *s, fl_error *err);
fl_status fl_beken_protect(fl_beken *s, fl_error *err);

/* Reads the RF calibration sector and returns the MAC stored there. */
fl_status fl_beken_read_mac(fl_beken *s, uint8_t mac[6], fl_error *err);

/* Verified flash operations (addresses are logical flash offsets).
 * Erase and write never change anything outside their range silently: the
 * whole flash is mapped by device CRC before the first erase (free after a
 * whole-flash read in the same session) and proven again afterwards; a sector
 * changed outside the range (a garbled address) is written back from what a
 * read in this session saw, with a warning, or the call fails with
 * FL_ERR_VERIFY naming the address. */
fl_status fl_beken_read(fl_beken *s, uint32_t addr, uint32_t len, uint8_t *out, fl_error *err);
/* Whole 4 KiB blocks without the CRC proof (the caller proves them). */
fl_status fl_beken_read_raw(fl_beken *s, uint32_t addr, uint32_t len, uint8_t *out,
                            fl_error *err);
fl_status fl_beken_erase(fl_beken *s, uint32_t addr, uint32_t len, fl_error *err);
/* Erase + write + CRC-verify; blocks whose CRC already matches are skipped.
 * Partial head/tail sectors keep their other bytes (read, merged, rewritten). */
fl_status fl_beken_write(fl_beken *s, uint32_t addr, const uint8_t *data, uint32_t len,
                         fl_error *err);
/* CRC-compare flash with data; on mismatch *bad_addr is the first bad block. */
fl_status fl_beken_verify(fl_beken *s, uint32_t addr, const uint8_t *data, uint32_t len,
                          uint32_t *bad_addr, fl_error *err);
/* Leave download mode and start the firmware (Reboot 0x0E A5, sent 3 times). */
fl_status fl_beken_reboot(fl_beken *s, fl_error *err);

/* Range policy shared by the verbs: past the end → FL_ERR_REFUSED; below
 * 0x11000 when the chip's guard says so and allow_bootloader is off → FL_ERR_REFUSED. */
fl_status fl_beken_check_range(const fl_beken *s, uint32_t addr, uint32_t len, bool modifies,
                               fl_error *err);

#endif
