/* auditdb_run.c — recording a run: begin, unit, steps, records, end.
 *
 * Every call that writes is one BEGIN IMMEDIATE … COMMIT; on any failure the
 * transaction is rolled back and the handle's state is left as it was, so
 * the call can be retried and the log never holds half a record. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/auditdb_internal.h"

static fl_status need_run(fl_auditdb *db, const char *what, fl_error *err)
{
    if (!db)
        return fl_fail(err, FL_ERR_USAGE, "%s: no audit log handle", what);
    if (!db->run_id)
        return fl_fail(err, FL_ERR_USAGE, "%s: no run is being recorded (call run_begin first)",
                       what);
    return FL_OK;
}

static fl_status need_end_outcome(fl_outcome o, const char *what, fl_error *err)
{
    if (o == FL_OUTCOME_PASS || o == FL_OUTCOME_FAIL || o == FL_OUTCOME_ERROR ||
        o == FL_OUTCOME_ABORTED)
        return FL_OK;
    return fl_fail(err, FL_ERR_USAGE, "%s: outcome must be PASS, FAIL, ERROR or ABORTED", what);
}

/* Roll back after a failed statement, keeping SQLite's message for the error. */
static fl_status fail_rollback(fl_auditdb *db, int rc, fl_error *err, const char *what)
{
    fl_status s = adb_fail(db, rc, err, what);
    adb_rollback(db);
    return s;
}

static fl_status commit_or_fail(fl_auditdb *db, int rc, fl_error *err, const char *what)
{
    if (rc == SQLITE_OK)
        rc = adb_commit(db);
    return rc == SQLITE_OK ? FL_OK : fail_rollback(db, rc, err, what);
}

/* --- records kept in memory while a step is open ---------------------- */
static void rec_free(adb_rec *r)
{
    free(r->a);
    free(r->b);
    free(r->c);
    free(r->content);
    free(r->store_name);
    free(r->store_version);
    free(r->store_source);
}

static void recs_clear(fl_auditdb *db)
{
    for (size_t i = 0; i < db->nrecs; i++)
        rec_free(&db->recs[i]);
    db->nrecs = 0;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

/* Takes ownership of r's strings, also on failure. */
static fl_status recs_push(fl_auditdb *db, adb_rec r, fl_error *err)
{
    if (db->nrecs == db->caprecs) {
        size_t cap = db->caprecs ? db->caprecs * 2 : 16;
        adb_rec *n = realloc(db->recs, cap * sizeof *n);
        if (!n) {
            rec_free(&r);
            return fl_fail(err, FL_ERR_INTERNAL, "out of memory recording a step");
        }
        db->recs = n;
        db->caprecs = cap;
    }
    db->recs[db->nrecs++] = r;
    return FL_OK;
}

static int insert_rec(fl_auditdb *db, const adb_rec *r, int64_t step_id, const char *now)
{
    switch (r->kind) {
    case REC_MEASURE:
        return adb_stmt(db, NULL, NULL,
                        "INSERT INTO measurements (run_id, step_id, name, value, unit) "
                        "VALUES (?, ?, ?, ?, ?)",
                        "iItdt", db->run_id, step_id, r->a, r->value, r->b);
    case REC_ARTIFACT:
        return adb_stmt(db, NULL, NULL,
                        "INSERT INTO artifacts (run_id, step_id, kind, path, sha256, size, "
                        "created_utc, content, vendor, store_name, store_version, store_source) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, nullif(?, -1), ?, ?, ?)",
                        "iItttittittt", db->run_id, step_id, r->a, r->b, r->c, r->size, now,
                        r->content, (int64_t)r->vendor, r->store_name, r->store_version,
                        r->store_source);
    case REC_TUYA:
        return adb_stmt(db, NULL, NULL,
                        "INSERT INTO tuya_configs (run_id, step_id, unit_id, config_json, "
                        "redacted, obk_pins_json, created_utc) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        "iIItitt", db->run_id, step_id, db->unit_id, r->a, r->size, r->b, now);
    }
    return SQLITE_MISUSE;
}

/* A record made while no step is open belongs to the run: commit it now. */
static fl_status write_run_rec(fl_auditdb *db, adb_rec r, const char *what, fl_error *err)
{
    char now[32];
    adb_now(db, now);
    int rc = adb_begin(db);
    if (rc == SQLITE_OK)
        rc = insert_rec(db, &r, 0, now);
    fl_status s = rc == SQLITE_OK ? commit_or_fail(db, rc, err, what)
                                  : fail_rollback(db, rc, err, what);
    rec_free(&r);
    return s;
}

static fl_status add_rec(fl_auditdb *db, adb_rec r, const char *what, fl_error *err)
{
    if (db->step_id)
        return recs_push(db, r, err);
    return write_run_rec(db, r, what, err);
}

/* --- runs --------------------------------------------------------------- */
static int upsert_station(fl_auditdb *db, const char *name, const char *now, int64_t *id)
{
    int rc = adb_stmt(db, NULL, NULL,
                      "INSERT INTO stations (name, host, first_seen, last_seen) VALUES (?, ?, ?, ?) "
                      "ON CONFLICT (name) DO UPDATE SET host = excluded.host, "
                      "last_seen = excluded.last_seen",
                      "tttt", name, db->host, now, now);
    if (rc == SQLITE_OK)
        rc = adb_stmt(db, id, NULL, "SELECT id FROM stations WHERE name = ?", "t", name);
    return rc;
}

fl_status fl_auditdb_run_begin(fl_auditdb *db, const fl_audit_run_info *info, int64_t *run_id,
                               fl_error *err)
{
    const char *what = "recording the start of a run";
    if (!db)
        return fl_fail(err, FL_ERR_USAGE, "%s: no audit log handle", what);
    if (db->run_id)
        return fl_fail(err, FL_ERR_USAGE, "%s: run #%lld is still being recorded on this handle; "
                       "end it first", what, (long long)db->run_id);
    fl_audit_run_info none = {0};
    if (!info)
        info = &none;
    char sha[65];
    if (info->recipe_sha256 && !adb_sha256_norm(info->recipe_sha256, sha))
        return fl_fail(err, FL_ERR_USAGE, "%s: recipe SHA-256 '%s' is not 64 hex digits", what,
                       info->recipe_sha256);
    const char *station = info->station && *info->station ? info->station : db->host;
    char now[32], token[96];
    adb_now(db, now);
    adb_proc_token((long)getpid(), token, sizeof token);

    int64_t station_id = 0, id = 0;
    int rc = adb_begin(db);
    if (rc == SQLITE_OK)
        rc = upsert_station(db, station, now, &station_id);
    if (rc == SQLITE_OK)
        rc = adb_stmt(db, &id, NULL,
                      "INSERT INTO runs (station_id, operator, recipe_name, recipe_sha256, port, "
                      "started_utc, outcome, pid, host, proc_token, heartbeat_utc) "
                      "VALUES (?, ?, ?, ?, ?, ?, 'RUNNING', ?, ?, ?, ?) RETURNING id",
                      "itttttittt", station_id, info->operator_name, info->recipe_name,
                      info->recipe_sha256 ? sha : NULL, info->port, now, (int64_t)getpid(),
                      db->host, token[0] ? token : NULL, now);
    fl_status s = commit_or_fail(db, rc, err, what);
    if (s != FL_OK)
        return s;
    db->run_id = id;
    db->unit_id = 0;
    db->step_id = 0;
    db->step_idx = 0;
    if (run_id)
        *run_id = id;
    return FL_OK;
}

/* --- units -------------------------------------------------------------- */
typedef struct unit_norm {
    char mac[18];
    char jedec[7];
    bool has_mac, has_jedec;
} unit_norm;

static fl_status normalize_unit(const fl_audit_unit *u, unit_norm *n, const char *what,
                                fl_error *err)
{
    memset(n, 0, sizeof *n);
    if (u->mac && *u->mac) {
        if (!fl_audit_mac_normalize(u->mac, n->mac))
            return fl_fail(err, FL_ERR_USAGE, "%s: '%s' is not a MAC address", what, u->mac);
        n->has_mac = true;
    }
    if (u->jedec_id && *u->jedec_id) {
        if (strlen(u->jedec_id) != 6)
            return fl_fail(err, FL_ERR_USAGE, "%s: JEDEC ID '%s' is not 6 hex digits", what,
                           u->jedec_id);
        for (int i = 0; i < 6; i++) {
            if (!isxdigit((unsigned char)u->jedec_id[i]))
                return fl_fail(err, FL_ERR_USAGE, "%s: JEDEC ID '%s' is not 6 hex digits", what,
                               u->jedec_id);
            n->jedec[i] = (char)tolower((unsigned char)u->jedec_id[i]);
        }
        n->has_jedec = true;
    }
    if (!n->has_mac && !(u->alt_id && *u->alt_id))
        return fl_fail(err, FL_ERR_USAGE, "%s: a unit needs a MAC or an alternative id", what);
    if (u->flash_size < 0)
        return fl_fail(err, FL_ERR_USAGE, "%s: negative flash size", what);
    return FL_OK;
}

/* Which existing unit is this?  By MAC; else by alt_id among units whose
 * MAC was never read; else the run's own unit if it has no MAC yet (the
 * same unit, its MAC learned later in the run).  0 = a new unit. */
static int find_unit(fl_auditdb *db, const fl_audit_unit *u, const unit_norm *n, int64_t *id)
{
    int have = 0, rc;
    *id = 0;
    if (n->has_mac) {
        rc = adb_stmt(db, id, &have, "SELECT id FROM units WHERE mac = ?", "t", n->mac);
        if (rc != SQLITE_OK || have || !db->unit_id)
            return rc;
        return adb_stmt(db, id, &have, "SELECT id FROM units WHERE id = ? AND mac IS NULL", "i",
                        db->unit_id);
    }
    return adb_stmt(db, id, &have,
                    "SELECT id FROM units WHERE alt_id = ? AND mac IS NULL ORDER BY id DESC "
                    "LIMIT 1",
                    "t", u->alt_id);
}

static int save_unit(fl_auditdb *db, const fl_audit_unit *u, const unit_norm *n,
                     const char *now, int64_t *id)
{
    int rc = find_unit(db, u, n, id);
    if (rc != SQLITE_OK)
        return rc;
    const char *mac = n->has_mac ? n->mac : NULL, *jedec = n->has_jedec ? n->jedec : NULL;
    const char *alt = u->alt_id && *u->alt_id ? u->alt_id : NULL;
    if (*id) /* known fields win over NULLs, new values over old ones */
        return adb_stmt(db, NULL, NULL,
                        "UPDATE units SET mac = COALESCE(?, mac), alt_id = COALESCE(?, alt_id), "
                        "chip = COALESCE(?, chip), jedec_id = COALESCE(?, jedec_id), "
                        "flash_size = COALESCE(?, flash_size), "
                        "loader_kind = COALESCE(?, loader_kind), last_seen = ? WHERE id = ?",
                        "ttttItti", mac, alt, u->chip, jedec, u->flash_size, u->loader_kind, now,
                        *id);
    return adb_stmt(db, id, NULL,
                    "INSERT INTO units (mac, alt_id, chip, jedec_id, flash_size, loader_kind, "
                    "first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    "ttttIttt", mac, alt, u->chip, jedec, u->flash_size, u->loader_kind, now, now);
}

fl_status fl_auditdb_run_unit(fl_auditdb *db, const fl_audit_unit *unit, int64_t *unit_id,
                              fl_error *err)
{
    const char *what = "recording the unit";
    fl_status s = need_run(db, what, err);
    if (s != FL_OK)
        return s;
    if (!unit)
        return fl_fail(err, FL_ERR_USAGE, "%s: no unit given", what);
    unit_norm n;
    if ((s = normalize_unit(unit, &n, what, err)) != FL_OK)
        return s;
    char now[32];
    adb_now(db, now);
    int64_t id = 0;
    int rc = adb_begin(db);
    if (rc == SQLITE_OK)
        rc = save_unit(db, unit, &n, now, &id);
    if (rc == SQLITE_OK)
        rc = adb_stmt(db, NULL, NULL, "UPDATE runs SET unit_id = ?, heartbeat_utc = ? WHERE id = ?",
                      "iti", id, now, db->run_id);
    if ((s = commit_or_fail(db, rc, err, what)) != FL_OK)
        return s;
    db->unit_id = id;
    if (unit_id)
        *unit_id = id;
    return FL_OK;
}

/* --- how the run reached its chip ---------------------------------------- */
#define RUN_LINK_MAX 512 /* longer than any port URL or programmer name flashline makes */

fl_status fl_auditdb_run_link(fl_auditdb *db, const char *driver, const char *programmer,
                              fl_error *err)
{
    const char *what = "recording how the run reached the chip";
    fl_status s = need_run(db, what, err);
    if (s != FL_OK)
        return s;
    if (!driver || !*driver)
        return fl_fail(err, FL_ERR_USAGE, "%s: a driver name is needed", what);
    if (strlen(driver) > RUN_LINK_MAX || (programmer && strlen(programmer) > RUN_LINK_MAX))
        return fl_fail(err, FL_ERR_USAGE, "%s: driver or programmer longer than %d bytes", what,
                       RUN_LINK_MAX);
    char now[32];
    adb_now(db, now);
    int rc = adb_begin(db);
    if (rc == SQLITE_OK) /* a run finished elsewhere (recovered) is refused by the 0003 trigger */
        rc = adb_stmt(db, NULL, NULL,
                      "UPDATE runs SET driver = ?, programmer = ?, heartbeat_utc = ? WHERE id = ?",
                      "ttti", driver, programmer && *programmer ? programmer : NULL, now,
                      db->run_id);
    return commit_or_fail(db, rc, err, what);
}

/* --- steps -------------------------------------------------------------- */
fl_status fl_auditdb_step_begin(fl_auditdb *db, const char *name, int64_t *step_id,
                                fl_error *err)
{
    const char *what = "recording the start of a step";
    fl_status s = need_run(db, what, err);
    if (s != FL_OK)
        return s;
    if (db->step_id)
        return fl_fail(err, FL_ERR_USAGE, "%s: step #%lld is still open; end it first", what,
                       (long long)db->step_id);
    if (!name || !*name)
        return fl_fail(err, FL_ERR_USAGE, "%s: a step needs a name", what);
    char now[32];
    adb_now(db, now);
    int64_t id = 0;
    int rc = adb_begin(db);
    if (rc == SQLITE_OK)
        rc = adb_stmt(db, &id, NULL,
                      "INSERT INTO steps (run_id, idx, name, started_utc, outcome) "
                      "VALUES (?, ?, ?, ?, 'RUNNING') RETURNING id",
                      "iitt", db->run_id, (int64_t)db->step_idx + 1, name, now);
    if (rc == SQLITE_OK)
        rc = adb_stmt(db, NULL, NULL, "UPDATE runs SET heartbeat_utc = ? WHERE id = ?", "ti", now,
                      db->run_id);
    if ((s = commit_or_fail(db, rc, err, what)) != FL_OK)
        return s;
    db->step_id = id;
    db->step_idx++;
    if (step_id)
        *step_id = id;
    return FL_OK;
}

/* Inside an open transaction: the step's outcome and (with_recs) every
 * record kept for it. */
static int write_step_end(fl_auditdb *db, fl_outcome o, const char *msg, bool with_recs,
                          const char *now)
{
    int rc = adb_stmt(db, NULL, NULL,
                      "UPDATE steps SET outcome = ?, ended_utc = ?, message = ? "
                      "WHERE id = ? AND outcome = 'RUNNING'",
                      "ttti", fl_outcome_name(o), now, msg, db->step_id);
    for (size_t i = 0; with_recs && rc == SQLITE_OK && i < db->nrecs; i++)
        rc = insert_rec(db, &db->recs[i], db->step_id, now);
    if (rc == SQLITE_OK)
        rc = adb_stmt(db, NULL, NULL, "UPDATE runs SET heartbeat_utc = ? WHERE id = ?", "ti", now,
                      db->run_id);
    return rc;
}

fl_status fl_auditdb_step_end(fl_auditdb *db, fl_outcome outcome, const char *message,
                              fl_error *err)
{
    const char *what = "recording the end of a step";
    fl_status s = need_run(db, what, err);
    if (s == FL_OK && !db->step_id)
        s = fl_fail(err, FL_ERR_USAGE, "%s: no step is open", what);
    if (s == FL_OK)
        s = need_end_outcome(outcome, what, err);
    if (s != FL_OK)
        return s;
    char now[32];
    adb_now(db, now);
    int rc = adb_begin(db);
    if (rc == SQLITE_OK)
        rc = write_step_end(db, outcome, message, true, now);
    if ((s = commit_or_fail(db, rc, err, what)) != FL_OK)
        return s; /* step still open, records kept: the caller may retry */
    recs_clear(db);
    db->step_id = 0;
    return FL_OK;
}

/* --- records ------------------------------------------------------------ */
fl_status fl_auditdb_measure(fl_auditdb *db, const char *name, double value, const char *unit,
                             fl_error *err)
{
    const char *what = "recording a measurement";
    fl_status s = need_run(db, what, err);
    if (s != FL_OK)
        return s;
    if (!name || !*name)
        return fl_fail(err, FL_ERR_USAGE, "%s: a measurement needs a name", what);
    if (!isfinite(value))
        return fl_fail(err, FL_ERR_USAGE, "%s: %s is not a finite number", what, name);
    adb_rec r = {.kind = REC_MEASURE, .a = strdup(name), .b = dup_or_null(unit), .value = value};
    if (!r.a || (unit && !r.b)) {
        rec_free(&r);
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory %s", what);
    }
    return add_rec(db, r, what, err);
}

fl_status fl_auditdb_artifact(fl_auditdb *db, const char *kind, const char *path,
                              const char *sha256, int64_t size, fl_error *err)
{
    return fl_auditdb_artifact_content(db, kind, path, sha256, size, NULL, -1, err);
}

fl_status fl_auditdb_artifact_content(fl_auditdb *db, const char *kind, const char *path,
                                      const char *sha256, int64_t size, const char *content,
                                      int vendor, fl_error *err)
{
    const fl_audit_store_ref none = {0};
    return fl_auditdb_artifact_full(db, kind, path, sha256, size, content, vendor, &none, err);
}

fl_status fl_auditdb_artifact_full(fl_auditdb *db, const char *kind, const char *path,
                                   const char *sha256, int64_t size, const char *content,
                                   int vendor, const fl_audit_store_ref *store, fl_error *err)
{
    const char *what = "recording an artifact";
    fl_status s = need_run(db, what, err);
    if (s != FL_OK)
        return s;
    char sha[65];
    if (!kind || !*kind || !path || !*path)
        return fl_fail(err, FL_ERR_USAGE, "%s: an artifact needs a kind and a path", what);
    if (!adb_sha256_norm(sha256, sha))
        return fl_fail(err, FL_ERR_USAGE, "%s: SHA-256 of %s is not 64 hex digits", what, path);
    if (size < 0)
        return fl_fail(err, FL_ERR_USAGE, "%s: negative size for %s", what, path);
    if ((content && !*content) || vendor < -1 || vendor > 1)
        return fl_fail(err, FL_ERR_USAGE, "%s: content must not be empty, vendor is -1, 0 or 1",
                       what);
    if ((store->name && !*store->name) || (store->version && !*store->version) ||
        (store->source && !*store->source))
        return fl_fail(err, FL_ERR_USAGE, "%s: a store name, version or source must not be empty",
                       what);
    adb_rec r = {.kind = REC_ARTIFACT, .a = strdup(kind), .b = strdup(path), .c = strdup(sha),
                 .size = size, .content = dup_or_null(content), .vendor = vendor,
                 .store_name = dup_or_null(store->name),
                 .store_version = dup_or_null(store->version),
                 .store_source = dup_or_null(store->source)};
    if (!r.a || !r.b || !r.c || (content && !r.content) || (store->name && !r.store_name) ||
        (store->version && !r.store_version) || (store->source && !r.store_source)) {
        rec_free(&r);
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory %s", what);
    }
    return add_rec(db, r, what, err);
}

fl_status fl_auditdb_last_pass(fl_auditdb *db, const char *recipe_name, const char *unit,
                               fl_audit_prior *out, fl_error *err)
{
    memset(out, 0, sizeof *out);
    char mac[18];
    bool is_mac = fl_audit_mac_normalize(unit, mac);
    sqlite3_stmt *st = NULL;
    int rc = adb_prepare(
        db, &st,
        "SELECT r.id, r.started_utc, r.ended_utc, s.name FROM runs r "
        "JOIN units u ON u.id = r.unit_id JOIN stations s ON s.id = r.station_id "
        "WHERE r.outcome = 'PASS' AND r.recipe_name IS ?1 "
        "AND (u.mac = ?2 OR (u.mac IS NULL AND u.alt_id = ?3)) ORDER BY r.id DESC LIMIT 1",
        "ttt", recipe_name, is_mac ? mac : NULL, unit);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        out->run_id = sqlite3_column_int64(st, 0);
        for (int i = 1; i <= 3; i++) {
            const char *t = (const char *)sqlite3_column_text(st, i);
            char *dst = i == 1 ? out->started_utc : i == 2 ? out->ended_utc : out->station;
            size_t cap = i == 3 ? sizeof out->station : sizeof out->started_utc;
            snprintf(dst, cap, "%s", t ? t : "");
        }
        rc = SQLITE_DONE;
    }
    if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? FL_OK : adb_fail(db, rc, err, "looking up the unit's earlier runs");
}

fl_status fl_auditdb_reference_backups(fl_auditdb *db, const char *recipe_name, const char *chip,
                                       int64_t flash_size, fl_audit_backup_ref *out, size_t cap,
                                       size_t *n, fl_error *err)
{
    *n = 0;
    sqlite3_stmt *st = NULL;
    int rc = adb_prepare(
        db, &st,
        "SELECT r.id, a.size, a.sha256, a.path FROM artifacts a JOIN runs r ON r.id = a.run_id "
        "JOIN units u ON u.id = r.unit_id WHERE a.kind = 'backup' AND r.outcome = 'PASS' "
        "AND r.recipe_name IS ?1 AND u.chip = ?2 AND u.flash_size = ?3 AND a.size = ?3 "
        "ORDER BY a.id DESC LIMIT ?4",
        "ttii", recipe_name, chip, (int64_t)flash_size, (int64_t)cap);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        fl_audit_backup_ref *b = &out[(*n)++];
        b->run_id = sqlite3_column_int64(st, 0);
        b->size = sqlite3_column_int64(st, 1);
        const char *sha = (const char *)sqlite3_column_text(st, 2);
        const char *path = (const char *)sqlite3_column_text(st, 3);
        snprintf(b->sha256, sizeof b->sha256, "%s", sha ? sha : "");
        snprintf(b->path, sizeof b->path, "%s", path ? path : "");
        rc = SQLITE_OK;
    }
    if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? FL_OK : adb_fail(db, rc, err, "looking up earlier backups");
}

/* Checked now, with the same json_valid() the schema's CHECK uses, so that
 * bad JSON is refused here and cannot sink the step's commit later. */
static bool json_ok(fl_auditdb *db, const char *json)
{
    int64_t ok = 0;
    return adb_stmt(db, &ok, NULL, "SELECT json_valid(?)", "t", json) == SQLITE_OK && ok == 1;
}

fl_status fl_auditdb_tuya_config(fl_auditdb *db, const char *config_json, bool redacted,
                                 const char *obk_pins_json, fl_error *err)
{
    const char *what = "recording a Tuya config";
    fl_status s = need_run(db, what, err);
    if (s != FL_OK)
        return s;
    if (!config_json || !json_ok(db, config_json))
        return fl_fail(err, FL_ERR_USAGE, "%s: the config is not valid JSON", what);
    if (obk_pins_json && !json_ok(db, obk_pins_json))
        return fl_fail(err, FL_ERR_USAGE, "%s: the OBK pin map is not valid JSON", what);
    adb_rec r = {.kind = REC_TUYA, .a = strdup(config_json), .b = dup_or_null(obk_pins_json),
                 .size = redacted ? 1 : 0};
    if (!r.a || (obk_pins_json && !r.b)) {
        rec_free(&r);
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory %s", what);
    }
    return add_rec(db, r, what, err);
}

fl_status fl_auditdb_heartbeat(fl_auditdb *db, fl_error *err)
{
    const char *what = "refreshing the run's heartbeat";
    fl_status s = need_run(db, what, err);
    if (s != FL_OK)
        return s;
    char now[32];
    adb_now(db, now);
    int rc = adb_stmt(db, NULL, NULL, "UPDATE runs SET heartbeat_utc = ? WHERE id = ?", "ti", now,
                      db->run_id);
    return rc == SQLITE_OK ? FL_OK : adb_fail(db, rc, err, what);
}

/* --- the end ------------------------------------------------------------ */

/* One transaction: the open step (if any) and the run.  with_recs false
 * drops the open step's records (noted in its message). */
static int end_run_tx(fl_auditdb *db, fl_outcome o, const char *msg, bool with_recs,
                      const char *now, int *changed)
{
    char note[600];
    int rc = adb_begin(db);
    if (rc == SQLITE_OK && db->step_id) {
        const char *smsg = msg ? msg : "the run ended while this step was open";
        if (!with_recs) {
            snprintf(note, sizeof note, "%s [%zu record(s) of this step could not be stored]",
                     smsg, db->nrecs);
            smsg = note;
        }
        rc = write_step_end(db, o, smsg, with_recs, now);
    }
    if (rc == SQLITE_OK)
        rc = adb_stmt(db, NULL, NULL,
                      "UPDATE runs SET outcome = ?, ended_utc = ?, message = ?, heartbeat_utc = ? "
                      "WHERE id = ? AND outcome = 'RUNNING'",
                      "tttti", fl_outcome_name(o), now, msg, now, db->run_id);
    *changed = sqlite3_changes(db->sql);
    if (rc == SQLITE_OK)
        rc = adb_commit(db);
    return rc;
}

static void forget_run(fl_auditdb *db)
{
    recs_clear(db);
    db->run_id = db->unit_id = db->step_id = 0;
    db->step_idx = 0;
}

fl_status fl_auditdb_run_end(fl_auditdb *db, fl_outcome outcome, const char *message,
                             fl_error *err)
{
    const char *what = "recording the end of a run";
    fl_status s = need_run(db, what, err);
    if (s == FL_OK)
        s = need_end_outcome(outcome, what, err);
    if (s != FL_OK)
        return s;
    char now[32];
    adb_now(db, now);
    int changed = 0;
    int rc = end_run_tx(db, outcome, message, true, now, &changed);
    if ((rc & 0xff) == SQLITE_CONSTRAINT && db->nrecs) {
        /* A record the schema refuses must not keep the run open forever:
         * end it without the open step's records, and say so. */
        adb_rollback(db);
        rc = end_run_tx(db, outcome, message, false, now, &changed);
    }
    if (rc != SQLITE_OK)
        return fail_rollback(db, rc, err, what); /* still open: the caller may retry */
    int64_t id = db->run_id;
    forget_run(db);
    if (!changed)
        return fl_fail(err, FL_ERR_REFUSED,
                       "%s: run #%lld was no longer RUNNING in %s (marked by crash recovery of "
                       "another process?)",
                       what, (long long)id, db->path);
    return FL_OK;
}
