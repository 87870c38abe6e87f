/* Layer 4 of the core: AF_XDP sockets.  Binding over libxdp (shared UMEM,
 * ring pairs), options, statistics and closing. */
#ifndef LXSK_SOCKET_H
#define LXSK_SOCKET_H

#include <sys/types.h>

#include "ring.h"

struct lxsk_sock {
	struct port port; /* first: the hot path reaches it with no offset */
	struct lxsk_umem *u; /* the handle it was made through (a reference) */
	struct xsk_socket *xs;
	struct link node; /* in u->socks */
	int ifindex;
	int tx_budget;
	bool closed;
	bool is_first; /* bound on the UMEM's own fd */
	pid_t pid;
};

static inline struct lxsk_sock *sock_of_node(struct link *l)
{
	return (struct lxsk_sock *)((char *)l - __builtin_offsetof(struct lxsk_sock, node));
}

/* 0, or an error naming `what` when the socket is closed. */
int sock_usable(const struct lxsk_sock *s, const char *what);

#endif
