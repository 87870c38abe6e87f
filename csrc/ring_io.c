/* A socket's own rings: RX and TX, and the kicks and polls that move them
 * (ring.h).  Frames leave for the TX ring only through the frames layer's
 * claim; frames on the RX ring are checked against the fill ring's owner byte. */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include "error.h"
#include "ring_parts.h"

/* In copy mode the kernel transmits inside sendto, a budget (32 by default) at
 * a time; more kicks than this per call means the device is not draining. */
#define MAX_KICKS 64

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
		return ring_refused(p, b, done, rule, what);
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
		return ring_refused(p, b, done, rule, what);
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
