/* XDP programs of our own: open a BPF object, attach one of its programs with
 * libxdp, put sockets into its XSKMAP, and edit the steering rules of
 * bpf/xsk_steer.c.
 *
 * libxdp attaches through its multi-program dispatcher when it can, and falls
 * back to attaching our program alone (the "legacy" single-program path) when
 * the dispatcher cannot load, as on these machines.  lxsk_prog_path() tells
 * which one was used.
 *
 * Netlink-attached XDP programs outlive the process that attached them.  When
 * a process is killed, its program stays on the interface and the next attach
 * would fail with EEXIST/EBUSY; with opts.replace we detach such a leftover
 * first, but only when it is one of ours (same program name, a steering
 * program, or libxdp's xsk default program).
 */
#include <arpa/inet.h>
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
#include "leftover.h"
#include "lxsk.h"
#include "prog.h"

#define KNAME_LEN 15 /* BPF_OBJ_NAME_LEN - 1: the kernel keeps this much of a name */
#define XSK_DEF_PROG "xsk_def_prog"
#define STEER_PREFIX "xsk_steer"
#define RULES_MAP "xsk_steer_rules"
#define CFG_MAP "xsk_steer_cfg"
#define CNT_MAP "xsk_steer_cnt"

struct lxsk_prog {
	struct xdp_program *xp;
	char *file;
	char *name;   /* program name as in the object */
	char *xskmap; /* NULL: none */
	char ifname[IF_NAMESIZE];
	int ifindex;
	enum xdp_attach_mode mode; /* the mode it is attached in */
	int path;                  /* enum lxsk_prog_path */
	int attached;
	int xskmap_fd;
	int rules_fd, cfg_fd, cnt_fd; /* -1 until first needed */
	int closed;
	struct lxsk_prog *next_live; /* attached programs of this process */
};

/* Programs this process attached and has not detached.  A replace never takes
 * one of these away (that would silently disable a live object); only
 * leftovers of other, usually dead, processes are replaced.  Not locked: the
 * Lua side is single-threaded. */
static struct lxsk_prog *live;

static void live_add(struct lxsk_prog *p)
{
	p->next_live = live;
	live = p;
}

static void live_remove(struct lxsk_prog *p)
{
	struct lxsk_prog **pp;

	for (pp = &live; *pp; pp = &(*pp)->next_live) {
		if (*pp == p) {
			*pp = p->next_live;
			break;
		}
	}
	p->next_live = NULL;
}

static const struct lxsk_prog *live_find(int ifindex, uint32_t id)
{
	const struct lxsk_prog *p;

	for (p = live; p; p = p->next_live)
		if (p->ifindex == ifindex && p->xp && xdp_program__id(p->xp) == id)
			return p;
	return NULL;
}

/* libbpf and libxdp have error codes of their own above 4000 (bad ELF, ...);
 * their text is in lxsk_libxdp_last(), the errno we report is EINVAL. */
static int plain_errno(long e)
{
	int err = (int)(e < 0 ? -e : e);

	return err >= 4000 ? EINVAL : err;
}

static int ncpus(void)
{
	int n = libbpf_num_possible_cpus();

	return n > 0 ? n : 1;
}

/* ---- interfaces ---- */

int lxsk_prog_ifindex_of(const char *ifname)
{
	unsigned idx;

	if (!ifname || !*ifname)
		return lxsk_fail(EINVAL, "no interface name given");
	if (strlen(ifname) >= IF_NAMESIZE)
		return lxsk_fail(EINVAL, "interface name '%s' is too long", ifname);
	idx = if_nametoindex(ifname);
	if (!idx)
		return lxsk_fail(errno ? errno : ENODEV, "interface %s not found", ifname);
	return (int)idx;
}

/* Fills name from an ifindex; -ENODEV with a message when the interface is gone. */
static int ifname_of(int ifindex, char name[IF_NAMESIZE])
{
	if (ifindex <= 0)
		return lxsk_fail(EINVAL, "bad interface index %d", ifindex);
	if (!if_indextoname((unsigned)ifindex, name))
		return lxsk_fail(ENODEV, "interface index %d not found (interface gone?)", ifindex);
	return 0;
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

/* ---- leftovers on an interface ---- */

static int same_kname(const char *a, const char *b)
{
	return a && b && strncmp(a, b, KNAME_LEN) == 0;
}

/* A program we may replace: same name as the one being attached, a steering
 * program, or libxdp's xsk default program. */
static int is_ours(const struct xdp_program *xp, const char *want)
{
	const char *n = xdp_program__name(xp);

	if (!n)
		return 0;
	return same_kname(n, want) || same_kname(n, XSK_DEF_PROG) ||
	       strncmp(n, STEER_PREFIX, strlen(STEER_PREFIX)) == 0;
}

/* The multiprog state of an interface: NULL with *err = 0 when nothing is
 * attached, NULL with *err < 0 on failure. */
static struct xdp_multiprog *multiprog_of(int ifindex, int *err)
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

/* Detaches what is attached to ifindex: everything, or (want != NULL) only the
 * programs of ours.  Returns how many programs went, or -errno. */
static int detach_matching(int ifindex, const char *want, int all)
{
	char ifname[IF_NAMESIZE];
	struct xdp_multiprog *mp;
	struct xdp_program *xp, *main_prog;
	int err, n = 0;

	err = ifname_of(ifindex, ifname);
	if (err)
		return err;
	mp = multiprog_of(ifindex, &err);
	if (err)
		return lxsk_fail(err, "cannot read the XDP programs on %s", ifname);
	if (!mp)
		return 0;

	main_prog = xdp_multiprog__main_prog(mp);
	if (!all) {
		const struct lxsk_prog *mine = NULL;

		if (xdp_multiprog__is_legacy(mp) || !main_prog)
			mine = main_prog ? live_find(ifindex, xdp_program__id(main_prog)) : NULL;
		else
			for (xp = xdp_multiprog__next_prog(NULL, mp); xp && !mine; xp = xdp_multiprog__next_prog(xp, mp))
				mine = live_find(ifindex, xdp_program__id(xp));
		if (mine) {
			xdp_multiprog__close(mp);
			return lxsk_fail(EBUSY, "program %s of %s is attached to %s by this process and still open: "
				 "close it first", mine->name, mine->file, ifname);
		}
	}
	if (xdp_multiprog__is_legacy(mp) || !main_prog) {
		/* One program (or only an offloaded one): all or nothing. */
		xp = main_prog ? main_prog : xdp_multiprog__hw_prog(mp);
		if (all || (xp && is_ours(xp, want))) {
			n = 1;
			err = xdp_multiprog__detach(mp);
		}
	} else {
		int count = xdp_multiprog__program_count(mp), mine = 0;

		for (xp = xdp_multiprog__next_prog(NULL, mp); xp; xp = xdp_multiprog__next_prog(xp, mp))
			mine += is_ours(xp, want);
		if (all || mine == count) {
			/* the dispatcher goes with its last program */
			n = count;
			err = xdp_multiprog__detach(mp);
		} else {
			enum xdp_attach_mode m = xdp_multiprog__attach_mode(mp);

			for (xp = xdp_multiprog__next_prog(NULL, mp); xp && !err;
			     xp = xdp_multiprog__next_prog(xp, mp)) {
				if (!is_ours(xp, want))
					continue;
				err = xdp_program__detach(xp, ifindex, m, 0);
				n += !err;
			}
		}
	}
	xdp_multiprog__close(mp);
	if (err)
		return lxsk_fail(err, "cannot detach the XDP program(s) on %s: %s", ifname, lxsk_libxdp_last());
	return n;
}

int lxsk_prog_detach_all(int ifindex)
{
	return detach_matching(ifindex, NULL, 1);
}

int lxsk_prog_detach_ours(int ifindex)
{
	return detach_matching(ifindex, "", 0);
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
	return 0;
}

/* Reads back how it ended up attached: mode and dispatcher or single program. */
static void note_path(struct lxsk_prog *p)
{
	int err;
	struct xdp_multiprog *mp = multiprog_of(p->ifindex, &err);

	p->path = LXSK_PATH_SINGLE;
	if (!mp)
		return;
	p->path = xdp_multiprog__is_legacy(mp) ? LXSK_PATH_SINGLE : LXSK_PATH_DISPATCHER;
	if (p->mode == XDP_MODE_UNSPEC)
		p->mode = xdp_multiprog__attach_mode(mp);
	xdp_multiprog__close(mp);
}

struct lxsk_prog *lxsk_prog_load(const struct lxsk_prog_opts *o)
{
	struct lxsk_prog *p;
	const char *xskmap;
	long e;
	int err;

	if (!o || !o->file || !*o->file) {
		lxsk_fail(EINVAL, "no BPF object file given");
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		lxsk_fail(ENOMEM, "out of memory loading %s", o->file);
		return NULL;
	}
	p->xskmap_fd = p->rules_fd = p->cfg_fd = p->cnt_fd = -1;
	p->mode = xdp_mode_of(o->mode);
	p->file = strdup(o->file);
	xskmap = o->xskmap ? o->xskmap : "xsks_map";
	p->xskmap = *xskmap ? strdup(xskmap) : NULL;
	if (!p->file || (*xskmap && !p->xskmap)) {
		lxsk_fail(ENOMEM, "out of memory loading %s", o->file);
		goto fail;
	}

	p->ifindex = o->ifname ? lxsk_prog_ifindex_of(o->ifname) : o->ifindex;
	if (p->ifindex < 0)
		goto fail;
	if (ifname_of(p->ifindex, p->ifname))
		goto fail;
	if (access(o->file, R_OK)) {
		lxsk_fail(errno, "cannot read BPF object %s", o->file);
		goto fail;
	}

	lxsk_libxdp_quiet();
	{
		DECLARE_LIBXDP_OPTS(xdp_program_opts, xo, .open_filename = o->file, .prog_name = o->program);
		p->xp = xdp_program__create(&xo);
	}
	e = libxdp_get_error(p->xp);
	if (e || !p->xp) {
		p->xp = NULL;
		open_failure(o->file, o->program, e ? (int)e : EINVAL);
		goto fail;
	}
	p->name = strdup(xdp_program__name(p->xp));
	if (!p->name) {
		lxsk_fail(ENOMEM, "out of memory loading %s", o->file);
		goto fail;
	}
	if (p->xskmap && check_xskmap(p))
		goto fail;
	if (o->frags && (err = xdp_program__set_xdp_frags_support(p->xp, true))) {
		lxsk_fail(err, "cannot mark program %s of %s frags-capable", p->name, p->file);
		goto fail;
	}

	if (o->replace) {
		err = detach_matching(p->ifindex, p->name, 0);
		if (err < 0)
			goto fail;
	}
	err = xdp_program__attach(p->xp, p->ifindex, p->mode, 0);
	if (err) {
		const char *why = lxsk_libxdp_last();

		err = -plain_errno(err);
		if (err == -EEXIST || err == -EBUSY)
			lxsk_fail(err,
				  "cannot attach program %s of %s to %s (mode %s): another XDP program is "
				  "attached (remove it with xsk-detach %s)%s%s",
				  p->name, p->file, p->ifname, mode_name(p->mode), p->ifname, *why ? ": " : "", why);
		else
			lxsk_fail(err, "cannot attach program %s of %s to %s (mode %s)%s%s", p->name, p->file,
				  p->ifname, mode_name(p->mode), *why ? ": " : "", why);
		goto fail;
	}
	p->attached = 1;
	live_add(p);
	note_path(p);

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

int lxsk_prog_detach(struct lxsk_prog *p)
{
	char name[IF_NAMESIZE];
	int err;

	if (!p || !p->attached)
		return 0;
	p->attached = 0;
	live_remove(p);
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

void lxsk_prog_close(struct lxsk_prog *p)
{
	if (!p || p->closed)
		return;
	lxsk_prog_detach(p);
	if (p->xp)
		xdp_program__close(p->xp); /* closes the object and its map fds */
	p->xp = NULL;
	p->xskmap_fd = p->rules_fd = p->cfg_fd = p->cnt_fd = -1;
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
	obj = xdp_program__bpf_obj(p->xp);
	fd = obj ? bpf_object__find_map_fd_by_name(obj, name) : -ENOENT;
	if (fd < 0)
		return lxsk_fail(fd == -ENOENT || !obj ? ENOENT : -fd, "no map '%s' in %s (program %s)", name,
				 p->file, p->name);
	return fd;
}

/* ---- sockets in the XSKMAP ---- */

int lxsk_prog_register(struct lxsk_prog *p, uint32_t queue, int sock_fd)
{
	int err = usable(p, "register");

	if (err)
		return err;
	if (p->xskmap_fd < 0)
		return lxsk_fail(ENOENT, "program %s of %s was loaded without an XSKMAP", p->name, p->file);
	if (bpf_map_update_elem(p->xskmap_fd, &queue, &sock_fd, BPF_ANY))
		return lxsk_fail(errno, "cannot put socket fd %d at queue %u of %s in %s (%s)", sock_fd, queue,
				 p->xskmap, p->file, p->ifname);
	return 0;
}

int lxsk_prog_unregister(struct lxsk_prog *p, uint32_t queue)
{
	int err = usable(p, "unregister");

	if (err)
		return err;
	if (p->xskmap_fd < 0)
		return lxsk_fail(ENOENT, "program %s of %s was loaded without an XSKMAP", p->name, p->file);
	if (bpf_map_delete_elem(p->xskmap_fd, &queue) && errno != ENOENT)
		return lxsk_fail(errno, "cannot remove queue %u from %s in %s (%s)", queue, p->xskmap, p->file,
				 p->ifname);
	return 0;
}

/* ---- steering rules ---- */

static int steer_maps(struct lxsk_prog *p, const char *what)
{
	int err = usable(p, what);

	if (err)
		return err;
	if (p->rules_fd >= 0)
		return 0;
	p->rules_fd = lxsk_prog_map_fd(p, RULES_MAP);
	if (p->rules_fd < 0)
		return p->rules_fd;
	p->cfg_fd = lxsk_prog_map_fd(p, CFG_MAP);
	p->cnt_fd = p->cfg_fd < 0 ? -1 : lxsk_prog_map_fd(p, CNT_MAP);
	if (p->cfg_fd < 0 || p->cnt_fd < 0) {
		err = p->cfg_fd < 0 ? p->cfg_fd : p->cnt_fd;
		p->rules_fd = p->cfg_fd = p->cnt_fd = -1;
		return err;
	}
	return 0;
}

static void prefix_mask(uint32_t mask[4], unsigned len)
{
	unsigned i;

	for (i = 0; i < 4; i++) {
		unsigned bits = len > 32 * i ? len - 32 * i : 0;

		if (bits > 32)
			bits = 32;
		mask[i] = bits ? htonl(bits == 32 ? 0xffffffffu : ~(0xffffffffu >> bits)) : 0;
	}
}

/* Checks a rule and fills in what the program relies on: masks, masked
 * addresses, the ACTIVE bit. */
static int normalize(struct lxsk_rule *r)
{
	unsigned i;
	uint32_t m = r->match;

	if (m & ~(uint32_t)(LXSK_RULE_ACTIVE | LXSK_RULE_ETHERTYPE | LXSK_RULE_VLAN | LXSK_RULE_PROTO |
			    LXSK_RULE_SRC4 | LXSK_RULE_DST4 | LXSK_RULE_SRC6 | LXSK_RULE_DST6 | LXSK_RULE_DPORT))
		return lxsk_fail(EINVAL, "rule: unknown match bits 0x%x", m);
	if ((m & LXSK_RULE_SRC4) && (m & LXSK_RULE_SRC6))
		return lxsk_fail(EINVAL, "rule: source is both IPv4 and IPv6");
	if ((m & LXSK_RULE_DST4) && (m & LXSK_RULE_DST6))
		return lxsk_fail(EINVAL, "rule: destination is both IPv4 and IPv6");
	if (((m & (LXSK_RULE_SRC4 | LXSK_RULE_DST4)) && (m & (LXSK_RULE_SRC6 | LXSK_RULE_DST6))))
		return lxsk_fail(EINVAL, "rule: mixes IPv4 and IPv6 addresses");
	if ((m & LXSK_RULE_VLAN) && r->vlan > 4095)
		return lxsk_fail(EINVAL, "rule: VLAN id %u is out of range 0-4095", r->vlan);
	if ((m & LXSK_RULE_DPORT) && r->dport_lo > r->dport_hi)
		return lxsk_fail(EINVAL, "rule: port range %u-%u is empty", r->dport_lo, r->dport_hi);
	if (r->action > LXSK_ACT_DROP)
		return lxsk_fail(EINVAL, "rule: unknown action %u", r->action);
	if (r->src_len > ((m & LXSK_RULE_SRC4) ? 32 : 128) || r->dst_len > ((m & LXSK_RULE_DST4) ? 32 : 128))
		return lxsk_fail(EINVAL, "rule: prefix length %u/%u is too long", r->src_len, r->dst_len);

	if (!(m & (LXSK_RULE_SRC4 | LXSK_RULE_SRC6)))
		r->src_len = 0;
	if (!(m & (LXSK_RULE_DST4 | LXSK_RULE_DST6)))
		r->dst_len = 0;
	prefix_mask(r->src_mask, r->src_len);
	prefix_mask(r->dst_mask, r->dst_len);
	for (i = 0; i < 4; i++) {
		r->src[i] &= r->src_mask[i];
		r->dst[i] &= r->dst_mask[i];
	}
	if (!(m & LXSK_RULE_ETHERTYPE))
		r->ethertype = 0;
	if (!(m & LXSK_RULE_VLAN))
		r->vlan = 0;
	if (!(m & LXSK_RULE_PROTO))
		r->proto = 0;
	if (!(m & LXSK_RULE_DPORT))
		r->dport_lo = r->dport_hi = 0;
	r->match = m | LXSK_RULE_ACTIVE;
	return 0;
}

static int read_cfg(struct lxsk_prog *p, struct lxsk_steer_cfg *cfg)
{
	uint32_t zero = 0;

	if (bpf_map_lookup_elem(p->cfg_fd, &zero, cfg))
		return lxsk_fail(errno, "cannot read %s of %s", CFG_MAP, p->file);
	if (cfg->nrules > LXSK_RULES_MAX)
		cfg->nrules = LXSK_RULES_MAX;
	return 0;
}

static int write_cfg(struct lxsk_prog *p, const struct lxsk_steer_cfg *cfg)
{
	uint32_t zero = 0;

	if (bpf_map_update_elem(p->cfg_fd, &zero, cfg, BPF_ANY))
		return lxsk_fail(errno, "cannot write %s of %s", CFG_MAP, p->file);
	return 0;
}

static int read_rule(struct lxsk_prog *p, uint32_t id, struct lxsk_rule *r)
{
	if (bpf_map_lookup_elem(p->rules_fd, &id, r))
		return lxsk_fail(errno, "cannot read rule %u from %s of %s", id, RULES_MAP, p->file);
	return (r->match & LXSK_RULE_ACTIVE) ? 1 : 0;
}

static int write_rule(struct lxsk_prog *p, uint32_t id, const struct lxsk_rule *r)
{
	if (bpf_map_update_elem(p->rules_fd, &id, r, BPF_ANY))
		return lxsk_fail(errno, "cannot write rule %u to %s of %s", id, RULES_MAP, p->file);
	return 0;
}

int lxsk_prog_counters_reset(struct lxsk_prog *p, uint32_t id)
{
	struct lxsk_counter *zero;
	int n, err = steer_maps(p, "counters_reset");

	if (err)
		return err;
	if (id > LXSK_RULES_MAX)
		return lxsk_fail(EINVAL, "counters: rule id %u is out of range 0-%d", id, LXSK_RULES_MAX);
	n = ncpus();
	zero = calloc((size_t)n, sizeof(*zero));
	if (!zero)
		return lxsk_fail(ENOMEM, "counters_reset: out of memory");
	err = bpf_map_update_elem(p->cnt_fd, &id, zero, BPF_ANY) ? errno : 0;
	free(zero);
	if (err)
		return lxsk_fail(err, "cannot reset counters of rule %u in %s of %s", id, CNT_MAP, p->file);
	return 0;
}

int lxsk_prog_rule_set(struct lxsk_prog *p, uint32_t id, const struct lxsk_rule *in)
{
	struct lxsk_steer_cfg cfg;
	struct lxsk_rule r;
	int err = steer_maps(p, "rule_set");

	if (err)
		return err;
	if (!in)
		return lxsk_fail(EINVAL, "rule_set: no rule given");
	if (id >= LXSK_RULES_MAX)
		return lxsk_fail(EINVAL, "rule id %u is out of range 0-%d", id, LXSK_RULES_MAX - 1);
	r = *in;
	if ((err = normalize(&r)) || (err = read_cfg(p, &cfg)))
		return err;
	/* Fresh counters, then the rule, then make the slot visible. */
	if ((err = lxsk_prog_counters_reset(p, id)) || (err = write_rule(p, id, &r)))
		return err;
	if (cfg.nrules < id + 1) {
		cfg.nrules = id + 1;
		if ((err = write_cfg(p, &cfg)))
			return err;
	}
	return (int)id;
}

int lxsk_prog_rule_add(struct lxsk_prog *p, const struct lxsk_rule *in)
{
	struct lxsk_steer_cfg cfg;
	struct lxsk_rule r;
	uint32_t id;
	int err = steer_maps(p, "rule_add");

	if (err)
		return err;
	if (!in)
		return lxsk_fail(EINVAL, "rule_add: no rule given");
	r = *in;
	if ((err = normalize(&r)) || (err = read_cfg(p, &cfg)))
		return err;
	/* Append so that rules keep the order they were added in; reuse a hole
	 * only when the table is full up to the end. */
	id = cfg.nrules;
	if (id >= LXSK_RULES_MAX) {
		struct lxsk_rule cur;

		for (id = 0; id < LXSK_RULES_MAX; id++) {
			err = read_rule(p, id, &cur);
			if (err < 0)
				return err;
			if (!err)
				break;
		}
		if (id >= LXSK_RULES_MAX)
			return lxsk_fail(ENOSPC, "no room for another rule on %s (%d rules)", p->ifname,
					 LXSK_RULES_MAX);
	}
	return lxsk_prog_rule_set(p, id, &r);
}

int lxsk_prog_rule_remove(struct lxsk_prog *p, uint32_t id)
{
	struct lxsk_steer_cfg cfg;
	struct lxsk_rule r;
	int err = steer_maps(p, "rule_remove");

	if (err)
		return err;
	if (id >= LXSK_RULES_MAX)
		return lxsk_fail(EINVAL, "rule id %u is out of range 0-%d", id, LXSK_RULES_MAX - 1);
	err = read_rule(p, id, &r);
	if (err < 0)
		return err;
	if (!err)
		return lxsk_fail(ENOENT, "no rule %u on %s", id, p->ifname);
	if ((err = read_cfg(p, &cfg)))
		return err;
	/* Shrink the scanned range first when this is the last rule, so the
	 * program never looks at a half-cleared slot. */
	if (id + 1 == cfg.nrules) {
		struct lxsk_rule cur;
		uint32_t n = id;

		while (n > 0) {
			err = read_rule(p, n - 1, &cur);
			if (err < 0)
				return err;
			if (err)
				break;
			n--;
		}
		cfg.nrules = n;
		if ((err = write_cfg(p, &cfg)))
			return err;
	}
	memset(&r, 0, sizeof(r));
	return write_rule(p, id, &r);
}

int lxsk_prog_rule_get(struct lxsk_prog *p, uint32_t id, struct lxsk_rule *r)
{
	int err = steer_maps(p, "rule_get");

	if (err)
		return err;
	if (id >= LXSK_RULES_MAX)
		return lxsk_fail(EINVAL, "rule id %u is out of range 0-%d", id, LXSK_RULES_MAX - 1);
	return read_rule(p, id, r);
}

int lxsk_prog_counters(struct lxsk_prog *p, uint32_t id, struct lxsk_counter *out)
{
	struct lxsk_counter *per;
	int i, n, err = steer_maps(p, "counters");

	if (err)
		return err;
	if (id > LXSK_RULES_MAX)
		return lxsk_fail(EINVAL, "counters: rule id %u is out of range 0-%d", id, LXSK_RULES_MAX);
	n = ncpus();
	per = calloc((size_t)n, sizeof(*per));
	if (!per)
		return lxsk_fail(ENOMEM, "counters: out of memory");
	if (bpf_map_lookup_elem(p->cnt_fd, &id, per)) {
		err = errno;
		free(per);
		return lxsk_fail(err, "cannot read counters of rule %u in %s of %s", id, CNT_MAP, p->file);
	}
	out->packets = out->bytes = 0;
	for (i = 0; i < n; i++) {
		out->packets += per[i].packets;
		out->bytes += per[i].bytes;
	}
	free(per);
	return 0;
}

/* ---- addresses ---- */

int lxsk_prog_parse_addr(const char *s, uint8_t out[16])
{
	memset(out, 0, 16);
	if (!s)
		return lxsk_fail(EINVAL, "no address given");
	if (inet_pton(AF_INET, s, out) == 1)
		return 4;
	if (inet_pton(AF_INET6, s, out) == 1)
		return 6;
	return lxsk_fail(EINVAL, "'%s' is not an IPv4 or IPv6 address", s);
}

int lxsk_prog_format_addr(int family, const uint8_t in[16], char *buf, uint32_t size)
{
	if (!inet_ntop(family == 6 ? AF_INET6 : AF_INET, in, buf, size))
		return lxsk_fail(errno, "cannot format an IPv%d address", family);
	return 0;
}
