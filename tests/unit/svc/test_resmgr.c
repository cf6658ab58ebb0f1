/*
 * Resource manager core: enqueue errors per gang, gang all-or-nothing
 * admission within entitlement, reservation for non-preemptible tasks,
 * PriorityFIFO order, the placement/launch/update path back to zero
 * allocation, timeouts on an injected clock, kills at every stage,
 * preemption choice, and a new run of a finished task.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <urcu.h>

#include "resmgr.h"

static uint64_t fake_now;
static uint64_t clock_fn(void *arg)
{
	(void)arg;
	return fake_now;
}

struct fixture {
	struct respool_tree *pools;
	struct resmgr *rm;
	char leaf[40], parent[40];
};

static struct fixture fx;

static int setup(void **state)
{
	(void)state;
	struct respool_error e;
	struct respool_config c = {.name = "batch"};
	c.res[RES_CPU] = (struct respool_res){4, 100, 1};
	c.res_set[RES_CPU] = true;
	fake_now = 1000;
	fx.pools = respool_tree_create();
	assert_int_equal(respool_create(fx.pools, &c, fx.parent, 40, &e), 0);
	c.name = "leaf";
	c.parent_id = fx.parent;
	assert_int_equal(respool_create(fx.pools, &c, fx.leaf, 40, &e), 0);
	struct resmgr_config rc = {.pools = fx.pools,
	                           .placing_timeout_ns = 100,
	                           .launching_timeout_ns = 200,
	                           .preempt_periods = 2,
	                           .now = clock_fn};
	fx.rm = resmgr_create(&rc);
	assert_non_null(fx.rm);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	resmgr_destroy(fx.rm);
	respool_tree_destroy(fx.pools);
	return 0;
}

static struct resmgr_task_spec task(const char *id, double cpu, uint32_t prio, bool preemptible)
{
	return (struct resmgr_task_spec){.id = id,
	                                 .job_id = "job",
	                                 .res = {cpu, 0, 0, 0},
	                                 .priority = prio,
	                                 .preemptible = preemptible,
	                                 .type = RM_TYPE_BATCH};
}

static void capacity(double cpu)
{
	double cap[RES_N] = {cpu, 0, 0, 0};
	resmgr_entitle(fx.rm, cap);
}

static enum resmgr_fail enqueue(const struct resmgr_task_spec *t, size_t n)
{
	struct resmgr_gang_spec g = {t, n};
	enum resmgr_fail f;
	resmgr_enqueue_gangs(fx.rm, fx.leaf, &g, 1, &f);
	return f;
}

static double alloc(void)
{
	struct respool_usage u;
	assert_int_equal(respool_usage(fx.pools, fx.leaf, &u), 0);
	return u.allocation[RES_CPU];
}

static void test_enqueue_errors(void **state)
{
	(void)state;
	struct resmgr_task_spec t[2] = {task("j-0", 1, 0, true), task("j-0", 1, 0, true)};
	struct resmgr_gang_spec g = {t, 1};
	enum resmgr_fail f;
	assert_int_equal(resmgr_enqueue_gangs(fx.rm, "nope", &g, 1, &f), 0);
	assert_int_equal(f, RM_POOL_NOT_FOUND);
	assert_int_equal(resmgr_enqueue_gangs(fx.rm, fx.parent, &g, 1, &f), 0);
	assert_int_equal(f, RM_POOL_NOT_LEAF);
	assert_int_equal(enqueue(t, 2), RM_ALREADY_EXISTS); /* duplicate inside the gang */
	assert_int_equal(resmgr_task_state(fx.rm, "j-0"), TASK_UNKNOWN); /* nothing kept */
	t[1] = task("j-1", NAN, 0, true);
	t[1].id = "j-1";
	assert_int_equal(enqueue(t, 2), RM_INVALID_TASK);
	assert_int_equal(enqueue(t, 1), RM_OK);
	assert_int_equal(resmgr_task_state(fx.rm, "j-0"), TASK_PENDING);
	assert_int_equal(enqueue(t, 1), RM_ALREADY_EXISTS); /* known and not finished */
	assert_string_equal(resmgr_fail_name(RM_POOL_NOT_LEAF), "resource pool is not a leaf");
}

static void test_gang_all_or_nothing(void **state)
{
	(void)state;
	struct resmgr_task_spec t[3] = {task("g-0", 2, 0, true), task("g-1", 2, 0, true),
	                                task("g-2", 2, 0, true)};
	assert_int_equal(enqueue(t, 3), RM_OK);
	capacity(5); /* 3 x 2 = 6 > 5: the gang waits whole */
	assert_int_equal(resmgr_task_state(fx.rm, "g-0"), TASK_PENDING);
	assert_int_equal(resmgr_task_state(fx.rm, "g-2"), TASK_PENDING);
	assert_true(fabs(alloc()) < 1e-9);
	assert_int_equal(resmgr_entitle(fx.rm, (double[RES_N]){6, 0, 0, 0}), 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(resmgr_task_state(fx.rm, t[i].id), TASK_READY);
	assert_true(fabs(alloc() - 6) < 1e-9);
	struct resmgr_gang_out out[4];
	assert_int_equal(resmgr_dequeue_gangs(fx.rm, RM_TYPE_BATCH, 4, 0, out), 1);
	assert_int_equal(out[0].n_tasks, 3);
	assert_int_equal(resmgr_task_state(fx.rm, "g-1"), TASK_PLACING);
	resmgr_gang_free(&out[0]);
	for (int i = 0; i < 3; i++)
		assert_int_equal(resmgr_kill(fx.rm, t[i].id), RM_OK);
	assert_true(fabs(alloc()) < 1e-9);
}

static void test_reservation_for_non_preemptible(void **state)
{
	(void)state;
	struct resmgr_task_spec np = task("np-0", 5, 0, false), pre = task("p-0", 5, 0, true);
	assert_int_equal(enqueue(&np, 1), RM_OK);
	capacity(100); /* entitled, but 5 > reservation 4 for a non-preemptible task */
	assert_int_equal(resmgr_task_state(fx.rm, "np-0"), TASK_PENDING);
	assert_int_equal(resmgr_kill(fx.rm, "np-0"), RM_OK);
	assert_int_equal(enqueue(&pre, 1), RM_OK);
	capacity(100);
	assert_int_equal(resmgr_task_state(fx.rm, "p-0"), TASK_READY);
}

static void test_priority_fifo(void **state)
{
	(void)state;
	struct resmgr_task_spec a = task("a", 1, 1, true), b = task("b", 1, 5, true),
	                        c = task("c", 1, 1, true);
	assert_int_equal(enqueue(&a, 1), RM_OK);
	assert_int_equal(enqueue(&b, 1), RM_OK);
	assert_int_equal(enqueue(&c, 1), RM_OK);
	capacity(2); /* room for two: b (priority 5), then a (first of priority 1) */
	assert_int_equal(resmgr_task_state(fx.rm, "b"), TASK_READY);
	assert_int_equal(resmgr_task_state(fx.rm, "a"), TASK_READY);
	assert_int_equal(resmgr_task_state(fx.rm, "c"), TASK_PENDING);
	struct resmgr_gang_out out[4];
	assert_int_equal(resmgr_dequeue_gangs(fx.rm, RM_TYPE_UNKNOWN, 4, 0, out), 2);
	assert_string_equal(out[0].task_ids[0], "b");
	assert_string_equal(out[1].task_ids[0], "a");
	resmgr_gang_free(&out[0]);
	resmgr_gang_free(&out[1]);
}

static void place(const char *id, const char *host)
{
	const char *ids[1] = {id};
	uint32_t ports[1] = {31000};
	struct resmgr_placement p = {host, "agent-1", ids, 1, ports, 1, NULL, 0};
	enum resmgr_fail f;
	assert_int_equal(resmgr_set_placements(fx.rm, &p, 1, &f), 1);
	assert_int_equal(f, RM_OK);
}

static void test_full_path_and_updates(void **state)
{
	(void)state;
	struct resmgr_task_spec t = task("run-0", 2, 0, true);
	struct resmgr_gang_out g;
	struct resmgr_placement_out po;
	enum resmgr_fail f;
	assert_int_equal(enqueue(&t, 1), RM_OK);
	capacity(10);
	assert_int_equal(resmgr_dequeue_gangs(fx.rm, RM_TYPE_BATCH, 1, 0, &g), 1);
	resmgr_gang_free(&g);

	const char *bad_ids[1] = {"nope"};
	struct resmgr_placement bad = {"h", "a", bad_ids, 1, NULL, 0, NULL, 0};
	assert_int_equal(resmgr_set_placements(fx.rm, &bad, 1, &f), 0);
	assert_int_equal(f, RM_NOT_FOUND);
	place("run-0", "host-1");
	assert_int_equal(resmgr_task_state(fx.rm, "run-0"), TASK_PLACED);
	const char *ids[1] = {"run-0"};
	struct resmgr_placement again = {"h", "a", ids, 1, NULL, 0, NULL, 0};
	assert_int_equal(resmgr_set_placements(fx.rm, &again, 1, &f), 0);
	assert_int_equal(f, RM_INVALID_STATE); /* not PLACING anymore */

	assert_int_equal(resmgr_get_placements(fx.rm, 4, 0, &po), 1);
	assert_string_equal(po.hostname, "host-1");
	assert_int_equal(po.n_ports, 1);
	assert_int_equal(po.ports[0], 31000);
	assert_string_equal(po.task_ids[0], "run-0");
	resmgr_placement_free(&po);
	assert_int_equal(resmgr_task_state(fx.rm, "run-0"), TASK_LAUNCHING);
	assert_int_equal(resmgr_notify(fx.rm, "run-0", TEV_LAUNCHED), RM_OK);
	assert_int_equal(resmgr_notify(fx.rm, "run-0", TEV_RUNNING), RM_OK);
	assert_int_equal(resmgr_notify(fx.rm, "run-0", TEV_RUNNING), RM_INVALID_STATE);
	assert_true(fabs(alloc() - 2) < 1e-9);
	assert_int_equal(resmgr_notify(fx.rm, "run-0", TEV_SUCCEEDED), RM_OK);
	assert_true(fabs(alloc()) < 1e-9);
	assert_int_equal(resmgr_notify(fx.rm, "run-0", TEV_FAILED), RM_INVALID_STATE);
	assert_int_equal(resmgr_notify(fx.rm, "ghost", TEV_RUNNING), RM_NOT_FOUND);
	/* the next run of the same task */
	assert_int_equal(enqueue(&t, 1), RM_OK);
	assert_int_equal(resmgr_task_state(fx.rm, "run-0"), TASK_PENDING);
}

static void test_timeouts(void **state)
{
	(void)state;
	struct resmgr_task_spec t = task("to-0", 1, 0, true);
	struct resmgr_gang_out g;
	struct resmgr_placement_out po;
	assert_int_equal(enqueue(&t, 1), RM_OK);
	capacity(10);
	assert_int_equal(resmgr_dequeue_gangs(fx.rm, RM_TYPE_BATCH, 1, 0, &g), 1);
	resmgr_gang_free(&g);
	fake_now += 50;
	assert_int_equal(resmgr_tick(fx.rm), 0); /* not yet */
	fake_now += 100;
	assert_int_equal(resmgr_tick(fx.rm), 1);
	assert_int_equal(resmgr_task_state(fx.rm, "to-0"), TASK_READY);
	assert_int_equal(resmgr_dequeue_gangs(fx.rm, RM_TYPE_BATCH, 1, 0, &g), 1); /* re-queued */
	resmgr_gang_free(&g);
	place("to-0", "host-2");
	assert_int_equal(resmgr_get_placements(fx.rm, 1, 0, &po), 1);
	resmgr_placement_free(&po);
	fake_now += 300;
	assert_int_equal(resmgr_tick(fx.rm), 1);
	assert_int_equal(resmgr_task_state(fx.rm, "to-0"), TASK_PLACED);
	assert_int_equal(resmgr_get_placements(fx.rm, 1, 0, &po), 1); /* re-queued */
	assert_string_equal(po.hostname, "host-2");
	resmgr_placement_free(&po);
	/* the launcher took it (LAUNCHING) and restarted before its intent was
	 * durable: its enqueue again re-queues the placement at once */
	assert_int_equal(resmgr_task_state(fx.rm, "to-0"), TASK_LAUNCHING);
	assert_int_equal(enqueue(&t, 1), RM_ALREADY_EXISTS);
	assert_int_equal(resmgr_task_state(fx.rm, "to-0"), TASK_PLACED);
	assert_int_equal(resmgr_get_placements(fx.rm, 1, 0, &po), 1);
	assert_string_equal(po.hostname, "host-2");
	resmgr_placement_free(&po);
}

static void test_kills(void **state)
{
	(void)state;
	struct resmgr_task_spec p = task("k-pending", 1, 0, true), q = task("k-placed", 1, 0, true);
	struct resmgr_gang_out g;
	struct resmgr_placement_out po;
	assert_int_equal(enqueue(&p, 1), RM_OK);
	assert_int_equal(resmgr_kill(fx.rm, "k-pending"), RM_OK);
	assert_int_equal(resmgr_task_state(fx.rm, "k-pending"), TASK_KILLED);
	assert_int_equal(resmgr_kill(fx.rm, "k-pending"), RM_INVALID_STATE);
	assert_int_equal(enqueue(&q, 1), RM_OK);
	capacity(10); /* the killed gang is dropped, the live one admitted */
	assert_int_equal(resmgr_dequeue_gangs(fx.rm, RM_TYPE_BATCH, 4, 0, &g), 1);
	assert_string_equal(g.task_ids[0], "k-placed");
	resmgr_gang_free(&g);
	place("k-placed", "h");
	assert_int_equal(resmgr_kill(fx.rm, "k-placed"), RM_OK);
	assert_int_equal(resmgr_get_placements(fx.rm, 4, 0, &po), 0); /* dropped, not launched */
	assert_true(fabs(alloc()) < 1e-9);
	/* killed while READY: the dequeue drops the gang and frees what it built for it */
	struct resmgr_task_spec r = task("k-ready", 1, 0, true);
	assert_int_equal(enqueue(&r, 1), RM_OK);
	capacity(10);
	assert_int_equal(resmgr_task_state(fx.rm, "k-ready"), TASK_READY);
	assert_int_equal(resmgr_kill(fx.rm, "k-ready"), RM_OK);
	assert_int_equal(resmgr_dequeue_gangs(fx.rm, RM_TYPE_BATCH, 4, 0, &g), 0);
}

static void run_task(const char *id, uint32_t prio)
{
	struct resmgr_task_spec t = task(id, 2, prio, true);
	struct resmgr_gang_out g;
	struct resmgr_placement_out po;
	assert_int_equal(enqueue(&t, 1), RM_OK);
	capacity(100);
	assert_int_equal(resmgr_dequeue_gangs(fx.rm, RM_TYPE_BATCH, 1, 0, &g), 1);
	resmgr_gang_free(&g);
	place(id, "h");
	assert_int_equal(resmgr_get_placements(fx.rm, 1, 0, &po), 1);
	resmgr_placement_free(&po);
	assert_int_equal(resmgr_notify(fx.rm, id, TEV_LAUNCHED), RM_OK);
	fake_now += 10;
	assert_int_equal(resmgr_notify(fx.rm, id, TEV_RUNNING), RM_OK);
}

/* Each kind waits in a queue of its own: a non-preemptible gang past the reservation
 * keeps a later preemptible one waiting no more. */
static void test_kinds_do_not_block_each_other(void **state)
{
	(void)state;
	struct resmgr_task_spec big = task("np-big", 50, 0, false),
	                        small = task("p-small", 1, 0, true);
	assert_int_equal(enqueue(&big, 1), RM_OK);
	assert_int_equal(enqueue(&small, 1), RM_OK);
	capacity(100); /* entitlement room for both; reservation 4 cpus */
	assert_int_equal(resmgr_task_state(fx.rm, "np-big"), TASK_PENDING);
	assert_int_equal(resmgr_task_state(fx.rm, "p-small"), TASK_READY);
}

/* A stateful task's charge outlives its runs: admitted again on it, released by a kill. */
static void test_stateful_charge_held(void **state)
{
	(void)state;
	struct resmgr_task_spec t = task("sf-0", 2, 0, false);
	t.type = RM_TYPE_STATEFUL;
	struct resmgr_gang_out g;
	struct resmgr_placement_out po;
	for (int run = 0; run < 2; run++) {
		assert_int_equal(enqueue(&t, 1), RM_OK);
		capacity(100);
		assert_true(fabs(alloc() - 2) < 1e-9); /* once, not once per run */
		assert_int_equal(resmgr_dequeue_gangs(fx.rm, RM_TYPE_STATEFUL, 1, 0, &g), 1);
		resmgr_gang_free(&g);
		place("sf-0", "h");
		assert_int_equal(resmgr_get_placements(fx.rm, 1, 0, &po), 1);
		resmgr_placement_free(&po);
		assert_int_equal(resmgr_notify(fx.rm, "sf-0", TEV_LAUNCHED), RM_OK);
		assert_int_equal(resmgr_notify(fx.rm, "sf-0", TEV_RUNNING), RM_OK);
		assert_int_equal(resmgr_notify(fx.rm, "sf-0", run ? TEV_LOST : TEV_FAILED), RM_OK);
		assert_true(fabs(alloc() - 2) < 1e-9); /* ended: its reservation stays */
		for (int k = 0; k < 64; k++)           /* the debug check of the pools' sums */
			resmgr_tick(fx.rm);
	}
	t.res[RES_CPU] = 3; /* a run asking more: the held charge follows */
	assert_int_equal(enqueue(&t, 1), RM_OK);
	assert_true(fabs(alloc() - 3) < 1e-9);
	assert_int_equal(resmgr_kill(fx.rm, "sf-0"), RM_OK); /* killed while PENDING */
	for (int k = 0; k < 64; k++)
		resmgr_tick(fx.rm);
	assert_true(fabs(alloc() - 3) < 1e-9);
	assert_int_equal(resmgr_kill(fx.rm, "sf-0"), RM_OK); /* the volume deleted */
	assert_true(fabs(alloc()) < 1e-9);
	assert_int_equal(resmgr_kill(fx.rm, "sf-0"), RM_INVALID_STATE);
}

static void test_preemption(void **state)
{
	(void)state;
	char *ids[8];
	run_task("hi", 9);
	run_task("lo-old", 1);
	run_task("lo-new", 1);
	assert_true(fabs(alloc() - 6) < 1e-9);
	double cap[RES_N] = {3, 0, 0, 0}; /* the cluster shrinks: 6 allocated, 3 entitled */
	respool_entitle(fx.pools, cap);
	assert_int_equal(resmgr_preempt_tick(fx.rm), 0); /* 1st over-entitled period */
	assert_int_equal(resmgr_preempt_tick(fx.rm), 2); /* 2nd: cover 3 cpus = 2 tasks */
	assert_int_equal(resmgr_get_preemptible(fx.rm, ids, 8), 2);
	assert_string_equal(ids[0], "lo-new"); /* lowest priority, newest first */
	assert_string_equal(ids[1], "lo-old");
	free(ids[0]);
	free(ids[1]);
	assert_int_equal(resmgr_task_state(fx.rm, "hi"), TASK_RUNNING);
	assert_int_equal(resmgr_task_state(fx.rm, "lo-new"), TASK_PREEMPTING);
	assert_int_equal(resmgr_notify(fx.rm, "lo-new", TEV_KILLED), RM_OK);
	assert_true(fabs(alloc() - 4) < 1e-9);
}

static void fixed_capacity(void *arg, double out[RES_N])
{
	(void)arg;
	out[RES_CPU] = 10;
	out[RES_MEMORY] = out[RES_DISK] = out[RES_GPU] = 0;
}

/* The driver admits on its own (waits for the state, no timing assertion). */
static void test_driver(void **state)
{
	(void)state;
	struct resmgr_task_spec t = task("drv-0", 1, 0, true);
	struct resmgr_driver_config dc = {.admit_ms = 1, .capacity = fixed_capacity};
	assert_int_equal(resmgr_start(fx.rm, &dc), 0);
	assert_int_equal(resmgr_start(fx.rm, &dc), -1); /* one driver */
	assert_int_equal(enqueue(&t, 1), RM_OK);
	struct resmgr_gang_out g;
	/* blocks until the driver admitted the task (the test's TIMEOUT bounds it) */
	while (resmgr_dequeue_gangs(fx.rm, RM_TYPE_BATCH, 1, 100000000, &g) == 0)
		;
	assert_string_equal(g.task_ids[0], "drv-0");
	resmgr_gang_free(&g);
	resmgr_stop(fx.rm);
	resmgr_stop(fx.rm); /* idempotent */
}

int main(void)
{
	rcu_register_thread();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_enqueue_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gang_all_or_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reservation_for_non_preemptible, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_priority_fifo, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_full_path_and_updates, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeouts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kills, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kinds_do_not_block_each_other, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stateful_charge_held, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_preemption, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_driver, setup, teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	rcu_unregister_thread();
	return rc;
}
