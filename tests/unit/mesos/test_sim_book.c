/*
 * The simulator's reservations and persistent volumes, driven by Calls
 * written as Mesos JSON: RESERVE + CREATE + LAUNCH in one ACCEPT; offers
 * with the reservation's free part and the volume once its task ended; a
 * relaunch on the volume; refusals as a master's (a framework of role *,
 * a wrong principal, more than offered or reserved, a duplicate or unknown
 * volume, a volume in use, two tasks on one volume) that change nothing;
 * the book through an agent's loss and return; DESTROY + UNRESERVE back to
 * nothing; GET_AGENTS' totals.
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

#include "pjson.h"
#include "proto_codec.h"
#include "sim.h"

typedef Mesos__V1__Scheduler__Event event_t;
typedef Mesos__V1__Scheduler__Call call_t;

static event_t *events[512];
static size_t n_events;
static struct sim *sim;
static char stream[64], fwid[64];

static void keep(void *arg, const uint8_t *ev, size_t len)
{
	(void)arg;
	if (ev == NULL)
		return;
	event_t *e = mesos__v1__scheduler__event__unpack(NULL, len, ev);
	assert_non_null(e);
	assert_true(n_events < 512);
	events[n_events++] = e;
}

static void clear(void)
{
	for (size_t i = 0; i < n_events; i++)
		mesos__v1__scheduler__event__free_unpacked(events[i], NULL);
	n_events = 0;
}

static void tick(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	sim_tick(sim, (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec);
}

/* The newest offer (all agents have one at most). */
static Mesos__V1__Offer *last_offer(void)
{
	for (size_t i = n_events; i-- > 0;)
		if (events[i]->offers && events[i]->offers->n_offers > 0)
			return events[i]->offers->offers[events[i]->offers->n_offers - 1];
	return NULL;
}

static Mesos__V1__TaskStatus *update_of(const char *id)
{
	for (size_t i = n_events; i-- > 0;)
		if (events[i]->update && strcmp(events[i]->update->status->task_id->value, id) == 0)
			return events[i]->update->status;
	return NULL;
}

/* Sum of an offer's resources named `name`: reserved ones (or volumes) or the rest. */
static double offered(const Mesos__V1__Offer *o, const char *name, bool reserved, bool volume)
{
	double v = 0;
	for (size_t i = 0; i < o->n_resources; i++) {
		const Mesos__V1__Resource *r = o->resources[i];
		bool is_res = r->reservation != NULL, is_vol = r->disk && r->disk->persistence;
		if (strcmp(r->name, name) == 0 && is_res == reserved && is_vol == volume &&
		    r->scalar)
			v += r->scalar->value;
	}
	return v;
}

static void subscribe(const char *role, const char *principal)
{
	char err[128], json[256];
	snprintf(json, sizeof(json),
	         "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"user\":\"root\","
	         "\"name\":\"t\",\"roles\":[\"%s\"],\"principal\":\"%s\"}}}",
	         role, principal);
	call_t *c = (call_t *)pjson_loads_flags(&mesos__v1__scheduler__call__descriptor, json,
	                                        strlen(json), PJSON_PROTO_NAMES, err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(
	    sim_subscribe(sim, c, keep, NULL, stream, sizeof(stream), err, sizeof(err)), 200);
	protobuf_c_message_free_unpacked(&c->base, NULL);
	snprintf(fwid, sizeof(fwid), "%s", events[0]->subscribed->framework_id->value);
	assert_non_null(last_offer());
}

/* A call from JSON with %F for the framework id and %O for the last offer's id. */
static int call(const char *tmpl)
{
	char json[8192], err[256];
	Mesos__V1__Offer *o = last_offer();
	size_t k = 0;
	for (const char *p = tmpl; *p && k < sizeof(json) - 128; p++) {
		if (p[0] == '%' && (p[1] == 'F' || p[1] == 'O')) {
			k += (size_t)snprintf(json + k, sizeof(json) - k, "%s",
			                      p[1] == 'F' ? fwid
			                      : o         ? o->id->value
			                                  : "none");
			p++;
		} else {
			json[k++] = *p;
		}
	}
	json[k] = '\0';
	call_t *c = (call_t *)pjson_loads_flags(&mesos__v1__scheduler__call__descriptor, json, k,
	                                        PJSON_PROTO_NAMES, err, sizeof(err));
	if (c == NULL)
		fail_msg("bad test JSON: %s: %s", err, json);
	int rc = sim_call(sim, stream, c, err, sizeof(err));
	protobuf_c_message_free_unpacked(&c->base, NULL);
	return rc;
}

static void ack(const char *id)
{
	Mesos__V1__TaskStatus *st = update_of(id);
	assert_non_null(st);
	char json[512], uuid[64] = "";
	/* bytes in proto3 JSON: base64 */
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const uint8_t *u = st->uuid.data;
	size_t k = 0;
	for (size_t i = 0; i < 16; i += 3) {
		uint32_t v = (uint32_t)u[i] << 16 | (i + 1 < 16 ? (uint32_t)u[i + 1] << 8 : 0) |
		             (i + 2 < 16 ? u[i + 2] : 0);
		uuid[k++] = b64[(v >> 18) & 63];
		uuid[k++] = b64[(v >> 12) & 63];
		uuid[k++] = i + 1 < 16 ? b64[(v >> 6) & 63] : '=';
		uuid[k++] = i + 2 < 16 ? b64[v & 63] : '=';
	}
	uuid[k] = '\0';
	snprintf(
	    json, sizeof(json),
	    "{\"type\":\"ACKNOWLEDGE\",\"framework_id\":{\"value\":\"%%F\"},\"acknowledge\":"
	    "{\"agent_id\":{\"value\":\"%s\"},\"task_id\":{\"value\":\"%s\"},\"uuid\":\"%s\"}}",
	    st->agent_id->value, id, uuid);
	assert_int_equal(call(json), 202);
}

#define RESV(name, v)                                                                    \
	"{\"name\":\"" name "\",\"type\":\"SCALAR\",\"scalar\":{\"value\":" #v "},"      \
	"\"role\":\"db\",\"reservation\":{\"principal\":\"pel\",\"labels\":{\"labels\":" \
	"[{\"key\":\"instance\",\"value\":\"j-0\"}]}}}"
#define VOL(id, mb)                                                                            \
	"{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":" #mb "},"               \
	"\"role\":\"db\",\"reservation\":{\"principal\":\"pel\",\"labels\":{\"labels\":"       \
	"[{\"key\":\"instance\",\"value\":\"j-0\"}]}},\"disk\":{\"persistence\":{\"id\":\"" id \
	"\"},\"volume\":{\"container_path\":\"data\",\"mode\":\"RW\"}}}"
#define ACCEPT(ops)                                                                           \
	"{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"%F\"},\"accept\":{\"offer_ids\":" \
	"[{\"value\":\"%O\"}],\"operations\":[" ops "],\"filters\":{\"refuse_seconds\":0}}}"
#define TASK(id, cpus, extra)                                                                     \
	"{\"name\":\"" id "\",\"task_id\":{\"value\":\"" id "\"},\"agent_id\":{\"value\":\""      \
	"AGENT\"},\"command\":{\"value\":\"sleep\"},\"resources\":[" RESV("cpus", cpus) "," RESV( \
	    "mem", 64) extra "]}"

static struct sim_stats stats(void)
{
	struct sim_stats st;
	sim_get_stats(sim, &st);
	return st;
}

/* A call with the agent id put in for AGENT. */
static int call_agent(const char *tmpl)
{
	char buf[8192];
	const char *agent = last_offer()->agent_id->value;
	const char *p = strstr(tmpl, "AGENT");
	assert_true(strlen(tmpl) + strlen(agent) < sizeof(buf));
	if (p == NULL)
		return call(tmpl);
	snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(p - tmpl), tmpl, agent, p + 5);
	return call(buf);
}

static void test_reserve_create_launch(void **state)
{
	(void)state;
	char logbuf[4096] = "";
	FILE *log = fmemopen(logbuf, sizeof(logbuf), "w");
	struct sim_config cfg = {.agents = 1,
	                         .cpus = 4,
	                         .mem_mb = 1024,
	                         .disk_mb = 1000,
	                         .task_secs = 3600,
	                         .no_starting = true,
	                         .launch_log = log};
	sim = sim_create(&cfg);

	/* a framework of role * cannot reserve: dropped, nothing changes */
	subscribe("*", "pel");
	assert_int_equal(call(ACCEPT("{\"type\":\"RESERVE\",\"reserve\":{\"resources\":[" RESV(
	                     "cpus", 1) "]}}")),
	                 202);
	assert_int_equal(stats().ops_refused, 1);
	sim_unsubscribe(sim, stream);
	clear();
	sim_destroy(sim);

	sim = sim_create(&cfg);
	subscribe("db", "pel");
	/* refusals first: each dropped, the offer's resources unchanged */
	assert_int_equal(call(ACCEPT("{\"type\":\"RESERVE\",\"reserve\":{\"resources\":[" RESV(
	                     "cpus", 9) "]}}")),
	                 202); /* more than offered */
	tick();
	assert_int_equal(
	    call(ACCEPT("{\"type\":\"CREATE\",\"create\":{\"volumes\":[" VOL("v1", 100) "]}}")),
	    202); /* no reservation */
	tick();
	assert_int_equal(stats().ops_refused, 2);
	assert_int_equal(stats().ops_applied, 0);
	Mesos__V1__Offer *o = last_offer();
	assert_true(offered(o, "cpus", false, false) == 4);
	assert_true(offered(o, "cpus", true, false) == 0);

	/* RESERVE + CREATE + LAUNCH in one ACCEPT (of the offer just checked) */
	assert_int_equal(
	    call_agent(ACCEPT(
	        "{\"type\":\"RESERVE\",\"reserve\":{\"resources\":[" RESV("cpus", 1) "," RESV(
	            "mem", 64) "," RESV("disk",
	                                300) "]}},"
	                                     "{\"type\":\"CREATE\",\"create\":{\"volumes\":"
	                                     "[" VOL("v1",
	                                             200) "]}},"
	                                                  "{\"type\":\"LAUNCH\",\"launch\":{\"task_"
	                                                  "infos\":[" TASK(
	                                                      "t1", 1, "," VOL("v1", 200)) "]}}")),
	    202);
	assert_int_equal(stats().ops_applied, 2);
	assert_int_equal(update_of("t1")->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
	ack("t1");
	tick();
	o = last_offer();
	/* the remainder: unreserved less the reservation; 100 MB of it free, no volume (in use) */
	assert_true(offered(o, "cpus", false, false) == 3);
	assert_true(offered(o, "disk", false, false) == 700);
	assert_true(offered(o, "disk", true, false) == 100);
	assert_true(offered(o, "disk", true, true) == 0);

	/* refusals while it runs: destroy in use, unreserve what the volume holds, a
	 * duplicate volume, a second task on the volume */
	assert_int_equal(
	    call(ACCEPT("{\"type\":\"DESTROY\",\"destroy\":{\"volumes\":[" VOL("v1", 200) "]}}")),
	    202);
	tick();
	assert_int_equal(call(ACCEPT("{\"type\":\"UNRESERVE\",\"unreserve\":{\"resources\":[" RESV(
	                     "disk", 300) "]}}")),
	                 202);
	tick();
	assert_int_equal(
	    call(ACCEPT("{\"type\":\"CREATE\",\"create\":{\"volumes\":[" VOL("v1", 50) "]}}")),
	    202);
	tick();
	assert_int_equal(stats().ops_refused, 5);
	assert_int_equal(call_agent(ACCEPT("{\"type\":\"LAUNCH\",\"launch\":{\"task_infos\":[" TASK(
	                     "t2", 0.1, "," VOL("v1", 200)) "]}}")),
	                 202);
	assert_int_equal(update_of("t2")->state, MESOS__V1__TASK_STATE__TASK_ERROR);
	assert_false(update_of("t2")->has_uuid); /* the master's own: nothing to acknowledge */

	/* the task ends: its volume is offered again with the reservation's free part */
	clear();
	assert_int_equal(call("{\"type\":\"KILL\",\"framework_id\":{\"value\":\"%F\"},\"kill\":"
	                      "{\"task_id\":{\"value\":\"t1\"}}}"),
	                 202);
	ack("t1");
	tick();
	o = last_offer();
	assert_non_null(o);
	assert_true(offered(o, "disk", true, true) == 200);
	assert_true(offered(o, "cpus", true, false) == 1);

	/* relaunch on the same volume */
	assert_int_equal(call_agent(ACCEPT("{\"type\":\"LAUNCH\",\"launch\":{\"task_infos\":[" TASK(
	                     "t3", 1, "," VOL("v1", 200)) "]}}")),
	                 202);
	assert_int_equal(update_of("t3")->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
	ack("t3");

	/* the agent lost and back: the book comes back with it, the volume free */
	char err[128];
	clear();
	assert_int_equal(sim_agent_down(sim, "0", err, sizeof(err)), 0);
	assert_int_equal(sim_agent_up(sim, "0", err, sizeof(err)), 0);
	tick();
	o = last_offer();
	assert_non_null(o);
	assert_true(offered(o, "disk", true, true) == 200);
	assert_true(offered(o, "cpus", false, false) == 3);

	/* DESTROY + UNRESERVE: nothing reserved is left */
	assert_int_equal(
	    call(ACCEPT("{\"type\":\"DESTROY\",\"destroy\":{\"volumes\":[" VOL(
	        "v1", 200) "]}},"
	                   "{\"type\":\"UNRESERVE\",\"unreserve\":{\"resources\":[" RESV(
	                       "cpus", 1) "," RESV("mem", 64) "," RESV("disk", 300) "]}}")),
	    202);
	clear();
	tick();
	o = last_offer();
	assert_true(offered(o, "cpus", false, false) == 4);
	assert_true(offered(o, "disk", false, false) == 1000);
	assert_true(offered(o, "disk", true, false) + offered(o, "disk", true, true) == 0);

	/* GET_AGENTS: the totals have no reservation left */
	Mesos__V1__Master__Call mc = MESOS__V1__MASTER__CALL__INIT;
	mc.has_type = true;
	mc.type = MESOS__V1__MASTER__CALL__TYPE__GET_AGENTS;
	char *out = NULL;
	size_t out_len = 0;
	assert_int_equal(sim_operator(sim, &mc, true, &out, &out_len, err, sizeof(err)), 200);
	assert_null(strstr(out, "reservation"));
	free(out);

	fclose(log);
	assert_non_null(strstr(logbuf, "t1 host="));
	assert_non_null(strstr(logbuf, "t3 host="));
	assert_non_null(strstr(logbuf, "volume=v1"));
	assert_null(strstr(logbuf, "t2"));
	clear();
	sim_destroy(sim);
}

/* GET_AGENTS lists a reservation and a volume while they exist. */
static void test_operator_lists_book(void **state)
{
	(void)state;
	struct sim_config cfg = {.agents = 1, .cpus = 4, .mem_mb = 1024, .disk_mb = 1000};
	sim = sim_create(&cfg);
	subscribe("db", "pel");
	assert_int_equal(call(ACCEPT("{\"type\":\"RESERVE\",\"reserve\":{\"resources\":[" RESV(
	                     "disk", 300) "]}},"
	                                  "{\"type\":\"CREATE\",\"create\":{\"volumes\":[" VOL(
	                                      "v9", 200) "]}}")),
	                 202);
	assert_int_equal(stats().ops_applied, 2);
	Mesos__V1__Master__Call mc = MESOS__V1__MASTER__CALL__INIT;
	mc.has_type = true;
	mc.type = MESOS__V1__MASTER__CALL__TYPE__GET_STATE;
	char *out = NULL, err[128];
	size_t out_len = 0;
	assert_int_equal(sim_operator(sim, &mc, true, &out, &out_len, err, sizeof(err)), 200);
	assert_non_null(strstr(out, "\"persistence\":{\"id\":\"v9\""));
	assert_non_null(strstr(out, "\"role\":\"db\""));
	free(out);
	clear();
	sim_destroy(sim);
}

#define RESV_B(name, v)                                                                  \
	"{\"name\":\"" name "\",\"type\":\"SCALAR\",\"scalar\":{\"value\":" #v "},"      \
	"\"role\":\"db\",\"reservation\":{\"principal\":\"pel\",\"labels\":{\"labels\":" \
	"[{\"key\":\"instance\",\"value\":\"j-1\"}]}}}"

/* Two reservations (by their labels); the second one unreserved alone. */
static void test_unreserve_among_several(void **state)
{
	(void)state;
	struct sim_config cfg = {.agents = 1, .cpus = 4, .mem_mb = 1024, .disk_mb = 1000};
	sim = sim_create(&cfg);
	subscribe("db", "pel");
	assert_int_equal(
	    call(ACCEPT("{\"type\":\"RESERVE\",\"reserve\":{\"resources\":[" RESV(
	        "cpus", 1) "]}},"
	                   "{\"type\":\"RESERVE\",\"reserve\":{\"resources\":[" RESV_B(
	                       "cpus",
	                       2) "]}},"
	                          "{\"type\":\"UNRESERVE\",\"unreserve\":{\"resources\":[" RESV_B(
	                              "cpus", 2) "]}}")),
	    202);
	assert_int_equal(stats().ops_applied, 3);
	tick();
	Mesos__V1__Offer *o = last_offer();
	assert_true(offered(o, "cpus", false, false) == 3);
	assert_true(offered(o, "cpus", true, false) == 1);
	clear();
	sim_destroy(sim);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reserve_create_launch),
	    cmocka_unit_test(test_operator_lists_book),
	    cmocka_unit_test(test_unreserve_among_several),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
