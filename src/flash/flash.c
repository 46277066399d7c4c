/* flash.c — the session every front end uses: picks the driver for the port
 * and chip, applies the library's policy (range, bootloader guard, image
 * placement) and only then hands the call to the driver (see flash.h). */
#include "flash/flash.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flash/driver.h"
#include "flash/flash_internal.h"

/* `s` is `name`, esptool's '_' spelling counting as '-'. */
static bool mode_name_is(const char *s, const char *name)
{
    for (; *s && *name; s++, name++)
        if (*s != *name && !(*s == '_' && *name == '-'))
            return false;
    return !*s && !*name;
}

bool fl_reset_mode_parse(const char *s, fl_reset_mode *out)
{
    static const struct { const char *name; fl_reset_mode mode; } modes[] = {
        {"auto", FL_RESET_AUTO},     {"pulse", FL_RESET_PULSE}, {"reboot", FL_RESET_REBOOT},
        {"manual", FL_RESET_MANUAL}, {"none", FL_RESET_NONE},
        /* esptool's --before names, for hands used to them */
        {"default-reset", FL_RESET_AUTO}, {"no-reset", FL_RESET_NONE},
    };
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        if (s && mode_name_is(s, modes[i].name)) {
            *out = modes[i].mode;
            return true;
        }
    return false;
}

const char *fl_reset_mode_name(fl_reset_mode mode)
{
    switch (mode) {
    case FL_RESET_AUTO: return "auto";
    case FL_RESET_PULSE: return "pulse";
    case FL_RESET_REBOOT: return "reboot";
    case FL_RESET_MANUAL: return "manual";
    case FL_RESET_NONE: return "none";
    }
    return "auto";
}

bool fl_after_mode_parse(const char *s, fl_after_mode *out)
{
    static const struct { const char *name; fl_after_mode mode; } modes[] = {
        {"reboot", FL_AFTER_REBOOT}, {"stay", FL_AFTER_STAY},
        {"hard-reset", FL_AFTER_REBOOT}, {"no-reset", FL_AFTER_STAY}, /* esptool's --after */
    };
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        if (s && mode_name_is(s, modes[i].name)) {
            *out = modes[i].mode;
            return true;
        }
    return false;
}

void fl_flash_opts_init(fl_flash_opts *o)
{
    memset(o, 0, sizeof *o);
    o->reset = FL_RESET_AUTO;
    o->link_timeout_s = 20.0;
    o->baud = 921600;
    o->after = FL_AFTER_REBOOT;
}

/* ---- choosing the driver -------------------------------------------------- */

/* "bk7231t bk7231u …" of the chips `d` serves (static per driver slot). */
static void served_chips(const fl_driver *d, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (const fl_chip *const *c = fl_chip_all(); *c; c++)
        if (d->serves(*c) && n < cap)
            n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? " " : "", (*c)->name);
}

static char drivers_help[2048];

static void make_drivers_help(void)
{
    char *text = drivers_help;
    size_t n = 0;
    for (const fl_driver *const *d = fl_drivers(); *d && n < sizeof drivers_help; d++) {
        char chips[256];
        served_chips(*d, chips, sizeof chips);
        n += (size_t)snprintf(text + n, sizeof drivers_help - n, "%s%s: %s\n    ports: %s\n    chips: %s",
                              n ? "\n" : "", (*d)->name, (*d)->description, (*d)->ports_help,
                              chips);
    }
}

const char *fl_flash_drivers_help(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT; /* station threads may ask at once */
    pthread_once(&once, make_drivers_help);
    return drivers_help;
}

/* Several drivers may claim a port; the first claimant that serves the chip
 * is the one.  With no chip, the first claimant that can tell the chip itself
 * (not needs_chip). */
static const fl_driver *driver_for_port(const char *port, const fl_chip *chip)
{
    for (const fl_driver *const *d = fl_drivers(); *d; d++) {
        if (!(*d)->claims_port(port))
            continue;
        if (chip ? (*d)->serves(chip) : !(*d)->needs_chip)
            return *d;
    }
    return NULL;
}

/* The error when drivers take the port but none serves the chip: what each
 * claimant reaches, so the operator sees what would work. */
static void fail_not_served(const char *port, const fl_chip *chip, fl_error *err)
{
    char where[300], reach[1024];
    if (*port)
        snprintf(where, sizeof where, "'%s'", port);
    else /* planning before a port is known: the UART drivers take "" */
        snprintf(where, sizeof where, "a UART port");
    reach[0] = '\0';
    for (const fl_driver *const *d = fl_drivers(); *d; d++) {
        if (!(*d)->claims_port(port))
            continue;
        char chips[256];
        served_chips(*d, chips, sizeof chips);
        fl_text_appendf(reach, sizeof reach, "; ", "the %s driver reaches: %s", (*d)->name,
                        chips);
    }
    if (chip->family == FL_FAMILY_SPI_NOR)
        fl_fail(err, FL_ERR_USAGE,
                "--chip %s needs a SPI programmer (--port ch341a, ch341a:BUS-PORT or "
                "'ch341a:sim?target=CHIP&flash=FILE'); over %s %s",
                chip->name, where, reach);
    else
        fl_fail(err, FL_ERR_USAGE, "--chip %s is not served over %s (%s)", chip->name, where,
                reach);
}

/* Nothing answered the driver chosen without --chip: the unit may be of a
 * family whose driver is only chosen when --chip names its chip. */
static void hint_named_drivers(const char *port, const char *tried, fl_error *err)
{
    if (!err)
        return;
    for (const fl_driver *const *d = fl_drivers(); *d; d++) {
        if (!(*d)->needs_chip || !(*d)->claims_port(port))
            continue;
        char chips[256];
        served_chips(*d, chips, sizeof chips);
        fl_text_appendf(err->msg, sizeof err->msg, "; ",
                        "without --chip only the %s driver was tried: a unit for the %s "
                        "driver needs its --chip (%s)", tried, (*d)->name, chips);
    }
}

const fl_driver *fl_driver_for(const char *port, const fl_chip *chip, fl_error *err)
{
    port = port ? port : "";
    const fl_driver *d = driver_for_port(port, chip);
    if (d)
        return d;
    bool claimed = false;
    for (const fl_driver *const *c = fl_drivers(); *c; c++)
        claimed = claimed || (*c)->claims_port(port);
    if (claimed && chip)
        fail_not_served(port, chip, err);
    else if (claimed) /* only drivers that must be told the chip take this port */
        fl_fail(err, FL_ERR_USAGE, "over '%s' the chip must be named: --chip %s", port,
                fl_chip_names_all());
    else
        fl_fail(err, FL_ERR_USAGE, "no driver takes the port '%s'; the drivers:\n%s", port,
                fl_flash_drivers_help());
    return NULL;
}

fl_status fl_flash_check_port(const char *port, const fl_chip *chip, fl_error *err)
{
    return fl_driver_for(port ? port : "", chip, err) ? FL_OK : FL_ERR_USAGE;
}

/* ---- the session ---------------------------------------------------------- */

fl_status fl_flash_open(const char *port, const char *chip_name, const fl_flash_opts *o,
                        const fl_events *ev, fl_flash **out, fl_error *err)
{
    *out = NULL;
    if (!port || !*port)
        return fl_fail(err, FL_ERR_USAGE, "a port is required");
    const fl_chip *chip = chip_name && *chip_name ? fl_chip_find(chip_name) : NULL;
    if (chip_name && *chip_name && !chip)
        return fl_fail(err, FL_ERR_USAGE, "unknown chip '%s' (known: %s)", chip_name,
                       fl_chip_names_all());
    fl_flash_opts defaults;
    if (!o) {
        fl_flash_opts_init(&defaults);
        o = &defaults;
    }
    const fl_driver *drv = fl_driver_for(port, chip, err);
    if (!drv)
        return FL_ERR_USAGE;
    fl_flash *f = calloc(1, sizeof *f);
    if (!f)
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    f->drv = drv;
    f->id.chip = chip;
    f->id.driver = drv->name;
    f->after = o->after;
    f->ev = ev;
    fl_status st = drv->open(port, chip, o, ev, &f->s, &f->id, err);
    if (st == FL_ERR_NO_BUS && !chip)
        hint_named_drivers(port, drv->name, err);
    if (!st && !chip && !f->id.chip) { /* a driver that identified nothing */
        drv->close(f->s);
        st = fl_fail(err, FL_ERR_INTERNAL, "driver %s opened without telling the chip", drv->name);
    }
    if (st) {
        free(f);
        return st;
    }
    /* whatever the driver filled, the names are the library's (the chip: what
     * was asked for, or what the driver identified when nothing was) */
    if (chip)
        f->id.chip = chip;
    f->id.driver = drv->name;
    if (!f->id.programmer[0])
        fl_text_copy(f->id.programmer, sizeof f->id.programmer, port);
    fl_flash_set_allow_bootloader(f, o->allow_bootloader);
    *out = f;
    return FL_OK;
}

fl_status fl_flash_finish(fl_flash *f, fl_error *err)
{
    if (!f)
        return fl_fail(err, FL_ERR_USAGE, "finish: no session");
    if (f->after == FL_AFTER_STAY) {
        if (f->id.baud)
            fl_logf(f->ev, FL_LOG_INFO, "leaving the chip in its loader at %u baud (--after stay)",
                    f->id.baud);
        else
            fl_logf(f->ev, FL_LOG_INFO, "leaving the chip in its loader (--after stay)");
        return FL_OK;
    }
    if (f->rebooted)
        return FL_OK;
    fl_status st = fl_flash_reboot(f, err);
    if (!st)
        fl_logf(f->ev, FL_LOG_INFO, "rebooted: the chip runs its firmware (--after reboot)");
    return st;
}

void fl_flash_close(fl_flash *f)
{
    if (!f)
        return;
    f->drv->close(f->s);
    free(f);
}

const fl_identity *fl_flash_identity(const fl_flash *f)
{
    return &f->id;
}

void fl_flash_stats_get(const fl_flash *f, fl_flash_stats *out)
{
    memset(out, 0, sizeof *out);
    f->drv->stats(f->s, out);
}

void fl_flash_set_allow_bootloader(fl_flash *f, bool allow)
{
    f->allow_bootloader = allow;
    f->drv->set_allow_bootloader(f->s, allow);
}

fl_status fl_flash_check_range(const fl_flash *f, uint32_t addr, uint64_t len, bool modifies,
                               fl_error *err)
{
    return fl_flash_range_check(f->id.chip, NULL, addr, len, f->id.flash_size, modifies,
                                f->allow_bootloader, err);
}

/* A session and, for len > 0, a buffer: a caller's mistake is a usage error
 * before anything reaches the driver (a NULL buffer would crash it mid-operation). */
fl_status fl_flash_check_call(fl_flash *f, const void *buf, uint32_t len, const char *what,
                              fl_error *err)
{
    if (!f)
        return fl_fail(err, FL_ERR_USAGE, "%s: no session", what);
    f->rebooted = false; /* an operation after a reboot takes the chip again (SPI mode) */
    if (len && !buf)
        return fl_fail(err, FL_ERR_USAGE, "%s of %u bytes: no buffer", what, len);
    return FL_OK;
}

fl_status fl_flash_read(fl_flash *f, uint32_t addr, uint32_t len, uint8_t *out, fl_error *err)
{
    fl_status st = fl_flash_check_call(f, out, len, "read", err);
    if (!st)
        st = fl_flash_check_range(f, addr, len, false, err);
    return st ? st : f->drv->read(f->s, addr, len, out, err);
}

fl_status fl_flash_erase(fl_flash *f, uint32_t addr, uint32_t len, fl_error *err)
{
    fl_status st = fl_flash_check_call(f, "", 0, "erase", err);
    if (!st)
        st = fl_flash_check_range(f, addr, len, true, err);
    return st ? st : f->drv->erase(f->s, addr, len, err);
}

fl_status fl_flash_write(fl_flash *f, uint32_t addr, const uint8_t *data, uint32_t len,
                         fl_error *err)
{
    fl_status st = fl_flash_check_call(f, data, len, "write", err);
    if (!st)
        st = fl_flash_check_range(f, addr, len, true, err);
    return st ? st : f->drv->write(f->s, addr, data, len, err);
}

fl_status fl_flash_verify(fl_flash *f, uint32_t addr, const uint8_t *data, uint32_t len,
                          uint32_t *bad_addr, fl_error *err)
{
    fl_status st = fl_flash_check_call(f, data, len, "verify", err);
    if (!st)
        st = fl_flash_check_range(f, addr, len, false, err);
    return st ? st : f->drv->verify(f->s, addr, data, len, bad_addr, err);
}

fl_status fl_flash_read_mac(fl_flash *f, uint8_t mac[6], fl_error *err)
{
    f->rebooted = false;
    return f->drv->read_mac(f->s, mac, err);
}

fl_status fl_flash_reboot(fl_flash *f, fl_error *err)
{
    fl_status st = f->drv->reboot(f->s, err);
    f->rebooted = st == FL_OK;
    return st;
}

fl_status fl_flash_protect(fl_flash *f, bool on, fl_error *err)
{
    if (!f->drv->protect)
        return fl_fail(err, FL_ERR_USAGE, "%s block protection: not with driver %s",
                       on ? "setting" : "clearing", f->drv->name);
    f->rebooted = false;
    return f->drv->protect(f->s, on, err);
}

fl_status fl_flash_device_crc(fl_flash *f, uint32_t addr, uint32_t len, uint32_t *crc,
                              fl_error *err)
{
    if (!f->drv->device_crc)
        return fl_fail(err, FL_ERR_USAGE, "a device-side CRC: not with driver %s", f->drv->name);
    fl_status st = fl_flash_check_range(f, addr, len, false, err);
    f->rebooted = false;
    return st ? st : f->drv->device_crc(f->s, addr, len, crc, err);
}

/* ---- images ----------------------------------------------------------------- */

fl_status fl_flash_plan_image(const char *port, const fl_chip *chip, const char *name,
                              const uint8_t *data, size_t len, uint32_t flash_size,
                              const fl_image_plan_opts *opts, fl_placement *out, fl_error *err)
{
    if (!chip || !opts || !out || (len && !data))
        return fl_fail(err, FL_ERR_USAGE, "planning an image: %s missing",
                       !chip ? "the chip" : !opts ? "the options" : !out ? "the result" : "the data");
    const fl_driver *drv = NULL;
    if (port && *port) {
        drv = fl_driver_for(port, chip, err);
    } else {
        /* No port yet (a recipe checked offline): the default path, a UART
         * port, where it serves the chip; else the first driver that does. */
        drv = fl_driver_for("", chip, err);
        for (const fl_driver *const *d = fl_drivers(); *d && !drv; d++)
            drv = (*d)->serves(chip) ? *d : NULL;
    }
    if (!drv)
        return FL_ERR_USAGE;
    fl_image_plan_opts o = *opts;
    o.qio_whole = (drv->placement_flags & FL_PLACE_QIO_WHOLE) != 0;
    if (!flash_size)
        flash_size = fl_chip_flash_size_limit(chip);
    return fl_image_plan(chip, name, data, len, flash_size, &o, out, err);
}
