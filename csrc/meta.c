/* RX metadata in front of packets and its guard (meta.h). */
#include <stddef.h>
#include <string.h>

#include "meta.h"

/* The metadata area in front of the packet at addr, or NULL when it would
 * start before the frame's chunk (a packet that does not start at the
 * kernel's offset). */
static inline uint8_t *meta_at(const struct frames *fr, uint64_t addr)
{
	if (addr >= fr->size || (addr & ~fr->chunk_mask) < sizeof(struct lxsk_rx_meta))
		return NULL;
	return fr->area + addr - sizeof(struct lxsk_rx_meta);
}

/* The headroom may be any size, so the fields may be unaligned: memcpy. */
static inline uint32_t magic_of(const uint8_t *m)
{
	uint32_t v;

	memcpy(&v, m + offsetof(struct lxsk_rx_meta, magic), sizeof(v));
	return v;
}

static inline void set_magic(uint8_t *m, uint32_t v)
{
	memcpy(m + offsetof(struct lxsk_rx_meta, magic), &v, sizeof(v));
}

static inline void forget(uint8_t *m)
{
	if (m && magic_of(m))
		set_magic(m, 0);
}

void meta_seen(const struct frames *fr, struct lxsk_frame *f, uint32_t n)
{
	uint32_t i = 0;

	while (i < n) {
		uint32_t first = i, total = 0;
		uint8_t *m = meta_at(fr, f[first].addr);

		/* The packet's frames: all but its last carry LXSK_PKT_CONTD. */
		do
			total += f[i].len;
		while ((f[i++].options & LXSK_PKT_CONTD) && i < n);
		if (m) {
			uint32_t magic = magic_of(m);
			uint16_t len;

			memcpy(&len, m + offsetof(struct lxsk_rx_meta, len), sizeof(len));
			if (magic == LXSK_META_MAGIC && len == (uint16_t)total)
				set_magic(m, LXSK_META_CHECKED);
			else if (magic)
				set_magic(m, 0);
		}
		/* Metadata belongs in front of a packet's first frame only. */
		for (uint32_t j = first + 1; j < i; j++)
			forget(meta_at(fr, f[j].addr));
	}
}

void meta_forget(const struct frames *fr, const struct lxsk_frame *f, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		forget(meta_at(fr, f[i].addr));
}

void meta_forget_addr(const struct frames *fr, uint64_t addr)
{
	forget(meta_at(fr, addr));
}

int meta_read(const struct frames *fr, const struct lxsk_frame *f, struct lxsk_rx_meta *out)
{
	const uint8_t *m = meta_at(fr, f->addr);

	if (!m || magic_of(m) != LXSK_META_CHECKED)
		return 0;
	memcpy(out, m, sizeof(*out));
	return 1;
}
