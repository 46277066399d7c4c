-- connect — get the bootloader on ctx.port, switch baud, identify the chip,
-- read the MAC, and record the unit.  Sets ctx.session for later steps.
-- Link settings come from the step's arguments, else the recipe's `link:`.
local beken = require "flashline.beken"
local log = require "flashline.log"

local M = {
  params = {
    baud = {},          -- default: link.baud, else 921600
    reset = {},         -- auto | pulse | reboot | manual | none (default: link.reset, else auto)
    link_timeout = {},  -- seconds (default: link.link_timeout, else 20)
  },
}

function M.run(ctx, args)
  local link = ctx.link or {}
  local opts = {
    baud = math.tointeger(tonumber(args.baud or link.baud or 921600)),
    reset = args.reset or link.reset or "auto",
    link_timeout = tonumber(args.link_timeout or link.link_timeout or 20),
  }
  if not opts.baud then return nil, "baud must be a whole number", "usage" end
  local s, err, kind = beken.connect(ctx.port, ctx.chip, opts)
  if not s then return nil, err, kind end
  ctx.session = s
  local info = s:info()
  local unit = ctx.unit
  unit.chip, unit.loader, unit.flash_size = info.chip, info.loader, info.flash_size
  unit.jedec = info.jedec and info.jedec:lower()
  unit.mac = s:read_mac() -- nil when the RF sector holds none (blank or foreign firmware)
  ctx.db:measure("baud", info.baud, "baud")
  ctx.db:measure("flash_size", info.flash_size, "B")
  if unit.mac then
    assert(ctx.db:unit { mac = unit.mac, chip = unit.chip, jedec = unit.jedec,
                         flash_size = unit.flash_size, loader = unit.loader })
    log.info("unit %s: %s, %s loader, %d KiB flash", unit.mac, info.chip, info.loader,
             info.flash_size // 1024)
  else
    log.warn("no MAC in the RF calibration sector: the unit will be named after its backup")
  end
  return true
end

return M
