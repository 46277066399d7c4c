/* Tuya KV store: synthetic stores built here (every base string, both data
 * magics, stores off the 4 KiB grid, multi-part values, swap copies,
 * duplicates, broken checksums, missing blocks, keys far beyond 32 KiB),
 * then bad inputs (truncated, garbage, erased, OBK config, damaged real
 * dumps) and a mutation smoke run of the fuzz bodies under the sanitizers.
 * Real dumps are only used for structure; no value of theirs is printed. */
#include <stdint.h>

#include "formats/aes.h"
#include "formats/bytes.h"
#include "formats/tuya_extract.h"
#include "formats/tuya_kv.h"
#include "testlib.h"
#include "util/fileio.h"
#include "fuzz/bodies.h"

#define DUMP_DIR SHARED_DIR "/testdata/tuya-dumps"

static uint32_t rng_state = 777;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

/* --- a store builder, written from the spec (A3, A4) ------------------------------------------ */

typedef struct store {
    uint8_t dev[16];
    const char *base;      /* base string bytes */
    size_t base_len;
    uint32_t magic;
    uint8_t blocks[24][4096]; /* plaintext data blocks, block_id = index */
    uint32_t counter[24];
    size_t n_blocks;
    unsigned next_page[24];   /* next free data page per block (index pages from the top) */
    unsigned next_index[24];
} store;

static void store_init(store *s, const char *base, size_t base_len, uint32_t magic, size_t n_blocks)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < 16; i++)
        s->dev[i] = (uint8_t)rnd();
    s->base = base;
    s->base_len = base_len;
    s->magic = magic;
    s->n_blocks = n_blocks;
    for (size_t b = 0; b < n_blocks; b++) {
        memset(s->blocks[b], 0xFF, 4096);
        memset(s->blocks[b] + 0x0F, 0, 4); /* page bitmap: no index pages yet */
        s->next_page[b] = 1;
        s->next_index[b] = 31;
        s->counter[b] = 100 + (uint32_t)b;
    }
}

/* Put a value: index page in block `ib`, data pages from block `db` on,
 * continuing into the next blocks when one fills (multi-part). */
static void store_put(store *s, unsigned ib, unsigned db, const char *name, const uint8_t *v, size_t len,
                      uint32_t element, bool bad_sum)
{
    uint8_t *ip = s->blocks[ib] + s->next_index[ib] * 0x80;
    unsigned page = s->next_index[ib]--;
    s->blocks[ib][0x0F + page / 8] |= (uint8_t)(1u << (page % 8));
    memset(ip, 0, 0x80);
    size_t nl = strlen(name) + 1;
    uint8_t *parts = ip + 0x12 + nl;
    unsigned nparts = 0;
    size_t done = 0;
    while (done < len || nparts == 0) {
        while (s->next_page[db] > 31 || s->next_page[db] >= s->next_index[db] + (db == ib ? 1 : 0))
            db++;
        unsigned first = s->next_page[db], last = first;
        while (done < len) {
            size_t n = len - done < 0x80 ? len - done : 0x80;
            memcpy(s->blocks[db] + last * 0x80, v + done, n);
            done += n;
            if (done >= len || last + 1 > 31 || last + 1 >= s->next_index[db])
                break;
            last++;
        }
        s->next_page[db] = last + 1;
        parts[4 * nparts] = (uint8_t)db;
        parts[4 * nparts + 1] = 0;
        parts[4 * nparts + 2] = (uint8_t)first;
        parts[4 * nparts + 3] = (uint8_t)last;
        nparts++;
        if (len == 0)
            break;
    }
    fl_put_le32(ip, fl_byte_sum(v, len) + (bad_sum ? 1 : 0));
    fl_put_le32(ip + 4, (uint32_t)len);
    ip[8] = (uint8_t)ib, ip[9] = 0;
    ip[0x0A] = (uint8_t)page;
    ip[0x0B] = (uint8_t)nparts, ip[0x0C] = 0;
    fl_put_le32(ip + 0x0D, element);
    ip[0x11] = (uint8_t)nl;
    memcpy(ip + 0x12, name, nl);
}

static void seal_block(const store *s, size_t b, uint8_t *out, uint32_t counter)
{
    memcpy(out, s->blocks[b], 4096);
    memset(out, 0, 0x0F);
    fl_put_le32(out, s->magic);
    out[8] = (uint8_t)b, out[9] = 0;
    fl_put_le32(out + 0x0A, counter);
    out[0x0E] = 4;
    fl_put_le32(out + 4, fl_byte_sum(out + 8, 4096 - 8));
}

static void data_key(const store *s, uint8_t k[16])
{
    static const char p2[] = "HHRRQbyemofrtytf";
    for (int i = 0; i < 16; i++)
        k[i] = (uint8_t)((s->base_len == 16 ? (uint8_t)s->base[i] : (uint8_t)(s->base[i % 4] + p2[i])) + s->dev[i]);
}

/* Write key block + data blocks (encrypted) at `off`. */
static void store_write(const store *s, uint8_t *buf, size_t off)
{
    uint8_t kb[4096];
    memset(kb, 0xFF, sizeof kb);
    fl_put_le32(kb, FL_TUYA_KEY_MAGIC);
    memcpy(kb + 8, s->dev, 16);
    fl_put_le32(kb + 4, fl_byte_sum(s->dev, 16));
    fl_aes128_ecb_encrypt((const uint8_t *)"qwertyuiopasdfgh", kb, buf + off, 4096);
    uint8_t k[16], blk[4096];
    data_key(s, k);
    for (size_t b = 0; b < s->n_blocks; b++) {
        seal_block(s, b, blk, s->counter[b]);
        fl_aes128_ecb_encrypt(k, blk, buf + off + 4096 * (b + 1), 4096);
    }
}

static void random_fill(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)rnd();
}

static const fl_tuya_kv_entry *expect_value(const fl_tuya_kv *kv, const char *name, const uint8_t *v, size_t len)
{
    const fl_tuya_kv_entry *e = fl_tuya_kv_find(kv, name);
    CHECK(e != NULL, "key %s missing", name);
    if (e) {
        CHECK(e->len == len && !memcmp(e->value, v, len), "key %s: value differs (%zu bytes, want %zu)", name, e->len, len);
        CHECK(e->checksum_ok && e->complete, "key %s: checksum/complete", name);
    }
    return e;
}

static void test_synthetic_variants(void)
{
    static const struct {
        const char *name, *bytes;
        size_t len;
    } bases[] = {
        {"8710_2M", "8710_2M", 7},
        {"null (2*P2)", "\x90\x90\xa4\xa4\xa2\xc4\xf2\xca\xda\xde\xcc\xe4\xe8\xf2\xe8\xcc", 16},
        {"8721D", "8721D", 5},
        {"HHRRQbyemofrtytf", "HHRRQbyemofrtytf", 16},
        {"8711AM_4M", "8711AM_4M", 9},
        {"RDA5981_2M", "RDA5981_2M", 10},
    };
    uint8_t big[9000], upk[] = "{Jsonver:1.1.8,module:CB2S,rl1_pin:26,netled1_pin:8,}";
    random_fill(big, sizeof big);
    static store s;
    size_t len = 0x40000;
    uint8_t *buf = malloc(len);
    for (size_t b = 0; b < sizeof bases / sizeof bases[0]; b++) {
        for (int m = 0; m < 2; m++) {
            uint32_t magic = m ? FL_TUYA_DATA_MAGIC_OS3 : FL_TUYA_DATA_MAGIC;
            /* Phases: on the grid, and 0x800 / 0x10 off it (found by the signature). */
            size_t off = (b % 3 == 0) ? 0x5000 : (b % 3 == 1) ? 0x5800 : 0x5010;
            store_init(&s, bases[b].bytes, bases[b].len, magic, 12);
            store_put(&s, 0, 1, "user_param_key", upk, sizeof upk, 1, false);
            store_put(&s, 0, 2, "big", big, sizeof big, 1, false); /* spans blocks 2..5: multi-part */
            store_put(&s, 10, 11, "far_key", (const uint8_t *)"beyond 32 KiB", 13, 1, false);
            random_fill(buf, len);
            store_write(&s, buf, off);
            fl_tuya_kv kv;
            fl_error e;
            fl_status st = fl_tuya_kv_read(buf, len, &kv, &e);
            CHECK(st == FL_OK, "base %s magic %d: %s", bases[b].name, m, e.msg);
            if (st != FL_OK)
                continue;
            CHECK_STR(kv.base_string, bases[b].name);
            CHECK_EQ_UINT(kv.data_magic, magic);
            CHECK_EQ_UINT(kv.key_block_offset, off);
            CHECK_EQ_UINT(kv.data_sectors, 12);
            CHECK(kv.contiguous, "contiguous run");
            CHECK_EQ_UINT(kv.n, 3);
            expect_value(&kv, "user_param_key", upk, sizeof upk);
            expect_value(&kv, "big", big, sizeof big);
            expect_value(&kv, "far_key", (const uint8_t *)"beyond 32 KiB", 13);
            fl_tuya_kv_free(&kv);
        }
    }
    free(buf);
}

static void test_synthetic_faults(void)
{
    static store s;
    size_t len = 0x30000, off = 0x10000;
    uint8_t *buf = malloc(len);
    uint8_t v1[300], v2[300];
    random_fill(v1, sizeof v1);
    random_fill(v2, sizeof v2);
    store_init(&s, "8710_2M", 7, FL_TUYA_DATA_MAGIC, 6);
    store_put(&s, 0, 1, "good", v1, sizeof v1, 1, false);
    store_put(&s, 0, 1, "badsum", v1, 50, 1, true);
    store_put(&s, 0, 5, "missing", v2, 200, 1, false); /* block 5 is removed below */
    store_put(&s, 0, 3, "dup", v1, 10, 1, false);
    store_put(&s, 0, 3, "dup", v2, 20, 7, false);      /* higher element wins */
    random_fill(buf, len);
    store_write(&s, buf, off);
    memset(buf + off + 4096 * 6, 0xFF, 4096);          /* block 5 erased */
    /* A stale swap copy of block 1 with a lower counter, after the run... */
    uint8_t blk[4096], k[16];
    data_key(&s, k);
    store stale = s;
    memset(stale.blocks[1] + 0x80, 0x55, 0x80 * 3);
    seal_block(&stale, 1, blk, 5);
    fl_aes128_ecb_encrypt(k, blk, buf + off + 4096 * 8, 4096);
    fl_tuya_kv kv;
    fl_error e;
    CHECK(fl_tuya_kv_read(buf, len, &kv, &e) == FL_OK, "faulty store: %s", e.msg);
    expect_value(&kv, "good", v1, sizeof v1); /* the higher counter (live) copy was used */
    const fl_tuya_kv_entry *b = fl_tuya_kv_find(&kv, "badsum");
    CHECK(b && !b->checksum_ok && b->complete, "bad checksum flagged");
    const fl_tuya_kv_entry *m = fl_tuya_kv_find(&kv, "missing");
    CHECK(m && !m->complete && !m->checksum_ok, "missing block flagged");
    const fl_tuya_kv_entry *d = fl_tuya_kv_find(&kv, "dup");
    CHECK(d && d->element == 7 && d->len == 20, "duplicate: highest element kept");
    CHECK(!kv.contiguous && kv.data_sectors == 6, "run with a hole: %zu sectors", kv.data_sectors);
    bool w_sum = false, w_missing = false, w_dup = false;
    for (size_t i = 0; i < kv.warnings.n; i++) {
        w_sum |= strstr(kv.warnings.items[i], "'badsum': value checksum mismatch") != NULL;
        w_missing |= strstr(kv.warnings.items[i], "'missing': value incomplete") != NULL;
        w_dup |= strstr(kv.warnings.items[i], "'dup' stored twice") != NULL;
    }
    CHECK(w_sum && w_missing && w_dup, "warnings: sum %d missing %d dup %d", w_sum, w_missing, w_dup);
    fl_tuya_kv_free(&kv);

    /* Now the swap copy is newer: it must win. */
    seal_block(&stale, 1, blk, 500);
    fl_aes128_ecb_encrypt(k, blk, buf + off + 4096 * 8, 4096);
    CHECK(fl_tuya_kv_read(buf, len, &kv, &e) == FL_OK, "swap store: %s", e.msg);
    const fl_tuya_kv_entry *g = fl_tuya_kv_find(&kv, "good");
    CHECK(g && !g->checksum_ok, "the newer copy (with other bytes) was used");
    fl_tuya_kv_free(&kv);

    /* Only the key block: says what it found and what failed. */
    random_fill(buf, len);
    store_write(&s, buf, off);
    random_fill(buf + off + 4096, 6 * 4096);
    CHECK(fl_tuya_kv_read(buf, len, &kv, &e) == FL_ERR_FORMAT, "key block only");
    CHECK(strstr(e.msg, "found 1 key block(s) (first at 0x10000)") && strstr(e.msg, "base strings"), "message: %s", e.msg);

    /* Protected block (same magic, whole-sector checksum) is not a key block. */
    random_fill(buf, len);
    uint8_t pb[4096];
    random_fill(pb, sizeof pb);
    fl_put_le32(pb, FL_TUYA_KEY_MAGIC);
    fl_put_le32(pb + 4, fl_byte_sum(pb + 8, 4096 - 8));
    fl_aes128_ecb_encrypt((const uint8_t *)"qwertyuiopasdfgh", pb, buf + 0x3000, 4096);
    CHECK(fl_tuya_kv_read(buf, len, &kv, &e) == FL_ERR_FORMAT, "protected block only");
    CHECK(strstr(e.msg, "protected block"), "message: %s", e.msg);
    store_write(&s, buf, off);
    CHECK(fl_tuya_kv_read(buf, len, &kv, &e) == FL_OK && kv.protected_block && kv.protected_block_offset == 0x3000 &&
              kv.key_block_candidates == 1, "protected block noted, not a candidate");
    fl_tuya_kv_free(&kv);
    free(buf);
}

static void test_parse_plain(void)
{
    static store s;
    store_init(&s, "8710_2M", 7, FL_TUYA_DATA_MAGIC, 3);
    store_put(&s, 0, 1, "a", (const uint8_t *)"hello", 5, 1, false);
    uint8_t blocks[3 * 4096];
    for (size_t b = 0; b < 3; b++)
        seal_block(&s, b, blocks + 4096 * b, 1);
    fl_tuya_kv kv;
    fl_error e;
    CHECK(fl_tuya_kv_parse_plain(blocks, 3, &kv, &e) == FL_OK, "plain: %s", e.msg);
    expect_value(&kv, "a", (const uint8_t *)"hello", 5);
    fl_tuya_kv_free(&kv);
    memset(blocks, 0, sizeof blocks);
    CHECK(fl_tuya_kv_parse_plain(blocks, 3, &kv, &e) == FL_ERR_FORMAT, "no valid sector");
}

/* --- bad inputs ------------------------------------------------------------------------------- */

static void test_bad_inputs(void)
{
    size_t len;
    uint8_t *d = tl_load(DUMP_DIR "/09-Feconn-FE-MR16-5W-GU5-3-RGBCT-Bulb.bin", &len);
    if (!d)
        return;
    fl_tuya_config c;
    fl_error e;
    static const size_t cuts[] = {1, 100, 4095, 4096, 0x11000, 0x1EE000, 0x1EF000};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        fl_status st = fl_tuya_extract(d, cuts[i], NULL, NULL, &c, &e);
        CHECK(st == FL_ERR_FORMAT, "cut at 0x%zX: status %d", cuts[i], st);
        CHECK(strstr(e.msg, "no Tuya KV"), "cut at 0x%zX: message: %s", cuts[i], e.msg);
    }
    CHECK(fl_tuya_extract(d, 0x1EE000, NULL, NULL, &c, &e) == FL_ERR_FORMAT && strstr(e.msg, "searched 494 sectors"),
          "what was searched: %s", e.msg);
    CHECK(fl_tuya_extract(d, 0x1EF000, NULL, NULL, &c, &e) == FL_ERR_FORMAT && strstr(e.msg, "found 1 key block"),
          "key block without data: %s", e.msg);
    /* Store cut after four data sectors: what is there is decoded, the rest flagged. */
    CHECK(fl_tuya_extract(d, 0x1F3000, NULL, NULL, &c, &e) == FL_OK, "partial store: %s", e.msg);
    CHECK(c.kv.data_sectors == 4 && c.kv.n > 0 && c.kv.n < 13, "partial store: %zu sectors, %zu keys",
          c.kv.data_sectors, c.kv.n);
    fl_tuya_config_free(&c);
    /* A damaged data sector: the store still decodes; damaged keys are flagged or absent. */
    uint8_t *m = malloc(len);
    memcpy(m, d, len);
    m[0x1EF000 + 0x345] ^= 0x01;
    CHECK(fl_tuya_extract(m, len, NULL, NULL, &c, &e) == FL_OK, "damaged sector: %s", e.msg);
    CHECK(c.kv.data_sectors == 16, "damaged sector skipped (%zu)", c.kv.data_sectors);
    fl_tuya_config_free(&c);
    /* Garbage, erased, OBK config. */
    random_fill(m, len);
    CHECK(fl_tuya_extract(m, len, NULL, NULL, &c, &e) == FL_ERR_FORMAT && strstr(e.msg, "searched 512 sectors"),
          "garbage: %s", e.msg);
    memset(m, 0xFF, len);
    CHECK(fl_tuya_extract(m, len, NULL, NULL, &c, &e) == FL_ERR_FORMAT && strstr(e.msg, "erased"), "erased: %s", e.msg);
    memcpy(m, "CFG", 3);
    CHECK(fl_tuya_extract(m, 4096, NULL, NULL, &c, &e) == FL_ERR_FORMAT && strstr(e.msg, "OpenBeken config"),
          "OBK config: %s", e.msg);
    CHECK(fl_tuya_extract(m, 0, NULL, NULL, &c, &e) == FL_ERR_FORMAT && strstr(e.msg, "empty"), "empty: %s", e.msg);
    free(m);
    free(d);
}

/* --- mutation smoke run of the fuzz bodies (a few seconds) ------------------------------------ */

static void test_mutation_smoke(void)
{
    size_t len;
    uint8_t *d = tl_load(DUMP_DIR "/17-QS-WIFI-C03-wifi-gate-opener-module.bin", &len);
    if (!d)
        return;
    size_t n = 0x12000;
    uint8_t *m = malloc(n);
    int runs = 0;
    for (int i = 0; i < 300; i++) {
        memcpy(m, d + 0x1EE000, n);
        int flips = 1 + (int)(rnd() % 8);
        for (int f = 0; f < flips; f++)
            m[rnd() % n] ^= (uint8_t)(1u << (rnd() % 8));
        size_t cut = i % 3 == 0 ? rnd() % n : n;
        fuzz_tuya_extract(m, cut);
        fuzz_image(m, cut);
        fuzz_tuya_kv_plain(m, cut);
        fuzz_crc_crypt(m, cut < 4096 ? cut : 4096);
        runs++;
    }
    /* The code partitions too: bootloader + app start, mutated. */
    for (int i = 0; i < 100; i++) {
        memcpy(m, d, n);
        for (int f = 0; f < 4; f++)
            m[rnd() % n] ^= (uint8_t)rnd();
        fuzz_image(m, n - rnd() % 64);
        runs++;
    }
    CHECK(runs == 400, "ran %d mutations", runs);
    free(m);
    free(d);
}

int main(void)
{
    RUN(test_synthetic_variants);
    RUN(test_synthetic_faults);
    RUN(test_parse_plain);
    RUN(test_bad_inputs);
    RUN(test_mutation_smoke);
    return testlib_finish();
}
