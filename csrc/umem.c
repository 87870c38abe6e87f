/* The UMEM: memory, registration, partitions, ring pairs, lifetime (umem.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "error.h"
#include "umem.h"

/* The kernel reserves XDP_PACKET_HEADROOM in front of the packet, and newer
 * kernels also keep room for an skb_shared_info (320 bytes here) and 128
 * bytes of data behind it: 6.18 refuses a headroom past frame_size - 704. */
#define HEADROOM_RESERVE 704
#define PAGE_BYTES 4096u

static uint32_t next_umem_id = 1; /* under id_lock */
static pthread_mutex_t id_lock = PTHREAD_MUTEX_INITIALIZER;

static bool pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

bool umem_ours(const struct umem *um)
{
	return um->pid == getpid();
}

static int check_opts(const struct lxsk_umem_opts *o)
{
	if (!o->frame_count || o->frame_count > (1u << 24))
		return lxsk_fail(EINVAL, "frame_count %u must be from 1 to %u", o->frame_count, 1u << 24);
	if (!pow2(o->frame_size) || o->frame_size < 2048 || o->frame_size > 65536)
		return lxsk_fail(EINVAL, "frame_size %u must be a power of two from 2048 to 65536",
				 o->frame_size);
	if (o->frame_size > PAGE_BYTES && !o->hugepages)
		return lxsk_fail(EINVAL,
				 "frame_size %u is larger than a page (%u bytes): the kernel takes such frames "
				 "only in a UMEM of huge pages (hugepages = true, Linux 6.6 or later); for larger "
				 "packets use multi_buffer sockets, whose packets span several frames",
				 o->frame_size, PAGE_BYTES);
	if (o->frame_headroom > o->frame_size - HEADROOM_RESERVE)
		return lxsk_fail(EINVAL,
				 "frame_headroom %u is too large for a %u-byte frame: the kernel keeps %d bytes "
				 "of it (256 in front of the packet, 448 behind), so at most %u",
				 o->frame_headroom, o->frame_size, HEADROOM_RESERVE, o->frame_size - HEADROOM_RESERVE);
	if (!pow2(o->fill_size) || o->fill_size > (1u << 24))
		return lxsk_fail(EINVAL, "fill_size %u must be a power of two up to %u", o->fill_size, 1u << 24);
	if (!pow2(o->comp_size) || o->comp_size > (1u << 24))
		return lxsk_fail(EINVAL, "comp_size %u must be a power of two up to %u", o->comp_size, 1u << 24);
	return 0;
}

static int map_area(struct umem *um, uint64_t size, bool huge)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE | (huge ? MAP_HUGETLB : 0);
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, -1, 0);

	if (p == MAP_FAILED) {
		if (huge)
			return lxsk_fail(errno,
					 "cannot map %llu bytes of huge pages; reserve some first "
					 "(/proc/sys/vm/nr_hugepages)",
					 (unsigned long long)size);
		return lxsk_fail(errno, "cannot map %llu bytes", (unsigned long long)size);
	}
	um->frames.area = p;
	um->huge = huge;
	return 0;
}

static int register_umem(struct umem *um, const struct lxsk_umem_opts *o)
{
	struct xsk_umem_config cfg = {
		.fill_size = o->fill_size,
		.comp_size = o->comp_size,
		.frame_size = o->frame_size,
		.frame_headroom = o->frame_headroom,
		.flags = 0,
	};
	int err = xsk_umem__create(&um->xu, um->frames.area, um->frames.size, &um->pairs[0].fq, &um->pairs[0].cq,
				   &cfg);

	if (!err)
		return 0;
	um->xu = NULL;
	if (err == -EPERM || err == -EACCES)
		return lxsk_fail(err, "registering a UMEM needs root (CAP_NET_RAW, CAP_IPC_LOCK)");
	if (err == -EINVAL && o->frame_size > PAGE_BYTES)
		return lxsk_fail(err,
				 "this kernel refuses frames of %u bytes even in huge pages (frames larger than "
				 "a page need Linux 6.6 or later built with huge page support); use frame_size 4096 "
				 "or less, and multi_buffer sockets for larger packets",
				 o->frame_size);
	return lxsk_fail(err, "xsk_umem__create failed for %u frames of %u bytes", o->frame_count,
			 o->frame_size);
}

/* Frees what umem_new set up, in reverse order; safe on a half-built UMEM. */
static void release_memory(struct umem *um)
{
	pool_fini(&um->lost);
	for (int i = LXSK_MAX_TAGS - 1; i >= 0; i--)
		pool_fini(&um->pools[i]);
	if (um->frames.area) {
		munmap(um->frames.area, um->frames.size);
		um->frames.area = NULL;
	}
	frames_fini(&um->frames);
}

static uint32_t new_id(void)
{
	uint32_t id;

	pthread_mutex_lock(&id_lock);
	id = next_umem_id++;
	if (!next_umem_id)
		next_umem_id = 1;
	pthread_mutex_unlock(&id_lock);
	return id;
}

static struct lxsk_umem *new_handle(struct umem *um, uint8_t part)
{
	struct lxsk_umem *u = calloc(1, sizeof(*u));

	if (!u) {
		lxsk_fail(ENOMEM, "out of memory");
		return NULL;
	}
	u->um = um;
	u->part = part;
	u->pool = &um->pools[part];
	u->refs = 1;
	link_init(&u->socks);
	u->batches.prev = u->batches.next = &u->batches;
	return u;
}

struct lxsk_umem *umem_make(const struct lxsk_umem_opts *o)
{
	struct lxsk_umem *u;
	struct umem *um;

	if (check_opts(o))
		return NULL;
	um = calloc(1, sizeof(*um));
	if (!um) {
		lxsk_fail(ENOMEM, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&um->lock, NULL);
	um->refs = 1;
	um->pid = getpid();
	um->headroom = o->frame_headroom;
	um->rx_meta = o->rx_metadata != 0;
	um->fill_size = o->fill_size;
	um->comp_size = o->comp_size;
	um->fill_target = o->fill_size < o->frame_count / 2 ? o->fill_size : o->frame_count / 2;
	if (!um->fill_target)
		um->fill_target = 1;
	if (frames_init(&um->frames, NULL, o->frame_count, o->frame_size, XDP_PACKET_HEADROOM + o->frame_headroom,
			new_id()))
		goto fail;
	if (map_area(um, um->frames.size, o->hugepages != 0))
		goto fail;
	if (pool_init(&um->pools[0], &um->frames, 0, true))
		goto fail;
	if (pool_init(&um->lost, &um->frames, LXSK_SPARE_TAG, false))
		goto fail;
	um->part_used[0] = true;
	um->pairs[0].state = PAIR_FRESH;
	um->handles = 1;
	u = new_handle(um, 0);
	if (!u)
		goto fail;
	return u;
fail:
	release_memory(um);
	pthread_mutex_destroy(&um->lock);
	free(um);
	return NULL;
}

struct lxsk_umem *lxsk_umem_new(const struct lxsk_umem_opts *o)
{
	struct lxsk_umem *u;

	lxsk_libxdp_quiet();
	u = umem_make(o);
	if (u && register_umem(u->um, o)) {
		handle_unref(u);
		return NULL;
	}
	return u;
}

struct lxsk_umem *lxsk_umem_share(struct lxsk_umem *u, uint32_t frames)
{
	struct umem *um = u->um;
	struct lxsk_umem *w = NULL;
	int part = -1;

	if (umem_usable(u, "share"))
		return NULL;
	if (frames > u->pool->count) {
		lxsk_fail(ENOSPC, "share: %u frames asked for, the partition has %u free", frames, u->pool->count);
		return NULL;
	}
	pthread_mutex_lock(&um->lock);
	for (int i = 1; i < LXSK_MAX_TAGS && part < 0; i++)
		if (!um->part_used[i])
			part = i;
	if (part < 0) {
		lxsk_fail(ENOSPC, "share: the UMEM already has %d partitions", LXSK_MAX_TAGS);
		goto out;
	}
	if (pool_init(&um->pools[part], &um->frames, (uint8_t)part, false))
		goto out;
	w = new_handle(um, (uint8_t)part);
	if (!w) {
		pool_fini(&um->pools[part]);
		goto out;
	}
	um->part_used[part] = true;
	um->handles++;
	umem_ref(um);
	pool_move(&um->frames, u->pool, w->pool, frames);
out:
	pthread_mutex_unlock(&um->lock);
	return w;
}

void umem_ref(struct umem *um)
{
	__atomic_add_fetch(&um->refs, 1, __ATOMIC_RELAXED);
}

void umem_unref(struct umem *um)
{
	if (__atomic_sub_fetch(&um->refs, 1, __ATOMIC_ACQ_REL))
		return;
	release_memory(um);
	pthread_mutex_destroy(&um->lock);
	free(um);
}

void handle_ref(struct lxsk_umem *u)
{
	u->refs++;
}

/* The last reference to a handle: nothing (no batch, no socket) can name its
 * partition any more, so the slot may serve a new handle. */
void handle_unref(struct lxsk_umem *u)
{
	struct umem *um = u->um;

	if (--u->refs)
		return;
	pthread_mutex_lock(&um->lock);
	if (!um->closed && u->part != 0) {
		pool_fini(&um->pools[u->part]);
		um->part_used[u->part] = false;
	}
	pthread_mutex_unlock(&um->lock);
	umem_unref(um);
	free(u);
}

int umem_usable(const struct lxsk_umem *u, const char *what)
{
	if (u->closed)
		return lxsk_fail(EBADF, "%s: the UMEM is closed", what);
	return 0;
}

struct batch_head *umem_batch(const struct lxsk_umem *u, const struct lxsk_batch *b, const char *what)
{
	struct batch_head *h = frames_batch(b, what);

	if (__builtin_expect(h && h->pool != u->pool, 0)) {
		if (b->umem_id != u->um->frames.id)
			lxsk_fail(EXDEV, "%s: the batch belongs to another UMEM (id %u, this is %u)", what, b->umem_id,
				  u->um->frames.id);
		else
			lxsk_fail(EXDEV, "%s: the batch belongs to partition %u of this UMEM, not to %u", what, b->part,
				  u->part);
		return NULL;
	}
	return h;
}

/* Makes the memory of a closed UMEM inert: the same addresses, fresh zero
 * pages that nothing else uses, until the last reference goes. */
static void make_inert(struct umem *um)
{
	void *p = mmap(um->frames.area, um->frames.size, PROT_READ | PROT_WRITE,
		       MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	/* On failure the old pages stay: unregistered, still ours, as safe. */
	(void)p;
}

void umem_lose(struct umem *um, uint64_t addr)
{
	pool_put(&um->lost, &um->frames, addr);
}

/* A partition closes while others live on: its free frames and the frames
 * its script held go to the lost and found (its sockets are closed, so what
 * its ring pairs held is in its pool by now). */
static void lose_partition(struct umem *um, uint8_t part)
{
	frames_reclaim(&um->frames, lxsk_owner_byte(LXSK_OWN_POOL, part), lxsk_owner_byte(LXSK_OWN_USER, part),
		       &um->lost);
	um->pools[part].count = 0;
}

void umem_handle_close(struct lxsk_umem *u)
{
	struct umem *um = u->um;

	if (u->closed)
		return;
	u->closed = true;
	for (struct batch_head *h = u->batches.next; h != &u->batches; h = h->next)
		batch_of(h)->n = 0;
	pthread_mutex_lock(&um->lock);
	if (--um->handles) {
		lose_partition(um, u->part);
		pthread_mutex_unlock(&um->lock);
		return;
	}
	um->closed = true;
	if (um->xu && umem_ours(um))
		/* Only fails with EBUSY while sockets use it; every handle's
		 * sockets are closed by now. */
		xsk_umem__delete(um->xu);
	um->xu = NULL;
	if (umem_ours(um))
		make_inert(um);
	for (int i = 0; i < LXSK_MAX_TAGS; i++)
		um->pools[i].count = 0;
	um->lost.count = 0;
	pthread_mutex_unlock(&um->lock);
}

int lxsk_umem_reclaim(struct lxsk_umem *u)
{
	struct umem *um = u->um;
	uint32_t n;

	if (umem_usable(u, "reclaim"))
		return -EBADF;
	pthread_mutex_lock(&um->lock);
	n = pool_move(&um->frames, &um->lost, u->pool, um->lost.count);
	pthread_mutex_unlock(&um->lock);
	return (int)n;
}

int umem_handle_movable(const struct lxsk_umem *u)
{
	uint32_t batches = 0;

	if (u->closed)
		return lxsk_fail(EBADF, "the UMEM handle is closed");
	for (const struct batch_head *h = u->batches.next; h != &u->batches; h = h->next)
		batches++;
	if (u->nsocks || batches)
		return lxsk_fail(EBUSY,
				 "the UMEM handle has %u socket%s and %u batch%s; a handle moves to another thread "
				 "only before it has any (make them where it is used)",
				 u->nsocks, u->nsocks == 1 ? "" : "s", batches, batches == 1 ? "" : "es");
	return 0;
}

void lxsk_umem_get_info(const struct lxsk_umem *u, struct lxsk_umem_info *info)
{
	const struct umem *um = u->um;

	*info = (struct lxsk_umem_info){
		.area = um->frames.area,
		.size = um->frames.size,
		.id = um->frames.id,
		.frame_count = um->frames.count,
		.frame_size = um->frames.frame_size,
		.frame_headroom = um->headroom,
		.data_offset = um->frames.data_offset,
		.fill_size = um->fill_size,
		.comp_size = um->comp_size,
		.pool_count = u->closed ? 0 : u->pool->count,
		.sockets = u->nsocks,
		.part = u->part,
		.closed = u->closed,
		.rx_metadata = um->rx_meta,
	};
}

/* ---- ring pairs ---- */

struct pair *umem_pair_pick(struct umem *um, uint64_t cookie, int ifindex, uint32_t queue)
{
	struct pair *fresh = NULL;

	if (um->pairs[0].state == PAIR_FRESH)
		return &um->pairs[0];
	for (int i = 0; i < LXSK_MAX_TAGS; i++) {
		struct pair *p = &um->pairs[i];

		if (p->state == PAIR_LIVE && p->netns_cookie == cookie && p->ifindex == ifindex && p->queue == queue)
			return p;
		/* A dead pair's rings were unmapped and forgotten by libxdp when
		 * its last socket was deleted, and its frames went back to the
		 * pool, so the slot can serve again.  Not slot 0: it marks the
		 * UMEM's first socket. */
		if ((p->state == PAIR_UNUSED || (p->state == PAIR_DEAD && i > 0)) && !fresh)
			fresh = p;
	}
	/* libxdp sets up only some fields of a new completion ring (not its
	 * cached indexes) and relies on the struct being zeroed, as a never
	 * used slot is: a reused one must be zeroed too. */
	if (fresh && fresh->state == PAIR_DEAD)
		memset(fresh, 0, sizeof(*fresh));
	if (fresh)
		fresh->tag = (uint8_t)(fresh - um->pairs);
	return fresh;
}

void umem_pair_attach(struct umem *um, struct pair *p, uint8_t part, uint64_t cookie, int ifindex, uint32_t queue,
		      bool rx, bool prog_loaded)
{
	(void)um;
	if (p->state != PAIR_LIVE) {
		p->prog_loaded = prog_loaded;
		p->part = part;
	}
	p->tag = (uint8_t)(p - um->pairs);
	p->state = PAIR_LIVE;
	p->netns_cookie = cookie;
	p->ifindex = ifindex;
	p->queue = queue;
	p->refs++;
	if (rx)
		p->rx_refs++;
}

/* Whether the UMEM's own fd is still a bound socket: libxdp leaves the
 * first socket bound there after deleting it, until the kernel unbinds it
 * (its interface went away; then it answers ENXIO) or the UMEM closes. */
static bool first_still_bound(const struct umem *um)
{
	return !(recvfrom(xsk_umem__fd(um->xu), NULL, 0, MSG_DONTWAIT, NULL, NULL) < 0 && errno == ENXIO);
}

void umem_pair_detach(struct umem *um, struct pair *p, bool rx)
{
	bool keep_fill;

	p->refs--;
	if (rx)
		p->rx_refs--;
	if (p->refs)
		return;
	p->state = PAIR_DEAD;
	/* Pair 0 is the UMEM's first socket's, and libxdp leaves that socket
	 * bound on the UMEM's own fd.  libxdp takes it out of its own program's
	 * map, but an XSKMAP the user manages (load_program = false) may still
	 * send it packets: then the kernel goes on taking frames from this fill
	 * ring and writing packets into them.  While it is bound, those frames
	 * stay the kernel's, until the UMEM closes. */
	keep_fill = p == &um->pairs[0] && !p->prog_loaded && first_still_bound(um);
	frames_reclaim(&um->frames, lxsk_owner_byte(keep_fill ? LXSK_OWN_TX : LXSK_OWN_FILL, p->tag),
		       lxsk_owner_byte(LXSK_OWN_TX, p->tag), umem_pair_pool(um, p));
}
