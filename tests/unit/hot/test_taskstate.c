/*
 * Task state machine: names match task.proto, the happy path and every
 * timeout/kill/preempt row, invalid moves refused and counted, terminal
 * states final except for a new run, and two racing CASes never both win.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "taskstate.h"

static enum taskstate step(_Atomic uint32_t *w, enum taskevent e)
{
	return taskstate_cas(w, e, NULL);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(taskstate_name(TASK_LAUNCHED), "LAUNCHED");
	assert_int_equal(TASK_LAUNCHED, 15); /* task.proto numbers */
	assert_string_equal(taskstate_name(TASK_PREEMPTING), "PREEMPTING");
	assert_string_equal(taskstate_name((enum taskstate)99), "UNKNOWN");
	assert_string_equal(taskevent_name(TEV_PLACING_TIMEOUT), "placing-timeout");
	assert_true(taskstate_terminal(TASK_LOST));
	assert_false(taskstate_terminal(TASK_KILLING));
}

static void test_happy_path_and_timeouts(void **state)
{
	(void)state;
	_Atomic uint32_t w = TASK_INITIALIZED;
	static const struct {
		enum taskevent e;
		enum taskstate to;
	} path[] = {
	    {TEV_ENQUEUE, TASK_PENDING},    {TEV_ADMIT, TASK_READY},
	    {TEV_DEQUEUE, TASK_PLACING},    {TEV_PLACING_TIMEOUT, TASK_READY},
	    {TEV_DEQUEUE, TASK_PLACING},    {TEV_PLACE, TASK_PLACED},
	    {TEV_LAUNCH, TASK_LAUNCHING},   {TEV_LAUNCHING_TIMEOUT, TASK_PLACED},
	    {TEV_LAUNCH, TASK_LAUNCHING},   {TEV_LAUNCHED, TASK_LAUNCHED},
	    {TEV_STARTING, TASK_STARTING},  {TEV_RUNNING, TASK_RUNNING},
	    {TEV_PREEMPT, TASK_PREEMPTING}, {TEV_KILLED, TASK_KILLED},
	    {TEV_ENQUEUE, TASK_PENDING}, /* next run */
	};
	for (size_t i = 0; i < sizeof(path) / sizeof(path[0]); i++)
		assert_int_equal(step(&w, path[i].e), path[i].to);
}

static void test_invalid_refused(void **state)
{
	(void)state;
	_Atomic uint32_t w = TASK_PENDING;
	enum taskstate seen;
	uint64_t before = taskstate_refused(TEV_LAUNCH);
	assert_int_equal(taskstate_cas(&w, TEV_LAUNCH, &seen), TASK_UNKNOWN);
	assert_int_equal(seen, TASK_PENDING);
	assert_int_equal(w, TASK_PENDING); /* unchanged */
	assert_int_equal(taskstate_refused(TEV_LAUNCH), before + 1);
	w = TASK_SUCCEEDED;
	assert_int_equal(step(&w, TEV_RUNNING), TASK_UNKNOWN); /* terminal is final */
	assert_int_equal(step(&w, TEV_KILL), TASK_UNKNOWN);
	assert_int_equal(taskstate_next((enum taskstate)77, TEV_KILL), TASK_UNKNOWN);
	assert_int_equal(taskstate_next(TASK_RUNNING, (enum taskevent)77), TASK_UNKNOWN);
	/* kill before Mesos knows the task ends it; after, it goes through KILLING */
	w = TASK_PLACED;
	assert_int_equal(step(&w, TEV_KILL), TASK_KILLED);
	w = TASK_RUNNING;
	assert_int_equal(step(&w, TEV_KILL), TASK_KILLING);
	assert_int_equal(step(&w, TEV_KILLED), TASK_KILLED);
}

static _Atomic uint32_t race_word;
static _Atomic int wins;

static void *racer(void *arg)
{
	(void)arg;
	for (int i = 0; i < 100000; i++)
		if (taskstate_cas(&race_word, TEV_DEQUEUE, NULL) == TASK_PLACING)
			atomic_fetch_add(&wins, 1);
	return NULL;
}

static void test_race_one_winner(void **state)
{
	(void)state;
	for (int round = 0; round < 50; round++) {
		pthread_t t[2];
		race_word = TASK_READY;
		wins = 0;
		for (int i = 0; i < 2; i++)
			pthread_create(&t[i], NULL, racer, NULL);
		for (int i = 0; i < 2; i++)
			pthread_join(t[i], NULL);
		assert_int_equal(wins, 1);
		assert_int_equal(race_word, TASK_PLACING);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_happy_path_and_timeouts),
	    cmocka_unit_test(test_invalid_refused),
	    cmocka_unit_test(test_race_one_winner),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
