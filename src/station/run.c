/* run.c — one recipe on one port: check, record, run the steps in Lua. */
#include "station/run.h"

#include <lauxlib.h>
#include <limits.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flash/chips.h"
#include "lua/lua_host.h"
#include "station/fwstore.h"
#include "station/home.h"
#include "station/recipe.h"
#include "util/clock.h"

typedef struct worker {
    const fl_run_opts *o;
    fl_recipe *r;
    lua_State *L;
    int ctx_ref;       /* the ctx table every step receives */
    int mods_ref;      /* step modules, by step index */
    bool checking;     /* before the run: unit.* and run.* are not known yet */
    bool saw_late_var; /* a value used unit.* / run.*: cannot be checked yet */
    char station[128];
    char operator_name[128];
    fl_home *home;     /* the station home: log, backups dir, station.yaml defaults */
    fl_fwstore *store; /* the home's firmware store, opened at the first reference to it */
    bool repeat_checked; /* the unit was looked up in earlier runs */
    char scratch[4][512]; /* lookup results that are not owned elsewhere */
    int next_scratch;
    fl_events ev;      /* what Lua gets: forwards to o->ev and keeps the run's heartbeat */
    fl_auditdb *db;    /* set once the run is recorded */
    double last_beat;
    char late_error[300]; /* why reading a ${unit.*} / ${run.*} value failed */
} worker;

/* ---- events: forwarded, with a heartbeat for long steps --------------------- */

#define HEARTBEAT_S 30.0

static void w_log(void *ctx, fl_log_level level, const char *msg)
{
    worker *w = ctx;
    if (w->o->ev && w->o->ev->log)
        w->o->ev->log(w->o->ev->ctx, level, msg);
}

static void w_prompt(void *ctx, const char *msg)
{
    worker *w = ctx;
    if (w->o->ev && w->o->ev->prompt)
        w->o->ev->prompt(w->o->ev->ctx, msg);
}

static int w_cancelled(void *ctx)
{
    worker *w = ctx;
    return fl_cancelled(w->o->ev);
}

/* Progress comes often during long reads and writes: a good moment to tell
 * the log this run is alive (other hosts judge stale runs by it). */
static void w_progress(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
    worker *w = ctx;
    fl_progress(w->o->ev, phase, done, total);
    double now = fl_now();
    if (w->db && now - w->last_beat >= HEARTBEAT_S) {
        fl_error e;
        w->last_beat = now;
        if (fl_auditdb_heartbeat(w->db, &e))
            fl_logf(w->o->ev, FL_LOG_WARN, "audit log heartbeat: %s", e.msg);
    }
}

static void init_events(worker *w)
{
    w->ev.log = w_log;
    w->ev.prompt = w_prompt;
    w->ev.cancelled = w_cancelled;
    w->ev.progress = w_progress;
    w->ev.ctx = w;
    w->last_beat = fl_now();
}

/* ---- variables ------------------------------------------------------------ */

static const char *set_value(const fl_run_opts *o, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < o->nsets; i++)
        if (!strncmp(o->sets[i], name, n) && o->sets[i][n] == '=')
            return o->sets[i] + n + 1;
    return NULL;
}

static char *scratch(worker *w)
{
    w->next_scratch = (w->next_scratch + 1) % 4;
    return w->scratch[w->next_scratch];
}

typedef struct late_read {
    worker *w;
    const char *table, *field;
    const char *value;
} late_read;

/* Protected: a step may have left values (or metatables) in ctx that raise
 * when read, and converting may allocate. */
static int read_late(lua_State *L)
{
    late_read *r = lua_touserdata(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->w->ctx_ref);
    lua_getfield(L, -1, r->table);
    if (lua_istable(L, -1) && lua_getfield(L, -1, r->field) != LUA_TNIL) {
        char *buf = scratch(r->w);
        snprintf(buf, sizeof r->w->scratch[0], "%s", luaL_tolstring(L, -1, NULL));
        r->value = buf;
    }
    return 0;
}

/* unit.mac, unit.chip, ... and run.id come from the ctx table at run time.
 * NULL when unset, or when reading it raised (the reason in w->late_error). */
static const char *late_value(worker *w, const char *table, const char *field)
{
    if (w->checking) {
        w->saw_late_var = true;
        return "";
    }
    late_read r = {w, table, field, NULL};
    lua_pushcfunction(w->L, read_late);
    lua_pushlightuserdata(w->L, &r);
    if (lua_pcall(w->L, 1, 0, 0) != LUA_OK) {
        snprintf(w->late_error, sizeof w->late_error, "${%s.%s}: %s", table, field,
                 lua_type(w->L, -1) == LUA_TSTRING ? lua_tostring(w->L, -1) : "(unreadable)");
        lua_pop(w->L, 1);
        return NULL;
    }
    return r.value;
}

static const char *lookup(void *ctx, const char *name)
{
    worker *w = ctx;
    const char *v = set_value(w->o, name);
    if (!v)
        v = fl_recipe_get(w->r->vars, w->r->nvars, name);
    if (v)
        return v;
    if (!strcmp(name, "port"))
        return w->o->port ? w->o->port : "";
    if (!strcmp(name, "chip"))
        return w->r->chip;
    if (!strcmp(name, "recipe"))
        return w->r->name;
    if (!strcmp(name, "recipe_dir"))
        return w->r->dir;
    if (!strcmp(name, "station"))
        return w->station;
    if (!strcmp(name, "operator"))
        return w->operator_name;
    if (!strncmp(name, "unit.", 5))
        return late_value(w, "unit", name + 5);
    if (!strncmp(name, "run.", 4))
        return late_value(w, "run", name + 4);
    return NULL;
}

static fl_status expand(worker *w, const char *text, fl_recipe_pos pos, char **out, fl_error *err)
{
    w->late_error[0] = '\0';
    fl_status st = fl_recipe_expand(w->r, text, pos, lookup, w, out, err);
    if (st && w->late_error[0])
        st = fl_fail(err, st, "%s:%d:%d: cannot read %s", w->r->path, pos.line, pos.column,
                     w->late_error);
    return st;
}

/* "/a/b/../c/./d" -> "/a/c/d", in place: for paths that do not exist yet
 * (realpath cannot help), so the log never shows "dir/../x". */
static void normalise_path(char *p)
{
    char *out = p, *in = p;
    while (*in) {
        while (*in == '/')
            in++;
        size_t n = strcspn(in, "/");
        if (n == 1 && in[0] == '.') {
            /* skip */
        } else if (n == 2 && in[0] == '.' && in[1] == '.') {
            while (out > p && *--out != '/')
                ;
        } else if (n) {
            *out++ = '/';
            memmove(out, in, n);
            out += n;
        }
        in += n;
    }
    if (out == p)
        *out++ = '/';
    *out = '\0';
}

/* Relative paths in a recipe are relative to the recipe file; every path is
 * logged absolute (existing files by their real path), so the audit trail
 * names them exactly whatever the working directory was. */
static void resolve_path(const worker *w, const char *value, char *out, size_t cap)
{
    char joined[PATH_MAX];
    char *dir = value[0] == '/' ? NULL : realpath(w->r->dir, NULL);
    if (value[0] == '/' || !dir)
        snprintf(joined, sizeof joined, "%s", value);
    else
        snprintf(joined, sizeof joined, "%s/%s", dir, value);
    free(dir);
    char *real = realpath(joined, NULL);
    if (!real && joined[0] == '/')
        normalise_path(joined);
    snprintf(out, cap, "%s", real ? real : joined);
    free(real);
}

/* ---- firmware references ---------------------------------------------------- */

/* The value of a `file` parameter as a path.  A firmware reference
 * ("OpenBK7231N@1.18.300", "sha256:<hex>") names an image in the station's
 * firmware store (station/fwstore.h; *entry says which), so stock recipes run
 * from an installed copy; anything else is a path relative to the recipe.  A
 * reference the store cannot resolve fails at `pos` with the command that
 * gets the image. */
static fl_status file_value(worker *w, const char *value, fl_recipe_pos pos, char *out,
                            size_t cap, const fl_fw_entry **entry, fl_error *err)
{
    *entry = NULL;
    if (!fl_fwstore_is_ref(value)) {
        resolve_path(w, value, out, cap);
        return FL_OK;
    }
    fl_status st = FL_OK;
    if (!w->store)
        st = fl_fwstore_open(fl_home_firmware_dir(w->home), &w->store, err);
    const fl_fw_entry *e = NULL;
    if (!st)
        st = fl_fwstore_find(w->store, value, &e, err);
    if (!st) /* content-named: bytes changed on disk are not the image the recipe names */
        st = fl_fwstore_verify(e, err);
    if (st) { /* a recipe that cannot run: the recipe's status, at its line */
        fl_fail_prefix(err, "%s:%d:%d", w->r->path, pos.line, pos.column);
        err->code = FL_ERR_FORMAT;
        return FL_ERR_FORMAT;
    }
    snprintf(out, cap, "%s", e->path);
    *entry = e;
    return FL_OK;
}

static void set_str(lua_State *L, const char *key, const char *v);

/* ctx.firmware_store[path] = the store entry a reference resolved to: the
 * flash step logs it with the image (name, version, source) and checks the
 * image still has the SHA-256 the store recorded. */
static void publish_store_entry(worker *w, const char *ref, const fl_fw_entry *e)
{
    lua_State *L = w->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, w->ctx_ref);
    if (lua_getfield(L, -1, "firmware_store") != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, "firmware_store");
    }
    lua_newtable(L);
    set_str(L, "ref", ref);
    set_str(L, "name", e->name);
    set_str(L, "version", e->version[0] ? e->version : NULL);
    set_str(L, "chip", e->chip);
    set_str(L, "sha256", e->sha256);
    set_str(L, "source", e->source);
    lua_setfield(L, -2, e->path);
    lua_pop(L, 2);
}

/* ---- step modules ------------------------------------------------------------ */

static const char STOCK_STEPS[] =
    "connect, identify, backup, extract_tuya, erase, flash, verify, reboot, lua";

static fl_status step_fail(worker *w, fl_recipe_pos p, fl_error *err, const char *fmt,
                           const char *a, const char *b)
{
    char msg[FL_STEP_MESSAGE_MAX + 200];
    if (snprintf(msg, sizeof msg, fmt, a, b) >= (int)sizeof msg)
        fl_text_mark_cut(msg, sizeof msg);
    return fl_fail(err, FL_ERR_FORMAT, "%s:%d:%d: %s", w->r->path, p.line, p.column, msg);
}

/* The first line of the error text at idx (the rest is the traceback):
 * kept in a buffer, valid until the next call. */
static const char *first_line(lua_State *L, int idx)
{
    static _Thread_local char line[FL_STEP_MESSAGE_MAX];
    const char *text = fl_lua_error_text(L, idx);
    size_t n = strcspn(text, "\n");
    if (n < sizeof line) {
        memcpy(line, text, n);
        line[n] = '\0';
    } else { /* a long message: cut where a character starts, and say so */
        memcpy(line, text, sizeof line - 1);
        line[sizeof line - 1] = '\0';
        fl_text_mark_cut(line, sizeof line);
    }
    lua_pop(L, 1);
    return line;
}

/* Push the module of a `lua` step: the file returns a table with run(ctx,
 * args), or a function (taken as run). */
static fl_status push_custom_module(worker *w, const fl_recipe_step *st, fl_error *err)
{
    lua_State *L = w->L;
    const fl_recipe_kv *file = NULL;
    for (size_t i = 0; i < st->nargs; i++)
        if (!strcmp(st->args[i].key, "file"))
            file = &st->args[i];
    if (!file)
        return step_fail(w, st->pos, err, "step 'lua' needs 'file' (a Lua file returning a table "
                                          "with run(ctx, args))%s%s", "", "");
    char *expanded;
    fl_status s = expand(w, file->value, file->pos, &expanded, err);
    if (s)
        return s;
    char path[PATH_MAX];
    resolve_path(w, expanded, path, sizeof path);
    free(expanded);
    lua_pushcfunction(L, fl_lua_traceback);
    if (luaL_loadfilex(L, path, "t") != LUA_OK || lua_pcall(L, 0, 1, -2) != LUA_OK) {
        s = step_fail(w, file->pos, err, "cannot load custom step %s: %s", path,
                      first_line(L, -1));
        lua_pop(L, 2);
        return s;
    }
    lua_remove(L, -2); /* the message handler */
    if (lua_isfunction(L, -1)) {
        lua_newtable(L);
        lua_insert(L, -2);
        lua_setfield(L, -2, "run");
    }
    if (!lua_istable(L, -1) || lua_getfield(L, -1, "run") != LUA_TFUNCTION) {
        lua_pop(L, lua_istable(L, -1) ? 2 : 1);
        return step_fail(w, file->pos, err,
                         "%s must return a table with a run(ctx, args) function (or a function)%s",
                         path, "");
    }
    lua_pop(L, 1);
    return FL_OK;
}

static fl_status push_stock_module(worker *w, const fl_recipe_step *st, fl_error *err)
{
    lua_State *L = w->L;
    for (const char *c = st->type; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
            return step_fail(w, st->pos, err, "unknown step '%s' (stock steps: %s)", st->type,
                             STOCK_STEPS);
    lua_getglobal(L, "require");
    lua_pushfstring(L, "steps.%s", st->type);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        const char *msg = fl_lua_error_text(L, -1);
        char where[600];
        snprintf(where, sizeof where, "%s (the step library is looked up in %s; set "
                 "FLASHLINE_LUA to the lua/ directory if it is elsewhere)", STOCK_STEPS,
                 fl_lua_dir());
        fl_status s = strstr(msg, "not found")
                          ? step_fail(w, st->pos, err, "unknown step '%s' (stock steps: %s)",
                                      st->type, where)
                          : step_fail(w, st->pos, err, "step '%s' failed to load: %s", st->type,
                                      msg);
        lua_pop(L, 2);
        return s;
    }
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        return step_fail(w, st->pos, err, "step module '%s' did not return a table%s", st->type,
                         "");
    }
    return FL_OK;
}

/* With the module on top of the stack: every argument must be a declared
 * parameter, every required one present, every file parameter an existing
 * file (unless it depends on the unit). */
static fl_status check_args(worker *w, const fl_recipe_step *st, fl_error *err)
{
    lua_State *L = w->L;
    if (!strcmp(st->type, "lua"))
        return FL_OK; /* custom steps take what they like */
    if (lua_getfield(L, -1, "params") != LUA_TTABLE) {
        lua_pop(L, 1);
        return FL_OK;
    }
    int params = lua_gettop(L);
    for (size_t i = 0; i < st->nargs; i++) {
        const fl_recipe_kv *a = &st->args[i];
        if (lua_getfield(L, params, a->key) != LUA_TTABLE)
            return step_fail(w, a->key_pos, err, "step '%s' takes no argument '%s'", st->type,
                             a->key);
        bool is_file = lua_getfield(L, -1, "file") == LUA_TBOOLEAN && lua_toboolean(L, -1);
        lua_pop(L, 2);
        if (!is_file)
            continue;
        char *v;
        w->saw_late_var = false;
        fl_status s = expand(w, a->value, a->pos, &v, err);
        if (s)
            return s;
        if (w->saw_late_var) { /* depends on the unit: checked when the step runs */
            free(v);
            continue;
        }
        char path[PATH_MAX];
        const fl_fw_entry *stored;
        s = file_value(w, v, a->pos, path, sizeof path, &stored, err);
        free(v);
        if (s)
            return s;
        struct stat sb;
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
            return step_fail(w, a->pos, err,
                             "file '%s' for '%s' does not exist (a path in a recipe is taken "
                             "beside the recipe, a --set value from the working directory; an "
                             "image of the firmware store is named NAME@VERSION or sha256:HEX)",
                             path, a->key);
    }
    lua_pushnil(L);
    while (lua_next(L, params)) { /* key, spec: are the required parameters present? */
        bool required = false;
        if (lua_istable(L, -1)) {
            lua_getfield(L, -1, "required");
            required = lua_toboolean(L, -1);
            lua_pop(L, 1);
        }
        const char *name = lua_tostring(L, -2);
        if (required && !fl_recipe_get(st->args, st->nargs, name))
            return step_fail(w, st->pos, err, "step '%s' needs the argument '%s'", st->type, name);
        lua_pop(L, 1);
    }
    lua_settop(L, params - 1); /* leave the module on top */
    return FL_OK;
}

/* Load every step's module into mods[i] and check its arguments. */
static fl_status load_steps(worker *w, fl_error *err)
{
    lua_State *L = w->L;
    lua_createtable(L, (int)w->r->nsteps, 0);
    int mods = lua_gettop(L);
    w->checking = true;
    for (size_t i = 0; i < w->r->nsteps; i++) {
        const fl_recipe_step *st = &w->r->steps[i];
        fl_status s = !strcmp(st->type, "lua") ? push_custom_module(w, st, err)
                                               : push_stock_module(w, st, err);
        if (!s)
            s = check_args(w, st, err);
        if (s) {
            lua_settop(L, mods - 1);
            w->checking = false;
            return s;
        }
        lua_rawseti(L, mods, (lua_Integer)i + 1);
    }
    w->checking = false;
    w->mods_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return FL_OK;
}

/* ---- ctx ------------------------------------------------------------------ */

static void set_str(lua_State *L, const char *key, const char *v)
{
    if (!v)
        return;
    lua_pushstring(L, v);
    lua_setfield(L, -2, key);
}

static void build_ctx(worker *w)
{
    lua_State *L = w->L;
    lua_newtable(L);
    set_str(L, "port", w->o->port);
    set_str(L, "chip", w->r->chip);
    set_str(L, "recipe", w->r->name);
    set_str(L, "recipe_dir", w->r->dir);
    set_str(L, "recipe_sha256", w->r->sha256);
    set_str(L, "station", w->station);
    set_str(L, "operator", w->operator_name[0] ? w->operator_name : NULL);
    lua_newtable(L); /* the station home: where backups go by default */
    set_str(L, "dir", fl_home_dir(w->home));
    set_str(L, "backups_dir", fl_home_backups_dir(w->home));
    set_str(L, "firmware_dir", fl_home_firmware_dir(w->home));
    lua_setfield(L, -2, "home");
    lua_newtable(L); /* link settings */
    for (size_t i = 0; i < w->r->nlink; i++)
        set_str(L, w->r->link[i].key, w->r->link[i].value);
    lua_setfield(L, -2, "link");
    lua_newtable(L); /* the command line's link overrides (flashline run --baud/--reset) */
    set_str(L, "baud", w->o->link_baud);
    set_str(L, "reset", w->o->link_reset);
    lua_setfield(L, -2, "link_override");
    lua_newtable(L); /* vars after --set */
    for (size_t i = 0; i < w->r->nvars; i++)
        set_str(L, w->r->vars[i].key, w->r->vars[i].value);
    for (size_t i = 0; i < w->o->nsets; i++) {
        const char *eq = strchr(w->o->sets[i], '=');
        lua_pushlstring(L, w->o->sets[i], (size_t)(eq - w->o->sets[i]));
        lua_pushstring(L, eq + 1);
        lua_settable(L, -3);
    }
    lua_setfield(L, -2, "vars");
    lua_newtable(L);
    lua_setfield(L, -2, "unit");
    lua_newtable(L);
    lua_setfield(L, -2, "run");
    w->ctx_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

/* ---- running a step ----------------------------------------------------------- */

/* Push args for step i: expanded values, defaults, resolved file paths. */
static fl_status push_args(worker *w, size_t i, fl_error *err)
{
    lua_State *L = w->L;
    const fl_recipe_step *st = &w->r->steps[i];
    lua_newtable(L);
    int args = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, w->mods_ref);
    lua_rawgeti(L, -1, (lua_Integer)i + 1);
    int mod = lua_gettop(L);
    bool has_params = lua_getfield(L, mod, "params") == LUA_TTABLE;
    int params = lua_gettop(L);
    for (size_t k = 0; k < st->nargs; k++) {
        char *v;
        fl_status s = expand(w, st->args[k].value, st->args[k].pos, &v, err);
        if (s) {
            lua_settop(L, args - 1);
            return s;
        }
        bool is_file = false; /* `file = true` or `path = true`: relative to the recipe */
        bool is_image = false; /* `file = true`: may name the firmware store instead */
        if (has_params) {
            if (lua_getfield(L, params, st->args[k].key) == LUA_TTABLE) {
                lua_getfield(L, -1, "file");
                lua_getfield(L, -2, "path");
                is_image = lua_toboolean(L, -2);
                is_file = lua_toboolean(L, -1) || is_image;
                lua_pop(L, 2);
            }
            lua_pop(L, 1);
        }
        char path[PATH_MAX];
        const fl_fw_entry *stored = NULL;
        if (is_image)
            s = file_value(w, v, st->args[k].pos, path, sizeof path, &stored, err);
        else if (is_file || (!strcmp(st->type, "lua") && !strcmp(st->args[k].key, "file")))
            resolve_path(w, v, path, sizeof path);
        else
            snprintf(path, sizeof path, "%s", v);
        if (stored)
            publish_store_entry(w, v, stored);
        free(v);
        if (s) {
            lua_settop(L, args - 1);
            return s;
        }
        lua_pushstring(L, path);
        lua_setfield(L, args, st->args[k].key);
    }
    if (has_params) { /* defaults for what the recipe did not give */
        lua_pushnil(L);
        while (lua_next(L, params)) { /* key, spec */
            if (lua_istable(L, -1)) {
                lua_getfield(L, -1, "default");              /* key, spec, default */
                lua_getfield(L, args, lua_tostring(L, -3));  /* ..., given */
                bool missing = lua_isnil(L, -1);
                lua_pop(L, 1);
                if (missing && !lua_isnil(L, -1)) {
                    lua_pushvalue(L, -3);
                    lua_insert(L, -2);                       /* key, spec, key, default */
                    lua_settable(L, args);
                } else {
                    lua_pop(L, 1);
                }
            }
            lua_pop(L, 1);
        }
    }
    lua_settop(L, args);
    return FL_OK;
}

static fl_outcome outcome_from_kind(const char *kind)
{
    if (!kind)
        return FL_OUTCOME_ERROR;
    if (!strcmp(kind, "verify") || !strcmp(kind, "chip") || !strcmp(kind, "fail") ||
        !strcmp(kind, "FAIL"))
        return FL_OUTCOME_FAIL;
    if (!strcmp(kind, "cancelled") || !strcmp(kind, "ABORTED"))
        return FL_OUTCOME_ABORTED;
    return FL_OUTCOME_ERROR;
}

/* The unit's chip, as a driver's mismatch message names it: the chip ID it
 * read ("chip ID 0x7231C"), or the flash-loader family that does not answer
 * the ROM's ReadReg. */
static void unit_chip_from(const char *msg, char *out, size_t cap)
{
    const char *id = strstr(msg, "chip ID 0x");
    const char *named = strstr(msg, "this unit is an ");
    if (named && strstr(msg, "--chip names")) { /* esp-rom names the chip it found */
        named += strlen("this unit is an ");
        size_t n = strcspn(named, " (,");
        snprintf(out, cap, "%.*s", (int)n, named);
    } else if (id) {
        char norm[16];
        fl_chip_id_normalise((uint32_t)strtoul(id + 10, NULL, 16), norm);
        const fl_chip *c = fl_chip_by_id(norm);
        if (c)
            snprintf(out, cap, "%s", c->display);
        else
            snprintf(out, cap, "an unknown chip (chip ID 0x%lX)", strtoul(id + 10, NULL, 16));
    } else if (strstr(msg, "flash-loader chip")) {
        snprintf(out, cap, "a flash-loader chip (BK7231T, BK7231U or BK7252)");
    } else {
        snprintf(out, cap, "another chip");
    }
}

/* A recipe for another chip than the unit's is the station's mistake (the
 * wrong recipe was loaded), not a bad unit: ERROR, with both chips named.
 * Drivers report the mismatch as a "chip" failure while connecting, often
 * ending in "check --chip" (their advice for the single verbs): run has no
 * --chip, so that advice is dropped. */
static bool wrong_chip(worker *w, const char *kind, char *msg, size_t cap)
{
    if (!kind || strcmp(kind, "chip"))
        return false;
    /* a mismatch, not a bad flash (its size, its write protection): said
     * before the unit's chip is known, in the words the drivers use */
    bool mismatch = strstr(msg, "check --chip") || strstr(msg, "chip ID 0x") ||
                    strstr(msg, "flash-loader chip") || strstr(msg, "ROM loader") ||
                    strstr(msg, "--chip names"); /* esp-rom: "this unit is an X (…), not the Y --chip names" */
    const char *known = late_value(w, "unit", "chip");
    if (!mismatch || (known && *known))
        return false;
    char *advice = strstr(msg, " - check --chip");
    if (advice)
        *advice = '\0';
    char *use = strstr(msg, "; use --chip ");
    if (!use)
        use = strstr(msg, ": use --chip "); /* esp-rom's advice */
    if (use)
        *use = '\0';
    char unit_chip[80], detail[FL_STEP_MESSAGE_MAX];
    unit_chip_from(msg, unit_chip, sizeof unit_chip);
    /* esp-rom: "this unit is an X (chip ID 5), not the Y --chip names": the
     * recipe's chip is said below, in the recipe's words */
    char *not_the = strstr(msg, "--chip names") ? strstr(msg, ", not the ") : NULL;
    if (not_the)
        *not_the = '\0';
    fl_text_copy(detail, sizeof detail, msg);
    const fl_chip *rc = fl_chip_find(w->r->chip);
    char text[FL_STEP_MESSAGE_MAX + 400];
    snprintf(text, sizeof text,
             "wrong recipe for this unit: recipe '%s' is for %s (chip: %s at %s:%d) but the unit "
             "is %s (%s); the unit was not touched: run a recipe for %s",
             w->r->name, rc ? rc->display : w->r->chip, w->r->chip, w->r->path,
             w->r->chip_pos.line, unit_chip, detail, unit_chip);
    fl_text_copy(msg, cap, text);
    return true;
}

/* Call mods[i].run(ctx, args); classify what it returned. */
static fl_outcome call_step(worker *w, size_t i, char *msg, size_t cap)
{
    lua_State *L = w->L;
    fl_error e = {0};
    msg[0] = '\0';
    lua_pushcfunction(L, fl_lua_traceback);
    int base = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, w->mods_ref);
    lua_rawgeti(L, -1, (lua_Integer)i + 1);
    lua_getfield(L, -1, "run");
    lua_replace(L, -3);
    lua_pop(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, w->ctx_ref);
    if (push_args(w, i, &e)) {
        lua_settop(L, base - 1);
        fl_text_copy(msg, cap, e.msg);
        return FL_OUTCOME_ERROR;
    }
    fl_outcome out;
    int rc = lua_pcall(L, 2, 3, base);
    if (rc != LUA_OK) { /* the handler made it text + traceback (not for memory errors) */
        const char *tb = lua_tostring(L, -1);
        fl_logf(w->o->ev, FL_LOG_DEBUG, "%s", tb ? tb : "(error without message)");
        fl_text_copy(msg, cap, first_line(L, -1));
        out = fl_cancelled(w->o->ev) ? FL_OUTCOME_ABORTED : FL_OUTCOME_ERROR;
    } else if (lua_toboolean(L, -3) || lua_isnoneornil(L, -2)) {
        out = lua_toboolean(L, -3) || lua_isnil(L, -3) ? FL_OUTCOME_PASS : FL_OUTCOME_ERROR;
        if (!lua_isnil(L, -2))
            fl_text_copy(msg, cap, first_line(L, -2));
    } else {
        fl_text_copy(msg, cap, first_line(L, -2));
        const char *kind = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        out = wrong_chip(w, kind, msg, cap) ? FL_OUTCOME_ERROR : outcome_from_kind(kind);
    }
    lua_settop(L, base - 1);
    return out;
}

/* ---- protection ---------------------------------------------------------------- */

/* The station's own Lua glue (ctx, args, results) allocates in the state a
 * step may have filled up to its memory limit, and may call a step's
 * __tostring: run it under lua_pcall, so a Lua error there is an ERROR of
 * the step or run, never a panic that ends the station with the run left
 * RUNNING. */
typedef struct guarded {
    worker *w;
    void (*fn)(worker *w, void *arg);
    void *arg;
} guarded;

static int guarded_call(lua_State *L)
{
    const guarded *g = lua_touserdata(L, 1);
    g->fn(g->w, g->arg);
    return 0;
}

/* false with the Lua error in msg when fn raised. */
static bool guard(worker *w, void (*fn)(worker *, void *), void *arg, char *msg, size_t cap)
{
    guarded g = {w, fn, arg};
    lua_pushcfunction(w->L, guarded_call);
    lua_pushlightuserdata(w->L, &g);
    if (lua_pcall(w->L, 1, 0, 0) == LUA_OK)
        return true;
    const char *m = lua_type(w->L, -1) == LUA_TSTRING ? lua_tostring(w->L, -1) : "(no message)";
    fl_text_copy(msg, cap, m);
    lua_pop(w->L, 1);
    return false;
}

typedef struct step_call {
    size_t i;
    char *msg;
    size_t cap;
    fl_outcome out;
} step_call;

static void step_call_fn(worker *w, void *arg)
{
    step_call *c = arg;
    c->out = call_step(w, c->i, c->msg, c->cap);
}

static fl_outcome run_one_step(worker *w, size_t i, char *msg, size_t cap)
{
    step_call c = {i, msg, cap, FL_OUTCOME_ERROR};
    if (guard(w, step_call_fn, &c, msg, cap))
        return c.out;
    return fl_cancelled(w->o->ev) ? FL_OUTCOME_ABORTED : FL_OUTCOME_ERROR;
}

/* ---- the run ------------------------------------------------------------------ */

typedef struct name_buf {
    char *out;
    size_t cap;
} name_buf;

static void unit_name_fn(worker *w, void *arg)
{
    name_buf *b = arg;
    char *out = b->out;
    size_t cap = b->cap;
    out[0] = '\0';
    const char *mac = late_value(w, "unit", "mac");
    char norm[18];
    if (mac && fl_audit_mac_normalize(mac, norm)) /* the form the log stores */
        mac = norm;
    const char *id = mac ? mac : late_value(w, "unit", "alt_id");
    if (id)
        snprintf(out, cap, "%s", id);
}

static void unit_name(worker *w, char *out, size_t cap)
{
    name_buf b = {out, cap};
    char why[200];
    if (!guard(w, unit_name_fn, &b, why, sizeof why))
        out[0] = '\0'; /* a unit id that cannot be read is an unknown unit */
}

/* A unit that already PASSed this recipe is not flashed again unless the
 * operator says so (run --again) or the recipe allows it (allow_repeat):
 * checked once, right after the step that made the unit known (connect: its
 * MAC; a unit without a MAC is known by its backup's id), before any later
 * step reads or writes.  true: the run stops here (res says why). */
static bool repeat_refused(worker *w, fl_auditdb *db, fl_run_result *res, fl_status *st,
                           fl_error *err)
{
    char unit[64];
    if (w->repeat_checked)
        return false;
    unit_name(w, unit, sizeof unit);
    if (!unit[0])
        return false;
    w->repeat_checked = true;
    fl_audit_prior prior;
    if ((*st = fl_auditdb_last_pass(db, w->r->name, unit, &prior, err)))
        return true;
    if (!prior.run_id)
        return false;
    res->repeat_of = prior.run_id;
    if (w->o->again || w->r->allow_repeat) {
        fl_error e;
        fl_logf(w->o->ev, FL_LOG_WARN, "unit %s already PASSed recipe '%s' in run #%lld (%s, "
                "station %s); running it again (%s)", unit, w->r->name,
                (long long)prior.run_id, prior.started_utc, prior.station,
                w->o->again ? "--again" : "allow_repeat: true in the recipe");
        /* the log says which run this one repeats */
        if (fl_auditdb_measure(db, "repeat_of_run", (double)prior.run_id, "run", &e))
            fl_logf(w->o->ev, FL_LOG_WARN, "audit log: %s", e.msg);
        return false;
    }
    res->outcome = FL_OUTCOME_ABORTED;
    res->refused_repeat = true;
    /* a unit without a MAC is only known once its backup was read */
    bool by_mac = fl_audit_mac_normalize(unit, (char[18]){0});
    snprintf(res->message, sizeof res->message,
             "not run again: unit %s already PASSed recipe '%s' in run #%lld (started %s, "
             "station %s); stopped right after identifying the unit, %s; to flash it again: "
             "flashline run --again (or allow_repeat: true in the recipe)",
             unit, w->r->name, (long long)prior.run_id, prior.started_utc, prior.station,
             by_mac ? "nothing else was read or written"
                    : "by its backup (it has no MAC): nothing was written");
    return true;
}

static fl_status run_steps(worker *w, fl_auditdb *db, fl_run_result *res, fl_error *err)
{
    fl_status st = FL_OK;
    res->outcome = FL_OUTCOME_PASS;
    for (size_t i = 0; i < w->r->nsteps && res->outcome == FL_OUTCOME_PASS; i++) {
        const char *name = w->r->steps[i].type;
        if (fl_cancelled(w->o->ev)) {
            res->outcome = FL_OUTCOME_ABORTED;
            snprintf(res->message, sizeof res->message, "stopped by the operator before '%s'",
                     name);
            break;
        }
        int64_t step_id;
        if ((st = fl_auditdb_step_begin(db, name, &step_id, err)))
            break;
        fl_logf(w->o->ev, FL_LOG_INFO, "step %zu/%zu: %s", i + 1, w->r->nsteps, name);
        if (w->o->on_step) {
            char unit[64];
            unit_name(w, unit, sizeof unit);
            w->o->on_step(w->o->ev ? w->o->ev->ctx : NULL, i, w->r->nsteps, name, unit);
        }
        res->steps_run++;
        double t0 = fl_now();
        char msg[FL_STEP_MESSAGE_MAX];
        fl_outcome out = run_one_step(w, i, msg, sizeof msg);
        fl_logf(w->o->ev, out == FL_OUTCOME_PASS ? FL_LOG_INFO : FL_LOG_ERROR,
                "step %s: %s%s%s (%.1f s)", name, fl_outcome_name(out), msg[0] ? ": " : "", msg,
                fl_now() - t0);
        /* The step's records are committed now, before any later step may
         * erase: if the log refuses them, the run must stop here. */
        if ((st = fl_auditdb_step_end(db, out, msg[0] ? msg : NULL, err)))
            break;
        if (out == FL_OUTCOME_PASS && repeat_refused(w, db, res, &st, err))
            break;
        if (out != FL_OUTCOME_PASS) {
            res->outcome = out;
            snprintf(res->failed_step, sizeof res->failed_step, "%s", name);
            char joined[sizeof res->message + 64];
            snprintf(joined, sizeof joined, "%s: %s", name, msg);
            fl_text_copy(res->message, sizeof res->message, joined);
        }
    }
    return st;
}

/* A step module may declare `needs = { "connect" }`: the step types that
 * must come before it because it uses what they leave in ctx (ctx.session,
 * ctx.backup).  Checked whatever its arguments are (even ${unit.*} ones), so
 * an impossible order never reaches a unit.  A custom `lua` step before it
 * counts for any of them: it may set those fields itself. */
static fl_status check_needs(worker *w, size_t i, int mod, fl_error *err)
{
    lua_State *L = w->L;
    const fl_recipe_step *st = &w->r->steps[i];
    if (lua_getfield(L, mod, "needs") != LUA_TTABLE)
        return FL_OK;
    int needs = lua_gettop(L);
    for (lua_Integer n = 1; lua_rawgeti(L, needs, n) == LUA_TSTRING; n++) {
        const char *need = lua_tostring(L, -1);
        bool found = false;
        for (size_t k = 0; k < i && !found; k++)
            found = !strcmp(w->r->steps[k].type, need) || !strcmp(w->r->steps[k].type, "lua");
        if (!found)
            return step_fail(w, st->pos, err, "step '%s' needs a %s step before it", st->type,
                             need);
        lua_pop(L, 1);
    }
    return FL_OK;
}

/* Call the module's check(ctx, args), if it has one: before the unit is
 * touched, with the arguments expanded, to refuse e.g. an image built for
 * another chip.  Steps whose arguments depend on the unit (${unit.*}) are
 * checked when they run.  Leaves the stack to the caller. */
static fl_status call_check(worker *w, size_t i, int mod, int ctx, fl_error *err)
{
    lua_State *L = w->L;
    const fl_recipe_step *step = &w->r->steps[i];
    if (lua_getfield(L, mod, "check") != LUA_TFUNCTION)
        return FL_OK;
    lua_pushvalue(L, ctx);
    w->checking = true;
    w->saw_late_var = false;
    fl_status st = push_args(w, i, err);
    w->checking = false;
    if (st || w->saw_late_var)
        return st;
    if (lua_pcall(L, 2, 2, 0) != LUA_OK)
        return step_fail(w, step->pos, err, "step '%s' check failed: %s", step->type,
                         first_line(L, -1));
    if (!lua_toboolean(L, -2))
        return step_fail(w, step->pos, err, "step '%s': %s", step->type,
                         lua_isnil(L, -1) ? "refused" : first_line(L, -1));
    return FL_OK;
}

/* Every step's order (`needs`) and check(), in recipe order.  While they run,
 * ctx.steps_before is the set of step types before the one checked (custom
 * steps as "lua"), for order rules that depend on the arguments. */
static fl_status run_checks(worker *w, fl_error *err)
{
    lua_State *L = w->L;
    int top = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, w->ctx_ref);
    int ctx = lua_gettop(L);
    lua_newtable(L);
    int before = lua_gettop(L);
    lua_pushvalue(L, before);
    lua_setfield(L, ctx, "steps_before");
    lua_rawgeti(L, LUA_REGISTRYINDEX, w->mods_ref);
    int mods = lua_gettop(L);
    fl_status st = FL_OK;
    for (size_t i = 0; i < w->r->nsteps && !st; i++) {
        lua_rawgeti(L, mods, (lua_Integer)i + 1);
        int mod = lua_gettop(L);
        st = check_needs(w, i, mod, err);
        lua_settop(L, mod);
        if (!st)
            st = call_check(w, i, mod, ctx, err);
        lua_settop(L, mods);
        lua_pushboolean(L, 1);
        lua_setfield(L, before, w->r->steps[i].type);
    }
    lua_pushnil(L); /* a check-time view: steps at run time see what ran instead */
    lua_setfield(L, ctx, "steps_before");
    lua_settop(L, top);
    return st;
}

typedef struct prepare_call {
    fl_error *err;
    fl_status st;
} prepare_call;

static void prepare_fn(worker *w, void *arg)
{
    prepare_call *c = arg;
    build_ctx(w);
    c->st = load_steps(w, c->err);
    if (!c->st)
        c->st = run_checks(w, c->err);
}

static fl_status prepare(worker *w, fl_error *err)
{
    const fl_run_opts *o = w->o;
    fl_status st = fl_recipe_load(o->recipe_path, &w->r, err);
    if (st)
        return st;
    if (!fl_chip_find(w->r->chip))
        return fl_fail(err, FL_ERR_FORMAT, "%s:%d:%d: unknown chip '%s' (known: %s)", w->r->path,
                       w->r->chip_pos.line, w->r->chip_pos.column, w->r->chip, fl_chip_names_all());
    for (size_t i = 0; i < o->nsets; i++)
        if (!strchr(o->sets[i], '=') || o->sets[i][0] == '=')
            return fl_fail(err, FL_ERR_USAGE, "--set %s: expected KEY=VALUE", o->sets[i]);
    if ((st = fl_home_open(NULL, &w->home, err)))
        return st;
    /* --station / --operator, else station.yaml, else the host name / none */
    const char *station = o->station && *o->station ? o->station : fl_home_station(w->home);
    const char *op = o->operator_name && *o->operator_name ? o->operator_name
                                                            : fl_home_operator(w->home);
    snprintf(w->operator_name, sizeof w->operator_name, "%s", op ? op : "");
    if (station)
        snprintf(w->station, sizeof w->station, "%s", station);
    else if (gethostname(w->station, sizeof w->station) != 0)
        snprintf(w->station, sizeof w->station, "station");
    w->checking = true; /* --set names, ${...} and typed values, before any Lua */
    st = fl_recipe_check(w->r, o->sets, o->nsets, lookup, w, err);
    w->checking = false;
    if (st)
        return st;
    init_events(w);
    w->L = fl_lua_new(&w->ev, err);
    if (!w->L)
        return err->code;
    if (fl_lua_sandbox_steps(w->L, err)) /* steps must not end, or outlive, the station */
        return err->code;
    prepare_call c = {err, FL_OK};
    char why[400];
    if (!guard(w, prepare_fn, &c, why, sizeof why))
        return fl_fail(err, FL_ERR_INTERNAL, "preparing the steps: %s", why);
    return c.st;
}

static void cleanup(worker *w)
{
    fl_lua_close(w->L); /* closes the session and link a step left in ctx */
    fl_recipe_free(w->r);
    fl_fwstore_close(w->store);
    fl_home_close(w->home);
}

fl_status fl_station_check(const char *recipe_path, const char *const *sets, size_t nsets,
                           fl_error *err)
{
    fl_run_opts o = {.recipe_path = recipe_path, .sets = sets, .nsets = nsets};
    worker w = {.o = &o};
    fl_status st = prepare(&w, err);
    cleanup(&w);
    return st;
}

/* ctx.db (the station's log handle) and ctx.run.id for the steps. */
static void publish_run(worker *w, void *arg)
{
    lua_rawgeti(w->L, LUA_REGISTRYINDEX, w->ctx_ref);
    fl_lua_push_db(w->L, w->db);
    lua_setfield(w->L, -2, "db");
    lua_getfield(w->L, -1, "run");
    lua_pushinteger(w->L, *(const int64_t *)arg);
    lua_setfield(w->L, -2, "id");
    lua_pop(w->L, 2);
}

fl_status fl_station_run(const fl_run_opts *o, fl_run_result *res, fl_error *err)
{
    memset(res, 0, sizeof *res);
    worker w = {.o = o};
    fl_status st = prepare(&w, err);
    fl_auditdb *db = NULL;
    if (!st)
        st = fl_auditdb_open(fl_home_log_path(w.home, o->db_path), NULL, &db, err);
    if (!st && fl_auditdb_recovered_at_open(db) > 0)
        fl_logf(o->ev, FL_LOG_WARN, "%d earlier run(s) were cut short (crash or kill) and are "
                                    "now marked ABORTED",
                fl_auditdb_recovered_at_open(db));
    fl_audit_run_info info = {w.station, w.operator_name[0] ? w.operator_name : NULL,
                              w.r ? w.r->name : NULL,
                              w.r ? w.r->sha256 : NULL, o->port};
    if (!st)
        st = fl_auditdb_run_begin(db, &info, &res->run_id, err);
    if (st) {
        fl_auditdb_close(db);
        cleanup(&w);
        return st;
    }
    w.db = db;
    char why[400];
    if (guard(&w, publish_run, &res->run_id, why, sizeof why)) {
        st = run_steps(&w, db, res, err);
    } else {
        res->outcome = FL_OUTCOME_ERROR;
        snprintf(res->message, sizeof res->message, "preparing the steps: %s", why);
    }
    unit_name(&w, res->unit, sizeof res->unit);
    if (st) { /* the audit log failed mid-run: say so in the run if it still can */
        res->outcome = FL_OUTCOME_ERROR;
        snprintf(res->message, sizeof res->message, "audit log: %s", err->msg);
    }
    fl_error e2 = {0};
    fl_status end = fl_auditdb_run_end(db, res->outcome, res->message[0] ? res->message : NULL, &e2);
    if (!st && end) {
        *err = e2;
        st = end;
    }
    w.db = NULL;
    cleanup(&w); /* before the log: steps may hold borrowed handles */
    fl_auditdb_close(db);
    return st;
}
