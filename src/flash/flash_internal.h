/* flash_internal.h — the session struct, shared by flash.c and flash_proven.c
 * only (front ends see flash.h's opaque fl_flash). */
#ifndef FL_FLASH_INTERNAL_H
#define FL_FLASH_INTERNAL_H

#include "flash/driver.h"
#include "flash/flash.h"

struct fl_flash {
    const fl_driver *drv;
    fl_driver_session *s;
    fl_identity id;
    bool allow_bootloader;
    fl_after_mode after;
    bool rebooted; /* fl_flash_reboot started the firmware; nothing ran since */
    const fl_events *ev;
};

/* A session and, for len > 0, a buffer (a usage error otherwise). */
fl_status fl_flash_check_call(fl_flash *f, const void *buf, uint32_t len, const char *what,
                              fl_error *err);

#endif
