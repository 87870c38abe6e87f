/* lua-xsk on many cores: the C API of workers (a thread with a LuaJIT VM of
 * its own), the stop flag they share, channels of frames between partitions
 * of one UMEM, mailboxes of Lua values, shared counters, and the hand-over
 * that moves a C object from one VM to another without either VM's garbage
 * collector freeing it in the wrong place.
 *
 * Like lxsk.h, the lines between the FFI markers are the FFI's declarations.
 * docs/ARCHITECTURE.md shows where these files sit among the core's layers:
 * stop.c and counters.c stand on the error layer alone, mailbox.c on stop.c,
 * chan.c beside the ring files above the UMEM layer, worker.c on top of
 * everything.
 */
#ifndef LXSK_THREADS_H
#define LXSK_THREADS_H

#include <stddef.h>
#include <stdint.h>

#include "lxsk.h"

/* FFI: begin */
/* ---- the stop flag every worker checks ---- */

/* Sets the flag: every worker's lxsk_stopping() says 1 from now on. */
void lxsk_stop(void);
/* 1 once the flag is set, or, in a worker, once its own cancel is; else 0.
 * Cheap (a load or two): meant for every turn of a worker's loop.  In the
 * main thread it also notices a SIGINT, SIGTERM or SIGHUP that the script
 * blocked and has not taken yet (at most every 10 ms), and sets the flag. */
int lxsk_stopping(void);
/* Clears the flag (refused while workers run: -EBUSY). */
int lxsk_stop_reset(void);
/* 1: SIGINT, SIGTERM and SIGHUP set the flag (a second one of them ends the
 * process as it would have); 0: their previous handlers come back. */
int lxsk_catch_signals(int on);

/* ---- workers ---- */

/* What a worker ended with. */
enum lxsk_worker_state {
	LXSK_WORKER_RUNNING = 0,  /* not ended yet */
	LXSK_WORKER_RETURNED = 1, /* its function returned: the result is its return values */
	LXSK_WORKER_RAISED = 2,   /* it raised: the result is the message with its traceback */
};

/* The C objects that cross to a worker, and how: a UMEM handle, a channel
 * end and a counter slot move (the giving VM lets go of them); a mailbox and
 * a counter block are shared (the worker gets a reference of its own). */
enum lxsk_hand_kind {
	LXSK_HAND_UMEM = 1,
	LXSK_HAND_CHAN = 2,
	LXSK_HAND_MAILBOX = 3,
	LXSK_HAND_COUNTERS = 4,
	LXSK_HAND_SLOT = 5,
};

struct lxsk_worker;

/* A worker not started yet, pinned to cpu (-1: not pinned), with room for
 * `hands` objects to hand over.  Refused when cpu is not one this process
 * may run on. */
struct lxsk_worker *lxsk_worker_new(const char *name, int cpu, uint32_t hands);
/* 0 when the UMEM handle may move to another thread: open, with no socket
 * and no batch; else an error saying what it still has. */
int lxsk_umem_movable(const struct lxsk_umem *u);
/* Hands obj (of kind) to the worker, which adopts it by the returned index.
 * Until it does, the worker owns it, and frees it if it never adopts it. */
int lxsk_worker_give(struct lxsk_worker *w, int kind, void *obj);
/* Starts the thread: a fresh LuaJIT VM with package.path and package.cpath
 * as given runs require("xsk.workers")._main(), which loads `code` (a dumped
 * function, or "module:function") and calls it with the arguments `args`
 * serializes.  Both are copied. */
int lxsk_worker_start(struct lxsk_worker *w, const char *code, size_t code_len, const char *args,
		      size_t args_len, const char *path, const char *cpath);
/* Waits up to timeout_ms (-1: no limit) for the worker to end, its VM closed
 * and its thread joined; returns its state (LXSK_WORKER_RUNNING on timeout). */
int lxsk_worker_join(struct lxsk_worker *w, int timeout_ms);
/* Its result (see enum lxsk_worker_state) once it has ended, else NULL. */
const char *lxsk_worker_result(struct lxsk_worker *w, size_t *len);
/* Sets this worker's own stop flag (its lxsk_stopping() says 1). */
void lxsk_worker_cancel(struct lxsk_worker *w);
/* For the GC: a worker still running is cancelled and waited for (2 s), then
 * left to end on its own. */
void lxsk_worker_free(struct lxsk_worker *w);
/* Workers started and not yet ended, in this process. */
int lxsk_workers_live(void);

/* Inside a worker (the calls fail anywhere else): its name, what it runs,
 * its arguments, adopting what was handed to it, and its result. */
const char *lxsk_worker_my_name(void);
const char *lxsk_worker_my_code(size_t *len);
const char *lxsk_worker_my_args(size_t *len);
void *lxsk_worker_adopt(uint32_t index, int kind);
int lxsk_worker_finish(int state, const char *data, size_t len);

/* ---- channels of frames between partitions of one UMEM ---- */

/* One end of a channel: the sending end or the receiving end.  A frame in
 * the channel belongs to neither partition (umem:owner says "channel"); the
 * sending end takes only frames its partition's script holds, the receiving
 * end hands them to its own partition's script.  Each end serves the first
 * partition that uses it, and no other. */
struct lxsk_chan;

struct lxsk_chan_info {
	uint32_t size;        /* descriptors the channel holds at most */
	uint32_t queued;      /* descriptors in it now */
	int32_t sending;      /* 1 for the sending end */
	int32_t closed;       /* this end is closed */
	int32_t peer_closed;  /* the other end is closed */
	int32_t part;         /* the partition this end serves, -1 before its first use */
};

/* A channel of `size` (a power of two) frames on u's UMEM: ends[0] sends,
 * ends[1] receives. */
int lxsk_chan_open(struct lxsk_umem *u, uint32_t size, struct lxsk_chan **ends);
/* Moves frames from the front of b into the channel, as many as it has room
 * for, every one checked first (all of them or none); they leave b.  Returns
 * how many; -EPIPE once the receiving end is closed. */
int lxsk_chan_send(struct lxsk_chan *c, struct lxsk_batch *b);
/* Moves up to max frames (and no more than b has room for) from the channel
 * to the end of b; returns how many. */
int lxsk_chan_recv(struct lxsk_chan *c, struct lxsk_batch *b, uint32_t max);
void lxsk_chan_get_info(const struct lxsk_chan *c, struct lxsk_chan_info *info);
void lxsk_chan_close(struct lxsk_chan *c); /* idempotent */
/* For the GC.  Frames still in the channel when both ends are gone go to the
 * UMEM's lost and found. */
void lxsk_chan_free(struct lxsk_chan *c);

/* ---- mailboxes: Lua values (serialized) between any threads ---- */

struct lxsk_mailbox;

/* A message taken from a mailbox; free it with lxsk_message_free. */
struct lxsk_message {
	uint64_t len;
	const char *data;
};

/* How a send or a receive ended (a negative errno when it failed). */
enum lxsk_mail {
	LXSK_MAIL_WAITED = 0,  /* the time ran out: still full, or still empty */
	LXSK_MAIL_DONE = 1,    /* sent, or received */
	LXSK_MAIL_CLOSED = 2,  /* closed (and, for a receive, empty) */
	LXSK_MAIL_STOPPED = 3, /* the calling worker was told to stop while it waited */
};

/* A mailbox holding at most `capacity` messages. */
struct lxsk_mailbox *lxsk_mailbox_new(uint32_t capacity);
/* Copies the message in; waits up to timeout_ms (-1: no limit) while the
 * mailbox is full. */
int lxsk_mailbox_send(struct lxsk_mailbox *m, const char *data, size_t len, int timeout_ms);
/* Takes the oldest message into *out; waits up to timeout_ms while there is
 * none. */
int lxsk_mailbox_recv(struct lxsk_mailbox *m, int timeout_ms, struct lxsk_message **out);
void lxsk_message_free(struct lxsk_message *msg);
/* Messages waiting now. */
uint32_t lxsk_mailbox_count(struct lxsk_mailbox *m);
/* No more sends; receivers take what is left, then get -EPIPE. */
void lxsk_mailbox_close(struct lxsk_mailbox *m);
void lxsk_mailbox_free(struct lxsk_mailbox *m); /* lets go of one reference */

/* ---- counters shared by workers ---- */

struct lxsk_counters;
struct lxsk_counter; /* one slot: written by one worker, read by anyone */

struct lxsk_counter_values {
	uint64_t rx_packets;
	uint64_t rx_bytes;
	uint64_t tx_packets;
	uint64_t tx_bytes;
	uint64_t drops;
};

struct lxsk_counters *lxsk_counters_new(uint32_t n);
void lxsk_counters_free(struct lxsk_counters *c); /* lets go of one reference */
uint32_t lxsk_counters_size(const struct lxsk_counters *c);
/* Slot i (from 0) for one writer: refused while another holds it.  The slot
 * holds a reference on the block; lxsk_counter_free gives it back. */
struct lxsk_counter *lxsk_counters_take(struct lxsk_counters *c, uint32_t i);
void lxsk_counter_free(struct lxsk_counter *s);
/* The slot's writer adds, once per burst. */
void lxsk_count_rx(struct lxsk_counter *s, uint32_t packets, uint64_t bytes);
void lxsk_count_tx(struct lxsk_counter *s, uint32_t packets, uint64_t bytes);
void lxsk_count_drops(struct lxsk_counter *s, uint32_t n);
/* Slot i's values (-ERANGE past the end), or the sum of every slot. */
int lxsk_counters_read(const struct lxsk_counters *c, uint32_t i, struct lxsk_counter_values *v);
void lxsk_counters_total(const struct lxsk_counters *c, struct lxsk_counter_values *v);
/* FFI: end */

#endif
