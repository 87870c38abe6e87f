/* The bare C loop (bare_loop.h).  The ring work is bench/xdpsock_c.c's with
 * the syscalls left out: the simulated rings never ask for a wakeup, and a
 * request would only be counted. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bare_loop.h"

#define MARK_EVERY 256 /* iterations, as in bench/core_bench.lua */

struct bare_loop {
	struct simk *k;
	struct simk_rings r;
	struct simk_config cfg;
	uint8_t *area;
	size_t area_size;
	uint64_t *stack; /* free frames */
	uint32_t nfree;
};

struct bare_loop *bare_new(struct simk *k)
{
	struct bare_loop *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->k = k;
	simk_rings(k, &c->r);
	simk_get_config(k, &c->cfg);
	c->area_size = (size_t)c->cfg.frame_count * c->cfg.frame_size;
	c->area = mmap(NULL, c->area_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	c->stack = calloc(c->cfg.frame_count, sizeof(*c->stack));
	if (c->area == MAP_FAILED || !c->stack) {
		if (c->area == MAP_FAILED)
			c->area = NULL;
		bare_free(c);
		return NULL;
	}
	simk_load(k, c->area);
	for (uint32_t i = 0; i < c->cfg.frame_count; i++)
		c->stack[i] = (uint64_t)(c->cfg.frame_count - 1 - i) * c->cfg.frame_size;
	c->nfree = c->cfg.frame_count;
	return c;
}

void bare_free(struct bare_loop *c)
{
	if (!c)
		return;
	free(c->stack);
	if (c->area)
		munmap(c->area, c->area_size);
	free(c);
}

static inline uint64_t chunk_base(const struct bare_loop *c, uint64_t addr)
{
	return addr & ~((uint64_t)c->cfg.frame_size - 1);
}

/* Every free frame on the fill ring that fits. */
static inline void refill(struct bare_loop *c)
{
	uint32_t n = c->nfree, room, idx = 0;

	if (!n)
		return;
	room = xsk_prod_nb_free(&c->r.fq, n);
	if (room < n)
		n = room;
	if (!n || xsk_ring_prod__reserve(&c->r.fq, n, &idx) != n)
		return;
	for (uint32_t i = 0; i < n; i++)
		*xsk_ring_prod__fill_addr(&c->r.fq, idx + i) = c->stack[--c->nfree];
	xsk_ring_prod__submit(&c->r.fq, n);
}

/* Completed TX frames back to the free stack. */
static inline uint32_t complete(struct bare_loop *c)
{
	uint32_t idx = 0, n = xsk_ring_cons__peek(&c->r.cq, c->cfg.frame_count, &idx);

	for (uint32_t i = 0; i < n; i++)
		c->stack[c->nfree++] = chunk_base(c, *xsk_ring_cons__comp_addr(&c->r.cq, idx + i));
	if (n)
		xsk_ring_cons__release(&c->r.cq, n);
	return n;
}

static inline uint32_t tx_pending(struct bare_loop *c)
{
	return c->r.tx.size - xsk_prod_nb_free(&c->r.tx, c->r.tx.size);
}

/* Where xdpsock_c kicks with sendto. */
static inline void kick_tx(struct bare_loop *c, struct bare_result *r)
{
	if (xsk_ring_prod__needs_wakeup(&c->r.tx) && tx_pending(c))
		r->wakeups++;
}

static inline void swap_macs(uint8_t *p)
{
	uint8_t t[6];

	memcpy(t, p, 6);
	memcpy(p, p + 6, 6);
	memcpy(p + 6, t, 6);
}

static void rx_loop(struct bare_loop *c, int mode, uint32_t batch, uint64_t count, struct bare_result *r)
{
	uint8_t *area = c->area;

	while (r->pkts < count) {
		uint32_t idx = 0, n;

		if (++r->iters % MARK_EVERY == 0)
			simk_mark(c->k, r->pkts);
		if (mode == SIMK_L2FWD) {
			complete(c);
			kick_tx(c, r);
		}
		refill(c);
		n = xsk_ring_cons__peek(&c->r.rx, batch, &idx);
		if (!n) {
			if (xsk_ring_prod__needs_wakeup(&c->r.fq))
				r->wakeups++;
			simk_step(c->k);
			continue;
		}
		if (mode == SIMK_RXDROP) {
			for (uint32_t i = 0; i < n; i++)
				c->stack[c->nfree++] = chunk_base(c, xsk_ring_cons__rx_desc(&c->r.rx, idx + i)->addr);
		} else if (mode == SIMK_TOUCH) {
			for (uint32_t i = 0; i < n; i++) {
				const struct xdp_desc *d = xsk_ring_cons__rx_desc(&c->r.rx, idx + i);
				uint8_t *p = xsk_umem__get_data(area, d->addr);

				swap_macs(p);
				if (d->len >= 42 && p[12] == 0x08 && p[13] == 0x00 && p[23] == 17) {
					uint32_t l4 = 14 + (uint32_t)(p[14] & 0x0f) * 4;

					if (d->len >= l4 + 8) {
						r->dport_sum += (uint32_t)p[l4 + 2] << 8 | p[l4 + 3];
						r->udp++;
					}
				}
				c->stack[c->nfree++] = chunk_base(c, d->addr);
			}
		} else { /* l2fwd: forward what fits in the TX ring, drop the rest */
			uint32_t room = xsk_prod_nb_free(&c->r.tx, n), m = n < room ? n : room, tidx = 0;

			if (m && xsk_ring_prod__reserve(&c->r.tx, m, &tidx) != m)
				m = 0;
			for (uint32_t i = 0; i < n; i++) {
				const struct xdp_desc *d = xsk_ring_cons__rx_desc(&c->r.rx, idx + i);

				if (i < m) {
					struct xdp_desc *td = xsk_ring_prod__tx_desc(&c->r.tx, tidx + i);

					swap_macs(xsk_umem__get_data(area, d->addr));
					td->addr = d->addr;
					td->len = d->len;
					td->options = 0;
				} else {
					c->stack[c->nfree++] = chunk_base(c, d->addr);
				}
			}
			if (m)
				xsk_ring_prod__submit(&c->r.tx, m);
			r->tx += m;
			r->dropped += n - m;
		}
		xsk_ring_cons__release(&c->r.rx, n);
		if (mode == SIMK_L2FWD)
			kick_tx(c, r);
		r->pkts += n;
		simk_step(c->k);
	}
}

static void tx_loop(struct bare_loop *c, uint32_t batch, uint32_t pkt_len, uint64_t count, struct bare_result *r)
{
	const uint32_t data_offset = c->cfg.data_offset;

	while (r->pkts < count) {
		uint32_t idx = 0, n;

		if (++r->iters % MARK_EVERY == 0)
			simk_mark(c->k, r->pkts);
		complete(c);
		n = batch < c->nfree ? batch : c->nfree;
		if (count - r->pkts < n)
			n = (uint32_t)(count - r->pkts);
		if (n) {
			uint32_t room = xsk_prod_nb_free(&c->r.tx, n);

			n = n < room ? n : room;
		}
		if (n && xsk_ring_prod__reserve(&c->r.tx, n, &idx) == n) {
			for (uint32_t i = 0; i < n; i++) {
				struct xdp_desc *d = xsk_ring_prod__tx_desc(&c->r.tx, idx + i);

				d->addr = c->stack[--c->nfree] + data_offset;
				d->len = pkt_len;
				d->options = 0;
			}
			xsk_ring_prod__submit(&c->r.tx, n);
			r->pkts += n;
			r->tx += n;
		}
		kick_tx(c, r);
		simk_step(c->k);
	}
}

void bare_run(struct bare_loop *c, int mode, uint32_t batch, uint32_t pkt_len, uint64_t count,
	      struct bare_result *r)
{
	if (mode == SIMK_TXONLY)
		tx_loop(c, batch, pkt_len, count, r);
	else
		rx_loop(c, mode, batch, count, r);
}
