/* What is attached to an interface, and which of it is a leftover of ours.
 *
 * Ours: lua-xsk's steering program (both builds), the program the loader is
 * about to attach (same name), and libxdp's xsk default program.  A program
 * of ours is a leftover unless it is in use:
 *   - this process attached it and holds it open (prog.c registers each one
 *     with lxsk_hold), or
 *   - it is libxdp's default program and an AF_XDP socket is bound to it.
 * libxdp counts the users of its default program inside the program, so a
 * process killed with SIGKILL never gives its count back.  The kernel does
 * remove a closed socket from the program's XSKMAP, but the map cannot be
 * read from user space, so the program itself is asked: run it on a dummy
 * packet for each queue (BPF_PROG_TEST_RUN, which redirects nothing) and see
 * whether it would redirect.
 */
#include <errno.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include <bpf/bpf.h>
#include <xdp/libxdp.h>

#include "error.h"
#include "lxsk.h"
#include "leftover.h"
#include "netif.h"
#include "steer_abi.h"

#define KNAME_LEN 15 /* BPF_OBJ_NAME_LEN - 1: the kernel keeps this much of a name */
#define DEFAULT_PROG "xsk_def_prog"

/* ---- programs this process holds ---- */

/* Workers attach programs and bind sockets from threads of their own: what
 * is attached to an interface is looked at and changed under one lock, so
 * that no thread takes another's program, caught between its attach and its
 * first socket, for a leftover.  Recursive: the loader holds it around
 * calls that take it again. */
static pthread_mutex_t xdp_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static struct lxsk_held *held; /* under xdp_lock */

void lxsk_xdp_lock(void)
{
	pthread_mutex_lock(&xdp_lock);
}

void lxsk_xdp_unlock(void)
{
	pthread_mutex_unlock(&xdp_lock);
}

void lxsk_hold(struct lxsk_held *h)
{
	lxsk_xdp_lock();
	h->next = held;
	held = h;
	lxsk_xdp_unlock();
}

void lxsk_unhold(struct lxsk_held *h)
{
	lxsk_xdp_lock();
	for (struct lxsk_held **pp = &held; *pp; pp = &(*pp)->next) {
		if (*pp == h) {
			*pp = h->next;
			break;
		}
	}
	h->next = NULL;
	lxsk_xdp_unlock();
}

static const struct lxsk_held *held_find(int ifindex, uint32_t id)
{
	for (const struct lxsk_held *h = held; h; h = h->next)
		if (h->ifindex == ifindex && h->id == id)
			return h;
	return NULL;
}

/* ---- which programs are ours ---- */

static bool same_kname(const char *a, const char *b)
{
	return a && b && strncmp(a, b, KNAME_LEN) == 0;
}

static bool is_default(const struct xdp_program *xp)
{
	return same_kname(xdp_program__name(xp), DEFAULT_PROG);
}

/* want: the name of the program about to be attached, or NULL. */
static bool is_ours(const struct xdp_program *xp, const char *want)
{
	const char *n = xdp_program__name(xp);

	return n && (same_kname(n, want) || is_default(xp) ||
		     strncmp(n, LXSK_STEER_PREFIX, strlen(LXSK_STEER_PREFIX)) == 0);
}

/* Queues of ifindex whose XSKMAP slot holds a socket, as the program sees it;
 * -errno when the program cannot be run. */
static int sockets_bound(const struct xdp_program *xp, int ifindex, int queues)
{
	uint8_t pkt[64] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x88, 0xb5 };
	int n = 0;

	for (int q = 0; q < queues; q++) {
		struct xdp_md ctx = { .data_end = sizeof(pkt), .ingress_ifindex = (uint32_t)ifindex,
				      .rx_queue_index = (uint32_t)q };
		uint8_t out[sizeof(pkt) + XDP_PACKET_HEADROOM];
		struct xdp_md ctx_out;
		/* Out buffers too: the kernel does not need them, but valgrind
		 * checks them as if it wrote there. */
		struct bpf_test_run_opts opts = {
			.sz = sizeof(opts),
			.data_in = pkt,
			.data_out = out,
			.data_size_in = sizeof(pkt),
			.data_size_out = sizeof(out),
			.ctx_in = &ctx,
			.ctx_out = &ctx_out,
			.ctx_size_in = sizeof(ctx),
			.ctx_size_out = sizeof(ctx_out),
			.repeat = 1,
		};
		int err = bpf_prog_test_run_opts(xdp_program__fd(xp), &opts);

		if (err)
			return err < 0 ? err : -EIO;
		n += opts.retval == XDP_REDIRECT;
	}
	return n;
}

/* 0 when the program of ours may go, -EBUSY (with a message) when it is in use. */
static int check_unused(const struct xdp_program *xp, int ifindex, const char *ifname)
{
	const struct lxsk_held *h = held_find(ifindex, xdp_program__id(xp));
	int queues, bound;

	if (h)
		return lxsk_fail(EBUSY, "program %s of %s is attached to %s by this process and still open: close it first",
				 h->name, h->file, ifname);
	if (!is_default(xp))
		return 0;
	queues = lxsk_if_queue_count(ifname);
	bound = sockets_bound(xp, ifindex, queues > 0 ? queues : 1);
	if (bound > 0)
		return lxsk_fail(EBUSY, "libxdp's default program on %s has AF_XDP sockets bound on %d queue(s): close them first",
				 ifname, bound);
	if (bound < 0)
		return lxsk_fail(EBUSY,
				 "cannot tell whether AF_XDP sockets use libxdp's default program on %s (test run: %s); "
				 "if none does, detach every program with xsk.detach(\"%s\", false)",
				 ifname, strerror(-bound), ifname);
	return 0;
}

/* 1: xp goes, 0: it stays (not ours), -EBUSY: it is in use.  A program this
 * process holds is refused whatever its name: replacing it would silently
 * disable a live object. */
static int goes(const struct xdp_program *xp, int ifindex, const char *ifname, const char *want, bool all)
{
	int err;

	if (all)
		return 1;
	if (!is_ours(xp, want) && !held_find(ifindex, xdp_program__id(xp)))
		return 0;
	err = check_unused(xp, ifindex, ifname);
	return err ? err : 1;
}

/* ---- finding and detaching ---- */

struct xdp_multiprog *lxsk_attached(int ifindex, int *err)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
	long e = libxdp_get_error(mp);

	*err = 0;
	if (e == -ENOENT || (!e && !mp))
		return NULL;
	if (e) {
		*err = (int)e;
		return NULL;
	}
	if (!xdp_multiprog__main_prog(mp) && !xdp_multiprog__hw_prog(mp)) {
		xdp_multiprog__close(mp);
		return NULL;
	}
	return mp;
}

static int detach_failed(int err, const char *ifname)
{
	return lxsk_fail(err, "cannot detach the XDP program(s) on %s: %s", ifname, lxsk_libxdp_last());
}

/* One program (or only an offloaded one): all or nothing. */
static int detach_single(struct xdp_multiprog *mp, int ifindex, const char *ifname, const char *want, bool all)
{
	struct xdp_program *xp = xdp_multiprog__main_prog(mp);
	int r = goes(xp ? xp : xdp_multiprog__hw_prog(mp), ifindex, ifname, want, all);
	int err;

	if (r != 1)
		return r;
	err = xdp_multiprog__detach(mp);
	return err ? detach_failed(err, ifname) : 1;
}

/* The programs inside libxdp's dispatcher: all of them when all are to go
 * (the dispatcher goes with its last one), else one by one. */
static int detach_components(struct xdp_multiprog *mp, int ifindex, const char *ifname, const char *want, bool all)
{
	int count = xdp_multiprog__program_count(mp), going = 0, n = 0, err;
	enum xdp_attach_mode mode = xdp_multiprog__attach_mode(mp);
	struct xdp_program *xp;

	for (xp = xdp_multiprog__next_prog(NULL, mp); xp; xp = xdp_multiprog__next_prog(xp, mp)) {
		int r = goes(xp, ifindex, ifname, want, all);

		if (r < 0)
			return r;
		going += r;
	}
	if (going == count) {
		err = xdp_multiprog__detach(mp);
		return err ? detach_failed(err, ifname) : count;
	}
	for (xp = xdp_multiprog__next_prog(NULL, mp); xp; xp = xdp_multiprog__next_prog(xp, mp)) {
		if (goes(xp, ifindex, ifname, want, all) != 1)
			continue;
		err = xdp_program__detach(xp, ifindex, mode, 0);
		if (err)
			return detach_failed(err, ifname);
		n++;
	}
	return n;
}

/* Detaches what is attached to ifindex: everything, or only leftovers of ours.
 * Returns how many programs went, or -errno. */
static int detach_matching(int ifindex, const char *want, bool all)
{
	char ifname[IF_NAMESIZE];
	struct xdp_multiprog *mp;
	int err, n;

	err = lxsk_if_name(ifindex, ifname);
	if (err)
		return err;
	mp = lxsk_attached(ifindex, &err);
	if (err)
		return lxsk_fail(err, "cannot read the XDP programs on %s", ifname);
	if (!mp)
		return 0;
	if (xdp_multiprog__is_legacy(mp) || !xdp_multiprog__main_prog(mp))
		n = detach_single(mp, ifindex, ifname, want, all);
	else
		n = detach_components(mp, ifindex, ifname, want, all);
	xdp_multiprog__close(mp);
	return n;
}

static int detach_locked(int ifindex, const char *want, bool all)
{
	int n;

	lxsk_xdp_lock();
	n = detach_matching(ifindex, want, all);
	lxsk_xdp_unlock();
	return n;
}

int lxsk_detach_all(int ifindex)
{
	return detach_locked(ifindex, NULL, true);
}

int lxsk_detach_ours(int ifindex)
{
	return detach_locked(ifindex, NULL, false);
}

int lxsk_detach_leftovers(int ifindex, const char *name)
{
	return detach_locked(ifindex, name, false);
}

/* The caller (socket.c) holds xdp_lock from here until its socket is bound
 * and in the program's XSKMAP. */
int lxsk_clear_leftover(int ifindex, const char *ifname, int queues)
{
	int err;
	struct xdp_multiprog *mp = lxsk_attached(ifindex, &err);
	struct xdp_program *main_prog;

	if (!mp)
		return 0;
	main_prog = xdp_multiprog__main_prog(mp);
	/* Only a lone default program: inside a dispatcher libxdp's own
	 * bookkeeping decides, and other programs are not libxdp's to replace. */
	if (!main_prog || !xdp_multiprog__is_legacy(mp) || !is_default(main_prog) ||
	    held_find(ifindex, xdp_program__id(main_prog)) || sockets_bound(main_prog, ifindex, queues) != 0) {
		xdp_multiprog__close(mp);
		return 0;
	}
	err = xdp_multiprog__detach(mp);
	xdp_multiprog__close(mp);
	if (err)
		return lxsk_fail(err, "socket on %s: cannot detach the XDP program a killed process left there", ifname);
	return 1;
}
