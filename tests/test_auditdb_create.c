/* Many processes creating one new audit log at the same moment.
 *
 * PROCS processes run ROUNDS rounds.  Each round has its own log file that
 * does not exist yet (every fourth round: a schema-v1 log, so the processes
 * race on the migrations instead); all processes are released together
 * through a pipe, then each opens the log and records one run with one step.
 * Every open must succeed and every run must be in the log exactly once.
 * No timing is involved: the start is an event (the pipe closing), and the
 * parent waits for the children with waitpid. */
#include <signal.h>
#include <sys/wait.h>

#include "auditdb_testutil.h"
#include "storage/auditdb.h"
#include "storage/auditdb_sql.h"
#include "testlib.h"

#define PROCS 8
#define ROUNDS 20

static const char *round_path(int r)
{
    char name[32];
    snprintf(name, sizeof name, "round%02d.db", r);
    return tu_path(name);
}

/* A log at schema v1, as an older flashline left it. */
static void make_v1_log(const char *path)
{
    const fl_sql_file *m1 = fl_sql_find("db/migrations/0001_initial.sql");
    CHECK(m1 != NULL, "0001 not embedded");
    if (!m1)
        return;
    sqlite3 *raw = tu_raw(path);
    tu_exec(raw, m1->text);
    tu_exec(raw, "PRAGMA user_version = 1");
    sqlite3_close(raw);
}

/* One process's part of a round; the message of a failure goes to err_fd as
 * one line.  Returns 0 on success. */
static int record_one_run(const char *path, int proc, int round, int err_fd)
{
    fl_auditdb_opts o;
    fl_auditdb_opts_init(&o);
    o.busy_timeout_ms = 15000; /* a loaded machine: the wait is an upper bound */
    fl_auditdb *db = NULL;
    fl_error err = {0};
    char port[32];
    snprintf(port, sizeof port, "sim:p%d", proc);
    fl_audit_run_info info = {"line-1", "bot", "create-race", NULL, port};
    fl_status s = fl_auditdb_open(path, &o, &db, &err);
    if (s == FL_OK)
        s = fl_auditdb_run_begin(db, &info, NULL, &err);
    if (s == FL_OK)
        s = fl_auditdb_step_begin(db, "flash", NULL, &err);
    if (s == FL_OK)
        s = fl_auditdb_measure(db, "round", round, NULL, &err);
    if (s == FL_OK)
        s = fl_auditdb_step_end(db, FL_OUTCOME_PASS, NULL, &err);
    if (s == FL_OK)
        s = fl_auditdb_run_end(db, FL_OUTCOME_PASS, NULL, &err);
    fl_auditdb_close(db);
    if (s != FL_OK) {
        dprintf(err_fd, "process %d round %d: %s\n", proc, round, err.msg);
        return 1;
    }
    return 0;
}

/* Child: for every round, say "ready", wait for the start, record a run. */
static void child_main(int proc, int ready_fd, int go_fds[ROUNDS], int err_fd)
{
    int failures = 0;
    for (int r = 0; r < ROUNDS; r++) {
        char c = 'r', buf;
        if (write(ready_fd, &c, 1) != 1)
            _exit(100);
        /* returns 0 (EOF) when the parent closes its end: the start signal */
        if (read(go_fds[r], &buf, 1) != 0)
            _exit(101);
        failures += record_one_run(round_path(r), proc, r, err_fd);
    }
    _exit(failures);
}

static void test_many_processes_create_one_log(void)
{
    for (int r = 3; r < ROUNDS; r += 4)
        make_v1_log(round_path(r));
    int ready[2], errs[2], go[ROUNDS][2];
    CHECK(pipe(ready) == 0 && pipe(errs) == 0, "pipe");
    for (int r = 0; r < ROUNDS; r++)
        CHECK(pipe(go[r]) == 0, "pipe");
    pid_t pids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        pids[p] = fork();
        if (pids[p] == 0) {
            int go_read[ROUNDS];
            close(ready[0]);
            close(errs[0]);
            for (int r = 0; r < ROUNDS; r++) {
                close(go[r][1]);
                go_read[r] = go[r][0];
            }
            child_main(p, ready[1], go_read, errs[1]);
        }
        CHECK(pids[p] > 0, "fork");
    }
    close(ready[1]);
    close(errs[1]);
    for (int r = 0; r < ROUNDS; r++) {
        close(go[r][0]);
        /* all processes are ready for round r: release them together */
        char c;
        for (int p = 0; p < PROCS; p++)
            CHECK(read(ready[0], &c, 1) == 1, "child %d of round %d never got ready", p, r);
        close(go[r][1]);
    }
    close(ready[0]);
    int failed_runs = 0;
    for (int p = 0; p < PROCS; p++) {
        int st = 0;
        CHECK(waitpid(pids[p], &st, 0) == pids[p], "waitpid");
        CHECK(WIFEXITED(st), "process %d status 0x%x", p, st);
        failed_runs += WIFEXITED(st) ? WEXITSTATUS(st) : ROUNDS;
    }
    char msgs[8192];
    ssize_t n = read(errs[0], msgs, sizeof msgs - 1);
    msgs[n > 0 ? n : 0] = '\0';
    close(errs[0]);
    CHECK(failed_runs == 0, "%d of %d runs failed:\n%s", failed_runs, PROCS * ROUNDS, msgs);

    /* read every log back: each round has PROCS runs, one per process */
    int total = 0;
    for (int r = 0; r < ROUNDS; r++) {
        sqlite3 *raw = tu_raw(round_path(r));
        int64_t runs = tu_int(raw, "SELECT count(*) FROM runs WHERE outcome = 'PASS'");
        total += (int)runs;
        CHECK_EQ_UINT(runs, PROCS);
        CHECK_EQ_UINT(tu_int(raw, "SELECT count(DISTINCT port) FROM runs"), PROCS);
        CHECK_EQ_UINT(tu_int(raw, "SELECT count(*) FROM steps WHERE outcome = 'PASS'"), PROCS);
        CHECK_EQ_UINT(tu_int(raw, "SELECT count(*) FROM measurements WHERE value = %d", r),
                      PROCS);
        CHECK_EQ_UINT(tu_int(raw, "SELECT count(*) FROM stations"), 1);
        CHECK_EQ_UINT(tu_int(raw, "PRAGMA user_version"), fl_auditdb_schema_version());
        CHECK_STR(tu_text(raw, "PRAGMA journal_mode"), "wal");
        sqlite3_close(raw);
    }
    fprintf(stderr, "  note: %d processes x %d rounds: %d runs recorded\n", PROCS, ROUNDS, total);
    CHECK_EQ_UINT(total, PROCS * ROUNDS);
}

int main(void)
{
    tu_init("flashline-auditdb-create");
    RUN(test_many_processes_create_one_log);
    return testlib_finish();
}
