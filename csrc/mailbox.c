/* Mailboxes (threads.h): a queue of messages (bytes the Lua side serialized)
 * under a mutex, for control messages and results: any number of threads
 * send and receive.  Waits run in slices, so a worker told to stop leaves a
 * wait within one slice. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "shared.h"
#include "stop.h"

#define SLICE_MS 50
#define MAX_CAPACITY (1u << 20)

struct message {
	struct lxsk_message pub; /* first: the pointer Lua gets */
	struct message *next;
	char data[];
};

struct lxsk_mailbox {
	pthread_mutex_t lock;
	pthread_cond_t changed; /* a message came or went, or the mailbox closed */
	struct message *head, *tail;
	uint32_t count, capacity;
	int closed;
	int refs; /* atomic */
};

struct lxsk_mailbox *lxsk_mailbox_new(uint32_t capacity)
{
	struct lxsk_mailbox *m;
	pthread_condattr_t ca;

	if (!capacity || capacity > MAX_CAPACITY) {
		lxsk_fail(EINVAL, "mailbox: capacity %u must be from 1 to %u", capacity, MAX_CAPACITY);
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		lxsk_fail(ENOMEM, "mailbox: out of memory");
		return NULL;
	}
	pthread_mutex_init(&m->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->changed, &ca);
	pthread_condattr_destroy(&ca);
	m->capacity = capacity;
	m->refs = 1;
	return m;
}

void mailbox_ref(struct lxsk_mailbox *m)
{
	__atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
}

void lxsk_mailbox_free(struct lxsk_mailbox *m)
{
	if (!m || __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL))
		return;
	while (m->head) {
		struct message *next = m->head->next;

		free(m->head);
		m->head = next;
	}
	pthread_cond_destroy(&m->changed);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static long long now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000000000ll + t.tv_nsec;
}

/* When a wait of timeout_ms from now ends; -1: never. */
static long long deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : now_ns() + (long long)timeout_ms * 1000000ll;
}

/* One slice of a wait (the lock held): false when the deadline has passed or
 * the calling worker should stop. */
static bool wait_slice(struct lxsk_mailbox *m, long long deadline)
{
	long long now = now_ns(), until = now + SLICE_MS * 1000000ll;
	struct timespec ts;

	if ((deadline >= 0 && now >= deadline) || stop_mine())
		return false;
	if (deadline >= 0 && deadline < until)
		until = deadline;
	ts.tv_sec = (time_t)(until / 1000000000ll);
	ts.tv_nsec = (long)(until % 1000000000ll);
	pthread_cond_timedwait(&m->changed, &m->lock, &ts);
	return true;
}

int lxsk_mailbox_send(struct lxsk_mailbox *m, const char *data, size_t len, int timeout_ms)
{
	struct message *msg = malloc(sizeof(*msg) + (len ? len : 1));
	long long deadline = deadline_of(timeout_ms);
	int r = LXSK_MAIL_DONE;

	if (!msg)
		return lxsk_fail(ENOMEM, "mailbox: out of memory for a message of %zu bytes", len);
	memcpy(msg->data, data, len);
	msg->pub = (struct lxsk_message){ .len = len, .data = msg->data };
	msg->next = NULL;
	pthread_mutex_lock(&m->lock);
	while (!m->closed && m->count >= m->capacity && wait_slice(m, deadline))
		;
	if (m->closed)
		r = LXSK_MAIL_CLOSED;
	else if (m->count >= m->capacity)
		r = stop_mine() ? LXSK_MAIL_STOPPED : LXSK_MAIL_WAITED;
	if (r == LXSK_MAIL_DONE) {
		if (m->tail)
			m->tail->next = msg;
		else
			m->head = msg;
		m->tail = msg;
		m->count++;
		pthread_cond_broadcast(&m->changed);
	}
	pthread_mutex_unlock(&m->lock);
	if (r != LXSK_MAIL_DONE)
		free(msg);
	return r;
}

int lxsk_mailbox_recv(struct lxsk_mailbox *m, int timeout_ms, struct lxsk_message **out)
{
	long long deadline = deadline_of(timeout_ms);
	int r = LXSK_MAIL_WAITED;

	*out = NULL;
	pthread_mutex_lock(&m->lock);
	while (!m->head && !m->closed && wait_slice(m, deadline))
		;
	if (m->head) {
		struct message *msg = m->head;

		m->head = msg->next;
		if (!m->head)
			m->tail = NULL;
		m->count--;
		*out = &msg->pub;
		r = LXSK_MAIL_DONE;
		pthread_cond_broadcast(&m->changed);
	} else if (m->closed) {
		r = LXSK_MAIL_CLOSED;
	} else if (stop_mine()) {
		r = LXSK_MAIL_STOPPED;
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

void lxsk_message_free(struct lxsk_message *msg)
{
	free(msg); /* pub is the first member */
}

uint32_t lxsk_mailbox_count(struct lxsk_mailbox *m)
{
	uint32_t n;

	pthread_mutex_lock(&m->lock);
	n = m->count;
	pthread_mutex_unlock(&m->lock);
	return n;
}

void lxsk_mailbox_close(struct lxsk_mailbox *m)
{
	pthread_mutex_lock(&m->lock);
	m->closed = 1;
	pthread_cond_broadcast(&m->changed);
	pthread_mutex_unlock(&m->lock);
}
