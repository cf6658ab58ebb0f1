/* The placement engine's gRPC backend; see placement_remote.h. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grpccli.h"
#include "hostsvc.h"
#include "log.h"
#include "peloton/private/resmgr/resmgrsvc.pb-c.h"
#include "placement_remote.h"
#include "proto_codec.h"

#define RM_SVC "/peloton.private.resmgr.ResourceManagerService/"
#define HM_SVC "/peloton.private.hostmgr.hostsvc.InternalHostService/"
#define CALL_MS 5000 /* every call but DequeueGangs' wait */

typedef Peloton__Private__Hostmgr__Hostsvc__HostOffer host_offer_pb;

/* One worker thread's connections and mirror index. */
struct plr_thread {
	struct plr_thread *next;
	struct plremote *r;
	struct grpccli *rm, *hm;
	struct hostidx *mirror;
	struct hostsvc *msvc;          /* ingests HostOffers into the mirror */
	_Atomic bool rm_down, hm_down; /* the last call failed: logged once until one works */
	/* the labels of the tasks on the hosts of the last acquire with a
	 * TASK-kind constraint (GetTasksByHosts), sorted; !live_valid: unknown */
	struct live_label *live;
	size_t n_live;
	bool live_valid;
};

/* One label of one task the resource manager has on a host. */
struct live_label {
	char *host, *label; /* label: "key=value" */
	size_t task;        /* which task of the answer: a task counts once */
};

struct plremote {
	char *rm_target, *hm_target;
	pthread_mutex_t mu; /* threads */
	struct plr_thread *threads;
	_Atomic uint64_t seq; /* mirror offer ids */
	_Atomic uint64_t calls, failed_calls, hosts_acquired, hosts_released;
};

static __thread struct plr_thread *tls;

static void live_clear(struct plr_thread *t)
{
	for (size_t i = 0; i < t->n_live; i++) {
		free(t->live[i].host);
		free(t->live[i].label);
	}
	free(t->live);
	t->live = NULL;
	t->n_live = 0;
	t->live_valid = false;
}

struct plremote *plremote_create(const char *resmgr_target, const char *hostmgr_target)
{
	struct plremote *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->rm_target = strdup(resmgr_target);
	r->hm_target = strdup(hostmgr_target);
	if (!r->rm_target || !r->hm_target) {
		free(r->rm_target);
		free(r->hm_target);
		free(r);
		return NULL;
	}
	pthread_mutex_init(&r->mu, NULL);
	return r;
}

void plremote_destroy(struct plremote *r)
{
	if (r == NULL)
		return;
	for (struct plr_thread *t = r->threads, *next; t != NULL; t = next) {
		next = t->next;
		grpccli_destroy(t->rm);
		grpccli_destroy(t->hm);
		hostsvc_destroy(t->msvc);
		hostidx_destroy(t->mirror);
		live_clear(t);
		free(t);
	}
	pthread_mutex_destroy(&r->mu);
	free(r->rm_target);
	free(r->hm_target);
	free(r);
}

void plremote_get_stats(struct plremote *r, struct plremote_stats *out)
{
	*out = (struct plremote_stats){atomic_load(&r->calls), atomic_load(&r->failed_calls),
	                               atomic_load(&r->hosts_acquired),
	                               atomic_load(&r->hosts_released)};
}

/* The calling thread's state (created on its first call); NULL on ENOMEM. */
static struct plr_thread *thr(struct plremote *r)
{
	if (tls != NULL && tls->r == r)
		return tls;
	struct plr_thread *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->r = r;
	struct hostidx_config hc = {0};
	t->rm = grpccli_create(r->rm_target);
	t->hm = grpccli_create(r->hm_target);
	t->mirror = hostidx_create(&hc);
	t->msvc = t->mirror ? hostsvc_create(t->mirror, HOSTIDX_PACK) : NULL;
	pthread_mutex_lock(&r->mu);
	t->next = r->threads; /* freed with r, even half made */
	r->threads = t;
	pthread_mutex_unlock(&r->mu);
	if (!t->rm || !t->hm || !t->msvc)
		return NULL;
	tls = t;
	return t;
}

/* One unary call; the decoded response, or NULL (logged). */
static ProtobufCMessage *call(struct plr_thread *t, struct grpccli *c, const char *path,
                              const ProtobufCMessage *req, const ProtobufCMessageDescriptor *rd,
                              unsigned timeout_ms)
{
	bool rm = c == t->rm;
	const struct grpccli_watch w = {"placement",
	                                rm ? "the resource manager" : "the host manager",
	                                &t->r->calls, &t->r->failed_calls};
	return grpccli_call_watched(c, rm ? &t->rm_down : &t->hm_down, &w, path, req, rd,
	                            timeout_ms);
}

/* --- the resource manager ---------------------------------------------------- */

/* A dequeued gang in the core's layout (freed by resmgr_gang_free). */
static bool gang_out(const Peloton__Private__Resmgr__Gang *g, struct resmgr_gang_out *o)
{
	size_t n = g->n_tasks, ids_len = 0;
	for (size_t i = 0; i < n; i++) {
		const Peloton__Private__Resmgr__Task *t = g->tasks[i];
		if (!t || !t->id || !t->id->value)
			return false;
		ids_len += strlen(t->id->value) + 1;
	}
	*o = (struct resmgr_gang_out){.n_tasks = n};
	/* the id pointers and their texts in one block: resmgr_gang_free frees task_ids */
	char *block = malloc(n * sizeof(char *) + ids_len);
	o->task_ids = (const char **)block;
	o->payloads = calloc(n ? n : 1, sizeof(void *));
	o->payload_lens = calloc(n ? n : 1, sizeof(size_t));
	if (!block || !o->payloads || !o->payload_lens) {
		resmgr_gang_free(o);
		return false;
	}
	char *txt = block + n * sizeof(char *);
	for (size_t i = 0; i < n; i++) {
		const Peloton__Private__Resmgr__Task *t = g->tasks[i];
		size_t l = strlen(t->id->value) + 1;
		memcpy(txt, t->id->value, l);
		o->task_ids[i] = txt;
		txt += l;
		o->payloads[i] = proto_pack_alloc(&t->base, &o->payload_lens[i]);
		if (o->payloads[i] == NULL) {
			resmgr_gang_free(o);
			return false;
		}
		if (i == 0 && (unsigned)t->type < (unsigned)RM_N_TYPES)
			o->type = (enum resmgr_task_type)t->type;
	}
	return true;
}

static size_t r_dequeue(void *arg, size_t limit, uint64_t timeout_ns, struct resmgr_gang_out *out)
{
	struct plremote *r = arg;
	struct plr_thread *t = thr(r);
	Peloton__Private__Resmgr__DequeueGangsRequest req =
	    PELOTON__PRIVATE__RESMGR__DEQUEUE_GANGS_REQUEST__INIT;
	req.limit = (uint32_t)limit;
	req.timeout = (uint32_t)(timeout_ns / 1000000);
	Peloton__Private__Resmgr__DequeueGangsResponse *resp =
	    t ? (void *)call(t, t->rm, RM_SVC "DequeueGangs", &req.base,
	                     &peloton__private__resmgr__dequeue_gangs_response__descriptor,
	                     req.timeout + CALL_MS)
	      : NULL;
	if (resp == NULL) {
		/* the resource manager is away: do not spin on it */
		struct timespec d = {0, 200000000};
		nanosleep(&d, NULL);
		return 0;
	}
	size_t n = 0;
	for (size_t i = 0; i < resp->n_gangs && n < limit; i++)
		if (gang_out(resp->gangs[i], &out[n]))
			n++;
		else
			log_error("placement", "a dequeued gang is malformed or out of memory: "
			                       "skipped (the PLACING timeout brings it back)");
	PB_FREE(resp);
	return n;
}

static size_t r_set_placements(void *arg, const struct resmgr_placement *p, size_t n,
                               enum resmgr_fail *fail)
{
	struct plremote *r = arg;
	struct plr_thread *t = thr(r);
	Peloton__Private__Resmgr__Placement *pls = calloc(n, sizeof(*pls));
	Peloton__Private__Resmgr__Placement **pp = calloc(n, sizeof(*pp));
	Mesos__V1__AgentID *agents = calloc(n, sizeof(*agents));
	size_t n_tasks = 0;
	for (size_t i = 0; i < n; i++)
		n_tasks += p[i].n_tasks;
	Peloton__Api__Peloton__TaskID *tids = calloc(n_tasks ? n_tasks : 1, sizeof(*tids));
	Peloton__Api__Peloton__TaskID **tp = calloc(n_tasks ? n_tasks : 1, sizeof(*tp));
	size_t ok = 0;

	for (size_t i = 0; i < n; i++)
		fail[i] = RM_NO_MEMORY;
	if (!t || !pls || !pp || !agents || !tids || !tp)
		goto out;
	size_t at = 0;
	for (size_t i = 0; i < n; i++) {
		peloton__private__resmgr__placement__init(&pls[i]);
		mesos__v1__agent_id__init(&agents[i]);
		agents[i].value = (char *)p[i].agent_id;
		pls[i].hostname = (char *)p[i].hostname;
		pls[i].agentid = &agents[i];
		pls[i].ports = (uint32_t *)p[i].ports;
		pls[i].n_ports = p[i].n_ports;
		pls[i].tasks = tp + at;
		pls[i].n_tasks = p[i].n_tasks;
		for (size_t k = 0; k < p[i].n_tasks; k++, at++) {
			peloton__api__peloton__task_id__init(&tids[at]);
			tids[at].value = (char *)p[i].task_ids[k];
			tp[at] = &tids[at];
		}
		pp[i] = &pls[i];
	}
	Peloton__Private__Resmgr__SetPlacementsRequest req =
	    PELOTON__PRIVATE__RESMGR__SET_PLACEMENTS_REQUEST__INIT;
	req.placements = pp;
	req.n_placements = n;
	Peloton__Private__Resmgr__SetPlacementsResponse *resp =
	    (void *)call(t, t->rm, RM_SVC "SetPlacements", &req.base,
	                 &peloton__private__resmgr__set_placements_response__descriptor, CALL_MS);
	if (resp == NULL) {
		/* unknown outcome: the tasks stay PLACING until the resource
		 * manager's PLACING timeout, which brings them back */
		for (size_t i = 0; i < n; i++)
			fail[i] = RM_INVALID_STATE;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		fail[i] = RM_OK;
	const Peloton__Private__Resmgr__SetPlacementsFailure *f =
	    resp->error ? resp->error->failure : NULL;
	for (size_t k = 0; f && k < f->n_failed; k++) {
		const Peloton__Private__Resmgr__Placement *fp =
		    f->failed[k] ? f->failed[k]->placement : NULL;
		for (size_t i = 0; fp && fp->hostname && i < n; i++)
			if (fail[i] == RM_OK && strcmp(fp->hostname, p[i].hostname) == 0) {
				fail[i] = RM_INVALID_STATE;
				log_info("placement", "SetPlacements refused %s: %s", p[i].hostname,
				         f->failed[k]->message ? f->failed[k]->message : "");
				break;
			}
	}
	for (size_t i = 0; i < n; i++)
		ok += fail[i] == RM_OK;
	PB_FREE(resp);
out:
	free(pls);
	free(pp);
	free(agents);
	free(tids);
	free(tp);
	return ok;
}

static void r_return_tasks(void *arg, const struct resmgr_gang_out *g)
{
	struct plremote *r = arg;
	struct plr_thread *t = thr(r);
	Peloton__Private__Resmgr__Task **tasks =
	    calloc(g->n_tasks ? g->n_tasks : 1, sizeof(*tasks));
	size_t n = 0;
	for (size_t i = 0; tasks && i < g->n_tasks; i++) {
		const char *why;
		tasks[n] = (void *)proto_decode(&peloton__private__resmgr__task__descriptor,
		                                g->payloads[i], g->payload_lens[i], NULL, &why);
		if (tasks[n] != NULL)
			n++;
	}
	if (t && tasks && n == g->n_tasks) {
		Peloton__Private__Resmgr__Gang gang = PELOTON__PRIVATE__RESMGR__GANG__INIT;
		gang.tasks = tasks;
		gang.n_tasks = n;
		Peloton__Private__Resmgr__Gang *gp = &gang;
		Peloton__Private__Resmgr__EnqueueGangsRequest req =
		    PELOTON__PRIVATE__RESMGR__ENQUEUE_GANGS_REQUEST__INIT;
		req.gangs = &gp;
		req.n_gangs = 1;
		ProtobufCMessage *resp =
		    call(t, t->rm, RM_SVC "EnqueueGangs", &req.base,
		         &peloton__private__resmgr__enqueue_gangs_response__descriptor, CALL_MS);
		if (resp != NULL)
			PB_FREE(resp);
	} else {
		log_warn("placement",
		         "could not hand a gang of %zu task(s) back: the PLACING "
		         "timeout brings it back",
		         g->n_tasks);
	}
	for (size_t i = 0; i < n; i++)
		PB_FREE(tasks[i]);
	free(tasks);
}

/* by host, then label, then task */
static int cmp_live(const void *a, const void *b)
{
	const struct live_label *x = a, *y = b;
	int c = strcmp(x->host, y->host);
	if (c == 0)
		c = strcmp(x->label, y->label);
	return c != 0 ? c : (x->task > y->task) - (x->task < y->task);
}

/*
 * Tasks on `host` carrying `label`, every engine's: from the answer
 * r_acquire fetched for the hosts it was granted (the only hosts an engine
 * decides over). Without one (the call failed) the engine counts its own.
 */
static int r_host_task_count(void *arg, const char *host, const char *label, uint32_t *n)
{
	struct plr_thread *t = thr(arg);
	if (t == NULL || !t->live_valid)
		return -1;
	struct live_label key = {(char *)host, (char *)label, 0};
	/* the first entry of (host, label): task 0 sorts first */
	size_t lo = 0, hi = t->n_live;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cmp_live(&t->live[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*n = 0;
	for (size_t i = lo; i < t->n_live && strcmp(t->live[i].host, host) == 0 &&
	                    strcmp(t->live[i].label, label) == 0;
	     i++)
		*n += i == lo || t->live[i].task != t->live[i - 1].task;
	return 0;
}

/*
 * Used only when r_host_task_count could not answer: the engine's own
 * placements then count as alive (a host is refused rather than
 * over-filled).
 */
static enum taskstate r_task_state(void *arg, const char *task_id)
{
	(void)arg, (void)task_id;
	return TASK_RUNNING;
}

/* The labels of the resource manager's tasks on `hosts`. */
static void live_fetch(struct plr_thread *t, const char *const *hosts, size_t n)
{
	live_clear(t);
	Peloton__Private__Resmgr__GetTasksByHostsRequest req =
	    PELOTON__PRIVATE__RESMGR__GET_TASKS_BY_HOSTS_REQUEST__INIT;
	req.hostnames = (char **)hosts;
	req.n_hostnames = n;
	Peloton__Private__Resmgr__GetTasksByHostsResponse *resp = (void *)call(
	    t, t->rm, RM_SVC "GetTasksByHosts", &req.base,
	    &peloton__private__resmgr__get_tasks_by_hosts_response__descriptor, CALL_MS);
	if (resp == NULL || resp->error != NULL) {
		if (resp)
			PB_FREE(resp);
		return;
	}
	size_t total = 0, task = 0;
	for (size_t i = 0; i < resp->n_hosttasksmap; i++)
		for (size_t k = 0;
		     resp->hosttasksmap[i]->value && k < resp->hosttasksmap[i]->value->n_tasks;
		     k++) {
			const Peloton__Private__Resmgr__Task *tk =
			    resp->hosttasksmap[i]->value->tasks[k];
			total += tk && tk->labels ? tk->labels->n_labels : 0;
		}
	t->live = calloc(total ? total : 1, sizeof(*t->live));
	bool ok = t->live != NULL;
	for (size_t i = 0; ok && i < resp->n_hosttasksmap; i++) {
		const char *host = resp->hosttasksmap[i]->key ? resp->hosttasksmap[i]->key : "";
		const Peloton__Private__Resmgr__TaskList *l = resp->hosttasksmap[i]->value;
		for (size_t k = 0; ok && l && k < l->n_tasks; k++, task++) {
			const Mesos__V1__Labels *ls = l->tasks[k] ? l->tasks[k]->labels : NULL;
			for (size_t j = 0; ok && ls && j < ls->n_labels; j++) {
				const Mesos__V1__Label *lb = ls->labels[j];
				struct live_label *e = &t->live[t->n_live];
				size_t sz =
				    strlen(lb->key) + (lb->value ? strlen(lb->value) : 0) + 2;
				e->host = strdup(host);
				e->label = malloc(sz);
				e->task = task;
				ok = e->host && e->label;
				if (e->label)
					snprintf(e->label, sz, "%s=%s", lb->key,
					         lb->value ? lb->value : "");
				t->n_live++; /* freed by live_clear even if half made */
			}
		}
	}
	PB_FREE(resp);
	if (!ok) {
		live_clear(t);
		return;
	}
	qsort(t->live, t->n_live, sizeof(*t->live), cmp_live);
	t->live_valid = true;
}

/* --- the host manager -------------------------------------------------------- */

/* Gives hosts back to the host manager. */
static void release_remote(struct plr_thread *t, const char *const *hosts,
                           const char *const *agents, size_t n)
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
		ProtobufCMessage *resp = call(
		    t, t->hm, HM_SVC "ReleaseHostOffers", &req.base,
		    &peloton__private__hostmgr__hostsvc__release_host_offers_response__descriptor,
		    CALL_MS);
		if (resp != NULL)
			PB_FREE(resp);
		atomic_fetch_add(&t->r->hosts_released, n);
	}
	/* unreleased (ENOMEM, call failed): the host manager's lease expires */
	free(hos);
	free(hp);
	free(ag);
}

/* The HostOffers as mirror offers (ids of our own), added to the mirror. */
static int mirror_add(struct plr_thread *t, host_offer_pb *const *hos, size_t n, uint64_t now_ns)
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
			         (unsigned long long)atomic_fetch_add(&t->r->seq, 1));
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
			log_error("placement", "host offers from the host manager refused: %s",
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
	struct plremote *r = arg;
	struct plr_thread *t = thr(r);
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
	Peloton__Private__Hostmgr__Hostsvc__AcquireHostOffersResponse *resp = (void *)call(
	    t, t->hm, HM_SVC "AcquireHostOffers", &req.base,
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
	atomic_fetch_add(&r->hosts_acquired, n);
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
		if (n > 0 && hostmatch_has_task_leaves(f->constraint))
			live_fetch(t, hosts, n);
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
	struct plremote *r = arg;
	struct plr_thread *t = thr(r);
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

/*
 * The mirror's offers are spent; the host manager's real ones are spent by
 * SetPlacements (which names these hosts), so the ids given back are none.
 */
static int r_consume_all(void *arg, struct hostidx_lease *leases, size_t n,
                         struct hostidx_offer_ids *out)
{
	struct plremote *r = arg;
	struct plr_thread *t = thr(r);
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

void plremote_backend(struct plremote *r, struct placement_backend *out)
{
	*out = (struct placement_backend){r_dequeue,    r_set_placements,  r_return_tasks,
	                                  r_task_state, r_host_task_count, r_acquire,
	                                  r_release,    r_consume_all,     r};
}
