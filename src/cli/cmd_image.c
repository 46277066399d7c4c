/* flashline image — identify Beken and Espressif images, code encryption, CRC16 blocks
 * (src/formats/image_id.h, beken_image.h, beken_crypt.h, beken_crc16.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "formats/beken_crc16.h"
#include "formats/beken_crypt.h"
#include "formats/beken_image.h"
#include "formats/image_id.h"
#include "formats/tuya_secrets.h"
#include "util/fileio.h"

#define MAX_INPUT (16u * 1024 * 1024)

static void usage(FILE *f)
{
    fprintf(f,
            "usage: flashline image info FILE [--json] [--show-mac]\n"
            "       flashline image decrypt FILE -o OUT [--key COEFS] [--addr ADDR [--crc]] [--json]\n"
            "       flashline image encrypt FILE -o OUT [--key COEFS] [--addr ADDR] [--no-crc] [--json]\n"
            "       flashline image crc check FILE [--raw] [--json]\n"
            "       flashline image crc strip FILE -o OUT [--force] [--json]\n"
            "       flashline image crc add FILE -o OUT [--keep-erased] [--json]\n\n"
            "info     tells what FILE is by its content: full dump, rotated dump (read from\n"
            "         0x11000 and wrapped), dump read from 0x11000, _QIO_, _UA_, _UG_, RBL OTA,\n"
            "         Tuya config region, OBK config, plain ARM binary, Espressif factory image\n"
            "         (OpenESP*.factory.bin), app or bootloader image; the chip where it can be\n"
            "         told (bootloader string, code key, OBK version, RF/partition layout), the RBL\n"
            "         headers with header and package CRCs, the CRC16 blocks, partition table,\n"
            "         RF calibration (MAC shown as vendor part unless --show-mac), Tuya store.\n"
            "         Espressif: header (flash mode/size/frequency, chip ID, revision range),\n"
            "         segments, checksum and SHA-256, the partition table with its MD5.\n"
            "decrypt  without --addr: FILE is a dump or image with CRC-wrapped code; writes the\n"
            "         logical image (CRC removed; bootloader at 0x0, app at 0x10000; a _UA_ file\n"
            "         starts at 0x10000) with the code decrypted.  RBL headers and the partition\n"
            "         table stay as stored (clear); data partitions of a dump are not included.\n"
            "         With --addr: FILE is raw data at logical ADDR (--crc: strip CRC16 first);\n"
            "         RBL headers and a partition table found in it are kept in clear too.\n"
            "encrypt  FILE is a logical image at --addr (default 0x0 if it holds a bootloader RBL\n"
            "         header, else 0x10000); encrypts the code the same way and adds the CRC16\n"
            "         blocks (padding outside the code stays erased 0xFF) unless --no-crc.\n"
            "         decrypt then encrypt gives back the original bytes.\n"
            "--key    tuya (default for encrypt; 510FB093 A3CBEADC 5993A17E C7ADEB03), zero,\n"
            "         uascent, or four hex words; decrypt detects it when it can.\n"
            "crc      check: count good / erased (all 0xFF) / bad 34-byte blocks; for a dump or\n"
            "         image only its code partitions are checked unless --raw.  strip: remove the\n"
            "         CRC bytes (refuses bad blocks unless --force).  add: append a CRC16 to every\n"
            "         32 bytes (last block padded with 0xFF; --keep-erased writes all-0xFF blocks\n"
            "         as erased flash).\n\n"
            "Output files are written durably (temporary file, fsync, rename).  Inputs larger\n"
            "than %u bytes are refused.  Exit 3 for unreadable, malformed or wrong-kind input\n"
            "and for bad CRC blocks found by 'crc check'.\n\n%s",
            MAX_INPUT, cli_exit_codes_help);
}

typedef struct img_cli {
    const char *output, *key, *addr;
    bool json, help, show_mac, crc, no_crc, raw, force, keep_erased;
    cli_output out;
} img_cli;

static int fail(img_cli *c, const char *verb, fl_error *err)
{
    return cli_report_error(&c->out, verb, err);
}

static int load(img_cli *c, const char *verb, const char *path, uint8_t **data, size_t *len)
{
    fl_error err = {0};
    if (fl_read_file(path, data, len, MAX_INPUT, &err) != FL_OK)
        return fail(c, verb, &err);
    if (*len == 0) {
        free(*data);
        fl_fail(&err, FL_ERR_FORMAT, "%s is empty", path);
        return fail(c, verb, &err);
    }
    return 0;
}

static int save(img_cli *c, const char *verb, const uint8_t *data, size_t len)
{
    fl_error err = {0};
    if (fl_write_file_durable(c->output, data, len, &err) != FL_OK)
        return fail(c, verb, &err);
    return 0;
}

static void emit(json_t *o)
{
    cli_json_print(o);
}

static json_t *event(const char *name, const char *path)
{
    json_t *o = json_object();
    json_object_set_new(o, "event", json_string(name));
    json_object_set_new(o, "path", cli_json_text(path));
    return o;
}

static bool parse_key(const char *verb, const char *s, fl_bk_key *k)
{
    if (fl_bk_key_parse(s, k))
        return true;
    cli_usage_error(verb, "--key '%s' is not tuya, zero, uascent or four hex words", s);
    return false;
}

/* --- info ------------------------------------------------------------------------- */

static void print_crc(const char *what, const fl_bk_crc_report *r)
{
    printf("%s%zu blocks: %zu good, %zu erased", what, r->blocks, r->good, r->erased);
    if (r->bad)
        printf(", %zu BAD (first: block %zu)", r->bad, r->first_bad);
    printf("\n");
}

/* --- Espressif ---------------------------------------------------------------------- */

static void print_rev(uint16_t full)
{
    if (full == 0xFFFF)
        printf("any");
    else
        printf("v%u.%u", full / 100u, full % 100u);
}

static void print_esp_image(const char *label, const fl_esp_image *im, bool factory)
{
    printf("%-13s", label);
    if (factory)
        printf("at 0x%zX, ", im->file_offset);
    printf("%zu bytes, %s format, flash mode %s, size %s, freq %s, entry 0x%08X\n", im->length,
           im->format == FL_ESP_FMT_V1   ? "ESP8266 V1"
           : im->format == FL_ESP_FMT_V2 ? "ESP8266 V2 (0xEA)"
           : im->chip_id == FL_ESP_CHIP_ESP8266 ? "ESP8266 RTOS SDK (V3)"
                                                : "ESP32-family",
           fl_esp_flash_mode_name(im->flash_mode), fl_esp_flash_size_name(im->chip_id, im->flash_size_freq),
           fl_esp_flash_freq_name(im->chip_id, im->flash_size_freq), im->entry);
    if (im->format == FL_ESP_FMT_EXT && im->chip_id != FL_ESP_CHIP_ESP8266) {
        const char *cn = fl_esp_chip_name(im->chip_id);
        printf("             chip ID %d (%s), chip revision ", im->chip_id, cn ? cn : "unknown");
        print_rev(im->min_rev_full);
        printf(" to ");
        print_rev(im->max_rev_full);
        printf("%s\n", im->hash_appended ? ", SHA-256 appended" : "");
    }
    if (im->app_project[0] || im->app_version[0])
        printf("             app \"%s\" version %s (ESP-IDF %s)\n", im->app_project, im->app_version,
               im->app_idf_version);
    for (unsigned i = 0; i < im->n_seg_read; i++)
        printf("             segment %u: load 0x%08X, %u bytes (file 0x%zX)\n", i + 1, im->seg[i].load_addr,
               im->seg[i].length, im->file_offset + im->seg[i].file_offset);
    if (im->format == FL_ESP_FMT_V2)
        printf("             irom segment %u bytes (not checksummed), CRC32 %s\n", im->irom_length,
               im->crc32_ok ? "ok" : "WRONG");
    printf("             checksum %s", im->length ? (im->checksum_ok ? "ok" : "WRONG") : "not reached");
    if (im->hash_appended)
        printf(", SHA-256 %s", im->hash_ok ? "ok" : "WRONG or missing");
    printf("\n");
    if (im->error[0])
        printf("             DAMAGED: %s\n", im->error);
}

static void print_esp(const fl_esp_info *e)
{
    bool factory = e->kind == FL_ESP_FACTORY;
    if (e->boot.present)
        print_esp_image("Bootloader:", &e->boot, factory);
    if (factory) {
        for (size_t i = 0; i < e->ptable.n; i++) {
            const fl_esp_partition *p = &e->ptable.e[i];
            char tb[8], sb[8];
            printf("%s%-16s %-4s %-9s 0x%06X +0x%06X\n", i ? "             " : "Partitions:  ", p->label,
                   fl_esp_ptype_name(p->type, tb), fl_esp_psubtype_name(p->type, p->subtype, sb),
                   p->offset, p->size);
        }
        printf("             table at 0x%X, MD5 %s\n", FL_ESP_PTABLE_OFFSET,
               !e->ptable.have_md5 ? "absent" : e->ptable.md5_ok ? "ok" : "WRONG");
    }
    if (e->app.present)
        print_esp_image("App:", &e->app, factory);
}

static void print_info(const fl_image_info *in, const char *path, bool show_mac)
{
    printf("File:        %s (%zu bytes)\n", path, in->size);
    printf("Kind:        %s\n", fl_image_kind_text(in->kind));
    printf("Chip:        %s%s%s%s\n", in->chip[0] ? in->chip : "unknown", in->chip_evidence[0] ? " (" : "",
           in->chip_evidence, in->chip_evidence[0] ? ")" : "");
    if (in->code_key_known) {
        const char *kn = fl_bk_key_name(&in->code_key);
        printf("Code key:    %s (%08X %08X %08X %08X)%s", kn ? kn : "custom", in->code_key.coef[0],
               in->code_key.coef[1], in->code_key.coef[2], in->code_key.coef[3],
               fl_bk_key_is_bypass(&in->code_key) ? ", code stored in clear" : "");
        if (in->key_copy_offset)
            printf("; the bootloader holds a copy at 0x%X", in->key_copy_offset);
        printf("\n");
    }
    if (fl_image_kind_is_esp(in->kind))
        print_esp(&in->esp);
    if (in->have_boot) {
        printf("Bootloader:  file 0x%zX, %s\n", in->boot_file, in->boot_version[0] ? in->boot_version : "version string not found");
        print_crc("             CRC16 ", &in->boot_crc);
    }
    if (in->have_app) {
        printf("App:         file 0x%zX%s%s\n", in->app_file, in->obk_version[0] ? ", " : "", in->obk_version);
        print_crc("             CRC16 ", &in->app_crc);
    }
    for (size_t i = 0; in->have_fal && i < in->fal.n; i++)
        printf("%s%s 0x%X+0x%X (%s)\n", i ? "             " : "Partitions:  ", in->fal.e[i].name,
               in->fal.e[i].offset, in->fal.e[i].length, in->fal.e[i].flash_name);
    if (in->ug)
        printf("UG header:   version \"%s\", payload %u bytes, payload sum %s, header sum %s\n", in->ug_version,
               in->ug_payload_len, in->ug_payload_sum_ok ? "ok" : "WRONG", in->ug_header_sum_ok ? "ok" : "WRONG");
    for (size_t i = 0; i < in->n_rbl; i++) {
        const fl_image_rbl *r = &in->rbl[i];
        char when[32] = "?";
        time_t t = (time_t)r->h.timestamp;
        struct tm tm;
        if (gmtime_r(&t, &tm))
            strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
        printf("RBL:         \"%s\" at file 0x%zX (%s): version %s, %s, raw %u, package %u bytes,\n"
               "             encryption %s, compression %s, header CRC %s, package CRC %s\n",
               r->h.name, r->file_offset, r->in_flash ? "end of its partition, in CRC blocks" : r->logical ? "end of its partition, logical image" : "start of file",
               r->h.version, when, r->h.size_raw, r->h.size_package, fl_rbl_encryption_name(r->h.algo),
               fl_rbl_compression_name(r->h.algo), r->h.hdr_crc_ok ? "ok" : "WRONG",
               !r->data_available ? "not checked (package not in the file)"
               : r->data != FL_RBL_CRC_BAD ? "ok"
               : r->logical ? "does not match (expected when the code is decrypted)"
               : "WRONG");
    }
    if (in->kind == FL_IMAGE_RBL || in->kind == FL_IMAGE_UG)
        printf("OTA payload: %s\n", in->ota_key ? in->ota_key : "does not decrypt to gzip with the known keys");
    if (in->have_rf) {
        char mac[18];
        fl_format_mac(in->mac, show_mac, mac);
        printf("RF:          calibration at 0x%06X, MAC %s%s\n", in->rf_offset, mac, show_mac ? "" : " (masked; --show-mac)");
    }
    if (in->have_obk_config)
        printf("OBK config:  at 0x%06X\n", in->obk_config_offset);
    if (in->have_tuya_kv)
        printf("Tuya store:  key block at %s 0x%X (see 'flashline tuya extract')\n",
               in->kind == FL_IMAGE_TUYA_CONFIG ? "file offset" : "flash", in->tuya_kv_offset);
    for (size_t i = 0; i < in->notes.n; i++)
        printf("%s%s\n", i ? "             " : "Notes:       ", in->notes.items[i]);
}

static int do_info(img_cli *c, const char *path)
{
    uint8_t *data;
    size_t len;
    int rc = load(c, "image info", path, &data, &len);
    if (rc)
        return rc;
    fl_image_info in;
    fl_error err = {0};
    fl_status st = fl_image_identify(data, len, path, &in, &err);
    free(data);
    if (st != FL_OK)
        return fail(c, "image info", &err);
    if (c->json) {
        json_t *o = event("image_info", path);
        json_t *j = fl_image_info_json(&in, c->show_mac);
        json_object_update(o, j);
        json_decref(j);
        emit(o);
    } else {
        print_info(&in, path, c->show_mac);
    }
    fl_image_info_free(&in);
    return EXIT_OK;
}

/* --- decrypt / encrypt ------------------------------------------------------------------ */

static void report_plan(img_cli *c, const char *verb, const fl_code_plan *plan, json_t *o,
                        const uint8_t *data, size_t len, uint32_t base, bool after_decrypt)
{
    json_t *regions = json_array();
    for (size_t i = 0; i < plan->n; i++) {
        const fl_code_region *r = &plan->r[i];
        bool arm = r->start >= base && r->start - base + 8 <= len &&
                   fl_bk_is_arm_vectors(data + (r->start - base), 8);
        json_t *e = json_object();
        json_object_set_new(e, "what", json_string(r->what));
        json_object_set_new(e, "start", json_integer(r->start));
        json_object_set_new(e, "length", json_integer(r->len));
        json_object_set_new(e, "plain_arm_vectors", json_boolean(arm));
        json_array_append_new(regions, e);
        if (!c->json)
            printf("%s %s at 0x%X, %u bytes%s\n", verb, r->what, r->start, r->len,
                   r->from_rbl ? " (length from its RBL header)" : "");
        bool expect_arm = after_decrypt;
        if (expect_arm && !arm && !c->json)
            printf("warning: the %s does not start with ARM vectors after decryption: wrong key?\n", r->what);
    }
    if (plan->have_fal && !c->json)
        printf("kept in clear: partition table at 0x%X (%u bytes)\n", plan->fal_start, plan->fal_len);
    json_object_set_new(o, "regions", regions);
    json_object_set_new(o, "partition_table", plan->have_fal ? json_integer(plan->fal_start) : json_null());
}

static int do_decrypt(img_cli *c, const char *path)
{
    const char *verb = "image decrypt";
    fl_bk_key key = fl_bk_key_tuya;
    bool have_key = false;
    uint32_t addr = 0;
    if (c->key && !(have_key = parse_key(verb, c->key, &key)))
        return EXIT_USAGE;
    if (c->addr && !cli_parse_u32(c->addr, &addr)) {
        return cli_usage_error(verb, "--addr '%s' is not a number", c->addr);
    }
    if (c->crc && !c->addr) {
        return cli_usage_error(verb, "--crc goes with --addr (without --addr the CRC is handled "
                                     "per partition)");
    }
    uint8_t *data;
    size_t len;
    int rc = load(c, verb, path, &data, &len);
    if (rc)
        return rc;
    fl_error err = {0};
    uint8_t *l = NULL;
    size_t ll = 0;
    uint32_t base = addr;
    json_t *o = event("image_decrypt", path);
    if (c->addr) {
        if (c->crc) {
            fl_bk_crc_report rep;
            ll = fl_bk_crc_stripped_size(len);
            l = malloc(ll ? ll : 1);
            if (l)
                fl_bk_crc_strip(data, len, l, &rep);
            if (l && (rep.bad || rep.tail) && !c->json)
                printf("warning: %zu bad CRC block(s), %zu trailing byte(s) dropped\n", rep.bad, rep.tail);
        } else {
            l = data, ll = len, data = NULL;
        }
        if (!l) {
            free(data);
            json_decref(o);
            fl_fail(&err, FL_ERR_INTERNAL, "out of memory");
            return fail(c, verb, &err);
        }
    } else {
        fl_image_info in;
        if (fl_image_identify(data, len, path, &in, &err) != FL_OK ||
            fl_image_code_logical(data, len, &in, &l, &ll, &base, &err) != FL_OK) {
            fl_image_info_free(&in);
            free(data);
            json_decref(o);
            fl_fail_prefix(&err, "%s (give --addr to decrypt raw data)", path);
            return fail(c, verb, &err);
        }
        if (!have_key) {
            if (!in.code_key_known) {
                fl_image_info_free(&in);
                free(data);
                free(l);
                json_decref(o);
                fl_fail(&err, FL_ERR_FORMAT, "%s: the code key is not one of the known keys; give --key", path);
                return fail(c, verb, &err);
            }
            key = in.code_key;
        }
        json_object_set_new(o, "kind", json_string(fl_image_kind_name(in.kind)));
        if (!c->json)
            printf("%s: %s\n", path, fl_image_kind_text(in.kind));
        fl_image_info_free(&in);
    }
    free(data);
    fl_code_plan plan;
    fl_code_plan_make(l, ll, base, &plan);
    fl_code_plan_apply(&plan, &key, l, ll, base);
    report_plan(c, "decrypted", &plan, o, l, ll, base, true);
    rc = save(c, verb, l, ll);
    free(l);
    if (rc) {
        json_decref(o);
        return rc;
    }
    const char *kn = fl_bk_key_name(&key);
    json_object_set_new(o, "key", json_string(kn ? kn : "custom"));
    json_object_set_new(o, "output", cli_json_text(c->output));
    json_object_set_new(o, "logical_base", json_integer(base));
    json_object_set_new(o, "bytes", json_integer((json_int_t)ll));
    if (c->json)
        emit(o);
    else {
        printf("wrote %s: %zu bytes, logical image from 0x%X (key %s)\n", c->output, ll, base, kn ? kn : "custom");
        json_decref(o);
    }
    return EXIT_OK;
}

static bool has_boot_header(const uint8_t *p, size_t len)
{
    const uint8_t *s = p, *end = p + len;
    while (s + FL_RBL_HEADER_SIZE <= end) {
        const uint8_t *hit = memmem(s, (size_t)(end - s), "RBL\0", 4);
        if (!hit || hit + FL_RBL_HEADER_SIZE > end)
            return false;
        fl_rbl_header h;
        if (fl_rbl_parse(hit, (size_t)(end - hit), &h, NULL) == FL_OK && h.hdr_crc_ok &&
            !strcmp(h.name, "bootloader"))
            return true;
        s = hit + 1;
    }
    return false;
}

static int do_encrypt(img_cli *c, const char *path)
{
    const char *verb = "image encrypt";
    fl_bk_key key = fl_bk_key_tuya;
    uint32_t base = 0;
    if (c->key && !parse_key(verb, c->key, &key))
        return EXIT_USAGE;
    if (c->addr && !cli_parse_u32(c->addr, &base)) {
        return cli_usage_error(verb, "--addr '%s' is not a number", c->addr);
    }
    uint8_t *data;
    size_t len;
    int rc = load(c, verb, path, &data, &len);
    if (rc)
        return rc;
    if (!c->addr)
        base = has_boot_header(data, len) ? FL_BK_BOOT_LOGICAL : FL_BK_APP_LOGICAL;
    if ((uint64_t)base + len > 0xFFFFFFFFull) {
        free(data);
        fl_error err;
        fl_fail(&err, FL_ERR_FORMAT, "%s: %zu bytes at 0x%X run past the 32-bit address space", path, len, base);
        return fail(c, verb, &err);
    }
    json_t *o = event("image_encrypt", path);
    fl_code_plan plan;
    fl_code_plan_make(data, len, base, &plan);
    for (size_t i = 0; i < plan.n && !c->json; i++)
        if (plan.r[i].start >= base && plan.r[i].start - base + 8 <= len &&
            !fl_bk_is_arm_vectors(data + (plan.r[i].start - base), 8))
            printf("warning: the %s at 0x%X does not start with ARM vectors: is the input already encrypted?\n",
                   plan.r[i].what, plan.r[i].start);
    fl_code_plan_apply(&plan, &key, data, len, base);
    report_plan(c, "encrypted", &plan, o, data, len, base, false);
    /* With the code encrypted, a package CRC that matches its header proves
     * the result is byte-identical to what the packager produced. */
    json_t *pk = json_array();
    for (size_t i = 0; i < plan.n; i++) {
        const fl_code_region *r = &plan.r[i];
        if (!r->from_rbl)
            continue;
        size_t off = r->start - base;
        bool ok = off <= len && fl_rbl_check_data(&r->rbl, data + off, len - off) != FL_RBL_CRC_BAD;
        json_array_append_new(pk, json_pack("{s:s,s:b}", "what", r->what, "package_crc_ok", ok));
        if (!c->json)
            printf("%s package CRC after encryption: %s\n", r->what, ok ? "matches its RBL header" : "does NOT match its RBL header");
    }
    json_object_set_new(o, "packages", pk);
    uint8_t *out = data;
    size_t out_len = len;
    if (!c->no_crc) {
        out_len = fl_bk_crc_added_size(len);
        out = malloc(out_len ? out_len : 1);
        if (!out) {
            free(data);
            json_decref(o);
            fl_error err;
            fl_fail(&err, FL_ERR_INTERNAL, "out of memory");
            return fail(c, verb, &err);
        }
        for (size_t b = 0; b * FL_BK_CRC_DATA < len; b++) {
            uint8_t blk[FL_BK_CRC_DATA];
            size_t n = len - b * FL_BK_CRC_DATA < FL_BK_CRC_DATA ? len - b * FL_BK_CRC_DATA : FL_BK_CRC_DATA;
            memset(blk, 0xFF, sizeof blk);
            memcpy(blk, data + b * FL_BK_CRC_DATA, n);
            uint32_t a = base + (uint32_t)(b * FL_BK_CRC_DATA);
            fl_bk_crc_add_block(blk, out + b * FL_BK_CRC_PHYS, !fl_code_plan_covers(&plan, a, FL_BK_CRC_DATA));
        }
        free(data);
    }
    rc = save(c, verb, out, out_len);
    free(out);
    if (rc) {
        json_decref(o);
        return rc;
    }
    const char *kn = fl_bk_key_name(&key);
    json_object_set_new(o, "key", json_string(kn ? kn : "custom"));
    json_object_set_new(o, "logical_base", json_integer(base));
    json_object_set_new(o, "crc16", json_boolean(!c->no_crc));
    json_object_set_new(o, "output", cli_json_text(c->output));
    json_object_set_new(o, "bytes", json_integer((json_int_t)out_len));
    if (c->json)
        emit(o);
    else {
        printf("wrote %s: %zu bytes (%s, from logical 0x%X, key %s)\n", c->output, out_len,
               c->no_crc ? "no CRC16" : "with CRC16 blocks", base, kn ? kn : "custom");
        json_decref(o);
    }
    return EXIT_OK;
}

/* --- crc ----------------------------------------------------------------------------- */

static json_t *crc_report_json(const char *what, size_t off, const fl_bk_crc_report *r)
{
    return json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I}", "what", what, "file_offset", (json_int_t)off,
                     "blocks", (json_int_t)r->blocks, "good", (json_int_t)r->good, "erased",
                     (json_int_t)r->erased, "bad", (json_int_t)r->bad, "tail_bytes", (json_int_t)r->tail);
}

static void print_report(const char *what, size_t off, const fl_bk_crc_report *r)
{
    printf("%s (file 0x%zX): %zu blocks: %zu good, %zu erased, %zu bad", what, off, r->blocks, r->good,
           r->erased, r->bad);
    if (r->bad)
        printf(" (first bad block %zu, file offset 0x%zX)", r->first_bad, off + r->first_bad * FL_BK_CRC_PHYS);
    if (r->tail)
        printf(", %zu trailing byte(s) not a whole block", r->tail);
    printf("\n");
}

static int do_crc(img_cli *c, const char *action, const char *path)
{
    char verb[32];
    snprintf(verb, sizeof verb, "image crc %s", action);
    uint8_t *data;
    size_t len;
    int rc = load(c, verb, path, &data, &len);
    if (rc)
        return rc;
    fl_error err = {0};
    json_t *o = event("image_crc", path);
    json_object_set_new(o, "action", json_string(action));
    if (!strcmp(action, "check")) {
        json_t *parts = json_array();
        size_t bad = 0;
        fl_image_info in;
        bool per_part = !c->raw && fl_image_identify(data, len, path, &in, &err) == FL_OK &&
                        (in.have_boot || in.have_app);
        if (per_part) {
            if (in.have_boot) {
                json_array_append_new(parts, crc_report_json("bootloader", in.boot_file, &in.boot_crc));
                bad += in.boot_crc.bad;
                if (!c->json)
                    print_report("bootloader", in.boot_file, &in.boot_crc);
            }
            if (in.have_app) {
                json_array_append_new(parts, crc_report_json("app", in.app_file, &in.app_crc));
                bad += in.app_crc.bad;
                if (!c->json)
                    print_report("app container", in.app_file, &in.app_crc);
            }
        } else {
            fl_bk_crc_report r;
            fl_bk_crc_check(data, len, &r);
            json_array_append_new(parts, crc_report_json("whole file", 0, &r));
            bad = r.bad;
            if (!c->json)
                print_report("whole file", 0, &r);
        }
        if (!c->raw)
            fl_image_info_free(&in);
        free(data);
        json_object_set_new(o, "parts", parts);
        json_object_set_new(o, "ok", json_boolean(bad == 0));
        if (c->json)
            emit(o);
        else
            json_decref(o);
        return bad ? EXIT_INPUT : EXIT_OK;
    }
    if (!c->output) {
        free(data);
        json_decref(o);
        return cli_usage_error(verb, "-o OUT is required");
    }
    uint8_t *out;
    size_t out_len;
    if (!strcmp(action, "strip")) {
        fl_bk_crc_report r;
        out_len = fl_bk_crc_stripped_size(len);
        out = malloc(out_len ? out_len : 1);
        if (out)
            fl_bk_crc_strip(data, len, out, &r);
        free(data);
        if (!out) {
            json_decref(o);
            fl_fail(&err, FL_ERR_INTERNAL, "out of memory");
            return fail(c, verb, &err);
        }
        json_object_set_new(o, "report", crc_report_json("whole file", 0, &r));
        if (!c->json)
            print_report("input", 0, &r);
        if (r.bad && !c->force) {
            free(out);
            json_decref(o);
            fl_fail(&err, FL_ERR_FORMAT,
                    "%s: %zu block(s) with a wrong CRC16 (first at file offset 0x%zX): not a CRC-wrapped "
                    "image, or damaged; --force strips anyway", path, r.bad, r.first_bad * FL_BK_CRC_PHYS);
            return fail(c, verb, &err);
        }
    } else if (!strcmp(action, "add")) {
        out_len = fl_bk_crc_added_size(len);
        out = malloc(out_len ? out_len : 1);
        if (!out) {
            free(data);
            json_decref(o);
            fl_fail(&err, FL_ERR_INTERNAL, "out of memory");
            return fail(c, verb, &err);
        }
        for (size_t b = 0; b * FL_BK_CRC_DATA < len; b++) {
            uint8_t blk[FL_BK_CRC_DATA];
            size_t n = len - b * FL_BK_CRC_DATA < FL_BK_CRC_DATA ? len - b * FL_BK_CRC_DATA : FL_BK_CRC_DATA;
            memset(blk, 0xFF, sizeof blk);
            memcpy(blk, data + b * FL_BK_CRC_DATA, n);
            fl_bk_crc_add_block(blk, out + b * FL_BK_CRC_PHYS, c->keep_erased);
        }
        if (len % FL_BK_CRC_DATA && !c->json)
            printf("note: the last block was padded with %zu byte(s) of 0xFF\n",
                   FL_BK_CRC_DATA - len % FL_BK_CRC_DATA);
        free(data);
    } else {
        free(data);
        json_decref(o);
        return cli_usage_error("image crc", "unknown action '%s' (check, strip or add)", action);
    }
    rc = save(c, verb, out, out_len);
    free(out);
    if (rc) {
        json_decref(o);
        return rc;
    }
    json_object_set_new(o, "output", cli_json_text(c->output));
    json_object_set_new(o, "bytes", json_integer((json_int_t)out_len));
    if (c->json)
        emit(o);
    else {
        printf("wrote %s: %zu bytes\n", c->output, out_len);
        json_decref(o);
    }
    return EXIT_OK;
}

/* --- dispatch --------------------------------------------------------------------------- */

int cmd_image(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    const char *action = argv[1];
    bool is_crc = !strcmp(action, "crc");
    if (strcmp(action, "info") && strcmp(action, "decrypt") && strcmp(action, "encrypt") && !is_crc) {
        return cli_usage_error("image", "unknown action '%s' (info, decrypt, encrypt, crc; see --help)",
                               action);
    }
    const char *sub = NULL;
    int skip = 1;
    if (is_crc) {
        if (argc < 3 || argv[2][0] == '-') {
            bool h = argc >= 3 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"));
            if (!h)
                return cli_usage_error("image crc", "expected check, strip or add (see 'flashline "
                                                    "image --help')");
            usage(stdout);
            return EXIT_OK;
        }
        sub = argv[2];
        skip = 2;
        if (strcmp(sub, "check") && strcmp(sub, "strip") && strcmp(sub, "add"))
            return cli_usage_error("image crc", "unknown action '%s' (check, strip or add)", sub);
    }
    img_cli c = {0};
    const cli_opt opts[] = {
        {"output", OPT_STRING, &c.output, NULL, 'o', NULL},
        {"key", OPT_STRING, &c.key, NULL},
        {"addr", OPT_STRING, &c.addr, NULL},
        {"json", OPT_FLAG, NULL, &c.json},
        {"show-mac", OPT_FLAG, NULL, &c.show_mac},
        {"crc", OPT_FLAG, NULL, &c.crc},
        {"no-crc", OPT_FLAG, NULL, &c.no_crc},
        {"raw", OPT_FLAG, NULL, &c.raw},
        {"force", OPT_FLAG, NULL, &c.force},
        {"keep-erased", OPT_FLAG, NULL, &c.keep_erased},
        {0},
    };
    char verb[32];
    snprintf(verb, sizeof verb, "image %s%s%s", action, sub ? " " : "", sub ? sub : "");
    const char *pos[1];
    int npos;
    int rc = cli_parse(verb, argc - skip, argv + skip, opts, pos, 1, &npos, &c.help);
    if (rc)
        return rc;
    if (c.help) {
        usage(stdout);
        return EXIT_OK;
    }
    if (npos != 1) {
        return cli_usage_error(verb, "expected one FILE (see 'flashline image --help')");
    }
    cli_output_init(&c.out, c.json, NULL);
    bool needs_out = !strcmp(action, "decrypt") || !strcmp(action, "encrypt");
    if (needs_out && !c.output) {
        return cli_usage_error(verb, "-o OUT is required");
    }
    if (!strcmp(action, "info"))
        return do_info(&c, pos[0]);
    if (!strcmp(action, "decrypt"))
        return do_decrypt(&c, pos[0]);
    if (!strcmp(action, "encrypt"))
        return do_encrypt(&c, pos[0]);
    return do_crc(&c, sub, pos[0]);
}
