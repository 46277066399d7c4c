#!/usr/bin/env bash
# The obk_config recipe step and the stock recipe recipes/bk7231n-obk-config.yaml (issue 12
# point 3) on the simulator (timescale=0): backup -> extract -> flash -> obk_config -> verify
# -> boot; the block written holds the run's settings, a name made from the MAC, the pins of
# the Tuya config of the same unit; the passwords come from the environment and reach neither
# the output nor the audit log, which keeps the config redacted with a credentials hash.
source "$(dirname "$0")/lib.sh"

DB=$T/audit.db
sql() { python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); [print('|'.join('' if v is None else str(v) for v in r)) for r in c.execute(sys.argv[2])]" "$DB" "$1"; }
DUMP=$SHARED/testdata/tuya-dumps/01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin
FW=$SHARED/testdata/obk-images/OpenBK7231N_QIO_1.18.300.bin
cp "$DUMP" "$T/u.bin"; chmod u+w "$T/u.bin"
WPASS=wifi-pw-$RANDOM$RANDOM MPASS=mqtt-pw-$RANDOM$RANDOM

FLASHLINE_OBK_WIFI_PASS=$WPASS FLASHLINE_OBK_MQTT_PASS=$MPASS "$FL" run recipes/bk7231n-obk-config.yaml \
    --port "sim:bk7231n?flash=$T/u.bin&timescale=0&quiet=1" --db "$DB" --set firmware="$FW" \
    --set wifi_ssid=LineNet --set mqtt_host=10.0.0.2 --set mqtt_user=line >"$T/out" 2>"$T/err"
rc=$?
check "the stock recipe PASSes (exit $rc)" [ $rc -eq 0 ]
check "its steps in order, all PASS" [ "$(sql "select group_concat(name || ':' || outcome, ' ') from (select * from steps order by idx)")" = \
    "connect:PASS identify:PASS backup:PASS extract_tuya:PASS flash:PASS obk_config:PASS verify:PASS reboot:PASS" ]
check "no password in the output" bash -c '! grep -q -e "$1" -e "$2" "$3" "$4"' _ "$WPASS" "$MPASS" "$T/out" "$T/err"
check "no password anywhere in the audit log file" python3 - "$DB" "$WPASS" "$MPASS" <<'PY'
import sys
d = open(sys.argv[1], 'rb').read()
assert sys.argv[2].encode() not in d and sys.argv[3].encode() not in d
PY

MAC=$(sql "select mac from units")
SUFFIX=$(echo "$MAC" | tr -d : | tail -c 7 | tr A-F a-f)
"$FL" obk-config show "$T/u.bin" --json --show-secrets >"$T/show.json" 2>"$T/show.err"
check "the unit holds the run's config: settings, a name from its MAC ($SUFFIX), the passwords from the environment" \
    python3 - "$T/show.json" "$SUFFIX" "$WPASS" "$MPASS" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))['config']
assert c['wifi_ssid'] == 'LineNet' and c['mqtt_host'] == '10.0.0.2' and c['mqtt_user'] == 'line', c['wifi_ssid']
assert c['short_name'] == 'obk-' + sys.argv[2] and c['mqtt_topic'] == 'obk-' + sys.argv[2], c['short_name']
assert c['wifi_pass'] == sys.argv[3] and c['mqtt_pass'] == sys.argv[4]
assert c['version'] == 5
PY
check "  and the pins of its own Tuya config (golden dump 01)" python3 - "$T/show.json" "$SHARED/spec/tuya-config-golden.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))['config']
want = [d for d in json.load(open(sys.argv[2]))['dumps'] if d['id'] == '01'][0]['expected_obk_pins_csharp_rules']
assert c['pins'] == want, (c['pins'], want)
PY
check "the RF calibration sector is the dump's still" python3 - "$T/u.bin" "$DUMP" <<'PY'
import sys
a, b = open(sys.argv[1], 'rb').read(), open(sys.argv[2], 'rb').read()
assert a[0x1D0000:0x1D1000] == b[0x1D0000:0x1D1000]
PY
check "the log keeps what was written: an obk_config artifact, passwords redacted, with the credentials hash" \
    python3 - "$DB" "$T/show.json" <<'PY'
import json, sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute("select path, size, content from artifacts where kind = 'obk_config'").fetchall()
assert len(rows) == 1 and rows[0][0] == 'flash:0x1D1000' and rows[0][1] == 4096, rows
stored = json.loads(rows[0][2])
shown = json.load(open(sys.argv[2]))['config']
assert stored['wifi_pass'] == '<redacted>' and stored['mqtt_pass'] == '<redacted>'
assert stored['credentials_sha256'] == shown['credentials_sha256'] and stored['pins'] == shown['pins']
PY

# a unit whose config sector holds something else (the same unit again: --again): the step
# refuses (FAIL), nothing written
cp "$DUMP" "$T/v.bin"; chmod u+w "$T/v.bin"
python3 -c "import sys; f=open(sys.argv[1],'r+b'); f.seek(0x1D1000); f.write(b'XYZ'+bytes(100)); f.close()" "$T/v.bin"
"$FL" run recipes/bk7231n-obk-config.yaml --port "sim:bk7231n?flash=$T/v.bin&timescale=0&quiet=1" --db "$DB" \
    --set firmware="$FW" --again >"$T/out2" 2>"$T/err2"
rc=$?
check "an invalid config sector fails the unit (exit $rc)" [ $rc -eq 1 ]
check "  at the obk_config step, saying why" bash -c 'grep -q "obk_config.*not valid" "$1" "$2"' _ "$T/out2" "$T/err2"
check "  and the sector is as it was" python3 -c "import sys; assert open(sys.argv[1],'rb').read()[0x1D1000:0x1D1003] == b'XYZ'" "$T/v.bin"

# --- pin rules: the station's HOME/obk-pin-rules.jsonl, and a recipe's pin_rules ---------------
mkdir -p "$FLASHLINE_HOME"
printf '# this station'"'"'s lamps: the white channel is inverted\n{"key": "w_pin", "role": "PWM_n", "channel": 9}\n' \
    >"$FLASHLINE_HOME/obk-pin-rules.jsonl"
cp "$DUMP" "$T/s.bin"; chmod u+w "$T/s.bin"
"$FL" run recipes/bk7231n-obk-config.yaml --port "sim:bk7231n?flash=$T/s.bin&timescale=0&quiet=1" --db "$DB" \
    --set firmware="$FW" --again >"$T/out3" 2>"$T/err3"
check "with a station rules file the run PASSes" grep -q "^PASS" "$T/out3"
"$FL" obk-config show "$T/s.bin" --json >"$T/s.json" 2>/dev/null
check "  and the unit gets the station's rule (P24 PWM_n;9), the shipped rules for the rest" \
    grep -q '"pins":{"6":"PWM;1","7":"PWM;0","8":"PWM;2","24":"PWM_n;9","26":"PWM;3"}' "$T/s.json"
check "  the pin map in the log says so too" \
    [ "$(sql "select json_extract(obk_pins_json, '$.pins.24') from tuya_configs order by id desc limit 1")" = "PWM_n;9" ]
rm "$FLASHLINE_HOME/obk-pin-rules.jsonl"
sed -e 's|^  - extract_tuya .*|  - extract_tuya:\n      pin_rules: rules.jsonl|' -e 's|^name: .*|name: custom-rules|' \
    recipes/bk7231n-obk-config.yaml >"$T/custom.yaml"
printf '{"key": "c_pin", "role": "Rel", "channel": 1}\n' >"$T/rules.jsonl"
cp "$DUMP" "$T/r.bin"; chmod u+w "$T/r.bin"
"$FL" run "$T/custom.yaml" --port "sim:bk7231n?flash=$T/r.bin&timescale=0&quiet=1" --db "$DB" \
    --set firmware="$FW" --again >"$T/out4" 2>"$T/err4"
"$FL" obk-config show "$T/r.bin" --json >"$T/r.json" 2>/dev/null
check "a recipe's pin_rules file (relative to the recipe) is applied: P26 Rel;1" grep -q '"26":"Rel;1"' "$T/r.json"
printf '{"key": "c_pin", "role": "Relay"}\n' >"$T/rules.jsonl"
"$FL" run "$T/custom.yaml" --port "sim:bk7231n?flash=$T/r.bin&timescale=0&quiet=1" --db "$DB" \
    --set firmware="$FW" --again >"$T/out5" 2>"$T/err5"
check "a bad rules file stops the run as the station's error, with file and line" \
    bash -c 'grep -q "^ERROR" "$1" && grep -q "rules.jsonl:1: role: '"'"'Relay'"'"' is not an OpenBeken role" "$1" "$2"' _ "$T/out5" "$T/err5"
lua_test tests/lua/obk_test.lua
finish
