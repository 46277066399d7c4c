/* flash_cli.c — shared set-up for the flash verbs: options, the session
 * (flash/flash.h), the identity block, images placed by the library. */
#include "cli/flash_cli.h"

#include "flash/flash_parts.h"
#include "station/home.h"
#include "util/fileio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Append `line` word-wrapped at 80 columns: the first row after `indent`,
 * the next ones `hang` columns in (0: under the text after a leading
 * "label: ", else `indent` + 4). */
static size_t wrap_line(char *out, size_t cap, size_t n, const char *line, size_t len,
                        const char *indent, size_t hang)
{
    const char *colon = memchr(line, ':', len);
    if (!hang)
        hang = strlen(indent) + (colon && colon - line < 16 && colon[1] == ' '
                                     ? (size_t)(colon - line) + 2
                                     : 4);
    size_t lead = 0; /* the line's own indentation stays */
    while (lead < len && line[lead] == ' ')
        lead++;
    size_t col = (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s%*s", indent, (int)lead, "");
    n += col;
    size_t row_start = col;
    const char *p = line + lead, *end = line + len;
    while (p < end) {
        const char *sp = memchr(p, ' ', (size_t)(end - p));
        size_t w = (size_t)((sp ? sp : end) - p);
        if (col > row_start && col + 1 + w > 80) {
            n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "\n%*s", (int)hang, "");
            col = row_start = hang;
        } else if (col > row_start) {
            n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, " ");
            col++;
        }
        n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%.*s", (int)w, p);
        col += w;
        p += w + (sp ? 1 : 0);
    }
    return n;
}

/* Each line of `text` wrapped (see wrap_line). */
static void wrap_text(char *out, size_t cap, const char *text, const char *indent, size_t hang)
{
    size_t n = 0;
    out[0] = '\0';
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (n)
            n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "\n");
        n = wrap_line(out, cap, n, p, len, indent, hang);
        p += len + (nl ? 1 : 0);
    }
}

const char *flash_cli_common_help(void)
{
    static char text[12288];
    if (text[0])
        return text;
    char drivers[2048], chips[1400], chip_line[1100];
    wrap_text(drivers, sizeof drivers, fl_flash_drivers_help(), "                        ", 0);
    snprintf(chip_line, sizeof chip_line,
             "-c, --chip CHIP     what the chip is: %s, spi-nor (a plain SPI NOR flash chip: "
             "needs a SPI programmer port), or an Espressif chip: %s (the ESP ROM loader over "
             "a UART port; always named: without --chip a UART port is taken for a Beken "
             "chip).  Optional over a UART where the chip ID tells it "
             "(ROM loaders; BK7231N and BK7231M answer alike and are handled alike); bk7236 "
             "and bk7258 answer alike, and so do the flash loaders of bk7231t, bk7231u and "
             "bk7252: name those.  Over a SPI programmer a plain SPI NOR flash answering its "
             "JEDEC ID is taken as spi-nor; a Beken chip must be named (SPI mode resets it)",
             fl_chip_names(), fl_chip_names_family(FL_FAMILY_ESP));
    wrap_text(chips, sizeof chips, chip_line, "  ", 22);
    snprintf(text, sizeof text,
             "  -p, --port URL      how the chip is reached; the port (and, over a UART, the\n"
             "                      chip's family) chooses the driver:\n"
             "%s\n"
             "%s\n"
             "  -b, --baud N|max    UART only: rate after linking (default 921600; falls back\n"
             "                      to 115200 if the switch fails; 115200 = never switch).\n"
             "                      max: climb 230400, 460800, 921600, 1500000, 2000000,\n"
             "                      3000000 while the adapter takes the rate and the loader\n"
             "                      answers there (the first that fails ends the climb; the\n"
             "                      chip is brought back, by a reset if it cannot be talked\n"
             "                      back), then keep the fastest at which a 4 KiB read's CRC\n"
             "                      matches the chip's own, stepping down until one does; the\n"
             "                      rate chosen is logged (and measured by a recipe's connect)\n"
             "                      ESP (esp-rom): CHANGE_BAUDRATE after SYNC, proven by a\n"
             "                      register read at the new rate (else back to 115200); max\n"
             "                      proves each step by a 256-byte read against the ROM's\n"
             "                      MD5; the ESP8266 ROM has no CHANGE_BAUDRATE: 115200\n"
             "  --before MODE       UART only: how to get the bootloader: auto (default), in\n"
             "                      this order, cheapest first: (1) one link check (~20 ms)\n"
             "                      at the rate flashline last left the loader at on this\n"
             "                      port, at 115200 and at --baud - a loader keeps its rate\n"
             "                      until reset, so one still in download mode answers at\n"
             "                      once; (2) an RTS/DTR pulse (CEN) and link checks for\n"
             "                      0.35 s - a chip running its firmware costs what a plain\n"
             "                      pulse costs; (3) one link check at every other likely\n"
             "                      rate (921600, 1500000, 2000000, ...: a loader left there\n"
             "                      on a fixture without CEN wiring); (4) `reboot` text to\n"
             "                      OpenBeken; (5) another pulse; then it asks you to\n"
             "                      power-cycle.  The other modes: pulse, reboot, manual\n"
             "                      (ask for a power-cycle), none (already in the loader: link\n"
             "                      checks at those rates only, never a reset).  esptool's\n"
             "                      default-reset and no-reset work too.  A baud fallback and\n"
             "                      recoveries take the bus again the same way, within\n"
             "                      --link-timeout.  ESP chips (esp-rom): auto = a SYNC at\n"
             "                      once (a loader still in download mode), then esptool's\n"
             "                      classic DTR/RTS reset (EN on RTS, IO0 on DTR) twice, then\n"
             "                      it asks you to hold BOOT and reset; pulse and reboot = the\n"
             "                      classic reset only; manual = it asks at once; none = SYNC\n"
             "                      only\n"
             "  --reset MODE        the same as --before (its older name: recipes and scripts\n"
             "                      keep working)\n"
             "  --after MODE        what the chip does when the verb succeeded: reboot\n"
             "                      (default, as esptool's hard reset: it leaves the loader and\n"
             "                      runs its firmware; Beken SPI mode: a CEN pulse), stay (keep\n"
             "                      the loader, at its baud, for the next command: no reset or\n"
             "                      power-cycle needed; refused on bk7231t/u and bk7252, whose\n"
             "                      flash loader reboots itself when idle; SPI mode: no CEN\n"
             "                      pulse, the chip stays halted).  esptool's hard-reset and\n"
             "                      no-reset work too.  After a failure the chip stays in its\n"
             "                      loader for a retry\n"
             "  --link-timeout S    UART only: give up getting the chip's attention after S\n"
             "                      seconds (default 20, at most 3600)\n"
             "                      On a SPI programmer port --baud, --before and\n"
             "                      --link-timeout do nothing: a Beken chip is reset through\n"
             "                      CEN (D2) and synced, retried a few times; a plain SPI NOR\n"
             "                      chip just answers.\n"
             "  --json              one JSON event per line on stdout instead of human output\n",
             drivers, chips);
    return text;
}

int flash_cli_number(const char *verb, const char *opt, const char *text, uint32_t *out)
{
    if (cli_parse_u32(text, out))
        return 0;
    return cli_usage_error(verb, "--%s '%s' is not a number (use e.g. 0x11000, 69632, 2M)", opt,
                           text);
}

/* --port present; --chip, when given, known and reachable through the port
 * (*chip NULL without --chip: the driver tells it). */
static int check_port_chip(const char *verb, flash_cli *c, const fl_chip **chip)
{
    *chip = NULL;
    if (!c->port)
        return cli_usage_error(verb, "--port is required (see 'flashline %s --help')", verb);
    if (!c->chip) {
        fl_error err = {0};
        if (fl_flash_check_port(c->port, NULL, &err))
            return cli_usage_error(verb, "%s", err.msg);
        return 0;
    }
    *chip = fl_chip_find(c->chip);
    if (!*chip)
        return cli_usage_error(verb, "unknown chip '%s' (known: %s)", c->chip,
                               fl_chip_names_all());
    fl_error err = {0};
    if (fl_flash_check_port(c->port, *chip, &err))
        return cli_usage_error(verb, "%s", err.msg);
    return 0;
}

int flash_cli_connect(const char *verb, flash_cli *c)
{
    const fl_chip *chip;
    int rc = check_port_chip(verb, c, &chip);
    if (rc)
        return rc;
    fl_flash_opts o;
    fl_flash_opts_init(&o);
    if (c->baud && !strcmp(c->baud, "max"))
        o.baud = FL_BAUD_MAX;
    else if (c->baud && flash_cli_number(verb, "baud", c->baud, &o.baud))
        return EXIT_USAGE;
    if (o.baud != FL_BAUD_MAX && (o.baud < 9600 || o.baud > 6000000))
        return cli_usage_error(verb, "--baud %u is out of range (9600..6000000)", o.baud);
    /* --reset is --before's older name: both may be given only if they agree */
    if (c->reset && c->before && strcmp(c->reset, c->before) != 0)
        return cli_usage_error(verb, "--before '%s' and --reset '%s' are the same option: give one",
                               c->before, c->reset);
    const char *before = c->before ? c->before : c->reset;
    if (before && !fl_reset_mode_parse(before, &o.reset))
        return cli_usage_error(verb, "--%s must be auto, pulse, reboot, manual or none",
                               c->before ? "before" : "reset");
    if (c->after && !fl_after_mode_parse(c->after, &o.after))
        return cli_usage_error(verb, "--after must be reboot or stay");
    /* NaN would compare false against every deadline: the link would never give up */
    if (c->link_timeout && !cli_parse_seconds(c->link_timeout, 0, 3600, &o.link_timeout_s))
        return cli_usage_error(verb, "--link-timeout '%s' must be seconds, above 0 and at most 3600",
                               c->link_timeout);
    o.allow_bootloader = c->allow_bootloader;
    c->after_reboot = o.after == FL_AFTER_REBOOT;
    /* where an earlier command left this port's loader: asked first (a sim:
     * port starts a fresh unit in every process, nothing to remember) */
    if (strncmp(c->port, "sim:", 4) != 0)
        o.last_baud = fl_home_port_rate(c->port);
    cli_output_init(&c->out, c->json, c->port);
    c->events = cli_output_events(&c->out);
    c->events.cancelled = cli_stop_requested;
    cli_stop_on_signals();

    fl_error err = {0};
    if (fl_flash_open(c->port, chip ? chip->name : NULL, &o, &c->events, &c->flash, &err)) {
        int code = cli_report_error(&c->out, verb, &err);
        flash_cli_close(c);
        return code;
    }
    return 0;
}

fl_status flash_cli_finish(flash_cli *c, fl_error *err)
{
    c->finished = true;
    fl_status st = fl_flash_finish(c->flash, err);
    c->rebooted = c->rebooted || (!st && c->after_reboot);
    return st;
}

int flash_cli_done(const char *verb, flash_cli *c, int rc)
{
    fl_error err = {0};
    if (!rc && c->flash && !c->finished && flash_cli_finish(c, &err))
        rc = cli_report_error(&c->out, verb, &err);
    flash_cli_close(c);
    return rc;
}

void flash_cli_close(flash_cli *c)
{
    cli_output_end_phase(&c->out); /* frees the phase name */
    if (c->flash && strncmp(c->port, "sim:", 4) != 0) {
        /* the loader keeps its rate until reset: the next command asks there first */
        const fl_identity *id = fl_flash_identity(c->flash);
        if (id->baud)
            fl_home_set_port_rate(c->port, c->rebooted ? 0 : id->baud);
    }
    fl_flash_close(c->flash);
    c->flash = NULL;
}

/* Block-protection bits set in the status register (the part's mask from
 * the flash table, else BP0-BP4 + CMP). */
static bool sr_protected(const fl_identity *id)
{
    const fl_flash_part *part = id->have_jedec ? fl_flash_part_find(id->jedec) : NULL;
    uint32_t sr = id->sr;
    if (id->sr_separate && ((sr >> 8) & 0xFF) == 0xFF)
        sr &= ~0xFF00u; /* no SR2: its 0xFF is MISO idling, not a CMP bit */
    return (sr & (part ? part->sr_mask : 0x407C)) != 0;
}

/* One status register of a SPI part as `info` shows it: 0xFF is no register. */
static const char *sr_text(char *buf, size_t cap, uint32_t v)
{
    if (v == 0xFF)
        return "not supported";
    snprintf(buf, cap, "0x%02X", v);
    return buf;
}

static json_t *sr_json(uint32_t v)
{
    return v == 0xFF ? json_null() : json_integer(v);
}

static void print_identity_json(flash_cli *c, const fl_identity *id, const char *jedec)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:i, s:I}",
                          "chip", id->chip->name, "driver", id->driver, "access",
                          id->access ? id->access : "", "programmer",
                          cli_json_text(id->programmer), "chip_id",
                          id->have_chip_id ? json_integer(id->chip_id) : json_null(),
                          "chip_id_norm", cli_json_text(id->chip_id_norm), "jedec_id",
                          cli_json_text(jedec), "flash_part", cli_json_text(id->flash_part),
                          "flash_size", (json_int_t)id->flash_size, "boot_version",
                          cli_json_text(id->boot_version), "status_register",
                          id->have_sr ? (int)id->sr : -1, "baud", (json_int_t)id->baud);
    /* the loader kind is the chip's (the chip table), whatever reaches it */
    if (id->chip->family == FL_FAMILY_BEKEN)
        json_object_set_new(j, "loader",
                            json_string(id->chip->loader == FL_LOADER_ROM ? "rom" : "flash"));
    if (id->have_sr && id->sr_separate) { /* SPI: each register by its opcode, null = none */
        json_object_set_new(j, "sr1", json_integer(id->sr & 0xFF));
        json_object_set_new(j, "sr2", sr_json((id->sr >> 8) & 0xFF));
        json_object_set_new(j, "sr3", sr_json((id->sr >> 16) & 0xFF));
    }
    json_object_set_new(j, "verified_by", cli_json_text(id->verified_by ? id->verified_by : ""));
    cli_json_event(&c->out, "identity", j);
}

void flash_cli_print_identity(flash_cli *c)
{
    const fl_identity *id = fl_flash_identity(c->flash);
    char jedec[16] = "";
    if (id->have_jedec)
        snprintf(jedec, sizeof jedec, "%02X%02X%02X", id->jedec[0], id->jedec[1], id->jedec[2]);
    if (c->json) {
        print_identity_json(c, id, jedec);
        return;
    }
    printf("chip:          %s (%s)\n", id->chip->display, id->access ? id->access : "?");
    printf("driver:        %s via %s\n", id->driver, id->programmer);
    if (id->have_chip_id)
        printf("chip ID:       0x%X (%s)\n", id->chip_id, id->chip_id_norm);
    if (id->boot_version[0])
        printf("bootloader:    %s\n", id->boot_version);
    if (id->have_jedec)
        printf("flash ID:      %02X %02X %02X%s%s\n", id->jedec[0], id->jedec[1], id->jedec[2],
               id->flash_part[0] ? "  " : "  (not in the flash table)", id->flash_part);
    printf("flash size:    %u KiB%s\n", id->flash_size / 1024,
           id->have_jedec ? "" : " (this loader reads no flash ID: size assumed / probed)");
    if (id->have_sr && id->sr_separate) {
        char b2[8], b3[8];
        printf("status regs:   SR1 0x%02X, SR2 %s, SR3 %s%s\n", id->sr & 0xFF,
               sr_text(b2, sizeof b2, (id->sr >> 8) & 0xFF),
               sr_text(b3, sizeof b3, (id->sr >> 16) & 0xFF),
               sr_protected(id) ? " (write-protected)" : "");
    } else if (id->have_sr) {
        printf("status reg:    0x%04X%s\n", id->sr, sr_protected(id) ? " (write-protected)" : "");
    }
    if (id->baud)
        printf("baud:          %u\n", id->baud);
}

/* flash_cli_connect refuses a missing --port/--chip, an unknown chip or one
 * the port cannot reach before opening anything, so calling it for the
 * message touches no unit. */
const fl_chip *flash_cli_chip(const char *verb, flash_cli *c, int *rc)
{
    const fl_chip *chip = NULL;
    if ((*rc = check_port_chip(verb, c, &chip)))
        return NULL;
    return chip;
}

int flash_cli_open_image(const char *verb, flash_cli *c, const char *path, bool read_only,
                         flash_cli_image *img)
{
    memset(img, 0, sizeof *img);
    int rc = EXIT_USAGE;
    const fl_chip *chip = flash_cli_chip(verb, c, &rc);
    if (!chip && rc)
        return rc;
    fl_image_plan_opts o;
    fl_image_plan_opts_init(&o);
    uint32_t offset = 0;
    if (c->offset && flash_cli_number(verb, "offset", c->offset, &offset))
        return EXIT_USAGE;
    o.offset = c->offset ? (int64_t)offset : -1;
    o.raw = c->raw;
    o.allow_bootloader = c->allow_bootloader;
    o.force = c->force;
    o.read_only = read_only;

    /* Everything about the file is settled before the unit is touched: read
     * it, then the whole policy against the largest flash this chip can have;
     * once identified, again against the real size. */
    cli_output_init(&c->out, c->json, c->port);
    fl_error err = {0};
    fl_status st = fl_read_file(path, &img->data, &img->len, 64u << 20, &err);
    if (!st && chip) /* without --chip the policy runs once the chip is identified */
        st = fl_flash_plan_image(c->port, chip, path, img->data, img->len, 0, &o, &img->place,
                                 &err);
    if (st) {
        flash_cli_image_free(img);
        return cli_report_error(&c->out, verb, &err);
    }
    if ((rc = flash_cli_connect(verb, c))) {
        flash_cli_image_free(img);
        return rc;
    }
    const fl_identity *id = fl_flash_identity(c->flash);
    if (fl_flash_plan_image(c->port, id->chip, path, img->data, img->len, id->flash_size, &o,
                            &img->place, &err)) {
        rc = cli_report_error(&c->out, verb, &err);
        flash_cli_image_free(img);
        flash_cli_close(c);
        return rc;
    }
    fl_logf(&c->events, FL_LOG_INFO, "%s", img->place.why);
    return 0;
}

void flash_cli_image_free(flash_cli_image *img)
{
    free(img->data);
    img->data = NULL;
}
