/*
 * The v0 JobManager and TaskManager handlers; see v0.h.
 *
 * Every handler over a job starts with one prologue (begin): the response
 * allocated, the job looked up, and a missing job answered inside the
 * response as the v0 API does — its notFound (or jobNotFound) field, at
 * the top of the response or inside its `error`, whichever the message
 * has. The operations themselves are jobs.c's.
 */
#define _GNU_SOURCE /* qsort_r */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handoff.h"
#include "jobs.h"
#include "log.h"
#include "persist.h"
#include "proto_codec.h"
#include "peloton/api/task/svc/task_svc.pb-c.h"
#include "v0.h"

static char *dupstr(const char *s)
{
	return strdup(s ? s : "");
}

Peloton__Api__Peloton__JobID *jm__job_id_pb(const char *id)
{
	Peloton__Api__Peloton__JobID *p =
	    PB_NEW(Peloton__Api__Peloton__JobID, peloton__api__peloton__job_id__descriptor);
	if (p)
		p->value = dupstr(id);
	return p;
}

/* ---- the prologue ---- */

/* The message-typed field `name` of d, or NULL. */
static const ProtobufCFieldDescriptor *msg_field(const ProtobufCMessageDescriptor *d,
                                                 const char *name)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(d, name);
	return f && f->type == PROTOBUF_C_TYPE_MESSAGE && f->label != PROTOBUF_C_LABEL_REPEATED
	           ? f
	           : NULL;
}

/* A "<kind> not found" message of d (id and message fields set). */
static ProtobufCMessage *not_found_msg(const ProtobufCMessageDescriptor *d, const char *id)
{
	ProtobufCMessage *e = proto_new(d);
	const ProtobufCFieldDescriptor *fid = msg_field(d, "id");
	const ProtobufCFieldDescriptor *fmsg =
	    protobuf_c_message_descriptor_get_field_by_name(d, "message");
	if (!e)
		return NULL;
	char text[128];
	snprintf(text, sizeof(text), "job %.80s not found", id);
	if (fid)
		*(void **)((char *)e + fid->offset) = jm__job_id_pb(id);
	if (fmsg && fmsg->type == PROTOBUF_C_TYPE_STRING)
		*(char **)((char *)e + fmsg->offset) = dupstr(text);
	return e;
}

/* Places "job not found" into resp (its notFound / jobNotFound, at the top
 * or inside `error`). 0, or -1 (no such field, or ENOMEM). */
static int not_found_into(ProtobufCMessage *resp, const char *id)
{
	static const char *const names[] = {"notFound", "jobNotFound"};
	ProtobufCMessage *at = resp;
	for (int depth = 0; depth < 2; depth++) {
		for (size_t i = 0; i < 2; i++) {
			const ProtobufCFieldDescriptor *f = msg_field(at->descriptor, names[i]);
			if (!f)
				continue;
			ProtobufCMessage *e = not_found_msg(f->descriptor, id);
			*(ProtobufCMessage **)((char *)at + f->offset) = e;
			return e ? 0 : -1;
		}
		const ProtobufCFieldDescriptor *ef = msg_field(at->descriptor, "error");
		if (!ef)
			return -1;
		ProtobufCMessage **slot = (ProtobufCMessage **)((char *)at + ef->offset);
		if (!*slot && !(*slot = proto_new(ef->descriptor)))
			return -1;
		at = *slot;
	}
	return -1;
}

/*
 * The prologue: a new response of desc and the live job named by id in
 * *j. A missing job is answered inside the response (*j NULL; the
 * response is complete). NULL with st set on ENOMEM.
 */
static ProtobufCMessage *begin(struct jobmgr *jm, const ProtobufCMessageDescriptor *desc,
                               const Peloton__Api__Peloton__JobID *id, struct rpc_status *st,
                               struct jm_job **j)
{
	ProtobufCMessage *resp = proto_new(desc);
	*j = NULL;
	if (!resp)
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	*j = jm__live_job(jm, id);
	if (*j == NULL && not_found_into(resp, id && id->value ? id->value : "") != 0) {
		PB_FREE(resp);
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	}
	return resp;
}

/* The same for a task: instanceId below the job's count, else outOfRange
 * (at the top or inside `error`) and *j NULL. */
static ProtobufCMessage *begin_task(struct jobmgr *jm, const ProtobufCMessageDescriptor *desc,
                                    const Peloton__Api__Peloton__JobID *id, uint32_t inst,
                                    struct rpc_status *st, struct jm_job **j)
{
	ProtobufCMessage *resp = begin(jm, desc, id, st, j);
	if (!resp || !*j || inst < (*j)->n)
		return resp;
	ProtobufCMessage *at = resp;
	const ProtobufCFieldDescriptor *f = msg_field(desc, "outOfRange");
	if (!f && (f = msg_field(desc, "error")) != NULL) {
		ProtobufCMessage **slot = (ProtobufCMessage **)((char *)resp + f->offset);
		at = *slot ? *slot : (*slot = proto_new(f->descriptor));
		f = at ? msg_field(f->descriptor, "outOfRange") : NULL;
	}
	Peloton__Api__Task__InstanceIdOutOfRange *e =
	    f ? PB_NEW(Peloton__Api__Task__InstanceIdOutOfRange,
	               peloton__api__task__instance_id_out_of_range__descriptor)
	      : NULL;
	if (e) {
		e->jobid = jm__job_id_pb((*j)->id);
		e->instancecount = (*j)->n;
		*(void **)((char *)at + f->offset) = e;
	}
	*j = NULL;
	return resp;
}

#define BEGIN(type, desc, id, jp) ((type *)begin(ctx, &desc, id, st, jp))

/* ---- JobManager ---- */

/* The error.invalidJobId of Create and Update: an id no job can have. */
static Peloton__Api__Job__InvalidJobId *invalid_job_id(const char *id)
{
	Peloton__Api__Job__InvalidJobId *e =
	    PB_NEW(Peloton__Api__Job__InvalidJobId, peloton__api__job__invalid_job_id__descriptor);
	if (e) {
		e->id = jm__job_id_pb(id ? id : "");
		e->message = dupstr("a job id is 1 to 47 characters, none of them '/', "
		                    "whitespace or a control character (a UUID is one)");
	}
	return e;
}

ProtobufCMessage *jm__v0_update(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	const Peloton__Api__Job__UpdateRequest *r = (const void *)m;
	struct jm_job *j;
	if (!r->id || !r->id->value || !jm__valid_job_id(r->id->value)) {
		Peloton__Api__Job__UpdateResponse *bad =
		    PB_NEW(Peloton__Api__Job__UpdateResponse,
		           peloton__api__job__update_response__descriptor);
		if (bad &&
		    (bad->error = PB_NEW(Peloton__Api__Job__UpdateResponse__Error,
		                         peloton__api__job__update_response__error__descriptor)))
			bad->error->invalidjobid = invalid_job_id(r->id ? r->id->value : "");
		return bad ? &bad->base : rpc_fail(st, RPC_INTERNAL, "out of memory");
	}
	Peloton__Api__Job__UpdateResponse *resp =
	    BEGIN(Peloton__Api__Job__UpdateResponse, peloton__api__job__update_response__descriptor,
	          r->id, &j);
	if (!resp || !j)
		return (ProtobufCMessage *)resp;
	char err[256] = "";
	enum rpc_code c = jm__update(ctx, j, r->config, err, sizeof(err));
	if (c == RPC_INTERNAL) {
		PB_FREE(resp);
		return rpc_fail(st, c, "%s", err);
	}
	if (c == RPC_OK) {
		resp->id = jm__job_id_pb(j->id);
		resp->message = dupstr("updated");
		return &resp->base;
	}
	resp->error = PB_NEW(Peloton__Api__Job__UpdateResponse__Error,
	                     peloton__api__job__update_response__error__descriptor);
	Peloton__Api__Job__InvalidJobConfig *e = PB_NEW(
	    Peloton__Api__Job__InvalidJobConfig, peloton__api__job__invalid_job_config__descriptor);
	if (resp->error && e) {
		e->id = jm__job_id_pb(j->id);
		e->message = dupstr(err);
		resp->error->invalidconfig = e;
	} else {
		PB_FREE(e);
	}
	return &resp->base;
}

ProtobufCMessage *jm__v0_create(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	const Peloton__Api__Job__CreateRequest *r = (const Peloton__Api__Job__CreateRequest *)m;
	Peloton__Api__Job__CreateResponse *resp = PB_NEW(
	    Peloton__Api__Job__CreateResponse, peloton__api__job__create_response__descriptor);
	char id[64] = "", err[256] = "";
	if (!resp)
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	if (r->id && r->id->value && r->id->value[0] && !jm__valid_job_id(r->id->value)) {
		resp->error = PB_NEW(Peloton__Api__Job__CreateResponse__Error,
		                     peloton__api__job__create_response__error__descriptor);
		if (resp->error)
			resp->error->invalidjobid = invalid_job_id(r->id->value);
		return &resp->base;
	}
	enum rpc_code c =
	    jm__create(ctx, r->id ? r->id->value : NULL, r->config, id, err, sizeof(err));
	if (c == RPC_OK) {
		resp->jobid = jm__job_id_pb(id);
		return &resp->base;
	}
	if (c == RPC_INTERNAL) {
		PB_FREE(resp);
		return rpc_fail(st, c, "%s", err);
	}
	/* v0: errors inside the response */
	resp->error = PB_NEW(Peloton__Api__Job__CreateResponse__Error,
	                     peloton__api__job__create_response__error__descriptor);
	if (!resp->error)
		return &resp->base;
	if (c == RPC_ALREADY_EXISTS) {
		Peloton__Api__Job__JobAlreadyExists *e =
		    PB_NEW(Peloton__Api__Job__JobAlreadyExists,
		           peloton__api__job__job_already_exists__descriptor);
		if ((resp->error->alreadyexists = e)) {
			e->id = jm__job_id_pb(id);
			e->message = dupstr(err);
		}
	} else {
		Peloton__Api__Job__InvalidJobConfig *e =
		    PB_NEW(Peloton__Api__Job__InvalidJobConfig,
		           peloton__api__job__invalid_job_config__descriptor);
		if ((resp->error->invalidconfig = e)) {
			e->id = jm__job_id_pb(r->id ? r->id->value : "");
			e->message = dupstr(err);
		}
	}
	return &resp->base;
}

static Peloton__Api__Job__JobInfo *job_info(struct jm_job *j, bool with_config)
{
	Peloton__Api__Job__JobInfo *ji =
	    PB_NEW(Peloton__Api__Job__JobInfo, peloton__api__job__job_info__descriptor);
	if (!ji)
		return NULL;
	ji->id = jm__job_id_pb(j->id);
	pthread_mutex_lock(&j->mu);
	ji->runtime = jm__job_runtime(j);
	if (with_config) {
		ji->config = (Peloton__Api__Job__JobConfig *)proto_clone(&j->cfg->base);
		/* as upstream: instanceConfig is not returned inside JobInfo */
		if (ji->config) {
			for (size_t i = 0; i < ji->config->n_instanceconfig; i++)
				PB_FREE(ji->config->instanceconfig[i]);
			free(ji->config->instanceconfig);
			ji->config->instanceconfig = NULL;
			ji->config->n_instanceconfig = 0;
			PB_FREE(ji->config->changelog);
			ji->config->changelog = jm__changelog(j);
		}
	}
	pthread_mutex_unlock(&j->mu);
	return ji;
}

ProtobufCMessage *jm__v0_get(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	const Peloton__Api__Job__GetRequest *r = (const Peloton__Api__Job__GetRequest *)m;
	struct jm_job *j;
	Peloton__Api__Job__GetResponse *resp = BEGIN(
	    Peloton__Api__Job__GetResponse, peloton__api__job__get_response__descriptor, r->id, &j);
	if (resp && j)
		resp->jobinfo = job_info(j, true);
	return (ProtobufCMessage *)resp;
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
	/* upstream's owner is the owning team; the name is matched whole */
	if (q->owner && q->owner[0] && strcmp(q->owner, j->cfg->owningteam) != 0)
		return false;
	if (q->name && q->name[0] && strcmp(q->name, j->cfg->name) != 0)
		return false;
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

/* Keywords, and labels, a job query may hold (docs/LIMITS.md). */
#define MAX_QUERY_TERMS 100

/* The order of a query's records (qsort_r's argument). */
struct job_order {
	const char *property; /* "name", "state", else creation time */
	bool desc;
};

static int cmp_jobs(const void *a, const void *b, void *arg)
{
	const struct job_order *o = arg;
	const struct jm_job *x = *(struct jm_job *const *)a, *y = *(struct jm_job *const *)b;
	int c;
	if (strcmp(o->property, "name") == 0)
		c = strcmp(x->cfg->name, y->cfg->name);
	else if (strcmp(o->property, "state") == 0)
		c = (int)x->state - (int)y->state; /* by number: the order the API lists them */
	else
		c = x->created_ns < y->created_ns ? -1 : x->created_ns > y->created_ns;
	return o->desc ? -c : c;
}

/* The jobs matching r (malloc'd, *n set; NULL with *n 0 when none or ENOMEM). */
static struct jm_job **matching(struct jobmgr *jm, const Peloton__Api__Job__QueryRequest *r,
                                size_t *n)
{
	struct jm_job **v = NULL;
	size_t cap = 0;
	*n = 0;
	pthread_rwlock_rdlock(&jm->lock);
	for (struct jm_job *j = jm->all; j; j = j->all_next) {
		pthread_mutex_lock(&j->mu);
		bool ok = job_matches(jm, j, r);
		pthread_mutex_unlock(&j->mu);
		if (!ok)
			continue;
		if (*n == cap) {
			cap = cap ? 2 * cap : 64;
			struct jm_job **nv = realloc(v, cap * sizeof(*v));
			if (!nv)
				break;
			v = nv;
		}
		v[(*n)++] = j;
	}
	pthread_rwlock_unlock(&jm->lock);
	return v;
}

ProtobufCMessage *jm__v0_query(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	const Peloton__Api__Job__QueryRequest *r = (const Peloton__Api__Job__QueryRequest *)m;
	/* each term is tried against every job: a bounded number of them */
	if (r->spec &&
	    (r->spec->n_keywords > MAX_QUERY_TERMS || r->spec->n_labels > MAX_QUERY_TERMS))
		return rpc_fail(st, RPC_INVALID_ARGUMENT,
		                "a query has at most %d keywords and %d labels (got %zu and %zu)",
		                MAX_QUERY_TERMS, MAX_QUERY_TERMS, r->spec->n_keywords,
		                r->spec->n_labels);
	Peloton__Api__Job__QueryResponse *resp =
	    PB_NEW(Peloton__Api__Job__QueryResponse, peloton__api__job__query_response__descriptor);
	if (!resp)
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	struct jobmgr *jm = ctx;
	char path[512];
	if (r->respoolid && r->respoolid->value && r->respoolid->value[0] &&
	    jm->cfg.rm.pool_path(jm->cfg.rm.arg, r->respoolid->value, path, sizeof(path)) != 0) {
		/* as upstream: a pool that does not exist is error.invalidRespool */
		Peloton__Api__Errors__InvalidRespool *e =
		    PB_NEW(Peloton__Api__Errors__InvalidRespool,
		           peloton__api__errors__invalid_respool__descriptor);
		resp->error = PB_NEW(Peloton__Api__Job__QueryResponse__Error,
		                     peloton__api__job__query_response__error__descriptor);
		if (e && resp->error) {
			e->respoolid = (Peloton__Api__Peloton__ResourcePoolID *)proto_clone(
			    &r->respoolid->base);
			e->message = dupstr("no resource pool has that id");
			resp->error->invalidrespool = e;
		} else {
			PB_FREE(e);
		}
		return &resp->base;
	}
	size_t n;
	struct jm_job **v = matching(ctx, r, &n);
	const Peloton__Api__Query__PaginationSpec *ps = r->spec ? r->spec->pagination : NULL;
	uint32_t off = ps ? ps->offset : 0, lim = ps && ps->limit ? ps->limit : 100;
	if (ps && ps->maxlimit && lim > ps->maxlimit)
		lim = ps->maxlimit;
	struct job_order o = {"creation_time", true};
	if (ps && ps->n_orderby && ps->orderby[0]->property && ps->orderby[0]->property->value) {
		o.property = ps->orderby[0]->property->value;
		o.desc = ps->orderby[0]->order == PELOTON__API__QUERY__ORDER_BY__ORDER__DESC;
	}
	if (n)
		qsort_r(v, n, sizeof(*v), cmp_jobs, &o);
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

ProtobufCMessage *jm__v0_delete(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	const Peloton__Api__Job__DeleteRequest *r = (const Peloton__Api__Job__DeleteRequest *)m;
	struct jm_job *j;
	Peloton__Api__Job__DeleteResponse *resp =
	    BEGIN(Peloton__Api__Job__DeleteResponse, peloton__api__job__delete_response__descriptor,
	          r->id, &j);
	char err[256];
	if (resp && !j) { /* as upstream: the status, not the body */
		PB_FREE(resp);
		return rpc_fail(st, RPC_NOT_FOUND, "job %s not found",
		                r->id && r->id->value ? r->id->value : "");
	}
	if (resp) { /* as upstream: only a terminal job (JobService.DeleteJob stops one first) */
		pthread_mutex_lock(&j->mu);
		Peloton__Api__Job__JobState s = j->state;
		pthread_mutex_unlock(&j->mu);
		if (!jm_job_terminal(s)) {
			PB_FREE(resp);
			return rpc_fail(st, RPC_FAILED_PRECONDITION,
			                "job %s is not in a terminal state (%s): stop it first, or "
			                "use JobService.DeleteJob, which stops it",
			                j->id,
			                protobuf_c_enum_descriptor_get_value(
			                    &peloton__api__job__job_state__descriptor, s)
			                    ->name);
		}
	}
	if (resp && jm__delete(ctx, j, err, sizeof(err)) != RPC_OK) {
		PB_FREE(resp);
		return rpc_fail(st, RPC_INTERNAL, "%s", err);
	}
	return (ProtobufCMessage *)resp;
}

/* ---- TaskManager ---- */

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
	bool held = j->tasks[i].held;
	/* a held task is not in the resource manager: no need to ask it */
	enum taskstate rs = held ? TASK_PENDING : jm->cfg.rm.task_state(jm->cfg.rm.arg, id);
	const char *reason;
	uint32_t mx = j->cfg->sla ? j->cfg->sla->maximumrunninginstances : 0;
	if (held) {
		reason = JM_HELD_REASON;
		snprintf(msg, sizeof(msg),
		         "held by the job's sla.maximumRunningInstances: %u of its tasks are "
		         "admitted or running",
		         mx);
	} else if (rs == TASK_PENDING) {
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

/* Task i's info (j->mu held). */
static Peloton__Api__Task__TaskInfo *task_info(struct jobmgr *jm, struct jm_job *j, uint32_t i)
{
	Peloton__Api__Task__TaskInfo *ti =
	    PB_NEW(Peloton__Api__Task__TaskInfo, peloton__api__task__task_info__descriptor);
	if (!ti)
		return NULL;
	ti->instanceid = i;
	ti->jobid = jm__job_id_pb(j->id);
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
	/* never launched: the id its first run will have, as upstream shows it from
	 * creation (only here: the stored runtime has no run until it launches) */
	if (ti->runtime && !ti->runtime->mesostaskid) {
		char mid[128];
		snprintf(mid, sizeof(mid), "%s-%u-1", j->id, i);
		Mesos__V1__TaskID *t = PB_NEW(Mesos__V1__TaskID, mesos__v1__task_id__descriptor);
		if (t && (t->value = strdup(mid)) != NULL)
			ti->runtime->mesostaskid = t;
		else
			PB_FREE(t);
	}
	return ti;
}

struct ev_scan {
	Peloton__Api__Task__GetEventsResponse__Events *evs;
	size_t cap;
};

static bool ev_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen,
                  uint64_t version)
{
	struct ev_scan *s = arg;
	(void)key, (void)klen, (void)version;
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

/* The task events of instance inst, newest first, as one group (ev->event). */
static void scan_events(struct jobmgr *jm, const struct jm_job *j, uint32_t inst,
                        Peloton__Api__Task__GetEventsResponse__Events *evs)
{
	char key[160];
	size_t kl = store_key_task_prefix(key, j->id, inst);
	struct ev_scan s = {evs, 0};
	store_scan(jm->cfg.store, STORE_TASK_EVENTS, key, kl, false, ev_cb, &s);
}

static const char *event_run(const Peloton__Api__Task__TaskEvent *e)
{
	return e->taskid && e->taskid->value ? e->taskid->value : "";
}

/*
 * The events split into one group per run (the Mesos task id they carry),
 * the oldest run first, each group newest first. Takes over all's events.
 * Returns the groups (n of them), or NULL on ENOMEM.
 */
static Peloton__Api__Task__GetEventsResponse__Events **
group_by_run(Peloton__Api__Task__GetEventsResponse__Events *all, size_t *n)
{
	size_t ng = 0;
	for (size_t i = 0; i < all->n_event; i++)
		ng += i == 0 || strcmp(event_run(all->event[i]), event_run(all->event[i - 1])) != 0;
	Peloton__Api__Task__GetEventsResponse__Events **g = calloc(ng ? ng : 1, sizeof(*g));
	*n = 0;
	if (!g)
		return NULL;
	/* all->event is newest first: the last run seen is the oldest */
	for (size_t i = 0, end; i < all->n_event; i = end) {
		for (end = i + 1; end < all->n_event &&
		                  !strcmp(event_run(all->event[end]), event_run(all->event[i]));
		     end++)
			;
		Peloton__Api__Task__GetEventsResponse__Events *e =
		    PB_NEW(Peloton__Api__Task__GetEventsResponse__Events,
		           peloton__api__task__get_events_response__events__descriptor);
		if (!e || !(e->event = calloc(end - i, sizeof(*e->event)))) {
			PB_FREE(e);
			for (size_t k = ng - *n; k < ng; k++)
				PB_FREE(g[k]);
			free(g);
			return NULL;
		}
		for (size_t k = i; k < end; k++) {
			e->event[e->n_event++] = all->event[k];
			all->event[k] = NULL;
		}
		g[ng - 1 - (*n)++] = e;
	}
	all->n_event = 0;
	return g;
}

/* One run as upstream's Get lists it in results: its newest event. */
static Peloton__Api__Task__TaskInfo *run_info(const struct jm_job *j, uint32_t inst,
                                              const Peloton__Api__Task__TaskEvent *e)
{
	Peloton__Api__Task__TaskInfo *ti =
	    PB_NEW(Peloton__Api__Task__TaskInfo, peloton__api__task__task_info__descriptor);
	Peloton__Api__Peloton__JobID *jid =
	    PB_NEW(Peloton__Api__Peloton__JobID, peloton__api__peloton__job_id__descriptor);
	Peloton__Api__Task__RuntimeInfo *rt =
	    PB_NEW(Peloton__Api__Task__RuntimeInfo, peloton__api__task__runtime_info__descriptor);
	Mesos__V1__TaskID *mid = PB_NEW(Mesos__V1__TaskID, mesos__v1__task_id__descriptor);
	if (!ti || !jid || !rt || !mid || !(jid->value = strdup(j->id)) ||
	    !(mid->value = strdup(event_run(e))) ||
	    !(rt->host = strdup(e->hostname ? e->hostname : "")) ||
	    !(rt->message = strdup(e->message ? e->message : "")) ||
	    !(rt->reason = strdup(e->reason ? e->reason : ""))) {
		PB_FREE(ti);
		PB_FREE(jid);
		PB_FREE(rt);
		PB_FREE(mid);
		return NULL;
	}
	ti->instanceid = inst;
	ti->jobid = jid;
	rt->state = e->state;
	rt->mesostaskid = mid;
	ti->runtime = rt;
	return ti;
}

/* Get's results: one TaskInfo per run of the task, the oldest first, from
 * the events each run left. Left empty when memory runs out. */
static void task_runs(struct jobmgr *jm, const struct jm_job *j, uint32_t inst,
                      Peloton__Api__Task__GetResponse *resp)
{
	Peloton__Api__Task__GetEventsResponse__Events *evs =
	    PB_NEW(Peloton__Api__Task__GetEventsResponse__Events,
	           peloton__api__task__get_events_response__events__descriptor);
	if (!evs)
		return;
	scan_events(jm, j, inst, evs);
	size_t n = 0;
	Peloton__Api__Task__GetEventsResponse__Events **g = group_by_run(evs, &n);
	PB_FREE(evs);
	if (g && n && (resp->results = calloc(n, sizeof(*resp->results))) != NULL)
		for (size_t i = 0; i < n; i++) {
			Peloton__Api__Task__TaskInfo *ti = run_info(j, inst, g[i]->event[0]);
			if (ti)
				resp->results[resp->n_results++] = ti;
		}
	for (size_t i = 0; g && i < n; i++)
		PB_FREE(g[i]);
	free(g);
}

ProtobufCMessage *jm__v0_task_get(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	const Peloton__Api__Task__GetRequest *r = (const Peloton__Api__Task__GetRequest *)m;
	struct jm_job *j;
	Peloton__Api__Task__GetResponse *resp = (void *)begin_task(
	    ctx, &peloton__api__task__get_response__descriptor, r->jobid, r->instanceid, st, &j);
	if (!resp || !j)
		return (ProtobufCMessage *)resp;
	pthread_mutex_lock(&j->mu);
	resp->result = task_info(ctx, j, r->instanceid);
	pthread_mutex_unlock(&j->mu);
	task_runs(ctx, j, r->instanceid, resp);
	return &resp->base;
}

ProtobufCMessage *jm__v0_task_list(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	const Peloton__Api__Task__ListRequest *r = (const Peloton__Api__Task__ListRequest *)m;
	struct jm_job *j;
	Peloton__Api__Task__ListResponse *resp =
	    BEGIN(Peloton__Api__Task__ListResponse, peloton__api__task__list_response__descriptor,
	          r->jobid, &j);
	if (!resp || !j)
		return (ProtobufCMessage *)resp;
	uint32_t from, to;
	jm__range(j, r->range, &from, &to);
	Peloton__Api__Task__ListResponse__Result *res =
	    PB_NEW(Peloton__Api__Task__ListResponse__Result,
	           peloton__api__task__list_response__result__descriptor);
	if (!(resp->result = res) ||
	    !(res->value = calloc(to - from ? to - from : 1, sizeof(*res->value)))) {
		PB_FREE(resp);
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	}
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
}

/* Task i of j against a QuerySpec: any of its states, names (the task's
 * config name, else the job's), hosts; an empty list matches all. j->mu held. */
static bool query_match(const Peloton__Api__Task__QuerySpec *q, const struct jm_job *j, uint32_t i)
{
	if (q == NULL)
		return true;
	const struct jm_task *t = &j->tasks[i];
	bool state = !q->n_taskstates, name = !q->n_names, host = !q->n_hosts;
	for (size_t k = 0; k < q->n_taskstates; k++)
		state |= (uint32_t)q->taskstates[k] == t->state;
	const char *tn =
	    j->merged[i]->name && j->merged[i]->name[0] ? j->merged[i]->name : j->cfg->name;
	for (size_t k = 0; k < q->n_names && tn; k++)
		name |= strcmp(q->names[k], tn) == 0;
	for (size_t k = 0; k < q->n_hosts && t->host; k++)
		host |= strcmp(q->hosts[k], t->host) == 0;
	return state && name && host;
}

/* TaskManager.Query's pagination.orderBy: the properties a task sorts by. */
enum sort_key { SK_INSTANCE, SK_STATE, SK_HOST, SK_NAME, SK_START };

static const struct {
	const char *name;
	enum sort_key key;
} sort_keys[] = {
    {"instance_id", SK_INSTANCE},  {"instanceId", SK_INSTANCE}, {"creation_time", SK_INSTANCE},
    {"creationTime", SK_INSTANCE}, /* created in instance order */
    {"state", SK_STATE},           {"host", SK_HOST},           {"name", SK_NAME},
    {"start_time", SK_START},      {"startTime", SK_START},
};

struct sort_ctx {
	const struct jm_job *j;
	enum sort_key keys[8];
	bool desc[8];
	size_t n;
};

static __thread const struct sort_ctx *sort_by; /* qsort has no argument */

static int cmp_key(const struct jm_job *j, uint32_t a, uint32_t b, enum sort_key k)
{
	const struct jm_task *x = &j->tasks[a], *y = &j->tasks[b];
	switch (k) {
	case SK_STATE:
		return (x->state > y->state) - (x->state < y->state);
	case SK_HOST:
		return strcmp(x->host ? x->host : "", y->host ? y->host : "");
	case SK_NAME:
		return strcmp(j->merged[a]->name ? j->merged[a]->name : "",
		              j->merged[b]->name ? j->merged[b]->name : "");
	case SK_START:
		return (x->start_ns > y->start_ns) - (x->start_ns < y->start_ns);
	default:
		return (a > b) - (a < b);
	}
}

static int cmp_tasks(const void *pa, const void *pb)
{
	uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
	for (size_t i = 0; i < sort_by->n; i++) {
		int c = cmp_key(sort_by->j, a, b, sort_by->keys[i]);
		if (c)
			return sort_by->desc[i] ? -c : c;
	}
	return (a > b) - (a < b);
}

/* The orderBy list as sort keys; -1 with err naming an unknown property. */
static int sort_spec(const Peloton__Api__Query__PaginationSpec *ps, struct sort_ctx *sc, char *err,
                     size_t len)
{
	sc->n = 0;
	for (size_t i = 0; ps && i < ps->n_orderby && sc->n < 8; i++) {
		const Peloton__Api__Query__OrderBy *o = ps->orderby[i];
		const char *p = o->property && o->property->value ? o->property->value : "";
		size_t k = 0;
		while (k < sizeof(sort_keys) / sizeof(sort_keys[0]) && strcmp(sort_keys[k].name, p))
			k++;
		if (k == sizeof(sort_keys) / sizeof(sort_keys[0]))
			return snprintf(
			           err, len,
			           "orderBy: unknown property '%s' (creation_time, instance_id, "
			           "state, host, name, start_time)",
			           p),
			       -1;
		sc->keys[sc->n] = sort_keys[k].key;
		sc->desc[sc->n++] = o->order == PELOTON__API__QUERY__ORDER_BY__ORDER__DESC;
	}
	return 0;
}

ProtobufCMessage *jm__v0_task_query(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	const Peloton__Api__Task__QueryRequest *r = (const Peloton__Api__Task__QueryRequest *)m;
	struct jm_job *j;
	Peloton__Api__Task__QueryResponse *resp =
	    BEGIN(Peloton__Api__Task__QueryResponse, peloton__api__task__query_response__descriptor,
	          r->jobid, &j);
	if (!resp || !j)
		return (ProtobufCMessage *)resp;
	const Peloton__Api__Task__QuerySpec *q = r->spec;
	const Peloton__Api__Query__PaginationSpec *ps = q ? q->pagination : NULL;
	uint32_t off = ps ? ps->offset : 0, lim = ps && ps->limit ? ps->limit : 100;
	if (ps && ps->maxlimit && lim > ps->maxlimit)
		lim = ps->maxlimit;
	uint32_t total = 0;
	struct sort_ctx sc = {.j = j};
	char err[200];
	if (sort_spec(ps, &sc, err, sizeof(err)) != 0) {
		PB_FREE(resp);
		return rpc_fail(st, RPC_INVALID_ARGUMENT, "%s", err);
	}
	resp->records = calloc(lim ? lim : 1, sizeof(*resp->records));
	pthread_mutex_lock(&j->mu);
	uint32_t *match = calloc(j->n ? j->n : 1, sizeof(uint32_t));
	for (uint32_t i = 0; match && i < j->n; i++)
		if (query_match(q, j, i))
			match[total++] = i;
	if (match && sc.n) {
		sort_by = &sc;
		qsort(match, total, sizeof(uint32_t), cmp_tasks);
	}
	for (uint32_t k = off; resp->records && match && k < total && resp->n_records < lim; k++) {
		Peloton__Api__Task__TaskInfo *ti = task_info(ctx, j, match[k]);
		if (ti)
			resp->records[resp->n_records++] = ti;
	}
	pthread_mutex_unlock(&j->mu);
	free(match);
	if (!match || !resp->records) {
		PB_FREE(resp);
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	}
	resp->pagination =
	    PB_NEW(Peloton__Api__Query__Pagination, peloton__api__query__pagination__descriptor);
	if (resp->pagination) {
		resp->pagination->offset = off;
		resp->pagination->limit = lim;
		resp->pagination->total = total;
	}
	return &resp->base;
}

/*
 * Ranges reaching past the job's instances: as upstream, the operation is
 * refused whole with outOfRange (the job and its instance count) and the
 * instance ids that do not exist listed (at most 1,000). NULL when every
 * range is within the job (or on ENOMEM, *oom set).
 */
static Peloton__Api__Task__InstanceIdOutOfRange *
out_of_range(const struct jm_job *j, Peloton__Api__Task__InstanceRange *const *rg, size_t n,
             uint32_t **ids, size_t *n_ids, bool *oom)
{
	*ids = NULL;
	*n_ids = 0;
	*oom = false;
	bool out = false;
	for (size_t k = 0; k < n; k++)
		out = out || rg[k]->to > j->n || rg[k]->from >= j->n;
	if (!out)
		return NULL;
	Peloton__Api__Task__InstanceIdOutOfRange *e =
	    PB_NEW(Peloton__Api__Task__InstanceIdOutOfRange,
	           peloton__api__task__instance_id_out_of_range__descriptor);
	*ids = calloc(1000, sizeof(uint32_t));
	if (!e || !*ids || !(e->jobid = jm__job_id_pb(j->id))) {
		PB_FREE(e);
		free(*ids);
		*ids = NULL;
		*oom = true;
		return NULL;
	}
	e->instancecount = j->n;
	for (size_t k = 0; k < n; k++)
		for (uint64_t i = rg[k]->from > j->n ? rg[k]->from : j->n;
		     i < rg[k]->to && *n_ids < 1000; i++)
			(*ids)[(*n_ids)++] = (uint32_t)i;
	return e;
}

typedef enum store_status (*instances_op)(struct jobmgr *, struct jm_job *, const uint32_t *,
                                          size_t);

/*
 * op (stop, restart) on the instances of rg (every instance when none):
 * those instances (malloc'd, *n set), or NULL with the failure in st.
 */
static uint32_t *on_instances(struct jobmgr *jm, struct jm_job *j,
                              Peloton__Api__Task__InstanceRange *const *rg, size_t nrg,
                              instances_op op, const char *what, size_t *n, struct rpc_status *st)
{
	uint32_t *v = jm__instances(j, rg, nrg, n);
	enum store_status ss = v ? op(jm, j, v, *n) : STORE_ENOMEM;
	if (ss == STORE_OK)
		return v;
	free(v);
	rpc_fail(st, RPC_INTERNAL, "cannot persist the %s (status %d)", what, (int)ss);
	return NULL;
}

ProtobufCMessage *jm__v0_task_stop(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	const Peloton__Api__Task__StopRequest *r = (const Peloton__Api__Task__StopRequest *)m;
	struct jm_job *j;
	Peloton__Api__Task__StopResponse *resp =
	    BEGIN(Peloton__Api__Task__StopResponse, peloton__api__task__stop_response__descriptor,
	          r->jobid, &j);
	if (!resp || !j)
		return (ProtobufCMessage *)resp;
	bool oom;
	Peloton__Api__Task__InstanceIdOutOfRange *oor =
	    out_of_range(j, r->ranges, r->n_ranges, &resp->invalidinstanceids,
	                 &resp->n_invalidinstanceids, &oom);
	if (oor) {
		resp->error = PB_NEW(Peloton__Api__Task__StopResponse__Error,
		                     peloton__api__task__stop_response__error__descriptor);
		if (resp->error)
			resp->error->outofrange = oor;
		else
			PB_FREE(oor);
		return &resp->base;
	}
	size_t n;
	uint32_t *v = oom ? rpc_fail(st, RPC_INTERNAL, "out of memory")
	                  : on_instances(ctx, j, r->ranges, r->n_ranges, jm__stop, "stop", &n, st);
	if (!v) {
		PB_FREE(resp);
		return NULL;
	}
	resp->stoppedinstanceids = v;
	resp->n_stoppedinstanceids = n;
	return &resp->base;
}

ProtobufCMessage *jm__v0_task_start(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	const Peloton__Api__Task__StartRequest *r = (const Peloton__Api__Task__StartRequest *)m;
	struct jm_job *j;
	Peloton__Api__Task__StartResponse *resp =
	    BEGIN(Peloton__Api__Task__StartResponse, peloton__api__task__start_response__descriptor,
	          r->jobid, &j);
	if (!resp || !j)
		return (ProtobufCMessage *)resp;
	pthread_mutex_lock(&j->mu);
	bool ended_batch = !jm_long_running(j->cfg) && jm_job_terminal(j->state);
	pthread_mutex_unlock(&j->mu);
	if (ended_batch) { /* as upstream: a batch job that ended stays ended */
		PB_FREE(resp);
		return rpc_fail(st, RPC_INVALID_ARGUMENT,
		                "cannot start tasks in a terminated job (batch job %s ended); "
		                "create a new one",
		                j->id);
	}
	bool oom;
	Peloton__Api__Task__InstanceIdOutOfRange *oor =
	    out_of_range(j, r->ranges, r->n_ranges, &resp->invalidinstanceids,
	                 &resp->n_invalidinstanceids, &oom);
	if (oor) {
		resp->error = PB_NEW(Peloton__Api__Task__StartResponse__Error,
		                     peloton__api__task__start_response__error__descriptor);
		if (resp->error)
			resp->error->outofrange = oor;
		else
			PB_FREE(oor);
		return &resp->base;
	}
	size_t n = 0, ns = 0;
	uint32_t *v = oom ? NULL : jm__instances(j, r->ranges, r->n_ranges, &n);
	uint32_t *started = calloc(n ? n : 1, sizeof(uint32_t));
	enum store_status ss = v && started ? jm__start(ctx, j, v, n, started, &ns) : STORE_ENOMEM;
	free(v);
	resp->startedinstanceids = started;
	resp->n_startedinstanceids = ns;
	if (ss != STORE_OK) {
		PB_FREE(resp);
		return rpc_fail(st, RPC_INTERNAL, "cannot persist the start (status %d)", (int)ss);
	}
	return &resp->base;
}

ProtobufCMessage *jm__v0_task_restart(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	const Peloton__Api__Task__RestartRequest *r = (const void *)m;
	struct jm_job *j;
	Peloton__Api__Task__RestartResponse *resp =
	    BEGIN(Peloton__Api__Task__RestartResponse,
	          peloton__api__task__restart_response__descriptor, r->jobid, &j);
	if (!resp || !j)
		return (ProtobufCMessage *)resp;
	bool oom;
	uint32_t *bad = NULL;
	size_t nbad = 0;
	if ((resp->outofrange = out_of_range(j, r->ranges, r->n_ranges, &bad, &nbad, &oom))) {
		free(bad); /* RestartResponse names no instances */
		return &resp->base;
	}
	size_t n;
	uint32_t *v =
	    oom ? rpc_fail(st, RPC_INTERNAL, "out of memory")
	        : on_instances(ctx, j, r->ranges, r->n_ranges, jm__restart, "restart", &n, st);
	if (!v) {
		PB_FREE(resp);
		return NULL;
	}
	free(v);
	return &resp->base;
}

ProtobufCMessage *jm__svc_task_restart(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	const Peloton__Api__Task__Svc__RestartTasksRequest *r = (const void *)m;
	struct jm_job *j = jm__live_job(ctx, r->jobid);
	if (!j)
		return rpc_fail(st, RPC_NOT_FOUND, "job %s not found",
		                r->jobid && r->jobid->value ? r->jobid->value : "");
	Peloton__Api__Task__Svc__RestartTasksResponse *resp =
	    PB_NEW(Peloton__Api__Task__Svc__RestartTasksResponse,
	           peloton__api__task__svc__restart_tasks_response__descriptor);
	if (!resp)
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	bool oom;
	Peloton__Api__Task__InstanceIdOutOfRange *oor =
	    out_of_range(j, r->ranges, r->n_ranges, &resp->failed, &resp->n_failed, &oom);
	if (oor) { /* refused whole: the ids past the job are the answer */
		PB_FREE(oor);
		return &resp->base;
	}
	size_t n;
	uint32_t *v =
	    oom ? rpc_fail(st, RPC_INTERNAL, "out of memory")
	        : on_instances(ctx, j, r->ranges, r->n_ranges, jm__restart, "restart", &n, st);
	if (!v) {
		PB_FREE(resp);
		return NULL;
	}
	resp->stopped = v;
	resp->n_stopped = n;
	return &resp->base;
}

/* A GetEvents answer carrying only error.eventError (as upstream answers a
 * job or an instance it cannot read events of); NULL on ENOMEM. */
static Peloton__Api__Task__GetEventsResponse *events_error(const char *fmt, ...)
{
	Peloton__Api__Task__GetEventsResponse *resp =
	    PB_NEW(Peloton__Api__Task__GetEventsResponse,
	           peloton__api__task__get_events_response__descriptor);
	if (resp &&
	    (resp->error = PB_NEW(Peloton__Api__Task__GetEventsResponse__Error,
	                          peloton__api__task__get_events_response__error__descriptor)) &&
	    (resp->error->eventerror = PB_NEW(Peloton__Api__Task__TaskEventsError,
	                                      peloton__api__task__task_events_error__descriptor))) {
		char msg[300];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		if ((resp->error->eventerror->message = strdup(msg)) != NULL)
			return resp;
	}
	PB_FREE(resp);
	return NULL;
}

/* GetEvents: one group per run, the oldest run first, as upstream answers;
 * a missing job or instance is error.eventError in the answer. */
ProtobufCMessage *jm__v0_task_events(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	struct jobmgr *jm = ctx;
	const Peloton__Api__Task__GetEventsRequest *r =
	    (const Peloton__Api__Task__GetEventsRequest *)m;
	struct jm_job *j = jm__live_job(jm, r->jobid);
	Peloton__Api__Task__GetEventsResponse *resp = NULL;
	if (!j || r->instanceid >= j->n) {
		resp = !j ? events_error("job %s not found",
		                         r->jobid && r->jobid->value ? r->jobid->value : "")
		          : events_error("instance %u of job %s out of range (%u instances)",
		                         r->instanceid, j->id, j->n);
		return resp ? &resp->base : rpc_fail(st, RPC_INTERNAL, "out of memory");
	}
	resp = PB_NEW(Peloton__Api__Task__GetEventsResponse,
	              peloton__api__task__get_events_response__descriptor);
	Peloton__Api__Task__GetEventsResponse__Events *evs =
	    PB_NEW(Peloton__Api__Task__GetEventsResponse__Events,
	           peloton__api__task__get_events_response__events__descriptor);
	if (!resp || !evs) {
		PB_FREE(resp);
		PB_FREE(evs);
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	}
	scan_events(jm, j, r->instanceid, evs);
	size_t n = 0;
	resp->result = group_by_run(evs, &n);
	resp->n_result = n;
	PB_FREE(evs);
	if (!resp->result) {
		PB_FREE(resp);
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	}
	return &resp->base;
}

/* The sandbox of task inst's current run into resp; 0, or -1 with err
 * (never launched: *never). */
static int browse(struct jobmgr *jm, struct jm_job *j, uint32_t inst,
                  Peloton__Api__Task__BrowseSandboxResponse *resp, bool *never, char *err,
                  size_t errlen)
{
	char mid[128] = "", agent[128] = "", host[128], port[16];
	pthread_mutex_lock(&j->mu);
	const struct jm_task *t = &j->tasks[inst];
	if (t->run && t->agent) {
		snprintf(mid, sizeof(mid), "%s-%u-%u", j->id, inst, t->run);
		snprintf(agent, sizeof(agent), "%s", t->agent);
	}
	pthread_mutex_unlock(&j->mu);
	if ((*never = !mid[0]))
		return snprintf(err, errlen, "task %s-%u was never launched", j->id, inst), -1;
	if (!jm->cfg.hm.browse)
		return snprintf(err, errlen, "no files endpoint"), -1;
	char **paths = NULL;
	size_t n = 0;
	if (jm->cfg.hm.browse(jm->cfg.hm.arg, agent, mid, host, sizeof(host), port, sizeof(port),
	                      &paths, &n, err, errlen) != 0)
		return -1;
	resp->hostname = dupstr(host);
	resp->port = dupstr(port);
	resp->paths = paths;
	resp->n_paths = n;
	return 0;
}

/*
 * BrowseSandbox: the agent's files endpoint lists the sandbox of the
 * task's current run. v0 style: notFound, outOfRange, notRunning (never
 * launched) and failure (the agent did not answer) inside the response.
 */
ProtobufCMessage *jm__v0_task_browse(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	const Peloton__Api__Task__BrowseSandboxRequest *r = (const void *)m;
	struct jm_job *j;
	Peloton__Api__Task__BrowseSandboxResponse *resp =
	    (void *)begin_task(ctx, &peloton__api__task__browse_sandbox_response__descriptor,
	                       r->jobid, r->instanceid, st, &j);
	char err[256] = "";
	bool never;
	if (!resp || !j || browse(ctx, j, r->instanceid, resp, &never, err, sizeof(err)) == 0)
		return (ProtobufCMessage *)resp;
	Peloton__Api__Task__BrowseSandboxResponse__Error *e =
	    PB_NEW(Peloton__Api__Task__BrowseSandboxResponse__Error,
	           peloton__api__task__browse_sandbox_response__error__descriptor);
	if ((resp->error = e) && never) {
		e->notrunning = PB_NEW(Peloton__Api__Task__TaskNotRunning,
		                       peloton__api__task__task_not_running__descriptor);
		if (e->notrunning)
			e->notrunning->message = dupstr(err);
	} else if (e) {
		e->failure = PB_NEW(Peloton__Api__Task__BrowseSandboxFailure,
		                    peloton__api__task__browse_sandbox_failure__descriptor);
		if (e->failure)
			e->failure->message = dupstr(err);
	}
	return &resp->base;
}
