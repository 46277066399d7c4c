/* home.h — the station home: the one place a station keeps its records.
 *
 * What it offers
 *   - where the home is: the directory given (--home), else $FLASHLINE_HOME,
 *     else $XDG_DATA_HOME/flashline, else ~/.local/share/flashline; made
 *     absolute, created (with its sub-directories) on open;
 *   - the station config file HOME/station.yaml (created with commented
 *     defaults on first open, atomically, never over an existing one) with
 *     keys: station, operator, db, backups, firmware (relative paths are
 *     relative to the home; an empty or null value keeps the default) and
 *     ports (a list of port URLs: the station's fixtures, used by `flashline
 *     run` when neither the command line nor the recipe names a port);
 *   - the paths every verb and query uses, all absolute:
 *       audit log   HOME/flashline.db   (--db, then $FLASHLINE_DB, override it)
 *       backups     HOME/backups/
 *       firmware    HOME/firmware/      (the firmware store, see fwstore.h)
 *
 * A home is read once per process and never changed behind the caller's
 * back; the library never prints: problems come back as fl_error (a config
 * key that is unknown or malformed is FL_ERR_FORMAT with FILE:LINE). */
#ifndef FL_STATION_HOME_H
#define FL_STATION_HOME_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct fl_home fl_home;

/* dir: the --home value, or NULL for $FLASHLINE_HOME / XDG / ~ as above.
 * Creates the home and its backups/ and firmware/ directories if missing. */
fl_status fl_home_open(const char *dir, fl_home **out, fl_error *err);
void fl_home_close(fl_home *h);

const char *fl_home_dir(const fl_home *h);          /* absolute, no trailing '/' */
const char *fl_home_config_path(const fl_home *h);  /* HOME/station.yaml */
const char *fl_home_db_path(const fl_home *h);      /* absolute */
const char *fl_home_backups_dir(const fl_home *h);  /* absolute */
const char *fl_home_firmware_dir(const fl_home *h); /* absolute */
const char *fl_home_station(const fl_home *h);      /* NULL: not configured */
const char *fl_home_operator(const fl_home *h);     /* NULL: not configured */
/* station.yaml's ports: list (no port twice, at most FL_HOME_MAX_PORTS);
 * *n = 0 (and NULL) when not configured. */
#define FL_HOME_MAX_PORTS 64
const char *const *fl_home_ports(const fl_home *h, size_t *n);

/* The audit log every verb and query uses — one rule: db_opt (--db) if given,
 * else $FLASHLINE_DB if set and not empty, else the home's (station.yaml
 * `db:`, else HOME/flashline.db).  h may be NULL: then NULL when neither
 * db_opt nor $FLASHLINE_DB gives the log. */
const char *fl_home_log_path(const fl_home *h, const char *db_opt);

/* The same, opening the home ($FLASHLINE_HOME / XDG / ~) only when it is
 * needed; the path is copied to out. */
fl_status fl_home_resolve_log(const char *db_opt, char *out, size_t cap, fl_error *err);

/* The rate flashline last left a UART loader at on `port` (HOME/link-rates),
 * so that the next command asks there first; 0 when not known.  Both use the
 * home only if it already exists (never creating one) and never fail:
 * rate 0 forgets the port (its chip was rebooted). */
uint32_t fl_home_port_rate(const char *port);
void fl_home_set_port_rate(const char *port, uint32_t rate);

#endif
