/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/* lua-xsk RX metadata for XDP programs: stamp a packet you redirect to an
 * AF_XDP socket so that its frame answers f:rx_time() (and f:hw_time(),
 * f:rx_hash(), f:rx_vlan()) in Lua.  xsk.steer's program uses it; a program
 * of your own can too:
 *
 *   #include <linux/bpf.h>
 *   #include <bpf/bpf_helpers.h>
 *   #include "xsk_meta.h"           // clang -I $(dir of xsk.prog.include_dir())
 *   ...
 *   lxsk_meta_stamp(ctx, LXSK_META_RX_TIME, 0);
 *   return bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
 *
 * The driver's RX timestamp, hash and VLAN tag come from the RX metadata
 * kfuncs (Linux 6.3, the VLAN one 6.8), which the verifier accepts only in a
 * device-bound program: define LXSK_META_KFUNCS before including this file
 * and load the program with xsk.prog.load{ ..., dev_bound = true } (native
 * mode).  A kfunc that has nothing for a packet (an error, or a zero
 * timestamp) leaves its flag clear: the accessor says nil, never a number
 * that is not there.
 *
 * The metadata is struct lxsk_rx_meta (meta_abi.h), 32 bytes right before the
 * packet; AF_XDP copies it into the frame along with the packet. */
#ifndef LXSK_XSK_META_H
#define LXSK_XSK_META_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "meta_abi.h"

#ifdef LXSK_META_KFUNCS
/* The kernel's enum (include/net/xdp.h), not in uapi headers; a program that
 * includes vmlinux.h has it already and defines LXSK_HAVE_XDP_RSS_HASH_TYPE. */
#ifndef LXSK_HAVE_XDP_RSS_HASH_TYPE
enum xdp_rss_hash_type { LXSK_XDP_RSS_TYPE_NONE = 0 };
#endif
extern int bpf_xdp_metadata_rx_timestamp(const struct xdp_md *ctx, __u64 *timestamp) __ksym;
extern int bpf_xdp_metadata_rx_hash(const struct xdp_md *ctx, __u32 *hash,
				    enum xdp_rss_hash_type *rss_type) __ksym;
extern int bpf_xdp_metadata_rx_vlan_tag(const struct xdp_md *ctx, __be16 *vlan_proto, __u16 *vlan_tci) __ksym;
#endif

/* Puts struct lxsk_rx_meta in front of the packet.  what: the LXSK_META_*
 * fields to try; rx_time: a bpf_ktime_get_ns() taken earlier, or 0 for now.
 * Returns 0, or -1 when the kernel has no room for metadata (the packet then
 * goes without, and its frame says so).  Packet pointers taken before the
 * call are invalid after it, as after any bpf_xdp_adjust_meta. */
static __always_inline int lxsk_meta_stamp(struct xdp_md *ctx, __u32 what, __u64 rx_time)
{
	struct lxsk_rx_meta *m;
	void *data;
	__u16 flags = 0;

	if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(struct lxsk_rx_meta)))
		return -1;
	data = (void *)(long)ctx->data;
	m = (void *)(long)ctx->data_meta;
	if ((void *)(m + 1) > data)
		return -1;
	m->rx_time = 0;
	m->hw_time = 0;
	m->hash = 0;
	m->hash_type = 0;
	m->vlan_tci = 0;
	if (what & LXSK_META_RX_TIME) {
		m->rx_time = rx_time ? rx_time : bpf_ktime_get_ns();
		flags |= LXSK_META_RX_TIME;
	}
#ifdef LXSK_META_KFUNCS
	if (what & LXSK_META_HW_TIME) {
		__u64 ts = 0;

		if (!bpf_xdp_metadata_rx_timestamp(ctx, &ts) && ts) {
			m->hw_time = ts;
			flags |= LXSK_META_HW_TIME;
		}
	}
	if (what & LXSK_META_HASH) {
		enum xdp_rss_hash_type type = 0;
		__u32 hash = 0;

		if (!bpf_xdp_metadata_rx_hash(ctx, &hash, &type)) {
			m->hash = hash;
			m->hash_type = (__u16)type;
			flags |= LXSK_META_HASH;
		}
	}
	if (what & LXSK_META_VLAN) {
		__be16 proto = 0;
		__u16 tci = 0;

		if (!bpf_xdp_metadata_rx_vlan_tag(ctx, &proto, &tci)) {
			m->vlan_tci = tci;
			flags |= LXSK_META_VLAN;
			if (proto == __builtin_bswap16(0x88a8))
				flags |= LXSK_META_VLAN_AD;
		}
	}
#endif
	/* Ties the metadata to this packet: the core compares it with the
	 * length the descriptor gives. */
	m->len = (__u16)bpf_xdp_get_buff_len(ctx);
	m->flags = flags;
	m->magic = LXSK_META_MAGIC;
	return 0;
}

#endif
