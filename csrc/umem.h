/* Layer 2 of the core: the UMEM.  Its memory, its registration with the
 * kernel (libxdp), its partitions, the fill and completion ring pairs of the
 * queues it serves, and how long all of that lives.
 *
 * Lifetime: a struct umem is counted (handles, sockets and batches each hold
 * one reference).  Closing (the last handle closes) unregisters it from the
 * kernel and replaces its memory with an inert mapping at the same address,
 * so a pointer a script kept into a closed UMEM reads zeros and writes into
 * nothing, and can never reach another UMEM's memory.  The mapping goes when
 * the last reference does.
 *
 * Threads: every frame, pool and pair belongs to one partition, and each
 * partition to one handle, used by one thread; the per-packet paths take no
 * lock.  What partitions share (the list of pairs, the socket count, handle
 * creation and closing, the lost and found) is changed under the UMEM's
 * lock.  A partition that closes while others live on leaves what it held
 * in the lost and found, where another partition takes it (umem_reclaim),
 * and its slot serves a new handle once nothing refers to the old one. */
#ifndef LXSK_UMEM_H
#define LXSK_UMEM_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>
#include <xdp/xsk.h>

#include "frames.h"

enum pair_state { PAIR_UNUSED = 0, PAIR_FRESH, PAIR_LIVE, PAIR_DEAD };

/* The fill and completion rings of one (netns, interface, queue).  libxdp
 * keeps pointers to these and uses them again in xsk_socket__delete, so they
 * live in the struct umem, which outlives every socket.  Cache-line aligned:
 * each partition's thread writes its pairs' cached ring indexes per burst. */
struct pair {
	struct xsk_ring_prod fq;
	struct xsk_ring_cons cq;
	uint64_t netns_cookie;
	int ifindex;
	uint32_t queue;
	int refs;         /* live sockets on this pair */
	int rx_refs;      /* of those, the ones with an RX ring */
	bool prog_loaded; /* libxdp loaded the XDP program for this queue */
	enum pair_state state;
	uint8_t tag;  /* its index: the tag of LXSK_OWN_FILL and LXSK_OWN_TX bytes */
	uint8_t part; /* the partition whose sockets use it */
} __attribute__((aligned(64)));

/* A doubly linked list node, for lists whose owner must not know the type of
 * its members (the handle's sockets are a higher layer's). */
struct link {
	struct link *prev, *next;
};

struct umem {
	pthread_mutex_t lock;
	int refs; /* atomic */
	pid_t pid; /* the process that made it: another (a fork) releases nothing shared */
	struct xsk_umem *xu;
	struct frames frames;
	bool huge;
	bool closed;
	bool rx_meta; /* made with rx_metadata: the metadata guard runs (meta.h) */
	uint32_t headroom;
	uint32_t fill_size, comp_size;
	uint32_t fill_target; /* frames auto-fill keeps on a fill ring */
	struct pool pools[LXSK_MAX_TAGS];
	struct pool lost; /* the lost and found (tag LXSK_SPARE_TAG), under lock */
	bool part_used[LXSK_MAX_TAGS];
	struct pair pairs[LXSK_MAX_TAGS];
	int handles; /* open handles */
	bool had_sockets;
	int nsocks;
	/* libxdp binds the first socket on the UMEM's own fd and leaves that fd
	 * bound when the socket is deleted: its queue stays taken until the
	 * UMEM closes. */
	bool first_gone;
	int first_ifindex;
	uint32_t first_queue;
	uint64_t first_cookie;
};

/* What struct lxsk_umem is: a handle, one partition's view of a UMEM, used
 * by one thread.  Counted: the Lua object that owns it, and each of its
 * batches and sockets, hold a reference; it holds one on its struct umem. */
struct lxsk_umem {
	struct umem *um;
	struct pool *pool;
	uint8_t part;
	bool closed;
	int refs;
	struct link socks;          /* its sockets (nodes inside the socket layer's structs) */
	struct batch_head batches;  /* its batches: a list through their heads */
	uint32_t nsocks;
};

static inline void link_init(struct link *l)
{
	l->prev = l->next = l;
}

static inline void link_add(struct link *head, struct link *l)
{
	l->next = head->next;
	l->prev = head;
	head->next->prev = l;
	head->next = l;
}

static inline void link_del(struct link *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
	link_init(l);
}

/* A UMEM the kernel does not know: its memory, owner bytes and first
 * handle, everything lxsk_umem_new makes but the registration.  Its first
 * pair's rings are zero until whoever drives them sets them up (the
 * socket layer's sock_new_on_rings); lxsk_umem_new registers it with the
 * kernel through libxdp, which sets them up. */
struct lxsk_umem *umem_make(const struct lxsk_umem_opts *o);

/* Whether this process made the UMEM (false in a forked child). */
bool umem_ours(const struct umem *um);

/* References on the UMEM itself, for objects that outlive any one handle
 * (a channel between partitions). */
void umem_ref(struct umem *um);
void umem_unref(struct umem *um);

/* The owner bytes of a frame in a channel, and of one in the lost and found. */
static inline uint8_t umem_in_channel(void)
{
	return lxsk_owner_byte(LXSK_OWN_USER, LXSK_SPARE_TAG);
}

static inline uint8_t umem_lost(void)
{
	return lxsk_owner_byte(LXSK_OWN_POOL, LXSK_SPARE_TAG);
}

/* Puts the frame at addr into the lost and found; the caller holds the
 * UMEM's lock and the UMEM is open. */
void umem_lose(struct umem *um, uint64_t addr);

/* 0 when the handle may move to another thread (open, no sockets, no
 * batches); else an error saying what it has. */
int umem_handle_movable(const struct lxsk_umem *u);

void handle_ref(struct lxsk_umem *u);
void handle_unref(struct lxsk_umem *u);

/* 0, or an error naming `what` when the handle is closed. */
int umem_usable(const struct lxsk_umem *u, const char *what);

/* The head of a batch of this handle's partition, or NULL with a message. */
struct batch_head *umem_batch(const struct lxsk_umem *u, const struct lxsk_batch *b, const char *what);

/* (handle.c) Every frame of b (a batch of this handle, checked) to the
 * pool, all or none: a bad frame anywhere releases none. */
int umem_release(struct lxsk_umem *u, struct lxsk_batch *b);

/* Ring pairs.  umem_pair_pick finds the pair for a queue or a free slot
 * (under the lock); the socket layer binds, then umem_pair_attach counts the
 * socket in.  umem_pair_detach counts it out and, when it was the pair's
 * last socket, returns every frame its rings held to the pool. */
struct pair *umem_pair_pick(struct umem *um, uint64_t cookie, int ifindex, uint32_t queue);
void umem_pair_attach(struct umem *um, struct pair *p, uint8_t part, uint64_t cookie, int ifindex, uint32_t queue,
		      bool rx, bool prog_loaded);
void umem_pair_detach(struct umem *um, struct pair *p, bool rx);

/* The partition a pair's frames return to. */
static inline struct pool *umem_pair_pool(struct umem *um, const struct pair *p)
{
	return &um->pools[p->part];
}

/* Closes a handle whose sockets are closed: empties its batches and, when it
 * was the UMEM's last open handle, closes the UMEM (unregisters it, makes its
 * memory inert).  Idempotent. */
void umem_handle_close(struct lxsk_umem *u);

#endif
