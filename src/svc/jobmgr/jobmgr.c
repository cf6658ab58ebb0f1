/* The job manager; see jobmgr.h. */
#include "jobmgr.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "jobmgr_int.h"
#include "log.h"
#include "proto_codec.h"
#include "rmtask.h"

#define N_BUCKETS 4096

void jm__rfc3339(uint64_t ns, char *buf, size_t len)
{
	if (!ns) {
		buf[0] = 0;
		return;
	}
	time_t s = (time_t)(ns / 1000000000ull);
	struct tm tm;
	gmtime_r(&s, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03uZ", (unsigned)(ns / 1000000ull % 1000));
}

static uint32_t hash_id(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

struct jm_job *jm__find(struct jobmgr *jm, const char *id)
{
	struct jm_job *j;
	pthread_rwlock_rdlock(&jm->lock);
	for (j = jm->buckets[hash_id(id) % N_BUCKETS]; j; j = j->next)
		if (strcmp(j->id, id) == 0)
			break;
	pthread_rwlock_unlock(&jm->lock);
	return j;
}

static void insert_job(struct jobmgr *jm, struct jm_job *j)
{
	uint32_t b = hash_id(j->id) % N_BUCKETS;
	pthread_rwlock_wrlock(&jm->lock);
	j->next = jm->buckets[b];
	jm->buckets[b] = j;
	j->all_next = jm->all;
	jm->all = j;
	jm->n_jobs++;
	pthread_rwlock_unlock(&jm->lock);
}

static void task_fini(struct jm_task *t)
{
	free(t->host);
	free(t->agent);
	free(t->ports);
	free(t->message);
	free(t->reason);
}

static void job_free(struct jm_job *j)
{
	if (!j)
		return;
	for (uint32_t i = 0; j->tasks && i < j->n; i++)
		task_fini(&j->tasks[i]);
	free(j->tasks);
	for (uint32_t i = 0; j->merged && i < j->n; i++)
		if (j->merged[i] && j->merged[i] != j->cfg->defaultconfig)
			protobuf_c_message_free_unpacked(&j->merged[i]->base, NULL);
	free(j->merged);
	if (j->cfg)
		protobuf_c_message_free_unpacked(&j->cfg->base, NULL);
	for (size_t i = 0; i < j->n_old_cfgs; i++)
		protobuf_c_message_free_unpacked(&j->old_cfgs[i]->base, NULL);
	free(j->old_cfgs);
	free(j->cfg_bytes);
	pthread_mutex_destroy(&j->mu);
	free(j);
}

struct jobmgr *jobmgr_create(const struct jobmgr_config *cfg)
{
	struct jobmgr *jm = calloc(1, sizeof(*jm));
	if (!jm)
		return NULL;
	jm->cfg = *cfg;
	jm->rm_apart = jm->cfg.rm.came_back != NULL;
	if (!jm->cfg.max_instances)
		jm->cfg.max_instances = 100000;
	if (!jm->cfg.launch_batch)
		jm->cfg.launch_batch = 64;
	if (!jm->cfg.reconcile_after_ns)
		jm->cfg.reconcile_after_ns = 120000000000ull;
	jm->buckets = calloc(N_BUCKETS, sizeof(*jm->buckets));
	if (!jm->buckets) {
		free(jm);
		return NULL;
	}
	pthread_rwlock_init(&jm->lock, NULL);
	pthread_mutex_init(&jm->launch_mu, NULL);
	pthread_cond_init(&jm->launch_cv, NULL);
	return jm;
}

/* A deleted job's memory outlives its removal from the index by this much:
 * far longer than any call holds a job pointer (RPC deadlines, a launch
 * batch, one status update). */
#define GRAVE_NS (600ull * 1000000000ull)

void jm__bury(struct jobmgr *jm, uint64_t now)
{
	if (!atomic_load(&jm->to_bury) && !atomic_load(&jm->buried))
		return; /* nothing to do: no write lock taken */
	pthread_rwlock_wrlock(&jm->lock);
	for (struct jm_job **pp = &jm->all; *pp;) {
		struct jm_job *j = *pp;
		if (!atomic_load(&j->purged)) {
			pp = &j->all_next;
			continue;
		}
		atomic_fetch_sub(&jm->to_bury, 1);
		atomic_fetch_add(&jm->buried, 1);
		*pp = j->all_next;
		struct jm_job **bp = &jm->buckets[hash_id(j->id) % N_BUCKETS];
		while (*bp && *bp != j)
			bp = &(*bp)->next;
		if (*bp)
			*bp = j->next;
		jm->n_jobs--;
		j->buried_ns = now;
		j->all_next = jm->graveyard;
		jm->graveyard = j;
	}
	struct jm_job *old = NULL;
	for (struct jm_job **pp = &jm->graveyard; *pp;) {
		struct jm_job *j = *pp;
		if (now - j->buried_ns >= GRAVE_NS) {
			atomic_fetch_sub(&jm->buried, 1);
			*pp = j->all_next;
			j->all_next = old;
			old = j;
		} else {
			pp = &j->all_next;
		}
	}
	pthread_rwlock_unlock(&jm->lock);
	while (old) {
		struct jm_job *n = old->all_next;
		job_free(old);
		old = n;
	}
}

void jobmgr_destroy(struct jobmgr *jm)
{
	if (!jm)
		return;
	jobmgr_stop(jm);
	for (int list = 0; list < 2; list++) {
		struct jm_job *j = list ? jm->graveyard : jm->all;
		while (j) {
			struct jm_job *n = j->all_next;
			job_free(j);
			j = n;
		}
	}
	pthread_rwlock_destroy(&jm->lock);
	pthread_mutex_destroy(&jm->launch_mu);
	pthread_cond_destroy(&jm->launch_cv);
	free(jm->buckets);
	free(jm);
}

/* ---- ids ---- */

void jm__uuid(char out[37])
{
	uint8_t b[16];
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
		uint64_t x = clock_wall_ns() ^ (uint64_t)(uintptr_t)out;
		for (int i = 0; i < 16; i++, x = x * 6364136223846793005ull + 1)
			b[i] = (uint8_t)(x >> 56);
	}
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	         b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
	         b[13], b[14], b[15]);
}

/* "<job>-<instance>[-<run>]" -> job, instance, run (run 0 when absent). */
int jm__parse_task_id(const char *id, bool with_run, char *job, size_t jlen, uint32_t *inst,
                      uint32_t *run)
{
	const char *d1 = strrchr(id, '-');
	if (!d1)
		return -1;
	const char *d2 = d1;
	*run = 0;
	if (with_run) {
		char *end;
		unsigned long r = strtoul(d1 + 1, &end, 10);
		if (*end || end == d1 + 1)
			return -1;
		*run = (uint32_t)r;
		for (d2 = d1 - 1; d2 > id && *d2 != '-'; d2--)
			;
		if (d2 <= id)
			return -1;
	}
	char *end;
	unsigned long in = strtoul(d2 + 1, &end, 10);
	if (end != (with_run ? d1 : d1 + strlen(d1)) || end == d2 + 1)
		return -1;
	size_t n = (size_t)(d2 - id);
	if (n == 0 || n >= jlen)
		return -1;
	memcpy(job, id, n);
	job[n] = 0;
	*inst = (uint32_t)in;
	return 0;
}

/* ---- persistence ---- */

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
	jm__rfc3339(t->start_ns, st, sizeof(st));
	jm__rfc3339(t->done_ns, dn, sizeof(dn));
	r.starttime = st;
	r.completiontime = dn;
	r.host = t->host ? t->host : "";
	r.message = t->message ? t->message : "";
	r.reason = t->reason ? t->reason : "";
	r.failurecount = t->failures;
	r.configversion = j->cfg_version;
	r.desiredconfigversion = j->cfg_version;
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
	t->state = (uint8_t)r->state;
	t->goal = (uint8_t)r->goalstate;
	t->failures = r->failurecount;
	if (r->mesostaskid && r->mesostaskid->value) {
		char job[128];
		uint32_t in, run;
		if (jm__parse_task_id(r->mesostaskid->value, true, job, sizeof(job), &in, &run) ==
		    0)
			t->run = run;
	}
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

static Peloton__Api__Job__JobState job_state_of(const struct jm_job *j)
{
	uint32_t live = 0, term = 0;
	for (int s = 0; s < TASK_N_STATES; s++) {
		if (taskstate_terminal((enum taskstate)s))
			term += j->counts[s];
		else if (s != TASK_INITIALIZED && s != TASK_PENDING && s != TASK_READY &&
		         s != TASK_PLACING && s != TASK_PLACED)
			live += j->counts[s];
	}
	if (j->n && term == j->n) {
		if (j->counts[TASK_FAILED] || j->counts[TASK_LOST])
			return PELOTON__API__JOB__JOB_STATE__FAILED;
		if (j->counts[TASK_KILLED])
			return PELOTON__API__JOB__JOB_STATE__KILLED;
		return PELOTON__API__JOB__JOB_STATE__SUCCEEDED;
	}
	if (live || term)
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
	jm__rfc3339(j->created_ns, b, sizeof(b));
	r->creationtime = strdup(b);
	jm__rfc3339(j->started_ns, b, sizeof(b));
	r->starttime = strdup(b);
	jm__rfc3339(j->done_ns, b, sizeof(b));
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

/* Adds the job runtime (and its index entry) to b. j->mu held. */
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
	const char *labels[32];
	char lbuf[32][160];
	size_t nl = 0;
	for (size_t i = 0; i < j->cfg->n_labels && nl < 32; i++) {
		snprintf(lbuf[nl], sizeof(lbuf[nl]), "%s=%s", j->cfg->labels[i]->key,
		         j->cfg->labels[i]->value);
		labels[nl] = lbuf[nl];
		nl++;
	}
	bool term = j->state >= PELOTON__API__JOB__JOB_STATE__SUCCEEDED;
	if (rc == 0)
		rc = store_job_index_set(jm->cfg.store, b, j->id, j->pool, (uint32_t)j->state,
		                         labels, nl, term ? j->done_ns : 0);
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
	if (s >= PELOTON__API__JOB__JOB_STATE__SUCCEEDED)
		j->done_ns = clock_wall_ns();
	else
		j->done_ns = 0; /* running again (instances added, tasks started) */
	log_info("jobmgr", "job %s: %s -> %s", j->id,
	         protobuf_c_enum_descriptor_get_value(&peloton__api__job__job_state__descriptor,
	                                              j->state)
	             ->name,
	         protobuf_c_enum_descriptor_get_value(&peloton__api__job__job_state__descriptor, s)
	             ->name);
	j->state = s;
	return true;
}

void jm__set_state(struct jm_job *j, uint32_t inst, enum taskstate s)
{
	struct jm_task *t = &j->tasks[inst];
	if (t->state < TASK_N_STATES && j->counts[t->state])
		j->counts[t->state]--;
	t->state = (uint8_t)s;
	j->counts[s]++;
}

/* ---- enqueue ---- */

static enum resmgr_task_type rm_type(Peloton__Api__Job__JobType t)
{
	return t == PELOTON__API__JOB__JOB_TYPE__SERVICE ? RM_TYPE_STATELESS : RM_TYPE_BATCH;
}

#define ENQUEUE_RETRY_NS 1000000000ull

/* Enqueues instances [from, to) of j (j->mu held). Returns tasks accepted. */
size_t jm__enqueue(struct jobmgr *jm, struct jm_job *j, const uint32_t *insts, size_t n)
{
	uint32_t gang = j->cfg->sla && j->cfg->sla->minimumrunninginstances > 1
	                    ? j->cfg->sla->minimumrunninginstances
	                    : 1;
	struct resmgr_task_spec *specs = calloc(n ? n : 1, sizeof(*specs));
	struct resmgr_gang_spec *gangs = calloc(n ? n : 1, sizeof(*gangs));
	char(*ids)[96] = calloc(n ? n : 1, sizeof(*ids));
	size_t ok = 0, ng = 0;
	if (!specs || !gangs || !ids)
		goto out;
	Peloton__Api__Peloton__JobID jid = PELOTON__API__PELOTON__JOB_ID__INIT;
	jid.value = j->id;
	for (size_t k = 0; k < n; k++) {
		uint32_t i = insts[k];
		const Peloton__Api__Task__TaskConfig *tc = j->merged[i];
		Peloton__Private__Resmgr__Task t = PELOTON__PRIVATE__RESMGR__TASK__INIT;
		Peloton__Api__Peloton__TaskID tid = PELOTON__API__PELOTON__TASK_ID__INIT;
		Mesos__V1__Labels labels = MESOS__V1__LABELS__INIT;
		Mesos__V1__Label lv[32], *lp[32];
		snprintf(ids[k], sizeof(ids[k]), "%s-%u", j->id, i);
		tid.value = ids[k];
		t.name = tc->name && tc->name[0] ? tc->name : j->cfg->name;
		t.id = &tid;
		t.jobid = &jid;
		t.resource = tc->resource;
		t.priority = j->cfg->sla ? j->cfg->sla->priority : 0;
		t.preemptible = j->cfg->sla ? j->cfg->sla->preemptible : false;
		t.type = (Peloton__Private__Resmgr__TaskType)rm_type(j->cfg->type);
		t.numports = 0;
		for (size_t p = 0; p < tc->n_ports; p++)
			t.numports += tc->ports[p]->value == 0;
		t.constraint = tc->constraint;
		t.mininstances = gang;
		/* task labels, then the job's (placement strategy lives there) */
		size_t nl = 0;
		for (size_t l = 0; l < tc->n_labels && nl < 32; l++, nl++) {
			mesos__v1__label__init(&lv[nl]);
			lv[nl].key = tc->labels[l]->key;
			lv[nl].value = tc->labels[l]->value;
			lp[nl] = &lv[nl];
		}
		for (size_t l = 0; l < j->cfg->n_labels && nl < 32; l++, nl++) {
			mesos__v1__label__init(&lv[nl]);
			lv[nl].key = j->cfg->labels[l]->key;
			lv[nl].value = j->cfg->labels[l]->value;
			lp[nl] = &lv[nl];
		}
		labels.n_labels = nl;
		labels.labels = lp;
		t.labels = nl ? &labels : NULL;
		if (!rmtask_spec(&t, &specs[k]))
			goto out;
		specs[k].id = ids[k];
		specs[k].job_id = j->id;
	}
	/* gangs: consecutive runs of `gang` tasks (the last may be shorter) */
	for (size_t k = 0; k < n; k += gang) {
		gangs[ng].tasks = &specs[k];
		gangs[ng].n_tasks = n - k < gang ? n - k : gang;
		ng++;
	}
	enum resmgr_fail *fail = calloc(ng ? ng : 1, sizeof(*fail));
	if (fail) /* else every task is retried (out of memory) */
		jm->cfg.rm.enqueue(jm->cfg.rm.arg, j->pool, gangs, ng, fail);
	/* one log line per reason for the call, naming the first task */
	const char *logged[RM_NO_MEMORY + 2] = {0};
	size_t n_why[RM_NO_MEMORY + 2] = {0};
	uint32_t first[RM_NO_MEMORY + 2] = {0};
	bool retry_why[RM_NO_MEMORY + 2] = {0};
	for (size_t g = 0; g < ng; g++) {
		for (size_t k = 0; k < gangs[g].n_tasks; k++) {
			uint32_t i = insts[(size_t)(gangs[g].tasks - specs) + k];
			/* already there: a resource manager apart kept it (the job
			 * manager restarted, or enqueued everything again after an
			 * outage) */
			if (fail && (fail[g] == RM_OK || fail[g] == RM_ALREADY_EXISTS)) {
				ok++;
				continue;
			}
			const char *why = fail ? resmgr_fail_name(fail[g]) : "out of memory";
			/* a resource manager apart that did not answer (or no memory):
			 * the sweeper enqueues it again in a second; other reasons
			 * (pool gone, invalid) are final */
			bool again = !fail || fail[g] == RM_NO_MEMORY;
			if (again)
				j->tasks[i].due_ns = clock_wall_ns() + ENQUEUE_RETRY_NS;
			int w = fail ? (int)fail[g] : RM_NO_MEMORY + 1;
			if (!again || !j->tasks[i].reason || strcmp(j->tasks[i].reason, why) != 0) {
				if (n_why[w]++ == 0)
					first[w] = i;
				logged[w] = why;
				retry_why[w] = again;
			}
			free(j->tasks[i].reason);
			j->tasks[i].reason = strdup(why);
		}
	}
	for (int w = 0; w < RM_NO_MEMORY + 2; w++)
		if (n_why[w])
			log_warn("jobmgr",
			         "%zu task(s) of job %s not enqueued (the first %s-%u): %s%s",
			         n_why[w], j->id, j->id, first[w], logged[w],
			         retry_why[w] ? " (retrying every second)" : "");
	free(fail);
out:
	for (size_t k = 0; specs && k < n; k++)
		free((void *)specs[k].payload);
	free(specs);
	free(gangs);
	free(ids);
	return ok;
}

/* ---- merge of instanceConfig over defaultConfig, field by field ---- */

static bool pb_field_set(const ProtobufCFieldDescriptor *f, const ProtobufCMessage *m)
{
	const char *p = (const char *)m + f->offset;
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return *(const size_t *)((const char *)m + f->quantifier_offset) != 0;
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;
		return s && s[0];
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(void *const *)p != NULL;
	case PROTOBUF_C_TYPE_BOOL:
	case PROTOBUF_C_TYPE_ENUM:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_INT32:
		return *(const uint32_t *)p != 0;
	default:
		return *(const uint64_t *)p != 0;
	}
}

Peloton__Api__Task__TaskConfig *jm__merge(const Peloton__Api__Task__TaskConfig *def,
                                          const Peloton__Api__Task__TaskConfig *inst)
{
	if (!def)
		return (Peloton__Api__Task__TaskConfig *)proto_clone(&inst->base);
	/* pack default, then the instance's set fields: protobuf merge semantics
	 * would concatenate repeated fields, so copy field by field instead */
	Peloton__Api__Task__TaskConfig tmp = *def;
	const ProtobufCMessageDescriptor *d = &peloton__api__task__task_config__descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (!pb_field_set(f, &inst->base))
			continue;
		size_t sz =
		    f->label == PROTOBUF_C_LABEL_REPEATED ? sizeof(void *)
		    : f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE
		        ? sizeof(void *)
		    : f->type == PROTOBUF_C_TYPE_DOUBLE ? 8
		                                        : 4;
		memcpy((char *)&tmp + f->offset, (const char *)inst + f->offset, sz);
		if (f->label == PROTOBUF_C_LABEL_REPEATED)
			memcpy((char *)&tmp + f->quantifier_offset,
			       (const char *)inst + f->quantifier_offset, sizeof(size_t));
	}
	return (Peloton__Api__Task__TaskConfig *)proto_clone(&tmp.base);
}

/* Builds j->merged (config per instance). 0 or -1. */
int jm__build_merged(struct jm_job *j)
{
	j->merged = calloc(j->n ? j->n : 1, sizeof(*j->merged));
	if (!j->merged)
		return -1;
	for (uint32_t i = 0; i < j->n; i++)
		j->merged[i] = j->cfg->defaultconfig;
	for (size_t k = 0; k < j->cfg->n_instanceconfig; k++) {
		const Peloton__Api__Job__JobConfig__InstanceConfigEntry *e =
		    j->cfg->instanceconfig[k];
		if (e->key >= j->n || !e->value)
			continue;
		if (j->merged[e->key] != j->cfg->defaultconfig)
			protobuf_c_message_free_unpacked(&j->merged[e->key]->base, NULL);
		j->merged[e->key] = jm__merge(j->cfg->defaultconfig, e->value);
		if (!j->merged[e->key])
			return -1;
	}
	return 0;
}

struct jm_job *jm__job_new(const char *id, Peloton__Api__Job__JobConfig *cfg)
{
	struct jm_job *j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	snprintf(j->id, sizeof(j->id), "%s", id);
	pthread_mutex_init(&j->mu, NULL);
	j->cfg = cfg;
	j->n = cfg->instancecount;
	j->tasks = calloc(j->n ? j->n : 1, sizeof(*j->tasks));
	if (!j->tasks || jm__build_merged(j) != 0) {
		j->cfg = NULL;
		job_free(j);
		return NULL;
	}
	if (cfg->respoolid && cfg->respoolid->value)
		snprintf(j->pool, sizeof(j->pool), "%s", cfg->respoolid->value);
	j->goal = PELOTON__API__JOB__JOB_STATE__SUCCEEDED;
	return j;
}

void jm__job_free(struct jm_job *j)
{
	job_free(j);
}

void jm__insert(struct jobmgr *jm, struct jm_job *j)
{
	insert_job(jm, j);
}

void jobmgr_count_states(struct jobmgr *jm, uint64_t counts[16])
{
	memset(counts, 0, 16 * sizeof(uint64_t));
	pthread_rwlock_rdlock(&jm->lock);
	for (struct jm_job *j = jm->all; j; j = j->all_next) {
		pthread_mutex_lock(&j->mu);
		for (int s = 0; s < TASK_N_STATES; s++)
			counts[s] += j->counts[s];
		pthread_mutex_unlock(&j->mu);
	}
	pthread_rwlock_unlock(&jm->lock);
}

void jobmgr_write_metrics(struct jobmgr *jm, FILE *f)
{
	uint64_t c[16];
	jobmgr_count_states(jm, c);
	pthread_rwlock_rdlock(&jm->lock);
	size_t n_jobs = jm->n_jobs;
	pthread_rwlock_unlock(&jm->lock);
	fprintf(f, "# HELP peloton_tasks Tasks known to the job manager by state.\n"
	           "# TYPE peloton_tasks gauge\n");
	for (int s = 1; s < TASK_N_STATES; s++)
		fprintf(f, "peloton_tasks{state=\"%s\"} %llu\n", taskstate_name((enum taskstate)s),
		        (unsigned long long)c[s]);
	fprintf(f,
	        "# HELP peloton_jobs Jobs known to the job manager.\n# TYPE peloton_jobs gauge\n"
	        "peloton_jobs %zu\n"
	        "# HELP peloton_task_launches_total Tasks handed to Mesos.\n"
	        "# TYPE peloton_task_launches_total counter\npeloton_task_launches_total %llu\n"
	        "# HELP peloton_status_updates_total Mesos status updates processed.\n"
	        "# TYPE peloton_status_updates_total counter\npeloton_status_updates_total %llu\n",
	        n_jobs, (unsigned long long)atomic_load(&jm->launched),
	        (unsigned long long)atomic_load(&jm->updates));
}
