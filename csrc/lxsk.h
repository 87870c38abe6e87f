/* lua-xsk core: the C API that Lua reaches through the FFI.
 *
 * Every function that can fail returns a negative errno (or NULL) and leaves a
 * message naming the interface, queue and errno in lxsk_errmsg().  The lines
 * between the FFI markers are the FFI's declarations too: the build cuts them
 * out (mk/gen-cdefs.awk) and lua/xsk/cdef.lua hands them to ffi.cdef, so they
 * must stay plain C declarations without preprocessor lines.
 */
#ifndef LXSK_H
#define LXSK_H

#include <stdint.h>

/* FFI: begin */
/* Who holds a frame.  The core keeps one byte per frame and checks every
 * hand-over against it, so a frame the kernel owns is never handed out twice. */
enum lxsk_owner {
	LXSK_OWN_POOL = 0, /* free, in the UMEM's pool */
	LXSK_OWN_FILL = 1, /* on a fill ring or an RX ring: the kernel's */
	LXSK_OWN_USER = 2, /* received or allocated: the script's */
	LXSK_OWN_TX = 3,   /* on a TX or completion ring: the kernel's */
};

/* One frame handed to the script.  data points into UMEM at addr. */
struct lxsk_frame {
	uint8_t *data;
	uint64_t addr;    /* UMEM offset of the first packet byte */
	uint32_t len;     /* packet length */
	uint32_t options; /* xdp_desc options (XDP_PKT_CONTD for multi-buffer) */
	uint32_t umem_id; /* which UMEM the frame belongs to */
	uint32_t cap;     /* bytes from data to the end of the frame */
};

/* A batch of frames; allocated by Lua as a variable-length struct. */
struct lxsk_batch {
	uint32_t n;   /* frames in use */
	uint32_t cap; /* room in f[] */
	struct lxsk_frame f[];
};

struct lxsk_umem_opts {
	uint32_t frame_count;
	uint32_t frame_size;
	uint32_t frame_headroom;
	uint32_t fill_size;
	uint32_t comp_size;
	int32_t hugepages;
};

struct lxsk_umem_info {
	uint8_t *area;
	uint64_t size;
	uint32_t id;
	uint32_t frame_count;
	uint32_t frame_size;
	uint32_t frame_headroom;
	uint32_t data_offset; /* from chunk start to packet data */
	uint32_t fill_size;
	uint32_t comp_size;
	uint32_t pool_count;
	uint32_t sockets;
	int32_t closed;
};

enum lxsk_bind_mode { LXSK_BIND_AUTO = 0, LXSK_BIND_COPY = 1, LXSK_BIND_ZEROCOPY = 2 };
enum lxsk_attach_mode { LXSK_ATTACH_AUTO = 0, LXSK_ATTACH_NATIVE = 1, LXSK_ATTACH_SKB = 2 };

struct lxsk_sock_opts {
	const char *ifname;
	uint32_t queue;
	uint32_t rx_size; /* 0: no RX ring (TX-only socket) */
	uint32_t tx_size; /* 0: no TX ring (RX-only socket) */
	int32_t bind_mode;
	int32_t attach_mode;
	int32_t need_wakeup;
	int32_t load_program; /* 0: the user manages the XDP program and its XSKMAP */
	int32_t busy_poll_us;     /* 0: off */
	int32_t busy_poll_budget; /* 0: kernel default */
	int32_t prefer_busy_poll;
	uint32_t tx_budget; /* XDP_MAX_TX_SKB_BUDGET; 0: kernel default */
	int32_t auto_fill;  /* keep the fill ring topped up from the pool */
	int32_t multi_buffer; /* XDP_USE_SG: packets may span several descriptors */
};

struct lxsk_stats {
	uint64_t rx_dropped;
	uint64_t rx_invalid_descs;
	uint64_t tx_invalid_descs;
	uint64_t rx_ring_full;
	uint64_t rx_fill_ring_empty_descs;
	uint64_t tx_ring_empty_descs;
};

enum lxsk_ring_id { LXSK_RING_FILL = 0, LXSK_RING_COMP = 1, LXSK_RING_RX = 2, LXSK_RING_TX = 3 };

struct lxsk_ring_state {
	uint32_t size;
	uint32_t entries; /* descriptors in the ring right now */
	uint32_t needs_wakeup;
	uint32_t present;
};

struct lxsk_umem;
struct lxsk_sock;

const char *lxsk_errmsg(void);
int lxsk_errno(void);

/* UMEM */
struct lxsk_umem *lxsk_umem_new(const struct lxsk_umem_opts *o);
void lxsk_umem_close(struct lxsk_umem *u); /* closes its sockets too; idempotent */
void lxsk_umem_free(struct lxsk_umem *u);  /* for the GC: close, then free the struct */
void lxsk_umem_get_info(const struct lxsk_umem *u, struct lxsk_umem_info *info);
int lxsk_umem_owner(const struct lxsk_umem *u, uint64_t addr);
int lxsk_alloc(struct lxsk_umem *u, struct lxsk_batch *b, uint32_t n, uint32_t len);
int lxsk_release(struct lxsk_umem *u, struct lxsk_batch *b);
int lxsk_frame_check(const struct lxsk_umem *u, const struct lxsk_frame *f);

/* Sockets */
struct lxsk_sock *lxsk_sock_new(struct lxsk_umem *u, const struct lxsk_sock_opts *o);
void lxsk_sock_close(struct lxsk_sock *s); /* idempotent */
void lxsk_sock_free(struct lxsk_sock *s);  /* for the GC */
int lxsk_sock_fd(const struct lxsk_sock *s);
int lxsk_sock_ifindex(const struct lxsk_sock *s);
int lxsk_sock_stats(struct lxsk_sock *s, struct lxsk_stats *st);
int lxsk_sock_zerocopy(struct lxsk_sock *s);
int lxsk_sock_tx_budget(struct lxsk_sock *s);
int lxsk_ring_state(const struct lxsk_sock *s, int ring, struct lxsk_ring_state *st);

/* The four rings, one hand-over at a time (the xsk-rs level). */
int lxsk_fill_produce(struct lxsk_sock *s, struct lxsk_batch *b);
int lxsk_comp_consume(struct lxsk_sock *s, struct lxsk_batch *b, uint32_t max);
int lxsk_rx_consume(struct lxsk_sock *s, struct lxsk_batch *b, uint32_t max);
int lxsk_tx_produce(struct lxsk_sock *s, struct lxsk_batch *b);
int lxsk_fill_needs_wakeup(const struct lxsk_sock *s);
int lxsk_tx_needs_wakeup(const struct lxsk_sock *s);
int lxsk_kick_tx(struct lxsk_sock *s);
int lxsk_poll(struct lxsk_sock *s, int events, int timeout_ms);

/* Batches: the hot path.  Each is one FFI call per burst. */
int lxsk_refill(struct lxsk_sock *s);
int lxsk_recycle(struct lxsk_sock *s);
int lxsk_recv(struct lxsk_sock *s, struct lxsk_batch *b, int timeout_ms);
int lxsk_send(struct lxsk_sock *s, struct lxsk_batch *b);
int lxsk_forward(struct lxsk_sock *dst, struct lxsk_batch *b);
int lxsk_flush(struct lxsk_sock *s, int timeout_ms);

/* Network namespaces, for specs, examples and tools that set up veth pairs. */
int lxsk_netns_enter(const char *name);
int lxsk_netns_leave(void);
int lxsk_private_bpffs(void);

/* What the C compiler made of the FFI sections (abi.c): struct sizes, enum
 * values and function names, for the spec that checks the FFI agrees. */
enum lxsk_abi_kind { LXSK_ABI_SIZE = 0, LXSK_ABI_CONST = 1, LXSK_ABI_FUNC = 2 };
int lxsk_abi_count(void);
int lxsk_abi_get(int i, int32_t *kind, const char **name, int64_t *value);
/* FFI: end */

#endif
