/* What a script does with its frames through a UMEM handle: batches, the
 * release into the pool (alloc and release themselves are in batch.c: they
 * take completed frames and give frames to a fill ring first), and the checks
 * the frame helpers ask for.  Above umem.c (it uses handles), below the
 * rings. */
#include <errno.h>
#include <string.h>

#include "error.h"
#include "meta.h"
#include "umem.h"

int lxsk_umem_owner(const struct lxsk_umem *u, uint64_t addr)
{
	const struct frames *fr = &u->um->frames;
	uint8_t st;

	if (umem_usable(u, "owner"))
		return -EBADF;
	if (addr >= fr->size)
		return lxsk_fail(ERANGE, "owner: address 0x%llx is outside the UMEM (%llu bytes)",
				 (unsigned long long)addr, (unsigned long long)fr->size);
	st = own_get(frame_state(fr, addr));
	if (st == umem_in_channel())
		return LXSK_OWN_CHANNEL;
	if (st == umem_lost())
		return LXSK_OWN_LOST;
	return (int)(st & LXSK_OWN_MASK);
}

/* 0 when f is a frame of this handle's UMEM that the script holds, else an
 * error: what the frame helpers ask before they touch frame memory. */
static int script_frame(const struct lxsk_umem *u, const struct lxsk_frame *f)
{
	const struct frames *fr = &u->um->frames;
	uint8_t st;

	if (umem_usable(u, "frame"))
		return -EBADF;
	if (!f)
		return lxsk_fail(EINVAL, "frame: expected a frame, got NULL");
	if (f->umem_id != fr->id)
		return lxsk_fail(EXDEV, "frame (addr 0x%llx) belongs to another UMEM (id %u, this is %u)",
				 (unsigned long long)f->addr, f->umem_id, fr->id);
	if (f->addr >= fr->size)
		return lxsk_fail(ERANGE, "frame: addr 0x%llx is outside the UMEM (%llu bytes)",
				 (unsigned long long)f->addr, (unsigned long long)fr->size);
	st = own_get(frame_state(fr, f->addr));
	if (st != lxsk_owner_byte(LXSK_OWN_USER, u->part))
		return lxsk_fail(EBUSY, "frame (addr 0x%llx) is not the script's: it belongs to %s",
				 (unsigned long long)f->addr, frames_owner_name(st, u->part));
	return 0;
}

int lxsk_frame_room(const struct lxsk_umem *u, const struct lxsk_frame *f)
{
	int err = script_frame(u, f);

	return err ? err : (int)frame_room(&u->um->frames, f->addr);
}

/* Reads only the 32 bytes in front of the frame's packet, inside its own
 * chunk (meta_read), of a frame the script holds. */
int lxsk_frame_rx_meta(const struct lxsk_umem *u, const struct lxsk_frame *f, struct lxsk_rx_meta *out)
{
	int err = script_frame(u, f);

	if (err)
		return err;
	if (!u->um->rx_meta)
		return lxsk_fail(EINVAL,
				 "frame (addr 0x%llx): its UMEM was made without rx_metadata = true, so nothing "
				 "keeps an earlier packet's metadata from showing",
				 (unsigned long long)f->addr);
	if (!out)
		return lxsk_fail(EINVAL, "frame: nowhere to put the metadata");
	return meta_read(&u->um->frames, f, out);
}

int umem_release(struct lxsk_umem *u, struct lxsk_batch *b)
{
	const struct frames *fr = &u->um->frames;
	struct claim_rule rule = { lxsk_owner_byte(LXSK_OWN_USER, u->part), 0, 0 };
	uint32_t n = b->n, done;

	done = frames_claim(fr, b->f, n, rule, lxsk_owner_byte(LXSK_OWN_POOL, u->part), SINK_POOL, u->pool);
	if (done < n)
		return frames_refusal(fr, b, done, rule, "release");
	b->n = 0;
	return (int)n;
}

struct lxsk_batch *lxsk_batch_new(struct lxsk_umem *u, uint32_t cap)
{
	struct lxsk_batch *b;
	struct batch_head *h;

	if (umem_usable(u, "batch"))
		return NULL;
	if (!cap || cap > 65536) {
		lxsk_fail(EINVAL, "batch: size %u must be from 1 to 65536", cap);
		return NULL;
	}
	b = frames_batch_new(&u->um->frames, u->pool, cap, u);
	if (!b)
		return NULL;
	h = batch_head_of(b);
	h->next = u->batches.next;
	h->prev = &u->batches;
	u->batches.next->prev = h;
	u->batches.next = h;
	handle_ref(u);
	return b;
}

void lxsk_batch_free(struct lxsk_batch *b)
{
	struct batch_head *h;
	struct lxsk_umem *u;

	if (!b)
		return;
	h = batch_head_of(b);
	u = h->holder;
	h->prev->next = h->next;
	h->next->prev = h->prev;
	frames_batch_free(b);
	handle_unref(u);
}

int lxsk_batch_push(struct lxsk_batch *b, const struct lxsk_frame *f)
{
	struct batch_head *h = frames_batch(b, "push");

	if (!h)
		return -EINVAL;
	if (umem_usable(h->holder, "push"))
		return -EBADF;
	return frames_batch_push(b, f);
}

int lxsk_batch_remove(struct lxsk_batch *b, uint32_t i)
{
	return frames_batch_remove(b, i);
}

int lxsk_batch_fill(struct lxsk_batch *b, uint32_t first, uint32_t n, const void *src, uint32_t len)
{
	struct batch_head *h = frames_batch(b, "fill_batch");
	struct claim_rule rule;
	const struct frames *fr;
	uint32_t ok;

	if (!h)
		return -EINVAL;
	if (umem_usable(h->holder, "fill_batch"))
		return -EBADF;
	if (first > b->n || n > b->n - first)
		return lxsk_fail(ERANGE, "fill_batch: frames %u to %u are past the batch's %u frames", first,
				 first + n - 1, b->n);
	if (n && !src)
		return lxsk_fail(EINVAL, "fill_batch: no data to copy");
	fr = h->frames;
	/* The script's frames, with room for len: the claim's own check, with
	 * the length asked for instead of the frame's. */
	rule = (struct claim_rule){ lxsk_owner_byte(LXSK_OWN_USER, h->pool->tag), 0, 0 };
	for (ok = 0; ok < n; ok++) {
		const struct lxsk_frame *f = &b->f[first + ok];

		if (f->umem_id != fr->id || f->addr >= fr->size || own_get(frame_state(fr, f->addr)) != rule.owner ||
		    frame_room(fr, f->addr) < len)
			break;
	}
	if (ok < n) {
		const struct lxsk_frame *f = &b->f[first + ok];

		if (f->umem_id == fr->id && f->addr < fr->size && own_get(frame_state(fr, f->addr)) == rule.owner)
			return lxsk_fail(EMSGSIZE, "fill_batch: frame %u (addr 0x%llx) has room for %u bytes, not %u",
					 first + ok, (unsigned long long)f->addr, frame_room(fr, f->addr), len);
		return frames_refusal(fr, b, first + ok, rule, "fill_batch");
	}
	for (uint32_t i = first; i < first + n; i++) {
		memcpy(fr->area + b->f[i].addr, src, len);
		b->f[i].len = len;
	}
	return (int)n;
}
