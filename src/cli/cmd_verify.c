/* flashline verify — compare flash with a file (device CRC or read-back). */
#include <stdio.h>
#include <stdlib.h>

#include "cli/flash_cli.h"

static void usage(void)
{
    printf("usage: flashline verify FILE --port URL [--chip CHIP] [--offset A [--raw]] [options]\n"
           "       flashline verify -p URL [-c CHIP] [options] -- FILE\n\n"
           "Compares flash with FILE (UART: the chip's CRC, 64 KiB at a time, the first\n"
           "differing 4 KiB sector is reported; SPI programmer: every byte read back, the\n"
           "first differing byte is reported).  Exit 1 on mismatch.  FILE is checked and\n"
           "placed exactly as 'write' does (same refusals, before the unit is touched): a\n"
           "_QIO_ image is compared from 0x11000 where write would skip its bootloader\n"
           "(through a SPI programmer, where write puts it whole, from 0x0: comparing needs\n"
           "no opt-in).  --chip spi-nor: plain data with --raw --offset.  ESP chips: the\n"
           "ROM's MD5 of every 4 KiB sector; refused (exit 7) on the ESP8266 and in Secure\n"
           "Download Mode, whose ROMs can neither read flash nor hash it.\n\n"
           "Options:\n"
           "  --offset A          flash address of the first byte of FILE\n"
           "  --raw               FILE is plain data, not a firmware image (needs --offset)\n"
           "  --allow-bootloader  compare a _QIO_ image's bootloader part too (a SPI\n"
           "                      programmer always compares the whole _QIO_ from 0x0)\n"
           "  --force             accept an image whose content or name says another chip\n"
           "%s\n%s",
           flash_cli_common_help(), cli_exit_codes_help);
}

int cmd_verify(int argc, char **argv)
{
    flash_cli c = {0};
    const cli_opt opts[] = {FLASH_COMMON_OPTS(c),
                            {"offset", OPT_STRING, &c.offset, NULL},
                            {"allow-bootloader", OPT_FLAG, NULL, &c.allow_bootloader},
                            {"force", OPT_FLAG, NULL, &c.force},
                            {"raw", OPT_FLAG, NULL, &c.raw},
                            {0}};
    const char *pos[1];
    int npos;
    int rc = cli_parse("verify", argc, argv, opts, pos, 1, &npos, &c.help);
    if (rc)
        return rc;
    if (c.help) {
        usage();
        return EXIT_OK;
    }
    if (npos != 1)
        return cli_usage_error("verify", "which FILE?");
    flash_cli_image img;
    if ((rc = flash_cli_open_image("verify", &c, pos[0], true, &img)))
        return rc;
    const fl_placement *p = &img.place;
    uint32_t len = p->length, bad = 0;
    fl_error err = {0};
    fl_status st =
        fl_flash_verify(c.flash, p->flash_offset, img.data + p->file_skip, len, &bad, &err);
    const char *how = fl_flash_identity(c.flash)->verified_by;
    if (!how)
        how = "the driver";
    cli_output_end_phase(&c.out);
    if (!st)
        st = flash_cli_finish(&c, &err);
    if (st) {
        rc = cli_report_error(&c.out, "verify", &err);
    } else if (c.json) {
        cli_json_event(&c.out, "done",
                       json_pack("{s:s, s:I, s:I, s:b, s:s}", "verb", "verify", "offset",
                                 (json_int_t)p->flash_offset, "size", (json_int_t)len, "match", 1,
                                 "verified_by", how));
    } else {
        fprintf(stderr, "flash 0x%06X..0x%06X matches %s (verified by %s)\n", p->flash_offset,
                p->flash_offset + len, pos[0], how);
    }
    flash_cli_image_free(&img);
    return flash_cli_done("verify", &c, rc);
}
