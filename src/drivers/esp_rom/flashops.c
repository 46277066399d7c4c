/* flashops.c — write, read, erase, verify through the ROM loader (flashops.h). */
#include "drivers/esp_rom/flashops.h"

#include <stdlib.h>
#include <string.h>

#include "drivers/esp_rom/reset.h"
#include "drivers/esp_rom/session.h"
#include "util/clock.h"

#define DATA_WINDOW 3   /* FLASH_DATA frames in flight: 3 x ~1.06 KB, well inside the ROM's
                           0x2000-byte receive buffer, one programmed while the next arrive */
#define READ_WINDOW 16  /* READ_FLASH_SLOW requests in flight (18 bytes each) */
#define MD5_WINDOW 8    /* SPI_FLASH_MD5 requests in flight */
#define QUIET_S 0.03    /* the line is quiet: no reply to a given-up command is still coming */
#define LATE_S 1.5      /* how late a held-up reply may come before the unit counts as gone */
#define ERASE_S_PER_MB 40.0 /* esptool's ERASE_REGION_TIMEOUT_PER_MB: worst-case NOR erase */

bool esp_can_read(const esp_rom *e)
{
    return !e->t->is_8266 && !e->sdm;
}

static fl_status cannot_read(const esp_rom *e, const char *what, fl_error *err)
{
    if (e->sdm)
        return fl_fail(err, FL_ERR_REFUSED, "this unit's ROM is in Secure Download Mode: it "
                       "cannot be read or backed up (%s needs READ_FLASH_SLOW / SPI_FLASH_MD5, "
                       "which that mode refuses)", what);
    return fl_fail(err, FL_ERR_REFUSED, "the ESP8266 ROM loader can neither read flash nor "
                   "compute its MD5: %s is not possible without a RAM stub (not part of "
                   "flashline)", what);
}

#define MAX_REGAINS 3 /* resets of the unit one operation survives */

/* Commands sent ahead rest on an assumption (COMMON: the ROM buffers what
 * arrives while it works; esptool never sends ahead).  A ROM that does not
 * would lose them, and every loss costs a recovery: after this many in one
 * session, the driver sends one command at a time, which is right on any ROM
 * (slower, never wrong). */
#define RECOVERIES_BEFORE_ONE_AT_A_TIME 4

/* How many commands may be in flight: `ahead`, or 1 once the line has shown it
 * loses commands sent ahead (or simply loses many). */
static size_t in_flight(const esp_rom *e, size_t ahead)
{
    return e->one_at_a_time ? 1 : ahead;
}

/* Start of an operation: boot text from before does not count. */
static void op_begin(esp_rom *e)
{
    esp_slip_clear_text(&e->dec);
    e->regains_left = MAX_REGAINS;
    e->watch_reset = true;
    e->noise_mark = e->dec.noise;
}

/* After trouble (the line quiet again): is the loader still there?  Boot
 * text means the unit reset; no SYNC answer means it is gone too. */
static fl_status check_loader(esp_rom *e, fl_error *err)
{
    bool answered = false;
    fl_status st = FL_OK;
    /* a garbled reply or a ROM error came from a loader that is there */
    if (!e->last_wait_silent && !esp_saw_reset(e) && !esp_saw_noise(e))
        return FL_OK;
    /* A reply held up on the way (a busy USB adapter or RFC 2217 server) is
     * not a reset: the SYNC queues behind it, so without boot text or noise
     * the loader gets LATE_S to answer, replies that were still coming drained
     * on the way - resetting a unit that was only slow costs far more. */
    double until = fl_now() + LATE_S;
    for (int i = 0; !answered && !esp_saw_reset(e); i++) {
        if (i > 0 && (esp_saw_noise(e) || fl_now() >= until))
            break;
        if ((st = esp_sync(e, 0.1, &answered, err)))
            return st;
        if (!answered && !e->last_wait_silent && (st = esp_drain(e, QUIET_S, 2.0, err)))
            return st;
    }
    if (answered && !esp_saw_reset(e)) {
        e->noise_mark = e->dec.noise; /* whatever it was, the loader is there */
        return FL_OK;
    }
    if (e->regains_left == 0)
        return fl_fail(err, FL_ERR_RESET, "the %s keeps resetting during the operation "
                       "(brown-out? check its 3.3 V supply); rerun", e->t->display);
    e->regains_left--;
    return esp_regain(e, err);
}

/* Drain after an anomaly, make sure the loader is still there, count the
 * retry; give up after `max`. */
/* Every line trouble of the session passes here (writes, MD5s and reads alike):
 * it counts the retry and, after RECOVERIES_BEFORE_ONE_AT_A_TIME, stops the
 * sending ahead. */
static void note_trouble(esp_rom *e)
{
    e->retries++;
    if (++e->recoveries == RECOVERIES_BEFORE_ONE_AT_A_TIME && !e->one_at_a_time) {
        e->one_at_a_time = true;
        fl_logf(e->ev, FL_LOG_WARN, "%u line troubles in this session: sending one command "
                "at a time from now on (slower; a ROM that cannot take commands sent ahead "
                "loses them)", e->recoveries);
    }
}

static fl_status recover(esp_rom *e, unsigned *count, unsigned max, const char *what,
                         uint32_t at, fl_error *err)
{
    note_trouble(e);
    if (++*count > max)
        return fl_fail(err, FL_ERR_LINK, "%s at 0x%06X: the line keeps losing or garbling "
                       "replies (%u retries): check the cable, or lower --baud", what, at, max);
    fl_status st = esp_drain(e, QUIET_S, 2.0, err);
    return st ? st : check_loader(e, err);
}

/* ---- MD5s, several in flight ---------------------------------------------------------- */

/* The ROM's MD5 of n ranges (starts[i], lens[i]) into md5s[16 * i]. */
static fl_status md5_ranges(esp_rom *e, const uint32_t *starts, const uint32_t *lens, size_t n,
                            uint8_t *md5s, fl_error *err)
{
    size_t done = 0;
    unsigned troubles = 0;
    while (done < n) {
        size_t sent = done;
        bool broke = false;
        fl_status st = FL_OK;
        while (done < n && !broke) {
            while (sent < n && sent - done < in_flight(e, MD5_WINDOW)) {
                uint8_t body[16] = {0};
                fl_put_le32(body, starts[sent]);
                fl_put_le32(body + 4, lens[sent]);
                if ((st = esp_send(e, ESP_SPI_FLASH_MD5, body, 16, 0, err)))
                    return st;
                sent++;
            }
            double device = 0;
            for (size_t i = done; i < sent; i++)
                device += lens[i] / 1e6;
            esp_reply r;
            esp_rx how;
            if ((st = esp_wait(e, ESP_SPI_FLASH_MD5, 32, esp_timeout(e, 64 * (sent - done), device),
                               &r, &how, err)))
                return st;
            if (how == ESP_RX_OK && esp_md5_parse(r.data, r.len >= 34 ? 32 : 0, md5s + 16 * done))
                done++;
            else
                broke = true;
        }
        if (broke && (st = recover(e, &troubles, 8 + (unsigned)n / 8, "the flash MD5",
                                   starts[done], err)))
            return st;
    }
    return FL_OK;
}

/* Per-sector ranges of [addr, addr+len) cut at 4 KiB boundaries. */
static size_t sector_ranges(uint32_t addr, uint32_t len, uint32_t **starts, uint32_t **lens)
{
    size_t n = 0, cap = len / ESP_SECTOR + 2;
    *starts = calloc(cap, sizeof **starts);
    *lens = calloc(cap, sizeof **lens);
    if (!*starts || !*lens)
        return 0;
    for (uint32_t a = addr; a < addr + len;) {
        uint32_t next = (a & ~(ESP_SECTOR - 1)) + ESP_SECTOR;
        if (next > addr + len)
            next = addr + len;
        (*starts)[n] = a;
        (*lens)[n++] = next - a;
        a = next;
    }
    return n;
}

/* ---- read ------------------------------------------------------------------------------ */

/* One sector (or part of one): its READ_FLASH_SLOW requests and its MD5 in
 * flight together; true in *proven when the bytes match the ROM's MD5. */
static fl_status read_piece(esp_rom *e, uint32_t a, uint32_t n, uint8_t *out, bool *proven,
                            fl_error *err)
{
    uint32_t chunks = (n + ESP_READ_CHUNK - 1) / ESP_READ_CHUNK, sent = 0, got = 0;
    fl_status st;
    *proven = false;
    while (got <= chunks) { /* chunks reads, then the MD5 */
        while (sent <= chunks && sent - got < in_flight(e, READ_WINDOW)) {
            uint8_t body[16] = {0};
            if (sent < chunks) {
                uint32_t off = sent * ESP_READ_CHUNK;
                uint32_t k = n - off < ESP_READ_CHUNK ? n - off : ESP_READ_CHUNK;
                fl_put_le32(body, a + off);
                fl_put_le32(body + 4, k);
                st = esp_send(e, ESP_READ_FLASH_SLOW, body, 8, 0, err);
            } else {
                fl_put_le32(body, a);
                fl_put_le32(body + 4, n);
                st = esp_send(e, ESP_SPI_FLASH_MD5, body, 16, 0, err);
            }
            if (st)
                return st;
            sent++;
        }
        bool md5 = got == chunks;
        esp_reply r;
        esp_rx how;
        if ((st = esp_wait(e, md5 ? ESP_SPI_FLASH_MD5 : ESP_READ_FLASH_SLOW,
                           md5 ? 32 : ESP_READ_CHUNK,
                           esp_timeout(e, 96 * (sent - got), md5 ? n / 1e6 : 0), &r, &how, err)))
            return st;
        if (how != ESP_RX_OK)
            return FL_OK; /* not proven: the caller drains and asks again */
        if (md5) {
            uint8_t dev[16], host[16];
            if (!esp_md5_parse(r.data, r.len >= 34 ? 32 : 0, dev))
                return FL_OK;
            esp_md5_host(out, n, host);
            *proven = !memcmp(dev, host, 16);
            return FL_OK;
        }
        if (r.len < ESP_READ_CHUNK + 2)
            return FL_OK;
        uint32_t off = got * ESP_READ_CHUNK;
        memcpy(out + off, r.data, n - off < ESP_READ_CHUNK ? n - off : ESP_READ_CHUNK);
        got++;
    }
    return FL_OK;
}

/* Sector-sized pieces while the line is good; a piece that fails is asked
 * again in halves (down to 256 bytes: ~10 messages, so even a line that
 * loses one message in a hundred gets through), growing back on success. */
#define READ_PIECE_MIN 256u
#define READ_GIVE_UP 12 /* failures in a row at the smallest piece */

fl_status esp_op_read(esp_rom *e, uint32_t addr, uint32_t len, uint8_t *out, fl_error *err)
{
    if (!esp_can_read(e))
        return cannot_read(e, "reading flash", err);
    op_begin(e);
    uint32_t piece = ESP_SECTOR;
    unsigned in_a_row = 0;
    for (uint32_t a = addr; a < addr + len;) {
        uint32_t next = (a & ~(piece - 1)) + piece;
        if (next > addr + len)
            next = addr + len;
        bool proven;
        fl_status st = read_piece(e, a, next - a, out + (a - addr), &proven, err);
        if (st)
            return st;
        if (!proven) {
            note_trouble(e);
            if (piece > READ_PIECE_MIN)
                piece /= 2;
            else if (++in_a_row > READ_GIVE_UP)
                return fl_fail(err, FL_ERR_LINK, "reading at 0x%06X: the line keeps losing or "
                               "garbling replies (%u tries of %u bytes): check the cable, or "
                               "lower --baud", a, in_a_row, piece);
            if ((st = esp_drain(e, QUIET_S, 2.0, err)) || (st = check_loader(e, err)))
                return st;
            continue;
        }
        in_a_row = 0;
        if (piece < ESP_SECTOR && (next & (2 * piece - 1)) == 0)
            piece *= 2;
        fl_progress(e->ev, "read", next - addr, len);
        a = next;
    }
    return FL_OK;
}

/* ---- write -------------------------------------------------------------------------------- */

/* The ESP8266 ROM's SPIEraseArea bug (esptool issue #33): asked to erase E
 * sectors from sector s it erases 2E when the region stays below the next
 * 64 KiB boundary (h = 16 - s % 16 sectors away), else E + h.  esptool's
 * get_erase_size asks for less so that n sectors come out - exactly when n
 * is even or n >= 2h; an odd n below 2h erases one sector too many. */
static uint32_t head_sectors(uint32_t offset)
{
    return 16 - (offset / ESP_SECTOR) % 16;
}

static bool erase_exact(const esp_rom *e, uint32_t offset, uint32_t sectors)
{
    return !e->t->is_8266 || sectors % 2 == 0 || sectors >= 2 * head_sectors(offset);
}

static uint32_t erase_size(const esp_rom *e, uint32_t offset, uint32_t size)
{
    if (!e->t->is_8266)
        return size;
    uint32_t sectors = (size + ESP_SECTOR - 1) / ESP_SECTOR, head = head_sectors(offset);
    if (sectors < head)
        head = sectors;
    if (sectors < 2 * head)
        return (sectors + 1) / 2 * ESP_SECTOR;
    return (sectors - head) * ESP_SECTOR;
}

/* How much of [pos, end) one FLASH_BEGIN may cover so that the ROM erases
 * nothing outside it that is not erased again and written later: all of it
 * when the erase comes out exact; else (ESP8266, odd count below 2h) one
 * sector, whose extra erased sector is the next of the same run. */
static uint32_t piece_size(const esp_rom *e, uint32_t pos, uint32_t end)
{
    uint32_t sectors = (end - pos) / ESP_SECTOR;
    return erase_exact(e, pos, sectors) ? end - pos : ESP_SECTOR;
}

static fl_status flash_begin(esp_rom *e, uint32_t offset, uint32_t size, uint32_t blocks,
                             fl_error *err)
{
    uint8_t body[20];
    fl_put_le32(body, erase_size(e, offset, size));
    fl_put_le32(body + 4, blocks);
    fl_put_le32(body + 8, ESP_BLOCK);
    fl_put_le32(body + 12, offset);
    fl_put_le32(body + 16, 0); /* not encrypted (ROMs after the ESP32 take this word) */
    esp_reply r;
    /* one try: the caller checks the loader is still there before asking again */
    return esp_command(e, "erasing", ESP_FLASH_BEGIN, body, e->t->begin_has_encrypt ? 20 : 16, 0,
                       esp_timeout(e, 0, size / 1e6 * ERASE_S_PER_MB), 1, &r, err);
}

/* Blocks worth sending of [0, size) of img: up to the last one holding a
 * byte other than 0xFF (an erased block needs no programming). */
static uint32_t blocks_to_send(const uint8_t *img, uint32_t size)
{
    uint32_t n = size / ESP_BLOCK;
    while (n > 0) {
        if (!fl_all_bytes(img + (n - 1) * ESP_BLOCK, ESP_BLOCK, 0xFF))
            break;
        n--;
    }
    return n;
}

/* FLASH_DATA blocks [0, nb) of a run begun at `pos`; *acked how many were
 * answered OK before trouble (nb when all were). */
static fl_status send_blocks(esp_rom *e, const uint8_t *img, uint32_t nb, uint32_t *acked,
                             uint32_t pos, uint32_t span_base, uint32_t total, fl_error *err)
{
    uint32_t sent = 0;
    uint8_t body[16 + ESP_BLOCK];
    *acked = 0;
    while (*acked < nb) {
        while (sent < nb && sent - *acked < in_flight(e, DATA_WINDOW)) {
            const uint8_t *blk = img + sent * ESP_BLOCK;
            fl_put_le32(body, ESP_BLOCK);
            fl_put_le32(body + 4, sent); /* seq */
            fl_put_le32(body + 8, 0);
            fl_put_le32(body + 12, 0);
            memcpy(body + 16, blk, ESP_BLOCK);
            fl_status st = esp_send(e, ESP_FLASH_DATA, body, sizeof body,
                                    esp_checksum(blk, ESP_BLOCK), err);
            if (st)
                return st;
            sent++;
        }
        esp_reply r;
        esp_rx how;
        fl_status st = esp_wait(e, ESP_FLASH_DATA, 0,
                                esp_timeout(e, (sent - *acked) * (ESP_BLOCK + 40), 0.05), &r, &how,
                                err);
        if (st)
            return st;
        if (how != ESP_RX_OK)
            return FL_OK;
        ++*acked;
        fl_progress(e->ev, "write", pos + *acked * ESP_BLOCK - span_base, total);
    }
    return FL_OK;
}

/* Erase and program [start, start+size) (sector-aligned) from img. */
static fl_status write_run(esp_rom *e, uint32_t start, uint32_t size, const uint8_t *img,
                           uint32_t span_base, uint32_t total, unsigned *troubles, fl_error *err)
{
    uint32_t pos = start, end = start + size;
    unsigned rom_refusals = 0;
    while (pos < end) {
        if (e->t->is_8266 && end - pos == ESP_SECTOR && pos > start)
            pos -= ESP_SECTOR; /* one sector alone cannot be erased exactly: take two */
        uint32_t piece = piece_size(e, pos, end);
        const uint8_t *from = img + (pos - span_base);
        uint32_t nb = blocks_to_send(from, piece), acked;
        fl_status st = flash_begin(e, pos, piece, nb, err);
        if (st == FL_ERR_TIMEOUT || st == FL_ERR_PROTOCOL) {
            /* the ROM refusing the erase three times is its verdict; anything else
             * (a lost reply, a reset) is worth another try */
            if (e->last_rom_error && ++rom_refusals >= 3)
                return fl_fail_prefix(err, "0x%06X..0x%06X", pos, pos + piece);
            if ((st = recover(e, troubles, 10 + total / 0x10000, "erasing", pos, err)))
                return st;
            continue;
        }
        if (st)
            return fl_fail_prefix(err, "0x%06X..0x%06X", pos, pos + piece);
        if ((st = send_blocks(e, from, nb, &acked, pos, span_base, total, err)))
            return st;
        if (acked == nb) {
            pos += piece;
            continue;
        }
        /* the block after the last answered one is in doubt (and those behind it
         * in flight): erase again from its sector, send from there */
        uint32_t doubt = pos + acked * ESP_BLOCK;
        if ((st = recover(e, troubles, 10 + total / 0x10000, "writing", doubt, err)))
            return st;
        pos = doubt & ~(ESP_SECTOR - 1);
    }
    return FL_OK;
}

/* Sectors of the span whose content differs from img (all of them when the
 * ROM cannot tell).  After a write every sector of the span is asked again,
 * not only the written ones: a FLASH_BEGIN whose offset the line garbled
 * erases elsewhere, and inside the span that is caught here. */
static fl_status find_dirty(esp_rom *e, uint32_t base, uint32_t nsect, const uint8_t *img,
                            bool *dirty, fl_error *err)
{
    if (!esp_can_read(e)) {
        for (uint32_t i = 0; i < nsect; i++)
            dirty[i] = true;
        return FL_OK;
    }
    uint32_t *starts, *lens;
    size_t n = sector_ranges(base, nsect * ESP_SECTOR, &starts, &lens);
    uint8_t *md5s = calloc(nsect, 16);
    fl_status st = n == nsect && md5s ? md5_ranges(e, starts, lens, n, md5s, err)
                                      : fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    for (uint32_t i = 0; !st && i < nsect; i++) {
        uint8_t host[16];
        esp_md5_host(img + (size_t)i * ESP_SECTOR, ESP_SECTOR, host);
        dirty[i] = memcmp(host, md5s + 16 * i, 16) != 0;
    }
    free(starts), free(lens), free(md5s);
    return st;
}

/* The span [base, base + nsect sectors) as it must end up: data over the
 * current content of partial head/tail sectors. */
static fl_status build_image(esp_rom *e, uint32_t addr, const uint8_t *data, uint32_t len,
                             uint32_t base, uint32_t span, uint8_t *img, fl_error *err)
{
    fl_status st;
    bool head = addr != base, tail = addr + len != base + span;
    const char *rom = e->sdm ? "a ROM in Secure Download Mode" : "the ESP8266 ROM";
    if (head && !esp_can_read(e))
        return fl_fail(err, FL_ERR_REFUSED,
                       "0x%06X..0x%06X does not start on a 4 KiB sector boundary, and %s cannot "
                       "read flash to keep the start of that sector: write from a 0x1000 "
                       "multiple", addr, addr + len, rom);
    memset(img, 0xFF, span);
    if (tail && !esp_can_read(e)) {
        /* A release image (OpenESP8266_*.factory.bin) ends anywhere: what follows it
         * in its last sector is the free end of the app partition.  This ROM cannot
         * read it to keep it, so it is erased (as esptool's writes do) — said, not
         * done silently. */
        fl_logf(e->ev, FL_LOG_WARN,
                "0x%06X..0x%06X (the rest of the last sector after the data) is erased: %s "
                "cannot read it to keep it", addr + len, base + span, rom);
        tail = false;
    }
    if (head && (st = esp_op_read(e, base, ESP_SECTOR, img, err)))
        return fl_fail_prefix(err, "keeping the rest of sector 0x%06X", base);
    if (tail && (span > ESP_SECTOR || !head) &&
        (st = esp_op_read(e, base + span - ESP_SECTOR, ESP_SECTOR, img + span - ESP_SECTOR, err)))
        return fl_fail_prefix(err, "keeping the rest of sector 0x%06X", base + span - ESP_SECTOR);
    memcpy(img + (addr - base), data, len);
    return FL_OK;
}

/* Write the dirty runs, then prove them; runs that fail the MD5 are written again. */
static fl_status write_dirty(esp_rom *e, uint32_t base, uint32_t nsect, const uint8_t *img,
                             bool *dirty, fl_error *err)
{
    uint32_t span = nsect * ESP_SECTOR;
    unsigned troubles = 0;
    for (int round = 0; round < 3; round++) {
        bool any = false;
        for (uint32_t i = 0; i < nsect;) {
            if (!dirty[i]) {
                i++;
                continue;
            }
            uint32_t j = i;
            while (j < nsect && dirty[j])
                j++;
            fl_status st = write_run(e, base + i * ESP_SECTOR, (j - i) * ESP_SECTOR, img, base,
                                     span, &troubles, err);
            if (st)
                return st;
            any = true;
            i = j;
        }
        if (!any || !esp_can_read(e))
            return FL_OK;
        /* the proof: the ROM's MD5 of every sector written */
        bool *again = calloc(nsect, sizeof *again);
        if (!again)
            return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
        fl_status st = find_dirty(e, base, nsect, img, again, err);
        bool bad = false;
        for (uint32_t i = 0; !st && i < nsect; i++) {
            dirty[i] = dirty[i] && again[i];
            bad |= dirty[i];
        }
        free(again);
        if (st || !bad)
            return st;
        e->retries++;
        fl_logf(e->ev, FL_LOG_WARN, "some sectors do not hold what was written (MD5 differs): "
                "writing them again");
    }
    for (uint32_t i = 0; i < nsect; i++)
        if (dirty[i])
            return fl_fail(err, FL_ERR_VERIFY, "sector 0x%06X does not hold what was written "
                           "after 3 tries (the ROM's MD5 differs): the flash may be worn or "
                           "write-protected", base + i * ESP_SECTOR);
    return FL_OK;
}

static fl_status write_span(esp_rom *e, uint32_t addr, const uint8_t *data, uint32_t len,
                            bool count_blocks, fl_error *err)
{
    if (len == 0)
        return FL_OK;
    op_begin(e);
    uint32_t base = addr & ~(ESP_SECTOR - 1);
    uint32_t span = ((addr + len + ESP_SECTOR - 1) & ~(ESP_SECTOR - 1)) - base;
    uint32_t nsect = span / ESP_SECTOR;
    if (e->t->is_8266 && nsect == 1)
        return fl_fail(err, FL_ERR_REFUSED,
                       "the ESP8266 ROM cannot erase the single 4 KiB sector 0x%06X alone: its "
                       "erase bug (SPIEraseArea) takes 0x%06X with it, which it cannot read to "
                       "keep; write at least two sectors (e.g. 0x%06X..0x%06X)",
                       base, base + ESP_SECTOR, base, base + 2 * ESP_SECTOR);
    uint8_t *img = malloc(span);
    bool *dirty = calloc(nsect, sizeof *dirty);
    fl_status st = img && dirty ? FL_OK : fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    if (!st)
        st = build_image(e, addr, data, len, base, span, img, err);
    if (!st)
        st = find_dirty(e, base, nsect, img, dirty, err);
    unsigned n_dirty = 0;
    for (uint32_t i = 0; !st && i < nsect; i++)
        n_dirty += dirty[i];
    if (!st)
        st = write_dirty(e, base, nsect, img, dirty, err);
    if (!st && count_blocks) {
        e->blocks_written += n_dirty;
        e->blocks_skipped += nsect - n_dirty;
    }
    if (!st)
        fl_progress(e->ev, "write", span, span);
    free(img);
    free(dirty);
    return st;
}

fl_status esp_op_write(esp_rom *e, uint32_t addr, const uint8_t *data, uint32_t len,
                       fl_error *err)
{
    return write_span(e, addr, data, len, true, err);
}

fl_status esp_op_erase(esp_rom *e, uint32_t addr, uint32_t len, fl_error *err)
{
    uint8_t *ff = malloc(len ? len : 1);
    if (!ff)
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    memset(ff, 0xFF, len);
    fl_status st = write_span(e, addr, ff, len, true, err);
    free(ff);
    if (st || !esp_can_read(e))
        return st;
    /* the range as a whole reads erased (each sector was proven on the way) */
    uint8_t dev[16], want[16];
    if ((st = esp_flash_md5(e, addr, len, dev, err)))
        return st;
    esp_md5_erased(len, want);
    if (memcmp(dev, want, 16))
        return fl_fail(err, FL_ERR_VERIFY, "0x%06X..0x%06X does not read erased after the erase "
                       "(the ROM's MD5 differs)", addr, addr + len);
    return FL_OK;
}

/* ---- verify -------------------------------------------------------------------------------- */

fl_status esp_op_verify(esp_rom *e, uint32_t addr, const uint8_t *data, uint32_t len,
                        uint32_t *bad_addr, fl_error *err)
{
    if (!esp_can_read(e))
        return cannot_read(e, "verifying", err);
    op_begin(e);
    uint32_t *starts, *lens;
    size_t n = sector_ranges(addr, len, &starts, &lens);
    uint8_t *md5s = n ? malloc(16 * n) : NULL;
    fl_status st = n && md5s ? md5_ranges(e, starts, lens, n, md5s, err)
                             : len ? fl_fail(err, FL_ERR_INTERNAL, "out of memory") : FL_OK;
    for (size_t i = 0; !st && i < n; i++) {
        uint8_t host[16], again[16];
        esp_md5_host(data + (starts[i] - addr), lens[i], host);
        if (!memcmp(host, md5s + 16 * i, 16))
            continue;
        /* a garbled digit must not condemn a sector: ask once more */
        if ((st = esp_flash_md5(e, starts[i], lens[i], again, err)))
            break;
        if (!memcmp(host, again, 16))
            continue;
        if (bad_addr)
            *bad_addr = starts[i];
        st = fl_fail(err, FL_ERR_VERIFY, "0x%06X..0x%06X differs from the file (the ROM's MD5)",
                     starts[i], starts[i] + lens[i]);
    }
    if (!st)
        fl_progress(e->ev, "verify", len, len);
    free(starts), free(lens), free(md5s);
    return st;
}

/* ---- reboot ----------------------------------------------------------------------------------- */

fl_status esp_op_reboot(esp_rom *e, fl_error *err)
{
    fl_status st;
    if (e->reset_works) {
        fl_logf(e->ev, FL_LOG_INFO, "hard resetting via RTS");
        st = esp_hard_reset(e, err);
    } else {
        /* esptool's soft reset for ROMs: "run user code" (no reply is promised) */
        uint8_t body[20] = {0}, one[4];
        fl_put_le32(body + 8, ESP_BLOCK);
        esp_reply r;
        st = esp_command(e, "leaving the loader", ESP_FLASH_BEGIN, body,
                         e->t->begin_has_encrypt ? 20 : 16, 0, esp_timeout(e, 0, 0), 3, &r, err);
        fl_put_le32(one, 1);
        if (!st)
            st = esp_send(e, ESP_FLASH_END, one, 4, 0, err);
        if (!st)
            st = esp_drain(e, QUIET_S, 0.3, err);
    }
    if (!st)
        e->rebooted = true;
    return st;
}
