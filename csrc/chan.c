/* Channels of frames between partitions of one UMEM (threads.h): a
 * single-producer single-consumer ring of descriptors.  The sending end's
 * thread publishes its producer index with a release store after it has
 * marked each frame as in the channel; the receiving end's thread reads that
 * index with an acquire load before it marks them as its script's, and
 * publishes its consumer index the same way, so every owner byte has one
 * writer at a time and the two writes are ordered.  No lock on either path.
 *
 * An end serves the first partition that uses it: a second partition (a
 * second thread) is refused, which keeps the ring single-producer and
 * single-consumer even when a script hands an end around. */
#include <errno.h>
#include <stdlib.h>

#include "error.h"
#include "frames.h"
#include "threads.h"
#include "umem.h"

#define MAX_SIZE 65536u

enum { SEND = 0, RECV = 1 };

struct fchan {
	/* The sending thread's line. */
	uint32_t prod __attribute__((aligned(64))); /* atomic: published to the receiver */
	uint32_t cached_cons;
	int32_t send_part; /* -1: not used yet */
	/* The receiving thread's line. */
	uint32_t cons __attribute__((aligned(64))); /* atomic: published to the sender */
	uint32_t cached_prod;
	int32_t recv_part;
	/* Read by both, written once or rarely. */
	struct umem *um __attribute__((aligned(64))); /* a reference */
	struct xdp_desc *ring;
	uint32_t size, mask;
	uint32_t closed[2]; /* atomic: each end's */
	int refs;           /* atomic: ends alive */
};

struct lxsk_chan {
	struct fchan *ch;
	int role;
	bool closed;
};

static bool pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

int lxsk_chan_open(struct lxsk_umem *u, uint32_t size, struct lxsk_chan **ends)
{
	struct fchan *ch = NULL;
	struct lxsk_chan *tx = NULL, *rx = NULL;

	if (umem_usable(u, "channel"))
		return -EBADF;
	if (!pow2(size) || size > MAX_SIZE)
		return lxsk_fail(EINVAL, "channel: size %u must be a power of two from 1 to %u", size, MAX_SIZE);
	if (posix_memalign((void **)&ch, 64, sizeof(*ch)))
		ch = NULL;
	tx = calloc(1, sizeof(*tx));
	rx = calloc(1, sizeof(*rx));
	if (ch)
		*ch = (struct fchan){ .send_part = -1, .recv_part = -1, .size = size, .mask = size - 1, .refs = 2 };
	if (!ch || !tx || !rx || !(ch->ring = calloc(size, sizeof(*ch->ring)))) {
		if (ch)
			free(ch->ring);
		free(ch);
		free(tx);
		free(rx);
		return lxsk_fail(ENOMEM, "channel: out of memory for %u descriptors", size);
	}
	ch->um = u->um;
	umem_ref(ch->um);
	*tx = (struct lxsk_chan){ .ch = ch, .role = SEND };
	*rx = (struct lxsk_chan){ .ch = ch, .role = RECV };
	ends[0] = tx;
	ends[1] = rx;
	return 0;
}

static int wrong_end(const struct lxsk_chan *c, const char *what) __attribute__((cold, noinline));
static int wrong_end(const struct lxsk_chan *c, const char *what)
{
	if (c->closed)
		return lxsk_fail(EBADF, "%s: this end of the channel is closed", what);
	return lxsk_fail(EINVAL, "%s: this is the channel's %s end", what, c->role == SEND ? "sending" : "receiving");
}

static int wrong_part(int32_t bound, uint8_t part, const char *what) __attribute__((cold, noinline));
static int wrong_part(int32_t bound, uint8_t part, const char *what)
{
	return lxsk_fail(EPERM,
			 "%s: this end of the channel serves partition %d of the UMEM, not %u: one end, one "
			 "worker (hand each end to the one worker that uses it)",
			 what, bound, part);
}

/* The batch's head when c may use it: a batch of an open handle of the
 * channel's UMEM, of the partition this end serves (the first to use it). */
static struct batch_head *usable(struct lxsk_chan *c, int role, int32_t *bound, const struct lxsk_batch *b,
				 const char *what)
{
	struct fchan *ch = c->ch;
	struct batch_head *h;

	if (__builtin_expect(c->role != role || c->closed, 0)) {
		wrong_end(c, what);
		return NULL;
	}
	h = frames_batch(b, what);
	if (!h)
		return NULL;
	if (__builtin_expect(h->frames != &ch->um->frames, 0)) {
		lxsk_fail(EXDEV, "%s: the batch belongs to another UMEM (id %u, the channel's is %u)", what,
			  b->umem_id, ch->um->frames.id);
		return NULL;
	}
	if (umem_usable(h->holder, what))
		return NULL;
	if (*bound < 0)
		*bound = h->pool->tag;
	else if (__builtin_expect(*bound != h->pool->tag, 0)) {
		wrong_part(*bound, h->pool->tag, what);
		return NULL;
	}
	return h;
}

int lxsk_chan_send(struct lxsk_chan *c, struct lxsk_batch *b)
{
	struct fchan *ch = c->ch;
	const struct frames *fr = &ch->um->frames;
	struct batch_head *h = usable(c, SEND, &ch->send_part, b, "send");
	struct claim_rule rule;
	uint32_t n, k, idx, first, done;

	if (!h)
		return -lxsk_errno();
	if (__atomic_load_n(&ch->closed[RECV], __ATOMIC_ACQUIRE))
		return lxsk_fail(EPIPE, "send: the receiving end of the channel is closed");
	n = b->n;
	idx = ch->prod;
	k = ch->size - (idx - ch->cached_cons);
	if (k < n) {
		ch->cached_cons = __atomic_load_n(&ch->cons, __ATOMIC_ACQUIRE);
		k = ch->size - (idx - ch->cached_cons);
	}
	if (k > n)
		k = n;
	if (!k)
		return 0;
	/* The slots from idx on, in at most two runs: to the ring's end, then
	 * from its start.  All of the k frames pass, or none moves. */
	rule = (struct claim_rule){ lxsk_owner_byte(LXSK_OWN_USER, h->pool->tag), 0, 0 };
	first = ch->size - (idx & ch->mask);
	if (first > k)
		first = k;
	done = frames_claim(fr, b->f, first, rule, umem_in_channel(), SINK_DESC, &ch->ring[idx & ch->mask]);
	if (done == first && k > first) {
		uint32_t rest = frames_claim(fr, b->f + first, k - first, rule, umem_in_channel(), SINK_DESC, ch->ring);

		if (rest < k - first)
			frames_unclaim(fr, b->f, first, rule.owner);
		done = first + rest;
	}
	if (done < k)
		return frames_refusal(fr, b, done, rule, "send");
	__atomic_store_n(&ch->prod, idx + k, __ATOMIC_RELEASE);
	frames_batch_shift(b, k);
	return (int)k;
}

int lxsk_chan_recv(struct lxsk_chan *c, struct lxsk_batch *b, uint32_t max)
{
	struct fchan *ch = c->ch;
	struct batch_head *h = usable(c, RECV, &ch->recv_part, b, "recv");
	const struct frames m = ch->um->frames;
	uint32_t room, avail, idx, bn;
	uint8_t user;

	if (!h)
		return -lxsk_errno();
	room = h->cap - b->n;
	if (max < room)
		room = max;
	idx = ch->cons;
	avail = ch->cached_prod - idx;
	if (avail < room) {
		ch->cached_prod = __atomic_load_n(&ch->prod, __ATOMIC_ACQUIRE);
		avail = ch->cached_prod - idx;
	}
	if (avail > room)
		avail = room;
	user = lxsk_owner_byte(LXSK_OWN_USER, h->pool->tag);
	bn = b->n;
	for (uint32_t i = 0; i < avail; i++) {
		const struct xdp_desc *d = &ch->ring[(idx + i) & ch->mask];
		uint8_t *st = frame_held_as(&m, d->addr, umem_in_channel());

		/* Only the sending end writes here, and only frames it marked. */
		if (__builtin_expect(!st, 0))
			continue;
		own_set(st, user);
		frame_fill(&m, &b->f[bn++], d->addr, side_by_side(d->len, d->options));
	}
	__atomic_store_n(&ch->cons, idx + avail, __ATOMIC_RELEASE);
	avail = bn - b->n;
	b->n = bn;
	return (int)avail;
}

void lxsk_chan_get_info(const struct lxsk_chan *c, struct lxsk_chan_info *info)
{
	const struct fchan *ch = c->ch;
	uint32_t prod = __atomic_load_n(&ch->prod, __ATOMIC_ACQUIRE);
	uint32_t cons = __atomic_load_n(&ch->cons, __ATOMIC_ACQUIRE);

	*info = (struct lxsk_chan_info){
		.size = ch->size,
		.queued = prod - cons,
		.sending = c->role == SEND,
		.closed = c->closed,
		.peer_closed = (int32_t)__atomic_load_n(&ch->closed[!c->role], __ATOMIC_ACQUIRE),
		.part = c->role == SEND ? ch->send_part : ch->recv_part,
	};
}

void lxsk_chan_close(struct lxsk_chan *c)
{
	if (!c || c->closed)
		return;
	c->closed = true;
	__atomic_store_n(&c->ch->closed[c->role], 1, __ATOMIC_RELEASE);
}

/* Both ends gone: what is still in the channel can reach no partition, so
 * it waits in the lost and found for one to reclaim it. */
static void fchan_free(struct fchan *ch)
{
	struct umem *um = ch->um;
	uint32_t prod = __atomic_load_n(&ch->prod, __ATOMIC_ACQUIRE);

	pthread_mutex_lock(&um->lock);
	if (!um->closed) {
		for (uint32_t i = __atomic_load_n(&ch->cons, __ATOMIC_ACQUIRE); i != prod; i++) {
			uint64_t addr = ch->ring[i & ch->mask].addr;

			if (frame_held_as(&um->frames, addr, umem_in_channel()))
				umem_lose(um, addr);
		}
	}
	pthread_mutex_unlock(&um->lock);
	umem_unref(um);
	free(ch->ring);
	free(ch);
}

void lxsk_chan_free(struct lxsk_chan *c)
{
	struct fchan *ch;

	if (!c)
		return;
	lxsk_chan_close(c);
	ch = c->ch;
	free(c);
	if (!__atomic_sub_fetch(&ch->refs, 1, __ATOMIC_ACQ_REL))
		fchan_free(ch);
}
