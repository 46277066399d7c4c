-- identify — log what the chip is (connect already identified it) and
-- record the identity as measurements; fails the unit if it has no MAC and
-- `require_mac` is set.
local log = require "flashline.log"

local M = {
  needs = { "connect" }, -- checked before the unit is touched (lua/API.md)
  params = {
    require_mac = { default = "false" },
  },
}

function M.run(ctx, args)
  local s = ctx.session
  if not s then return nil, "identify needs a connect step before it", "usage" end
  local info = s:info()
  log.info("chip %s (%s via %s), flash %s %s, %d KiB%s", info.chip, info.access, info.driver,
           info.jedec or "?", info.flash_part or "", info.flash_size // 1024,
           info.boot_version and (", bootloader " .. info.boot_version) or "")
  if info.chip_id then ctx.db:measure("chip_id", info.chip_id, "id") end
  if info.status_register then ctx.db:measure("status_register", info.status_register, "sr") end
  if not ctx.unit.mac and (args.require_mac == "true" or args.require_mac == "yes") then
    return nil, "the unit has no MAC in its RF calibration sector", "fail"
  end
  return true
end

return M
