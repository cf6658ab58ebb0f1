/*
 * The UpdateService handlers (errors as gRPC status codes, as the
 * reference lists them for each method) over rollout.c.
 */
#include <stdlib.h>
#include <string.h>

#include "jobs.h"
#include "log.h"
#include "peloton/api/update/svc/update_svc.pb-c.h"
#include "proto_codec.h"
#include "rollout.h"
#include "updsvc.h"

static ProtobufCMessage *h_create(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	struct jobmgr *jm = ctx;
	const Peloton__Api__Update__Svc__CreateUpdateRequest *r = (const void *)m;
	struct jm_job *j = jm__live_job(jm, r->jobid);
	if (!j)
		return rpc_fail(st, RPC_NOT_FOUND, "job %s not found",
		                r->jobid && r->jobid->value ? r->jobid->value : "");
	char id[40], err[256] = "";
	enum rpc_code c =
	    jm__rollout_create(jm, j, r->jobconfig, r->updateconfig, id, err, sizeof(err));
	if (c != RPC_OK)
		return rpc_fail(st, c, "%s", err);
	Peloton__Api__Update__Svc__CreateUpdateResponse *resp =
	    PB_NEW(Peloton__Api__Update__Svc__CreateUpdateResponse,
	           peloton__api__update__svc__create_update_response__descriptor);
	if (resp)
		resp->result = PB_NEW(Peloton__Api__Update__UpdateID,
		                      peloton__api__update__update_id__descriptor);
	if (resp && resp->result)
		resp->result->value = strdup(id);
	if (!resp || !resp->result || !resp->result->value) {
		if (resp)
			protobuf_c_message_free_unpacked(&resp->base, NULL);
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	}
	return &resp->base;
}

/* UpdateInfo of the update named by id, or NULL with st set. */
static Peloton__Api__Update__UpdateInfo *
info_of(struct jobmgr *jm, const Peloton__Api__Update__UpdateID *id, struct rpc_status *st)
{
	const char *v = id && id->value ? id->value : "";
	pthread_rwlock_rdlock(&jm->lock);
	struct jm_update *u = jm__update_find(jm, v);
	struct jm_job *j = u ? u->job : NULL; /* valid for this call (jm__bury's grace) */
	pthread_rwlock_unlock(&jm->lock);
	if (!j || j->deleted)
		return rpc_fail(st, RPC_NOT_FOUND, "update %.60s not found", v), NULL;
	pthread_mutex_lock(&j->mu);
	Peloton__Api__Update__UpdateInfo *ui = jm__update_info__(j, u);
	pthread_mutex_unlock(&j->mu);
	if (!ui)
		rpc_fail(st, RPC_INTERNAL, "out of memory");
	return ui;
}

static ProtobufCMessage *h_get(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	const Peloton__Api__Update__Svc__GetUpdateRequest *r = (const void *)m;
	Peloton__Api__Update__UpdateInfo *ui = info_of(ctx, r->updateid, st);
	if (!ui)
		return NULL;
	Peloton__Api__Update__Svc__GetUpdateResponse *resp =
	    PB_NEW(Peloton__Api__Update__Svc__GetUpdateResponse,
	           peloton__api__update__svc__get_update_response__descriptor);
	if (!resp) {
		protobuf_c_message_free_unpacked(&ui->base, NULL);
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	}
	resp->result = ui;
	return &resp->base;
}

/* Every running update (ROLLING_FORWARD, ROLLING_BACK, PAUSED), at most
 * limit of them (0: all), oldest job first. */
static ProtobufCMessage *h_list(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	struct jobmgr *jm = ctx;
	const Peloton__Api__Update__Svc__ListUpdatesRequest *r = (const void *)m;
	if (r->limit < 0)
		return rpc_fail(st, RPC_INVALID_ARGUMENT, "limit %d is negative", r->limit);
	Peloton__Api__Update__Svc__ListUpdatesResponse *resp =
	    PB_NEW(Peloton__Api__Update__Svc__ListUpdatesResponse,
	           peloton__api__update__svc__list_updates_response__descriptor);
	if (!resp)
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	size_t cap = 0;
	bool oom = false;
	pthread_rwlock_rdlock(&jm->lock);
	for (struct jm_job *j = jm->all; j && !oom; j = j->all_next) {
		if (r->limit && resp->n_updateinfo >= (size_t)r->limit)
			break;
		pthread_mutex_lock(&j->mu);
		if (!j->deleted && jm_update_live(j->upd)) {
			if (resp->n_updateinfo == cap) {
				cap = cap ? 2 * cap : 16;
				void *g =
				    realloc(resp->updateinfo, cap * sizeof(*resp->updateinfo));
				if (g)
					resp->updateinfo = g;
				oom = !g;
			}
			Peloton__Api__Update__UpdateInfo *ui =
			    oom ? NULL : jm__update_info__(j, j->upd);
			if (ui)
				resp->updateinfo[resp->n_updateinfo++] = ui;
			oom = !ui;
		}
		pthread_mutex_unlock(&j->mu);
	}
	pthread_rwlock_unlock(&jm->lock);
	if (oom) {
		protobuf_c_message_free_unpacked(&resp->base, NULL);
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	}
	return &resp->base;
}

/* Pause, Resume, Rollback and Abort: the request's updateId (field 1 of
 * each), the empty response. */
static ProtobufCMessage *op(void *ctx, const Peloton__Api__Update__UpdateID *id,
                            enum jm_update_op what, const ProtobufCMessageDescriptor *out,
                            struct rpc_status *st)
{
	char err[256] = "";
	enum rpc_code c = jm__rollout_op(ctx, id ? id->value : NULL, what, err, sizeof(err));
	if (c != RPC_OK)
		return rpc_fail(st, c, "%s", err);
	ProtobufCMessage *resp = proto_new(out);
	return resp ? resp : rpc_fail(st, RPC_INTERNAL, "out of memory");
}

#define UPDATE_OP(name, req_t, what, out)                                                          \
	static ProtobufCMessage *name(void *ctx, const ProtobufCMessage *m, struct rpc_status *st) \
	{                                                                                          \
		return op(ctx, ((const req_t *)(const void *)m)->updateid, what, &out, st);        \
	}

UPDATE_OP(h_pause, Peloton__Api__Update__Svc__PauseUpdateRequest, JM_UPD_PAUSE,
          peloton__api__update__svc__pause_update_response__descriptor)
UPDATE_OP(h_resume, Peloton__Api__Update__Svc__ResumeUpdateRequest, JM_UPD_RESUME,
          peloton__api__update__svc__resume_update_response__descriptor)
UPDATE_OP(h_rollback, Peloton__Api__Update__Svc__RollbackUpdateRequest, JM_UPD_ROLLBACK,
          peloton__api__update__svc__rollback_update_response__descriptor)
UPDATE_OP(h_abort, Peloton__Api__Update__Svc__AbortUpdateRequest, JM_UPD_ABORT,
          peloton__api__update__svc__abort_update_response__descriptor)

void jm__updsvc_bind(struct jobmgr *jm, struct rpc_table *t)
{
	static const struct {
		const char *method;
		rpc_handler_f fn;
	} tab[] = {
	    {"CreateUpdate", h_create}, {"GetUpdate", h_get},       {"ListUpdates", h_list},
	    {"PauseUpdate", h_pause},   {"ResumeUpdate", h_resume}, {"RollbackUpdate", h_rollback},
	    {"AbortUpdate", h_abort},
	};
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (rpc_bind(t, "peloton.api.update.svc.UpdateService", tab[i].method, tab[i].fn,
		             jm) != 0)
			log_error("jobmgr", "schema has no UpdateService/%s", tab[i].method);
}
