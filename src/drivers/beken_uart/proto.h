/* proto.h — the Beken UART loader wire protocol (spec beken-uart.md §2–§4):
 * frame building, response scanning and the individual commands.
 *
 * Every command waits for its own response and validates it the strict way
 * (header, code, echo, status).  Garbage before a response (application log,
 * boot text, stale replies) is skipped by scanning for `04 0E`.  Retries and
 * recovery belong to the layer above (session.h). */
#ifndef FL_BEKEN_PROTO_H
#define FL_BEKEN_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flash/chips.h"
#include "link/link.h"
#include "util/error.h"

#define BK_BLOCK 4096u
#define BK_RX_CAP (3 * 4096u + 1024u)

/* Command codes. Short and long frames reuse numbers (§2.2). */
enum {
    BK_LINK_CHECK = 0x00, BK_WRITE_REG = 0x01, BK_READ_REG = 0x03, BK_REBOOT = 0x0E,
    BK_SET_BAUD = 0x0F, BK_CHECK_CRC = 0x10, BK_BOOT_VERSION = 0x11,
    BK_LONG_WRITE = 0x06, BK_LONG_WRITE_4K = 0x07, BK_LONG_READ_4K = 0x09,
    BK_LONG_READ_SR = 0x0C, BK_LONG_WRITE_SR = 0x0D, BK_LONG_SPI_OP = 0x0E,
    BK_LONG_ERASE = 0x0F,
};

/* Sized-erase opcodes (long 0x0F). */
enum { BK_ERASE_4K = 0x20, BK_ERASE_32K = 0x52, BK_ERASE_64K = 0xD8 };

/* The wire side of a session: the link, its buffered input, the loader kind. */
typedef struct bk_wire {
    fl_link *link;
    fl_loader_kind loader;
    uint8_t rx[BK_RX_CAP];
    size_t rx_len;
    unsigned garbage_bytes; /* skipped while scanning for responses (diagnostics) */
    double last_tx_s;       /* fl_now() when our last frame had left the wire */
} bk_wire;

/* Seconds the given number of bytes needs on the wire at the link's rate. */
double bk_wire_time(const bk_wire *w, size_t bytes);

/* Forget buffered input and anything the transport already holds. */
void bk_discard(bk_wire *w);
/* Read and drop input until the line has been quiet for quiet_s (at most max_s). */
void bk_drain_quiet(bk_wire *w, double quiet_s, double max_s);

/* Raw exchanges.  resp receives the payload: short = bytes after RC; long = ST
 * followed by the data.  Timeouts are FL_ERR_TIMEOUT, malformed or mismatched
 * responses FL_ERR_PROTOCOL. */
fl_status bk_short(bk_wire *w, uint8_t code, const uint8_t *payload, size_t plen,
                   uint8_t expect_rc, uint8_t *resp, size_t cap, size_t *resp_len,
                   double timeout_s, fl_error *err);
fl_status bk_long(bk_wire *w, uint8_t op, const uint8_t *payload, size_t plen, uint8_t *resp,
                  size_t cap, size_t *resp_len, double timeout_s, fl_error *err);
/* Send a frame that has no response (Reboot). */
fl_status bk_send_short(bk_wire *w, uint8_t code, const uint8_t *payload, size_t plen,
                        fl_error *err);

/* Commands (addresses are wire addresses). */
fl_status bk_link_check(bk_wire *w, double timeout_s, fl_error *err);
fl_status bk_read_reg(bk_wire *w, uint32_t addr, uint32_t *value, double timeout_s, fl_error *err);
fl_status bk_boot_version(bk_wire *w, char *out, size_t cap, double timeout_s, fl_error *err);
fl_status bk_get_jedec(bk_wire *w, uint8_t jedec[3], fl_error *err);
fl_status bk_read_sr(bk_wire *w, uint8_t opcode, uint8_t *value, fl_error *err);
fl_status bk_write_sr(bk_wire *w, const uint8_t *value, size_t nbytes, fl_error *err);
fl_status bk_read_4k(bk_wire *w, uint32_t addr, uint8_t *out, fl_error *err);
fl_status bk_write_4k(bk_wire *w, uint32_t addr, const uint8_t *data, fl_error *err);
fl_status bk_erase(bk_wire *w, uint8_t size_op, uint32_t addr, fl_error *err);
/* CRC over [start, start+len) in the loader's own semantics (§8.2): ROM ends
 * inclusive; flash loaders count whole 256-byte blocks (len must be a multiple
 * of 256).  Returns the device value (see util/crc32.h). */
fl_status bk_crc(bk_wire *w, uint32_t start, uint32_t len, uint32_t *crc, fl_error *err);
/* SetBaudRate: send at the current rate, switch the host, expect the echo at the new rate. */
fl_status bk_set_baud(bk_wire *w, uint32_t baud, uint8_t delay_ms, fl_error *err);
/* The same, waiting echo_s (+ the delay) for the echo instead of 1 s: a probe
 * that expects some rates to fail does not wait a second on each. */
fl_status bk_set_baud_within(bk_wire *w, uint32_t baud, uint8_t delay_ms, double echo_s,
                             fl_error *err);

#endif
