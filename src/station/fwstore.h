/* fwstore.h — the firmware store: images a station flashes, kept by content.
 *
 * What it offers
 *   - a store in one directory (the station home's firmware/, home.h):
 *       DIR/<sha256>.bin   the image, named by its SHA-256 (never overwritten)
 *       DIR/index.json     what is known about each image (below)
 *       DIR/.part/         downloads in progress (resumed by the next fetch)
 *     The index is JSON (jansson) rewritten whole, durably (temp file, fsync,
 *     rename) under an flock on DIR/.lock, so two stations adding at once do
 *     not lose an entry.  JSON rather than SQLite: a store holds tens of
 *     entries, an operator can read or copy it with the images, and the audit
 *     log (SQLite) stays the one database the station writes;
 *   - add: an image is checked by the library's image policy before it enters
 *     (flash/image_policy.h: CRC16 blocks, RBL headers, truncation, another
 *     chip's content); a corrupt image or one whose chip cannot be told is
 *     refused (the chip comes from the content, the OpenBeken file name
 *     "OpenBK7231N_QIO_1.18.300.bin", or the caller);
 *   - fetch: an OpenBeken release from GitHub's releases API (or a mirror with
 *     the same JSON), SHA-256 pinned from the asset's "digest", resumable, then
 *     added as above; nothing enters the store unless the digest matches;
 *   - references: recipes name an image "OpenBK7231N@1.18.300" (name or chip,
 *     then version), "sha256:<hex>" (a unique prefix of at least 12 digits)
 *     instead of a path; fl_fwstore_find resolves them.
 *
 * The library never prints: problems come back as fl_error, downloads report
 * progress ("download") and can be cancelled through fl_events. */
#ifndef FL_STATION_FWSTORE_H
#define FL_STATION_FWSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/events.h"

/* The GitHub releases API of OpenBeken: what fetch asks when no base URL is given. */
#define FL_FWSTORE_RELEASES_URL "https://api.github.com/repos/openshwprojects/OpenBK7231T_App/releases"

typedef struct fl_fw_entry {
    char name[64];      /* "OpenBK7231N" (from the file name) or the file's base name */
    char file[128];     /* the file name it was added or fetched as */
    char chip[16];      /* "bk7231n" */
    char version[48];   /* "1.18.300"; "" when unknown */
    char kind[16];      /* what the content is: "qio", "ua", ... (image_id.h) */
    char sha256[65];
    uint64_t size;
    char source[1024];  /* the absolute path or URL it came from */
    char added[32];     /* UTC, "2026-12-04T22:45:00Z" */
    char path[4096];    /* the image in the store (absolute) */
} fl_fw_entry;

typedef struct fl_fwstore fl_fwstore;

/* Open the store in dir (created if missing) and read its index. */
fl_status fl_fwstore_open(const char *dir, fl_fwstore **out, fl_error *err);
void fl_fwstore_close(fl_fwstore *s);
const char *fl_fwstore_dir(const fl_fwstore *s);

/* The entries, in the order they were added. */
size_t fl_fwstore_count(const fl_fwstore *s);
const fl_fw_entry *fl_fwstore_entry(const fl_fwstore *s, size_t i);

typedef struct fl_fw_add_opts {
    const char *chip;    /* NULL: from the content or the file name */
    const char *version; /* NULL: from the file name (or the content) */
    const char *source;  /* NULL: the file's absolute path */
} fl_fw_add_opts;

/* Check the file and add it.  *out (may be NULL) points into the store.
 * Adding an image already in the store keeps it once (*added false).
 * FL_ERR_FORMAT: corrupt, not a code image, chip unknown or contradicted. */
fl_status fl_fwstore_add_file(fl_fwstore *s, const char *path, const fl_fw_add_opts *opts,
                              const fl_fw_entry **out, bool *added, fl_error *err);

/* Does text name a store entry rather than a path?  "NAME@VERSION" (no '/')
 * or "sha256:HEX". */
bool fl_fwstore_is_ref(const char *text);

/* Resolve a reference (see above): FL_ERR_FILE when nothing matches (the
 * message names the reference and says how to get it), FL_ERR_USAGE when it
 * is malformed or ambiguous. */
fl_status fl_fwstore_find(const fl_fwstore *s, const char *ref, const fl_fw_entry **out,
                          fl_error *err);

/* Does the entry's file still hold the bytes the store recorded?  FL_ERR_FILE
 * when it is missing or its SHA-256 changed (it is not the image it names). */
fl_status fl_fwstore_verify(const fl_fw_entry *e, fl_error *err);

/* The hint for a missing entry: "flashline firmware fetch bk7231n 1.18.300"
 * (or "flashline firmware add FILE" for a sha256: reference). */
void fl_fwstore_hint(const char *ref, char *out, size_t cap);

typedef struct fl_fw_fetch_opts {
    const char *chip;     /* "bk7231n" */
    const char *version;  /* "1.18.300", or NULL / "latest" */
    const char *base_url; /* NULL: $FLASHLINE_RELEASES_URL, else FL_FWSTORE_RELEASES_URL */
    const char *sha256;   /* pin for a release whose asset has no "digest"; NULL: refuse those */
    int attempts;         /* transfers tried while each one makes progress (0: 3) */
} fl_fw_fetch_opts;

/* Find the release, pick the chip's _QIO_ asset, download it (resuming
 * DIR/.part/<sha256>.part with an HTTP Range request), check its SHA-256 and
 * add it.  On a digest mismatch the partial file is deleted (FL_ERR_VERIFY);
 * an interrupted transfer keeps it for the next fetch (FL_ERR_LINK). */
fl_status fl_fwstore_fetch(fl_fwstore *s, const fl_fw_fetch_opts *opts, const fl_events *ev,
                           const fl_fw_entry **out, bool *added, fl_error *err);

#endif
