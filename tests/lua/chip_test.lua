-- chip_test.lua — flashline.chip, the driver-neutral session: what it reports,
-- nil+message+kind for expected failures (a chip the port's driver does not
-- serve, refused ranges, mismatches), misuse raising before anything is
-- sent, callbacks, <close>.  Run by tests/cli/lua_chip.sh:
--   flashline lua chip_test.lua FLASHFILE
local flashline = require "flashline"
local t = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local check, raises = t.check, t.raises

local flash_file = assert(arg[1], "usage: chip_test.lua FLASHFILE")
local chip, image, util = flashline.chip, flashline.image, flashline.util
check(type(chip) == "table" and chip == require "flashline.chip", "require 'flashline' gives .chip")

-- misuse raises, before any port is opened (in methods Lua counts the
-- arguments after self: s:read(addr) names addr argument #1)
raises(function() chip.connect("sim:bk7231n", "bk9999") end, "unknown chip 'bk9999'", "unknown chip raises")
raises(function() chip.connect(nil, "bk7231n") end, "bad argument #1 to 'connect'", "missing port raises")
raises(function() chip.connect("sim:bk7231n", "bk7231n", { baud = 5 }) end, "opts.baud", "bad baud raises")
raises(function() chip.connect("sim:bk7231n", "bk7231n", { reset = "kick" }) end, "opts.reset", "bad reset raises")
raises(function() chip.connect("sim:bk7231n", "bk7231n", { allow_bootloader = "yes" }) end,
       "opts.allow_bootloader", "allow_bootloader must be a boolean")

-- expected failures: nil, message, kind
local s0, m0, k0 = chip.connect("sim:bk7231n?timescale=0&quiet=1", "spi-nor")
check(s0 == nil and k0 == "usage" and m0:find("needs a SPI programmer", 1, true),
      "spi-nor over a UART port → nil, msg, 'usage' (" .. tostring(m0) .. ")")
local s1, m1 = chip.connect("/dev/ttyNOPE9", "bk7231n")
check(s1 == nil and m1:find("does not exist", 1, true), "missing port → nil, message")

-- the chip table, with families
local fams = {}
for _, c in ipairs(chip.chips()) do fams[c.name] = c.family end
check(fams.bk7231n == "beken" and fams["spi-nor"] == "spi-nor", "chips() lists families")
check(chip.drivers():find("beken-uart", 1, true) ~= nil, "drivers() names the UART driver")

-- placement through the port (the UART path keeps an N bootloader)
local img = assert(util.load("../shared/testdata/obk-images/OpenBK7231N_QIO_1.18.300.bin"))
local p = assert(image.plan(img, "OpenBK7231N_QIO_1.18.300.bin", "bk7231n", { port = "sim:bk7231n" }))
check(p.offset == 0x11000 and p.skip == 0x11000, "plan through a UART port: bootloader kept")
raises(function() image.plan(img, "x.bin", "bk7231n", { port = 7 }) end, "option 'port'", "port must be a string")
local tn = assert(util.load("../shared/testdata/obk-images/OpenBK7231T_QIO_1.18.300.bin"))
local np, nm, nk = image.plan(tn, "OpenBK7231N_QIO_renamed.bin", "bk7231n", { port = "sim:bk7231n" })
check(np == nil and nk == "format" and nm:find("bk7231t image", 1, true), "a T image renamed to N is refused")

-- a real session on the simulator
local url = "sim:bk7231n?timescale=0&quiet=1&flash=" .. flash_file
local kept
do
  local s <close> = assert(chip.connect(url, "bk7231n", { baud = 921600 }))
  kept = s
  local info = s:info()
  check(info.chip == "bk7231n" and info.driver == "beken-uart" and info.access == "ROM loader",
        "info(): chip, driver, access")
  check(info.loader == "rom" and info.flash_size == 2097152 and info.jedec == "C84015",
        "info(): loader kept for UART sessions, size, JEDEC")
  check(info.programmer:find("sim:bk7231n", 1, true) ~= nil and info.baud == 921600, "info(): programmer, baud")
  check(info.verified_by == "the chip's CRC", "info(): how writes are verified")
  check(tostring(s):find("bk7231n via beken-uart", 1, true) ~= nil, "tostring names chip and driver")

  raises(function() s:read(-1, 16) end, "bad argument #1 to 'read' (address out of range)", "negative address raises")
  raises(function() s:write(0x100000, {}) end, "bad argument #2 to 'write' (string expected", "data must be a string")
  raises(function() s:read(0, 16, 5) end, "bad argument #3 to 'read' (function expected", "callback must be a function")

  local r, e, k = s:read(0x1FF000, 0x2000)
  check(r == nil and k == "refused" and e:find("past the end", 1, true), "read past the end → refused")
  local w, e2, k2 = s:write(0x0, ("\0"):rep(16))
  check(w == nil and k2 == "refused" and e2:find("allow-bootloader", 1, true), "bootloader write refused")

  local blob = ("chip-session"):rep(700)
  local calls = 0
  check(s:write(0x100000, blob, function() calls = calls + 1 end) == true, "write")
  check(calls > 0, "write reported progress")
  check(s:read(0x100000, #blob) == blob, "read back what was written")
  check(s:verify(0x100000, blob) == true, "verify matches")
  local ok, err, kind, bad = s:verify(0x100000, blob:sub(1, 0x1000) .. blob:sub(0x1001):upper())
  check(ok == nil and kind == "verify" and bad == 0x101000, "verify mismatch → kind, first bad sector " .. tostring(bad))
  local crc = s:crc(0x100000, 0x1000)
  check(crc == util.crc(blob:sub(1, 0x1000)), "device CRC equals the CRC of the data")
  check(s:erase(0x100000, 0x1000) == true and s:read(0x100000, 0x1000) == ("\255"):rep(0x1000), "erase → blank")
  local st = s:stats()
  check(st.blocks_written >= 3 and st.retries == 0 and st.resets == 0, "stats()")

  raises(function() s:read(0x100000, 0x2000, function() s:read(0, 1) end) end,
         "the session is busy", "no chip operation from inside a callback")
  raises(function() s:read(0x100000, 0x2000, function() error("stop here") end) end,
         "stop here", "an error in the callback stops the operation and is raised")
  check(s:read(0x100000, 16) ~= nil, "the session still works afterwards")
  s:allow_bootloader(true)
  local boot = assert(s:read(0x10000, 0x1000))
  check(s:write(0x10000, boot) == true, "with allow_bootloader the bootloader area is written")
  check(s:unprotect() == true and s:protect() == true, "protect / unprotect")
  local mac, _, mk = s:read_mac()
  check((mac and mac:match("^%x%x:%x%x:")) or mk == "format", "read_mac: a MAC, or nil, msg, 'format'")
end
raises(function() kept:info() end, "session is closed", "<close> closed the session")
check(pcall(kept.close, kept), "close twice is harmless")

t.finish()
