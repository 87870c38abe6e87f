/* lua-xsk core: the C API that Lua reaches through the FFI.
 *
 * Every function that can fail returns a negative errno (or NULL) and leaves a
 * message naming the interface, queue and errno in lxsk_errmsg().  The lines
 * between the FFI markers are the FFI's declarations too: the build cuts them
 * out (mk/gen-cdefs.awk) and lua/xsk/cdef.lua hands them to ffi.cdef, so they
 * must stay plain C declarations without preprocessor lines.  A field whose
 * comment starts with "read-only" is const to Lua.
 *
 * docs/ARCHITECTURE.md shows the layers behind this API and how a frame
 * travels through them.
 */
#ifndef LXSK_H
#define LXSK_H

#include <stdint.h>

#include "meta_abi.h"

/* FFI: begin */
/* Who holds a frame.  The core keeps one owner byte per frame and checks
 * every hand-over against it, so a frame the kernel owns is never handed out
 * twice. */
enum lxsk_owner {
	LXSK_OWN_POOL = 0, /* free, in a partition's pool */
	LXSK_OWN_FILL = 1, /* on a fill ring or an RX ring: the kernel's */
	LXSK_OWN_USER = 2, /* received or allocated: the script's */
	LXSK_OWN_TX = 3,   /* on a TX or completion ring: the kernel's */
	/* What lxsk_umem_owner also reports (no owner byte has these bits): */
	LXSK_OWN_CHANNEL = 4, /* in a channel between partitions */
	LXSK_OWN_LOST = 5,    /* of a closed partition or channel, until a partition reclaims it */
};

/* Descriptor options a frame may carry: more descriptors of this packet
 * follow (multi-buffer sockets only).  Every other bit is refused. */
enum lxsk_options { LXSK_PKT_CONTD = 1 };

/* One frame handed to the script.  data points into UMEM at addr. */
struct lxsk_frame {
	uint8_t *data;    /* read-only: the packet's first byte */
	uint64_t addr;    /* read-only: UMEM offset of the packet's first byte */
	uint32_t len;     /* packet length */
	uint32_t options; /* 0, or LXSK_PKT_CONTD on all but a multi-buffer packet's last frame */
	uint32_t umem_id; /* read-only: which UMEM the frame belongs to */
	uint32_t cap;     /* read-only: bytes from data to the end of the frame */
};

/* A batch of frames, made by lxsk_batch_new.  Its real capacity is kept
 * where Lua cannot change it; cap here is a read-only copy. */
struct lxsk_batch {
	uint32_t n;       /* frames in use */
	uint32_t cap;     /* read-only: room in f[] */
	uint32_t umem_id; /* read-only: the UMEM whose frames it holds */
	uint32_t part;    /* read-only: the partition (script or worker) it belongs to */
	struct lxsk_frame f[];
};

struct lxsk_umem_opts {
	uint32_t frame_count;
	uint32_t frame_size;
	uint32_t frame_headroom;
	uint32_t fill_size;
	uint32_t comp_size;
	int32_t hugepages;
	int32_t rx_metadata; /* guard the RX metadata in front of received packets (meta.h) */
};

struct lxsk_umem_info {
	uint8_t *area;
	uint64_t size;
	uint32_t id;
	uint32_t frame_count;
	uint32_t frame_size;
	uint32_t frame_headroom;
	uint32_t data_offset; /* from a frame's start to its packet data */
	uint32_t fill_size;
	uint32_t comp_size;
	uint32_t pool_count;  /* free frames in this handle's partition */
	uint32_t sockets;     /* open sockets of this handle */
	uint32_t part;        /* this handle's partition */
	int32_t closed;
	int32_t rx_metadata;
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
	int32_t load_program;     /* 0: the user manages the XDP program and its XSKMAP */
	int32_t busy_poll_us;     /* 0: off */
	int32_t busy_poll_budget; /* 0: kernel default */
	int32_t prefer_busy_poll;
	uint32_t tx_budget;   /* XDP_MAX_TX_SKB_BUDGET; 0: kernel default */
	int32_t auto_fill;    /* keep the fill ring topped up from the pool */
	int32_t multi_buffer; /* XDP_USE_SG: packets may span several descriptors */
	int32_t tx_time;      /* record when each send hands its frames to the kernel */
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

/* One entry of a ring as lxsk_ring_entries reads it: fill and completion
 * rings hold bare addresses (len and options 0), RX and TX rings descriptors. */
struct lxsk_ring_entry {
	uint64_t addr;
	uint32_t len;
	uint32_t options;
};

/* poll events */
enum lxsk_events { LXSK_POLL_IN = 1, LXSK_POLL_OUT = 2 };

struct lxsk_umem;
struct lxsk_sock;

const char *lxsk_errmsg(void);
int lxsk_errno(void);

/* UMEM.  A struct lxsk_umem is a handle: one partition's view of a UMEM.  The
 * first handle owns every frame; lxsk_umem_share carves a partition of its
 * own for a worker.  The memory stays mapped while any handle, socket or
 * batch refers to it; closing the last handle closes the UMEM. */
struct lxsk_umem *lxsk_umem_new(const struct lxsk_umem_opts *o);
struct lxsk_umem *lxsk_umem_share(struct lxsk_umem *u, uint32_t frames);
/* Takes the frames of closed partitions and channels (the UMEM's lost and
 * found) into this handle's partition; returns how many. */
int lxsk_umem_reclaim(struct lxsk_umem *u);
void lxsk_umem_close(struct lxsk_umem *u); /* closes the handle's sockets, empties its batches; idempotent */
void lxsk_umem_free(struct lxsk_umem *u);  /* for the GC: close, then let go of the handle */
void lxsk_umem_get_info(const struct lxsk_umem *u, struct lxsk_umem_info *info);
int lxsk_umem_owner(const struct lxsk_umem *u, uint64_t addr);
int lxsk_alloc(struct lxsk_umem *u, struct lxsk_batch *b, uint32_t n, uint32_t len);
int lxsk_release(struct lxsk_umem *u, struct lxsk_batch *b);
/* Bytes from the frame's first packet byte to the end of its frame, when the
 * frame is the script's; a negative errno (and a message) otherwise. */
int lxsk_frame_room(const struct lxsk_umem *u, const struct lxsk_frame *f);
/* The RX metadata in front of a frame the script holds (a UMEM made with
 * rx_metadata): 1 and a copy in *out, 0 when the packet has none, a negative
 * errno (and a message) when the frame is not the script's. */
int lxsk_frame_rx_meta(const struct lxsk_umem *u, const struct lxsk_frame *f, struct lxsk_rx_meta *out);

/* Batches */
struct lxsk_batch *lxsk_batch_new(struct lxsk_umem *u, uint32_t cap);
void lxsk_batch_free(struct lxsk_batch *b);
int lxsk_batch_push(struct lxsk_batch *b, const struct lxsk_frame *f);
int lxsk_batch_remove(struct lxsk_batch *b, uint32_t i);
/* Copies len bytes from src into frames first .. first+n-1 of the batch (all
 * of them within b->n, the script's, with room for len) and sets their
 * length: a template stamped into a burst.  All or nothing; returns n. */
int lxsk_batch_fill(struct lxsk_batch *b, uint32_t first, uint32_t n, const void *src, uint32_t len);

/* Sockets */
struct lxsk_sock *lxsk_sock_new(struct lxsk_umem *u, const struct lxsk_sock_opts *o);
void lxsk_sock_close(struct lxsk_sock *s); /* returns the frames its rings held; idempotent */
void lxsk_sock_free(struct lxsk_sock *s);  /* for the GC */
int lxsk_sock_fd(const struct lxsk_sock *s);
int lxsk_sock_ifindex(const struct lxsk_sock *s);
int lxsk_sock_stats(struct lxsk_sock *s, struct lxsk_stats *st);
int lxsk_sock_zerocopy(struct lxsk_sock *s);
int lxsk_sock_tx_budget(struct lxsk_sock *s);
/* CLOCK_MONOTONIC ns when the last send that moved frames handed them to the
 * kernel (just before its first kick); 0 before the first; -EINVAL (and a
 * message) on a socket made without tx_time. */
int64_t lxsk_sock_tx_time(const struct lxsk_sock *s);
int lxsk_ring_state(const struct lxsk_sock *s, int ring, struct lxsk_ring_state *st);
/* The entries between the consumer and the producer of one ring (enum
 * lxsk_ring_id) right now, oldest first: up to max of them into out.  Returns
 * how many the ring holds (more than max: only max copied), or a negative
 * errno (closed socket, no such ring).  *consumer, when not NULL, gets the
 * consumer index they start at.  A slow path for checks and debugging: it
 * takes nothing and changes no owner. */
int lxsk_ring_entries(const struct lxsk_sock *s, int ring, struct lxsk_ring_entry *out, uint32_t max,
		      uint32_t *consumer);

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
