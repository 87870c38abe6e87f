/* The Lua C module `xsk.core`.  It only tells Lua where it was loaded from
 * and hands over the FFI declarations cut from the headers: every call after
 * that goes through the FFI, which the JIT compiles. */
#include <dlfcn.h>
#include <lauxlib.h>
#include <lua.h>

#include "abi.h"
#include "lxsk.h"

#define LXSK_VERSION "0.2.0"

int luaopen_xsk_core(lua_State *L);

int luaopen_xsk_core(lua_State *L)
{
	Dl_info info;

	if (!dladdr((void *)luaopen_xsk_core, &info) || !info.dli_fname)
		return luaL_error(L, "xsk.core: cannot find the path of its own shared object");
	lua_createtable(L, 0, 3);
	lua_pushstring(L, info.dli_fname);
	lua_setfield(L, -2, "path");
	lua_pushstring(L, LXSK_VERSION);
	lua_setfield(L, -2, "version");
	lua_pushstring(L, lxsk_cdefs);
	lua_setfield(L, -2, "cdefs");
	return 1;
}
