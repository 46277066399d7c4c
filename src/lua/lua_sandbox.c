/* lua_sandbox.c — what a recipe step may use of the standard library.
 *
 * A step runs inside the station: it must not end the process (os.exit
 * would leave the run RUNNING and exit 0 = PASS), run commands, delete or
 * rename files behind the audit log's back, load native code or bytecode,
 * or remove the host's cancellation hook (debug.sethook).  Steps get:
 *   os:    clock, date, difftime, getenv, time
 *   io:    nothing (files through flashline.util, output through print/log)
 *   debug: traceback, getinfo
 *   load/loadfile/dofile: source text only; require: Lua modules only.
 * Anything else of os, io and debug raises an error naming it.
 * `flashline lua SCRIPT` (an engineer's script) does not call this. */
#include <lauxlib.h>
#include <string.h>

#include "lua/lua_host.h"

static const char *const os_kept[] = {"clock", "date", "difftime", "getenv", "time", NULL};
static const char *const debug_kept[] = {"traceback", "getinfo", NULL};

/* __index of a restricted library (upvalues: its name, a hint). */
static int refuse_field(lua_State *L)
{
    const char *lib = lua_tostring(L, lua_upvalueindex(1));
    const char *key = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "?";
    if (!strcmp(lib, "os") && !strcmp(key, "exit"))
        return luaL_error(L, "os.exit is not available in a recipe step (it would end the whole "
                             "station): return nil, message, kind to end the step");
    return luaL_error(L, "%s.%s is not available in a recipe step%s", lib, key,
                      lua_tostring(L, lua_upvalueindex(2)));
}

/* Replace global `lib` (and package.loaded[lib]) by a table holding only
 * `kept` of the original; other fields raise. */
static void restrict_lib(lua_State *L, const char *lib, const char *const *kept, const char *hint)
{
    lua_getglobal(L, lib);
    int orig = lua_gettop(L);
    lua_newtable(L);
    for (const char *const *k = kept; k && *k; k++) {
        lua_getfield(L, orig, *k);
        lua_setfield(L, -2, *k);
    }
    lua_createtable(L, 0, 1);
    lua_pushstring(L, lib);
    lua_pushstring(L, hint);
    lua_pushcclosure(L, refuse_field, 2);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, "restricted");
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_setglobal(L, lib);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_insert(L, -2);
    lua_setfield(L, -2, lib);
    lua_settop(L, orig - 1);
}

/* load(chunk [, name [, mode [, env]]]) and loadfile(name [, mode [, env]])
 * with mode forced to "t": precompiled bytecode can crash the VM. */
static int call_text_only(lua_State *L, int mode_arg)
{
    if (lua_gettop(L) < mode_arg)
        lua_settop(L, mode_arg); /* keeps a given env (even nil) at its place */
    lua_pushliteral(L, "t");
    lua_replace(L, mode_arg);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

static int load_text(lua_State *L) { return call_text_only(L, 3); }
static int loadfile_text(lua_State *L) { return call_text_only(L, 2); }

static int dofile_text(lua_State *L)
{
    const char *name = luaL_optstring(L, 1, NULL);
    lua_settop(L, 1);
    if (!name)
        return luaL_error(L, "dofile needs a file name in a recipe step");
    if (luaL_loadfilex(L, name, "t") != LUA_OK)
        return lua_error(L);
    lua_call(L, 0, LUA_MULTRET);
    return lua_gettop(L) - 1;
}

static void wrap_global(lua_State *L, const char *name, lua_CFunction f)
{
    lua_getglobal(L, name);
    lua_pushcclosure(L, f, 1);
    lua_setglobal(L, name);
}

/* package: Lua modules from package.path only (preload and Lua searchers). */
static void lua_modules_only(lua_State *L)
{
    lua_getglobal(L, "package");
    lua_pushliteral(L, "");
    lua_setfield(L, -2, "cpath");
    lua_pushnil(L);
    lua_setfield(L, -2, "loadlib");
    lua_getfield(L, -1, "searchers");
    for (lua_Integer i = (lua_Integer)luaL_len(L, -1); i > 2; i--) {
        lua_pushnil(L);
        lua_rawseti(L, -2, i);
    }
    lua_pop(L, 2);
}

static int sandbox(lua_State *L)
{
    restrict_lib(L, "os", os_kept, ": steps may use os.time, os.clock, os.date, os.difftime "
                                   "and os.getenv");
    restrict_lib(L, "io", NULL, ": use flashline.util (load, save, mkdir) for files and print "
                                "or flashline.log for output");
    restrict_lib(L, "debug", debug_kept, ": steps may use debug.traceback and debug.getinfo");
    wrap_global(L, "load", load_text);
    wrap_global(L, "loadfile", loadfile_text);
    lua_pushcfunction(L, dofile_text);
    lua_setglobal(L, "dofile");
    lua_modules_only(L);
    return 0;
}

fl_status fl_lua_sandbox_steps(lua_State *L, fl_error *err)
{
    lua_pushcfunction(L, sandbox);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
        fl_status st = fl_fail(err, FL_ERR_INTERNAL, "cannot restrict the Lua state: %s",
                               lua_tostring(L, -1));
        lua_pop(L, 1);
        return st;
    }
    return FL_OK;
}
