/* flash.h — one chip, reached one way: the session every front end uses.
 *
 * The CLI verbs, the Lua module flashline.chip and the stock recipe steps
 * call only this header (and flash/image_policy.h, flash/chips.h).  Which
 * driver does the work follows from the port and the chip:
 *   --port /dev/ttyUSB0 | rfc2217://… | tcp://… | sim:CHIP…   → beken-uart
 *   --port ch341a[:SELECTOR] | 'ch341a:sim?…'                 → ch341a-spi
 * (flash/driver.h has the driver table; a new driver is one folder under
 * src/drivers/ and one line in flash/drivers.c).
 *
 * Typical use:
 *   fl_flash_opts o; fl_flash_opts_init(&o);
 *   fl_flash *f; fl_flash_open("sim:bk7231n", "bk7231n", &o, &events, &f, &err);
 *   const fl_identity *id = fl_flash_identity(f);
 *   fl_flash_read(f, 0, id->flash_size, buf, &err);
 *   fl_flash_close(f);
 *
 * Policy lives here, not in the front ends: every modifying call is range-
 * checked (past the end of the flash, the bootloader guard) by the library
 * before the driver is asked, and images are placed and checked by
 * fl_flash_plan_image (flash/image_policy.h) with the driver's placement
 * rules, so `flashline write` and a recipe's flash step refuse the same files. */
#ifndef FL_FLASH_FLASH_H
#define FL_FLASH_FLASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flash/chips.h"
#include "flash/image_policy.h"
#include "util/error.h"
#include "util/events.h"

typedef struct fl_flash fl_flash;

/* How to get the bus on a UART ("auto" unless told; drivers without a
 * reset choice ignore it). */
typedef enum fl_reset_mode {
    FL_RESET_AUTO,   /* staged: link check, `reboot` text, DTR/RTS pulses, then ask for a power-cycle */
    FL_RESET_PULSE,  /* DTR/RTS pulse (CEN on RTS) every couple of seconds */
    FL_RESET_REBOOT, /* `reboot` text to a running OpenBeken every couple of seconds */
    FL_RESET_MANUAL, /* ask the operator to power-cycle, keep link-checking */
    FL_RESET_NONE,   /* chip is already in download mode: only link-check */
} fl_reset_mode;

/* "auto", "pulse", "reboot", "manual", "none" → mode; false when unknown.
 * esptool's names are taken too: "default-reset" (auto), "no-reset" (none),
 * with '-' or '_'. */
bool fl_reset_mode_parse(const char *s, fl_reset_mode *out);
/* The mode's own name ("auto", "pulse", ...), as --reset and --before take it. */
const char *fl_reset_mode_name(fl_reset_mode mode);

/* What the session leaves the chip doing when its work is done
 * (fl_flash_finish; esptool's --after). */
typedef enum fl_after_mode {
    FL_AFTER_REBOOT, /* leave the loader, run the firmware (esptool's hard reset): UART:
                        the Reboot command; Beken SPI mode: a CEN pulse without sync */
    FL_AFTER_STAY,   /* keep the loader (UART: at the rate it was switched to) for the
                        next command; Beken SPI mode: no CEN pulse, even at close */
} fl_after_mode;

/* "reboot", "stay"; esptool's "hard-reset" (reboot) and "no-reset" (stay),
 * with '-' or '_'.  False when unknown. */
bool fl_after_mode_parse(const char *s, fl_after_mode *out);

typedef struct fl_flash_opts {
    fl_reset_mode reset;   /* UART drivers */
    double link_timeout_s; /* overall limit for getting the bus (default 20 s) */
    uint32_t baud;         /* UART drivers: wanted rate after linking (default 921600;
                              FL_BAUD_MAX: the fastest rate the line holds, probed) */
    uint32_t last_baud;    /* UART drivers: the rate flashline last left the loader at on
                              this port (the station home remembers it), 0 = unknown;
                              asked first when getting the bus */
    bool allow_bootloader; /* explicit opt-in to modify the chip's bootloader area */
    fl_after_mode after;   /* what fl_flash_finish does (default reboot); a driver that
                              cannot do it refuses at open (FL_ERR_USAGE), touching nothing */
} fl_flash_opts;

/* opts.baud: probe upward from 115200 and keep the fastest rate that passes
 * a CRC-checked transfer (falling back when the line garbles). */
#define FL_BAUD_MAX 0xFFFFFFFFu

void fl_flash_opts_init(fl_flash_opts *o);

/* What the session learnt about the unit when it opened. */
typedef struct fl_identity {
    const fl_chip *chip;   /* what --chip named (checked against the unit where it can tell) */
    const char *driver;    /* "beken-uart", "ch341a-spi" */
    const char *access;    /* how the chip answers: "rom loader", "flash loader", "spi mode", "spi" */
    char programmer[128];  /* the port or programmer ("ch341a bus 1 port 4", "rfc2217://…") */
    uint32_t flash_size;
    bool have_jedec;
    uint8_t jedec[3];      /* manufacturer, type, capacity */
    char flash_part[64];   /* "XTX XT25F16B", "" when the ID is not in the table */
    bool have_chip_id;
    uint32_t chip_id;
    char chip_id_norm[16];
    char boot_version[48];
    bool have_sr;
    uint32_t sr;           /* status register(s) as read at open (SR1 | SR2 << 8 | SR3 << 16) */
    bool sr_separate;      /* sr holds SR1, SR2, SR3 each read by its own opcode (SPI; 0xFF:
                              the part has no such register); false: one word as a loader
                              reports it */
    uint32_t baud;         /* UART rate in use; 0 on other transports */
    uint32_t baud_max_failed; /* --baud max: the first rate that did not hold (0: none) */
    /* How write, verify and erase's blank check prove the bytes, as it reads
     * after "verified by ": "the chip's CRC" (UART), "reading back every
     * byte" (SPI).  Front ends print it rather than assuming. */
    const char *verified_by;
    /* Set when an erase cannot be proven blank at all (a loader that can
     * neither read nor hash flash): why, for "not verified: ...". */
    const char *erase_unproven;
} fl_identity;

typedef struct fl_flash_stats {
    unsigned retries;          /* commands repeated after line or bus trouble */
    unsigned resets;           /* hung loaders reset and resumed */
    unsigned blocks_written;   /* 4 KiB sectors erased and programmed */
    unsigned blocks_skipped;   /* sectors that already held the data */
    unsigned sectors_restored; /* changed outside an operation's range, put back from the backup */
} fl_flash_stats;

/* Does a driver reach `chip` through `port`?  FL_ERR_USAGE saying why not
 * (the same check fl_flash_open makes first; touches nothing).  chip NULL:
 * does a driver take the port at all. */
fl_status fl_flash_check_port(const char *port, const fl_chip *chip, fl_error *err);

/* Choose the driver for port + chip, open the transport, get the chip's
 * attention and identify it.  A chip no driver serves on that port is
 * FL_ERR_USAGE naming the drivers and what they serve.  chip NULL or "":
 * the port's driver tells the chip from what it reads (UART: the chip ID
 * register); where it cannot (flash loaders answer alike, a SPI programmer)
 * FL_ERR_USAGE names the candidates and asks for the chip. */
fl_status fl_flash_open(const char *port, const char *chip, const fl_flash_opts *o,
                        const fl_events *ev, fl_flash **out, fl_error *err);
/* The work is done: do what opts.after says (reboot: the chip runs its
 * firmware, unless fl_flash_reboot already started it; stay: nothing).
 * Front ends call it when the operation succeeded; after a failure they
 * only close, so the loader stays for a retry. */
fl_status fl_flash_finish(fl_flash *f, fl_error *err);
/* Leave the chip as the driver leaves it (UART: as it is, in the loader
 * unless finished with reboot; SPI mode: a CEN pulse lets it boot, unless
 * opts.after is stay) and free the session. */
void fl_flash_close(fl_flash *f);

const fl_identity *fl_flash_identity(const fl_flash *f);
void fl_flash_stats_get(const fl_flash *f, fl_flash_stats *out);
void fl_flash_set_allow_bootloader(fl_flash *f, bool allow);

/* Verified operations on logical flash offsets.  Modifying calls are
 * refused (FL_ERR_REFUSED) past the end of the flash and, on chips that
 * guard it, inside the bootloader without allow_bootloader. */
fl_status fl_flash_read(fl_flash *f, uint32_t addr, uint32_t len, uint8_t *out, fl_error *err);
fl_status fl_flash_erase(fl_flash *f, uint32_t addr, uint32_t len, fl_error *err);
/* Erase + program + verify every byte (device CRC or read-back); sectors that
 * already hold the data are skipped; partial sectors keep their other bytes. */
fl_status fl_flash_write(fl_flash *f, uint32_t addr, const uint8_t *data, uint32_t len,
                         fl_error *err);
/* Compare flash with data; FL_ERR_VERIFY with *bad_addr the first bad block. */
fl_status fl_flash_verify(fl_flash *f, uint32_t addr, const uint8_t *data, uint32_t len,
                          uint32_t *bad_addr, fl_error *err);
/* The MAC the chip's RF calibration sector holds (FL_ERR_FORMAT: none). */
fl_status fl_flash_read_mac(fl_flash *f, uint8_t mac[6], fl_error *err);
/* Start the firmware. */
fl_status fl_flash_reboot(fl_flash *f, fl_error *err);
/* Block protection on/off (drivers that cannot: FL_ERR_USAGE). */
fl_status fl_flash_protect(fl_flash *f, bool on, fl_error *err);
/* Device-side CRC32 of a range (drivers without one: FL_ERR_USAGE). */
fl_status fl_flash_device_crc(fl_flash *f, uint32_t addr, uint32_t len, uint32_t *crc,
                              fl_error *err);

/* ---- proven reads (issue 11) ------------------------------------------------
 * A read that proves sectors by the chip's CRC instead of moving them.  For
 * each 4 KiB sector the chip is asked its CRC first: a sector whose CRC is
 * that of erased flash is filled with 0xFF, one whose CRC equals the
 * reference's sector is copied from the reference; only the others cross the
 * wire (each proven by its own CRC).  Then the sectors that did not cross are
 * checked again with device CRCs over other ranges (runs cut half a sector
 * off the per-sector boundaries, so a wrong proof would need two independent
 * CRC32 matches); a range that differs has its sectors read for real.  The
 * result is byte-exact or the call fails.  Drivers without a device CRC: a
 * plain fl_flash_read (stats.proven false).
 * Cost: one CRC request per sector (about 1 ms of device time per 4 KiB and
 * a few bytes each way) where the plain read proves 64 KiB with one; a dump
 * with nothing erased costs a few round trips more per 64 KiB. */
typedef struct fl_read_stats {
    unsigned sectors;        /* 4 KiB sectors the range spans */
    unsigned sectors_read;   /* moved over the wire */
    unsigned proven_erased;  /* filled with 0xFF on the chip's CRC */
    unsigned from_reference; /* copied from the reference on the chip's CRC */
    unsigned reread;         /* proven ones the second check sent to the wire after all */
    bool proven;             /* the driver has a device CRC: sectors were proven */
} fl_read_stats;

/* reference: a whole-flash image (logical offset 0 at reference[0]) of the
 * same product, or NULL; sectors past ref_len have none.  stats may be NULL. */
fl_status fl_flash_read_proven(fl_flash *f, uint32_t addr, uint32_t len, uint8_t *out,
                               const uint8_t *reference, size_t ref_len, fl_read_stats *stats,
                               fl_error *err);

/* The library's range policy, as the modifying calls apply it. */
fl_status fl_flash_check_range(const fl_flash *f, uint32_t addr, uint64_t len, bool modifies,
                               fl_error *err);

/* Place and check an image for `chip` as it would be written through `port`
 * (the driver's placement rules: over Beken SPI mode a _QIO_ image is written
 * whole from 0x0).  port NULL or "" (a recipe checked before a port is
 * known): a UART port's driver where it serves the chip, else the first
 * driver that does.  flash_size 0: the largest flash
 * the chip can have (before connecting); call again with the unit's size once
 * it is open. */
fl_status fl_flash_plan_image(const char *port, const fl_chip *chip, const char *name,
                              const uint8_t *data, size_t len, uint32_t flash_size,
                              const fl_image_plan_opts *opts, fl_placement *out, fl_error *err);

/* "beken-uart (ports: …; chips: …)\nch341a-spi (…)" for --help and errors. */
const char *fl_flash_drivers_help(void);

#endif
