/* Layer 1 of the core (frames): the RX metadata in front of a frame's packet
 * (struct lxsk_rx_meta, meta_abi.h), and the guard that keeps it from ever
 * speaking for an earlier packet.
 *
 * The kernel writes metadata only for a packet that has some: a packet
 * without it leaves the 32 bytes before its data as the frame's last packet
 * left them.  So a frame first received with metadata, recycled, then
 * received without would show the old packet's times.  The guard, for UMEMs
 * made with rx_metadata (the per-packet loops of the rest pay nothing):
 *
 *   - the program's magic (LXSK_META_MAGIC) counts only when the length it
 *     wrote matches the packet's, and the core turns it into
 *     LXSK_META_CHECKED as it hands the frame to the script (recv,
 *     rx:consume): what the script sees was checked against this packet;
 *   - any other mark on a frame handed out by recv or rx:consume, and any
 *     mark on a frame handed out by alloc or comp:consume (frames that hold
 *     no received packet), is cleared then: a CHECKED mark never outlives its
 *     packet's hand-out;
 *   - frames a closing socket's RX ring still held (written by the kernel,
 *     never handed out) have their marks cleared before they go to the pool.
 *
 * What is left: a packet the kernel copied into a frame with its metadata
 * and then could not deliver (the RX ring was full) leaves the magic behind
 * in a frame the kernel reuses for its next packet; if that one has no
 * metadata and the same length, it is taken for the dropped one's.  Only a
 * socket fed both stamped and unstamped packets, and overrunning its RX
 * ring, can meet it (docs/API.md). */
#ifndef LXSK_META_H
#define LXSK_META_H

#include <stddef.h>

#include "frames.h"
#include "meta_abi.h"

/* Frames f[0..n) were just received (whole packets, in ring order): check
 * each packet's metadata against it and mark it CHECKED, or clear the mark. */
void meta_seen(const struct frames *fr, struct lxsk_frame *f, uint32_t n);

/* Frames f[0..n) reach the script without a received packet in them (alloc,
 * completion): whatever mark they carry is cleared. */
void meta_forget(const struct frames *fr, const struct lxsk_frame *f, uint32_t n);
void meta_forget_addr(const struct frames *fr, uint64_t addr);

/* The checked metadata in front of frame f (the caller has made sure the
 * frame is the script's): 1 and a copy in *out, or 0 when it has none. */
int meta_read(const struct frames *fr, const struct lxsk_frame *f, struct lxsk_rx_meta *out);

#endif
