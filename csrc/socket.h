/* Layer 4 of the core: AF_XDP sockets.  Binding over libxdp (shared UMEM,
 * ring pairs), options, statistics and closing. */
#ifndef LXSK_SOCKET_H
#define LXSK_SOCKET_H

#include <sys/types.h>

#include "ring.h"
#include "meta.h"

struct lxsk_sock {
	struct port port; /* first: the hot path reaches it with no offset */
	struct lxsk_umem *u; /* the handle it was made through (a reference) */
	struct xsk_socket *xs;
	struct link node; /* in u->socks */
	int ifindex;
	int tx_budget;
	bool closed;
	bool is_first; /* bound on the UMEM's own fd */
	bool rx_meta;  /* its UMEM guards RX metadata (meta.h) */
	bool tx_time;  /* send records tx_ns */
	int64_t tx_ns; /* CLOCK_MONOTONIC when the last send handed frames to the kernel */
	pid_t pid;
};

static inline struct lxsk_sock *sock_of_node(struct link *l)
{
	return (struct lxsk_sock *)((char *)l - __builtin_offsetof(struct lxsk_sock, node));
}

/* A socket over rings that someone other than libxdp set up, for a UMEM
 * made with umem_make (not registered with the kernel): a simulated kernel,
 * or rings mapped by hand.  The ring structs are copied in (fill and
 * completion only when the pair is new), the memory they point to must
 * outlive the socket, and fd is what kicks and polls go to (-1: none; such
 * rings must never ask for a wakeup).  Checked and counted in as
 * lxsk_sock_new does; closed and freed the same way. */
struct sock_rings {
	struct xsk_ring_prod fq;
	struct xsk_ring_cons cq;
	struct xsk_ring_cons rx;
	struct xsk_ring_prod tx;
	int fd;
};
struct lxsk_sock *sock_new_on_rings(struct lxsk_umem *u, const struct lxsk_sock_opts *o, const struct sock_rings *r);

/* 0, or an error naming `what` when the socket is closed. */
int sock_usable(const struct lxsk_sock *s, const char *what);

#endif
