#!/usr/bin/env bash
# Nothing cut silently: a step's error longer than the station keeps is
# stored in the audit log (step and run) cut at a character boundary, as
# valid UTF-8 ending in "…"; a short one is stored whole.
source "$(dirname "$0")/lib.sh"
DB=$T/audit.db
DUMP=$SHARED/testdata/tuya-dumps/01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin
cp "$DUMP" "$T/unit.bin"; chmod u+w "$T/unit.bin"
PORT="sim:bk7231n?flash=$T/unit.bin&timescale=0&quiet=1"
# step NAME LUA-SOURCE: a one-step recipe $T/NAME.yaml running $T/NAME.lua
step() {
    printf '%s\n' "$2" >"$T/$1.lua"
    printf 'name: %s\nchip: bk7231n\nsteps:\n  - lua: { file: %s.lua }\n' "$1" "$1" >"$T/$1.yaml"
}
# check_message RECIPE WANT: the last run's step and run messages, checked by Python
# (WANT: "cut" = valid UTF-8, ends in …, within the limit; else the exact text)
check_message() {
    python3 - "$DB" "$1" "$2" <<'PY'
import sqlite3, sys
db, recipe, want = sys.argv[1:]
c = sqlite3.connect(db)
c.text_factory = bytes
row = c.execute("select s.message, r.message from runs r join steps s on s.run_id = r.id "
                "where r.recipe_name = ? order by r.id desc limit 1", (recipe,)).fetchone()
ok = True
for what, raw in zip(("step", "run"), row):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        print(f"  {what} message is not valid UTF-8: {e}"); ok = False; continue
    if want == "cut":
        body = text.split(": ", 1)[1] if what == "run" else text
        if not text.endswith("\u2026") or len(raw) >= 2100 or len(raw) < 1900 \
                or set(body[:-1]) != {"é"}:
            print(f"  {what} message: {len(raw)} bytes, ends {text[-3:]!r}"); ok = False
    elif (text if what == "step" else text.split(": ", 1)[1]) != want:
        print(f"  {what} message {text!r} != {want!r}"); ok = False
sys.exit(0 if ok else 1)
PY
}

step long 'return { run = function() return nil, string.rep("é", 1500), "fail" end }'
expect_exit 1 "a step failing with a 3000-byte message FAILs" \
    bash -c "'$FL' run '$T/long.yaml' --port '$PORT' --db '$DB' >'$T/out' 2>&1"
check "its message is stored cut: valid UTF-8, whole characters, ending in …" check_message long cut

step odd 'return { run = function() return nil, "x" .. string.rep("é", 1500), "fail" end }'
"$FL" run "$T/odd.yaml" --port "$PORT" --db "$DB" >"$T/out" 2>&1
check "shifted by one byte: still no half character stored" \
    python3 -c "
import sqlite3, sys
c = sqlite3.connect(sys.argv[1]); c.text_factory = bytes
m = c.execute(\"select s.message from runs r join steps s on s.run_id = r.id where r.recipe_name = 'odd'\").fetchone()[0]
t = m.decode('utf-8'); sys.exit(0 if t.endswith('\u2026') and t.startswith('x') else 1)" "$DB"

step raised 'return { run = function() error(string.rep("é", 1500), 0) end }'
expect_exit 10 "a step raising a 3000-byte error is an ERROR" \
    bash -c "'$FL' run '$T/raised.yaml' --port '$PORT' --db '$DB' >'$T/out' 2>&1"
check "the raised error is stored cut the same way" check_message raised cut

step short 'return { run = function() return nil, "café: 1 % 2", "fail" end }'
"$FL" run "$T/short.yaml" --port "$PORT" --db "$DB" >"$T/out" 2>&1
check "a short message is stored whole, without a mark" check_message short "café: 1 % 2"

"$FL" run "$T/long.yaml" --port "$PORT" --db "$DB" --json >"$T/json" 2>/dev/null
check "the --json result event carries the cut message as valid JSON ending in …" python3 - "$T/json" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
res = [e for e in ev if e.get("event") == "result"]
sys.exit(0 if res and any(isinstance(v, str) and v.endswith("\u2026") and "éé" in v
                          for v in res[-1].values()) else 1)
PY
finish
