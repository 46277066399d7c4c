/* link.h — a byte stream to a chip's UART, with baud rate and DTR/RTS control.
 *
 * URLs choose the transport:
 *   /dev/ttyUSB0, serial:/dev/ttyUSB0, COM3   local port via libserialport; ptys
 *                                             (/dev/pts/N, socat links, `flashline sim
 *                                             --pty`) and ttys libserialport refuses go
 *                                             through plain termios (no DTR/RTS on a pty:
 *                                             has_lines is false)
 *   rfc2217://host:port                       Telnet COM-PORT control (ser2net, `flashline sim`)
 *   tcp://host:port                           raw bytes (UART-over-Wi-Fi bridges); no baud/lines
 *   sim:CHIP[?opt=val&...]                    starts the Beken simulator in-process on loopback
 *                                             and connects to it over rfc2217 (options: see
 *                                             fl_sim_options_from_query in sim/beken_sim.h)
 * A link starts at 115200 8N1 with DTR and RTS released. */
#ifndef FL_LINK_LINK_H
#define FL_LINK_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct fl_link fl_link;

typedef struct fl_link_ops {
    const char *kind; /* "serial", "rfc2217", "tcp" */
    fl_status (*write)(fl_link *l, const uint8_t *data, size_t len, fl_error *err);
    /* Read up to len bytes; waits at most timeout_s for the first byte and
     * returns what has arrived (*got may be 0 on timeout, which is not an
     * error).  A dead link is FL_ERR_LINK. */
    fl_status (*read)(fl_link *l, uint8_t *buf, size_t len, double timeout_s, size_t *got,
                      fl_error *err);
    fl_status (*set_baud)(fl_link *l, uint32_t baud, fl_error *err);
    /* dtr / rts: 1 asserted, 0 released, -1 unchanged. */
    fl_status (*set_lines)(fl_link *l, int dtr, int rts, fl_error *err);
    /* Block until everything written has left the host side. */
    fl_status (*drain)(fl_link *l, fl_error *err);
    void (*discard_input)(fl_link *l);
    void (*close)(fl_link *l);
} fl_link_ops;

struct fl_link {
    const fl_link_ops *ops;
    uint32_t baud;
    bool has_baud;  /* transport can change the baud rate */
    bool has_lines; /* transport can drive DTR/RTS */
    char url[256];
    void *owned_sim;      /* sim: URLs own an in-process simulator (stopped on close) */
    char *owned_sim_spec; /* and the option text it was created from */
};

fl_status fl_link_open(const char *url, fl_link **out, fl_error *err);
void fl_link_close(fl_link *l);

fl_status fl_link_write(fl_link *l, const void *data, size_t len, fl_error *err);
fl_status fl_link_read(fl_link *l, void *buf, size_t len, double timeout_s, size_t *got,
                       fl_error *err);
/* Read exactly len bytes or fail with FL_ERR_TIMEOUT after timeout_s overall. */
fl_status fl_link_read_exact(fl_link *l, void *buf, size_t len, double timeout_s, fl_error *err);
fl_status fl_link_set_baud(fl_link *l, uint32_t baud, fl_error *err);
fl_status fl_link_set_lines(fl_link *l, int dtr, int rts, fl_error *err);
fl_status fl_link_drain(fl_link *l, fl_error *err);
void fl_link_discard_input(fl_link *l);
/* Throw away input until the line has been quiet for quiet_s, for at most max_s in all:
 * bytes still in flight from an earlier session (an adapter's FIFO, a bridge, a chip
 * finishing an old reply) must never be taken for the answer to a new command.  The
 * cap keeps a chip whose application talks without pause from stalling the caller.
 * *dropped (may be NULL) counts the bytes thrown away; a dead link is FL_ERR_LINK. */
fl_status fl_link_drain_until_quiet(fl_link *l, double quiet_s, double max_s, size_t *dropped,
                                    fl_error *err);

/* One local serial port as `flashline ports` shows it. */
typedef struct fl_port_info {
    char name[128];
    char description[128];
    char transport[16]; /* "usb", "native", "bluetooth", ... */
    int usb_vid, usb_pid; /* -1 when not USB */
    char serial[64];
    char usb_path[32]; /* "bus-port" when known */
} fl_port_info;

/* Fills *ports (malloc'd) with the local ports; *count may be 0. */
fl_status fl_link_list_ports(fl_port_info **ports, size_t *count, fl_error *err);

#endif
