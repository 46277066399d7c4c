/* libFuzzer target: the ESP simulator's SLIP receiver and ROM command handlers
 * (src/sim/sim_esp.c), fed straight into the device model of four in-process
 * simulators (esp32, esp8266, esp32c3, esp32c3 in Secure Download Mode) at
 * timescale 0, without sockets in the loop.
 *
 * Input: byte 0 picks the unit (bits 0-1) and the mode (bit 2): raw bytes go to the
 * chip's UART as they are; structured input is a list of commands, each
 *   op, len16 (LE), flags, then len payload bytes
 * sent as esptool would (SLIP-encoded, checksum of the data part right unless flags
 * bit 0, size field right unless flags bit 1), so that mutations reach the handlers.
 *
 * Invariants (abort = a finding): every frame the chip sends is a well-formed reply
 * (direction 1, size field = body length, room for the status bytes, status 0 or 1,
 * error code one of the ROM's), and the unit's flash size never changes.
 *
 * The body is also run by tests/test_esp_sim.c (a mutation smoke test) with
 * FUZZ_ESP_SIM_BODY_ONLY defined. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_internal.h"

#define FZ_ASSERT(c) \
    do {             \
        if (!(c))    \
            abort(); \
    } while (0)

static fl_sim *fz_units[4];

static fl_sim *fz_unit(unsigned k)
{
    static const char *const chips[4] = {"esp32", "esp8266", "esp32c3", "esp32c3"};
    if (!fz_units[k]) {
        fl_sim_options o;
        fl_sim_options_init(&o);
        o.chip = chips[k];
        o.timescale = 0;
        o.quiet_app = true;
        o.flash_size = 1u << 20;
        o.esp_sdm = k == 3;
        fl_error err;
        FZ_ASSERT(fl_sim_create(&o, &fz_units[k], &err) == FL_OK);
    }
    return fz_units[k];
}

static void fz_feed(fl_sim *s, const uint8_t *p, size_t n, double t)
{
    for (size_t i = 0; i < n; i++)
        sim_dev_rx(s, p[i], t);
}

/* One command as esptool frames it. */
static void fz_command(fl_sim *s, uint8_t op, const uint8_t *d, size_t n, uint8_t flags, double t)
{
    uint8_t hdr[8] = {0x00, op, (uint8_t)n, (uint8_t)(n >> 8)};
    if (flags & 2)
        hdr[2] ^= 0x01; /* a size field that lies */
    uint8_t chk = 0xEF;
    for (size_t i = 16; i < n; i++)
        chk ^= d[i];
    hdr[4] = (uint8_t)(flags & 1 ? chk ^ 0x5A : chk);
    static const uint8_t c0 = 0xC0;
    fz_feed(s, &c0, 1, t);
    for (size_t i = 0; i < 8 + n; i++) {
        uint8_t b = i < 8 ? hdr[i] : d[i - 8];
        uint8_t esc[2] = {0xDB, (uint8_t)(b == 0xC0 ? 0xDC : 0xDD)};
        if (b == 0xC0 || b == 0xDB)
            fz_feed(s, esc, 2, t);
        else
            fz_feed(s, &b, 1, t);
    }
    fz_feed(s, &c0, 1, t);
}

/* Every frame in the chip's transmit queue is a proper ROM reply. */
static void fz_check_replies(fl_sim *s)
{
    size_t status_len = sim_esp_status_len(s);
    uint8_t frame[256];
    size_t k = 0;
    bool in = false, esc = false;
    for (size_t i = 0; i < s->tx.len; i++) {
        uint8_t b = ((tx_ent *)sim_ring_peek(&s->tx, i))->byte;
        if (b == 0xC0) {
            if (in && k > 0) {
                FZ_ASSERT(k >= 8 + status_len && frame[0] == 0x01);
                size_t body = (size_t)frame[2] | (size_t)frame[3] << 8;
                FZ_ASSERT(body == k - 8);
                uint8_t st = frame[k - status_len], err = frame[k - status_len + 1];
                FZ_ASSERT(st == 0 || st == 1);
                FZ_ASSERT(st == 0 ? err == 0 : err >= 0x05 && err <= 0x0B);
            }
            in = true, k = 0, esc = false;
            continue;
        }
        FZ_ASSERT(in); /* quiet units send nothing but frames */
        if (esc) {
            FZ_ASSERT(b == 0xDC || b == 0xDD);
            b = b == 0xDC ? 0xC0 : 0xDB;
            esc = false;
        } else if (b == 0xDB) {
            esc = true;
            continue;
        }
        FZ_ASSERT(k < sizeof frame);
        frame[k++] = b;
    }
    FZ_ASSERT(!in || k == 0); /* replies are sent whole */
}

static void fuzz_esp_sim(const uint8_t *data, size_t size)
{
    static double t = 1000.0;
    if (size == 0)
        return;
    fl_sim *s = fz_unit(data[0] & 3);
    bool structured = data[0] & 4;
    data++, size--;
    t += 1.0;
    /* a fresh unit in download mode: blank flash, IO0 held low at the start */
    memset(s->flash.mem, 0xFF, s->flash.size);
    sim_ring_clear(&s->tx);
    sim_ring_clear(&s->fifo);
    s->tx_line_free = t;
    s->dev.dtr_asserted = true, s->dev.rts_asserted = false, s->dev.boot_button = false;
    sim_dev_reset(s, t);
    FZ_ASSERT(!strcmp(sim_state_name(s->dev.state), "download"));
    uint32_t size_before = s->flash.size;
    if (!structured) {
        fz_feed(s, data, size, t);
    } else {
        while (size >= 4) {
            uint8_t op = data[0], flags = data[3];
            size_t n = (size_t)data[1] | (size_t)data[2] << 8;
            data += 4, size -= 4;
            if (n > size)
                n = size;
            fz_command(s, op, data, n, flags, t);
            data += n, size -= n;
        }
    }
    fz_check_replies(s);
    FZ_ASSERT(s->flash.size == size_before);
    sim_ring_clear(&s->tx);
}

#ifndef FUZZ_ESP_SIM_BODY_ONLY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_esp_sim(data, size);
    return 0;
}
#endif
