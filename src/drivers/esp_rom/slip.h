/* slip.h — SLIP framing as the Espressif ROM loaders use it (RFC 1055 with
 * 0xC0 opening and closing every frame; 0xDB 0xDC = 0xC0, 0xDB 0xDD = 0xDB),
 * and the request / reply packets inside the frames (esptool's
 * serial-protocol.rst).  Pure functions: no I/O, so the decoder and the reply
 * parser are fuzzed on their own (tests/fuzz/fuzz_esp_slip.c). */
#ifndef FL_DRIVERS_ESP_ROM_SLIP_H
#define FL_DRIVERS_ESP_ROM_SLIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ESP_SLIP_END 0xC0
#define ESP_SLIP_ESC 0xDB
#define ESP_SLIP_ESC_END 0xDC
#define ESP_SLIP_ESC_ESC 0xDD

/* Bytes `len` raw bytes take on the wire once escaped (frame ends excluded). */
size_t esp_slip_escaped_len(const uint8_t *data, size_t len);

/* Encode header + body (already a packet) as one frame into out (cap at
 * least 2 * len + 2); returns the frame's length. */
size_t esp_slip_encode(const uint8_t *packet, size_t len, uint8_t *out, size_t cap);

/* A request packet: dir 0x00, op, body length, checksum, body.  out needs
 * 8 + body_len bytes; returns the packet length. */
size_t esp_packet_request(uint8_t op, const uint8_t *body, size_t body_len, uint32_t checksum,
                          uint8_t *out);

/* The ROM's checksum of a *_DATA body: XOR of the bytes, seeded with 0xEF. */
uint32_t esp_checksum(const uint8_t *data, size_t len);

/* ---- the decoder ------------------------------------------------------------
 * Fed the received bytes in any pieces; hands out each complete frame.
 * Bytes seen outside a frame (the ROM's boot text, an application's log) go
 * to a small text buffer a caller can search.  A frame with a bad escape or
 * longer than the buffer is handed out marked bad (its bytes are useless). */
#define ESP_SLIP_MAX_FRAME 0x1100 /* the longest reply the ROM sends is ~0x60 bytes; requests
                                     of 0x400-byte blocks when a decoder reads the host side */
#define ESP_SLIP_TEXT_CAP 1024

typedef struct esp_slip_decoder {
    uint8_t frame[ESP_SLIP_MAX_FRAME];
    size_t len;
    bool in_frame, escape, bad;
    char text[ESP_SLIP_TEXT_CAP]; /* NUL-terminated; the oldest bytes are dropped */
    size_t text_len;
    uint64_t noise; /* bytes outside frames, all told */
} esp_slip_decoder;

void esp_slip_reset(esp_slip_decoder *d);
/* Consume bytes from in[0..len) until a frame completes: returns how many
 * were consumed; *done set when d->frame / d->len / d->bad hold a frame
 * (valid until the next call). */
size_t esp_slip_feed(esp_slip_decoder *d, const uint8_t *in, size_t len, bool *done);
/* Forget the text seen so far. */
void esp_slip_clear_text(esp_slip_decoder *d);

/* ---- replies ------------------------------------------------------------------ */
typedef struct esp_reply {
    uint8_t op;
    uint32_t value;       /* READ_REG's result; SYNC's non-zero word */
    const uint8_t *data;  /* the body: payload then the status bytes */
    size_t len;
} esp_reply;

/* A frame that is a reply (dir 0x01, a length that matches what came): true. */
bool esp_reply_parse(const uint8_t *frame, size_t len, esp_reply *out);

/* The status of a reply whose payload should be payload_len bytes: as esptool
 * reads it, the two bytes after the payload, or the first two when the body
 * is too short for the payload (the ROM's error replies carry none).
 * Returns false when there are not even two bytes; *status 0 = success,
 * else *error is the ROM's reason. */
bool esp_reply_status(const esp_reply *r, size_t payload_len, uint8_t *status, uint8_t *error);

/* "Received message is invalid" for the ROM's error codes (0x05..0x0B), else NULL. */
const char *esp_rom_error_name(uint8_t code);

/* MD5 reply payload → 16 bytes; false when it is not 32 hex digits (or 16 raw bytes). */
bool esp_md5_parse(const uint8_t *payload, size_t len, uint8_t md5[16]);

/* The text an earlier reset left: "boot:0x13 (SPI_FAST_FLASH_BOOT)" → mode
 * 0x13, download false.  False when no boot line was seen. */
bool esp_boot_text(const char *text, unsigned *mode, bool *download, char *name, size_t cap);

#endif
