/* session.h — after the loader answered: which chip it is, whether it may
 * be touched, its flash, the baud rate, its MAC (esptool's connect(),
 * flash_id(), change_baud(), read_mac()). */
#ifndef FL_DRIVERS_ESP_ROM_SESSION_H
#define FL_DRIVERS_ESP_ROM_SESSION_H

#include "drivers/esp_rom/proto.h"

/* Tell the chip (GET_SECURITY_INFO's chip ID, else the magic word at
 * 0x40001000) and check it is e->t: FL_ERR_CHIP naming both when not.
 * Then its security: flash encryption or secure boot enabled is
 * FL_ERR_REFUSED (nothing has been written); Secure Download Mode sets e->sdm. */
fl_status esp_identify(esp_rom *e, fl_error *err);

/* SPI_ATTACH (ESP8266: an empty FLASH_BEGIN), the JEDEC ID through the SPI
 * controller's registers (two reads that agree), the flash size from it and
 * SPI_SET_PARAMS.  In Secure Download Mode the ID cannot be read: the chip
 * table's default size is taken, with a warning. */
fl_status esp_attach_flash(esp_rom *e, fl_error *err);

/* CHANGE_BAUDRATE to `baud`, proven by a READ_REG (a SYNC in Secure Download
 * Mode) at the new rate; when that fails, back to 115200 with a log line. */
fl_status esp_set_baud(esp_rom *e, uint32_t baud, fl_error *err);
/* --baud max: climb from the current rate, keep the highest whose data
 * transfer holds; e->baud_max_failed the first that did not. */
fl_status esp_set_baud_max(esp_rom *e, fl_error *err);

/* The factory MAC from the eFuses (OTP on ESP8266), as esptool's read_mac. */
fl_status esp_read_mac(esp_rom *e, uint8_t mac[6], fl_error *err);

/* Connect, identify, attach, set the rate: the whole of opening. */
fl_status esp_start(esp_rom *e, const fl_flash_opts *o, fl_error *err);
/* After reboot(): back into download mode the way the session was opened. */
fl_status esp_ensure_loader(esp_rom *e, fl_error *err);

/* The unit reset in the middle of an operation (a brown-out, its watchdog):
 * take the loader again the way the session was opened, attach the flash,
 * restore the rate.  Counted in e->resets; the caller redoes its unproven part. */
fl_status esp_regain(esp_rom *e, fl_error *err);

#endif
