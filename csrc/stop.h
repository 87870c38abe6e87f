/* The stop flag (threads.h) as the core's other files see it: each worker
 * thread points it at its own cancel flag, and waits that may be long ask
 * whether the calling thread should stop. */
#ifndef LXSK_STOP_H
#define LXSK_STOP_H

#include <stdbool.h>
#include <stdint.h>

/* The calling thread's own cancel flag (NULL: none, as in the main thread). */
void stop_set_mine(const uint32_t *cancel);

/* Whether a wait in the calling thread should give up: the shared flag or
 * its own cancel flag, in a worker.  The main thread never gives up a wait
 * for the flag: it is the one that collects what workers send as they stop. */
bool stop_mine(void);

/* Whether the calling thread is a worker (has a cancel flag). */
bool stop_in_worker(void);

/* In the main thread: a blocked stop signal waiting to be taken sets the
 * flag.  Returns whether the flag is set. */
bool stop_poll_signals(void);

/* For worker.c: the count of workers alive, which lxsk_stop_reset checks. */
void stop_worker_started(void);
void stop_worker_ended(void);

#endif
