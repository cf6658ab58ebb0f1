/*
 * Torture for the resource manager: 2 producers enqueue gangs (1-8 tasks)
 * while an admission thread admits and ticks, and 2 consumers dequeue, set
 * placements, take placements and complete the tasks. Every task must be
 * dequeued exactly once and completed exactly once; at the end nothing is
 * left in any state but SUCCEEDED and the pool's allocation is zero.
 * Runs under TSan too.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <urcu.h>

#include "pel_assert.h"
#include "resmgr.h"

#define PER_PRODUCER 20000 /* tasks */
#define TOTAL (2 * PER_PRODUCER)

static struct respool_tree *pools;
static struct resmgr *rm;
static char leaf[40];
static _Atomic uint8_t dequeued[TOTAL], completed[TOTAL];
static _Atomic uint64_t n_completed;
static _Atomic int producers_done;

static int task_no(const char *id)
{
	return atoi(id + 1);
}

static void *producer(void *arg)
{
	int base = (int)(uintptr_t)arg, i = 0;
	unsigned seed = (unsigned)base + 1;
	char ids[8][16];
	struct resmgr_task_spec t[8];

	rcu_register_thread();
	while (i < PER_PRODUCER) {
		int n = 1 + rand_r(&seed) % 8;
		if (n > PER_PRODUCER - i)
			n = PER_PRODUCER - i;
		for (int k = 0; k < n; k++) {
			snprintf(ids[k], sizeof(ids[k]), "t%d", base + i + k);
			t[k] = (struct resmgr_task_spec){.id = ids[k],
			                                 .res = {1, 64, 0, 0},
			                                 .priority = (uint32_t)(rand_r(&seed) % 3),
			                                 .preemptible = true,
			                                 .type = RM_TYPE_BATCH};
		}
		struct resmgr_gang_spec g = {t, (size_t)n};
		enum resmgr_fail f;
		PEL_ASSERT(resmgr_enqueue_gangs(rm, leaf, &g, 1, &f) == 1);
		i += n;
	}
	atomic_fetch_add(&producers_done, 1);
	rcu_unregister_thread();
	return NULL;
}

static void *admitter(void *arg)
{
	(void)arg;
	rcu_register_thread();
	while (atomic_load(&n_completed) < TOTAL) {
		resmgr_admit(rm);
		resmgr_tick(rm);
		sched_yield();
	}
	rcu_unregister_thread();
	return NULL;
}

static void complete(const struct resmgr_placement_out *po)
{
	for (size_t i = 0; i < po->n_tasks; i++) {
		const char *id = po->task_ids[i];
		if (resmgr_notify(rm, id, TEV_LAUNCHED) != RM_OK) {
			fprintf(stderr, "%s in %s\n", id,
			        taskstate_name(resmgr_task_state(rm, id)));
			abort();
		}
		PEL_ASSERT(resmgr_notify(rm, id, TEV_RUNNING) == RM_OK);
		PEL_ASSERT(resmgr_notify(rm, id, TEV_SUCCEEDED) == RM_OK);
		PEL_ASSERT(atomic_fetch_add(&completed[task_no(id)], 1) == 0);
		atomic_fetch_add(&n_completed, 1);
	}
}

static void *consumer(void *arg)
{
	(void)arg;
	struct resmgr_gang_out g[10];
	struct resmgr_placement_out po[10];

	rcu_register_thread();
	while (atomic_load(&n_completed) < TOTAL) {
		size_t n = resmgr_dequeue_gangs(rm, RM_TYPE_UNKNOWN, 10, 2000000, g);
		for (size_t i = 0; i < n; i++) {
			for (size_t k = 0; k < g[i].n_tasks; k++)
				PEL_ASSERT(atomic_fetch_add(&dequeued[task_no(g[i].task_ids[k])],
				                            1) == 0); /* exactly once */
			struct resmgr_placement p = {.hostname = "host",
			                             .agent_id = "agent",
			                             .task_ids = g[i].task_ids,
			                             .n_tasks = g[i].n_tasks};
			enum resmgr_fail f;
			PEL_ASSERT(resmgr_set_placements(rm, &p, 1, &f) == 1);
			resmgr_gang_free(&g[i]);
		}
		size_t m = resmgr_get_placements(rm, 10, 0, po);
		for (size_t i = 0; i < m; i++) {
			complete(&po[i]);
			resmgr_placement_free(&po[i]);
		}
	}
	rcu_unregister_thread();
	return NULL;
}

int main(void)
{
	pthread_t p[2], c[2], a;
	struct respool_error e;
	struct respool_config cfg = {.name = "stress"};

	rcu_register_thread();
	pools = respool_tree_create();
	cfg.res[RES_CPU] = (struct respool_res){0, 1e9, 1};
	cfg.res[RES_MEMORY] = (struct respool_res){0, 1e12, 1};
	cfg.res_set[RES_CPU] = cfg.res_set[RES_MEMORY] = true;
	PEL_ASSERT(respool_create(pools, &cfg, leaf, sizeof(leaf), &e) == 0);
	struct resmgr_config rc = {.pools = pools, .queue_capacity = 256};
	rm = resmgr_create(&rc);
	double cap[RES_N] = {1e9, 1e12, 0, 0};
	respool_entitle(pools, cap);
	pthread_create(&a, NULL, admitter, NULL);
	for (int i = 0; i < 2; i++) {
		pthread_create(&c[i], NULL, consumer, NULL);
		pthread_create(&p[i], NULL, producer, (void *)(uintptr_t)(i * PER_PRODUCER));
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(p[i], NULL);
		pthread_join(c[i], NULL);
	}
	pthread_join(a, NULL);

	size_t counts[TASK_N_STATES];
	resmgr_count_states(rm, counts);
	PEL_ASSERT(counts[TASK_SUCCEEDED] == TOTAL);
	for (int s = 0; s < TASK_N_STATES; s++)
		PEL_ASSERT(s == TASK_SUCCEEDED || counts[s] == 0);
	for (int i = 0; i < TOTAL; i++)
		PEL_ASSERT(dequeued[i] == 1 && completed[i] == 1);
	struct respool_usage u;
	PEL_ASSERT(respool_usage(pools, leaf, &u) == 0);
	PEL_ASSERT(u.allocation[RES_CPU] < 1e-6 && u.allocation[RES_CPU] > -1e-6);
	PEL_ASSERT(u.demand[RES_CPU] < 1e-6 && u.demand[RES_CPU] > -1e-6);
	resmgr_destroy(rm);
	respool_tree_destroy(pools);
	rcu_unregister_thread();
	printf("resmgr stress ok: %d tasks\n", TOTAL);
	return 0;
}
