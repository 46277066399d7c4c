/* lua_session.h — what the two chip-session modules share (private to
 * src/lua): flashline.chip (lua_chip.c, any driver) and flashline.beken
 * (lua_beken.c, the UART driver's own module) take the same arguments and
 * options and describe a chip the same way, so the checks, messages and
 * tables live here once. */
#ifndef FL_LUA_SESSION_H
#define FL_LUA_SESSION_H

#include <lauxlib.h>
#include <lua.h>
#include <stdbool.h>
#include <stdint.h>

#include "flash/flash.h"

/* The chip named at idx (raises for an unknown name, listing the known
 * ones).  beken_only: also raises for a chip that is not a Beken chip, and
 * the list leaves out the generic spi-nor. */
const fl_chip *fl_lua_check_chip(lua_State *L, int idx, bool beken_only);

/* The options table at idx (nil/none: the defaults): baud, link_timeout,
 * reset and, with_allow_bootloader, allow_bootloader.  Raises on a bad value. */
void fl_lua_read_flash_opts(lua_State *L, int idx, fl_flash_opts *o, bool with_allow_bootloader);

/* An integer argument in 0..0xFFFFFFFF (raises with `what` otherwise). */
uint32_t fl_lua_check_u32(lua_State *L, int idx, const char *what);
/* An address at idx and a length at idx+1. */
void fl_lua_check_range(lua_State *L, int idx, uint32_t *addr, uint32_t *len);
/* A data string at idx of at most 4 GiB. */
const char *fl_lua_check_data(lua_State *L, int idx, uint32_t *len);

/* The arguments of s:read(addr, len [, progress]) at 2..4, then a Lua buffer
 * of len bytes for the caller to fill and push with luaL_pushresultsize
 * (Lua memory: counted against the state's limit, freed by the GC on error). */
uint8_t *fl_lua_read_args(lua_State *L, luaL_Buffer *b, uint32_t *addr, uint32_t *len);

/* The arguments of s:write/s:verify(addr, data [, progress]) at 2..4: the
 * data, its address and length. */
const char *fl_lua_write_args(lua_State *L, uint32_t *addr, uint32_t *len);

/* true, or nil + message + kind. */
int fl_lua_op_result(lua_State *L, fl_status st, const fl_error *err);
/* s:verify's results: true | nil, msg, kind [, the first bad address on a mismatch]. */
int fl_lua_verify_result(lua_State *L, fl_status st, const fl_error *err, uint32_t bad);

/* Set t[key] of the table on top: a string only when non-empty, an integer. */
void fl_lua_set_str(lua_State *L, const char *key, const char *v);
void fl_lua_set_int(lua_State *L, const char *key, lua_Integer v);

/* Push the info table of an identity: chip, driver, access, programmer (when
 * set), loader (when not NULL), flash_size, baud, chip_id, jedec "C84015",
 * flash_part, boot_version, status_register (when known). */
void fl_lua_push_identity(lua_State *L, const fl_identity *id, const char *loader);

/* Push a chip's entry of chips(): name, loader (Beken chips), flash_size,
 * rf_offset, obk_config_offset. */
void fl_lua_push_chip(lua_State *L, const fl_chip *c);

/* Push a MAC as "AA:BB:CC:DD:EE:FF". */
void fl_lua_push_mac(lua_State *L, const uint8_t mac[6]);

#endif
