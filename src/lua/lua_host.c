/* lua_host.c — creating states, finding lua/, running scripts. */
#include "lua/lua_host.h"

#include <lauxlib.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char EVENTS_KEY[] = "flashline.events";

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* $FLASHLINE_LUA, else lua/ beside the executable or up to two levels up
 * (the build tree), else ./lua.  Found once: workers share the answer. */
static char lua_dir[PATH_MAX];
static pthread_once_t lua_dir_once = PTHREAD_ONCE_INIT;

static void find_lua_dir(void)
{
    char *dir = lua_dir;
    const char *env = getenv("FLASHLINE_LUA");
    if (env && is_dir(env)) {
        snprintf(dir, sizeof lua_dir, "%s", env);
        return;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        const char *ups[] = {"", "/..", "/../..", "/../share/flashline"};
        for (size_t i = 0; i < sizeof ups / sizeof ups[0]; i++) {
            if ((size_t)snprintf(dir, sizeof lua_dir, "%.3900s%s/lua", exe, ups[i]) >=
                sizeof lua_dir)
                continue;
            char check[PATH_MAX + 16];
            struct stat st;
            snprintf(check, sizeof check, "%s/API.md", dir); /* marks a flashline lua/ dir */
            if (stat(check, &st) == 0)
                return;
        }
    }
    snprintf(dir, sizeof lua_dir, "lua");
}

const char *fl_lua_dir(void)
{
    pthread_once(&lua_dir_once, find_lua_dir);
    return lua_dir;
}

int fl_lua_fail(lua_State *L, const fl_error *err)
{
    lua_pushnil(L);
    lua_pushstring(L, err->msg);
    lua_pushstring(L, fl_status_name(err->code));
    return 3;
}

const fl_events *fl_lua_events(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, EVENTS_KEY);
    const fl_events *ev = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return ev;
}

static void preload(lua_State *L, const char *name, lua_CFunction open)
{
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, open);
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
}

static void extend_path(lua_State *L)
{
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    const char *dir = fl_lua_dir();
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", dir, dir, lua_tostring(L, -1));
    lua_setfield(L, -3, "path");
    lua_pop(L, 2);
}

lua_State *fl_lua_new(const fl_events *ev, fl_error *err)
{
    lua_State *L = luaL_newstate();
    if (!L) {
        fl_fail(err, FL_ERR_INTERNAL, "cannot create a Lua state (out of memory)");
        return NULL;
    }
    luaL_openlibs(L);
    lua_pushlightuserdata(L, (void *)ev);
    lua_setfield(L, LUA_REGISTRYINDEX, EVENTS_KEY);
    preload(L, "flashline", luaopen_flashline);
    preload(L, "flashline.link", luaopen_flashline_link);
    preload(L, "flashline.beken", luaopen_flashline_beken);
    preload(L, "flashline.log", luaopen_flashline_log);
    preload(L, "flashline.util", luaopen_flashline_util);
    preload(L, "flashline.db", luaopen_flashline_db);
    preload(L, "flashline.tuya", luaopen_flashline_tuya);
    preload(L, "flashline.image", luaopen_flashline_image);
    extend_path(L);
    return L;
}

void fl_lua_close(lua_State *L)
{
    if (L)
        lua_close(L);
}

static int traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (!msg)
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    luaL_traceback(L, L, msg, 1);
    return 1;
}

fl_status fl_lua_run_file(lua_State *L, const char *path, int argc, char **argv, fl_error *err)
{
    lua_createtable(L, argc, 1);
    lua_pushstring(L, path);
    lua_rawseti(L, -2, 0);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setglobal(L, "arg");
    lua_pushcfunction(L, traceback);
    int base = lua_gettop(L);
    if (luaL_loadfile(L, path) != LUA_OK) {
        fl_fail(err, FL_ERR_USAGE, "%s", lua_tostring(L, -1));
        lua_settop(L, base - 1);
        return FL_ERR_USAGE;
    }
    for (int i = 0; i < argc; i++)
        lua_pushstring(L, argv[i]);
    int rc = lua_pcall(L, argc, 0, base);
    if (rc != LUA_OK) {
        fl_fail(err, FL_ERR_USAGE, "%s", lua_tostring(L, -1));
        lua_settop(L, base - 1);
        return FL_ERR_USAGE;
    }
    lua_settop(L, base - 1);
    return FL_OK;
}
