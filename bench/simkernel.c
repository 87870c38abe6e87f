/* A kernel simulated inside the process (simkernel.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <valgrind/callgrind.h>
#include <x86intrin.h>

#include "error.h"
#include "simkernel.h"
#include "socket.h"

#define CACHELINE 64

/* One ring's memory as the kernel lays it out: each index on a cache line of
 * its own, then the descriptors. */
struct ring_mem {
	_Alignas(CACHELINE) uint32_t producer;
	_Alignas(CACHELINE) uint32_t consumer;
	uint32_t flags;
	_Alignas(CACHELINE) unsigned char desc[];
};

struct simk {
	struct simk_config c;
	uint64_t size, chunk_mask;
	struct ring_mem *fill, *comp, *rx, *tx;
	struct simk_rings user;                /* the program's ends, handed out by simk_rings */
	struct xsk_ring_cons kfill, ktx;       /* the kernel's ends */
	struct xsk_ring_prod kcomp, krx;
	uint64_t nrx, ntx, tx_invalid, steps, ticks;
	struct mark {
		uint64_t tsc, sim, pkts;
		bool first; /* opens a slice: no window ends here */
	} *marks;
	uint32_t nmarks;
	uint64_t clear_tsc, clear_ns;
};

#define MAX_MARKS (1u << 17)

static struct ring_mem *ring_mem_new(uint32_t size, size_t desc_size)
{
	size_t bytes = sizeof(struct ring_mem) + (size_t)size * desc_size;
	struct ring_mem *m = aligned_alloc(CACHELINE, (bytes + CACHELINE - 1) / CACHELINE * CACHELINE);

	if (m)
		memset(m, 0, bytes);
	return m;
}

/* The two ends of a ring, as libxdp sets them up: the producer's cached
 * consumer runs a ring's size ahead. */
static void ring_ends(struct ring_mem *m, uint32_t size, struct xsk_ring_prod *prod, struct xsk_ring_cons *cons)
{
	*prod = (struct xsk_ring_prod){
		.cached_cons = size,
		.mask = size - 1,
		.size = size,
		.producer = &m->producer,
		.consumer = &m->consumer,
		.ring = m->desc,
		.flags = &m->flags,
	};
	*cons = (struct xsk_ring_cons){
		.mask = size - 1,
		.size = size,
		.producer = &m->producer,
		.consumer = &m->consumer,
		.ring = m->desc,
		.flags = &m->flags,
	};
}

static bool pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

struct simk *simk_new(const struct simk_config *c)
{
	struct simk *k;

	if (!pow2(c->fill_size) || !pow2(c->comp_size) || (c->rx_size && !pow2(c->rx_size)) ||
	    (c->tx_size && !pow2(c->tx_size)) || !pow2(c->frame_size) || !c->frame_count || !c->budget ||
	    c->data_offset + c->pkt_len > c->frame_size || c->pkt_len < 42) {
		lxsk_fail(EINVAL, "simk: ring sizes and frame_size must be powers of two, packets of 42 bytes "
				  "or more must fit in a frame behind data_offset, budget at least 1");
		return NULL;
	}
	k = calloc(1, sizeof(*k));
	if (!k) {
		lxsk_fail(ENOMEM, "simk: out of memory");
		return NULL;
	}
	k->c = *c;
	k->size = (uint64_t)c->frame_count * c->frame_size;
	k->chunk_mask = ~(uint64_t)(c->frame_size - 1);
	k->fill = ring_mem_new(c->fill_size, sizeof(uint64_t));
	k->comp = ring_mem_new(c->comp_size, sizeof(uint64_t));
	k->rx = c->rx_size ? ring_mem_new(c->rx_size, sizeof(struct xdp_desc)) : NULL;
	k->tx = c->tx_size ? ring_mem_new(c->tx_size, sizeof(struct xdp_desc)) : NULL;
	k->marks = calloc(MAX_MARKS, sizeof(*k->marks));
	if (!k->fill || !k->comp || (c->rx_size && !k->rx) || (c->tx_size && !k->tx) || !k->marks) {
		simk_free(k);
		lxsk_fail(ENOMEM, "simk: out of memory for the rings");
		return NULL;
	}
	ring_ends(k->fill, c->fill_size, &k->user.fq, &k->kfill);
	ring_ends(k->comp, c->comp_size, &k->kcomp, &k->user.cq);
	if (k->rx)
		ring_ends(k->rx, c->rx_size, &k->krx, &k->user.rx);
	if (k->tx)
		ring_ends(k->tx, c->tx_size, &k->user.tx, &k->ktx);
	return k;
}

void simk_free(struct simk *k)
{
	if (!k)
		return;
	free(k->marks);
	free(k->tx);
	free(k->rx);
	free(k->comp);
	free(k->fill);
	free(k);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t ip_checksum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

void simk_load(struct simk *k, uint8_t *area)
{
	static const uint8_t dst[6] = { 0x02, 0, 0, 0, 0, 2 }, src[6] = { 0x02, 0, 0, 0, 0, 1 };
	uint32_t len = k->c.pkt_len;
	uint8_t pkt[len];

	memset(pkt, 0, len);
	memcpy(pkt, dst, 6);
	memcpy(pkt + 6, src, 6);
	put16(pkt + 12, 0x0800);
	pkt[14] = 0x45;
	put16(pkt + 16, (uint16_t)(len - 14));
	put16(pkt + 20, 0x4000);
	pkt[22] = 64;
	pkt[23] = 17;
	memcpy(pkt + 26, (const uint8_t[]){ 198, 18, 0, 1, 198, 18, 0, 2 }, 8);
	put16(pkt + 24, ip_checksum(pkt + 14, 20));
	put16(pkt + 34, 4096);
	put16(pkt + 36, 9);
	put16(pkt + 38, (uint16_t)(len - 34));
	for (uint32_t i = 42; i < len; i++)
		pkt[i] = (uint8_t)i;
	for (uint32_t f = 0; f < k->c.frame_count; f++)
		memcpy(area + (uint64_t)f * k->c.frame_size + k->c.data_offset, pkt, len);
}

/* Every function of the simulated kernel is named simk_*, static ones too:
 * bench/core-run leaves their instructions out by that name.
 *
 * Up to max entries from ring `from` that ring `to` has room for: their
 * indexes in both (*fi, *ti), both reserved; 0 when there are none. */
static uint32_t simk_take(struct xsk_ring_cons *from, struct xsk_ring_prod *to, uint32_t max, uint32_t *fi,
			  uint32_t *ti)
{
	uint32_t n = xsk_ring_cons__peek(from, max, fi), room;

	if (!n)
		return 0;
	room = xsk_prod_nb_free(to, n);
	if (room < n) {
		xsk_ring_cons__cancel(from, n - room);
		n = room;
	}
	if (!n || xsk_ring_prod__reserve(to, n, ti) != n) {
		xsk_ring_cons__cancel(from, n);
		return 0;
	}
	return n;
}

static void simk_give(struct xsk_ring_cons *from, struct xsk_ring_prod *to, uint32_t n)
{
	xsk_ring_prod__submit(to, n);
	xsk_ring_cons__release(from, n);
}

/* The step's loops keep what they need in locals: each descriptor store
 * may alias the struct, and would make the compiler reload its fields. */
static uint32_t simk_transmit(struct simk *k)
{
	uint32_t idx = 0, cidx = 0, n = simk_take(&k->ktx, &k->kcomp, k->c.tx_size, &idx, &cidx);
	const struct xdp_desc *const descs = k->ktx.ring;
	uint64_t *const comp = k->kcomp.ring;
	const uint64_t size = k->size, offmask = ~k->chunk_mask;
	const uint32_t tmask = k->ktx.mask, cmask = k->kcomp.mask, frame_size = k->c.frame_size;
	uint64_t bad = 0;

	for (uint32_t i = 0; i < n; i++) {
		const struct xdp_desc *d = &descs[(idx + i) & tmask];

		/* What the kernel refuses: outside the UMEM, empty, or running
		 * past the end of its frame. */
		bad += d->addr >= size || !d->len || (d->addr & offmask) + d->len > frame_size;
		comp[(cidx + i) & cmask] = d->addr;
	}
	simk_give(&k->ktx, &k->kcomp, n);
	k->tx_invalid += bad;
	k->ntx += n;
	return n;
}

static uint32_t simk_receive(struct simk *k)
{
	uint32_t idx = 0, ridx = 0, n = simk_take(&k->kfill, &k->krx, k->c.budget, &idx, &ridx);
	const uint64_t *const fill = k->kfill.ring;
	struct xdp_desc *const descs = k->krx.ring;
	const uint64_t chunk_mask = k->chunk_mask;
	const uint32_t fmask = k->kfill.mask, rmask = k->krx.mask, data_offset = k->c.data_offset,
		       len = k->c.pkt_len;

	for (uint32_t i = 0; i < n; i++) {
		struct xdp_desc *d = &descs[(ridx + i) & rmask];

		d->addr = (fill[(idx + i) & fmask] & chunk_mask) + data_offset;
		d->len = len;
		d->options = 0;
	}
	simk_give(&k->kfill, &k->krx, n);
	k->nrx += n;
	return n;
}

/* Everything on the TX ring goes out and completes at once, as far as the
 * completion ring has room; then up to a budget of fill-ring frames each
 * receive the packet, as far as the RX ring has room.  The time a step takes
 * is counted (TSC ticks), so that the loops' rates can leave it out. */
uint32_t simk_step(struct simk *k)
{
	uint64_t t0 = __rdtsc();
	uint32_t moved = 0;

	if (k->tx)
		moved += simk_transmit(k);
	if (k->rx)
		moved += simk_receive(k);
	k->steps++;
	k->ticks += __rdtsc() - t0;
	return moved;
}

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void simk_add_mark(struct simk *k, uint64_t pkts, bool opens_slice)
{
	if (k->nmarks < MAX_MARKS)
		k->marks[k->nmarks++] = (struct mark){ .tsc = __rdtsc(), .sim = k->ticks, .pkts = pkts, .first = opens_slice };
}

void simk_measure_clear(struct simk *k)
{
	k->nmarks = 0;
	k->clear_tsc = __rdtsc();
	k->clear_ns = monotonic_ns();
}

void simk_slice_begin(struct simk *k, uint64_t pkts)
{
	simk_add_mark(k, pkts, true);
}

void simk_mark(struct simk *k, uint64_t pkts)
{
	simk_add_mark(k, pkts, false);
}

void simk_slice_end(struct simk *k, uint64_t pkts)
{
	simk_add_mark(k, pkts, false);
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, uint32_t n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), by_value);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void simk_get_rates(struct simk *k, struct simk_rates *r)
{
	const uint64_t tsc = __rdtsc(), ns = monotonic_ns();
	double hz, *own = calloc(k->nmarks + 1, sizeof(*own)), *raw = calloc(k->nmarks + 1, sizeof(*raw));
	uint32_t n = 0;

	*r = (struct simk_rates){ 0 };
	if (own && raw && ns > k->clear_ns) {
		/* The TSC's rate, over everything since the marks were cleared. */
		hz = (double)(tsc - k->clear_tsc) * 1e9 / (double)(ns - k->clear_ns);
		for (uint32_t i = 1; i < k->nmarks; i++) {
			const struct mark *a = &k->marks[i - 1], *b = &k->marks[i];
			const double all = (double)(b->tsc - a->tsc), sim = (double)(b->sim - a->sim);

			if (b->first || b->pkts <= a->pkts || all <= sim)
				continue;
			own[n] = (double)(b->pkts - a->pkts) * hz / (all - sim);
			raw[n] = (double)(b->pkts - a->pkts) * hz / all;
			n++;
		}
		r->windows = n;
		r->pps = median(own, n);
		r->raw_pps = median(raw, n);
	}
	free(own);
	free(raw);
}

void simk_rings(const struct simk *k, struct simk_rings *r)
{
	*r = k->user;
}

void simk_get_config(const struct simk *k, struct simk_config *c)
{
	*c = k->c;
}

void simk_get_stats(const struct simk *k, struct simk_stats *st)
{
	*st = (struct simk_stats){
		.rx = k->nrx, .tx = k->ntx, .tx_invalid = k->tx_invalid, .steps = k->steps, .ticks = k->ticks,
	};
}

struct lxsk_umem *simk_umem_new(const struct lxsk_umem_opts *o)
{
	return umem_make(o);
}

struct lxsk_sock *simk_sock_new(struct simk *k, struct lxsk_umem *u, const struct lxsk_sock_opts *o)
{
	const struct frames *fr = &u->um->frames;
	struct sock_rings r = { .fq = k->user.fq, .cq = k->user.cq, .rx = k->user.rx, .tx = k->user.tx, .fd = -1 };

	if (umem_usable(u, "simk"))
		return NULL;

	if (fr->count != k->c.frame_count || fr->frame_size != k->c.frame_size ||
	    fr->data_offset != k->c.data_offset || u->um->fill_size != k->c.fill_size ||
	    u->um->comp_size != k->c.comp_size || o->rx_size != k->c.rx_size || o->tx_size != k->c.tx_size) {
		lxsk_fail(EINVAL, "simk: the UMEM and socket options must match the simulated kernel's geometry "
				  "and ring sizes");
		return NULL;
	}
	return sock_new_on_rings(u, o, &r);
}

void simk_callgrind(int on)
{
	if (on)
		CALLGRIND_START_INSTRUMENTATION;
	else
		CALLGRIND_STOP_INSTRUMENTATION;
}
