/*
 * The Mesos client against the simulated master over HTTP on 127.0.0.1:
 * subscribe, offers, three launches for one agent coalesced into ONE
 * ACCEPT, RUNNING updates acknowledged (the caller's step), FINISHED, a
 * dropped stream followed by a resubscription with the same framework id,
 * explicit reconciliation after it, a decline whose filter holds until a
 * REVIVE, SUPPRESS stopping offers; then a second client sent to a
 * standby master that follows the 307 to the leader, survives a 503
 * window (a call queued during it is delivered after) and stalled
 * heartbeats; then a client speaking JSON launches a task end to end.
 * Also: a launch queued behind 20,000 acknowledgements is not held back.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "client.h"
#include "proto_codec.h"
#include "sim_http.h"

#define CHECK(c)                                                                              \
	do {                                                                                  \
		if (!(c)) {                                                                   \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
			exit(1);                                                              \
		}                                                                             \
	} while (0)

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static Mesos__V1__Offer *offers[1024];
static size_t n_offers;
static Mesos__V1__TaskStatus *updates[4096];
static size_t n_updates;
static int subscribed_count;
static struct mesos_client *cl;

/* Offers for one agent among those received since index `from`. */
static size_t offers_for(const char *agent, size_t from)
{
	size_t n = 0;
	for (size_t i = from; i < n_offers; i++)
		n += strcmp(offers[i]->agent_id->value, agent) == 0;
	return n;
}

/* A reconciliation answer for task in `state` since update index `from`. */
static bool answered(const char *task, int state, size_t from)
{
	for (size_t i = from; i < n_updates; i++)
		if (strcmp(updates[i]->task_id->value, task) == 0 &&
		    (int)updates[i]->state == state &&
		    updates[i]->reason == MESOS__V1__TASK_STATUS__REASON__REASON_RECONCILIATION)
			return true;
	return false;
}

static void sleep_ms(long ms)
{
	struct timespec d = {ms / 1000, (ms % 1000) * 1000000};
	nanosleep(&d, NULL);
}

static void on_event(void *arg, const Mesos__V1__Scheduler__Event *ev)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	if (ev->offers)
		for (size_t i = 0; i < ev->offers->n_offers && n_offers < 1024; i++)
			offers[n_offers++] =
			    (Mesos__V1__Offer *)proto_clone(&ev->offers->offers[i]->base);
	if (ev->update && n_updates < 4096) {
		Mesos__V1__TaskStatus *st =
		    (Mesos__V1__TaskStatus *)proto_clone(&ev->update->status->base);
		updates[n_updates++] = st;
		/* "durable" here at once: acknowledge */
		if (st->has_uuid)
			CHECK(mesos_client_acknowledge(cl, st) == 0);
	}
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

static void on_subscribed(void *arg, const char *fw)
{
	(void)arg;
	(void)fw;
	pthread_mutex_lock(&mu);
	subscribed_count++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

/* Tasks that reported `state` (not counting reconciliation answers or resends). */
static size_t count_state(int state)
{
	size_t n = 0;
	for (size_t i = 0; i < n_updates; i++) {
		const Mesos__V1__TaskStatus *u = updates[i];
		bool first = (int)u->state == state &&
		             u->reason != MESOS__V1__TASK_STATUS__REASON__REASON_RECONCILIATION;
		for (size_t k = 0; first && k < i; k++)
			first = !((int)updates[k]->state == state &&
			          strcmp(updates[k]->task_id->value, u->task_id->value) == 0);
		n += first;
	}
	return n;
}

/* Waits up to 10 s for cond (evaluated under mu). */
#define WAIT_FOR(cond)                                                     \
	do {                                                               \
		struct timespec until;                                     \
		clock_gettime(CLOCK_REALTIME, &until);                     \
		until.tv_sec += 10;                                        \
		pthread_mutex_lock(&mu);                                   \
		while (!(cond))                                            \
			if (pthread_cond_timedwait(&cv, &mu, &until) != 0) \
				break;                                     \
		bool ok_ = (cond);                                         \
		pthread_mutex_unlock(&mu);                                 \
		CHECK(ok_);                                                \
	} while (0)

static Mesos__V1__TaskInfo *task(const char *id, const char *agent)
{
	static Mesos__V1__TaskInfo ti[3];
	static Mesos__V1__TaskID tid[3];
	static Mesos__V1__AgentID aid[3];
	static Mesos__V1__Resource r[3][2], *rp[3][2];
	static Mesos__V1__Value__Scalar sc[3][2];
	static int k;
	int i = k++ % 3;
	mesos__v1__task_info__init(&ti[i]);
	mesos__v1__task_id__init(&tid[i]);
	mesos__v1__agent_id__init(&aid[i]);
	for (int j = 0; j < 2; j++) {
		mesos__v1__resource__init(&r[i][j]);
		mesos__v1__value__scalar__init(&sc[i][j]);
		r[i][j].type = MESOS__V1__VALUE__TYPE__SCALAR;
		r[i][j].scalar = &sc[i][j];
		rp[i][j] = &r[i][j];
	}
	r[i][0].name = "cpus";
	sc[i][0].value = 1;
	r[i][1].name = "mem";
	sc[i][1].value = 64;
	tid[i].value = (char *)id;
	aid[i].value = (char *)agent;
	ti[i].name = (char *)id;
	ti[i].task_id = &tid[i];
	ti[i].agent_id = &aid[i];
	ti[i].n_resources = 2;
	ti[i].resources = rp[i];
	return &ti[i];
}

int main(void)
{
	char err[256], master[64];
	curl_global_init(CURL_GLOBAL_DEFAULT);
	struct sim_config scfg = {
	    .agents = 4, .cpus = 8, .task_secs = 0.2, .heartbeat_secs = 0.5, .retry_secs = 0.2};
	struct sim *sim = sim_create(&scfg);
	struct sim_http *h = sim_http_start(sim, 0, err, sizeof(err));
	CHECK(h != NULL);
	snprintf(master, sizeof(master), "127.0.0.1:%u", sim_http_port(h));
	struct mesos_client_config cfg = {.master = master,
	                                  .name = "pelotond-test",
	                                  .batch_window_ms = 50,
	                                  .on_event = on_event,
	                                  .on_subscribed = on_subscribed};
	cl = mesos_client_start(&cfg, err, sizeof(err));
	CHECK(cl != NULL);
	CHECK(mesos_client_wait_subscribed(cl, 10000));
	char fw1[160];
	CHECK(mesos_client_framework_id(cl, fw1, sizeof(fw1)));
	WAIT_FOR(n_offers == 4);

	/* three launches for one agent within the window: one ACCEPT */
	pthread_mutex_lock(&mu);
	char agent[64], offer[64];
	snprintf(agent, sizeof(agent), "%s", offers[0]->agent_id->value);
	snprintf(offer, sizeof(offer), "%s", offers[0]->id->value);
	pthread_mutex_unlock(&mu);
	const char *ids[1] = {offer};
	static const char *const names[3] = {"job-1-0-1", "job-1-1-1", "job-1-2-1"};
	for (int i = 0; i < 3; i++) {
		Mesos__V1__TaskInfo *t = task(names[i], agent);
		CHECK(mesos_client_launch(cl, agent, ids, 1, &t, 1) == 0);
	}
	WAIT_FOR(count_state(MESOS__V1__TASK_STATE__TASK_RUNNING) == 3);
	struct mesos_client_stats cs;
	mesos_client_get_stats(cl, &cs);
	CHECK(cs.accepts == 1 && cs.tasks_launched == 3);
	WAIT_FOR(count_state(MESOS__V1__TASK_STATE__TASK_FINISHED) == 3);

	/* all nine updates (STARTING, RUNNING, FINISHED each) acknowledged,
	 * so the master forgets the tasks; then the stream breaks: the client
	 * resubscribes as the same framework */
	struct sim_stats ss;
	for (int i = 0; i < 200; i++) {
		sim_get_stats(sim, &ss);
		if (ss.acks >= 9)
			break;
		sleep_ms(50);
	}
	CHECK(ss.acks >= 9);
	sim_http_drop_stream(h);
	WAIT_FOR(subscribed_count == 2);
	char fw2[160];
	CHECK(mesos_client_framework_id(cl, fw2, sizeof(fw2)));
	CHECK(strcmp(fw1, fw2) == 0);
	/* explicit reconciliation after the reconnect: a finished, acknowledged
	 * task and one never launched, both unknown to the master by now; the
	 * client is partition-aware and names no agent: TASK_UNKNOWN each */
	size_t mark = n_updates;
	const char *rec[2] = {"job-1-0-1", "job-9-9-9"};
	CHECK(mesos_client_reconcile(cl, rec, NULL, 2) == 0);
	WAIT_FOR(answered("job-1-0-1", MESOS__V1__TASK_STATE__TASK_UNKNOWN, mark) &&
	         answered("job-9-9-9", MESOS__V1__TASK_STATE__TASK_UNKNOWN, mark));
	/* offers come again on the new stream; decline one for 30 s */
	WAIT_FOR(n_offers >= 8);
	pthread_mutex_lock(&mu);
	snprintf(offer, sizeof(offer), "%s", offers[n_offers - 1]->id->value);
	char declined[64];
	snprintf(declined, sizeof(declined), "%s", offers[n_offers - 1]->agent_id->value);
	size_t omark = n_offers;
	pthread_mutex_unlock(&mu);
	CHECK(mesos_client_decline(cl, ids, 1, 30) == 0);
	/* the filter holds: nothing for that agent while a second passes */
	sleep_ms(1000);
	pthread_mutex_lock(&mu);
	CHECK(offers_for(declined, omark) == 0);
	pthread_mutex_unlock(&mu);
	/* REVIVE clears it */
	CHECK(mesos_client_offers(cl, true) == 0);
	WAIT_FOR(offers_for(declined, omark) == 1);
	/* SUPPRESS: a task ends and frees resources, yet no offer comes */
	pthread_mutex_lock(&mu);
	snprintf(agent, sizeof(agent), "%s", offers[n_offers - 1]->agent_id->value);
	snprintf(offer, sizeof(offer), "%s", offers[n_offers - 1]->id->value);
	pthread_mutex_unlock(&mu);
	CHECK(mesos_client_offers(cl, false) == 0);
	Mesos__V1__TaskInfo *t4 = task("job-2-0-1", agent);
	CHECK(mesos_client_launch(cl, agent, ids, 1, &t4, 1) == 0);
	WAIT_FOR(count_state(MESOS__V1__TASK_STATE__TASK_FINISHED) == 4);
	pthread_mutex_lock(&mu);
	omark = n_offers;
	pthread_mutex_unlock(&mu);
	sleep_ms(500);
	pthread_mutex_lock(&mu);
	CHECK(n_offers == omark);
	pthread_mutex_unlock(&mu);
	CHECK(mesos_client_offers(cl, true) == 0);
	WAIT_FOR(n_offers > omark);

	/* a backlog of acknowledgements does not hold a launch back: 20,000
	 * ACKNOWLEDGEs (of a task the master does not know: accepted, ignored)
	 * queued before a launch; its ACCEPT goes out ahead of them, so the
	 * task runs while most of them are still unsent (in one FIFO it would
	 * wait for all 20,000) */
	pthread_mutex_lock(&mu);
	snprintf(agent, sizeof(agent), "%s", offers[n_offers - 1]->agent_id->value);
	snprintf(offer, sizeof(offer), "%s", offers[n_offers - 1]->id->value);
	pthread_mutex_unlock(&mu);
	mesos_client_get_stats(cl, &cs);
	uint64_t sent0 = cs.calls_sent;
	static uint8_t uuid[16] = {1, 2, 3};
	Mesos__V1__TaskID ghost = MESOS__V1__TASK_ID__INIT;
	Mesos__V1__AgentID ghost_agent = MESOS__V1__AGENT_ID__INIT;
	Mesos__V1__TaskStatus gst = MESOS__V1__TASK_STATUS__INIT;
	ghost.value = "job-none-0-1";
	ghost_agent.value = agent;
	gst.task_id = &ghost;
	gst.agent_id = &ghost_agent;
	gst.has_uuid = true;
	gst.uuid.data = uuid;
	gst.uuid.len = sizeof(uuid);
	for (int i = 0; i < 20000; i++)
		CHECK(mesos_client_acknowledge(cl, &gst) == 0);
	Mesos__V1__TaskInfo *tq = task("job-8-0-1", agent);
	CHECK(mesos_client_launch(cl, agent, ids, 1, &tq, 1) == 0);
	/* the launch went before the backlog: the task is STARTING (its RUNNING
	 * waits for STARTING's acknowledgement, queued behind the backlog) */
	WAIT_FOR(count_state(MESOS__V1__TASK_STATE__TASK_STARTING) == 5);
	mesos_client_get_stats(cl, &cs);
	printf("{\"check\":\"ack_backlog\",\"calls_sent_before_starting\":%llu}\n",
	       (unsigned long long)(cs.calls_sent - sent0));
	CHECK(cs.calls_sent - sent0 < 20000);
	WAIT_FOR(count_state(MESOS__V1__TASK_STATE__TASK_FINISHED) == 5);

	/* every update is acknowledged in the end: an ACK lost with the old
	 * stream (403) is made good when the master resends the update */
	for (int i = 0; i < 100; i++) {
		sim_get_stats(sim, &ss);
		if (ss.acks >= 15)
			break;
		sleep_ms(50);
	}
	mesos_client_get_stats(cl, &cs);
	printf("{\"check\":\"mesos_client\",\"subscribes\":%llu,\"accepts\":%llu,"
	       "\"tasks\":%llu,\"sim_acks\":%llu,\"calls_failed\":%llu}\n",
	       (unsigned long long)cs.subscribes, (unsigned long long)cs.accepts,
	       (unsigned long long)cs.tasks_launched, (unsigned long long)ss.acks,
	       (unsigned long long)cs.calls_failed);
	CHECK(ss.launched == 5);
	CHECK(ss.acks >= 15); /* STARTING, RUNNING and FINISHED of each */
	/* the next client is this scheduler restarted: it resubscribes with the
	 * framework id it kept (the simulator, unlike a master, serves one
	 * framework at a time) */
	static char fwid[160];
	CHECK(mesos_client_framework_id(cl, fwid, sizeof(fwid)));
	mesos_client_stop(cl);
	cfg.framework_id = fwid;

	/* a standby master: the client follows its 307 to the leader */
	struct sim_config scfg2 = {.agents = 1};
	struct sim *standby = sim_create(&scfg2);
	struct sim_http *h2 = sim_http_start(standby, 0, err, sizeof(err));
	CHECK(h2 != NULL);
	CHECK(sim_http_fault(h2, "redirect", master, 0, err, sizeof(err)) == 0);
	char standby_addr[64];
	snprintf(standby_addr, sizeof(standby_addr), "127.0.0.1:%u", sim_http_port(h2));
	cfg.master = standby_addr;
	cfg.backoff_max_s = 0.5;
	pthread_mutex_lock(&mu);
	subscribed_count = 0;
	pthread_mutex_unlock(&mu);
	cl = mesos_client_start(&cfg, err, sizeof(err));
	CHECK(cl != NULL);
	CHECK(mesos_client_wait_subscribed(cl, 10000));
	mesos_client_get_stats(cl, &cs);
	CHECK(cs.redirects >= 1);
	/* no leader for a second: the stream drops, SUBSCRIBE gets 503s; a call
	 * queued meanwhile goes out once subscribed again */
	CHECK(sim_http_fault(h, "unavailable", NULL, 1.0, err, sizeof(err)) == 0);
	WAIT_FOR(subscribed_count == 2);
	mark = n_updates;
	const char *rec1[1] = {"job-2-0-1"}; /* finished and acknowledged: unknown by now */
	CHECK(mesos_client_reconcile(cl, rec1, NULL, 1) == 0);
	WAIT_FOR(answered("job-2-0-1", MESOS__V1__TASK_STATE__TASK_UNKNOWN, mark));
	/* heartbeats stall: after ~5 missed the client resubscribes by itself */
	CHECK(sim_http_fault(h, "stall-heartbeats", NULL, 4.0, err, sizeof(err)) == 0);
	WAIT_FOR(subscribed_count == 3);
	mesos_client_get_stats(cl, &cs);
	CHECK(cs.subscribes >= 4); /* redirected, 503 retries, then two good ones */
	mesos_client_stop(cl);
	sim_http_stop(h2);
	sim_destroy(standby);

	/* JSON on the wire: subscribe, an offer, a launch to RUNNING, acknowledged */
	cfg.master = master;
	cfg.json = true;
	pthread_mutex_lock(&mu);
	omark = n_offers;
	mark = n_updates;
	pthread_mutex_unlock(&mu);
	cl = mesos_client_start(&cfg, err, sizeof(err));
	CHECK(cl != NULL);
	CHECK(mesos_client_wait_subscribed(cl, 10000));
	WAIT_FOR(n_offers > omark);
	pthread_mutex_lock(&mu);
	snprintf(agent, sizeof(agent), "%s", offers[omark]->agent_id->value);
	snprintf(offer, sizeof(offer), "%s", offers[omark]->id->value);
	pthread_mutex_unlock(&mu);
	Mesos__V1__TaskInfo *t5 = task("job-3-0-1", agent);
	CHECK(mesos_client_launch(cl, agent, ids, 1, &t5, 1) == 0);
	WAIT_FOR(count_state(MESOS__V1__TASK_STATE__TASK_FINISHED) == 5);
	for (int i = 0; i < 100; i++) {
		sim_get_stats(sim, &ss);
		if (ss.acks >= 10)
			break;
		sleep_ms(50);
	}
	CHECK(ss.launched == 5 && ss.acks >= 10);
	mesos_client_stop(cl);
	sim_http_stop(h);
	sim_destroy(sim);
	for (size_t i = 0; i < n_offers; i++)
		protobuf_c_message_free_unpacked(&offers[i]->base, NULL);
	for (size_t i = 0; i < n_updates; i++)
		protobuf_c_message_free_unpacked(&updates[i]->base, NULL);
	curl_global_cleanup();
	return 0;
}
