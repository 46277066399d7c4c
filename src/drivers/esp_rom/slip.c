/* slip.c — SLIP framing and the ROM loader's packets (slip.h). */
#include "drivers/esp_rom/slip.h"
#include "formats/bytes.h"
#include "util/parse.h"

#include <stdlib.h>
#include <string.h>

size_t esp_slip_escaped_len(const uint8_t *data, size_t len)
{
    size_t n = len;
    for (size_t i = 0; i < len; i++)
        n += data[i] == ESP_SLIP_END || data[i] == ESP_SLIP_ESC;
    return n;
}

size_t esp_slip_encode(const uint8_t *packet, size_t len, uint8_t *out, size_t cap)
{
    size_t n = 0;
    if (cap < 2 * len + 2)
        return 0;
    out[n++] = ESP_SLIP_END;
    for (size_t i = 0; i < len; i++) {
        if (packet[i] == ESP_SLIP_END) {
            out[n++] = ESP_SLIP_ESC;
            out[n++] = ESP_SLIP_ESC_END;
        } else if (packet[i] == ESP_SLIP_ESC) {
            out[n++] = ESP_SLIP_ESC;
            out[n++] = ESP_SLIP_ESC_ESC;
        } else {
            out[n++] = packet[i];
        }
    }
    out[n++] = ESP_SLIP_END;
    return n;
}

size_t esp_packet_request(uint8_t op, const uint8_t *body, size_t body_len, uint32_t checksum,
                          uint8_t *out)
{
    out[0] = 0x00;
    out[1] = op;
    out[2] = (uint8_t)body_len;
    out[3] = (uint8_t)(body_len >> 8);
    fl_put_le32(out + 4, checksum);
    if (body_len)
        memcpy(out + 8, body, body_len);
    return 8 + body_len;
}

uint32_t esp_checksum(const uint8_t *data, size_t len)
{
    uint8_t state = 0xEF;
    for (size_t i = 0; i < len; i++)
        state ^= data[i];
    return state;
}

void esp_slip_reset(esp_slip_decoder *d)
{
    d->len = 0;
    d->in_frame = d->escape = d->bad = false;
}

void esp_slip_clear_text(esp_slip_decoder *d)
{
    d->text_len = 0;
    d->text[0] = '\0';
}

static void add_text(esp_slip_decoder *d, uint8_t c)
{
    d->noise++;
    if (c == '\0')
        c = '.';
    if (d->text_len + 1 >= ESP_SLIP_TEXT_CAP) { /* keep the newest half */
        size_t keep = ESP_SLIP_TEXT_CAP / 2;
        memmove(d->text, d->text + d->text_len - keep, keep);
        d->text_len = keep;
    }
    d->text[d->text_len++] = (char)c;
    d->text[d->text_len] = '\0';
}

static void add_byte(esp_slip_decoder *d, uint8_t c)
{
    if (d->len < ESP_SLIP_MAX_FRAME)
        d->frame[d->len++] = c;
    else
        d->bad = true; /* longer than any reply: noise that happened to sit between two 0xC0 */
}

size_t esp_slip_feed(esp_slip_decoder *d, const uint8_t *in, size_t len, bool *done)
{
    *done = false;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = in[i];
        if (!d->in_frame) {
            if (c == ESP_SLIP_END) {
                d->in_frame = true;
                d->len = 0;
                d->escape = d->bad = false;
            } else {
                add_text(d, c);
            }
            continue;
        }
        if (c == ESP_SLIP_END) {
            if (d->len == 0 && !d->bad) /* "C0 C0": a closing end taken for an opening one */
                continue;
            d->in_frame = false;
            if (d->escape)
                d->bad = true;
            d->escape = false;
            *done = true;
            return i + 1;
        }
        if (d->escape) {
            d->escape = false;
            if (c == ESP_SLIP_ESC_END)
                add_byte(d, ESP_SLIP_END);
            else if (c == ESP_SLIP_ESC_ESC)
                add_byte(d, ESP_SLIP_ESC);
            else
                d->bad = true;
        } else if (c == ESP_SLIP_ESC) {
            d->escape = true;
        } else {
            add_byte(d, c);
        }
    }
    return len;
}

bool esp_reply_parse(const uint8_t *frame, size_t len, esp_reply *out)
{
    if (len < 8 || frame[0] != 0x01)
        return false;
    size_t body = frame[2] | (size_t)frame[3] << 8;
    if (body != len - 8)
        return false; /* a byte lost or two replies run together */
    out->op = frame[1];
    out->value = fl_le32(frame + 4);
    out->data = frame + 8;
    out->len = body;
    return true;
}

bool esp_reply_status(const esp_reply *r, size_t payload_len, uint8_t *status, uint8_t *error)
{
    size_t at = r->len >= payload_len + 2 ? payload_len : 0;
    if (r->len < at + 2)
        return false;
    *status = r->data[at];
    *error = r->data[at + 1];
    return true;
}

const char *esp_rom_error_name(uint8_t code)
{
    switch (code) {
    case 0x05: return "received message is invalid";
    case 0x06: return "failed to act on received message";
    case 0x07: return "invalid CRC in message";
    case 0x08: return "flash write error";
    case 0x09: return "flash read error";
    case 0x0A: return "flash read length error";
    case 0x0B: return "deflate error";
    default: return NULL;
    }
}

bool esp_md5_parse(const uint8_t *payload, size_t len, uint8_t md5[16])
{
    if (len == 16) { /* a stub's raw digest */
        memcpy(md5, payload, 16);
        return true;
    }
    if (len != 32)
        return false;
    for (int i = 0; i < 16; i++) {
        int hi = fl_hex_digit(payload[2 * i]), lo = fl_hex_digit(payload[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        md5[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

bool esp_boot_text(const char *text, unsigned *mode, bool *download, char *name, size_t cap)
{
    const char *p = text ? strstr(text, "boot:0x") : NULL;
    if (!p)
        return false;
    char *end;
    *mode = (unsigned)strtoul(p + 5, &end, 16);
    name[0] = '\0';
    const char *open = strchr(end, '(');
    const char *close = open ? strchr(open, ')') : NULL;
    if (open && close && open - end <= 2 && (size_t)(close - open - 1) < cap) {
        memcpy(name, open + 1, (size_t)(close - open - 1));
        name[close - open - 1] = '\0';
    }
    *download = strstr(p, "waiting for download") != NULL || strstr(name, "DOWNLOAD") != NULL;
    return true;
}
