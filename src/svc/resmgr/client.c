/*
 * The resource manager over gRPC (resmgr_client, resmgr_seam.h): the job
 * manager's calls and the placement engines' calls of struct resmgr_ops.
 *
 * Job manager side. Failures: a call that cannot be made counts as refused
 * — an enqueue's gangs fail with RM_NO_MEMORY ("internal"), a kill
 * RM_NOT_FOUND, a task's state is TASK_UNKNOWN, no placements, no pools —
 * and is logged (an unreachable daemon once until it answers again).
 * Status notifications are queued (notify returns RM_OK once queued) and a
 * thread of their own sends them in order, up to 1,000 per
 * NotifyTaskUpdates; while the resource manager does not answer they wait
 * and are tried again every second (up to 2^20 queued; newer ones are then
 * dropped, counted and logged). Calls on one connection take turns; the
 * long polls (GetPlacements, GetPreemptibleTasks) and the notifier have
 * connections of their own. An enqueue waits (up to 5 s) for the
 * notifications queued before it, so a relaunch's "lost" reaches the
 * resource manager before the task is enqueued again. A task's state comes
 * from its job's active tasks (GetActiveTasks has no task filter), a
 * snapshot reused for 1 s and dropped when this client kills or enqueues
 * tasks of that job. After an outage the first answer sets came_back: the
 * job manager then enqueues every waiting task again (a restarted resource
 * manager has lost its queues; one that kept them refuses the duplicates).
 *
 * Placement side: one connection per calling thread (an engine's workers
 * call in parallel). Gangs given up on go back with EnqueueGangs (PLACING
 * -> READY, resmgrsvc). TASK-kind constraints count the tasks on a host as
 * the resource manager knows them, whichever engine placed them: one
 * GetTasksByHosts over the hosts an acquire granted (host_tasks_fetch),
 * answered from then on by host_task_count.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "grpccli.h"
#include "resmgr_seam.h"
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

/* One connection: calls on it take turns. */
struct conn {
	struct grpccli *cli;
	/* its last call found the daemon unreachable: logged once until it
	 * answers again (connections reconnect apart) */
	_Atomic bool down;
};

/* One placement worker's connection and its host task labels. */
struct pl_thread {
	struct pl_thread *next;
	struct resmgr_client *owner;
	struct conn rm;
	/* the labels of the tasks on the hosts of the last host_tasks_fetch,
	 * sorted; !live_valid: unknown */
	struct live_label *live;
	size_t n_live;
	bool live_valid;
};

/* One label of one task the resource manager has on a host. */
struct live_label {
	char *host, *label; /* label: "key=value" */
	size_t task;        /* which task of the answer: a task counts once */
};

struct resmgr_client {
	char *target, *module;
	/* the long polls and the notifier get connections of their own */
	struct conn cli, placements, preempt, notifier;
	_Atomic uint64_t calls, failed;
	pthread_mutex_t tmu; /* threads */
	struct pl_thread *threads;
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
static void snapshot_drop__(struct resmgr_client *r, const char *job, size_t jlen)
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
static void snapshot_touch(struct resmgr_client *r, const char *task_id)
{
	const char *dash = strrchr(task_id, '-');
	if (dash == NULL)
		return;
	pthread_mutex_lock(&r->sc_mu);
	snapshot_drop__(r, task_id, (size_t)(dash - task_id));
	pthread_mutex_unlock(&r->sc_mu);
}

static void live_clear(struct pl_thread *t)
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

struct resmgr_client *resmgr_client_create(const char *target, const char *module)
{
	struct resmgr_client *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->target = strdup(target);
	r->module = strdup(module);
	r->cli.cli = grpccli_create(target);
	r->placements.cli = grpccli_create(target);
	r->preempt.cli = grpccli_create(target);
	r->notifier.cli = grpccli_create(target);
	pthread_mutex_init(&r->tmu, NULL);
	pthread_mutex_init(&r->nmu, NULL);
	pthread_mutex_init(&r->sc_mu, NULL);
	clock_cond_init(&r->ncv);
	clock_cond_init(&r->sent_cv);
	if (!r->target || !r->module || !r->cli.cli || !r->placements.cli || !r->preempt.cli ||
	    !r->notifier.cli || pthread_create(&r->nth, NULL, notifier, r) != 0) {
		resmgr_client_destroy(r);
		return NULL;
	}
	pthread_setname_np(r->nth, "rm-client-notify");
	r->nstarted = true;
	return r;
}

void resmgr_client_destroy(struct resmgr_client *r)
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
		log_warn(r->module, "%zu status notifications for the resource manager not sent",
		         r->n - r->head);
	for (size_t i = r->head; i < r->n; i++)
		free(r->notes[i].task_id);
	free(r->notes);
	snapshot_drop__(r, NULL, 0);
	for (struct pl_thread *t = r->threads, *next; t != NULL; t = next) {
		next = t->next;
		grpccli_destroy(t->rm.cli);
		live_clear(t);
		free(t);
	}
	pthread_mutex_destroy(&r->tmu);
	pthread_mutex_destroy(&r->sc_mu);
	pthread_mutex_destroy(&r->nmu);
	pthread_cond_destroy(&r->ncv);
	pthread_cond_destroy(&r->sent_cv);
	grpccli_destroy(r->cli.cli);
	grpccli_destroy(r->placements.cli);
	grpccli_destroy(r->preempt.cli);
	grpccli_destroy(r->notifier.cli);
	free(r->target);
	free(r->module);
	free(r);
}

void resmgr_client_counts(struct resmgr_client *r, uint64_t *calls, uint64_t *failed)
{
	*calls = atomic_load(&r->calls);
	*failed = atomic_load(&r->failed);
}

void resmgr_client_write_metrics(struct resmgr_client *r, FILE *f)
{
	pthread_mutex_lock(&r->nmu);
	size_t queued = r->n - r->head;
	uint64_t dropped = r->dropped;
	pthread_mutex_unlock(&r->nmu);
	fprintf(f,
	        "# HELP peloton_%s_resmgr_calls_total gRPC calls to the resource manager apart.\n"
	        "# TYPE peloton_%s_resmgr_calls_total counter\n"
	        "peloton_%s_resmgr_calls_total{result=\"sent\"} %llu\n"
	        "peloton_%s_resmgr_calls_total{result=\"failed\"} %llu\n",
	        r->module, r->module, r->module, (unsigned long long)atomic_load(&r->calls),
	        r->module, (unsigned long long)atomic_load(&r->failed));
	fprintf(f,
	        "# HELP peloton_%s_resmgr_notes_queued Status notifications waiting for the "
	        "resource manager apart.\n"
	        "# TYPE peloton_%s_resmgr_notes_queued gauge\n"
	        "peloton_%s_resmgr_notes_queued %zu\n"
	        "# HELP peloton_%s_resmgr_notes_dropped Notifications dropped since the queue "
	        "(2^20) was last full.\n"
	        "# TYPE peloton_%s_resmgr_notes_dropped gauge\n"
	        "peloton_%s_resmgr_notes_dropped %llu\n",
	        r->module, r->module, r->module, queued, r->module, r->module, r->module,
	        (unsigned long long)dropped);
}

/* One unary call; the decoded response (free with PB_FREE), or NULL (logged). */
static void *call(struct resmgr_client *r, struct conn *c, const char *path,
                  const ProtobufCMessage *req, const ProtobufCMessageDescriptor *rd,
                  unsigned timeout_ms)
{
	const struct grpccli_watch w = {r->module, "the resource manager", &r->calls, &r->failed};
	bool was_down = atomic_load(&c->down);
	void *m = grpccli_call_watched(c->cli, &c->down, &w, path, req, rd, timeout_ms);
	if (m && was_down)
		atomic_store(&r->came_back, true);
	return m;
}

static bool r_came_back(void *arg)
{
	struct resmgr_client *r = arg;
	return atomic_exchange(&r->came_back, false);
}

/* --- tasks ------------------------------------------------------------------- */

/* Waits (up to CALL_MS) until the notes queued so far are sent. */
static void notes_flushed(struct resmgr_client *r)
{
	uint64_t until = clock_mono_ns() + CALL_MS * 1000000ull;
	pthread_mutex_lock(&r->nmu);
	uint64_t want = r->queued_total;
	while (r->sent_total < want && !r->nstop)
		if (clock_cond_wait(&r->sent_cv, &r->nmu, until) != 0)
			break; /* not answering: the enqueue goes anyway (and may be refused) */
	pthread_mutex_unlock(&r->nmu);
}

/* One EnqueueGangs call for the gangs (all of them fit one request). */
static size_t enqueue_call(struct resmgr_client *r, const char *pool_id,
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
		resp = call(r, &r->cli, RM_SVC "EnqueueGangs", &req.base,
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
					gf = resmgr_fail_parse(f->failed[x]->message);
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
	struct resmgr_client *r = arg;
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
	struct resmgr_client *r = arg;
	snapshot_touch(r, task_id);
	Peloton__Private__Resmgr__KillTasksRequest req =
	    PELOTON__PRIVATE__RESMGR__KILL_TASKS_REQUEST__INIT;
	task_id_pb id = PELOTON__API__PELOTON__TASK_ID__INIT, *ids[1] = {&id};
	id.value = (char *)task_id;
	req.tasks = ids;
	req.n_tasks = 1;
	Peloton__Private__Resmgr__KillTasksResponse *resp =
	    call(r, &r->cli, RM_SVC "KillTasks", &req.base,
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
	struct resmgr_client *r = arg;
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
			log_warn(r->module,
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
static bool send_notes(struct resmgr_client *r, const struct pending_note *notes, size_t k)
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
		    r, &r->notifier, RM_SVC "NotifyTaskUpdates", &req.base,
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
	struct resmgr_client *r = arg;
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
				log_warn(r->module,
				         "%llu status notifications were dropped while the "
				         "resource manager did not answer",
				         (unsigned long long)r->dropped);
			r->overflow_logged = false;
			r->dropped = 0;
		} else if (stopping) {
			break;
		} else {
			clock_cond_wait(&r->ncv, &r->nmu, clock_mono_ns() + NOTE_RETRY_NS);
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
	struct resmgr_client *r = arg;
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
		    call(r, &r->cli, RM_SVC "GetActiveTasks", &req.base,
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
		/* its age counts from its arrival: a large job's answer may take
		 * longer than SNAPSHOT_NS to come, and would be stale at once
		 * (every lookup a new call: 1,000 lookups, 1,000 calls) */
		r->sc_at_ns = clock_mono_ns();
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
	struct resmgr_client *r = arg;
	Peloton__Private__Resmgr__GetPlacementsRequest req =
	    PELOTON__PRIVATE__RESMGR__GET_PLACEMENTS_REQUEST__INIT;
	req.limit = (uint32_t)(limit > UINT32_MAX ? UINT32_MAX : limit);
	req.timeout = (uint32_t)(timeout_ns / 1000000);
	Peloton__Private__Resmgr__GetPlacementsResponse *resp = call(
	    r, &r->placements, RM_SVC "GetPlacements", &req.base,
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
	struct resmgr_client *r = arg;
	Peloton__Private__Resmgr__GetPreemptibleTasksRequest req =
	    PELOTON__PRIVATE__RESMGR__GET_PREEMPTIBLE_TASKS_REQUEST__INIT;
	req.limit = (uint32_t)(max > UINT32_MAX ? UINT32_MAX : max);
	Peloton__Private__Resmgr__GetPreemptibleTasksResponse *resp =
	    call(r, &r->preempt, RM_SVC "GetPreemptibleTasks", &req.base,
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
static Peloton__Api__Respool__GetResponse *pool_get(struct resmgr_client *r, const char *id)
{
	Peloton__Api__Respool__GetRequest req = PELOTON__API__RESPOOL__GET_REQUEST__INIT;
	Peloton__Api__Peloton__ResourcePoolID pid = PELOTON__API__PELOTON__RESOURCE_POOL_ID__INIT;
	pid.value = (char *)id;
	req.id = &pid;
	Peloton__Api__Respool__GetResponse *resp =
	    call(r, &r->cli, RP_SVC "GetResourcePool", &req.base,
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

static int r_pool_lookup(void *arg, const char *path, char *id, size_t id_len, char *err,
                         size_t errlen)
{
	struct resmgr_client *r = arg;
	Peloton__Api__Respool__LookupRequest req = PELOTON__API__RESPOOL__LOOKUP_REQUEST__INIT;
	Peloton__Api__Respool__ResourcePoolPath p = PELOTON__API__RESPOOL__RESOURCE_POOL_PATH__INIT;
	p.value = (char *)path;
	req.path = &p;
	Peloton__Api__Respool__LookupResponse *resp =
	    call(r, &r->cli, RP_SVC "LookupResourcePoolID", &req.base,
	         &peloton__api__respool__lookup_response__descriptor, CALL_MS);
	int rc = -1;
	if (resp == NULL) {
		snprintf(err, errlen, "the resource manager did not answer");
	} else if (resp->error || !resp->id || !resp->id->value) {
		snprintf(err, errlen, "resource pool path %s %s", path,
		         resp->error && resp->error->invalidpath ? "is not valid" : "not found");
	} else {
		snprintf(id, id_len, "%s", resp->id->value);
		rc = 0;
	}
	if (resp)
		PB_FREE(resp);
	return rc;
}

/* --- the placement engines' calls ------------------------------------------------ */

static __thread struct pl_thread *tls;

/* The calling thread's connection (made on its first call); NULL on ENOMEM. */
static struct pl_thread *thr(struct resmgr_client *r)
{
	if (tls != NULL && tls->owner == r)
		return tls;
	struct pl_thread *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->owner = r;
	t->rm.cli = grpccli_create(r->target);
	pthread_mutex_lock(&r->tmu);
	t->next = r->threads; /* freed with r, even half made */
	r->threads = t;
	pthread_mutex_unlock(&r->tmu);
	if (!t->rm.cli)
		return NULL;
	tls = t;
	return t;
}

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
	struct pl_thread *t = thr(arg);
	Peloton__Private__Resmgr__DequeueGangsRequest req =
	    PELOTON__PRIVATE__RESMGR__DEQUEUE_GANGS_REQUEST__INIT;
	req.limit = (uint32_t)limit;
	req.timeout = (uint32_t)(timeout_ns / 1000000);
	Peloton__Private__Resmgr__DequeueGangsResponse *resp =
	    t ? (void *)call(t->owner, &t->rm, RM_SVC "DequeueGangs", &req.base,
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
			log_error(t ? t->owner->module : "placement",
			          "a dequeued gang is malformed or out of memory: "
			          "skipped (the PLACING timeout brings it back)");
	PB_FREE(resp);
	return n;
}

static size_t r_set_placements(void *arg, const struct resmgr_placement *p, size_t n,
                               enum resmgr_fail *fail)
{
	struct pl_thread *t = thr(arg);
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
	    (void *)call(t->owner, &t->rm, RM_SVC "SetPlacements", &req.base,
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
				log_info(t->owner->module, "SetPlacements refused %s: %s",
				         p[i].hostname,
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
	struct pl_thread *t = thr(arg);
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
		    call(t->owner, &t->rm, RM_SVC "EnqueueGangs", &req.base,
		         &peloton__private__resmgr__enqueue_gangs_response__descriptor, CALL_MS);
		if (resp != NULL)
			PB_FREE(resp);
	} else {
		log_warn(t ? t->owner->module : "placement",
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
 * host_tasks_fetch got for the hosts an acquire granted (the only hosts an
 * engine decides over). Without one (the call failed) the engine counts
 * its own.
 */
static int r_host_task_count(void *arg, const char *host, const char *label, uint32_t *n)
{
	struct pl_thread *t = thr(arg);
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

/* The labels of the resource manager's tasks on `hosts`. */
static void r_host_tasks_fetch(void *arg, const char *const *hosts, size_t n)
{
	struct pl_thread *t = thr(arg);
	if (t == NULL)
		return;
	live_clear(t);
	Peloton__Private__Resmgr__GetTasksByHostsRequest req =
	    PELOTON__PRIVATE__RESMGR__GET_TASKS_BY_HOSTS_REQUEST__INIT;
	req.hostnames = (char **)hosts;
	req.n_hostnames = n;
	Peloton__Private__Resmgr__GetTasksByHostsResponse *resp = (void *)call(
	    t->owner, &t->rm, RM_SVC "GetTasksByHosts", &req.base,
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

struct resmgr_ops resmgr_client_ops(struct resmgr_client *r)
{
	return (struct resmgr_ops){.enqueue = r_enqueue,
	                           .kill = r_kill,
	                           .notify = r_notify,
	                           .task_state = r_task_state,
	                           .get_placements = r_get_placements,
	                           .get_preemptible = r_get_preemptible,
	                           .pool_is_leaf = r_pool_is_leaf,
	                           .pool_path = r_pool_path,
	                           .pool_lookup = r_pool_lookup,
	                           .came_back = r_came_back,
	                           .dequeue = r_dequeue,
	                           .set_placements = r_set_placements,
	                           .return_tasks = r_return_tasks,
	                           .host_task_count = r_host_task_count,
	                           .host_tasks_fetch = r_host_tasks_fetch,
	                           .arg = r};
}
