/*
 * Host index and matcher: every filter rule, every HostFilterResult, the GPU
 * rule, AND/OR trees, leases (expiry, double release, release of a host not
 * held), rescind and removal while PLACING, consume, pack/spread order,
 * invalid input. Each test ends with the index consistent and nothing held.
 */
#include <errno.h>
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

#include "hostidx.h"

#define SEC 1000000000ull

static const char *const default_attrs[] = {"rack=r1", "zone=z1"};

static void add_host(struct hostidx *idx, const char *name, double cpus, double mem, double gpus,
                     uint32_t ports)
{
	char id[128];
	struct hostidx_range r = {31000, 31000 + ports - 1};
	snprintf(id, sizeof(id), "%s-o%d", name, rand());
	struct hostidx_offer_in o = {
	    .offer_id = id,
	    .hostname = name,
	    .agent_id = "agent",
	    .res = {cpus, mem, 1000, gpus},
	    .n_ranges = ports ? 1 : 0,
	    .ranges = &r,
	    .n_attrs = 2,
	    .attrs = default_attrs,
	};
	assert_int_equal(hostidx_add_offers(idx, &o, 1), 0);
}

static struct hostmatch_filter filter(double cpus, double mem)
{
	return (struct hostmatch_filter){.min = {cpus, mem, 0, 0}};
}

static struct hostidx_acquire_out out_of(struct hostidx_lease *l, uint32_t cap)
{
	return (struct hostidx_acquire_out){.leases = l, .cap = cap};
}

static int acquire(struct hostidx *idx, const struct hostmatch_filter *f, uint32_t max,
                   struct hostidx_acquire_out *o)
{
	const char *why = NULL;
	return hostidx_acquire(idx, f, max, HOSTIDX_PACK, 0, o, &why);
}

static void finish(struct hostidx *idx)
{
	struct hostidx_capacity cap;
	assert_true(hostidx_check(idx));
	hostidx_capacity(idx, &cap);
	assert_int_equal(cap.placing, 0);
	hostidx_destroy(idx);
}

static void test_resources_and_results(void **state)
{
	(void)state;
	struct hostidx *idx = hostidx_create(NULL);
	struct hostidx_lease l[8];
	add_host(idx, "small", 2, 4096, 0, 10);
	add_host(idx, "big", 32, 131072, 0, 100);

	struct hostmatch_filter f = filter(4, 8192);
	struct hostidx_acquire_out o = out_of(l, 8);
	assert_int_equal(acquire(idx, &f, 1, &o), 0);
	assert_int_equal(o.n, 1);
	assert_string_equal(hostidx_lease_hostname(&l[0]), "big");
	assert_int_equal(o.counts[HOSTMATCH_MATCH], 1);
	assert_int_equal(hostidx_host_state(idx, "big"), HOSTIDX_PLACING);

	/* big is held: nothing else fits -> status + insufficient counted */
	struct hostidx_acquire_out o2 = out_of(l + 1, 7);
	assert_int_equal(acquire(idx, &f, 1, &o2), 0);
	assert_int_equal(o2.n, 0);
	assert_int_equal(o2.counts[HOSTMATCH_MISMATCH_STATUS], 1);
	assert_int_equal(o2.counts[HOSTMATCH_INSUFFICIENT_RESOURCES], 1);
	assert_true(hostidx_release(idx, &l[0]));

	/* every resource kind and ports on its own */
	struct hostmatch_filter fs[] = {
	    {.min = {64, 0, 0, 0}},
	    {.min = {0, 262144, 0, 0}},
	    {.min = {0, 0, 5000, 0}},
	    {.min = {0, 0, 0, 0}, .num_ports = 101},
	};
	for (size_t i = 0; i < 4; i++) {
		struct hostidx_acquire_out oi = out_of(l, 8);
		assert_int_equal(acquire(idx, &fs[i], 0, &oi), 0);
		assert_int_equal(oi.n, 0);
		assert_int_equal(oi.counts[HOSTMATCH_INSUFFICIENT_RESOURCES], 2);
	}
	/* exactly enough ports fits */
	struct hostmatch_filter fp = {.num_ports = 100};
	struct hostidx_acquire_out op = out_of(l, 8);
	assert_int_equal(acquire(idx, &fp, 0, &op), 0);
	assert_int_equal(op.n, 1);
	hostidx_release(idx, &l[0]);
	finish(idx);
}

static void test_gpu_rule(void **state)
{
	(void)state;
	struct hostidx *idx = hostidx_create(NULL);
	struct hostidx_lease l[4];
	add_host(idx, "gpu", 8, 16384, 4, 0);
	add_host(idx, "cpu", 8, 16384, 0, 0);

	struct hostmatch_filter f = filter(1, 1);
	struct hostidx_acquire_out o = out_of(l, 4);
	assert_int_equal(acquire(idx, &f, 0, &o), 0);
	assert_int_equal(o.n, 1);
	assert_string_equal(hostidx_lease_hostname(&l[0]), "cpu");
	assert_int_equal(o.counts[HOSTMATCH_MISMATCH_GPU], 1);
	hostidx_release(idx, &l[0]);

	f.min.gpus = 2;
	o = out_of(l, 4);
	assert_int_equal(acquire(idx, &f, 0, &o), 0);
	assert_int_equal(o.n, 1);
	assert_string_equal(hostidx_lease_hostname(&l[0]), "gpu");
	hostidx_release(idx, &l[0]);

	f.min.gpus = 8; /* more than any host has */
	o = out_of(l, 4);
	assert_int_equal(acquire(idx, &f, 0, &o), 0);
	assert_int_equal(o.n, 0);
	assert_int_equal(o.counts[HOSTMATCH_INSUFFICIENT_RESOURCES], 2);

	/* the pure matcher states the rule directly too */
	struct hostmatch_host gh = {.free = {8, 16384, 1000, 4}};
	struct hostmatch_filter nf = filter(1, 1);
	assert_int_equal(hostmatch_check(&nf, &gh), HOSTMATCH_MISMATCH_GPU);
	finish(idx);
}

static struct hostmatch_node leaf(const char *text, enum hostmatch_condition c, uint32_t req)
{
	return (struct hostmatch_node){
	    .kind = HOSTMATCH_NODE_LABEL,
	    .host_kind = true,
	    .condition = c,
	    .requirement = req,
	    .label = {hostmatch_label_hash(text), text},
	};
}

static void test_constraints(void **state)
{
	(void)state;
	struct hostmatch_label labels[] = {
	    {hostmatch_label_hash("hostname=h1"), "hostname=h1"},
	    {hostmatch_label_hash("rack=r1"), "rack=r1"},
	    {hostmatch_label_hash("zone=z1"), "zone=z1"},
	};
	struct hostmatch_node in_r1 = leaf("rack=r1", HOSTMATCH_GREATER_THAN, 0);
	struct hostmatch_node not_r1 = leaf("rack=r1", HOSTMATCH_LESS_THAN, 1);
	struct hostmatch_node eq_z1 = leaf("zone=z1", HOSTMATCH_EQUAL, 1);
	struct hostmatch_node in_r2 = leaf("rack=r2", HOSTMATCH_GREATER_THAN, 0);
	struct hostmatch_node host = leaf("hostname=h1", HOSTMATCH_EQUAL, 1);
	struct hostmatch_node task = leaf("job=x", HOSTMATCH_GREATER_THAN, 5);
	task.host_kind = false;

	assert_true(hostmatch_constraint_ok(&in_r1, labels, 3));
	assert_false(hostmatch_constraint_ok(&not_r1, labels, 3));
	assert_true(hostmatch_constraint_ok(&eq_z1, labels, 3));
	assert_false(hostmatch_constraint_ok(&in_r2, labels, 3));
	assert_true(hostmatch_constraint_ok(&host, labels, 3));
	assert_true(hostmatch_constraint_ok(&task, labels, 3)); /* TASK kind: not a host rule */

	struct hostmatch_node and_kids[] = {in_r1, eq_z1}, or_kids[] = {in_r2, not_r1};
	struct hostmatch_node and_node = {
	    .kind = HOSTMATCH_NODE_AND, .n_children = 2, .children = and_kids};
	struct hostmatch_node or_node = {
	    .kind = HOSTMATCH_NODE_OR, .n_children = 2, .children = or_kids};
	assert_true(hostmatch_constraint_ok(&and_node, labels, 3));
	assert_false(hostmatch_constraint_ok(&or_node, labels, 3));
	struct hostmatch_node mixed_kids[] = {or_node, and_node};
	struct hostmatch_node mixed_or = {
	    .kind = HOSTMATCH_NODE_OR, .n_children = 2, .children = mixed_kids};
	struct hostmatch_node mixed_and = {
	    .kind = HOSTMATCH_NODE_AND, .n_children = 2, .children = mixed_kids};
	assert_true(hostmatch_constraint_ok(&mixed_or, labels, 3));
	assert_false(hostmatch_constraint_ok(&mixed_and, labels, 3));
	struct hostmatch_node empty_and = {.kind = HOSTMATCH_NODE_AND};
	struct hostmatch_node empty_or = {.kind = HOSTMATCH_NODE_OR};
	assert_true(hostmatch_constraint_ok(&empty_and, labels, 3));
	assert_false(hostmatch_constraint_ok(&empty_or, labels, 3));

	/* through the index: only the host in rack r2 passes */
	struct hostidx *idx = hostidx_create(NULL);
	static const char *const r2[] = {"rack=r2"};
	struct hostidx_offer_in o = {.offer_id = "x1",
	                             .hostname = "h-r2",
	                             .res = {4, 4096, 0, 0},
	                             .n_attrs = 1,
	                             .attrs = r2};
	add_host(idx, "h-r1", 4, 4096, 0, 0);
	assert_int_equal(hostidx_add_offers(idx, &o, 1), 0);
	struct hostmatch_filter f = {.min = {1, 1, 0, 0}, .constraint = &in_r2};
	struct hostidx_lease l[4];
	struct hostidx_acquire_out out = out_of(l, 4);
	assert_int_equal(acquire(idx, &f, 0, &out), 0);
	assert_int_equal(out.n, 1);
	assert_string_equal(hostidx_lease_hostname(&l[0]), "h-r2");
	assert_int_equal(out.counts[HOSTMATCH_MISMATCH_CONSTRAINTS], 1);
	hostidx_release(idx, &l[0]);
	finish(idx);
}

static void test_invalid_filters(void **state)
{
	(void)state;
	struct hostidx *idx = hostidx_create(NULL);
	struct hostidx_lease l[2];
	struct hostidx_acquire_out o = out_of(l, 2);
	const char *why = NULL;
	add_host(idx, "h", 4, 4096, 0, 0);

	struct hostmatch_filter neg = filter(-1, 0), nan_f = filter(NAN, 0);
	assert_int_equal(hostidx_acquire(idx, &neg, 1, HOSTIDX_PACK, 0, &o, &why), -1);
	assert_int_equal(errno, EINVAL);
	assert_string_equal(why, "resource minimum is negative or not a number");
	assert_int_equal(hostidx_acquire(idx, &nan_f, 1, HOSTIDX_PACK, 0, &o, &why), -1);

	struct hostmatch_node bad_kind = {.kind = 42};
	struct hostmatch_filter f = {.constraint = &bad_kind};
	assert_int_equal(hostidx_acquire(idx, &f, 1, HOSTIDX_PACK, 0, &o, &why), -1);
	assert_string_equal(why, "unknown constraint type");

	struct hostmatch_node bad_cond = leaf("a=b", 9, 0);
	f.constraint = &bad_cond;
	assert_int_equal(hostidx_acquire(idx, &f, 1, HOSTIDX_PACK, 0, &o, &why), -1);
	assert_string_equal(why, "label constraint with an unknown condition");

	struct hostmatch_node broken_and = {.kind = HOSTMATCH_NODE_AND, .n_children = 3};
	f.constraint = &broken_and;
	assert_int_equal(hostidx_acquire(idx, &f, 1, HOSTIDX_PACK, 0, &o, &why), -1);
	assert_string_equal(why, "and/or constraint with missing children");

	struct hostmatch_node chain[40];
	for (int i = 0; i < 40; i++)
		chain[i] = (struct hostmatch_node){.kind = HOSTMATCH_NODE_AND,
		                                   .n_children = i < 39 ? 1 : 0,
		                                   .children = i < 39 ? &chain[i + 1] : NULL};
	f.constraint = chain;
	assert_int_equal(hostidx_acquire(idx, &f, 1, HOSTIDX_PACK, 0, &o, &why), -1);
	assert_string_equal(why, "constraint tree deeper than 32 levels");
	assert_int_equal(hostidx_host_state(idx, "h"), HOSTIDX_READY); /* nothing claimed */
	finish(idx);
}

static void test_leases(void **state)
{
	(void)state;
	struct hostidx_config cfg = {.lease_ns = 1 * SEC};
	struct hostidx *idx = hostidx_create(&cfg);
	struct hostidx_lease l[2];
	const char *why;
	add_host(idx, "h", 4, 4096, 0, 0);

	struct hostmatch_filter f = filter(1, 1);
	struct hostidx_acquire_out o = out_of(l, 2);
	assert_int_equal(hostidx_acquire(idx, &f, 1, HOSTIDX_PACK, 10 * SEC, &o, &why), 0);
	assert_int_equal(o.n, 1);
	assert_int_equal(hostidx_expire_leases(idx, 10 * SEC + SEC / 2), 0); /* not yet */
	assert_int_equal(hostidx_expire_leases(idx, 12 * SEC), 1);
	assert_int_equal(hostidx_host_state(idx, "h"), HOSTIDX_READY);
	struct hostidx_lease stale = l[0];
	assert_false(hostidx_release(idx, &l[0])); /* expired: not held anymore */

	/* a new claim is not voided by the old lease's release */
	o = out_of(l, 2);
	assert_int_equal(hostidx_acquire(idx, &f, 1, HOSTIDX_PACK, 20 * SEC, &o, &why), 0);
	assert_int_equal(o.n, 1);
	assert_true(l[0].token != stale.token);
	assert_true(hostidx_release(idx, &l[0]));
	assert_false(hostidx_release(idx, &l[0]));       /* double release */
	assert_false(hostidx_release_by_name(idx, "h")); /* not held */
	assert_false(hostidx_release_by_name(idx, "nope"));
	finish(idx);
}

static void test_rescind_remove_consume(void **state)
{
	(void)state;
	struct hostidx *idx = hostidx_create(NULL);
	struct hostidx_lease l[2];
	char *ids[4];
	static const struct hostidx_offer_in two[] = {
	    {.offer_id = "o1", .hostname = "h", .agent_id = "a1", .res = {2, 2048, 0, 0}},
	    {.offer_id = "o2", .hostname = "h", .agent_id = "a1", .res = {2, 2048, 0, 0}},
	};
	assert_int_equal(hostidx_add_offers(idx, two, 2), 0);
	struct hostmatch_filter f = filter(3, 3000); /* needs both offers */
	struct hostidx_acquire_out o = out_of(l, 2);
	assert_int_equal(acquire(idx, &f, 1, &o), 0);
	assert_int_equal(o.n, 1);
	assert_int_equal(hostidx_lease_n_offers(&l[0]), 2);
	assert_string_equal(hostidx_lease_agent_id(&l[0]), "a1");

	/* rescind while PLACING: still held, but the launch must not proceed */
	assert_int_equal(hostidx_rescind(idx, "o2"), 0);
	assert_int_equal(hostidx_host_state(idx, "h"), HOSTIDX_PLACING);
	assert_int_equal(hostidx_consume(idx, &l[0], ids, 4), -1);
	assert_int_equal(errno, ESTALE);
	assert_int_equal(hostidx_host_state(idx, "h"), HOSTIDX_READY);
	assert_int_equal(hostidx_rescind(idx, "o2"), -1);
	assert_int_equal(errno, ENOENT);

	/* consume spends the offers */
	f = filter(1, 1);
	o = out_of(l, 2);
	assert_int_equal(acquire(idx, &f, 1, &o), 0);
	assert_int_equal(hostidx_consume(idx, &l[0], ids, 4), 1);
	assert_string_equal(ids[0], "o1");
	free(ids[0]);
	o = out_of(l, 2);
	assert_int_equal(acquire(idx, &f, 1, &o), 0);
	assert_int_equal(o.n, 0);
	assert_int_equal(o.counts[HOSTMATCH_NO_OFFER], 1);

	/* remove while PLACING voids the lease; new offers revive the host */
	assert_int_equal(hostidx_add_offers(idx, two, 1), 0);
	o = out_of(l, 2);
	assert_int_equal(acquire(idx, &f, 1, &o), 0);
	assert_int_equal(o.n, 1);
	assert_int_equal(hostidx_remove_host(idx, "h"), 0);
	assert_int_equal(hostidx_host_state(idx, "h"), HOSTIDX_REMOVED);
	assert_false(hostidx_release(idx, &l[0]));
	assert_int_equal(hostidx_remove_host(idx, "h"), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(hostidx_add_offers(idx, two + 1, 1), 0);
	assert_int_equal(hostidx_host_state(idx, "h"), HOSTIDX_READY);
	struct hostidx_capacity cap;
	hostidx_capacity(idx, &cap);
	assert_int_equal(cap.hosts, 1);
	assert_int_equal(cap.hosts_with_offers, 1);
	assert_true(fabs(cap.offered.cpus - 2) < 1e-9);
	assert_true(fabs(cap.physical.cpus - 4) < 1e-9); /* largest ever offered */
	finish(idx);
}

/* A new Mesos subscription: every offer dropped, every lease void, new offers usable. */
static void test_drop_all(void **state)
{
	(void)state;
	struct hostidx *idx = hostidx_create(NULL);
	struct hostidx_lease l[2];
	char *ids[4];
	static const struct hostidx_offer_in offers[] = {
	    {.offer_id = "a1", .hostname = "a", .agent_id = "A", .res = {2, 2048, 0, 0}},
	    {.offer_id = "a2", .hostname = "a", .agent_id = "A", .res = {2, 2048, 0, 0}},
	    {.offer_id = "b1", .hostname = "b", .agent_id = "B", .res = {2, 2048, 0, 0}},
	};
	assert_int_equal(hostidx_drop_all(idx), 0); /* empty: nothing */
	assert_int_equal(hostidx_add_offers(idx, offers, 3), 0);
	struct hostmatch_filter f = filter(3, 3000); /* only host a fits */
	struct hostidx_acquire_out o = out_of(l, 2);
	assert_int_equal(acquire(idx, &f, 1, &o), 0);
	assert_int_equal(o.n, 1);
	assert_string_equal(hostidx_lease_hostname(&l[0]), "a");

	assert_int_equal(hostidx_drop_all(idx), 3);
	assert_int_equal(hostidx_host_state(idx, "a"), HOSTIDX_READY);
	assert_int_equal(hostidx_consume(idx, &l[0], ids, 4), -1); /* the lease is void */
	assert_int_equal(errno, ESTALE);
	assert_int_equal(hostidx_rescind(idx, "b1"), -1); /* gone */
	assert_int_equal(errno, ENOENT);
	struct hostidx_capacity cap;
	hostidx_capacity(idx, &cap);
	assert_int_equal(cap.hosts_with_offers, 0);
	assert_int_equal(cap.placing, 0);
	f = filter(1, 1);
	o = out_of(l, 2);
	assert_int_equal(acquire(idx, &f, 2, &o), 0);
	assert_int_equal(o.n, 0);

	/* the same offer ids may come back (a new stream's) and are usable */
	assert_int_equal(hostidx_add_offers(idx, offers + 2, 1), 0);
	o = out_of(l, 2);
	assert_int_equal(acquire(idx, &f, 2, &o), 0);
	assert_int_equal(o.n, 1);
	assert_int_equal(hostidx_consume(idx, &l[0], ids, 4), 1);
	assert_string_equal(ids[0], "b1");
	free(ids[0]);
	finish(idx);
}

static void test_bad_offers_change_nothing(void **state)
{
	(void)state;
	struct hostidx *idx = hostidx_create(NULL);
	struct hostidx_range bad_range = {10, 5};
	struct hostidx_offer_in batch[] = {
	    {.offer_id = "ok", .hostname = "h", .res = {1, 1, 0, 0}},
	    {.offer_id = "ok", .hostname = "h2", .res = {1, 1, 0, 0}}, /* duplicate id */
	};
	assert_int_equal(hostidx_add_offers(idx, batch, 2), -1);
	assert_int_equal(errno, EEXIST);
	batch[1].offer_id = "neg";
	batch[1].res.mem_mb = -5;
	assert_int_equal(hostidx_add_offers(idx, batch, 2), -1);
	assert_int_equal(errno, EINVAL);
	batch[1].res.mem_mb = 5;
	batch[1].n_ranges = 1;
	batch[1].ranges = &bad_range;
	assert_int_equal(hostidx_add_offers(idx, batch, 2), -1);
	assert_int_equal(errno, EINVAL);
	batch[1].hostname = NULL;
	assert_int_equal(hostidx_add_offers(idx, batch, 2), -1);
	struct hostidx_capacity cap;
	hostidx_capacity(idx, &cap);
	assert_int_equal(cap.hosts, 0);
	finish(idx);
}

struct expired {
	char ids[8][32];
	int n;
};

static void note_expired(void *arg, const char *id)
{
	struct expired *e = arg;
	if (e->n < 8)
		snprintf(e->ids[e->n++], sizeof(e->ids[0]), "%s", id);
}

static void test_order_limits_expiry(void **state)
{
	(void)state;
	struct hostidx *idx = hostidx_create(NULL);
	struct hostidx_lease l[16];
	add_host(idx, "s", 2, 4096, 0, 0);
	add_host(idx, "m", 8, 16384, 0, 0);
	add_host(idx, "l", 48, 262144, 0, 0);
	struct hostmatch_filter f = filter(1, 1024);
	const char *why;

	struct hostidx_acquire_out o = out_of(l, 16);
	assert_int_equal(hostidx_acquire(idx, &f, 1, HOSTIDX_PACK, 0, &o, &why), 0);
	assert_string_equal(hostidx_lease_hostname(&l[0]), "s");
	assert_int_equal(o.counts[HOSTMATCH_MISMATCH_MAX_HOST_LIMIT], 2);
	hostidx_release(idx, &l[0]);
	o = out_of(l, 16);
	assert_int_equal(hostidx_acquire(idx, &f, 1, HOSTIDX_SPREAD, 0, &o, &why), 0);
	assert_string_equal(hostidx_lease_hostname(&l[0]), "l");
	hostidx_release(idx, &l[0]);

	o = out_of(l, 16); /* maxHosts 0: every match */
	assert_int_equal(hostidx_acquire(idx, &f, 0, HOSTIDX_PACK, 0, &o, &why), 0);
	assert_int_equal(o.n, 3);
	for (uint32_t i = 0; i < o.n; i++)
		assert_true(hostidx_release(idx, &l[i]));
	o = out_of(l, 2); /* bounded by the caller's room */
	assert_int_equal(hostidx_acquire(idx, &f, 0, HOSTIDX_PACK, 0, &o, &why), 0);
	assert_int_equal(o.n, 2);
	for (uint32_t i = 0; i < o.n; i++)
		assert_true(hostidx_release(idx, &l[i]));

	/* offers received at time 0 expire; later ones stay */
	struct hostidx_offer_in late = {
	    .offer_id = "late", .hostname = "m", .res = {1, 1, 0, 0}, .recv_ns = 100 * SEC};
	assert_int_equal(hostidx_add_offers(idx, &late, 1), 0);
	struct expired ex = {0};
	assert_int_equal(hostidx_expire_offers_cb(idx, 50 * SEC, note_expired, &ex), 3);
	assert_int_equal(ex.n, 3); /* each dropped offer reported once, "late" kept */
	for (int i = 0; i < ex.n; i++)
		assert_string_not_equal(ex.ids[i], "late");
	struct hostidx_capacity cap;
	hostidx_capacity(idx, &cap);
	assert_int_equal(cap.hosts_with_offers, 1);
	finish(idx);
}

int main(void)
{
	rcu_register_thread();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_resources_and_results),
	    cmocka_unit_test(test_gpu_rule),
	    cmocka_unit_test(test_constraints),
	    cmocka_unit_test(test_invalid_filters),
	    cmocka_unit_test(test_leases),
	    cmocka_unit_test(test_rescind_remove_consume),
	    cmocka_unit_test(test_drop_all),
	    cmocka_unit_test(test_bad_offers_change_nothing),
	    cmocka_unit_test(test_order_limits_expiry),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	rcu_unregister_thread();
	return rc;
}
