/*
 * Placement decision: pack vs spread on small hand-made clusters, ports from
 * several ranges never given twice, TASK-kind constraints counting tasks
 * placed earlier in the same round and those already on the host, the GPU
 * rule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "place.h"

static struct place_host host(double cpus, double mem)
{
	return (struct place_host){.free = {cpus, mem, 1000, 0}};
}

static void test_pack_fills_fullest_first(void **state)
{
	(void)state;
	struct place_host h[3] = {host(8, 8192), host(2, 2048), host(4, 4096)};
	struct place_shape s = {.res = {1, 1024, 0, 0}};
	uint32_t order[3];
	int32_t at[8];
	assert_int_equal(place_assign(&s, 5, h, 3, PLACE_PACK, order, at, NULL), 5);
	/* host 1 (2 cpus) takes 2, then host 2 (4 cpus) takes 3 */
	assert_int_equal(at[0], 1);
	assert_int_equal(at[1], 1);
	assert_int_equal(at[2], 2);
	assert_int_equal(at[4], 2);
	assert_true(h[0].free.cpus == 8); /* the big hole is kept */
	assert_true(h[1].free.cpus == 0);
}

static void test_spread_one_per_host_first(void **state)
{
	(void)state;
	struct place_host h[3] = {host(8, 8192), host(2, 2048), host(4, 4096)};
	struct place_shape s = {.res = {1, 1024, 0, 0}};
	uint32_t order[3];
	int32_t at[8];
	assert_int_equal(place_assign(&s, 4, h, 3, PLACE_SPREAD, order, at, NULL), 4);
	/* emptiest first, one per host per pass: 0, 2, 1, then 0 again */
	assert_int_equal(at[0], 0);
	assert_int_equal(at[1], 2);
	assert_int_equal(at[2], 1);
	assert_int_equal(at[3], 0);
}

static void test_ports_and_limits(void **state)
{
	(void)state;
	struct hostidx_range r[2] = {{31000, 31001}, {32000, 32002}};
	struct place_host h[1] = {host(8, 8192)};
	h[0].ranges = r;
	h[0].n_ranges = 2;
	struct place_shape s = {.res = {1, 1, 0, 0}, .num_ports = 2};
	uint32_t order[1], ports[16];
	int32_t at[4];
	/* 5 ports offered: two tasks of 2 ports fit, the third does not */
	assert_int_equal(place_assign(&s, 3, h, 1, PLACE_PACK, order, at, ports), 2);
	assert_int_equal(ports[0], 31000);
	assert_int_equal(ports[1], 31001);
	assert_int_equal(ports[2], 32000); /* crosses into the next range */
	assert_int_equal(ports[3], 32001);
	assert_int_equal(at[2], -1);
	/* the GPU rule: a GPU host takes no CPU-only task */
	struct place_host g = host(8, 8192);
	g.free.gpus = 2;
	struct place_shape cpu_only = {.res = {1, 1, 0, 0}};
	assert_false(place_fits(&cpu_only, &g));
	cpu_only.res.gpus = 1;
	assert_true(place_fits(&cpu_only, &g));
}

static uint32_t one_already(void *arg, const struct hostmatch_label *l)
{
	(void)arg;
	return strcmp(l->text, "job=web") == 0 ? 1 : 0;
}

static void test_task_constraint_within_round(void **state)
{
	(void)state;
	/* at most 1 task labelled job=web per host: TASK kind, LESS_THAN 1 */
	struct hostmatch_label web = {hostmatch_label_hash("job=web"), "job=web"};
	struct hostmatch_node c = {.kind = HOSTMATCH_NODE_LABEL,
	                           .host_kind = false,
	                           .condition = HOSTMATCH_LESS_THAN,
	                           .requirement = 1,
	                           .label = web};
	struct place_shape s = {
	    .res = {1, 1, 0, 0}, .constraint = &c, .labels = &web, .n_labels = 1};
	struct place_host h[3] = {host(8, 8192), host(8, 8192), host(8, 8192)};
	uint32_t order[3];
	int32_t at[4];
	h[2].task_count = one_already; /* host 2 already runs a web task */
	assert_int_equal(place_assign(&s, 4, h, 3, PLACE_PACK, order, at, NULL), 2);
	assert_true(at[0] != at[1]);
	assert_true(at[0] != 2 && at[1] != 2);
	assert_int_equal(at[2], -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pack_fills_fullest_first),
	    cmocka_unit_test(test_spread_one_per_host_first),
	    cmocka_unit_test(test_ports_and_limits),
	    cmocka_unit_test(test_task_constraint_within_round),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
