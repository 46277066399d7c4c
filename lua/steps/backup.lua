-- backup — read the whole flash and save it durably (temp file, fsync,
-- rename) as DIR/<MAC or JEDEC-based id>-<UTC time>.bin.  Path, size and
-- SHA-256 go into the audit log with this step, before any later step can
-- erase anything.  Sets ctx.backup = {path, sha256, size, data}.
local util = require "flashline.util"
local log = require "flashline.log"

local M = {
  needs = { "connect" }, -- checked before the unit is touched (lua/API.md)
  params = {
    dir = { default = "backups" }, -- relative to the working directory
  },
}

local function unit_id(ctx, sha256)
  if ctx.unit.mac then return (ctx.unit.mac:gsub(":", "")) end
  -- No MAC: the flash type plus the dump's own hash tells units apart.
  return string.format("jedec-%s-%s", ctx.unit.jedec or "unknown", sha256:sub(1, 12))
end

-- Before the unit is touched: a backup that cannot be saved must not wait
-- until the whole flash has been read.  Nothing is left behind (util.probe_dir).
function M.check(ctx, args)
  return util.probe_dir(args.dir)
end

function M.run(ctx, args)
  local s = ctx.session
  if not s then return nil, "backup needs a connect step before it", "usage" end
  local info = s:info()
  local data, err, kind = s:read(0, info.flash_size)
  if not data then return nil, err, kind end
  local sha = util.sha256(data)
  local ok, merr = util.mkdir(args.dir)
  if not ok then return nil, merr, "file" end
  local id = unit_id(ctx, sha)
  local path = string.format("%s/%s-%s.bin", args.dir, id, os.date("!%Y%m%dT%H%M%SZ"))
  ok, err = util.save(path, data)
  if not ok then return nil, err, "file" end
  if not ctx.unit.mac then
    ctx.unit.alt_id = id
    assert(ctx.db:unit { alt_id = id, chip = ctx.unit.chip, jedec = ctx.unit.jedec,
                         flash_size = ctx.unit.flash_size, loader = ctx.unit.loader })
  end
  assert(ctx.db:artifact("backup", path, sha, #data))
  ctx.db:measure("backup_bytes", #data, "B")
  ctx.backup = { path = path, sha256 = sha, size = #data, data = data }
  log.info("backup %s (%d KiB, sha256 %s)", path, #data // 1024, sha:sub(1, 16))
  return true
end

return M
