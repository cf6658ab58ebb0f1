/*
 * Placement engine: rounds on small hand-made clusters — grouping, pack,
 * ports handed to the launch, gang all-or-nothing with retries and the
 * hand-back to the resource manager, why-pending counts and rendering,
 * TASK-kind constraints across rounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <urcu.h>

#include "placement.h"
#include "resmgr.h"
#include "proto_codec.h"
#include "peloton/private/resmgr/resmgr.pb-c.h"

static uint64_t fake_now;
static uint64_t clock_fn(void *arg)
{
	(void)arg;
	return fake_now;
}

static struct respool_tree *pools;
static struct resmgr *rm;
static struct hostidx *idx;
static struct placement *pl;
static char leaf[40];

static void add_host(const char *name, double cpus, int ports)
{
	static int seq;
	char id[64];
	static const char *const attrs[] = {"rack=r1"};
	struct hostidx_range r = {31000, (uint32_t)(31000 + ports - 1)};
	snprintf(id, sizeof(id), "%s-offer-%d", name, seq++);
	struct hostidx_offer_in o = {.offer_id = id,
	                             .hostname = name,
	                             .agent_id = name,
	                             .res = {cpus, cpus * 1024, 10000, 0},
	                             .n_ranges = ports ? 1 : 0,
	                             .ranges = &r,
	                             .n_attrs = 1,
	                             .attrs = attrs};
	assert_int_equal(hostidx_add_offers(idx, &o, 1), 0);
}

static int setup(void **state)
{
	(void)state;
	struct respool_error e;
	struct respool_config c = {.name = "leaf"};
	c.res[RES_CPU] = (struct respool_res){0, 1000, 1};
	c.res[RES_MEMORY] = (struct respool_res){0, 1e9, 1};
	c.res_set[RES_CPU] = c.res_set[RES_MEMORY] = true;
	fake_now = 1;
	pools = respool_tree_create();
	assert_int_equal(respool_create(pools, &c, leaf, sizeof(leaf), &e), 0);
	struct resmgr_config rc = {.pools = pools, .now = clock_fn};
	rm = resmgr_create(&rc);
	idx = hostidx_create(NULL);
	struct placement_config pc = {.rm = resmgr_local_ops(rm),
	                              .hosts = hostmgr_index_ops(idx),
	                              .idx = idx,
	                              .dequeue_timeout_ns = 1,
	                              .max_rounds = 2,
	                              .backoff_ns = 10,
	                              .now = clock_fn};
	pl = placement_create(&pc);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	placement_destroy(pl);
	resmgr_destroy(rm);
	struct hostidx_capacity cap;
	hostidx_capacity(idx, &cap);
	assert_int_equal(cap.placing, 0); /* nothing left held */
	hostidx_destroy(idx);
	respool_tree_destroy(pools);
	return 0;
}

static const char *label_key = "job"; /* the key enqueue's label goes under */

/* Enqueues one gang of n tasks "<job>-<i>" of `cpus` each, with ports. */
static void enqueue(const char *job, int n, double cpus, uint32_t ports,
                    Peloton__Api__Task__Constraint *c, const char *label)
{
	struct resmgr_task_spec specs[16];
	char ids[16][32];
	void *payloads[16];
	Mesos__V1__Label l = MESOS__V1__LABEL__INIT, *lp = &l;
	Mesos__V1__Labels labels = MESOS__V1__LABELS__INIT;
	if (label) {
		l.key = (char *)label_key;
		l.value = (char *)label;
		labels.n_labels = 1;
		labels.labels = &lp;
	}
	for (int i = 0; i < n; i++) {
		Peloton__Private__Resmgr__Task t = PELOTON__PRIVATE__RESMGR__TASK__INIT;
		Peloton__Api__Task__ResourceConfig r = PELOTON__API__TASK__RESOURCE_CONFIG__INIT;
		Peloton__Api__Peloton__TaskID tid = PELOTON__API__PELOTON__TASK_ID__INIT;
		snprintf(ids[i], sizeof(ids[i]), "%s-%d", job, i);
		tid.value = ids[i];
		r.cpulimit = cpus;
		r.memlimitmb = cpus * 512;
		t.id = &tid;
		t.resource = &r;
		t.numports = ports;
		t.constraint = c;
		t.labels = label ? &labels : NULL;
		size_t len;
		payloads[i] = proto_pack_alloc(&t.base, &len);
		specs[i] = (struct resmgr_task_spec){.id = ids[i],
		                                     .job_id = job,
		                                     .res = {cpus, cpus * 512, 0, 0},
		                                     .preemptible = true,
		                                     .type = RM_TYPE_BATCH,
		                                     .payload = payloads[i],
		                                     .payload_len = len};
	}
	struct resmgr_gang_spec g = {specs, (size_t)n};
	enum resmgr_fail f;
	resmgr_enqueue_gangs(rm, leaf, &g, 1, &f);
	assert_int_equal(f, RM_OK);
	for (int i = 0; i < n; i++)
		free(payloads[i]);
	double cap[RES_N] = {1000, 1e9, 0, 0};
	resmgr_entitle(rm, cap);
}

static void test_pack_and_ports(void **state)
{
	(void)state;
	add_host("big", 16, 100);
	add_host("small", 4, 100);
	for (int i = 0; i < 3; i++) {
		char job[16];
		snprintf(job, sizeof(job), "j%d", i);
		enqueue(job, 1, 1, 2, NULL, NULL);
	}
	assert_int_equal(placement_round(pl), 3);
	struct resmgr_placement_out po[4];
	size_t n = resmgr_get_placements(rm, 4, 0, po);
	assert_int_equal(n, 1); /* grouped: one host took all three (pack: the smaller) */
	assert_string_equal(po[0].hostname, "small");
	assert_int_equal(po[0].n_tasks, 3);
	assert_int_equal(po[0].n_ports, 6);
	for (size_t i = 0; i < 6; i++)
		for (size_t k = i + 1; k < 6; k++)
			assert_true(po[0].ports[i] != po[0].ports[k]); /* never the same port */
	assert_int_equal(po[0].n_offer_ids, 1);
	resmgr_placement_free(&po[0]);
	/* the host's offer is spent: the index no longer offers it */
	assert_int_equal(hostidx_host_state(idx, "small"), HOSTIDX_READY);
	struct hostidx_capacity cap;
	hostidx_capacity(idx, &cap);
	assert_int_equal(cap.hosts_with_offers, 1);
}

static void test_gang_all_or_nothing(void **state)
{
	(void)state;
	struct placement_why w;
	char text[256];
	add_host("a", 4, 10);
	add_host("b", 4, 10);
	enqueue("gang", 3, 4, 0, NULL, NULL); /* needs 3 hosts of 4 cpus; 2 exist */
	assert_int_equal(placement_round(pl), 0);
	assert_int_equal(resmgr_task_state(rm, "gang-0"), TASK_PLACING); /* held for a retry */
	assert_int_equal(placement_why(pl, "gang-2", &w), 0);
	assert_int_equal(w.attempts, 1);
	assert_false(w.handed_back);
	placement_why_render(&w, text, sizeof(text));
	assert_non_null(strstr(text, "hosts"));
	/* both hosts are free again: nothing was half placed */
	assert_int_equal(hostidx_host_state(idx, "a"), HOSTIDX_READY);
	struct hostidx_capacity cap;
	hostidx_capacity(idx, &cap);
	assert_int_equal(cap.hosts_with_offers, 2);
	fake_now += 1000; /* past the backoff */
	assert_int_equal(placement_round(pl), 0);
	assert_int_equal(placement_why(pl, "gang-0", &w), 0);
	assert_int_equal(w.attempts, 2);
	assert_true(w.handed_back); /* max_rounds = 2 */
	assert_int_equal(resmgr_task_state(rm, "gang-0"), TASK_READY);
	/* a third host arrives: the gang places whole */
	add_host("c", 4, 10);
	assert_int_equal(placement_round(pl), 3);
	assert_int_equal(resmgr_task_state(rm, "gang-1"), TASK_PLACED);
	assert_int_equal(placement_why(pl, "gang-1", &w), -1); /* placed: forgotten */
}

static void test_task_constraint_across_rounds(void **state)
{
	(void)state;
	/* at most one task labelled job=web per host */
	Peloton__Api__Peloton__Label lab = PELOTON__API__PELOTON__LABEL__INIT;
	Peloton__Api__Task__LabelConstraint lc = PELOTON__API__TASK__LABEL_CONSTRAINT__INIT;
	Peloton__Api__Task__Constraint c = PELOTON__API__TASK__CONSTRAINT__INIT;
	lab.key = "job";
	lab.value = "web";
	lc.kind = PELOTON__API__TASK__LABEL_CONSTRAINT__KIND__TASK;
	lc.condition = PELOTON__API__TASK__LABEL_CONSTRAINT__CONDITION__CONDITION_LESS_THAN;
	lc.requirement = 1;
	lc.label = &lab;
	c.type = PELOTON__API__TASK__CONSTRAINT__TYPE__LABEL_CONSTRAINT;
	c.labelconstraint = &lc;
	add_host("h1", 16, 10);
	add_host("h2", 16, 10);
	enqueue("web0", 1, 1, 0, &c, "web");
	enqueue("web1", 1, 1, 0, &c, "web");
	assert_int_equal(placement_round(pl), 2); /* same round: two hosts */
	struct resmgr_placement_out po[4];
	assert_int_equal(resmgr_get_placements(rm, 4, 0, po), 2);
	assert_true(strcmp(po[0].hostname, po[1].hostname) != 0);
	resmgr_placement_free(&po[0]);
	resmgr_placement_free(&po[1]);
	/* the launches re-offer what is left; a third web task has no host */
	add_host("h1", 15, 10);
	add_host("h2", 15, 10);
	enqueue("web2", 1, 1, 0, &c, "web");
	assert_int_equal(placement_round(pl), 0);
	struct placement_why w;
	assert_int_equal(placement_why(pl, "web2-0", &w), 0);
	/* once web0 finishes, its host is free for the third */
	assert_int_equal(resmgr_notify(rm, "web0-0", TEV_LAUNCHED), RM_OK);
	assert_int_equal(resmgr_notify(rm, "web0-0", TEV_SUCCEEDED), RM_OK);
	fake_now += 1000;
	assert_int_equal(placement_round(pl), 1);
}

static void test_gangs_share_a_round(void **state)
{
	(void)state;
	add_host("a", 4, 10);
	add_host("b", 4, 10);
	add_host("c", 4, 10);
	enqueue("gx", 2, 4, 0, NULL, NULL); /* same shape: decided in one group */
	enqueue("gy", 2, 4, 0, NULL, NULL); /* only one host is left for it */
	assert_int_equal(placement_round(pl), 2);
	assert_int_equal(resmgr_task_state(rm, "gx-0"), TASK_PLACED);
	assert_int_equal(resmgr_task_state(rm, "gx-1"), TASK_PLACED);
	assert_int_equal(resmgr_task_state(rm, "gy-0"), TASK_PLACING); /* whole gang waits */
	assert_int_equal(resmgr_task_state(rm, "gy-1"), TASK_PLACING);
	/* the host gy half-used is released with its offer untouched */
	struct hostidx_capacity cap;
	hostidx_capacity(idx, &cap);
	assert_int_equal(cap.placing, 0);
	assert_int_equal(cap.hosts_with_offers, 1);
	struct resmgr_placement_out po[4];
	size_t n = resmgr_get_placements(rm, 4, 0, po);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(po[i].n_tasks, 1);
		assert_int_equal(strncmp(po[i].task_ids[0], "gx-", 3), 0);
		resmgr_placement_free(&po[i]);
	}
}

static void test_strategy_override(void **state)
{
	(void)state;
	add_host("s1", 8, 10);
	add_host("s2", 8, 10);
	add_host("s3", 8, 10);
	label_key = PLACEMENT_STRATEGY_LABEL;
	for (int i = 0; i < 3; i++) {
		char job[16];
		snprintf(job, sizeof(job), "sp%d", i);
		enqueue(job, 1, 1, 0, NULL, "spread");
	}
	label_key = "job";
	assert_int_equal(placement_round(pl), 3);
	struct resmgr_placement_out po[4];
	size_t n = resmgr_get_placements(rm, 4, 0, po);
	assert_int_equal(n, 3); /* the engine packs; these tasks asked to spread */
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(po[i].n_tasks, 1);
		for (size_t k = i + 1; k < n; k++)
			assert_true(strcmp(po[i].hostname, po[k].hostname) != 0);
	}
	for (size_t i = 0; i < n; i++)
		resmgr_placement_free(&po[i]);
}

/* A packed resmgr.Task of `cpus` and `ports` (explain's input). */
static void *task_bytes(double cpus, uint32_t ports, size_t *len)
{
	Peloton__Private__Resmgr__Task t = PELOTON__PRIVATE__RESMGR__TASK__INIT;
	Peloton__Api__Task__ResourceConfig r = PELOTON__API__TASK__RESOURCE_CONFIG__INIT;
	r.cpulimit = cpus;
	r.memlimitmb = cpus * 512;
	t.resource = &r;
	t.numports = ports;
	return proto_pack_alloc(&t.base, len);
}

/* The resource manager refuses a placement (its task was killed while
 * placing): what the engine kept for that host goes back through unspend. */
static struct resmgr_ops real_rm;
static char unspent[64];

static size_t kill_then_set(void *arg, const struct resmgr_placement *p, size_t n,
                            enum resmgr_fail *fail)
{
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < p[i].n_tasks; k++)
			resmgr_kill(rm, p[i].task_ids[k]);
	return real_rm.set_placements(arg, p, n, fail);
}

static uint32_t unspent_offers;

static void note_unspend(void *arg, const char *hostname, const char *agent_id,
                         const struct hostidx_offer_ids *ids)
{
	(void)arg;
	(void)agent_id;
	snprintf(unspent, sizeof(unspent), "%s", hostname);
	unspent_offers = ids ? ids->n : 0;
}

static void test_refused_placement_gives_back(void **state)
{
	(void)state;
	placement_destroy(pl);
	real_rm = resmgr_local_ops(rm);
	struct resmgr_ops wrapped = real_rm;
	wrapped.set_placements = kill_then_set;
	struct hostmgr_index_ops hosts = hostmgr_index_ops(idx);
	hosts.unspend = note_unspend;
	struct placement_config pc = {.rm = wrapped,
	                              .hosts = hosts,
	                              .idx = idx,
	                              .dequeue_timeout_ns = 1,
	                              .max_rounds = 2,
	                              .backoff_ns = 10,
	                              .now = clock_fn};
	pl = placement_create(&pc);
	add_host("only", 8, 10);
	unspent[0] = 0;
	enqueue("doomed", 1, 1, 0, NULL, NULL);
	assert_int_equal(placement_round(pl), 0); /* refused: nothing placed */
	assert_string_equal(unspent, "only");
	assert_int_equal(unspent_offers, 1); /* the offer it spent, to give back */
	struct resmgr_placement_out po[2];
	assert_int_equal(resmgr_get_placements(rm, 2, 0, po), 0);
}

static void test_explain_is_read_only(void **state)
{
	(void)state;
	struct placement_explain e;
	char err[128], text[256];
	size_t len;
	add_host("big", 16, 100);
	add_host("small", 4, 100);
	add_host("tiny", 1, 0);
	void *t = task_bytes(1, 2, &len);
	assert_int_equal(placement_explain(pl, t, len, 5, &e, err, sizeof(err)), 0);
	free(t);
	assert_int_equal(e.requested, 5);
	assert_int_equal(e.placed, 5);
	assert_int_equal(e.counts[HOSTMATCH_MATCH], 2); /* tiny has no ports */
	assert_int_equal(e.counts[HOSTMATCH_INSUFFICIENT_RESOURCES], 1);
	/* pack: the fullest host that fits first, then the next */
	for (int i = 0; i < 4; i++)
		assert_string_equal(e.slots[i].hostname, "small");
	assert_string_equal(e.slots[4].hostname, "big");
	for (int i = 0; i < 4; i++)
		for (int k = i + 1; k < 4; k++)
			for (int p = 0; p < 2; p++)
				for (int q = 0; q < 2; q++)
					assert_true(e.slots[i].ports[p] != e.slots[k].ports[q]);
	placement_explain_fini(&e);
	/* nothing was claimed or spent */
	struct hostidx_capacity cap;
	hostidx_capacity(idx, &cap);
	assert_int_equal(cap.placing, 0);
	assert_int_equal(cap.hosts_with_offers, 3);
	/* too big for any host: why, per host */
	t = task_bytes(32, 0, &len);
	assert_int_equal(placement_explain(pl, t, len, 2, &e, err, sizeof(err)), 0);
	free(t);
	assert_int_equal(e.placed, 0);
	struct placement_why w = {0};
	memcpy(w.counts, e.counts, sizeof(w.counts));
	placement_why_render(&w, text, sizeof(text));
	assert_non_null(strstr(text, "0/3 hosts: 3 insufficient resources"));
	placement_explain_fini(&e);
	/* bad input: an error, not a crash */
	assert_int_equal(placement_explain(pl, "\xff\xff", 2, 1, &e, err, sizeof(err)), -1);
	assert_int_equal(placement_explain(pl, NULL, 0, 0, &e, err, sizeof(err)), -1);
}

int main(void)
{
	rcu_register_thread();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_pack_and_ports, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gang_all_or_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_task_constraint_across_rounds, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gangs_share_a_round, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_strategy_override, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_explain_is_read_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused_placement_gives_back, setup, teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	rcu_unregister_thread();
	return rc;
}
