/* ch341a_emu.h — the CH341A USB-SPI programmer emulator with its target (a
 * Beken BK72xx in "SPI mode", or a plain SPI NOR chip), as tests and the
 * benchmark see it.  Spec: ../shared/spec/ch341-spi-and-obk-config.md part D
 * (requirement numbers E-x below refer to it).
 *
 * Open it through the USB layer like a real programmer:
 *     fl_usb_open("ch341a:sim?target=bk7231t&flash=F.bin&timescale=0", &usb, &err)
 * then reach the emulator behind it with fl_ch341a_emu_of(usb).
 *
 * Query options (unknown option or bad value: FL_ERR_USAGE naming it):
 *   target=bk7231t|bk7231u|bk7231n|bk7231m|bk7238|bk7252|bk7252n|spi-nor   (required)
 *   flash=FILE        flash image, loaded at open and kept in sync with the file
 *                     (mmap, MAP_SHARED: the UART simulator `sim:CHIP?flash=FILE`
 *                     can use the same file); a missing file is created erased
 *   jedec=HEX         6 hex digits (manufacturer, type, capacity); size then from
 *                     the capacity byte unless size= is given
 *   size=BYTES        flash size (power of two, 64K..128M)
 *   sr1= sr2= sr3=    initial status registers (0x7C or 124)
 *   has_sr2= has_sr3= wrsr1_clears_sr2= volatile_sr=   0|1 profile flags (E-29)
 *   bp_bits=4|5       width of the block-protect field (E-30; 4 for mx_25v16b-like parts)
 *   opcode_phase=N    the byte MISO shows during the opcode (0x00 Beken, 0xFF spi-nor)
 *   rdid_repeat=0|1   RDID past 3 bytes repeats the ID instead of padding with 0x00
 *   timescale=X       real seconds slept per modelled second (0: none; default 1)
 *   fast=1            all NOR busy durations 0
 *   spi_hz=N          CH341A SPI clock (default 1400000, see ch341a_usb.c)
 *   packets_per_frame=N   USB full-speed bulk packets per 1 ms frame (default 16)
 *   t_reset_min_ms= t_window_ms= sync_bytes_min= t_switch_ms= switch_after_frames=
 *                     Beken gate parameters (E-15..E-18)
 *   max_pending_in=N  refuse OUT packets while N replies are unread (E-11)
 *   fail_usb=N        the Nth USB call (bulk_out, bulk_in, control, stream) fails
 *   stuck_miso=00|ff  MISO stuck at that level
 *   no_sync=1         the Beken gate never accepts the sync
 *   torn_program=N    the Nth page program keeps only the first half of its bytes
 *   pp_no_wrap=1      a part whose page latch does not wrap (against E-25): a page
 *                     program that clocks more than 256 data bytes is discarded whole
 *                     (nothing programmed, WEL cleared, FL_EV_IGNORED "program 0x…: 275
 *                     data bytes, more than a page").  A part that merely dropped the
 *                     bytes past 256 could not be told apart: a host that repeats the
 *                     page cyclically sends the same values again.
 *   pp_us=N           page program busy time in µs (default 700, E-28's typical value);
 *                     a slower chip (datasheet maximum: a few ms) for drivers that
 *                     must notice one
 *   slow_program=N    the Nth page program takes 4 x pp_us (a page that programs slowly)
 *   uio_spi=0         UIO pin writes do not reach the SPI lines: bit-banged bytes are
 *                     lost (a programmer whose SPI pins only the engine drives)
 *   lose_reply=N      the Nth reply packet never reaches the host (its IN times out)
 *   seed=N            accepted for symmetry with the UART simulator (nothing random yet)
 */
#ifndef FL_SIM_CH341A_EMU_H
#define FL_SIM_CH341A_EMU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "link/usb.h"

typedef struct fl_ch341a_emu fl_ch341a_emu;

/* The emulator behind an fl_usb, or NULL when it is a real programmer. */
fl_ch341a_emu *fl_ch341a_emu_of(fl_usb *u);

/* Beken SPI-mode gate (D.3).  A spi-nor target has no gate: FL_GATE_NONE. */
typedef enum fl_ch341a_gate {
    FL_GATE_NONE = 0,
    FL_GATE_RUN_FIRMWARE,
    FL_GATE_RESET_HELD,
    FL_GATE_BOOT_WINDOW,
    FL_GATE_SYNCED,
    FL_GATE_FLASH_MODE,
} fl_ch341a_gate;

fl_ch341a_gate fl_ch341a_emu_gate(fl_ch341a_emu *e);
const char *fl_ch341a_gate_name(fl_ch341a_gate g);

/* Event log (E-3).  Times are on the emulator's virtual clock. */
typedef enum fl_ch341a_event_kind {
    FL_EV_PINS = 1,   /* a = DIR[5:0], b = OUT[5:0] after a change */
    FL_EV_CEN,        /* a = 1 CEN went low, 0 CEN went high */
    FL_EV_STREAM_CFG, /* a = the 0x60|s sub-command's s (bits 1..0 speed, bit 2 dual) */
    FL_EV_FRAME,      /* one CS-low period ended: a = first logical MOSI byte, b = byte count;
                         text: "MOSI ... / MISO ..." (first 8 bytes of each) */
    FL_EV_GATE,       /* a = new fl_ch341a_gate, b = old */
    FL_EV_BOOTED,     /* a CEN pulse without sync let the firmware boot (text says whether
                         the bootloader area holds anything) */
    FL_EV_FLASH,      /* a flash operation took effect: text "program 0x011000 256",
                         "erase 4K 0x011000", "chip erase", "wrsr sr1=00 sr2=..", … */
    FL_EV_IGNORED,    /* a command the flash ignored and why: text "program 0x0: not write
                         enabled", "erase 4K 0x0: protected", "busy: 0x9F", "bad length 0x20 (3)" */
    FL_EV_USB,        /* packet level oddities: unknown command, dual width, refused OUT,
                         injected fault, SPI traffic with the pins not outputs */
    FL_EV_POWER,      /* power_cycle() */
} fl_ch341a_event_kind;

typedef struct fl_ch341a_event {
    uint64_t t_us;
    fl_ch341a_event_kind kind;
    uint32_t a, b;
    char text[112];
} fl_ch341a_event;

/* Events kept (the oldest are dropped past a cap of 65536; `dropped` says how many). */
size_t fl_ch341a_emu_event_count(fl_ch341a_emu *e);
const fl_ch341a_event *fl_ch341a_emu_event_at(fl_ch341a_emu *e, size_t i);
size_t fl_ch341a_emu_events_dropped(fl_ch341a_emu *e);
void fl_ch341a_emu_clear_events(fl_ch341a_emu *e);
/* Index of the first event at or after `from` of `kind` whose text contains
 * `needle` (NULL: any), or (size_t)-1. */
size_t fl_ch341a_emu_find_event(fl_ch341a_emu *e, size_t from, fl_ch341a_event_kind kind,
                                const char *needle);

/* Status registers as a RDSR would read them now (SR1 with WIP and WEL;
 * SR2/SR3 0xFF when the part has none). */
void fl_ch341a_emu_status(fl_ch341a_emu *e, uint8_t *sr1, uint8_t *sr2, uint8_t *sr3);

/* Pins: DIR[5:0] and OUT[5:0] as the host last set them. */
void fl_ch341a_emu_pins(fl_ch341a_emu *e, uint8_t *dir, uint8_t *out);

typedef struct fl_ch341a_counters {
    uint64_t out_transfers, in_transfers, control_transfers, streams;
    uint64_t out_packets, in_packets;   /* 32-byte USB packets each way */
    uint64_t spi_packets, spi_bytes;    /* 0xA8 packets and their payload bytes */
    uint64_t cs_frames;                 /* completed CS-low periods */
    uint64_t page_programs, erases;     /* executed (not ignored) */
} fl_ch341a_counters;
void fl_ch341a_emu_counters(fl_ch341a_emu *e, fl_ch341a_counters *c);

/* Power off and on (E-31): non-volatile SR values come back, volatile state
 * (WEL, 0x50 overrides, BUSY) is cleared, the Beken gate restarts in RUN_FIRMWARE. */
void fl_ch341a_emu_power_cycle(fl_ch341a_emu *e);

/* The virtual clock, microseconds since open. */
uint64_t fl_ch341a_emu_now_us(fl_ch341a_emu *e);

/* The flash array (size bytes) for direct inspection by tests; writes through
 * it bypass the NOR model. */
uint8_t *fl_ch341a_emu_flash(fl_ch341a_emu *e, size_t *size);

/* The modelled ceiling: the most SPI payload bytes per second that `stream`
 * can move (the smaller of the SPI clock's byte rate and the USB frame budget). */
double fl_ch341a_emu_ceiling_bps(fl_ch341a_emu *e);

#endif
