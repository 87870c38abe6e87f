/* What the measurement modules need from C: the monotonic clock in
 * nanoseconds, sleeps to an absolute time on it (lua/xsk/clock.lua,
 * lua/xsk/pace.lua), and the memory layout of a latency histogram
 * (lua/xsk/hist.lua), kept in C so that histograms of several Lua VMs can be
 * merged through a plain pointer.  Nothing in the socket core uses them. */
#ifndef LXSK_MEASURE_H
#define LXSK_MEASURE_H

#include <stdint.h>

/* FFI: begin */
/* The histogram's buckets (lua/xsk/hist.lua derives them from its error
 * bound): values below LXSK_HIST_SUB ns have a bucket each; every power of
 * two above is cut into LXSK_HIST_SUB equal buckets, up to 2^LXSK_HIST_TOP_BITS ns. */
enum lxsk_hist_layout {
	LXSK_HIST_SUB_BITS = 6,
	LXSK_HIST_SUB = 64,
	LXSK_HIST_TOP_BITS = 40,
	LXSK_HIST_BUCKETS = 2240 /* (LXSK_HIST_TOP_BITS - LXSK_HIST_SUB_BITS + 1) * LXSK_HIST_SUB */
};
struct lxsk_hist {
	uint64_t n_values;     /* values recorded */
	double sum_ns;         /* their sum, for the mean */
	double min_ns, max_ns; /* exact; min_ns is +inf while empty */
	uint64_t bucket[LXSK_HIST_BUCKETS];
};

/* CLOCK_MONOTONIC in ns: the clock bpf_ktime_get_ns() reads in XDP programs. */
int64_t lxsk_clock_ns(void);
/* Sleeps until CLOCK_MONOTONIC reads t ns (absolute, so no drift builds up);
 * returns 0, or a negative errno (signals are slept through). */
int lxsk_sleep_until_ns(int64_t t);
/* Waits until CLOCK_MONOTONIC reads t ns: sleeps until spin_ns before t,
 * then reads the clock in a loop.  In C, because a Lua loop spinning a
 * varying number of times is traced anew for every count the JIT meets.
 * Returns the clock's reading at the end (>= t), or a negative errno. */
int64_t lxsk_wait_until_ns(int64_t t, int64_t spin_ns);
/* Sets the calling thread's timer slack (prctl PR_SET_TIMERSLACK): how late
 * the kernel may end its sleeps to batch wake-ups, 50 us by default; 0 puts
 * the default back.  Returns 0 or a negative errno. */
int lxsk_set_timer_slack_ns(uint64_t ns);
/* FFI: end */

#endif
