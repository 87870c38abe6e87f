/* What worker.c needs of the objects that several threads share, beyond
 * their FFI API: one more reference, for the VM a worker hands them to. */
#ifndef LXSK_SHARED_H
#define LXSK_SHARED_H

#include "threads.h"

void mailbox_ref(struct lxsk_mailbox *m);
void counters_ref(struct lxsk_counters *c);

#endif
