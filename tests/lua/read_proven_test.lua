-- read_proven_test.lua — s:read_proven (issue 11): data and stats, a
-- reference, misuse raising before anything is sent.  Run by
-- tests/cli/backup_proven.sh:  flashline lua read_proven_test.lua FLASHFILE
local flashline = require "flashline"
local t = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local check, raises = t.check, t.raises
local flash_file = assert(arg[1], "usage: read_proven_test.lua FLASHFILE")
local util = flashline.util

local want = assert(util.load(flash_file))
local s = assert(flashline.chip.connect("sim:bk7231n?timescale=0&quiet=1&flash=" .. flash_file,
                                        "bk7231n"))
raises(function() s:read_proven(0, 4096, 7) end, "bad argument #3 to 'read_proven'",
       "a reference that is not a string raises")
raises(function() s:read_proven(0, 4096, nil, "x") end, "bad argument #4 to 'read_proven'",
       "a progress that is not a function raises")
raises(function() s:read_proven(-1, 4096) end, "read_proven", "a negative address raises")

local data, st = s:read_proven(0, #want)
check(data == want, "read_proven is byte-exact")
check(st.proven and st.sectors == 512 and st.sectors_read + st.proven_erased == 512
      and st.from_reference == 0, "stats without a reference add up")
local calls = 0
local d2, st2 = s:read_proven(0x1E0000, 0x20000, want, function() calls = calls + 1 end)
check(d2 == want:sub(0x1E0001, 0x200000), "a range with a reference is byte-exact")
check(st2.sectors_read == 0 and st2.from_reference + st2.proven_erased == 32,
      "with itself as the reference nothing moves")
check(calls > 0, "the progress callback is called")
local n, m, k = s:read_proven(0x1FF000, 0x2000)
check(n == nil and k == "refused", "past the end: nil, msg, 'refused' (" .. tostring(m) .. ")")
s:close()
t.finish()
