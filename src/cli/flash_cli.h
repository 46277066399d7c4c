/* beken_cli.h — what the flash verbs (info/read/write/erase/verify) share:
 * the common options and the open-link → connect sequence. */
#ifndef FL_CLI_BEKEN_CLI_H
#define FL_CLI_BEKEN_CLI_H

#include "flash/image_policy.h"
#include "drivers/beken_uart/session.h"
#include "cli/cli.h"
#include "link/link.h"

typedef struct beken_cli {
    const char *port, *chip, *baud, *reset, *link_timeout, *offset, *size, *output;
    bool json, allow_bootloader, force, raw, all, reprotect, reboot, help;
    cli_output out;
    fl_events events;
    fl_link *link;
    fl_beken *session;
} beken_cli;

/* The options every flash verb takes, spliced into each verb's table. */
/* -p, -b and -c as esptool users type them. */
#define BEKEN_COMMON_OPTS(c)                                   \
    {"port", OPT_STRING, &(c).port, NULL, 'p', NULL},          \
    {"chip", OPT_STRING, &(c).chip, NULL, 'c', NULL},          \
    {"baud", OPT_STRING, &(c).baud, NULL, 'b', NULL},          \
    {"reset", OPT_STRING, &(c).reset, NULL},                   \
    {"link-timeout", OPT_STRING, &(c).link_timeout, NULL},     \
    {"json", OPT_FLAG, NULL, &(c).json}

extern const char beken_common_help[];

/* Validate the common options, open the link, get the bus and identify.
 * On failure reports the error (JSON under --json) and returns the exit code. */
int beken_cli_connect(const char *verb, beken_cli *c);
/* The chip of --chip for checks before connecting; NULL (with the usage
 * error printed and *rc set) when --port or --chip is missing or unknown. */
const fl_chip *beken_cli_chip(const char *verb, beken_cli *c, int *rc);
/* Close session and link. */
void beken_cli_close(beken_cli *c);
/* Print the identity block (human) or an "identity" JSON event. */
void beken_cli_print_identity(beken_cli *c);

/* A firmware file for write/verify, read before the unit is touched and
 * placed for the chip once it is identified. */
typedef struct beken_cli_image {
    uint8_t *data;
    size_t len;
    fl_placement place;
} beken_cli_image;

/* Check the options, read FILE and decide its placement with the image
 * policy (flash/image_policy.h) before connecting — a bad file or offset
 * costs no reset and touches nothing — then connect and decide again with
 * the real flash size.  read_only: verify (the bootloader guard does not
 * apply).  On failure reports the error (JSON under --json) and returns the exit
 * code (nothing to free). */
int beken_cli_open_image(const char *verb, beken_cli *c, const char *path, bool read_only,
                         beken_cli_image *img);
void beken_cli_image_free(beken_cli_image *img);

/* Parse --offset/--size style numbers or report a usage error. */
int beken_cli_number(const char *verb, const char *opt, const char *text, uint32_t *out);

#endif
