/* Watching a socket's rings (ring.h): whether the kernel still has the
 * socket bound, what goes back to the pool when it closes, and what the rings
 * hold, read back for specs and scripts. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "error.h"
#include "ring.h"

#define ALIVE_EVERY_NS 200000000ull
#define ALIVE_AFTER_IDLE 64

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
