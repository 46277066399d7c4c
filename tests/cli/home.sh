#!/usr/bin/env bash
# The station home: every verb and query finds the same audit log from any
# working directory; backups land in the home's backups/ and are logged (and
# shown by `query unit_history`) by absolute path; station.yaml gives the
# station, operator, log and backups directory; --db and $FLASHLINE_DB come
# first; a bad station.yaml is refused with FILE:LINE (exit 3).
source "$(dirname "$0")/lib.sh"
DUMP=$SHARED/testdata/tuya-dumps/01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin
IMG=$SHARED/testdata/obk-images/OpenBK7231N_QIO_1.18.300.bin
H=$FLASHLINE_HOME
unset FLASHLINE_DB
sql() { python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); [print('|'.join('' if v is None else str(v) for v in r)) for r in c.execute(sys.argv[2])]" "$1" "$2"; }
unit() { cp "$DUMP" "$T/$1.bin"; chmod u+w "$T/$1.bin"; }
port() { echo "sim:bk7231n?flash=$T/$1.bin&timescale=0&quiet=1"; }

# A recipe of its own, away from the working directories, naming its
# firmware relative to itself (as a copied stock recipe would).
mkdir -p "$T/recipes" "$T/work-a" "$T/work-b"
cp "$IMG" "$T/recipes/fw_QIO_.bin"
cat >"$T/recipes/home.yaml" <<'YAML'
name: home
chip: bk7231n
vars:
  firmware: fw_QIO_.bin
steps:
  - connect
  - identify
  - backup
  - flash: { image: "${firmware}" }
  - verify
YAML

# --- a run in one directory, queries in another: the same log ----------------------------
unit a
(cd "$T/work-a" && "$FL" run ../recipes/home.yaml --port "$(port a)" >"$T/out" 2>"$T/err")
rc=$?
check "run without --db PASSes (exit $rc)" [ $rc -eq 0 ]
check "the home was made, with its station.yaml" [ -f "$H/station.yaml" ]
check "station.yaml lists every key, commented" \
    [ "$(grep -cE '^# (station|operator|db|backups|firmware|ports):' "$H/station.yaml")" -eq 6 ]
check "the log is the home's, not the working directory's" \
    [ -f "$H/flashline.db" -a ! -e "$T/work-a/flashline.db" -a ! -e "$T/work-a/backups" ]
(cd "$T/work-b" && "$FL" query recent_runs --json >"$T/b.json" 2>"$T/b.err")
(cd / && "$FL" query recent_runs --json >"$T/root.json" 2>"$T/root.err")
check "a query in another directory finds the run" python3 -c "
import json; r=[json.loads(l) for l in open('$T/b.json')]
assert len(r)==1 and r[0]['outcome']=='PASS' and r[0]['recipe']=='home', r"
check "... and from / too (the same rows)" cmp -s "$T/b.json" "$T/root.json"

# --- backups in the home, absolute in the log and in unit_history -------------------------
home_real=$(realpath "$H")
backup=$(sql "$H/flashline.db" "select path from artifacts where kind = 'backup'")
check "backup saved in the home's backups/ ($backup)" [ "$(dirname "$backup")" = "$home_real/backups" ]
check "backup equals the unit's flash before the run" cmp -s "$backup" "$DUMP"
check "backup named by unit and UTC time" \
    bash -c "[[ '$(basename "$backup")' =~ ^[0-9A-F]{12}-[0-9]{8}T[0-9]{6}Z\.bin$ ]]"
check "firmware logged by its absolute path (relative to the recipe, not the cwd)" \
    [ "$(sql "$H/flashline.db" "select path from artifacts where kind = 'firmware'")" = "$T/recipes/fw_QIO_.bin" ]
mac=$(sql "$H/flashline.db" "select mac from units")
(cd "$T/work-b" && "$FL" query unit_history --param mac="$mac" --json >"$T/hist.json")
check "unit_history shows the backup's absolute path and marks the vendor original" python3 -c "
import json; r=[json.loads(l) for l in open('$T/hist.json')]
assert len(r)==1 and r[0]['backup']=='$backup' and r[0]['backup_holds']=='tuya (original)', r"

# --- a backup dir given in the recipe is relative to the recipe file ----------------------
sed 's/^  - backup$/  - backup: { dir: saved }/; s/^name: home$/name: home-dir/' \
    "$T/recipes/home.yaml" >"$T/recipes/dir.yaml"
unit b
(cd "$T/work-b" && "$FL" run ../recipes/dir.yaml --port "$(port b)" >/dev/null 2>&1)
check "run with dir: saved PASSes" [ $? -eq 0 ]
check "... its backup is in the recipe's folder, logged absolute" \
    [ "$(sql "$H/flashline.db" "select path like '$T/recipes/saved/%.bin' from artifacts where kind = 'backup' and run_id = 2")" = 1 ]
check "... and not in the working directory" [ ! -e "$T/work-b/saved" ]

# --- station.yaml: station, operator, db and backups ---------------------------------------
H2=$T/home2
mkdir -p "$H2"
cat >"$H2/station.yaml" <<'YAML'
# line 9
station: line-9
operator: bea
db: logs/line9.db
backups: /will/be/replaced
YAML
sed -i "s|/will/be/replaced|$T/bk9|" "$H2/station.yaml"

unit c
(cd "$T/work-a" && FLASHLINE_HOME=$H2 "$FL" run ../recipes/home.yaml --port "$(port c)" >/dev/null 2>&1)
check "run with a configured home PASSes" [ $? -eq 0 ]
check "station.yaml was kept as written" grep -q "^station: line-9" "$H2/station.yaml"
check "station and operator from station.yaml" \
    [ "$(sql "$H2/logs/line9.db" "select s.name || '|' || r.operator from runs r join stations s on s.id = r.station_id")" = "line-9|bea" ]
check "the log at station.yaml's db: (relative to the home)" [ ! -e "$H2/flashline.db" ]
check "backups at station.yaml's backups:" \
    [ "$(sql "$H2/logs/line9.db" "select path like '$T/bk9/%.bin' from artifacts where kind = 'backup'")" = 1 ]
unit d
(cd "$T/work-a" && FLASHLINE_HOME=$H2 "$FL" run ../recipes/home.yaml --port "$(port d)" \
    --station bench --operator cid --again >/dev/null 2>&1)
check "--station / --operator override station.yaml" \
    [ "$(sql "$H2/logs/line9.db" "select s.name || '|' || r.operator from runs r join stations s on s.id = r.station_id where r.id = 2")" = "bench|cid" ]
FLASHLINE_HOME=$H2 "$FL" query recent_runs --json >"$T/h2.json"
check "query uses station.yaml's db: too" [ "$(wc -l <"$T/h2.json")" -eq 2 ]

# --- precedence: --db, then $FLASHLINE_DB, then the home ----------------------------------
FLASHLINE_DB=$H/flashline.db FLASHLINE_HOME=$H2 "$FL" query recent_runs --json >"$T/env.json"
check "\$FLASHLINE_DB comes before the home" python3 -c "
import json; r=[json.loads(l) for l in open('$T/env.json')]; assert [x['recipe'] for x in r]==['home-dir','home'], r"
FLASHLINE_DB=$H/flashline.db "$FL" query recent_runs --db "$H2/logs/line9.db" --json >"$T/db.json"
check "--db comes before \$FLASHLINE_DB" [ "$(wc -l <"$T/db.json")" -eq 2 -a "$(grep -c home-dir "$T/db.json")" -eq 0 ]

# --- a bad station.yaml: FILE:LINE, what is allowed, exit 3, nothing touched ---------------
H3=$T/home3
mkdir -p "$H3"
printf 'station: x\nbackup: here\n' >"$H3/station.yaml"
unit e
FLASHLINE_HOME=$H3 "$FL" run "$T/recipes/home.yaml" --port "$(port e)" >/dev/null 2>"$T/bad.err"
rc=$?
check "run with a bad station.yaml exits 3 (got $rc)" [ $rc -eq 3 ]
check "... naming FILE:LINE, the key and what is allowed" \
    grep -qF "$H3/station.yaml:2: unknown key 'backup' (allowed: station, operator, db, backups, firmware, ports)" "$T/bad.err"
check "... the unit untouched" cmp -s "$T/e.bin" "$DUMP"
check "... no log made" [ ! -e "$H3/flashline.db" ]
FLASHLINE_HOME=$H3 "$FL" query recent_runs >/dev/null 2>"$T/badq.err"
rc=$?
check "query with a bad station.yaml exits 3 (got $rc)" [ $rc -eq 3 ]
check "... naming FILE:LINE" grep -qF "$H3/station.yaml:2:" "$T/badq.err"
printf 'db:\n  - a\n' >"$H3/station.yaml"
FLASHLINE_HOME=$H3 "$FL" run "$T/recipes/home.yaml" --port "$(port e)" >/dev/null 2>"$T/bad.err"
rc=$?
check "a list where a path belongs: exit 3 (got $rc)" [ $rc -eq 3 ]
check "... with FILE:LINE and the key" grep -qF "$H3/station.yaml:2: 'db' must be a path" "$T/bad.err"
check "--db does not need the home: query works despite the bad station.yaml" \
    env FLASHLINE_HOME="$H3" "$FL" query recent_runs --db "$H/flashline.db" >/dev/null 2>&1
# a folder station.yaml names that cannot be made: its key is what to fix, not --home
: >"$T/a-file"
for key in firmware backups db; do
    val="$T/a-file/sub"; [ $key = db ] && val="$T/a-file/sub/line.db"
    printf '%s: %s\n' "$key" "$val" >"$H3/station.yaml"
    FLASHLINE_HOME=$H3 "$FL" run "$T/recipes/home.yaml" --port "$(port e)" >/dev/null 2>"$T/bad.err"
    rc=$?
    check "station.yaml's $key: in a place that cannot be made: exit 3 (got $rc)" [ $rc -eq 3 ]
    check "... pointing at '$key:' in station.yaml, not at --home" \
        bash -c "grep -qF \"cannot create $T/a-file/sub (Not a directory): check '$key:' in $H3/station.yaml\" '$T/bad.err' && ! grep -q -- '--home' '$T/bad.err'"
done
check "... the unit untouched" cmp -s "$T/e.bin" "$DUMP"

# --- Lua: db.open() opens the home's log; d:artifact's content/vendor are checked ---------------
cat >"$T/db.lua" <<'LUA'
local db = require "flashline.db"
local want = ...
local d = assert(db.open())
assert(d:path() == want, "db.open() opened " .. d:path() .. ", not " .. want)
local n0 = #d:path()
assert(d:run_begin { station = "lua" })
local sha = string.rep("a", 64)
assert(not pcall(d.artifact, d, "backup", "/x", sha, 1, { contents = "x" }), "unknown field raises")
assert(not pcall(d.artifact, d, "backup", "/x", sha, 1, { vendor = "yes" }), "vendor must be boolean")
assert(not pcall(d.artifact, d, "backup", "/x", sha, 1, "tuya"), "options must be a table")
assert(d:artifact("backup", "/lua.bin", sha, 1, { content = "vendor", vendor = true }))
assert(d:run_end("PASS"))
d:close()
print("lua ok " .. n0)
LUA
"$FL" lua "$T/db.lua" "$home_real/flashline.db" >"$T/lua.out" 2>"$T/lua.err"
check "db.open() without a path opens the station home's log; bad artifact options raise" \
    grep -q "lua ok" "$T/lua.err"
check "... only the good artifact was recorded, with its content" \
    [ "$(sql "$H/flashline.db" "select count(*) || '|' || max(content) || '|' || max(vendor) from artifacts where path = '/lua.bin' or path = '/x'")" = "1|vendor|1" ]

printf 'print("no log used")\n' >"$T/nolog.lua"
FLASHLINE_HOME=$T/never "$FL" lua "$T/nolog.lua" >/dev/null 2>&1
check "a Lua script that never opens the log makes no home" [ ! -e "$T/never" ]
cat >"$T/badhome.lua" <<'LUA'
local db = require "flashline.db"
local d, msg, kind = db.open()
print(string.format("open: %s | %s | %s", tostring(d), msg, kind))
LUA
printf 'station: a\nstaton: b\n' >"$H3/station.yaml"
FLASHLINE_HOME=$H3 "$FL" lua "$T/badhome.lua" >/dev/null 2>"$T/badhome.err"
check "db.open() with a bad station.yaml: nil, FILE:LINE message, kind format" \
    grep -qF "open: nil | $H3/station.yaml:2: unknown key 'staton'" "$T/badhome.err"
check "... kind format" grep -q "| format$" "$T/badhome.err"

# --- help texts name the home, not ./flashline.db --------------------------------------------
"$FL" run --help >"$T/help.run"; "$FL" query --help >"$T/help.query"
check "run --help names the station home's log" grep -q "station home" "$T/help.run"
check "query --help names the station home's log" grep -q "else the station" "$T/help.query"
check "no --help text says ./flashline.db" bash -c "! grep -q '\./flashline.db' '$T/help.run' '$T/help.query'"
finish
