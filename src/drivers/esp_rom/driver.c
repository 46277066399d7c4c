/* driver.c — the Espressif ESP8266 / ESP32-family ROM loader as a flashline
 * driver (flash/driver.h; spec other-platforms.md §2).
 *
 * SKELETON: registered so that driver choice, --help and image planning see
 * the ESP family; open() refuses until the protocol lands. */
#include <stdlib.h>

#include "flash/driver.h"
#include "link/usb.h"

struct fl_driver_session {
    int unused;
};

static bool esp_claims_port(const char *port)
{
    return !fl_usb_is_url(port); /* the same UART ports as the Beken driver */
}

static bool esp_serves(const fl_chip *chip)
{
    return chip->family == FL_FAMILY_ESP;
}

static fl_status esp_open(const char *port, const fl_chip *chip, const fl_flash_opts *o,
                          const fl_events *ev, fl_driver_session **out, fl_identity *id,
                          fl_error *err)
{
    (void)port, (void)chip, (void)o, (void)ev, (void)id;
    *out = NULL;
    return fl_fail(err, FL_ERR_USAGE, "the ESP ROM driver is not built yet");
}

static void esp_close(fl_driver_session *s)
{
    free(s);
}

const fl_driver fl_driver_esp_rom = {
    .name = "esp-rom",
    .description = "the Espressif ESP8266 / ESP32-family ROM download loader (SLIP)",
    .ports_help = "/dev/ttyUSB0, serial:NAME, rfc2217://HOST:PORT, sim:esp32[?…] (needs --chip)",
    .claims_port = esp_claims_port,
    .serves = esp_serves,
    .needs_chip = true,
    .placement_flags = 0,
    .open = esp_open,
    .close = esp_close,
};
