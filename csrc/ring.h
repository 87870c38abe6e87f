/* Layer 3 of the core: the four rings of one socket, as a handful of verbs
 * that move frames between the script, the pool and the kernel, each hand-over
 * checked by the frames layer.  A struct port is what a socket is to its
 * rings: the rings themselves, the pair it shares, its partition's pool, and
 * its name for messages.  Nothing here binds or closes anything. */
#ifndef LXSK_RING_H
#define LXSK_RING_H

#include <net/if.h>
#include <stdbool.h>
#include <xdp/xsk.h>

#include "umem.h"

struct port {
	struct xsk_ring_cons rx;
	struct xsk_ring_prod tx;
	struct pair *pair;
	const struct frames *frames;
	struct pool *pool;
	int fd;
	uint32_t queue;
	char ifname[IF_NAMESIZE];
	uint8_t user;    /* the owner byte of the partition's script */
	uint8_t on_fill; /* ... of frames on the pair's fill ring or an RX ring */
	uint8_t on_tx;   /* ... of frames on a TX ring or the pair's completion ring */
	uint32_t bad_options; /* every option bit but LXSK_PKT_CONTD, which multi-buffer allows */
	uint32_t fill_target; /* frames auto-fill keeps on the fill ring */
	uint32_t comp_size;
	bool has_rx, has_tx, auto_fill, multi_buffer, zerocopy;
	uint32_t idle;        /* calls that found nothing to do, for ring_check_alive */
	uint64_t probed_ns;   /* when the kernel was last asked whether the socket is bound */
};

/* "<what> on <ifname> queue <queue>", for messages. */
#define PORT_FMT "%s on %s queue %u"
#define PORT_ARGS(what, p) (what), (p)->ifname, (p)->queue

/* The script's frames to the fill ring, all or none; 0 when it has no room. */
int ring_fill(struct port *p, struct lxsk_batch *b, const char *what);
/* The script's frames back, all or none: the first straight onto the fill
 * ring, as far as auto-fill wants them there, the rest to the pool.  Returns
 * how many, or the refusal, named `what` alone (the frames are the UMEM's,
 * not this socket's). */
int ring_release(struct port *p, struct lxsk_batch *b, const char *what);
/* Tops the fill ring up from the pool (auto-fill); returns how many went. */
uint32_t ring_refill(struct port *p);
/* Whether the fill ring lacks more than half its target: recv tops it up
 * only then, so that in between released frames can go straight onto it. */
bool ring_fill_low(const struct port *p);
/* Completed TX frames straight to the fill ring, as far as auto-fill wants
 * them there; returns how many went. */
uint32_t ring_recycle_to_fill(struct port *p);
/* Completed TX frames to the end of batch b, or to the pool when b is NULL. */
uint32_t ring_complete(struct port *p, struct lxsk_batch *b, uint32_t max);
/* Up to max completed TX frames to the end of b as fresh frames, the same as
 * pool_alloc hands out (at data_offset, length len); returns how many. */
uint32_t ring_alloc_completed(struct port *p, struct lxsk_batch *b, uint32_t max, uint32_t len);
/* Received frames to the end of b, whole packets only. */
int ring_receive(struct port *p, struct lxsk_batch *b, uint32_t max, const char *what);
/* The first n frames of b to the TX ring: every one passes or none goes.
 * Returns n, 0 when the ring has no room for n, or an error. */
int ring_transmit(struct port *p, struct lxsk_batch *b, uint32_t n, const char *what);
/* As many whole packets from the front of b as the TX ring takes now; the
 * rest, with drop_rest, to the pool (checked all the same).  Returns how
 * many went on the ring, or an error with nothing moved. */
int ring_transmit_some(struct port *p, struct lxsk_batch *b, bool drop_rest, const char *what);
/* Kicks the kernel to transmit: once (ring_kick), or until it has taken
 * everything on the TX ring or stops taking (ring_drain). */
int ring_kick(struct port *p, const char *what);
int ring_drain(struct port *p, const char *what);
bool ring_tx_busy(const struct port *p);
uint32_t ring_tx_waiting(const struct port *p);
/* poll(2) for LXSK_POLL_IN / LXSK_POLL_OUT; returns the events ready. */
int ring_poll(struct port *p, int events, int timeout_ms, const char *what);
/* Whether the kernel still has the socket bound to its interface: asked at
 * most every 200 ms, after 64 calls in a row found nothing to do, so a loop
 * that spins on an empty ring learns within a second that the interface went
 * away, and a busy loop pays nothing. */
int ring_check_alive(struct port *p, const char *what);
int ring_probe_alive(struct port *p, const char *what);
static inline void ring_busy(struct port *p)
{
	p->idle = 0;
}
/* Before the socket is deleted: the frames its own rings hold that can no
 * longer come back through the pair go to the pool. */
uint32_t ring_return_on_close(struct port *p);
bool ring_fill_needs_wakeup(const struct port *p);
bool ring_tx_needs_wakeup(const struct port *p);
void ring_state(const struct port *p, int ring, struct lxsk_ring_state *st);
/* Slow path, for checks and debugging: the entries between the consumer and
 * the producer of one ring (enum lxsk_ring_id, present on this port), oldest
 * first, up to max of them into out; returns how many the ring holds, and the
 * consumer index they start at in *consumer.  Takes nothing, changes no owner. */
uint32_t ring_entries(const struct port *p, int ring, struct lxsk_ring_entry *out, uint32_t max, uint32_t *consumer);

#endif
