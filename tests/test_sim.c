/* test_sim.c — the Beken simulator against the spec, over a real loopback RFC 2217
 * connection (tests/sim_client.h), mostly at timescale 0. */
#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>

#include "formats/beken_crc16.h"
#include "sim_client.h"
#include "testlib.h"

#define START(t, chip, q)                                                                    \
    fl_error err_##t = {0};                                                                  \
    if (!tsim_start(&(t), chip, q, &err_##t)) {                                              \
        CHECK(0, "cannot start %s?%s: %s", chip, q, err_##t.msg);                            \
        if ((t).sim)                                                                         \
            tsim_stop(&(t));                                                                 \
        return;                                                                              \
    }

#define CONNECT(c, t)                                                                        \
    if (!tc_connect_url(&(c), fl_sim_url((t).sim))) {                                        \
        CHECK(0, "cannot connect to %s", fl_sim_url((t).sim));                               \
        tsim_stop(&(t));                                                                     \
        return;                                                                              \
    }

#define CHECK_BYTES(got, gotn, exp, expn)                                                    \
    CHECK((gotn) == (expn) && !memcmp((got), (exp), (expn)), "reply mismatch: %s",          \
          hexs(got, gotn))

/* How long a reply the test expects may take.  Generous on purpose: it is only waited
 * out when the reply is missing (a failure anyway), and a loaded machine can hold the
 * simulator's thread back for a long time.  Checks for silence use short windows. */
#define REPLY_S 10.0

static const char *hexs(const uint8_t *p, size_t n)
{
    static char buf[4][200];
    static int k;
    char *b = buf[k++ & 3];
    size_t o = 0;
    for (size_t i = 0; i < n && o + 4 < sizeof buf[0]; i++)
        o += (size_t)snprintf(b + o, sizeof buf[0] - o, "%02X ", p[i]);
    b[o] = '\0';
    return b;
}

static size_t read_reg_frame(uint8_t *f, uint32_t addr)
{
    uint8_t p[4];
    le32(p, addr);
    return fr_short(f, 0x03, p, 4);
}

static bool read_reg(tcli *c, uint32_t addr, uint32_t *val)
{
    uint8_t f[16], r[15];
    size_t n = tc_cmd(c, f, read_reg_frame(f, addr), r, 15, REPLY_S);
    if (n != 15 || r[2] != 0x0C || r[6] != 0x03 || rd32(r + 7) != addr)
        return false;
    *val = rd32(r + 11);
    return true;
}

static bool write_reg(tcli *c, uint32_t addr, uint32_t val)
{
    uint8_t p[8], f[16], r[15];
    le32(p, addr);
    le32(p + 4, val);
    size_t n = tc_cmd(c, f, fr_short(f, 0x01, p, 8), r, 15, REPLY_S);
    return n == 15 && !memcmp(r + 7, p, 8);
}

static uint32_t crc_cmd(tcli *c, uint32_t start, uint32_t end)
{
    uint8_t p[8], f[16], r[11];
    le32(p, start);
    le32(p + 4, end);
    size_t n = tc_cmd(c, f, fr_short(f, 0x10, p, 8), r, 11, REPLY_S);
    if (n != 11 || r[6] != 0x10)
        return 0xDEADBEEF;
    return rd32(r + 7);
}

/* sized erase; returns ST or -1 */
static int erase_cmd(tcli *c, uint8_t zz, uint32_t addr)
{
    uint8_t p[5] = {zz}, f[16], r[16];
    le32(p + 1, addr);
    size_t n = tc_cmd(c, f, fr_long(f, 0x0F, p, 5), r, 16, REPLY_S);
    if (n != 16 || r[9] != 0x0F || r[11] != zz)
        return -1;
    return r[10];
}

static int write4k_cmd(tcli *c, uint32_t addr, const uint8_t *data)
{
    uint8_t *f = malloc(8 + 4 + 4096), p[4], r[15];
    le32(p, addr);
    memcpy(f, (uint8_t[]){0x01, 0xE0, 0xFC, 0xFF, 0xF4, 0x05, 0x10, 0x07}, 8);
    memcpy(f + 8, p, 4);
    memcpy(f + 12, data, 4096);
    size_t n = tc_cmd(c, f, 12 + 4096, r, 15, REPLY_S);
    free(f);
    if (n != 15 || r[9] != 0x07)
        return -1;
    return r[10];
}

static int read4k_cmd(tcli *c, uint32_t addr, uint8_t *out)
{
    uint8_t p[4], f[16], *r = malloc(4111);
    le32(p, addr);
    size_t n = tc_cmd(c, f, fr_long(f, 0x09, p, 4), r, 15, REPLY_S);
    int st = -1;
    if (n == 15 && r[9] == 0x09) {
        st = r[10];
        if (st == 0 && r[7] == 0x06 && r[8] == 0x10)
            st = tc_read(c, out, 4096, REPLY_S) == 4096 ? 0 : -2;
        else if (r[7] == 0x07)
            tc_read(c, NULL, 1, REPLY_S);
    }
    free(r);
    return st;
}

static int write_sr16(tcli *c, uint16_t v)
{
    uint8_t p[3] = {0x01, (uint8_t)v, (uint8_t)(v >> 8)}, f[16], r[14];
    size_t n = tc_cmd(c, f, fr_long(f, 0x0D, p, 3), r, 14, REPLY_S);
    if (n != 14)
        return -1;
    return r[10];
}

static int read_sr(tcli *c, uint8_t opcode)
{
    uint8_t f[16], r[13];
    size_t n = tc_cmd(c, f, fr_long(f, 0x0C, &opcode, 1), r, 13, REPLY_S);
    if (n != 13 || r[9] != 0x0C || r[11] != opcode)
        return -1;
    return r[12];
}

static void fill_pattern(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

/* A flash-loader chip only answers on UART while its loader (flash 0x0-0x11000)
 * is code the flash controller accepts: 34-byte blocks with a correct CRC16.
 * Loads such a loader made of seeded random code; `first` gets its first
 * `n` bytes (n <= 0x11000). */
static void load_loader_pattern(fl_sim *sim, uint8_t *first, size_t n, uint32_t seed)
{
    enum { LOADER = 0x11000, LOGICAL = LOADER / 34 * 32 };
    uint8_t *logical = malloc(LOGICAL), *phys = malloc(LOADER);
    fill_pattern(logical, LOGICAL, seed);
    fl_bk_crc_add(logical, LOGICAL, phys);
    fl_error err;
    fl_sim_flash_load(sim, 0, phys, LOADER, &err);
    memcpy(first, phys, n);
    free(logical);
    free(phys);
}

/* ------------------------------------------------------------------ options */

/* Poll the simulator until its state is `want`, for at most `within` seconds (there is no
 * event to wait on: the model changes state on its own clock).  Returns the seconds it
 * took, or -1.  The deadline is generous on purpose: a loaded machine delays the
 * simulator's thread, and only a broken model makes this time out. */
static double wait_state(fl_sim *sim, const char *want, double within)
{
    double t0 = fl_now();
    for (;;) {
        fl_sim_stats st;
        fl_sim_get_stats(sim, &st);
        if (!strcmp(st.state, want))
            return fl_now() - t0;
        if (fl_now() - t0 > within)
            return -1;
        fl_sleep(0.002);
    }
}

/* Poll the simulator's counters until pred holds, for at most `within` seconds. */
static bool wait_stats(fl_sim *sim, bool (*pred)(const fl_sim_stats *, const void *), const void *arg,
                       double within)
{
    double deadline = fl_now() + within;
    for (;;) {
        fl_sim_stats st;
        fl_sim_get_stats(sim, &st);
        if (pred(&st, arg))
            return true;
        if (fl_now() > deadline)
            return false;
        fl_sleep(0.002);
    }
}

static bool brownouts_at_least(const fl_sim_stats *st, const void *n)
{
    return st->brownouts >= *(const unsigned *)n;
}

static bool host_bytes_at_least(const fl_sim_stats *st, const void *n)
{
    return st->bytes_from_host >= *(const uint64_t *)n;
}

static bool garbled_more_than(const fl_sim_stats *st, const void *n)
{
    return st->bytes_dropped + st->bytes_corrupted > *(const uint64_t *)n;
}

/* Pump until the receive buffer holds `needle`, for at most `within` seconds. */
static bool tc_wait_for(tcli *c, const void *needle, size_t len, double within)
{
    double deadline = fl_now() + within;
    while (!tc_count(c->rx, c->rx_len, needle, len) && !c->closed) {
        double left = deadline - fl_now();
        if (left <= 0)
            return false;
        tc_pump(c, left);
    }
    return tc_count(c->rx, c->rx_len, needle, len) > 0;
}

static void reopen_rts(fl_sim *sim, tcli *c)
{
    (void)sim;
    tc_rts(c, true);
    tc_rts(c, false);
}

static void reopen_power_cycle(fl_sim *sim, tcli *c)
{
    (void)c;
    fl_sim_power_cycle(sim);
}

/* A LinkCheck into the boot window something just opened (a reset, a brown-out, a
 * power-cycle) is answered at 115200, and answered first: an answer to whatever came
 * before would arrive ahead of it.  The window is a deadline for the host (ROM 0.25 s of
 * real time), so a machine that holds the test back past it finds the chip gone on into
 * its application -- no answer, state "app".  That is load, not a fault: the window is
 * opened again with `reopen` and the check repeated.  Anything else fails. */
static bool linkcheck_in_window(fl_sim *sim, tcli *c, void (*reopen)(fl_sim *, tcli *))
{
    for (int attempt = 0; attempt < 5; attempt++) {
        if (attempt) {
            fprintf(stderr, "note: this machine held the test past the boot window; reopening it\n");
            reopen(sim, c);
        }
        uint8_t r[8];
        tc_send(c, LINKCHECK, sizeof LINKCHECK);
        size_t n = tc_read(c, r, 8, 1);
        if (n == 0) {
            fl_sim_stats st;
            fl_sim_get_stats(sim, &st);
            if (!strcmp(st.state, "app"))
                continue;
        }
        n += tc_read(c, r + n, 8 - n, REPLY_S);
        CHECK_BYTES(r, n, LINKCHECK_REPLY, 8);
        return n == 8 && !memcmp(r, LINKCHECK_REPLY, 8);
    }
    CHECK(0, "boot window missed five times");
    return false;
}

static bool resets_at_least(const fl_sim_stats *st, const void *n)
{
    return st->resets >= *(const unsigned *)n;
}

static void test_options_query(void)
{
    fl_sim_options o;
    fl_sim_options_init(&o);
    CHECK(o.timescale == 1.0 && o.disconnect_after == -1 && o.brownout_at == -1, "defaults");
    char q[] = "flash=/tmp/x%20y.bin&size=4M&timescale=0.5&drop=0.1&corrupt=0.2&stall=5&"
               "stallrate=0.5&disconnect=100&brownout=0x200&manual=1&seed=7&quiet=1&jedec=EF4018&"
               "control=0";
    fl_error err = {0};
    CHECK_EQ_UINT(fl_sim_options_from_query(&o, q, &err), FL_OK);
    CHECK_STR(o.flash_path, "/tmp/x y.bin");
    CHECK_EQ_UINT(o.flash_size, 4u << 20);
    CHECK(o.timescale == 0.5 && o.drop_rate == 0.1 && o.corrupt_rate == 0.2, "rates");
    CHECK_EQ_UINT(o.stall_ms, 5);
    CHECK(o.stall_rate == 0.5, "stallrate");
    CHECK_EQ_UINT(o.disconnect_after, 100);
    CHECK_EQ_UINT(o.brownout_at, 0x200);
    CHECK(o.manual_reset && o.quiet_app, "flags");
    CHECK_EQ_UINT(o.seed, 7);
    CHECK_EQ_UINT(o.jedec, 0xEF4018);
    char bad[] = "timescale=0&bogus=1";
    CHECK_EQ_UINT(fl_sim_options_from_query(&o, bad, &err), FL_ERR_USAGE);
    CHECK(strstr(err.msg, "bogus") != NULL, "%s", err.msg);
    char badv[] = "drop=2";
    CHECK_EQ_UINT(fl_sim_options_from_query(&o, badv, &err), FL_ERR_USAGE);

    const char *const *names = fl_sim_chip_names();
    int n = 0;
    while (names[n])
        n++;
    CHECK_EQ_UINT(n, 16); /* 9 Beken + 7 ESP (issue 13) */
    fl_sim_chip_info ci;
    CHECK_EQ_UINT(fl_sim_get_chip_info("bk7231n", &ci, &err), FL_OK);
    CHECK(ci.rom_loader && ci.chip_id == 0x7231C && ci.jedec_id == 0xC84015, "bk7231n info");
    CHECK_EQ_UINT(fl_sim_get_chip_info("bk7231t", &ci, &err), FL_OK);
    CHECK(!ci.rom_loader && ci.protected_limit == 0x11000 && ci.status_reg == 0x1C, "bk7231t");
    CHECK_STR(ci.boot_version, "BK7231S_1.0.5");
    CHECK_EQ_UINT(fl_sim_get_chip_info("esp32h2", &ci, &err), FL_ERR_USAGE);
    CHECK_EQ_UINT(fl_sim_get_chip_info("esp32", &ci, &err), FL_OK);
    CHECK(ci.rom_loader && ci.chip_id_reg == 0x40001000 && ci.chip_id == 0x00F01D83, "esp32");

    fl_sim *sim = NULL;
    fl_sim_options_init(&o);
    o.chip = "bk7999";
    CHECK_EQ_UINT(fl_sim_create(&o, &sim, &err), FL_ERR_USAGE);
    CHECK(strstr(err.msg, "bk7231n") != NULL, "lists chips: %s", err.msg);
}

/* ------------------------------------------------------------------ telnet */

static void test_telnet_negotiation(void)
{
    tsim t;
    START(t, "bk7231n", "");
    tcli c;
    CONNECT(c, t);
    uint8_t b[16];
    size_t o = tn_verb(b, TN_WILL, TN_OPT_COM_PORT);
    o += tn_verb(b + o, TN_DO, TN_OPT_BINARY);
    o += tn_verb(b + o, TN_DO, TN_OPT_ECHO);
    tc_raw(&c, b, o);
    tc_set_baud(&c, 230400);
    uint8_t zero = 0, eight = 8;
    tc_comport(&c, CPO_SET_DATASIZE, &eight, 1);
    tc_comport(&c, CPO_SET_PARITY, &zero, 1); /* query */
    uint8_t q = 10;                             /* query RTS */
    tc_comport(&c, CPO_SET_CONTROL, &q, 1);
    for (int i = 0; i < 20 && c.ncp < 4; i++)
        tc_pump(&c, 0.05);
    CHECK(c.nverbs == 3, "verbs %d", c.nverbs);
    CHECK(c.verbs[0][0] == TN_DO && c.verbs[0][1] == TN_OPT_COM_PORT, "DO COM-PORT");
    CHECK(c.verbs[1][0] == TN_WILL && c.verbs[1][1] == TN_OPT_BINARY, "WILL BINARY");
    CHECK(c.verbs[2][0] == TN_WONT && c.verbs[2][1] == TN_OPT_ECHO, "WONT ECHO");
    CHECK_EQ_UINT(c.ncp, 4);
    CHECK(c.cp_cmd[0] == 101 && c.cp_val[0] == 230400, "baud ack %u %u", c.cp_cmd[0], c.cp_val[0]);
    CHECK(c.cp_cmd[1] == 102 && c.cp_val[1] == 8, "datasize ack");
    CHECK(c.cp_cmd[2] == 103 && c.cp_val[2] == 1, "parity: NONE");
    CHECK(c.cp_cmd[3] == 105 && c.cp_val[3] == CPO_CTL_RTS_OFF, "RTS released");
    /* 0xFF data bytes travel doubled: ReadReg of an address containing 0xFF */
    tc_set_baud(&c, 115200);
    CHECK(tc_link(&c), "link");
    uint32_t v;
    CHECK(write_reg(&c, 0x00FF00FF, 0xFFFFFFFF), "writereg with 0xFF bytes");
    CHECK(read_reg(&c, 0x00FF00FF, &v) && v == 0xFFFFFFFF, "readreg with 0xFF bytes");
    tc_close(&c);
    tsim_stop(&t);
}

/* ------------------------------------------------------------------ ROM loader */

static void test_rom_ids(void)
{
    tsim t;
    START(t, "bk7231n", "");
    tcli c;
    CONNECT(c, t);
    CHECK(tc_link(&c), "link");
    uint8_t f[32], r[32];
    /* spec §4.2.3: ReadReg 0x800000 -> 1C 23 07 00 */
    static const uint8_t rr[] = {0x01, 0xE0, 0xFC, 0x05, 0x03, 0x00, 0x00, 0x80, 0x00};
    static const uint8_t rr_reply[] = {0x04, 0x0E, 0x0C, 0x01, 0xE0, 0xFC, 0x03, 0x00,
                                       0x00, 0x80, 0x00, 0x1C, 0x23, 0x07, 0x00};
    size_t n = tc_cmd(&c, rr, sizeof rr, r, 15, REPLY_S);
    CHECK_BYTES(r, n, rr_reply, sizeof rr_reply);
    /* §4.2.15 GetMID: M = 6, GD25Q16 C8 40 15 */
    static const uint8_t mid[] = {0x01, 0xE0, 0xFC, 0xFF, 0xF4, 0x05, 0x00, 0x0E, 0x9F, 0, 0, 0};
    n = tc_cmd(&c, mid, sizeof mid, r, 15, REPLY_S);
    static const uint8_t mid_reply[] = {0x04, 0x0E, 0xFF, 0x01, 0xE0, 0xFC, 0xF4, 0x06,
                                        0x00, 0x0E, 0x00, 0xFF, 0xC8, 0x40, 0x15};
    CHECK_BYTES(r, n, mid_reply, sizeof mid_reply);
    /* §4.2.13 ReadSR: factory state BP0|CMP = SR1 0x04, SR2 0x40 */
    static const uint8_t rsr[] = {0x01, 0xE0, 0xFC, 0xFF, 0xF4, 0x02, 0x00, 0x0C, 0x05};
    static const uint8_t rsr_reply[] = {0x04, 0x0E, 0xFF, 0x01, 0xE0, 0xFC, 0xF4,
                                        0x04, 0x00, 0x0C, 0x00, 0x05, 0x04};
    n = tc_cmd(&c, rsr, sizeof rsr, r, 13, REPLY_S);
    CHECK_BYTES(r, n, rsr_reply, sizeof rsr_reply);
    CHECK_EQ_UINT(read_sr(&c, 0x35), 0x40);
    /* §4.2.13 write 2 bytes: echo */
    static const uint8_t wsr[] = {0x01, 0xE0, 0xFC, 0xFF, 0xF4, 0x04, 0x00, 0x0D, 0x01, 0x00, 0x00};
    static const uint8_t wsr_reply[] = {0x04, 0x0E, 0xFF, 0x01, 0xE0, 0xFC, 0xF4, 0x05,
                                        0x00, 0x0D, 0x00, 0x01, 0x00, 0x00};
    n = tc_cmd(&c, wsr, sizeof wsr, r, 14, REPLY_S);
    CHECK_BYTES(r, n, wsr_reply, sizeof wsr_reply);
    CHECK_EQ_UINT(read_sr(&c, 0x05), 0x00);
    CHECK_EQ_UINT(read_sr(&c, 0x35), 0x00);
    /* write 1 byte: only SR1 */
    static const uint8_t wsr1[] = {0x01, 0xE0, 0xFC, 0xFF, 0xF4, 0x03, 0x00, 0x0D, 0x01, 0x1C};
    static const uint8_t wsr1_reply[] = {0x04, 0x0E, 0xFF, 0x01, 0xE0, 0xFC, 0xF4,
                                         0x04, 0x00, 0x0D, 0x00, 0x01, 0x1C};
    n = tc_cmd(&c, wsr1, sizeof wsr1, r, 13, REPLY_S);
    CHECK_BYTES(r, n, wsr1_reply, sizeof wsr1_reply);
    CHECK_EQ_UINT(read_sr(&c, 0x05), 0x1C);
    /* SetBaudRate to the same rate still echoes (§4.2.5 form) */
    static const uint8_t sb[] = {0x01, 0xE0, 0xFC, 0x06, 0x0F, 0x00, 0xC2, 0x01, 0x00, 0x05};
    static const uint8_t sb_reply[] = {0x04, 0x0E, 0x09, 0x01, 0xE0, 0xFC,
                                       0x0F, 0x00, 0xC2, 0x01, 0x00, 0x05};
    n = tc_cmd(&c, sb, sizeof sb, r, 12, REPLY_S);
    CHECK_BYTES(r, n, sb_reply, sizeof sb_reply);
    /* StayRom */
    static const uint8_t stay[] = {0x01, 0xE0, 0xFC, 0x02, 0xAA, 0x55};
    static const uint8_t stay_reply[] = {0x04, 0x0E, 0x05, 0x01, 0xE0, 0xFC, 0xAA, 0x55};
    n = tc_cmd(&c, stay, sizeof stay, r, 8, REPLY_S);
    CHECK_BYTES(r, n, stay_reply, sizeof stay_reply);
    /* ROM stand-in reads are stable */
    uint32_t a, b;
    CHECK(read_reg(&c, 0x100, &a) && read_reg(&c, 0x100, &b) && a == b, "rom word");
    (void)f;
    tc_close(&c);
    tsim_stop(&t);
}

static bool efuse_read(tcli *c, uint8_t out[16])
{
    for (unsigned a = 0; a < 16; a++) {
        uint32_t v;
        if (!read_reg(c, 0x800074, &v))
            return false;
        if (!write_reg(c, 0x800074, (v & ~0x1F02u) | (a << 8) | 1))
            return false;
        int tries = 0;
        do {
            if (!read_reg(c, 0x800074, &v) || ++tries > 10)
                return false;
        } while (v & 1);
        if (!read_reg(c, 0x800078, &v) || !(v & 0x100))
            return false;
        out[a] = (uint8_t)v;
    }
    return true;
}

static void test_rom_chip_ids_efuse(void)
{
    static const uint32_t tuya[4] = {0x510fb093, 0xa3cbeadc, 0x5993a17e, 0xc7adeb03};
    struct { const char *chip; uint32_t reg, id; bool key; } cases[] = {
        {"bk7231n", 0x800000, 0x7231C, true},
        {"bk7231m", 0x800000, 0x7231C, false},
        {"bk7238", 0x800000, 0x7238, false},
        {"bk7236", 0x44010004, 0x7236, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tsim t;
        START(t, cases[i].chip, "");
        tcli c;
        CONNECT(c, t);
        CHECK(tc_link(&c), "link %s", cases[i].chip);
        uint32_t v = 0;
        CHECK(read_reg(&c, cases[i].reg, &v) && v == cases[i].id, "%s id %x", cases[i].chip, v);
        if (i < 2) {
            uint8_t e[16];
            CHECK(efuse_read(&c, e), "efuse %s", cases[i].chip);
            for (int k = 0; k < 4; k++)
                CHECK_EQ_UINT(rd32(e + 4 * k), cases[i].key ? tuya[k] : 0);
        }
        tc_close(&c);
        tsim_stop(&t);
    }
}

static void test_crc_vectors(void)
{
    tsim t;
    START(t, "bk7231n", "");
    tcli c;
    CONNECT(c, t);
    CHECK(tc_link(&c), "link");
    /* spec §8.1 vectors on blank flash, inclusive end on ROM */
    CHECK_EQ_UINT(crc_cmd(&c, 0, 0xFFF), 0x0EAB98F5);
    CHECK_EQ_UINT(crc_cmd(&c, 0, 0xFF), 0x015757DE);
    CHECK_EQ_UINT(crc_cmd(&c, 0x10000, 0x1FFFF), 0x215481B1);
    fl_error err;
    fl_sim_flash_load(t.sim, 0x1000, "123456789", 9, &err);
    CHECK_EQ_UINT(crc_cmd(&c, 0x1000, 0x1008), 0x340BC6D9);
    /* end = start - 1: zero bytes, register untouched */
    CHECK_EQ_UINT(crc_cmd(&c, 0x1000, 0x0FFF), 0xFFFFFFFF);
    /* wrapping range: 0x1FF000 .. 0x200FFF = last 4K + first 4K */
    uint8_t *buf = malloc(8192);
    fl_sim_flash_read(t.sim, 0x1FF000, buf, 4096, &err);
    fl_sim_flash_read(t.sim, 0, buf + 4096, 4096, &err);
    CHECK_EQ_UINT(crc_cmd(&c, 0x1FF000, 0x200FFF), fl_beken_crc(buf, 8192));
    free(buf);
    tc_close(&c);
    tsim_stop(&t);

    /* 257 vs 256 bytes at 0x11000: ROM inclusive vs flash-loader blocks (spec §8.4 probe) */
    uint8_t pat[512];
    fill_pattern(pat, sizeof pat, 1);
    const char *chips[] = {"bk7231n", "bk7231u"};
    for (int k = 0; k < 2; k++) {
        tsim u;
        START(u, chips[k], "");
        fl_sim_flash_load(u.sim, 0x11000, pat, sizeof pat, &err);
        tcli d;
        CONNECT(d, u);
        CHECK(tc_link(&d), "link %s", chips[k]);
        uint32_t v = crc_cmd(&d, 0x11000, 0x11100);
        CHECK_EQ_UINT(v, fl_beken_crc(pat, k == 0 ? 257 : 256));
        if (k == 1) {
            CHECK_EQ_UINT(crc_cmd(&d, 0x11000, 0x110FF), fl_beken_crc(pat, 256));
            CHECK_EQ_UINT(crc_cmd(&d, 0x11000, 0x111FE), fl_beken_crc(pat, 256)); /* 0x1FF bytes */
            CHECK_EQ_UINT(crc_cmd(&d, 0x11000, 0x11000), 0xFFFFFFFF);          /* 1 byte: 0 blocks */
        }
        tc_close(&d);
        tsim_stop(&u);
    }
}

static void test_rom_protection_and_nor(void)
{
    tsim t;
    START(t, "bk7231n", "");
    fl_error err;
    uint8_t *pat = malloc(4096), *rd = malloc(4096), *pat2 = malloc(4096);
    fill_pattern(pat, 4096, 7);
    fill_pattern(pat2, 4096, 99);
    fl_sim_flash_load(t.sim, 0x11000, pat, 4096, &err);
    fl_sim_flash_load(t.sim, 0x1F0000, pat, 4096, &err);
    tcli c;
    CONNECT(c, t);
    CHECK(tc_link(&c), "link");
    /* factory SR BP0|CMP: everything but the top 64 KiB is protected; ST stays 0 */
    CHECK_EQ_UINT(erase_cmd(&c, 0x20, 0x11000), 0);
    CHECK_EQ_UINT(read4k_cmd(&c, 0x11000, rd), 0);
    CHECK(!memcmp(rd, pat, 4096), "protected sector not erased");
    CHECK_EQ_UINT(erase_cmd(&c, 0x20, 0x1F0000), 0);
    CHECK_EQ_UINT(read4k_cmd(&c, 0x1F0000, rd), 0);
    CHECK(rd[0] == 0xFF && rd[4095] == 0xFF, "top 64K is not protected by BP0|CMP");
    CHECK_EQ_UINT(write4k_cmd(&c, 0x12000, pat), 0);
    CHECK_EQ_UINT(read4k_cmd(&c, 0x12000, rd), 0);
    CHECK(rd[0] == 0xFF && rd[100] == 0xFF, "protected program ignored");
    /* unprotect as bk7231tools does: SR & ~0x407C */
    CHECK_EQ_UINT(write_sr16(&c, 0x0000), 0);
    CHECK_EQ_UINT(erase_cmd(&c, 0x20, 0x11000), 0);
    CHECK_EQ_UINT(read4k_cmd(&c, 0x11000, rd), 0);
    uint8_t ff[4096];
    memset(ff, 0xFF, sizeof ff);
    CHECK(!memcmp(rd, ff, 4096), "erased after unprotect");
    CHECK_EQ_UINT(write4k_cmd(&c, 0x11000, pat), 0);
    CHECK_EQ_UINT(read4k_cmd(&c, 0x11000, rd), 0);
    CHECK(!memcmp(rd, pat, 4096), "write/read back");
    CHECK_EQ_UINT(crc_cmd(&c, 0x11000, 0x11FFF), fl_beken_crc(pat, 4096));
    /* program without erase ANDs */
    CHECK_EQ_UINT(write4k_cmd(&c, 0x11000, pat2), 0);
    CHECK_EQ_UINT(read4k_cmd(&c, 0x11000, rd), 0);
    bool and_ok = true;
    for (int i = 0; i < 4096; i++)
        and_ok &= rd[i] == (pat[i] & pat2[i]);
    CHECK(and_ok, "program = AND");
    /* 64 KiB erase aligns down; 32 KiB too */
    CHECK_EQ_UINT(erase_cmd(&c, 0xD8, 0x11000), 0);
    CHECK_EQ_UINT(read4k_cmd(&c, 0x11000, rd), 0);
    CHECK(!memcmp(rd, ff, 4096), "64K erase at unaligned address");
    /* wraparound: 0x200000 + 0x11000 is 0x11000 */
    CHECK_EQ_UINT(write4k_cmd(&c, 0x211000, pat), 0);
    CHECK_EQ_UINT(read4k_cmd(&c, 0x11000, rd), 0);
    CHECK(!memcmp(rd, pat, 4096), "write via wrapped address");
    CHECK_EQ_UINT(read4k_cmd(&c, 0x411000, rd), 0);
    CHECK(!memcmp(rd, pat, 4096), "read via wrapped address");
    /* unaligned 4K write: each page program wraps inside its page */
    CHECK_EQ_UINT(erase_cmd(&c, 0x20, 0x13000), 0);
    CHECK_EQ_UINT(write4k_cmd(&c, 0x13080, pat), 0);
    fl_sim_flash_read(t.sim, 0x13000, rd, 4096, &err);
    CHECK(rd[0x80] == pat[0] && rd[0] == pat[0x80] && rd[0x7F] == pat[0xFF], "page wrap");
    /* 0x06 FlashWrite and 0x08 FlashRead */
    uint8_t p[4 + 16], f[64], r[64];
    le32(p, 0x140F8);
    memcpy(p + 4, "0123456789abcdef", 16);
    size_t n = tc_cmd(&c, f, fr_long(f, 0x06, p, 20), r, 16, REPLY_S);
    static const uint8_t w6_reply[] = {0x04, 0x0E, 0xFF, 0x01, 0xE0, 0xFC, 0xF4, 0x07,
                                       0x00, 0x06, 0x00, 0xF8, 0x40, 0x01, 0x00, 0x10};
    CHECK_BYTES(r, n, w6_reply, sizeof w6_reply);
    uint8_t rp[5];
    le32(rp, 0x140F8);
    rp[4] = 16;
    n = tc_cmd(&c, f, fr_long(f, 0x08, rp, 5), r, 15 + 16, REPLY_S);
    CHECK(n == 31 && r[7] == 22 && r[10] == 0 && !memcmp(r + 15, "0123456789abcdef", 16),
          "0x08 read: %s", hexs(r, n));
    /* 0x0B FlashErase4K */
    uint8_t ep[4];
    le32(ep, 0x14000);
    static const uint8_t e4_reply[] = {0x04, 0x0E, 0xFF, 0x01, 0xE0, 0xFC, 0xF4, 0x06,
                                       0x00, 0x0B, 0x00, 0x00, 0x40, 0x01, 0x00};
    n = tc_cmd(&c, f, fr_long(f, 0x0B, ep, 4), r, 15, REPLY_S);
    CHECK_BYTES(r, n, e4_reply, sizeof e4_reply);
    fl_sim_flash_read(t.sim, 0x14000, rd, 4096, &err);
    CHECK(!memcmp(rd, ff, 4096), "0x0B erased");
    fl_sim_stats st;
    fl_sim_get_stats(t.sim, &st);
    CHECK(st.erase_busy_s > 0.2, "erase time accounted: %g", st.erase_busy_s);
    tc_close(&c);
    tsim_stop(&t);
    free(pat);
    free(pat2);
    free(rd);
}

static void test_rom_parser(void)
{
    tsim t;
    START(t, "bk7231n", "");
    tcli c;
    CONNECT(c, t);
    CHECK(tc_link(&c), "link");
    uint8_t r[64];
    size_t n;
    /* §4.2.17 unknown short and long */
    static const uint8_t u1[] = {0x01, 0xE0, 0xFC, 0x01, 0x55};
    static const uint8_t u1r[] = {0x04, 0x0E, 0x05, 0x01, 0xE0, 0xFC, 0x55, 0x07};
    n = tc_cmd(&c, u1, sizeof u1, r, 8, REPLY_S);
    CHECK_BYTES(r, n, u1r, sizeof u1r);
    static const uint8_t u2[] = {0x01, 0xE0, 0xFC, 0xFF, 0xF4, 0x05, 0x00, 0x54, 1, 2, 3, 4};
    static const uint8_t u2r[] = {0x04, 0x0E, 0xFF, 0x01, 0xE0, 0xFC, 0xF4, 0x02, 0x00, 0x54, 0x07};
    n = tc_cmd(&c, u2, sizeof u2, r, 11, REPLY_S);
    CHECK_BYTES(r, n, u2r, sizeof u2r);
    /* the version query is not a ROM command */
    static const uint8_t v11[] = {0x01, 0xE0, 0xFC, 0x01, 0x11};
    static const uint8_t v11r[] = {0x04, 0x0E, 0x05, 0x01, 0xE0, 0xFC, 0x11, 0x07};
    n = tc_cmd(&c, v11, sizeof v11, r, 8, REPLY_S);
    CHECK_BYTES(r, n, v11r, sizeof v11r);
    /* resync on a repeated 0x01, stray bytes between frames */
    static const uint8_t rs[] = {0x00, 0x00, 0x00, 0x01, 0x01, 0xE0, 0x01, 0xE0, 0xFC, 0x01, 0x00};
    n = tc_cmd(&c, rs, sizeof rs, r, 8, REPLY_S);
    CHECK_BYTES(r, n, LINKCHECK_REPLY, 8);
    /* partial short frame: status-5 event after the idle timeout; length byte = idx + 2 */
    static const uint8_t part[] = {0x01, 0xE0, 0xFC, 0x05, 0x03, 0x00, 0x00};
    static const uint8_t partr[] = {0x04, 0x0E, 0x09, 0x01, 0xE0, 0xFC, 0x05, 0x05, 0x03, 0x00, 0x00};
    double t0 = fl_now();
    n = tc_cmd(&c, part, sizeof part, r, sizeof partr, REPLY_S);
    double dt = fl_now() - t0;
    CHECK_BYTES(r, n, partr, sizeof partr);
    /* a lower bound only: load can delay the answer, never bring it forward; the answer
     * arriving at all (within the 2 s read) shows the timeout fires */
    CHECK(dt >= 0.015, "idle timeout %.3f s", dt);
    CHECK(tc_read(&c, r, 1, 0.05) == 0, "nothing more");
    /* partial long read: ST=5, M=6 */
    static const uint8_t pl[] = {0x01, 0xE0, 0xFC, 0xFF, 0xF4, 0x05, 0x00, 0x09, 0x00, 0x10};
    static const uint8_t plr[] = {0x04, 0x0E, 0xFF, 0x01, 0xE0, 0xFC, 0xF4, 0x06,
                                  0x00, 0x09, 0x05, 0x00, 0x10, 0xFF, 0xFF};
    n = tc_cmd(&c, pl, sizeof pl, r, 15, REPLY_S);
    CHECK_BYTES(r, n, plr, sizeof plr);
    /* a frame that stops before its first payload byte waits: the next LinkCheck becomes
     * its payload (L=5: 01 E0 FC 01 00 = WriteReg), echoed as such */
    static const uint8_t hdr_only[] = {0x01, 0xE0, 0xFC, 0x05};
    tc_send(&c, hdr_only, sizeof hdr_only);
    CHECK(tc_read(&c, r, 1, 0.06) == 0, "no timeout before the payload");
    static const uint8_t wr_echo[] = {0x04, 0x0E, 0x08, 0x01, 0xE0, 0xFC, 0x01, 0xE0, 0xFC, 0x01, 0x00};
    n = tc_cmd(&c, LINKCHECK, sizeof LINKCHECK, r, sizeof wr_echo, REPLY_S);
    CHECK_BYTES(r, n, wr_echo, sizeof wr_echo);
    /* zero-length short frame: cmd reads as the 0xFF filler */
    static const uint8_t z[] = {0x01, 0xE0, 0xFC, 0x00};
    static const uint8_t zr[] = {0x04, 0x0E, 0x05, 0x01, 0xE0, 0xFC, 0xFF, 0x07};
    n = tc_cmd(&c, z, sizeof z, r, 8, REPLY_S);
    CHECK_BYTES(r, n, zr, sizeof zr);
    /* a long frame whose sub-command is not F4 is dispatched like a short command:
     * 01 E0 FC FF 00 01 00 xx is a LinkCheck answered with length = bytes received */
    static const uint8_t lsub[] = {0x01, 0xE0, 0xFC, 0xFF, 0x00, 0x01, 0x00, 0x77};
    static const uint8_t lsubr[] = {0x04, 0x0E, 0x08, 0x01, 0xE0, 0xFC, 0x01, 0x00};
    n = tc_cmd(&c, lsub, sizeof lsub, r, 8, REPLY_S);
    CHECK_BYTES(r, n, lsubr, sizeof lsubr);
    /* GUI's WriteReg with three trailing zeros: one reply, then business as usual */
    static const uint8_t wg[] = {0x01, 0xE0, 0xFC, 0x09, 0x01, 0x00, 0x28, 0x80, 0x00,
                                 0x68, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    static const uint8_t wgr[] = {0x04, 0x0E, 0x0C, 0x01, 0xE0, 0xFC, 0x01, 0x00,
                                  0x28, 0x80, 0x00, 0x68, 0x00, 0x00, 0x00};
    n = tc_cmd(&c, wg, sizeof wg, r, 15, REPLY_S);
    CHECK_BYTES(r, n, wgr, sizeof wgr);
    n = tc_cmd(&c, LINKCHECK, sizeof LINKCHECK, r, 8, REPLY_S);
    CHECK_BYTES(r, n, LINKCHECK_REPLY, 8);
    /* unknown size opcode on 0x0F: no answer ([IDK] invalid) */
    static const uint8_t eb[] = {0x01, 0xE0, 0xFC, 0xFF, 0xF4, 0x06, 0x00, 0x0F, 0x21, 0, 0, 1, 0};
    tc_send(&c, eb, sizeof eb);
    CHECK(tc_read(&c, r, 1, 0.1) == 0, "unknown erase size: silence");
    /* Reboot with another parameter: echo; with A5: silence and a new boot window */
    static const uint8_t rb0[] = {0x01, 0xE0, 0xFC, 0x02, 0x0E, 0x00};
    static const uint8_t rb0r[] = {0x04, 0x0E, 0x05, 0x01, 0xE0, 0xFC, 0x0E, 0x00};
    n = tc_cmd(&c, rb0, sizeof rb0, r, 8, REPLY_S);
    CHECK_BYTES(r, n, rb0r, sizeof rb0r);
    fl_sim_stats st0, st1;
    fl_sim_get_stats(t.sim, &st0);
    static const uint8_t rb[] = {0x01, 0xE0, 0xFC, 0x02, 0x0E, 0xA5};
    tc_send(&c, rb, sizeof rb);
    unsigned after = st0.resets + 1;
    CHECK(wait_stats(t.sim, resets_at_least, &after, 10), "reboot: a reset");
    fl_sim_get_stats(t.sim, &st1);
    CHECK_EQ_UINT(st1.resets, st0.resets + 1);
    linkcheck_in_window(t.sim, &c, reopen_rts); /* silence before the answer, then a window */
    tc_close(&c);
    tsim_stop(&t);
}

static void test_rom_write4k_length(void)
{
    tsim t;
    START(t, "bk7231n", "");
    tcli c;
    CONNECT(c, t);
    CHECK(tc_link(&c), "link");
    CHECK_EQ_UINT(write_sr16(&c, 0), 0);
    uint8_t *f = malloc(5000), r[32];
    /* N = 0x1006 (4097 data bytes): ST=4, answered mid-frame, nothing written */
    memset(f, 0, 5000);
    memcpy(f, (uint8_t[]){0x01, 0xE0, 0xFC, 0xFF, 0xF4, 0x06, 0x10, 0x07, 0x00, 0x10, 0x01, 0x00}, 12);
    size_t n = tc_cmd(&c, f, 12 + 4097, r, 15, REPLY_S);
    static const uint8_t le[] = {0x04, 0x0E, 0xFF, 0x01, 0xE0, 0xFC, 0xF4, 0x06,
                                 0x00, 0x07, 0x04, 0x00, 0x10, 0x01, 0x00};
    CHECK_BYTES(r, n, le, sizeof le);
    CHECK(tc_read(&c, r, 1, 0.1) == 0, "one answer only");
    uint8_t b[16];
    fl_error err;
    fl_sim_flash_read(t.sim, 0x11000, b, 16, &err);
    CHECK(b[0] == 0xFF, "nothing written");
    /* N = 0x105: ST=4 at the end of the frame */
    memcpy(f, (uint8_t[]){0x01, 0xE0, 0xFC, 0xFF, 0xF4, 0x05, 0x01, 0x07, 0x00, 0x10, 0x01, 0x00}, 12);
    n = tc_cmd(&c, f, 12 + 256, r, 15, REPLY_S);
    CHECK_BYTES(r, n, le, sizeof le);
    n = tc_cmd(&c, LINKCHECK, sizeof LINKCHECK, r, 8, REPLY_S);
    CHECK_BYTES(r, n, LINKCHECK_REPLY, 8);
    free(f);
    tc_close(&c);
    tsim_stop(&t);
}

static void test_sr_regions(void)
{
    tsim t;
    START(t, "bk7231n", "");
    fl_error err;
    uint8_t zero[16] = {0}, rd[16];
    uint32_t spots[] = {0x0000, 0x10000, 0x1F0000, 0x1FF000, 0x1FE000};
    tcli c;
    CONNECT(c, t);
    CHECK(tc_link(&c), "link");
    struct { uint16_t sr; bool erased[5]; } cases[] = {
        {0x0000, {1, 1, 1, 1, 1}}, /* nothing protected */
        {0x0024, {0, 1, 1, 1, 1}}, /* TB|BP0: bottom 64K */
        {0x0004, {1, 1, 0, 0, 0}}, /* BP0: top 64K */
        {0x0044, {1, 1, 1, 0, 1}}, /* SEC|BP0: top 4K */
        {0x4044, {0, 0, 0, 1, 0}}, /* SEC|BP0|CMP: all but the top 4K */
        {0x001C, {0, 0, 0, 0, 0}}, /* BP0-2: all */
        {0x401C, {1, 1, 1, 1, 1}}, /* all, complemented: none */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int k = 0; k < 5; k++)
            fl_sim_flash_load(t.sim, spots[k], zero, sizeof zero, &err);
        CHECK_EQ_UINT(write_sr16(&c, cases[i].sr), 0);
        for (int k = 0; k < 5; k++) {
            CHECK_EQ_UINT(erase_cmd(&c, 0x20, spots[k]), 0);
            fl_sim_flash_read(t.sim, spots[k], rd, 1, &err);
            CHECK((rd[0] == 0xFF) == cases[i].erased[k], "SR %04x at 0x%x: %02x", cases[i].sr,
                  spots[k], rd[0]);
        }
    }
    tc_close(&c);
    tsim_stop(&t);
}

/* Random bytes must not crash or wedge either parser: afterwards a reset and a
 * LinkCheck work. */
static void test_random_input(void)
{
    const char *chips[] = {"bk7231n", "bk7231u", "bk7236"};
    for (int k = 0; k < 3; k++) {
        tsim t;
        START(t, chips[k], "seed=9");
        tcli c;
        CONNECT(c, t);
        CHECK(tc_link(&c), "link %s", chips[k]);
        uint8_t *junk = malloc(65536);
        uint32_t x = 12345 + (uint32_t)k;
        for (int i = 0; i < 65536; i++) {
            x = x * 1664525u + 1013904223u;
            junk[i] = (uint8_t)(x >> 24);
            if ((x & 0x3F00) == 0) /* sprinkle frame headers */
                junk[i] = 0x01;
        }
        for (int i = 0; i < 65536; i += 4096) {
            tc_send(&c, junk + i, 4096);
            tc_flush_input(&c, 0.002);
        }
        free(junk);
        tc_flush_input(&c, 0.05);
        tc_set_baud(&c, 115200);
        CHECK(tc_link(&c), "link after noise %s", chips[k]);
        tc_close(&c);
        tsim_stop(&t);
    }
}

/* ------------------------------------------------------------------ flash loader */

static void test_lboot_commands(void)
{
    tsim t;
    START(t, "bk7231t", "");
    fl_error err;
    uint8_t *pat = malloc(4096), *rd = malloc(4096);
    load_loader_pattern(t.sim, pat, 4096, 3);
    tcli c;
    CONNECT(c, t);
    CHECK(tc_link(&c), "link");
    uint8_t r[64], f[64];
    size_t n;
    /* Tuya T: 0x11 boot version */
    static const uint8_t v[] = {0x01, 0xE0, 0xFC, 0x01, 0x11};
    n = tc_cmd(&c, v, sizeof v, r, 20, REPLY_S);
    CHECK(n == 20 && r[2] == 0x11 && r[6] == 0x11 && !memcmp(r + 7, "BK7231S_1.0.5", 13),
          "boot version %s", hexs(r, n));
    /* unknown short/long: silence; ReadReg is not a flash-loader command */
    static const uint8_t u1[] = {0x01, 0xE0, 0xFC, 0x01, 0x55};
    tc_send(&c, u1, sizeof u1);
    tc_send(&c, f, read_reg_frame(f, 0x800000));
    static const uint8_t u2[] = {0x01, 0xE0, 0xFC, 0xFF, 0xF4, 0x02, 0x00, 0x0C, 0x05};
    tc_send(&c, u2, sizeof u2);
    CHECK(tc_read(&c, r, 1, 0.1) == 0, "silence");
    /* no resync: 01 01 E0 FC 01 00 is lost */
    static const uint8_t rs[] = {0x01, 0x01, 0xE0, 0xFC, 0x01, 0x00};
    tc_send(&c, rs, sizeof rs);
    CHECK(tc_read(&c, r, 1, 0.1) == 0, "no resync");
    /* protected area (§9.3): read 0 -> ST=6, M=7 */
    static const uint8_t rd0r[] = {0x04, 0x0E, 0xFF, 0x01, 0xE0, 0xFC, 0xF4, 0x07,
                                   0x00, 0x09, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00};
    uint8_t a0[4] = {0};
    n = tc_cmd(&c, f, fr_long(f, 0x09, a0, 4), r, 16, REPLY_S);
    CHECK_BYTES(r, n, rd0r, sizeof rd0r);
    /* wraparound read at 2 MiB gets the bootloader */
    CHECK_EQ_UINT(read4k_cmd(&c, 0x200000, rd), 0);
    CHECK(!memcmp(rd, pat, 4096), "wrapped read of the loader area");
    /* erase below the limit: ST=6 */
    CHECK_EQ_UINT(erase_cmd(&c, 0x20, 0x10000), 6);
    /* the signed check: an address with the top bit set is refused too */
    CHECK_EQ_UINT(erase_cmd(&c, 0x20, 0x80011000), 6);
    /* 0x07 below 0x2000: ST=6, address bytes 00 20 */
    uint8_t *w = malloc(4200);
    memset(w, 0xA5, 4200);
    memcpy(w, (uint8_t[]){0x01, 0xE0, 0xFC, 0xFF, 0xF4, 0x05, 0x10, 0x07, 0x00, 0x10, 0x00, 0x00}, 12);
    static const uint8_t w7r[] = {0x04, 0x0E, 0xFF, 0x01, 0xE0, 0xFC, 0xF4, 0x06,
                                  0x00, 0x07, 0x06, 0x00, 0x20, 0x00, 0x00};
    n = tc_cmd(&c, w, 12 + 4096, r, 15, REPLY_S);
    CHECK_BYTES(r, n, w7r, sizeof w7r);
    /* 0x06 below the limit: ST=6, M=7 with the count */
    uint8_t p6[4 + 8] = {0x00, 0x00, 0x01, 0x00};
    static const uint8_t w6r[] = {0x04, 0x0E, 0xFF, 0x01, 0xE0, 0xFC, 0xF4, 0x07,
                                  0x00, 0x06, 0x06, 0x00, 0x00, 0x01, 0x00, 0x08};
    n = tc_cmd(&c, f, fr_long(f, 0x06, p6, 12), r, 16, REPLY_S);
    CHECK_BYTES(r, n, w6r, sizeof w6r);
    /* 0x07 in the protected range of the T loader but above 0x2000 is written ([LBOOT]
     * checks only < 0x2000) — after a LinkCheck + erase (unprotect) */
    n = tc_cmd(&c, LINKCHECK, sizeof LINKCHECK, r, 8, REPLY_S);
    CHECK_EQ_UINT(erase_cmd(&c, 0x20, 0x211000), 0); /* first erase unprotects */
    memcpy(w, (uint8_t[]){0x01, 0xE0, 0xFC, 0xFF, 0xF4, 0x05, 0x10, 0x07, 0x00, 0x30, 0x00, 0x00}, 12);
    uint8_t before[1];
    fl_sim_flash_read(t.sim, 0x3000, before, 1, &err);
    n = tc_cmd(&c, w, 12 + 4096, r, 15, REPLY_S);
    CHECK(n == 15 && r[10] == 0, "write at 0x3000: %s", hexs(r, n));
    fl_sim_flash_read(t.sim, 0x3000, rd, 16, &err);
    CHECK(rd[0] == (before[0] & 0xA5), "0x3000 written (program only clears bits)");
    fl_sim_stats st;
    fl_sim_get_stats(t.sim, &st);
    CHECK(st.loader_damaged, "writing the loader area marks the loader damaged");
    free(w);
    free(pat);
    free(rd);
    tc_close(&c);
    tsim_stop(&t);

    /* BK7231U: no version string */
    tsim u;
    START(u, "bk7231u", "");
    tcli d;
    CONNECT(d, u);
    CHECK(tc_link(&d), "link u");
    tc_send(&d, v, sizeof v);
    CHECK(tc_read(&d, r, 1, 0.1) == 0, "bk7231u: 0x11 silent");
    tc_close(&d);
    tsim_stop(&u);
}

static void test_lboot_protect_state_machine(void)
{
    tsim t;
    START(t, "bk7231u", "");
    fl_error err;
    uint8_t *pat = malloc(4096), *rd = malloc(4096), ff[16];
    memset(ff, 0xFF, sizeof ff);
    fill_pattern(pat, 4096, 11);
    fl_sim_flash_load(t.sim, 0x12000, pat, 4096, &err);
    fl_sim_flash_load(t.sim, 0x13000, pat, 4096, &err);
    tcli c;
    CONNECT(c, t);
    CHECK(tc_link(&c), "link");
    fl_sim_stats st;
    fl_sim_get_stats(t.sim, &st);
    CHECK_EQ_UINT(st.status_reg, 0x1C);
    /* writes before any erase stay protected */
    CHECK_EQ_UINT(write4k_cmd(&c, 0x211000, pat), 0);
    fl_sim_flash_read(t.sim, 0x11000, rd, 16, &err);
    CHECK(!memcmp(rd, ff, 16), "protected: write ignored");
    /* LinkCheck armed it: the first erase unprotects */
    CHECK_EQ_UINT(erase_cmd(&c, 0x20, 0x212000), 0);
    fl_sim_flash_read(t.sim, 0x12000, rd, 16, &err);
    CHECK(!memcmp(rd, ff, 16), "erased");
    fl_sim_get_stats(t.sim, &st);
    CHECK_EQ_UINT(st.status_reg & 0x407C, 0);
    CHECK_EQ_UINT(write4k_cmd(&c, 0x212000, pat), 0);
    CHECK_EQ_UINT(crc_cmd(&c, 0x212000, 0x213000), fl_beken_crc(pat, 4096));
    /* the CRC protected everything again */
    fl_sim_get_stats(t.sim, &st);
    CHECK_EQ_UINT(st.status_reg, 0x1C);
    CHECK_EQ_UINT(erase_cmd(&c, 0x20, 0x213000), 0);
    fl_sim_flash_read(t.sim, 0x13000, rd, 16, &err);
    CHECK(!memcmp(rd, pat, 16), "after CRC: erase ignored (ST=0)");
    /* LinkCheck + erase: unprotected again */
    uint8_t r[8];
    CHECK_EQ_UINT(tc_cmd(&c, LINKCHECK, sizeof LINKCHECK, r, 8, REPLY_S), 8);
    CHECK_EQ_UINT(erase_cmd(&c, 0xD8, 0x210000), 0);
    fl_sim_flash_read(t.sim, 0x13000, rd, 16, &err);
    CHECK(!memcmp(rd, ff, 16), "64K erase after LinkCheck");
    /* 0x52 (32K) is not a flash-loader size: ST=0, nothing erased */
    fl_sim_flash_load(t.sim, 0x18000, pat, 16, &err);
    CHECK_EQ_UINT(erase_cmd(&c, 0x52, 0x218000), 0);
    fl_sim_flash_read(t.sim, 0x18000, rd, 16, &err);
    CHECK(!memcmp(rd, pat, 16), "0x52 ignored");
    free(pat);
    free(rd);
    tc_close(&c);
    tsim_stop(&t);
}

static void test_lboot_partial_and_hang(void)
{
    tsim t;
    START(t, "bk7231u", "");
    tcli c;
    CONNECT(c, t);
    CHECK(tc_link(&c), "link");
    uint8_t r[16];
    /* a frame missing its last byte swallows the next command's first byte */
    static const uint8_t rb[] = {0x01, 0xE0, 0xFC, 0x02, 0x0E};
    tc_send(&c, rb, sizeof rb);
    CHECK(tc_read(&c, r, 1, 0.06) == 0, "no timeout on the flash loader");
    tc_send(&c, LINKCHECK, sizeof LINKCHECK);
    CHECK(tc_read(&c, r, 1, 0.1) == 0, "LinkCheck swallowed");
    size_t n = tc_cmd(&c, LINKCHECK, sizeof LINKCHECK, r, 8, REPLY_S);
    CHECK_BYTES(r, n, LINKCHECK_REPLY, 8);
    /* SetBaudRate delay: 2 * (delay + 1) ms */
    static const uint8_t sb[] = {0x01, 0xE0, 0xFC, 0x06, 0x0F, 0x00, 0xC2, 0x01, 0x00, 0x14};
    double t0 = fl_now();
    n = tc_cmd(&c, sb, sizeof sb, r, 12, REPLY_S);
    double dt = fl_now() - t0;
    CHECK(n == 12 && r[6] == 0x0F, "baud echo");
    CHECK(dt >= 0.040, "flash loader echo after 2*(20+1) ms: %.3f", dt); /* lower bound: load-proof */
    /* a CRC over more than 65535 blocks never returns: the loader hangs */
    uint8_t p[8], f[16];
    le32(p, 0x100000);
    le32(p + 4, 0x0FFFF0); /* end < start - 1: (end - start + 1) / 256 = 0xFFFFFF blocks */
    tc_send(&c, f, fr_short(f, 0x10, p, 8));
    CHECK(tc_read(&c, r, 1, 0.1) == 0, "hung");
    tc_send(&c, LINKCHECK, sizeof LINKCHECK);
    CHECK(tc_read(&c, r, 1, 0.1) == 0, "still hung");
    fl_sim_stats st;
    fl_sim_get_stats(t.sim, &st);
    CHECK_STR(st.state, "hung");
    CHECK(tc_link(&c), "an RTS pulse recovers");
    tc_close(&c);
    tsim_stop(&t);
}

/* An idle flash loader in download mode reboots through its watchdog; a ROM loader
 * stays. */
static void test_download_watchdog(void)
{
    tsim t, u;
    START(t, "bk7231u", "");
    START(u, "bk7231n", "");
    tcli c, d;
    CONNECT(c, t);
    CONNECT(d, u);
    CHECK(tc_link(&c), "link lb");
    CHECK(tc_link(&d), "link rom");
    fl_sim_stats st0, st;
    uint8_t r[8];
    /* the last host byte reaches the chip no earlier than t0, so the watchdog cannot
     * fire before t0 + 1.5 s however slow this machine is */
    double t0 = fl_now();
    size_t n = tc_cmd(&c, LINKCHECK, sizeof LINKCHECK, r, 8, REPLY_S);
    CHECK_BYTES(r, n, LINKCHECK_REPLY, 8);
    fl_sim_get_stats(t.sim, &st0);
    double waited = wait_state(t.sim, "boot", 10);
    double fired = waited < 0 ? -1 : fl_now() - t0;
    CHECK(fired >= 1.5, "watchdog reboot %.3f s after the last byte (>= 1.5 s)", fired);
    fl_sim_get_stats(t.sim, &st);
    CHECK_EQ_UINT(st.resets, st0.resets + 1);
    n = tc_cmd(&c, LINKCHECK, sizeof LINKCHECK, r, 8, REPLY_S);
    CHECK_BYTES(r, n, LINKCHECK_REPLY, 8);
    fl_sim_get_stats(u.sim, &st);
    CHECK_STR(st.state, "download");
    tc_close(&c);
    tc_close(&d);
    tsim_stop(&t);
    tsim_stop(&u);
}

static void test_lboot_loader_overwritten(void)
{
    tsim t;
    START(t, "bk7231t", "");
    uint8_t pat[4096];
    load_loader_pattern(t.sim, pat, sizeof pat, 5);
    tcli c;
    CONNECT(c, t);
    CHECK(tc_link(&c), "link");
    /* erase physical 0 through the wraparound address: passes the raw limit check */
    CHECK_EQ_UINT(erase_cmd(&c, 0x20, 0x200000), 0);
    static const uint8_t rb[] = {0x01, 0xE0, 0xFC, 0x02, 0x0E, 0xA5};
    tc_send(&c, rb, sizeof rb);
    CHECK(wait_state(t.sim, "dead", 10) >= 0, "dead after the reboot");
    CHECK(!tc_link(&c), "nothing answers any more");
    tc_close(&c);
    tsim_stop(&t);
}

/* After a reset (tc_link pulses CEN), does the unit answer again?  Loads
 * `len` bytes of `data` at `addr` first (NULL: none), behind the loader's back.
 * *answers stays false when the simulator cannot even start. */
static void answer_after_reset(const char *chip, uint32_t addr, const uint8_t *data,
                               uint32_t len, bool *answers)
{
    *answers = false;
    tsim t;
    START(t, chip, "");
    tcli c;
    CONNECT(c, t);
    bool linked = tc_link(&c);
    CHECK(linked, "%s links with the flash the simulator started with", chip);
    fl_error err;
    if (data)
        fl_sim_flash_load(t.sim, addr, data, len, &err);
    *answers = linked && tc_link(&c);
    tc_close(&c);
    tsim_stop(&t);
}

static bool answers_after_reset(const char *chip, uint32_t addr, const uint8_t *data,
                                uint32_t len)
{
    bool answers;
    answer_after_reset(chip, addr, data, len, &answers);
    return answers;
}

/* A BK7231T/U or BK7252 whose loader area is erased or holds a block with a
 * wrong CRC never reaches its UART loader (only SPI mode can bring it back);
 * one with its loader intact does. */
static void test_lboot_needs_an_intact_loader(void)
{
    uint8_t *blank = malloc(0x11000);
    memset(blank, 0xFF, 0x11000);
    CHECK(answers_after_reset("bk7231t", 0, NULL, 0), "intact stand-in loader: answers");
    CHECK(!answers_after_reset("bk7231t", 0, blank, 0x11000), "erased loader: silent");
    CHECK(!answers_after_reset("bk7252", 0, blank, 0x1000), "reset vector erased: silent");
    /* one flipped byte in block 100 of the stand-in loader */
    uint8_t flip = 0x5A;
    CHECK(!answers_after_reset("bk7231u", 100 * 34 + 7, &flip, 1), "bad CRC block: silent");
    /* a ROM-loader chip does not care what its flash holds */
    CHECK(answers_after_reset("bk7231n", 0, blank, 0x11000), "ROM loader: answers");
    free(blank);
}

/* ------------------------------------------------------------------ boot window, app */

static void test_boot_window_and_app(void)
{
    tsim t;
    double t0 = fl_now();
    START(t, "bk7231n", "quiet=0");
    tcli c;
    CONNECT(c, t);
    /* powered up at creation: after the ~0.25 s window the application runs and logs */
    double waited = wait_state(t.sim, "app", 10);
    double window = waited < 0 ? -1 : fl_now() - t0;
    CHECK(window >= 0.25, "the application starts after the 0.25 s window (%.3f s)", window);
    fl_sim_stats st;
    uint8_t buf[4096], r[8];
    CHECK(tc_wait_for(&c, "OpenBK7231N", 11, 10), "application banner");
    size_t n = tc_read_quiet(&c, buf, sizeof buf - 1, 0.05);
    buf[n] = 0;
    CHECK(n > 100 && memmem(buf, n, "BK7231n_1.0.1", 13) && memmem(buf, n, "OpenBK7231N", 11),
          "boot text (%zu bytes)", n);
    /* the app ignores LinkCheck */
    tc_send(&c, LINKCHECK, sizeof LINKCHECK);
    n = tc_read_quiet(&c, buf, sizeof buf, 0.05);
    CHECK(!memmem(buf, n, LINKCHECK_REPLY, 8), "no LinkCheck reply from the app");
    /* DTR does nothing: wait for the simulator to acknowledge both line changes (RFC 2217
     * answers each SET-CONTROL), then give the model a moment in which a reset would show
     * (a check for something that must not happen has no event to wait for) */
    int acks = c.ncp + 2;
    tc_dtr(&c, true);
    tc_dtr(&c, false);
    for (double end = fl_now() + REPLY_S; c.ncp < acks && !c.closed && fl_now() < end;)
        tc_pump(&c, 0.05);
    CHECK(c.ncp >= acks, "both DTR changes acknowledged");
    fl_sleep(0.02);
    fl_sim_get_stats(t.sim, &st);
    CHECK_STR(st.state, "app");
    /* noise then "reboot\n" (GUI style) reboots into the window */
    tc_send(&c, "\x01\xE0\xFCgarbage\r", 11);
    tc_send(&c, "reboot\n", 7);
    /* LinkChecks until one is answered (the window opens 50 ms after the text); replies
     * accumulate in the buffer, so a late one is still counted */
    bool linked = false;
    double deadline = fl_now() + 10;
    while (!linked && fl_now() < deadline) {
        tc_send(&c, LINKCHECK, sizeof LINKCHECK);
        linked = tc_wait_linkchecks(&c, 1, fl_now() + 0.01) > 0;
    }
    CHECK(linked, "linked after reboot text");
    fl_sim_get_stats(t.sim, &st);
    CHECK_STR(st.state, "download");
    /* RTS asserted holds the chip off; nothing answers.  Once the model is off, every
     * reply to the LinkChecks above has been written to the socket: drain them */
    tc_rts(&c, true);
    CHECK(wait_state(t.sim, "off", 10) >= 0, "RTS asserted: off");
    tc_flush_input(&c, 0.02);
    tc_send(&c, LINKCHECK, sizeof LINKCHECK);
    CHECK(tc_read(&c, r, 1, 0.05) == 0, "off: silence");
    tc_close(&c);
    tsim_stop(&t);

    /* flash loader: the window stays open while bytes arrive */
    tsim u;
    START(u, "bk7231u", "");
    tcli d;
    CONNECT(d, u);
    /* 0.5 s of noise, longer than the 0.3 s window.  If this machine stalls the test for
     * close to the window between two bytes, the run proves nothing: repeat it */
    bool conclusive = false;
    for (int attempt = 0; attempt < 5 && !conclusive; attempt++) {
        tc_rts(&d, true);
        tc_rts(&d, false);
        double last = fl_now(), start = last, max_gap = 0;
        while (fl_now() - start < 0.5) {
            tc_send(&d, "\x55", 1);
            double now = fl_now();
            max_gap = now - last > max_gap ? now - last : max_gap;
            last = now;
            fl_sleep(0.02);
        }
        fl_sim_get_stats(u.sim, &st);
        conclusive = max_gap < 0.2 && fl_now() - last < 0.2; /* the state read counts too */
    }
    CHECK(conclusive, "noise sent without a stall");
    CHECK_STR(st.state, "boot");
    uint8_t rr[8];
    n = tc_cmd(&d, LINKCHECK, sizeof LINKCHECK, rr, 8, REPLY_S);
    CHECK_BYTES(rr, n, LINKCHECK_REPLY, 8);
    tc_close(&d);
    tsim_stop(&u);
}

static void test_baud_switch(void)
{
    tsim t;
    START(t, "bk7231n", "");
    tcli c;
    CONNECT(c, t);
    CHECK(tc_link(&c), "link");
    /* §4.2.5: 921600, delay 20; the host switches before the delay ends; echo at the new
     * rate.  The host's rate change travels in stream order behind the frame (it takes
     * effect when the frame has left the host's UART), so switching right after sending
     * is "within the delay" on any machine; a sleep here would race the 20 ms. */
    static const uint8_t sb[] = {0x01, 0xE0, 0xFC, 0x06, 0x0F, 0x00, 0x10, 0x0E, 0x00, 0x14};
    static const uint8_t sbr[] = {0x04, 0x0E, 0x09, 0x01, 0xE0, 0xFC, 0x0F, 0x00, 0x10, 0x0E, 0x00, 0x14};
    uint8_t r[64];
    tc_send(&c, sb, sizeof sb);
    tc_set_baud(&c, 921600);
    size_t n = tc_read(&c, r, 12, REPLY_S);
    CHECK_BYTES(r, n, sbr, sizeof sbr);
    n = tc_cmd(&c, LINKCHECK, sizeof LINKCHECK, r, 8, REPLY_S);
    CHECK_BYTES(r, n, LINKCHECK_REPLY, 8);
    fl_sim_stats st;
    fl_sim_get_stats(t.sim, &st);
    CHECK_EQ_UINT(st.baud, 921600);
    /* host forgets to switch: the echo at 460800 arrives garbled at 921600 */
    static const uint8_t sb2[] = {0x01, 0xE0, 0xFC, 0x06, 0x0F, 0x00, 0x08, 0x07, 0x00, 0x14};
    static const uint8_t sb2r[] = {0x04, 0x0E, 0x09, 0x01, 0xE0, 0xFC, 0x0F, 0x00, 0x08, 0x07, 0x00, 0x14};
    tc_send(&c, sb2, sizeof sb2);
    n = tc_read_quiet(&c, r, sizeof r, 0.1);
    CHECK(!(n == 12 && !memcmp(r, sb2r, 12)), "mismatched echo must be garbled");
    /* ... and the host's LinkChecks at the wrong rate get nothing sensible */
    bool any = false;
    for (int i = 0; i < 10; i++) {
        tc_send(&c, LINKCHECK, sizeof LINKCHECK);
        n = tc_read_quiet(&c, r, sizeof r, 0.02);
        any |= memmem(r, n, LINKCHECK_REPLY, 8) != NULL;
    }
    CHECK(!any, "no LinkCheck reply across a baud mismatch");
    uint64_t ten = 10;
    CHECK(wait_stats(t.sim, garbled_more_than, &ten, 10), "garbling counted");
    /* switching the host to the chip's rate works again (garbled bytes may still be in
     * flight, so look for the reply rather than expecting it first) */
    tc_set_baud(&c, 460800);
    tc_flush_input(&c, 0.05);
    bool back = false;
    for (int i = 0; i < 5 && !back; i++) {
        tc_send(&c, LINKCHECK, sizeof LINKCHECK);
        back = tc_wait_linkchecks(&c, 1, fl_now() + 1) > 0;
    }
    CHECK(back, "LinkCheck answered at the matching rate");
    /* an RTS reset brings the chip back to 115200 */
    tc_set_baud(&c, 115200);
    CHECK(tc_link(&c), "link at 115200 after reset");
    tc_close(&c);
    tsim_stop(&t);
}

/* A ROM loader keeps the rate it was switched to until it is reset: the host
 * leaving (a command that ends without rebooting it) changes nothing, and the
 * next host finds it only at that rate (what `--after stay` relies on). */
static void test_loader_keeps_baud(void)
{
    tsim t;
    START(t, "bk7231n", "quiet=1");
    tcli c;
    CONNECT(c, t);
    CHECK(tc_link(&c), "link");
    static const uint8_t sb[] = {0x01, 0xE0, 0xFC, 0x06, 0x0F, 0x00, 0x10, 0x0E, 0x00, 0x14};
    uint8_t r[64];
    tc_send(&c, sb, sizeof sb);
    tc_set_baud(&c, 921600);
    size_t n = tc_read(&c, r, 12, REPLY_S);
    CHECK(n == 12, "switched to 921600 (%s)", hexs(r, n));
    tc_close(&c);
    CONNECT(c, t); /* a new host starts at 115200, without touching RTS */
    bool any = false;
    for (int i = 0; i < 5; i++) {
        tc_send(&c, LINKCHECK, sizeof LINKCHECK);
        n = tc_read_quiet(&c, r, sizeof r, 0.02);
        any |= memmem(r, n, LINKCHECK_REPLY, 8) != NULL;
    }
    CHECK(!any, "no answer at 115200: the loader is still at 921600");
    fl_sim_stats st;
    fl_sim_get_stats(t.sim, &st);
    CHECK_EQ_UINT(st.baud, 921600);
    CHECK_STR(st.state, "download");
    tc_set_baud(&c, 921600);
    tc_flush_input(&c, 0.05);
    bool back = false;
    for (int i = 0; i < 5 && !back; i++) {
        tc_send(&c, LINKCHECK, sizeof LINKCHECK);
        back = tc_wait_linkchecks(&c, 1, fl_now() + 1) > 0;
    }
    CHECK(back, "the next host finds it at 921600");
    tc_close(&c);
    tsim_stop(&t);
}

/* maxbaud=N: the chip switches, but the line garbles everything above N. */
static void test_max_baud(void)
{
    tsim t;
    START(t, "bk7231n", "quiet=1&maxbaud=460800");
    tcli c;
    CONNECT(c, t);
    CHECK(tc_link(&c), "link");
    static const uint8_t sb[] = {0x01, 0xE0, 0xFC, 0x06, 0x0F, 0x00, 0x10, 0x0E, 0x00, 0x14};
    static const uint8_t sbr[] = {0x04, 0x0E, 0x09, 0x01, 0xE0, 0xFC, 0x0F, 0x00, 0x10, 0x0E, 0x00, 0x14};
    uint8_t r[64];
    tc_send(&c, sb, sizeof sb);
    tc_set_baud(&c, 921600);
    size_t n = tc_read_quiet(&c, r, sizeof r, 0.1);
    CHECK(!(n == 12 && !memcmp(r, sbr, 12)), "the echo above maxbaud is garbled");
    bool any = false;
    for (int i = 0; i < 5; i++) {
        tc_send(&c, LINKCHECK, sizeof LINKCHECK);
        n = tc_read_quiet(&c, r, sizeof r, 0.02);
        any |= memmem(r, n, LINKCHECK_REPLY, 8) != NULL;
    }
    CHECK(!any, "no LinkCheck answered above maxbaud although both sides agree");
    fl_sim_stats st;
    fl_sim_get_stats(t.sim, &st);
    CHECK_EQ_UINT(st.baud, 921600);
    tc_close(&c);
    tsim_stop(&t);
    fl_sim_options o;
    fl_sim_options_init(&o);
    char q[] = "maxbaud=1000000";
    fl_error err = {0};
    CHECK(fl_sim_options_from_query(&o, q, &err) == FL_OK && o.max_baud == 1000000,
          "maxbaud parsed: %s", err.msg);
}

/* ------------------------------------------------------------------ wire time */

static double read_blocks_time(tcli *c, int blocks)
{
    uint8_t f[16], p[4], *r = malloc(4111);
    double t0 = fl_now();
    for (int i = 0; i < blocks; i++) {
        le32(p, 0x11000 + 4096u * (unsigned)i);
        size_t n = tc_cmd(c, f, fr_long(f, 0x09, p, 4), r, 4111, REPLY_S);
        if (n != 4111) {
            free(r);
            return -1;
        }
    }
    double dt = fl_now() - t0;
    free(r);
    return dt;
}

/* Wire time is real, so it is checked with bounds that load cannot break: a transfer
 * can never finish before its bytes x 10 / baud (load only delays it), and the upper
 * bounds are physical, not tight: 8 blocks at 921600 must beat the same bytes at
 * 115200, which a model stuck at the old rate cannot.  Erase time is read from the
 * simulator's own modelled counter.  Tight ratios live in the benchmark
 * (FLASHLINE_SIM_BENCH=1, run by `make bench`). */
static void test_wire_time(void)
{
    tsim t;
    START(t, "bk7231n", "timescale=1");
    tcli c;
    CONNECT(c, t);
    CHECK(tc_link(&c), "link");
    /* LinkCheck round trip at 115200: 5 + 8 bytes of wire, of which the model counts 12
     * (the first host byte is stamped as arriving when the simulator reads it) */
    uint8_t r[16];
    double t0 = fl_now();
    size_t n = tc_cmd(&c, LINKCHECK, sizeof LINKCHECK, r, 8, REPLY_S);
    double dt = fl_now() - t0;
    CHECK(n == 8 && dt >= 12 * 10 / 115200.0, "LinkCheck round trip %.4f", dt);
    /* one 4 KiB read at 115200: (12 + 4111) * 10 / 115200 = 357.9 ms */
    double ideal = (12 + 4111) * 10 / 115200.0;
    dt = read_blocks_time(&c, 1);
    CHECK(dt >= ideal * 0.995, "4K read at 115200: %.4f s, ideal %.4f", dt, ideal);
    double one_block_115200 = dt;
    static const uint8_t sb[] = {0x01, 0xE0, 0xFC, 0x06, 0x0F, 0x00, 0x10, 0x0E, 0x00, 0x14};
    tc_send(&c, sb, sizeof sb);
    tc_set_baud(&c, 921600); /* in stream order behind the frame: see test_baud_switch */
    n = tc_read(&c, r, 12, REPLY_S);
    CHECK(n == 12 && r[6] == 0x0F, "baud echo");
    /* 8 blocks at 921600: each (12 + 4111) * 10 / 921600 = 44.7 ms */
    ideal = 8 * (12 + 4111) * 10 / 921600.0;
    dt = read_blocks_time(&c, 8);
    double at_115200 = 8 * (12 + 4111) * 10 / 115200.0;
    CHECK(dt >= ideal * 0.995 && dt < at_115200, "8 x 4K read at 921600: %.4f s, ideal %.4f, at 115200 %.4f",
          dt, ideal, at_115200);
    fprintf(stderr, "wire time (informative): 4K at 115200 ideal/actual = %.3f, 8 x 4K at 921600 = %.3f\n",
            (12 + 4111) * 10 / 115200.0 / one_block_115200, ideal / dt);
    /* erase time is modelled: a 4K erase of an unprotected sector busies the chip 45 ms */
    CHECK_EQ_UINT(write_sr16(&c, 0), 0);
    fl_sim_stats st0, st1;
    fl_sim_get_stats(t.sim, &st0);
    t0 = fl_now();
    CHECK_EQ_UINT(erase_cmd(&c, 0x20, 0x11000), 0);
    dt = fl_now() - t0;
    fl_sim_get_stats(t.sim, &st1);
    double modelled = st1.erase_busy_s - st0.erase_busy_s;
    CHECK(modelled > 0.0449 && modelled < 0.0451, "4K erase modelled %.4f s", modelled);
    CHECK(dt >= 0.045, "4K erase took %.4f s of wall time (the reply waits for the busy time)", dt);
    tc_close(&c);
    tsim_stop(&t);
}

/* ------------------------------------------------------------------ faults */

static void test_faults(void)
{
    uint8_t r[64];
    size_t n;
    {
        tsim t;
        START(t, "bk7231n", "drop=1");
        tcli c;
        CONNECT(c, t);
        CHECK(!tc_link(&c), "drop=1: nothing gets through");
        fl_sim_stats st;
        fl_sim_get_stats(t.sim, &st);
        CHECK(st.bytes_dropped > 0, "drops counted");
        tc_close(&c);
        tsim_stop(&t);
    }
    {
        tsim t;
        START(t, "bk7231n", "corrupt=0.05&seed=3");
        tcli c;
        CONNECT(c, t);
        tc_rts(&c, true);
        tc_rts(&c, false);
        int ok = 0, bad = 0;
        /* a reply has 0.3 s to come (ten times what the ROM's partial-frame timeout
         * needs); load can only turn an ok into a bad, and ok has a wide margin */
        for (int i = 0; i < 60; i++) {
            n = tc_cmd(&c, LINKCHECK, sizeof LINKCHECK, r, 8, 0.3);
            if (n == 8 && !memcmp(r, LINKCHECK_REPLY, 8))
                ok++;
            else
                bad++;
            tc_flush_input(&c, 0.025);
        }
        CHECK(ok > 20 && bad > 0, "corrupt=0.05: %d ok, %d bad", ok, bad);
        tc_close(&c);
        tsim_stop(&t);
    }
    {
        tsim t;
        START(t, "bk7231n", "stall=150&stallrate=1");
        tcli c;
        CONNECT(c, t);
        tc_rts(&c, true);
        tc_rts(&c, false);
        double t0 = fl_now();
        n = tc_cmd(&c, LINKCHECK, sizeof LINKCHECK, r, 8, REPLY_S);
        double dt = fl_now() - t0;
        CHECK_BYTES(r, n, LINKCHECK_REPLY, 8);
        CHECK(dt >= 0.150, "stalled %.3f s", dt); /* lower bound: load cannot shorten a stall */
        tc_close(&c);
        tsim_stop(&t);
    }
    {
        /* disconnect after 12 host bytes: the link sends 2 RTS subnegotiations (no data),
         * then LinkChecks; the third one is cut off */
        tsim t;
        START(t, "bk7231n", "disconnect=12");
        tcli c;
        CONNECT(c, t);
        tc_rts(&c, true);
        tc_rts(&c, false);
        n = tc_cmd(&c, LINKCHECK, sizeof LINKCHECK, r, 8, REPLY_S);
        CHECK_BYTES(r, n, LINKCHECK_REPLY, 8);
        n = tc_cmd(&c, LINKCHECK, sizeof LINKCHECK, r, 8, REPLY_S);
        CHECK_BYTES(r, n, LINKCHECK_REPLY, 8);
        tc_send(&c, LINKCHECK, sizeof LINKCHECK);
        for (double end = fl_now() + 10; !c.closed && fl_now() < end;)
            tc_pump(&c, 0.05);
        CHECK(c.closed, "connection closed");
        tc_close(&c);
        /* the host reconnects: the chip is still in download mode */
        tcli d;
        CONNECT(d, t);
        n = tc_cmd(&d, LINKCHECK, sizeof LINKCHECK, r, 8, REPLY_S);
        CHECK_BYTES(r, n, LINKCHECK_REPLY, 8);
        fl_sim_stats st;
        fl_sim_get_stats(t.sim, &st);
        CHECK_EQ_UINT(st.bytes_from_host, 12 + 5);
        tc_close(&d);
        tsim_stop(&t);
    }
}

static void test_brownout(void)
{
    /* bytes before the write: LinkCheck 5 + WriteSR 11 = 16; the 4K write frame is
     * 12 + 4096; arm after 12 + 5 + 256*7 + 100 bytes of it: page 7 is in progress */
    char q[64];
    snprintf(q, sizeof q, "brownout=%d", 16 + 12 + 256 * 7 + 100);
    tsim t;
    START(t, "bk7231n", q);
    tcli c;
    CONNECT(c, t);
    tc_rts(&c, true);
    tc_rts(&c, false);
    uint8_t r[16];
    size_t n = tc_cmd(&c, LINKCHECK, sizeof LINKCHECK, r, 8, REPLY_S);
    CHECK_BYTES(r, n, LINKCHECK_REPLY, 8);
    CHECK_EQ_UINT(write_sr16(&c, 0), 0);
    uint8_t *pat = malloc(4096), *rd = malloc(4096);
    fill_pattern(pat, 4096, 21);
    for (int i = 0; i < 4096; i++)
        pat[i] &= 0x7F; /* never 0xFF, so programmed bytes are visible */
    {
        uint8_t *w = malloc(12 + 4096);
        memcpy(w, (uint8_t[]){0x01, 0xE0, 0xFC, 0xFF, 0xF4, 0x05, 0x10, 0x07, 0x00, 0x10, 0x01, 0x00}, 12);
        memcpy(w + 12, pat, 4096);
        fl_sim_stats before;
        fl_sim_get_stats(t.sim, &before);
        tc_send(&c, w, 12 + 4096);
        free(w);
        unsigned one = 1, reset = before.resets + 1;
        CHECK(wait_stats(t.sim, brownouts_at_least, &one, 10), "the brown-out happened");
        /* the chip restarts 10 ms after the supply dip: a LinkCheck before that is lost */
        CHECK(wait_stats(t.sim, resets_at_least, &reset, 10), "the chip restarted");
        linkcheck_in_window(t.sim, &c, reopen_rts); /* first: the window does not wait */
    }
    fl_error err;
    fl_sim_flash_read(t.sim, 0x11000, rd, 4096, &err);
    CHECK(!memcmp(rd, pat, 7 * 256), "pages 0-6 programmed");
    CHECK(!memcmp(rd + 7 * 256, pat + 7 * 256, 128), "page 7 half programmed");
    CHECK(rd[7 * 256 + 128] == 0xFF && rd[8 * 256] == 0xFF && rd[4095] == 0xFF, "rest blank");
    fl_sim_stats st;
    fl_sim_get_stats(t.sim, &st);
    CHECK_EQ_UINT(st.brownouts, 1);
    /* one-shot: an erase now completes */
    CHECK_EQ_UINT(erase_cmd(&c, 0x20, 0x11000), 0);
    fl_sim_flash_read(t.sim, 0x11000, rd, 16, &err);
    CHECK(rd[0] == 0xFF, "erase after the brown-out");
    free(pat);
    free(rd);
    tc_close(&c);
    tsim_stop(&t);

    /* erase half done */
    tsim u;
    START(u, "bk7231n", "brownout=1");
    uint8_t blk[8192];
    memset(blk, 0x00, sizeof blk);
    fl_sim_flash_load(u.sim, 0x1F0000, blk, sizeof blk, &err);
    tcli d;
    CONNECT(d, u);
    tc_rts(&d, true);
    tc_rts(&d, false);
    n = tc_cmd(&d, LINKCHECK, sizeof LINKCHECK, r, 8, REPLY_S);
    CHECK_BYTES(r, n, LINKCHECK_REPLY, 8);
    {
        uint8_t ep[5] = {0x20, 0x00, 0x00, 0x1F, 0x00}, f[16];
        fl_sim_stats before;
        fl_sim_get_stats(u.sim, &before);
        tc_send(&d, f, fr_long(f, 0x0F, ep, 5));
        unsigned one = 1, reset = before.resets + 1;
        CHECK(wait_stats(u.sim, brownouts_at_least, &one, 10), "the brown-out happened");
        CHECK(wait_stats(u.sim, resets_at_least, &reset, 10), "the chip restarted");
        linkcheck_in_window(u.sim, &d, reopen_rts);
    }
    fl_sim_flash_read(u.sim, 0x1F0000, blk, 4096, &err);
    CHECK(blk[0] == 0xFF && blk[2047] == 0xFF && blk[2048] == 0x00, "half erased");
    tc_close(&d);
    tsim_stop(&u);
}

/* ------------------------------------------------------------------ control, manual reset */

static bool ctl_cmd(int fd, const char *cmd, char *ans, size_t cap)
{
    char line[128];
    snprintf(line, sizeof line, "%s\n", cmd);
    if (send(fd, line, strlen(line), MSG_NOSIGNAL) < 0)
        return false;
    size_t o = 0;
    double deadline = fl_now() + REPLY_S;
    while (o < cap - 1 && fl_now() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t r = recv(fd, ans + o, 1, 0);
        if (r <= 0)
            return false;
        if (ans[o] == '\n') {
            ans[o] = 0;
            return true;
        }
        o++;
    }
    return false;
}

static void test_manual_reset_and_control(void)
{
    tsim t;
    START(t, "bk7231n", "manual=1");
    fl_sim_stats st;
    fl_sim_get_stats(t.sim, &st);
    CHECK_STR(st.state, "app"); /* no window at start: the unit has been running */
    tcli c;
    CONNECT(c, t);
    CHECK(!tc_link(&c), "manual: RTS does not reset");
    tcli x;
    CHECK(tc_connect_url(&x, fl_sim_control_url(t.sim)), "control connect");
    char ans[300];
    CHECK(ctl_cmd(x.fd, "state", ans, sizeof ans) && !strncmp(ans, "app ", 4), "state: %s", ans);
    CHECK(ctl_cmd(x.fd, "bogus", ans, sizeof ans) && !strncmp(ans, "error:", 6), "%s", ans);
    CHECK(ctl_cmd(x.fd, "power-cycle", ans, sizeof ans) && !strncmp(ans, "ok boot", 7), "%s", ans);
    uint8_t r[8];
    linkcheck_in_window(t.sim, &c, reopen_power_cycle);
    CHECK(ctl_cmd(x.fd, "cen-low", ans, sizeof ans) && !strncmp(ans, "ok off", 6), "%s", ans);
    tc_send(&c, LINKCHECK, sizeof LINKCHECK);
    CHECK(tc_read(&c, r, 1, 0.05) == 0, "CEN low: silence");
    CHECK(ctl_cmd(x.fd, "cen-high", ans, sizeof ans) && !strncmp(ans, "ok boot", 7), "%s", ans);
    CHECK(ctl_cmd(x.fd, "power-off", ans, sizeof ans) && !strncmp(ans, "ok off", 6), "%s", ans);
    CHECK(ctl_cmd(x.fd, "power-on", ans, sizeof ans) && !strncmp(ans, "ok boot", 7), "%s", ans);
    linkcheck_in_window(t.sim, &c, reopen_power_cycle);
    /* app 'reboot' does nothing in manual mode */
    fl_sim_control(t.sim, "power-cycle", ans, sizeof ans);
    CHECK(wait_state(t.sim, "app", 10) >= 0, "the window closes into the application");
    fl_sim_get_stats(t.sim, &st);
    uint64_t want = st.bytes_from_host + 8;
    tc_send(&c, "reboot\r\n", 8);
    CHECK(wait_stats(t.sim, host_bytes_at_least, &want, 10), "the text reached the simulator");
    /* a reboot would start 50 ms after the text: give it twice that to (not) happen */
    fl_sleep(0.1);
    fl_sim_get_stats(t.sim, &st);
    CHECK_STR(st.state, "app");
    fl_sim_power_cycle(t.sim);
    fl_sim_get_stats(t.sim, &st);
    CHECK_STR(st.state, "boot");
    tc_close(&x);
    tc_close(&c);
    tsim_stop(&t);
}

/* ------------------------------------------------------------------ flash file */

static void test_flash_file(void)
{
    char path[] = "/tmp/flashline-simtest-XXXXXX";
    int tfd = mkstemp(path);
    close(tfd);
    unlink(path);
    char q[128];
    snprintf(q, sizeof q, "flash=%s&size=2M", path);
    uint8_t *pat = malloc(4096), *rd = malloc(4096);
    fill_pattern(pat, 4096, 42);
    {
        tsim t;
        START(t, "bk7231n", q);
        struct stat sb;
        CHECK(stat(path, &sb) == 0 && sb.st_size == 2 << 20, "created 2M");
        tcli c;
        CONNECT(c, t);
        CHECK(tc_link(&c), "link");
        CHECK_EQ_UINT(write_sr16(&c, 0), 0);
        CHECK_EQ_UINT(erase_cmd(&c, 0x20, 0x20000), 0);
        CHECK_EQ_UINT(write4k_cmd(&c, 0x20000, pat), 0);
        /* the file is current while the simulator runs */
        int fd = open(path, O_RDONLY);
        CHECK(pread(fd, rd, 4096, 0x20000) == 4096 && !memcmp(rd, pat, 4096), "file content");
        CHECK(pread(fd, rd, 16, 0) == 16 && rd[0] == 0xFF, "rest blank");
        close(fd);
        tc_close(&c);
        tsim_stop(&t);
    }
    {
        tsim t;
        START(t, "bk7231n", q);
        tcli c;
        CONNECT(c, t);
        CHECK(tc_link(&c), "link again");
        CHECK_EQ_UINT(read4k_cmd(&c, 0x20000, rd), 0);
        CHECK(!memcmp(rd, pat, 4096), "persisted");
        tc_close(&c);
        tsim_stop(&t);
    }
    /* size from the file; bad sizes are clear errors */
    fl_sim_options o;
    fl_sim *sim = NULL;
    fl_error err;
    fl_sim_options_init(&o);
    o.chip = "bk7231n";
    o.flash_path = path;
    o.timescale = 0;
    o.flash_size = 4u << 20;
    CHECK_EQ_UINT(fl_sim_create(&o, &sim, &err), FL_ERR_FORMAT);
    CHECK(strstr(err.msg, "smaller") != NULL, "%s", err.msg);
    o.flash_size = 3u << 20;
    CHECK_EQ_UINT(fl_sim_create(&o, &sim, &err), FL_ERR_USAGE);
    CHECK(truncate(path, 3000) == 0, "truncate");
    o.flash_size = 0;
    CHECK_EQ_UINT(fl_sim_create(&o, &sim, &err), FL_ERR_FORMAT);
    CHECK(strstr(err.msg, "power of two") != NULL, "%s", err.msg);
    unlink(path);
    o.flash_path = "/nonexistent-dir/x.bin";
    CHECK_EQ_UINT(fl_sim_create(&o, &sim, &err), FL_ERR_FILE);
    /* in-memory with --size and a JEDEC capacity byte that follows it */
    o.flash_path = NULL;
    o.flash_size = 4u << 20;
    CHECK_EQ_UINT(fl_sim_create(&o, &sim, &err), FL_OK);
    CHECK_EQ_UINT(fl_sim_flash_size(sim), 4u << 20);
    fl_sim_start(sim, &err);
    tcli c;
    if (tc_connect_url(&c, fl_sim_url(sim))) {
        CHECK(tc_link(&c), "link 4M");
        static const uint8_t mid[] = {0x01, 0xE0, 0xFC, 0xFF, 0xF4, 0x05, 0x00, 0x0E, 0x9F, 0, 0, 0};
        uint8_t r[15];
        size_t n = tc_cmd(&c, mid, sizeof mid, r, 15, REPLY_S);
        CHECK(n == 15 && r[12] == 0xC8 && r[13] == 0x40 && r[14] == 0x16, "JEDEC %s", hexs(r, n));
        tc_close(&c);
    }
    fl_sim_destroy(sim);
    /* port in use */
    fl_sim_options_init(&o);
    o.chip = "bk7231n";
    CHECK_EQ_UINT(fl_sim_create(&o, &sim, &err), FL_OK);
    const char *u = strrchr(fl_sim_url(sim), ':');
    fl_sim *sim2 = NULL;
    o.listen_port = atoi(u + 1);
    o.flash_path = path; /* missing: would be created, but the start fails */
    CHECK_EQ_UINT(fl_sim_create(&o, &sim2, &err), FL_ERR_LINK);
    CHECK(strstr(err.msg, "in use") != NULL, "%s", err.msg);
    CHECK(access(path, F_OK) != 0, "no blank file left behind a failed start");
    fl_sim_destroy(sim);
    free(pat);
    free(rd);
}

/* ------------------------------------------------------------------ several instances, pty */

static void test_multi_instance(void)
{
    const char *chips[] = {"bk7231n", "bk7238", "bk7231t"};
    tsim t[3];
    tcli c[3];
    fl_error err;
    for (int i = 0; i < 3; i++) {
        CHECK(tsim_start(&t[i], chips[i], "", &err), "start %d", i);
        CHECK(tc_connect_url(&c[i], fl_sim_url(t[i].sim)), "connect %d", i);
    }
    for (int i = 0; i < 3; i++)
        CHECK(tc_link(&c[i]), "link %s", chips[i]);
    uint32_t v;
    CHECK(read_reg(&c[0], 0x800000, &v) && v == 0x7231C, "n");
    CHECK(read_reg(&c[1], 0x800000, &v) && v == 0x7238, "7238");
    uint8_t f[16], r[8];
    tc_send(&c[2], f, read_reg_frame(f, 0x800000));
    CHECK(tc_read(&c[2], r, 1, 0.05) == 0, "t has no ReadReg");
    for (int i = 0; i < 3; i++) {
        tc_close(&c[i]);
        tsim_stop(&t[i]);
    }
}

static void test_pty(void)
{
    tsim t;
    START(t, "bk7231n", "pty=1");
    const char *path = fl_sim_pty_path(t.sim);
    CHECK(path && !strncmp(path, "/dev/pts/", 9), "pty path %s", path ? path : "(null)");
    int fd = path ? open(path, O_RDWR | O_NOCTTY) : -1;
    CHECK(fd >= 0, "open pty");
    if (fd < 0) {
        tsim_stop(&t);
        return;
    }
    struct termios tio;
    tcgetattr(fd, &tio);
    cfmakeraw(&tio);
    cfsetispeed(&tio, B115200);
    cfsetospeed(&tio, B115200);
    tcsetattr(fd, TCSANOW, &tio);
    tcflush(fd, TCIOFLUSH);
    fl_sim_power_cycle(t.sim);
    CHECK(write(fd, LINKCHECK, sizeof LINKCHECK) == (ssize_t)sizeof LINKCHECK, "write");
    uint8_t r[16];
    size_t o = 0;
    double deadline = fl_now() + 10;
    while (o < 8 && fl_now() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) > 0) {
            ssize_t k = read(fd, r + o, 8 - o);
            if (k > 0)
                o += (size_t)k;
        }
    }
    CHECK_BYTES(r, o, LINKCHECK_REPLY, 8);
    /* the pty follows the rate its user sets: 9600 garbles */
    cfsetispeed(&tio, B9600);
    cfsetospeed(&tio, B9600);
    tcsetattr(fd, TCSANOW, &tio);
    /* the simulator re-reads the pty's rate now and then: wait until it garbles (a
     * LinkCheck or its reply crossing the mismatch), then drain what came before */
    fl_sim_stats st;
    fl_sim_get_stats(t.sim, &st);
    uint64_t garbled = st.bytes_dropped + st.bytes_corrupted;
    bool noticed = false;
    for (double end = fl_now() + 10; !noticed && fl_now() < end;) {
        CHECK(write(fd, LINKCHECK, sizeof LINKCHECK) == 5, "write");
        noticed = wait_stats(t.sim, garbled_more_than, &garbled, 0.05);
    }
    CHECK(noticed, "the simulator follows the pty's rate");
    tcflush(fd, TCIFLUSH);
    bool any = false;
    for (int i = 0; i < 5; i++) {
        CHECK(write(fd, LINKCHECK, sizeof LINKCHECK) == 5, "write");
        fl_sleep(0.02);
        uint8_t b[64];
        struct pollfd p = {.fd = fd, .events = POLLIN};
        while (poll(&p, 1, 20) > 0) {
            ssize_t k = read(fd, b, sizeof b);
            if (k <= 0)
                break;
            any |= memmem(b, (size_t)k, LINKCHECK_REPLY, 8) != NULL;
        }
    }
    CHECK(!any, "baud mismatch on the pty");
    close(fd);
    tsim_stop(&t);
}

/* FLASHLINE_SIM_BENCH=1 (run by `make bench`): the simulator's wire timing against the
 * ideal, with tight bounds that only hold on a quiet machine -- which is why they are
 * here and not in test_wire_time. */
static void bench_wire_time(void)
{
    uint32_t rates[] = {115200, 921600};
    for (int k = 0; k < 2; k++) {
        tsim t;
        START(t, "bk7231n", "timescale=1");
        tcli c;
        CONNECT(c, t);
        CHECK(tc_link(&c), "link");
        if (rates[k] == 115200) {
            uint8_t r[8];
            double t0 = fl_now();
            size_t n = tc_cmd(&c, LINKCHECK, sizeof LINKCHECK, r, 8, REPLY_S);
            double dt = fl_now() - t0;
            fprintf(stderr, "bench LinkCheck round trip at 115200: %.4f s (wire 0.0011 s)\n", dt);
            CHECK(n == 8 && dt < 0.004, "LinkCheck round trip %.4f", dt);
        } else {
            uint8_t p[5], f[16], r[12];
            le32(p, rates[k]);
            p[4] = 20;
            tc_send(&c, f, fr_short(f, 0x0F, p, 5));
            tc_set_baud(&c, rates[k]);
            CHECK(tc_read(&c, r, 12, REPLY_S) == 12, "echo");
        }
        double dt = read_blocks_time(&c, 16);
        double payload = 65536 * 10.0 / rates[k];
        double wire = 16 * (12 + 4111) * 10.0 / rates[k];
        fprintf(stderr,
                "bench %7u baud: 16 x 4K reads in %.4f s; ideal(payload) %.4f s -> %.4f; "
                "ideal(wire bytes) %.4f s -> %.4f\n",
                rates[k], dt, payload, payload / dt, wire, wire / dt);
        CHECK(payload / dt >= 0.95, "ideal/actual %.4f", payload / dt);
        CHECK(wire / dt >= 0.95 && wire / dt <= 1.005, "wire ideal/actual %.4f", wire / dt);
        if (rates[k] == 115200) {
            CHECK_EQ_UINT(write_sr16(&c, 0), 0);
            double t0 = fl_now();
            CHECK_EQ_UINT(erase_cmd(&c, 0x20, 0x11000), 0);
            double e = fl_now() - t0;
            fprintf(stderr, "bench 4K erase: %.4f s (modelled 0.045 s)\n", e);
            CHECK(e >= 0.045 && e < 0.055, "4K erase %.4f s", e);
        }
        tc_close(&c);
        tsim_stop(&t);
    }
}

int main(void)
{
    if (getenv("FLASHLINE_SIM_BENCH")) {
        RUN(bench_wire_time);
        return testlib_finish();
    }
    RUN(test_options_query);
    RUN(test_telnet_negotiation);
    RUN(test_rom_ids);
    RUN(test_rom_chip_ids_efuse);
    RUN(test_crc_vectors);
    RUN(test_rom_protection_and_nor);
    RUN(test_rom_parser);
    RUN(test_rom_write4k_length);
    RUN(test_sr_regions);
    RUN(test_random_input);
    RUN(test_lboot_commands);
    RUN(test_lboot_protect_state_machine);
    RUN(test_lboot_partial_and_hang);
    RUN(test_lboot_loader_overwritten);
    RUN(test_lboot_needs_an_intact_loader);
    RUN(test_download_watchdog);
    RUN(test_boot_window_and_app);
    RUN(test_baud_switch);
    RUN(test_loader_keeps_baud);
    RUN(test_max_baud);
    RUN(test_wire_time);
    RUN(test_faults);
    RUN(test_brownout);
    RUN(test_manual_reset_and_control);
    RUN(test_flash_file);
    RUN(test_multi_instance);
    RUN(test_pty);
    return testlib_finish();
}
