/* driver.c — the Beken UART loader as a flashline driver (flash/driver.h):
 * a thin adapter over fl_beken (session.h), which keeps its own behaviour —
 * getting the bus, baud switching, CRC-verified operations, the integrity
 * map — unchanged.  The library has already applied the range policy when
 * these functions are called; fl_beken checks again (it is also used
 * directly by the flashline.beken Lua module). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/beken_uart/integrity.h"
#include "drivers/beken_uart/session.h"
#include "flash/driver.h"
#include "link/usb.h"

struct fl_driver_session {
    fl_link *link;
    fl_beken *b;
};

static bool uart_claims_port(const char *port)
{
    return !fl_usb_is_url(port); /* serial:, /dev/tty…, rfc2217://, tcp://, sim: … */
}

static bool uart_serves(const fl_chip *chip)
{
    return chip->family == FL_FAMILY_BEKEN;
}

static void fill_identity(const fl_beken *b, fl_identity *id)
{
    id->chip = b->chip; /* detected when the caller named none */
    id->access = b->chip->loader == FL_LOADER_ROM ? "ROM loader" : "flash loader";
    fl_text_copy(id->programmer, sizeof id->programmer, b->wire.link->url);
    fl_beken_identity(b, id);
    id->verified_by = "the chip's CRC"; /* CRC32 of every 64 KiB, compared on the host */
}

static void uart_close(fl_driver_session *s)
{
    if (!s)
        return;
    fl_beken_close(s->b);
    fl_link_close(s->link);
    free(s);
}

/* A flash loader reboots itself through its watchdog once the line is
 * idle (spec beken-uart.md §6.1): it cannot be left waiting. */
static fl_status after_possible(const fl_chip *chip, const fl_flash_opts *o, fl_error *err)
{
    if (chip->loader == FL_LOADER_FLASH && o->after == FL_AFTER_STAY)
        return fl_fail(err, FL_ERR_USAGE,
                       "--after stay cannot keep the %s's flash loader: it reboots itself "
                       "(watchdog) once the line is idle; use --after reboot",
                       chip->display);
    return FL_OK;
}

static fl_status uart_open(const char *port, const fl_chip *chip, const fl_flash_opts *o,
                           const fl_events *ev, fl_driver_session **out, fl_identity *id,
                           fl_error *err)
{
    fl_status st = chip ? after_possible(chip, o, err) : FL_OK;
    if (st)
        return st;
    fl_driver_session *s = calloc(1, sizeof *s);
    if (!s)
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    st = fl_link_open(port, &s->link, err);
    if (!st)
        st = fl_beken_open(s->link, chip, ev, &s->b, err);
    if (!st) {
        s->b->allow_bootloader = o->allow_bootloader;
        st = fl_beken_connect(s->b, o, err);
    }
    if (!st && !chip) /* detected */
        st = after_possible(s->b->chip, o, err);
    if (st) {
        uart_close(s); /* a failed open leaves no port (or in-process simulator) open */
        return st;
    }
    fill_identity(s->b, id);
    *out = s;
    return FL_OK;
}

static fl_status uart_read(fl_driver_session *s, uint32_t addr, uint32_t len, uint8_t *out,
                           fl_error *err)
{
    return fl_beken_read(s->b, addr, len, out, err);
}

static fl_status uart_erase(fl_driver_session *s, uint32_t addr, uint32_t len, fl_error *err)
{
    return fl_beken_erase(s->b, addr, len, err);
}

static fl_status uart_write(fl_driver_session *s, uint32_t addr, const uint8_t *data,
                            uint32_t len, fl_error *err)
{
    return fl_beken_write(s->b, addr, data, len, err);
}

static fl_status uart_verify(fl_driver_session *s, uint32_t addr, const uint8_t *data,
                             uint32_t len, uint32_t *bad_addr, fl_error *err)
{
    return fl_beken_verify(s->b, addr, data, len, bad_addr, err);
}

static fl_status uart_read_mac(fl_driver_session *s, uint8_t mac[6], fl_error *err)
{
    return fl_beken_read_mac(s->b, mac, err);
}

static fl_status uart_reboot(fl_driver_session *s, fl_error *err)
{
    return fl_beken_reboot(s->b, err);
}

static void uart_set_allow_bootloader(fl_driver_session *s, bool allow)
{
    s->b->allow_bootloader = allow;
}

static void uart_stats(const fl_driver_session *s, fl_flash_stats *out)
{
    out->retries = s->b->retries;
    out->resets = s->b->resets;
    out->blocks_written = s->b->blocks_written;
    out->blocks_skipped = s->b->blocks_skipped;
    out->sectors_restored = s->b->sectors_restored;
}

/* ROM loaders only: flash loaders manage protection themselves (a no-op). */
static fl_status uart_protect(fl_driver_session *s, bool on, fl_error *err)
{
    return on ? fl_beken_protect(s->b, err) : fl_beken_unprotect(s->b, err);
}

/* The loader's CRC32 of a range, believed once two replies agree. */
static fl_status uart_device_crc(fl_driver_session *s, uint32_t addr, uint32_t len,
                                 uint32_t *crc, fl_error *err)
{
    if (len == 0 || (s->b->chip->loader == FL_LOADER_FLASH && (len % 256 || addr % 256)))
        return fl_fail(err, FL_ERR_USAGE,
                       "device CRC of 0x%X bytes at 0x%06X: the %s's loader needs a length "
                       "above 0%s",
                       len, addr, s->b->chip->display,
                       s->b->chip->loader == FL_LOADER_FLASH
                           ? " and address and length in whole 256-byte blocks"
                           : "");
    return bk_op_crc_agreed(s->b, addr, len, crc, err);
}

/* One reply (the library's proven read checks what it builds on). */
static fl_status uart_quick_crc(fl_driver_session *s, uint32_t addr, uint32_t len,
                                uint32_t *crc, fl_error *err)
{
    if (len == 0 || (s->b->chip->loader == FL_LOADER_FLASH && (len % 256 || addr % 256)))
        return fl_fail(err, FL_ERR_INTERNAL, "quick CRC of 0x%X bytes at 0x%06X: not whole "
                       "256-byte blocks", len, addr);
    return bk_op_crc(s->b, addr, len, crc, err);
}

static fl_status uart_read_raw(fl_driver_session *s, uint32_t addr, uint32_t len, uint8_t *out,
                               fl_error *err)
{
    return fl_beken_read_raw(s->b, addr, len, out, err);
}

/* A proven read is as good as a verified one for the integrity map: a later
 * write restores from it and needs no copy of the bootloader of its own. */
static void uart_note_content(fl_driver_session *s, uint32_t addr, uint32_t len,
                              const uint8_t *data)
{
    fl_integrity_note_read(s->b, addr, len, data);
}

const fl_driver fl_driver_beken_uart = {
    .name = "beken-uart",
    .description = "the Beken BK72xx UART download loader (ROM or flash loader)",
    .ports_help = "/dev/ttyUSB0, serial:NAME, rfc2217://HOST:PORT, tcp://HOST:PORT, "
                  "sim:CHIP[?flash=FILE&timescale=0] (the built-in simulator)",
    .claims_port = uart_claims_port,
    .serves = uart_serves,
    .placement_flags = 0, /* a _QIO_ keeps the bootloader where the chip needs it */
    .open = uart_open,
    .close = uart_close,
    .read = uart_read,
    .erase = uart_erase,
    .write = uart_write,
    .verify = uart_verify,
    .read_mac = uart_read_mac,
    .reboot = uart_reboot,
    .set_allow_bootloader = uart_set_allow_bootloader,
    .stats = uart_stats,
    .protect = uart_protect,
    .device_crc = uart_device_crc,
    .quick_crc = uart_quick_crc,
    .read_raw = uart_read_raw,
    .note_content = uart_note_content,
};
