/* What the ring files (ring_pair.c, ring_io.c, ring_watch.c) share: the rule
 * a frame from the script must pass, how ring slots run, and why a frame was
 * refused, with the socket named.  Internal to the ring layer. */
#ifndef LXSK_RING_PARTS_H
#define LXSK_RING_PARTS_H

#include "ring.h"

static inline struct claim_rule from_script(const struct port *p, uint32_t min_len, uint32_t bad_options)
{
	return (struct claim_rule){ p->user, min_len, bad_options };
}

/* How many of the n ring slots from idx on lie before the ring's end: the
 * per-packet loops walk slots in at most two runs, this one and the rest from
 * the ring's start, instead of masking every index. */
static inline uint32_t run_length(uint32_t size, uint32_t mask, uint32_t idx, uint32_t n)
{
	uint32_t room = size - (idx & mask);

	return n < room ? n : room;
}

/* Why frame i of b was refused, with the socket named. */
int ring_refused(const struct port *p, const struct lxsk_batch *b, uint32_t i, struct claim_rule r,
		 const char *what) __attribute__((cold, noinline));

#endif
