/* The simulated Mesos master's state machine; see sim.h. */
#include <arpa/inet.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "clock.h"
#include "htab.h"
#include "log.h"
#include "pjson.h"
#include "proto_codec.h"
#include "sim.h"
#include "sim_book.h"
#include "sim_exec.h"
#include "version.h"

typedef Mesos__V1__Scheduler__Call call_t;

#define SIM_QUEUE 4 /* a task's updates held behind an unacknowledged one */
typedef Mesos__V1__Scheduler__Event event_t;

#define MAX_COMPLETED 1000 /* completed tasks a master reports per framework */

struct agent {
	char id[40], host[32], rack[16];
	uint32_t profile, nth;        /* its profile, and its index among that profile's agents */
	uint32_t incarnation;         /* the "S<n>" of its id: bumped when it comes back */
	double cpus, mem, disk, gpus; /* free and unreserved */
	struct sim_book book;         /* its reservations and persistent volumes */
	uint8_t *ports;               /* bit set: port port_lo+i is free */
	uint32_t n_ports, port_lo;
	char offer_id[32]; /* outstanding offer for all free resources, or "" */
	uint64_t refuse_until_ns;
	double registered_s;  /* wall clock */
	double unreachable_s; /* wall clock, when it went down */
	bool gone, dirty;     /* down; queued in sim.dirty for an offer */
};

struct task {
	char *id; /* first: the task table's key (htab.h) */
	uint32_t agent;
	int state;                    /* Mesos__V1__TaskState */
	double cpus, mem, disk, gpus; /* unreserved, taken from its agent */
	struct sim_claim claim;       /* reserved resources and volume it took */
	uint32_t *ports;
	size_t n_ports;
	uint64_t end_ns;
	/* the last update, until acknowledged */
	uint8_t uuid[16];
	bool unacked;      /* the last update waits for its ACKNOWLEDGE */
	int unacked_state; /* its state (TASK_STARTING is 0: the flag is apart) */
	int unacked_reason;
	int8_t unacked_health; /* its `healthy`: -1 none, 0 false, 1 true */
	uint64_t resend_ns;
	uint32_t resends; /* of the current update: the retry interval doubles */
	/* the next updates, held until the current one is acknowledged (an
	 * agent's status update manager sends a task's updates one at a time,
	 * in order); past SIM_QUEUE the newest replaces the last held */
	struct held_update {
		int state, reason;
		int8_t health;
		char msg[48];
	} queued[SIM_QUEUE];
	uint8_t n_queued;
	int exit_code;       /* from a command "exit N" */
	pid_t pid;           /* --exec: its process (0: none, or reaped) */
	uint64_t kill_at_ns; /* --exec: SIGKILL then, if still alive after its SIGTERM */
	/* its health check (TaskInfo.health_check), run as an agent's health
	 * checker does (Mesos src/checks/health_checker.cpp) */
	bool hc;
	bool hc_fails_check;  /* the check command is "exit N", N != 0 */
	bool hc_initializing; /* no success yet: failures within the grace period ignored */
	uint32_t hc_failures; /* consecutive */
	uint32_t hc_max;      /* consecutive_failures: killed at this many */
	double hc_delay, hc_interval, hc_grace;
	uint64_t hc_next_ns, running_ns;
	uint64_t unhealthy_after_ns; /* command "... unhealthy-after N": checks fail
	                              * N s after RUNNING; 0 = never */
};

/* A min-heap of timers; entries are checked against their object when due
 * (a task's end_ns or resend_ns, an agent's refuse_until_ns), so changed or
 * cancelled timers need no removal. */
struct timer {
	uint64_t at;
	uintptr_t v;
};
struct timers {
	struct timer *a;
	size_t n, cap;
};

struct sim {
	struct sim_config cfg;
	pthread_mutex_t mu;
	struct sim_profile *profiles;
	size_t n_profiles;
	struct agent *agents;
	uint32_t n_agents;
	uint32_t *dirty; /* agents to look at for an offer */
	size_t n_dirty;
	struct htab tasks;  /* by id */
	struct task **exec; /* --exec: tasks whose process is not reaped yet */
	size_t n_exec, cap_exec;
	bool tasks_ok; /* tasks initialised */
	struct timers ends, resends, refusals, checks;
	char framework_id[48], stream_id[40];
	char fw_name[64], fw_user[64], fw_role[64], fw_principal[64];
	char master_id[40];          /* random per simulator: framework ids derive from it */
	uint32_t fw_seq;             /* frameworks registered so far */
	double fw_failover_s;        /* the framework's failover_timeout */
	bool fw_partition_aware;     /* PARTITION_AWARE capability */
	uint64_t fw_disconnected_ns; /* when its stream ended; 0 while connected */
	char removed[16][48];        /* ids of removed frameworks (last 16) */
	uint32_t n_removed;
	char ip[64];
	uint16_t port;
	sim_emit_f emit;
	void *emit_arg;
	uint64_t now_ns, next_hb_ns, hb_stall_until_ns, offer_seq, stream_seq;
	uint64_t rng;
	bool suppressed;
	struct sim_stats st;
};

/* One task less alive; running_low keeps the fewest since sim_mark. */
static void running_dec(struct sim *s)
{
	s->st.running--;
	if (s->st.running < s->st.running_low)
		s->st.running_low = s->st.running;
}

static uint64_t rnd(struct sim *s)
{
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 7;
	s->rng ^= s->rng << 17;
	return s->rng;
}

static double rnd01(struct sim *s)
{
	return (double)(rnd(s) >> 11) / (double)(1ull << 53);
}

/* --- timers ------------------------------------------------------------------------ */

static bool timers_push(struct timers *h, uint64_t at, uintptr_t v)
{
	if (h->n == h->cap) {
		size_t nc = h->cap ? h->cap * 2 : 1024;
		struct timer *na = realloc(h->a, nc * sizeof(*na));
		if (na == NULL)
			return false;
		h->a = na;
		h->cap = nc;
	}
	size_t i = h->n++;
	while (i > 0 && at < h->a[(i - 1) / 2].at) {
		h->a[i] = h->a[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h->a[i] = (struct timer){at, v};
	return true;
}

static bool timers_due(const struct timers *h, uint64_t now)
{
	return h->n > 0 && h->a[0].at <= now;
}

static struct timer timers_pop(struct timers *h)
{
	struct timer top = h->a[0], last = h->a[--h->n];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->a[c + 1].at < h->a[c].at)
			c++;
		if (h->a[c].at >= last.at)
			break;
		h->a[i] = h->a[c];
		i = c;
	}
	if (h->n > 0)
		h->a[i] = last;
	return top;
}

/* --- agents ------------------------------------------------------------------------ */

static void agent_set_id(struct agent *a, uint32_t index)
{
	snprintf(a->id, sizeof(a->id), "agent-%05u-S%u", index, a->incarnation);
}

/* Full resources of its profile, nothing running. */
static bool agent_reset(struct sim *s, struct agent *a)
{
	const struct sim_profile *p = &s->profiles[a->profile];
	double r[SB_N];
	/* reservations and volumes are checkpointed on the agent: they come back with it */
	sim_book_reserved(&a->book, r);
	for (size_t i = 0; i < a->book.n_v; i++) {
		free(a->book.v[i].task);
		a->book.v[i].task = NULL;
	}
	for (size_t i = 0; i < a->book.n_r; i++)
		memset(a->book.r[i].used, 0, sizeof(a->book.r[i].used));
	for (size_t i = 0; i < a->book.n_v; i++) {
		for (size_t k = 0; k < a->book.n_r; k++)
			if (strcmp(a->book.r[k].key, a->book.v[i].resv_key) == 0)
				a->book.r[k].used[SB_DISK] += a->book.v[i].mb;
	}
	a->cpus = p->cpus - r[SB_CPUS];
	a->mem = p->mem_mb - r[SB_MEM];
	a->disk = p->disk_mb - r[SB_DISK];
	a->gpus = p->gpus;
	a->port_lo = p->port_lo;
	a->n_ports = p->port_hi - p->port_lo + 1;
	free(a->ports);
	a->ports = malloc((a->n_ports + 7) / 8);
	if (a->ports == NULL)
		return false;
	memset(a->ports, 0xff, (a->n_ports + 7) / 8);
	a->offer_id[0] = '\0';
	a->refuse_until_ns = 0;
	a->registered_s = (double)clock_wall_ns() / 1e9;
	a->gone = false;
	return true;
}

static void mark_dirty(struct sim *s, struct agent *a)
{
	if (a->dirty || a->gone)
		return;
	a->dirty = true;
	s->dirty[s->n_dirty++] = (uint32_t)(a - s->agents);
}

static void mark_all_dirty(struct sim *s)
{
	for (uint32_t i = 0; i < s->n_agents; i++)
		mark_dirty(s, &s->agents[i]);
}

/* An agent by id, hostname or index; NULL when none. */
static struct agent *agent_find(struct sim *s, const char *key)
{
	char *end;
	unsigned long k = strtoul(key, &end, 10);
	if (end != key && *end == '\0')
		return k < s->n_agents ? &s->agents[k] : NULL;
	for (uint32_t i = 0; i < s->n_agents; i++)
		if (strcmp(s->agents[i].id, key) == 0 || strcmp(s->agents[i].host, key) == 0)
			return &s->agents[i];
	return NULL;
}

static void profile_defaults(struct sim_profile *p)
{
	if (p->cpus <= 0)
		p->cpus = 32;
	if (p->mem_mb <= 0)
		p->mem_mb = 131072;
	if (p->disk_mb <= 0)
		p->disk_mb = 1e6;
	if (p->gpus < 0)
		p->gpus = 0;
	if (!p->port_lo || p->port_hi < p->port_lo) {
		p->port_lo = 31000;
		p->port_hi = 32000;
	}
	if (!p->racks)
		p->racks = 10;
	if (p->n_attrs > SIM_MAX_ATTRS)
		p->n_attrs = SIM_MAX_ATTRS;
}

/* The agent's hostname: its profile's pattern with {i} its index there, or host-<i>. */
static void host_name(struct agent *a, const struct sim_profile *p, uint32_t i)
{
	const char *pat = p->hostname, *at = pat ? strstr(pat, "{i}") : NULL;
	if (pat == NULL)
		snprintf(a->host, sizeof(a->host), "host-%05u", i);
	else if (at == NULL)
		snprintf(a->host, sizeof(a->host), "%s", pat);
	else
		snprintf(a->host, sizeof(a->host), "%.*s%u%s", (int)(at - pat), pat, a->nth,
		         at + 3);
}

struct sim *sim_create(const struct sim_config *cfg)
{
	struct sim *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->cfg = *cfg;
	struct sim_config *c = &s->cfg;
	if (!c->agents)
		c->agents = 10;
	if (c->task_secs <= 0)
		c->task_secs = 1;
	if (c->heartbeat_secs <= 0)
		c->heartbeat_secs = 15;
	if (c->retry_secs <= 0)
		c->retry_secs = 10;
	s->rng = c->seed ? c->seed : 0x9e3779b97f4a7c15ull;
	if (!c->mesos_version || !c->mesos_version[0])
		c->mesos_version = "1.11.0";
	/* unique per master, whatever the seed: framework ids must not repeat
	 * across simulators (a fresh master never hands out an old id) */
	uint64_t r1 = clock_wall_ns() ^ ((uint64_t)getpid() << 32), r2 = r1 * 0x9e3779b97f4a7c15ull;
	snprintf(s->master_id, sizeof(s->master_id), "%08x-%04x-%04x-%04x-%012llx",
	         (unsigned)(r1 >> 32), (unsigned)(r1 >> 16) & 0xffff, (unsigned)r1 & 0xffff,
	         (unsigned)(r2 >> 48), (unsigned long long)(r2 & 0xffffffffffffull));
	pthread_mutex_init(&s->mu, NULL);
	snprintf(s->ip, sizeof(s->ip), "127.0.0.1");
	s->port = 5050;
	s->n_profiles = c->n_profiles ? c->n_profiles : 1;
	s->profiles = calloc(s->n_profiles, sizeof(*s->profiles));
	s->tasks_ok = htab_init(&s->tasks, HTAB_KEY_POINTER, 1024) == 0;
	if (s->profiles == NULL || !s->tasks_ok) {
		sim_destroy(s);
		return NULL;
	}
	if (c->n_profiles) {
		memcpy(s->profiles, c->profiles, c->n_profiles * sizeof(*s->profiles));
	} else {
		s->profiles[0] = (struct sim_profile){
		    .count = c->agents,
		    .cpus = c->cpus,
		    .mem_mb = c->mem_mb,
		    .disk_mb = c->disk_mb,
		    .gpus = c->gpus,
		    .port_lo = c->port_lo,
		    .port_hi = c->port_hi,
		    .racks = c->racks,
		};
	}
	uint64_t total = 0;
	for (size_t i = 0; i < s->n_profiles; i++) {
		profile_defaults(&s->profiles[i]);
		total += s->profiles[i].count;
	}
	if (total == 0 || total > 10000000) {
		sim_destroy(s);
		return NULL;
	}
	s->n_agents = (uint32_t)total;
	s->agents = calloc(s->n_agents, sizeof(*s->agents));
	s->dirty = calloc(s->n_agents, sizeof(*s->dirty));
	if (s->agents == NULL || s->dirty == NULL) {
		sim_destroy(s);
		return NULL;
	}
	uint32_t i = 0;
	for (size_t p = 0; p < s->n_profiles; p++)
		for (uint32_t k = 0; k < s->profiles[p].count; k++, i++) {
			struct agent *a = &s->agents[i];
			a->profile = (uint32_t)p;
			a->nth = k;
			agent_set_id(a, i);
			host_name(a, &s->profiles[p], i);
			snprintf(a->rack, sizeof(a->rack), "rack-%u", i % s->profiles[p].racks);
			if (!agent_reset(s, a)) {
				sim_destroy(s);
				return NULL;
			}
			mark_dirty(s, a);
		}
	return s;
}

static void task_free(struct task *t)
{
	sim_claim_fini(&t->claim);
	free(t->id);
	free(t->ports);
	free(t);
}

void sim_destroy(struct sim *s)
{
	if (s == NULL)
		return;
	for (uint32_t i = 0; s->agents && i < s->n_agents; i++) {
		free(s->agents[i].ports);
		sim_book_fini(&s->agents[i].book);
	}
	free(s->agents);
	free(s->dirty);
	for (size_t i = 0; i < s->n_exec; i++) /* --exec: no process outlives the simulator */
		sim_exec_kill_now(s->exec[i]->pid);
	free(s->exec);
	if (s->tasks_ok) {
		struct htab_iter it;
		htab_iter_init(&it);
		for (struct task *t; (t = htab_next(&s->tasks, &it)) != NULL;)
			task_free(t);
		htab_fini(&s->tasks);
	}
	free(s->ends.a);
	free(s->resends.a);
	free(s->refusals.a);
	free(s->checks.a);
	free(s->profiles);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

void sim_set_address(struct sim *s, const char *ip, uint16_t port)
{
	pthread_mutex_lock(&s->mu);
	snprintf(s->ip, sizeof(s->ip), "%s", ip);
	s->port = port;
	pthread_mutex_unlock(&s->mu);
}

uint32_t sim_agent_count(struct sim *s)
{
	return s->n_agents; /* fixed at creation */
}

/* --- tasks ------------------------------------------------------------------------ */

static struct task *task_find(struct sim *s, const char *id)
{
	return htab_get(&s->tasks, id);
}

static bool terminal(int state)
{
	return state != MESOS__V1__TASK_STATE__TASK_RUNNING &&
	       state != MESOS__V1__TASK_STATE__TASK_STAGING &&
	       state != MESOS__V1__TASK_STATE__TASK_STARTING &&
	       state != MESOS__V1__TASK_STATE__TASK_UNREACHABLE;
}

/* --- events ----------------------------------------------------------------------- */

static void emit(struct sim *s, event_t *ev)
{
	if (s->emit == NULL)
		return;
	size_t len = protobuf_c_message_get_packed_size(&ev->base);
	uint8_t *buf = malloc(len ? len : 1);
	if (buf == NULL)
		return;
	protobuf_c_message_pack(&ev->base, buf);
	s->st.events++;
	s->emit(s->emit_arg, buf, len);
	free(buf);
}

/* The UPDATE event of one status of t (with t's uuid when with_uuid). */
static void emit_status(struct sim *s, struct task *t, int state, int reason, const char *msg,
                        bool with_uuid, int health)
{
	Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
	Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
	Mesos__V1__Scheduler__Event__Update up = MESOS__V1__SCHEDULER__EVENT__UPDATE__INIT;
	event_t ev = MESOS__V1__SCHEDULER__EVENT__INIT;
	tid.value = t->id;
	aid.value = s->agents[t->agent].id;
	st.task_id = &tid;
	st.agent_id = &aid;
	st.state = state;
	st.message = (char *)msg;
	st.has_source = true;
	st.source = with_uuid ? MESOS__V1__TASK_STATUS__SOURCE__SOURCE_EXECUTOR
	                      : MESOS__V1__TASK_STATUS__SOURCE__SOURCE_MASTER;
	if (reason) {
		st.has_reason = true;
		st.reason = reason;
	}
	if (health >= 0) {
		st.has_healthy = true;
		st.healthy = health == 1;
	}
	st.has_timestamp = true;
	st.timestamp = (double)clock_wall_ns() / 1e9;
	if (with_uuid) {
		st.has_uuid = true;
		st.uuid.data = t->uuid;
		st.uuid.len = 16;
	}
	up.status = &st;
	ev.has_type = true;
	ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE;
	ev.update = &up;
	s->st.updates_sent++;
	emit(s, &ev);
	if (s->cfg.dup_rate > 0 && rnd01(s) < s->cfg.dup_rate) {
		s->st.duplicates++;
		emit(s, &ev);
	}
}

/* The unacknowledged update of t again, after the agent's retry interval:
 * retry_secs, then doubling, at most 10 minutes. */
static void resend(struct sim *s, struct task *t, bool first)
{
	if (!first)
		emit_status(s, t, t->unacked_state, t->unacked_reason, "retry", true,
		            t->unacked_health);
	double wait = s->cfg.retry_secs * (double)(1u << (t->resends < 6 ? t->resends : 6));
	t->resend_ns = s->now_ns + (uint64_t)((wait < 600 ? wait : 600) * 1e9);
	t->resends++;
	timers_push(&s->resends, t->resend_ns, (uintptr_t)t);
}

/*
 * A status update of t (health: its `healthy`, or -1). Reliable ones (from
 * the agent) carry a uuid and are resent until acknowledged; one sent
 * while another waits for its acknowledgement follows it (Mesos
 * src/status_update_manager: one in flight per task). The master's own (a
 * launch refused, an agent removed) have none.
 */
static void send_status(struct sim *s, struct task *t, int state, int reason, const char *msg,
                        bool reliable, int health)
{
	if (!reliable) {
		emit_status(s, t, state, reason, msg, false, health);
		return;
	}
	if (t->unacked) {
		if (t->n_queued < SIM_QUEUE)
			t->n_queued++;
		struct held_update *h = &t->queued[t->n_queued - 1];
		*h = (struct held_update){state, reason, (int8_t)health, ""};
		snprintf(h->msg, sizeof(h->msg), "%s", msg ? msg : "");
		return;
	}
	for (int i = 0; i < 16; i++)
		t->uuid[i] = (uint8_t)rnd(s);
	t->resends = 0;
	t->unacked = true;
	t->unacked_state = state;
	t->unacked_reason = reason;
	t->unacked_health = (int8_t)health;
	emit_status(s, t, state, reason, msg, true, health);
	resend(s, t, true);
}

static void send_update(struct sim *s, struct task *t, int state, int reason, const char *msg,
                        bool reliable)
{
	send_status(s, t, state, reason, msg, reliable, -1);
}

/* The offer of agent a (all its free resources), built into storage. */
struct offer_buf {
	Mesos__V1__Offer o;
	Mesos__V1__OfferID id;
	Mesos__V1__FrameworkID fw;
	Mesos__V1__AgentID agent;
	Mesos__V1__Resource res[5], *resp[5];
	Mesos__V1__Value__Scalar sc[4];
	Mesos__V1__Value__Ranges ranges;
	Mesos__V1__Value__Range *rangev;
	Mesos__V1__Value__Range **rangep;
	Mesos__V1__Attribute attr[SIM_MAX_ATTRS + 1], *attrp[SIM_MAX_ATTRS + 1];
	Mesos__V1__Value__Text text[SIM_MAX_ATTRS + 1];
	Mesos__V1__URL url;
	Mesos__V1__Address addr;
	/* with reservations or volumes free: resp and the book's (in an arena) */
	Mesos__V1__Resource **all;
};

static void offer_buf_fini(struct offer_buf *b)
{
	free(b->rangev);
	free(b->rangep);
	free(b->all);
	memset(b, 0, sizeof(*b));
}

/* cpus, mem, disk (and gpus when any) as scalar resources into res/resp. */
static size_t scalars(Mesos__V1__Resource *res, Mesos__V1__Resource **resp,
                      Mesos__V1__Value__Scalar *sc, const double v[4])
{
	static const char *const names[4] = {"cpus", "mem", "disk", "gpus"};
	size_t n = 0;
	for (int i = 0; i < 4; i++) {
		if (v[i] <= 0) /* a master leaves out what is empty */
			continue;
		mesos__v1__resource__init(&res[n]);
		mesos__v1__value__scalar__init(&sc[n]);
		sc[n].value = v[i];
		res[n].name = (char *)names[i];
		res[n].type = MESOS__V1__VALUE__TYPE__SCALAR;
		res[n].scalar = &sc[n];
		resp[n] = &res[n];
		n++;
	}
	return n;
}

/* The agent's attributes: its profile's, and rack unless the profile names one. */
static size_t attributes(struct sim *s, const struct agent *a, Mesos__V1__Attribute *attr,
                         Mesos__V1__Attribute **attrp, Mesos__V1__Value__Text *text)
{
	const struct sim_profile *p = &s->profiles[a->profile];
	size_t n = 0;
	bool rack = false;
	for (size_t i = 0; i <= p->n_attrs; i++) {
		const char *name, *value;
		if (i < p->n_attrs) {
			name = p->attrs[i].name;
			value = p->attrs[i].n_values
			            ? p->attrs[i].values[a->nth % p->attrs[i].n_values]
			            : "";
			rack = rack || strcmp(name, "rack") == 0;
		} else if (!rack) {
			name = "rack";
			value = a->rack;
		} else {
			break;
		}
		mesos__v1__attribute__init(&attr[n]);
		mesos__v1__value__text__init(&text[n]);
		text[n].value = (char *)value;
		attr[n].name = (char *)name;
		attr[n].type = MESOS__V1__VALUE__TYPE__TEXT;
		attr[n].text = &text[n];
		attrp[n] = &attr[n];
		n++;
	}
	return n;
}

static bool offer_build(struct sim *s, struct agent *a, struct offer_buf *b, struct arena *ar)
{
	mesos__v1__offer__init(&b->o);
	mesos__v1__offer_id__init(&b->id);
	mesos__v1__framework_id__init(&b->fw);
	mesos__v1__agent_id__init(&b->agent);
	/* the agent's index rides in the id: ACCEPT finds its agent in O(1) */
	snprintf(a->offer_id, sizeof(a->offer_id), "offer-%llu-%u",
	         (unsigned long long)++s->offer_seq, (unsigned)(a - s->agents));
	b->id.value = a->offer_id;
	b->fw.value = s->framework_id;
	b->agent.value = a->id;
	b->o.id = &b->id;
	b->o.framework_id = &b->fw;
	b->o.agent_id = &b->agent;
	b->o.hostname = a->host;
	double vals[4] = {a->cpus, a->mem, a->disk, a->gpus};
	size_t n = scalars(b->res, b->resp, b->sc, vals);
	/* free ports as ranges */
	size_t nr = 0;
	b->rangev = calloc(a->n_ports / 2 + 1, sizeof(*b->rangev));
	b->rangep = calloc(a->n_ports / 2 + 1, sizeof(*b->rangep));
	if (b->rangev == NULL || b->rangep == NULL)
		return false;
	for (uint32_t i = 0; i < a->n_ports;) {
		if (!(a->ports[i / 8] & (1u << (i % 8)))) {
			i++;
			continue;
		}
		uint32_t j = i;
		while (j + 1 < a->n_ports && (a->ports[(j + 1) / 8] & (1u << ((j + 1) % 8))))
			j++;
		mesos__v1__value__range__init(&b->rangev[nr]);
		b->rangev[nr].begin = a->port_lo + i;
		b->rangev[nr].end = a->port_lo + j;
		b->rangep[nr] = &b->rangev[nr];
		nr++;
		i = j + 1;
	}
	if (nr > 0) {
		mesos__v1__value__ranges__init(&b->ranges);
		b->ranges.n_range = nr;
		b->ranges.range = b->rangep;
		mesos__v1__resource__init(&b->res[n]);
		b->res[n].name = "ports";
		b->res[n].type = MESOS__V1__VALUE__TYPE__RANGES;
		b->res[n].ranges = &b->ranges;
		b->resp[n] = &b->res[n];
		n++;
	}
	b->o.n_resources = n;
	b->o.resources = b->resp;
	if (sim_book_any_free(&a->book)) {
		/* the reservations' free parts and the volumes not in use */
		size_t nb = 0;
		Mesos__V1__Resource **br = sim_book_resources(&a->book, s->fw_role, true, &nb, ar);
		b->all = calloc(n + nb + 1, sizeof(*b->all));
		if (!br || !b->all)
			return false;
		memcpy(b->all, b->resp, n * sizeof(*b->all));
		memcpy(b->all + n, br, nb * sizeof(*b->all));
		b->o.n_resources = n + nb;
		b->o.resources = b->all;
	}
	b->o.n_attributes = attributes(s, a, b->attr, b->attrp, b->text);
	b->o.attributes = b->attrp;
	/* the agent's own HTTP endpoint (files/browse): the simulator's address */
	mesos__v1__url__init(&b->url);
	mesos__v1__address__init(&b->addr);
	b->addr.hostname = a->host;
	b->addr.ip = s->ip;
	b->addr.port = s->port;
	b->url.scheme = "http";
	b->url.address = &b->addr;
	b->url.path = "/slave(1)";
	b->o.url = &b->url;
	return true;
}

/*
 * Offers the agents on the dirty list that have free resources, no
 * outstanding offer and no running DECLINE filter (those wait on the
 * refusal timers), 100 offers per event.
 */
static void send_offers(struct sim *s)
{
	enum { PER_EVENT = 100 };
	if (s->emit == NULL || s->suppressed || s->n_dirty == 0)
		return;
	struct offer_buf *bufs = calloc(PER_EVENT, sizeof(*bufs));
	Mesos__V1__Offer *ops[PER_EVENT];
	size_t n = 0;
	struct arena ar; /* the reservations' resources of the event's offers */
	if (bufs == NULL)
		return;
	arena_init(&ar, 16384);
	size_t end = s->n_dirty; /* agents re-marked during the walk are appended after it */
	for (size_t k = 0; k <= end; k++) {
		if (k < end) {
			struct agent *a = &s->agents[s->dirty[k]];
			a->dirty = false;
			if (a->gone || a->offer_id[0] ||
			    ((a->cpus < 0.01 || a->mem < 1) && !sim_book_any_free(&a->book)))
				continue;
			if (a->refuse_until_ns > s->now_ns) {
				timers_push(&s->refusals, a->refuse_until_ns, s->dirty[k]);
				continue;
			}
			if (!offer_build(s, a, &bufs[n], &ar)) {
				a->offer_id[0] = '\0';
				offer_buf_fini(&bufs[n]);
				mark_dirty(s, a); /* try again next tick */
				continue;
			}
			ops[n] = &bufs[n].o;
			n++;
		}
		if (n == PER_EVENT || (k == end && n > 0)) {
			Mesos__V1__Scheduler__Event__Offers offers =
			    MESOS__V1__SCHEDULER__EVENT__OFFERS__INIT;
			event_t ev = MESOS__V1__SCHEDULER__EVENT__INIT;
			offers.n_offers = n;
			offers.offers = ops;
			ev.has_type = true;
			ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS;
			ev.offers = &offers;
			emit(s, &ev);
			s->st.offers_sent += n;
			for (size_t i = 0; i < n; i++)
				offer_buf_fini(&bufs[i]);
			arena_reset(&ar);
			n = 0;
		}
	}
	/* agents re-marked while we walked (a failed build) stay listed */
	memmove(s->dirty, s->dirty + end, (s->n_dirty - end) * sizeof(*s->dirty));
	s->n_dirty -= end;
	free(bufs);
	arena_fini(&ar);
}

static void heartbeat(struct sim *s)
{
	event_t ev = MESOS__V1__SCHEDULER__EVENT__INIT;
	ev.has_type = true;
	ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__HEARTBEAT;
	emit(s, &ev);
}

/* --- calls ------------------------------------------------------------------------ */

static void copy_text(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

static void release(struct sim *s, struct task *t);

/* Ends the current stream, as a master closes the connection. */
static void end_stream(struct sim *s)
{
	if (s->emit != NULL)
		s->emit(s->emit_arg, NULL, 0);
	s->emit = NULL;
	s->stream_id[0] = '\0';
}

/* An ERROR event on the current stream. */
static void send_error(struct sim *s, const char *message)
{
	Mesos__V1__Scheduler__Event__Error e = MESOS__V1__SCHEDULER__EVENT__ERROR__INIT;
	event_t ev = MESOS__V1__SCHEDULER__EVENT__INIT;
	e.message = (char *)message;
	ev.has_type = true;
	ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__ERROR;
	ev.error = &e;
	emit(s, &ev);
}

static bool was_removed(const struct sim *s, const char *id)
{
	uint32_t n = s->n_removed < 16 ? s->n_removed : 16;
	for (uint32_t i = 0; i < n; i++)
		if (strcmp(s->removed[i], id) == 0)
			return true;
	return false;
}

/*
 * The framework is removed (torn down, or its failover timeout passed):
 * its tasks are killed and its offers dropped, without a word to it (its
 * stream is ended first), and its id is refused from now on (Mesos
 * src/master/master.cpp, Master::removeFramework; validation refuses
 * "Framework has been removed").
 */
static void framework_remove(struct sim *s, const char *why)
{
	log_info("sim", "removing framework %s: %s", s->framework_id, why);
	end_stream(s);
	struct htab_iter it;
	htab_iter_init(&it);
	for (struct task *t; (t = htab_next(&s->tasks, &it)) != NULL;)
		if (!terminal(t->state)) {
			t->state = MESOS__V1__TASK_STATE__TASK_KILLED;
			t->unacked = false;
			release(s, t);
			running_dec(s);
			s->st.killed++;
		}
	for (uint32_t i = 0; i < s->n_agents; i++) {
		s->agents[i].offer_id[0] = '\0';
		s->agents[i].refuse_until_ns = 0;
	}
	mark_all_dirty(s);
	snprintf(s->removed[s->n_removed++ % 16], sizeof(s->removed[0]), "%s", s->framework_id);
	s->framework_id[0] = '\0';
	s->fw_disconnected_ns = 0;
	s->suppressed = false;
}

/* Removes a framework disconnected for longer than its failover timeout. */
static void expire_framework(struct sim *s)
{
	if (s->framework_id[0] && s->emit == NULL && s->fw_disconnected_ns &&
	    s->now_ns - s->fw_disconnected_ns >= (uint64_t)(s->fw_failover_s * 1e9))
		framework_remove(s, "disconnected for longer than its failover timeout");
}

/* A SUBSCRIBE the master refuses: one ERROR on the new stream, which ends. */
static int refuse_subscription(struct sim *s, sim_emit_f fn, void *arg, const char *why,
                               char *stream_id, size_t id_len)
{
	sim_emit_f saved = s->emit;
	void *saved_arg = s->emit_arg;
	s->emit = fn;
	s->emit_arg = arg;
	send_error(s, why);
	fn(arg, NULL, 0);
	s->emit = saved;
	s->emit_arg = saved_arg;
	snprintf(stream_id, id_len, "stream-refused-%016llx", (unsigned long long)rnd(s));
	log_info("sim", "subscription refused: %s", why);
	return SIM_SUBSCRIBE_REFUSED;
}

/*
 * Which framework a SUBSCRIBE is for; false (why set) when the master
 * refuses it. Sets s->framework_id for a new or recovered framework.
 */
static bool subscription_admitted(struct sim *s, const char *want, char *why, size_t len)
{
	if (want[0] && was_removed(s, want))
		return snprintf(why, len, "Framework has been removed"), false;
	if (want[0] && strcmp(want, s->framework_id) == 0)
		return true; /* a resubscription: fails the old connection over */
	if (s->framework_id[0]) {
		/* a master would register a second framework beside the first;
		 * the simulator models one (docs/MESOS-SIM.md) */
		snprintf(why, len,
		         "mesos-sim models one framework: %s is registered (connected, or "
		         "within its failover timeout); this subscription would be another",
		         s->framework_id);
		return false;
	}
	if (want[0]) /* an id this master does not know: as after a master failover */
		snprintf(s->framework_id, sizeof(s->framework_id), "%s", want);
	else
		snprintf(s->framework_id, sizeof(s->framework_id), "%s-%04u", s->master_id,
		         s->fw_seq++);
	return true;
}

/* SUBSCRIBED, with the master's own info, then the first heartbeat at once. */
static void send_subscribed(struct sim *s)
{
	Mesos__V1__FrameworkID fw = MESOS__V1__FRAMEWORK_ID__INIT;
	Mesos__V1__Scheduler__Event__Subscribed sub = MESOS__V1__SCHEDULER__EVENT__SUBSCRIBED__INIT;
	Mesos__V1__MasterInfo mi = MESOS__V1__MASTER_INFO__INIT;
	Mesos__V1__Address addr = MESOS__V1__ADDRESS__INIT;
	event_t ev = MESOS__V1__SCHEDULER__EVENT__INIT;
	struct in_addr ip4 = {0};
	inet_pton(AF_INET, s->ip, &ip4);
	mi.id = s->master_id;
	mi.ip = ntohl(ip4.s_addr);
	mi.port = s->port;
	mi.hostname = "mesos-sim";
	mi.version = (char *)s->cfg.mesos_version;
	addr.hostname = "mesos-sim";
	addr.ip = s->ip;
	addr.port = s->port;
	mi.address = &addr;
	fw.value = s->framework_id;
	sub.framework_id = &fw;
	sub.has_heartbeat_interval_seconds = true;
	sub.heartbeat_interval_seconds = s->cfg.heartbeat_secs;
	sub.master_info = &mi;
	ev.has_type = true;
	ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__SUBSCRIBED;
	ev.subscribed = &sub;
	emit(s, &ev);
	/* the heartbeater sends one as it starts (Master::Framework::heartbeat) */
	heartbeat(s);
	s->next_hb_ns = s->now_ns + (uint64_t)(s->cfg.heartbeat_secs * 1e9);
}

int sim_subscribe(struct sim *s, const call_t *call, sim_emit_f fn, void *arg, char *stream_id,
                  size_t id_len, char *err, size_t err_len)
{
	if (call->subscribe == NULL || call->subscribe->framework_info == NULL) {
		snprintf(err, err_len, "Expecting 'subscribe' to be present");
		return 400;
	}
	const Mesos__V1__FrameworkInfo *fi = call->subscribe->framework_info;
	const char *info_id = fi->id && fi->id->value ? fi->id->value : "";
	const char *call_id =
	    call->framework_id && call->framework_id->value ? call->framework_id->value : "";
	if (strcmp(info_id, call_id) != 0) {
		snprintf(err, err_len,
		         "Failed to validate scheduler::Call: 'framework_id' differs "
		         "from 'subscribe.framework_info.id'");
		return 400;
	}
	pthread_mutex_lock(&s->mu);
	s->now_ns = clock_mono_ns();
	expire_framework(s);
	char why[200];
	if (!subscription_admitted(s, info_id, why, sizeof(why))) {
		int rc = refuse_subscription(s, fn, arg, why, stream_id, id_len);
		pthread_mutex_unlock(&s->mu);
		return rc;
	}
	if (s->emit != NULL) {
		/* the same framework again: the old connection is failed over */
		send_error(s, "Framework failed over");
		end_stream(s);
	}
	copy_text(s->fw_name, sizeof(s->fw_name), fi->name);
	copy_text(s->fw_user, sizeof(s->fw_user), fi->user);
	copy_text(s->fw_role, sizeof(s->fw_role), fi->n_roles ? fi->roles[0] : fi->role);
	copy_text(s->fw_principal, sizeof(s->fw_principal), fi->principal);
	s->fw_failover_s =
	    fi->has_failover_timeout && fi->failover_timeout > 0 ? fi->failover_timeout : 0;
	s->fw_partition_aware = false;
	for (size_t i = 0; i < fi->n_capabilities; i++)
		if (fi->capabilities[i]->has_type &&
		    fi->capabilities[i]->type ==
		        MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__PARTITION_AWARE)
			s->fw_partition_aware = true;
	s->fw_disconnected_ns = 0;
	snprintf(s->stream_id, sizeof(s->stream_id), "stream-%llu-%016llx",
	         (unsigned long long)++s->stream_seq, (unsigned long long)rnd(s));
	snprintf(stream_id, id_len, "%s", s->stream_id);
	s->emit = fn;
	s->emit_arg = arg;
	s->suppressed = false;
	/* offers of the old stream are void: everything is offered again */
	for (uint32_t i = 0; i < s->n_agents; i++)
		s->agents[i].offer_id[0] = '\0';
	mark_all_dirty(s);
	send_subscribed(s);
	send_offers(s);
	pthread_mutex_unlock(&s->mu);
	log_info("sim", "framework %s subscribed (stream %s)", s->framework_id, stream_id);
	return 200;
}

void sim_unsubscribe(struct sim *s, const char *stream_id)
{
	pthread_mutex_lock(&s->mu);
	if (s->stream_id[0] && strcmp(stream_id, s->stream_id) == 0) {
		s->emit = NULL;
		s->stream_id[0] = '\0';
		s->fw_disconnected_ns = clock_mono_ns();
		log_info("sim", "framework %s disconnected (failover timeout %.0f s)",
		         s->framework_id, s->fw_failover_s);
	}
	pthread_mutex_unlock(&s->mu);
}

static double scalar_of(const Mesos__V1__TaskInfo *ti, const char *name)
{
	double v = 0;
	for (size_t i = 0; i < ti->n_resources; i++)
		if (strcmp(ti->resources[i]->name, name) == 0 && ti->resources[i]->scalar &&
		    !sim_book_is_reserved(ti->resources[i]))
			v += ti->resources[i]->scalar->value;
	return v;
}

/* Ports the task asks for; false when one is outside the agent's free set
 * or taken twice (by the bitmap copy `avail`, updated). */
static bool take_ports(const struct agent *a, const Mesos__V1__TaskInfo *ti, uint8_t *avail,
                       uint32_t **out, size_t *n_out)
{
	*out = NULL;
	*n_out = 0;
	for (size_t i = 0; i < ti->n_resources; i++) {
		const Mesos__V1__Resource *r = ti->resources[i];
		if (strcmp(r->name, "ports") != 0 || r->ranges == NULL)
			continue;
		for (size_t k = 0; k < r->ranges->n_range; k++) {
			uint64_t b = r->ranges->range[k]->begin, e = r->ranges->range[k]->end;
			if (e < b || e - b > 65535)
				return false;
			for (uint64_t p = b; p <= e; p++) {
				if (p < a->port_lo || p - a->port_lo >= a->n_ports)
					return false;
				uint32_t bit = (uint32_t)(p - a->port_lo);
				if (!(avail[bit / 8] & (1u << (bit % 8))))
					return false;
				avail[bit / 8] &= (uint8_t) ~(1u << (bit % 8));
				uint32_t *np = realloc(*out, (*n_out + 1) * sizeof(uint32_t));
				if (np == NULL)
					return false;
				*out = np;
				(*out)[(*n_out)++] = (uint32_t)p;
			}
		}
	}
	return true;
}

static struct task *task_new(struct sim *s, const char *id, uint32_t agent)
{
	struct task *t = calloc(1, sizeof(*t));
	if (t == NULL || (t->id = strdup(id)) == NULL) {
		free(t);
		return NULL;
	}
	t->agent = agent;
	if (htab_put(&s->tasks, t) != 0) {
		task_free(t);
		return NULL;
	}
	return t;
}

/* A launch that cannot run: its update, and a record so it can be acked. */
static void refuse_task(struct sim *s, const char *id, uint32_t agent, int state, int reason,
                        const char *msg)
{
	struct task *t = task_find(s, id);
	if (t == NULL && (t = task_new(s, id, agent)) == NULL)
		return;
	/* a framework that is not partition-aware hears LOST for DROPPED
	 * (Mesos src/master/master.cpp, Master::_accept) */
	if (state == MESOS__V1__TASK_STATE__TASK_DROPPED && !s->fw_partition_aware)
		state = MESOS__V1__TASK_STATE__TASK_LOST;
	t->state = state;
	s->st.dropped++;
	send_update(s, t, state, reason, msg, false); /* the master's own: no uuid */
}

static uint64_t task_duration_ns(struct sim *s)
{
	double secs = s->cfg.task_secs;
	switch (s->cfg.task_dist) {
	case SIM_DIST_EXP:
		secs *= -log(1.0 - rnd01(s));
		if (secs > 20 * s->cfg.task_secs)
			secs = 20 * s->cfg.task_secs;
		break;
	case SIM_DIST_FIXED:
		break;
	default:
		secs *= 0.5 + rnd01(s);
		break;
	}
	return (uint64_t)(secs * 1e9);
}

/* The agent of an outstanding offer id, or -1 (ids of spent offers no longer match). */
static int offer_agent(struct sim *s, const char *id)
{
	const char *dash = strrchr(id, '-');
	char *end = NULL;
	unsigned long k = dash ? strtoul(dash + 1, &end, 10) : 0;
	if (dash && end && *end == '\0' && k < s->n_agents && !s->agents[k].gone &&
	    strcmp(s->agents[k].offer_id, id) == 0)
		return (int)k;
	return -1;
}

/* The agent whose outstanding offers these all are, or -1. */
static int offers_agent(struct sim *s, Mesos__V1__OfferID *const *ids, size_t n)
{
	int agent = -1;
	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int found = offer_agent(s, ids[i]->value);
		if (found < 0 || (agent >= 0 && found != agent))
			return -1;
		agent = found;
	}
	return agent;
}

/*
 * An ACCEPT refused for its offers (one unknown, spent or rescinded, or
 * offers of several agents): the master drops every offer the call named
 * and gives their resources back to the allocator, which offers them
 * again (Mesos src/master/master.cpp, Master::accept; the expectation is
 * written in src/tests/master_tests.cpp, MasterTest.LaunchAcrossSlaves:
 * "The resources of the invalid offers should be recovered").
 */
static void void_offers(struct sim *s, Mesos__V1__OfferID *const *ids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int k = offer_agent(s, ids[i]->value);
		if (k < 0)
			continue;
		s->agents[k].offer_id[0] = '\0';
		mark_dirty(s, &s->agents[k]);
	}
}

static void start_running(struct sim *s, struct task *t)
{
	t->state = MESOS__V1__TASK_STATE__TASK_RUNNING;
	t->running_ns = s->now_ns;
	if (t->pid > 0) { /* --exec: it ends when its process does */
		t->end_ns = 0;
	} else {
		t->end_ns = s->now_ns + task_duration_ns(s);
		timers_push(&s->ends, t->end_ns, (uintptr_t)t);
	}
	if (t->hc) { /* the first check after delay_seconds */
		t->hc_next_ns = s->now_ns + (uint64_t)(t->hc_delay * 1e9);
		timers_push(&s->checks, t->hc_next_ns, (uintptr_t)t);
	}
	send_update(s, t, MESOS__V1__TASK_STATE__TASK_RUNNING, 0, "running", true);
}

/*
 * A task's health check (TaskInfo.health_check; Mesos's defaults for what
 * it leaves out: delay 15 s, every 10 s, 3 consecutive failures, grace
 * period 10 s). The check passes unless its command is "exit N" with N not
 * 0, or the task's command carries "unhealthy-after N" and it has run N
 * seconds.
 */
static void health_setup(struct task *t, const Mesos__V1__TaskInfo *ti)
{
	const Mesos__V1__HealthCheck *h = ti->health_check;
	t->hc = h != NULL;
	t->hc_fails_check = false;
	t->unhealthy_after_ns = 0;
	const char *cmd = ti->command && ti->command->value ? ti->command->value : "";
	const char *m = strstr(cmd, "unhealthy-after ");
	if (m)
		t->unhealthy_after_ns = (uint64_t)(atof(m + 16) * 1e9) + 1;
	if (!t->hc)
		return;
	const char *hcmd = h->command && h->command->value ? h->command->value : "";
	t->hc_fails_check = strncmp(hcmd, "exit ", 5) == 0 && atoi(hcmd + 5) != 0;
	t->hc_delay = h->has_delay_seconds ? h->delay_seconds : 15;
	t->hc_interval =
	    h->has_interval_seconds && h->interval_seconds > 0 ? h->interval_seconds : 10;
	t->hc_grace = h->has_grace_period_seconds ? h->grace_period_seconds : 10;
	t->hc_max =
	    h->has_consecutive_failures && h->consecutive_failures ? h->consecutive_failures : 3;
	t->hc_failures = 0;
	t->hc_initializing = true;
}

static void kill_task(struct sim *s, struct task *t, bool notify);

/*
 * One health check of a running task, as Mesos's health checker: a failure
 * within the grace period before any success is ignored; otherwise each
 * failure sends TASK_RUNNING with healthy false (reason
 * REASON_TASK_HEALTH_CHECK_STATUS_UPDATED), and the consecutive_failures-th
 * kills the task (TASK_KILLED, healthy false: src/launcher/executor.cpp);
 * the first success, and the first after failures, send healthy true.
 */
static void health_check(struct sim *s, struct task *t)
{
	uint64_t ran = s->now_ns - t->running_ns;
	bool ok = !t->hc_fails_check && !(t->unhealthy_after_ns && ran >= t->unhealthy_after_ns);
	t->hc_next_ns = s->now_ns + (uint64_t)(t->hc_interval * 1e9);
	timers_push(&s->checks, t->hc_next_ns, (uintptr_t)t);
	s->st.health_checks++;
	if (ok) {
		if (t->hc_initializing || t->hc_failures)
			send_status(
			    s, t, MESOS__V1__TASK_STATE__TASK_RUNNING,
			    MESOS__V1__TASK_STATUS__REASON__REASON_TASK_HEALTH_CHECK_STATUS_UPDATED,
			    "health check passed", true, 1);
		t->hc_initializing = false;
		t->hc_failures = 0;
		return;
	}
	if (t->hc_initializing && ran < (uint64_t)(t->hc_grace * 1e9))
		return;
	t->hc_failures++;
	send_status(s, t, MESOS__V1__TASK_STATE__TASK_RUNNING,
	            MESOS__V1__TASK_STATUS__REASON__REASON_TASK_HEALTH_CHECK_STATUS_UPDATED,
	            "health check failed", true, 0);
	if (t->hc_failures < t->hc_max)
		return;
	kill_task(s, t, false);
	s->st.health_kills++;
	send_status(s, t, t->state, 0, "killed: health check failed", true, 0);
}

/* Launched and not ended: STARTING or RUNNING. */
static bool live(const struct task *t)
{
	return t->state == MESOS__V1__TASK_STATE__TASK_RUNNING ||
	       t->state == MESOS__V1__TASK_STATE__TASK_STARTING;
}

static bool known(const struct task *t);

/*
 * --exec: the task's process started; on failure the task ends
 * TASK_FAILED (REASON_COMMAND_EXECUTOR_FAILED), as an agent whose command
 * executor could not run it reports. 0 or -1.
 */
static int exec_start(struct sim *s, struct task *t, struct agent *ag,
                      const Mesos__V1__TaskInfo *ti)
{
	char dir[4200], why[256];
	t->kill_at_ns = 0;
	if (s->n_exec == s->cap_exec) {
		size_t nc = s->cap_exec ? 2 * s->cap_exec : 64;
		struct task **v = realloc(s->exec, nc * sizeof(*v));
		if (v) {
			s->exec = v;
			s->cap_exec = nc;
		}
	}
	t->pid = s->n_exec < s->cap_exec ? sim_exec_start(s->cfg.exec_root, ag->id, t->id, ti, dir,
	                                                  sizeof(dir), why, sizeof(why))
	                                 : -1;
	if (t->pid > 0) {
		s->exec[s->n_exec++] = t;
		return 0;
	}
	if (s->n_exec >= s->cap_exec)
		snprintf(why, sizeof(why), "out of memory");
	t->pid = 0;
	t->state = MESOS__V1__TASK_STATE__TASK_FAILED;
	release(s, t);
	s->st.failed++;
	send_update(s, t, t->state, MESOS__V1__TASK_STATUS__REASON__REASON_COMMAND_EXECUTOR_FAILED,
	            why, true);
	return -1;
}

static void launch_one(struct sim *s, int agent, const Mesos__V1__TaskInfo *ti)
{
	const char *id = ti->task_id ? ti->task_id->value : "";
	if (agent >= 0 && s->cfg.lose_rate > 0 && rnd01(s) < s->cfg.lose_rate) {
		s->st.lost_launches++; /* gone without a trace: only reconciliation finds out */
		return;
	}
	if (agent < 0) {
		refuse_task(s, id, 0, MESOS__V1__TASK_STATE__TASK_DROPPED,
		            MESOS__V1__TASK_STATUS__REASON__REASON_INVALID_OFFERS,
		            "Task launched with invalid offers");
		return;
	}
	struct agent *ag = &s->agents[agent];
	double c = scalar_of(ti, "cpus"), m = scalar_of(ti, "mem"), d = scalar_of(ti, "disk"),
	       g = scalar_of(ti, "gpus");
	struct task *old = task_find(s, id);
	uint8_t avail[(ag->n_ports + 7) / 8];
	memcpy(avail, ag->ports, sizeof(avail));
	uint32_t *ports = NULL;
	size_t np = 0;
	const char *why = NULL;
	char bwhy[200];
	struct sim_claim claim = {0};
	/* as a master validates a task (Mesos src/master/validation.cpp): its id
	 * unique among the tasks the master knows (a finished, acknowledged
	 * task's id may be used again), some resources (a command task may
	 * have cpus and no mem) */
	if (known(old))
		why = "Task has duplicate ID";
	else if (ti->n_resources == 0)
		why = "Task uses no resources";
	else if (c > ag->cpus + 1e-9 || m > ag->mem + 1e-9 || d > ag->disk + 1e-9 ||
	         g > ag->gpus + 1e-9)
		why = "Task uses more resources than offered";
	else if (!take_ports(ag, ti, avail, &ports, &np))
		why = "Task uses ports that are not offered";
	else if (sim_book_check_task(&ag->book, s->fw_role, ti->resources, ti->n_resources, &claim,
	                             bwhy, sizeof(bwhy)) != 0)
		why = bwhy; /* reserved resources or a volume not offered */
	if (why != NULL) {
		free(ports);
		refuse_task(s, id, (uint32_t)agent, MESOS__V1__TASK_STATE__TASK_ERROR,
		            MESOS__V1__TASK_STATUS__REASON__REASON_TASK_INVALID, why);
		return;
	}
	struct task *t = old ? old : task_new(s, id, (uint32_t)agent);
	if (t == NULL) {
		free(ports);
		sim_claim_fini(&claim);
		return;
	}
	sim_book_take(&ag->book, &claim, id);
	sim_claim_fini(&t->claim);
	t->claim = claim;
	free(t->ports);
	t->agent = (uint32_t)agent;
	t->ports = ports;
	t->n_ports = np;
	t->cpus = c;
	t->mem = m;
	t->disk = d;
	t->gpus = g;
	memcpy(ag->ports, avail, sizeof(avail));
	ag->cpus -= c;
	ag->mem -= m;
	ag->disk -= d;
	ag->gpus -= g;
	t->exit_code = 0;
	if (ti->command && ti->command->value && strncmp(ti->command->value, "exit ", 5) == 0)
		t->exit_code = atoi(ti->command->value + 5);
	health_setup(t, ti);
	if (s->cfg.exec_root && exec_start(s, t, ag, ti) != 0)
		return; /* its failure is sent */
	if (s->cfg.launch_log) {
		if (claim.vol_id) /* which volume on which host */
			fprintf(s->cfg.launch_log, "%s host=%s volume=%s\n", id, ag->host,
			        claim.vol_id);
		else
			fprintf(s->cfg.launch_log, "%s\n", id);
		fflush(s->cfg.launch_log);
	}
	s->st.launched++;
	s->st.running++;
	if (s->st.running > s->st.running_peak)
		s->st.running_peak = s->st.running;
	if (!s->cfg.no_starting) {
		/* RUNNING follows once STARTING is acknowledged, as an agent's
		 * status update manager sends a task's updates one at a time */
		t->state = MESOS__V1__TASK_STATE__TASK_STARTING;
		send_update(s, t, t->state, 0, "starting", true);
		return;
	}
	start_running(s, t);
}

/*
 * RESERVE, UNRESERVE, CREATE or DESTROY on the agent of the offers, as
 * Master::_accept applies them: in order, each to what the offers hold
 * after the ones before; an invalid one is dropped with a log line and
 * the rest go on (no operation feedback: the scheduler sees the result in
 * the next offer).
 */
static void book_op(struct sim *s, int agent, const Mesos__V1__Offer__Operation *op)
{
	static const char *const names[] = {"UNKNOWN",   "LAUNCH", "RESERVE",
	                                    "UNRESERVE", "CREATE", "DESTROY"};
	char why[256] = "";
	int rc = -1;
	const char *name = (unsigned)op->type < 6 ? names[op->type] : "UNKNOWN";
	if (agent < 0) {
		s->st.ops_refused++;
		return; /* the offers were invalid: nothing applied */
	}
	struct agent *ag = &s->agents[agent];
	double unres[SB_N] = {ag->cpus, ag->mem, ag->disk};
	switch (op->type) {
	case MESOS__V1__OFFER__OPERATION__TYPE__RESERVE:
		if (op->reserve)
			rc = sim_book_reserve(&ag->book, s->fw_role, s->fw_principal,
			                      op->reserve->resources, op->reserve->n_resources,
			                      unres, why, sizeof(why));
		break;
	case MESOS__V1__OFFER__OPERATION__TYPE__UNRESERVE:
		if (op->unreserve)
			rc =
			    sim_book_unreserve(&ag->book, s->fw_role, op->unreserve->resources,
			                       op->unreserve->n_resources, unres, why, sizeof(why));
		break;
	case MESOS__V1__OFFER__OPERATION__TYPE__CREATE:
		if (op->create)
			rc = sim_book_create(&ag->book, s->fw_role, op->create->volumes,
			                     op->create->n_volumes, why, sizeof(why));
		break;
	case MESOS__V1__OFFER__OPERATION__TYPE__DESTROY:
		if (op->destroy)
			rc = sim_book_destroy(&ag->book, s->fw_role, op->destroy->volumes,
			                      op->destroy->n_volumes, why, sizeof(why));
		break;
	default:
		snprintf(why, sizeof(why), "operation type %d is not supported", (int)op->type);
		break;
	}
	if (rc != 0) {
		if (!why[0])
			snprintf(why, sizeof(why), "Invalid %s Operation: its %s field is missing",
			         name, name);
		s->st.ops_refused++;
		log_warn("sim", "dropping %s offer operation on agent %s: %s", name, ag->id, why);
		return;
	}
	ag->cpus = unres[SB_CPUS];
	ag->mem = unres[SB_MEM];
	ag->disk = unres[SB_DISK];
	s->st.ops_applied++;
}

static void sim_accept(struct sim *s, const Mesos__V1__Scheduler__Call__Accept *a)
{
	int agent = offers_agent(s, a->offer_ids, a->n_offer_ids);
	for (size_t o = 0; o < a->n_operations; o++) {
		const Mesos__V1__Offer__Operation *op = a->operations[o];
		if (op->type != MESOS__V1__OFFER__OPERATION__TYPE__LAUNCH) {
			book_op(s, agent, op);
			continue;
		}
		if (op->launch == NULL)
			continue;
		for (size_t k = 0; k < op->launch->n_task_infos; k++)
			launch_one(s, agent, op->launch->task_infos[k]);
	}
	if (agent < 0) {
		void_offers(s, a->offer_ids, a->n_offer_ids);
		return;
	}
	/* what was not used comes back in a new offer (after the filter) */
	struct agent *ag = &s->agents[agent];
	ag->offer_id[0] = '\0';
	/* no filters: a master's default, 5 s, for ACCEPT and DECLINE alike
	 * (Filters.refuse_seconds in mesos.proto) */
	double refuse =
	    a->filters && a->filters->has_refuse_seconds ? a->filters->refuse_seconds : 5.0;
	if (refuse > 0)
		ag->refuse_until_ns = s->now_ns + (uint64_t)(refuse * 1e9);
	mark_dirty(s, ag);
}

static void release(struct sim *s, struct task *t)
{
	struct agent *a = &s->agents[t->agent];
	a->cpus += t->cpus;
	a->mem += t->mem;
	a->disk += t->disk;
	a->gpus += t->gpus;
	for (size_t i = 0; i < t->n_ports; i++) {
		uint32_t bit = t->ports[i] - a->port_lo;
		if (bit < a->n_ports)
			a->ports[bit / 8] |= (uint8_t)(1u << (bit % 8));
	}
	t->cpus = t->mem = t->disk = t->gpus = 0;
	t->n_ports = 0;
	sim_book_give(&a->book, &t->claim); /* its volume stays, free for the next run */
	sim_claim_fini(&t->claim);
	mark_dirty(s, a);
}

/*
 * A task the master knows for the framework: not terminal, or terminal with
 * its last update not yet acknowledged (then the master still holds it);
 * unreachable tasks are kept apart (Master::Framework tasks vs
 * unreachableTasks).
 */
static bool known(const struct task *t)
{
	return t != NULL && t->state != MESOS__V1__TASK_STATE__TASK_UNREACHABLE &&
	       (!terminal(t->state) || t->unacked);
}

/* An update the master writes itself: no uuid, not resent, nothing to
 * acknowledge; unreachable_time set when unreachable_s > 0. */
static void master_update(struct sim *s, const char *task, const char *agent, int state, int reason,
                          const char *msg, double unreachable_s)
{
	Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
	Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
	Mesos__V1__TimeInfo ut = MESOS__V1__TIME_INFO__INIT;
	Mesos__V1__Scheduler__Event__Update up = MESOS__V1__SCHEDULER__EVENT__UPDATE__INIT;
	event_t ev = MESOS__V1__SCHEDULER__EVENT__INIT;
	tid.value = (char *)task;
	st.task_id = &tid;
	if (agent != NULL) {
		aid.value = (char *)agent;
		st.agent_id = &aid;
	}
	st.state = state;
	st.message = (char *)msg;
	st.has_source = true;
	st.source = MESOS__V1__TASK_STATUS__SOURCE__SOURCE_MASTER;
	st.has_reason = true;
	st.reason = reason;
	st.has_timestamp = true;
	st.timestamp = (double)clock_wall_ns() / 1e9;
	if (unreachable_s > 0) {
		ut.nanoseconds = (int64_t)(unreachable_s * 1e9);
		st.unreachable_time = &ut;
	}
	up.status = &st;
	ev.has_type = true;
	ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE;
	ev.update = &up;
	s->st.updates_sent++;
	emit(s, &ev);
}

/*
 * One task of a RECONCILE, answered as a master does (Mesos
 * src/master/master.cpp, Master::reconcile): a known task's latest state;
 * an unknown one TASK_GONE when its agent is registered, TASK_UNREACHABLE
 * when the agent is unreachable, TASK_UNKNOWN when the agent is unknown or
 * not given. A framework that is not partition-aware hears TASK_LOST for
 * the three. Answers carry no uuid and are sent once.
 */
#define REASON_RECONCILIATION MESOS__V1__TASK_STATUS__REASON__REASON_RECONCILIATION

static void reconcile_one(struct sim *s, const char *id, const char *agent_id)
{
	struct task *t = task_find(s, id);
	if (known(t)) {
		master_update(s, t->id, s->agents[t->agent].id, t->state, REASON_RECONCILIATION,
		              "Reconciliation: Latest task state", 0);
		return;
	}
	const struct agent *a = NULL;
	for (uint32_t i = 0; agent_id != NULL && i < s->n_agents; i++)
		if (strcmp(s->agents[i].id, agent_id) == 0)
			a = &s->agents[i];
	int state = MESOS__V1__TASK_STATE__TASK_UNKNOWN;
	const char *msg = "Reconciliation: Task is unknown";
	double unreachable_s = 0;
	if (a != NULL && !a->gone) {
		state = MESOS__V1__TASK_STATE__TASK_GONE;
		msg = "Reconciliation: Task is unknown to the agent";
	} else if (a != NULL) {
		state = MESOS__V1__TASK_STATE__TASK_UNREACHABLE;
		msg = "Reconciliation: Task is unreachable";
		unreachable_s = a->unreachable_s;
	}
	if (!s->fw_partition_aware)
		state = MESOS__V1__TASK_STATE__TASK_LOST;
	master_update(s, id, agent_id, state, REASON_RECONCILIATION, msg, unreachable_s);
}

static void kill_task(struct sim *s, struct task *t, bool notify)
{
	if (t->pid > 0 && !t->kill_at_ns) { /* --exec: SIGTERM, SIGKILL after 3 s (Mesos's
		                             * default KillPolicy grace period) */
		sim_exec_signal(t->pid, SIGTERM);
		t->kill_at_ns = s->now_ns + 3000000000ull;
	}
	t->state = MESOS__V1__TASK_STATE__TASK_KILLED;
	release(s, t);
	running_dec(s);
	s->st.killed++;
	if (notify)
		send_update(s, t, t->state, 0, "killed", true);
}

/* SHUTDOWN: a command task's executor has the task's id (Mesos's command
 * executor), so shutting it down kills the task. 202, or 400 with err. */
static int shutdown_executor(struct sim *s, const Mesos__V1__Scheduler__Call__Shutdown *sd,
                             char *err, size_t err_len)
{
	if (sd == NULL || sd->executor_id == NULL || sd->agent_id == NULL) {
		snprintf(err, err_len, "Expecting 'shutdown' with executor_id and agent_id");
		return 400;
	}
	struct task *t = task_find(s, sd->executor_id->value);
	if (t != NULL && live(t) && strcmp(s->agents[t->agent].id, sd->agent_id->value) == 0) {
		kill_task(s, t, true);
		s->st.shutdowns++;
	}
	return 202;
}

int sim_call(struct sim *s, const char *stream_id, const call_t *call, char *err, size_t err_len)
{
	int rc = 202;
	if (!call->has_type || call->type == MESOS__V1__SCHEDULER__CALL__TYPE__UNKNOWN) {
		snprintf(err, err_len, "Expecting 'type' to be present");
		return 400;
	}
	/*
	 * The master's checks, in its order and with its codes (Mesos
	 * src/master/http.cpp, Master::Http::scheduler, after
	 * src/master/validation.cpp, scheduler::call::validate): the call
	 * itself (400), the framework (400 unknown, 403 not connected), then
	 * the stream id (400 missing or another stream's).
	 */
	if (call->framework_id == NULL || call->framework_id->value == NULL) {
		snprintf(
		    err, err_len,
		    "Failed to validate scheduler::Call: Expecting 'framework_id' to be present");
		return 400;
	}
	if (call->type == MESOS__V1__SCHEDULER__CALL__TYPE__ACKNOWLEDGE && call->acknowledge &&
	    call->acknowledge->uuid.len != 16) {
		snprintf(err, err_len,
		         "Failed to validate scheduler::Call: Not a valid UUID (%zu bytes, not 16)",
		         call->acknowledge->uuid.len);
		return 400;
	}
	pthread_mutex_lock(&s->mu);
	s->now_ns = clock_mono_ns();
	expire_framework(s);
	if (!s->framework_id[0] || strcmp(call->framework_id->value, s->framework_id) != 0) {
		snprintf(err, err_len, "Framework cannot be found");
		pthread_mutex_unlock(&s->mu);
		return 400;
	}
	if (!s->stream_id[0]) {
		snprintf(err, err_len, "Framework is not subscribed");
		pthread_mutex_unlock(&s->mu);
		return 403;
	}
	if (stream_id == NULL) {
		snprintf(err, err_len,
		         "All non-subscribe calls should include the 'Mesos-Stream-Id' header");
		pthread_mutex_unlock(&s->mu);
		return 400;
	}
	if (strcmp(stream_id, s->stream_id) != 0) {
		snprintf(err, err_len,
		         "The stream ID '%s' included in this request didn't match the stream ID "
		         "currently associated with framework ID %s",
		         stream_id, s->framework_id);
		pthread_mutex_unlock(&s->mu);
		return 400;
	}
	switch (call->type) {
	case MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT:
		if (call->accept == NULL) {
			snprintf(err, err_len, "Expecting 'accept' to be present");
			rc = 400;
		} else {
			s->st.accepts++;
			sim_accept(s, call->accept);
		}
		break;
	case MESOS__V1__SCHEDULER__CALL__TYPE__DECLINE:
		if (call->decline == NULL) {
			snprintf(err, err_len, "Expecting 'decline' to be present");
			rc = 400;
		} else {
			/* DECLINE is ACCEPT with no operations, but its offers may come
			 * from many agents: each is declined on its own */
			for (size_t i = 0; i < call->decline->n_offer_ids; i++) {
				Mesos__V1__Scheduler__Call__Accept a =
				    MESOS__V1__SCHEDULER__CALL__ACCEPT__INIT;
				a.n_offer_ids = 1;
				a.offer_ids = &call->decline->offer_ids[i];
				a.filters = call->decline->filters;
				sim_accept(s, &a);
			}
		}
		break;
	case MESOS__V1__SCHEDULER__CALL__TYPE__ACKNOWLEDGE: {
		const Mesos__V1__Scheduler__Call__Acknowledge *ack = call->acknowledge;
		if (ack == NULL || ack->task_id == NULL) {
			snprintf(err, err_len, "Expecting 'acknowledge' to be present");
			rc = 400;
			break;
		}
		struct task *t = task_find(s, ack->task_id->value);
		if (t != NULL && ack->uuid.len == 16 && memcmp(ack->uuid.data, t->uuid, 16) == 0 &&
		    t->unacked) {
			bool started = t->unacked_state == MESOS__V1__TASK_STATE__TASK_STARTING &&
			               t->state == MESOS__V1__TASK_STATE__TASK_STARTING;
			t->unacked = false;
			s->st.acks++;
			if (t->n_queued) {
				struct held_update h = t->queued[0];
				memmove(&t->queued[0], &t->queued[1],
				        --t->n_queued * sizeof(t->queued[0]));
				send_status(s, t, h.state, h.reason, h.msg, true, h.health);
			}
			if (started)
				start_running(s, t);
		}
		break;
	}
	case MESOS__V1__SCHEDULER__CALL__TYPE__KILL: {
		struct task *t = call->kill && call->kill->task_id
		                     ? task_find(s, call->kill->task_id->value)
		                     : NULL;
		/* a live task is killed; a known terminal one (its last update not
		 * yet acknowledged) is left to the agent, which says nothing; an
		 * unknown one is reconciled (Master::kill) */
		if (t != NULL && live(t))
			kill_task(s, t, true);
		else if (call->kill && call->kill->task_id && !known(t))
			reconcile_one(s, call->kill->task_id->value,
			              call->kill->agent_id ? call->kill->agent_id->value : NULL);
		break;
	}
	case MESOS__V1__SCHEDULER__CALL__TYPE__SHUTDOWN:
		rc = shutdown_executor(s, call->shutdown, err, err_len);
		break;
	case MESOS__V1__SCHEDULER__CALL__TYPE__RECONCILE:
		if (call->reconcile && call->reconcile->n_tasks > 0) {
			for (size_t i = 0; i < call->reconcile->n_tasks; i++) {
				const Mesos__V1__Scheduler__Call__Reconcile__Task *rt =
				    call->reconcile->tasks[i];
				if (rt->task_id)
					reconcile_one(s, rt->task_id->value,
					              rt->agent_id ? rt->agent_id->value : NULL);
			}
		} else {
			/* implicit: every task the master knows, unreachable ones not */
			struct htab_iter it;
			htab_iter_init(&it);
			for (struct task *t; (t = htab_next(&s->tasks, &it)) != NULL;)
				if (known(t))
					reconcile_one(s, t->id, NULL);
		}
		break;
	case MESOS__V1__SCHEDULER__CALL__TYPE__REVIVE:
		s->suppressed = false;
		for (uint32_t i = 0; i < s->n_agents; i++)
			s->agents[i].refuse_until_ns = 0;
		mark_all_dirty(s);
		break;
	case MESOS__V1__SCHEDULER__CALL__TYPE__SUPPRESS:
		s->suppressed = true;
		break;
	case MESOS__V1__SCHEDULER__CALL__TYPE__TEARDOWN:
		framework_remove(s, "TEARDOWN"); /* ends its stream too */
		break;
	case MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE:
		snprintf(err, err_len, "SUBSCRIBE opens a stream; send it without Mesos-Stream-Id");
		rc = 400;
		break;
	default:
		break; /* MESSAGE, REQUEST, inverse offers: accepted, no effect */
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

bool sim_sandbox(struct sim *s, const char *task_id, char *dir, size_t len)
{
	pthread_mutex_lock(&s->mu);
	struct task *t = task_find(s, task_id);
	bool ok = t != NULL && t->agent < s->n_agents;
	if (ok)
		snprintf(dir, len, "/sandbox/%s/%s", s->agents[t->agent].id, task_id);
	pthread_mutex_unlock(&s->mu);
	return ok;
}

bool sim_sandbox_dir(struct sim *s, const char *task_id, char *dir, size_t len)
{
	if (!s->cfg.exec_root)
		return false;
	pthread_mutex_lock(&s->mu);
	struct task *t = task_find(s, task_id);
	bool ok = t != NULL && t->agent < s->n_agents;
	if (ok)
		sim_exec_sandbox(s->cfg.exec_root, s->agents[t->agent].id, task_id, dir, len);
	pthread_mutex_unlock(&s->mu);
	return ok;
}

/* --- faults ------------------------------------------------------------------------ */

int sim_teardown(struct sim *s, char *err, size_t err_len)
{
	pthread_mutex_lock(&s->mu);
	s->now_ns = clock_mono_ns();
	bool known = s->framework_id[0] != '\0';
	if (known)
		framework_remove(s, "torn down by the operator");
	else
		snprintf(err, err_len, "no framework is registered");
	pthread_mutex_unlock(&s->mu);
	return known ? 0 : -1;
}

/* A task's UPDATE as its agent is marked unreachable: no uuid, unreachable_time set. */
static void task_unreachable(struct sim *s, struct task *t, const struct agent *a)
{
	int state = s->fw_partition_aware ? MESOS__V1__TASK_STATE__TASK_UNREACHABLE
	                                  : MESOS__V1__TASK_STATE__TASK_LOST;
	master_update(s, t->id, a->id, state, MESOS__V1__TASK_STATUS__REASON__REASON_AGENT_REMOVED,
	              "Agent removed", a->unreachable_s);
}

/*
 * An agent lost, as a master marks it unreachable (Mesos
 * src/master/master.cpp, Master::markUnreachable then removeSlave): its
 * tasks' updates first (TASK_UNREACHABLE, or TASK_LOST for a framework
 * that is not partition-aware, with unreachable_time), then its offer
 * rescinded, then the agent's FAILURE.
 */
int sim_agent_down(struct sim *s, const char *key, char *err, size_t err_len)
{
	pthread_mutex_lock(&s->mu);
	s->now_ns = clock_mono_ns();
	struct agent *a = agent_find(s, key);
	if (a == NULL || a->gone) {
		snprintf(err, err_len, "%s: %s", key,
		         a ? "agent is already down" : "no such agent");
		pthread_mutex_unlock(&s->mu);
		return -1;
	}
	uint32_t idx = (uint32_t)(a - s->agents);
	a->gone = true;
	a->unreachable_s = (double)clock_wall_ns() / 1e9;
	s->st.agents_down++;
	struct htab_iter it;
	htab_iter_init(&it);
	for (struct task *t; (t = htab_next(&s->tasks, &it)) != NULL;) {
		if (t->agent != idx || !live(t))
			continue;
		if (t->pid > 0) { /* --exec: the agent is gone with its processes */
			sim_exec_signal(t->pid, SIGKILL);
			t->kill_at_ns = UINT64_MAX;
		}
		t->state = MESOS__V1__TASK_STATE__TASK_UNREACHABLE;
		t->unacked = false; /* the agent's pending update dies with it */
		t->n_queued = 0;
		release(s, t);
		running_dec(s);
		s->st.unreachable++;
		task_unreachable(s, t, a);
	}
	if (a->offer_id[0]) {
		Mesos__V1__OfferID oid = MESOS__V1__OFFER_ID__INIT;
		Mesos__V1__Scheduler__Event__Rescind r = MESOS__V1__SCHEDULER__EVENT__RESCIND__INIT;
		event_t ev = MESOS__V1__SCHEDULER__EVENT__INIT;
		oid.value = a->offer_id;
		r.offer_id = &oid;
		ev.has_type = true;
		ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__RESCIND;
		ev.rescind = &r;
		emit(s, &ev);
		s->st.rescinds++;
		a->offer_id[0] = '\0';
	}
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
	Mesos__V1__Scheduler__Event__Failure f = MESOS__V1__SCHEDULER__EVENT__FAILURE__INIT;
	event_t ev = MESOS__V1__SCHEDULER__EVENT__INIT;
	aid.value = a->id;
	f.agent_id = &aid;
	ev.has_type = true;
	ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__FAILURE;
	ev.failure = &f;
	emit(s, &ev);
	log_warn("sim", "agent %s (%s) is down", a->id, a->host);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

int sim_agent_up(struct sim *s, const char *key, char *err, size_t err_len)
{
	pthread_mutex_lock(&s->mu);
	struct agent *a = agent_find(s, key);
	if (a == NULL || !a->gone) {
		snprintf(err, err_len, "%s: %s", key, a ? "agent is not down" : "no such agent");
		pthread_mutex_unlock(&s->mu);
		return -1;
	}
	a->incarnation++;
	agent_set_id(a, (uint32_t)(a - s->agents));
	int rc = agent_reset(s, a) ? 0 : -1;
	if (rc == 0) {
		mark_dirty(s, a);
		log_info("sim", "agent %s (%s) is back", a->id, a->host);
	} else {
		a->gone = true;
		snprintf(err, err_len, "out of memory");
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

void sim_stall_heartbeats(struct sim *s, double secs)
{
	pthread_mutex_lock(&s->mu);
	s->hb_stall_until_ns = clock_mono_ns() + (uint64_t)(secs * 1e9);
	pthread_mutex_unlock(&s->mu);
}

void sim_set_dup_rate(struct sim *s, double rate)
{
	pthread_mutex_lock(&s->mu);
	s->cfg.dup_rate = rate;
	pthread_mutex_unlock(&s->mu);
}

void sim_mark(struct sim *s)
{
	pthread_mutex_lock(&s->mu);
	s->st.running_low = s->st.running;
	pthread_mutex_unlock(&s->mu);
}

void sim_set_lose_rate(struct sim *s, double rate)
{
	pthread_mutex_lock(&s->mu);
	s->cfg.lose_rate = rate;
	pthread_mutex_unlock(&s->mu);
}

/* A running task's end: FINISHED for status 0, else FAILED (its updates, counts, outcome log). */
static void task_ended(struct sim *s, struct task *t, int code, bool signaled)
{
	bool fail = code != 0;
	t->state = fail ? MESOS__V1__TASK_STATE__TASK_FAILED : MESOS__V1__TASK_STATE__TASK_FINISHED;
	release(s, t);
	running_dec(s);
	if (fail)
		s->st.failed++;
	else
		s->st.finished++;
	char msg[48];
	if (signaled)
		snprintf(msg, sizeof(msg), "terminated by signal %d", code - 128);
	else
		snprintf(msg, sizeof(msg), "exited with status %d", code);
	if (s->cfg.outcome_log) {
		fprintf(s->cfg.outcome_log, "%s %s\n", t->id,
		        fail ? "TASK_FAILED" : "TASK_FINISHED");
		fflush(s->cfg.outcome_log);
	}
	send_update(s, t, t->state, 0, msg, true);
}

/*
 * --exec: the processes that ended. A running task's exit ends it (its
 * status, as the command executor reports it); one that is not RUNNING
 * yet is left until its RUNNING went out; a killed or lost task's process
 * is reaped, and SIGKILLed once its grace period is over.
 */
static void reap(struct sim *s)
{
	for (size_t i = 0; i < s->n_exec;) {
		struct task *t = s->exec[i];
		int code;
		bool sig, running = t->state == MESOS__V1__TASK_STATE__TASK_RUNNING;
		if (!running && !terminal(t->state) &&
		    t->state != MESOS__V1__TASK_STATE__TASK_UNREACHABLE) {
			i++;
			continue;
		}
		if (sim_exec_ended(t->pid, &code, &sig)) {
			t->pid = 0;
			if (running)
				task_ended(s, t, code, sig);
			s->exec[i] = s->exec[--s->n_exec];
			continue;
		}
		if (!running && t->kill_at_ns && s->now_ns >= t->kill_at_ns) {
			sim_exec_signal(t->pid, SIGKILL);
			t->kill_at_ns = UINT64_MAX; /* once */
		}
		i++;
	}
}

void sim_tick(struct sim *s, uint64_t now_ns)
{
	pthread_mutex_lock(&s->mu);
	s->now_ns = now_ns;
	while (timers_due(&s->ends, now_ns)) {
		struct timer e = timers_pop(&s->ends);
		struct task *t = (struct task *)e.v;
		if (t->state != MESOS__V1__TASK_STATE__TASK_RUNNING || t->end_ns != e.at)
			continue; /* killed or lost meanwhile */
		bool fail =
		    t->exit_code != 0 || (s->cfg.fail_rate > 0 && rnd01(s) < s->cfg.fail_rate);
		task_ended(s, t, fail ? (t->exit_code ? t->exit_code : 1) : 0, false);
	}
	reap(s);
	while (timers_due(&s->checks, now_ns)) {
		struct timer e = timers_pop(&s->checks);
		struct task *t = (struct task *)e.v;
		if (t->hc && t->state == MESOS__V1__TASK_STATE__TASK_RUNNING &&
		    t->hc_next_ns == e.at)
			health_check(s, t);
	}
	/* resends wait while no framework is connected, as an agent's do */
	while (s->emit && timers_due(&s->resends, now_ns)) {
		struct timer e = timers_pop(&s->resends);
		struct task *t = (struct task *)e.v;
		if (t->unacked && t->resend_ns == e.at)
			resend(s, t, false);
	}
	while (timers_due(&s->refusals, now_ns)) {
		struct agent *a = &s->agents[timers_pop(&s->refusals).v];
		if (a->refuse_until_ns <= now_ns)
			mark_dirty(s, a);
	}
	expire_framework(s);
	if (s->emit && now_ns >= s->next_hb_ns && now_ns >= s->hb_stall_until_ns) {
		heartbeat(s);
		s->next_hb_ns = now_ns + (uint64_t)(s->cfg.heartbeat_secs * 1e9);
	}
	send_offers(s);
	pthread_mutex_unlock(&s->mu);
}

void sim_get_stats(struct sim *s, struct sim_stats *out)
{
	pthread_mutex_lock(&s->mu);
	*out = s->st;
	pthread_mutex_unlock(&s->mu);
}

/* --- the operator API ------------------------------------------------------------- */

#define NEW(ar, T, init) ((T *)op_new((ar), sizeof(T), (init)))

static void *op_new(struct arena *ar, size_t size, void (*init)(void *))
{
	void *p = arena_alloc(ar, size);
	if (p != NULL)
		init(p);
	return p;
}

/* cpus/mem/disk(/gpus) and a port range as a resource list (arena). */
static Mesos__V1__Resource **op_resources(struct arena *ar, const double v[4], uint32_t port_lo,
                                          uint32_t port_hi, size_t *n)
{
	Mesos__V1__Resource *res = arena_alloc(ar, 5 * sizeof(*res));
	Mesos__V1__Resource **resp = arena_alloc(ar, 5 * sizeof(*resp));
	Mesos__V1__Value__Scalar *sc = arena_alloc(ar, 4 * sizeof(*sc));
	if (res == NULL || resp == NULL || sc == NULL)
		return NULL;
	*n = scalars(res, resp, sc, v);
	if (port_hi >= port_lo && port_lo > 0) {
		Mesos__V1__Value__Ranges *rs = NEW(
		    ar, Mesos__V1__Value__Ranges, (void (*)(void *))mesos__v1__value__ranges__init);
		Mesos__V1__Value__Range *r = NEW(ar, Mesos__V1__Value__Range,
		                                 (void (*)(void *))mesos__v1__value__range__init);
		Mesos__V1__Value__Range **rp = arena_alloc(ar, sizeof(*rp));
		if (rs == NULL || r == NULL || rp == NULL)
			return NULL;
		r->begin = port_lo;
		r->end = port_hi;
		*rp = r;
		rs->n_range = 1;
		rs->range = rp;
		mesos__v1__resource__init(&res[*n]);
		res[*n].name = "ports";
		res[*n].type = MESOS__V1__VALUE__TYPE__RANGES;
		res[*n].ranges = rs;
		resp[*n] = &res[*n];
		(*n)++;
	}
	return resp;
}

static Mesos__V1__TimeInfo *op_time(struct arena *ar, double secs)
{
	Mesos__V1__TimeInfo *t =
	    NEW(ar, Mesos__V1__TimeInfo, (void (*)(void *))mesos__v1__time_info__init);
	if (t != NULL)
		t->nanoseconds = (int64_t)(secs * 1e9);
	return t;
}

static Mesos__V1__Master__Response__GetAgents *op_agents(struct sim *s, struct arena *ar)
{
	Mesos__V1__Master__Response__GetAgents *ga =
	    NEW(ar, Mesos__V1__Master__Response__GetAgents,
	        (void (*)(void *))mesos__v1__master__response__get_agents__init);
	if (ga == NULL)
		return NULL;
	ga->agents = arena_alloc(ar, (s->n_agents ? s->n_agents : 1) * sizeof(*ga->agents));
	if (ga->agents == NULL)
		return NULL;
	for (uint32_t i = 0; i < s->n_agents; i++) {
		struct agent *a = &s->agents[i];
		const struct sim_profile *p = &s->profiles[a->profile];
		if (a->gone)
			continue;
		Mesos__V1__Master__Response__GetAgents__Agent *ag =
		    NEW(ar, Mesos__V1__Master__Response__GetAgents__Agent,
		        (void (*)(void *))mesos__v1__master__response__get_agents__agent__init);
		Mesos__V1__AgentInfo *info =
		    NEW(ar, Mesos__V1__AgentInfo, (void (*)(void *))mesos__v1__agent_info__init);
		Mesos__V1__AgentID *aid =
		    NEW(ar, Mesos__V1__AgentID, (void (*)(void *))mesos__v1__agent_id__init);
		Mesos__V1__Attribute *attr = arena_alloc(ar, (SIM_MAX_ATTRS + 1) * sizeof(*attr));
		Mesos__V1__Attribute **attrp =
		    arena_alloc(ar, (SIM_MAX_ATTRS + 1) * sizeof(*attrp));
		Mesos__V1__Value__Text *text = arena_alloc(ar, (SIM_MAX_ATTRS + 1) * sizeof(*text));
		char *pid = arena_alloc(ar, 96);
		if (!ag || !info || !aid || !attr || !attrp || !text || !pid)
			return NULL;
		double rsv[SB_N];
		sim_book_reserved(&a->book, rsv);
		double total[4] = {p->cpus - rsv[SB_CPUS], p->mem_mb - rsv[SB_MEM],
		                   p->disk_mb - rsv[SB_DISK], p->gpus};
		double used[4] = {total[0] - a->cpus, total[1] - a->mem, total[2] - a->disk,
		                  p->gpus - a->gpus};
		aid->value = a->id;
		info->id = aid;
		info->hostname = a->host;
		info->has_port = true;
		info->port = s->port;
		double full[4] = {p->cpus, p->mem_mb, p->disk_mb, p->gpus};
		info->resources =
		    op_resources(ar, full, p->port_lo, p->port_hi, &info->n_resources);
		info->n_attributes = attributes(s, a, attr, attrp, text);
		info->attributes = attrp;
		snprintf(pid, 96, "slave(1)@%s:%u", s->ip, (unsigned)s->port);
		ag->agent_info = info;
		ag->active = true;
		ag->version = (char *)pel_version();
		ag->pid = pid;
		ag->registered_time = op_time(ar, a->registered_s);
		/* the total with the checkpointed reservations and volumes, as a master
		 * reports it (AgentInfo keeps the agent's own, unreserved view) */
		size_t nb = 0, nu = 0;
		Mesos__V1__Resource **book =
		    sim_book_resources(&a->book, s->fw_role, false, &nb, ar);
		Mesos__V1__Resource **unres = op_resources(ar, total, p->port_lo, p->port_hi, &nu);
		Mesos__V1__Resource **tot = arena_alloc(ar, (nu + nb + 1) * sizeof(*tot));
		if (!book || !unres || !tot)
			return NULL;
		memcpy(tot, unres, nu * sizeof(*tot));
		memcpy(tot + nu, book, nb * sizeof(*tot));
		ag->total_resources = tot;
		ag->n_total_resources = nu + nb;
		ag->allocated_resources = op_resources(ar, used, 0, 0, &ag->n_allocated_resources);
		if (a->offer_id[0]) {
			double free_[4] = {a->cpus, a->mem, a->disk, a->gpus};
			ag->offered_resources =
			    op_resources(ar, free_, 0, 0, &ag->n_offered_resources);
		}
		if (!info->resources || !ag->allocated_resources || !ag->registered_time)
			return NULL;
		ga->agents[ga->n_agents++] = ag;
	}
	return ga;
}

static Mesos__V1__Master__Response__GetFrameworks *op_frameworks(struct sim *s, struct arena *ar)
{
	Mesos__V1__Master__Response__GetFrameworks *gf =
	    NEW(ar, Mesos__V1__Master__Response__GetFrameworks,
	        (void (*)(void *))mesos__v1__master__response__get_frameworks__init);
	if (gf == NULL || !s->framework_id[0])
		return gf;
	Mesos__V1__Master__Response__GetFrameworks__Framework *f =
	    NEW(ar, Mesos__V1__Master__Response__GetFrameworks__Framework,
	        (void (*)(void *))mesos__v1__master__response__get_frameworks__framework__init);
	Mesos__V1__FrameworkInfo *fi =
	    NEW(ar, Mesos__V1__FrameworkInfo, (void (*)(void *))mesos__v1__framework_info__init);
	Mesos__V1__FrameworkID *fid =
	    NEW(ar, Mesos__V1__FrameworkID, (void (*)(void *))mesos__v1__framework_id__init);
	char **roles = arena_alloc(ar, sizeof(*roles));
	gf->frameworks = arena_alloc(ar, sizeof(*gf->frameworks));
	if (!f || !fi || !fid || !roles || !gf->frameworks)
		return NULL;
	fid->value = s->framework_id;
	fi->id = fid;
	fi->name = s->fw_name;
	fi->user = s->fw_user;
	if (s->fw_principal[0])
		fi->principal = s->fw_principal;
	roles[0] = s->fw_role;
	fi->roles = roles;
	fi->n_roles = 1;
	f->framework_info = fi;
	f->active = !s->suppressed;
	f->connected = s->emit != NULL;
	gf->frameworks[0] = f;
	gf->n_frameworks = 1;
	return gf;
}

static Mesos__V1__Task *op_task(struct sim *s, struct arena *ar, const struct task *t)
{
	Mesos__V1__Task *mt = NEW(ar, Mesos__V1__Task, (void (*)(void *))mesos__v1__task__init);
	Mesos__V1__TaskID *tid =
	    NEW(ar, Mesos__V1__TaskID, (void (*)(void *))mesos__v1__task_id__init);
	Mesos__V1__AgentID *aid =
	    NEW(ar, Mesos__V1__AgentID, (void (*)(void *))mesos__v1__agent_id__init);
	Mesos__V1__FrameworkID *fid =
	    NEW(ar, Mesos__V1__FrameworkID, (void (*)(void *))mesos__v1__framework_id__init);
	if (!mt || !tid || !aid || !fid)
		return NULL;
	tid->value = t->id;
	aid->value = s->agents[t->agent].id;
	fid->value = s->framework_id;
	mt->name = t->id;
	mt->task_id = tid;
	mt->agent_id = aid;
	mt->framework_id = fid;
	mt->state = t->state;
	double v[4] = {t->cpus, t->mem, t->disk, t->gpus};
	if (!terminal(t->state) && t->state != MESOS__V1__TASK_STATE__TASK_UNREACHABLE)
		mt->resources = op_resources(ar, v, 0, 0, &mt->n_resources);
	return mt;
}

static Mesos__V1__Master__Response__GetTasks *op_tasks(struct sim *s, struct arena *ar)
{
	Mesos__V1__Master__Response__GetTasks *gt =
	    NEW(ar, Mesos__V1__Master__Response__GetTasks,
	        (void (*)(void *))mesos__v1__master__response__get_tasks__init);
	size_t live = 0, unreachable = 0, done = 0;
	if (gt == NULL)
		return NULL;
	struct htab_iter it;
	htab_iter_init(&it);
	for (struct task *t; (t = htab_next(&s->tasks, &it)) != NULL;) {
		if (t->state == MESOS__V1__TASK_STATE__TASK_UNREACHABLE)
			unreachable++;
		else if (terminal(t->state))
			done++;
		else
			live++;
	}
	done = done < MAX_COMPLETED ? done : MAX_COMPLETED;
	gt->tasks = arena_alloc(ar, (live + 1) * sizeof(*gt->tasks));
	gt->unreachable_tasks = arena_alloc(ar, (unreachable + 1) * sizeof(*gt->tasks));
	gt->completed_tasks = arena_alloc(ar, (done + 1) * sizeof(*gt->tasks));
	if (!gt->tasks || !gt->unreachable_tasks || !gt->completed_tasks)
		return NULL;
	htab_iter_init(&it);
	for (struct task *t; (t = htab_next(&s->tasks, &it)) != NULL;) {
		Mesos__V1__Task ***list;
		size_t *n;
		if (t->state == MESOS__V1__TASK_STATE__TASK_UNREACHABLE) {
			list = &gt->unreachable_tasks;
			n = &gt->n_unreachable_tasks;
		} else if (terminal(t->state)) {
			if (gt->n_completed_tasks == done)
				continue;
			list = &gt->completed_tasks;
			n = &gt->n_completed_tasks;
		} else {
			list = &gt->tasks;
			n = &gt->n_tasks;
		}
		Mesos__V1__Task *mt = op_task(s, ar, t);
		if (mt == NULL)
			return NULL;
		(*list)[(*n)++] = mt;
	}
	return gt;
}

int sim_operator(struct sim *s, const Mesos__V1__Master__Call *call, bool json, char **out,
                 size_t *out_len, char *err, size_t err_len)
{
	Mesos__V1__Master__Response r = MESOS__V1__MASTER__RESPONSE__INIT;
	Mesos__V1__Master__Response__GetHealth health =
	    MESOS__V1__MASTER__RESPONSE__GET_HEALTH__INIT;
	Mesos__V1__Master__Response__GetVersion version =
	    MESOS__V1__MASTER__RESPONSE__GET_VERSION__INIT;
	Mesos__V1__VersionInfo vi = MESOS__V1__VERSION_INFO__INIT;
	Mesos__V1__Master__Response__GetState state = MESOS__V1__MASTER__RESPONSE__GET_STATE__INIT;
	struct arena ar;
	bool ok = true;
	*out = NULL;
	*out_len = 0;
	if (!call->has_type || call->type == MESOS__V1__MASTER__CALL__TYPE__UNKNOWN) {
		snprintf(err, err_len, "Expecting 'type' to be present");
		return 400;
	}
	arena_init(&ar, 1 << 20);
	pthread_mutex_lock(&s->mu);
	r.has_type = true;
	switch (call->type) {
	case MESOS__V1__MASTER__CALL__TYPE__GET_HEALTH:
		r.type = MESOS__V1__MASTER__RESPONSE__TYPE__GET_HEALTH;
		health.healthy = true;
		r.get_health = &health;
		break;
	case MESOS__V1__MASTER__CALL__TYPE__GET_VERSION:
		r.type = MESOS__V1__MASTER__RESPONSE__TYPE__GET_VERSION;
		vi.version = (char *)s->cfg.mesos_version; /* the master's, not ours */
		version.version_info = &vi;
		r.get_version = &version;
		break;
	case MESOS__V1__MASTER__CALL__TYPE__GET_AGENTS:
		r.type = MESOS__V1__MASTER__RESPONSE__TYPE__GET_AGENTS;
		ok = (r.get_agents = op_agents(s, &ar)) != NULL;
		break;
	case MESOS__V1__MASTER__CALL__TYPE__GET_FRAMEWORKS:
		r.type = MESOS__V1__MASTER__RESPONSE__TYPE__GET_FRAMEWORKS;
		ok = (r.get_frameworks = op_frameworks(s, &ar)) != NULL;
		break;
	case MESOS__V1__MASTER__CALL__TYPE__GET_TASKS:
		r.type = MESOS__V1__MASTER__RESPONSE__TYPE__GET_TASKS;
		ok = (r.get_tasks = op_tasks(s, &ar)) != NULL;
		break;
	case MESOS__V1__MASTER__CALL__TYPE__GET_STATE:
		r.type = MESOS__V1__MASTER__RESPONSE__TYPE__GET_STATE;
		state.get_agents = op_agents(s, &ar);
		state.get_frameworks = op_frameworks(s, &ar);
		state.get_tasks = op_tasks(s, &ar);
		state.get_executors =
		    NEW(&ar, Mesos__V1__Master__Response__GetExecutors,
		        (void (*)(void *))mesos__v1__master__response__get_executors__init);
		ok = state.get_agents && state.get_frameworks && state.get_tasks &&
		     state.get_executors;
		r.get_state = &state;
		break;
	default: {
		const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(
		    &mesos__v1__master__call__type__descriptor, call->type);
		pthread_mutex_unlock(&s->mu);
		arena_fini(&ar);
		snprintf(err, err_len, "%s is not simulated by mesos-sim", ev ? ev->name : "call");
		return 501;
	}
	}
	if (ok && json) {
		*out = pjson_dumps_flags(&r.base, PJSON_PROTO_NAMES);
		*out_len = *out ? strlen(*out) : 0;
	} else if (ok) {
		*out = (char *)proto_pack_alloc(&r.base, out_len);
	}
	pthread_mutex_unlock(&s->mu);
	arena_fini(&ar);
	if (*out == NULL) {
		snprintf(err, err_len, "out of memory");
		return 503;
	}
	return 200;
}
