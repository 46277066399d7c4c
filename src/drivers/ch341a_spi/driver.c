/* driver.c — the CH341A SPI driver as the library sees it (flash/driver.h):
 * Beken BK7231T/U/N/M and BK7252 through SPI mode (CEN on D2 + 0xD2 sync),
 * and plain SPI NOR chips (--chip spi-nor). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/ch341a_spi/beken_spi.h"
#include "drivers/ch341a_spi/ch341a.h"
#include "drivers/ch341a_spi/spi25.h"
#include "flash/driver.h"
#include "formats/beken_rf.h"
#include "link/usb.h"

/* Beken chips with a documented SPI-mode recovery (spec B.1: the GUI tool's
 * "Beken SPI CH341" mode, the BK7231 and BK7252 procedures).  No source
 * documents it for BK7238 or BK7252N: refused rather than guessed. */
static const char *const spi_mode_chips[] = {"bk7231t", "bk7231u", "bk7231n", "bk7231m", "bk7252",
                                             NULL};

struct fl_driver_session {
    fl_usb *u;
    ch341a *c;
    fl_spi25 *f;
    const fl_chip *chip;
    const fl_events *ev;
    bool beken;
    bool in_spi_mode; /* Beken: synced; false after reboot until the next operation */
    bool allow_bootloader;
    bool stay; /* --after stay: leave a Beken in SPI mode (no CEN pulse at close) */
};

static bool has_spi_mode(const fl_chip *chip)
{
    for (int i = 0; spi_mode_chips[i]; i++)
        if (!strcmp(chip->name, spi_mode_chips[i]))
            return true;
    return false;
}

static bool ch_claims_port(const char *port)
{
    return fl_usb_is_url(port);
}

static bool ch_serves(const fl_chip *chip)
{
    return chip && (chip->family == FL_FAMILY_SPI_NOR ||
                    (chip->family == FL_FAMILY_BEKEN && has_spi_mode(chip)));
}

static void free_session(fl_driver_session *s)
{
    if (!s)
        return;
    fl_spi25_free(s->f);
    ch341a_free(s->c);
    fl_usb_close(s->u);
    free(s);
}

/* Beken: (re)enter SPI mode if a reboot left it. */
static fl_status ensure_mode(fl_driver_session *s, fl_error *err)
{
    if (!s->beken || s->in_spi_mode)
        return FL_OK;
    uint8_t id[4];
    fl_status st = fl_beken_spi_enter(s->c, s->f, s->ev, BEKEN_SPI_ATTEMPTS, id, err);
    if (!st)
        s->in_spi_mode = true;
    return st;
}

static void fill_identity(fl_driver_session *s, const char *port, fl_identity *id)
{
    const fl_spi25_info *in = fl_spi25_get_info(s->f);
    memset(id, 0, sizeof *id);
    id->chip = s->chip;
    id->driver = "ch341a-spi";
    id->access = s->beken ? "spi mode" : "spi";
    snprintf(id->programmer, sizeof id->programmer, "%s %s", s->u->where, port);
    id->flash_size = in->size;
    id->have_jedec = true;
    memcpy(id->jedec, in->jedec, 3);
    if (in->part)
        snprintf(id->flash_part, sizeof id->flash_part, "%s %s", in->part->vendor, in->part->name);
    else if (in->bk_part)
        snprintf(id->flash_part, sizeof id->flash_part, "%s %s", in->bk_part->vendor,
                 in->bk_part->name);
    id->have_sr = true;
    id->sr_separate = true;
    id->sr = in->sr1 | (uint32_t)in->sr2 << 8 | (uint32_t)in->sr3 << 16;
    id->verified_by = "reading back every byte";
}

/* No --chip: a plain SPI NOR flash answers a JEDEC read as it is; a Beken
 * chip's flash answers only after the CEN reset and sync of SPI mode, which
 * is not tried unasked (it resets the chip).  *chip is spi-nor when a
 * plausible ID came back. */
static fl_status guess_spi_nor(fl_driver_session *s, const fl_chip **chip, fl_error *err)
{
    uint8_t id[4];
    fl_status st = fl_spi25_rdid(s->f, id, err);
    if (st)
        return st;
    bool plausible = id[1] != 0x00 && id[1] != 0xFF;
    if (!plausible)
        return fl_fail(err, FL_ERR_USAGE,
                       "no SPI flash answered its JEDEC ID as it is (read %02X %02X %02X): name the "
                       "chip with --chip bk7231t, bk7231u, bk7231n, bk7231m or bk7252 for a Beken "
                       "chip (reset through CEN into SPI mode; its loader is not reachable to tell "
                       "which it is), or --chip spi-nor for a plain SPI NOR flash",
                       id[1], id[2], id[3]);
    *chip = fl_chip_find("spi-nor");
    fl_logf(s->ev, FL_LOG_INFO,
            "a SPI NOR flash answered without SPI-mode sync (JEDEC ID %02X %02X %02X): taken as "
            "--chip spi-nor (a Beken chip left in SPI mode answers the same: name it with --chip "
            "to use its image rules)",
            id[1], id[2], id[3]);
    return FL_OK;
}

static fl_status ch_open(const char *port, const fl_chip *chip, const fl_flash_opts *o,
                         const fl_events *ev, fl_driver_session **out, fl_identity *id,
                         fl_error *err)
{
    *out = NULL;
    if (chip && !ch_serves(chip))
        return fl_fail(err, FL_ERR_USAGE,
                       "ch341a-spi cannot reach %s: SPI-mode recovery is documented only for "
                       "BK7231T/U/N/M and BK7252 (no source describes it for %s); other chips: "
                       "--chip spi-nor for a plain SPI NOR flash",
                       chip->display, chip->display);
    fl_driver_session *s = calloc(1, sizeof *s);
    if (!s)
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    s->ev = ev;
    s->allow_bootloader = o && o->allow_bootloader;
    s->stay = o && o->after == FL_AFTER_STAY;
    fl_status st = fl_usb_open(port, &s->u, err);
    if (st) {
        free(s);
        return st; /* the USB layer's message names the CH341A and the cause (not found,
                      permission, busy) */
    }
    fl_logf(ev, FL_LOG_INFO, "CH341A opened (%s)", s->u->where);
    st = ch341a_init(s->u, &s->c, err);
    if (!st)
        st = fl_spi25_new(s->c, ev, &s->f, err);
    if (!st && !chip)
        st = guess_spi_nor(s, &chip, err);
    if (!st) {
        s->chip = chip;
        s->beken = chip->family == FL_FAMILY_BEKEN;
        st = ensure_mode(s, err);
    }
    if (!st)
        st = fl_spi25_identify(s->f, err);
    if (!st && !fl_spi25_get_info(s->f)->size) {
        const uint8_t *j = fl_spi25_get_info(s->f)->jedec;
        if (s->beken && chip->default_flash_size) {
            fl_logf(ev, FL_LOG_WARN, "flash size unknown from the JEDEC ID; taking the %s's %u KiB",
                    chip->display, chip->default_flash_size / 1024);
            fl_spi25_set_size(s->f, chip->default_flash_size);
        } else {
            st = fl_fail(err, FL_ERR_CHIP,
                         "cannot tell the size of flash %02X %02X %02X: not in the part table and "
                         "its capacity byte 0x%02X is outside 0x10..0x19",
                         j[0], j[1], j[2], j[2]);
        }
    }
    if (st) {
        if (s->in_spi_mode) {
            fl_error e;
            (void)fl_beken_spi_exit(s->c, ev, &e);
        }
        free_session(s);
        return st;
    }
    fill_identity(s, port, id);
    *out = s;
    return FL_OK;
}

static void ch_close(fl_driver_session *s)
{
    if (!s)
        return;
    if (s->beken && s->in_spi_mode && s->stay) {
        fl_error e;
        (void)ch341a_release(s->c, &e); /* CS high, no CEN pulse: the chip stays halted */
        fl_logf(s->ev, FL_LOG_INFO, "leaving the chip in SPI mode (--after stay): it runs no "
                "firmware until CEN is pulsed or it is power-cycled");
    } else if (s->beken && s->in_spi_mode) {
        fl_error e;
        (void)fl_beken_spi_exit(s->c, s->ev, &e);
    }
    free_session(s);
}

static fl_status ch_read(fl_driver_session *s, uint32_t addr, uint32_t len, uint8_t *out,
                         fl_error *err)
{
    fl_status st = ensure_mode(s, err);
    return st ? st : fl_spi25_read(s->f, addr, len, out, err);
}

static fl_status ch_erase(fl_driver_session *s, uint32_t addr, uint32_t len, fl_error *err)
{
    fl_status st = ensure_mode(s, err);
    return st ? st : fl_spi25_erase(s->f, addr, len, err);
}

static fl_status ch_write(fl_driver_session *s, uint32_t addr, const uint8_t *data, uint32_t len,
                          fl_error *err)
{
    fl_status st = ensure_mode(s, err);
    return st ? st : fl_spi25_write(s->f, addr, data, len, err);
}

static fl_status ch_verify(fl_driver_session *s, uint32_t addr, const uint8_t *data, uint32_t len,
                           uint32_t *bad_addr, fl_error *err)
{
    fl_status st = ensure_mode(s, err);
    return st ? st : fl_spi25_verify(s->f, addr, data, len, bad_addr, err);
}

static fl_status ch_read_mac(fl_driver_session *s, uint8_t mac[6], fl_error *err)
{
    if (!s->beken || !s->chip->rf_offset)
        return fl_fail(err, FL_ERR_FORMAT, "%s has no RF calibration sector", s->chip->display);
    uint32_t off = s->chip->rf_offset, size = fl_spi25_get_info(s->f)->size;
    if (off + SPI25_SECTOR > size)
        return fl_fail(err, FL_ERR_FORMAT, "the RF calibration sector 0x%06X is past the end of "
                       "the %u KiB flash", off, size / 1024);
    uint8_t sector[SPI25_SECTOR];
    fl_status st = ch_read(s, off, sizeof sector, sector, err);
    return st ? st : fl_beken_rf_mac(sector, sizeof sector, off, mac, err);
}

static fl_status ch_reboot(fl_driver_session *s, fl_error *err)
{
    if (!s->beken) {
        fl_logf(s->ev, FL_LOG_INFO, "a plain SPI NOR chip has nothing to reboot");
        return FL_OK;
    }
    if (!s->in_spi_mode)
        return FL_OK;
    fl_status st = fl_beken_spi_exit(s->c, s->ev, err);
    s->in_spi_mode = false; /* whatever happened: the next operation syncs again */
    return st;
}

static void ch_set_allow_bootloader(fl_driver_session *s, bool allow)
{
    s->allow_bootloader = allow;
}

static void ch_stats(const fl_driver_session *s, fl_flash_stats *out)
{
    fl_spi25_stats st;
    fl_spi25_get_stats(s->f, &st);
    memset(out, 0, sizeof *out);
    out->retries = st.retries;
    out->blocks_written = st.sectors_written;
    out->blocks_skipped = st.sectors_skipped;
}

static fl_status ch_protect(fl_driver_session *s, bool on, fl_error *err)
{
    fl_status st = ensure_mode(s, err);
    if (st)
        return st;
    return on ? fl_spi25_protect(s->f, err) : fl_spi25_unprotect(s->f, err);
}

const fl_driver fl_driver_ch341a_spi = {
    .name = "ch341a-spi",
    .description = "CH341A USB-SPI programmer: Beken SPI-mode recovery (CEN on D2) of "
                   "bk7231t/u/n/m and bk7252, and plain SPI NOR chips (--chip spi-nor)",
    .ports_help = "ch341a, ch341a:BUS-PORT, ch341a:serial=TEXT, "
                  "'ch341a:sim?target=CHIP&flash=FILE[&jedec=HEX]'",
    .claims_port = ch_claims_port,
    .serves = ch_serves,
    .placement_flags = FL_PLACE_QIO_WHOLE,
    .open = ch_open,
    .close = ch_close,
    .read = ch_read,
    .erase = ch_erase,
    .write = ch_write,
    .verify = ch_verify,
    .read_mac = ch_read_mac,
    .reboot = ch_reboot,
    .set_allow_bootloader = ch_set_allow_bootloader,
    .stats = ch_stats,
    .protect = ch_protect,
    .device_crc = NULL,
};
