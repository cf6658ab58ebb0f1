/*
 * The host manager role: Mesos events into the index and the event stream,
 * launches, declines, lease expiry, reconciliation; see hostmgr.h.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "clock.h"
#include "hostmgr_int.h"
#include "httpcli.h"
#include "launchable.h"
#include "log.h"
#include "store.h"

/* ---- Mesos events (the client's I/O thread) ---- */

static void on_event(void *arg, const Mesos__V1__Scheduler__Event *ev)
{
	struct hostmgr *d = arg;
	char err[200];
	if ((unsigned)ev->type < 16)
		atomic_fetch_add_explicit(&d->events_by_type[ev->type], 1, memory_order_relaxed);
	switch (ev->type) {
	case MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS:
		if (!ev->offers)
			break;
		atomic_fetch_add(&d->offers_in, ev->offers->n_offers);
		agent_book_note(d->agents, ev->offers->offers, ev->offers->n_offers);
		for (size_t i = 0; i < ev->offers->n_offers; i++)
			reserved_note(d->reserved, ev->offers->offers[i]);
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
			const Mesos__V1__TaskStatus *ts = ev->update->status;
			atomic_fetch_add(&d->updates_in, 1);
			if (ts->has_reason &&
			    ts->reason == MESOS__V1__TASK_STATUS__REASON__REASON_INVALID_OFFERS)
				atomic_fetch_add(&d->refused_in_row, 1);
			else if (ts->state == MESOS__V1__TASK_STATE__TASK_STARTING ||
			         ts->state == MESOS__V1__TASK_STATE__TASK_RUNNING)
				atomic_store(&d->refused_in_row, 0);
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
static void reconcile_watched(struct hostmgr *d, bool all)
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
	struct hostmgr *d = arg;
	atomic_fetch_add(&d->subscribes, 1);
	/*
	 * A new stream: the master removed every offer of the old one (Mesos
	 * src/master/master.cpp: Master::deactivate on the disconnect,
	 * Master::_failoverFramework on the resubscribe), so launching on them
	 * would only be refused. Every offer and every lease goes; the new
	 * stream's offers follow this event.
	 */
	size_t dropped = hostidx_drop_all(d->idx);
	if (dropped > 0)
		log_info("hostmgr", "new subscription: %zu offers of the old stream dropped",
		         dropped);
	struct store_batch *b = store_batch_new(d->cfg.store);
	if (b && store_framework_id_put(b, fwid) == 0)
		store_submit(d->cfg.store, b, NULL, NULL);
	else
		store_batch_free(b);
	if (d->jm.live_tasks == NULL) {
		/* the launched tasks live in a job manager apart: Mesos reports
		 * every task it knows (through the event stream to it), and the
		 * launches it has said nothing about yet are asked for by name */
		log_info("hostmgr", "subscribed: implicit reconciliation");
		mesos_client_reconcile(d->mc, NULL, NULL, 0);
		reconcile_watched(d, true);
		return;
	}
	struct jobmgr_live live;
	d->jm.live_tasks(d->jm.arg, &live);
	if (live.n)
		mesos_client_reconcile(d->mc, (const char *const *)live.task_ids,
		                       (const char *const *)live.agent_ids, live.n);
	if (live.n)
		log_info("hostmgr", "reconciling %zu launched tasks with Mesos", live.n);
	jobmgr_live_fini(&live);
}

/*
 * One ACCEPT of `offers` with RESERVE (the resources of every task whose
 * volume is new), CREATE (those volumes) and LAUNCH (every task), in that
 * order, as Mesos applies them: a stateful task's first launch. Sent at
 * once, not batched with other launches. 0 or -1.
 */
static int accept_with_volumes(struct hostmgr *d, const char *const *offers, size_t n_offers,
                               const struct launchable *lts, struct taskinfo_buf *x,
                               Mesos__V1__TaskInfo **tis, size_t n)
{
	size_t nr = 0, nv = 0;
	for (size_t k = 0; k < n; k++)
		if (lts[k].volume && lts[k].volume->create) {
			nr += x[k].n_resv;
			nv++;
		}
	Mesos__V1__Resource **rr = calloc(nr ? nr : 1, sizeof(*rr));
	Mesos__V1__Resource **vv = calloc(nv ? nv : 1, sizeof(*vv));
	Mesos__V1__OfferID *oid = calloc(n_offers ? n_offers : 1, sizeof(*oid));
	Mesos__V1__OfferID **oidp = calloc(n_offers ? n_offers : 1, sizeof(*oidp));
	int rc = -1;
	if (!rr || !vv || !oid || !oidp)
		goto out;
	nr = nv = 0;
	for (size_t k = 0; k < n; k++)
		if (lts[k].volume && lts[k].volume->create) {
			for (size_t i = 0; i < x[k].n_resv; i++)
				rr[nr++] = x[k].resv[i];
			vv[nv++] = x[k].vol;
		}
	for (size_t i = 0; i < n_offers; i++) {
		mesos__v1__offer_id__init(&oid[i]);
		oid[i].value = (char *)offers[i];
		oidp[i] = &oid[i];
	}
	Mesos__V1__Offer__Operation op[3], *opp[3] = {&op[0], &op[1], &op[2]};
	Mesos__V1__Offer__Operation__Reserve res = MESOS__V1__OFFER__OPERATION__RESERVE__INIT;
	Mesos__V1__Offer__Operation__Create cre = MESOS__V1__OFFER__OPERATION__CREATE__INIT;
	Mesos__V1__Offer__Operation__Launch lau = MESOS__V1__OFFER__OPERATION__LAUNCH__INIT;
	for (int i = 0; i < 3; i++) {
		mesos__v1__offer__operation__init(&op[i]);
		op[i].has_type = true;
	}
	res.n_resources = nr;
	res.resources = rr;
	op[0].type = MESOS__V1__OFFER__OPERATION__TYPE__RESERVE;
	op[0].reserve = &res;
	cre.n_volumes = nv;
	cre.volumes = vv;
	op[1].type = MESOS__V1__OFFER__OPERATION__TYPE__CREATE;
	op[1].create = &cre;
	lau.n_task_infos = n;
	lau.task_infos = tis;
	op[2].type = MESOS__V1__OFFER__OPERATION__TYPE__LAUNCH;
	op[2].launch = &lau;
	Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
	Mesos__V1__Scheduler__Call__Accept acc = MESOS__V1__SCHEDULER__CALL__ACCEPT__INIT;
	Mesos__V1__Filters f = MESOS__V1__FILTERS__INIT;
	f.has_refuse_seconds = true; /* the rest of the agent at the next allocation */
	acc.n_offer_ids = n_offers;
	acc.offer_ids = oidp;
	acc.n_operations = 3;
	acc.operations = opp;
	acc.filters = &f;
	call.has_type = true;
	call.type = MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT;
	call.accept = &acc;
	rc = mesos_client_call(d->mc, &call);
	if (rc == 0)
		atomic_fetch_add(&d->volumes_created, nv);
out:
	free(rr);
	free(vv);
	free(oid);
	free(oidp);
	return rc;
}

enum hostmgr_launch_result hostmgr__launch(struct hostmgr *d, const char *host, const char *agent,
                                           const char *const *offers, size_t n_offers,
                                           const struct launchable *lts, size_t n, char *err,
                                           size_t elen)
{
	struct hostidx_offer_ids held = {0};
	struct taskinfo_buf *x = calloc(n ? n : 1, sizeof(*x));
	Mesos__V1__TaskInfo **tis = calloc(n ? n : 1, sizeof(*tis));
	enum hostmgr_launch_result rc = LAUNCH_FAILED;
	bool creating = false;
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
		launchable_reserve(&lts[k], d->role, d->principal, &x[k]);
		tis[k] = &x[k].ti;
		creating = creating || (lts[k].volume && lts[k].volume->create);
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
	if ((creating ? accept_with_volumes(d, offers, n_offers, lts, x, tis, n)
	              : mesos_client_launch(d->mc, agent, offers, n_offers, tis, n)) == 0) {
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

/* A job manager apart: an update every client purged past is acknowledged. */
static void ack_released(void *arg, const Mesos__V1__TaskStatus *st)
{
	struct hostmgr *d = arg;
	if (st->has_uuid)
		mesos_client_acknowledge(d->mc, st);
}

/*
 * The sandbox listing: GET /files/browse?path=/sandbox/<agent>/<task> on
 * the agent's own address (from the url of its offers). The sandbox path
 * is the simulator's layout; a real agent keeps sandboxes under its work
 * directory (found through its /state), which is not asked yet, so with a
 * real cluster the listing answers failure.
 */
int hostmgr__browse(void *arg, const char *agent, const char *task, char *host, size_t hlen,
                    char *port, size_t plen, char ***paths, size_t *n, char *err, size_t elen)
{
	struct hostmgr *d = arg;
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

/* ---- health ---- */

/* Launches refused in a row before /health says so. */
#define REFUSED_UNHEALTHY 50

bool hostmgr_health(struct hostmgr *hm, char *why, size_t len)
{
	char ended[200];
	if (hm->mc != NULL && mesos_client_ended(hm->mc, ended, sizeof(ended)))
		return snprintf(why, len, "Mesos framework ended: %s", ended), false;
	if (hm->mc == NULL || !mesos_client_wait_subscribed(hm->mc, 0))
		return snprintf(why, len, "not subscribed to the Mesos master (%s)", hm->master),
		       false;
	uint32_t refused = atomic_load(&hm->refused_in_row);
	if (refused >= REFUSED_UNHEALTHY)
		return snprintf(why, len,
		                "the Mesos master refused the last %u launches (invalid offers)",
		                refused),
		       false;
	if (hm->es_started && !atomic_load(&hm->es_healthy))
		return snprintf(why, len, "the job manager cannot read the status-update stream"),
		       false;
	return true;
}

/* ---- lifecycle ---- */

struct hostmgr *hostmgr_create(const struct hostmgr_config *cfg)
{
	static const char *const consumers[] = {"jobmgr"};
	struct hostmgr *hm = calloc(1, sizeof(*hm));
	if (hm == NULL)
		return NULL;
	hm->cfg = *cfg;
	uint32_t lease = cfg->lease_secs ? cfg->lease_secs : 60;
	struct hostidx_config hc = {.lease_ns = (uint64_t)lease * 1000000000ull};
	hm->cfg.lease_secs = lease;
	hm->master = strdup(cfg->master ? cfg->master : "127.0.0.1:5050");
	hm->role = strdup(cfg->role && cfg->role[0] ? cfg->role : "peloton");
	hm->principal = cfg->principal && cfg->principal[0] ? strdup(cfg->principal) : NULL;
	hm->secret = cfg->secret && cfg->secret[0] ? strdup(cfg->secret) : NULL;
	hm->idx = hostidx_create(&hc);
	hm->hsvc = hm->idx ? hostsvc_create(hm->idx, HOSTIDX_PACK) : NULL;
	hm->es = eventstream_create(65536, consumers, 1);
	hm->agents = agent_book_new();
	hm->reserved = reserved_new();
	if (!hm->master || !hm->role || !hm->hsvc || !hm->es || !hm->agents || !hm->reserved) {
		hostmgr_destroy(hm);
		return NULL;
	}
	hm->cfg.master = hm->master;
	return hm;
}

int hostmgr_start(struct hostmgr *hm, const struct jobmgr_ops *jm, char *err, size_t errlen)
{
	if (jm != NULL) {
		hm->jm = *jm;
		/* its consumer reads in process: nobody may read it over RPC */
		eventstream_client_local(hm->es, "jobmgr");
	} else {
		/* acknowledged once the job manager apart purged past it */
		eventstream_set_release(hm->es, ack_released, hm);
		hm->lw =
		    launchwatch_new((uint64_t)hm->cfg.reconcile_launch_secs * 1000000000ull, 0);
		if (hm->lw == NULL)
			return snprintf(err, errlen, "out of memory"), -1;
	}
	char fwid[256] = "";
	bool have_fw = store_framework_id_get(hm->cfg.store, fwid, sizeof(fwid)) == STORE_OK;
	struct mesos_client_config mc = {
	    .master = hm->master,
	    .name = "peloton",
	    .role = hm->role,
	    .principal = hm->principal,
	    .secret = hm->secret,
	    .framework_id = have_fw ? fwid : NULL,
	    .failover_timeout_s = hm->cfg.failover_timeout_secs,
	    .on_event = on_event,
	    .on_subscribed = on_subscribed,
	    .arg = hm,
	};
	hm->next_implicit_ns = clock_mono_ns() + (uint64_t)hm->cfg.reconcile_secs * 1000000000ull;
	if (!(hm->mc = mesos_client_start(&mc, err, errlen)))
		return -1;
	return 0;
}

void hostmgr_stop(struct hostmgr *hm)
{
	if (hm == NULL)
		return;
	mesos_client_stop(hm->mc);
	hm->mc = NULL;
}

void hostmgr_destroy(struct hostmgr *hm)
{
	if (hm == NULL)
		return;
	hostmgr_stop(hm);
	agent_book_free(hm->agents);
	reserved_free(hm->reserved);
	eventstream_destroy(hm->es);
	hostsvc_destroy(hm->hsvc);
	hostidx_destroy(hm->idx);
	launchwatch_free(hm->lw);
	free(hm->master);
	free(hm->role);
	free(hm->principal);
	if (hm->secret) /* not left in freed memory */
		explicit_bzero(hm->secret, strlen(hm->secret));
	free(hm->secret);
	free(hm);
}

struct hostidx *hostmgr_index(struct hostmgr *hm)
{
	return hm->idx;
}

/* ---- once a second ---- */

/* Offers unused for offer-hold-secs go back to Mesos (DECLINE), in calls of 100. */
struct declines {
	struct hostmgr *d;
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

static void decline_held(struct hostmgr *d)
{
	struct declines dc = {.d = d};
	uint64_t hold = (uint64_t)d->cfg.offer_hold_secs * 1000000000ull, now = clock_mono_ns();
	if (!d->cfg.offer_hold_secs || now < hold)
		return;
	size_t n = hostidx_expire_offers_cb(d->idx, now - hold, decline_one, &dc);
	decline_flush(&dc);
	if (n > 0)
		log_info("hostmgr", "declined %zu offers held over %u s", n,
		         d->cfg.offer_hold_secs);
}

void hostmgr_tick(struct hostmgr *hm)
{
	if (hm->mc == NULL)
		return;
	/* a lease held over RPC (AcquireHostOffers) by a placement engine that
	 * died or hung would otherwise keep the host out of every placement */
	size_t n = hostidx_expire_leases(hm->idx, clock_mono_ns());
	if (n > 0)
		log_warn("hostmgr",
		         "%zu host(s) held for placement over %u s without a launch or "
		         "release: free again",
		         n, hm->cfg.lease_secs);
	decline_held(hm);
	if (hm->lw)
		reconcile_watched(hm, false);
	/* periodic implicit reconciliation: Mesos reports every task it knows */
	if (hm->cfg.reconcile_secs && clock_mono_ns() >= hm->next_implicit_ns) {
		log_info("hostmgr", "implicit reconciliation");
		mesos_client_reconcile(hm->mc, NULL, NULL, 0);
		hm->next_implicit_ns =
		    clock_mono_ns() + (uint64_t)hm->cfg.reconcile_secs * 1000000000ull;
	}
}

/* ---- metrics ---- */

void hostmgr_write_metrics(struct hostmgr *hm, FILE *f)
{
	struct hostmgr *d = hm;
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
		        "# HELP peloton_hostmgr_unwatched_launches_total Launches not watched for "
		        "reconciliation (the watch list was full).\n"
		        "# TYPE peloton_hostmgr_unwatched_launches_total counter\n"
		        "peloton_hostmgr_unwatched_launches_total %llu\n",
		        launchwatch_size(d->lw), (unsigned long long)launchwatch_dropped(d->lw));
	struct hostidx_capacity c;
	hostidx_capacity(d->idx, &c);
	struct mesos_client_stats ms;
	mesos_client_get_stats(d->mc, &ms);
	fprintf(
	    f,
	    "# HELP peloton_hosts Live hosts (agents not lost).\n"
	    "# TYPE peloton_hosts gauge\npeloton_hosts %u\n"
	    "# HELP peloton_hosts_with_offers Live hosts with resources offered now.\n"
	    "# TYPE peloton_hosts_with_offers gauge\npeloton_hosts_with_offers %u\n"
	    "# HELP peloton_hosts_placing Hosts a placement engine holds under a lease.\n"
	    "# TYPE peloton_hosts_placing gauge\npeloton_hosts_placing %u\n"
	    "# HELP peloton_offers_received_total Offers received from Mesos.\n"
	    "# TYPE peloton_offers_received_total counter\npeloton_offers_received_total %llu\n"
	    "# HELP peloton_offers_total Offers that ended, by how: used by a launch, declined, "
	    "or rescinded by Mesos.\n"
	    "# TYPE peloton_offers_total counter\n"
	    "peloton_offers_total{result=\"used\"} %llu\n"
	    "peloton_offers_total{result=\"declined\"} %llu\n"
	    "peloton_offers_total{result=\"rescinded\"} %llu\n"
	    "# HELP peloton_mesos_subscriptions_total SUBSCRIBE calls that succeeded.\n"
	    "# TYPE peloton_mesos_subscriptions_total counter\n"
	    "peloton_mesos_subscriptions_total %llu\n"
	    "# HELP peloton_mesos_events_total Events received on the scheduler stream.\n"
	    "# TYPE peloton_mesos_events_total counter\npeloton_mesos_events_total %llu\n"
	    "# HELP peloton_mesos_calls_total Calls to the Mesos master, by outcome.\n"
	    "# TYPE peloton_mesos_calls_total counter\npeloton_mesos_calls_total{result=\"sent\"} "
	    "%llu\npeloton_mesos_calls_total{result=\"failed\"} %llu\n"
	    "# HELP peloton_mesos_accepts_total ACCEPT calls sent (launches, several per call).\n"
	    "# TYPE peloton_mesos_accepts_total counter\npeloton_mesos_accepts_total %llu\n",
	    c.hosts, c.hosts_with_offers, c.placing, (unsigned long long)d->offers_in,
	    (unsigned long long)d->offers_used, (unsigned long long)d->offers_declined,
	    (unsigned long long)d->rescinds, (unsigned long long)ms.subscribes,
	    (unsigned long long)ms.events, (unsigned long long)ms.calls_sent,
	    (unsigned long long)ms.calls_failed, (unsigned long long)ms.accepts);
}

static void host_row(void *arg, const char *name, int state, const struct hostmatch_res *phys,
                     const struct hostmatch_res *free)
{
	static const char *const names[] = {"unknown", "ready", "placing", "removed"};
	json_array_append_new(arg, json_pack("[s,s,f,f,f,f]", name ? name : "",
	                                     names[state >= 0 && state < 4 ? state : 0], free->cpus,
	                                     phys->cpus, free->mem_mb, phys->mem_mb));
}

static json_t *res_json(const struct hostmatch_res *r)
{
	return json_pack("{s:f,s:f,s:f,s:f}", "cpu", r->cpus, "mem", r->mem_mb, "disk", r->disk_mb,
	                 "gpu", r->gpus);
}

bool hostmgr_http(struct hostmgr *hm, const char *method, const char *url, unsigned *status,
                  char **out)
{
	if (strcmp(url, "/ui/data/hosts") != 0)
		return false;
	*status = 405;
	if (strcmp(method, "GET") != 0) {
		*out = strdup("{\"error\":\"GET only\"}");
		return true;
	}
	json_t *hosts = json_array();
	struct hostidx_capacity c;
	hostidx_each(hm->idx, host_row, hosts);
	hostidx_capacity(hm->idx, &c);
	json_t *j = json_pack("{s:o,s:{s:i,s:i,s:i,s:o,s:o}}", "hosts", hosts, "totals", "hosts",
	                      (json_int_t)c.hosts, "hostsWithOffers",
	                      (json_int_t)c.hosts_with_offers, "placing", (json_int_t)c.placing,
	                      "offered", res_json(&c.offered), "physical", res_json(&c.physical));
	*out = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	*status = 200;
	return true;
}
