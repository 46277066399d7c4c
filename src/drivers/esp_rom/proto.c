/* proto.c — commands and replies of the ESP ROM loader (proto.h). */
#include "drivers/esp_rom/proto.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"

double esp_wire_s(const esp_rom *e, size_t bytes)
{
    return (double)bytes * 10.0 / (e->baud ? e->baud : 115200);
}

double esp_timeout(const esp_rom *e, size_t queued_bytes, double device_s)
{
    /* generous where it costs nothing (a reply that comes ends the wait);
     * a lost reply costs the base, so it stays short (a USB adapter's latency
     * timer adds 16 ms at most) */
    return 0.15 + 2.0 * esp_wire_s(e, queued_bytes + 128) + 1.5 * device_s;
}

fl_status esp_send(esp_rom *e, uint8_t op, const uint8_t *body, size_t len, uint32_t chk,
                   fl_error *err)
{
    uint8_t packet[8 + 16 + ESP_BLOCK];
    if (len > sizeof packet - 8)
        return fl_fail(err, FL_ERR_INTERNAL, "ESP request of %zu bytes is too long", len);
    size_t n = esp_packet_request(op, body, len, chk, packet);
    size_t framed = esp_slip_encode(packet, n, e->tx, sizeof e->tx);
    e->wire_out += framed;
    return fl_link_write(e->link, e->tx, framed, err);
}

void esp_discard(esp_rom *e)
{
    esp_slip_reset(&e->dec);
    e->rx_len = e->rx_pos = 0;
    fl_link_discard_input(e->link);
}

fl_status esp_drain(esp_rom *e, double quiet_s, double max_s, fl_error *err)
{
    /* fed through the decoder, frames dropped: text the chip prints (a reset's
     * boot lines) is kept for esp_saw_reset */
    double end = fl_now() + max_s;
    esp_slip_reset(&e->dec);
    e->rx_len = e->rx_pos = 0;
    for (;;) {
        double left = end - fl_now();
        if (left <= 0)
            break;
        size_t n = 0;
        fl_status st = fl_link_read(e->link, e->rx, sizeof e->rx, quiet_s < left ? quiet_s : left,
                                    &n, err);
        if (st)
            return st;
        if (n == 0)
            break; /* quiet for quiet_s */
        for (size_t used = 0; used < n;) {
            bool done;
            used += esp_slip_feed(&e->dec, e->rx + used, n - used, &done);
        }
    }
    esp_slip_reset(&e->dec);
    return FL_OK;
}

bool esp_saw_noise(const esp_rom *e)
{
    return e->dec.noise > e->noise_mark + 16;
}

bool esp_saw_reset(const esp_rom *e)
{
    /* the ROM's first boot line: "ets Jun  8 2016 00:22:57" then "rst:0x1 (POWERON_RESET)" */
    return strstr(e->dec.text, "rst:0x") != NULL || strstr(e->dec.text, "ets ") != NULL;
}

/* The next frame the decoder completes before `deadline`: *got false when
 * none came. */
static fl_status next_frame(esp_rom *e, double deadline, bool *got, fl_error *err)
{
    *got = false;
    for (;;) {
        while (e->rx_pos < e->rx_len) {
            bool done;
            e->rx_pos += esp_slip_feed(&e->dec, e->rx + e->rx_pos, e->rx_len - e->rx_pos, &done);
            if (done) {
                *got = true;
                return FL_OK;
            }
        }
        e->rx_pos = e->rx_len = 0;
        if (e->watch_reset && (esp_saw_reset(e) || esp_saw_noise(e)))
            return FL_OK; /* the unit reset: no reply is coming, wait no longer */
        if (fl_cancelled(e->ev))
            return fl_fail(err, FL_ERR_CANCELLED, "cancelled");
        double left = deadline - fl_now();
        if (left <= 0)
            return FL_OK;
        size_t n = 0;
        fl_status st = fl_link_read(e->link, e->rx, sizeof e->rx, left, &n, err);
        if (st)
            return st;
        e->rx_len = n;
    }
}

/* The status of a reply whose payload length varies: its last four bytes. */
static bool tail_status(const esp_reply *r, uint8_t *status, uint8_t *code)
{
    if (r->len < 2)
        return false;
    size_t at = r->len >= 4 ? r->len - 4 : 0;
    *status = r->data[at];
    *code = r->data[at + 1];
    return true;
}

fl_status esp_wait(esp_rom *e, uint8_t op, size_t payload_len, double timeout_s, esp_reply *r,
                   esp_rx *how, fl_error *err)
{
    double deadline = fl_now() + timeout_s;
    for (;;) {
        bool got;
        fl_status st = next_frame(e, deadline, &got, err);
        if (st)
            return st;
        e->last_wait_silent = !got;
        if (!got) {
            *how = ESP_RX_NONE;
            return FL_OK;
        }
        if (e->dec.bad || !esp_reply_parse(e->dec.frame, e->dec.len, r)) {
            *how = ESP_RX_GARBLED;
            return FL_OK;
        }
        if (r->op != op) {
            if (r->op == ESP_SYNC)
                continue; /* the ROM answers one SYNC several times */
            /* an unsupported command is answered under another op with
             * "received message is invalid" (esptool's UnsupportedCommandError) */
            if (r->len >= 2 && r->data[0] != 0 && r->data[1] == ESP_ROM_INVALID_RECV_MSG) {
                e->last_rom_error = ESP_ROM_INVALID_RECV_MSG;
                *how = ESP_RX_ROM_ERROR;
                return FL_OK;
            }
            *how = ESP_RX_GARBLED;
            return FL_OK;
        }
        uint8_t status, code;
        bool have = payload_len == ESP_PAYLOAD_TAIL ? tail_status(r, &status, &code)
                                                    : esp_reply_status(r, payload_len, &status, &code);
        if (!have) {
            *how = ESP_RX_GARBLED;
            return FL_OK;
        }
        if (status != 0) {
            e->last_rom_error = code ? code : 0xFF;
            *how = ESP_RX_ROM_ERROR;
            return FL_OK;
        }
        *how = ESP_RX_OK;
        return FL_OK;
    }
}

static const char *op_name(uint8_t op)
{
    switch (op) {
    case ESP_FLASH_BEGIN: return "FLASH_BEGIN";
    case ESP_FLASH_DATA: return "FLASH_DATA";
    case ESP_FLASH_END: return "FLASH_END";
    case ESP_SYNC: return "SYNC";
    case ESP_WRITE_REG: return "WRITE_REG";
    case ESP_READ_REG: return "READ_REG";
    case ESP_SPI_SET_PARAMS: return "SPI_SET_PARAMS";
    case ESP_SPI_ATTACH: return "SPI_ATTACH";
    case ESP_READ_FLASH_SLOW: return "READ_FLASH_SLOW";
    case ESP_CHANGE_BAUDRATE: return "CHANGE_BAUDRATE";
    case ESP_SPI_FLASH_MD5: return "SPI_FLASH_MD5";
    case ESP_GET_SECURITY_INFO: return "GET_SECURITY_INFO";
    default: return "command";
    }
}

fl_status esp_command(esp_rom *e, const char *what, uint8_t op, const uint8_t *body, size_t len,
                      size_t payload_len, double timeout_s, int tries, esp_reply *r,
                      fl_error *err)
{
    esp_rx how = ESP_RX_NONE;
    int garbled = 0, rom_errors = 0;
    e->last_rom_error = 0;
    for (int i = 0; i < tries; i++) {
        fl_status st;
        if (i > 0) {
            e->retries++;
            if ((st = esp_drain(e, 0.03, 1.0, err)))
                return st;
        }
        if ((st = esp_send(e, op, body, len, 0, err)) ||
            (st = esp_wait(e, op, payload_len, timeout_s, r, &how, err)))
            return st;
        if (how == ESP_RX_OK)
            return FL_OK;
        garbled += how == ESP_RX_GARBLED;
        rom_errors += how == ESP_RX_ROM_ERROR;
    }
    if (rom_errors) {
        const char *why = esp_rom_error_name(e->last_rom_error);
        return fl_fail(err, FL_ERR_PROTOCOL, "%s (%s): the ROM answered error 0x%02X%s%s%s", what,
                       op_name(op), e->last_rom_error, why ? " (" : "", why ? why : "",
                       why ? ")" : "");
    }
    if (garbled)
        return fl_fail(err, FL_ERR_PROTOCOL, "%s (%s): only garbled replies after %d tries", what,
                       op_name(op), tries);
    return fl_fail(err, FL_ERR_TIMEOUT, "%s (%s): no reply after %d tries", what, op_name(op),
                   tries);
}

fl_status esp_read_reg(esp_rom *e, uint32_t addr, uint32_t *value, fl_error *err)
{
    uint8_t body[4];
    fl_put_le32(body, addr);
    esp_reply r;
    fl_status st = esp_command(e, "reading a register", ESP_READ_REG, body, 4, 0,
                               esp_timeout(e, 0, 0), 4, &r, err);
    if (!st)
        *value = r.value;
    return st;
}

fl_status esp_read_reg_agreed(esp_rom *e, uint32_t addr, uint32_t *value, fl_error *err)
{
    uint32_t seen[6];
    for (int n = 0; n < 6; n++) {
        fl_status st = esp_read_reg(e, addr, &seen[n], err);
        if (st)
            return st;
        for (int k = 0; k < n; k++)
            if (seen[k] == seen[n]) {
                *value = seen[n];
                return FL_OK;
            }
    }
    return fl_fail(err, FL_ERR_PROTOCOL, "register 0x%08X reads differently every time", addr);
}

fl_status esp_write_reg(esp_rom *e, uint32_t addr, uint32_t value, fl_error *err)
{
    uint8_t body[16];
    fl_put_le32(body, addr);
    fl_put_le32(body + 4, value);
    fl_put_le32(body + 8, 0xFFFFFFFFu); /* mask */
    fl_put_le32(body + 12, 0);          /* delay_us */
    esp_reply r;
    return esp_command(e, "writing a register", ESP_WRITE_REG, body, sizeof body, 0,
                       esp_timeout(e, 0, 0), 4, &r, err);
}

fl_status esp_sync(esp_rom *e, double timeout_s, bool *answered, fl_error *err)
{
    uint8_t body[36] = {0x07, 0x07, 0x12, 0x20};
    memset(body + 4, 0x55, 32);
    *answered = false;
    fl_status st = esp_send(e, ESP_SYNC, body, sizeof body, 0, err);
    esp_reply r;
    esp_rx how;
    if (!st)
        st = esp_wait(e, ESP_SYNC, 0, timeout_s, &r, &how, err);
    if (st)
        return st;
    if (how != ESP_RX_OK)
        return FL_OK;
    *answered = true;
    /* the ROM answers a SYNC up to eight times: let them come and go */
    return esp_drain(e, 0.03, 0.5, err);
}



void esp_md5_host(const uint8_t *data, size_t len, uint8_t md5[16])
{
    unsigned n = 16;
    EVP_Digest(data, len, md5, &n, EVP_md5(), NULL);
}

void esp_md5_erased(size_t len, uint8_t md5[16])
{
    uint8_t ff[4096];
    memset(ff, 0xFF, sizeof ff);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned n = 16;
    EVP_DigestInit_ex(c, EVP_md5(), NULL);
    for (size_t done = 0; done < len;) {
        size_t k = len - done < sizeof ff ? len - done : sizeof ff;
        EVP_DigestUpdate(c, ff, k);
        done += k;
    }
    EVP_DigestFinal_ex(c, md5, &n);
    EVP_MD_CTX_free(c);
}

fl_status esp_flash_md5(esp_rom *e, uint32_t addr, uint32_t len, uint8_t md5[16], fl_error *err)
{
    uint8_t body[16];
    fl_put_le32(body, addr);
    fl_put_le32(body + 4, len);
    fl_put_le32(body + 8, 0);
    fl_put_le32(body + 12, 0);
    for (int i = 0; i < 4; i++) {
        esp_reply r;
        fl_status st = esp_command(e, "the flash MD5", ESP_SPI_FLASH_MD5, body, sizeof body, 32,
                                   esp_timeout(e, 0, len / 1e6), 4, &r, err);
        if (st)
            return st;
        if (esp_md5_parse(r.data, r.len >= 34 ? 32 : 0, md5))
            return FL_OK;
        e->retries++; /* hex digits garbled on the way */
    }
    return fl_fail(err, FL_ERR_PROTOCOL, "the flash MD5 of 0x%X bytes at 0x%06X never came back "
                   "as 32 hex digits", len, addr);
}
