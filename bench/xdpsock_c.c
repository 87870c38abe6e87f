/* xdpsock_c: the plain-C baseline for lua-xsk's benchmark.
 *
 * One AF_XDP socket over libxdp, one busy loop, modes after the kernel's
 * xdpsock sample:
 *   rxdrop  receive and give the frames straight back to the fill ring
 *   touch   rxdrop, but per packet swap the MACs and read the UDP dst port
 *   l2fwd   receive, swap the MACs, send back out of the same socket
 *   txonly  send UDP/IPv4 frames built from one template
 * At the end it prints one line starting with "RESULT " (see bench/README.md).
 * Before traffic is expected it prints "READY" on stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/if_link.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>

#ifndef SOL_XDP
#define SOL_XDP 283
#endif

enum mode { M_RXDROP, M_TOUCH, M_L2FWD, M_TXONLY };
static const char *const mode_names[] = { "rxdrop", "touch", "l2fwd", "txonly" };

struct opts {
	const char *ifname;
	uint32_t queue;
	int mode;
	uint32_t batch;
	uint32_t pkt_size;
	double duration;   /* s; 0 = no limit */
	uint64_t count;    /* packets; 0 = no limit */
	uint32_t frames;
	uint32_t frame_size;
	uint32_t ring;     /* RX and TX ring size */
	int cpu;           /* -1: do not pin */
	uint8_t dst_mac[6];
	uint8_t src_mac[6];
	int have_src_mac;
	uint16_t bind_flags;   /* besides XDP_USE_NEED_WAKEUP */
	uint32_t xdp_flags;
	double wait;       /* s to wait for the first packet */
	double idle;       /* s without packets, once started, that end a receive run */
	int poll;          /* receive modes: poll() while the RX ring is empty */
	int verbose;
};

static struct opts o = {
	.queue = 0,
	.mode = -1,
	.batch = 64,
	.pkt_size = 64,
	.frames = 4096,
	.frame_size = XSK_UMEM__DEFAULT_FRAME_SIZE,
	.ring = 2048,
	.cpu = -1,
	.dst_mac = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
	.wait = 10,
	.idle = 2,
};

/* Everything teardown needs, global so that die() can clean up. */
static struct {
	void *area;
	size_t area_size;
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	struct xsk_ring_prod fill, tx;
	struct xsk_ring_cons comp, rx;
	int fd;
	uint64_t *stack; /* free frame addresses (chunk bases) */
	uint32_t nfree;
} g = { .fd = -1 };

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void teardown(void)
{
	if (g.xsk) {
		xsk_socket__delete(g.xsk);
		g.xsk = NULL;
	}
	if (g.umem) {
		int err = xsk_umem__delete(g.umem);
		if (err)
			fprintf(stderr, "xdpsock_c: %s queue %u: xsk_umem__delete: %s (errno %d)\n",
				o.ifname, o.queue, strerror(-err), -err);
		g.umem = NULL;
	}
	if (g.area) {
		munmap(g.area, g.area_size);
		g.area = NULL;
	}
	free(g.stack);
	g.stack = NULL;
}

/* Print "<what>: <iface> queue <q>: <strerror> (errno <e>)", clean up, exit 1. */
static void die(int err, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "xdpsock_c: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s queue %u: %s (errno %d)\n", o.ifname ? o.ifname : "?", o.queue,
		strerror(err), err);
	teardown();
	exit(1);
}

static void usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "xdpsock_c: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nrun with -h for help\n");
	exit(2);
}

/* libxdp reports the dispatcher fallback at info level; keep warnings. */
static int libxdp_print(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	if (level > LIBXDP_WARN && !o.verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts))
		die(errno, "clock_gettime");
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct cpu_time {
	uint64_t user_ns, sys_ns;
};

static struct cpu_time cpu_time(void)
{
	struct rusage ru;
	struct cpu_time t;

	if (getrusage(RUSAGE_SELF, &ru))
		die(errno, "getrusage");
	t.user_ns = (uint64_t)ru.ru_utime.tv_sec * 1000000000u + (uint64_t)ru.ru_utime.tv_usec * 1000u;
	t.sys_ns = (uint64_t)ru.ru_stime.tv_sec * 1000000000u + (uint64_t)ru.ru_stime.tv_usec * 1000u;
	return t;
}

/* ---- options ---- */

static unsigned long long parse_num(const char *s, const char *what, unsigned long long min,
				    unsigned long long max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
		usage_error("bad %s '%s' (want %llu..%llu)", what, s, min, max);
	return v;
}

static double parse_secs(const char *s, const char *what)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0) || v > 1e7)
		usage_error("bad %s '%s' (seconds, >= 0)", what, s);
	return v;
}

static void parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char tail;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6)
		usage_error("bad MAC address '%s' (want xx:xx:xx:xx:xx:xx)", s);
	for (int i = 0; i < 6; i++) {
		if (b[i] > 0xff)
			usage_error("bad MAC address '%s'", s);
		mac[i] = (uint8_t)b[i];
	}
}

static int parse_mode(const char *s)
{
	for (int i = 0; i < (int)(sizeof mode_names / sizeof mode_names[0]); i++)
		if (!strcmp(s, mode_names[i]))
			return i;
	usage_error("unknown mode '%s' (rxdrop, touch, l2fwd, txonly)", s);
	return -1;
}

static int is_pow2(unsigned long long v)
{
	return v && !(v & (v - 1));
}

static void help(void)
{
	printf("usage: xdpsock_c MODE -i IFNAME [options]\n"
	       "modes: rxdrop, touch, l2fwd, txonly (or -m MODE)\n"
	       "  -i IF          interface\n"
	       "  -q QUEUE       queue id (0)\n"
	       "  -m MODE        mode, instead of the first argument\n"
	       "  -b BATCH       descriptors per ring operation (64)\n"
	       "  -s SIZE        txonly packet size in bytes, without FCS (64)\n"
	       "  -d SECS        run time; receive modes count it from the first packet (0: no limit)\n"
	       "  -n COUNT       stop after COUNT packets (0: no limit)\n"
	       "  -f FRAMES      UMEM frames, a power of two (4096)\n"
	       "  --frame-size N UMEM frame size, a power of two (4096)\n"
	       "  --ring N       RX/TX ring size, a power of two (2048)\n"
	       "  --cpu N        pin to CPU N\n"
	       "  --dst-mac MAC  txonly destination MAC (ff:ff:ff:ff:ff:ff)\n"
	       "  --src-mac MAC  txonly source MAC (the interface's)\n"
	       "  --copy | --zerocopy   force the bind mode (default: kernel's choice)\n"
	       "  --skb | --native      force the XDP attach mode (default: libxdp's choice)\n"
	       "  --wait SECS    receive modes: give up without a first packet after SECS (10)\n"
	       "  --idle SECS    receive modes: stop after SECS without packets (2)\n"
	       "  -p, --poll     receive modes: sleep in poll() while the RX ring is empty\n"
	       "                 (default: spin, like xdpsock without -p)\n"
	       "  -v             show libxdp's info messages\n"
	       "SIGINT/SIGTERM end the run; the RESULT line is printed either way.\n");
}

static void parse_args(int argc, char **argv)
{
	enum { O_CPU = 256, O_DST, O_SRC, O_COPY, O_ZC, O_SKB, O_NATIVE, O_WAIT, O_IDLE, O_RING,
	       O_FSIZE };
	static const struct option lo[] = {
		{ "cpu", required_argument, NULL, O_CPU },
		{ "dst-mac", required_argument, NULL, O_DST },
		{ "src-mac", required_argument, NULL, O_SRC },
		{ "copy", no_argument, NULL, O_COPY },
		{ "zerocopy", no_argument, NULL, O_ZC },
		{ "skb", no_argument, NULL, O_SKB },
		{ "native", no_argument, NULL, O_NATIVE },
		{ "wait", required_argument, NULL, O_WAIT },
		{ "idle", required_argument, NULL, O_IDLE },
		{ "ring", required_argument, NULL, O_RING },
		{ "frame-size", required_argument, NULL, O_FSIZE },
		{ "poll", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "i:q:m:b:s:d:n:f:pvh", lo, NULL)) != -1) {
		switch (c) {
		case 'i': o.ifname = optarg; break;
		case 'q': o.queue = (uint32_t)parse_num(optarg, "queue", 0, UINT32_MAX); break;
		case 'm': o.mode = parse_mode(optarg); break;
		case 'b': o.batch = (uint32_t)parse_num(optarg, "batch", 1, 65536); break;
		case 's': o.pkt_size = (uint32_t)parse_num(optarg, "packet size", 42, 65535); break;
		case 'd': o.duration = parse_secs(optarg, "duration"); break;
		case 'n': o.count = parse_num(optarg, "count", 0, UINT64_MAX); break;
		case 'f': o.frames = (uint32_t)parse_num(optarg, "frame count", 2, 1u << 24); break;
		case 'p': o.poll = 1; break;
		case 'v': o.verbose = 1; break;
		case O_CPU: o.cpu = (int)parse_num(optarg, "cpu", 0, CPU_SETSIZE - 1); break;
		case O_DST: parse_mac(optarg, o.dst_mac); break;
		case O_SRC: parse_mac(optarg, o.src_mac); o.have_src_mac = 1; break;
		case O_COPY: o.bind_flags = XDP_COPY; break;
		case O_ZC: o.bind_flags = XDP_ZEROCOPY; break;
		case O_SKB: o.xdp_flags = XDP_FLAGS_SKB_MODE; break;
		case O_NATIVE: o.xdp_flags = XDP_FLAGS_DRV_MODE; break;
		case O_WAIT: o.wait = parse_secs(optarg, "wait"); break;
		case O_IDLE: o.idle = parse_secs(optarg, "idle"); break;
		case O_RING: o.ring = (uint32_t)parse_num(optarg, "ring size", 2, 1u << 20); break;
		case O_FSIZE: o.frame_size = (uint32_t)parse_num(optarg, "frame size", 2048, 1u << 16); break;
		case 'h': help(); exit(0);
		default: usage_error("bad option");
		}
	}
	if (optind < argc) {
		if (o.mode >= 0)
			usage_error("mode given twice");
		o.mode = parse_mode(argv[optind++]);
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (o.mode < 0)
		usage_error("no mode given");
	if (!o.ifname)
		usage_error("no interface given (-i)");
	if (!is_pow2(o.frames) || !is_pow2(o.frame_size) || !is_pow2(o.ring))
		usage_error("frame count, frame size and ring size must be powers of two");
	if (o.batch > o.ring || o.batch > o.frames)
		usage_error("batch %u larger than the ring (%u) or the frame count (%u)", o.batch,
			    o.ring, o.frames);
	if (o.mode == M_TXONLY && o.pkt_size > o.frame_size)
		usage_error("packet size %u larger than the frame size %u", o.pkt_size, o.frame_size);
}

/* ---- the txonly template ---- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t ip_checksum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Ethernet + IPv4 198.18.0.1 -> 198.18.0.2 + UDP 4096 -> 9, UDP checksum 0. */
static void build_template(uint8_t *p, uint32_t size)
{
	static const uint8_t src_ip[4] = { 198, 18, 0, 1 }, dst_ip[4] = { 198, 18, 0, 2 };
	uint8_t *ip = p + 14, *udp = p + 34;

	memset(p, 0, size);
	memcpy(p, o.dst_mac, 6);
	memcpy(p + 6, o.src_mac, 6);
	put16(p + 12, 0x0800);
	ip[0] = 0x45;                           /* version 4, IHL 5 */
	put16(ip + 2, (uint16_t)(size - 14)); /* total length */
	put16(ip + 6, 0x4000);                 /* DF */
	ip[8] = 64;                             /* TTL */
	ip[9] = 17;                             /* UDP */
	memcpy(ip + 12, src_ip, 4);
	memcpy(ip + 16, dst_ip, 4);
	put16(ip + 10, ip_checksum(ip, 20));
	put16(udp, 4096);
	put16(udp + 2, 9);
	put16(udp + 4, (uint16_t)(size - 34));
	for (uint32_t i = 42; i < size; i++)
		p[i] = (uint8_t)i;
}

static void interface_mac(uint8_t mac[6])
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die(errno, "socket(AF_INET) for SIOCGIFHWADDR");
	memset(&ifr, 0, sizeof ifr);
	if (strlen(o.ifname) >= sizeof ifr.ifr_name)
		die(ENAMETOOLONG, "interface name");
	memcpy(ifr.ifr_name, o.ifname, strlen(o.ifname));
	if (ioctl(fd, SIOCGIFHWADDR, &ifr)) {
		int err = errno;
		close(fd);
		die(err, "ioctl(SIOCGIFHWADDR)");
	}
	close(fd);
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
}

/* ---- set-up ---- */

static void setup(void)
{
	int rx = o.mode != M_TXONLY, tx = o.mode == M_TXONLY || o.mode == M_L2FWD;
	struct xsk_umem_config uc;
	struct xsk_socket_config sc;
	int err;

	g.area_size = (size_t)o.frames * o.frame_size;
	g.area = mmap(NULL, g.area_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g.area == MAP_FAILED) {
		g.area = NULL;
		die(errno, "mmap of %zu bytes for the UMEM", g.area_size);
	}
	g.stack = calloc(o.frames, sizeof *g.stack);
	if (!g.stack)
		die(ENOMEM, "frame stack");
	for (uint32_t i = 0; i < o.frames; i++)
		g.stack[i] = (uint64_t)(o.frames - 1 - i) * o.frame_size;
	g.nfree = o.frames;

	memset(&uc, 0, sizeof uc);
	/* All frames may sit on the fill ring at once, and all on the completion ring. */
	uc.fill_size = o.frames;
	uc.comp_size = o.frames;
	uc.frame_size = o.frame_size;
	uc.frame_headroom = 0;
	err = xsk_umem__create(&g.umem, g.area, g.area_size, &g.fill, &g.comp, &uc);
	if (err) {
		g.umem = NULL;
		die(-err, "xsk_umem__create (%u frames of %u bytes)", o.frames, o.frame_size);
	}

	memset(&sc, 0, sizeof sc);
	sc.rx_size = rx ? o.ring : 0;
	sc.tx_size = tx ? o.ring : 0;
	sc.xdp_flags = o.xdp_flags;
	sc.bind_flags = (uint16_t)(XDP_USE_NEED_WAKEUP | o.bind_flags);
	/* A TX-only socket needs no XDP program on its interface. */
	sc.libxdp_flags = rx ? 0 : XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD;
	/* The kernel releases a closed socket's hold on the queue a little later: a run
	 * right after another on the same queue can see EBUSY for a moment. */
	for (int tries = 0;; tries++) {
		err = xsk_socket__create(&g.xsk, o.ifname, o.queue, g.umem, rx ? &g.rx : NULL,
					 tx ? &g.tx : NULL, &sc);
		if (err != -EBUSY || tries >= 40)
			break;
		usleep(50000);
	}
	if (err) {
		g.xsk = NULL;
		die(-err, "xsk_socket__create (%s)", mode_names[o.mode]);
	}
	g.fd = xsk_socket__fd(g.xsk);
}

/* ---- ring helpers ---- */

static inline uint64_t chunk_base(uint64_t addr)
{
	return addr & ~((uint64_t)o.frame_size - 1);
}

/* Put every free frame on the fill ring that fits. */
static inline void refill(void)
{
	uint32_t n = g.nfree, room, idx = 0;

	if (!n)
		return;
	room = xsk_prod_nb_free(&g.fill, n);
	if (room < n)
		n = room;
	if (!n || xsk_ring_prod__reserve(&g.fill, n, &idx) != n)
		return;
	for (uint32_t i = 0; i < n; i++)
		*xsk_ring_prod__fill_addr(&g.fill, idx + i) = g.stack[--g.nfree];
	xsk_ring_prod__submit(&g.fill, n);
}

/* Take completed TX frames back; returns how many. */
static inline uint32_t complete(void)
{
	uint32_t idx = 0, n = xsk_ring_cons__peek(&g.comp, o.frames, &idx);

	for (uint32_t i = 0; i < n; i++)
		g.stack[g.nfree++] = chunk_base(*xsk_ring_cons__comp_addr(&g.comp, idx + i));
	if (n)
		xsk_ring_cons__release(&g.comp, n);
	return n;
}

static inline uint32_t tx_pending(void)
{
	return g.tx.size - xsk_prod_nb_free(&g.tx, g.tx.size);
}

/* In copy mode the kernel transmits inside sendto, a bounded number of frames per call:
 * kick while the TX ring holds descriptors. */
static inline void kick_tx(void)
{
	if (!xsk_ring_prod__needs_wakeup(&g.tx) || !tx_pending())
		return;
	if (sendto(g.fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0) {
		int err = errno;
		if (err != EAGAIN && err != EBUSY && err != ENOBUFS && err != ENETDOWN && err != EINTR)
			die(err, "sendto (TX kick)");
	}
}

static inline void wake_rx(void)
{
	if (!xsk_ring_prod__needs_wakeup(&g.fill))
		return;
	if (recvfrom(g.fd, NULL, 0, MSG_DONTWAIT, NULL, NULL) < 0) {
		int err = errno;
		if (err != EAGAIN && err != EBUSY && err != ENOBUFS && err != ENETDOWN && err != EINTR)
			die(err, "recvfrom (RX wakeup)");
	}
}

static inline void swap_macs(uint8_t *p)
{
	uint8_t t[6];

	memcpy(t, p, 6);
	memcpy(p, p + 6, 6);
	memcpy(p + 6, t, 6);
}

/* ---- the loops ---- */

struct result {
	uint64_t pkts, tx_pkts, fwd_dropped, udp, dport_sum;
	uint64_t t0, t1;         /* first and last packet */
	uint64_t work_ns;        /* time in loop iterations that carried packets */
	uint64_t batches;        /* loop iterations that carried packets */
	struct cpu_time c0, c1;
	const char *stop;
};

static void rx_loop(struct result *r)
{
	const uint64_t dur = (uint64_t)(o.duration * 1e9);
	const uint64_t wait = (uint64_t)(o.wait * 1e9), idle = (uint64_t)(o.idle * 1e9);
	const uint64_t t_start = now_ns();

	refill();
	fprintf(stderr, "READY mode=%s if=%s queue=%u\n", mode_names[o.mode], o.ifname, o.queue);
	r->stop = "signal";
	while (!stop_requested) {
		uint32_t idx = 0, n;
		uint64_t t = now_ns(); /* start of this iteration */

		if (o.mode == M_L2FWD) {
			complete();
			kick_tx();
		}
		refill();
		n = xsk_ring_cons__peek(&g.rx, o.batch, &idx);
		if (!n) {
			if (o.poll && !(o.mode == M_L2FWD && tx_pending())) {
				struct pollfd pfd = { .fd = g.fd, .events = POLLIN };
				if (poll(&pfd, 1, 100) < 0 && errno != EINTR)
					die(errno, "poll");
				t = now_ns();
			} else {
				wake_rx();
			}
			if (!r->pkts && wait && t - t_start >= wait) {
				r->stop = "no-traffic";
				break;
			}
			if (r->pkts && idle && t - r->t1 >= idle) {
				r->stop = "idle";
				break;
			}
			continue;
		}
		if (!r->pkts) {
			r->t0 = t;
			r->c0 = cpu_time();
		}

		if (o.mode == M_RXDROP) {
			for (uint32_t i = 0; i < n; i++)
				g.stack[g.nfree++] = chunk_base(xsk_ring_cons__rx_desc(&g.rx, idx + i)->addr);
		} else if (o.mode == M_TOUCH) {
			for (uint32_t i = 0; i < n; i++) {
				const struct xdp_desc *d = xsk_ring_cons__rx_desc(&g.rx, idx + i);
				uint8_t *p = xsk_umem__get_data(g.area, d->addr);

				swap_macs(p);
				if (d->len >= 42 && p[12] == 0x08 && p[13] == 0x00 && p[23] == 17) {
					uint32_t l4 = 14 + (uint32_t)(p[14] & 0x0f) * 4;
					if (d->len >= l4 + 8) {
						r->dport_sum += (uint32_t)p[l4 + 2] << 8 | p[l4 + 3];
						r->udp++;
					}
				}
				g.stack[g.nfree++] = chunk_base(d->addr);
			}
		} else { /* l2fwd: forward what fits in the TX ring, drop the rest */
			uint32_t room = xsk_prod_nb_free(&g.tx, n), m = n < room ? n : room, tidx = 0;

			if (m && xsk_ring_prod__reserve(&g.tx, m, &tidx) != m)
				m = 0;
			for (uint32_t i = 0; i < n; i++) {
				const struct xdp_desc *d = xsk_ring_cons__rx_desc(&g.rx, idx + i);

				if (i < m) {
					struct xdp_desc *td = xsk_ring_prod__tx_desc(&g.tx, tidx + i);

					swap_macs(xsk_umem__get_data(g.area, d->addr));
					td->addr = d->addr;
					td->len = d->len;
					td->options = 0;
				} else {
					g.stack[g.nfree++] = chunk_base(d->addr);
				}
			}
			if (m)
				xsk_ring_prod__submit(&g.tx, m);
			r->tx_pkts += m;
			r->fwd_dropped += n - m;
		}
		xsk_ring_cons__release(&g.rx, n);
		if (o.mode == M_L2FWD)
			kick_tx();
		r->pkts += n;
		r->batches++;
		r->t1 = now_ns();
		r->work_ns += r->t1 - t;
		t = r->t1;
		if (o.count && r->pkts >= o.count) {
			r->stop = "count";
			break;
		}
		if (dur && t - r->t0 >= dur) {
			r->stop = "duration";
			break;
		}
	}
	r->c1 = cpu_time();
	if (!r->pkts)
		r->c0 = r->c1;
}

static void tx_loop(struct result *r)
{
	const uint64_t dur = (uint64_t)(o.duration * 1e9);
	uint64_t produced = 0, t_stop = 0;
	uint8_t *tmpl = malloc(o.pkt_size);

	if (!tmpl)
		die(ENOMEM, "template");
	if (!o.have_src_mac)
		interface_mac(o.src_mac);
	build_template(tmpl, o.pkt_size);
	for (uint32_t i = 0; i < o.frames; i++)
		memcpy((uint8_t *)g.area + (size_t)i * o.frame_size, tmpl, o.pkt_size);
	free(tmpl);

	fprintf(stderr, "READY mode=%s if=%s queue=%u\n", mode_names[o.mode], o.ifname, o.queue);
	r->stop = "signal";
	r->c0 = cpu_time();
	r->t0 = r->t1 = now_ns();
	for (;;) {
		uint32_t idx = 0, n, done;
		uint64_t t;

		done = complete();
		r->pkts += done;
		t = now_ns();
		if (done)
			r->t1 = t;
		if (!t_stop) {
			int stop = 0;
			if (stop_requested) {
				r->stop = "signal";
				stop = 1;
			} else if (o.count && produced >= o.count) {
				r->stop = "count";
				stop = 1;
			} else if (dur && t - r->t0 >= dur) {
				r->stop = "duration";
				stop = 1;
			}
			if (stop)
				t_stop = t;
		}
		if (t_stop) {
			/* Drain: wait up to 1 s for what was queued to complete. */
			if (r->pkts == produced || t - t_stop > 1000000000u)
				break;
		} else {
			n = o.batch < g.nfree ? o.batch : g.nfree;
			if (o.count && o.count - produced < n)
				n = (uint32_t)(o.count - produced);
			if (n) {
				uint32_t room = xsk_prod_nb_free(&g.tx, n);
				n = n < room ? n : room;
			}
			if (n && xsk_ring_prod__reserve(&g.tx, n, &idx) == n) {
				for (uint32_t i = 0; i < n; i++) {
					struct xdp_desc *d = xsk_ring_prod__tx_desc(&g.tx, idx + i);
					d->addr = g.stack[--g.nfree];
					d->len = o.pkt_size;
					d->options = 0;
				}
				xsk_ring_prod__submit(&g.tx, n);
				produced += n;
				r->batches++;
			}
		}
		kick_tx();
	}
	r->tx_pkts = produced;
	r->work_ns = r->t1 - r->t0;
	r->c1 = cpu_time();
}

int main(int argc, char **argv)
{
	struct result r;
	struct xdp_statistics st;
	socklen_t len = sizeof st;
	struct sigaction sa;
	double secs;

	parse_args(argc, argv);
	libxdp_set_print(libxdp_print);

	if (o.cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(o.cpu, &set);
		if (sched_setaffinity(0, sizeof set, &set))
			die(errno, "sched_setaffinity(cpu %d)", o.cpu);
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, NULL) || sigaction(SIGTERM, &sa, NULL))
		die(errno, "sigaction");

	setup();
	memset(&r, 0, sizeof r);
	if (o.mode == M_TXONLY)
		tx_loop(&r);
	else
		rx_loop(&r);

	memset(&st, 0, sizeof st);
	if (getsockopt(g.fd, SOL_XDP, XDP_STATISTICS, &st, &len))
		die(errno, "getsockopt(XDP_STATISTICS)");
	teardown();

	secs = (double)(r.t1 - r.t0) / 1e9;
	printf("RESULT impl=c mode=%s pkts=%llu secs=%.6f pps=%.0f user_ns_per_pkt=%.1f "
	       "sys_ns_per_pkt=%.1f work_ns_per_pkt=%.1f rx_dropped=%llu rx_invalid=%llu rx_ring_full=%llu "
	       "fill_empty=%llu tx_invalid=%llu tx_empty=%llu tx=%llu fwd_dropped=%llu udp=%llu "
	       "dport_sum=%llu avg_batch=%.1f batch=%u size=%u stop=%s t0_ns=%llu t1_ns=%llu\n",
	       mode_names[o.mode], (unsigned long long)r.pkts, secs,
	       secs > 0 ? (double)r.pkts / secs : 0.0,
	       r.pkts ? (double)(r.c1.user_ns - r.c0.user_ns) / (double)r.pkts : 0.0,
	       r.pkts ? (double)(r.c1.sys_ns - r.c0.sys_ns) / (double)r.pkts : 0.0,
	       r.pkts ? (double)r.work_ns / (double)r.pkts : 0.0,
	       (unsigned long long)st.rx_dropped, (unsigned long long)st.rx_invalid_descs,
	       (unsigned long long)st.rx_ring_full, (unsigned long long)st.rx_fill_ring_empty_descs,
	       (unsigned long long)st.tx_invalid_descs, (unsigned long long)st.tx_ring_empty_descs,
	       (unsigned long long)r.tx_pkts, (unsigned long long)r.fwd_dropped,
	       (unsigned long long)r.udp, (unsigned long long)r.dport_sum,
	       r.batches ? (double)(o.mode == M_TXONLY ? r.tx_pkts : r.pkts) / (double)r.batches : 0.0, o.batch,
	       o.mode == M_TXONLY ? o.pkt_size : 0, r.stop, (unsigned long long)r.t0, (unsigned long long)r.t1);
	fflush(stdout);
	if (!r.pkts) {
		fprintf(stderr, "xdpsock_c: %s: no packets %s on %s queue %u\n", mode_names[o.mode],
			o.mode == M_TXONLY ? "sent" : "received", o.ifname, o.queue);
		return 3;
	}
	return 0;
}
