-- lifetime_test.lua — no binding keeps a lua_State past its call.  A session is
-- created and used (with a progress callback) inside a coroutine; the coroutine
-- is collected; then every path that reports events (progress, log, cancel
-- polling) runs from the main thread.  A binding that cached the coroutine's
-- lua_State reads freed memory here: run under valgrind by tests/cli/lua_sandbox.sh.
--   flashline lua tests/lua/lifetime_test.lua FLASHFILE
local beken = require "flashline.beken"
local url = "sim:bk7231n?timescale=0&quiet=1&flash=" .. assert(arg[1], "usage: lifetime_test.lua FLASHFILE")

local session
local gone = setmetatable({}, { __mode = "v" })
local function use_in_coroutine()
  local co = coroutine.create(function()
    session = assert(beken.connect(url, "bk7231n", { baud = 115200 }))
    assert(session:read(0x11000, 0x1000, function() end))
    coroutine.yield()
  end)
  gone[1] = co
  assert(coroutine.resume(co))   -- suspended: its stack is freed only when collected
end
use_in_coroutine()
collectgarbage(); collectgarbage()
assert(gone[1] == nil, "the coroutine was collected")

assert(session:identify())
assert(session:read_mac())
assert(session:read(0x11000, 0x2000))        -- progress through the host sink
assert(session:read(0x11000, 0x1000, function() end))
assert(session:verify(0x11000, assert(session:read(0x11000, 0x1000))))
session:close()
print("lifetime: done")
