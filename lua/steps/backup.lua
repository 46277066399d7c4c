-- backup — read the whole flash and save it durably (temp file, fsync,
-- rename) as DIR/<MAC or JEDEC-based id>-<UTC time>.bin.  DIR is the `dir`
-- argument (relative to the recipe file), else the station home's backups
-- directory (ctx.home.backups_dir); the path is absolute.  Path, size,
-- SHA-256 and what the dump holds (OpenBeken, Tuya or other vendor firmware,
-- blank) go into the audit log with this step, before any later step can
-- erase anything: a unit's first vendor backup is its original firmware
-- (`flashline query unit_history`).  Sets ctx.backup = {path, sha256, size,
-- data, content, vendor, stats}.  On a flash-loader chip a dump whose
-- bootloader says BK7252 for a BK7231T/U recipe (or the reverse) stops the run
-- as the station's ERROR (see M.wrong_chip).
--
-- The read proves sectors instead of moving them (s:read_proven, issue 11):
-- erased sectors by the chip's CRC, and with a reference image (the newest
-- backup of a PASSed run of the same recipe, chip and flash size in the
-- audit log, or `reference: FILE`) every sector whose CRC equals the
-- reference's is copied from it (`auto_reference: false`: none from the
-- audit log).  The audit log gets, with the step, how many
-- sectors were read, proven erased and taken from the reference
-- (measurements backup_sectors_*) and the reference itself (artifact
-- "backup_reference": its path and SHA-256).
local util = require "flashline.util"
local image = require "flashline.image"
local tuya = require "flashline.tuya"
local log = require "flashline.log"

local M = {
  needs = { "connect" }, -- checked before the unit is touched (lua/API.md)
  params = {
    dir = { path = true }, -- default: the station home's backups directory
    reference = { path = true }, -- a whole-flash image of the same product to prove against
    auto_reference = { default = "true" }, -- "false": no reference from the audit log
  },
}

local function unit_id(ctx, sha256)
  if ctx.unit.mac then return (ctx.unit.mac:gsub(":", "")) end
  -- No MAC: the flash type plus the dump's own hash tells units apart.
  return string.format("jedec-%s-%s", ctx.unit.jedec or "unknown", sha256:sub(1, 12))
end

local function backup_dir(ctx, args)
  local dir = args.dir or (ctx.home and ctx.home.backups_dir)
  if not dir then return nil, "backup has no directory: give dir: or run it from a station" end
  return dir
end

-- What the dump holds: content text and whether it is the vendor's firmware
-- (an application that is not OpenBeken).  A dump that cannot be told is
-- taken as vendor firmware: keeping it marked as the original is the safe side.
function M.classify(data)
  local ok, id = pcall(image.identify, data)
  if ok and id then
    if id.kind == "erased" then return "blank", false end
    if id.obk_version then
      return "openbeken " .. (id.obk_version:match("_(%d[%d.]*)$") or id.obk_version), false
    end
  end
  local tok, cfg = pcall(tuya.extract, data)
  if tok and cfg then return "tuya", true end
  if ok and id and id.kind ~= "unknown" then return "vendor", true end
  return "unknown", true
end

-- The flash loaders of BK7231T/U and BK7252 answer alike, so connect cannot
-- tell a BK7252 from a BK7231T/U; the bootloader in the dump can (BK7251 vs
-- BK7231S/U).  A recipe for the other one is the station's mistake: nil, the
-- message naming both chips.  (T and U are not told apart: their loaders and
-- bootloader names are too close to call one a wrong recipe for the other.)
local FLASH_LOADER = { bk7231t = "t/u", bk7231u = "t/u", bk7252 = "7252" }

function M.wrong_chip(ctx, data)
  local want = FLASH_LOADER[ctx.chip or ""]
  if not want then return nil end
  local ok, id = pcall(image.identify, data)
  local have = ok and id and id.chip and FLASH_LOADER[id.chip]
  if not have or have == want then return nil end
  return string.format("wrong recipe for this unit: recipe '%s' is for %s (chip: %s) but the unit "
                       .. "is %s (its flash holds %s); nothing was written: run a recipe for %s",
                       ctx.recipe or "?", ctx.chip:upper(), ctx.chip, id.chip:upper(),
                       (id.chip_evidence or ""):match("^[^;]*"), id.chip:upper())
end

-- A reference file whose bytes still hash to what was recorded (a backup
-- edited or truncated since is no proof of anything), or nil.
local function load_checked(path, sha256, size)
  local data = util.load(path, size + 1)
  if data and #data == size and (not sha256 or util.sha256(data) == sha256) then return data end
  return nil
end

-- The reference for this unit: {path, sha256, size, data} or nil.
local function choose_reference(ctx, args, info)
  if args.reference then
    local data, err = util.load(args.reference, info.flash_size + 1)
    if not data then return nil, err end
    if #data ~= info.flash_size then
      return nil, string.format("reference %s has %d bytes, the unit's flash %d",
                                args.reference, #data, info.flash_size)
    end
    return { path = args.reference, sha256 = util.sha256(data), size = #data, data = data }
  end
  if args.auto_reference == "false" or args.auto_reference == "no" or not ctx.db
     or not ctx.db.reference_backups then
    return nil
  end
  local refs = ctx.db:reference_backups { recipe = ctx.recipe, chip = ctx.unit.chip or info.chip,
                                          flash_size = info.flash_size }
  for _, r in ipairs(refs or {}) do
    local data = load_checked(r.path, r.sha256, r.size)
    if data then
      r.data = data
      return r
    end
    log.warn("reference backup %s is gone or changed; not used", r.path)
  end
  return nil
end

-- Before the unit is touched: a backup that cannot be saved must not wait
-- until the whole flash has been read.  Nothing is left behind (util.probe_dir).
function M.check(ctx, args)
  local dir, err = backup_dir(ctx, args)
  if not dir then return nil, err end
  return util.probe_dir(dir)
end

function M.run(ctx, args)
  local s = ctx.session
  if not s then return nil, "backup needs a connect step before it", "usage" end
  local dir, derr = backup_dir(ctx, args)
  if not dir then return nil, derr, "usage" end
  local info = s:info()
  local ref, rerr = choose_reference(ctx, args, info)
  if rerr then return nil, rerr, "file" end
  if ref then log.info("proving sectors against the reference %s (sha256 %s)", ref.path,
                       ref.sha256:sub(1, 16)) end
  local data, err, kind = s:read_proven(0, info.flash_size, ref and ref.data)
  if not data then return nil, err, kind end
  local stats = err
  local sha = util.sha256(data)
  local ok, merr = util.mkdir(dir)
  if not ok then return nil, merr, "file" end
  local id = unit_id(ctx, sha)
  -- Never over an earlier backup: the same unit twice in one second (or two
  -- units that share a MAC, side by side) get -2, -3... after the time.
  local stem = string.format("%s/%s-%s", dir, id, os.date("!%Y%m%dT%H%M%SZ"))
  local path
  for n = 1, 100 do
    path = n == 1 and stem .. ".bin" or string.format("%s-%d.bin", stem, n)
    ok, err, kind = util.save(path, data, { new = true })
    if ok or kind ~= "exists" then break end
  end
  if not ok then return nil, err, "file" end
  if not ctx.unit.mac then
    ctx.unit.alt_id = id
    assert(ctx.db:unit { alt_id = id, chip = ctx.unit.chip, jedec = ctx.unit.jedec,
                         flash_size = ctx.unit.flash_size, loader = ctx.unit.loader })
  end
  local content, vendor = M.classify(data)
  assert(ctx.db:artifact("backup", path, sha, #data, { content = content, vendor = vendor }))
  ctx.db:measure("backup_bytes", #data, "B")
  ctx.db:measure("backup_sectors_read", stats.sectors_read, "sectors")
  ctx.db:measure("backup_sectors_proven_erased", stats.proven_erased, "sectors")
  ctx.db:measure("backup_sectors_from_reference", stats.from_reference, "sectors")
  if ref then
    assert(ctx.db:artifact("backup_reference", ref.path, ref.sha256, ref.size))
  end
  ctx.backup = { path = path, sha256 = sha, size = #data, data = data, content = content,
                 vendor = vendor, stats = stats, reference = ref and ref.sha256 }
  log.info("backup %s (%d KiB, %s, sha256 %s): %d sectors read, %d proven erased, %d from the "
           .. "reference", path, #data // 1024, content, sha:sub(1, 16), stats.sectors_read,
           stats.proven_erased, stats.from_reference)
  -- kept and logged first: it is the unit's firmware whatever the recipe was
  local wrong = M.wrong_chip(ctx, data)
  if wrong then return nil, wrong, "wrong_recipe" end
  return true
end

return M
