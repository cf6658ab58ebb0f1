/*
 * The resource manager's services: ResourceManagerService (private; the
 * core's protobuf faces in resmgrsvc.c), the v0 ResourceManager (pools,
 * respoolsvc.c, each change written to the store) and TaskQueue.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "proto_codec.h"
#include "resmgrsvc.h"
#include "respoolsvc.h"
#include "role_int.h"
#include "rpc.h"
#include "store.h"

/* A handler over the role calling a core face that takes a typed request. */
#define ADAPT(name, fn, member, reqtype)                                                           \
	static ProtobufCMessage *name(void *ctx, const ProtobufCMessage *m, struct rpc_status *st) \
	{                                                                                          \
		struct resmgr_role *r = ctx;                                                       \
		ProtobufCMessage *resp = (ProtobufCMessage *)fn(r->member, (const reqtype *)m);    \
		return resp ? resp : rpc_fail(st, RPC_INTERNAL, "out of memory");                  \
	}

ADAPT(h_rp_get, respoolsvc_get, pools, Peloton__Api__Respool__GetRequest)
ADAPT(h_rp_lookup, respoolsvc_lookup, pools, Peloton__Api__Respool__LookupRequest)
ADAPT(h_rp_query, respoolsvc_query, pools, Peloton__Api__Respool__QueryRequest)
ADAPT(h_rm_enqueue, resmgrsvc_enqueue_gangs, rm, resmgrsvc_enqueue_req)
ADAPT(h_rm_dequeue, resmgrsvc_dequeue_gangs, rm, resmgrsvc_dequeue_req)
ADAPT(h_rm_getpl, resmgrsvc_get_placements, rm, resmgrsvc_getpl_req)
ADAPT(h_rm_notify, resmgrsvc_notify_task_updates, rm, resmgrsvc_notify_req)
ADAPT(h_rm_kill, resmgrsvc_kill_tasks, rm, resmgrsvc_kill_req)
ADAPT(h_rm_active, resmgrsvc_get_active_tasks, rm, resmgrsvc_active_req)
ADAPT(h_rm_byhost, resmgrsvc_get_tasks_by_hosts, rm, resmgrsvc_byhost_req)
ADAPT(h_rm_preempt, resmgrsvc_get_preemptible_tasks, rm, resmgrsvc_preempt_req)
ADAPT(h_tq_dequeue, taskqueue_dequeue, tq, Peloton__Private__Resmgr__Taskqueue__DequeueRequest)

/* Pool writes: the tree, then the store (the pool's config under its id). */
void resmgr_role__persist_pool(struct resmgr_role *r, const char *id,
                               const Peloton__Api__Respool__ResourcePoolConfig *cfg)
{
	size_t len;
	uint8_t *b = cfg ? proto_pack_alloc(&cfg->base, &len) : NULL;
	struct store_batch *bt = store_batch_new(r->cfg.store);
	if (!bt) {
		free(b);
		return;
	}
	if (b)
		store_put(bt, STORE_POOLS, id, strlen(id), b, len, 0, STORE_ANY_VERSION);
	else
		store_del(bt, STORE_POOLS, id, strlen(id));
	if (store_commit(r->cfg.store, bt) != STORE_OK)
		log_error("resmgr", "pool %s: not persisted", id);
	free(b);
}

static ProtobufCMessage *h_rp_create(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	struct resmgr_role *r = ctx;
	const Peloton__Api__Respool__CreateRequest *q = (const void *)m;
	Peloton__Api__Respool__CreateResponse *resp = respoolsvc_create(r->pools, q);
	if (!resp)
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	if (!resp->error && resp->result && resp->result->value)
		resmgr_role__persist_pool(r, resp->result->value, q->config);
	return &resp->base;
}

static ProtobufCMessage *h_rp_update(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	struct resmgr_role *r = ctx;
	const Peloton__Api__Respool__UpdateRequest *q = (const void *)m;
	Peloton__Api__Respool__UpdateResponse *resp = respoolsvc_update(r->pools, q);
	if (!resp)
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	if (!resp->error && q->id && q->id->value)
		resmgr_role__persist_pool(r, q->id->value, q->config);
	return &resp->base;
}

static ProtobufCMessage *h_rp_delete(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	struct resmgr_role *r = ctx;
	const Peloton__Api__Respool__DeleteRequest *q = (const void *)m;
	char id[128] = "";
	struct respool_error rerr;
	if (q->path && q->path->value &&
	    respool_lookup(r->pools, q->path->value, id, sizeof(id), &rerr) != 0)
		id[0] = 0;
	Peloton__Api__Respool__DeleteResponse *resp = respoolsvc_delete(r->pools, q);
	if (!resp)
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	if (!resp->error && id[0])
		resmgr_role__persist_pool(r, id, NULL);
	return &resp->base;
}

/* The request's placements refused whole with `why`, their tasks handed back. */
static ProtobufCMessage *refuse_placements(struct resmgr_role *d, const resmgrsvc_setpl_req *r,
                                           const char *why, struct rpc_status *st)
{
	resmgrsvc_setpl_resp *resp = PB_NEW(
	    resmgrsvc_setpl_resp, peloton__private__resmgr__set_placements_response__descriptor);
	Peloton__Private__Resmgr__SetPlacementsResponse__Error *e =
	    PB_NEW(Peloton__Private__Resmgr__SetPlacementsResponse__Error,
	           peloton__private__resmgr__set_placements_response__error__descriptor);
	Peloton__Private__Resmgr__SetPlacementsFailure *f =
	    PB_NEW(Peloton__Private__Resmgr__SetPlacementsFailure,
	           peloton__private__resmgr__set_placements_failure__descriptor);
	if (resp && e && f)
		f->failed = calloc(r->n_placements ? r->n_placements : 1, sizeof(*f->failed));
	if (!resp || !e || !f || !f->failed) {
		PB_FREE(resp);
		free(e);
		PB_FREE(f);
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	}
	e->failure = f;
	resp->error = e;
	for (size_t i = 0; i < r->n_placements; i++) {
		const Peloton__Private__Resmgr__Placement *p = r->placements[i];
		/* on the heap: a request may name millions of tasks */
		const char **ids = malloc((p->n_tasks ? p->n_tasks : 1) * sizeof(*ids));
		size_t n = 0;
		for (size_t k = 0; ids && k < p->n_tasks; k++)
			if (p->tasks[k] && p->tasks[k]->value)
				ids[n++] = p->tasks[k]->value;
		if (ids)
			resmgr_return_tasks(d->rm, ids, n); /* PLACING -> READY: placed later */
		free(ids);
		Peloton__Private__Resmgr__SetPlacementsFailure__FailedPlacement *fp = PB_NEW(
		    Peloton__Private__Resmgr__SetPlacementsFailure__FailedPlacement,
		    peloton__private__resmgr__set_placements_failure__failed_placement__descriptor);
		if (fp == NULL)
			continue;
		fp->placement = (void *)proto_clone(&p->base);
		fp->message = strdup(why);
		f->failed[f->n_failed++] = fp;
	}
	return &resp->base;
}

/*
 * SetPlacements. A placement without offer ids comes from a placement
 * engine in another process, which leased its hosts through
 * AcquireHostOffers: their offers are spent here, all of the request's
 * hosts or none (a gang is never half placed), and their ids filled in for
 * the launch. If a lease is gone (expired, released, offers rescinded) the
 * request is refused whole and its tasks go back to READY.
 */
static ProtobufCMessage *h_rm_setpl(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	struct resmgr_role *d = ctx;
	const resmgrsvc_setpl_req *r = (const void *)m;
	size_t n = r->n_placements, nh = 0; /* nh: placements without offer ids */
	const char **hosts = calloc(n ? n : 1, sizeof(char *));
	size_t *at = calloc(n ? n : 1, sizeof(size_t));
	struct hostidx_offer_ids *ids = calloc(n ? n : 1, sizeof(*ids));
	Peloton__Private__Resmgr__Placement *copies = calloc(n ? n : 1, sizeof(*copies));
	Peloton__Private__Resmgr__Placement **pp = calloc(n ? n : 1, sizeof(*pp));
	Mesos__V1__OfferID **oid = NULL;
	ProtobufCMessage *resp = NULL;
	char err[256];
	if (!hosts || !at || !ids || !copies || !pp) {
		resp = rpc_fail(st, RPC_INTERNAL, "out of memory");
		goto out;
	}
	/* leases are spent here only for a launcher here: one apart launches
	 * with LaunchTasks, which spends them by hostname */
	for (size_t i = 0; d->cfg.spend_leases && d->cfg.hm.consume_held && i < n; i++)
		if (r->placements[i]->n_offerids == 0 && r->placements[i]->hostname &&
		    r->placements[i]->hostname[0]) {
			hosts[nh] = r->placements[i]->hostname;
			at[nh++] = i;
		}
	if (nh == 0) {
		/* offer ids given, or the launcher is apart from the host index:
		 * it spends the leases by hostname (LaunchTasks, or its own index) */
		resp = (void *)resmgrsvc_set_placements(d->rm, r);
		if (resp == NULL)
			resp = rpc_fail(st, RPC_INTERNAL, "out of memory");
		goto out;
	}
	if (d->cfg.hm.consume_held(d->cfg.hm.arg, hosts, nh, ids, err, sizeof(err)) != 0) {
		log_info("resmgr", "SetPlacements of %zu host(s) refused: %s", nh, err);
		resp = refuse_placements(d, r, err, st);
		nh = 0; /* no ids to free */
		goto out;
	}
	size_t total = 0;
	for (size_t k = 0; k < nh; k++)
		total += ids[k].n;
	Mesos__V1__OfferID *ov = calloc(total ? total : 1, sizeof(*ov));
	oid = calloc(total ? total : 1, sizeof(*oid));
	if (!ov || !oid) {
		free(ov);
		resp = rpc_fail(st, RPC_INTERNAL, "out of memory (the hosts' offers were spent)");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		copies[i] = *r->placements[i]; /* shallow: only the offer ids differ */
		pp[i] = &copies[i];
	}
	size_t used = 0;
	for (size_t k = 0; k < nh; k++) {
		copies[at[k]].offerids = oid + used;
		copies[at[k]].n_offerids = ids[k].n;
		for (uint32_t j = 0; j < ids[k].n; j++, used++) {
			mesos__v1__offer_id__init(&ov[used]);
			ov[used].value = ids[k].ids[j];
			oid[used] = &ov[used];
		}
	}
	resmgrsvc_setpl_req req = *r;
	req.placements = pp;
	resp = (void *)resmgrsvc_set_placements(d->rm, &req);
	if (resp == NULL)
		resp = rpc_fail(st, RPC_INTERNAL, "out of memory");
	free(ov);
out:
	for (size_t k = 0; ids && k < nh; k++)
		hostidx_offer_ids_fini(&ids[k]);
	free(oid);
	free(hosts);
	free(at);
	free(ids);
	free(copies);
	free(pp);
	return resp;
}

/* TaskQueue Enqueue: all of the tasks, or none (RESOURCE_EXHAUSTED). */
static ProtobufCMessage *h_tq_enqueue(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	struct resmgr_role *r = ctx;
	const Peloton__Private__Resmgr__Taskqueue__EnqueueRequest *q = (const void *)m;
	size_t taken = 0;
	ProtobufCMessage *resp = (ProtobufCMessage *)taskqueue_enqueue(r->tq, q, &taken);
	if (resp == NULL)
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	if (taken < q->n_tasks) {
		PB_FREE(resp);
		return rpc_fail(st, RPC_RESOURCE_EXHAUSTED,
		                "the task queue has no room for %zu tasks (nothing enqueued)",
		                q->n_tasks);
	}
	return resp;
}

void resmgr_role_bind(struct resmgr_role *r, struct rpc_table *t)
{
	static const char rp[] = "peloton.api.respool.ResourceManager";
	static const char rm[] = "peloton.private.resmgr.ResourceManagerService";
	static const char tq[] = "peloton.private.resmgr.taskqueue.TaskQueue";
	static const struct {
		const char *svc, *method;
		rpc_handler_f fn;
		bool waits; /* a long poll */
	} tab[] = {
	    {rp, "CreateResourcePool", h_rp_create, false},
	    {rp, "GetResourcePool", h_rp_get, false},
	    {rp, "DeleteResourcePool", h_rp_delete, false},
	    {rp, "UpdateResourcePool", h_rp_update, false},
	    {rp, "LookupResourcePoolID", h_rp_lookup, false},
	    {rp, "Query", h_rp_query, false},
	    {rm, "EnqueueGangs", h_rm_enqueue, false},
	    {rm, "DequeueGangs", h_rm_dequeue, true},
	    {rm, "SetPlacements", h_rm_setpl, false},
	    {rm, "GetPlacements", h_rm_getpl, true},
	    {rm, "NotifyTaskUpdates", h_rm_notify, false},
	    {rm, "KillTasks", h_rm_kill, false},
	    {rm, "GetActiveTasks", h_rm_active, false},
	    {rm, "GetTasksByHosts", h_rm_byhost, false},
	    {rm, "GetPreemptibleTasks", h_rm_preempt, false},
	    {tq, "Enqueue", h_tq_enqueue, false},
	    {tq, "Dequeue", h_tq_dequeue, false},
	};
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if ((tab[i].waits ? rpc_bind_long_poll : rpc_bind)(t, tab[i].svc, tab[i].method,
		                                                   tab[i].fn, r) != 0)
			log_error("resmgr", "schema has no %s/%s", tab[i].svc, tab[i].method);
	resmgr_role__poolsvc_bind(r, t);
}
