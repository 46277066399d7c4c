/* ch341a.h — the CH341A's packet layer as an SPI master with GPIO, over a
 * USB transport (link/usb.h: libusb or the emulator).
 *
 * Spec ch341-spi-and-obk-config.md Part A.  What the chip wants:
 *   - every bulk OUT packet (32 bytes) is one command: 0xAA stream config,
 *     0xAB UIO pin sub-commands, 0xA8 + up to 31 SPI wire bytes (A.2, A.3);
 *   - several commands in one OUT transfer only if every one but the last
 *     fills its 32 bytes (A.2 rule 3), so a short SPI packet ends a transfer;
 *   - SPI bytes go LSB first on the wire: the host bit-reverses both ways (A.6);
 *   - each 0xA8 packet of n bytes is answered by one IN packet of n bytes.
 *
 * Chip select is ours (flashrom style, A.7): a frame starts with a UIO packet
 * that raises CS (ending the previous frame: a pending write command executes
 * on that edge), optionally waits inside the device (STM_US), and lowers it;
 * CS stays low after the frame until the next frame or ch341a_release().  D2
 * (Beken CEN) is a state variable OR-ed into every STM_OUT, so a chip-select
 * toggle never moves CEN.
 *
 * A batch is a list of frames sent as ONE OUT transfer with its replies
 * streamed back (fl_usb_stream: transfers in flight), so a page program with
 * its status checks costs one USB round trip, not ten.  Every SPI batch goes
 * through fl_usb_stream (its reply is asked for while the OUT is on its way);
 * a transport without `stream` gets the simple path: each packet alone, each
 * SPI packet's reply read before the next (spec A.2 point 5).
 *
 * A batch may be cut into pieces of equal length (the last may be shorter),
 * each its own OUT transfer: a piece may end on a short SPI packet (a 1-byte
 * WREN) and the next piece still follows, queued behind it in the same
 * stream (fl_usb_stream's `packet`), so several page programs share one
 * round trip. */
#ifndef FL_DRIVERS_CH341A_SPI_CH341A_H
#define FL_DRIVERS_CH341A_SPI_CH341A_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "link/usb.h"
#include "util/error.h"

#define CH341A_PACKET 32u      /* bulk packet = one command */
#define CH341A_SPI_MAX 31u     /* SPI wire bytes per 0xA8 packet */

#define CH341A_CMD_SPI 0xA8u
#define CH341A_CMD_I2C 0xAAu   /* stream configuration */
#define CH341A_CMD_UIO 0xABu
#define CH341A_UIO_IN 0x00u
#define CH341A_UIO_DIR 0x40u
#define CH341A_UIO_OUT 0x80u
#define CH341A_UIO_US 0xC0u
#define CH341A_UIO_END 0x20u

/* Pins D0..D5 as UIO drives them (A.4). */
#define CH341A_PIN_CS0 0x01u
#define CH341A_PIN_CS1 0x02u
#define CH341A_PIN_CEN 0x04u   /* D2: Beken CEN */
#define CH341A_PIN_SCK 0x08u
#define CH341A_PIN_DOUT2 0x10u
#define CH341A_PIN_MOSI 0x20u
#define CH341A_IDLE_NO_D2 0x33u /* CS0=CS1=1, SCK=0, DOUT2=DOUT=1; D2 added from state */
#define CH341A_DIR_SPI 0x3Fu    /* D0..D5 outputs */

#define CH341A_USB_TIMEOUT_MS 1000u /* flashrom / ch341prog (A.10) */

/* Logical <-> wire byte (bit i to bit 7-i). */
uint8_t ch341a_reverse(uint8_t b);

/* Bytes of OUT data n SPI bytes take: n plus one 0xA8 per started packet. */
size_t ch341a_spi_out_len(size_t n);
/* Write the 0xA8 packets for n logical bytes (reversed) into out; every
 * packet but the last is exactly 32 bytes.  Returns the length written
 * (= ch341a_spi_out_len(n)). */
size_t ch341a_spi_packets(const uint8_t *tx, size_t n, uint8_t *out);

typedef struct ch341a ch341a;

/* Take over an open USB device: stream config (AA 61 00: single-width SPI),
 * pins idle with D2 high (CS high, DIR 0x3F).  The device stays the caller's. */
fl_status ch341a_init(fl_usb *u, ch341a **out, fl_error *err);
/* CS high, SPI pins released (D2 stays an output at its level), free. */
void ch341a_free(ch341a *c);
fl_usb *ch341a_usb(ch341a *c);

/* Device clock (the emulator's virtual one, or wall clock) and waits on it. */
uint64_t ch341a_now_us(ch341a *c);
void ch341a_delay_us(ch341a *c, uint64_t us);

/* Drive D2 (Beken CEN): true = high (running).  CS is raised in the same packet. */
fl_status ch341a_set_d2(ch341a *c, bool high, fl_error *err);
bool ch341a_d2(const ch341a *c);
/* GPIO D0..D5: set direction and level of one pin (D0/D3/D5 are the SPI
 * pins: changing them breaks SPI until ch341a_init's state is restored). */
fl_status ch341a_gpio_set(ch341a *c, unsigned bit, bool output, bool level, fl_error *err);
/* Read D7..D0 (UIO STM_IN). */
fl_status ch341a_gpio_read(ch341a *c, uint8_t *d7_0, fl_error *err);

/* Raise CS now (its own transfer): ends the current frame. */
fl_status ch341a_release(ch341a *c, fl_error *err);

/* ---- batches ---------------------------------------------------------- */

typedef struct ch341a_batch {
    uint8_t *out;
    size_t out_len, out_cap;
    size_t rx_len;       /* SPI bytes in the batch = reply bytes to collect */
    bool ended_short;    /* the last SPI packet is short: nothing may follow */
    bool cs_low;         /* CS state at the end of what is built so far */
    bool fresh;          /* nothing built yet: cs_low is taken from the device */
    size_t piece;        /* 0, or the length every piece but the last has */
    size_t pieces;       /* pieces ended so far */
} ch341a_batch;

void ch341a_batch_init(ch341a_batch *b);
void ch341a_batch_reset(ch341a_batch *b);
void ch341a_batch_free(ch341a_batch *b);
/* Does a frame still fit behind what is built (no short SPI packet yet)? */
bool ch341a_batch_open(const ch341a_batch *b);

/* Append one frame: CS high (if low), wait delay_us inside the device, CS
 * low, then n SPI bytes: tx[0..tx_len) and filler 0xFF after it.  *rx_off
 * (may be NULL) is where the frame's reply starts in the batch's reply.
 * FL_ERR_INTERNAL if the batch already ended on a short packet. */
fl_status ch341a_batch_frame(ch341a *c, ch341a_batch *b, const uint8_t *tx, size_t tx_len,
                             size_t n, unsigned delay_us, size_t *rx_off, fl_error *err);
/* Append n SPI bytes to the frame the batch has open (CS low, no short
 * packet yet): after ch341a_batch_frame or ch341a_batch_bitbang(select_after). */
fl_status ch341a_batch_data(ch341a *c, ch341a_batch *b, const uint8_t *tx, size_t tx_len,
                            size_t n, size_t *rx_off, fl_error *err);
/* Append a frame clocked out by hand with UIO pin writes (bit-banged SPI,
 * mode 0, MSB first): CS high (if low), wait delay_us inside the device, CS
 * low, tx[0..n) (n <= 4), CS high; then CS low again if select_after, so
 * SPI data can follow in the same transfer.  Nothing is read back.  Why: a
 * one-byte command such as WREN sent as an SPI packet is a short packet,
 * which ends a USB transfer, and a command that takes no time leaves the
 * SPI engine idle until the next packet arrives; written into the UIO
 * packets that carry the wait before it, it costs ~15 us and no transfer.
 * Whole UIO packets only (the frame never ends the batch on a short one). */
fl_status ch341a_batch_bitbang(ch341a *c, ch341a_batch *b, unsigned delay_us, const uint8_t *tx,
                               size_t n, bool select_after, fl_error *err);
/* End a piece here: the next frame starts a new OUT transfer, even after a
 * short SPI packet.  Every piece must have the length of the first
 * (FL_ERR_INTERNAL otherwise); what follows the last call is the last piece,
 * which may be shorter but not longer (ch341a_run refuses it). */
fl_status ch341a_batch_end_piece(ch341a_batch *b, fl_error *err);
/* Append CS high (ending the last frame) and, optionally, a wait. */
fl_status ch341a_batch_release(ch341a *c, ch341a_batch *b, unsigned delay_us, fl_error *err);

/* Send the batch and collect its replies (logical bytes) into rx, which
 * holds b->rx_len bytes (may be NULL when rx_len is 0).  On failure CS is
 * released (best effort) and the error says what the USB said. */
fl_status ch341a_run(ch341a *c, const ch341a_batch *b, uint8_t *rx, fl_error *err);

/* One frame, CS left low: tx_len bytes then n - tx_len filler; rx (n bytes,
 * may be NULL) gets every byte clocked in. */
fl_status ch341a_xfer(ch341a *c, const uint8_t *tx, size_t tx_len, uint8_t *rx, size_t n,
                      fl_error *err);

typedef struct ch341a_stats {
    unsigned long long out_transfers, spi_bytes;
} ch341a_stats;
void ch341a_get_stats(const ch341a *c, ch341a_stats *out);

#endif
