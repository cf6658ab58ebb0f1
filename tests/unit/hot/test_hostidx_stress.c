/*
 * Torture for the host index: 4 acquiring threads and 1 writer churning
 * offers (add, rescind, remove host, expire leases) on 10,000 hosts.
 *
 * Two rounds. In the strict round the writer adds and rescinds offers
 * and leases are long: per-host atomic holder counters prove no host is
 * ever held by two callers at once. In the voiding round the writer also
 * removes hosts and expires 1 ms leases, so leases are voided under their
 * holders; then no claim token is granted twice, and a release succeeds
 * only for the newest claim of its host (the highest token recorded).
 * Both rounds check that every granted host satisfied the filter at claim
 * time (its lease snapshot is re-checked), and end with the aggregates and
 * buckets equal to a recomputation, nothing held, and
 * acquired == released + voided.
 * Runs STRESS_SECONDS (default 2) seconds; built for TSan as well.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <urcu.h>

#include "hostidx.h"
#include "pel_assert.h"

#define N_HOSTS 10000
#define N_READERS 4

static struct hostidx *idx;
static _Atomic int holders[N_HOSTS];
static _Atomic uint64_t last_token[N_HOSTS];
static int voiding; /* round: 0 strict, 1 voiding (set before threads start) */
static _Atomic uint64_t acquired, released, voided;
static _Atomic int stop;
static pthread_barrier_t start;
static const char *const attrs[] = {"rack=r1", "zone=z2", "sku=s3"};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int host_no(const char *name)
{
	return atoi(name + 1);
}

/* Raises *slot to v; returns the previous value. */
static uint64_t token_max(_Atomic uint64_t *slot, uint64_t v)
{
	uint64_t cur = atomic_load(slot);
	while (cur < v && !atomic_compare_exchange_weak(slot, &cur, v))
		;
	return cur;
}

static void *reader(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	struct hostidx_lease leases[8];
	struct hostmatch_node in_r1 = {.kind = HOSTMATCH_NODE_LABEL,
	                               .host_kind = true,
	                               .condition = HOSTMATCH_GREATER_THAN,
	                               .label = {hostmatch_label_hash("rack=r1"), "rack=r1"}};

	rcu_register_thread();
	pthread_barrier_wait(&start);
	while (!atomic_load(&stop)) {
		struct hostmatch_filter f = {.min = {1 + rand_r(&seed) % 16,
		                                     1024.0 * (1 + rand_r(&seed) % 64), 0,
		                                     rand_r(&seed) % 20 == 0 ? 1 : 0},
		                             .num_ports = rand_r(&seed) % 3,
		                             .constraint = rand_r(&seed) % 3 ? NULL : &in_r1};
		struct hostidx_acquire_out out = {.leases = leases, .cap = 8};
		const char *why;
		PEL_ASSERT(hostidx_acquire(idx, &f, 1 + rand_r(&seed) % 8,
		                           rand_r(&seed) % 2 ? HOSTIDX_PACK : HOSTIDX_SPREAD,
		                           now_ns(), &out, &why) == 0);
		for (uint32_t i = 0; i < out.n; i++) {
			int h = host_no(hostidx_lease_hostname(&leases[i]));
			uint64_t prev = token_max(&last_token[h], leases[i].token);
			if (!voiding)
				PEL_ASSERT(atomic_fetch_add(&holders[h], 1) == 0); /* one holder */
			else
				PEL_ASSERT(prev !=
				           leases[i].token); /* a token is never re-granted */
			PEL_ASSERT(hostmatch_check(&f, hostidx_lease_view(&leases[i])) ==
			           HOSTMATCH_MATCH);
		}
		atomic_fetch_add(&acquired, out.n);
		if (rand_r(&seed) % 16 == 0)
			sched_yield(); /* random stall while holding */
		for (uint32_t i = 0; i < out.n; i++) {
			int h = host_no(hostidx_lease_hostname(&leases[i]));
			uint64_t token = leases[i].token;
			if (!voiding)
				atomic_fetch_sub(&holders[h], 1);
			uint64_t newest = atomic_load(&last_token[h]);
			if (hostidx_release(idx, &leases[i])) {
				atomic_fetch_add(&released, 1);
				/* still valid at release: nobody claimed it after us */
				PEL_ASSERT(newest == token);
			} else {
				PEL_ASSERT(voiding); /* removed or lease expired */
				atomic_fetch_add(&voided, 1);
			}
		}
	}
	rcu_unregister_thread();
	return NULL;
}

static void add_offer(unsigned *seed, uint64_t *next_id, char (*ids)[32], int h)
{
	char name[16];
	struct hostidx_range r = {31000, 31000 + rand_r(seed) % 100};
	snprintf(name, sizeof(name), "h%05d", h);
	snprintf(ids[h], 32, "o%llu", (unsigned long long)(*next_id)++);
	struct hostidx_offer_in o = {
	    .offer_id = ids[h],
	    .hostname = name,
	    .agent_id = name,
	    .res = {1 + rand_r(seed) % 32, 1024.0 * (rand_r(seed) % 128), 10000,
	            rand_r(seed) % 20 == 0 ? 4 : 0},
	    .n_ranges = 1,
	    .ranges = &r,
	    .n_attrs = 3,
	    .attrs = attrs,
	    .recv_ns = now_ns(),
	};
	PEL_ASSERT(hostidx_add_offers(idx, &o, 1) == 0);
}

static void *writer(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	static char ids[N_HOSTS][32]; /* one live offer id per host, "" if none */
	uint64_t next_id = 0, ops = 0;

	rcu_register_thread();
	memset(ids, 0, sizeof(ids));
	for (int h = 0; h < N_HOSTS; h++)
		add_offer(&seed, &next_id, ids, h);
	pthread_barrier_wait(&start);
	while (!atomic_load(&stop)) {
		int h = rand_r(&seed) % N_HOSTS, op = rand_r(&seed) % 10;
		char name[16];
		snprintf(name, sizeof(name), "h%05d", h);
		if (ids[h][0] != '\0' && op < 4) {
			PEL_ASSERT(hostidx_rescind(idx, ids[h]) == 0);
			ids[h][0] = '\0';
		} else if (voiding && ids[h][0] != '\0' && op == 4) {
			PEL_ASSERT(hostidx_remove_host(idx, name) == 0);
			ids[h][0] = '\0';
		} else if (ids[h][0] == '\0') {
			add_offer(&seed, &next_id, ids, h);
		}
		if (voiding && ++ops % 1000 == 0)
			hostidx_expire_leases(idx, now_ns() - 1000000); /* leases are 1 ms */
	}
	fprintf(stderr, "writer: %llu lease sweeps\n", (unsigned long long)ops / 1000);
	rcu_unregister_thread();
	return NULL;
}

static void round_run(int seconds, int mode)
{
	struct hostidx_config cfg = {.lease_ns = mode ? 1000000 : 3600ull * 1000000000ull};
	pthread_t r[N_READERS], w;

	voiding = mode;
	acquired = released = voided = 0;
	memset(last_token, 0, sizeof(last_token));
	idx = hostidx_create(&cfg);
	PEL_ASSERT(idx != NULL);
	atomic_store(&stop, 0);
	/* the readers, the writer and this thread: the round's clock starts once
	 * the writer has offered every host (slow under sanitizers on a loaded
	 * machine: counting that time let a round end before it began) */
	pthread_barrier_init(&start, NULL, N_READERS + 2);
	pthread_create(&w, NULL, writer, (void *)(uintptr_t)(7 + mode));
	for (int i = 0; i < N_READERS; i++)
		pthread_create(&r[i], NULL, reader, (void *)(uintptr_t)(100 + i));
	pthread_barrier_wait(&start);
	struct timespec d = {.tv_sec = seconds};
	nanosleep(&d, NULL);
	atomic_store(&stop, 1);
	for (int i = 0; i < N_READERS; i++)
		pthread_join(r[i], NULL);
	pthread_join(w, NULL);
	pthread_barrier_destroy(&start);

	struct hostidx_capacity cap;
	hostidx_capacity(idx, &cap);
	fprintf(stderr, "%s round: acquired %llu released %llu voided %llu\n",
	        mode ? "voiding" : "strict", (unsigned long long)acquired,
	        (unsigned long long)released, (unsigned long long)voided);
	PEL_ASSERT(acquired > 0);
	PEL_ASSERT(acquired == released + voided);
	PEL_ASSERT(mode || voided == 0);
	PEL_ASSERT(cap.placing == 0);
	PEL_ASSERT(hostidx_check(idx));
	for (int h = 0; h < N_HOSTS; h++)
		PEL_ASSERT(atomic_load(&holders[h]) == 0);
	hostidx_destroy(idx);
}

int main(void)
{
	const char *env = getenv("STRESS_SECONDS");
	int seconds = env ? atoi(env) : 2;

	rcu_register_thread();
	round_run(seconds, 0);
	round_run(seconds, 1);
	rcu_unregister_thread();
	printf("stress ok\n");
	return 0;
}
