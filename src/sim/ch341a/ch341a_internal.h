/* ch341a_internal.h — the emulator's parts and how they talk (private to
 * src/sim/ch341a/).  Layers, outermost first:
 *   ch341a_usb.c    the fl_usb ops: USB full-speed timing, faults, the clock
 *   ch341a_dev.c    the CH341A: 32-byte packets, UIO pins, SPI stream, replies
 *   beken_gate.c    the Beken target's SPI-mode gate (CEN, sync), or pass-through
 *   spi_nor.c       the SPI NOR flash (frames, WEL, BUSY, SRs, protection)
 *   profiles.c      target profiles (D.5) and the query options */
#ifndef FL_SIM_CH341A_INTERNAL_H
#define FL_SIM_CH341A_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "sim/ch341a/ch341a_emu.h"
#include "util/error.h"

#define CH341_PACKET 32
#define EMU_EVENT_CAP 65536u

/* A target profile and every option the query can set. */
typedef struct emu_options {
    char target[16];
    bool beken;               /* false: plain SPI NOR, no gate */
    uint32_t jedec;           /* mfr<<16 | type<<8 | cap */
    uint32_t size;            /* bytes */
    uint8_t sr1, sr2, sr3;    /* initial non-volatile values */
    bool has_sr2, has_sr3, wrsr1_clears_sr2, volatile_sr;
    unsigned bp_bits;         /* 5 or 4 */
    uint8_t opcode_phase;     /* MISO while the opcode is clocked */
    bool rdid_repeat;         /* RDID past its 3 bytes: repeat the ID (else 0x00) */
    const char *flash_path;   /* NULL: in memory */
    bool size_given, jedec_given;
    double timescale;
    bool fast;
    uint64_t spi_hz;
    unsigned packets_per_frame;
    /* gate */
    uint64_t t_reset_min_us, t_window_us, t_switch_us;
    unsigned sync_bytes_min, switch_after_frames;
    /* USB */
    unsigned max_pending_in;  /* 0 = unlimited */
    /* faults */
    uint64_t fail_usb;        /* 0 = off */
    int stuck_miso;           /* -1 off, else the byte */
    bool no_sync;
    uint64_t torn_program;    /* 0 = off */
    bool pp_no_wrap;          /* a page program with more than 256 data bytes is discarded */
    uint64_t pp_us;           /* page program busy time (default 700) */
    uint64_t slow_program;    /* 0 = off; the Nth page program takes 4 x pp_us */
    bool uio_spi;             /* UIO pin writes reach the SPI lines (bit-banging works) */
    uint64_t lose_reply;      /* 0 = off, else the Nth reply packet never reaches the host */
    uint32_t seed;
} emu_options;

/* Parse `query` (modified in place) into *o after filling the profile defaults. */
fl_status emu_options_parse(emu_options *o, char *query, fl_error *err);

/* ---- SPI NOR (spi_nor.c) ---- */
typedef struct spi_nor {
    const emu_options *opt;
    uint8_t *mem;
    uint32_t size;
    bool mapped;
    /* status: non-volatile values, the volatile copy 0x50 writes, WEL, BUSY */
    uint8_t sr_nv[3], sr_vol[3];
    bool vol_active;
    bool wel, wel_until_done; /* WEL drops when the running operation completes */
    bool ewsr;                /* the previous frame was 0x50 */
    uint64_t busy_until_ns;
    /* the frame being clocked */
    bool in_frame, frame_busy;
    uint8_t opcode;
    uint32_t count;           /* bytes in this frame so far */
    uint32_t addr;
    uint8_t arg[3];           /* bytes 1..3 (SR writes) */
    uint8_t latch[256];
    bool latch_valid[256];
    uint64_t programs_seen;   /* page programs executed, for torn_program */
} spi_nor;

struct emu;
fl_status nor_open(spi_nor *n, const emu_options *o, fl_error *err);
void nor_close(spi_nor *n);
void nor_cs_fall(struct emu *e);
uint8_t nor_byte(struct emu *e, uint8_t mosi);
void nor_cs_rise(struct emu *e);
void nor_cen_reset(struct emu *e); /* CEN pulse: clears WEL only (E-31) */
void nor_power_cycle(struct emu *e);
uint8_t nor_read_sr(struct emu *e, int reg); /* reg 0..2, as RDSR returns it */

/* ---- Beken gate (beken_gate.c) ---- */
typedef struct beken_gate {
    fl_ch341a_gate state, before_reset;
    uint64_t cen_low_ns, boot_ns, last_sync_ns;
    unsigned d2_run, frames_after_sync;
    bool frame_first, frame_to_nor, sync_in_frame;
    uint8_t frame_first_mosi;
} beken_gate;

void gate_init(struct emu *e);
void gate_cen(struct emu *e, bool low);
void gate_cs_fall(struct emu *e);
uint8_t gate_byte(struct emu *e, uint8_t mosi);
void gate_cs_rise(struct emu *e);
void gate_settle(struct emu *e); /* apply time-driven transitions up to now */
void gate_power_cycle(struct emu *e);

/* ---- the CH341A (ch341a_dev.c) ---- */
typedef struct reply {
    uint8_t data[CH341_PACKET];
    uint8_t len;
    uint64_t ready_ns; /* when the device has it ready for an IN token */
} reply;

typedef struct emu {
    emu_options opt;
    spi_nor nor;
    beken_gate gate;
    uint64_t now_ns;
    /* pins */
    uint8_t dir, out;         /* bits 5..0 */
    bool cs_low, cen_low;
    /* SPI bit-banged with UIO pin writes: MOSI bits sampled on SCK rising edges */
    uint8_t bb_bits, bb_count;
    uint8_t stream_cfg;
    /* frame log */
    uint8_t fr_mosi[8], fr_miso[8];
    uint32_t fr_len;
    /* replies */
    reply *q;
    size_t q_head, q_len, q_cap;
    /* device pipeline: when the SPI engine is free again, when the device takes the next
     * OUT packet (it buffers one while shifting another), when the bus has a free slot */
    uint64_t engine_free_ns, accept_ns, bus_free_ns;
    /* log */
    fl_ch341a_event *ev;
    size_t ev_start, ev_len, ev_dropped;
    fl_ch341a_counters cnt;
    uint64_t usb_calls, replies_made;
    /* the host's clock (what now_us says) and real-time pacing */
    double real_origin;
    uint64_t host_ns;
} emu;

struct fl_ch341a_emu {
    emu e;
    char *query; /* the options point into it */
};

void emu_log(emu *e, uint64_t t_ns, fl_ch341a_event_kind kind, uint32_t a, uint32_t b,
             const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Parse one 32-byte (or shorter, last) chunk of an OUT transfer as one command. */
void dev_packet(emu *e, const uint8_t *p, size_t n);
void dev_set_pins(emu *e, uint8_t dir, uint8_t out);
uint8_t dev_pins_in(emu *e);
bool dev_queue_reply(emu *e, const uint8_t *data, size_t n, uint64_t ready_ns);
void dev_power_cycle(emu *e);

static inline uint8_t rev8(uint8_t b)
{
    b = (uint8_t)((b & 0xF0) >> 4 | (b & 0x0F) << 4);
    b = (uint8_t)((b & 0xCC) >> 2 | (b & 0x33) << 2);
    return (uint8_t)((b & 0xAA) >> 1 | (b & 0x55) << 1);
}

#endif
