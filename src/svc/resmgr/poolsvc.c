/*
 * ResourcePoolService: the svc pool API over the same pool tree as the v0
 * ResourceManager (respoolsvc.c), each change written to the store the same
 * way. Errors are the call's status, as the reference words them: NOT_FOUND,
 * ALREADY_EXISTS, INVALID_ARGUMENT (a bad config or path, a pool that is not
 * a leaf, the root), FAILED_PRECONDITION (a pool with tasks).
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "peloton/api/respool/respool_svc.pb-c.h"
#include "proto_codec.h"
#include "respoolsvc.h"
#include "role_int.h"
#include "rpc.h"

typedef Peloton__Api__Respool__ResourcePoolInfo info_pb;

static ProtobufCMessage *nomem(struct rpc_status *st)
{
	return rpc_fail(st, RPC_INTERNAL, "out of memory");
}

static Peloton__Api__Peloton__ResourcePoolID *id_pb(const char *id)
{
	Peloton__Api__Peloton__ResourcePoolID *p =
	    PB_NEW(Peloton__Api__Peloton__ResourcePoolID,
	           peloton__api__peloton__resource_pool_id__descriptor);
	if (p && !(p->value = strdup(id))) {
		PB_FREE(p);
		p = NULL;
	}
	return p;
}

static const char *id_of(const Peloton__Api__Peloton__ResourcePoolID *p)
{
	return p && p->value ? p->value : "";
}

static ProtobufCMessage *h_create(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	struct resmgr_role *r = ctx;
	const Peloton__Api__Respool__CreateResourcePoolRequest *q = (const void *)m;
	struct respool_error err = {0};
	char id[40];
	if (respoolsvc_create_id(r->pools, id_of(q->id), q->config, id, &err) != 0)
		return rpc_fail(st,
		                err.code == RESPOOL_ALREADY_EXISTS ? RPC_ALREADY_EXISTS
		                                                   : RPC_INVALID_ARGUMENT,
		                "%s", err.msg);
	resmgr_role__persist_pool(r, id, q->config);
	Peloton__Api__Respool__CreateResourcePoolResponse *resp =
	    PB_NEW(Peloton__Api__Respool__CreateResourcePoolResponse,
	           peloton__api__respool__create_resource_pool_response__descriptor);
	if (!resp || !(resp->id = id_pb(id))) {
		PB_FREE(resp);
		return nomem(st);
	}
	return &resp->base;
}

static ProtobufCMessage *h_get(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	struct resmgr_role *r = ctx;
	const Peloton__Api__Respool__GetResourcePoolRequest *q = (const void *)m;
	Peloton__Api__Respool__GetRequest v0 = PELOTON__API__RESPOOL__GET_REQUEST__INIT;
	v0.id = q->id;
	v0.includechildpools = q->includechildpools;
	Peloton__Api__Respool__GetResponse *g = respoolsvc_get(r->pools, &v0);
	if (!g)
		return nomem(st);
	if (g->error || !g->poolinfo) {
		PB_FREE(g);
		return rpc_fail(st, RPC_NOT_FOUND, "resource pool '%s' not found",
		                id_of(q->id)[0] ? id_of(q->id) : "root");
	}
	Peloton__Api__Respool__GetResourcePoolResponse *resp =
	    PB_NEW(Peloton__Api__Respool__GetResourcePoolResponse,
	           peloton__api__respool__get_resource_pool_response__descriptor);
	if (!resp) {
		PB_FREE(g);
		return nomem(st);
	}
	/* the v0 answer's parts move over */
	resp->respool = g->poolinfo;
	resp->childrespools = g->childpools;
	resp->n_childrespools = g->n_childpools;
	g->poolinfo = NULL;
	g->childpools = NULL;
	g->n_childpools = 0;
	PB_FREE(g);
	return &resp->base;
}

static ProtobufCMessage *h_delete(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	struct resmgr_role *r = ctx;
	const Peloton__Api__Respool__DeleteResourcePoolRequest *q = (const void *)m;
	struct respool_error err = {0};
	const char *id = id_of(q->id);
	if (!id[0] || strcmp(id, "root") == 0)
		return rpc_fail(st, RPC_INVALID_ARGUMENT, "%s",
		                id[0] ? "the root pool cannot be deleted" : "id is required");
	if (respool_delete(r->pools, id, &err) != 0)
		return rpc_fail(st,
		                err.code == RESPOOL_IS_BUSY       ? RPC_FAILED_PRECONDITION
		                : err.code == RESPOOL_IS_NOT_LEAF ? RPC_INVALID_ARGUMENT
		                : err.code == RESPOOL_NO_MEMORY   ? RPC_INTERNAL
		                                                  : RPC_NOT_FOUND,
		                "%s", err.msg);
	resmgr_role__persist_pool(r, id, NULL);
	ProtobufCMessage *resp = (ProtobufCMessage *)PB_NEW(
	    Peloton__Api__Respool__DeleteResourcePoolResponse,
	    peloton__api__respool__delete_resource_pool_response__descriptor);
	return resp ? resp : nomem(st);
}

static ProtobufCMessage *h_update(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	struct resmgr_role *r = ctx;
	const Peloton__Api__Respool__UpdateResourcePoolRequest *q = (const void *)m;
	Peloton__Api__Respool__UpdateRequest v0 = PELOTON__API__RESPOOL__UPDATE_REQUEST__INIT;
	v0.id = q->id;
	v0.config = q->config;
	Peloton__Api__Respool__UpdateResponse *u = respoolsvc_update(r->pools, &v0);
	if (!u)
		return nomem(st);
	if (u->error) {
		bool nf = u->error->notfound != NULL;
		const char *msg = nf ? u->error->notfound->message
		                  : u->error->invalidresourcepoolconfig
		                      ? u->error->invalidresourcepoolconfig->message
		                      : "refused";
		rpc_fail(st, nf ? RPC_NOT_FOUND : RPC_INVALID_ARGUMENT, "%s", msg ? msg : "");
		PB_FREE(u);
		return NULL;
	}
	PB_FREE(u);
	resmgr_role__persist_pool(r, id_of(q->id), q->config);
	ProtobufCMessage *resp = (ProtobufCMessage *)PB_NEW(
	    Peloton__Api__Respool__UpdateResourcePoolResponse,
	    peloton__api__respool__update_resource_pool_response__descriptor);
	return resp ? resp : nomem(st);
}

static ProtobufCMessage *h_lookup(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	struct resmgr_role *r = ctx;
	const Peloton__Api__Respool__LookupResourcePoolIDRequest *q = (const void *)m;
	struct respool_error err = {0};
	char id[40];
	const char *path = q->path && q->path->value ? q->path->value : "";
	if (respool_lookup(r->pools, path, id, sizeof(id), &err) != 0)
		return rpc_fail(
		    st, err.code == RESPOOL_INVALID_PATH ? RPC_INVALID_ARGUMENT : RPC_NOT_FOUND,
		    "%s", err.msg);
	Peloton__Api__Respool__LookupResourcePoolIDResponse *resp =
	    PB_NEW(Peloton__Api__Respool__LookupResourcePoolIDResponse,
	           peloton__api__respool__lookup_resource_pool_idresponse__descriptor);
	if (!resp || !(resp->id = id_pb(id))) {
		PB_FREE(resp);
		return nomem(st);
	}
	return &resp->base;
}

static ProtobufCMessage *h_query(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	struct resmgr_role *r = ctx;
	(void)m;
	Peloton__Api__Respool__QueryResponse *v0 = respoolsvc_query(r->pools, NULL);
	Peloton__Api__Respool__QueryResourcePoolsResponse *resp =
	    PB_NEW(Peloton__Api__Respool__QueryResourcePoolsResponse,
	           peloton__api__respool__query_resource_pools_response__descriptor);
	if (!v0 || !resp) {
		PB_FREE(v0);
		PB_FREE(resp);
		return nomem(st);
	}
	resp->respools = v0->resourcepools;
	resp->n_respools = v0->n_resourcepools;
	v0->resourcepools = NULL;
	v0->n_resourcepools = 0;
	PB_FREE(v0);
	return &resp->base;
}

void resmgr_role__poolsvc_bind(struct resmgr_role *r, struct rpc_table *t)
{
	static const char svc[] = "peloton.api.respool.ResourcePoolService";
	static const struct {
		const char *method;
		rpc_handler_f fn;
	} tab[] = {
	    {"CreateResourcePool", h_create},   {"GetResourcePool", h_get},
	    {"DeleteResourcePool", h_delete},   {"UpdateResourcePool", h_update},
	    {"LookupResourcePoolID", h_lookup}, {"QueryResourcePools", h_query},
	};
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (rpc_bind(t, svc, tab[i].method, tab[i].fn, r) != 0)
			log_error("resmgr", "schema has no %s/%s", svc, tab[i].method);
}
