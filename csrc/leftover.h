/* libxdp's default program left attached by a killed process (leftover.c). */
#ifndef LXSK_LEFTOVER_H
#define LXSK_LEFTOVER_H

/* Detaches libxdp's default program from ifindex when no AF_XDP socket is
 * bound there; 1 when it did, 0 when there was nothing to do, or an error. */
int lxsk_clear_leftover(int ifindex, const char *ifname, int queues);
/* Queues of ifindex whose XSKMAP slot holds a socket, as the program sees it. */
int lxsk_prog_sockets(int prog_fd, int ifindex, int queues);

#endif
