/* flashline erase — erase a range, or everything but the bootloader. */
#include <stdio.h>

#include "cli/flash_cli.h"

static void usage(void)
{
    printf("usage: flashline erase --port URL [--chip CHIP] (--offset A --size N | --all)\n"
           "       flashline erase -p URL [-c CHIP] (--offset A --size N | --all)\n\n"
           "Erases whole 4 KiB sectors (64 KiB blocks where aligned) and proves the range is\n"
           "blank (UART: by the chip's CRC; SPI programmer: by reading it back).  --all\n"
           "erases from 0x11000 to the end (the bootloader is kept; with --allow-bootloader\n"
           "on a ROM-loader chip, from 0x0); on --chip spi-nor the whole chip (chip erase).\n"
           "ESP chips guard nothing (their mask-ROM loader survives any flash content):\n"
           "--all erases from 0x0, ranges need no --allow-bootloader.\n"
           "Through a SPI programmer (Beken SPI mode) --allow-bootloader --all still keeps\n"
           "the bootloader of a flash-loader chip; erase it with --offset 0 --size N.\n\n"
           "Options:\n"
           "  --offset A --size N  the range (multiples of 0x1000)\n"
           "  --all               the whole flash except the bootloader\n"
           "  --allow-bootloader  permit erasing 0x0-0x11000\n"
           "%s\n%s",
           flash_cli_common_help(), cli_exit_codes_help);
}

int cmd_erase(int argc, char **argv)
{
    flash_cli c = {0};
    const cli_opt opts[] = {FLASH_COMMON_OPTS(c),
                            {"offset", OPT_STRING, &c.offset, NULL},
                            {"size", OPT_STRING, &c.size, NULL},
                            {"all", OPT_FLAG, NULL, &c.all},
                            {"allow-bootloader", OPT_FLAG, NULL, &c.allow_bootloader},
                            {0}};
    const char *pos[1];
    int npos;
    int rc = cli_parse("erase", argc, argv, opts, pos, 0, &npos, &c.help);
    if (rc)
        return rc;
    if (c.help) {
        usage();
        return EXIT_OK;
    }
    uint32_t offset = 0, size = 0;
    if (c.all == (c.offset || c.size) || (!c.all && (!c.offset || !c.size)))
        return cli_usage_error("erase", "give either --offset A --size N, or --all");
    if ((c.offset && flash_cli_number("erase", "offset", c.offset, &offset)) ||
        (c.size && flash_cli_number("erase", "size", c.size, &size)))
        return EXIT_USAGE;
    /* Alignment, range and the bootloader guard before the unit is touched
     * (the range again after connecting, with the real flash size). */
    const fl_chip *chip = flash_cli_chip("erase", &c, &rc);
    if (!chip && rc)
        return rc;
    cli_output_init(&c.out, c.json, c.port);
    fl_error perr = {0};
    if (!c.all && (offset % 0x1000 || size % 0x1000 || size == 0))
        fl_fail(&perr, FL_ERR_USAGE,
                "erase works on whole 4 KiB sectors: --offset and --size must be multiples of "
                "0x1000 and --size > 0 (got 0x%X + 0x%X)",
                offset, size);
    else if (!c.all && chip) /* without --chip: once the chip is identified */
        fl_flash_range_check(chip, NULL, offset, size, fl_chip_flash_size_limit(chip), true,
                             c.allow_bootloader, &perr);
    if (perr.code)
        return cli_report_error(&c.out, "erase", &perr);
    if ((rc = flash_cli_connect("erase", &c)))
        return rc;
    const fl_identity *id = fl_flash_identity(c.flash);
    if (c.all) {
        /* a plain SPI NOR chip has no bootloader to keep */
        bool keep = id->chip->family == FL_FAMILY_BEKEN &&
                    (!c.allow_bootloader || id->chip->guard == FL_GUARD_BRICK);
        offset = keep ? FL_BOOTLOADER_SIZE : 0;
        size = id->flash_size - offset;
    }
    fl_error err = {0};
    fl_status st = fl_flash_erase(c.flash, offset, size, &err);
    cli_output_end_phase(&c.out);
    if (!st)
        st = flash_cli_finish(&c, &err);
    const char *how = id->verified_by ? id->verified_by : "the driver";
    if (st) {
        rc = cli_report_error(&c.out, "erase", &err);
    } else if (c.json) {
        cli_json_event(&c.out, "done",
                       json_pack("{s:s, s:I, s:I, s:s}", "verb", "erase", "offset",
                                 (json_int_t)offset, "size", (json_int_t)size, "verified_by",
                                 id->erase_unproven ? "none" : how));
    } else if (id->erase_unproven) {
        fprintf(stderr, "erased 0x%06X..0x%06X (%u KiB); not verified blank: %s\n", offset,
                offset + size, size / 1024, id->erase_unproven);
    } else {
        fprintf(stderr, "erased 0x%06X..0x%06X (%u KiB), verified blank by %s\n", offset,
                offset + size, size / 1024, how);
    }
    return flash_cli_done("erase", &c, rc);
}
