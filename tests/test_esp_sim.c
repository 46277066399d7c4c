/* test_esp_sim.c — the ESP ROM-loader personality of the simulator (src/sim/sim_esp.c)
 * through a real loopback RFC 2217 connection, with a small raw SLIP client of its own
 * (not the driver), at timescale 0. */
#include <zlib.h>

#include "sim_client.h"
#include "testlib.h"

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

int main(void)
{
    RUN(test_sync_and_identity);
    RUN(test_status_bytes);
    RUN(test_mac);
    RUN(test_jedec_through_spi_registers);
    RUN(test_write_read_md5);
    RUN(test_strap);
    RUN(test_change_baudrate);
    return testlib_finish();
}
