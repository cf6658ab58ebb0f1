/*
 * The job manager's sweeper thread (every 200 ms): relaunches whose backoff
 * ended, kills to resend, silent launches to reconcile, tasks past
 * sla.maxRunningTime, the resource manager's preemptions, running updates
 * (rollout.c), deleted jobs to purge.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fsm.h"
#include "handoff.h"
#include "log.h"
#include "volume.h"
#include "persist.h"
#include "rollout.h"
#include "run.h"

#define RECONCILE_MAX_NS 600000000000ull /* backoff cap */

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
			if (jm_goal_down(t->goal) || j->deleted)
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
			log_task(LOG_INFO, "jobmgr", j->id, i, t->host,
			         "task %s-%u-%u ran past maxRunningTime %u s: killing", j->id, i,
			         t->run, maxrt);
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
	jm__admit_held__(jm, j); /* room under sla.maximumRunningInstances */
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
		if (t && t->agent && jm_on_mesos((enum taskstate)t->state) &&
		    t->state != TASK_KILLING) {
			const Peloton__Api__Task__TaskConfig *tc = j->merged[inst];
			bool kill_only =
			    tc->preemptionpolicy && tc->preemptionpolicy->killonpreempt;
			log_task(LOG_INFO, "jobmgr", j->id, inst, t->host, "preempting %s-%u-%u%s",
			         j->id, inst, t->run, kill_only ? " (killOnPreempt)" : "");
			t->restart = !kill_only;
			if (kill_only) /* as upstream: down for good, and why */
				t->goal = TASK_PREEMPTING;
			free(t->reason);
			t->reason = strdup("PREEMPTED");
			jm__kill_run(jm, j, inst, now);
			jm__put_task(jm, b, j, inst, "preempted");
		}
		pthread_mutex_unlock(&j->mu);
	}
}

/* Jobs to remove from the store and, after the grace period, from memory. */
struct purge_list {
	char (*ids)[64];
	size_t n;
};

/* Files j for removal (j->mu held): deleted from now on. */
static void purge_add__(struct purge_list *p, struct jm_job *j)
{
	char(*np)[64] = realloc(p->ids, (p->n + 1) * sizeof(*p->ids));
	if (!np)
		return; /* the next pass */
	p->ids = np;
	snprintf(p->ids[p->n++], 64, "%s", j->id);
	j->deleted = true;
}

/*
 * One pass over every job: a live one's timers (sweep_job__); a terminal
 * one deleted while it ran, or done for longer than cfg.retention_ns, is
 * filed for removal.
 */
static void sweep_all(struct jobmgr *jm, uint64_t now, struct store_batch *b, bool requeue,
                      struct purge_list *p)
{
	uint64_t keep = jm->cfg.retention_ns;
	pthread_rwlock_rdlock(&jm->lock);
	for (struct jm_job *j = jm->all; j; j = j->all_next) {
		pthread_mutex_lock(&j->mu);
		if (!j->deleted && jm_update_live(j->upd))
			jm__rollout_step__(jm, j, b);
		if (!j->deleted && !jm_job_terminal(j->state)) {
			sweep_job__(jm, j, now, b, requeue);
		} else if (!j->deleted && j->delete_pending) {
			purge_add__(p, j); /* DeleteJob of a live job: terminal now */
		} else if (!j->deleted && keep && j->done_ns && now > j->done_ns &&
		           now - j->done_ns >= keep) {
			/* (done_ns may be after `now`, taken when the pass began: a job
			 * that ended meanwhile is not terminal for 2^64 ns) */
			log_job(LOG_INFO, "jobmgr", j->id,
			        "job %s: terminal for %llu s (retention): removing it", j->id,
			        (unsigned long long)((now - j->done_ns) / 1000000000ull));
			purge_add__(p, j);
		}
		pthread_mutex_unlock(&j->mu);
	}
	pthread_rwlock_unlock(&jm->lock);
}

/* Removes the filed jobs from the store; the memory goes after the grace period. */
static void purge(struct jobmgr *jm, struct purge_list *p)
{
	for (size_t i = 0; i < p->n; i++) {
		if (store_purge_job(jm->cfg.store, p->ids[i]) != STORE_OK) {
			log_job(LOG_ERROR, "jobmgr", p->ids[i],
			        "job %s: purge from the store failed", p->ids[i]);
			continue;
		}
		jm__volumes_release_job(jm, p->ids[i]);
		struct jm_job *pj = jm__find(jm, p->ids[i]);
		if (pj && !atomic_exchange(&pj->purged, true))
			atomic_fetch_add(&jm->to_bury, 1);
		log_job(LOG_INFO, "jobmgr", p->ids[i], "job %s deleted", p->ids[i]);
	}
	free(p->ids);
}

/* A pass's batch to the store (the sweeper waits for none), unless empty. */
static void submit_or_free(struct jobmgr *jm, struct store_batch *b)
{
	if (store_batch_ops(b))
		store_submit(jm->cfg.store, b, NULL, NULL);
	else
		store_batch_free(b);
}

/* The running updates' passes alone (a kick: an instance got where its
 * update wants it, so the window has room now). */
static void step_updates(struct jobmgr *jm)
{
	struct store_batch *b = store_batch_new(jm->cfg.store);
	if (!b)
		return;
	pthread_rwlock_rdlock(&jm->lock);
	for (struct jm_job *j = jm->all; j; j = j->all_next) {
		pthread_mutex_lock(&j->mu);
		if (!j->deleted && jm_update_live(j->upd))
			jm__rollout_step__(jm, j, b);
		pthread_mutex_unlock(&j->mu);
	}
	pthread_rwlock_unlock(&jm->lock);
	submit_or_free(jm, b);
}

/* Sleeps until tick_ns (CLOCK_MONOTONIC), running the updates' passes
 * whenever kicked meanwhile. */
static void wait_tick(struct jobmgr *jm, uint64_t tick_ns)
{
	struct timespec until = {(time_t)(tick_ns / 1000000000ull),
	                         (long)(tick_ns % 1000000000ull)};
	pthread_mutex_lock(&jm->kick_mu);
	while (!atomic_load(&jm->stop)) {
		if (jm->kicked) {
			jm->kicked = false;
			pthread_mutex_unlock(&jm->kick_mu);
			step_updates(jm);
			pthread_mutex_lock(&jm->kick_mu);
			continue;
		}
		if (pthread_cond_timedwait(&jm->kick_cv, &jm->kick_mu, &until) != 0)
			break; /* the tick */
	}
	pthread_mutex_unlock(&jm->kick_mu);
}

void *jm__sweeper_main(void *arg)
{
	struct jobmgr *jm = arg;
	while (!atomic_load(&jm->stop)) {
		wait_tick(jm, clock_mono_ns() + 200000000ull);
		if (atomic_load(&jm->stop))
			break;
		uint64_t now = clock_wall_ns();
		struct store_batch *b = store_batch_new(jm->cfg.store);
		if (!b)
			continue;
		preempt(jm, b, now);
		/* a resource manager apart that answers again after an outage may
		 * have restarted and forgotten the tasks waiting in it: every
		 * waiting task is enqueued again (those it kept are refused as
		 * duplicates, which changes nothing) */
		bool requeue = jm->cfg.rm.came_back && jm->cfg.rm.came_back(jm->cfg.rm.arg);
		if (requeue)
			log_info("jobmgr", "the resource manager answers again: enqueueing every "
			                   "waiting task again (it may have restarted)");
		struct purge_list p = {NULL, 0};
		sweep_all(jm, now, b, requeue, &p);
		purge(jm, &p);
		jm__volumes_sweep(jm);
		jm__bury(jm, now);
		submit_or_free(jm, b);
	}
	return NULL;
}
