/* libFuzzer target: plain sums and incremental updates of csrc/checksum.c
 * against a byte-at-a-time reference (RFC 1071 as written).
 *
 * Input: 2 bytes of parameters, then the data. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checksum.h"

#define CHECK(c)                                                                                                       \
	do {                                                                                                           \
		if (!(c))                                                                                              \
			__builtin_trap();                                                                              \
	} while (0)

/* Ones' complement sum of big-endian 16-bit words, odd byte padded with 0. */
static uint32_t ref_sum(const uint8_t *p, size_t len)
{
	uint64_t s = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		s += (uint32_t)p[len - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint32_t)s;
}

static uint16_t ref_csum(const uint8_t *p, size_t len)
{
	return (uint16_t)~ref_sum(p, len);
}

/* 0x0000 and 0xffff are the same number in ones' complement. */
static int same(uint16_t a, uint16_t b)
{
	return a == b || ((a == 0 || a == 0xffff) && (b == 0 || b == 0xffff));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	uint8_t split = data[0], pos = data[1];
	const uint8_t *d = data + 2;
	size_t n = size - 2;
	/* an exact-size copy, so ASan sees any read past the end */
	uint8_t *buf = malloc(n ? n : 1);
	memcpy(buf, d, n);

	uint16_t want = ref_csum(buf, n);
	int got = lxsk_csum(buf, n);
	CHECK(got >= 0 && same((uint16_t)got, want));
	CHECK(same(lxsk_csum_fold(lxsk_csum_partial(buf, n, 0)), want));

	/* chained partial sums: every chunk but the last of even length */
	size_t cut = n ? ((size_t)split * n / 256) & ~(size_t)1 : 0;
	uint32_t s = lxsk_csum_partial(buf, cut, 0);
	s = lxsk_csum_partial(buf + cut, n - cut, s);
	CHECK(same(lxsk_csum_fold(s), want));

	if (n >= 4) {
		/* change bytes at pos..pos+k and update incrementally */
		size_t at = (size_t)pos % (n - 3), k = 1 + (size_t)(split % 4);
		if (at + k > n)
			k = n - at;
		uint8_t *after = malloc(n);
		memcpy(after, buf, n);
		for (size_t i = 0; i < k; i++)
			after[at + i] = (uint8_t)(after[at + i] ^ (0x5a + i * 37) ^ split);
		uint16_t before = ref_csum(buf, n), wanted = ref_csum(after, n);
		int u = lxsk_csum_update(before, buf + at, after + at, k, (int)(at & 1));
		CHECK(u >= 0 && same((uint16_t)u, wanted));
		if (!(at & 1) && at + 2 <= n) {
			uint16_t o16 = (uint16_t)(buf[at] << 8 | buf[at + 1]);
			uint16_t n16 = (uint16_t)(after[at] << 8 | after[at + 1]);
			memcpy(after, buf, n);
			after[at] = (uint8_t)(n16 >> 8);
			after[at + 1] = (uint8_t)n16;
			CHECK(same(lxsk_csum_update16(before, o16, n16), ref_csum(after, n)));
		}
		if (!(at & 1) && at + 4 <= n) {
			uint32_t o32 = (uint32_t)buf[at] << 24 | (uint32_t)buf[at + 1] << 16 | (uint32_t)buf[at + 2] << 8 |
				       buf[at + 3];
			uint32_t n32 = o32 * 2654435761u + split;
			memcpy(after, buf, n);
			after[at] = (uint8_t)(n32 >> 24);
			after[at + 1] = (uint8_t)(n32 >> 16);
			after[at + 2] = (uint8_t)(n32 >> 8);
			after[at + 3] = (uint8_t)n32;
			CHECK(same(lxsk_csum_update32(before, o32, n32), ref_csum(after, n)));
		}
		free(after);
	}
	free(buf);
	return 0;
}
