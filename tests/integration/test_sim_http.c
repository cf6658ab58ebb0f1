/*
 * The simulated master over real HTTP on 127.0.0.1 (libcurl as the client):
 * SUBSCRIBE gives 200, a Mesos-Stream-Id and a RecordIO stream (SUBSCRIBED,
 * OFFERS); ACCEPT with a launch gives 202 and the task's RUNNING then
 * FINISHED updates on the stream; ACKNOWLEDGE 202; a stale stream id 403
 * with a reason; garbage 400; JSON calls 202 and undecodable JSON 400;
 * another Content-Type 415; /health 200; unknown paths 404; the operator
 * API (GET_AGENTS as JSON, GET_TASKS as protobuf); an agent taken down
 * (RESCIND of its offer, FAILURE, TASK_UNREACHABLE of its task); a dropped
 * stream ends the subscriber's response; 503 and 307 windows; a JSON
 * event stream.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "pjson.h"
#include "proto_codec.h"
#include "recordio.h"
#include "sim_http.h"

typedef Mesos__V1__Scheduler__Event event_t;
typedef Mesos__V1__Scheduler__Call call_t;

#define CHECK(c)                                                                              \
	do {                                                                                  \
		if (!(c)) {                                                                   \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
			exit(1);                                                              \
		}                                                                             \
	} while (0)

static char base[64];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static event_t *events[4096];
static size_t n_events;
static char stream_id[128];
static bool stream_ended;
static bool json_stream; /* the subscriber asks for JSON events */

static int on_record(void *arg, const uint8_t *data, size_t len)
{
	(void)arg;
	const char *why;
	char jerr[200];
	event_t *e = json_stream
	                 ? (event_t *)pjson_loads(&mesos__v1__scheduler__event__descriptor,
	                                          (const char *)data, len, jerr, sizeof(jerr))
	                 : (event_t *)proto_decode(&mesos__v1__scheduler__event__descriptor, data,
	                                           len, NULL, &why);
	CHECK(e != NULL);
	pthread_mutex_lock(&mu);
	CHECK(n_events < 4096);
	events[n_events++] = e;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	return 0;
}

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
	const char *err;
	if (recordio_feed(arg, p, sz * n, on_record, NULL, &err) != 0) {
		fprintf(stderr, "recordio: %s\n", err);
		return 0;
	}
	return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
	(void)arg;
	size_t len = sz * n;
	if (len > 16 && strncasecmp(p, "Mesos-Stream-Id:", 16) == 0) {
		pthread_mutex_lock(&mu);
		size_t k = 16;
		while (k < len && p[k] == ' ')
			k++;
		size_t e = len;
		while (e > k && (p[e - 1] == '\r' || p[e - 1] == '\n'))
			e--;
		snprintf(stream_id, sizeof(stream_id), "%.*s", (int)(e - k), p + k);
		pthread_cond_broadcast(&cv);
		pthread_mutex_unlock(&mu);
	}
	return len;
}

static void *pack(const ProtobufCMessage *m, size_t *len)
{
	return proto_pack_alloc(m, len);
}

static void *subscriber(void *arg)
{
	(void)arg;
	call_t c = MESOS__V1__SCHEDULER__CALL__INIT;
	Mesos__V1__Scheduler__Call__Subscribe sub = MESOS__V1__SCHEDULER__CALL__SUBSCRIBE__INIT;
	Mesos__V1__FrameworkInfo fi = MESOS__V1__FRAMEWORK_INFO__INIT;
	fi.user = "root";
	fi.name = "pelotond-test";
	sub.framework_info = &fi;
	c.has_type = true;
	c.type = MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE;
	c.subscribe = &sub;
	size_t len;
	void *body = pack(&c.base, &len);
	struct recordio *r = recordio_new(0);
	CURL *h = curl_easy_init();
	char url[128];
	snprintf(url, sizeof(url), "%s/api/v1/scheduler", base);
	struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/x-protobuf");
	hd = curl_slist_append(hd, json_stream ? "Accept: application/json"
	                                       : "Accept: application/x-protobuf");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)len);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	CURLcode rc = curl_easy_perform(h);
	long code = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	CHECK(code == 200);
	(void)rc;
	pthread_mutex_lock(&mu);
	stream_ended = true;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	curl_slist_free_all(hd);
	curl_easy_cleanup(h);
	recordio_free(r);
	free(body);
	return NULL;
}

static size_t keep_text(char *p, size_t sz, size_t n, void *arg)
{
	char *out = arg;
	size_t have = strlen(out), len = sz * n, room = 511 - have;
	size_t k = len < room ? len : room; /* a prefix of long answers */
	memcpy(out + have, p, k);
	out[have + k] = '\0';
	return len;
}

static char location[256];

static size_t keep_location(char *p, size_t sz, size_t n, void *arg)
{
	(void)arg;
	if (sz * n > 10 && strncasecmp(p, "Location: ", 10) == 0)
		snprintf(location, sizeof(location), "%.*s", (int)strcspn(p + 10, "\r\n"), p + 10);
	return sz * n;
}

/* POSTs bytes to path (ctype NULL: without Content-Type); returns the status, body in
 * text (up to 511 bytes). */
static long post_to(const char *path, const void *body, size_t len, const char *sid,
                    const char *ctype, char *text)
{
	CURL *h = curl_easy_init();
	char url[256], hdr[200];
	snprintf(url, sizeof(url), "%s%s", base, path);
	/* NULL: no Content-Type at all ("Content-Type:" drops curl's default) */
	snprintf(hdr, sizeof(hdr), "Content-Type:%s%s", ctype ? " " : "", ctype ? ctype : "");
	struct curl_slist *hd = curl_slist_append(NULL, hdr);
	if (sid != NULL) {
		snprintf(hdr, sizeof(hdr), "Mesos-Stream-Id: %s", sid);
		hd = curl_slist_append(hd, hdr);
	}
	text[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)len);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep_text);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, text);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, keep_location);
	location[0] = '\0';
	CHECK(curl_easy_perform(h) == CURLE_OK);
	long code = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(hd);
	curl_easy_cleanup(h);
	return code;
}

static long post(const void *body, size_t len, const char *sid, const char *ctype, char *text)
{
	return post_to("/api/v1/scheduler", body, len, sid, ctype, text);
}

/* A fault through the control endpoint. */
static long fault(const char *query)
{
	char path[256], text[512];
	snprintf(path, sizeof(path), "/sim/fault?%s", query);
	return post_to(path, "", 0, NULL, "text/plain", text);
}

static long get(const char *path)
{
	char url[128], text[512] = "";
	snprintf(url, sizeof(url), "%s%s", base, path);
	CURL *h = curl_easy_init();
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep_text);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, text);
	CHECK(curl_easy_perform(h) == CURLE_OK);
	long code = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(h);
	return code;
}

/* Waits (10 s at most) until pred holds over the events; under mu. */
static const event_t *wait_for(bool (*pred)(const event_t *, const void *), const void *arg)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&mu);
	for (;;) {
		for (size_t i = 0; i < n_events; i++)
			if (pred(events[i], arg)) {
				const event_t *e = events[i];
				pthread_mutex_unlock(&mu);
				return e;
			}
		if (pthread_cond_timedwait(&cv, &mu, &until) != 0) {
			pthread_mutex_unlock(&mu);
			return NULL;
		}
	}
}

static bool is_type(const event_t *e, const void *t)
{
	return (int)e->type == *(const int *)t;
}

struct upd {
	const char *task;
	int state;
};

static bool is_update(const event_t *e, const void *arg)
{
	const struct upd *u = arg;
	return e->update && strcmp(e->update->status->task_id->value, u->task) == 0 &&
	       (int)e->update->status->state == u->state;
}

/* Acknowledges the update in event u (a framework's ACKNOWLEDGE). */
static long ack_event(const event_t *u, Mesos__V1__FrameworkID *fw, const char *sid)
{
	call_t a = MESOS__V1__SCHEDULER__CALL__INIT;
	Mesos__V1__Scheduler__Call__Acknowledge ack = MESOS__V1__SCHEDULER__CALL__ACKNOWLEDGE__INIT;
	char text[512];
	size_t len;
	ack.agent_id = u->update->status->agent_id;
	ack.task_id = u->update->status->task_id;
	ack.uuid = u->update->status->uuid;
	a.framework_id = fw;
	a.has_type = true;
	a.type = MESOS__V1__SCHEDULER__CALL__TYPE__ACKNOWLEDGE;
	a.acknowledge = &ack;
	void *body = pack(&a.base, &len);
	long rc = post(body, len, sid, "application/x-protobuf", text);
	free(body);
	return rc;
}

static bool is_rescind(const event_t *e, const void *offer_id)
{
	return e->rescind && strcmp(e->rescind->offer_id->value, offer_id) == 0;
}

/* GET_TASKS straight from the state machine, decoded. */
static ProtobufCMessage *sim_operator_check(struct sim *sim)
{
	Mesos__V1__Master__Call mc = MESOS__V1__MASTER__CALL__INIT;
	char *out, err[200];
	size_t len;
	mc.has_type = true;
	mc.type = MESOS__V1__MASTER__CALL__TYPE__GET_TASKS;
	CHECK(sim_operator(sim, &mc, false, &out, &len, err, sizeof(err)) == 200);
	ProtobufCMessage *m =
	    proto_decode(&mesos__v1__master__response__descriptor, (uint8_t *)out, len, NULL, NULL);
	CHECK(m != NULL);
	free(out);
	return m;
}

int main(void)
{
	char err[256], text[512];
	curl_global_init(CURL_GLOBAL_DEFAULT);
	struct sim_config cfg = {.agents = 5, .cpus = 8, .task_secs = 0.2, .heartbeat_secs = 0.5};
	struct sim *sim = sim_create(&cfg);
	struct sim_http *h = sim_http_start(sim, 0, err, sizeof(err));
	CHECK(h != NULL);
	snprintf(base, sizeof(base), "http://127.0.0.1:%u", sim_http_port(h));
	CHECK(get("/health") == 200);
	CHECK(get("/nope") == 404);

	pthread_t sub;
	pthread_create(&sub, NULL, subscriber, NULL);
	int t_sub = MESOS__V1__SCHEDULER__EVENT__TYPE__SUBSCRIBED,
	    t_off = MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS,
	    t_hb = MESOS__V1__SCHEDULER__EVENT__TYPE__HEARTBEAT;
	const event_t *s = wait_for(is_type, &t_sub);
	CHECK(s != NULL);
	char fwid[64];
	snprintf(fwid, sizeof(fwid), "%s", s->subscribed->framework_id->value);
	const event_t *o = wait_for(is_type, &t_off);
	CHECK(o != NULL && o->offers->n_offers == 5);
	CHECK(wait_for(is_type, &t_hb) != NULL);
	pthread_mutex_lock(&mu);
	char sid[128];
	snprintf(sid, sizeof(sid), "%s", stream_id);
	pthread_mutex_unlock(&mu);
	CHECK(sid[0] != '\0');

	/* ACCEPT: one task on the first offer */
	const Mesos__V1__Offer *of = o->offers->offers[0];
	call_t c = MESOS__V1__SCHEDULER__CALL__INIT;
	Mesos__V1__FrameworkID fw = MESOS__V1__FRAMEWORK_ID__INIT;
	Mesos__V1__Scheduler__Call__Accept acc = MESOS__V1__SCHEDULER__CALL__ACCEPT__INIT;
	Mesos__V1__OfferID *oidp = of->id;
	Mesos__V1__Offer__Operation op = MESOS__V1__OFFER__OPERATION__INIT, *opp = &op;
	Mesos__V1__Offer__Operation__Launch l = MESOS__V1__OFFER__OPERATION__LAUNCH__INIT;
	Mesos__V1__TaskInfo ti = MESOS__V1__TASK_INFO__INIT, *tip = &ti;
	Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
	Mesos__V1__Resource r[2], *rp[2] = {&r[0], &r[1]};
	Mesos__V1__Value__Scalar sc[2];
	for (int i = 0; i < 2; i++) {
		mesos__v1__resource__init(&r[i]);
		mesos__v1__value__scalar__init(&sc[i]);
		r[i].type = MESOS__V1__VALUE__TYPE__SCALAR;
		r[i].scalar = &sc[i];
	}
	r[0].name = "cpus";
	sc[0].value = 1;
	r[1].name = "mem";
	sc[1].value = 128;
	tid.value = "job-1-0-1";
	ti.name = "hello";
	ti.task_id = &tid;
	ti.agent_id = of->agent_id;
	ti.n_resources = 2;
	ti.resources = rp;
	l.n_task_infos = 1;
	l.task_infos = &tip;
	op.has_type = true;
	op.type = MESOS__V1__OFFER__OPERATION__TYPE__LAUNCH;
	op.launch = &l;
	acc.n_offer_ids = 1;
	acc.offer_ids = &oidp;
	acc.n_operations = 1;
	acc.operations = &opp;
	fw.value = fwid;
	c.framework_id = &fw;
	c.has_type = true;
	c.type = MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT;
	c.accept = &acc;
	size_t len;
	void *body = pack(&c.base, &len);
	CHECK(post(body, len, sid, "application/x-protobuf", text) == 202);
	/* the same call with a stale stream id: 400 with the reason, as a master */
	CHECK(post(body, len, "stale", "application/x-protobuf", text) == 400);
	CHECK(strstr(text, "stream ID") != NULL);
	/* no stream id: 400; no Content-Type: 400 */
	CHECK(post(body, len, NULL, "application/x-protobuf", text) == 400);
	CHECK(strstr(text, "Mesos-Stream-Id") != NULL);
	CHECK(post(body, len, sid, NULL, text) == 400);
	CHECK(strstr(text, "Content-Type") != NULL);
	/* protobuf bytes said to be JSON: 400 naming the problem; text: 415 */
	CHECK(post(body, len, sid, "application/json", text) == 400);
	CHECK(strstr(text, "invalid JSON") != NULL);
	CHECK(post(body, len, sid, "text/plain", text) == 415);
	free(body);
	CHECK(post("\xff\xff\xff", 3, sid, "application/x-protobuf", text) == 400);
	/* a JSON call (Mesos's rendering): DECLINE of the second offer */
	char js[512];
	snprintf(js, sizeof(js),
	         "{\"framework_id\":{\"value\":\"%s\"},\"type\":\"DECLINE\","
	         "\"decline\":{\"offer_ids\":[{\"value\":\"%s\"}],"
	         "\"filters\":{\"refuse_seconds\":60}}}",
	         fwid, o->offers->offers[1]->id->value);
	CHECK(post(js, strlen(js), sid, "application/json", text) == 202);
	/* a key naming no field is skipped, as a master's JSON parser does */
	snprintf(js, sizeof(js),
	         "{\"framework_id\":{\"value\":\"%s\"},\"type\":\"REVIVE\",\"newer\":1}", fwid);
	CHECK(post(js, strlen(js), sid, "application/json", text) == 202);
	CHECK(post("{\"type\":\"NOPE\"}", 15, sid, "application/json", text) == 400);
	CHECK(strstr(text, "NOPE") != NULL);

	/* STARTING first (a command executor's first update); RUNNING only
	 * once it is acknowledged */
	struct upd starting = {"job-1-0-1", MESOS__V1__TASK_STATE__TASK_STARTING};
	const event_t *u = wait_for(is_update, &starting);
	CHECK(u != NULL);
	CHECK(ack_event(u, &fw, sid) == 202);
	struct upd running = {"job-1-0-1", MESOS__V1__TASK_STATE__TASK_RUNNING};
	u = wait_for(is_update, &running);
	CHECK(u != NULL);
	/* ACKNOWLEDGE the RUNNING update */
	CHECK(ack_event(u, &fw, sid) == 202);
	struct upd finished = {"job-1-0-1", MESOS__V1__TASK_STATE__TASK_FINISHED};
	CHECK(wait_for(is_update, &finished) != NULL);
	struct sim_stats ss;
	sim_get_stats(sim, &ss);
	CHECK(ss.acks == 2 && ss.launched == 1 && ss.finished == 1);

	/* the operator API: GET_AGENTS as JSON, GET_TASKS as protobuf */
	const char *ga = "{\"type\":\"GET_AGENTS\"}";
	CHECK(post_to("/api/v1", ga, strlen(ga), NULL, "application/json", text) == 200);
	CHECK(strstr(text, "\"get_agents\"") != NULL && strstr(text, "host-00000") != NULL);
	Mesos__V1__Master__Call mc = MESOS__V1__MASTER__CALL__INIT;
	mc.has_type = true;
	mc.type = MESOS__V1__MASTER__CALL__TYPE__GET_TASKS;
	body = pack(&mc.base, &len);
	CHECK(post_to("/api/v1", body, len, NULL, "application/x-protobuf", text) == 200);
	free(body);
	mc.type = MESOS__V1__MASTER__CALL__TYPE__GET_FLAGS;
	body = pack(&mc.base, &len);
	CHECK(post_to("/api/v1", body, len, NULL, "application/x-protobuf", text) == 501);
	free(body);
	Mesos__V1__Master__Response *mr = (Mesos__V1__Master__Response *)sim_operator_check(sim);
	CHECK(mr->get_tasks && mr->get_tasks->n_completed_tasks == 1 &&
	      strcmp(mr->get_tasks->completed_tasks[0]->task_id->value, "job-1-0-1") == 0 &&
	      mr->get_tasks->completed_tasks[0]->state == MESOS__V1__TASK_STATE__TASK_FINISHED);
	protobuf_c_message_free_unpacked(&mr->base, NULL);

	/* an agent lost: its outstanding offer rescinded, FAILURE, its task UNREACHABLE */
	const Mesos__V1__Offer *of3 = o->offers->offers[3];
	tid.value = "job-1-1-1";
	ti.agent_id = of3->agent_id;
	oidp = of3->id;
	body = pack(&c.base, &len);
	CHECK(post(body, len, sid, "application/x-protobuf", text) == 202);
	free(body);
	struct upd start2 = {"job-1-1-1", MESOS__V1__TASK_STATE__TASK_STARTING};
	const event_t *s2 = wait_for(is_update, &start2);
	CHECK(s2 != NULL && ack_event(s2, &fw, sid) == 202);
	struct upd run2 = {"job-1-1-1", MESOS__V1__TASK_STATE__TASK_RUNNING};
	CHECK(wait_for(is_update, &run2) != NULL);
	char q[200];
	CHECK(fault("action=agent-down&agent=nope") == 400);
	snprintf(q, sizeof(q), "action=agent-down&agent=%s", of3->agent_id->value);
	CHECK(fault(q) == 200);
	int t_failure = MESOS__V1__SCHEDULER__EVENT__TYPE__FAILURE;
	CHECK(wait_for(is_type, &t_failure) != NULL);
	/* this subscriber is not partition-aware: LOST, not UNREACHABLE */
	struct upd lost = {"job-1-1-1", MESOS__V1__TASK_STATE__TASK_LOST};
	const event_t *ul = wait_for(is_update, &lost);
	CHECK(ul != NULL && !ul->update->status->has_uuid &&
	      ul->update->status->reason == MESOS__V1__TASK_STATUS__REASON__REASON_AGENT_REMOVED &&
	      ul->update->status->unreachable_time != NULL);
	/* agent 4's offer is outstanding: taking it down rescinds it */
	const Mesos__V1__Offer *of4 = o->offers->offers[4];
	int t_rescind = MESOS__V1__SCHEDULER__EVENT__TYPE__RESCIND;
	CHECK(fault("action=agent-down&agent=4") == 200);
	CHECK(wait_for(is_type, &t_rescind) != NULL);
	CHECK(wait_for(is_rescind, of4->id->value) != NULL);
	CHECK(fault("action=agent-up&agent=4") == 200);
	sim_get_stats(sim, &ss);
	CHECK(ss.agents_down == 2 && ss.unreachable == 1 && ss.rescinds >= 1);

	/* fault: the master drops the stream; the subscriber's response ends */
	CHECK(fault("action=drop-stream") == 200);
	pthread_join(sub, NULL);
	CHECK(stream_ended);

	/* 503 while no master leads, 307 to another while a standby */
	CHECK(fault("action=unavailable&secs=30") == 200);
	CHECK(post(js, strlen(js), sid, "application/json", text) == 503);
	CHECK(fault("action=redirect&to=127.0.0.1:1") == 200);
	CHECK(post(js, strlen(js), sid, "application/json", text) == 307);
	CHECK(strcmp(location, "//127.0.0.1:1/api/v1/scheduler") == 0);
	CHECK(fault("action=redirect&to=bad") == 400);
	CHECK(fault("action=unavailable&secs=-1") == 400);
	CHECK(fault("action=clear") == 200);
	/* the stream gone and no failover_timeout (0): the framework was removed */
	CHECK(post(js, strlen(js), sid, "application/json", text) == 400);
	CHECK(strstr(text, "Framework cannot be found") != NULL);

	/* a JSON event stream: SUBSCRIBED and OFFERS decode from JSON records */
	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < n_events; i++)
		protobuf_c_message_free_unpacked(&events[i]->base, NULL);
	n_events = 0;
	stream_ended = false;
	json_stream = true;
	pthread_mutex_unlock(&mu);
	pthread_create(&sub, NULL, subscriber, NULL);
	CHECK(wait_for(is_type, &t_sub) != NULL);
	const event_t *o2 = wait_for(is_type, &t_off);
	CHECK(o2 != NULL && o2->offers->n_offers >= 3);
	sim_http_drop_stream(h);
	pthread_join(sub, NULL);
	sim_http_stop(h);
	sim_destroy(sim);
	for (size_t i = 0; i < n_events; i++)
		protobuf_c_message_free_unpacked(&events[i]->base, NULL);
	curl_global_cleanup();
	printf("{\"check\":\"sim_http\",\"events\":%zu,\"result\":\"ok\"}\n", n_events);
	return 0;
}
