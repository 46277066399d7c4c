#!/usr/bin/env bash
# flashline query can only read: query files that try to write, attach,
# change pragmas or smuggle a second statement are refused (exit 7) and the
# log is left byte-for-byte and row-for-row unchanged.
source "$(dirname "$0")/lib.sh"

DB=$T/audit.db
python3 tests/cli/query_fixture.py "$DB" "$T/expect.json" || fail "fixture"
# fold the WAL in so that the file's hash says it all
python3 -c "import sqlite3; c=sqlite3.connect('$DB'); c.execute('PRAGMA wal_checkpoint(TRUNCATE)'); c.close()"
state() { sha256sum "$DB" | cut -d' ' -f1; python3 -c "
import sqlite3; c=sqlite3.connect('file:$DB?mode=ro', uri=True)
print([c.execute(f'SELECT count(*) FROM {t}').fetchone()[0] for t in ('runs','steps','units','measurements','artifacts','sqlite_master')],
      c.execute('SELECT group_concat(outcome || message) FROM runs').fetchone(), c.execute('PRAGMA user_version').fetchone())"; }
before=$(state)

evil() { # name, SQL body
    printf -- '-- description: looks harmless\n%s\n' "$2" >"$T/$1.sql"
    expect_exit 7 "refused: $1" "$FL" query --file "$T/$1.sql" --db "$DB" 2>"$T/err"
    check "refused: $1 says why" grep -q "refused: .*single read-only SELECT" "$T/err"
}
evil delete "DELETE FROM runs;"
evil update "UPDATE runs SET outcome = 'PASS';"
evil insert "INSERT INTO stations (name, host, first_seen, last_seen) VALUES ('x','x','x','x');"
evil second_statement "SELECT count(*) FROM runs; DELETE FROM runs;"
evil cte_delete "WITH x AS (SELECT 1) DELETE FROM runs;"
evil drop "DROP TABLE artifacts;"
evil trigger "DROP TRIGGER runs_no_delete;"
evil temp_table "CREATE TEMP TABLE t AS SELECT * FROM runs;"
evil attach "ATTACH DATABASE '$T/evil.db' AS evil;"
evil vacuum_into "VACUUM INTO '$T/copy.db';"
evil pragma "PRAGMA user_version = 42;"
evil pragma_schema "PRAGMA writable_schema = ON;"
evil transaction "BEGIN EXCLUSIVE;"

check "log unchanged after every attempt" [ "$(state)" = "$before" ]
check "ATTACH created no file" [ ! -e "$T/evil.db" ]
check "VACUUM INTO created no file" [ ! -e "$T/copy.db" ]

# an ordinary query file of one's own runs, with its parameters
cat >"$T/mine.sql" <<'SQL'
-- description: runs of one outcome
-- param: outcome=FAIL   which outcome
SELECT id, outcome FROM runs WHERE outcome = :outcome ORDER BY id; -- trailing comment
SQL
"$FL" query --file "$T/mine.sql" --db "$DB" --param outcome=PASS --csv >"$T/mine.csv"
check "own query file runs" [ "$(tr -d '\r' <"$T/mine.csv" | tail -n +2 | cut -d, -f2 | sort -u)" = PASS ]
printf 'SELECT 1;\n' >"$T/nodesc.sql"
expect_exit 3 "query file without a description exits 3" "$FL" query --file "$T/nodesc.sql" --db "$DB" 2>"$T/err"
check "no description: says what is missing" grep -q "no '-- description:' line" "$T/err"
finish
