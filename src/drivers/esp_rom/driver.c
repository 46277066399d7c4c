/* driver.c — the Espressif ESP8266 / ESP32-family ROM loader as a flashline
 * driver (flash/driver.h; spec other-platforms.md §2): a thin adapter over
 * reset.c (download mode), session.c (chip, security, flash, baud) and
 * flashops.c (write/read/erase/verify).  No RAM stub is uploaded: everything
 * goes through the mask ROM's own commands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/esp_rom/flashops.h"
#include "drivers/esp_rom/proto.h"
#include "drivers/esp_rom/session.h"
#include "flash/driver.h"
#include "flash/flash_parts.h"
#include "link/usb.h"

struct fl_driver_session {
    esp_rom e;
};

static bool esp_claims_port(const char *port)
{
    return !fl_usb_is_url(port); /* the same UART ports as the Beken driver */
}

static bool esp_serves(const fl_chip *chip)
{
    return chip->family == FL_FAMILY_ESP;
}

static void esp_close(fl_driver_session *s)
{
    if (!s)
        return;
    if (s->e.link)
        fl_link_close(s->e.link);
    free(s);
}

static void fill_identity(const esp_rom *e, const fl_chip *chip, fl_identity *id)
{
    id->chip = chip;
    id->access = "ROM loader";
    fl_text_copy(id->programmer, sizeof id->programmer, e->link->url);
    id->flash_size = e->flash_size;
    id->have_jedec = e->have_jedec;
    memcpy(id->jedec, e->jedec, 3);
    const fl_spi_part *part = e->have_jedec ? fl_spi_part_find(e->jedec) : NULL;
    const fl_flash_part *bk = e->have_jedec && !part ? fl_flash_part_find(e->jedec) : NULL;
    if (part)
        snprintf(id->flash_part, sizeof id->flash_part, "%s %s", part->vendor, part->name);
    else if (bk)
        snprintf(id->flash_part, sizeof id->flash_part, "%s %s", bk->vendor, bk->name);
    if (e->t->chip_id >= 0) {
        id->have_chip_id = true;
        id->chip_id = (uint32_t)e->t->chip_id;
        snprintf(id->chip_id_norm, sizeof id->chip_id_norm, "%s", e->t->name);
    }
    snprintf(id->boot_version, sizeof id->boot_version, "%s ROM%s", e->t->display,
             e->sdm ? " (Secure Download Mode)" : "");
    id->baud = e->baud;
    id->baud_max_failed = e->baud_max_failed;
    if (!esp_can_read(e))
        id->erase_unproven = e->sdm ? "Secure Download Mode: the ROM can neither read flash nor "
                                      "compute its MD5"
                                    : "the ESP8266 ROM can neither read flash nor compute its MD5";
    if (e->t->is_8266)
        id->verified_by = "the ROM's per-block checksum only (the ESP8266 ROM can neither read "
                          "flash nor compute its MD5)";
    else if (e->sdm)
        id->verified_by = "the ROM's per-block checksum only (Secure Download Mode: no read, "
                          "no MD5)";
    else
        id->verified_by = "the ROM's MD5";
}

static fl_status esp_open(const char *port, const fl_chip *chip, const fl_flash_opts *o,
                          const fl_events *ev, fl_driver_session **out, fl_identity *id,
                          fl_error *err)
{
    *out = NULL;
    if (!chip) /* needs_chip: the library only offers named ESP chips */
        return fl_fail(err, FL_ERR_USAGE, "the ESP ROM driver needs --chip (%s)",
                       fl_chip_names_family(FL_FAMILY_ESP));
    const esp_target *t = esp_target_find(chip->name);
    if (!t)
        return fl_fail(err, FL_ERR_USAGE, "the ESP ROM driver has no ROM facts for %s",
                       chip->display);
    fl_driver_session *s = calloc(1, sizeof *s);
    if (!s)
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    esp_rom *e = &s->e;
    e->t = t;
    e->ev = ev;
    e->allow_bootloader = o->allow_bootloader;
    e->baud = 115200;
    esp_slip_reset(&e->dec);
    esp_slip_clear_text(&e->dec);
    fl_status st = fl_link_open(port, &e->link, err);
    if (!st)
        st = fl_link_set_baud(e->link, 115200, err);
    if (!st)
        st = esp_start(e, o, err);
    if (st) {
        esp_close(s); /* a failed open leaves no port (or in-process simulator) open */
        return st;
    }
    fill_identity(e, chip, id);
    *out = s;
    return FL_OK;
}

static fl_status esp_read(fl_driver_session *s, uint32_t addr, uint32_t len, uint8_t *out,
                          fl_error *err)
{
    fl_status st = esp_ensure_loader(&s->e, err);
    return st ? st : esp_op_read(&s->e, addr, len, out, err);
}

static fl_status esp_erase(fl_driver_session *s, uint32_t addr, uint32_t len, fl_error *err)
{
    fl_status st = esp_ensure_loader(&s->e, err);
    return st ? st : esp_op_erase(&s->e, addr, len, err);
}

static fl_status esp_write(fl_driver_session *s, uint32_t addr, const uint8_t *data,
                           uint32_t len, fl_error *err)
{
    fl_status st = esp_ensure_loader(&s->e, err);
    return st ? st : esp_op_write(&s->e, addr, data, len, err);
}

static fl_status esp_verify(fl_driver_session *s, uint32_t addr, const uint8_t *data,
                            uint32_t len, uint32_t *bad_addr, fl_error *err)
{
    fl_status st = esp_ensure_loader(&s->e, err);
    return st ? st : esp_op_verify(&s->e, addr, data, len, bad_addr, err);
}

static fl_status esp_mac(fl_driver_session *s, uint8_t mac[6], fl_error *err)
{
    fl_status st = esp_ensure_loader(&s->e, err);
    return st ? st : esp_read_mac(&s->e, mac, err);
}

static fl_status esp_reboot(fl_driver_session *s, fl_error *err)
{
    if (s->e.rebooted)
        return FL_OK;
    return esp_op_reboot(&s->e, err);
}

static void esp_set_allow_bootloader(fl_driver_session *s, bool allow)
{
    s->e.allow_bootloader = allow;
}

static void esp_stats(const fl_driver_session *s, fl_flash_stats *out)
{
    memset(out, 0, sizeof *out);
    out->retries = s->e.retries;
    out->resets = s->e.resets;
    out->blocks_written = s->e.blocks_written;
    out->blocks_skipped = s->e.blocks_skipped;
}

const fl_driver fl_driver_esp_rom = {
    .name = "esp-rom",
    .description = "the Espressif ESP8266 / ESP32-family ROM download loader (SLIP; no stub): "
                   "--reset auto = DTR/RTS auto-reset, then asks to hold BOOT and reset; pulse = "
                   "auto-reset only; manual = asks at once; none = already in download mode. "
                   "--baud: CHANGE_BAUDRATE after SYNC (not on the ESP8266 ROM, which stays at "
                   "115200); max = the fastest that carries data",
    .ports_help = "/dev/ttyUSB0, serial:NAME, rfc2217://HOST:PORT, sim:esp32[?…] (needs --chip)",
    .claims_port = esp_claims_port,
    .serves = esp_serves,
    .needs_chip = true,
    .placement_flags = 0,
    .open = esp_open,
    .close = esp_close,
    .read = esp_read,
    .erase = esp_erase,
    .write = esp_write,
    .verify = esp_verify,
    .read_mac = esp_mac,
    .reboot = esp_reboot,
    .set_allow_bootloader = esp_set_allow_bootloader,
    .stats = esp_stats,
};
