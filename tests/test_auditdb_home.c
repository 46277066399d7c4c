/* Migration 0005 and what the station home's runs need from the log: what a
 * backup holds (content, vendor) stored and frozen with the artifact, old
 * logs migrated with NULLs, and the latest PASS of a recipe on a unit (by MAC
 * in any spelling, or by alt id) for the re-run rule. */
#include "auditdb_testutil.h"
#include "storage/auditdb.h"
#include "storage/auditdb_sql.h"
#include "testlib.h"

static fl_auditdb *open_db(const char *path)
{
    fl_auditdb *db = NULL;
    fl_error err = {0};
    CHECK(fl_auditdb_open(path, NULL, &db, &err) == FL_OK, "open %s: %s", path, err.msg);
    return db;
}

/* One finished run of recipe on a unit with one backup; returns the run id. */
static int64_t one_run(fl_auditdb *db, const char *recipe, const char *mac, const char *alt,
                       fl_outcome outcome, const char *content, int vendor)
{
    fl_error err = {0};
    int64_t run = 0, step = 0;
    fl_audit_run_info info = {.station = "s1", .recipe_name = recipe};
    fl_audit_unit u = {.mac = mac, .alt_id = alt, .chip = "bk7231n"};
    CHECK(fl_auditdb_run_begin(db, &info, &run, &err) == FL_OK, "begin: %s", err.msg);
    CHECK(fl_auditdb_run_unit(db, &u, NULL, &err) == FL_OK, "unit: %s", err.msg);
    CHECK(fl_auditdb_step_begin(db, "backup", &step, &err) == FL_OK, "step: %s", err.msg);
    CHECK(fl_auditdb_artifact_content(db, "backup", "/home/b.bin", SHA_A, 10, content, vendor,
                                      &err) == FL_OK,
          "artifact: %s", err.msg);
    CHECK(fl_auditdb_step_end(db, FL_OUTCOME_PASS, NULL, &err) == FL_OK, "step end: %s", err.msg);
    CHECK(fl_auditdb_run_end(db, outcome, NULL, &err) == FL_OK, "end: %s", err.msg);
    return run;
}

static void test_backup_content_recorded_and_frozen(void)
{
    const char *path = tu_path("content.db");
    fl_auditdb *db = open_db(path);
    if (!db)
        return;
    one_run(db, "r", "aa:bb:cc:00:00:01", NULL, FL_OUTCOME_PASS, "tuya", 1);
    fl_error err = {0};
    int64_t run;
    CHECK(fl_auditdb_run_begin(db, NULL, &run, &err) == FL_OK, "begin: %s", err.msg);
    /* a plain artifact says nothing about its content */
    CHECK(fl_auditdb_artifact(db, "firmware", "/fw.bin", SHA_B, 5, &err) == FL_OK, "%s", err.msg);
    /* misuse is refused before anything is recorded */
    CHECK(fl_auditdb_artifact_content(db, "backup", "/x", SHA_A, 1, "", 1, &err) == FL_ERR_USAGE,
          "empty content refused");
    CHECK(fl_auditdb_artifact_content(db, "backup", "/x", SHA_A, 1, "tuya", 2, &err) ==
              FL_ERR_USAGE,
          "vendor 2 refused");
    CHECK(fl_auditdb_run_end(db, FL_OUTCOME_PASS, NULL, &err) == FL_OK, "end: %s", err.msg);
    fl_auditdb_close(db);
    sqlite3 *raw = tu_raw(path);
    CHECK_STR(tu_text(raw, "SELECT group_concat(kind || ':' || quote(content) || ':' || "
                           "quote(vendor), ' ') FROM (SELECT * FROM artifacts ORDER BY id)"),
              "backup:'tuya':1 firmware:NULL:NULL");
    /* the append-only rules of 0003 freeze the classification too */
    char *msg = NULL;
    CHECK(sqlite3_exec(raw, "UPDATE artifacts SET vendor = 0", NULL, NULL, &msg) != SQLITE_OK,
          "vendor mark cannot be changed");
    CHECK(msg && strstr(msg, "append-only"), "%s", msg ? msg : "(no message)");
    sqlite3_free(msg);
    sqlite3_close(raw);
}

/* A log at version 4 (before 0005): its backups stay, with content NULL. */
static void test_migration_from_v4(void)
{
    const char *path = tu_path("v4.db");
    sqlite3 *raw = tu_raw(path);
    const char *names[] = {"db/migrations/0001_initial.sql", "db/migrations/0002_tuya_configs.sql",
                           "db/migrations/0003_append_only.sql",
                           "db/migrations/0004_run_link.sql"};
    for (size_t i = 0; i < 4; i++) {
        const fl_sql_file *m = fl_sql_find(names[i]);
        CHECK(m != NULL, "%s not embedded", names[i]);
        if (!m) {
            sqlite3_close(raw);
            return;
        }
        tu_exec(raw, m->text);
    }
    tu_exec(raw, "PRAGMA user_version = 4;"
                 "INSERT INTO stations VALUES (1, 'old', 'h', '2025-01-01', '2025-01-01');"
                 "INSERT INTO runs (id, station_id, started_utc, outcome, pid, host, "
                 "  heartbeat_utc) VALUES (1, 1, '2025-01-01T00:00:00.000Z', 'RUNNING', 1, 'h', "
                 "  '2025-01-01');"
                 "INSERT INTO artifacts (run_id, kind, path, sha256, size, created_utc) VALUES "
                 "  (1, 'backup', 'backups/old.bin', "
                 "  'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 1, 't');"
                 "UPDATE runs SET outcome = 'PASS', ended_utc = '2025-01-01T00:01:00.000Z';");
    sqlite3_close(raw);
    fl_auditdb *db = open_db(path);
    fl_auditdb_close(db);
    raw = tu_raw(path);
    CHECK(fl_auditdb_schema_version() >= 5, "schema version %d", fl_auditdb_schema_version());
    CHECK_EQ_UINT(tu_int(raw, "PRAGMA user_version"), fl_auditdb_schema_version());
    CHECK_STR(tu_text(raw, "SELECT path || ' ' || quote(content) || ' ' || quote(vendor) "
                           "FROM artifacts"),
              "backups/old.bin NULL NULL");
    sqlite3_close(raw);
}

static void test_last_pass(void)
{
    const char *path = tu_path("pass.db");
    fl_auditdb *db = open_db(path);
    if (!db)
        return;
    fl_error err = {0};
    fl_audit_prior p;
    CHECK(fl_auditdb_last_pass(db, "r", "aa:bb:cc:00:00:01", &p, &err) == FL_OK, "%s", err.msg);
    CHECK(p.run_id == 0, "empty log: no earlier pass");
    one_run(db, "r", "aa:bb:cc:00:00:01", NULL, FL_OUTCOME_FAIL, "tuya", 1);
    CHECK(fl_auditdb_last_pass(db, "r", "aa:bb:cc:00:00:01", &p, &err) == FL_OK, "%s", err.msg);
    CHECK(p.run_id == 0, "a FAIL is no pass");
    int64_t pass1 = one_run(db, "r", "aa:bb:cc:00:00:01", NULL, FL_OUTCOME_PASS, "tuya", 1);
    int64_t pass2 = one_run(db, "r", "aa:bb:cc:00:00:01", NULL, FL_OUTCOME_PASS, "openbeken", 0);
    int64_t alt = one_run(db, "r", NULL, "jedec-c84015-0123", FL_OUTCOME_PASS, "blank", 0);
    CHECK(pass1 && pass2 > pass1, "runs");
    CHECK(fl_auditdb_last_pass(db, "r", "AA-BB-CC-00-00-01", &p, &err) == FL_OK, "%s", err.msg);
    CHECK(p.run_id == pass2, "the latest pass, MAC in another spelling: %lld",
          (long long)p.run_id);
    CHECK(p.started_utc[0] == '2' && p.ended_utc[0] == '2', "when: %s", p.started_utc);
    CHECK_STR(p.station, "s1");
    CHECK(fl_auditdb_last_pass(db, "other", "aa:bb:cc:00:00:01", &p, &err) == FL_OK && !p.run_id,
          "another recipe is no repeat");
    CHECK(fl_auditdb_last_pass(db, "r", "aa:bb:cc:00:00:02", &p, &err) == FL_OK && !p.run_id,
          "another unit is no repeat");
    CHECK(fl_auditdb_last_pass(db, "r", "jedec-c84015-0123", &p, &err) == FL_OK &&
              p.run_id == alt,
          "by alt id");
    fl_auditdb_close(db);
}

int main(void)
{
    tu_init("fl-auditdb-home");
    RUN(test_backup_content_recorded_and_frozen);
    RUN(test_migration_from_v4);
    RUN(test_last_pass);
    tu_cleanup();
    return testlib_finish();
}
