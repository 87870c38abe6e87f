/* The four rings (ring.h).  Every frame the script hands over passes the
 * frames layer's one claim; every frame the kernel hands back is checked
 * against the owner byte it was given with. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "error.h"
#include "ring.h"

/* In copy mode the kernel transmits inside sendto, a budget (32 by default) at
 * a time; more kicks than this per call means the device is not draining. */
#define MAX_KICKS 64
#define ALIVE_EVERY_NS 200000000ull
#define ALIVE_AFTER_IDLE 64

static struct claim_rule from_script(const struct port *p, uint32_t min_len, uint32_t bad_options)
{
	return (struct claim_rule){ p->user, min_len, bad_options };
}

/* Why frame i of b was refused, with the socket named. */
static int refused(const struct port *p, const struct lxsk_batch *b, uint32_t i, struct claim_rule r,
		   const char *what) __attribute__((cold, noinline));
static int refused(const struct port *p, const struct lxsk_batch *b, uint32_t i, struct claim_rule r,
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
		return refused(p, b, done, rule, what);
	}
	xsk_ring_prod__submit(fq, n);
	b->n = 0;
	return (int)n;
}

/* How many of the n ring slots from idx on lie before the ring's end: the
 * per-packet loops walk slots in at most two runs, this one and the rest from
 * the ring's start, instead of masking every index. */
static inline uint32_t run_length(uint32_t size, uint32_t mask, uint32_t idx, uint32_t n)
{
	uint32_t room = size - (idx & mask);

	return n < room ? n : room;
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

/* Descriptors of the packet that starts at ring index idx, looking at no more
 * than the n the ring holds; 0 when the packet is not complete yet. */
static uint32_t packet_descs(const struct xsk_ring_cons *rx, uint32_t idx, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (!(xsk_ring_cons__rx_desc(rx, idx + i)->options & XDP_PKT_CONTD))
			return i + 1;
	return 0;
}

/* A packet has more descriptors than the room left: taking part of it would
 * split it, leaving it would stall the ring, so say so. */
static int too_small(struct port *p, uint32_t room, const char *what) __attribute__((cold, noinline));
static int too_small(struct port *p, uint32_t room, const char *what)
{
	uint32_t idx = 0, avail, descs;

	avail = xsk_ring_cons__peek(&p->rx, p->rx.size, &idx);
	descs = packet_descs(&p->rx, idx, avail);
	if (avail)
		xsk_ring_cons__cancel(&p->rx, avail);
	if (descs)
		return lxsk_fail(EMSGSIZE,
				 PORT_FMT ": the next packet has %u descriptors (multi-buffer) but the batch has room "
					  "for only %u; use a batch (or max) of at least %u frames",
				 PORT_ARGS(what, p), descs, room, descs);
	return lxsk_fail(EMSGSIZE,
			 PORT_FMT ": the next packet has more than %u descriptors (multi-buffer) but the batch has "
				  "room for only %u; use a bigger batch",
			 PORT_ARGS(what, p), room, room);
}

/* Received frames from n RX descriptors at descs to the script's frame
 * entries at f (of batch b), skipping any the kernel was not given; returns
 * the next entry.  A skipped packet end still ends the packet. */
static inline struct lxsk_frame *rx_to_batch(const struct frames *m, const struct xdp_desc *descs, uint32_t n,
					     uint8_t on_fill, uint8_t user, struct lxsk_batch *b, struct lxsk_frame *f)
{
	for (const struct xdp_desc *d = descs, *end = descs + n; d < end; d++) {
		const uint64_t addr = d->addr;
		uint8_t *st = frame_from_kernel(m, addr, on_fill);

		if (__builtin_expect(!st, 0)) {
			if (!(d->options & XDP_PKT_CONTD) && f > &b->f[b->n])
				f[-1].options &= ~(uint32_t)XDP_PKT_CONTD;
			continue;
		}
		own_set(st, user);
		frame_fill(m, f++, addr, desc_len_options(d));
	}
	return f;
}

/* Takes whole packets only: the descriptors peeked after the last packet end
 * go back on the ring (cancel) and come with the rest of their packet later.
 * Without multi-buffer every descriptor ends a packet, so the backward scan
 * stops at once. */
int ring_receive(struct port *p, struct lxsk_batch *b, uint32_t max, const char *what)
{
	struct xsk_ring_cons *rx = &p->rx;
	uint32_t idx = 0, got, take, bn = b->n;

	got = xsk_ring_cons__peek(rx, max, &idx);
	take = got;
	while (take && (xsk_ring_cons__rx_desc(rx, idx + take - 1)->options & XDP_PKT_CONTD))
		take--;
	if (__builtin_expect(take != got, 0)) {
		xsk_ring_cons__cancel(rx, got - take);
		/* Nothing whole fits though the room is full: it never will. */
		if (!take && got == max)
			return too_small(p, max, what);
	}
	if (take) {
		const struct frames m = *p->frames;
		const struct xdp_desc *const descs = rx->ring;
		const uint32_t first = run_length(rx->size, rx->mask, idx, take);
		struct lxsk_frame *f = &b->f[bn];

		f = rx_to_batch(&m, descs + (idx & rx->mask), first, p->on_fill, p->user, b, f);
		f = rx_to_batch(&m, descs, take - first, p->on_fill, p->user, b, f);
		bn = (uint32_t)(f - b->f);
	}
	if (take)
		xsk_ring_cons__release(rx, take);
	{
		uint32_t kept = bn - b->n;

		b->n = bn;
		return (int)kept;
	}
}

/* Claims f[0..k) onto the TX descriptors reserved at idx, in at most two runs
 * (to the ring's end, then from its start); k, or the index refused (with
 * every mark undone). */
static uint32_t claim_tx(struct port *p, const struct lxsk_frame *f, uint32_t k, uint32_t idx,
			 struct claim_rule rule)
{
	uint32_t first = p->tx.size - (idx & p->tx.mask), done, rest;

	if (first > k)
		first = k;
	done = frames_claim(p->frames, f, first, rule, p->on_tx, SINK_DESC, xsk_ring_prod__tx_desc(&p->tx, idx));
	if (done < first || k == first)
		return done;
	rest = frames_claim(p->frames, f + first, k - first, rule, p->on_tx, SINK_DESC,
			    xsk_ring_prod__tx_desc(&p->tx, idx + first));
	if (rest < k - first)
		frames_unclaim(p->frames, f, first, p->user);
	return first + rest;
}

/* A batch for TX must end on a packet's last descriptor. */
static bool ends_mid_packet(const struct lxsk_batch *b)
{
	return b->n && (b->f[b->n - 1].options & XDP_PKT_CONTD);
}

static int mid_packet(const struct port *p, const struct lxsk_batch *b, const char *what)
	__attribute__((cold, noinline));
static int mid_packet(const struct port *p, const struct lxsk_batch *b, const char *what)
{
	return lxsk_fail(EINVAL,
			 PORT_FMT ": the batch ends in the middle of a packet: its last frame %u (addr 0x%llx) has "
				  "XDP_PKT_CONTD set; clear it on a packet's last frame",
			 PORT_ARGS(what, p), b->n - 1, (unsigned long long)b->f[b->n - 1].addr);
}

static int too_big(const struct port *p, const struct lxsk_batch *b, const char *what) __attribute__((cold, noinline));
static int too_big(const struct port *p, const struct lxsk_batch *b, const char *what)
{
	uint32_t descs = 1;

	while (descs < b->n && (b->f[descs - 1].options & XDP_PKT_CONTD))
		descs++;
	return lxsk_fail(EMSGSIZE,
			 PORT_FMT ": the first packet of the batch has %u descriptors, more than the TX ring's %u "
				  "entries",
			 PORT_ARGS(what, p), descs, p->tx.size);
}

int ring_transmit(struct port *p, struct lxsk_batch *b, uint32_t n, const char *what)
{
	struct claim_rule rule = from_script(p, 1, p->bad_options);
	uint32_t idx = 0, done;

	if (!n)
		return 0;
	if (ends_mid_packet(b))
		return mid_packet(p, b, what);
	if (xsk_ring_prod__reserve(&p->tx, n, &idx) != n)
		return 0;
	done = claim_tx(p, b->f, n, idx, rule);
	if (done < n) {
		p->tx.cached_prod -= n;
		return refused(p, b, done, rule, what);
	}
	xsk_ring_prod__submit(&p->tx, n);
	return (int)n;
}

int ring_transmit_some(struct port *p, struct lxsk_batch *b, bool drop_rest, const char *what)
{
	struct claim_rule rule = from_script(p, 1, p->bad_options);
	uint32_t n = b->n, idx = 0, k, done, last;

	if (ends_mid_packet(b))
		return mid_packet(p, b, what);
	k = xsk_prod_nb_free(&p->tx, n);
	if (k < n) {
		/* The kernel may only be waiting for a kick to make room. */
		int err = ring_drain(p, what);

		if (err)
			return err;
		ring_complete(p, NULL, p->comp_size);
		k = xsk_prod_nb_free(&p->tx, n);
	}
	if (k > n)
		k = n;
	/* A packet goes on the ring whole or not at all: stop after the last
	 * packet that fits (the batch's last frame always ends one). */
	while (k < n && k && (b->f[k - 1].options & XDP_PKT_CONTD))
		k--;
	if (!k && n && xsk_prod_nb_free(&p->tx, p->tx.size) == p->tx.size)
		return too_big(p, b, what); /* an empty ring cannot hold it: it never will */
	if (k && xsk_ring_prod__reserve(&p->tx, k, &idx) != k)
		k = 0;
	done = claim_tx(p, b->f, k, idx, rule);
	last = drop_rest ? n : k;
	if (done == k && last > k) {
		/* What does not fit goes back to the pool, checked as strictly,
		 * and marked as it goes so that a frame listed twice is caught. */
		uint32_t dropped = frames_claim(p->frames, b->f + k, last - k, rule,
						lxsk_owner_byte(LXSK_OWN_POOL, p->pool->tag), SINK_POOL, p->pool);

		if (dropped < last - k)
			frames_unclaim(p->frames, b->f, k, p->user);
		done = k + dropped;
	}
	if (done < last) {
		p->tx.cached_prod -= k;
		return refused(p, b, done, rule, what);
	}
	if (k)
		xsk_ring_prod__submit(&p->tx, k);
	return (int)k;
}

bool ring_tx_busy(const struct port *p)
{
	return *p->tx.consumer != *p->tx.producer;
}

uint32_t ring_tx_waiting(const struct port *p)
{
	return *p->tx.producer - *p->tx.consumer;
}

/* The kick's failures that are not errors: the device queue is full (the
 * rest goes with the next call), or a signal came. */
static int kick_error(struct port *p, int err, const char *what)
{
	switch (err) {
	case EAGAIN:
	case EBUSY:
	case ENOBUFS:
	case EINTR: return 0;
	case ENETDOWN: return lxsk_fail(err, PORT_FMT ": the interface is down", PORT_ARGS(what, p));
	case ENXIO: /* the kernel unbound the socket: its device was unregistered */
		return lxsk_fail(err, PORT_FMT ": the interface is gone", PORT_ARGS(what, p));
	}
	return lxsk_fail(err, PORT_FMT ": sendto failed", PORT_ARGS(what, p));
}

int ring_kick(struct port *p, const char *what)
{
	if (sendto(p->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0)
		return 0;
	return kick_error(p, errno, what);
}

/* Kicks until the kernel has taken everything on the TX ring, as copy mode
 * needs.  One kick sends at most the socket's TX budget (32 by default) and
 * then says EAGAIN: kick again as long as the kicks take descriptors.  EAGAIN
 * from a kick that took none means the device queue is full. */
int ring_drain(struct port *p, const char *what)
{
	for (int i = 0; i < MAX_KICKS && xsk_ring_prod__needs_wakeup(&p->tx) && ring_tx_busy(p); i++) {
		uint32_t taken = __atomic_load_n(p->tx.consumer, __ATOMIC_ACQUIRE);

		if (sendto(p->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0)
			continue;
		if (errno == EAGAIN && __atomic_load_n(p->tx.consumer, __ATOMIC_ACQUIRE) != taken)
			continue;
		return kick_error(p, errno, what);
	}
	return 0;
}

int ring_poll(struct port *p, int events, int timeout_ms, const char *what)
{
	struct pollfd pfd = {
		.fd = p->fd,
		.events = (short)(((events & LXSK_POLL_IN) ? POLLIN : 0) | ((events & LXSK_POLL_OUT) ? POLLOUT : 0)),
	};
	int n = poll(&pfd, 1, timeout_ms);

	if (n < 0) {
		if (errno == EINTR)
			return 0;
		return lxsk_fail(errno, PORT_FMT ": poll failed", PORT_ARGS(what, p));
	}
	if (pfd.revents & (POLLERR | POLLNVAL))
		return lxsk_fail(ENXIO, PORT_FMT ": socket error (interface gone?)", PORT_ARGS(what, p));
	return ((pfd.revents & POLLIN) ? LXSK_POLL_IN : 0) | ((pfd.revents & POLLOUT) ? LXSK_POLL_OUT : 0);
}

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The kernel unbinds a socket whose interface is unregistered (deleted, or
 * moved out of the namespace, as deleting the namespace does) and from then
 * on answers recvfrom with ENXIO, whatever the namespace of the caller.  Its
 * poll(2) says nothing, so ask. */
int ring_probe_alive(struct port *p, const char *what)
{
	p->probed_ns = now_ns(CLOCK_MONOTONIC_COARSE);
	if (recvfrom(p->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL) < 0 && errno == ENXIO)
		return lxsk_fail(ENXIO, PORT_FMT ": the interface is gone (deleted, or its namespace was)",
				 PORT_ARGS(what, p));
	return 0;
}

int ring_check_alive(struct port *p, const char *what)
{
	if (++p->idle % ALIVE_AFTER_IDLE)
		return 0;
	if (now_ns(CLOCK_MONOTONIC_COARSE) - p->probed_ns < ALIVE_EVERY_NS)
		return 0;
	return ring_probe_alive(p, what);
}

uint32_t ring_return_on_close(struct port *p)
{
	const struct frames m = *p->frames;
	uint32_t n = 0;

	/* In copy mode the kernel takes TX descriptors only inside our own
	 * sendto and poll calls, so the ones it has not taken never will be.
	 * A zero-copy driver takes them on its own; those frames come home when
	 * the pair's last socket closes. */
	if (p->has_tx && !p->zerocopy) {
		for (uint32_t i = *p->tx.consumer; i != *p->tx.producer; i++) {
			uint64_t addr = xsk_ring_prod__tx_desc(&p->tx, i)->addr;

			if (frame_from_kernel(&m, addr, p->on_tx)) {
				pool_put(p->pool, &m, addr);
				n++;
			}
		}
	}
	/* What the kernel produced on the RX ring it will not touch again. */
	if (p->has_rx) {
		uint32_t prod = __atomic_load_n(p->rx.producer, __ATOMIC_ACQUIRE);

		for (uint32_t i = p->rx.cached_cons; i != prod; i++) {
			uint64_t addr = xsk_ring_cons__rx_desc(&p->rx, i)->addr;

			if (frame_from_kernel(&m, addr, p->on_fill)) {
				pool_put(p->pool, &m, addr);
				n++;
			}
		}
	}
	return n;
}

bool ring_fill_needs_wakeup(const struct port *p)
{
	return xsk_ring_prod__needs_wakeup(&p->pair->fq);
}

bool ring_tx_needs_wakeup(const struct port *p)
{
	return p->has_tx && xsk_ring_prod__needs_wakeup(&p->tx);
}

static void prod_state(const struct xsk_ring_prod *r, struct lxsk_ring_state *st)
{
	st->present = 1;
	st->size = r->size;
	st->entries = *r->producer - *r->consumer;
	st->needs_wakeup = r->flags ? (*r->flags & XDP_RING_NEED_WAKEUP) != 0 : 0;
}

static void cons_state(const struct xsk_ring_cons *r, struct lxsk_ring_state *st)
{
	st->present = 1;
	st->size = r->size;
	st->entries = *r->producer - *r->consumer;
	st->needs_wakeup = r->flags ? (*r->flags & XDP_RING_NEED_WAKEUP) != 0 : 0;
}

void ring_state(const struct port *p, int ring, struct lxsk_ring_state *st)
{
	memset(st, 0, sizeof(*st));
	switch (ring) {
	case LXSK_RING_FILL: prod_state(&p->pair->fq, st); break;
	case LXSK_RING_COMP: cons_state(&p->pair->cq, st); break;
	case LXSK_RING_RX:
		if (p->has_rx)
			cons_state(&p->rx, st);
		break;
	case LXSK_RING_TX:
		if (p->has_tx)
			prod_state(&p->tx, st);
		break;
	}
}

/* The index the other side moves is read once, with acquire, before the
 * slots: a slot between the consumer and the producer is not written again
 * until the consumer has passed it, so each entry read is whole. */
static uint32_t copy_addrs(const uint64_t *ring, uint32_t mask, uint32_t cons, uint32_t prod,
			   struct lxsk_ring_entry *out, uint32_t max)
{
	uint32_t n = prod - cons;

	for (uint32_t i = 0; i < n && i < max; i++)
		out[i] = (struct lxsk_ring_entry){ .addr = ring[(cons + i) & mask] };
	return n;
}

static uint32_t copy_descs(const struct xdp_desc *ring, uint32_t mask, uint32_t cons, uint32_t prod,
			   struct lxsk_ring_entry *out, uint32_t max)
{
	uint32_t n = prod - cons;

	for (uint32_t i = 0; i < n && i < max; i++) {
		const struct xdp_desc *d = &ring[(cons + i) & mask];

		out[i] = (struct lxsk_ring_entry){ .addr = d->addr, .len = d->len, .options = d->options };
	}
	return n;
}

uint32_t ring_entries(const struct port *p, int ring, struct lxsk_ring_entry *out, uint32_t max, uint32_t *consumer)
{
	uint32_t cons = 0, n = 0;

	switch (ring) {
	case LXSK_RING_FILL: {
		const struct xsk_ring_prod *r = &p->pair->fq;

		cons = __atomic_load_n(r->consumer, __ATOMIC_ACQUIRE);
		n = copy_addrs(r->ring, r->mask, cons, *r->producer, out, max);
		break;
	}
	case LXSK_RING_COMP: {
		const struct xsk_ring_cons *r = &p->pair->cq;
		uint32_t prod = __atomic_load_n(r->producer, __ATOMIC_ACQUIRE);

		cons = *r->consumer;
		n = copy_addrs(r->ring, r->mask, cons, prod, out, max);
		break;
	}
	case LXSK_RING_RX: {
		uint32_t prod = __atomic_load_n(p->rx.producer, __ATOMIC_ACQUIRE);

		cons = *p->rx.consumer;
		n = copy_descs(p->rx.ring, p->rx.mask, cons, prod, out, max);
		break;
	}
	case LXSK_RING_TX:
		cons = __atomic_load_n(p->tx.consumer, __ATOMIC_ACQUIRE);
		n = copy_descs(p->tx.ring, p->tx.mask, cons, *p->tx.producer, out, max);
		break;
	}
	if (consumer)
		*consumer = cons;
	return n;
}
