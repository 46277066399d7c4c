/* beken_rf.h — the Beken RF calibration sector (a "TLV" block in flash, at
 * fl_chip.rf_offset): where the chip's Wi-Fi MAC lives.  Shared by every
 * driver that reads the sector (UART loader, SPI mode). */
#ifndef FL_FORMATS_BEKEN_RF_H
#define FL_FORMATS_BEKEN_RF_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define FL_BEKEN_RF_MAC_OFFSET 0x24u

/* The MAC in a sector read from flash `offset` (for the message).
 * FL_ERR_FORMAT when the sector has no "TLV" header or no MAC record. */
fl_status fl_beken_rf_mac(const uint8_t *sector, size_t len, uint32_t offset, uint8_t mac[6],
                          fl_error *err);

#endif
