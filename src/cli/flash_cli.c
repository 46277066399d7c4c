/* beken_cli.c — shared set-up for the flash verbs. */
#include "cli/beken_cli.h"

#include "util/fileio.h"

#include <stdlib.h>
#include <string.h>

const char beken_common_help[] =
    "  -p, --port URL      /dev/ttyUSB0, serial:NAME, rfc2217://HOST:PORT, tcp://HOST:PORT,\n"
    "                      or sim:CHIP[?flash=FILE&timescale=0] for the built-in simulator\n"
    "  -c, --chip CHIP     bk7231t bk7231u bk7252 bk7231n bk7231m bk7238 bk7252n bk7236 bk7258\n"
    "  -b, --baud N        rate after linking (default 921600; falls back to 115200 if the\n"
    "                      switch fails; 115200 = never switch)\n"
    "  --reset MODE        how to get the bootloader: auto (default: link check, `reboot` text\n"
    "                      to OpenBeken, RTS/DTR pulses, then asks you to power-cycle),\n"
    "                      pulse, reboot, manual (ask for a power-cycle), none\n"
    "  --link-timeout S    give up getting the bootloader after S seconds (default 20,\n"
    "                      at most 3600)\n"
    "  --json              one JSON event per line on stdout instead of human output\n";

int beken_cli_number(const char *verb, const char *opt, const char *text, uint32_t *out)
{
    if (cli_parse_u32(text, out))
        return 0;
    return cli_usage_error(verb, "--%s '%s' is not a number (use e.g. 0x11000, 69632, 2M)", opt,
                           text);
}

int beken_cli_connect(const char *verb, beken_cli *c)
{
    if (!c->port || !c->chip)
        return cli_usage_error(verb, "--port and --chip are required (see 'flashline %s --help')",
                               verb);
    const fl_chip *chip = fl_chip_find(c->chip);
    if (!chip)
        return cli_usage_error(verb, "unknown chip '%s' (known: %s)", c->chip, fl_chip_names());
    if (chip->family != FL_FAMILY_BEKEN)
        return cli_usage_error(verb, "--chip %s is reached through a SPI programmer, not '%s'",
                               chip->name, c->port);
    fl_connect_opts co;
    fl_connect_opts_init(&co);
    if (c->baud && beken_cli_number(verb, "baud", c->baud, &co.baud))
        return EXIT_USAGE;
    if (co.baud < 9600 || co.baud > 6000000)
        return cli_usage_error(verb, "--baud %u is out of range (9600..6000000)", co.baud);
    if (c->reset && !fl_reset_mode_parse(c->reset, &co.reset))
        return cli_usage_error(verb, "--reset must be auto, pulse, reboot, manual or none");
    /* NaN would compare false against every deadline: the link would never give up */
    if (c->link_timeout && !cli_parse_seconds(c->link_timeout, 0, 3600, &co.link_timeout_s))
        return cli_usage_error(verb, "--link-timeout '%s' must be seconds, above 0 and at most 3600",
                               c->link_timeout);
    cli_output_init(&c->out, c->json, c->port);
    c->events = cli_output_events(&c->out);
    c->events.cancelled = cli_stop_requested;
    cli_stop_on_signals();

    fl_error err = {0};
    fl_status st = fl_link_open(c->port, &c->link, &err);
    if (!st)
        st = fl_beken_open(c->link, chip, &c->events, &c->session, &err);
    if (!st) {
        c->session->allow_bootloader = c->allow_bootloader;
        st = fl_beken_connect(c->session, &co, &err);
    }
    if (st) {
        int code = cli_report_error(&c->out, verb, &err);
        beken_cli_close(c);
        return code;
    }
    return 0;
}

void beken_cli_close(beken_cli *c)
{
    cli_output_end_phase(&c->out); /* frees the phase name */
    if (c->session)
        fl_beken_close(c->session);
    if (c->link)
        fl_link_close(c->link);
    c->session = NULL;
    c->link = NULL;
}

void beken_cli_print_identity(beken_cli *c)
{
    fl_beken *s = c->session;
    char jedec[16] = "", part[64] = "";
    if (s->have_jedec)
        snprintf(jedec, sizeof jedec, "%02X%02X%02X", s->jedec[0], s->jedec[1], s->jedec[2]);
    if (s->part)
        snprintf(part, sizeof part, "%s %s", s->part->vendor, s->part->name);
    const char *loader = s->chip->loader == FL_LOADER_ROM ? "rom" : "flash";
    if (c->json) {
        json_t *id = s->have_chip_id ? json_integer(s->chip_id) : json_null();
        cli_json_event(&c->out, "identity",
                       json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:I, s:o, s:i, s:I}", "chip",
                                 s->chip->name, "loader", loader, "chip_id", id, "chip_id_norm",
                                 cli_json_text(s->chip_id_norm), "jedec_id", cli_json_text(jedec),
                                 "flash_part", cli_json_text(part), "flash_size",
                                 (json_int_t)s->flash_size, "boot_version",
                                 cli_json_text(s->boot_version), "status_register",
                                 s->have_sr ? (int)s->sr : -1, "baud", (json_int_t)s->baud));
        return;
    }
    printf("chip:          %s (%s loader)\n", s->chip->display,
           s->chip->loader == FL_LOADER_ROM ? "ROM" : "flash");
    if (s->have_chip_id)
        printf("chip ID:       0x%X (%s)\n", s->chip_id, s->chip_id_norm);
    if (s->boot_version[0])
        printf("bootloader:    %s\n", s->boot_version);
    if (s->have_jedec)
        printf("flash ID:      %02X %02X %02X%s%s\n", s->jedec[0], s->jedec[1], s->jedec[2],
               part[0] ? "  " : "  (not in the flash table)", part);
    printf("flash size:    %u KiB%s\n", s->flash_size / 1024,
           s->have_jedec ? "" : " (flash loaders cannot report it: assumed / probed)");
    if (s->have_sr)
        printf("status reg:    0x%04X%s\n", s->sr,
               (s->sr & (s->part ? s->part->sr_mask : 0x407C)) ? " (write-protected)" : "");
    printf("baud:          %u\n", s->baud);
}

/* beken_cli_connect refuses a missing --port/--chip or an unknown chip
 * before opening anything, so calling it for the message touches no unit. */
const fl_chip *beken_cli_chip(const char *verb, beken_cli *c, int *rc)
{
    const fl_chip *chip = c->chip ? fl_chip_find(c->chip) : NULL;
    if (chip && c->port)
        return chip;
    *rc = beken_cli_connect(verb, c);
    return NULL;
}

int beken_cli_open_image(const char *verb, beken_cli *c, const char *path, bool read_only,
                         beken_cli_image *img)
{
    memset(img, 0, sizeof *img);
    int rc = EXIT_USAGE;
    const fl_chip *chip = beken_cli_chip(verb, c, &rc);
    if (!chip)
        return rc;
    fl_image_plan_opts o;
    fl_image_plan_opts_init(&o);
    uint32_t offset = 0;
    if (c->offset && beken_cli_number(verb, "offset", c->offset, &offset))
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
    if (!st)
        st = fl_image_plan(chip, path, img->data, img->len, fl_chip_flash_size_limit(chip), &o,
                           &img->place, &err);
    if (st) {
        beken_cli_image_free(img);
        return cli_report_error(&c->out, verb, &err);
    }
    if ((rc = beken_cli_connect(verb, c))) {
        beken_cli_image_free(img);
        return rc;
    }
    fl_beken *s = c->session;
    if (fl_image_plan(s->chip, path, img->data, img->len, s->flash_size, &o, &img->place, &err)) {
        rc = cli_report_error(&c->out, verb, &err);
        beken_cli_image_free(img);
        beken_cli_close(c);
        return rc;
    }
    fl_logf(&c->events, FL_LOG_INFO, "%s", img->place.why);
    return 0;
}

void beken_cli_image_free(beken_cli_image *img)
{
    free(img->data);
    img->data = NULL;
}
