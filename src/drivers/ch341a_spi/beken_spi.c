/* beken_spi.c — entering and leaving Beken SPI mode (spec B.2, B.3). */
#include "drivers/ch341a_spi/beken_spi.h"

#include <string.h>

#define SYNC_FRAMES 10
#define SYNC_BYTES 25
#define FLUSH_FRAMES 1000
#define SYNC_BYTE 0xD2u

/* What MISO showed during the attempts, for the diagnosis. */
typedef struct observed {
    unsigned long long bytes, ff, zero;
    bool echo;       /* a sync-phase echo: first byte back, zeros after */
    bool probe_ok;   /* the GUI tool's test on the probe */
    uint8_t last_id[4];
} observed;

static void look(observed *o, const uint8_t *rx, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        o->bytes++;
        o->ff += rx[i] == 0xFF;
        o->zero += rx[i] == 0x00;
    }
}

static bool echo_pattern(const uint8_t *rx, size_t n)
{
    if (rx[0] == 0x00 || rx[0] == 0xFF)
        return false;
    for (size_t i = 1; i < n; i++)
        if (rx[i])
            return false;
    return true;
}

static fl_status cen_pulse(ch341a *c, const fl_events *ev, fl_error *err)
{
    fl_logf(ev, FL_LOG_DEBUG, "CEN reset on CH341A D2: low for %u ms", BEKEN_SPI_CEN_LOW_US / 1000);
    fl_status st = ch341a_set_d2(c, false, err);
    if (st)
        return fl_fail_prefix(err, "pulling CEN low through D2");
    ch341a_delay_us(c, BEKEN_SPI_CEN_LOW_US);
    st = ch341a_set_d2(c, true, err);
    return st ? fl_fail_prefix(err, "releasing CEN through D2") : FL_OK;
}

/* One attempt; FL_OK with *ok telling whether flash mode answered. */
static fl_status attempt(ch341a *c, fl_spi25 *f, const fl_events *ev, observed *o, bool *ok,
                         uint8_t id[4], fl_error *err)
{
    *ok = false;
    fl_status st = cen_pulse(c, ev, err);
    if (st)
        return st;
    uint8_t tx[SYNC_BYTES], rx[SYNC_BYTES];
    memset(tx, SYNC_BYTE, sizeof tx);
    bool quiet = true; /* nothing but 0xFF came back */
    for (int i = 0; i < SYNC_FRAMES; i++) {
        st = ch341a_xfer(c, tx, sizeof tx, rx, sizeof rx, err);
        if (st)
            return st;
        look(o, rx, sizeof rx);
        o->echo |= echo_pattern(rx, sizeof rx);
        for (size_t k = 0; k < sizeof rx; k++)
            quiet &= rx[k] == 0xFF;
    }
    static const uint8_t probe[4] = {0x9F, 0x00, 0x00, 0x00};
    uint8_t pr[4];
    st = ch341a_xfer(c, probe, sizeof probe, pr, sizeof pr, err);
    if (st)
        return st;
    look(o, pr, sizeof pr);
    bool probe_ok = pr[0] != 0x00 && !pr[1] && !pr[2] && !pr[3];
    o->probe_ok |= probe_ok;
    fl_logf(ev, FL_LOG_DEBUG, "SPI response: %02X-%02X-%02X-%02X%s", pr[0], pr[1], pr[2], pr[3],
            probe_ok ? " (the sync-phase echo)" : "");
    for (size_t k = 0; k < sizeof pr; k++)
        quiet &= pr[k] == 0xFF;
    if (!quiet) { /* flush: gives the chip time to switch to flash mode (B.2.2) */
        memset(tx, 0x00, sizeof tx);
        for (int i = 0; i < FLUSH_FRAMES; i++) {
            st = ch341a_xfer(c, tx, sizeof tx, NULL, sizeof tx, err);
            if (st)
                return st;
        }
    }
    st = fl_spi25_rdid(f, id, err);
    if (st)
        return st;
    look(o, id + 1, 3);
    memcpy(o->last_id, id, 4);
    *ok = id[1] != 0x00 && id[1] != 0xFF;
    return FL_OK;
}

static fl_status diagnose(const observed *o, unsigned attempts, fl_error *err)
{
    const uint8_t *id = o->last_id;
    if (o->ff == o->bytes)
        return fl_fail(err, FL_ERR_NO_BUS,
                       "Beken SPI mode: no SPI response in %u attempts, MISO read 0xFF on every "
                       "byte: check the SCK/MOSI/MISO/CS wiring (P20/P22/P23/P21) and 3.3 V power; "
                       "if they are right, CEN is not wired to CH341A D2 (the chip never reset, "
                       "so the sync was never echoed) or the chip is held in reset",
                       attempts);
    if (o->zero == o->bytes)
        return fl_fail(err, FL_ERR_NO_BUS,
                       "Beken SPI mode: no SPI response in %u attempts, MISO stuck at 0x00 on "
                       "every byte: check the MISO (P23) wiring and 3.3 V power",
                       attempts);
    if (o->echo || o->probe_ok)
        return fl_fail(err, FL_ERR_NO_BUS,
                       "Beken SPI mode: the chip answered the CEN reset (its boot window echoed "
                       "the 0xD2 sync) but never switched to flash mode in %u attempts (JEDEC ID "
                       "read %02X %02X %02X): the sync was not accepted; try again after a power "
                       "cycle",
                       attempts, id[1], id[2], id[3]);
    return fl_fail(err, FL_ERR_NO_BUS,
                   "Beken SPI mode: sync never echoed in %u attempts (MISO carried data, last "
                   "JEDEC read %02X %02X %02X): CEN is not wired to CH341A D2 or the chip is held "
                   "in reset",
                   attempts, id[1], id[2], id[3]);
}

fl_status fl_beken_spi_enter(ch341a *c, fl_spi25 *f, const fl_events *ev, unsigned attempts,
                             uint8_t jedec_reply[4], fl_error *err)
{
    observed o;
    memset(&o, 0, sizeof o);
    if (!attempts)
        attempts = 1;
    for (unsigned i = 0; i < attempts; i++) {
        if (fl_cancelled(ev))
            return fl_fail(err, FL_ERR_CANCELLED, "Beken SPI sync cancelled");
        if (i)
            ch341a_delay_us(c, BEKEN_SPI_RETRY_US);
        fl_logf(ev, FL_LOG_INFO, "Beken SPI-mode sync, attempt %u of %u", i + 1, attempts);
        bool ok = false;
        uint8_t id[4];
        fl_status st = attempt(c, f, ev, &o, &ok, id, err);
        if (st) {
            fl_error e;
            (void)ch341a_release(c, &e);
            return fl_fail_prefix(err, "Beken SPI-mode sync");
        }
        if (ok) {
            fl_logf(ev, FL_LOG_INFO, "Beken SPI mode entered: JEDEC ID %02X %02X %02X", id[1], id[2],
                    id[3]);
            memcpy(jedec_reply, id, 4);
            return FL_OK;
        }
        fl_logf(ev, FL_LOG_WARN, "Beken SPI-mode sync attempt %u failed (JEDEC ID %02X %02X %02X)",
                i + 1, id[1], id[2], id[3]);
    }
    return diagnose(&o, attempts, err);
}

fl_status fl_beken_spi_exit(ch341a *c, const fl_events *ev, fl_error *err)
{
    fl_error e;
    (void)ch341a_release(c, &e);
    fl_status st = cen_pulse(c, ev, err);
    if (!st)
        fl_logf(ev, FL_LOG_INFO, "CEN pulsed without sync: the chip boots its firmware");
    return st;
}
