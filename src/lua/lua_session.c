/* lua_session.c — argument checks, options and tables shared by
 * flashline.chip and flashline.beken (see lua_session.h). */
#include "lua/lua_session.h"

#include <stdio.h>
#include <string.h>

#include "lua/lua_binding.h"

const fl_chip *fl_lua_check_chip(lua_State *L, int idx, bool beken_only)
{
    const char *name = luaL_checkstring(L, idx);
    const fl_chip *chip = fl_chip_find(name);
    if (!chip)
        luaL_argerror(L, idx, lua_pushfstring(L, "unknown chip '%s' (known: %s)", name,
                                              beken_only ? fl_chip_names()
                                                         : fl_chip_names_all()));
    if (beken_only && chip->family != FL_FAMILY_BEKEN)
        luaL_argerror(L, idx, lua_pushfstring(L, "chip '%s' is not a Beken chip", name));
    return chip;
}

void fl_lua_read_flash_opts(lua_State *L, int idx, fl_flash_opts *o, bool with_allow_bootloader)
{
    fl_flash_opts_init(o);
    if (lua_isnoneornil(L, idx))
        return;
    luaL_checktype(L, idx, LUA_TTABLE);
    if (lua_getfield(L, idx, "baud") == LUA_TSTRING && !strcmp(lua_tostring(L, -1), "max")) {
        o->baud = FL_BAUD_MAX; /* the fastest rate the line holds, probed */
    } else if (!lua_isnil(L, -1)) {
        lua_Integer baud = luaL_checkinteger(L, -1);
        if (baud < 9600 || baud > 6000000)
            luaL_error(L, "opts.baud %I is out of range (9600..6000000, or \"max\")", baud);
        o->baud = (uint32_t)baud;
    }
    lua_pop(L, 1);
    if (lua_getfield(L, idx, "last_baud") != LUA_TNIL) {
        lua_Integer baud = luaL_checkinteger(L, -1);
        if (baud < 9600 || baud > 6000000)
            luaL_error(L, "opts.last_baud %I is out of range (9600..6000000)", baud);
        o->last_baud = (uint32_t)baud;
    }
    lua_pop(L, 1);
    if (lua_getfield(L, idx, "link_timeout") != LUA_TNIL) {
        double t = luaL_checknumber(L, -1);
        if (!(t > 0 && t <= 86400)) /* also refuses nan and inf */
            luaL_error(L, "opts.link_timeout must be seconds in (0, 86400]");
        o->link_timeout_s = t;
    }
    lua_pop(L, 1);
    if (lua_getfield(L, idx, "reset") != LUA_TNIL &&
        !fl_reset_mode_parse(luaL_checkstring(L, -1), &o->reset))
        luaL_error(L, "opts.reset must be auto, pulse, reboot, manual or none");
    lua_pop(L, 1);
    if (!with_allow_bootloader)
        return;
    int t = lua_getfield(L, idx, "allow_bootloader");
    if (t != LUA_TNIL && t != LUA_TBOOLEAN)
        luaL_error(L, "opts.allow_bootloader must be a boolean");
    o->allow_bootloader = lua_toboolean(L, -1);
    lua_pop(L, 1);
}

uint32_t fl_lua_check_u32(lua_State *L, int idx, const char *what)
{
    lua_Integer v = luaL_checkinteger(L, idx);
    luaL_argcheck(L, v >= 0 && v <= 0xFFFFFFFF, idx, what);
    return (uint32_t)v;
}

void fl_lua_check_range(lua_State *L, int idx, uint32_t *addr, uint32_t *len)
{
    *addr = fl_lua_check_u32(L, idx, "address out of range");
    *len = fl_lua_check_u32(L, idx + 1, "length out of range");
}

const char *fl_lua_check_data(lua_State *L, int idx, uint32_t *len)
{
    size_t n;
    const char *data = luaL_checklstring(L, idx, &n);
    luaL_argcheck(L, n <= 0xFFFFFFFFu, idx, "data above 4 GiB");
    *len = (uint32_t)n;
    return data;
}

uint8_t *fl_lua_read_args(lua_State *L, luaL_Buffer *b, uint32_t *addr, uint32_t *len)
{
    fl_lua_check_range(L, 2, addr, len);
    luaL_argcheck(L, *len <= 64u << 20, 3, "length above 64 MiB");
    fl_lua_op_check_callback(L, 4);
    lua_settop(L, 4);
    return (uint8_t *)luaL_buffinitsize(L, b, *len ? *len : 1);
}

const char *fl_lua_write_args(lua_State *L, uint32_t *addr, uint32_t *len)
{
    *addr = fl_lua_check_u32(L, 2, "address out of range");
    const char *data = fl_lua_check_data(L, 3, len);
    fl_lua_op_check_callback(L, 4);
    return data;
}

int fl_lua_op_result(lua_State *L, fl_status st, const fl_error *err)
{
    if (st)
        return fl_lua_fail(L, err);
    lua_pushboolean(L, 1);
    return 1;
}

int fl_lua_verify_result(lua_State *L, fl_status st, const fl_error *err, uint32_t bad)
{
    int n = fl_lua_op_result(L, st, err);
    if (st == FL_ERR_VERIFY) {
        lua_pushinteger(L, bad);
        return n + 1;
    }
    return n;
}

void fl_lua_set_str(lua_State *L, const char *key, const char *v)
{
    if (v && *v) {
        lua_pushstring(L, v);
        lua_setfield(L, -2, key);
    }
}

void fl_lua_set_int(lua_State *L, const char *key, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, key);
}

void fl_lua_push_identity(lua_State *L, const fl_identity *id, const char *loader)
{
    lua_newtable(L);
    fl_lua_set_str(L, "chip", id->chip->name);
    if (id->chip->obk_config_offset) { /* the OpenBeken config sector and its pin layout (obk_config.h) */
        fl_lua_set_int(L, "obk_config_offset", id->chip->obk_config_offset);
        fl_lua_set_int(L, "obk_pin_count", id->chip->obk_pin_count);
    }
    fl_lua_set_str(L, "driver", id->driver);
    fl_lua_set_str(L, "access", id->access);
    fl_lua_set_str(L, "programmer", id->programmer);
    fl_lua_set_str(L, "loader", loader);
    fl_lua_set_int(L, "flash_size", id->flash_size);
    fl_lua_set_int(L, "baud", id->baud);
    if (id->baud_max_failed)
        fl_lua_set_int(L, "baud_max_failed", id->baud_max_failed);
    if (id->have_chip_id)
        fl_lua_set_int(L, "chip_id", id->chip_id);
    if (id->have_jedec) {
        char hex[8]; /* lua_pushfstring has no width flags */
        snprintf(hex, sizeof hex, "%02X%02X%02X", id->jedec[0], id->jedec[1], id->jedec[2]);
        fl_lua_set_str(L, "jedec", hex);
    }
    fl_lua_set_str(L, "flash_part", id->flash_part);
    fl_lua_set_str(L, "boot_version", id->boot_version);
    if (id->have_sr)
        fl_lua_set_int(L, "status_register", id->sr);
    fl_lua_set_str(L, "verified_by", id->verified_by);
}

void fl_lua_push_chip(lua_State *L, const fl_chip *c)
{
    lua_newtable(L);
    fl_lua_set_str(L, "name", c->name);
    if (c->family == FL_FAMILY_BEKEN)
        fl_lua_set_str(L, "loader", c->loader == FL_LOADER_ROM ? "rom" : "flash");
    fl_lua_set_int(L, "flash_size", c->default_flash_size);
    fl_lua_set_int(L, "rf_offset", c->rf_offset);
    fl_lua_set_int(L, "obk_config_offset", c->obk_config_offset);
    fl_lua_set_int(L, "obk_pin_count", c->obk_pin_count);
}

void fl_lua_push_mac(lua_State *L, const uint8_t mac[6])
{
    char text[20];
    snprintf(text, sizeof text, "%02X:%02X:%02X:%02X:%02X:%02X", mac[0], mac[1], mac[2], mac[3],
             mac[4], mac[5]);
    lua_pushstring(L, text);
}
