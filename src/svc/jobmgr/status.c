/* The job manager's Mesos status updates and reconciliation list; see jobmgr.h. */
#include <stdlib.h>
#include <string.h>

#include "fsm.h"
#include "handoff.h"
#include "log.h"
#include "volume.h"
#include "persist.h"
#include "proto_codec.h"
#include "rollout.h"

struct ack_ctx {
	struct jobmgr *jm;
	Mesos__V1__TaskStatus *st;  /* clone, freed after ack */
	hostmgr_update_done_f done; /* NULL: ops.ack */
	void *done_arg;
	char ptask[96];
	enum taskevent ev;
	bool notify, relaunch, ended;
	struct jm_job *j;
	uint32_t inst;
};

/*
 * A task back in PENDING after a failure waits 1 s, 2 s, 4 s ... (at most
 * 60 s) before it is enqueued again. A lost one goes at once the first
 * time; lost again before it ran (a launch the master refuses, an agent
 * that keeps dying), it waits as a failure would, counted by lost_in_row,
 * so a storm of refused launches cannot form. The sweeper enqueues it when
 * due.
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
	if (t->state == TASK_PENDING && !jm_goal_down(t->goal)) {
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

/* A run ended for good: tasks held by sla.maximumRunningInstances may go. */
static void admit_held(struct jm_job *j, struct jobmgr *jm)
{
	pthread_mutex_lock(&j->mu);
	jm__admit_held__(jm, j);
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
		else if (c->ended && !c->jm->rm_apart)
			admit_held(c->j, c->jm); /* apart: the sweeper's next pass */
	}
	protobuf_c_message_free_unpacked(&c->st->base, NULL);
	free(c);
}

/* A long-running task's run that lasted this long since RUNNING was not a
 * flap: its next run starts at once and the backoff starts over. */
#define JM_STABLE_RUN_NS (60ull * 1000000000ull)

/*
 * Applies a terminal outcome's restart policy; j->mu held. True: relaunch.
 * A batch task runs again when lost, or failed within
 * restartPolicy.maxFailures. A SERVICE or DAEMON task runs again whatever
 * the end (until stopped); runs that end within JM_STABLE_RUN_NS of
 * RUNNING, one after another, count as flaps for the backoff.
 */
static bool plan_relaunch(struct jm_job *j, uint32_t inst, enum taskstate s, uint64_t now)
{
	struct jm_task *t = &j->tasks[inst];
	if (t->restart && !j->deleted) {
		t->restart = false; /* killed by RestartTasks: a new run, no failure counted */
		return true;
	}
	if (jm_goal_down(t->goal) || j->deleted)
		return false;
	if (jm_long_running(j->cfg)) {
		if (s == TASK_FAILED)
			t->failures++;
		bool stable = t->start_ns && now - t->start_ns >= JM_STABLE_RUN_NS;
		t->flaps = stable ? 0 : (uint16_t)(t->flaps < UINT16_MAX ? t->flaps + 1 : t->flaps);
		return true;
	}
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

/*
 * An update that changes nothing — a stale run, a repeat, a task already
 * done — is acknowledged; but a run alive on Mesos that is finished here
 * (an older run, or one we stopped whose launch landed after the master
 * had answered our KILL with LOST) is an orphan: killed. j->mu held;
 * released here.
 */
static void unchanged__(struct jobmgr *jm, struct jm_job *j, uint32_t inst, uint32_t run,
                        enum jm_event ev, const Mesos__V1__TaskStatus *st)
{
	const struct jm_task *t = &j->tasks[inst];
	bool done_here = run != t->run ||
	                 (taskstate_terminal((enum taskstate)t->state) && jm_goal_down(t->goal));
	bool orphan = done_here && !jm_event_ends(ev) && st->agent_id && st->agent_id->value &&
	              jm->cfg.hm.kill;
	pthread_mutex_unlock(&j->mu);
	if (orphan) {
		log_task(LOG_WARN, "jobmgr", j->id, inst, NULL,
		         "%s is alive on Mesos but finished here: killing it", st->task_id->value);
		jm->cfg.hm.kill(jm->cfg.hm.arg, st->task_id->value, st->agent_id->value);
	}
}

/* Records the update on the task (j->mu held): message, reason, times,
 * the move; a terminal outcome's restart policy. True: relaunch. */
static bool apply__(struct jm_job *j, uint32_t inst, enum jm_event ev,
                    const Mesos__V1__TaskStatus *st, uint64_t now)
{
	struct jm_task *t = &j->tasks[inst];
	t->due_ns = 0; /* Mesos answered for this run: no reconciliation due */
	free(t->message);
	t->message = st->message ? strdup(st->message) : NULL;
	if (st->has_reason) {
		const ProtobufCEnumValue *rv = protobuf_c_enum_descriptor_get_value(
		    &mesos__v1__task_status__reason__descriptor, st->reason);
		free(t->reason);
		t->reason = rv ? strdup(rv->name) : NULL;
	}
	if (st->has_healthy)
		t->healthy = st->healthy ? PELOTON__API__TASK__HEALTH_STATE__HEALTHY
		                         : PELOTON__API__TASK__HEALTH_STATE__UNHEALTHY;
	jm__move(j, inst, ev);
	enum taskstate ns = (enum taskstate)t->state;
	if (ns == TASK_RUNNING && !t->start_ns)
		t->start_ns = now;
	if (ns == TASK_RUNNING)
		t->lost_in_row = 0;
	else if (ns == TASK_LOST && t->lost_in_row < UINT16_MAX)
		t->lost_in_row++;
	jm__rollout_observe__(j, inst);
	if (!taskstate_terminal(ns))
		return false;
	t->done_ns = now;
	return plan_relaunch(j, inst, ns, now);
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
	enum taskevent rm_ev;
	enum jm_event ev = jm_event_of_mesos(st->state, &rm_ev);
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
	if (ev == JM_LOST && jm_goal_down(t->goal) && run == t->run)
		ev = JM_KILLED;
	/* a health check's verdict on a running task: TASK_RUNNING again, with
	 * `healthy` (Mesos src/launcher/executor.cpp, taskHealthUpdated) */
	bool health =
	    run == t->run && t->state == TASK_RUNNING && ev == JM_RUNNING && st->has_healthy;
	if (!health && (run != t->run || jm_next((enum taskstate)t->state, ev) == TASK_UNKNOWN)) {
		unchanged__(jm, j, inst, run, ev, st);
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
	bool again = apply__(j, inst, ev, st, now);
	if (t->state == TASK_RUNNING)
		jm__volume_running__(jm, b, j, inst); /* reserved and created: CREATED */
	if (t->state == TASK_RUNNING && t->pending_ns) {
		hist_add_ns(&jm->submit_to_running, clock_mono_ns() - t->pending_ns);
		t->pending_ns = 0;
	}
	jm__put_task(jm, b, j, inst,
	             health ? (st->healthy ? "health check passed" : "health check failed")
	                    : st->message);
	if (again) {
		/* the failed run is recorded above; the task goes back to PENDING */
		uint32_t wait = t->state == TASK_LOST     ? t->lost_in_row - 1u
		                : jm_long_running(j->cfg) ? t->flaps
		                : t->state == TASK_FAILED ? t->failures
		                                          : 0;
		jm__move(j, inst, JM_ENQUEUE);
		t->start_ns = t->done_ns = 0;
		t->due_ns = wait ? now + backoff_ns(wait) : 0;
		jm__put_task(jm, b, j, inst, "relaunching");
	}
	if (jm__job_refresh(j))
		jm__put_job_runtime(jm, b, j);
	bool arrived = jm__rollout_arrived__(j, inst);
	pthread_mutex_unlock(&j->mu);
	if (arrived)
		jm__rollout_kick(jm);
	*c = (struct ack_ctx){.jm = jm,
	                      .st = c->st,
	                      .done = done,
	                      .done_arg = arg,
	                      .ev = rm_ev,
	                      .notify = !health,
	                      .relaunch = again,
	                      .ended = !again && taskstate_terminal((enum taskstate)t->state),
	                      .j = j,
	                      .inst = inst};
	snprintf(c->ptask, sizeof(c->ptask), "%s-%u", job, inst);
	if (jm->cfg.write_each_update) {
		after_durable(c, store_write_direct(jm->cfg.store, b, true));
		return;
	}
	store_submit(jm->cfg.store, b, after_durable, c);
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
			if (!jm_on_mesos((enum taskstate)t->state) || !t->agent)
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
