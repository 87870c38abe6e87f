/* The clock side of measure.h: monotonic time, absolute sleeps, timer slack. */
#include <errno.h>
#include <sys/prctl.h>
#include <time.h>

#include "measure.h"

_Static_assert(LXSK_HIST_SUB == 1 << LXSK_HIST_SUB_BITS, "LXSK_HIST_SUB is 2^LXSK_HIST_SUB_BITS");
_Static_assert(LXSK_HIST_BUCKETS == (LXSK_HIST_TOP_BITS - LXSK_HIST_SUB_BITS + 1) * LXSK_HIST_SUB,
	       "LXSK_HIST_BUCKETS covers 0 .. 2^LXSK_HIST_TOP_BITS");

#define NS_PER_S 1000000000LL

int64_t lxsk_clock_ns(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC cannot fail on Linux (vDSO, valid id and pointer). */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

int lxsk_sleep_until_ns(int64_t t)
{
	struct timespec ts;
	int r;

	if (t < 0)
		return -EINVAL;
	ts.tv_sec = t / NS_PER_S;
	ts.tv_nsec = t % NS_PER_S;
	/* An absolute deadline: an interrupted sleep resumes toward the same
	 * instant instead of sleeping its whole length again. */
	do
		r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	while (r == EINTR);
	return -r;
}

int64_t lxsk_wait_until_ns(int64_t t, int64_t spin_ns)
{
	int64_t now = lxsk_clock_ns();

	if (t < 0 || spin_ns < 0)
		return -EINVAL;
	if (t - now > spin_ns) {
		int r = lxsk_sleep_until_ns(t - spin_ns);

		if (r < 0)
			return r;
		now = lxsk_clock_ns();
	}
	while (now < t)
		now = lxsk_clock_ns();
	return now;
}

int lxsk_set_timer_slack_ns(uint64_t ns)
{
	if (prctl(PR_SET_TIMERSLACK, (unsigned long)ns, 0, 0, 0) < 0)
		return -errno;
	return 0;
}
