/* test_esp_sim.c — the ESP ROM-loader personality of the simulator (src/sim/sim_esp.c)
 * through a real loopback RFC 2217 connection, with a small raw SLIP client of its own
 * (not the driver), at timescale 0. */
#include <zlib.h>

#include "link/link.h"
#include "sim_client.h"
#include "testlib.h"

#define FUZZ_ESP_SIM_BODY_ONLY
#include "fuzz/fuzz_esp_sim.c" /* the fuzz body, for the mutation smoke test below */

#define REPLY_S 10.0 /* only waited out when a reply is missing (a failure anyway) */
#define QUIET_S 0.15 /* silence windows: "no answer" checks */

enum {
    FLASH_BEGIN = 0x02, FLASH_DATA = 0x03, FLASH_END = 0x04, MEM_BEGIN = 0x05, MEM_END = 0x06,
    MEM_DATA = 0x07, SYNC = 0x08, WRITE_REG = 0x09, READ_REG = 0x0A, SPI_SET_PARAMS = 0x0B,
    SPI_ATTACH = 0x0D, READ_FLASH_SLOW = 0x0E, CHANGE_BAUDRATE = 0x0F, DEFL_BEGIN = 0x10,
    DEFL_DATA = 0x11, DEFL_END = 0x12, SPI_FLASH_MD5 = 0x13, GET_SECURITY_INFO = 0x14,
};

/* ------------------------------------------------------------------ SLIP client */

typedef struct esp_reply {
    uint8_t op;
    uint16_t size;
    uint32_t value;
    uint8_t data[128]; /* body: payload + status bytes */
    size_t n;
} esp_reply;

static size_t slip_encode(uint8_t *out, const uint8_t *in, size_t n)
{
    size_t k = 0;
    out[k++] = 0xC0;
    for (size_t i = 0; i < n; i++) {
        if (in[i] == 0xC0)
            out[k++] = 0xDB, out[k++] = 0xDC;
        else if (in[i] == 0xDB)
            out[k++] = 0xDB, out[k++] = 0xDD;
        else
            out[k++] = in[i];
    }
    out[k++] = 0xC0;
    return k;
}

/* A request as esptool builds it: 00 op size16 chk32 data. */
static void esp_send(tcli *c, uint8_t op, const void *data, size_t n, uint32_t chk)
{
    uint8_t *raw = malloc(8 + n), *enc = malloc(2 * (8 + n) + 2);
    raw[0] = 0, raw[1] = op, raw[2] = (uint8_t)n, raw[3] = (uint8_t)(n >> 8);
    le32(raw + 4, chk);
    if (n)
        memcpy(raw + 8, data, n);
    tc_send(c, enc, slip_encode(enc, raw, 8 + n));
    free(raw);
    free(enc);
}

/* Take one decoded SLIP frame out of c->rx (bytes before its opening 0xC0 are text and
 * are skipped).  Returns its length, or -1 if none arrived before the timeout. */
static long esp_frame(tcli *c, uint8_t *out, size_t cap, double timeout)
{
    double deadline = fl_now() + timeout;
    for (;;) {
        uint8_t *start = c->rx_len ? memchr(c->rx, 0xC0, c->rx_len) : NULL;
        if (start) {
            size_t off = (size_t)(start - c->rx) + 1;
            while (off < c->rx_len && c->rx[off] == 0xC0)
                off++; /* an empty frame between two delimiters */
            uint8_t *end = off < c->rx_len ? memchr(c->rx + off, 0xC0, c->rx_len - off) : NULL;
            if (end) {
                size_t k = 0;
                for (uint8_t *p = c->rx + off; p < end; p++) {
                    uint8_t b = *p;
                    if (b == 0xDB && p + 1 < end)
                        b = *++p == 0xDC ? 0xC0 : 0xDB;
                    if (k < cap)
                        out[k] = b;
                    k++;
                }
                size_t used = (size_t)(end - c->rx) + 1;
                memmove(c->rx, c->rx + used, c->rx_len - used);
                c->rx_len -= used;
                return (long)k;
            }
        }
        double left = deadline - fl_now();
        if (left <= 0 || c->closed)
            return -1;
        tc_pump(c, left);
    }
}

static bool esp_read(tcli *c, esp_reply *r, double timeout)
{
    uint8_t buf[256];
    long n = esp_frame(c, buf, sizeof buf, timeout);
    if (n < 8 || buf[0] != 0x01)
        return false;
    r->op = buf[1];
    r->size = (uint16_t)(buf[2] | buf[3] << 8);
    r->value = rd32(buf + 4);
    r->n = (size_t)n - 8 < sizeof r->data ? (size_t)n - 8 : sizeof r->data;
    memcpy(r->data, buf + 8, r->n);
    return true;
}

/* Send a command and read one reply. */
static bool esp_cmd(tcli *c, uint8_t op, const void *data, size_t n, uint32_t chk, esp_reply *r)
{
    esp_send(c, op, data, n, chk);
    return esp_read(c, r, REPLY_S);
}

/* Status of a reply (status_len bytes at its end): 0 = success, else the error code. */
static int esp_status(const esp_reply *r, size_t status_len)
{
    if (r->n < status_len || r->size != r->n)
        return -1;
    const uint8_t *st = r->data + r->n - status_len;
    return st[0] == 0 ? 0 : 0x100 | st[1];
}

static bool esp_silent(tcli *c, double window)
{
    uint8_t buf[64];
    return esp_frame(c, buf, sizeof buf, window) < 0;
}

static uint8_t checksum(const uint8_t *p, size_t n)
{
    uint8_t x = 0xEF;
    for (size_t i = 0; i < n; i++)
        x ^= p[i];
    return x;
}

/* ------------------------------------------------------------------ unit control */

typedef struct unit {
    tsim t;
    tcli c;
    size_t st; /* status bytes of this chip's ROM replies */
    size_t begin_len; /* FLASH_BEGIN parameter bytes esptool sends this ROM */
} unit;

static bool wait_state(fl_sim *sim, const char *prefix)
{
    char ans[256];
    double deadline = fl_now() + REPLY_S;
    do {
        fl_sim_control(sim, "state", ans, sizeof ans);
        if (!strncmp(ans, prefix, strlen(prefix)))
            return true;
        usleep(2000);
    } while (fl_now() < deadline);
    return false;
}

/* esptool's ClassicReset: IO0 high + EN low, then IO0 low + EN high, then IO0 high. */
static void classic_reset(tcli *c, bool download)
{
    tc_dtr(c, false);
    tc_rts(c, true);
    usleep(20000);
    tc_dtr(c, download);
    tc_rts(c, false);
}

static bool unit_open(unit *u, const char *chip, const char *query)
{
    memset(u, 0, sizeof *u);
    fl_error err = {0};
    if (!tsim_start(&u->t, chip, query, &err)) {
        CHECK(0, "cannot start %s?%s: %s", chip, query, err.msg);
        if (u->t.sim)
            tsim_stop(&u->t);
        u->t.sim = NULL;
        return false;
    }
    if (!tc_connect_url(&u->c, fl_sim_url(u->t.sim))) {
        CHECK(0, "cannot connect");
        tsim_stop(&u->t);
        u->t.sim = NULL;
        return false;
    }
    u->st = strcmp(chip, "esp8266") ? 4 : 2;
    u->begin_len = !strcmp(chip, "esp8266") || !strcmp(chip, "esp32") ? 16 : 20;
    return true;
}

static void unit_close(unit *u)
{
    tc_close(&u->c);
    if (u->t.sim)
        tsim_stop(&u->t);
}

/* Reset into download mode, SYNC, take the eight answers. */
static bool unit_sync(unit *u)
{
    classic_reset(&u->c, true);
    if (!wait_state(u->t.sim, "download")) {
        CHECK(0, "the chip did not enter download mode");
        return false;
    }
    tc_dtr(&u->c, false);
    tc_flush_input(&u->c, 0.02);
    uint8_t sync[36] = {0x07, 0x07, 0x12, 0x20};
    memset(sync + 4, 0x55, 32);
    esp_send(&u->c, SYNC, sync, sizeof sync, 0);
    for (int i = 0; i < 8; i++) {
        esp_reply r;
        if (!esp_read(&u->c, &r, REPLY_S) || r.op != SYNC || esp_status(&r, u->st) != 0) {
            CHECK(0, "SYNC answer %d missing or wrong", i + 1);
            return false;
        }
    }
    return true;
}

static bool read_reg(unit *u, uint32_t addr, uint32_t *v)
{
    uint8_t p[4];
    esp_reply r;
    le32(p, addr);
    if (!esp_cmd(&u->c, READ_REG, p, 4, 0, &r) || r.op != READ_REG || esp_status(&r, u->st))
        return false;
    *v = r.value;
    return true;
}

static bool write_reg(unit *u, uint32_t addr, uint32_t v)
{
    uint8_t p[16];
    esp_reply r;
    le32(p, addr), le32(p + 4, v), le32(p + 8, 0xFFFFFFFF), le32(p + 12, 0);
    return esp_cmd(&u->c, WRITE_REG, p, 16, 0, &r) && r.op == WRITE_REG && !esp_status(&r, u->st);
}

static int simple(unit *u, uint8_t op, const void *p, size_t n, uint32_t chk)
{
    esp_reply r;
    if (!esp_cmd(&u->c, op, p, n, chk, &r))
        return -2;
    if (r.op != op)
        return -3;
    return esp_status(&r, u->st);
}

static bool attach(unit *u)
{
    uint8_t a[8] = {0}, sp[24];
    le32(sp, 0), le32(sp + 4, 4u << 20), le32(sp + 8, 64 * 1024), le32(sp + 12, 4096);
    le32(sp + 16, 256), le32(sp + 20, 0xFFFF);
    return simple(u, SPI_ATTACH, a, 8, 0) == 0 && simple(u, SPI_SET_PARAMS, sp, 24, 0) == 0;
}

/* The 8 error answers of a command the ROM does not have (op field not the request's). */
static bool unsupported_answer(unit *u, uint8_t op, const void *p, size_t n)
{
    esp_send(&u->c, op, p, n, 0);
    for (int i = 0; i < 8; i++) {
        esp_reply r;
        if (!esp_read(&u->c, &r, REPLY_S) || r.op == op || r.n != u->st || r.data[0] != 1 ||
            r.data[1] != 0x05)
            return false;
    }
    return esp_silent(&u->c, QUIET_S);
}

/* esptool's run_spiflash_command(0x9F, b"", 24) for a chip's SPI block. */
typedef struct spi_regs {
    uint32_t base, usr, usr1, usr2, mosi_dlen, miso_dlen, w0;
} spi_regs;

static const spi_regs SPI_ESP32 = {0x3FF42000, 0x1C, 0x20, 0x24, 0x28, 0x2C, 0x80};
static const spi_regs SPI_C3 = {0x60002000, 0x18, 0x1C, 0x20, 0x24, 0x28, 0x58};
static const spi_regs SPI_8266 = {0x60000200, 0x1C, 0x20, 0x24, 0, 0, 0x40};

static bool jedec(unit *u, const spi_regs *sr, uint32_t *id)
{
    uint32_t b = sr->base, old_usr, old_usr2, cmd;
    if (!read_reg(u, b + sr->usr, &old_usr) || !read_reg(u, b + sr->usr2, &old_usr2))
        return false;
    bool ok = true;
    if (sr->miso_dlen)
        ok = write_reg(u, b + sr->miso_dlen, 24 - 1);
    else
        ok = write_reg(u, b + sr->usr1, (24 - 1) << 8);
    ok = ok && write_reg(u, b + sr->usr, 1u << 31 | 1u << 28) &&
         write_reg(u, b + sr->usr2, 7u << 28 | 0x9F) && write_reg(u, b + sr->w0, 0) &&
         write_reg(u, b, 1u << 18) && read_reg(u, b, &cmd) && (cmd & (1u << 18)) == 0 &&
         read_reg(u, b + sr->w0, id) && write_reg(u, b + sr->usr, old_usr) &&
         write_reg(u, b + sr->usr2, old_usr2);
    return ok;
}

static int flash_begin(unit *u, uint8_t op, uint32_t erase, uint32_t blocks, uint32_t bs,
                       uint32_t off);

/* ------------------------------------------------------------------ tests */

static void test_sync_and_identity(void)
{
    static const struct {
        const char *chip;
        uint32_t magic;
        int secinfo; /* 0 = unsupported, 12, 20 */
        uint32_t chip_id;
    } chips[] = {
        {"esp8266", 0xFFF0C101, 0, 0}, {"esp32", 0x00F01D83, 0, 0},
        {"esp32s2", 0x000007C6, 12, 0}, {"esp32s3", 0x00000009, 20, 9},
        {"esp32c2", 0x6F51306F, 20, 12}, {"esp32c3", 0x1B31506F, 20, 5},
        {"esp32c6", 0x2CE0806F, 20, 13},
    };
    for (size_t i = 0; i < sizeof chips / sizeof chips[0]; i++) {
        unit u;
        if (!unit_open(&u, chips[i].chip, ""))
            return;
        if (unit_sync(&u)) {
            uint32_t magic = 0;
            CHECK(read_reg(&u, 0x40001000, &magic) && magic == chips[i].magic,
                  "%s magic 0x%08x", chips[i].chip, magic);
            if (!chips[i].secinfo) {
                CHECK(unsupported_answer(&u, GET_SECURITY_INFO, NULL, 0),
                      "%s: GET_SECURITY_INFO is not in this ROM", chips[i].chip);
            } else {
                esp_reply r;
                bool got = esp_cmd(&u.c, GET_SECURITY_INFO, NULL, 0, 0, &r);
                CHECK(got && r.op == GET_SECURITY_INFO && esp_status(&r, 4) == 0 &&
                          r.n == (size_t)chips[i].secinfo + 4,
                      "%s security info: %zu bytes", chips[i].chip, got ? r.n : 0);
                if (got && chips[i].secinfo == 20)
                    CHECK_EQ_UINT(rd32(r.data + 12), chips[i].chip_id);
            }
        }
        unit_close(&u);
    }
}

static void test_status_bytes(void)
{
    unit u;
    if (!unit_open(&u, "esp8266", ""))
        return;
    if (unit_sync(&u)) {
        esp_reply r;
        uint8_t p[4];
        le32(p, 0x40001000);
        CHECK(esp_cmd(&u.c, READ_REG, p, 4, 0, &r) && r.size == 2 && r.n == 2 &&
                  r.data[0] == 0 && r.data[1] == 0,
              "ESP8266 replies carry 2 status bytes");
    }
    unit_close(&u);
    if (!unit_open(&u, "esp32", ""))
        return;
    if (unit_sync(&u)) {
        esp_reply r;
        uint8_t p[4];
        le32(p, 0x40001000);
        CHECK(esp_cmd(&u.c, READ_REG, p, 4, 0, &r) && r.size == 4 && r.n == 4 &&
                  !memcmp(r.data, "\0\0\0\0", 4),
              "ESP32 ROM replies carry 4 status bytes");
    }
    unit_close(&u);
}

/* esptool's read_mac() per chip, from the eFuse words it reads. */
static void test_mac(void)
{
    unit u;
    uint32_t w0 = 0, w1 = 0, w3 = 0;
    if (unit_open(&u, "esp32", "mac=24:0a:c4:12:34:56")) {
        if (unit_sync(&u)) {
            CHECK(read_reg(&u, 0x3FF5A004, &w1) && read_reg(&u, 0x3FF5A008, &w0), "efuse");
            uint8_t mac[6] = {(uint8_t)(w0 >> 8), (uint8_t)w0, (uint8_t)(w1 >> 24),
                              (uint8_t)(w1 >> 16), (uint8_t)(w1 >> 8), (uint8_t)w1};
            CHECK(!memcmp(mac, "\x24\x0a\xc4\x12\x34\x56", 6), "ESP32 MAC from eFuse");
        }
        unit_close(&u);
    }
    if (unit_open(&u, "esp32c3", "mac=58:cf:79:ab:cd:ef")) {
        if (unit_sync(&u)) {
            CHECK(read_reg(&u, 0x60008844, &w0) && read_reg(&u, 0x60008848, &w1), "efuse");
            uint8_t mac[6] = {(uint8_t)(w1 >> 8), (uint8_t)w1, (uint8_t)(w0 >> 24),
                              (uint8_t)(w0 >> 16), (uint8_t)(w0 >> 8), (uint8_t)w0};
            CHECK(!memcmp(mac, "\x58\xcf\x79\xab\xcd\xef", 6), "ESP32-C3 MAC from eFuse");
        }
        unit_close(&u);
    }
    static const char *const macs[] = {"mac=18:fe:34:01:02:03", "mac=5c:cf:7f:01:02:03"};
    for (int k = 0; k < 2; k++) {
        if (!unit_open(&u, "esp8266", macs[k]))
            continue;
        if (unit_sync(&u)) {
            CHECK(read_reg(&u, 0x3FF00050, &w0) && read_reg(&u, 0x3FF00054, &w1) &&
                      read_reg(&u, 0x3FF0005C, &w3),
                  "otp");
            uint8_t oui[3] = {(uint8_t)(w3 >> 16), (uint8_t)(w3 >> 8), (uint8_t)w3};
            if (!w3 && ((w1 >> 16) & 0xFF) == 0)
                memcpy(oui, "\x18\xfe\x34", 3);
            uint8_t mac[6] = {oui[0], oui[1], oui[2], (uint8_t)(w1 >> 8), (uint8_t)w1,
                              (uint8_t)(w0 >> 24)};
            uint8_t want[6];
            for (int i = 0; i < 6; i++)
                want[i] = (uint8_t)strtoul(macs[k] + 4 + 3 * i, NULL, 16);
            CHECK(!memcmp(mac, want, 6), "ESP8266 MAC %s", macs[k]);
        }
        unit_close(&u);
    }
    /* without mac=: derived from the seed, different per seed, stable per seed */
    uint32_t a = 0, b = 0, c2 = 0;
    if (unit_open(&u, "esp32", "seed=1")) {
        if (unit_sync(&u))
            read_reg(&u, 0x3FF5A004, &a);
        unit_close(&u);
    }
    if (unit_open(&u, "esp32", "seed=2")) {
        if (unit_sync(&u))
            read_reg(&u, 0x3FF5A004, &b);
        unit_close(&u);
    }
    if (unit_open(&u, "esp32", "seed=1")) {
        if (unit_sync(&u))
            read_reg(&u, 0x3FF5A004, &c2);
        unit_close(&u);
    }
    CHECK(a != b && a == c2 && (a >> 24) == 0xC4, "seeded MACs 0x%08x 0x%08x 0x%08x", a, b, c2);
}

static void test_jedec_through_spi_registers(void)
{
    static const struct {
        const char *chip;
        const spi_regs *sr;
    } chips[] = {{"esp32", &SPI_ESP32}, {"esp32c3", &SPI_C3}, {"esp8266", &SPI_8266}};
    for (size_t i = 0; i < 3; i++) {
        unit u;
        if (!unit_open(&u, chips[i].chip, "jedec=EF4017&size=8M"))
            return;
        if (unit_sync(&u)) {
            uint32_t id = 0;
            bool is8266 = !strcmp(chips[i].chip, "esp8266");
            if (!is8266) {
                CHECK(jedec(&u, chips[i].sr, &id) && (id & 0xFFFFFF) == 0xFFFFFF,
                      "%s before SPI_ATTACH: MISO floats, 0x%06x", chips[i].chip, id);
                CHECK(attach(&u), "attach");
            } else {
                CHECK(flash_begin(&u, FLASH_BEGIN, 0, 0, 0x400, 0) == 0,
                      "ESP8266 attach by FLASH_BEGIN(0,0)");
            }
            CHECK(jedec(&u, chips[i].sr, &id) && (id & 0xFFFFFF) == 0x1740EF,
                  "%s JEDEC word 0x%08x (manufacturer EF, device 4017)", chips[i].chip, id);
        }
        unit_close(&u);
    }
}

/* run_spiflash_command with an address phase (esptool's read_spiflash_sfdp shape). */
static bool spi_addr_cmd(unit *u, const spi_regs *sr, uint8_t cmd, uint32_t addr,
                         uint32_t read_bits, uint32_t *out)
{
    uint32_t b = sr->base, flags = (24u - 1) << 26;
    bool ok = sr->miso_dlen ? write_reg(u, b + sr->miso_dlen, read_bits - 1) &&
                                  write_reg(u, b + sr->usr1, flags)
                            : write_reg(u, b + sr->usr1, flags | (read_bits - 1) << 8);
    return ok && write_reg(u, b + sr->usr, 1u << 31 | 1u << 30 | 1u << 28) &&
           write_reg(u, b + sr->usr2, 7u << 28 | cmd) && write_reg(u, b + 4, addr << 8) &&
           write_reg(u, b + sr->w0, 0) && write_reg(u, b, 1u << 18) &&
           read_reg(u, b + sr->w0, out);
}

static void test_spi_address_phase_and_records(void)
{
    static const struct {
        const char *chip;
        const spi_regs *sr;
    } chips[] = {{"esp32", &SPI_ESP32}, {"esp32c3", &SPI_C3}, {"esp8266", &SPI_8266}};
    for (size_t i = 0; i < 3; i++) {
        unit u;
        if (!unit_open(&u, chips[i].chip, ""))
            return;
        fl_sim_flash_load(u.t.sim, 0x1234, "\x11\x22\x33\x44", 4, NULL);
        if (unit_sync(&u)) {
            if (strcmp(chips[i].chip, "esp8266"))
                CHECK(attach(&u), "attach");
            else
                CHECK(flash_begin(&u, FLASH_BEGIN, 0, 0, 0x400, 0) == 0, "attach");
            uint32_t w = 0;
            CHECK(spi_addr_cmd(&u, chips[i].sr, 0x03, 0x1234, 32, &w) && w == 0x44332211,
                  "%s: READ 0x1234 through the SPI controller: 0x%08x", chips[i].chip, w);
            /* two WRITE_REG records in one command (esptool's delay_after_us) */
            uint8_t p[32];
            le32(p, 0x3FFB0000), le32(p + 4, 0xCAFEF00D), le32(p + 8, 0xFFFFFFFF), le32(p + 12, 0);
            le32(p + 16, 0x60000078), le32(p + 20, 0), le32(p + 24, 0), le32(p + 28, 100);
            uint32_t v = 0;
            CHECK(simple(&u, WRITE_REG, p, 32, 0) == 0 && read_reg(&u, 0x3FFB0000, &v) &&
                      v == 0xCAFEF00D,
                  "two-record WRITE_REG");
            CHECK_EQ_UINT(simple(&u, WRITE_REG, p, 20, 0), 0x105);
        }
        unit_close(&u);
    }
}

static void fill_pattern(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
    if (n > 20)
        p[7] = 0xC0, p[8] = 0xDB, p[9] = 0xC0; /* escapes inside the data */
}

/* FLASH_BEGIN (16 bytes on ESP8266/ESP32, 20 with the encrypted flag on later ROMs). */
static int flash_begin(unit *u, uint8_t op, uint32_t erase, uint32_t blocks, uint32_t bs,
                       uint32_t off)
{
    uint8_t b[20] = {0};
    le32(b, erase), le32(b + 4, blocks), le32(b + 8, bs), le32(b + 12, off);
    return simple(u, op, b, u->begin_len, 0);
}

static int data_block(unit *u, uint8_t op, uint32_t seq, const uint8_t *data, uint32_t n,
                      int chk_delta)
{
    uint8_t *p = malloc(16 + n);
    le32(p, n), le32(p + 4, seq), le32(p + 8, 0), le32(p + 12, 0);
    memcpy(p + 16, data, n);
    int st = simple(u, op, p, 16 + n, (uint32_t)(checksum(data, n) + chk_delta) & 0xFF);
    free(p);
    return st;
}

/* FLASH_BEGIN/DATA with 0x400 blocks, the last padded with 0xFF (no FLASH_END: it
 * would leave the loader). */
static bool flash_write(unit *u, uint32_t off, const uint8_t *data, uint32_t len, uint32_t erase)
{
    uint32_t bs = 0x400, blocks = (len + bs - 1) / bs;
    if (flash_begin(u, FLASH_BEGIN, erase, blocks, bs, off) != 0)
        return false;
    uint8_t blk[0x400];
    for (uint32_t i = 0; i < blocks; i++) {
        uint32_t k = len - i * bs < bs ? len - i * bs : bs;
        memset(blk, 0xFF, bs);
        memcpy(blk, data + i * bs, k);
        if (data_block(u, FLASH_DATA, i, blk, bs, 0) != 0)
            return false;
    }
    return true;
}

static bool read_slow(unit *u, uint32_t off, uint8_t *out, uint32_t len)
{
    for (uint32_t done = 0; done < len;) {
        uint32_t k = len - done < 64 ? len - done : 64;
        uint8_t p[8];
        esp_reply r;
        le32(p, off + done), le32(p + 4, k);
        if (!esp_cmd(&u->c, READ_FLASH_SLOW, p, 8, 0, &r) || r.op != READ_FLASH_SLOW ||
            r.n != 64 + u->st || esp_status(&r, u->st))
            return false;
        memcpy(out + done, r.data, k);
        done += k;
    }
    return true;
}

static bool flash_md5(unit *u, uint32_t off, uint32_t len, char hex[33])
{
    uint8_t p[16] = {0};
    esp_reply r;
    le32(p, off), le32(p + 4, len);
    if (!esp_cmd(&u->c, SPI_FLASH_MD5, p, 16, 0, &r) || r.op != SPI_FLASH_MD5 ||
        r.n != 32 + u->st || esp_status(&r, u->st))
        return false;
    memcpy(hex, r.data, 32);
    hex[32] = '\0';
    return true;
}

#include <openssl/evp.h>
static void md5_hex(const uint8_t *p, size_t n, char hex[33])
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned ml = 0;
    EVP_Digest(p, n, md, &ml, EVP_md5(), NULL);
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static void test_write_read_md5(void)
{
    static const char *const chips[] = {"esp32", "esp32c3", "esp32s3"};
    for (size_t i = 0; i < 3; i++) {
        unit u;
        if (!unit_open(&u, chips[i], ""))
            return;
        if (unit_sync(&u) && attach(&u)) {
            uint32_t off = 0x10000, len = 5000;
            uint8_t data[5000], back[5000];
            fill_pattern(data, len, (uint32_t)i + 7);
            CHECK(flash_write(&u, off, data, len, 0x2000), "%s write", chips[i]);
            CHECK(read_slow(&u, off, back, len) && !memcmp(back, data, len),
                  "%s READ_FLASH_SLOW gives back what was written", chips[i]);
            char got[33], want[33];
            md5_hex(data, len, want);
            CHECK(flash_md5(&u, off, len, got) && !strcmp(got, want), "%s MD5 %s vs %s",
                  chips[i], got, want);
            uint8_t direct[5000];
            fl_sim_flash_read(u.t.sim, off, direct, len, NULL);
            CHECK(!memcmp(direct, data, len), "%s flash content", chips[i]);
            /* the padding of the last block was written too (0xFF), the region beyond the
             * erase size is untouched */
            uint8_t pad[0x400 * 5 - 5000];
            fl_sim_flash_read(u.t.sim, off + len, pad, sizeof pad, NULL);
            bool all_ff = true;
            for (size_t k = 0; k < sizeof pad; k++)
                all_ff &= pad[k] == 0xFF;
            CHECK(all_ff, "padding");
        }
        unit_close(&u);
    }
}

static bool text_has(tcli *c, const char *needle)
{
    double deadline = fl_now() + REPLY_S;
    while (fl_now() < deadline && !c->closed) {
        if (c->rx_len && memmem(c->rx, c->rx_len, needle, strlen(needle)))
            return true;
        tc_pump(c, 0.05);
    }
    return false;
}

static void test_strap(void)
{
    unit u;
    if (!unit_open(&u, "esp32", "quiet=0"))
        return;
    /* IO0 high at the start: the firmware boots; blank flash: the ROM finds no image */
    classic_reset(&u.c, false);
    CHECK(wait_state(u.t.sim, "app"), "IO0 high boots the firmware");
    CHECK(text_has(&u.c, "boot:0x13 (SPI_FAST_FLASH_BOOT)"), "flash boot text");
    CHECK(text_has(&u.c, "invalid header: 0xffffffff"), "blank flash: no image");
    u.c.rx_len = 0;
    static const uint8_t hdr[8] = {0xE9, 0x03, 0x02, 0x20, 0x00, 0x00, 0x08, 0x40};
    fl_sim_flash_load(u.t.sim, 0x1000, hdr, sizeof hdr, NULL);
    classic_reset(&u.c, false);
    CHECK(wait_state(u.t.sim, "app") && text_has(&u.c, "OpenESP32"), "the firmware's text");
    u.c.rx_len = 0;
    classic_reset(&u.c, true);
    CHECK(wait_state(u.t.sim, "download") && text_has(&u.c, "waiting for download"),
          "IO0 low: ROM download mode");
    /* the host may release DTR now: the strap was sampled */
    tc_dtr(&u.c, false);
    usleep(30000);
    CHECK(wait_state(u.t.sim, "download"), "stays in download mode");
    unit_close(&u);

    /* ESP8266: the ROM text is at 74880 */
    if (!unit_open(&u, "esp8266", "quiet=0"))
        return;
    tc_set_baud(&u.c, 74880);
    classic_reset(&u.c, true);
    CHECK(wait_state(u.t.sim, "download") && text_has(&u.c, "rst cause:2, boot mode:(1,7)"),
          "ESP8266 download text at 74880");
    tc_set_baud(&u.c, 115200);
    CHECK(unit_sync(&u), "then SYNC at 115200");
    unit_close(&u);

    /* a manual-reset unit: DTR/RTS do nothing, the boot button does */
    if (!unit_open(&u, "esp32c3", "manual=1"))
        return;
    classic_reset(&u.c, true);
    usleep(30000);
    CHECK(wait_state(u.t.sim, "app"), "manual unit ignores DTR/RTS");
    char ans[256];
    fl_sim_control(u.t.sim, "power-cycle-download", ans, sizeof ans);
    CHECK(!strncmp(ans, "ok", 2), "power-cycle-download: %s", ans);
    CHECK(wait_state(u.t.sim, "download"), "boot button held through a power-cycle");
    fl_sim_control(u.t.sim, "state", ans, sizeof ans);
    CHECK(strstr(ans, "button=up") != NULL, "released after the start: %s", ans);
    fl_sim_control(u.t.sim, "power-cycle", ans, sizeof ans);
    CHECK(wait_state(u.t.sim, "app"), "plain power-cycle: firmware");
    fl_sim_control(u.t.sim, "boot-button down", ans, sizeof ans);
    fl_sim_control(u.t.sim, "power-cycle", ans, sizeof ans);
    CHECK(wait_state(u.t.sim, "download"), "button down + power-cycle: download");
    fl_sim_control(u.t.sim, "boot-button up", ans, sizeof ans);
    fl_sim_control(u.t.sim, "power-cycle", ans, sizeof ans);
    CHECK(wait_state(u.t.sim, "app"), "button up + power-cycle: firmware");
    unit_close(&u);
}

static void test_change_baudrate(void)
{
    unit u;
    if (!unit_open(&u, "esp32", ""))
        return;
    if (unit_sync(&u)) {
        uint8_t p[8];
        le32(p, 921600), le32(p + 4, 0);
        CHECK(simple(&u, CHANGE_BAUDRATE, p, 8, 0) == 0, "answered at the old rate");
        tc_set_baud(&u.c, 921600);
        uint32_t magic = 0;
        CHECK(read_reg(&u, 0x40001000, &magic) && magic == 0x00F01D83, "talks at 921600");
        fl_sim_stats st;
        fl_sim_get_stats(u.t.sim, &st);
        CHECK_EQ_UINT(st.baud, 921600);
        /* a host left at the old rate is not understood */
        tc_set_baud(&u.c, 115200);
        uint8_t q[4];
        le32(q, 0x40001000);
        esp_send(&u.c, READ_REG, q, 4, 0);
        esp_reply r;
        CHECK(!esp_read(&u.c, &r, QUIET_S) || r.op != READ_REG || r.value != 0x00F01D83,
              "wrong rate: no proper answer");
    }
    unit_close(&u);
    if (!unit_open(&u, "esp8266", ""))
        return;
    if (unit_sync(&u)) {
        uint8_t p[8];
        le32(p, 921600), le32(p + 4, 0);
        CHECK(unsupported_answer(&u, CHANGE_BAUDRATE, p, 8), "the ESP8266 ROM cannot change its rate");
    }
    unit_close(&u);
}

static bool all_are(const uint8_t *p, size_t n, uint8_t v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return false;
    return true;
}

/* esptool's ESP8266ROM.get_erase_size: the size that makes the buggy ROM erase exactly. */
static uint32_t esptool_erase_size(uint32_t offset, uint32_t size)
{
    uint32_t sectors_per_block = 16, sector = 4096;
    uint32_t num = (size + sector - 1) / sector, start = offset / sector;
    uint32_t head = sectors_per_block - start % sectors_per_block;
    if (num < head)
        head = num;
    if (num < 2 * head)
        return (num + 1) / 2 * sector;
    return (num - head) * sector;
}

/* Flash fully programmed to 0x00, FLASH_BEGIN(erase) at off: which bytes became 0xFF? */
static void erase_probe(const char *chip, uint32_t off, uint32_t erase, uint32_t *lo,
                        uint32_t *hi)
{
    unit u;
    *lo = *hi = 0;
    if (!unit_open(&u, chip, "size=1M"))
        return;
    static uint8_t zero[1u << 20];
    fl_sim_flash_load(u.t.sim, 0, zero, sizeof zero, NULL);
    if (unit_sync(&u) && (!strcmp(chip, "esp8266") || attach(&u)) &&
        flash_begin(&u, FLASH_BEGIN, erase, 1, 0x400, off) == 0) {
        static uint8_t back[1u << 20];
        fl_sim_flash_read(u.t.sim, 0, back, sizeof back, NULL);
        uint32_t a = 0;
        while (a < sizeof back && back[a] == 0)
            a++;
        uint32_t b = a;
        while (b < sizeof back && back[b] == 0xFF)
            b++;
        if (all_are(back + b, sizeof back - b, 0))
            *lo = a, *hi = b;
        else
            *lo = *hi = 0xFFFFFFFF; /* not one contiguous range */
    }
    unit_close(&u);
}

static void test_esp8266_erase_size_bug(void)
{
    static const struct {
        uint32_t off, size;
    } cases[] = {{0x0000, 0x4000}, {0xE000, 0x4000}, {0x3000, 0x21000}, {0x20000, 0x1000}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t off = cases[i].off, size = cases[i].size, lo, hi;
        /* the true size: the ROM erases more than asked */
        erase_probe("esp8266", off, size, &lo, &hi);
        CHECK(lo == off && hi > off + size, "ESP8266, true size 0x%x at 0x%x: erased 0x%x..0x%x",
              size, off, lo, hi);
        /* esptool's pre-distorted size: exact (one sector more when the count is odd and
         * fits in the first block, as esptool accepts) */
        erase_probe("esp8266", off, esptool_erase_size(off, size), &lo, &hi);
        CHECK(lo == off && (hi == off + size || hi == off + size + 0x1000),
              "ESP8266, esptool's size for 0x%x at 0x%x: erased 0x%x..0x%x", size, off, lo, hi);
        /* an ESP32 ROM erases what it is told */
        erase_probe("esp32", off, size, &lo, &hi);
        CHECK(lo == off && hi == off + size, "ESP32 0x%x at 0x%x: erased 0x%x..0x%x", size, off,
              lo, hi);
    }
}

static void test_esp8266_rom_limits(void)
{
    unit u;
    if (!unit_open(&u, "esp8266", ""))
        return;
    if (unit_sync(&u)) {
        uint8_t p[16] = {0};
        le32(p + 4, 64);
        CHECK(unsupported_answer(&u, READ_FLASH_SLOW, p, 8), "no READ_FLASH_SLOW");
        CHECK(unsupported_answer(&u, SPI_FLASH_MD5, p, 16), "no SPI_FLASH_MD5");
        CHECK(unsupported_answer(&u, SPI_ATTACH, p, 8), "no SPI_ATTACH");
        uint8_t sp[24] = {0};
        CHECK(unsupported_answer(&u, SPI_SET_PARAMS, sp, 24), "no SPI_SET_PARAMS");
        uint8_t b[16] = {0};
        le32(b + 8, 0x400);
        CHECK(unsupported_answer(&u, DEFL_BEGIN, b, 16), "no compressed download");
        /* and it still works afterwards, with 2 status bytes */
        uint8_t data[3000];
        fill_pattern(data, sizeof data, 3);
        CHECK(flash_write(&u, 0x1000, data, sizeof data, esptool_erase_size(0x1000, 0x1000)),
              "write through the ESP8266 ROM");
        uint8_t back[3000];
        fl_sim_flash_read(u.t.sim, 0x1000, back, sizeof back, NULL);
        CHECK(!memcmp(back, data, sizeof data), "written");
    }
    unit_close(&u);
}

static void test_data_checks(void)
{
    unit u;
    if (!unit_open(&u, "esp32c3", ""))
        return;
    if (unit_sync(&u) && attach(&u)) {
        uint8_t blk[0x400];
        fill_pattern(blk, sizeof blk, 11);
        CHECK(flash_begin(&u, FLASH_BEGIN, 0x2000, 2, 0x400, 0x8000) == 0, "begin");
        /* a bad checksum: error 0x07 and nothing written */
        CHECK_EQ_UINT(data_block(&u, FLASH_DATA, 0, blk, 0x400, 1), 0x107);
        uint8_t back[0x800];
        fl_sim_flash_read(u.t.sim, 0x8000, back, sizeof back, NULL);
        CHECK(all_are(back, sizeof back, 0xFF), "nothing written after the bad checksum");
        /* a skipped sequence number */
        CHECK_EQ_UINT(data_block(&u, FLASH_DATA, 1, blk, 0x400, 0), 0x105);
        /* a block longer than declared */
        uint8_t big[0x500];
        fill_pattern(big, sizeof big, 2);
        CHECK_EQ_UINT(data_block(&u, FLASH_DATA, 0, big, 0x500, 0), 0x105);
        CHECK_EQ_UINT(data_block(&u, FLASH_DATA, 0, blk, 0x400, 0), 0);
        /* the same block again (a host retrying after a lost reply): rewritten in place */
        CHECK_EQ_UINT(data_block(&u, FLASH_DATA, 0, blk, 0x400, 0), 0);
        /* data over bytes that are not erased: the ROM's read-back fails (0x08) */
        uint8_t other[0x400];
        memset(other, 0xFF, sizeof other);
        fl_sim_flash_load(u.t.sim, 0x8400, "\x00", 1, NULL); /* a 0 bit cannot become 1 */
        other[0] = 0x01;
        CHECK_EQ_UINT(data_block(&u, FLASH_DATA, 1, other, 0x400, 0), 0x108);
        CHECK_EQ_UINT(data_block(&u, FLASH_DATA, 2, blk, 0x400, 0), 0x105); /* past the count */
        fl_sim_flash_read(u.t.sim, 0x8000, back, 0x400, NULL);
        CHECK(!memcmp(back, blk, 0x400), "block 0 in place");
        /* FLASH_DATA without a FLASH_BEGIN after FLASH_END: 0x06 */
        uint8_t stay[4];
        le32(stay, 1);
        CHECK(simple(&u, FLASH_END, stay, 4, 0) == 0, "FLASH_END");
    }
    unit_close(&u);
    if (!unit_open(&u, "esp32", ""))
        return;
    if (unit_sync(&u) && attach(&u)) {
        uint8_t blk[0x10] = {1, 2, 3};
        CHECK_EQ_UINT(data_block(&u, FLASH_DATA, 0, blk, sizeof blk, 0), 0x106);
        /* ESP32 ROM: FLASH_BEGIN takes exactly 4 words */
        uint8_t b[20] = {0};
        le32(b + 8, 0x400);
        CHECK_EQ_UINT(simple(&u, FLASH_BEGIN, b, 20, 0), 0x105);
        /* READ_FLASH_SLOW over 64 bytes: read length error */
        uint8_t p[8];
        le32(p, 0), le32(p + 4, 65);
        CHECK_EQ_UINT(simple(&u, READ_FLASH_SLOW, p, 8, 0), 0x10A);
    }
    unit_close(&u);
}

static void test_framing_strictness(void)
{
    unit u;
    if (!unit_open(&u, "esp32", ""))
        return;
    if (unit_sync(&u)) {
        /* a bad escape (DB 01): the frame is thrown away, no answer */
        static const uint8_t bad_esc[] = {0xC0, 0x00, 0x0A, 0x04, 0x00, 0, 0, 0, 0,
                                          0x00, 0x10, 0xDB, 0x01, 0x40, 0xC0};
        tc_send(&u.c, bad_esc, sizeof bad_esc);
        CHECK(esp_silent(&u.c, QUIET_S), "bad escape: no answer");
        /* the size field does not match the data: 0x05 */
        static const uint8_t short_len[] = {0xC0, 0x00, 0x0A, 0x08, 0x00, 0, 0, 0, 0,
                                            0x00, 0x10, 0x00, 0x40, 0xC0};
        tc_send(&u.c, short_len, sizeof short_len);
        esp_reply r;
        CHECK(esp_read(&u.c, &r, REPLY_S) && r.op == READ_REG && esp_status(&r, 4) == 0x105,
              "wrong size field: error 0x05");
        /* READ_REG with 8 parameter bytes: 0x05 */
        uint8_t p8[8] = {0x00, 0x10, 0x00, 0x40};
        CHECK_EQ_UINT(simple(&u, READ_REG, p8, 8, 0), 0x105);
        /* a frame in the reply direction, and a frame too short for a header: ignored */
        static const uint8_t resp_dir[] = {0xC0, 0x01, 0x0A, 0x04, 0x00, 0, 0, 0, 0,
                                           0x00, 0x10, 0x00, 0x40, 0xC0, 0xC0, 0x00, 0x0A, 0xC0};
        tc_send(&u.c, resp_dir, sizeof resp_dir);
        CHECK(esp_silent(&u.c, QUIET_S), "not requests: no answer");
        /* an unknown command: eight 0x05 answers with another op */
        CHECK(unsupported_answer(&u, 0x55, NULL, 0), "unknown command");
        /* a SYNC with a wrong payload */
        uint8_t sync[36] = {0x07, 0x07, 0x12, 0x21};
        CHECK_EQ_UINT(simple(&u, SYNC, sync, 36, 0), 0x105);
        /* back-to-back frames sharing delimiters, escapes in the data: both answered */
        uint8_t two[64];
        size_t k = 0;
        for (int i = 0; i < 2; i++) {
            uint8_t raw[12] = {0x00, 0x0A, 0x04, 0x00, 0, 0, 0, 0, 0xC0, 0xDB, 0x00, 0x3F};
            k += slip_encode(two + k, raw, 12) - (i ? 0 : 1); /* share one C0 */
        }
        tc_send(&u.c, two, k);
        CHECK(esp_read(&u.c, &r, REPLY_S) && r.op == READ_REG && esp_read(&u.c, &r, REPLY_S) &&
                  r.op == READ_REG,
              "two pipelined frames, two answers");
        /* the reply value field is stale: last READ_REG's */
        uint32_t v;
        CHECK(read_reg(&u, 0x40001000, &v), "magic");
        uint8_t sp[24] = {0};
        CHECK(esp_cmd(&u.c, SPI_SET_PARAMS, sp, 24, 0, &r) && r.value == 0x00F01D83,
              "value field carries the last READ_REG result: 0x%08x", r.value);
    }
    unit_close(&u);
}

static void test_secure_download_mode(void)
{
    unit u;
    if (!unit_open(&u, "esp32c3", "sdm=1"))
        return;
    if (unit_sync(&u)) {
        uint8_t p[16] = {0};
        le32(p, 0x40001000);
        CHECK(unsupported_answer(&u, READ_REG, p, 4), "SDM: READ_REG refused");
        le32(p + 4, 64);
        CHECK(unsupported_answer(&u, READ_FLASH_SLOW, p, 8), "SDM: READ_FLASH_SLOW refused");
        CHECK(unsupported_answer(&u, SPI_FLASH_MD5, p, 16), "SDM: MD5 refused");
        uint8_t w[16] = {0};
        CHECK(unsupported_answer(&u, WRITE_REG, w, 16), "SDM: WRITE_REG refused");
        esp_reply r;
        CHECK(esp_cmd(&u.c, GET_SECURITY_INFO, NULL, 0, 0, &r) && r.op == GET_SECURITY_INFO &&
                  r.n == 24 && (rd32(r.data) & 4) && rd32(r.data + 12) == 5,
              "SDM flag in the security info");
        uint8_t data[2048];
        fill_pattern(data, sizeof data, 5);
        CHECK(attach(&u) && flash_write(&u, 0x20000, data, sizeof data, 0x1000),
              "SDM: writing is allowed");
        uint8_t end[4] = {1, 0, 0, 0};
        CHECK(simple(&u, FLASH_END, end, 4, 0) == 0, "FLASH_END");
        uint8_t back[2048];
        fl_sim_flash_read(u.t.sim, 0x20000, back, sizeof back, NULL);
        CHECK(!memcmp(back, data, sizeof data), "written in SDM");
    }
    unit_close(&u);
    fl_error err = {0};
    tsim t;
    CHECK(!tsim_start(&t, "esp32", "sdm=1", &err) && strstr(err.msg, "Secure Download"),
          "sdm on a chip without it: %s", err.msg);
    if (t.sim)
        tsim_stop(&t);
    else
        free(t.query);
}

static void test_security_efuses(void)
{
    unit u;
    if (unit_open(&u, "esp32c3", "crypt=1&secureboot=1")) {
        if (unit_sync(&u)) {
            esp_reply r;
            uint32_t cnt = 0, sb = 0;
            CHECK(esp_cmd(&u.c, GET_SECURITY_INFO, NULL, 0, 0, &r) && r.n == 24 &&
                      (rd32(r.data) & 1) && r.data[4] == 1 && r.data[5] == 4,
                  "C3 security info: secure boot, crypt count 1, XTS key");
            CHECK(read_reg(&u, 0x60008834, &cnt) && ((cnt >> 18) & 7) == 1 && ((cnt >> 24) & 15) == 4,
                  "C3 SPI_BOOT_CRYPT_CNT and key purpose: 0x%08x", cnt);
            CHECK(read_reg(&u, 0x60008838, &sb) && (sb & (1u << 20)), "C3 SECURE_BOOT_EN");
        }
        unit_close(&u);
    }
    if (unit_open(&u, "esp32", "crypt=1&secureboot=1")) {
        if (unit_sync(&u)) {
            uint32_t w0 = 0, w6 = 0;
            CHECK(read_reg(&u, 0x3FF5A000, &w0) && ((w0 >> 20) & 0x7F) == 1, "ESP32 FLASH_CRYPT_CNT");
            CHECK(read_reg(&u, 0x3FF5A018, &w6) && (w6 & (1u << 4)), "ESP32 ABS_DONE_0");
        }
        unit_close(&u);
    }
    if (unit_open(&u, "esp32", "")) {
        if (unit_sync(&u)) {
            uint32_t w0 = 1, w6 = 1;
            CHECK(read_reg(&u, 0x3FF5A000, &w0) && read_reg(&u, 0x3FF5A018, &w6) &&
                      ((w0 >> 20) & 0x7F) == 0 && !(w6 & 0x10),
                  "no security by default");
            /* eFuse words cannot be written */
            CHECK(write_reg(&u, 0x3FF5A000, 0xFFFFFFFF) && read_reg(&u, 0x3FF5A000, &w0) && w0 == 0,
                  "eFuse read-only");
        }
        unit_close(&u);
    }
    fl_error err = {0};
    tsim t;
    CHECK(!tsim_start(&t, "esp8266", "crypt=1", &err), "no crypt on the ESP8266");
    if (t.sim)
        tsim_stop(&t);
    else
        free(t.query);
}

static void test_compressed_write(void)
{
    unit u;
    if (!unit_open(&u, "esp32", ""))
        return;
    if (unit_sync(&u) && attach(&u)) {
        static uint8_t data[40000];
        fill_pattern(data, 20000, 9);
        memset(data + 20000, 0x42, 20000); /* compressible half */
        uLongf zl = compressBound(sizeof data);
        uint8_t *z = malloc(zl);
        compress2(z, &zl, data, sizeof data, 9);
        uint32_t bs = 0x400, blocks = (uint32_t)((zl + bs - 1) / bs);
        CHECK(flash_begin(&u, DEFL_BEGIN, 0xA000, blocks, bs, 0x30000) == 0, "DEFL_BEGIN");
        bool all = true;
        for (uint32_t i = 0; i < blocks; i++) {
            uint32_t k = (uint32_t)zl - i * bs < bs ? (uint32_t)zl - i * bs : bs;
            all &= data_block(&u, DEFL_DATA, i, z + i * bs, k, 0) == 0;
        }
        CHECK(all, "DEFL_DATA blocks");
        char got[33], want[33];
        md5_hex(data, sizeof data, want);
        CHECK(flash_md5(&u, 0x30000, sizeof data, got) && !strcmp(got, want), "MD5 after inflate");
        uint8_t end[4] = {1, 0, 0, 0};
        CHECK(simple(&u, DEFL_END, end, 4, 0) == 0, "DEFL_END");
        CHECK(wait_state(u.t.sim, "app"), "DEFL_END 1: the firmware runs");
        /* a broken stream: deflate error */
        CHECK(unit_sync(&u) && attach(&u), "again");
        CHECK(flash_begin(&u, DEFL_BEGIN, 0x1000, 1, bs, 0x40000) == 0, "DEFL_BEGIN");
        uint8_t junk[64];
        memset(junk, 0xFF, sizeof junk);
        CHECK_EQ_UINT(data_block(&u, DEFL_DATA, 0, junk, sizeof junk, 0), 0x10B);
        free(z);
    }
    unit_close(&u);
}

static void test_flash_end_reboot_and_mem(void)
{
    unit u;
    if (!unit_open(&u, "esp32", ""))
        return;
    if (unit_sync(&u) && attach(&u)) {
        CHECK(flash_begin(&u, FLASH_BEGIN, 0, 0, 0x400, 0) == 0, "begin");
        uint8_t end[4] = {0};
        CHECK(simple(&u, FLASH_END, end, 4, 0) == 0, "FLASH_END 0 answers");
        CHECK(wait_state(u.t.sim, "app"), "then reboots into the firmware (IO0 released)");
        CHECK(unit_sync(&u), "back in download mode");
        uint8_t mb[16];
        le32(mb, 16), le32(mb + 4, 1), le32(mb + 8, 0x1800), le32(mb + 12, 0x40080000);
        CHECK(simple(&u, MEM_BEGIN, mb, 16, 0) == 0, "MEM_BEGIN");
        uint8_t code[16] = {1, 2, 3, 4};
        CHECK_EQ_UINT(data_block(&u, MEM_DATA, 0, code, 16, 1), 0x107);
        CHECK(data_block(&u, MEM_DATA, 0, code, 16, 0) == 0, "MEM_DATA");
        uint8_t me[8];
        le32(me, 0), le32(me + 4, 0x40080000);
        CHECK(simple(&u, MEM_END, me, 8, 0) == 0, "MEM_END with an entry point answers");
        CHECK(wait_state(u.t.sim, "hung"), "the uploaded code is not modelled: quiet");
        uint8_t p[4];
        le32(p, 0x40001000);
        esp_send(&u.c, READ_REG, p, 4, 0);
        CHECK(esp_silent(&u.c, QUIET_S), "nothing answers");
    }
    unit_close(&u);
}

static void test_faults(void)
{
    /* brown-out in the middle of FLASH_BEGIN's erase: no answer, the chip restarts */
    unit u;
    if (!unit_open(&u, "esp32", "brownout=110")) /* armed during FLASH_BEGIN (bytes 98..124) */
        return;
    static uint8_t zero[0x20000];
    fl_sim_flash_load(u.t.sim, 0, zero, sizeof zero, NULL);
    if (unit_sync(&u) && attach(&u)) {
        uint8_t b[16] = {0};
        le32(b, 0x20000), le32(b + 4, 0x80), le32(b + 8, 0x400), le32(b + 12, 0);
        esp_send(&u.c, FLASH_BEGIN, b, 16, 0);
        esp_reply r;
        CHECK(!esp_read(&u.c, &r, QUIET_S), "no answer from a browned-out chip");
        fl_sim_stats st;
        fl_sim_get_stats(u.t.sim, &st);
        CHECK_EQ_UINT(st.brownouts, 1);
        static uint8_t back[0x20000];
        fl_sim_flash_read(u.t.sim, 0, back, sizeof back, NULL);
        CHECK(back[0] == 0xFF && back[sizeof back - 1] == 0x00, "erase cut short");
        CHECK(wait_state(u.t.sim, "app"), "restarted into the firmware (IO0 high)");
    }
    unit_close(&u);

    /* a line that drops and garbles messages both ways: a careful host (drain, then
     * resend the block) ends with exactly its data, because the ROM never answers OK
     * to a damaged block (checksum, size, seq and read-back checks) */
    if (!unit_open(&u, "esp32c3", "corrupt=0.15&drop=0.15&seed=11"))
        return;
    classic_reset(&u.c, true);
    if (wait_state(u.t.sim, "download")) {
        tc_dtr(&u.c, false);
        uint8_t sync[36] = {0x07, 0x07, 0x12, 0x20};
        memset(sync + 4, 0x55, 32);
        esp_reply r;
        bool synced = false, attached = false, begun = false;
        for (int i = 0; i < 20 && !synced; i++) {
            esp_send(&u.c, SYNC, sync, sizeof sync, 0);
            while (esp_read(&u.c, &r, 0.05))
                synced |= r.op == SYNC && r.n == 4 && r.data[0] == 0;
        }
        for (int i = 0; i < 20 && synced && !attached; i++) {
            tc_flush_input(&u.c, 0.02);
            attached = attach(&u);
        }
        for (int i = 0; i < 20 && attached && !begun; i++) {
            tc_flush_input(&u.c, 0.02);
            begun = flash_begin(&u, FLASH_BEGIN, 32 * 0x400, 32, 0x400, 0x10000) == 0;
        }
        static uint8_t data[32 * 0x400];
        fill_pattern(data, sizeof data, 21);
        int retries = 0;
        bool all = begun;
        for (uint32_t i = 0; i < 32 && all; i++) {
            bool done = false;
            for (int k = 0; k < 30 && !done; k++, retries++) {
                tc_flush_input(&u.c, 0.02);
                uint8_t *pk = malloc(16 + 0x400);
                le32(pk, 0x400), le32(pk + 4, i), le32(pk + 8, 0), le32(pk + 12, 0);
                memcpy(pk + 16, data + i * 0x400, 0x400);
                esp_send(&u.c, FLASH_DATA, pk, 16 + 0x400, checksum(data + i * 0x400, 0x400));
                free(pk);
                done = esp_read(&u.c, &r, 0.1) && r.op == FLASH_DATA && r.n == 4 &&
                       r.data[0] == 0 && r.data[1] == 0;
            }
            all = done;
        }
        CHECK(synced && attached && begun && all, "through the faulty line (%d retries)", retries);
        static uint8_t back[sizeof data];
        fl_sim_flash_read(u.t.sim, 0x10000, back, sizeof back, NULL);
        CHECK(!all || !memcmp(back, data, sizeof data), "every block answered OK is intact");
        fl_sim_stats st;
        fl_sim_get_stats(u.t.sim, &st);
        CHECK(st.bytes_corrupted > 0 && st.bytes_dropped > 0, "faults were injected");
    }
    unit_close(&u);

    /* corrupted messages: every write either lands intact or is answered with an error */
    if (!unit_open(&u, "esp32c3", "corrupt=0.2&seed=4"))
        return;
    classic_reset(&u.c, true);
    if (wait_state(u.t.sim, "download")) {
        tc_dtr(&u.c, false);
        uint8_t sync[36] = {0x07, 0x07, 0x12, 0x20};
        memset(sync + 4, 0x55, 32);
        int good = 0, bad = 0;
        esp_reply r;
        for (int i = 0; i < 40; i++) {
            esp_send(&u.c, SYNC, sync, sizeof sync, 0);
            while (esp_read(&u.c, &r, 0.05))
                if (r.op == SYNC && r.n == 4)
                    r.data[0] == 0 && r.value == 0x20120707 ? good++ : bad++;
        }
        CHECK(good > 0, "some SYNCs answered through a corrupting line (%d good, %d bad)", good, bad);
        fl_sim_stats st;
        fl_sim_get_stats(u.t.sim, &st);
        CHECK(st.bytes_corrupted > 0 && st.frames_bad > 0, "faults were injected and seen");
    }
    unit_close(&u);
}

/* Real wire time (timescale 1), checked with bounds load cannot break: nothing finishes
 * before its bytes x 10 / baud or before its modelled busy time. */
static void test_wire_time_and_overrun(void)
{
    unit u;
    if (!unit_open(&u, "esp32", "timescale=1"))
        return;
    if (!unit_sync(&u) || !attach(&u)) {
        unit_close(&u);
        return;
    }
    /* READ_FLASH_SLOW at 115200: 18 bytes out, 78 back (no escapes in blank flash;
     * the stale value field is the SYNC word 0x20120707, no escapes either) */
    uint8_t p[8];
    le32(p, 0), le32(p + 4, 64);
    double t0 = fl_now();
    CHECK(simple(&u, READ_FLASH_SLOW, p, 8, 0) == 0, "slow read");
    double dt = fl_now() - t0;
    /* (the first host byte counts as arriving when the simulator reads it: 17 + 78) */
    CHECK(dt >= (17 + 78) * 10 / 115200.0, "round trip %.4f s", dt);
    le32(p, 921600), le32(p + 4, 0);
    CHECK(simple(&u, CHANGE_BAUDRATE, p, 8, 0) == 0, "921600");
    tc_set_baud(&u.c, 921600);
    /* FLASH_BEGIN over 256 KiB: four 64 KiB block erases, 1 s, before the answer */
    fl_sim_stats st0, st1;
    fl_sim_get_stats(u.t.sim, &st0);
    t0 = fl_now();
    CHECK(flash_begin(&u, FLASH_BEGIN, 0x40000, 16, 0x400, 0) == 0, "begin");
    dt = fl_now() - t0;
    fl_sim_get_stats(u.t.sim, &st1);
    double modelled = st1.erase_busy_s - st0.erase_busy_s;
    CHECK(modelled > 0.999 && modelled < 1.001 && dt >= modelled, "erase modelled %.3f s, took %.3f s",
          modelled, dt);
    /* the receive buffer while busy: FLASH_BEGIN again (1 s of erase) with twelve
     * blocks right behind it in one burst; 0x2000 bytes wait, the rest is lost */
    uint8_t burst[16384], raw[8 + 16 + 0x400];
    size_t k = 0;
    uint8_t b[16];
    le32(b, 0x40000), le32(b + 4, 16), le32(b + 8, 0x400), le32(b + 12, 0);
    memset(raw, 0, 8);
    raw[1] = FLASH_BEGIN, raw[2] = 16;
    memcpy(raw + 8, b, 16);
    k += slip_encode(burst + k, raw, 24);
    uint8_t blk[0x400];
    memset(blk, 0x5A, sizeof blk);
    for (uint32_t i = 0; i < 12; i++) {
        raw[1] = FLASH_DATA, raw[2] = 0x10, raw[3] = 0x04, raw[4] = checksum(blk, 0x400);
        le32(raw + 8, 0x400), le32(raw + 12, i), le32(raw + 16, 0), le32(raw + 20, 0);
        memcpy(raw + 24, blk, 0x400);
        k += slip_encode(burst + k, raw, sizeof raw);
    }
    tc_send(&u.c, burst, k); /* one write: the simulator reads it well within the erase */
    esp_reply r;
    int answered = 0;
    while (esp_read(&u.c, &r, 2.0) && r.op != 0)
        answered += (r.op == FLASH_BEGIN || r.op == FLASH_DATA) && esp_status(&r, 4) == 0;
    /* 8192 bytes hold seven 1050-byte frames (the FLASH_BEGIN frame was taken out of the
     * buffer when it started executing) */
    CHECK_EQ_UINT(answered, 1 + 7);
    uint8_t back[0x400];
    fl_sim_flash_read(u.t.sim, 6 * 0x400, back, 0x400, NULL);
    CHECK(all_are(back, 0x400, 0x5A), "block 6 written");
    fl_sim_flash_read(u.t.sim, 7 * 0x400, back, 0x400, NULL);
    CHECK(all_are(back, 0x400, 0xFF), "block 7 lost in the overrun");
    /* block 7 again: its first delimiter ends the torn frame, which is answered 0x05
     * (size field and bytes disagree), then block 7 itself is taken */
    CHECK_EQ_UINT(data_block(&u, FLASH_DATA, 7, blk, 0x400, 0), 0x105);
    CHECK(esp_read(&u.c, &r, REPLY_S) && r.op == FLASH_DATA && esp_status(&r, 4) == 0,
          "block 7 resent: written");
    fl_sim_flash_read(u.t.sim, 7 * 0x400, back, 0x400, NULL);
    CHECK(all_are(back, 0x400, 0x5A), "block 7 written");
    unit_close(&u);
}

/* `sim:esp32?...` through the link layer (what the driver opens), DTR/RTS set together
 * as fl_link_set_lines does (DTR first: both asserted for a moment, which the EN RC
 * rides out), then SYNC and a READ_REG. */
static void test_sim_url_scheme(void)
{
    fl_link *l = NULL;
    fl_error err = {0};
    if (fl_link_open("sim:esp32?timescale=0&quiet=1&mac=24:0a:c4:00:00:07", &l, &err) != FL_OK) {
        CHECK(0, "sim:esp32: %s", err.msg);
        return;
    }
    fl_sim *sim = l->owned_sim;
    CHECK(fl_link_set_lines(l, 0, 1, &err) == FL_OK, "EN low");
    usleep(20000);
    CHECK(fl_link_set_lines(l, 1, 0, &err) == FL_OK, "IO0 low, EN high");
    CHECK(wait_state(sim, "download"), "download mode through sim:esp32");
    uint8_t raw[8 + 36] = {0x00, SYNC, 36, 0, 0, 0, 0, 0, 0x07, 0x07, 0x12, 0x20};
    memset(raw + 12, 0x55, 32);
    uint8_t enc[100];
    size_t n = slip_encode(enc, raw, sizeof raw);
    CHECK(fl_link_write(l, enc, n, &err) == FL_OK, "write");
    uint8_t rep[8 * 14];
    CHECK(fl_link_read_exact(l, rep, sizeof rep, REPLY_S, &err) == FL_OK &&
              tc_count(rep, sizeof rep, "\xc0\x01\x08\x04\x00\x07\x07\x12\x20\x00\x00\x00\x00\xc0",
                       14) == 8,
          "eight SYNC answers, 4 status bytes: %s", err.msg);
    uint8_t rr[12] = {0x00, READ_REG, 4, 0, 0, 0, 0, 0, 0x04, 0xA0, 0xF5, 0x3F};
    n = slip_encode(enc, rr, sizeof rr);
    fl_link_write(l, enc, n, &err);
    uint8_t r[14];
    CHECK(fl_link_read_exact(l, r, sizeof r, REPLY_S, &err) == FL_OK && r[2] == READ_REG &&
              rd32(r + 5) == 0xC4000007,
          "eFuse MAC word 1 through sim:esp32");
    fl_link_close(l);
}

/* `insert FILE` puts another unit on the fixture: another factory MAC (the same file,
 * the same unit, the same MAC); the events record gets "mem-entry". */
static void test_insert_and_events(void)
{
    char dir[] = "/tmp/test_esp_sim.XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    char q[256], a[300], b[300], ev[300];
    snprintf(ev, sizeof ev, "%s/events", dir);
    snprintf(q, sizeof q, "events=%s", ev);
    snprintf(a, sizeof a, "insert %s/a.bin", dir);
    snprintf(b, sizeof b, "insert %s/b.bin", dir);
    unit u;
    if (!unit_open(&u, "esp32c3", q))
        return;
    uint32_t m[3] = {0};
    char ans[300];
    const char *cmds[3] = {a, b, a};
    for (int i = 0; i < 3; i++) {
        fl_sim_control(u.t.sim, cmds[i], ans, sizeof ans);
        CHECK(!strncmp(ans, "ok", 2), "%s: %s", cmds[i], ans);
        if (unit_sync(&u))
            read_reg(&u, 0x60008844, &m[i]);
    }
    CHECK(m[0] != m[1] && m[0] == m[2], "MAC words 0x%08x 0x%08x 0x%08x", m[0], m[1], m[2]);
    uint8_t mb[16] = {0}, me[8] = {0};
    le32(mb + 8, 0x100);
    CHECK(simple(&u, MEM_BEGIN, mb, 16, 0) == 0 && simple(&u, MEM_END, me, 8, 0) == 0, "MEM_END");
    CHECK(wait_state(u.t.sim, "hung"), "quiet");
    unit_close(&u);
    size_t len = 0;
    uint8_t *rec = tl_load(ev, &len);
    CHECK(rec && memmem(rec, len, "mem-entry", 9), "events record: mem-entry");
    free(rec);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "cleanup");
}

/* The fuzz target's body on mutations of a valid session (tests/fuzz/fuzz_esp_sim.c):
 * the invariants abort the test binary if broken. */
static void test_fuzz_smoke(void)
{
    uint8_t seed[600];
    size_t k = 0;
    seed[k++] = 4; /* structured */
#define CMD(op, n) (seed[k++] = (op), seed[k++] = (uint8_t)(n), seed[k++] = 0, seed[k++] = 0)
    CMD(SYNC, 36);
    memcpy(seed + k, "\x07\x07\x12\x20", 4);
    memset(seed + k + 4, 0x55, 32);
    k += 36;
    CMD(SPI_ATTACH, 8);
    memset(seed + k, 0, 8), k += 8;
    CMD(FLASH_BEGIN, 16);
    le32(seed + k, 0x1000), le32(seed + k + 4, 1), le32(seed + k + 8, 0x40), le32(seed + k + 12, 0);
    k += 16;
    CMD(FLASH_DATA, 16 + 0x40);
    le32(seed + k, 0x40), le32(seed + k + 4, 0), le32(seed + k + 8, 0), le32(seed + k + 12, 0);
    fill_pattern(seed + k + 16, 0x40, 1);
    k += 16 + 0x40;
    CMD(READ_FLASH_SLOW, 8);
    le32(seed + k, 0), le32(seed + k + 4, 64), k += 8;
    CMD(SPI_FLASH_MD5, 16);
    memset(seed + k, 0, 16), le32(seed + k + 4, 0x40), k += 16;
    CMD(READ_REG, 4);
    le32(seed + k, 0x40001000), k += 4;
    CMD(GET_SECURITY_INFO, 0);
#undef CMD
    uint32_t rng = 12345;
    uint8_t buf[sizeof seed + 64];
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(buf, seed, k);
        size_t n = k;
        buf[0] = (uint8_t)(iter & 7);
        for (int m = 0; m < 1 + iter % 6; m++) {
            rng = rng * 1103515245u + 12345u;
            size_t at = 1 + (rng >> 8) % (n - 1);
            buf[at] = (uint8_t)(rng >> 20);
        }
        fuzz_esp_sim(buf, n);
    }
    unsigned ok_frames = 0, bad_frames = 0;
    for (int i = 0; i < 4; i++) {
        fl_sim_stats st;
        fl_sim_get_stats(fz_units[i], &st);
        ok_frames += st.frames_ok, bad_frames += st.frames_bad;
        fl_sim_destroy(fz_units[i]), fz_units[i] = NULL;
    }
    /* (a broken invariant aborts); the mutations reached both the handlers and the
     * error paths */
    CHECK(ok_frames > 3000 && bad_frames > 1000, "%u answered, %u refused", ok_frames, bad_frames);
}

int main(void)
{
    RUN(test_sync_and_identity);
    RUN(test_status_bytes);
    RUN(test_mac);
    RUN(test_jedec_through_spi_registers);
    RUN(test_spi_address_phase_and_records);
    RUN(test_write_read_md5);
    RUN(test_strap);
    RUN(test_change_baudrate);
    RUN(test_esp8266_erase_size_bug);
    RUN(test_esp8266_rom_limits);
    RUN(test_data_checks);
    RUN(test_framing_strictness);
    RUN(test_secure_download_mode);
    RUN(test_security_efuses);
    RUN(test_compressed_write);
    RUN(test_flash_end_reboot_and_mem);
    RUN(test_faults);
    RUN(test_wire_time_and_overrun);
    RUN(test_sim_url_scheme);
    RUN(test_insert_and_events);
    RUN(test_fuzz_smoke);
    return testlib_finish();
}
