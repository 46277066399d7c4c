/* Tests for the audit log's storage layer (src/storage/auditdb*.c): schema and
 * migrations, the recording lifecycle read back with a raw connection, one
 * transaction per step, crash recovery across a real SIGKILL, concurrent
 * writers, and the locked / read-only / corrupt / newer-schema errors. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "auditdb_testutil.h"
#include "storage/auditdb.h"
#include "storage/auditdb_sql.h"
#include "testlib.h"

static char host[256];

static fl_auditdb_opts quick_opts(void)
{
    fl_auditdb_opts o;
    fl_auditdb_opts_init(&o);
    o.busy_timeout_ms = 3000;
    return o;
}

static fl_auditdb *open_ok(const char *path, const fl_auditdb_opts *o)
{
    fl_auditdb *db = NULL;
    fl_error err = {0};
    fl_status s = fl_auditdb_open(path, o, &db, &err);
    CHECK(s == FL_OK, "open %s: %s", path, err.msg);
    return db;
}

#define OK(call)                                                                          \
    do {                                                                                  \
        fl_error e_ = {0};                                                                \
        fl_status s_ = (call);                                                            \
        (void)e_;                                                                         \
        CHECK(s_ == FL_OK, "%s", err.msg);                                                \
    } while (0)

/* --- schema and migrations ---------------------------------------------- */

/* sqlite_master SQL without comments and with canonical spacing, so that the
 * documented schema.sql and the migrations can be compared. */
static void normalize_sql(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    int space = 0;
    for (const char *p = in; *p && o + 2 < cap; p++) {
        if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                p++;
            if (!*p)
                break;
        }
        if (isspace((unsigned char)*p)) {
            space = 1;
            continue;
        }
        int punct = strchr("(),;=", *p) != NULL;
        int prev_punct = o && strchr("(),;=", out[o - 1]);
        if (space && o && !punct && !prev_punct)
            out[o++] = ' ';
        space = 0;
        out[o++] = *p;
    }
    out[o] = '\0';
}

/* Every table, index and trigger with its normalized SQL, one per line. */
static char *schema_fingerprint(sqlite3 *s)
{
    size_t cap = 1 << 16, o = 0;
    char *buf = calloc(1, cap), norm[8192];
    sqlite3_stmt *st;
    sqlite3_prepare_v2(s,
                       "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL "
                       "ORDER BY type, name",
                       -1, &st, NULL);
    while (sqlite3_step(st) == SQLITE_ROW) {
        normalize_sql((const char *)sqlite3_column_text(st, 2), norm, sizeof norm);
        o += (size_t)snprintf(buf + o, cap - o, "%s %s: %s\n", sqlite3_column_text(st, 0),
                              sqlite3_column_text(st, 1), norm);
    }
    sqlite3_finalize(st);
    return buf;
}

static void test_migrations_from_empty(void)
{
    const char *path = tu_path("fresh.db");
    fl_auditdb_opts o = quick_opts();
    fl_auditdb *db = open_ok(path, &o);
    fl_auditdb_close(db);
    sqlite3 *raw = tu_raw(path);
    int latest = fl_auditdb_schema_version();
    CHECK(latest >= 3, "schema version %d", latest);
    CHECK_EQ_UINT(tu_int(raw, "PRAGMA user_version"), latest);
    CHECK_EQ_UINT(tu_int(raw, "PRAGMA application_id"), 0x464C4C4E);
    CHECK_STR(tu_text(raw, "PRAGMA journal_mode"), "wal");
    for (const char *const *t = (const char *const[]){"stations", "units", "runs", "steps",
                                                      "measurements", "artifacts",
                                                      "tuya_configs", NULL};
         *t; t++)
        CHECK(tu_int(raw, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name=%Q",
                     *t) == 1,
              "table %s missing", *t);

    /* The documented schema.sql builds exactly what the migrations built. */
    sqlite3 *doc = tu_raw(":memory:");
    const fl_sql_file *f = fl_sql_find("db/schema.sql");
    CHECK(f != NULL, "schema.sql not embedded");
    if (f)
        tu_exec(doc, f->text);
    CHECK_EQ_UINT(tu_int(doc, "PRAGMA user_version"), latest);
    char *a = schema_fingerprint(raw), *b = schema_fingerprint(doc);
    CHECK(!strcmp(a, b), "schema.sql differs from the migrations:\n--- migrations\n%s--- schema.sql\n%s",
          a, b);
    CHECK(strstr(a, "trigger runs_finished_frozen") != NULL, "append-only triggers missing");
    free(a);
    free(b);
    sqlite3_close(doc);
    sqlite3_close(raw);

    /* Reopening changes nothing. */
    db = open_ok(path, &o);
    CHECK_EQ_UINT(fl_auditdb_recovered_at_open(db), 0);
    fl_auditdb_close(db);
}

static void test_migrations_from_v1(void)
{
    const char *path = tu_path("v1.db");
    sqlite3 *raw = tu_raw(path);
    const fl_sql_file *m1 = fl_sql_find("db/migrations/0001_initial.sql");
    CHECK(m1 != NULL, "0001 not embedded");
    if (!m1)
        return;
    tu_exec(raw, m1->text);
    tu_exec(raw, "PRAGMA user_version = 1;"
                 "INSERT INTO stations VALUES (1, 'old', 'h', '2025-01-01', '2025-01-01');"
                 "INSERT INTO units (id, mac, first_seen, last_seen) "
                 "  VALUES (1, 'aa:bb:cc:00:00:01', '2025-01-01', '2025-01-01');"
                 "INSERT INTO runs (id, station_id, unit_id, started_utc, ended_utc, outcome, "
                 "  message, pid, host, heartbeat_utc) VALUES (1, 1, 1, '2025-01-01T00:00:00.000Z',"
                 "  '2025-01-01T00:01:00.000Z', 'PASS', 'old run', 1, 'h', '2025-01-01');"
                 "INSERT INTO steps VALUES (1, 1, 1, 'flash', '2025-01-01', '2025-01-01', 'PASS', NULL);"
                 "INSERT INTO measurements VALUES (1, 1, 1, 'bytes', 4096, 'B');");
    CHECK(tu_int(raw, "SELECT count(*) FROM sqlite_master WHERE name='tuya_configs'") == 0,
          "v1 must not have tuya_configs");
    sqlite3_close(raw);

    fl_auditdb_opts o = quick_opts();
    fl_auditdb *db = open_ok(path, &o);
    fl_auditdb_close(db);
    raw = tu_raw(path);
    CHECK_EQ_UINT(tu_int(raw, "PRAGMA user_version"), fl_auditdb_schema_version());
    CHECK_EQ_UINT(tu_int(raw, "SELECT count(*) FROM sqlite_master WHERE name='tuya_configs'"), 1);
    CHECK_STR(tu_text(raw, "SELECT message FROM runs WHERE id = 1"), "old run");
    CHECK_EQ_UINT(tu_int(raw, "SELECT value FROM measurements WHERE step_id = 1"), 4096);
    /* 0003 made the old run read-only evidence too */
    CHECK(sqlite3_exec(raw, "DELETE FROM measurements", NULL, NULL, NULL) != SQLITE_OK,
          "delete of old measurements allowed");
    CHECK(sqlite3_exec(raw, "UPDATE runs SET outcome='FAIL' WHERE id=1", NULL, NULL, NULL) !=
              SQLITE_OK,
          "finished run changed");
    CHECK_STR(tu_text(raw, "SELECT outcome FROM runs WHERE id = 1"), "PASS");
    /* 0004: the old run says nothing about how it reached its chip, and stays frozen */
    CHECK_STR(tu_text(raw, "SELECT quote(driver) || ' ' || quote(programmer) FROM runs WHERE id = 1"),
              "NULL NULL");
    CHECK(sqlite3_exec(raw, "UPDATE runs SET driver='ch341a-spi' WHERE id=1", NULL, NULL, NULL) !=
              SQLITE_OK,
          "driver of a finished run changed");
    sqlite3_close(raw);
}

/* A log at schema v3 (before runs said how they reached the chip) with a
 * finished run: 0004 adds driver and programmer, old rows NULL, new runs
 * record them. */
static void test_migrations_from_v3(void)
{
    const char *path = tu_path("v3.db");
    sqlite3 *raw = tu_raw(path);
    const char *names[] = {"db/migrations/0001_initial.sql", "db/migrations/0002_tuya_configs.sql",
                           "db/migrations/0003_append_only.sql"};
    for (size_t i = 0; i < 3; i++) {
        const fl_sql_file *m = fl_sql_find(names[i]);
        CHECK(m != NULL, "%s not embedded", names[i]);
        if (!m) {
            sqlite3_close(raw);
            return;
        }
        tu_exec(raw, m->text);
    }
    tu_exec(raw, "PRAGMA user_version = 3;"
                 "INSERT INTO stations VALUES (1, 'old', 'h', '2025-01-01', '2025-01-01');"
                 "INSERT INTO runs (id, station_id, port, started_utc, ended_utc, outcome, "
                 "  message, pid, host, heartbeat_utc) VALUES (1, 1, '/dev/ttyUSB0', "
                 "  '2025-01-01T00:00:00.000Z', '2025-01-01T00:01:00.000Z', 'PASS', 'v3 run', 1, "
                 "  'h', '2025-01-01');");
    CHECK(tu_int(raw, "SELECT count(*) FROM pragma_table_info('runs') WHERE name='driver'") == 0,
          "v3 must not have runs.driver");
    sqlite3_close(raw);

    fl_auditdb_opts o = quick_opts();
    fl_auditdb *db = open_ok(path, &o);
    if (!db)
        return;
    fl_error err = {0};
    int64_t id = 0;
    OK(fl_auditdb_run_begin(db, NULL, &id, &err));
    OK(fl_auditdb_run_link(db, "ch341a-spi", "ch341a bus 1 port 4", &err));
    OK(fl_auditdb_run_end(db, FL_OUTCOME_PASS, NULL, &err));
    fl_auditdb_close(db);
    raw = tu_raw(path);
    CHECK_EQ_UINT(tu_int(raw, "PRAGMA user_version"), fl_auditdb_schema_version());
    CHECK(fl_auditdb_schema_version() >= 4, "schema version %d", fl_auditdb_schema_version());
    CHECK_STR(tu_text(raw, "SELECT message || ' ' || port || ' ' || quote(driver) || ' ' || "
                           "quote(programmer) FROM runs WHERE id = 1"),
              "v3 run /dev/ttyUSB0 NULL NULL");
    CHECK_STR(tu_text(raw, "SELECT driver || '|' || programmer FROM runs WHERE id = %lld",
                      (long long)id),
              "ch341a-spi|ch341a bus 1 port 4");
    sqlite3_close(raw);
}

/* fl_auditdb_run_link: on the run being recorded only, arguments checked
 * first, replaced by a second call, frozen with the run. */
static void test_run_link(void)
{
    const char *path = tu_path("link.db");
    fl_auditdb_opts o = quick_opts();
    fl_auditdb *db = open_ok(path, &o);
    if (!db)
        return;
    fl_error err = {0};
    CHECK(fl_auditdb_run_link(db, "beken-uart", "sim:x", &err) == FL_ERR_USAGE &&
              strstr(err.msg, "no run"), "link without a run: %s", err.msg);
    int64_t id = 0;
    OK(fl_auditdb_run_begin(db, NULL, &id, &err));
    CHECK(fl_auditdb_run_link(db, "", "sim:x", &err) == FL_ERR_USAGE &&
              strstr(err.msg, "driver name"), "empty driver: %s", err.msg);
    CHECK(fl_auditdb_run_link(db, NULL, "sim:x", &err) == FL_ERR_USAGE, "NULL driver");
    char longname[600];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    CHECK(fl_auditdb_run_link(db, "beken-uart", longname, &err) == FL_ERR_USAGE,
          "600-byte programmer accepted");
    sqlite3 *raw = tu_raw(path);
    CHECK_STR(tu_text(raw, "SELECT quote(driver) FROM runs WHERE id = %lld", (long long)id),
              "NULL");
    OK(fl_auditdb_run_link(db, "beken-uart", "/dev/ttyUSB0", &err));
    CHECK_STR(tu_text(raw, "SELECT driver || '|' || programmer FROM runs WHERE id = %lld",
                      (long long)id),
              "beken-uart|/dev/ttyUSB0");
    /* while a step is open: committed at once, like the unit */
    OK(fl_auditdb_step_begin(db, "connect", NULL, &err));
    OK(fl_auditdb_run_link(db, "ch341a-spi", NULL, &err));
    CHECK_STR(tu_text(raw, "SELECT driver || '|' || quote(programmer) FROM runs WHERE id = %lld",
                      (long long)id),
              "ch341a-spi|NULL");
    OK(fl_auditdb_run_link(db, "ch341a-spi", "emulator ch341a:sim?target=bk7231t", &err));
    OK(fl_auditdb_step_end(db, FL_OUTCOME_PASS, NULL, &err));
    OK(fl_auditdb_run_end(db, FL_OUTCOME_PASS, NULL, &err));
    CHECK(fl_auditdb_run_link(db, "beken-uart", "x", &err) == FL_ERR_USAGE,
          "link after the run ended");
    CHECK(sqlite3_exec(raw, "UPDATE runs SET programmer='forged'", NULL, NULL, NULL) != SQLITE_OK,
          "programmer of a finished run changed");
    CHECK_STR(tu_text(raw, "SELECT driver || '|' || programmer FROM runs WHERE id = %lld",
                      (long long)id),
              "ch341a-spi|emulator ch341a:sim?target=bk7231t");
    sqlite3_close(raw);
    fl_auditdb_close(db);
}

static void test_newer_schema_refused(void)
{
    const char *path = tu_path("newer.db");
    fl_auditdb_opts o = quick_opts();
    fl_auditdb_close(open_ok(path, &o));
    sqlite3 *raw = tu_raw(path);
    int future = fl_auditdb_schema_version() + 1;
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", future);
    tu_exec(raw, sql);
    sqlite3_close(raw);

    fl_auditdb *db = NULL;
    fl_error err = {0};
    fl_status s = fl_auditdb_open(path, &o, &db, &err);
    fprintf(stderr, "  note: newer: %s\n", err.msg);
    CHECK(s == FL_ERR_FORMAT && db == NULL, "status %d", s);
    char want[64];
    snprintf(want, sizeof want, "schema version %d, newer", future);
    CHECK(strstr(err.msg, want) && strstr(err.msg, path) && strstr(err.msg, "newer flashline"),
          "message: %s", err.msg);
    raw = tu_raw(path);
    CHECK_EQ_UINT(tu_int(raw, "PRAGMA user_version"), future);
    sqlite3_close(raw);
}

static void test_not_an_audit_log(void)
{
    /* another application's SQLite file */
    const char *other = tu_path("other.db");
    sqlite3 *raw = tu_raw(other);
    tu_exec(raw, "CREATE TABLE contacts (name TEXT)");
    sqlite3_close(raw);
    fl_auditdb *db = NULL;
    fl_error err = {0};
    fl_status s = fl_auditdb_open(other, NULL, &db, &err);
    CHECK(s == FL_ERR_FORMAT && strstr(err.msg, "not a flashline audit log"), "%d %s", s, err.msg);

    /* a corrupt file: garbage where the header should be */
    const char *junk = tu_path("junk.db");
    char garbage[8192];
    for (size_t i = 0; i < sizeof garbage; i++)
        garbage[i] = (char)(i * 7 + 3);
    FILE *f = fopen(junk, "wb");
    fwrite(garbage, 1, sizeof garbage, f);
    fclose(f);
    s = fl_auditdb_open(junk, NULL, &db, &err);
    fprintf(stderr, "  note: corrupt: %s\n", err.msg);
    CHECK(s == FL_ERR_FORMAT && strstr(err.msg, "corrupt or not a SQLite database") &&
              strstr(err.msg, "move it aside"),
          "%d %s", s, err.msg);
    char back[8192];
    f = fopen(junk, "rb");
    size_t n = fread(back, 1, sizeof back, f);
    fclose(f);
    CHECK(n == sizeof garbage && !memcmp(back, garbage, n), "corrupt file was modified");
}

/* --- recording ---------------------------------------------------------- */
static void test_lifecycle(void)
{
    const char *path = tu_path("life.db");
    tu_clock clk = {tu_utc(2026, 11, 20, 10, 0), 0.25};
    fl_auditdb_opts o = quick_opts();
    o.now = tu_clock_now;
    o.now_ctx = &clk;
    fl_auditdb *db = open_ok(path, &o);
    if (!db)
        return;
    fl_error err = {0};
    int64_t run = 0, unit = 0, s1 = 0, s2 = 0, s3 = 0;
    char upper_sha[65];
    for (int i = 0; i < 64; i++)
        upper_sha[i] = (char)toupper((unsigned char)SHA_C[i]);
    upper_sha[64] = '\0';
    fl_audit_run_info info = {"line-1", "alice", "bk7231n-obk", upper_sha, "sim:bk7231n"};
    clk.t = tu_utc(2026, 11, 20, 10, 0); /* the run starts exactly here */
    OK(fl_auditdb_run_begin(db, &info, &run, &err));
    CHECK(run > 0 && fl_auditdb_current_run(db) == run, "run id %lld", (long long)run);

    fl_audit_unit u = {"C8-47-8C-01-02-03", NULL, "bk7231n", "C84016", 2 << 20, "rom"};
    OK(fl_auditdb_run_unit(db, &u, &unit, &err));
    OK(fl_auditdb_step_begin(db, "connect", &s1, &err));
    OK(fl_auditdb_measure(db, "baud", 921600, "baud", &err));
    OK(fl_auditdb_measure(db, "retries", 0, NULL, &err));
    OK(fl_auditdb_step_end(db, FL_OUTCOME_PASS, NULL, &err));
    OK(fl_auditdb_step_begin(db, "backup", &s2, &err));
    OK(fl_auditdb_artifact(db, "backup", "/backups/c8478c010203.bin", SHA_A, 2 << 20, &err));
    OK(fl_auditdb_tuya_config(db, "{\"wifi_ssid\":\"<redacted>\",\"module\":\"CB2S\"}", true,
                              "{\"6\":\"Relay;1\"}", &err));
    OK(fl_auditdb_step_end(db, FL_OUTCOME_PASS, "backup saved", &err));
    OK(fl_auditdb_measure(db, "total_s", 12.5, "s", &err)); /* a run-level record */
    OK(fl_auditdb_step_begin(db, "flash", &s3, &err));
    OK(fl_auditdb_artifact(db, "firmware", "OpenBK7231N_QIO_1.18.300.bin", SHA_B, 1234567, &err));
    OK(fl_auditdb_measure(db, "bytes", 1234567, "B", &err));
    OK(fl_auditdb_measure(db, "crc", 4294967295.0, NULL, &err));
    OK(fl_auditdb_heartbeat(db, &err));
    OK(fl_auditdb_step_end(db, FL_OUTCOME_PASS, NULL, &err));
    OK(fl_auditdb_run_end(db, FL_OUTCOME_PASS, "all good", &err));
    CHECK(fl_auditdb_current_run(db) == 0 && fl_auditdb_current_step(db) == 0, "state not reset");
    fl_auditdb_close(db);

    sqlite3 *raw = tu_raw(path);
    CHECK_STR(tu_text(raw, "SELECT s.name FROM runs r JOIN stations s ON s.id = r.station_id "
                           "WHERE r.id = %lld", (long long)run), "line-1");
    CHECK_STR(tu_text(raw, "SELECT host FROM stations WHERE name = 'line-1'"), host);
    CHECK_STR(tu_text(raw, "SELECT operator || '|' || recipe_name || '|' || recipe_sha256 || '|' "
                           "|| port || '|' || outcome || '|' || message FROM runs WHERE id = %lld",
                      (long long)run),
              "alice|bk7231n-obk|0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef|"
              "sim:bk7231n|PASS|all good");
    CHECK_STR(tu_text(raw, "SELECT started_utc FROM runs WHERE id = %lld", (long long)run),
              "2026-11-20T10:00:00.000Z");
    CHECK(tu_int(raw, "SELECT ended_utc > started_utc AND heartbeat_utc = ended_utc FROM runs "
                      "WHERE id = %lld", (long long)run) == 1, "end / heartbeat times");
    CHECK_EQ_UINT(tu_int(raw, "SELECT pid FROM runs WHERE id = %lld", (long long)run), getpid());
    CHECK_STR(tu_text(raw, "SELECT host FROM runs WHERE id = %lld", (long long)run), host);
    CHECK(tu_int(raw, "SELECT length(proc_token) > 10 FROM runs WHERE id = %lld",
                 (long long)run) == 1, "process token missing");
    /* the unit, normalized */
    CHECK_EQ_UINT(tu_int(raw, "SELECT unit_id FROM runs WHERE id = %lld", (long long)run), unit);
    CHECK_STR(tu_text(raw, "SELECT mac || '|' || chip || '|' || jedec_id || '|' || flash_size "
                           "|| '|' || loader_kind FROM units WHERE id = %lld", (long long)unit),
              "c8:47:8c:01:02:03|bk7231n|c84016|2097152|rom");
    /* steps in order, with their records attached to the right one */
    CHECK_STR(tu_text(raw, "SELECT group_concat(idx || ':' || name || ':' || outcome || ':' || "
                           "COALESCE(message, '-'), ' ') FROM (SELECT * FROM steps WHERE run_id "
                           "= %lld ORDER BY idx)", (long long)run),
              "1:connect:PASS:- 2:backup:PASS:backup saved 3:flash:PASS:-");
    CHECK(tu_int(raw, "SELECT count(*) FROM steps WHERE run_id = %lld AND ended_utc >= "
                      "started_utc", (long long)run) == 3, "step times");
    CHECK_STR(tu_text(raw, "SELECT group_concat(name || '=' || printf('%%.1f', value) || "
                           "COALESCE(unit, ''), ',') FROM (SELECT * FROM measurements WHERE "
                           "step_id = %lld ORDER BY id)", (long long)s1),
              "baud=921600.0baud,retries=0.0");
    CHECK_STR(tu_text(raw, "SELECT printf('%%.0f', value) FROM measurements WHERE step_id = %lld "
                           "AND name = 'crc'", (long long)s3), "4294967295");
    CHECK_STR(tu_text(raw, "SELECT name || '=' || value || unit FROM measurements WHERE run_id = "
                      "%lld AND step_id IS NULL", (long long)run), "total_s=12.5s");
    CHECK_STR(tu_text(raw, "SELECT kind || '|' || path || '|' || sha256 || '|' || size FROM "
                           "artifacts WHERE step_id = %lld", (long long)s2),
              "backup|/backups/c8478c010203.bin|"
              "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa|2097152");
    CHECK_STR(tu_text(raw, "SELECT kind || '|' || size FROM artifacts WHERE step_id = %lld",
                      (long long)s3), "firmware|1234567");
    CHECK_STR(tu_text(raw, "SELECT json_extract(config_json, '$.module') || '|' || redacted || "
                           "'|' || obk_pins_json || '|' || unit_id || '|' || step_id FROM "
                           "tuya_configs WHERE run_id = %lld", (long long)run),
              tu_text(raw, "SELECT 'CB2S|1|{\"6\":\"Relay;1\"}|%lld|%lld'", (long long)unit,
                      (long long)s2));
    sqlite3_close(raw);
}

static int64_t begin_with_unit(fl_auditdb *db, const char *mac, const char *alt, const char *chip,
                               const char *jedec, int64_t *unit)
{
    fl_error err = {0};
    int64_t run = 0;
    OK(fl_auditdb_run_begin(db, NULL, &run, &err));
    fl_audit_unit u = {mac, alt, chip, jedec, 0, NULL};
    OK(fl_auditdb_run_unit(db, &u, unit, &err));
    return run;
}

static void test_unit_identity(void)
{
    const char *path = tu_path("units.db");
    fl_auditdb_opts o = quick_opts();
    fl_auditdb *db = open_ok(path, &o);
    if (!db)
        return;
    fl_error err = {0};
    int64_t u1, u2, u3, u4, u5, u5b;
    begin_with_unit(db, "aa:bb:cc:dd:ee:01", NULL, "bk7231t", NULL, &u1);
    OK(fl_auditdb_run_end(db, FL_OUTCOME_PASS, NULL, &err));
    begin_with_unit(db, "AABBCCDDEE01", NULL, NULL, "c84016", &u2);
    OK(fl_auditdb_run_end(db, FL_OUTCOME_FAIL, NULL, &err));
    CHECK(u1 == u2, "same MAC, another spelling: units %lld and %lld", (long long)u1,
          (long long)u2);
    begin_with_unit(db, NULL, "jedec-c84016-1", "bk7231n", NULL, &u3);
    OK(fl_auditdb_run_end(db, FL_OUTCOME_ERROR, NULL, &err));
    begin_with_unit(db, NULL, "jedec-c84016-1", NULL, NULL, &u4);
    OK(fl_auditdb_run_end(db, FL_OUTCOME_PASS, NULL, &err));
    CHECK(u3 == u4 && u3 != u1, "alt id found again: %lld %lld", (long long)u3, (long long)u4);
    /* MAC learned later in the same run: the run's unit gets it */
    begin_with_unit(db, NULL, "jedec-x", NULL, NULL, &u5);
    fl_audit_unit later = {"aa-bb-cc-dd-ee-05", "jedec-x", "bk7238", NULL, 0, NULL};
    OK(fl_auditdb_run_unit(db, &later, &u5b, &err));
    OK(fl_auditdb_run_end(db, FL_OUTCOME_PASS, NULL, &err));
    CHECK(u5 == u5b, "MAC learned later made a new unit: %lld %lld", (long long)u5, (long long)u5b);
    fl_auditdb_close(db);

    sqlite3 *raw = tu_raw(path);
    CHECK_STR(tu_text(raw, "SELECT mac || '|' || chip || '|' || jedec_id FROM units WHERE id = %lld",
                      (long long)u1), "aa:bb:cc:dd:ee:01|bk7231t|c84016");
    CHECK_STR(tu_text(raw, "SELECT mac || '|' || alt_id || '|' || chip FROM units WHERE id = %lld",
                      (long long)u5), "aa:bb:cc:dd:ee:05|jedec-x|bk7238");
    CHECK_EQ_UINT(tu_int(raw, "SELECT count(*) FROM units"), 3);
    CHECK_EQ_UINT(tu_int(raw, "SELECT count(*) FROM runs WHERE unit_id = %lld", (long long)u1), 2);
    sqlite3_close(raw);

    /* MAC normalization itself */
    char mac[18];
    CHECK(fl_audit_mac_normalize("C8:47:8C:0A:0B:0C", mac) && !strcmp(mac, "c8:47:8c:0a:0b:0c"),
          "%s", mac);
    CHECK(fl_audit_mac_normalize("c8478c0a0b0c", mac) && !strcmp(mac, "c8:47:8c:0a:0b:0c"), "%s",
          mac);
    const char *bad[] = {"", "c8:47:8c:0a:0b", "c8:47:8c:0a:0b:0c:0d", "c847:8c:0a:0b:0c",
                         "c8:47-8c:0a:0b:0c", "g8:47:8c:0a:0b:0c", "c8::478c0a0b0c", ":c8478c0a0b0c"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(!fl_audit_mac_normalize(bad[i], mac), "'%s' accepted", bad[i]);
}

static void test_misuse(void)
{
    fl_auditdb_opts o = quick_opts();
    fl_auditdb *db = open_ok(tu_path("misuse.db"), &o);
    if (!db)
        return;
    fl_error err = {0};
    CHECK(fl_auditdb_step_begin(db, "x", NULL, &err) == FL_ERR_USAGE, "step without run");
    CHECK(fl_auditdb_measure(db, "x", 1, NULL, &err) == FL_ERR_USAGE, "measure without run");
    CHECK(fl_auditdb_run_end(db, FL_OUTCOME_PASS, NULL, &err) == FL_ERR_USAGE, "end without run");
    fl_audit_run_info bad = {.recipe_sha256 = "abc"};
    CHECK(fl_auditdb_run_begin(db, &bad, NULL, &err) == FL_ERR_USAGE &&
              strstr(err.msg, "64 hex"), "%s", err.msg);
    OK(fl_auditdb_run_begin(db, NULL, NULL, &err));
    CHECK(fl_auditdb_run_begin(db, NULL, NULL, &err) == FL_ERR_USAGE, "two runs on a handle");
    fl_audit_unit nomac = {.chip = "bk7231n"};
    CHECK(fl_auditdb_run_unit(db, &nomac, NULL, &err) == FL_ERR_USAGE &&
              strstr(err.msg, "MAC or an alternative id"), "%s", err.msg);
    fl_audit_unit badmac = {.mac = "zz:zz"};
    CHECK(fl_auditdb_run_unit(db, &badmac, NULL, &err) == FL_ERR_USAGE, "bad MAC accepted");
    CHECK(fl_auditdb_step_end(db, FL_OUTCOME_PASS, NULL, &err) == FL_ERR_USAGE, "end, no step");
    OK(fl_auditdb_step_begin(db, "s", NULL, &err));
    CHECK(fl_auditdb_step_begin(db, "t", NULL, &err) == FL_ERR_USAGE, "nested step");
    CHECK(fl_auditdb_measure(db, "nan", 0.0 / 0.0, NULL, &err) == FL_ERR_USAGE, "NaN accepted");
    CHECK(fl_auditdb_artifact(db, "backup", "p", "xyz", 1, &err) == FL_ERR_USAGE, "bad sha");
    CHECK(fl_auditdb_artifact(db, "backup", "p", SHA_A, -1, &err) == FL_ERR_USAGE, "neg size");
    CHECK(fl_auditdb_tuya_config(db, "{not json", true, NULL, &err) == FL_ERR_USAGE,
          "bad JSON accepted");
    CHECK(fl_auditdb_step_end(db, FL_OUTCOME_RUNNING, NULL, &err) == FL_ERR_USAGE,
          "RUNNING as an end outcome");
    OK(fl_auditdb_run_end(db, FL_OUTCOME_PASS, NULL, &err));
    fl_auditdb_close(db);

    fl_outcome out;
    CHECK(fl_outcome_parse("aborted", &out) && out == FL_OUTCOME_ABORTED, "parse");
    CHECK(!fl_outcome_parse("maybe", &out), "parse of junk");
    CHECK_STR(fl_outcome_name(FL_OUTCOME_FAIL), "FAIL");
    CHECK(fl_outcome_from_status(FL_ERR_VERIFY) == FL_OUTCOME_FAIL &&
              fl_outcome_from_status(FL_ERR_LINK) == FL_OUTCOME_ERROR &&
              fl_outcome_from_status(FL_ERR_CANCELLED) == FL_OUTCOME_ABORTED &&
              fl_outcome_from_status(FL_OK) == FL_OUTCOME_PASS,
          "status mapping");
}

static void test_close_marks_aborted(void)
{
    const char *path = tu_path("close.db");
    fl_auditdb_opts o = quick_opts();
    fl_auditdb *db = open_ok(path, &o);
    if (!db)
        return;
    fl_error err = {0};
    int64_t run = 0;
    OK(fl_auditdb_run_begin(db, NULL, &run, &err));
    OK(fl_auditdb_step_begin(db, "flash", NULL, &err));
    OK(fl_auditdb_measure(db, "bytes", 4096, "B", &err));
    fl_auditdb_close(db);
    sqlite3 *raw = tu_raw(path);
    CHECK_STR(tu_text(raw, "SELECT outcome FROM runs WHERE id = %lld", (long long)run), "ABORTED");
    CHECK(strstr(tu_text(raw, "SELECT message FROM runs WHERE id = %lld", (long long)run),
                 "closed while the run was in progress") != NULL, "message");
    /* the open step ends with the run, its records kept */
    CHECK_STR(tu_text(raw, "SELECT outcome FROM steps WHERE run_id = %lld", (long long)run),
              "ABORTED");
    CHECK_EQ_UINT(tu_int(raw, "SELECT value FROM measurements WHERE run_id = %lld",
                         (long long)run), 4096);
    sqlite3_close(raw);
}

/* --- one transaction per step ------------------------------------------ */
static void test_step_is_atomic(void)
{
    const char *path = tu_path("atomic.db");
    fl_auditdb_opts o = quick_opts();
    fl_auditdb *db = open_ok(path, &o);
    if (!db)
        return;
    /* A real mid-transaction failure: the 3rd insert of the step's commit
     * (after the step update and two measurements) aborts. */
    sqlite3 *raw = tu_raw(path);
    tu_exec(raw, "CREATE TRIGGER test_poison BEFORE INSERT ON artifacts WHEN NEW.kind = 'poison' "
                 "BEGIN SELECT RAISE(ABORT, 'injected failure'); END;");
    fl_error err = {0};
    int64_t run = 0, step = 0;
    OK(fl_auditdb_run_begin(db, NULL, &run, &err));
    OK(fl_auditdb_step_begin(db, "backup", &step, &err));
    OK(fl_auditdb_measure(db, "bytes", 1, "B", &err));
    OK(fl_auditdb_measure(db, "retries", 2, NULL, &err));
    OK(fl_auditdb_artifact(db, "poison", "/x", SHA_A, 1, &err));
    OK(fl_auditdb_tuya_config(db, "{}", true, NULL, &err));
    fl_status s = fl_auditdb_step_end(db, FL_OUTCOME_PASS, "done", &err);
    CHECK(s == FL_ERR_REFUSED && strstr(err.msg, "injected failure"), "%d %s", s, err.msg);
    CHECK_STR(tu_text(raw, "SELECT outcome FROM steps WHERE id = %lld", (long long)step),
              "RUNNING");
    CHECK_STR(tu_text(raw, "SELECT COALESCE(message, 'none') FROM steps WHERE id = %lld",
                      (long long)step), "none");
    CHECK_EQ_UINT(tu_int(raw, "SELECT count(*) FROM measurements"), 0);
    CHECK_EQ_UINT(tu_int(raw, "SELECT count(*) FROM artifacts"), 0);
    CHECK_EQ_UINT(tu_int(raw, "SELECT count(*) FROM tuya_configs"), 0);
    CHECK(fl_auditdb_current_step(db) == step, "a failed step_end must leave the step open");
    /* The run can still be ended: the unstorable records are dropped, said so. */
    OK(fl_auditdb_run_end(db, FL_OUTCOME_ERROR, "audit log refused a record", &err));
    CHECK_STR(tu_text(raw, "SELECT outcome FROM runs WHERE id = %lld", (long long)run), "ERROR");
    CHECK_STR(tu_text(raw, "SELECT outcome FROM steps WHERE id = %lld", (long long)step), "ERROR");
    CHECK(strstr(tu_text(raw, "SELECT message FROM steps WHERE id = %lld", (long long)step),
                 "4 record(s) of this step could not be stored") != NULL,
          "step message: %s", tu_text(raw, "SELECT message FROM steps WHERE id = %lld",
                                      (long long)step));
    CHECK_EQ_UINT(tu_int(raw, "SELECT count(*) FROM measurements"), 0);
    sqlite3_close(raw);
    fl_auditdb_close(db);
}

/* --- locked and read-only logs ----------------------------------------- */
static void test_locked(void)
{
    const char *path = tu_path("locked.db");
    fl_auditdb_opts o = quick_opts();
    o.busy_timeout_ms = 150;
    fl_auditdb *db = open_ok(path, &o);
    if (!db)
        return;
    sqlite3 *other = tu_raw(path);
    fl_error err = {0};

    tu_exec(other, "BEGIN IMMEDIATE");
    fl_status s = fl_auditdb_run_begin(db, NULL, NULL, &err);
    fprintf(stderr, "  note: locked: %s\n", err.msg);
    CHECK(s == FL_ERR_FILE && strstr(err.msg, "locked by another writer") &&
              strstr(err.msg, path) && strstr(err.msg, "retry"),
          "%d %s", s, err.msg);
    CHECK_EQ_UINT(tu_int(other, "SELECT count(*) FROM runs"), 0);
    CHECK_EQ_UINT(tu_int(other, "SELECT count(*) FROM stations"), 0);
    CHECK(fl_auditdb_current_run(db) == 0, "failed begin left a run");
    tu_exec(other, "COMMIT");

    int64_t step = 0;
    OK(fl_auditdb_run_begin(db, NULL, NULL, &err));
    OK(fl_auditdb_step_begin(db, "flash", &step, &err));
    OK(fl_auditdb_measure(db, "bytes", 100, "B", &err));
    OK(fl_auditdb_measure(db, "bytes", 200, "B", &err));
    OK(fl_auditdb_artifact(db, "firmware", "/fw.bin", SHA_B, 200, &err));
    tu_exec(other, "BEGIN IMMEDIATE");
    s = fl_auditdb_step_end(db, FL_OUTCOME_PASS, NULL, &err);
    CHECK(s == FL_ERR_FILE && strstr(err.msg, "locked"), "%d %s", s, err.msg);
    CHECK_STR(tu_text(other, "SELECT outcome FROM steps WHERE id = %lld", (long long)step),
              "RUNNING");
    CHECK_EQ_UINT(tu_int(other, "SELECT count(*) FROM measurements"), 0);
    CHECK_EQ_UINT(tu_int(other, "SELECT count(*) FROM artifacts"), 0);
    tu_exec(other, "ROLLBACK");
    /* lock gone: the retry stores the whole step */
    OK(fl_auditdb_step_end(db, FL_OUTCOME_PASS, NULL, &err));
    CHECK_STR(tu_text(other, "SELECT outcome FROM steps WHERE id = %lld", (long long)step), "PASS");
    CHECK_EQ_UINT(tu_int(other, "SELECT sum(value) FROM measurements WHERE step_id = %lld",
                         (long long)step), 300);
    CHECK_EQ_UINT(tu_int(other, "SELECT count(*) FROM artifacts WHERE step_id = %lld",
                         (long long)step), 1);
    OK(fl_auditdb_run_end(db, FL_OUTCOME_PASS, NULL, &err));
    sqlite3_close(other);
    fl_auditdb_close(db);
}

/* Open `path` in a child that is not root (root ignores permissions) and
 * report what fl_auditdb_open said. */
static fl_status open_as_other_user(const char *path, char *msg, size_t cap)
{
    int fds[2];
    if (pipe(fds) != 0)
        return FL_ERR_INTERNAL;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        if (getuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(3);
        fl_auditdb *db = NULL;
        fl_error err = {0};
        fl_status s = fl_auditdb_open(path, NULL, &db, &err);
        if (s == FL_OK) {
            fl_error e2 = {0};
            s = fl_auditdb_run_begin(db, NULL, NULL, &e2);
            if (s != FL_OK)
                err = e2;
            fl_auditdb_close(db);
        }
        int code = (int)s;
        if (write(fds[1], &code, sizeof code) < 0 || write(fds[1], err.msg, strlen(err.msg) + 1) < 0)
            _exit(4);
        _exit(0);
    }
    close(fds[1]);
    int code = -1;
    ssize_t n = read(fds[0], &code, sizeof code);
    size_t got = 0;
    while (n > 0 && got + 1 < cap && (n = read(fds[0], msg + got, cap - 1 - got)) > 0)
        got += (size_t)n;
    msg[got] = '\0';
    close(fds[0]);
    int st;
    waitpid(pid, &st, 0);
    return (fl_status)code;
}

static void test_read_only(void)
{
    char msg[1024];
    /* a read-only file in a writable directory */
    const char *dir1 = tu_path("rofile");
    mkdir(dir1, 0777);
    chmod(dir1, 0777);
    char path1[300];
    snprintf(path1, sizeof path1, "%s/log.db", dir1);
    fl_auditdb_opts o = quick_opts();
    fl_auditdb_close(open_ok(path1, &o));
    chmod(path1, 0444);
    fl_status s = open_as_other_user(path1, msg, sizeof msg);
    fprintf(stderr, "  note: read-only file: %s\n", msg);
    CHECK(s == FL_ERR_FILE && strstr(msg, "read-only") && strstr(msg, path1) &&
              strstr(msg, "--db"),
          "read-only file: %d %s", s, msg);

    /* a writable file in a read-only directory (no room for -wal / -shm) */
    const char *dir2 = tu_path("rodir");
    mkdir(dir2, 0755);
    char path2[300];
    snprintf(path2, sizeof path2, "%s/log.db", dir2);
    fl_auditdb_close(open_ok(path2, &o));
    chmod(path2, 0666);
    chmod(dir2, 0555);
    s = open_as_other_user(path2, msg, sizeof msg);
    fprintf(stderr, "  note: read-only directory: %s\n", msg);
    CHECK(s == FL_ERR_FILE && strstr(msg, "not writable") && strstr(msg, "-wal"),
          "read-only directory: %d %s", s, msg);

    /* no partial record in either */
    sqlite3 *raw = tu_raw(path1);
    CHECK_EQ_UINT(tu_int(raw, "SELECT count(*) FROM runs"), 0);
    sqlite3_close(raw);
    chmod(dir2, 0755);
    raw = tu_raw(path2);
    CHECK_EQ_UINT(tu_int(raw, "SELECT count(*) FROM runs"), 0);
    sqlite3_close(raw);

    /* a directory that does not exist */
    fl_auditdb *db = NULL;
    fl_error err = {0};
    s = fl_auditdb_open(tu_path("nope/log.db"), &o, &db, &err);
    CHECK(s == FL_ERR_FILE && strstr(err.msg, "does not exist"), "%d %s", s, err.msg);
}

/* --- crash recovery ------------------------------------------------------ */

/* Child: a run with a finished step and an open one, then SIGKILL itself. */
static void crashing_child(const char *path, int report_fd)
{
    fl_auditdb_opts o = quick_opts();
    fl_auditdb *db = NULL;
    fl_error err;
    int64_t run = 0;
    fl_audit_unit u = {"c8:47:8c:00:00:99", NULL, "bk7231n", NULL, 0, NULL};
    if (fl_auditdb_open(path, &o, &db, &err) || fl_auditdb_run_begin(db, NULL, &run, &err) ||
        fl_auditdb_run_unit(db, &u, NULL, &err) ||
        fl_auditdb_step_begin(db, "backup", NULL, &err) ||
        fl_auditdb_measure(db, "bytes", 2097152, "B", &err) ||
        fl_auditdb_artifact(db, "backup", "/b.bin", SHA_A, 2097152, &err) ||
        fl_auditdb_step_end(db, FL_OUTCOME_PASS, NULL, &err) ||
        fl_auditdb_step_begin(db, "flash", NULL, &err) ||
        fl_auditdb_measure(db, "bytes", 4096, "B", &err))
        run = -1;
    if (write(report_fd, &run, sizeof run) < 0)
        _exit(4);
    kill(getpid(), SIGKILL);
    _exit(5); /* not reached */
}

static void test_crash_recovery(void)
{
    const char *path = tu_path("crash.db");
    int fds[2];
    if (pipe(fds) != 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        crashing_child(path, fds[1]);
    }
    close(fds[1]);
    int64_t run = 0;
    CHECK(read(fds[0], &run, sizeof run) == sizeof run && run > 0, "child run %lld",
          (long long)run);
    close(fds[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child status 0x%x", st);

    sqlite3 *raw = tu_raw(path);
    CHECK_STR(tu_text(raw, "SELECT outcome FROM runs WHERE id = %lld", (long long)run), "RUNNING");
    fl_auditdb_opts o = quick_opts();
    fl_auditdb *db = open_ok(path, &o);
    CHECK_EQ_UINT(fl_auditdb_recovered_at_open(db), 1);
    fl_auditdb_close(db);

    CHECK_STR(tu_text(raw, "SELECT outcome FROM runs WHERE id = %lld", (long long)run), "ABORTED");
    const char *m = tu_text(raw, "SELECT message FROM runs WHERE id = %lld", (long long)run);
    char want[64];
    snprintf(want, sizeof want, "process %d on %s is gone", (int)pid, host);
    fprintf(stderr, "  note: recovered: %s\n", m);
    CHECK(strstr(m, want) && strstr(m, "marked ABORTED"), "message: %s", m);
    CHECK(tu_int(raw, "SELECT ended_utc IS NOT NULL AND ended_utc >= started_utc FROM runs "
                      "WHERE id = %lld", (long long)run) == 1, "ended time");
    /* the finished step and its records are intact; the open one is ABORTED, empty */
    CHECK_STR(tu_text(raw, "SELECT group_concat(name || ':' || outcome, ' ') FROM (SELECT * "
                           "FROM steps WHERE run_id = %lld ORDER BY idx)", (long long)run),
              "backup:PASS flash:ABORTED");
    CHECK_EQ_UINT(tu_int(raw, "SELECT m.value FROM measurements m JOIN steps s ON s.id = "
                              "m.step_id WHERE s.name = 'backup' AND s.run_id = %lld",
                         (long long)run), 2097152);
    CHECK_STR(tu_text(raw, "SELECT a.path FROM artifacts a JOIN steps s ON s.id = a.step_id "
                           "WHERE s.name = 'backup'"), "/b.bin");
    CHECK_EQ_UINT(tu_int(raw, "SELECT count(*) FROM measurements m JOIN steps s ON s.id = "
                              "m.step_id WHERE s.name = 'flash'"), 0);
    CHECK_STR(tu_text(raw, "SELECT u.mac FROM runs r JOIN units u ON u.id = r.unit_id WHERE "
                           "r.id = %lld", (long long)run), "c8:47:8c:00:00:99");
    sqlite3_close(raw);
}

/* A live process's run is left alone; once it dies, recover() marks it.
 * A zombie (dead, not yet reaped) counts as dead. */
static void test_recovery_liveness(void)
{
    const char *path = tu_path("live.db");
    fl_auditdb_opts o = quick_opts();
    fl_auditdb_close(open_ok(path, &o));
    int up[2], down[2];
    if (pipe(up) != 0 || pipe(down) != 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        close(up[0]);
        close(down[1]);
        fl_auditdb *db = NULL;
        fl_error err;
        int64_t run = -1;
        if (fl_auditdb_open(path, &o, &db, &err) || fl_auditdb_run_begin(db, NULL, &run, &err))
            run = -1;
        char c;
        if (write(up[1], &run, sizeof run) < 0 || read(down[0], &c, 1) < 0)
            _exit(4);
        _exit(0); /* leaves the run RUNNING, like a crash */
    }
    close(up[1]);
    close(down[0]);
    int64_t run = 0;
    CHECK(read(up[0], &run, sizeof run) == sizeof run && run > 0, "child run");
    fl_auditdb *db = open_ok(path, &o);
    CHECK_EQ_UINT(fl_auditdb_recovered_at_open(db), 0);
    sqlite3 *raw = tu_raw(path);
    CHECK_STR(tu_text(raw, "SELECT outcome FROM runs WHERE id = %lld", (long long)run), "RUNNING");

    /* let it exit but do not reap it yet: a zombie */
    CHECK(write(down[1], "x", 1) == 1, "pipe");
    /* waitid with WNOWAIT returns once it has exited and leaves it unreaped */
    siginfo_t si;
    CHECK(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) == 0, "waitid: %s", strerror(errno));
    int n = -1;
    fl_error err = {0};
    OK(fl_auditdb_recover(db, &n, &err));
    CHECK_EQ_UINT(n, 1);
    CHECK_STR(tu_text(raw, "SELECT outcome FROM runs WHERE id = %lld", (long long)run), "ABORTED");
    int st;
    waitpid(pid, &st, 0);
    close(up[0]);
    close(down[1]);

    /* Rows as other processes would leave them: a pid reused by another
     * process (pid 1 is alive but started at another time), another host
     * with a fresh and with a stale heartbeat. */
    char boot[64] = "none";
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (f) {
        if (fgets(boot, sizeof boot, f))
            boot[strcspn(boot, "\n")] = 0;
        fclose(f);
    }
    char now[32], old[32];
    time_t t = time(NULL), t_old = t - 7200;
    strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%S.000Z", gmtime(&t));
    strftime(old, sizeof old, "%Y-%m-%dT%H:%M:%S.000Z", gmtime(&t_old));
    char *sql = sqlite3_mprintf(
        "INSERT INTO stations (id, name, host, first_seen, last_seen) VALUES (99, 's', 'h', 'x', 'x');"
        "INSERT INTO runs (id, station_id, started_utc, pid, host, proc_token, heartbeat_utc) VALUES"
        " (101, 99, %Q, 1, %Q, '%q/999999999999', %Q),"
        " (102, 99, %Q, 4242, 'elsewhere', NULL, %Q),"
        " (103, 99, %Q, 4242, 'elsewhere', NULL, %Q);",
        now, host, boot, now, now, now, old, old);
    tu_exec(raw, sql);
    sqlite3_free(sql);
    OK(fl_auditdb_recover(db, &n, &err));
    CHECK_EQ_UINT(n, 2);
    CHECK_STR(tu_text(raw, "SELECT group_concat(id || ':' || outcome, ' ') FROM (SELECT * FROM "
                           "runs WHERE id > 100 ORDER BY id)"),
              "101:ABORTED 102:RUNNING 103:ABORTED");
    CHECK(strstr(tu_text(raw, "SELECT message FROM runs WHERE id = 103"), "no heartbeat from "
                 "process 4242 on elsewhere") != NULL, "stale message");
    /* runs of this very process are never touched */
    OK(fl_auditdb_run_begin(db, NULL, &run, &err));
    fl_auditdb *second = open_ok(path, &o);
    CHECK_EQ_UINT(fl_auditdb_recovered_at_open(second), 0);
    CHECK_STR(tu_text(raw, "SELECT outcome FROM runs WHERE id = %lld", (long long)run), "RUNNING");
    fl_auditdb_close(second);
    OK(fl_auditdb_run_end(db, FL_OUTCOME_PASS, NULL, &err));
    sqlite3_close(raw);
    fl_auditdb_close(db);
}

/* --- concurrency --------------------------------------------------------- */
#define WORKERS 3
#define RUNS_PER_WORKER 6
#define STEPS_PER_RUN 3

typedef struct worker {
    const char *path;
    int index;
    int failures;
    char last_error[512];
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    fl_auditdb_opts o = quick_opts();
    o.busy_timeout_ms = 10000;
    fl_auditdb *db = NULL;
    fl_error err = {0};
    char port[32], name[16];
    snprintf(port, sizeof port, "sim:%d", w->index);
    /* opening a fresh file together: the migrations race too */
    if (fl_auditdb_open(w->path, &o, &db, &err) != FL_OK) {
        w->failures++;
        snprintf(w->last_error, sizeof w->last_error, "%s", err.msg);
        return NULL;
    }
    for (int r = 0; r < RUNS_PER_WORKER; r++) {
        fl_audit_run_info info = {"line-1", "bot", "r", NULL, port};
        int bad = fl_auditdb_run_begin(db, &info, NULL, &err) != FL_OK;
        for (int s = 0; s < STEPS_PER_RUN && !bad; s++) {
            snprintf(name, sizeof name, "step%d", s);
            bad = fl_auditdb_step_begin(db, name, NULL, &err) ||
                  fl_auditdb_measure(db, "i", s, NULL, &err) ||
                  fl_auditdb_measure(db, "j", r, NULL, &err) ||
                  fl_auditdb_step_end(db, FL_OUTCOME_PASS, NULL, &err);
        }
        if (!bad)
            bad = fl_auditdb_run_end(db, FL_OUTCOME_PASS, NULL, &err) != FL_OK;
        if (bad) {
            w->failures++;
            snprintf(w->last_error, sizeof w->last_error, "%s", err.msg);
        }
    }
    fl_auditdb_close(db);
    return NULL;
}

static void test_concurrent_writers(void)
{
    const char *path = tu_path("concurrent.db");
    pthread_t th[WORKERS];
    worker w[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        w[i] = (worker){.path = path, .index = i};
        pthread_create(&th[i], NULL, worker_main, &w[i]);
    }
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(th[i], NULL);
        CHECK(w[i].failures == 0, "worker %d: %d failures, last: %s", i, w[i].failures,
              w[i].last_error);
    }
    sqlite3 *raw = tu_raw(path);
    CHECK_EQ_UINT(tu_int(raw, "SELECT count(*) FROM runs WHERE outcome = 'PASS'"),
                  WORKERS * RUNS_PER_WORKER);
    CHECK_EQ_UINT(tu_int(raw, "SELECT count(*) FROM steps WHERE outcome = 'PASS'"),
                  WORKERS * RUNS_PER_WORKER * STEPS_PER_RUN);
    CHECK_EQ_UINT(tu_int(raw, "SELECT count(*) FROM measurements"),
                  WORKERS * RUNS_PER_WORKER * STEPS_PER_RUN * 2);
    /* every run got its own steps 1..N and its measurements */
    CHECK_EQ_UINT(tu_int(raw, "SELECT count(*) FROM (SELECT run_id FROM steps GROUP BY run_id "
                              "HAVING count(*) = %d AND min(idx) = 1 AND max(idx) = %d)",
                         STEPS_PER_RUN, STEPS_PER_RUN), WORKERS * RUNS_PER_WORKER);
    CHECK_EQ_UINT(tu_int(raw, "SELECT count(DISTINCT port) FROM runs"), WORKERS);
    CHECK_EQ_UINT(tu_int(raw, "SELECT count(*) FROM stations"), 1);
    CHECK_EQ_UINT(tu_int(raw, "PRAGMA user_version"), fl_auditdb_schema_version());
    sqlite3_close(raw);
}

int main(void)
{
    if (gethostname(host, sizeof host - 1) != 0 || !host[0])
        snprintf(host, sizeof host, "localhost");
    tu_init("flashline-auditdb");
    RUN(test_migrations_from_empty);
    RUN(test_migrations_from_v1);
    RUN(test_migrations_from_v3);
    RUN(test_run_link);
    RUN(test_newer_schema_refused);
    RUN(test_not_an_audit_log);
    RUN(test_lifecycle);
    RUN(test_unit_identity);
    RUN(test_misuse);
    RUN(test_close_marks_aborted);
    RUN(test_step_is_atomic);
    RUN(test_locked);
    RUN(test_read_only);
    RUN(test_crash_recovery);
    RUN(test_recovery_liveness);
    RUN(test_concurrent_writers);
    return testlib_finish();
}
