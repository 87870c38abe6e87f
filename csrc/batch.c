/* The hot path: one FFI call per burst.  Receiving tops up the fill ring from
 * the pool, sending recycles completions into it, so scripts only ever see
 * batches of frames they own. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "internal.h"

/* In copy mode the kernel transmits inside sendto, a budget (32 by default) at
 * a time; more kicks than this per burst means the device is not draining. */
#define MAX_KICKS 64
#define WAIT_SLICE_MS 100

int lxsk_refill(struct lxsk_sock *s)
{
	struct lxsk_umem *u = s->umem;
	struct xsk_ring_prod *fq = &s->pair->fq;
	uint32_t n, idx = 0;
	uint8_t state = (uint8_t)(LXSK_OWN_FILL | s->pair_tag);

	if (s->closed || !s->pair->rx_refs)
		return 0;
	/* Keep at most half of the UMEM on the fill ring, so a socket that also
	 * transmits can still allocate frames. */
	n = u->fill_target - (*fq->producer - __atomic_load_n(fq->consumer, __ATOMIC_ACQUIRE));
	if (n > u->fill_target)
		return 0;
	if (n > u->pool_count)
		n = u->pool_count;
	if (!n || xsk_ring_prod__reserve(fq, n, &idx) != n)
		return 0;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t chunk = u->pool[--u->pool_count];

		u->state[frame_index(u, chunk)] = state;
		*xsk_ring_prod__fill_addr(fq, idx + i) = chunk;
	}
	xsk_ring_prod__submit(fq, n);
	return (int)n;
}

int lxsk_recycle(struct lxsk_sock *s)
{
	if (s->closed)
		return 0;
	return lxsk_comp_take(s, NULL, s->umem->comp_size, 1);
}

int lxsk_recv(struct lxsk_sock *s, struct lxsk_batch *b, int timeout_ms)
{
	uint32_t room;
	int got;

	if (batch_bad(b))
		return lxsk_batch_error(b, "recv");
	room = b->cap - b->n;
	if (s->closed || !s->has_rx)
		return s->closed ? lxsk_sock_usable(s, "recv")
				 : lxsk_fail(EINVAL, "recv on %s queue %u: the socket has no RX ring", s->ifname,
					     s->queue);
	/* A socket that forwards gets its frames back through the completion
	 * ring: recycle them before refilling, as every loop of l2fwd must. */
	if (s->has_tx)
		lxsk_comp_take(s, NULL, s->umem->comp_size, 1);
	if (s->auto_fill)
		lxsk_refill(s);
	got = lxsk_rx_take(s, b, room, "recv");
	if (got || !room)
		return got;
	/* Wait in slices: the kernel does not wake a poller when the interface
	 * goes away, so between slices check that it is still there. */
	for (int left = timeout_ms; left;) {
		int slice = (left < 0 || left > WAIT_SLICE_MS) ? WAIT_SLICE_MS : left;
		int r = lxsk_poll(s, 1, slice);
		char name[IF_NAMESIZE];

		if (r < 0)
			return r;
		if (s->auto_fill)
			lxsk_refill(s);
		got = lxsk_rx_take(s, b, room, "recv");
		if (got)
			return got;
		if (!if_indextoname((unsigned)s->ifindex, name))
			return lxsk_fail(ENXIO, "recv on %s queue %u: the interface is gone", s->ifname, s->queue);
		if (left > 0)
			left -= slice;
	}
	if (timeout_ms)
		return 0;
	if (xsk_ring_prod__needs_wakeup(&s->pair->fq))
		recvfrom(s->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
	return 0;
}

static bool tx_busy(const struct lxsk_sock *s)
{
	return *s->tx.consumer != *s->tx.producer;
}

/* Kicks until the kernel has taken everything on the TX ring, as copy mode
 * needs; a kick that fails for good is reported.  In copy mode one kick sends
 * at most the socket's TX budget (32 by default) and then says EAGAIN: kick
 * again as long as the kicks take descriptors.  EAGAIN from a kick that took
 * none means the device queue is full: the rest goes with the next call. */
static int drain_tx(struct lxsk_sock *s)
{
	for (int i = 0; i < MAX_KICKS && xsk_ring_prod__needs_wakeup(&s->tx) && tx_busy(s); i++) {
		uint32_t taken = __atomic_load_n(s->tx.consumer, __ATOMIC_ACQUIRE);

		if (sendto(s->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0)
			continue;
		switch (errno) {
		case EAGAIN:
			if (__atomic_load_n(s->tx.consumer, __ATOMIC_ACQUIRE) != taken)
				continue;
			return 0;
		case EBUSY:
		case ENOBUFS:
		case EINTR: return 0;
		case ENETDOWN:
			return lxsk_fail(errno, "send on %s queue %u: the interface is down", s->ifname, s->queue);
		case ENXIO: /* the kernel unbound the socket: its device was unregistered */
			return lxsk_fail(errno, "send on %s queue %u: the interface is gone", s->ifname, s->queue);
		}
		return lxsk_fail(errno, "send on %s queue %u: sendto failed", s->ifname, s->queue);
	}
	return 0;
}

/* Checks frames f[0..n) and puts them on the descriptors d[0..n), which do
 * not wrap around the ring; returns how many it put before a bad one.  The
 * per-packet loop of send and forward: the map is copied into locals, as the
 * owner byte stores would otherwise force the compiler to reload it. */
static uint32_t tx_put_run(const struct frame_map *map, const struct lxsk_frame *f, struct xdp_desc *d, uint32_t n,
			   uint32_t contd_bad, uint8_t owner)
{
	const struct frame_map m = *map;

	for (uint32_t i = 0; i < n; i++) {
		if (__builtin_expect(!fm_tx_frame(&m, &f[i], contd_bad), 0))
			return i;
		*fm_state(&m, f[i].addr) = owner;
		d[i].addr = f[i].addr;
		d[i].len = f[i].len;
		d[i].options = f[i].options;
	}
	return n;
}

/* The same check for frames that forward drops: they go to the pool. */
static uint32_t tx_drop_run(const struct frame_map *map, const struct lxsk_frame *f, uint32_t n, uint32_t contd_bad)
{
	const struct frame_map m = *map;

	for (uint32_t i = 0; i < n; i++) {
		if (!fm_tx_frame(&m, &f[i], contd_bad))
			return i;
		*fm_state(&m, f[i].addr) = LXSK_OWN_POOL;
	}
	return n;
}

/* Puts as many frames as fit on the TX ring; returns how many.  With
 * drop_rest (forward), the frames that do not fit go back to the pool, so
 * every frame of the batch is checked, not only those that fit; a bad frame
 * anywhere leaves the whole batch as it was. */
static int push_tx(struct lxsk_sock *s, struct lxsk_batch *b, const char *what, bool drop_rest)
{
	struct lxsk_umem *u = s->umem;
	uint8_t state = (uint8_t)(LXSK_OWN_TX | s->pair_tag);
	uint32_t n = b->n, idx = 0, k, last, contd_bad, first_run, done;
	struct frame_map m;

	if (s->closed)
		return lxsk_sock_usable(s, what);
	if (batch_bad(b))
		return lxsk_batch_error(b, what);
	if (!s->has_tx)
		return lxsk_fail(EINVAL, "%s on %s queue %u: the socket has no TX ring", what, s->ifname, s->queue);
	if (batch_ends_mid_packet(b))
		return lxsk_tx_mid_packet(s, b, what);
	lxsk_comp_take(s, NULL, u->comp_size, 1);
	k = xsk_prod_nb_free(&s->tx, n);
	if (k < n) {
		/* The kernel may only be waiting for a kick to make room. */
		int err = drain_tx(s);

		if (err)
			return err;
		lxsk_comp_take(s, NULL, u->comp_size, 1);
		k = xsk_prod_nb_free(&s->tx, n);
	}
	if (k > n)
		k = n;
	/* A packet goes on the ring whole or not at all: stop after the last
	 * packet that fits (the batch's last frame always ends one). */
	while (k < n && k && (b->f[k - 1].options & XDP_PKT_CONTD))
		k--;
	if (!k && n && xsk_prod_nb_free(&s->tx, s->tx.size) == s->tx.size)
		return lxsk_tx_too_big(s, b, what); /* an empty ring cannot hold it: it never will */
	if (k && xsk_ring_prod__reserve(&s->tx, k, &idx) != k)
		k = 0;
	last = drop_rest ? n : k;
	m = map_of(u);
	contd_bad = s->multi_buffer ? 0 : XDP_PKT_CONTD;
	/* The descriptors from idx on, in at most two runs: up to the end of
	 * the ring, then from its start. */
	first_run = s->tx.size - (idx & s->tx.mask);
	if (first_run > k)
		first_run = k;
	done = tx_put_run(&m, b->f, xsk_ring_prod__tx_desc(&s->tx, idx), first_run, contd_bad, state);
	if (done == first_run)
		done += tx_put_run(&m, b->f + done, xsk_ring_prod__tx_desc(&s->tx, idx + done), k - done, contd_bad,
				   state);
	/* What does not fit (forward only) goes back to the pool, marked as
	 * the loop goes so that a frame listed twice is caught. */
	if (done == k)
		done += tx_drop_run(&m, b->f + k, last - k, contd_bad);
	if (done < last) {
		int err = lxsk_tx_frame_error(s, &b->f[done], done, what);

		for (uint32_t i = 0; i < done; i++)
			*fm_state(&m, b->f[i].addr) = LXSK_OWN_USER;
		s->tx.cached_prod -= k;
		return err;
	}
	for (uint32_t i = k; i < last; i++)
		u->pool[u->pool_count++] = b->f[i].addr & m.chunk_mask;
	if (k)
		xsk_ring_prod__submit(&s->tx, k);
	return (int)k;
}

int lxsk_send(struct lxsk_sock *s, struct lxsk_batch *b)
{
	int k = push_tx(s, b, "send", false);
	int err;

	if (k < 0)
		return k;
	err = drain_tx(s);
	if (k) {
		/* What did not fit stays with the script, at the front of the batch. */
		memmove(&b->f[0], &b->f[k], (b->n - (uint32_t)k) * sizeof(b->f[0]));
		b->n -= (uint32_t)k;
	}
	return err ? err : k;
}

int lxsk_forward(struct lxsk_sock *dst, struct lxsk_batch *b)
{
	int k = push_tx(dst, b, "forward", true);
	int err;

	if (k < 0)
		return k;
	/* Forwarding drops what the TX ring has no room for, as a switch would:
	 * push_tx has put those frames back in the pool. */
	b->n = 0;
	err = drain_tx(dst);
	return err ? err : k;
}

/* Kicks until the kernel has taken every frame on the TX ring, or timeout_ms
 * passes (negative: no limit); returns the frames still waiting. */
int lxsk_flush(struct lxsk_sock *s, int timeout_ms)
{
	struct timespec start, now;
	int err;

	if (s->closed)
		return lxsk_sock_usable(s, "flush");
	if (!s->has_tx)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (tx_busy(s)) {
		err = lxsk_kick_tx(s);
		if (err)
			return err;
		lxsk_recycle(s);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (timeout_ms >= 0 &&
		    (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 >= timeout_ms)
			break;
	}
	lxsk_recycle(s);
	return (int)(*s->tx.producer - *s->tx.consumer);
}
