-- Every FFI declaration of lua-xsk, and the handle to the C core.
--
-- `require "xsk.core"` loads the C module with RTLD_LOCAL, so ffi.C cannot see
-- its symbols; the module tells us the file it was loaded from and we open the
-- same file with ffi.load, which gives calls the JIT compiles.
local ffi = require "ffi"
local core = require "xsk.core"

ffi.cdef [[
/* ---- core: frames, UMEM, sockets, rings (csrc/lxsk.h) ---- */
enum { LXSK_OWN_POOL = 0, LXSK_OWN_FILL = 1, LXSK_OWN_USER = 2, LXSK_OWN_TX = 3 };

struct lxsk_frame {
	uint8_t *data;
	uint64_t addr;
	uint32_t len;
	uint32_t options;
	uint32_t umem_id;
	uint32_t cap;
};
struct lxsk_batch {
	uint32_t n;
	uint32_t cap;
	struct lxsk_frame f[?];
};
struct lxsk_umem_opts {
	uint32_t frame_count, frame_size, frame_headroom, fill_size, comp_size;
	int32_t hugepages;
};
struct lxsk_umem_info {
	uint8_t *area;
	uint64_t size;
	uint32_t id, frame_count, frame_size, frame_headroom, data_offset;
	uint32_t fill_size, comp_size, pool_count, sockets;
	int32_t closed;
};
struct lxsk_sock_opts {
	const char *ifname;
	uint32_t queue, rx_size, tx_size;
	int32_t bind_mode, attach_mode, need_wakeup, load_program;
	int32_t busy_poll_us, busy_poll_budget, prefer_busy_poll;
	uint32_t tx_budget;
	int32_t auto_fill;
	int32_t multi_buffer;
};
struct lxsk_stats {
	uint64_t rx_dropped, rx_invalid_descs, tx_invalid_descs;
	uint64_t rx_ring_full, rx_fill_ring_empty_descs, tx_ring_empty_descs;
};
struct lxsk_ring_state { uint32_t size, entries, needs_wakeup, present; };
struct lxsk_umem;
struct lxsk_sock;

const char *lxsk_errmsg(void);
int lxsk_errno(void);

struct lxsk_umem *lxsk_umem_new(const struct lxsk_umem_opts *o);
void lxsk_umem_close(struct lxsk_umem *u);
void lxsk_umem_free(struct lxsk_umem *u);
void lxsk_umem_get_info(const struct lxsk_umem *u, struct lxsk_umem_info *info);
int lxsk_umem_owner(const struct lxsk_umem *u, uint64_t addr);
int lxsk_alloc(struct lxsk_umem *u, struct lxsk_batch *b, uint32_t n, uint32_t len);
int lxsk_release(struct lxsk_umem *u, struct lxsk_batch *b);
int lxsk_frame_check(const struct lxsk_umem *u, const struct lxsk_frame *f);

struct lxsk_sock *lxsk_sock_new(struct lxsk_umem *u, const struct lxsk_sock_opts *o);
void lxsk_sock_close(struct lxsk_sock *s);
void lxsk_sock_free(struct lxsk_sock *s);
int lxsk_sock_fd(const struct lxsk_sock *s);
int lxsk_sock_ifindex(const struct lxsk_sock *s);
int lxsk_sock_stats(struct lxsk_sock *s, struct lxsk_stats *st);
int lxsk_sock_zerocopy(struct lxsk_sock *s);
int lxsk_sock_tx_budget(struct lxsk_sock *s);
int lxsk_ring_state(const struct lxsk_sock *s, int ring, struct lxsk_ring_state *st);

int lxsk_fill_produce(struct lxsk_sock *s, struct lxsk_batch *b);
int lxsk_comp_consume(struct lxsk_sock *s, struct lxsk_batch *b, uint32_t max);
int lxsk_rx_consume(struct lxsk_sock *s, struct lxsk_batch *b, uint32_t max);
int lxsk_tx_produce(struct lxsk_sock *s, struct lxsk_batch *b);
int lxsk_fill_needs_wakeup(const struct lxsk_sock *s);
int lxsk_tx_needs_wakeup(const struct lxsk_sock *s);
int lxsk_kick_tx(struct lxsk_sock *s);
int lxsk_poll(struct lxsk_sock *s, int events, int timeout_ms);

int lxsk_refill(struct lxsk_sock *s);
int lxsk_recycle(struct lxsk_sock *s);
int lxsk_recv(struct lxsk_sock *s, struct lxsk_batch *b, int timeout_ms);
int lxsk_send(struct lxsk_sock *s, struct lxsk_batch *b);
int lxsk_forward(struct lxsk_sock *dst, struct lxsk_batch *b);
int lxsk_flush(struct lxsk_sock *s, int timeout_ms);

int lxsk_netns_enter(const char *name);
int lxsk_netns_leave(void);
int lxsk_private_bpffs(void);

long lxsk_abi_layout(const char *type, const char *field);
int lxsk_abi_count(void);
int lxsk_abi_entry(int i, const char **type, const char **field);

/* libc, renamed so that user scripts may declare the real names themselves */
int lxsk_libc_getpid(void) __asm__("getpid");
]]

-- ---- checksums (csrc/checksum.c) ----
ffi.cdef [[
/* csrc/checksum.h */
uint32_t lxsk_csum_partial(const void *buf, size_t len, uint32_t sum);
uint16_t lxsk_csum_fold(uint32_t sum);
int lxsk_csum(const void *buf, size_t len);
uint32_t lxsk_csum_pseudo4(const void *saddr, const void *daddr, uint8_t proto, uint32_t len);
uint32_t lxsk_csum_pseudo6(const void *saddr, const void *daddr, uint8_t proto, uint32_t len);
int lxsk_ip4_csum(const void *ip, size_t len);
int lxsk_ip4_csum_set(void *ip, size_t len);
int lxsk_ip4_csum_ok(const void *ip, size_t len);
int lxsk_l4_csum4(const void *saddr, const void *daddr, uint8_t proto, const void *l4, size_t len);
int lxsk_l4_csum6(const void *saddr, const void *daddr, uint8_t proto, const void *l4, size_t len);
int lxsk_udp4_csum(const void *ip, size_t len);
int lxsk_tcp4_csum(const void *ip, size_t len);
int lxsk_icmp4_csum(const void *ip, size_t len);
int lxsk_udp6_csum(const void *ip6, size_t len);
int lxsk_tcp6_csum(const void *ip6, size_t len);
int lxsk_icmp6_csum(const void *ip6, size_t len);
int lxsk_l4_csum_set(void *ip, size_t len);
int lxsk_l4_csum_ok(const void *ip, size_t len);
uint16_t lxsk_csum_update16(uint16_t csum, uint16_t old, uint16_t new_);
uint16_t lxsk_csum_update32(uint16_t csum, uint32_t old, uint32_t new_);
int lxsk_csum_update(uint16_t csum, const void *old, const void *new_, size_t n, int odd);
int lxsk_udp_frame_fix(void *frame, size_t len);

/* Packet headers (lua/xsk/headers.lua).  Multi-byte fields hold network
 * order; packed because frames sit at any alignment. */
struct lxsk_eth_hdr { uint8_t dst[6]; uint8_t src[6]; uint16_t type; } __attribute__((packed));
struct lxsk_vlan_hdr { uint16_t tci; uint16_t type; } __attribute__((packed));
struct lxsk_arp_hdr {
	uint16_t htype, ptype;
	uint8_t hlen, plen;
	uint16_t oper;
	uint8_t sha[6]; uint8_t spa[4];
	uint8_t tha[6]; uint8_t tpa[4];
} __attribute__((packed));
struct lxsk_ipv4_hdr {
	uint8_t ver_ihl, tos;
	uint16_t tot_len, id, frag_off;
	uint8_t ttl, protocol;
	uint16_t check;
	union { uint32_t saddr; uint8_t saddr_b[4]; };
	union { uint32_t daddr; uint8_t daddr_b[4]; };
} __attribute__((packed));
struct lxsk_ipv6_hdr {
	uint32_t vtc_flow;
	uint16_t payload_len;
	uint8_t nexthdr, hop_limit;
	uint8_t saddr[16];
	uint8_t daddr[16];
} __attribute__((packed));
struct lxsk_udp_hdr { uint16_t source, dest, len, check; } __attribute__((packed));
struct lxsk_tcp_hdr {
	uint16_t source, dest;
	uint32_t seq, ack_seq;
	uint8_t doff_res, flags;
	uint16_t window, check, urg_ptr;
} __attribute__((packed));
struct lxsk_icmp_hdr {
	uint8_t type, code;
	uint16_t check;
	union { struct { uint16_t id, sequence; }; uint32_t rest; };
} __attribute__((packed));
struct lxsk_icmp6_hdr {
	uint8_t type, code;
	uint16_t check;
	union { struct { uint16_t id, sequence; }; uint32_t data32; };
} __attribute__((packed));

/* What headers.parse() found.  Offsets are from base; 0 means absent (no
 * header but Ethernet can start at 0).  Host-order numbers. */
struct lxsk_parsed {
	const uint8_t *base;
	uint32_t len;
	int32_t err;
	uint32_t vlan_count;
	uint16_t vlan_tci[2];
	uint32_t vlan_off[2];
	uint16_t l3_type;
	uint8_t l4_proto;
	uint8_t frag;
	uint32_t l3_off, l3_len;
	uint32_t l4_off;
	uint32_t payload_off, payload_len;
	struct lxsk_eth_hdr *eth;
	struct lxsk_vlan_hdr *vlan[2];
	struct lxsk_arp_hdr *arp;
	struct lxsk_ipv4_hdr *ip4;
	struct lxsk_ipv6_hdr *ip6;
	struct lxsk_udp_hdr *udp;
	struct lxsk_tcp_hdr *tcp;
	struct lxsk_icmp_hdr *icmp;
	struct lxsk_icmp6_hdr *icmp6;
};

/* libc, for addresses, pcap files and clocks.  FILE stays void * so other
 * declarations of stdio cannot clash with these. */
int lxsk_libc_inet_pton(int af, const char *src, void *dst) __asm__("inet_pton");
const char *lxsk_libc_inet_ntop(int af, const void *src, char *dst, uint32_t size) __asm__("inet_ntop");
void *lxsk_libc_fopen(const char *path, const char *mode) __asm__("fopen");
size_t lxsk_libc_fread(void *ptr, size_t size, size_t n, void *f) __asm__("fread");
size_t lxsk_libc_fwrite(const void *ptr, size_t size, size_t n, void *f) __asm__("fwrite");
int lxsk_libc_fseek(void *f, long off, int whence) __asm__("fseek");
int lxsk_libc_fflush(void *f) __asm__("fflush");
int lxsk_libc_ferror(void *f) __asm__("ferror");
int lxsk_libc_fclose(void *f) __asm__("fclose");
int lxsk_libc_setvbuf(void *f, char *buf, int mode, size_t size) __asm__("setvbuf");
char *lxsk_libc_strerror(int errnum) __asm__("strerror");
struct lxsk_timespec { long tv_sec; long tv_nsec; };
int lxsk_libc_clock_gettime(int clk, struct lxsk_timespec *ts) __asm__("clock_gettime");

/* Classic pcap file (lua/xsk/pcap.lua), in the writer's byte order. */
struct lxsk_pcap_hdr {
	uint32_t magic;
	uint16_t version_major, version_minor;
	int32_t thiszone;
	uint32_t sigfigs, snaplen, linktype;
};
struct lxsk_pcap_rec { uint32_t ts_sec, ts_frac, caplen, len; };
]]

-- ---- XDP programs and steering rules (csrc/prog.c) ----
ffi.cdef [[
enum { LXSK_RULES_MAX = 64, LXSK_XSKMAP_MAX = 64 };
enum {
	LXSK_RULE_ACTIVE = 1, LXSK_RULE_ETHERTYPE = 2, LXSK_RULE_VLAN = 4, LXSK_RULE_PROTO = 8,
	LXSK_RULE_SRC4 = 16, LXSK_RULE_DST4 = 32, LXSK_RULE_SRC6 = 64, LXSK_RULE_DST6 = 128,
	LXSK_RULE_DPORT = 256,
};
enum { LXSK_ACT_REDIRECT = 0, LXSK_ACT_PASS = 1, LXSK_ACT_DROP = 2 };
struct lxsk_rule {
	uint32_t match;
	uint16_t ethertype, vlan;
	uint8_t proto, src_len, dst_len, action;
	uint16_t dport_lo, dport_hi;
	uint32_t src[4], src_mask[4], dst[4], dst_mask[4];
};
struct lxsk_counter { uint64_t packets, bytes; };
struct lxsk_prog_opts {
	const char *file, *program, *xskmap, *ifname;
	int32_t ifindex, mode, frags, replace;
};
struct lxsk_prog;

struct lxsk_prog *lxsk_prog_load(const struct lxsk_prog_opts *o);
int lxsk_prog_detach(struct lxsk_prog *p);
void lxsk_prog_close(struct lxsk_prog *p);
void lxsk_prog_free(struct lxsk_prog *p);
int lxsk_prog_path(const struct lxsk_prog *p);
int lxsk_prog_mode(const struct lxsk_prog *p);
int lxsk_prog_ifindex(const struct lxsk_prog *p);
const char *lxsk_prog_name(const struct lxsk_prog *p);
int lxsk_prog_id(const struct lxsk_prog *p);
int lxsk_prog_attached(const struct lxsk_prog *p);
int lxsk_prog_map_fd(struct lxsk_prog *p, const char *name);
int lxsk_prog_register(struct lxsk_prog *p, uint32_t queue, int sock_fd);
int lxsk_prog_unregister(struct lxsk_prog *p, uint32_t queue);
int lxsk_prog_rule_add(struct lxsk_prog *p, const struct lxsk_rule *r);
int lxsk_prog_rule_set(struct lxsk_prog *p, uint32_t id, const struct lxsk_rule *r);
int lxsk_prog_rule_remove(struct lxsk_prog *p, uint32_t id);
int lxsk_prog_rule_get(struct lxsk_prog *p, uint32_t id, struct lxsk_rule *r);
int lxsk_prog_counters(struct lxsk_prog *p, uint32_t id, struct lxsk_counter *out);
int lxsk_prog_counters_reset(struct lxsk_prog *p, uint32_t id);
int lxsk_prog_ifindex_of(const char *ifname);
int lxsk_prog_detach_all(int ifindex);
int lxsk_prog_detach_ours(int ifindex);
int lxsk_prog_parse_addr(const char *s, uint8_t out[16]);
int lxsk_prog_format_addr(int family, const uint8_t in[16], char *buf, uint32_t size);
]]

return ffi.load(core.path)
