/* flash_cli.h — what the flash verbs (info/read/write/erase/verify) share:
 * the common options and opening the session (flash/flash.h).  Nothing here
 * knows a driver: the port chooses it. */
#ifndef FL_CLI_FLASH_CLI_H
#define FL_CLI_FLASH_CLI_H

#include "cli/cli.h"
#include "flash/flash.h"
#include "flash/image_policy.h"

typedef struct flash_cli {
    const char *port, *chip, *baud, *reset, *link_timeout, *offset, *size, *output;
    const char *before, *after; /* esptool's names: --before is --reset (kept as an alias) */
    bool json, allow_bootloader, force, raw, all, reprotect, reboot, help;
    bool finished; /* flash_cli_finish ran */
    bool after_reboot, rebooted; /* --after reboot asked; the chip left its loader */
    cli_output out;
    fl_events events;
    fl_flash *flash;
} flash_cli;

/* The options every flash verb takes, spliced into each verb's table. */
/* -p, -b and -c as esptool users type them. */
#define FLASH_COMMON_OPTS(c)                                   \
    {"port", OPT_STRING, &(c).port, NULL, 'p', NULL},          \
    {"chip", OPT_STRING, &(c).chip, NULL, 'c', NULL},          \
    {"baud", OPT_STRING, &(c).baud, NULL, 'b', NULL},          \
    {"reset", OPT_STRING, &(c).reset, NULL},                   \
    {"before", OPT_STRING, &(c).before, NULL},                 \
    {"after", OPT_STRING, &(c).after, NULL},                   \
    {"link-timeout", OPT_STRING, &(c).link_timeout, NULL},     \
    {"json", OPT_FLAG, NULL, &(c).json}

/* The help lines for those options (the port forms come from the driver table). */
const char *flash_cli_common_help(void);

/* Validate the common options, open the session (driver, bus, identity).
 * On failure reports the error (JSON under --json) and returns the exit code. */
int flash_cli_connect(const char *verb, flash_cli *c);
/* The chip of --chip for checks before connecting.  NULL with *rc = 0: no
 * --chip, the driver tells the chip once connected (the checks then wait
 * for the identity); NULL with the usage error printed and *rc set when
 * --port is missing, the chip unknown or the port's driver does not serve it. */
const fl_chip *flash_cli_chip(const char *verb, flash_cli *c, int *rc);
/* Close the session. */
void flash_cli_close(flash_cli *c);
/* The verb's work succeeded: do what --after says (fl_flash_finish), before
 * the verb reports that it is done. */
fl_status flash_cli_finish(flash_cli *c, fl_error *err);
/* The verb ends with exit code rc: when it succeeded and has not finished
 * yet, finish (a failure there is reported and becomes the exit code), then
 * close.  After a failure the chip is left in its loader for a retry.
 * Returns the exit code. */
int flash_cli_done(const char *verb, flash_cli *c, int rc);
/* Print the identity block (human) or an "identity" JSON event. */
void flash_cli_print_identity(flash_cli *c);

/* A firmware file for write/verify, read before the unit is touched and
 * placed for the chip once it is identified. */
typedef struct flash_cli_image {
    uint8_t *data;
    size_t len;
    fl_placement place;
} flash_cli_image;

/* Check the options, read FILE and decide its placement with the image
 * policy (fl_flash_plan_image: the port's driver's placement rules) before
 * connecting — a bad file or offset costs no reset and touches nothing —
 * then connect and decide again with the real flash size.  read_only:
 * verify (the bootloader guard does not apply).  On failure reports the
 * error (JSON under --json) and returns the exit code (nothing to free). */
int flash_cli_open_image(const char *verb, flash_cli *c, const char *path, bool read_only,
                         flash_cli_image *img);
void flash_cli_image_free(flash_cli_image *img);

/* Parse --offset/--size style numbers or report a usage error. */
int flash_cli_number(const char *verb, const char *opt, const char *text, uint32_t *out);

#endif
