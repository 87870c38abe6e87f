/* The stop flag every worker checks (threads.h, stop.h).  One word for the
 * whole process, so the check in a worker's loop is a load; the signal
 * handler only stores to it, which is async-signal-safe. */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <time.h>

#include "error.h"
#include "stop.h"
#include "threads.h"

#define POLL_EVERY_NS 10000000ll /* how often the main thread looks for blocked signals */

static const int stop_signals[] = { SIGINT, SIGTERM, SIGHUP };
#define NSIG_STOP (sizeof(stop_signals) / sizeof(stop_signals[0]))

static uint32_t stop_flag;          /* atomic */
static volatile sig_atomic_t signals_seen;
static int live;                    /* atomic: workers alive */
static _Thread_local const uint32_t *my_cancel;
static _Thread_local long long next_poll_ns;

/* Under catch_lock: whether our handler is installed, and what was there. */
static struct sigaction saved[NSIG_STOP];
static int catching;

void lxsk_stop(void)
{
	__atomic_store_n(&stop_flag, 1, __ATOMIC_RELEASE);
}

static bool flag_set(void)
{
	return __atomic_load_n(&stop_flag, __ATOMIC_ACQUIRE) != 0;
}

static long long coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (long long)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

bool stop_poll_signals(void)
{
	sigset_t pending;

	if (flag_set())
		return true;
	if (sigpending(&pending))
		return false;
	for (size_t i = 0; i < NSIG_STOP; i++) {
		if (sigismember(&pending, stop_signals[i]) == 1) {
			lxsk_stop();
			return true;
		}
	}
	return false;
}

int lxsk_stopping(void)
{
	long long now;

	if (flag_set())
		return 1;
	if (my_cancel)
		return __atomic_load_n(my_cancel, __ATOMIC_ACQUIRE) != 0;
	/* The main thread: a blocked Ctrl-C counts too, looked for now and then. */
	now = coarse_ns();
	if (now < next_poll_ns)
		return 0;
	next_poll_ns = now + POLL_EVERY_NS;
	return stop_poll_signals();
}

void stop_set_mine(const uint32_t *cancel)
{
	my_cancel = cancel;
}

bool stop_in_worker(void)
{
	return my_cancel != NULL;
}

bool stop_mine(void)
{
	return my_cancel && (flag_set() || __atomic_load_n(my_cancel, __ATOMIC_ACQUIRE));
}

void stop_worker_started(void)
{
	__atomic_add_fetch(&live, 1, __ATOMIC_ACQ_REL);
}

void stop_worker_ended(void)
{
	__atomic_sub_fetch(&live, 1, __ATOMIC_ACQ_REL);
}

int lxsk_workers_live(void)
{
	return __atomic_load_n(&live, __ATOMIC_ACQUIRE);
}

int lxsk_stop_reset(void)
{
	int n = lxsk_workers_live();

	if (n)
		return lxsk_fail(EBUSY, "reset: %d worker%s still running; join %s first", n, n == 1 ? " is" : "s are",
				 n == 1 ? "it" : "them");
	__atomic_store_n(&stop_flag, 0, __ATOMIC_RELEASE);
	signals_seen = 0;
	return 0;
}

/* The first stop signal asks every worker to stop; another one does what
 * the signal would have done without us, so a stuck script still dies. */
static void on_stop_signal(int sig)
{
	if (signals_seen++) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	__atomic_store_n(&stop_flag, 1, __ATOMIC_RELEASE);
}

int lxsk_catch_signals(int on)
{
	struct sigaction sa = { .sa_handler = on_stop_signal };
	int err = 0;

	sigemptyset(&sa.sa_mask);
	if (on && !catching) {
		size_t i;

		for (i = 0; i < NSIG_STOP && !err; i++)
			if (sigaction(stop_signals[i], &sa, &saved[i]))
				err = lxsk_fail(errno, "catch_signals: sigaction(%d) failed", stop_signals[i]);
		if (err)
			while (--i > 0)
				sigaction(stop_signals[i - 1], &saved[i - 1], NULL);
		catching = !err;
	} else if (!on && catching) {
		for (size_t i = 0; i < NSIG_STOP; i++)
			sigaction(stop_signals[i], &saved[i], NULL);
		catching = 0;
	}
	return err;
}
