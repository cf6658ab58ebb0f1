/*
 * gangq: the resource manager's ready queue — a bounded lock-free MPMC
 * queue of gang pointers with a dequeue that blocks without spinning.
 *
 * HOW IT WORKS
 *  - Storage is a bounded MPMC ring of cells with sequence numbers (after
 *    D. Vyukov's bounded MPMC queue): a producer reserves a position by CAS
 *    on enq_pos and publishes the cell with a release store of its seq; a
 *    consumer counts the published cells at deq_pos and claims up to a whole
 *    batch with one CAS on deq_pos. No locks, no allocation per item, and
 *    every access is a C11 atomic, so ThreadSanitizer checks it. (Concurrency
 *    Kit's ck_ring was the first version: one CAS per item on the consumer
 *    side and p_tail serialisation made it slower than a mutex here, and its
 *    volatile accesses are invisible to TSan.)
 *  - Blocking is an event count: a sleeping consumer registers in
 *    `waiters`, reads the futex word `seq`, re-checks the ring and sleeps
 *    on `seq` only if it is still empty. A producer whose enqueue found the
 *    ring empty (the empty -> non-empty edge: the only enqueue that can find
 *    a consumer asleep) issues one full fence and reads `waiters`; only if
 *    someone sleeps does it bump `seq` and FUTEX_WAKE one. A consumer that
 *    fills its batch and leaves gangs behind passes the wake-up on. So the
 *    fast path (consumers busy) makes no system call, and a wake-up cannot
 *    be lost: either the consumer's re-check sees the item, or the edge
 *    producer sees the consumer registered (both sides order their store
 *    before their load with seq_cst).
 *
 * LIMITATIONS
 *  - Bounded: enqueue fails (returns false) when `capacity` gangs are
 *    queued; the caller keeps the gang pending and retries (backpressure).
 *  - FIFO per producer; across producers, order is the order of slot
 *    reservation.
 *
 * CONCURRENCY
 *   operation              | may run concurrently with
 *   -----------------------+---------------------------
 *   gangq_enqueue_mpmc     | everything but destroy
 *   gangq_dequeue_mpmc     | everything but destroy
 *   gangq_wake_all         | everything but destroy
 *   gangq_destroy          | nothing
 */
#ifndef GANGQ_H
#define GANGQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gangq;

/*
 * Returns a queue holding up to `capacity` gangs (capacity is rounded up
 * to a power of two, at least 4), or NULL with errno ENOMEM / EINVAL.
 */
struct gangq *gangq_create(uint32_t capacity);

/* Frees the queue (not the gangs still in it). NULL ok. */
void gangq_destroy(struct gangq *q);

/* Enqueues `gang` (non-NULL, owned by the caller). False when full. */
bool gangq_enqueue_mpmc(struct gangq *q, void *gang);

/*
 * Dequeues up to `max` gangs into out[], waiting up to timeout_ns for the
 * first one when the queue is empty (0: do not wait). Returns how many were
 * dequeued (0 on timeout or after gangq_wake_all). Never spins.
 */
size_t gangq_dequeue_mpmc(struct gangq *q, void **out, size_t max, uint64_t timeout_ns);

/* Wakes every sleeping consumer (shutdown). */
void gangq_wake_all(struct gangq *q);

/* Gangs queued now (a racy snapshot). */
size_t gangq_len(struct gangq *q);

/* Consumers registered to sleep now (a racy snapshot; tests wait for a
 * consumer to be asleep before waking it). */
size_t gangq_sleepers(struct gangq *q);

#endif
