/* bench/bare_loop: the bare C loop of `make bench-core`, what a plain libxdp
 * program does on the simulated kernel's rings (simkernel.h): the loops of
 * bench/xdpsock_c.c without their syscalls, no ownership checks at all. */
#ifndef BARE_LOOP_H
#define BARE_LOOP_H

#include <stdint.h>

#include "simkernel.h"

/* FFI: begin */
struct bare_loop;

struct bare_result {
	uint64_t pkts;      /* received (rxdrop, touch, l2fwd) or put on the TX ring (txonly) */
	uint64_t tx;        /* put on the TX ring (l2fwd, txonly) */
	uint64_t dropped;   /* l2fwd: received but not forwarded (no room on the TX ring) */
	uint64_t udp;       /* touch: UDP packets seen */
	uint64_t dport_sum; /* touch: their destination ports, summed */
	uint64_t iters;     /* loop iterations */
	uint64_t wakeups;   /* times a ring asked for a wakeup: never, on these rings */
};

/* A program on k's rings with a UMEM of its own (frame_count frames, the
 * packet written into each by simk_load), every frame free. */
struct bare_loop *bare_new(struct simk *k);
void bare_free(struct bare_loop *c);
/* Runs mode's loop, a simk_step after each iteration and a simk_mark every
 * 256, until r->pkts reaches count.  r starts at zero. */
void bare_run(struct bare_loop *c, int mode, uint32_t batch, uint32_t pkt_len, uint64_t count,
	      struct bare_result *r);
/* FFI: end */

#endif
