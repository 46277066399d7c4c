#!/usr/bin/env bash
# flashline query: --list, the three output formats, parameters, the default
# log path, running from another directory, and usage errors.
source "$(dirname "$0")/lib.sh"

DB=$T/audit.db
python3 tests/cli/query_fixture.py "$DB" "$T/expect.json" || fail "fixture"
expect() { python3 -c "import json,sys; e=json.load(open('$T/expect.json')); print($1)"; }
NRUNS=$(expect 'e["runs"]')

# --- --list: every query file, with the description from its header ------
"$FL" query --list >"$T/list"
check "query --list exits 0" [ $? -eq 0 ]
nfiles=$(ls db/queries/*.sql | wc -l)
check "--list: one line per query file ($nfiles)" [ "$(wc -l <"$T/list")" -eq "$nfiles" ]
for f in db/queries/*.sql; do
    n=$(basename "$f" .sql)
    d=$(sed -n 's/^-- description: //p' "$f" | head -n 1)
    check "--list: $n with its description" grep -qF -- "$n" <(grep -F -- "$d" "$T/list")
done
for n in recent_runs unit_history failures units_per_firmware batch_summary; do
    check "required query $n exists" [ -f "db/queries/$n.sql" ]
done
"$FL" query --list --json >"$T/list.json"
check "--list --json: names and params" python3 -c "
import json; rows=[json.loads(l) for l in open('$T/list.json')]
u=[r for r in rows if r['name']=='unit_history'][0]
assert [p['name'] for p in u['params']]==['mac'] and u['params'][0]['default'] is None
assert len(rows)==$nfiles"

# --- human table -----------------------------------------------------------
"$FL" query recent_runs --db "$DB" >"$T/table" 2>"$T/table.err"
check "recent_runs table exits 0" [ $? -eq 0 ]
check "table: header names the columns" grep -q '^run  *started  *station' "$T/table"
check "table: one line per run plus 2 header lines" [ "$(wc -l <"$T/table")" -eq $((NRUNS + 2)) ]
check "table: row count on stderr" grep -qx "($NRUNS rows)" "$T/table.err"
check "table: columns aligned (UTF-8 counted as characters, newlines flattened)" python3 -c "
lines=open('$T/table',encoding='utf-8').read().split('\n')[:-1]
dashes=lines[1]
gaps=[i for i,c in enumerate(dashes) if c==' ']
assert gaps, dashes
for l in lines:
    for g in gaps:
        assert g>=len(l) or l[g]==' ', (g, l)
"
check "table: newest run first" python3 -c "
rows=open('$T/table').read().split('\n')[2:-1]
ids=[int(r.split()[0]) for r in rows]
assert ids==sorted(ids,reverse=True)==list(range($NRUNS,0,-1)), ids"

# --- CSV (RFC 4180) and JSON Lines carry the same data -------------------
"$FL" query recent_runs --db "$DB" --csv >"$T/out.csv"
"$FL" query recent_runs --db "$DB" --json >"$T/out.json"
check "csv: CRLF line ends, quoted field with comma, quote and newline" python3 -c "
b=open('$T/out.csv','rb').read()
assert b.endswith(b'\r\n') and b.count(b'\r\n')==$NRUNS+1, b[:200]
assert b'\"verify: CRC mismatch, \"\"block 3\"\"\nsecond line\"' in b, b"
check "csv and json agree row by row, json typed" python3 -c "
import csv,json
rows=list(csv.reader(open('$T/out.csv',newline='',encoding='utf-8')))
objs=[json.loads(l) for l in open('$T/out.json',encoding='utf-8')]
assert len(rows)==len(objs)+1==$NRUNS+1
assert rows[0]==list(objs[0].keys()), (rows[0], list(objs[0]))
for r,o in zip(rows[1:],objs):
    for c,(k,v) in zip(r,o.items()):
        if v is None: assert c=='', (k,c)
        elif isinstance(v,(int,float)): assert float(c)==v, (k,c,v)
        else: assert c==v, (k,c,v)
assert isinstance(objs[0]['run'],int) and isinstance(objs[0]['seconds'],float)
assert objs[-1]['seconds']==90.5 and objs[-1]['message']=='ok'
assert any(o['message'].startswith('verify: CRC mismatch, \"block 3\"\n') for o in objs)
assert any(o['unit']=='c8:47:8c:00:00:01' for o in objs)"

# --- parameters --------------------------------------------------------------
"$FL" query unit_history --param mac=C8-47-8C-00-00-02 --db "$DB" --json >"$T/hist.json"
check "unit_history by MAC (any spelling) lists that unit's runs in order" python3 -c "
import json; ids=[json.loads(l)['run'] for l in open('$T/hist.json')]
assert ids==$(expect 'e["history"]["c8:47:8c:00:00:02"]'), ids"
"$FL" query recent_runs --param station=line-2 --param limit=1 --db "$DB" --json >"$T/l2.json"
check "two --param options both apply" [ "$(wc -l <"$T/l2.json")" -eq 1 ]
check "station filter applies" grep -q '"station":"line-2"' "$T/l2.json"
"$FL" query batch_summary --db "$DB" --csv >"$T/batch.csv"
check "batch_summary: one row per station per day" python3 -c "
import csv; rows=list(csv.DictReader(open('$T/batch.csv',newline='')))
got=[(int(r['day'][-2:]), 1 if r['station']=='line-1' else 2) for r in rows]
assert [list(g) for g in got]==$(expect 'e["days"]'), got
assert sum(int(r['runs']) for r in rows)==$NRUNS
assert all(int(r['pass'])+int(r['fail'])+int(r['error'])+int(r['aborted'])==int(r['runs']) for r in rows)"
"$FL" query failures --param from=2026-11-18 --param to=2026-11-18 --db "$DB" --json >"$T/fail.json"
check "failures over one day" python3 -c "
import json; rows=[json.loads(l) for l in open('$T/fail.json')]
assert len(rows)==1 and rows[0]['step']=='flash' and rows[0]['outcome']=='FAIL' and rows[0]['runs']==1, rows"

expect_exit 2 "missing required parameter exits 2" "$FL" query unit_history --db "$DB" 2>"$T/err"
check "missing parameter: names it and lists the parameters" \
    grep -q "needs --param mac=VALUE.*parameters: mac" "$T/err"
expect_exit 2 "unknown parameter exits 2" "$FL" query recent_runs --param colour=red --db "$DB" 2>"$T/err"
check "unknown parameter: lists the parameters" grep -q "no parameter 'colour' (parameters: limit=20, station=)" "$T/err"
expect_exit 2 "--param without = exits 2" "$FL" query recent_runs --param limit --db "$DB" 2>/dev/null
expect_exit 2 "bad MAC exits 2" "$FL" query unit_history --param mac=xyz --db "$DB" 2>"$T/err"
check "bad MAC: says so" grep -q "not a MAC address" "$T/err"
expect_exit 2 "unknown query exits 2" "$FL" query frobnicate --db "$DB" 2>"$T/err"
check "unknown query: lists the known ones" grep -q "known: .*recent_runs" "$T/err"
expect_exit 2 "--csv with --json exits 2" "$FL" query recent_runs --csv --json --db "$DB" 2>/dev/null
expect_exit 2 "no query name exits 2" "$FL" query --db "$DB" 2>/dev/null

# --- the log: default path, missing, not a log, any working directory ------
expect_exit 3 "missing log exits 3" "$FL" query recent_runs --db "$T/none.db" 2>"$T/err"
check "missing log: says where and how to choose one" grep -q "no audit log at $T/none.db.*--db" "$T/err"
check "missing log: not created by a query" [ ! -e "$T/none.db" ]
FLASHLINE_DB=$DB "$FL" query recent_runs --json >"$T/env.json"
check "\$FLASHLINE_DB is the default log" [ "$(wc -l <"$T/env.json")" -eq "$NRUNS" ]
# without --db and $FLASHLINE_DB: the station home's log, whatever the working directory
mkdir -p "$FLASHLINE_HOME" "$T/elsewhere"
cp "$DB" "$FLASHLINE_HOME/flashline.db"; cp "$DB-wal" "$FLASHLINE_HOME/flashline.db-wal" 2>/dev/null
(cd "$T" && "$FL" query recent_runs --json >"$T/cwd.json")
check "the station home's log is the default without \$FLASHLINE_DB" [ "$(wc -l <"$T/cwd.json")" -eq "$NRUNS" ]
(cd "$T/elsewhere" && "$FL" query recent_runs --json >"$T/cwd2.json")
check "the same log from another directory" cmp -s "$T/cwd.json" "$T/cwd2.json"
(cd / && "$FL" query --list >"$T/list2" && "$FL" query batch_summary --db "$DB" >/dev/null 2>&1)
check "works from any directory (SQL is built in)" cmp -s "$T/list" "$T/list2"
: >"$T/notalog.db"; printf 'hello, not sqlite at all, just some text padding the header......................................................' >"$T/notalog.db"
expect_exit 3 "a file that is not a log exits 3" "$FL" query recent_runs --db "$T/notalog.db" 2>"$T/err"
check "not a log: says corrupt or not SQLite" grep -q "corrupt or not a SQLite database" "$T/err"

"$FL" query unit_history --help >"$T/help"
check "NAME --help lists the parameters" grep -q -- "--param mac (required)" "$T/help"
"$FL" query --help >"$T/help"
check "query --help documents formats and the default log" grep -q "FLASHLINE_DB, else the station" "$T/help"
finish
