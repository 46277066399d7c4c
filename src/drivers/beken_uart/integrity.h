/* integrity.h — nothing outside an operation's range changes silently
 * (library-internal: ops.c and session.c only).
 *
 * Frames carry no checksum, so a garbled address in an erase or write frame
 * lands somewhere else, and on flash loaders the reply may even echo it as
 * sent.  Only the device CRC can tell.  The session therefore keeps what it
 * knows about the whole flash:
 *   - per 64 KiB window: the device CRC it must have now (measured, or combined
 *     from its sectors);
 *   - per 4 KiB sector: the device CRC, and where a verified read saw it, the
 *     content itself (the "shadow": a whole-flash backup read in the same
 *     session fills it for free).
 * A modifying operation maps what it lacks before its first erase
 * (fl_integrity_begin), and after its own verification proves every window
 * again (fl_integrity_finish): a window that differs is narrowed to sectors;
 * a changed sector whose content is known is written back (and logged), any
 * other is a unit failure naming the address. */
#ifndef FL_BEKEN_INTEGRITY_H
#define FL_BEKEN_INTEGRITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drivers/beken_uart/session.h"

typedef struct fl_integrity fl_integrity;

void fl_integrity_free(fl_integrity *g);

/* Forget everything (another unit may be on the line now). */
void fl_integrity_forget(fl_beken *s);

/* A verified read proved the whole sectors [addr, addr+len) hold `data`. */
void fl_integrity_note_read(fl_beken *s, uint32_t addr, uint32_t len, const uint8_t *data);
/* The device CRC the sector at addr (sector-aligned) holds now, when this
 * session has proven it (a verified or proven read, or a finished write). */
bool fl_integrity_known_crc(fl_beken *s, uint32_t addr, uint32_t *crc);

/* Before the first erase of an operation on the sectors [a0, a1): make sure
 * the expected CRC of everything outside is known. */
fl_status fl_integrity_begin(fl_beken *s, uint32_t a0, uint32_t a1, fl_error *err);

/* The operation proved [a0, a1) holds `target` (NULL: blank).  Prove the rest
 * of the flash, restoring what changed where its content is known. */
fl_status fl_integrity_finish(fl_beken *s, uint32_t a0, uint32_t a1, const uint8_t *target,
                              fl_error *err);

/* Flash loaders, after line trouble in the middle of an operation: is the
 * loader (0x0-0x11000) still what it was?  Put back from the backup, or
 * FL_ERR_VERIFY while the chip is still powered - a reset would brick it. */
fl_status fl_integrity_check_boot(fl_beken *s, fl_error *err);

/* The operation failed: what it may have touched is unknown from now on. */
void fl_integrity_abandon(fl_beken *s, uint32_t a0, uint32_t a1);

/* The operation failed with `why` (its message in err) after modifying
 * [a0, a1): that range is unknown from now on; everything else is proven and
 * restored where the chip still answers.  Returns `why`, or FL_ERR_VERIFY (the
 * message extended) when something outside changed beyond repair. */
fl_status fl_integrity_salvage(fl_beken *s, uint32_t a0, uint32_t a1, fl_status why,
                               fl_error *err);

/* ---- ops.c helpers used here (retried, resynchronised commands) ---------- */

fl_status bk_op_crc(fl_beken *s, uint32_t addr, uint32_t len, uint32_t *crc, fl_error *err);
/* The device CRC of a range, believed once two replies agree (a garbled reply,
 * or the answer to a garbled request, is never taken for the flash's content). */
fl_status bk_op_crc_agreed(fl_beken *s, uint32_t addr, uint32_t len, uint32_t *crc, fl_error *err);
/* Does the device CRC of [addr, addr+len) equal `want`?  A mismatch is asked
 * again `tries` - 1 more times: a garbled reply looks like one. */
fl_status bk_op_crc_is(fl_beken *s, uint32_t addr, uint32_t len, uint32_t want, int tries,
                       bool *match, fl_error *err);
/* Erase, program and CRC-verify one 4 KiB sector. */
/* Flash loaders: complete a frame a lost byte left open with harmless 0xFF
 * filler and let the line go quiet (ROM loaders time out by themselves). */
fl_status bk_op_unstick(fl_beken *s, fl_error *err);
/* Status register: one SPI read opcode (0x05/0x35/0x15) / a write of 1 or 2
 * bytes with opcode 0x01, each retried after resynchronising like any command. */
fl_status bk_op_read_sr(fl_beken *s, uint8_t opcode, uint8_t *value, fl_error *err);
fl_status bk_op_write_sr(fl_beken *s, const uint8_t *value, size_t nbytes, fl_error *err);
fl_status bk_op_rewrite_sector(fl_beken *s, uint32_t addr, const uint8_t *data, fl_error *err);

/* ---- session.c helper --------------------------------------------------- */

/* Take the bus again after the unit stopped answering, keeping what the
 * session knows about its flash (it is still the same unit). */
fl_status fl_beken_regain_bus(fl_beken *s, const fl_connect_opts *o, fl_error *err);

/* Options for taking the bus again mid-session: `how` within `timeout_s`,
 * but as the caller asked where it did (a reset mode other than auto is
 * used instead of `how`; never longer than its link timeout). */
void fl_beken_recovery_opts(const fl_beken *s, fl_reset_mode how, double timeout_s,
                            fl_connect_opts *o);

#endif
