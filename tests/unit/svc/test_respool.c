/*
 * Resource pool tree: every validation rule (R1-R7 in respool.h) with its
 * exact error, paths, and the entitlement algorithm on hand-computed cases
 * (the arithmetic is in each test's comment).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "respool.h"

static struct respool_config cfg(const char *name, const char *parent, double res, double lim,
                                 double share)
{
	struct respool_config c = {.name = name, .parent_id = parent};
	c.res[RES_CPU] = (struct respool_res){res, lim, share};
	c.res_set[RES_CPU] = true;
	return c;
}

static void mk(struct respool_tree *t, const char *name, const char *parent, double res, double lim,
               double share, char id[40])
{
	struct respool_error e;
	struct respool_config c = cfg(name, parent, res, lim, share);
	if (respool_create(t, &c, id, 40, &e) != 0)
		fail_msg("create %s: %s", name, e.msg);
}

static void demand(struct respool_tree *t, const char *id, double cpu)
{
	double d[RES_N] = {cpu, 0, 0, 0};
	assert_int_equal(respool_add_demand(t, id, d), 0);
}

static double ent(struct respool_tree *t, const char *id)
{
	struct respool_usage u;
	assert_int_equal(respool_usage(t, id, &u), 0);
	return u.entitlement[RES_CPU];
}

#define ASSERT_NEAR(a, b) assert_true(fabs((a) - (b)) < 1e-6)

static void entitle(struct respool_tree *t, double cpu)
{
	double cap[RES_N] = {cpu, 0, 0, 0};
	respool_entitle(t, cap);
}

static void expect_err(int rc, const struct respool_error *e, enum respool_err code,
                       const char *msg)
{
	assert_int_equal(rc, -1);
	assert_int_equal(e->code, code);
	if (msg != NULL)
		assert_string_equal(e->msg, msg);
}

static void test_validation(void **state)
{
	(void)state;
	struct respool_tree *t = respool_tree_create();
	struct respool_error e;
	char a[40], b[40], c[40];
	struct respool_config x;

	mk(t, "a", NULL, 10, 20, 1, a);
	x = cfg("", NULL, 0, 0, 1); /* R1 */
	expect_err(respool_create(t, &x, b, 40, &e), &e, RESPOOL_INVALID_CONFIG,
	           "pool name must be 1-255 bytes of UTF-8 without '/' or control characters");
	x = cfg("x/y", NULL, 0, 0, 1);
	expect_err(respool_create(t, &x, b, 40, &e), &e, RESPOOL_INVALID_CONFIG, NULL);
	x = cfg("x\ty", NULL, 0, 0, 1);
	expect_err(respool_create(t, &x, b, 40, &e), &e, RESPOOL_INVALID_CONFIG, NULL);
	x = cfg("x\xffy", NULL, 0, 0, 1);
	expect_err(respool_create(t, &x, b, 40, &e), &e, RESPOOL_INVALID_CONFIG, NULL);
	x = cfg("b", "no-such-id", 0, 0, 1); /* R2 */
	expect_err(respool_create(t, &x, b, 40, &e), &e, RESPOOL_NOT_FOUND,
	           "parent pool 'no-such-id' not found");
	x = cfg("a", NULL, 0, 0, 1); /* R3 */
	expect_err(respool_create(t, &x, b, 40, &e), &e, RESPOOL_ALREADY_EXISTS, NULL);
	x = cfg("b", NULL, 5, 4, 1); /* R4 */
	expect_err(respool_create(t, &x, b, 40, &e), &e, RESPOOL_INVALID_CONFIG,
	           "cpu: limit 4 is below reservation 5");
	x = cfg("b", NULL, -1, 4, 1);
	expect_err(respool_create(t, &x, b, 40, &e), &e, RESPOOL_INVALID_CONFIG,
	           "cpu: reservation -1 is negative");
	x = cfg("b", NULL, 1, 4, 0); /* zero share rejected */
	expect_err(respool_create(t, &x, b, 40, &e), &e, RESPOOL_INVALID_CONFIG,
	           "cpu: share must be > 0, got 0");
	x = cfg("b", NULL, NAN, 4, 1);
	expect_err(respool_create(t, &x, b, 40, &e), &e, RESPOOL_INVALID_CONFIG,
	           "cpu: values must be finite");
	mk(t, "b", a, 6, 10, 1, b);
	x = cfg("c", a, 5, 10, 1); /* R5: 6 + 5 > 10 */
	expect_err(respool_create(t, &x, c, 40, &e), &e, RESPOOL_INVALID_CONFIG,
	           "cpu: children's reservations 11 exceed the parent's 10");
	x = cfg("a", NULL, 5, 20, 1); /* shrinking a below its children's 6 */
	expect_err(respool_update(t, a, &x, &e), &e, RESPOOL_INVALID_CONFIG, NULL);
	x = cfg("a", b, 10, 20, 1); /* R7: under its own child */
	expect_err(respool_update(t, a, &x, &e), &e, RESPOOL_INVALID_CONFIG,
	           "cannot move pool 'a' under itself or a descendant");
	expect_err(respool_delete(t, a, &e), &e, RESPOOL_IS_NOT_LEAF, /* R6 */
	           "pool 'a' has 1 child pools");
	assert_int_equal(respool_set_active_tasks(t, b, 2), 0);
	expect_err(respool_delete(t, b, &e), &e, RESPOOL_IS_BUSY, "pool 'b' has 2 active tasks");
	expect_err(respool_delete(t, "root", &e), &e, RESPOOL_NOT_FOUND, NULL);
	assert_int_equal(respool_set_active_tasks(t, b, -2), 0);
	assert_int_equal(respool_count(t), 3);
	assert_int_equal(respool_delete(t, b, &e), 0);
	assert_int_equal(respool_delete(t, a, &e), 0);
	assert_int_equal(respool_count(t), 1); /* only the root is left */
	respool_tree_destroy(t);
}

static void test_paths_and_moves(void **state)
{
	(void)state;
	struct respool_tree *t = respool_tree_create();
	struct respool_error e;
	char infra[40], compute[40], other[40], id[40], path[128];

	mk(t, "infrastructure", NULL, 10, 100, 1, infra);
	mk(t, "compute", infra, 5, 50, 1, compute);
	mk(t, "other", NULL, 0, 10, 1, other);
	assert_int_equal(respool_lookup(t, "/infrastructure/compute", id, sizeof(id), &e), 0);
	assert_string_equal(id, compute);
	assert_int_equal(respool_lookup(t, "/", id, sizeof(id), &e), 0);
	assert_string_equal(id, "root");
	expect_err(respool_lookup(t, "infrastructure", id, sizeof(id), &e), &e,
	           RESPOOL_INVALID_PATH, NULL);
	expect_err(respool_lookup(t, "/infrastructure//compute", id, sizeof(id), &e), &e,
	           RESPOOL_INVALID_PATH, NULL);
	expect_err(respool_lookup(t, "/infrastructure/nope", id, sizeof(id), &e), &e,
	           RESPOOL_PATH_NOT_FOUND, "no pool at path '/infrastructure/nope'");
	assert_int_equal(respool_path(t, compute, path, sizeof(path)), 0);
	assert_string_equal(path, "/infrastructure/compute");
	assert_true(respool_is_leaf(t, compute));
	assert_false(respool_is_leaf(t, infra));
	struct respool_config mv = cfg("compute", other, 0, 50, 1); /* move under other */
	assert_int_equal(respool_update(t, compute, &mv, &e), 0);
	assert_int_equal(respool_path(t, compute, path, sizeof(path)), 0);
	assert_string_equal(path, "/other/compute");
	assert_true(respool_is_leaf(t, infra));
	respool_tree_destroy(t);
}

/* 1. One pool takes all: reservation 10, demand 50 -> 50, headroom to limit 100. */
static void test_ent_single(void **state)
{
	(void)state;
	struct respool_tree *t = respool_tree_create();
	char a[40];
	mk(t, "a", NULL, 10, 100, 1, a);
	demand(t, a, 50);
	entitle(t, 100);
	ASSERT_NEAR(ent(t, a), 100);
	respool_tree_destroy(t);
}

/* 2. Equal pools: 20 + 20 reserved, 60 left split 30/30 by demand -> 50/50. */
static void test_ent_equal(void **state)
{
	(void)state;
	struct respool_tree *t = respool_tree_create();
	char a[40], b[40];
	mk(t, "a", NULL, 20, 100, 1, a);
	mk(t, "b", NULL, 20, 100, 1, b);
	demand(t, a, 60);
	demand(t, b, 60);
	entitle(t, 100);
	ASSERT_NEAR(ent(t, a), 50);
	ASSERT_NEAR(ent(t, b), 50);
	respool_tree_destroy(t);
}

/* 3. Over-subscribed, shares 1:3: 30 + 30 reserved, 40 left -> +10 / +30. */
static void test_ent_oversubscribed_shares(void **state)
{
	(void)state;
	struct respool_tree *t = respool_tree_create();
	char a[40], b[40];
	mk(t, "a", NULL, 30, 100, 1, a);
	mk(t, "b", NULL, 30, 100, 3, b);
	demand(t, a, 100);
	demand(t, b, 100);
	entitle(t, 100);
	ASSERT_NEAR(ent(t, a), 40);
	ASSERT_NEAR(ent(t, b), 60);
	respool_tree_destroy(t);
}

/*
 * 4. Idle pool lends: A reserves 50 but wants 0; B reserves 10, wants 80.
 * Pass 1: A 0, B 10. Pass 2: B to 80 (rest 20). Pass 3: 10 each -> A 10, B 90.
 */
static void test_ent_idle_lends(void **state)
{
	(void)state;
	struct respool_tree *t = respool_tree_create();
	char a[40], b[40];
	mk(t, "a", NULL, 50, 100, 1, a);
	mk(t, "b", NULL, 10, 100, 1, b);
	demand(t, b, 80);
	entitle(t, 100);
	ASSERT_NEAR(ent(t, a), 10);
	ASSERT_NEAR(ent(t, b), 90);
	/* A's demand returns: its reservation comes first again */
	demand(t, a, 50);
	entitle(t, 100);
	/* pass 1: A 50, B 10; pass 2: 40 left, B's cap 70 -> B 50; A full */
	ASSERT_NEAR(ent(t, a), 50);
	ASSERT_NEAR(ent(t, b), 50);
	respool_tree_destroy(t);
}

/* 5. Limits: A capped at 20 gives its excess to B: 50/50 -> 20 / 80. */
static void test_ent_limits(void **state)
{
	(void)state;
	struct respool_tree *t = respool_tree_create();
	char a[40], b[40];
	mk(t, "a", NULL, 0, 20, 1, a);
	mk(t, "b", NULL, 0, 100, 1, b);
	demand(t, a, 100);
	demand(t, b, 100);
	entitle(t, 100);
	ASSERT_NEAR(ent(t, a), 20);
	ASSERT_NEAR(ent(t, b), 80);
	respool_tree_destroy(t);
}

/* 6. Cluster smaller than reservations: 60 + 60 reserved of 90 -> max-min 45 / 45. */
static void test_ent_cluster_too_small(void **state)
{
	(void)state;
	struct respool_tree *t = respool_tree_create();
	char a[40], b[40];
	mk(t, "a", NULL, 60, 100, 1, a);
	mk(t, "b", NULL, 60, 100, 1, b);
	demand(t, a, 100);
	demand(t, b, 100);
	entitle(t, 90);
	ASSERT_NEAR(ent(t, a), 45);
	ASSERT_NEAR(ent(t, b), 45);
	respool_tree_destroy(t);
}

/* 6b. Reserved past the cluster, unequal demand: A asks 2 of its 30,000, B 1,000 of
 * 30,000, capacity 128 -> A gets its 2 (not 128 x 2 / 1002), B the other 126. */
static void test_ent_small_demand_not_starved(void **state)
{
	(void)state;
	struct respool_tree *t = respool_tree_create();
	char a[40], b[40];
	mk(t, "a", NULL, 30000, 1e6, 1, a);
	mk(t, "b", NULL, 30000, 1e6, 1, b);
	demand(t, a, 2);
	demand(t, b, 1000);
	entitle(t, 128);
	ASSERT_NEAR(ent(t, a), 2);
	ASSERT_NEAR(ent(t, b), 126);
	respool_tree_destroy(t);
}

/*
 * 7. Hierarchy: P{A wants 30, B wants 10} and idle Q, capacity 100.
 * Root: pass 2 P 40; pass 3 60 split -> P 70, Q 30.
 * P: pass 2 A 30, B 10; pass 3 30 split -> A 45, B 25.
 */
static void test_ent_hierarchy(void **state)
{
	(void)state;
	struct respool_tree *t = respool_tree_create();
	char p[40], q[40], a[40], b[40];
	mk(t, "p", NULL, 0, 100, 1, p);
	mk(t, "q", NULL, 0, 100, 1, q);
	mk(t, "a", p, 0, 100, 1, a);
	mk(t, "b", p, 0, 100, 1, b);
	demand(t, a, 30);
	demand(t, b, 10);
	entitle(t, 100);
	ASSERT_NEAR(ent(t, p), 70);
	ASSERT_NEAR(ent(t, q), 30);
	ASSERT_NEAR(ent(t, a), 45);
	ASSERT_NEAR(ent(t, b), 25);
	respool_tree_destroy(t);
}

/* 8. Headroom stops at the limit: an idle pool limited to 10 gets 10 of 100. */
static void test_ent_headroom_limit(void **state)
{
	(void)state;
	struct respool_tree *t = respool_tree_create();
	char a[40];
	mk(t, "a", NULL, 0, 10, 1, a);
	entitle(t, 100);
	ASSERT_NEAR(ent(t, a), 10);
	respool_tree_destroy(t);
}

/* 9. Unset kinds default to reservation 0, limit 0: no memory for a cpu-only pool. */
static void test_ent_unset_kind(void **state)
{
	(void)state;
	struct respool_tree *t = respool_tree_create();
	char a[40];
	struct respool_usage u;
	mk(t, "a", NULL, 0, 10, 1, a);
	double cap[RES_N] = {100, 1000, 1000, 0};
	respool_entitle(t, cap);
	assert_int_equal(respool_usage(t, a, &u), 0);
	ASSERT_NEAR(u.entitlement[RES_MEMORY], 0);
	ASSERT_NEAR(u.entitlement[RES_CPU], 10);
	respool_tree_destroy(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_validation),
	    cmocka_unit_test(test_paths_and_moves),
	    cmocka_unit_test(test_ent_single),
	    cmocka_unit_test(test_ent_equal),
	    cmocka_unit_test(test_ent_oversubscribed_shares),
	    cmocka_unit_test(test_ent_idle_lends),
	    cmocka_unit_test(test_ent_limits),
	    cmocka_unit_test(test_ent_cluster_too_small),
	    cmocka_unit_test(test_ent_small_demand_not_starved),
	    cmocka_unit_test(test_ent_hierarchy),
	    cmocka_unit_test(test_ent_headroom_limit),
	    cmocka_unit_test(test_ent_unset_kind),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
