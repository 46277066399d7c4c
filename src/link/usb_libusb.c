/* usb_libusb.c — PLACEHOLDER until the libusb transport lands (issue 8, helper usb). */
#include <stdlib.h>

#include "link/usb_impl.h"

fl_status fl_usb_open_libusb(const char *selector, const char *url, fl_usb **out, fl_error *err)
{
    *out = NULL;
    return fl_fail(err, FL_ERR_LINK, "%s: USB programmers are not supported yet", url);
}

fl_status fl_usb_list_libusb(fl_usb_device_info **devs, size_t *count, fl_error *err)
{
    *devs = NULL;
    *count = 0;
    return FL_OK;
}
