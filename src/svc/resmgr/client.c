/* The job manager's resource manager over gRPC; see jobmgr_remote.h. */
#define _GNU_SOURCE /* pthread_setname_np */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "grpccli.h"
#include "jobmgr_remote.h"
#include "log.h"
#include "peloton/api/respool/respool.pb-c.h"
#include "peloton/private/resmgr/resmgrsvc.pb-c.h"
#include "proto_codec.h"

#define RM_SVC "/peloton.private.resmgr.ResourceManagerService/"
#define RP_SVC "/peloton.api.respool.ResourceManager/"
#define CALL_MS 5000
#define MAX_DEPTH 64 /* pool tree levels walked for a path */

typedef Peloton__Private__Resmgr__Task task_pb;
typedef Peloton__Api__Peloton__TaskID task_id_pb;

struct jmremote {
	/* calls on one connection take turns: the long polls get their own */
	struct grpccli *cli, *placements, *preempt, *notifier;
	_Atomic uint64_t calls, failed;
	/* status notifications, sent in batches by the notifier thread and
	 * kept (in order) while the resource manager does not answer */
	pthread_mutex_t nmu;
	pthread_cond_t ncv;
	struct pending_note *notes;
	size_t head, n, cap; /* queued: notes[head, n) */
	bool nstop, nstarted, overflow_logged;
	/* notes queued and sent (or given up) so far: an enqueue waits for the
	 * notes queued before it (a relaunch's "lost" must reach the resource
	 * manager before the task is enqueued again, or it is a duplicate) */
	uint64_t queued_total, sent_total;
	pthread_cond_t sent_cv;
	uint64_t dropped;
	pthread_t nth;
	/* per connection (they reconnect apart): its last call found the
	 * daemon unreachable, logged once until it answers again */
	_Atomic bool cli_down, placements_down, preempt_down, notifier_down;
	_Atomic bool came_back; /* a connection answered after an outage */
	/* one job's active tasks (r_task_state), sorted by task id */
	pthread_mutex_t sc_mu;
	char sc_job[64];
	uint64_t sc_at_ns;
	Peloton__Private__Resmgr__GetActiveTasksResponse *sc_resp;
	Peloton__Private__Resmgr__GetActiveTasksResponse__TaskStatesMapEntry **sc_sorted;
};

struct pending_note {
	char *task_id;
	enum taskstate state;
};

#define NOTE_BATCH 1000
#define NOTE_MAX (1u << 20) /* queued while unreachable; newer ones dropped, counted */
#define NOTE_RETRY_NS 1000000000ull
#define SNAPSHOT_NS 1000000000ull /* a job's task states reused this long */

static void *notifier(void *arg);

typedef Peloton__Private__Resmgr__GetActiveTasksResponse__TaskStatesMapEntry state_entry;

static int entry_cmp(const void *a, const void *b)
{
	const state_entry *x = *(const state_entry *const *)a, *y = *(const state_entry *const *)b;
	return strcmp(x->key ? x->key : "", y->key ? y->key : "");
}

static int key_cmp(const void *key, const void *e)
{
	const state_entry *y = *(const state_entry *const *)e;
	return strcmp(key, y->key ? y->key : "");
}

/* Forgets the snapshot (of job, or any when job is NULL). sc_mu held. */
static void snapshot_drop__(struct jmremote *r, const char *job, size_t jlen)
{
	if (job && (strlen(r->sc_job) != jlen || strncmp(r->sc_job, job, jlen) != 0))
		return;
	PB_FREE(r->sc_resp);
	free(r->sc_sorted);
	r->sc_resp = NULL;
	r->sc_sorted = NULL;
	r->sc_job[0] = 0;
}

/* Drops the snapshot of the job of "<job>-<instance>" (this client changed it). */
static void snapshot_touch(struct jmremote *r, const char *task_id)
{
	const char *dash = strrchr(task_id, '-');
	if (dash == NULL)
		return;
	pthread_mutex_lock(&r->sc_mu);
	snapshot_drop__(r, task_id, (size_t)(dash - task_id));
	pthread_mutex_unlock(&r->sc_mu);
}

struct jmremote *jmremote_create(const char *target)
{
	struct jmremote *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->cli = grpccli_create(target);
	r->placements = grpccli_create(target);
	r->preempt = grpccli_create(target);
	r->notifier = grpccli_create(target);
	pthread_mutex_init(&r->nmu, NULL);
	pthread_mutex_init(&r->sc_mu, NULL);
	pthread_cond_init(&r->ncv, NULL);
	pthread_cond_init(&r->sent_cv, NULL);
	if (!r->cli || !r->placements || !r->preempt || !r->notifier ||
	    pthread_create(&r->nth, NULL, notifier, r) != 0) {
		jmremote_destroy(r);
		return NULL;
	}
	pthread_setname_np(r->nth, "jm-rm-notify");
	r->nstarted = true;
	return r;
}

void jmremote_destroy(struct jmremote *r)
{
	if (r == NULL)
		return;
	if (r->nstarted) {
		pthread_mutex_lock(&r->nmu);
		r->nstop = true;
		pthread_cond_signal(&r->ncv);
		pthread_cond_broadcast(&r->sent_cv);
		pthread_mutex_unlock(&r->nmu);
		pthread_join(r->nth, NULL);
	}
	if (r->n > r->head)
		log_warn("jobmgr", "%zu status notifications for the resource manager not sent",
		         r->n - r->head);
	for (size_t i = r->head; i < r->n; i++)
		free(r->notes[i].task_id);
	free(r->notes);
	snapshot_drop__(r, NULL, 0);
	pthread_mutex_destroy(&r->sc_mu);
	pthread_mutex_destroy(&r->nmu);
	pthread_cond_destroy(&r->ncv);
	pthread_cond_destroy(&r->sent_cv);
	grpccli_destroy(r->cli);
	grpccli_destroy(r->placements);
	grpccli_destroy(r->preempt);
	grpccli_destroy(r->notifier);
	free(r);
}

void jmremote_counts(struct jmremote *r, uint64_t *calls, uint64_t *failed)
{
	*calls = atomic_load(&r->calls);
	*failed = atomic_load(&r->failed);
}

/* One unary call; the decoded response (free with PB_FREE), or NULL (logged). */
static void *call(struct jmremote *r, struct grpccli *c, const char *path,
                  const ProtobufCMessage *req, const ProtobufCMessageDescriptor *rd,
                  unsigned timeout_ms)
{
	_Atomic bool *down = c == r->placements ? &r->placements_down
	                     : c == r->preempt  ? &r->preempt_down
	                     : c == r->notifier ? &r->notifier_down
	                                        : &r->cli_down;
	const struct grpccli_watch w = {"jobmgr", "the resource manager", &r->calls, &r->failed};
	bool was_down = atomic_load(down);
	void *m = grpccli_call_watched(c, down, &w, path, req, rd, timeout_ms);
	if (m && was_down)
		atomic_store(&r->came_back, true);
	return m;
}

static bool r_came_back(void *arg)
{
	struct jmremote *r = arg;
	return atomic_exchange(&r->came_back, false);
}

/* --- tasks ------------------------------------------------------------------- */

static enum resmgr_fail fail_of(const char *name)
{
	for (int f = RM_ALREADY_EXISTS; f <= RM_NO_MEMORY; f++)
		if (name && strcmp(name, resmgr_fail_name((enum resmgr_fail)f)) == 0)
			return (enum resmgr_fail)f;
	return RM_INVALID_TASK;
}

/* Waits (up to CALL_MS) until the notes queued so far are sent. */
static void notes_flushed(struct jmremote *r)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += CALL_MS / 1000;
	pthread_mutex_lock(&r->nmu);
	uint64_t want = r->queued_total;
	while (r->sent_total < want && !r->nstop)
		if (pthread_cond_timedwait(&r->sent_cv, &r->nmu, &until) != 0)
			break; /* not answering: the enqueue goes anyway (and may be refused) */
	pthread_mutex_unlock(&r->nmu);
}

/* One EnqueueGangs call for the gangs (all of them fit one request). */
static size_t enqueue_call(struct jmremote *r, const char *pool_id,
                           const struct resmgr_gang_spec *gangs, size_t n, enum resmgr_fail *fail)
{
	Peloton__Private__Resmgr__EnqueueGangsRequest req =
	    PELOTON__PRIVATE__RESMGR__ENQUEUE_GANGS_REQUEST__INIT;
	Peloton__Api__Peloton__ResourcePoolID pool = PELOTON__API__PELOTON__RESOURCE_POOL_ID__INIT;
	Peloton__Private__Resmgr__Gang *gv = calloc(n ? n : 1, sizeof(*gv));
	Peloton__Private__Resmgr__Gang **gp = calloc(n ? n : 1, sizeof(*gp));
	size_t total = 0, ok = 0;
	for (size_t g = 0; g < n; g++)
		total += gangs[g].n_tasks;
	task_pb **tasks = calloc(total ? total : 1, sizeof(*tasks));
	enum resmgr_fail all = RM_OK;

	if (!gv || !gp || !tasks)
		all = RM_NO_MEMORY;
	/* the specs carry their packed resmgr.Task: sent as they are */
	for (size_t g = 0, k = 0; all == RM_OK && g < n; g++) {
		peloton__private__resmgr__gang__init(&gv[g]);
		gv[g].tasks = &tasks[k];
		gv[g].n_tasks = gangs[g].n_tasks;
		gp[g] = &gv[g];
		for (size_t i = 0; i < gangs[g].n_tasks; i++, k++) {
			const struct resmgr_task_spec *s = &gangs[g].tasks[i];
			tasks[k] = s->payload ? peloton__private__resmgr__task__unpack(
			                            NULL, s->payload_len, s->payload)
			                      : NULL;
			if (tasks[k] == NULL) {
				all = RM_INVALID_TASK;
				break;
			}
		}
	}
	Peloton__Private__Resmgr__EnqueueGangsResponse *resp = NULL;
	if (all == RM_OK) {
		pool.value = (char *)pool_id;
		req.respool = &pool;
		req.gangs = gp;
		req.n_gangs = n;
		resp = call(r, r->cli, RM_SVC "EnqueueGangs", &req.base,
		            &peloton__private__resmgr__enqueue_gangs_response__descriptor, CALL_MS);
		if (resp == NULL)
			all = RM_NO_MEMORY;
		else if (resp->error && resp->error->notfound)
			all = RM_POOL_NOT_FOUND;
	}
	/* a failed task names its gang's reason; the other gangs went in */
	const Peloton__Private__Resmgr__EnqueueGangsFailure *f =
	    resp && resp->error ? resp->error->failure : NULL;
	for (size_t g = 0, k = 0; g < n; g++) {
		enum resmgr_fail gf = all;
		for (size_t i = 0; gf == RM_OK && f && i < gangs[g].n_tasks; i++, k++)
			for (size_t x = 0; x < f->n_failed; x++) {
				const task_pb *t = f->failed[x]->task;
				if (t && t->id && t->id->value && gangs[g].tasks[i].id &&
				    strcmp(t->id->value, gangs[g].tasks[i].id) == 0) {
					gf = fail_of(f->failed[x]->message);
					break;
				}
			}
		if (fail)
			fail[g] = gf;
		ok += gf == RM_OK;
	}
	if (resp)
		PB_FREE(resp);
	for (size_t k = 0; tasks && k < total; k++)
		if (tasks[k])
			peloton__private__resmgr__task__free_unpacked(tasks[k], NULL);
	free(tasks);
	free(gp);
	free(gv);
	return ok;
}

/*
 * Gangs go in calls of at most ENQUEUE_CALL_BYTES of tasks (whole gangs):
 * a job of 100,000 tasks in one request would pass the server's request
 * limit (4 MiB by default) and be refused whole, again and again.
 */
#define ENQUEUE_CALL_BYTES (1u << 20)

static size_t r_enqueue(void *arg, const char *pool_id, const struct resmgr_gang_spec *gangs,
                        size_t n, enum resmgr_fail *fail)
{
	struct jmremote *r = arg;
	notes_flushed(r);
	if (n > 0 && gangs[0].n_tasks > 0 && gangs[0].tasks[0].id)
		snapshot_touch(r, gangs[0].tasks[0].id); /* an enqueue is one job's */
	size_t ok = 0;
	for (size_t g = 0; g < n;) {
		size_t end = g, bytes = 0;
		do {
			for (size_t i = 0; i < gangs[end].n_tasks; i++)
				bytes += gangs[end].tasks[i].payload_len + 16;
			end++;
		} while (end < n && bytes < ENQUEUE_CALL_BYTES);
		ok += enqueue_call(r, pool_id, gangs + g, end - g, fail + g);
		g = end;
	}
	return ok;
}

static enum resmgr_fail r_kill(void *arg, const char *task_id)
{
	struct jmremote *r = arg;
	snapshot_touch(r, task_id);
	Peloton__Private__Resmgr__KillTasksRequest req =
	    PELOTON__PRIVATE__RESMGR__KILL_TASKS_REQUEST__INIT;
	task_id_pb id = PELOTON__API__PELOTON__TASK_ID__INIT, *ids[1] = {&id};
	id.value = (char *)task_id;
	req.tasks = ids;
	req.n_tasks = 1;
	Peloton__Private__Resmgr__KillTasksResponse *resp =
	    call(r, r->cli, RM_SVC "KillTasks", &req.base,
	         &peloton__private__resmgr__kill_tasks_response__descriptor, CALL_MS);
	if (resp == NULL)
		return RM_NOT_FOUND;
	enum resmgr_fail f = RM_OK;
	if (resp->n_error > 0)
		f = resp->error[0]->notfound ? RM_NOT_FOUND : RM_INVALID_STATE;
	PB_FREE(resp);
	return f;
}

/*
 * Queued for the notifier thread (the caller, a status update, does not
 * wait for a round trip): RM_OK once queued. Unmappable events are refused.
 */
static enum resmgr_fail r_notify(void *arg, const char *task_id, enum taskevent ev)
{
	struct jmremote *r = arg;
	enum taskstate st;
	if (!taskstate_reported_by(ev, &st))
		return RM_INVALID_STATE; /* not an update the service carries */
	char *id = strdup(task_id);
	if (id == NULL)
		return RM_NO_MEMORY;
	pthread_mutex_lock(&r->nmu);
	if (r->head > 0 && r->head * 2 >= r->n) { /* the sent half: reclaimed */
		memmove(r->notes, r->notes + r->head, (r->n - r->head) * sizeof(*r->notes));
		r->n -= r->head;
		r->head = 0;
	}
	enum resmgr_fail f = RM_OK;
	if (r->n - r->head >= NOTE_MAX) {
		r->dropped++;
		if (!r->overflow_logged)
			log_warn("jobmgr",
			         "%u status notifications queued for the resource manager: "
			         "newer ones are dropped until it answers",
			         NOTE_MAX);
		r->overflow_logged = true;
		f = RM_NO_MEMORY;
	} else if (r->n == r->cap) {
		size_t nc = r->cap ? r->cap * 2 : 1024;
		struct pending_note *nn = realloc(r->notes, nc * sizeof(*nn));
		if (nn == NULL) {
			f = RM_NO_MEMORY;
		} else {
			r->notes = nn;
			r->cap = nc;
		}
	}
	if (f == RM_OK) {
		r->notes[r->n++] = (struct pending_note){id, st};
		r->queued_total++;
		pthread_cond_signal(&r->ncv);
	}
	pthread_mutex_unlock(&r->nmu);
	if (f != RM_OK)
		free(id);
	return f;
}

/* Sends notes[from, from + k) in one NotifyTaskUpdates; true when it went through. */
static bool send_notes(struct jmremote *r, const struct pending_note *notes, size_t k)
{
	Peloton__Private__Resmgr__NotifyTaskUpdatesRequest req =
	    PELOTON__PRIVATE__RESMGR__NOTIFY_TASK_UPDATES_REQUEST__INIT;
	Peloton__Private__Eventstream__Event *ev = calloc(k, sizeof(*ev));
	Peloton__Private__Eventstream__Event **evp = calloc(k, sizeof(*evp));
	Peloton__Api__Task__TaskEvent *te = calloc(k, sizeof(*te));
	task_id_pb *ids = calloc(k, sizeof(*ids));
	bool ok = false;
	if (ev && evp && te && ids) {
		for (size_t i = 0; i < k; i++) {
			peloton__private__eventstream__event__init(&ev[i]);
			peloton__api__task__task_event__init(&te[i]);
			peloton__api__peloton__task_id__init(&ids[i]);
			ids[i].value = notes[i].task_id;
			te[i].taskid = &ids[i];
			te[i].state = (Peloton__Api__Task__TaskState)notes[i].state;
			ev[i].pelotontaskevent = &te[i];
			evp[i] = &ev[i];
		}
		req.events = evp;
		req.n_events = k;
		Peloton__Private__Resmgr__NotifyTaskUpdatesResponse *resp = call(
		    r, r->notifier, RM_SVC "NotifyTaskUpdates", &req.base,
		    &peloton__private__resmgr__notify_task_updates_response__descriptor, CALL_MS);
		ok = resp != NULL;
		if (resp)
			PB_FREE(resp);
	}
	free(ev);
	free(evp);
	free(te);
	free(ids);
	return ok;
}

/*
 * The notifier: batches of up to NOTE_BATCH in queue order; a batch that
 * does not go through stays first in the queue and is tried again a
 * second later. At stop, what is queued gets one more try.
 */
static void *notifier(void *arg)
{
	struct jmremote *r = arg;
	pthread_mutex_lock(&r->nmu);
	for (;;) {
		while (r->n == r->head && !r->nstop)
			pthread_cond_wait(&r->ncv, &r->nmu);
		if (r->n == r->head)
			break; /* stopping, nothing left */
		bool stopping = r->nstop;
		size_t k = r->n - r->head < NOTE_BATCH ? r->n - r->head : NOTE_BATCH;
		/* unlocked, the queue only grows at its end (or is compacted,
		 * which keeps this batch at its front): a copy is sent */
		struct pending_note *batch = malloc(k * sizeof(*batch));
		if (batch != NULL)
			memcpy(batch, r->notes + r->head, k * sizeof(*batch));
		pthread_mutex_unlock(&r->nmu);
		bool ok = batch != NULL && send_notes(r, batch, k);
		free(batch);
		pthread_mutex_lock(&r->nmu);
		if (ok) {
			for (size_t i = 0; i < k; i++)
				free(r->notes[r->head + i].task_id);
			r->head += k;
			r->sent_total += k;
			pthread_cond_broadcast(&r->sent_cv);
			if (r->overflow_logged && r->dropped)
				log_warn("jobmgr",
				         "%llu status notifications were dropped while the "
				         "resource manager did not answer",
				         (unsigned long long)r->dropped);
			r->overflow_logged = false;
			r->dropped = 0;
		} else if (stopping) {
			break;
		} else {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += 1;
			pthread_cond_timedwait(&r->ncv, &r->nmu, &until);
		}
	}
	pthread_mutex_unlock(&r->nmu);
	return NULL;
}

/*
 * A task's state: from the job's active tasks (GetActiveTasks has no task
 * filter), kept as a snapshot for SNAPSHOT_NS and reused for the job's
 * other tasks — a TaskManager List of a large pending job asks once, not
 * once per task. Dropped early when this client kills or enqueues tasks of
 * that job.
 */
static enum taskstate r_task_state(void *arg, const char *task_id)
{
	struct jmremote *r = arg;
	const char *dash = strrchr(task_id, '-');
	size_t jlen = dash ? (size_t)(dash - task_id) : 0;
	if (dash == NULL || jlen >= sizeof(r->sc_job))
		return TASK_UNKNOWN;
	uint64_t now = clock_mono_ns();
	pthread_mutex_lock(&r->sc_mu);
	bool fresh = r->sc_resp && strlen(r->sc_job) == jlen &&
	             strncmp(r->sc_job, task_id, jlen) == 0 && now - r->sc_at_ns < SNAPSHOT_NS;
	if (!fresh) {
		pthread_mutex_unlock(&r->sc_mu);
		char job[sizeof(r->sc_job)];
		memcpy(job, task_id, jlen);
		job[jlen] = 0;
		Peloton__Private__Resmgr__GetActiveTasksRequest req =
		    PELOTON__PRIVATE__RESMGR__GET_ACTIVE_TASKS_REQUEST__INIT;
		req.jobid = job;
		Peloton__Private__Resmgr__GetActiveTasksResponse *resp =
		    call(r, r->cli, RM_SVC "GetActiveTasks", &req.base,
		         &peloton__private__resmgr__get_active_tasks_response__descriptor, CALL_MS);
		state_entry **sorted =
		    resp ? malloc((resp->n_taskstatesmap ? resp->n_taskstatesmap : 1) *
		                  sizeof(*sorted))
		         : NULL;
		if (!sorted) {
			PB_FREE(resp);
			return TASK_UNKNOWN;
		}
		memcpy(sorted, resp->taskstatesmap, resp->n_taskstatesmap * sizeof(*sorted));
		qsort(sorted, resp->n_taskstatesmap, sizeof(*sorted), entry_cmp);
		pthread_mutex_lock(&r->sc_mu);
		snapshot_drop__(r, NULL, 0);
		r->sc_resp = resp;
		r->sc_sorted = sorted;
		r->sc_at_ns = now;
		snprintf(r->sc_job, sizeof(r->sc_job), "%s", job);
	}
	enum taskstate st = TASK_UNKNOWN;
	state_entry **e = bsearch(task_id, r->sc_sorted, r->sc_resp->n_taskstatesmap,
	                          sizeof(*r->sc_sorted), key_cmp);
	for (int k = 0; e && (*e)->value && k < TASK_N_STATES; k++)
		if (strcmp((*e)->value, taskstate_name((enum taskstate)k)) == 0)
			st = (enum taskstate)k;
	pthread_mutex_unlock(&r->sc_mu);
	return st;
}

static char *dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

/* A GetPlacements placement in the core's layout; false on ENOMEM. */
static bool placement_out(const Peloton__Private__Resmgr__Placement *p,
                          struct resmgr_placement_out *o)
{
	*o = (struct resmgr_placement_out){0};
	o->hostname = dup_or_empty(p->hostname);
	o->agent_id = dup_or_empty(p->agentid ? p->agentid->value : NULL);
	o->task_ids = calloc(p->n_tasks ? p->n_tasks : 1, sizeof(*o->task_ids));
	o->ports = calloc(p->n_ports ? p->n_ports : 1, sizeof(*o->ports));
	o->offer_ids = calloc(p->n_offerids ? p->n_offerids : 1, sizeof(*o->offer_ids));
	bool ok = o->hostname && o->agent_id && o->task_ids && o->ports && o->offer_ids;
	for (size_t i = 0; ok && i < p->n_tasks; i++)
		ok = (o->task_ids[o->n_tasks++] =
		          dup_or_empty(p->tasks[i] ? p->tasks[i]->value : NULL)) != NULL;
	for (size_t i = 0; ok && i < p->n_offerids; i++)
		ok = (o->offer_ids[o->n_offer_ids++] =
		          dup_or_empty(p->offerids[i] ? p->offerids[i]->value : NULL)) != NULL;
	if (ok) {
		if (p->n_ports > 0)
			memcpy(o->ports, p->ports, p->n_ports * sizeof(*o->ports));
		o->n_ports = p->n_ports;
	} else {
		resmgr_placement_free(o);
	}
	return ok;
}

static size_t r_get_placements(void *arg, size_t limit, uint64_t timeout_ns,
                               struct resmgr_placement_out *out)
{
	struct jmremote *r = arg;
	Peloton__Private__Resmgr__GetPlacementsRequest req =
	    PELOTON__PRIVATE__RESMGR__GET_PLACEMENTS_REQUEST__INIT;
	req.limit = (uint32_t)(limit > UINT32_MAX ? UINT32_MAX : limit);
	req.timeout = (uint32_t)(timeout_ns / 1000000);
	Peloton__Private__Resmgr__GetPlacementsResponse *resp = call(
	    r, r->placements, RM_SVC "GetPlacements", &req.base,
	    &peloton__private__resmgr__get_placements_response__descriptor, req.timeout + CALL_MS);
	size_t n = 0;
	for (size_t i = 0; resp && i < resp->n_placements && n < limit; i++)
		if (resp->placements[i] && placement_out(resp->placements[i], &out[n]))
			n++;
	/* a placement it could not copy is lost to this launcher: its tasks
	 * come back to READY through the resource manager's LAUNCHING timeout */
	if (resp)
		PB_FREE(resp);
	return n;
}

static size_t r_get_preemptible(void *arg, char **ids, size_t max)
{
	struct jmremote *r = arg;
	Peloton__Private__Resmgr__GetPreemptibleTasksRequest req =
	    PELOTON__PRIVATE__RESMGR__GET_PREEMPTIBLE_TASKS_REQUEST__INIT;
	req.limit = (uint32_t)(max > UINT32_MAX ? UINT32_MAX : max);
	Peloton__Private__Resmgr__GetPreemptibleTasksResponse *resp =
	    call(r, r->preempt, RM_SVC "GetPreemptibleTasks", &req.base,
	         &peloton__private__resmgr__get_preemptible_tasks_response__descriptor, CALL_MS);
	size_t n = 0;
	for (size_t i = 0; resp && i < resp->n_tasks && n < max; i++) {
		const task_pb *t = resp->tasks[i];
		if (t && t->id && t->id->value && (ids[n] = strdup(t->id->value)) != NULL)
			n++;
	}
	if (resp)
		PB_FREE(resp);
	return n;
}

/* --- pools --------------------------------------------------------------------- */

/* GetResourcePool of id: the response (PB_FREE) when the pool exists, else NULL. */
static Peloton__Api__Respool__GetResponse *pool_get(struct jmremote *r, const char *id)
{
	Peloton__Api__Respool__GetRequest req = PELOTON__API__RESPOOL__GET_REQUEST__INIT;
	Peloton__Api__Peloton__ResourcePoolID pid = PELOTON__API__PELOTON__RESOURCE_POOL_ID__INIT;
	pid.value = (char *)id;
	req.id = &pid;
	Peloton__Api__Respool__GetResponse *resp =
	    call(r, r->cli, RP_SVC "GetResourcePool", &req.base,
	         &peloton__api__respool__get_response__descriptor, CALL_MS);
	if (resp && (resp->error || !resp->poolinfo)) {
		PB_FREE(resp);
		resp = NULL;
	}
	return resp;
}

static bool r_pool_is_leaf(void *arg, const char *id)
{
	Peloton__Api__Respool__GetResponse *resp = pool_get(arg, id);
	bool leaf = resp && resp->poolinfo->n_children == 0;
	if (resp)
		PB_FREE(resp);
	return leaf;
}

static int r_pool_path(void *arg, const char *id, char *buf, size_t len)
{
	/* "/a/b" from the names up to the root (the pool without a parent) */
	char path[1024] = "", cur[256];
	snprintf(cur, sizeof(cur), "%s", id);
	for (int depth = 0; depth < MAX_DEPTH; depth++) {
		Peloton__Api__Respool__GetResponse *resp = pool_get(arg, cur);
		if (resp == NULL)
			return -1;
		const Peloton__Api__Respool__ResourcePoolInfo *pi = resp->poolinfo;
		const char *parent = pi->parent && pi->parent->value && pi->parent->value[0]
		                         ? pi->parent->value
		                         : NULL;
		if (parent == NULL) { /* the root */
			PB_FREE(resp);
			snprintf(buf, len, "%s", path[0] ? path : "/");
			return 0;
		}
		char up[1024];
		snprintf(up, sizeof(up), "/%s%s",
		         pi->config && pi->config->name ? pi->config->name : "", path);
		snprintf(path, sizeof(path), "%s", up);
		snprintf(cur, sizeof(cur), "%s", parent);
		PB_FREE(resp);
	}
	return -1;
}

static int r_pool_lookup(void *arg, const char *path, char *id, size_t id_len,
                         struct respool_error *err)
{
	struct jmremote *r = arg;
	Peloton__Api__Respool__LookupRequest req = PELOTON__API__RESPOOL__LOOKUP_REQUEST__INIT;
	Peloton__Api__Respool__ResourcePoolPath p = PELOTON__API__RESPOOL__RESOURCE_POOL_PATH__INIT;
	p.value = (char *)path;
	req.path = &p;
	Peloton__Api__Respool__LookupResponse *resp =
	    call(r, r->cli, RP_SVC "LookupResourcePoolID", &req.base,
	         &peloton__api__respool__lookup_response__descriptor, CALL_MS);
	int rc = -1;
	if (resp == NULL) {
		err->code = RESPOOL_NO_MEMORY;
		snprintf(err->msg, sizeof(err->msg), "the resource manager did not answer");
	} else if (resp->error || !resp->id || !resp->id->value) {
		err->code = resp->error && resp->error->invalidpath ? RESPOOL_INVALID_PATH
		                                                    : RESPOOL_PATH_NOT_FOUND;
		snprintf(err->msg, sizeof(err->msg), "resource pool path %s not found", path);
	} else {
		snprintf(id, id_len, "%s", resp->id->value);
		rc = 0;
	}
	if (resp)
		PB_FREE(resp);
	return rc;
}

struct jobmgr_rm jmremote_ops(struct jmremote *r)
{
	return (struct jobmgr_rm){.enqueue = r_enqueue,
	                          .kill = r_kill,
	                          .notify = r_notify,
	                          .task_state = r_task_state,
	                          .get_placements = r_get_placements,
	                          .get_preemptible = r_get_preemptible,
	                          .pool_is_leaf = r_pool_is_leaf,
	                          .pool_path = r_pool_path,
	                          .pool_lookup = r_pool_lookup,
	                          .came_back = r_came_back,
	                          .arg = r};
}
