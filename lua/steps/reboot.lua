-- reboot — leave download mode and start the new firmware.
local M = { params = {}, needs = { "connect" } } -- needs: checked before the unit is touched

function M.run(ctx)
  if not ctx.session then return nil, "reboot needs a connect step before it", "usage" end
  return ctx.session:reboot()
end

return M
