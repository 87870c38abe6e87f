/* Wire and file formats that Lua reads and writes in place: packet headers
 * (lua/xsk/headers.lua) and pcap records (lua/xsk/pcap.lua).  No C file of
 * the core uses them; they live here so that the FFI's declarations have one
 * source (see lxsk.h), checked against the C compiler by the ABI spec. */
#ifndef LXSK_PACKET_H
#define LXSK_PACKET_H

#include <stdint.h>

/* FFI: begin */
/* Packet headers (lua/xsk/headers.lua).  Multi-byte fields hold network
 * order; packed because frames sit at any alignment. */
struct lxsk_eth_hdr { uint8_t dst[6]; uint8_t src[6]; uint16_t type; } __attribute__((packed));
struct lxsk_vlan_hdr { uint16_t tci; uint16_t type; } __attribute__((packed));
struct lxsk_arp_hdr {
	uint16_t htype, ptype;
	uint8_t hlen, plen;
	uint16_t oper;
	uint8_t sha[6]; uint8_t spa[4];
	uint8_t tha[6]; uint8_t tpa[4];
} __attribute__((packed));
struct lxsk_ipv4_hdr {
	uint8_t ver_ihl, tos;
	uint16_t tot_len, id, frag_off;
	uint8_t ttl, protocol;
	uint16_t check;
	union { uint32_t saddr; uint8_t saddr_b[4]; };
	union { uint32_t daddr; uint8_t daddr_b[4]; };
} __attribute__((packed));
struct lxsk_ipv6_hdr {
	uint32_t vtc_flow;
	uint16_t payload_len;
	uint8_t nexthdr, hop_limit;
	uint8_t saddr[16];
	uint8_t daddr[16];
} __attribute__((packed));
struct lxsk_udp_hdr { uint16_t source, dest, len, check; } __attribute__((packed));
struct lxsk_tcp_hdr {
	uint16_t source, dest;
	uint32_t seq, ack_seq;
	uint8_t doff_res, flags;
	uint16_t window, check, urg_ptr;
} __attribute__((packed));
struct lxsk_icmp_hdr {
	uint8_t type, code;
	uint16_t check;
	union { struct { uint16_t id, sequence; }; uint32_t rest; };
} __attribute__((packed));
struct lxsk_icmp6_hdr {
	uint8_t type, code;
	uint16_t check;
	union { struct { uint16_t id, sequence; }; uint32_t data32; };
} __attribute__((packed));

/* What headers.parse() found.  Offsets are from base; 0 means absent (no
 * header but Ethernet can start at 0).  Host-order numbers. */
struct lxsk_parsed {
	const uint8_t *base;
	uint32_t len;
	int32_t err;
	uint32_t vlan_count;
	uint16_t vlan_tci[2];
	uint32_t vlan_off[2];
	uint16_t l3_type;
	uint8_t l4_proto;
	uint8_t frag;
	uint32_t l3_off, l3_len;
	uint32_t l4_off;
	uint32_t payload_off, payload_len;
	struct lxsk_eth_hdr *eth;
	struct lxsk_vlan_hdr *vlan[2];
	struct lxsk_arp_hdr *arp;
	struct lxsk_ipv4_hdr *ip4;
	struct lxsk_ipv6_hdr *ip6;
	struct lxsk_udp_hdr *udp;
	struct lxsk_tcp_hdr *tcp;
	struct lxsk_icmp_hdr *icmp;
	struct lxsk_icmp6_hdr *icmp6;
};

/* Classic pcap file (lua/xsk/pcap.lua), in the writer's byte order. */
struct lxsk_pcap_hdr {
	uint32_t magic;
	uint16_t version_major, version_minor;
	int32_t thiszone;
	uint32_t sigfigs, snaplen, linktype;
};
struct lxsk_pcap_rec { uint32_t ts_sec, ts_frac, caplen, len; };
/* FFI: end */

#endif
