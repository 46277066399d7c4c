/* tuya_kv.c — locate, decrypt and rebuild the Tuya KV store (spec A1-A4).
 *
 * Strategy (A11 steps 2-4, made robust):
 *  1. Key-block candidates: every 4 KiB-aligned sector whose first AES block
 *     decrypts (master key) to the magic, plus every hit of the ciphertext
 *     signature at any offset (catches stores at an unusual 4 KiB phase).
 *     A candidate is accepted only if its 16-byte checksum holds, which
 *     rejects the protected block of A5 (same magic, other checksum).
 *  2. For each candidate and base string, scan *all* sectors of the same
 *     phase for data blocks (both magics, checksum over the whole sector).
 *     Scanning everything instead of a fixed window is what finds keys beyond
 *     the first 32 KiB (bk7231tools' limit, D2).  A random 128-bit device key
 *     makes a false match practically impossible, so the first base string
 *     that yields data wins; the candidate with the most sectors wins.
 *  3. Live copy per block id: highest counter, ties to the lowest offset (D3).
 *  4. Index pages -> values; every value's byte sum is checked. */
#include "formats/tuya_kv.h"

#include <stdlib.h>
#include <string.h>

#include "formats/aes.h"
#include "formats/bytes.h"

static const uint8_t master_key[16] = "qwertyuiopasdfgh";
static const uint8_t key_part2[16] = "HHRRQbyemofrtytf";

const uint8_t fl_tuya_key_block_signature[16] = {0x46, 0xDC, 0xED, 0x0E, 0x67, 0x2F, 0x3B, 0x70,
                                                 0xAE, 0x12, 0x76, 0xA3, 0xF8, 0x71, 0x2E, 0x03};

/* Base strings (A3), in the order they are tried.  16-byte entries are
 * added to the device key as they are; shorter ones through the
 * P1[i mod 4] + P2[i] rule. */
static const struct base_string {
    const char *name;
    const char *bytes;
    size_t len;
} base_strings[] = {
    {"8710_2M", "8710_2M", 7},
    {"null (2*P2)", "\x90\x90\xa4\xa4\xa2\xc4\xf2\xca\xda\xde\xcc\xe4\xe8\xf2\xe8\xcc", 16},
    {"8721D", "8721D", 5},
    {"HHRRQbyemofrtytf", "HHRRQbyemofrtytf", 16},
    {"8711AM_4M", "8711AM_4M", 9},
    {"RDA5981_2M", "RDA5981_2M", 10},
};
#define N_BASES (sizeof base_strings / sizeof base_strings[0])

typedef struct sector {
    size_t offset;
    uint32_t magic;
    uint16_t block_id;
    uint32_t counter;
    uint8_t *plain; /* 4096 decrypted bytes */
} sector;

typedef struct sector_set {
    sector *s;
    size_t n;
} sector_set;

static void sector_set_free(sector_set *ss)
{
    for (size_t i = 0; i < ss->n; i++) {
        explicit_bzero(ss->s[i].plain, FL_TUYA_SECTOR); /* decrypted: holds secrets */
        free(ss->s[i].plain);
    }
    free(ss->s);
    ss->s = NULL;
    ss->n = 0;
}

static void derive_data_key(const uint8_t dev[16], const struct base_string *b, uint8_t out[16])
{
    for (int i = 0; i < 16; i++) {
        unsigned v = b->len == 16 ? (uint8_t)b->bytes[i]
                                  : (uint8_t)b->bytes[i % 4] + key_part2[i];
        out[i] = (uint8_t)(v + dev[i]);
    }
}

/* Sectors at offsets phase, phase+4096, ... that fit in the buffer. */
static size_t sectors_at_phase(size_t len, size_t phase)
{
    return len < phase + FL_TUYA_SECTOR ? 0 : (len - phase) / FL_TUYA_SECTOR;
}

/* Decrypt the first AES block of every sector of one phase in one call. */
static uint8_t *first_blocks(fl_aes_ecb *aes, const uint8_t *buf, size_t len, size_t phase,
                             size_t *count)
{
    size_t n = sectors_at_phase(len, phase);
    *count = n;
    uint8_t *g = malloc(n * 16 + 16);
    if (!g)
        return NULL;
    for (size_t i = 0; i < n; i++)
        memcpy(g + i * 16, buf + phase + i * FL_TUYA_SECTOR, 16);
    if (!fl_aes_ecb_decrypt(aes, g, g, n * 16)) {
        free(g);
        return NULL;
    }
    return g;
}

/* All valid data sectors under key K at the given phase. */
static fl_status scan_data(const uint8_t *buf, size_t len, size_t phase, const uint8_t K[16],
                           size_t skip_offset, sector_set *out, fl_error *err)
{
    memset(out, 0, sizeof *out);
    fl_aes_ecb aes;
    if (!fl_aes_ecb_init(&aes, K))
        return fl_fail(err, FL_ERR_INTERNAL, "libcrypto: cannot set up AES-128-ECB");
    size_t n;
    uint8_t *g = first_blocks(&aes, buf, len, phase, &n);
    if (!g) {
        fl_aes_ecb_free(&aes);
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory or AES failure scanning sectors");
    }
    fl_status st = FL_OK;
    for (size_t i = 0; i < n; i++) {
        uint32_t magic = fl_le32(g + i * 16);
        size_t off = phase + i * FL_TUYA_SECTOR;
        if ((magic != FL_TUYA_DATA_MAGIC && magic != FL_TUYA_DATA_MAGIC_OS3) || off == skip_offset)
            continue;
        uint8_t *p = malloc(FL_TUYA_SECTOR);
        if (!p) {
            st = fl_fail(err, FL_ERR_INTERNAL, "out of memory decrypting sectors");
            break;
        }
        if (!fl_aes_ecb_decrypt(&aes, buf + off, p, FL_TUYA_SECTOR) ||
            fl_le32(p + 4) != fl_byte_sum(p + 8, FL_TUYA_SECTOR - 8)) {
            free(p);
            continue;
        }
        sector *grown = realloc(out->s, (out->n + 1) * sizeof *grown);
        if (!grown) {
            free(p);
            st = fl_fail(err, FL_ERR_INTERNAL, "out of memory decrypting sectors");
            break;
        }
        out->s = grown;
        out->s[out->n++] = (sector){off, magic, fl_le16(p + 8), fl_le32(p + 0x0A), p};
    }
    free(g);
    fl_aes_ecb_free(&aes);
    if (st != FL_OK)
        sector_set_free(out);
    return st;
}

typedef struct candidate {
    size_t offset;
    uint8_t dev_key[16];
} candidate;

/* Device keys are secrets: wipe them before the memory goes back. */
static void free_candidates(candidate *c, size_t n)
{
    if (c)
        explicit_bzero(c, n * sizeof *c);
    free(c);
}

typedef struct search {
    candidate *c;
    size_t n;
    size_t magic_hits;     /* sectors whose first block carried the key magic */
    size_t bad_checksum;   /* ... but failed the key-block checksum */
    bool protected_block;
    size_t protected_offset;
} search;

/* Check a potential key block at `off` with the master key. */
static void try_key_block(fl_aes_ecb *master, const uint8_t *buf, size_t len, size_t off,
                          search *s)
{
    if (off + FL_TUYA_SECTOR > len)
        return;
    for (size_t i = 0; i < s->n; i++)
        if (s->c[i].offset == off)
            return;
    uint8_t head[32];
    if (!fl_aes_ecb_decrypt(master, buf + off, head, sizeof head) ||
        fl_le32(head) != FL_TUYA_KEY_MAGIC)
        return;
    s->magic_hits++;
    if (fl_le32(head + 4) != fl_byte_sum(head + 8, 16)) {
        /* Same magic, checksum over the whole sector: the protected block. */
        uint8_t *p = malloc(FL_TUYA_SECTOR);
        if (p && fl_aes_ecb_decrypt(master, buf + off, p, FL_TUYA_SECTOR) &&
            fl_le32(p + 4) == fl_byte_sum(p + 8, FL_TUYA_SECTOR - 8)) {
            if (!s->protected_block) {
                s->protected_block = true;
                s->protected_offset = off;
            }
        } else {
            s->bad_checksum++;
        }
        if (p)
            explicit_bzero(p, FL_TUYA_SECTOR);
        free(p);
        return;
    }
    candidate *grown = realloc(s->c, (s->n + 1) * sizeof *grown);
    if (!grown)
        return;
    s->c = grown;
    s->c[s->n].offset = off;
    memcpy(s->c[s->n].dev_key, head + 8, 16);
    s->n++;
}

static fl_status find_key_blocks(const uint8_t *buf, size_t len, search *s, fl_error *err)
{
    memset(s, 0, sizeof *s);
    fl_aes_ecb master;
    if (!fl_aes_ecb_init(&master, master_key))
        return fl_fail(err, FL_ERR_INTERNAL, "libcrypto: cannot set up AES-128-ECB");
    size_t n;
    uint8_t *g = first_blocks(&master, buf, len, 0, &n);
    if (!g && n) {
        fl_aes_ecb_free(&master);
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory scanning sectors");
    }
    for (size_t i = 0; i < n; i++)
        if (fl_le32(g + i * 16) == FL_TUYA_KEY_MAGIC)
            try_key_block(&master, buf, len, i * FL_TUYA_SECTOR, s);
    free(g);
    /* Signature at any offset: key blocks not on a 4 KiB boundary of the file. */
    const uint8_t *p = buf, *end = buf + len;
    while (p + 16 <= end) {
        const uint8_t *hit = memmem(p, (size_t)(end - p), fl_tuya_key_block_signature, 16);
        if (!hit)
            break;
        size_t off = (size_t)(hit - buf);
        if (off >= 0x20 && (off - 0x20) % FL_TUYA_SECTOR != 0)
            try_key_block(&master, buf, len, off - 0x20, s);
        p = hit + 1;
    }
    fl_aes_ecb_free(&master);
    return FL_OK;
}

size_t fl_tuya_kv_locate(const uint8_t *buf, size_t len, size_t *first)
{
    search s;
    if (find_key_blocks(buf, len, &s, NULL) != FL_OK)
        return 0;
    size_t n = s.n;
    if (n && first)
        *first = s.c[0].offset;
    free_candidates(s.c, s.n);
    return n;
}

/* --- rebuilding values ---------------------------------------------------- */

static const sector *live_block(const sector_set *live, uint16_t id)
{
    for (size_t i = 0; i < live->n; i++)
        if (live->s[i].block_id == id)
            return &live->s[i];
    return NULL;
}

static bool printable_name(const uint8_t *p, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x20 || p[i] > 0x7E)
            return false;
    return true;
}

static void free_entry(fl_tuya_kv_entry *e)
{
    free(e->name);
    if (e->value)
        explicit_bzero(e->value, e->len);
    free(e->value);
}

/* Keep one entry per name: highest element, then checksum-correct, then
 * longest (A4.4; no test dump has duplicates). */
static bool better(const fl_tuya_kv_entry *a, const fl_tuya_kv_entry *b)
{
    if (a->element != b->element)
        return a->element > b->element;
    if (a->checksum_ok != b->checksum_ok)
        return a->checksum_ok;
    return a->len > b->len;
}

static fl_status add_entry(fl_tuya_kv *kv, fl_tuya_kv_entry *e, fl_error *err)
{
    for (size_t i = 0; i < kv->n; i++) {
        if (strcmp(kv->entries[i].name, e->name) != 0)
            continue;
        fl_strlist_addf(&kv->warnings, "key '%s' stored twice (block %u page %u and block %u page %u); kept %s",
                        e->name, kv->entries[i].block_id, kv->entries[i].page, e->block_id, e->page,
                        better(e, &kv->entries[i]) ? "the second" : "the first");
        if (better(e, &kv->entries[i])) {
            free_entry(&kv->entries[i]);
            kv->entries[i] = *e;
        } else {
            free_entry(e);
        }
        return FL_OK;
    }
    fl_tuya_kv_entry *grown = realloc(kv->entries, (kv->n + 1) * sizeof *grown);
    if (!grown) {
        free_entry(e);
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    }
    kv->entries = grown;
    kv->entries[kv->n++] = *e;
    return FL_OK;
}

/* Upper bound on all rebuilt values together: a real store holds at most
 * a few hundred KiB; a forged one must not make us allocate without end. */
#define VALUE_BUDGET (8u << 20)

static fl_status parse_index_page(fl_tuya_kv *kv, const sector_set *live, const sector *blk,
                                  unsigned page, size_t *budget, fl_error *err)
{
    const uint8_t *ip = blk->plain + page * 0x80;
    if (fl_all_bytes(ip, 0x80, 0xFF) || fl_all_bytes(ip, 0x80, 0x00))
        return FL_OK; /* unused index slot */
    uint32_t sum = fl_le32(ip), length = fl_le32(ip + 4);
    unsigned bid = fl_le16(ip + 8), pid = ip[0x0A], nparts = fl_le16(ip + 0x0B);
    unsigned name_len = ip[0x11];
    if (bid != blk->block_id || pid != page || name_len == 0 || 0x12 + name_len > 0x80) {
        fl_strlist_addf(&kv->warnings, "block %u page %u: index page malformed, skipped",
                        blk->block_id, page);
        return FL_OK;
    }
    size_t room = (0x80 - 0x12 - name_len) / 4;
    if (nparts > room && nparts % 4 == 0 && nparts / 4 <= room)
        nparts /= 4; /* some SDKs store a byte count ([G-TC]) */
    const uint8_t *nm = ip + 0x12;
    size_t nlen = strnlen((const char *)nm, name_len);
    if (nparts == 0 || nparts > room || !printable_name(nm, nlen)) {
        fl_strlist_addf(&kv->warnings, "block %u page %u: index page malformed, skipped",
                        blk->block_id, page);
        return FL_OK;
    }
    const uint8_t *parts = nm + name_len;
    size_t cap = (size_t)nparts * 31 * 0x80, all_pages = live->n * 31 * 0x80;
    if (cap > all_pages)
        cap = all_pages; /* cannot reference more pages than the store has */
    size_t want = length < cap ? length : cap;
    if (want > *budget) {
        fl_strlist_addf(&kv->warnings, "block %u page %u: value of %u bytes exceeds what is left of the "
                                       "%u-byte limit for all values; skipped", blk->block_id, page, length,
                        VALUE_BUDGET);
        return FL_OK;
    }
    *budget -= want;
    fl_tuya_kv_entry e = {0};
    e.name = strndup((const char *)nm, nlen);
    e.value = malloc(want + 1);
    if (!e.name || !e.value) {
        free_entry(&e);
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    }
    e.declared = length;
    e.element = fl_le32(ip + 0x0D);
    e.block_id = (uint16_t)bid;
    e.page = (uint8_t)page;
    e.complete = length <= cap;
    size_t got = 0;
    for (unsigned i = 0; i < nparts && got < want; i++) {
        uint16_t pb = fl_le16(parts + 4 * i);
        unsigned first = parts[4 * i + 2], last = parts[4 * i + 3];
        const sector *src = live_block(live, pb);
        if (!src || first < 1 || last > 31 || first > last) {
            e.complete = false;
            break;
        }
        for (unsigned pg = first; pg <= last && got < want; pg++) {
            size_t n = want - got < 0x80 ? want - got : 0x80;
            memcpy(e.value + got, src->plain + pg * 0x80, n);
            got += n;
        }
    }
    if (got < length)
        e.complete = false;
    e.len = got;
    e.value[got] = '\0';
    e.checksum_ok = e.complete && fl_byte_sum(e.value, got) == sum;
    if (!e.complete)
        fl_strlist_addf(&kv->warnings, "key '%s': value incomplete (%zu of %u bytes; a referenced block is missing)",
                        e.name, got, length);
    else if (!e.checksum_ok)
        fl_strlist_addf(&kv->warnings, "key '%s': value checksum mismatch", e.name);
    return add_entry(kv, &e, err);
}

static int cmp_sector(const void *a, const void *b)
{
    const sector *x = a, *y = b;
    if (x->block_id != y->block_id)
        return x->block_id < y->block_id ? -1 : 1;
    if (x->counter != y->counter)
        return x->counter > y->counter ? -1 : 1; /* highest counter first */
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static fl_status rebuild(fl_tuya_kv *kv, sector_set *all, fl_error *err)
{
    qsort(all->s, all->n, sizeof *all->s, cmp_sector);
    /* Live copies: the first of each block id after sorting. */
    sector_set live = {calloc(all->n ? all->n : 1, sizeof(sector)), 0};
    if (!live.s)
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    for (size_t i = 0; i < all->n; i++)
        if (i == 0 || all->s[i].block_id != all->s[i - 1].block_id)
            live.s[live.n++] = all->s[i];
    kv->live_blocks = live.n;
    fl_status st = FL_OK;
    size_t budget = VALUE_BUDGET;
    for (size_t b = 0; b < live.n && st == FL_OK; b++) {
        const sector *blk = &live.s[b];
        unsigned map_size = blk->plain[0x0E];
        if (map_size > 4)
            map_size = 4;
        for (unsigned p = 1; p < 32 && st == FL_OK; p++) {
            bool index = p / 8 < map_size && (blk->plain[0x0F + p / 8] >> (p % 8) & 1);
            if (index)
                st = parse_index_page(kv, &live, blk, p, &budget, err);
        }
    }
    free(live.s); /* the plain buffers still belong to `all` */
    return st;
}

/* --- top level -------------------------------------------------------------- */

static void describe_failure(fl_error *err, const uint8_t *buf, size_t len, const search *s)
{
    size_t sectors = len / FL_TUYA_SECTOR;
    if (len < FL_TUYA_SECTOR) {
        fl_fail(err, FL_ERR_FORMAT,
                "no Tuya KV store: the input is %zu bytes, smaller than one 4 KiB sector", len);
    } else if (fl_all_bytes(buf, len, 0xFF)) {
        fl_fail(err, FL_ERR_FORMAT, "no Tuya KV store: the input is erased flash (every byte 0xFF)");
    } else if (len >= 3 && !memcmp(buf, "CFG", 3)) {
        fl_fail(err, FL_ERR_FORMAT,
                "no Tuya KV store: the input starts with \"CFG\": it is an OpenBeken config, not a Tuya dump");
    } else if (s->n == 0) {
        fl_fail(err, FL_ERR_FORMAT,
                "no Tuya KV store: searched %zu sectors (0x0-0x%zx, every 4 KiB) and the whole input for "
                "the key-block ciphertext signature; no sector decrypts (master key) to the key-block magic "
                "0x%08X with a valid checksum (%zu had the magic but a bad checksum%s)",
                sectors, len, FL_TUYA_KEY_MAGIC, s->bad_checksum,
                s->protected_block ? "; only the secrets-only protected block was found" : "");
    } else {
        fl_fail(err, FL_ERR_FORMAT,
                "no Tuya KV data: found %zu key block(s) (first at 0x%zx) but no sector decrypts to a data "
                "block (magic 0x%08X or 0x%08X with a valid checksum) with any of the %zu known base "
                "strings (8710_2M, 8721D, 8711AM_4M, RDA5981_2M, P2, 2*P2); the data sectors are missing, "
                "erased or corrupt",
                s->n, s->c[0].offset, FL_TUYA_DATA_MAGIC, FL_TUYA_DATA_MAGIC_OS3, N_BASES);
    }
}

fl_status fl_tuya_kv_read(const uint8_t *buf, size_t len, fl_tuya_kv *kv, fl_error *err)
{
    memset(kv, 0, sizeof *kv);
    search s;
    fl_status st = find_key_blocks(buf, len, &s, err);
    if (st != FL_OK)
        return st;
    kv->key_block_candidates = s.n;
    kv->protected_block = s.protected_block;
    kv->protected_block_offset = s.protected_offset;

    sector_set best = {0};
    size_t best_cand = 0, best_base = 0;
    for (size_t c = 0; c < s.n && st == FL_OK; c++) {
        for (size_t b = 0; b < N_BASES; b++) {
            uint8_t K[16];
            derive_data_key(s.c[c].dev_key, &base_strings[b], K);
            sector_set found;
            st = scan_data(buf, len, s.c[c].offset % FL_TUYA_SECTOR, K, s.c[c].offset, &found, err);
            memset(K, 0, sizeof K);
            if (st != FL_OK)
                break;
            if (found.n > best.n) {
                sector_set_free(&best);
                best = found;
                best_cand = c;
                best_base = b;
            } else {
                sector_set_free(&found);
            }
            if (best.n > 0 && best_cand == c)
                break; /* this candidate decrypted: other base strings cannot also match */
        }
    }
    if (st != FL_OK || best.n == 0) {
        if (st == FL_OK) {
            describe_failure(err, buf, len, &s);
            st = FL_ERR_FORMAT;
        }
        sector_set_free(&best);
        free_candidates(s.c, s.n);
        return st;
    }

    kv->key_block_offset = s.c[best_cand].offset;
    kv->base_string = base_strings[best_base].name;
    kv->data_magic = best.s[0].magic;
    kv->data_sectors = best.n;
    kv->first_data_offset = best.s[0].offset;
    kv->last_data_offset = best.s[best.n - 1].offset;
    kv->contiguous = kv->first_data_offset == kv->key_block_offset + FL_TUYA_SECTOR &&
                     kv->last_data_offset == kv->first_data_offset + (best.n - 1) * FL_TUYA_SECTOR;
    if (s.n > 1)
        fl_strlist_addf(&kv->warnings, "%zu key blocks found; used the one at 0x%zx (most data sectors)",
                        s.n, kv->key_block_offset);
    free_candidates(s.c, s.n);

    st = rebuild(kv, &best, err);
    sector_set_free(&best);
    if (st != FL_OK)
        fl_tuya_kv_free(kv);
    return st;
}

fl_status fl_tuya_kv_parse_plain(const uint8_t *sectors, size_t n, fl_tuya_kv *kv, fl_error *err)
{
    memset(kv, 0, sizeof *kv);
    sector_set all = {calloc(n ? n : 1, sizeof(sector)), 0};
    if (!all.s)
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    fl_status st = FL_OK;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = sectors + i * FL_TUYA_SECTOR;
        uint32_t magic = fl_le32(p);
        if ((magic != FL_TUYA_DATA_MAGIC && magic != FL_TUYA_DATA_MAGIC_OS3) ||
            fl_le32(p + 4) != fl_byte_sum(p + 8, FL_TUYA_SECTOR - 8))
            continue;
        uint8_t *copy = malloc(FL_TUYA_SECTOR);
        if (!copy) {
            st = fl_fail(err, FL_ERR_INTERNAL, "out of memory");
            break;
        }
        memcpy(copy, p, FL_TUYA_SECTOR);
        all.s[all.n++] = (sector){i * FL_TUYA_SECTOR, magic, fl_le16(p + 8), fl_le32(p + 0x0A), copy};
    }
    if (st == FL_OK && all.n == 0)
        st = fl_fail(err, FL_ERR_FORMAT, "none of the %zu sectors is a valid data block", n);
    if (st == FL_OK) {
        kv->base_string = "(decrypted input)";
        kv->data_magic = all.s[0].magic;
        kv->data_sectors = all.n;
        kv->first_data_offset = all.s[0].offset;
        kv->last_data_offset = all.s[all.n - 1].offset;
        st = rebuild(kv, &all, err);
        if (st != FL_OK)
            fl_tuya_kv_free(kv);
    }
    sector_set_free(&all);
    return st;
}

void fl_tuya_kv_free(fl_tuya_kv *kv)
{
    for (size_t i = 0; i < kv->n; i++)
        free_entry(&kv->entries[i]);
    free(kv->entries);
    fl_strlist_free(&kv->warnings);
    memset(kv, 0, sizeof *kv);
}

const fl_tuya_kv_entry *fl_tuya_kv_find(const fl_tuya_kv *kv, const char *name)
{
    for (size_t i = 0; i < kv->n; i++)
        if (!strcmp(kv->entries[i].name, name))
            return &kv->entries[i];
    return NULL;
}
