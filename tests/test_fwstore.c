/* Tests for the firmware store (src/station/fwstore.c) without the network:
 * adding (checked by the image policy), the index surviving a reopen,
 * references (NAME@VERSION, chip@latest, sha256: prefixes), the hint for a
 * missing entry, and a store file whose bytes changed.  Fetching is tested
 * against a local server in tests/cli/firmware.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "station/fwstore.h"
#include "testlib.h"
#include "util/fileio.h"

#define IMAGES SHARED_DIR "/testdata/obk-images"
#define IMG_N IMAGES "/OpenBK7231N_QIO_1.18.300.bin"
#define IMG_T IMAGES "/OpenBK7231T_QIO_1.18.300.bin"

static char dir[256];

/* The previous test's store goes; the last one goes at the end of main. */
static void remove_dir(void)
{
    char cmd[300];
    if (dir[0] && snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir) < (int)sizeof cmd &&
        system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

static void fresh_dir(void)
{
    remove_dir();
    snprintf(dir, sizeof dir, "/tmp/flashline-fwstore.XXXXXX");
    if (!mkdtemp(dir))
        perror("mkdtemp");
}

static size_t files_in_store(void)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "ls %s/*.bin 2>/dev/null | wc -l", dir);
    FILE *p = popen(cmd, "r");
    unsigned long n = 0;
    if (p && fscanf(p, "%lu", &n) != 1)
        n = 0;
    if (p)
        pclose(p);
    return n;
}

static void test_add_and_reopen(void)
{
    fresh_dir();
    fl_fwstore *s;
    fl_error e = {0};
    CHECK(fl_fwstore_open(dir, &s, &e) == FL_OK, "open: %s", e.msg);
    const fl_fw_entry *en;
    bool added = false;
    CHECK(fl_fwstore_add_file(s, IMG_N, NULL, &en, &added, &e) == FL_OK, "add: %s", e.msg);
    CHECK(added, "first add adds");
    CHECK_STR(en->name, "OpenBK7231N");
    CHECK_STR(en->chip, "bk7231n");
    CHECK_STR(en->version, "1.18.300");
    CHECK_STR(en->kind, "qio");
    CHECK(fl_fwstore_add_file(s, IMG_N, NULL, &en, &added, &e) == FL_OK, "again: %s", e.msg);
    CHECK(!added && fl_fwstore_count(s) == 1, "the same image is kept once");
    fl_fw_add_opts o = {.chip = "bk7231t", .version = "2.0.0"};
    CHECK(fl_fwstore_add_file(s, IMG_T, &o, &en, &added, &e) == FL_OK, "add T: %s", e.msg);
    CHECK_STR(en->version, "2.0.0");
    fl_fwstore_close(s);

    CHECK(fl_fwstore_open(dir, &s, &e) == FL_OK, "reopen: %s", e.msg);
    CHECK_EQ_UINT(fl_fwstore_count(s), 2);
    CHECK_STR(fl_fwstore_entry(s, 1)->chip, "bk7231t");
    CHECK(fl_fwstore_verify(fl_fwstore_entry(s, 0), &e) == FL_OK, "verify: %s", e.msg);
    CHECK_EQ_UINT(files_in_store(), 2);
    fl_fwstore_close(s);
}

static void test_refused(void)
{
    fresh_dir();
    fl_fwstore *s;
    fl_error e = {0};
    CHECK(fl_fwstore_open(dir, &s, &e) == FL_OK, "open: %s", e.msg);
    /* T image claimed as N: another chip's content */
    fl_fw_add_opts o = {.chip = "bk7231n"};
    CHECK(fl_fwstore_add_file(s, IMG_T, &o, NULL, NULL, &e) == FL_ERR_FORMAT, "other chip");
    CHECK(strstr(e.msg, "bk7231n") != NULL, "names the chip: %s", e.msg);
    /* a corrupt copy: one CRC16 block wrong */
    uint8_t *d;
    size_t n;
    CHECK(fl_read_file(IMG_N, &d, &n, 8u << 20, &e) == FL_OK, "read: %s", e.msg);
    d[300000] ^= 0xFF;
    char bad[300];
    snprintf(bad, sizeof bad, "%s/../fwstore-corrupt-%d.bin", dir, (int)getpid());
    CHECK(fl_write_file_durable(bad, d, n, &e) == FL_OK, "write: %s", e.msg);
    free(d);
    CHECK(fl_fwstore_add_file(s, bad, &o, NULL, NULL, &e) == FL_ERR_FORMAT, "corrupt refused");
    CHECK(strstr(e.msg, "corrupt") != NULL, "says corrupt: %s", e.msg);
    unlink(bad);
    CHECK_EQ_UINT(fl_fwstore_count(s), 0);
    CHECK_EQ_UINT(files_in_store(), 0);
    /* unknown --chip */
    fl_fw_add_opts u = {.chip = "rtl8710b"};
    CHECK(fl_fwstore_add_file(s, IMG_N, &u, NULL, NULL, &e) == FL_ERR_USAGE, "unknown chip");
    /* a chip of another family: the image policy refuses, naming both */
    fl_fw_add_opts x = {.chip = "esp32"};
    CHECK(fl_fwstore_add_file(s, IMG_N, &x, NULL, NULL, &e) == FL_ERR_FORMAT &&
              strstr(e.msg, "bk7231n") && strstr(e.msg, "esp32"), "Beken image for esp32: %s", e.msg);
    CHECK_EQ_UINT(fl_fwstore_count(s), 0);
    fl_fwstore_close(s);
}

static void test_references(void)
{
    fresh_dir();
    fl_fwstore *s;
    fl_error e = {0};
    CHECK(fl_fwstore_open(dir, &s, &e) == FL_OK, "open: %s", e.msg);
    const fl_fw_entry *n, *t, *got;
    fl_fw_add_opts old = {.version = "1.9.1"};
    CHECK(fl_fwstore_add_file(s, IMG_N, NULL, &n, NULL, &e) == FL_OK, "add: %s", e.msg);
    CHECK(fl_fwstore_add_file(s, IMG_T, &old, &t, NULL, &e) == FL_OK, "add: %s", e.msg);
    char n_sha[65], t_sha[65];
    snprintf(n_sha, sizeof n_sha, "%s", n->sha256);
    snprintf(t_sha, sizeof t_sha, "%s", t->sha256);

    CHECK(fl_fwstore_is_ref("OpenBK7231N@1.18.300"), "name@version");
    CHECK(fl_fwstore_is_ref("sha256:0123456789ab"), "sha256:");
    CHECK(!fl_fwstore_is_ref("fw/OpenBK@1.bin"), "a path with '/' is a path");
    CHECK(!fl_fwstore_is_ref("OpenBK7231N_QIO_1.18.300.bin"), "a file name is a path");
    CHECK(!fl_fwstore_is_ref("@1.0"), "no name");

    CHECK(fl_fwstore_find(s, "OpenBK7231N@1.18.300", &got, &e) == FL_OK, "%s", e.msg);
    CHECK(got && !strcmp(got->sha256, n_sha), "name@version");
    CHECK(fl_fwstore_find(s, "bk7231n@latest", &got, &e) == FL_OK, "%s", e.msg);
    CHECK(got && !strcmp(got->sha256, n_sha), "chip@latest");
    CHECK(fl_fwstore_find(s, "OpenBK7231T@1.9.1", &got, &e) == FL_OK, "%s", e.msg);
    char ref[80];
    snprintf(ref, sizeof ref, "sha256:%.12s", t_sha);
    CHECK(fl_fwstore_find(s, ref, &got, &e) == FL_OK && !strcmp(got->sha256, t_sha),
          "12-digit prefix: %s", e.msg);
    snprintf(ref, sizeof ref, "sha256:%.11s", t_sha);
    CHECK(fl_fwstore_find(s, ref, &got, &e) == FL_ERR_USAGE, "11 digits are too few");
    CHECK(fl_fwstore_find(s, "OpenBK7238@1.18.300", &got, &e) == FL_ERR_FILE, "missing");
    CHECK(strstr(e.msg, "flashline firmware fetch bk7238 1.18.300") != NULL, "hint: %s", e.msg);
    CHECK(fl_fwstore_find(s, "OpenBK7231N@1.18.301", &got, &e) == FL_ERR_FILE, "wrong version");
    char hint[200];
    fl_fwstore_hint("sha256:0123456789abcdef", hint, sizeof hint);
    CHECK_STR(hint, "flashline firmware add FILE");

    /* a store file whose bytes changed is not the image it names */
    CHECK(fl_fwstore_find(s, "OpenBK7231N@1.18.300", &got, &e) == FL_OK, "%s", e.msg);
    chmod(got->path, 0644);
    FILE *f = fopen(got->path, "r+b");
    if (f) {
        fseek(f, 100, SEEK_SET);
        fputc('X', f);
        fclose(f);
    }
    CHECK(fl_fwstore_verify(got, &e) == FL_ERR_FILE, "tampered file");
    CHECK(strstr(e.msg, "no longer has SHA-256") != NULL, "%s", e.msg);
    fl_fwstore_close(s);
}

static void test_bad_index(void)
{
    fresh_dir();
    char path[300];
    snprintf(path, sizeof path, "%s/index.json", dir);
    const char *junk = "{\"images\": 5}";
    fl_error e = {0};
    CHECK(fl_write_file_durable(path, junk, strlen(junk), &e) == FL_OK, "%s", e.msg);
    fl_fwstore *s = NULL;
    CHECK(fl_fwstore_open(dir, &s, &e) == FL_ERR_FORMAT, "a malformed index is refused");
    CHECK(strstr(e.msg, "index.json") != NULL, "names the file: %s", e.msg);
    CHECK(strstr(e.msg, ":-1") == NULL, "no line number where JSON gives none: %s", e.msg);
    CHECK(s == NULL, "nothing opened");
    const char *cut = "{\"images\": [\n";
    CHECK(fl_write_file_durable(path, cut, strlen(cut), &e) == FL_OK, "%s", e.msg);
    CHECK(fl_fwstore_open(dir, &s, &e) == FL_ERR_FORMAT, "a cut index is refused");
    CHECK(strstr(e.msg, "index.json:2: ") != NULL, "at its line: %s", e.msg);
}

int main(void)
{
    RUN(test_add_and_reopen);
    RUN(test_refused);
    RUN(test_references);
    RUN(test_bad_index);
    remove_dir();
    return testlib_finish();
}
