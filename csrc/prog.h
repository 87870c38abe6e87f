/* XDP programs of our own: loading, attaching, XSKMAP registration and the
 * steering rules of bpf/xsk_steer.c.
 *
 * This header is shared with the BPF program (bpf/xsk_steer.c includes it),
 * so the rule and counter layouts have a single definition; the FFI sections
 * are the FFI's declarations too (see lxsk.h).
 */
#ifndef LXSK_PROG_H
#define LXSK_PROG_H

#ifdef __bpf__
#include <linux/types.h>
typedef __u8 uint8_t;
typedef __u16 uint16_t;
typedef __u32 uint32_t;
typedef __u64 uint64_t;
typedef __s32 int32_t;
#else
#include <stdint.h>
#endif

/* FFI: begin */
/* Rule slots; rule ids are slot numbers 0..LXSK_RULES_MAX-1.  The counters
 * map has one more slot, LXSK_RULES_MAX, for packets that matched no rule. */
enum { LXSK_RULES_MAX = 64, LXSK_XSKMAP_MAX = 64 };

/* struct lxsk_rule.match: the fields a rule looks at (all must match). */
enum {
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
enum {
	LXSK_ACT_REDIRECT = 0, /* to the socket of its RX queue (XDP_PASS if none) */
	LXSK_ACT_PASS = 1,     /* to the kernel stack */
	LXSK_ACT_DROP = 2,
};

/* One rule: 80 bytes, no padding.  Ports and EtherType in host order,
 * addresses and masks in network order (IPv4 in word 0). */
struct lxsk_rule {
	uint32_t match;
	uint16_t ethertype;
	uint16_t vlan;
	uint8_t proto;
	uint8_t src_len; /* prefix lengths, kept for listing */
	uint8_t dst_len;
	uint8_t action;
	uint16_t dport_lo; /* inclusive range */
	uint16_t dport_hi;
	uint32_t src[4];
	uint32_t src_mask[4];
	uint32_t dst[4];
	uint32_t dst_mask[4];
};

/* The steering program's configuration (map xsk_steer_cfg, one entry). */
struct lxsk_steer_cfg {
	uint32_t nrules; /* highest active slot + 1; 0: redirect everything */
	uint32_t pad;
};

/* Per-rule counters (per CPU in the map; summed by lxsk_prog_counters). */
struct lxsk_counter {
	uint64_t packets;
	uint64_t bytes;
};
/* FFI: end */

#ifndef __bpf__
/* ---- the loader (csrc/prog.c) ---- */
/* FFI: begin */

enum lxsk_prog_path { LXSK_PATH_SINGLE = 0, LXSK_PATH_DISPATCHER = 1 };

struct lxsk_prog_opts {
	const char *file;    /* BPF object file */
	const char *program; /* program (function) name; NULL: the first one */
	const char *xskmap;  /* XSKMAP name; NULL: "xsks_map"; "" : none needed */
	const char *ifname;  /* or ifindex */
	int32_t ifindex;
	int32_t mode;    /* enum lxsk_attach_mode (auto, native, skb) */
	int32_t frags;   /* ask for multi-buffer (xdp.frags) support */
	int32_t replace; /* detach a stale program of ours first; default on in Lua */
};

struct lxsk_prog;

struct lxsk_prog *lxsk_prog_load(const struct lxsk_prog_opts *o);
int lxsk_prog_detach(struct lxsk_prog *p); /* idempotent */
void lxsk_prog_close(struct lxsk_prog *p); /* detach and close the object; idempotent */
void lxsk_prog_free(struct lxsk_prog *p);  /* for the GC: close, then free */
int lxsk_prog_path(const struct lxsk_prog *p); /* enum lxsk_prog_path */
int lxsk_prog_mode(const struct lxsk_prog *p); /* enum lxsk_attach_mode actually used */
int lxsk_prog_ifindex(const struct lxsk_prog *p);
const char *lxsk_prog_name(const struct lxsk_prog *p); /* the program's name in its object */
int lxsk_prog_id(const struct lxsk_prog *p);  /* kernel program id */
int lxsk_prog_attached(const struct lxsk_prog *p);
int lxsk_prog_map_fd(struct lxsk_prog *p, const char *name);

int lxsk_prog_register(struct lxsk_prog *p, uint32_t queue, int sock_fd);
int lxsk_prog_unregister(struct lxsk_prog *p, uint32_t queue);

/* Steering rules (programs with the xsk_steer maps). */
int lxsk_prog_rule_add(struct lxsk_prog *p, const struct lxsk_rule *r); /* returns the id */
int lxsk_prog_rule_set(struct lxsk_prog *p, uint32_t id, const struct lxsk_rule *r);
int lxsk_prog_rule_remove(struct lxsk_prog *p, uint32_t id);
int lxsk_prog_rule_get(struct lxsk_prog *p, uint32_t id, struct lxsk_rule *r); /* 1 active, 0 empty */
int lxsk_prog_counters(struct lxsk_prog *p, uint32_t id, struct lxsk_counter *out);
int lxsk_prog_counters_reset(struct lxsk_prog *p, uint32_t id);

/* Interfaces and addresses. */
int lxsk_prog_ifindex_of(const char *ifname);
int lxsk_prog_detach_all(int ifindex); /* every XDP program on the interface; count */
int lxsk_prog_detach_ours(int ifindex); /* only ours and libxdp's xsk default; count */
int lxsk_prog_parse_addr(const char *s, uint8_t out[16]); /* 4 or 6, or -EINVAL */
int lxsk_prog_format_addr(int family, const uint8_t in[16], char *buf, uint32_t size);
/* FFI: end */
#endif

#endif
