/* ch341a_emu.c — PLACEHOLDER until the CH341A emulator lands (issue 8, helper emu). */
#include "link/usb_impl.h"

fl_status fl_usb_open_emulator(const char *query, const char *url, fl_usb **out, fl_error *err)
{
    *out = NULL;
    return fl_fail(err, FL_ERR_LINK, "%s: the CH341A emulator is not built yet", url);
}
