/* The simulated Mesos master's state machine; see sim.h. */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "sim.h"

typedef Mesos__V1__Scheduler__Call call_t;
typedef Mesos__V1__Scheduler__Event event_t;

#define TASK_BUCKETS (1u << 16)

struct agent {
	char id[32], host[32], rack[16];
	double cpus, mem, disk; /* free */
	uint8_t *ports;         /* bit set: port lo+i is free */
	uint32_t n_ports;
	char offer_id[32]; /* outstanding offer for all free resources, or "" */
	uint64_t refuse_until_ns;
};

struct task {
	struct task *next; /* hash chain */
	char *id;
	uint32_t agent;
	int state; /* Mesos__V1__TaskState */
	double cpus, mem, disk;
	uint32_t *ports;
	size_t n_ports;
	uint64_t end_ns;
	/* the last update, until acknowledged */
	uint8_t uuid[16];
	int unacked_state; /* 0 when acknowledged */
	uint64_t resend_ns;
	uint32_t resends; /* of the current update: the retry interval doubles */
	bool in_heap;
	int exit_code; /* from a command "exit N" */
};

struct sim {
	struct sim_config cfg;
	pthread_mutex_t mu;
	struct agent *agents;
	struct task *tasks[TASK_BUCKETS];
	struct task **heap; /* running tasks by end time */
	size_t heap_n, heap_cap;
	char framework_id[40], stream_id[40];
	sim_emit_f emit;
	void *emit_arg;
	uint64_t now_ns, next_hb_ns, next_resend_ns, offer_seq, stream_seq;
	uint64_t rng;
	bool suppressed;
	struct sim_stats st;
};

static uint64_t rnd(struct sim *s)
{
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 7;
	s->rng ^= s->rng << 17;
	return s->rng;
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
	if (c->cpus <= 0)
		c->cpus = 32;
	if (c->mem_mb <= 0)
		c->mem_mb = 131072;
	if (c->disk_mb <= 0)
		c->disk_mb = 1e6;
	if (!c->port_lo || c->port_hi < c->port_lo) {
		c->port_lo = 31000;
		c->port_hi = 32000;
	}
	if (!c->racks)
		c->racks = 10;
	if (c->task_secs <= 0)
		c->task_secs = 1;
	if (c->heartbeat_secs <= 0)
		c->heartbeat_secs = 15;
	if (c->retry_secs <= 0)
		c->retry_secs = 10;
	s->rng = c->seed ? c->seed : 0x9e3779b97f4a7c15ull;
	pthread_mutex_init(&s->mu, NULL);
	s->agents = calloc(c->agents, sizeof(*s->agents));
	if (s->agents == NULL) {
		free(s);
		return NULL;
	}
	uint32_t np = c->port_hi - c->port_lo + 1;
	for (uint32_t i = 0; i < c->agents; i++) {
		struct agent *a = &s->agents[i];
		snprintf(a->id, sizeof(a->id), "agent-%05u-S0", i);
		snprintf(a->host, sizeof(a->host), "host-%05u", i);
		snprintf(a->rack, sizeof(a->rack), "rack-%u", i % c->racks);
		a->cpus = c->cpus;
		a->mem = c->mem_mb;
		a->disk = c->disk_mb;
		a->n_ports = np;
		a->ports = malloc((np + 7) / 8);
		if (a->ports == NULL) {
			sim_destroy(s);
			return NULL;
		}
		memset(a->ports, 0xff, (np + 7) / 8);
	}
	return s;
}

static void task_free(struct task *t)
{
	free(t->id);
	free(t->ports);
	free(t);
}

void sim_destroy(struct sim *s)
{
	if (s == NULL)
		return;
	for (uint32_t i = 0; s->agents && i < s->cfg.agents; i++)
		free(s->agents[i].ports);
	free(s->agents);
	for (size_t b = 0; b < TASK_BUCKETS; b++)
		for (struct task *t = s->tasks[b], *n; t != NULL; t = n) {
			n = t->next;
			task_free(t);
		}
	free(s->heap);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* --- tasks ------------------------------------------------------------------------ */

static size_t task_bucket(const char *id)
{
	uint64_t h = 1469598103934665603ull;
	for (; *id; id++)
		h = (h ^ (uint8_t)*id) * 1099511628211ull;
	return (size_t)(h % TASK_BUCKETS);
}

static struct task *task_find(struct sim *s, const char *id)
{
	for (struct task *t = s->tasks[task_bucket(id)]; t != NULL; t = t->next)
		if (strcmp(t->id, id) == 0)
			return t;
	return NULL;
}

static bool heap_less(const struct task *a, const struct task *b)
{
	return a->end_ns < b->end_ns;
}

static bool heap_push(struct sim *s, struct task *t)
{
	if (s->heap_n == s->heap_cap) {
		size_t nc = s->heap_cap ? s->heap_cap * 2 : 1024;
		struct task **nh = realloc(s->heap, nc * sizeof(*nh));
		if (nh == NULL)
			return false;
		s->heap = nh;
		s->heap_cap = nc;
	}
	size_t i = s->heap_n++;
	while (i > 0 && heap_less(t, s->heap[(i - 1) / 2])) {
		s->heap[i] = s->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	s->heap[i] = t;
	t->in_heap = true;
	return true;
}

static struct task *heap_pop(struct sim *s)
{
	struct task *top = s->heap[0], *last = s->heap[--s->heap_n];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= s->heap_n)
			break;
		if (c + 1 < s->heap_n && heap_less(s->heap[c + 1], s->heap[c]))
			c++;
		if (!heap_less(s->heap[c], last))
			break;
		s->heap[i] = s->heap[c];
		i = c;
	}
	if (s->heap_n > 0)
		s->heap[i] = last;
	top->in_heap = false;
	return top;
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

static void send_update(struct sim *s, struct task *t, int state, int reason, const char *msg)
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
	st.source = reason ? MESOS__V1__TASK_STATUS__SOURCE__SOURCE_MASTER
	                   : MESOS__V1__TASK_STATUS__SOURCE__SOURCE_EXECUTOR;
	if (reason) {
		st.has_reason = true;
		st.reason = reason;
	}
	st.has_timestamp = true;
	st.timestamp = (double)s->now_ns / 1e9;
	if (t->unacked_state == 0 || t->unacked_state != state) {
		t->resends = 0;
		for (int i = 0; i < 16; i++)
			t->uuid[i] = (uint8_t)rnd(s);
	}
	st.has_uuid = true;
	st.uuid.data = t->uuid;
	st.uuid.len = 16;
	t->unacked_state = state;
	/* as an agent does: retry_secs, then doubling, at most 10 minutes */
	double wait = s->cfg.retry_secs * (double)(1u << (t->resends < 6 ? t->resends : 6));
	t->resend_ns = s->now_ns + (uint64_t)((wait < 600 ? wait : 600) * 1e9);
	t->resends++;
	up.status = &st;
	ev.has_type = true;
	ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE;
	ev.update = &up;
	s->st.updates_sent++;
	emit(s, &ev);
}

/* Builds the offer of agent a (all its free resources) into storage. */
struct offer_buf {
	Mesos__V1__Offer o;
	Mesos__V1__OfferID id;
	Mesos__V1__FrameworkID fw;
	Mesos__V1__AgentID agent;
	Mesos__V1__Resource res[4], *resp[4];
	Mesos__V1__Value__Scalar sc[3];
	Mesos__V1__Value__Ranges ranges;
	Mesos__V1__Value__Range *rangev;
	Mesos__V1__Value__Range **rangep;
	Mesos__V1__Attribute attr, *attrp;
	Mesos__V1__Value__Text text;
};

static bool offer_build(struct sim *s, struct agent *a, struct offer_buf *b)
{
	static const char *const names[3] = {"cpus", "mem", "disk"};
	double vals[3] = {a->cpus, a->mem, a->disk};
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
	size_t n = 0;
	for (int i = 0; i < 3; i++) {
		mesos__v1__resource__init(&b->res[n]);
		mesos__v1__value__scalar__init(&b->sc[i]);
		b->sc[i].value = vals[i];
		b->res[n].name = (char *)names[i];
		b->res[n].type = MESOS__V1__VALUE__TYPE__SCALAR;
		b->res[n].scalar = &b->sc[i];
		b->resp[n] = &b->res[n];
		n++;
	}
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
		b->rangev[nr].begin = s->cfg.port_lo + i;
		b->rangev[nr].end = s->cfg.port_lo + j;
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
	mesos__v1__attribute__init(&b->attr);
	mesos__v1__value__text__init(&b->text);
	b->text.value = a->rack;
	b->attr.name = "rack";
	b->attr.type = MESOS__V1__VALUE__TYPE__TEXT;
	b->attr.text = &b->text;
	b->attrp = &b->attr;
	b->o.n_attributes = 1;
	b->o.attributes = &b->attrp;
	return true;
}

/* Offers every agent with free resources and no outstanding offer, 100 per event. */
static void send_offers(struct sim *s)
{
	enum { PER_EVENT = 100 };
	struct offer_buf *bufs = calloc(PER_EVENT, sizeof(*bufs));
	Mesos__V1__Offer *ops[PER_EVENT];
	size_t n = 0;
	if (bufs == NULL || s->emit == NULL || s->suppressed) {
		free(bufs);
		return;
	}
	for (uint32_t i = 0; i <= s->cfg.agents; i++) {
		if (i < s->cfg.agents) {
			struct agent *a = &s->agents[i];
			if (a->offer_id[0] || a->refuse_until_ns > s->now_ns || a->cpus < 0.01 ||
			    a->mem < 1)
				continue;
			if (!offer_build(s, a, &bufs[n])) {
				a->offer_id[0] = '\0';
				continue;
			}
			ops[n] = &bufs[n].o;
			n++;
		}
		if (n == PER_EVENT || (i == s->cfg.agents && n > 0)) {
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
			for (size_t k = 0; k < n; k++) {
				free(bufs[k].rangev);
				free(bufs[k].rangep);
			}
			memset(bufs, 0, PER_EVENT * sizeof(*bufs));
			n = 0;
		}
	}
	free(bufs);
}

static void heartbeat(struct sim *s)
{
	event_t ev = MESOS__V1__SCHEDULER__EVENT__INIT;
	ev.has_type = true;
	ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__HEARTBEAT;
	emit(s, &ev);
}

/* --- calls ------------------------------------------------------------------------ */

int sim_subscribe(struct sim *s, const call_t *call, sim_emit_f fn, void *arg, char *stream_id,
                  size_t id_len, char *err, size_t err_len)
{
	if (call->subscribe == NULL || call->subscribe->framework_info == NULL) {
		snprintf(err, err_len, "Expecting 'subscribe' to be present");
		return 400;
	}
	const Mesos__V1__FrameworkInfo *fi = call->subscribe->framework_info;
	pthread_mutex_lock(&s->mu);
	s->now_ns = clock_mono_ns();
	const char *want = fi->id ? fi->id->value : NULL;
	if (want && want[0] && s->framework_id[0] && strcmp(want, s->framework_id) != 0) {
		pthread_mutex_unlock(&s->mu);
		snprintf(err, err_len, "Framework %s is not known to this master", want);
		return 400;
	}
	if (want && want[0])
		snprintf(s->framework_id, sizeof(s->framework_id), "%s", want);
	else if (!s->framework_id[0])
		snprintf(s->framework_id, sizeof(s->framework_id), "fw-%016llx",
		         (unsigned long long)rnd(s));
	snprintf(s->stream_id, sizeof(s->stream_id), "stream-%llu-%016llx",
	         (unsigned long long)++s->stream_seq, (unsigned long long)rnd(s));
	snprintf(stream_id, id_len, "%s", s->stream_id);
	s->emit = fn;
	s->emit_arg = arg;
	s->suppressed = false;
	/* offers of the old stream are void: everything is offered again */
	for (uint32_t i = 0; i < s->cfg.agents; i++)
		s->agents[i].offer_id[0] = '\0';
	Mesos__V1__FrameworkID fw = MESOS__V1__FRAMEWORK_ID__INIT;
	Mesos__V1__Scheduler__Event__Subscribed sub = MESOS__V1__SCHEDULER__EVENT__SUBSCRIBED__INIT;
	event_t ev = MESOS__V1__SCHEDULER__EVENT__INIT;
	fw.value = s->framework_id;
	sub.framework_id = &fw;
	sub.has_heartbeat_interval_seconds = true;
	sub.heartbeat_interval_seconds = s->cfg.heartbeat_secs;
	ev.has_type = true;
	ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__SUBSCRIBED;
	ev.subscribed = &sub;
	emit(s, &ev);
	send_offers(s);
	s->next_hb_ns = s->now_ns + (uint64_t)(s->cfg.heartbeat_secs * 1e9);
	pthread_mutex_unlock(&s->mu);
	log_info("sim", "framework %s subscribed (stream %s)", s->framework_id, stream_id);
	return 200;
}

void sim_unsubscribe(struct sim *s, const char *stream_id)
{
	pthread_mutex_lock(&s->mu);
	if (strcmp(stream_id, s->stream_id) == 0) {
		s->emit = NULL;
		s->stream_id[0] = '\0';
		log_info("sim", "framework %s disconnected", s->framework_id);
	}
	pthread_mutex_unlock(&s->mu);
}

static double scalar_of(const Mesos__V1__TaskInfo *ti, const char *name)
{
	double v = 0;
	for (size_t i = 0; i < ti->n_resources; i++)
		if (strcmp(ti->resources[i]->name, name) == 0 && ti->resources[i]->scalar)
			v += ti->resources[i]->scalar->value;
	return v;
}

/* Ports the task asks for; false when one is outside the agent's free set
 * or taken twice (by the bitmap copy `avail`, updated). */
static bool take_ports(struct sim *s, const Mesos__V1__TaskInfo *ti, uint8_t *avail,
                       uint32_t n_ports, uint32_t **out, size_t *n_out)
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
				if (p < s->cfg.port_lo || p - s->cfg.port_lo >= n_ports)
					return false;
				uint32_t bit = (uint32_t)(p - s->cfg.port_lo);
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
	size_t b = task_bucket(id);
	t->next = s->tasks[b];
	s->tasks[b] = t;
	return t;
}

/* A launch that cannot run: its update, and a record so it can be acked. */
static void refuse_task(struct sim *s, const char *id, uint32_t agent, int state, int reason,
                        const char *msg)
{
	struct task *t = task_find(s, id);
	if (t == NULL && (t = task_new(s, id, agent)) == NULL)
		return;
	t->state = state;
	s->st.dropped++;
	send_update(s, t, state, reason, msg);
}

static void sim_accept(struct sim *s, const Mesos__V1__Scheduler__Call__Accept *a)
{
	int agent = -1;
	bool offers_ok = a->n_offer_ids > 0;
	for (size_t i = 0; i < a->n_offer_ids && offers_ok; i++) {
		int found = -1;
		const char *dash = strrchr(a->offer_ids[i]->value, '-');
		char *end = NULL;
		unsigned long k = dash ? strtoul(dash + 1, &end, 10) : 0;
		if (dash && end && *end == '\0' && k < s->cfg.agents &&
		    strcmp(s->agents[k].offer_id, a->offer_ids[i]->value) == 0)
			found = (int)k; /* outstanding (ids of spent offers no longer match) */
		if (found < 0 || (agent >= 0 && found != agent))
			offers_ok = false;
		agent = found;
	}
	for (size_t o = 0; o < a->n_operations; o++) {
		const Mesos__V1__Offer__Operation *op = a->operations[o];
		if (op->type != MESOS__V1__OFFER__OPERATION__TYPE__LAUNCH || op->launch == NULL)
			continue;
		for (size_t k = 0; k < op->launch->n_task_infos; k++) {
			const Mesos__V1__TaskInfo *ti = op->launch->task_infos[k];
			const char *id = ti->task_id ? ti->task_id->value : "";
			if (!offers_ok) {
				refuse_task(s, id, agent < 0 ? 0 : (uint32_t)agent,
				            MESOS__V1__TASK_STATE__TASK_DROPPED,
				            MESOS__V1__TASK_STATUS__REASON__REASON_INVALID_OFFERS,
				            "Task launched with invalid offers");
				continue;
			}
			struct agent *ag = &s->agents[agent];
			double c = scalar_of(ti, "cpus"), m = scalar_of(ti, "mem"),
			       d = scalar_of(ti, "disk");
			struct task *old = task_find(s, id);
			uint8_t avail[(ag->n_ports + 7) / 8];
			memcpy(avail, ag->ports, sizeof(avail));
			uint32_t *ports = NULL;
			size_t np = 0;
			const char *why = NULL;
			if (old != NULL && old->state != MESOS__V1__TASK_STATE__TASK_DROPPED &&
			    old->state != MESOS__V1__TASK_STATE__TASK_ERROR)
				why = "Task has duplicate ID";
			else if (c <= 0 || m <= 0)
				why = "Task uses no cpus or no mem";
			else if (c > ag->cpus + 1e-9 || m > ag->mem + 1e-9 || d > ag->disk + 1e-9)
				why = "Task uses more resources than offered";
			else if (!take_ports(s, ti, avail, ag->n_ports, &ports, &np))
				why = "Task uses ports that are not offered";
			if (why != NULL) {
				free(ports);
				refuse_task(
				    s, id, (uint32_t)agent, MESOS__V1__TASK_STATE__TASK_ERROR,
				    MESOS__V1__TASK_STATUS__REASON__REASON_TASK_INVALID, why);
				continue;
			}
			struct task *t = old ? old : task_new(s, id, (uint32_t)agent);
			if (t == NULL) {
				free(ports);
				continue;
			}
			free(t->ports);
			t->agent = (uint32_t)agent;
			t->ports = ports;
			t->n_ports = np;
			t->cpus = c;
			t->mem = m;
			t->disk = d;
			memcpy(ag->ports, avail, sizeof(avail));
			ag->cpus -= c;
			ag->mem -= m;
			ag->disk -= d;
			t->exit_code = 0;
			if (ti->command && ti->command->value &&
			    strncmp(ti->command->value, "exit ", 5) == 0)
				t->exit_code = atoi(ti->command->value + 5);
			if (s->cfg.launch_log) {
				fprintf(s->cfg.launch_log, "%s\n", id);
				fflush(s->cfg.launch_log);
			}
			t->state = MESOS__V1__TASK_STATE__TASK_RUNNING;
			t->end_ns = s->now_ns + (uint64_t)(s->cfg.task_secs * 1e9 *
			                                   (0.5 + (double)(rnd(s) % 1000) / 1000));
			heap_push(s, t);
			s->st.launched++;
			s->st.running++;
			send_update(s, t, MESOS__V1__TASK_STATE__TASK_RUNNING, 0, "running");
		}
	}
	if (offers_ok) {
		/* what was not used comes back in a new offer (after the filter) */
		struct agent *ag = &s->agents[agent];
		ag->offer_id[0] = '\0';
		double refuse =
		    a->filters && a->filters->has_refuse_seconds ? a->filters->refuse_seconds : 5.0;
		if (a->n_operations == 0)
			ag->refuse_until_ns = s->now_ns + (uint64_t)(refuse * 1e9);
	}
}

static void release(struct sim *s, struct task *t)
{
	struct agent *a = &s->agents[t->agent];
	a->cpus += t->cpus;
	a->mem += t->mem;
	a->disk += t->disk;
	for (size_t i = 0; i < t->n_ports; i++) {
		uint32_t bit = t->ports[i] - s->cfg.port_lo;
		a->ports[bit / 8] |= (uint8_t)(1u << (bit % 8));
	}
	t->cpus = t->mem = t->disk = 0;
	t->n_ports = 0;
}

static void reconcile_one(struct sim *s, const char *id)
{
	struct task *t = task_find(s, id);
	if (t == NULL) {
		Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
		Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
		Mesos__V1__Scheduler__Event__Update up = MESOS__V1__SCHEDULER__EVENT__UPDATE__INIT;
		event_t ev = MESOS__V1__SCHEDULER__EVENT__INIT;
		tid.value = (char *)id;
		st.task_id = &tid;
		st.state = MESOS__V1__TASK_STATE__TASK_LOST;
		st.has_reason = true;
		st.reason = MESOS__V1__TASK_STATUS__REASON__REASON_RECONCILIATION;
		up.status = &st;
		ev.has_type = true;
		ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE;
		ev.update = &up;
		emit(s, &ev);
		return;
	}
	send_update(s, t, t->state, MESOS__V1__TASK_STATUS__REASON__REASON_RECONCILIATION,
	            "reconciliation");
}

int sim_call(struct sim *s, const char *stream_id, const call_t *call, char *err, size_t err_len)
{
	int rc = 202;
	if (!call->has_type || call->type == MESOS__V1__SCHEDULER__CALL__TYPE__UNKNOWN) {
		snprintf(err, err_len, "Expecting 'type' to be present");
		return 400;
	}
	pthread_mutex_lock(&s->mu);
	s->now_ns = clock_mono_ns();
	if (stream_id == NULL || !s->stream_id[0] || strcmp(stream_id, s->stream_id) != 0) {
		snprintf(err, err_len,
		         "The stream ID '%s' included in this request didn't match "
		         "the stream ID currently associated with framework",
		         stream_id ? stream_id : "");
		pthread_mutex_unlock(&s->mu);
		return 403;
	}
	if (call->framework_id == NULL || strcmp(call->framework_id->value, s->framework_id) != 0) {
		snprintf(err, err_len, "Framework is not subscribed");
		pthread_mutex_unlock(&s->mu);
		return 403;
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
			Mesos__V1__Scheduler__Call__Accept a =
			    MESOS__V1__SCHEDULER__CALL__ACCEPT__INIT;
			a.n_offer_ids = call->decline->n_offer_ids;
			a.offer_ids = call->decline->offer_ids;
			a.filters = call->decline->filters;
			sim_accept(s, &a); /* DECLINE is ACCEPT with no operations */
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
		if (t != NULL && ack->uuid.len == 16 && memcmp(ack->uuid.data, t->uuid, 16) == 0) {
			t->unacked_state = 0;
			s->st.acks++;
		}
		break;
	}
	case MESOS__V1__SCHEDULER__CALL__TYPE__KILL: {
		struct task *t = call->kill && call->kill->task_id
		                     ? task_find(s, call->kill->task_id->value)
		                     : NULL;
		if (t != NULL && t->state == MESOS__V1__TASK_STATE__TASK_RUNNING) {
			t->state = MESOS__V1__TASK_STATE__TASK_KILLED;
			release(s, t);
			s->st.running--;
			s->st.killed++;
			send_update(s, t, t->state, 0, "killed");
		} else if (call->kill && call->kill->task_id && t == NULL) {
			reconcile_one(s, call->kill->task_id->value); /* unknown: LOST */
		}
		break;
	}
	case MESOS__V1__SCHEDULER__CALL__TYPE__RECONCILE:
		if (call->reconcile && call->reconcile->n_tasks > 0) {
			for (size_t i = 0; i < call->reconcile->n_tasks; i++)
				if (call->reconcile->tasks[i]->task_id)
					reconcile_one(s, call->reconcile->tasks[i]->task_id->value);
		} else {
			for (size_t b = 0; b < TASK_BUCKETS; b++)
				for (struct task *t = s->tasks[b]; t != NULL; t = t->next)
					if (t->state == MESOS__V1__TASK_STATE__TASK_RUNNING)
						reconcile_one(s, t->id);
		}
		break;
	case MESOS__V1__SCHEDULER__CALL__TYPE__REVIVE:
		s->suppressed = false;
		for (uint32_t i = 0; i < s->cfg.agents; i++)
			s->agents[i].refuse_until_ns = 0;
		break;
	case MESOS__V1__SCHEDULER__CALL__TYPE__SUPPRESS:
		s->suppressed = true;
		break;
	case MESOS__V1__SCHEDULER__CALL__TYPE__TEARDOWN:
		for (size_t b = 0; b < TASK_BUCKETS; b++)
			for (struct task *t = s->tasks[b]; t != NULL; t = t->next)
				if (t->state == MESOS__V1__TASK_STATE__TASK_RUNNING) {
					t->state = MESOS__V1__TASK_STATE__TASK_KILLED;
					release(s, t);
					s->st.running--;
					s->st.killed++;
				}
		s->emit = NULL;
		s->stream_id[0] = '\0';
		s->framework_id[0] = '\0';
		break;
	case MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE:
		snprintf(err, err_len, "SUBSCRIBE opens a stream; send it without Mesos-Stream-Id");
		rc = 400;
		break;
	default:
		break; /* MESSAGE, REQUEST, SHUTDOWN, inverse offers: accepted, no effect */
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

bool sim_sandbox(struct sim *s, const char *task_id, char *dir, size_t len)
{
	pthread_mutex_lock(&s->mu);
	struct task *t = task_find(s, task_id);
	bool ok = t != NULL && t->agent < s->cfg.agents;
	if (ok)
		snprintf(dir, len, "/sandbox/%s/%s", s->agents[t->agent].id, task_id);
	pthread_mutex_unlock(&s->mu);
	return ok;
}

void sim_tick(struct sim *s, uint64_t now_ns)
{
	pthread_mutex_lock(&s->mu);
	s->now_ns = now_ns;
	while (s->heap_n > 0 && s->heap[0]->end_ns <= now_ns) {
		struct task *t = heap_pop(s);
		if (t->state != MESOS__V1__TASK_STATE__TASK_RUNNING)
			continue; /* killed meanwhile */
		bool fail =
		    t->exit_code != 0 ||
		    (s->cfg.fail_rate > 0 && (double)(rnd(s) % 1000000) / 1e6 < s->cfg.fail_rate);
		t->state = fail ? MESOS__V1__TASK_STATE__TASK_FAILED
		                : MESOS__V1__TASK_STATE__TASK_FINISHED;
		release(s, t);
		s->st.running--;
		if (fail)
			s->st.failed++;
		else
			s->st.finished++;
		char msg[40];
		snprintf(msg, sizeof(msg), "exited with status %d",
		         fail ? (t->exit_code ? t->exit_code : 1) : 0);
		send_update(s, t, t->state, 0, msg);
	}
	if (now_ns >= s->next_resend_ns) {
		s->next_resend_ns = now_ns + 1000000000ull;
		for (size_t b = 0; b < TASK_BUCKETS && s->emit; b++)
			for (struct task *t = s->tasks[b]; t != NULL; t = t->next)
				if (t->unacked_state && t->resend_ns <= now_ns)
					send_update(s, t, t->unacked_state, 0, "retry");
	}
	if (s->emit && now_ns >= s->next_hb_ns) {
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
