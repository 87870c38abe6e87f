/* The four rings one hand-over at a time, each checked against frame owners.
 * Produce calls are all or nothing, as in xsk-rs: a batch that does not fit,
 * or holds one bad frame, goes nowhere. */
#include <errno.h>

#include "internal.h"

/* Frames the script offers must all be its own; mark them as they pass so a
 * frame listed twice is caught, and undo the marks if one is refused. */
static int claim(struct lxsk_sock *s, struct lxsk_batch *b, uint32_t n, uint8_t state, const char *what)
{
	struct lxsk_umem *u = s->umem;

	for (uint32_t i = 0; i < n; i++) {
		const struct lxsk_frame *f = &b->f[i];
		int err = lxsk_check_user_frame(u, f, i, what);

		if (!err && state == (LXSK_OWN_TX | s->pair_tag) && f->len == 0)
			err = lxsk_fail(EINVAL, "%s on %s queue %u: frame %u (addr 0x%llx) has length 0", what,
					s->ifname, s->queue, i, (unsigned long long)f->addr);
		if (err) {
			while (i--)
				u->state[frame_index(u, b->f[i].addr)] = LXSK_OWN_USER;
			return err;
		}
		u->state[frame_index(u, f->addr)] = state;
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

/* Hands completed TX frames back to the script (to_pool = 0) or to the pool. */
int lxsk_comp_take(struct lxsk_sock *s, struct lxsk_batch *b, uint32_t max, int to_pool)
{
	struct lxsk_umem *u = s->umem;
	struct xsk_ring_cons *cq = &s->pair->cq;
	uint32_t idx = 0, got, kept = 0;

	got = xsk_ring_cons__peek(cq, max, &idx);
	{
		struct frame_map m = map_of(u);
		uint64_t *pool = u->pool;
		uint32_t pc = u->pool_count, bn = b ? b->n : 0;

		for (uint32_t i = 0; i < got; i++) {
			uint64_t addr = *xsk_ring_cons__comp_addr(cq, idx + i);
			uint8_t *st;

			/* The kernel only completes what we sent; anything else is
			 * ignored rather than handed out a second time. */
			if (addr >= m.size || (*(st = fm_state(&m, addr)) & OWN_MASK) != LXSK_OWN_TX)
				continue;
			if (to_pool) {
				*st = LXSK_OWN_POOL;
				pool[pc++] = addr & m.chunk_mask;
			} else {
				*st = LXSK_OWN_USER;
				fm_fill(&m, &b->f[bn++], addr, 0, 0);
			}
			kept++;
		}
		u->pool_count = pc;
		if (b)
			b->n = bn;
	}
	if (got)
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

int lxsk_rx_take(struct lxsk_sock *s, struct lxsk_batch *b, uint32_t max)
{
	struct lxsk_umem *u = s->umem;
	uint32_t idx = 0, got, kept = 0;

	got = xsk_ring_cons__peek(&s->rx, max, &idx);
	for (uint32_t i = 0; i < got; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&s->rx, idx + i);

		if (d->addr >= u->size || owner_of(u, d->addr) != LXSK_OWN_FILL)
			continue;
		u->state[frame_index(u, d->addr)] = LXSK_OWN_USER;
		frame_fill(u, &b->f[b->n++], d->addr, d->len, d->options);
		kept++;
	}
	if (got)
		xsk_ring_cons__release(&s->rx, got);
	return (int)kept;
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
	return lxsk_rx_take(s, b, max);
}
