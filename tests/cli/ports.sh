#!/usr/bin/env bash
# `flashline ports`: serial ports, then CH341A USB programmers (human and
# --json).  No programmer is plugged in on CI; the checks hold either way.
source "$(dirname "$0")/lib.sh"

"$FL" ports >"$T/out" 2>"$T/err"
check "ports exits 0" [ $? -eq 0 ]
"$FL" ports --json >"$T/json" 2>"$T/json.err"
check "ports --json exits 0" [ $? -eq 0 ]
check "ports --json: every line is a JSON object" python3 - "$T/json" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert all(isinstance(r, dict) for r in rows)
PY
# How many programmers the JSON lists decides what the human form must say.
n=$(python3 -c "import json,sys; print(sum(1 for l in open(sys.argv[1]) if l.strip() and json.loads(l).get('kind') == 'ch341a'))" "$T/json")
if [ "$n" -eq 0 ]; then
    check "no programmer: one line says so and how to plug one in" \
        grep -qx "no CH341A USB programmers found (plug one in with its jumper in the SPI/I2C position)" "$T/err"
    check "no programmer: no USB heading on stdout" bash -c "! grep -q 'USB programmers:' '$T/out'"
else
    check "programmers: a heading, then one line each with the --port they take" \
        bash -c "grep -q '^USB programmers:' '$T/out' && [ \$(grep -c '^ch341a:[0-9]' '$T/out') -eq $n ]"
fi
check "--json: no human notes on stderr" bash -c "! grep -q 'no CH341A' '$T/json.err'"
check "--json: programmer objects carry kind, port, VID:PID, path and problem" python3 - "$T/json" <<'PY'
import json, sys
for r in (json.loads(l) for l in open(sys.argv[1]) if l.strip()):
    if r.get("kind") == "ch341a":
        assert r["port"] == "ch341a:" + r["usb_path"], r
        assert (r["usb_vid"], r["usb_pid"]) == (0x1a86, 0x5512), r
        assert "problem" in r and "serial" in r, r
    else:  # serial ports keep their old shape
        assert set(r) == {"port", "description", "transport", "usb_vid", "usb_pid", "serial", "usb_path"}, r
PY

"$FL" ports --help >"$T/help"
check "--help names the CH341A selector form and the udev rule" \
    bash -c "grep -q 'ch341a:BUS-PORT' '$T/help' && grep -q 'src/link/udev/60-flashline-ch341a.rules' '$T/help'"
check "the udev rule --help names is in the tree" [ -f src/link/udev/60-flashline-ch341a.rules ]
finish
