/* Entering the network namespaces that specs and examples build with `ip netns`,
 * so one process can own sockets on both ends of a veth pair. */
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

int lxsk_netns_enter(const char *name)
{
	char path[256];
	int fd;

	if (home_ns < 0) {
		home_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		if (home_ns < 0)
			return lxsk_fail(errno, "netns: cannot open /proc/self/ns/net");
	}
	snprintf(path, sizeof(path), "/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return lxsk_fail(errno, "netns: no namespace '%s' (%s)", name, path);
	if (setns(fd, CLONE_NEWNET)) {
		int err = errno;

		close(fd);
		return lxsk_fail(err, "netns: cannot enter '%s'", name);
	}
	close(fd);
	return 0;
}

int lxsk_netns_leave(void)
{
	if (home_ns < 0)
		return 0;
	if (setns(home_ns, CLONE_NEWNET))
		return lxsk_fail(errno, "netns: cannot return to the original namespace");
	return 0;
}

/* libxdp pins its program state under /sys/fs/bpf.  Mount a bpffs there in a
 * mount namespace of our own, so nothing on the host changes. */
int lxsk_private_bpffs(void)
{
	struct statfs st;

	if (!statfs("/sys/fs/bpf", &st) && st.f_type == BPF_FS_MAGIC)
		return 0;
	if (unshare(CLONE_NEWNS))
		return lxsk_fail(errno, "bpffs: cannot make a private mount namespace");
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL))
		return lxsk_fail(errno, "bpffs: cannot make / a slave mount");
	if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700"))
		return lxsk_fail(errno, "bpffs: cannot mount bpf on /sys/fs/bpf");
	return 0;
}
