/* home.c — where the station keeps its audit log, backups and firmware.
 * The station.yaml config file is not read yet (to do: issue 9). */
#include "station/home.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fl_home {
    char dir[PATH_MAX];
    char config[PATH_MAX];
    char db[PATH_MAX];
    char backups[PATH_MAX];
    char firmware[PATH_MAX];
    char *station;
    char *operator_name;
};

/* mkdir -p: every missing parent is made too. */
static fl_status make_dirs(const char *path, fl_error *err)
{
    char buf[PATH_MAX];
    if ((size_t)snprintf(buf, sizeof buf, "%s", path) >= sizeof buf)
        return fl_fail(err, FL_ERR_FILE, "station home path too long: %s", path);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return fl_fail(err, FL_ERR_FILE,
                           "cannot create %s (%s): give --home DIR or set $FLASHLINE_HOME to a "
                           "writable directory", buf, strerror(errno));
        *p = saved;
        if (!saved)
            break;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return fl_fail(err, FL_ERR_FILE, "%s is not a directory", path);
    return FL_OK;
}

/* The home as given, or from the environment, before it is made absolute. */
static fl_status home_candidate(const char *dir, char out[PATH_MAX], fl_error *err)
{
    const char *env = getenv("FLASHLINE_HOME");
    const char *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    int n;
    if (dir && *dir)
        n = snprintf(out, PATH_MAX, "%s", dir);
    else if (env && *env)
        n = snprintf(out, PATH_MAX, "%s", env);
    else if (xdg && xdg[0] == '/') /* XDG: a relative value is to be ignored */
        n = snprintf(out, PATH_MAX, "%s/flashline", xdg);
    else if (home && *home)
        n = snprintf(out, PATH_MAX, "%s/.local/share/flashline", home);
    else
        return fl_fail(err, FL_ERR_USAGE,
                       "no station home: $HOME is not set; give --home DIR or set $FLASHLINE_HOME");
    if (n < 0 || n >= PATH_MAX)
        return fl_fail(err, FL_ERR_FILE, "station home path too long");
    return FL_OK;
}

static fl_status join(char out[PATH_MAX], const char *dir, const char *name, fl_error *err)
{
    if ((size_t)snprintf(out, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX)
        return fl_fail(err, FL_ERR_FILE, "station home path too long: %s/%s", dir, name);
    return FL_OK;
}

fl_status fl_home_open(const char *dir, fl_home **out, fl_error *err)
{
    *out = NULL;
    fl_home *h = calloc(1, sizeof *h);
    if (!h)
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    char given[PATH_MAX];
    fl_status st = home_candidate(dir, given, err);
    if (!st)
        st = make_dirs(given, err);
    if (!st && !realpath(given, h->dir))
        st = fl_fail(err, FL_ERR_FILE, "station home %s: %s", given, strerror(errno));
    if (!st)
        st = join(h->config, h->dir, "station.yaml", err);
    if (!st)
        st = join(h->db, h->dir, "flashline.db", err);
    if (!st)
        st = join(h->backups, h->dir, "backups", err);
    if (!st)
        st = join(h->firmware, h->dir, "firmware", err);
    if (!st)
        st = make_dirs(h->backups, err);
    if (!st)
        st = make_dirs(h->firmware, err);
    if (st) {
        fl_home_close(h);
        return st;
    }
    *out = h;
    return FL_OK;
}

void fl_home_close(fl_home *h)
{
    if (!h)
        return;
    free(h->station);
    free(h->operator_name);
    free(h);
}

const char *fl_home_dir(const fl_home *h) { return h->dir; }
const char *fl_home_config_path(const fl_home *h) { return h->config; }
const char *fl_home_db_path(const fl_home *h) { return h->db; }
const char *fl_home_backups_dir(const fl_home *h) { return h->backups; }
const char *fl_home_firmware_dir(const fl_home *h) { return h->firmware; }
const char *fl_home_station(const fl_home *h) { return h->station; }
const char *fl_home_operator(const fl_home *h) { return h->operator_name; }
