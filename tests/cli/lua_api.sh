#!/usr/bin/env bash
# The Lua API contract (tests/lua/api_test.lua) and the example flow.
source "$(dirname "$0")/lib.sh"
cp "$SHARED/testdata/tuya-dumps/01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin" "$T/unit.bin"
chmod u+w "$T/unit.bin"
# print() goes to the log (stderr) like every line a script or step writes
lua_test tests/lua/api_test.lua "$T/unit.bin"
check "print() wrote nothing to stdout" [ ! -s "$T/stdout" ]

cp "$SHARED/testdata/tuya-dumps/01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin" "$T/unit2.bin"
chmod u+w "$T/unit2.bin"
"$FL" lua lua/examples/backup_and_flash.lua "sim:bk7231n?flash=$T/unit2.bin&timescale=0&quiet=1" \
    bk7231n "$SHARED/testdata/obk-images/OpenBK7231N_QIO_1.18.300.bin" "$T" >"$T/ex" 2>&1
check "example flow passes" grep -q '^PASS ' "$T/ex"
check "example flow saved a backup equal to the original flash" \
    cmp -s "$(ls "$T"/*Z.bin | head -1)" "$SHARED/testdata/tuya-dumps/01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin"
"$FL" lua /nonexistent.lua 2>"$T/err"
check "a missing script exits 2" [ $? -eq 2 ]
printf 'error("boom")\n' >"$T/boom.lua"
"$FL" lua "$T/boom.lua" 2>"$T/err"
check "a raising script exits 2 with its message" grep -q "boom" "$T/err"
finish
