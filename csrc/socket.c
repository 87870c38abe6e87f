/* AF_XDP sockets (socket.h): every option is checked, and tried on a
 * throwaway socket, before anything is bound, because libxdp binds a UMEM's
 * first socket on the UMEM's own file descriptor and a socket that fails after
 * that would leave the UMEM unusable. */
#include <errno.h>
#include <linux/if_link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "leftover.h"
#include "netif.h"
#include "socket.h"

#define BUSY_RETRIES 50
#define BUSY_WAIT_NS 20000000L
#define SO_BUSY_POLL_MAX_BUDGET 65535 /* the kernel keeps it in 16 bits */
#define TX_BUDGET_MIN 32              /* the kernel's TX batch size */

static bool pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

static uint64_t netns_cookie(int fd)
{
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);

	if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len))
		return 0;
	return cookie;
}

static int check_opts(const struct lxsk_umem *u, const struct lxsk_sock_opts *o)
{
	const char *ifn = o->ifname ? o->ifname : "";

	if (u->closed)
		return lxsk_fail(EBADF, "%s queue %u: the UMEM is closed", ifn, o->queue);
	if (!*ifn || strlen(ifn) >= IF_NAMESIZE)
		return lxsk_fail(EINVAL, "interface name '%s' must have 1 to %d characters", ifn,
				 IF_NAMESIZE - 1);
	if (!o->rx_size && !o->tx_size)
		return lxsk_fail(EINVAL, "%s queue %u: needs an RX ring, a TX ring or both", ifn, o->queue);
	if (o->rx_size && (!pow2(o->rx_size) || o->rx_size > (1u << 24)))
		return lxsk_fail(EINVAL, "%s queue %u: rx_size %u must be a power of two up to %u", ifn,
				 o->queue, o->rx_size, 1u << 24);
	if (o->tx_size && (!pow2(o->tx_size) || o->tx_size > (1u << 24)))
		return lxsk_fail(EINVAL, "%s queue %u: tx_size %u must be a power of two up to %u", ifn,
				 o->queue, o->tx_size, 1u << 24);
	if (o->bind_mode < LXSK_BIND_AUTO || o->bind_mode > LXSK_BIND_ZEROCOPY)
		return lxsk_fail(EINVAL, "%s: bad bind mode %d", ifn, o->bind_mode);
	if (o->attach_mode < LXSK_ATTACH_AUTO || o->attach_mode > LXSK_ATTACH_SKB)
		return lxsk_fail(EINVAL, "%s: bad attach mode %d", ifn, o->attach_mode);
	if (o->busy_poll_us < 0)
		return lxsk_fail(EINVAL, "%s queue %u: busy_poll_us %d must be from 0 to %d", ifn, o->queue,
				 o->busy_poll_us, INT32_MAX);
	if (o->busy_poll_budget < 0 || o->busy_poll_budget > SO_BUSY_POLL_MAX_BUDGET)
		return lxsk_fail(EINVAL, "%s queue %u: busy_poll_budget %d must be from 0 to %d", ifn,
				 o->queue, o->busy_poll_budget, SO_BUSY_POLL_MAX_BUDGET);
	if (o->tx_budget && !o->tx_size)
		return lxsk_fail(EINVAL, "%s queue %u: tx_budget needs a TX ring", ifn, o->queue);
	if (o->tx_budget && (o->tx_budget < TX_BUDGET_MIN || o->tx_budget > o->tx_size))
		return lxsk_fail(EINVAL, "%s queue %u: tx_budget %u must be from %d to tx_size (%u), or 0",
				 ifn, o->queue, o->tx_budget, TX_BUDGET_MIN, o->tx_size);
	/* libxdp's default program (xsk_def_xdp_prog) is not frags-capable: the
	 * kernel would refuse to run it on packets larger than a page. */
	if (o->multi_buffer && o->load_program)
		return lxsk_fail(EINVAL,
				 "%s queue %u: multi_buffer needs an XDP program built for frags, and "
				 "libxdp's default program is not; use load_program = false and attach one with "
				 "xsk.steer.open{ ifname = \"%s\", frags = true }, then st:register(sock)",
				 ifn, o->queue, ifn);
	return 0;
}

/* Under the UMEM's lock: another thread's socket may be opening or closing. */
static int check_rebind(const struct umem *um, const struct lxsk_sock_opts *o)
{
	if (um->had_sockets && !um->nsocks)
		return lxsk_fail(EBUSY,
				 "%s queue %u: every socket of this UMEM has been closed and libxdp "
				 "cannot bind it again; create a new UMEM",
				 o->ifname, o->queue);
	return 0;
}

static int set_int(int fd, int level, int name, int value)
{
	return setsockopt(fd, level, name, &value, sizeof(value)) ? -errno : 0;
}

/* The options that are set after bind, set first on a throwaway unbound
 * socket: what the kernel refuses there it would refuse after bind, when
 * failing could no longer leave everything as it was. */
static int apply_options(int fd, const struct lxsk_sock_opts *o, const char *ifn)
{
	int err = 0;
	const char *what = "";
	int value = 0;

	if (o->prefer_busy_poll && (err = set_int(fd, SOL_SOCKET, SO_PREFER_BUSY_POLL, 1)))
		what = "prefer_busy_poll", value = 1;
	else if (o->busy_poll_us && (err = set_int(fd, SOL_SOCKET, SO_BUSY_POLL, o->busy_poll_us)))
		what = "busy_poll_us", value = o->busy_poll_us;
	else if (o->busy_poll_budget && (err = set_int(fd, SOL_SOCKET, SO_BUSY_POLL_BUDGET, o->busy_poll_budget)))
		what = "busy_poll_budget", value = o->busy_poll_budget;
	else if (o->tx_budget && (err = set_int(fd, SOL_XDP, XDP_MAX_TX_SKB_BUDGET, (int)o->tx_budget)))
		what = "tx_budget", value = (int)o->tx_budget;
	if (!err)
		return 0;
	if (err == -ENOPROTOOPT && !strcmp(what, "tx_budget"))
		return lxsk_fail(err,
				 "%s queue %u: this kernel has no XDP_MAX_TX_SKB_BUDGET (tx_budget needs "
				 "Linux 6.17 or later)",
				 ifn, o->queue);
	if (err == -EPERM || err == -EACCES)
		return lxsk_fail(err, "%s queue %u: setting %s to %d needs root (CAP_NET_ADMIN)", ifn,
				 o->queue, what, value);
	return lxsk_fail(err, "%s queue %u: the kernel refuses %s = %d", ifn, o->queue, what, value);
}

static int try_options(const struct lxsk_sock_opts *o)
{
	int fd, err;

	if (!o->prefer_busy_poll && !o->busy_poll_us && !o->busy_poll_budget && !o->tx_budget)
		return 0;
	fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		if (errno == EPERM || errno == EACCES)
			return lxsk_fail(errno, "%s queue %u: AF_XDP needs root (CAP_NET_ADMIN, CAP_NET_RAW, "
						"CAP_BPF)", o->ifname, o->queue);
		return lxsk_fail(errno, "%s queue %u: cannot make an AF_XDP socket", o->ifname, o->queue);
	}
	/* The TX budget is checked against the TX ring, so give it one. */
	err = o->tx_budget ? set_int(fd, SOL_XDP, XDP_TX_RING, (int)o->tx_size) : 0;
	if (err)
		err = lxsk_fail(err, "%s queue %u: cannot make a TX ring of %u entries", o->ifname, o->queue,
				o->tx_size);
	else
		err = apply_options(fd, o, o->ifname);
	close(fd);
	return err;
}

static int explain_create_error(const struct lxsk_sock_opts *o, int err)
{
	const char *why = lxsk_libxdp_last();
	char extra[300] = "";

	if (*why)
		snprintf(extra, sizeof(extra), "; libxdp: %s", why);
	if (o->multi_buffer && (err == -EINVAL || err == -EOPNOTSUPP))
		return lxsk_fail(err,
				 "%s queue %u: multi-buffer (XDP_USE_SG) is not supported here: the kernel "
				 "(needs Linux 6.6 or later) or, in %s mode, the driver of %s lacks it; use "
				 "multi_buffer = false and frames large enough for the MTU%s",
				 o->ifname, o->queue, o->bind_mode == LXSK_BIND_ZEROCOPY ? "zero-copy" : "this",
				 o->ifname, extra);
	switch (-err) {
	case EPERM:
	case EACCES:
		return lxsk_fail(err, "%s queue %u: AF_XDP needs root (CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF)%s",
				 o->ifname, o->queue, extra);
	case EOPNOTSUPP:
		if (o->bind_mode == LXSK_BIND_ZEROCOPY)
			return lxsk_fail(err,
					 "%s queue %u: zero-copy requested but the driver of %s does "
					 "not support it (use bind_mode 'copy' or 'auto')%s",
					 o->ifname, o->queue, o->ifname, extra);
		if (o->attach_mode == LXSK_ATTACH_NATIVE)
			return lxsk_fail(err,
					 "%s queue %u: the driver has no native XDP (use attach_mode "
					 "'skb' or 'auto')%s",
					 o->ifname, o->queue, extra);
		break;
	case EBUSY:
		return lxsk_fail(err,
				 "%s queue %u: the queue is busy (another AF_XDP socket is bound to it, "
				 "or another XDP program is attached)%s",
				 o->ifname, o->queue, extra);
	case ENODEV:
	case ENXIO:
		return lxsk_fail(err, "%s queue %u: the interface is gone%s", o->ifname, o->queue, extra);
	case ENETDOWN:
		return lxsk_fail(err, "%s queue %u: the interface is down%s", o->ifname, o->queue, extra);
	}
	return lxsk_fail(err, "%s queue %u: xsk_socket__create failed%s", o->ifname, o->queue, extra);
}

/* The pair this socket will use, refused when the kernel or libxdp would
 * refuse the bind, or when it belongs to another partition. */
static struct pair *choose_pair(struct lxsk_umem *u, const struct lxsk_sock_opts *o, uint64_t cookie, int ifindex)
{
	struct umem *um = u->um;
	struct pair *pair = umem_pair_pick(um, cookie, ifindex, o->queue);

	if (!pair) {
		lxsk_fail(ENOSPC, "%s queue %u: this UMEM already serves %d interface/queue pairs", o->ifname,
			  o->queue, LXSK_MAX_TAGS);
		return NULL;
	}
	if (pair->state != PAIR_LIVE)
		return pair;
	if (pair->part != u->part) {
		lxsk_fail(EBUSY,
			  "%s queue %u: the fill and completion rings of this queue belong to partition "
			  "%u of the UMEM, not to this one (%u): one queue, one worker",
			  o->ifname, o->queue, pair->part, u->part);
		return NULL;
	}
	/* libxdp binds every later socket against the UMEM's first one, and the
	 * kernel lets a socket share fill and completion rings only with that
	 * socket's own interface and queue. */
	if (pair != &um->pairs[0]) {
		lxsk_fail(EINVAL,
			  "%s queue %u: another socket of this UMEM is bound here, but sockets share "
			  "an interface and queue only with the UMEM's first socket; make the first socket of "
			  "the UMEM the one on %s queue %u, or use a second UMEM",
			  o->ifname, o->queue, o->ifname, o->queue);
		return NULL;
	}
	/* libxdp 1.3 keeps the program it loads in the state both sockets share
	 * and frees it once per socket: a double free.  Sharing a queue is safe
	 * only when the user manages the program. */
	if (pair->prog_loaded || o->load_program) {
		lxsk_fail(EINVAL,
			  "%s queue %u: two sockets on one queue need load_program = false on both "
			  "(libxdp would free its XDP program twice); attach a program yourself and register "
			  "the sockets in its XSKMAP",
			  o->ifname, o->queue);
		return NULL;
	}
	return pair;
}

static void set_port(struct lxsk_sock *s, const struct lxsk_sock_opts *o, struct pair *pair)
{
	struct port *p = &s->port;
	struct umem *um = s->u->um;

	p->pair = pair;
	p->frames = &um->frames;
	p->pool = s->u->pool;
	p->queue = o->queue;
	snprintf(p->ifname, sizeof(p->ifname), "%s", o->ifname);
	p->user = lxsk_owner_byte(LXSK_OWN_USER, s->u->part);
	p->on_fill = lxsk_owner_byte(LXSK_OWN_FILL, pair->tag);
	p->on_tx = lxsk_owner_byte(LXSK_OWN_TX, pair->tag);
	p->bad_options = o->multi_buffer ? ~(uint32_t)LXSK_PKT_CONTD : ~(uint32_t)0;
	p->fill_target = um->fill_target;
	p->comp_size = um->comp_size;
	p->has_rx = o->rx_size != 0;
	p->has_tx = o->tx_size != 0;
	p->auto_fill = o->auto_fill != 0;
	p->multi_buffer = o->multi_buffer != 0;
}

static int bind_socket(struct lxsk_sock *s, const struct lxsk_sock_opts *o)
{
	struct umem *um = s->u->um;
	struct port *p = &s->port;
	struct xsk_socket_config cfg = {
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
	int err;

	/* The kernel frees a closed socket's hold on its queue from a work queue,
	 * so binding again right after a close can see EBUSY for a while: on a
	 * loaded machine more than 200 ms, so wait up to a second. */
	for (int tries = 0;; tries++) {
		err = xsk_socket__create_shared(&s->xs, o->ifname, o->queue, um->xu, p->has_rx ? &p->rx : NULL,
						p->has_tx ? &p->tx : NULL, &p->pair->fq, &p->pair->cq, &cfg);
		if (err != -EBUSY || tries >= BUSY_RETRIES)
			break;
		nanosleep(&(struct timespec){ .tv_nsec = BUSY_WAIT_NS }, NULL);
	}
	if (err)
		return explain_create_error(o, err);
	p->fd = xsk_socket__fd(s->xs);
	return 0;
}

static bool in_zerocopy(int fd)
{
	struct xdp_options opts = { 0 };
	socklen_t len = sizeof(opts);

	return !getsockopt(fd, SOL_XDP, XDP_OPTIONS, &opts, &len) && (opts.flags & XDP_OPTIONS_ZEROCOPY);
}

/* A socket of handle u on pair, not yet bound or counted in. */
static struct lxsk_sock *sock_alloc(struct lxsk_umem *u, const struct lxsk_sock_opts *o, struct pair *pair,
				    int ifindex)
{
	struct lxsk_sock *s = calloc(1, sizeof(*s));

	if (!s) {
		lxsk_fail(ENOMEM, "%s queue %u: out of memory", o->ifname, o->queue);
		return NULL;
	}
	s->u = u;
	s->ifindex = ifindex;
	s->pid = getpid();
	s->rx_meta = u->um->rx_meta;
	s->tx_time = o->tx_time != 0;
	set_port(s, o, pair);
	return s;
}

/* Counts a socket whose rings are set up into its pair, UMEM and handle
 * (under the UMEM's lock). */
static void sock_enlist(struct lxsk_sock *s, const struct lxsk_sock_opts *o, uint64_t cookie)
{
	struct lxsk_umem *u = s->u;
	struct umem *um = u->um;

	s->is_first = !um->had_sockets;
	umem_pair_attach(um, s->port.pair, u->part, cookie, s->ifindex, o->queue, s->port.has_rx,
			 o->load_program != 0);
	um->nsocks++;
	um->had_sockets = true;
	handle_ref(u);
	link_add(&u->socks, &s->node);
	u->nsocks++;
}

struct lxsk_sock *lxsk_sock_new(struct lxsk_umem *u, const struct lxsk_sock_opts *o)
{
	struct umem *um = u->um;
	struct lxsk_sock *s = NULL;
	struct pair *pair;
	uint64_t cookie;
	int ifindex, nq;

	lxsk_libxdp_quiet();
	if (check_opts(u, o) || try_options(o))
		return NULL;
	ifindex = (int)if_nametoindex(o->ifname);
	if (!ifindex) {
		lxsk_fail(errno, "%s queue %u: no such interface", o->ifname, o->queue);
		return NULL;
	}
	nq = lxsk_if_queue_count(o->ifname);
	if (nq > 0 && o->queue >= (uint32_t)nq) {
		lxsk_fail(EINVAL, "%s queue %u: queue out of range (%s has %d queue%s)", o->ifname, o->queue,
			  o->ifname, nq, nq == 1 ? "" : "s");
		return NULL;
	}
	/* From the leftover check until the socket is in the program's XSKMAP,
	 * no other thread may look at the interface's program. */
	lxsk_xdp_lock();
	if (o->load_program && lxsk_clear_leftover(ifindex, o->ifname, nq > 0 ? nq : 1) < 0) {
		lxsk_xdp_unlock();
		return NULL;
	}
	cookie = netns_cookie(xsk_umem__fd(um->xu));
	pthread_mutex_lock(&um->lock);
	if (check_rebind(um, o))
		goto out;
	if (um->first_gone && um->first_ifindex == ifindex && um->first_queue == o->queue &&
	    um->first_cookie == cookie) {
		lxsk_fail(EBUSY,
			  "%s queue %u: this UMEM's first socket was bound here, and libxdp keeps that "
			  "binding (the UMEM's own file descriptor) until the UMEM closes; close the UMEM to free "
			  "the queue",
			  o->ifname, o->queue);
		goto out;
	}
	pair = choose_pair(u, o, cookie, ifindex);
	if (!pair)
		goto out;
	s = sock_alloc(u, o, pair, ifindex);
	if (!s)
		goto out;
	if (bind_socket(s, o)) {
		free(s);
		s = NULL;
		goto out;
	}
	s->port.zerocopy = in_zerocopy(s->port.fd);
	sock_enlist(s, o, cookie);
	/* Tried on a throwaway socket before: only a kernel gone odd fails here. */
	if (apply_options(s->port.fd, o, o->ifname)) {
		pthread_mutex_unlock(&um->lock);
		lxsk_sock_free(s);
		lxsk_xdp_unlock();
		return NULL;
	}
	s->tx_budget = (int)o->tx_budget;
out:
	pthread_mutex_unlock(&um->lock);
	lxsk_xdp_unlock();
	/* Packets may arrive the moment the socket is bound. */
	if (s && s->port.auto_fill)
		ring_refill(&s->port);
	return s;
}

struct lxsk_sock *sock_new_on_rings(struct lxsk_umem *u, const struct lxsk_sock_opts *o, const struct sock_rings *r)
{
	struct umem *um = u->um;
	struct lxsk_sock *s = NULL;
	struct pair *pair;

	if (check_opts(u, o))
		return NULL;
	if (um->xu) {
		lxsk_fail(EINVAL, "%s queue %u: the UMEM is registered with the kernel, whose rings libxdp sets up",
			  o->ifname, o->queue);
		return NULL;
	}
	pthread_mutex_lock(&um->lock);
	pair = choose_pair(u, o, 0, 0);
	if (!pair)
		goto out;
	/* A pair already in use keeps the rings it has. */
	if (pair->state != PAIR_LIVE) {
		pair->fq = r->fq;
		pair->cq = r->cq;
	}
	s = sock_alloc(u, o, pair, 0);
	if (!s)
		goto out;
	if (s->port.has_rx)
		s->port.rx = r->rx;
	if (s->port.has_tx)
		s->port.tx = r->tx;
	s->port.fd = r->fd;
	sock_enlist(s, o, 0);
out:
	pthread_mutex_unlock(&um->lock);
	if (s && s->port.auto_fill)
		ring_refill(&s->port);
	return s;
}

/* The frames on the RX ring that the script never got go back to the pool
 * when the socket closes, with the metadata the kernel copied in front of
 * them: clear it (meta.h). */
static void forget_unread(struct port *p)
{
	uint32_t prod;

	if (!p->has_rx)
		return;
	prod = __atomic_load_n(p->rx.producer, __ATOMIC_ACQUIRE);
	for (uint32_t i = p->rx.cached_cons; i != prod; i++) {
		uint64_t addr = xsk_ring_cons__rx_desc(&p->rx, i)->addr;

		if (frame_from_kernel(p->frames, addr, p->on_fill))
			meta_forget_addr(p->frames, addr);
	}
}

void lxsk_sock_close(struct lxsk_sock *s)
{
	struct lxsk_umem *u;
	struct umem *um;

	if (!s || s->closed)
		return;
	u = s->u;
	um = u->um;
	s->closed = true;
	if (s->pid != getpid()) {
		/* A forked child: the socket, its XDP program and its queue are
		 * the parent's; touch none of it. */
		link_del(&s->node);
		u->nsocks--;
		return;
	}
	lxsk_xdp_lock();
	pthread_mutex_lock(&um->lock);
	if (s->is_first) {
		um->first_gone = true;
		um->first_ifindex = s->ifindex;
		um->first_queue = s->port.queue;
		um->first_cookie = s->port.pair->netns_cookie;
	}
	if (s->rx_meta)
		forget_unread(&s->port);
	ring_return_on_close(&s->port);
	xsk_socket__delete(s->xs);
	s->xs = NULL;
	umem_pair_detach(um, s->port.pair, s->port.has_rx);
	um->nsocks--;
	pthread_mutex_unlock(&um->lock);
	lxsk_xdp_unlock();
	link_del(&s->node);
	u->nsocks--;
}

void lxsk_sock_free(struct lxsk_sock *s)
{
	if (!s)
		return;
	lxsk_sock_close(s);
	handle_unref(s->u);
	free(s);
}

int sock_usable(const struct lxsk_sock *s, const char *what)
{
	if (__builtin_expect(s->closed, 0))
		return lxsk_fail(EBADF, "%s on %s queue %u: the socket is closed", what, s->port.ifname, s->port.queue);
	return 0;
}

int lxsk_sock_fd(const struct lxsk_sock *s)
{
	return sock_usable(s, "fd") ? -EBADF : s->port.fd;
}

int lxsk_sock_ifindex(const struct lxsk_sock *s)
{
	return s->ifindex;
}

int lxsk_sock_tx_budget(struct lxsk_sock *s)
{
	return s->tx_budget;
}

int64_t lxsk_sock_tx_time(const struct lxsk_sock *s)
{
	if (sock_usable(s, "tx_time"))
		return -EBADF;
	if (!s->tx_time)
		return lxsk_fail(EINVAL, "tx_time on %s queue %u: the socket was made without tx_time = true",
				 s->port.ifname, s->port.queue);
	return s->tx_ns;
}

int lxsk_sock_stats(struct lxsk_sock *s, struct lxsk_stats *st)
{
	struct xdp_statistics xs;
	socklen_t len = sizeof(xs);

	if (sock_usable(s, "stats"))
		return -EBADF;
	memset(&xs, 0, sizeof(xs));
	if (getsockopt(s->port.fd, SOL_XDP, XDP_STATISTICS, &xs, &len))
		return lxsk_fail(errno, "stats on %s queue %u: getsockopt(XDP_STATISTICS) failed", s->port.ifname,
				 s->port.queue);
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
	if (sock_usable(s, "zerocopy"))
		return -EBADF;
	return s->port.zerocopy ? 1 : 0;
}

int lxsk_ring_state(const struct lxsk_sock *s, int ring, struct lxsk_ring_state *st)
{
	memset(st, 0, sizeof(*st));
	if (sock_usable(s, "ring state"))
		return -EBADF;
	if (ring < LXSK_RING_FILL || ring > LXSK_RING_TX)
		return lxsk_fail(EINVAL, "ring state: no ring %d", ring);
	ring_state(&s->port, ring, st);
	return 0;
}

int lxsk_ring_entries(const struct lxsk_sock *s, int ring, struct lxsk_ring_entry *out, uint32_t max,
		      uint32_t *consumer)
{
	const struct port *p = &s->port;

	if (sock_usable(s, "ring entries"))
		return -EBADF;
	if (ring < LXSK_RING_FILL || ring > LXSK_RING_TX)
		return lxsk_fail(EINVAL, "ring entries on %s queue %u: no ring %d", p->ifname, p->queue, ring);
	if ((ring == LXSK_RING_RX && !p->has_rx) || (ring == LXSK_RING_TX && !p->has_tx))
		return lxsk_fail(EINVAL, "ring entries on %s queue %u: the socket has no %s ring", p->ifname, p->queue,
				 ring == LXSK_RING_RX ? "RX" : "TX");
	if (max && !out)
		return lxsk_fail(EINVAL, "ring entries on %s queue %u: no room given for %u entries", p->ifname,
				 p->queue, max);
	return (int)ring_entries(p, ring, out, max, consumer);
}
