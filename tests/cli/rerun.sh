#!/usr/bin/env bash
# Units and outcomes: a unit that already PASSed a recipe is not flashed
# again without --again (or allow_repeat: true) — the run stops right after
# the unit is identified, ABORTED, exit 7, naming the earlier run and how to
# proceed; with --again it is flashed again and its original vendor backup
# stays marked as the original.  A recipe for another chip than the unit's
# is an ERROR of the station (exit 10) naming both chips.
source "$(dirname "$0")/lib.sh"
DUMP=$SHARED/testdata/tuya-dumps/01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin
IMGS=$SHARED/testdata/obk-images
DB=$FLASHLINE_HOME/flashline.db
unset FLASHLINE_DB
sql() { python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); [print('|'.join('' if v is None else str(v) for v in r)) for r in c.execute(sys.argv[2])]" "$DB" "$1"; }
PORT="sim:bk7231n?flash=$T/unit.bin&timescale=0&quiet=1"
cp "$DUMP" "$T/unit.bin"; chmod u+w "$T/unit.bin"

recipe() { # FILE NAME CHIP IMAGE [extra top-level line]
    printf 'name: %s\nchip: %s\n%s\nsteps:\n  - connect\n  - identify\n  - backup\n  - flash: { image: %s }\n  - verify\n' \
        "$2" "$3" "${5:-}" "$4" >"$1"
}
recipe "$T/obk.yaml" obk bk7231n "$IMGS/OpenBK7231N_QIO_1.18.300.bin"

# --- the first run: PASS, the Tuya backup marked as the original ----------------------------
"$FL" run "$T/obk.yaml" --port "$PORT" >"$T/out1" 2>"$T/err1"
check "first run PASSes" [ $? -eq 0 ]
mac=$(sql "select mac from units")
check "its backup holds vendor (Tuya) firmware" \
    [ "$(sql "select content || '|' || vendor from artifacts where kind = 'backup'")" = "tuya|1" ]

# --- the same recipe again: refused right after identification ------------------------------
cp "$T/unit.bin" "$T/after1.bin"
"$FL" run "$T/obk.yaml" --port "$PORT" >"$T/out2" 2>"$T/err2"
rc=$?
check "a re-run without --again exits 7 (got $rc)" [ $rc -eq 7 ]
check "... the result line says ABORTED and why" \
    grep -q "^ABORTED .*unit $mac .*already PASSed recipe 'obk' in run #1" "$T/out2"
check "... and how to proceed" grep -q -- "--again (or allow_repeat: true" "$T/out2"
check "... the log: ABORTED, naming run #1 and when it PASSed" \
    [ "$(sql "select outcome, message like '%already PASSed recipe ''obk'' in run #1 (started 20%' from runs where id = 2")" = "ABORTED|1" ]
check "... only the connect step ran (nothing read or written beyond identification)" \
    [ "$(sql "select group_concat(name || ':' || outcome, ' ') from steps where run_id = 2")" = "connect:PASS" ]
check "... no backup was taken" [ "$(sql "select count(*) from artifacts where run_id = 2")" = 0 ]
check "... the unit's flash is unchanged" cmp -s "$T/unit.bin" "$T/after1.bin"
"$FL" run "$T/obk.yaml" --port "$PORT" --json >"$T/out2.json" 2>/dev/null
check "--json result names the earlier run (repeat_of)" python3 -c "
import json; r=[json.loads(l) for l in open('$T/out2.json') if '\"result\"' in l][-1]
assert r['outcome']=='ABORTED' and r['repeat_of']==1, r"
"$FL" run --help >"$T/help"
check "run --help documents --again and exit 7" grep -q -- "--again" "$T/help"
check "... exit 7 in the table" grep -qE "^  7 +refused: the unit already PASSed" "$T/help"

# --- --again: flashed again, the original stays the Tuya backup ------------------------------
"$FL" run "$T/obk.yaml" --port "$PORT" --again >"$T/out3" 2>"$T/err3"
check "--again PASSes" [ $? -eq 0 ]
check "... with a warning naming the earlier run" grep -q "already PASSed recipe 'obk' in run #1.*running it again (--again)" "$T/err3"
again=$(sql "select max(id) from runs")
check "... the log records which run it repeats" \
    [ "$(sql "select value from measurements where run_id = $again and name = 'repeat_of_run'")" = "1.0" ]
check "... its backup holds OpenBeken, not vendor firmware" \
    [ "$(sql "select content || '|' || vendor from artifacts where kind = 'backup' and run_id = $again")" = "openbeken 1.18.300|0" ]
"$FL" query unit_history --param mac="$mac" --json >"$T/hist.json"
check "unit_history: the first backup stays the original, the later one is not" python3 -c "
import json; r={x['run']: x for x in map(json.loads, open('$T/hist.json'))}
assert r[1]['backup_holds']=='tuya (original)', r[1]
assert r[$again]['backup_holds']=='openbeken 1.18.300', r[$again]
assert r[2]['outcome']=='ABORTED' and r[2]['backup'] is None, r[2]
assert all(x['backup'] is None or x['backup'].startswith('/') for x in r.values())"

# --- allow_repeat: true in the recipe; another recipe is not a repeat --------------------------
recipe "$T/repeat.yaml" obk bk7231n "$IMGS/OpenBK7231N_QIO_1.18.300.bin" "allow_repeat: true"
"$FL" run "$T/repeat.yaml" --port "$PORT" >/dev/null 2>"$T/err4"
check "allow_repeat: true runs the unit again without --again" [ $? -eq 0 ]
check "... and says so" grep -q "running it again (allow_repeat: true" "$T/err4"
recipe "$T/other.yaml" other bk7231n "$IMGS/OpenBK7231N_QIO_1.18.300.bin"
"$FL" run "$T/other.yaml" --port "$PORT" >/dev/null 2>&1
check "another recipe on the same unit is no repeat" [ $? -eq 0 ]
recipe "$T/bad.yaml" obk bk7231n "$IMGS/OpenBK7231N_QIO_1.18.300.bin" "allow_repeat: maybe"
"$FL" run "$T/bad.yaml" --check >/dev/null 2>"$T/err5"
check "allow_repeat: maybe is refused with FILE:LINE (exit 3)" [ $? -eq 3 ]
check "... saying what is allowed" grep -q "bad.yaml:3:.*allow_repeat must be true, false, yes or no" "$T/err5"

# --- a unit without a MAC is known by its backup: refused after the backup, nothing written ----
python3 - "$DUMP" "$T/nomac.bin" <<'PY'
import sys
d = bytearray(open(sys.argv[1], "rb").read())
d[0x1D0000:0x1D1000] = b"\xff" * 0x1000          # no RF calibration sector: no MAC
open(sys.argv[2], "wb").write(d)
PY
printf 'name: dump-only\nchip: bk7231n\nsteps:\n  - connect\n  - backup\n  - lua: { file: %s }\n' \
    "$T/mark.lua" >"$T/dump.yaml"
printf 'return function(ctx) ctx.db:measure("after_backup", 1) return true end\n' >"$T/mark.lua"
NPORT="sim:bk7231n?flash=$T/nomac.bin&timescale=0&quiet=1"
"$FL" run "$T/dump.yaml" --port "$NPORT" >/dev/null 2>&1
check "a MAC-less unit PASSes a backup-only recipe" [ $? -eq 0 ]
"$FL" run "$T/dump.yaml" --port "$NPORT" >"$T/out6" 2>/dev/null
rc=$?
check "the same again is refused (exit 7, got $rc)" [ $rc -eq 7 ]
check "... it says the unit was known by its backup" grep -q "unit jedec-.* by its backup (it has no MAC): nothing was written" "$T/out6"
check "... no step after the backup ran" \
    [ "$(sql "select group_concat(s.name, ' ') from steps s where s.run_id = (select max(id) from runs)")" = "connect backup" ]

# --- a recipe for the wrong chip: ERROR of the station, both chips named -----------------------
wrong() { # RECIPE-CHIP IMAGE UNIT-CHIP-DISPLAY RECIPE-CHIP-DISPLAY
    recipe "$T/wrong-$1.yaml" "wrong-$1" "$1" "$IMGS/$2"
    cp "$DUMP" "$T/w.bin"; chmod u+w "$T/w.bin"
    "$FL" run "$T/wrong-$1.yaml" --port "sim:bk7231n?flash=$T/w.bin&timescale=0&quiet=1" \
        >"$T/wout" 2>"$T/werr"
    local rc=$?
    check "recipe for $4 on a $3 unit exits 10 (ERROR, got $rc)" [ $rc -eq 10 ]
    check "... the result names both chips" \
        grep -q "^ERROR .*recipe 'wrong-$1' is for $4 (chip: $1 at .*wrong-$1.yaml:2) but the unit is $3" "$T/wout"
    check "... no advice to use --chip (run has none)" bash -c "! grep -q -- '--chip' '$T/wout' '$T/werr'"
    check "... the log: run and connect step ERROR, not FAIL" \
        [ "$(sql "select r.outcome || '|' || s.name || '|' || s.outcome from runs r join steps s on s.run_id = r.id where r.recipe_name = 'wrong-$1'")" = "ERROR|connect|ERROR" ]
    check "... the unit untouched" cmp -s "$T/w.bin" "$DUMP"
}
wrong bk7231t OpenBK7231T_QIO_1.18.300.bin BK7231N BK7231T   # a flash-loader chip's recipe
wrong bk7238 OpenBK7238_QIO_1.18.300.bin BK7231N BK7238      # another ROM chip's recipe

# The flash loaders of BK7231T/U and BK7252 answer alike: the bootloader in the
# backup tells a BK7231T/U unit from what a BK7252 recipe expects, before
# anything is written.  (The other way round is not caught: a BK7231T/U recipe
# reads a BK7252's bootloader through the T/U flash-size alias, which is blank.)
TDUMP=$SHARED/testdata/tuya-dumps/05-Biltema-24264-A15-E27-CCT-Mini-Globe-Bulb.bin   # BK7231T
loader_wrong() { # RECIPE-CHIP IMAGE SIM-CHIP DUMP UNIT-CHIP-DISPLAY RECIPE-CHIP-DISPLAY
    recipe "$T/lw-$1.yaml" "lw-$1" "$1" "$IMGS/$2"
    cp "$4" "$T/lw.bin"; chmod u+w "$T/lw.bin"
    "$FL" run "$T/lw-$1.yaml" --port "sim:$3?flash=$T/lw.bin&timescale=0&quiet=1" >"$T/wout" 2>"$T/werr"
    local rc=$?
    check "recipe for $6 on a $5 unit (flash loaders alike) exits 10 (ERROR, got $rc)" [ $rc -eq 10 ]
    check "... the result names both chips and the bootloader" \
        grep -q "^ERROR .*recipe 'lw-$1' is for $6 (chip: $1) but the unit is $5 (its flash holds bootloader " "$T/wout"
    check "... the log: run and backup step ERROR, the backup kept" \
        [ "$(sql "select r.outcome || '|' || s.name || '|' || s.outcome || '|' || (select count(*) from artifacts a where a.run_id = r.id and a.kind = 'backup') from runs r join steps s on s.run_id = r.id where r.recipe_name = 'lw-$1' and s.outcome <> 'PASS'")" = "ERROR|backup|ERROR|1" ]
    check "... nothing written" cmp -s "$T/lw.bin" "$4"
}
loader_wrong bk7252 OpenBK7252_QIO_1.18.300.bin bk7231t "$TDUMP" BK7231T BK7252
recipe "$T/lw-ok.yaml" lw-ok bk7231t "$IMGS/OpenBK7231T_QIO_1.18.300.bin"
cp "$TDUMP" "$T/lw.bin"; chmod u+w "$T/lw.bin"
"$FL" run "$T/lw-ok.yaml" --port "sim:bk7231t?flash=$T/lw.bin&timescale=0&quiet=1" >/dev/null 2>&1
check "the right flash-loader recipe still PASSes (exit $?)" [ $? -eq 0 ]
finish
