#!/usr/bin/env bash
# Issue 13 point 4: the stock ESP recipe (recipes/esp32-obk.yaml: connect, identify,
# backup, flash, verify, reboot) runs on the ESP simulator through the same station as
# the Beken recipes and is logged like any Beken run: the unit by its eFuse MAC, the
# backup (byte-exact, durable, classified), the image from the firmware store, every
# step.  A recipe for another chip is the station's ERROR naming both; a unit with flash
# encryption is refused untouched.
source "$(dirname "$0")/lib.sh"
DB=$FLASHLINE_HOME/flashline.db
unset FLASHLINE_DB
GEN="python3 $(dirname "$0")/esp_image_gen.py"
sql() { python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); [print('|'.join('' if v is None else str(v) for v in r)) for r in c.execute(sys.argv[2])]" "$DB" "$1"; }
# a unit fresh from a vendor: 1 MiB of its own firmware (random bytes, no erased sector
# in the first half, erased after)
python3 -c "
import random; r = random.Random(13)
open('$T/unit.bin', 'wb').write(r.randbytes(0x80000) + b'\xff' * 0x80000)"
cp "$T/unit.bin" "$T/unit.orig"
MAC=24:0a:c4:12:34:56
PORT="sim:esp32?flash=$T/unit.bin&timescale=0&mac=$MAC"

# the release image, as `firmware fetch` would store it
$GEN factory 0 0x1000 1024 "$T/OpenESP32_1.18.300.factory.bin"
expect_exit 0 "the OpenESP32 factory image goes into the store" \
    "$FL" firmware add "$T/OpenESP32_1.18.300.factory.bin" >"$T/add.out" 2>&1
check "... under the name the stock recipe asks for" grep -q "OpenESP32@1.18.300" "$T/add.out"

"$FL" run esp32-obk --port "$PORT" >"$T/out1" 2>"$T/err1"
rc=$?
check "the stock esp32-obk recipe PASSes on the simulator (exit $rc)" [ $rc -eq 0 ]
check "... the result line says PASS" grep -q "^PASS" "$T/out1"
check "... every step ran and PASSed, in order" \
    [ "$(sql "select group_concat(name || ':' || outcome, ' ') from (select * from steps order by id)")" = \
      "connect:PASS identify:PASS backup:PASS flash:PASS verify:PASS reboot:PASS" ]
check "... the run is logged with the esp-rom driver" \
    [ "$(sql "select driver from runs")" = "esp-rom" ]
check "... the unit is known by its eFuse MAC, as an esp32" \
    [ "$(sql "select upper(mac) || '|' || chip from units")" = "24:0A:C4:12:34:56|esp32" ]
backup=$(sql "select path from artifacts where kind = 'backup'")
check "... the backup is where the log says" [ -f "$backup" ]
check "... and is the unit's original flash, byte for byte" cmp -s "$backup" "$T/unit.orig"
check "... its SHA-256 is the file's" \
    [ "$(sql "select sha256 from artifacts where kind = 'backup'")" = "$(sha256sum "$T/unit.orig" | cut -d' ' -f1)" ]
check "... the flashed image is recorded by its store name and version" \
    [ "$(sql "select store_name || '@' || store_version from artifacts where kind = 'firmware'")" = "OpenESP32@1.18.300" ]
check "the unit now holds the factory image at 0x0" python3 -c "
d = open('$T/unit.bin', 'rb').read(); i = open('$T/OpenESP32_1.18.300.factory.bin', 'rb').read()
assert d[:len(i)] == i"
check "... and nothing after it changed" python3 -c "
d = open('$T/unit.bin', 'rb').read(); o = open('$T/unit.orig', 'rb').read()
n = (len(open('$T/OpenESP32_1.18.300.factory.bin', 'rb').read()) + 0xFFF) & ~0xFFF
assert d[n:] == o[n:]"
"$FL" query unit_history --param mac=$MAC >"$T/hist" 2>&1
check "query unit_history shows the run and its backup" grep -q "$(basename "$backup")" "$T/hist"

# --- a recipe for another chip: the station's ERROR, nothing written ---------------------------
cp "$T/unit.orig" "$T/c3.bin"
"$FL" run esp32-obk --port "sim:esp32c3?flash=$T/c3.bin&timescale=0" >"$T/out2" 2>&1
rc=$?
check "an esp32 recipe on an ESP32-C3 unit is an ERROR of the station (exit $rc)" [ $rc -eq 10 ]
check "... naming both chips" grep -q "wrong recipe for this unit: recipe 'esp32-obk' is for ESP32 .* but the unit is ESP32-C3" "$T/out2"
check "... no advice to use --chip (run has none)" bash -c "! grep -q -- '--chip' '$T/out2'"
check "... and the unit is untouched" cmp -s "$T/c3.bin" "$T/unit.orig"

# --- flash encryption: refused before anything is written ------------------------------------
cp "$T/unit.orig" "$T/crypt.bin"
"$FL" run esp32-obk --port "sim:esp32?flash=$T/crypt.bin&timescale=0&crypt=1" >"$T/out3" 2>&1
rc=$?
check "a unit with flash encryption does not PASS (exit $rc)" [ $rc -ne 0 ]
check "... the message says flash encryption" grep -qi "encrypt" "$T/out3"
check "... and the unit is untouched" cmp -s "$T/crypt.bin" "$T/unit.orig"
finish
