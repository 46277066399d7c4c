/* sim_chips.c — the simulated chip variants and the latency table.
 *
 * Values marked [guess] are not confirmed by a source (spec beken-uart.md §11, §14 item 7);
 * everything else is quoted in the spec's §11.1/§11.2/§12.1. */
#include <string.h>

#include "sim/sim_internal.h"

/* eFuse bytes 0..15 are four LE u32 "coefficients"; BK7231N units carry the Tuya key
 * 510fb093 a3cbeadc 5993a17e c7adeb03 (spec §11.1), BK7231M units all zero. */
static const uint8_t efuse_tuya[32] = {
    0x93, 0xb0, 0x0f, 0x51, 0xdc, 0xea, 0xcb, 0xa3,
    0x7e, 0xa1, 0x93, 0x59, 0x03, 0xeb, 0xad, 0xc7,
};
static const uint8_t efuse_zero[32];

#define LB_PROTECT_ALL 0x001C /* BP0|BP1|BP2: what set_flash_protect(ALL) leaves (GUI table) */
#define ROM_FACTORY_SR 0x4004 /* BP0|CMP: as read from a BK7231M unit in issue #1112 */

static const sim_chip chips[] = {
    /* flash-loader personality ([LBOOT]; the loader lives in flash 0..0x11000) */
    {"bk7231t", SIM_LBOOT, false, 0, 0, false, NULL, 0xC84015, 2u << 20, LB_PROTECT_ALL,
     "BK7231S_1.0.5", "BK7231S_1.0.5", "OpenBK7231T", 0x11000},
    {"bk7231u", SIM_LBOOT, false, 0, 0, false, NULL, 0xC84015, 2u << 20, LB_PROTECT_ALL, NULL,
     "BK7231u_1.0.11", "OpenBK7231U", 0x11000},
    {"bk7252", SIM_LBOOT, false, 0, 0, false, NULL, 0xC84016, 4u << 20, LB_PROTECT_ALL, NULL,
     "BK7251_1.0.11", "OpenBK7252", 0x11000},
    /* ROM-loader personality ([IDK]-like) */
    {"bk7231n", SIM_ROM, false, 0x800000, 0x7231C, false, efuse_tuya, 0xC84015, 2u << 20,
     ROM_FACTORY_SR, NULL, "BK7231n_1.0.1", "OpenBK7231N", 0},
    {"bk7231m", SIM_ROM, false, 0x800000, 0x7231C, false, efuse_zero, 0xEB6015, 2u << 20,
     ROM_FACTORY_SR, NULL, "BK7231n_1.0.1", "OpenBK7231M", 0},
    {"bk7238", SIM_ROM, false, 0x800000, 0x7238, false, efuse_zero /* [guess] */, 0xC84015,
     2u << 20, ROM_FACTORY_SR, NULL, "bk7238_1.0.14", "OpenBK7238", 0},
    {"bk7252n", SIM_ROM, false, 0x800000, 0x7252A /* [guess] */, true, efuse_zero /* [guess] */,
     0xC86516 /* [guess] */, 4u << 20, ROM_FACTORY_SR, NULL, "bk7252n_1.0.1", "OpenBK7252N", 0},
    {"bk7236", SIM_ROM, true, 0x44010004, 0x7236 /* [guess] */, true, NULL, 0xC86516, 4u << 20,
     ROM_FACTORY_SR, NULL, "bk7236_bl2", "OpenBK7236", 0},
    {"bk7258", SIM_ROM, true, 0x44010004, 0x7236 /* [guess]: GUI groups it as 7236 family */,
     true, NULL, 0xC86517, 8u << 20, ROM_FACTORY_SR, NULL, "bk7258_bl2", "OpenBK7258", 0},
    /* ESP personality (sim_esp.c): magic word at 0x40001000 as the "chip ID"; the flash
     * has no protection set (the ROM unprotects it); 4 MiB GD25Q32 by default */
    {"esp8266", SIM_ESP, false, 0x40001000, 0xFFF0C101, false, NULL, 0xC84016, 4u << 20, 0,
     NULL, "", "OpenESP8266", 0},
    {"esp32", SIM_ESP, false, 0x40001000, 0x00F01D83, false, NULL, 0xC84016, 4u << 20, 0, NULL,
     "", "OpenESP32", 0},
    {"esp32s2", SIM_ESP, false, 0x40001000, 0x000007C6, false, NULL, 0xC84016, 4u << 20, 0,
     NULL, "", "OpenESP32S2", 0},
    {"esp32s3", SIM_ESP, false, 0x40001000, 0x00000009, false, NULL, 0xC84016, 4u << 20, 0,
     NULL, "", "OpenESP32S3", 0},
    {"esp32c2", SIM_ESP, false, 0x40001000, 0x6F51306F, false, NULL, 0xC84016, 4u << 20, 0,
     NULL, "", "OpenESP32C2", 0},
    {"esp32c3", SIM_ESP, false, 0x40001000, 0x1B31506F, false, NULL, 0xC84016, 4u << 20, 0,
     NULL, "", "OpenESP32C3", 0},
    {"esp32c6", SIM_ESP, false, 0x40001000, 0x2CE0806F, false, NULL, 0xC84016, 4u << 20, 0,
     NULL, "", "OpenESP32C6", 0},
};

static const char *const chip_names[] = {"bk7231t", "bk7231u", "bk7252", "bk7231n", "bk7231m",
                                         "bk7238",  "bk7252n", "bk7236", "bk7258",  "esp8266",
                                         "esp32",   "esp32s2", "esp32s3", "esp32c2", "esp32c3",
                                         "esp32c6", NULL};

const sim_chip *sim_chip_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof chips / sizeof chips[0]; i++)
        if (!strcasecmp(chips[i].name, name))
            return &chips[i];
    return NULL;
}

const char *const *fl_sim_chip_names(void)
{
    return chip_names;
}

fl_status fl_sim_get_chip_info(const char *chip, fl_sim_chip_info *out, fl_error *err)
{
    const sim_chip *c = sim_chip_find(chip);
    if (!c)
        return fl_fail(err, FL_ERR_USAGE, "unknown chip '%s'", chip ? chip : "(none)");
    memset(out, 0, sizeof *out);
    out->name = c->name;
    out->rom_loader = c->pers != SIM_LBOOT;
    out->chip_id_reg = c->chipid_addr;
    out->chip_id = c->chipid_value;
    out->jedec_id = c->jedec;
    out->flash_size = c->flash_size;
    out->status_reg = c->sr_default;
    out->boot_version = c->boot_version;
    out->protected_limit = c->lb_limit;
    return FL_OK;
}

/* Suggested by spec §12.4 and the brief; none of these are measured on hardware. */
const sim_timing sim_timing_default = {
    .erase_4k = 0.045,
    .erase_32k = 0.150,
    .erase_64k = 0.250,
    .chip_erase_per_mib = 2.0,
    .page_program = 0.0007,
    .crc_bytes_per_s = 4.0 * 1024 * 1024,
    .rom_boot_window = 0.25,      /* [IDK] 255 x ~1 ms polls */
    .lb_boot_window = 0.30,       /* [LBOOT] CHECK_CNT_NUMBER idle polls [guess] */
    .lb_watchdog_idle = 1.5,      /* [LBOOT] idle in download mode → wdt_reboot [guess] */
    .rom_partial_timeout = 0.020, /* [IDK] RX-stop + 1000 x delay(20) [guess] */
    .reboot_delay = 0.005,
    .app_reboot_delay = 0.050,
    .app_log_period = 1.0,
    .pty_baud_poll = 0.010,
};
