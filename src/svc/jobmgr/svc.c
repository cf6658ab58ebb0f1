/*
 * The svc JobService and TaskService handlers (errors as gRPC status
 * codes) and the binding of every job manager method.
 */
#include <stdlib.h>
#include <string.h>

#include "volume.h"
#include "jobs.h"
#include "log.h"
#include "peloton/api/job/svc/job_svc.pb-c.h"
#include "peloton/api/task/svc/task_svc.pb-c.h"
#include "pjson.h"
#include "proto_codec.h"
#include "updsvc.h"
#include "v0.h"

/* ---- JobService (svc API): errors as gRPC status codes ---- */

/* The svc prologue: the live job named by id, or NULL with NOT_FOUND in st. */
static struct jm_job *svc_job(void *ctx, const Peloton__Api__Peloton__JobID *id,
                              struct rpc_status *st)
{
	struct jm_job *j = jm__live_job(ctx, id);
	if (!j)
		rpc_fail(st, RPC_NOT_FOUND, "job %s not found", id && id->value ? id->value : "");
	return j;
}

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
	enum rpc_code c = jm__create(jm, r->id ? r->id->value : NULL, &cfg, id, err, sizeof(err));
	if (c != RPC_OK)
		return rpc_fail(st, c, "%s", err);
	Peloton__Api__Job__Svc__CreateJobResponse *resp =
	    PB_NEW(Peloton__Api__Job__Svc__CreateJobResponse,
	           peloton__api__job__svc__create_job_response__descriptor);
	if (!resp)
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	resp->jobid = jm__job_id_pb(id);
	return &resp->base;
}

static ProtobufCMessage *h_svc_get(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	const Peloton__Api__Job__Svc__GetJobRequest *r = (const void *)m;
	struct jm_job *j = svc_job(ctx, r->id, st);
	if (!j)
		return NULL;
	Peloton__Api__Job__Svc__GetJobResponse *resp =
	    PB_NEW(Peloton__Api__Job__Svc__GetJobResponse,
	           peloton__api__job__svc__get_job_response__descriptor);
	if (!resp)
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	pthread_mutex_lock(&j->mu);
	resp->result = (Peloton__Api__Job__JobConfig *)proto_clone(&j->cfg->base);
	if (resp->result) {
		PB_FREE(resp->result->changelog);
		resp->result->changelog = jm__changelog(j);
	}
	pthread_mutex_unlock(&j->mu);
	return &resp->base;
}

static ProtobufCMessage *h_svc_delete(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	const Peloton__Api__Job__Svc__DeleteJobRequest *r = (const void *)m;
	struct jm_job *j = svc_job(ctx, r->id, st);
	if (!j)
		return NULL;
	char err[256];
	if (jm__delete(ctx, j, err, sizeof(err)) != RPC_OK)
		return rpc_fail(st, RPC_INTERNAL, "%s", err);
	return proto_new(&peloton__api__job__svc__delete_job_response__descriptor)
	           ?: rpc_fail(st, RPC_INTERNAL, "out of memory");
}

static ProtobufCMessage *h_svc_update(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	const Peloton__Api__Job__Svc__UpdateJobRequest *r = (const void *)m;
	struct jm_job *j = svc_job(ctx, r->id, st);
	if (!j)
		return NULL;
	char err[256] = "";
	enum rpc_code c = jm__update(ctx, j, r->config, err, sizeof(err));
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
	Peloton__Api__Job__QueryResponse *v0 = (void *)jm__v0_query(ctx, &q.base, st);
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
	/* ranges past the job: the svc answer lists them in `failed` (nothing
	 * was changed) rather than failing the call */
	bool lists_failed = false;
	for (size_t i = 0; resp_map[i][0]; i++)
		lists_failed |= strcmp(resp_map[i][0], "invalidInstanceIds") == 0 &&
		                json_array_size(json_object_get(jr, "invalidInstanceIds")) > 0;
	if (!lists_failed && v0_error(jr, st)) {
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
static const char *const R_GET[][2] = {{"result", "result"}, {"results", "results"}, {NULL, NULL}};

static const char *const R_TASKS[][2] = {{"result.value", "tasks"}, {NULL, NULL}};

static const char *const R_QUERY[][2] = {
    {"records", "records"}, {"pagination", "pagination"}, {NULL, NULL}};
static const char *const R_STOP[][2] = {
    {"stoppedInstanceIds", "stopped"}, {"invalidInstanceIds", "failed"}, {NULL, NULL}};
static const char *const R_START[][2] = {
    {"startedInstanceIds", "started"}, {"invalidInstanceIds", "failed"}, {NULL, NULL}};

static const char *const R_SANDBOX[][2] = {
    {"hostname", "hostname"}, {"port", "port"}, {"paths", "paths"}, {NULL, NULL}};

SVC_TASK(h_svc_task_get, jm__v0_task_get, peloton__api__task__get_request__descriptor,
         peloton__api__task__svc__get_task_response__descriptor, M_ID_INST, R_GET)
SVC_TASK(h_svc_task_list, jm__v0_task_list, peloton__api__task__list_request__descriptor,
         peloton__api__task__svc__list_tasks_response__descriptor, M_ID_RANGE, R_TASKS)
SVC_TASK(h_svc_task_query, jm__v0_task_query, peloton__api__task__query_request__descriptor,
         peloton__api__task__svc__query_tasks_response__descriptor, M_QUERY, R_QUERY)
SVC_TASK(h_svc_task_stop, jm__v0_task_stop, peloton__api__task__stop_request__descriptor,
         peloton__api__task__svc__stop_tasks_response__descriptor, M_ID_RANGES, R_STOP)
SVC_TASK(h_svc_task_start, jm__v0_task_start, peloton__api__task__start_request__descriptor,
         peloton__api__task__svc__start_tasks_response__descriptor, M_ID_RANGES, R_START)
SVC_TASK(h_svc_task_events_v0, jm__v0_task_events,
         peloton__api__task__get_events_request__descriptor,
         peloton__api__task__svc__get_events_response__descriptor, M_ID_INST, R_RESULT)

/* svc GetEvents: a missing job or instance is the call's status, as the
 * rest of the svc API answers (v0 puts it in error.eventError). */
static ProtobufCMessage *h_svc_task_events(void *ctx, const ProtobufCMessage *m,
                                           struct rpc_status *st)
{
	const Peloton__Api__Task__Svc__GetEventsRequest *r = (const void *)m;
	struct jm_job *j = jm__live_job(ctx, r->jobid);
	if (!j)
		return rpc_fail(st, RPC_NOT_FOUND, "job %s not found",
		                r->jobid && r->jobid->value ? r->jobid->value : "");
	if (r->instanceid >= j->n)
		return rpc_fail(st, RPC_OUT_OF_RANGE, "instance %u of job %s out of range (%u)",
		                r->instanceid, j->id, j->n);
	return h_svc_task_events_v0(ctx, m, st);
}
SVC_TASK(h_svc_task_browse, jm__v0_task_browse,
         peloton__api__task__browse_sandbox_request__descriptor,
         peloton__api__task__svc__browse_sandbox_response__descriptor, M_ID_INST, R_SANDBOX)

void jobmgr_bind(struct jobmgr *jm, struct rpc_table *t)
{
	static const struct {
		const char *svc, *method;
		rpc_handler_f fn;
	} tab[] = {
	    {"peloton.api.job.JobManager", "Create", jm__v0_create},
	    {"peloton.api.job.JobManager", "Get", jm__v0_get},
	    {"peloton.api.job.JobManager", "Query", jm__v0_query},
	    {"peloton.api.job.JobManager", "Delete", jm__v0_delete},
	    {"peloton.api.job.JobManager", "Update", jm__v0_update},
	    {"peloton.api.job.svc.JobService", "UpdateJob", h_svc_update},
	    {"peloton.api.job.svc.JobService", "CreateJob", h_svc_create},
	    {"peloton.api.job.svc.JobService", "GetJob", h_svc_get},
	    {"peloton.api.job.svc.JobService", "QueryJobs", h_svc_query},
	    {"peloton.api.job.svc.JobService", "DeleteJob", h_svc_delete},
	    {"peloton.api.task.TaskManager", "Get", jm__v0_task_get},
	    {"peloton.api.task.TaskManager", "List", jm__v0_task_list},
	    {"peloton.api.task.TaskManager", "Query", jm__v0_task_query},
	    {"peloton.api.task.TaskManager", "Stop", jm__v0_task_stop},
	    {"peloton.api.task.TaskManager", "Start", jm__v0_task_start},
	    {"peloton.api.task.TaskManager", "Restart", jm__v0_task_restart},
	    {"peloton.api.task.TaskManager", "GetEvents", jm__v0_task_events},
	    {"peloton.api.task.TaskManager", "BrowseSandbox", jm__v0_task_browse},
	    {"peloton.api.task.svc.TaskService", "GetTask", h_svc_task_get},
	    {"peloton.api.task.svc.TaskService", "ListTasks", h_svc_task_list},
	    {"peloton.api.task.svc.TaskService", "QueryTasks", h_svc_task_query},
	    {"peloton.api.task.svc.TaskService", "StopTasks", h_svc_task_stop},
	    {"peloton.api.task.svc.TaskService", "StartTasks", h_svc_task_start},
	    {"peloton.api.task.svc.TaskService", "RestartTasks", jm__svc_task_restart},
	    {"peloton.api.task.svc.TaskService", "GetEvents", h_svc_task_events},
	    {"peloton.api.task.svc.TaskService", "BrowseSandbox", h_svc_task_browse},
	};
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (rpc_bind(t, tab[i].svc, tab[i].method, tab[i].fn, jm) != 0)
			log_error("jobmgr", "schema has no %s/%s", tab[i].svc, tab[i].method);
	jm__updsvc_bind(jm, t);
	jm__volsvc_bind(jm, t);
}
