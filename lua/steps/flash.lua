-- flash — write a firmware image where it belongs on this chip (over a UART
-- a _QIO_ image keeps the bootloader where it must; over a SPI programmer it
-- is written whole and needs allow_bootloader: "true"), skipping sectors that
-- already match, verified every byte (device CRC or read-back).  The image is checked by flashline.image.plan —
-- the same policy as `flashline write` (src/flash/image_policy.h): a file for
-- another chip, an OTA package, a corrupt or truncated image, or plain data
-- without `offset:` and `raw: "true"` is refused before the unit is touched.
-- `image` is a path (relative to the recipe) or a firmware-store reference,
-- "OpenBK7231N@1.18.300" or "sha256:<hex>" (`flashline firmware --help`): the
-- station resolves it to the store's file before the unit is touched
-- (ctx.firmware_store[path] = {ref, name, version, chip, sha256, source}), and
-- the audit log records the store's name, version and source with the image.
-- Sets ctx.flashed = {offset, data, path, sha256}.
local image = require "flashline.image"
local util = require "flashline.util"
local log = require "flashline.log"

local M = {
  needs = { "connect" }, -- checked before the unit is touched (lua/API.md)
  params = {
    image = { required = true, file = true },
    offset = {},                              -- default: from the image's content and the chip
    raw = { default = "false" },              -- "true": a file that is not an image, at `offset`
    allow_bootloader = { default = "false" }, -- "true" to permit writing 0x0-0x11000
    force = { default = "false" },            -- "true" to accept an image for another chip
  },
}

local function flag(args, name)
  local v = args[name]
  if v == nil or v == false or v == "false" or v == "no" or v == "0" then return false end
  if v == true or v == "true" or v == "yes" or v == "1" then return true end
  return nil, string.format("%s must be true or false, not '%s'", name, tostring(v))
end

-- The plan options from the step's arguments, or nil, msg.
function M.plan_opts(args, flash_size, read_only)
  local opts = { flash_size = flash_size, read_only = read_only }
  if args.offset ~= nil then
    local o = math.tointeger(tonumber(args.offset))
    if not o or o < 0 or o > 0xFFFFFFFF then
      return nil, string.format("offset must be a flash address (e.g. 0x11000), not '%s'", args.offset)
    end
    opts.offset = o
  end
  for _, name in ipairs({ "raw", "allow_bootloader", "force" }) do
    local v, err = flag(args, name)
    if v == nil then return nil, err end
    opts[name] = v
  end
  return opts
end

-- Load args.image and decide its placement: placement, data | nil, msg, kind.
-- flash_size nil: the largest flash the chip can have (before connecting).
-- port: what the image is written through (its driver's placement rules:
-- over a SPI programmer a _QIO_ image goes whole from 0x0); nil: a UART.
function M.plan(chip, args, flash_size, read_only, port)
  local opts, oerr = M.plan_opts(args, flash_size, read_only)
  if not opts then return nil, oerr, "usage" end
  opts.port = port
  local data, err, kind = util.load(args.image)
  if not data then return nil, err, kind or "file" end
  local place, perr, pkind = image.plan(data, args.image, chip, opts)
  if not place then return nil, perr, pkind end
  return place, data
end

-- Before the unit is touched: the same decision as run() makes.
function M.check(ctx, args)
  local place, err = M.plan(ctx.chip, args, nil, false, ctx.port)
  if not place then return nil, err end
  return true
end

function M.run(ctx, args)
  local s = ctx.session
  if not s then return nil, "flash needs a connect step before it", "usage" end
  -- again with the flash size the unit reported
  local place, data, pkind = M.plan(ctx.chip, args, s:info().flash_size, false, ctx.port)
  if not place then return nil, data, pkind end
  local opts = M.plan_opts(args)
  log.info("%s", place.why)
  s:allow_bootloader(opts.allow_bootloader)
  local payload = data:sub(place.skip + 1, place.skip + place.length)
  local sha = util.sha256(data)
  -- a store image is content-named: bytes that changed on disk are not the image the recipe named
  local stored = ctx.firmware_store and ctx.firmware_store[args.image]
  if stored and stored.sha256 ~= sha then
    return nil, string.format("firmware %s: the store's file %s no longer has SHA-256 %s "
      .. "(it has %s); add the image again with `flashline firmware add FILE`", stored.ref,
      args.image, stored.sha256, sha), "file"
  end
  if stored then
    log.info("firmware %s: %s %s from the store (sha256 %s)", stored.ref, stored.name,
             stored.version or "", sha:sub(1, 16))
  end
  local before = s:stats()
  local t0 = os.clock()
  local wok, werr, wkind = s:write(place.offset, payload)
  if not wok then return nil, werr, wkind end
  local st = s:stats()
  ctx.db:artifact("firmware", args.image, sha, #data, stored and {
    store_name = stored.name, store_version = stored.version, store_source = stored.source,
  } or nil)
  ctx.db:measure("flash_offset", place.offset, "addr")
  ctx.db:measure("flash_bytes", #payload, "B")
  ctx.db:measure("sectors_written", st.blocks_written - before.blocks_written, "sectors")
  ctx.db:measure("sectors_skipped", st.blocks_skipped - before.blocks_skipped, "sectors")
  ctx.db:measure("retries", st.retries - before.retries, "count")
  -- sectors outside the image that a garbled address changed and the library
  -- put back from this run's backup (the run log has the addresses)
  ctx.db:measure("sectors_restored", st.sectors_restored - before.sectors_restored, "sectors")
  ctx.db:measure("flash_cpu_seconds", os.clock() - t0, "s")
  ctx.flashed = { offset = place.offset, data = payload, path = args.image, sha256 = sha }
  return true
end

return M
