#!/usr/bin/env bash
# flashline.chip on an ESP chip: the same session methods as Beken (tests/lua/chip_esp_test.lua).
source "$(dirname "$0")/lib.sh"
lua_test tests/lua/chip_esp_test.lua "$T/unit.bin"
finish
