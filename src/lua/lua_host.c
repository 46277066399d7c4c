/* lua_host.c — creating states, finding lua/, running scripts. */
#include "lua/lua_host.h"

#include <errno.h>
#include <lauxlib.h>
#include <stdint.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* $FLASHLINE_LUA, else lua/ beside the executable, else an installed copy's
 * ../share/flashline/lua (make install), else lua/ up to two levels up (the
 * build tree: ./flashline, build/san/flashline), else ./lua.  /proc/self/exe
 * is the real file, so a symlink to the binary finds the same directory.
 * Found once: workers share the answer. */
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
        /* share/ before the parents: an installed copy must not pick up a
         * stray lua/ in PREFIX's parent */
        const char *ups[] = {"", "/../share/flashline", "/..", "/../.."};
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

/* ---- the host: one per state, the allocator's user data --------------------- */

typedef struct lua_host {
    const fl_events *ev;
    size_t used;      /* bytes the state holds now */
    size_t limit;     /* refuse allocations beyond this: a runaway step gets "not enough memory" */
    bool warn_on;     /* Lua's warn("@on") / warn("@off") */
    bool warn_more;   /* in the middle of a warning made of several pieces */
    char warn_text[512];
} lua_host;

static lua_host *host_of(lua_State *L)
{
    void *ud = NULL;
    lua_getallocf(L, &ud);
    return ud;
}

const fl_events *fl_lua_events(lua_State *L)
{
    return host_of(L)->ev;
}

/* realloc with a ceiling.  Shrinking always succeeds (Lua relies on it). */
static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    lua_host *h = ud;
    size_t old = ptr ? osize : 0; /* without ptr, osize is an object type, not a size */
    if (nsize == 0) {
        free(ptr);
        h->used -= old;
        return NULL;
    }
    if (nsize > old && (h->used > h->limit || nsize - old > h->limit - h->used))
        return NULL;
    void *p = realloc(ptr, nsize);
    if (p)
        h->used = h->used - old + nsize;
    return p;
}

/* "268435456", "256M", "64k", "1G" → bytes; false when not a size. */
static bool parse_size(const char *text, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (end == text || errno || text[0] == '-')
        return false;
    unsigned shift = 0;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    default: break;
    }
    if (*end == 'i' && shift) /* 256MiB */
        end++;
    if ((*end == 'B' || *end == 'b') && end[1] == '\0')
        end++;
    if (*end || v == 0 || v > (SIZE_MAX >> shift))
        return false;
    *out = (size_t)v << shift;
    return true;
}

void fl_lua_set_memory_limit(lua_State *L, size_t bytes)
{
    host_of(L)->limit = bytes;
}

size_t fl_lua_memory_used(lua_State *L)
{
    return host_of(L)->used;
}

/* Lua's warn(): to the log, not to stderr. */
static void host_warn(void *ud, const char *msg, int tocont)
{
    lua_host *h = ud;
    if (!h->warn_more && !tocont && msg[0] == '@') { /* control message */
        if (!strcmp(msg, "@on"))
            h->warn_on = true;
        else if (!strcmp(msg, "@off"))
            h->warn_on = false;
        return;
    }
    size_t n = strlen(h->warn_text);
    snprintf(h->warn_text + n, sizeof h->warn_text - n, "%s", msg);
    h->warn_more = tocont;
    if (tocont)
        return;
    if (h->warn_on)
        fl_logf(h->ev, FL_LOG_WARN, "Lua warning: %s", h->warn_text);
    h->warn_text[0] = '\0';
}

/* Only reached for an error outside any protected call (a bug here): say
 * what it was before Lua aborts. */
static int host_panic(lua_State *L)
{
    const char *msg = lua_tostring(L, -1);
    fl_logf(fl_lua_events(L), FL_LOG_ERROR, "Lua panic: %s", msg ? msg : "(not a string)");
    return 0;
}

/* Every HOOK_INSTRUCTIONS Lua instructions: has the operator asked to stop?
 * This is what stops `while true do end`.  Once stopped, the hook fires on
 * every instruction of that thread, so a step that catches the error with
 * pcall in a loop is stopped again at its next instruction. */
#define HOOK_INSTRUCTIONS 10000

static void cancel_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    if (!fl_cancelled(fl_lua_events(L)))
        return;
    lua_sethook(L, cancel_hook, LUA_MASKCOUNT, 1);
    luaL_error(L, "stopped by the operator (interrupt)");
}

/* print(...) like Lua's, but into the event log: a step's output is tagged
 * with its port and becomes a JSON event under --json, never raw stdout. */
static int host_print(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&b, '\t');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    fl_logf(fl_lua_events(L), FL_LOG_INFO, "%s", lua_tostring(L, -1));
    return 0;
}

/* Append the text of the value at idx (converted on a copy: lua_next must
 * see its key untouched). */
static void append_value(lua_State *L, int idx, char *buf, size_t cap)
{
    lua_pushvalue(L, idx);
    const char *v = luaL_tolstring(L, -1, NULL);
    size_t n = strlen(buf);
    snprintf(buf + n, cap - n, "%s", v);
    lua_pop(L, 2);
}

const char *fl_lua_error_text(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    int t = lua_type(L, idx);
    if (t == LUA_TSTRING || t == LUA_TNUMBER) {
        lua_pushvalue(L, idx);
        return lua_tostring(L, -1);
    }
    if (luaL_getmetafield(L, idx, "__tostring") != LUA_TNIL) {
        lua_pop(L, 1);
        return luaL_tolstring(L, idx, NULL);
    }
    if (t != LUA_TTABLE)
        return lua_pushfstring(L, "error object is a %s value", luaL_typename(L, idx));
    /* error({code = 1, reason = "..."}): show its scalar fields (a few) */
    char text[400] = "error object is a table {";
    int shown = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int kt = lua_type(L, -2), vt = lua_type(L, -1);
        bool scalar = vt == LUA_TSTRING || vt == LUA_TNUMBER || vt == LUA_TBOOLEAN;
        if (scalar && (kt == LUA_TSTRING || kt == LUA_TNUMBER) && shown < 8) {
            if (shown++)
                strncat(text, ", ", sizeof text - strlen(text) - 1);
            append_value(L, -2, text, sizeof text);
            strncat(text, vt == LUA_TSTRING ? " = \"" : " = ", sizeof text - strlen(text) - 1);
            append_value(L, -1, text, sizeof text);
            if (vt == LUA_TSTRING)
                strncat(text, "\"", sizeof text - strlen(text) - 1);
        }
        lua_pop(L, 1);
    }
    strncat(text, "}", sizeof text - strlen(text) - 1);
    return lua_pushstring(L, text);
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

/* Everything that allocates runs here, protected: a state too small for
 * the limit fails cleanly instead of panicking. */
static int setup_state(lua_State *L)
{
    luaL_openlibs(L);
    preload(L, "flashline", luaopen_flashline);
    preload(L, "flashline.link", luaopen_flashline_link);
    preload(L, "flashline.beken", luaopen_flashline_beken);
    preload(L, "flashline.chip", luaopen_flashline_chip);
    preload(L, "flashline.log", luaopen_flashline_log);
    preload(L, "flashline.util", luaopen_flashline_util);
    preload(L, "flashline.db", luaopen_flashline_db);
    preload(L, "flashline.tuya", luaopen_flashline_tuya);
    preload(L, "flashline.obk", luaopen_flashline_obk);
    preload(L, "flashline.image", luaopen_flashline_image);
    extend_path(L);
    lua_pushcfunction(L, host_print);
    lua_setglobal(L, "print");
    return 0;
}

lua_State *fl_lua_new(const fl_events *ev, fl_error *err)
{
    lua_host *h = calloc(1, sizeof *h);
    if (!h) {
        fl_fail(err, FL_ERR_INTERNAL, "cannot create a Lua state (out of memory)");
        return NULL;
    }
    h->ev = ev;
    h->limit = FL_LUA_DEFAULT_MEMORY;
    const char *env = getenv("FLASHLINE_LUA_MEMORY");
    if (env && *env && !parse_size(env, &h->limit)) {
        free(h);
        fl_fail(err, FL_ERR_USAGE, "FLASHLINE_LUA_MEMORY='%s': expected a size such as 256M or "
                "1G", env);
        return NULL;
    }
    lua_State *L = lua_newstate(capped_alloc, h);
    if (!L) {
        free(h);
        fl_fail(err, FL_ERR_INTERNAL, "cannot create a Lua state (out of memory)");
        return NULL;
    }
    lua_atpanic(L, host_panic);
    lua_setwarnf(L, host_warn, h);
    lua_sethook(L, cancel_hook, LUA_MASKCOUNT, HOOK_INSTRUCTIONS);
    lua_pushcfunction(L, setup_state);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
        fl_fail(err, FL_ERR_INTERNAL, "cannot create a Lua state: %s (memory limit %zu bytes)",
                lua_tostring(L, -1), h->limit);
        fl_lua_close(L);
        return NULL;
    }
    return L;
}

void fl_lua_close(lua_State *L)
{
    if (!L)
        return;
    lua_host *h = host_of(L);
    lua_close(L);
    free(h);
}

int fl_lua_traceback(lua_State *L)
{
    luaL_traceback(L, L, fl_lua_error_text(L, 1), 1);
    return 1;
}

typedef struct script_call {
    const char *path;
    int argc;
    char **argv;
} script_call;

/* Protected: `arg`, the arguments, then the chunk (at index 1). */
static int call_script(lua_State *L)
{
    const script_call *c = lua_touserdata(L, 2);
    lua_settop(L, 1);
    lua_createtable(L, c->argc, 1);
    lua_pushstring(L, c->path);
    lua_rawseti(L, -2, 0);
    for (int i = 0; i < c->argc; i++) {
        lua_pushstring(L, c->argv[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setglobal(L, "arg");
    luaL_checkstack(L, c->argc, "too many arguments");
    for (int i = 0; i < c->argc; i++)
        lua_pushstring(L, c->argv[i]);
    lua_call(L, c->argc, 0);
    return 0;
}

fl_status fl_lua_run_file(lua_State *L, const char *path, int argc, char **argv, fl_error *err)
{
    int top = lua_gettop(L);
    lua_pushcfunction(L, fl_lua_traceback);
    lua_pushcfunction(L, call_script);
    if (luaL_loadfile(L, path) != LUA_OK) {
        fl_fail(err, FL_ERR_USAGE, "%s", lua_tostring(L, -1));
        lua_settop(L, top);
        return FL_ERR_USAGE;
    }
    script_call c = {path, argc, argv};
    lua_pushlightuserdata(L, &c);
    fl_status st = FL_OK;
    if (lua_pcall(L, 2, 0, top + 1) != LUA_OK) {
        st = fl_cancelled(fl_lua_events(L)) ? FL_ERR_CANCELLED : FL_ERR_USAGE;
        fl_fail(err, st, "%s", lua_tostring(L, -1));
    }
    lua_settop(L, top);
    return st;
}
