/* usb_libusb.h — the parts of the libusb transport that need no hardware:
 * reading a CH341A selector, writing a bus-port path, and turning libusb
 * error codes into flashline statuses and operator messages.  Private to
 * src/link (usb_libusb.c) and its unit test. */
#ifndef FL_LINK_USB_LIBUSB_H
#define FL_LINK_USB_LIBUSB_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* libusb_get_port_numbers() gives at most 7 (USB 3 hub depth limit). */
#define FL_USB_MAX_PORTS 7

/* The udev rule the project ships, and where it goes: named in every
 * "permission denied" message so the operator can fix it in one step. */
#define FL_USB_UDEV_RULE_SRC "src/link/udev/60-flashline-ch341a.rules"
#define FL_USB_UDEV_RULE_DST "/etc/udev/rules.d/60-flashline-ch341a.rules"

typedef enum fl_usb_select_by {
    FL_USB_SELECT_ONLY,   /* "": the only CH341A on the station */
    FL_USB_SELECT_PATH,   /* "1-4.2": bus 1, port 4 then hub port 2 */
    FL_USB_SELECT_SERIAL, /* "serial=TEXT": the iSerialNumber string */
} fl_usb_select_by;

typedef struct fl_usb_selector {
    fl_usb_select_by by;
    uint8_t bus;
    uint8_t ports[FL_USB_MAX_PORTS];
    int nports;
    char serial[64];
} fl_usb_selector;

/* Parse the text after "ch341a:" (NULL or "" = the only one).  A malformed
 * selector is FL_ERR_USAGE with a message that shows the accepted forms. */
fl_status fl_usb_selector_parse(const char *text, fl_usb_selector *sel, fl_error *err);

/* "1-4.2" from bus 1 and ports {4, 2}: the form selectors and `ports` use. */
void fl_usb_path_format(uint8_t bus, const uint8_t *ports, int nports, char *buf, size_t cap);

/* Where in the life of a device a libusb call failed: the same code means
 * different things (ACCESS at open is a udev rule, BUSY at claim is another
 * program, NO_DEVICE during a transfer is an unplug). */
typedef enum fl_usb_step {
    FL_USB_STEP_OPEN,
    FL_USB_STEP_DETACH,
    FL_USB_STEP_CLAIM,
    FL_USB_STEP_TRANSFER,
} fl_usb_step;

/* Record the failure of a libusb call (a negative LIBUSB_ERROR_* code) as a
 * one-line message in *err and return its status.  where: "bus 1 port 4.2";
 * driver: the kernel driver's name (STEP_DETACH), or NULL; timeout_ms: the
 * timeout that ran out (STEP_TRANSFER).  Statuses: FL_ERR_TIMEOUT for a
 * timeout, FL_ERR_INTERNAL for out of memory, FL_ERR_PROTOCOL for a device
 * that sent more than asked, FL_ERR_LINK for everything else. */
fl_status fl_usb_libusb_fail(fl_error *err, int code, fl_usb_step step, const char *where,
                             const char *driver, unsigned timeout_ms);

/* The LIBUSB_ERROR_* code that an asynchronous transfer's final status
 * (LIBUSB_TRANSFER_*) stands for, so both paths share one message table. */
int fl_usb_transfer_status_code(int transfer_status);

#endif
