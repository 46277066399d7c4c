-- flash — write a firmware image where it belongs on this chip (a _QIO_
-- image keeps the bootloader where it must), skipping sectors that already
-- match, verified by CRC.  The image is checked against the chip first: a
-- file for another chip, an OTA package or a corrupt image is refused before
-- anything is erased.  Sets ctx.flashed = {offset, data, path}.
local beken = require "flashline.beken"
local util = require "flashline.util"
local log = require "flashline.log"

local M = {
  params = {
    image = { required = true, file = true },
    offset = {},                              -- default: from the image kind and chip
    allow_bootloader = { default = "false" }, -- "true" to permit writing 0x0-0x11000
    force = { default = "false" },            -- "true" to accept an image named for another chip
  },
}

local function truthy(v) return v == true or v == "true" or v == "yes" or v == "1" end

-- Content check through flashline.image when this build has it.
local function check_content(ctx, data, path, offset)
  local ok, image = pcall(require, "flashline.image")
  if not ok then return true end
  local info, err = image.identify(data, path)
  if not info then return nil, err end
  if info.chip and info.chip ~= "" and info.chip ~= ctx.chip then
    -- BK7231M images run on BK7231N-class chips with zero keys and vice versa: the
    -- identifier names the key family, so only a different family is refused.
    local family = { bk7231m = "bk7231n", bk7231n = "bk7231n" }
    if (family[info.chip] or info.chip) ~= (family[ctx.chip] or ctx.chip) then
      return nil, string.format("%s is a %s image (%s), but the chip is %s", path, info.chip,
                                info.chip_evidence or "by its content", ctx.chip)
    end
  end
  if (info.kind == "rotated_dump" or info.kind == "app_dump") and not offset then
    return nil, string.format("%s is a %s: it does not start at flash 0x0 (give offset: 0x11000 "
                              .. "for a dump read from there, or restore a rotated dump first)",
                              path, info.kind:gsub("_", " "))
  end
  if info.crc_ok == false then
    return nil, string.format("%s fails its CRC16 block check: the file is corrupt", path)
  end
  return true
end

local function chip_flash_size(chip)
  for _, c in ipairs(beken.chips()) do
    if c.name == chip then return c.flash_size end
  end
  return 0x200000
end

-- Before the unit is touched: the image must exist, fit this chip and be intact.
function M.check(ctx, args)
  local data, err = util.load(args.image)
  if not data then return nil, err end
  local offset = args.offset and math.tointeger(tonumber(args.offset))
  if args.offset and not offset then return nil, "offset must be a number" end
  local ok, cerr = check_content(ctx, data, args.image, offset)
  if not ok then return nil, cerr end
  local place, perr = beken.place(ctx.chip, args.image, #data, chip_flash_size(ctx.chip), offset,
                                  truthy(args.allow_bootloader), truthy(args.force))
  if not place then return nil, perr end
  return true
end

function M.run(ctx, args)
  local s = ctx.session
  if not s then return nil, "flash needs a connect step before it", "usage" end
  local data, err = util.load(args.image)
  if not data then return nil, err, "file" end
  local offset = args.offset and math.tointeger(tonumber(args.offset))
  if args.offset and not offset then return nil, "offset must be a number", "usage" end
  local ok, cerr = check_content(ctx, data, args.image, offset)
  if not ok then return nil, cerr, "format" end
  local info = s:info()
  local place, perr, pkind = beken.place(ctx.chip, args.image, #data, info.flash_size, offset,
                                         truthy(args.allow_bootloader), truthy(args.force))
  if not place then return nil, perr, pkind end
  log.info("%s", place.why)
  s:allow_bootloader(truthy(args.allow_bootloader))
  local payload = data:sub(place.skip + 1)
  local sha = util.sha256(data)
  local before = s:stats()
  local t0 = os.clock()
  local wok, werr, wkind = s:write(place.offset, payload)
  if not wok then return nil, werr, wkind end
  local st = s:stats()
  ctx.db:artifact("firmware", args.image, sha, #data)
  ctx.db:measure("flash_offset", place.offset, "addr")
  ctx.db:measure("flash_bytes", #payload, "B")
  ctx.db:measure("sectors_written", st.blocks_written - before.blocks_written, "sectors")
  ctx.db:measure("sectors_skipped", st.blocks_skipped - before.blocks_skipped, "sectors")
  ctx.db:measure("retries", st.retries - before.retries, "count")
  ctx.db:measure("flash_cpu_seconds", os.clock() - t0, "s")
  ctx.flashed = { offset = place.offset, data = payload, path = args.image, sha256 = sha }
  return true
end

return M
