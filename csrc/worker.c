/* Workers (threads.h): a pthread with a LuaJIT VM of its own, made here in
 * C, so a script's function runs on another core with nothing of its
 * caller's VM shared.  What crosses: the function (bytes), its arguments
 * (bytes the Lua side serialized), and C objects handed over by index.
 *
 * The hand-over: the giving VM lets go of an object (its garbage collector
 * no longer frees it: a UMEM handle, a channel end, a counter slot), or
 * takes one more reference on it (a mailbox, a counter block), and the
 * worker owns it from then on.  The worker's VM adopts it by index, with a
 * finalizer of its own; an object it never adopts (it failed first) is freed
 * here when the worker is.  So no object is ever freed by a VM that does not
 * own it, and none is left behind.
 *
 * The top of the core's layers: it calls the lifetime, channel, mailbox,
 * counter and stop files, and none of them calls it. */
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "shared.h"
#include "stop.h"
#include "threads.h"
#include "umem.h"

#define NAME_MAX_LEN 48
#define MAX_HANDS 4096
#define JOIN_SLICE_MS 50
#define FREE_WAIT_MS 2000

struct hand {
	int kind;
	void *obj;
	bool adopted; /* by the worker's VM, which frees it from then on */
};

struct lxsk_worker {
	pthread_mutex_t lock;
	pthread_cond_t ended;
	pthread_t thread;
	int refs;        /* atomic: the Lua object that made it, and its thread */
	uint32_t cancel; /* atomic: this worker's own stop flag */
	int cpu;
	/* The making thread's: */
	bool started, joined;
	/* Written by the worker's thread before it sets done (under lock), read
	 * by others after they saw done: */
	bool done;
	int result_state;
	char *result;
	size_t result_len;
	/* Set before the thread starts, read-only afterwards: */
	char name[NAME_MAX_LEN];
	char *code, *args, *path, *cpath;
	size_t code_len, args_len;
	struct hand *hands; /* adopted flags: the worker's thread, then the last unref */
	uint32_t nhands, max_hands;
};

static _Thread_local struct lxsk_worker *self;

static void release_hand(struct hand *h)
{
	switch (h->kind) {
	case LXSK_HAND_UMEM: lxsk_umem_free(h->obj); break;
	case LXSK_HAND_CHAN: lxsk_chan_free(h->obj); break;
	case LXSK_HAND_MAILBOX: lxsk_mailbox_free(h->obj); break;
	case LXSK_HAND_COUNTERS: lxsk_counters_free(h->obj); break;
	case LXSK_HAND_SLOT: lxsk_counter_free(h->obj); break;
	}
}

static void worker_unref(struct lxsk_worker *w)
{
	if (__atomic_sub_fetch(&w->refs, 1, __ATOMIC_ACQ_REL))
		return;
	for (uint32_t i = w->nhands; i > 0; i--)
		if (!w->hands[i - 1].adopted)
			release_hand(&w->hands[i - 1]);
	free(w->hands);
	free(w->result);
	free(w->cpath);
	free(w->path);
	free(w->args);
	free(w->code);
	pthread_cond_destroy(&w->ended);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

static int check_cpu(int cpu)
{
	cpu_set_t allowed;

	if (cpu < 0)
		return 0;
	if (cpu >= CPU_SETSIZE)
		return lxsk_fail(EINVAL, "cpu %d is past the last one this system can have (%d)", cpu, CPU_SETSIZE - 1);
	if (sched_getaffinity(0, sizeof(allowed), &allowed))
		return lxsk_fail(errno, "cpu %d: sched_getaffinity failed", cpu);
	if (!CPU_ISSET(cpu, &allowed))
		return lxsk_fail(EINVAL, "cpu %d is not one this process may run on (it may use %d cpus)", cpu,
				 CPU_COUNT(&allowed));
	return 0;
}

struct lxsk_worker *lxsk_worker_new(const char *name, int cpu, uint32_t hands)
{
	struct lxsk_worker *w;
	pthread_condattr_t ca;

	if (!name || !*name || strlen(name) >= NAME_MAX_LEN) {
		lxsk_fail(EINVAL, "a worker's name must have 1 to %d characters", NAME_MAX_LEN - 1);
		return NULL;
	}
	if (hands > MAX_HANDS) {
		lxsk_fail(EINVAL, "%s: %u objects to hand over, at most %d", name, hands, MAX_HANDS);
		return NULL;
	}
	if (check_cpu(cpu))
		return NULL;
	w = calloc(1, sizeof(*w));
	if (!w || !(w->hands = calloc(hands ? hands : 1, sizeof(*w->hands)))) {
		free(w);
		lxsk_fail(ENOMEM, "%s: out of memory", name);
		return NULL;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->ended, &ca);
	pthread_condattr_destroy(&ca);
	snprintf(w->name, sizeof(w->name), "%s", name);
	w->cpu = cpu;
	w->max_hands = hands;
	w->refs = 1;
	return w;
}

int lxsk_umem_movable(const struct lxsk_umem *u)
{
	return umem_handle_movable(u);
}

int lxsk_worker_give(struct lxsk_worker *w, int kind, void *obj)
{
	if (w->started)
		return lxsk_fail(EINVAL, "%s: already started; hand objects over before", w->name);
	if (w->nhands >= w->max_hands)
		return lxsk_fail(ENOSPC, "%s: room for %u objects to hand over, all used", w->name, w->max_hands);
	if (!obj)
		return lxsk_fail(EINVAL, "%s: nothing to hand over (NULL)", w->name);
	switch (kind) {
	case LXSK_HAND_UMEM:
		if (umem_handle_movable(obj))
			return -lxsk_errno();
		break;
	case LXSK_HAND_MAILBOX: mailbox_ref(obj); break;
	case LXSK_HAND_COUNTERS: counters_ref(obj); break;
	case LXSK_HAND_CHAN:
	case LXSK_HAND_SLOT: break;
	default: return lxsk_fail(EINVAL, "%s: no kind of object %d to hand over", w->name, kind);
	}
	w->hands[w->nhands] = (struct hand){ .kind = kind, .obj = obj };
	return (int)w->nhands++;
}

static char *copy(const char *s, size_t len)
{
	char *d = malloc(len + 1);

	if (d) {
		memcpy(d, s, len);
		d[len] = '\0';
	}
	return d;
}

static void set_result(struct lxsk_worker *w, int state, const char *data, size_t len)
{
	free(w->result);
	w->result = copy(data, len);
	w->result_len = w->result ? len : 0;
	w->result_state = state;
}

static const char BOOT[] = "return require('xsk.workers')._main()";

/* The worker's VM, from its first breath to its last: require finds the
 * modules where the VM that started it found them. */
static void run_vm(struct lxsk_worker *w)
{
	lua_State *L = luaL_newstate();
	static const char no_result[] = "the worker's Lua ended without a result";

	if (!L) {
		static const char oom[] = "cannot make a Lua state for the worker (out of memory)";

		set_result(w, LXSK_WORKER_RAISED, oom, sizeof(oom) - 1);
		return;
	}
	luaL_openlibs(L);
	lua_getglobal(L, "package");
	lua_pushstring(L, w->path);
	lua_setfield(L, -2, "path");
	lua_pushstring(L, w->cpath);
	lua_setfield(L, -2, "cpath");
	lua_pop(L, 1);
	if (luaL_loadbuffer(L, BOOT, sizeof(BOOT) - 1, "=xsk.workers") || lua_pcall(L, 0, 0, 0)) {
		size_t len = 0;
		const char *msg = lua_tolstring(L, -1, &len);

		/* Only when the Lua side could not report it itself. */
		if (!w->result)
			set_result(w, LXSK_WORKER_RAISED, msg ? msg : "(an error that is not a string)",
				   msg ? len : strlen("(an error that is not a string)"));
	}
	if (!w->result)
		set_result(w, LXSK_WORKER_RAISED, no_result, sizeof(no_result) - 1);
	/* Closing the VM runs its finalizers: its sockets close, its UMEM
	 * handles let go, before anyone sees the worker as ended. */
	lua_close(L);
}

/* "xsk:<name>", as much as the kernel keeps of a thread's name (15 bytes). */
static void name_thread(const char *name)
{
	char tname[16] = "xsk:";
	size_t n = strlen(name);

	if (n > sizeof(tname) - 5)
		n = sizeof(tname) - 5;
	memcpy(tname + 4, name, n);
	tname[4 + n] = '\0';
	pthread_setname_np(pthread_self(), tname);
}

static void *worker_main(void *arg)
{
	struct lxsk_worker *w = arg;

	self = w;
	stop_set_mine(&w->cancel);
	name_thread(w->name);
	run_vm(w);
	stop_set_mine(NULL);
	self = NULL;
	stop_worker_ended();
	pthread_mutex_lock(&w->lock);
	w->done = true;
	pthread_cond_broadcast(&w->ended);
	pthread_mutex_unlock(&w->lock);
	worker_unref(w);
	return NULL;
}

int lxsk_worker_start(struct lxsk_worker *w, const char *code, size_t code_len, const char *args,
		      size_t args_len, const char *path, const char *cpath)
{
	pthread_attr_t attr;
	sigset_t all, old;
	cpu_set_t cpus;
	int err;

	if (w->started)
		return lxsk_fail(EINVAL, "%s: already started", w->name);
	if (!code || !code_len || !args || !path || !cpath)
		return lxsk_fail(EINVAL, "%s: nothing to run", w->name);
	w->code = copy(code, code_len);
	w->args = copy(args, args_len);
	w->path = copy(path, strlen(path));
	w->cpath = copy(cpath, strlen(cpath));
	if (!w->code || !w->args || !w->path || !w->cpath)
		return lxsk_fail(ENOMEM, "%s: out of memory", w->name);
	w->code_len = code_len;
	w->args_len = args_len;
	pthread_attr_init(&attr);
	if (w->cpu >= 0) {
		CPU_ZERO(&cpus);
		CPU_SET(w->cpu, &cpus);
		pthread_attr_setaffinity_np(&attr, sizeof(cpus), &cpus);
	}
	/* The worker starts with every signal blocked: stop signals go to the
	 * main thread (or wait there for the script to take them). */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	__atomic_add_fetch(&w->refs, 1, __ATOMIC_RELAXED);
	stop_worker_started();
	err = pthread_create(&w->thread, &attr, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (err) {
		stop_worker_ended();
		__atomic_sub_fetch(&w->refs, 1, __ATOMIC_RELAXED);
		if (w->cpu >= 0 && err == EINVAL)
			return lxsk_fail(err, "%s: cannot start a thread on cpu %d", w->name, w->cpu);
		return lxsk_fail(err, "%s: cannot start a thread", w->name);
	}
	w->started = true;
	return 0;
}

static long long now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000000000ll + t.tv_nsec;
}

int lxsk_worker_join(struct lxsk_worker *w, int timeout_ms)
{
	long long deadline = timeout_ms < 0 ? -1 : now_ns() + (long long)timeout_ms * 1000000ll;
	bool done;
	int state;

	if (!w->started)
		return lxsk_fail(EINVAL, "join: %s was never started", w->name);
	if (w == self)
		return lxsk_fail(EDEADLK, "join: %s cannot wait for itself", w->name);
	pthread_mutex_lock(&w->lock);
	while (!w->done) {
		long long now = now_ns(), until = now + JOIN_SLICE_MS * 1000000ll;
		struct timespec ts;

		if (deadline >= 0 && now >= deadline)
			break;
		if (deadline >= 0 && deadline < until)
			until = deadline;
		ts.tv_sec = (time_t)(until / 1000000000ll);
		ts.tv_nsec = (long)(until % 1000000000ll);
		pthread_cond_timedwait(&w->ended, &w->lock, &ts);
		/* A Ctrl-C the main script blocked still stops the workers. */
		if (!stop_in_worker())
			stop_poll_signals();
	}
	done = w->done;
	state = w->result_state;
	pthread_mutex_unlock(&w->lock);
	if (!done)
		return LXSK_WORKER_RUNNING;
	if (!w->joined) {
		pthread_join(w->thread, NULL);
		w->joined = true;
	}
	return state;
}

const char *lxsk_worker_result(struct lxsk_worker *w, size_t *len)
{
	bool done;

	pthread_mutex_lock(&w->lock);
	done = w->done;
	pthread_mutex_unlock(&w->lock);
	*len = done ? w->result_len : 0;
	return done ? w->result : NULL;
}

void lxsk_worker_cancel(struct lxsk_worker *w)
{
	__atomic_store_n(&w->cancel, 1, __ATOMIC_RELEASE);
}

void lxsk_worker_free(struct lxsk_worker *w)
{
	if (!w)
		return;
	if (w->started && !w->joined) {
		lxsk_worker_cancel(w);
		if (lxsk_worker_join(w, FREE_WAIT_MS) == LXSK_WORKER_RUNNING)
			pthread_detach(w->thread); /* it frees itself when it ends */
	}
	worker_unref(w);
}

/* ---- inside the worker ---- */

static struct lxsk_worker *me(const char *what)
{
	if (!self)
		lxsk_fail(EPERM, "%s: only a worker may call this, from its own thread", what);
	return self;
}

const char *lxsk_worker_my_name(void)
{
	return self ? self->name : NULL;
}

const char *lxsk_worker_my_code(size_t *len)
{
	struct lxsk_worker *w = me("code");

	*len = w ? w->code_len : 0;
	return w ? w->code : NULL;
}

const char *lxsk_worker_my_args(size_t *len)
{
	struct lxsk_worker *w = me("args");

	*len = w ? w->args_len : 0;
	return w ? w->args : NULL;
}

void *lxsk_worker_adopt(uint32_t index, int kind)
{
	struct lxsk_worker *w = me("adopt");
	struct hand *h;

	if (!w)
		return NULL;
	if (index >= w->nhands) {
		lxsk_fail(ERANGE, "adopt: %s was handed %u objects, not %u", w->name, w->nhands, index + 1);
		return NULL;
	}
	h = &w->hands[index];
	if (h->kind != kind || h->adopted) {
		lxsk_fail(EINVAL, "adopt: object %u handed to %s is %s", index, w->name,
			  h->adopted ? "adopted already" : "of another kind");
		return NULL;
	}
	h->adopted = true;
	return h->obj;
}

int lxsk_worker_finish(int state, const char *data, size_t len)
{
	struct lxsk_worker *w = me("finish");

	if (!w)
		return -EPERM;
	if (state != LXSK_WORKER_RETURNED && state != LXSK_WORKER_RAISED)
		return lxsk_fail(EINVAL, "finish: no such end as %d", state);
	if (w->result)
		return lxsk_fail(EALREADY, "finish: %s has its result already", w->name);
	set_result(w, state, data ? data : "", data ? len : 0);
	return w->result ? 0 : lxsk_fail(ENOMEM, "finish: out of memory for %zu bytes", len);
}
