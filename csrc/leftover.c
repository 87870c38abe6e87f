/* libxdp's default program left behind by a killed process.
 *
 * libxdp counts the users of its default program inside the program, so a
 * process killed with SIGKILL never gives its count back and the program stays
 * attached for good.  The kernel removes a closed socket from the program's
 * XSKMAP, though, and the map cannot be read from user space, so ask the
 * program itself: run it on a dummy packet for each queue (BPF_PROG_TEST_RUN,
 * which does not redirect anything) and see whether it would redirect.  A
 * program with no socket on any queue is a leftover, detached before libxdp
 * loads a fresh one. */
#include <errno.h>
#include <linux/bpf.h>
#include <string.h>

#include <bpf/bpf.h>
#include <xdp/libxdp.h>

#include "error.h"
#include "leftover.h"
#include "lxsk.h"

#define DEFAULT_PROG "xsk_def_prog"

/* Queues of ifindex whose XSKMAP slot holds a socket, as the program sees it;
 * -errno when the program cannot be run. */
int lxsk_prog_sockets(int prog_fd, int ifindex, int queues)
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
		int err = bpf_prog_test_run_opts(prog_fd, &opts);

		if (err)
			return err < 0 ? err : -EIO;
		n += opts.retval == XDP_REDIRECT;
	}
	return n;
}

/* Detaches libxdp's default program from ifindex when no AF_XDP socket is
 * bound there; returns 1 when it did, 0 when there was nothing to do. */
int lxsk_clear_leftover(int ifindex, const char *ifname, int queues)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
	struct xdp_program *main_prog;
	int bound, err;

	if (libxdp_get_error(mp) || !mp)
		return 0;
	main_prog = xdp_multiprog__main_prog(mp);
	/* Only a lone default program: inside a dispatcher libxdp's own
	 * bookkeeping decides, and other programs are not ours to touch. */
	if (!xdp_multiprog__is_legacy(mp) || !main_prog || strcmp(xdp_program__name(main_prog), DEFAULT_PROG)) {
		xdp_multiprog__close(mp);
		return 0;
	}
	bound = lxsk_prog_sockets(xdp_program__fd(main_prog), ifindex, queues);
	if (bound != 0) {
		xdp_multiprog__close(mp);
		return 0;
	}
	err = xdp_multiprog__detach(mp);
	xdp_multiprog__close(mp);
	if (err)
		return lxsk_fail(err, "socket on %s: cannot detach the XDP program a killed process left there", ifname);
	return 1;
}
