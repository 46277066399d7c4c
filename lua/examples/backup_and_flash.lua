-- backup_and_flash.lua — an engineer's flow in Lua: back up a unit, flash
-- OpenBeken, verify, and print what happened.
--
--   flashline lua lua/examples/backup_and_flash.lua PORT CHIP IMAGE [BACKUP_DIR]
--   flashline lua lua/examples/backup_and_flash.lua "sim:bk7231n?flash=/tmp/u.bin&timescale=0" \
--       bk7231n ../shared/testdata/obk-images/OpenBK7231N_QIO_1.18.300.bin /tmp
local flashline = require "flashline"
local chip_mod, log, util = flashline.chip, flashline.log, flashline.util
local image = require "flashline.image"

local port, chip, image_path, backup_dir = ...
if not (port and chip and image_path) then
  error("usage: backup_and_flash.lua PORT CHIP IMAGE [BACKUP_DIR]", 0)
end
backup_dir = backup_dir or "."

-- `<close>` releases the port even when something below raises.
local s <close> = assert(chip_mod.connect(port, chip, { baud = 921600 }))
local info = s:info()
log.info("connected: %s (%s via %s), flash %d KiB, JEDEC %s",
         info.chip, info.access, info.driver, info.flash_size // 1024, info.jedec or "?")

local mac = s:read_mac()
local unit = mac and mac:gsub(":", "") or ("jedec-" .. (info.jedec or "unknown"))

-- 1. back up the whole flash, durably, before anything is erased
local last = -1
local dump = assert(s:read(0, info.flash_size, function(phase, done, total)
  local pct = done * 100 // total
  if pct // 25 ~= last then last = pct // 25; log.info("%s %d%%", phase, pct) end
end))
local backup = string.format("%s/%s-%s.bin", backup_dir, unit, os.date("!%Y%m%dT%H%M%SZ"))
assert(util.save(backup, dump))
log.info("backup %s sha256 %s", backup, util.sha256(dump))

-- 2. flash the image where it belongs on this chip
local data = assert(util.load(image_path))
local place = assert(image.plan(data, image_path, chip, { flash_size = info.flash_size, port = port }))
log.info("%s", place.why)
local payload = data:sub(place.skip + 1, place.skip + place.length)
assert(s:write(place.offset, payload))

-- 3. verify by CRC
local ok, err, _, bad = s:verify(place.offset, payload)
if not ok then error(string.format("verify failed at 0x%06X: %s", bad or 0, err), 0) end
local st = s:stats()
print(string.format("PASS %s: %d sectors written, %d already matched, %d retries",
                    unit, st.blocks_written, st.blocks_skipped, st.retries))
