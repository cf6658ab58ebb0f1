/*
 * The job manager's launcher thread: placements from the resource manager,
 * their launch intent made durable, then the tasks to the host manager.
 */
#include <stdlib.h>
#include <string.h>

#include "fsm.h"
#include "log.h"
#include "persist.h"
#include "run.h"
#include "volume.h"

struct launch_item {
	struct jm_job *j;
	uint32_t inst;
	struct jm_volume *vol; /* a stateful task's (borrowed), or NULL */
	bool create;           /* its first launch: reserve and create the volume */
	bool refuse;           /* placed away from its volume: reported lost, placed again */
};

/* Ports of task k of a placement: the static ones, then dynamic ones in order. */
static void assign_ports(struct jm_task *t, const Peloton__Api__Task__TaskConfig *tc,
                         const uint32_t *dyn, size_t n_dyn, size_t *cursor)
{
	free(t->ports);
	t->ports = NULL;
	t->n_ports = 0;
	if (!tc->n_ports)
		return;
	t->ports = calloc(tc->n_ports, sizeof(uint32_t));
	if (!t->ports)
		return;
	for (size_t i = 0; i < tc->n_ports; i++) {
		if (tc->ports[i]->value)
			t->ports[i] = tc->ports[i]->value;
		else if (*cursor < n_dyn)
			t->ports[i] = dyn[(*cursor)++];
	}
	t->n_ports = (uint32_t)tc->n_ports;
}

/* Writes LAUNCHING for every task of p; returns how many are to launch. */
static size_t launch_intent(struct jobmgr *jm, const struct resmgr_placement_out *p,
                            struct launch_item *items, struct store_batch *b)
{
	size_t n = 0, cursor = 0;
	for (size_t k = 0; k < p->n_tasks; k++) {
		char job[64];
		uint32_t inst, run;
		if (jm__parse_task_id(p->task_ids[k], false, job, sizeof(job), &inst, &run) != 0)
			continue;
		struct jm_job *j = jm__find(jm, job);
		if (!j)
			continue;
		pthread_mutex_lock(&j->mu);
		struct jm_task *t = inst < j->n ? &j->tasks[inst] : NULL;
		const Peloton__Api__Task__TaskConfig *tc = t ? j->merged[inst] : NULL;
		size_t dyn = 0;
		for (size_t i = 0; tc && i < tc->n_ports; i++)
			dyn += tc->ports[i]->value == 0;
		if (!t || jm_goal_down(t->goal) || j->deleted ||
		    jm_next((enum taskstate)t->state, JM_LAUNCH) == TASK_UNKNOWN) {
			cursor += dyn;
			pthread_mutex_unlock(&j->mu);
			continue;
		}
		t->run++;
		t->cfg_ver = (uint32_t)j->cfg_version; /* what j->merged[inst] is now */
		t->healthy = jm_health_checked(tc)
		                 ? PELOTON__API__TASK__HEALTH_STATE__HEALTH_UNKNOWN
		                 : PELOTON__API__TASK__HEALTH_STATE__DISABLED;
		free(t->host);
		free(t->agent);
		t->host = strdup(p->hostname);
		t->agent = strdup(p->agent_id);
		assign_ports(t, tc, p->ports, p->n_ports, &cursor);
		jm__move(j, inst, JM_LAUNCH);
		t->due_ns = clock_wall_ns() +
		            jm->cfg.reconcile_after_ns; /* reconciled if Mesos stays silent */
		t->reconciles = 0;
		struct launch_item it = {j, inst, NULL, false, false};
		if (jm__wants_volume(tc)) {
			const char *why = NULL;
			it.vol = jm__volume_for_launch__(jm, b, j, inst, p->hostname, p->agent_id,
			                                 &it.create, &why);
			if ((it.refuse = it.vol == NULL))
				log_task(LOG_WARN, "jobmgr", j->id, inst, p->hostname,
				         "task %s-%u: %s; placing it again", j->id, inst, why);
		}
		jm__put_task(jm, b, j, inst, "launching");
		if (jm__job_refresh(j))
			jm__put_job_runtime(jm, b, j);
		pthread_mutex_unlock(&j->mu);
		items[n++] = it;
	}
	return n;
}

/* One task of a placement as the host manager gets it. */
struct launch_buf {
	struct launchable lt;
	char id[128], ptask[96];
	uint32_t ports[LAUNCHABLE_MAX_PORTS];
	struct launchable_volume vol;
	char vol_id[64], vol_path[256];
};

/*
 * A launch the host manager refused (its lease expired, it was not
 * reachable, ...): the run is reported lost as if Mesos had said so (no
 * uuid: nothing to acknowledge), which records it, tells the resource
 * manager and launches the task again as a new run. Should the refused run
 * have started after all (an answer lost on the way), it is an older run:
 * killed on its first update.
 */
static void launch_refused(struct jobmgr *jm, const char *mesos_id, const char *agent)
{
	Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
	Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
	tid.value = (char *)mesos_id;
	aid.value = (char *)agent;
	st.task_id = &tid;
	st.agent_id = agent ? &aid : NULL;
	st.state = MESOS__V1__TASK_STATE__TASK_LOST;
	st.message = "the host manager refused the launch; launching again";
	st.has_reason = true;
	st.reason = MESOS__V1__TASK_STATUS__REASON__REASON_INVALID_OFFERS;
	jobmgr_on_status(jm, &st);
}

/* Sends the tasks of one placement whose intent is durable to the host manager. */
static void send_placement(struct jobmgr *jm, const struct resmgr_placement_out *p,
                           const struct launch_item *items, size_t n)
{
	struct launch_buf *x = calloc(n ? n : 1, sizeof(*x));
	struct launchable *lts = calloc(n ? n : 1, sizeof(*lts));
	if (!x || !lts) {
		log_error("jobmgr",
		          "out of memory launching on %s; tasks stay LAUNCHING until "
		          "reconciled",
		          p->hostname);
		goto out;
	}
	size_t nl = 0;
	for (size_t k = 0; k < n; k++) {
		struct jm_job *j = items[k].j;
		uint32_t inst = items[k].inst;
		struct launch_buf *b = &x[nl];
		pthread_mutex_lock(&j->mu);
		const struct jm_task *t = &j->tasks[inst];
		snprintf(b->id, sizeof(b->id), "%s-%u-%u", j->id, inst, t->run);
		snprintf(b->ptask, sizeof(b->ptask), "%s-%u", j->id, inst);
		size_t np = t->n_ports < LAUNCHABLE_MAX_PORTS ? t->n_ports : LAUNCHABLE_MAX_PORTS;
		if (np)
			memcpy(b->ports, t->ports, np * sizeof(uint32_t));
		/* the config outlives the launch: j->merged changes only with a new job version */
		lts[nl] = (struct launchable){b->id, j->merged[inst], b->ports, np, NULL};
		const struct jm_volume *v = items[k].vol;
		if (v) { /* id, path and size never change */
			snprintf(b->vol_id, sizeof(b->vol_id), "%s", v->id);
			snprintf(b->vol_path, sizeof(b->vol_path), "%s", v->path);
			b->vol = (struct launchable_volume){b->vol_id, b->vol_path, v->size_mb,
			                                    items[k].create};
			lts[nl].volume = &b->vol;
		}
		pthread_mutex_unlock(&j->mu);
		if (items[k].refuse)
			launch_refused(jm, b->id, p->agent_id);
		else
			nl++;
	}
	n = nl;
	if (n == 0)
		goto out;
	if (jm->cfg.hm.launch(jm->cfg.hm.arg, p->hostname, p->agent_id,
	                      (const char *const *)p->offer_ids, p->n_offer_ids, lts, n) != 0) {
		log_warn("jobmgr",
		         "launch of %zu task(s) on %s refused by the host manager: "
		         "launching them again",
		         n, p->hostname);
		for (size_t k = 0; k < n; k++)
			launch_refused(jm, x[k].id, p->agent_id);
		goto out;
	}
	atomic_fetch_add(&jm->launched, n);
	for (size_t k = 0; k < n; k++)
		jm->cfg.rm.notify(jm->cfg.rm.arg, x[k].ptask, TEV_LAUNCHED);
out:
	free(x);
	free(lts);
}

/*
 * A batch of placements: every task's LAUNCHING intent goes into ONE store
 * batch (one sync for the whole batch), and only once it is durable are
 * the placements sent to Mesos. The launcher keeps up to LAUNCH_PIPELINE
 * batches in flight: while one batch's intent waits for its sync, the next
 * batch's intents are built and submitted (one batch at a time left ~60,000
 * placed tasks queued behind the syncs in bench_e2e). Batches are sent in
 * the order they were taken.
 */
#define LAUNCH_PIPELINE 4

struct lbatch {
	struct resmgr_placement_out *p; /* owned */
	size_t np, total;
	struct launch_item **items;
	size_t *n;
	int status; /* -1 while the intent is not durable; then a store status */
	struct lbatch *next;
	struct jobmgr *jm;
};

static void lbatch_free(struct lbatch *lb)
{
	for (size_t i = 0; i < lb->np; i++) {
		if (lb->items)
			free(lb->items[i]);
		resmgr_placement_free(&lb->p[i]);
	}
	free(lb->items);
	free(lb->n);
	free(lb->p);
	free(lb);
}

/* Store completion (the store's thread): the batch may go to Mesos. */
static void lbatch_durable(void *arg, enum store_status st)
{
	struct lbatch *lb = arg;
	struct jobmgr *jm = lb->jm;
	pthread_mutex_lock(&jm->launch_mu);
	lb->status = (int)st;
	pthread_cond_signal(&jm->launch_cv);
	pthread_mutex_unlock(&jm->launch_mu);
}

/*
 * Writes the intents of np placements (taken over from p) and submits
 * them; NULL when nothing is to launch (everything already freed).
 */
static struct lbatch *lbatch_start(struct jobmgr *jm, struct resmgr_placement_out *p, size_t np)
{
	struct lbatch *lb = calloc(1, sizeof(*lb));
	struct resmgr_placement_out *own = calloc(np ? np : 1, sizeof(*own));
	if (!lb || !own) {
		free(lb);
		free(own);
		for (size_t i = 0; i < np; i++)
			resmgr_placement_free(&p[i]);
		return NULL;
	}
	memcpy(own, p, np * sizeof(*own));
	lb->p = own;
	lb->np = np;
	lb->jm = jm;
	lb->status = -1;
	lb->items = calloc(np ? np : 1, sizeof(*lb->items));
	lb->n = calloc(np ? np : 1, sizeof(*lb->n));
	struct store_batch *b = store_batch_new(jm->cfg.store);
	if (!lb->items || !lb->n || !b) {
		store_batch_free(b);
		lbatch_free(lb);
		return NULL;
	}
	for (size_t i = 0; i < np; i++) {
		lb->items[i] = calloc(own[i].n_tasks ? own[i].n_tasks : 1, sizeof(**lb->items));
		if (lb->items[i])
			lb->total += lb->n[i] = launch_intent(jm, &own[i], lb->items[i], b);
	}
	if (!lb->total) {
		store_batch_free(b);
		lbatch_free(lb);
		return NULL;
	}
	/* the intent is durable before Mesos hears of the task */
	store_submit(jm->cfg.store, b, lbatch_durable, lb);
	return lb;
}

/* A batch whose intent is durable (or refused): to Mesos, then freed. */
static void lbatch_finish(struct jobmgr *jm, struct lbatch *lb)
{
	if (lb->status != STORE_OK) {
		log_error("jobmgr",
		          "cannot persist the launch intent of %zu tasks: status %d; they stay "
		          "LAUNCHING until reconciled",
		          lb->total, lb->status);
	} else {
		for (size_t i = 0; i < lb->np; i++)
			if (lb->n[i])
				send_placement(jm, &lb->p[i], lb->items[i], lb->n[i]);
	}
	lbatch_free(lb);
}

void *jm__launcher_main(void *arg)
{
	struct jobmgr *jm = arg;
	size_t cap = jm->cfg.launch_batch;
	struct resmgr_placement_out *out = calloc(cap, sizeof(*out));
	struct lbatch *head = NULL, **tail = &head;
	size_t inflight = 0;
	if (!out)
		return NULL;
	for (;;) {
		bool stopping = atomic_load(&jm->stop);
		/* send the durable batches at the head, in order */
		for (;;) {
			pthread_mutex_lock(&jm->launch_mu);
			/* full pipeline, or stopping with batches left: wait for the head */
			while (head && head->status < 0 &&
			       (inflight >= LAUNCH_PIPELINE || stopping))
				pthread_cond_wait(&jm->launch_cv, &jm->launch_mu);
			struct lbatch *lb = head && head->status >= 0 ? head : NULL;
			if (lb && !(head = lb->next))
				tail = &head;
			pthread_mutex_unlock(&jm->launch_mu);
			if (!lb)
				break;
			inflight--;
			lbatch_finish(jm, lb);
		}
		if (stopping && !head)
			break;
		if (stopping)
			continue;
		/* with intents in flight, look for placements only briefly */
		size_t n = jm->cfg.rm.get_placements(jm->cfg.rm.arg, cap,
		                                     inflight ? 500000ull : 100000000ull, out);
		struct lbatch *lb = n ? lbatch_start(jm, out, n) : NULL;
		if (lb) {
			pthread_mutex_lock(&jm->launch_mu);
			*tail = lb;
			tail = &lb->next;
			pthread_mutex_unlock(&jm->launch_mu);
			inflight++;
		}
	}
	free(out);
	return NULL;
}
