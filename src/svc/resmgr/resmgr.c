/* Resource manager core; see resmgr.h. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define _LGPL_SOURCE
#include <urcu.h>
#include <urcu/rculfhash.h>

#include "clock.h"
#include "gangq.h"
#include "hostmatch.h"
#include "log.h"
#include "pel_assert.h"
#include "hist.h"
#include "resmgr.h"

#define DEFAULT_PLACING_NS (10ull * 60 * 1000000000ull)
#define DEFAULT_LAUNCHING_NS (20ull * 60 * 1000000000ull)

/*
 * Lock order: rm->lk, then the respool tree's lock. The task table is read
 * lock-free (RCU); inserts happen under rm->lk. Task state words change
 * only through taskstate_cas. gang and placement objects, their reference
 * counts and the tasks' pointers to them are guarded by rm->lk.
 */

struct rm_gang;
struct rm_placement;
struct rm_pool;

struct rm_task {
	struct cds_lfht_node node;
	_Atomic uint32_t state;
	_Atomic uint64_t since_ns;      /* when the current state was entered */
	uint64_t ready_ns, placed_ns;   /* entered READY, PLACED (latency histograms) */
	uint64_t started_ns;            /* RUNNING since (preemption order) */
	struct rm_pool *pool;           /* leaf pool */
	struct rm_gang *gang;           /* while PENDING..PLACING (ref held) */
	struct rm_placement *placement; /* while PLACED..LAUNCHING (ref held) */
	double res[RES_N];
	uint32_t priority, num_ports;
	bool preemptible, charged; /* charged: counted in its pool's allocation */
	bool controller;           /* counted in its pool's controller allocation too */
	int tlist;                 /* timer list it is on: TL_NONE / TL_PLACING / TL_LAUNCHING */
	struct rm_task *tprev, *tnext;
	enum resmgr_task_type type;
	char *job_id;
	char *hostname; /* of its last placement */
	void *payload;
	size_t payload_len;
	char id[];
};

struct rm_gang {
	struct rm_gang *next; /* pending FIFO */
	struct rm_pool *pool;
	struct rm_task **tasks;
	size_t n_tasks;
	uint32_t priority;
	enum resmgr_task_type type;
	int refs; /* tasks pointing at it + 1 per queue it sits in */
};

struct rm_placement {
	struct rm_placement *next; /* overflow list */
	char *hostname, *agent_id;
	uint32_t *ports;
	size_t n_ports;
	char **offer_ids;
	size_t n_offer_ids;
	struct rm_task **tasks;
	size_t n_tasks;
	int refs;
};

/* Pending gangs of one priority, FIFO. */
struct prio_list {
	uint32_t priority;
	struct rm_gang *head, *tail;
};

/*
 * A pool's waiting gangs of one kind, sorted by priority (highest first),
 * FIFO within a priority. A pool keeps one per kind and admits from each
 * on its own (upstream's separate queues): a gang that does not fit keeps
 * the later gangs of its kind waiting, never those of another kind.
 */
struct pending_q {
	struct prio_list *prios;
	size_t n_prios, cap_prios;
};

/* The kinds, in the order they are admitted. */
enum { PQ_NON_PREEMPTIBLE, PQ_CONTROLLER, PQ_REST, PQ_N };

struct rm_pool {
	char id[40];
	struct pending_q q[PQ_N];
	double alloc[RES_N], alloc_np[RES_N]; /* all / non-preemptible */
	double alloc_ctrl[RES_N];             /* controller tasks' */
	uint32_t over_periods;
	size_t at;          /* its index in rm->pools (fixed: pools are never removed) */
	uint64_t preempted; /* tasks chosen for preemption (metrics) */
};

/*
 * The timer: one list per timed state, in order of entry into that state.
 * Every entry happens under rm->lk with a non-decreasing clock, so each
 * list is sorted by since_ns and a tick pops expired tasks from the head:
 * O(expired) per tick, no scan, no thread per task.
 */
enum { TL_NONE = 0, TL_PLACING = 1, TL_LAUNCHING = 2, TL_N = 3 };

struct timer_list {
	struct rm_task *head, *tail;
};

struct resmgr {
	struct resmgr_config cfg;
	struct hist schedule, launch; /* READY -> PLACED, PLACED -> RUNNING */
	struct timer_list timers[TL_N];
	pthread_mutex_t lk;
	struct cds_lfht *tasks;
	struct gangq *ready[RM_N_TYPES];
	struct gangq *placements;
	struct rm_gang *overflow[RM_N_TYPES];       /* admitted gangs a full ready queue refused */
	struct rm_gang **overflow_tail[RM_N_TYPES]; /* where the next one goes (NULL: head) */
	struct rm_placement *pl_overflow;           /* placements a full queue refused */
	struct rm_placement **pl_overflow_tail;
	struct rm_pool **pools;
	size_t n_pools, cap_pools;
	char **preemptible;
	size_t n_preemptible, cap_preemptible;
	_Atomic uint64_t type_rr; /* round-robin start for DequeueGangs(UNKNOWN) */
	uint64_t ticks;           /* under lk: resmgr_tick calls (debug checks) */
	/* the driver */
	struct resmgr_driver_config drv;
	pthread_t drv_thread;
	bool drv_running;
	pthread_mutex_t drv_mu;
	pthread_cond_t drv_cv;
	bool drv_stop;
};

static uint64_t mono_ns(void *arg)
{
	struct timespec ts;
	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t now(struct resmgr *rm)
{
	return rm->cfg.now(rm->cfg.now_arg);
}

struct resmgr *resmgr_create(const struct resmgr_config *cfg)
{
	struct resmgr *rm = calloc(1, sizeof(*rm));

	if (rm == NULL || cfg == NULL || cfg->pools == NULL) {
		free(rm);
		errno = EINVAL;
		return NULL;
	}
	rm->cfg = *cfg;
	if (!rm->cfg.placing_timeout_ns)
		rm->cfg.placing_timeout_ns = DEFAULT_PLACING_NS;
	if (!rm->cfg.launching_timeout_ns)
		rm->cfg.launching_timeout_ns = DEFAULT_LAUNCHING_NS;
	if (!rm->cfg.preempt_periods)
		rm->cfg.preempt_periods = 5;
	if (!rm->cfg.queue_capacity)
		rm->cfg.queue_capacity = 65536;
	if (!rm->cfg.now)
		rm->cfg.now = mono_ns;
	pthread_mutex_init(&rm->lk, NULL);
	pthread_mutex_init(&rm->drv_mu, NULL);
	clock_cond_init(&rm->drv_cv);
	/* start big: auto-resize runs in call_rcu threads and lags a burst of
	 * enqueues, leaving long chains meanwhile */
	rm->tasks =
	    cds_lfht_new(1u << 16, 1u << 16, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
	bool ok = rm->tasks != NULL;
	for (int t = 0; t < RM_N_TYPES && ok; t++)
		ok = (rm->ready[t] = gangq_create(rm->cfg.queue_capacity)) != NULL;
	ok = ok && (rm->placements = gangq_create(rm->cfg.queue_capacity)) != NULL;
	if (!ok) {
		resmgr_destroy(rm);
		errno = ENOMEM;
		return NULL;
	}
	return rm;
}

/* --- objects (under rm->lk) -------------------------------------------------- */

static void timer_del(struct resmgr *rm, struct rm_task *t)
{
	struct timer_list *l = &rm->timers[t->tlist];
	if (t->tlist == TL_NONE)
		return;
	if (t->tprev)
		t->tprev->tnext = t->tnext;
	else
		l->head = t->tnext;
	if (t->tnext)
		t->tnext->tprev = t->tprev;
	else
		l->tail = t->tprev;
	t->tprev = t->tnext = NULL;
	t->tlist = TL_NONE;
}

/* Puts t on the timer list of the state it is in now (appended: newest). */
static void timer_sync(struct resmgr *rm, struct rm_task *t)
{
	uint32_t st = atomic_load(&t->state);
	int want = st == TASK_PLACING ? TL_PLACING : st == TASK_LAUNCHING ? TL_LAUNCHING : TL_NONE;
	if (want == t->tlist)
		return;
	timer_del(rm, t);
	if (want == TL_NONE)
		return;
	struct timer_list *l = &rm->timers[want];
	t->tlist = want;
	t->tprev = l->tail;
	t->tnext = NULL;
	if (l->tail)
		l->tail->tnext = t;
	else
		l->head = t;
	l->tail = t;
}

static void gang_unref(struct rm_gang *g)
{
	if (g != NULL && --g->refs == 0) {
		free(g->tasks);
		free(g);
	}
}

static void placement_unref(struct rm_placement *p)
{
	if (p != NULL && --p->refs == 0) {
		free(p->hostname);
		free(p->agent_id);
		free(p->ports);
		free(p->tasks);
		for (size_t i = 0; i < p->n_offer_ids; i++)
			free(p->offer_ids[i]);
		free(p->offer_ids);
		free(p);
	}
}

/* Drops the task's gang / placement reference. */
static void task_detach(struct rm_task *t)
{
	gang_unref(t->gang);
	t->gang = NULL;
	placement_unref(t->placement);
	t->placement = NULL;
}

struct respool_tree *resmgr_pools(struct resmgr *rm)
{
	return rm->cfg.pools;
}

void resmgr_destroy(struct resmgr *rm)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *n;
	void *q[64];
	size_t k;

	if (rm == NULL)
		return;
	resmgr_stop(rm);
	/* queued objects hold references: drop them */
	for (int t = 0; t < RM_N_TYPES; t++)
		while (rm->ready[t] && (k = gangq_dequeue_mpmc(rm->ready[t], q, 64, 0)) > 0)
			for (size_t i = 0; i < k; i++)
				gang_unref(q[i]);
	for (int t = 0; t < RM_N_TYPES; t++)
		for (struct rm_gang *g = rm->overflow[t], *next; g != NULL; g = next) {
			next = g->next;
			gang_unref(g);
		}
	for (struct rm_placement *p = rm->pl_overflow, *next; p != NULL; p = next) {
		next = p->next;
		placement_unref(p);
	}
	while (rm->placements && (k = gangq_dequeue_mpmc(rm->placements, q, 64, 0)) > 0)
		for (size_t i = 0; i < k; i++)
			placement_unref(q[i]);
	for (size_t p = 0; p < rm->n_pools; p++) {
		struct rm_pool *pool = rm->pools[p];
		for (int kind = 0; kind < PQ_N; kind++) {
			struct pending_q *pq = &pool->q[kind];
			for (size_t i = 0; i < pq->n_prios; i++)
				for (struct rm_gang *g = pq->prios[i].head, *next; g; g = next) {
					next = g->next;
					gang_unref(g);
				}
			free(pq->prios);
		}
		free(pool);
	}
	free(rm->pools);
	if (rm->tasks != NULL) {
		struct rm_task *dead = NULL;
		rcu_read_lock();
		cds_lfht_for_each(rm->tasks, &it, n)
		{
			struct rm_task *t = caa_container_of(n, struct rm_task, node);
			cds_lfht_del(rm->tasks, n);
			task_detach(t);
			t->pool = (struct rm_pool *)dead; /* reuse as a free list */
			dead = t;
		}
		rcu_read_unlock();
		cds_lfht_destroy(rm->tasks, NULL);
		while (dead != NULL) {
			struct rm_task *next = (struct rm_task *)dead->pool;
			free(dead->job_id);
			free(dead->hostname);
			free(dead->payload);
			free(dead);
			dead = next;
		}
	}
	for (int t = 0; t < RM_N_TYPES; t++)
		gangq_destroy(rm->ready[t]);
	gangq_destroy(rm->placements);
	for (size_t i = 0; i < rm->n_preemptible; i++)
		free(rm->preemptible[i]);
	free(rm->preemptible);
	pthread_mutex_destroy(&rm->lk);
	pthread_mutex_destroy(&rm->drv_mu);
	pthread_cond_destroy(&rm->drv_cv);
	free(rm);
}

static int match_id(struct cds_lfht_node *node, const void *key)
{
	return strcmp(caa_container_of(node, struct rm_task, node)->id, key) == 0;
}

/* Inside rcu_read_lock. */
static struct rm_task *task_find(struct resmgr *rm, const char *id)
{
	struct cds_lfht_iter it;
	cds_lfht_lookup(rm->tasks, hostmatch_label_hash(id), match_id, id, &it);
	struct cds_lfht_node *n = cds_lfht_iter_get_node(&it);
	return n ? caa_container_of(n, struct rm_task, node) : NULL;
}

static struct rm_pool *pool_get(struct resmgr *rm, const char *id)
{
	for (size_t i = 0; i < rm->n_pools; i++)
		if (strcmp(rm->pools[i]->id, id) == 0)
			return rm->pools[i];
	struct rm_pool *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	snprintf(p->id, sizeof(p->id), "%s", id);
	if (rm->n_pools == rm->cap_pools) {
		size_t nc = rm->cap_pools ? rm->cap_pools * 2 : 16;
		struct rm_pool **a = realloc(rm->pools, nc * sizeof(*a));
		if (a == NULL) {
			free(p);
			return NULL;
		}
		rm->pools = a;
		rm->cap_pools = nc;
	}
	p->at = rm->n_pools;
	rm->pools[rm->n_pools++] = p;
	return p;
}

/* Appends g to its pool's pending queue (PriorityFIFO). */
static bool pending_push(struct rm_pool *pool, struct rm_gang *g)
{
	const struct rm_task *t0 = g->tasks[0];
	struct pending_q *p = &pool->q[t0->controller     ? PQ_CONTROLLER
	                               : !t0->preemptible ? PQ_NON_PREEMPTIBLE
	                                                  : PQ_REST];
	size_t i = 0;
	while (i < p->n_prios && p->prios[i].priority > g->priority)
		i++;
	if (i == p->n_prios || p->prios[i].priority != g->priority) {
		if (p->n_prios == p->cap_prios) {
			size_t nc = p->cap_prios ? p->cap_prios * 2 : 4;
			struct prio_list *a = realloc(p->prios, nc * sizeof(*a));
			if (a == NULL)
				return false;
			p->prios = a;
			p->cap_prios = nc;
		}
		memmove(&p->prios[i + 1], &p->prios[i], (p->n_prios - i) * sizeof(p->prios[0]));
		p->prios[i] = (struct prio_list){.priority = g->priority};
		p->n_prios++;
	}
	struct prio_list *l = &p->prios[i];
	g->next = NULL;
	if (l->tail)
		l->tail->next = g;
	else
		l->head = g;
	l->tail = g;
	return true;
}

/* --- enqueue ------------------------------------------------------------------ */

static enum resmgr_fail spec_valid(const struct resmgr_task_spec *s)
{
	if (s->id == NULL || s->id[0] == '\0' || (unsigned)s->type >= RM_N_TYPES)
		return RM_INVALID_TASK;
	for (int k = 0; k < RES_N; k++)
		if (!isfinite(s->res[k]) || s->res[k] < 0)
			return RM_INVALID_TASK;
	return RM_OK;
}

static void charge(struct resmgr *rm, struct rm_task *t, double sign);

/* Finds or creates the record for s; the task is INITIALIZED or terminal. */
static enum resmgr_fail task_prepare(struct resmgr *rm, const struct resmgr_task_spec *s,
                                     struct rm_task **out)
{
	struct rm_task *t = task_find(rm, s->id);

	if (t != NULL) {
		enum taskstate st = atomic_load(&t->state);
		if (!taskstate_terminal(st))
			return RM_ALREADY_EXISTS;
	} else {
		size_t len = strlen(s->id) + 1;
		t = calloc(1, sizeof(*t) + len);
		if (t == NULL)
			return RM_NO_MEMORY;
		memcpy(t->id, s->id, len);
		atomic_init(&t->state, TASK_INITIALIZED);
		cds_lfht_node_init(&t->node);
		cds_lfht_add(rm->tasks, hostmatch_label_hash(t->id), &t->node);
	}
	free(t->job_id);
	t->job_id = s->job_id ? strdup(s->job_id) : NULL;
	/* a stateful task's held charge follows what its new run asks */
	bool recharge =
	    t->charged && (memcmp(t->res, s->res, sizeof(t->res)) != 0 ||
	                   t->preemptible != s->preemptible || t->controller != s->controller);
	if (recharge)
		charge(rm, t, -1);
	free(t->payload);
	t->payload = NULL;
	t->payload_len = 0;
	if (s->payload != NULL && s->payload_len > 0 &&
	    (t->payload = malloc(s->payload_len)) != NULL) {
		memcpy(t->payload, s->payload, s->payload_len);
		t->payload_len = s->payload_len;
	}
	memcpy(t->res, s->res, sizeof(t->res));
	t->priority = s->priority;
	t->preemptible = s->preemptible;
	t->controller = s->controller;
	t->type = s->type;
	t->num_ports = s->num_ports;
	if (recharge)
		charge(rm, t, 1);
	*out = t;
	return RM_OK;
}

static size_t launching_timeout(struct resmgr *rm, struct rm_task *t);

/* Enqueues one gang; adds its demand and tasks to *demand and *n_tasks. */
static enum resmgr_fail enqueue_one(struct resmgr *rm, struct rm_pool *pool,
                                    const struct resmgr_gang_spec *gs, double demand[RES_N],
                                    int64_t *n_tasks)
{
	struct rm_gang *g;
	enum resmgr_fail f = RM_OK;

	if (gs->n_tasks == 0 || gs->tasks == NULL)
		return RM_INVALID_TASK;
	for (size_t i = 0; i < gs->n_tasks && f == RM_OK; i++) {
		f = spec_valid(&gs->tasks[i]);
		struct rm_task *t = f == RM_OK ? task_find(rm, gs->tasks[i].id) : NULL;
		if (t != NULL && !taskstate_terminal(atomic_load(&t->state))) {
			f = RM_ALREADY_EXISTS;
			/* a job manager enqueueing a task it is launching holds no launch
			 * for it: it restarted before its launch intent was durable, and
			 * the placement it took went with it. The placement goes back to
			 * the queue for a launcher now, not after the launching timeout
			 * (20 minutes: the task would wait that long) */
			if (atomic_load(&t->state) == TASK_LAUNCHING)
				launching_timeout(rm, t);
		}
		for (size_t k = 0; k < i && f == RM_OK; k++) /* duplicates inside the gang */
			if (strcmp(gs->tasks[k].id, gs->tasks[i].id) == 0)
				f = RM_ALREADY_EXISTS;
	}
	if (f != RM_OK)
		return f;
	g = calloc(1, sizeof(*g));
	if (g == NULL || (g->tasks = calloc(gs->n_tasks, sizeof(*g->tasks))) == NULL) {
		free(g);
		return RM_NO_MEMORY;
	}
	g->pool = pool;
	g->n_tasks = gs->n_tasks;
	g->type = gs->tasks[0].type;
	g->priority = gs->tasks[0].priority;
	double d[RES_N] = {0};
	for (size_t i = 0; i < gs->n_tasks; i++) {
		if ((f = task_prepare(rm, &gs->tasks[i], &g->tasks[i])) != RM_OK)
			break; /* ENOMEM only: validated above */
		struct rm_task *t = g->tasks[i];
		t->pool = pool;
		t->gang = g;
		g->refs++;
		atomic_store(&t->since_ns, now(rm));
		taskstate_cas(&t->state, TEV_ENQUEUE, NULL);
		for (int k = 0; k < RES_N; k++)
			d[k] += t->res[k];
	}
	if (f != RM_OK || !pending_push(pool, g)) {
		for (size_t i = 0; i < gs->n_tasks && g->tasks[i]; i++) {
			atomic_store(&g->tasks[i]->state, TASK_KILLED);
			task_detach(g->tasks[i]);
		}
		return RM_NO_MEMORY;
	}
	g->refs++; /* the pending queue's */
	for (int k = 0; k < RES_N; k++)
		demand[k] += d[k];
	*n_tasks += (int64_t)gs->n_tasks;
	return RM_OK;
}

size_t resmgr_enqueue_gangs(struct resmgr *rm, const char *pool_id,
                            const struct resmgr_gang_spec *gangs, size_t n, enum resmgr_fail *fail)
{
	size_t ok = 0;
	char path[8];
	enum resmgr_fail pool_fail = RM_OK;
	double demand[RES_N] = {0};
	int64_t n_tasks = 0;

	if (pool_id == NULL || respool_path(rm->cfg.pools, pool_id, path, sizeof(path)) != 0)
		pool_fail = RM_POOL_NOT_FOUND;
	else if (!respool_is_leaf(rm->cfg.pools, pool_id) || strcmp(pool_id, "root") == 0)
		pool_fail = RM_POOL_NOT_LEAF;
	pthread_mutex_lock(&rm->lk);
	rcu_read_lock();
	struct rm_pool *pool = pool_fail == RM_OK ? pool_get(rm, pool_id) : NULL;
	if (pool_fail == RM_OK && pool == NULL)
		pool_fail = RM_NO_MEMORY;
	for (size_t i = 0; i < n; i++) {
		enum resmgr_fail f =
		    pool_fail ? pool_fail : enqueue_one(rm, pool, &gangs[i], demand, &n_tasks);
		if (fail != NULL)
			fail[i] = f;
		ok += f == RM_OK;
	}
	if (n_tasks > 0) { /* once per call, not per gang */
		respool_add_demand(rm->cfg.pools, pool_id, demand);
		respool_set_active_tasks(rm->cfg.pools, pool_id, n_tasks);
	}
	rcu_read_unlock();
	pthread_mutex_unlock(&rm->lk);
	return ok;
}

/* --- admission ---------------------------------------------------------------- */

/* Is g's i-th task still g's own and in state st? (A task killed and
 * enqueued again belongs to its new gang.) */
static bool in_gang(const struct rm_gang *g, size_t i, enum taskstate st)
{
	return g->tasks[i]->gang == g && atomic_load(&g->tasks[i]->state) == (uint32_t)st;
}

/* Does g fit pool p's entitlement (and reservation for non-preemptible)? */
static bool gang_fits(const struct rm_pool *p, const struct rm_gang *g,
                      const struct respool_usage *u)
{
	double need[RES_N] = {0}, need_np[RES_N] = {0}, need_ctrl[RES_N] = {0};

	for (size_t i = 0; i < g->n_tasks; i++)
		for (int k = 0; k < RES_N && in_gang(g, i, TASK_PENDING) && !g->tasks[i]->charged;
		     k++) { /* (a stateful task's reservation is charged already) */
			need[k] += g->tasks[i]->res[k];
			if (!g->tasks[i]->preemptible)
				need_np[k] += g->tasks[i]->res[k];
			if (g->tasks[i]->controller)
				need_ctrl[k] += g->tasks[i]->res[k];
		}
	for (int k = 0; k < RES_N; k++) {
		if (p->alloc[k] + need[k] > u->entitlement[k] + 1e-9)
			return false;
		if (need_np[k] > 0 && p->alloc_np[k] + need_np[k] > u->res[k].reservation + 1e-9)
			return false;
		/* controller tasks within maxPercent of the reservation (ControllerLimit) */
		if (need_ctrl[k] > 0 && u->controller_pct > 0 &&
		    p->alloc_ctrl[k] + need_ctrl[k] >
		        u->res[k].reservation * u->controller_pct / 100 + 1e-9)
			return false;
	}
	return true;
}

/* Counts t in (sign > 0) or out of its pool's allocation; the tree's copy
 * of the numbers is updated by the caller with the summed delta d[]. */
static void charge_local(struct rm_task *t, double sign, double d[RES_N])
{
	for (int k = 0; k < RES_N; k++) {
		double v = sign * t->res[k];
		d[k] += v;
		t->pool->alloc[k] += v;
		if (!t->preemptible)
			t->pool->alloc_np[k] += v;
		if (t->controller)
			t->pool->alloc_ctrl[k] += v;
	}
	t->charged = sign > 0;
}

static void charge(struct resmgr *rm, struct rm_task *t, double sign)
{
	double d[RES_N] = {0};
	charge_local(t, sign, d);
	respool_add_allocation(rm->cfg.pools, t->pool->id, d);
}

/*
 * Puts an admitted gang (with its queue reference) into its ready queue, or
 * when that is full into the type's overflow list, flushed by the next
 * admission or tick (a full ready queue means the placement engine is
 * behind; nothing is lost or reordered within a type).
 */
static void ready_push(struct resmgr *rm, struct rm_gang *g)
{
	int t = g->type;
	if (rm->overflow[t] == NULL && gangq_enqueue_mpmc(rm->ready[t], g))
		return;
	/* appended in O(1): a 100,000-gang job overflows by tens of thousands */
	struct rm_gang **tail = rm->overflow[t] ? rm->overflow_tail[t] : &rm->overflow[t];
	g->next = NULL;
	*tail = g;
	rm->overflow_tail[t] = &g->next;
}

/* Same for placements (with the queue's reference). */
static void placement_push(struct resmgr *rm, struct rm_placement *p)
{
	if (rm->pl_overflow == NULL && gangq_enqueue_mpmc(rm->placements, p))
		return;
	struct rm_placement **tail = rm->pl_overflow ? rm->pl_overflow_tail : &rm->pl_overflow;
	p->next = NULL;
	*tail = p;
	rm->pl_overflow_tail = &p->next;
}

static void overflow_flush(struct resmgr *rm)
{
	/* next is read before the enqueue: once queued, a gang is its consumer's */
	for (int t = 0; t < RM_N_TYPES; t++) {
		struct rm_gang *g;
		while ((g = rm->overflow[t]) != NULL) {
			struct rm_gang *next = g->next;
			if (!gangq_enqueue_mpmc(rm->ready[t], g))
				break;
			rm->overflow[t] = next;
		}
	}
	struct rm_placement *p;
	while ((p = rm->pl_overflow) != NULL) {
		struct rm_placement *next = p->next;
		if (!gangq_enqueue_mpmc(rm->placements, p))
			break;
		rm->pl_overflow = next;
	}
}

/* Admits pool p's head gangs while they fit; returns tasks admitted. */
/* Admits from one of p's queues while its head fits (PriorityFIFO within the kind). */
static size_t admit_queue(struct resmgr *rm, struct rm_pool *pool, struct pending_q *p,
                          const struct respool_usage *u, double delta[RES_N], uint64_t t_now)
{
	size_t admitted = 0;
	while (p->n_prios > 0) {
		struct prio_list *l = &p->prios[0];
		struct rm_gang *g = l->head;
		/* drop tasks killed while pending; a gang left empty goes */
		size_t live = 0;
		for (size_t i = 0; i < g->n_tasks; i++)
			live += in_gang(g, i, TASK_PENDING);
		if (live > 0 && !gang_fits(pool, g, u))
			break; /* PriorityFIFO: no overtaking inside the kind */
		l->head = g->next;
		if (l->head == NULL) {
			memmove(&p->prios[0], &p->prios[1], (p->n_prios - 1) * sizeof(p->prios[0]));
			p->n_prios--;
		}
		if (live == 0) {
			gang_unref(g);
			continue;
		}
		for (size_t i = 0; i < g->n_tasks; i++) {
			struct rm_task *t = g->tasks[i];
			if (t->gang != g)
				continue; /* killed and enqueued again in another gang */
			atomic_store(&t->since_ns, t_now);
			t->ready_ns = t_now;
			if (taskstate_cas(&t->state, TEV_ADMIT, NULL) == TASK_READY) {
				if (!t->charged) /* else: a stateful task's held reservation */
					charge_local(t, 1, delta);
				admitted++;
			}
		}
		/* the pending queue's reference moves to the ready queue */
		ready_push(rm, g);
	}
	return admitted;
}

static size_t admit_pool(struct resmgr *rm, struct rm_pool *p)
{
	struct respool_usage u;
	size_t admitted = 0;
	double delta[RES_N] = {0}; /* allocation added, reported to the tree once */
	uint64_t t_now = now(rm);

	if (respool_usage(rm->cfg.pools, p->id, &u) != 0)
		return 0; /* pool deleted under us: its tasks stay pending */
	for (int q = 0; q < PQ_N; q++)
		admitted += admit_queue(rm, p, &p->q[q], &u, delta, t_now);
	if (admitted > 0)
		respool_add_allocation(rm->cfg.pools, p->id, delta);
	return admitted;
}

size_t resmgr_admit(struct resmgr *rm)
{
	size_t n = 0;
	pthread_mutex_lock(&rm->lk);
	overflow_flush(rm);
	for (size_t i = 0; i < rm->n_pools; i++)
		n += admit_pool(rm, rm->pools[i]);
	pthread_mutex_unlock(&rm->lk);
	return n;
}

size_t resmgr_entitle(struct resmgr *rm, const double capacity[RES_N])
{
	respool_entitle(rm->cfg.pools, capacity);
	return resmgr_admit(rm);
}

/* --- placement engine side ---------------------------------------------------- */

/* Pops up to limit gangs from ready queue `type` (no wait). */
static size_t pop_ready(struct resmgr *rm, int type, size_t limit, void **q, uint64_t wait_ns)
{
	return gangq_dequeue_mpmc(rm->ready[type], q, limit, wait_ns);
}

size_t resmgr_dequeue_gangs(struct resmgr *rm, enum resmgr_task_type type, size_t limit,
                            uint64_t timeout_ns, struct resmgr_gang_out *out)
{
	void *q[256];
	size_t got = 0, n = 0;

	if (limit > 256)
		limit = 256;
	if ((unsigned)type >= RM_N_TYPES || limit == 0)
		return 0;
	if (type != RM_TYPE_UNKNOWN) {
		got = pop_ready(rm, type, limit, q, timeout_ns);
	} else {
		/* any type: round-robin over the queues, then wait on BATCH's */
		unsigned start = (unsigned)atomic_fetch_add(&rm->type_rr, 1);
		for (int i = 0; i < RM_N_TYPES && got < limit; i++)
			got += pop_ready(rm, (int)((start + (unsigned)i) % RM_N_TYPES), limit - got,
			                 q + got, 0);
		if (got == 0)
			got = pop_ready(rm, RM_TYPE_BATCH, limit, q, timeout_ns);
	}
	if (got == 0)
		return 0;
	pthread_mutex_lock(&rm->lk);
	uint64_t t_now = now(rm); /* under the lock: timer lists stay sorted */
	for (size_t i = 0; i < got; i++) {
		struct rm_gang *g = q[i];
		struct resmgr_gang_out *o = &out[n];
		o->task_ids = calloc(g->n_tasks, sizeof(char *));
		o->payloads = calloc(g->n_tasks, sizeof(void *));
		o->payload_lens = calloc(g->n_tasks, sizeof(size_t));
		o->n_tasks = 0;
		o->type = g->type;
		for (size_t k = 0; o->task_ids && o->payloads && o->payload_lens && k < g->n_tasks;
		     k++) {
			struct rm_task *t = g->tasks[k];
			if (t->gang != g)
				continue;
			atomic_store(&t->since_ns, t_now);
			if (taskstate_cas(&t->state, TEV_DEQUEUE, NULL) == TASK_PLACING) {
				if (t->payload_len > 0 &&
				    (o->payloads[o->n_tasks] = malloc(t->payload_len)) != NULL) {
					memcpy(o->payloads[o->n_tasks], t->payload, t->payload_len);
					o->payload_lens[o->n_tasks] = t->payload_len;
				}
				o->task_ids[o->n_tasks++] = t->id;
				timer_sync(rm, t);
			}
		}
		gang_unref(g);         /* the queue's reference; tasks keep theirs */
		if (o->n_tasks == 0) { /* every task killed meanwhile: dropped */
			free(o->task_ids);
			free(o->payloads);
			free(o->payload_lens);
			continue;
		}
		n++;
	}
	pthread_mutex_unlock(&rm->lk);
	return n;
}

static struct rm_placement *placement_new(const struct resmgr_placement *in)
{
	struct rm_placement *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->hostname = strdup(in->hostname ? in->hostname : "");
	p->agent_id = strdup(in->agent_id ? in->agent_id : "");
	p->tasks = calloc(in->n_tasks ? in->n_tasks : 1, sizeof(*p->tasks));
	p->ports = calloc(in->n_ports ? in->n_ports : 1, sizeof(*p->ports));
	if (p->hostname == NULL || p->agent_id == NULL || p->tasks == NULL || p->ports == NULL) {
		p->refs = 1;
		placement_unref(p);
		return NULL;
	}
	if (in->n_ports)
		memcpy(p->ports, in->ports, in->n_ports * sizeof(*p->ports));
	p->n_ports = in->n_ports;
	if (in->n_offer_ids > 0) {
		p->offer_ids = calloc(in->n_offer_ids, sizeof(char *));
		for (size_t i = 0; p->offer_ids && i < in->n_offer_ids; i++)
			if ((p->offer_ids[i] = strdup(in->offer_ids[i])) != NULL)
				p->n_offer_ids++;
		if (p->n_offer_ids != in->n_offer_ids) {
			p->refs = 1;
			placement_unref(p);
			return NULL;
		}
	}
	return p;
}

static enum resmgr_fail set_one(struct resmgr *rm, const struct resmgr_placement *in)
{
	if (in->n_tasks == 0 || in->task_ids == NULL || in->hostname == NULL)
		return RM_INVALID_TASK;
	for (size_t i = 0; i < in->n_tasks; i++) {
		struct rm_task *t = task_find(rm, in->task_ids[i]);
		if (t == NULL)
			return RM_NOT_FOUND;
		if (atomic_load(&t->state) != TASK_PLACING)
			return RM_INVALID_STATE;
	}
	struct rm_placement *p = placement_new(in);
	if (p == NULL)
		return RM_NO_MEMORY;
	uint64_t t_now = now(rm);
	for (size_t i = 0; i < in->n_tasks; i++) {
		struct rm_task *t = task_find(rm, in->task_ids[i]);
		atomic_store(&t->since_ns, t_now);
		if (taskstate_cas(&t->state, TEV_PLACE, NULL) != TASK_PLACED)
			continue; /* killed between the check and now */
		if (t->ready_ns && t_now >= t->ready_ns)
			hist_add_ns(&rm->schedule, t_now - t->ready_ns);
		t->placed_ns = t_now;
		timer_sync(rm, t); /* off the PLACING timer */
		task_detach(t);    /* leaves its gang */
		free(t->hostname);
		t->hostname = strdup(p->hostname);
		t->placement = p;
		p->refs++;
		p->tasks[p->n_tasks++] = t;
	}
	if (p->n_tasks == 0) {
		p->refs = 1;
		placement_unref(p);
		return RM_INVALID_STATE;
	}
	p->refs++; /* the queue's */
	placement_push(rm, p);
	return RM_OK;
}

size_t resmgr_set_placements(struct resmgr *rm, const struct resmgr_placement *p, size_t n,
                             enum resmgr_fail *fail)
{
	size_t ok = 0;
	pthread_mutex_lock(&rm->lk);
	rcu_read_lock();
	for (size_t i = 0; i < n; i++) {
		enum resmgr_fail f = set_one(rm, &p[i]);
		if (fail != NULL)
			fail[i] = f;
		ok += f == RM_OK;
	}
	rcu_read_unlock();
	pthread_mutex_unlock(&rm->lk);
	return ok;
}

size_t resmgr_get_placements(struct resmgr *rm, size_t limit, uint64_t timeout_ns,
                             struct resmgr_placement_out *out)
{
	void *q[256];
	size_t n = 0;

	if (limit > 256)
		limit = 256;
	size_t got = gangq_dequeue_mpmc(rm->placements, q, limit, timeout_ns);
	if (got == 0)
		return 0;
	pthread_mutex_lock(&rm->lk);
	uint64_t t_now = now(rm); /* under the lock: timer lists stay sorted */
	for (size_t i = 0; i < got; i++) {
		struct rm_placement *p = q[i];
		struct resmgr_placement_out *o = &out[n];
		*o = (struct resmgr_placement_out){0};
		o->task_ids = calloc(p->n_tasks, sizeof(char *));
		o->hostname = strdup(p->hostname);
		o->agent_id = strdup(p->agent_id);
		o->ports = calloc(p->n_ports ? p->n_ports : 1, sizeof(uint32_t));
		if (o->task_ids && o->hostname && o->agent_id && o->ports) {
			for (size_t k = 0; k < p->n_tasks; k++) {
				struct rm_task *t = p->tasks[k];
				atomic_store(&t->since_ns, t_now);
				if (t->placement == p &&
				    taskstate_cas(&t->state, TEV_LAUNCH, NULL) == TASK_LAUNCHING) {
					o->task_ids[o->n_tasks++] = strdup(t->id);
					timer_sync(rm, t);
				}
			}
			memcpy(o->ports, p->ports, p->n_ports * sizeof(uint32_t));
			o->n_ports = p->n_ports;
			o->offer_ids = calloc(p->n_offer_ids ? p->n_offer_ids : 1, sizeof(char *));
			for (size_t k = 0; o->offer_ids && k < p->n_offer_ids; k++)
				if ((o->offer_ids[o->n_offer_ids] = strdup(p->offer_ids[k])))
					o->n_offer_ids++;
		}
		placement_unref(p);    /* the queue's */
		if (o->n_tasks == 0) { /* killed meanwhile, or out of memory: dropped */
			resmgr_placement_free(o);
			continue;
		}
		n++;
	}
	pthread_mutex_unlock(&rm->lk);
	return n;
}

/* --- updates, kills ----------------------------------------------------------- */

/* A task reached a terminal state: release what it held (under rm->lk). */
/*
 * A run ended. Its allocation goes, except a stateful task's: what it ran
 * on stays reserved for it on its host (its volume's reservation), so the
 * pool keeps paying for it until the job manager lets it go (resmgr_kill
 * of the ended task, when the volume is deleted); its next run is admitted
 * on that charge.
 */
static void task_finished(struct resmgr *rm, struct rm_task *t)
{
	double d[RES_N];
	if (t->charged && t->type != RM_TYPE_STATEFUL)
		charge(rm, t, -1);
	for (int k = 0; k < RES_N; k++)
		d[k] = -t->res[k];
	respool_add_demand(rm->cfg.pools, t->pool->id, d);
	respool_set_active_tasks(rm->cfg.pools, t->pool->id, -1);
	task_detach(t);
}

enum resmgr_fail resmgr_notify(struct resmgr *rm, const char *task_id, enum taskevent ev)
{
	enum resmgr_fail f = RM_OK;

	if (task_id == NULL)
		return RM_NOT_FOUND;
	pthread_mutex_lock(&rm->lk);
	rcu_read_lock();
	struct rm_task *t = task_find(rm, task_id);
	enum taskstate to = t ? taskstate_cas(&t->state, ev, NULL) : TASK_UNKNOWN;
	if (t == NULL) {
		f = RM_NOT_FOUND;
	} else if (to == TASK_UNKNOWN) {
		f = RM_INVALID_STATE; /* stale or duplicate update: nothing changes */
	} else {
		atomic_store(&t->since_ns, now(rm));
		timer_sync(rm, t);
		if (to == TASK_RUNNING) {
			t->started_ns = now(rm);
			if (t->placed_ns && t->started_ns >= t->placed_ns)
				hist_add_ns(&rm->launch, t->started_ns - t->placed_ns);
			t->placed_ns = 0;
		}
		if (to == TASK_LAUNCHED)
			task_detach(t); /* the launch happened: the placement is done */
		if (taskstate_terminal(to))
			task_finished(rm, t);
	}
	rcu_read_unlock();
	pthread_mutex_unlock(&rm->lk);
	return f;
}

enum resmgr_fail resmgr_kill(struct resmgr *rm, const char *task_id)
{
	enum resmgr_fail f = resmgr_notify(rm, task_id, TEV_KILL);
	if (f != RM_INVALID_STATE)
		return f;
	/* an ended stateful task: the reservation it held is released */
	pthread_mutex_lock(&rm->lk);
	rcu_read_lock();
	struct rm_task *t = task_find(rm, task_id);
	if (t && t->charged && taskstate_terminal(atomic_load(&t->state))) {
		charge(rm, t, -1);
		f = RM_OK;
	}
	rcu_read_unlock();
	pthread_mutex_unlock(&rm->lk);
	return f;
}

/* --- timeouts and preemption ---------------------------------------------------- */

/* PLACING too long: the task's whole gang goes back to READY and is re-queued. */
static size_t placing_timeout(struct resmgr *rm, struct rm_task *t)
{
	struct rm_gang *g = t->gang;
	size_t moved = 0;

	if (g == NULL)
		return 0;
	for (size_t i = 0; i < g->n_tasks; i++)
		if (g->tasks[i]->gang == g &&
		    taskstate_cas(&g->tasks[i]->state, TEV_PLACING_TIMEOUT, NULL) == TASK_READY) {
			atomic_store(&g->tasks[i]->since_ns, now(rm));
			timer_sync(rm, g->tasks[i]);
			moved++;
		}
	if (moved > 0) {
		g->refs++;
		ready_push(rm, g);
	}
	return moved;
}

/* LAUNCHING too long: back to PLACED, the placement re-queued for a launcher. */
static size_t launching_timeout(struct resmgr *rm, struct rm_task *t)
{
	struct rm_placement *p = t->placement;
	size_t moved = 0;

	if (p == NULL)
		return 0;
	for (size_t i = 0; i < p->n_tasks; i++) {
		struct rm_task *x = p->tasks[i];
		if (x->placement == p &&
		    taskstate_cas(&x->state, TEV_LAUNCHING_TIMEOUT, NULL) == TASK_PLACED) {
			atomic_store(&x->since_ns, now(rm));
			timer_sync(rm, x);
			moved++;
		}
	}
	if (moved > 0) {
		p->refs++;
		placement_push(rm, p);
	}
	return moved;
}

/* Pops expired tasks off one timer list. */
static size_t expire(struct resmgr *rm, int list, uint64_t t_now, uint64_t timeout)
{
	size_t moved = 0;
	struct rm_task *t;

	while ((t = rm->timers[list].head) != NULL) {
		uint64_t since = atomic_load(&t->since_ns);
		if (since + timeout >= t_now)
			break; /* sorted: the rest are younger */
		moved += list == TL_PLACING ? placing_timeout(rm, t) : launching_timeout(rm, t);
		if (t->tlist == list && rm->timers[list].head == t)
			timer_del(rm, t); /* not moved (no gang/placement): never retried */
	}
	return moved;
}

size_t resmgr_return_tasks(struct resmgr *rm, const char *const *task_ids, size_t n)
{
	size_t moved = 0;

	pthread_mutex_lock(&rm->lk);
	rcu_read_lock();
	for (size_t i = 0; i < n; i++) {
		struct rm_task *t = task_find(rm, task_ids[i]);
		if (t != NULL && atomic_load(&t->state) == TASK_PLACING)
			moved += placing_timeout(rm, t); /* the same move, asked for early */
	}
	rcu_read_unlock();
	pthread_mutex_unlock(&rm->lk);
	return moved;
}

#ifdef PELOTON_DEBUG_CHECKS
static bool near(double a, double b)
{
	return fabs(a - b) <= 1e-3 + 1e-9 * fabs(b);
}

/*
 * Debug check (rm->lk held; every 64th tick): each pool's allocation (and its
 * non-preemptible part) equals the sum over the tasks charged to it, and
 * only tasks that hold resources (admitted, not finished; a stateful task
 * also while its run is over or it waits: its reservation) are charged.
 */
static bool pools_check__(struct resmgr *rm)
{
	double(*sum)[3][RES_N] = calloc(rm->n_pools ? rm->n_pools : 1, sizeof(*sum));
	struct cds_lfht_iter it;
	struct cds_lfht_node *n;
	bool ok = sum != NULL;
	rcu_read_lock();
	cds_lfht_for_each(rm->tasks, &it, n)
	{
		struct rm_task *t = caa_container_of(n, struct rm_task, node);
		enum taskstate st = (enum taskstate)atomic_load(&t->state);
		if (!t->charged)
			continue;
		ok = ok && (t->type == RM_TYPE_STATEFUL ||
		            (st != TASK_PENDING && !taskstate_terminal(st)));
		for (int k = 0; ok && k < RES_N; k++) {
			sum[t->pool->at][0][k] += t->res[k];
			sum[t->pool->at][1][k] += t->preemptible ? 0 : t->res[k];
			sum[t->pool->at][2][k] += t->controller ? t->res[k] : 0;
		}
	}
	rcu_read_unlock();
	for (size_t p = 0; ok && p < rm->n_pools; p++)
		for (int k = 0; k < RES_N; k++)
			ok = ok && near(rm->pools[p]->alloc[k], sum[p][0][k]) &&
			     near(rm->pools[p]->alloc_np[k], sum[p][1][k]) &&
			     near(rm->pools[p]->alloc_ctrl[k], sum[p][2][k]);
	free(sum);
	return ok;
}
#endif

size_t resmgr_tick(struct resmgr *rm)
{
	size_t moved;

	pthread_mutex_lock(&rm->lk);
	uint64_t t_now = now(rm);
	overflow_flush(rm);
	moved = expire(rm, TL_PLACING, t_now, rm->cfg.placing_timeout_ns);
	moved += expire(rm, TL_LAUNCHING, t_now, rm->cfg.launching_timeout_ns);
#ifdef PELOTON_DEBUG_CHECKS
	if (++rm->ticks % 64 == 0) /* a walk of every task: not each tick */
		PEL_ASSERT(pools_check__(rm));
#endif
	pthread_mutex_unlock(&rm->lk);
	return moved;
}

static int cmp_victim(const void *a, const void *b)
{
	const struct rm_task *x = *(struct rm_task *const *)a, *y = *(struct rm_task *const *)b;
	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	return x->started_ns > y->started_ns ? -1
	                                     : x->started_ns < y->started_ns; /* newest first */
}

static bool push_preemptible(struct resmgr *rm, const char *id)
{
	if (rm->n_preemptible == rm->cap_preemptible) {
		size_t nc = rm->cap_preemptible ? rm->cap_preemptible * 2 : 64;
		char **a = realloc(rm->preemptible, nc * sizeof(*a));
		if (a == NULL)
			return false;
		rm->preemptible = a;
		rm->cap_preemptible = nc;
	}
	char *c = strdup(id);
	if (c == NULL)
		return false;
	rm->preemptible[rm->n_preemptible++] = c;
	return true;
}

/* Chooses victims in pool p to cover its excess over entitlement. */
static size_t preempt_pool(struct resmgr *rm, struct rm_pool *p, const double excess[RES_N])
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *n;
	struct rm_task **cand = NULL;
	size_t nc = 0, cap = 0, chosen = 0;
	double left[RES_N];

	memcpy(left, excess, sizeof(left));
	cds_lfht_for_each(rm->tasks, &it, n)
	{
		struct rm_task *t = caa_container_of(n, struct rm_task, node);
		if (t->pool != p || !t->preemptible || atomic_load(&t->state) != TASK_RUNNING)
			continue;
		if (nc == cap) {
			cap = cap ? cap * 2 : 64;
			struct rm_task **a = realloc(cand, cap * sizeof(*a));
			if (a == NULL)
				break;
			cand = a;
		}
		cand[nc++] = t;
	}
	qsort(cand, nc, sizeof(*cand), cmp_victim);
	for (size_t i = 0; i < nc; i++) {
		bool needed = false;
		for (int k = 0; k < RES_N; k++)
			needed |= left[k] > 1e-9 && cand[i]->res[k] > 0;
		if (!needed)
			break;
		if (taskstate_cas(&cand[i]->state, TEV_PREEMPT, NULL) != TASK_PREEMPTING)
			continue;
		push_preemptible(rm, cand[i]->id);
		for (int k = 0; k < RES_N; k++)
			left[k] -= cand[i]->res[k];
		chosen++;
	}
	free(cand);
	return chosen;
}

size_t resmgr_preempt_tick(struct resmgr *rm)
{
	size_t chosen = 0;

	pthread_mutex_lock(&rm->lk);
	rcu_read_lock();
	for (size_t i = 0; i < rm->n_pools; i++) {
		struct rm_pool *p = rm->pools[i];
		struct respool_usage u;
		double excess[RES_N];
		bool over = false;
		if (respool_usage(rm->cfg.pools, p->id, &u) != 0)
			continue;
		for (int k = 0; k < RES_N; k++) {
			excess[k] = p->alloc[k] - u.entitlement[k];
			over |= excess[k] > 1e-9;
		}
		p->over_periods = over ? p->over_periods + 1 : 0;
		if (p->over_periods >= rm->cfg.preempt_periods) {
			size_t n = preempt_pool(rm, p, excess);
			p->preempted += n;
			chosen += n;
			p->over_periods = 0;
		}
	}
	rcu_read_unlock();
	pthread_mutex_unlock(&rm->lk);
	return chosen;
}

size_t resmgr_get_preemptible(struct resmgr *rm, char **ids, size_t max)
{
	size_t n = 0;
	pthread_mutex_lock(&rm->lk);
	for (; n < max && n < rm->n_preemptible; n++)
		ids[n] = rm->preemptible[n];
	if (n > 0) {
		memmove(rm->preemptible, rm->preemptible + n,
		        (rm->n_preemptible - n) * sizeof(*rm->preemptible));
		rm->n_preemptible -= n;
	}
	pthread_mutex_unlock(&rm->lk);
	return n;
}

void resmgr_foreach_task(struct resmgr *rm, void (*cb)(const struct resmgr_task_view *, void *),
                         void *arg)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *n;

	uint64_t t_now = now(rm);
	/* under rm->lk: hostname and payload are replaced under it */
	pthread_mutex_lock(&rm->lk);
	rcu_read_lock();
	cds_lfht_for_each(rm->tasks, &it, n)
	{
		struct rm_task *t = caa_container_of(n, struct rm_task, node);
		uint64_t since = atomic_load(&t->since_ns);
		struct resmgr_task_view v = {
		    .id = t->id,
		    .job_id = t->job_id,
		    .pool_id = t->pool ? t->pool->id : NULL,
		    .hostname = t->hostname,
		    .state = atomic_load(&t->state),
		    .age_ns = t_now > since ? t_now - since : 0,
		    .type = t->type,
		    .payload = t->payload,
		    .payload_len = t->payload_len,
		};
		cb(&v, arg);
	}
	rcu_read_unlock();
	pthread_mutex_unlock(&rm->lk);
}

void *resmgr_task_payload(struct resmgr *rm, const char *task_id, size_t *len)
{
	void *copy = NULL;

	pthread_mutex_lock(&rm->lk);
	rcu_read_lock();
	struct rm_task *t = task_id ? task_find(rm, task_id) : NULL;
	if (t != NULL && t->payload_len > 0 && (copy = malloc(t->payload_len)) != NULL) {
		memcpy(copy, t->payload, t->payload_len);
		*len = t->payload_len;
	}
	rcu_read_unlock();
	pthread_mutex_unlock(&rm->lk);
	return copy;
}

enum taskstate resmgr_task_state(struct resmgr *rm, const char *task_id)
{
	enum taskstate st = TASK_UNKNOWN;
	rcu_read_lock();
	struct rm_task *t = task_id ? task_find(rm, task_id) : NULL;
	if (t != NULL)
		st = atomic_load(&t->state);
	rcu_read_unlock();
	return st;
}

void resmgr_count_states(struct resmgr *rm, size_t counts[TASK_N_STATES])
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *n;

	memset(counts, 0, TASK_N_STATES * sizeof(size_t));
	rcu_read_lock();
	cds_lfht_for_each(rm->tasks, &it, n)
	{
		uint32_t st = atomic_load(&caa_container_of(n, struct rm_task, node)->state);
		if (st < TASK_N_STATES)
			counts[st]++;
	}
	rcu_read_unlock();
}

/* --- the periodic driver --------------------------------------------------------- */

static bool moved_much(double a, double b)
{
	double m = a > b ? a : b;
	return m > 0 && fabs(a - b) > 0.1 * m;
}

static void *driver_main(void *arg)
{
	struct resmgr *rm = arg;
	const struct resmgr_driver_config *c = &rm->drv;
	double cap[RES_N] = {0}, last_cap[RES_N] = {0}, last_demand = -1;
	uint64_t last_ent = 0, last_pre = 0;

	rcu_register_thread();
	pthread_mutex_lock(&rm->drv_mu);
	while (!rm->drv_stop) {
		pthread_mutex_unlock(&rm->drv_mu);
		uint64_t t = mono_ns(NULL);
		struct respool_usage root;
		double demand = respool_usage(rm->cfg.pools, "root", &root) == 0
		                    ? root.demand[RES_CPU] + root.demand[RES_MEMORY]
		                    : 0;
		if (c->capacity)
			c->capacity(c->capacity_arg, cap);
		bool sharp = moved_much(demand, last_demand) ||
		             moved_much(cap[RES_CPU], last_cap[RES_CPU]) ||
		             moved_much(cap[RES_MEMORY], last_cap[RES_MEMORY]);
		if (t - last_ent >= (uint64_t)c->entitle_ms * 1000000ull || sharp) {
			respool_entitle(rm->cfg.pools, cap);
			memcpy(last_cap, cap, sizeof(cap));
			last_demand = demand;
			last_ent = t;
		}
		resmgr_admit(rm);
		resmgr_tick(rm);
		if (t - last_pre >= (uint64_t)c->preempt_ms * 1000000ull) {
			resmgr_preempt_tick(rm);
			last_pre = t;
		}
		uint64_t until = clock_mono_ns() + (uint64_t)c->admit_ms * 1000000ull;
		pthread_mutex_lock(&rm->drv_mu);
		if (!rm->drv_stop)
			clock_cond_wait(&rm->drv_cv, &rm->drv_mu, until);
	}
	pthread_mutex_unlock(&rm->drv_mu);
	rcu_unregister_thread();
	return NULL;
}

int resmgr_start(struct resmgr *rm, const struct resmgr_driver_config *cfg)
{
	if (rm->drv_running) {
		errno = EBUSY;
		return -1;
	}
	rm->drv = cfg ? *cfg : (struct resmgr_driver_config){0};
	if (!rm->drv.admit_ms)
		rm->drv.admit_ms = 100;
	if (!rm->drv.entitle_ms)
		rm->drv.entitle_ms = 10000;
	if (!rm->drv.preempt_ms)
		rm->drv.preempt_ms = 60000;
	rm->drv_stop = false;
	int err = pthread_create(&rm->drv_thread, NULL, driver_main, rm);
	if (err != 0) {
		errno = err;
		return -1;
	}
	rm->drv_running = true;
	return 0;
}

void resmgr_stop(struct resmgr *rm)
{
	if (rm == NULL || !rm->drv_running)
		return;
	pthread_mutex_lock(&rm->drv_mu);
	rm->drv_stop = true;
	pthread_cond_signal(&rm->drv_cv);
	pthread_mutex_unlock(&rm->drv_mu);
	pthread_join(rm->drv_thread, NULL);
	rm->drv_running = false;
}

/* Tasks chosen for preemption per pool (ids and paths from the tree). */
static void write_preemptions(struct resmgr *rm, FILE *f)
{
	fprintf(f, "# HELP peloton_preemptions_total Tasks chosen for preemption, by the pool "
	           "that ran over its entitlement.\n# TYPE peloton_preemptions_total counter\n");
	pthread_mutex_lock(&rm->lk);
	for (size_t i = 0; i < rm->n_pools; i++) {
		char path[512];
		if (respool_path(rm->cfg.pools, rm->pools[i]->id, path, sizeof(path)) == 0)
			fprintf(f, "peloton_preemptions_total{pool=\"%s\"} %llu\n", path,
			        (unsigned long long)rm->pools[i]->preempted);
	}
	pthread_mutex_unlock(&rm->lk);
}

void resmgr_write_latency(struct resmgr *rm, FILE *f)
{
	write_preemptions(rm, f);
	fprintf(f, "# HELP peloton_task_schedule_seconds From a task's admission (READY) to its "
	           "placement (PLACED).\n# TYPE peloton_task_schedule_seconds histogram\n");
	hist_write(&rm->schedule, f, "peloton_task_schedule_seconds", "");
	fprintf(f, "# HELP peloton_task_launch_seconds From a task's placement (PLACED) to its "
	           "RUNNING.\n# TYPE peloton_task_launch_seconds histogram\n");
	hist_write(&rm->launch, f, "peloton_task_launch_seconds", "");
}
