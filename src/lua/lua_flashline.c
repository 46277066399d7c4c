/* flashline — the umbrella module: require "flashline" gives every submodule
 * (chip, link, beken, log, util, and the others registered in package.preload). */
#include <lauxlib.h>
#include <string.h>

#include "lua/lua_host.h"

static const char *const submodules[] = {"chip", "link", "beken", "log", "util", "db", "tuya", "image",
                                         NULL};

int luaopen_flashline(lua_State *L)
{
    lua_newtable(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    for (const char *const *m = submodules; *m; m++) {
        lua_pushfstring(L, "flashline.%s", *m);
        const char *full = lua_tostring(L, -1);
        if (lua_getfield(L, -2, full) == LUA_TFUNCTION) { /* only what this build has */
            lua_pop(L, 1);
            lua_getglobal(L, "require");
            lua_pushstring(L, full);
            lua_call(L, 1, 1);
            lua_setfield(L, -4, *m);
        } else {
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    lua_pushliteral(L, "0.1");
    lua_setfield(L, -2, "version");
    return 1;
}
