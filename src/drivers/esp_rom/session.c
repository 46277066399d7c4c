/* session.c — identification, security refusals, the flash, baud switching
 * and the MAC (session.h). */
#include "drivers/esp_rom/session.h"

#include <stdio.h>
#include <string.h>

#include "drivers/esp_rom/reset.h"
#include "flash/flash_parts.h"
#include "util/clock.h"

/* GET_SECURITY_INFO's flag bits (the same on every ROM that has it) */
#define SEC_SECURE_BOOT_EN (1u << 0)
#define SEC_SECURE_DOWNLOAD (1u << 2)

typedef struct sec_info {
    bool have;       /* the ROM answered it */
    bool has_chip_id;
    uint32_t flags;
    uint8_t crypt_cnt;
    uint32_t chip_id;
} sec_info;

static int popcount32(uint32_t v)
{
    int n = 0;
    for (; v; v &= v - 1)
        n++;
    return n;
}

/* One GET_SECURITY_INFO: *si.have false when the ROM does not know it. */
static fl_status ask_security(esp_rom *e, sec_info *si, fl_error *err)
{
    memset(si, 0, sizeof *si);
    for (int i = 0; i < 4; i++) {
        if (i) {
            e->retries++;
            fl_status st = esp_drain(e, 0.05, 1.0, err);
            if (st)
                return st;
        }
        esp_reply r;
        esp_rx how;
        fl_status st = esp_send(e, ESP_GET_SECURITY_INFO, NULL, 0, 0, err);
        if (!st)
            st = esp_wait(e, ESP_GET_SECURITY_INFO, ESP_PAYLOAD_TAIL, esp_timeout(e, 0, 0), &r,
                          &how, err);
        if (st)
            return st;
        if (how == ESP_RX_ROM_ERROR) {
            /* ESP8266 and ESP32 ROMs: "received message is invalid", repeated */
            return esp_drain(e, 0.05, 1.0, err);
        }
        if (how != ESP_RX_OK)
            continue;
        if (r.len == 20 + 4 || r.len == 12 + 4) {
            si->have = true;
            si->flags = fl_le32(r.data);
            si->crypt_cnt = r.data[4];
            si->has_chip_id = r.len == 24;
            si->chip_id = si->has_chip_id ? fl_le32(r.data + 12) : 0;
            return FL_OK;
        }
    }
    return fl_fail(err, FL_ERR_PROTOCOL, "GET_SECURITY_INFO: no whole answer after 4 tries");
}

/* The security info until two answers agree: its flags decide a refusal. */
static fl_status security_agreed(esp_rom *e, sec_info *out, fl_error *err)
{
    sec_info seen[5] = {{0}};
    for (int n = 0; n < 5; n++) {
        fl_status st = ask_security(e, &seen[n], err);
        if (st)
            return st;
        if (!seen[n].have) {
            *out = seen[n];
            return FL_OK;
        }
        for (int k = 0; k < n; k++)
            if (!memcmp(&seen[k], &seen[n], sizeof seen[n])) {
                *out = seen[n];
                return FL_OK;
            }
    }
    return fl_fail(err, FL_ERR_PROTOCOL, "GET_SECURITY_INFO answers differently every time");
}

static fl_status wrong_chip(esp_rom *e, const esp_target *found, const char *how, fl_error *err)
{
    if (found)
        return fl_fail(err, FL_ERR_CHIP, "this unit is an %s (%s), not the %s --chip names: use "
                       "--chip %s", found->display, how, e->t->display, found->name);
    return fl_fail(err, FL_ERR_CHIP, "this unit is not the %s --chip names (%s: no chip flashline "
                   "knows)", e->t->display, how);
}

static fl_status refuse_secured(esp_rom *e, bool encrypted, bool secure_boot, fl_error *err)
{
    if (!encrypted && !secure_boot)
        return FL_OK;
    return fl_fail(err, FL_ERR_REFUSED,
                   "this %s has %s%s%s enabled: flashline does not touch such units (a plain "
                   "image would not boot, a backup would be ciphertext); nothing was written",
                   e->t->display, encrypted ? "flash encryption" : "",
                   encrypted && secure_boot ? " and " : "", secure_boot ? "secure boot" : "");
}

/* ESP32: no GET_SECURITY_INFO; its eFuses say (esptool's
 * get_flash_encryption_enabled / get_secure_boot_enabled). */
static fl_status esp32_efuse_security(esp_rom *e, fl_error *err)
{
    uint32_t crypt, abs_done;
    fl_status st = esp_read_reg_agreed(e, e->t->efuse_crypt_cnt_reg, &crypt, err);
    if (!st)
        st = esp_read_reg_agreed(e, e->t->efuse_secure_boot_reg, &abs_done, err);
    if (st)
        return fl_fail_prefix(err, "reading the security eFuses");
    /* ABS_DONE_1 (secure boot v2) counts too: refusing a unit is the safe mistake */
    bool secure_boot = (abs_done & (e->t->efuse_secure_boot_mask | e->t->efuse_secure_boot_mask << 1)) != 0;
    bool encrypted = popcount32(crypt & e->t->efuse_crypt_cnt_mask) & 1;
    return refuse_secured(e, encrypted, secure_boot, err);
}

fl_status esp_identify(esp_rom *e, fl_error *err)
{
    sec_info si = {0};
    fl_status st = security_agreed(e, &si, err);
    if (st)
        return fl_fail_prefix(err, "asking the ROM's security info");
    if (si.have) {
        e->sdm = (si.flags & SEC_SECURE_DOWNLOAD) != 0;
        if (si.has_chip_id && (e->t->chip_id < 0 || si.chip_id != (uint32_t)e->t->chip_id)) {
            char how[48];
            snprintf(how, sizeof how, "chip ID %u", si.chip_id);
            return wrong_chip(e, esp_target_by_chip_id(si.chip_id), how, err);
        }
        if (!si.has_chip_id && strcmp(e->t->name, "esp32s2") != 0) /* only the S2 answers so */
            return wrong_chip(e, esp_target_find("esp32s2"), "12-byte security info", err);
        fl_logf(e->ev, FL_LOG_DEBUG, "security info: flags 0x%08X, flash crypt count 0x%02X%s",
                si.flags, si.crypt_cnt, e->sdm ? " (Secure Download Mode)" : "");
        if ((st = refuse_secured(e, popcount32(si.crypt_cnt) & 1,
                                 (si.flags & SEC_SECURE_BOOT_EN) != 0, err)))
            return st;
        if (si.has_chip_id || e->sdm)
            return FL_OK;
    }
    /* ESP8266, ESP32, ESP32-S2: the magic word tells them apart */
    uint32_t magic;
    if ((st = esp_read_reg_agreed(e, ESP_MAGIC_REG, &magic, err))) {
        if (e->last_rom_error == ESP_ROM_INVALID_RECV_MSG && !si.have) {
            if (!strcmp(e->t->name, "esp32")) /* its ROM has no GET_SECURITY_INFO */
                return fl_fail(err, FL_ERR_REFUSED,
                               "this ESP32's ROM refuses READ_REG: it is in Secure Download "
                               "Mode, so its eFuses cannot be read and flash encryption or "
                               "secure boot cannot be ruled out; flashline does not touch it "
                               "(nothing was written)");
            return wrong_chip(e, NULL, "it refuses READ_REG and GET_SECURITY_INFO", err);
        }
        return fl_fail_prefix(err, "reading the chip's magic word");
    }
    const esp_target *found = esp_target_by_magic(magic);
    if (found != e->t) {
        char how[48];
        snprintf(how, sizeof how, "magic word 0x%08X", magic);
        return wrong_chip(e, found, how, err);
    }
    if (!strcmp(e->t->name, "esp32"))
        return esp32_efuse_security(e, err);
    return FL_OK; /* the ESP8266 has neither flash encryption nor secure boot */
}

/* ---- the flash ---------------------------------------------------------------- */

#define SPI_USR_COMMAND (1u << 31)
#define SPI_USR_MISO (1u << 28)
#define SPI_CMD_USR (1u << 18)

/* A SPI flash command through the controller's user-command registers,
 * reading `read_bits` back (esptool's run_spiflash_command, no data out). */
static fl_status spi_command(esp_rom *e, uint8_t cmd, unsigned read_bits, uint32_t *out,
                             fl_error *err)
{
    const esp_target *t = e->t;
    uint32_t base = t->spi_base, old_usr, old_usr2, v = 0;
    fl_status st = esp_read_reg(e, base + t->spi_usr, &old_usr, err);
    if (!st)
        st = esp_read_reg(e, base + t->spi_usr2, &old_usr2, err);
    if (!st && t->spi_miso_dlen) /* ESP32 and later: separate length registers */
        st = esp_write_reg(e, base + t->spi_miso_dlen, read_bits - 1, err);
    else if (!st) /* ESP8266: MISO length in USR1 bits 8.. */
        st = esp_write_reg(e, base + t->spi_usr1, (read_bits - 1) << 8, err);
    if (!st)
        st = esp_write_reg(e, base + t->spi_usr, SPI_USR_COMMAND | SPI_USR_MISO, err);
    if (!st)
        st = esp_write_reg(e, base + t->spi_usr2, 7u << 28 | cmd, err);
    if (!st)
        st = esp_write_reg(e, base + t->spi_w0, 0, err);
    if (!st)
        st = esp_write_reg(e, base, SPI_CMD_USR, err);
    bool done = false;
    for (int i = 0; !st && i < 10 && !done; i++) {
        st = esp_read_reg(e, base, &v, err);
        done = !st && !(v & SPI_CMD_USR);
    }
    if (!st && !done)
        return fl_fail(err, FL_ERR_PROTOCOL, "the SPI flash command 0x%02X did not complete", cmd);
    if (!st)
        st = esp_read_reg(e, base + t->spi_w0, out, err);
    if (!st)
        st = esp_write_reg(e, base + t->spi_usr, old_usr, err);
    if (!st)
        st = esp_write_reg(e, base + t->spi_usr2, old_usr2, err);
    return st;
}

static fl_status read_jedec_agreed(esp_rom *e, fl_error *err)
{
    uint32_t seen[5];
    for (int n = 0; n < 5; n++) {
        fl_status st = spi_command(e, 0x9F, 24, &seen[n], err);
        if (st)
            return st;
        seen[n] &= 0xFFFFFF;
        for (int k = 0; k < n; k++)
            if (seen[k] == seen[n]) {
                e->jedec[0] = (uint8_t)seen[n];
                e->jedec[1] = (uint8_t)(seen[n] >> 8);
                e->jedec[2] = (uint8_t)(seen[n] >> 16);
                e->have_jedec = true;
                return FL_OK;
            }
    }
    return fl_fail(err, FL_ERR_PROTOCOL, "the flash JEDEC ID reads differently every time");
}

static fl_status spi_attach(esp_rom *e, fl_error *err)
{
    uint8_t body[16] = {0};
    esp_reply r;
    if (e->t->is_8266) { /* no SPI_ATTACH in its ROM: an empty FLASH_BEGIN attaches */
        fl_put_le32(body + 8, ESP_BLOCK);
        fl_status st = esp_command(e, "attaching the SPI flash", ESP_FLASH_BEGIN, body, 16, 0,
                                   esp_timeout(e, 0, 0.1), 4, &r, err);
        return st;
    }
    /* word 0 = the default pins; the ROM's extra "is legacy" word, 0 */
    return esp_command(e, "attaching the SPI flash", ESP_SPI_ATTACH, body, 8, 0,
                       esp_timeout(e, 0, 0.1), 4, &r, err);
}

static fl_status set_params(esp_rom *e, fl_error *err)
{
    uint8_t body[24];
    fl_put_le32(body, 0);
    fl_put_le32(body + 4, e->flash_size);
    fl_put_le32(body + 8, 64 * 1024);
    fl_put_le32(body + 12, ESP_SECTOR);
    fl_put_le32(body + 16, 256);
    fl_put_le32(body + 20, 0xFFFF);
    esp_reply r;
    return esp_command(e, "setting the flash parameters", ESP_SPI_SET_PARAMS, body, sizeof body,
                       0, esp_timeout(e, 0, 0), 4, &r, err);
}

/* After the chip was reset: its ROM forgot the SPI attach and parameters. */
static fl_status reattach(esp_rom *e, fl_error *err)
{
    fl_status st = spi_attach(e, err);
    if (!st && !e->t->is_8266)
        st = set_params(e, err);
    return st;
}

fl_status esp_attach_flash(esp_rom *e, fl_error *err)
{
    fl_status st = spi_attach(e, err);
    if (st)
        return st;
    const fl_chip *chip = fl_chip_find(e->t->name);
    e->flash_size = chip ? chip->default_flash_size : 0x400000;
    if (e->sdm) {
        fl_logf(e->ev, FL_LOG_WARN, "Secure Download Mode: the flash ID cannot be read; taking "
                "the %s default of %u KiB", e->t->display, e->flash_size / 1024);
    } else {
        if ((st = read_jedec_agreed(e, err)))
            return fl_fail_prefix(err, "reading the flash JEDEC ID");
        uint32_t size = 0;
        fl_jedec_size_rule rule = fl_jedec_flash_size(e->jedec, &size);
        if (rule == FL_JEDEC_NO_CHIP)
            return fl_fail(err, FL_ERR_PROTOCOL, "the flash answers JEDEC ID %02X %02X %02X: no "
                           "SPI flash on the %s's flash pins (or it is not powered)",
                           e->jedec[0], e->jedec[1], e->jedec[2], e->t->display);
        if (size)
            e->flash_size = size;
        else
            fl_logf(e->ev, FL_LOG_WARN, "flash ID %02X %02X %02X has no usable size; assuming "
                    "%u KiB", e->jedec[0], e->jedec[1], e->jedec[2], e->flash_size / 1024);
    }
    e->attached = true;
    if (e->t->is_8266)
        return FL_OK; /* its ROM has no SPI_SET_PARAMS (esptool skips it) */
    return set_params(e, err);
}

/* ---- baud rate -------------------------------------------------------------------- */

/* One READ_REG, one try: for registers a simulator or a ROM may not answer. */
static bool read_reg_once(esp_rom *e, uint32_t addr, uint32_t *v)
{
    uint8_t body[4];
    fl_put_le32(body, addr);
    fl_error ignored;
    esp_reply r;
    esp_rx how;
    if (esp_send(e, ESP_READ_REG, body, 4, 0, &ignored) ||
        esp_wait(e, ESP_READ_REG, 0, esp_timeout(e, 0, 0), &r, &how, &ignored) || how != ESP_RX_OK)
        return false;
    *v = r.value;
    return true;
}

/* The ESP32 ROM sets its UART divider from its own estimate of the crystal
 * (esptool's change_baud for ESP32): ask for the rate it will get right. */
static uint32_t rom_rate_for(esp_rom *e, uint32_t baud)
{
    if (strcmp(e->t->name, "esp32") != 0 || e->sdm)
        return baud;
    uint32_t cali, word4;
    if (!read_reg_once(e, 0x3FF5F06C, &cali) || !read_reg_once(e, 0x3FF5A010, &word4))
        return baud;
    double rom_freq = (double)((cali >> 7) & 0x1FFFFFF) * 15625.0 * (word4 & 0xFF) / 40.0;
    if (rom_freq < 20e6 || rom_freq > 50e6)
        return baud; /* not a calibration this ROM made */
    double valid = rom_freq > 33e6 ? 40e6 : 26e6;
    return (uint32_t)((double)baud * rom_freq / valid);
}

/* Does the loader answer at the host's current rate? */
static bool answers(esp_rom *e, int tries)
{
    for (int i = 0; i < tries; i++) {
        fl_error ignored;
        if (e->sdm) {
            bool ok = false;
            if (esp_sync(e, 0.1, &ok, &ignored) == FL_OK && ok)
                return true;
        } else {
            uint32_t v;
            if (read_reg_once(e, ESP_MAGIC_REG, &v))
                return true;
            esp_drain(e, 0.02, 0.3, &ignored);
        }
    }
    return false;
}

/* CHANGE_BAUDRATE (the reply comes at the old rate), then the host follows. */
static fl_status switch_to(esp_rom *e, uint32_t baud, fl_error *err)
{
    uint8_t body[8];
    fl_put_le32(body, rom_rate_for(e, baud));
    fl_put_le32(body + 4, 0); /* the old rate: 0 when talking to a ROM */
    esp_reply r;
    esp_rx how;
    fl_status st = esp_send(e, ESP_CHANGE_BAUDRATE, body, 8, 0, err);
    if (!st)
        st = esp_wait(e, ESP_CHANGE_BAUDRATE, 0, esp_timeout(e, 0, 0), &r, &how, err);
    if (!st)
        st = fl_link_drain(e->link, err);
    if (!st)
        st = fl_link_set_baud(e->link, baud, err);
    if (st)
        return st;
    e->baud = baud;
    fl_sleep(0.05); /* what the UART sends while it switches is noise */
    esp_discard(e);
    return FL_OK;
}

/* Back to `good` after `bad` failed: tell the loader at `bad` (it may have
 * switched), else it never switched, else take the bus again. */
static fl_status back_to(esp_rom *e, uint32_t bad, uint32_t good, fl_error *err)
{
    fl_status st;
    if ((st = switch_to(e, good, err)) || answers(e, 2))
        return st;
    if ((st = fl_link_set_baud(e->link, bad, err)))
        return st;
    e->baud = bad;
    if ((st = switch_to(e, good, err)) || answers(e, 2))
        return st;
    fl_flash_opts o = e->opts;
    o.last_baud = 0;
    fl_logf(e->ev, FL_LOG_INFO, "taking the bus again to return to %u baud", good);
    if ((st = esp_connect(e, &o, err)))
        return st;
    if (e->attached && (st = reattach(e, err)))
        return st;
    return good == e->baud ? FL_OK : switch_to(e, good, err);
}

fl_status esp_set_baud(esp_rom *e, uint32_t baud, fl_error *err)
{
    if (baud == e->baud)
        return FL_OK;
    if (e->t->is_8266) {
        fl_logf(e->ev, FL_LOG_INFO, "the ESP8266 ROM cannot change its rate (no "
                "CHANGE_BAUDRATE): staying at %u baud", e->baud);
        return FL_OK;
    }
    if (!e->link->has_baud) {
        fl_logf(e->ev, FL_LOG_WARN, "%s cannot change the adapter's rate; staying at %u",
                e->link->url, e->baud);
        return FL_OK;
    }
    uint32_t old = e->baud;
    fl_status st = switch_to(e, baud, err);
    if (st)
        return st;
    if (answers(e, 3)) {
        fl_logf(e->ev, FL_LOG_INFO, "switched to %u baud", baud);
        return FL_OK;
    }
    fl_logf(e->ev, FL_LOG_WARN, "the loader does not answer at %u baud; falling back to %u",
            baud, old == baud ? 115200 : old);
    if ((st = back_to(e, baud, old, err)))
        return fl_fail_prefix(err, "returning to %u baud after %u failed", old, baud);
    return FL_OK;
}

/* A rate holds when long frames come through: 256 bytes read in four
 * READ_FLASH_SLOW replies match the ROM's MD5 of them. */
static bool transfer_holds(esp_rom *e)
{
    if (e->sdm || e->t->is_8266)
        return answers(e, 2);
    uint8_t buf[256], dev[16], host[16];
    for (int attempt = 0; attempt < 2; attempt++) {
        bool ok = true;
        for (uint32_t off = 0; off < sizeof buf && ok; off += ESP_READ_CHUNK) {
            uint8_t body[8];
            fl_put_le32(body, off);
            fl_put_le32(body + 4, ESP_READ_CHUNK);
            esp_reply r;
            esp_rx how;
            fl_error ignored;
            ok = esp_send(e, ESP_READ_FLASH_SLOW, body, 8, 0, &ignored) == FL_OK &&
                 esp_wait(e, ESP_READ_FLASH_SLOW, ESP_READ_CHUNK, esp_timeout(e, 0, 0), &r, &how,
                          &ignored) == FL_OK &&
                 how == ESP_RX_OK && r.len >= ESP_READ_CHUNK;
            if (ok)
                memcpy(buf + off, r.data, ESP_READ_CHUNK);
        }
        fl_error ignored;
        if (ok && esp_flash_md5(e, 0, sizeof buf, dev, &ignored) == FL_OK) {
            esp_md5_host(buf, sizeof buf, host);
            if (!memcmp(dev, host, 16))
                return true;
        }
        esp_drain(e, 0.02, 0.3, &ignored);
    }
    return false;
}

static const uint32_t max_ladder[] = {230400, 460800, 921600, 1500000, 2000000, 3000000};

fl_status esp_set_baud_max(esp_rom *e, fl_error *err)
{
    e->baud_max_failed = 0;
    if (e->t->is_8266 || !e->link->has_baud)
        return esp_set_baud(e, FL_BAUD_MAX, err); /* logs why it stays */
    const char *why = NULL;
    for (size_t i = 0; i < sizeof max_ladder / sizeof max_ladder[0] && !why; i++) {
        uint32_t rate = max_ladder[i], good = e->baud;
        if (rate <= good)
            continue;
        fl_error e2;
        bool refused = fl_link_set_baud(e->link, rate, &e2) != FL_OK;
        fl_status st = fl_link_set_baud(e->link, good, err);
        if (st)
            return st;
        if (refused) {
            e->baud_max_failed = rate, why = "the adapter refuses it";
            break;
        }
        if ((st = switch_to(e, rate, err)))
            return st;
        if (answers(e, 2) && transfer_holds(e))
            continue;
        e->baud_max_failed = rate, why = "data does not come through whole";
        if ((st = back_to(e, rate, good, err)))
            return fl_fail_prefix(err, "returning to %u baud after %u failed", good, rate);
    }
    fl_logf(e->ev, FL_LOG_INFO, "--baud max: %u baud holds (%s%s%s)", e->baud,
            why ? "" : "the fastest tried", why ? why : "", why ? " above it" : "");
    return FL_OK;
}

/* ---- MAC -------------------------------------------------------------------------- */

fl_status esp_read_mac(esp_rom *e, uint8_t mac[6], fl_error *err)
{
    if (e->sdm)
        return fl_fail(err, FL_ERR_FORMAT, "this unit's ROM is in Secure Download Mode: its "
                       "eFuses (and the MAC in them) cannot be read");
    uint32_t w0, w1, w3 = 0;
    fl_status st;
    switch (e->t->mac) {
    case ESP_MAC_8266:
        if ((st = esp_read_reg_agreed(e, 0x3FF00050, &w0, err)) ||
            (st = esp_read_reg_agreed(e, 0x3FF00054, &w1, err)) ||
            (st = esp_read_reg_agreed(e, 0x3FF0005C, &w3, err)))
            return st;
        if (w3) {
            mac[0] = (uint8_t)(w3 >> 16), mac[1] = (uint8_t)(w3 >> 8), mac[2] = (uint8_t)w3;
        } else if (((w1 >> 16) & 0xFF) == 0) {
            mac[0] = 0x18, mac[1] = 0xFE, mac[2] = 0x34;
        } else if (((w1 >> 16) & 0xFF) == 1) {
            mac[0] = 0xAC, mac[1] = 0xD0, mac[2] = 0x74;
        } else {
            return fl_fail(err, FL_ERR_FORMAT, "the ESP8266's OTP holds an unknown OUI code %u",
                           (w1 >> 16) & 0xFF);
        }
        mac[3] = (uint8_t)(w1 >> 8), mac[4] = (uint8_t)w1, mac[5] = (uint8_t)(w0 >> 24);
        return FL_OK;
    case ESP_MAC_ESP32: /* eFuse words 2 and 1, big-endian, the CRC pair dropped */
        if ((st = esp_read_reg_agreed(e, e->t->mac_reg + 8, &w1, err)) ||
            (st = esp_read_reg_agreed(e, e->t->mac_reg + 4, &w0, err)))
            return st;
        break;
    case ESP_MAC_WORDS:
    default:
        if ((st = esp_read_reg_agreed(e, e->t->mac_reg + 4, &w1, err)) ||
            (st = esp_read_reg_agreed(e, e->t->mac_reg, &w0, err)))
            return st;
        break;
    }
    mac[0] = (uint8_t)(w1 >> 8), mac[1] = (uint8_t)w1;
    mac[2] = (uint8_t)(w0 >> 24), mac[3] = (uint8_t)(w0 >> 16);
    mac[4] = (uint8_t)(w0 >> 8), mac[5] = (uint8_t)w0;
    if (!memcmp(mac, "\0\0\0\0\0\0", 6) || !memcmp(mac, "\xff\xff\xff\xff\xff\xff", 6))
        return fl_fail(err, FL_ERR_FORMAT, "the %s's eFuses hold no MAC", e->t->display);
    return FL_OK;
}

/* ---- the whole of opening ------------------------------------------------------------ */

fl_status esp_start(esp_rom *e, const fl_flash_opts *o, fl_error *err)
{
    e->opts = *o;
    fl_status st = esp_connect(e, o, err);
    /* identify at the rate the loader was found at; --baud max climbs from 115200 */
    if (!st)
        st = esp_identify(e, err);
    if (!st && o->baud == FL_BAUD_MAX && e->baud != 115200)
        st = esp_set_baud(e, 115200, err);
    if (!st && o->baud && o->baud != FL_BAUD_MAX && o->baud != e->baud)
        st = esp_set_baud(e, o->baud, err);
    if (!st)
        st = esp_attach_flash(e, err);
    if (!st && o->baud == FL_BAUD_MAX)
        st = esp_set_baud_max(e, err);
    return st;
}

fl_status esp_ensure_loader(esp_rom *e, fl_error *err)
{
    if (!e->rebooted)
        return FL_OK;
    fl_flash_opts o = e->opts;
    if (o.reset == FL_RESET_NONE)
        o.reset = FL_RESET_AUTO; /* the firmware runs now: it has to be reset */
    o.last_baud = 0;
    uint32_t want = e->baud;
    e->baud = 115200;
    fl_status st = esp_connect(e, &o, err);
    if (!st)
        st = reattach(e, err);
    if (!st && want != 115200)
        st = esp_set_baud(e, want, err);
    return st;
}

fl_status esp_regain(esp_rom *e, fl_error *err)
{
    fl_logf(e->ev, FL_LOG_WARN, "the %s reset during the operation (brown-out? check its "
            "3.3 V supply): taking its ROM loader again", e->t->display);
    e->resets++;
    e->rebooted = true;
    fl_status st = esp_ensure_loader(e, err);
    esp_slip_clear_text(&e->dec);
    e->watch_reset = true; /* the operation goes on */
    e->noise_mark = e->dec.noise;
    if (st)
        return fl_fail_prefix(err, "the unit reset during the operation and its loader did not "
                              "come back");
    return FL_OK;
}
