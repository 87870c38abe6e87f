/* Counters shared by workers (threads.h).  A slot has one writer, the worker
 * that took it, which adds once per burst with a plain load and a relaxed
 * store (no locked instruction: no one else writes there); readers sum with
 * relaxed loads.  Each slot has two cache lines of its own, so writers on
 * different cores never share one (the adjacent-line prefetcher pairs lines). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "error.h"
#include "shared.h"

#define SLOT_ALIGN 128
#define MAX_SLOTS 4096

struct lxsk_counter {
	uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes, drops;
	struct lxsk_counters *block;
	uint32_t index;
	uint32_t taken; /* atomic: a writer holds the slot */
} __attribute__((aligned(SLOT_ALIGN)));

struct lxsk_counters {
	int refs; /* atomic: the VMs' objects and the taken slots */
	uint32_t n;
	struct lxsk_counter *slots;
};

struct lxsk_counters *lxsk_counters_new(uint32_t n)
{
	struct lxsk_counters *c;

	if (!n || n > MAX_SLOTS) {
		lxsk_fail(EINVAL, "n %u must be from 1 to %d", n, MAX_SLOTS);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c || posix_memalign((void **)&c->slots, SLOT_ALIGN, (size_t)n * sizeof(*c->slots))) {
		free(c);
		lxsk_fail(ENOMEM, "out of memory for %u slots", n);
		return NULL;
	}
	for (uint32_t i = 0; i < n; i++)
		c->slots[i] = (struct lxsk_counter){ .block = c, .index = i };
	c->n = n;
	c->refs = 1;
	return c;
}

void counters_ref(struct lxsk_counters *c)
{
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
}

void lxsk_counters_free(struct lxsk_counters *c)
{
	if (!c || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL))
		return;
	free(c->slots);
	free(c);
}

uint32_t lxsk_counters_size(const struct lxsk_counters *c)
{
	return c->n;
}

struct lxsk_counter *lxsk_counters_take(struct lxsk_counters *c, uint32_t i)
{
	uint32_t free_slot = 0;
	struct lxsk_counter *s;

	if (i >= c->n) {
		lxsk_fail(ERANGE, "slot index %u is past the last one (%u)", i, c->n - 1);
		return NULL;
	}
	s = &c->slots[i];
	/* Acquire: the counts the slot's last writer stored are ours to add to. */
	if (!__atomic_compare_exchange_n(&s->taken, &free_slot, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
		lxsk_fail(EBUSY, "slot index %u already has a writer (one slot, one worker)", i);
		return NULL;
	}
	counters_ref(c);
	return s;
}

void lxsk_counter_free(struct lxsk_counter *s)
{
	struct lxsk_counters *c;

	if (!s)
		return;
	c = s->block;
	__atomic_store_n(&s->taken, 0, __ATOMIC_RELEASE);
	lxsk_counters_free(c);
}

static inline void add(uint64_t *field, uint64_t n)
{
	__atomic_store_n(field, *field + n, __ATOMIC_RELAXED);
}

void lxsk_count_rx(struct lxsk_counter *s, uint32_t packets, uint64_t bytes)
{
	add(&s->rx_packets, packets);
	add(&s->rx_bytes, bytes);
}

void lxsk_count_tx(struct lxsk_counter *s, uint32_t packets, uint64_t bytes)
{
	add(&s->tx_packets, packets);
	add(&s->tx_bytes, bytes);
}

void lxsk_count_drops(struct lxsk_counter *s, uint32_t n)
{
	add(&s->drops, n);
}

static void read_slot(const struct lxsk_counter *s, struct lxsk_counter_values *v)
{
	v->rx_packets += __atomic_load_n(&s->rx_packets, __ATOMIC_RELAXED);
	v->rx_bytes += __atomic_load_n(&s->rx_bytes, __ATOMIC_RELAXED);
	v->tx_packets += __atomic_load_n(&s->tx_packets, __ATOMIC_RELAXED);
	v->tx_bytes += __atomic_load_n(&s->tx_bytes, __ATOMIC_RELAXED);
	v->drops += __atomic_load_n(&s->drops, __ATOMIC_RELAXED);
}

int lxsk_counters_read(const struct lxsk_counters *c, uint32_t i, struct lxsk_counter_values *v)
{
	*v = (struct lxsk_counter_values){ 0 };
	if (i >= c->n)
		return lxsk_fail(ERANGE, "slot index %u is past the last one (%u)", i, c->n - 1);
	read_slot(&c->slots[i], v);
	return 0;
}

void lxsk_counters_total(const struct lxsk_counters *c, struct lxsk_counter_values *v)
{
	*v = (struct lxsk_counter_values){ 0 };
	for (uint32_t i = 0; i < c->n; i++)
		read_slot(&c->slots[i], v);
}
