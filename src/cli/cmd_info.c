/* flashline info — identify the chip on a port. */
#include <stdio.h>

#include "cli/flash_cli.h"

static void usage(void)
{
    printf("usage: flashline info --port URL [--chip CHIP] [options]\n"
           "       flashline info -p URL [-c CHIP] [options]\n\n"
           "Gets the chip's attention the way the port and --chip say (UART: the Beken\n"
           "bootloader, or with --chip esp32 etc. the Espressif ROM loader; SPI\n"
           "programmer: Beken SPI mode, or the bare flash chip with --chip spi-nor), then\n"
           "prints the driver, how the chip answers, chip ID (UART), flash JEDEC ID, part,\n"
           "size, status register(s) (SPI: SR1, SR2, SR3 each) and the MAC (Beken: from the\n"
           "RF calibration sector; Espressif: from the eFuses).  Without --chip the UART\n"
           "chip ID tells the Beken chip where it can.  Then the chip runs its firmware\n"
           "(--after reboot) or stays in its loader (--after stay).\n\n"
           "Options:\n%s\n%s",
           flash_cli_common_help(), cli_exit_codes_help);
}

int cmd_info(int argc, char **argv)
{
    flash_cli c = {0};
    const cli_opt opts[] = {FLASH_COMMON_OPTS(c), {0}};
    const char *pos[1];
    int npos;
    int rc = cli_parse("info", argc, argv, opts, pos, 0, &npos, &c.help);
    if (rc)
        return rc;
    if (c.help) {
        usage();
        return EXIT_OK;
    }
    if ((rc = flash_cli_connect("info", &c)))
        return rc;
    flash_cli_print_identity(&c);
    uint8_t mac[6];
    fl_error err = {0};
    fl_status st = fl_flash_read_mac(c.flash, mac, &err);
    if (st == FL_OK) {
        char m[32];
        snprintf(m, sizeof m, "%02X:%02X:%02X:%02X:%02X:%02X", mac[0], mac[1], mac[2], mac[3],
                 mac[4], mac[5]);
        if (c.json) {
            cli_json_event(&c.out, "mac", json_pack("{s:s}", "mac", m));
        } else {
            const fl_chip *chip = fl_flash_identity(c.flash)->chip;
            if (chip->family == FL_FAMILY_ESP) /* the factory MAC is in the chip's eFuses */
                printf("MAC:           %s (eFuse)\n", m);
            else
                printf("MAC:           %s (RF calibration sector 0x%06X)\n", m, chip->rf_offset);
        }
    } else if (st == FL_ERR_FORMAT) {
        if (!c.json)
            printf("MAC:           unknown (%s)\n", err.msg);
    } else {
        rc = cli_report_error(&c.out, "info", &err);
    }
    return flash_cli_done("info", &c, rc);
}
