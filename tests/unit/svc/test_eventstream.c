/*
 * eventstream: offsets, purge offsets and the release hook — an update is
 * released (for a host manager to acknowledge it) only once every client
 * purged past it, exactly once, in order; a full stream refuses updates.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "eventstream.h"

struct released {
	char ids[64][32];
	size_t n;
};

static void on_release(void *arg, const Mesos__V1__TaskStatus *st)
{
	struct released *r = arg;
	if (r->n < 64)
		snprintf(r->ids[r->n++], sizeof(r->ids[0]), "%s", st->task_id->value);
}

static void publish(struct eventstream *es, const char *task, int64_t want)
{
	Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
	Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
	tid.value = (char *)task;
	st.task_id = &tid;
	st.state = MESOS__V1__TASK_STATE__TASK_RUNNING;
	assert_int_equal(eventstream_publish(es, &st), want);
}

/* WaitForEvents of `who` reading from `begin`, purging `purge`: events read. */
static size_t wait_purge(struct eventstream *es, const char *who, uint64_t begin, uint64_t purge)
{
	Peloton__Private__Eventstream__WaitForEventsRequest w =
	    PELOTON__PRIVATE__EVENTSTREAM__WAIT_FOR_EVENTS_REQUEST__INIT;
	w.streamid = (char *)eventstream_id(es);
	w.clientname = (char *)who;
	w.beginoffset = begin;
	w.purgeoffset = purge;
	w.limit = 100;
	Peloton__Private__Eventstream__WaitForEventsResponse *r = eventstream_wait(es, &w);
	assert_non_null(r);
	assert_null(r->error);
	size_t n = r->n_events;
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return n;
}

static void released_after_every_client_purged(void **state)
{
	(void)state;
	const char *clients[] = {"jobmgr", "other"};
	struct eventstream *es = eventstream_create(4, clients, 2);
	assert_non_null(es);
	struct released rel = {0};
	eventstream_set_release(es, on_release, &rel);
	publish(es, "t0", 0);
	publish(es, "t1", 1);
	publish(es, "t2", 2);
	assert_int_equal(wait_purge(es, "jobmgr", 0, 0), 3);
	assert_int_equal(wait_purge(es, "jobmgr", 3, 2), 0);
	assert_int_equal(rel.n, 0); /* "other" has purged nothing */
	assert_int_equal(wait_purge(es, "other", 1, 1), 2);
	assert_int_equal(rel.n, 1);
	assert_string_equal(rel.ids[0], "t0");
	assert_int_equal(wait_purge(es, "other", 3, 3), 0);
	assert_int_equal(rel.n, 2); /* "jobmgr" is at 2 */
	assert_string_equal(rel.ids[1], "t1");
	publish(es, "t3", 3);
	publish(es, "t4", 4);
	publish(es, "t5", 5);
	publish(es, "t6", -1); /* full: [2, 6) held */
	assert_int_equal(wait_purge(es, "jobmgr", 6, 6), 0);
	assert_int_equal(wait_purge(es, "other", 6, 6), 0);
	assert_int_equal(rel.n, 6);
	assert_string_equal(rel.ids[5], "t5");
	publish(es, "t6", 6);
	eventstream_destroy(es); /* t6 was never purged: not released */
	assert_int_equal(rel.n, 6);
}

static void purge_errors_change_nothing(void **state)
{
	(void)state;
	const char *clients[] = {"jobmgr"};
	struct eventstream *es = eventstream_create(8, clients, 1);
	struct released rel = {0};
	eventstream_set_release(es, on_release, &rel);
	publish(es, "t0", 0);
	Peloton__Private__Eventstream__WaitForEventsRequest w =
	    PELOTON__PRIVATE__EVENTSTREAM__WAIT_FOR_EVENTS_REQUEST__INIT;
	w.streamid = (char *)eventstream_id(es);
	w.clientname = "jobmgr";
	w.beginoffset = 0;
	w.purgeoffset = 1; /* past beginOffset */
	Peloton__Private__Eventstream__WaitForEventsResponse *r = eventstream_wait(es, &w);
	assert_non_null(r);
	assert_non_null(r->error);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	w.clientname = "stranger";
	w.purgeoffset = 0;
	r = eventstream_wait(es, &w);
	assert_non_null(r->error);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	assert_int_equal(rel.n, 0);
	assert_int_equal(wait_purge(es, "jobmgr", 1, 1), 0);
	assert_int_equal(rel.n, 1);
	eventstream_destroy(es);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(released_after_every_client_purged),
	    cmocka_unit_test(purge_errors_change_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
