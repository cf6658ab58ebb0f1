/*
 * Ready queue: FIFO order, full and NULL refused, timeout without items,
 * a sleeping consumer woken by an enqueue and by gangq_wake_all; and a
 * torture run (2 producers, 2 consumers, blocking dequeues) in which every
 * gang is dequeued exactly once and the queue ends empty.
 */
#include <pthread.h>
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

static void *sleep_dequeue(void *arg)
{
	struct sleeper *s = arg;
	s->got = gangq_dequeue_mpmc(s->q, s->out, 4, 10ull * 1000000000ull);
	return NULL;
}

static void test_wakeups(void **state)
{
	(void)state;
	int item;
	struct sleeper s = {.q = gangq_create(4)};
	pthread_t t;

	pthread_create(&t, NULL, sleep_dequeue, &s);
	struct timespec d = {0, 20000000};
	nanosleep(&d, NULL); /* let it sleep; correctness does not depend on it */
	assert_true(gangq_enqueue_mpmc(s.q, &item));
	pthread_join(t, NULL);
	assert_int_equal(s.got, 1);
	assert_ptr_equal(s.out[0], &item);

	pthread_create(&t, NULL, sleep_dequeue, &s);
	nanosleep(&d, NULL);
	gangq_wake_all(s.q);
	pthread_join(t, NULL);
	/* woken by wake_all (or, if it was not yet asleep, still returns 0 at the
	 * 10 s timeout); either way nothing was dequeued */
	assert_int_equal(s.got, 0);
	gangq_destroy(s.q);
}

#define PER_PRODUCER 200000
static struct gangq *tq;
static _Atomic uint8_t seen[2 * PER_PRODUCER];
static _Atomic uint64_t consumed;

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
		size_t n = gangq_dequeue_mpmc(tq, out, 10, 1000000);
		for (size_t i = 0; i < n; i++) {
			uintptr_t id = (uintptr_t)out[i] - 1;
			assert_true(id < 2 * PER_PRODUCER);
			assert_int_equal(atomic_fetch_add(&seen[id], 1), 0); /* exactly once */
		}
		atomic_fetch_add(&consumed, n);
	}
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
	    cmocka_unit_test(test_fifo_full_null),
	    cmocka_unit_test(test_timeout),
	    cmocka_unit_test(test_wakeups),
	    cmocka_unit_test(test_torture),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
