/* Interfaces and addresses: name <-> index, the driver's queue count, and the
 * text form of IPv4 and IPv6 addresses. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "error.h"
#include "lxsk.h"
#include "netif.h"

int lxsk_if_index(const char *ifname)
{
	unsigned idx;

	if (!ifname || !*ifname)
		return lxsk_fail(EINVAL, "no interface name given");
	if (strlen(ifname) >= IF_NAMESIZE)
		return lxsk_fail(EINVAL, "interface name '%s' is too long (at most %d characters)", ifname,
				 IF_NAMESIZE - 1);
	idx = if_nametoindex(ifname);
	if (!idx)
		return lxsk_fail(errno ? errno : ENODEV, "interface %s not found", ifname);
	return (int)idx;
}

int lxsk_if_name(int ifindex, char *name)
{
	if (ifindex <= 0)
		return lxsk_fail(EINVAL, "bad interface index %d", ifindex);
	if (!if_indextoname((unsigned)ifindex, name))
		return lxsk_fail(ENODEV, "interface index %d not found (interface gone?)", ifindex);
	return 0;
}

int lxsk_if_queue_count(const char *ifname)
{
	struct ethtool_channels ch = { .cmd = ETHTOOL_GCHANNELS };
	struct ifreq ifr;
	int fd, err, n;

	if (!ifname || strlen(ifname) >= IF_NAMESIZE)
		return -1;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&ch;
	err = ioctl(fd, SIOCETHTOOL, &ifr);
	close(fd);
	if (err)
		return -1;
	/* Separate RX and TX queues or combined ones, whichever the driver has more of. */
	n = (int)(ch.rx_count > ch.combined_count ? ch.rx_count : ch.combined_count);
	if ((int)ch.tx_count > n)
		n = (int)ch.tx_count;
	return n > 0 ? n : -1;
}

int lxsk_addr_parse(const char *s, uint8_t out[16])
{
	if (!s || !out)
		return lxsk_fail(EINVAL, "address: %s", s ? "nowhere to put it" : "none given");
	memset(out, 0, 16);
	if (inet_pton(AF_INET, s, out) == 1)
		return 4;
	if (inet_pton(AF_INET6, s, out) == 1)
		return 6;
	return lxsk_fail(EINVAL, "'%s' is not an IPv4 or IPv6 address", s);
}

int lxsk_addr_format(int family, const uint8_t in[16], char *buf, uint32_t size)
{
	if (family != 4 && family != 6)
		return lxsk_fail(EINVAL, "address family %d is neither 4 nor 6", family);
	if (!in || !buf)
		return lxsk_fail(EINVAL, "address: %s", in ? "no buffer to format it into" : "none given");
	if (!inet_ntop(family == 6 ? AF_INET6 : AF_INET, in, buf, size))
		return lxsk_fail(errno, "cannot format an IPv%d address into %u bytes", family, size);
	return 0;
}
