-- verify — compare flash with an image (device CRC or read-back, as the
-- port's driver proves data).  Without `image`, checks what
-- the flash step wrote.  A mismatch fails the unit (FAIL), naming the sector.
-- An `image` is checked and placed by flashline.image.plan exactly as the
-- flash step and `flashline verify` do (before the unit is touched).
local flash = require "steps.flash"

local M = {
  needs = { "connect" }, -- checked before the unit is touched (lua/API.md)
  params = {
    image = { file = true }, -- default: the image of the flash step
    offset = {},
    raw = { default = "false" },              -- "true": a file that is not an image, at `offset`
    allow_bootloader = { default = "false" }, -- "true": compare a _QIO_ image's bootloader too
    force = { default = "false" },            -- "true": accept an image for another chip
  },
}

function M.check(ctx, args)
  if not args.image then
    -- what to compare comes from a flash step (or a custom step may set ctx.flashed)
    local before = ctx.steps_before or {}
    if not (before.flash or before.lua) then
      return nil, "needs 'image' or a flash step before it"
    end
    return true
  end
  local place, err = flash.plan(ctx.chip, args, nil, true, ctx.port)
  if not place then return nil, err end
  return true
end

function M.run(ctx, args)
  local s = ctx.session
  if not s then return nil, "verify needs a connect step before it", "usage" end
  local offset, payload
  if args.image then
    local place, data, pkind = flash.plan(ctx.chip, args, s:info().flash_size, true, ctx.port)
    if not place then return nil, data, pkind end
    offset, payload = place.offset, data:sub(place.skip + 1, place.skip + place.length)
  elseif ctx.flashed then
    offset, payload = ctx.flashed.offset, ctx.flashed.data
  else
    return nil, "verify needs 'image' or a flash step before it", "usage"
  end
  local ok, err, kind = s:verify(offset, payload)
  if not ok then return nil, err, kind end
  ctx.db:measure("verified_bytes", #payload, "B")
  return true
end

return M
