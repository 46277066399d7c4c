/* fwstore.c — the firmware store: index, add (checked), references, fetch. */
#include "station/fwstore.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flash/chips.h"
#include "flash/image_policy.h"
#include "formats/image_id.h"
#include "net/http.h"
#include "util/clock.h"
#include "util/fileio.h"
#include "util/sha256.h"

#define MAX_IMAGE_BYTES (16u << 20) /* the largest flash a Beken chip has */
#define MAX_LISTING_BYTES (8u << 20)
#define INDEX_FORMAT 1

struct fl_fwstore {
    char dir[PATH_MAX];
    char index[PATH_MAX + 16];
    fl_fw_entry *e;
    size_t n, cap;
};

/* ---- small helpers --------------------------------------------------------- */

static bool is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* "1.18.300" and the like: digits and dots, starting with a digit. */
static bool looks_like_version(const char *s, size_t n)
{
    if (!n || !isdigit((unsigned char)s[0]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]) && s[i] != '.')
            return false;
    return true;
}

/* Dotted versions compared number by number ("1.18.300" > "1.9.5"). */
static int version_cmp(const char *a, const char *b)
{
    while (*a || *b) {
        unsigned long x = strtoul(a, (char **)&a, 10), y = strtoul(b, (char **)&b, 10);
        if (x != y)
            return x < y ? -1 : 1;
        if (*a == '.')
            a++;
        if (*b == '.')
            b++;
        if (!isdigit((unsigned char)*a) && !isdigit((unsigned char)*b))
            return strcmp(a, b);
    }
    return 0;
}

/* ---- OpenBeken file names ---------------------------------------------------- */

typedef struct obk_name {
    char product[64]; /* "OpenBK7231N" */
    char chip[16];    /* "bk7231n", "" when the product names no chip we know */
    char version[48]; /* "1.18.300", "" when absent */
} obk_name;

/* "OpenESP8266_1MB_…": the flash-size variant is part of the product (the
 * 1 MB and 2 MB builds are different images of one version). */
static size_t size_variant(const char *s)
{
    size_t n = strspn(s, "0123456789");
    return n && !strncmp(s + n, "MB_", 3) ? n + 2 : 0;
}

/* "OpenBK7231N_QIO_1.18.300.bin", "OpenBK7231T_UA_1.18.300.bin",
 * "OpenESP32C3_1.18.300.factory.bin", "OpenESP8266_1MB_1.18.300.factory.bin":
 * product, chip and version; false for names that are not OpenBeken release
 * names. */
static bool parse_obk_name(const char *file, obk_name *out)
{
    memset(out, 0, sizeof *out);
    if (strncmp(file, "Open", 4) != 0)
        return false;
    size_t plen = strcspn(file, "_.");
    if (plen <= 4 || plen >= sizeof out->product)
        return false;
    char display[16];
    snprintf(display, sizeof display, "%.*s", (int)(plen - 4), file + 4);
    if (file[plen] == '_')
        plen += size_variant(file + plen + 1) ? size_variant(file + plen + 1) + 1 : 0;
    if (plen >= sizeof out->product)
        return false;
    memcpy(out->product, file, plen);
    const fl_chip *c = fl_chip_find(display);
    if (c)
        snprintf(out->chip, sizeof out->chip, "%s", c->name);
    const char *v = strrchr(file, '_'); /* the version is the last field */
    if (v) {
        v++;
        const char *dot = strrchr(v, '.');
        size_t n = strlen(v);
        if (n > 12 && !strcmp(v + n - 12, ".factory.bin")) /* OpenESP*_<ver>.factory.bin */
            dot = v + n - 12;
        size_t vlen = dot && dot != v ? (size_t)(dot - v) : strlen(v);
        if (looks_like_version(v, vlen) && vlen < sizeof out->version)
            memcpy(out->version, v, vlen);
    }
    return true;
}

/* ---- the index ------------------------------------------------------------- */

static void copy_field(json_t *o, const char *key, char *dst, size_t cap)
{
    const char *v = json_string_value(json_object_get(o, key));
    snprintf(dst, cap, "%s", v ? v : "");
}

static fl_status push_entry(fl_fwstore *s, const fl_fw_entry *e, fl_error *err)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        fl_fw_entry *grown = realloc(s->e, cap * sizeof *grown);
        if (!grown)
            return fl_fail(err, FL_ERR_INTERNAL, "out of memory reading the firmware store");
        s->e = grown;
        s->cap = cap;
    }
    s->e[s->n++] = *e;
    return FL_OK;
}

/* (Re)read the index; a missing index is an empty store. */
static fl_status load_index(fl_fwstore *s, fl_error *err)
{
    s->n = 0;
    struct stat sb;
    if (stat(s->index, &sb) != 0 && errno == ENOENT)
        return FL_OK;
    json_error_t je;
    json_t *root = json_load_file(s->index, 0, &je);
    json_t *images = root ? json_object_get(root, "images") : NULL;
    if (!json_is_array(images)) { /* a line only where the JSON itself is broken */
        bool parsed = root != NULL;
        json_decref(root);
        if (parsed)
            return fl_fail(err, FL_ERR_FORMAT,
                           "%s: not a firmware store index (no \"images\" list)", s->index);
        return fl_fail(err, FL_ERR_FORMAT, "%s:%d: not a firmware store index (%s)", s->index,
                       je.line, je.text);
    }
    size_t i;
    json_t *o;
    json_array_foreach(images, i, o) {
        fl_fw_entry e = {0};
        copy_field(o, "name", e.name, sizeof e.name);
        copy_field(o, "file", e.file, sizeof e.file);
        copy_field(o, "chip", e.chip, sizeof e.chip);
        copy_field(o, "version", e.version, sizeof e.version);
        copy_field(o, "kind", e.kind, sizeof e.kind);
        copy_field(o, "sha256", e.sha256, sizeof e.sha256);
        copy_field(o, "source", e.source, sizeof e.source);
        copy_field(o, "added", e.added, sizeof e.added);
        e.size = (uint64_t)json_integer_value(json_object_get(o, "size"));
        if (strlen(e.sha256) != 64 || !is_hex(e.sha256, 64)) {
            json_decref(root);
            return fl_fail(err, FL_ERR_FORMAT, "%s: entry %zu has no valid sha256", s->index, i + 1);
        }
        snprintf(e.path, sizeof e.path, "%s/%s.bin", s->dir, e.sha256);
        fl_status st = push_entry(s, &e, err);
        if (st) {
            json_decref(root);
            return st;
        }
    }
    json_decref(root);
    return FL_OK;
}

static fl_status save_index(fl_fwstore *s, fl_error *err)
{
    json_t *images = json_array();
    for (size_t i = 0; i < s->n; i++) {
        const fl_fw_entry *e = &s->e[i];
        json_array_append_new(images, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s}",
                                                "name", e->name, "file", e->file, "chip", e->chip,
                                                "version", e->version, "kind", e->kind, "sha256",
                                                e->sha256, "size", (json_int_t)e->size, "source",
                                                e->source, "added", e->added));
    }
    json_t *root = json_pack("{s:i, s:o}", "format", INDEX_FORMAT, "images", images);
    char *text = root ? json_dumps(root, JSON_INDENT(2)) : NULL;
    json_decref(root);
    if (!text)
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory writing the firmware store index");
    fl_status st = fl_write_file_durable(s->index, text, strlen(text), err);
    free(text);
    return st;
}

/* Held while the index is read, changed and written: two processes adding at
 * once each see the other's entry.  Returns the lock's fd (close to release). */
static int lock_store(const fl_fwstore *s, fl_error *err)
{
    char path[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/.lock", s->dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || flock(fd, LOCK_EX) != 0) {
        fl_fail(err, FL_ERR_FILE, "cannot lock the firmware store %s: %s", s->dir, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static fl_status make_dir(const char *path, fl_error *err)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return fl_fail(err, FL_ERR_FILE, "cannot create %s: %s", path, strerror(errno));
    return FL_OK;
}

fl_status fl_fwstore_open(const char *dir, fl_fwstore **out, fl_error *err)
{
    *out = NULL;
    fl_fwstore *s = calloc(1, sizeof *s);
    if (!s)
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    fl_status st = make_dir(dir, err);
    if (!st && !realpath(dir, s->dir))
        st = fl_fail(err, FL_ERR_FILE, "firmware store %s: %s", dir, strerror(errno));
    if (!st) {
        snprintf(s->index, sizeof s->index, "%s/index.json", s->dir);
        st = load_index(s, err);
    }
    if (st) {
        fl_fwstore_close(s);
        return st;
    }
    *out = s;
    return FL_OK;
}

void fl_fwstore_close(fl_fwstore *s)
{
    if (!s)
        return;
    free(s->e);
    free(s);
}

const char *fl_fwstore_dir(const fl_fwstore *s) { return s->dir; }
size_t fl_fwstore_count(const fl_fwstore *s) { return s->n; }
const fl_fw_entry *fl_fwstore_entry(const fl_fwstore *s, size_t i)
{
    return i < s->n ? &s->e[i] : NULL;
}

/* ---- adding ------------------------------------------------------------------ */

/* Data, configs and erased flash: never firmware, whatever chip is named. */
static bool not_firmware(fl_image_kind k)
{
    return k == FL_IMAGE_UNKNOWN || k == FL_IMAGE_ERASED || k == FL_IMAGE_TUYA_CONFIG ||
           k == FL_IMAGE_OBK_CONFIG || k == FL_IMAGE_LOGICAL;
}

/* The chip table entry the content names: "BK7231N" or "ESP32-C3" (its display name). */
static const fl_chip *chip_by_display(const char *display)
{
    for (const fl_chip *const *c = fl_chip_all(); *c; c++)
        if (!strcasecmp((*c)->display, display))
            return *c;
    return fl_chip_find(display);
}

/* The chip the image is for, from the caller, the file name or the content,
 * and the library's image policy on it: FL_OK fills entry's chip and kind. */
static fl_status check_image(const uint8_t *data, size_t len, const char *file,
                             const char *chip_opt, const obk_name *obk, fl_fw_entry *e,
                             fl_error *err)
{
    fl_image_info info;
    fl_status st = fl_image_identify(data, len, file, &info, err);
    if (st)
        return fl_fail_prefix(err, "%s", file);
    if (not_firmware(info.kind)) {
        st = fl_fail(err, FL_ERR_FORMAT, "%s is not a firmware image (content: %s)", file,
                     fl_image_kind_text(info.kind));
        fl_image_info_free(&info);
        return st;
    }
    if (info.kind == FL_IMAGE_ESP_APP || info.kind == FL_IMAGE_ESP_BOOTLOADER) {
        st = fl_fail(err, FL_ERR_FORMAT,
                     "%s is %s: the store keeps images that flash a unit whole; add the "
                     "OpenESP*.factory.bin of the same release",
                     file, info.kind == FL_IMAGE_ESP_APP
                               ? "an Espressif app image (OpenBeken's OTA .img: no bootloader, "
                                 "no partition table)"
                               : "an Espressif bootloader image alone");
        fl_image_info_free(&info);
        return st;
    }
    const fl_chip *content = info.chip[0] && !info.chip_from_name ? chip_by_display(info.chip) : NULL;
    const fl_chip *chip = NULL;
    if (chip_opt && !(chip = fl_chip_find(chip_opt)))
        st = fl_fail(err, FL_ERR_USAGE, "unknown chip '%s' (chips: %s %s)", chip_opt,
                     fl_chip_names(), fl_chip_names_family(FL_FAMILY_ESP));
    else if (!chip && obk->chip[0])
        chip = fl_chip_find(obk->chip);
    if (!st && !chip)
        chip = content;
    if (!st && !chip)
        st = fl_fail(err, FL_ERR_FORMAT,
                     "%s: cannot tell which chip this image is for (the content does not say, "
                     "the file name is not an OpenBeken release name): give --chip",
                     file);
    if (!st) {
        fl_image_plan_opts po;
        fl_image_plan_opts_init(&po);
        po.read_only = true; /* nothing is written: only "is this a good image for chip?" */
        po.allow_bootloader = true;
        /* the content cannot tell: the caller's word for it (an Espressif
         * header always tells, even a chip the table does not have) */
        po.force = content == NULL && !(fl_image_kind_is_esp(info.kind) && info.chip[0]);
        fl_placement place;
        st = fl_image_plan(chip, file, data, len, fl_chip_flash_size_limit(chip), &po, &place,
                           err);
        if (st)
            st = fl_fail_prefix(err, "refused for the firmware store");
        else {
            snprintf(e->chip, sizeof e->chip, "%s", chip->name);
            snprintf(e->kind, sizeof e->kind, "%s", fl_image_kind_name(place.kind));
        }
    }
    if (!st && !e->version[0] && info.obk_version[0]) { /* "OpenBK7231N_1.18.300" in the app,
                                                           "OpenBeken_1.18.300" in an ESP app's
                                                           description */
        const char *us = strrchr(info.obk_version, '_');
        const char *v = us ? us + 1 : info.obk_version;
        if (looks_like_version(v, strlen(v)))
            snprintf(e->version, sizeof e->version, "%s", v);
    }
    fl_image_info_free(&info);
    return st;
}

/* Whether a and b answer the same NAME@VERSION reference as equals (the same
 * kind: a _QIO_ image wins over another kind, see fl_fwstore_find). */
static bool same_reference(const fl_fw_entry *a, const fl_fw_entry *b)
{
    return a->version[0] && !strcasecmp(a->name, b->name) &&
           !strcasecmp(a->version, b->version) && !strcmp(a->kind, b->kind);
}

/* Check data (the file called `file`) and put it in the store.  An image
 * whose name, version and kind another image already has is refused: the
 * stock recipes' OpenBK7231N@1.18.300 would stop resolving. */
static fl_status add_data(fl_fwstore *s, const uint8_t *data, size_t len, const char *file,
                          const fl_fw_add_opts *o, const fl_fw_entry **out, bool *added,
                          fl_error *err)
{
    fl_fw_entry e = {0};
    obk_name obk;
    bool is_obk = parse_obk_name(file, &obk);
    snprintf(e.file, sizeof e.file, "%s", file);
    if (is_obk)
        snprintf(e.name, sizeof e.name, "%s", obk.product);
    else { /* the base name without its extension */
        snprintf(e.name, sizeof e.name, "%s", file);
        char *dot = strrchr(e.name, '.');
        if (dot && dot != e.name)
            *dot = '\0';
    }
    snprintf(e.version, sizeof e.version, "%s", o->version ? o->version : obk.version);
    fl_status st = check_image(data, len, file, o->chip, &obk, &e, err);
    if (st)
        return st;
    fl_sha256_hex(data, len, e.sha256);
    e.size = len;
    snprintf(e.source, sizeof e.source, "%s", o->source ? o->source : file);
    fl_iso8601_utc(e.added);
    snprintf(e.path, sizeof e.path, "%s/%s.bin", s->dir, e.sha256);

    int lock = lock_store(s, err);
    if (lock < 0)
        return FL_ERR_FILE;
    st = load_index(s, err); /* what other processes added meanwhile */
    for (size_t i = 0; !st && i < s->n; i++)
        if (!strcmp(s->e[i].sha256, e.sha256)) { /* already there: keep the first record */
            if (out)
                *out = &s->e[i];
            if (added)
                *added = false;
            close(lock);
            return FL_OK;
        }
    for (size_t i = 0; !st && i < s->n; i++)
        if (same_reference(&s->e[i], &e)) {
            st = fl_fail(err, FL_ERR_REFUSED,
                         "%s: %s@%s (%s) is already in the store as another image (sha256 "
                         "%.12s, from %s): a second one would make recipes that name %s@%s "
                         "fail as ambiguous; give this one its own --version",
                         file, e.name, e.version, e.kind, s->e[i].sha256, s->e[i].source, e.name,
                         e.version);
            close(lock);
            return st;
        }
    struct stat sb;
    if (!st && stat(e.path, &sb) != 0) /* content-named: an existing file is these bytes */
        st = fl_write_file_durable(e.path, data, len, err);
    if (!st)
        st = push_entry(s, &e, err);
    if (!st) {
        st = save_index(s, err);
        if (st)
            s->n--;
    }
    close(lock);
    if (!st) {
        if (out)
            *out = &s->e[s->n - 1];
        if (added)
            *added = true;
    }
    return st;
}

fl_status fl_fwstore_add_file(fl_fwstore *s, const char *path, const fl_fw_add_opts *opts,
                              const fl_fw_entry **out, bool *added, fl_error *err)
{
    fl_fw_add_opts o = opts ? *opts : (fl_fw_add_opts){0};
    uint8_t *data;
    size_t len;
    fl_status st = fl_read_file(path, &data, &len, MAX_IMAGE_BYTES, err);
    if (st)
        return st;
    char abs[PATH_MAX];
    if (!o.source)
        o.source = realpath(path, abs) ? abs : path;
    st = add_data(s, data, len, base_name(path), &o, out, added, err);
    free(data);
    return st;
}

/* ---- references ---------------------------------------------------------------- */

bool fl_fwstore_is_ref(const char *text)
{
    if (!strncasecmp(text, "sha256:", 7))
        return true;
    const char *at = strchr(text, '@');
    return at && at != text && at[1] && !strchr(text, '/');
}

/* The chip a reference's name stands for: "bk7231n" or "OpenBK7231N". */
static const fl_chip *ref_chip(const char *name)
{
    const fl_chip *c = fl_chip_find(name);
    if (!c && !strncasecmp(name, "Open", 4)) {
        char chip[32]; /* "OpenESP8266_1MB" → "ESP8266" */
        snprintf(chip, sizeof chip, "%.*s", (int)strcspn(name + 4, "_"), name + 4);
        c = fl_chip_find(chip);
    }
    return c;
}

void fl_fwstore_hint(const char *ref, char *out, size_t cap)
{
    const char *at = strchr(ref, '@');
    char name[64] = "";
    if (at && !strncasecmp(ref, "sha256:", 7))
        at = NULL;
    if (at)
        snprintf(name, sizeof name, "%.*s", (int)(at - ref), ref);
    const fl_chip *c = at ? ref_chip(name) : NULL;
    if (c)
        snprintf(out, cap, "flashline firmware fetch %s %s", c->name, at + 1);
    else
        snprintf(out, cap, "flashline firmware add FILE");
}

static fl_status not_found(const fl_fwstore *s, const char *ref, fl_error *err)
{
    char hint[200];
    fl_fwstore_hint(ref, hint, sizeof hint);
    return fl_fail(err, FL_ERR_FILE, "firmware %s is not in the store (%s): get it with `%s`, or "
                   "give a file with --set firmware=PATH", ref, s->dir, hint);
}

static fl_status find_sha(const fl_fwstore *s, const char *ref, const fl_fw_entry **out,
                          fl_error *err)
{
    const char *hex = ref + 7;
    size_t n = strlen(hex);
    if (n < 12 || n > 64 || !is_hex(hex, n))
        return fl_fail(err, FL_ERR_USAGE, "'%s': a sha256: reference needs 12 to 64 hex digits",
                       ref);
    const fl_fw_entry *hit = NULL;
    for (size_t i = 0; i < s->n; i++)
        if (!strncasecmp(s->e[i].sha256, hex, n)) {
            if (hit)
                return fl_fail(err, FL_ERR_USAGE, "'%s' matches several images in the store: "
                               "give more digits", ref);
            hit = &s->e[i];
        }
    if (!hit)
        return not_found(s, ref, err);
    *out = hit;
    return FL_OK;
}

fl_status fl_fwstore_find(const fl_fwstore *s, const char *ref, const fl_fw_entry **out,
                          fl_error *err)
{
    *out = NULL;
    if (!fl_fwstore_is_ref(ref))
        return fl_fail(err, FL_ERR_USAGE, "'%s' is not a firmware reference (NAME@VERSION or "
                       "sha256:HEX)", ref);
    if (!strncasecmp(ref, "sha256:", 7))
        return find_sha(s, ref, out, err);
    const char *at = strchr(ref, '@');
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)(at - ref), ref);
    const char *version = at + 1;
    bool latest = !strcasecmp(version, "latest");
    const fl_fw_entry *best = NULL;
    int ties = 0;
    for (size_t i = 0; i < s->n; i++) {
        const fl_fw_entry *e = &s->e[i];
        if (strcasecmp(e->name, name) && strcasecmp(e->chip, name))
            continue;
        if (!latest && strcasecmp(e->version, version))
            continue;
        int c = !best ? 1 : latest ? version_cmp(e->version, best->version) : 0;
        /* a _QIO_ (Espressif: factory) image is what the UART and SPI paths
         * flash whole: it wins a tie */
        if (c == 0 && best && strcmp(best->sha256, e->sha256)) {
            bool eq = !strcmp(e->kind, "qio") || !strcmp(e->kind, "esp_factory"),
                 bq = !strcmp(best->kind, "qio") || !strcmp(best->kind, "esp_factory");
            if (eq != bq)
                c = eq ? 1 : -1;
            else
                ties++;
        }
        if (c > 0) {
            best = e;
            ties = 0;
        }
    }
    if (!best)
        return not_found(s, ref, err);
    if (ties)
        return fl_fail(err, FL_ERR_USAGE, "'%s' matches several images in the store (see "
                       "`flashline firmware list`): name one as sha256:HEX", ref);
    *out = best;
    return FL_OK;
}

/* ---- fetching ------------------------------------------------------------------- */

typedef struct release_asset {
    char tag[64];
    char name[128];
    char url[2048];
    char sha256[65]; /* "" when the release metadata has no digest */
    uint64_t size;
} release_asset;

/* The asset that flashes the chip whole: "OpenBK7231N_QIO_<ver>.bin" for a
 * Beken chip, "OpenESP32C3_<ver>.factory.bin" for an Espressif one (the ESP8266
 * comes as OpenESP8266_1MB_… and _2MB_…: both match, and the caller says which). */
static void asset_pattern(const fl_chip *chip, char *prefix, size_t cap, const char **suffix)
{
    if (chip->family != FL_FAMILY_ESP) {
        snprintf(prefix, cap, "Open%s_QIO_", chip->display);
        *suffix = ".bin";
        return;
    }
    size_t o = (size_t)snprintf(prefix, cap, "Open");
    for (const char *d = chip->display; *d && o + 2 < cap; d++)
        if (*d != '-')
            prefix[o++] = *d;
    prefix[o++] = '_';
    prefix[o] = '\0';
    *suffix = ".factory.bin";
}

/* Pick the chip's whole-flash image from a release object of GitHub's API. */
static fl_status pick_asset(json_t *rel, const fl_chip *chip, const char *url, release_asset *a,
                            fl_error *err)
{
    const char *tag = json_string_value(json_object_get(rel, "tag_name"));
    json_t *assets = json_object_get(rel, "assets");
    if (!tag || !json_is_array(assets))
        return fl_fail(err, FL_ERR_FORMAT, "%s: not a GitHub release (no tag_name or assets)", url);
    snprintf(a->tag, sizeof a->tag, "%s", tag[0] == 'v' ? tag + 1 : tag);
    char prefix[48];
    const char *suffix;
    asset_pattern(chip, prefix, sizeof prefix, &suffix);
    size_t i, sl = strlen(suffix);
    json_t *o;
    const char *first = NULL;
    json_array_foreach(assets, i, o) {
        const char *name = json_string_value(json_object_get(o, "name"));
        const char *dl = json_string_value(json_object_get(o, "browser_download_url"));
        size_t n = name ? strlen(name) : 0;
        if (!name || !dl || strncmp(name, prefix, strlen(prefix)) || n < sl ||
            strcmp(name + n - sl, suffix))
            continue;
        if (first)
            return fl_fail(err, FL_ERR_USAGE,
                           "release %s has several %s*%s assets (%s, %s, …): download the one "
                           "for this unit's flash and add it with `flashline firmware add FILE`",
                           a->tag, prefix, suffix, first, name);
        first = name;
    }
    json_array_foreach(assets, i, o) {
        const char *name = json_string_value(json_object_get(o, "name"));
        const char *dl = json_string_value(json_object_get(o, "browser_download_url"));
        if (!first || !name || !dl || strcmp(name, first))
            continue;
        snprintf(a->name, sizeof a->name, "%s", name);
        snprintf(a->url, sizeof a->url, "%s", dl);
        a->size = (uint64_t)json_integer_value(json_object_get(o, "size"));
        const char *digest = json_string_value(json_object_get(o, "digest"));
        if (digest && !strncmp(digest, "sha256:", 7) && strlen(digest + 7) == 64 &&
            is_hex(digest + 7, 64)) {
            snprintf(a->sha256, sizeof a->sha256, "%s", digest + 7);
            lower(a->sha256);
        }
        return FL_OK;
    }
    return fl_fail(err, FL_ERR_FILE, "release %s has no %s*%s asset (the UART/SPI image for "
                   "%s)", a->tag, prefix, suffix, chip->name);
}

/* The release listing → the asset to download. */
static fl_status find_release(const fl_fw_fetch_opts *o, const fl_chip *chip, const fl_events *ev,
                              release_asset *a, fl_error *err)
{
    const char *base = o->base_url ? o->base_url : getenv("FLASHLINE_RELEASES_URL");
    if (!base || !*base)
        base = FL_FWSTORE_RELEASES_URL;
    size_t blen = strlen(base);
    while (blen && base[blen - 1] == '/')
        blen--;
    bool latest = !o->version || !strcasecmp(o->version, "latest");
    char url[2048];
    if (latest)
        snprintf(url, sizeof url, "%.*s/latest", (int)blen, base);
    else
        snprintf(url, sizeof url, "%.*s/tags/%s", (int)blen, base, o->version);
    fl_logf(ev, FL_LOG_INFO, "release metadata: %s", url);
    char *body;
    size_t len;
    long code;
    fl_status st = fl_http_get(url, MAX_LISTING_BYTES, &body, &len, &code, ev, err);
    if (st) {
        if (code == 404)
            fl_fail_prefix(err, "no release %s", latest ? "(latest)" : o->version);
        return st;
    }
    json_error_t je;
    json_t *rel = json_loadb(body, len, 0, &je);
    free(body);
    if (!json_is_object(rel)) {
        json_decref(rel);
        return fl_fail(err, FL_ERR_FORMAT, "%s: the answer is not a release object (%s)", url,
                       je.text);
    }
    st = pick_asset(rel, chip, url, a, err);
    json_decref(rel);
    return st;
}

/* SHA-256 of a file, streamed. */
static fl_status file_sha256(const char *path, char out[65], fl_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fl_fail(err, FL_ERR_FILE, "cannot read %s: %s", path, strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    unsigned char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        EVP_DigestUpdate(ctx, buf, n);
    bool bad = ferror(f);
    fclose(f);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    if (bad)
        return fl_fail(err, FL_ERR_FILE, "error reading %s", path);
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return FL_OK;
}

static uint64_t file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

/* Download into part, resuming while each attempt makes progress. */
static fl_status download(const release_asset *a, const char *part, int attempts,
                          const fl_events *ev, fl_error *err)
{
    fl_status st = FL_OK;
    for (int i = 0; i < attempts; i++) {
        uint64_t before = file_size(part);
        if (before && (!a->size || before < a->size))
            fl_logf(ev, FL_LOG_INFO, "resuming %s at byte %llu", a->name,
                    (unsigned long long)before);
        int resumed = 0;
        long code = 0;
        st = fl_http_download(a->url, part, a->size, ev, &resumed, &code, err);
        if (st == FL_ERR_LINK && code == 416 && before > 0) /* nothing after what we have: */
            st = FL_OK;                                     /* the SHA-256 check decides */
        if (!st || st == FL_ERR_CANCELLED || code >= 400 || file_size(part) <= before)
            break;
        if (i + 1 < attempts)
            fl_logf(ev, FL_LOG_WARN, "%s", err->msg);
    }
    if (st == FL_ERR_LINK && file_size(part) > 0) { /* say what the operator can do */
        size_t used = strlen(err->msg);
        snprintf(err->msg + used, sizeof err->msg - used,
                 "; the %llu bytes received are kept: run the same command again to resume",
                 (unsigned long long)file_size(part));
    }
    return st;
}

/* The pin: the release's digest, the operator's --sha256, and both must agree. */
static fl_status pin_digest(release_asset *a, const char *given, fl_error *err)
{
    if (given) {
        size_t n = strlen(given);
        if (!strncasecmp(given, "sha256:", 7))
            given += 7, n -= 7;
        if (n != 64 || !is_hex(given, 64))
            return fl_fail(err, FL_ERR_USAGE, "--sha256 needs 64 hex digits");
        char pin[65];
        snprintf(pin, sizeof pin, "%s", given);
        lower(pin);
        if (a->sha256[0] && strcmp(a->sha256, pin))
            return fl_fail(err, FL_ERR_VERIFY, "the given SHA-256 %s differs from the release's "
                           "digest %s for %s: nothing downloaded", pin, a->sha256, a->name);
        snprintf(a->sha256, sizeof a->sha256, "%s", pin);
    }
    if (!a->sha256[0])
        return fl_fail(err, FL_ERR_REFUSED, "release %s gives no SHA-256 digest for %s, so the "
                       "download could not be checked: give --sha256 HEX (from a source you "
                       "trust) to pin it yourself", a->tag, a->name);
    return FL_OK;
}

fl_status fl_fwstore_verify(const fl_fw_entry *e, fl_error *err)
{
    char got[65];
    fl_status st = file_sha256(e->path, got, err);
    if (st)
        return fl_fail(err, FL_ERR_FILE, "firmware %s@%s: the store's file %s is missing or "
                       "unreadable: add the image again with `flashline firmware add FILE`",
                       e->name, e->version, e->path);
    if (strcmp(got, e->sha256))
        return fl_fail(err, FL_ERR_FILE, "firmware %s@%s: the store's file %s no longer has "
                       "SHA-256 %s (it has %s): add the image again with `flashline firmware "
                       "add FILE`", e->name, e->version, e->path, e->sha256, got);
    return FL_OK;
}

fl_status fl_fwstore_fetch(fl_fwstore *s, const fl_fw_fetch_opts *opts, const fl_events *ev,
                           const fl_fw_entry **out, bool *added, fl_error *err)
{
    const fl_chip *chip = opts->chip ? fl_chip_find(opts->chip) : NULL;
    if (!chip || (chip->family != FL_FAMILY_BEKEN && chip->family != FL_FAMILY_ESP))
        return fl_fail(err, FL_ERR_USAGE, "fetch needs a Beken or Espressif chip (%s %s), not '%s'",
                       fl_chip_names(), fl_chip_names_family(FL_FAMILY_ESP),
                       opts->chip ? opts->chip : "");
    release_asset a = {0};
    fl_status st = find_release(opts, chip, ev, &a, err);
    if (!st)
        st = pin_digest(&a, opts->sha256, err);
    if (st)
        return st;
    fl_logf(ev, FL_LOG_INFO, "release %s: %s (%llu bytes, sha256 %s)", a.tag, a.name,
            (unsigned long long)a.size, a.sha256);
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->e[i].sha256, a.sha256)) {
            if (out)
                *out = &s->e[i];
            if (added)
                *added = false;
            return FL_OK;
        }
    char partdir[PATH_MAX + 8], part[PATH_MAX + 96];
    snprintf(partdir, sizeof partdir, "%s/.part", s->dir);
    snprintf(part, sizeof part, "%s/%s.part", partdir, a.sha256);
    st = make_dir(partdir, err);
    if (!st)
        st = download(&a, part, opts->attempts > 0 ? opts->attempts : 3, ev, err);
    if (st)
        return st;
    char got[65];
    st = file_sha256(part, got, err);
    if (st)
        return st;
    if (strcmp(got, a.sha256)) {
        unlink(part);
        return fl_fail(err, FL_ERR_VERIFY, "digest mismatch for %s: downloaded SHA-256 %s, the "
                       "release says %s; the download was deleted and nothing entered the store",
                       a.name, got, a.sha256);
    }
    uint8_t *data;
    size_t len;
    st = fl_read_file(part, &data, &len, MAX_IMAGE_BYTES, err);
    if (st)
        return st;
    fl_fw_add_opts ao = {.chip = chip->name, .version = a.tag, .source = a.url};
    st = add_data(s, data, len, a.name, &ao, out, added, err);
    free(data);
    unlink(part); /* in the store, or refused by the image check: not kept either way */
    return st;
}
