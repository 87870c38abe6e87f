/* The steering program's ABI: what bpf/xsk_steer.c and user space (steer.c,
 * lua/xsk/steer.lua) must agree on.  The rule, counter and configuration
 * layouts, the match bits and the actions have this one definition, compiled
 * for the BPF target and for the core alike; the FFI section is the FFI's
 * declaration too (see lxsk.h).  Nothing else belongs here: the loader's and
 * the rule editor's APIs are in prog.h and steer.h.
 */
#ifndef LXSK_STEER_ABI_H
#define LXSK_STEER_ABI_H

#ifdef __bpf__
#include <linux/types.h>
typedef __u8 uint8_t;
typedef __u16 uint16_t;
typedef __u32 uint32_t;
typedef __u64 uint64_t;
#else
#include <stdint.h>
#endif

/* The program's maps and names, as bpf/xsk_steer.c declares them.  Both
 * builds' program names start with LXSK_STEER_PREFIX (xsk_steer and
 * xsk_steer_frags), which is how leftover.c knows a steering program. */
#define LXSK_STEER_PREFIX "xsk_steer"
#define LXSK_STEER_XSKMAP "xsks_map"
#define LXSK_STEER_RULES_MAP "xsk_steer_rules"
#define LXSK_STEER_CFG_MAP "xsk_steer_cfg"
#define LXSK_STEER_CNT_MAP "xsk_steer_cnt"

/* FFI: begin */
/* Rule slots; rule ids are slot numbers 0..LXSK_RULES_MAX-1.  The counters
 * map has one more slot, LXSK_RULES_MAX, for packets that matched no rule. */
enum { LXSK_RULES_MAX = 64, LXSK_XSKMAP_MAX = 64 };

/* struct lxsk_rule.match: the fields a rule looks at (all must match). */
enum lxsk_rule_match {
	LXSK_RULE_ACTIVE = 1 << 0,    /* the slot holds a rule */
	LXSK_RULE_ETHERTYPE = 1 << 1, /* EtherType after any VLAN tags */
	LXSK_RULE_VLAN = 1 << 2,      /* outer VLAN id */
	LXSK_RULE_PROTO = 1 << 3,     /* IPv4 protocol / IPv6 next header */
	LXSK_RULE_SRC4 = 1 << 4,      /* IPv4 source prefix */
	LXSK_RULE_DST4 = 1 << 5,      /* IPv4 destination prefix */
	LXSK_RULE_SRC6 = 1 << 6,      /* IPv6 source prefix */
	LXSK_RULE_DST6 = 1 << 7,      /* IPv6 destination prefix */
	LXSK_RULE_DPORT = 1 << 8,     /* TCP/UDP/SCTP destination port range */
};

/* What a matching packet gets. */
enum lxsk_rule_action {
	LXSK_ACT_REDIRECT = 0, /* to the socket of its RX queue (XDP_PASS if none) */
	LXSK_ACT_PASS = 1,     /* to the kernel stack */
	LXSK_ACT_DROP = 2,
};

/* One rule: 80 bytes, no padding.  Ports and EtherType in host order,
 * addresses and masks in network order (IPv4 in word 0). */
struct lxsk_rule {
	uint32_t match; /* enum lxsk_rule_match bits */
	uint16_t ethertype;
	uint16_t vlan;
	uint8_t proto;
	uint8_t src_len; /* prefix lengths, kept for listing */
	uint8_t dst_len;
	uint8_t action; /* enum lxsk_rule_action */
	uint16_t dport_lo; /* inclusive range */
	uint16_t dport_hi;
	uint32_t src[4];
	uint32_t src_mask[4];
	uint32_t dst[4];
	uint32_t dst_mask[4];
};

/* The program's configuration (map xsk_steer_cfg, one entry). */
struct lxsk_steer_cfg {
	uint32_t nrules; /* highest active slot + 1; 0: redirect everything */
	uint32_t meta;   /* LXSK_META_* bits (meta_abi.h) to stamp redirected packets with; 0: none */
};

/* Per-rule counters (per CPU in the map; summed by lxsk_steer_counters). */
struct lxsk_counter {
	uint64_t packets;
	uint64_t bytes;
};
/* FFI: end */

#endif
