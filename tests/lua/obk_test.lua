-- obk_test.lua — flashline.obk (the OpenBeken config block): build and parse,
-- defaults and existing bases, redaction, expected failures (nil, msg, kind)
-- and misuse (raises).  Run by tests/cli/obk_recipe.sh:  flashline lua obk_test.lua
local obk = require "flashline.obk"
local t = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local check, raises = t.check, t.raises

local data, info = obk.build({ wifi_ssid = "net", wifi_pass = "pw-in-lua", name = "n1", mqtt_port = 1999,
                               flags = { SLOW_PWM = true }, pins = { [6] = "Rel;1", ["40"] = "PWM;2" } },
                             { pin_count = 48, mac = "C8:47:8C:01:02:03" })
check(data and #data == 4096 and data:sub(1, 3) == "CFG", "build gives the 4096-byte sector")
check(info.base == "defaults", "an absent base: the defaults")
check(not info.json:find("pw-in-lua", 1, true) and info.json:find('"wifi_pass":"<redacted>"', 1, true),
      "the build's JSON redacts the password")
check(#info.credentials_sha256 == 64, "a credentials hash")
local c = obk.parse(data, 48)
check(c.check == "valid" and c.version == 5, "parse: valid, version 5")
check(c.config.pins["40"] == "PWM;2" and c.config.pins["6"] == "Rel;1", "the 48-pin layout keeps P40")
check(c.config.mac == "C8:47:8C:01:02:03" and c.config.mqtt_port == 1999, "mac and port")
check(c.config.wifi_pass == "<redacted>", "parse redacts by default")
check(obk.parse(data, 48, { show_secrets = true }).config.wifi_pass == "pw-in-lua", "show_secrets shows it")
check(c.credentials_sha256 == info.credentials_sha256, "the same hash after parsing")

local again, info2 = obk.build({ mqtt_host = "h" }, { pin_count = 48, base = data })
check(info2.base == "existing" and obk.parse(again, 48).config.wifi_ssid == "net", "an existing base is kept")

local none, msg, kind = obk.build({}, { pin_count = 32, base = string.rep("Z", 4096) })
check(none == nil and kind == "refused" and msg:find("not valid", 1, true), "an invalid base is refused")
check(obk.build({}, { pin_count = 32, base = string.rep("Z", 4096), replace_invalid = true }), "unless replace_invalid")
none, msg, kind = obk.build({ colour = "red" }, { pin_count = 32 })
check(none == nil and kind == "usage" and msg:find("'colour'", 1, true), "an unknown setting: usage")
none, msg, kind = obk.parse(string.rep("\255", 4096), 32)
check(none == nil and kind == "format" and msg:find("erased", 1, true), "an erased sector: format")
local bad = data:sub(1, 3) .. string.char((data:byte(4) + 1) % 256) .. data:sub(5)
local b = obk.parse(bad, 48)
check(b and b.check == "bad-crc", "a wrong CRC is parsed and marked bad-crc")

raises(function() obk.build({}, { pin_count = 40 }) end, "pin_count must be 32 or 48", "bad layout raises")
raises(function() obk.build({ x = { y = {} } }, { pin_count = 32 }) end, "settings:", "deep tables raise")
raises(function() obk.build({}, { pin_count = 32, mac = "nope" }) end, "mac 'nope'", "bad mac raises")
raises(function() obk.parse() end, "bad argument #1", "parse misuse raises")
t.finish()
