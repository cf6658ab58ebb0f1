/*
 * bench_admission: tasks admitted per second through the pool tree.
 *
 * Setup (not timed): 100 leaf pools under 3 levels (root -> 5 -> 4 -> 5),
 * every pool with a cpu/memory reservation, limit and share; `gangs` gangs
 * of `gang` tasks enqueued round-robin over the leaves with 3 priorities;
 * entitlement computed for a cluster that fits about 90% of the demand.
 * One op = one task admitted (PENDING -> READY, allocation charged up the
 * tree, gang pushed to its ready queue); the timed part is resmgr_admit()
 * until nothing more fits. No latency percentiles: a task is admitted
 * inside a pass, so there is no per-task time to sample (ns_per_task is
 * the pass's time over the tasks it admitted).
 *   fast:     src/svc/resmgr admission (incremental allocation, PriorityFIFO
 *             lists, gang checks against cached entitlement)
 *   baseline: a straightforward admission loop in this file: one mutex,
 *             pending gangs of a pool in one array sorted by priority at
 *             every pass (qsort), pool allocation recomputed by summing its
 *             admitted gangs at every check, a state byte per task, and a
 *             mutex-protected ready list. It keeps no allocation up the
 *             tree (the fast path charges every ancestor), so it does less
 *             work per task than the fast path.
 * Cases: gang in {1, 8} x gangs = 100000 / gang (100,000 tasks).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <urcu.h>

#include "bench_util.h"
#include "resmgr.h"

#define LEAVES 100
#define TASKS 100000

static char leaf_ids[LEAVES][40];

static struct respool_tree *build_tree(void)
{
	struct respool_tree *t = respool_tree_create();
	struct respool_error e;
	char l1[40], l2[40];
	int n = 0;

	for (int a = 0; a < 5; a++) {
		char name[32];
		struct respool_config c = {.name = name};
		c.res[RES_CPU] = (struct respool_res){100, 1e9, 1 + a};
		c.res[RES_MEMORY] = (struct respool_res){100000, 1e12, 1 + a};
		c.res_set[RES_CPU] = c.res_set[RES_MEMORY] = true;
		snprintf(name, sizeof(name), "l1-%d", a);
		respool_create(t, &c, l1, sizeof(l1), &e);
		for (int b = 0; b < 4; b++) {
			snprintf(name, sizeof(name), "l2-%d", b);
			c.parent_id = l1;
			c.res[RES_CPU].reservation = 20;
			c.res[RES_MEMORY].reservation = 20000;
			respool_create(t, &c, l2, sizeof(l2), &e);
			for (int d = 0; d < 5; d++, n++) {
				snprintf(name, sizeof(name), "leaf-%d", d);
				c.parent_id = l2;
				c.res[RES_CPU].reservation = 4;
				c.res[RES_MEMORY].reservation = 4000;
				respool_create(t, &c, leaf_ids[n], sizeof(leaf_ids[n]), &e);
			}
		}
	}
	return t;
}

/* --- baseline ------------------------------------------------------------ */

struct bgang {
	uint32_t priority, seq, n;
	double cpu, mem; /* per task */
	uint8_t *states; /* per task: 0 pending, 1 ready */
};

/* The baseline's ready queue: a mutex-protected array. */
static struct {
	pthread_mutex_t mu;
	struct bgang **items;
	size_t n;
} bready = {PTHREAD_MUTEX_INITIALIZER, NULL, 0};

struct bpool {
	struct bgang **pending;
	size_t n_pending;
	struct bgang **admitted;
	size_t n_admitted;
	double ent_cpu, ent_mem;
};

static int cmp_bgang(const void *a, const void *b)
{
	const struct bgang *x = *(struct bgang *const *)a, *y = *(struct bgang *const *)b;
	if (x->priority != y->priority)
		return x->priority > y->priority ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static size_t baseline_admit(struct bpool *pools, pthread_mutex_t *mu)
{
	size_t admitted = 0;
	pthread_mutex_lock(mu);
	for (int p = 0; p < LEAVES; p++) {
		struct bpool *bp = &pools[p];
		qsort(bp->pending, bp->n_pending, sizeof(*bp->pending), cmp_bgang);
		size_t i = 0;
		for (; i < bp->n_pending; i++) {
			struct bgang *g = bp->pending[i];
			double cpu = 0, mem = 0;
			for (size_t k = 0; k < bp->n_admitted; k++) {
				cpu += bp->admitted[k]->cpu * bp->admitted[k]->n;
				mem += bp->admitted[k]->mem * bp->admitted[k]->n;
			}
			if (cpu + g->cpu * g->n > bp->ent_cpu || mem + g->mem * g->n > bp->ent_mem)
				break;
			bp->admitted[bp->n_admitted++] = g;
			for (uint32_t k = 0; k < g->n; k++)
				g->states[k] = 1; /* PENDING -> READY, per task */
			pthread_mutex_lock(&bready.mu);
			bready.items[bready.n++] = g;
			pthread_mutex_unlock(&bready.mu);
			admitted += g->n;
		}
		memmove(bp->pending, bp->pending + i, (bp->n_pending - i) * sizeof(*bp->pending));
		bp->n_pending -= i;
	}
	pthread_mutex_unlock(mu);
	return admitted;
}

/* --- runs ------------------------------------------------------------------- */

static double task_cpu(int i)
{
	return 0.5 + (i % 4) * 0.5;
}

static struct bench_result run_fast(int gang, uint64_t *admitted_out)
{
	struct respool_tree *t = build_tree();
	struct resmgr_config rc = {.pools = t, .queue_capacity = 1u << 17};
	struct resmgr *rm = resmgr_create(&rc);
	struct resmgr_task_spec *specs = calloc((size_t)gang, sizeof(*specs));
	char(*ids)[24] = calloc((size_t)gang, 24);
	int n_gangs = TASKS / gang;
	double demand = 0;

	for (int g = 0; g < n_gangs; g++) {
		for (int k = 0; k < gang; k++) {
			int i = g * gang + k;
			snprintf(ids[k], 24, "t%d", i);
			specs[k] = (struct resmgr_task_spec){.id = ids[k],
			                                     .res = {task_cpu(g), 512, 0, 0},
			                                     .priority = (uint32_t)(g % 3),
			                                     .preemptible = true,
			                                     .type = RM_TYPE_BATCH};
			demand += task_cpu(g);
		}
		struct resmgr_gang_spec gs = {specs, (size_t)gang};
		resmgr_enqueue_gangs(rm, leaf_ids[g % LEAVES], &gs, 1, NULL);
	}
	double cap[RES_N] = {demand * 0.9, (double)TASKS * 512, 0, 0};
	respool_entitle(t, cap);
	uint64_t t0 = bench_now_ns();
	size_t admitted = resmgr_admit(rm);
	uint64_t dt = bench_now_ns() - t0;
	/* a task's admission happens inside a pass: no per-task latency to sample */
	struct bench_result r = {.ops_per_s = (double)admitted * 1e9 / (double)dt};
	*admitted_out = admitted;
	resmgr_destroy(rm);
	respool_tree_destroy(t);
	free(specs);
	free(ids);
	return r;
}

static struct bench_result run_baseline(int gang, uint64_t *admitted_out)
{
	struct bpool pools[LEAVES] = {{0}};
	int n_gangs = TASKS / gang;
	struct bgang *gs = calloc((size_t)n_gangs, sizeof(*gs));
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	double demand = 0;

	for (int p = 0; p < LEAVES; p++) {
		pools[p].pending = calloc((size_t)n_gangs / LEAVES + 1, sizeof(void *));
		pools[p].admitted = calloc((size_t)n_gangs / LEAVES + 1, sizeof(void *));
	}
	uint8_t *states = calloc(TASKS, 1);
	bready.items = calloc((size_t)n_gangs, sizeof(void *));
	bready.n = 0;
	for (int g = 0; g < n_gangs; g++) {
		gs[g] = (struct bgang){.priority = (uint32_t)(g % 3),
		                       .seq = (uint32_t)g,
		                       .n = (uint32_t)gang,
		                       .cpu = task_cpu(g),
		                       .mem = 512,
		                       .states = states + (size_t)g * gang};
		struct bpool *bp = &pools[g % LEAVES];
		bp->pending[bp->n_pending++] = &gs[g];
		demand += task_cpu(g) * gang;
	}
	/* the same entitlement as the fast path: the real tree's numbers */
	struct respool_tree *t = build_tree();
	for (int g = 0; g < n_gangs; g++) {
		double d[RES_N] = {task_cpu(g) * gang, 512.0 * gang, 0, 0};
		respool_add_demand(t, leaf_ids[g % LEAVES], d);
	}
	double cap[RES_N] = {demand * 0.9, (double)TASKS * 512, 0, 0};
	respool_entitle(t, cap);
	for (int p = 0; p < LEAVES; p++) {
		struct respool_usage u;
		respool_usage(t, leaf_ids[p], &u);
		pools[p].ent_cpu = u.entitlement[RES_CPU] + 1e-9;
		pools[p].ent_mem = u.entitlement[RES_MEMORY] + 1e-9;
	}
	respool_tree_destroy(t);
	uint64_t t0 = bench_now_ns();
	size_t admitted = baseline_admit(pools, &mu);
	uint64_t dt = bench_now_ns() - t0;
	/* a task's admission happens inside a pass: no per-task latency to sample */
	struct bench_result r = {.ops_per_s = (double)admitted * 1e9 / (double)dt};
	*admitted_out = admitted;
	for (int p = 0; p < LEAVES; p++) {
		free(pools[p].pending);
		free(pools[p].admitted);
	}
	free(gs);
	free(states);
	free(bready.items);
	return r;
}

int main(int argc, char **argv)
{
	static const char help[] =
	    "One op: one task admitted (PENDING -> READY within its pool's entitlement)\n"
	    "by one admission pass over 100 leaf pools (3 levels) holding 100,000 tasks.\n"
	    "No p50/p99: a task is admitted inside a pass; ns_per_task = pass time / tasks.\n"
	    "fast = src/svc/resmgr; baseline = naive loop (global mutex, qsort of the\n"
	    "pending list each pass, allocation recomputed per check).\n"
	    "Cases: gang {1, 8} tasks.";
	static const int gangs[] = {1, 8};
	struct bench_opts o;

	bench_parse(argc, argv, help, &o);
	rcu_register_thread();
	for (int gi = 0; gi < 2; gi++) {
		struct bench_result f[100], b[100];
		uint64_t fa = 0, ba = 0;
		char cname[64], extra[128];
		snprintf(cname, sizeof(cname), "gang=%d,pools=%d", gangs[gi], LEAVES);
		if (!bench_selected(&o, cname))
			continue;
		for (unsigned r = 0; r < o.reps; r++) {
			b[r] = run_baseline(gangs[gi], &ba);
			f[r] = run_fast(gangs[gi], &fa);
		}
		struct bench_result bm = bench_median(b, o.reps), fm = bench_median(f, o.reps);
		snprintf(extra, sizeof(extra),
		         "\"gang\":%d,\"pools\":%d,\"tasks_admitted\":%llu,\"ns_per_task\":%.0f",
		         gangs[gi], LEAVES, (unsigned long long)ba, 1e9 / bm.ops_per_s);
		bench_print("bench_admission", cname, "baseline", extra, &bm, -1);
		snprintf(extra, sizeof(extra),
		         "\"gang\":%d,\"pools\":%d,\"tasks_admitted\":%llu,\"ns_per_task\":%.0f",
		         gangs[gi], LEAVES, (unsigned long long)fa, 1e9 / fm.ops_per_s);
		bench_print("bench_admission", cname, "fast", extra, &fm,
		            fm.ops_per_s / bm.ops_per_s);
	}
	rcu_unregister_thread();
	return 0;
}
