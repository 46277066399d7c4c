/* lua_op.c — events and progress callbacks of a session operation run from
 * Lua (see fl_lua_op in lua_binding.h). */
#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include "lua/lua_binding.h"

static void ev_log(void *ctx, fl_log_level level, const char *msg)
{
    fl_lua_op *op = ctx;
    if (op->host && op->host->log)
        op->host->log(op->host->ctx, level, msg);
}

static void ev_prompt(void *ctx, const char *msg)
{
    fl_lua_op *op = ctx;
    if (op->host && op->host->prompt)
        op->host->prompt(op->host->ctx, msg);
}

typedef struct progress_call {
    int ref;
    const char *phase;
    uint64_t done, total;
} progress_call;

/* Protected: everything that may allocate (and so raise) happens here. */
static int call_progress(lua_State *L)
{
    const progress_call *c = lua_touserdata(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->ref);
    lua_pushstring(L, c->phase);
    lua_pushinteger(L, (lua_Integer)c->done);
    lua_pushinteger(L, (lua_Integer)c->total);
    lua_call(L, 3, 0);
    return 0;
}

static int error_text(lua_State *L)
{
    fl_lua_error_text(L, 1);
    return 1;
}

static void ev_progress(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
    fl_lua_op *op = ctx;
    lua_State *L = op->L;
    if (!L || op->progress_ref == LUA_NOREF || op->cb_failed) {
        fl_progress(op->host, phase, done, total);
        return;
    }
    if (!lua_checkstack(L, 4)) {
        snprintf(op->cb_error, sizeof op->cb_error, "Lua stack overflow");
        op->cb_failed = true;
        return;
    }
    progress_call c = {op->progress_ref, phase, done, total};
    lua_pushcfunction(L, error_text);
    lua_pushcfunction(L, call_progress);
    lua_pushlightuserdata(L, &c);
    if (lua_pcall(L, 1, 0, -3) != LUA_OK) { /* stop the operation, re-raise afterwards */
        const char *msg = lua_tostring(L, -1);
        snprintf(op->cb_error, sizeof op->cb_error, "%s", msg ? msg : "(no message)");
        op->cb_failed = true;
        lua_pop(L, 1);
    }
    lua_pop(L, 1); /* error_text */
}

static int ev_cancelled(void *ctx)
{
    fl_lua_op *op = ctx;
    return op->cb_failed || fl_cancelled(op->host);
}

void fl_lua_op_init(lua_State *L, fl_lua_op *op)
{
    memset(op, 0, sizeof *op);
    op->host = fl_lua_events(L);
    op->progress_ref = LUA_NOREF;
    op->ev.log = ev_log;
    op->ev.progress = ev_progress;
    op->ev.prompt = ev_prompt;
    op->ev.cancelled = ev_cancelled;
    op->ev.ctx = op;
}

void fl_lua_op_check_callback(lua_State *L, int idx)
{
    if (!lua_isnoneornil(L, idx))
        luaL_checktype(L, idx, LUA_TFUNCTION);
}

void fl_lua_op_begin(lua_State *L, fl_lua_op *op, int cb_idx)
{
    int ref = LUA_NOREF;
    if (cb_idx && !lua_isnoneornil(L, cb_idx)) {
        luaL_checktype(L, cb_idx, LUA_TFUNCTION);
        lua_pushvalue(L, cb_idx);
        ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    op->progress_ref = ref;
    op->cb_failed = false;
    op->busy = true;
    op->L = L;
}

void fl_lua_op_end(lua_State *L, fl_lua_op *op)
{
    op->busy = false;
    op->L = NULL;
    fl_lua_op_release(L, op);
    if (op->cb_failed)
        luaL_error(L, "progress callback failed: %s", op->cb_error);
}

void fl_lua_op_release(lua_State *L, fl_lua_op *op)
{
    if (op->progress_ref != LUA_NOREF) {
        luaL_unref(L, LUA_REGISTRYINDEX, op->progress_ref);
        op->progress_ref = LUA_NOREF;
    }
}
