/* reset.h — getting an ESP into its ROM download mode and out of it again.
 *
 * Wiring assumed (the "classic" two-transistor auto-reset of dev boards, as
 * esptool's reset.py drives it): RTS asserted pulls EN low (chip in reset)
 * unless DTR is asserted too; DTR asserted pulls the boot strap (IO0, GPIO9
 * on C-series) low unless RTS is asserted too.  The strap is sampled when EN
 * rises: low = ROM download mode, high = the firmware boots. */
#ifndef FL_DRIVERS_ESP_ROM_RESET_H
#define FL_DRIVERS_ESP_ROM_RESET_H

#include "drivers/esp_rom/proto.h"

/* esptool's ClassicReset: EN low 100 ms with IO0 high, then IO0 low while EN
 * rises, IO0 released after `boot_hold_s` (0.05, or 0.55 for slow boards). */
fl_status esp_classic_reset(esp_rom *e, double boot_hold_s, fl_error *err);

/* esptool's HardReset: an RTS pulse with IO0 released: the firmware starts. */
fl_status esp_hard_reset(esp_rom *e, fl_error *err);

/* Get the loader's attention at 115200 (or at the rate an earlier session
 * left it at) the way o->reset says, within o->link_timeout_s:
 *   none    the chip is already in download mode: SYNC only;
 *   pulse   (and reboot) the classic DTR/RTS reset, then SYNC, repeated;
 *   manual  ask the operator to hold BOOT and reset, then SYNC until the limit;
 *   auto    a quick SYNC, two classic resets, then as manual.
 * The ROM's boot text is read on the way: a unit that booted its firmware
 * (boot:0x.. without "waiting for download") is named in the error. */
fl_status esp_connect(esp_rom *e, const fl_flash_opts *o, fl_error *err);

#endif
