/* Frames: owner bytes, pools and batches (see frames.h), and the messages
 * that say why a frame was refused. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "frames.h"

int frames_init(struct frames *fr, uint8_t *area, uint32_t count, uint32_t frame_size, uint32_t data_offset,
		uint32_t id)
{
	*fr = (struct frames){
		.area = area,
		.size = (uint64_t)count * frame_size,
		.chunk_mask = ~(uint64_t)(frame_size - 1),
		.frame_size = frame_size,
		.shift = (uint32_t)__builtin_ctz(frame_size),
		.count = count,
		.data_offset = data_offset,
		.id = id,
	};
	fr->state = calloc(count, 1);
	if (!fr->state)
		return lxsk_fail(ENOMEM, "out of memory for the owner bytes of %u frames", count);
	return 0;
}

void frames_fini(struct frames *fr)
{
	free(fr->state);
	fr->state = NULL;
}

int pool_init(struct pool *p, const struct frames *fr, uint8_t tag, bool all)
{
	*p = (struct pool){ .cap = fr->count, .tag = tag };
	p->stack = calloc(fr->count, sizeof(*p->stack));
	if (!p->stack)
		return lxsk_fail(ENOMEM, "out of memory for a pool of %u frames", fr->count);
	if (all) {
		/* Highest address at the bottom of the stack, so frames go out
		 * in address order. */
		for (uint32_t i = 0; i < fr->count; i++)
			pool_put(p, fr, (uint64_t)(fr->count - 1 - i) << fr->shift);
	}
	return 0;
}

void pool_fini(struct pool *p)
{
	free(p->stack);
	p->stack = NULL;
	p->count = 0;
}

/* Each store to an owner byte may alias anything, so the loop reads nothing
 * through a pointer but the stack. */
uint32_t pool_alloc(const struct frames *fr, struct pool *p, struct lxsk_batch *b, uint32_t n, uint32_t len)
{
	uint8_t *const state = fr->state;
	const uint32_t shift = fr->shift;
	const uint8_t mine = lxsk_owner_byte(LXSK_OWN_USER, p->tag);
	const struct fresh_entry fresh = frames_fresh_entry(fr, len);
	struct lxsk_frame *f = &b->f[b->n];
	const uint64_t *top = p->stack + p->count;
	uint32_t got = n < p->count ? n : p->count;

	for (uint32_t i = 0; i < got; i++) {
		const uint64_t chunk = *--top;

		own_set(&state[chunk >> shift], mine);
		frame_fill_fresh(&f[i], &fresh, chunk);
	}
	p->count -= got;
	b->n += got;
	return got;
}

uint32_t pool_move(const struct frames *fr, struct pool *from, struct pool *to, uint32_t n)
{
	if (n > from->count)
		n = from->count;
	for (uint32_t i = 0; i < n; i++)
		pool_put(to, fr, from->stack[--from->count]);
	return n;
}

uint32_t frames_reclaim(const struct frames *fr, uint8_t a, uint8_t b, struct pool *p)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < fr->count; i++) {
		uint8_t st = own_get(&fr->state[i]);

		if (st == a || st == b) {
			pool_put(p, fr, (uint64_t)i << fr->shift);
			n++;
		}
	}
	return n;
}

const char *frames_owner_name(uint8_t owner_byte, uint8_t my_tag)
{
	unsigned tag = owner_byte >> LXSK_TAG_SHIFT;

	switch (owner_byte & LXSK_OWN_MASK) {
	case LXSK_OWN_POOL:
		if (tag == LXSK_SPARE_TAG)
			return "the UMEM's lost and found (frames of a closed worker or channel; umem:reclaim() takes them)";
		return tag == my_tag ? "the free pool" : "another partition's free pool";
	case LXSK_OWN_FILL: return "the kernel (on a fill or RX ring)";
	case LXSK_OWN_USER:
		if (tag == LXSK_SPARE_TAG)
			return "a channel between workers";
		return tag == my_tag ? "the script" : "another partition (a worker's script)";
	default: return "the kernel (on a TX or completion ring)";
	}
}

struct batch_head *frames_batch_refusal(const struct lxsk_batch *b, const char *what)
{
	struct batch_head *h;

	if (!b) {
		lxsk_fail(EINVAL, "%s: expected a batch, got NULL", what);
		return NULL;
	}
	h = batch_head_of(b);
	if (h->magic != LXSK_BATCH_MAGIC)
		lxsk_fail(EINVAL, "%s: not a batch made by umem:batch()", what);
	else
		lxsk_fail(EINVAL, "%s: batch count %u is past its capacity %u", what, b->n, h->cap);
	return NULL;
}

int frames_refusal(const struct frames *fr, const struct lxsk_batch *b, uint32_t i, struct claim_rule r,
		   const char *what)
{
	const struct lxsk_frame *f = &b->f[i];
	unsigned long long addr = (unsigned long long)f->addr;
	uint8_t mine = r.owner >> LXSK_TAG_SHIFT;
	uint32_t room;
	uint8_t st;

	if (f->umem_id != fr->id)
		return lxsk_fail(EXDEV, "%s: frame %u (addr 0x%llx) belongs to another UMEM (id %u, this is %u)", what,
				 i, addr, f->umem_id, fr->id);
	if (f->addr >= fr->size)
		return lxsk_fail(ERANGE, "%s: frame %u: addr 0x%llx is outside the UMEM (%llu bytes)", what, i, addr,
				 (unsigned long long)fr->size);
	room = frame_room(fr, f->addr);
	if (f->len > room)
		return lxsk_fail(EMSGSIZE,
				 "%s: frame %u (addr 0x%llx): length %u runs past the end of its %u-byte frame "
				 "(at most %u here)",
				 what, i, addr, f->len, fr->frame_size, room);
	/* The claim marks as it goes: a frame listed twice fails at its second
	 * place, and the marks are undone by the time we get here. */
	for (uint32_t j = 0; j < i; j++)
		if ((b->f[j].addr & fr->chunk_mask) == (f->addr & fr->chunk_mask))
			return lxsk_fail(EINVAL, "%s: frame %u (addr 0x%llx) is listed twice in the batch (also as frame %u)",
					 what, i, addr, j);
	st = own_get(frame_state(fr, f->addr));
	if (st != r.owner) {
		return lxsk_fail(EBUSY, "%s: frame %u (addr 0x%llx) is not the script's: it belongs to %s", what, i,
				 addr, frames_owner_name(st, mine));
	}
	if (f->len < r.min_len)
		return lxsk_fail(EINVAL, "%s: frame %u (addr 0x%llx) has length 0", what, i, addr);
	if (f->options & r.bad_options & XDP_PKT_CONTD)
		return lxsk_fail(EINVAL,
				 "%s: frame %u (addr 0x%llx) has XDP_PKT_CONTD set but the socket was made without "
				 "multi_buffer = true",
				 what, i, addr);
	if (f->options & r.bad_options)
		return lxsk_fail(EINVAL,
				 "%s: frame %u (addr 0x%llx) has options 0x%x: only XDP_PKT_CONTD (0x%x) may be set "
				 "(on a multi_buffer socket)",
				 what, i, addr, f->options, XDP_PKT_CONTD);
	return lxsk_fail(EINVAL, "%s: frame %u (addr 0x%llx) is refused", what, i, addr);
}

struct lxsk_batch *frames_batch_new(const struct frames *fr, struct pool *pool, uint32_t cap, void *holder)
{
	size_t size = sizeof(struct batch_head) + sizeof(struct lxsk_batch) + (size_t)cap * sizeof(struct lxsk_frame);
	struct batch_head *h = calloc(1, size);
	struct lxsk_batch *b;

	if (!h) {
		lxsk_fail(ENOMEM, "batch: out of memory for %u frames", cap);
		return NULL;
	}
	h->magic = LXSK_BATCH_MAGIC;
	h->cap = cap;
	h->frames = fr;
	h->pool = pool;
	h->holder = holder;
	b = batch_of(h);
	/* The only writes to the fields Lua sees as read-only. */
	b->cap = cap;
	b->umem_id = fr->id;
	b->part = pool->tag;
	return b;
}

void frames_batch_free(struct lxsk_batch *b)
{
	struct batch_head *h;

	if (!b)
		return;
	h = batch_head_of(b);
	h->magic = 0;
	free(h);
}

int frames_batch_push(struct lxsk_batch *b, const struct lxsk_frame *f)
{
	struct batch_head *h = frames_batch(b, "push");
	const struct frames *fr;

	if (!h)
		return -EINVAL;
	fr = h->frames;
	if (!f)
		return lxsk_fail(EINVAL, "push: expected a frame, got NULL");
	if (b->n >= h->cap)
		return lxsk_fail(ENOSPC, "push: the batch is full (%u frames)", h->cap);
	if (f->umem_id != fr->id || f->addr >= fr->size)
		return lxsk_fail(EXDEV, "push: the frame (addr 0x%llx, UMEM %u) is not of this batch's UMEM (id %u)",
				 (unsigned long long)f->addr, f->umem_id, fr->id);
	if (own_get(frame_state(fr, f->addr)) != lxsk_owner_byte(LXSK_OWN_USER, h->pool->tag))
		return lxsk_fail(EBUSY, "push: the frame (addr 0x%llx) is not the script's: it belongs to %s",
				 (unsigned long long)f->addr,
				 frames_owner_name(own_get(frame_state(fr, f->addr)), h->pool->tag));
	b->f[b->n++] = *f;
	return (int)b->n;
}

int frames_batch_remove(struct lxsk_batch *b, uint32_t i)
{
	struct batch_head *h = frames_batch(b, "remove");

	if (!h)
		return -EINVAL;
	if (i >= b->n)
		return lxsk_fail(ERANGE, "remove: index %u is out of range (the batch holds %u frames)", i, b->n);
	b->f[i] = b->f[b->n - 1];
	b->n--;
	return (int)b->n;
}

void frames_batch_shift(struct lxsk_batch *b, uint32_t k)
{
	if (k < b->n)
		memmove(&b->f[0], &b->f[k], (size_t)(b->n - k) * sizeof(b->f[0]));
	b->n -= k;
}
