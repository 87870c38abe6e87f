/* AF_XDP sockets: creation over libxdp, shared UMEM, options, statistics. */
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/sockios.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define BUSY_RETRIES 50
#define BUSY_WAIT_NS 20000000L

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

static bool pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

/* Queues the driver has now; -1 when it does not say (then bind decides). */
static int queue_count(const char *ifname)
{
	struct ethtool_channels ch = { .cmd = ETHTOOL_GCHANNELS };
	struct ifreq ifr;
	int fd, err, n;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&ch;
	err = ioctl(fd, SIOCETHTOOL, &ifr);
	close(fd);
	if (err)
		return -1;
	n = (int)(ch.rx_count > ch.combined_count ? ch.rx_count : ch.combined_count);
	if ((int)ch.tx_count > n)
		n = (int)ch.tx_count;
	return n > 0 ? n : -1;
}

static uint64_t netns_cookie(int fd)
{
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);

	if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len))
		return 0;
	return cookie;
}

/* The pair libxdp will use for this (netns, interface, queue): an existing one
 * when another socket of the UMEM is bound there, else a new one. */
static struct lxsk_pair *pick_pair(struct lxsk_umem *u, uint64_t cookie, int ifindex, uint32_t queue)
{
	struct lxsk_pair *fresh = NULL;

	if (u->pairs[0].state == PAIR_FRESH)
		return &u->pairs[0];
	for (int i = 0; i < LXSK_MAX_PAIRS; i++) {
		struct lxsk_pair *p = &u->pairs[i];

		if (p->state == PAIR_LIVE && p->netns_cookie == cookie && p->ifindex == ifindex && p->queue == queue)
			return p;
		/* A dead pair's rings were unmapped and forgotten by libxdp when
		 * its last socket was deleted, and its frames went back to the
		 * pool, so the slot can serve again.  Not slot 0: it marks the
		 * UMEM's first socket. */
		if ((p->state == PAIR_UNUSED || (p->state == PAIR_DEAD && i > 0)) && !fresh)
			fresh = p;
	}
	/* libxdp sets up only some fields of a new completion ring (not its
	 * cached indexes) and relies on the struct being zeroed, as a never
	 * used slot is: a reused one must be zeroed too. */
	if (fresh && fresh->state == PAIR_DEAD)
		memset(fresh, 0, sizeof(*fresh));
	return fresh;
}

static int check_opts(const struct lxsk_umem *u, const struct lxsk_sock_opts *o)
{
	const char *ifn = o->ifname ? o->ifname : "";

	if (u->closed)
		return lxsk_fail(EBADF, "socket on %s queue %u: the UMEM is closed", ifn, o->queue);
	if (!*ifn || strlen(ifn) >= IF_NAMESIZE)
		return lxsk_fail(EINVAL, "socket: interface name '%s' must have 1 to %d characters", ifn,
				 IF_NAMESIZE - 1);
	if (!o->rx_size && !o->tx_size)
		return lxsk_fail(EINVAL, "socket on %s queue %u: needs an RX ring, a TX ring or both", ifn, o->queue);
	if (o->rx_size && !pow2(o->rx_size))
		return lxsk_fail(EINVAL, "socket on %s queue %u: rx_size %u must be a power of two", ifn, o->queue,
				 o->rx_size);
	if (o->tx_size && !pow2(o->tx_size))
		return lxsk_fail(EINVAL, "socket on %s queue %u: tx_size %u must be a power of two", ifn, o->queue,
				 o->tx_size);
	if (o->bind_mode < LXSK_BIND_AUTO || o->bind_mode > LXSK_BIND_ZEROCOPY)
		return lxsk_fail(EINVAL, "socket on %s: bad bind mode %d", ifn, o->bind_mode);
	if (o->attach_mode < LXSK_ATTACH_AUTO || o->attach_mode > LXSK_ATTACH_SKB)
		return lxsk_fail(EINVAL, "socket on %s: bad attach mode %d", ifn, o->attach_mode);
	/* libxdp's default program (xsk_def_xdp_prog) is not frags-capable: the
	 * kernel would refuse to run it on packets larger than a page. */
	if (o->multi_buffer && o->load_program)
		return lxsk_fail(EINVAL,
				 "socket on %s queue %u: multi_buffer needs an XDP program built for frags, and "
				 "libxdp's default program is not; use load_program = false and attach one with "
				 "xsk.steer.open{ ifname = \"%s\", frags = true }, then st:register(sock)",
				 ifn, o->queue, ifn);
	if (u->had_sockets && !u->nsocks)
		return lxsk_fail(EBUSY,
				 "socket on %s queue %u: every socket of this UMEM has been closed and libxdp "
				 "cannot bind it again; create a new UMEM",
				 ifn, o->queue);
	return 0;
}

static int explain_create_error(const struct lxsk_sock_opts *o, int err)
{
	const char *why = lxsk_libxdp_last();
	char extra[300] = "";

	if (*why)
		snprintf(extra, sizeof(extra), "; libxdp: %s", why);
	if (o->multi_buffer && (err == -EINVAL || err == -EOPNOTSUPP))
		return lxsk_fail(err,
				 "socket on %s queue %u: multi-buffer (XDP_USE_SG) is not supported here: the kernel "
				 "(needs Linux 6.6 or later) or, in %s mode, the driver of %s lacks it; use "
				 "multi_buffer = false and frames large enough for the MTU%s",
				 o->ifname, o->queue, o->bind_mode == LXSK_BIND_ZEROCOPY ? "zero-copy" : "this",
				 o->ifname, extra);
	switch (-err) {
	case EPERM:
	case EACCES:
		return lxsk_fail(err, "socket on %s queue %u: AF_XDP needs root (CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF)%s",
				 o->ifname, o->queue, extra);
	case EOPNOTSUPP:
		if (o->bind_mode == LXSK_BIND_ZEROCOPY)
			return lxsk_fail(err,
					 "socket on %s queue %u: zero-copy requested but the driver of %s does "
					 "not support it (use bind_mode 'copy' or 'auto')%s",
					 o->ifname, o->queue, o->ifname, extra);
		if (o->attach_mode == LXSK_ATTACH_NATIVE)
			return lxsk_fail(err,
					 "socket on %s queue %u: the driver has no native XDP (use attach_mode "
					 "'skb' or 'auto')%s",
					 o->ifname, o->queue, extra);
		break;
	case EBUSY:
		return lxsk_fail(err,
				 "socket on %s queue %u: the queue is busy (another AF_XDP socket is bound to it, "
				 "or another XDP program is attached)%s",
				 o->ifname, o->queue, extra);
	case ENODEV:
	case ENXIO:
		return lxsk_fail(err, "socket on %s queue %u: the interface is gone%s", o->ifname, o->queue, extra);
	case ENETDOWN:
		return lxsk_fail(err, "socket on %s queue %u: the interface is down%s", o->ifname, o->queue, extra);
	}
	return lxsk_fail(err, "socket on %s queue %u: xsk_socket__create failed%s", o->ifname, o->queue, extra);
}

static int set_int_opt(struct lxsk_sock *s, int level, int name, int value, const char *what)
{
	if (setsockopt(s->fd, level, name, &value, sizeof(value)))
		return lxsk_fail(errno, "socket on %s queue %u: setting %s to %d failed", s->ifname, s->queue, what,
				 value);
	return 0;
}

static int apply_options(struct lxsk_sock *s, const struct lxsk_sock_opts *o)
{
	int err = 0;

	if (o->prefer_busy_poll)
		err = set_int_opt(s, SOL_SOCKET, SO_PREFER_BUSY_POLL, 1, "SO_PREFER_BUSY_POLL");
	if (!err && o->busy_poll_us)
		err = set_int_opt(s, SOL_SOCKET, SO_BUSY_POLL, o->busy_poll_us, "SO_BUSY_POLL");
	if (!err && o->busy_poll_budget)
		err = set_int_opt(s, SOL_SOCKET, SO_BUSY_POLL_BUDGET, o->busy_poll_budget, "SO_BUSY_POLL_BUDGET");
	if (!err && o->tx_budget) {
		if (setsockopt(s->fd, SOL_XDP, XDP_MAX_TX_SKB_BUDGET, &o->tx_budget, sizeof(o->tx_budget))) {
			if (errno == ENOPROTOOPT)
				return lxsk_fail(errno,
						 "socket on %s queue %u: this kernel has no XDP_MAX_TX_SKB_BUDGET "
						 "(tx_budget needs Linux 6.16 or later)",
						 s->ifname, s->queue);
			return lxsk_fail(errno, "socket on %s queue %u: setting tx_budget to %u failed", s->ifname,
					 s->queue, o->tx_budget);
		}
		s->tx_budget = (int)o->tx_budget;
	}
	return err;
}

struct lxsk_sock *lxsk_sock_new(struct lxsk_umem *u, const struct lxsk_sock_opts *o)
{
	struct xsk_socket_config cfg;
	struct lxsk_pair *pair;
	struct lxsk_sock *s;
	uint64_t cookie;
	int ifindex, nq, err;

	lxsk_libxdp_quiet();
	if (check_opts(u, o))
		return NULL;
	ifindex = (int)if_nametoindex(o->ifname);
	if (!ifindex) {
		lxsk_fail(errno, "socket on %s queue %u: no such interface", o->ifname, o->queue);
		return NULL;
	}
	nq = queue_count(o->ifname);
	if (nq > 0 && o->queue >= (uint32_t)nq) {
		lxsk_fail(EINVAL, "socket on %s queue %u: queue out of range (%s has %d queue%s)", o->ifname, o->queue,
			  o->ifname, nq, nq == 1 ? "" : "s");
		return NULL;
	}
	if (o->load_program && lxsk_clear_leftover(ifindex, o->ifname, nq > 0 ? nq : 1) < 0)
		return NULL;
	cookie = netns_cookie(xsk_umem__fd(u->xu));
	pair = pick_pair(u, cookie, ifindex, o->queue);
	if (!pair) {
		lxsk_fail(ENOSPC, "socket on %s queue %u: this UMEM already serves %d interface/queue pairs",
			  o->ifname, o->queue, LXSK_MAX_PAIRS);
		return NULL;
	}
	/* libxdp binds every later socket against the UMEM's first one, and the
	 * kernel lets a socket share fill and completion rings only with that
	 * socket's own interface and queue. */
	if (pair->state == PAIR_LIVE && pair != &u->pairs[0]) {
		lxsk_fail(EINVAL,
			  "socket on %s queue %u: another socket of this UMEM is bound here, but sockets share "
			  "an interface and queue only with the UMEM's first socket; make the first socket of "
			  "the UMEM the one on %s queue %u, or use a second UMEM",
			  o->ifname, o->queue, o->ifname, o->queue);
		return NULL;
	}
	/* libxdp 1.3 keeps the program it loads in the state both sockets share
	 * and frees it once per socket: a double free.  Sharing a queue is safe
	 * only when the user manages the program. */
	if (pair->state == PAIR_LIVE && (pair->prog_loaded || o->load_program)) {
		lxsk_fail(EINVAL,
			  "socket on %s queue %u: two sockets on one queue need load_program = false on both "
			  "(libxdp would free its XDP program twice); attach a program yourself and register "
			  "the sockets in its XSKMAP",
			  o->ifname, o->queue);
		return NULL;
	}
	if (u->first_gone && u->first_ifindex == ifindex && u->first_queue == o->queue && u->first_cookie == cookie) {
		lxsk_fail(EBUSY,
			  "socket on %s queue %u: this UMEM's first socket was bound here, and libxdp keeps that "
			  "binding (the UMEM's own file descriptor) until the UMEM closes; close the UMEM to free "
			  "the queue",
			  o->ifname, o->queue);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		lxsk_fail(ENOMEM, "socket on %s queue %u: out of memory", o->ifname, o->queue);
		return NULL;
	}
	s->umem = u;
	s->ifindex = ifindex;
	s->queue = o->queue;
	snprintf(s->ifname, sizeof(s->ifname), "%s", o->ifname);
	s->has_rx = o->rx_size != 0;
	s->has_tx = o->tx_size != 0;
	s->auto_fill = o->auto_fill != 0;
	s->multi_buffer = o->multi_buffer != 0;
	s->pair = pair;
	s->pair_tag = (uint8_t)((pair - u->pairs) << PAIR_SHIFT);

	cfg = (struct xsk_socket_config){
		.rx_size = o->rx_size,
		.tx_size = o->tx_size,
		.libxdp_flags = o->load_program ? 0 : XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.xdp_flags = o->attach_mode == LXSK_ATTACH_NATIVE ? XDP_FLAGS_DRV_MODE
			     : o->attach_mode == LXSK_ATTACH_SKB  ? XDP_FLAGS_SKB_MODE
								  : 0,
		.bind_flags = (uint16_t)((o->need_wakeup ? XDP_USE_NEED_WAKEUP : 0) | (o->multi_buffer ? XDP_USE_SG : 0) |
					 (o->bind_mode == LXSK_BIND_COPY	 ? XDP_COPY
					  : o->bind_mode == LXSK_BIND_ZEROCOPY ? XDP_ZEROCOPY
									       : 0)),
	};
	/* The kernel frees a closed socket's hold on its queue from a work queue,
	 * so binding again right after a close can see EBUSY for a while: on a
	 * loaded machine more than 200 ms, so wait up to a second. */
	for (int tries = 0;; tries++) {
		err = xsk_socket__create_shared(&s->xs, o->ifname, o->queue, u->xu, s->has_rx ? &s->rx : NULL,
						s->has_tx ? &s->tx : NULL, &pair->fq, &pair->cq, &cfg);
		if (err != -EBUSY || tries >= BUSY_RETRIES)
			break;
		nanosleep(&(struct timespec){ .tv_nsec = BUSY_WAIT_NS }, NULL);
	}
	if (err) {
		explain_create_error(o, err);
		free(s);
		return NULL;
	}
	s->fd = xsk_socket__fd(s->xs);
	s->is_first = !u->had_sockets;
	if (pair->state != PAIR_LIVE)
		pair->prog_loaded = o->load_program != 0;
	pair->state = PAIR_LIVE;
	pair->netns_cookie = cookie;
	pair->ifindex = ifindex;
	pair->queue = o->queue;
	pair->refs++;
	if (s->has_rx)
		pair->rx_refs++;
	s->next = u->socks;
	u->socks = s;
	u->nsocks++;
	u->had_sockets = true;
	if (apply_options(s, o)) {
		/* Closing leaves the error message of apply_options in place. */
		lxsk_sock_free(s);
		return NULL;
	}
	/* Packets may arrive the moment the socket is bound. */
	if (s->auto_fill)
		lxsk_refill(s);
	return s;
}

void lxsk_sock_close(struct lxsk_sock *s)
{
	struct lxsk_pair *p;

	if (!s || s->closed)
		return;
	p = s->pair;
	if (s->is_first) {
		s->umem->first_gone = true;
		s->umem->first_ifindex = s->ifindex;
		s->umem->first_queue = s->queue;
		s->umem->first_cookie = p->netns_cookie;
	}
	xsk_socket__delete(s->xs);
	s->xs = NULL;
	s->closed = true;
	p->refs--;
	if (s->has_rx)
		p->rx_refs--;
	if (!p->refs) {
		p->state = PAIR_DEAD;
		lxsk_umem_reclaim_pair(s->umem, p);
	}
	lxsk_umem_unlink_sock(s->umem, s);
}

void lxsk_sock_free(struct lxsk_sock *s)
{
	if (!s)
		return;
	lxsk_sock_close(s);
	free(s);
}

int lxsk_sock_usable(const struct lxsk_sock *s, const char *what)
{
	if (s->closed)
		return lxsk_fail(EBADF, "%s on %s queue %u: socket is closed", what, s->ifname, s->queue);
	return 0;
}

int lxsk_sock_fd(const struct lxsk_sock *s)
{
	return s->closed ? lxsk_fail(EBADF, "socket on %s queue %u is closed", s->ifname, s->queue) : s->fd;
}

int lxsk_sock_ifindex(const struct lxsk_sock *s)
{
	return s->ifindex;
}

int lxsk_sock_tx_budget(struct lxsk_sock *s)
{
	return s->tx_budget;
}

int lxsk_sock_stats(struct lxsk_sock *s, struct lxsk_stats *st)
{
	struct xdp_statistics xs;
	socklen_t len = sizeof(xs);

	if (lxsk_sock_usable(s, "stats"))
		return -EBADF;
	memset(&xs, 0, sizeof(xs));
	if (getsockopt(s->fd, SOL_XDP, XDP_STATISTICS, &xs, &len))
		return lxsk_fail(errno, "stats on %s queue %u: getsockopt(XDP_STATISTICS) failed", s->ifname,
				 s->queue);
	st->rx_dropped = xs.rx_dropped;
	st->rx_invalid_descs = xs.rx_invalid_descs;
	st->tx_invalid_descs = xs.tx_invalid_descs;
	st->rx_ring_full = xs.rx_ring_full;
	st->rx_fill_ring_empty_descs = xs.rx_fill_ring_empty_descs;
	st->tx_ring_empty_descs = xs.tx_ring_empty_descs;
	return 0;
}

int lxsk_sock_zerocopy(struct lxsk_sock *s)
{
	struct xdp_options opts = { 0 };
	socklen_t len = sizeof(opts);

	if (lxsk_sock_usable(s, "zerocopy"))
		return -EBADF;
	if (getsockopt(s->fd, SOL_XDP, XDP_OPTIONS, &opts, &len))
		return lxsk_fail(errno, "zerocopy on %s queue %u: getsockopt(XDP_OPTIONS) failed", s->ifname,
				 s->queue);
	return (opts.flags & XDP_OPTIONS_ZEROCOPY) ? 1 : 0;
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

int lxsk_ring_state(const struct lxsk_sock *s, int ring, struct lxsk_ring_state *st)
{
	memset(st, 0, sizeof(*st));
	if (lxsk_sock_usable(s, "ring state"))
		return -EBADF;
	switch (ring) {
	case LXSK_RING_FILL: prod_state(&s->pair->fq, st); break;
	case LXSK_RING_COMP: cons_state(&s->pair->cq, st); break;
	case LXSK_RING_RX:
		if (s->has_rx)
			cons_state(&s->rx, st);
		break;
	case LXSK_RING_TX:
		if (s->has_tx)
			prod_state(&s->tx, st);
		break;
	default: return lxsk_fail(EINVAL, "ring state: no ring %d", ring);
	}
	return 0;
}

int lxsk_kick_tx(struct lxsk_sock *s)
{
	if (lxsk_sock_usable(s, "wakeup"))
		return -EBADF;
	if (sendto(s->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0)
		return 0;
	switch (errno) {
	case EAGAIN:
	case EBUSY:
	case ENOBUFS:
	case ENETDOWN:
	case EINTR: return 0;
	}
	return lxsk_fail(errno, "wakeup on %s queue %u: sendto failed", s->ifname, s->queue);
}

int lxsk_poll(struct lxsk_sock *s, int events, int timeout_ms)
{
	struct pollfd pfd;
	int n;

	if (lxsk_sock_usable(s, "poll"))
		return -EBADF;
	pfd.fd = s->fd;
	pfd.events = (short)(((events & 1) ? POLLIN : 0) | ((events & 2) ? POLLOUT : 0));
	pfd.revents = 0;
	n = poll(&pfd, 1, timeout_ms);
	if (n < 0) {
		if (errno == EINTR)
			return 0;
		return lxsk_fail(errno, "poll on %s queue %u failed", s->ifname, s->queue);
	}
	if (pfd.revents & (POLLERR | POLLNVAL))
		return lxsk_fail(ENXIO, "poll on %s queue %u: socket error (interface gone?)", s->ifname, s->queue);
	return ((pfd.revents & POLLIN) ? 1 : 0) | ((pfd.revents & POLLOUT) ? 2 : 0);
}
