/* flashline.link — byte links to a chip's UART.
 *
 *   local link = require "flashline.link"
 *   local l <close> = assert(link.open("rfc2217://127.0.0.1:4000"))
 *   l:write("reboot\r\n"); local data = l:read(64, 0.5)
 *   l:set_baud(921600); l:set_lines(true, false)   -- dtr, rts (nil = leave)
 */
#include <lauxlib.h>
#include <math.h>

#include "link/link.h"
#include "lua/lua_binding.h"
#include "util/clock.h"

static int l_open(lua_State *L)
{
    const char *url = luaL_checkstring(L, 1);
    /* the userdata first: if it cannot be made, no port is left open */
    lua_link *ud = lua_newuserdatauv(L, sizeof *ud, 0);
    ud->link = NULL;
    ud->busy = false;
    luaL_setmetatable(L, LUA_LINK_MT);
    fl_error err = {0};
    if (fl_link_open(url, &ud->link, &err))
        return fl_lua_fail(L, &err);
    return 1;
}

lua_link *fl_lua_check_link(lua_State *L, int idx)
{
    lua_link *ud = luaL_checkudata(L, idx, LUA_LINK_MT);
    if (!ud->link)
        luaL_error(L, "link is closed");
    return ud;
}

/* For I/O: not while a session operation on this link is running (from
 * its progress callback). */
static lua_link *check_idle(lua_State *L, int idx)
{
    lua_link *ud = fl_lua_check_link(L, idx);
    if (ud->busy)
        luaL_error(L, "the link is busy with a session operation");
    return ud;
}

static int l_write(lua_State *L)
{
    lua_link *ud = check_idle(L, 1);
    size_t len;
    const char *data = luaL_checklstring(L, 2, &len);
    fl_error err = {0};
    if (fl_link_write(ud->link, data, len, &err))
        return fl_lua_fail(L, &err);
    lua_pushboolean(L, 1);
    return 1;
}

/* A long wait is cut in slices so that Ctrl-C stops a blocked step. */
#define READ_SLICE_S 0.2

static int l_read(lua_State *L)
{
    lua_link *ud = check_idle(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2);
    double timeout = luaL_optnumber(L, 3, 1.0);
    luaL_argcheck(L, n > 0 && n <= 1 << 20, 2, "byte count must be 1..1048576");
    luaL_argcheck(L, timeout >= 0 && isfinite(timeout), 3, "timeout must be seconds >= 0");
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, (size_t)n);
    size_t got = 0;
    fl_error err = {0};
    const fl_events *ev = fl_lua_events(L);
    double deadline = fl_now() + timeout;
    for (;;) {
        double left = deadline - fl_now();
        if (fl_link_read(ud->link, p, (size_t)n, left < READ_SLICE_S ? (left > 0 ? left : 0)
                                                                     : READ_SLICE_S,
                         &got, &err))
            return fl_lua_fail(L, &err);
        if (got > 0 || left <= READ_SLICE_S)
            break;
        if (fl_cancelled(ev)) {
            fl_fail(&err, FL_ERR_CANCELLED, "stopped by the operator while reading the link");
            return fl_lua_fail(L, &err);
        }
    }
    luaL_pushresultsize(&b, got);
    return 1;
}

static int l_set_baud(lua_State *L)
{
    lua_link *ud = check_idle(L, 1);
    lua_Integer baud = luaL_checkinteger(L, 2);
    luaL_argcheck(L, baud >= 300 && baud <= 12000000, 2, "baud rate out of range");
    fl_error err = {0};
    if (fl_link_set_baud(ud->link, (uint32_t)baud, &err))
        return fl_lua_fail(L, &err);
    lua_pushboolean(L, 1);
    return 1;
}

static int opt_line(lua_State *L, int idx)
{
    if (lua_isnoneornil(L, idx))
        return -1;
    luaL_checktype(L, idx, LUA_TBOOLEAN);
    return lua_toboolean(L, idx);
}

static int l_set_lines(lua_State *L)
{
    lua_link *ud = check_idle(L, 1);
    int dtr = opt_line(L, 2), rts = opt_line(L, 3);
    fl_error err = {0};
    if (fl_link_set_lines(ud->link, dtr, rts, &err))
        return fl_lua_fail(L, &err);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_baud(lua_State *L)
{
    lua_pushinteger(L, fl_lua_check_link(L, 1)->link->baud);
    return 1;
}

static int l_url(lua_State *L)
{
    lua_pushstring(L, fl_lua_check_link(L, 1)->link->url);
    return 1;
}

static int l_close(lua_State *L)
{
    lua_link *ud = luaL_checkudata(L, 1, LUA_LINK_MT);
    if (ud->busy)
        return luaL_error(L, "cannot close the link while a session operation uses it");
    if (ud->link) {
        fl_link_close(ud->link);
        ud->link = NULL;
    }
    return 0;
}

static int l_tostring(lua_State *L)
{
    lua_link *ud = luaL_checkudata(L, 1, LUA_LINK_MT);
    lua_pushfstring(L, "flashline.link(%s)", ud->link ? ud->link->url : "closed");
    return 1;
}

static const luaL_Reg link_methods[] = {
    {"write", l_write},   {"read", l_read}, {"set_baud", l_set_baud}, {"set_lines", l_set_lines},
    {"baud", l_baud},     {"url", l_url},   {"close", l_close},       {NULL, NULL},
};

static const luaL_Reg link_meta[] = {
    {"__gc", l_close}, {"__close", l_close}, {"__tostring", l_tostring}, {NULL, NULL},
};

static const luaL_Reg link_funcs[] = {
    {"open", l_open},
    {NULL, NULL},
};

int luaopen_flashline_link(lua_State *L)
{
    if (luaL_newmetatable(L, LUA_LINK_MT)) {
        luaL_setfuncs(L, link_meta, 0);
        luaL_newlib(L, link_methods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    luaL_newlib(L, link_funcs);
    return 1;
}
