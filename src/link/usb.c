/* usb.c — choosing the USB transport from a port URL, and the calls every
 * implementation shares. */
#include <stdlib.h>
#include <string.h>

#include "link/usb_impl.h"

#define CH341A_SCHEME "ch341a"

bool fl_usb_is_url(const char *port)
{
    size_t n = strlen(CH341A_SCHEME);
    return port && !strncmp(port, CH341A_SCHEME, n) && (port[n] == '\0' || port[n] == ':');
}

fl_status fl_usb_open(const char *url, fl_usb **out, fl_error *err)
{
    *out = NULL;
    if (!fl_usb_is_url(url))
        return fl_fail(err, FL_ERR_USAGE,
                       "'%s' is not a USB programmer (expected ch341a, ch341a:BUS-PORT, "
                       "ch341a:serial=TEXT or 'ch341a:sim?target=CHIP&flash=FILE')",
                       url ? url : "(none)");
    const char *rest = url + strlen(CH341A_SCHEME);
    if (*rest == ':')
        rest++;
    if (!strncmp(rest, "sim", 3) && (rest[3] == '\0' || rest[3] == '?'))
        return fl_usb_open_emulator(rest[3] == '?' ? rest + 4 : "", url, out, err);
    return fl_usb_open_libusb(rest, url, out, err);
}

void fl_usb_close(fl_usb *u)
{
    if (u)
        u->ops->close(u);
}

fl_status fl_usb_bulk_out(fl_usb *u, const uint8_t *data, size_t len, unsigned timeout_ms,
                          fl_error *err)
{
    return u->ops->bulk_out(u, data, len, timeout_ms, err);
}

fl_status fl_usb_bulk_in(fl_usb *u, uint8_t *buf, size_t len, size_t *got, unsigned timeout_ms,
                         fl_error *err)
{
    return u->ops->bulk_in(u, buf, len, got, timeout_ms, err);
}

fl_status fl_usb_control(fl_usb *u, bool in, uint8_t request, uint16_t value, uint16_t index,
                         uint8_t *data, uint16_t len, size_t *got, unsigned timeout_ms,
                         fl_error *err)
{
    return u->ops->control(u, in, request, value, index, data, len, got, timeout_ms, err);
}

fl_status fl_usb_stream(fl_usb *u, const uint8_t *out, size_t out_len, size_t packet,
                        uint8_t *in, size_t in_len, size_t reply_per_packet, unsigned depth,
                        unsigned timeout_ms, fl_error *err)
{
    return u->ops->stream(u, out, out_len, packet, in, in_len, reply_per_packet, depth,
                          timeout_ms, err);
}

void fl_usb_delay_us(fl_usb *u, uint64_t us)
{
    u->ops->delay_us(u, us);
}

uint64_t fl_usb_now_us(fl_usb *u)
{
    return u->ops->now_us(u);
}

fl_status fl_usb_list(fl_usb_device_info **devs, size_t *count, fl_error *err)
{
    return fl_usb_list_libusb(devs, count, err);
}
