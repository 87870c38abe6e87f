/* bench/simkernel: a kernel simulated inside the process, for `make bench-core`
 * (bench/README.md, "The core's own cost").
 *
 * On veth the kernel spends microseconds on every copy-mode packet and hides
 * what the core costs.  Here the four rings of a socket are memory of our own,
 * laid out as the kernel lays them out (producer, consumer and flags words,
 * then the descriptors), and simk_step does what the kernel and a NIC that
 * keeps up would do with them: every TX descriptor is sent and its address
 * goes to the completion ring; up to a budget of fill-ring frames receive a
 * packet each, whose descriptor goes to the RX ring.  No syscalls, and the
 * rings never ask for a wakeup.  The packet is written into every frame once
 * (simk_load), so a step moves descriptors and nothing else: what it costs is
 * small, the same for every loop that drives it, and counted apart.
 *
 * The production core runs on these rings unchanged: simk_umem_new makes a
 * UMEM the kernel does not know (umem_make) and simk_sock_new a socket on the
 * rings (sock_new_on_rings).  The bare C loop (bench/bare_loop.c) drives the
 * same rings through libxdp's ring helpers, as a plain libxdp program does.
 *
 * This code goes into build/bench-core/lua/xsk/core.so with the core's
 * objects, never into the release core.so. */
#ifndef SIMKERNEL_H
#define SIMKERNEL_H

#include <stdint.h>
#include <xdp/xsk.h>

#include "lxsk.h"

/* FFI: begin */
struct simk;

/* The benchmark's modes, as in bench/README.md. */
enum simk_mode { SIMK_RXDROP = 0, SIMK_TOUCH = 1, SIMK_L2FWD = 2, SIMK_TXONLY = 3 };

struct simk_config {
	uint32_t frame_count;
	uint32_t frame_size;
	uint32_t data_offset; /* from a frame's start to the packet the "NIC" receives there */
	uint32_t fill_size;
	uint32_t comp_size;
	uint32_t rx_size;     /* 0: no RX ring */
	uint32_t tx_size;     /* 0: no TX ring */
	uint32_t pkt_len;     /* bytes of every received packet */
	uint32_t budget;      /* packets received per step at most (a NAPI budget) */
};

struct simk_stats {
	uint64_t rx;          /* descriptors produced on the RX ring */
	uint64_t tx;          /* TX descriptors sent (and completed) */
	uint64_t tx_invalid;  /* TX descriptors outside the UMEM or their frame: never expected */
	uint64_t steps;
	uint64_t ticks;       /* TSC ticks spent in simk_step */
};

struct simk *simk_new(const struct simk_config *c);
void simk_free(struct simk *k);
/* Writes the packet every received frame carries (Ethernet, IPv4 198.18.0.1
 * -> 198.18.0.2, UDP 4096 -> 9, pkt_len bytes) into every frame of area, at
 * data_offset.  area holds frame_count frames of frame_size bytes. */
void simk_load(struct simk *k, uint8_t *area);
/* One pass of the kernel over the rings; returns the descriptors it moved. */
uint32_t simk_step(struct simk *k);

/* Timing loops on a shared machine.  A loop calls simk_mark every few
 * iterations (the same number in every implementation) with its packet
 * count; each mark closes a window, timed with the TSC, and the time each
 * window spent in simk_step is known.  A measurement is made of slices
 * (simk_slice_begin .. simk_slice_end) so that the C and Lua loops can take
 * turns, a few milliseconds each, and see the same machine; the rates are
 * medians over the windows, so that one in which the loop waited for the CPU
 * does not move them. */
struct simk_rates {
	double pps;       /* median over the windows, the simulated kernel's time left out */
	double raw_pps;   /* median over the windows, all of their time */
	uint32_t windows;
};
void simk_measure_clear(struct simk *k);
void simk_slice_begin(struct simk *k, uint64_t pkts);
void simk_mark(struct simk *k, uint64_t pkts);
void simk_slice_end(struct simk *k, uint64_t pkts);
void simk_get_rates(struct simk *k, struct simk_rates *r);
void simk_get_stats(const struct simk *k, struct simk_stats *st);
void simk_get_config(const struct simk *k, struct simk_config *c);

/* The core on the simulated rings: a UMEM not registered with the kernel,
 * and a socket on it whose rings are k's (fd -1).  Close the socket (or the
 * UMEM) before freeing k. */
struct lxsk_umem *simk_umem_new(const struct lxsk_umem_opts *o);
struct lxsk_sock *simk_sock_new(struct simk *k, struct lxsk_umem *u, const struct lxsk_sock_opts *o);

/* Under callgrind: start (1) or stop (0) counting instructions, so that the
 * count covers the measured loop only.  Does nothing outside valgrind. */
void simk_callgrind(int on);
/* FFI: end */

/* The program's ends of k's four rings, as libxdp hands them to a program
 * (for the bare C loop). */
struct simk_rings {
	struct xsk_ring_prod fq;
	struct xsk_ring_cons cq;
	struct xsk_ring_cons rx;
	struct xsk_ring_prod tx;
};
void simk_rings(const struct simk *k, struct simk_rings *r);

#endif
