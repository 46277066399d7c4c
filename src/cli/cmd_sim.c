/* cmd_sim.c — `flashline sim`: run the Beken / ESP bootloader simulator until Ctrl-C. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "sim/beken_sim.h"

static fl_sim *volatile running_sim;

static void on_signal(int sig)
{
    (void)sig;
    if (running_sim)
        fl_sim_stop(running_sim);
}

static void help(void)
{
    printf(
        "usage: flashline sim --chip CHIP [--listen HOST:PORT] [--flash FILE] [--size SIZE] [options]\n"
        "\n"
        "Simulates a Beken BK72xx or Espressif ESP module on a UART adapter, served over\n"
        "RFC 2217 (Telnet COM-PORT control, like ser2net).  Prints `rfc2217://HOST:PORT` as\n"
        "the first line on stdout, then `pty: PATH` (with --pty) and `control:\n"
        "tcp://HOST:PORT`.  Runs until Ctrl-C / SIGTERM, then saves the flash file and exits 0.\n"
        "\n"
        "Chips: ROM loader: bk7231n bk7231m bk7238 bk7252n bk7236 bk7258\n"
        "       flash loader (l_boot in flash, 0..0x11000 refused): bk7231t bk7231u bk7252\n"
        "       Espressif ROM loader (SLIP): esp8266 esp32 esp32s2 esp32s3 esp32c2 esp32c3 esp32c6\n"
        "\n"
        "ESP chips: classic auto-reset wiring (RTS asserted pulls EN low unless DTR is too;\n"
        "DTR asserted pulls IO0 low unless RTS is too); IO0 is sampled 10 ms after EN rises:\n"
        "low = ROM download mode (\"waiting for download\"), high = the firmware (its text\n"
        "if flash holds an image, else \"invalid header\").  ROM text at 74880 on the\n"
        "esp8266, 115200 otherwise; the loader listens at 115200 (no auto-baud).  Default\n"
        "flash 4M.  With --manual-reset only the control channel's boot button gets in:\n"
        "`power-cycle-download`, or `boot-button down`, `power-cycle`, `boot-button up`.\n"
        "The paragraph below (boot window, `reboot`, watchdog, status register) is Beken's.\n"
        "\n"
        "The unit powers up when the simulator starts (with --manual-reset it has been\n"
        "running for a while already): its loader listens for a LinkCheck\n"
        "(ROM ~0.25 s; flash loader ~0.3 s, longer while bytes keep arriving), then the\n"
        "application runs and logs text at 115200.  Reset it with an RTS pulse (RTS asserted\n"
        "holds CEN low; DTR does nothing), with `reboot` + newline to the application at\n"
        "115200, or with `power-cycle` on the control channel (which also takes\n"
        "`remove` and `insert FILE`: the unit leaves the fixture, another one whose flash\n"
        "is FILE takes its place).  A flash loader left idle\n"
        "for 1.5 s after a LinkCheck reboots (watchdog).  Wire time follows the baud rate\n"
        "both sides set; different rates garble bytes.  The flash status register starts\n"
        "in its factory state every run (ROM chips BP0|CMP, flash-loader chips all\n"
        "protected), survives resets, and is not stored in the flash file.\n"
        "\n"
        "Options:\n"
        "  --chip CHIP            chip to simulate (required)\n"
        "  --listen HOST:PORT     RFC 2217 listener (default 127.0.0.1:0; port 0 = a free one)\n"
        "  --control-port N       control channel port on the same host (default 0 = free)\n"
        "  --flash FILE           flash content: loaded from FILE and written back to it (the\n"
        "                         file is mapped, so it is current at any time); a missing file\n"
        "                         is created blank (0xFF).  Its size must be a power of two.\n"
        "  --size SIZE            flash size, e.g. 2M, 4M, 0x200000 (default: the file's size,\n"
        "                         else the chip's default: 2M; bk7252/bk7252n/bk7236 4M; bk7258 8M)\n"
        "  --jedec HEX            flash JEDEC ID, e.g. C84015 (default: the chip's, capacity\n"
        "                         byte matching the size)\n"
        "  --timescale F          multiply modelled delays (wire time, erase/program/CRC time)\n"
        "                         by F; 0 = no waiting at all (default 1 = real time).  Boot\n"
        "                         window, watchdog, baud-switch delay and partial-frame timeout\n"
        "                         are deadlines and are not scaled (nor is --stall-ms)\n"
        "  --drop-rate P          each message (a command burst from the host, a reply\n"
        "                         header, reply data or text burst from the chip) loses\n"
        "                         one byte with probability P\n"
        "  --corrupt-rate P       ... has one byte garbled with probability P (per message,\n"
        "                         not per byte: at 0.001 per byte nearly every 4 KiB frame\n"
        "                         would break and no loader could be flashed)\n"
        "  --stall-ms N           hold a reply back N ms ...\n"
        "  --stall-rate P         ... with probability P per reply (default 0.02)\n"
        "  --disconnect-after N   close the TCP connection once N bytes came from the host\n"
        "                         (once; the next connection works)\n"
        "  --brownout-at N        once N host bytes have reached the chip, reset it in the\n"
        "                         middle of the next erase or write (half done), then it comes\n"
        "                         back in its boot window at 115200\n"
        "  --manual-reset         RTS and `reboot` do nothing; only the control channel\n"
        "                         (power-cycle, power-on, cen-high) restarts the chip.  The\n"
        "                         unit starts with its application already running\n"
        "  --pty                  also serve a pseudo-terminal for third-party tools; it\n"
        "                         follows the baud rate set on it (no modem lines: use the\n"
        "                         control channel to reset)\n"
        "  --quiet                no application log, boot text or reset glitch byte from the\n"
        "                         simulated unit\n"
        "  --seed N               seed for the fault generator (default fixed)\n"
        "  --events FILE          append a line per injected fault to FILE (the sim: URL's\n"
        "                         events=FILE)\n"
        "  --trace-bus            ... and how the host got the bus: each LinkCheck sent (at\n"
        "                         the host's rate), each answered, RTS pulses, resets,\n"
        "                         `reboot` text (trace=1); ESP chips: resets, download\n"
        "                         mode, SYNC answers, baud changes\n"
        "  --sdm                  ESP (S2 and later): Secure Download Mode: only SYNC,\n"
        "                         SPI_ATTACH, SPI_SET_PARAMS, CHANGE_BAUDRATE, FLASH_BEGIN/\n"
        "                         DATA/END and GET_SECURITY_INFO are accepted (sdm=1)\n"
        "  --flash-crypt          ESP32 family: flash encryption enabled in eFuse (crypt=1)\n"
        "  --secure-boot          ESP32 family: secure boot enabled in eFuse (secureboot=1)\n"
        "  --mac AA:BB:CC:DD:EE:FF  ESP: the unit's factory MAC in eFuse (default: the\n"
        "                         chip's Espressif OUI + 3 bytes from --seed) (mac=...)\n"
        "\n"
        "Control channel: connect to the control URL and send one command per line:\n"
        "  power-cycle | power-off | power-on | cen-low | cen-high | state\n"
        "  (ESP chips also) boot-button down | boot-button up | power-cycle-download\n"
        "each answered with one line (\"ok STATE ...\", the state, or \"error: ...\").\n"
        "\n"
        "Examples:\n"
        "  flashline sim --chip bk7231n --listen 127.0.0.1:7000 --flash unit.bin --size 2M\n"
        "  flashline info --port rfc2217://127.0.0.1:7000 --chip bk7231n\n"
        "  flashline info --port 'sim:bk7231t?timescale=0' --chip bk7231t   (in-process)\n"
        "  flashline sim --chip esp32 --flash esp.bin --mac 24:0a:c4:00:00:01\n"
        "\n%s",
        cli_exit_codes_help);
}

static bool parse_prob(const char *name, const char *v, double *out)
{
    char *end;
    double d = v ? strtod(v, &end) : NAN;
    if (!v || !*v || *end || !(d >= 0 && d <= 1)) {
        fprintf(stderr, "flashline sim: %s '%s' is not a probability from 0 to 1\n", name,
                v ? v : "");
        return false;
    }
    *out = d;
    return true;
}

static bool parse_int(const char *name, const char *v, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long x = v ? strtoll(v, &end, 0) : 0;
    /* strtoll would also take " 5" and "+5"; every range here starts at 0 */
    if (!v || !isdigit((unsigned char)*v) || *end || errno || x < lo || x > hi) {
        fprintf(stderr, "flashline sim: %s '%s' must be a whole number from %lld to %lld\n", name,
                v ? v : "", lo, hi);
        return false;
    }
    *out = x;
    return true;
}

int cmd_sim(int argc, char **argv)
{
    const char *chip = NULL, *listen = "127.0.0.1:0", *flash = NULL, *size = NULL,
               *timescale = NULL, *drop = NULL, *corrupt = NULL, *stall_ms = NULL,
               *stall_rate = NULL, *disconnect = NULL, *brownout = NULL, *seed = NULL,
               *jedec = NULL, *control_port = NULL, *events = NULL, *mac = NULL;
    bool manual = false, pty = false, quiet = false, want_help = false, trace = false;
    bool sdm = false, crypt = false, secure_boot = false;
    const cli_opt opts[] = {
        {"chip", OPT_STRING, &chip, NULL},
        {"listen", OPT_STRING, &listen, NULL},
        {"flash", OPT_STRING, &flash, NULL},
        {"size", OPT_STRING, &size, NULL},
        {"jedec", OPT_STRING, &jedec, NULL},
        {"timescale", OPT_STRING, &timescale, NULL},
        {"drop-rate", OPT_STRING, &drop, NULL},
        {"corrupt-rate", OPT_STRING, &corrupt, NULL},
        {"stall-ms", OPT_STRING, &stall_ms, NULL},
        {"stall-rate", OPT_STRING, &stall_rate, NULL},
        {"disconnect-after", OPT_STRING, &disconnect, NULL},
        {"brownout-at", OPT_STRING, &brownout, NULL},
        {"seed", OPT_STRING, &seed, NULL},
        {"control-port", OPT_STRING, &control_port, NULL},
        {"manual-reset", OPT_FLAG, NULL, &manual},
        {"pty", OPT_FLAG, NULL, &pty},
        {"quiet", OPT_FLAG, NULL, &quiet},
        {"events", OPT_STRING, &events, NULL},
        {"trace-bus", OPT_FLAG, NULL, &trace},
        {"sdm", OPT_FLAG, NULL, &sdm},
        {"flash-crypt", OPT_FLAG, NULL, &crypt},
        {"secure-boot", OPT_FLAG, NULL, &secure_boot},
        {"mac", OPT_STRING, &mac, NULL},
        {NULL, OPT_FLAG, NULL, NULL},
    };
    const char *pos[1];
    int npos;
    int rc = cli_parse("sim", argc, argv, opts, pos, 0, &npos, &want_help);
    if (rc)
        return rc;
    if (want_help) {
        help();
        return EXIT_OK;
    }
    fl_sim_options o;
    fl_sim_options_init(&o);
    if (!chip) {
        fprintf(stderr, "flashline sim: --chip is required (one of:");
        for (const char *const *n = fl_sim_chip_names(); *n; n++)
            fprintf(stderr, " %s", *n);
        fprintf(stderr, ")\n");
        return EXIT_USAGE;
    }
    o.chip = chip;
    o.flash_path = flash;
    o.manual_reset = manual;
    o.pty = pty;
    o.quiet_app = quiet;
    o.events_path = events;
    o.trace_bus = trace;
    o.esp_sdm = sdm;
    o.esp_flash_crypt = crypt;
    o.esp_secure_boot = secure_boot;
    if (mac) { /* the same parser as the sim: URL's mac= */
        char q[40];
        snprintf(q, sizeof q, "mac=%.20s", mac);
        if (fl_sim_options_from_query(&o, q, NULL) != FL_OK || !o.esp_mac_set) {
            fprintf(stderr, "flashline sim: --mac '%s' is not a MAC (e.g. 24:0a:c4:00:00:01)\n",
                    mac);
            return EXIT_USAGE;
        }
    }

    /* --listen HOST:PORT ([v6]:PORT allowed) */
    static char host[128];
    const char *colon = strrchr(listen, ':');
    long long v;
    if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof host) {
        fprintf(stderr, "flashline sim: --listen wants HOST:PORT, e.g. 127.0.0.1:0 (got '%s')\n",
                listen);
        return EXIT_USAGE;
    }
    size_t hl = (size_t)(colon - listen);
    const char *h = listen;
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']')
        h++, hl -= 2;
    memcpy(host, h, hl);
    host[hl] = '\0';
    if (!parse_int("--listen port", colon + 1, 0, 65535, &v))
        return EXIT_USAGE;
    o.listen_host = host;
    o.listen_port = (int)v;

    if (size) {
        uint32_t sz;
        if (!cli_parse_u32(size, &sz) || sz == 0) {
            fprintf(stderr, "flashline sim: --size '%s' is not a size (e.g. 2M, 4M, 0x200000)\n",
                    size);
            return EXIT_USAGE;
        }
        o.flash_size = sz;
    }
    if (jedec) {
        char *end;
        unsigned long j = strtoul(jedec, &end, 16);
        if (!*jedec || *end || j == 0 || j > 0xFFFFFF) {
            fprintf(stderr, "flashline sim: --jedec '%s' is not a 3-byte hex ID (e.g. C84015)\n",
                    jedec);
            return EXIT_USAGE;
        }
        o.jedec = (uint32_t)j;
    }
    if (timescale) {
        char *end;
        double d = strtod(timescale, &end);
        if (!*timescale || *end || !(d >= 0 && d <= 1000)) {
            fprintf(stderr,
                    "flashline sim: --timescale '%s' must be a number >= 0 (0 = no delays)\n",
                    timescale);
            return EXIT_USAGE;
        }
        o.timescale = d;
    }
    if (drop && !parse_prob("--drop-rate", drop, &o.drop_rate))
        return EXIT_USAGE;
    if (corrupt && !parse_prob("--corrupt-rate", corrupt, &o.corrupt_rate))
        return EXIT_USAGE;
    if (stall_rate && !parse_prob("--stall-rate", stall_rate, &o.stall_rate))
        return EXIT_USAGE;
    if (stall_ms) {
        if (!parse_int("--stall-ms", stall_ms, 0, 600000, &v))
            return EXIT_USAGE;
        o.stall_ms = (int)v;
    }
    if (disconnect) {
        if (!parse_int("--disconnect-after", disconnect, 0, INT64_MAX, &v))
            return EXIT_USAGE;
        o.disconnect_after = v;
    }
    if (brownout) {
        if (!parse_int("--brownout-at", brownout, 0, INT64_MAX, &v))
            return EXIT_USAGE;
        o.brownout_at = v;
    }
    if (seed) {
        if (!parse_int("--seed", seed, 0, 0xFFFFFFFFLL, &v))
            return EXIT_USAGE;
        o.seed = (uint32_t)v;
    }
    if (control_port) {
        if (!parse_int("--control-port", control_port, 0, 65535, &v))
            return EXIT_USAGE;
        o.control_port = (int)v;
    }

    cli_output out;
    cli_output_init(&out, false, NULL);
    fl_error err = {0};
    fl_sim *sim = NULL;
    if (fl_sim_create(&o, &sim, &err) != FL_OK)
        return cli_report_error(&out, "sim", &err);

    running_sim = sim;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    /* One write, so scripts never see the first line without the others. */
    char lines[512];
    int n = snprintf(lines, sizeof lines, "%s\n", fl_sim_url(sim));
    if (fl_sim_pty_path(sim))
        n += snprintf(lines + n, sizeof lines - (size_t)n, "pty: %s\n", fl_sim_pty_path(sim));
    snprintf(lines + n, sizeof lines - (size_t)n, "control: %s\n", fl_sim_control_url(sim));
    fputs(lines, stdout);
    fflush(stdout);

    fl_sim_chip_info ci;
    if (fl_sim_get_chip_info(chip, &ci, NULL) == FL_OK)
        fprintf(stderr,
                "flashline sim: %s (%s loader), %u KiB flash%s%s, timescale %g; Ctrl-C to stop\n",
                ci.name, ci.rom_loader ? "ROM" : "flash", fl_sim_flash_size(sim) / 1024,
                flash ? " in " : "", flash ? flash : "", o.timescale);

    fl_status st = fl_sim_run(sim, &err);
    running_sim = NULL;
    fl_sim_destroy(sim); /* saves the flash file */
    if (st != FL_OK)
        return cli_report_error(&out, "sim", &err);
    if (flash)
        fprintf(stderr, "flashline sim: stopped; flash saved to %s\n", flash);
    else
        fprintf(stderr, "flashline sim: stopped\n");
    return EXIT_OK;
}
