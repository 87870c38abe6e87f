/* Interfaces and addresses: the look-ups the program side (leftover.c,
 * prog.c, steer.c) and the socket side share.  Each returns a negative errno
 * and leaves a message in lxsk_errmsg() when it fails, except
 * lxsk_if_queue_count, which only reports what the driver says.
 */
#ifndef LXSK_NETIF_H
#define LXSK_NETIF_H

#include <stdint.h>

/* FFI: begin */
int lxsk_if_index(const char *ifname); /* the interface's index */
/* Parses an IPv4 or IPv6 address into out (IPv4 in the first 4 bytes, the
 * rest zero); returns 4 or 6. */
int lxsk_addr_parse(const char *s, uint8_t out[16]);
/* Formats an address of family 4 or 6 (as lxsk_addr_parse returns it). */
int lxsk_addr_format(int family, const uint8_t in[16], char *buf, uint32_t size);
/* FFI: end */

/* For the core's own files, not the FFI. */

/* The name of interface ifindex into name (IF_NAMESIZE bytes). */
int lxsk_if_name(int ifindex, char *name);
/* The RX/TX queues the driver has now; -1 when it does not say (no error
 * message: the caller decides what that means). */
int lxsk_if_queue_count(const char *ifname);

#endif
