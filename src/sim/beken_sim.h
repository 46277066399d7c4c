/* beken_sim.h — the Beken BK72xx bootloader simulator (a product feature:
 * `flashline sim`, `sim:CHIP` links, rehearsal and the test suite).
 *
 * It serves RFC 2217 on a TCP listener and models, per spec beken-uart.md §12:
 * both loader personalities (ROM: bk7231n bk7231m bk7238 bk7252n bk7236 bk7258;
 * flash loader: bk7231t bk7231u bk7252), the reset / boot-window / app state
 * machine (DTR/RTS via RFC 2217 SET-CONTROL, `reboot` text to the app,
 * power-cycle on the control channel), the device frame parsers of §5, a NOR
 * flash with status-register protection, per-personality CRC, baud switching
 * and wire time at the current baud rate, plus injectable faults.
 *
 * The ESP chips (esp8266, esp32, esp32s2, esp32s3, esp32c2, esp32c3, esp32c6) are a
 * third personality: Espressif's ROM download loader over SLIP (src/sim/sim_esp.c says
 * what is modelled), with the classic two-transistor auto-reset wiring instead of the
 * one below: RTS asserted pulls EN low unless DTR is asserted too, DTR asserted pulls
 * IO0 (GPIO9 on C-series) low unless RTS is asserted too; IO0 is sampled when EN has
 * risen (after a modelled 10 ms RC delay): low = ROM download mode, high = firmware.
 *
 * Reset wiring (an assumption, spec §6.2): RTS asserted = CEN held low (chip off);
 * RTS released = chip runs and opens its boot window at 115200.  DTR alone does
 * nothing.  With manual_reset only the control channel resets the chip.  A chip
 * powers up when the simulator is created, so a host that connects later finds the
 * application running and has to reset it (RTS pulse, `reboot`, power-cycle). */
#ifndef FL_SIM_BEKEN_SIM_H
#define FL_SIM_BEKEN_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct fl_sim_options {
    const char *chip;        /* e.g. "bk7231n" (required) */
    const char *flash_path;  /* load from and save back to this file (NULL: in memory) */
    uint32_t flash_size;     /* bytes, a power of two; 0 = the file's size, else the chip
                                default.  A file smaller than this is an error; a larger
                                one is used for its first flash_size bytes */
    const char *listen_host; /* default "127.0.0.1" */
    int listen_port;         /* 0 = pick a free port */
    double timescale;        /* scales every modelled delay (wire time, erase/program/CRC busy
                                time); 1 = real time, 0 = none.  Deadlines the host must meet
                                are not scaled: boot window (ROM 0.25 s, flash loader 0.3 s
                                after the last byte), flash-loader download watchdog (1.5 s
                                idle), baud-switch delay, ROM partial-frame timeout (20 ms),
                                and --stall-ms */
    double drop_rate;        /* probability a message (host burst, reply, text) loses a byte */
    double corrupt_rate;     /* probability a message has one byte garbled */
    int stall_ms;            /* hold a reply back this long ... */
    double stall_rate;       /* ... with this probability per reply (default 0.02 when stall_ms > 0) */
    int64_t disconnect_after; /* drop the TCP connection after this many bytes from the host (-1 = never) */
    int64_t brownout_at;     /* one-shot: once this many host bytes have reached the chip, the
                                next erase or write is cut in half and the chip resets (-1 =
                                never); it comes back in its boot window at 115200 */
    bool manual_reset;       /* DTR/RTS and `reboot` do nothing: only power-cycle opens the window
                                (the unit starts with its application already running) */
    bool pty;                /* also serve a pseudo-terminal */
    bool quiet_app;          /* no application log/boot text and no reset glitch byte */
    uint32_t seed;           /* fault RNG seed (0 = fixed default) */
    /* additions */
    uint32_t jedec;          /* flash JEDEC ID as id0<<16|id1<<8|id2 (0 = chip default, its
                                capacity byte adjusted to the flash size) */
    int control_port;        /* control channel port on listen_host (0 = pick a free one) */
    uint32_t misdirect_erase; /* test fault: the N-th erase command (1-based, 0 = never) lands
                                 1 MiB away (address XOR 0x100000) while the reply echoes the
                                 address sent - a garbled address the host cannot notice */
    uint32_t sr_lost;         /* test fault: the replies to the first N status-register
                                 commands (read or write, ROM loaders) are lost; the command
                                 itself takes effect */
    uint32_t max_baud;        /* test fault: above this device rate every byte garbles both
                                 ways (a cable or adapter that cannot keep up); the chip still
                                 switches (0 = no limit) */
    uint32_t marginal_baud;  /* test fault: above this device rate every message longer than
                                64 bytes (a 4 KiB frame or reply) has one byte garbled, short
                                ones pass (a line that carries LinkChecks but not data;
                                0 = no limit) */
    const char *events_path; /* append one line per brown-out, watchdog reset, hang, reboot
                                command and disconnect to this file, and the dropped and
                                garbled byte totals at the end (NULL: no record); ESP
                                chips also "mem-entry" (MEM_END jumped to uploaded code,
                                which is not modelled: the chip goes quiet) */
    bool trace_bus;          /* with events_path: also record how the host got the bus, one
                                line each: "link-check baud=N" (a LinkCheck frame the host sent,
                                at the host's rate), "link-answer baud=N" (the loader answered
                                one), "rts-off" (RTS held the chip in reset), "reset" (the chip
                                started: boot window at 115200), "reboot-text" (`reboot` typed
                                to the application).  Tests assert the order of these.
                                ESP chips record "reset" (EN rose: the chip starts),
                                "download-mode" (IO0 was low), "sync-answer baud=N" and
                                "baud-change baud=N" instead of the LinkCheck lines */
    /* ESP chips (esp8266 esp32 esp32s2 esp32s3 esp32c2 esp32c3 esp32c6, see sim_esp.c) */
    bool esp_sdm;            /* Secure Download Mode: the ROM refuses all but SYNC, SPI_ATTACH,
                                SPI_SET_PARAMS, CHANGE_BAUDRATE, FLASH_BEGIN/DATA/END and
                                GET_SECURITY_INFO (chips with GET_SECURITY_INFO only) */
    bool esp_flash_crypt;    /* flash encryption enabled in eFuse (SPI_BOOT_CRYPT_CNT /
                                FLASH_CRYPT_CNT = 1; not on the ESP8266) */
    bool esp_secure_boot;    /* secure boot enabled in eFuse (not on the ESP8266) */
    bool esp_mac_set;        /* esp_mac is the unit's factory MAC (else derived from the seed) */
    uint8_t esp_mac[6];
} fl_sim_options;

void fl_sim_options_init(fl_sim_options *o);

/* Parse "key=val&key=val" (the part after '?' of a sim: URL) into o.
 * Keys: flash, size (2M, 4M, 0x200000), timescale, drop, corrupt, stall,
 * disconnect, brownout, manual, seed, quiet; also stallrate, jedec (C84015), pty,
 * control (port), misdirect (N: the N-th erase lands 1 MiB away), srlost (N: the first
 * N status-register replies are lost), events (record file), maxbaud (N: rates above N
 * garble every byte), marginal (N: above N long messages garble), trace (1: record the bus events too, see trace_bus).  Strings point into `query`,
 * which must outlive o. */
fl_status fl_sim_options_from_query(fl_sim_options *o, char *query, fl_error *err);
/* ESP chips also take: sdm (Secure Download Mode), crypt (flash encryption in eFuse),
 * secureboot (secure boot in eFuse), mac (AA:BB:CC:DD:EE:FF, the factory MAC in eFuse;
 * default: Espressif's OUI and three bytes from the seed). */

typedef struct fl_sim fl_sim;

/* Create the simulator and bind its listeners (nothing runs yet). */
fl_status fl_sim_create(const fl_sim_options *opts, fl_sim **out, fl_error *err);
/* "rfc2217://127.0.0.1:PORT" */
const char *fl_sim_url(const fl_sim *sim);
/* Control channel, "tcp://127.0.0.1:PORT": text lines "power-cycle", "power-off",
 * "power-on", "cen-low", "cen-high", "state", "remove" (the unit is taken off the
 * fixture: power off) and "insert FILE" (another unit, whose flash is FILE, is put
 * on and powered); one line answered per command.
 * ESP chips also take "boot-button down" / "boot-button up" (IO0 held low by the unit's
 * boot button: sampled when the chip starts, so a power-cycle or EN reset with the button
 * down enters the ROM download mode; the only way in for a --manual-reset unit) and
 * "power-cycle-download" (press the button, power-cycle, let go once the chip sampled it).
 * "state" then also shows "io0=low|high button=down|up". */
const char *fl_sim_control_url(const fl_sim *sim);
/* Path of the pseudo-terminal when opts->pty, else NULL. */
const char *fl_sim_pty_path(const fl_sim *sim);

/* Run the simulator on a background thread / in the calling thread until
 * fl_sim_stop() (from another thread or a signal handler: it is async-signal-safe). */
fl_status fl_sim_start(fl_sim *sim, fl_error *err);
fl_status fl_sim_run(fl_sim *sim, fl_error *err);
void fl_sim_stop(fl_sim *sim);

/* Power-cycle the simulated unit (same as "power-cycle" on the control channel). */
void fl_sim_power_cycle(fl_sim *sim);

/* Counters for benchmarks and tests (thread-safe snapshot). */
typedef struct fl_sim_stats {
    uint64_t bytes_from_host;   /* data bytes received (after telnet decoding) */
    uint64_t bytes_to_host;     /* data bytes the chip transmitted (before faults) */
    double erase_busy_s;        /* modelled erase time spent, at timescale 1 */
    double program_busy_s;      /* modelled program time not hidden behind reception */
    double crc_busy_s;          /* modelled CRC computation time (all *_busy_s at timescale 1) */
    unsigned resets;            /* chip resets/power-ups (boot window entries) */
    unsigned frames_ok, frames_bad; /* frames dispatched / discarded or answered with an error */
    uint32_t baud;              /* device UART rate now */
    char state[16];             /* "off", "boot", "download", "app", "resetting", "hung", "dead" */
    /* additions */
    uint32_t status_reg;        /* flash SR3<<16 | SR2<<8 | SR1 */
    unsigned brownouts;         /* injected brown-outs that happened */
    bool loader_damaged;        /* flash loader overwritten: the chip is dead after a reset */
    bool client_connected;      /* an RFC 2217 client is connected now */
    uint64_t bytes_dropped;     /* bytes lost to injected drops or baud mismatch (both ways) */
    uint64_t bytes_corrupted;   /* bytes garbled by injected corruption or baud mismatch */
} fl_sim_stats;

void fl_sim_get_stats(fl_sim *sim, fl_sim_stats *out);

/* Stop (if running), save the flash back to its file and free everything. */
void fl_sim_destroy(fl_sim *sim);

/* Names of the simulated chips, NULL-terminated. */
const char *const *fl_sim_chip_names(void);

/* --- additions ------------------------------------------------------------ */

/* What a simulated chip looks like by default (for tests and benchmarks). */
typedef struct fl_sim_chip_info {
    const char *name;
    bool rom_loader;          /* ROM personality (else flash loader) */
    uint32_t chip_id_reg;     /* 0x800000, 0x44010004, or 0 (no ReadReg) */
    uint32_t chip_id;
    uint32_t jedec_id;        /* id0<<16 | id1<<8 | id2 */
    uint32_t flash_size;
    uint32_t status_reg;      /* SR2<<8 | SR1 fresh from the factory */
    const char *boot_version; /* short 0x11 answer, or NULL */
    uint32_t protected_limit; /* flash loader: raw addresses below are refused; 0 for ROM */
} fl_sim_chip_info;

fl_status fl_sim_get_chip_info(const char *chip, fl_sim_chip_info *out, fl_error *err);

/* Copy flash content out / in directly (no NOR semantics, no protection), thread-safe.
 * Addresses are physical (0 .. size-1); the size is returned by fl_sim_flash_size. */
uint32_t fl_sim_flash_size(fl_sim *sim);
fl_status fl_sim_flash_read(fl_sim *sim, uint32_t addr, void *buf, uint32_t len, fl_error *err);
fl_status fl_sim_flash_load(fl_sim *sim, uint32_t addr, const void *data, uint32_t len,
                            fl_error *err);

/* Control-channel actions from the API: "power-cycle", "power-off", "power-on", "cen-low",
 * "cen-high", "state".  Writes the one-line answer (without newline) to answer. */
void fl_sim_control(fl_sim *sim, const char *command, char *answer, size_t cap);

#endif
