/* lua_binding.h — userdata shared between the binding files (private to src/lua). */
#ifndef FL_LUA_BINDING_H
#define FL_LUA_BINDING_H

#include <lua.h>
#include <stdbool.h>

#include "util/events.h"

#include "link/link.h"
#include "lua/lua_host.h"

#define LUA_LINK_MT "flashline.Link"
#define LUA_SESSION_MT "flashline.Session"

typedef struct lua_link {
    fl_link *link; /* NULL once closed */
    bool busy;     /* a session operation on it is running: close must wait */
} lua_link;

/* Raises when idx is not an open link. */
lua_link *fl_lua_check_link(lua_State *L, int idx);

/* A session's operations as Lua sees them (lua_op.c): the events the
 * library gets route log and prompt lines to the state's sink and progress
 * to the Lua callback of the operation in progress; a callback that raises
 * stops the operation (cancelled) and its error is raised afterwards.  Lives
 * inside a userdata (its address must not change). */
typedef struct fl_lua_op {
    fl_events ev;          /* what the library is given */
    const fl_events *host; /* the state's sink: lives as long as the state */
    lua_State *L;          /* the thread of the operation in progress, NULL between
                            * operations: a coroutine may be collected after its call */
    int progress_ref;      /* callback of the operation in progress, or LUA_NOREF */
    bool cb_failed;
    bool busy;             /* an operation is running: close must wait */
    char cb_error[512];
} fl_lua_op;

void fl_lua_op_init(lua_State *L, fl_lua_op *op);
/* The optional progress callback at idx: a function or nil (raises otherwise). */
void fl_lua_op_check_callback(lua_State *L, int idx);
/* Start an operation, after every argument was checked: takes the callback
 * at cb_idx (0: none), marks busy, remembers this call's thread. */
void fl_lua_op_begin(lua_State *L, fl_lua_op *op, int cb_idx);
/* End it: forget the thread, release the callback, raise its error. */
void fl_lua_op_end(lua_State *L, fl_lua_op *op);
/* Release a callback left registered (close/__gc). */
void fl_lua_op_release(lua_State *L, fl_lua_op *op);

/* Push a JSON value as Lua tables/strings/numbers, or as compact JSON text. */
struct json_t;
void fl_lua_push_json(lua_State *L, const struct json_t *v);
void fl_lua_push_json_text(lua_State *L, const struct json_t *v);

#endif
