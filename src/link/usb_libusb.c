/* usb_libusb.c — real CH341A programmers through libusb-1.0.
 *
 * Every opened device has its own libusb context, so several workers (one
 * thread per programmer on a station) never share event handling or locks.
 * The open sequence follows the spec (A.1, A.11): find 1a86:5512, open,
 * detach a kernel driver if one is bound, claim interface 0.  `stream` keeps
 * IN transfers queued while the OUT transfer runs, as flashrom's ch341a_spi
 * does, because the CH341A answers every 32-byte SPI packet with one short
 * reply packet: one round trip per packet would cap throughput at one packet
 * per USB frame pair. */
#include <errno.h>
#include <limits.h>
#include <libusb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "link/usb_impl.h"
#include "link/usb_libusb.h"

#define CH341A_VID 0x1a86
#define CH341A_PID 0x5512
#define CH341A_IFACE 0
#define EP_OUT 0x02 /* bulk "data block download" */
#define EP_IN 0x82  /* bulk "data block upload" */
#define MAX_DEPTH 64 /* IN transfers in flight; flashrom finds 32 enough */
/* OUT transfers in flight when a stream's pieces end on short packets: the
 * next piece is queued behind the running one, so the host controller starts
 * it right after the short packet instead of after a completion round trip. */
#define OUT_DEPTH 4
#define MAX_PACKET 32 /* the CH341A's bulk endpoints */
/* How long to wait for cancelled transfers to come back before giving up
 * on them (they are then leaked, never freed while libusb may touch them). */
#define CANCEL_REAP_MS 5000

#define NOT_FOUND_MSG                                                                   \
    "no CH341A programmer found: plug it in with its jumper in the SPI/I2C position, " \
    "or see `flashline ports`"
#define PERMISSION_HINT                                                                   \
    "install the udev rule flashline ships (copy " FL_USB_UDEV_RULE_SRC " to "           \
    FL_USB_UDEV_RULE_DST ", run `udevadm control --reload && udevadm trigger` as root), " \
    "then replug the programmer"

/* --- selectors, paths, error messages (no hardware needed) ----------------- */

static fl_status selector_usage(fl_error *err, const char *text)
{
    return fl_fail(err, FL_ERR_USAGE,
                   "'ch341a:%s' is not a CH341A selector: use ch341a (the only one), "
                   "ch341a:BUS-PORT[.PORT...] as `flashline ports` shows it (e.g. ch341a:1-4.2) "
                   "or ch341a:serial=TEXT",
                   text);
}

/* One decimal number 1..255 at *p, no sign, no leading zero; advances *p. */
static bool parse_path_number(const char **p, uint8_t *value)
{
    const char *s = *p;
    if (*s < '1' || *s > '9')
        return false;
    unsigned v = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (unsigned)(*s++ - '0');
        if (v > 255)
            return false;
    }
    *value = (uint8_t)v;
    *p = s;
    return true;
}

fl_status fl_usb_selector_parse(const char *text, fl_usb_selector *sel, fl_error *err)
{
    memset(sel, 0, sizeof *sel);
    if (!text || !*text) {
        sel->by = FL_USB_SELECT_ONLY;
        return FL_OK;
    }
    if (!strncmp(text, "serial=", 7)) {
        const char *serial = text + 7;
        if (!*serial || strlen(serial) >= sizeof sel->serial)
            return selector_usage(err, text);
        sel->by = FL_USB_SELECT_SERIAL;
        strcpy(sel->serial, serial);
        return FL_OK;
    }
    const char *p = text;
    if (!parse_path_number(&p, &sel->bus) || *p++ != '-')
        return selector_usage(err, text);
    for (;;) {
        if (sel->nports == FL_USB_MAX_PORTS || !parse_path_number(&p, &sel->ports[sel->nports]))
            return selector_usage(err, text);
        sel->nports++;
        if (*p == '\0')
            break;
        if (*p++ != '.')
            return selector_usage(err, text);
    }
    sel->by = FL_USB_SELECT_PATH;
    return FL_OK;
}

void fl_usb_path_format(uint8_t bus, const uint8_t *ports, int nports, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%u", bus);
    for (int i = 0; i < nports && n >= 0 && (size_t)n < cap; i++)
        n += snprintf(buf + n, cap - (size_t)n, "%c%u", i ? '.' : '-', ports[i]);
}

int fl_usb_transfer_status_code(int transfer_status)
{
    switch (transfer_status) {
    case LIBUSB_TRANSFER_COMPLETED: return LIBUSB_SUCCESS;
    case LIBUSB_TRANSFER_ERROR: return LIBUSB_ERROR_IO;
    case LIBUSB_TRANSFER_TIMED_OUT: return LIBUSB_ERROR_TIMEOUT;
    case LIBUSB_TRANSFER_CANCELLED: return LIBUSB_ERROR_INTERRUPTED;
    case LIBUSB_TRANSFER_STALL: return LIBUSB_ERROR_PIPE;
    case LIBUSB_TRANSFER_NO_DEVICE: return LIBUSB_ERROR_NO_DEVICE;
    case LIBUSB_TRANSFER_OVERFLOW: return LIBUSB_ERROR_OVERFLOW;
    default: return LIBUSB_ERROR_OTHER;
    }
}

static const char *step_name(fl_usb_step step)
{
    switch (step) {
    case FL_USB_STEP_OPEN: return "opening it";
    case FL_USB_STEP_DETACH: return "detaching its kernel driver";
    case FL_USB_STEP_CLAIM: return "claiming interface 0";
    default: return "a transfer";
    }
}

fl_status fl_usb_libusb_fail(fl_error *err, int code, fl_usb_step step, const char *where,
                             const char *driver, unsigned timeout_ms)
{
    const char *at = where && *where ? where : "?";
    const char *name = libusb_error_name(code);
    if (step == FL_USB_STEP_DETACH && code != LIBUSB_ERROR_NO_DEVICE)
        return fl_fail(err, FL_ERR_LINK,
                       "CH341A at %s is claimed by kernel driver %s: it cannot be detached (%s); "
                       "unload it (`rmmod %s`) or unbind it, then retry",
                       at, driver && *driver ? driver : "(unknown)", name,
                       driver && *driver ? driver : "<driver>");
    switch (code) {
    case LIBUSB_ERROR_ACCESS:
        return fl_fail(err, FL_ERR_LINK, "CH341A at %s: permission denied while %s: " PERMISSION_HINT,
                       at, step_name(step));
    case LIBUSB_ERROR_BUSY:
        return fl_fail(err, FL_ERR_LINK,
                       "CH341A at %s is busy: another program (flashrom? ch341prog? a second "
                       "flashline?) has it",
                       at);
    case LIBUSB_ERROR_NO_DEVICE:
    case LIBUSB_ERROR_IO:
    case LIBUSB_ERROR_PIPE:
        return fl_fail(err, FL_ERR_LINK,
                       "CH341A at %s: the programmer went away (unplugged?) during %s (%s)", at,
                       step_name(step), name);
    case LIBUSB_ERROR_TIMEOUT:
        return fl_fail(err, FL_ERR_TIMEOUT, "CH341A at %s: no answer within %u ms during %s", at,
                       timeout_ms, step_name(step));
    case LIBUSB_ERROR_NO_MEM:
        return fl_fail(err, FL_ERR_INTERNAL, "CH341A at %s: out of memory in libusb during %s",
                       at, step_name(step));
    case LIBUSB_ERROR_OVERFLOW:
        return fl_fail(err, FL_ERR_PROTOCOL,
                       "CH341A at %s sent more than the reply length asked for (%s): driver and "
                       "device disagree",
                       at, name);
    case LIBUSB_ERROR_NOT_SUPPORTED:
        return fl_fail(err, FL_ERR_LINK,
                       "CH341A at %s: libusb cannot do %s on this system (%s; is usbfs mounted?)",
                       at, step_name(step), name);
    default:
        return fl_fail(err, FL_ERR_LINK, "CH341A at %s: %s failed (%s)", at, step_name(step),
                       name);
    }
}

/* --- finding devices --------------------------------------------------------- */

typedef struct candidate {
    libusb_device *dev;
    uint8_t bus;
    uint8_t ports[FL_USB_MAX_PORTS];
    int nports;
    char path[32]; /* "1-4.2" */
} candidate;

static bool is_ch341a(libusb_device *dev)
{
    struct libusb_device_descriptor d;
    return libusb_get_device_descriptor(dev, &d) == 0 && d.idVendor == CH341A_VID &&
           d.idProduct == CH341A_PID;
}

static int candidate_order(const void *a, const void *b)
{
    const candidate *x = a, *y = b;
    if (x->bus != y->bus)
        return x->bus - y->bus;
    for (int i = 0; i < x->nports && i < y->nports; i++)
        if (x->ports[i] != y->ports[i])
            return x->ports[i] - y->ports[i];
    return x->nports - y->nports;
}

/* The CH341As in `list`, sorted by bus-port path so listings are stable.
 * *out is malloc'd (NULL when none). */
static fl_status collect_candidates(libusb_device **list, ssize_t n, candidate **out,
                                    size_t *count, fl_error *err)
{
    *out = NULL;
    *count = 0;
    candidate *c = calloc(n > 0 ? (size_t)n : 1, sizeof *c);
    if (!c)
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory listing USB devices");
    size_t k = 0;
    for (ssize_t i = 0; i < n; i++) {
        if (!is_ch341a(list[i]))
            continue;
        candidate *cd = &c[k++];
        cd->dev = list[i];
        cd->bus = libusb_get_bus_number(list[i]);
        int np = libusb_get_port_numbers(list[i], cd->ports, FL_USB_MAX_PORTS);
        cd->nports = np > 0 ? np : 0;
        fl_usb_path_format(cd->bus, cd->ports, cd->nports, cd->path, sizeof cd->path);
    }
    qsort(c, k, sizeof *c, candidate_order);
    *out = c;
    *count = k;
    return FL_OK;
}

static void where_text(const candidate *c, char *buf, size_t cap)
{
    const char *dash = strchr(c->path, '-');
    snprintf(buf, cap, "bus %u port %s", c->bus, dash ? dash + 1 : "?");
}

/* The iSerialNumber string, or "" when there is none or it cannot be read. */
static void read_serial(libusb_device *dev, libusb_device_handle *h, char *buf, size_t cap)
{
    struct libusb_device_descriptor d;
    buf[0] = '\0';
    if (libusb_get_device_descriptor(dev, &d) || !d.iSerialNumber)
        return;
    if (libusb_get_string_descriptor_ascii(h, d.iSerialNumber, (unsigned char *)buf, (int)cap) < 0)
        buf[0] = '\0';
}

/* "ch341a:1-4, ch341a:1-5" for error messages. */
static void list_urls(const candidate *c, size_t n, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < cap; i++) {
        int w = snprintf(buf + used, cap - used, "%sch341a:%s", i ? ", " : "", c[i].path);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

/* Which candidate the selector names; opens it when reading serials needed
 * to (then *handle is set).  Errors are one line: not found, ambiguous. */
static fl_status choose(const fl_usb_selector *sel, const char *url, candidate *c, size_t n,
                        size_t *chosen, libusb_device_handle **handle, fl_error *err)
{
    char found[512];
    list_urls(c, n, found, sizeof found);
    *handle = NULL;
    if (sel->by == FL_USB_SELECT_ONLY) {
        if (n == 0)
            return fl_fail(err, FL_ERR_LINK, NOT_FOUND_MSG);
        if (n > 1)
            return fl_fail(err, FL_ERR_LINK,
                           "%zu CH341A programmers are plugged in (%s): pick one with "
                           "--port ch341a:BUS-PORT",
                           n, found);
        *chosen = 0;
        return FL_OK;
    }
    if (sel->by == FL_USB_SELECT_PATH) {
        for (size_t i = 0; i < n; i++)
            if (c[i].bus == sel->bus && c[i].nports == sel->nports &&
                !memcmp(c[i].ports, sel->ports, (size_t)sel->nports)) {
                *chosen = i;
                return FL_OK;
            }
        return fl_fail(err, FL_ERR_LINK, "no CH341A programmer at %s (%s%s); see `flashline ports`",
                       url, n ? "plugged in: " : "none is plugged in", found);
    }
    size_t unreadable = 0;
    for (size_t i = 0; i < n; i++) {
        libusb_device_handle *h;
        if (libusb_open(c[i].dev, &h)) {
            unreadable++;
            continue;
        }
        char serial[64];
        read_serial(c[i].dev, h, serial, sizeof serial);
        if (!strcmp(serial, sel->serial)) {
            *chosen = i;
            *handle = h;
            return FL_OK;
        }
        libusb_close(h);
    }
    if (unreadable)
        return fl_fail(err, FL_ERR_LINK,
                       "no CH341A programmer with serial %s among those readable; %zu could not "
                       "be opened (permission denied?): " PERMISSION_HINT,
                       sel->serial, unreadable);
    return fl_fail(err, FL_ERR_LINK, "no CH341A programmer with serial %s (%s%s); see `flashline ports`",
                   sel->serial, n ? "plugged in: " : "none is plugged in", found);
}

/* The name of the kernel driver bound to interface 0, from sysfs. */
static void kernel_driver_name(const candidate *c, libusb_device_handle *h, char *buf, size_t cap)
{
    int config = 1;
    if (libusb_get_configuration(h, &config) || config <= 0)
        config = 1;
    char link[128], target[256];
    snprintf(link, sizeof link, "/sys/bus/usb/devices/%s:%d.%d/driver", c->path, config,
             CH341A_IFACE);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0) {
        snprintf(buf, cap, "(unknown)");
        return;
    }
    target[n] = '\0';
    const char *base = strrchr(target, '/');
    snprintf(buf, cap, "%s", base ? base + 1 : target);
}

/* --- the opened device --------------------------------------------------------- */

enum { SLOT_IDLE, SLOT_ACTIVE, SLOT_DONE };

typedef struct slot {
    struct libusb_transfer *xfer;
    int state;
    int status; /* LIBUSB_TRANSFER_* once SLOT_DONE */
    int actual;
    size_t asked;
} slot;

typedef struct lu_dev {
    fl_usb base;
    libusb_context *ctx;
    libusb_device_handle *h;
    bool reattach; /* a kernel driver was detached: give it back on close */
    bool stuck;    /* transfers that never came back: never free them */
    slot out[OUT_DEPTH];
    slot in[MAX_DEPTH];
} lu_dev;

static lu_dev *dev_of(fl_usb *u) { return u->impl; }

static unsigned bounded_timeout(unsigned timeout_ms)
{
    return timeout_ms ? timeout_ms : 1; /* libusb takes 0 as "wait forever" */
}

static fl_status lu_bulk_out(fl_usb *u, const uint8_t *data, size_t len, unsigned timeout_ms,
                             fl_error *err)
{
    lu_dev *d = dev_of(u);
    if (len > INT_MAX)
        return fl_fail(err, FL_ERR_INTERNAL, "bulk OUT of %zu bytes is too long", len);
    int done = 0;
    /* libusb does not write to an OUT buffer; its API just is not const. */
    int rc = libusb_bulk_transfer(d->h, EP_OUT, (unsigned char *)data, (int)len, &done,
                                  bounded_timeout(timeout_ms));
    if (rc)
        return fl_usb_libusb_fail(err, rc, FL_USB_STEP_TRANSFER, u->where, NULL, timeout_ms);
    if ((size_t)done != len)
        return fl_fail(err, FL_ERR_LINK, "CH341A at %s took only %d of %zu bytes", u->where, done,
                       len);
    return FL_OK;
}

static fl_status lu_bulk_in(fl_usb *u, uint8_t *buf, size_t len, size_t *got, unsigned timeout_ms,
                            fl_error *err)
{
    lu_dev *d = dev_of(u);
    *got = 0;
    if (len > INT_MAX)
        return fl_fail(err, FL_ERR_INTERNAL, "bulk IN of %zu bytes is too long", len);
    int n = 0;
    int rc = libusb_bulk_transfer(d->h, EP_IN, buf, (int)len, &n, bounded_timeout(timeout_ms));
    *got = n > 0 ? (size_t)n : 0;
    if (rc == LIBUSB_ERROR_TIMEOUT && n > 0)
        return FL_OK; /* something arrived: the caller decides whether it is enough */
    if (rc)
        return fl_usb_libusb_fail(err, rc, FL_USB_STEP_TRANSFER, u->where, NULL, timeout_ms);
    return FL_OK;
}

static fl_status lu_control(fl_usb *u, bool in, uint8_t request, uint16_t value, uint16_t index,
                            uint8_t *data, uint16_t len, size_t *got, unsigned timeout_ms,
                            fl_error *err)
{
    lu_dev *d = dev_of(u);
    uint8_t type = LIBUSB_REQUEST_TYPE_VENDOR | LIBUSB_RECIPIENT_DEVICE |
                   (in ? LIBUSB_ENDPOINT_IN : LIBUSB_ENDPOINT_OUT); /* 0xC0 / 0x40 */
    if (got)
        *got = 0;
    int rc = libusb_control_transfer(d->h, type, request, value, index, data, len,
                                     bounded_timeout(timeout_ms));
    if (rc < 0)
        return fl_usb_libusb_fail(err, rc, FL_USB_STEP_TRANSFER, u->where, NULL, timeout_ms);
    if (got)
        *got = (size_t)rc;
    return FL_OK;
}

/* --- stream: transfers in flight ---------------------------------------------- */

static void LIBUSB_CALL on_transfer_done(struct libusb_transfer *t)
{
    slot *s = t->user_data;
    s->status = t->status;
    s->actual = t->actual_length;
    s->state = SLOT_DONE;
}

static fl_status alloc_transfers(lu_dev *d, fl_error *err)
{
    if (d->out[0].xfer)
        return FL_OK;
    bool ok = true;
    for (int i = 0; i < OUT_DEPTH; i++)
        ok = (d->out[i].xfer = libusb_alloc_transfer(0)) != NULL && ok;
    for (int i = 0; i < MAX_DEPTH; i++)
        d->in[i].xfer = libusb_alloc_transfer(0);
    for (int i = 0; i < MAX_DEPTH; i++)
        ok = ok && d->in[i].xfer;
    if (ok)
        return FL_OK;
    for (int i = 0; i < OUT_DEPTH; i++) {
        libusb_free_transfer(d->out[i].xfer);
        d->out[i].xfer = NULL;
    }
    for (int i = 0; i < MAX_DEPTH; i++) {
        libusb_free_transfer(d->in[i].xfer);
        d->in[i].xfer = NULL;
    }
    return fl_fail(err, FL_ERR_INTERNAL, "out of memory for USB transfers");
}

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* One stream call's bookkeeping. */
typedef struct stream_run {
    lu_dev *d;
    unsigned depth;
    uint8_t *bounce; /* depth x reply_per_packet: each IN transfer lands in its own part */
    size_t rpp;
    uint8_t *in;
    size_t in_len, collected, queued; /* queued: bytes asked by active IN transfers */
    unsigned next_free, next_done;    /* ring indexes into d->in[0..depth) */
    const uint8_t *out;
    size_t out_len, piece, out_sent, out_acked; /* OUT pieces submitted / completed */
    unsigned out_free, out_next;      /* ring indexes into d->out[] */
    bool out_done;
} stream_run;

static int submit(slot *s, libusb_device_handle *h, unsigned char ep, uint8_t *buf, size_t len)
{
    libusb_fill_bulk_transfer(s->xfer, h, ep, buf, (int)len, on_transfer_done, s, 0);
    s->asked = len;
    s->actual = 0;
    s->state = SLOT_ACTIVE;
    int rc = libusb_submit_transfer(s->xfer);
    if (rc)
        s->state = SLOT_IDLE;
    return rc;
}

/* Keep the next OUT pieces queued behind the running one. */
static int queue_outs(stream_run *r)
{
    while (r->out_sent < r->out_len && r->d->out[r->out_free].state == SLOT_IDLE) {
        size_t n = r->out_len - r->out_sent < r->piece ? r->out_len - r->out_sent : r->piece;
        int rc = submit(&r->d->out[r->out_free], r->d->h, EP_OUT, (uint8_t *)r->out + r->out_sent,
                        n);
        if (rc)
            return rc;
        r->out_sent += n;
        r->out_free = (r->out_free + 1) % OUT_DEPTH;
    }
    return 0;
}

/* Keep IN transfers queued until every reply byte is asked for.  Each asks
 * for a whole reply packet (rpp), even the last: replies may be shorter
 * than rpp anywhere in the stream (a 1-byte SPI command between full
 * packets), so the bytes still due say nothing about the size of the next
 * reply, and asking less could overflow.  Counting rpp per transfer never
 * queues more transfers than replies are due (none is left to steal the
 * next command's reply): each reply holds at most rpp bytes. */
static int queue_ins(stream_run *r)
{
    while (r->collected + r->queued < r->in_len && r->d->in[r->next_free].state == SLOT_IDLE) {
        size_t want = r->rpp;
        int rc = submit(&r->d->in[r->next_free], r->d->h, EP_IN,
                        r->bounce + (size_t)r->next_free * r->rpp, want);
        if (rc)
            return rc;
        r->queued += want;
        r->next_free = (r->next_free + 1) % r->depth;
    }
    return 0;
}

/* Take finished transfers, in the order they were queued (the order the
 * bytes arrive on the endpoint).  Returns a LIBUSB_ERROR_* code or 0;
 * *progress tells whether anything finished. */
static int harvest(stream_run *r, bool *progress)
{
    for (slot *o = &r->d->out[r->out_next]; o->state == SLOT_DONE; o = &r->d->out[r->out_next]) {
        o->state = SLOT_IDLE;
        *progress = true;
        if (o->status != LIBUSB_TRANSFER_COMPLETED)
            return fl_usb_transfer_status_code(o->status);
        if ((size_t)o->actual != o->asked)
            return LIBUSB_ERROR_IO;
        r->out_acked += o->asked;
        r->out_next = (r->out_next + 1) % OUT_DEPTH;
        r->out_done = r->out_acked == r->out_len;
    }
    for (slot *s = &r->d->in[r->next_done]; s->state == SLOT_DONE; s = &r->d->in[r->next_done]) {
        s->state = SLOT_IDLE;
        *progress = true;
        if (s->status != LIBUSB_TRANSFER_COMPLETED)
            return fl_usb_transfer_status_code(s->status);
        size_t got = (size_t)s->actual;
        if (got > r->in_len - r->collected)
            return LIBUSB_ERROR_OVERFLOW; /* more reply bytes than the stream expects */
        memcpy(r->in + r->collected, r->bounce + (size_t)r->next_done * r->rpp, got);
        r->collected += got;
        r->queued -= s->asked;
        r->next_done = (r->next_done + 1) % r->depth;
    }
    return 0;
}

static bool any_active(lu_dev *d)
{
    for (int i = 0; i < OUT_DEPTH; i++)
        if (d->out[i].state == SLOT_ACTIVE)
            return true;
    for (int i = 0; i < MAX_DEPTH; i++)
        if (d->in[i].state == SLOT_ACTIVE)
            return true;
    return false;
}

/* After an error: cancel what is in flight and wait until libusb hands every
 * transfer back, so none outlives the call (its buffers belong to it). */
static void cancel_and_reap(lu_dev *d)
{
    for (int i = 0; i < OUT_DEPTH; i++)
        if (d->out[i].state == SLOT_ACTIVE)
            libusb_cancel_transfer(d->out[i].xfer);
    for (int i = 0; i < MAX_DEPTH; i++)
        if (d->in[i].state == SLOT_ACTIVE)
            libusb_cancel_transfer(d->in[i].xfer);
    uint64_t give_up = mono_us() + CANCEL_REAP_MS * 1000u;
    while (any_active(d) && mono_us() < give_up) {
        struct timeval tv = {0, 100000};
        libusb_handle_events_timeout_completed(d->ctx, &tv, NULL);
    }
    if (any_active(d)) {
        d->stuck = true;
        return;
    }
    for (int i = 0; i < OUT_DEPTH; i++)
        d->out[i].state = SLOT_IDLE;
    for (int i = 0; i < MAX_DEPTH; i++)
        d->in[i].state = SLOT_IDLE;
}

/* Run the event loop until OUT is sent and in_len bytes are in.  timeout_ms
 * bounds the wait for each next completed transfer (as a per-transfer USB
 * timeout would), so long streams are not cut short by their own length. */
static int stream_loop(stream_run *r, unsigned timeout_ms, bool *timed_out)
{
    uint64_t deadline = mono_us() + (uint64_t)bounded_timeout(timeout_ms) * 1000u;
    for (;;) {
        int rc = queue_ins(r);
        if (!rc)
            rc = queue_outs(r);
        if (rc)
            return rc;
        if (r->out_done && r->collected >= r->in_len)
            return 0;
        uint64_t now = mono_us();
        if (now >= deadline) {
            *timed_out = true;
            return LIBUSB_ERROR_TIMEOUT;
        }
        uint64_t left = deadline - now;
        struct timeval tv = {(time_t)(left / 1000000u), (suseconds_t)(left % 1000000u)};
        rc = libusb_handle_events_timeout_completed(r->d->ctx, &tv, NULL);
        if (rc && rc != LIBUSB_ERROR_INTERRUPTED && rc != LIBUSB_ERROR_TIMEOUT)
            return rc;
        bool progress = false;
        rc = harvest(r, &progress);
        if (rc)
            return rc;
        if (progress)
            deadline = mono_us() + (uint64_t)bounded_timeout(timeout_ms) * 1000u;
    }
}

static fl_status lu_stream(fl_usb *u, const uint8_t *out, size_t out_len, size_t packet,
                           uint8_t *in, size_t in_len, size_t reply_per_packet, unsigned depth,
                           unsigned timeout_ms, fl_error *err)
{
    lu_dev *d = dev_of(u);
    if (d->stuck)
        return fl_fail(err, FL_ERR_LINK,
                       "CH341A at %s: earlier transfers never came back; close and reopen it",
                       u->where);
    if (out_len > INT_MAX || reply_per_packet > INT_MAX || (in_len && !reply_per_packet) ||
        (in_len && !in))
        return fl_fail(err, FL_ERR_INTERNAL,
                       "stream: bad lengths (out %zu, in %zu, reply per packet %zu)", out_len,
                       in_len, reply_per_packet);
    fl_status st = alloc_transfers(d, err);
    if (st)
        return st;
    stream_run r = {.d = d, .depth = depth < 1 ? 1 : depth > MAX_DEPTH ? MAX_DEPTH : depth,
                    .rpp = reply_per_packet, .in = in, .in_len = in_len, .out_done = out_len == 0};
    if (in_len) {
        r.bounce = malloc(r.depth * r.rpp);
        if (!r.bounce)
            return fl_fail(err, FL_ERR_INTERNAL, "out of memory for a USB stream");
    }
    /* The host controller splits an OUT transfer into max-packet (32-byte)
     * packets, which is exactly the CH341A's one-command-per-packet framing.
     * Pieces that are whole packets go as one transfer; pieces that end on a
     * short packet must each be a transfer of their own (a short packet ends
     * a transfer), queued OUT_DEPTH deep. */
    r.out = out;
    r.out_len = out_len;
    r.piece = packet && packet % MAX_PACKET ? packet : out_len;
    bool timed_out = false;
    int rc = stream_loop(&r, timeout_ms, &timed_out);
    if (rc)
        cancel_and_reap(d);
    if (!d->stuck)
        free(r.bounce); /* else libusb may still write into it: leak it instead */
    if (!rc)
        return FL_OK;
    fl_usb_libusb_fail(err, rc, FL_USB_STEP_TRANSFER, u->where, NULL, timeout_ms);
    return fl_fail_prefix(err, "streaming %zu bytes out, %zu in", out_len, in_len);
}

static void lu_delay_us(fl_usb *u, uint64_t us)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)(us / 1000000u);
    until.tv_nsec += (long)(us % 1000000u) * 1000;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    /* Absolute time: a signal that interrupts the sleep does not shorten it. */
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR) {
    }
}

static uint64_t lu_now_us(fl_usb *u) { return mono_us(); }

static void lu_close(fl_usb *u)
{
    lu_dev *d = dev_of(u);
    /* Transfers libusb never handed back still point into d: leaking the
     * whole device is the only safe thing (it does not happen in practice). */
    if (d->stuck)
        return;
    for (int i = 0; i < OUT_DEPTH; i++)
        libusb_free_transfer(d->out[i].xfer);
    for (int i = 0; i < MAX_DEPTH; i++)
        libusb_free_transfer(d->in[i].xfer);
    libusb_release_interface(d->h, CH341A_IFACE);
    if (d->reattach)
        libusb_attach_kernel_driver(d->h, CH341A_IFACE);
    libusb_close(d->h);
    libusb_exit(d->ctx);
    free(d);
}

static const fl_usb_ops libusb_ops = {
    .kind = "libusb",
    .bulk_out = lu_bulk_out,
    .bulk_in = lu_bulk_in,
    .control = lu_control,
    .stream = lu_stream,
    .delay_us = lu_delay_us,
    .now_us = lu_now_us,
    .close = lu_close,
};

/* --- open ------------------------------------------------------------------------ */

/* Detach a kernel driver from interface 0 (if bound) and claim it. */
static fl_status claim(lu_dev *d, const candidate *c, fl_error *err)
{
    int active = libusb_kernel_driver_active(d->h, CH341A_IFACE);
    if (active == 1) {
        int rc = libusb_detach_kernel_driver(d->h, CH341A_IFACE);
        if (rc) {
            char driver[64];
            kernel_driver_name(c, d->h, driver, sizeof driver);
            return fl_usb_libusb_fail(err, rc, FL_USB_STEP_DETACH, d->base.where, driver, 0);
        }
        d->reattach = true;
    }
    int rc = libusb_claim_interface(d->h, CH341A_IFACE);
    if (rc)
        return fl_usb_libusb_fail(err, rc, FL_USB_STEP_CLAIM, d->base.where, NULL, 0);
    return FL_OK;
}

static fl_status open_chosen(lu_dev *d, const candidate *c, libusb_device_handle *h,
                             fl_error *err)
{
    where_text(c, d->base.where, sizeof d->base.where);
    if (!h) {
        int rc = libusb_open(c->dev, &h);
        if (rc)
            return fl_usb_libusb_fail(err, rc, FL_USB_STEP_OPEN, d->base.where, NULL, 0);
    }
    d->h = h;
    fl_status st = claim(d, c, err);
    if (st) {
        if (d->reattach)
            libusb_attach_kernel_driver(h, CH341A_IFACE);
        libusb_close(h);
        d->h = NULL;
    }
    return st;
}

fl_status fl_usb_open_libusb(const char *selector, const char *url, fl_usb **out, fl_error *err)
{
    *out = NULL;
    fl_usb_selector sel;
    fl_status st = fl_usb_selector_parse(selector, &sel, err);
    if (st)
        return st;
    lu_dev *d = calloc(1, sizeof *d);
    if (!d)
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory opening %s", url);
    int rc = libusb_init(&d->ctx);
    if (rc) {
        free(d);
        return fl_fail(err, FL_ERR_LINK, NOT_FOUND_MSG " (USB is not reachable here: %s)",
                       libusb_error_name(rc));
    }
    libusb_device **list = NULL;
    ssize_t n = libusb_get_device_list(d->ctx, &list);
    candidate *c = NULL;
    size_t nc = 0, chosen = 0;
    libusb_device_handle *h = NULL;
    if (n < 0)
        st = fl_fail(err, FL_ERR_LINK, NOT_FOUND_MSG " (listing USB devices failed: %s)",
                     libusb_error_name((int)n));
    else
        st = collect_candidates(list, n, &c, &nc, err);
    if (!st)
        st = choose(&sel, url, c, nc, &chosen, &h, err);
    if (!st)
        st = open_chosen(d, &c[chosen], h, err);
    free(c);
    if (n >= 0)
        libusb_free_device_list(list, 1); /* an open handle keeps its own reference */
    if (st) {
        libusb_exit(d->ctx);
        free(d);
        return st;
    }
    d->base.ops = &libusb_ops;
    d->base.impl = d;
    fl_text_copy(d->base.url, sizeof d->base.url, url);
    *out = &d->base;
    return FL_OK;
}

/* --- list ------------------------------------------------------------------------ */

static void describe(const candidate *c, fl_usb_device_info *info)
{
    memset(info, 0, sizeof *info);
    snprintf(info->url, sizeof info->url, "ch341a:%s", c->path);
    snprintf(info->description, sizeof info->description, "CH341A USB-SPI programmer");
    info->vid = CH341A_VID;
    info->pid = CH341A_PID;
    snprintf(info->path, sizeof info->path, "%s", c->path);
    libusb_device_handle *h;
    int rc = libusb_open(c->dev, &h);
    if (rc == LIBUSB_ERROR_ACCESS) {
        snprintf(info->problem, sizeof info->problem,
                 "permission denied: see %s (install as %s)", FL_USB_UDEV_RULE_SRC,
                 FL_USB_UDEV_RULE_DST);
        return;
    }
    if (rc) {
        snprintf(info->problem, sizeof info->problem, "cannot be opened (%s)",
                 libusb_error_name(rc));
        return;
    }
    read_serial(c->dev, h, info->serial, sizeof info->serial);
    libusb_close(h);
}

fl_status fl_usb_list_libusb(fl_usb_device_info **devs, size_t *count, fl_error *err)
{
    *devs = NULL;
    *count = 0;
    libusb_context *ctx;
    if (libusb_init(&ctx))
        return FL_OK; /* no USB here (a container, no usbfs): nothing to list */
    libusb_device **list;
    ssize_t n = libusb_get_device_list(ctx, &list);
    if (n < 0) {
        libusb_exit(ctx);
        return FL_OK;
    }
    candidate *c;
    size_t nc;
    fl_status st = collect_candidates(list, n, &c, &nc, err);
    if (!st && nc) {
        *devs = calloc(nc, sizeof **devs);
        if (!*devs)
            st = fl_fail(err, FL_ERR_INTERNAL, "out of memory listing USB programmers");
    }
    for (size_t i = 0; !st && i < nc; i++)
        describe(&c[i], &(*devs)[i]);
    if (!st)
        *count = nc;
    free(c);
    libusb_free_device_list(list, 1);
    libusb_exit(ctx);
    return st;
}
