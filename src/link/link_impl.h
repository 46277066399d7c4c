/* link_impl.h — constructors of the transports (private to src/link). */
#ifndef FL_LINK_IMPL_H
#define FL_LINK_IMPL_H

#include "link/link.h"

/* hostport: "host:port"; rfc2217 selects Telnet COM-PORT control. */
fl_status fl_link_open_net(const char *hostport, bool rfc2217, const char *url, fl_link **out,
                           fl_error *err);
fl_status fl_link_open_serial(const char *name, fl_link **out, fl_error *err);
/* A tty through plain termios (link_tty.c); takes ownership of fd (an open tty,
 * O_NONBLOCK), closing it on failure. */
fl_status fl_link_open_tty(int fd, const char *name, fl_link **out, fl_error *err);
/* spec: "CHIP[?query]" */
fl_status fl_link_open_sim(const char *spec, const char *url, fl_link **out, fl_error *err);

#endif
