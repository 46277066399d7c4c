/* proto.h — the ESP ROM loader's commands over a link: one session struct
 * the other modules share, request framing, reply matching, retries.
 *
 * Replies carry no checksum and commands other than *_DATA none either, so
 * a reply is believed only when its frame is whole (SLIP end to end, the
 * length field equal to what came) and its op is the one asked; values that
 * decide anything (chip, security, JEDEC ID) are read until two agree.
 * Pipelining (flashops.c) relies on the ROM executing commands strictly in
 * order with one reply each, and on its receive buffer (>= 0x2000 bytes)
 * holding the next command while the current one runs. */
#ifndef FL_DRIVERS_ESP_ROM_PROTO_H
#define FL_DRIVERS_ESP_ROM_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drivers/esp_rom/slip.h"
#include "drivers/esp_rom/targets.h"
#include "flash/flash.h"
#include "formats/bytes.h" /* fl_le32 / fl_put_le32: every field of the protocol */
#include "link/link.h"
#include "util/error.h"
#include "util/events.h"

enum {
    ESP_FLASH_BEGIN = 0x02,
    ESP_FLASH_DATA = 0x03,
    ESP_FLASH_END = 0x04,
    ESP_SYNC = 0x08,
    ESP_WRITE_REG = 0x09,
    ESP_READ_REG = 0x0A,
    ESP_SPI_SET_PARAMS = 0x0B,
    ESP_SPI_ATTACH = 0x0D,
    ESP_READ_FLASH_SLOW = 0x0E,
    ESP_CHANGE_BAUDRATE = 0x0F,
    ESP_SPI_FLASH_MD5 = 0x13,
    ESP_GET_SECURITY_INFO = 0x14,
};

#define ESP_ROM_INVALID_RECV_MSG 0x05
#define ESP_BLOCK 0x400u    /* FLASH_DATA block (esptool's FLASH_WRITE_SIZE for ROMs) */
#define ESP_SECTOR 0x1000u  /* erase unit */
#define ESP_READ_CHUNK 64u  /* READ_FLASH_SLOW's most per command */

typedef struct esp_rom {
    fl_link *link;
    const fl_events *ev;
    const esp_target *t;      /* the chip --chip named, checked against the unit */
    fl_flash_opts opts;       /* how the caller asked for the bus (reconnects follow it) */
    esp_slip_decoder dec;
    uint8_t rx[4096];
    size_t rx_len, rx_pos;
    uint8_t tx[2 * (8 + 16 + ESP_BLOCK) + 2];
    uint32_t baud;            /* the rate both sides use now */
    uint32_t baud_max_failed; /* --baud max: the first rate that did not hold */
    bool sdm;                 /* Secure Download Mode: no read, no MD5, no READ_REG */
    bool rebooted;            /* the firmware was started: reconnect before the next command */
    unsigned regains_left;    /* unit resets the current operation may still survive */
    bool watch_reset;         /* in an operation: text outside frames ends a wait at once (a
                                 reset's boot text, at 115200 or garbled at our rate: the
                                 loader never sends any); off while getting the loader */
    uint64_t noise_mark;      /* e->dec.noise when the operation last knew the line clean */
    bool attached;            /* SPI_ATTACH done (a reset undoes it: done again) */
    bool reset_works;         /* the loader answered right after a classic DTR/RTS reset: RTS
                                 reaches EN, so a reboot may pulse it */
    uint8_t last_rom_error;   /* the ROM's error code of the last failed command, 0 none */
    unsigned recoveries;      /* line troubles recovered from in this session */
    bool one_at_a_time;       /* commands are no longer sent ahead (flashops.c in_flight) */
    bool last_wait_silent;    /* the last esp_wait got nothing at all (not a garbled reply) */
    uint32_t flash_size;
    bool have_jedec;
    uint8_t jedec[3];
    bool allow_bootloader;
    /* counters (fl_flash_stats) */
    unsigned retries, resets, blocks_written, blocks_skipped;
    uint64_t wire_out; /* escaped bytes sent, frame ends included */
} esp_rom;

/* Seconds `bytes` take on the wire at the current rate (10 bits a byte). */
double esp_wire_s(const esp_rom *e, size_t bytes);

/* Frame and send one request (no waiting). */
fl_status esp_send(esp_rom *e, uint8_t op, const uint8_t *body, size_t len, uint32_t chk,
                   fl_error *err);

/* What came back when a reply was waited for. */
typedef enum esp_rx {
    ESP_RX_OK,        /* the reply to `op`, status success */
    ESP_RX_NONE,      /* nothing within the timeout */
    ESP_RX_GARBLED,   /* a frame that is not a whole reply, or a reply to another op */
    ESP_RX_ROM_ERROR, /* the reply to `op`, status failure (e->last_rom_error) */
} esp_rx;

/* payload_len for replies whose payload length varies (GET_SECURITY_INFO:
 * 20 bytes, 12 on the ESP32-S2): the status is the last four bytes (two
 * when that is all there is) - only ESP32-family ROMs answer such commands. */
#define ESP_PAYLOAD_TAIL ((size_t)-1)

/* Wait for the next reply frame: *how says what it was; *r (when OK or
 * ROM_ERROR) points into the decoder, valid until the next read.  Replies
 * SYNC left behind (the ROM answers a SYNC several times) are skipped.
 * Fails only when the link dies or the caller cancels. */
fl_status esp_wait(esp_rom *e, uint8_t op, size_t payload_len, double timeout_s, esp_reply *r,
                   esp_rx *how, fl_error *err);

/* Throw input away until the line has been quiet for quiet_s (at most max_s):
 * replies to commands given up on must not be taken for later ones. */
fl_status esp_drain(esp_rom *e, double quiet_s, double max_s, fl_error *err);
/* The chip printed boot text since the decoder's text was last cleared: it
 * reset (a brown-out, a watchdog) and no longer is in the loader. */
bool esp_saw_reset(const esp_rom *e);
/* ... or, in an operation, more than a few bytes arrived outside frames
 * since e->noise_mark (boot text at another rate comes garbled). */
bool esp_saw_noise(const esp_rom *e);
/* Drop what is buffered on the host side (decoder, rx buffer, link). */
void esp_discard(esp_rom *e);

/* One idempotent command, resent (after a drain) until its reply comes whole:
 * `tries` sends at most.  A ROM error on every try is FL_ERR_PROTOCOL naming
 * `what` and the ROM's reason (e->last_rom_error has the code).  *r as esp_wait. */
fl_status esp_command(esp_rom *e, const char *what, uint8_t op, const uint8_t *body, size_t len,
                      size_t payload_len, double timeout_s, int tries, esp_reply *r,
                      fl_error *err);

fl_status esp_read_reg(esp_rom *e, uint32_t addr, uint32_t *value, fl_error *err);
/* The register read until two answers agree (a garbled reply must not decide). */
fl_status esp_read_reg_agreed(esp_rom *e, uint32_t addr, uint32_t *value, fl_error *err);
fl_status esp_write_reg(esp_rom *e, uint32_t addr, uint32_t value, fl_error *err);

/* SYNC once: true when the loader answered within timeout_s (the extra
 * answers the ROM sends are drained). */
fl_status esp_sync(esp_rom *e, double timeout_s, bool *answered, fl_error *err);

/* The ROM's MD5 of flash [addr, addr+len) (SPI_FLASH_MD5: 32 hex characters). */
fl_status esp_flash_md5(esp_rom *e, uint32_t addr, uint32_t len, uint8_t md5[16], fl_error *err);
/* Host-side MD5 (libcrypto). */
void esp_md5_host(const uint8_t *data, size_t len, uint8_t md5[16]);
/* MD5 of len bytes of 0xFF, as erased flash reads. */
void esp_md5_erased(size_t len, uint8_t md5[16]);

/* Reply timeout of a command that makes the chip work `device_s` (plus
 * the wire time of what is queued before it). */
double esp_timeout(const esp_rom *e, size_t queued_bytes, double device_s);

#endif
