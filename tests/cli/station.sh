#!/usr/bin/env bash
# End-to-end recipe runs against the simulator with the audit log asserted:
# PASS, FAIL (unit), ERROR (link), kill -9 mid-run (ABORTED at the next start,
# finished steps intact), and a locked log (clear error, no partial record).
source "$(dirname "$0")/lib.sh"
DUMP=$SHARED/testdata/tuya-dumps/01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin
IMG=$SHARED/testdata/obk-images/OpenBK7231N_QIO_1.18.300.bin
# the stock recipes name their firmware from the store: seed this test's home (lib.sh)
"$FL" firmware add "$IMG" >/dev/null || fail "seeding the firmware store"
DB=$T/audit.db
sql() { python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); [print('|'.join('' if v is None else str(v) for v in r)) for r in c.execute(sys.argv[2])]" "$DB" "$1"; }
unit() { cp "$DUMP" "$T/$1.bin"; chmod u+w "$T/$1.bin"; }

# --- PASS ----------------------------------------------------------------------
unit a
"$FL" run recipes/demo.yaml --port "sim:bk7231n?flash=$T/a.bin&timescale=0&quiet=1" --db "$DB" \
    --station line-1 --operator ana >"$T/out" 2>"$T/err"
rc=$?
check "demo recipe PASSes (exit $rc)" [ $rc -eq 0 ]
check "result line says PASS with the unit" grep -q "^PASS .*unit [0-9a-f:]\{17\}" "$T/out"
check "run recorded PASS with station, operator, recipe and port" \
    [ "$(sql "select r.outcome, s.name, r.operator, r.recipe_name, r.port like 'sim:bk7231n%' from runs r join stations s on s.id = r.station_id")" = "PASS|line-1|ana|demo|1" ]
check "recipe SHA-256 logged" [ "$(sql 'select recipe_sha256 from runs')" = "$(sha256sum recipes/demo.yaml | cut -d' ' -f1)" ]
check "how the run reached the chip logged: the UART driver, the port as programmer" \
    [ "$(sql "select driver || '|' || (programmer = port) from runs")" = "beken-uart|1" ]
check "six steps, in order, all PASS" \
    [ "$(sql "select group_concat(name || ':' || outcome, ' ') from (select * from steps order by idx)")" = "connect:PASS identify:PASS backup:PASS extract_tuya:PASS flash:PASS verify:PASS" ]
check "Tuya config stored redacted, with the OBK pin map" \
    [ "$(sql "select redacted, json_extract(config_json, '$.module'), json_extract(obk_pins_json, '$.mode') from tuya_configs")" = "1|CB2S|compat" ]
# No secret value of the dump may reach the log (values compared inside python, never printed).
"$FL" tuya extract "$DUMP" --json --show-secrets >"$T/secrets.json" 2>/dev/null
check "no secret of the dump is in the audit log" python3 - "$DB" "$T/secrets.json" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1]).execute("select config_json from tuya_configs").fetchone()[0]
full = json.load(open(sys.argv[2]))
def strings(v):
    if isinstance(v, str): yield v
    elif isinstance(v, dict):
        for x in v.values(): yield from strings(x)
    elif isinstance(v, list):
        for x in v: yield from strings(x)
shown = {k["name"]: set(strings(k.get("value"))) for k in full["keys"]}
logged = json.loads(db)
hidden = {k["name"] for k in logged["keys"] if k.get("redacted")}
kept = {s for k in logged["keys"] for s in strings(k.get("value"))}
# the secrets: strings that only the --show-secrets output has, in keys the log redacted
secret = [s for name in hidden for s in shown.get(name, ()) if s not in kept and len(s) >= 6]
sys.exit(0 if secret and not any(s in db for s in secret) else 1)
PY
backup=$(sql "select path from artifacts where kind = 'backup'")
check "backup file exists and equals the unit's original flash" cmp -s "$backup" "$DUMP"
check "backup SHA-256 and size logged" \
    [ "$(sql "select sha256 || ' ' || size from artifacts where kind = 'backup'")" = "$(sha256sum "$DUMP" | cut -d' ' -f1) 2097152" ]
check "backup recorded in the backup step, before flash" \
    [ "$(sql "select s.name from artifacts a join steps s on s.id = a.step_id where a.kind = 'backup'")" = backup ]
mac=$(python3 -c "d=open('$DUMP','rb').read(); b=d[0x1D0000+0x24:0x1D0000+0x2A]; print(':'.join('%02x'%x for x in b))")
check "unit recorded with the MAC from the RF sector ($mac), chip, JEDEC, size" \
    [ "$(sql "select u.mac, u.chip, u.jedec_id, u.flash_size, u.loader_kind from runs r join units u on u.id = r.unit_id")" = "$mac|bk7231n|c84015|2097152|rom" ]
check "backup in the station home's backups/, by absolute path" \
    [ "$(dirname "$backup")" = "$(realpath "$FLASHLINE_HOME")/backups" ]
check "backup file named after the unit" grep -q "$(tr -d : <<<"$mac" | tr a-f A-F)" <<<"$backup"
check "firmware artifact with the image's SHA-256" \
    [ "$(sql "select sha256 from artifacts where kind = 'firmware'")" = "$(sha256sum "$IMG" | cut -d' ' -f1)" ]
check "measurements recorded (baud, sectors written)" \
    [ "$(sql "select count(*) from measurements where name in ('baud', 'sectors_written', 'backup_bytes')")" -ge 3 ]

# --- a custom Lua step and ${unit.*} variables ----------------------------------------------
cat >"$T/custom.lua" <<'LUA'
-- a custom step: the documented entry point run(ctx, args)
return {
  run = function(ctx, args)
    if args.greeting ~= "hello " .. ctx.unit.mac then
      return nil, "args not expanded: " .. tostring(args.greeting), "fail"
    end
    assert(ctx.db:measure("custom_answer", 42, "units"))
    return true
  end,
}
LUA
cat >"$T/custom.yaml" <<YAML
name: custom
chip: bk7231n
steps:
  - connect
  - backup: { dir: "$T/by-unit/\${unit.mac}" }
  - lua: { file: custom.lua, greeting: "hello \${unit.mac}" }
YAML
unit e
"$FL" run "$T/custom.yaml" --port "sim:bk7231n?flash=$T/e.bin&timescale=0&quiet=1" --db "$DB" >"$T/out" 2>&1
check "custom Lua step recipe PASSes" [ $? -eq 0 ]
check "custom step recorded its measurement" \
    [ "$(sql "select value from measurements where name = 'custom_answer'")" = "42.0" ]
check "\${unit.mac} expanded in the backup directory" [ -d "$T/by-unit/38:1F:8D:D9:82:4A" ]

# --- FAIL: the unit does not hold what verify expects ----------------------------------
cat >"$T/mismatch.yaml" <<YAML
name: mismatch
chip: bk7231n
steps:
  - connect
  - flash: { image: $IMG }
  - verify: { image: $DUMP, offset: "0" }
YAML
unit b
"$FL" run "$T/mismatch.yaml" --port "sim:bk7231n?flash=$T/b.bin&timescale=0&quiet=1" --db "$DB" >"$T/out" 2>&1
check "verify mismatch exits 1 (FAIL)" [ $? -eq 1 ]
check "run FAIL, verify step FAIL with the sector" \
    [ "$(sql "select r.outcome, s.name, s.outcome, s.message like '%differs from the file in the sector at 0x%' from runs r join steps s on s.run_id = r.id where r.recipe_name = 'mismatch' and s.outcome != 'PASS'")" = "FAIL|verify|FAIL|1" ]

# --- ERROR: no chip on the port ------------------------------------------------------------
"$FL" run recipes/demo.yaml --port rfc2217://127.0.0.1:1 --db "$DB" >"$T/out" 2>&1
check "dead port exits 10 (ERROR)" [ $? -eq 10 ]
check "run ERROR at connect, later steps not run" \
    [ "$(sql "select r.outcome || ':' || count(s.id) || ':' || max(s.name) from runs r join steps s on s.run_id = r.id where r.port = 'rfc2217://127.0.0.1:1'")" = "ERROR:1:connect" ]

# --- kill -9 in the middle of a run -------------------------------------------------------
unit c
# The run's log goes to a fifo; "step N/M: flash" is printed once the flash
# step is committed to the log, so it is the moment to kill.
mkfifo "$T/kill.fifo"
"$FL" run recipes/demo.yaml --port "sim:bk7231n?flash=$T/c.bin&timescale=0.2&quiet=1" --db "$DB" \
    --again >"$T/kill.out" 2>"$T/kill.fifo" &
victim=$!
exec {ev}<"$T/kill.fifo"
check "the run reaches its flash step" wait_line $ev '^step [0-9]+/[0-9]+: flash$'
kill -9 $victim; wait $victim 2>/dev/null
exec {ev}<&-
check "killed run is still RUNNING in the log" [ "$(sql "select count(*) from runs where outcome = 'RUNNING'")" = 1 ]
"$FL" run recipes/demo.yaml --check >/dev/null 2>&1   # --check does not open the log
python3 -c "import sqlite3; c=sqlite3.connect('$DB'); c.execute('pragma query_only=1'); c.close()"
"$FL" run recipes/demo.yaml --port rfc2217://127.0.0.1:1 --db "$DB" >/dev/null 2>"$T/next"
check "next start reports the cut-short run" grep -q "marked ABORTED" "$T/next"
check "killed run is ABORTED with its finished steps intact" \
    [ "$(sql "select r.outcome || ' ' || group_concat(s.name || ':' || s.outcome, ' ') from runs r join (select * from steps order by idx) s on s.run_id = r.id where r.id = (select max(id) from runs where recipe_name = 'demo' and port like 'sim:%')")" = "ABORTED connect:PASS identify:PASS backup:PASS extract_tuya:PASS flash:ABORTED" ]
check "its backup artifact survived" [ "$(sql "select count(*) from artifacts a join runs r on r.id = a.run_id where r.outcome = 'ABORTED' and a.kind = 'backup'")" = 1 ]

# --- Ctrl-C in the middle of a run: ABORTED at once -----------------------------------------
unit f
mkfifo "$T/int.fifo"
"$FL" run recipes/demo.yaml --port "sim:bk7231n?flash=$T/f.bin&timescale=0.2&quiet=1" --db "$DB" \
    --again >"$T/int.out" 2>"$T/int.fifo" &
victim=$!
exec {ev}<"$T/int.fifo"
check "the run reaches its backup step" wait_line $ev '^step [0-9]+/[0-9]+: backup$'
cat <&$ev >"$T/int.err" &   # the rest of its log, so it never blocks writing
drain=$!
exec {ev}<&-
kill -INT $victim; wait $victim
rc=$?
wait $drain
check "Ctrl-C exits 130 (got $rc)" [ $rc -eq 130 ]
check "interrupted run is ABORTED at once, backup step ABORTED, nothing after it" \
    [ "$(sql "select r.outcome || ' ' || group_concat(s.name || ':' || s.outcome, ' ') from runs r join (select * from steps order by idx) s on s.run_id = r.id where r.id = (select max(id) from runs)")" = "ABORTED connect:PASS identify:PASS backup:ABORTED" ]
check "every backup file on disk is a recorded, complete backup (no stray or temp file)" \
    [ "$(ls "$T/backups" | wc -l)" = "$(sql "select count(*) from artifacts where kind = 'backup' and path like '$T/backups/%'")" ]

# --- a locked log: clear error, nothing recorded ------------------------------------------
# A helper takes the write lock, says so through one fifo and holds it until
# the other fifo is closed: no sleep decides when the lock is there or gone.
before=$(sql "select count(*) from runs")
mkfifo "$T/locked" "$T/release"
exec {locked}<>"$T/locked" {release}<>"$T/release"  # read-write: no open blocks
# (the helper must not inherit our end of "release", or it never sees EOF)
python3 - "$DB" "$T/locked" "$T/release" {release}<&- {locked}<&- <<'PY' &
import sqlite3, sys
release = open(sys.argv[3])                 # before "locked": never misses the release
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("begin immediate")
with open(sys.argv[2], "w") as f:
    f.write("locked\n")
release.read()                              # EOF once the test closes its end
c.execute("rollback")
PY
locker=$!
IFS= read -r -t 60 -u $locked state
check "helper holds the write lock" [ "${state:-}" = locked ]
unit d
"$FL" run recipes/demo.yaml --port "sim:bk7231n?flash=$T/d.bin&timescale=0&quiet=1" --db "$DB" \
    >"$T/out" 2>"$T/err" {release}<&- {locked}<&-
rc=$?
exec {release}<&- {locked}<&-
wait $locker
check "helper released the lock cleanly" [ $? -eq 0 ]
check "locked log exits 3 (got $rc)" [ $rc -eq 3 ]
check "locked log error says it is locked" grep -qi "locked" "$T/err"
check "no record was added while locked" [ "$(sql "select count(*) from runs")" = "$before" ]
check "unit untouched while the log was locked" cmp -s "$T/d.bin" "$DUMP"

# --- a read-only log: clear error, nothing recorded -----------------------------------------
# Root ignores file modes, so the run is made as 'nobody' on a log it may only read.
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
    chmod 755 "$T"; chmod 644 "$DB"; rm -f "$DB-wal" "$DB-shm"
    before=$(sql "select count(*) from runs")
    # everything 'nobody' needs lives in $T: the checkout may sit in a private directory
    cp "$IMG" "$T/fw_QIO_.bin"; chmod 644 "$T/fw_QIO_.bin" "$T/d.bin"
    printf 'name: ro\nchip: bk7231n\nsteps:\n  - connect\n  - flash: { image: fw_QIO_.bin }\n' >"$T/ro.yaml"
    setpriv --reuid=65534 --regid=65534 --clear-groups \
        "$FL" run "$T/ro.yaml" --port "sim:bk7231n?flash=$T/d.bin&timescale=0&quiet=1" \
        --db "$DB" >"$T/out" 2>"$T/err"
    rc=$?
    check "read-only log exits 3 (got $rc)" [ $rc -eq 3 ]
    check "read-only log error says what to do" grep -qiE "read-only|permission" "$T/err"
    check "no record was added to the read-only log" [ "$(sql "select count(*) from runs")" = "$before" ]
else
    echo "skip read-only log check: needs root and setpriv to drop privileges"
fi
finish
