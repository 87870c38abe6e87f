/* The loader: open a BPF object, attach one of its programs to an interface
 * with libxdp, and put AF_XDP sockets into its XSKMAP (prog.c).  The FFI
 * section is the FFI's declaration too (see lxsk.h).
 */
#ifndef LXSK_PROG_H
#define LXSK_PROG_H

#include <stdint.h>

/* FFI: begin */
enum lxsk_prog_path { LXSK_PATH_SINGLE = 0, LXSK_PATH_DISPATCHER = 1 };

struct lxsk_prog_opts {
	const char *file;    /* BPF object file */
	const char *program; /* program (function) name; NULL: the first one */
	const char *xskmap;  /* XSKMAP name; NULL: "xsks_map"; "" : none needed */
	const char *ifname;  /* or ifindex */
	int32_t ifindex;
	int32_t mode;    /* enum lxsk_attach_mode (auto, native, skb) */
	int32_t frags;   /* ask for multi-buffer (xdp.frags) support */
	int32_t replace; /* detach a leftover of ours first (leftover.h); default on in Lua */
	int32_t dev_bound; /* load bound to the interface (what the RX metadata kfuncs need); native mode */
};

struct lxsk_prog;

struct lxsk_prog *lxsk_prog_load(const struct lxsk_prog_opts *o);
int lxsk_prog_detach(struct lxsk_prog *p); /* idempotent */
void lxsk_prog_close(struct lxsk_prog *p); /* detach and close the object; idempotent */
void lxsk_prog_free(struct lxsk_prog *p);  /* for the GC: close, then free */
int lxsk_prog_path(const struct lxsk_prog *p); /* enum lxsk_prog_path */
int lxsk_prog_mode(const struct lxsk_prog *p); /* enum lxsk_attach_mode actually used */
int lxsk_prog_ifindex(const struct lxsk_prog *p);
const char *lxsk_prog_ifname(const struct lxsk_prog *p); /* as it was when loaded */
const char *lxsk_prog_name(const struct lxsk_prog *p); /* the program's name in its object */
int lxsk_prog_id(const struct lxsk_prog *p);  /* kernel program id */
int lxsk_prog_attached(const struct lxsk_prog *p);
int lxsk_prog_map_fd(struct lxsk_prog *p, const char *name);

/* The kernel's run statistics of the program: ns spent in it and runs,
 * counted only while BPF run statistics are on (lxsk_bpf_stats_on, or the
 * kernel.bpf_stats_enabled sysctl). */
int lxsk_prog_run_stats(struct lxsk_prog *p, uint64_t *run_ns, uint64_t *runs);
/* Turns the kernel's BPF run statistics on (BPF_ENABLE_STATS) for as long as
 * the returned file descriptor is open: the fd, or a negative errno.
 * lxsk_bpf_stats_off closes it. */
int lxsk_bpf_stats_on(void);
int lxsk_bpf_stats_off(int fd);

/* Sockets in the program's XSKMAP, by RX queue. */
int lxsk_prog_register(struct lxsk_prog *p, uint32_t queue, int sock_fd);
int lxsk_prog_unregister(struct lxsk_prog *p, uint32_t queue);
/* FFI: end */

#endif
