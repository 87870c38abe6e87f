// SPDX-License-Identifier: (MIT OR GPL-2.0)
/* lua-xsk steering program.
 *
 * Packets go to the AF_XDP socket registered for their RX queue in xsks_map.
 * With no rules every packet is redirected (like libxdp's default program);
 * with rules, only packets that match one are redirected and everything else
 * goes on to the kernel stack.  A queue without a socket falls back to
 * XDP_PASS either way.
 *
 * Rules live in xsk_steer_rules (one slot per rule id); xsk_steer_cfg holds the
 * number of slots in use.  Rules are tried in id order and the first match
 * decides.  xsk_steer_cnt counts packets and bytes per rule and per CPU, with
 * one extra slot (LXSK_RULES_MAX) for packets that matched no rule.
 *
 * RX metadata: when xsk_steer_cfg's `meta` holds LXSK_META_* bits, every
 * packet redirected to a socket carries struct lxsk_rx_meta in front of it
 * (xsk_meta.h): the time the program started on it (bpf_ktime_get_ns), and in
 * the kfunc build the driver's RX timestamp, hash and VLAN tag where it has
 * them.  The time is read first thing, so rule matching is not in it.
 *
 * Built three times: plain (SEC "xdp", program xsk_steer), with -DLXSK_FRAGS
 * (SEC "xdp.frags", program xsk_steer_frags) for multi-buffer packets (the
 * frags build counts the whole packet, not just the first buffer), and with
 * -DLXSK_META_KFUNCS (program xsk_steer_meta), which calls the RX metadata
 * kfuncs and so loads only device-bound (native mode, one interface).
 *
 * No CO-RE: only uapi headers and libbpf's bpf_helpers.h / bpf_endian.h.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "../csrc/steer_abi.h"
#include "xsk_meta.h"

/* Not in uapi headers. */
struct vlan_tag {
	__be16 tci;
	__be16 next_proto;
};

#define ETH_P_8021Q_ 0x8100
#define ETH_P_8021AD_ 0x88A8
#define VLAN_MAX_DEPTH 2
#define IPV6_EXT_MAX 6
#define IP_OFFSET_MASK 0x1fff

/* Parsed packet, filled once, then compared against every rule. */
#define PKT_VLAN (1 << 0)
#define PKT_IP4 (1 << 1)
#define PKT_IP6 (1 << 2)
#define PKT_PORT (1 << 3)

struct pkt {
	__u32 src[4];
	__u32 dst[4];
	__u16 ethertype; /* host order */
	__u16 vlan;
	__u16 dport; /* host order */
	__u8 proto;
	__u8 flags;
};

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, LXSK_XSKMAP_MAX);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} xsks_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LXSK_RULES_MAX);
	__type(key, __u32);
	__type(value, struct lxsk_rule);
} xsk_steer_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lxsk_steer_cfg);
} xsk_steer_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LXSK_RULES_MAX + 1);
	__type(key, __u32);
	__type(value, struct lxsk_counter);
} xsk_steer_cnt SEC(".maps");

static __always_inline int is_port_proto(__u8 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP ||
	       proto == IPPROTO_UDPLITE;
}

/* Reads the destination port of the L4 header at l4, if it is in the packet. */
static __always_inline void parse_port(struct pkt *p, void *l4, void *end)
{
	__be16 *ports = l4;

	if (!is_port_proto(p->proto))
		return;
	if ((void *)(ports + 2) > end)
		return;
	p->dport = bpf_ntohs(ports[1]);
	p->flags |= PKT_PORT;
}

static __always_inline void parse_ip4(struct pkt *p, void *l3, void *end)
{
	struct iphdr *ip = l3;
	__u32 hlen;

	if ((void *)(ip + 1) > end)
		return;
	hlen = ip->ihl * 4;
	if (hlen < sizeof(*ip))
		return;
	p->flags |= PKT_IP4;
	p->proto = ip->protocol;
	p->src[0] = ip->saddr;
	p->dst[0] = ip->daddr;
	/* Only the first fragment carries the L4 header. */
	if (bpf_ntohs(ip->frag_off) & IP_OFFSET_MASK)
		return;
	parse_port(p, l3 + hlen, end);
}

static __always_inline void parse_ip6(struct pkt *p, void *l3, void *end)
{
	struct ipv6hdr *ip6 = l3;
	void *cur;
	__u8 next;
	int i;

	if ((void *)(ip6 + 1) > end)
		return;
	p->flags |= PKT_IP6;
	__builtin_memcpy(p->src, &ip6->saddr, 16);
	__builtin_memcpy(p->dst, &ip6->daddr, 16);
	next = ip6->nexthdr;
	cur = ip6 + 1;

	/* Skip extension headers to find the upper-layer protocol. */
#pragma clang loop unroll(disable)
	for (i = 0; i < IPV6_EXT_MAX; i++) {
		__u8 *ext = cur;
		__u32 len;

		if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING && next != IPPROTO_DSTOPTS &&
		    next != IPPROTO_FRAGMENT && next != IPPROTO_AH)
			break;
		if ((void *)(ext + 8) > end)
			return;
		if (next == IPPROTO_FRAGMENT) {
			/* bytes 2-3: offset << 3 | flags; not the first fragment: no ports */
			__u16 off = ((__u16)ext[2] << 8 | ext[3]) & 0xfff8;

			next = ext[0];
			if (off) {
				p->proto = next;
				return;
			}
			len = 8;
		} else if (next == IPPROTO_AH) {
			next = ext[0];
			len = ((__u32)ext[1] + 2) * 4;
		} else {
			next = ext[0];
			len = ((__u32)ext[1] + 1) * 8;
		}
		cur = ext + len;
	}
	p->proto = next;
	parse_port(p, cur, end);
}

static __always_inline void parse(struct pkt *p, void *data, void *end)
{
	struct ethhdr *eth = data;
	void *cur;
	__u16 proto;
	int i;

	if ((void *)(eth + 1) > end)
		return;
	proto = bpf_ntohs(eth->h_proto);
	cur = eth + 1;

#pragma clang loop unroll(full)
	for (i = 0; i < VLAN_MAX_DEPTH; i++) {
		struct vlan_tag *tag = cur;

		if (proto != ETH_P_8021Q_ && proto != ETH_P_8021AD_)
			break;
		if ((void *)(tag + 1) > end)
			return;
		if (!(p->flags & PKT_VLAN)) {
			p->vlan = bpf_ntohs(tag->tci) & 0x0fff;
			p->flags |= PKT_VLAN;
		}
		proto = bpf_ntohs(tag->next_proto);
		cur = tag + 1;
	}
	p->ethertype = proto;

	if (proto == ETH_P_IP)
		parse_ip4(p, cur, end);
	else if (proto == ETH_P_IPV6)
		parse_ip6(p, cur, end);
}

static __always_inline int prefix_match(const __u32 *addr, const __u32 *net, const __u32 *mask, int words)
{
	int i;

#pragma clang loop unroll(full)
	for (i = 0; i < 4; i++) {
		if (i < words && (addr[i] & mask[i]) != net[i])
			return 0;
	}
	return 1;
}

static __always_inline int rule_match(const struct lxsk_rule *r, const struct pkt *p)
{
	__u32 m = r->match;

	if ((m & LXSK_RULE_ETHERTYPE) && r->ethertype != p->ethertype)
		return 0;
	if ((m & LXSK_RULE_VLAN) && (!(p->flags & PKT_VLAN) || r->vlan != p->vlan))
		return 0;
	if ((m & LXSK_RULE_PROTO) && (!(p->flags & (PKT_IP4 | PKT_IP6)) || r->proto != p->proto))
		return 0;
	if (m & (LXSK_RULE_SRC4 | LXSK_RULE_DST4)) {
		if (!(p->flags & PKT_IP4))
			return 0;
		if ((m & LXSK_RULE_SRC4) && !prefix_match(p->src, r->src, r->src_mask, 1))
			return 0;
		if ((m & LXSK_RULE_DST4) && !prefix_match(p->dst, r->dst, r->dst_mask, 1))
			return 0;
	}
	if (m & (LXSK_RULE_SRC6 | LXSK_RULE_DST6)) {
		if (!(p->flags & PKT_IP6))
			return 0;
		if ((m & LXSK_RULE_SRC6) && !prefix_match(p->src, r->src, r->src_mask, 4))
			return 0;
		if ((m & LXSK_RULE_DST6) && !prefix_match(p->dst, r->dst, r->dst_mask, 4))
			return 0;
	}
	if ((m & LXSK_RULE_DPORT) &&
	    (!(p->flags & PKT_PORT) || p->dport < r->dport_lo || p->dport > r->dport_hi))
		return 0;
	return 1;
}

static __always_inline void count(__u32 slot, __u64 bytes)
{
	struct lxsk_counter *c = bpf_map_lookup_elem(&xsk_steer_cnt, &slot);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

/* To the socket of the packet's queue, stamped first when asked. */
static __always_inline int redirect(struct xdp_md *ctx, __u32 queue, __u32 meta, __u64 now)
{
	if (meta)
		lxsk_meta_stamp(ctx, meta, now);
	return bpf_redirect_map(&xsks_map, queue, XDP_PASS);
}

static __always_inline int steer(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 queue = ctx->rx_queue_index;
	struct lxsk_steer_cfg *cfg;
	struct pkt p = {};
	__u32 n = 0, zero = 0, meta = 0, i;
	__u64 bytes, now = 0;

	cfg = bpf_map_lookup_elem(&xsk_steer_cfg, &zero);
	if (cfg) {
		n = cfg->nrules;
		meta = cfg->meta;
	}
	if (meta & LXSK_META_RX_TIME)
		now = bpf_ktime_get_ns();
#ifdef LXSK_FRAGS
	bytes = bpf_xdp_get_buff_len(ctx);
#else
	bytes = end - data;
#endif
	if (n == 0) {
		count(LXSK_RULES_MAX, bytes);
		return redirect(ctx, queue, meta, now);
	}

	parse(&p, data, end);

#pragma clang loop unroll(disable)
	for (i = 0; i < LXSK_RULES_MAX; i++) {
		struct lxsk_rule *r;
		__u32 key = i;

		if (i >= n)
			break;
		r = bpf_map_lookup_elem(&xsk_steer_rules, &key);
		if (!r)
			break;
		if (!(r->match & LXSK_RULE_ACTIVE) || !rule_match(r, &p))
			continue;
		count(i, bytes);
		if (r->action == LXSK_ACT_PASS)
			return XDP_PASS;
		if (r->action == LXSK_ACT_DROP)
			return XDP_DROP;
		return redirect(ctx, queue, meta, now);
	}
	count(LXSK_RULES_MAX, bytes);
	return XDP_PASS;
}

#if defined(LXSK_FRAGS)
SEC("xdp.frags")
int xsk_steer_frags(struct xdp_md *ctx)
{
	return steer(ctx);
}
#elif defined(LXSK_META_KFUNCS)
SEC("xdp")
int xsk_steer_meta(struct xdp_md *ctx)
{
	return steer(ctx);
}
#else
SEC("xdp")
int xsk_steer(struct xdp_md *ctx)
{
	return steer(ctx);
}
#endif

char _license[] SEC("license") = "Dual MIT/GPL";
