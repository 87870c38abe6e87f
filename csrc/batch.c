/* Layer 5 of the core: what a script calls on a socket and a batch.  Each
 * call checks the socket and the batch once, then composes the ring verbs:
 * receiving tops the fill ring up from the pool, sending recycles
 * completions into it, so scripts only ever see batches of frames they own.
 * Two measurements ride along, each only when asked for: the RX metadata
 * guard on frames handed out (UMEMs made with rx_metadata, meta.h), and the
 * time a send hands its frames to the kernel (sockets made with tx_time). */
#include <errno.h>
#include <time.h>

#include "error.h"
#include "socket.h"

#define WAIT_SLICE_MS 100

/* The socket's port and the batch's head when both may be used together;
 * NULL with a message otherwise.  Inline: every hot call starts here. */
static inline struct port *usable(struct lxsk_sock *s, const struct lxsk_batch *b, const char *what)
{
	if (__builtin_expect(sock_usable(s, what) != 0, 0))
		return NULL;
	if (__builtin_expect(!umem_batch(s->u, b, what), 0))
		return NULL;
	return &s->port;
}

static int no_ring(const struct port *p, const char *ring, const char *size, const char *what)
	__attribute__((cold, noinline));
static int no_ring(const struct port *p, const char *ring, const char *size, const char *what)
{
	return lxsk_fail(EINVAL, PORT_FMT ": the socket has no %s ring (%s = 0)", PORT_ARGS(what, p), ring, size);
}

/* The room left in a batch (its count was checked against its real
 * capacity by usable). */
static inline uint32_t room_of(const struct lxsk_batch *b)
{
	return batch_head_of(b)->cap - b->n;
}

/* Frames f[first .. first+got) reach the script from the RX ring: with
 * rx_metadata, each packet's metadata is checked against it, or its mark
 * cleared (meta_seen). */
static inline int handed_out(const struct lxsk_sock *s, struct lxsk_batch *b, uint32_t first, int got)
{
	if (__builtin_expect(s->rx_meta, 0) && got > 0)
		meta_seen(s->port.frames, &b->f[first], (uint32_t)got);
	return got;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A call that moved nothing: the moment to learn, now and then, whether the
 * socket's interface is still there. */
static inline int idle(struct port *p, int got, const char *what)
{
	if (got)
		ring_busy(p);
	else if (ring_check_alive(p, what))
		return -ENXIO;
	return got;
}

/* ---- the four rings, one hand-over at a time ---- */

int lxsk_fill_produce(struct lxsk_sock *s, struct lxsk_batch *b)
{
	struct port *p = usable(s, b, "fill");

	if (!p)
		return -lxsk_errno();
	if (!p->pair->rx_refs)
		return lxsk_fail(EINVAL,
				 PORT_FMT ": no socket here has an RX ring, so frames on this fill ring would never "
					  "come back",
				 PORT_ARGS("fill", p));
	return idle(p, ring_fill(p, b, "fill"), "fill");
}

/* Completed frames go back to the script at their packet's start, as every
 * frame the core hands out is: the kernel's completion address is not always
 * the one sent (Linux 6.18's copy mode clears its lowest bit), and the frame
 * is the same either way. */
int lxsk_comp_consume(struct lxsk_sock *s, struct lxsk_batch *b, uint32_t max)
{
	struct port *p = usable(s, b, "completion");
	uint32_t room, first, got;

	if (!p)
		return -lxsk_errno();
	room = room_of(b);
	first = b->n;
	got = ring_complete(p, b, max < room ? max : room);
	for (uint32_t i = first; i < b->n; i++)
		frame_fill(p->frames, &b->f[i], (b->f[i].addr & p->frames->chunk_mask) + p->frames->data_offset, 0);
	/* A sent frame holds no received packet's metadata any more. */
	if (__builtin_expect(s->rx_meta, 0))
		meta_forget(p->frames, &b->f[first], got);
	return idle(p, (int)got, "completion");
}

int lxsk_rx_consume(struct lxsk_sock *s, struct lxsk_batch *b, uint32_t max)
{
	struct port *p = usable(s, b, "rx");
	uint32_t room, first;

	if (!p)
		return -lxsk_errno();
	if (!p->has_rx)
		return no_ring(p, "RX", "rx_size", "rx");
	room = room_of(b);
	first = b->n;
	return idle(p, handed_out(s, b, first, ring_receive(p, b, max < room ? max : room, "rx")), "rx");
}

int lxsk_tx_produce(struct lxsk_sock *s, struct lxsk_batch *b)
{
	struct port *p = usable(s, b, "tx");
	int n;

	if (!p)
		return -lxsk_errno();
	if (!p->has_tx)
		return no_ring(p, "TX", "tx_size", "tx");
	n = ring_transmit(p, b, b->n, "tx");
	if (n > 0)
		b->n = 0;
	return n < 0 ? n : idle(p, n, "tx");
}

int lxsk_fill_needs_wakeup(const struct lxsk_sock *s)
{
	return !s->closed && ring_fill_needs_wakeup(&s->port);
}

int lxsk_tx_needs_wakeup(const struct lxsk_sock *s)
{
	return !s->closed && ring_tx_needs_wakeup(&s->port);
}

int lxsk_kick_tx(struct lxsk_sock *s)
{
	if (sock_usable(s, "wakeup"))
		return -EBADF;
	return ring_kick(&s->port, "wakeup");
}

int lxsk_poll(struct lxsk_sock *s, int events, int timeout_ms)
{
	int r;

	if (sock_usable(s, "poll"))
		return -EBADF;
	r = ring_poll(&s->port, events, timeout_ms, "poll");
	if (r == 0 && ring_probe_alive(&s->port, "poll"))
		return -ENXIO;
	return r;
}

/* ---- batches: the hot path ---- */

/* All or nothing: a bad frame anywhere in the batch releases none.  A
 * receiver's frames go straight back onto the fill ring of the handle's first
 * socket that fills automatically, as far as it wants them there (what recv
 * would move there from the pool next), and the rest to the pool, so they
 * need not pass through the pool. */
int lxsk_release(struct lxsk_umem *u, struct lxsk_batch *b)
{
	if (umem_usable(u, "release"))
		return -EBADF;
	if (!umem_batch(u, b, "release"))
		return -lxsk_errno();
	for (struct link *l = u->socks.next; l != &u->socks; l = l->next) {
		struct port *p = &sock_of_node(l)->port;

		if (p->has_rx && p->auto_fill)
			return ring_release(p, b, "release");
	}
	return umem_release(u, b);
}

/* Frames for TX come with their length set to len (0: empty), so a sender
 * that fills them from a template needs no per-frame pass of its own.  The
 * frames the kernel has finished sending are free already: they come
 * straight from the completion rings of the handle's sockets, and only the
 * rest from the pool, so a sender's frames need not pass through the pool. */
int lxsk_alloc(struct lxsk_umem *u, struct lxsk_batch *b, uint32_t n, uint32_t len)
{
	const struct frames *fr = &u->um->frames;
	struct batch_head *h;
	uint32_t room, want, first, got = 0, most = fr->frame_size - fr->data_offset;

	if (umem_usable(u, "alloc"))
		return -EBADF;
	h = umem_batch(u, b, "alloc");
	if (!h)
		return -lxsk_errno();
	if (len > most)
		return lxsk_fail(EMSGSIZE, "alloc: length %u is more than a frame holds (%u bytes)", len, most);
	room = h->cap - b->n;
	want = n < room ? n : room;
	first = b->n;
	for (struct link *l = u->socks.next; l != &u->socks && got < want; l = l->next) {
		struct port *p = &sock_of_node(l)->port;

		if (p->has_tx)
			got += ring_alloc_completed(p, b, want - got, len);
	}
	if (got < want)
		got += pool_alloc(fr, u->pool, b, want - got, len);
	/* A frame for sending holds no received packet's metadata. */
	if (__builtin_expect(u->um->rx_meta, 0))
		meta_forget(fr, &b->f[first], got);
	return (int)got;
}

int lxsk_refill(struct lxsk_sock *s)
{
	if (s->closed)
		return 0;
	return (int)ring_refill(&s->port);
}

int lxsk_recycle(struct lxsk_sock *s)
{
	if (s->closed)
		return 0;
	return (int)ring_complete(&s->port, NULL, s->port.comp_size);
}

int lxsk_recv(struct lxsk_sock *s, struct lxsk_batch *b, int timeout_ms)
{
	struct port *p = usable(s, b, "recv");
	uint32_t room, first;
	int got;

	if (!p)
		return -lxsk_errno();
	if (!p->has_rx)
		return no_ring(p, "RX", "rx_size", "recv");
	room = room_of(b);
	first = b->n;
	/* A socket that forwards gets its frames back through the completion
	 * ring: recycle them before refilling, as every loop of l2fwd must,
	 * straight onto the fill ring as far as it wants them. */
	if (p->has_tx) {
		if (p->auto_fill)
			ring_recycle_to_fill(p);
		ring_complete(p, NULL, p->comp_size);
	}
	/* Topped up from the pool only when low: in between, release puts the
	 * script's frames straight back onto it. */
	if (p->auto_fill && ring_fill_low(p))
		ring_refill(p);
	got = ring_receive(p, b, room, "recv");
	if (got || !room || !timeout_ms)
		return got ? (ring_busy(p), handed_out(s, b, first, got)) : idle(p, got, "recv");
	/* Wait in slices: the kernel wakes no poller when the interface goes
	 * away, so between slices ask it whether the socket is still bound. */
	for (int left = timeout_ms; left;) {
		int slice = (left < 0 || left > WAIT_SLICE_MS) ? WAIT_SLICE_MS : left;
		int r = ring_poll(p, LXSK_POLL_IN, slice, "recv");

		if (r < 0)
			return r;
		if (p->auto_fill)
			ring_refill(p);
		got = ring_receive(p, b, room, "recv");
		if (got)
			return handed_out(s, b, first, got);
		if (ring_probe_alive(p, "recv"))
			return -ENXIO;
		if (left > 0)
			left -= slice;
	}
	return 0;
}

int lxsk_send(struct lxsk_sock *s, struct lxsk_batch *b)
{
	struct port *p = usable(s, b, "send");
	int k, err;

	if (!p)
		return -lxsk_errno();
	if (!p->has_tx)
		return no_ring(p, "TX", "tx_size", "send");
	ring_complete(p, NULL, p->comp_size);
	k = ring_transmit_some(p, b, false, "send");
	if (k < 0)
		return k;
	/* The frames are the kernel's from here on; copy mode transmits them in
	 * the kicks that follow. */
	if (s->tx_time && k > 0)
		s->tx_ns = now_ns();
	err = ring_drain(p, "send");
	/* What did not fit stays with the script, at the front of the batch. */
	if (k)
		frames_batch_shift(b, (uint32_t)k);
	if (err)
		return err;
	return b->n ? idle(p, k, "send") : k;
}

int lxsk_forward(struct lxsk_sock *dst, struct lxsk_batch *b)
{
	struct port *p = usable(dst, b, "forward");
	int k, err;

	if (!p)
		return -lxsk_errno();
	if (!p->has_tx)
		return no_ring(p, "TX", "tx_size", "forward");
	ring_complete(p, NULL, p->comp_size);
	k = ring_transmit_some(p, b, true, "forward");
	if (k < 0)
		return k;
	/* Forwarding drops what the TX ring has no room for, as a switch would:
	 * those frames went back to the pool. */
	b->n = 0;
	err = ring_drain(p, "forward");
	return err ? err : k;
}

/* Kicks until the kernel has taken every frame on the TX ring, or timeout_ms
 * passes (negative: no limit); returns the frames still waiting. */
int lxsk_flush(struct lxsk_sock *s, int timeout_ms)
{
	struct port *p = &s->port;
	struct timespec start, now;
	int err;

	if (sock_usable(s, "flush"))
		return -EBADF;
	if (!p->has_tx)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (ring_tx_busy(p)) {
		err = ring_kick(p, "flush");
		if (err)
			return err;
		ring_complete(p, NULL, p->comp_size);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (timeout_ms >= 0 &&
		    (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 >= timeout_ms)
			break;
	}
	ring_complete(p, NULL, p->comp_size);
	return (int)ring_tx_waiting(p);
}
