/* Entering the network namespaces that specs and examples build with `ip netns`,
 * so one process can own sockets on both ends of a veth pair, and the private
 * bpffs libxdp wants.  All of it needs CAP_SYS_ADMIN: when the kernel refuses
 * for lack of it (EPERM), the message says "needs root" first, since that is
 * what a user run without sudo has to change. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "error.h"
#include "lxsk.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

static int home_ns = -1;

/* EPERM here means missing privileges, not a broken system. */
#define NEEDS_ROOT "needs root (CAP_SYS_ADMIN)"

int lxsk_netns_enter(const char *name)
{
	char path[256];
	int fd;

	if (home_ns < 0) {
		home_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		if (home_ns < 0)
			return lxsk_fail(errno, "cannot open /proc/self/ns/net");
	}
	snprintf(path, sizeof(path), "/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return lxsk_fail(errno, "no network namespace '%s' (%s)", name, path);
	if (setns(fd, CLONE_NEWNET)) {
		int err = errno;

		close(fd);
		if (err == EPERM)
			return lxsk_fail(err, "entering network namespace '%s' " NEEDS_ROOT, name);
		return lxsk_fail(err, "cannot enter network namespace '%s'", name);
	}
	close(fd);
	return 0;
}

int lxsk_netns_leave(void)
{
	if (home_ns < 0)
		return 0;
	if (setns(home_ns, CLONE_NEWNET)) {
		if (errno == EPERM)
			return lxsk_fail(errno, "returning to the original network namespace " NEEDS_ROOT);
		return lxsk_fail(errno, "cannot return to the original network namespace");
	}
	return 0;
}

/* libxdp pins its program state under /sys/fs/bpf.  Mount a bpffs there in a
 * mount namespace of our own, so nothing on the host changes. */
int lxsk_private_bpffs(void)
{
	struct statfs st;

	if (!statfs("/sys/fs/bpf", &st) && st.f_type == BPF_FS_MAGIC)
		return 0;
	if (unshare(CLONE_NEWNS)) {
		if (errno == EPERM)
			return lxsk_fail(errno, "a private mount namespace for libxdp's bpffs " NEEDS_ROOT);
		return lxsk_fail(errno, "cannot make a private mount namespace for libxdp's bpffs");
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL))
		return lxsk_fail(errno, "cannot make / a slave mount");
	if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700")) {
		if (errno == EPERM)
			return lxsk_fail(errno, "mounting bpffs on /sys/fs/bpf " NEEDS_ROOT);
		return lxsk_fail(errno, "cannot mount bpffs on /sys/fs/bpf");
	}
	return 0;
}
