/* beken_gate.c — the Beken target's SPI-mode gate (spec D.3, E-15..E-19).
 *
 * RUN_FIRMWARE --CEN low--> RESET_HELD --CEN high after >= t_reset_min--> BOOT_WINDOW
 * BOOT_WINDOW --sync_bytes_min consecutive logical 0xD2 with CS low--> SYNCED
 * BOOT_WINDOW --t_window without sync--> RUN_FIRMWARE (the firmware boots)
 * SYNCED --t_switch after the last 0xD2, or switch_after_frames frames--> FLASH_MODE
 * any --CEN low--> RESET_HELD; a pulse shorter than t_reset_min returns to where it was.
 *
 * SPI mode lives in silicon: a chip whose bootloader is erased still enters it (that is
 * what makes it the recovery path, spec B.1).  While the sync stream keeps coming the
 * switch timer restarts at each 0xD2 byte: the GUI tool's probe follows its tenth sync
 * frame by a few milliseconds and must still see the sync-phase echo (E-17).
 *
 * Time-driven transitions are applied lazily (gate_settle) with the time they really
 * happened, at the next CS edge, CEN edge or query. */
#include "sim/ch341a/ch341a_internal.h"

#define US 1000ull

const char *fl_ch341a_gate_name(fl_ch341a_gate g)
{
    switch (g) {
    case FL_GATE_NONE: return "none";
    case FL_GATE_RUN_FIRMWARE: return "RUN_FIRMWARE";
    case FL_GATE_RESET_HELD: return "RESET_HELD";
    case FL_GATE_BOOT_WINDOW: return "BOOT_WINDOW";
    case FL_GATE_SYNCED: return "SYNCED";
    case FL_GATE_FLASH_MODE: return "FLASH_MODE";
    }
    return "?";
}

static void go(emu *e, fl_ch341a_gate to, uint64_t t_ns)
{
    beken_gate *g = &e->gate;
    if (g->state == to)
        return;
    emu_log(e, t_ns, FL_EV_GATE, to, g->state, "%s -> %s", fl_ch341a_gate_name(g->state),
            fl_ch341a_gate_name(to));
    g->state = to;
}

static bool bootloader_present(emu *e)
{
    /* The BK72xx boot ROM jumps into flash at 0: an erased first page boots nothing. */
    for (uint32_t i = 0; i < 256 && i < e->nor.size; i++)
        if (e->nor.mem[i] != 0xFF)
            return true;
    return false;
}

void gate_init(emu *e)
{
    beken_gate *g = &e->gate;
    g->state = e->opt.beken ? FL_GATE_RUN_FIRMWARE : FL_GATE_NONE;
    g->before_reset = g->state;
}

void gate_settle(emu *e)
{
    beken_gate *g = &e->gate;
    if (g->state == FL_GATE_BOOT_WINDOW && e->now_ns - g->boot_ns >= e->opt.t_window_us * US) {
        uint64_t t = g->boot_ns + e->opt.t_window_us * US;
        go(e, FL_GATE_RUN_FIRMWARE, t);
        bool bl = bootloader_present(e);
        emu_log(e, t, FL_EV_BOOTED, bl, 0, "%s",
                bl ? "firmware booted" : "boot attempted: the bootloader area is erased, the "
                                         "chip runs nothing");
    }
    if (g->state == FL_GATE_SYNCED && !e->opt.switch_after_frames &&
        e->now_ns - g->last_sync_ns >= e->opt.t_switch_us * US)
        go(e, FL_GATE_FLASH_MODE, g->last_sync_ns + e->opt.t_switch_us * US);
}

void gate_cen(emu *e, bool low)
{
    beken_gate *g = &e->gate;
    if (!e->opt.beken)
        return;
    gate_settle(e);
    if (low) {
        if (g->state == FL_GATE_RESET_HELD)
            return;
        g->before_reset = g->state;
        g->cen_low_ns = e->now_ns;
        nor_cen_reset(e);
        g->frame_to_nor = false;
        go(e, FL_GATE_RESET_HELD, e->now_ns);
        return;
    }
    if (g->state != FL_GATE_RESET_HELD)
        return;
    uint64_t held = e->now_ns - g->cen_low_ns;
    if (held < e->opt.t_reset_min_us * US) {
        emu_log(e, e->now_ns, FL_EV_IGNORED, 0, (uint32_t)(held / US),
                "CEN pulse of %llu us is shorter than t_reset_min: no reset",
                (unsigned long long)(held / US));
        go(e, g->before_reset, e->now_ns);
        return;
    }
    g->boot_ns = e->now_ns;
    g->d2_run = 0;
    go(e, FL_GATE_BOOT_WINDOW, e->now_ns);
}

void gate_cs_fall(emu *e)
{
    beken_gate *g = &e->gate;
    gate_settle(e);
    g->frame_first = true;
    g->frame_to_nor = g->state == FL_GATE_NONE || g->state == FL_GATE_FLASH_MODE;
    if (g->frame_to_nor)
        nor_cs_fall(e);
}

uint8_t gate_byte(emu *e, uint8_t mosi)
{
    beken_gate *g = &e->gate;
    if (g->frame_to_nor)
        return nor_byte(e, mosi);
    bool first = g->frame_first;
    g->frame_first = false;
    if (g->state != FL_GATE_BOOT_WINDOW && g->state != FL_GATE_SYNCED)
        return 0xFF; /* firmware running, held in reset, or a frame cut by CEN/power */
    if (first)
        g->frame_first_mosi = mosi;
    /* BOOT_WINDOW or SYNCED: count the sync pattern (E-16, E-19: logical 0xD2) */
    if (mosi == 0xD2 && !e->opt.no_sync) {
        g->d2_run++;
        if (g->state == FL_GATE_BOOT_WINDOW && g->d2_run >= e->opt.sync_bytes_min) {
            g->frames_after_sync = 0;
            g->sync_in_frame = true; /* this frame is not one of the "further" frames */
            go(e, FL_GATE_SYNCED, e->now_ns);
        }
        if (g->state == FL_GATE_SYNCED)
            g->last_sync_ns = e->now_ns;
    } else {
        g->d2_run = 0;
    }
    /* [HID]: the first byte of each frame comes back, the rest reads 0x00 */
    return first ? mosi : 0x00;
}

void gate_cs_rise(emu *e)
{
    beken_gate *g = &e->gate;
    if (g->frame_to_nor) {
        nor_cs_rise(e);
        g->frame_to_nor = false;
        return;
    }
    bool sync_frame = g->sync_in_frame;
    g->sync_in_frame = false;
    if (g->state == FL_GATE_SYNCED && e->opt.switch_after_frames && !sync_frame &&
        ++g->frames_after_sync >= e->opt.switch_after_frames)
        go(e, FL_GATE_FLASH_MODE, e->now_ns);
}

void gate_power_cycle(emu *e)
{
    gate_init(e);
    e->gate.frame_to_nor = false;
}
