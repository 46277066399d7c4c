/* flashline.beken — a Beken chip on a link: bus, identity, verified flash ops.
 *
 *   local beken = require "flashline.beken"
 *   local s <close> = assert(beken.connect("sim:bk7231n", "bk7231n", {baud = 921600}))
 *   local info = s:info()                      -- chip, loader, jedec, flash_size, ...
 *   local data = assert(s:read(0, info.flash_size, function(phase, done, total) end))
 *   assert(s:write(0x11000, image:sub(0x11001)))
 *
 * Expected failures (no answer, verify mismatch, refused range) return
 * nil, message; wrong argument types raise.
 *
 * This is the UART driver's own extension module, for engineers' step-by-
 * step flows on a link (open, get_bus, set_baud, identify).  Recipe steps
 * and custom flows use flashline.chip (lua_chip.c), which reaches any chip
 * through the driver the port names. */
#include <lauxlib.h>
#include <string.h>

#include "drivers/beken_uart/session.h"
#include "lua/lua_binding.h"
#include "lua/lua_session.h"
#include "util/crc32.h"

typedef struct lua_session {
    fl_beken *s;    /* NULL once closed */
    lua_link *link; /* kept alive through the user value */
    fl_lua_op op;   /* events, progress callback, busy (lua_binding.h) */
} lua_session;

static lua_session *check_session(lua_State *L, int idx)
{
    lua_session *ud = luaL_checkudata(L, idx, LUA_SESSION_MT);
    if (!ud->s)
        luaL_error(L, "session is closed");
    if (!ud->link->link)
        luaL_error(L, "the session's link was closed");
    return ud;
}

/* For operations that talk to the chip: not from inside another one (a
 * progress callback) on the same session or link. */
static lua_session *check_idle(lua_State *L, int idx)
{
    lua_session *ud = check_session(L, idx);
    if (ud->op.busy || ud->link->busy)
        luaL_error(L, "the session is busy: no chip operation from inside another one's callback");
    return ud;
}

/* Start an operation, after every argument was checked: the session and its
 * link are busy until end_op (see fl_lua_op_begin). */
static void begin_op(lua_State *L, lua_session *ud, int cb_idx)
{
    fl_lua_op_begin(L, &ud->op, cb_idx);
    ud->link->busy = true;
}

static void end_op(lua_State *L, lua_session *ud)
{
    ud->link->busy = false;
    fl_lua_op_end(L, &ud->op);
}

/* ---- construction -------------------------------------------------------- */

/* Pushes a new session on the link at idx. */
static lua_session *new_session(lua_State *L, int link_idx, const fl_chip *chip)
{
    lua_link *link = fl_lua_check_link(L, link_idx);
    if (link->busy)
        luaL_error(L, "the link is busy with a session operation");
    lua_session *ud = lua_newuserdatauv(L, sizeof *ud, 1);
    memset(ud, 0, sizeof *ud);
    ud->link = link;
    fl_lua_op_init(L, &ud->op);
    luaL_setmetatable(L, LUA_SESSION_MT);
    lua_pushvalue(L, link_idx);
    lua_setiuservalue(L, -2, 1);
    fl_error err;
    if (fl_beken_open(link->link, chip, &ud->op.ev, &ud->s, &err))
        luaL_error(L, "%s", err.msg);
    return ud;
}

static int b_open(lua_State *L)
{
    const fl_chip *chip = fl_lua_check_chip(L, 2, true);
    fl_lua_check_link(L, 1);
    lua_settop(L, 1);
    new_session(L, 1, chip);
    return 1;
}

/* beken.connect(link_or_url, chip, opts) → session | nil, msg */
static int b_connect(lua_State *L)
{
    const fl_chip *chip = fl_lua_check_chip(L, 2, true);
    fl_connect_opts o;
    fl_lua_read_flash_opts(L, 3, &o, false);
    bool own_link = lua_type(L, 1) == LUA_TSTRING;
    if (!own_link)
        fl_lua_check_link(L, 1);
    lua_settop(L, 1);
    if (own_link) {
        /* the userdata first: if it cannot be made, no port is left open */
        lua_link *lu = lua_newuserdatauv(L, sizeof *lu, 0);
        lu->link = NULL;
        lu->busy = false;
        luaL_setmetatable(L, LUA_LINK_MT);
        fl_error err = {0};
        if (fl_link_open(lua_tostring(L, 1), &lu->link, &err))
            return fl_lua_fail(L, &err);
        lua_replace(L, 1);
    }
    lua_session *ud = new_session(L, 1, chip);
    fl_error err = {0};
    begin_op(L, ud, 0);
    fl_status st = fl_beken_connect(ud->s, &o, &err);
    end_op(L, ud);
    if (st) {
        /* a failed connect must not keep the port (or an in-process simulator) open */
        fl_beken_close(ud->s);
        ud->s = NULL;
        if (own_link) {
            fl_link_close(ud->link->link);
            ud->link->link = NULL;
        }
        return fl_lua_fail(L, &err);
    }
    return 1;
}

/* ---- methods ------------------------------------------------------------- */

/* The info table: the identity fields flashline.chip shows, with the loader
 * kind from the chip table (no driver, access or programmer here). */
static void push_info(lua_State *L, const fl_beken *s)
{
    fl_identity id = {.chip = s->chip};
    fl_beken_identity(s, &id);
    fl_lua_push_identity(L, &id, s->chip->loader == FL_LOADER_ROM ? "rom" : "flash");
}

static int s_connect(lua_State *L)
{
    lua_session *ud = check_idle(L, 1);
    fl_connect_opts o;
    fl_lua_read_flash_opts(L, 2, &o, false);
    fl_error err = {0};
    begin_op(L, ud, 3);
    fl_status st = fl_beken_connect(ud->s, &o, &err);
    end_op(L, ud);
    return fl_lua_op_result(L, st, &err);
}

static int s_get_bus(lua_State *L)
{
    lua_session *ud = check_idle(L, 1);
    fl_connect_opts o;
    fl_lua_read_flash_opts(L, 2, &o, false);
    fl_error err = {0};
    begin_op(L, ud, 0);
    fl_status st = fl_beken_get_bus(ud->s, &o, &err);
    end_op(L, ud);
    return fl_lua_op_result(L, st, &err);
}

static int s_set_baud(lua_State *L)
{
    lua_session *ud = check_idle(L, 1);
    lua_Integer baud = luaL_checkinteger(L, 2);
    luaL_argcheck(L, baud >= 9600 && baud <= 6000000, 2, "baud rate out of range");
    fl_error err = {0};
    begin_op(L, ud, 0);
    fl_status st = fl_beken_set_baud(ud->s, (uint32_t)baud, &err);
    end_op(L, ud);
    return fl_lua_op_result(L, st, &err);
}

static int s_identify(lua_State *L)
{
    lua_session *ud = check_idle(L, 1);
    fl_error err = {0};
    begin_op(L, ud, 0);
    fl_status st = fl_beken_identify(ud->s, &err);
    end_op(L, ud);
    if (st)
        return fl_lua_fail(L, &err);
    push_info(L, ud->s);
    return 1;
}

static int s_info(lua_State *L)
{
    push_info(L, check_session(L, 1)->s);
    return 1;
}

static int s_read(lua_State *L)
{
    lua_session *ud = check_idle(L, 1);
    uint32_t addr, len;
    luaL_Buffer b;
    uint8_t *buf = fl_lua_read_args(L, &b, &addr, &len);
    fl_error err = {0};
    begin_op(L, ud, 4);
    fl_status st = fl_beken_read(ud->s, addr, len, buf, &err);
    end_op(L, ud);
    if (st)
        return fl_lua_fail(L, &err);
    luaL_pushresultsize(&b, len);
    return 1;
}

static int s_write(lua_State *L)
{
    lua_session *ud = check_idle(L, 1);
    uint32_t addr, len;
    const char *data = fl_lua_write_args(L, &addr, &len);
    fl_error err = {0};
    begin_op(L, ud, 4);
    fl_status st = fl_beken_write(ud->s, addr, (const uint8_t *)data, len, &err);
    end_op(L, ud);
    return fl_lua_op_result(L, st, &err);
}

static int s_erase(lua_State *L)
{
    lua_session *ud = check_idle(L, 1);
    uint32_t addr, len;
    fl_lua_check_range(L, 2, &addr, &len);
    fl_lua_op_check_callback(L, 4);
    fl_error err = {0};
    begin_op(L, ud, 4);
    fl_status st = fl_beken_erase(ud->s, addr, len, &err);
    end_op(L, ud);
    return fl_lua_op_result(L, st, &err);
}

static int s_verify(lua_State *L)
{
    lua_session *ud = check_idle(L, 1);
    uint32_t addr, len;
    const char *data = fl_lua_write_args(L, &addr, &len);
    fl_error err = {0};
    uint32_t bad = 0;
    begin_op(L, ud, 4);
    fl_status st = fl_beken_verify(ud->s, addr, (const uint8_t *)data, len, &bad, &err);
    end_op(L, ud);
    return fl_lua_verify_result(L, st, &err, bad);
}

static int s_read_mac(lua_State *L)
{
    lua_session *ud = check_idle(L, 1);
    uint8_t mac[6];
    fl_error err = {0};
    begin_op(L, ud, 0);
    fl_status st = fl_beken_read_mac(ud->s, mac, &err);
    end_op(L, ud);
    if (st)
        return fl_lua_fail(L, &err);
    fl_lua_push_mac(L, mac);
    return 1;
}

typedef fl_status (*simple_op)(fl_beken *, fl_error *);

static int run_simple(lua_State *L, simple_op op)
{
    lua_session *ud = check_idle(L, 1);
    fl_error err = {0};
    begin_op(L, ud, 0);
    fl_status st = op(ud->s, &err);
    end_op(L, ud);
    return fl_lua_op_result(L, st, &err);
}

static int s_unprotect(lua_State *L) { return run_simple(L, fl_beken_unprotect); }
static int s_protect(lua_State *L) { return run_simple(L, fl_beken_protect); }
static int s_reboot(lua_State *L) { return run_simple(L, fl_beken_reboot); }

static int s_allow_bootloader(lua_State *L)
{
    lua_session *ud = check_idle(L, 1);
    luaL_checktype(L, 2, LUA_TBOOLEAN);
    ud->s->allow_bootloader = lua_toboolean(L, 2);
    return 0;
}

static int s_stats(lua_State *L)
{
    fl_beken *s = check_session(L, 1)->s;
    lua_newtable(L);
    fl_lua_set_int(L, "retries", s->retries);
    fl_lua_set_int(L, "blocks_written", s->blocks_written);
    fl_lua_set_int(L, "blocks_skipped", s->blocks_skipped);
    fl_lua_set_int(L, "sectors_restored", s->sectors_restored);
    return 1;
}

static int s_close(lua_State *L)
{
    lua_session *ud = luaL_checkudata(L, 1, LUA_SESSION_MT);
    if (ud->op.busy)
        return luaL_error(L, "cannot close the session from inside its own operation");
    if (ud->s) {
        fl_beken_close(ud->s);
        ud->s = NULL;
    }
    fl_lua_op_release(L, &ud->op);
    return 0;
}

static int s_tostring(lua_State *L)
{
    lua_session *ud = luaL_checkudata(L, 1, LUA_SESSION_MT);
    lua_pushfstring(L, "flashline.beken session(%s)", ud->s ? ud->s->chip->name : "closed");
    return 1;
}

/* ---- module functions ---------------------------------------------------- */

static int b_crc(lua_State *L)
{
    size_t len;
    const char *data = luaL_checklstring(L, 1, &len);
    lua_pushinteger(L, fl_beken_crc(data, len));
    return 1;
}

static int b_chips(lua_State *L)
{
    lua_newtable(L);
    int i = 1;
    for (const fl_chip *const *c = fl_chip_all(); *c; c++) {
        if ((*c)->family != FL_FAMILY_BEKEN)
            continue;
        fl_lua_push_chip(L, *c);
        lua_rawseti(L, -2, i++);
    }
    return 1;
}

static const luaL_Reg session_methods[] = {
    {"connect", s_connect},     {"get_bus", s_get_bus},   {"set_baud", s_set_baud},
    {"identify", s_identify},   {"info", s_info},         {"read", s_read},
    {"write", s_write},         {"erase", s_erase},       {"verify", s_verify},
    {"read_mac", s_read_mac},   {"unprotect", s_unprotect}, {"protect", s_protect},
    {"reboot", s_reboot},       {"allow_bootloader", s_allow_bootloader},
    {"stats", s_stats},         {"close", s_close},       {NULL, NULL},
};

static const luaL_Reg session_meta[] = {
    {"__gc", s_close}, {"__close", s_close}, {"__tostring", s_tostring}, {NULL, NULL},
};

static const luaL_Reg beken_funcs[] = {
    {"open", b_open}, {"connect", b_connect}, {"crc", b_crc},
    {"chips", b_chips}, {NULL, NULL},
};

int luaopen_flashline_beken(lua_State *L)
{
    luaL_requiref(L, "flashline.link", luaopen_flashline_link, 0); /* Link metatable */
    lua_pop(L, 1);
    if (luaL_newmetatable(L, LUA_SESSION_MT)) {
        luaL_setfuncs(L, session_meta, 0);
        luaL_newlib(L, session_methods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    luaL_newlib(L, beken_funcs);
    return 1;
}
