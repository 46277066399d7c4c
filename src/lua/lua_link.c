/* flashline.link — byte links to a chip's UART.
 *
 *   local link = require "flashline.link"
 *   local l <close> = assert(link.open("rfc2217://127.0.0.1:4000"))
 *   l:write("reboot\r\n"); local data = l:read(64, 0.5)
 *   l:set_baud(921600); l:set_lines(true, false)   -- dtr, rts (nil = leave)
 */
#include <lauxlib.h>

#include "link/link.h"
#include "lua/lua_binding.h"

static int l_open(lua_State *L)
{
    const char *url = luaL_checkstring(L, 1);
    fl_error err = {0};
    fl_link *link;
    if (fl_link_open(url, &link, &err))
        return fl_lua_fail(L, &err);
    lua_link *ud = lua_newuserdatauv(L, sizeof *ud, 0);
    ud->link = link;
    ud->busy = false;
    luaL_setmetatable(L, LUA_LINK_MT);
    return 1;
}

lua_link *fl_lua_check_link(lua_State *L, int idx)
{
    lua_link *ud = luaL_checkudata(L, idx, LUA_LINK_MT);
    if (!ud->link)
        luaL_error(L, "link is closed");
    return ud;
}

static int l_write(lua_State *L)
{
    lua_link *ud = fl_lua_check_link(L, 1);
    size_t len;
    const char *data = luaL_checklstring(L, 2, &len);
    fl_error err = {0};
    if (fl_link_write(ud->link, data, len, &err))
        return fl_lua_fail(L, &err);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_read(lua_State *L)
{
    lua_link *ud = fl_lua_check_link(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2);
    double timeout = luaL_optnumber(L, 3, 1.0);
    luaL_argcheck(L, n > 0 && n <= 1 << 20, 2, "byte count must be 1..1048576");
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, (size_t)n);
    size_t got = 0;
    fl_error err = {0};
    if (fl_link_read(ud->link, p, (size_t)n, timeout, &got, &err))
        return fl_lua_fail(L, &err);
    luaL_pushresultsize(&b, got);
    return 1;
}

static int l_set_baud(lua_State *L)
{
    lua_link *ud = fl_lua_check_link(L, 1);
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
    return lua_isnoneornil(L, idx) ? -1 : lua_toboolean(L, idx);
}

static int l_set_lines(lua_State *L)
{
    lua_link *ud = fl_lua_check_link(L, 1);
    fl_error err = {0};
    if (fl_link_set_lines(ud->link, opt_line(L, 2), opt_line(L, 3), &err))
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
