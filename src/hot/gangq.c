/* Lock-free MPMC ready queue with a futex event count; see gangq.h. */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "gangq.h"

/* One slot: seq == pos + 1 once the item for position pos is published,
 * pos + capacity once a consumer has taken it (free for the next lap). */
struct cell {
	_Atomic uint64_t seq;
	void *gang;
};

struct gangq {
	struct cell *cells;
	uint64_t mask;
	_Alignas(64) _Atomic uint64_t enq_pos; /* next position to reserve */
	_Alignas(64) _Atomic uint64_t deq_pos; /* next position to take */
	_Alignas(64) _Atomic uint32_t seq;     /* futex word: bumped to wake sleepers */
	_Atomic uint32_t waiters;              /* consumers registered to sleep */
	_Atomic uint32_t wake_all;             /* bumped by gangq_wake_all */
};

static void futex_wait(_Atomic uint32_t *word, uint32_t expect, uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ull),
	                      .tv_nsec = (long)(ns % 1000000000ull)};
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expect, &ts, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word, int n)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

struct gangq *gangq_create(uint32_t capacity)
{
	uint64_t size = 4;
	struct gangq *q;

	if (capacity > (1u << 30)) {
		errno = EINVAL;
		return NULL;
	}
	while (size < capacity)
		size <<= 1;
	q = aligned_alloc(64, sizeof(*q));
	if (q == NULL)
		return NULL;
	q->cells = calloc(size, sizeof(*q->cells));
	if (q->cells == NULL) {
		free(q);
		errno = ENOMEM;
		return NULL;
	}
	q->mask = size - 1;
	for (uint64_t i = 0; i < size; i++)
		atomic_init(&q->cells[i].seq, i);
	atomic_init(&q->enq_pos, 0);
	atomic_init(&q->deq_pos, 0);
	atomic_init(&q->seq, 0);
	atomic_init(&q->waiters, 0);
	atomic_init(&q->wake_all, 0);
	return q;
}

void gangq_destroy(struct gangq *q)
{
	if (q == NULL)
		return;
	free(q->cells);
	free(q);
}

/* Wakes one sleeping consumer, if any (no system call when none sleeps). */
static void wake_one(struct gangq *q)
{
	if (atomic_load_explicit(&q->waiters, memory_order_relaxed) > 0) {
		atomic_fetch_add_explicit(&q->seq, 1, memory_order_release);
		futex_wake(&q->seq, 1);
	}
}

bool gangq_enqueue_mpmc(struct gangq *q, void *gang)
{
	uint64_t pos = atomic_load_explicit(&q->enq_pos, memory_order_relaxed);
	struct cell *c;

	if (gang == NULL)
		return false;
	for (;;) {
		c = &q->cells[pos & q->mask];
		uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		int64_t dif = (int64_t)(seq - pos);
		if (dif == 0) {
			if (atomic_compare_exchange_weak_explicit(&q->enq_pos, &pos, pos + 1,
			                                          memory_order_relaxed,
			                                          memory_order_relaxed))
				break;
		} else if (dif < 0) {
			return false; /* the previous lap's item is still there: full */
		} else {
			pos = atomic_load_explicit(&q->enq_pos, memory_order_relaxed);
		}
	}
	c->gang = gang;
	atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
	/*
	 * A consumer sleeps only after finding the cell at deq_pos unpublished,
	 * so only the item at deq_pos (the empty -> non-empty edge) can find one
	 * asleep. The fence orders our publish before reading waiters; the
	 * consumer orders its registration before its re-check (Dekker).
	 */
	atomic_thread_fence(memory_order_seq_cst);
	/* waiters first: its line is read-mostly, deq_pos is the consumers' */
	if (atomic_load_explicit(&q->waiters, memory_order_relaxed) > 0 &&
	    atomic_load_explicit(&q->deq_pos, memory_order_relaxed) == pos)
		wake_one(q);
	return true;
}

/*
 * Takes up to max published gangs with one CAS: counts the ready cells from
 * deq_pos, then claims them all. Cells counted ready stay ready until their
 * claimer takes them, and only the CAS winner can, so the count holds.
 */
static size_t take(struct gangq *q, void **out, size_t max)
{
	uint64_t pos = atomic_load_explicit(&q->deq_pos, memory_order_relaxed);
	size_t k;

	for (;;) {
		k = 0;
		while (k < max) {
			struct cell *c = &q->cells[(pos + k) & q->mask];
			if (atomic_load_explicit(&c->seq, memory_order_acquire) != pos + k + 1)
				break;
			k++;
		}
		if (k == 0) {
			uint64_t seq = atomic_load_explicit(&q->cells[pos & q->mask].seq,
			                                    memory_order_acquire);
			if ((int64_t)(seq - (pos + 1)) < 0)
				return 0; /* empty (or its producer is mid-publish) */
			pos = atomic_load_explicit(&q->deq_pos, memory_order_relaxed);
			continue;
		}
		if (atomic_compare_exchange_weak_explicit(
		        &q->deq_pos, &pos, pos + k, memory_order_relaxed, memory_order_relaxed))
			break;
	}
	for (size_t i = 0; i < k; i++) {
		struct cell *c = &q->cells[(pos + i) & q->mask];
		out[i] = c->gang;
		atomic_store_explicit(&c->seq, pos + i + q->mask + 1, memory_order_release);
	}
	return k;
}

/*
 * A consumer that fills its batch and leaves gangs behind passes the wake-up
 * on, so gangs that arrived while other consumers slept (after a single
 * edge) do not wait for the next edge.
 */
static size_t drain(struct gangq *q, void **out, size_t max)
{
	size_t n = take(q, out, max);
	if (n == max && gangq_len(q) > 0) {
		atomic_thread_fence(memory_order_seq_cst);
		wake_one(q);
	}
	return n;
}

size_t gangq_dequeue_mpmc(struct gangq *q, void **out, size_t max, uint64_t timeout_ns)
{
	size_t n = max ? drain(q, out, max) : 0;
	uint64_t deadline;

	if (n > 0 || timeout_ns == 0 || max == 0)
		return n;
	deadline = clock_mono_ns() + timeout_ns;
	uint32_t gen = atomic_load_explicit(&q->wake_all, memory_order_acquire);
	for (;;) {
		atomic_fetch_add_explicit(&q->waiters, 1, memory_order_seq_cst);
		uint32_t s = atomic_load_explicit(&q->seq, memory_order_seq_cst);
		n = drain(q, out, max); /* re-check after registering */
		if (n == 0) {
			uint64_t t = clock_mono_ns();
			if (t < deadline)
				futex_wait(&q->seq, s, deadline - t);
			n = drain(q, out, max);
		}
		atomic_fetch_sub_explicit(&q->waiters, 1, memory_order_relaxed);
		/* another consumer may have taken what woke us: sleep again */
		if (n > 0 || clock_mono_ns() >= deadline ||
		    atomic_load_explicit(&q->wake_all, memory_order_acquire) != gen)
			return n;
	}
}

void gangq_wake_all(struct gangq *q)
{
	atomic_fetch_add_explicit(&q->wake_all, 1, memory_order_release);
	atomic_fetch_add_explicit(&q->seq, 1, memory_order_seq_cst);
	futex_wake(&q->seq, INT_MAX);
}

size_t gangq_len(struct gangq *q)
{
	uint64_t d = atomic_load_explicit(&q->deq_pos, memory_order_relaxed);
	uint64_t e = atomic_load_explicit(&q->enq_pos, memory_order_relaxed);
	return e > d ? (size_t)(e - d) : 0;
}

size_t gangq_sleepers(struct gangq *q)
{
	return atomic_load_explicit(&q->waiters, memory_order_relaxed);
}
