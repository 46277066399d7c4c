/* beken_image.c — code-range plans for logical Beken images. */
#include "formats/beken_image.h"

#include <stdio.h>
#include <string.h>

#include "formats/bytes.h"

bool fl_bk_is_arm_vectors(const uint8_t *p, size_t len)
{
    static const uint8_t ldr_pc[4] = {0x14, 0xF0, 0x9F, 0xE5}; /* ldr pc, [pc, #20] */
    return len >= 8 && p[3] == 0xEA && p[2] == 0x00 && !memcmp(p + 4, ldr_pc, 4);
}

static bool printable_str(const uint8_t *p, size_t n)
{
    size_t i = 0;
    for (; i < n && p[i]; i++)
        if (p[i] < 0x20 || p[i] > 0x7E)
            return false;
    if (i == 0)
        return false;
    for (; i < n; i++) /* NUL padding only */
        if (p[i])
            return false;
    return true;
}

static bool parse_fal_entry(const uint8_t *p, fl_fal_entry *e)
{
    if (fl_le32(p) != FL_FAL_MAGIC || !printable_str(p + 4, 24) || !printable_str(p + 28, 24) ||
        strncmp((const char *)p + 28, "beken", 5) != 0)
        return false;
    memcpy(e->name, p + 4, 24);
    e->name[24] = '\0';
    memcpy(e->flash_name, p + 28, 24);
    e->flash_name[24] = '\0';
    e->offset = fl_le32(p + 52);
    e->length = fl_le32(p + 56);
    return true;
}

bool fl_fal_find(const uint8_t *p, size_t len, fl_fal_table *t)
{
    memset(t, 0, sizeof *t);
    static const uint8_t magic[4] = {0x30, 0x31, 0x50, 0x45};
    const uint8_t *s = p, *end = p + len;
    while (s + FL_FAL_ENTRY_SIZE <= end) {
        const uint8_t *hit = memmem(s, (size_t)(end - s), magic, 4);
        if (!hit || hit + FL_FAL_ENTRY_SIZE > end)
            return false;
        fl_fal_entry e;
        if (parse_fal_entry(hit, &e)) {
            t->pos = (size_t)(hit - p);
            for (const uint8_t *q = hit; q + FL_FAL_ENTRY_SIZE <= end && t->n < 8; q += FL_FAL_ENTRY_SIZE)
                if (!parse_fal_entry(q, &t->e[t->n]))
                    break;
                else
                    t->n++;
            return true;
        }
        s = hit + 1;
    }
    return false;
}

/* Largest known partition start at or below `addr`. */
static uint32_t partition_start(const fl_code_plan *plan, const fl_fal_table *fal, uint32_t base,
                                uint32_t addr)
{
    uint32_t best = base;
    uint32_t known[2] = {FL_BK_BOOT_LOGICAL, FL_BK_APP_LOGICAL};
    for (int i = 0; i < 2; i++)
        if (known[i] >= base && known[i] <= addr && known[i] > best)
            best = known[i];
    for (size_t i = 0; fal && i < fal->n; i++)
        if (fal->e[i].offset >= base && fal->e[i].offset <= addr && fal->e[i].offset > best &&
            strncmp(fal->e[i].flash_name, "beken_onchip_crc", 16) == 0)
            best = fal->e[i].offset;
    (void)plan;
    return best;
}

void fl_code_plan_make(const uint8_t *logical, size_t len, uint32_t base, fl_code_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    fl_fal_table fal;
    /* The table lives in the bootloader: search only the first 64 KiB. */
    if (base == FL_BK_BOOT_LOGICAL && fl_fal_find(logical, len < 0x10000 ? len : 0x10000, &fal)) {
        plan->have_fal = true;
        plan->fal_start = base + (uint32_t)fal.pos;
        plan->fal_len = (uint32_t)fal.n * FL_FAL_ENTRY_SIZE;
    }
    /* Plain RBL headers (the in-flash ones, after CRC stripping). */
    const uint8_t *s = logical, *end = logical + len;
    while (s + FL_RBL_HEADER_SIZE <= end && plan->n < sizeof plan->r / sizeof plan->r[0]) {
        const uint8_t *hit = memmem(s, (size_t)(end - s), "RBL\0", 4);
        if (!hit || hit + FL_RBL_HEADER_SIZE > end)
            break;
        s = hit + 1;
        fl_rbl_header h;
        if (fl_rbl_parse(hit, (size_t)(end - hit), &h, NULL) != FL_OK || !h.hdr_crc_ok)
            continue;
        uint32_t haddr = base + (uint32_t)(hit - logical);
        uint32_t start = partition_start(plan, plan->have_fal ? &fal : NULL, base, haddr);
        if (h.size_package > haddr - start)
            continue; /* an OTA header or junk: the package would overlap the header */
        fl_code_region *r = &plan->r[plan->n++];
        r->start = start;
        r->len = h.size_package;
        r->from_rbl = true;
        r->rbl = h;
        r->header_addr = haddr;
        snprintf(r->what, sizeof r->what, "%s", h.name[0] ? h.name : "partition");
        s = hit + FL_RBL_HEADER_SIZE;
    }
    if (plan->n == 0) {
        plan->r[0].start = base;
        plan->r[0].len = (uint32_t)len;
        snprintf(plan->r[0].what, sizeof plan->r[0].what, "whole image");
        plan->n = 1;
    }
}

static void xor_range(const fl_bk_key *key, uint8_t *logical, size_t len, uint32_t base,
                      uint32_t start, uint32_t n)
{
    if (start < base || start - base >= len)
        return;
    size_t off = start - base;
    size_t m = n < len - off ? n : len - off;
    fl_bk_crypt(key, start, logical + off, m);
}

void fl_code_plan_apply(const fl_code_plan *plan, const fl_bk_key *key, uint8_t *logical,
                        size_t len, uint32_t base)
{
    for (size_t i = 0; i < plan->n; i++) {
        uint32_t a = plan->r[i].start, b = a + plan->r[i].len;
        if (plan->have_fal && plan->fal_start < b && plan->fal_start + plan->fal_len > a) {
            /* Skip the partition table, which is stored in clear. */
            if (plan->fal_start > a)
                xor_range(key, logical, len, base, a, plan->fal_start - a);
            uint32_t after = plan->fal_start + plan->fal_len;
            if (after < b)
                xor_range(key, logical, len, base, after, b - after);
        } else {
            xor_range(key, logical, len, base, a, b - a);
        }
    }
}

bool fl_code_plan_covers(const fl_code_plan *plan, uint32_t addr, uint32_t len)
{
    for (size_t i = 0; i < plan->n; i++) {
        uint64_t a = plan->r[i].start, b = a + plan->r[i].len;
        if ((uint64_t)addr < b && (uint64_t)addr + len > a)
            return true;
    }
    return false;
}
