/* Job manager: launcher, status updates, recovery; see jobmgr.h. */
#define _GNU_SOURCE /* pthread_setname_np */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobmgr_int.h"
#include "log.h"
#include "proto_codec.h"

int jm__put_task(struct jobmgr *jm, struct store_batch *b, struct jm_job *j, uint32_t inst,
                 const char *msg)
{
	struct jm_task *t = &j->tasks[inst];
	size_t rlen, elen;
	uint8_t *rt = jm__pack_task(j, inst, &rlen);
	Peloton__Api__Task__TaskEvent ev = PELOTON__API__TASK__TASK_EVENT__INIT;
	Peloton__Api__Peloton__TaskID tid = PELOTON__API__PELOTON__TASK_ID__INIT;
	char id[96], ts[40];
	uint64_t now = clock_wall_ns();
	snprintf(id, sizeof(id), "%s-%u", j->id, inst);
	tid.value = id;
	jm__rfc3339(now, ts, sizeof(ts));
	ev.taskid = &tid;
	ev.state = (Peloton__Api__Task__TaskState)t->state;
	ev.message = (char *)(msg ? msg : "");
	ev.timestamp = ts;
	ev.source = PELOTON__API__TASK__TASK_EVENT__SOURCE__SOURCE_JOBMGR;
	ev.hostname = t->host ? t->host : "";
	ev.reason = t->reason ? t->reason : "";
	uint8_t *eb = proto_pack_alloc(&ev.base, &elen);
	int rc = -1;
	if (rt && eb)
		rc = store_task_update(b, j->id, inst, rt, rlen, t->version + 1, STORE_ANY_VERSION,
		                       t->state, eb, elen, now, t->event_seq++);
	if (rc == 0)
		t->version++;
	free(rt);
	free(eb);
	return rc;
}

/* ---- launch ---- */

#define RECONCILE_MAX_NS 600000000000ull /* backoff cap */
#define KILL_RESEND_NS 10000000000ull    /* a kill is resent until Mesos reports the end */

void jm__kill_run(struct jobmgr *jm, struct jm_job *j, uint32_t inst, uint64_t now)
{
	struct jm_task *t = &j->tasks[inst];
	char mid[128];
	snprintf(mid, sizeof(mid), "%s-%u-%u", j->id, inst, t->run);
	if (jm->cfg.hm.kill)
		jm->cfg.hm.kill(jm->cfg.hm.arg, mid, t->agent);
	jm__set_state(j, inst, TASK_KILLING);
	t->due_ns = now + KILL_RESEND_NS;
}

struct launch_item {
	struct jm_job *j;
	uint32_t inst;
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
		if (!t || t->goal == TASK_KILLED || j->deleted ||
		    (t->state != TASK_PENDING && t->state != TASK_INITIALIZED)) {
			cursor += dyn;
			pthread_mutex_unlock(&j->mu);
			continue;
		}
		t->run++;
		free(t->host);
		free(t->agent);
		t->host = strdup(p->hostname);
		t->agent = strdup(p->agent_id);
		assign_ports(t, tc, p->ports, p->n_ports, &cursor);
		jm__set_state(j, inst, TASK_LAUNCHING);
		t->due_ns = clock_wall_ns() +
		            jm->cfg.reconcile_after_ns; /* reconciled if Mesos stays silent */
		t->reconciles = 0;
		jm__put_task(jm, b, j, inst, "launching");
		if (jm__job_refresh(j))
			jm__put_job_runtime(jm, b, j);
		pthread_mutex_unlock(&j->mu);
		items[n++] = (struct launch_item){j, inst};
	}
	return n;
}

/* One task of a placement as the host manager gets it. */
struct launch_buf {
	struct launchable lt;
	char id[128], ptask[96];
	uint32_t ports[LAUNCHABLE_MAX_PORTS];
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
	for (size_t k = 0; k < n; k++) {
		struct jm_job *j = items[k].j;
		uint32_t inst = items[k].inst;
		pthread_mutex_lock(&j->mu);
		const struct jm_task *t = &j->tasks[inst];
		snprintf(x[k].id, sizeof(x[k].id), "%s-%u-%u", j->id, inst, t->run);
		snprintf(x[k].ptask, sizeof(x[k].ptask), "%s-%u", j->id, inst);
		size_t np = t->n_ports < LAUNCHABLE_MAX_PORTS ? t->n_ports : LAUNCHABLE_MAX_PORTS;
		if (np)
			memcpy(x[k].ports, t->ports, np * sizeof(uint32_t));
		/* the config outlives the launch: j->merged changes only with a new job version */
		lts[k] = (struct launchable){x[k].id, j->merged[inst], x[k].ports, np};
		pthread_mutex_unlock(&j->mu);
	}
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

static void *launcher_main(void *arg)
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

/*
 * One job's timers (j->mu held): relaunches whose backoff ended, kills to
 * resend (every 10 s until Mesos reports a terminal state), and tasks past
 * sla.maxRunningTime (killed, reason MAX_RUNNING_TIME_EXCEEDED).
 */
static void sweep_job__(struct jobmgr *jm, struct jm_job *j, uint64_t now, struct store_batch *b,
                        bool requeue)
{
	uint32_t maxrt = j->cfg->sla ? j->cfg->sla->maxrunningtime : 0;
	uint32_t *due = NULL; /* enqueued together: one call for the job */
	size_t n_due = 0, cap_due = 0;
	for (uint32_t i = 0; i < j->n; i++) {
		struct jm_task *t = &j->tasks[i];
		if (t->state == TASK_PENDING &&
		    ((t->due_ns && t->due_ns <= now) || (requeue && !t->due_ns))) {
			t->due_ns = 0;
			if (t->goal == TASK_KILLED || j->deleted)
				continue;
			if (n_due == cap_due) {
				size_t nc = cap_due ? cap_due * 2 : 64;
				uint32_t *nd = realloc(due, nc * sizeof(*nd));
				if (!nd) {
					t->due_ns = now; /* next sweep */
					continue;
				}
				due = nd;
				cap_due = nc;
			}
			due[n_due++] = i;
		} else if ((t->state == TASK_LAUNCHING || t->state == TASK_LAUNCHED) && t->due_ns &&
		           t->due_ns <= now && t->agent) {
			char mid[128];
			snprintf(mid, sizeof(mid), "%s-%u-%u", j->id, i, t->run);
			if (jm->cfg.hm.reconcile)
				jm->cfg.hm.reconcile(jm->cfg.hm.arg, mid, t->agent);
			uint32_t k = t->reconciles < 5 ? t->reconciles : 5;
			uint64_t wait = jm->cfg.reconcile_after_ns << (k + 1);
			t->due_ns = now + (wait > RECONCILE_MAX_NS ? RECONCILE_MAX_NS : wait);
			t->reconciles++;
		} else if (t->state == TASK_KILLING && t->due_ns <= now && t->agent) {
			jm__kill_run(jm, j, i, now); /* resend */
		} else if (maxrt && t->state == TASK_RUNNING && t->start_ns &&
		           now - t->start_ns > (uint64_t)maxrt * 1000000000ull && t->agent) {
			log_info("jobmgr", "task %s-%u-%u ran past maxRunningTime %u s: killing",
			         j->id, i, t->run, maxrt);
			free(t->reason);
			t->reason = strdup("MAX_RUNNING_TIME_EXCEEDED");
			t->goal = TASK_KILLED;
			jm__kill_run(jm, j, i, now);
			jm__put_task(jm, b, j, i, "killed: ran past sla.maxRunningTime");
		}
	}
	if (n_due)
		jm__enqueue(jm, j, due, n_due);
	free(due);
}

/*
 * Tasks the resource manager chose for preemption: the current run is
 * killed; unless the task's preemptionPolicy.killOnPreempt, it is launched
 * again (a new run, no failure counted) once Mesos reports the kill.
 */
static void preempt(struct jobmgr *jm, struct store_batch *b, uint64_t now)
{
	char *ids[256];
	size_t n = jm->cfg.rm.get_preemptible(jm->cfg.rm.arg, ids, 256);
	for (size_t k = 0; k < n; k++) {
		char job[64];
		uint32_t inst, run;
		struct jm_job *j =
		    jm__parse_task_id(ids[k], false, job, sizeof(job), &inst, &run) == 0
		        ? jm__find(jm, job)
		        : NULL;
		free(ids[k]);
		if (!j)
			continue;
		pthread_mutex_lock(&j->mu);
		struct jm_task *t = inst < j->n ? &j->tasks[inst] : NULL;
		if (t && t->agent && t->state >= TASK_LAUNCHING && t->state != TASK_KILLING &&
		    !taskstate_terminal((enum taskstate)t->state)) {
			const Peloton__Api__Task__TaskConfig *tc = j->merged[inst];
			bool kill_only =
			    tc->preemptionpolicy && tc->preemptionpolicy->killonpreempt;
			log_info("jobmgr", "preempting %s-%u-%u%s", j->id, inst, t->run,
			         kill_only ? " (killOnPreempt)" : "");
			t->restart = !kill_only;
			if (kill_only)
				t->goal = TASK_KILLED;
			free(t->reason);
			t->reason = strdup("PREEMPTED");
			jm__kill_run(jm, j, inst, now);
			jm__put_task(jm, b, j, inst, "preempted");
		}
		pthread_mutex_unlock(&j->mu);
	}
}

static void *sweeper_main(void *arg)
{
	struct jobmgr *jm = arg;
	while (!atomic_load(&jm->stop)) {
		struct timespec d = {0, 200000000};
		nanosleep(&d, NULL);
		uint64_t now = clock_wall_ns();
		struct store_batch *b = store_batch_new(jm->cfg.store);
		if (!b)
			continue;
		preempt(jm, b, now);
		char(*purge)[64] = NULL;
		size_t n_purge = 0;
		/* a resource manager apart that answers again after an outage may
		 * have restarted and forgotten the tasks waiting in it: every
		 * waiting task is enqueued again (those it kept are refused as
		 * duplicates, which changes nothing) */
		bool requeue = jm->cfg.rm.came_back && jm->cfg.rm.came_back(jm->cfg.rm.arg);
		if (requeue)
			log_info("jobmgr", "the resource manager answers again: enqueueing every "
			                   "waiting task again (it may have restarted)");
		pthread_rwlock_rdlock(&jm->lock);
		for (struct jm_job *j = jm->all; j; j = j->all_next) {
			pthread_mutex_lock(&j->mu);
			if (!j->deleted && j->state < PELOTON__API__JOB__JOB_STATE__SUCCEEDED)
				sweep_job__(jm, j, now, b, requeue);
			else if (!j->deleted && j->delete_pending) {
				/* DeleteJob of a live job: terminal now, remove it */
				char(*np)[64] = realloc(purge, (n_purge + 1) * sizeof(*purge));
				if (np) {
					purge = np;
					snprintf(purge[n_purge++], 64, "%s", j->id);
					j->deleted = true;
				}
			}
			pthread_mutex_unlock(&j->mu);
		}
		pthread_rwlock_unlock(&jm->lock);
		for (size_t i = 0; i < n_purge; i++) {
			if (store_purge_job(jm->cfg.store, purge[i]) != STORE_OK) {
				log_error("jobmgr", "job %s: purge from the store failed",
				          purge[i]);
				continue;
			}
			struct jm_job *pj = jm__find(jm, purge[i]);
			if (pj && !atomic_exchange(&pj->purged, true))
				atomic_fetch_add(&jm->to_bury, 1);
			log_info("jobmgr", "job %s deleted", purge[i]);
		}
		free(purge);
		jm__bury(jm, now);
		if (store_batch_ops(b))
			store_submit(jm->cfg.store, b, NULL, NULL);
		else
			store_batch_free(b);
	}
	return NULL;
}

int jobmgr_start(struct jobmgr *jm)
{
	if (jm->launcher_on)
		return 0;
	atomic_store(&jm->stop, false);
	if (pthread_create(&jm->launcher, NULL, launcher_main, jm) != 0)
		return -1;
	pthread_setname_np(jm->launcher, "jm-launcher");
	if (pthread_create(&jm->sweeper, NULL, sweeper_main, jm) != 0) {
		atomic_store(&jm->stop, true);
		pthread_join(jm->launcher, NULL);
		return -1;
	}
	pthread_setname_np(jm->sweeper, "jm-sweeper");
	jm->launcher_on = true;
	if (jm->cfg.hm.start_updates &&
	    jm->cfg.hm.start_updates(jm->cfg.hm.arg, jobmgr_on_status_cb, jm) != 0) {
		jobmgr_stop(jm);
		return -1;
	}
	return 0;
}

void jobmgr_stop(struct jobmgr *jm)
{
	if (!jm || !jm->launcher_on)
		return;
	if (jm->cfg.hm.stop_updates)
		jm->cfg.hm.stop_updates(jm->cfg.hm.arg);
	atomic_store(&jm->stop, true);
	pthread_join(jm->launcher, NULL);
	pthread_join(jm->sweeper, NULL);
	jm->launcher_on = false;
}

/* ---- status updates ---- */

static enum taskstate state_of_mesos(Mesos__V1__TaskState s, enum taskevent *ev)
{
	switch (s) {
	case MESOS__V1__TASK_STATE__TASK_STAGING:
		*ev = TEV_LAUNCHED;
		return TASK_LAUNCHED;
	case MESOS__V1__TASK_STATE__TASK_STARTING:
		*ev = TEV_STARTING;
		return TASK_STARTING;
	case MESOS__V1__TASK_STATE__TASK_RUNNING:
		*ev = TEV_RUNNING;
		return TASK_RUNNING;
	case MESOS__V1__TASK_STATE__TASK_KILLING:
		*ev = TEV_KILL;
		return TASK_KILLING;
	case MESOS__V1__TASK_STATE__TASK_FINISHED:
		*ev = TEV_SUCCEEDED;
		return TASK_SUCCEEDED;
	case MESOS__V1__TASK_STATE__TASK_FAILED:
	case MESOS__V1__TASK_STATE__TASK_ERROR:
		*ev = TEV_FAILED;
		return TASK_FAILED;
	case MESOS__V1__TASK_STATE__TASK_KILLED:
		*ev = TEV_KILLED;
		return TASK_KILLED;
	default:
		*ev = TEV_LOST;
		return TASK_LOST;
	}
}

struct ack_ctx {
	struct jobmgr *jm;
	Mesos__V1__TaskStatus *st;  /* clone, freed after ack */
	hostmgr_update_done_f done; /* NULL: ops.ack */
	void *done_arg;
	char ptask[96];
	enum taskevent ev;
	bool notify, relaunch;
	struct jm_job *j;
	uint32_t inst;
};

/*
 * A task back in PENDING after a failure waits 1 s, 2 s, 4 s ... (at most
 * 60 s) before it is enqueued again; a lost one goes at once. The sweeper
 * enqueues it when due.
 */
static uint64_t backoff_ns(uint32_t failures)
{
	uint32_t e = failures ? failures - 1 : 0;
	uint64_t s = e >= 6 ? 60 : (1u << e);
	return (s > 60 ? 60 : s) * 1000000000ull;
}

static void relaunch(struct jobmgr *jm, struct jm_job *j, uint32_t inst)
{
	pthread_mutex_lock(&j->mu);
	struct jm_task *t = &j->tasks[inst];
	if (t->state == TASK_PENDING && t->goal != TASK_KILLED) {
		/* a resource manager apart: the sweeper's next pass enqueues it (no
		 * round trip on the store's completion thread, batched per job) */
		if (t->due_ns == 0 && jm->rm_apart)
			t->due_ns = clock_wall_ns();
		else if (t->due_ns == 0)
			jm__enqueue(jm, j, &inst, 1);
		/* else: the sweeper enqueues it after its backoff */
	}
	pthread_mutex_unlock(&j->mu);
}

/* The end of one update: acknowledged (ops.ack) or reported to done. */
static void finish(struct jobmgr *jm, const Mesos__V1__TaskStatus *st, hostmgr_update_done_f done,
                   void *arg, bool handled)
{
	if (done)
		done(arg, handled);
	else if (handled && st->has_uuid && jm->cfg.hm.ack)
		jm->cfg.hm.ack(jm->cfg.hm.arg, st);
}

static void after_durable(void *arg, enum store_status st)
{
	struct ack_ctx *c = arg;
	if (st != STORE_OK) {
		/* not acknowledged: Mesos resends the update and we try again */
		log_error("jobmgr", "update of %s not persisted (status %d); not acknowledged",
		          c->ptask, (int)st);
		finish(c->jm, c->st, c->done, c->done_arg, false);
	} else {
		finish(c->jm, c->st, c->done, c->done_arg, true);
		if (c->notify)
			c->jm->cfg.rm.notify(c->jm->cfg.rm.arg, c->ptask, c->ev);
		if (c->relaunch)
			relaunch(c->jm, c->j, c->inst);
	}
	protobuf_c_message_free_unpacked(&c->st->base, NULL);
	free(c);
}

/* Applies a terminal outcome's restart policy; j->mu held. True: relaunch. */
static bool plan_relaunch(struct jm_job *j, uint32_t inst, enum taskstate s)
{
	struct jm_task *t = &j->tasks[inst];
	if (t->restart && !j->deleted) {
		t->restart = false; /* killed by RestartTasks: a new run, no failure counted */
		return true;
	}
	if (t->goal == TASK_KILLED || j->deleted)
		return false;
	if (s == TASK_LOST)
		return true;
	if (s != TASK_FAILED)
		return false;
	t->failures++;
	const Peloton__Api__Task__TaskConfig *tc = j->merged[inst];
	uint32_t maxf = tc->restartpolicy ? tc->restartpolicy->maxfailures : 0;
	return t->failures <= maxf;
}

void jobmgr_on_status(struct jobmgr *jm, const Mesos__V1__TaskStatus *st)
{
	jobmgr_on_status_cb(jm, st, NULL, NULL);
}

void jobmgr_on_status_cb(void *jm_arg, const Mesos__V1__TaskStatus *st, hostmgr_update_done_f done,
                         void *arg)
{
	struct jobmgr *jm = jm_arg;
	char job[64];
	uint32_t inst, run;
	atomic_fetch_add(&jm->updates, 1);
	if (!st->task_id || !st->task_id->value ||
	    jm__parse_task_id(st->task_id->value, true, job, sizeof(job), &inst, &run) != 0) {
		log_warn("jobmgr", "update for a task id we never issued: %s",
		         st->task_id && st->task_id->value ? st->task_id->value : "(none)");
		finish(jm, st, done, arg, true);
		return;
	}
	struct jm_job *j = jm__find(jm, job);
	if (!j || inst >= j->n) {
		finish(jm, st, done, arg, true);
		return;
	}
	enum taskevent ev;
	enum taskstate ns = state_of_mesos(st->state, &ev);
	pthread_mutex_lock(&j->mu);
	struct jm_task *t = &j->tasks[inst];
	/*
	 * A task being stopped that Mesos reports lost is killed, as asked:
	 * typically our KILL overtook its ACCEPT (the launch waits out the
	 * batch window) and the master answered for a task it did not know
	 * yet. Recorded as LOST it made a stopped job end FAILED. The resource
	 * manager still hears "lost" (the event its state machine has from
	 * LAUNCHING).
	 */
	if (ns == TASK_LOST && t->goal == TASK_KILLED && run == t->run)
		ns = TASK_KILLED;
	if (run != t->run || t->state == ns || taskstate_terminal((enum taskstate)t->state) ||
	    (t->state != TASK_LAUNCHING && t->state != TASK_LAUNCHED && t->state != TASK_STARTING &&
	     t->state != TASK_RUNNING && t->state != TASK_KILLING)) {
		/* stale run, duplicate, or already final: nothing changes, except
		 * that a run alive on Mesos that we hold finished is an orphan:
		 * kill it (an older run, or one we stopped whose launch landed
		 * after the master had answered our KILL with LOST) */
		bool done_here = run != t->run || (taskstate_terminal((enum taskstate)t->state) &&
		                                   t->goal == TASK_KILLED);
		bool orphan = done_here && !taskstate_terminal(ns) && st->agent_id &&
		              st->agent_id->value && jm->cfg.hm.kill;
		pthread_mutex_unlock(&j->mu);
		if (orphan) {
			log_warn("jobmgr", "%s is alive on Mesos but finished here: killing it",
			         st->task_id->value);
			jm->cfg.hm.kill(jm->cfg.hm.arg, st->task_id->value, st->agent_id->value);
		}
		finish(jm, st, done, arg, true);
		return;
	}
	struct ack_ctx *c = calloc(1, sizeof(*c));
	struct store_batch *b = store_batch_new(jm->cfg.store);
	if (c)
		c->st = (Mesos__V1__TaskStatus *)proto_clone(&st->base);
	if (!c || !b || !c->st) {
		pthread_mutex_unlock(&j->mu);
		if (c && c->st)
			protobuf_c_message_free_unpacked(&c->st->base, NULL);
		free(c);
		store_batch_free(b);
		finish(jm, st, done, arg, false); /* not acknowledged: Mesos resends */
		return;
	}
	uint64_t now = clock_wall_ns();
	t->due_ns = 0; /* Mesos answered for this run: no reconciliation due */
	if (ns == TASK_RUNNING && !t->start_ns)
		t->start_ns = now;
	free(t->message);
	t->message = st->message ? strdup(st->message) : NULL;
	if (st->has_reason) {
		const ProtobufCEnumValue *rv = protobuf_c_enum_descriptor_get_value(
		    &mesos__v1__task_status__reason__descriptor, st->reason);
		free(t->reason);
		t->reason = rv ? strdup(rv->name) : NULL;
	}
	jm__set_state(j, inst, ns);
	bool again = false;
	if (taskstate_terminal(ns)) {
		t->done_ns = now;
		again = plan_relaunch(j, inst, ns);
	}
	jm__put_task(jm, b, j, inst, st->message);
	if (again) {
		/* the failed run is recorded above; the task goes back to PENDING */
		jm__set_state(j, inst, TASK_PENDING);
		t->start_ns = t->done_ns = 0;
		t->due_ns = ns == TASK_FAILED ? now + backoff_ns(t->failures) : 0;
		jm__put_task(jm, b, j, inst, "relaunching");
	}
	if (jm__job_refresh(j))
		jm__put_job_runtime(jm, b, j);
	pthread_mutex_unlock(&j->mu);
	snprintf(c->ptask, sizeof(c->ptask), "%s-%u", job, inst);
	c->jm = jm;
	c->done = done;
	c->done_arg = arg;
	c->ev = ev;
	c->notify = true;
	c->relaunch = again;
	c->j = j;
	c->inst = inst;
	if (jm->cfg.write_each_update) {
		enum store_status ws = store_write_direct(jm->cfg.store, b, true);
		after_durable(c, ws);
		return;
	}
	store_submit(jm->cfg.store, b, after_durable, c);
}

/* ---- reconciliation list ---- */

static void live_tasks(void *arg, struct jobmgr_live *out)
{
	jobmgr_reconcile_list(arg, out);
}

struct jobmgr_ops jobmgr_seam_ops(struct jobmgr *jm)
{
	return (struct jobmgr_ops){.live_tasks = live_tasks, .arg = jm};
}

void jobmgr_reconcile_list(struct jobmgr *jm, struct jobmgr_live *out)
{
	memset(out, 0, sizeof(*out));
	size_t cap = 0;
	pthread_rwlock_rdlock(&jm->lock);
	for (struct jm_job *j = jm->all; j; j = j->all_next) {
		pthread_mutex_lock(&j->mu);
		for (uint32_t i = 0; i < j->n; i++) {
			struct jm_task *t = &j->tasks[i];
			if (t->state < TASK_LAUNCHING ||
			    taskstate_terminal((enum taskstate)t->state) || !t->agent)
				continue;
			if (out->n == cap) {
				cap = cap ? 2 * cap : 256;
				char **a = realloc(out->task_ids, cap * sizeof(char *));
				char **g = a ? realloc(out->agent_ids, cap * sizeof(char *)) : NULL;
				if (a)
					out->task_ids = a;
				if (!g)
					break;
				out->agent_ids = g;
			}
			char id[128];
			snprintf(id, sizeof(id), "%s-%u-%u", j->id, i, t->run);
			out->task_ids[out->n] = strdup(id);
			out->agent_ids[out->n] = strdup(t->agent);
			out->n++;
		}
		pthread_mutex_unlock(&j->mu);
	}
	pthread_rwlock_unlock(&jm->lock);
}

/* ---- recovery ---- */

struct rec {
	struct jobmgr *jm;
	struct jm_job *cur;
	size_t jobs, tasks;
};

static bool rec_job(void *arg, const char *id, const void *rt, size_t len, uint64_t version)
{
	struct rec *r = arg;
	const char *why;
	Peloton__Api__Job__RuntimeInfo *ri = (Peloton__Api__Job__RuntimeInfo *)proto_decode(
	    &peloton__api__job__runtime_info__descriptor, rt, len, NULL, &why);
	r->cur = NULL;
	if (!ri) {
		log_error("jobmgr", "job %s: unreadable runtime (%s); skipped", id, why);
		return false;
	}
	uint64_t cv = ri->configversion > 0 ? (uint64_t)ri->configversion : 1;
	char key[128];
	size_t kl = store_key_job_config(key, id, cv);
	void *cb = NULL;
	size_t cl = 0;
	uint64_t ver;
	enum store_status st =
	    store_get(r->jm->cfg.store, STORE_JOB_CONFIG, key, kl, &cb, &cl, &ver);
	Peloton__Api__Job__JobConfig *cfg =
	    st == STORE_OK ? (Peloton__Api__Job__JobConfig *)proto_decode(
	                         &peloton__api__job__job_config__descriptor, cb, cl, NULL, &why)
	                   : NULL;
	free(cb);
	struct jm_job *j = cfg ? jm__job_new(id, cfg) : NULL;
	if (!j) {
		log_error("jobmgr", "job %s: config version %" PRIu64 " unreadable; skipped", id,
		          cv);
		if (cfg)
			protobuf_c_message_free_unpacked(&cfg->base, NULL);
		protobuf_c_message_free_unpacked(&ri->base, NULL);
		return false;
	}
	j->cfg_version = cv;
	j->state = ri->state;
	j->goal = ri->goalstate;
	j->version = version;
	j->cfg_bytes = proto_pack_alloc(&cfg->base, &j->cfg_len);
	protobuf_c_message_free_unpacked(&ri->base, NULL);
	for (uint32_t i = 0; i < j->n; i++)
		j->tasks[i].state = TASK_UNKNOWN;
	jm__insert(r->jm, j);
	r->cur = j;
	r->jobs++;
	return true;
}

static void rec_task(void *arg, const char *job, uint32_t inst, const void *rt, size_t len,
                     uint64_t version)
{
	struct rec *r = arg;
	struct jm_job *j = r->cur && strcmp(r->cur->id, job) == 0 ? r->cur : jm__find(r->jm, job);
	if (!j || inst >= j->n)
		return;
	if (jm__restore_task(j, inst, rt, len) != 0) {
		log_error("jobmgr", "task %s-%u: unreadable runtime; skipped", job, inst);
		return;
	}
	j->tasks[inst].version = version;
	r->tasks++;
}

int jobmgr_recover(struct jobmgr *jm, size_t *jobs, size_t *tasks)
{
	struct rec r = {.jm = jm};
	struct store_recover_ops ops = {.job = rec_job, .task = rec_task};
	struct store_recover_stats st;
	if (store_recover(jm->cfg.store, &ops, &r, &st) != 0)
		return -1;
	size_t requeued = 0;
	pthread_rwlock_rdlock(&jm->lock);
	for (struct jm_job *j = jm->all; j; j = j->all_next) {
		pthread_mutex_lock(&j->mu);
		memset(j->counts, 0, sizeof(j->counts));
		uint32_t *pend = calloc(j->n ? j->n : 1, sizeof(uint32_t));
		size_t np = 0;
		for (uint32_t i = 0; i < j->n; i++) {
			struct jm_task *t = &j->tasks[i];
			if (t->state == TASK_UNKNOWN || t->state < TASK_LAUNCHING)
				t->state = TASK_PENDING; /* never reached Mesos: place again */
			else if (!taskstate_terminal((enum taskstate)t->state))
				t->due_ns = clock_wall_ns() +
				            jm->cfg.reconcile_after_ns; /* beyond SUBSCRIBED's */
			j->counts[t->state]++;
			if (t->state == TASK_PENDING && t->goal != TASK_KILLED && pend)
				pend[np++] = i;
		}
		if (np)
			requeued += jm__enqueue(jm, j, pend, np);
		free(pend);
		pthread_mutex_unlock(&j->mu);
	}
	pthread_rwlock_unlock(&jm->lock);
	log_info("jobmgr", "recovered %zu jobs, %zu tasks; %zu tasks enqueued again", r.jobs,
	         r.tasks, requeued);
	if (jobs)
		*jobs = r.jobs;
	if (tasks)
		*tasks = r.tasks;
	return 0;
}
