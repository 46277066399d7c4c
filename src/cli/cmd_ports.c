/* flashline ports — list local serial ports. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "link/link.h"

int cmd_ports(int argc, char **argv)
{
    bool json = false, help = false;
    const cli_opt opts[] = {{"json", OPT_FLAG, NULL, &json}, {0}};
    const char *pos[1];
    int npos;
    int rc = cli_parse("ports", argc, argv, opts, pos, 0, &npos, &help);
    if (rc)
        return rc;
    if (help) {
        printf("usage: flashline ports [--json]\n\n"
               "Lists local serial ports with description, USB VID:PID, serial number and USB\n"
               "bus-address, so a station can pin a recipe to one physical adapter.\n");
        return EXIT_OK;
    }
    fl_port_info *ports;
    size_t n;
    fl_error err = {0};
    if (fl_link_list_ports(&ports, &n, &err))
        return cli_early_error("ports", err.code, "%s", err.msg);
    if (!json && n == 0)
        fprintf(stderr, "no serial ports found (is the USB-UART adapter plugged in? 'dmesg' shows "
                        "whether the kernel saw it)\n");
    for (size_t i = 0; i < n; i++) {
        fl_port_info *p = &ports[i];
        if (json) {
            cli_json_print(json_pack("{s:o, s:o, s:o, s:i, s:i, s:o, s:o}", "port",
                                     cli_json_text(p->name), "description",
                                     cli_json_text(p->description), "transport",
                                     cli_json_text(p->transport), "usb_vid", p->usb_vid, "usb_pid",
                                     p->usb_pid, "serial", cli_json_text(p->serial), "usb_path",
                                     cli_json_text(p->usb_path)));
        } else if (p->usb_vid >= 0) {
            printf("%-16s %04x:%04x  serial=%-12s usb=%-6s %s\n", p->name, p->usb_vid, p->usb_pid,
                   p->serial[0] ? p->serial : "-", p->usb_path[0] ? p->usb_path : "-",
                   p->description);
        } else {
            printf("%-16s %-9s  %s\n", p->name, p->transport, p->description);
        }
    }
    free(ports);
    return EXIT_OK;
}
