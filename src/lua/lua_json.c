/* lua_json.c — jansson values as Lua values (shared by the format bindings). */
#include <jansson.h>
#include <lauxlib.h>

#include "lua/lua_binding.h"

void fl_lua_push_json(lua_State *L, const json_t *v)
{
    luaL_checkstack(L, 4, "JSON too deep");
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        lua_createtable(L, 0, (int)json_object_size(v));
        const char *key;
        json_t *item;
        json_object_foreach((json_t *)v, key, item) {
            fl_lua_push_json(L, item);
            lua_setfield(L, -2, key);
        }
        break;
    }
    case JSON_ARRAY: {
        lua_createtable(L, (int)json_array_size(v), 0);
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) {
            fl_lua_push_json(L, item);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    }
    case JSON_STRING: lua_pushlstring(L, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: lua_pushinteger(L, (lua_Integer)json_integer_value(v)); break;
    case JSON_REAL: lua_pushnumber(L, json_real_value(v)); break;
    case JSON_TRUE: lua_pushboolean(L, 1); break;
    case JSON_FALSE: lua_pushboolean(L, 0); break;
    default: lua_pushnil(L); break;
    }
}

void fl_lua_push_json_text(lua_State *L, const json_t *v)
{
    /* dumped straight into Lua memory: a memory error cannot leak a C copy */
    size_t flags = JSON_COMPACT | JSON_SORT_KEYS;
    size_t n = json_dumpb(v, NULL, 0, flags);
    if (n == 0) {
        luaL_error(L, "cannot encode JSON");
        return;
    }
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, n);
    json_dumpb(v, p, n, flags);
    luaL_pushresultsize(&b, n);
}
