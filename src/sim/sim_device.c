/* sim_device.c — the simulated chip around the loader (spec §12.2).
 *
 *   OFF --power on, CEN high (RTS released)--> BOOT (115200)
 *   BOOT --LinkCheck--> DOWNLOAD;  BOOT --window over--> APP (boot text, log lines)
 *   DOWNLOAD --Reboot A5 / Reset SEAN--> RESETTING --few ms--> BOOT
 *   DOWNLOAD (flash loader) --line idle--> watchdog reboot --> BOOT
 *   APP --"reboot\n" / "reboot\r\n" at 115200--> RESETTING --> BOOT
 *   any --RTS asserted / CEN low / power off--> OFF
 *
 * Also here: the register file behind ReadReg/WriteReg (chip ID, eFuse), and the flash
 * operations as the loaders perform them (busy time, brown-out, flash-loader damage). */
#include <stdio.h>
#include <string.h>

#include "sim/sim_internal.h"

double sim_scaled(const fl_sim *s, double seconds)
{
    return seconds * s->ts;
}

const char *sim_state_name(sim_dev_state st)
{
    switch (st) {
    case DEV_OFF: return "off";
    case DEV_BOOT: return "boot";
    case DEV_DOWNLOAD: return "download";
    case DEV_APP: return "app";
    case DEV_RESETTING: return "resetting";
    case DEV_HUNG: return "hung";
    case DEV_DEAD: return "dead";
    }
    return "?";
}

bool sim_dev_accepts_bytes(const fl_sim *s)
{
    sim_dev_state st = s->dev.state;
    return st == DEV_BOOT || st == DEV_DOWNLOAD || st == DEV_APP;
}

void sim_dev_set_baud(fl_sim *s, uint32_t baud)
{
    s->dev.baud = baud;
}

static void reset_parsers(fl_sim *s)
{
    sim_ring_clear(&s->fifo);
    sim_rom_reset(s);
    sim_lb_reset(s);
    sim_esp_parser_reset(s);
    s->dev.line_len = 0;
}

static void enter_app(fl_sim *s, double t);

static bool should_run(const fl_sim *s)
{
    const sim_dev *d = &s->dev;
    if (s->esp) /* classic auto-reset: RTS pulls EN low unless DTR is asserted too */
        return d->power_on && d->cen_ctl_high &&
               !(d->rts_asserted && !d->dtr_asserted && !s->o.manual_reset);
    bool rts_holds = d->rts_asserted && !s->o.manual_reset;
    return d->power_on && d->cen_ctl_high && !rts_holds;
}

static void go_off(fl_sim *s, double t)
{
    sim_tx_cut(s, t);
    reset_parsers(s);
    s->dev.state = DEV_OFF;
    s->dev.busy_until = t;
    s->dev.reset_at = SIM_INF;
}

void sim_dev_reset(fl_sim *s, double t)
{
    sim_dev *d = &s->dev;
    sim_tx_cut(s, t);
    reset_parsers(s);
    d->baud = 115200;
    d->reset_time = t;
    d->last_rx = t;
    d->busy_until = t;
    d->reset_at = SIM_INF;
    d->next_log = SIM_INF;
    d->erase_enable = false;
    d->efuse_ctl = d->efuse_data = 0;
    d->nregs = 0;
    s->stats.resets++;
    sim_trace(s, "reset", 0);
    if (s->esp) {
        sim_esp_start(s, t); /* samples the IO0 strap */
        return;
    }
    if (s->chip->pers == SIM_LBOOT &&
        (d->loader_damaged || !sim_loader_intact(&s->flash, s->chip->lb_limit))) {
        /* the UART loader lives in flash: overwritten, erased or corrupt, it never runs */
        d->state = DEV_DEAD;
        return;
    }
    d->state = DEV_BOOT;
    if (!s->o.quiet_app) {
        static const uint8_t glitch = 0x00; /* TX line settling when CEN releases */
        sim_tx(s, t, &glitch, 1, false);
    }
}

void sim_dev_update_power(fl_sim *s, double t)
{
    bool run = should_run(s);
    if (!s->dev.power_on)
        s->dev.power_cycled = true; /* ESP: the next start is a power-on reset */
    if (!run && s->dev.state != DEV_OFF)
        go_off(s, t);
    else if (run && s->dev.state == DEV_OFF && s->esp) {
        /* EN rises through its RC: the chip starts (and samples IO0) a little later, so
         * a host that releases RTS just after asserting DTR still gets download mode */
        s->dev.state = DEV_RESETTING;
        s->dev.reset_at = t + sim_esp_en_delay();
    } else if (run && s->dev.state == DEV_OFF)
        sim_dev_reset(s, t);
}

void sim_dev_schedule_reset(fl_sim *s, double t, double delay)
{
    reset_parsers(s);
    s->dev.state = DEV_RESETTING;
    s->dev.reset_at = t + delay;
}

void sim_dev_init(fl_sim *s, double now)
{
    sim_dev *d = &s->dev;
    d->power_on = true;
    d->cen_ctl_high = true;
    d->state = DEV_OFF;
    d->baud = 115200;
    d->reset_at = SIM_INF;
    sim_dev_update_power(s, now);
    if (s->esp && s->o.manual_reset) {
        /* running its firmware for a while: only the boot button and a power-cycle from
         * the control channel get it into download mode */
        d->reset_at = SIM_INF;
        d->power_cycled = false;
        sim_esp_app_start(s, now, false);
    } else if (s->o.manual_reset && d->state == DEV_BOOT) {
        /* A unit on a manual-reset fixture has been powered for a while: its window is
         * long gone, and only a power-cycle from the control channel opens a new one. */
        sim_tx_cut(s, now);
        enter_app(s, now);
    }
}

void sim_dev_enter_download(fl_sim *s)
{
    if (s->dev.state == DEV_BOOT)
        s->dev.state = DEV_DOWNLOAD;
}

/* ------------------------------------------------------------------ application */

static void app_print(fl_sim *s, double t, const char *text)
{
    sim_tx(s, t, (const uint8_t *)text, strlen(text), false);
}

static void enter_app(fl_sim *s, double t)
{
    sim_dev *d = &s->dev;
    d->state = DEV_APP;
    d->baud = 115200; /* the application sets up its own console */
    d->app_lines = 0;
    d->line_len = 0;
    if (s->o.quiet_app) {
        d->next_log = SIM_INF;
        return;
    }
    char buf[1024];
    snprintf(buf, sizeof buf,
             "\r\n%s\r\n"
             "REG:cpsr        spsr        r13         r14\r\n"
             "SVC:000000D3                00401C1C    0000A0B8\r\n"
             "IRQ:000000d2    00000010    00401e0c    deadbeef\r\n"
             "FIR:000000d1    00000010    00401ffc    deadbeef\r\n"
             "SYS:000000df                0040192c    00000158\r\n"
             "ST:00000000\r\n"
             "J 0x10000\r\n"
             "prvHeapInit-start addr:0x410c28, size:184280\r\n"
             "[Flash]id:0x%06x\r\n"
             "Info:MAIN:Main_Init_Before_Delay done\r\n"
             "Info:MAIN:%s version 1.18.300 (simulated), UART command line on\r\n"
             "Info:GEN:PIN_SetupPins pins have been set up.\r\n",
             s->chip->loader_banner, (unsigned)s->flash.jedec, s->chip->app_name);
    app_print(s, t, buf);
    d->next_log = t + s->tm.app_log_period;
}

static void app_log(fl_sim *s, double t)
{
    sim_dev *d = &s->dev;
    if (s->esp) {
        sim_esp_app_log(s, t);
        return;
    }
    char buf[256];
    d->app_lines++;
    snprintf(buf, sizeof buf,
             "Info:MAIN:Time %u, idle %u/s, free %u, MQTT 0(0), bWifi 0, secondsWithNoPing -1, "
             "socks 2/38\r\n",
             d->app_lines, 180000 + (sim_rand(s) % 4000), 82000 + (sim_rand(s) % 512));
    app_print(s, t, buf);
}

static void app_rx(fl_sim *s, uint8_t b, double t)
{
    sim_dev *d = &s->dev;
    if (b == '\r' || b == '\n') {
        d->line[d->line_len] = '\0';
        bool reboot = !strcmp(d->line, "reboot") && !s->o.manual_reset;
        d->line_len = 0;
        if (reboot) {
            sim_trace(s, "reboot-text", 0);
            if (!s->o.quiet_app)
                app_print(s, t, "Info:CMD:Rebooting...\r\n");
            sim_dev_schedule_reset(s, t, s->tm.app_reboot_delay);
        }
        return;
    }
    /* The console keeps printable characters only: binary noise (e.g. LinkCheck
     * frames sent while the app runs) does not poison the next command. */
    if (b >= 0x20 && b < 0x7F && d->line_len < sizeof d->line - 1)
        d->line[d->line_len++] = (char)b;
}

/* ------------------------------------------------------------------ timers */

static double boot_deadline(const fl_sim *s)
{
    const sim_dev *d = &s->dev;
    if (s->chip->pers == SIM_ROM) {
        double t = d->reset_time + s->tm.rom_boot_window;
        return t > d->busy_until ? t : d->busy_until;
    }
    /* Flash loader: keeps listening while bytes arrive (spec §6.1/§12.2). */
    double t = d->last_rx > d->reset_time ? d->last_rx : d->reset_time;
    if (d->busy_until > t)
        t = d->busy_until;
    return t + s->tm.lb_boot_window;
}

static double watchdog_deadline(const fl_sim *s)
{
    const sim_dev *d = &s->dev;
    double t = d->last_rx > d->busy_until ? d->last_rx : d->busy_until;
    return t + s->tm.lb_watchdog_idle;
}

double sim_dev_next_timer(fl_sim *s)
{
    const sim_dev *d = &s->dev;
    double t = SIM_INF;
    switch (d->state) {
    case DEV_BOOT:
        t = boot_deadline(s);
        if (s->chip->pers == SIM_ROM) {
            double p = sim_rom_next_timer(s);
            if (p < t)
                t = p;
        }
        break;
    case DEV_DOWNLOAD:
        if (s->esp)
            break; /* the ESP ROM waits for ever */
        t = s->chip->pers == SIM_ROM ? sim_rom_next_timer(s) : watchdog_deadline(s);
        break;
    case DEV_APP:
        t = d->next_log;
        break;
    case DEV_RESETTING:
        t = d->reset_at;
        break;
    default:
        break;
    }
    return t;
}

void sim_dev_fire_timers(fl_sim *s, double t)
{
    sim_dev *d = &s->dev;
    switch (d->state) {
    case DEV_BOOT:
        if (s->chip->pers == SIM_ROM && sim_rom_next_timer(s) <= t)
            sim_rom_timeout(s, t);
        else if (boot_deadline(s) <= t)
            enter_app(s, t);
        break;
    case DEV_DOWNLOAD:
        if (s->esp)
            break;
        if (s->chip->pers == SIM_ROM)
            sim_rom_timeout(s, t);
        else {
            sim_event(s, "watchdog-reset");
            sim_dev_reset(s, t); /* watchdog: idle in download mode */
        }
        break;
    case DEV_APP:
        app_log(s, t);
        d->next_log = t + s->tm.app_log_period;
        break;
    case DEV_RESETTING:
        sim_dev_reset(s, t);
        break;
    default:
        break;
    }
}

void sim_dev_rx(fl_sim *s, uint8_t b, double t)
{
    switch (s->dev.state) {
    case DEV_BOOT:
    case DEV_DOWNLOAD:
        if (s->esp)
            sim_esp_rx(s, b, t);
        else if (s->chip->pers == SIM_ROM)
            sim_rom_rx(s, b, t);
        else
            sim_lb_rx(s, b, t);
        break;
    case DEV_APP:
        app_rx(s, b, t);
        break;
    default:
        break;
    }
}

/* ------------------------------------------------------------------ registers */

static uint32_t rom_word(const fl_sim *s, uint32_t addr)
{
    /* Stand-in mask-ROM content: stable per chip and address. */
    uint64_t x = addr ^ (uint64_t)s->chip->chipid_value << 32 ^ 0x9E3779B97F4A7C15ULL;
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBULL;
    x ^= x >> 31;
    return (uint32_t)x;
}

uint32_t sim_reg_read(fl_sim *s, uint32_t addr)
{
    const sim_chip *c = s->chip;
    sim_dev *d = &s->dev;
    uint32_t esp_value;
    if (s->esp && sim_esp_reg_read(s, addr, &esp_value))
        return esp_value;
    if (c->chipid_addr && addr == c->chipid_addr)
        return c->chipid_value;
    if (c->efuse && addr == 0x800074)
        return d->efuse_ctl;
    if (c->efuse && addr == 0x800078)
        return d->efuse_data;
    uint32_t stored;
    if (sim_reg_load(s, addr, &stored))
        return stored;
    if (!strcmp(c->name, "bk7236")) {
        if (addr >= 0x161F0000 && addr < 0x16200000)
            return rom_word(s, addr);
    } else if (!strcmp(c->name, "bk7258")) {
        if (addr >= 0x06000000 && addr <= 0x06020000)
            return 0; /* secure alias reads as zero */
        if (addr >= 0x16000000 && addr < 0x16010000)
            return rom_word(s, addr);
    } else if (addr < 0x4000) {
        return rom_word(s, addr & ~3u);
    }
    return 0;
}

void sim_reg_write(fl_sim *s, uint32_t addr, uint32_t value)
{
    const sim_chip *c = s->chip;
    sim_dev *d = &s->dev;
    if (s->esp && sim_esp_reg_write(s, addr, value))
        return;
    if (c->idk && addr >= 0xE0000000 && addr <= 0xE00FFFFF)
        return; /* [IDK] refuses the CM33 private peripheral bus (but still echoes) */
    if (c->efuse && addr == 0x800074) {
        d->efuse_ctl = value;
        if (value & 1) { /* start a read of byte (value >> 8) & 0x1F; completes at once */
            unsigned a = (value >> 8) & 0x1F;
            d->efuse_data = 0x100u | c->efuse[a];
            d->efuse_ctl &= ~1u;
        }
        return;
    }
    if (c->efuse && addr == 0x800078)
        return;
    if (c->chipid_addr && addr == c->chipid_addr)
        return; /* read-only */
    sim_reg_store(s, addr, value);
}

bool sim_reg_load(const fl_sim *s, uint32_t addr, uint32_t *value)
{
    for (unsigned i = 0; i < s->dev.nregs; i++)
        if (s->dev.regs[i].addr == addr) {
            *value = s->dev.regs[i].value;
            return true;
        }
    return false;
}

void sim_reg_store(fl_sim *s, uint32_t addr, uint32_t value)
{
    sim_dev *d = &s->dev;
    for (unsigned i = 0; i < d->nregs; i++)
        if (d->regs[i].addr == addr) {
            d->regs[i].value = value;
            return;
        }
    if (d->nregs < sizeof d->regs / sizeof d->regs[0])
        d->regs[d->nregs++] = (sim_reg){addr, value};
}

/* ------------------------------------------------------------------ flash operations */

static uint32_t loader_guard(const fl_sim *s)
{
    return s->chip->pers == SIM_LBOOT ? s->chip->lb_limit : 0;
}

static void note_damage(fl_sim *s, uint32_t changed)
{
    if (changed && s->chip->pers == SIM_LBOOT)
        s->dev.loader_damaged = true;
}

static void brownout(fl_sim *s, double t)
{
    sim_dev *d = &s->dev;
    d->brownout_armed = false;
    d->brownout_done = true;
    s->stats.brownouts++;
    sim_event(s, "brownout");
    sim_tx_cut(s, t);
    sim_dev_schedule_reset(s, t, 0.010); /* supply dips, chip restarts ~10 ms later */
}

double sim_dev_erase(fl_sim *s, double t, uint32_t wire_addr, uint32_t unit, bool *browned_out)
{
    const sim_timing *tm = &s->tm;
    double dur = unit <= 4096 ? tm->erase_4k : unit <= 32768 ? tm->erase_32k : tm->erase_64k;
    uint32_t changed = 0;
    *browned_out = false;
    if (s->o.misdirect_erase && ++s->erase_cmds == s->o.misdirect_erase)
        wire_addr ^= 0x100000u; /* injected: a garbled address the echo does not reveal */
    if (s->dev.brownout_armed) {
        sim_flash_erase(&s->flash, wire_addr, unit, unit / 2, loader_guard(s), &changed);
        note_damage(s, changed);
        brownout(s, t + sim_scaled(s, dur / 2));
        *browned_out = true;
        return t;
    }
    int r = sim_flash_erase(&s->flash, wire_addr, unit, unit, loader_guard(s), &changed);
    note_damage(s, changed);
    if (r == SIM_FLASH_PROTECTED)
        return t; /* the flash refuses at once: no busy time */
    s->stats.erase_busy_s += dur;
    return t + sim_scaled(s, dur);
}

double sim_dev_chip_erase(fl_sim *s, double t, bool *browned_out)
{
    double dur = s->tm.chip_erase_per_mib * (s->flash.size / 1048576.0);
    uint32_t changed = 0;
    *browned_out = false;
    if (s->dev.brownout_armed) {
        sim_flash_chip_erase(&s->flash, s->flash.size / 2, loader_guard(s), &changed);
        note_damage(s, changed);
        brownout(s, t + sim_scaled(s, dur / 2));
        *browned_out = true;
        return t;
    }
    int r = sim_flash_chip_erase(&s->flash, s->flash.size, loader_guard(s), &changed);
    note_damage(s, changed);
    if (r == SIM_FLASH_PROTECTED)
        return t;
    s->stats.erase_busy_s += dur;
    return t + sim_scaled(s, dur);
}

double sim_dev_program_page(fl_sim *s, double t, uint32_t wire_addr, const uint8_t *data,
                            uint32_t n, bool wrap, bool *browned_out)
{
    uint32_t changed = 0;
    *browned_out = false;
    if (s->dev.brownout_armed) {
        /* interrupted page program: the first half made it */
        uint32_t half = n / 2;
        if (wrap)
            sim_flash_program_page(&s->flash, wire_addr, data, half, loader_guard(s), &changed);
        else
            sim_flash_program(&s->flash, wire_addr, data, half, loader_guard(s), &changed);
        note_damage(s, changed);
        brownout(s, t + sim_scaled(s, s->tm.page_program / 2));
        *browned_out = true;
        return t;
    }
    unsigned pages;
    if (wrap) {
        pages = sim_flash_program_page(&s->flash, wire_addr, data, n, loader_guard(s), &changed) ==
                        SIM_FLASH_DONE ? 1 : 0;
    } else {
        uint32_t phys = sim_flash_phys(&s->flash, wire_addr);
        bool prot = sim_flash_range_protected(&s->flash, phys & ~0xFFu, 256) &&
                    sim_flash_range_protected(&s->flash, (phys + n - 1) & ~0xFFu, 256);
        pages = sim_flash_program(&s->flash, wire_addr, data, n, loader_guard(s), &changed);
        if (prot)
            pages = 0;
    }
    note_damage(s, changed);
    return t + sim_scaled(s, s->tm.page_program * pages);
}

bool sim_sr_reply_lost(fl_sim *s)
{
    if (s->sr_replies_lost >= s->o.sr_lost)
        return false;
    s->sr_replies_lost++;
    return true;
}

double sim_dev_crc_time(fl_sim *s, uint64_t n)
{
    double dur = (double)n / s->tm.crc_bytes_per_s;
    s->stats.crc_busy_s += dur;
    return sim_scaled(s, dur);
}
