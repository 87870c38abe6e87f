/* The loader: open a BPF object, attach one of its programs with libxdp, and
 * put sockets into its XSKMAP.
 *
 * libxdp attaches through its multi-program dispatcher when it can, and falls
 * back to attaching our program alone (the "legacy" single-program path) when
 * the dispatcher cannot load, as on these machines.  lxsk_prog_path() tells
 * which one was used.
 *
 * A device-bound program (opts.dev_bound: BPF_F_XDP_DEV_BOUND_ONLY and the
 * interface's index at load) may call the RX metadata kfuncs; the kernel
 * attaches it to that interface only, in native mode only.
 *
 * Netlink-attached XDP programs outlive the process that attached them: with
 * opts.replace a leftover of ours is detached first (leftover.c decides what
 * that is), and every program attached here is registered there as held, so
 * no replace ever takes it away while it is open.
 */
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <xdp/libxdp.h>

#include "error.h"
#include "lxsk.h"
#include "leftover.h"
#include "netif.h"
#include "prog.h"

#define DEFAULT_XSKMAP "xsks_map"
#ifndef BPF_F_XDP_DEV_BOUND_ONLY
#define BPF_F_XDP_DEV_BOUND_ONLY (1U << 6) /* Linux 6.3; the 6.1 uapi headers lack it */
#endif

struct lxsk_prog {
	struct xdp_program *xp;
	char *file;
	char *name;   /* program name as in the object */
	char *xskmap; /* NULL: none */
	uint32_t xskmap_size; /* its max_entries: queues it can hold */
	char ifname[IF_NAMESIZE];
	int ifindex;
	enum xdp_attach_mode mode; /* the mode it is attached in */
	int path;                  /* enum lxsk_prog_path */
	int attached;
	int xskmap_fd;
	int closed;
	struct lxsk_held held; /* while attached: leftover.c knows it is ours and open */
};

/* libbpf and libxdp have error codes of their own above 4000 (bad ELF, ...);
 * their text is in lxsk_libxdp_last(), the errno we report is EINVAL. */
static int plain_errno(long e)
{
	int err = (int)(e < 0 ? -e : e);

	return err >= 4000 ? EINVAL : err;
}

static enum xdp_attach_mode xdp_mode_of(int mode)
{
	switch (mode) {
	case LXSK_ATTACH_NATIVE:
		return XDP_MODE_NATIVE;
	case LXSK_ATTACH_SKB:
		return XDP_MODE_SKB;
	default:
		return XDP_MODE_UNSPEC;
	}
}

static const char *mode_name(enum xdp_attach_mode m)
{
	switch (m) {
	case XDP_MODE_NATIVE:
		return "native";
	case XDP_MODE_SKB:
		return "skb";
	case XDP_MODE_HW:
		return "hw";
	default:
		return "auto";
	}
}

/* ---- loading ---- */

/* Explains why libxdp could not open the program: the object itself, or a
 * program name it does not have. */
static int open_failure(const char *file, const char *program, int err)
{
	struct bpf_object *obj = bpf_object__open_file(file, NULL);
	long e = libbpf_get_error(obj);
	char names[256] = "";
	struct bpf_program *bp;
	size_t used = 0;
	int missing;

	if (e || !obj)
		return lxsk_fail(plain_errno(e ? e : err), "cannot open BPF object %s: %s", file, lxsk_libxdp_last());
	missing = program && !bpf_object__find_program_by_name(obj, program);
	bpf_object__for_each_program(bp, obj)
	{
		int k = snprintf(names + used, sizeof(names) - used, "%s%s", used ? ", " : "",
				 bpf_program__name(bp));
		if (k < 0 || (size_t)k >= sizeof(names) - used)
			break;
		used += (size_t)k;
	}
	bpf_object__close(obj);
	if (missing)
		return lxsk_fail(ENOENT, "no program '%s' in %s (it has: %s)", program, file,
				 used ? names : "none");
	return lxsk_fail(plain_errno(err), "cannot use program '%s' of %s: %s", program ? program : "(first)", file,
			 lxsk_libxdp_last());
}

static int check_xskmap(struct lxsk_prog *p)
{
	struct bpf_object *obj = xdp_program__bpf_obj(p->xp);
	struct bpf_map *m = obj ? bpf_object__find_map_by_name(obj, p->xskmap) : NULL;

	if (!m)
		return lxsk_fail(ENOENT, "no map '%s' in %s (program %s needs an XSKMAP)", p->xskmap, p->file,
				 p->name);
	if (bpf_map__type(m) != BPF_MAP_TYPE_XSKMAP)
		return lxsk_fail(EINVAL, "map '%s' in %s is not an XSKMAP (type %d)", p->xskmap, p->file,
				 (int)bpf_map__type(m));
	p->xskmap_size = bpf_map__max_entries(m);
	return 0;
}

/* The struct, its strings and its interface, before anything is opened. */
static struct lxsk_prog *prog_new(const struct lxsk_prog_opts *o)
{
	const char *xskmap = o->xskmap ? o->xskmap : DEFAULT_XSKMAP;
	struct lxsk_prog *p = calloc(1, sizeof(*p));

	if (!p) {
		lxsk_fail(ENOMEM, "out of memory loading %s", o->file);
		return NULL;
	}
	p->xskmap_fd = -1;
	p->mode = xdp_mode_of(o->mode);
	p->file = strdup(o->file);
	p->xskmap = *xskmap ? strdup(xskmap) : NULL;
	if (!p->file || (*xskmap && !p->xskmap)) {
		lxsk_fail(ENOMEM, "out of memory loading %s", o->file);
		goto fail;
	}
	p->ifindex = o->ifname ? lxsk_if_index(o->ifname) : o->ifindex;
	if (p->ifindex < 0 || lxsk_if_name(p->ifindex, p->ifname))
		goto fail;
	if (access(o->file, R_OK)) {
		lxsk_fail(errno, "cannot read BPF object %s", o->file);
		goto fail;
	}
	return p;
fail:
	lxsk_prog_free(p);
	return NULL;
}

/* Binds the program to its interface before libxdp loads it. */
static int bind_to_device(struct lxsk_prog *p)
{
	struct bpf_object *obj = xdp_program__bpf_obj(p->xp);
	struct bpf_program *bp = obj ? bpf_object__find_program_by_name(obj, p->name) : NULL;

	if (p->mode == XDP_MODE_SKB)
		return lxsk_fail(EINVAL,
				 "program %s of %s: a device-bound program (dev_bound, what the RX metadata "
				 "kfuncs need) attaches in native mode only, not skb",
				 p->name, p->file);
	if (!bp)
		return lxsk_fail(ENOENT, "program %s of %s: cannot find it to bind it to %s", p->name, p->file,
				 p->ifname);
	p->mode = XDP_MODE_NATIVE;
	bpf_program__set_ifindex(bp, (unsigned)p->ifindex);
	return bpf_program__set_flags(bp, bpf_program__flags(bp) | BPF_F_XDP_DEV_BOUND_ONLY) ?
		       lxsk_fail(EINVAL, "program %s of %s: cannot mark it device-bound", p->name, p->file) :
		       0;
}

/* Opens the object and checks what the program needs from it. */
static int prog_open(struct lxsk_prog *p, const char *program, int frags)
{
	long e;
	int err;

	lxsk_libxdp_quiet();
	{
		DECLARE_LIBXDP_OPTS(xdp_program_opts, xo, .open_filename = p->file, .prog_name = program);
		p->xp = xdp_program__create(&xo);
	}
	e = libxdp_get_error(p->xp);
	if (e || !p->xp) {
		p->xp = NULL;
		return open_failure(p->file, program, e ? (int)e : EINVAL);
	}
	p->name = strdup(xdp_program__name(p->xp));
	if (!p->name)
		return lxsk_fail(ENOMEM, "out of memory loading %s", p->file);
	if (p->xskmap && (err = check_xskmap(p)))
		return err;
	if (frags && (err = xdp_program__set_xdp_frags_support(p->xp, true)))
		return lxsk_fail(err, "cannot mark program %s of %s frags-capable", p->name, p->file);
	return 0;
}

/* Reads back how it ended up attached: mode and dispatcher or single program. */
static void note_path(struct lxsk_prog *p)
{
	int err;
	struct xdp_multiprog *mp = lxsk_attached(p->ifindex, &err);

	p->path = LXSK_PATH_SINGLE;
	if (!mp)
		return;
	p->path = xdp_multiprog__is_legacy(mp) ? LXSK_PATH_SINGLE : LXSK_PATH_DISPATCHER;
	if (p->mode == XDP_MODE_UNSPEC)
		p->mode = xdp_multiprog__attach_mode(mp);
	xdp_multiprog__close(mp);
}

static int attach_now(struct lxsk_prog *p, int replace)
{
	const char *why;
	int err;

	if (replace && (err = lxsk_detach_leftovers(p->ifindex, p->name)) < 0)
		return err;
	err = xdp_program__attach(p->xp, p->ifindex, p->mode, 0);
	if (!err) {
		p->attached = 1;
		p->held = (struct lxsk_held){ .ifindex = p->ifindex, .id = xdp_program__id(p->xp), .name = p->name,
					      .file = p->file };
		lxsk_hold(&p->held);
		note_path(p);
		return 0;
	}
	why = lxsk_libxdp_last();
	err = -plain_errno(err);
	if (err == -EEXIST || err == -EBUSY)
		return lxsk_fail(err,
				 "cannot attach program %s of %s to %s (mode %s): another XDP program is "
				 "attached (remove it with xsk-detach %s)%s%s",
				 p->name, p->file, p->ifname, mode_name(p->mode), p->ifname, *why ? ": " : "", why);
	return lxsk_fail(err, "cannot attach program %s of %s to %s (mode %s)%s%s", p->name, p->file, p->ifname,
			 mode_name(p->mode), *why ? ": " : "", why);
}

/* Under the XDP lock: a worker binding a socket must not see the program
 * between its attach and its hold. */
static int prog_attach(struct lxsk_prog *p, int replace)
{
	int err;

	lxsk_xdp_lock();
	err = attach_now(p, replace);
	lxsk_xdp_unlock();
	return err;
}

struct lxsk_prog *lxsk_prog_load(const struct lxsk_prog_opts *o)
{
	struct lxsk_prog *p;

	if (!o || !o->file || !*o->file) {
		lxsk_fail(EINVAL, "no BPF object file given");
		return NULL;
	}
	p = prog_new(o);
	if (!p)
		return NULL;
	if (prog_open(p, o->program, o->frags) || (o->dev_bound && bind_to_device(p)) ||
	    prog_attach(p, o->replace))
		goto fail;
	if (p->xskmap) {
		p->xskmap_fd = lxsk_prog_map_fd(p, p->xskmap);
		if (p->xskmap_fd < 0)
			goto fail;
	}
	return p;
fail:
	lxsk_prog_free(p);
	return NULL;
}

/* ---- detaching and closing ---- */

static int detach_now(struct lxsk_prog *p)
{
	char name[IF_NAMESIZE];
	int err;

	p->attached = 0;
	lxsk_unhold(&p->held);
	/* An interface that is gone took the program with it. */
	if (!if_indextoname((unsigned)p->ifindex, name))
		return 0;
	err = xdp_program__detach(p->xp, p->ifindex, p->mode, 0);
	if (err == -ENOENT || err == -ENODEV)
		return 0; /* someone else detached it already */
	if (err)
		return lxsk_fail(err, "cannot detach program %s from %s: %s", p->name, p->ifname,
				 lxsk_libxdp_last());
	return 0;
}

int lxsk_prog_detach(struct lxsk_prog *p)
{
	int err;

	if (!p || !p->attached)
		return 0;
	lxsk_xdp_lock();
	err = detach_now(p);
	lxsk_xdp_unlock();
	return err;
}

void lxsk_prog_close(struct lxsk_prog *p)
{
	if (!p || p->closed)
		return;
	lxsk_prog_detach(p);
	if (p->xp)
		xdp_program__close(p->xp); /* closes the object and its map fds */
	p->xp = NULL;
	p->xskmap_fd = -1;
	p->closed = 1;
}

void lxsk_prog_free(struct lxsk_prog *p)
{
	if (!p)
		return;
	lxsk_prog_close(p);
	free(p->file);
	free(p->name);
	free(p->xskmap);
	free(p);
}

/* ---- what it is ---- */

int lxsk_prog_path(const struct lxsk_prog *p)
{
	return p ? p->path : -EINVAL;
}

int lxsk_prog_mode(const struct lxsk_prog *p)
{
	if (!p)
		return -EINVAL;
	switch (p->mode) {
	case XDP_MODE_NATIVE:
		return LXSK_ATTACH_NATIVE;
	case XDP_MODE_SKB:
		return LXSK_ATTACH_SKB;
	default:
		return LXSK_ATTACH_AUTO;
	}
}

const char *lxsk_prog_name(const struct lxsk_prog *p)
{
	return p && p->name ? p->name : "";
}

const char *lxsk_prog_ifname(const struct lxsk_prog *p)
{
	return p ? p->ifname : "";
}

int lxsk_prog_ifindex(const struct lxsk_prog *p)
{
	return p ? p->ifindex : -EINVAL;
}

int lxsk_prog_id(const struct lxsk_prog *p)
{
	return p && p->xp ? (int)xdp_program__id(p->xp) : -EINVAL;
}

int lxsk_prog_attached(const struct lxsk_prog *p)
{
	return p && p->attached;
}

static int usable(const struct lxsk_prog *p, const char *what)
{
	if (!p)
		return lxsk_fail(EINVAL, "%s: no program", what);
	if (p->closed)
		return lxsk_fail(EBADF, "%s: program %s of %s is closed", what, p->name, p->file);
	return 0;
}

int lxsk_prog_map_fd(struct lxsk_prog *p, const char *name)
{
	struct bpf_object *obj;
	int fd, err = usable(p, "map");

	if (err)
		return err;
	if (!name || !*name)
		return lxsk_fail(EINVAL, "map: no map name given (program %s of %s)", p->name, p->file);
	obj = xdp_program__bpf_obj(p->xp);
	fd = obj ? bpf_object__find_map_fd_by_name(obj, name) : -ENOENT;
	if (fd < 0)
		return lxsk_fail(fd == -ENOENT || !obj ? ENOENT : -fd, "no map '%s' in %s (program %s)", name,
				 p->file, p->name);
	return fd;
}

/* ---- run statistics ---- */

int lxsk_prog_run_stats(struct lxsk_prog *p, uint64_t *run_ns, uint64_t *runs)
{
	struct bpf_prog_info info;
	uint32_t len = sizeof(info);
	int fd, err = usable(p, "run statistics");

	if (err)
		return err;
	fd = xdp_program__fd(p->xp);
	if (fd < 0)
		return lxsk_fail(EBADF, "run statistics: program %s of %s is not loaded", p->name, p->file);
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return lxsk_fail(errno, "run statistics of program %s on %s: cannot read its info", p->name,
				 p->ifname);
	*run_ns = info.run_time_ns;
	*runs = info.run_cnt;
	return 0;
}

int lxsk_bpf_stats_on(void)
{
	int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);

	if (fd < 0)
		return lxsk_fail(-fd, "cannot turn BPF run statistics on%s",
				 -fd == EPERM ? " (needs root, CAP_SYS_ADMIN)" : "");
	return fd;
}

int lxsk_bpf_stats_off(int fd)
{
	return fd >= 0 && close(fd) ? -errno : 0;
}

/* ---- sockets in the XSKMAP ---- */

static int xskmap_usable(const struct lxsk_prog *p, uint32_t queue, const char *what)
{
	int err = usable(p, what);

	if (err)
		return err;
	if (p->xskmap_fd < 0)
		return lxsk_fail(ENOENT, "%s: program %s of %s was loaded without an XSKMAP", what, p->name, p->file);
	if (queue >= p->xskmap_size)
		return lxsk_fail(EINVAL, "%s: queue %u is out of range 0-%u of %s in %s (%s)", what, queue,
				 p->xskmap_size - 1, p->xskmap, p->file, p->ifname);
	return 0;
}

int lxsk_prog_register(struct lxsk_prog *p, uint32_t queue, int sock_fd)
{
	int err = xskmap_usable(p, queue, "register");

	if (err)
		return err;
	if (bpf_map_update_elem(p->xskmap_fd, &queue, &sock_fd, BPF_ANY))
		return lxsk_fail(errno, "cannot put socket fd %d at queue %u of %s in %s (%s)", sock_fd, queue,
				 p->xskmap, p->file, p->ifname);
	return 0;
}

int lxsk_prog_unregister(struct lxsk_prog *p, uint32_t queue)
{
	int err = xskmap_usable(p, queue, "unregister");

	if (err)
		return err;
	if (bpf_map_delete_elem(p->xskmap_fd, &queue) && errno != ENOENT)
		return lxsk_fail(errno, "cannot remove queue %u from %s in %s (%s)", queue, p->xskmap, p->file,
				 p->ifname);
	return 0;
}
