-- connect — reach the chip on ctx.port the way the port says (a UART port:
-- get the bootloader, switch baud; a SPI programmer: SPI mode or the bare
-- flash chip), identify it, record how the run reached it (driver and
-- programmer, on the run's row), read the MAC, and record the unit.  Sets
-- ctx.session (a flashline.chip session) for later steps.  Link settings come
-- from the command line (`flashline run --baud N --reset MODE`: ctx.link_override),
-- else the step's arguments, else the recipe's `link:` (drivers without a baud
-- or reset choice ignore those).
local chip = require "flashline.chip"
local log = require "flashline.log"

local M = {
  params = {
    baud = {},          -- default: link.baud, else 921600; "max": the fastest rate that holds
    reset = {},         -- auto | pulse | reboot | manual | none (default: link.reset, else auto)
    link_timeout = {},  -- seconds (default: link.link_timeout, else 20)
  },
}

function M.run(ctx, args)
  local link, over = ctx.link or {}, ctx.link_override or {}
  local baud = over.baud or args.baud or link.baud or 921600
  local opts = {
    -- "max": the fastest rate the line holds (probed; the choice is measured below)
    baud = baud == "max" and "max" or math.tointeger(tonumber(baud)),
    reset = over.reset or args.reset or link.reset or "auto",
    link_timeout = tonumber(args.link_timeout or link.link_timeout or 20),
  }
  if not opts.baud then return nil, "baud must be a whole number", "usage" end
  local s, err, kind = chip.connect(ctx.port, ctx.chip, opts)
  if not s then return nil, err, kind end
  ctx.session = s
  local info = s:info()
  -- the audit log says how this run reached its chip, before anything is read or written
  local lok, lerr, lkind = ctx.db:run_link { driver = info.driver, programmer = info.programmer }
  if not lok then return nil, lerr, lkind end
  local unit = ctx.unit
  -- loader: "rom"/"flash" through a UART loader; else how the chip answers ("spi mode", "spi")
  unit.chip, unit.loader, unit.flash_size = info.chip, info.loader or info.access, info.flash_size
  unit.jedec = info.jedec and info.jedec:lower()
  unit.mac = s:read_mac() -- nil when the RF sector holds none (blank or foreign firmware)
  -- ${unit.mac_suffix}: the last 6 hex digits, for names such as obk-${unit.mac_suffix}
  unit.mac_suffix = unit.mac and unit.mac:gsub(":", ""):sub(-6):lower() or nil
  if info.baud > 0 then ctx.db:measure("baud", info.baud, "baud") end
  if opts.baud == "max" and info.baud > 0 then
    -- what --baud max chose this run, and the first rate that did not hold (0: none failed)
    ctx.db:measure("baud_max_chosen", info.baud, "baud")
    ctx.db:measure("baud_max_failed", info.baud_max_failed or 0, "baud")
    log.info("baud max: %d baud holds%s", info.baud, info.baud_max_failed and
             string.format(" (%d did not)", info.baud_max_failed) or "")
  end
  ctx.db:measure("flash_size", info.flash_size, "B")
  if unit.mac then
    assert(ctx.db:unit { mac = unit.mac, chip = unit.chip, jedec = unit.jedec,
                         flash_size = unit.flash_size, loader = unit.loader })
    log.info("unit %s: %s, %s via %s, %d KiB flash", unit.mac, info.chip, info.access,
             info.driver, info.flash_size // 1024)
  else
    log.warn("no MAC in the RF calibration sector: the unit will be named after its backup")
  end
  return true
end

return M
