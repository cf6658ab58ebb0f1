/*
 * pelotond: the scheduler daemon — every role in one process (job manager,
 * resource manager, placement engine, host manager) serving the method
 * table over gRPC and HTTP/JSON, on a Mesos master (or mesos-sim).
 *
 * Configuration, lowest precedence first: built-in defaults, each --config
 * YAML file in order (top-level `key: value`, keys as the long flags), the
 * environment (PELOTON_<FLAG> with '-' as '_', upper case), then flags.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <errno.h>
#include <pthread.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "clock.h"
#include "client.h"
#include "eventstream.h"
#include "grpccli.h"
#include "grpcsrv.h"
#include "hostidx.h"
#include "hostsvc.h"
#include "agents.h"
#include "httpcli.h"
#include "httpsrv.h"
#include "jobmgr.h"
#include "jobmgr_remote.h"
#include "hostmgr_remote.h"
#include "launchable.h"
#include "launchwatch.h"
#include "log.h"
#include "pconf.h"
#include "pjson.h"
#include "placement.h"
#include "proto_codec.h"
#include "resmgr.h"
#include "peloton/private/resmgr/resmgr.pb-c.h"
#include "placement_remote.h"
#include "resmgrsvc.h"
#include "respoolsvc.h"
#include "rpc.h"
#include "store.h"
#include "version.h"

struct daemon {
	struct pconf cf;
	struct store *store;
	struct respool_tree *pools;
	struct hostidx *idx;
	struct hostsvc *hsvc;
	struct resmgr *rm;
	struct placement *pl;
	struct plremote *plr;    /* a placement engine apart: its gRPC backend */
	struct jmremote *jmr;    /* a job manager apart: its resource manager */
	struct hmremote *hmr;    /* a job manager apart: its host manager */
	struct launchwatch *lw;  /* a job manager apart: its launches, until Mesos answers */
	struct grpccli *cap_cli; /* a resource manager apart: ClusterCapacity */
	bool cap_down;           /* its last call failed (the driver thread's) */
	struct jobmgr *jm;
	struct eventstream *es; /* Mesos updates on their way to the job manager */
	pthread_t es_thread;
	bool es_started;
	_Atomic bool es_stop;
	struct mesos_client *mc;
	struct agent_book *agents; /* agents' own addresses, from their offers */
	struct rpc_table *rpc;
	struct grpcsrv *grpc;
	struct httpsrv *http;
	_Atomic uint64_t offers_in, offers_used, offers_declined, rescinds, updates_in, subscribes;
	_Atomic uint64_t events_by_type[16]; /* mesos.v1.scheduler.Event.Type */
	char tmpdir[256];
};

/* ---- Mesos ---- */

static void on_event(void *arg, const Mesos__V1__Scheduler__Event *ev)
{
	struct daemon *d = arg;
	char err[200];
	if ((unsigned)ev->type < 16)
		atomic_fetch_add_explicit(&d->events_by_type[ev->type], 1, memory_order_relaxed);
	switch (ev->type) {
	case MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS:
		if (!ev->offers)
			break;
		atomic_fetch_add(&d->offers_in, ev->offers->n_offers);
		agent_book_note(d->agents, ev->offers->offers, ev->offers->n_offers);
		if (hostsvc_ingest_offers(d->hsvc, ev->offers->offers, ev->offers->n_offers,
		                          clock_mono_ns(), err, sizeof(err)) != 0)
			log_warn("hostmgr", "offers refused: %s", err);
		break;
	case MESOS__V1__SCHEDULER__EVENT__TYPE__RESCIND:
		if (ev->rescind && ev->rescind->offer_id) {
			atomic_fetch_add(&d->rescinds, 1);
			hostidx_rescind(d->idx, ev->rescind->offer_id->value);
		}
		break;
	case MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE:
		if (ev->update && ev->update->status) {
			atomic_fetch_add(&d->updates_in, 1);
			if (d->lw && ev->update->status->task_id &&
			    ev->update->status->task_id->value)
				launchwatch_seen(d->lw, ev->update->status->task_id->value);
			/* full: not acknowledged, so Mesos sends it again */
			if (eventstream_publish(d->es, ev->update->status) < 0)
				log_warn("hostmgr",
				         "event stream full: update of %s left for Mesos to resend",
				         ev->update->status->task_id
				             ? ev->update->status->task_id->value
				             : "?");
		}
		break;
	case MESOS__V1__SCHEDULER__EVENT__TYPE__FAILURE:
		if (ev->failure && ev->failure->agent_id)
			log_warn("hostmgr", "agent %s failed", ev->failure->agent_id->value);
		break;
	default:
		break;
	}
}

/*
 * The job manager's consumer of the event stream (in process, with the
 * same semantics a remote consumer gets over WaitForEvents): batches from
 * beginOffset, each update applied, then purged.
 */
static void *events_main(void *arg)
{
	struct daemon *d = arg;
	Peloton__Private__Eventstream__InitStreamRequest ir =
	    PELOTON__PRIVATE__EVENTSTREAM__INIT_STREAM_REQUEST__INIT;
	ir.clientname = "jobmgr";
	Peloton__Private__Eventstream__InitStreamResponse *init =
	    eventstream_init_stream(d->es, &ir);
	if (!init || init->error) {
		log_error("jobmgr", "cannot open the event stream");
		if (init)
			protobuf_c_message_free_unpacked(&init->base, NULL);
		return NULL;
	}
	Peloton__Private__Eventstream__WaitForEventsRequest w =
	    PELOTON__PRIVATE__EVENTSTREAM__WAIT_FOR_EVENTS_REQUEST__INIT;
	w.streamid = init->streamid;
	w.clientname = "jobmgr";
	w.beginoffset = init->previouspurgeoffset > init->minoffset ? init->previouspurgeoffset
	                                                            : init->minoffset;
	w.purgeoffset = w.beginoffset;
	w.limit = 1000;
	w.timeoutms = 100;
	while (!atomic_load(&d->es_stop)) {
		Peloton__Private__Eventstream__WaitForEventsResponse *r =
		    eventstream_wait(d->es, &w);
		if (!r)
			continue;
		if (r->error) {
			log_error("jobmgr",
			          "event stream: unexpected error; stopping the consumer");
			protobuf_c_message_free_unpacked(&r->base, NULL);
			break;
		}
		for (size_t i = 0; i < r->n_events; i++) {
			if (r->events[i]->mesostaskstatus)
				jobmgr_on_status(d->jm, r->events[i]->mesostaskstatus);
			w.beginoffset = r->events[i]->offset + 1;
		}
		w.purgeoffset = w.beginoffset;
		protobuf_c_message_free_unpacked(&r->base, NULL);
	}
	protobuf_c_message_free_unpacked(&init->base, NULL);
	return NULL;
}

/* Task ids collected for one explicit RECONCILE. */
struct idlist {
	char **task, **agent;
	size_t n, cap;
};

static void idlist_add(void *arg, const char *task, const char *agent)
{
	struct idlist *l = arg;
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 256;
		char **t = realloc(l->task, nc * sizeof(*t));
		if (t)
			l->task = t;
		char **a = t ? realloc(l->agent, nc * sizeof(*a)) : NULL;
		if (a)
			l->agent = a;
		if (!t || !a)
			return; /* next time */
		l->cap = nc;
	}
	l->task[l->n] = strdup(task);
	l->agent[l->n] = agent ? strdup(agent) : NULL;
	if (l->task[l->n])
		l->n++;
	else
		free(l->agent[l->n]);
}

/* Explicit RECONCILE of the watched launches that are due (or all of them). */
static void reconcile_watched(struct daemon *d, bool all)
{
	struct idlist l = {0};
	launchwatch_due(d->lw, clock_mono_ns(), all, idlist_add, &l);
	if (l.n) {
		log_info("hostmgr", "reconciling %zu launch(es) Mesos has said nothing about", l.n);
		mesos_client_reconcile(d->mc, (const char *const *)l.task,
		                       (const char *const *)l.agent, l.n);
	}
	for (size_t i = 0; i < l.n; i++) {
		free(l.task[i]);
		free(l.agent[i]);
	}
	free(l.task);
	free(l.agent);
}

/* After each SUBSCRIBED: persist the framework id, reconcile launched tasks. */
static void on_subscribed(void *arg, const char *fwid)
{
	struct daemon *d = arg;
	atomic_fetch_add(&d->subscribes, 1);
	struct store_batch *b = store_batch_new(d->store);
	if (b && store_framework_id_put(b, fwid) == 0)
		store_submit(d->store, b, NULL, NULL);
	else
		store_batch_free(b);
	if (d->jm == NULL) {
		/* the launched tasks live in a job manager apart: Mesos reports
		 * every task it knows (through the event stream to it), and the
		 * launches it has said nothing about yet are asked for by name */
		log_info("hostmgr", "subscribed: implicit reconciliation");
		mesos_client_reconcile(d->mc, NULL, NULL, 0);
		reconcile_watched(d, true);
		return;
	}
	struct jobmgr_live live;
	jobmgr_reconcile_list(d->jm, &live);
	if (live.n)
		mesos_client_reconcile(d->mc, (const char *const *)live.task_ids,
		                       (const char *const *)live.agent_ids, live.n);
	if (live.n)
		log_info("hostmgr", "reconciling %zu launched tasks with Mesos", live.n);
	jobmgr_live_fini(&live);
}

/*
 * Launches tasks on one agent: TaskInfos built from the launchables, one
 * ACCEPT with the offers. No offer ids: the placement was made apart
 * (SetPlacements in a resource manager without a host index): the lease
 * held on the host is spent here. 0, or -1 with err.
 */
enum launch_result { LAUNCH_OK, LAUNCH_BAD_TASK, LAUNCH_NO_LEASE, LAUNCH_FAILED };

static enum launch_result launch_on(struct daemon *d, const char *host, const char *agent,
                                    const char *const *offers, size_t n_offers,
                                    const struct launchable *lts, size_t n, char *err, size_t elen)
{
	struct hostidx_offer_ids held = {0};
	struct taskinfo_buf *x = calloc(n ? n : 1, sizeof(*x));
	Mesos__V1__TaskInfo **tis = calloc(n ? n : 1, sizeof(*tis));
	enum launch_result rc = LAUNCH_FAILED;
	if (!x || !tis) {
		snprintf(err, elen, "out of memory");
		goto out;
	}
	for (size_t k = 0; k < n; k++) {
		if (launchable_taskinfo(&lts[k], agent, &x[k]) != 0) {
			snprintf(err, elen, "task %s: not <job>-<instance>-<run> with a config",
			         lts[k].task_id ? lts[k].task_id : "(none)");
			rc = LAUNCH_BAD_TASK;
			goto out;
		}
		tis[k] = &x[k].ti;
	}
	if (n_offers == 0) {
		if (host == NULL || !host[0]) {
			snprintf(err, elen, "no offer ids and no hostname");
			goto out;
		}
		if (hostsvc_consume_held(d->hsvc, &host, 1, &held, err, elen) != 0) {
			rc = LAUNCH_NO_LEASE;
			goto out;
		}
		offers = (const char *const *)held.ids;
		n_offers = held.n;
	}
	if (mesos_client_launch(d->mc, agent, offers, n_offers, tis, n) == 0) {
		atomic_fetch_add(&d->offers_used, n_offers);
		rc = LAUNCH_OK;
	} else {
		snprintf(err, elen, "the Mesos client refused the ACCEPT");
	}
out:
	hostidx_offer_ids_fini(&held);
	free(x);
	free(tis);
	return rc;
}

static int do_launch(void *arg, const char *host, const char *agent, const char *const *offers,
                     size_t n_offers, const struct launchable *lts, size_t n)
{
	char err[256];
	if (launch_on(arg, host, agent, offers, n_offers, lts, n, err, sizeof(err)) == LAUNCH_OK)
		return 0;
	log_warn("hostmgr", "launch of %zu task(s) on %s: %s", n, host ? host : "?", err);
	return -1;
}

/* A job manager apart: an update every client purged past is acknowledged. */
static void ack_released(void *arg, const Mesos__V1__TaskStatus *st)
{
	struct daemon *d = arg;
	if (st->has_uuid)
		mesos_client_acknowledge(d->mc, st);
}

/* Offers unused for offer-hold-secs go back to Mesos (DECLINE), in calls of 100. */
struct declines {
	struct daemon *d;
	char *ids[100];
	size_t n;
};

static void decline_flush(struct declines *dc)
{
	if (dc->n == 0)
		return;
	mesos_client_decline(dc->d->mc, (const char *const *)dc->ids, dc->n, 5.0);
	atomic_fetch_add(&dc->d->offers_declined, dc->n);
	for (size_t i = 0; i < dc->n; i++)
		free(dc->ids[i]);
	dc->n = 0;
}

static void decline_one(void *arg, const char *offer_id)
{
	struct declines *dc = arg;
	if ((dc->ids[dc->n] = strdup(offer_id)) != NULL && ++dc->n == 100)
		decline_flush(dc);
}

/*
 * Hosts whose placement lease ran out go back to READY: a lease held over
 * RPC (AcquireHostOffers) by a placement engine that died or hung would
 * otherwise keep the host out of every later placement.
 */
static void expire_leases(struct daemon *d)
{
	size_t n = hostidx_expire_leases(d->idx, clock_mono_ns());
	if (n > 0)
		log_warn("hostmgr",
		         "%zu host(s) held for placement over %u s without a launch or "
		         "release: free again",
		         n, d->cf.host_lease_secs);
}

static void decline_held(struct daemon *d)
{
	struct declines dc = {.d = d};
	uint64_t hold = (uint64_t)d->cf.offer_hold_secs * 1000000000ull, now = clock_mono_ns();
	if (!d->cf.offer_hold_secs || now < hold)
		return;
	size_t n = hostidx_expire_offers_cb(d->idx, now - hold, decline_one, &dc);
	decline_flush(&dc);
	if (n > 0)
		log_info("hostmgr", "declined %zu offers held over %u s", n, d->cf.offer_hold_secs);
}

static int do_kill(void *arg, const char *task, const char *agent)
{
	struct daemon *d = arg;
	return mesos_client_kill(d->mc, task, agent);
}

/* RECONCILE with a task (explicit) or none (implicit: every task Mesos knows). */
static int reconcile(struct daemon *d, const char *task, const char *agent)
{
	const char *agents[1] = {agent};
	return mesos_client_reconcile(d->mc, &task, agents, task ? 1 : 0);
}

/*
 * The sandbox listing: GET /files/browse?path=/sandbox/<agent>/<task> on
 * the agent's own address (from the url of its offers). The sandbox path
 * is the simulator's layout; a real agent keeps sandboxes under its work
 * directory (found through its /state), which is not asked yet, so with a
 * real cluster the listing answers failure.
 */
static int do_browse(void *arg, const char *agent, const char *task, char *host, size_t hlen,
                     char *port, size_t plen, char ***paths, size_t *n, char *err, size_t elen)
{
	struct daemon *d = arg;
	unsigned aport = 0;
	if (!agent_book_find(d->agents, agent, host, hlen, &aport)) {
		snprintf(err, elen, "agent %s: its address is not known (no offer from it yet)",
		         agent);
		return -1;
	}
	snprintf(port, plen, "%u", aport);
	char url[512];
	snprintf(url, sizeof(url), "http://%s:%u/files/browse?path=/sandbox/%s/%s", host, aport,
	         agent, task);
	char *body = NULL;
	size_t blen = 0;
	long code = 0;
	int rc = httpcli_do(url, NULL, 5000, 1u << 20, &body, &blen, &code, err, elen);
	json_t *j = rc == 0 && code == 200 ? json_loadb(body, blen, 0, NULL) : NULL;
	free(body);
	if (!json_is_array(j)) {
		json_decref(j);
		char why[200];
		snprintf(why, sizeof(why), "%s", rc == 0 ? "no listing" : err);
		snprintf(err, elen, "agent %s: files endpoint answered %s (HTTP %ld)", agent, why,
		         code);
		return -1;
	}
	*n = 0;
	*paths = calloc(json_array_size(j) ? json_array_size(j) : 1, sizeof(char *));
	size_t i;
	json_t *v;
	json_array_foreach(j, i, v)
	{
		const char *p = json_string_value(json_object_get(v, "path"));
		if (p && *paths && ((*paths)[*n] = strdup(p)))
			(*n)++;
	}
	json_decref(j);
	return *paths ? 0 : -1;
}

static int do_reconcile(void *arg, const char *task, const char *agent)
{
	return reconcile(arg, task, agent);
}

static int do_ack(void *arg, const Mesos__V1__TaskStatus *st)
{
	struct daemon *d = arg;
	return mesos_client_acknowledge(d->mc, st);
}

static void capacity(void *arg, double out[RES_N])
{
	struct daemon *d = arg;
	struct hostidx_capacity c;
	hostidx_capacity(d->idx, &c);
	out[RES_CPU] = c.physical.cpus;
	out[RES_MEMORY] = c.physical.mem_mb;
	out[RES_DISK] = c.physical.disk_mb;
	out[RES_GPU] = c.physical.gpus;
}

/* A resource manager apart from the host manager: its ClusterCapacity (physical). */
static void remote_capacity(void *arg, double out[RES_N])
{
	struct daemon *d = arg;
	Peloton__Private__Hostmgr__Hostsvc__ClusterCapacityRequest req =
	    PELOTON__PRIVATE__HOSTMGR__HOSTSVC__CLUSTER_CAPACITY_REQUEST__INIT;
	struct rpc_status st = {0};
	Peloton__Private__Hostmgr__Hostsvc__ClusterCapacityResponse *r = (void *)grpccli_call_msg(
	    d->cap_cli, "/peloton.private.hostmgr.hostsvc.InternalHostService/ClusterCapacity",
	    &req.base, &peloton__private__hostmgr__hostsvc__cluster_capacity_response__descriptor,
	    5000, &st);
	for (int k = 0; k < RES_N; k++)
		out[k] = 0;
	if (r == NULL) {
		if (!d->cap_down)
			log_warn("resmgr",
			         "ClusterCapacity from %s: %s (capacity taken as 0 until it "
			         "answers)",
			         d->cf.hostmgr_addr, st.msg);
		d->cap_down = true;
		return;
	}
	if (d->cap_down)
		log_info("resmgr", "the host manager at %s answers again", d->cf.hostmgr_addr);
	d->cap_down = false;
	for (size_t i = 0; i < r->n_physicalresources; i++) {
		enum respool_kind k;
		if (r->physicalresources[i]->kind &&
		    respool_kind_parse(r->physicalresources[i]->kind, &k))
			out[k] = r->physicalresources[i]->capacity;
	}
	PB_FREE(r);
}

/* ---- RPC adapters for the cores that take a typed request ---- */

#define ADAPT(name, fn, ctxtype, reqtype)                                                          \
	static ProtobufCMessage *name(void *ctx, const ProtobufCMessage *m, struct rpc_status *st) \
	{                                                                                          \
		ProtobufCMessage *r = (ProtobufCMessage *)fn((ctxtype)ctx, (const reqtype *)m);    \
		return r ? r : rpc_fail(st, RPC_INTERNAL, "out of memory");                        \
	}

ADAPT(h_rp_get, respoolsvc_get, struct respool_tree *, Peloton__Api__Respool__GetRequest)
ADAPT(h_rp_lookup, respoolsvc_lookup, struct respool_tree *, Peloton__Api__Respool__LookupRequest)
ADAPT(h_rp_query, respoolsvc_query, struct respool_tree *, Peloton__Api__Respool__QueryRequest)
ADAPT(h_rm_enqueue, resmgrsvc_enqueue_gangs, struct resmgr *, resmgrsvc_enqueue_req)
ADAPT(h_rm_dequeue, resmgrsvc_dequeue_gangs, struct resmgr *, resmgrsvc_dequeue_req)
ADAPT(h_rm_getpl, resmgrsvc_get_placements, struct resmgr *, resmgrsvc_getpl_req)
ADAPT(h_rm_notify, resmgrsvc_notify_task_updates, struct resmgr *, resmgrsvc_notify_req)
ADAPT(h_rm_kill, resmgrsvc_kill_tasks, struct resmgr *, resmgrsvc_kill_req)
ADAPT(h_rm_active, resmgrsvc_get_active_tasks, struct resmgr *, resmgrsvc_active_req)
ADAPT(h_rm_byhost, resmgrsvc_get_tasks_by_hosts, struct resmgr *, resmgrsvc_byhost_req)
ADAPT(h_rm_preempt, resmgrsvc_get_preemptible_tasks, struct resmgr *, resmgrsvc_preempt_req)

static struct daemon *g_d;

/* Pool writes: the tree, then the store (the pool's config under its id). */
static void persist_pool(const char *id, const Peloton__Api__Respool__ResourcePoolConfig *cfg)
{
	size_t len;
	uint8_t *b = cfg ? proto_pack_alloc(&cfg->base, &len) : NULL;
	struct store_batch *bt = store_batch_new(g_d->store);
	if (!bt) {
		free(b);
		return;
	}
	if (b)
		store_put(bt, STORE_POOLS, id, strlen(id), b, len, 0, STORE_ANY_VERSION);
	else
		store_del(bt, STORE_POOLS, id, strlen(id));
	if (store_commit(g_d->store, bt) != STORE_OK)
		log_error("resmgr", "pool %s: not persisted", id);
	free(b);
}

static ProtobufCMessage *h_rp_create(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	const Peloton__Api__Respool__CreateRequest *r = (const void *)m;
	Peloton__Api__Respool__CreateResponse *resp = respoolsvc_create(ctx, r);
	if (!resp)
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	if (!resp->error && resp->result && resp->result->value)
		persist_pool(resp->result->value, r->config);
	return &resp->base;
}

static ProtobufCMessage *h_rp_update(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	const Peloton__Api__Respool__UpdateRequest *r = (const void *)m;
	Peloton__Api__Respool__UpdateResponse *resp = respoolsvc_update(ctx, r);
	if (!resp)
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	if (!resp->error && r->id && r->id->value)
		persist_pool(r->id->value, r->config);
	return &resp->base;
}

static ProtobufCMessage *h_rp_delete(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	const Peloton__Api__Respool__DeleteRequest *r = (const void *)m;
	char id[128] = "";
	struct respool_error rerr;
	if (r->path && r->path->value &&
	    respool_lookup(ctx, r->path->value, id, sizeof(id), &rerr) != 0)
		id[0] = 0;
	Peloton__Api__Respool__DeleteResponse *resp = respoolsvc_delete(ctx, r);
	if (!resp)
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	if (!resp->error && id[0])
		persist_pool(id, NULL);
	return &resp->base;
}

/* The request's placements refused whole with `why`, their tasks handed back. */
static ProtobufCMessage *refuse_placements(struct daemon *d, const resmgrsvc_setpl_req *r,
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
	struct daemon *d = ctx;
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
	for (size_t i = 0; d->hsvc && d->jm && i < n; i++)
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
	if (hostsvc_consume_held(d->hsvc, hosts, nh, ids, err, sizeof(err)) != 0) {
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

static ProtobufCMessage *h_hs_acquire(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	ProtobufCMessage *r =
	    (ProtobufCMessage *)hostsvc_acquire(ctx, (const void *)m, clock_mono_ns());
	return r ? r : rpc_fail(st, RPC_INTERNAL, "out of memory");
}

static ProtobufCMessage *h_hs_release(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	ProtobufCMessage *r = (ProtobufCMessage *)hostsvc_release(ctx, (const void *)m, NULL);
	return r ? r : rpc_fail(st, RPC_INTERNAL, "out of memory");
}

static ProtobufCMessage *h_hs_capacity(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	(void)m;
	ProtobufCMessage *r = (ProtobufCMessage *)hostsvc_capacity(ctx);
	return r ? r : rpc_fail(st, RPC_INTERNAL, "out of memory");
}

typedef Peloton__Private__Hostmgr__Hostsvc__LaunchTasksResponse launch_resp;

/* LaunchTasksResponse with one of its errors; NULL on ENOMEM. */
static launch_resp *launch_error(enum launch_result why, const char *msg,
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
	struct daemon *d = ctx;
	const Peloton__Private__Hostmgr__Hostsvc__LaunchTasksRequest *r = (const void *)m;
	size_t n = r->n_tasks;
	struct launchable *lts = calloc(n ? n : 1, sizeof(*lts));
	uint32_t *ports = calloc(n ? n * LAUNCHABLE_MAX_PORTS : 1, sizeof(*ports));
	char err[256] = "";
	enum launch_result why = LAUNCH_OK;
	const Peloton__Private__Hostmgr__Hostsvc__LaunchableTask *bad = NULL;
	launch_resp *resp = NULL;
	if (!lts || !ports) {
		why = LAUNCH_FAILED;
		snprintf(err, sizeof(err), "out of memory");
	} else if (!r->hostname || !r->hostname[0] || !r->agentid || !r->agentid->value ||
	           !r->agentid->value[0] || n == 0) {
		why = LAUNCH_BAD_TASK;
		snprintf(err, sizeof(err), "hostname, agentId and at least one task are required");
	}
	for (size_t k = 0; why == LAUNCH_OK && k < n; k++)
		if (launchable_from_proto(r->tasks[k], ports + k * LAUNCHABLE_MAX_PORTS,
		                          LAUNCHABLE_MAX_PORTS, &lts[k], err, sizeof(err)) != 0) {
			why = LAUNCH_BAD_TASK;
			bad = r->tasks[k];
		}
	if (why == LAUNCH_OK)
		why =
		    launch_on(d, r->hostname, r->agentid->value, NULL, 0, lts, n, err, sizeof(err));
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
	return resp ? &resp->base : rpc_fail(st, RPC_INTERNAL, "out of memory");
}

/* KillTasks: a KILL per task id (Mesos finds the agent). */
static ProtobufCMessage *h_hs_kill(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	struct daemon *d = ctx;
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

static void bind_all(struct daemon *d)
{
	static const char rp[] = "peloton.api.respool.ResourceManager";
	static const char rm[] = "peloton.private.resmgr.ResourceManagerService";
	static const char hs[] = "peloton.private.hostmgr.hostsvc.InternalHostService";
	const struct {
		const char *svc, *method;
		rpc_handler_f fn;
		void *ctx;
	} tab[] = {
	    {rp, "CreateResourcePool", h_rp_create, d->pools},
	    {rp, "GetResourcePool", h_rp_get, d->pools},
	    {rp, "DeleteResourcePool", h_rp_delete, d->pools},
	    {rp, "UpdateResourcePool", h_rp_update, d->pools},
	    {rp, "LookupResourcePoolID", h_rp_lookup, d->pools},
	    {rp, "Query", h_rp_query, d->pools},
	    {rm, "EnqueueGangs", h_rm_enqueue, d->rm},
	    {rm, "DequeueGangs", h_rm_dequeue, d->rm},
	    {rm, "SetPlacements", h_rm_setpl, d},
	    {rm, "GetPlacements", h_rm_getpl, d->rm},
	    {rm, "NotifyTaskUpdates", h_rm_notify, d->rm},
	    {rm, "KillTasks", h_rm_kill, d->rm},
	    {rm, "GetActiveTasks", h_rm_active, d->rm},
	    {rm, "GetTasksByHosts", h_rm_byhost, d->rm},
	    {rm, "GetPreemptibleTasks", h_rm_preempt, d->rm},
	    {hs, "AcquireHostOffers", h_hs_acquire, d->hsvc},
	    {hs, "ReleaseHostOffers", h_hs_release, d->hsvc},
	    {hs, "ClusterCapacity", h_hs_capacity, d->hsvc},
	    {hs, "LaunchTasks", h_hs_launch, d->hsvc ? d : NULL},
	    {hs, "KillTasks", h_hs_kill, d->hsvc ? d : NULL},
	};
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		/* a role this process does not run stays UNIMPLEMENTED here */
		if (tab[i].ctx == NULL || (tab[i].fn == h_rm_setpl && d->rm == NULL))
			continue;
		if (rpc_bind(d->rpc, tab[i].svc, tab[i].method, tab[i].fn, tab[i].ctx) != 0)
			log_error("main", "schema has no %s/%s", tab[i].svc, tab[i].method);
	}
	if (d->jm)
		jobmgr_bind(d->jm, d->rpc);
	if (d->es)
		eventstream_bind(d->es, d->rpc);
}

/* Tasks waiting per pool: pending (not admitted) and ready (admitted, not placed). */
struct poolq {
	char id[40];
	uint64_t pending, ready;
};
struct poolq_acc {
	struct poolq *v;
	size_t n;
};

static void poolq_cb(const struct resmgr_task_view *t, void *arg)
{
	struct poolq_acc *a = arg;
	if (t->state != TASK_PENDING && t->state != TASK_READY)
		return;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i].id, t->pool_id) == 0) {
			if (t->state == TASK_PENDING)
				a->v[i].pending++;
			else
				a->v[i].ready++;
			return;
		}
}

static void pool_queue_metrics(struct daemon *d, FILE *f)
{
	size_t n = 0;
	char **ids = respool_list(d->pools, &n);
	struct poolq_acc a = {calloc(n ? n : 1, sizeof(struct poolq)), n};
	if (!ids || !a.v) {
		free(a.v);
		for (size_t i = 0; ids && i < n; i++)
			free(ids[i]);
		free(ids);
		return;
	}
	for (size_t i = 0; i < n; i++)
		snprintf(a.v[i].id, sizeof(a.v[i].id), "%s", ids[i]);
	resmgr_foreach_task(d->rm, poolq_cb, &a);
	fprintf(f, "# HELP peloton_pool_tasks Tasks waiting per resource pool: pending (not "
	           "admitted) and ready (admitted, waiting for a host).\n"
	           "# TYPE peloton_pool_tasks gauge\n");
	for (size_t i = 0; i < n; i++) {
		char path[512];
		if (respool_path(d->pools, ids[i], path, sizeof(path)) == 0 &&
		    respool_is_leaf(d->pools, ids[i]))
			fprintf(f,
			        "peloton_pool_tasks{pool=\"%s\",queue=\"pending\"} %llu\n"
			        "peloton_pool_tasks{pool=\"%s\",queue=\"ready\"} %llu\n",
			        path, (unsigned long long)a.v[i].pending, path,
			        (unsigned long long)a.v[i].ready);
		free(ids[i]);
	}
	free(ids);
	free(a.v);
}

/* The placement engine's metrics (in either kind of process). */
static void placement_metrics(struct daemon *d, FILE *f)
{
	uint64_t un[PLREASON_N];
	placement_unplaceable(d->pl, un);
	fprintf(f, "# HELP peloton_unplaceable_tasks Tasks waiting for a host, by the main reason "
	           "of their last placement attempt.\n# TYPE peloton_unplaceable_tasks gauge\n");
	for (int r = 0; r < PLREASON_N; r++)
		if (r != HOSTMATCH_UNKNOWN && r != HOSTMATCH_MATCH &&
		    r != HOSTMATCH_MISMATCH_MAX_HOST_LIMIT)
			fprintf(f, "peloton_unplaceable_tasks{reason=\"%s\"} %llu\n",
			        placement_reason_name(r), (unsigned long long)un[r]);
	struct placement_stats ps;
	placement_get_stats(d->pl, &ps);
	fprintf(
	    f,
	    "# TYPE peloton_placement_rounds_total counter\npeloton_placement_rounds_total %llu\n"
	    "# TYPE peloton_placement_tasks_total counter\n"
	    "peloton_placement_tasks_total{result=\"placed\"} %llu\n"
	    "peloton_placement_tasks_total{result=\"retried\"} %llu\n"
	    "peloton_placement_tasks_total{result=\"handed_back\"} %llu\n",
	    (unsigned long long)ps.rounds, (unsigned long long)ps.placed,
	    (unsigned long long)ps.retried, (unsigned long long)ps.handed_back);
}

/* /metrics of a placement engine apart. */
static void metrics_placement(void *arg, FILE *f)
{
	struct daemon *d = arg;
	placement_metrics(d, f);
	struct plremote_stats rs;
	plremote_get_stats(d->plr, &rs);
	fprintf(f,
	        "# HELP peloton_placement_remote_calls_total gRPC calls to the resource and host "
	        "managers.\n# TYPE peloton_placement_remote_calls_total counter\n"
	        "peloton_placement_remote_calls_total{result=\"sent\"} %llu\n"
	        "peloton_placement_remote_calls_total{result=\"failed\"} %llu\n"
	        "# TYPE peloton_placement_remote_hosts_total counter\n"
	        "peloton_placement_remote_hosts_total{op=\"acquired\"} %llu\n"
	        "peloton_placement_remote_hosts_total{op=\"released\"} %llu\n",
	        (unsigned long long)rs.calls, (unsigned long long)rs.failed_calls,
	        (unsigned long long)rs.hosts_acquired, (unsigned long long)rs.hosts_released);
}

static void metrics(void *arg, FILE *f)
{
	struct daemon *d = arg;
	if (d->jm)
		jobmgr_write_metrics(d->jm, f);
	if (d->hmr) {
		struct hmremote_stats hs;
		hmremote_get_stats(d->hmr, &hs);
		fprintf(
		    f,
		    "# HELP peloton_jobmgr_hostmgr_calls_total gRPC calls to the host manager "
		    "apart.\n# TYPE peloton_jobmgr_hostmgr_calls_total counter\n"
		    "peloton_jobmgr_hostmgr_calls_total{result=\"sent\"} %llu\n"
		    "peloton_jobmgr_hostmgr_calls_total{result=\"failed\"} %llu\n"
		    "# TYPE peloton_jobmgr_hostmgr_tasks_total counter\n"
		    "peloton_jobmgr_hostmgr_tasks_total{op=\"launched\"} %llu\n"
		    "peloton_jobmgr_hostmgr_tasks_total{op=\"kill_sent\"} %llu\n"
		    "# HELP peloton_jobmgr_stream_updates_total Status updates read from the host "
		    "manager's event stream (retried: not persisted the first time).\n"
		    "# TYPE peloton_jobmgr_stream_updates_total counter\n"
		    "peloton_jobmgr_stream_updates_total{result=\"read\"} %llu\n"
		    "peloton_jobmgr_stream_updates_total{result=\"retried\"} %llu\n"
		    "# TYPE peloton_jobmgr_stream_purge_offset gauge\n"
		    "peloton_jobmgr_stream_purge_offset %llu\n",
		    (unsigned long long)hs.calls, (unsigned long long)hs.failed_calls,
		    (unsigned long long)hs.launched, (unsigned long long)hs.kills_sent,
		    (unsigned long long)hs.updates, (unsigned long long)hs.updates_retried,
		    (unsigned long long)hs.purge_offset);
	}
	if (d->rm)
		pool_queue_metrics(d, f);
	if (d->pl)
		placement_metrics(d, f);
	struct store_stats ss;
	store_get_stats(d->store, &ss);
	fprintf(f,
	        "# TYPE peloton_store_groups_total counter\npeloton_store_groups_total %llu\n"
	        "# TYPE peloton_store_write_seconds_total counter\n"
	        "peloton_store_write_seconds_total %g\n"
	        "# TYPE peloton_store_corrupt_values_total counter\n"
	        "peloton_store_corrupt_values_total %llu\n",
	        (unsigned long long)ss.groups, (double)ss.write_ns / 1e9,
	        (unsigned long long)ss.corrupt);
	if (d->mc == NULL)
		return; /* no host manager here */
	fprintf(f,
	        "# HELP peloton_mesos_subscribed 1 while the scheduler stream is subscribed.\n"
	        "# TYPE peloton_mesos_subscribed gauge\npeloton_mesos_subscribed %d\n"
	        "# HELP peloton_mesos_events_by_type_total Mesos events received by type.\n"
	        "# TYPE peloton_mesos_events_by_type_total counter\n",
	        mesos_client_wait_subscribed(d->mc, 0) ? 1 : 0);
	for (int t = 0; t < 16; t++) {
		const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
		    &mesos__v1__scheduler__event__type__descriptor, t);
		uint64_t n = atomic_load_explicit(&d->events_by_type[t], memory_order_relaxed);
		if (v && n)
			fprintf(f, "peloton_mesos_events_by_type_total{type=\"%s\"} %llu\n",
			        v->name, (unsigned long long)n);
	}
	if (d->lw)
		fprintf(f,
		        "# HELP peloton_hostmgr_watched_launches Launches for a job manager apart "
		        "that Mesos has said nothing about yet (reconciled when due).\n"
		        "# TYPE peloton_hostmgr_watched_launches gauge\n"
		        "peloton_hostmgr_watched_launches %zu\n"
		        "# TYPE peloton_hostmgr_unwatched_launches_total counter\n"
		        "peloton_hostmgr_unwatched_launches_total %llu\n",
		        launchwatch_size(d->lw), (unsigned long long)launchwatch_dropped(d->lw));
	struct hostidx_capacity c;
	hostidx_capacity(d->idx, &c);
	struct mesos_client_stats ms;
	mesos_client_get_stats(d->mc, &ms);
	fprintf(
	    f,
	    "# TYPE peloton_hosts gauge\npeloton_hosts{status=\"live\"} %u\n"
	    "peloton_hosts{status=\"with_offers\"} %u\npeloton_hosts{status=\"placing\"} %u\n"
	    "# TYPE peloton_offers_total counter\npeloton_offers_total{result=\"received\"} %llu\n"
	    "peloton_offers_total{result=\"used\"} %llu\n"
	    "peloton_offers_total{result=\"declined\"} %llu\n"
	    "peloton_offers_total{result=\"rescinded\"} %llu\n"
	    "# TYPE peloton_mesos_subscriptions_total counter\n"
	    "peloton_mesos_subscriptions_total %llu\n"
	    "# TYPE peloton_mesos_events_total counter\npeloton_mesos_events_total %llu\n"
	    "# TYPE peloton_mesos_calls_total counter\npeloton_mesos_calls_total{result=\"sent\"} "
	    "%llu\npeloton_mesos_calls_total{result=\"failed\"} %llu\n"
	    "# TYPE peloton_mesos_accepts_total counter\npeloton_mesos_accepts_total %llu\n",
	    c.hosts, c.hosts_with_offers, c.placing, (unsigned long long)d->offers_in,
	    (unsigned long long)d->offers_used, (unsigned long long)d->offers_declined,
	    (unsigned long long)d->rescinds, (unsigned long long)ms.subscribes,
	    (unsigned long long)ms.events, (unsigned long long)ms.calls_sent,
	    (unsigned long long)ms.calls_failed, (unsigned long long)ms.accepts);
}

/* ---- POST /placement/explain: a dry run of the placement engine ---- */

static char *json_err(const char *msg)
{
	json_t *j = json_pack("{s:s}", "error", msg);
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	return s;
}

/*
 * Body {"task": <peloton.private.resmgr.Task as JSON>, "count": N}: where N
 * tasks of that shape would go now, and why not (read-only).
 */
static bool route(void *arg, const char *method, const char *url, const uint8_t *body, size_t len,
                  unsigned *status, char **out)
{
	struct daemon *d = arg;
	if (strcmp(url, "/placement/explain") != 0)
		return false;
	if (strcmp(method, "POST") != 0) {
		*status = 405;
		*out = json_err("POST a JSON body {\"task\": {...}, \"count\": N}");
		return true;
	}
	char err[256];
	json_error_t je;
	json_t *j = json_loadb((const char *)body, len, 0, &je);
	json_t *count = json_object_get(j, "count");
	json_int_t n = count ? json_integer_value(count) : 1;
	ProtobufCMessage *t = j ? pjson_decode(&peloton__private__resmgr__task__descriptor,
	                                       json_object_get(j, "task") ?: json_object(),
	                                       PJSON_LOOSE_NAMES, err, sizeof(err))
	                        : NULL;
	json_decref(j);
	*status = 400;
	if (!j || !t || n < 1 || n > 100000) {
		*out = json_err(!j ? "body is not JSON" : !t ? err : "count must be in 1..100000");
		if (t)
			protobuf_c_message_free_unpacked(t, NULL);
		return true;
	}
	if (d->pl == NULL) {
		protobuf_c_message_free_unpacked(t, NULL);
		*status = 404;
		*out = json_err("no placement engine runs in this process (--roles)");
		return true;
	}
	size_t plen;
	uint8_t *packed = proto_pack_alloc(t, &plen);
	protobuf_c_message_free_unpacked(t, NULL);
	struct placement_explain e;
	int rc =
	    packed ? placement_explain(d->pl, packed, plen, (uint32_t)n, &e, err, sizeof(err)) : -1;
	free(packed);
	if (rc != 0) {
		*out = json_err(packed ? err : "out of memory");
		return true;
	}
	struct placement_why w = {0};
	memcpy(w.counts, e.counts, sizeof(w.counts));
	char why[256];
	placement_why_render(&w, why, sizeof(why));
	char *att = strstr(why, " (attempt"); /* a dry run has no attempts */
	if (att)
		*att = 0;
	json_t *slots = json_array();
	for (uint32_t i = 0; i < e.placed; i++) {
		json_t *ports = json_array();
		for (uint32_t k = 0; k < e.num_ports; k++)
			json_array_append_new(ports, json_integer(e.slots[i].ports[k]));
		json_array_append_new(
		    slots, json_pack("{s:s,s:o}", "hostname", e.slots[i].hostname, "ports", ports));
	}
	json_t *r =
	    json_pack("{s:i,s:i,s:s,s:s,s:o}", "requested", (int)e.requested, "placed",
	              (int)e.placed, "strategy", e.strategy == PLACE_SPREAD ? "spread" : "pack",
	              "hosts", why, "slots", slots);
	placement_explain_fini(&e);
	*out = r ? json_dumps(r, JSON_COMPACT) : NULL;
	json_decref(r);
	*status = 200;
	return true;
}

/* ---- sd_notify without libsystemd ---- */

static void sd_notify_msg(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	if (!path || !*path)
		return;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(path);
	if (n >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, n);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = 0;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&sa,
	           (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0)
		log_warn("main", "sd_notify: %s", strerror(errno));
	close(fd);
}

/* ---- start / stop ---- */

/* The gRPC and HTTP servers over d->rpc (bound already). */
static int start_servers(struct daemon *d, void (*metrics_fn)(void *, FILE *))
{
	char err[256] = "";
	const struct pconf *c = &d->cf;
	char addr[64];
	snprintf(addr, sizeof(addr), "%s:%u", c->bind_any ? "0.0.0.0" : "127.0.0.1", c->grpc_port);
	/* one per CPU by default: more only adds hand-offs between the gRPC
	 * core's pollers (bench_rpc on 2 cores: 4 threads were slower than 2) */
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned rpc_threads = c->rpc_threads ? c->rpc_threads : ncpu > 0 ? (unsigned)ncpu : 2;
	struct grpcsrv_config gc = {
	    .addr = addr, .workers = rpc_threads, .max_request_bytes = c->max_request_bytes};
	if (!(d->grpc = grpcsrv_start(&gc, d->rpc, err, sizeof(err))))
		return log_error("main", "gRPC: %s", err), -1;
	struct httpsrv_config hcfg = {.port = (uint16_t)c->http_port,
	                              .bind_any = c->bind_any,
	                              .threads = rpc_threads,
	                              .max_request_bytes = c->max_request_bytes,
	                              .metrics = metrics_fn,
	                              .route = route,
	                              .arg = d};
	if (!(d->http = httpsrv_start(&hcfg, d->rpc, err, sizeof(err))))
		return log_error("main", "HTTP: %s", err), -1;
	return 0;
}

/* A placement engine whose backend is gRPC to these two addresses. */
static int start_remote_engine(struct daemon *d, const char *resmgr, const char *hostmgr)
{
	const struct pconf *c = &d->cf;
	if (!(d->plr = plremote_create(resmgr, hostmgr)))
		return log_error("main", "out of memory"), -1;
	struct placement_backend be;
	plremote_backend(d->plr, &be);
	struct placement_config pc = {
	    .backend = &be, .workers = c->placement_workers, .batch = c->placement_batch};
	if (!(d->pl = placement_create(&pc)) || placement_start(d->pl) != 0)
		return log_error("main", "cannot start the placement engine"), -1;
	return 0;
}

/*
 * A placement engine apart (`--roles placement`): its workers reach the
 * resource manager and the host manager over gRPC (placement_remote).
 * Serves health, version and metrics; every RPC is UNIMPLEMENTED here.
 */
static int start_placement_only(struct daemon *d)
{
	const struct pconf *c = &d->cf;
	if (start_remote_engine(d, c->resmgr_addr, c->hostmgr_addr) != 0)
		return -1;
	if (!(d->rpc = rpc_table_create()))
		return log_error("main", "out of memory"), -1;
	return start_servers(d, metrics_placement);
}

static int start(struct daemon *d)
{
	char err[256] = "";
	const struct pconf *c = &d->cf;
	if (c->role_set == ROLE_PLACEMENT)
		return start_placement_only(d);
	/* the roles here; the others are reached over gRPC at the addresses
	 * pconf checked */
	bool has_jm = c->role_set & ROLE_JOBMGR, has_rm = c->role_set & ROLE_RESMGR,
	     has_hm = c->role_set & ROLE_HOSTMGR, has_pl = c->role_set & ROLE_PLACEMENT;
	const char *db = c->db;
	if (!db || !*db) {
		snprintf(d->tmpdir, sizeof(d->tmpdir), "/tmp/pelotond-XXXXXX");
		if (!mkdtemp(d->tmpdir)) {
			log_error("main", "cannot create a temp dir: %s", strerror(errno));
			return -1;
		}
		db = d->tmpdir;
		log_info("main", "no --db given: using a temporary database in %s", db);
	}
	struct store_config sc = {.path = db, .no_sync = c->no_sync};
	if (!(d->store = store_open(&sc, err, sizeof(err)))) {
		log_error("main", "store %s: %s", db, err);
		return -1;
	}
	/* the host index first: the resource manager's driver reads its capacity */
	if (has_hm) {
		struct hostidx_config hc = {
		    .lease_ns =
		        (uint64_t)(c->host_lease_secs ? c->host_lease_secs : 60) * 1000000000ull};
		d->idx = hostidx_create(&hc);
		d->hsvc = d->idx ? hostsvc_create(d->idx, HOSTIDX_PACK) : NULL;
		if (!d->idx || !d->hsvc)
			return log_error("main", "out of memory"), -1;
	}
	size_t failed = 0, npools = 0;
	if (has_rm) {
		d->pools = respool_tree_create();
		npools = d->pools ? respoolsvc_recover(d->pools, d->store, &failed) : 0;
		struct resmgr_config rc = {.pools = d->pools,
		                           .placing_timeout_ns = (uint64_t)c->placing_timeout_secs *
		                                                 1000000000ull /* 0: 10 min */};
		if (!d->pools || !(d->rm = resmgr_create(&rc)))
			return log_error("main", "out of memory"), -1;
		/* capacity: from the host index here, else the host manager's */
		if (!has_hm && !(d->cap_cli = grpccli_create(c->hostmgr_addr)))
			return log_error("main", "out of memory"), -1;
		struct resmgr_driver_config dc = {.preempt_ms = c->preempt_ms,
		                                  .capacity = has_hm ? capacity : remote_capacity,
		                                  .capacity_arg = d};
		if (resmgr_start(d->rm, &dc) != 0)
			return log_error("main", "cannot start the resource manager"), -1;
	}
	if (has_pl && has_rm && has_hm && has_jm) {
		struct placement_config pc = {.rm = d->rm,
		                              .idx = d->idx,
		                              .workers = c->placement_workers,
		                              .batch = c->placement_batch};
		if (!(d->pl = placement_create(&pc)) || placement_start(d->pl) != 0)
			return log_error("main", "cannot start the placement engine"), -1;
	} else if (has_pl) {
		/* a manager (or the launcher) apart: the engine leases hosts and
		 * reaches the managers over gRPC, this process's own included, as
		 * an engine in a process of its own does; the hosts stay leased
		 * until the launcher spends them by name (LaunchTasks names no
		 * offers) */
		char self[64];
		snprintf(self, sizeof(self), "127.0.0.1:%u", c->grpc_port);
		if (start_remote_engine(d, has_rm ? self : c->resmgr_addr,
		                        has_hm ? self : c->hostmgr_addr) != 0)
			return -1;
	} else if (has_rm) {
		log_info("placement", "no placement engine here: engines in other processes "
		                      "(--roles placement) place this process's tasks");
	}
	if (has_hm) {
		static const char *const consumers[] = {"jobmgr"};
		if (!(d->es = eventstream_create(65536, consumers, 1)) ||
		    !(d->agents = agent_book_new()))
			return log_error("main", "out of memory"), -1;
		if (!has_jm) { /* acknowledged once the job manager apart purged past it */
			eventstream_set_release(d->es, ack_released, d);
			if (!(d->lw = launchwatch_new(
			          (uint64_t)c->reconcile_launch_secs * 1000000000ull, 0)))
				return log_error("main", "out of memory"), -1;
		}
	}
	if (has_jm) {
		struct jobmgr_config jc = {
		    .store = d->store,
		    .rm = d->rm,
		    .pools = d->pools,
		    .pl = d->pl,
		    .ops = {do_launch, do_kill, do_ack, do_browse, do_reconcile, d},
		    .max_instances = c->max_instances,
		    .reconcile_after_ns = (uint64_t)c->reconcile_launch_secs * 1000000000ull,
		    .write_each_update = c->write_each_update,
		};
		if (!has_rm) {
			if (!(d->jmr = jmremote_create(c->resmgr_addr)))
				return log_error("main", "out of memory"), -1;
			jc.rmops = jmremote_ops(d->jmr);
		}
		if (!has_hm) {
			if (!(d->hmr = hmremote_create(c->hostmgr_addr)))
				return log_error("main", "out of memory"), -1;
			jc.ops = hmremote_ops(d->hmr);
		}
		if (!(d->jm = jobmgr_create(&jc)))
			return log_error("main", "out of memory"), -1;
		if (has_hm) {
			if (pthread_create(&d->es_thread, NULL, events_main, d) != 0)
				return log_error("main", "cannot start the event stream consumer"),
				       -1;
			pthread_setname_np(d->es_thread, "jm-events");
			d->es_started = true;
		}
		size_t nj = 0, nt = 0;
		if (jobmgr_recover(d->jm, &nj, &nt) != 0)
			return log_error("main", "recovery failed"), -1;
		log_info("main", "recovered %zu jobs, %zu tasks", nj, nt);
		/* updates from a host manager apart: only once the jobs are back */
		if (!has_hm && hmremote_start_events(d->hmr, d->jm) != 0)
			return log_error("main", "cannot start the event stream consumer"), -1;
	}
	if (has_rm)
		log_info("main", "recovered %zu pools (%zu refused)", npools, failed);
	if (has_hm) {
		char fwid[256] = "";
		bool have_fw = store_framework_id_get(d->store, fwid, sizeof(fwid)) == STORE_OK;
		struct mesos_client_config mc = {
		    .master = c->master,
		    .name = "peloton",
		    .framework_id = have_fw ? fwid : NULL,
		    .on_event = on_event,
		    .on_subscribed = on_subscribed,
		    .arg = d,
		};
		if (!(d->mc = mesos_client_start(&mc, err, sizeof(err))))
			return log_error("main", "mesos client: %s", err), -1;
	}
	if (d->jm && jobmgr_start(d->jm) != 0)
		return log_error("main", "cannot start the launcher"), -1;
	if (!(d->rpc = rpc_table_create()))
		return log_error("main", "out of memory"), -1;
	bind_all(d);
	return start_servers(d, metrics);
}

static void stop(struct daemon *d)
{
	/* stop accepting calls first, then the roles, then flush the store */
	httpsrv_stop(d->http);
	grpcsrv_stop(d->grpc);
	if (d->jm)
		jobmgr_stop(d->jm);
	if (d->pl)
		placement_stop(d->pl);
	mesos_client_stop(d->mc);
	if (d->rm)
		resmgr_stop(d->rm);
	if (d->es_started) {
		atomic_store(&d->es_stop, true);
		pthread_join(d->es_thread, NULL);
	}
	hmremote_stop(d->hmr);
	/* the completions of the job manager's writes point into it */
	if (d->store)
		store_drain(d->store);
	jobmgr_destroy(d->jm);
	agent_book_free(d->agents);
	eventstream_destroy(d->es);
	placement_destroy(d->pl);
	plremote_destroy(d->plr);
	jmremote_destroy(d->jmr);
	grpccli_destroy(d->cap_cli);
	rpc_table_destroy(d->rpc);
	resmgr_destroy(d->rm);
	hostsvc_destroy(d->hsvc);
	hostidx_destroy(d->idx);
	respool_tree_destroy(d->pools);
	store_close(d->store);
	hmremote_destroy(d->hmr);
	launchwatch_free(d->lw);
}

int main(int argc, char **argv)
{
	struct daemon d;
	memset(&d, 0, sizeof(d));
	g_d = &d;
	int rc = pconf_load(&d.cf, argc, argv);
	if (rc >= 0)
		return rc; /* --help, --version or a usage error */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* the peers this process uses: the master where the host manager runs,
	 * the resource and host managers where they run apart */
	unsigned rs = d.cf.role_set;
	bool rm_apart = (rs & (ROLE_JOBMGR | ROLE_PLACEMENT)) && !(rs & ROLE_RESMGR);
	char peers[512];
	snprintf(peers, sizeof(peers), "%s%s%s%s%s%s", rs & ROLE_HOSTMGR ? ", master " : "",
	         rs & ROLE_HOSTMGR ? d.cf.master : "", rm_apart ? ", resource manager " : "",
	         rm_apart ? d.cf.resmgr_addr : "", rs & ROLE_HOSTMGR ? "" : ", host manager ",
	         rs & ROLE_HOSTMGR ? "" : d.cf.hostmgr_addr);
	log_info("main", "pelotond %s starting: roles %s%s, gRPC %u, HTTP %u", pel_version(),
	         d.cf.roles, peers, d.cf.grpc_port, d.cf.http_port);
	if (start(&d) != 0) {
		stop(&d);
		return 1;
	}
	log_info("main", "ready");
	sd_notify_msg("READY=1");
	uint64_t next_implicit = clock_mono_ns() + (uint64_t)d.cf.reconcile_secs * 1000000000ull;
	for (;;) {
		struct timespec tick = {1, 0};
		int sig = sigtimedwait(&set, NULL, &tick);
		if (sig < 0 && d.mc == NULL)
			continue; /* no host manager here: nothing periodic */
		if (sig < 0) {
			expire_leases(&d);
			decline_held(&d);
			if (d.lw)
				reconcile_watched(&d, false);
			/* periodic implicit reconciliation: Mesos reports every task it knows */
			if (d.cf.reconcile_secs && clock_mono_ns() >= next_implicit) {
				log_info("hostmgr", "implicit reconciliation");
				reconcile(&d, NULL, NULL);
				next_implicit =
				    clock_mono_ns() + (uint64_t)d.cf.reconcile_secs * 1000000000ull;
			}
			continue;
		}
		if (sig == SIGHUP) {
			if (pconf_reload(&d.cf) == 0)
				log_info("main", "SIGHUP: configuration reloaded (log level %s)",
				         log_level_name(log_get_level()));
			continue;
		}
		log_info("main", "signal %d: draining", sig);
		break;
	}
	sd_notify_msg("STOPPING=1");
	stop(&d);
	log_info("main", "stopped");
	pconf_fini(&d.cf);
	return 0;
}
