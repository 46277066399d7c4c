/* profiles.c — default target profiles (spec D.5) and the emulator's query
 * options.  Beken profiles start protected (SR1 = 0x7C, BP0..BP4 set), the
 * state OBK leaves them in after `bk_flash_enable_security(FLASH_PROTECT_ALL)`
 * (spec B.7.1), so a recovery has to unprotect first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sim/ch341a/ch341a_internal.h"
#include "sim/sim_internal.h"
#include "sim/sim_query.h"
#include "util/parse.h"

typedef struct profile {
    const char *name;
    bool beken;
    uint32_t jedec, size; /* size 0: the UART simulator's (sim_chips.c) */
    bool has_sr2, has_sr3;
    uint8_t sr1, sr2;
} profile;

/* JEDEC IDs: bk7231t EN25QH16B (1C 70 15), bk7231n TH25Q16HB (EB 60 15), bk7252 XT25F32B
 * (0B 40 16) from the spec's D.5 table.  bk7231u shares the T's flash and bk7231m the N's
 * (same die families; inferred).  bk7238 (GD25Q16-like C8 40 15) and bk7252n (XT25F32B-like)
 * are guesses from the BK SDK flash table [SDK-N-FL].  Beken flash sizes come from the UART
 * simulator's chip table, so both simulators model the same chip with the same flash. */
static const profile profiles[] = {
    {"bk7231t", true, 0x1C7015, 0, false, false, 0x7C, 0xFF},
    {"bk7231u", true, 0x1C7015, 0, false, false, 0x7C, 0xFF},
    {"bk7231n", true, 0xEB6015, 0, true, false, 0x7C, 0x00},
    {"bk7231m", true, 0xEB6015, 0, true, false, 0x7C, 0x00},
    {"bk7238", true, 0xC84015, 0, true, false, 0x7C, 0x00},
    {"bk7252", true, 0x0B4016, 0, true, false, 0x7C, 0x00},
    {"bk7252n", true, 0x0B4016, 0, true, false, 0x7C, 0x00},
    /* generic_w25q32 of D.5: Winbond W25Q32 with SR2 and SR3, unprotected */
    {"spi-nor", false, 0xEF4016, 4u << 20, true, true, 0x00, 0x00},
};

#define N_PROFILES (sizeof profiles / sizeof profiles[0])

/* "bk7231t bk7231u … spi-nor": the names of the profiles, for messages. */
static const char *known_targets(char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < N_PROFILES && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? " " : "", profiles[i].name);
    return buf;
}
static const char known_options[] =
    "target flash jedec size sr1 sr2 sr3 has_sr2 has_sr3 wrsr1_clears_sr2 volatile_sr bp_bits "
    "opcode_phase rdid_repeat timescale "
    "fast spi_hz packets_per_frame t_reset_min_ms t_window_ms sync_bytes_min t_switch_ms "
    "switch_after_frames max_pending_in fail_usb stuck_miso no_sync torn_program pp_no_wrap pp_us "
    "slow_program uio_spi lose_reply seed";

static void apply_profile(emu_options *o, const profile *p)
{
    snprintf(o->target, sizeof o->target, "%s", p->name);
    o->beken = p->beken;
    o->jedec = p->jedec;
    const sim_chip *c = p->size ? NULL : sim_chip_find(p->name);
    o->size = c ? c->flash_size : p->size;
    o->has_sr2 = p->has_sr2;
    o->has_sr3 = p->has_sr3;
    o->sr1 = p->sr1;
    o->sr2 = p->has_sr2 ? p->sr2 : 0;
    o->sr3 = 0;
    o->bp_bits = 5;
    /* The byte clocked out during the opcode: 0x00 on Beken ([SPIPY] reads 00 1C 70 15),
     * 0xFF on a stand-alone flash ([EL-NEWS] shows FF-EF-40-16). */
    o->opcode_phase = p->beken ? 0x00 : 0xFF;
}

static void defaults(emu_options *o)
{
    memset(o, 0, sizeof *o);
    o->volatile_sr = true;
    o->timescale = 1.0;
    o->spi_hz = 1400000;
    o->pp_us = 700; /* E-28: typical page program */
    o->packets_per_frame = 16;
    o->t_reset_min_us = 10000;
    o->t_window_us = 500000;
    o->t_switch_us = 20000;
    o->sync_bytes_min = 32;
    o->stuck_miso = -1;
    o->uio_spi = true;
}

static bool parse_flag(const char *v, bool *out)
{
    if (!strcmp(v, "1"))
        return *out = true, true;
    if (!strcmp(v, "0"))
        return *out = false, true;
    return false;
}

static bool parse_byte(const char *v, uint8_t *out)
{
    uint64_t u;
    if (!fl_parse_size(v, 0, &u) || u > 0xFF)
        return false;
    *out = (uint8_t)u;
    return true;
}

static bool parse_uint(const char *v, uint64_t max, uint64_t *out)
{
    return fl_parse_size(v, 10, out) && *out <= max;
}

static bool parse_ms(const char *v, uint64_t *us)
{
    uint64_t ms;
    if (!parse_uint(v, 3600000, &ms))
        return false;
    *us = ms * 1000;
    return true;
}

static bool parse_jedec(const char *v, uint32_t *out)
{
    if (strlen(v) != 6)
        return false;
    uint32_t j = 0;
    for (int i = 0; i < 6; i++) {
        int h = fl_hex_digit(v[i]);
        if (h < 0)
            return false;
        j = j << 4 | (uint32_t)h;
    }
    *out = j;
    return true;
}

static bool pow2_size(uint64_t v)
{
    return v >= (64u << 10) && v <= (128u << 20) && !(v & (v - 1));
}

/* One key=value; false for a bad value.  *unknown set for an unknown key. */
static bool one_option(emu_options *o, const char *k, const char *v, bool *unknown)
{
    uint64_t u = 0;
    if (!strcmp(k, "target")) {
        for (size_t i = 0; i < N_PROFILES; i++)
            if (!strcmp(v, profiles[i].name))
                return apply_profile(o, &profiles[i]), true;
        return false;
    }
    if (!strcmp(k, "flash"))
        return *v ? (o->flash_path = v, true) : false;
    if (!strcmp(k, "jedec"))
        return o->jedec_given = parse_jedec(v, &o->jedec);
    if (!strcmp(k, "size")) {
        if (!fl_parse_size(v, 0, &u) || !pow2_size(u))
            return false;
        o->size = (uint32_t)u;
        return o->size_given = true;
    }
    if (!strcmp(k, "sr1") || !strcmp(k, "sr2") || !strcmp(k, "sr3")) {
        int r = k[2] - '1';
        uint8_t *dst = r == 0 ? &o->sr1 : r == 1 ? &o->sr2 : &o->sr3;
        return parse_byte(v, dst);
    }
    bool *flag = !strcmp(k, "has_sr2")            ? &o->has_sr2
                 : !strcmp(k, "has_sr3")          ? &o->has_sr3
                 : !strcmp(k, "wrsr1_clears_sr2") ? &o->wrsr1_clears_sr2
                 : !strcmp(k, "volatile_sr")      ? &o->volatile_sr
                 : !strcmp(k, "fast")             ? &o->fast
                 : !strcmp(k, "no_sync")          ? &o->no_sync
                 : !strcmp(k, "pp_no_wrap")       ? &o->pp_no_wrap
                 : !strcmp(k, "rdid_repeat")      ? &o->rdid_repeat
                                                  : NULL;
    if (flag)
        return parse_flag(v, flag);
    if (!strcmp(k, "bp_bits"))
        return parse_uint(v, 5, &u) && u >= 4 && (o->bp_bits = (unsigned)u, true);
    if (!strcmp(k, "opcode_phase"))
        return parse_byte(v, &o->opcode_phase);
    if (!strcmp(k, "timescale")) {
        double d;
        if (!sim_parse_double(v, &d) || d < 0 || d > 1000)
            return false;
        o->timescale = d;
        return true;
    }
    if (!strcmp(k, "spi_hz"))
        return parse_uint(v, 100000000, &o->spi_hz) && o->spi_hz >= 1000;
    if (!strcmp(k, "packets_per_frame"))
        return parse_uint(v, 64, &u) && u >= 1 && (o->packets_per_frame = (unsigned)u, true);
    if (!strcmp(k, "t_reset_min_ms"))
        return parse_ms(v, &o->t_reset_min_us);
    if (!strcmp(k, "t_window_ms"))
        return parse_ms(v, &o->t_window_us);
    if (!strcmp(k, "t_switch_ms"))
        return parse_ms(v, &o->t_switch_us);
    if (!strcmp(k, "sync_bytes_min"))
        return parse_uint(v, 1000000, &u) && u >= 1 && (o->sync_bytes_min = (unsigned)u, true);
    if (!strcmp(k, "switch_after_frames"))
        return parse_uint(v, 1000000, &u) && (o->switch_after_frames = (unsigned)u, true);
    if (!strcmp(k, "max_pending_in"))
        return parse_uint(v, 1000000, &u) && (o->max_pending_in = (unsigned)u, true);
    if (!strcmp(k, "fail_usb"))
        return parse_uint(v, UINT32_MAX, &o->fail_usb) && o->fail_usb >= 1;
    if (!strcmp(k, "torn_program"))
        return parse_uint(v, UINT32_MAX, &o->torn_program) && o->torn_program >= 1;
    if (!strcmp(k, "pp_us"))
        return parse_uint(v, 1000000, &o->pp_us);
    if (!strcmp(k, "slow_program"))
        return parse_uint(v, UINT32_MAX, &o->slow_program) && o->slow_program >= 1;
    if (!strcmp(k, "uio_spi"))
        return parse_flag(v, &o->uio_spi);
    if (!strcmp(k, "lose_reply"))
        return parse_uint(v, UINT32_MAX, &o->lose_reply) && o->lose_reply >= 1;
    if (!strcmp(k, "seed"))
        return parse_uint(v, UINT32_MAX, &u) && (o->seed = (uint32_t)u, true);
    if (!strcmp(k, "stuck_miso")) {
        if (!strcasecmp(v, "00") || !strcasecmp(v, "ff"))
            return o->stuck_miso = v[0] == '0' ? 0x00 : 0xFF, true;
        return false;
    }
    *unknown = true;
    return false;
}

static uint32_t size_from_capacity(uint32_t jedec)
{
    unsigned cap = jedec & 0xFF;
    /* the spec's stricter rule (B.8): 1 << cap only for 64 KiB .. 32 MiB */
    return cap >= 0x10 && cap <= 0x19 ? 1u << cap : 0;
}

fl_status emu_options_parse(emu_options *o, char *query, fl_error *err)
{
    defaults(o);
    char names[128];
    unsigned seen = 0;
    char *save = NULL;
    for (char *kv = strtok_r(query, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
        char *v = strchr(kv, '=');
        if (!v)
            return fl_fail(err, FL_ERR_USAGE, "CH341A emulator option '%s' needs a value (%s=…)",
                           kv, kv);
        *v++ = '\0';
        sim_url_decode(kv, false);
        sim_url_decode(v, false);
        bool unknown = false;
        seen++;
        if (!one_option(o, kv, v, &unknown)) {
            if (unknown)
                return fl_fail(err, FL_ERR_USAGE,
                               "unknown CH341A emulator option '%s' (known: %s)", kv,
                               known_options);
            if (!strcmp(kv, "target"))
                return fl_fail(err, FL_ERR_USAGE,
                               "bad value '%s' for CH341A emulator option 'target' (known: %s)",
                               v, known_targets(names, sizeof names));
            return fl_fail(err, FL_ERR_USAGE, "bad value '%s' for CH341A emulator option '%s'",
                           v, kv);
        }
        /* target= loads a whole profile: after other options it would silently undo them */
        if (!strcmp(kv, "target") && seen > 1)
            return fl_fail(err, FL_ERR_USAGE,
                           "CH341A emulator: target= must come first (it sets the profile the "
                           "other options change)");
    }
    if (!o->target[0])
        return fl_fail(err, FL_ERR_USAGE,
                       "the CH341A emulator needs target=CHIP (known: %s), e.g. "
                       "'ch341a:sim?target=bk7231t&flash=F.bin'",
                       known_targets(names, sizeof names));
    if (o->jedec_given && !o->size_given) {
        uint32_t s = size_from_capacity(o->jedec);
        if (!s || !pow2_size(s))
            return fl_fail(err, FL_ERR_USAGE,
                           "CH341A emulator: jedec=%06X has capacity byte 0x%02X, which gives no "
                           "flash size from 64K to 32M; add size=BYTES",
                           o->jedec, o->jedec & 0xFF);
        o->size = s;
    }
    if (!o->has_sr2)
        o->sr2 = 0;
    if (!o->has_sr3)
        o->sr3 = 0;
    return FL_OK;
}
