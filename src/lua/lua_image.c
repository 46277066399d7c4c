/* flashline.image — what a firmware or dump file is (spec images part B).
 *
 *   local image = require "flashline.image"
 *   local info = assert(image.identify(data, "OpenBK7231N_QIO_1.18.300.bin"))
 *   info.kind       -- "full_dump", "qio", "ua", "ug", "rbl", "tuya_config", ...
 *   info.chip       -- "bk7231n"... or nil when the content cannot tell
 *   info.crc_ok     -- false when a CRC16 block of the code is wrong (a corrupt file)
 *   info.details    -- everything `flashline image info --json` shows (MAC masked)
 *
 *   -- the one image policy (flash/image_policy.h), as `flashline write` uses it:
 *   local p, msg, kind = image.plan(data, "OpenBK7231N_QIO_1.18.300.bin", "bk7231n",
 *                                   {flash_size = info.flash_size})
 *   p.offset, p.skip, p.length, p.kind, p.chip, p.why   -- or nil, msg, "format"/"usage"/"refused"
 *   opts: offset (integer, flash address of the file's first byte), raw, allow_bootloader,
 *         force, read_only (booleans), flash_size (default: the largest flash the chip
 *         can have, for checks before connecting; pass the session's info().flash_size),
 *         port (the port the image will be written through: its driver's placement
 *         rules apply — over a SPI programmer a _QIO_ image is written whole from 0x0;
 *         default: a UART port) */
#include <jansson.h>
#include <lauxlib.h>
#include <string.h>

#include "flash/flash.h"
#include "flash/image_policy.h"
#include "formats/image_id.h"
#include "lua/lua_binding.h"

static void push_chip(lua_State *L, const char *chip)
{
    char lower[16];
    size_t n = strlen(chip);
    if (n == 0 || n >= sizeof lower) {
        lua_pushnil(L);
        return;
    }
    for (size_t i = 0; i <= n; i++)
        lower[i] = (char)(chip[i] >= 'A' && chip[i] <= 'Z' ? chip[i] + 32 : chip[i]);
    lua_pushstring(L, lower);
}

static int i_identify(lua_State *L)
{
    size_t len;
    const char *data = luaL_checklstring(L, 1, &len);
    const char *name = luaL_optstring(L, 2, NULL);
    fl_image_info info;
    fl_error err = {0};
    if (fl_image_identify((const uint8_t *)data, len, name, &info, &err))
        return fl_lua_fail(L, &err);
    lua_newtable(L);
    lua_pushstring(L, fl_image_kind_name(info.kind));
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, fl_image_kind_text(info.kind));
    lua_setfield(L, -2, "description");
    push_chip(L, info.chip_from_name ? "" : info.chip); /* content only: names can lie */
    lua_setfield(L, -2, "chip");
    lua_pushstring(L, info.chip_evidence);
    lua_setfield(L, -2, "chip_evidence");
    lua_pushboolean(L, info.chip_conflict);
    lua_setfield(L, -2, "chip_conflict");
    lua_pushboolean(L, info.boot_crc.bad == 0 && info.app_crc.bad == 0);
    lua_setfield(L, -2, "crc_ok");
    lua_pushboolean(L, info.code_key_known);
    lua_setfield(L, -2, "code_key_known");
    if (info.obk_version[0]) {
        lua_pushstring(L, info.obk_version);
        lua_setfield(L, -2, "obk_version");
    }
    json_t *j = fl_image_info_json(&info, false);
    if (j) {
        fl_lua_push_json(L, j);
        lua_setfield(L, -2, "details");
        json_decref(j);
    }
    fl_image_info_free(&info);
    return 1;
}

/* Optional field `key` of the options table at idx: a boolean (nil = false). */
static bool opt_bool(lua_State *L, int idx, const char *key)
{
    int t = lua_getfield(L, idx, key);
    if (t != LUA_TNIL && t != LUA_TBOOLEAN)
        luaL_error(L, "image.plan: option '%s' must be a boolean, got %s", key, lua_typename(L, t));
    bool v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

/* Optional field `key`: an integer 0..0xFFFFFFFF, or `absent` when nil. */
static int64_t opt_u32(lua_State *L, int idx, const char *key, int64_t absent)
{
    int t = lua_getfield(L, idx, key);
    int64_t v = absent;
    if (t != LUA_TNIL) {
        int isint;
        lua_Integer i = lua_tointegerx(L, -1, &isint);
        if (!isint || i < 0 || i > 0xFFFFFFFF)
            luaL_error(L, "image.plan: option '%s' must be an integer 0..0xFFFFFFFF", key);
        v = i;
    }
    lua_pop(L, 1);
    return v;
}

/* image.plan(data, name, chip [, opts]) → {offset, skip, length, kind, chip, why} | nil, msg, kind */
static int i_plan(lua_State *L)
{
    size_t len;
    const char *data = luaL_checklstring(L, 1, &len);
    const char *name = luaL_checkstring(L, 2);
    const char *chip_name = luaL_checkstring(L, 3);
    const fl_chip *chip = fl_chip_find(chip_name);
    if (!chip)
        return luaL_argerror(L, 3, lua_pushfstring(L, "unknown chip '%s' (known: %s)", chip_name,
                                                   fl_chip_names()));
    if (!lua_isnoneornil(L, 4))
        luaL_checktype(L, 4, LUA_TTABLE);
    fl_image_plan_opts o;
    fl_image_plan_opts_init(&o);
    uint32_t flash_size = 0; /* 0: the largest the chip can have, before the unit has told */
    const char *port = "";   /* a UART port: no driver placement flags */
    if (lua_istable(L, 4)) {
        o.offset = opt_u32(L, 4, "offset", -1);
        o.raw = opt_bool(L, 4, "raw");
        o.allow_bootloader = opt_bool(L, 4, "allow_bootloader");
        o.force = opt_bool(L, 4, "force");
        o.read_only = opt_bool(L, 4, "read_only");
        int64_t size = opt_u32(L, 4, "flash_size", -1);
        if (size == 0)
            return luaL_error(L, "image.plan: option 'flash_size' must be > 0");
        flash_size = size > 0 ? (uint32_t)size : 0;
        int t = lua_getfield(L, 4, "port");
        if (t != LUA_TNIL && t != LUA_TSTRING)
            return luaL_error(L, "image.plan: option 'port' must be a string, got %s",
                              lua_typename(L, t));
        if (t == LUA_TSTRING)
            port = lua_tostring(L, -1); /* stays on the stack while used */
    }
    fl_placement p;
    fl_error err = {0};
    if (fl_flash_plan_image(port, chip, name, (const uint8_t *)data, len, flash_size, &o, &p,
                            &err))
        return fl_lua_fail(L, &err);
    lua_newtable(L);
    lua_pushinteger(L, p.flash_offset);
    lua_setfield(L, -2, "offset");
    lua_pushinteger(L, p.file_skip);
    lua_setfield(L, -2, "skip");
    lua_pushinteger(L, p.length);
    lua_setfield(L, -2, "length");
    lua_pushstring(L, fl_image_kind_name(p.kind));
    lua_setfield(L, -2, "kind");
    push_chip(L, p.chip);
    lua_setfield(L, -2, "chip");
    lua_pushstring(L, p.why);
    lua_setfield(L, -2, "why");
    return 1;
}

static const luaL_Reg image_funcs[] = {
    {"identify", i_identify},
    {"plan", i_plan},
    {NULL, NULL},
};

int luaopen_flashline_image(lua_State *L)
{
    luaL_newlib(L, image_funcs);
    return 1;
}
