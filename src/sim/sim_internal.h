/* sim_internal.h — shared between the Beken simulator modules (not a public API).
 *
 * Module map:
 *   sim_chips.c    chip variants table and the one table of modelled latencies
 *   sim_flash.c    SPI NOR model: wraparound, erase/program semantics, SR protection, file mapping
 *   sim_uart.c     the wire: byte timestamps at the host's baud, device FIFO, transmit pacing,
 *                  baud mismatch garbling, injected faults, the per-instance RNG
 *   sim_device.c   the chip: power/CEN/reset, boot window, application, timers, registers/eFuse
 *   sim_rom.c      ROM-loader personality: [IDK] byte parser and command handlers (spec §5.1)
 *   sim_lboot.c    flash-loader personality: [LBOOT] byte parser and handlers (spec §5.2)
 *   sim_server.c   event loop, RFC 2217 server, control channel, pty, public API
 *   sim_options.c  option defaults and `sim:CHIP?...` query parsing
 *   sim_esp.c      ESP ROM-loader personality: SLIP parser and command handlers (issue 13)
 *   sim_esp_chip.c ESP chip table, eFuse/MAC/SPI-controller registers, boot texts
 *
 * Time: every instant is a CLOCK_MONOTONIC time in seconds (util/clock.h fl_now()).
 * Modelled durations are multiplied by the timescale where the spec calls them delays
 * (wire time, erase/program/CRC busy time); protocol deadlines (boot window, watchdog,
 * baud-switch delay, partial-frame timeout) are not scaled: they are what the host must
 * meet, not what it waits for.
 *
 * Threading: one event-loop thread per instance owns everything below; `lock` is held
 * while it advances the model so that API calls from other threads (stats, power cycle,
 * flash access) see a consistent state.  No global mutable state. */
#ifndef FL_SIM_INTERNAL_H
#define FL_SIM_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sim/beken_sim.h"
#include "util/rfc2217.h"

#define SIM_INF 1e300

/* ------------------------------------------------------------------ chips */

typedef enum { SIM_ROM, SIM_LBOOT, SIM_ESP } sim_personality;

typedef struct sim_chip {
    const char *name;
    sim_personality pers;
    bool idk;                 /* BK7236 family: [IDK] specifics (0x02 BL2 link check, size checks) */
    uint32_t chipid_addr;     /* register holding the chip ID (0 = none) */
    uint32_t chipid_value;
    bool chipid_guess;        /* raw value not confirmed by a source */
    const uint8_t *efuse;     /* 32 eFuse bytes behind 0x800074/0x800078, NULL = not modelled */
    uint32_t jedec;           /* default flash: id0<<16 | id1<<8 | id2 */
    uint32_t flash_size;
    uint16_t sr_default;      /* SR2<<8 | SR1 of a unit fresh from the factory */
    const char *boot_version; /* answer to short 0x11 (Tuya T flash loader), NULL = none */
    const char *loader_banner;/* first line the flash bootloader prints when starting the app */
    const char *app_name;     /* OpenBeken build name in the app log */
    uint32_t lb_limit;        /* flash loader: raw addresses below are refused (ST=6) */
} sim_chip;

const sim_chip *sim_chip_find(const char *name);

/* The one table of modelled latencies (seconds at timescale 1 unless noted). */
typedef struct sim_timing {
    double erase_4k, erase_32k, erase_64k;
    double chip_erase_per_mib;
    double page_program;      /* one 256-byte page */
    double crc_bytes_per_s;   /* device CRC throughput */
    /* deadlines, never scaled: */
    double rom_boot_window;   /* ROM loader listens for a LinkCheck this long after reset */
    double lb_boot_window;    /* flash loader: idle time without any byte before the app starts */
    double lb_watchdog_idle;  /* flash loader in download mode: line idle → watchdog reboot */
    double rom_partial_timeout; /* ROM: a started frame idle this long is committed with status 5 */
    double reboot_delay;      /* Reboot/Reset command → boot window */
    double app_reboot_delay;  /* `reboot` typed to the app → boot window */
    double app_log_period;    /* application log line interval */
    double pty_baud_poll;     /* how often the pty's termios is re-read */
} sim_timing;

extern const sim_timing sim_timing_default;

/* ------------------------------------------------------------------ flash */

typedef struct sim_flash {
    uint8_t *mem;
    uint32_t size;            /* power of two */
    bool mapped;              /* mem is a MAP_SHARED mapping of the flash file */
    bool created;             /* the file did not exist and was created blank */
    size_t map_len;
    uint32_t jedec;
    uint8_t sr[3];            /* SR1, SR2, SR3 (non-volatile, survive resets) */
    bool wel;                 /* write-enable latch */
    uint32_t prot_lo, prot_hi;/* protected physical range [lo, hi) decoded from SR */
} sim_flash;

enum { SIM_FLASH_DONE = 0, SIM_FLASH_PROTECTED = 1 };

/* Flash-loader chips (sim_loader.c): does [0, limit) hold a loader the chip can
 * run (first block code, every non-erased 34-byte block with a correct CRC)?
 * And write a stand-in one into a flash the simulator created blank. */
bool sim_loader_intact(const sim_flash *f, uint32_t limit);
void sim_loader_install_standin(sim_flash *f, uint32_t limit, const char *version);

fl_status sim_flash_open(sim_flash *f, const char *path, uint32_t size_opt, uint32_t def_size,
                         fl_error *err);
void sim_flash_close(sim_flash *f);
void sim_flash_sync(sim_flash *f);
uint32_t sim_flash_phys(const sim_flash *f, uint32_t wire_addr);
uint16_t sim_flash_sr16(const sim_flash *f);
void sim_flash_set_sr16(sim_flash *f, uint16_t v);
bool sim_flash_range_protected(const sim_flash *f, uint32_t phys, uint32_t len);
void sim_flash_read(const sim_flash *f, uint32_t wire_addr, uint8_t *buf, uint32_t n);
/* Erase the aligned unit containing wire_addr (only the first `part` bytes when part <
 * unit: a brown-out).  *changed_below counts bytes that changed below `guard`. */
int sim_flash_erase(sim_flash *f, uint32_t wire_addr, uint32_t unit, uint32_t part, uint32_t guard,
                    uint32_t *changed_below);
int sim_flash_chip_erase(sim_flash *f, uint32_t part, uint32_t guard, uint32_t *changed_below);
/* One page-program command: n <= 256 bytes from wire_addr, wrapping inside the page. */
int sim_flash_program_page(sim_flash *f, uint32_t wire_addr, const uint8_t *data, uint32_t n,
                           uint32_t guard, uint32_t *changed_below);
/* A driver-level write: split at page boundaries (no wrap).  Returns pages touched. */
unsigned sim_flash_program(sim_flash *f, uint32_t wire_addr, const uint8_t *data, uint32_t n,
                           uint32_t guard, uint32_t *changed_below);
/* One SPI transaction, full duplex: tx[0] is the opcode; rx gets what MISO carried. */
void sim_flash_spi(sim_flash *f, const uint8_t *tx, uint32_t n, uint8_t *rx);
/* Device CRC register (init 0xFFFFFFFF, no final XOR) over n bytes from wire_addr, wrapping. */
uint32_t sim_flash_crc(const sim_flash *f, uint32_t wire_addr, uint64_t n);

/* ------------------------------------------------------------------ queues */

enum { W_DATA, W_BAUD, W_LINES, W_PURGE_TX };
enum { EP_TCP = 0, EP_PTY = 1, SIM_NEP = 2 };

typedef struct wire_ent {
    double t;        /* when it reaches the chip's UART */
    uint32_t arg;    /* W_DATA: host baud it was sent at; W_BAUD: new rate; W_LINES: see server */
    uint8_t kind, byte, ep;
    uint8_t fault;   /* W_DATA: SIM_FAULT_* injected into this byte */
} wire_ent;

typedef struct fifo_ent {
    double t;        /* arrival at the chip */
    uint8_t byte;
} fifo_ent;

typedef struct tx_ent {
    double t_done;   /* stop bit leaves the chip */
    uint32_t baud;   /* device rate it was sent at */
    uint8_t byte;
    uint8_t fault;   /* SIM_FAULT_* injected into this byte */
} tx_ent;

/* Injected faults hit whole messages (see sim_uart.c, pick_faults). */
enum { SIM_FAULT_DROP = 1, SIM_FAULT_CORRUPT = 2 };

typedef struct sim_ring {
    void *buf;
    size_t esz, cap, head, len;
} sim_ring;

bool sim_ring_push(sim_ring *r, const void *e, size_t max_len);
void *sim_ring_peek(sim_ring *r, size_t i);
void sim_ring_pop(sim_ring *r);
void sim_ring_clear(sim_ring *r);
void sim_ring_free(sim_ring *r);

/* ------------------------------------------------------------------ device */

typedef enum {
    DEV_OFF,      /* no power or CEN low */
    DEV_BOOT,     /* loader listening for a LinkCheck */
    DEV_DOWNLOAD, /* loader linked */
    DEV_APP,      /* application running */
    DEV_RESETTING,/* between a reboot command and the boot window */
    DEV_HUNG,     /* flash loader stuck in an endless CRC loop (needs a reset) */
    DEV_DEAD,     /* flash loader erased: nothing answers after reset */
} sim_dev_state;

typedef struct rom_parser {
    int st;
    uint8_t head_total;       /* length byte L (0xFF = long frame) */
    uint16_t n;               /* long frame: announced N */
    uint32_t idx;             /* bytes of this frame received so far ([IDK] uart_rx_index) */
    uint32_t got;             /* payload bytes stored in rx (short: L; long: 3 + N) */
    bool payload_started;     /* [IDK] uart_rx_done_state left NOPAGE: a timeout can commit */
    uint8_t rx[4200];         /* [IDK] Longtrx_pdu_buf: cmd/sub, (long: N lo, N hi, op), params */
    /* 4 KiB write streaming */
    unsigned pages_done;
    bool len_error;
    double prog_done;         /* last page program finishes */
} rom_parser;

typedef struct lb_parser {
    int st;
    uint8_t length;
    uint16_t index, scmd_length, index_cnt;
    uint8_t cmd[16];          /* [LBOOT] bim_uart_cmd: persists between frames */
    uint8_t data[4096 + 8];   /* [LBOOT] bim_uart_data: persists between frames */
    double prog_done;
} lb_parser;

/* ESP ROM loader (sim_esp.c).  A frame holds at most an 8-byte header, 16 bytes of
 * block header and a 16 KiB block (what a host may declare); longer ones are cut. */
#define SIM_ESP_FRAME_MAX (8 + 16 + 0x4000)

typedef enum { ESP_XFER_NONE, ESP_XFER_FLASH, ESP_XFER_DEFL, ESP_XFER_MEM } esp_xfer_kind;

typedef struct esp_parser {
    bool in_frame;            /* a 0xC0 was seen: bytes are collected */
    bool escaping;            /* the previous byte was 0xDB */
    bool discard;             /* bad escape: the rest of this frame is thrown away */
    uint32_t len;             /* decoded bytes of this frame (may exceed the buffer) */
    uint8_t rx[SIM_ESP_FRAME_MAX];
    /* loader state */
    uint32_t last_value;      /* the reply's value field is only set by READ_REG and SYNC */
    uint8_t slow_buf[64];     /* READ_FLASH_SLOW's buffer (bytes past the length are stale) */
    bool attached;            /* SPI flash attached (SPI_ATTACH; ESP8266: FLASH_BEGIN) */
    uint32_t spi_total_size;  /* SPI_SET_PARAMS */
    esp_xfer_kind xfer;
    uint32_t x_offset, x_blocks, x_block_size, x_size, x_next_seq, x_out;
    bool x_inflate_done;
    void *zs;                 /* z_stream of a compressed download */
} esp_parser;

typedef struct sim_reg {
    uint32_t addr, value;
} sim_reg;

typedef struct sim_dev {
    sim_dev_state state;
    uint32_t baud;            /* chip UART rate */
    double reset_time;
    double last_rx;           /* last byte that reached the chip's UART */
    double busy_until;        /* the loader executes a command until then */
    double reset_at;          /* pending reset (DEV_RESETTING), SIM_INF = none */
    double next_log;          /* next application log line */
    unsigned app_lines;
    bool power_on, cen_ctl_high, rts_asserted, dtr_asserted;
    bool erase_enable;        /* [LBOOT] erase_fenable */
    bool loader_damaged;      /* flash-loader area changed: chip dead after the next reset */
    bool brownout_armed, brownout_done;
    char line[96];            /* application command line */
    size_t line_len;
    rom_parser rom;
    lb_parser lb;
    esp_parser *esp;          /* ESP chips only (allocated with the instance) */
    bool boot_button;         /* ESP: the unit's boot button (IO0 to ground) is held */
    bool boot_button_release; /* ... and is let go once the chip has sampled it */
    bool power_cycled;        /* ESP: the next start is a power-on (else an EN reset) */
    uint32_t efuse_ctl, efuse_data;
    sim_reg regs[64];
    unsigned nregs;
} sim_dev;

/* ------------------------------------------------------------------ instance */

typedef struct sim_ep {
    int fd;                   /* -1 = not connected */
    bool telnet;
    uint32_t baud;            /* rate the host last set */
    uint32_t baud_enq;        /* effective host rate for bytes being queued now (stream order) */
    uint32_t baud_line;       /* effective host rate on the wire now (for chip → host) */
    uint8_t datasize, parity, stopsize, flow;
    bool fmt_ok;              /* 8N1 */
    bool dtr, rts, brk, suspended;
    uint8_t *out;             /* encoded bytes not yet written to fd */
    size_t out_len, out_cap;
    bool we_do_comport, we_will_binary, we_do_binary, we_will_sga, we_do_sga;
} sim_ep;

#define SIM_MAX_CTL 4

struct fl_sim {
    /* options (strings owned) */
    char *chip_name, *flash_path, *listen_host;
    fl_sim_options o;
    const sim_chip *chip;
    const struct sim_esp_chip *esp; /* ESP personality: the chip's ROM facts, else NULL */
    uint8_t mac[6];           /* ESP: the unit's factory MAC (eFuse) */
    sim_timing tm;
    double ts;                /* timescale */
    double stall_rate;

    /* sockets */
    int listen_fd, ctl_listen_fd, wake_rd, wake_wr, pty_master, pty_slave;
    int ctl_fd[SIM_MAX_CTL];
    char ctl_buf[SIM_MAX_CTL][256];
    size_t ctl_len[SIM_MAX_CTL];
    sim_ep ep[SIM_NEP];
    tn_decoder tn;
    bool tcp_close_req;
    char url[128], ctl_url[128], pty_path[128];
    double pty_next_poll;

    /* threading */
    pthread_t thread;
    bool thread_started;
    atomic_int stop_req;
    pthread_mutex_t lock;

    /* wire and UART */
    sim_ring wire, fifo, tx;
    double rx_line_free, tx_line_free;
    uint64_t rng;
    uint64_t wire_host_bytes; /* data bytes that reached the chip (brown-out trigger) */
    uint32_t erase_cmds;      /* erase commands executed (misdirect_erase trigger) */
    uint32_t sr_replies_lost; /* status-register replies swallowed so far (sr_lost) */
    bool disconnect_done;
    uint8_t lc_match;         /* bus trace: bytes of a LinkCheck frame seen so far from the host */

    sim_dev dev;
    sim_flash flash;
    fl_sim_stats stats;
    FILE *events;             /* record of injected faults (events=PATH), NULL = none */
};

/* sim_uart.c */
uint32_t sim_rand(fl_sim *s);
double sim_rand01(fl_sim *s);
double sim_byte_time(const fl_sim *s, uint32_t baud);
bool sim_baud_mismatch(uint32_t a, uint32_t b);
void sim_wire_push_data(fl_sim *s, int ep, const uint8_t *data, size_t len, double t_read);
void sim_wire_push_marker(fl_sim *s, int ep, int kind, uint32_t arg, double t_read);
/* Chip transmits: bytes leave at the chip rate from max(t, line free).  `reply` marks
 * protocol replies (subject to --stall).  Returns when the last stop bit leaves. */
double sim_tx(fl_sim *s, double t, const uint8_t *data, size_t len, bool reply);
void sim_tx_cut(fl_sim *s, double t);
/* Advance the model to `now`: wire → FIFO → device, timers.  Returns the next instant
 * anything is due (SIM_INF if nothing). */
double sim_advance(fl_sim *s, double now);
/* Deliver transmitted bytes whose time has come; returns the next due time. */
double sim_deliver(fl_sim *s, double now);
/* Queue bytes for a client (dropped past 8 MiB: nobody reads, as with a UART). */
void sim_ep_append(sim_ep *ep, const uint8_t *p, size_t n);

/* sim_device.c */
void sim_dev_init(fl_sim *s, double now);
void sim_dev_update_power(fl_sim *s, double t);
void sim_dev_reset(fl_sim *s, double t);
void sim_dev_schedule_reset(fl_sim *s, double t, double delay);
void sim_dev_enter_download(fl_sim *s);
double sim_dev_next_timer(fl_sim *s);
void sim_dev_fire_timers(fl_sim *s, double t);
void sim_dev_rx(fl_sim *s, uint8_t b, double t);
bool sim_dev_accepts_bytes(const fl_sim *s);
double sim_scaled(const fl_sim *s, double seconds);
uint32_t sim_reg_read(fl_sim *s, uint32_t addr);
void sim_reg_write(fl_sim *s, uint32_t addr, uint32_t value);
/* Keep a plain read/write register's value (no side effects; the table holds 64). */
void sim_reg_store(fl_sim *s, uint32_t addr, uint32_t value);
/* A stored register's value; false when it was never written. */
bool sim_reg_load(const fl_sim *s, uint32_t addr, uint32_t *value);
void sim_dev_set_baud(fl_sim *s, uint32_t baud);
/* Flash operations as the loaders do them: busy time, brown-out, loader-area damage. */
double sim_dev_erase(fl_sim *s, double t, uint32_t wire_addr, uint32_t unit, bool *browned_out);
double sim_dev_program_page(fl_sim *s, double t, uint32_t wire_addr, const uint8_t *data,
                            uint32_t n, bool wrap, bool *browned_out);
double sim_dev_chip_erase(fl_sim *s, double t, bool *browned_out);
double sim_dev_crc_time(fl_sim *s, uint64_t n);
/* Test fault sr_lost: true (and counted) while the next status-register reply is to be lost. */
bool sim_sr_reply_lost(fl_sim *s);
const char *sim_state_name(sim_dev_state st);

/* sim_events.c: the events=PATH record (brown-outs, resets, hangs, hang-ups, line totals) */
fl_status sim_events_open(fl_sim *s, const char *path, fl_error *err);
void sim_event(fl_sim *s, const char *kind);
/* The bus trace (trace=1): recorded only when asked for, so that a fault record
 * stays a record of faults. */
void sim_trace(fl_sim *s, const char *kind, uint32_t baud);
void sim_events_close(fl_sim *s);

/* sim_esp.c / sim_esp_chip.c (ESP personality) */
typedef struct sim_esp_chip sim_esp_chip;
const sim_esp_chip *sim_esp_chip_find(const char *name);
fl_status sim_esp_create(fl_sim *s, fl_error *err);   /* options check, MAC, parser */
void sim_esp_free(fl_sim *s);
void sim_esp_parser_reset(fl_sim *s);
bool sim_esp_io0_low(const fl_sim *s);
void sim_esp_start(fl_sim *s, double t);               /* EN rose: sample the strap */
void sim_esp_app_start(fl_sim *s, double t, bool banner);
void sim_esp_app_log(fl_sim *s, double t);
void sim_esp_rx(fl_sim *s, uint8_t b, double t);
bool sim_esp_reg_read(fl_sim *s, uint32_t addr, uint32_t *value);
bool sim_esp_reg_write(fl_sim *s, uint32_t addr, uint32_t value);
uint32_t sim_esp_rx_buffer(void);                      /* bytes the ROM buffers while busy */
double sim_esp_en_delay(void);                         /* EN's RC rise time (not scaled) */
/* sim_esp_chip.c accessors (the chip struct is private there) */
uint8_t sim_esp_status_len(const fl_sim *s);
bool sim_esp_is_8266(const fl_sim *s);
uint8_t sim_esp_begin_words(const fl_sim *s);
uint32_t sim_esp_boot_baud(const fl_sim *s);
void sim_esp_default_mac(const fl_sim *s, uint32_t seed, uint8_t mac[6]);
size_t sim_esp_security_info(const fl_sim *s, uint8_t *out);
bool sim_esp_has_sdm(const fl_sim *s);
size_t sim_esp_rom_banner(const fl_sim *s, bool download, bool power_on, char *buf, size_t cap);
bool sim_esp_image_present(const fl_sim *s, uint32_t *first_word);
const char *sim_esp_app_name(const fl_sim *s);

/* sim_rom.c / sim_lboot.c */
void sim_rom_reset(fl_sim *s);
void sim_rom_rx(fl_sim *s, uint8_t b, double t);
double sim_rom_next_timer(fl_sim *s);
void sim_rom_timeout(fl_sim *s, double t);
void sim_lb_reset(fl_sim *s);
void sim_lb_rx(fl_sim *s, uint8_t b, double t);

#endif
