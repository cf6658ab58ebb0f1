/* The job manager's durable records; see persist.h. */
#include <stdlib.h>
#include <string.h>

#include "fsm.h"
#include "log.h"
#include "text.h"
#include "persist.h"
#include "proto_codec.h"

/* The task runtime as a task.RuntimeInfo message (borrowing t's strings). */
uint8_t *jm__pack_task(const struct jm_job *j, uint32_t inst, size_t *len)
{
	const struct jm_task *t = &j->tasks[inst];
	Peloton__Api__Task__RuntimeInfo r = PELOTON__API__TASK__RUNTIME_INFO__INIT;
	Mesos__V1__TaskID mid = MESOS__V1__TASK_ID__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
	char midbuf[128], st[40], dn[40];
	r.state = (Peloton__Api__Task__TaskState)t->state;
	r.goalstate = (Peloton__Api__Task__TaskState)t->goal;
	if (t->run) {
		snprintf(midbuf, sizeof(midbuf), "%s-%u-%u", j->id, inst, t->run);
		mid.value = midbuf;
		r.mesostaskid = &mid;
	}
	if (t->agent) {
		aid.value = t->agent;
		r.agentid = &aid;
	}
	text_rfc3339(t->start_ns, st, sizeof(st));
	text_rfc3339(t->done_ns, dn, sizeof(dn));
	r.starttime = st;
	r.completiontime = dn;
	r.host = t->host ? t->host : "";
	r.message = t->message ? t->message : "";
	r.reason = t->reason ? t->reason : "";
	r.failurecount = t->failures;
	/* the version its run was launched with; the job's current one is the
	 * version it is meant to run (a task not launched yet: that one) */
	r.configversion = t->cfg_ver ? t->cfg_ver : j->cfg_version;
	r.desiredconfigversion = j->cfg_version;
	r.healthy = (Peloton__Api__Task__HealthState)t->healthy;
	/* revision, as upstream: the runtime's version in the store, the job's
	 * creation and the runtime's last write (ns since the epoch) */
	Peloton__Api__Peloton__ChangeLog rev = PELOTON__API__PELOTON__CHANGE_LOG__INIT;
	rev.version = t->version;
	rev.createdat = j->created_ns;
	rev.updatedat = t->updated_ns;
	r.revision = &rev;
	Peloton__Api__Peloton__VolumeID vid = PELOTON__API__PELOTON__VOLUME_ID__INIT;
	if (t->vol) { /* its id never changes */
		vid.value = t->vol->id;
		r.volumeid = &vid;
	}
	Peloton__Api__Task__RuntimeInfo__PortsEntry pe[16], *pp[16];
	const Peloton__Api__Task__TaskConfig *tc = j->merged[inst];
	size_t np = 0;
	for (size_t i = 0; tc && i < tc->n_ports && i < t->n_ports && np < 16; i++) {
		peloton__api__task__runtime_info__ports_entry__init(&pe[np]);
		pe[np].key = tc->ports[i]->name;
		pe[np].value = t->ports[i];
		pp[np] = &pe[np];
		np++;
	}
	r.n_ports = np;
	r.ports = pp;
	return proto_pack_alloc(&r.base, len);
}

int jm__restore_task(struct jm_job *j, uint32_t inst, const void *bytes, size_t len)
{
	const char *why;
	Peloton__Api__Task__RuntimeInfo *r = (Peloton__Api__Task__RuntimeInfo *)proto_decode(
	    &peloton__api__task__runtime_info__descriptor, bytes, len, NULL, &why);
	if (!r)
		return -1;
	struct jm_task *t = &j->tasks[inst];
	jm__load(j, inst, (uint32_t)r->state);
	t->goal = (uint8_t)r->goalstate;
	t->failures = r->failurecount;
	if (r->mesostaskid && r->mesostaskid->value) {
		char job[128];
		uint32_t in, run;
		if (jm__parse_task_id(r->mesostaskid->value, true, job, sizeof(job), &in, &run) ==
		    0)
			t->run = run;
	}
	t->cfg_ver = t->run ? (uint32_t)r->configversion : 0;
	t->healthy = (uint8_t)r->healthy;
	t->updated_ns = r->revision ? r->revision->updatedat : 0;
	/* killed while its goal is still to run: a restart (RestartTasks, a
	 * config change, a preemption that relaunches) the crash interrupted */
	t->restart = t->state == TASK_KILLING && !jm_goal_down(t->goal);
	if (r->host && r->host[0])
		t->host = strdup(r->host);
	if (r->agentid && r->agentid->value)
		t->agent = strdup(r->agentid->value);
	if (r->message && r->message[0])
		t->message = strdup(r->message);
	if (r->reason && r->reason[0])
		t->reason = strdup(r->reason);
	if (r->n_ports) {
		t->ports = calloc(r->n_ports, sizeof(uint32_t));
		for (size_t i = 0; t->ports && i < r->n_ports; i++)
			t->ports[i] = r->ports[i]->value;
		t->n_ports = t->ports ? (uint32_t)r->n_ports : 0;
	}
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return 0;
}

bool jm_job_terminal(Peloton__Api__Job__JobState s)
{
	return s == PELOTON__API__JOB__JOB_STATE__SUCCEEDED ||
	       s == PELOTON__API__JOB__JOB_STATE__FAILED ||
	       s == PELOTON__API__JOB__JOB_STATE__KILLED;
}

/* The job's state from its tasks': done when all are terminal, running
 * once any reached Mesos. A long-running job's tasks are terminal all at
 * once only when stopped: KILLED. */
static Peloton__Api__Job__JobState job_state_of(const struct jm_job *j)
{
	uint32_t live = 0, term = 0;
	for (int s = 0; s < TASK_N_STATES; s++) {
		if (taskstate_terminal((enum taskstate)s))
			term += j->counts[s];
		else if (jm_on_mesos((enum taskstate)s))
			live += j->counts[s];
	}
	/* as upstream: a job with no instances that is stopped is KILLED */
	if (j->n == 0 && j->goal == PELOTON__API__JOB__JOB_STATE__KILLED && !jm_update_live(j->upd))
		return PELOTON__API__JOB__JOB_STATE__KILLED;
	/* (an update in flight, stopBeforeUpdate, may have every task down) */
	if (j->n && term == j->n && !jm_update_live(j->upd)) {
		if (jm_long_running(j->cfg) && j->goal == PELOTON__API__JOB__JOB_STATE__KILLED)
			return PELOTON__API__JOB__JOB_STATE__KILLED;
		if (j->counts[TASK_FAILED] || j->counts[TASK_LOST])
			return PELOTON__API__JOB__JOB_STATE__FAILED;
		if (j->counts[TASK_KILLED])
			return PELOTON__API__JOB__JOB_STATE__KILLED;
		return PELOTON__API__JOB__JOB_STATE__SUCCEEDED;
	}
	/* a long-running job, once it ran, stays RUNNING while its tasks
	 * restart (all of them between runs at once included) */
	if (live || term || (j->started_ns && jm_long_running(j->cfg)))
		return PELOTON__API__JOB__JOB_STATE__RUNNING;
	return PELOTON__API__JOB__JOB_STATE__PENDING;
}

Peloton__Api__Job__RuntimeInfo *jm__job_runtime(const struct jm_job *j)
{
	Peloton__Api__Job__RuntimeInfo *r = (Peloton__Api__Job__RuntimeInfo *)proto_new(
	    &peloton__api__job__runtime_info__descriptor);
	if (!r)
		return NULL;
	char b[40];
	r->state = j->state;
	r->goalstate = j->goal;
	text_rfc3339(j->created_ns, b, sizeof(b));
	r->creationtime = strdup(b);
	text_rfc3339(j->started_ns, b, sizeof(b));
	r->starttime = strdup(b);
	text_rfc3339(j->done_ns, b, sizeof(b));
	r->completiontime = strdup(b);
	r->configversion = (int64_t)j->cfg_version;
	size_t n = 0;
	for (int s = 0; s < TASK_N_STATES; s++)
		n += j->counts[s] ? 1 : 0;
	r->taskstats = calloc(n ? n : 1, sizeof(*r->taskstats));
	for (int s = 0; r->taskstats && s < TASK_N_STATES; s++) {
		if (!j->counts[s])
			continue;
		Peloton__Api__Job__RuntimeInfo__TaskStatsEntry *e =
		    (Peloton__Api__Job__RuntimeInfo__TaskStatsEntry *)proto_new(
		        &peloton__api__job__runtime_info__task_stats_entry__descriptor);
		if (!e)
			break;
		e->key = strdup(taskstate_name((enum taskstate)s));
		e->value = j->counts[s];
		r->taskstats[r->n_taskstats++] = e;
	}
	return r;
}

/* Adds the job runtime to b. j->mu held. */
int jm__put_job_runtime(struct jobmgr *jm, struct store_batch *b, struct jm_job *j)
{
	Peloton__Api__Job__RuntimeInfo *r = jm__job_runtime(j);
	size_t len;
	uint8_t *bytes = r ? proto_pack_alloc(&r->base, &len) : NULL;
	if (r)
		protobuf_c_message_free_unpacked(&r->base, NULL);
	if (!bytes)
		return -1;
	int rc = store_put(b, STORE_JOB_RUNTIME, j->id, strlen(j->id), bytes, len, ++j->version,
	                   STORE_ANY_VERSION);
	free(bytes);
	return rc;
}

/* Recomputes the job state after task counts moved; j->mu held. True if it changed. */
bool jm__job_refresh(struct jm_job *j)
{
	Peloton__Api__Job__JobState s = job_state_of(j);
	if (s == j->state)
		return false;
	if (s == PELOTON__API__JOB__JOB_STATE__RUNNING && !j->started_ns)
		j->started_ns = clock_wall_ns();
	if (jm_job_terminal(s))
		j->done_ns = clock_wall_ns();
	else
		j->done_ns = 0; /* running again (instances added, tasks started) */
	log_job(LOG_INFO, "jobmgr", j->id, "job %s: %s -> %s", j->id,
	        protobuf_c_enum_descriptor_get_value(&peloton__api__job__job_state__descriptor,
	                                             j->state)
	            ->name,
	        protobuf_c_enum_descriptor_get_value(&peloton__api__job__job_state__descriptor, s)
	            ->name);
	j->state = s;
	return true;
}

int jm__put_task(struct jobmgr *jm, struct store_batch *b, struct jm_job *j, uint32_t inst,
                 const char *msg)
{
	struct jm_task *t = &j->tasks[inst];
	size_t rlen, elen;
	uint64_t now = clock_wall_ns();
	uint64_t was = t->updated_ns;
	t->updated_ns = now;
	t->version++; /* what the store will hold, in the revision written */
	uint8_t *rt = jm__pack_task(j, inst, &rlen);
	t->version--;
	Peloton__Api__Task__TaskEvent ev = PELOTON__API__TASK__TASK_EVENT__INIT;
	Peloton__Api__Peloton__TaskID tid = PELOTON__API__PELOTON__TASK_ID__INIT;
	char id[128], ts[40];
	/* the event's run, as a Mesos task id (upstream groups events by it): the
	 * current run's, or the next one's while the task waits to be launched */
	uint32_t run = t->run;
	if (run == 0 || t->state == TASK_PENDING || t->state == TASK_INITIALIZED)
		run++;
	snprintf(id, sizeof(id), "%s-%u-%u", j->id, inst, run);
	tid.value = id;
	text_rfc3339(now, ts, sizeof(ts));
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
	else
		t->updated_ns = was;
	free(rt);
	free(eb);
	return rc;
}

Peloton__Api__Job__JobConfig *jm__load_config(struct jobmgr *jm, const char *job, uint64_t ver)
{
	char key[160];
	size_t kl = store_key_job_config(key, job, ver);
	void *v = NULL;
	size_t vl = 0;
	uint64_t sv;
	if (store_get(jm->cfg.store, STORE_JOB_CONFIG, key, kl, &v, &vl, &sv) != STORE_OK)
		return NULL;
	const char *why;
	Peloton__Api__Job__JobConfig *c = (Peloton__Api__Job__JobConfig *)proto_decode(
	    &peloton__api__job__job_config__descriptor, v, vl, NULL, &why);
	free(v);
	return c;
}

/* ---- create ---- */

/* Persists the current config version, tasks [from, n) (each with a
 * TaskEvent saying msg) and the job runtime. */
int jm__persist_tasks(struct jobmgr *jm, struct jm_job *j, uint32_t from, const char *msg)
{
	char key[160];
	struct store_batch *b = store_batch_new(jm->cfg.store);
	if (!b)
		return -1;
	size_t kl = store_key_job_config(key, j->id, j->cfg_version);
	store_put(b, STORE_JOB_CONFIG, key, kl, j->cfg_bytes, j->cfg_len, j->cfg_version,
	          STORE_ABSENT);
	pthread_mutex_lock(&j->mu);
	for (uint32_t i = from; i < j->n; i++) {
		if (jm__put_task(jm, b, j, i, msg) != 0) {
			pthread_mutex_unlock(&j->mu);
			store_batch_free(b);
			return -1;
		}
		if ((i + 1 - from) % JOBMGR_CHUNK == 0 && i + 1 < j->n) {
			/* chunked: a 100k-instance job is not one huge batch */
			pthread_mutex_unlock(&j->mu);
			if (store_commit(jm->cfg.store, b) != STORE_OK)
				return -1;
			if (!(b = store_batch_new(jm->cfg.store)))
				return -1;
			pthread_mutex_lock(&j->mu);
		}
	}
	/* the job runtime last: a job whose runtime exists has all its tasks */
	jm__put_job_runtime(jm, b, j);
	pthread_mutex_unlock(&j->mu);
	return store_commit(jm->cfg.store, b) == STORE_OK ? 0 : -1;
}
