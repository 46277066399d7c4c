-- chip_esp_test.lua — flashline.chip on the Espressif ROM loader (issue 13
-- point 4: the same session methods as for Beken): info, read_mac, write,
-- read back, verify (match and mismatch), erase, the ROM's refusals as
-- nil+message+kind.  Run by tests/cli/lua_chip_esp.sh:
--   flashline lua chip_esp_test.lua FLASHFILE
local flashline = require "flashline"
local t = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local check = t.check

local flash_file = assert(arg[1], "usage: chip_esp_test.lua FLASHFILE")
local chip, util = flashline.chip, flashline.util

local fams = {}
for _, c in ipairs(chip.chips()) do fams[c.name] = c.family end
check(fams.esp32 == "esp" and fams.esp8266 == "esp" and fams.esp32c3 == "esp", "chips() lists the ESP family")
check(chip.drivers():find("esp-rom", 1, true) ~= nil, "drivers() names esp-rom")

local mac = "24:0A:C4:13:57:9B"
local url = "sim:esp32?timescale=0&quiet=1&mac=" .. mac .. "&flash=" .. flash_file
local blob = ("esp-lua-session"):rep(600) -- 9000 bytes: two whole sectors and a partial one
do
  local s <close> = assert(chip.connect(url, "esp32", { baud = 921600 }))
  local info = s:info()
  check(info.chip == "esp32" and info.driver == "esp-rom" and info.access == "ROM loader",
        "info(): chip, driver, access")
  check(info.chip_id == 0 and info.jedec == "C84016" and info.flash_size == 4 * 1024 * 1024,
        "info(): chip ID, JEDEC, size (" .. tostring(info.jedec) .. ")")
  check(info.baud == 921600 and info.verified_by == "the ROM's MD5", "info(): baud, verified by the ROM's MD5")
  check(s:read_mac() == mac, "read_mac() is the unit's eFuse MAC")

  local calls = 0
  check(s:write(0x100000, blob, function() calls = calls + 1 end) == true, "write")
  check(calls > 0, "write reported progress")
  check(s:read(0x100000, #blob) == blob, "read back (READ_FLASH_SLOW) what was written")
  check(s:verify(0x100000, blob) == true, "verify matches")
  local ok, err, kind, bad = s:verify(0x100000, blob:sub(1, 0x1000) .. blob:sub(0x1001):upper())
  check(ok == nil and kind == "verify" and bad == 0x101000,
        "verify mismatch → kind 'verify', first bad sector " .. tostring(bad) .. " (" .. tostring(err) .. ")")
  check(s:erase(0x102000, 0x1000) == true and s:read(0x102000, 0x1000) == ("\255"):rep(0x1000), "erase → blank")
  local r, e, k = s:read(0x3FF000, 0x2000)
  check(r == nil and k == "refused" and e:find("past the end", 1, true), "read past the end → refused")
  check(s:stats().blocks_written > 0, "stats()")
end
-- what the simulator kept, read without the driver
local kept = assert(util.load(flash_file))
check(kept:sub(0x100001, 0x100000 + 0x2000) == blob:sub(1, 0x2000), "the flash file holds the written sectors")
check(kept:sub(0x102001, 0x103000) == ("\255"):rep(0x1000), "... and the erased one")

local s2, m2, k2 = chip.connect("sim:esp32c3?timescale=0&quiet=1", "esp32")
check(s2 == nil and k2 == "chip" and m2:find("ESP32-C3", 1, true), "an ESP32-C3 named esp32 → nil, msg, 'chip'")

do
  local s3 <close> = assert(chip.connect("sim:esp8266?timescale=0&quiet=1", "esp8266"))
  local r3, m3, k3 = s3:read(0, 16)
  check(r3 == nil and k3 == "refused" and m3:find("ESP8266", 1, true), "ESP8266 read → refused (" .. tostring(m3) .. ")")
  check(s3:read_mac() ~= nil, "ESP8266 read_mac() from its OTP")
end
do
  local s4 <close> = assert(chip.connect("sim:esp32c3?timescale=0&quiet=1&sdm=1", "esp32c3"))
  local r4, m4, k4 = s4:read(0, 16)
  check(r4 == nil and k4 == "refused" and m4:find("Secure Download Mode", 1, true),
        "Secure Download Mode read → refused")
end
t.finish()
