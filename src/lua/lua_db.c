/* flashline.db — the audit log from Lua.
 *
 *   local db = require "flashline.db"
 *   local d <close> = assert(db.open("flashline.db"))
 *   local run = assert(d:run_begin{station = "line-1", operator = "ana", recipe = "demo"})
 *   assert(d:step_begin("backup")); d:measure("bytes", 2097152, "B")
 *   d:artifact("backup", path, sha256, size); assert(d:step_end("PASS"))
 *   assert(d:run_end("PASS"))
 *
 * Inside a recipe, steps get `ctx.db`: the station's own handle, on which
 * runs and steps are managed by the station — a step records the unit, how
 * the run reached it (run_link), measurements, artifacts and Tuya configs;
 * step_begin/run_end raise there. */
#include <lauxlib.h>
#include <string.h>

#include "lua/lua_binding.h"
#include "storage/auditdb.h"

#define LUA_DB_MT "flashline.DB"

typedef struct lua_db {
    fl_auditdb *db; /* NULL once closed */
    bool borrowed;  /* the station's handle: not closed or run-managed from Lua */
} lua_db;

static lua_db *check_db(lua_State *L, int idx)
{
    lua_db *ud = luaL_checkudata(L, idx, LUA_DB_MT);
    if (!ud->db)
        luaL_error(L, "audit log is closed");
    return ud;
}

static lua_db *check_owned(lua_State *L, int idx, const char *what)
{
    lua_db *ud = check_db(L, idx);
    if (ud->borrowed)
        luaL_error(L, "%s: runs and steps of a recipe are managed by the station", what);
    return ud;
}

static int result(lua_State *L, fl_status st, const fl_error *err)
{
    if (st)
        return fl_lua_fail(L, err);
    lua_pushboolean(L, 1);
    return 1;
}

static const char *opt_field(lua_State *L, int idx, const char *key)
{
    int t = lua_getfield(L, idx, key);
    if (t != LUA_TNIL && t != LUA_TSTRING)
        luaL_error(L, "field '%s' must be a string, got %s", key, lua_typename(L, t));
    const char *v = t == LUA_TNIL ? NULL : lua_tostring(L, -1);
    lua_pop(L, 1); /* a string value stays alive: the table owns it */
    return v;
}

static fl_outcome check_outcome(lua_State *L, int idx)
{
    fl_outcome o;
    if (!fl_outcome_parse(luaL_checkstring(L, idx), &o) || o == FL_OUTCOME_RUNNING)
        luaL_argerror(L, idx, "outcome must be PASS, FAIL, ERROR or ABORTED");
    return o;
}

void fl_lua_push_db(lua_State *L, fl_auditdb *db)
{
    luaL_requiref(L, "flashline.db", luaopen_flashline_db, 0); /* creates the metatable */
    lua_pop(L, 1);
    lua_db *ud = lua_newuserdatauv(L, sizeof *ud, 0);
    ud->db = db;
    ud->borrowed = true;
    luaL_setmetatable(L, LUA_DB_MT);
}

#define DEFAULT_DB_KEY "flashline.default_db"

void fl_lua_set_default_db(lua_State *L, lua_CFunction resolve)
{
    lua_pushcfunction(L, resolve);
    lua_setfield(L, LUA_REGISTRYINDEX, DEFAULT_DB_KEY);
}

static int d_open(lua_State *L)
{
    const char *path = luaL_optstring(L, 1, NULL);
    if (!path) {
        if (lua_getfield(L, LUA_REGISTRYINDEX, DEFAULT_DB_KEY) != LUA_TFUNCTION) {
            lua_pushnil(L);
            lua_pushstring(L, "no audit log: give db.open(PATH) (this host named no default "
                              "log)");
            lua_pushstring(L, "usage");
            return 3;
        }
        lua_call(L, 0, 3);
        path = lua_tostring(L, -3); /* kept on the stack, so it stays valid */
        if (!path)
            return 3; /* nil, the resolver's message and kind */
    }
    /* the userdata first: if it cannot be made, no log is left open */
    lua_db *ud = lua_newuserdatauv(L, sizeof *ud, 0);
    ud->db = NULL;
    ud->borrowed = false;
    luaL_setmetatable(L, LUA_DB_MT);
    fl_error err = {0};
    if (fl_auditdb_open(path, NULL, &ud->db, &err))
        return fl_lua_fail(L, &err);
    return 1;
}

static int d_run_begin(lua_State *L)
{
    lua_db *ud = check_owned(L, 1, "run_begin");
    luaL_checktype(L, 2, LUA_TTABLE);
    fl_audit_run_info info = {
        .station = opt_field(L, 2, "station"),
        .operator_name = opt_field(L, 2, "operator"),
        .recipe_name = opt_field(L, 2, "recipe"),
        .recipe_sha256 = opt_field(L, 2, "recipe_sha256"),
        .port = opt_field(L, 2, "port"),
    };
    int64_t id;
    fl_error err = {0};
    if (fl_auditdb_run_begin(ud->db, &info, &id, &err))
        return fl_lua_fail(L, &err);
    lua_pushinteger(L, id);
    return 1;
}

static int d_unit(lua_State *L)
{
    lua_db *ud = check_db(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    fl_audit_unit u = {
        .mac = opt_field(L, 2, "mac"),
        .alt_id = opt_field(L, 2, "alt_id"),
        .chip = opt_field(L, 2, "chip"),
        .jedec_id = opt_field(L, 2, "jedec"),
        .loader_kind = opt_field(L, 2, "loader"),
    };
    lua_getfield(L, 2, "flash_size");
    u.flash_size = lua_isnil(L, -1) ? 0 : luaL_checkinteger(L, -1);
    lua_pop(L, 1);
    int64_t id;
    fl_error err = {0};
    if (fl_auditdb_run_unit(ud->db, &u, &id, &err))
        return fl_lua_fail(L, &err);
    lua_pushinteger(L, id);
    return 1;
}

/* Raise an argument error at the first key of the table at `arg` that is not
 * one of `known` (NULL-ended); `expected` lists them for the message. */
static void check_fields(lua_State *L, int arg, const char *const *known, const char *expected)
{
    lua_pushnil(L);
    while (lua_next(L, arg)) {
        lua_pop(L, 1);
        size_t i = 0;
        bool text = lua_type(L, -1) == LUA_TSTRING; /* lua_tostring would change a number key */
        while (text && known[i] && strcmp(lua_tostring(L, -1), known[i]))
            i++;
        if (!text || !known[i])
            luaL_argerror(L, arg, lua_pushfstring(L, "unknown field %s (expected %s)",
                                                  luaL_tolstring(L, -1, NULL), expected));
    }
}

/* d:run_link{driver=, programmer=}: how the run reached its chip (the
 * connect step records it).  The table is checked whole — only these two
 * string fields, driver not empty — before anything is written. */
static int d_run_link(lua_State *L)
{
    lua_db *ud = check_db(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    static const char *const fields[] = {"driver", "programmer", NULL};
    check_fields(L, 2, fields, "driver, programmer");
    const char *driver = opt_field(L, 2, "driver");
    const char *programmer = opt_field(L, 2, "programmer");
    if (!driver || !*driver)
        return luaL_argerror(L, 2, "field 'driver' must be a non-empty string");
    fl_error err = {0};
    return result(L, fl_auditdb_run_link(ud->db, driver, programmer, &err), &err);
}

static int d_step_begin(lua_State *L)
{
    lua_db *ud = check_owned(L, 1, "step_begin");
    int64_t id;
    fl_error err = {0};
    if (fl_auditdb_step_begin(ud->db, luaL_checkstring(L, 2), &id, &err))
        return fl_lua_fail(L, &err);
    lua_pushinteger(L, id);
    return 1;
}

static int d_measure(lua_State *L)
{
    lua_db *ud = check_db(L, 1);
    fl_error err = {0};
    return result(L, fl_auditdb_measure(ud->db, luaL_checkstring(L, 2), luaL_checknumber(L, 3),
                                        luaL_optstring(L, 4, NULL), &err),
                  &err);
}

/* d:artifact(kind, path, sha256, size [, {content=, vendor=, store_name=,
 * store_version=, store_source=}]): every argument is checked before
 * anything is recorded. */
static int d_artifact(lua_State *L)
{
    lua_db *ud = check_db(L, 1);
    const char *kind = luaL_checkstring(L, 2), *path = luaL_checkstring(L, 3);
    const char *sha = luaL_checkstring(L, 4);
    lua_Integer size = luaL_checkinteger(L, 5);
    const char *content = NULL;
    int vendor = -1;
    fl_audit_store_ref store = {0};
    if (!lua_isnoneornil(L, 6)) {
        luaL_checktype(L, 6, LUA_TTABLE);
        static const char *const fields[] = {"content", "vendor", "store_name", "store_version",
                                             "store_source", NULL};
        check_fields(L, 6, fields, "content, vendor, store_name, store_version, store_source");
        content = opt_field(L, 6, "content");
        store.name = opt_field(L, 6, "store_name");
        store.version = opt_field(L, 6, "store_version");
        store.source = opt_field(L, 6, "store_source");
        if ((store.name && !*store.name) || (store.version && !*store.version) ||
            (store.source && !*store.source))
            return luaL_argerror(L, 6, "store_name, store_version and store_source must not be "
                                       "empty");
        if (lua_getfield(L, 6, "vendor") != LUA_TNIL) {
            luaL_argexpected(L, lua_isboolean(L, -1), 6, "vendor as a boolean");
            vendor = lua_toboolean(L, -1);
        }
        lua_pop(L, 1);
        if (content && !*content)
            return luaL_argerror(L, 6, "content must not be empty");
    }
    fl_error err = {0};
    return result(L, fl_auditdb_artifact_full(ud->db, kind, path, sha, size, content, vendor,
                                              &store, &err),
                  &err);
}

static int d_tuya_config(lua_State *L)
{
    lua_db *ud = check_db(L, 1);
    luaL_checktype(L, 3, LUA_TBOOLEAN);
    fl_error err = {0};
    return result(L, fl_auditdb_tuya_config(ud->db, luaL_checkstring(L, 2), lua_toboolean(L, 3),
                                            luaL_optstring(L, 4, NULL), &err),
                  &err);
}

static int d_step_end(lua_State *L)
{
    lua_db *ud = check_owned(L, 1, "step_end");
    fl_error err = {0};
    return result(L, fl_auditdb_step_end(ud->db, check_outcome(L, 2), luaL_optstring(L, 3, NULL),
                                         &err),
                  &err);
}

static int d_run_end(lua_State *L)
{
    lua_db *ud = check_owned(L, 1, "run_end");
    fl_error err = {0};
    return result(L, fl_auditdb_run_end(ud->db, check_outcome(L, 2), luaL_optstring(L, 3, NULL),
                                        &err),
                  &err);
}

/* d:reference_backups{recipe=, chip=, flash_size=} → {{path=, sha256=, size=, run_id=}, …}
 * latest first (at most 8), or nil, msg, kind. */
static int d_reference_backups(lua_State *L)
{
    lua_db *ud = check_db(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, "recipe");
    const char *recipe = luaL_optstring(L, -1, NULL);
    lua_getfield(L, 2, "chip");
    const char *chip = luaL_checkstring(L, -1);
    lua_getfield(L, 2, "flash_size");
    lua_Integer size = luaL_checkinteger(L, -1);
    enum { CAP = 8 };
    fl_audit_backup_ref *refs = lua_newuserdatauv(L, CAP * sizeof *refs, 0);
    size_t n = 0;
    fl_error err = {0};
    if (fl_auditdb_reference_backups(ud->db, recipe, chip, size, refs, CAP, &n, &err))
        return fl_lua_fail(L, &err);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_createtable(L, 0, 4);
        lua_pushstring(L, refs[i].path), lua_setfield(L, -2, "path");
        lua_pushstring(L, refs[i].sha256), lua_setfield(L, -2, "sha256");
        lua_pushinteger(L, refs[i].size), lua_setfield(L, -2, "size");
        lua_pushinteger(L, refs[i].run_id), lua_setfield(L, -2, "run_id");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static int d_current_run(lua_State *L)
{
    lua_pushinteger(L, fl_auditdb_current_run(check_db(L, 1)->db));
    return 1;
}

static int d_path(lua_State *L)
{
    lua_pushstring(L, fl_auditdb_path(check_db(L, 1)->db));
    return 1;
}

static int d_close(lua_State *L)
{
    lua_db *ud = luaL_checkudata(L, 1, LUA_DB_MT);
    if (ud->db && !ud->borrowed)
        fl_auditdb_close(ud->db);
    ud->db = NULL;
    return 0;
}

static int d_tostring(lua_State *L)
{
    lua_db *ud = luaL_checkudata(L, 1, LUA_DB_MT);
    lua_pushfstring(L, "flashline.db(%s)", ud->db ? fl_auditdb_path(ud->db) : "closed");
    return 1;
}

static const luaL_Reg db_methods[] = {
    {"run_begin", d_run_begin}, {"unit", d_unit},       {"run_link", d_run_link},
    {"step_begin", d_step_begin},
    {"measure", d_measure},     {"artifact", d_artifact}, {"tuya_config", d_tuya_config},
    {"step_end", d_step_end},   {"run_end", d_run_end}, {"current_run", d_current_run},
    {"reference_backups", d_reference_backups},
    {"path", d_path},           {"close", d_close},     {NULL, NULL},
};

static const luaL_Reg db_meta[] = {
    {"__gc", d_close}, {"__close", d_close}, {"__tostring", d_tostring}, {NULL, NULL},
};

static const luaL_Reg db_funcs[] = {
    {"open", d_open},
    {NULL, NULL},
};

int luaopen_flashline_db(lua_State *L)
{
    if (luaL_newmetatable(L, LUA_DB_MT)) {
        luaL_setfuncs(L, db_meta, 0);
        luaL_newlib(L, db_methods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    luaL_newlib(L, db_funcs);
    return 1;
}
