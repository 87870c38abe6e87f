/* The FFI's declarations and the C compiler's view of them.  Both come from
 * the FFI sections of the headers (mk/gen-cdefs.awk), so a spec can check
 * that LuaJIT lays out every struct and numbers every enum as C does, and
 * that every declared function exists. */
#include "abi.h"
#include "lxsk.h"

int lxsk_abi_count(void)
{
	return lxsk_abi_table_len;
}

int lxsk_abi_get(int i, int32_t *kind, const char **name, int64_t *value)
{
	if (i < 0 || i >= lxsk_abi_table_len)
		return -1;
	*kind = lxsk_abi_table[i].kind;
	*name = lxsk_abi_table[i].name;
	*value = lxsk_abi_table[i].value;
	return 0;
}
