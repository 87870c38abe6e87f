/* UMEM: the packet memory, its frame pool and the owner byte of every frame. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

static uint32_t next_umem_id = 1;

static bool pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

const char *lxsk_owner_name(unsigned owner)
{
	switch (owner) {
	case LXSK_OWN_POOL: return "the free pool";
	case LXSK_OWN_FILL: return "the kernel (fill/RX ring)";
	case LXSK_OWN_USER: return "the script";
	default: return "the kernel (TX/completion ring)";
	}
}

int lxsk_batch_error(const struct lxsk_batch *b, const char *what)
{
	return lxsk_fail(EINVAL, "%s: batch count %u exceeds its capacity %u", what, b->n, b->cap);
}

static int check_opts(const struct lxsk_umem_opts *o)
{
	if (!o->frame_count)
		return lxsk_fail(EINVAL, "umem: frame_count must be at least 1");
	if (o->frame_count > (1u << 24))
		return lxsk_fail(EINVAL, "umem: frame_count %u is too large (at most %u)", o->frame_count, 1u << 24);
	if (!pow2(o->frame_size) || o->frame_size < 2048 || o->frame_size > 65536)
		return lxsk_fail(EINVAL, "umem: frame_size %u must be a power of two from 2048 to 65536",
				 o->frame_size);
	if ((uint64_t)o->frame_headroom + XDP_PACKET_HEADROOM + 64 > o->frame_size)
		return lxsk_fail(EINVAL,
				 "umem: frame_headroom %u leaves no room for packet data in a %u-byte frame "
				 "(the kernel also reserves %d bytes; at most %u)",
				 o->frame_headroom, o->frame_size, XDP_PACKET_HEADROOM,
				 o->frame_size - XDP_PACKET_HEADROOM - 64);
	if (!pow2(o->fill_size))
		return lxsk_fail(EINVAL, "umem: fill_size %u must be a power of two", o->fill_size);
	if (!pow2(o->comp_size))
		return lxsk_fail(EINVAL, "umem: comp_size %u must be a power of two", o->comp_size);
	return 0;
}

static int map_area(struct lxsk_umem *u, bool huge)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE | (huge ? MAP_HUGETLB : 0);
	void *p = mmap(NULL, u->size, PROT_READ | PROT_WRITE, flags, -1, 0);

	if (p == MAP_FAILED) {
		if (huge)
			return lxsk_fail(errno,
					 "umem: cannot map %llu bytes of huge pages; reserve some first "
					 "(/proc/sys/vm/nr_hugepages)",
					 (unsigned long long)u->size);
		return lxsk_fail(errno, "umem: cannot map %llu bytes", (unsigned long long)u->size);
	}
	u->area = p;
	u->huge = huge;
	return 0;
}

/* Frees what umem_new set up, in reverse order; safe on a half-built UMEM. */
static void release_memory(struct lxsk_umem *u)
{
	if (u->xu) {
		/* Only fails with EBUSY while sockets use it; callers close them first. */
		xsk_umem__delete(u->xu);
		u->xu = NULL;
	}
	if (u->area) {
		munmap(u->area, u->size);
		u->area = NULL;
	}
	free(u->pool);
	u->pool = NULL;
	free(u->state);
	u->state = NULL;
}

struct lxsk_umem *lxsk_umem_new(const struct lxsk_umem_opts *o)
{
	struct xsk_umem_config cfg;
	struct lxsk_umem *u;
	int err;

	lxsk_libxdp_quiet();
	if (check_opts(o))
		return NULL;
	u = calloc(1, sizeof(*u));
	if (!u) {
		lxsk_fail(ENOMEM, "umem: out of memory");
		return NULL;
	}
	u->frame_count = o->frame_count;
	u->frame_size = o->frame_size;
	u->frame_shift = (uint32_t)__builtin_ctz(o->frame_size);
	u->headroom = o->frame_headroom;
	u->data_offset = XDP_PACKET_HEADROOM + o->frame_headroom;
	u->fill_size = o->fill_size;
	u->comp_size = o->comp_size;
	u->fill_target = o->fill_size < o->frame_count / 2 ? o->fill_size : o->frame_count / 2;
	if (!u->fill_target)
		u->fill_target = 1;
	u->size = (uint64_t)o->frame_count * o->frame_size;

	u->state = calloc(o->frame_count, 1);
	u->pool = calloc(o->frame_count, sizeof(*u->pool));
	if (!u->state || !u->pool) {
		lxsk_fail(ENOMEM, "umem: out of memory for %u frames", o->frame_count);
		goto fail;
	}
	if (map_area(u, o->hugepages != 0))
		goto fail;

	/* Highest address at the bottom of the stack, so frames go out in order. */
	for (uint32_t i = 0; i < o->frame_count; i++)
		u->pool[i] = (uint64_t)(o->frame_count - 1 - i) << u->frame_shift;
	u->pool_count = o->frame_count;

	cfg = (struct xsk_umem_config){
		.fill_size = o->fill_size,
		.comp_size = o->comp_size,
		.frame_size = o->frame_size,
		.frame_headroom = o->frame_headroom,
		.flags = 0,
	};
	err = xsk_umem__create(&u->xu, u->area, u->size, &u->pairs[0].fq, &u->pairs[0].cq, &cfg);
	if (err) {
		u->xu = NULL;
		if (err == -EPERM || err == -EACCES)
			lxsk_fail(err, "umem: registering UMEM needs root (CAP_NET_RAW and CAP_IPC_LOCK)");
		else
			lxsk_fail(err, "umem: xsk_umem__create failed for %u frames of %u bytes", o->frame_count,
				  o->frame_size);
		goto fail;
	}
	u->pairs[0].state = PAIR_FRESH;
	u->id = next_umem_id++;
	if (!next_umem_id)
		next_umem_id = 1;
	return u;
fail:
	release_memory(u);
	free(u);
	return NULL;
}

void lxsk_umem_get_info(const struct lxsk_umem *u, struct lxsk_umem_info *info)
{
	*info = (struct lxsk_umem_info){
		.area = u->area,
		.size = u->size,
		.id = u->id,
		.frame_count = u->frame_count,
		.frame_size = u->frame_size,
		.frame_headroom = u->headroom,
		.data_offset = u->data_offset,
		.fill_size = u->fill_size,
		.comp_size = u->comp_size,
		.pool_count = u->pool_count,
		.sockets = u->nsocks,
		.closed = u->closed,
	};
}

int lxsk_umem_owner(const struct lxsk_umem *u, uint64_t addr)
{
	if (u->closed)
		return lxsk_fail(EBADF, "umem: closed");
	if (addr >= u->size)
		return lxsk_fail(ERANGE, "umem: address 0x%llx is outside the UMEM (%llu bytes)",
				 (unsigned long long)addr, (unsigned long long)u->size);
	return (int)owner_of(u, addr);
}

/* Why fm_user_frame refused a frame, as a message naming it. */
int lxsk_user_frame_error(const struct lxsk_umem *u, const struct lxsk_frame *f, uint32_t i, const char *what)
{
	uint64_t chunk;

	if (f->umem_id != u->id)
		return lxsk_fail(EXDEV, "%s: frame %u (addr 0x%llx) belongs to another UMEM (id %u, this is %u)", what,
				 i, (unsigned long long)f->addr, f->umem_id, u->id);
	if (f->addr >= u->size)
		return lxsk_fail(ERANGE, "%s: frame %u: addr 0x%llx is outside the UMEM (%llu bytes)", what, i,
				 (unsigned long long)f->addr, (unsigned long long)u->size);
	chunk = chunk_of(u, f->addr);
	if (f->addr - chunk + f->len > u->frame_size)
		return lxsk_fail(EMSGSIZE,
				 "%s: frame %u (addr 0x%llx): length %u runs past the end of its %u-byte frame "
				 "(at most %llu here)",
				 what, i, (unsigned long long)f->addr, f->len, u->frame_size,
				 (unsigned long long)(chunk + u->frame_size - f->addr));
	if (owner_of(u, f->addr) != LXSK_OWN_USER)
		return lxsk_fail(EBUSY, "%s: frame %u (addr 0x%llx) is not the script's: it belongs to %s", what, i,
				 (unsigned long long)f->addr, lxsk_owner_name(owner_of(u, f->addr)));
	return lxsk_fail(EINVAL, "%s: frame %u (addr 0x%llx) is bad", what, i, (unsigned long long)f->addr);
}

int lxsk_frame_check(const struct lxsk_umem *u, const struct lxsk_frame *f)
{
	if (u->closed)
		return lxsk_fail(EBADF, "frame: its UMEM is closed");
	return lxsk_check_user_frame(u, f, 0, "frame");
}


/* Frames for TX come with their length set to len (0: empty), so a sender
 * that fills them from a template needs no per-frame pass of its own. */
int lxsk_alloc(struct lxsk_umem *u, struct lxsk_batch *b, uint32_t n, uint32_t len)
{
	uint32_t room, got;

	if (u->closed)
		return lxsk_fail(EBADF, "alloc: UMEM is closed");
	if (batch_bad(b))
		return lxsk_batch_error(b, "alloc");
	if (len > u->frame_size - u->data_offset)
		return lxsk_fail(EMSGSIZE, "alloc: length %u is more than a frame holds (%u bytes)", len,
				 u->frame_size - u->data_offset);
	room = b->cap - b->n;
	if (n > room)
		n = room;
	got = n < u->pool_count ? n : u->pool_count;
	{
		/* locals, so that the owner byte stores do not force reloads */
		const struct frame_map m = map_of(u);
		const uint64_t *pool = u->pool;
		struct lxsk_frame *f = &b->f[b->n];
		uint32_t pc = u->pool_count, off = u->data_offset;

		for (uint32_t i = 0; i < got; i++) {
			uint64_t chunk = pool[--pc];

			*fm_state(&m, chunk) = LXSK_OWN_USER;
			fm_fill(&m, f++, chunk + off, len, 0);
		}
		u->pool_count = pc;
		b->n += got;
	}
	return (int)got;
}

/* All or nothing: a bad frame anywhere in the batch releases none. */
int lxsk_release(struct lxsk_umem *u, struct lxsk_batch *b)
{
	uint32_t n = b->n;

	if (u->closed)
		return lxsk_fail(EBADF, "release: UMEM is closed");
	if (batch_bad(b))
		return lxsk_batch_error(b, "release");
	for (uint32_t i = 0; i < n; i++) {
		const struct lxsk_frame *f = &b->f[i];
		int err = lxsk_check_user_frame(u, f, i, "release");

		if (err) {
			while (i--)
				u->state[frame_index(u, b->f[i].addr)] = LXSK_OWN_USER;
			return err;
		}
		/* Mark now so a frame listed twice is caught above. */
		u->state[frame_index(u, f->addr)] = LXSK_OWN_POOL;
	}
	for (uint32_t i = 0; i < n; i++)
		u->pool[u->pool_count++] = chunk_of(u, b->f[i].addr);
	b->n = 0;
	return (int)n;
}

/* Frames the kernel held on a pair whose last socket has closed can no longer
 * come back through its rings: they return to the pool. */
void lxsk_umem_reclaim_pair(struct lxsk_umem *u, const struct lxsk_pair *p)
{
	uint8_t tag = (uint8_t)((p - u->pairs) << PAIR_SHIFT);

	for (uint32_t i = 0; i < u->frame_count; i++) {
		uint8_t st = u->state[i];
		unsigned own = st & OWN_MASK;

		if ((own == LXSK_OWN_FILL || own == LXSK_OWN_TX) && (st & ~OWN_MASK) == tag)
			lxsk_pool_put(u, (uint64_t)i << u->frame_shift);
	}
}

void lxsk_umem_unlink_sock(struct lxsk_umem *u, struct lxsk_sock *s)
{
	for (struct lxsk_sock **pp = &u->socks; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			u->nsocks--;
			return;
		}
	}
}

/* Close order: sockets first (libxdp refuses to delete a UMEM in use), then
 * the UMEM's own rings and memory. */
void lxsk_umem_close(struct lxsk_umem *u)
{
	if (!u || u->closed)
		return;
	while (u->socks)
		lxsk_sock_close(u->socks);
	u->closed = true;
	u->pool_count = 0;
	release_memory(u);
}

void lxsk_umem_free(struct lxsk_umem *u)
{
	if (!u)
		return;
	lxsk_umem_close(u);
	free(u);
}
