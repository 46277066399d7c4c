/* flashline info — identify the chip on a port. */
#include <stdio.h>

#include "cli/beken_cli.h"

static void usage(void)
{
    printf("usage: flashline info --port URL --chip CHIP [options]\n"
           "       flashline info -p URL -c CHIP [options]\n\n"
           "Gets the bootloader, then prints the loader kind, chip ID, flash JEDEC ID, part,\n"
           "size, status register and the MAC from the RF calibration sector.\n\n"
           "Options:\n%s\n%s",
           beken_common_help, cli_exit_codes_help);
}

int cmd_info(int argc, char **argv)
{
    beken_cli c = {0};
    const cli_opt opts[] = {BEKEN_COMMON_OPTS(c), {0}};
    const char *pos[1];
    int npos;
    int rc = cli_parse("info", argc, argv, opts, pos, 0, &npos, &c.help);
    if (rc)
        return rc;
    if (c.help) {
        usage();
        return EXIT_OK;
    }
    if ((rc = beken_cli_connect("info", &c)))
        return rc;
    beken_cli_print_identity(&c);
    uint8_t mac[6];
    fl_error err = {0};
    fl_status st = fl_beken_read_mac(c.session, mac, &err);
    if (st == FL_OK) {
        char m[32];
        snprintf(m, sizeof m, "%02X:%02X:%02X:%02X:%02X:%02X", mac[0], mac[1], mac[2], mac[3],
                 mac[4], mac[5]);
        if (c.json) {
            cli_json_event(&c.out, "mac", json_pack("{s:s}", "mac", m));
        } else {
            printf("MAC:           %s (RF calibration sector 0x%06X)\n", m,
                   c.session->chip->rf_offset);
        }
    } else if (st == FL_ERR_FORMAT) {
        if (!c.json)
            printf("MAC:           unknown (%s)\n", err.msg);
    } else {
        rc = cli_report_error(&c.out, "info", &err);
    }
    beken_cli_close(&c);
    return rc;
}
