/* Private structures of the core.  Lua sees them only as opaque pointers. */
#ifndef LXSK_INTERNAL_H
#define LXSK_INTERNAL_H

#include <net/if.h>
#include <stdbool.h>
#include <xdp/xsk.h>

#include "lxsk.h"

/* Newer uapi than Debian's linux-libc-dev 6.1. */
#ifndef XDP_USE_SG
#define XDP_USE_SG (1 << 4)
#endif
#ifndef XDP_PKT_CONTD
#define XDP_PKT_CONTD (1 << 0)
#endif
#ifndef XDP_MAX_TX_SKB_BUDGET
#define XDP_MAX_TX_SKB_BUDGET 9
#endif
#ifndef SO_PREFER_BUSY_POLL
#define SO_PREFER_BUSY_POLL 69
#endif
#ifndef SO_BUSY_POLL_BUDGET
#define SO_BUSY_POLL_BUDGET 70
#endif

/* A frame's state byte: owner in the low bits, ring pair slot above. */
#define OWN_MASK 0x3u
#define PAIR_SHIFT 2
#define LXSK_MAX_PAIRS 63

enum pair_state { PAIR_UNUSED = 0, PAIR_FRESH, PAIR_LIVE, PAIR_DEAD };

/* The fill and completion rings of one (netns, interface, queue).  libxdp keeps
 * pointers to these and uses them again in xsk_socket__delete, so they live in
 * the UMEM struct, which outlives every socket. */
struct lxsk_pair {
	struct xsk_ring_prod fq;
	struct xsk_ring_cons cq;
	uint64_t netns_cookie;
	int ifindex;
	uint32_t queue;
	int refs; /* live sockets on this pair */
	int rx_refs; /* of those, the ones with an RX ring */
	bool prog_loaded; /* libxdp loaded the XDP program for this queue */
	enum pair_state state;
};

struct lxsk_umem {
	uint32_t id;
	struct xsk_umem *xu;
	uint8_t *area;
	uint64_t size;
	bool huge;
	uint32_t frame_count, frame_size, frame_shift, headroom;
	uint32_t data_offset; /* XDP_PACKET_HEADROOM + headroom */
	uint32_t fill_size, comp_size;
	uint32_t fill_target; /* frames auto-fill keeps on a fill ring */
	uint8_t *state;      /* one byte a frame */
	uint64_t *pool;      /* free chunk addresses, a stack */
	uint32_t pool_count;
	struct lxsk_pair pairs[LXSK_MAX_PAIRS];
	struct lxsk_sock *socks; /* open sockets, a list */
	uint32_t nsocks;
	bool had_sockets;
	bool closed;
	/* libxdp binds the first socket on the UMEM's own fd and leaves that fd
	 * bound when the socket is deleted: its queue stays taken until the
	 * UMEM closes. */
	bool first_gone;
	int first_ifindex;
	uint32_t first_queue;
	uint64_t first_cookie;
};

struct lxsk_sock {
	struct lxsk_umem *umem;
	struct xsk_socket *xs;
	struct xsk_ring_cons rx;
	struct xsk_ring_prod tx;
	struct lxsk_pair *pair;
	uint8_t pair_tag; /* slot << PAIR_SHIFT */
	int fd;
	int ifindex;
	uint32_t queue;
	char ifname[IF_NAMESIZE];
	bool has_rx, has_tx;
	bool closed;
	bool auto_fill;
	bool is_first; /* bound on the UMEM's own fd */
	bool multi_buffer; /* bound with XDP_USE_SG */
	int tx_budget;
	struct lxsk_sock *next;
};

/* error.c */
int lxsk_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lxsk_libxdp_quiet(void);
const char *lxsk_libxdp_last(void);

/* umem.c */
static inline uint32_t frame_index(const struct lxsk_umem *u, uint64_t addr)
{
	return (uint32_t)(addr >> u->frame_shift);
}
static inline uint64_t chunk_of(const struct lxsk_umem *u, uint64_t addr)
{
	return addr & ~(uint64_t)(u->frame_size - 1);
}
static inline unsigned owner_of(const struct lxsk_umem *u, uint64_t addr)
{
	return u->state[frame_index(u, addr)] & OWN_MASK;
}
static inline void frame_fill(const struct lxsk_umem *u, struct lxsk_frame *f, uint64_t addr, uint32_t len,
			      uint32_t options)
{
	uint64_t end = chunk_of(u, addr) + u->frame_size;

	f->data = u->area + addr;
	f->addr = addr;
	f->len = len;
	f->options = options;
	f->umem_id = u->id;
	f->cap = (uint32_t)(end - addr);
}
/* A batch's count comes from Lua, which may have written anything into it. */
static inline int batch_bad(const struct lxsk_batch *b)
{
	return b->n > b->cap;
}
int lxsk_batch_error(const struct lxsk_batch *b, const char *what);
const char *lxsk_owner_name(unsigned owner);
/* The UMEM fields per-packet loops need, copied into locals: every store to
 * the owner bytes may alias anything (they are chars), so without the copy
 * the compiler reloads each field after each store. */
struct frame_map {
	uint8_t *state;
	uint8_t *area;
	uint64_t size;
	uint64_t chunk_mask;
	uint32_t id;
	uint32_t frame_size;
	uint32_t shift;
};

static inline struct frame_map map_of(const struct lxsk_umem *u)
{
	return (struct frame_map){ u->state, u->area, u->size, ~(uint64_t)(u->frame_size - 1),
				   u->id, u->frame_size, u->frame_shift };
}

static inline uint8_t *fm_state(const struct frame_map *m, uint64_t addr)
{
	return &m->state[addr >> m->shift];
}

static inline bool fm_user_frame(const struct frame_map *m, const struct lxsk_frame *f)
{
	return f->umem_id == m->id && f->addr < m->size &&
	       f->addr - (f->addr & m->chunk_mask) + f->len <= m->frame_size &&
	       (*fm_state(m, f->addr) & OWN_MASK) == LXSK_OWN_USER;
}

static inline void fm_fill(const struct frame_map *m, struct lxsk_frame *f, uint64_t addr, uint32_t len,
			   uint32_t options)
{
	f->data = m->area + addr;
	f->addr = addr;
	f->len = len;
	f->options = options;
	f->umem_id = m->id;
	f->cap = (uint32_t)((addr & m->chunk_mask) + m->frame_size - addr);
}

int lxsk_user_frame_error(const struct lxsk_umem *u, const struct lxsk_frame *f, uint32_t i, const char *what)
	__attribute__((cold, noinline));

/* A frame the script hands back must be one the script holds, of this UMEM,
 * with its packet inside its own chunk.  Inline: it runs for every packet;
 * the message is built out of line, only on failure. */
static inline int lxsk_check_user_frame(const struct lxsk_umem *u, const struct lxsk_frame *f, uint32_t i,
					const char *what)
{
	struct frame_map m = map_of(u);

	if (__builtin_expect(fm_user_frame(&m, f), 1))
		return 0;
	return lxsk_user_frame_error(u, f, i, what);
}

/* A frame the script may put on a TX ring: its own, not empty, and marked as
 * one part of a longer packet only on a multi-buffer socket (contd_bad is
 * XDP_PKT_CONTD on the others).  The per-packet send loop runs this, so the
 * tests are combined without branches, except the one that keeps the owner
 * byte load inside the array; len - 1 < room also refuses len 0. */
static inline bool fm_tx_frame(const struct frame_map *m, const struct lxsk_frame *f, uint32_t contd_bad)
{
	uint64_t addr = f->addr;
	uint32_t room = m->frame_size - (uint32_t)(addr & ~m->chunk_mask);
	unsigned wrong;

	if (addr >= m->size)
		return false;
	wrong = (f->umem_id ^ m->id) | (f->options & contd_bad) |
		((*fm_state(m, addr) & OWN_MASK) ^ LXSK_OWN_USER) | (f->len - 1u >= room);
	return !wrong;
}

static inline void lxsk_pool_put(struct lxsk_umem *u, uint64_t addr)
{
	uint64_t chunk = chunk_of(u, addr);

	u->state[frame_index(u, chunk)] = LXSK_OWN_POOL;
	u->pool[u->pool_count++] = chunk;
}
void lxsk_umem_unlink_sock(struct lxsk_umem *u, struct lxsk_sock *s);
void lxsk_umem_reclaim_pair(struct lxsk_umem *u, const struct lxsk_pair *p);
int lxsk_sock_usable(const struct lxsk_sock *s, const char *what);

/* leftover.c */
int lxsk_prog_sockets(int prog_fd, int ifindex, int queues);
int lxsk_clear_leftover(int ifindex, const char *ifname, int queues);

/* ring.c, shared with the batch calls */
int lxsk_tx_frame_error(const struct lxsk_sock *s, const struct lxsk_frame *f, uint32_t i, const char *what)
	__attribute__((cold, noinline));
int lxsk_comp_take(struct lxsk_sock *s, struct lxsk_batch *b, uint32_t max, int to_pool);
int lxsk_rx_take(struct lxsk_sock *s, struct lxsk_batch *b, uint32_t max, const char *what);
/* Multi-buffer: a packet is a run of descriptors, all but the last with
 * XDP_PKT_CONTD.  The error paths of the packet checks, out of line. */
int lxsk_rx_too_small(struct lxsk_sock *s, uint32_t room, const char *what) __attribute__((cold, noinline));
int lxsk_tx_mid_packet(const struct lxsk_sock *s, const struct lxsk_batch *b, const char *what)
	__attribute__((cold, noinline));
int lxsk_tx_too_big(const struct lxsk_sock *s, const struct lxsk_batch *b, const char *what)
	__attribute__((cold, noinline));
/* A batch for TX must end on a packet's last descriptor. */
static inline bool batch_ends_mid_packet(const struct lxsk_batch *b)
{
	return b->n && (b->f[b->n - 1].options & XDP_PKT_CONTD);
}

#endif
