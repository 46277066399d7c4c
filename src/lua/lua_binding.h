/* lua_binding.h — userdata shared between the binding files (private to src/lua). */
#ifndef FL_LUA_BINDING_H
#define FL_LUA_BINDING_H

#include <lua.h>
#include <stdbool.h>

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

/* Push a JSON value as Lua tables/strings/numbers, or as compact JSON text. */
struct json_t;
void fl_lua_push_json(lua_State *L, const struct json_t *v);
void fl_lua_push_json_text(lua_State *L, const struct json_t *v);

#endif
