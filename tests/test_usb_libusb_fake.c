/* test_usb_libusb_fake.c — the libusb transport against a fake libusb.
 *
 * This program defines the libusb-1.0 functions usb_libusb.c calls; the
 * linker takes an executable's own definitions before the shared library's,
 * so the transport code runs unchanged against the fake below.  The fake
 * has a configurable set of CH341As (bus-port path, serial, open/claim
 * results, a kernel driver) and a device model for streams: each 32-byte
 * OUT packet of the form A8+n bytes yields one n-byte reply packet, which
 * queued IN transfers take in order.  It can go mute or be unplugged
 * mid-stream.  What it checks: device choice and its errors, detach and
 * re-attach, claim and release, and that a stream keeps several IN
 * transfers in flight, reassembles replies in order, and never leaves a
 * transfer in flight when it returns (error paths included). */
#include <libusb.h>
#include <stdbool.h>
#include <time.h>

#include "link/usb.h"
#include "testlib.h"

/* --- the fake libusb ------------------------------------------------------- */

struct libusb_context {
    int unused;
};

struct libusb_device {
    uint8_t bus, ports[7];
    int nports;
    const char *serial;
    int open_rc, claim_rc, detach_rc;
    bool kernel_driver; /* bound to interface 0 */
};

struct libusb_device_handle {
    struct libusb_device *dev;
};

#define MAX_XFERS 128

static struct libusb_device fake_devs[4];
static int fake_ndevs;
static int contexts_open, handles_open, claimed;
static int detached, reattached;

/* stream model */
static struct libusb_transfer *in_flight[MAX_XFERS]; /* submission order */
static int nflight, max_in_flight_in, max_in_flight_out, outs_submitted;
static uint8_t replies[4096][32];
static int reply_len[4096], reply_head, reply_tail;
static bool mute;            /* device never answers */
static int unplug_after = -1; /* OUT packets until the device vanishes */
static bool gone;
static uint8_t last_control_type;

static void fake_reset(void)
{
    memset(fake_devs, 0, sizeof fake_devs);
    fake_ndevs = 0;
    nflight = max_in_flight_in = max_in_flight_out = outs_submitted = 0;
    reply_head = reply_tail = 0;
    mute = gone = false;
    unplug_after = -1;
    detached = reattached = 0;
}

static struct libusb_device *fake_add(uint8_t bus, const uint8_t *ports, int nports,
                                      const char *serial)
{
    struct libusb_device *d = &fake_devs[fake_ndevs++];
    d->bus = bus;
    memcpy(d->ports, ports, (size_t)nports);
    d->nports = nports;
    d->serial = serial;
    return d;
}

int libusb_init(libusb_context **ctx)
{
    *ctx = calloc(1, sizeof **ctx);
    contexts_open++;
    return 0;
}

void libusb_exit(libusb_context *ctx)
{
    free(ctx);
    contexts_open--;
}

ssize_t libusb_get_device_list(libusb_context *ctx, libusb_device ***list)
{
    *list = calloc((size_t)fake_ndevs + 1, sizeof **list);
    for (int i = 0; i < fake_ndevs; i++)
        (*list)[i] = &fake_devs[i];
    return fake_ndevs;
}

void libusb_free_device_list(libusb_device **list, int unref) { free(list); }

int libusb_get_device_descriptor(libusb_device *dev, struct libusb_device_descriptor *desc)
{
    memset(desc, 0, sizeof *desc);
    desc->idVendor = 0x1a86;
    desc->idProduct = 0x5512;
    desc->iSerialNumber = dev->serial ? 3 : 0;
    return 0;
}

uint8_t libusb_get_bus_number(libusb_device *dev) { return dev->bus; }

int libusb_get_port_numbers(libusb_device *dev, uint8_t *ports, int len)
{
    memcpy(ports, dev->ports, (size_t)dev->nports);
    return dev->nports;
}

int libusb_open(libusb_device *dev, libusb_device_handle **h)
{
    if (dev->open_rc)
        return dev->open_rc;
    *h = calloc(1, sizeof **h);
    (*h)->dev = dev;
    handles_open++;
    return 0;
}

void libusb_close(libusb_device_handle *h)
{
    free(h);
    handles_open--;
}

int libusb_get_configuration(libusb_device_handle *h, int *config)
{
    *config = 1;
    return 0;
}

int libusb_get_string_descriptor_ascii(libusb_device_handle *h, uint8_t index, unsigned char *data,
                                       int length)
{
    snprintf((char *)data, (size_t)length, "%s", h->dev->serial ? h->dev->serial : "");
    return (int)strlen((char *)data);
}

int libusb_kernel_driver_active(libusb_device_handle *h, int iface) { return h->dev->kernel_driver; }

int libusb_detach_kernel_driver(libusb_device_handle *h, int iface)
{
    if (h->dev->detach_rc)
        return h->dev->detach_rc;
    h->dev->kernel_driver = false;
    detached++;
    return 0;
}

int libusb_attach_kernel_driver(libusb_device_handle *h, int iface)
{
    h->dev->kernel_driver = true;
    reattached++;
    return 0;
}

int libusb_claim_interface(libusb_device_handle *h, int iface)
{
    if (h->dev->claim_rc)
        return h->dev->claim_rc;
    claimed++;
    return 0;
}

int libusb_release_interface(libusb_device_handle *h, int iface)
{
    claimed--;
    return 0;
}

struct libusb_transfer *libusb_alloc_transfer(int iso) { return calloc(1, sizeof(struct libusb_transfer)); }

void libusb_free_transfer(struct libusb_transfer *t)
{
    for (int i = 0; i < nflight; i++)
        CHECK(in_flight[i] != t, "a transfer was freed while in flight");
    free(t);
}

static int in_count(void)
{
    int n = 0;
    for (int i = 0; i < nflight; i++)
        n += (in_flight[i]->endpoint & 0x80) != 0;
    return n;
}

int libusb_submit_transfer(struct libusb_transfer *t)
{
    if (gone)
        return LIBUSB_ERROR_NO_DEVICE;
    in_flight[nflight++] = t;
    t->status = -1; /* not yet complete */
    if (in_count() > max_in_flight_in)
        max_in_flight_in = in_count();
    if (nflight - in_count() > max_in_flight_out)
        max_in_flight_out = nflight - in_count();
    outs_submitted += !(t->endpoint & 0x80);
    return 0;
}

int libusb_cancel_transfer(struct libusb_transfer *t)
{
    t->status = LIBUSB_TRANSFER_CANCELLED;
    return 0;
}

static void finish_transfer(int i, enum libusb_transfer_status status, int actual)
{
    struct libusb_transfer *t = in_flight[i];
    memmove(&in_flight[i], &in_flight[i + 1], (size_t)(nflight - i - 1) * sizeof in_flight[0]);
    nflight--;
    t->status = status;
    t->actual_length = actual;
    t->callback(t);
}

/* The device's answer to one OUT transfer: one reply packet per A8 packet
 * (its payload, inverted, so a test sees that data went through the model). */
static void device_takes_out(const uint8_t *data, int len, int *accepted)
{
    *accepted = 0;
    for (int off = 0; off < len; off += 32) {
        if (unplug_after == 0) {
            gone = true;
            return;
        }
        if (unplug_after > 0)
            unplug_after--;
        int n = len - off < 32 ? len - off : 32;
        *accepted += n;
        if (data[off] != 0xA8 || mute)
            continue;
        for (int k = 1; k < n; k++)
            replies[reply_tail][k - 1] = (uint8_t)~data[off + k];
        reply_len[reply_tail++] = n - 1;
    }
}

int libusb_handle_events_timeout_completed(libusb_context *ctx, struct timeval *tv, int *completed)
{
    bool progress = false;
    /* cancelled first, then a vanished device fails all, then normal work */
    for (int i = 0; i < nflight;) {
        if (in_flight[i]->status == LIBUSB_TRANSFER_CANCELLED || gone) {
            finish_transfer(i, gone && in_flight[i]->status != LIBUSB_TRANSFER_CANCELLED
                                   ? LIBUSB_TRANSFER_NO_DEVICE
                                   : LIBUSB_TRANSFER_CANCELLED,
                            0);
            progress = true;
        } else {
            i++;
        }
    }
    for (int i = 0; i < nflight;) {
        struct libusb_transfer *t = in_flight[i];
        if (!(t->endpoint & 0x80)) {
            int accepted;
            device_takes_out(t->buffer, t->length, &accepted);
            if (gone)
                return 0; /* the next call fails what is left */
            finish_transfer(i, LIBUSB_TRANSFER_COMPLETED, accepted);
            progress = true;
        } else if (reply_head < reply_tail) {
            int n = reply_len[reply_head];
            if (n > t->length) {
                finish_transfer(i, LIBUSB_TRANSFER_OVERFLOW, 0);
            } else {
                memcpy(t->buffer, replies[reply_head], (size_t)n);
                finish_transfer(i, LIBUSB_TRANSFER_COMPLETED, n);
            }
            reply_head++;
            progress = true;
        } else {
            i++;
        }
    }
    if (!progress) { /* nothing can happen: wait (briefly) like a real event loop */
        struct timespec ts = {0, 2000000};
        if (tv->tv_sec == 0 && tv->tv_usec < 2000)
            ts.tv_nsec = tv->tv_usec * 1000;
        nanosleep(&ts, NULL);
    }
    return 0;
}

int libusb_bulk_transfer(libusb_device_handle *h, unsigned char ep, unsigned char *data, int length,
                         int *actual, unsigned int timeout)
{
    *actual = 0;
    if (gone)
        return LIBUSB_ERROR_NO_DEVICE;
    if (!(ep & 0x80)) {
        device_takes_out(data, length, actual);
        return 0;
    }
    if (reply_head == reply_tail)
        return LIBUSB_ERROR_TIMEOUT;
    int n = reply_len[reply_head];
    memcpy(data, replies[reply_head++], (size_t)(n < length ? n : length));
    *actual = n < length ? n : length;
    return 0;
}

int libusb_control_transfer(libusb_device_handle *h, uint8_t type, uint8_t request, uint16_t value,
                            uint16_t index, unsigned char *data, uint16_t len, unsigned int timeout)
{
    last_control_type = type;
    if (type & 0x80)
        memset(data, 0x30, len);
    return len;
}

/* --- tests ------------------------------------------------------------------- */

static bool has(const char *msg, const char *part) { return strstr(msg, part) != NULL; }

static fl_usb *open_ok(const char *url)
{
    fl_usb *u = NULL;
    fl_error err = {0};
    fl_status st = fl_usb_open(url, &u, &err);
    CHECK(st == FL_OK && u, "open %s: %s", url, err.msg);
    return st == FL_OK ? u : NULL;
}

static void test_open_only_one(void)
{
    fake_reset();
    fake_add(1, (const uint8_t[]){4, 2}, 2, NULL);
    fl_usb *u = open_ok("ch341a");
    if (!u)
        return;
    CHECK_STR(u->where, "bus 1 port 4.2");
    CHECK_STR(u->ops->kind, "libusb");
    CHECK_STR(u->url, "ch341a");
    CHECK(claimed == 1 && detached == 0, "claimed %d detached %d", claimed, detached);
    fl_usb_close(u);
    CHECK(claimed == 0 && handles_open == 0 && contexts_open == 0,
          "after close: claimed %d handles %d contexts %d", claimed, handles_open, contexts_open);
    CHECK(reattached == 0, "nothing to re-attach");
}

static void test_choose_among_several(void)
{
    fake_reset();
    fake_add(3, (const uint8_t[]){1}, 1, "B");
    fake_add(1, (const uint8_t[]){4, 2}, 2, "A");
    fl_usb *u = NULL;
    fl_error err = {0};
    CHECK(fl_usb_open("ch341a", &u, &err) == FL_ERR_LINK && !u, "two: must pick");
    CHECK(has(err.msg, "2 CH341A programmers") && has(err.msg, "(ch341a:1-4.2, ch341a:3-1)") &&
              has(err.msg, "--port ch341a:BUS-PORT"),
          "%s", err.msg);
    CHECK(contexts_open == 0 && handles_open == 0, "nothing left open after an error");

    u = open_ok("ch341a:3-1");
    if (u) {
        CHECK_STR(u->where, "bus 3 port 1");
        fl_usb_close(u);
    }
    u = open_ok("ch341a:serial=A");
    if (u) {
        CHECK_STR(u->where, "bus 1 port 4.2");
        fl_usb_close(u);
    }
    CHECK(fl_usb_open("ch341a:1-4", &u, &err) == FL_ERR_LINK, "1-4 is not 1-4.2");
    CHECK(has(err.msg, "no CH341A programmer at ch341a:1-4 (plugged in: ch341a:1-4.2, ch341a:3-1)"),
          "%s", err.msg);
    CHECK(fl_usb_open("ch341a:serial=C", &u, &err) == FL_ERR_LINK && has(err.msg, "serial C"),
          "%s", err.msg);
    CHECK(handles_open == 0 && contexts_open == 0, "handles %d contexts %d", handles_open,
          contexts_open);
}

static void test_permission_busy_driver(void)
{
    fake_reset();
    struct libusb_device *d = fake_add(2, (const uint8_t[]){5}, 1, NULL);
    d->open_rc = LIBUSB_ERROR_ACCESS;
    fl_usb *u = NULL;
    fl_error err = {0};
    CHECK(fl_usb_open("ch341a", &u, &err) == FL_ERR_LINK, "permission");
    CHECK(has(err.msg, "bus 2 port 5: permission denied") &&
              has(err.msg, "/etc/udev/rules.d/60-flashline-ch341a.rules"),
          "%s", err.msg);

    fl_usb_device_info *devs;
    size_t n;
    CHECK(fl_usb_list(&devs, &n, &err) == FL_OK && n == 1, "list");
    if (n == 1) {
        CHECK_STR(devs[0].url, "ch341a:2-5");
        CHECK(has(devs[0].problem, "permission denied: see src/link/udev/60-flashline-ch341a.rules"),
              "%s", devs[0].problem);
        free(devs);
    }

    d->open_rc = 0;
    d->claim_rc = LIBUSB_ERROR_BUSY;
    CHECK(fl_usb_open("ch341a", &u, &err) == FL_ERR_LINK, "busy");
    CHECK(has(err.msg, "busy: another program (flashrom? ch341prog? a second flashline?) has it"),
          "%s", err.msg);
    CHECK(handles_open == 0 && contexts_open == 0, "busy: handle closed");

    d->claim_rc = 0;
    d->kernel_driver = true;
    d->detach_rc = LIBUSB_ERROR_ACCESS;
    CHECK(fl_usb_open("ch341a", &u, &err) == FL_ERR_LINK, "driver will not let go");
    CHECK(has(err.msg, "claimed by kernel driver"), "%s", err.msg);

    d->detach_rc = 0;
    u = open_ok("ch341a:2-5");
    CHECK(detached == 1, "kernel driver detached");
    fl_usb_close(u);
    CHECK(reattached == 1 && d->kernel_driver, "and given back on close");
}

/* n SPI packets: A8 + 31 bytes each, the last with `last` bytes. */
static size_t build_stream(uint8_t *out, int full, int last)
{
    size_t len = 0;
    for (int p = 0; p <= full; p++) {
        int n = p < full ? 31 : last;
        if (n == 0)
            break;
        out[len++] = 0xA8;
        for (int k = 0; k < n; k++)
            out[len++] = (uint8_t)(p * 31 + k);
    }
    return len;
}

static void check_stream(unsigned depth)
{
    fake_reset();
    fake_add(1, (const uint8_t[]){1}, 1, NULL);
    fl_usb *u = open_ok("ch341a");
    if (!u)
        return;
    uint8_t out[64 * 32], in[64 * 31];
    size_t out_len = build_stream(out, 40, 7);
    size_t in_len = 40 * 31 + 7;
    fl_error err = {0};
    memset(in, 0, sizeof in);
    fl_status st = fl_usb_stream(u, out, out_len, 32, in, in_len, 31, depth, 1000, &err);
    CHECK(st == FL_OK, "depth %u: %s", depth, err.msg);
    bool same = true;
    for (size_t i = 0; i < in_len; i++)
        same = same && in[i] == (uint8_t)~(uint8_t)i;
    CHECK(same, "depth %u: replies in order", depth);
    CHECK(max_in_flight_in == (int)depth, "depth %u: at most %d IN in flight", depth,
          max_in_flight_in);
    CHECK(nflight == 0, "nothing left in flight");
    fl_usb_close(u);
}

static void test_stream_in_flight(void)
{
    check_stream(1);
    check_stream(8);
    check_stream(32);
}

/* Pieces that end on a short packet (a 1-byte SPI command) go as OUT
 * transfers of their own, queued several deep; whole-packet pieces stay one
 * transfer. */
static void test_stream_pieces(void)
{
    fake_reset();
    fake_add(1, (const uint8_t[]){1}, 1, NULL);
    fl_usb *u = open_ok("ch341a");
    if (!u)
        return;
    enum { PIECES = 6, PIECE = 32 + 2 };
    uint8_t out[PIECES * PIECE], in[PIECES * 32];
    size_t in_len = 0;
    for (int p = 0; p < PIECES; p++) {
        uint8_t *q = out + p * PIECE;
        q[0] = 0xA8;
        for (int k = 0; k < 31; k++)
            q[1 + k] = (uint8_t)(p * 32 + k);
        q[32] = 0xA8;
        q[33] = (uint8_t)(p * 32 + 31);
        in_len += 32;
    }
    fl_error err = {0};
    fl_status st = fl_usb_stream(u, out, sizeof out, PIECE, in, in_len, 31, 8, 1000, &err);
    CHECK(st == FL_OK, "%s", err.msg);
    bool same = true;
    for (size_t i = 0; i < in_len; i++)
        same = same && in[i] == (uint8_t)~(uint8_t)i;
    CHECK(same, "replies in order across pieces");
    CHECK(outs_submitted == PIECES, "one OUT transfer per piece (%d)", outs_submitted);
    CHECK(max_in_flight_out > 1, "the next piece is queued behind the running one (%d)",
          max_in_flight_out);
    CHECK(nflight == 0, "nothing left in flight");
    outs_submitted = 0;
    uint8_t whole[3 * 32], back[3 * 31];
    for (int p = 0; p < 3; p++) {
        whole[p * 32] = 0xA8;
        memset(whole + p * 32 + 1, p, 31);
    }
    st = fl_usb_stream(u, whole, sizeof whole, 64, back, sizeof back, 31, 8, 1000, &err);
    CHECK(st == FL_OK && outs_submitted == 1, "whole-packet pieces: one transfer (%d)",
          outs_submitted);
    fl_usb_close(u);
}

static void test_stream_mute_times_out(void)
{
    fake_reset();
    fake_add(1, (const uint8_t[]){1}, 1, NULL);
    fl_usb *u = open_ok("ch341a");
    if (!u)
        return;
    mute = true;
    uint8_t out[32 * 4], in[31 * 4];
    size_t out_len = build_stream(out, 4, 0);
    fl_error err = {0};
    CHECK(fl_usb_stream(u, out, out_len, 32, in, sizeof in, 31, 4, 30, &err) == FL_ERR_TIMEOUT,
          "%s", err.msg);
    CHECK(has(err.msg, "no answer within 30 ms"), "%s", err.msg);
    CHECK(has(err.msg, " in: CH341A at ") && !has(err.msg, ": :"),
          "one separator between the stream and the cause: %s", err.msg);
    CHECK(nflight == 0, "every IN transfer cancelled and reaped: %d left", nflight);
    /* the device is usable again afterwards */
    mute = false;
    CHECK(fl_usb_stream(u, out, out_len, 32, in, sizeof in, 31, 4, 1000, &err) == FL_OK, "%s",
          err.msg);
    fl_usb_close(u);
}

static void test_stream_unplugged(void)
{
    fake_reset();
    fake_add(1, (const uint8_t[]){1}, 1, NULL);
    fl_usb *u = open_ok("ch341a");
    if (!u)
        return;
    unplug_after = 3;
    uint8_t out[32 * 10], in[31 * 10];
    size_t out_len = build_stream(out, 10, 0);
    fl_error err = {0};
    CHECK(fl_usb_stream(u, out, out_len, 32, in, sizeof in, 31, 8, 1000, &err) == FL_ERR_LINK,
          "%s", err.msg);
    CHECK(has(err.msg, "the programmer went away (unplugged?)"), "%s", err.msg);
    CHECK(nflight == 0, "nothing left in flight: %d", nflight);
    CHECK(fl_usb_bulk_out(u, out, 32, 100, &err) == FL_ERR_LINK && has(err.msg, "went away"),
          "%s", err.msg);
    fl_usb_close(u);
    CHECK(handles_open == 0 && contexts_open == 0, "closed after unplug");
}

static void test_sync_calls(void)
{
    fake_reset();
    fake_add(1, (const uint8_t[]){1}, 1, NULL);
    fl_usb *u = open_ok("ch341a");
    if (!u)
        return;
    fl_error err = {0};
    uint8_t pkt[5] = {0xA8, 1, 2, 3, 4}, buf[32];
    size_t got = 0;
    CHECK(fl_usb_bulk_out(u, pkt, sizeof pkt, 100, &err) == FL_OK, "%s", err.msg);
    CHECK(fl_usb_bulk_in(u, buf, sizeof buf, &got, 100, &err) == FL_OK && got == 4 &&
              buf[0] == 0xFE && buf[3] == 0xFB,
          "got %zu", got);
    CHECK(fl_usb_bulk_in(u, buf, sizeof buf, &got, 100, &err) == FL_ERR_TIMEOUT && got == 0,
          "nothing more: %s", err.msg);
    CHECK(fl_usb_control(u, true, 0x5F, 0, 0, buf, 2, &got, 100, &err) == FL_OK && got == 2 &&
              last_control_type == 0xC0,
          "vendor read type 0x%02x", last_control_type);
    CHECK(fl_usb_control(u, false, 0xB2, 0, 0, NULL, 0, NULL, 100, &err) == FL_OK &&
              last_control_type == 0x40,
          "vendor write type 0x%02x", last_control_type);
    uint64_t t0 = fl_usb_now_us(u);
    fl_usb_delay_us(u, 3000);
    CHECK(fl_usb_now_us(u) - t0 >= 3000, "delay_us sleeps at least that long");
    fl_usb_close(u);
}

int main(void)
{
    RUN(test_open_only_one);
    RUN(test_choose_among_several);
    RUN(test_permission_busy_driver);
    RUN(test_stream_in_flight);
    RUN(test_stream_pieces);
    RUN(test_stream_mute_times_out);
    RUN(test_stream_unplugged);
    RUN(test_sync_calls);
    return testlib_finish();
}
