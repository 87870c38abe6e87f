/* The four rings one hand-over at a time, each checked against frame owners.
 * Produce calls are all or nothing, as in xsk-rs: a batch that does not fit,
 * or holds one bad frame, goes nowhere. */
#include <errno.h>

#include "internal.h"

/* Frames the script offers must all be its own; mark them as they pass so a
 * frame listed twice is caught, and undo the marks if one is refused. */
/* Why fm_tx_frame refused a frame, as a message. */
int lxsk_tx_frame_error(const struct lxsk_sock *s, const struct lxsk_frame *f, uint32_t i, const char *what)
{
	struct frame_map m = map_of(s->umem);

	if (!fm_user_frame(&m, f))
		return lxsk_user_frame_error(s->umem, f, i, what);
	if (!f->len)
		return lxsk_fail(EINVAL, "%s on %s queue %u: frame %u (addr 0x%llx) has length 0", what, s->ifname,
				 s->queue, i, (unsigned long long)f->addr);
	return lxsk_fail(EINVAL,
			 "%s on %s queue %u: frame %u (addr 0x%llx) has XDP_PKT_CONTD set but the socket was made "
			 "without multi_buffer = true",
			 what, s->ifname, s->queue, i, (unsigned long long)f->addr);
}

static int claim(struct lxsk_sock *s, struct lxsk_batch *b, uint32_t n, uint8_t state, const char *what)
{
	struct lxsk_umem *u = s->umem;
	struct frame_map m = map_of(u);
	bool tx = state == (LXSK_OWN_TX | s->pair_tag);
	uint32_t contd_bad = s->multi_buffer ? 0 : XDP_PKT_CONTD;

	for (uint32_t i = 0; i < n; i++) {
		const struct lxsk_frame *f = &b->f[i];
		bool ok = tx ? fm_tx_frame(&m, f, contd_bad) : fm_user_frame(&m, f);

		if (!ok) {
			int err = tx ? lxsk_tx_frame_error(s, f, i, what) : lxsk_user_frame_error(u, f, i, what);

			while (i--)
				*fm_state(&m, b->f[i].addr) = LXSK_OWN_USER;
			return err;
		}
		*fm_state(&m, f->addr) = state;
	}
	return 0;
}

int lxsk_fill_needs_wakeup(const struct lxsk_sock *s)
{
	return !s->closed && xsk_ring_prod__needs_wakeup(&s->pair->fq);
}

int lxsk_tx_needs_wakeup(const struct lxsk_sock *s)
{
	return !s->closed && s->has_tx && xsk_ring_prod__needs_wakeup(&s->tx);
}

int lxsk_fill_produce(struct lxsk_sock *s, struct lxsk_batch *b)
{
	struct xsk_ring_prod *fq;
	uint32_t n = b->n, idx = 0;
	int err;

	if (lxsk_sock_usable(s, "fill"))
		return -EBADF;
	if (batch_bad(b))
		return lxsk_batch_error(b, "fill");
	if (!s->pair->rx_refs)
		return lxsk_fail(EINVAL,
				 "fill on %s queue %u: no socket here has an RX ring, so frames on this fill "
				 "ring would never come back",
				 s->ifname, s->queue);
	if (!n)
		return 0;
	fq = &s->pair->fq;
	if (xsk_ring_prod__reserve(fq, n, &idx) != n)
		return 0;
	err = claim(s, b, n, (uint8_t)(LXSK_OWN_FILL | s->pair_tag), "fill");
	if (err) {
		fq->cached_prod -= n;
		return err;
	}
	for (uint32_t i = 0; i < n; i++)
		*xsk_ring_prod__fill_addr(fq, idx + i) = chunk_of(s->umem, b->f[i].addr);
	xsk_ring_prod__submit(fq, n);
	b->n = 0;
	return (int)n;
}

int lxsk_tx_produce(struct lxsk_sock *s, struct lxsk_batch *b)
{
	uint32_t n = b->n, idx = 0;
	int err;

	if (lxsk_sock_usable(s, "tx"))
		return -EBADF;
	if (batch_bad(b))
		return lxsk_batch_error(b, "tx");
	if (!s->has_tx)
		return lxsk_fail(EINVAL, "tx on %s queue %u: the socket has no TX ring (tx_size = 0)", s->ifname,
				 s->queue);
	if (!n)
		return 0;
	if (batch_ends_mid_packet(b))
		return lxsk_tx_mid_packet(s, b, "tx");
	if (xsk_ring_prod__reserve(&s->tx, n, &idx) != n)
		return 0;
	err = claim(s, b, n, (uint8_t)(LXSK_OWN_TX | s->pair_tag), "tx");
	if (err) {
		s->tx.cached_prod -= n;
		return err;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct xdp_desc *d = xsk_ring_prod__tx_desc(&s->tx, idx + i);

		d->addr = b->f[i].addr;
		d->len = b->f[i].len;
		d->options = b->f[i].options;
	}
	xsk_ring_prod__submit(&s->tx, n);
	b->n = 0;
	return (int)n;
}

/* The owner byte of a frame the kernel completed, or NULL when the address is
 * not one we sent: such an address is ignored rather than handed out twice. */
static inline uint8_t *completed_frame(const struct frame_map *m, uint64_t addr)
{
	uint8_t *st;

	if (addr >= m->size || (*(st = fm_state(m, addr)) & OWN_MASK) != LXSK_OWN_TX)
		return NULL;
	return st;
}

/* Hands completed TX frames back to the script (b) or, without b, to the pool.
 * Every field the loops need is copied into a local first: each store to an
 * owner byte may alias anything, and would otherwise make the compiler reload
 * the ring pointer, its mask and the UMEM fields once per frame. */
int lxsk_comp_take(struct lxsk_sock *s, struct lxsk_batch *b, uint32_t max, int to_pool)
{
	struct lxsk_umem *u = s->umem;
	struct xsk_ring_cons *cq = &s->pair->cq;
	uint32_t idx = 0, got = xsk_ring_cons__peek(cq, max, &idx), kept = 0;
	const uint64_t *ring = cq->ring;
	const uint32_t mask = cq->mask;
	struct frame_map m = map_of(u);

	if (!got)
		return 0;
	if (to_pool) {
		uint64_t *pool = u->pool;
		uint32_t pc = u->pool_count;

		for (uint32_t i = 0; i < got; i++) {
			uint64_t addr = ring[(idx + i) & mask];
			uint8_t *st = completed_frame(&m, addr);

			if (!st)
				continue;
			*st = LXSK_OWN_POOL;
			pool[pc++] = addr & m.chunk_mask;
		}
		kept = pc - u->pool_count;
		u->pool_count = pc;
	} else {
		struct lxsk_frame *f = &b->f[b->n];

		for (uint32_t i = 0; i < got; i++) {
			uint64_t addr = ring[(idx + i) & mask];
			uint8_t *st = completed_frame(&m, addr);

			if (!st)
				continue;
			*st = LXSK_OWN_USER;
			fm_fill(&m, f++, addr, 0, 0);
		}
		kept = (uint32_t)(f - &b->f[b->n]);
		b->n += kept;
	}
	xsk_ring_cons__release(cq, got);
	return (int)kept;
}

int lxsk_comp_consume(struct lxsk_sock *s, struct lxsk_batch *b, uint32_t max)
{
	if (lxsk_sock_usable(s, "completion"))
		return -EBADF;
	if (batch_bad(b))
		return lxsk_batch_error(b, "completion");
	if (max > b->cap - b->n)
		max = b->cap - b->n;
	return lxsk_comp_take(s, b, max, 0);
}

/* Descriptors of the packet that starts at ring index idx, looking at no more
 * than the n the ring holds; 0 when the packet is not complete yet. */
static uint32_t rx_packet_descs(const struct xsk_ring_cons *rx, uint32_t idx, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (!(xsk_ring_cons__rx_desc(rx, idx + i)->options & XDP_PKT_CONTD))
			return i + 1;
	return 0;
}

/* A packet has more descriptors than the room left: taking part of it would
 * split it, leaving it would stall the ring, so say so. */
int lxsk_rx_too_small(struct lxsk_sock *s, uint32_t room, const char *what)
{
	uint32_t idx = 0, avail, descs;

	avail = xsk_ring_cons__peek(&s->rx, s->rx.size, &idx);
	descs = rx_packet_descs(&s->rx, idx, avail);
	if (avail)
		xsk_ring_cons__cancel(&s->rx, avail);
	if (descs)
		return lxsk_fail(EMSGSIZE,
				 "%s on %s queue %u: the next packet has %u descriptors (multi-buffer) but the batch "
				 "has room for only %u; use a batch (or max) of at least %u frames",
				 what, s->ifname, s->queue, descs, room, descs);
	return lxsk_fail(EMSGSIZE,
			 "%s on %s queue %u: the next packet has more than %u descriptors (multi-buffer) but the "
			 "batch has room for only %u; use a bigger batch",
			 what, s->ifname, s->queue, room, room);
}

/* Takes whole packets only: the descriptors peeked after the last packet end
 * go back on the ring (cancel) and come with the rest of their packet later.
 * Without multi-buffer every descriptor ends a packet, so the backward scan
 * stops at once. */
int lxsk_rx_take(struct lxsk_sock *s, struct lxsk_batch *b, uint32_t max, const char *what)
{
	struct xsk_ring_cons *rx = &s->rx;
	uint32_t idx = 0, got, take, bn = b->n;

	got = xsk_ring_cons__peek(rx, max, &idx);
	take = got;
	while (take && (xsk_ring_cons__rx_desc(rx, idx + take - 1)->options & XDP_PKT_CONTD))
		take--;
	if (__builtin_expect(take != got, 0)) {
		xsk_ring_cons__cancel(rx, got - take);
		/* Nothing whole fits though the room is full: it never will. */
		if (!take && got == max)
			return lxsk_rx_too_small(s, max, what);
	}
	{
		struct frame_map m = map_of(s->umem);
		uint8_t state = LXSK_OWN_USER;

		for (uint32_t i = 0; i < take; i++) {
			const struct xdp_desc *d = xsk_ring_cons__rx_desc(rx, idx + i);
			uint8_t *st;

			/* The kernel only hands back what we gave it; anything
			 * else is skipped rather than handed out a second time.
			 * A skipped packet end still ends the packet. */
			if (__builtin_expect(d->addr >= m.size ||
						     (*(st = fm_state(&m, d->addr)) & OWN_MASK) != LXSK_OWN_FILL,
					     0)) {
				if (!(d->options & XDP_PKT_CONTD) && bn > b->n)
					b->f[bn - 1].options &= ~(uint32_t)XDP_PKT_CONTD;
				continue;
			}
			*st = state;
			fm_fill(&m, &b->f[bn++], d->addr, d->len, d->options);
		}
	}
	if (take)
		xsk_ring_cons__release(rx, take);
	{
		uint32_t kept = bn - b->n;

		b->n = bn;
		return (int)kept;
	}
}

int lxsk_rx_consume(struct lxsk_sock *s, struct lxsk_batch *b, uint32_t max)
{
	if (lxsk_sock_usable(s, "rx"))
		return -EBADF;
	if (batch_bad(b))
		return lxsk_batch_error(b, "rx");
	if (!s->has_rx)
		return lxsk_fail(EINVAL, "rx on %s queue %u: the socket has no RX ring (rx_size = 0)", s->ifname,
				 s->queue);
	if (max > b->cap - b->n)
		max = b->cap - b->n;
	return lxsk_rx_take(s, b, max, "rx");
}

int lxsk_tx_mid_packet(const struct lxsk_sock *s, const struct lxsk_batch *b, const char *what)
{
	return lxsk_fail(EINVAL,
			 "%s on %s queue %u: the batch ends in the middle of a packet: its last frame %u (addr "
			 "0x%llx) has XDP_PKT_CONTD set; clear it on a packet's last frame",
			 what, s->ifname, s->queue, b->n - 1, (unsigned long long)b->f[b->n - 1].addr);
}

int lxsk_tx_too_big(const struct lxsk_sock *s, const struct lxsk_batch *b, const char *what)
{
	uint32_t descs = 1;

	while (descs < b->n && (b->f[descs - 1].options & XDP_PKT_CONTD))
		descs++;
	return lxsk_fail(EMSGSIZE,
			 "%s on %s queue %u: the first packet of the batch has %u descriptors, more than the TX "
			 "ring's %u entries",
			 what, s->ifname, s->queue, descs, s->tx.size);
}
