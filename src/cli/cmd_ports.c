/* flashline ports — list local serial ports, then CH341A USB programmers. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "link/link.h"
#include "link/usb.h"

/* The USB programmers after the serial ports: human lines under a heading,
 * or JSON objects with "kind":"ch341a" (serial ports have no "kind"). */
static int print_usb_programmers(bool json)
{
    fl_usb_device_info *devs;
    size_t n;
    fl_error err = {0};
    if (fl_usb_list(&devs, &n, &err))
        return cli_early_error("ports", err.code, "%s", err.msg);
    if (!json && n == 0)
        fprintf(stderr, "no CH341A USB programmers found (plug one in with its jumper in the "
                        "SPI/I2C position)\n");
    if (!json && n > 0)
        printf("\nUSB programmers:\n");
    for (size_t i = 0; i < n; i++) {
        fl_usb_device_info *d = &devs[i];
        if (json) {
            cli_json_print(json_pack(
                "{s:s, s:o, s:o, s:s, s:i, s:i, s:o, s:o, s:o}", "kind", "ch341a", "port",
                cli_json_text(d->url), "description", cli_json_text(d->description), "transport",
                "usb", "usb_vid", d->vid, "usb_pid", d->pid, "serial", cli_json_text(d->serial),
                "usb_path", cli_json_text(d->path), "problem", cli_json_text(d->problem)));
        } else {
            printf("%-16s %04x:%04x  serial=%-12s usb=%-6s %s%s%s\n", d->url, d->vid, d->pid,
                   d->serial[0] ? d->serial : "-", d->path, d->description,
                   d->problem[0] ? ": " : "", d->problem);
        }
    }
    free(devs);
    return EXIT_OK;
}

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
               "bus-address, so a station can pin a recipe to one physical adapter.\n\n"
               "Then lists CH341A USB-SPI programmers (1a86:5512) by the --port they take\n"
               "(ch341a:BUS-PORT, e.g. ch341a:1-4.2), with what keeps one from being opened\n"
               "(permission: install src/link/udev/60-flashline-ch341a.rules as\n"
               "/etc/udev/rules.d/60-flashline-ch341a.rules).  Under --json they are objects\n"
               "with \"kind\": \"ch341a\".\n");
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
    return print_usb_programmers(json);
}
