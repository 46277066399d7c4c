/* flashline read — read flash to a file (UART: CRC-verified), written durably. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/flash_cli.h"
#include "util/clock.h"
#include "util/fileio.h"

static void usage(void)
{
    printf("usage: flashline read --port URL [--chip CHIP] -o FILE [--offset A] [--size N]\n"
           "       flashline read -p URL [-c CHIP] -o FILE [options]\n\n"
           "Reads flash (default: all of it) and writes FILE durably (temp file, fsync,\n"
           "rename): FILE is either complete or untouched.  UART: the chip is asked the\n"
           "CRC of every 4 KiB sector first; erased sectors (and, with --reference, sectors\n"
           "equal to the reference image's) are proven, not moved; the others are read and\n"
           "proven by their CRC, and the proven ones checked again over other ranges.  SPI\n"
           "programmer: read in large frames over USB, whose packets carry their own CRC;\n"
           "the chip has no CRC to compare with.  --chip spi-nor reads the whole chip (up\n"
           "to 16 MiB).  ESP ROM loader: read 64 bytes a command (READ_FLASH_SLOW), each\n"
           "4 KiB proven by the ROM's MD5; refused on the ESP8266 and in Secure Download Mode.\n\n"
           "Options:\n"
           "  -o, --output FILE   where to save (required)\n"
           "  --offset A          start address (default 0)\n"
           "  --size N            bytes to read (default: to the end of flash); 0x, K and M ok\n"
           "  --reference FILE    a whole-flash image of the same product (an earlier backup):\n"
           "                      sectors whose chip CRC equals its sector are copied from it\n"
           "%s\n%s",
           flash_cli_common_help(), cli_exit_codes_help);
}

/* Can FILE be written?  Tried for real, before the unit is touched (a long
 * read must not end in "cannot write"): a probe file is created next to it,
 * where the durable write puts its temp file, and removed again. */
static fl_status check_output_writable(const char *path, fl_error *err)
{
    fl_status st = fl_output_path_check(path, err);
    if (st)
        return st;
    char probe[4200];
    if ((size_t)snprintf(probe, sizeof probe, "%s.probe.%ld", path, (long)getpid()) >= sizeof probe)
        return fl_fail(err, FL_ERR_FILE, "cannot write %s: the path is too long", path);
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return fl_fail(err, FL_ERR_FILE, "cannot write %s: %s", path, strerror(errno));
    close(fd);
    unlink(probe);
    return FL_OK;
}

int cmd_read(int argc, char **argv)
{
    flash_cli c = {0};
    const char *reference = NULL;
    const cli_opt opts[] = {FLASH_COMMON_OPTS(c),
                            {"reference", OPT_STRING, &reference, NULL},
                            {"output", OPT_STRING, &c.output, NULL, 'o', NULL},
                            {"offset", OPT_STRING, &c.offset, NULL},
                            {"size", OPT_STRING, &c.size, NULL},
                            {0}};
    const char *pos[1];
    int npos;
    int rc = cli_parse("read", argc, argv, opts, pos, 0, &npos, &c.help);
    if (rc)
        return rc;
    if (c.help) {
        usage();
        return EXIT_OK;
    }
    if (!c.output)
        return cli_usage_error("read", "-o FILE is required");
    uint32_t offset = 0, size = 0;
    if ((c.offset && flash_cli_number("read", "offset", c.offset, &offset)) ||
        (c.size && flash_cli_number("read", "size", c.size, &size)))
        return EXIT_USAGE;
    /* Every argument is checked before the unit is touched: the range against
     * the largest flash this chip can have (again below with the real size),
     * and the output file. */
    const fl_chip *chip = flash_cli_chip("read", &c, &rc);
    if (!chip && rc)
        return rc;
    cli_output_init(&c.out, c.json, c.port);
    fl_error perr = {0};
    if ((chip && fl_flash_range_check(chip, NULL, offset, c.size ? size : 1,
                                      fl_chip_flash_size_limit(chip), false, false, &perr)) ||
        check_output_writable(c.output, &perr))
        return cli_report_error(&c.out, "read", &perr);
    uint8_t *ref = NULL;
    size_t ref_len = 0;
    if (reference && fl_read_file(reference, &ref, &ref_len, 64u << 20, &perr))
        return cli_report_error(&c.out, "read", &perr);
    if ((rc = flash_cli_connect("read", &c))) {
        free(ref);
        return rc;
    }
    uint32_t flash_size = fl_flash_identity(c.flash)->flash_size;
    if (!c.size)
        size = offset < flash_size ? flash_size - offset : 0;
    fl_error err = {0};
    fl_status st = fl_flash_check_range(c.flash, offset, size, false, &err);
    uint8_t *buf = NULL;
    if (!st && !(buf = malloc(size ? size : 1)))
        st = fl_fail(&err, FL_ERR_INTERNAL, "out of memory");
    double t0 = fl_now();
    fl_read_stats rs;
    if (!st)
        st = fl_flash_read_proven(c.flash, offset, size, buf, ref, ref_len, &rs, &err);
    double secs = fl_now() - t0;
    if (!st)
        st = fl_write_file_durable(c.output, buf, size, &err);
    cli_output_end_phase(&c.out);
    if (!st)
        st = flash_cli_finish(&c, &err);
    fl_flash_stats stats;
    fl_flash_stats_get(c.flash, &stats);
    if (st) {
        rc = cli_report_error(&c.out, "read", &err);
    } else if (c.json) {
        cli_json_event(&c.out, "done",
                       json_pack("{s:s, s:I, s:I, s:o, s:f, s:I, s:I, s:I, s:I, s:I}", "verb",
                                 "read", "offset", (json_int_t)offset, "size", (json_int_t)size,
                                 "file", cli_json_text(c.output), "seconds",
                                 round(secs * 1000) / 1000, "retries", (json_int_t)stats.retries,
                                 "sectors_read", (json_int_t)rs.sectors_read, "proven_erased",
                                 (json_int_t)rs.proven_erased, "from_reference",
                                 (json_int_t)rs.from_reference, "reread", (json_int_t)rs.reread));
    } else {
        fprintf(stderr, "read 0x%06X..0x%06X (%u KiB) to %s in %.1f s (%.1f KiB/s, %u retries)\n",
                offset, offset + size, size / 1024, c.output, secs,
                secs > 0 ? size / 1024.0 / secs : 0, stats.retries);
        if (rs.proven)
            fprintf(stderr, "  %u of %u sectors moved, %u proven erased, %u taken from the "
                            "reference\n",
                    rs.sectors_read, rs.sectors, rs.proven_erased, rs.from_reference);
    }
    free(buf);
    free(ref);
    return flash_cli_done("read", &c, rc);
}
