#!/usr/bin/env bash
# flashline.chip, the driver-neutral Lua session (tests/lua/chip_test.lua).
source "$(dirname "$0")/lib.sh"
cp "$SHARED/testdata/tuya-dumps/01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin" "$T/unit.bin"
chmod u+w "$T/unit.bin"
"$FL" lua tests/lua/chip_test.lua "$T/unit.bin" >"$T/stdout" 2>"$T/out"
rc=$?
cat "$T/out"
line=$(grep '^RESULT' "$T/out")
_passed=$((_passed + $(sed -E 's/.*passed=([0-9]+).*/\1/' <<<"${line:-passed=0}")))
_failed=$((_failed + $(sed -E 's/.*failed=([0-9]+).*/\1/' <<<"${line:-failed=1}")))
[ $rc -eq 0 ] || { fail "chip_test.lua exited $rc"; tail -5 "$T/out"; }
finish
