/* flashline verify — compare flash with a file by CRC. */
#include <stdio.h>
#include <stdlib.h>

#include "beken/placement.h"
#include "cli/beken_cli.h"
#include "util/fileio.h"

static void usage(void)
{
    printf("usage: flashline verify FILE --port URL --chip CHIP [--offset A] [options]\n\n"
           "Compares flash with FILE using the chip's CRC (64 KiB at a time; the first\n"
           "differing 4 KiB sector is reported).  Placement as for 'write' (a _QIO_ image is\n"
           "compared from 0x11000 where write would skip its bootloader).  Exit 1 on mismatch.\n\n"
           "Options:\n"
           "  --offset A          flash address of the first byte of FILE\n"
           "  --allow-bootloader  compare a _QIO_ image's bootloader part too\n"
           "  --force             accept an image named for another chip\n"
           "%s\n%s",
           beken_common_help, cli_exit_codes_help);
}

int cmd_verify(int argc, char **argv)
{
    beken_cli c = {0};
    const cli_opt opts[] = {BEKEN_COMMON_OPTS(c),
                            {"offset", OPT_STRING, &c.offset, NULL},
                            {"allow-bootloader", OPT_FLAG, NULL, &c.allow_bootloader},
                            {"force", OPT_FLAG, NULL, &c.force},
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
    if (npos != 1) {
        fprintf(stderr, "flashline verify: which FILE?\n");
        return EXIT_USAGE;
    }
    uint32_t offset = 0;
    if (c.offset && beken_cli_number("verify", "offset", c.offset, &offset))
        return EXIT_USAGE;
    uint8_t *data;
    size_t len;
    fl_error err = {0};
    if (fl_read_file(pos[0], &data, &len, 64u << 20, &err)) {
        fprintf(stderr, "flashline verify: error: %s\n", err.msg);
        return cli_exit_code(err.code);
    }
    if ((rc = beken_cli_connect("verify", &c))) {
        free(data);
        return rc;
    }
    fl_placement p;
    uint32_t bad = 0;
    fl_status st = fl_place_image(c.session->chip, pos[0], len, c.session->flash_size,
                                  c.offset ? (int64_t)offset : -1, c.allow_bootloader, c.force, &p,
                                  &err);
    if (!st)
        st = fl_beken_verify(c.session, p.flash_offset, data + p.file_skip,
                             (uint32_t)(len - p.file_skip), &bad, &err);
    cli_output_end_phase(&c.out);
    if (st) {
        rc = cli_report_error(&c.out, "verify", &err);
    } else if (c.json) {
        char f[128];
        snprintf(f, sizeof f, "\"verb\":\"verify\",\"offset\":%u,\"size\":%u,\"match\":true",
                 p.flash_offset, (unsigned)(len - p.file_skip));
        cli_json_event(&c.out, "done", f);
    } else {
        fprintf(stderr, "flash 0x%06X..0x%06X matches %s\n", p.flash_offset,
                p.flash_offset + (unsigned)(len - p.file_skip), pos[0]);
    }
    free(data);
    beken_cli_close(&c);
    return rc;
}
