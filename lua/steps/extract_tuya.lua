-- extract_tuya — decode the Tuya configuration from the backup (module, MAC,
-- pins and the other keys) and derive the OpenBeken pin map; both go to the
-- audit log with this step.  Secrets (Wi-Fi passwords, auth keys, PSK,
-- UUIDs) are stored redacted unless the recipe sets store_secrets: "true".
-- A unit without a Tuya configuration (already converted, blank) passes with
-- a warning unless required: "true".  Sets ctx.tuya.
local tuya = require "flashline.tuya"
local log = require "flashline.log"
local util = require "flashline.util"

local M = {
  needs = { "backup" }, -- checked before the unit is touched (lua/API.md)
  params = {
    store_secrets = { default = "false" },
    required = { default = "false" },
    pin_rules = { file = true }, -- more Tuya key -> OBK role rules, tried first
  },
}

local function truthy(v) return v == "true" or v == "yes" or v == "1" end

function M.run(ctx, args)
  local backup = ctx.backup
  if not backup then return nil, "extract_tuya needs a backup step before it", "usage" end
  local secrets = truthy(args.store_secrets)
  local rules = args.pin_rules
  if not rules and ctx.home and ctx.home.dir then
    local station = ctx.home.dir .. "/obk-pin-rules.jsonl"
    if util.load(station, 4 << 20) then rules = station end
  end
  if rules then log.info("OBK pin rules from %s, then the shipped ones", rules) end
  local cfg, err, kind = tuya.extract(backup.data, backup.path, { show_secrets = secrets, pin_rules = rules })
  if not cfg and kind == "format" and rules and err:find(rules, 1, true) == 1 then
    return nil, err, "usage" -- a bad rules file is the station's error, not the unit's
  end
  if not cfg then
    if truthy(args.required) then return nil, err, "fail" end
    log.warn("no Tuya configuration in the backup: %s", err)
    return true, "no Tuya configuration found"
  end
  assert(ctx.db:tuya_config(cfg.json, not secrets, cfg.obk_json))
  local npins = 0
  for _ in pairs((cfg.obk or {}).pins or {}) do npins = npins + 1 end
  log.info("Tuya config: module %s, %s, %d pin(s) mapped to OpenBeken%s", cfg.module or "?",
           cfg.chip or "?", npins, #(cfg.warnings or {}) > 0 and
           string.format(" (%d warning(s))", #cfg.warnings) or "")
  for _, w in ipairs(cfg.warnings or {}) do log.warn("%s", w) end
  ctx.db:measure("tuya_obk_pins", npins, "pins")
  ctx.tuya = cfg
  return true
end

return M
