/*
 * bench_gangq: the ready queue's enqueue + dequeue throughput.
 *
 * One op = one gang enqueued by a producer and dequeued by a consumer
 * (consumers dequeue in batches of up to 10, DequeueGangs' upstream default,
 * blocking up to 100 ms when empty, and read every task id of the gang).
 * ops_per_s counts gangs through the queue; tasks_per_s = ops_per_s x gang.
 * p50/p99: latency of one enqueue call, sampled every 64th call.
 *   fast:     src/hot/gangq (lock-free MPMC ring, batch claims, futex event count)
 *   baseline: the same bounded ring behind one pthread mutex and a
 *             condition variable (signal on enqueue, wait when empty)
 * Cases: gang in {1, 8, 64} tasks x producers=consumers in {1, 2}.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "gangq.h"

#define CAPACITY 4096
#define BATCH 10
#define POOL 8192 /* gangs per producer, reused round-robin */

struct gang {
	uint32_t n;
	uint64_t tasks[64];
};

/* --- baseline: mutex + condvar ring -------------------------------------- */

struct mq {
	pthread_mutex_t mu;
	pthread_cond_t nonempty, nonfull;
	void *slots[CAPACITY];
	size_t head, len;
};

static bool mq_enqueue(struct mq *q, void *g)
{
	pthread_mutex_lock(&q->mu);
	if (q->len == CAPACITY - 1) {
		pthread_mutex_unlock(&q->mu);
		return false;
	}
	q->slots[(q->head + q->len++) % CAPACITY] = g;
	pthread_cond_signal(&q->nonempty);
	pthread_mutex_unlock(&q->mu);
	return true;
}

static size_t mq_dequeue(struct mq *q, void **out, size_t max, const _Atomic int *stop)
{
	size_t n = 0;
	pthread_mutex_lock(&q->mu);
	while (q->len == 0 && !atomic_load(stop)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&q->nonempty, &q->mu, &ts);
	}
	for (; n < max && q->len > 0; n++, q->len--) {
		out[n] = q->slots[q->head];
		q->head = (q->head + 1) % CAPACITY;
	}
	pthread_mutex_unlock(&q->mu);
	return n;
}

/* --- runner ---------------------------------------------------------------- */

struct run {
	bool fast;
	int gang, threads;
	double secs;
	struct gangq *gq;
	struct mq *mq;
	_Atomic int go, stop;
	_Atomic uint64_t dequeued;
	_Atomic uint64_t checksum;
};

struct prod {
	struct run *r;
	struct gang *pool;
	struct bench_samples s;
};

static void *producer(void *arg)
{
	struct prod *p = arg;
	struct run *r = p->r;
	uint64_t i = 0;

	while (!atomic_load(&r->go))
		;
	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		struct gang *g = &p->pool[i % POOL];
		bool sample = (i & 63) == 0;
		uint64_t t0 = sample ? bench_now_ns() : 0;
		bool ok = r->fast ? gangq_enqueue_mpmc(r->gq, g) : mq_enqueue(r->mq, g);
		if (!ok) {
			sched_yield(); /* full: the consumers are behind */
			continue;
		}
		if (sample)
			bench_samples_add(&p->s, bench_now_ns() - t0);
		i++;
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct run *r = arg;
	void *out[BATCH];
	uint64_t sum = 0, n_total = 0;

	while (!atomic_load(&r->go))
		;
	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		size_t n = r->fast ? gangq_dequeue_mpmc(r->gq, out, BATCH, 100000000)
		                   : mq_dequeue(r->mq, out, BATCH, &r->stop);
		for (size_t k = 0; k < n; k++) {
			const struct gang *g = out[k];
			for (uint32_t t = 0; t < g->n; t++)
				sum += g->tasks[t];
		}
		n_total += n;
	}
	atomic_fetch_add(&r->dequeued, n_total);
	atomic_fetch_add(&r->checksum, sum);
	return NULL;
}

static struct bench_result run_once(bool fast, int gang, int threads, double secs)
{
	struct run r = {.fast = fast, .gang = gang, .threads = threads, .secs = secs};
	struct prod prods[2];
	pthread_t pt[2], ct[2];
	struct bench_samples all;

	r.gq = gangq_create(CAPACITY);
	r.mq = calloc(1, sizeof(*r.mq));
	pthread_mutex_init(&r.mq->mu, NULL);
	pthread_cond_init(&r.mq->nonempty, NULL);
	for (int i = 0; i < threads; i++) {
		prods[i] = (struct prod){.r = &r, .pool = calloc(POOL, sizeof(struct gang))};
		for (int k = 0; k < POOL; k++) {
			prods[i].pool[k].n = (uint32_t)gang;
			for (int t = 0; t < gang; t++)
				prods[i].pool[k].tasks[t] = (uint64_t)k * 64 + (uint64_t)t;
		}
		bench_samples_init(&prods[i].s, 1u << 22);
		pthread_create(&pt[i], NULL, producer, &prods[i]);
		pthread_create(&ct[i], NULL, consumer, &r);
	}
	uint64_t t0 = bench_now_ns();
	atomic_store(&r.go, 1);
	struct timespec d = {(time_t)secs, (long)((secs - (time_t)secs) * 1e9)};
	nanosleep(&d, NULL);
	atomic_store(&r.stop, 1);
	uint64_t elapsed = bench_now_ns() - t0;
	if (fast)
		gangq_wake_all(r.gq);
	else
		pthread_cond_broadcast(&r.mq->nonempty);
	bench_samples_init(&all, (size_t)threads << 22);
	for (int i = 0; i < threads; i++) {
		pthread_join(pt[i], NULL);
		pthread_join(ct[i], NULL);
		for (size_t k = 0; k < prods[i].s.n; k++)
			bench_samples_add(&all, prods[i].s.ns[k]);
		bench_samples_fini(&prods[i].s);
		free(prods[i].pool);
	}
	all.ops = atomic_load(&r.dequeued);
	all.elapsed_ns = elapsed;
	struct bench_result res = bench_summarise(&all);
	bench_samples_fini(&all);
	gangq_destroy(r.gq);
	pthread_mutex_destroy(&r.mq->mu);
	pthread_cond_destroy(&r.mq->nonempty);
	free(r.mq);
	return res;
}

int main(int argc, char **argv)
{
	static const char help[] =
	    "One op: one gang through the ready queue (enqueue by a producer, dequeue in\n"
	    "batches of 10 by a consumer that reads the gang's task ids). p50/p99: one\n"
	    "enqueue call, sampled every 64th. fast = src/hot/gangq (lock-free MPMC ring\n"
	    "with batch claims, futex event count); baseline = a ring behind one mutex +\n"
	    "condvar.\n"
	    "Cases: gang {1,8,64} tasks x threads {1,2} producers and as many consumers.";
	static const int gangs[] = {1, 8, 64};
	struct bench_opts o;

	bench_parse(argc, argv, help, &o);
	for (int gi = 0; gi < 3; gi++) {
		for (int threads = 1; threads <= 2; threads++) {
			struct bench_result f[100], b[100];
			char cname[64], extra[128];
			snprintf(cname, sizeof(cname), "gang=%d,threads=%d", gangs[gi], threads);
			if (!bench_selected(&o, cname))
				continue;
			for (unsigned r = 0; r < o.reps; r++) {
				b[r] = run_once(false, gangs[gi], threads, o.min_secs);
				f[r] = run_once(true, gangs[gi], threads, o.min_secs);
			}
			struct bench_result bm = bench_median(b, o.reps),
			                    fm = bench_median(f, o.reps);
			for (int k = 0; k < 2; k++) {
				const struct bench_result *x = k ? &fm : &bm;
				if (o.impl && o.impl[0] != (k ? 'f' : 'b'))
					continue;
				snprintf(extra, sizeof(extra),
				         "\"gang\":%d,\"threads\":%d,\"tasks_per_s\":%.0f",
				         gangs[gi], threads, x->ops_per_s * gangs[gi]);
				bench_print("bench_gangq", cname, k ? "fast" : "baseline", extra, x,
				            k && !o.impl ? fm.ops_per_s / bm.ops_per_s : -1);
			}
		}
	}
	return 0;
}
