-- api_test.lua — the Lua API's contract: modules, nil+message for expected
-- failures, errors naming the argument for misuse, <close> releasing handles,
-- progress callbacks.  Run by tests/cli/lua_api.sh:  flashline lua api_test.lua FLASHFILE
local flashline = require "flashline"
local t = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local check, raises = t.check, t.raises

local flash_file = assert(arg[1], "usage: api_test.lua FLASHFILE")
for _, m in ipairs { "link", "beken", "log", "util", "db", "tuya", "image" } do
  check(type(flashline[m]) == "table", "require 'flashline' gives ." .. m)
end
local beken, link, util, db = flashline.beken, flashline.link, flashline.util, flashline.db

-- misuse raises and names the argument
raises(function() beken.connect("sim:bk7231n", "bk9999") end, "unknown chip 'bk9999'", "unknown chip raises")
raises(function() beken.crc({}) end, "bad argument #1 to 'crc'", "wrong type names the argument")
raises(function() link.open() end, "bad argument #1 to 'open'", "missing argument raises")
raises(function() util.sha256() end, "bad argument #1 to 'sha256'", "util misuse raises")

-- expected failures: nil, message, kind
local l, msg, kind = link.open("rfc2217://127.0.0.1:1")
check(l == nil and msg:find("cannot connect", 1, true) and kind == "link", "refused link → nil, msg, 'link'")
local s2, m2 = beken.connect("/dev/ttyNOPE9", "bk7231n")
check(s2 == nil and m2:find("does not exist", 1, true), "missing port → nil, message")
check(util.load("/nonexistent/file") == nil, "util.load of a missing file → nil")

-- utilities
check(util.crc("123456789") == 0x340BC6D9, "util.crc matches the loader CRC vector")
check(util.sha256("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "sha256('abc')")
check(util.hex("\1\171") == "01ab", "util.hex")

-- a real session on the simulator
local url = "sim:bk7231n?timescale=0&quiet=1&flash=" .. flash_file
do
  local s <close> = assert(beken.connect(url, "bk7231n", { baud = 921600, reset = "auto" }))
  local info = s:info()
  check(info.chip == "bk7231n" and info.loader == "rom" and info.flash_size == 2097152, "info()")
  check(info.jedec == "C84015", "JEDEC ID read: " .. tostring(info.jedec))
  local calls, last_total = 0, 0
  local data = s:read(0x11000, 0x3000, function(phase, done, total)
    calls = calls + 1; last_total = total
  end)
  check(data and #data == 0x3000, "read returns the bytes")
  check(calls > 0 and last_total == 0x3000, "progress callback called with the total")
  local r1, e1 = s:read(0x1FF000, 0x2000)
  check(r1 == nil and e1:find("past the end", 1, true), "read past the end → nil, message")
  local w1, e2, k2 = s:write(0x0, ("\0"):rep(16))
  check(w1 == nil and k2 == "refused" and e2:find("allow-bootloader", 1, true), "bootloader write refused")
  local blob = ("flashline!"):rep(500)
  check(s:write(0x100000, blob) == true, "write")
  check(s:verify(0x100000, blob) == true, "verify matches")
  local ok, err, kind, bad = s:verify(0x100000, blob:upper())
  check(ok == nil and kind == "verify" and bad == 0x100000 and err:find("differs", 1, true),
        "verify mismatch → nil, msg, 'verify', address")
  raises(function() s:read(0, 16, function() error("stop here") end) end, "stop here",
         "an error in the progress callback stops the read and is re-raised")
  check(s:read(0x100000, #blob) == blob, "session still usable after the callback error")
  raises(function() s:read(0, 0x2000, function() s:close() end) end,
         "cannot close the session from inside its own operation",
         "closing the session from its own progress callback raises")
  check(s:read(0x100000, 16) ~= nil, "session still usable after the refused close")
  check(s:stats().blocks_written >= 1, "stats()")

  -- misuse raises before anything happens: the session stays usable and closable
  raises(function() s:read(0, 16, 42) end, "bad argument #3 to 'read' (function expected",
         "a non-function progress callback raises")
  check(s:read(0x100000, 16) == blob:sub(1, 16), "session usable after the refused callback")
  raises(function() s:write(0x100000, "x", {}) end, "bad argument #3 to 'write'",
         "write with a bad callback raises")
  check(s:read(0x100000, 1) == "f", "the refused write wrote nothing")
  raises(function() s:erase(0x100000, 0x1000, "later") end, "bad argument #3 to 'erase'",
         "erase with a bad callback raises")
  check(s:read(0x100000, 1) == "f", "the refused erase erased nothing")
  raises(function() s:read(-1, 16) end, "address out of range", "negative address raises")
  raises(function() s:connect({ baud = -5 }) end, "opts.baud -5 is out of range", "negative baud raises")
  raises(function() s:connect({ link_timeout = 0/0 }) end, "opts.link_timeout", "nan link timeout raises")
  raises(function() s:read(0x100000, 16, function() s:read(0, 1) end) end, "the session is busy",
         "a chip operation from inside another one's callback raises")
  raises(function() s:read(0x100000, 16, function() error({ code = 7 }) end) end,
         "error object is a table {code = 7}", "a table raised in a callback is described")
  check(s:read(0x100000, 16) ~= nil, "session usable after the callback errors")
end
do -- a session whose read was refused can still be closed (it used to stay busy for ever)
  local s = assert(beken.connect(url, "bk7231n", { baud = 115200 }))
  raises(function() s:read(0, 16, 42) end, "function expected", "bad callback on a fresh session")
  local ok, err = pcall(s.close, s)
  check(ok, "and the session can be closed after it (" .. tostring(err) .. ")")
  local again = beken.connect(url, "bk7231n", { baud = 115200 })
  check(again ~= nil, "the port is free again after that close")
  if again then again:close() end
end
raises(function() beken.connect(url, "bk7231n", { baud = 12 }) end, "out of range",
       "beken.connect refuses a bad baud before opening the port")
check(link.open(url) ~= nil, "and left no port open")
raises(function() link.open(url):set_lines("yes") end, "bad argument #1 to 'set_lines' (boolean expected",
       "set_lines wants booleans")
raises(function() util.load(flash_file, -1) end, "max_bytes must be >= 0", "util.load with a negative limit raises")
collectgarbage()
-- <close> released the session: the port can be opened again at once
local s3 <close> = beken.connect(url, "bk7231n", { baud = 115200 })
check(s3 ~= nil, "the simulator port is free again after <close>")
s3:close()
raises(function() s3:read(0, 1) end, "session is closed", "using a closed session raises")

-- formats
local dump = assert(util.load(flash_file))
local cfg = flashline.tuya.extract(dump, "unit.bin")
check(cfg and cfg.module == "CB2S" and cfg.redacted == true, "tuya.extract finds the module")
check(cfg and not cfg.json:find('"ssid"%s*:%s*"[^<]') , "secrets redacted in the JSON")
check(cfg and type(cfg.obk) == "table" and cfg.obk.mode == "compat", "OBK pin map")
local none, why, kind3 = flashline.tuya.extract(("\255"):rep(8192), "blank.bin")
check(none == nil and kind3 == "format" and #why > 20, "blank data: nil, explanation, 'format'")
local info = flashline.image.identify(dump, "unit.bin")
check(info.kind == "full_dump" and info.chip == "bk7231n", "image.identify: full dump of a bk7231n")

-- audit log from Lua
local dbpath = os.tmpname()
os.remove(dbpath)
do
  local d <close> = assert(db.open(dbpath))
  local run = assert(d:run_begin { station = "lua-test", operator = "t", recipe = "api" })
  check(math.type(run) == "integer", "run_begin returns the run id")
  assert(d:step_begin("probe"))
  assert(d:measure("bytes", 42, "B"))
  assert(d:unit { mac = "C8:47:8C:00:00:01", chip = "bk7231n" })
  check(d:step_end("PASS") == true, "step_end")
  raises(function() d:unit { mac = 12345 } end, "field 'mac' must be a string", "numeric field raises")
  raises(function() d:step_end("MAYBE") end, "outcome must be PASS, FAIL, ERROR or ABORTED", "bad outcome raises")
  check(d:run_end("PASS") == true, "run_end")
end
os.remove(dbpath); os.remove(dbpath .. "-wal"); os.remove(dbpath .. "-shm")

t.finish()
