/* flashline write — place a firmware file correctly for the chip, write it
 * (skipping identical blocks) and prove it (device CRC or read-back: the
 * driver says which in fl_identity.verified_by). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/flash_cli.h"
#include "util/clock.h"

static void usage(void)
{
    printf("usage: flashline write FILE --port URL [--chip CHIP] [--offset A [--raw]] [options]\n"
           "       flashline write -p URL [-c CHIP] [options] -- FILE\n\n"
           "Writes FILE: erase (64 KiB where aligned, 4 KiB elsewhere), program, and verify\n"
           "every byte (UART: every 64 KiB by the chip's CRC; SPI programmer: by reading\n"
           "every written sector back), rewriting sectors that fail.\n"
           "Sectors that already hold the data are skipped, so rewriting the same image is\n"
           "fast.\n\n"
           "FILE is checked by its content before the unit is touched, and refused when it is\n"
           "for another chip (BK7231M and BK7231N images are interchangeable), when a CRC16\n"
           "block or RBL package is wrong or the file is cut short, when its name contradicts\n"
           "its content, when it is an OTA package (_UG_, .rbl) or a rotated dump, and when\n"
           "it is not a flash image at all (random data, a config region) unless --offset and\n"
           "--raw are both given.  Bytes after a release image's app must be 0xFF padding\n"
           "(anything else would land on the Tuya config and RF calibration); the padding\n"
           "is not written.\n\n"
           "Placement follows the content: a _QIO_ image or full dump goes from 0x0, except\n"
           "that on bk7231t/u, bk7252 (flash loader) and bk7231n/m (keys in the bootloader)\n"
           "its first 0x11000 bytes are skipped and the rest written at 0x11000; a _UA_ image\n"
           "or a dump read from 0x11000 goes at 0x11000.  --offset must agree with that.\n"
           "Through a SPI programmer (Beken SPI mode) a _QIO_ image is written whole from\n"
           "0x0, bootloader included (restoring it is the point): on those chips that needs\n"
           "--allow-bootloader.  --chip spi-nor has no firmware images: give plain data\n"
           "with --raw --offset A.\n\n"
           "ESP chips (--chip esp32 etc.): an OpenESP *.factory.bin goes whole at 0x0; an\n"
           "app image only at an app partition's --offset; a bootloader image where the\n"
           "chip's ROM loads it.  Every written sector is proven by the ROM's MD5; the\n"
           "ESP8266 ROM (and Secure Download Mode) only checks each block's checksum.\n\n"
           "Options:\n"
           "  --offset A          flash address for the first byte of FILE\n"
           "  --raw               FILE is plain data, not a firmware image: write it as it is\n"
           "                      at --offset (required with --raw); range checks still apply\n"
           "  --allow-bootloader  permit writing 0x0-0x11000 (on bk7231t/u/bk7252 this replaces\n"
           "                      the only UART bootloader: a mistake needs SPI recovery).\n"
           "                      SPI programmer: write a _QIO_ image whole from 0x0, the\n"
           "                      bootloader included (the recovery)\n"
           "  --force             write an image whose content or name says another chip\n"
           "  --reprotect         set the flash block protection again afterwards (UART: ROM\n"
           "                      loaders; SPI programmer: the part's protect-all bits)\n"
           "  --reboot            start the new firmware when done: what --after reboot (the\n"
           "                      default) does; kept for scripts\n"
           "%s\n%s",
           flash_cli_common_help(), cli_exit_codes_help);
}

static void report_done(flash_cli *c, const char *file, const fl_placement *p, uint32_t len,
                        double secs)
{
    fl_flash_stats s;
    fl_flash_stats_get(c->flash, &s);
    const char *how = fl_flash_identity(c->flash)->verified_by;
    if (!how)
        how = "the driver";
    if (c->json) {
        cli_json_event(&c->out, "done",
                       json_pack("{s:s, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:s}", "verb", "write",
                                 "file", cli_json_text(file), "offset", (json_int_t)p->flash_offset,
                                 "file_skip", (json_int_t)p->file_skip, "size", (json_int_t)len,
                                 "blocks_written", (json_int_t)s.blocks_written, "blocks_skipped",
                                 (json_int_t)s.blocks_skipped, "retries", (json_int_t)s.retries,
                                 "seconds", round(secs * 1000) / 1000, "verified_by", how));
        return;
    }
    fprintf(stderr,
            "wrote %s at 0x%06X..0x%06X (%u KiB) in %.1f s: %u sectors written, %u already "
            "matched, %u retries; verified by %s\n",
            file, p->flash_offset, p->flash_offset + len, len / 1024, secs, s.blocks_written,
            s.blocks_skipped, s.retries, how);
}

int cmd_write(int argc, char **argv)
{
    flash_cli c = {0};
    const cli_opt opts[] = {FLASH_COMMON_OPTS(c),
                            {"offset", OPT_STRING, &c.offset, NULL},
                            {"allow-bootloader", OPT_FLAG, NULL, &c.allow_bootloader},
                            {"force", OPT_FLAG, NULL, &c.force},
                            {"raw", OPT_FLAG, NULL, &c.raw},
                            {"reprotect", OPT_FLAG, NULL, &c.reprotect},
                            {"reboot", OPT_FLAG, NULL, &c.reboot},
                            {0}};
    const char *pos[1];
    int npos;
    int rc = cli_parse("write", argc, argv, opts, pos, 1, &npos, &c.help);
    if (rc)
        return rc;
    if (c.help) {
        usage();
        return EXIT_OK;
    }
    if (npos != 1)
        return cli_usage_error("write", "which FILE? (flashline write FILE --port ... --chip ...)");
    if (c.reboot && c.after) {
        fl_after_mode after;
        if (fl_after_mode_parse(c.after, &after) && after == FL_AFTER_STAY)
            return cli_usage_error("write", "--reboot and --after stay contradict each other");
    }
    flash_cli_image img;
    if ((rc = flash_cli_open_image("write", &c, pos[0], false, &img)))
        return rc;
    const fl_placement *p = &img.place;
    uint32_t wlen = p->length;
    fl_error err = {0};
    double t0 = fl_now();
    fl_status st = fl_flash_write(c.flash, p->flash_offset, img.data + p->file_skip, wlen, &err);
    if (!st && c.reprotect)
        st = fl_flash_protect(c.flash, true, &err);
    if (!st && c.reboot && !(st = fl_flash_reboot(c.flash, &err)))
        c.rebooted = true;
    cli_output_end_phase(&c.out);
    if (!st)
        st = flash_cli_finish(&c, &err);
    if (st)
        rc = cli_report_error(&c.out, "write", &err);
    else
        report_done(&c, pos[0], p, wlen, fl_now() - t0);
    flash_cli_image_free(&img);
    return flash_cli_done("write", &c, rc);
}
