/* The job manager's recovery from the store; see jobmgr.h. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "fsm.h"
#include "handoff.h"
#include "log.h"
#include "persist.h"
#include "proto_codec.h"
#include "rollout.h"
#include "volume.h"

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
		log_job(LOG_ERROR, "jobmgr", id, "job %s: unreadable runtime (%s); skipped", id,
		        why);
		return false;
	}
	uint64_t cv = ri->configversion > 0 ? (uint64_t)ri->configversion : 1;
	Peloton__Api__Job__JobConfig *cfg = jm__load_config(r->jm, id, cv);
	struct jm_job *j = cfg ? jm__job_new(id, cfg) : NULL;
	if (!j) {
		log_job(LOG_ERROR, "jobmgr", id,
		        "job %s: config version %" PRIu64 " unreadable; skipped", id, cv);
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
		jm__load(j, i, TASK_UNKNOWN); /* until its runtime is read */
	if (jm__insert(r->jm, j) != 0) {
		log_job(LOG_ERROR, "jobmgr", id, "job %s: out of memory; skipped", id);
		jm__job_free(j);
		return false;
	}
	if (jm__rollout_load(r->jm, j) != 0)
		log_job(LOG_ERROR, "jobmgr", id, "job %s: its updates could not all be read back",
		        id);
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
		log_task(LOG_ERROR, "jobmgr", job, inst, NULL,
		         "task %s-%u: unreadable runtime; skipped", job, inst);
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
	if (jm__volumes_recover(jm) != 0)
		log_error("jobmgr", "persistent volumes: their records could not all be read back");
	size_t requeued = 0;
	pthread_rwlock_rdlock(&jm->lock);
	for (struct jm_job *j = jm->all; j; j = j->all_next) {
		pthread_mutex_lock(&j->mu);
		uint32_t *pend = calloc(j->n ? j->n : 1, sizeof(uint32_t));
		size_t np = 0;
		for (uint32_t i = 0; i < j->n; i++) {
			struct jm_task *t = &j->tasks[i];
			if (t->state == TASK_INITIALIZED && jm__rollout_holds__(j, i))
				continue; /* an update adds it in its turn */
			/* never reached Mesos: placed again; on Mesos: reconciled
			 * explicitly after SUBSCRIBED, and again later if silent */
			if (!jm__move(j, i, JM_RECOVER) && jm_on_mesos((enum taskstate)t->state))
				t->due_ns = clock_wall_ns() + jm->cfg.reconcile_after_ns;
			if (t->state == TASK_PENDING && !jm_goal_down(t->goal) && pend)
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
