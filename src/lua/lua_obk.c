/* flashline.obk — the OpenBeken config block (formats/obk_config.h).
 *
 *   local obk = require "flashline.obk"
 *   local c, msg, kind = obk.parse(sector, pin_count [, {show_secrets=false}])
 *     c.check ("valid"/"bad-crc"), c.version, c.config (table, passwords
 *     "<redacted>"), c.json (text), c.credentials_sha256
 *   local data, info = obk.build(settings, {pin_count=32|48, base=sector, mac="C8:..", replace_invalid=false})
 *     settings: {wifi_ssid=, wifi_pass=, mqtt_host=, mqtt_port=, ..., name=,
 *       flags={NAME=true}, pins={["6"]="Rel;1"}}; data: the 4096-byte sector
 *     (version 5, signed CRC), info = {base="existing"|"defaults"|"replaced-invalid",
 *       json (passwords redacted), credentials_sha256}
 * Expected failures return nil, msg, kind ("usage": a bad setting;
 * "refused": an invalid block as base without replace_invalid); misuse
 * raises. */
#include <jansson.h>
#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include "formats/obk_config.h"
#include "lua/lua_binding.h"
#include "lua/lua_host.h"

static int check_pins(lua_State *L, int pins)
{
    if (pins != 32 && pins != 48)
        return luaL_error(L, "pin_count must be 32 or 48, not %d", pins);
    return pins;
}

/* Check a settings table before anything is allocated (misuse raises):
 * string or integer keys; string, integer or boolean values, and one level
 * of nested tables (flags, pins). */
static void check_settings(lua_State *L, int idx, int depth)
{
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int kt = lua_type(L, -2), vt = lua_type(L, -1);
        if (!(kt == LUA_TSTRING || (kt == LUA_TNUMBER && lua_isinteger(L, -2))))
            luaL_error(L, "settings: keys must be strings or integers");
        if (!(vt == LUA_TSTRING || vt == LUA_TBOOLEAN || (vt == LUA_TNUMBER && lua_isinteger(L, -1)) ||
              (vt == LUA_TTABLE && depth < 1)))
            luaL_error(L, "settings: values are strings, integers, booleans or (one level) tables");
        if (vt == LUA_TTABLE)
            check_settings(L, -1, depth + 1);
        lua_pop(L, 1);
    }
}

/* The checked table as JSON (cannot raise: lua_tostring on a copy of a key). */
static json_t *to_json(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    json_t *o = json_object();
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        char key[64];
        if (lua_type(L, -2) == LUA_TNUMBER)
            snprintf(key, sizeof key, "%lld", (long long)lua_tointeger(L, -2));
        else
            snprintf(key, sizeof key, "%s", lua_tostring(L, -2));
        json_t *v = NULL;
        switch (lua_type(L, -1)) {
        case LUA_TSTRING: v = json_string(lua_tostring(L, -1)); break;
        case LUA_TBOOLEAN: v = json_boolean(lua_toboolean(L, -1)); break;
        case LUA_TNUMBER: v = json_integer(lua_tointeger(L, -1)); break;
        case LUA_TTABLE: v = to_json(L, -1); break;
        }
        if (o && v)
            json_object_set_new(o, key, v);
        else
            json_decref(v);
        lua_pop(L, 1);
    }
    return o;
}

/* Into the table on top: json (the config's JSON text) and its
 * credentials_sha256; j is released. */
static void set_json_fields(lua_State *L, json_t *j)
{
    fl_lua_push_json_text(L, j);
    lua_setfield(L, -2, "json");
    lua_pushstring(L, json_string_value(json_object_get(j, "credentials_sha256")));
    lua_setfield(L, -2, "credentials_sha256");
    json_decref(j);
}

static int o_parse(lua_State *L)
{
    size_t len;
    const char *data = luaL_checklstring(L, 1, &len);
    int pins = check_pins(L, (int)luaL_checkinteger(L, 2));
    bool secrets = false;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        lua_getfield(L, 3, "show_secrets");
        secrets = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    static _Thread_local fl_obk_config c;
    fl_obk_header h;
    fl_error err = {0};
    if (fl_obk_config_parse((const uint8_t *)data, len, pins, true, &c, &h, &err))
        return fl_lua_fail(L, &err);
    json_t *j = fl_obk_config_json(&c, secrets);
    if (!j)
        return luaL_error(L, "out of memory");
    lua_newtable(L);
    lua_pushstring(L, fl_obk_check_name(h.check));
    lua_setfield(L, -2, "check");
    lua_pushinteger(L, h.version);
    lua_setfield(L, -2, "version");
    fl_lua_push_json(L, j);
    lua_setfield(L, -2, "config");
    set_json_fields(L, j);
    return 1;
}

static bool parse_mac(const char *s, uint8_t mac[6])
{
    unsigned v[6];
    if (!s || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
        return false;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)v[i];
    return true;
}

static int o_build(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, "pin_count");
    int pins = check_pins(L, (int)luaL_checkinteger(L, -1));
    lua_getfield(L, 2, "base");
    size_t blen = 0;
    const char *base = lua_isnil(L, -1) ? NULL : luaL_checklstring(L, -1, &blen);
    lua_getfield(L, 2, "mac");
    const char *mac_text = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1);
    lua_getfield(L, 2, "replace_invalid");
    bool replace = lua_toboolean(L, -1);
    lua_pop(L, 4);
    uint8_t mac[6];
    if (mac_text && !parse_mac(mac_text, mac))
        return luaL_error(L, "mac '%s' is not AA:BB:CC:DD:EE:FF", mac_text);
    check_settings(L, 1, 0);
    json_t *settings = to_json(L, 1);
    if (!settings)
        return luaL_error(L, "out of memory");

    static _Thread_local fl_obk_config c;
    static _Thread_local uint8_t sector[FL_OBK_CFG_SECTOR];
    fl_error err = {0};
    const char *from = "defaults";
    fl_obk_header h = {.check = FL_OBK_ERASED};
    fl_status st = FL_OK;
    if (base && fl_obk_config_parse((const uint8_t *)base, blen, pins, false, &c, &h, &err) == FL_OK) {
        from = "existing";
    } else if (base && h.check != FL_OBK_ERASED && !replace) {
        st = fl_fail_prefix(&err, "the unit's OBK config is not valid; not overwritten (replace_invalid)");
        err.code = FL_ERR_REFUSED;
    } else {
        from = base && h.check != FL_OBK_ERASED ? "replaced-invalid" : "defaults";
        fl_obk_config_defaults(&c, pins, mac_text ? mac : NULL);
    }
    if (!st)
        st = fl_obk_config_apply_json(&c, settings, &err);
    json_decref(settings);
    if (!st)
        st = fl_obk_config_build(&c, sector, &err);
    if (st)
        return fl_lua_fail(L, &err);
    json_t *j = fl_obk_config_json(&c, false);
    if (!j)
        return luaL_error(L, "out of memory");
    lua_pushlstring(L, (const char *)sector, sizeof sector);
    lua_newtable(L);
    lua_pushstring(L, from);
    lua_setfield(L, -2, "base");
    set_json_fields(L, j);
    return 2;
}

static const luaL_Reg obk_funcs[] = {
    {"parse", o_parse},
    {"build", o_build},
    {NULL, NULL},
};

int luaopen_flashline_obk(lua_State *L)
{
    luaL_newlib(L, obk_funcs);
    return 1;
}
