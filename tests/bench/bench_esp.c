/* bench_esp — the esp-rom driver against the ESP32 simulator at timescale 1
 * (wire time at the baud rate, the ROM's 20 us turnaround, erase, program and
 * MD5 busy time as modelled), through the library calls the CLI uses.
 *
 *   write  1 MiB of random data over 1 MiB of old random data at 921600:
 *          ideal = the SLIP-escaped payload bytes x 10 / baud (the data
 *          itself, no headers, no replies) + the modelled erase time the
 *          simulator reports (erase_busy_s); actual = the whole verified
 *          fl_flash_write (MD5 per sector to skip, erase, program, MD5 proof).
 *   read   256 KiB by READ_FLASH_SLOW at 921600: ideal = the protocol's own
 *          limit, (request + reply wire bytes of each 64-byte round trip) x 10
 *          / baud, summed; actual = the whole proven fl_flash_read (each 4 KiB
 *          sector proven by the ROM's MD5).  Keeping several requests in flight
 *          overlaps requests and replies, so the ratio may pass 1.
 * Prints ideal / actual for both; targets >= 0.90.
 *
 * usage: bench_esp [--quick]   (write 256 KiB, read 64 KiB) */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/esp_rom/slip.h"
#include "flash/flash.h"
#include "sim/beken_sim.h"
#include "util/clock.h"

#define BAUD 921600u
#define TARGET 0.90

static void die(const char *what, const fl_error *e)
{
    fprintf(stderr, "bench_esp: %s: %s\n", what, e->msg);
    exit(1);
}

static void fill_random(uint8_t *buf, size_t len, uint64_t seed)
{
    uint64_t x = seed;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (uint8_t)(x >> 24);
    }
}

/* Wire bytes of one frame holding `packet`. */
static size_t frame_bytes(const uint8_t *packet, size_t len)
{
    return esp_slip_escaped_len(packet, len) + 2;
}

/* The read's protocol limit: each 64-byte READ_FLASH_SLOW request and its
 * reply (header, the 64-byte buffer, four status bytes), escaped. */
static double read_ideal_s(uint32_t addr, const uint8_t *data, uint32_t len)
{
    size_t bytes = 0;
    for (uint32_t off = 0; off < len; off += 64) {
        uint8_t req[16] = {0x00, 0x0E, 8, 0};
        uint32_t a = addr + off, n = len - off < 64 ? len - off : 64;
        for (int i = 0; i < 4; i++)
            req[8 + i] = (uint8_t)(a >> (8 * i)), req[12 + i] = (uint8_t)(n >> (8 * i));
        uint8_t rep[8 + 64 + 4] = {0x01, 0x0E, 68, 0};
        memcpy(rep + 8, data + off, n);
        bytes += frame_bytes(req, sizeof req) + frame_bytes(rep, sizeof rep);
    }
    return bytes * 10.0 / BAUD;
}

static void report(const char *what, uint32_t len, double ideal, double actual)
{
    double ratio = ideal / actual;
    printf("esp32 %-6s %5u KiB at %u: ideal %6.2f s, actual %6.2f s, ideal/actual %.2f  "
           "target %.2f: %s\n",
           what, len >> 10, BAUD, ideal, actual, ratio, TARGET, ratio >= TARGET ? "met" : "MISSED");
}

int main(int argc, char **argv)
{
    uint32_t wlen = 1u << 20, rlen = 256u << 10;
    if (argc > 1 && !strcmp(argv[1], "--quick"))
        wlen = 256u << 10, rlen = 64u << 10;
    else if (argc > 1) {
        fprintf(stderr, "usage: bench_esp [--quick]\n");
        return 2;
    }
    fl_sim_options so;
    fl_sim_options_init(&so);
    so.chip = "esp32";
    so.flash_size = 4u << 20;
    so.timescale = 1;
    so.quiet_app = true;
    fl_sim *sim;
    fl_error e = {0};
    if (fl_sim_create(&so, &sim, &e) || fl_sim_start(sim, &e))
        die("starting the simulator", &e);
    uint32_t size = fl_sim_flash_size(sim);
    uint8_t *old = malloc(size), *data = malloc(wlen), *back = malloc(rlen);
    if (!old || !data || !back)
        return 1;
    fill_random(old, size, 0xE5B1);
    fill_random(data, wlen, 0xE5B2);
    if (fl_sim_flash_load(sim, 0, old, size, &e))
        die("loading the flash", &e);

    fl_flash_opts o;
    fl_flash_opts_init(&o);
    o.baud = BAUD;
    o.reset = FL_RESET_PULSE;
    fl_flash *f;
    if (fl_flash_open(fl_sim_url(sim), "esp32", &o, NULL, &f, &e))
        die("opening", &e);

    /* write */
    uint32_t waddr = 0x100000;
    fl_sim_stats s0, s1;
    fl_sim_get_stats(sim, &s0);
    double t0 = fl_now();
    if (fl_flash_write(f, waddr, data, wlen, &e))
        die("write", &e);
    double wactual = fl_now() - t0;
    fl_sim_get_stats(sim, &s1);
    double wideal = esp_slip_escaped_len(data, wlen) * 10.0 / BAUD + (s1.erase_busy_s - s0.erase_busy_s);

    /* read (of what the flash held before: the first rlen bytes) */
    t0 = fl_now();
    if (fl_flash_read(f, 0, rlen, back, &e))
        die("read", &e);
    double ractual = fl_now() - t0;
    if (memcmp(back, old, rlen)) {
        fprintf(stderr, "bench_esp: the read does not match the flash\n");
        return 1;
    }
    double rideal = read_ideal_s(0, old, rlen);
    fl_flash_close(f);
    uint8_t *now = malloc(wlen);
    if (!now || fl_sim_flash_read(sim, waddr, now, wlen, &e) || memcmp(now, data, wlen)) {
        fprintf(stderr, "bench_esp: the flash does not hold what was written\n");
        return 1;
    }
    fl_sim_destroy(sim);
    printf("== ESP32 ROM loader (esp-rom driver, no stub) at timescale 1 ==\n");
    printf("   write ideal = escaped payload x 10 / baud + modelled erase (%.2f s); read ideal = "
           "request+reply wire bytes per 64-byte round trip x 10 / baud\n",
           s1.erase_busy_s - s0.erase_busy_s);
    report("write", wlen, wideal, wactual);
    report("read", rlen, rideal, ractual);
    free(old), free(data), free(back), free(now);
    return 0;
}
