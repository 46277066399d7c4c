/* flashline.util — hashing, CRC and durable files for scripts.
 *
 *   local util = require "flashline.util"
 *   util.sha256(data) → hex;  util.crc(data) → device CRC (Beken);  util.crc32(data) → zlib CRC
 *   util.save(path, data) → true | nil, msg   (temp file + fsync + rename)
 *   util.load(path) → data | nil, msg;        util.hex(data) → "a1b2..."
 *   util.mkdir(path) → true | nil, msg        (like mkdir -p)
 *   util.probe_dir(path) → true | nil, msg    (could mkdir + save there succeed?) */
#include <lauxlib.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "lua/lua_host.h"
#include "util/crc32.h"
#include "util/fileio.h"
#include "util/sha256.h"

static void to_hex(const unsigned char *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int u_sha256(lua_State *L)
{
    size_t len;
    const char *data = luaL_checklstring(L, 1, &len);
    char hex[65];
    if (!fl_sha256_hex(data, len, hex))
        return luaL_error(L, "SHA-256 failed");
    lua_pushstring(L, hex);
    return 1;
}

static int u_crc(lua_State *L)
{
    size_t len;
    const char *data = luaL_checklstring(L, 1, &len);
    lua_pushinteger(L, fl_beken_crc(data, len));
    return 1;
}

static int u_crc32(lua_State *L)
{
    size_t len;
    const char *data = luaL_checklstring(L, 1, &len);
    lua_pushinteger(L, (lua_Integer)crc32(0, (const Bytef *)data, (uInt)len));
    return 1;
}

/* util.save(path, data [, {new = true}]): with `new`, a file already at
 * path is never replaced: nil, msg, "exists". */
static int u_save(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t len;
    const char *data = luaL_checklstring(L, 2, &len);
    bool only_new = false;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        lua_getfield(L, 3, "new");
        only_new = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    fl_error err = {0};
    bool existed = false;
    fl_status st = only_new ? fl_write_file_new(path, data, len, &existed, &err)
                            : fl_write_file_durable(path, data, len, &err);
    if (st && existed) {
        lua_pushnil(L);
        lua_pushstring(L, err.msg);
        lua_pushliteral(L, "exists");
        return 3;
    }
    if (st)
        return fl_lua_fail(L, &err);
    lua_pushboolean(L, 1);
    return 1;
}

typedef struct blob {
    const uint8_t *data;
    size_t len;
} blob;

static int push_blob(lua_State *L)
{
    const blob *b = lua_touserdata(L, 1);
    lua_pushlstring(L, (const char *)b->data, b->len);
    return 1;
}

static int u_load(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lua_Integer max = luaL_optinteger(L, 2, 64 << 20);
    luaL_argcheck(L, max >= 0, 2, "max_bytes must be >= 0");
    struct stat st; /* before open(): opening a fifo would block the step */
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s is not a regular file", path);
        lua_pushstring(L, "file");
        return 3;
    }
    uint8_t *data;
    size_t len;
    fl_error err = {0};
    if (fl_read_file(path, &data, &len, (size_t)max, &err))
        return fl_lua_fail(L, &err);
    /* copied under protection: over the memory limit, the C buffer is still freed */
    blob bl = {data, len};
    lua_pushcfunction(L, push_blob);
    lua_pushlightuserdata(L, &bl);
    int rc = lua_pcall(L, 1, 1, 0);
    free(data);
    if (rc != LUA_OK)
        return lua_error(L);
    return 1;
}

static int u_hex(lua_State *L)
{
    size_t len;
    const char *data = luaL_checklstring(L, 1, &len);
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, 2 * len + 1);
    to_hex((const unsigned char *)data, len, out);
    luaL_pushresultsize(&b, 2 * len);
    return 1;
}

static int u_mkdir(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return luaL_argerror(L, 1, "path too long");
    for (char *p = buf + 1;; p++) { /* each prefix, then the whole path */
        char c = *p;
        if (c != '/' && c != '\0')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
            lua_pushnil(L);
            lua_pushfstring(L, "cannot create directory %s: %s", buf, strerror(errno));
            lua_pushstring(L, "file");
            return 3;
        }
        *p = c;
        if (c == '\0')
            break;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int probe_fail(lua_State *L, const char *fmt, const char *a, const char *b)
{
    lua_pushnil(L);
    lua_pushfstring(L, fmt, a, b);
    lua_pushstring(L, "file");
    return 3;
}

/* Cut buf to its parent directory ("a/b/" -> "a", "a" -> ".", "/a" -> "/"). */
static void parent_dir(char *buf)
{
    size_t n = strlen(buf);
    while (n > 1 && buf[n - 1] == '/')
        buf[--n] = '\0';
    char *slash = strrchr(buf, '/');
    if (!slash)
        strcpy(buf, ".");
    else if (slash == buf)
        buf[1] = '\0';
    else
        *slash = '\0';
}

/* Could util.mkdir(path) and then util.save(path .. "/x") succeed?  Tried for
 * real (as root, permission bits say little), leaving nothing behind: in an
 * existing directory a probe file is created and removed; for a missing one,
 * a probe directory in the nearest existing ancestor.  Steps use it in
 * check(), before the unit is touched. */
static int u_probe_dir(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char dir[4096], probe[4200];
    if (!*path)
        return probe_fail(L, "%s%sthe directory name is empty", "", "");
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
        return luaL_argerror(L, 1, "path too long");
    struct stat st;
    bool exists = true;
    while (stat(dir, &st) != 0) {
        if (errno != ENOENT)
            return probe_fail(L, "cannot create directory %s: %s", path, strerror(errno));
        parent_dir(dir);
        exists = false;
    }
    if (!S_ISDIR(st.st_mode))
        return probe_fail(L, "cannot create directory %s: %s is not a directory", path, dir);
    snprintf(probe, sizeof probe, "%s/.flashline-probe-XXXXXX", dir);
    if (exists) {
        int fd = mkstemp(probe);
        if (fd < 0)
            return probe_fail(L, "cannot write in directory %s: %s", path, strerror(errno));
        close(fd);
        unlink(probe);
    } else {
        if (!mkdtemp(probe))
            return probe_fail(L, "cannot create directory %s: %s", path, strerror(errno));
        rmdir(probe);
    }
    lua_pushboolean(L, 1);
    return 1;
}

static const luaL_Reg util_funcs[] = {
    {"mkdir", u_mkdir}, {"probe_dir", u_probe_dir},
    {"sha256", u_sha256}, {"crc", u_crc},   {"crc32", u_crc32}, {"save", u_save},
    {"load", u_load},     {"hex", u_hex},   {NULL, NULL},
};

int luaopen_flashline_util(lua_State *L)
{
    luaL_newlib(L, util_funcs);
    return 1;
}
