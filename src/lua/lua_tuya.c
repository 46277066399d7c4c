/* flashline.tuya — the Tuya configuration inside a flash dump, and the
 * OpenBeken pin map derived from it (spec part A).
 *
 *   local tuya = require "flashline.tuya"
 *   local cfg, err = tuya.extract(dump, "backup.bin" [, {show_secrets = false, pin_rules = "rules.jsonl"}])
 *   cfg.module, cfg.chip      -- "CB2S", "BK7231N"
 *   cfg.config                -- the decoded configuration as a table (secrets redacted)
 *   cfg.json                  -- the same as JSON text, for the audit log
 *   cfg.obk, cfg.obk_json     -- OBK pin roles / channels / commands, table and JSON
 *   cfg.warnings              -- e.g. Tuya pin keys with no OBK role
 * Secrets (Wi-Fi passwords, auth keys, PSK, UUIDs) stay "<redacted>" unless
 * show_secrets is true.  pin_rules: a file of OBK pin rules tried before the
 * shipped ones (formats/obk_rules.h); a bad file is nil, "FILE:LINE: ...", "format". */
#include <jansson.h>
#include <lauxlib.h>

#include "formats/obk_rules.h"
#include "formats/tuya_extract.h"
#include "lua/lua_binding.h"

static bool opt_bool(lua_State *L, int idx, const char *key)
{
    if (lua_isnoneornil(L, idx))
        return false;
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_getfield(L, idx, key);
    bool v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

static void set_json_field(lua_State *L, json_t *obj, const char *key, const char *lua_key)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return;
    fl_lua_push_json(L, v);
    lua_setfield(L, -2, lua_key);
}

typedef struct tuya_result {
    json_t *full, *obk;
    bool secrets;
} tuya_result;

/* Protected: builds the result table; a memory error cannot leak the JSON. */
static int push_result(lua_State *L)
{
    const tuya_result *r = lua_touserdata(L, 1);
    lua_newtable(L);
    set_json_field(L, r->full, "module", "module");
    set_json_field(L, r->full, "chip", "chip");
    set_json_field(L, r->full, "warnings", "warnings");
    set_json_field(L, r->full, "user_param_key_source", "source");
    fl_lua_push_json(L, r->full);
    lua_setfield(L, -2, "config");
    fl_lua_push_json_text(L, r->full);
    lua_setfield(L, -2, "json");
    if (r->obk) {
        fl_lua_push_json(L, r->obk);
        lua_setfield(L, -2, "obk");
        fl_lua_push_json_text(L, r->obk);
        lua_setfield(L, -2, "obk_json");
    }
    lua_pushboolean(L, !r->secrets);
    lua_setfield(L, -2, "redacted");
    return 1;
}

static int t_extract(lua_State *L)
{
    size_t len;
    const char *data = luaL_checklstring(L, 1, &len);
    const char *name = luaL_optstring(L, 2, NULL);
    bool secrets = opt_bool(L, 3, "show_secrets");
    const char *rules_path = NULL;
    if (!lua_isnoneornil(L, 3)) {
        lua_getfield(L, 3, "pin_rules");
        rules_path = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1);
        lua_pop(L, 1); /* the string stays alive in the options table */
    }
    fl_tuya_extract_opts opts = {0};
    fl_tuya_config cfg;
    fl_error err = {0};
    fl_obk_rules *rules = NULL;
    if (rules_path && (fl_obk_rules_new(&rules, &err) || fl_obk_rules_add_file(rules, rules_path, &err))) {
        fl_obk_rules_free(rules);
        return fl_lua_fail(L, &err);
    }
    opts.rules = rules;
    fl_status xst = fl_tuya_extract((const uint8_t *)data, len, name, &opts, &cfg, &err);
    fl_obk_rules_free(rules); /* the map keeps static role names only */
    if (xst)
        return fl_lua_fail(L, &err);
    json_t *full = fl_tuya_config_json(&cfg, FL_TUYA_JSON_OBK | (secrets ? FL_TUYA_JSON_SECRETS : 0));
    fl_tuya_config_free(&cfg);
    if (!full)
        return luaL_error(L, "out of memory");
    tuya_result r = {full, json_incref(json_object_get(full, "obk")), secrets};
    json_object_del(full, "obk"); /* the config proper; the pin map goes beside it */
    lua_pushcfunction(L, push_result);
    lua_pushlightuserdata(L, &r);
    int rc = lua_pcall(L, 1, 1, 0);
    json_decref(r.obk);
    json_decref(full);
    if (rc != LUA_OK)
        return lua_error(L);
    return 1;
}

static const luaL_Reg tuya_funcs[] = {
    {"extract", t_extract},
    {NULL, NULL},
};

int luaopen_flashline_tuya(lua_State *L)
{
    luaL_newlib(L, tuya_funcs);
    return 1;
}
