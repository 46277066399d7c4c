/* driver.h — what a driver implements, and the table it is registered in
 * (in the manner of flashrom's programmer table and libsigrok's driver list).
 *
 * Only src/flash/ and src/drivers/ include this header; front ends use
 * flash/flash.h.  A driver is one folder, src/drivers/<name>/, whose
 * driver.c defines one `const fl_driver fl_driver_<name>` and nothing else
 * public; flash/drivers.c lists it.  The library (flash/flash.c) does the
 * policy before a driver is called: range checks, the bootloader guard,
 * image placement (with the driver's placement_flags), so a driver only
 * moves bytes and proves them.
 *
 * A driver session is the driver's own struct behind an opaque pointer. */
#ifndef FL_FLASH_DRIVER_H
#define FL_FLASH_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "flash/chips.h"
#include "flash/flash.h"
#include "util/error.h"
#include "util/events.h"

typedef struct fl_driver_session fl_driver_session;

/* placement_flags */
#define FL_PLACE_QIO_WHOLE 0x1u /* a _QIO_ image is written whole from 0x0 (the bootloader
                                   included: SPI paths, where restoring it is the point) */

typedef struct fl_driver {
    const char *name;        /* "beken-uart": logs, the audit log, `flashline ports` */
    const char *description; /* one line for --help */
    const char *ports_help;  /* the port forms it takes, for --help and errors */
    /* Does this driver reach chips through `port`?  Several drivers may claim
     * one port (a UART reaches Beken and ESP chips alike): the first in table
     * order that claims the port AND serves the chip is the one. */
    bool (*claims_port)(const char *port);
    /* Does it serve this chip on its transport? */
    bool (*serves)(const fl_chip *chip);
    /* Only chosen when the chip is named: with no --chip, the port goes to the
     * next claimant (over a UART, the Beken driver tells the chip; an ESP
     * needs --chip esp32 …, since both loaders cannot be probed for at once
     * without resetting the unit twice). */
    bool needs_chip;
    unsigned placement_flags;

    /* Open the transport, get the chip's attention and identify it; *id is
     * filled (chip, flash size, IDs).  On failure nothing is left open.
     * chip NULL: tell the chip (id->chip) or fail FL_ERR_USAGE saying why
     * not.  o->after: an after-mode the driver cannot do is refused here,
     * before anything is opened; close() honours FL_AFTER_STAY (reboot is
     * the library's fl_flash_finish calling reboot()). */
    fl_status (*open)(const char *port, const fl_chip *chip, const fl_flash_opts *o,
                      const fl_events *ev, fl_driver_session **out, fl_identity *id,
                      fl_error *err);
    void (*close)(fl_driver_session *s);

    fl_status (*read)(fl_driver_session *s, uint32_t addr, uint32_t len, uint8_t *out,
                      fl_error *err);
    fl_status (*erase)(fl_driver_session *s, uint32_t addr, uint32_t len, fl_error *err);
    fl_status (*write)(fl_driver_session *s, uint32_t addr, const uint8_t *data, uint32_t len,
                       fl_error *err);
    fl_status (*verify)(fl_driver_session *s, uint32_t addr, const uint8_t *data, uint32_t len,
                        uint32_t *bad_addr, fl_error *err);
    fl_status (*read_mac)(fl_driver_session *s, uint8_t mac[6], fl_error *err);
    fl_status (*reboot)(fl_driver_session *s, fl_error *err);
    void (*set_allow_bootloader)(fl_driver_session *s, bool allow);
    void (*stats)(const fl_driver_session *s, fl_flash_stats *out);

    /* Optional: NULL means "not with this driver" (FL_ERR_USAGE for the caller). */
    fl_status (*protect)(fl_driver_session *s, bool on, fl_error *err);
    fl_status (*device_crc)(fl_driver_session *s, uint32_t addr, uint32_t len, uint32_t *crc,
                            fl_error *err);

    /* Optional, for the library's proven read (flash/flash_proven.c); a driver
     * with device_crc that lacks them gets plain reads.  Both move or report
     * bytes without proving them: the library proves every sector itself.
     *   quick_crc: ONE reply of the device CRC (util/crc32.h's fl_beken_crc
     *     convention; a garbled request or reply is possible, the caller checks);
     *   read_raw: whole 4 KiB sectors, line-level retries only, no CRC;
     *   note_content: the library proved [addr, addr+len) (sector-aligned)
     *     holds `data` (the driver may keep it, e.g. for restoring later). */
    fl_status (*quick_crc)(fl_driver_session *s, uint32_t addr, uint32_t len, uint32_t *crc,
                           fl_error *err);
    fl_status (*read_raw)(fl_driver_session *s, uint32_t addr, uint32_t len, uint8_t *out,
                          fl_error *err);
    void (*note_content)(fl_driver_session *s, uint32_t addr, uint32_t len, const uint8_t *data);
} fl_driver;

/* The registered drivers, NULL-terminated, in the order ports are offered
 * to them (the UART driver last: it takes any port no other driver claims). */
const fl_driver *const *fl_drivers(void);

/* The driver for port + chip, or NULL with err saying why (no driver takes
 * the port, or the one that does cannot serve the chip). */
const fl_driver *fl_driver_for(const char *port, const fl_chip *chip, fl_error *err);

extern const fl_driver fl_driver_beken_uart;
extern const fl_driver fl_driver_ch341a_spi;
extern const fl_driver fl_driver_esp_rom;

#endif
