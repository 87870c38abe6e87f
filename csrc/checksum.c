/* Internet checksums: see checksum.h for the conventions. */
#include "checksum.h"

#include <errno.h>
#include <string.h>

#define PROTO_ICMP 1
#define PROTO_TCP 6
#define PROTO_UDP 17
#define PROTO_ICMP6 58

#define IP4_MIN 20
#define IP6_HDR 40
#define UDP_HDR 8
#define TCP_MIN 20
#define ICMP_MIN 4 /* type, code, checksum: all the checksum needs */

static inline uint16_t ld16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void st16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline uint32_t fold16(uint64_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint32_t)s;
}

static inline uint16_t swap16(uint32_t v)
{
	return (uint16_t)((v & 0xff) << 8 | (v >> 8 & 0xff));
}

/* Ones' complement addition does not care about byte order (RFC 1071 2.B),
 * so the loop adds native 32-bit words and swaps once at the end.  memcpy
 * keeps unaligned frames legal. */
static uint32_t sum_be(const uint8_t *p, size_t len)
{
	uint64_t acc = 0;
	uint32_t w;
	uint16_t h;

	while (len >= 16) {
		uint32_t a, b, c, d;
		memcpy(&a, p, 4);
		memcpy(&b, p + 4, 4);
		memcpy(&c, p + 8, 4);
		memcpy(&d, p + 12, 4);
		acc += (uint64_t)a + b + c + d;
		p += 16;
		len -= 16;
	}
	while (len >= 4) {
		memcpy(&w, p, 4);
		acc += w;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		memcpy(&h, p, 2);
		acc += h;
		p += 2;
		len -= 2;
	}
	if (len) {
		uint8_t tail[2] = { p[0], 0 };
		memcpy(&h, tail, 2);
		acc += h;
	}
	uint32_t s = fold16(acc);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	s = swap16(s);
#endif
	return s;
}

uint32_t lxsk_csum_partial(const void *buf, size_t len, uint32_t sum)
{
	if (!buf)
		return fold16(sum);
	return fold16((uint64_t)sum + sum_be(buf, len));
}

uint16_t lxsk_csum_fold(uint32_t sum)
{
	return (uint16_t)~fold16(sum);
}

int lxsk_csum(const void *buf, size_t len)
{
	if (!buf && len)
		return -EINVAL;
	return lxsk_csum_fold(lxsk_csum_partial(buf, len, 0));
}

uint32_t lxsk_csum_pseudo4(const void *saddr, const void *daddr, uint8_t proto, uint32_t len)
{
	uint64_t s = (uint64_t)proto + (len >> 16) + (len & 0xffff);
	s += sum_be(saddr, 4);
	s += sum_be(daddr, 4);
	return fold16(s);
}

uint32_t lxsk_csum_pseudo6(const void *saddr, const void *daddr, uint8_t proto, uint32_t len)
{
	uint64_t s = (uint64_t)proto + (len >> 16) + (len & 0xffff);
	s += sum_be(saddr, 16);
	s += sum_be(daddr, 16);
	return fold16(s);
}

/* ---- IPv4 header ---- */

/* Header length of the IPv4 header at ip, or a negative errno. */
static int ip4_hlen(const uint8_t *ip, size_t len)
{
	if (!ip)
		return -EINVAL;
	if (len < 1)
		return -ERANGE;
	if (ip[0] >> 4 != 4 || (ip[0] & 0xf) < 5)
		return -EINVAL;
	size_t hl = (size_t)(ip[0] & 0xf) * 4;
	if (hl > len)
		return -ERANGE;
	return (int)hl;
}

int lxsk_ip4_csum(const void *ip, size_t len)
{
	const uint8_t *p = ip;
	int hl = ip4_hlen(p, len);
	if (hl < 0)
		return hl;
	uint32_t s = lxsk_csum_partial(p, 10, 0);
	s = lxsk_csum_partial(p + 12, (size_t)hl - 12, s);
	return lxsk_csum_fold(s);
}

int lxsk_ip4_csum_set(void *ip, size_t len)
{
	int c = lxsk_ip4_csum(ip, len);
	if (c >= 0)
		st16((uint8_t *)ip + 10, (uint16_t)c);
	return c;
}

int lxsk_ip4_csum_ok(const void *ip, size_t len)
{
	int hl = ip4_hlen(ip, len);
	if (hl < 0)
		return hl;
	return lxsk_csum(ip, (size_t)hl) == 0;
}

/* ---- upper layers over an explicit segment ---- */

/* Offset of the checksum field and the smallest segment that holds it. */
static int csum_field(uint8_t proto, size_t *min)
{
	switch (proto) {
	case PROTO_UDP:
		*min = UDP_HDR;
		return 6;
	case PROTO_TCP:
		*min = TCP_MIN;
		return 16;
	case PROTO_ICMP:
	case PROTO_ICMP6:
		*min = ICMP_MIN;
		return 2;
	default:
		return -EPROTO;
	}
}

/* The sum over l4 with its checksum field skipped, on top of sum. */
static int l4_sum(uint8_t proto, const uint8_t *l4, size_t len, uint32_t sum, uint32_t *out)
{
	size_t min;
	int off = csum_field(proto, &min);
	if (off < 0)
		return off;
	if (!l4)
		return -EINVAL;
	if (len < min)
		return -ERANGE;
	sum = lxsk_csum_partial(l4, (size_t)off, sum);
	*out = lxsk_csum_partial(l4 + off + 2, len - (size_t)off - 2, sum);
	return 0;
}

static int finish(uint8_t proto, uint32_t sum)
{
	uint16_t c = lxsk_csum_fold(sum);
	/* Zero in a UDP checksum means "none", so a computed zero goes out as
	 * its other ones' complement spelling. */
	if (proto == PROTO_UDP && c == 0)
		c = 0xffff;
	return c;
}

int lxsk_l4_csum4(const void *saddr, const void *daddr, uint8_t proto, const void *l4, size_t len)
{
	uint32_t s = 0;
	size_t min;
	if (proto == PROTO_ICMP6 || csum_field(proto, &min) < 0)
		return -EPROTO;
	if (proto != PROTO_ICMP) {
		if (!saddr || !daddr)
			return -EINVAL;
		if (len > 0xffff)
			return -ERANGE;
		s = lxsk_csum_pseudo4(saddr, daddr, proto, (uint32_t)len);
	}
	int r = l4_sum(proto, l4, len, s, &s);
	return r < 0 ? r : finish(proto, s);
}

int lxsk_l4_csum6(const void *saddr, const void *daddr, uint8_t proto, const void *l4, size_t len)
{
	uint32_t s;
	size_t min;
	if (proto == PROTO_ICMP || csum_field(proto, &min) < 0)
		return -EPROTO;
	if (!saddr || !daddr)
		return -EINVAL;
	if (len > 0xffffffffu)
		return -ERANGE;
	s = lxsk_csum_pseudo6(saddr, daddr, proto, (uint32_t)len);
	int r = l4_sum(proto, l4, len, s, &s);
	return r < 0 ? r : finish(proto, s);
}

/* ---- upper layers of an IP packet ---- */

struct l4loc {
	const uint8_t *ip;
	const uint8_t *l4;
	size_t len; /* what the checksum covers */
	uint8_t proto;
	uint8_t v6;
};

/* Find the upper-layer segment of the IP packet at ip.  want is the protocol
 * the caller asks for, or 0 for whatever the packet carries. */
static int locate(const uint8_t *ip, size_t len, uint8_t want, struct l4loc *loc)
{
	size_t hl, total;

	if (!ip)
		return -EINVAL;
	if (len < 1)
		return -ERANGE;
	loc->ip = ip;
	if (ip[0] >> 4 == 4) {
		int r = ip4_hlen(ip, len);
		if (r < 0)
			return r;
		hl = (size_t)r;
		total = ld16(ip + 2);
		if (total < hl)
			return -EINVAL;
		if (total > len)
			return -ERANGE;
		/* Later fragments carry no upper header, and the first one
		 * holds only part of what its checksum covers. */
		if (ld16(ip + 6) & 0x3fff)
			return -EPROTO;
		loc->proto = ip[9];
		loc->v6 = 0;
	} else if (ip[0] >> 4 == 6) {
		if (len < IP6_HDR)
			return -ERANGE;
		hl = IP6_HDR;
		total = IP6_HDR + (size_t)ld16(ip + 4);
		if (total > len)
			return -ERANGE;
		loc->proto = ip[6];
		loc->v6 = 1;
	} else {
		return -EINVAL;
	}
	if (want && loc->proto != want)
		return -EPROTO;
	if (loc->proto == (loc->v6 ? PROTO_ICMP : PROTO_ICMP6))
		return -EPROTO;
	loc->l4 = ip + hl;
	loc->len = total - hl;
	if (loc->proto == PROTO_UDP) {
		if (loc->len < UDP_HDR)
			return -ERANGE;
		size_t ulen = ld16(loc->l4 + 4);
		if (ulen < UDP_HDR)
			return -EINVAL;
		if (ulen > loc->len)
			return -ERANGE;
		loc->len = ulen;
	}
	return 0;
}

static int l4_compute(const struct l4loc *loc)
{
	if (loc->v6)
		return lxsk_l4_csum6(loc->ip + 8, loc->ip + 24, loc->proto, loc->l4, loc->len);
	return lxsk_l4_csum4(loc->ip + 12, loc->ip + 16, loc->proto, loc->l4, loc->len);
}

static int l4_by_proto(const void *ip, size_t len, uint8_t proto, int v6)
{
	struct l4loc loc;
	const uint8_t *p = ip;
	if (p && len && (p[0] >> 4 == 6) != v6)
		return -EPROTO;
	int r = locate(p, len, proto, &loc);
	return r < 0 ? r : l4_compute(&loc);
}

int lxsk_udp4_csum(const void *ip, size_t len) { return l4_by_proto(ip, len, PROTO_UDP, 0); }
int lxsk_tcp4_csum(const void *ip, size_t len) { return l4_by_proto(ip, len, PROTO_TCP, 0); }
int lxsk_icmp4_csum(const void *ip, size_t len) { return l4_by_proto(ip, len, PROTO_ICMP, 0); }
int lxsk_udp6_csum(const void *ip6, size_t len) { return l4_by_proto(ip6, len, PROTO_UDP, 1); }
int lxsk_tcp6_csum(const void *ip6, size_t len) { return l4_by_proto(ip6, len, PROTO_TCP, 1); }
int lxsk_icmp6_csum(const void *ip6, size_t len) { return l4_by_proto(ip6, len, PROTO_ICMP6, 1); }

int lxsk_l4_csum_set(void *ip, size_t len)
{
	struct l4loc loc;
	int r = locate(ip, len, 0, &loc);
	if (r < 0)
		return r;
	r = l4_compute(&loc);
	if (r < 0)
		return r;
	size_t min;
	int off = csum_field(loc.proto, &min);
	st16((uint8_t *)ip + (loc.l4 - loc.ip) + off, (uint16_t)r);
	return r;
}

int lxsk_l4_csum_ok(const void *ip, size_t len)
{
	struct l4loc loc;
	size_t min;
	int r = locate(ip, len, 0, &loc);
	if (r < 0)
		return r;
	int off = csum_field(loc.proto, &min);
	if (off < 0)
		return off;
	if (loc.len < min)
		return -ERANGE;
	if (loc.proto == PROTO_UDP && !loc.v6 && ld16(loc.l4 + off) == 0)
		return 1;
	/* Summing the stored checksum too gives ones' complement zero on a good
	 * packet, whichever of its two spellings of zero the sender used. */
	uint32_t s = 0;
	if (loc.v6)
		s = lxsk_csum_pseudo6(loc.ip + 8, loc.ip + 24, loc.proto, (uint32_t)loc.len);
	else if (loc.proto != PROTO_ICMP)
		s = lxsk_csum_pseudo4(loc.ip + 12, loc.ip + 16, loc.proto, (uint32_t)loc.len);
	return lxsk_csum_fold(lxsk_csum_partial(loc.l4, loc.len, s)) == 0;
}

/* ---- incremental updates (RFC 1624) ---- */

uint16_t lxsk_csum_update16(uint16_t csum, uint16_t old, uint16_t new_)
{
	uint32_t s = (uint32_t)(uint16_t)~csum + (uint16_t)~old + new_;
	return (uint16_t)~fold16(s);
}

uint16_t lxsk_csum_update32(uint16_t csum, uint32_t old, uint32_t new_)
{
	uint64_t s = (uint64_t)(uint16_t)~csum;
	s += (uint16_t)~(old >> 16);
	s += (uint16_t)~(old & 0xffff);
	s += new_ >> 16;
	s += new_ & 0xffff;
	return (uint16_t)~fold16(s);
}

int lxsk_csum_update(uint16_t csum, const void *old, const void *new_, size_t n, int odd)
{
	if (!old || !new_)
		return -EINVAL;
	uint32_t so = sum_be(old, n);
	uint32_t sn = sum_be(new_, n);
	/* Bytes at an odd offset land in the other half of each 16-bit word,
	 * which swaps the bytes of their sum (RFC 1071 2.B again). */
	if (odd) {
		so = swap16(so);
		sn = swap16(sn);
	}
	uint32_t s = (uint32_t)(uint16_t)~csum + (uint16_t)~so + sn;
	return (uint16_t)~fold16(s);
}

/* ---- whole UDP frames ---- */

int lxsk_udp_frame_fix(void *frame, size_t len)
{
	uint8_t *f = frame;
	size_t off = 12;

	if (!f)
		return -EINVAL;
	for (int tags = 0;; tags++) {
		if (off + 2 > len)
			return -ERANGE;
		uint16_t type = ld16(f + off);
		if ((type == 0x8100 || type == 0x88a8) && tags < 2) {
			off += 4;
			continue;
		}
		off += 2;
		if (type == 0x0800) {
			int hl = ip4_hlen(f + off, len - off);
			if (hl < 0)
				return hl;
			size_t total = len - off;
			if (total > 0xffff)
				return -ERANGE;
			if (f[off + 9] != PROTO_UDP || (ld16(f + off + 6) & 0x3fff))
				return -EPROTO;
			if (total < (size_t)hl + UDP_HDR)
				return -ERANGE;
			st16(f + off + 2, (uint16_t)total);
			lxsk_ip4_csum_set(f + off, total);
			st16(f + off + hl + 4, (uint16_t)(total - (size_t)hl));
		} else if (type == 0x86dd) {
			if (len - off < IP6_HDR + UDP_HDR)
				return -ERANGE;
			size_t plen = len - off - IP6_HDR;
			if (plen > 0xffff)
				return -ERANGE;
			if (f[off + 6] != PROTO_UDP)
				return -EPROTO;
			st16(f + off + 4, (uint16_t)plen);
			st16(f + off + IP6_HDR + 4, (uint16_t)plen);
		} else {
			return -EPROTO;
		}
		int r = lxsk_l4_csum_set(f + off, len - off);
		return r < 0 ? r : 0;
	}
}
