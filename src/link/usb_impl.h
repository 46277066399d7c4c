/* usb_impl.h — constructors of the USB transports (private to src/link and
 * the emulator that implements one of them). */
#ifndef FL_LINK_USB_IMPL_H
#define FL_LINK_USB_IMPL_H

#include "link/usb.h"

/* A real CH341A through libusb-1.0 (usb_libusb.c).  selector: "" (the only
 * one), "BUS-PORT[.PORT…]" or "serial=TEXT". */
fl_status fl_usb_open_libusb(const char *selector, const char *url, fl_usb **out, fl_error *err);
/* The CH341A emulator (sim/ch341a/): query "target=CHIP&flash=FILE&…". */
fl_status fl_usb_open_emulator(const char *query, const char *url, fl_usb **out, fl_error *err);
/* CH341A programmers libusb can see (usb_libusb.c). */
fl_status fl_usb_list_libusb(fl_usb_device_info **devs, size_t *count, fl_error *err);

#endif
