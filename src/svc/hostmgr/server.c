/*
 * The host manager's services: InternalHostService (AcquireHostOffers,
 * ReleaseHostOffers and ClusterCapacity over the RPC edge of the index,
 * hostsvc.c; LaunchTasks and KillTasks for a job manager apart;
 * OfferOperations, Reserve/UnreserveResources, Create/DestroyVolumes and
 * ShutdownExecutors, offerops.c) and
 * EventStreamService (eventstream.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "hostmgr_int.h"
#include "launchable.h"
#include "log.h"
#include "proto_codec.h"
#include "rpc.h"

static ProtobufCMessage *h_hs_acquire(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	ProtobufCMessage *r = (ProtobufCMessage *)hostsvc_acquire(((struct hostmgr *)ctx)->hsvc,
	                                                          (const void *)m, clock_mono_ns());
	return r ? r : rpc_fail(st, RPC_INTERNAL, "out of memory");
}

static ProtobufCMessage *h_hs_release(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	ProtobufCMessage *r = (ProtobufCMessage *)hostsvc_release(((struct hostmgr *)ctx)->hsvc,
	                                                          (const void *)m, NULL);
	return r ? r : rpc_fail(st, RPC_INTERNAL, "out of memory");
}

/*
 * ClusterCapacity: what the index holds; while the host manager is not
 * subscribed to Mesos, error.clusterUnavailable as well (upstream's), the
 * figures then being the last the hosts reported.
 */
static ProtobufCMessage *h_hs_capacity(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	(void)m;
	struct hostmgr *d = ctx;
	Peloton__Private__Hostmgr__Hostsvc__ClusterCapacityResponse *r = hostsvc_capacity(d->hsvc);
	char why[256];
	if (r && !hostmgr_health(d, why, sizeof(why)) &&
	    (r->error = PB_NEW(
	         Peloton__Private__Hostmgr__Hostsvc__ClusterCapacityResponse__Error,
	         peloton__private__hostmgr__hostsvc__cluster_capacity_response__error__descriptor)) &&
	    (r->error->clusterunavailable =
	         PB_NEW(Peloton__Private__Hostmgr__Hostsvc__ClusterUnavailable,
	                peloton__private__hostmgr__hostsvc__cluster_unavailable__descriptor)))
		r->error->clusterunavailable->message = strdup(why);
	return r ? &r->base : rpc_fail(st, RPC_INTERNAL, "out of memory");
}

typedef Peloton__Private__Hostmgr__Hostsvc__LaunchTasksResponse launch_resp;

/* LaunchTasksResponse with one of its errors; NULL on ENOMEM. */
static launch_resp *launch_error(enum hostmgr_launch_result why, const char *msg,
                                 const Peloton__Private__Hostmgr__Hostsvc__LaunchableTask *bad)
{
	launch_resp *r = PB_NEW(
	    launch_resp, peloton__private__hostmgr__hostsvc__launch_tasks_response__descriptor);
	Peloton__Private__Hostmgr__Hostsvc__LaunchTasksResponse__Error *e =
	    PB_NEW(Peloton__Private__Hostmgr__Hostsvc__LaunchTasksResponse__Error,
	           peloton__private__hostmgr__hostsvc__launch_tasks_response__error__descriptor);
	if (!r || !e) {
		PB_FREE(r);
		free(e);
		return NULL;
	}
	r->error = e;
	if (why == LAUNCH_BAD_TASK) {
		Peloton__Private__Hostmgr__Hostsvc__InvalidArgument *a =
		    PB_NEW(Peloton__Private__Hostmgr__Hostsvc__InvalidArgument,
		           peloton__private__hostmgr__hostsvc__invalid_argument__descriptor);
		if ((e->invalidargument = a) && bad &&
		    (a->invalidtasks = calloc(1, sizeof(*a->invalidtasks))) &&
		    (a->invalidtasks[0] = (void *)proto_clone(&bad->base)))
			a->n_invalidtasks = 1;
		if (a)
			a->message = strdup(msg);
	} else if (why == LAUNCH_NO_LEASE) {
		e->invalidoffers =
		    PB_NEW(Peloton__Private__Hostmgr__Hostsvc__InvalidOffers,
		           peloton__private__hostmgr__hostsvc__invalid_offers__descriptor);
		if (e->invalidoffers)
			e->invalidoffers->message = strdup(msg);
	} else {
		e->launchfailure =
		    PB_NEW(Peloton__Private__Hostmgr__Hostsvc__LaunchFailure,
		           peloton__private__hostmgr__hostsvc__launch_failure__descriptor);
		if (e->launchfailure)
			e->launchfailure->message = strdup(msg);
	}
	return r;
}

/*
 * LaunchTasks: the tasks on the named host, spending the lease held on it
 * (AcquireHostOffers, or SetPlacements of an engine apart); the TaskInfos
 * are built here (launchable.h). Nothing is launched unless every task is
 * valid and the lease is there.
 */
static ProtobufCMessage *h_hs_launch(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	struct hostmgr *d = ctx;
	const Peloton__Private__Hostmgr__Hostsvc__LaunchTasksRequest *r = (const void *)m;
	size_t n = r->n_tasks;
	struct launchable *lts = calloc(n ? n : 1, sizeof(*lts));
	uint32_t *ports = calloc(n ? n * LAUNCHABLE_MAX_PORTS : 1, sizeof(*ports));
	struct launchable_volume *vols = calloc(n ? n : 1, sizeof(*vols));
	char err[256] = "";
	enum hostmgr_launch_result why = LAUNCH_OK;
	const Peloton__Private__Hostmgr__Hostsvc__LaunchableTask *bad = NULL;
	launch_resp *resp = NULL;
	if (!lts || !ports || !vols) {
		why = LAUNCH_FAILED;
		snprintf(err, sizeof(err), "out of memory");
	} else if (!r->hostname || !r->hostname[0] || !r->agentid || !r->agentid->value ||
	           !r->agentid->value[0] || n == 0) {
		why = LAUNCH_BAD_TASK;
		snprintf(err, sizeof(err), "hostname, agentId and at least one task are required");
	}
	for (size_t k = 0; why == LAUNCH_OK && k < n; k++)
		if (launchable_from_proto(r->tasks[k], ports + k * LAUNCHABLE_MAX_PORTS,
		                          LAUNCHABLE_MAX_PORTS, &vols[k], &lts[k], err,
		                          sizeof(err)) != 0) {
			why = LAUNCH_BAD_TASK;
			bad = r->tasks[k];
		}
	if (why == LAUNCH_OK && r->id && r->id->value && r->id->value[0] &&
	    hostsvc_check_offer_id(d->hsvc, r->hostname, r->id->value, err, sizeof(err)) != 0)
		why = LAUNCH_NO_LEASE; /* as upstream: only the offer held may be spent */
	if (why == LAUNCH_OK)
		why = hostmgr__launch(d, r->hostname, r->agentid->value, NULL, 0, lts, n, err,
		                      sizeof(err));
	for (size_t k = 0; why == LAUNCH_OK && d->lw && k < n; k++)
		launchwatch_add(d->lw, lts[k].task_id, r->agentid->value, clock_mono_ns());
	if (why == LAUNCH_OK)
		resp =
		    PB_NEW(launch_resp,
		           peloton__private__hostmgr__hostsvc__launch_tasks_response__descriptor);
	else
		resp = launch_error(why, err, bad);
	if (why != LAUNCH_OK && why != LAUNCH_BAD_TASK)
		log_warn("hostmgr", "LaunchTasks of %zu task(s) on %s: %s", n,
		         r->hostname ? r->hostname : "?", err);
	free(lts);
	free(ports);
	free(vols);
	return resp ? &resp->base : rpc_fail(st, RPC_INTERNAL, "out of memory");
}

/* KillTasks: a KILL per task id (Mesos finds the agent). */
static ProtobufCMessage *h_hs_kill(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	struct hostmgr *d = ctx;
	const Peloton__Private__Hostmgr__Hostsvc__KillTasksRequest *r = (const void *)m;
	Peloton__Private__Hostmgr__Hostsvc__KillTasksResponse *resp =
	    PB_NEW(Peloton__Private__Hostmgr__Hostsvc__KillTasksResponse,
	           peloton__private__hostmgr__hostsvc__kill_tasks_response__descriptor);
	Peloton__Private__Hostmgr__Hostsvc__KillTasksResponse__Error *e =
	    PB_NEW(Peloton__Private__Hostmgr__Hostsvc__KillTasksResponse__Error,
	           peloton__private__hostmgr__hostsvc__kill_tasks_response__error__descriptor);
	if (!resp || !e) {
		PB_FREE(resp);
		free(e);
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	}
	bool valid = r->n_taskids > 0;
	for (size_t i = 0; valid && i < r->n_taskids; i++)
		valid = r->taskids[i] && r->taskids[i]->value && r->taskids[i]->value[0];
	if (!valid) {
		e->invalidtaskids =
		    PB_NEW(Peloton__Private__Hostmgr__Hostsvc__InvalidTaskIDs,
		           peloton__private__hostmgr__hostsvc__invalid_task_ids__descriptor);
		if (e->invalidtaskids)
			e->invalidtaskids->message =
			    strdup("taskIds must name at least one task, none empty");
		resp->error = e;
		return &resp->base;
	}
	size_t failed = 0;
	for (size_t i = 0; i < r->n_taskids; i++)
		failed += mesos_client_kill(d->mc, r->taskids[i]->value, NULL) != 0;
	if (failed == 0) {
		free(e);
		return &resp->base;
	}
	e->killfailure = PB_NEW(Peloton__Private__Hostmgr__Hostsvc__KillFailure,
	                        peloton__private__hostmgr__hostsvc__kill_failure__descriptor);
	if (e->killfailure) {
		char msg[96];
		snprintf(msg, sizeof(msg), "%zu of %zu kills not queued for Mesos", failed,
		         r->n_taskids);
		e->killfailure->message = strdup(msg);
	}
	resp->error = e;
	return &resp->base;
}

/* --- offer operations, reservations and volumes (offerops.c) ---------------- */

typedef Peloton__Private__Hostmgr__Hostsvc__OfferOperationsResponse ops_resp;

static ProtobufCMessage *h_hs_offer_ops(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	const Peloton__Private__Hostmgr__Hostsvc__OfferOperationsRequest *r = (const void *)m;
	char err[256] = "";
	enum hostmgr_ops_result why = hostmgr__offer_ops(
	    ctx, r->hostname, (const void *)r->operations, r->n_operations, err, sizeof(err));
	ops_resp *resp = PB_NEW(
	    ops_resp, peloton__private__hostmgr__hostsvc__offer_operations_response__descriptor);
	if (resp == NULL)
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	if (why == HOSTMGR_OPS_OK)
		return &resp->base;
	log_warn("hostmgr", "OfferOperations on %s: %s", r->hostname ? r->hostname : "?", err);
	Peloton__Private__Hostmgr__Hostsvc__OfferOperationsResponse__Error *e = PB_NEW(
	    Peloton__Private__Hostmgr__Hostsvc__OfferOperationsResponse__Error,
	    peloton__private__hostmgr__hostsvc__offer_operations_response__error__descriptor);
	if ((resp->error = e) == NULL) {
		PB_FREE(resp);
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	}
	if (why == HOSTMGR_OPS_BAD_ARG) {
		e->invalidargument =
		    PB_NEW(Peloton__Private__Hostmgr__Hostsvc__InvalidArgument,
		           peloton__private__hostmgr__hostsvc__invalid_argument__descriptor);
		if (e->invalidargument)
			e->invalidargument->message = strdup(err);
	} else if (why == HOSTMGR_OPS_NO_OFFER) {
		e->invalidoffers =
		    PB_NEW(Peloton__Private__Hostmgr__Hostsvc__InvalidOffers,
		           peloton__private__hostmgr__hostsvc__invalid_offers__descriptor);
		if (e->invalidoffers)
			e->invalidoffers->message = strdup(err);
	} else {
		e->failure =
		    PB_NEW(Peloton__Private__Hostmgr__Hostsvc__OperationsFailure,
		           peloton__private__hostmgr__hostsvc__operations_failure__descriptor);
		if (e->failure)
			e->failure->message = strdup(err);
	}
	return &resp->base;
}

/*
 * The four single-operation calls: their responses have no error fields,
 * so a refusal is the call's status (INVALID_ARGUMENT, UNAVAILABLE when
 * the host offers nothing now, INTERNAL).
 */
static ProtobufCMessage *raw(void *ctx, int type, Mesos__V1__Resource *const *res, size_t n,
                             const ProtobufCMessageDescriptor *rd, struct rpc_status *st)
{
	char err[256] = "";
	enum hostmgr_ops_result why = hostmgr__raw_op(ctx, type, res, n, err, sizeof(err));
	if (why == HOSTMGR_OPS_BAD_ARG)
		return rpc_fail(st, RPC_INVALID_ARGUMENT, "%s", err);
	if (why == HOSTMGR_OPS_NO_OFFER)
		return rpc_fail(st, RPC_UNAVAILABLE, "%s", err);
	if (why != HOSTMGR_OPS_OK)
		return rpc_fail(st, RPC_INTERNAL, "%s", err);
	ProtobufCMessage *resp = calloc(1, rd->sizeof_message);
	if (resp == NULL)
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	rd->message_init(resp);
	return resp;
}

static ProtobufCMessage *h_hs_reserve(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	const Peloton__Private__Hostmgr__Hostsvc__ReserveResourcesRequest *r = (const void *)m;
	return raw(ctx, PELOTON__PRIVATE__HOSTMGR__HOSTSVC__OFFER_OPERATION__TYPE__RESERVE,
	           r->resources, r->n_resources,
	           &peloton__private__hostmgr__hostsvc__reserve_resources_response__descriptor, st);
}

static ProtobufCMessage *h_hs_unreserve(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	const Peloton__Private__Hostmgr__Hostsvc__UnreserveResourcesRequest *r = (const void *)m;
	return raw(ctx, PELOTON__PRIVATE__HOSTMGR__HOSTSVC__OFFER_OPERATION__TYPE__UNRESERVE,
	           r->resources, r->n_resources,
	           &peloton__private__hostmgr__hostsvc__unreserve_resources_response__descriptor,
	           st);
}

static ProtobufCMessage *h_hs_create(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	const Peloton__Private__Hostmgr__Hostsvc__CreateVolumesRequest *r = (const void *)m;
	return raw(ctx, PELOTON__PRIVATE__HOSTMGR__HOSTSVC__OFFER_OPERATION__TYPE__CREATE,
	           r->volumes, r->n_volumes,
	           &peloton__private__hostmgr__hostsvc__create_volumes_response__descriptor, st);
}

static ProtobufCMessage *h_hs_destroy(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	const Peloton__Private__Hostmgr__Hostsvc__DestroyVolumesRequest *r = (const void *)m;
	return raw(ctx, PELOTON__PRIVATE__HOSTMGR__HOSTSVC__OFFER_OPERATION__TYPE__DESTROY,
	           r->volumes, r->n_volumes,
	           &peloton__private__hostmgr__hostsvc__destroy_volumes_response__descriptor, st);
}

/* ShutdownExecutors: a SHUTDOWN per executor (a command task's executor has its id). */
static ProtobufCMessage *h_hs_shutdown(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	const Peloton__Private__Hostmgr__Hostsvc__ShutdownExecutorsRequest *r = (const void *)m;
	Peloton__Private__Hostmgr__Hostsvc__ShutdownExecutorsResponse *resp =
	    PB_NEW(Peloton__Private__Hostmgr__Hostsvc__ShutdownExecutorsResponse,
	           peloton__private__hostmgr__hostsvc__shutdown_executors_response__descriptor);
	size_t bad = 0, failed = 0;
	if (resp == NULL)
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	if (hostmgr__shutdown_executors(ctx, r->executors, r->n_executors, &bad, &failed) == 0)
		return &resp->base;
	Peloton__Private__Hostmgr__Hostsvc__ShutdownExecutorsResponse__Error *e = PB_NEW(
	    Peloton__Private__Hostmgr__Hostsvc__ShutdownExecutorsResponse__Error,
	    peloton__private__hostmgr__hostsvc__shutdown_executors_response__error__descriptor);
	if ((resp->error = e) == NULL) {
		PB_FREE(resp);
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	}
	char msg[160];
	if (bad || r->n_executors == 0) {
		e->invalidexecutors =
		    PB_NEW(Peloton__Private__Hostmgr__Hostsvc__InvalidExecutors,
		           peloton__private__hostmgr__hostsvc__invalid_executors__descriptor);
		snprintf(msg, sizeof(msg),
		         "%zu of %zu executors lack an executorId or agentId (none shut down)", bad,
		         r->n_executors);
		if (r->n_executors == 0)
			snprintf(msg, sizeof(msg), "no executors named");
		if (e->invalidexecutors)
			e->invalidexecutors->message = strdup(msg);
	} else {
		e->shutdownfailure =
		    PB_NEW(Peloton__Private__Hostmgr__Hostsvc__ShutdownFailure,
		           peloton__private__hostmgr__hostsvc__shutdown_failure__descriptor);
		snprintf(msg, sizeof(msg), "%zu of %zu shutdowns not queued for Mesos", failed,
		         r->n_executors);
		if (e->shutdownfailure)
			e->shutdownfailure->message = strdup(msg);
	}
	return &resp->base;
}

void hostmgr_bind(struct hostmgr *hm, struct rpc_table *t)
{
	static const char hs[] = "peloton.private.hostmgr.hostsvc.InternalHostService";
	static const struct {
		const char *method;
		rpc_handler_f fn;
	} tab[] = {
	    {"AcquireHostOffers", h_hs_acquire},
	    {"ReleaseHostOffers", h_hs_release},
	    {"ClusterCapacity", h_hs_capacity},
	    {"LaunchTasks", h_hs_launch},
	    {"KillTasks", h_hs_kill},
	    {"OfferOperations", h_hs_offer_ops},
	    {"ReserveResources", h_hs_reserve},
	    {"UnreserveResources", h_hs_unreserve},
	    {"CreateVolumes", h_hs_create},
	    {"DestroyVolumes", h_hs_destroy},
	    {"ShutdownExecutors", h_hs_shutdown},
	};
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (rpc_bind(t, hs, tab[i].method, tab[i].fn, hm) != 0)
			log_error("hostmgr", "schema has no %s/%s", hs, tab[i].method);
	eventstream_bind(hm->es, t);
}
