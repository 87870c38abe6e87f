/* Layer 1 of the core: frames.  Who holds each frame of a UMEM, the pools of
 * free frames, batches, and every reason a frame is refused.  Nothing here
 * knows about rings or sockets; the layers above hand frames over only
 * through these primitives.
 *
 * Each frame has one owner byte: bits 0-1 say who holds it (enum lxsk_owner),
 * bits 2-7 a tag.  For LXSK_OWN_POOL and LXSK_OWN_USER the tag is the
 * partition (the script, or the worker, whose pool or batches hold it); for
 * LXSK_OWN_FILL and LXSK_OWN_TX it is the ring pair (the fill and completion
 * rings of one interface queue) whose rings hold it.  A hand-over compares
 * the whole byte with the one it expects, so a frame of another partition,
 * another pair or the kernel is refused by a single compare.
 *
 * The C side never trusts what Lua can write: a batch's real capacity lives
 * in a head in front of it that Lua cannot reach through its fields, and a
 * frame's bounds come from its address and the UMEM's geometry, never from
 * the frame's own data or cap fields. */
#ifndef LXSK_FRAMES_H
#define LXSK_FRAMES_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "lxsk.h"
#include "uapi.h"

#define LXSK_OWN_MASK 0x3u
#define LXSK_TAG_SHIFT 2
#define LXSK_MAX_TAGS 63 /* tags 0..62 */
/* Tag 63 is no partition's and no pair's: a frame in a channel between
 * partitions (LXSK_OWN_USER), or in the UMEM's lost and found, where the
 * frames of a closed partition or channel wait for a partition to take them
 * (LXSK_OWN_POOL).  No partition's claim or kernel ring matches either. */
#define LXSK_SPARE_TAG 63

static inline uint8_t lxsk_owner_byte(unsigned owner, unsigned tag)
{
	return (uint8_t)(owner | (tag << LXSK_TAG_SHIFT));
}

/* The geometry and owner bytes of one UMEM.  Small and read-only once made:
 * per-packet loops copy it into a local, because every store to an owner
 * byte (a char) may alias anything and would make the compiler reload each
 * field after it. */
struct frames {
	uint8_t *state; /* one owner byte a frame */
	uint8_t *area;
	uint64_t size;
	uint64_t chunk_mask; /* ~(frame_size - 1) */
	uint32_t frame_size;
	uint32_t shift; /* log2(frame_size) */
	uint32_t count;
	uint32_t data_offset; /* XDP_PACKET_HEADROOM + user headroom */
	uint32_t id;          /* the UMEM's id, stamped into every frame handed out */
};

/* One partition's free frames: a stack of chunk addresses.  A cache line of
 * its own: the pools of all partitions sit side by side in the UMEM, and
 * each is written by its own thread on every burst. */
struct pool {
	uint64_t *stack;
	uint32_t count;
	uint32_t cap;
	uint8_t tag; /* the partition */
} __attribute__((aligned(64)));

/* In front of every batch, where Lua's fields do not reach: what the batch
 * really is. */
struct batch_head {
	uint64_t magic;
	uint32_t cap;
	uint32_t pad;
	const struct frames *frames; /* whose frames it may hold */
	struct pool *pool;            /* the partition it belongs to */
	void *holder;                 /* for the layer that made it */
	struct batch_head *prev, *next;
};

#define LXSK_BATCH_MAGIC 0x6c78736b62617463ull /* "lxskbatc" */

static inline struct batch_head *batch_head_of(const struct lxsk_batch *b)
{
	return (struct batch_head *)((char *)b - sizeof(struct batch_head));
}

static inline struct lxsk_batch *batch_of(struct batch_head *h)
{
	return (struct lxsk_batch *)(h + 1);
}

struct batch_head *frames_batch_refusal(const struct lxsk_batch *b, const char *what)
	__attribute__((cold, noinline));

/* The batch's head, or NULL (with a message) when b is not a batch made by
 * frames_batch_new or its count is past its real capacity. */
static inline struct batch_head *frames_batch(const struct lxsk_batch *b, const char *what)
{
	struct batch_head *h;

	if (__builtin_expect(!b, 0))
		return frames_batch_refusal(b, what);
	h = batch_head_of(b);
	if (__builtin_expect(h->magic != LXSK_BATCH_MAGIC || b->n > h->cap, 0))
		return frames_batch_refusal(b, what);
	return h;
}

struct lxsk_batch *frames_batch_new(const struct frames *fr, struct pool *pool, uint32_t cap, void *holder);
void frames_batch_free(struct lxsk_batch *b);

static inline uint8_t *frame_state(const struct frames *m, uint64_t addr)
{
	return &m->state[addr >> m->shift];
}

/* Every owner byte is read and written with relaxed atomic loads and stores.
 * A byte has one writer at a time (the thread whose partition or ring pair
 * holds the frame; a frame moves to another thread only through a channel,
 * whose ring indexes order the two writes), but the scans that take back a
 * ring pair's or a closed partition's frames read every byte while other
 * threads write their own.  On x86-64 and arm64 these compile to the plain
 * byte moves they replace. */
static inline uint8_t own_get(const uint8_t *st)
{
	return __atomic_load_n(st, __ATOMIC_RELAXED);
}

static inline void own_set(uint8_t *st, uint8_t v)
{
	__atomic_store_n(st, v, __ATOMIC_RELAXED);
}

/* Bytes from addr to the end of its frame. */
static inline uint32_t frame_room(const struct frames *m, uint64_t addr)
{
	return m->frame_size - (uint32_t)(addr & ~m->chunk_mask);
}

/* Entries and descriptors are read and written a 64-bit word at a time where
 * two 32-bit fields lie side by side: len and options (in both), umem_id and
 * cap, options and umem_id.  side_by_side makes such a word from the two
 * values, and the accessors take the bytes from the start of the struct, so
 * that no access reaches past the field it is named after. */
static inline uint64_t side_by_side(uint32_t first, uint32_t second)
{
	const uint32_t pair[2] = { first, second };
	uint64_t w;

	memcpy(&w, pair, sizeof(w));
	return w;
}

_Static_assert(__builtin_offsetof(struct lxsk_frame, options) == __builtin_offsetof(struct lxsk_frame, len) + 4 &&
		       __builtin_offsetof(struct lxsk_frame, umem_id) == __builtin_offsetof(struct lxsk_frame, len) + 8 &&
		       __builtin_offsetof(struct lxsk_frame, cap) == __builtin_offsetof(struct lxsk_frame, len) + 12 &&
		       sizeof(struct lxsk_frame) == __builtin_offsetof(struct lxsk_frame, len) + 16,
	       "struct lxsk_frame ends in len, options, umem_id, cap");
_Static_assert(__builtin_offsetof(struct xdp_desc, options) == __builtin_offsetof(struct xdp_desc, len) + 4,
	       "struct xdp_desc has options right after len");

/* Where the words of an entry start. */
enum frame_word_at {
	FRAME_LEN_OPTIONS = __builtin_offsetof(struct lxsk_frame, len),
	FRAME_OPTIONS_ID = __builtin_offsetof(struct lxsk_frame, options),
	FRAME_ID_CAP = __builtin_offsetof(struct lxsk_frame, umem_id),
};

static inline uint64_t frame_word(const struct lxsk_frame *f, enum frame_word_at at)
{
	uint64_t w;

	memcpy(&w, (const char *)f + at, sizeof(w));
	return w;
}

static inline void frame_set_word(struct lxsk_frame *f, enum frame_word_at at, uint64_t w)
{
	memcpy((char *)f + at, &w, sizeof(w));
}

static inline uint64_t desc_len_options(const struct xdp_desc *d)
{
	uint64_t w;

	memcpy(&w, (const char *)d + __builtin_offsetof(struct xdp_desc, len), sizeof(w));
	return w;
}

static inline void desc_set_len_options(struct xdp_desc *d, uint64_t w)
{
	memcpy((char *)d + __builtin_offsetof(struct xdp_desc, len), &w, sizeof(w));
}

/* Fills an entry for the frame at addr; len_options: its len and options,
 * side_by_side. */
static inline void frame_fill(const struct frames *m, struct lxsk_frame *f, uint64_t addr, uint64_t len_options)
{
	f->data = m->area + addr;
	f->addr = addr;
	frame_set_word(f, FRAME_LEN_OPTIONS, len_options);
	frame_set_word(f, FRAME_ID_CAP, side_by_side(m->id, frame_room(m, addr)));
}

/* The part of a freshly handed-out frame's entry that is the same for every
 * frame: it sits at data_offset in its chunk, has length len, no options.
 * The entry's last 16 bytes are written as one copy (as two words, or four
 * fields, the compiler makes a meal of it), from one 16-byte vector value:
 * the owner-byte stores are atomic and GCC reloads whatever lives in memory
 * after each of them, so a tail kept in a struct was read back from the
 * stack for every frame; a vector stays in a register. */
typedef uint32_t fresh_tail __attribute__((vector_size(16)));

struct fresh_entry {
	uint8_t *area;
	uint32_t data_offset;
	fresh_tail tail; /* len, options, umem_id, cap, as in struct lxsk_frame */
};

static inline struct fresh_entry frames_fresh_entry(const struct frames *m, uint32_t len)
{
	return (struct fresh_entry){
		.area = m->area,
		.data_offset = m->data_offset,
		.tail = { len, 0, m->id, m->frame_size - m->data_offset },
	};
}

static inline void frame_fill_fresh(struct lxsk_frame *f, const struct fresh_entry *t, uint64_t chunk)
{
	const uint64_t addr = chunk + t->data_offset;
	const fresh_tail tail = t->tail;

	f->data = t->area + addr;
	f->addr = addr;
	memcpy((char *)f + FRAME_LEN_OPTIONS, &tail, sizeof(tail));
}

/* What a hand-over from the script demands of each frame: its owner byte,
 * the least length (1 for TX, where the kernel refuses empty descriptors; 0
 * otherwise) and the option bits it must not have. */
struct claim_rule {
	uint8_t owner;
	uint32_t min_len;
	uint32_t bad_options;
};

/* Where claimed frames go, one per frame as it is claimed. */
enum claim_sink { SINK_NONE, SINK_DESC, SINK_ADDR, SINK_POOL };

/* Nonzero when the bytes from the frame offset off to off + len do not lie
 * inside a frame of 1 << shift bytes (offset_mask = its size - 1), or len is
 * less than min_len.  With L = len, or len + 2^32 when len < min_len (the
 * subtraction wraps), the bytes fit when off + L <= frame_size, which is
 * (off + L + frame_size - 1) >> shift < 2: a word or-ed with the claim's
 * other tests.  With a constant min_len of 1 or more (TX) it is simpler:
 * off + len - 1 < frame_size. */
static inline uint64_t frame_len_wrong(uint64_t off, uint32_t len, uint32_t min_len, uint32_t shift,
				       uint64_t offset_mask)
{
	if (__builtin_constant_p(min_len) && min_len >= 1)
		return (off + (uint32_t)(len - min_len) + (min_len - 1)) >> shift;
	return (off + (uint32_t)(len - min_len) + min_len + offset_mask) >> shift >> 1;
}

/* The one claim transaction: moves frames f[0..n) from the script to owner
 * byte `to`, each checked by rule r and written to the sink (descriptors,
 * bare chunk addresses or a pool's stack) as it passes.  Marks as it goes, so
 * a frame listed twice is refused at its second place.  All or nothing: on
 * the first refusal every mark is undone and its index returned; n when all
 * passed.  The sink kind is a constant at every call, so each call site
 * compiles to a loop of its own.
 *
 * The send loop runs this for every packet, so it is written for the
 * compiler: everything it needs is in locals first (a store to an owner byte,
 * a char, may alias anything and would make it reload every field reached
 * through a pointer), and after the test that keeps the owner byte load
 * inside the array the others are combined without branches:
 *  - options and umem_id, loaded as one word: no bit the rule refuses, and
 *    this UMEM's id;
 *  - the owner byte is the rule's;
 *  - the packet's bytes lie inside the frame, and len is at least min_len
 *    (frame_len_wrong: a word that keeps no bound in a register). */
static inline __attribute__((always_inline)) uint32_t frames_claim(const struct frames *fr,
								   const struct lxsk_frame *f, uint32_t n,
								   struct claim_rule r, uint8_t to,
								   enum claim_sink kind, void *sink)
{
	uint8_t *const state = fr->state;
	const uint64_t size = fr->size, chunk_mask = fr->chunk_mask, offset_mask = ~fr->chunk_mask;
	const uint32_t shift = fr->shift, owner = r.owner, fr_id = fr->id;
	const uint64_t want = side_by_side(0, fr_id), looked_at = side_by_side(r.bad_options, ~0u);
	const struct lxsk_frame *e = f, *const end = f + n;
	struct xdp_desc *d = sink;
	uint64_t *a = sink;
	struct pool *p = sink;
	uint64_t *stack = kind == SINK_POOL ? p->stack + p->count : NULL;

	for (; e < end; e++) {
		const uint64_t addr = e->addr;
		const uint32_t len = e->len;
		uint64_t options_id, wrong;
		uint8_t *st;

		if (__builtin_expect(addr >= size, 0))
			break;
		st = state + (addr >> shift);
		/* A rule that refuses no option bit (release and fill say so
		 * with a constant) has only the id to compare. */
		if (__builtin_constant_p(r.bad_options) && !r.bad_options) {
			wrong = e->umem_id ^ fr_id;
		} else {
			options_id = frame_word(e, FRAME_OPTIONS_ID);
			wrong = (options_id ^ want) & looked_at;
		}
		wrong |= (own_get(st) ^ owner) | frame_len_wrong(addr & offset_mask, len, r.min_len, shift, offset_mask);
		if (__builtin_expect(wrong != 0, 0))
			break;
		own_set(st, to);
		switch (kind) {
		case SINK_DESC:
			/* len and options are laid out alike in both */
			d->addr = addr;
			desc_set_len_options(d, frame_word(e, FRAME_LEN_OPTIONS));
			d++;
			break;
		case SINK_ADDR: *a++ = addr & chunk_mask; break;
		case SINK_POOL: *stack++ = addr & chunk_mask; break;
		case SINK_NONE: break;
		}
	}
	if (__builtin_expect(e < end, 0)) {
		for (const struct lxsk_frame *g = f; g < e; g++)
			own_set(&state[g->addr >> shift], r.owner);
		return (uint32_t)(e - f);
	}
	if (kind == SINK_POOL)
		p->count += n;
	return n;
}

/* Undoes a claim of f[0..n) that succeeded: the frames are the script's
 * (owner byte `owner`) again. */
static inline void frames_unclaim(const struct frames *fr, const struct lxsk_frame *f, uint32_t n, uint8_t owner)
{
	for (uint32_t i = 0; i < n; i++)
		own_set(frame_state(fr, f[i].addr), owner);
}

/* The owner byte of the frame at addr if the frame is held as `from`, else
 * NULL. */
static inline uint8_t *frame_held_as(const struct frames *m, uint64_t addr, uint8_t from)
{
	uint8_t *st;

	if (addr >= m->size)
		return NULL;
	st = frame_state(m, addr);
	/* Never NULL; an atomic load, unlike a plain one, does not tell the
	 * compiler so, and the callers' NULL test would stay in their loops. */
	if (!st)
		__builtin_unreachable();
	return own_get(st) == from ? st : NULL;
}

/* A frame coming back from the kernel: its owner byte if the frame at addr
 * is held as `from`, else NULL.  The kernel only returns what it was given;
 * an address it was not given is skipped rather than handed out twice. */
static inline uint8_t *frame_from_kernel(const struct frames *m, uint64_t addr, uint8_t from)
{
	return frame_held_as(m, addr, from);
}

static inline void pool_put(struct pool *p, const struct frames *m, uint64_t addr)
{
	uint64_t chunk = addr & m->chunk_mask;

	own_set(frame_state(m, chunk), lxsk_owner_byte(LXSK_OWN_POOL, p->tag));
	p->stack[p->count++] = chunk;
}

/* Geometry and owner bytes for count frames of frame_size bytes at area. */
int frames_init(struct frames *fr, uint8_t *area, uint32_t count, uint32_t frame_size, uint32_t data_offset,
		uint32_t id);
void frames_fini(struct frames *fr);

/* A pool with room for every frame of the UMEM (frames move between the
 * pools of partitions), empty, or with every frame when `all`. */
int pool_init(struct pool *p, const struct frames *fr, uint8_t tag, bool all);
void pool_fini(struct pool *p);

/* Moves up to n frames from the pool to the end of the batch, each with
 * length len, as the partition's script's; returns how many. */
uint32_t pool_alloc(const struct frames *fr, struct pool *p, struct lxsk_batch *b, uint32_t n, uint32_t len);

/* Moves up to n frames from one partition's pool to another's. */
uint32_t pool_move(const struct frames *fr, struct pool *from, struct pool *to, uint32_t n);

/* Every frame whose owner byte is a or b goes to the pool (a ring pair that
 * lost its last socket: what its rings held cannot come back through them;
 * a partition that closed: what it held goes to the lost and found). */
uint32_t frames_reclaim(const struct frames *fr, uint8_t a, uint8_t b, struct pool *p);

/* Why frame b->f[i] failed rule r, as the error (lxsk_fail) to return;
 * `what` names the call and where ("send on veth0 queue 0"). */
int frames_refusal(const struct frames *fr, const struct lxsk_batch *b, uint32_t i, struct claim_rule r,
		   const char *what) __attribute__((cold, noinline));

/* Who holds a frame, in words, for messages. */
const char *frames_owner_name(uint8_t owner_byte, uint8_t my_tag);

/* b:push(f) and b:remove(i): the frame fields are read-only to Lua, so
 * descriptors move inside batches only through these. */
int frames_batch_push(struct lxsk_batch *b, const struct lxsk_frame *f);
int frames_batch_remove(struct lxsk_batch *b, uint32_t i);
/* Drops the first k frames of the batch, moving the rest to its front. */
void frames_batch_shift(struct lxsk_batch *b, uint32_t k);

#endif
