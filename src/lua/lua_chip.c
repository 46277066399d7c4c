/* flashline.chip — one chip, reached the way the port says, through the
 * driver-neutral session (flash/flash.h): what recipe steps and custom
 * flows use.  The port chooses the driver (a UART port: the Beken UART
 * loader; a ch341a port: the SPI programmer), the library applies the range
 * policy before every call.
 *
 *   local chip = require "flashline.chip"
 *   local s <close> = assert(chip.connect("sim:bk7231n", "bk7231n", {baud = 921600}))
 *   local info = s:info()              -- chip, driver, access, flash_size, jedec, ...
 *   local data = assert(s:read(0, info.flash_size, function(phase, done, total) end))
 *   assert(s:write(0x11000, image:sub(0x11001)))
 *
 * Expected failures (no answer, verify mismatch, refused range, a chip the
 * port's driver does not serve) return nil, message, kind; wrong argument
 * types and values raise. */
#include <lauxlib.h>
#include <string.h>

#include "flash/flash.h"
#include "lua/lua_binding.h"
#include "lua/lua_session.h"

#define CHIP_SESSION_MT "flashline.ChipSession"

typedef struct chip_session {
    fl_flash *f; /* NULL once closed */
    fl_lua_op op;
} chip_session;

static chip_session *check_session(lua_State *L, int idx)
{
    chip_session *ud = luaL_checkudata(L, idx, CHIP_SESSION_MT);
    if (!ud->f)
        luaL_error(L, "session is closed");
    return ud;
}

/* For operations that talk to the chip: not from inside another one (a
 * progress callback) on the same session. */
static chip_session *check_idle(lua_State *L, int idx)
{
    chip_session *ud = check_session(L, idx);
    if (ud->op.busy)
        luaL_error(L, "the session is busy: no chip operation from inside another one's callback");
    return ud;
}

/* ---- construction -------------------------------------------------------- */

/* chip.connect(port, chip [, opts]) → session | nil, msg, kind */
static int c_connect(lua_State *L)
{
    const char *port = luaL_checkstring(L, 1);
    const fl_chip *chip = fl_lua_check_chip(L, 2, false);
    fl_flash_opts o;
    fl_lua_read_flash_opts(L, 3, &o, true);
    fl_error err = {0};
    if (fl_flash_check_port(port, chip, &err)) /* before anything is opened */
        return fl_lua_fail(L, &err);
    /* the userdata first: if it cannot be made, no port is left open */
    chip_session *ud = lua_newuserdatauv(L, sizeof *ud, 0);
    ud->f = NULL;
    fl_lua_op_init(L, &ud->op);
    luaL_setmetatable(L, CHIP_SESSION_MT);
    fl_lua_op_begin(L, &ud->op, 0);
    fl_status st = fl_flash_open(port, chip->name, &o, &ud->op.ev, &ud->f, &err);
    fl_lua_op_end(L, &ud->op);
    if (st)
        return fl_lua_fail(L, &err);
    return 1;
}

/* ---- methods ------------------------------------------------------------- */

static int s_info(lua_State *L)
{
    const fl_identity *id = fl_flash_identity(check_session(L, 1)->f);
    /* "rom" / "flash" for sessions that answer through a loader (the UART
     * driver): what recipes and logs used before there were drivers */
    const char *loader = NULL;
    if (id->access && !strcmp(id->access, "ROM loader"))
        loader = "rom";
    else if (id->access && !strcmp(id->access, "flash loader"))
        loader = "flash";
    fl_lua_push_identity(L, id, loader);
    return 1;
}

static int s_read(lua_State *L)
{
    chip_session *ud = check_idle(L, 1);
    uint32_t addr, len;
    luaL_Buffer b;
    uint8_t *buf = fl_lua_read_args(L, &b, &addr, &len);
    fl_error err = {0};
    fl_lua_op_begin(L, &ud->op, 4);
    fl_status st = fl_flash_read(ud->f, addr, len, buf, &err);
    fl_lua_op_end(L, &ud->op);
    if (st)
        return fl_lua_fail(L, &err);
    luaL_pushresultsize(&b, len);
    return 1;
}

/* s:read_proven(addr, len [, reference [, progress]]) → data, {sectors, sectors_read,
 * proven_erased, from_reference, reread, proven} (flash.h's fl_flash_read_proven). */
static int s_read_proven(lua_State *L)
{
    chip_session *ud = check_idle(L, 1);
    uint32_t addr, len;
    fl_lua_check_range(L, 2, &addr, &len);
    luaL_argcheck(L, len <= 64u << 20, 3, "length above 64 MiB");
    size_t ref_len = 0;
    const char *ref = NULL;
    if (!lua_isnoneornil(L, 4)) { /* a string of bytes, not a number that converts to one */
        luaL_checktype(L, 4, LUA_TSTRING);
        ref = lua_tolstring(L, 4, &ref_len);
    }
    fl_lua_op_check_callback(L, 5);
    lua_settop(L, 5);
    luaL_Buffer b;
    uint8_t *buf = (uint8_t *)luaL_buffinitsize(L, &b, len ? len : 1);
    fl_error err = {0};
    fl_read_stats rs;
    fl_lua_op_begin(L, &ud->op, 5);
    fl_status st = fl_flash_read_proven(ud->f, addr, len, buf, (const uint8_t *)ref, ref_len, &rs,
                                        &err);
    fl_lua_op_end(L, &ud->op);
    if (st)
        return fl_lua_fail(L, &err);
    luaL_pushresultsize(&b, len);
    lua_createtable(L, 0, 6);
    lua_pushinteger(L, rs.sectors), lua_setfield(L, -2, "sectors");
    lua_pushinteger(L, rs.sectors_read), lua_setfield(L, -2, "sectors_read");
    lua_pushinteger(L, rs.proven_erased), lua_setfield(L, -2, "proven_erased");
    lua_pushinteger(L, rs.from_reference), lua_setfield(L, -2, "from_reference");
    lua_pushinteger(L, rs.reread), lua_setfield(L, -2, "reread");
    lua_pushboolean(L, rs.proven), lua_setfield(L, -2, "proven");
    return 2;
}

static int s_write(lua_State *L)
{
    chip_session *ud = check_idle(L, 1);
    uint32_t addr, len;
    const char *data = fl_lua_write_args(L, &addr, &len);
    fl_error err = {0};
    fl_lua_op_begin(L, &ud->op, 4);
    fl_status st = fl_flash_write(ud->f, addr, (const uint8_t *)data, len, &err);
    fl_lua_op_end(L, &ud->op);
    return fl_lua_op_result(L, st, &err);
}

static int s_erase(lua_State *L)
{
    chip_session *ud = check_idle(L, 1);
    uint32_t addr, len;
    fl_lua_check_range(L, 2, &addr, &len);
    fl_lua_op_check_callback(L, 4);
    fl_error err = {0};
    fl_lua_op_begin(L, &ud->op, 4);
    fl_status st = fl_flash_erase(ud->f, addr, len, &err);
    fl_lua_op_end(L, &ud->op);
    return fl_lua_op_result(L, st, &err);
}

/* true | nil, msg, kind [, first bad address on a mismatch] */
static int s_verify(lua_State *L)
{
    chip_session *ud = check_idle(L, 1);
    uint32_t addr, len;
    const char *data = fl_lua_write_args(L, &addr, &len);
    fl_error err = {0};
    uint32_t bad = 0;
    fl_lua_op_begin(L, &ud->op, 4);
    fl_status st = fl_flash_verify(ud->f, addr, (const uint8_t *)data, len, &bad, &err);
    fl_lua_op_end(L, &ud->op);
    return fl_lua_verify_result(L, st, &err, bad);
}

/* The device-side CRC32 of a range (drivers without one: nil, msg, "usage"). */
static int s_crc(lua_State *L)
{
    chip_session *ud = check_idle(L, 1);
    uint32_t addr, len;
    fl_lua_check_range(L, 2, &addr, &len);
    fl_error err = {0};
    uint32_t crc = 0;
    fl_lua_op_begin(L, &ud->op, 0);
    fl_status st = fl_flash_device_crc(ud->f, addr, len, &crc, &err);
    fl_lua_op_end(L, &ud->op);
    if (st)
        return fl_lua_fail(L, &err);
    lua_pushinteger(L, crc);
    return 1;
}

static int s_read_mac(lua_State *L)
{
    chip_session *ud = check_idle(L, 1);
    uint8_t mac[6];
    fl_error err = {0};
    fl_lua_op_begin(L, &ud->op, 0);
    fl_status st = fl_flash_read_mac(ud->f, mac, &err);
    fl_lua_op_end(L, &ud->op);
    if (st)
        return fl_lua_fail(L, &err);
    fl_lua_push_mac(L, mac);
    return 1;
}

static int run_protect(lua_State *L, bool on)
{
    chip_session *ud = check_idle(L, 1);
    fl_error err = {0};
    fl_lua_op_begin(L, &ud->op, 0);
    fl_status st = fl_flash_protect(ud->f, on, &err);
    fl_lua_op_end(L, &ud->op);
    return fl_lua_op_result(L, st, &err);
}

static int s_protect(lua_State *L) { return run_protect(L, true); }
static int s_unprotect(lua_State *L) { return run_protect(L, false); }

static int s_reboot(lua_State *L)
{
    chip_session *ud = check_idle(L, 1);
    fl_error err = {0};
    fl_lua_op_begin(L, &ud->op, 0);
    fl_status st = fl_flash_reboot(ud->f, &err);
    fl_lua_op_end(L, &ud->op);
    return fl_lua_op_result(L, st, &err);
}

static int s_allow_bootloader(lua_State *L)
{
    chip_session *ud = check_idle(L, 1);
    luaL_checktype(L, 2, LUA_TBOOLEAN);
    fl_flash_set_allow_bootloader(ud->f, lua_toboolean(L, 2));
    return 0;
}

static int s_stats(lua_State *L)
{
    fl_flash_stats s;
    fl_flash_stats_get(check_session(L, 1)->f, &s);
    lua_newtable(L);
    fl_lua_set_int(L, "retries", s.retries);
    fl_lua_set_int(L, "resets", s.resets);
    fl_lua_set_int(L, "blocks_written", s.blocks_written);
    fl_lua_set_int(L, "blocks_skipped", s.blocks_skipped);
    fl_lua_set_int(L, "sectors_restored", s.sectors_restored);
    return 1;
}

static int s_close(lua_State *L)
{
    chip_session *ud = luaL_checkudata(L, 1, CHIP_SESSION_MT);
    if (ud->op.busy)
        return luaL_error(L, "cannot close the session from inside its own operation");
    fl_flash_close(ud->f);
    ud->f = NULL;
    fl_lua_op_release(L, &ud->op);
    return 0;
}

static int s_tostring(lua_State *L)
{
    chip_session *ud = luaL_checkudata(L, 1, CHIP_SESSION_MT);
    if (!ud->f) {
        lua_pushliteral(L, "flashline.chip session(closed)");
        return 1;
    }
    const fl_identity *id = fl_flash_identity(ud->f);
    lua_pushfstring(L, "flashline.chip session(%s via %s)", id->chip->name, id->driver);
    return 1;
}

/* ---- module functions ---------------------------------------------------- */

/* chip.chips() → { {name, display, family, loader, guard, flash_size, rf_offset, obk_config_offset}, … } */
static int c_chips(lua_State *L)
{
    lua_newtable(L);
    int i = 1;
    for (const fl_chip *const *c = fl_chip_all(); *c; c++) {
        fl_lua_push_chip(L, *c);
        fl_lua_set_str(L, "display", (*c)->display);
        fl_lua_set_str(L, "family", fl_chip_family_name((*c)->family));
        /* whether writes below 0x11000 need allow_bootloader (steps check it early) */
        fl_lua_set_str(L, "guard", (*c)->guard == FL_GUARD_BRICK    ? "brick"
                                   : (*c)->guard == FL_GUARD_OPT_IN ? "opt-in"
                                                                    : "none");
        lua_rawseti(L, -2, i++);
    }
    return 1;
}

/* chip.drivers() → text: each driver with its port forms and chips. */
static int c_drivers(lua_State *L)
{
    lua_pushstring(L, fl_flash_drivers_help());
    return 1;
}

static const luaL_Reg session_methods[] = {
    {"info", s_info},         {"read", s_read}, {"read_proven", s_read_proven},
    {"write", s_write},       {"erase", s_erase},
    {"verify", s_verify},     {"crc", s_crc},
    {"read_mac", s_read_mac}, {"protect", s_protect},
    {"unprotect", s_unprotect}, {"reboot", s_reboot},
    {"allow_bootloader", s_allow_bootloader}, {"stats", s_stats},
    {"close", s_close},       {NULL, NULL},
};

static const luaL_Reg session_meta[] = {
    {"__gc", s_close}, {"__close", s_close}, {"__tostring", s_tostring}, {NULL, NULL},
};

static const luaL_Reg chip_funcs[] = {
    {"connect", c_connect}, {"chips", c_chips}, {"drivers", c_drivers}, {NULL, NULL},
};

int luaopen_flashline_chip(lua_State *L)
{
    if (luaL_newmetatable(L, CHIP_SESSION_MT)) {
        luaL_setfuncs(L, session_meta, 0);
        luaL_newlib(L, session_methods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    luaL_newlib(L, chip_funcs);
    return 1;
}
