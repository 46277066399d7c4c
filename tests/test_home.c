/* The station home: where it is, station.yaml (created with commented
 * defaults, never overwritten, every key read, every mistake named with
 * FILE:LINE), and the one rule for the audit log (--db, $FLASHLINE_DB, home). */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "station/home.h"
#include "testlib.h"

static char base[PATH_MAX] = "/tmp/fl-home-XXXXXX";

static const char *path_in(const char *name)
{
    static char buf[4][PATH_MAX];
    static int next;
    next = (next + 1) % 4;
    snprintf(buf[next], sizeof buf[next], "%s/%s", base, name);
    return buf[next];
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static char *read_text(const char *path)
{
    static char buf[8192];
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        fclose(f);
    }
    return buf;
}

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A home with station.yaml holding text; returns the open status. */
static fl_status open_with(const char *name, const char *text, fl_home **h, fl_error *e)
{
    const char *dir = path_in(name);
    mkdir(dir, 0755);
    char cfg[PATH_MAX];
    snprintf(cfg, sizeof cfg, "%s/station.yaml", dir);
    write_text(cfg, text);
    return fl_home_open(dir, h, e);
}

static void test_first_open_creates_commented_defaults(void)
{
    fl_home *h = NULL;
    fl_error e = {0};
    const char *dir = path_in("fresh/deeper");
    CHECK(fl_home_open(dir, &h, &e) == FL_OK, "open: %s", e.msg);
    if (!h)
        return;
    CHECK_STR(fl_home_config_path(h), path_in("fresh/deeper/station.yaml"));
    const char *text = read_text(fl_home_config_path(h));
    CHECK(strstr(text, "# station:") && strstr(text, "# operator:") && strstr(text, "# db:") &&
              strstr(text, "# backups:") && strstr(text, "# firmware:") &&
              strstr(text, "# ports:"),
          "every key shown, commented out:\n%s", text);
    CHECK_STR(fl_home_db_path(h), path_in("fresh/deeper/flashline.db"));
    CHECK_STR(fl_home_backups_dir(h), path_in("fresh/deeper/backups"));
    CHECK_STR(fl_home_firmware_dir(h), path_in("fresh/deeper/firmware"));
    CHECK(is_dir(fl_home_backups_dir(h)) && is_dir(fl_home_firmware_dir(h)), "dirs made");
    CHECK(fl_home_station(h) == NULL && fl_home_operator(h) == NULL, "no station/operator");
    struct stat st;
    CHECK(stat(fl_home_config_path(h), &st) == 0 && (st.st_mode & 0777) == 0644, "mode 0644");
    fl_home_close(h);
    /* no temp file left behind */
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | grep -q '^\\.station'", dir);
    CHECK(system(cmd) != 0, "no temp file left in the home");
}

static void test_existing_config_is_kept(void)
{
    fl_home *h = NULL;
    fl_error e = {0};
    const char *mine = "# mine\nstation: bench-3\n";
    CHECK(open_with("kept", mine, &h, &e) == FL_OK, "open: %s", e.msg);
    CHECK_STR(read_text(path_in("kept/station.yaml")), mine);
    CHECK_STR(h ? fl_home_station(h) : NULL, "bench-3");
    fl_home_close(h);
}

static void test_every_key_read(void)
{
    fl_home *h = NULL;
    fl_error e = {0};
    char text[1024];
    snprintf(text, sizeof text,
             "# a station\n"
             "station: line-7\n"
             "operator: \"Ana Lima\"\n"
             "db: logs/audit.db\n"
             "backups: %s\n"
             "firmware: fw\n",
             path_in("elsewhere/bk"));
    CHECK(open_with("full", text, &h, &e) == FL_OK, "open: %s", e.msg);
    if (!h)
        return;
    CHECK_STR(fl_home_station(h), "line-7");
    CHECK_STR(fl_home_operator(h), "Ana Lima");
    CHECK_STR(fl_home_db_path(h), path_in("full/logs/audit.db"));
    CHECK_STR(fl_home_backups_dir(h), path_in("elsewhere/bk"));
    CHECK_STR(fl_home_firmware_dir(h), path_in("full/fw"));
    CHECK(is_dir(path_in("elsewhere/bk")) && is_dir(path_in("full/fw")) &&
              is_dir(path_in("full/logs")),
          "configured dirs made, the log's folder too");
    fl_home_close(h);
}

static void test_empty_values_keep_defaults(void)
{
    fl_home *h = NULL;
    fl_error e = {0};
    CHECK(open_with("empty", "station:\noperator: ~\ndb: null\n", &h, &e) == FL_OK, "open: %s",
          e.msg);
    CHECK(h && fl_home_station(h) == NULL && fl_home_operator(h) == NULL, "unset");
    CHECK_STR(h ? fl_home_db_path(h) : NULL, path_in("empty/flashline.db"));
    fl_home_close(h);
    CHECK(open_with("blank", "", &h, &e) == FL_OK, "an empty file: %s", e.msg);
    fl_home_close(h);
}

/* bad config: FL_ERR_FORMAT, "FILE:LINE:" and the words the operator needs */
static void bad(const char *name, const char *text, int line, const char *want)
{
    fl_home *h = NULL;
    fl_error e = {0};
    fl_status st = open_with(name, text, &h, &e);
    char where[PATH_MAX + 32];
    snprintf(where, sizeof where, "%s/station.yaml:%d: ", path_in(name), line);
    CHECK(st == FL_ERR_FORMAT && h == NULL, "%s: status %d", name, st);
    CHECK(strstr(e.msg, where) != NULL, "%s: names FILE:LINE (%s): %s", name, where, e.msg);
    CHECK(strstr(e.msg, want) != NULL, "%s: says '%s': %s", name, want, e.msg);
    fl_home_close(h);
}

static void test_bad_configs_are_named(void)
{
    bad("unknown", "station: a\n\nbackup: x\n", 3,
        "unknown key 'backup' (allowed: station, operator, db, backups, firmware, ports)");
    bad("list", "station: a\ndb:\n  - one\n  - two\n", 3, "'db' must be a path");
    bad("map", "operator: { name: x }\n", 1, "'operator' must be a name");
    bad("twice", "station: a\nstation: b\n", 2, "'station' is given twice");
    bad("yaml", "station: a\n  db: : x\n", 2, "expected lines of 'key: value'");
    bad("scalar", "just text\n", 1, "expected lines of 'key: value'");
    bad("seq", "- station\n", 1, "expected lines of 'key: value'");
    bad("ctl", "station: \"a\\tb\"\n", 1, "without control characters");
}

/* ports: the station's fixtures, in order; a mistake is named like any other */
static void test_ports(void)
{
    fl_home *h = NULL;
    fl_error e = {0};
    size_t n = 99;
    CHECK(open_with("ports", "station: a\nports:\n  - /dev/ttyUSB0\n  - \"sim:bk7231n?x=1&y=2\"\n"
                             "  - tcp:10.0.0.2:4000\n", &h, &e) == FL_OK, "open: %s", e.msg);
    const char *const *p = h ? fl_home_ports(h, &n) : NULL;
    CHECK(n == 3 && p, "three ports, got %zu", n);
    if (n == 3 && p) {
        CHECK_STR(p[0], "/dev/ttyUSB0");
        CHECK_STR(p[1], "sim:bk7231n?x=1&y=2");
        CHECK_STR(p[2], "tcp:10.0.0.2:4000");
    }
    fl_home_close(h);
    CHECK(open_with("ports-flow", "ports: [a, b]\nstation: s\n", &h, &e) == FL_OK, "flow: %s", e.msg);
    p = h ? fl_home_ports(h, &n) : NULL;
    CHECK(n == 2 && p && !strcmp(p[1], "b") && !strcmp(fl_home_station(h), "s"),
          "flow list, and the keys after it still read");
    fl_home_close(h);
    CHECK(open_with("ports-null", "ports:\n", &h, &e) == FL_OK, "null: %s", e.msg);
    CHECK(h && fl_home_ports(h, &n) == NULL && n == 0, "ports: with nothing is no ports");
    fl_home_close(h);
    CHECK(open_with("ports-none", "station: s\n", &h, &e) == FL_OK, "none: %s", e.msg);
    CHECK(h && fl_home_ports(h, &n) == NULL && n == 0, "no ports: key, no ports");
    fl_home_close(h);
    bad("ports-scalar", "station: a\nports: /dev/ttyUSB0\n", 2, "'ports' must be a list of port URLs");
    bad("ports-dup", "ports:\n  - a\n  - b\n  - a\n", 4, "port 'a' is listed twice in 'ports'");
    bad("ports-empty", "ports: []\n", 1, "'ports' is empty");
    bad("ports-nested", "ports:\n  - a\n  - [b, c]\n", 3, "port 2 of 'ports' must be a port URL");
    bad("ports-blank", "ports:\n  - a\n  - \"\"\n", 3, "port 2 of 'ports' must be a port URL");
    bad("ports-twice", "ports: [a]\nports: [b]\n", 2, "'ports' is given twice");
    bad("ports-ctl", "ports: [\"a\\nb\"]\n", 1, "without control characters");
}

static void test_log_rule(void)
{
    fl_home *h = NULL;
    fl_error e = {0};
    CHECK(open_with("rule", "db: my.db\n", &h, &e) == FL_OK, "open: %s", e.msg);
    if (!h)
        return;
    unsetenv("FLASHLINE_DB");
    CHECK_STR(fl_home_log_path(h, NULL), path_in("rule/my.db"));
    CHECK_STR(fl_home_log_path(h, ""), path_in("rule/my.db"));
    setenv("FLASHLINE_DB", "/env.db", 1);
    CHECK_STR(fl_home_log_path(h, NULL), "/env.db");
    CHECK_STR(fl_home_log_path(h, "given.db"), "given.db");
    CHECK_STR(fl_home_log_path(NULL, NULL), "/env.db");
    unsetenv("FLASHLINE_DB");
    CHECK(fl_home_log_path(NULL, NULL) == NULL, "no home, no env: none");
    fl_home_close(h);

    /* the environment names the home when no directory is given */
    char out[PATH_MAX];
    setenv("FLASHLINE_HOME", path_in("rule"), 1);
    CHECK(fl_home_resolve_log(NULL, out, sizeof out, &e) == FL_OK, "resolve: %s", e.msg);
    CHECK_STR(out, path_in("rule/my.db"));
    CHECK(fl_home_resolve_log("x.db", out, sizeof out, &e) == FL_OK, "resolve: %s", e.msg);
    CHECK_STR(out, "x.db");
    /* a bad station.yaml stops the verbs that need the home */
    write_text(path_in("rule/station.yaml"), "nope: 1\n");
    CHECK(fl_home_resolve_log(NULL, out, sizeof out, &e) == FL_ERR_FORMAT, "bad config refused");
    unsetenv("FLASHLINE_HOME");
}

static void test_relative_home_made_absolute(void)
{
    char cwd[PATH_MAX];
    CHECK(getcwd(cwd, sizeof cwd) != NULL, "getcwd");
    CHECK(chdir(base) == 0, "chdir");
    fl_home *h = NULL;
    fl_error e = {0};
    CHECK(fl_home_open("rel", &h, &e) == FL_OK, "open: %s", e.msg);
    CHECK_STR(h ? fl_home_dir(h) : NULL, path_in("rel"));
    CHECK_STR(h ? fl_home_db_path(h) : NULL, path_in("rel/flashline.db"));
    fl_home_close(h);
    CHECK(chdir(cwd) == 0, "chdir back");
}

int main(void)
{
    if (!mkdtemp(base))
        return 1;
    char real[PATH_MAX]; /* /tmp may be a symbolic link: the home is a real path */
    if (realpath(base, real))
        snprintf(base, sizeof base, "%s", real);
    RUN(test_first_open_creates_commented_defaults);
    RUN(test_existing_config_is_kept);
    RUN(test_every_key_read);
    RUN(test_empty_values_keep_defaults);
    RUN(test_bad_configs_are_named);
    RUN(test_ports);
    RUN(test_log_rule);
    RUN(test_relative_home_made_absolute);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", base);
    return testlib_finish();
}
