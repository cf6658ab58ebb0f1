/*
 * sim: the simulated master's state machine driven in process — subscribe
 * (SUBSCRIBED then OFFERS), a valid launch (RUNNING, ack, FINISHED after
 * its time, resources offered again), invalid launches (DROPPED for a bad
 * offer, ERROR for too much cpu or a port not offered), decline with a
 * filter, reconcile of an unknown task (LOST), wrong stream (403),
 * malformed calls (400).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "proto_codec.h"
#include "sim.h"

typedef Mesos__V1__Scheduler__Event event_t;
typedef Mesos__V1__Scheduler__Call call_t;

static event_t *events[256];
static size_t n_events;

static void keep(void *arg, const uint8_t *ev, size_t len)
{
	(void)arg;
	event_t *e = mesos__v1__scheduler__event__unpack(NULL, len, ev);
	assert_non_null(e);
	assert_true(n_events < 256);
	events[n_events++] = e;
}

static void clear(void)
{
	for (size_t i = 0; i < n_events; i++)
		mesos__v1__scheduler__event__free_unpacked(events[i], NULL);
	n_events = 0;
}

/* The last UPDATE for task id, or NULL. */
static Mesos__V1__TaskStatus *update_of(const char *id)
{
	for (size_t i = n_events; i-- > 0;)
		if (events[i]->update && strcmp(events[i]->update->status->task_id->value, id) == 0)
			return events[i]->update->status;
	return NULL;
}

static Mesos__V1__Offer *first_offer(void)
{
	for (size_t i = 0; i < n_events; i++)
		if (events[i]->offers && events[i]->offers->n_offers > 0)
			return events[i]->offers->offers[0];
	return NULL;
}

static char stream[64], fwid[64];
static struct sim *sim;

static void subscribe(void)
{
	char err[128];
	call_t c = MESOS__V1__SCHEDULER__CALL__INIT;
	Mesos__V1__Scheduler__Call__Subscribe sub = MESOS__V1__SCHEDULER__CALL__SUBSCRIBE__INIT;
	Mesos__V1__FrameworkInfo fi = MESOS__V1__FRAMEWORK_INFO__INIT;
	fi.user = "root";
	fi.name = "test";
	sub.framework_info = &fi;
	c.has_type = true;
	c.type = MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE;
	c.subscribe = &sub;
	assert_int_equal(
	    sim_subscribe(sim, &c, keep, NULL, stream, sizeof(stream), err, sizeof(err)), 200);
	assert_true(n_events >= 3);
	assert_int_equal(events[0]->type, MESOS__V1__SCHEDULER__EVENT__TYPE__SUBSCRIBED);
	assert_non_null(events[0]->subscribed->master_info);
	snprintf(fwid, sizeof(fwid), "%s", events[0]->subscribed->framework_id->value);
	/* the first heartbeat at once, as a master's heartbeater starts */
	assert_int_equal(events[1]->type, MESOS__V1__SCHEDULER__EVENT__TYPE__HEARTBEAT);
	assert_int_equal(events[2]->type, MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS);
}

/* A new simulator, subscribed; its first offer's id and agent (64 bytes
 * each) copied out; the events cleared. */
static void start(const struct sim_config *cfg, char *offer, char *agent)
{
	sim = sim_create(cfg);
	subscribe();
	Mesos__V1__Offer *o = first_offer();
	assert_non_null(o);
	snprintf(offer, 64, "%s", o->id->value);
	snprintf(agent, 64, "%s", o->agent_id->value);
	clear();
}

/* ACCEPT's Filters.refuse_seconds in launch(); negative: no filters at all. */
static double accept_refuse_s;
/* The launched task's health check (NULL: none). */
static Mesos__V1__HealthCheck *launch_hc;

/* ACCEPT of offer `offer` launching task `id` with cpus and one port. */
static int launch_only(const char *offer, const char *agent, const char *id, double cpus,
                       uint64_t port)
{
	char err[128];
	call_t c = MESOS__V1__SCHEDULER__CALL__INIT;
	Mesos__V1__FrameworkID fw = MESOS__V1__FRAMEWORK_ID__INIT;
	Mesos__V1__Scheduler__Call__Accept acc = MESOS__V1__SCHEDULER__CALL__ACCEPT__INIT;
	Mesos__V1__OfferID oid = MESOS__V1__OFFER_ID__INIT, *oidp = &oid;
	Mesos__V1__Offer__Operation op = MESOS__V1__OFFER__OPERATION__INIT, *opp = &op;
	Mesos__V1__Offer__Operation__Launch l = MESOS__V1__OFFER__OPERATION__LAUNCH__INIT;
	Mesos__V1__TaskInfo ti = MESOS__V1__TASK_INFO__INIT, *tip = &ti;
	Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
	Mesos__V1__Resource r[3], *rp[3] = {&r[0], &r[1], &r[2]};
	Mesos__V1__Value__Scalar sc[2];
	Mesos__V1__Value__Ranges rs = MESOS__V1__VALUE__RANGES__INIT;
	Mesos__V1__Value__Range rg = MESOS__V1__VALUE__RANGE__INIT, *rgp = &rg;
	for (int i = 0; i < 3; i++)
		mesos__v1__resource__init(&r[i]);
	for (int i = 0; i < 2; i++)
		mesos__v1__value__scalar__init(&sc[i]);
	sc[0].value = cpus;
	sc[1].value = 256;
	r[0].name = "cpus";
	r[0].type = MESOS__V1__VALUE__TYPE__SCALAR;
	r[0].scalar = &sc[0];
	r[1].name = "mem";
	r[1].type = MESOS__V1__VALUE__TYPE__SCALAR;
	r[1].scalar = &sc[1];
	rg.begin = rg.end = port;
	rs.n_range = 1;
	rs.range = &rgp;
	r[2].name = "ports";
	r[2].type = MESOS__V1__VALUE__TYPE__RANGES;
	r[2].ranges = &rs;
	tid.value = (char *)id;
	aid.value = (char *)agent;
	ti.name = (char *)id;
	ti.task_id = &tid;
	ti.agent_id = &aid;
	ti.n_resources = 3;
	ti.resources = rp;
	ti.health_check = launch_hc;
	l.n_task_infos = 1;
	l.task_infos = &tip;
	op.has_type = true;
	op.type = MESOS__V1__OFFER__OPERATION__TYPE__LAUNCH;
	op.launch = &l;
	oid.value = (char *)offer;
	acc.n_offer_ids = 1;
	acc.offer_ids = &oidp;
	acc.n_operations = 1;
	acc.operations = &opp;
	/* the remainder back at once, as pelotond asks (without filters a
	 * master holds it 5 s: test_accept_default_filter) */
	Mesos__V1__Filters f = MESOS__V1__FILTERS__INIT;
	f.has_refuse_seconds = true;
	f.refuse_seconds = accept_refuse_s;
	acc.filters = accept_refuse_s >= 0 ? &f : NULL;
	fw.value = fwid;
	c.framework_id = &fw;
	c.has_type = true;
	c.type = MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT;
	c.accept = &acc;
	return sim_call(sim, stream, &c, err, sizeof(err));
}

static int ack(const Mesos__V1__TaskStatus *st);
static void tick_now(void);
static Mesos__V1__TaskStatus *update2_of(const char *id);

/* launch_only(), then the task's TASK_STARTING acknowledged (on whichever
 * stream saw it), as a framework does: the task goes RUNNING. */
static int launch(const char *offer, const char *agent, const char *id, double cpus, uint64_t port)
{
	int rc = launch_only(offer, agent, id, cpus, port);
	Mesos__V1__TaskStatus *st = update_of(id);
	if (st == NULL)
		st = update2_of(id);
	if (rc == 202 && st != NULL && st->state == MESOS__V1__TASK_STATE__TASK_STARTING)
		assert_int_equal(ack(st), 202);
	return rc;
}

static void test_launch_run_finish(void **state)
{
	(void)state;
	struct sim_config cfg = {.agents = 3, .cpus = 4, .task_secs = 0.001};
	char offer[64], agent[64];
	start(&cfg, offer, agent);
	assert_int_equal(launch(offer, agent, "t1", 1, 31005), 202);
	Mesos__V1__TaskStatus *st = update_of("t1");
	assert_non_null(st);
	assert_int_equal(st->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
	assert_int_equal(st->uuid.len, 16);
	uint8_t running_uuid[16];
	memcpy(running_uuid, st->uuid.data, 16);
	/* the same offer again: used up -> LOST (DROPPED for a partition-aware
	 * framework), from the master: no uuid */
	assert_int_equal(launch(offer, agent, "t2", 1, 31006), 202);
	assert_int_equal(update_of("t2")->state, MESOS__V1__TASK_STATE__TASK_LOST);
	assert_false(update_of("t2")->has_uuid);
	/* t1 ends; its FINISHED waits for RUNNING's acknowledgement, as an
	 * agent holds a task's later updates */
	clear();
	struct timespec d = {0, 5000000};
	nanosleep(&d, NULL);
	tick_now();
	assert_null(update_of("t1"));
	Mesos__V1__TaskStatus held = MESOS__V1__TASK_STATUS__INIT;
	Mesos__V1__TaskID t1 = MESOS__V1__TASK_ID__INIT;
	Mesos__V1__AgentID a1 = MESOS__V1__AGENT_ID__INIT;
	t1.value = "t1";
	a1.value = agent;
	held.task_id = &t1;
	held.agent_id = &a1;
	held.has_uuid = true;
	held.uuid.data = running_uuid;
	held.uuid.len = 16;
	assert_int_equal(ack(&held), 202);
	st = update_of("t1");
	assert_non_null(st);
	assert_int_equal(st->state, MESOS__V1__TASK_STATE__TASK_FINISHED);
	/* the rest of the agent comes back offered on the next tick; too much cpu -> ERROR */
	tick_now();
	Mesos__V1__Offer *o2 = NULL;
	for (size_t i = 0; i < n_events && !o2; i++)
		if (events[i]->offers)
			for (size_t k = 0; k < events[i]->offers->n_offers; k++)
				if (strcmp(events[i]->offers->offers[k]->agent_id->value, agent) ==
				    0)
					o2 = events[i]->offers->offers[k];
	assert_non_null(o2); /* t1's resources are offered again */
	char offer2[64];
	snprintf(offer2, sizeof(offer2), "%s", o2->id->value);
	clear();
	assert_int_equal(launch(offer2, agent, "big", 64, 31007), 202);
	assert_int_equal(update_of("big")->state, MESOS__V1__TASK_STATE__TASK_ERROR);
	struct sim_stats ss;
	sim_get_stats(sim, &ss);
	assert_int_equal(ss.launched, 1);
	assert_int_equal(ss.finished, 1);
	clear();
	sim_destroy(sim);
}

static int ack(const Mesos__V1__TaskStatus *st)
{
	char err[128];
	call_t c = MESOS__V1__SCHEDULER__CALL__INIT;
	Mesos__V1__FrameworkID fw = MESOS__V1__FRAMEWORK_ID__INIT;
	Mesos__V1__Scheduler__Call__Acknowledge a = MESOS__V1__SCHEDULER__CALL__ACKNOWLEDGE__INIT;
	a.agent_id = st->agent_id;
	a.task_id = st->task_id;
	a.uuid = st->uuid;
	fw.value = fwid;
	c.framework_id = &fw;
	c.has_type = true;
	c.type = MESOS__V1__SCHEDULER__CALL__TYPE__ACKNOWLEDGE;
	c.acknowledge = &a;
	return sim_call(sim, stream, &c, err, sizeof(err));
}

static size_t count_type(int type)
{
	size_t n = 0;
	for (size_t i = 0; i < n_events; i++)
		n += (int)events[i]->type == type;
	return n;
}

/* STARTING first; RUNNING only once STARTING is acknowledged. */
static void test_starting(void **state)
{
	(void)state;
	struct sim_config cfg = {.agents = 1};
	char offer[64], agent[64];
	start(&cfg, offer, agent);
	assert_int_equal(launch_only(offer, agent, "s1", 1, 31000), 202);
	Mesos__V1__TaskStatus *st = update_of("s1");
	assert_int_equal(st->state, MESOS__V1__TASK_STATE__TASK_STARTING);
	assert_int_equal(count_type(MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE), 1);
	Mesos__V1__TaskStatus *copy = (Mesos__V1__TaskStatus *)proto_clone(&st->base);
	clear();
	assert_int_equal(ack(copy), 202);
	assert_int_equal(update_of("s1")->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
	assert_int_equal(memcmp(update_of("s1")->uuid.data, copy->uuid.data, 16) != 0, 1);
	protobuf_c_message_free_unpacked(&copy->base, NULL);
	clear();
	sim_destroy(sim);
}

/* Profiles: GPUs, round-robin attributes, the agent url; then faults. */
static void test_profiles_and_faults(void **state)
{
	(void)state;
	static const char *const zones[2] = {"z-a", "z-b"};
	static const char *const sku[1] = {"gpu-box"};
	struct sim_profile prof[2] = {
	    {.count = 2, .cpus = 8, .attrs = {{"zone", zones, 2}}, .n_attrs = 1},
	    {.count = 1, .cpus = 16, .gpus = 4, .attrs = {{"sku", sku, 1}}, .n_attrs = 1},
	};
	struct sim_config cfg = {.profiles = prof, .n_profiles = 2, .dup_rate = 1.0};
	char err[160];
	sim = sim_create(&cfg);
	assert_int_equal(sim_agent_count(sim), 3);
	sim_set_address(sim, "127.0.0.1", 4321);
	subscribe();
	const Mesos__V1__Scheduler__Event__Offers *os = events[2]->offers;
	assert_int_equal(os->n_offers, 3);
	const char *seen_zone[2] = {NULL, NULL};
	for (size_t i = 0; i < 3; i++) {
		const Mesos__V1__Offer *o = os->offers[i];
		assert_non_null(o->url);
		assert_int_equal(o->url->address->port, 4321);
		double gpus = 0;
		for (size_t r = 0; r < o->n_resources; r++)
			if (strcmp(o->resources[r]->name, "gpus") == 0)
				gpus = o->resources[r]->scalar->value;
		for (size_t a = 0; a < o->n_attributes; a++)
			if (strcmp(o->attributes[a]->name, "zone") == 0 && i < 2)
				seen_zone[i] = o->attributes[a]->text->value;
		assert_true(i == 2 ? gpus == 4 : gpus == 0);
	}
	assert_string_equal(seen_zone[0], "z-a");
	assert_string_equal(seen_zone[1], "z-b");
	/* a task on agent 0, then agent 0 lost: its task's update (no uuid), then FAILURE */
	char offer[64], agent[64];
	snprintf(offer, sizeof(offer), "%s", os->offers[0]->id->value);
	snprintf(agent, sizeof(agent), "%s", os->offers[0]->agent_id->value);
	clear();
	assert_int_equal(launch_only(offer, agent, "u1", 1, 31000), 202);
	/* duplicates: every update goes twice */
	assert_int_equal(count_type(MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE), 2);
	clear();
	assert_int_equal(sim_agent_down(sim, "nope", err, sizeof(err)), -1);
	assert_int_equal(sim_agent_down(sim, agent, err, sizeof(err)), 0);
	assert_int_equal(sim_agent_down(sim, "0", err, sizeof(err)), -1); /* already down */
	assert_int_equal(count_type(MESOS__V1__SCHEDULER__EVENT__TYPE__FAILURE), 1);
	Mesos__V1__TaskStatus *st = update_of("u1");
	/* not partition-aware: LOST (UNREACHABLE otherwise), with the time */
	assert_int_equal(st->state, MESOS__V1__TASK_STATE__TASK_LOST);
	assert_false(st->has_uuid);
	assert_non_null(st->unreachable_time);
	/* a master's order: the tasks' updates, then the agent's FAILURE */
	assert_int_equal(events[0]->type, MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE);
	assert_int_equal(events[n_events - 1]->type, MESOS__V1__SCHEDULER__EVENT__TYPE__FAILURE);
	/* agent 1's offer is outstanding: losing it rescinds the offer */
	clear();
	assert_int_equal(sim_agent_down(sim, "host-00001", err, sizeof(err)), 0);
	assert_int_equal(count_type(MESOS__V1__SCHEDULER__EVENT__TYPE__RESCIND), 1);
	/* back under a new id, offered again */
	clear();
	assert_int_equal(sim_agent_up(sim, "0", err, sizeof(err)), 0);
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	sim_tick(sim, (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec);
	Mesos__V1__Offer *o = first_offer();
	assert_non_null(o);
	assert_string_equal(o->agent_id->value, "agent-00000-S1");
	/* the operator API sees two agents up and the unreachable task */
	Mesos__V1__Master__Call mc = MESOS__V1__MASTER__CALL__INIT;
	mc.has_type = true;
	mc.type = MESOS__V1__MASTER__CALL__TYPE__GET_STATE;
	char *out;
	size_t len;
	assert_int_equal(sim_operator(sim, &mc, false, &out, &len, err, sizeof(err)), 200);
	Mesos__V1__Master__Response *r = (Mesos__V1__Master__Response *)proto_decode(
	    &mesos__v1__master__response__descriptor, (uint8_t *)out, len, NULL, NULL);
	free(out);
	assert_non_null(r);
	assert_int_equal(r->get_state->get_agents->n_agents, 2);
	assert_int_equal(r->get_state->get_tasks->n_unreachable_tasks, 1);
	assert_int_equal(r->get_state->get_frameworks->n_frameworks, 1);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	mc.type = MESOS__V1__MASTER__CALL__TYPE__GET_AGENTS;
	assert_int_equal(sim_operator(sim, &mc, true, &out, &len, err, sizeof(err)), 200);
	assert_non_null(strstr(out, "\"agent_info\""));
	free(out);
	clear();
	sim_destroy(sim);
}

static void test_refusals(void **state)
{
	(void)state;
	char err[160];
	struct sim_config cfg = {.agents = 2};
	char offer[64], agent[64];
	start(&cfg, offer, agent);
	/* a port outside the offered ranges */
	assert_int_equal(launch(offer, agent, "p", 1, 40000), 202);
	assert_int_equal(update_of("p")->state, MESOS__V1__TASK_STATE__TASK_ERROR);
	/* wrong stream: 400 (a master checks the framework first: 403 only when it is not
	 * connected); no type: 400 */
	call_t c = MESOS__V1__SCHEDULER__CALL__INIT;
	Mesos__V1__FrameworkID fw = MESOS__V1__FRAMEWORK_ID__INIT;
	fw.value = fwid;
	c.framework_id = &fw;
	c.has_type = true;
	c.type = MESOS__V1__SCHEDULER__CALL__TYPE__REVIVE;
	assert_int_equal(sim_call(sim, "stale-stream", &c, err, sizeof(err)), 400);
	assert_int_equal(sim_call(sim, stream, &c, err, sizeof(err)), 202);
	c.has_type = false;
	assert_int_equal(sim_call(sim, stream, &c, err, sizeof(err)), 400);
	c.has_type = true;
	c.type = MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT;
	assert_int_equal(sim_call(sim, stream, &c, err, sizeof(err)), 400); /* no accept body */
	/* reconcile an unknown task: LOST */
	Mesos__V1__Scheduler__Call__Reconcile rec = MESOS__V1__SCHEDULER__CALL__RECONCILE__INIT;
	Mesos__V1__Scheduler__Call__Reconcile__Task
	    rt = MESOS__V1__SCHEDULER__CALL__RECONCILE__TASK__INIT,
	    *rtp = &rt;
	Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
	tid.value = "ghost";
	rt.task_id = &tid;
	rec.n_tasks = 1;
	rec.tasks = &rtp;
	c.type = MESOS__V1__SCHEDULER__CALL__TYPE__RECONCILE;
	c.reconcile = &rec;
	clear();
	assert_int_equal(sim_call(sim, stream, &c, err, sizeof(err)), 202);
	assert_int_equal(update_of("ghost")->state, MESOS__V1__TASK_STATE__TASK_LOST);
	/* a subscribe without framework info */
	call_t bad = MESOS__V1__SCHEDULER__CALL__INIT;
	char s2[64];
	assert_int_equal(sim_subscribe(sim, &bad, keep, NULL, s2, sizeof(s2), err, sizeof(err)),
	                 400);
	clear();
	sim_destroy(sim);
}

static size_t first_offers_n(void)
{
	for (size_t i = 0; i < n_events; i++)
		if (events[i]->offers)
			return events[i]->offers->n_offers;
	return 0;
}

static void tick_now(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	sim_tick(sim, (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec);
}

/* A DECLINE of offers of two agents: each held back until refuse_seconds pass. */
static void test_decline_filter_expires(void **state)
{
	(void)state;
	char err[160];
	struct sim_config cfg = {.agents = 2};
	sim = sim_create(&cfg);
	subscribe();
	assert_int_equal(events[2]->offers->n_offers, 2);
	call_t c = MESOS__V1__SCHEDULER__CALL__INIT;
	Mesos__V1__FrameworkID fw = MESOS__V1__FRAMEWORK_ID__INIT;
	Mesos__V1__Scheduler__Call__Decline d = MESOS__V1__SCHEDULER__CALL__DECLINE__INIT;
	Mesos__V1__Filters f = MESOS__V1__FILTERS__INIT;
	Mesos__V1__OfferID *oid[2] = {events[2]->offers->offers[0]->id,
	                              events[2]->offers->offers[1]->id};
	f.has_refuse_seconds = true;
	f.refuse_seconds = 0.05;
	d.n_offer_ids = 2;
	d.offer_ids = oid;
	d.filters = &f;
	fw.value = fwid;
	c.framework_id = &fw;
	c.has_type = true;
	c.type = MESOS__V1__SCHEDULER__CALL__TYPE__DECLINE;
	c.decline = &d;
	assert_int_equal(sim_call(sim, stream, &c, err, sizeof(err)), 202);
	clear();
	tick_now();
	assert_null(first_offer()); /* filtered */
	struct timespec wait = {0, 80000000};
	nanosleep(&wait, NULL);
	tick_now();
	assert_non_null(first_offer()); /* the filter expired: offered again */
	assert_int_equal(first_offers_n(), 2);
	clear();
	sim_destroy(sim);
}

/* An ACCEPT naming offers of two agents is refused, and both offers come back. */
static void test_refused_accept_offers_again(void **state)
{
	(void)state;
	char err[160];
	struct sim_config cfg = {.agents = 2};
	sim = sim_create(&cfg);
	subscribe();
	assert_int_equal(events[2]->offers->n_offers, 2);
	char ids[2][64];
	for (int i = 0; i < 2; i++)
		snprintf(ids[i], sizeof(ids[i]), "%s", events[2]->offers->offers[i]->id->value);
	call_t c = MESOS__V1__SCHEDULER__CALL__INIT;
	Mesos__V1__FrameworkID fw = MESOS__V1__FRAMEWORK_ID__INIT;
	Mesos__V1__Scheduler__Call__Accept a = MESOS__V1__SCHEDULER__CALL__ACCEPT__INIT;
	Mesos__V1__OfferID o[2] = {MESOS__V1__OFFER_ID__INIT, MESOS__V1__OFFER_ID__INIT};
	Mesos__V1__OfferID *op[2] = {&o[0], &o[1]};
	o[0].value = ids[0];
	o[1].value = ids[1];
	a.n_offer_ids = 2;
	a.offer_ids = op;
	fw.value = fwid;
	c.framework_id = &fw;
	c.has_type = true;
	c.type = MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT;
	c.accept = &a;
	clear();
	assert_int_equal(sim_call(sim, stream, &c, err, sizeof(err)), 202);
	tick_now();
	/* both agents offered again, under new ids; the old ids are spent */
	assert_int_equal(first_offers_n(), 2);
	for (int i = 0; i < 2; i++) {
		assert_string_not_equal(first_offer()->id->value, ids[0]);
		assert_string_not_equal(first_offer()->id->value, ids[1]);
	}
	clear();
	sim_destroy(sim);
}

/* Events a second subscriber's stream received. */
static event_t *events2[16];
static size_t n_events2;
static bool ended2, ended1;

static void keep2(void *arg, const uint8_t *ev, size_t len)
{
	(void)arg;
	if (ev == NULL) {
		ended2 = true;
		return;
	}
	event_t *e = mesos__v1__scheduler__event__unpack(NULL, len, ev);
	assert_non_null(e);
	if (n_events2 < 16)
		events2[n_events2++] = e;
	else
		mesos__v1__scheduler__event__free_unpacked(e, NULL);
}

static void clear2(void)
{
	for (size_t i = 0; i < n_events2; i++)
		mesos__v1__scheduler__event__free_unpacked(events2[i], NULL);
	n_events2 = 0;
	ended2 = false;
}

/* keep, and note the end of the stream */
static void keep1(void *arg, const uint8_t *ev, size_t len)
{
	if (ev == NULL)
		ended1 = true;
	else
		keep(arg, ev, len);
}

/* A SUBSCRIBE on a second stream as framework `id` ("" for a new one). */
static int subscribe2(const char *id, double failover_s, char *sid, size_t len)
{
	char err[160];
	call_t c = MESOS__V1__SCHEDULER__CALL__INIT;
	Mesos__V1__Scheduler__Call__Subscribe sub = MESOS__V1__SCHEDULER__CALL__SUBSCRIBE__INIT;
	Mesos__V1__FrameworkInfo fi = MESOS__V1__FRAMEWORK_INFO__INIT;
	Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
	fi.user = "root";
	fi.name = "test";
	fi.has_failover_timeout = failover_s > 0;
	fi.failover_timeout = failover_s;
	if (id[0]) {
		fid.value = (char *)id;
		fi.id = &fid;
		c.framework_id = &fid;
	}
	sub.framework_info = &fi;
	c.has_type = true;
	c.type = MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE;
	c.subscribe = &sub;
	clear2();
	return sim_subscribe(sim, &c, keep2, NULL, sid, len, err, sizeof(err));
}

static bool error2(const char *text)
{
	for (size_t i = 0; i < n_events2; i++)
		if (events2[i]->type == MESOS__V1__SCHEDULER__EVENT__TYPE__ERROR &&
		    strstr(events2[i]->error->message, text) != NULL)
			return true;
	return false;
}

/*
 * The framework's life as a master gives it: failed over by its own
 * resubscription (ERROR on the old stream), another framework refused
 * while it is registered, removed when its failover timeout passes after
 * a disconnect (tasks killed, its id refused), a fresh id per master.
 */
static void test_framework_lifecycle(void **state)
{
	(void)state;
	char sid[64], first[64];
	struct sim_config cfg = {.agents = 2};
	sim = sim_create(&cfg);
	/* subscribe() with keep1, to see the stream end */
	char err[128];
	call_t c = MESOS__V1__SCHEDULER__CALL__INIT;
	Mesos__V1__Scheduler__Call__Subscribe sub = MESOS__V1__SCHEDULER__CALL__SUBSCRIBE__INIT;
	Mesos__V1__FrameworkInfo fi = MESOS__V1__FRAMEWORK_INFO__INIT;
	fi.user = "root";
	fi.name = "test";
	fi.has_failover_timeout = true;
	fi.failover_timeout = 0.05;
	sub.framework_info = &fi;
	c.has_type = true;
	c.type = MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE;
	c.subscribe = &sub;
	ended1 = false;
	assert_int_equal(
	    sim_subscribe(sim, &c, keep1, NULL, stream, sizeof(stream), err, sizeof(err)), 200);
	snprintf(fwid, sizeof(fwid), "%s", events[0]->subscribed->framework_id->value);
	snprintf(first, sizeof(first), "%s", fwid);
	/* a launch, so the removal has a task to kill */
	Mesos__V1__Offer *o = events[2]->offers->offers[0];
	assert_int_equal(launch(o->id->value, o->agent_id->value, "t1", 1, 31000), 202);
	assert_int_equal(update_of("t1")->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
	clear();

	/* another framework while this one is registered: refused */
	assert_int_equal(subscribe2("", 0, sid, sizeof(sid)), SIM_SUBSCRIBE_REFUSED);
	assert_true(error2("one framework") && ended2);
	assert_false(ended1);

	/* the same framework again: the old stream gets ERROR and ends */
	assert_int_equal(subscribe2(fwid, 0.05, sid, sizeof(sid)), 200);
	assert_true(ended1);
	bool failed_over = false;
	for (size_t i = 0; i < n_events; i++)
		failed_over |= events[i]->type == MESOS__V1__SCHEDULER__EVENT__TYPE__ERROR &&
		               strcmp(events[i]->error->message, "Framework failed over") == 0;
	assert_true(failed_over);
	assert_int_equal(events2[0]->type, MESOS__V1__SCHEDULER__EVENT__TYPE__SUBSCRIBED);
	assert_string_equal(events2[0]->subscribed->framework_id->value, fwid);

	/* disconnected past its failover timeout: removed, its task killed */
	sim_unsubscribe(sim, sid);
	struct timespec wait = {0, 80000000};
	nanosleep(&wait, NULL);
	tick_now();
	struct sim_stats st;
	sim_get_stats(sim, &st);
	assert_int_equal(st.running, 0);
	assert_int_equal(subscribe2(fwid, 0, sid, sizeof(sid)), SIM_SUBSCRIBE_REFUSED);
	assert_true(error2("Framework has been removed") && ended2);

	/* a new framework gets a new id; an id this master never saw is taken
	 * as after a master failover (once the new one is gone) */
	assert_int_equal(subscribe2("", 0, sid, sizeof(sid)), 200);
	assert_string_not_equal(events2[0]->subscribed->framework_id->value, first);
	clear();
	clear2();
	sim_destroy(sim);

	/* a fresh simulator never hands out the same id */
	sim = sim_create(&cfg);
	assert_int_equal(subscribe2("", 0, sid, sizeof(sid)), 200);
	assert_string_not_equal(events2[0]->subscribed->framework_id->value, first);
	sim_unsubscribe(sim, sid);
	tick_now(); /* failover timeout 0: removed at once */
	assert_int_equal(subscribe2("an-id-from-before-a-failover", 0, sid, sizeof(sid)), 200);
	assert_string_equal(events2[0]->subscribed->framework_id->value,
	                    "an-id-from-before-a-failover");
	clear2();
	sim_destroy(sim);
}

/* The last UPDATE for task id on the second stream, or NULL. */
static Mesos__V1__TaskStatus *update2_of(const char *id)
{
	for (size_t i = n_events2; i-- > 0;)
		if (events2[i]->update &&
		    strcmp(events2[i]->update->status->task_id->value, id) == 0)
			return events2[i]->update->status;
	return NULL;
}

static size_t updates2_of(const char *id)
{
	size_t n = 0;
	for (size_t i = 0; i < n_events2; i++)
		n += events2[i]->update &&
		     strcmp(events2[i]->update->status->task_id->value, id) == 0;
	return n;
}

/* RECONCILE of one task (agent may be NULL), or implicit when id is NULL. */
static void reconcile(const char *id, const char *agent)
{
	char err[128];
	call_t c = MESOS__V1__SCHEDULER__CALL__INIT;
	Mesos__V1__FrameworkID fw = MESOS__V1__FRAMEWORK_ID__INIT;
	Mesos__V1__Scheduler__Call__Reconcile r = MESOS__V1__SCHEDULER__CALL__RECONCILE__INIT;
	Mesos__V1__Scheduler__Call__Reconcile__Task
	    t = MESOS__V1__SCHEDULER__CALL__RECONCILE__TASK__INIT,
	    *tp = &t;
	Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
	if (id != NULL) {
		tid.value = (char *)id;
		t.task_id = &tid;
		if (agent != NULL) {
			aid.value = (char *)agent;
			t.agent_id = &aid;
		}
		r.n_tasks = 1;
		r.tasks = &tp;
	}
	fw.value = fwid;
	c.framework_id = &fw;
	c.has_type = true;
	c.type = MESOS__V1__SCHEDULER__CALL__TYPE__RECONCILE;
	c.reconcile = &r;
	assert_int_equal(sim_call(sim, stream, &c, err, sizeof(err)), 202);
}

/*
 * Reconciliation as a master answers a partition-aware framework: a known
 * task's latest state; a finished, acknowledged one TASK_GONE on its
 * registered agent, TASK_UNKNOWN without an agent; answers without uuid,
 * sent once; implicit reconciliation only for tasks the master knows; a
 * KILL of an unknown task is reconciled.
 */
static void test_reconciliation(void **state)
{
	(void)state;
	char sid[64];
	struct sim_config cfg = {.agents = 1, .task_secs = 0.001};
	sim = sim_create(&cfg);
	call_t c = MESOS__V1__SCHEDULER__CALL__INIT;
	Mesos__V1__Scheduler__Call__Subscribe sub = MESOS__V1__SCHEDULER__CALL__SUBSCRIBE__INIT;
	Mesos__V1__FrameworkInfo fi = MESOS__V1__FRAMEWORK_INFO__INIT;
	Mesos__V1__FrameworkInfo__Capability cap = MESOS__V1__FRAMEWORK_INFO__CAPABILITY__INIT,
	                                     *capp = &cap;
	cap.has_type = true;
	cap.type = MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__PARTITION_AWARE;
	fi.user = "root";
	fi.name = "pa";
	fi.n_capabilities = 1;
	fi.capabilities = &capp;
	sub.framework_info = &fi;
	c.has_type = true;
	c.type = MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE;
	c.subscribe = &sub;
	char err[128];
	clear2();
	assert_int_equal(sim_subscribe(sim, &c, keep2, NULL, sid, sizeof(sid), err, sizeof(err)),
	                 200);
	snprintf(stream, sizeof(stream), "%s", sid);
	snprintf(fwid, sizeof(fwid), "%s", events2[0]->subscribed->framework_id->value);
	Mesos__V1__Offer *o = events2[2]->offers->offers[0];
	char agent[64], offer[64];
	snprintf(agent, sizeof(agent), "%s", o->agent_id->value);
	snprintf(offer, sizeof(offer), "%s", o->id->value);
	clear2();
	assert_int_equal(launch(offer, agent, "r1", 1, 31000), 202);
	Mesos__V1__TaskStatus *st = update2_of("r1");
	assert_int_equal(st->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
	uint8_t uuid[16];
	memcpy(uuid, st->uuid.data, 16);
	/* known: its latest state, no uuid, once */
	clear2();
	reconcile("r1", agent);
	assert_int_equal(updates2_of("r1"), 1);
	assert_int_equal(update2_of("r1")->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
	assert_false(update2_of("r1")->has_uuid);
	/* acknowledged, finished, acknowledged: the master forgets it */
	Mesos__V1__TaskStatus a = MESOS__V1__TASK_STATUS__INIT;
	Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
	tid.value = "r1";
	aid.value = agent;
	a.task_id = &tid;
	a.agent_id = &aid;
	a.has_uuid = true;
	a.uuid.data = uuid;
	a.uuid.len = 16;
	struct timespec d = {0, 5000000};
	nanosleep(&d, NULL);
	tick_now();
	clear2();
	assert_int_equal(ack(&a), 202); /* RUNNING: the held FINISHED follows */
	st = update2_of("r1");
	assert_int_equal(st->state, MESOS__V1__TASK_STATE__TASK_FINISHED);
	memcpy(uuid, st->uuid.data, 16);
	assert_int_equal(ack(&a), 202);
	clear2();
	reconcile("r1", agent);
	assert_int_equal(update2_of("r1")->state, MESOS__V1__TASK_STATE__TASK_GONE);
	clear2();
	reconcile("r1", NULL);
	assert_int_equal(update2_of("r1")->state, MESOS__V1__TASK_STATE__TASK_UNKNOWN);
	clear2();
	reconcile("never", "agent-99999-S0");
	assert_int_equal(update2_of("never")->state, MESOS__V1__TASK_STATE__TASK_UNKNOWN);
	clear2();
	reconcile(NULL, NULL); /* implicit: r1 is not among the known */
	assert_null(update2_of("r1"));
	/* KILL of the finished task: reconciled, not silent */
	call_t k = MESOS__V1__SCHEDULER__CALL__INIT;
	Mesos__V1__FrameworkID fw = MESOS__V1__FRAMEWORK_ID__INIT;
	Mesos__V1__Scheduler__Call__Kill kl = MESOS__V1__SCHEDULER__CALL__KILL__INIT;
	kl.task_id = &tid;
	kl.agent_id = &aid;
	fw.value = fwid;
	k.framework_id = &fw;
	k.has_type = true;
	k.type = MESOS__V1__SCHEDULER__CALL__TYPE__KILL;
	k.kill = &kl;
	clear2();
	assert_int_equal(sim_call(sim, stream, &k, err, sizeof(err)), 202);
	assert_int_equal(update2_of("r1")->state, MESOS__V1__TASK_STATE__TASK_GONE);
	clear2();
	sim_destroy(sim);
}

/* An ACCEPT without filters: the agent's remainder is held back 5 s, as a master does. */
static void test_accept_default_filter(void **state)
{
	(void)state;
	struct sim_config cfg = {.agents = 1};
	char offer[64], agent[64];
	start(&cfg, offer, agent);
	accept_refuse_s = -1;
	assert_int_equal(launch(offer, agent, "f1", 1, 31000), 202);
	accept_refuse_s = 0;
	tick_now();
	assert_null(first_offer()); /* 31 cpus left, but filtered for 5 s */
	clear();
	sim_destroy(sim);
}

/* TEARDOWN: the framework is removed, its stream ends, its id is refused. */
static void test_teardown(void **state)
{
	(void)state;
	char err[160], sid[64];
	struct sim_config cfg = {.agents = 1};
	sim = sim_create(&cfg);
	assert_int_equal(subscribe2("", 100, sid, sizeof(sid)), 200);
	char id[64];
	snprintf(id, sizeof(id), "%s", events2[0]->subscribed->framework_id->value);
	call_t c = MESOS__V1__SCHEDULER__CALL__INIT;
	Mesos__V1__FrameworkID fw = MESOS__V1__FRAMEWORK_ID__INIT;
	fw.value = id;
	c.framework_id = &fw;
	c.has_type = true;
	c.type = MESOS__V1__SCHEDULER__CALL__TYPE__TEARDOWN;
	assert_int_equal(sim_call(sim, sid, &c, err, sizeof(err)), 202);
	assert_true(ended2);
	c.type = MESOS__V1__SCHEDULER__CALL__TYPE__REVIVE;
	assert_int_equal(sim_call(sim, sid, &c, err, sizeof(err)), 400); /* cannot be found */
	assert_int_equal(subscribe2(id, 100, sid, sizeof(sid)), SIM_SUBSCRIBE_REFUSED);
	assert_true(error2("Framework has been removed"));
	clear2();
	sim_destroy(sim);
}

/* Acknowledges every update of task id in the events (cleared first: what
 * the acknowledgements release stays). */
static void ack_all(const char *id)
{
	Mesos__V1__TaskStatus *st[256];
	size_t n = 0;
	for (size_t i = 0; i < n_events; i++)
		if (events[i]->update && !strcmp(events[i]->update->status->task_id->value, id) &&
		    events[i]->update->status->has_uuid)
			st[n++] =
			    (Mesos__V1__TaskStatus *)proto_clone(&events[i]->update->status->base);
	clear();
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(ack(st[i]), 202);
		protobuf_c_message_free_unpacked(&st[i]->base, NULL);
	}
}

/* Waits 20 ms and ticks (every check of these tests is due by then). */
static void tick_later(void)
{
	struct timespec d = {0, 20000000};
	nanosleep(&d, NULL);
	tick_now();
}

/* Health checks as an agent's health checker runs them: a passing check
 * says healthy once; failing ones (no grace period here) each say
 * unhealthy, with the health-check reason, and the consecutive_failures-th
 * kills the task (KILLED, healthy false). A health update waits for the
 * acknowledgement of the one before it. */
static void test_health_checks(void **state)
{
	(void)state;
	struct sim_config cfg = {.agents = 1, .task_secs = 1000};
	char offer[64], agent[64];
	Mesos__V1__HealthCheck hc = MESOS__V1__HEALTH_CHECK__INIT;
	Mesos__V1__CommandInfo cmd = MESOS__V1__COMMAND_INFO__INIT;
	cmd.value = "exit 0";
	hc.has_type = true;
	hc.type = MESOS__V1__HEALTH_CHECK__TYPE__COMMAND;
	hc.command = &cmd;
	hc.has_delay_seconds = hc.has_interval_seconds = hc.has_grace_period_seconds = true;
	hc.delay_seconds = 0;
	hc.interval_seconds = 0.001;
	hc.grace_period_seconds = 0;
	hc.has_consecutive_failures = true;
	hc.consecutive_failures = 2;
	launch_hc = &hc;
	start(&cfg, offer, agent);
	assert_int_equal(launch(offer, agent, "ok", 1, 31000), 202);
	assert_int_equal(update_of("ok")->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
	assert_false(update_of("ok")->has_healthy);
	ack_all("ok");
	tick_later();
	Mesos__V1__TaskStatus *st = update_of("ok");
	assert_non_null(st);
	assert_int_equal(st->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
	assert_true(st->has_healthy && st->healthy);
	assert_int_equal(st->reason,
	                 MESOS__V1__TASK_STATUS__REASON__REASON_TASK_HEALTH_CHECK_STATUS_UPDATED);
	ack_all("ok");
	tick_later(); /* passing again: nothing new to say */
	assert_null(update_of("ok"));
	sim_destroy(sim);
	/* a failing check */
	cmd.value = "exit 1";
	start(&cfg, offer, agent);
	assert_int_equal(launch(offer, agent, "bad", 1, 31000), 202);
	ack_all("bad");
	tick_later();
	st = update_of("bad");
	assert_non_null(st);
	assert_int_equal(st->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
	assert_true(st->has_healthy && !st->healthy);
	tick_later(); /* the second failure waits for the first's acknowledgement */
	assert_int_equal(count_type(MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE), 1);
	ack_all("bad");
	/* acknowledged: the second failure's update, then (after its ack) the kill */
	st = update_of("bad");
	assert_non_null(st);
	assert_int_equal(st->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
	assert_true(st->has_healthy && !st->healthy);
	ack_all("bad");
	st = update_of("bad");
	assert_non_null(st);
	assert_int_equal(st->state, MESOS__V1__TASK_STATE__TASK_KILLED);
	assert_true(st->has_healthy && !st->healthy);
	struct sim_stats ss;
	sim_get_stats(sim, &ss);
	assert_int_equal(ss.health_kills, 1);
	assert_int_equal(ss.running, 0);
	clear();
	sim_destroy(sim);
	launch_hc = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_launch_run_finish),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_starting),
	    cmocka_unit_test(test_decline_filter_expires),
	    cmocka_unit_test(test_refused_accept_offers_again),
	    cmocka_unit_test(test_framework_lifecycle),
	    cmocka_unit_test(test_teardown),
	    cmocka_unit_test(test_reconciliation),
	    cmocka_unit_test(test_accept_default_filter),
	    cmocka_unit_test(test_profiles_and_faults),
	    cmocka_unit_test(test_health_checks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
