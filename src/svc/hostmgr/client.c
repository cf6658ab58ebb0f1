/*
 * The host manager over gRPC (hostmgr_client, hostmgr_seam.h).
 *
 * The job manager's side. Launches are LaunchTasks (hostname, agent, the
 * tasks as LaunchableTasks: Mesos task id, config, ports by name); the host
 * manager spends the lease it holds on the host and builds the TaskInfos.
 * Placements carrying offer ids cannot be launched this way (LaunchTasks
 * names no offers): such a launch fails, logged — the daemon runs its
 * placement engine through leases whenever the launcher is apart, so none
 * arrive. Kills are queued and sent by a thread of their own, up to 1,000
 * task ids per KillTasks (the job manager kills with a job mutex held; it
 * resends every kill until Mesos reports the end, so one lost while the
 * host manager is down is sent again). Status updates come from the host
 * manager's event stream (InitStream / WaitForEvents as client "jobmgr"):
 * each goes to the consumer with a done callback, and the purge offset
 * sent back moves past an update only once the consumer reported it
 * handled (durable): the host manager acknowledges it to Mesos then. An
 * update that could not be persisted is given again a second later. A host
 * manager that restarted (a new stream id) is followed with a new
 * InitStream; the updates it had not acknowledged Mesos sends again. Not
 * over this interface: sandbox browsing and explicit reconciliation of one
 * task (ack, browse, reconcile are NULL; the host manager reconciles the
 * launches it made itself).
 *
 * The placement engines' side: AcquireHostOffers leases hosts in the host
 * manager and answers HostOffers (hostname, agent, free resources,
 * attributes; no offer ids). Each calling thread keeps a private host
 * index that mirrors just the hosts it holds, so the engine's decision
 * code runs unchanged over leases of it. A host the engine does not use is
 * released (in the host manager and the mirror); the hosts it uses are
 * named in the engine's SetPlacements, where the host manager's process
 * spends their offers all or nothing (resmgr_role: spend_leases).
 *
 * The resource manager's side: ClusterCapacity (0s while unreachable).
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include "hostmgr_seam.h"
#include "hostsvc.h"
#include "launchable.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "grpccli.h"
#include "log.h"
#include "peloton/private/eventstream/eventstream.pb-c.h"
#include "peloton/private/hostmgr/hostsvc/hostsvc.pb-c.h"
#include "proto_codec.h"

#define HS_SVC "/peloton.private.hostmgr.hostsvc.InternalHostService/"
#define ES_SVC "/peloton.private.eventstream.EventStreamService/"
#define CALL_MS 5000
#define KILL_BATCH 1000
#define KILL_MAX (1u << 20)    /* queued; newer ones dropped (the job manager resends) */
#define WINDOW 8192            /* updates given to the job manager, not yet durable */
#define POLL_MS 200            /* WaitForEvents long poll */
#define RETRY_NS 1000000000ull /* an update not persisted is given again after this */

typedef Peloton__Private__Eventstream__WaitForEventsResponse wait_resp;

enum slot_state { SLOT_FREE, SLOT_INFLIGHT, SLOT_DONE, SLOT_RETRY };

struct slot {
	Mesos__V1__TaskStatus *st; /* clone, kept until handled */
	uint8_t state;
	uint64_t retry_ns;
};

/* One update in the job manager's hands: reported back through done(). */
struct update_ctx {
	struct hostmgr_client *h;
	uint64_t gen, offset;
};

/* One placement worker's connection and mirror index. */
struct pl_thread {
	struct pl_thread *next;
	struct hostmgr_client *owner;
	struct grpccli *cli;
	_Atomic bool down;
	struct hostidx *mirror;
	struct hostsvc *msvc; /* ingests HostOffers into the mirror */
};

struct hostmgr_client {
	char *target, *module;
	/* calls on one connection take turns: the launcher, the kill sender,
	 * the consumer and the capacity reader have one each */
	struct grpccli *launch_cli, *kill_cli, *events_cli, *cap_cli;
	hostmgr_update_f upd_fn;
	void *upd_arg;
	_Atomic uint64_t calls, failed, launched, kills_sent, updates, retried;
	_Atomic uint64_t hosts_acquired, hosts_released, seq;
	_Atomic bool launch_down, kill_down, events_down, cap_down;
	pthread_mutex_t tmu; /* threads */
	struct pl_thread *threads;

	pthread_mutex_t mu; /* kills queue, the window, stop */
	pthread_cond_t cv;
	bool stop, ev_stop;
	bool ev_reading;   /* the event consumer runs */
	uint64_t ev_ok_ns; /* its last good read (monotonic), mu held */
	char **kills;
	size_t n_kills, cap_kills;
	uint64_t kills_dropped;
	pthread_t kill_th, ev_th;
	bool kill_started, ev_started;

	/* the consumer's window: offsets [base, next) handed out, base the
	 * purge offset; gen changes with every InitStream */
	struct slot *win;
	uint64_t base, next, gen;
	size_t n_retry; /* slots in SLOT_RETRY: the window is scanned only then */
};

/* One unary call: the decoded response (PB_FREE) or NULL, logged once per outage. */
static void *call(struct hostmgr_client *h, struct grpccli *c, _Atomic bool *down, const char *path,
                  const ProtobufCMessage *req, const ProtobufCMessageDescriptor *rd,
                  unsigned timeout_ms)
{
	const struct grpccli_watch w = {h->module, "the host manager", &h->calls, &h->failed};
	return grpccli_call_watched(c, down, &w, path, req, rd, timeout_ms);
}

/* --- launch ---------------------------------------------------------------- */

typedef Peloton__Private__Hostmgr__Hostsvc__LaunchableTask launchable_pb;
typedef Peloton__Private__Hostmgr__Hostsvc__LaunchableTask__PortsEntry port_pb;
typedef Peloton__Private__Hostmgr__Hostsvc__OfferOperation op_pb;

/* Storage for one task's volume and, on its first launch, its RESERVE and CREATE. */
struct vol_pb {
	Peloton__Private__Hostmgr__Hostsvc__Volume v;
	Peloton__Api__Peloton__VolumeID id;
	Mesos__V1__Resource disk, res[4], *resp[4];
	Mesos__V1__Value__Scalar disk_sc, sc[4];
	Mesos__V1__Labels labels;
	Mesos__V1__Label lab[2], *labp[2];
	char job[64], inst[16];
	op_pb reserve, create;
	Peloton__Private__Hostmgr__Hostsvc__OfferOperation__Reserve r;
	Peloton__Private__Hostmgr__Hostsvc__OfferOperation__Create c;
};

/* lt's volume into t (LaunchTasks and OfferOperations carry it); on a first
 * launch also its RESERVE (the config's cpus, mem, disk and the volume's
 * size, labels job_id and instance_id) and CREATE. */
static void volume_pb(const struct launchable *lt, launchable_pb *t, struct vol_pb *x)
{
	const struct launchable_volume *lv = lt->volume;
	peloton__private__hostmgr__hostsvc__volume__init(&x->v);
	peloton__api__peloton__volume_id__init(&x->id);
	x->id.value = (char *)lv->id;
	x->v.id = &x->id;
	x->v.containerpath = (char *)lv->container_path;
	x->v.resource = launchable_scalar(&x->disk, &x->disk_sc, "disk", lv->size_mb);
	t->volume = &x->v;
	if (!lv->create ||
	    launchable_split_id(lt->task_id, x->job, sizeof(x->job), x->inst, sizeof(x->inst)) != 0)
		return;
	const Peloton__Api__Task__ResourceConfig *rc = lt->config->resource;
	size_t n = 0;
	if (rc && rc->cpulimit > 0)
		x->resp[n] = launchable_scalar(&x->res[n], &x->sc[n], "cpus", rc->cpulimit), n++;
	if (rc && rc->memlimitmb > 0)
		x->resp[n] = launchable_scalar(&x->res[n], &x->sc[n], "mem", rc->memlimitmb), n++;
	x->resp[n] = launchable_scalar(&x->res[n], &x->sc[n], "disk",
	                               (rc ? rc->disklimitmb : 0) + lv->size_mb);
	n++;
	launchable_labels(&x->labels, x->lab, x->labp, x->job, x->inst);
	peloton__private__hostmgr__hostsvc__offer_operation__init(&x->reserve);
	peloton__private__hostmgr__hostsvc__offer_operation__reserve__init(&x->r);
	x->r.n_resources = n;
	x->r.resources = x->resp;
	x->reserve.type = PELOTON__PRIVATE__HOSTMGR__HOSTSVC__OFFER_OPERATION__TYPE__RESERVE;
	x->reserve.reservationlabels = &x->labels;
	x->reserve.reserve = &x->r;
	peloton__private__hostmgr__hostsvc__offer_operation__init(&x->create);
	peloton__private__hostmgr__hostsvc__offer_operation__create__init(&x->c);
	x->c.volume = &x->v;
	x->create.type = PELOTON__PRIVATE__HOSTMGR__HOSTSVC__OFFER_OPERATION__TYPE__CREATE;
	x->create.reservationlabels = &x->labels;
	x->create.create = &x->c;
}

static const char *ops_error(const Peloton__Private__Hostmgr__Hostsvc__OfferOperationsResponse *r)
{
	const Peloton__Private__Hostmgr__Hostsvc__OfferOperationsResponse__Error *e = r->error;
	return e->invalidoffers     ? e->invalidoffers->message
	       : e->invalidargument ? e->invalidargument->message
	       : e->failure         ? e->failure->message
	                            : "(no reason)";
}

/* OfferOperations on host: 0, or -1 (logged). */
static int offer_ops(struct hostmgr_client *h, const char *host, op_pb **ops, size_t n)
{
	Peloton__Private__Hostmgr__Hostsvc__OfferOperationsRequest req =
	    PELOTON__PRIVATE__HOSTMGR__HOSTSVC__OFFER_OPERATIONS_REQUEST__INIT;
	req.hostname = (char *)host;
	req.operations = ops;
	req.n_operations = n;
	Peloton__Private__Hostmgr__Hostsvc__OfferOperationsResponse *r = call(
	    h, h->launch_cli, &h->launch_down, HS_SVC "OfferOperations", &req.base,
	    &peloton__private__hostmgr__hostsvc__offer_operations_response__descriptor, CALL_MS);
	int rc = r && !r->error ? 0 : -1;
	if (r && r->error)
		log_warn(h->module, "OfferOperations on %s refused: %s", host, ops_error(r));
	PB_FREE(r);
	return rc;
}

/* A first launch of stateful tasks: RESERVE and CREATE for each new
 * volume, then LAUNCH of every task, in one OfferOperations. */
static int launch_with_volumes(struct hostmgr_client *h, const char *host, launchable_pb **tp,
                               size_t n, struct vol_pb *vp, const struct launchable *lts)
{
	op_pb **ops = calloc(2 * n + 1, sizeof(*ops)), launch;
	Peloton__Private__Hostmgr__Hostsvc__OfferOperation__Launch l =
	    PELOTON__PRIVATE__HOSTMGR__HOSTSVC__OFFER_OPERATION__LAUNCH__INIT;
	size_t no = 0;
	if (ops == NULL)
		return -1;
	for (size_t k = 0; k < n; k++)
		if (lts[k].volume && lts[k].volume->create && vp[k].reserve.reserve) {
			ops[no++] = &vp[k].reserve;
			ops[no++] = &vp[k].create;
		}
	peloton__private__hostmgr__hostsvc__offer_operation__init(&launch);
	l.n_tasks = n;
	l.tasks = tp;
	launch.type = PELOTON__PRIVATE__HOSTMGR__HOSTSVC__OFFER_OPERATION__TYPE__LAUNCH;
	launch.launch = &l;
	ops[no++] = &launch;
	int rc = offer_ops(h, host, ops, no);
	free(ops);
	return rc;
}

static int r_launch(void *arg, const char *host, const char *agent, const char *const *offers,
                    size_t n_offers, const struct launchable *lts, size_t n)
{
	(void)offers;
	struct hostmgr_client *h = arg;
	if (n_offers) {
		log_error(h->module,
		          "launch on %s: the placement spent its offers already and LaunchTasks "
		          "names none; its tasks wait for reconciliation",
		          host);
		return -1;
	}
	size_t np = 0;
	for (size_t k = 0; k < n; k++)
		np += lts[k].n_ports;
	launchable_pb *tv = calloc(n ? n : 1, sizeof(*tv)), **tp = calloc(n ? n : 1, sizeof(*tp));
	Mesos__V1__TaskID *idv = calloc(n ? n : 1, sizeof(*idv));
	port_pb *pv = calloc(np ? np : 1, sizeof(*pv)), **pp = calloc(np ? np : 1, sizeof(*pp));
	struct vol_pb *vp = calloc(n ? n : 1, sizeof(*vp));
	bool creating = false;
	int rc = -1;
	if (!tv || !tp || !idv || !pv || !pp || !vp) {
		log_error(h->module, "out of memory launching on %s", host);
		goto out;
	}
	size_t used = 0;
	for (size_t k = 0; k < n; k++) {
		peloton__private__hostmgr__hostsvc__launchable_task__init(&tv[k]);
		mesos__v1__task_id__init(&idv[k]);
		idv[k].value = (char *)lts[k].task_id;
		tv[k].taskid = &idv[k];
		tv[k].config = (Peloton__Api__Task__TaskConfig *)lts[k].config;
		tv[k].ports = &pp[used];
		/* ports by the config's names (how LaunchableTask carries them) */
		for (size_t i = 0; i < lts[k].n_ports; i++) {
			const Peloton__Api__Task__PortConfig *pc = lts[k].config->ports[i];
			if (!pc->name || !pc->name[0])
				continue;
			peloton__private__hostmgr__hostsvc__launchable_task__ports_entry__init(
			    &pv[used]);
			pv[used].key = pc->name;
			pv[used].value = lts[k].ports[i];
			pp[used] = &pv[used];
			used++;
			tv[k].n_ports++;
		}
		if (lts[k].volume) {
			volume_pb(&lts[k], &tv[k], &vp[k]);
			creating = creating || lts[k].volume->create;
		}
		tp[k] = &tv[k];
	}
	if (creating) {
		if ((rc = launch_with_volumes(h, host, tp, n, vp, lts)) == 0)
			atomic_fetch_add(&h->launched, n);
		goto out;
	}
	Peloton__Private__Hostmgr__Hostsvc__LaunchTasksRequest req =
	    PELOTON__PRIVATE__HOSTMGR__HOSTSVC__LAUNCH_TASKS_REQUEST__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
	aid.value = (char *)agent;
	req.hostname = (char *)host;
	req.agentid = &aid;
	req.tasks = tp;
	req.n_tasks = n;
	Peloton__Private__Hostmgr__Hostsvc__LaunchTasksResponse *r =
	    call(h, h->launch_cli, &h->launch_down, HS_SVC "LaunchTasks", &req.base,
	         &peloton__private__hostmgr__hostsvc__launch_tasks_response__descriptor, CALL_MS);
	if (r && !r->error) {
		rc = 0;
		atomic_fetch_add(&h->launched, n);
	} else if (r) {
		const Peloton__Private__Hostmgr__Hostsvc__LaunchTasksResponse__Error *e = r->error;
		log_warn(h->module, "LaunchTasks on %s refused: %s", host,
		         e->invalidoffers     ? e->invalidoffers->message
		         : e->invalidargument ? e->invalidargument->message
		         : e->launchfailure   ? e->launchfailure->message
		                              : "(no reason)");
	}
	PB_FREE(r);
out:
	free(tv);
	free(tp);
	free(idv);
	free(pv);
	free(pp);
	free(vp);
	return rc;
}

/* The volume's DESTROY and its reservation's UNRESERVE in one OfferOperations. */
static int r_destroy_volume(void *arg, const char *host, const char *volume_id, const char *job,
                            uint32_t instance)
{
	struct launchable_teardown x;
	launchable_teardown(&x, volume_id, job, instance);
	return offer_ops(arg, host, x.ops, 2);
}

/* --- kill ------------------------------------------------------------------ */

static int r_kill(void *arg, const char *task, const char *agent)
{
	(void)agent; /* KillTasks names tasks only */
	struct hostmgr_client *h = arg;
	char *id = strdup(task);
	int rc = -1;
	pthread_mutex_lock(&h->mu);
	if (id && h->n_kills == h->cap_kills && h->cap_kills < KILL_MAX) {
		size_t nc = h->cap_kills ? h->cap_kills * 2 : 256;
		char **nk = realloc(h->kills, nc * sizeof(*nk));
		if (nk) {
			h->kills = nk;
			h->cap_kills = nc;
		}
	}
	if (id && h->n_kills < h->cap_kills) {
		h->kills[h->n_kills++] = id;
		id = NULL;
		rc = 0;
		pthread_cond_broadcast(&h->cv);
	} else if (h->kills_dropped++ == 0) {
		log_warn(h->module, "kill queue for the host manager full: kills dropped (resent "
		                    "every 10 s)");
	}
	pthread_mutex_unlock(&h->mu);
	free(id);
	return rc;
}

static void send_kills(struct hostmgr_client *h, char **ids, size_t n)
{
	Mesos__V1__TaskID *tv = calloc(n, sizeof(*tv));
	Mesos__V1__TaskID **tp = calloc(n, sizeof(*tp));
	if (tv && tp) {
		for (size_t i = 0; i < n; i++) {
			mesos__v1__task_id__init(&tv[i]);
			tv[i].value = ids[i];
			tp[i] = &tv[i];
		}
		Peloton__Private__Hostmgr__Hostsvc__KillTasksRequest req =
		    PELOTON__PRIVATE__HOSTMGR__HOSTSVC__KILL_TASKS_REQUEST__INIT;
		req.taskids = tp;
		req.n_taskids = n;
		Peloton__Private__Hostmgr__Hostsvc__KillTasksResponse *r = call(
		    h, h->kill_cli, &h->kill_down, HS_SVC "KillTasks", &req.base,
		    &peloton__private__hostmgr__hostsvc__kill_tasks_response__descriptor, CALL_MS);
		if (r && !r->error)
			atomic_fetch_add(&h->kills_sent, n);
		else if (r)
			log_warn(h->module, "KillTasks of %zu task(s) refused: %s", n,
			         r->error->killfailure      ? r->error->killfailure->message
			         : r->error->invalidtaskids ? r->error->invalidtaskids->message
			                                    : "(no reason)");
		PB_FREE(r);
	}
	free(tv);
	free(tp);
}

static void *kill_main(void *arg)
{
	struct hostmgr_client *h = arg;
	char **batch = malloc(KILL_BATCH * sizeof(*batch));
	pthread_mutex_lock(&h->mu);
	while (batch) {
		while (!h->stop && h->n_kills == 0)
			pthread_cond_wait(&h->cv, &h->mu);
		if (h->n_kills == 0)
			break; /* stopping with nothing queued */
		size_t n = h->n_kills < KILL_BATCH ? h->n_kills : KILL_BATCH;
		memcpy(batch, h->kills, n * sizeof(*batch));
		memmove(h->kills, h->kills + n, (h->n_kills - n) * sizeof(*batch));
		h->n_kills -= n;
		bool stopping = h->stop;
		pthread_mutex_unlock(&h->mu);
		if (!stopping)
			send_kills(h, batch, n);
		for (size_t i = 0; i < n; i++)
			free(batch[i]);
		pthread_mutex_lock(&h->mu);
	}
	pthread_mutex_unlock(&h->mu);
	free(batch);
	return NULL;
}

/* --- status updates: the event stream -------------------------------------- */

/* The job manager's verdict on one update (any thread). */
static void update_done(void *arg, bool handled)
{
	struct update_ctx *c = arg;
	struct hostmgr_client *h = c->h;
	pthread_mutex_lock(&h->mu);
	if (c->gen == h->gen && c->offset >= h->base && c->offset < h->next) {
		struct slot *s = &h->win[c->offset % WINDOW];
		s->state = handled ? SLOT_DONE : SLOT_RETRY;
		h->n_retry += !handled;
		s->retry_ns = clock_mono_ns() + RETRY_NS;
		pthread_cond_broadcast(&h->cv);
	}
	pthread_mutex_unlock(&h->mu);
	free(c);
}

/* Hands one update (the window's clone at offset) to the job manager. mu not held. */
static void give(struct hostmgr_client *h, const Mesos__V1__TaskStatus *st, uint64_t gen,
                 uint64_t off)
{
	struct update_ctx *c = malloc(sizeof(*c));
	if (!c) {
		pthread_mutex_lock(&h->mu);
		if (gen == h->gen && off >= h->base && off < h->next) {
			h->win[off % WINDOW].state = SLOT_RETRY;
			h->n_retry++;
			h->win[off % WINDOW].retry_ns = clock_mono_ns() + RETRY_NS;
		}
		pthread_mutex_unlock(&h->mu);
		return;
	}
	*c = (struct update_ctx){h, gen, off};
	atomic_fetch_add(&h->updates, 1);
	h->upd_fn(h->upd_arg, st, update_done, c);
}

/* Moves base past handled updates; gives due retries again. mu held on entry and exit. */
static void advance__(struct hostmgr_client *h)
{
	while (h->base < h->next && h->win[h->base % WINDOW].state == SLOT_DONE) {
		struct slot *s = &h->win[h->base % WINDOW];
		PB_FREE(s->st);
		*s = (struct slot){0};
		h->base++;
	}
	uint64_t now = clock_mono_ns();
	for (uint64_t o = h->base; h->n_retry && o < h->next; o++) {
		struct slot *s = &h->win[o % WINDOW];
		if (s->state != SLOT_RETRY || s->retry_ns > now)
			continue;
		s->state = SLOT_INFLIGHT;
		h->n_retry--;
		atomic_fetch_add(&h->retried, 1);
		uint64_t gen = h->gen;
		pthread_mutex_unlock(&h->mu);
		give(h, s->st, gen, o); /* the slot stays until it is handled */
		pthread_mutex_lock(&h->mu);
	}
}

/* Forgets the window (a new stream): slots of the old one are freed. mu held. */
static void reset__(struct hostmgr_client *h, uint64_t from)
{
	for (uint64_t o = h->base; o < h->next; o++) {
		PB_FREE(h->win[o % WINDOW].st);
		h->win[o % WINDOW] = (struct slot){0};
	}
	h->gen++;
	h->n_retry = 0;
	h->base = h->next = from;
}

/* InitStream; the offset to read from, or -1 (logged). */
static int64_t init_stream(struct hostmgr_client *h, char *id, size_t idlen)
{
	Peloton__Private__Eventstream__InitStreamRequest req =
	    PELOTON__PRIVATE__EVENTSTREAM__INIT_STREAM_REQUEST__INIT;
	req.clientname = "jobmgr";
	Peloton__Private__Eventstream__InitStreamResponse *r =
	    call(h, h->events_cli, &h->events_down, ES_SVC "InitStream", &req.base,
	         &peloton__private__eventstream__init_stream_response__descriptor, CALL_MS);
	if (r == NULL)
		return -1;
	if (r->error || !r->streamid) {
		log_error(h->module, "InitStream refused by the host manager (client \"jobmgr\")");
		PB_FREE(r);
		return -1;
	}
	snprintf(id, idlen, "%s", r->streamid);
	uint64_t from =
	    r->previouspurgeoffset > r->minoffset ? r->previouspurgeoffset : r->minoffset;
	log_info(h->module, "reading the host manager's event stream %s from offset %llu", id,
	         (unsigned long long)from);
	PB_FREE(r);
	return (int64_t)from;
}

/* Waits up to ms on the cv (mu held) unless stopping. */
static void nap__(struct hostmgr_client *h, unsigned ms)
{
	if (!h->stop && !h->ev_stop)
		clock_cond_wait(&h->cv, &h->mu, clock_mono_ns() + (uint64_t)ms * 1000000ull);
}

static void *events_main(void *arg)
{
	struct hostmgr_client *h = arg;
	char sid[128] = "";
	pthread_mutex_lock(&h->mu);
	h->ev_reading = true;
	h->ev_ok_ns = clock_mono_ns();
	while (!h->stop && !h->ev_stop) {
		if (!sid[0]) {
			pthread_mutex_unlock(&h->mu);
			int64_t from = init_stream(h, sid, sizeof(sid));
			pthread_mutex_lock(&h->mu);
			if (from < 0) {
				sid[0] = 0;
				nap__(h, 1000);
				continue;
			}
			reset__(h, (uint64_t)from);
		}
		advance__(h);
		size_t room = WINDOW - (size_t)(h->next - h->base);
		if (room == 0) {
			nap__(h, 100); /* the job manager has a full window to persist */
			continue;
		}
		Peloton__Private__Eventstream__WaitForEventsRequest w =
		    PELOTON__PRIVATE__EVENTSTREAM__WAIT_FOR_EVENTS_REQUEST__INIT;
		w.streamid = sid;
		w.clientname = "jobmgr";
		w.beginoffset = h->next;
		w.purgeoffset = h->base;
		w.limit = (int32_t)(room < 1000 ? room : 1000);
		w.timeoutms = POLL_MS;
		uint64_t gen = h->gen;
		pthread_mutex_unlock(&h->mu);
		wait_resp *r =
		    call(h, h->events_cli, &h->events_down, ES_SVC "WaitForEvents", &w.base,
		         &peloton__private__eventstream__wait_for_events_response__descriptor,
		         POLL_MS + CALL_MS);
		if (r && !r->error) {
			pthread_mutex_lock(&h->mu);
			h->ev_ok_ns = clock_mono_ns();
			pthread_mutex_unlock(&h->mu);
		}
		if (r && r->error) {
			log_warn(h->module, "event stream %s: %s; opening it again", sid,
			         r->error->invalidstreamid ? "the host manager restarted"
			                                   : "refused our offsets");
			sid[0] = 0;
		}
		for (size_t i = 0; r && !r->error && i < r->n_events; i++) {
			const Peloton__Private__Eventstream__Event *e = r->events[i];
			Mesos__V1__TaskStatus *st =
			    e->mesostaskstatus ? (void *)proto_clone(&e->mesostaskstatus->base)
			                       : NULL;
			if (e->mesostaskstatus && !st)
				break; /* out of memory: read again from here next time */
			pthread_mutex_lock(&h->mu);
			if (gen != h->gen || e->offset < h->next) {
				pthread_mutex_unlock(&h->mu);
				PB_FREE(st);
				continue;
			}
			/* offsets below the stream's minimum were trimmed: handled */
			for (; h->next < e->offset; h->next++)
				h->win[h->next % WINDOW].state = SLOT_DONE;
			struct slot *s = &h->win[h->next++ % WINDOW];
			s->st = st;
			s->state = st ? SLOT_INFLIGHT : SLOT_DONE;
			s->retry_ns = 0;
			pthread_mutex_unlock(&h->mu);
			if (st)
				give(h, st, gen, e->offset);
		}
		PB_FREE(r);
		pthread_mutex_lock(&h->mu);
		if (r == NULL)
			nap__(h, 1000); /* unreachable: logged once by call() */
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

/* Reads failing this long make the consumer unhealthy. */
#define EV_STALE_NS (3ull * (POLL_MS + CALL_MS) * 1000000ull)

bool hostmgr_client_health(struct hostmgr_client *h, char *why, size_t len)
{
	pthread_mutex_lock(&h->mu);
	uint64_t ok_ns = h->ev_ok_ns;
	bool reading = h->ev_reading;
	pthread_mutex_unlock(&h->mu);
	uint64_t now = clock_mono_ns();
	if (!reading || now - ok_ns < EV_STALE_NS)
		return true;
	snprintf(why, len, "the host manager's status-update stream at %s unread for %.0f s",
	         h->target, (double)(now - ok_ns) / 1e9);
	return false;
}

/* --- the placement engines' calls ------------------------------------------ */

typedef Peloton__Private__Hostmgr__Hostsvc__HostOffer host_offer_pb;

static __thread struct pl_thread *tls;

/* The calling thread's connection and mirror (made on its first call); NULL on ENOMEM. */
static struct pl_thread *thr(struct hostmgr_client *h)
{
	if (tls != NULL && tls->owner == h)
		return tls;
	struct pl_thread *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->owner = h;
	struct hostidx_config hc = {0};
	t->cli = grpccli_create(h->target);
	t->mirror = hostidx_create(&hc);
	t->msvc = t->mirror ? hostsvc_create(t->mirror, HOSTIDX_PACK) : NULL;
	pthread_mutex_lock(&h->tmu);
	t->next = h->threads; /* freed with h, even half made */
	h->threads = t;
	pthread_mutex_unlock(&h->tmu);
	if (!t->cli || !t->msvc)
		return NULL;
	tls = t;
	return t;
}

static void *pl_call(struct pl_thread *t, const char *path, const ProtobufCMessage *req,
                     const ProtobufCMessageDescriptor *rd, unsigned timeout_ms)
{
	return call(t->owner, t->cli, &t->down, path, req, rd, timeout_ms);
}

/* Gives hosts back to the host manager. */
static void release_remote(struct pl_thread *t, const char *const *hosts, const char *const *agents,
                           size_t n)
{
	if (n == 0)
		return;
	host_offer_pb *hos = calloc(n, sizeof(*hos));
	host_offer_pb **hp = calloc(n, sizeof(*hp));
	Mesos__V1__AgentID *ag = calloc(n, sizeof(*ag));
	if (hos && hp && ag) {
		for (size_t i = 0; i < n; i++) {
			peloton__private__hostmgr__hostsvc__host_offer__init(&hos[i]);
			mesos__v1__agent_id__init(&ag[i]);
			ag[i].value = (char *)agents[i];
			hos[i].hostname = (char *)hosts[i];
			hos[i].agentid = &ag[i];
			hp[i] = &hos[i];
		}
		Peloton__Private__Hostmgr__Hostsvc__ReleaseHostOffersRequest req =
		    PELOTON__PRIVATE__HOSTMGR__HOSTSVC__RELEASE_HOST_OFFERS_REQUEST__INIT;
		req.hostoffers = hp;
		req.n_hostoffers = n;
		ProtobufCMessage *resp = pl_call(
		    t, HS_SVC "ReleaseHostOffers", &req.base,
		    &peloton__private__hostmgr__hostsvc__release_host_offers_response__descriptor,
		    CALL_MS);
		if (resp != NULL)
			PB_FREE(resp);
		atomic_fetch_add(&t->owner->hosts_released, n);
	}
	/* unreleased (ENOMEM, call failed): the host manager's lease expires */
	free(hos);
	free(hp);
	free(ag);
}

/* The HostOffers as mirror offers (ids of our own), added to the mirror. */
static int mirror_add(struct pl_thread *t, host_offer_pb *const *hos, size_t n, uint64_t now_ns)
{
	Mesos__V1__Offer *offers = calloc(n ? n : 1, sizeof(*offers));
	Mesos__V1__Offer **op = calloc(n ? n : 1, sizeof(*op));
	Mesos__V1__OfferID *ids = calloc(n ? n : 1, sizeof(*ids));
	char(*idtxt)[32] = calloc(n ? n : 1, sizeof(*idtxt));
	Mesos__V1__FrameworkID fw = MESOS__V1__FRAMEWORK_ID__INIT;
	char err[256];
	int rc = -1;

	fw.value = "placement-mirror";
	if (offers && op && ids && idtxt) {
		for (size_t i = 0; i < n; i++) {
			mesos__v1__offer__init(&offers[i]);
			mesos__v1__offer_id__init(&ids[i]);
			snprintf(idtxt[i], sizeof(idtxt[i]), "m%llu",
			         (unsigned long long)atomic_fetch_add(&t->owner->seq, 1));
			ids[i].value = idtxt[i];
			offers[i].id = &ids[i];
			offers[i].framework_id = &fw;
			offers[i].agent_id = hos[i]->agentid;
			offers[i].hostname = hos[i]->hostname;
			offers[i].resources = hos[i]->resources;
			offers[i].n_resources = hos[i]->n_resources;
			offers[i].attributes = hos[i]->attributes;
			offers[i].n_attributes = hos[i]->n_attributes;
			op[i] = &offers[i];
		}
		rc = hostsvc_ingest_offers(t->msvc, op, n, now_ns, err, sizeof(err));
		if (rc != 0)
			log_error(t->owner->module, "host offers from the host manager refused: %s",
			          err);
	}
	free(offers);
	free(op);
	free(ids);
	free(idtxt);
	return rc;
}

static int r_acquire(void *arg, const struct hostmatch_filter *f, const void *filter_pb,
                     size_t pb_len, uint32_t max_hosts, enum hostidx_order order, uint64_t now_ns,
                     struct hostidx_acquire_out *out, const char **why)
{
	struct pl_thread *t = thr(arg);
	const char *dwhy = NULL;

	out->n = 0;
	memset(out->counts, 0, sizeof(out->counts));
	Peloton__Private__Hostmgr__Hostsvc__HostFilter *hf =
	    t ? (void *)proto_decode(&peloton__private__hostmgr__hostsvc__host_filter__descriptor,
	                             filter_pb, pb_len, NULL, &dwhy)
	      : NULL;
	if (hf == NULL) {
		*why = t ? "the task's filter does not re-encode" : "out of memory";
		return -1;
	}
	Peloton__Private__Hostmgr__Hostsvc__QuantityControl q =
	    PELOTON__PRIVATE__HOSTMGR__HOSTSVC__QUANTITY_CONTROL__INIT;
	q.maxhosts = max_hosts;
	hf->quantity = &q;
	Peloton__Private__Hostmgr__Hostsvc__AcquireHostOffersRequest req =
	    PELOTON__PRIVATE__HOSTMGR__HOSTSVC__ACQUIRE_HOST_OFFERS_REQUEST__INIT;
	req.filter = hf;
	Peloton__Private__Hostmgr__Hostsvc__AcquireHostOffersResponse *resp = (void *)pl_call(
	    t, HS_SVC "AcquireHostOffers", &req.base,
	    &peloton__private__hostmgr__hostsvc__acquire_host_offers_response__descriptor, CALL_MS);
	hf->quantity = NULL; /* ours, on the stack */
	PB_FREE(hf);
	if (resp == NULL) {
		*why = "the host manager cannot be reached";
		return -1;
	}
	if (resp->error != NULL) {
		*why = "the host manager refused the filter";
		PB_FREE(resp);
		return -1;
	}
	uint32_t counts[HOSTMATCH_N_RESULTS] = {0};
	for (size_t i = 0; i < resp->n_filterresultcounts; i++)
		for (int k = 0; k < HOSTMATCH_N_RESULTS; k++)
			if (resp->filterresultcounts[i]->key &&
			    strcmp(resp->filterresultcounts[i]->key, hostmatch_result_name(k)) == 0)
				counts[k] += resp->filterresultcounts[i]->value;
	size_t n = resp->n_hostoffers;
	atomic_fetch_add(&t->owner->hosts_acquired, n);
	const char **hosts = calloc(n ? n : 1, sizeof(char *));
	const char **agents = calloc(n ? n : 1, sizeof(char *));
	bool *leased = calloc(n ? n : 1, sizeof(bool));
	int rc = -1;
	if (hosts && agents && leased) {
		for (size_t i = 0; i < n; i++) {
			hosts[i] =
			    resp->hostoffers[i]->hostname ? resp->hostoffers[i]->hostname : "";
			agents[i] =
			    resp->hostoffers[i]->agentid && resp->hostoffers[i]->agentid->value
			        ? resp->hostoffers[i]->agentid->value
			        : "";
		}
		if (n == 0 || mirror_add(t, resp->hostoffers, n, now_ns) == 0)
			rc = n == 0
			         ? 0
			         : hostidx_acquire(t->mirror, f,
			                           (uint32_t)n < out->cap ? (uint32_t)n : out->cap,
			                           order, now_ns, out, why);
		if (rc != 0)
			out->n = 0;
		for (uint32_t k = 0; k < out->n; k++)
			for (size_t i = 0; i < n; i++)
				if (!leased[i] && strcmp(hostidx_lease_hostname(&out->leases[k]),
				                         hosts[i]) == 0) {
					leased[i] = true;
					break;
				}
		/* held remotely, not taken here: back they go, and out of the mirror */
		size_t nb = 0;
		for (size_t i = 0; i < n; i++) {
			if (leased[i])
				continue;
			hostidx_remove_host(t->mirror, hosts[i]);
			hosts[nb] = hosts[i];
			agents[nb++] = agents[i];
		}
		release_remote(t, hosts, agents, nb);
	}
	memcpy(out->counts, counts, sizeof(counts)); /* the cluster's picture, not the mirror's */
	free(hosts);
	free(agents);
	free(leased);
	PB_FREE(resp);
	return rc;
}

static void r_release(void *arg, struct hostidx_lease *lease)
{
	struct pl_thread *t = thr(arg);
	if (t == NULL)
		return;
	char *host = strdup(hostidx_lease_hostname(lease));
	char *agent = strdup(hostidx_lease_agent_id(lease));
	hostidx_release(t->mirror, lease);
	if (host && agent) {
		hostidx_remove_host(t->mirror, host);
		const char *h = host, *a = agent;
		release_remote(t, &h, &a, 1);
	}
	free(host);
	free(agent);
}

/* A refused placement: the host manager holds the host for nothing; back it goes. */
static void r_unspend(void *arg, const char *hostname, const char *agent_id,
                      const struct hostidx_offer_ids *ids)
{
	(void)ids; /* none apart: the host manager holds the host's offers */
	struct pl_thread *t = thr(arg);
	if (t != NULL)
		release_remote(t, &hostname, &agent_id, 1);
}

/*
 * The mirror's offers are spent; the host manager's real ones are spent by
 * SetPlacements (which names these hosts), so the ids given back are none.
 */
static int r_consume_all(void *arg, struct hostidx_lease *leases, size_t n,
                         struct hostidx_offer_ids *out)
{
	struct pl_thread *t = thr(arg);
	if (t == NULL)
		return -1;
	char **hosts = calloc(n ? n : 1, sizeof(char *));
	char **agents = calloc(n ? n : 1, sizeof(char *));
	for (size_t i = 0; hosts && agents && i < n; i++) {
		hosts[i] = strdup(hostidx_lease_hostname(&leases[i]));
		agents[i] = strdup(hostidx_lease_agent_id(&leases[i]));
	}
	int rc = hosts && agents ? hostidx_consume_all(t->mirror, leases, n, out) : -1;
	for (size_t i = 0; i < n; i++) {
		if (rc == 0)
			hostidx_offer_ids_fini(&out[i]);
		out[i] = (struct hostidx_offer_ids){0};
		if (hosts && hosts[i])
			hostidx_remove_host(t->mirror, hosts[i]);
	}
	if (rc != 0 && hosts && agents) /* the round is void: the hosts go back */
		release_remote(t, (const char *const *)hosts, (const char *const *)agents, n);
	for (size_t i = 0; hosts && agents && i < n; i++) {
		free(hosts[i]);
		free(agents[i]);
	}
	free(hosts);
	free(agents);
	return rc;
}

/* --- the resource manager's call ----------------------------------------------- */

static void r_capacity(void *arg, double out[RES_N])
{
	struct hostmgr_client *h = arg;
	Peloton__Private__Hostmgr__Hostsvc__ClusterCapacityRequest req =
	    PELOTON__PRIVATE__HOSTMGR__HOSTSVC__CLUSTER_CAPACITY_REQUEST__INIT;
	Peloton__Private__Hostmgr__Hostsvc__ClusterCapacityResponse *r = call(
	    h, h->cap_cli, &h->cap_down, HS_SVC "ClusterCapacity", &req.base,
	    &peloton__private__hostmgr__hostsvc__cluster_capacity_response__descriptor, CALL_MS);
	for (int k = 0; k < RES_N; k++)
		out[k] = 0; /* unreachable: capacity taken as 0 until it answers (logged) */
	for (size_t i = 0; r && i < r->n_physicalresources; i++) {
		enum respool_kind k;
		if (r->physicalresources[i]->kind &&
		    respool_kind_parse(r->physicalresources[i]->kind, &k))
			out[k] = r->physicalresources[i]->capacity;
	}
	PB_FREE(r);
}

/* --- lifecycle ------------------------------------------------------------- */

struct hostmgr_client *hostmgr_client_create(const char *target, const char *module)
{
	struct hostmgr_client *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return NULL;
	pthread_mutex_init(&h->mu, NULL);
	pthread_mutex_init(&h->tmu, NULL);
	clock_cond_init(&h->cv);
	h->target = strdup(target);
	h->module = strdup(module);
	h->launch_cli = grpccli_create(target);
	h->kill_cli = grpccli_create(target);
	h->events_cli = grpccli_create(target);
	h->cap_cli = grpccli_create(target);
	h->win = calloc(WINDOW, sizeof(*h->win));
	if (!h->target || !h->module || !h->launch_cli || !h->kill_cli || !h->events_cli ||
	    !h->cap_cli || !h->win || pthread_create(&h->kill_th, NULL, kill_main, h) != 0) {
		hostmgr_client_destroy(h);
		return NULL;
	}
	pthread_setname_np(h->kill_th, "hm-client-kill");
	h->kill_started = true;
	return h;
}

static int r_start_updates(void *arg, hostmgr_update_f fn, void *fn_arg)
{
	struct hostmgr_client *h = arg;
	if (h->ev_started)
		return -1;
	h->upd_fn = fn;
	h->upd_arg = fn_arg;
	h->ev_stop = false;
	if (pthread_create(&h->ev_th, NULL, events_main, h) != 0)
		return -1;
	pthread_setname_np(h->ev_th, "jm-events");
	h->ev_started = true;
	return 0;
}

static void r_stop_updates(void *arg)
{
	struct hostmgr_client *h = arg;
	if (!h->ev_started)
		return;
	pthread_mutex_lock(&h->mu);
	h->ev_stop = true;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
	pthread_join(h->ev_th, NULL);
	h->ev_started = false;
}

void hostmgr_client_destroy(struct hostmgr_client *h)
{
	if (h == NULL)
		return;
	r_stop_updates(h);
	pthread_mutex_lock(&h->mu);
	h->stop = true;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
	if (h->kill_started)
		pthread_join(h->kill_th, NULL);
	if (h->win) {
		pthread_mutex_lock(&h->mu);
		if (h->next > h->base)
			log_info(h->module,
			         "%llu status update(s) not yet reported handled: the host manager "
			         "keeps them for the next InitStream",
			         (unsigned long long)(h->next - h->base));
		reset__(h, 0);
		pthread_mutex_unlock(&h->mu);
	}
	for (size_t i = 0; i < h->n_kills; i++)
		free(h->kills[i]);
	for (struct pl_thread *t = h->threads, *next; t != NULL; t = next) {
		next = t->next;
		grpccli_destroy(t->cli);
		hostsvc_destroy(t->msvc);
		hostidx_destroy(t->mirror);
		free(t);
	}
	free(h->kills);
	free(h->win);
	grpccli_destroy(h->launch_cli);
	grpccli_destroy(h->kill_cli);
	grpccli_destroy(h->events_cli);
	grpccli_destroy(h->cap_cli);
	pthread_mutex_destroy(&h->mu);
	pthread_mutex_destroy(&h->tmu);
	pthread_cond_destroy(&h->cv);
	free(h->target);
	free(h->module);
	free(h);
}

struct hostmgr_ops hostmgr_client_ops(struct hostmgr_client *h)
{
	return (struct hostmgr_ops){.launch = r_launch,
	                            .destroy_volume = r_destroy_volume,
	                            .kill = r_kill,
	                            .start_updates = r_start_updates,
	                            .stop_updates = r_stop_updates,
	                            .index = {.acquire = r_acquire,
	                                      .release = r_release,
	                                      .consume_all = r_consume_all,
	                                      .unspend = r_unspend,
	                                      .capacity = r_capacity,
	                                      .arg = h},
	                            .arg = h};
}

void hostmgr_client_write_metrics(struct hostmgr_client *h, FILE *f)
{
	pthread_mutex_lock(&h->mu);
	unsigned long long purge = h->base;
	pthread_mutex_unlock(&h->mu);
	const char *m = h->module;
	fprintf(f,
	        "# HELP peloton_%s_hostmgr_calls_total gRPC calls to the host manager apart.\n"
	        "# TYPE peloton_%s_hostmgr_calls_total counter\n"
	        "peloton_%s_hostmgr_calls_total{result=\"sent\"} %llu\n"
	        "peloton_%s_hostmgr_calls_total{result=\"failed\"} %llu\n",
	        m, m, m, (unsigned long long)atomic_load(&h->calls), m,
	        (unsigned long long)atomic_load(&h->failed));
	if (atomic_load(&h->launched) || atomic_load(&h->kills_sent) || h->ev_started)
		fprintf(f,
		        "# HELP peloton_%s_hostmgr_tasks_total Tasks launched and kills sent "
		        "through the host manager apart.\n"
		        "# TYPE peloton_%s_hostmgr_tasks_total counter\n"
		        "peloton_%s_hostmgr_tasks_total{op=\"launched\"} %llu\n"
		        "peloton_%s_hostmgr_tasks_total{op=\"kill_sent\"} %llu\n"
		        "# HELP peloton_%s_stream_updates_total Status updates read from the host "
		        "manager's event stream (retried: not persisted the first time).\n"
		        "# TYPE peloton_%s_stream_updates_total counter\n"
		        "peloton_%s_stream_updates_total{result=\"read\"} %llu\n"
		        "peloton_%s_stream_updates_total{result=\"retried\"} %llu\n"
		        "# HELP peloton_%s_stream_purge_offset The event stream offset every "
		        "update below which is durable here.\n"
		        "# TYPE peloton_%s_stream_purge_offset gauge\n"
		        "peloton_%s_stream_purge_offset %llu\n",
		        m, m, m, (unsigned long long)atomic_load(&h->launched), m,
		        (unsigned long long)atomic_load(&h->kills_sent), m, m, m,
		        (unsigned long long)atomic_load(&h->updates), m,
		        (unsigned long long)atomic_load(&h->retried), m, m, m, purge);
	if (atomic_load(&h->hosts_acquired))
		fprintf(f,
		        "# HELP peloton_%s_hostmgr_hosts_total Hosts leased from and given back "
		        "to the host manager apart.\n"
		        "# TYPE peloton_%s_hostmgr_hosts_total counter\n"
		        "peloton_%s_hostmgr_hosts_total{op=\"acquired\"} %llu\n"
		        "peloton_%s_hostmgr_hosts_total{op=\"released\"} %llu\n",
		        m, m, m, (unsigned long long)atomic_load(&h->hosts_acquired), m,
		        (unsigned long long)atomic_load(&h->hosts_released));
}
