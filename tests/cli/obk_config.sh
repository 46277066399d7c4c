#!/usr/bin/env bash
# flashline obk-config show|write on the simulator (timescale=0) and on dump
# files (issue 12 points 2 and 5): written blocks read back right, only the
# config sector changes (never the RF calibration below it), passwords never
# reach stdout or --json unless --show-secrets, invalid blocks are reported
# and not overwritten unless asked, both pin layouts.
source "$(dirname "$0")/lib.sh"

sim() { echo "sim:$1?flash=$2&timescale=0"; }
WPASS=wifi-pw-$RANDOM$RANDOM MPASS=mqtt-pw-$RANDOM$RANDOM
# to OUT ERR command...: run it with stdout and stderr in files (expect_exit's own line stays on stdout)
to() { local o=$1 e=$2; shift 2; "$@" >"$o" 2>"$e"; }
no_secret() { ! grep -q -e "$WPASS" -e "$MPASS" "$@"; }

# --- an erased sector: show says so; write starts from the defaults --------------------
F=$T/n.bin
expect_exit 3 "show on an erased config sector fails as input" to /dev/null "$T/err" "$FL" obk-config show --port "$(sim bk7231n "$F")"
check "  and says the sector is erased" grep -q "0x1D1000: no OBK config: the sector is erased" "$T/err"

expect_exit 0 "write on BK7231N" to "$T/w.out" "$T/w.err" "$FL" obk-config write --port "$(sim bk7231n "$F")" --wifi-ssid LineNet \
    --wifi-pass "$WPASS" --mqtt-host 10.0.0.2 --mqtt-user line --mqtt-pass "$MPASS" --name obk-unit1 \
    --flag WIFI_FAST_CONNECT=1 --pin 6=Rel,1 --pin 7=Btn_n,2
check "  reports the offset, the defaults it started from and the read-back" \
    grep -q "written to 0x1D1000 (BK7231N, 32-pin layout, from defaults), version 5, read back and verified" "$T/w.out"
check "  prints no password" no_secret "$T/w.out" "$T/w.err"
check "  shows a credentials hash" grep -qE "credentials_sha256 +[0-9a-f]{64}$" "$T/w.out"

"$FL" obk-config show "$F" >"$T/s.out" 2>&1
check "show on the dump file finds it at the BK7231N offset" grep -q "OBK config at 0x1D1000 of $F (32-pin layout): version 5, CRC 0x.. ok" "$T/s.out"
check "  with the settings" bash -c 'grep -qE "wifi_ssid +LineNet" $1 && grep -qE "mqtt_topic +obk-unit1" $1 && grep -qE "P6 +Rel;1" $1 && grep -qE "P7 +Btn_n;2" $1 && grep -q "WIFI_FAST_CONNECT" $1' _ "$T/s.out"
check "  and the passwords redacted" bash -c 'grep -qE "wifi_pass +<redacted>" $1' _ "$T/s.out"
check "  none of them in the text" no_secret "$T/s.out"
"$FL" obk-config show "$F" --show-secrets >"$T/s2.out" 2>&1
check "--show-secrets prints them" bash -c 'grep -qE "wifi_pass +$2" $1 && grep -qE "mqtt_pass +$3" $1' _ "$T/s2.out" "$WPASS" "$MPASS"
H1=$(grep -oE "credentials_sha256 +[0-9a-f]+" "$T/w.out" | awk '{print $2}')
check "the hash in the dump is the one written" grep -q "credentials_sha256 *$H1" "$T/s.out"

# the block itself, checked the firmware's way: ident, version 5, signed CRC-8
check "the block has CFG, version 5 and the firmware's CRC" python3 - "$F" <<'PY'
import struct, sys
d = open(sys.argv[1], 'rb').read()[0x1D1000:0x1D2000]
def crc(b):
    c = 0
    for x in b:
        for _ in range(8):
            s = (c ^ x) & 1
            c = (c >> 1) | (c & 0x80)
            if s: c ^= 0x8C
            x >>= 1
    return c
assert d[:3] == b'CFG' and struct.unpack('<i', d[4:8])[0] == 5, d[:8]
assert d[3] == crc(d[4:3584]), (d[3], crc(d[4:3584]))
assert d[3584:] == b'\xff' * 512
assert d[0x33E + 6] == 1 and d[0x35E + 6] == 1 and d[0x33E + 7] == 4 and d[0x35E + 7] == 2
PY

# --- a second write keeps what it does not change ---------------------------------------
"$FL" obk-config write --port "$(sim bk7231n "$F")" --mqtt-port 8883 --json >"$T/w2.json" 2>"$T/w2.err"
check "a second write starts from the existing config" grep -q '"event":"done".*"base":"existing"' "$T/w2.json"
check "  keeps the SSID and pins, changes the port" bash -c 'grep -q "\"wifi_ssid\":\"LineNet\"" $1 && grep -q "\"mqtt_port\":8883" $1 && grep -q "\"6\":\"Rel;1\"" $1' _ "$T/w2.json"
check "  --json holds no password" no_secret "$T/w2.json" "$T/w2.err"
check "  and the same credentials hash" grep -q "\"credentials_sha256\":\"$H1\"" "$T/w2.json"

# --- only the config sector changes; invalid blocks are not overwritten silently ---------
R=$T/r.bin
python3 -c "import os,sys; open(sys.argv[1],'wb').write(os.urandom(2 << 20))" "$R"
cp "$R" "$T/r.orig"
expect_exit 7 "write over a config sector holding no valid config is refused" to /dev/null "$T/err" "$FL" obk-config write \
    --port "$(sim bk7238 "$R")" --name x
check "  saying why and how to go on" grep -q "0x1E1000 is not valid (not an OBK config: the ident is not \"CFG\"); not overwritten: --replace-invalid" "$T/err"
check "  and the flash is untouched" cmp -s "$R" "$T/r.orig"
expect_exit 0 "with --replace-invalid it is replaced" to "$T/r.json" "$T/r.err" "$FL" obk-config write --port "$(sim bk7238 "$R")" \
    --name x --replace-invalid --json
check "  from the defaults (said in the done event)" grep -q '"base":"replaced-invalid"' "$T/r.json"
check "  and every byte outside 0x1E1000..0x1E1FFF is as before (RF calibration at 0x1E0000 too)" python3 - "$R" "$T/r.orig" <<'PY'
import sys
a, b = open(sys.argv[1], 'rb').read(), open(sys.argv[2], 'rb').read()
assert a[:0x1E1000] == b[:0x1E1000] and a[0x1E2000:] == b[0x1E2000:]
assert a[0x1E1000:0x1E1003] == b'CFG'
PY

# --- the same over SPI (CH341A emulator, Beken SPI mode) ------------------------------------------
S=$T/spi.bin
python3 -c "import os,sys; open(sys.argv[1],'wb').write(os.urandom(2 << 20))" "$S"
cp "$S" "$T/spi.orig"
spi="ch341a:sim?target=bk7231n&flash=$S&timescale=0"
expect_exit 0 "write over SPI (CH341A) with --replace-invalid" to "$T/spi.out" "$T/spi.err" "$FL" obk-config write \
    --port "$spi" --chip bk7231n --name spi-unit --pin 6=Rel,1 --replace-invalid
check "  only the config sector changed (RF calibration at 0x1D0000 kept)" python3 - "$S" "$T/spi.orig" <<'PY'
import sys
a, b = open(sys.argv[1], 'rb').read(), open(sys.argv[2], 'rb').read()
assert a[:0x1D1000] == b[:0x1D1000] and a[0x1D2000:] == b[0x1D2000:] and a[0x1D1000:0x1D1003] == b'CFG'
PY
"$FL" obk-config show --port "$spi" --chip bk7231n >"$T/spis.out" 2>&1
check "show over SPI reads it back" bash -c 'grep -qE "short_name +spi-unit" $1 && grep -qE "P6 +Rel;1" $1' _ "$T/spis.out"

# --- a wrong CRC is reported, shown with a warning, and not overwritten -----------------
python3 - "$F" <<'PY'
import sys
f = open(sys.argv[1], 'r+b'); f.seek(0x1D1000 + 0x14); f.write(b'M'); f.close()
PY
expect_exit 3 "show on a block with a wrong CRC exits 3" to "$T/c.out" "$T/c.err" "$FL" obk-config show "$F"
check "  shows it marked WRONG" grep -q "CRC 0x.. WRONG" "$T/c.out"
check "  and says the firmware would load its defaults" grep -q "the firmware computes 0x..: it would load its defaults" "$T/c.err"
expect_exit 7 "write refuses to overwrite it" to /dev/null "$T/err" "$FL" obk-config write --port "$(sim bk7231n "$F")" --name y
check "  naming the CRC" grep -q "OBK config CRC is wrong" "$T/err"

# --- the 48-pin layout (BK7252N) ------------------------------------------------------------
W=$T/w.bin
expect_exit 0 "write on BK7252N (48 pins) with a pin above 31" to "$T/48.out" "$T/e.48.out" "$FL" obk-config write --port "$(sim bk7252n "$W")" \
    --pin 40=PWM,3 --pin 2=Rel,1
check "  uses the 48-pin layout" grep -q "BK7252N, 48-pin layout" "$T/48.out"
check "  channels at the group A offsets" python3 - "$W" <<'PY'
import sys
d = open(sys.argv[1], 'rb').read()[0x1E1000:0x1E2000]
assert d[0x33E + 40] == 7 and d[0x36E + 40] == 3 and d[0x33E + 2] == 1 and d[0x36E + 2] == 1
assert d[0x4E8:0x4EB] == bytes([3, 10, 5])  # button timings, moved by 0x30
PY
"$FL" obk-config show "$W" --chip bk7252n >"$T/48s.out" 2>&1
check "show --chip bk7252n reads P40" grep -qE "P40 +PWM;3" "$T/48s.out"
expect_exit 2 "a pin past the 32-pin layout is refused before the unit is touched" to /dev/null "$T/err" "$FL" obk-config write \
    --port "$(sim bk7231n "$T/x.bin")" --chip bk7231n --pin 40=PWM
check "  naming the layout" grep -q "0..31 (this chip's layout)" "$T/err"

# --- settings from a file, pins from a Tuya dump ---------------------------------------------
cat >"$T/set.json" <<JSON
{"wifi_ssid": "FromFile", "wifi_pass": "$WPASS", "mqtt_port": 1884, "flags": {"SLOW_PWM": true},
 "pins": {"9": "LED,2"}}
JSON
J=$T/j.bin
expect_exit 0 "--from-file" to "$T/j.json" "$T/j.err" "$FL" obk-config write --port "$(sim bk7231n "$J")" --from-file "$T/set.json" \
    --mqtt-port 1999 --json
check "  applies the file, options win" bash -c 'grep -q "\"wifi_ssid\":\"FromFile\"" $1 && grep -q "\"mqtt_port\":1999" $1 && grep -q "SLOW_PWM" $1 && grep -q "\"9\":\"LED;2\"" $1' _ "$T/j.json"
check "  and prints no password" no_secret "$T/j.json" "$T/j.err"
echo '{"wifi_ssid": "x", "colour": "red"}' >"$T/bad.json"
expect_exit 2 "an unknown key in the file is refused" to /dev/null "$T/err" "$FL" obk-config write --port "$(sim bk7231n "$J")" \
    --from-file "$T/bad.json"
check "  naming it" grep -q "'colour' is not an OBK config setting" "$T/err"

TD=$SHARED/testdata/tuya-dumps/04-BK7231T-TuyaConfig-PC44HA.bin
expect_exit 0 "--pins-from-tuya" to "$T/t.json" "$T/e.t.json" "$FL" obk-config write --port "$(sim bk7238 "$T/t.bin")" --pins-from-tuya "$TD" \
    --json
check "  writes the golden pins of dump 04" python3 - "$T/t.json" "$SHARED/spec/tuya-config-golden.json" <<'PY'
import json, sys
done = [json.loads(l) for l in open(sys.argv[1]) if '"event":"done"' in l][0]
want = [d for d in json.load(open(sys.argv[2]))['dumps'] if d['id'] == '04'][0]['expected_obk_pins_csharp_rules']
assert done['config']['pins'] == want, (done['config']['pins'], want)
PY
expect_exit 2 "--pins-from-tuya and --pin together are refused" to /dev/null /dev/null "$FL" obk-config write --port "$(sim bk7238 "$T/t.bin")" \
    --pins-from-tuya "$TD" --pin 1=Rel

# --- pin rules as data: a station override file, bad rule files --------------------------------
printf '# station: this product drives its relay inverted, on channel 5\n{"key": "rl#_pin", "role": "Rel_n", "channel": 5}\n' >"$T/station-rules.jsonl"
"$FL" tuya extract "$TD" --obk --json --pin-rules "$T/station-rules.jsonl" >"$T/tr.json" 2>&1
check "tuya extract --pin-rules applies the override (P26 Rel_n;5), the rest as shipped" python3 - "$T/tr.json" <<'PY'
import json, sys
pins = json.loads(open(sys.argv[1]).read())['obk']['pins']
assert pins['26'] == 'Rel_n;5' and pins['6'] == 'WifiLED_n;0', pins
PY
expect_exit 0 "obk-config write --pins-from-tuya --pin-rules" to "$T/tr2.json" "$T/tr2.err" "$FL" obk-config write \
    --port "$(sim bk7238 "$T/t2.bin")" --pins-from-tuya "$TD" --pin-rules "$T/station-rules.jsonl" --json
check "  writes the overridden pin" grep -q '"26":"Rel_n;5"' "$T/tr2.json"
printf '{"key": "a_pin", "role": "Rel"}\n\n{"key": "b_pin", "role": "Lamp"}\n' >"$T/bad-rules.jsonl"
expect_exit 3 "a bad rule file is refused" to /dev/null "$T/err" "$FL" tuya extract "$TD" --obk --pin-rules "$T/bad-rules.jsonl"
check "  naming the file and the line" grep -q "$T/bad-rules.jsonl:3: role: 'Lamp' is not an OpenBeken role" "$T/err"
expect_exit 3 "  also by obk-config write, before the unit is touched" to /dev/null "$T/err" "$FL" obk-config write \
    --port "$(sim bk7238 "$T/t3.bin")" --pins-from-tuya "$TD" --pin-rules "$T/bad-rules.jsonl"
check "  (file and line again)" grep -q "bad-rules.jsonl:3:" "$T/err"
check "  and no simulator flash was created" test ! -e "$T/t3.bin"

# --- usage errors touch nothing ---------------------------------------------------------------
expect_exit 2 "an unknown flag" to /dev/null "$T/err" "$FL" obk-config write --port "$(sim bk7231n "$T/u.bin")" --flag NO_SUCH=1
check "  is named" grep -q "flag 'NO_SUCH' is not an OpenBeken flag" "$T/err"
expect_exit 2 "an unknown role" to /dev/null "$T/err" "$FL" obk-config write --port "$(sim bk7231n "$T/u.bin")" --pin 3=Lamp
check "  is named" grep -q "'Lamp' is not an OpenBeken pin role" "$T/err"
check "  and no simulator flash was even created" test ! -e "$T/u.bin"
expect_exit 2 "show with settings" to /dev/null /dev/null "$FL" obk-config show "$F" --name z
expect_exit 2 "show with neither port nor file" to /dev/null /dev/null "$FL" obk-config show
expect_exit 3 "show on a file without a config" to /dev/null "$T/err" "$FL" obk-config show "$TD"
check "  says what it found" grep -q "at 0x1D1000: the file ends before 0x1D1000" "$T/err"
finish
