#!/usr/bin/env bash
# flashline run RECIPE without --port: the ports come from the recipe's
# `ports:` list, else from station.yaml's `ports:` (in the station home);
# --port on the command line beats both.  One port is a plain single run
# (its own output, no "batch" event); several go to one worker per port.
# Malformed lists are refused with FILE:LINE(:COLUMN) before any unit is
# touched; no ports anywhere is a command-line error (exit 2).
source "$(dirname "$0")/lib.sh"
DUMP=$SHARED/testdata/tuya-dumps/01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin
export FLASHLINE_HOME=$T/home
mkdir -p "$FLASHLINE_HOME"
for i in 1 2 3 4; do cp "$DUMP" "$T/u$i.bin"; done
P() { echo "sim:bk7231n?flash=$T/u$1.bin&timescale=0"; }
recipe() { # FILE [PORT...]: a recipe that identifies the unit, with those ports
    local f=$1; shift
    { printf 'name: ports-default\nchip: bk7231n\nallow_repeat: true\n'
      if [ $# -gt 0 ]; then echo "ports:"; for p in "$@"; do echo "  - \"$p\""; done; fi
      printf 'steps:\n  - connect\n  - identify\n'; } >"$f"
}
station() { # PORT...: station.yaml's ports
    { echo "station: line-9"; echo "ports:"; for p in "$@"; do echo "  - \"$p\""; done; } \
        >"$FLASHLINE_HOME/station.yaml"
}
# results PORT...: the JSON output's result ports, in order of the arguments, are exactly those
results() {
    python3 - "$T/out" "$@" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
got = sorted(e["port"] for e in ev if e["event"] == "result")
assert got == sorted(sys.argv[2:]), (got, sys.argv[2:])
assert all(e["outcome"] == "PASS" for e in ev if e["event"] == "result"), ev
batch = [e for e in ev if e["event"] == "batch"]
if len(sys.argv) > 3:
    assert len(batch) == 1 and batch[0]["ports"] == len(sys.argv) - 2, batch
else:
    assert not batch, "a single port is a single run: no batch event"
PY
}

# --- the recipe's ports: --------------------------------------------------------
recipe "$T/two.yaml" "$(P 1)" "$(P 2)"
"$FL" run "$T/two.yaml" --db "$T/a.db" --json >"$T/out" 2>"$T/err"
check "recipe ports: two ports run, exit 0" [ $? -eq 0 ]
check "recipe ports: one result per port and a batch event" results "$(P 1)" "$(P 2)"
check "recipe ports: two runs recorded, on their ports" \
    [ "$(sqlite3 "$T/a.db" "select count(*) || ',' || count(distinct port) from runs")" = "2,2" ]

recipe "$T/one.yaml" "$(P 3)"
"$FL" run "$T/one.yaml" --db "$T/a.db" >"$T/plain" 2>"$T/err"
check "recipe with one port: exit 0" [ $? -eq 0 ]
check "... today's single-run result line (no [N port] label)" \
    grep -qE "^PASS  sim:bk7231n\?flash=$T/u3.bin&timescale=0  unit " "$T/plain"
"$FL" run "$T/one.yaml" --db "$T/a.db" --again --json >"$T/out" 2>"$T/err"
check "recipe with one port, --json: one result, no batch event" results "$(P 3)"

# --- --port beats the recipe's ports: ------------------------------------------------
"$FL" run "$T/two.yaml" --db "$T/a.db" --again --json --port "$(P 4)" >"$T/out" 2>"$T/err"
check "--port given: only that port runs" results "$(P 4)"

# --- station.yaml's ports: when the recipe has none ------------------------------------
recipe "$T/none.yaml"
station "$(P 1)" "$(P 2)" "$(P 3)"
"$FL" run "$T/none.yaml" --db "$T/b.db" --json >"$T/out" 2>"$T/err"
check "station.yaml ports: three ports run, exit 0" [ $? -eq 0 ]
check "station.yaml ports: their three results" results "$(P 1)" "$(P 2)" "$(P 3)"
check "station.yaml ports: the station name of the same file is logged" \
    [ "$(sqlite3 "$T/b.db" "select count(*) from runs join stations s on s.id = station_id where s.name = 'line-9'")" = 3 ]
"$FL" run "$T/two.yaml" --db "$T/b.db" --again --json >"$T/out" 2>"$T/err"
check "the recipe's ports: beat station.yaml's" results "$(P 1)" "$(P 2)"
"$FL" run "$T/none.yaml" --db "$T/b.db" --again --json --port "$(P 4)" >"$T/out" 2>"$T/err"
check "--port beats station.yaml's ports:" results "$(P 4)"
station "$(P 2)"
"$FL" run "$T/none.yaml" --db "$T/b.db" --again --json >"$T/out" 2>"$T/err"
check "one port in station.yaml: a single run" results "$(P 2)"

# --- nothing anywhere, and mistakes ------------------------------------------------------
printf 'station: line-9\n' >"$FLASHLINE_HOME/station.yaml"
"$FL" run "$T/none.yaml" --db "$T/c.db" >"$T/out" 2>"$T/err"
check "no ports anywhere: exit 2" [ $? -eq 2 ]
check "... saying where ports can be given" \
    grep -q "give --port URL, or a 'ports:' list in the recipe or in $FLASHLINE_HOME/station.yaml" "$T/err"
"$FL" run "$T/none.yaml" --check >/dev/null 2>&1
check "--check needs no port" [ $? -eq 0 ]

printf 'ports:\n  - a\n  - a\n' >"$FLASHLINE_HOME/station.yaml"
"$FL" run "$T/none.yaml" --db "$T/c.db" >"$T/out" 2>"$T/err"
check "a port twice in station.yaml: exit 3" [ $? -eq 3 ]
check "... named with FILE:LINE" grep -q "station.yaml:3: port 'a' is listed twice in 'ports'" "$T/err"

printf 'name: t\nchip: bk7231n\nports:\n  - "%s"\n  - "%s"\nsteps: [connect]\n' "$(P 1)" "$(P 1)" >"$T/dup.yaml"
cp "$DUMP" "$T/u1.bin"
"$FL" run "$T/dup.yaml" --db "$T/c.db" >"$T/out" 2>"$T/err"
check "a port twice in the recipe: exit 3" [ $? -eq 3 ]
check "... named with FILE:LINE:COLUMN" grep -q "dup.yaml:5:5: port '.*' is listed twice in 'ports' (first at line 4)" "$T/err"
check "... and nothing was touched or logged" \
    bash -c "cmp -s '$DUMP' '$T/u1.bin' && [ ! -e '$T/c.db' ]"
"$FL" run "$T/dup.yaml" --db "$T/c.db" --json >"$T/out" 2>"$T/err"
check "--json: the refusal is one error event" python3 -c "
import json; ev=[json.loads(l) for l in open('$T/out')]
assert len(ev) == 1 and ev[0]['event'] == 'error' and ev[0]['exit'] == 3 and 'listed twice' in ev[0]['message'], ev"

"$FL" run --help >"$T/help"
check "run --help explains where ports come from" grep -q "'ports:' list of" "$T/help"
finish
