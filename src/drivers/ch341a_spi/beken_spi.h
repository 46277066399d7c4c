/* beken_spi.h — Beken BK7231/BK7252 "SPI mode" through a CH341A: reset the
 * chip with CEN (CH341A D2), stream the 0xD2 sync, and its internal flash
 * answers as a plain 25-series SPI NOR (spec ch341-spi-and-obk-config.md
 * B.1-B.4).  Leaving is a CEN pulse with no sync: the chip boots. */
#ifndef FL_DRIVERS_CH341A_SPI_BEKEN_SPI_H
#define FL_DRIVERS_CH341A_SPI_BEKEN_SPI_H

#include "drivers/ch341a_spi/ch341a.h"
#include "drivers/ch341a_spi/spi25.h"
#include "util/error.h"
#include "util/events.h"

#define BEKEN_SPI_ATTEMPTS 10      /* the GUI tool's */
#define BEKEN_SPI_CEN_LOW_US 100000u
#define BEKEN_SPI_RETRY_US 1000000u

/* Up to `attempts` times (B.2.3): CEN low 100 ms, high; 10 frames of 25 x
 * 0xD2; probe `9F 00 00 00` (the sync-phase echo: nonzero, 00, 00, 00);
 * 1000 frames of 25 x 0x00; then a JEDEC read must give a plausible ID
 * (reply in jedec_reply).  On failure the error is a diagnosis:
 *   FL_ERR_NO_BUS  MISO stuck (0xFF or 0x00 on every byte): wiring / power,
 *                  or CEN not reaching the chip so it never answered;
 *   FL_ERR_NO_BUS  the chip echoed the sync (it was reset) but never switched
 *                  to flash mode.  Transport failures keep their own codes. */
fl_status fl_beken_spi_enter(ch341a *c, fl_spi25 *f, const fl_events *ev, unsigned attempts,
                             uint8_t jedec_reply[4], fl_error *err);

/* CEN low 100 ms, then high with no sync bytes: the chip boots its firmware. */
fl_status fl_beken_spi_exit(ch341a *c, const fl_events *ev, fl_error *err);

#endif
