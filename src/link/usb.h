/* usb.h — a USB device as a programmer driver sees it: bulk OUT, bulk IN,
 * vendor control requests, and one pipelined "stream" call that keeps
 * several transfers in flight.  Two implementations sit behind it:
 *   - libusb-1.0 for real programmers (usb_libusb.c);
 *   - the in-process CH341A emulator (sim/ch341a/), for tests and rehearsal.
 *
 * URLs choose the device (today: CH341A programmers, VID:PID 1a86:5512):
 *   ch341a                         the only CH341A on the station (two or more: an error
 *                                  that lists them and how to pick one)
 *   ch341a:BUS-PORT[.PORT…]        the one on this USB bus/port path ("1-4.2"), as
 *                                  `flashline ports` shows it
 *   ch341a:serial=TEXT             the one with this iSerial string
 *   ch341a:sim?target=CHIP&flash=FILE[&jedec=HEX][&timescale=X][&…]
 *                                  the emulator (options: sim/ch341a/ch341a_sim.h)
 *
 * Every call is bounded by its timeout; a device that went away is
 * FL_ERR_LINK, a timeout FL_ERR_TIMEOUT.  Calls never print. */
#ifndef FL_LINK_USB_H
#define FL_LINK_USB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct fl_usb fl_usb;

typedef struct fl_usb_ops {
    const char *kind; /* "libusb", "emulator" */
    /* One bulk OUT transfer of `len` bytes (USB splits it into max-packet chunks). */
    fl_status (*bulk_out)(fl_usb *u, const uint8_t *data, size_t len, unsigned timeout_ms,
                          fl_error *err);
    /* One bulk IN transfer: up to `len` bytes, *got what arrived (a short
     * packet ends it).  Nothing within timeout_ms is FL_ERR_TIMEOUT. */
    fl_status (*bulk_in)(fl_usb *u, uint8_t *buf, size_t len, size_t *got, unsigned timeout_ms,
                         fl_error *err);
    /* A vendor control request; `in` selects the direction (device to host).
     * *got (may be NULL) is the count transferred. */
    fl_status (*control)(fl_usb *u, bool in, uint8_t request, uint16_t value, uint16_t index,
                         uint8_t *data, uint16_t len, size_t *got, unsigned timeout_ms,
                         fl_error *err);
    /* Transfers in flight: send `out` (whole packets of `packet` bytes, the
     * last one may be short) while keeping up to `depth` IN transfers of
     * `reply_per_packet` bytes queued, until `in_len` reply bytes are in `in`.
     * A device that replies to every OUT packet with `reply_per_packet`
     * bytes (the CH341A's SPI stream) is then limited by the bus, not by a
     * round trip per packet. */
    fl_status (*stream)(fl_usb *u, const uint8_t *out, size_t out_len, size_t packet,
                        uint8_t *in, size_t in_len, size_t reply_per_packet, unsigned depth,
                        unsigned timeout_ms, fl_error *err);
    /* Time as the device sees it: a real programmer lives in wall-clock time;
     * the emulator keeps a virtual clock that transfers and delays advance
     * (and sleeps timescale x that in real time).  Drivers wait and measure
     * timeouts only through these, so the same driver code is exact on both. */
    void (*delay_us)(fl_usb *u, uint64_t us);
    uint64_t (*now_us)(fl_usb *u);
    void (*close)(fl_usb *u);
} fl_usb_ops;

struct fl_usb {
    const fl_usb_ops *ops;
    char url[256];
    char where[96]; /* "bus 1 port 4.2" or "emulator": what the audit log records */
    void *impl;
};

/* Open the device a URL names (see above).  Errors are one line that says
 * what to do: not found, permission denied (naming the udev rule file the
 * project ships), claimed by a kernel driver or another program. */
fl_status fl_usb_open(const char *url, fl_usb **out, fl_error *err);
void fl_usb_close(fl_usb *u);

/* Does this port text name a USB programmer (starts with "ch341a")? */
bool fl_usb_is_url(const char *port);

fl_status fl_usb_bulk_out(fl_usb *u, const uint8_t *data, size_t len, unsigned timeout_ms,
                          fl_error *err);
fl_status fl_usb_bulk_in(fl_usb *u, uint8_t *buf, size_t len, size_t *got, unsigned timeout_ms,
                         fl_error *err);
fl_status fl_usb_control(fl_usb *u, bool in, uint8_t request, uint16_t value, uint16_t index,
                         uint8_t *data, uint16_t len, size_t *got, unsigned timeout_ms,
                         fl_error *err);
fl_status fl_usb_stream(fl_usb *u, const uint8_t *out, size_t out_len, size_t packet,
                        uint8_t *in, size_t in_len, size_t reply_per_packet, unsigned depth,
                        unsigned timeout_ms, fl_error *err);

void fl_usb_delay_us(fl_usb *u, uint64_t us);
uint64_t fl_usb_now_us(fl_usb *u);

/* One programmer as `flashline ports` lists it. */
typedef struct fl_usb_device_info {
    char url[64];          /* "ch341a:1-4.2": what --port takes */
    char description[96];  /* "CH341A USB-SPI programmer" */
    int vid, pid;
    char serial[64];       /* "" when the device has none or it cannot be read */
    char path[32];         /* "1-4.2" */
    char problem[160];     /* "" or why it cannot be opened now (permission, driver) */
} fl_usb_device_info;

/* Fills *devs (malloc'd) with the CH341A programmers found; *count may be 0.
 * No libusb context (no USB on this machine) is an empty list, not an error. */
fl_status fl_usb_list(fl_usb_device_info **devs, size_t *count, fl_error *err);

#endif
