/*
 * Ready queue: FIFO order, full and NULL refused, timeout without items,
 * a sleeping consumer woken by an enqueue and by gangq_wake_all (each
 * waited for with an hour's timeout: a lost wake-up hangs the test, which
 * ctest then fails), a ping-pong across the empty edge 20,000 times; and a
 * torture run (2 producers, 2 consumers, blocking dequeues) in which every
 * gang is dequeued exactly once and the queue ends empty.
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "gangq.h"

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void test_fifo_full_null(void **state)
{
	(void)state;
	struct gangq *q = gangq_create(8);
	uintptr_t items[9];
	void *out[16];
	assert_non_null(q);
	assert_false(gangq_enqueue_mpmc(q, NULL));
	size_t n = 0;
	while (n < 9 && gangq_enqueue_mpmc(q, &items[n]))
		n++;
	assert_int_equal(n, 8); /* capacity */
	assert_int_equal(gangq_len(q), 8);
	assert_int_equal(gangq_dequeue_mpmc(q, out, 3, 0), 3);
	for (size_t i = 0; i < 3; i++)
		assert_ptr_equal(out[i], &items[i]);
	assert_int_equal(gangq_dequeue_mpmc(q, out, 16, 0), 5);
	assert_ptr_equal(out[4], &items[7]);
	assert_int_equal(gangq_dequeue_mpmc(q, out, 16, 0), 0);
	assert_int_equal(gangq_len(q), 0);
	gangq_destroy(q);
	gangq_destroy(NULL);
}

static void test_timeout(void **state)
{
	(void)state;
	struct gangq *q = gangq_create(4);
	void *out[1];
	uint64_t t0 = now_ns();
	assert_int_equal(gangq_dequeue_mpmc(q, out, 1, 20000000), 0);
	assert_true(now_ns() - t0 >= 20000000); /* waited the full timeout */
	gangq_destroy(q);
}

struct sleeper {
	struct gangq *q;
	size_t got;
	void *out[4];
};

/*
 * Sleeps with an hour's timeout: a wake-up lost is a hang, which the
 * test's ctest TIMEOUT turns into a failure (no timing assertion).
 */
#define FOREVER_NS (3600ull * 1000000000ull)

static void *sleep_dequeue(void *arg)
{
	struct sleeper *s = arg;
	s->got = gangq_dequeue_mpmc(s->q, s->out, 4, FOREVER_NS);
	return NULL;
}

/* Starts a consumer and returns once it is registered to sleep. */
static void start_sleeper(struct sleeper *s, pthread_t *t)
{
	pthread_create(t, NULL, sleep_dequeue, s);
	while (gangq_sleepers(s->q) == 0)
		sched_yield();
}

static void test_wakeups(void **state)
{
	(void)state;
	int item;
	struct sleeper s = {.q = gangq_create(4)};
	pthread_t t;

	/* one enqueue wakes a consumer asleep on the empty queue */
	start_sleeper(&s, &t);
	assert_true(gangq_enqueue_mpmc(s.q, &item));
	pthread_join(t, NULL);
	assert_int_equal(s.got, 1);
	assert_ptr_equal(s.out[0], &item);
	/* one wake_all wakes it with nothing */
	start_sleeper(&s, &t);
	gangq_wake_all(s.q);
	pthread_join(t, NULL);
	assert_int_equal(s.got, 0);
	assert_int_equal(gangq_sleepers(s.q), 0);
	gangq_destroy(s.q);
}

/*
 * Ping-pong: a producer enqueues one item, then waits until the consumer
 * took it; the consumer sleeps (an hour's timeout) whenever the queue is
 * empty. Every round crosses the empty -> non-empty edge while the
 * consumer goes to sleep or is asleep, so a lost wake-up anywhere hangs
 * the test (ctest TIMEOUT) instead of being hidden by a short timeout.
 */
#define ROUNDS 20000
static _Atomic unsigned taken;

static void *pong(void *arg)
{
	struct gangq *q = arg;
	void *out[1];
	for (unsigned i = 0; i < ROUNDS; i++) {
		size_t n = gangq_dequeue_mpmc(q, out, 1, FOREVER_NS);
		assert_int_equal(n, 1);
		assert_int_equal((uintptr_t)out[0], i + 1);
		atomic_store(&taken, i + 1);
	}
	return NULL;
}

static void test_ping_pong(void **state)
{
	(void)state;
	struct gangq *q = gangq_create(4);
	pthread_t t;
	atomic_store(&taken, 0);
	pthread_create(&t, NULL, pong, q);
	for (unsigned i = 0; i < ROUNDS; i++) {
		assert_true(gangq_enqueue_mpmc(q, (void *)(uintptr_t)(i + 1)));
		while (atomic_load(&taken) != i + 1)
			sched_yield();
	}
	pthread_join(t, NULL);
	assert_int_equal(gangq_len(q), 0);
	gangq_destroy(q);
}

#define PER_PRODUCER 200000
static struct gangq *tq;
static _Atomic uint8_t seen[2 * PER_PRODUCER];
static _Atomic uint64_t consumed;
static _Atomic int exited;

static void *producer(void *arg)
{
	uintptr_t base = (uintptr_t)arg;
	for (uintptr_t i = 0; i < PER_PRODUCER; i++) {
		while (!gangq_enqueue_mpmc(tq, (void *)(base + i + 1)))
			sched_yield(); /* full: back off */
	}
	return NULL;
}

static void *consumer(void *arg)
{
	(void)arg;
	void *out[10];
	while (atomic_load(&consumed) < 2 * PER_PRODUCER) {
		size_t n = gangq_dequeue_mpmc(tq, out, 10, FOREVER_NS); /* woken at the end */
		for (size_t i = 0; i < n; i++) {
			uintptr_t id = (uintptr_t)out[i] - 1;
			assert_true(id < 2 * PER_PRODUCER);
			assert_int_equal(atomic_fetch_add(&seen[id], 1), 0); /* exactly once */
		}
		atomic_fetch_add(&consumed, n);
	}
	atomic_fetch_add(&exited, 1);
	return NULL;
}

static void test_torture(void **state)
{
	(void)state;
	pthread_t p[2], c[2];
	tq = gangq_create(1024);
	for (int i = 0; i < 2; i++)
		pthread_create(&c[i], NULL, consumer, NULL);
	for (int i = 0; i < 2; i++)
		pthread_create(&p[i], NULL, producer, (void *)(uintptr_t)(i * PER_PRODUCER));
	for (int i = 0; i < 2; i++)
		pthread_join(p[i], NULL);
	while (atomic_load(&consumed) < 2 * PER_PRODUCER)
		sched_yield();
	/* a consumer asleep on the drained queue: wake_all wakes only those
	 * already in dequeue, and one may still be on its way in, so repeat */
	while (atomic_load(&exited) < 2) {
		gangq_wake_all(tq);
		sched_yield();
	}
	for (int i = 0; i < 2; i++)
		pthread_join(c[i], NULL);
	assert_int_equal(atomic_load(&consumed), 2 * PER_PRODUCER);
	for (size_t i = 0; i < 2 * PER_PRODUCER; i++)
		assert_int_equal(atomic_load(&seen[i]), 1);
	assert_int_equal(gangq_len(tq), 0);
	gangq_destroy(tq);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fifo_full_null), cmocka_unit_test(test_timeout),
	    cmocka_unit_test(test_wakeups),        cmocka_unit_test(test_ping_pong),
	    cmocka_unit_test(test_torture),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
