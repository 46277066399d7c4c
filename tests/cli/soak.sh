#!/usr/bin/env bash
# Fault soak, the quick set for `make test` (the full 1000-unit soak is `make soak`):
# simulated units flashed through lines with injected drops, garbles, stalls,
# hang-ups and brown-outs, each unit's final flash judged on its own (see
# tests/soak/soak.py).  First the simulator's event record the judging relies on.
source "$(dirname "$0")/lib.sh"
DUMPS=$SHARED/testdata/tuya-dumps
IMG=$SHARED/testdata/obk-images/OpenBK7231N_QIO_1.18.300.bin

# --- events=FILE records what really happened to the unit, nothing else -------
unit() { cp "$DUMPS/01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin" "$T/$1.bin"; chmod u+w "$T/$1.bin"; }
unit clean # --after stay: a closing Reboot command would be recorded too
"$FL" write "$IMG" --chip bk7231n --after stay --port "sim:bk7231n?flash=$T/clean.bin&timescale=0&events=$T/clean.ev" \
    >/dev/null 2>&1
check "clean line: write exits 0" [ $? -eq 0 ]
check "clean line: the record holds only the closing line-fault count, all zero" \
    [ "$(cat "$T/clean.ev")" = "line-faults dropped=0 garbled=0" ]
unit brown
"$FL" write "$IMG" --chip bk7231n --port "sim:bk7231n?flash=$T/brown.bin&timescale=0&brownout=300000&events=$T/brown.ev" \
    >/dev/null 2>&1
check "brown-out: write exits 8" [ $? -eq 8 ]
check "brown-out: recorded once, at the byte it was armed for" \
    [ "$(grep -c '^brownout host_bytes=3[0-9]\{5\}$' "$T/brown.ev")" = 1 ]
unit cut
"$FL" write "$IMG" --chip bk7231n --port "sim:bk7231n?flash=$T/cut.bin&timescale=0&disconnect=200000&events=$T/cut.ev" \
    >/dev/null 2>&1
check "hang-up: write exits 4" [ $? -eq 4 ]
check "hang-up: recorded once, no brown-out" \
    [ "$(grep -c '^disconnect ' "$T/cut.ev")" = 1 ] && ! grep -q brownout "$T/cut.ev"
unit bad
"$FL" write "$IMG" --chip bk7231n --port "sim:bk7231n?flash=$T/bad.bin&events=$T/no/such/dir/ev" \
    >/dev/null 2>"$T/err"
check "unwritable record: refused before the unit is touched" \
    cmp -s "$T/bad.bin" "$DUMPS/01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin"
check "unwritable record: the error names the file" grep -q "event record" "$T/err"

# --- the soak: fixed seeds, the issue's reports as fixed cases ----------------
python3 tests/soak/soak.py --units 28 --seed 20261204 --quick --require-faults --unit-timeout 120 \
    --cases tests/soak/cases.txt --bin "$FL" --shared "$SHARED" >"$T/soak.out" 2>&1
rc=$?
grep -v '^RESULT ' "$T/soak.out"
line=$(grep '^RESULT passed=' "$T/soak.out" | tail -n 1)
if [ -n "$line" ]; then
    p=$(sed -E 's/.*passed=([0-9]+).*/\1/' <<<"$line"); f=$(sed -E 's/.*failed=([0-9]+).*/\1/' <<<"$line")
    _passed=$((_passed + p)); _failed=$((_failed + f))
fi
check "soak: every must-be-zero count is zero (exit $rc)" [ $rc -eq 0 ]
finish
