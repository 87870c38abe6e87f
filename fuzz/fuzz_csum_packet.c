/* libFuzzer target: the header-reading checksum calls of csrc/checksum.c on
 * arbitrary packets.  They must never read or write outside the length they
 * are given (ASan), and what *_set computes *_ok must accept.
 *
 * Input: 1 byte selecting what the rest is (IP packet or Ethernet frame),
 * then the bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checksum.h"

#define CHECK(c)                                                                                                       \
	do {                                                                                                           \
		if (!(c))                                                                                              \
			__builtin_trap();                                                                              \
	} while (0)

static uint8_t *copy(const uint8_t *d, size_t n)
{
	uint8_t *p = malloc(n ? n : 1);
	memcpy(p, d, n);
	return p;
}

static void ip_packet(const uint8_t *d, size_t n)
{
	uint8_t *p = copy(d, n);
	int (*const readers[])(const void *, size_t) = {
		lxsk_ip4_csum, lxsk_ip4_csum_ok, lxsk_udp4_csum, lxsk_tcp4_csum, lxsk_icmp4_csum,
		lxsk_udp6_csum, lxsk_tcp6_csum, lxsk_icmp6_csum, lxsk_l4_csum_ok,
	};

	for (size_t i = 0; i < sizeof(readers) / sizeof(readers[0]); i++) {
		int r = readers[i](p, n);
		CHECK(r >= -255);
		CHECK(!memcmp(p, d, n)); /* readers do not write */
	}
	/* set, then ok must agree */
	int r = lxsk_ip4_csum_set(p, n);
	if (r >= 0)
		CHECK(lxsk_ip4_csum_ok(p, n) == 1);
	r = lxsk_l4_csum_set(p, n);
	if (r >= 0)
		CHECK(lxsk_l4_csum_ok(p, n) == 1);
	/* a shorter length must never let them read further */
	if (n > 1) {
		free(p);
		p = copy(d, n / 2);
		lxsk_l4_csum_ok(p, n / 2);
		lxsk_l4_csum_set(p, n / 2);
		lxsk_ip4_csum_set(p, n / 2);
	}
	free(p);
	/* explicit segments: saddr/daddr from the front, the rest as l4 */
	if (n >= 32) {
		uint8_t *q = copy(d, n);
		for (uint8_t proto = 0; proto < 64; proto = (uint8_t)(proto * 2 + 1)) {
			lxsk_l4_csum4(q, q + 4, proto, q + 32, n - 32);
			lxsk_l4_csum6(q, q + 16, proto, q + 32, n - 32);
		}
		free(q);
	}
}

static void eth_frame(const uint8_t *d, size_t n)
{
	uint8_t *p = copy(d, n);
	int r = lxsk_udp_frame_fix(p, n);
	if (r == 0) {
		/* the frame is now consistent: find the IP header and check it */
		size_t off = 12;
		while (off + 2 <= n && (p[off] << 8 | p[off + 1]) != 0x0800 && (p[off] << 8 | p[off + 1]) != 0x86dd)
			off += 4;
		off += 2;
		CHECK(off < n);
		CHECK(lxsk_l4_csum_ok(p + off, n - off) == 1);
		if (p[off] >> 4 == 4)
			CHECK(lxsk_ip4_csum_ok(p + off, n - off) == 1);
	}
	free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		eth_frame(data + 1, size - 1);
	else
		ip_packet(data + 1, size - 1);
	return 0;
}
