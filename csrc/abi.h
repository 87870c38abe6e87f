/* The table mk/gen-cdefs.awk generates beside the FFI declarations: what the
 * C compiler made of them, for abi.c to hand to the ABI spec. */
#ifndef LXSK_ABI_H
#define LXSK_ABI_H

#include <stdint.h>

struct lxsk_abi_entry {
	int32_t kind; /* enum lxsk_abi_kind */
	const char *name;
	int64_t value; /* the size or the constant; 0 for a function */
};

extern const char lxsk_cdefs[];
extern const struct lxsk_abi_entry lxsk_abi_table[];
extern const int lxsk_abi_table_len;

#endif
