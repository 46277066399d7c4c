/* flashline.log — log lines and progress through the host's event sink, so a
 * script's output is tagged with its port like everything else.
 *
 *   local log = require "flashline.log"
 *   log.info("backing up %s", mac); log.warn("..."); log.progress("copy", 10, 100)
 *   log.prompt("Insert the next unit") */
#include <lauxlib.h>

#include "lua/lua_host.h"

/* string.format(...) of the arguments from index 1. */
static const char *format_args(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_checkany(L, 1);
    if (n == 1)
        return luaL_tolstring(L, 1, NULL);
    lua_getglobal(L, "string");
    lua_getfield(L, -1, "format");
    for (int i = 1; i <= n; i++)
        lua_pushvalue(L, i);
    lua_call(L, n, 1);
    return lua_tostring(L, -1);
}

static int emit(lua_State *L, fl_log_level level)
{
    const char *msg = format_args(L);
    fl_logf(fl_lua_events(L), level, "%s", msg);
    return 0;
}

static int log_debug(lua_State *L) { return emit(L, FL_LOG_DEBUG); }
static int log_info(lua_State *L) { return emit(L, FL_LOG_INFO); }
static int log_warn(lua_State *L) { return emit(L, FL_LOG_WARN); }
static int log_error(lua_State *L) { return emit(L, FL_LOG_ERROR); }

static int log_prompt(lua_State *L)
{
    fl_prompt(fl_lua_events(L), "%s", format_args(L));
    return 0;
}

static int log_progress(lua_State *L)
{
    const char *phase = luaL_checkstring(L, 1);
    lua_Integer done = luaL_checkinteger(L, 2), total = luaL_checkinteger(L, 3);
    luaL_argcheck(L, done >= 0 && total >= 0, 2, "counts must be >= 0");
    fl_progress(fl_lua_events(L), phase, (uint64_t)done, (uint64_t)total);
    return 0;
}

static const luaL_Reg log_funcs[] = {
    {"debug", log_debug}, {"info", log_info},     {"warn", log_warn},         {"error", log_error},
    {"prompt", log_prompt}, {"progress", log_progress}, {NULL, NULL},
};

int luaopen_flashline_log(lua_State *L)
{
    luaL_newlib(L, log_funcs);
    return 1;
}
