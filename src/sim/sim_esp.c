/* sim_esp.c — the ESP personality: Espressif's ROM download loader (ESP8266, ESP32,
 * ESP32-S2/S3/C2/C3/C6) over SLIP, as esptool knows it (esptool/loader.py,
 * esptool/targets/<chip>.py, docs/en/advanced-topics/serial-protocol.rst), on the generic
 * simulator (wire time, faults, control channel, RFC 2217, pty: sim_server.c/sim_uart.c).
 *
 * MODELLED
 *  - Reset: classic auto-reset wiring (RTS asserted pulls EN low unless DTR is asserted
 *    too; DTR asserted pulls IO0 low unless RTS is asserted too); the chip starts when EN
 *    has been high for 10 ms (the RC on EN) and samples IO0 then: low = ROM download mode
 *    ("waiting for download" text), high = firmware (ROM text, then the application's
 *    text at 115200 if flash holds an image header 0xE9 at the bootloader offset, else
 *    "invalid header").  The boot button (control channel) holds IO0 low as well; with
 *    --manual-reset DTR/RTS do nothing.  ROM text at 74880 on the ESP8266, 115200 else.
 *  - SLIP framing as an RFC 1055 receiver: 0xC0 ends a non-empty frame (empty frames are
 *    ignored), 0xDB 0xDC / 0xDB 0xDD unescape.  A bad escape (0xDB then anything else)
 *    throws the frame away without an answer: esptool's flasher stub (flasher_stub/
 *    slip.c, SLIP_recv) does exactly that, and it is the only public receiver from
 *    Espressif; the ROM's own is not public [assumption: the ROM does the same].
 *  - Request header: direction 0 (anything else, or a frame shorter than 8 bytes, is
 *    ignored [assumption]), op, size16, checksum32.  A size that does not match the
 *    bytes received, or a command's wrong parameter length: status 1, error 0x05.
 *  - Replies: 01 op size value data status error (+2 reserved zero bytes on ESP32-family
 *    ROMs: 4 status bytes; 2 on the ESP8266).  The value field is only written by
 *    READ_REG and SYNC, so other replies carry the last one (seen in esptool --trace logs:
 *    MEM_BEGIN's reply carries the MAC word read just before).
 *  - Unknown commands, commands this ROM lacks (ESP8266: SPI_ATTACH, SPI_SET_PARAMS,
 *    READ_FLASH_SLOW, CHANGE_BAUDRATE, FLASH_DEFL_*, SPI_FLASH_MD5, GET_SECURITY_INFO,
 *    as serial-protocol.rst says for its ROM; ESP32: GET_SECURITY_INFO) and, in Secure Download Mode, every command but SYNC,
 *    SPI_ATTACH, SPI_SET_PARAMS, CHANGE_BAUDRATE, FLASH_BEGIN/DATA/END and
 *    GET_SECURITY_INFO: the "invalid message" answer (status 1, error 0x05) EIGHT times,
 *    with an op field that is not the request's (esptool's loader.py raises
 *    UnsupportedCommandError only for such a reply and drains "the unsupported command
 *    response [that] is sent 8 times"); op 0x00 here [assumption: the exact value].
 *  - SYNC: eight replies, value = the first word of the SYNC payload (07 07 12 20, as in
 *    esptool --trace logs).  A SYNC with another payload: error 0x05.
 *  - READ_REG / WRITE_REG (records of address, value, mask, delay in µs): the magic word
 *    at 0x40001000, the eFuse words esptool's read_mac() and security checks read,
 *    UART_CLKDIV (esptool's crystal guess), the SPI flash controller (a write of SPI_CMD_USR runs the user
 *    command as esptool's run_spiflash_command sets it up: command, address, dummy,
 *    MOSI from W0.., MISO into W0..; JEDEC ID, status registers, reads... through the NOR
 *    model; the controller is done at once), any other address is plain RAM.
 *  - SPI_ATTACH (8 bytes on the ROM) / SPI_SET_PARAMS (24 bytes): ESP32-family ROMs touch
 *    the flash only after SPI_ATTACH [assumption, from the docs' "requires"]: before it,
 *    FLASH_BEGIN, FLASH_DEFL_BEGIN, READ_FLASH_SLOW and SPI_FLASH_MD5 fail with 0x06 and
 *    SPI user commands read 0xFF.  The ESP8266 ROM attaches on FLASH_BEGIN (esptool's
 *    flash_spi_attach sends FLASH_BEGIN(0, 0) for that).
 *  - FLASH_BEGIN (4 words; 5 with the "encrypted" flag on S2 and later, as esptool sends
 *    them; an encrypted write is not modelled: 0x06) erases the whole region before it
 *    answers (64 KiB blocks where aligned, else 4 KiB sectors, the sim's erase times).
 *    ESP8266 erase-size bug: asked for n sectors from sector s, the ROM erases
 *    n + min(16 - s % 16, n) sectors (the inverse of esptool's get_erase_size, which is
 *    exact for it; a host that sends the true size erases up to twice as much).  A region
 *    past the flash size the ROM was told (SPI_SET_PARAMS; 16 MiB before) answers 0x05.
 *  - FLASH_DATA (size, seq, 0, 0, data): data length up to the declared block size,
 *    checksum (0xEF xor data) checked after the whole frame: a bad one answers 0x07 and
 *    writes nothing; the block lands at offset + seq × block size; seq must be the next
 *    one or the previous one again (a host retrying after a lost reply, as esptool's
 *    WRITE_FLASH_ATTEMPTS does) [assumption], else 0x05; written data is read back and a
 *    mismatch (flash not erased) answers 0x08.  FLASH_END: 0 = reboot (the strap is
 *    sampled again), 1 = run the firmware ("run user code": esptool's loader.py never
 *    sends it to a ROM it wants to keep, "as this exits the bootloader"; esp-serial-
 *    flasher calls the flag stay_in_loader [assumption: esptool is right]); both answer
 *    first.  A host that wants to stay in the loader does not send FLASH_END.
 *  - FLASH_DEFL_BEGIN/DATA/END (ESP32 family): as above with zlib-wrapped deflate data
 *    (esptool's zlib.compress; its size word is the erase size, the uncompressed size
 *    rounded up to 0x400); a broken stream, or more output than that size, answers 0x0B;
 *    seq must be the next one (a repeated block cannot be inflated twice).
 *  - MEM_BEGIN/DATA/END: data accepted (checksum and seq checked) and dropped; MEM_END
 *    with execute flag 0 jumps to the uploaded code, which is NOT modelled: the chip
 *    goes quiet (state "hung", event "mem-entry") until the next reset.  It answers
 *    MEM_END first (esptool allows for a real one that does not).
 *  - READ_FLASH_SLOW (ESP32 family): offset, length <= 64 (else 0x0A); the reply always
 *    carries the ROM's 64-byte buffer (bytes past the length are the previous read's).
 *  - SPI_FLASH_MD5 (ESP32 family): 32 lower-case hex characters (esptool compares them
 *    with hashlib's hexdigest); costs the sim's CRC throughput per byte; a range past the
 *    flash size the ROM was told answers 0x05.
 *  - CHANGE_BAUDRATE (new, old): answered at the old rate, then the chip switches.
 *  - GET_SECURITY_INFO (S2: 12 bytes, no chip ID; C2/C3/C6/S3: 20 bytes, chip ID at
 *    byte 12, API version 0 [assumption]): flags (bit 0 secure boot, bit 2 Secure
 *    Download Mode), SPI_BOOT_CRYPT_CNT, key purposes.
 *  - Timing: 20 µs turnaround per command, erase/program/MD5 busy time from the sim's
 *    table; while busy the ROM buffers 0x2000 received bytes (COMMON13 assumption), more
 *    are lost.  Commands execute strictly in order, one answer each.
 *
 * NOT MODELLED: the ROM's baud-rate auto-detection (the loader listens at 115200 after
 * its boot text, on the ESP8266 too), the stub loader, flash encryption of written
 * data (reads return the flash file as it is), USB-Serial/JTAG, the ESP8266's 26 MHz
 * crystal quirks beyond the UART divider.  The boot texts are stand-ins after logs
 * posted in esptool issues. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "sim/sim_internal.h"

enum {
    OP_FLASH_BEGIN = 0x02, OP_FLASH_DATA = 0x03, OP_FLASH_END = 0x04, OP_MEM_BEGIN = 0x05,
    OP_MEM_END = 0x06, OP_MEM_DATA = 0x07, OP_SYNC = 0x08, OP_WRITE_REG = 0x09,
    OP_READ_REG = 0x0A, OP_SPI_SET_PARAMS = 0x0B, OP_SPI_ATTACH = 0x0D,
    OP_READ_FLASH_SLOW = 0x0E, OP_CHANGE_BAUDRATE = 0x0F, OP_FLASH_DEFL_BEGIN = 0x10,
    OP_FLASH_DEFL_DATA = 0x11, OP_FLASH_DEFL_END = 0x12, OP_SPI_FLASH_MD5 = 0x13,
    OP_GET_SECURITY_INFO = 0x14,
};

enum {
    ERR_INVALID = 0x05,  /* received message is invalid (parameters or length) */
    ERR_FAILED = 0x06,   /* failed to act on received message */
    ERR_CRC = 0x07,      /* invalid CRC (checksum) in message */
    ERR_WRITE = 0x08,    /* flash write error (read-back mismatch) */
    ERR_READ = 0x09,     /* flash read error */
    ERR_READ_LEN = 0x0A, /* flash read length error */
    ERR_DEFLATE = 0x0B,  /* deflate error */
};

#define TURNAROUND_S 20e-6
#define ESP_RX_BUFFER 0x2000
#define EN_RC_DELAY_S 0.010
#define SECTOR 4096u
#define BLOCK64 65536u
#define MAX_BLOCK 0x4000u

uint32_t sim_esp_rx_buffer(void)
{
    return ESP_RX_BUFFER;
}

double sim_esp_en_delay(void)
{
    return EN_RC_DELAY_S;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

/* ------------------------------------------------------------------ lifecycle */

fl_status sim_esp_create(fl_sim *s, fl_error *err)
{
    if (sim_esp_is_8266(s) && (s->o.esp_flash_crypt || s->o.esp_secure_boot))
        return fl_fail(err, FL_ERR_USAGE,
                       "the ESP8266 has no flash encryption or secure boot eFuses (crypt/secureboot)");
    if (s->o.esp_sdm && !sim_esp_has_sdm(s))
        return fl_fail(err, FL_ERR_USAGE,
                       "%s has no Secure Download Mode in this simulator (ESP32-S2 and later)",
                       s->chip->name);
    if (s->o.esp_mac_set)
        memcpy(s->mac, s->o.esp_mac, 6);
    else
        sim_esp_default_mac(s, s->o.seed, s->mac);
    s->dev.esp = calloc(1, sizeof *s->dev.esp);
    if (!s->dev.esp)
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    return FL_OK;
}

static void end_inflate(esp_parser *p)
{
    if (p->zs) {
        inflateEnd(p->zs);
        free(p->zs);
        p->zs = NULL;
    }
}

void sim_esp_free(fl_sim *s)
{
    if (!s->dev.esp)
        return;
    end_inflate(s->dev.esp);
    free(s->dev.esp);
    s->dev.esp = NULL;
}

void sim_esp_parser_reset(fl_sim *s)
{
    esp_parser *p = s->dev.esp;
    if (!p)
        return;
    end_inflate(p);
    p->in_frame = p->escaping = p->discard = false;
    p->len = 0;
    p->last_value = 0;
    memset(p->slow_buf, 0, sizeof p->slow_buf);
    p->attached = false;
    p->spi_total_size = 0;
    p->xfer = ESP_XFER_NONE;
}

/* ------------------------------------------------------------------ strap and boot */

bool sim_esp_io0_low(const fl_sim *s)
{
    const sim_dev *d = &s->dev;
    return d->boot_button || (!s->o.manual_reset && d->dtr_asserted && !d->rts_asserted);
}

static void print_at(fl_sim *s, double t, uint32_t baud, const char *text)
{
    uint32_t keep = s->dev.baud;
    s->dev.baud = baud;
    sim_tx(s, t, (const uint8_t *)text, strlen(text), false);
    s->dev.baud = keep;
}

void sim_esp_start(fl_sim *s, double t)
{
    sim_dev *d = &s->dev;
    bool download = sim_esp_io0_low(s);
    bool power_on = d->power_cycled;
    d->power_cycled = false;
    if (d->boot_button_release)
        d->boot_button = d->boot_button_release = false;
    if (!download) {
        sim_esp_app_start(s, t, true);
        return;
    }
    d->state = DEV_DOWNLOAD;
    d->baud = 115200;
    if (!s->o.quiet_app) {
        char text[256];
        sim_esp_rom_banner(s, true, power_on, text, sizeof text);
        print_at(s, t, sim_esp_boot_baud(s), text);
    }
    sim_trace(s, "download-mode", 0);
}

void sim_esp_app_start(fl_sim *s, double t, bool banner)
{
    sim_dev *d = &s->dev;
    d->state = DEV_APP;
    d->baud = 115200;
    d->app_lines = 0;
    d->line_len = 0;
    d->next_log = SIM_INF;
    if (s->o.quiet_app)
        return;
    char text[1024];
    if (banner) {
        sim_esp_rom_banner(s, false, false, text, sizeof text);
        print_at(s, t, sim_esp_boot_baud(s), text);
    }
    uint32_t word;
    if (!sim_esp_image_present(s, &word)) {
        /* the ROM finds no second-stage bootloader and says so */
        snprintf(text, sizeof text, "invalid header: 0x%08x\r\n", (unsigned)word);
        print_at(s, t, sim_esp_boot_baud(s), text);
        return;
    }
    snprintf(text, sizeof text,
             "I (31) boot: ESP bootloader (simulated)\r\n"
             "I (37) boot: SPI Flash Size : %uMB\r\n"
             "I (120) boot: Loaded app from partition at offset 0x10000\r\n"
             "Info:MAIN:%s version 1.18.300 (simulated), MAC %02x:%02x:%02x:%02x:%02x:%02x\r\n"
             "Info:GEN:PIN_SetupPins pins have been set up.\r\n",
             (unsigned)(s->flash.size >> 20), sim_esp_app_name(s), s->mac[0], s->mac[1],
             s->mac[2], s->mac[3], s->mac[4], s->mac[5]);
    print_at(s, t, 115200, text);
    d->next_log = t + s->tm.app_log_period;
}

void sim_esp_app_log(fl_sim *s, double t)
{
    sim_dev *d = &s->dev;
    char buf[160];
    d->app_lines++;
    snprintf(buf, sizeof buf, "Info:MAIN:Time %u, idle %u/s, free %u, MQTT 0(0), bWifi 0\r\n",
             d->app_lines, 90000 + (sim_rand(s) % 4000), 150000 + (sim_rand(s) % 512));
    sim_tx(s, t, (const uint8_t *)buf, strlen(buf), false);
}

/* ------------------------------------------------------------------ replies */

/* One reply frame, SLIP-encoded; returns when its last byte has left. */
static double reply(fl_sim *s, double t, uint8_t op, const uint8_t *data, size_t n, uint8_t status,
                    uint8_t error)
{
    esp_parser *p = s->dev.esp;
    uint8_t st_len = sim_esp_status_len(s);
    uint8_t raw[8 + 64 + 4];
    size_t body = n + st_len;
    if (n > 64)
        return t; /* no reply is longer than READ_FLASH_SLOW's */
    raw[0] = 0x01, raw[1] = op, raw[2] = (uint8_t)body, raw[3] = (uint8_t)(body >> 8);
    put_le32(raw + 4, p->last_value);
    if (n)
        memcpy(raw + 8, data, n);
    memset(raw + 8 + n, 0, st_len);
    raw[8 + n] = status, raw[9 + n] = error;
    uint8_t enc[2 * sizeof raw + 2];
    size_t k = 0;
    enc[k++] = 0xC0;
    for (size_t i = 0; i < 8 + body; i++) {
        if (raw[i] == 0xC0)
            enc[k++] = 0xDB, enc[k++] = 0xDC;
        else if (raw[i] == 0xDB)
            enc[k++] = 0xDB, enc[k++] = 0xDD;
        else
            enc[k++] = raw[i];
    }
    enc[k++] = 0xC0;
    return sim_tx(s, t, enc, k, true);
}

static double ok(fl_sim *s, double t, uint8_t op, const uint8_t *data, size_t n)
{
    s->stats.frames_ok++;
    return reply(s, t, op, data, n, 0, 0);
}

static void fail(fl_sim *s, double t, uint8_t op, uint8_t error)
{
    s->stats.frames_bad++;
    reply(s, t, op, NULL, 0, 1, error);
}

static void unsupported(fl_sim *s, double t)
{
    s->stats.frames_bad++;
    for (int i = 0; i < 8; i++)
        t = reply(s, t, 0x00, NULL, 0, 1, ERR_INVALID);
}

/* ------------------------------------------------------------------ command table */

static bool op_in_rom(const fl_sim *s, uint8_t op)
{
    if (op >= OP_FLASH_BEGIN && op <= OP_READ_REG)
        return true;
    if (sim_esp_is_8266(s))
        return false;
    switch (op) {
    case OP_SPI_SET_PARAMS: case OP_SPI_ATTACH: case OP_READ_FLASH_SLOW:
    case OP_CHANGE_BAUDRATE: case OP_FLASH_DEFL_BEGIN: case OP_FLASH_DEFL_DATA:
    case OP_FLASH_DEFL_END: case OP_SPI_FLASH_MD5:
        return true;
    case OP_GET_SECURITY_INFO:
        return sim_esp_has_sdm(s);
    default:
        return false;
    }
}

static bool op_allowed_in_sdm(uint8_t op)
{
    switch (op) {
    case OP_SYNC: case OP_SPI_ATTACH: case OP_SPI_SET_PARAMS: case OP_CHANGE_BAUDRATE:
    case OP_FLASH_BEGIN: case OP_FLASH_DATA: case OP_FLASH_END: case OP_GET_SECURITY_INFO:
        return true;
    default:
        return false;
    }
}

/* ------------------------------------------------------------------ flash helpers */

/* Erase `count` sectors from sector `first` (64 KiB blocks where aligned).  Returns the
 * finish time, or a negative value when a brown-out cut it. */
static double erase_sectors(fl_sim *s, double t, uint32_t first, uint32_t count)
{
    uint32_t sec = first, left = count;
    while (left) {
        bool block = sec % 16 == 0 && left >= 16;
        uint32_t unit = block ? BLOCK64 : SECTOR;
        bool bo = false;
        t = sim_dev_erase(s, t, sec * SECTOR, unit, &bo);
        if (bo)
            return -1;
        sec += unit / SECTOR;
        left -= unit / SECTOR;
    }
    return t;
}

/* Program and read back (the ROM compares what it wrote).  *mismatch: the flash did
 * not take it (not erased, protected).  Negative return: brown-out. */
static double program_verified(fl_sim *s, double t, uint32_t addr, const uint8_t *data, uint32_t n,
                               bool *mismatch)
{
    bool bo = false;
    *mismatch = false;
    if (n == 0)
        return t;
    double done = sim_dev_program_page(s, t, addr, data, n, false, &bo);
    if (bo)
        return -1;
    s->stats.program_busy_s += s->ts > 0 ? (done - t) / s->ts : 0;
    uint8_t *back = malloc(n);
    if (back) {
        sim_flash_read(&s->flash, addr, back, n);
        *mismatch = memcmp(back, data, n) != 0;
        free(back);
    }
    return done;
}

/* The flash size the ROM believes in: SPI_SET_PARAMS's, else 16 MiB [assumption]. */
static uint64_t flash_limit(const esp_parser *p)
{
    return p->spi_total_size ? p->spi_total_size : 16u << 20;
}

static uint8_t data_checksum(const uint8_t *p, uint32_t n)
{
    uint8_t c = 0xEF;
    for (uint32_t i = 0; i < n; i++)
        c ^= p[i];
    return c;
}

/* ------------------------------------------------------------------ handlers */

static void cmd_sync(fl_sim *s, double t, const uint8_t *d, uint32_t n)
{
    static const uint8_t head[4] = {0x07, 0x07, 0x12, 0x20};
    bool good = n == 36 && !memcmp(d, head, 4);
    for (uint32_t i = 4; good && i < 36; i++)
        good = d[i] == 0x55;
    if (!good) {
        fail(s, t, OP_SYNC, ERR_INVALID);
        return;
    }
    s->dev.esp->last_value = le32(d);
    s->stats.frames_ok++;
    for (int i = 0; i < 8; i++)
        t = reply(s, t, OP_SYNC, NULL, 0, 0, 0);
    sim_trace(s, "sync-answer", s->dev.baud);
}

/* FLASH_BEGIN / FLASH_DEFL_BEGIN */
static void cmd_begin(fl_sim *s, double t, uint8_t op, const uint8_t *d, uint32_t n)
{
    esp_parser *p = s->dev.esp;
    sim_dev *dev = &s->dev;
    uint32_t words = sim_esp_begin_words(s);
    if (n != 4 * words) {
        fail(s, t, op, ERR_INVALID);
        return;
    }
    uint32_t size = le32(d), blocks = le32(d + 4), bsize = le32(d + 8), off = le32(d + 12);
    bool encrypted = words == 5 && le32(d + 16) != 0;
    if (sim_esp_is_8266(s))
        p->attached = true; /* the ESP8266 ROM sets up the flash here */
    uint32_t limit = flash_limit(p);
    if (encrypted || !p->attached) {
        fail(s, t, op, ERR_FAILED);
        return;
    }
    if ((blocks && (bsize == 0 || bsize > MAX_BLOCK)) || (uint64_t)off + size > limit) {
        fail(s, t, op, ERR_INVALID);
        return;
    }
    end_inflate(p);
    uint32_t first = off / SECTOR;
    uint32_t count = (uint32_t)(((uint64_t)off % SECTOR + size + SECTOR - 1) / SECTOR);
    if (sim_esp_is_8266(s)) {
        /* the ROM's erase-size bug: the head sectors (up to the next 64 KiB block) are
         * counted twice */
        uint32_t n_sec = (size + SECTOR - 1) / SECTOR, head = 16 - first % 16;
        count = n_sec + (head < n_sec ? head : n_sec);
    }
    if (size == 0)
        count = 0;
    double done = erase_sectors(s, t, first, count);
    if (done < 0) {
        p->xfer = ESP_XFER_NONE;
        return; /* brown-out: the chip restarts, no answer */
    }
    p->xfer = op == OP_FLASH_BEGIN ? ESP_XFER_FLASH : ESP_XFER_DEFL;
    p->x_offset = off, p->x_blocks = blocks, p->x_block_size = bsize, p->x_size = size;
    p->x_next_seq = 0, p->x_out = 0, p->x_inflate_done = false;
    if (op == OP_FLASH_DEFL_BEGIN) {
        p->zs = calloc(1, sizeof(z_stream));
        if (!p->zs || inflateInit(p->zs) != Z_OK) {
            free(p->zs);
            p->zs = NULL;
            p->xfer = ESP_XFER_NONE;
            fail(s, done, op, ERR_FAILED);
            return;
        }
    }
    dev->busy_until = done;
    ok(s, done, op, NULL, 0);
}

/* The common checks of FLASH_DATA, FLASH_DEFL_DATA and MEM_DATA.  Returns the payload
 * (and its length, seq) or NULL after answering the error. */
static const uint8_t *data_block(fl_sim *s, double t, uint8_t op, esp_xfer_kind want,
                                 const uint8_t *d, uint32_t n, uint32_t chk, uint32_t *len,
                                 uint32_t *seq)
{
    esp_parser *p = s->dev.esp;
    if (p->xfer != want) {
        fail(s, t, op, ERR_FAILED); /* no matching *_BEGIN */
        return NULL;
    }
    if (n < 16 || le32(d) != n - 16 || n - 16 > p->x_block_size) {
        fail(s, t, op, ERR_INVALID);
        return NULL;
    }
    *len = n - 16;
    *seq = le32(d + 4);
    if (chk != data_checksum(d + 16, *len)) {
        fail(s, t, op, ERR_CRC); /* checked before anything is written */
        return NULL;
    }
    bool again = want == ESP_XFER_FLASH && p->x_next_seq > 0 && *seq == p->x_next_seq - 1;
    if ((*seq != p->x_next_seq && !again) || *seq >= p->x_blocks) {
        fail(s, t, op, ERR_INVALID);
        return NULL;
    }
    if (*seq == p->x_next_seq)
        p->x_next_seq++;
    return d + 16;
}

static void cmd_flash_data(fl_sim *s, double t, const uint8_t *d, uint32_t n, uint32_t chk)
{
    esp_parser *p = s->dev.esp;
    uint32_t len, seq;
    const uint8_t *data = data_block(s, t, OP_FLASH_DATA, ESP_XFER_FLASH, d, n, chk, &len, &seq);
    if (!data)
        return;
    bool bad;
    double done = program_verified(s, t, p->x_offset + seq * p->x_block_size, data, len, &bad);
    if (done < 0) {
        p->xfer = ESP_XFER_NONE;
        return;
    }
    s->dev.busy_until = done;
    if (bad)
        fail(s, done, OP_FLASH_DATA, ERR_WRITE);
    else
        ok(s, done, OP_FLASH_DATA, NULL, 0);
}

static void cmd_defl_data(fl_sim *s, double t, const uint8_t *d, uint32_t n, uint32_t chk)
{
    esp_parser *p = s->dev.esp;
    uint32_t len, seq;
    const uint8_t *data =
        data_block(s, t, OP_FLASH_DEFL_DATA, ESP_XFER_DEFL, d, n, chk, &len, &seq);
    if (!data)
        return;
    z_stream *z = p->zs;
    z->next_in = (Bytef *)data;
    z->avail_in = len;
    double done = t;
    bool bad = false, broken = false;
    uint8_t out[16384];
    while (z->avail_in > 0 && !p->x_inflate_done && !bad) {
        z->next_out = out;
        z->avail_out = sizeof out;
        int r = inflate(z, Z_NO_FLUSH);
        uint32_t got = (uint32_t)(sizeof out - z->avail_out);
        if ((uint64_t)p->x_out + got > p->x_size) {
            broken = true; /* more data than FLASH_DEFL_BEGIN announced */
            break;
        }
        if (got) {
            done = program_verified(s, done, p->x_offset + p->x_out, out, got, &bad);
            if (done < 0) {
                p->xfer = ESP_XFER_NONE;
                return;
            }
            p->x_out += got;
        }
        if (r == Z_STREAM_END)
            p->x_inflate_done = true;
        else if (r != Z_OK && !(r == Z_BUF_ERROR && got)) {
            broken = true;
            break;
        }
    }
    s->dev.busy_until = done;
    if (broken)
        fail(s, done, OP_FLASH_DEFL_DATA, ERR_DEFLATE);
    else if (bad)
        fail(s, done, OP_FLASH_DEFL_DATA, ERR_WRITE);
    else
        ok(s, done, OP_FLASH_DEFL_DATA, NULL, 0);
}

/* FLASH_END / FLASH_DEFL_END: answer, then 0 = reboot, 1 = run the firmware. */
static void cmd_end(fl_sim *s, double t, uint8_t op, const uint8_t *d, uint32_t n)
{
    esp_parser *p = s->dev.esp;
    esp_xfer_kind want = op == OP_FLASH_END ? ESP_XFER_FLASH : ESP_XFER_DEFL;
    if (n != 4) {
        fail(s, t, op, ERR_INVALID);
        return;
    }
    if (p->xfer != want) {
        fail(s, t, op, ERR_FAILED);
        return;
    }
    uint32_t stay_flag = le32(d);
    end_inflate(p);
    p->xfer = ESP_XFER_NONE;
    double sent = ok(s, t, op, NULL, 0);
    if (stay_flag == 0) {
        sim_event(s, "reboot-command");
        sim_dev_schedule_reset(s, sent, s->tm.reboot_delay);
    } else {
        sim_esp_app_start(s, sent, false); /* "run user code": the firmware starts */
    }
}

static void cmd_mem(fl_sim *s, double t, uint8_t op, const uint8_t *d, uint32_t n, uint32_t chk)
{
    esp_parser *p = s->dev.esp;
    if (op == OP_MEM_BEGIN) {
        if (n != 16) {
            fail(s, t, op, ERR_INVALID);
            return;
        }
        uint32_t bsize = le32(d + 8);
        if (bsize == 0 || bsize > MAX_BLOCK) {
            fail(s, t, op, ERR_INVALID);
            return;
        }
        end_inflate(p);
        p->xfer = ESP_XFER_MEM;
        p->x_size = le32(d), p->x_blocks = le32(d + 4), p->x_block_size = bsize;
        p->x_offset = le32(d + 12), p->x_next_seq = 0;
        ok(s, t, op, NULL, 0);
    } else if (op == OP_MEM_DATA) {
        uint32_t len, seq;
        if (data_block(s, t, op, ESP_XFER_MEM, d, n, chk, &len, &seq))
            ok(s, t, op, NULL, 0); /* RAM content is not modelled */
    } else {
        if (n != 8) {
            fail(s, t, op, ERR_INVALID);
            return;
        }
        uint32_t no_exec = le32(d);
        p->xfer = ESP_XFER_NONE;
        ok(s, t, op, NULL, 0);
        if (!no_exec) {
            /* the uploaded code would run now; it is not modelled: the chip goes quiet */
            sim_event(s, "mem-entry");
            sim_esp_parser_reset(s);
            s->dev.state = DEV_HUNG;
        }
    }
}

static void cmd_read_slow(fl_sim *s, double t, const uint8_t *d, uint32_t n)
{
    esp_parser *p = s->dev.esp;
    if (n != 8) {
        fail(s, t, OP_READ_FLASH_SLOW, ERR_INVALID);
        return;
    }
    uint32_t off = le32(d), len = le32(d + 4);
    if (!p->attached) {
        fail(s, t, OP_READ_FLASH_SLOW, ERR_FAILED);
        return;
    }
    if (len > sizeof p->slow_buf) {
        fail(s, t, OP_READ_FLASH_SLOW, ERR_READ_LEN);
        return;
    }
    sim_flash_read(&s->flash, off, p->slow_buf, len);
    ok(s, t, OP_READ_FLASH_SLOW, p->slow_buf, sizeof p->slow_buf);
}

static void cmd_md5(fl_sim *s, double t, const uint8_t *d, uint32_t n)
{
    esp_parser *p = s->dev.esp;
    if (n != 16) {
        fail(s, t, OP_SPI_FLASH_MD5, ERR_INVALID);
        return;
    }
    if (!p->attached) {
        fail(s, t, OP_SPI_FLASH_MD5, ERR_FAILED);
        return;
    }
    uint32_t addr = le32(d), size = le32(d + 4);
    if ((uint64_t)addr + size > flash_limit(p)) {
        fail(s, t, OP_SPI_FLASH_MD5, ERR_INVALID); /* past the flash the ROM was told of */
        return;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t md[EVP_MAX_MD_SIZE], chunk[65536];
    unsigned mdlen = 0;
    bool good = ctx && EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
    for (uint32_t done = 0; good && done < size;) {
        uint32_t k = size - done < sizeof chunk ? size - done : (uint32_t)sizeof chunk;
        sim_flash_read(&s->flash, addr + done, chunk, k);
        good = EVP_DigestUpdate(ctx, chunk, k);
        done += k;
    }
    good = good && EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen == 16;
    EVP_MD_CTX_free(ctx);
    double ready = t + sim_dev_crc_time(s, size);
    s->dev.busy_until = ready;
    if (!good) {
        fail(s, ready, OP_SPI_FLASH_MD5, ERR_READ);
        return;
    }
    char hex[33];
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    ok(s, ready, OP_SPI_FLASH_MD5, (const uint8_t *)hex, 32);
}

static void cmd_read_reg(fl_sim *s, double t, const uint8_t *d, uint32_t n)
{
    if (n != 4) {
        fail(s, t, OP_READ_REG, ERR_INVALID);
        return;
    }
    s->dev.esp->last_value = sim_reg_read(s, le32(d));
    ok(s, t, OP_READ_REG, NULL, 0);
}

/* One or more (address, value, mask, delay µs) records: esptool appends a second one
 * (a masked-out write with a delay) for write_reg(..., delay_after_us). */
static void cmd_write_reg(fl_sim *s, double t, const uint8_t *d, uint32_t n)
{
    if (n == 0 || n % 16 != 0) {
        fail(s, t, OP_WRITE_REG, ERR_INVALID);
        return;
    }
    double done = t;
    for (uint32_t i = 0; i < n; i += 16) {
        const uint8_t *r = d + i;
        uint32_t addr = le32(r), value = le32(r + 4), mask = le32(r + 8), delay_us = le32(r + 12);
        if (mask) {
            uint32_t old = mask == 0xFFFFFFFFu ? 0 : sim_reg_read(s, addr);
            sim_reg_write(s, addr, (old & ~mask) | (value & mask));
        }
        done += sim_scaled(s, delay_us * 1e-6);
    }
    s->dev.busy_until = done;
    ok(s, done, OP_WRITE_REG, NULL, 0);
}

static void cmd_change_baud(fl_sim *s, double t, const uint8_t *d, uint32_t n)
{
    uint32_t baud = n == 8 ? le32(d) : 0;
    if (n != 8 || baud < 300 || baud > 5000000) {
        fail(s, t, OP_CHANGE_BAUDRATE, ERR_INVALID);
        return;
    }
    double sent = ok(s, t, OP_CHANGE_BAUDRATE, NULL, 0);
    /* the reply's bytes keep the old rate; the chip's UART switches when it has left */
    sim_dev_set_baud(s, baud);
    s->dev.busy_until = sent;
    sim_trace(s, "baud-change", baud);
}

static void cmd_security_info(fl_sim *s, double t, uint32_t n)
{
    uint8_t info[20];
    if (n != 0) {
        fail(s, t, OP_GET_SECURITY_INFO, ERR_INVALID);
        return;
    }
    size_t k = sim_esp_security_info(s, info);
    ok(s, t, OP_GET_SECURITY_INFO, info, k);
}

static void dispatch(fl_sim *s, double t)
{
    esp_parser *p = s->dev.esp;
    uint32_t len = p->len;
    if (len < 8 || p->rx[0] != 0x00) {
        s->stats.frames_bad++; /* not a request: the ROM ignores it */
        return;
    }
    uint8_t op = p->rx[1];
    uint32_t size = (uint32_t)p->rx[2] | (uint32_t)p->rx[3] << 8, chk = le32(p->rx + 4);
    const uint8_t *d = p->rx + 8;
    uint32_t n = len - 8;
    t += sim_scaled(s, TURNAROUND_S);
    if (!op_in_rom(s, op) || (s->o.esp_sdm && !op_allowed_in_sdm(op))) {
        unsupported(s, t);
        return;
    }
    if (len > SIM_ESP_FRAME_MAX || size != n) {
        fail(s, t, op, ERR_INVALID);
        return;
    }
    switch (op) {
    case OP_SYNC: cmd_sync(s, t, d, n); break;
    case OP_READ_REG: cmd_read_reg(s, t, d, n); break;
    case OP_WRITE_REG: cmd_write_reg(s, t, d, n); break;
    case OP_FLASH_BEGIN:
    case OP_FLASH_DEFL_BEGIN: cmd_begin(s, t, op, d, n); break;
    case OP_FLASH_DATA: cmd_flash_data(s, t, d, n, chk); break;
    case OP_FLASH_DEFL_DATA: cmd_defl_data(s, t, d, n, chk); break;
    case OP_FLASH_END:
    case OP_FLASH_DEFL_END: cmd_end(s, t, op, d, n); break;
    case OP_MEM_BEGIN:
    case OP_MEM_DATA:
    case OP_MEM_END: cmd_mem(s, t, op, d, n, chk); break;
    case OP_SPI_ATTACH:
        if (n != 8) {
            fail(s, t, op, ERR_INVALID); /* the ROM takes a second word (esptool: is_legacy 0) */
            break;
        }
        p->attached = true;
        ok(s, t, op, NULL, 0);
        break;
    case OP_SPI_SET_PARAMS:
        if (n != 24) {
            fail(s, t, op, ERR_INVALID);
            break;
        }
        p->spi_total_size = le32(d + 4);
        ok(s, t, op, NULL, 0);
        break;
    case OP_READ_FLASH_SLOW: cmd_read_slow(s, t, d, n); break;
    case OP_CHANGE_BAUDRATE: cmd_change_baud(s, t, d, n); break;
    case OP_SPI_FLASH_MD5: cmd_md5(s, t, d, n); break;
    case OP_GET_SECURITY_INFO: cmd_security_info(s, t, n); break;
    default: unsupported(s, t); break;
    }
}

/* ------------------------------------------------------------------ SLIP receiver */

void sim_esp_rx(fl_sim *s, uint8_t b, double t)
{
    esp_parser *p = s->dev.esp;
    if (b == 0xC0) {
        bool complete = p->in_frame && p->len > 0 && !p->discard && !p->escaping;
        if (p->in_frame && p->escaping && !p->discard)
            s->stats.frames_bad++; /* DB C0: a bad escape, thrown away like any other */
        p->in_frame = true;
        p->escaping = p->discard = false;
        if (complete)
            dispatch(s, t);
        p->len = 0;
        return;
    }
    if (!p->in_frame || p->discard)
        return; /* between frames (boot noise) or the rest of a broken frame */
    if (p->escaping) {
        p->escaping = false;
        if (b == 0xDC)
            b = 0xC0;
        else if (b == 0xDD)
            b = 0xDB;
        else {
            p->discard = true; /* bad escape: the frame is dropped without an answer */
            s->stats.frames_bad++;
            return;
        }
    } else if (b == 0xDB) {
        p->escaping = true;
        return;
    }
    if (p->len < SIM_ESP_FRAME_MAX)
        p->rx[p->len] = b;
    if (p->len < UINT32_MAX)
        p->len++;
}
