-- erase — erase a flash range (4 KiB-aligned), proven blank by the driver.
-- offset and size are required (decimal or 0x hex: offset: 0x0, size:
-- 0x11000).  Erasing the bootloader area (0x0-0x11000) of a chip that
-- guards it needs allow_bootloader: "true" — e.g. before a recovery over a
-- SPI programmer restores the whole _QIO_ image.  The library refuses ranges
-- past the end of the flash or inside a guarded bootloader (src/flash/flash.h);
-- check() refuses what it can tell from the recipe before the unit is touched.
local chip = require "flashline.chip"
local log = require "flashline.log"

local SECTOR = 0x1000
local BOOTLOADER_END = 0x11000
local ADDR_LIMIT = 0x100000000

local M = {
  needs = { "connect" }, -- checked before the unit is touched (lua/API.md)
  params = {
    offset = { required = true },             -- first byte, 4 KiB-aligned
    size = { required = true },               -- bytes, a multiple of 4 KiB
    allow_bootloader = { default = "false" }, -- "true" to permit erasing 0x0-0x11000
  },
}

local function flag(args, name)
  local v = args[name]
  if v == nil or v == false or v == "false" or v == "no" or v == "0" then return false end
  if v == true or v == "true" or v == "yes" or v == "1" then return true end
  return nil, string.format("%s must be true or false, not '%s'", name, tostring(v))
end

local function number(args, name, example)
  local v = math.tointeger(tonumber(args[name]))
  if not v or v < 0 or v >= ADDR_LIMIT then
    return nil, string.format("%s must be a whole number of bytes (e.g. %s), not '%s'", name,
                              example, tostring(args[name]))
  end
  return v
end

-- The step's arguments as {offset, size, allow_bootloader}, or nil, msg.
function M.parse(args)
  local offset, oerr = number(args, "offset", "0x11000")
  if not offset then return nil, oerr end
  local size, serr = number(args, "size", "0x1000")
  if not size then return nil, serr end
  if size == 0 then return nil, "size must be more than 0" end
  if offset % SECTOR ~= 0 or size % SECTOR ~= 0 then
    return nil, string.format("offset 0x%X and size 0x%X must be multiples of 4 KiB (0x1000): "
                              .. "flash is erased in whole sectors", offset, size)
  end
  if offset + size > ADDR_LIMIT then return nil, "offset + size is past 4 GiB" end
  local allow, aerr = flag(args, "allow_bootloader")
  if allow == nil then return nil, aerr end
  return { offset = offset, size = size, allow_bootloader = allow }
end

-- Does the chip guard its bootloader area (from the one chip table)?
local function guards_bootloader(name)
  for _, c in ipairs(chip.chips()) do
    if c.name == name then return c.guard ~= nil and c.guard ~= "none", c end
  end
  return false
end

-- Before the unit is touched: the arguments and the bootloader guard (the
-- flash size is known once connected: the library checks the end then).
function M.check(ctx, args)
  local r, err = M.parse(args)
  if not r then return nil, err end
  local guarded, c = guards_bootloader(ctx.chip)
  if guarded and r.offset < BOOTLOADER_END and not r.allow_bootloader then
    return nil, string.format("erasing 0x%X-0x%X touches the %s's bootloader (0x0-0x11000): "
                              .. "add allow_bootloader: \"true\" to do it on purpose",
                              r.offset, r.offset + r.size, c.display)
  end
  return true
end

function M.run(ctx, args)
  local s = ctx.session
  if not s then return nil, "erase needs a connect step before it", "usage" end
  local r, err = M.parse(args)
  if not r then return nil, err, "usage" end
  s:allow_bootloader(r.allow_bootloader)
  local before = s:stats()
  local t0 = os.clock()
  local ok, eerr, ekind = s:erase(r.offset, r.size)
  s:allow_bootloader(false) -- the opt-in covers this step only
  if not ok then return nil, eerr, ekind end
  local st = s:stats()
  log.info("erased 0x%06X..0x%06X (%d KiB), proven blank", r.offset, r.offset + r.size,
           r.size // 1024)
  ctx.db:measure("erase_offset", r.offset, "addr")
  ctx.db:measure("erase_bytes", r.size, "B")
  ctx.db:measure("retries", st.retries - before.retries, "count")
  ctx.db:measure("erase_cpu_seconds", os.clock() - t0, "s")
  return true
end

return M
