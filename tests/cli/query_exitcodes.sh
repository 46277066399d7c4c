#!/usr/bin/env bash
# flashline query returns the exit codes its --help documents, each one
# checked here, and a query that would run for ever stops at its time limit.
source "$(dirname "$0")/lib.sh"

DB=$T/audit.db
python3 tests/cli/query_fixture.py "$DB" "$T/expect.json" || fail "fixture"
"$FL" query --help >"$T/help"
documented=$(sed -n '/^Exit codes:/,$p' "$T/help" | grep -oE '^  [0-9]+' | tr -d ' ' | tr '\n' ' ')
check "query --help documents exactly 0 2 3 6 7 9 (got: $documented)" [ "$documented" = "0 2 3 6 7 9 " ]
check "query --help documents --timeout and its default" grep -q -- "--timeout S .*default 10" "$T/help"
check "query --help does not speak of chips or ports" bash -c "! grep -qiE 'chip|port|bootloader' '$T/help'"

query_file() { # name, SQL: a query file of one's own
    printf -- '-- description: %s\n%s\n' "$1" "$2" >"$T/$1.sql"
}

# --- 0 ------------------------------------------------------------------------------------
expect_exit 0 "0: a query with rows" "$FL" query recent_runs --db "$DB" --json >/dev/null 2>&1
expect_exit 0 "0: a query with no rows" "$FL" query unit_history --param mac=00:00:00:00:00:09 \
    --db "$DB" >/dev/null 2>"$T/err"
check "no rows: says so" grep -qx "(0 rows)" "$T/err"

# --- 2 ------------------------------------------------------------------------------------
expect_exit 2 "2: unknown query" "$FL" query frobnicate --db "$DB" 2>/dev/null
expect_exit 2 "2: unknown query's --help" "$FL" query frobnicate --help 2>/dev/null
expect_exit 2 "2: missing --param" "$FL" query unit_history --db "$DB" 2>/dev/null
expect_exit 2 "2: unknown --param" "$FL" query recent_runs --param colour=red --db "$DB" 2>/dev/null
expect_exit 2 "2: a --param the query rejects (not a MAC)" \
    "$FL" query unit_history --param mac=nope --db "$DB" 2>/dev/null
for t in 0 -1 abc inf nan 1e3 0x10 "" 86401; do
    expect_exit 2 "2: --timeout '$t'" "$FL" query recent_runs --timeout "$t" --db "$DB" 2>"$T/err"
done
check "bad --timeout: says what it wants" grep -q -- "--timeout wants seconds" "$T/err"
expect_exit 2 "2: --timeout without a value" "$FL" query recent_runs --db "$DB" --timeout 2>/dev/null
expect_exit 0 "0: --timeout 2.5 is accepted" "$FL" query recent_runs --timeout 2.5 --db "$DB" >/dev/null 2>&1

# --- 3 ------------------------------------------------------------------------------------
expect_exit 3 "3: no log at --db" "$FL" query recent_runs --db "$T/none.db" 2>/dev/null
expect_exit 3 "3: --db is a directory" "$FL" query recent_runs --db "$T" 2>"$T/err"
check "directory: says so" grep -q "is a directory" "$T/err"
printf 'plain text, long enough to fill a SQLite header and then some more......................' >"$T/text.db"
expect_exit 3 "3: --db is not SQLite" "$FL" query recent_runs --db "$T/text.db" 2>/dev/null
python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('create table t(x)'); c.commit()" "$T/other.db"
expect_exit 3 "3: --db is another program's SQLite file" "$FL" query recent_runs --db "$T/other.db" 2>"$T/err"
check "another program's file: says it is not an audit log" grep -q "not a flashline audit log" "$T/err"
cp "$DB" "$T/newer.db"; cp "$DB-wal" "$T/newer.db-wal" 2>/dev/null
python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('pragma user_version=999'); c.commit()" "$T/newer.db"
expect_exit 3 "3: a log from a newer flashline" "$FL" query recent_runs --db "$T/newer.db" 2>"$T/err"
check "newer log: says so" grep -q "newer than this flashline" "$T/err"
expect_exit 3 "3: no such query file" "$FL" query --file "$T/none.sql" --db "$DB" 2>/dev/null
query_file syntax "SELEC id FROM runs;"
expect_exit 3 "3: query file with a syntax error" "$FL" query --file "$T/syntax.sql" --db "$DB" 2>/dev/null
query_file undeclared "SELECT id FROM runs WHERE outcome = :outcome;"
expect_exit 3 "3: query file using an undeclared parameter" \
    "$FL" query --file "$T/undeclared.sql" --db "$DB" 2>/dev/null

# --- 6: the time limit ----------------------------------------------------------------------
# A recursive CTE without an end: counting it never finishes.
query_file forever "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n;"
start=$SECONDS
expect_exit 6 "6: an endless recursive CTE stops at --timeout 1" \
    "$FL" query --file "$T/forever.sql" --db "$DB" --timeout 1 2>"$T/err"
check "endless CTE: stopped well before the 60 s bound ($((SECONDS - start)) s)" [ $((SECONDS - start)) -lt 60 ]
check "endless CTE: the message names the limit and --timeout" \
    grep -q "stopped at its time limit of 1 s.*--timeout" "$T/err"
# A query that is bounded by a --param: harmless with a small value, endless in practice
# with a huge one -- the limit holds there too.
query_file heavy "-- param: n=1   how deep
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < CAST(:n AS INTEGER))
SELECT count(*) FROM n, runs a, runs b;"
expect_exit 0 "0: the parameterised query is fine with a small --param" \
    "$FL" query --file "$T/heavy.sql" --db "$DB" --param n=10 --timeout 30 >/dev/null 2>&1
expect_exit 6 "6: ... and stopped when a --param makes it unbounded" \
    "$FL" query --file "$T/heavy.sql" --db "$DB" --param n=9000000000000 --timeout 1 2>/dev/null
expect_exit 6 "6: the default limit applies without --timeout" bash -c \
    "'$FL' query --file '$T/forever.sql' --db '$DB' 2>'$T/err'"
check "default limit: 10 s" grep -q "time limit of 10 s" "$T/err"

# --- 7 (tests/cli/query_readonly.sh has every kind of write) ---------------------------------
query_file delete "DELETE FROM runs;"
expect_exit 7 "7: a query that writes is refused" "$FL" query --file "$T/delete.sql" --db "$DB" 2>/dev/null

query_file extension "SELECT load_extension('x');"
expect_exit 7 "7: load_extension() is refused" "$FL" query --file "$T/extension.sql" --db "$DB" 2>"$T/err"
check "load_extension: the message says refused" grep -q "refused" "$T/err"
# Too large: SQLite refuses one value over the limit before allocating it, so these are fast.
query_file zeroblob "SELECT zeroblob(2000000000);"
expect_exit 7 "7: a 2 GB zeroblob is refused" "$FL" query --file "$T/zeroblob.sql" --db "$DB" 2>"$T/err"
check "zeroblob: the message names the limit" grep -q "larger than the result limit of 268435456 bytes" "$T/err"
query_file randomblob "SELECT randomblob(1000000000);"
expect_exit 7 "7: a 1 GB randomblob is refused" bash -c \
    "'$FL' query --file '$T/randomblob.sql' --db '$DB' >'$T/out' 2>/dev/null"
check "randomblob: nothing printed" [ ! -s "$T/out" ]
# Many moderate blobs together pass a lowered limit (a blob counts as its hex text).
query_file blobs "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 20)
SELECT randomblob(10000) FROM n;"
FLASHLINE_QUERY_MAX_BYTES=100000 expect_exit 7 "7: blobs over a lowered result limit" bash -c \
    "'$FL' query --file '$T/blobs.sql' --db '$DB' >'$T/out' 2>'$T/err'"
check "blobs: refused at the limit" grep -q "would pass its limit of 100000 bytes" "$T/err"
check "blobs: nothing printed" [ ! -s "$T/out" ]
query_file fewblobs "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 3)
SELECT randomblob(10000) AS b FROM n;"
FLASHLINE_QUERY_MAX_BYTES=100000 expect_exit 0 "0: fewer of the same blobs fit under that limit" \
    "$FL" query --file "$T/fewblobs.sql" --db "$DB" --csv >"$T/out" 2>/dev/null
check "fewer blobs: 3 rows of 10000 bytes as hex" \
    python3 -c "import re,sys; rows=open(sys.argv[1]).read().splitlines()
sys.exit(sum(bool(re.fullmatch(r\"x'[0-9a-f]{20000}'\", r)) for r in rows) != 3)" "$T/out"
# --- blobs are shown as hex, never as raw bytes or null -----------------------------------------
query_file blob "SELECT x'00ff41' AS b, 'a' AS t;"
"$FL" query --file "$T/blob.sql" --db "$DB" --json >"$T/out" 2>/dev/null
check "blob in --json: {\"blob_hex\": \"00ff41\"}" \
    python3 -c "import json,sys; o=json.loads(open(sys.argv[1]).read()); sys.exit(o!={'b':{'blob_hex':'00ff41'},'t':'a'})" "$T/out"
"$FL" query --file "$T/blob.sql" --db "$DB" --csv >"$T/out" 2>/dev/null
check "blob in --csv: x'00ff41'" grep -q "^x'00ff41',a" "$T/out"
"$FL" query --file "$T/blob.sql" --db "$DB" >"$T/out" 2>/dev/null
check "blob in the table: x'00ff41'" grep -q "^x'00ff41'  a" "$T/out"

# --- 9: internal errors are not reachable from the command line (out of memory, a bug);
#        tests/test_auditdb_query.c covers the library's answers.
finish
