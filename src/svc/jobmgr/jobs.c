/* The job manager's operations; see jobs.h. */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fsm.h"
#include "handoff.h"
#include "ids.h"
#include "jobs.h"
#include "log.h"
#include "volume.h"
#include "persist.h"
#include "proto_codec.h"
#include "rollout.h"

static bool same_config(const struct jm_job *j, const uint8_t *bytes, size_t len)
{
	return j->cfg_len == len && memcmp(j->cfg_bytes, bytes, len) == 0;
}

Peloton__Api__Peloton__ChangeLog *jm__changelog(const struct jm_job *j)
{
	Peloton__Api__Peloton__ChangeLog *c =
	    PB_NEW(Peloton__Api__Peloton__ChangeLog, peloton__api__peloton__change_log__descriptor);
	if (!c)
		return NULL;
	c->version = j->cfg_version;
	c->createdat = c->updatedat = j->created_ns;
	for (const struct jm_update *u = j->upd; u; u = u->job_next)
		if (u->to_ver == j->cfg_version) {
			c->updatedat = u->created_ns;
			break;
		}
	return c;
}

bool jm__valid_job_id(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n >= 48)
		return false;
	for (size_t i = 0; i < n; i++)
		if (id[i] == '/' || (unsigned char)id[i] <= ' ' || id[i] == 0x7f)
			return false;
	return true;
}

enum rpc_code jm__create(struct jobmgr *jm, const char *given_id,
                         const Peloton__Api__Job__JobConfig *cfg, char *id_out, char *err,
                         size_t errlen)
{
	if (!cfg)
		return snprintf(err, errlen, "config is required"), RPC_INVALID_ARGUMENT;
	if (jobmgr_validate(jm, cfg, err, errlen) != 0)
		return RPC_INVALID_ARGUMENT;
	size_t len;
	uint8_t *bytes = proto_pack_alloc(&cfg->base, &len);
	if (!bytes)
		return snprintf(err, errlen, "out of memory"), RPC_INTERNAL;
	char id[64];
	if (given_id && given_id[0]) {
		if (!jm__valid_job_id(given_id)) {
			free(bytes);
			return snprintf(err, errlen, "job id '%.60s' is not valid", given_id),
			       RPC_INVALID_ARGUMENT;
		}
		snprintf(id, sizeof(id), "%s", given_id);
		struct jm_job *old = jm__find(jm, id);
		if (old) {
			bool same = same_config(old, bytes, len);
			free(bytes);
			snprintf(id_out, 64, "%s", id);
			if (same)
				return RPC_OK; /* an idempotent retry */
			return snprintf(err, errlen, "job %s already exists", id),
			       RPC_ALREADY_EXISTS;
		}
	} else {
		ids_uuid(id);
	}
	Peloton__Api__Job__JobConfig *own = (Peloton__Api__Job__JobConfig *)proto_clone(&cfg->base);
	struct jm_job *j = own ? jm__job_new(id, own) : NULL;
	if (!j) {
		if (own)
			protobuf_c_message_free_unpacked(&own->base, NULL);
		free(bytes);
		return snprintf(err, errlen, "out of memory"), RPC_INTERNAL;
	}
	j->cfg_bytes = bytes;
	j->cfg_len = len;
	j->cfg_version = 1;
	j->created_ns = clock_wall_ns();
	j->state = PELOTON__API__JOB__JOB_STATE__PENDING;
	for (uint32_t i = 0; i < j->n; i++) {
		jm__move(j, i, JM_ENQUEUE);
		j->tasks[i].goal = jm_task_goal(j);
	}
	j->goal = jm_job_goal(j);
	if (jm__persist_tasks(jm, j, 0, "created") != 0) {
		jm__job_free(j);
		return snprintf(err, errlen, "cannot persist the job"), RPC_INTERNAL;
	}
	if (jm__insert(jm, j) != 0) {
		/* the store refuses a second config of one id, so a concurrent
		 * create of the same id fails above: this is ENOMEM */
		log_job(LOG_ERROR, "jobmgr", id,
		        "job %s: persisted but not kept in memory (out of memory); "
		        "it comes back at the next restart",
		        id);
		jm__job_free(j);
		return snprintf(err, errlen, "out of memory"), RPC_INTERNAL;
	}
	uint32_t *all = calloc(j->n, sizeof(uint32_t));
	for (uint32_t i = 0; all && i < j->n; i++)
		all[i] = i;
	pthread_mutex_lock(&j->mu);
	size_t q = all ? jm__enqueue(jm, j, all, j->n) : 0;
	pthread_mutex_unlock(&j->mu);
	free(all);
	log_job(LOG_INFO, "jobmgr", id, "job %s created: %u instances in pool %s, %zu enqueued", id,
	        j->n, j->pool, q);
	snprintf(id_out, 64, "%s", id);
	return RPC_OK;
}

struct jm_job *jm__live_job(struct jobmgr *jm, const Peloton__Api__Peloton__JobID *id)
{
	if (!id || !id->value)
		return NULL;
	struct jm_job *j = jm__find(jm, id->value);
	return j && !j->deleted ? j : NULL;
}

/*
 * UpdateJob: any change of the config (instances added or removed, command,
 * resources, image, labels, ...) is an update of the whole job in one
 * batch (rollout.c); the same config again changes nothing.
 */
enum rpc_code jm__update(struct jobmgr *jm, struct jm_job *j,
                         const Peloton__Api__Job__JobConfig *cfg, char *err, size_t len)
{
	if (!cfg)
		return snprintf(err, len, "config is required"), RPC_INVALID_ARGUMENT;
	size_t blen;
	uint8_t *bytes = proto_pack_alloc(&cfg->base, &blen);
	if (!bytes)
		return snprintf(err, len, "out of memory"), RPC_INTERNAL;
	pthread_mutex_lock(&j->mu);
	bool same = same_config(j, bytes, blen);
	pthread_mutex_unlock(&j->mu);
	free(bytes);
	if (same)
		return RPC_OK;
	char id[40];
	return jm__rollout_create(jm, j, cfg, NULL, id, err, len);
}

/* Stops insts into b (j->mu held): goal KILLED; a run on Mesos killed, a
 * task not on Mesos yet dropped by the resource manager and KILLED. */
static void stop__(struct jobmgr *jm, struct jm_job *j, const uint32_t *insts, size_t n,
                   struct store_batch *b)
{
	for (size_t k = 0; k < n; k++)
		if (jm__stop_task__(jm, j, insts[k]))
			jm__put_task(jm, b, j, insts[k], "stop requested");
}

enum store_status jm__stop(struct jobmgr *jm, struct jm_job *j, const uint32_t *insts, size_t n)
{
	struct store_batch *b = store_batch_new(jm->cfg.store);
	if (!b)
		return STORE_ENOMEM;
	pthread_mutex_lock(&j->mu);
	stop__(jm, j, insts, n, b);
	/* a long-running job keeps its goal while some instances run on */
	if (n == j->n || !jm_long_running(j->cfg))
		j->goal = PELOTON__API__JOB__JOB_STATE__KILLED;
	if (jm__job_refresh(j))
		jm__put_job_runtime(jm, b, j);
	pthread_mutex_unlock(&j->mu);
	enum store_status ss = store_commit(jm->cfg.store, b);
	pthread_mutex_lock(&j->mu);
	jm__admit_held__(jm, j); /* the stopped ones' room */
	pthread_mutex_unlock(&j->mu);
	return ss;
}

/* A live job: every task stopped; the sweeper removes the job once it is terminal. */
static enum rpc_code delete_live(struct jobmgr *jm, struct jm_job *j, char *err, size_t errlen)
{
	size_t n;
	uint32_t *v = jm__instances(j, NULL, 0, &n);
	if (!v)
		return snprintf(err, errlen, "out of memory"), RPC_INTERNAL;
	pthread_mutex_lock(&j->mu);
	j->delete_pending = true;
	pthread_mutex_unlock(&j->mu);
	enum store_status ss = jm__stop(jm, j, v, n);
	free(v);
	if (ss != STORE_OK)
		return snprintf(err, errlen, "cannot persist the stop of job %s", j->id),
		       RPC_INTERNAL;
	log_job(LOG_INFO, "jobmgr", j->id, "job %s: stopping its tasks; deleted once terminal",
	        j->id);
	return RPC_OK;
}

enum rpc_code jm__delete(struct jobmgr *jm, struct jm_job *j, char *err, size_t errlen)
{
	pthread_mutex_lock(&j->mu);
	bool terminal = jm_job_terminal(j->state);
	if (terminal)
		j->deleted = true;
	pthread_mutex_unlock(&j->mu);
	if (!terminal)
		return delete_live(jm, j, err, errlen);
	if (store_purge_job(jm->cfg.store, j->id) != STORE_OK) {
		log_job(LOG_ERROR, "jobmgr", j->id, "job %s: purge from the store failed", j->id);
		return snprintf(err, errlen, "cannot delete job %s from the store", j->id),
		       RPC_INTERNAL;
	}
	jm__volumes_release_job(jm, j->id);
	if (!atomic_exchange(&j->purged, true)) /* the sweeper unlinks it */
		atomic_fetch_add(&jm->to_bury, 1);
	log_job(LOG_INFO, "jobmgr", j->id, "job %s deleted", j->id);
	return RPC_OK;
}

void jm__range(const struct jm_job *j, const Peloton__Api__Task__InstanceRange *rg, uint32_t *from,
               uint32_t *to)
{
	*from = rg ? rg->from : 0;
	*to = rg && rg->to ? rg->to : j->n;
	if (*to > j->n)
		*to = j->n;
	if (*from > *to)
		*from = *to;
}

static int range_cmp(const void *a, const void *b)
{
	const uint32_t *x = a, *y = b;
	return x[0] < y[0] ? -1 : x[0] > y[0];
}

/*
 * The ranges' instances, each once and in order: the ranges are sorted and
 * merged first, so the answer is at most the job's size whatever the
 * request repeats (30,000 copies of one whole-job range cost 30,000 range
 * pairs, not 30,000 copies of the job).
 */
uint32_t *jm__instances(struct jm_job *j, Peloton__Api__Task__InstanceRange *const *rg, size_t nrg,
                        size_t *n)
{
	*n = 0;
	uint32_t *v = calloc(j->n ? j->n : 1, sizeof(uint32_t));
	uint32_t(*pairs)[2] = nrg ? calloc(nrg, sizeof(*pairs)) : NULL;
	if (!v || (nrg && !pairs)) {
		free(v);
		free(pairs);
		return NULL;
	}
	if (!nrg) {
		for (uint32_t i = 0; i < j->n; i++)
			v[(*n)++] = i;
		return v;
	}
	for (size_t k = 0; k < nrg; k++)
		jm__range(j, rg[k], &pairs[k][0], &pairs[k][1]);
	qsort(pairs, nrg, sizeof(*pairs), range_cmp);
	uint32_t next = 0; /* instances below are emitted */
	for (size_t k = 0; k < nrg; k++) {
		for (uint32_t i = pairs[k][0] > next ? pairs[k][0] : next; i < pairs[k][1]; i++)
			v[(*n)++] = i;
		if (pairs[k][1] > next)
			next = pairs[k][1];
	}
	free(pairs);
	return v;
}

/*
 * The end of Start and Restart (j->mu held; released here): the job's goal
 * back to SUCCEEDED, the batch committed, then the tasks sent to PENDING
 * enqueued. Returns the commit's status.
 */
static enum store_status start_commit__(struct jobmgr *jm, struct jm_job *j, struct store_batch *b,
                                        const uint32_t *insts, size_t n)
{
	j->goal = jm_job_goal(j);
	if (jm__job_refresh(j))
		jm__put_job_runtime(jm, b, j);
	pthread_mutex_unlock(&j->mu);
	enum store_status ss = store_commit(jm->cfg.store, b);
	if (ss == STORE_OK && n) {
		pthread_mutex_lock(&j->mu);
		jm__enqueue(jm, j, insts, n);
		pthread_mutex_unlock(&j->mu);
	}
	return ss;
}

/* A terminal task's next run (j->mu held): PENDING, recorded into b. */
static bool again__(struct jobmgr *jm, struct jm_job *j, uint32_t i, struct store_batch *b,
                    const char *why)
{
	struct jm_task *t = &j->tasks[i];
	if (!taskstate_terminal((enum taskstate)t->state) || !jm__move(j, i, JM_ENQUEUE))
		return false;
	t->start_ns = t->done_ns = 0;
	jm__put_task(jm, b, j, i, why);
	return true;
}

enum store_status jm__start(struct jobmgr *jm, struct jm_job *j, const uint32_t *insts, size_t n,
                            uint32_t *started, size_t *n_started)
{
	struct store_batch *b = store_batch_new(jm->cfg.store);
	*n_started = 0;
	if (!b)
		return STORE_ENOMEM;
	pthread_mutex_lock(&j->mu);
	for (size_t k = 0; k < n; k++) {
		j->tasks[insts[k]].goal = jm_task_goal(j); /* running or on its way: that is all */
		if (again__(jm, j, insts[k], b, "start requested"))
			started[(*n_started)++] = insts[k];
	}
	return start_commit__(jm, j, b, started, *n_started);
}

enum store_status jm__restart(struct jobmgr *jm, struct jm_job *j, const uint32_t *insts, size_t n)
{
	uint32_t *again = calloc(n ? n : 1, sizeof(uint32_t));
	struct store_batch *b = again ? store_batch_new(jm->cfg.store) : NULL;
	size_t nq = 0;
	if (!b) {
		free(again);
		return STORE_ENOMEM;
	}
	pthread_mutex_lock(&j->mu);
	for (size_t k = 0; k < n; k++) {
		uint32_t i = insts[k];
		struct jm_task *t = &j->tasks[i];
		t->goal = jm_task_goal(j);
		if (again__(jm, j, i, b, "restart requested")) {
			again[nq++] = i;
		} else if (jm_on_mesos((enum taskstate)t->state) && t->state != TASK_KILLING &&
		           t->agent) {
			t->restart = true;
			jm__kill_run(jm, j, i, clock_wall_ns());
			jm__put_task(jm, b, j, i, "restart requested: killing the current run");
		}
	}
	enum store_status ss = start_commit__(jm, j, b, again, nq);
	free(again);
	return ss;
}
