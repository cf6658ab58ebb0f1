/* ResourceManagerService edge over the resource manager core; see resmgrsvc.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "proto_codec.h"
#include "resmgrsvc.h"
#include "rmtask.h"
#include "text.h"

typedef Peloton__Private__Resmgr__Task task_pb;
typedef Peloton__Private__Resmgr__Gang gang_pb;
typedef Peloton__Private__Resmgr__Placement placement_pb;

/* Grows a repeated field by one slot; returns the slot or NULL. */
static void **grow(void ***arr, size_t *n)
{
	/* capacity doubles: the arrays here are only ever built by grow, so
	 * a full one is one whose length is a power of two (one slot more per
	 * call made GetActiveTasks of a 120,000-task job quadratic: a minute) */
	if ((*n & (*n - 1)) == 0) {
		void **a = realloc(*arr, (*n ? *n * 2 : 1) * sizeof(void *));
		if (a == NULL)
			return NULL;
		*arr = a;
	}
	return &(*arr)[(*n)++];
}

#define APPEND(arr, n, item)                                 \
	do {                                                 \
		void **slot_ = grow((void ***)&(arr), &(n)); \
		if (slot_ == NULL) {                         \
			PB_FREE(item);                       \
			goto nomem;                          \
		}                                            \
		*slot_ = (item);                             \
	} while (0)

static task_pb *task_from_payload(const void *payload, size_t len)
{
	return (task_pb *)protobuf_c_message_unpack(&peloton__private__resmgr__task__descriptor,
	                                            NULL, len, payload);
}

static Peloton__Api__Peloton__TaskID *task_id_pb(const char *id)
{
	Peloton__Api__Peloton__TaskID *t =
	    PB_NEW(Peloton__Api__Peloton__TaskID, peloton__api__peloton__task_id__descriptor);
	if (t != NULL && (t->value = strdup(id)) == NULL) {
		free(t);
		return NULL;
	}
	return t;
}

/* --- EnqueueGangs ------------------------------------------------------------- */

static bool add_failed(Peloton__Private__Resmgr__EnqueueGangsFailure *f, const task_pb *t,
                       const char *why)
{
	Peloton__Private__Resmgr__EnqueueGangsFailure__FailedTask *ft =
	    PB_NEW(Peloton__Private__Resmgr__EnqueueGangsFailure__FailedTask,
	           peloton__private__resmgr__enqueue_gangs_failure__failed_task__descriptor);
	if (ft == NULL)
		return false;
	ft->task = (task_pb *)proto_clone(&t->base);
	ft->message = strdup(why);
	if (ft->message == NULL || !grow((void ***)&f->failed, &f->n_failed)) {
		PB_FREE(ft);
		return false;
	}
	f->failed[f->n_failed - 1] = ft;
	return true;
}

/*
 * A gang whose tasks are all PLACING, enqueued again: a placement engine
 * (in another process) gave up on it and hands it back, as upstream
 * engines do with EnqueueGangs. Its tasks go PLACING -> READY; true if so.
 */
static bool placing_gang_returned(struct resmgr *rm, const gang_pb *gp)
{
	if (gp->n_tasks == 0)
		return false;
	for (size_t i = 0; i < gp->n_tasks; i++) {
		const Peloton__Private__Resmgr__Task *t = gp->tasks[i];
		if (!t || !t->id || !t->id->value ||
		    resmgr_task_state(rm, t->id->value) != TASK_PLACING)
			return false;
	}
	const char **ids = malloc(gp->n_tasks * sizeof(*ids));
	if (ids == NULL)
		return false;
	for (size_t i = 0; i < gp->n_tasks; i++)
		ids[i] = gp->tasks[i]->id->value;
	bool moved = resmgr_return_tasks(rm, ids, gp->n_tasks) > 0;
	free(ids);
	return moved;
}

resmgrsvc_enqueue_resp *resmgrsvc_enqueue_gangs(struct resmgr *rm, const resmgrsvc_enqueue_req *r)
{
	resmgrsvc_enqueue_resp *resp = PB_NEW(
	    resmgrsvc_enqueue_resp, peloton__private__resmgr__enqueue_gangs_response__descriptor);
	Peloton__Private__Resmgr__EnqueueGangsFailure *failure = NULL;
	const char *pool = r && r->respool ? r->respool->value : "";

	if (resp == NULL)
		return NULL;
	for (size_t g = 0; r && g < r->n_gangs; g++) {
		const gang_pb *gp = r->gangs[g];
		if (placing_gang_returned(rm, gp))
			continue;
		struct resmgr_task_spec *specs =
		    calloc(gp->n_tasks ? gp->n_tasks : 1, sizeof(*specs));
		enum resmgr_fail f = specs ? RM_OK : RM_NO_MEMORY;
		for (size_t i = 0; f == RM_OK && i < gp->n_tasks; i++)
			if (!rmtask_spec(gp->tasks[i], &specs[i]))
				f = RM_NO_MEMORY;
		struct resmgr_gang_spec gs = {specs, gp->n_tasks};
		if (f == RM_OK)
			resmgr_enqueue_gangs(rm, pool, &gs, 1, &f);
		for (size_t i = 0; specs && i < gp->n_tasks; i++)
			free((void *)specs[i].payload);
		free(specs);
		if (f == RM_OK)
			continue;
		if (f == RM_POOL_NOT_FOUND) {
			Peloton__Private__Resmgr__EnqueueGangsResponse__Error *e = PB_NEW(
			    Peloton__Private__Resmgr__EnqueueGangsResponse__Error,
			    peloton__private__resmgr__enqueue_gangs_response__error__descriptor);
			Peloton__Private__Resmgr__ResourcePoolNotFound *nf =
			    PB_NEW(Peloton__Private__Resmgr__ResourcePoolNotFound,
			           peloton__private__resmgr__resource_pool_not_found__descriptor);
			char msg[128];
			snprintf(msg, sizeof(msg), "resource pool '%s' not found", pool);
			if (e == NULL || nf == NULL || (nf->message = strdup(msg)) == NULL) {
				free(e);
				PB_FREE(nf);
				goto nomem;
			}
			nf->id = r->respool ? (Peloton__Api__Peloton__ResourcePoolID *)proto_clone(
			                          &r->respool->base)
			                    : NULL;
			e->notfound = nf;
			PB_FREE(failure); /* the pool is missing: that is the one error */
			resp->error = e;
			return resp;
		}
		if (failure == NULL &&
		    (failure = PB_NEW(
		         Peloton__Private__Resmgr__EnqueueGangsFailure,
		         peloton__private__resmgr__enqueue_gangs_failure__descriptor)) == NULL)
			goto nomem;
		for (size_t i = 0; i < gp->n_tasks; i++)
			if (!add_failed(failure, gp->tasks[i], resmgr_fail_name(f)))
				goto nomem;
	}
	if (failure != NULL) {
		resp->error =
		    PB_NEW(Peloton__Private__Resmgr__EnqueueGangsResponse__Error,
		           peloton__private__resmgr__enqueue_gangs_response__error__descriptor);
		if (resp->error == NULL)
			goto nomem;
		resp->error->failure = failure;
	}
	return resp;
nomem:
	PB_FREE(failure);
	PB_FREE(resp);
	return NULL;
}

/* --- DequeueGangs ------------------------------------------------------------- */

resmgrsvc_dequeue_resp *resmgrsvc_dequeue_gangs(struct resmgr *rm, const resmgrsvc_dequeue_req *r)
{
	struct resmgr_gang_out out[256];
	resmgrsvc_dequeue_resp *resp = PB_NEW(
	    resmgrsvc_dequeue_resp, peloton__private__resmgr__dequeue_gangs_response__descriptor);
	size_t limit = r && r->limit ? r->limit : 10;
	uint64_t timeout_ns = r ? (uint64_t)r->timeout * 1000000ull : 0;

	if (resp == NULL)
		return NULL;
	if (limit > 256)
		limit = 256;
	int type = r ? (int)r->type : 0; /* unknown values: any type */
	enum resmgr_task_type tt =
	    type > 0 && type < RM_N_TYPES ? (enum resmgr_task_type)type : RM_TYPE_UNKNOWN;
	size_t n = resmgr_dequeue_gangs(rm, tt, limit, timeout_ns, out);
	size_t i = 0;
	for (; i < n; i++) {
		gang_pb *g = PB_NEW(gang_pb, peloton__private__resmgr__gang__descriptor);
		if (g == NULL)
			goto nomem;
		for (size_t k = 0; k < out[i].n_tasks; k++) {
			task_pb *t = out[i].payloads[k] ? task_from_payload(out[i].payloads[k],
			                                                    out[i].payload_lens[k])
			                                : NULL;
			if (t == NULL) { /* a task without a payload: enqueued through the C API */
				t = PB_NEW(task_pb, peloton__private__resmgr__task__descriptor);
				if (t != NULL)
					t->id = task_id_pb(out[i].task_ids[k]);
			}
			if (t == NULL) {
				PB_FREE(g);
				goto nomem;
			}
			APPEND(g->tasks, g->n_tasks, t);
		}
		resmgr_gang_free(&out[i]);
		APPEND(resp->gangs, resp->n_gangs, g);
	}
	return resp;
nomem:
	/* tasks already dequeued go back through the PLACING timeout */
	for (; i < n; i++)
		resmgr_gang_free(&out[i]);
	PB_FREE(resp);
	return NULL;
}

/* --- SetPlacements / GetPlacements ---------------------------------------------- */

resmgrsvc_setpl_resp *resmgrsvc_set_placements(struct resmgr *rm, const resmgrsvc_setpl_req *r)
{
	resmgrsvc_setpl_resp *resp = PB_NEW(
	    resmgrsvc_setpl_resp, peloton__private__resmgr__set_placements_response__descriptor);
	Peloton__Private__Resmgr__SetPlacementsFailure *failure = NULL;

	if (resp == NULL)
		return NULL;
	for (size_t i = 0; r && i < r->n_placements; i++) {
		const placement_pb *p = r->placements[i];
		const char **ids = calloc(p->n_tasks ? p->n_tasks : 1, sizeof(char *));
		const char **offers = calloc(p->n_offerids ? p->n_offerids : 1, sizeof(char *));
		if (ids == NULL || offers == NULL) {
			free(ids);
			free(offers);
			goto nomem;
		}
		for (size_t k = 0; k < p->n_tasks; k++)
			ids[k] = p->tasks[k] ? p->tasks[k]->value : "";
		for (size_t k = 0; k < p->n_offerids; k++)
			offers[k] = p->offerids[k] ? p->offerids[k]->value : "";
		struct resmgr_placement in = {
		    .hostname = p->hostname,
		    .agent_id = p->agentid ? p->agentid->value : "",
		    .task_ids = ids,
		    .n_tasks = p->n_tasks,
		    .ports = p->ports,
		    .n_ports = p->n_ports,
		    .offer_ids = offers,
		    .n_offer_ids = p->n_offerids,
		};
		enum resmgr_fail f;
		resmgr_set_placements(rm, &in, 1, &f);
		free(ids);
		free(offers);
		if (f == RM_OK)
			continue;
		if (failure == NULL &&
		    (failure = PB_NEW(
		         Peloton__Private__Resmgr__SetPlacementsFailure,
		         peloton__private__resmgr__set_placements_failure__descriptor)) == NULL)
			goto nomem;
		Peloton__Private__Resmgr__SetPlacementsFailure__FailedPlacement *fp = PB_NEW(
		    Peloton__Private__Resmgr__SetPlacementsFailure__FailedPlacement,
		    peloton__private__resmgr__set_placements_failure__failed_placement__descriptor);
		if (fp == NULL)
			goto nomem;
		fp->placement = (placement_pb *)proto_clone(&p->base);
		fp->message = strdup(resmgr_fail_name(f));
		if (fp->message == NULL) {
			PB_FREE(fp);
			goto nomem;
		}
		APPEND(failure->failed, failure->n_failed, fp);
	}
	if (failure != NULL) {
		resp->error =
		    PB_NEW(Peloton__Private__Resmgr__SetPlacementsResponse__Error,
		           peloton__private__resmgr__set_placements_response__error__descriptor);
		if (resp->error == NULL)
			goto nomem;
		resp->error->failure = failure;
	}
	return resp;
nomem:
	PB_FREE(failure);
	PB_FREE(resp);
	return NULL;
}

static placement_pb *placement_pb_of(const struct resmgr_placement_out *o)
{
	placement_pb *p = PB_NEW(placement_pb, peloton__private__resmgr__placement__descriptor);
	if (p == NULL)
		return NULL;
	p->hostname = strdup(o->hostname);
	p->agentid = PB_NEW(Mesos__V1__AgentID, mesos__v1__agent_id__descriptor);
	p->tasks = calloc(o->n_tasks ? o->n_tasks : 1, sizeof(*p->tasks));
	p->ports = calloc(o->n_ports ? o->n_ports : 1, sizeof(*p->ports));
	p->offerids = calloc(o->n_offer_ids ? o->n_offer_ids : 1, sizeof(*p->offerids));
	if (p->hostname == NULL || p->agentid == NULL || p->tasks == NULL || p->ports == NULL ||
	    p->offerids == NULL || (p->agentid->value = strdup(o->agent_id)) == NULL) {
		PB_FREE(p);
		return NULL;
	}
	for (size_t i = 0; i < o->n_tasks; i++) {
		if ((p->tasks[p->n_tasks] = task_id_pb(o->task_ids[i])) == NULL) {
			PB_FREE(p);
			return NULL;
		}
		p->n_tasks++;
	}
	for (size_t i = 0; i < o->n_offer_ids; i++) {
		Mesos__V1__OfferID *id =
		    PB_NEW(Mesos__V1__OfferID, mesos__v1__offer_id__descriptor);
		if (id == NULL || (id->value = strdup(o->offer_ids[i])) == NULL) {
			PB_FREE(id);
			PB_FREE(p);
			return NULL;
		}
		p->offerids[p->n_offerids++] = id;
	}
	memcpy(p->ports, o->ports, o->n_ports * sizeof(*p->ports));
	p->n_ports = o->n_ports;
	return p;
}

resmgrsvc_getpl_resp *resmgrsvc_get_placements(struct resmgr *rm, const resmgrsvc_getpl_req *r)
{
	struct resmgr_placement_out out[256];
	resmgrsvc_getpl_resp *resp = PB_NEW(
	    resmgrsvc_getpl_resp, peloton__private__resmgr__get_placements_response__descriptor);
	size_t limit = r && r->limit ? r->limit : 10;

	if (resp == NULL)
		return NULL;
	if (limit > 256)
		limit = 256;
	size_t n = resmgr_get_placements(rm, limit, r ? (uint64_t)r->timeout * 1000000ull : 0, out);
	size_t i = 0;
	for (; i < n; i++) {
		placement_pb *p = placement_pb_of(&out[i]);
		resmgr_placement_free(&out[i]);
		if (p == NULL)
			goto nomem;
		APPEND(resp->placements, resp->n_placements, p);
	}
	return resp;
nomem:
	for (i++; i < n; i++)
		resmgr_placement_free(&out[i]); /* back through the LAUNCHING timeout */
	PB_FREE(resp);
	return NULL;
}

/* --- NotifyTaskUpdates, KillTasks ----------------------------------------------- */

static bool mesos_event(int state, enum taskevent *ev)
{
	switch (state) {
	case MESOS__V1__TASK_STATE__TASK_STARTING:
		*ev = TEV_STARTING;
		return true;
	case MESOS__V1__TASK_STATE__TASK_RUNNING:
		*ev = TEV_RUNNING;
		return true;
	case MESOS__V1__TASK_STATE__TASK_FINISHED:
		*ev = TEV_SUCCEEDED;
		return true;
	case MESOS__V1__TASK_STATE__TASK_FAILED:
	case MESOS__V1__TASK_STATE__TASK_ERROR:
		*ev = TEV_FAILED;
		return true;
	case MESOS__V1__TASK_STATE__TASK_KILLED:
		*ev = TEV_KILLED;
		return true;
	case MESOS__V1__TASK_STATE__TASK_LOST:
	case MESOS__V1__TASK_STATE__TASK_DROPPED:
	case MESOS__V1__TASK_STATE__TASK_UNREACHABLE:
	case MESOS__V1__TASK_STATE__TASK_GONE:
	case MESOS__V1__TASK_STATE__TASK_GONE_BY_OPERATOR:
	case MESOS__V1__TASK_STATE__TASK_UNKNOWN:
		*ev = TEV_LOST;
		return true;
	default: /* STAGING, KILLING: no resource manager transition */
		return false;
	}
}

/* Applies ev to a task named by Peloton id or Mesos id "<peloton id>-<run>". */
static enum resmgr_fail notify_named(struct resmgr *rm, const char *id, enum taskevent ev)
{
	char buf[512];
	enum resmgr_fail f = resmgr_notify(rm, id, ev);
	const char *dash = strrchr(id, '-');

	if (f != RM_NOT_FOUND || dash == NULL || (size_t)(dash - id) >= sizeof(buf))
		return f;
	memcpy(buf, id, (size_t)(dash - id));
	buf[dash - id] = '\0';
	return resmgr_notify(rm, buf, ev);
}

resmgrsvc_notify_resp *resmgrsvc_notify_task_updates(struct resmgr *rm,
                                                     const resmgrsvc_notify_req *r)
{
	resmgrsvc_notify_resp *resp =
	    PB_NEW(resmgrsvc_notify_resp,
	           peloton__private__resmgr__notify_task_updates_response__descriptor);

	if (resp == NULL)
		return NULL;
	for (size_t i = 0; r && i < r->n_events; i++) {
		const Peloton__Private__Eventstream__Event *e = r->events[i];
		enum taskevent ev;
		const char *id = NULL;
		if (e->offset > resp->purgeoffset)
			resp->purgeoffset = e->offset;
		if (e->mesostaskstatus && e->mesostaskstatus->task_id &&
		    mesos_event(e->mesostaskstatus->state, &ev))
			id = e->mesostaskstatus->task_id->value;
		else if (e->pelotontaskevent && e->pelotontaskevent->taskid &&
		         taskevent_of_reported((enum taskstate)e->pelotontaskevent->state, &ev))
			id = e->pelotontaskevent->taskid->value;
		if (id == NULL)
			continue;
		enum resmgr_fail f = notify_named(rm, id, ev);
		if (f != RM_OK) /* stale, duplicate or unknown: nothing changes */
			log_debug("resmgrsvc", "update %s for task %s ignored: %s",
			          taskevent_name(ev), id, resmgr_fail_name(f));
	}
	return resp;
}

resmgrsvc_kill_resp *resmgrsvc_kill_tasks(struct resmgr *rm, const resmgrsvc_kill_req *r)
{
	resmgrsvc_kill_resp *resp =
	    PB_NEW(resmgrsvc_kill_resp, peloton__private__resmgr__kill_tasks_response__descriptor);

	if (resp == NULL)
		return NULL;
	for (size_t i = 0; r && i < r->n_tasks; i++) {
		const char *id = r->tasks[i] ? r->tasks[i]->value : "";
		enum resmgr_fail f = resmgr_kill(rm, id);
		if (f == RM_OK)
			continue;
		Peloton__Private__Resmgr__KillTasksResponse__Error *e =
		    PB_NEW(Peloton__Private__Resmgr__KillTasksResponse__Error,
		           peloton__private__resmgr__kill_tasks_response__error__descriptor);
		if (e == NULL)
			goto nomem;
		char msg[600];
		snprintf(msg, sizeof(msg), "task %s: %s", id, resmgr_fail_name(f));
		if (f == RM_NOT_FOUND) {
			e->notfound = PB_NEW(Peloton__Private__Resmgr__TasksNotFound,
			                     peloton__private__resmgr__tasks_not_found__descriptor);
			if (e->notfound) {
				e->notfound->task = task_id_pb(id);
				e->notfound->message = strdup(msg);
			}
		} else {
			e->killerror =
			    PB_NEW(Peloton__Private__Resmgr__KillTasksError,
			           peloton__private__resmgr__kill_tasks_error__descriptor);
			if (e->killerror) {
				e->killerror->task = task_id_pb(id);
				e->killerror->message = strdup(msg);
			}
		}
		APPEND(resp->error, resp->n_error, e);
	}
	return resp;
nomem:
	PB_FREE(resp);
	return NULL;
}

/* --- queries ---------------------------------------------------------------- */

struct active_ctx {
	const char *job, *pool;
	uint64_t wall_ns; /* now, for tasksByState's lastUpdateTime */
	resmgrsvc_active_resp *resp;
	bool nomem;
};

typedef Peloton__Private__Resmgr__GetActiveTasksResponse__TaskEntries task_entries;

/* tasksByState's entry for state, created on first use (a dozen states). */
static task_entries *state_list(struct active_ctx *c, const char *state)
{
	resmgrsvc_active_resp *r = c->resp;
	for (size_t i = 0; i < r->n_tasksbystate; i++)
		if (strcmp(r->tasksbystate[i]->key, state) == 0)
			return r->tasksbystate[i]->value;
	Peloton__Private__Resmgr__GetActiveTasksResponse__TasksByStateEntry *e = PB_NEW(
	    Peloton__Private__Resmgr__GetActiveTasksResponse__TasksByStateEntry,
	    peloton__private__resmgr__get_active_tasks_response__tasks_by_state_entry__descriptor);
	void **slot;
	if (e == NULL || (e->key = strdup(state)) == NULL ||
	    (e->value = PB_NEW(
	         task_entries,
	         peloton__private__resmgr__get_active_tasks_response__task_entries__descriptor)) ==
	        NULL ||
	    (slot = grow((void ***)&r->tasksbystate, &r->n_tasksbystate)) == NULL) {
		PB_FREE(e);
		return NULL;
	}
	*slot = e;
	return e->value;
}

/* The task in tasksByState: id, state, host and when it entered the state. */
static bool add_entry(struct active_ctx *c, const struct resmgr_task_view *v)
{
	task_entries *l = state_list(c, taskstate_name(v->state));
	Peloton__Private__Resmgr__GetActiveTasksResponse__TaskEntry *e =
	    PB_NEW(Peloton__Private__Resmgr__GetActiveTasksResponse__TaskEntry,
	           peloton__private__resmgr__get_active_tasks_response__task_entry__descriptor);
	char ts[40];
	void **slot;
	text_rfc3339(c->wall_ns - v->age_ns, ts, sizeof(ts));
	if (l == NULL || e == NULL || (e->taskid = strdup(v->id)) == NULL ||
	    (e->taskstate = strdup(taskstate_name(v->state))) == NULL ||
	    (e->hostname = strdup(v->hostname ? v->hostname : "")) == NULL ||
	    (e->lastupdatetime = strdup(ts)) == NULL ||
	    (slot = grow((void ***)&l->taskentry, &l->n_taskentry)) == NULL) {
		PB_FREE(e);
		return false;
	}
	*slot = e;
	return true;
}

static void active_cb(const struct resmgr_task_view *v, void *arg)
{
	struct active_ctx *c = arg;
	if (c->nomem || taskstate_terminal(v->state))
		return;
	if (c->job && c->job[0] && (v->job_id == NULL || strcmp(v->job_id, c->job) != 0))
		return;
	if (c->pool && c->pool[0] && (v->pool_id == NULL || strcmp(v->pool_id, c->pool) != 0))
		return;
	Peloton__Private__Resmgr__GetActiveTasksResponse__TaskStatesMapEntry *e = PB_NEW(
	    Peloton__Private__Resmgr__GetActiveTasksResponse__TaskStatesMapEntry,
	    peloton__private__resmgr__get_active_tasks_response__task_states_map_entry__descriptor);
	void **slot;
	if (e == NULL || (e->key = strdup(v->id)) == NULL ||
	    (e->value = strdup(taskstate_name(v->state))) == NULL ||
	    (slot = grow((void ***)&c->resp->taskstatesmap, &c->resp->n_taskstatesmap)) == NULL) {
		PB_FREE(e);
		c->nomem = true;
		return;
	}
	*slot = e;
	c->nomem = !add_entry(c, v);
}

resmgrsvc_active_resp *resmgrsvc_get_active_tasks(struct resmgr *rm, const resmgrsvc_active_req *r)
{
	struct active_ctx c = {
	    .job = r ? r->jobid : NULL,
	    .pool = r ? r->respoolid : NULL,
	    .wall_ns = clock_wall_ns(),
	    .resp = PB_NEW(resmgrsvc_active_resp,
	                   peloton__private__resmgr__get_active_tasks_response__descriptor),
	};
	if (c.resp == NULL)
		return NULL;
	resmgr_foreach_task(rm, active_cb, &c);
	if (c.nomem) {
		PB_FREE(c.resp);
		return NULL;
	}
	return c.resp;
}

struct byhost_ctx {
	const resmgrsvc_byhost_req *req;
	resmgrsvc_byhost_resp *resp;
	bool nomem;
};

/* The map entry for host, created on first use. */
static Peloton__Private__Resmgr__TaskList *host_list(struct byhost_ctx *c, const char *host)
{
	resmgrsvc_byhost_resp *r = c->resp;
	for (size_t i = 0; i < r->n_hosttasksmap; i++)
		if (strcmp(r->hosttasksmap[i]->key, host) == 0)
			return r->hosttasksmap[i]->value;
	Peloton__Private__Resmgr__GetTasksByHostsResponse__HostTasksMapEntry *e = PB_NEW(
	    Peloton__Private__Resmgr__GetTasksByHostsResponse__HostTasksMapEntry,
	    peloton__private__resmgr__get_tasks_by_hosts_response__host_tasks_map_entry__descriptor);
	void **slot;
	if (e == NULL || (e->key = strdup(host)) == NULL ||
	    (e->value = PB_NEW(Peloton__Private__Resmgr__TaskList,
	                       peloton__private__resmgr__task_list__descriptor)) == NULL ||
	    (slot = grow((void ***)&r->hosttasksmap, &r->n_hosttasksmap)) == NULL) {
		PB_FREE(e);
		return NULL;
	}
	*slot = e;
	return e->value;
}

static void byhost_cb(const struct resmgr_task_view *v, void *arg)
{
	struct byhost_ctx *c = arg;
	const resmgrsvc_byhost_req *q = c->req;
	bool wanted = false;

	if (c->nomem || v->hostname == NULL || taskstate_terminal(v->state) ||
	    v->state < TASK_PLACED || (q->type && (int)v->type != (int)q->type))
		return;
	for (size_t i = 0; i < q->n_hostnames && !wanted; i++)
		wanted = strcmp(q->hostnames[i], v->hostname) == 0;
	if (!wanted)
		return;
	Peloton__Private__Resmgr__TaskList *l = host_list(c, v->hostname);
	task_pb *t = v->payload ? task_from_payload(v->payload, v->payload_len) : NULL;
	void **slot;
	if (t == NULL && (t = PB_NEW(task_pb, peloton__private__resmgr__task__descriptor)) != NULL)
		t->id = task_id_pb(v->id);
	if (l == NULL || t == NULL || (slot = grow((void ***)&l->tasks, &l->n_tasks)) == NULL) {
		PB_FREE(t);
		c->nomem = true;
		return;
	}
	*slot = t;
}

resmgrsvc_byhost_resp *resmgrsvc_get_tasks_by_hosts(struct resmgr *rm,
                                                    const resmgrsvc_byhost_req *r)
{
	resmgrsvc_byhost_req empty = PELOTON__PRIVATE__RESMGR__GET_TASKS_BY_HOSTS_REQUEST__INIT;
	struct byhost_ctx c = {
	    .req = r ? r : &empty,
	    .resp = PB_NEW(resmgrsvc_byhost_resp,
	                   peloton__private__resmgr__get_tasks_by_hosts_response__descriptor),
	};
	if (c.resp == NULL)
		return NULL;
	resmgr_foreach_task(rm, byhost_cb, &c);
	if (c.nomem) {
		PB_FREE(c.resp);
		return NULL;
	}
	return c.resp;
}

resmgrsvc_preempt_resp *resmgrsvc_get_preemptible_tasks(struct resmgr *rm,
                                                        const resmgrsvc_preempt_req *r)
{
	char *ids[256];
	size_t limit = r && r->limit ? r->limit : 10;
	resmgrsvc_preempt_resp *resp =
	    PB_NEW(resmgrsvc_preempt_resp,
	           peloton__private__resmgr__get_preemptible_tasks_response__descriptor);

	if (resp == NULL)
		return NULL;
	if (limit > 256)
		limit = 256;
	size_t n = resmgr_get_preemptible(rm, ids, limit), i = 0;
	for (; i < n; i++) {
		size_t len = 0;
		void *payload = resmgr_task_payload(rm, ids[i], &len);
		task_pb *t = payload ? task_from_payload(payload, len) : NULL;
		free(payload);
		if (t == NULL && (t = PB_NEW(task_pb, peloton__private__resmgr__task__descriptor)))
			t->id = task_id_pb(ids[i]);
		free(ids[i]);
		if (t == NULL)
			goto nomem;
		APPEND(resp->tasks, resp->n_tasks, t);
	}
	return resp;
nomem:
	for (i++; i < n; i++)
		free(ids[i]);
	PB_FREE(resp);
	return NULL;
}
