#!/usr/bin/env bash
# tests/cli/esp.sh — flashline info|read|write|erase|verify on ESP chips (the esp-rom
# driver) against the simulator through `sim:` ports with a flash file: every result
# is checked in the file the simulator saves, bytes outside a write included.
source "$(dirname "$0")/lib.sh"

# mkflash FILE SIZE SEED: reproducible random flash content
mkflash() { python3 -c "import random,sys; r=random.Random($3); sys.stdout.buffer.write(bytes(r.getrandbits(8) for _ in range($2)))" >"$1"; }
# same FILE1 FILE2 [OFF LEN]: the files are equal outside [OFF, OFF+LEN)
same_outside() {
    python3 - "$@" <<'EOF'
import sys
a = open(sys.argv[1], 'rb').read(); b = open(sys.argv[2], 'rb').read()
off = int(sys.argv[3], 0) if len(sys.argv) > 3 else 0
n = int(sys.argv[4], 0) if len(sys.argv) > 4 else 0
sys.exit(0 if len(a) == len(b) and a[:off] == b[:off] and a[off + n:] == b[off + n:] else 1)
EOF
}
# range_is FILE OFF DATAFILE: FILE holds DATAFILE at OFF
range_is() { python3 -c "import sys; a=open('$1','rb').read(); d=open('$3','rb').read(); o=$2; sys.exit(0 if a[o:o+len(d)]==d else 1)"; }
range_ff() { python3 -c "import sys; a=open('$1','rb').read(); sys.exit(0 if a[$2:$2+$3]==b'\xff'*$3 else 1)"; }

port() { echo "sim:$1?timescale=0&size=1M&flash=$2${3:+&$3}"; }

# ---- ESP32 and ESP32-C3: info, write, verify, read back, erase ---------------------------
for chip in esp32 esp32c3; do
    F=$T/$chip.bin
    mkflash "$F" 1048576 1
    cp "$F" "$T/$chip.orig"
    "$FL" info --chip $chip --port "$(port $chip "$F")" >"$T/info" 2>&1
    check "$chip: info names the driver, the ROM loader and the MD5 proof" \
        grep -q "esp-rom" "$T/info"
    check "$chip: info: 1 MiB flash" grep -qiE "1024 KiB|1 MiB|1048576" "$T/info"
    check "$chip: info: the MAC from the eFuses" grep -q "MAC: .*(eFuse)" "$T/info"
    check "$chip: info left the flash alone" cmp -s "$F" "$T/$chip.orig"

    mkflash "$T/data" 49000 2
    "$FL" write --raw --offset 0x21234 --chip $chip --port "$(port $chip "$F")" "$T/data" \
        >"$T/out" 2>&1
    check "$chip: write exits 0" test $? -eq 0
    check "$chip: write says it is proven by the ROM's MD5" grep -q "the ROM's MD5" "$T/out"
    check "$chip: the file holds the data" range_is "$F" 0x21234 "$T/data"
    check "$chip: nothing else changed (partial sectors kept)" same_outside "$F" "$T/$chip.orig" 0x21234 49000
    "$FL" verify --raw --offset 0x21234 --chip $chip --port "$(port $chip "$F")" "$T/data" \
        >"$T/out" 2>&1
    check "$chip: verify exits 0" test $? -eq 0
    "$FL" read --offset 0x21234 --size 49000 -o "$T/back" --chip $chip --port "$(port $chip "$F")" \
        >"$T/out" 2>&1
    check "$chip: read exits 0" test $? -eq 0
    check "$chip: read back equals the data" cmp -s "$T/back" "$T/data"
    cp "$F" "$T/$chip.before-erase"
    "$FL" erase --offset 0x30000 --size 0x2000 --chip $chip --port "$(port $chip "$F")" \
        >"$T/out" 2>&1
    check "$chip: erase exits 0" test $? -eq 0
    check "$chip: the range is erased" range_ff "$F" 0x30000 0x2000
    check "$chip: erase kept the rest" same_outside "$F" "$T/$chip.before-erase" 0x30000 0x2000
    # a byte changed in the file: verify fails (exit 1) and names the sector
    python3 -c "d=bytearray(open('$T/data','rb').read()); d[9000]^=1; open('$T/data2','wb').write(d)"
    expect_exit 1 "$chip: verify of a changed file fails" \
        "$FL" verify --raw --offset 0x21234 --chip $chip --port "$(port $chip "$F")" "$T/data2" \
        >"$T/out" 2>&1
    check "$chip: the bad sector is named" grep -q "0x023000" "$T/out"
done

# ---- ESP8266: write whole sectors; read and verify refused clearly ---------------------------
F=$T/esp8266.bin
mkflash "$F" 1048576 3
cp "$F" "$T/esp8266.orig"
mkflash "$T/d8266" 20480 4
"$FL" write --raw --offset 0xD000 --chip esp8266 --port "$(port esp8266 "$F")" "$T/d8266" >"$T/out" 2>&1
check "esp8266: write across a 64 KiB boundary exits 0" test $? -eq 0
cp "$T/out" "$T/out8266"
check "esp8266: the data is there" range_is "$F" 0xD000 "$T/d8266"
check "esp8266: nothing else erased (ROM erase-size bug worked around)" \
    same_outside "$F" "$T/esp8266.orig" 0xD000 20480
check "esp8266: write says how it was checked" grep -q "per-block checksum" "$T/out8266"
expect_exit 7 "esp8266: read is refused" \
    "$FL" read --size 4096 -o "$T/x" --chip esp8266 --port "$(port esp8266 "$F")" >"$T/out" 2>&1
check "esp8266: and says why" grep -q "ESP8266 ROM loader can neither read flash" "$T/out"
expect_exit 7 "esp8266: verify is refused" \
    "$FL" verify --raw --offset 0xD000 --chip esp8266 --port "$(port esp8266 "$F")" "$T/d8266" >"$T/out" 2>&1
head -c 5000 "$T/d8266" >"$T/short"
expect_exit 7 "esp8266: a write that starts inside a sector is refused" \
    "$FL" write --raw --offset 0x40010 --chip esp8266 --port "$(port esp8266 "$F")" "$T/short" >"$T/out" 2>&1
check "esp8266: ... naming the sector boundary" grep -q "4 KiB sector boundary" "$T/out"
head -c 4096 "$T/d8266" >"$T/one"
expect_exit 7 "esp8266: one sector alone is refused (the ROM's erase bug takes the next)" \
    "$FL" write --raw --offset 0x40000 --chip esp8266 --port "$(port esp8266 "$F")" "$T/one" >"$T/out" 2>&1
check "esp8266: refusals left the flash alone" same_outside "$F" "$T/esp8266.orig" 0xD000 20480
# A release image ends anywhere (OpenESP8266_*.factory.bin): the rest of its last
# sector is erased, and said, since this ROM cannot read it to keep it.
cp "$F" "$T/esp8266.before_tail"
expect_exit 0 "esp8266: a write ending inside a sector goes ahead" \
    "$FL" write --raw --offset 0x40000 --chip esp8266 --port "$(port esp8266 "$F")" "$T/short" >"$T/out" 2>&1
check "esp8266: ... saying the rest of the last sector is erased" \
    grep -q "0x041388..0x042000 (the rest of the last sector after the data) is erased" "$T/out"
check "esp8266: ... the data is there" range_is "$F" 0x40000 "$T/short"
check "esp8266: ... the rest of its sector is 0xFF" range_ff "$F" 0x41388 3192
check "esp8266: ... and nothing else changed" same_outside "$F" "$T/esp8266.before_tail" 0x40000 8192

F=$T/e8erase.bin
mkflash "$F" 1048576 9
"$FL" erase --offset 0x20000 --size 0x2000 --chip esp8266 --port "$(port esp8266 "$F")" >"$T/out" 2>&1
check "ESP8266 erase: exit 0, the range erased" bash -c "[ $? -eq 0 ] && python3 -c \"import sys; d=open('$F','rb').read(); sys.exit(0 if d[0x20000:0x22000]==b'\\xff'*0x2000 else 1)\""
check "... said to be unverified (its ROM cannot read), not 'verified blank'" \
    bash -c "grep -q 'not verified blank: the ESP8266 ROM' '$T/out' && ! grep -q 'verified blank by' '$T/out'"

# ---- refusals ------------------------------------------------------------------------------
F=$T/sdm.bin
mkflash "$F" 1048576 5
expect_exit 7 "Secure Download Mode: backup refused" \
    "$FL" read -o "$T/x" --chip esp32c3 --port "$(port esp32c3 "$F" sdm=1)" >"$T/out" 2>&1
check "... this unit's ROM is in Secure Download Mode: it cannot be read or backed up" \
    grep -q "this unit's ROM is in Secure Download Mode: it cannot be read or backed up" "$T/out"

"$FL" info --chip esp32c3 --port "$(port esp32c3 "$T/sdm.bin" sdm=1)" >"$T/out" 2>&1
check "Secure Download Mode: info works, the size assumed (not blamed on Beken's flash loaders)" \
    bash -c "grep -q 'flash size: .*assumed' '$T/out' && ! grep -q 'flash loaders' '$T/out'"

F=$T/crypt.bin
mkflash "$F" 1048576 6
cp "$F" "$T/crypt.orig"
expect_exit 7 "flash encryption: write refused" \
    "$FL" write --raw --offset 0x10000 --chip esp32 --port "$(port esp32 "$F" crypt=1)" "$T/data" >"$T/out" 2>&1
check "... saying flash encryption" grep -q "flash encryption" "$T/out"
check "... the unit untouched" cmp -s "$F" "$T/crypt.orig"

expect_exit 1 "wrong --chip: esp32 named, esp32c3 on the port" \
    "$FL" info --chip esp32 --port "$(port esp32c3 "$T/esp32c3.bin")" >"$T/out" 2>&1
check "... naming both" grep -q "this unit is an ESP32-C3 .*not the ESP32 --chip names: use --chip esp32c3" "$T/out"

expect_exit 5 "no --chip on an ESP unit: the Beken driver finds nothing (exit 5)" \
    "$FL" info --link-timeout 2 --port "$(port esp32 "$T/esp32.bin")" >"$T/out" 2>&1
check "... and the error says that an ESP unit needs --chip" \
    grep -q "without --chip only the beken-uart driver was tried: a unit for the esp-rom driver needs its --chip (esp8266 esp32 " "$T/out"

# ---- faults: drop/corrupt at 0.001 per message ------------------------------------------------
F=$T/faults.bin
mkflash "$F" 1048576 7
for seed in 1 2 3; do
    cp "$F" "$T/faults.before"
    mkflash "$T/fdata" 131072 $((10 + seed))
    "$FL" write --raw --offset 0x40000 --chip esp32 \
        --port "$(port esp32 "$F" "drop=0.001&corrupt=0.001&seed=$seed&events=$T/fev")" "$T/fdata" >"$T/out" 2>&1
    rc=$?
    if [ $rc -eq 0 ]; then
        check "faults seed $seed: write right" range_is "$F" 0x40000 "$T/fdata"
    else
        check "faults seed $seed: a clear failure (exit $rc)" grep -qiE "error|line|reply" "$T/out"
    fi
    check "faults seed $seed: nothing outside the range changed" \
        same_outside "$F" "$T/faults.before" 0x40000 131072
    "$FL" read --offset 0x40000 --size 131072 -o "$T/fback" --chip esp32 \
        --port "$(port esp32 "$F" "drop=0.001&corrupt=0.001&seed=$((seed + 50))&events=$T/fev")" >"$T/out" 2>&1
    rc2=$?
    if [ $rc -eq 0 ] && [ $rc2 -eq 0 ]; then
        check "faults seed $seed: read back right" cmp -s "$T/fback" "$T/fdata"
    elif [ $rc2 -ne 0 ]; then
        check "faults seed $seed: read failed clearly (exit $rc2)" grep -qiE "error|line|reply" "$T/out"
    fi
done

# the runs above are only a test if the line did damage something
check "faults were injected (dropped+garbled > 0 over the runs)" python3 -c "
import re, sys
n = sum(int(a) + int(b) for a, b in re.findall(r'dropped=(\d+) garbled=(\d+)', open('$T/fev').read()))
sys.exit(0 if n > 0 else 1)"

# ---- stalls: a reply held up 300 ms is late, not a reset -----------------------------------------
F=$T/stall.bin
mkflash "$F" 1048576 8
"$FL" read --offset 0x20000 --size 0x8000 -o "$T/sback" --chip esp32 \
    --port "$(port esp32 "$F" "stall=300&stallrate=0.02")" >"$T/out" 2>&1
check "stalled replies: the read succeeds (exit $?)" cmp -s "$T/sback" <(head -c $((0x28000)) "$F" | tail -c $((0x8000)))
check "... without taking the unit for reset" bash -c "! grep -q 'reset during the operation' '$T/out'"
# a write through the same held-up replies: the data lands, and nothing outside it changes
cp "$F" "$T/stall.orig"
head -c $((0x9000)) /dev/urandom >"$T/sdata"
"$FL" write --raw --offset 0x41000 --chip esp32 \
    --port "$(port esp32 "$F" "stall=300&stallrate=0.02&seed=5")" "$T/sdata" >"$T/out" 2>&1
check "stalled replies: the write succeeds (exit $?)" range_is "$F" 0x41000 "$T/sdata"
check "... and nothing outside the written range changed" same_outside "$F" "$T/stall.orig" 0x41000 $((0x9000))

# ---- help tells the truth for ESP ------------------------------------------------------------
"$FL" info --help >"$T/help" 2>&1
check "info --help lists the esp-rom driver and its chips" grep -q "esp-rom" "$T/help"
check "info --help says what --reset does on ESP" grep -q "hold BOOT" "$T/help"
check "info --help says the ESP8266 ROM keeps 115200" grep -q "ESP8266" "$T/help"
"$FL" --help >"$T/help" 2>&1
check "flashline --help names the Espressif family in its first lines" \
    bash -c "head -6 '$T/help' | grep -q 'Espressif ESP8266'"
check "... the sim verb is not said to be Beken's only" grep -qE "^  sim .*Espressif" "$T/help"
check "... exit 7 covers the ESP refusals" grep -q "flash encryption or secure boot" "$T/help"
"$FL" erase --help >"$T/help" 2>&1
check "erase --help says what --all does on ESP chips" grep -q "ESP chips guard nothing" "$T/help"
"$FL" write --help >"$T/help" 2>&1
check "write --help says where ESP images go and how they are proven" \
    bash -c "grep -q 'OpenESP \*.factory.bin goes whole at 0x0' '$T/help' && grep -q \"ROM's MD5\" '$T/help'"
"$FL" verify --help >"$T/help" 2>&1
check "verify --help says ESP8266 verify is refused" grep -q "refused (exit 7) on the ESP8266" "$T/help"
"$FL" read --help >"$T/help" 2>&1
check "read --help says how ESP reads are proven" grep -q "READ_FLASH_SLOW" "$T/help"

finish
