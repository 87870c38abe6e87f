/* The layout of every struct Lua shares with the core, as the C compiler sees
 * it.  lua/xsk/cdef.lua declares the same structs again for the FFI; a spec
 * compares the two so that a field added on one side only fails loudly
 * instead of shifting every field after it. */
#include <stddef.h>
#include <string.h>

#include "internal.h"
#include "prog.h"

struct layout {
	const char *type;
	const char *field; /* NULL: the size of the whole struct */
	size_t value;
};

#define SIZE(t) { "struct " #t, NULL, sizeof(struct t) }
#define OFF(t, f) { "struct " #t, #f, offsetof(struct t, f) }

static const struct layout layouts[] = {
	SIZE(lxsk_frame), OFF(lxsk_frame, data), OFF(lxsk_frame, addr), OFF(lxsk_frame, len),
	OFF(lxsk_frame, options), OFF(lxsk_frame, umem_id), OFF(lxsk_frame, cap),
	SIZE(lxsk_batch), OFF(lxsk_batch, n), OFF(lxsk_batch, cap), OFF(lxsk_batch, f),
	SIZE(lxsk_umem_opts), OFF(lxsk_umem_opts, frame_count), OFF(lxsk_umem_opts, comp_size),
	OFF(lxsk_umem_opts, hugepages),
	SIZE(lxsk_umem_info), OFF(lxsk_umem_info, area), OFF(lxsk_umem_info, size), OFF(lxsk_umem_info, id),
	OFF(lxsk_umem_info, data_offset), OFF(lxsk_umem_info, pool_count), OFF(lxsk_umem_info, closed),
	SIZE(lxsk_sock_opts), OFF(lxsk_sock_opts, ifname), OFF(lxsk_sock_opts, queue),
	OFF(lxsk_sock_opts, bind_mode), OFF(lxsk_sock_opts, load_program), OFF(lxsk_sock_opts, tx_budget),
	OFF(lxsk_sock_opts, auto_fill), OFF(lxsk_sock_opts, multi_buffer),
	SIZE(lxsk_stats), OFF(lxsk_stats, rx_dropped), OFF(lxsk_stats, tx_ring_empty_descs),
	SIZE(lxsk_ring_state), OFF(lxsk_ring_state, present),
	SIZE(lxsk_rule), OFF(lxsk_rule, match), OFF(lxsk_rule, proto), OFF(lxsk_rule, action),
	OFF(lxsk_rule, dport_lo), OFF(lxsk_rule, src), OFF(lxsk_rule, dst_mask),
	SIZE(lxsk_counter), OFF(lxsk_counter, bytes),
	SIZE(lxsk_prog_opts), OFF(lxsk_prog_opts, file), OFF(lxsk_prog_opts, ifindex),
	OFF(lxsk_prog_opts, replace),
};

/* The size (field NULL) or offset of a field; -1 when the table lacks it. */
long lxsk_abi_layout(const char *type, const char *field)
{
	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++) {
		const struct layout *l = &layouts[i];

		if (strcmp(l->type, type))
			continue;
		if ((!field && !l->field) || (field && l->field && !strcmp(field, l->field)))
			return (long)l->value;
	}
	return -1;
}

/* How many entries the table has, and the i-th, for the spec to walk. */
int lxsk_abi_count(void)
{
	return (int)(sizeof(layouts) / sizeof(layouts[0]));
}

int lxsk_abi_entry(int i, const char **type, const char **field)
{
	if (i < 0 || i >= lxsk_abi_count())
		return -1;
	*type = layouts[i].type;
	*field = layouts[i].field;
	return 0;
}
