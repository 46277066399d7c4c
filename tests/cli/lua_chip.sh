#!/usr/bin/env bash
# flashline.chip, the driver-neutral Lua session (tests/lua/chip_test.lua).
source "$(dirname "$0")/lib.sh"
cp "$SHARED/testdata/tuya-dumps/01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin" "$T/unit.bin"
chmod u+w "$T/unit.bin"
lua_test tests/lua/chip_test.lua "$T/unit.bin"
finish
