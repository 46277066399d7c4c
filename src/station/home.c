/* home.c — where the station keeps its audit log, backups and firmware,
 * and its station.yaml (read with libyaml, created with commented defaults). */
#include "station/home.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "util/fileio.h"

struct fl_home {
    char dir[PATH_MAX];
    char config[PATH_MAX];
    char db[PATH_MAX];
    char backups[PATH_MAX];
    char firmware[PATH_MAX];
    char *station;
    char *operator_name;
    char **ports;
    size_t nports;
};

#define HOME_HINT "give --home DIR or set $FLASHLINE_HOME to a writable directory"

/* mkdir -p: every missing parent is made too; a failure ends with `hint`,
 * what the operator can change. */
static fl_status make_dirs_hint(const char *path, const char *hint, fl_error *err)
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
            return fl_fail(err, FL_ERR_FILE, "cannot create %s (%s): %s", buf, strerror(errno),
                           hint);
        *p = saved;
        if (!saved)
            break;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return fl_fail(err, FL_ERR_FILE, "%s is not a directory: %s", path, hint);
    return FL_OK;
}

static fl_status make_dirs(const char *path, fl_error *err)
{
    return make_dirs_hint(path, HOME_HINT, err);
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


/* ---- station.yaml ---------------------------------------------------------- */

#define CONFIG_MAX_BYTES (64 * 1024)

static const char CONFIG_KEYS[] = "station, operator, db, backups, firmware, ports";

/* What a new home's station.yaml says: every key, commented out, so the
 * operator sees what can be set and the defaults stay in force. */
static const char DEFAULT_CONFIG[] =
    "# flashline station configuration, created on first use.  Uncomment a line to\n"
    "# change it.  Relative paths are relative to this file's directory (the station\n"
    "# home).  Allowed keys: station, operator, db, backups, firmware, ports.\n"
    "#\n"
    "# station: line-1        # station id in the audit log (default: the host name;\n"
    "#                        # `run --station` overrides it)\n"
    "# operator: ana          # operator in the audit log (`run --operator` overrides it)\n"
    "# db: flashline.db       # the audit log (--db and $FLASHLINE_DB override it)\n"
    "# backups: backups       # where backup steps keep each unit's original flash\n"
    "# firmware: firmware     # the firmware store\n"
    "# ports: [/dev/ttyUSB0, /dev/ttyUSB1]   # the fixtures' ports: `flashline run RECIPE`\n"
    "#                        # without --port runs one unit on each (a recipe's own\n"
    "#                        # ports: list comes first)\n";

typedef struct config_reader {
    fl_home *h;
    fl_error *err;
    bool seen[6];
} config_reader;

static fl_status config_fail(config_reader *c, yaml_mark_t m, const char *fmt, const char *a,
                             const char *b)
{
    char msg[600];
    snprintf(msg, sizeof msg, fmt, a, b);
    return fl_fail(c->err, FL_ERR_FORMAT, "%s:%zu: %s", c->h->config, m.line + 1, msg);
}

/* A path value: relative to the home, made absolute. */
static fl_status set_path(config_reader *c, char out[PATH_MAX], const char *v, yaml_mark_t m,
                          const char *key)
{
    int n = v[0] == '/' ? snprintf(out, PATH_MAX, "%s", v)
                        : snprintf(out, PATH_MAX, "%s/%s", c->h->dir, v);
    if (n < 0 || n >= PATH_MAX)
        return config_fail(c, m, "'%s': path too long%s", key, "");
    return FL_OK;
}

static bool printable(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x20 || *p == 0x7F)
            return false;
    return true;
}

/* One "key: value" pair.  An empty or null value keeps the default. */
static fl_status config_pair(config_reader *c, const char *key, yaml_mark_t km,
                             const yaml_event_t *val)
{
    static const char *const keys[] = {"station", "operator", "db", "backups", "firmware",
                                       "ports"};
    int k = 0;
    while (k < 6 && strcmp(keys[k], key))
        k++;
    if (k == 6)
        return config_fail(c, km, "unknown key '%s' (allowed: %s)", key, CONFIG_KEYS);
    if (c->seen[k])
        return config_fail(c, km, "'%s' is given twice%s", key, "");
    c->seen[k] = true;
    if (k == 5) { /* ports: a list is read by config_ports; null keeps none */
        bool null = val->type == YAML_SCALAR_EVENT &&
                    val->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                    (!val->data.scalar.length || !strcmp((const char *)val->data.scalar.value, "~") ||
                     !strcmp((const char *)val->data.scalar.value, "null"));
        return null ? FL_OK
                    : config_fail(c, val->start_mark, "'ports' must be a list of port URLs "
                                  "(ports: [/dev/ttyUSB0, /dev/ttyUSB1])%s%s", "", "");
    }
    const char *what = k < 2 ? "a name (text on one line)" : "a path (relative to the home)";
    if (val->type != YAML_SCALAR_EVENT)
        return config_fail(c, val->start_mark, "'%s' must be %s, not a list or mapping", key,
                           what);
    const char *v = (const char *)val->data.scalar.value;
    bool plain = val->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    if (!*v || (plain && (!strcmp(v, "~") || !strcmp(v, "null"))))
        return FL_OK;
    if (strlen(v) != val->data.scalar.length || !printable(v))
        return config_fail(c, val->start_mark, "'%s' must be %s, without control characters",
                           key, what);
    switch (k) {
    case 0:
    case 1:
        if (strlen(v) > 127)
            return config_fail(c, val->start_mark, "'%s' must be %s of at most 127 bytes", key,
                               what);
        char **slot = k == 0 ? &c->h->station : &c->h->operator_name;
        if (!(*slot = strdup(v)))
            return fl_fail(c->err, FL_ERR_INTERNAL, "out of memory");
        return FL_OK;
    case 2: return set_path(c, c->h->db, v, val->start_mark, key);
    case 3: return set_path(c, c->h->backups, v, val->start_mark, key);
    default: return set_path(c, c->h->firmware, v, val->start_mark, key);
    }
}

static fl_status parse_fail(config_reader *c, const yaml_parser_t *p);

/* One port of the ports: list: one line of text, not given before. */
static fl_status config_port(config_reader *c, const yaml_event_t *ev)
{
    fl_home *h = c->h;
    size_t index = h->nports + 1;
    char nbuf[24];
    snprintf(nbuf, sizeof nbuf, "%zu", index);
    if (ev->type != YAML_SCALAR_EVENT || !ev->data.scalar.length)
        return config_fail(c, ev->start_mark, "port %s of 'ports' must be a port URL (e.g. "
                           "/dev/ttyUSB0)%s", nbuf, ev->type == YAML_SCALAR_EVENT ? ", not empty"
                                                                                  : ", not a list or mapping");
    const char *v = (const char *)ev->data.scalar.value;
    if (strlen(v) != ev->data.scalar.length || !printable(v))
        return config_fail(c, ev->start_mark, "port %s of 'ports' must be one line of text "
                           "without control characters%s", nbuf, "");
    if (h->nports == FL_HOME_MAX_PORTS)
        return config_fail(c, ev->start_mark, "'ports' lists more than %s ports%s", "64", "");
    for (size_t i = 0; i < h->nports; i++)
        if (!strcmp(h->ports[i], v))
            return config_fail(c, ev->start_mark, "port '%s' is listed twice in 'ports'%s", v,
                               "");
    char **grown = realloc(h->ports, (h->nports + 1) * sizeof *grown);
    if (!grown)
        return fl_fail(c->err, FL_ERR_INTERNAL, "out of memory");
    h->ports = grown;
    if (!(h->ports[h->nports] = strdup(v)))
        return fl_fail(c->err, FL_ERR_INTERNAL, "out of memory");
    h->nports++;
    return FL_OK;
}

/* ports: [...] — the events of the list, up to its end, read here. */
static fl_status config_ports(config_reader *c, yaml_parser_t *p, yaml_mark_t km)
{
    if (c->seen[5])
        return config_fail(c, km, "'%s' is given twice%s", "ports", "");
    c->seen[5] = true;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(p, &ev))
            return parse_fail(c, p);
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        fl_status st = config_port(c, &ev);
        yaml_event_delete(&ev);
        if (st)
            return st;
    }
    if (!c->h->nports)
        return config_fail(c, km, "'ports' is empty: give at least one port URL or leave the "
                           "key out%s%s", "", "");
    return FL_OK;
}

static fl_status parse_fail(config_reader *c, const yaml_parser_t *p)
{
    return fl_fail(c->err, FL_ERR_FORMAT, "%s:%zu: %s%s%s (expected lines of 'key: value' "
                   "with keys %s)", c->h->config, p->problem_mark.line + 1,
                   p->problem ? p->problem : "bad YAML", p->context ? " " : "",
                   p->context ? p->context : "", CONFIG_KEYS);
}

/* The document must be empty (all comments) or one mapping of scalar keys. */
static fl_status config_parse(config_reader *c, const char *text, size_t len)
{
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    fl_status st = FL_OK;
    int depth = 0; /* 0: outside, 1: in the top mapping */
    yaml_event_t key = {0};
    bool have_key = false;
    for (bool done = false; !done && !st;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            st = parse_fail(c, &p);
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT: done = true; break;
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_START_EVENT:
        case YAML_DOCUMENT_END_EVENT: break;
        case YAML_MAPPING_START_EVENT:
            if (depth == 0) {
                depth = 1;
                break;
            }
            /* a nested mapping is a value */
            /* fall through */
        case YAML_SEQUENCE_START_EVENT:
        case YAML_ALIAS_EVENT:
        case YAML_SCALAR_EVENT:
            if (depth == 0) {
                if (ev.type == YAML_SCALAR_EVENT && !ev.data.scalar.length)
                    break; /* an empty document */
                st = config_fail(c, ev.start_mark, "expected lines of 'key: value' with keys "
                                 "%s%s", CONFIG_KEYS, "");
            } else if (!have_key) {
                if (ev.type != YAML_SCALAR_EVENT)
                    st = config_fail(c, ev.start_mark, "a key must be one of %s%s",
                                     CONFIG_KEYS, "");
                else {
                    key = ev;
                    have_key = true;
                    continue; /* kept until its value is read */
                }
            } else if (ev.type == YAML_SEQUENCE_START_EVENT &&
                       !strcmp((const char *)key.data.scalar.value, "ports")) {
                st = config_ports(c, &p, key.start_mark);
                yaml_event_delete(&key);
                have_key = false;
            } else {
                st = config_pair(c, (const char *)key.data.scalar.value, key.start_mark, &ev);
                yaml_event_delete(&key);
                have_key = false;
            }
            break;
        case YAML_MAPPING_END_EVENT: depth = 0; break;
        default: break;
        }
        yaml_event_delete(&ev);
    }
    if (have_key)
        yaml_event_delete(&key);
    yaml_parser_delete(&p);
    return st;
}

/* Write the default config next to where it belongs, then link it in place:
 * link() never replaces an existing file, so a config another process (or
 * the operator) made in the meantime is kept. */
static fl_status create_default_config(const fl_home *h, fl_error *err)
{
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s/.station.yaml.XXXXXX", h->dir) >= sizeof tmp)
        return fl_fail(err, FL_ERR_FILE, "station home path too long: %s", h->dir);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return fl_fail(err, FL_ERR_FILE, "cannot create %s: %s", h->config, strerror(errno));
    size_t n = sizeof DEFAULT_CONFIG - 1;
    bool ok = fchmod(fd, 0644) == 0 && write(fd, DEFAULT_CONFIG, n) == (ssize_t)n &&
              fsync(fd) == 0;
    int saved = errno;
    ok = close(fd) == 0 && ok;
    if (ok && link(tmp, h->config) != 0 && errno != EEXIST) {
        saved = errno;
        ok = false;
    }
    unlink(tmp);
    if (!ok)
        return fl_fail(err, FL_ERR_FILE, "cannot create %s: %s", h->config, strerror(saved));
    return FL_OK;
}

static fl_status read_config(fl_home *h, fl_error *err)
{
    struct stat sb;
    if (stat(h->config, &sb) != 0 && errno == ENOENT) {
        fl_status st = create_default_config(h, err);
        if (st)
            return st;
    }
    uint8_t *text = NULL;
    size_t len = 0;
    fl_status st = fl_read_file(h->config, &text, &len, CONFIG_MAX_BYTES, err);
    if (st)
        return fl_fail_prefix(err, "station config");
    config_reader c = {.h = h, .err = err};
    st = config_parse(&c, (const char *)text, len);
    free(text);
    return st;
}

/* A directory of the home: where station.yaml moved it (its `key:` is not
 * the default `name`), a failure points at that line's key, not at --home. */
static fl_status make_home_dir(const fl_home *h, const char *dir, const char *key,
                               const char *name, fl_error *err)
{
    char def[PATH_MAX + 16], hint[PATH_MAX + 64];
    snprintf(def, sizeof def, "%s/%s", h->dir, name);
    if (!strcmp(dir, def))
        return make_dirs(dir, err);
    snprintf(hint, sizeof hint, "check '%s:' in %s", key, h->config);
    return make_dirs_hint(dir, hint, err);
}

/* station.yaml may put the log in a folder of its own (db: logs/line.db):
 * made like the others, so the first run does not fail on it. */
static fl_status make_db_dir(const fl_home *h, fl_error *err)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", h->db);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return FL_OK;
    *slash = '\0';
    char def[PATH_MAX + 16];
    snprintf(def, sizeof def, "%s/flashline.db", h->dir);
    return !strcmp(h->db, def) ? make_dirs(dir, err) : make_home_dir(h, dir, "db", "", err);
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
        st = read_config(h, err);
    if (!st)
        st = make_db_dir(h, err);
    if (!st)
        st = make_home_dir(h, h->backups, "backups", "backups", err);
    if (!st)
        st = make_home_dir(h, h->firmware, "firmware", "firmware", err);
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
    for (size_t i = 0; i < h->nports; i++)
        free(h->ports[i]);
    free(h->ports);
    free(h);
}

const char *fl_home_dir(const fl_home *h) { return h->dir; }
const char *fl_home_config_path(const fl_home *h) { return h->config; }
const char *fl_home_db_path(const fl_home *h) { return h->db; }
const char *fl_home_backups_dir(const fl_home *h) { return h->backups; }
const char *fl_home_firmware_dir(const fl_home *h) { return h->firmware; }
const char *fl_home_station(const fl_home *h) { return h->station; }
const char *fl_home_operator(const fl_home *h) { return h->operator_name; }

const char *const *fl_home_ports(const fl_home *h, size_t *n)
{
    *n = h->nports;
    return (const char *const *)h->ports;
}

/* The one rule for the audit log: --db, then $FLASHLINE_DB, then the home's. */
const char *fl_home_log_path(const fl_home *h, const char *db_opt)
{
    const char *env = getenv("FLASHLINE_DB");
    if (db_opt && *db_opt)
        return db_opt;
    if (env && *env)
        return env;
    return h ? h->db : NULL;
}

fl_status fl_home_resolve_log(const char *db_opt, char *out, size_t cap, fl_error *err)
{
    const char *given = fl_home_log_path(NULL, db_opt);
    fl_home *h = NULL;
    if (!given) {
        fl_status st = fl_home_open(NULL, &h, err);
        if (st)
            return st;
        given = fl_home_db_path(h);
    }
    fl_status st = FL_OK;
    if ((size_t)snprintf(out, cap, "%s", given) >= cap)
        st = fl_fail(err, FL_ERR_FILE, "audit log path too long: %s", given);
    fl_home_close(h);
    return st;
}

/* ---- the rate a loader was left at, per port ------------------------------ */

/* HOME/link-rates: "RATE PORT" lines.  A hint for getting the bus (the loader
 * keeps its rate until reset), so it is read and written only where a home
 * already exists - a flash verb never makes one for it - and a lost update
 * between two processes costs one quick link check, nothing more. */
static bool rates_path(char out[PATH_MAX])
{
    char dir[PATH_MAX];
    fl_error e;
    struct stat st;
    if (home_candidate(NULL, dir, &e) || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return false;
    return (size_t)snprintf(out, PATH_MAX, "%s/link-rates", dir) < PATH_MAX;
}

uint32_t fl_home_port_rate(const char *port)
{
    char path[PATH_MAX], line[1200];
    if (!port || !rates_path(path))
        return 0;
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    uint32_t rate = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *sp = strchr(line, ' ');
        if (sp && !strcmp(sp + 1, port))
            rate = (uint32_t)strtoul(line, NULL, 10);
    }
    fclose(f);
    return rate >= 9600 && rate <= 6000000 ? rate : 0;
}

void fl_home_set_port_rate(const char *port, uint32_t rate)
{
    char path[PATH_MAX], line[1200];
    if (!port || strchr(port, '\n') || strlen(port) > 1000 || !rates_path(path))
        return;
    /* the other ports' lines, then this one's: written whole (fileio.h), so
     * two processes or workers never leave a half file or share a temp name */
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out)
        return;
    FILE *in = fopen(path, "re");
    while (in && fgets(line, sizeof line, in)) {
        char *sp = strchr(line, ' ');
        size_t n = strcspn(line, "\n");
        line[n] = '\0';
        if (sp && strcmp(sp + 1, port) != 0)
            fprintf(out, "%s\n", line);
    }
    if (in)
        fclose(in);
    if (rate)
        fprintf(out, "%u %s\n", rate, port);
    fl_error ignored; /* a hint: losing it costs one probe at the next open */
    if (fclose(out) == 0)
        (void)fl_write_file_durable(path, text, len, &ignored);
    free(text);
}
