/* The job manager's host manager over gRPC; see hostmgr_remote.h. */
#define _GNU_SOURCE /* pthread_setname_np */
#include "hostmgr_remote.h"

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
	struct hmremote *h;
	uint64_t gen, offset;
};

struct hmremote {
	/* calls on one connection take turns: the launcher, the kill sender and
	 * the consumer have one each */
	struct grpccli *launch_cli, *kill_cli, *events_cli;
	struct jobmgr *jm;
	_Atomic uint64_t calls, failed, launched, kills_sent, updates, retried;
	_Atomic bool launch_down, kill_down, events_down;

	pthread_mutex_t mu; /* kills queue, the window, stop */
	pthread_cond_t cv;
	bool stop;
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
static void *call(struct hmremote *h, struct grpccli *c, _Atomic bool *down, const char *path,
                  const ProtobufCMessage *req, const ProtobufCMessageDescriptor *rd,
                  unsigned timeout_ms)
{
	const struct grpccli_watch w = {"jobmgr", "the host manager", &h->calls, &h->failed};
	return grpccli_call_watched(c, down, &w, path, req, rd, timeout_ms);
}

/* --- launch ---------------------------------------------------------------- */

typedef Peloton__Private__Hostmgr__Hostsvc__LaunchableTask launchable_pb;
typedef Peloton__Private__Hostmgr__Hostsvc__LaunchableTask__PortsEntry port_pb;

static int r_launch(void *arg, const char *host, const char *agent, const char *const *offers,
                    size_t n_offers, const struct launchable *lts, size_t n)
{
	(void)offers;
	struct hmremote *h = arg;
	if (n_offers) {
		log_error("jobmgr",
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
	int rc = -1;
	if (!tv || !tp || !idv || !pv || !pp) {
		log_error("jobmgr", "out of memory launching on %s", host);
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
		tp[k] = &tv[k];
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
		log_warn("jobmgr", "LaunchTasks on %s refused: %s", host,
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
	return rc;
}

/* --- kill ------------------------------------------------------------------ */

static int r_kill(void *arg, const char *task, const char *agent)
{
	(void)agent; /* KillTasks names tasks only */
	struct hmremote *h = arg;
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
		log_warn("jobmgr", "kill queue for the host manager full: kills dropped (resent "
		                   "every 10 s)");
	}
	pthread_mutex_unlock(&h->mu);
	free(id);
	return rc;
}

static void send_kills(struct hmremote *h, char **ids, size_t n)
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
			log_warn("jobmgr", "KillTasks of %zu task(s) refused: %s", n,
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
	struct hmremote *h = arg;
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
	struct hmremote *h = c->h;
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
static void give(struct hmremote *h, const Mesos__V1__TaskStatus *st, uint64_t gen, uint64_t off)
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
	jobmgr_on_status_cb(h->jm, st, update_done, c);
}

/* Moves base past handled updates; gives due retries again. mu held on entry and exit. */
static void advance__(struct hmremote *h)
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
static void reset__(struct hmremote *h, uint64_t from)
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
static int64_t init_stream(struct hmremote *h, char *id, size_t idlen)
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
		log_error("jobmgr", "InitStream refused by the host manager (client \"jobmgr\")");
		PB_FREE(r);
		return -1;
	}
	snprintf(id, idlen, "%s", r->streamid);
	uint64_t from =
	    r->previouspurgeoffset > r->minoffset ? r->previouspurgeoffset : r->minoffset;
	log_info("jobmgr", "reading the host manager's event stream %s from offset %llu", id,
	         (unsigned long long)from);
	PB_FREE(r);
	return (int64_t)from;
}

/* Waits up to ms on the cv (mu held) unless stopping. */
static void nap__(struct hmremote *h, unsigned ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	ts.tv_sec += ms / 1000 + ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	if (!h->stop)
		pthread_cond_timedwait(&h->cv, &h->mu, &ts);
}

static void *events_main(void *arg)
{
	struct hmremote *h = arg;
	char sid[128] = "";
	pthread_mutex_lock(&h->mu);
	while (!h->stop) {
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
		if (r && r->error) {
			log_warn("jobmgr", "event stream %s: %s; opening it again", sid,
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

/* --- lifecycle ------------------------------------------------------------- */

struct hmremote *hmremote_create(const char *target)
{
	struct hmremote *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return NULL;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	h->launch_cli = grpccli_create(target);
	h->kill_cli = grpccli_create(target);
	h->events_cli = grpccli_create(target);
	h->win = calloc(WINDOW, sizeof(*h->win));
	if (!h->launch_cli || !h->kill_cli || !h->events_cli || !h->win ||
	    pthread_create(&h->kill_th, NULL, kill_main, h) != 0) {
		hmremote_destroy(h);
		return NULL;
	}
	pthread_setname_np(h->kill_th, "jm-hm-kill");
	h->kill_started = true;
	return h;
}

int hmremote_start_events(struct hmremote *h, struct jobmgr *jm)
{
	h->jm = jm;
	if (pthread_create(&h->ev_th, NULL, events_main, h) != 0)
		return -1;
	pthread_setname_np(h->ev_th, "jm-events");
	h->ev_started = true;
	return 0;
}

void hmremote_stop(struct hmremote *h)
{
	if (h == NULL)
		return;
	pthread_mutex_lock(&h->mu);
	h->stop = true;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
	if (h->ev_started)
		pthread_join(h->ev_th, NULL);
	if (h->kill_started)
		pthread_join(h->kill_th, NULL);
	h->ev_started = h->kill_started = false;
}

void hmremote_destroy(struct hmremote *h)
{
	if (h == NULL)
		return;
	hmremote_stop(h);
	if (h->win) {
		pthread_mutex_lock(&h->mu);
		if (h->next > h->base)
			log_info("jobmgr",
			         "%llu status update(s) not yet reported handled: the host manager "
			         "keeps them for the next InitStream",
			         (unsigned long long)(h->next - h->base));
		reset__(h, 0);
		pthread_mutex_unlock(&h->mu);
	}
	for (size_t i = 0; i < h->n_kills; i++)
		free(h->kills[i]);
	free(h->kills);
	free(h->win);
	grpccli_destroy(h->launch_cli);
	grpccli_destroy(h->kill_cli);
	grpccli_destroy(h->events_cli);
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->cv);
	free(h);
}

struct jobmgr_ops hmremote_ops(struct hmremote *h)
{
	return (struct jobmgr_ops){.launch = r_launch,
	                           .kill = r_kill,
	                           .ack = NULL,
	                           .browse = NULL,
	                           .reconcile = NULL,
	                           .arg = h};
}

void hmremote_get_stats(struct hmremote *h, struct hmremote_stats *out)
{
	*out = (struct hmremote_stats){
	    .calls = atomic_load(&h->calls),
	    .failed_calls = atomic_load(&h->failed),
	    .launched = atomic_load(&h->launched),
	    .kills_sent = atomic_load(&h->kills_sent),
	    .updates = atomic_load(&h->updates),
	    .updates_retried = atomic_load(&h->retried),
	};
	pthread_mutex_lock(&h->mu);
	out->purge_offset = h->base;
	pthread_mutex_unlock(&h->mu);
}
