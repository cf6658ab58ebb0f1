/* Job manager: the v0 JobManager and TaskManager handlers; see jobmgr.h. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobmgr_int.h"
#include "log.h"
#include "peloton/api/job/svc/job_svc.pb-c.h"
#include "peloton/api/task/svc/task_svc.pb-c.h"
#include "peloton/api/task/task.pb-c.h"
#include "pjson.h"
#include "proto_codec.h"
#include "rpc.h"

static char *dupstr(const char *s)
{
	return strdup(s ? s : "");
}

static Peloton__Api__Peloton__JobID *job_id_pb(const char *id)
{
	Peloton__Api__Peloton__JobID *p =
	    PB_NEW(Peloton__Api__Peloton__JobID, peloton__api__peloton__job_id__descriptor);
	if (p)
		p->value = dupstr(id);
	return p;
}

/* ---- validation ---- */

static int check_constraint(const Peloton__Api__Task__Constraint *c, char *err, size_t len,
                            int depth)
{
	if (depth > 16)
		return snprintf(err, len, "constraint nested deeper than 16"), -1;
	switch (c->type) {
	case PELOTON__API__TASK__CONSTRAINT__TYPE__LABEL_CONSTRAINT:
		if (!c->labelconstraint || !c->labelconstraint->label ||
		    !c->labelconstraint->label->key || !c->labelconstraint->label->key[0])
			return snprintf(err, len, "label constraint without a label key"), -1;
		return 0;
	case PELOTON__API__TASK__CONSTRAINT__TYPE__AND_CONSTRAINT:
	case PELOTON__API__TASK__CONSTRAINT__TYPE__OR_CONSTRAINT: {
		bool is_and = c->type == PELOTON__API__TASK__CONSTRAINT__TYPE__AND_CONSTRAINT;
		size_t n = is_and ? (c->andconstraint ? c->andconstraint->n_constraints : 0)
		                  : (c->orconstraint ? c->orconstraint->n_constraints : 0);
		Peloton__Api__Task__Constraint **v =
		    is_and ? (c->andconstraint ? c->andconstraint->constraints : NULL)
		           : (c->orconstraint ? c->orconstraint->constraints : NULL);
		if (!n)
			return snprintf(err, len, "%s constraint without children",
			                is_and ? "AND" : "OR"),
			       -1;
		for (size_t i = 0; i < n; i++)
			if (check_constraint(v[i], err, len, depth + 1) != 0)
				return -1;
		return 0;
	}
	default:
		return snprintf(err, len, "constraint of unknown type %d", (int)c->type), -1;
	}
}

static int check_task(const Peloton__Api__Task__TaskConfig *tc, const char *where, char *err,
                      size_t len)
{
	const Peloton__Api__Task__ResourceConfig *r = tc->resource;
	if (!r || !(r->cpulimit > 0) || !(r->memlimitmb > 0))
		return snprintf(err, len,
		                "%s: resource.cpuLimit and resource.memLimitMb must be > 0", where),
		       -1;
	if (r->disklimitmb < 0 || r->gpulimit < 0 || r->cpulimit > 1e6 || r->memlimitmb > 1e12)
		return snprintf(err, len, "%s: resources out of range", where), -1;
	for (size_t i = 0; i < tc->n_ports; i++) {
		const char *n = tc->ports[i]->name;
		if (!n || !n[0])
			return snprintf(err, len, "%s: port %zu has no name", where, i), -1;
		for (size_t k = 0; k < i; k++)
			if (strcmp(tc->ports[k]->name, n) == 0)
				return snprintf(err, len, "%s: port name '%s' used twice", where,
				                n),
				       -1;
		if (tc->ports[i]->value > 65535)
			return snprintf(err, len, "%s: port %s value above 65535", where, n), -1;
	}
	if (tc->n_ports > 16)
		return snprintf(err, len, "%s: at most 16 ports per task", where), -1;
	if (tc->constraint) {
		char sub[200];
		if (check_constraint(tc->constraint, sub, sizeof(sub), 0) != 0)
			return snprintf(err, len, "%s: %s", where, sub), -1;
	}
	return 0;
}

int jobmgr_validate(struct jobmgr *jm, const Peloton__Api__Job__JobConfig *c, char *err, size_t len)
{
	if (c->instancecount == 0)
		return snprintf(err, len, "instanceCount must be > 0"), -1;
	if (c->instancecount > jm->cfg.max_instances)
		return snprintf(err, len, "instanceCount %u above the maximum %u", c->instancecount,
		                jm->cfg.max_instances),
		       -1;
	if (!c->respoolid || !c->respoolid->value || !c->respoolid->value[0])
		return snprintf(err, len, "respoolID is required"), -1;
	if (!jm->cfg.rm.pool_is_leaf(jm->cfg.rm.arg, c->respoolid->value))
		return snprintf(err, len, "resource pool %s does not exist or is not a leaf",
		                c->respoolid->value),
		       -1;
	if (c->sla) {
		uint32_t mn = c->sla->minimumrunninginstances, mx = c->sla->maximumrunninginstances;
		if (mx && mx > c->instancecount)
			return snprintf(err, len,
			                "sla.maximumRunningInstances %u above instanceCount %u", mx,
			                c->instancecount),
			       -1;
		if (mn && mx && mn > mx)
			return snprintf(err, len,
			                "sla.minimumRunningInstances %u above "
			                "maximumRunningInstances %u",
			                mn, mx),
			       -1;
		if (mn > c->instancecount)
			return snprintf(err, len,
			                "sla.minimumRunningInstances %u above instanceCount %u", mn,
			                c->instancecount),
			       -1;
	}
	if (!c->defaultconfig) {
		/* every instance then needs its own config */
		if (c->n_instanceconfig != c->instancecount)
			return snprintf(err, len,
			                "defaultConfig missing and not every instance has a "
			                "config"),
			       -1;
	} else if (check_task(c->defaultconfig, "defaultConfig", err, len) != 0) {
		return -1;
	}
	for (size_t i = 0; i < c->n_instanceconfig; i++) {
		const Peloton__Api__Job__JobConfig__InstanceConfigEntry *e = c->instanceconfig[i];
		char where[48];
		snprintf(where, sizeof(where), "instanceConfig[%u]", e->key);
		if (e->key >= c->instancecount)
			return snprintf(err, len, "%s: instance id not below instanceCount %u",
			                where, c->instancecount),
			       -1;
		if (!e->value)
			return snprintf(err, len, "%s: empty", where), -1;
		Peloton__Api__Task__TaskConfig *m = jm__merge(c->defaultconfig, e->value);
		int rc = m ? check_task(m, where, err, len) : -1;
		if (m)
			protobuf_c_message_free_unpacked(&m->base, NULL);
		if (rc != 0)
			return -1;
	}
	return 0;
}

/* ---- create ---- */

/* Persists the current config version, tasks [from, n) and the job runtime. */
static int persist_tasks(struct jobmgr *jm, struct jm_job *j, uint32_t from)
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
		if (jm__put_task(jm, b, j, i, "created") != 0) {
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

static bool same_config(const struct jm_job *j, const uint8_t *bytes, size_t len)
{
	return j->cfg_len == len && memcmp(j->cfg_bytes, bytes, len) == 0;
}

/* Creates the job; on success *id_out is its id. RPC code on failure. */
static enum rpc_code create_job(struct jobmgr *jm, const char *given_id,
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
		if (strlen(given_id) >= 48 || strchr(given_id, '/') || strchr(given_id, ' ')) {
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
		jm__uuid(id);
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
		j->tasks[i].state = TASK_PENDING;
		j->tasks[i].goal = TASK_SUCCEEDED;
	}
	j->counts[TASK_PENDING] = j->n;
	if (persist_tasks(jm, j, 0) != 0) {
		jm__job_free(j);
		return snprintf(err, errlen, "cannot persist the job"), RPC_INTERNAL;
	}
	jm__insert(jm, j);
	uint32_t *all = calloc(j->n, sizeof(uint32_t));
	for (uint32_t i = 0; all && i < j->n; i++)
		all[i] = i;
	pthread_mutex_lock(&j->mu);
	size_t q = all ? jm__enqueue(jm, j, all, j->n) : 0;
	pthread_mutex_unlock(&j->mu);
	free(all);
	log_info("jobmgr", "job %s created: %u instances in pool %s, %zu enqueued", id, j->n,
	         j->pool, q);
	snprintf(id_out, 64, "%s", id);
	return RPC_OK;
}

static struct jm_job *live_job(struct jobmgr *jm, const Peloton__Api__Peloton__JobID *id);

/* The config without instanceCount and changeLog, packed (to compare). */
static uint8_t *pack_shape(const Peloton__Api__Job__JobConfig *c, size_t *len)
{
	Peloton__Api__Job__JobConfig tmp = *c;
	tmp.instancecount = 0;
	tmp.changelog = NULL;
	return proto_pack_alloc(&tmp.base, len);
}

/*
 * UpdateJob: only adding instances (the reference's semantics): the new
 * config must equal the current one except for a larger instanceCount. A
 * new config version is stored, the new instances are persisted PENDING
 * and enqueued; the existing ones are untouched.
 */
static enum rpc_code update_job(struct jobmgr *jm, struct jm_job *j,
                                const Peloton__Api__Job__JobConfig *cfg, char *err, size_t len)
{
	if (!cfg)
		return snprintf(err, len, "config is required"), RPC_INVALID_ARGUMENT;
	if (jobmgr_validate(jm, cfg, err, len) != 0)
		return RPC_INVALID_ARGUMENT;
	Peloton__Api__Job__JobConfig *nc = (Peloton__Api__Job__JobConfig *)proto_clone(&cfg->base);
	size_t la, lb, blen;
	uint8_t *bytes = nc ? proto_pack_alloc(&nc->base, &blen) : NULL;
	if (!bytes) {
		if (nc)
			protobuf_c_message_free_unpacked(&nc->base, NULL);
		return snprintf(err, len, "out of memory"), RPC_INTERNAL;
	}
	pthread_mutex_lock(&j->mu);
	uint32_t old_n = j->n, new_n = cfg->instancecount;
	uint8_t *a = pack_shape(j->cfg, &la), *b = pack_shape(cfg, &lb);
	bool same = a && b && la == lb && memcmp(a, b, la) == 0;
	free(a);
	free(b);
	enum rpc_code rc = RPC_OK;
	if (new_n < old_n)
		rc = RPC_INVALID_ARGUMENT,
		snprintf(err, len,
		         "instanceCount %u below the current %u: only adding instances is "
		         "supported",
		         new_n, old_n);
	else if (!same)
		rc = RPC_INVALID_ARGUMENT,
		snprintf(err, len, "only instanceCount may change (adding instances)");
	struct jm_task *nt =
	    rc == RPC_OK && new_n > old_n ? realloc(j->tasks, new_n * sizeof(*j->tasks)) : NULL;
	Peloton__Api__Task__TaskConfig **nm =
	    nt ? realloc(j->merged, new_n * sizeof(*j->merged)) : NULL;
	if (nt)
		j->tasks = nt;
	if (nm)
		j->merged = nm;
	if (rc == RPC_OK && new_n > old_n && (!nt || !nm))
		rc = RPC_INTERNAL, snprintf(err, len, "out of memory");
	if (rc != RPC_OK || new_n == old_n) {
		pthread_mutex_unlock(&j->mu);
		protobuf_c_message_free_unpacked(&nc->base, NULL);
		free(bytes);
		return rc;
	}
	/* the shared default moves to the new config object */
	for (uint32_t i = 0; i < old_n; i++)
		if (j->merged[i] == j->cfg->defaultconfig)
			j->merged[i] = nc->defaultconfig;
	memset(&j->tasks[old_n], 0, (new_n - old_n) * sizeof(*j->tasks));
	for (uint32_t i = old_n; i < new_n; i++) {
		j->merged[i] = nc->defaultconfig;
		j->tasks[i].state = TASK_PENDING;
		j->tasks[i].goal = TASK_SUCCEEDED;
	}
	Peloton__Api__Job__JobConfig **oc =
	    realloc(j->old_cfgs, (j->n_old_cfgs + 1) * sizeof(*j->old_cfgs));
	if (oc) {
		j->old_cfgs = oc;
		oc[j->n_old_cfgs++] = j->cfg; /* a launch in flight may still read it */
	} else {
		protobuf_c_message_free_unpacked(&j->cfg->base, NULL);
	}
	free(j->cfg_bytes);
	j->cfg = nc;
	j->cfg_bytes = bytes;
	j->cfg_len = blen;
	j->cfg_version++;
	j->n = new_n;
	j->counts[TASK_PENDING] += new_n - old_n;
	j->goal = PELOTON__API__JOB__JOB_STATE__SUCCEEDED;
	jm__job_refresh(j);
	pthread_mutex_unlock(&j->mu);
	if (persist_tasks(jm, j, old_n) != 0)
		return snprintf(err, len, "cannot persist the new instances"), RPC_INTERNAL;
	uint32_t *add = calloc(new_n - old_n, sizeof(uint32_t));
	for (uint32_t i = 0; add && i < new_n - old_n; i++)
		add[i] = old_n + i;
	pthread_mutex_lock(&j->mu);
	if (add)
		jm__enqueue(jm, j, add, new_n - old_n);
	pthread_mutex_unlock(&j->mu);
	free(add);
	log_info("jobmgr", "job %s: %u -> %u instances (config version %llu)", j->id, old_n, new_n,
	         (unsigned long long)j->cfg_version);
	return RPC_OK;
}

static ProtobufCMessage *h_update(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	const Peloton__Api__Job__UpdateRequest *r = (const void *)m;
	Peloton__Api__Job__UpdateResponse *resp = PB_NEW(
	    Peloton__Api__Job__UpdateResponse, peloton__api__job__update_response__descriptor);
	if (!resp)
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	const char *id = r->id && r->id->value ? r->id->value : "";
	struct jm_job *j = live_job(ctx, r->id);
	char err[256] = "";
	enum rpc_code c = j ? update_job(ctx, j, r->config, err, sizeof(err)) : RPC_NOT_FOUND;
	if (c == RPC_INTERNAL) {
		protobuf_c_message_free_unpacked(&resp->base, NULL);
		return rpc_fail(st, c, "%s", err);
	}
	if (c == RPC_OK) {
		resp->id = job_id_pb(id);
		resp->message = dupstr("updated");
		return &resp->base;
	}
	resp->error = PB_NEW(Peloton__Api__Job__UpdateResponse__Error,
	                     peloton__api__job__update_response__error__descriptor);
	if (!resp->error)
		return &resp->base;
	if (c == RPC_NOT_FOUND) {
		Peloton__Api__Job__JobNotFound *e = PB_NEW(
		    Peloton__Api__Job__JobNotFound, peloton__api__job__job_not_found__descriptor);
		if (e) {
			e->id = job_id_pb(id);
			e->message = dupstr("job not found");
		}
		resp->error->jobnotfound = e;
	} else {
		Peloton__Api__Job__InvalidJobConfig *e =
		    PB_NEW(Peloton__Api__Job__InvalidJobConfig,
		           peloton__api__job__invalid_job_config__descriptor);
		if (e) {
			e->id = job_id_pb(id);
			e->message = dupstr(err);
		}
		resp->error->invalidconfig = e;
	}
	return &resp->base;
}

static ProtobufCMessage *h_create(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	const Peloton__Api__Job__CreateRequest *r = (const Peloton__Api__Job__CreateRequest *)m;
	Peloton__Api__Job__CreateResponse *resp = PB_NEW(
	    Peloton__Api__Job__CreateResponse, peloton__api__job__create_response__descriptor);
	char id[64] = "", err[256] = "";
	if (!resp)
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	enum rpc_code c =
	    create_job(ctx, r->id ? r->id->value : NULL, r->config, id, err, sizeof(err));
	if (c == RPC_OK) {
		resp->jobid = job_id_pb(id);
		return &resp->base;
	}
	if (c == RPC_INTERNAL) {
		protobuf_c_message_free_unpacked(&resp->base, NULL);
		return rpc_fail(st, c, "%s", err);
	}
	/* v0: errors inside the response */
	resp->error = PB_NEW(Peloton__Api__Job__CreateResponse__Error,
	                     peloton__api__job__create_response__error__descriptor);
	if (c == RPC_ALREADY_EXISTS) {
		Peloton__Api__Job__JobAlreadyExists *e =
		    PB_NEW(Peloton__Api__Job__JobAlreadyExists,
		           peloton__api__job__job_already_exists__descriptor);
		e->id = job_id_pb(id);
		e->message = dupstr(err);
		resp->error->alreadyexists = e;
	} else {
		Peloton__Api__Job__InvalidJobConfig *e =
		    PB_NEW(Peloton__Api__Job__InvalidJobConfig,
		           peloton__api__job__invalid_job_config__descriptor);
		e->id = job_id_pb(r->id ? r->id->value : "");
		e->message = dupstr(err);
		resp->error->invalidconfig = e;
	}
	return &resp->base;
}

/* ---- get / query ---- */

static Peloton__Api__Job__JobInfo *job_info(struct jm_job *j, bool with_config)
{
	Peloton__Api__Job__JobInfo *ji =
	    PB_NEW(Peloton__Api__Job__JobInfo, peloton__api__job__job_info__descriptor);
	if (!ji)
		return NULL;
	ji->id = job_id_pb(j->id);
	pthread_mutex_lock(&j->mu);
	ji->runtime = jm__job_runtime(j);
	if (with_config) {
		ji->config = (Peloton__Api__Job__JobConfig *)proto_clone(&j->cfg->base);
		/* as upstream: instanceConfig is not returned inside JobInfo */
		if (ji->config) {
			for (size_t i = 0; i < ji->config->n_instanceconfig; i++)
				protobuf_c_message_free_unpacked(
				    &ji->config->instanceconfig[i]->base, NULL);
			free(ji->config->instanceconfig);
			ji->config->instanceconfig = NULL;
			ji->config->n_instanceconfig = 0;
		}
	}
	pthread_mutex_unlock(&j->mu);
	return ji;
}

static Peloton__Api__Errors__JobNotFound *not_found(const char *id)
{
	Peloton__Api__Errors__JobNotFound *e = PB_NEW(
	    Peloton__Api__Errors__JobNotFound, peloton__api__errors__job_not_found__descriptor);
	if (!e)
		return NULL;
	e->id = job_id_pb(id);
	char msg[128];
	snprintf(msg, sizeof(msg), "job %.80s not found", id);
	e->message = dupstr(msg);
	return e;
}

/* A v0 response's `Error` (desc) with its notFound set; NULL on ENOMEM. */
static ProtobufCMessage *error_not_found(const ProtobufCMessageDescriptor *desc,
                                         const Peloton__Api__Peloton__JobID *id)
{
	ProtobufCMessage *e = proto_new(desc);
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(desc, "notFound");
	if (!e || !f) {
		free(e);
		return NULL;
	}
	*(void **)((char *)e + f->offset) = not_found(id && id->value ? id->value : "");
	return e;
}

static struct jm_job *live_job(struct jobmgr *jm, const Peloton__Api__Peloton__JobID *id)
{
	if (!id || !id->value)
		return NULL;
	struct jm_job *j = jm__find(jm, id->value);
	return j && !j->deleted ? j : NULL;
}

static ProtobufCMessage *h_get(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	const Peloton__Api__Job__GetRequest *r = (const Peloton__Api__Job__GetRequest *)m;
	Peloton__Api__Job__GetResponse *resp =
	    PB_NEW(Peloton__Api__Job__GetResponse, peloton__api__job__get_response__descriptor);
	if (!resp)
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	struct jm_job *j = live_job(ctx, r->id);
	if (!j) {
		resp->error = (Peloton__Api__Job__GetResponse__Error *)error_not_found(
		    &peloton__api__job__get_response__error__descriptor, r->id);
		return &resp->base;
	}
	resp->jobinfo = job_info(j, true);
	return &resp->base;
}

static bool job_matches(struct jobmgr *jm, struct jm_job *j,
                        const Peloton__Api__Job__QueryRequest *r)
{
	const Peloton__Api__Job__QuerySpec *q = r->spec;
	if (j->deleted)
		return false;
	if (r->respoolid && r->respoolid->value && r->respoolid->value[0] &&
	    strcmp(r->respoolid->value, j->pool) != 0)
		return false;
	if (!q)
		return true;
	if (q->n_jobstates) {
		bool ok = false;
		for (size_t i = 0; i < q->n_jobstates; i++)
			ok |= q->jobstates[i] == j->state;
		if (!ok)
			return false;
	}
	for (size_t i = 0; i < q->n_labels; i++) {
		bool ok = false;
		for (size_t k = 0; k < j->cfg->n_labels; k++)
			ok |= strcmp(j->cfg->labels[k]->key, q->labels[i]->key) == 0 &&
			      strcmp(j->cfg->labels[k]->value, q->labels[i]->value) == 0;
		if (!ok)
			return false;
	}
	for (size_t i = 0; i < q->n_keywords; i++) {
		const char *w = q->keywords[i];
		if (!strstr(j->cfg->name, w) && !strstr(j->cfg->description, w) &&
		    !strstr(j->cfg->owningteam, w))
			return false;
	}
	if (q->respool && q->respool->value && q->respool->value[0]) {
		char path[512];
		if (jm->cfg.rm.pool_path(jm->cfg.rm.arg, j->pool, path, sizeof(path)) != 0 ||
		    strcmp(path, q->respool->value) != 0)
			return false;
	}
	return true;
}

struct sort_key {
	struct jm_job *j;
};
static const char *g_order; /* set under sort_mu */
static bool g_desc;
static pthread_mutex_t sort_mu = PTHREAD_MUTEX_INITIALIZER;

static int cmp_jobs(const void *a, const void *b)
{
	const struct jm_job *x = *(struct jm_job *const *)a, *y = *(struct jm_job *const *)b;
	int c;
	if (g_order && strcmp(g_order, "name") == 0)
		c = strcmp(x->cfg->name, y->cfg->name);
	else if (g_order && strcmp(g_order, "state") == 0)
		c = (int)x->state - (int)y->state;
	else
		c = x->created_ns < y->created_ns ? -1 : x->created_ns > y->created_ns;
	return g_desc ? -c : c;
}

static ProtobufCMessage *h_query(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	struct jobmgr *jm = ctx;
	const Peloton__Api__Job__QueryRequest *r = (const Peloton__Api__Job__QueryRequest *)m;
	Peloton__Api__Job__QueryResponse *resp =
	    PB_NEW(Peloton__Api__Job__QueryResponse, peloton__api__job__query_response__descriptor);
	if (!resp)
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	struct jm_job **v = NULL;
	size_t n = 0, cap = 0;
	pthread_rwlock_rdlock(&jm->lock);
	for (struct jm_job *j = jm->all; j; j = j->all_next) {
		pthread_mutex_lock(&j->mu);
		bool ok = job_matches(jm, j, r);
		pthread_mutex_unlock(&j->mu);
		if (!ok)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			struct jm_job **nv = realloc(v, cap * sizeof(*v));
			if (!nv)
				break;
			v = nv;
		}
		v[n++] = j;
	}
	pthread_rwlock_unlock(&jm->lock);
	const Peloton__Api__Query__PaginationSpec *ps = r->spec ? r->spec->pagination : NULL;
	uint32_t off = ps ? ps->offset : 0, lim = ps && ps->limit ? ps->limit : 100;
	if (ps && ps->maxlimit && lim > ps->maxlimit)
		lim = ps->maxlimit;
	pthread_mutex_lock(&sort_mu);
	g_order = "creation_time";
	g_desc = true;
	if (ps && ps->n_orderby && ps->orderby[0]->property) {
		g_order = ps->orderby[0]->property->value;
		g_desc = ps->orderby[0]->order == PELOTON__API__QUERY__ORDER_BY__ORDER__DESC;
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_jobs);
	pthread_mutex_unlock(&sort_mu);
	size_t from = off < n ? off : n, to = from + lim < n ? from + lim : n;
	resp->records = calloc(to - from ? to - from : 1, sizeof(*resp->records));
	for (size_t i = from; resp->records && i < to; i++) {
		Peloton__Api__Job__JobInfo *ji = job_info(v[i], true);
		if (ji)
			resp->records[resp->n_records++] = ji;
	}
	resp->pagination =
	    PB_NEW(Peloton__Api__Query__Pagination, peloton__api__query__pagination__descriptor);
	if (resp->pagination) {
		resp->pagination->offset = off;
		resp->pagination->limit = lim;
		resp->pagination->total = (uint32_t)n;
	}
	free(v);
	return &resp->base;
}

/* Stops tasks [insts]; j->mu held. Returns how many were asked to stop. */
static size_t stop_tasks__(struct jobmgr *jm, struct jm_job *j, const uint32_t *insts, size_t n,
                           struct store_batch *b)
{
	size_t c = 0;
	for (size_t k = 0; k < n; k++) {
		uint32_t i = insts[k];
		struct jm_task *t = &j->tasks[i];
		t->goal = TASK_KILLED;
		if (taskstate_terminal((enum taskstate)t->state))
			continue;
		char ptask[96];
		snprintf(ptask, sizeof(ptask), "%s-%u", j->id, i);
		if (t->state >= TASK_LAUNCHING && t->state != TASK_KILLING && t->agent) {
			jm__kill_run(jm, j, i, clock_wall_ns());
		} else if (t->state != TASK_KILLING) {
			/* not on Mesos yet: the resource manager drops it */
			jm->cfg.rm.kill(jm->cfg.rm.arg, ptask);
			jm__set_state(j, i, TASK_KILLED);
			t->done_ns = clock_wall_ns();
		}
		jm__put_task(jm, b, j, i, "stop requested");
		c++;
	}
	return c;
}

/* Removes a terminal job (memory and store); RPC_OK or the status in st. */
static uint32_t *ranges_of(struct jm_job *j, Peloton__Api__Task__InstanceRange **rg, size_t nrg,
                           size_t *n);

static enum rpc_code delete_job(struct jobmgr *jm, struct jm_job *j, struct rpc_status *st)
{
	pthread_mutex_lock(&j->mu);
	bool terminal = j->state >= PELOTON__API__JOB__JOB_STATE__SUCCEEDED;
	if (!terminal) {
		/* stop every task; the sweeper removes the job once it is terminal */
		size_t n;
		uint32_t *v = ranges_of(j, NULL, 0, &n);
		struct store_batch *b = store_batch_new(jm->cfg.store);
		if (!v || !b) {
			pthread_mutex_unlock(&j->mu);
			free(v);
			store_batch_free(b);
			rpc_fail(st, RPC_INTERNAL, "out of memory");
			return st->code;
		}
		stop_tasks__(jm, j, v, n, b);
		free(v);
		j->goal = PELOTON__API__JOB__JOB_STATE__KILLED;
		j->delete_pending = true;
		if (jm__job_refresh(j))
			jm__put_job_runtime(jm, b, j);
		pthread_mutex_unlock(&j->mu);
		if (store_commit(jm->cfg.store, b) != STORE_OK) {
			rpc_fail(st, RPC_INTERNAL, "cannot persist the stop of job %s", j->id);
			return st->code;
		}
		log_info("jobmgr", "job %s: stopping its tasks; deleted once terminal", j->id);
		return RPC_OK;
	}
	j->deleted = true;
	pthread_mutex_unlock(&j->mu);
	if (store_purge_job(jm->cfg.store, j->id) != STORE_OK) {
		log_error("jobmgr", "job %s: purge from the store failed", j->id);
		rpc_fail(st, RPC_INTERNAL, "cannot delete job %s from the store", j->id);
		return st->code;
	}
	if (!atomic_exchange(&j->purged, true)) /* the sweeper unlinks it */
		atomic_fetch_add(&jm->to_bury, 1);
	log_info("jobmgr", "job %s deleted", j->id);
	return RPC_OK;
}

static ProtobufCMessage *h_delete(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	struct jobmgr *jm = ctx;
	const Peloton__Api__Job__DeleteRequest *r = (const Peloton__Api__Job__DeleteRequest *)m;
	Peloton__Api__Job__DeleteResponse *resp = PB_NEW(
	    Peloton__Api__Job__DeleteResponse, peloton__api__job__delete_response__descriptor);
	if (!resp)
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	struct jm_job *j = live_job(jm, r->id);
	if (!j) {
		resp->error = (Peloton__Api__Job__DeleteResponse__Error *)error_not_found(
		    &peloton__api__job__delete_response__error__descriptor, r->id);
		return &resp->base;
	}
	if (delete_job(jm, j, st) != RPC_OK) {
		protobuf_c_message_free_unpacked(&resp->base, NULL);
		return NULL;
	}
	return &resp->base;
}

/* ---- JobService (svc API): errors as gRPC status codes ---- */

static ProtobufCMessage *h_svc_create(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	struct jobmgr *jm = ctx;
	const Peloton__Api__Job__Svc__CreateJobRequest *r = (const void *)m;
	if (!r->config)
		return rpc_fail(st, RPC_INVALID_ARGUMENT, "config is required");
	Peloton__Api__Job__JobConfig cfg = *r->config;
	Peloton__Api__Peloton__ResourcePoolID rid = PELOTON__API__PELOTON__RESOURCE_POOL_ID__INIT;
	char pool[128];
	if (r->pool && r->pool->value && r->pool->value[0]) {
		char why[160];
		if (jm->cfg.rm.pool_lookup(jm->cfg.rm.arg, r->pool->value, pool, sizeof(pool), why,
		                           sizeof(why)) != 0)
			return rpc_fail(st, RPC_INVALID_ARGUMENT, "%s", why);
		rid.value = pool;
		cfg.respoolid = &rid;
	}
	char id[64], err[256] = "";
	enum rpc_code c = create_job(jm, r->id ? r->id->value : NULL, &cfg, id, err, sizeof(err));
	if (c != RPC_OK)
		return rpc_fail(st, c, "%s", err);
	Peloton__Api__Job__Svc__CreateJobResponse *resp =
	    PB_NEW(Peloton__Api__Job__Svc__CreateJobResponse,
	           peloton__api__job__svc__create_job_response__descriptor);
	if (!resp)
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	resp->jobid = job_id_pb(id);
	return &resp->base;
}

static ProtobufCMessage *h_svc_get(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	const Peloton__Api__Job__Svc__GetJobRequest *r = (const void *)m;
	struct jm_job *j = live_job(ctx, r->id);
	if (!j)
		return rpc_fail(st, RPC_NOT_FOUND, "job %s not found",
		                r->id && r->id->value ? r->id->value : "");
	Peloton__Api__Job__Svc__GetJobResponse *resp =
	    PB_NEW(Peloton__Api__Job__Svc__GetJobResponse,
	           peloton__api__job__svc__get_job_response__descriptor);
	if (!resp)
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	pthread_mutex_lock(&j->mu);
	resp->result = (Peloton__Api__Job__JobConfig *)proto_clone(&j->cfg->base);
	pthread_mutex_unlock(&j->mu);
	return &resp->base;
}

static ProtobufCMessage *h_svc_delete(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	const Peloton__Api__Job__Svc__DeleteJobRequest *r = (const void *)m;
	struct jm_job *j = live_job(ctx, r->id);
	if (!j)
		return rpc_fail(st, RPC_NOT_FOUND, "job %s not found",
		                r->id && r->id->value ? r->id->value : "");
	if (delete_job(ctx, j, st) != RPC_OK)
		return NULL;
	return proto_new(&peloton__api__job__svc__delete_job_response__descriptor)
	           ?: rpc_fail(st, RPC_INTERNAL, "out of memory");
}

static ProtobufCMessage *h_svc_update(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	const Peloton__Api__Job__Svc__UpdateJobRequest *r = (const void *)m;
	struct jm_job *j = live_job(ctx, r->id);
	if (!j)
		return rpc_fail(st, RPC_NOT_FOUND, "job %s not found",
		                r->id && r->id->value ? r->id->value : "");
	char err[256] = "";
	enum rpc_code c = update_job(ctx, j, r->config, err, sizeof(err));
	if (c != RPC_OK)
		return rpc_fail(st, c, "%s", err);
	return proto_new(&peloton__api__job__svc__update_job_response__descriptor)
	           ?: rpc_fail(st, RPC_INTERNAL, "out of memory");
}

static ProtobufCMessage *h_svc_query(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	const Peloton__Api__Job__Svc__QueryJobsRequest *r = (const void *)m;
	/* the v0 query with the request's pagination in its spec */
	Peloton__Api__Job__QueryRequest q = PELOTON__API__JOB__QUERY_REQUEST__INIT;
	Peloton__Api__Job__QuerySpec spec = PELOTON__API__JOB__QUERY_SPEC__INIT;
	if (r->spec)
		spec = *r->spec;
	if (r->pagination)
		spec.pagination = r->pagination;
	q.spec = &spec;
	Peloton__Api__Job__QueryResponse *v0 = (void *)h_query(ctx, &q.base, st);
	if (!v0)
		return NULL;
	Peloton__Api__Job__Svc__QueryJobsResponse *resp =
	    PB_NEW(Peloton__Api__Job__Svc__QueryJobsResponse,
	           peloton__api__job__svc__query_jobs_response__descriptor);
	if (resp) {
		resp->records = v0->records;
		resp->n_records = v0->n_records;
		resp->pagination = v0->pagination;
		v0->records = NULL;
		v0->n_records = 0;
		v0->pagination = NULL;
	}
	protobuf_c_message_free_unpacked(&v0->base, NULL);
	return resp ? &resp->base : rpc_fail(st, RPC_INTERNAL, "out of memory");
}

/* ---- tasks ---- */

/*
 * Why a PENDING task waits, from the resource manager's state of it:
 * PENDING there = not admitted (the pool's entitlement, or reservation for
 * non-preemptible tasks); READY/PLACING = admitted, no host found yet, with
 * the placement engine's per-reason host counts.
 */
static void pending_reason(struct jobmgr *jm, struct jm_job *j, uint32_t i,
                           Peloton__Api__Task__RuntimeInfo *rt)
{
	char id[96], msg[256];
	snprintf(id, sizeof(id), "%s-%u", j->id, i);
	enum taskstate rs = jm->cfg.rm.task_state(jm->cfg.rm.arg, id);
	const char *reason;
	if (rs == TASK_PENDING) {
		reason = "WAITING_FOR_ADMISSION";
		snprintf(msg, sizeof(msg),
		         "not admitted yet: the pool's entitlement (its reservation, for "
		         "non-preemptible tasks) has no room for this task");
	} else if ((rs == TASK_READY || rs == TASK_PLACING) && jm->cfg.pl.why &&
	           jm->cfg.pl.why(jm->cfg.pl.arg, id, msg, sizeof(msg)) == 0) {
		reason = "NO_HOST_FITS";
	} else if (rs == TASK_READY || rs == TASK_PLACING) {
		reason = "WAITING_FOR_PLACEMENT";
		snprintf(msg, sizeof(msg), "admitted; waiting for a placement round");
	} else {
		return;
	}
	/* unset strings point at protobuf-c's static empty string */
	if (rt->reason != protobuf_c_empty_string)
		free(rt->reason);
	if (rt->message != protobuf_c_empty_string)
		free(rt->message);
	rt->reason = strdup(reason);
	rt->message = strdup(msg);
}

static Peloton__Api__Task__TaskInfo *task_info(struct jobmgr *jm, struct jm_job *j, uint32_t i)
{
	Peloton__Api__Task__TaskInfo *ti =
	    PB_NEW(Peloton__Api__Task__TaskInfo, peloton__api__task__task_info__descriptor);
	if (!ti)
		return NULL;
	ti->instanceid = i;
	ti->jobid = job_id_pb(j->id);
	ti->config = (Peloton__Api__Task__TaskConfig *)proto_clone(&j->merged[i]->base);
	size_t len;
	uint8_t *b = jm__pack_task(j, i, &len);
	const char *why;
	ti->runtime = b ? (Peloton__Api__Task__RuntimeInfo *)proto_decode(
	                      &peloton__api__task__runtime_info__descriptor, b, len, NULL, &why)
	                : NULL;
	free(b);
	if (ti->runtime && j->tasks[i].state == TASK_PENDING)
		pending_reason(jm, j, i, ti->runtime);
	return ti;
}

static Peloton__Api__Task__InstanceIdOutOfRange *out_of_range(struct jm_job *j)
{
	Peloton__Api__Task__InstanceIdOutOfRange *e =
	    PB_NEW(Peloton__Api__Task__InstanceIdOutOfRange,
	           peloton__api__task__instance_id_out_of_range__descriptor);
	if (e) {
		e->jobid = job_id_pb(j->id);
		e->instancecount = j->n;
	}
	return e;
}

static ProtobufCMessage *h_task_get(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	const Peloton__Api__Task__GetRequest *r = (const Peloton__Api__Task__GetRequest *)m;
	Peloton__Api__Task__GetResponse *resp =
	    PB_NEW(Peloton__Api__Task__GetResponse, peloton__api__task__get_response__descriptor);
	if (!resp)
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	struct jm_job *j = live_job(ctx, r->jobid);
	if (!j) {
		resp->notfound = not_found(r->jobid && r->jobid->value ? r->jobid->value : "");
		return &resp->base;
	}
	if (r->instanceid >= j->n) {
		resp->outofrange = out_of_range(j);
		return &resp->base;
	}
	pthread_mutex_lock(&j->mu);
	resp->result = task_info(ctx, j, r->instanceid);
	pthread_mutex_unlock(&j->mu);
	return &resp->base;
}

static void range_of(struct jm_job *j, const Peloton__Api__Task__InstanceRange *rg, uint32_t *from,
                     uint32_t *to)
{
	*from = rg ? rg->from : 0;
	*to = rg && rg->to ? rg->to : j->n;
	if (*to > j->n)
		*to = j->n;
	if (*from > *to)
		*from = *to;
}

static ProtobufCMessage *h_task_list(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	const Peloton__Api__Task__ListRequest *r = (const Peloton__Api__Task__ListRequest *)m;
	Peloton__Api__Task__ListResponse *resp =
	    PB_NEW(Peloton__Api__Task__ListResponse, peloton__api__task__list_response__descriptor);
	if (!resp)
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	struct jm_job *j = live_job(ctx, r->jobid);
	if (!j) {
		resp->notfound = not_found(r->jobid && r->jobid->value ? r->jobid->value : "");
		return &resp->base;
	}
	uint32_t from, to;
	range_of(j, r->range, &from, &to);
	Peloton__Api__Task__ListResponse__Result *res =
	    PB_NEW(Peloton__Api__Task__ListResponse__Result,
	           peloton__api__task__list_response__result__descriptor);
	resp->result = res;
	if (!res)
		goto nomem;
	res->value = calloc(to - from ? to - from : 1, sizeof(*res->value));
	if (!res->value)
		goto nomem;
	pthread_mutex_lock(&j->mu);
	for (uint32_t i = from; i < to; i++) {
		Peloton__Api__Task__ListResponse__Result__ValueEntry *e =
		    PB_NEW(Peloton__Api__Task__ListResponse__Result__ValueEntry,
		           peloton__api__task__list_response__result__value_entry__descriptor);
		if (!e)
			break;
		e->key = i;
		e->value = task_info(ctx, j, i);
		res->value[res->n_value++] = e;
	}
	pthread_mutex_unlock(&j->mu);
	return &resp->base;
nomem:
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return rpc_fail(st, RPC_INTERNAL, "out of memory");
}

static ProtobufCMessage *h_task_query(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	const Peloton__Api__Task__QueryRequest *r = (const Peloton__Api__Task__QueryRequest *)m;
	Peloton__Api__Task__QueryResponse *resp = PB_NEW(
	    Peloton__Api__Task__QueryResponse, peloton__api__task__query_response__descriptor);
	if (!resp)
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	struct jm_job *j = live_job(ctx, r->jobid);
	if (!j) {
		resp->error = (Peloton__Api__Task__QueryResponse__Error *)error_not_found(
		    &peloton__api__task__query_response__error__descriptor, r->jobid);
		return &resp->base;
	}
	const Peloton__Api__Task__QuerySpec *q = r->spec;
	const Peloton__Api__Query__PaginationSpec *ps = q ? q->pagination : NULL;
	uint32_t off = ps ? ps->offset : 0, lim = ps && ps->limit ? ps->limit : 100;
	if (ps && ps->maxlimit && lim > ps->maxlimit)
		lim = ps->maxlimit;
	uint32_t total = 0;
	resp->records = calloc(lim ? lim : 1, sizeof(*resp->records));
	pthread_mutex_lock(&j->mu);
	for (uint32_t i = 0; resp->records && i < j->n; i++) {
		bool ok = !q || !q->n_taskstates;
		for (size_t k = 0; q && k < q->n_taskstates; k++)
			ok |= (uint32_t)q->taskstates[k] == j->tasks[i].state;
		if (!ok)
			continue;
		if (total >= off && resp->n_records < lim) {
			Peloton__Api__Task__TaskInfo *ti = task_info(ctx, j, i);
			if (ti)
				resp->records[resp->n_records++] = ti;
		}
		total++;
	}
	pthread_mutex_unlock(&j->mu);
	resp->pagination =
	    PB_NEW(Peloton__Api__Query__Pagination, peloton__api__query__pagination__descriptor);
	if (resp->pagination) {
		resp->pagination->offset = off;
		resp->pagination->limit = lim;
		resp->pagination->total = total;
	}
	return &resp->base;
}

/* Instances named by ranges (all when none); malloc'd, *n set; invalid ones counted. */
static uint32_t *ranges_of(struct jm_job *j, Peloton__Api__Task__InstanceRange **rg, size_t nrg,
                           size_t *n)
{
	size_t cap = 0;
	for (size_t k = 0; k < nrg; k++) {
		uint32_t f, t;
		range_of(j, rg[k], &f, &t);
		cap += t - f;
	}
	if (!nrg)
		cap = j->n;
	uint32_t *v = calloc(cap ? cap : 1, sizeof(uint32_t));
	*n = 0;
	if (!v)
		return NULL;
	if (!nrg)
		for (uint32_t i = 0; i < j->n; i++)
			v[(*n)++] = i;
	for (size_t k = 0; k < nrg; k++) {
		uint32_t f, t;
		range_of(j, rg[k], &f, &t);
		for (uint32_t i = f; i < t; i++)
			v[(*n)++] = i;
	}
	return v;
}

static ProtobufCMessage *h_task_stop(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	struct jobmgr *jm = ctx;
	const Peloton__Api__Task__StopRequest *r = (const Peloton__Api__Task__StopRequest *)m;
	Peloton__Api__Task__StopResponse *resp =
	    PB_NEW(Peloton__Api__Task__StopResponse, peloton__api__task__stop_response__descriptor);
	if (!resp)
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	struct jm_job *j = live_job(jm, r->jobid);
	if (!j) {
		resp->error = (Peloton__Api__Task__StopResponse__Error *)error_not_found(
		    &peloton__api__task__stop_response__error__descriptor, r->jobid);
		return &resp->base;
	}
	size_t n;
	uint32_t *v = ranges_of(j, r->ranges, r->n_ranges, &n);
	struct store_batch *b = store_batch_new(jm->cfg.store);
	if (!v || !b) {
		free(v);
		store_batch_free(b);
		protobuf_c_message_free_unpacked(&resp->base, NULL);
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	}
	pthread_mutex_lock(&j->mu);
	stop_tasks__(jm, j, v, n, b);
	j->goal = PELOTON__API__JOB__JOB_STATE__KILLED;
	if (jm__job_refresh(j))
		jm__put_job_runtime(jm, b, j);
	pthread_mutex_unlock(&j->mu);
	enum store_status ss = store_commit(jm->cfg.store, b);
	if (ss != STORE_OK) {
		free(v);
		protobuf_c_message_free_unpacked(&resp->base, NULL);
		return rpc_fail(st, RPC_INTERNAL, "cannot persist the stop (status %d)", (int)ss);
	}
	resp->stoppedinstanceids = v;
	resp->n_stoppedinstanceids = n;
	return &resp->base;
}

/*
 * The end of Start and Restart (j->mu held; released here): the job's goal
 * back to SUCCEEDED, the batch committed, then the tasks sent to PENDING
 * enqueued. Returns the commit's status.
 */
static enum store_status start_commit__(struct jobmgr *jm, struct jm_job *j, struct store_batch *b,
                                        const uint32_t *insts, size_t n)
{
	j->goal = PELOTON__API__JOB__JOB_STATE__SUCCEEDED;
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

static ProtobufCMessage *h_task_start(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	struct jobmgr *jm = ctx;
	const Peloton__Api__Task__StartRequest *r = (const Peloton__Api__Task__StartRequest *)m;
	Peloton__Api__Task__StartResponse *resp = PB_NEW(
	    Peloton__Api__Task__StartResponse, peloton__api__task__start_response__descriptor);
	if (!resp)
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	struct jm_job *j = live_job(jm, r->jobid);
	if (!j) {
		resp->error = (Peloton__Api__Task__StartResponse__Error *)error_not_found(
		    &peloton__api__task__start_response__error__descriptor, r->jobid);
		return &resp->base;
	}
	size_t n;
	uint32_t *v = ranges_of(j, r->ranges, r->n_ranges, &n);
	uint32_t *started = calloc(n ? n : 1, sizeof(uint32_t));
	struct store_batch *b = store_batch_new(jm->cfg.store);
	size_t ns = 0;
	if (!v || !started || !b) {
		free(v);
		free(started);
		store_batch_free(b);
		protobuf_c_message_free_unpacked(&resp->base, NULL);
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	}
	pthread_mutex_lock(&j->mu);
	for (size_t k = 0; k < n; k++) {
		struct jm_task *t = &j->tasks[v[k]];
		t->goal = TASK_SUCCEEDED;
		if (!taskstate_terminal((enum taskstate)t->state))
			continue; /* running or on its way: nothing to do */
		jm__set_state(j, v[k], TASK_PENDING);
		t->start_ns = t->done_ns = 0;
		jm__put_task(jm, b, j, v[k], "start requested");
		started[ns++] = v[k];
	}
	enum store_status ss = start_commit__(jm, j, b, started, ns);
	free(v);
	resp->startedinstanceids = started;
	resp->n_startedinstanceids = ns;
	if (ss != STORE_OK) {
		protobuf_c_message_free_unpacked(&resp->base, NULL);
		return rpc_fail(st, RPC_INTERNAL, "cannot persist the start (status %d)", (int)ss);
	}
	return &resp->base;
}

/*
 * RestartTasks: a running (or launching) task is killed and relaunched as a
 * new run once Mesos reports it terminal; a terminal one starts again; one
 * not launched yet is left as it is.
 */
static ProtobufCMessage *h_task_restart(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	struct jobmgr *jm = ctx;
	const Peloton__Api__Task__RestartRequest *r = (const void *)m;
	Peloton__Api__Task__RestartResponse *resp = PB_NEW(
	    Peloton__Api__Task__RestartResponse, peloton__api__task__restart_response__descriptor);
	if (!resp)
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	struct jm_job *j = live_job(jm, r->jobid);
	if (!j) {
		resp->notfound = not_found(r->jobid && r->jobid->value ? r->jobid->value : "");
		return &resp->base;
	}
	size_t n, nq = 0;
	uint32_t *v = ranges_of(j, r->ranges, r->n_ranges, &n);
	uint32_t *again = calloc(n ? n : 1, sizeof(uint32_t));
	struct store_batch *b = store_batch_new(jm->cfg.store);
	if (!v || !again || !b) {
		free(v);
		free(again);
		store_batch_free(b);
		protobuf_c_message_free_unpacked(&resp->base, NULL);
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	}
	pthread_mutex_lock(&j->mu);
	for (size_t k = 0; k < n; k++) {
		uint32_t i = v[k];
		struct jm_task *t = &j->tasks[i];
		enum taskstate old = (enum taskstate)t->state;
		t->goal = TASK_SUCCEEDED;
		if (taskstate_terminal(old)) {
			jm__set_state(j, i, TASK_PENDING);
			t->start_ns = t->done_ns = 0;
			jm__put_task(jm, b, j, i, "restart requested");
			again[nq++] = i;
		} else if (old >= TASK_LAUNCHING && old != TASK_KILLING && t->agent) {
			t->restart = true;
			jm__kill_run(jm, j, i, clock_wall_ns());
			jm__put_task(jm, b, j, i, "restart requested: killing the current run");
		}
	}
	enum store_status ss = start_commit__(jm, j, b, again, nq);
	free(v);
	free(again);
	if (ss != STORE_OK) {
		protobuf_c_message_free_unpacked(&resp->base, NULL);
		return rpc_fail(st, RPC_INTERNAL, "cannot persist the restart (status %d)",
		                (int)ss);
	}
	return &resp->base;
}

struct ev_scan {
	Peloton__Api__Task__GetEventsResponse__Events *evs;
	size_t cap;
};

static bool ev_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen,
                  uint64_t version)
{
	struct ev_scan *s = arg;
	(void)key;
	(void)klen;
	(void)version;
	if (s->evs->n_event == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		Peloton__Api__Task__TaskEvent **nv =
		    realloc(s->evs->event, s->cap * sizeof(*s->evs->event));
		if (!nv)
			return false;
		s->evs->event = nv;
	}
	const char *why;
	Peloton__Api__Task__TaskEvent *e = (Peloton__Api__Task__TaskEvent *)proto_decode(
	    &peloton__api__task__task_event__descriptor, val, vlen, NULL, &why);
	if (e)
		s->evs->event[s->evs->n_event++] = e;
	return s->evs->n_event < 10000;
}

static ProtobufCMessage *h_task_events(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	struct jobmgr *jm = ctx;
	const Peloton__Api__Task__GetEventsRequest *r =
	    (const Peloton__Api__Task__GetEventsRequest *)m;
	struct jm_job *j = live_job(jm, r->jobid);
	if (!j)
		return rpc_fail(st, RPC_NOT_FOUND, "job %s not found",
		                r->jobid && r->jobid->value ? r->jobid->value : "");
	if (r->instanceid >= j->n)
		return rpc_fail(st, RPC_OUT_OF_RANGE, "instance %u not below %u", r->instanceid,
		                j->n);
	Peloton__Api__Task__GetEventsResponse *resp =
	    PB_NEW(Peloton__Api__Task__GetEventsResponse,
	           peloton__api__task__get_events_response__descriptor);
	Peloton__Api__Task__GetEventsResponse__Events *evs =
	    PB_NEW(Peloton__Api__Task__GetEventsResponse__Events,
	           peloton__api__task__get_events_response__events__descriptor);
	resp->result = calloc(1, sizeof(*resp->result));
	if (!resp || !evs || !resp->result)
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	resp->result[0] = evs;
	resp->n_result = 1;
	char key[160];
	size_t kl = store_key_task_prefix(key, j->id, r->instanceid);
	struct ev_scan s = {evs, 0};
	store_scan(jm->cfg.store, STORE_TASK_EVENTS, key, kl, false, ev_cb, &s);
	return &resp->base;
}

/*
 * BrowseSandbox: the agent's files endpoint lists the sandbox of the
 * task's current run. v0 style: notFound, outOfRange, notRunning (never
 * launched) and failure (the agent did not answer) inside the response.
 */
static ProtobufCMessage *h_task_browse(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	struct jobmgr *jm = ctx;
	const Peloton__Api__Task__BrowseSandboxRequest *r =
	    (const Peloton__Api__Task__BrowseSandboxRequest *)m;
	Peloton__Api__Task__BrowseSandboxResponse *resp =
	    PB_NEW(Peloton__Api__Task__BrowseSandboxResponse,
	           peloton__api__task__browse_sandbox_response__descriptor);
	Peloton__Api__Task__BrowseSandboxResponse__Error *e =
	    PB_NEW(Peloton__Api__Task__BrowseSandboxResponse__Error,
	           peloton__api__task__browse_sandbox_response__error__descriptor);
	if (!resp || !e) {
		free(resp);
		free(e);
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	}
	char mid[128] = "", agent[128] = "", err[256] = "";
	struct jm_job *j = live_job(jm, r->jobid);
	if (!j) {
		e->notfound = not_found(r->jobid && r->jobid->value ? r->jobid->value : "");
	} else if (r->instanceid >= j->n) {
		e->outofrange = out_of_range(j);
	} else {
		pthread_mutex_lock(&j->mu);
		struct jm_task *t = &j->tasks[r->instanceid];
		if (t->run && t->agent) {
			snprintf(mid, sizeof(mid), "%s-%u-%u", j->id, r->instanceid, t->run);
			snprintf(agent, sizeof(agent), "%s", t->agent);
		}
		pthread_mutex_unlock(&j->mu);
		if (!mid[0]) {
			e->notrunning = PB_NEW(Peloton__Api__Task__TaskNotRunning,
			                       peloton__api__task__task_not_running__descriptor);
			snprintf(err, sizeof(err), "task %s-%u was never launched", j->id,
			         r->instanceid);
			if (e->notrunning)
				e->notrunning->message = dupstr(err);
		} else {
			char host[128], port[16];
			char **paths = NULL;
			size_t n = 0;
			if (jm->cfg.hm.browse &&
			    jm->cfg.hm.browse(jm->cfg.hm.arg, agent, mid, host, sizeof(host), port,
			                      sizeof(port), &paths, &n, err, sizeof(err)) == 0) {
				resp->hostname = dupstr(host);
				resp->port = dupstr(port);
				resp->paths = paths;
				resp->n_paths = n;
				protobuf_c_message_free_unpacked(&e->base, NULL);
				return &resp->base;
			}
			e->failure = PB_NEW(Peloton__Api__Task__BrowseSandboxFailure,
			                    peloton__api__task__browse_sandbox_failure__descriptor);
			if (e->failure)
				e->failure->message =
				    dupstr(jm->cfg.hm.browse ? err : "no files endpoint");
		}
	}
	resp->error = e;
	return &resp->base;
}

/* ---- TaskService (svc API) over the v0 handlers ----
 *
 * The svc messages carry the same data under other names; each call is
 * translated through proto3 JSON (field renames by dotted path), the v0
 * handler runs, and its in-response errors become status codes.
 */

static json_t *get_path(json_t *j, const char *path)
{
	char buf[64];
	snprintf(buf, sizeof(buf), "%s", path);
	char *save = NULL;
	for (char *tok = strtok_r(buf, ".", &save); tok && j; tok = strtok_r(NULL, ".", &save))
		j = json_object_get(j, tok);
	return j;
}

static void set_path(json_t *j, const char *path, json_t *v)
{
	char buf[64];
	snprintf(buf, sizeof(buf), "%s", path);
	char *dot;
	char *cur = buf;
	while ((dot = strchr(cur, '.'))) {
		*dot = 0;
		json_t *next = json_object_get(j, cur);
		if (!next) {
			next = json_object();
			json_object_set_new(j, cur, next);
		}
		j = next;
		cur = dot + 1;
	}
	json_object_set(j, cur, v);
}

/* {from, to} pairs, NULL-terminated: copies each present field. */
static json_t *renamed(json_t *in, const char *const (*map)[2])
{
	json_t *o = json_object();
	for (size_t i = 0; map[i][0]; i++) {
		json_t *v = get_path(in, map[i][0]);
		if (v)
			set_path(o, map[i][1], v);
	}
	return o;
}

/* A v0 answer's error (top-level or inside `error`) as a status; true if one. */
static bool v0_error(json_t *r, struct rpc_status *st)
{
	static const struct {
		const char *key;
		enum rpc_code code;
	} kinds[] = {
	    {"notFound", RPC_NOT_FOUND},
	    {"outOfRange", RPC_OUT_OF_RANGE},
	    {"notRunning", RPC_FAILED_PRECONDITION},
	    {"failure", RPC_INTERNAL},
	    {"updateError", RPC_INTERNAL},
	    {"eventError", RPC_INTERNAL},
	};
	json_t *scopes[2] = {r, json_object_get(r, "error")};
	for (int s = 0; s < 2; s++)
		for (size_t k = 0; scopes[s] && k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			json_t *e = json_object_get(scopes[s], kinds[k].key);
			if (!e)
				continue;
			const char *msg = json_string_value(json_object_get(e, "message"));
			rpc_fail(st, kinds[k].code, "%s", msg ? msg : kinds[k].key);
			return true;
		}
	return false;
}

static ProtobufCMessage *svc_over_v0(void *ctx, const ProtobufCMessage *m, struct rpc_status *st,
                                     rpc_handler_f v0, const ProtobufCMessageDescriptor *v0_in,
                                     const char *const (*req_map)[2],
                                     const ProtobufCMessageDescriptor *out,
                                     const char *const (*resp_map)[2])
{
	char err[256];
	json_t *jin = pjson_encode(m);
	json_t *tin = jin ? renamed(jin, req_map) : NULL;
	json_decref(jin);
	ProtobufCMessage *req = tin ? pjson_decode(v0_in, tin, 0, err, sizeof(err)) : NULL;
	json_decref(tin);
	if (!req)
		return rpc_fail(st, RPC_INTERNAL, "request translation failed");
	ProtobufCMessage *r = v0(ctx, req, st);
	protobuf_c_message_free_unpacked(req, NULL);
	if (!r)
		return NULL;
	json_t *jr = pjson_encode(r);
	protobuf_c_message_free_unpacked(r, NULL);
	if (!jr)
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	if (v0_error(jr, st)) {
		json_decref(jr);
		return NULL;
	}
	json_t *tr = renamed(jr, resp_map);
	json_decref(jr);
	ProtobufCMessage *resp = pjson_decode(out, tr, 0, err, sizeof(err));
	json_decref(tr);
	return resp ? resp : rpc_fail(st, RPC_INTERNAL, "response translation failed: %s", err);
}

#define SVC_TASK(name, v0fn, v0in, svcout, reqmap, respmap)                                        \
	static ProtobufCMessage *name(void *ctx, const ProtobufCMessage *m, struct rpc_status *st) \
	{                                                                                          \
		return svc_over_v0(ctx, m, st, v0fn, &v0in, reqmap, &svcout, respmap);             \
	}

static const char *const M_ID_INST[][2] = {
    {"jobId", "jobId"}, {"instanceId", "instanceId"}, {NULL, NULL}};
static const char *const M_ID_RANGE[][2] = {{"jobId", "jobId"}, {"range", "range"}, {NULL, NULL}};
static const char *const M_ID_RANGES[][2] = {
    {"jobId", "jobId"}, {"ranges", "ranges"}, {NULL, NULL}};
static const char *const M_QUERY[][2] = {
    {"jobId", "jobId"}, {"spec", "spec"}, {"pagination", "spec.pagination"}, {NULL, NULL}};
static const char *const R_RESULT[][2] = {{"result", "result"}, {NULL, NULL}};
static const char *const R_TASKS[][2] = {{"result.value", "tasks"}, {NULL, NULL}};
static const char *const R_QUERY[][2] = {
    {"records", "records"}, {"pagination", "pagination"}, {NULL, NULL}};
static const char *const R_STOP[][2] = {
    {"stoppedInstanceIds", "stopped"}, {"invalidInstanceIds", "failed"}, {NULL, NULL}};
static const char *const R_START[][2] = {
    {"startedInstanceIds", "started"}, {"invalidInstanceIds", "failed"}, {NULL, NULL}};
static const char *const R_NONE[][2] = {{NULL, NULL}};
static const char *const R_SANDBOX[][2] = {
    {"hostname", "hostname"}, {"port", "port"}, {"paths", "paths"}, {NULL, NULL}};

SVC_TASK(h_svc_task_get, h_task_get, peloton__api__task__get_request__descriptor,
         peloton__api__task__svc__get_task_response__descriptor, M_ID_INST, R_RESULT)
SVC_TASK(h_svc_task_list, h_task_list, peloton__api__task__list_request__descriptor,
         peloton__api__task__svc__list_tasks_response__descriptor, M_ID_RANGE, R_TASKS)
SVC_TASK(h_svc_task_query, h_task_query, peloton__api__task__query_request__descriptor,
         peloton__api__task__svc__query_tasks_response__descriptor, M_QUERY, R_QUERY)
SVC_TASK(h_svc_task_stop, h_task_stop, peloton__api__task__stop_request__descriptor,
         peloton__api__task__svc__stop_tasks_response__descriptor, M_ID_RANGES, R_STOP)
SVC_TASK(h_svc_task_start, h_task_start, peloton__api__task__start_request__descriptor,
         peloton__api__task__svc__start_tasks_response__descriptor, M_ID_RANGES, R_START)
SVC_TASK(h_svc_task_restart, h_task_restart, peloton__api__task__restart_request__descriptor,
         peloton__api__task__svc__restart_tasks_response__descriptor, M_ID_RANGES, R_NONE)
SVC_TASK(h_svc_task_events, h_task_events, peloton__api__task__get_events_request__descriptor,
         peloton__api__task__svc__get_events_response__descriptor, M_ID_INST, R_RESULT)
SVC_TASK(h_svc_task_browse, h_task_browse, peloton__api__task__browse_sandbox_request__descriptor,
         peloton__api__task__svc__browse_sandbox_response__descriptor, M_ID_INST, R_SANDBOX)

void jobmgr_bind(struct jobmgr *jm, struct rpc_table *t)
{
	static const struct {
		const char *svc, *method;
		rpc_handler_f fn;
	} tab[] = {
	    {"peloton.api.job.JobManager", "Create", h_create},
	    {"peloton.api.job.JobManager", "Get", h_get},
	    {"peloton.api.job.JobManager", "Query", h_query},
	    {"peloton.api.job.JobManager", "Delete", h_delete},
	    {"peloton.api.job.JobManager", "Update", h_update},
	    {"peloton.api.job.svc.JobService", "UpdateJob", h_svc_update},
	    {"peloton.api.job.svc.JobService", "CreateJob", h_svc_create},
	    {"peloton.api.job.svc.JobService", "GetJob", h_svc_get},
	    {"peloton.api.job.svc.JobService", "QueryJobs", h_svc_query},
	    {"peloton.api.job.svc.JobService", "DeleteJob", h_svc_delete},
	    {"peloton.api.task.TaskManager", "Get", h_task_get},
	    {"peloton.api.task.TaskManager", "List", h_task_list},
	    {"peloton.api.task.TaskManager", "Query", h_task_query},
	    {"peloton.api.task.TaskManager", "Stop", h_task_stop},
	    {"peloton.api.task.TaskManager", "Start", h_task_start},
	    {"peloton.api.task.TaskManager", "Restart", h_task_restart},
	    {"peloton.api.task.TaskManager", "GetEvents", h_task_events},
	    {"peloton.api.task.TaskManager", "BrowseSandbox", h_task_browse},
	    {"peloton.api.task.svc.TaskService", "GetTask", h_svc_task_get},
	    {"peloton.api.task.svc.TaskService", "ListTasks", h_svc_task_list},
	    {"peloton.api.task.svc.TaskService", "QueryTasks", h_svc_task_query},
	    {"peloton.api.task.svc.TaskService", "StopTasks", h_svc_task_stop},
	    {"peloton.api.task.svc.TaskService", "StartTasks", h_svc_task_start},
	    {"peloton.api.task.svc.TaskService", "RestartTasks", h_svc_task_restart},
	    {"peloton.api.task.svc.TaskService", "GetEvents", h_svc_task_events},
	    {"peloton.api.task.svc.TaskService", "BrowseSandbox", h_svc_task_browse},
	};
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (rpc_bind(t, tab[i].svc, tab[i].method, tab[i].fn, jm) != 0)
			log_error("jobmgr", "schema has no %s/%s", tab[i].svc, tab[i].method);
}
