#!/usr/bin/env bash
# The new flash-writing paths under line faults (drop, corrupt, stall,
# brown-out), several seeds each: obk-config write (only the config sector),
# and the UART write that classifies sectors from the session's own read
# (Lua s:read of the whole flash, then s:write).  Every run either succeeds
# with the written range exact, or fails with a non-zero exit; in both cases
# every byte outside the written range is as before: never a silent wrong byte.
source "$(dirname "$0")/lib.sh"

# the line faults (a brown-out is added per path: it counts host bytes, and the
# two paths send very different amounts before they write)
FAULTS=(
    "drop=0.005&seed=3" "drop=0.01&seed=19"
    "corrupt=0.01&seed=5" "corrupt=0.02&seed=23"
    "stall=300&stallrate=0.005&seed=7"
    "drop=0.003&corrupt=0.005&stall=200&stallrate=0.003&seed=29"
)
# lighter for the Lua path: it reads the whole 2 MiB first, and every drop there
# costs a real timeout
LUA_FAULTS=(
    "drop=0.002&seed=19" "drop=0.003&seed=8"
    "corrupt=0.005&seed=23" "corrupt=0.01&seed=5"
    "stall=300&stallrate=0.005&seed=7"
    "drop=0.003&corrupt=0.005&stall=200&stallrate=0.003&seed=29"
)
# what a failure must say: an error, or the reset it met
said() { grep -qiE "error|reset during" "$1"; }

# --- obk-config write: only 0x1D1000..0x1D1FFF may change -----------------------------
python3 -c "import random,sys; open(sys.argv[1],'wb').write(random.Random(41).randbytes(2 << 20))" "$T/base.bin"
# a valid config to start from, written without faults
"$FL" obk-config write --port "sim:bk7231n?flash=$T/base.bin&timescale=0" --replace-invalid \
    --wifi-ssid Base --name base >/dev/null 2>&1
check "obk-config: the base image holds a config" grep -q CFG <(dd if="$T/base.bin" bs=4096 skip=$((0x1D1)) count=1 status=none)
# the expected result: the same write on a clean line
cp "$T/base.bin" "$T/want.bin"
"$FL" obk-config write --port "sim:bk7231n?flash=$T/want.bin&timescale=0" --wifi-ssid FaultNet \
    --name unit7 --pin 6=Rel,1 >/dev/null 2>&1
check "obk-config: a clean write changes the config sector" bash -c '! cmp -s "$1" "$2"' _ "$T/base.bin" "$T/want.bin"
n_ok=0 n_fail=0
for q in "${FAULTS[@]}" "brownout=1&seed=1" "brownout=2500&seed=2"; do
    cp "$T/base.bin" "$T/o.bin"
    "$FL" obk-config write --port "sim:bk7231n?flash=$T/o.bin&timescale=0&$q&events=$T/o.ev" \
        --wifi-ssid FaultNet --name unit7 --pin 6=Rel,1 >"$T/o.out" 2>&1
    rc=$?
    case $q in brownout*) check "obk-config [$q]: the brown-out happened" grep -q "^brownout" "$T/o.ev" ;; esac
    check "obk-config [$q] (exit $rc): nothing outside the config sector changed" \
        outside_same "$T/base.bin" "$T/o.bin" 0x1D1000 0x1D2000
    if [ $rc -eq 0 ]; then
        n_ok=$((n_ok + 1))
        check "obk-config [$q]: success means the sector is exactly the clean write's" \
            cmp -s "$T/o.bin" "$T/want.bin"
    else
        n_fail=$((n_fail + 1))
        check "obk-config [$q]: the failure says so" said "$T/o.out"
    fi
done
echo "     (obk-config: $n_ok succeeded, $n_fail failed clearly; ${SECONDS}s)"
check "obk-config: some faulty runs succeeded (recovery happened)" [ $n_ok -ge 1 ]

# --- Lua s:read of the whole flash, then s:write (sectors classified from that read) ---
cat >"$T/rw.lua" <<'EOF'
local beken = require("flashline").beken
local port, chip, path, at = ...
local s <close> = assert(beken.connect(port, chip))
assert(s:read(0, s:info().flash_size))
local f = assert(io.open(path, "rb")); local data = f:read("a"); f:close()
assert(s:write(tonumber(at), data))
EOF
# a blob at 0x100000..0x121800 (its end inside a sector): in the first 64 KiB
# window sectors 0, 3, 4 and 8 differ from the flash, the second window is the
# flash's own bytes (found unchanged from the read: one window CRC), and the
# last half sector differs
python3 - "$T/base.bin" "$T/blob.bin" "$T/rw_want.bin" <<'PY'
import sys
d = bytearray(open(sys.argv[1], 'rb').read())
b = bytearray(d[0x100000:0x121800])
for s in (0, 3, 4, 8, 0x21):
    for i in range(s * 4096 + 100, s * 4096 + 900):
        b[i] ^= 0x5A
open(sys.argv[2], 'wb').write(b)
d[0x100000:0x121800] = b
open(sys.argv[3], 'wb').write(d)
PY
n_ok=0 n_fail=0
for q in "${LUA_FAULTS[@]}" "brownout=3000&seed=1" "brownout=20000&seed=2"; do
    cp "$T/base.bin" "$T/l.bin"
    "$FL" lua "$T/rw.lua" "sim:bk7231n?flash=$T/l.bin&timescale=0&$q&events=$T/l.ev" bk7231n "$T/blob.bin" 0x100000 \
        >"$T/l.out" 2>&1
    rc=$?
    case $q in brownout*) check "lua read+write [$q]: the brown-out happened" grep -q "^brownout" "$T/l.ev" ;; esac
    check "lua read+write [$q] (exit $rc): nothing outside 0x100000..0x121800 changed" \
        outside_same "$T/base.bin" "$T/l.bin" 0x100000 0x121800
    if [ $rc -eq 0 ]; then
        n_ok=$((n_ok + 1))
        check "lua read+write [$q]: success means the range holds the blob" cmp -s "$T/l.bin" "$T/rw_want.bin"
    else
        n_fail=$((n_fail + 1))
        check "lua read+write [$q]: the failure says so" said "$T/l.out"
    fi
done
echo "     (lua read+write: $n_ok succeeded, $n_fail failed clearly; ${SECONDS}s)"
check "lua read+write: some faulty runs succeeded" [ $n_ok -ge 1 ]

finish
