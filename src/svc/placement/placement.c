/* Placement engine: worker rounds from ready gangs to placements; see placement.h. */
#define _GNU_SOURCE /* pthread_setname_np */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <urcu.h>

#include "hostfilter.h"
#include "htab.h"
#include "pjson.h"
#include "clock.h"
#include "hist.h"
#include "log.h"
#include "placement.h"
#include "proto_codec.h"
#include "peloton/private/resmgr/resmgr.pb-c.h"

#define MAX_GROUP 4096 /* tasks per acquire */

typedef Peloton__Private__Resmgr__Task task_pb;

/* One task of a gang being placed. */
struct ptask {
	const char *id;        /* borrowed from the gang_out */
	struct hostfilter flt; /* resources, ports, constraint */
	uint8_t *key;          /* packed HostFilter: tasks with equal keys share a shape */
	size_t key_len;
	struct hostmatch_label *labels; /* the task's own labels ("key=value") */
	char **label_texts;
	uint32_t n_labels;
	enum place_strategy strategy; /* the engine's, or the task's STRATEGY_LABEL */
	bool bad;
	/* result */
	int32_t lease; /* index into the round's leases, -1 if not placed */
	uint32_t *ports;
};

/* A gang held between attempts. */
struct held_gang {
	struct held_gang *next;
	struct resmgr_gang_out g;
	struct ptask *tasks;
	uint32_t attempts;
	uint64_t due_ns;
};

/* Tasks this engine placed on one host (for TASK-kind constraints). */
struct host_tasks {
	char *hostname; /* first: the table's key (htab.h) */
	char **task_ids;
	struct hostmatch_label **labels; /* per task, n_labels[i] each */
	uint32_t *n_labels;
	size_t n, cap;
};

struct why_entry {
	const char *id; /* first: the table's key (htab.h); points at buf */
	struct placement_why w;
	char buf[];
};

struct placement {
	struct placement_config cfg;
	pthread_mutex_t mu; /* held list, why table, host_tasks */
	struct held_gang *held;
	struct htab why; /* why_entry by task id */
	struct htab ht;  /* host_tasks by hostname */
	pthread_t *threads;
	unsigned n_threads;
	_Atomic int stop;
	_Atomic uint64_t rounds, placed, retried, handed_back, acquired;
	struct hist round_time; /* rounds that had work, collect to commit */
};

static uint64_t mono_ns(void *arg)
{
	struct timespec ts;
	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t now(struct placement *pl)
{
	return pl->cfg.now(pl->cfg.now_arg);
}

struct placement *placement_create(const struct placement_config *cfg)
{
	struct placement *pl;

	if (cfg == NULL || !cfg->rm.dequeue || !cfg->rm.set_placements || !cfg->rm.return_tasks ||
	    !cfg->rm.task_state || !cfg->hosts.acquire || !cfg->hosts.release ||
	    !cfg->hosts.consume_all) {
		errno = EINVAL;
		return NULL;
	}
	pl = calloc(1, sizeof(*pl));
	if (pl == NULL)
		return NULL;
	if (htab_init(&pl->why, HTAB_KEY_POINTER, 1024) != 0) {
		free(pl);
		return NULL;
	}
	if (htab_init(&pl->ht, HTAB_KEY_POINTER, 1024) != 0) {
		htab_fini(&pl->why);
		free(pl);
		return NULL;
	}
	pl->cfg = *cfg;
	if (!pl->cfg.workers)
		pl->cfg.workers = 2;
	/* 64: a round's fixed costs (dequeue, set placements, one consume per
	 * host) spread over more tasks, and more tasks per host per ACCEPT
	 * (bench_e2e, 100k tasks: 10 -> 64 took time to RUNNING 4.6 -> 4.0 s) */
	if (!pl->cfg.batch)
		pl->cfg.batch = 64;
	if (!pl->cfg.dequeue_timeout_ns)
		pl->cfg.dequeue_timeout_ns = 100000000ull;
	if (!pl->cfg.max_rounds)
		pl->cfg.max_rounds = 3;
	if (!pl->cfg.backoff_ns)
		pl->cfg.backoff_ns = 100000000ull;
	if (!pl->cfg.now)
		pl->cfg.now = mono_ns;
	pthread_mutex_init(&pl->mu, NULL);
	return pl;
}

/* --- task decoding ------------------------------------------------------------ */

static void ptask_fini(struct ptask *t)
{
	hostfilter_fini(&t->flt);
	free(t->key);
	for (uint32_t i = 0; i < t->n_labels; i++)
		free(t->label_texts[i]);
	free(t->label_texts);
	free(t->labels);
	free(t->ports);
}

/* Copies the task's labels as "key=value" texts; notes a strategy override. */
static void ptask_labels(struct ptask *t, const Mesos__V1__Labels *labels)
{
	if (labels == NULL || labels->n_labels == 0)
		return;
	uint32_t n = (uint32_t)labels->n_labels;
	t->labels = calloc(n, sizeof(*t->labels));
	t->label_texts = calloc(n, sizeof(char *));
	for (uint32_t i = 0; t->labels && t->label_texts && i < n; i++) {
		const Mesos__V1__Label *l = labels->labels[i];
		const char *v = l->value ? l->value : "";
		if (strcmp(l->key, PLACEMENT_STRATEGY_LABEL) == 0) {
			if (strcmp(v, "spread") == 0)
				t->strategy = PLACE_SPREAD;
			else if (strcmp(v, "pack") == 0)
				t->strategy = PLACE_PACK;
			else
				log_warn("placement", "task %s: unknown %s \"%s\" (pack or spread)",
				         t->id, PLACEMENT_STRATEGY_LABEL, v);
		}
		size_t sz = strlen(l->key) + strlen(v) + 2;
		char *txt = malloc(sz);
		if (txt == NULL)
			break;
		snprintf(txt, sz, "%s=%s", l->key, v);
		t->label_texts[t->n_labels] = txt;
		t->labels[t->n_labels] = (struct hostmatch_label){hostmatch_label_hash(txt), txt};
		t->n_labels++;
	}
}

/* Builds the task's filter and labels from its resmgr.Task payload. */
static void ptask_init(struct ptask *t, const char *id, const void *payload, size_t len,
                       enum place_strategy strategy)
{
	char err[128];
	memset(t, 0, sizeof(*t));
	t->id = id;
	t->lease = -1;
	t->strategy = strategy;
	task_pb *task = payload
	                    ? (task_pb *)protobuf_c_message_unpack(
	                          &peloton__private__resmgr__task__descriptor, NULL, len, payload)
	                    : NULL;
	if (task == NULL) {
		t->bad = true;
		return;
	}
	Peloton__Private__Hostmgr__Hostsvc__HostFilter f =
	    PELOTON__PRIVATE__HOSTMGR__HOSTSVC__HOST_FILTER__INIT;
	Peloton__Private__Hostmgr__Hostsvc__ResourceConstraint rc =
	    PELOTON__PRIVATE__HOSTMGR__HOSTSVC__RESOURCE_CONSTRAINT__INIT;
	/* a stateful task whose volume exists runs on what is reserved for it on
	 * its host (the constraint names the volume): no unreserved resources but
	 * ports (the host index counts unreserved ones only) */
	Peloton__Api__Task__ResourceConfig none = PELOTON__API__TASK__RESOURCE_CONFIG__INIT;
	bool reserved = task->type == PELOTON__PRIVATE__RESMGR__TASK_TYPE__STATEFUL &&
	                task->hostname && task->hostname[0];
	rc.minimum = reserved ? &none : task->resource;
	rc.numports = task->numports;
	f.resourceconstraint = &rc;
	f.schedulingconstraint = task->constraint;
	t->key = proto_pack_alloc(&f.base, &t->key_len);
	t->bad = t->key == NULL || hostfilter_from_pb(&f, &t->flt, err, sizeof(err)) != 0;
	ptask_labels(t, task->labels);
	protobuf_c_message_free_unpacked(&task->base, NULL);
}

static bool same_shape(const struct ptask *a, const struct ptask *b)
{
	if (a->key_len != b->key_len || memcmp(a->key, b->key, a->key_len) != 0 ||
	    a->n_labels != b->n_labels || a->strategy != b->strategy)
		return false;
	/* TASK-kind constraints count a shape's labels: they must agree */
	for (uint32_t i = 0; i < a->n_labels; i++)
		if (a->labels[i].hash != b->labels[i].hash ||
		    strcmp(a->labels[i].text, b->labels[i].text) != 0)
			return false;
	return true;
}

/* --- tasks per host (TASK-kind constraints) ---------------------------------- */

static struct host_tasks *ht_find(struct placement *pl, const char *host, bool create)
{
	struct host_tasks *h = htab_get(&pl->ht, host);
	if (h != NULL || !create)
		return h;
	h = calloc(1, sizeof(*h));
	if (h == NULL || (h->hostname = strdup(host)) == NULL || htab_put(&pl->ht, h) != 0) {
		if (h)
			free(h->hostname);
		free(h);
		return NULL;
	}
	return h;
}

/* Records a placed task with labels on host (under pl->mu). */
static void ht_add(struct placement *pl, const char *host, const struct ptask *t)
{
	struct host_tasks *h = ht_find(pl, host, true);
	if (h == NULL)
		return;
	if (h->n == h->cap) {
		size_t nc = h->cap ? h->cap * 2 : 8;
		char **ids = realloc(h->task_ids, nc * sizeof(*ids));
		if (ids)
			h->task_ids = ids;
		struct hostmatch_label **ls = realloc(h->labels, nc * sizeof(*ls));
		if (ls)
			h->labels = ls;
		uint32_t *ns = realloc(h->n_labels, nc * sizeof(*ns));
		if (ns)
			h->n_labels = ns;
		if (!ids || !ls || !ns)
			return;
		h->cap = nc;
	}
	struct hostmatch_label *copy = calloc(t->n_labels, sizeof(*copy));
	char *id = strdup(t->id);
	if (copy == NULL || id == NULL) {
		free(copy);
		free(id);
		return;
	}
	for (uint32_t i = 0; i < t->n_labels; i++)
		copy[i] = (struct hostmatch_label){t->labels[i].hash, strdup(t->labels[i].text)};
	h->task_ids[h->n] = id;
	h->labels[h->n] = copy;
	h->n_labels[h->n] = t->n_labels;
	h->n++;
}

struct ht_ctx {
	struct placement *pl;
	const char *host;
};

/*
 * Live tasks on the host carrying `label`: the backend's count if it has
 * one, else those this engine placed (dropping finished ones as it goes).
 */
static uint32_t ht_count(void *arg, const struct hostmatch_label *label)
{
	struct ht_ctx *c = arg;
	uint32_t n = 0;

	const struct resmgr_ops *rm = &c->pl->cfg.rm;
	/* apart, the resource manager counts every engine's tasks; when it
	 * cannot, ours count, all as alive (a host refused, not over-filled) */
	bool ask = rm->host_task_count == NULL;
	if (!ask && rm->host_task_count(rm->arg, c->host, label->text, &n) == 0)
		return n;
	pthread_mutex_lock(&c->pl->mu);
	struct host_tasks *h = ht_find(c->pl, c->host, false);
	for (size_t i = 0; h != NULL && i < h->n;) {
		enum taskstate st = ask ? rm->task_state(rm->arg, h->task_ids[i]) : TASK_RUNNING;
		if (st == TASK_UNKNOWN || taskstate_terminal(st)) {
			for (uint32_t k = 0; k < h->n_labels[i]; k++)
				free((char *)h->labels[i][k].text);
			free(h->labels[i]);
			free(h->task_ids[i]);
			h->n--;
			h->task_ids[i] = h->task_ids[h->n];
			h->labels[i] = h->labels[h->n];
			h->n_labels[i] = h->n_labels[h->n];
			continue;
		}
		for (uint32_t k = 0; k < h->n_labels[i]; k++)
			if (h->labels[i][k].hash == label->hash &&
			    strcmp(h->labels[i][k].text, label->text) == 0) {
				n++;
				break;
			}
		i++;
	}
	pthread_mutex_unlock(&c->pl->mu);
	return n;
}

/* --- why pending -------------------------------------------------------------- */

static void why_note(struct placement *pl, const char *id, const uint32_t *counts, uint64_t t,
                     bool handed_back)
{
	pthread_mutex_lock(&pl->mu);
	struct why_entry *e = htab_get(&pl->why, id);
	if (e == NULL && (e = calloc(1, sizeof(*e) + strlen(id) + 1)) != NULL) {
		strcpy(e->buf, id);
		e->id = e->buf;
		if (htab_put(&pl->why, e) != 0) {
			free(e);
			e = NULL;
		}
	}
	if (e != NULL) {
		e->w.attempts++;
		e->w.last_attempt_ns = t;
		memcpy(e->w.counts, counts, sizeof(e->w.counts));
		e->w.handed_back = handed_back;
	}
	pthread_mutex_unlock(&pl->mu);
}

static void why_forget(struct placement *pl, const char *id)
{
	pthread_mutex_lock(&pl->mu);
	free(htab_del(&pl->why, id));
	pthread_mutex_unlock(&pl->mu);
}

int placement_why(struct placement *pl, const char *task_id, struct placement_why *out)
{
	pthread_mutex_lock(&pl->mu);
	const struct why_entry *e = htab_get(&pl->why, task_id);
	if (e != NULL)
		*out = e->w;
	pthread_mutex_unlock(&pl->mu);
	return e != NULL ? 0 : -1;
}

void placement_unplaceable(struct placement *pl, uint64_t out[PLREASON_N])
{
	memset(out, 0, PLREASON_N * sizeof(out[0]));
	pthread_mutex_lock(&pl->mu);
	struct htab_iter it;
	htab_iter_init(&it);
	for (const struct why_entry *e; (e = htab_next(&pl->why, &it)) != NULL;) {
		int best = -1;
		for (int r = 0; r < PLREASON_N; r++)
			if (r != HOSTMATCH_UNKNOWN && r != HOSTMATCH_MATCH &&
			    r != HOSTMATCH_MISMATCH_MAX_HOST_LIMIT && e->w.counts[r] &&
			    (best < 0 || e->w.counts[r] > e->w.counts[best]))
				best = r;
		if (best >= 0)
			out[best]++;
	}
	pthread_mutex_unlock(&pl->mu);
}

const char *placement_reason_name(int r)
{
	static const char *const names[PLREASON_N] = {
	    [HOSTMATCH_MATCH] = "match",
	    [HOSTMATCH_INSUFFICIENT_RESOURCES] = "insufficient_resources",
	    [HOSTMATCH_MISMATCH_CONSTRAINTS] = "constraint_mismatch",
	    [HOSTMATCH_MISMATCH_GPU] = "gpu_hosts_reserved",
	    [HOSTMATCH_MISMATCH_STATUS] = "held_by_another_placement",
	    [HOSTMATCH_MISMATCH_MAX_HOST_LIMIT] = "not_examined",
	    [HOSTMATCH_NO_OFFER] = "no_offer",
	    [PLREASON_GANG_INCOMPLETE] = "gang_incomplete",
	    [PLREASON_BAD_TASK] = "invalid_task",
	};
	return r >= 0 && r < PLREASON_N && names[r] ? names[r] : "unknown";
}

void placement_why_render(const struct placement_why *w, char *buf, size_t len)
{
	static const char *const names[PLREASON_N] = {
	    [HOSTMATCH_INSUFFICIENT_RESOURCES] = "insufficient resources",
	    [HOSTMATCH_MISMATCH_CONSTRAINTS] = "constraint mismatch",
	    [HOSTMATCH_MISMATCH_GPU] = "GPU hosts reserved for GPU tasks",
	    [HOSTMATCH_MISMATCH_STATUS] = "held by another placement",
	    [HOSTMATCH_MISMATCH_MAX_HOST_LIMIT] = "not examined (enough hosts found)",
	    [HOSTMATCH_NO_OFFER] = "no offer",
	    [PLREASON_GANG_INCOMPLETE] = "gang incomplete",
	    [PLREASON_BAD_TASK] = "invalid task",
	};
	uint32_t total = 0;
	size_t n;

	for (int i = 1; i < PLREASON_N; i++)
		if (i != PLREASON_GANG_INCOMPLETE && i != PLREASON_BAD_TASK)
			total += w->counts[i];
	n = (size_t)snprintf(buf, len, "%u/%u hosts", w->counts[HOSTMATCH_MATCH], total);
	const char *sep = ": ";
	for (int i = 2; i < PLREASON_N && n < len; i++) {
		if (w->counts[i] == 0 || names[i] == NULL)
			continue;
		n += (size_t)snprintf(buf + n, len - n, "%s%u %s", sep, w->counts[i], names[i]);
		sep = ", ";
	}
	if (n < len)
		snprintf(buf + n, len - n, " (attempt %u%s)", w->attempts,
		         w->handed_back ? ", handed back to the resource manager" : "");
}

void placement_get_stats(struct placement *pl, struct placement_stats *out)
{
	*out = (struct placement_stats){
	    .rounds = atomic_load(&pl->rounds),
	    .placed = atomic_load(&pl->placed),
	    .retried = atomic_load(&pl->retried),
	    .handed_back = atomic_load(&pl->handed_back),
	    .acquired_hosts = atomic_load(&pl->acquired),
	};
}

/* --- explain (dry run) -------------------------------------------------------- */

struct explain_ctx {
	struct placement *pl;
	const struct place_shape *shape;
	struct placement_explain *out;
	int err;
};

/* Runs the decision over every matching host, inside the index's read section. */
static void explain_hosts(void *arg, const struct hostidx_peek_host *ph, size_t n)
{
	struct explain_ctx *c = arg;
	struct placement_explain *e = c->out;
	uint32_t np = c->shape->num_ports;
	bool task_leaves = hostmatch_has_task_leaves(c->shape->constraint);
	struct place_host *hosts = calloc(n ? n : 1, sizeof(*hosts));
	struct ht_ctx *ctx = calloc(n ? n : 1, sizeof(*ctx));
	uint32_t *order = calloc(n ? n : 1, sizeof(*order));
	int32_t *host_of = calloc(e->requested, sizeof(*host_of));
	uint32_t *ports = calloc((size_t)e->requested * (np ? np : 1), sizeof(uint32_t));
	e->slots = calloc(e->requested, sizeof(*e->slots));
	if (!hosts || !ctx || !order || !host_of || !ports || !e->slots) {
		c->err = ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		hosts[i] = (struct place_host){.free = ph[i].view->free,
		                               .ranges = ph[i].ranges,
		                               .n_ranges = ph[i].n_ranges,
		                               .labels = ph[i].view->labels,
		                               .n_labels = ph[i].view->n_labels};
		if (task_leaves) {
			ctx[i] = (struct ht_ctx){c->pl, ph[i].hostname};
			hosts[i].task_count = ht_count;
			hosts[i].task_count_arg = &ctx[i];
		}
	}
	size_t got =
	    place_assign(c->shape, e->requested, hosts, n, e->strategy, order, host_of, ports);
	for (size_t i = 0; i < e->requested && got > 0; i++) {
		if (host_of[i] < 0)
			continue;
		struct placement_slot *sl = &e->slots[e->placed];
		sl->hostname = strdup(ph[host_of[i]].hostname);
		sl->ports = np ? malloc(np * sizeof(uint32_t)) : NULL;
		if (sl->hostname == NULL || (np && sl->ports == NULL)) {
			free(sl->hostname);
			free(sl->ports);
			c->err = ENOMEM;
			break;
		}
		if (np)
			memcpy(sl->ports, ports + i * np, np * sizeof(uint32_t));
		e->placed++;
	}
out:
	free(hosts);
	free(ctx);
	free(order);
	free(host_of);
	free(ports);
}

int placement_explain(struct placement *pl, const void *task, size_t len, uint32_t count,
                      struct placement_explain *out, char *err, size_t errlen)
{
	struct ptask t;
	const char *why;

	memset(out, 0, sizeof(*out));
	if (count == 0 || count > 1000000) {
		snprintf(err, errlen, "count must be 1..1000000, not %u", count);
		return -1;
	}
	ptask_init(&t, "explain", task, len, pl->cfg.strategy);
	if (t.bad) {
		ptask_fini(&t);
		snprintf(err, errlen, "the task does not decode to a valid resmgr.Task filter");
		return -1;
	}
	struct place_shape shape = {.res = t.flt.f.min,
	                            .num_ports = t.flt.f.num_ports,
	                            .constraint = t.flt.f.constraint,
	                            .labels = t.labels,
	                            .n_labels = t.n_labels};
	out->requested = count;
	out->num_ports = shape.num_ports;
	out->strategy = t.strategy;
	struct explain_ctx c = {pl, &shape, out, 0};
	if (pl->cfg.idx == NULL) {
		ptask_fini(&t);
		snprintf(err, errlen,
		         "this placement engine reaches its hosts over gRPC: no local "
		         "view to explain from");
		return -1;
	}
	int rc = hostidx_peek(pl->cfg.idx, &t.flt.f, out->counts, explain_hosts, &c, &why);
	ptask_fini(&t);
	if (rc != 0 || c.err != 0) {
		snprintf(err, errlen, "%s", rc != 0 && why ? why : strerror(c.err ? c.err : errno));
		placement_explain_fini(out);
		return -1;
	}
	return 0;
}

void placement_explain_fini(struct placement_explain *e)
{
	for (uint32_t i = 0; e->slots && i < e->placed; i++) {
		free(e->slots[i].hostname);
		free(e->slots[i].ports);
	}
	free(e->slots);
	memset(e, 0, sizeof(*e));
}

/* --- a round ------------------------------------------------------------------ */

/* A gang in this round. */
struct unit {
	struct held_gang *h; /* owns the gang_out and ptasks */
	bool placed;
};

/* Tasks of one shape acquired and decided together. */
struct group {
	struct ptask *rep;
	struct ptask **members;
	size_t n, cap;
	struct unit **units; /* the unit of each member */
	struct hostidx_lease *leases;
	uint32_t n_leases;
	uint32_t counts[HOSTMATCH_N_RESULTS];
	struct place_host *hosts;
};

static void held_free(struct held_gang *h)
{
	for (size_t i = 0; h->tasks && i < h->g.n_tasks; i++)
		ptask_fini(&h->tasks[i]);
	free(h->tasks);
	resmgr_gang_free(&h->g);
	free(h);
}

static bool group_add(struct group *g, struct ptask *t, struct unit *u)
{
	if (g->n == g->cap) {
		size_t nc = g->cap ? g->cap * 2 : 16;
		struct ptask **m = realloc(g->members, nc * sizeof(*m));
		if (m == NULL)
			return false;
		g->members = m;
		struct unit **us = realloc(g->units, nc * sizeof(*us));
		if (us == NULL)
			return false;
		g->units = us;
		g->cap = nc;
	}
	g->members[g->n] = t;
	g->units[g->n] = u;
	g->n++;
	return true;
}

/* Fills place_host records for leases [from, to) of g. */
static void hosts_from_leases(struct placement *pl, struct group *g, uint32_t from, uint32_t to,
                              struct ht_ctx *ctx, bool task_leaves)
{
	const struct resmgr_ops *rm = &pl->cfg.rm;
	if (task_leaves && rm->host_tasks_fetch) {
		/* the resource manager apart counts these hosts' tasks */
		const char **names = malloc((to - from ? to - from : 1) * sizeof(*names));
		for (uint32_t i = from; names && i < to; i++)
			names[i - from] = hostidx_lease_hostname(&g->leases[i]);
		if (names)
			rm->host_tasks_fetch(rm->arg, names, to - from);
		free(names);
	}
	for (uint32_t i = from; i < to; i++) {
		const struct hostmatch_host *v = hostidx_lease_view(&g->leases[i]);
		struct place_host *h = &g->hosts[i];
		*h = (struct place_host){
		    .free = v->free, .labels = v->labels, .n_labels = v->n_labels};
		h->n_ranges = hostidx_lease_ranges(&g->leases[i], &h->ranges);
		if (task_leaves) {
			ctx[i] = (struct ht_ctx){pl, hostidx_lease_hostname(&g->leases[i])};
			h->task_count = ht_count;
			h->task_count_arg = &ctx[i];
		}
	}
}

/*
 * Acquires hosts for the group and decides; members get lease indexes and
 * ports. Hosts are acquired in passes sized by what the previous pass
 * learned: one host first, then as many as the remaining tasks need at the
 * observed tasks-per-host, so a group of small tasks does not claim (and
 * then release) a host per task.
 */
static void group_decide(struct placement *pl, struct group *g)
{
	const char *why;
	struct ptask *rep = g->rep;
	uint32_t cap = g->n < MAX_GROUP ? (uint32_t)g->n : MAX_GROUP;
	uint32_t np = rep->flt.f.num_ports;
	enum hostidx_order ord = rep->strategy == PLACE_SPREAD ? HOSTIDX_SPREAD : HOSTIDX_PACK;
	bool task_leaves = hostmatch_has_task_leaves(rep->flt.f.constraint);
	struct place_shape shape = {.res = rep->flt.f.min,
	                            .num_ports = np,
	                            .constraint = rep->flt.f.constraint,
	                            .labels = rep->labels,
	                            .n_labels = rep->n_labels};

	g->leases = calloc(cap, sizeof(*g->leases));
	g->hosts = calloc(cap, sizeof(*g->hosts));
	struct ht_ctx *ctx = calloc(cap, sizeof(*ctx));
	uint32_t *order = calloc(cap, sizeof(*order));
	struct ptask **left = calloc(g->n, sizeof(*left));
	int32_t *host_of = calloc(g->n, sizeof(*host_of));
	uint32_t *ports = calloc(g->n * (np ? np : 1), sizeof(uint32_t));
	if (!g->leases || !g->hosts || !ctx || !order || !left || !host_of || !ports)
		goto out;
	size_t n_left = g->n;
	memcpy(left, g->members, g->n * sizeof(*left));
	double per_host = 0; /* tasks per host seen so far */
	for (int pass = 0; pass < 6 && n_left > 0 && g->n_leases < cap; pass++) {
		uint32_t want = per_host > 0 ? (uint32_t)((double)n_left / per_host) + 1 : 1;
		if (rep->strategy == PLACE_SPREAD)
			want = (uint32_t)n_left; /* spread: a host per task where possible */
		if (want > cap - g->n_leases)
			want = cap - g->n_leases;
		struct hostidx_acquire_out out = {.leases = g->leases + g->n_leases, .cap = want};
		if (pl->cfg.hosts.acquire(pl->cfg.hosts.arg, &rep->flt.f, rep->key, rep->key_len,
		                          want, ord, now(pl), &out, &why) != 0 ||
		    out.n == 0) {
			if (pass == 0 || out.n == 0)
				memcpy(g->counts, out.counts, sizeof(g->counts));
			break;
		}
		memcpy(g->counts, out.counts, sizeof(g->counts));
		atomic_fetch_add(&pl->acquired, out.n);
		uint32_t from = g->n_leases;
		g->n_leases += out.n;
		hosts_from_leases(pl, g, from, g->n_leases, ctx, task_leaves);
		size_t got = place_assign(&shape, n_left, g->hosts + from, out.n, rep->strategy,
		                          order, host_of, ports);
		/* record the placed ones, keep the rest for the next pass */
		size_t kept = 0;
		for (size_t i = 0; i < n_left; i++) {
			struct ptask *t = left[i];
			if (host_of[i] < 0) {
				left[kept++] = t;
				continue;
			}
			t->lease = (int32_t)from + host_of[i];
			if (np > 0 && (t->ports = malloc(np * sizeof(uint32_t))) != NULL)
				memcpy(t->ports, ports + i * np, np * sizeof(uint32_t));
			else if (np > 0)
				t->lease = -1;
		}
		n_left = kept;
		per_host = got > 0 ? (double)got / out.n : 0;
		if (got == 0)
			break; /* the best hosts left take nothing: the rest will not either */
	}
out:
	free(ctx);
	free(order);
	free(left);
	free(host_of);
	free(ports);
}

/* Does some placed member of g use lease li? */
static bool lease_used(const struct group *g, uint32_t li)
{
	for (size_t i = 0; i < g->n; i++)
		if (g->members[i]->lease == (int32_t)li && g->units[i]->placed)
			return true;
	return false;
}

/* A host a placed task uses: which group and lease. */
struct spent {
	struct group *g;
	uint32_t li;
};

/* The placement of (g, li) on `host`: its tasks and ports into tids/ports. */
static struct resmgr_placement host_placement(struct group *g, uint32_t li, const char *host,
                                              const char *agent,
                                              const struct hostidx_offer_ids *ids,
                                              const char **tids, uint32_t *ports)
{
	size_t nt = 0, np = 0;
	for (size_t i = 0; i < g->n; i++) {
		struct ptask *t = g->members[i];
		if (t->lease != (int32_t)li || !g->units[i]->placed)
			continue;
		tids[nt++] = t->id;
		for (uint32_t p = 0; p < g->rep->flt.f.num_ports; p++)
			ports[np++] = t->ports[p];
	}
	return (struct resmgr_placement){
	    .hostname = host,
	    .agent_id = agent ? agent : "",
	    .task_ids = tids,
	    .n_tasks = nt,
	    .ports = ports,
	    .n_ports = np,
	    .offer_ids = (const char *const *)ids->ids,
	    .n_offer_ids = ids->n,
	};
}

/* After SetPlacements accepted (g, li) on `host`: remember its tasks. */
static void host_placed(struct placement *pl, struct group *g, uint32_t li, const char *host)
{
	for (size_t i = 0; i < g->n; i++) {
		struct ptask *t = g->members[i];
		if (t->lease != (int32_t)li || !g->units[i]->placed)
			continue;
		if (t->n_labels > 0) {
			pthread_mutex_lock(&pl->mu);
			ht_add(pl, host, t);
			pthread_mutex_unlock(&pl->mu);
		}
		if (pl->cfg.on_placed)
			pl->cfg.on_placed(pl->cfg.on_placed_arg, t->id);
	}
}

/*
 * Commits the round: releases hosts no placed task uses, then spends every
 * used host in ONE consume_all — all or nothing, so a gang spread over
 * several hosts (or groups) is never half placed — and sets the round's
 * placements in one call. If the offers moved under us, nothing is spent
 * and every gang of the round retries. A placement refused (a task killed
 * while placing) spent its offers for nothing: Mesos offers them again,
 * since no ACCEPT uses them.
 */
static size_t round_commit(struct placement *pl, struct group *groups, size_t ng)
{
	size_t n_used = 0, placed = 0, cap = 0, n_tasks = 0, n_ports = 0;

	for (size_t i = 0; i < ng; i++) {
		cap += groups[i].n_leases;
		n_tasks += groups[i].n;
		n_ports += groups[i].n * groups[i].rep->flt.f.num_ports;
	}
	struct spent *sp = calloc(cap ? cap : 1, sizeof(*sp));
	struct hostidx_lease *leases = calloc(cap ? cap : 1, sizeof(*leases));
	struct hostidx_offer_ids *ids = calloc(cap ? cap : 1, sizeof(*ids));
	const char **hosts = calloc(cap ? cap : 1, sizeof(char *));
	char **agents = calloc(cap ? cap : 1, sizeof(char *));
	struct resmgr_placement *rp = calloc(cap ? cap : 1, sizeof(*rp));
	enum resmgr_fail *fail = calloc(cap ? cap : 1, sizeof(*fail));
	const char **tids = calloc(n_tasks ? n_tasks : 1, sizeof(char *));
	uint32_t *ports = calloc(n_ports ? n_ports : 1, sizeof(uint32_t));
	bool ok = sp && leases && ids && hosts && agents && rp && fail && tids && ports;

	for (size_t i = 0; i < ng; i++) {
		struct group *g = &groups[i];
		for (uint32_t li = 0; li < g->n_leases; li++) {
			if (ok && lease_used(g, li)) {
				sp[n_used] = (struct spent){g, li};
				leases[n_used] = g->leases[li];
				hosts[n_used] = hostidx_lease_hostname(&g->leases[li]);
				agents[n_used] = strdup(hostidx_lease_agent_id(&g->leases[li]));
				n_used++;
			} else {
				pl->cfg.hosts.release(pl->cfg.hosts.arg, &g->leases[li]);
			}
		}
	}
	if (n_used > 0 &&
	    (!ok || pl->cfg.hosts.consume_all(pl->cfg.hosts.arg, leases, n_used, ids) != 0)) {
		for (size_t i = 0; i < ng; i++) /* nothing spent: every gang retries */
			for (size_t m = 0; m < groups[i].n; m++)
				groups[i].units[m]->placed = false;
		n_used = 0;
	}
	size_t at_t = 0, at_p = 0;
	for (size_t k = 0; k < n_used; k++) {
		rp[k] = host_placement(sp[k].g, sp[k].li, hosts[k], agents[k], &ids[k], tids + at_t,
		                       ports + at_p);
		at_t += rp[k].n_tasks;
		at_p += rp[k].n_ports;
	}
	if (n_used > 0)
		pl->cfg.rm.set_placements(pl->cfg.rm.arg, rp, n_used, fail);
	for (size_t k = 0; k < n_used; k++) {
		if (fail[k] == RM_OK) {
			host_placed(pl, sp[k].g, sp[k].li, hosts[k]);
			placed += rp[k].n_tasks;
		} else {
			log_info("placement", "placement on %s refused: %s", hosts[k],
			         resmgr_fail_name(fail[k]));
			if (pl->cfg.hosts.unspend)
				pl->cfg.hosts.unspend(pl->cfg.hosts.arg, hosts[k], agents[k],
				                      &ids[k]);
		}
		hostidx_offer_ids_fini(&ids[k]);
	}
	for (size_t k = 0; agents && k < cap; k++)
		free(agents[k]);
	free(agents);
	free(hosts);
	free(ids);
	free(leases);
	free(sp);
	free(rp);
	free(fail);
	free(tids);
	free(ports);
	return placed;
}

static void group_fini(struct group *g)
{
	free(g->members);
	free(g->units);
	free(g->leases);
	free(g->hosts);
}

/* Decodes a freshly dequeued gang into a held record. */
static struct held_gang *hold(const struct placement *pl, struct resmgr_gang_out *g)
{
	struct held_gang *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return NULL;
	h->g = *g;
	h->tasks = calloc(g->n_tasks ? g->n_tasks : 1, sizeof(*h->tasks));
	if (h->tasks == NULL) {
		free(h);
		return NULL;
	}
	for (size_t i = 0; i < g->n_tasks; i++)
		ptask_init(&h->tasks[i], g->task_ids[i], g->payloads[i], g->payload_lens[i],
		           pl->cfg.strategy);
	return h;
}

/* Collects the round's gangs: due retries first, then new ones. */
static size_t collect(struct placement *pl, struct unit *units, size_t max)
{
	size_t n = 0;
	uint64_t t = now(pl);

	pthread_mutex_lock(&pl->mu);
	for (struct held_gang **pp = &pl->held; *pp != NULL && n < max;) {
		if ((*pp)->due_ns <= t) {
			units[n++] = (struct unit){.h = *pp};
			*pp = (*pp)->next;
		} else {
			pp = &(*pp)->next;
		}
	}
	bool waiting = pl->held != NULL;
	pthread_mutex_unlock(&pl->mu);
	if (n < max) {
		struct resmgr_gang_out gs[256];
		size_t want = max - n < 256 ? max - n : 256;
		/* block only when there is nothing else to do */
		uint64_t timeout = n > 0 ? 0 : waiting ? 1000000 : pl->cfg.dequeue_timeout_ns;
		size_t got = pl->cfg.rm.dequeue(pl->cfg.rm.arg, want, timeout, gs);
		for (size_t i = 0; i < got; i++) {
			struct held_gang *h = hold(pl, &gs[i]);
			if (h == NULL) { /* ENOMEM: the PLACING timeout brings it back */
				resmgr_gang_free(&gs[i]);
				continue;
			}
			units[n++] = (struct unit){.h = h};
		}
	}
	return n;
}

/* Builds the groups: single-task gangs by shape, each bigger gang on its own. */
static size_t make_groups(struct unit *units, size_t n, struct group *groups, size_t max_groups)
{
	size_t ng = 0;

	for (size_t u = 0; u < n; u++) {
		struct held_gang *h = units[u].h;
		units[u].placed = true; /* until a task says otherwise */
		for (size_t k = 0; k < h->g.n_tasks; k++) {
			struct ptask *t = &h->tasks[k];
			t->lease = -1;
			if (t->bad) {
				units[u].placed = false;
				continue;
			}
			/*
			 * Gangs share groups too: members are decided in order, so a
			 * gang's tasks are assigned together; a gang left incomplete
			 * is unplaced as a whole after the decision, and hosts only
			 * it used are released untouched (round_commit).
			 */
			struct group *g = NULL;
			for (size_t i = 0; i < ng && g == NULL; i++)
				if (same_shape(groups[i].rep, t))
					g = &groups[i];
			if (g == NULL && ng < max_groups) {
				g = &groups[ng++];
				memset(g, 0, sizeof(*g));
				g->rep = t;
			}
			if (g == NULL || !group_add(g, t, &units[u]))
				units[u].placed = false;
		}
	}
	return ng;
}

/* Files an unplaced gang for a retry, or hands it back after max_rounds. */
static void retry_or_return(struct placement *pl, struct unit *u, const struct group *groups,
                            size_t ng)
{
	struct held_gang *h = u->h;
	uint64_t t = now(pl);
	uint32_t counts[PLREASON_N];

	h->attempts++;
	bool give_up = h->attempts >= pl->cfg.max_rounds;
	for (size_t k = 0; k < h->g.n_tasks; k++) {
		struct ptask *task = &h->tasks[k];
		memset(counts, 0, sizeof(counts));
		for (size_t i = 0; i < ng; i++)
			for (size_t m = 0; m < groups[i].n; m++)
				if (groups[i].members[m] == task)
					memcpy(counts, groups[i].counts, sizeof(groups[i].counts));
		if (task->bad)
			counts[PLREASON_BAD_TASK] = 1;
		else if (task->lease >= 0)
			counts[PLREASON_GANG_INCOMPLETE] = 1; /* it fitted; the gang did not */
		why_note(pl, task->id, counts, t, give_up);
	}
	if (give_up) {
		pl->cfg.rm.return_tasks(pl->cfg.rm.arg, &h->g);
		atomic_fetch_add(&pl->handed_back, h->g.n_tasks);
		held_free(h);
		return;
	}
	atomic_fetch_add(&pl->retried, h->g.n_tasks);
	h->due_ns = t + (pl->cfg.backoff_ns << (h->attempts - 1 < 20 ? h->attempts - 1 : 20));
	pthread_mutex_lock(&pl->mu);
	h->next = pl->held;
	pl->held = h;
	pthread_mutex_unlock(&pl->mu);
}

size_t placement_round(struct placement *pl)
{
	struct unit units[256];
	struct group groups[256];
	size_t placed = 0;
	size_t max = pl->cfg.batch < 256 ? pl->cfg.batch : 256;

	uint64_t t0 = clock_mono_ns();
	size_t n = collect(pl, units, max);
	if (n == 0)
		return 0;
	atomic_fetch_add(&pl->rounds, 1);
	size_t ng = make_groups(units, n, groups, 256);
	for (size_t i = 0; i < ng; i++)
		group_decide(pl, &groups[i]);
	/* a gang is placed only if every task of it got a host */
	for (size_t i = 0; i < ng; i++)
		for (size_t m = 0; m < groups[i].n; m++)
			if (groups[i].members[m]->lease < 0)
				groups[i].units[m]->placed = false;
	placed = round_commit(pl, groups, ng);
	for (size_t u = 0; u < n; u++) {
		if (units[u].placed) {
			for (size_t k = 0; k < units[u].h->g.n_tasks; k++)
				why_forget(pl, units[u].h->tasks[k].id);
			held_free(units[u].h);
		} else {
			retry_or_return(pl, &units[u], groups, ng);
		}
	}
	for (size_t i = 0; i < ng; i++)
		group_fini(&groups[i]);
	atomic_fetch_add(&pl->placed, placed);
	hist_add_ns(&pl->round_time, clock_mono_ns() - t0);
	return placed;
}

/* --- threads ------------------------------------------------------------------ */

static void *worker(void *arg)
{
	struct placement *pl = arg;
	rcu_register_thread();
	while (!atomic_load(&pl->stop))
		placement_round(pl);
	rcu_unregister_thread();
	return NULL;
}

int placement_start(struct placement *pl)
{
	if (pl->threads != NULL) {
		errno = EBUSY;
		return -1;
	}
	pl->threads = calloc(pl->cfg.workers, sizeof(pthread_t));
	if (pl->threads == NULL)
		return -1;
	atomic_store(&pl->stop, 0);
	for (unsigned i = 0; i < pl->cfg.workers; i++) {
		if (pthread_create(&pl->threads[i], NULL, worker, pl) != 0)
			break;
		pthread_setname_np(pl->threads[i], "placement");
		pl->n_threads++;
	}
	return pl->n_threads == pl->cfg.workers ? 0 : -1;
}

void placement_stop(struct placement *pl)
{
	if (pl == NULL || pl->threads == NULL)
		return;
	atomic_store(&pl->stop, 1);
	for (unsigned i = 0; i < pl->n_threads; i++)
		pthread_join(pl->threads[i], NULL);
	free(pl->threads);
	pl->threads = NULL;
	pl->n_threads = 0;
}

void placement_destroy(struct placement *pl)
{
	if (pl == NULL)
		return;
	placement_stop(pl);
	/* gangs held for a retry go back to the resource manager now */
	while (pl->held != NULL) {
		struct held_gang *h = pl->held;
		pl->held = h->next;
		pl->cfg.rm.return_tasks(pl->cfg.rm.arg, &h->g);
		held_free(h);
	}
	struct htab_iter it;
	htab_iter_init(&it);
	for (struct why_entry *e; (e = htab_next(&pl->why, &it)) != NULL;)
		free(e);
	htab_fini(&pl->why);
	htab_iter_init(&it);
	for (struct host_tasks *h; (h = htab_next(&pl->ht, &it)) != NULL;) {
		for (size_t i = 0; i < h->n; i++) {
			for (uint32_t k = 0; k < h->n_labels[i]; k++)
				free((char *)h->labels[i][k].text);
			free(h->labels[i]);
			free(h->task_ids[i]);
		}
		free(h->task_ids);
		free(h->labels);
		free(h->n_labels);
		free(h->hostname);
		free(h);
	}
	htab_fini(&pl->ht);
	pthread_mutex_destroy(&pl->mu);
	free(pl);
}

/* --- the daemon's faces: metrics, the job manager's seam, /placement/explain --- */

void placement_write_metrics(struct placement *pl, FILE *f)
{
	uint64_t un[PLREASON_N];
	placement_unplaceable(pl, un);
	fprintf(f, "# HELP peloton_unplaceable_tasks Tasks waiting for a host, by the main reason "
	           "of their last placement attempt.\n# TYPE peloton_unplaceable_tasks gauge\n");
	for (int r = 0; r < PLREASON_N; r++)
		if (r != HOSTMATCH_UNKNOWN && r != HOSTMATCH_MATCH &&
		    r != HOSTMATCH_MISMATCH_MAX_HOST_LIMIT)
			fprintf(f, "peloton_unplaceable_tasks{reason=\"%s\"} %llu\n",
			        placement_reason_name(r), (unsigned long long)un[r]);
	struct placement_stats ps;
	placement_get_stats(pl, &ps);
	fprintf(f, "# HELP peloton_placement_round_seconds A placement round that had work, from "
	           "taking gangs to handing back placements.\n"
	           "# TYPE peloton_placement_round_seconds histogram\n");
	hist_write(&pl->round_time, f, "peloton_placement_round_seconds", "");
	fprintf(
	    f,
	    "# HELP peloton_placement_rounds_total Placement rounds that had work.\n"
	    "# TYPE peloton_placement_rounds_total counter\npeloton_placement_rounds_total %llu\n"
	    "# HELP peloton_placement_tasks_total Tasks out of placement rounds: placed, retried "
	    "in a later round, or handed back to the resource manager.\n"
	    "# TYPE peloton_placement_tasks_total counter\n"
	    "peloton_placement_tasks_total{result=\"placed\"} %llu\n"
	    "peloton_placement_tasks_total{result=\"retried\"} %llu\n"
	    "peloton_placement_tasks_total{result=\"handed_back\"} %llu\n",
	    (unsigned long long)ps.rounds, (unsigned long long)ps.placed,
	    (unsigned long long)ps.retried, (unsigned long long)ps.handed_back);
}

static int seam_why(void *arg, const char *task_id, char *buf, size_t len)
{
	struct placement *pl = arg;
	struct placement_why w;
	if (placement_why(pl, task_id, &w) != 0)
		return -1;
	char r[200];
	placement_why_render(&w, r, sizeof(r));
	uint64_t t = now(pl);
	double ago = t > w.last_attempt_ns ? (double)(t - w.last_attempt_ns) / 1e9 : 0;
	snprintf(buf, len, "%s; last attempt %.1f s ago", r, ago);
	return 0;
}

struct placement_ops placement_seam_ops(struct placement *pl)
{
	return (struct placement_ops){.why = seam_why, .arg = pl};
}

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
bool placement_http(struct placement *pl, const char *method, const char *url, const uint8_t *body,
                    size_t len, unsigned *status, char **out)
{
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
	if (pl == NULL) {
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
	    packed ? placement_explain(pl, packed, plen, (uint32_t)n, &e, err, sizeof(err)) : -1;
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
