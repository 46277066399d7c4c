-- obk_config — leave the unit configured: write the OpenBeken config block
-- (Wi-Fi, MQTT, device name, flags, pins) into its one 4 KiB sector, never
-- the RF calibration below it, and read it back to check it.
--
-- Values come from the step's arguments (recipe vars, `--set`), else from the
-- environment: FLASHLINE_OBK_WIFI_PASS, FLASHLINE_OBK_MQTT_PASS, ... (one
-- per argument, upper case) — the place for passwords, which then appear in
-- neither the recipe nor the command line.  `name` may use ${unit.mac_suffix}
-- (the last 6 hex digits of the MAC): `obk-${unit.mac_suffix}`.
-- The pins come from the extract_tuya step of the same run (pins_from_tuya:
-- "true", the default) and/or `pins: "6=Rel;1 7=Btn;1"`.
-- What was written is stored per unit as an "obk_config" artifact whose
-- content is the config as JSON with passwords redacted, plus a hash that
-- identifies the credentials (credentials_sha256).
local obk = require "flashline.obk"
local log = require "flashline.log"
local util = require "flashline.util"

local SETTINGS = { "wifi_ssid", "wifi_pass", "mqtt_host", "mqtt_port", "mqtt_user", "mqtt_pass",
                   "mqtt_topic", "mqtt_group", "name" }

local M = {
  needs = { "connect" },
  params = {
    wifi_ssid = {}, wifi_pass = {}, mqtt_host = {}, mqtt_port = {}, mqtt_user = {}, mqtt_pass = {},
    mqtt_topic = {}, mqtt_group = {}, name = {},
    flags = {},                                -- "SLOW_PWM=1 WIFI_FAST_CONNECT=1"
    pins = {},                                 -- "6=Rel;1 7=Btn;1" (after the Tuya pins)
    pins_from_tuya = { default = "true" },     -- the pin map of extract_tuya, when there is one
    replace_invalid = { default = "false" },   -- "true": write over an invalid block
  },
}

local function truthy(v) return v == "true" or v == "yes" or v == "1" end

-- The settings table from the arguments and the environment.
local function settings(ctx, args)
  local s = {}
  for _, k in ipairs(SETTINGS) do
    local v = args[k]
    if v == nil or v == "" then v = os.getenv("FLASHLINE_OBK_" .. k:upper()) end
    if v ~= nil and v ~= "" then s[k] = v end
  end
  local flags = args.flags or os.getenv("FLASHLINE_OBK_FLAGS")
  if flags then
    s.flags = {}
    for name, value in flags:gmatch("([%w_]+)=(%d)") do s.flags[name] = value == "1" end
  end
  s.pins = {}
  if truthy(args.pins_from_tuya) and ctx.tuya and ctx.tuya.obk and ctx.tuya.obk.pins then
    for pin, role in pairs(ctx.tuya.obk.pins) do s.pins[tostring(pin)] = role end
  end
  for pin, role in (args.pins or ""):gmatch("(%d+)=([%w_;,]+)") do s.pins[pin] = role end
  return s
end

function M.check(ctx, args)
  if args.mqtt_port and not tostring(args.mqtt_port):match("^%d+$") then
    return nil, "mqtt_port '" .. args.mqtt_port .. "' is not a number"
  end
  return true
end

function M.run(ctx, args)
  local s = ctx.session
  if not s then return nil, "obk_config needs a connect step before it", "usage" end
  local info = s:info()
  local offset, pins = info.obk_config_offset, info.obk_pin_count
  if not offset then
    return nil, "no OBK config location is known for " .. tostring(info.chip), "usage"
  end
  local old, err, kind = s:read(offset, 4096)
  if not old then return nil, err, kind end
  local data, built, bkind = obk.build(settings(ctx, args), { pin_count = pins, base = old, mac = ctx.unit.mac,
                                                            replace_invalid = truthy(args.replace_invalid) })
  if not data then return nil, built, bkind == "refused" and "fail" or bkind end
  -- one sector: the write erases exactly what it writes
  local ok, werr, wkind = s:write(offset, data)
  if not ok then return nil, werr, wkind end
  local back, rerr, rkind = s:read(offset, 4096)
  if not back then return nil, rerr, rkind end
  if back ~= data then return nil, string.format("the OBK config read back from 0x%06X differs", offset), "verify" end
  local parsed, perr = obk.parse(back, pins)
  if not parsed or parsed.check ~= "valid" then
    return nil, "the OBK config read back does not parse: " .. tostring(perr), "verify"
  end
  assert(ctx.db:artifact("obk_config", string.format("flash:0x%06X", offset), util.sha256(data), #data,
                         { content = built.json }))
  log.info("OBK config written at 0x%06X (%d-pin layout, from %s), read back; credentials %s", offset, pins,
           built.base, built.credentials_sha256:sub(1, 16))
  ctx.obk_config = { offset = offset, json = built.json, credentials_sha256 = built.credentials_sha256 }
  return true
end

return M
