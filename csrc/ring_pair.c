/* The rings a socket shares with the other sockets of its interface queue:
 * fill and completion (ring.h).  Every frame the script hands over passes
 * the frames layer's one claim; every frame the kernel hands back is checked
 * against the owner byte it was given with. */
#include <stdio.h>

#include "ring_parts.h"

int ring_refused(const struct port *p, const struct lxsk_batch *b, uint32_t i, struct claim_rule r,
		 const char *what)
{
	char where[64];

	snprintf(where, sizeof(where), PORT_FMT, PORT_ARGS(what, p));
	return frames_refusal(p->frames, b, i, r, where);
}

int ring_fill(struct port *p, struct lxsk_batch *b, const char *what)
{
	struct xsk_ring_prod *fq = &p->pair->fq;
	struct claim_rule rule = from_script(p, 0, 0);
	uint32_t n = b->n, idx = 0, first, done;

	if (!n)
		return 0;
	if (xsk_ring_prod__reserve(fq, n, &idx) != n)
		return 0;
	/* The slots from idx on, in at most two runs: to the ring's end, then
	 * from its start. */
	first = fq->size - (idx & fq->mask);
	if (first > n)
		first = n;
	done = frames_claim(p->frames, b->f, first, rule, p->on_fill, SINK_ADDR, xsk_ring_prod__fill_addr(fq, idx));
	if (done == first && n > first) {
		uint32_t rest = frames_claim(p->frames, b->f + first, n - first, rule, p->on_fill, SINK_ADDR,
					     xsk_ring_prod__fill_addr(fq, idx + first));

		if (rest < n - first)
			frames_unclaim(p->frames, b->f, first, p->user);
		done = first + rest;
	}
	if (done < n) {
		fq->cached_prod -= n;
		return ring_refused(p, b, done, rule, what);
	}
	xsk_ring_prod__submit(fq, n);
	b->n = 0;
	return (int)n;
}

/* n chunks from the top of a pool's stack to the fill ring slots at ring,
 * as on_fill; returns the new top. */
static inline const uint64_t *pool_to_ring(const struct frames *m, const uint64_t *top, uint64_t *ring, uint32_t n,
					   uint8_t on_fill)
{
	uint8_t *const state = m->state;
	const uint32_t shift = m->shift;

	for (uint32_t i = 0; i < n; i++) {
		const uint64_t chunk = *--top;

		own_set(&state[chunk >> shift], on_fill);
		ring[i] = chunk;
	}
	return top;
}

/* How many frames the fill ring lacks to hold fill_target: auto-fill keeps
 * no more there, so a socket that also transmits can still allocate.  None
 * when no socket of the pair has an RX ring. */
static uint32_t fill_wanted(const struct port *p)
{
	const struct xsk_ring_prod *fq = &p->pair->fq;
	uint32_t on_ring;

	if (!p->pair->rx_refs)
		return 0;
	on_ring = *fq->producer - __atomic_load_n(fq->consumer, __ATOMIC_ACQUIRE);
	return on_ring < p->fill_target ? p->fill_target - on_ring : 0;
}

bool ring_fill_low(const struct port *p)
{
	return fill_wanted(p) > p->fill_target / 2;
}

int ring_release(struct port *p, struct lxsk_batch *b, const char *what)
{
	struct xsk_ring_prod *fq = &p->pair->fq;
	struct claim_rule rule = from_script(p, 0, 0);
	uint32_t n = b->n, k = fill_wanted(p), idx = 0, first, done, rest;

	if (k > n)
		k = n;
	if (k && xsk_ring_prod__reserve(fq, k, &idx) != k)
		k = 0;
	first = run_length(fq->size, fq->mask, idx, k);
	done = frames_claim(p->frames, b->f, first, rule, p->on_fill, SINK_ADDR, xsk_ring_prod__fill_addr(fq, idx));
	if (done == first && k > first) {
		rest = frames_claim(p->frames, b->f + first, k - first, rule, p->on_fill, SINK_ADDR,
				    xsk_ring_prod__fill_addr(fq, idx + first));
		if (rest < k - first)
			frames_unclaim(p->frames, b->f, first, p->user);
		done = first + rest;
	}
	if (done == k && n > k) {
		rest = frames_claim(p->frames, b->f + k, n - k, rule, lxsk_owner_byte(LXSK_OWN_POOL, p->pool->tag),
				    SINK_POOL, p->pool);
		if (rest < n - k)
			frames_unclaim(p->frames, b->f, k, p->user);
		done = k + rest;
	}
	if (done < n) {
		fq->cached_prod -= k;
		return frames_refusal(p->frames, b, done, rule, what);
	}
	if (k)
		xsk_ring_prod__submit(fq, k);
	b->n = 0;
	return (int)n;
}

uint32_t ring_refill(struct port *p)
{
	struct xsk_ring_prod *fq = &p->pair->fq;
	struct pool *pool = p->pool;
	const struct frames m = *p->frames;
	uint32_t n = fill_wanted(p), idx = 0;

	if (n > pool->count)
		n = pool->count;
	if (!n || xsk_ring_prod__reserve(fq, n, &idx) != n)
		return 0;
	{
		uint64_t *const ring = fq->ring;
		const uint64_t *top = pool->stack + pool->count;
		const uint32_t first = run_length(fq->size, fq->mask, idx, n);

		top = pool_to_ring(&m, top, ring + (idx & fq->mask), first, p->on_fill);
		top = pool_to_ring(&m, top, ring, n - first, p->on_fill);
		pool->count -= n;
	}
	xsk_ring_prod__submit(fq, n);
	return n;
}

/* Completed TX frames from n completion ring slots at addrs to the pool's
 * stack at top (as free_byte), skipping any the kernel was not given;
 * returns the new top.  Every field the loops need is in a local first: each
 * store to an owner byte may alias anything. */
static inline uint64_t *comp_to_pool(const struct frames *m, const uint64_t *addrs, uint32_t n, uint8_t on_tx,
				     uint8_t free_byte, uint64_t *top)
{
	const uint64_t chunk_mask = m->chunk_mask;

	for (const uint64_t *end = addrs + n; addrs < end; addrs++) {
		const uint64_t addr = *addrs;
		uint8_t *st = frame_from_kernel(m, addr, on_tx);

		if (__builtin_expect(!st, 0))
			continue;
		own_set(st, free_byte);
		*top++ = addr & chunk_mask;
	}
	return top;
}

/* The same, to the script's frame entries at f; returns the next entry. */
static inline struct lxsk_frame *comp_to_batch(const struct frames *m, const uint64_t *addrs, uint32_t n,
					       uint8_t on_tx, uint8_t user, struct lxsk_frame *f)
{
	for (const uint64_t *end = addrs + n; addrs < end; addrs++) {
		const uint64_t addr = *addrs;
		uint8_t *st = frame_from_kernel(m, addr, on_tx);

		if (__builtin_expect(!st, 0))
			continue;
		own_set(st, user);
		frame_fill(m, f++, addr, 0);
	}
	return f;
}

/* The same, to fresh entries at f (as pool_alloc makes them). */
static inline struct lxsk_frame *comp_to_fresh(const struct frames *m, const uint64_t *addrs, uint32_t n,
					       uint8_t on_tx, uint8_t user, const struct fresh_entry *fresh,
					       struct lxsk_frame *f)
{
	const uint64_t chunk_mask = m->chunk_mask;

	for (const uint64_t *end = addrs + n; addrs < end; addrs++) {
		const uint64_t addr = *addrs;
		uint8_t *st = frame_from_kernel(m, addr, on_tx);

		if (__builtin_expect(!st, 0))
			continue;
		own_set(st, user);
		frame_fill_fresh(f++, fresh, addr & chunk_mask);
	}
	return f;
}

uint32_t ring_alloc_completed(struct port *p, struct lxsk_batch *b, uint32_t max, uint32_t len)
{
	struct xsk_ring_cons *cq = &p->pair->cq;
	uint32_t idx = 0, got = xsk_ring_cons__peek(cq, max, &idx), first;
	const uint64_t *const ring = cq->ring;
	const struct frames m = *p->frames;
	const struct fresh_entry fresh = frames_fresh_entry(&m, len);
	struct lxsk_frame *const f = &b->f[b->n];
	struct lxsk_frame *g;

	if (!got)
		return 0;
	first = run_length(cq->size, cq->mask, idx, got);
	g = comp_to_fresh(&m, ring + (idx & cq->mask), first, p->on_tx, p->user, &fresh, f);
	g = comp_to_fresh(&m, ring, got - first, p->on_tx, p->user, &fresh, g);
	b->n += (uint32_t)(g - f);
	xsk_ring_cons__release(cq, got);
	return (uint32_t)(g - f);
}

uint32_t ring_complete(struct port *p, struct lxsk_batch *b, uint32_t max)
{
	struct xsk_ring_cons *cq = &p->pair->cq;
	uint32_t idx = 0, got = xsk_ring_cons__peek(cq, max, &idx), first, kept;
	const uint64_t *const ring = cq->ring;
	const struct frames m = *p->frames;

	if (!got)
		return 0;
	first = run_length(cq->size, cq->mask, idx, got);
	if (!b) {
		struct pool *pool = p->pool;
		const uint8_t free_byte = lxsk_owner_byte(LXSK_OWN_POOL, pool->tag);
		uint64_t *const top = pool->stack + pool->count;
		uint64_t *t;

		t = comp_to_pool(&m, ring + (idx & cq->mask), first, p->on_tx, free_byte, top);
		t = comp_to_pool(&m, ring, got - first, p->on_tx, free_byte, t);
		kept = (uint32_t)(t - top);
		pool->count += kept;
	} else {
		struct lxsk_frame *const f = &b->f[b->n];
		struct lxsk_frame *g;

		g = comp_to_batch(&m, ring + (idx & cq->mask), first, p->on_tx, p->user, f);
		g = comp_to_batch(&m, ring, got - first, p->on_tx, p->user, g);
		kept = (uint32_t)(g - f);
		b->n += kept;
	}
	xsk_ring_cons__release(cq, got);
	return kept;
}

/* Completed TX frames from n completion ring slots at addrs straight to the
 * fill ring's slots from index at on (as on_fill), skipping any the kernel
 * was not given; returns how many went. */
static inline uint32_t comp_to_fill(const struct frames *m, const uint64_t *addrs, uint32_t n, uint8_t on_tx,
				    uint8_t on_fill, uint64_t *fill, uint32_t mask, uint32_t at)
{
	const uint64_t chunk_mask = m->chunk_mask;
	uint32_t put = 0;

	for (const uint64_t *end = addrs + n; addrs < end; addrs++) {
		const uint64_t addr = *addrs;
		uint8_t *st = frame_from_kernel(m, addr, on_tx);

		if (__builtin_expect(!st, 0))
			continue;
		own_set(st, on_fill);
		fill[(at + put++) & mask] = addr & chunk_mask;
	}
	return put;
}

uint32_t ring_recycle_to_fill(struct port *p)
{
	struct xsk_ring_cons *cq = &p->pair->cq;
	struct xsk_ring_prod *fq = &p->pair->fq;
	const struct frames m = *p->frames;
	const uint64_t *const ring = cq->ring;
	uint32_t want = fill_wanted(p), idx = 0, at = 0, got, first, put;

	if (!want || !(got = xsk_ring_cons__peek(cq, want, &idx)))
		return 0;
	/* fill_target is at most the fill ring's size: the room is there. */
	if (xsk_ring_prod__reserve(fq, got, &at) != got) {
		xsk_ring_cons__cancel(cq, got);
		return 0;
	}
	first = run_length(cq->size, cq->mask, idx, got);
	put = comp_to_fill(&m, ring + (idx & cq->mask), first, p->on_tx, p->on_fill, fq->ring, fq->mask, at);
	put += comp_to_fill(&m, ring, got - first, p->on_tx, p->on_fill, fq->ring, fq->mask, at + put);
	/* The slots of frames skipped were never written. */
	fq->cached_prod -= got - put;
	xsk_ring_prod__submit(fq, put);
	xsk_ring_cons__release(cq, got);
	return put;
}
