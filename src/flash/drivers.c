/* drivers.c — the driver table (flash/driver.h).
 *
 * Adding a driver: one folder src/drivers/<name>/ whose driver.c defines
 * `const fl_driver fl_driver_<name>`, and one line below.  Order matters:
 * a port is offered to the drivers from the top, and the first whose
 * claims_port() takes it is the one (src/DESIGN.md, "Drivers"). */
#include "flash/driver.h"

static const fl_driver *const drivers[] = {
    &fl_driver_ch341a_spi, /* USB programmers first: they recognise their own URLs (ch341a…) */
    &fl_driver_esp_rom,    /* UART ports, only when --chip names an ESP (needs_chip) */
    &fl_driver_beken_uart, /* last: any port nobody else claims is a UART */
    NULL,
};

const fl_driver *const *fl_drivers(void)
{
    return drivers;
}
