/* Layer 5 of the core: closing and letting go of a UMEM handle.  Closing
 * composes the layers below in the one order that works: the handle's
 * sockets first (libxdp refuses to delete a UMEM in use, and each socket
 * returns the frames its rings held), then the handle itself (its batches
 * are emptied; the last handle closes the UMEM and makes its memory inert). */
#include "socket.h"

void lxsk_umem_close(struct lxsk_umem *u)
{
	if (!u || u->closed)
		return;
	while (u->socks.next != &u->socks)
		lxsk_sock_close(sock_of_node(u->socks.next));
	umem_handle_close(u);
}

/* The GC's end of a handle: its sockets and batches keep the memory mapped
 * until they go too. */
void lxsk_umem_free(struct lxsk_umem *u)
{
	if (!u)
		return;
	lxsk_umem_close(u);
	handle_unref(u);
}
