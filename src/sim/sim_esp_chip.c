/* sim_esp_chip.c — what differs between the simulated ESP chips: the ROM facts esptool
 * relies on (magic word, status-byte length, GET_SECURITY_INFO shape), the eFuse words
 * that hold the MAC and the security state, the SPI flash controller's registers, and
 * the text a chip prints when it starts.
 *
 * Sources: esptool's target classes (esptool/targets/<chip>.py: CHIP_DETECT_MAGIC_VALUE,
 * SPI_REG_BASE and the SPI_*_OFFS offsets, MAC_EFUSE_REG / EFUSE_RD_REG_BASE and
 * read_mac(), EFUSE_SPI_BOOT_CRYPT_CNT_*, EFUSE_SECURE_BOOT_EN_*, UART_CLKDIV_REG,
 * STATUS_BYTES_LENGTH) and docs/en/advanced-topics/serial-protocol.rst.  Values marked
 * [assumption] are not confirmed by a source; boot texts follow logs posted in esptool
 * issues, their exact dates and numbers are stand-ins. */
#include <stdio.h>
#include <string.h>

#include "sim/sim_internal.h"

enum { MAC_8266, MAC_ESP32, MAC_BLOCK };

struct sim_esp_chip {
    const char *name;
    uint32_t magic;            /* word at 0x40001000 */
    uint8_t status_len;        /* status bytes at the end of a ROM reply */
    bool esp8266;              /* ESP8266 ROM: no SPI_ATTACH/SET_PARAMS/READ_FLASH_SLOW/MD5/
                                  deflate/CHANGE_BAUDRATE; the FLASH_BEGIN erase-size bug */
    uint8_t secinfo_len;       /* GET_SECURITY_INFO reply (0 = unsupported, 12 = no chip ID, 20) */
    uint32_t chip_id;          /* security-info / image chip ID */
    uint8_t begin_words;       /* FLASH_BEGIN words: 4, or 5 with the "encrypted" flag */
    int mac_kind;
    uint32_t mac_reg;          /* ESP8266: OTP MAC0; ESP32: eFuse read base; else MAC_EFUSE_REG */
    uint32_t efuse_lo, efuse_hi; /* read-only eFuse window */
    uint32_t crypt_reg, crypt_bit; /* SPI_BOOT_CRYPT_CNT / FLASH_CRYPT_CNT lowest bit */
    uint32_t sb_reg, sb_bit;       /* secure boot enabled */
    uint32_t purpose_reg;          /* KEY_PURPOSE_0 at bits 24..27 (0 = none) */
    uint32_t spi_base;
    uint8_t spi_usr, spi_usr1, spi_usr2, spi_mosi_dlen, spi_miso_dlen, spi_w0; /* dlen 0: in USR1 */
    uint32_t uart_clkdiv_reg, uart_clk_hz;
    uint32_t boot_baud;        /* rate of the ROM's boot text */
    uint32_t image_offset;     /* where the ROM finds the second-stage bootloader */
    uint8_t oui[3];            /* default MAC prefix */
    const char *rom_head;      /* ROM text before the reset line */
    const char *rst_download, *rst_flash; /* reset line in download / flash-boot mode */
    const char *app_name;
};

#define SPI_C3_LIKE(base) base, 0x18, 0x1C, 0x20, 0x24, 0x28, 0x58

static const sim_esp_chip esp_chips[] = {
    {"esp8266", 0xFFF0C101, 2, true, 0, 0, 4, MAC_8266, 0x3FF00050, 0x3FF00050, 0x3FF00060,
     0, 0, 0, 0, 0, 0x60000200, 0x1C, 0x20, 0x24, 0, 0, 0x40, 0x60000014, 52000000, 74880, 0,
     {0x18, 0xFE, 0x34}, "\r\n ets Jan  8 2013,",
     "rst cause:%d, boot mode:(1,7)\r\n\r\n", "rst cause:%d, boot mode:(3,6)\r\n\r\n",
     "OpenESP8266"},
    {"esp32", 0x00F01D83, 4, false, 0, 0, 4, MAC_ESP32, 0x3FF5A000, 0x3FF5A000, 0x3FF5A100,
     0x3FF5A000, 1u << 20, 0x3FF5A018, 1u << 4, 0, 0x3FF42000, 0x1C, 0x20, 0x24, 0x28, 0x2C,
     0x80, 0x3FF40014, 40000000, 115200, 0x1000, {0x24, 0x0A, 0xC4},
     "ets Jun  8 2016 00:22:57\r\n\r\n",
     "rst:0x1 (POWERON_RESET),boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\n"
     "waiting for download\r\n",
     "rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n", "OpenESP32"},
    {"esp32s2", 0x000007C6, 4, false, 12, 2, 5, MAC_BLOCK, 0x3F41A044, 0x3F41A000, 0x3F41A200,
     0x3F41A034, 1u << 18, 0x3F41A038, 1u << 20, 0x3F41A034, SPI_C3_LIKE(0x3F402000),
     0x3F400014, 40000000, 115200, 0x1000, {0x7C, 0xDF, 0xA1},
     "ESP-ROM:esp32s2-rc4-20191025\r\nBuild:Oct 25 2019\r\n",
     "rst:0x1 (POWERON),boot:0x0 (DOWNLOAD(USB/UART0/1))\r\nwaiting for download\r\n",
     "rst:0x1 (POWERON),boot:0x8 (SPI_FAST_FLASH_BOOT)\r\n", "OpenESP32S2"},
    {"esp32s3", 0x00000009, 4, false, 20, 9, 5, MAC_BLOCK, 0x60007044, 0x60007000, 0x60007200,
     0x60007034, 1u << 18, 0x60007038, 1u << 20, 0x60007034, SPI_C3_LIKE(0x60002000),
     0x60000014, 40000000, 115200, 0, {0x34, 0x85, 0x18},
     "ESP-ROM:esp32s3-20210327\r\nBuild:Mar 27 2021\r\n",
     "rst:0x1 (POWERON),boot:0x0 (DOWNLOAD(USB/UART0))\r\nwaiting for download\r\n",
     "rst:0x1 (POWERON),boot:0x8 (SPI_FAST_FLASH_BOOT)\r\n", "OpenESP32S3"},
    {"esp32c2", 0x6F51306F, 4, false, 20, 12, 5, MAC_BLOCK, 0x60008840, 0x60008800, 0x60008A00,
     0x60008830, 1u << 18, 0x60008830, 1u << 21, 0, SPI_C3_LIKE(0x60002000), 0x60000014,
     40000000, 115200, 0, {0x08, 0x3A, 0x8D},
     "ESP-ROM:esp8684-api2-20220127\r\nBuild:Jan 27 2022\r\n",
     "rst:0x1 (POWERON),boot:0x4 (DOWNLOAD(UART0))\r\nwaiting for download\r\n",
     "rst:0x1 (POWERON),boot:0xc (SPI_FAST_FLASH_BOOT)\r\n", "OpenESP32C2"},
    {"esp32c3", 0x1B31506F, 4, false, 20, 5, 5, MAC_BLOCK, 0x60008844, 0x60008800, 0x60008A00,
     0x60008834, 1u << 18, 0x60008838, 1u << 20, 0x60008834, SPI_C3_LIKE(0x60002000),
     0x60000014, 40000000, 115200, 0, {0x58, 0xCF, 0x79},
     "ESP-ROM:esp32c3-api1-20210207\r\nBuild:Feb  7 2021\r\n",
     "rst:0x1 (POWERON),boot:0x5 (DOWNLOAD(USB/UART0/1))\r\nwaiting for download\r\n",
     "rst:0x1 (POWERON),boot:0xc (SPI_FAST_FLASH_BOOT)\r\n", "OpenESP32C3"},
    {"esp32c6", 0x2CE0806F, 4, false, 20, 13, 5, MAC_BLOCK, 0x600B0844, 0x600B0800, 0x600B0A00,
     0x600B0834, 1u << 18, 0x600B0838, 1u << 20, 0x600B0834, SPI_C3_LIKE(0x60003000),
     0x60000014, 40000000, 115200, 0, {0x40, 0x4C, 0xCA},
     "ESP-ROM:esp32c6-20220919\r\nBuild:Sep 19 2022\r\n",
     "rst:0x1 (POWERON),boot:0x6 (DOWNLOAD(USB/UART/SDIO_REI_REO))\r\nwaiting for download\r\n",
     "rst:0x1 (POWERON),boot:0xc (SPI_FAST_FLASH_BOOT)\r\n", "OpenESP32C6"},
};

const sim_esp_chip *sim_esp_chip_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof esp_chips / sizeof esp_chips[0]; i++)
        if (!strcasecmp(esp_chips[i].name, name))
            return &esp_chips[i];
    return NULL;
}

/* Accessors for sim_esp.c (the struct stays private to this file). */
uint8_t sim_esp_status_len(const fl_sim *s) { return s->esp->status_len; }
bool sim_esp_is_8266(const fl_sim *s) { return s->esp->esp8266; }
uint8_t sim_esp_begin_words(const fl_sim *s) { return s->esp->begin_words; }
uint32_t sim_esp_boot_baud(const fl_sim *s) { return s->esp->boot_baud; }

/* ------------------------------------------------------------------ MAC */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

void sim_esp_default_mac(const fl_sim *s, uint32_t seed, uint8_t mac[6])
{
    uint64_t h = mix64((uint64_t)seed * 0x9E3779B97F4A7C15ULL ^ s->esp->magic);
    memcpy(mac, s->esp->oui, 3);
    mac[3] = (uint8_t)(h >> 8), mac[4] = (uint8_t)(h >> 16), mac[5] = (uint8_t)(h >> 24);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The eFuse word at addr, as esptool's read_mac()/security checks read it. */
static uint32_t efuse_word(const fl_sim *s, uint32_t addr)
{
    const sim_esp_chip *c = s->esp;
    const uint8_t *m = s->mac;
    uint32_t v = 0;
    switch (c->mac_kind) {
    case MAC_8266:
        /* MAC = OUI + (MAC1 >> 8, MAC1, MAC0 >> 24); OUI from MAC3 unless it is zero and
         * MAC1 bits 16..23 are 0 (18:FE:34) */
        if (addr == c->mac_reg)
            v = (uint32_t)m[5] << 24;
        else if (addr == c->mac_reg + 4)
            v = (uint32_t)m[3] << 8 | m[4];
        else if (addr == c->mac_reg + 12 && memcmp(m, "\x18\xFE\x34", 3) != 0)
            v = (uint32_t)m[0] << 16 | (uint32_t)m[1] << 8 | m[2];
        break;
    case MAC_ESP32: /* words 1 and 2 of the read base: big-endian (w2, w1)[2:8] */
        if (addr == c->mac_reg + 4)
            v = be32(m + 2);
        else if (addr == c->mac_reg + 8)
            v = (uint32_t)m[0] << 8 | m[1];
        break;
    default: /* MAC_EFUSE_REG, +4: big-endian (mac1, mac0)[2:8] */
        if (addr == c->mac_reg)
            v = be32(m + 2);
        else if (addr == c->mac_reg + 4)
            v = (uint32_t)m[0] << 8 | m[1];
        break;
    }
    if (s->o.esp_flash_crypt && c->crypt_reg && addr == c->crypt_reg)
        v |= c->crypt_bit; /* count 1: odd = encryption on */
    if (s->o.esp_flash_crypt && c->purpose_reg && addr == c->purpose_reg)
        v |= 4u << 24; /* KEY0 purpose XTS_AES_128_KEY: a valid key is there */
    if (s->o.esp_secure_boot && c->sb_reg && addr == c->sb_reg)
        v |= c->sb_bit;
    return v;
}

/* ------------------------------------------------------------------ registers */

static uint32_t reg_get(const fl_sim *s, uint32_t addr)
{
    uint32_t value = 0; /* never written: reads 0 */
    sim_reg_load(s, addr, &value);
    return value;
}

bool sim_esp_reg_read(fl_sim *s, uint32_t addr, uint32_t *value)
{
    const sim_esp_chip *c = s->esp;
    if (addr == 0x40001000) {
        *value = c->magic;
        return true;
    }
    if (addr == c->uart_clkdiv_reg) {
        /* the divider the ROM programmed for the current rate (esptool's crystal guess) */
        *value = s->dev.baud ? c->uart_clk_hz / s->dev.baud : 0;
        return true;
    }
    if (addr >= c->efuse_lo && addr < c->efuse_hi) {
        *value = efuse_word(s, addr);
        return true;
    }
    return false;
}

#define SPI_CMD_USR (1u << 18)
#define SPI_USR_COMMAND (1u << 31)
#define SPI_USR_ADDR (1u << 30)
#define SPI_USR_DUMMY (1u << 29)
#define SPI_USR_MISO (1u << 28)
#define SPI_USR_MOSI (1u << 27)

/* One user-defined SPI transaction as esptool's run_spiflash_command sets it up:
 * command (USR2: length-1 in bits 28..31, value below), address (SPI_ADDR = base + 4,
 * MSB-aligned, length-1 in USR1 bits 26..31), dummy cycles (length-1 in USR1 bits 0..7),
 * MOSI bits from W0.., MISO bits into W0.. (little-endian words). */
static void spi_user_command(fl_sim *s)
{
    const sim_esp_chip *c = s->esp;
    uint32_t b = c->spi_base;
    uint32_t usr = reg_get(s, b + c->spi_usr), usr1 = reg_get(s, b + c->spi_usr1);
    uint32_t usr2 = reg_get(s, b + c->spi_usr2);
    uint32_t mosi_bits = c->spi_mosi_dlen ? (reg_get(s, b + c->spi_mosi_dlen) & 0xFFFFFF) + 1
                                          : ((usr1 >> 17) & 0x1FF) + 1;
    uint32_t miso_bits = c->spi_miso_dlen ? (reg_get(s, b + c->spi_miso_dlen) & 0xFFFFFF) + 1
                                          : ((usr1 >> 8) & 0x1FF) + 1;
    uint32_t mosi = usr & SPI_USR_MOSI ? (mosi_bits + 7) / 8 : 0;
    uint32_t miso = usr & SPI_USR_MISO ? (miso_bits + 7) / 8 : 0;
    if (mosi > 64)
        mosi = 64;
    if (miso > 64)
        miso = 64;
    uint8_t tx[1 + 4 + 32 + 64 + 64] = {0}, rx[sizeof tx];
    uint32_t n = 0;
    if (usr & SPI_USR_COMMAND)
        tx[n++] = (uint8_t)usr2; /* 8-bit commands: esptool's length field is 7 */
    if (usr & SPI_USR_ADDR) {
        uint32_t bits = ((usr1 >> 26) & 0x3F) + 1, addr = reg_get(s, b + 4);
        for (uint32_t k = 0; k < (bits + 7) / 8 && k < 4; k++)
            tx[n++] = (uint8_t)(addr >> (24 - 8 * k)); /* MSB first, MSB-aligned */
    }
    if (usr & SPI_USR_DUMMY)
        n += ((usr1 & 0xFF) + 1 + 7) / 8; /* dummy cycles: MOSI low, MISO ignored */
    for (uint32_t i = 0; i < mosi; i++)
        tx[n++] = (uint8_t)(reg_get(s, b + c->spi_w0 + (i & ~3u)) >> (8 * (i & 3)));
    uint32_t miso_at = n;
    n += miso;
    if (s->dev.esp && s->dev.esp->attached)
        sim_flash_spi(&s->flash, tx, n, rx);
    else
        memset(rx, 0xFF, n); /* flash pins not set up (no SPI_ATTACH yet): MISO floats high */
    for (uint32_t i = 0; i < miso; i++) {
        uint32_t a = b + c->spi_w0 + (i & ~3u), sh = 8 * (i & 3);
        sim_reg_store(s, a, (reg_get(s, a) & ~(0xFFu << sh)) | (uint32_t)rx[miso_at + i] << sh);
    }
}

bool sim_esp_reg_write(fl_sim *s, uint32_t addr, uint32_t value)
{
    const sim_esp_chip *c = s->esp;
    if (addr == 0x40001000 || (addr >= c->efuse_lo && addr < c->efuse_hi))
        return true; /* mask ROM and eFuse read registers: writes do nothing */
    if (addr == c->spi_base && (value & SPI_CMD_USR)) {
        spi_user_command(s);
        sim_reg_store(s, addr, value & ~SPI_CMD_USR); /* done at once: the host's poll sees it clear */
        return true;
    }
    return false;
}

/* ------------------------------------------------------------------ security info */

/* GET_SECURITY_INFO payload (without status bytes); returns its length, 0 = the ROM
 * does not have the command. */
size_t sim_esp_security_info(const fl_sim *s, uint8_t *out)
{
    const sim_esp_chip *c = s->esp;
    if (!c->secinfo_len)
        return 0;
    memset(out, 0, c->secinfo_len);
    uint32_t flags = 0;
    if (s->o.esp_secure_boot)
        flags |= 1u << 0; /* SECURE_BOOT_EN */
    if (s->o.esp_sdm)
        flags |= 1u << 2; /* SECURE_DOWNLOAD_ENABLE */
    out[0] = (uint8_t)flags, out[1] = (uint8_t)(flags >> 8);
    out[4] = s->o.esp_flash_crypt ? 1 : 0; /* SPI_BOOT_CRYPT_CNT */
    if (s->o.esp_flash_crypt)
        out[5] = 4; /* key purpose 0: XTS_AES_128_KEY */
    if (s->o.esp_secure_boot)
        out[6] = 9; /* key purpose 1: SECURE_BOOT_DIGEST0 */
    if (c->secinfo_len >= 20) {
        out[12] = (uint8_t)c->chip_id; /* chip_id (u32 LE), then api_version 0 [assumption] */
    }
    return c->secinfo_len;
}

bool sim_esp_has_sdm(const fl_sim *s)
{
    return s->esp->secinfo_len != 0;
}

/* ------------------------------------------------------------------ texts */

/* The ROM's reset text (at its own rate); download = strap IO0 low. */
size_t sim_esp_rom_banner(const fl_sim *s, bool download, bool power_on, char *buf, size_t cap)
{
    const sim_esp_chip *c = s->esp;
    int n = snprintf(buf, cap, "%s", c->rom_head);
    /* ESP8266 "rst cause": 1 power-on, 2 external (EN) reset */
    snprintf(buf + n, cap - (size_t)n, download ? c->rst_download : c->rst_flash, power_on ? 1 : 2);
    return strlen(buf);
}

/* Does flash hold something the ROM would boot (an image header 0xE9 at its offset)? */
bool sim_esp_image_present(const fl_sim *s, uint32_t *first_word)
{
    uint8_t h[4];
    sim_flash_read(&s->flash, s->esp->image_offset, h, 4);
    *first_word = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
    return h[0] == 0xE9;
}

const char *sim_esp_app_name(const fl_sim *s)
{
    return s->esp->app_name;
}
