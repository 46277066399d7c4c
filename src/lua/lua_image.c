/* flashline.image — what a firmware or dump file is (spec images part B).
 *
 *   local image = require "flashline.image"
 *   local info = assert(image.identify(data, "OpenBK7231N_QIO_1.18.300.bin"))
 *   info.kind       -- "full_dump", "qio", "ua", "ug", "rbl", "tuya_config", ...
 *   info.chip       -- "bk7231n"... or nil when the content cannot tell
 *   info.crc_ok     -- false when a CRC16 block of the code is wrong (a corrupt file)
 *   info.details    -- everything `flashline image info --json` shows (MAC masked) */
#include <jansson.h>
#include <lauxlib.h>
#include <string.h>

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

static const luaL_Reg image_funcs[] = {
    {"identify", i_identify},
    {NULL, NULL},
};

int luaopen_flashline_image(lua_State *L)
{
    luaL_newlib(L, image_funcs);
    return 1;
}
