-- verify — compare flash with an image by CRC.  Without `image`, checks what
-- the flash step wrote.  A mismatch fails the unit (FAIL), naming the sector.
local beken = require "flashline.beken"
local util = require "flashline.util"

local M = {
  params = {
    image = { file = true }, -- default: the image of the flash step
    offset = {},
  },
}

function M.run(ctx, args)
  local s = ctx.session
  if not s then return nil, "verify needs a connect step before it", "usage" end
  local offset, payload
  if args.image then
    local data, err = util.load(args.image)
    if not data then return nil, err, "file" end
    local want = args.offset and math.tointeger(tonumber(args.offset))
    local place, perr, pkind = beken.place(ctx.chip, args.image, #data, s:info().flash_size, want)
    if not place then return nil, perr, pkind end
    offset, payload = place.offset, data:sub(place.skip + 1)
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
