/* Legacy TaskQueue: FIFO order, limits, capacity, messages come back whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "taskqueuesvc.h"

static void test_fifo(void **state)
{
	(void)state;
	struct taskqueue *q = taskqueue_create(4); /* 4 slots */
	Peloton__Api__Task__TaskInfo t[5], *tp[5];
	for (int i = 0; i < 5; i++) {
		peloton__api__task__task_info__init(&t[i]);
		t[i].instanceid = (uint32_t)i + 1;
		tp[i] = &t[i];
	}
	Peloton__Private__Resmgr__Taskqueue__EnqueueRequest er =
	    PELOTON__PRIVATE__RESMGR__TASKQUEUE__ENQUEUE_REQUEST__INIT;
	er.n_tasks = 5;
	er.tasks = tp;
	size_t taken = 0;
	Peloton__Private__Resmgr__Taskqueue__EnqueueResponse *e = taskqueue_enqueue(q, &er, &taken);
	assert_non_null(e);
	assert_int_equal(taken, 4); /* bounded */
	protobuf_c_message_free_unpacked(&e->base, NULL);
	Peloton__Private__Resmgr__Taskqueue__DequeueRequest dr =
	    PELOTON__PRIVATE__RESMGR__TASKQUEUE__DEQUEUE_REQUEST__INIT;
	dr.limit = 2;
	Peloton__Private__Resmgr__Taskqueue__DequeueResponse *d = taskqueue_dequeue(q, &dr);
	assert_int_equal(d->n_tasks, 2);
	assert_int_equal(d->tasks[0]->instanceid, 1);
	assert_int_equal(d->tasks[1]->instanceid, 2);
	protobuf_c_message_free_unpacked(&d->base, NULL);
	taskqueue_destroy(q); /* frees the two left */
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_fifo)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
