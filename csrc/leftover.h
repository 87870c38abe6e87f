/* What is attached to an interface, and which of it is a leftover of ours.
 *
 * Netlink-attached XDP programs outlive the process that attached them, so a
 * killed process leaves its program behind and the next attach fails.  This
 * is the one place that knows which programs are ours (lua-xsk's steering
 * program, the program being attached, libxdp's xsk default program), when
 * one of them is still in use (held open by this process, or the default
 * program with a socket bound), and how to detach them.
 */
#ifndef LXSK_LEFTOVER_H
#define LXSK_LEFTOVER_H

#include <stdint.h>

/* FFI: begin */
/* Detach every XDP program on the interface; returns how many went. */
int lxsk_detach_all(int ifindex);
/* Detach only lua-xsk's programs and libxdp's xsk default program, and only
 * those not in use (-EBUSY for one that is); returns how many went. */
int lxsk_detach_ours(int ifindex);
/* FFI: end */

/* For the core's own files, not the FFI. */

struct xdp_multiprog;

/* A program this process attached and holds open: never a leftover.  The
 * loader (prog.c) embeds one in each attached program and owns its memory. */
struct lxsk_held {
	int ifindex;
	uint32_t id; /* kernel program id */
	const char *name;
	const char *file;
	struct lxsk_held *next;
};

/* The lock under which a thread looks at and changes what is attached to an
 * interface (recursive): socket.c holds it from the leftover check until its
 * socket is bound, and while deleting one; prog.c while attaching and
 * detaching; the functions here take it themselves. */
void lxsk_xdp_lock(void);
void lxsk_xdp_unlock(void);

void lxsk_hold(struct lxsk_held *h);
void lxsk_unhold(struct lxsk_held *h); /* idempotent */

/* What is attached to ifindex: NULL with *err = 0 when nothing is, NULL with
 * *err < 0 when libxdp cannot tell.  Close it with xdp_multiprog__close. */
struct xdp_multiprog *lxsk_attached(int ifindex, int *err);

/* Before attaching a program named name: detach leftovers of ours (that
 * name, a steering program, libxdp's default program); -EBUSY when one of
 * them is in use.  Returns how many went. */
int lxsk_detach_leftovers(int ifindex, const char *name);

/* Before libxdp loads its default program for a socket: detach a lone
 * default program with no socket bound on any of the interface's queues.
 * Returns 1 when it did, 0 when there was nothing to do. */
int lxsk_clear_leftover(int ifindex, const char *ifname, int queues);

#endif
