-- testlib.lua — the check/raises helpers of the Lua API tests (api_test.lua,
-- chip_test.lua):  local t = dofile(dir .. "testlib.lua")
-- t.check(cond, what) prints "ok ..." or "FAIL ..."; t.raises(f, text, what)
-- checks that f raises an error containing text; t.finish() prints the
-- RESULT line and exits 1 when a check failed.
local t = { passed = 0, failed = 0 }
function t.check(cond, what)
  if cond then t.passed = t.passed + 1; print("ok   " .. what)
  else t.failed = t.failed + 1; print("FAIL " .. what) end
end
function t.raises(f, pattern, what)
  local ok, err = pcall(f)
  t.check(not ok and tostring(err):find(pattern, 1, true) ~= nil,
          what .. (ok and " (did not raise)" or (" (" .. tostring(err) .. ")")))
end
function t.finish()
  print(string.format("RESULT passed=%d failed=%d", t.passed, t.failed))
  if t.failed > 0 then os.exit(1) end
end
return t
