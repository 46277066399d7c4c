/* lua_host.h — the Lua 5.4 host: a lua_State with the flashline modules.
 *
 * `require "flashline"` gives a table with the submodules chip, link, beken,
 * log, util (and db, tuya, image where built).  One state per worker/port; a state
 * carries its own event sink (log and progress lines tagged with its port),
 * so several workers never share mutable state. */
#ifndef FL_LUA_HOST_H
#define FL_LUA_HOST_H

#include <lua.h>

#include "util/error.h"
#include "util/events.h"

/* A new state with the standard libraries and the flashline modules
 * preloaded; package.path also searches the project's lua/ directory.
 * `ev` must outlive the state (may be NULL).  The host:
 *  - sends print() and warn() to ev's log (never raw stdout/stderr);
 *  - checks ev's cancelled() every few thousand instructions and raises
 *    "stopped by the operator" in the running Lua code (a loop cannot hang
 *    the process);
 *  - caps the state's memory (FL_LUA_DEFAULT_MEMORY, or $FLASHLINE_LUA_MEMORY
 *    such as "64M"): beyond it allocations fail and Lua raises
 *    "not enough memory". */
#define FL_LUA_DEFAULT_MEMORY ((size_t)256 << 20)
lua_State *fl_lua_new(const fl_events *ev, fl_error *err);
void fl_lua_close(lua_State *L);

/* Restrict a state to what recipe steps need (see lua/API.md, "Sandbox"):
 * os only time/clock/date/difftime/getenv, no io, no C modules, no bytecode,
 * debug only traceback/getinfo; anything else raises naming the function
 * (os.exit raises rather than ending the station). */
fl_status fl_lua_sandbox_steps(lua_State *L, fl_error *err);

void fl_lua_set_memory_limit(lua_State *L, size_t bytes);
size_t fl_lua_memory_used(lua_State *L);

/* A message handler for lua_pcall: the error object as text (strings as
 * they are, tables and other values described, see fl_lua_error_text),
 * with a traceback. */
int fl_lua_traceback(lua_State *L);
/* Push a readable text for the error object at idx and return it: strings
 * and numbers as they are, values with __tostring through it, a table as
 * "error object is a table {code = 1, ...}", others by their type. */
const char *fl_lua_error_text(lua_State *L, int idx);

/* The events sink a state was created with (for bindings). */
const fl_events *fl_lua_events(lua_State *L);

/* Run a script file with `arg` set like the standalone interpreter
 * (arg[0] = script, arg[1..] = args) and ... = args.  A Lua error becomes
 * FL_ERR_USAGE with the traceback in err (FL_ERR_CANCELLED when the events
 * report a cancellation). */
fl_status fl_lua_run_file(lua_State *L, const char *path, int argc, char **argv, fl_error *err);

/* The lua/ directory of this installation (for stock steps and examples). */
const char *fl_lua_dir(void);

/* Module openers (each in its own file: lua_<name>.c). */
int luaopen_flashline(lua_State *L);
int luaopen_flashline_link(lua_State *L);
int luaopen_flashline_beken(lua_State *L);
int luaopen_flashline_chip(lua_State *L);
int luaopen_flashline_log(lua_State *L);
int luaopen_flashline_util(lua_State *L);
int luaopen_flashline_db(lua_State *L);
int luaopen_flashline_tuya(lua_State *L);
int luaopen_flashline_obk(lua_State *L);
int luaopen_flashline_image(lua_State *L);

/* Shared helpers for bindings: push nil, message, kind (the status name:
 * "verify", "no-bus", ...) and return 3. */
int fl_lua_fail(lua_State *L, const fl_error *err);

/* Push the station's audit-log handle as a borrowed flashline.db object. */
struct fl_auditdb;
void fl_lua_push_db(lua_State *L, struct fl_auditdb *db);

/* The log db.open() opens when given no path: the host knows it (the
 * station home's, see station/home.h), this layer below the station does
 * not.  resolve is called by db.open() only, so a script that never opens
 * the log never makes a home: it returns 3 values, the path, or nil, a
 * message and a kind (as fl_lua_fail).
 * Unset: db.open() needs a path. */
void fl_lua_set_default_db(lua_State *L, lua_CFunction resolve);

#endif
