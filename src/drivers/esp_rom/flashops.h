/* flashops.h — moving bytes and proving them through the ROM loader.
 *
 *   write  sectors that already hold the data are skipped (the ROM's MD5 per
 *          sector); the other bytes of partial sectors are kept (read first);
 *          each run of sectors: FLASH_BEGIN (the ROM erases it) then FLASH_DATA
 *          0x400-byte blocks (the last padded 0xFF, trailing erased blocks not
 *          sent), with the next blocks in flight while the ROM programs; then
 *          the ROM's MD5 of every run against the host's.  No FLASH_END: on a
 *          ROM it leaves the loader (esptool sends none either).
 *   read   READ_FLASH_SLOW, 64 bytes a command, several in flight; every 4 KiB
 *          sector proven by the ROM's MD5 of it, re-read when it differs.
 *   erase  a write of erased bytes: FLASH_BEGIN over the runs, no data, the
 *          range's MD5 equal to that of erased flash.
 *   verify the ROM's MD5 per sector against the host's.
 * A lost or garbled reply makes the run (write) or sector (read) start again
 * from the first unproven sector after the line went quiet: whatever the
 * ROM did with a repeated block, the re-erase and the MD5 check decide.
 * ESP8266 ROM and Secure Download Mode: no read, no MD5 - reads and verifies
 * are refused, writes must be sector-aligned and are checked by the ROM's
 * per-block checksum only. */
#ifndef FL_DRIVERS_ESP_ROM_FLASHOPS_H
#define FL_DRIVERS_ESP_ROM_FLASHOPS_H

#include "drivers/esp_rom/proto.h"

/* Can this ROM read flash and compute MD5s (not the ESP8266's, not in SDM)? */
bool esp_can_read(const esp_rom *e);

fl_status esp_op_write(esp_rom *e, uint32_t addr, const uint8_t *data, uint32_t len,
                       fl_error *err);
fl_status esp_op_read(esp_rom *e, uint32_t addr, uint32_t len, uint8_t *out, fl_error *err);
fl_status esp_op_erase(esp_rom *e, uint32_t addr, uint32_t len, fl_error *err);
fl_status esp_op_verify(esp_rom *e, uint32_t addr, const uint8_t *data, uint32_t len,
                        uint32_t *bad_addr, fl_error *err);
/* Start the firmware: an RTS pulse (esptool's hard reset) when the session
 * got the loader by a DTR/RTS reset (so RTS reaches EN), else the ROM's "run
 * user code" (an empty FLASH_BEGIN, then FLASH_END(1): esptool's soft reset). */
fl_status esp_op_reboot(esp_rom *e, fl_error *err);

#endif
