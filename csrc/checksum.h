/* Internet checksums for packet scripts (RFC 1071, RFC 1624).
 *
 * Checksum values cross this API as host-order integers: the number that,
 * stored big-endian in the header field, makes the packet verify.  A "sum" is
 * an unfolded, uncomplemented ones' complement sum in the same host-order
 * sense; sums chain through lxsk_csum_partial() as long as every chunk but
 * the last has an even length.
 *
 * Functions that look inside headers take the number of bytes the caller may
 * read and never read more.  They return a negative errno:
 *   -EINVAL  a NULL pointer or a malformed header (wrong IP version, IHL < 5,
 *            a length field smaller than the header it belongs to)
 *   -ERANGE  the input is truncated: a header or a length field needs more
 *            bytes than the caller gave
 *   -EPROTO  the packet carries a different protocol than the one asked for
 * The FFI section below is also the FFI's declaration (see lxsk.h).
 */
#ifndef LXSK_CHECKSUM_H
#define LXSK_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* FFI: begin */
/* Plain sums. */
uint32_t lxsk_csum_partial(const void *buf, size_t len, uint32_t sum);
uint16_t lxsk_csum_fold(uint32_t sum); /* fold to 16 bits and complement */
int lxsk_csum(const void *buf, size_t len);

/* Pseudo-header sums; addresses are 4 (IPv4) or 16 (IPv6) bytes in network
 * order, len is the upper-layer length. */
uint32_t lxsk_csum_pseudo4(const void *saddr, const void *daddr, uint8_t proto, uint32_t len);
uint32_t lxsk_csum_pseudo6(const void *saddr, const void *daddr, uint8_t proto, uint32_t len);

/* IPv4 header: ip points at the header, len is what may be read from there. */
int lxsk_ip4_csum(const void *ip, size_t len);   /* the value the field should hold */
int lxsk_ip4_csum_set(void *ip, size_t len);     /* store it; returns it */
int lxsk_ip4_csum_ok(const void *ip, size_t len); /* 1 valid, 0 wrong */

/* Upper layer over an explicit segment (for IPv6 extension headers and the
 * like).  proto is 17 (UDP), 6 (TCP), 1 (ICMP, v4 only, no pseudo-header) or
 * 58 (ICMPv6, v6 only).  The checksum field inside l4 is taken as zero.  A
 * UDP result of 0 comes back as 0xffff (RFC 768). */
int lxsk_l4_csum4(const void *saddr, const void *daddr, uint8_t proto, const void *l4, size_t len);
int lxsk_l4_csum6(const void *saddr, const void *daddr, uint8_t proto, const void *l4, size_t len);

/* Upper layer of an IP packet: ip points at the IPv4 or IPv6 header, len is
 * what may be read from there.  The upper header must follow the IP header
 * directly (no IPv6 extension headers) and the packet must not be a fragment.
 * UDP covers the UDP length field's bytes; TCP and ICMP cover the rest of the
 * IP packet as its length fields say (Ethernet padding is not included). */
int lxsk_udp4_csum(const void *ip, size_t len);
int lxsk_tcp4_csum(const void *ip, size_t len);
int lxsk_icmp4_csum(const void *ip, size_t len);
int lxsk_udp6_csum(const void *ip6, size_t len);
int lxsk_tcp6_csum(const void *ip6, size_t len);
int lxsk_icmp6_csum(const void *ip6, size_t len);
int lxsk_l4_csum_set(void *ip, size_t len);     /* any of the above, by version and protocol */
int lxsk_l4_csum_ok(const void *ip, size_t len); /* 1 valid (or IPv4 UDP without checksum), 0 wrong */

/* RFC 1624 eqn. 3: the checksum after a field changed from old to new_. */
uint16_t lxsk_csum_update16(uint16_t csum, uint16_t old, uint16_t new_);
uint16_t lxsk_csum_update32(uint16_t csum, uint32_t old, uint32_t new_);
/* The same for n bytes that start at an odd (odd != 0) or even offset from
 * the start of the checksummed data; old and new_ hold the bytes before and
 * after the change. */
int lxsk_csum_update(uint16_t csum, const void *old, const void *new_, size_t n, int odd);

/* Make an Ethernet frame (up to two 802.1Q/802.1ad tags) carrying UDP over
 * IPv4 (any IHL) or IPv6 (no extension headers) consistent with its total
 * length len: IP total or payload length, UDP length, IPv4 header checksum and
 * UDP checksum.  Returns 0. */
int lxsk_udp_frame_fix(void *frame, size_t len);
/* FFI: end */

#endif
