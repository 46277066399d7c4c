#!/usr/bin/env bash
# Every JSON event `flashline run --json` prints, with one port and with
# several, matches the table in README.md ("The JSON events"): real runs
# (PASS, a dead link, a prompt from a Lua step, --check, errors) are checked
# line by line by tests/cli/json_events.py, which also fails when the table
# lists an event no run printed.  The checker is shown to catch drift: an
# undocumented key, and a table missing a row.
source "$(dirname "$0")/lib.sh"
DUMP=$SHARED/testdata/tuya-dumps/01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin
IMG=$(realpath "$SHARED/testdata/obk-images/OpenBK7231N_QIO_1.18.300.bin")
CHK=tests/cli/json_events.py
cat >"$T/ask.lua" <<'LUA'
local log = require "flashline.log"
return { run = function(ctx, args)
  log.prompt("press the button on the fixture")
  log.warn("a warning from the step")
  return true
end }
LUA
cat >"$T/r.yaml" <<YAML
name: json-schema
chip: bk7231n
allow_repeat: true
steps:
  - connect
  - identify
  - lua: { file: ask.lua }
  - flash: { image: $IMG }
  - verify
YAML
for i in 1 2; do cp "$DUMP" "$T/u$i.bin"; done
P1="sim:bk7231n?flash=$T/u1.bin&timescale=0"
P2="sim:bk7231n?flash=$T/u2.bin&timescale=0&disconnect=300000"

# --- one port ------------------------------------------------------------------
"$FL" run "$T/r.yaml" --db "$T/a.db" --json --port "$P1" >"$T/one_pass.json" 2>/dev/null
check "one port: the run passes" [ $? -eq 0 ]
"$FL" run "$T/r.yaml" --check --json >"$T/one_check.json" 2>/dev/null
check "one port: --check is valid" [ $? -eq 0 ]
"$FL" run "$T/missing.yaml" --db "$T/a.db" --json --port "$P1" >"$T/one_error.json" 2>/dev/null
check "one port: a missing recipe fails (exit 3)" [ $? -eq 3 ]

# --- several ports ---------------------------------------------------------------
"$FL" run "$T/r.yaml" --db "$T/a.db" --json --port "$P1" --port "$P2" >"$T/many.json" 2>/dev/null
check "several ports: exit 10 (the dead link's ERROR)" [ $? -eq 10 ]
"$FL" run "$T/r.yaml" --db "$T/a.db" --json --port "$P1" --port "$P1" >"$T/many_error.json" 2>/dev/null
check "several ports: a port given twice is refused (exit 2)" [ $? -eq 2 ]

# --loop: a simulator port answers each time it is opened, as a unit left on
# the fixture would: run once, then "not run twice"; Ctrl-C ends it
mkfifo "$T/loop.fifo"
"$FL" run "$T/r.yaml" --db "$T/a.db" --json --loop --port "$P1" >"$T/loop.fifo" 2>/dev/null &
LOOP=$!
exec 6<"$T/loop.fifo"
WAIT_LINE_LOG=$T/many_loop.json wait_line 6 '"idle".*not run twice'
check "--loop: a unit left on the fixture is not run twice" [ $? -eq 0 ]
kill -INT $LOOP
cat <&6 >>"$T/many_loop.json"
wait $LOOP
exec 6<&-

check "every event of those runs is documented, and every documented event was printed" \
    python3 "$CHK" README.md --one "$T"/one_*.json --several "$T"/many*.json

# --- the checker catches drift ------------------------------------------------------
python3 - "$T/one_pass.json" "$T/drift.json" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
ev = json.loads(lines[-1]); ev["new_key"] = 1          # the result event grows a key
open(sys.argv[2], "w").write("\n".join(lines[:-1] + [json.dumps(ev)]) + "\n")
PY
python3 "$CHK" README.md --one "$T/drift.json" "$T/one_check.json" "$T/one_error.json" \
    --several "$T"/many*.json >"$T/drift.out"
check "checker: an undocumented key fails" [ $? -eq 1 ]
check "... naming the event and the key" grep -q "result (one) keys .*new_key" "$T/drift.out"
grep -v '^| `batch` ' README.md >"$T/README.md"
python3 "$CHK" "$T/README.md" --one "$T"/one_*.json --several "$T"/many*.json >"$T/drift.out"
check "checker: an event missing from the table fails" [ $? -eq 1 ]
check "... naming it" grep -q "event 'batch' is not documented for several" "$T/drift.out"
finish
