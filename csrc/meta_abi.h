/* RX metadata: what an XDP program writes in front of a packet it redirects
 * to an AF_XDP socket (bpf_xdp_adjust_meta), and what the core and Lua read
 * there.  One definition for the BPF target (bpf/xsk_steer.c, bpf/xsk_meta.h
 * for programs of one's own) and for the core; the FFI section is the FFI's
 * declaration too (see lxsk.h).
 *
 * Where it lives: the kernel puts a packet's metadata right before its first
 * byte, and in copy mode copies it along into the UMEM frame (checked on veth,
 * native and generic XDP, Linux 6.18), so the 32 bytes before a received
 * frame's data are this struct, its magic in the last 4.  The descriptor does
 * not say whether there is metadata: the magic does, and the core makes sure
 * it never speaks for an earlier packet (frames layer, csrc/meta.c).
 */
#ifndef LXSK_META_ABI_H
#define LXSK_META_ABI_H

#ifdef __bpf__
#include <linux/types.h>
typedef __u16 uint16_t;
typedef __u32 uint32_t;
typedef __u64 uint64_t;
#else
#include <stdint.h>
#endif

/* FFI: begin */
/* struct lxsk_rx_meta.flags: which fields hold a value. */
enum lxsk_meta_flags {
	LXSK_META_RX_TIME = 1 << 0, /* rx_time: bpf_ktime_get_ns() when the program ran */
	LXSK_META_HW_TIME = 1 << 1, /* hw_time: the driver's RX timestamp (bpf_xdp_metadata_rx_timestamp) */
	LXSK_META_HASH = 1 << 2,    /* hash, hash_type: bpf_xdp_metadata_rx_hash */
	LXSK_META_VLAN = 1 << 3,    /* vlan_tci: bpf_xdp_metadata_rx_vlan_tag (a tag the NIC took off) */
	LXSK_META_VLAN_AD = 1 << 4, /* with LXSK_META_VLAN: the tag was 802.1ad (0x88a8), else 802.1Q */
	LXSK_META_ALL = 0x1f
};

enum lxsk_meta_magic {
	/* What a program writes: "metadata of the packet behind me". */
	LXSK_META_MAGIC = 0x4d58534c,
	/* What the core turns it into when it hands the frame to the script,
	 * after checking it against the packet: "checked, this packet's". */
	LXSK_META_CHECKED = 0x6d78736c
};

/* 32 bytes, ending where the packet starts. */
struct lxsk_rx_meta {
	uint64_t rx_time;   /* ns, CLOCK_MONOTONIC (the clock xsk.clock reads) */
	uint64_t hw_time;   /* ns, the NIC's clock */
	uint32_t hash;      /* RX hash */
	uint16_t hash_type; /* enum xdp_rss_hash_type bits (L3/L4, IPv4/IPv6, TCP/UDP, ...) */
	uint16_t vlan_tci;  /* VLAN TCI of a tag the NIC removed */
	uint16_t len;       /* the packet's length as the program saw it (low 16 bits) */
	uint16_t flags;     /* enum lxsk_meta_flags */
	uint32_t magic;     /* enum lxsk_meta_magic */
};
/* FFI: end */

#endif
