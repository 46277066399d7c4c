#!/usr/bin/env bash
# Issue 10 point 5 across processes: two `flashline run` processes with 4
# ports each, started at the same moment against one audit log that does not
# exist yet (its creation and migration race too).  Afterwards, with exact
# counts: 8 runs, none RUNNING; each run has the steps, measurements and
# artifacts one run of the recipe records alone (a reference run into a log
# of its own), no row twice, each run on its own port and unit;
# batch_summary by=port gives one row per port.
source "$(dirname "$0")/lib.sh"
D=$SHARED/testdata/tuya-dumps
IMG=$(realpath "$SHARED/testdata/obk-images/OpenBK7231N_QIO_1.18.300.bin")
# eight BK7231N-compatible dumps with eight different MACs
DUMPS=(01-Allegro-Berge-MI0014-30-x-5-cm-Milio 02-BK7231N-LSPA9-Clone-First-ByDarkMan-topic3887748
       03-BK7231N-LSPA9-Clone-Second-ByDarkMan-topic3887748 08-ELEGRP-DPR10-Touch-Dimmer-Switch-TuyaMCU
       09-Feconn-FE-MR16-5W-GU5-3-RGBCT-Bulb 12-Kanlux-33643-S-GU10-RGBCCT-Bulb
       15-MOES-WK-US2-TC-In-Wall-Outlet 16-Mirabella-Genio-I003632-Plug)
cat >"$T/r.yaml" <<YAML
name: two-procs
chip: bk7231n
steps:
  - connect
  - identify
  - backup: { dir: $T/backups }
  - flash: { image: $IMG }
  - verify
YAML
q() { sqlite3 "$1" "$2"; }

# the reference: one unit alone, in a log of its own
cp "$D/${DUMPS[0]}.bin" "$T/ref.bin"
"$FL" run "$T/r.yaml" --db "$T/ref.db" --port "sim:bk7231n?flash=$T/ref.bin&timescale=0" >/dev/null 2>&1
check "reference run passes" [ $? -eq 0 ]
REF=$(q "$T/ref.db" "select (select count(*) from steps) || ',' || (select count(*) from measurements) || ',' || (select count(*) from artifacts)")
IFS=, read -r RS RM RA <<<"$REF"
check "reference: 5 steps, some measurements and artifacts ($REF)" \
    [ "$RS" = 5 ] && [ "$RM" -gt 0 ] && [ "$RA" -gt 0 ]

ports=()
for i in 0 1 2 3 4 5 6 7; do
    cp "$D/${DUMPS[$i]}.bin" "$T/u$i.bin"
    ports+=("sim:bk7231n?flash=$T/u$i.bin&timescale=0")
done
check "the log does not exist before" [ ! -e "$T/audit.db" ]
# each process waits on a fifo of its own; opening both for writing and
# closing them releases the two at once
mkfifo "$T/go0" "$T/go1"
for p in 0 1; do
    args=()
    for i in 0 1 2 3; do args+=(--port "${ports[$((p * 4 + i))]}"); done
    ( cat "$T/go$p" >/dev/null
      exec "$FL" run "$T/r.yaml" --db "$T/audit.db" --json "${args[@]}" >"$T/out$p" 2>"$T/err$p" ) &
    pids[$p]=$!
done
exec 3>"$T/go0" 4>"$T/go1"
exec 3>&- 4>&-
wait "${pids[0]}"; rc0=$?
wait "${pids[1]}"; rc1=$?
check "both processes exit 0 (every unit PASSes)" [ $rc0 -eq 0 ] && [ $rc1 -eq 0 ]
check "nothing on stderr" [ ! -s "$T/err0" ] && [ ! -s "$T/err1" ]
for p in 0 1; do
    check "process $p: 4 PASS results and a batch event" python3 - "$T/out$p" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
res = [e for e in ev if e["event"] == "result"]
assert len(res) == 4 and all(e["outcome"] == "PASS" for e in res), res
assert ev[-1]["event"] == "batch" and ev[-1]["pass"] == 4, ev[-1]
PY
done

DB=$T/audit.db
check "8 runs, all PASS, none RUNNING" \
    [ "$(q "$DB" "select count(*) || ',' || sum(outcome = 'PASS') || ',' || sum(outcome = 'RUNNING') from runs")" = "8,8,0" ]
check "no step left RUNNING" [ "$(q "$DB" "select count(*) from steps where outcome = 'RUNNING'")" = 0 ]
check "8 units, 8 ports, one station" \
    [ "$(q "$DB" "select (select count(*) from units) || ',' || count(distinct port) || ',' || count(distinct unit_id) || ',' || (select count(*) from stations) from runs")" = "8,8,8,1" ]
check "totals: 8 times one run's steps, measurements, artifacts" \
    [ "$(q "$DB" "select (select count(*) from steps) || ',' || (select count(*) from measurements) || ',' || (select count(*) from artifacts)")" = "$((8 * RS)),$((8 * RM)),$((8 * RA))" ]
check "every run has exactly the reference's rows, all steps PASS" \
    [ "$(q "$DB" "select count(*) from runs r where
        (select count(*) from steps where run_id = r.id and outcome = 'PASS') = $RS and
        (select count(distinct idx) from steps where run_id = r.id) = $RS and
        (select count(*) from measurements where run_id = r.id) = $RM and
        (select count(*) from artifacts where run_id = r.id) = $RA")" = 8 ]
check "no measurement or artifact twice" \
    [ "$(q "$DB" "select (select count(*) from (select distinct run_id, step_id, name, value, unit from measurements)) || ',' || (select count(*) from (select distinct run_id, kind, path from artifacts))")" = "$((8 * RM)),$((8 * RA))" ]
check "no row tied to another run's step" \
    [ "$(q "$DB" "select (select count(*) from measurements m join steps s on s.id = m.step_id where s.run_id != m.run_id) + (select count(*) from artifacts a join steps s on s.id = a.step_id where s.run_id != a.run_id)")" = 0 ]
# each port's run is that port's unit: its result's unit is the run's unit's MAC
check "each run on its own port with its own unit" python3 - "$T/out0" "$T/out1" "$DB" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[3])
n = 0
for f in sys.argv[1:3]:
    for e in map(json.loads, open(f)):
        if e["event"] != "result":
            continue
        port, mac = db.execute("select r.port, u.mac from runs r join units u on u.id = r.unit_id "
                               "where r.id = ?", (e["run_id"],)).fetchone()
        assert port == e["port"] and mac == e["unit"].lower(), (port, e["port"])
        n += 1
assert n == 8, n
PY
"$FL" query batch_summary --db "$DB" --param by=port --json >"$T/bs.json"
check "batch_summary by=port: one row per port, 1 PASS each" python3 - "$T/bs.json" "${ports[@]}" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert sorted(r["port"] for r in rows) == sorted(sys.argv[2:]), rows
assert all(r["runs"] == 1 and r["pass"] == 1 for r in rows), rows
PY
finish
