/*
 * htab: both key kinds; put, get, del, a duplicate refused; growth from a
 * capacity of 1 to 200,000 objects with every one found; iteration visits
 * each object once; the table ends empty.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "htab.h"

struct by_array {
	char id[32];
	int v;
};

struct by_pointer {
	char *id;
	int v;
};

static void test_array_keys(void **state)
{
	(void)state;
	struct htab t;
	struct by_array a = {"job-a", 1}, b = {"job-b", 2}, a2 = {"job-a", 3};
	assert_int_equal(htab_init(&t, HTAB_KEY_ARRAY, 0), 0);
	assert_null(htab_get(&t, "job-a"));
	assert_int_equal(htab_put(&t, &a), 0);
	assert_int_equal(htab_put(&t, &b), 0);
	assert_int_equal(htab_put(&t, &a2), -1); /* the key is there */
	assert_ptr_equal(htab_get(&t, "job-a"), &a);
	assert_ptr_equal(htab_get(&t, "job-b"), &b);
	assert_null(htab_get(&t, "job-"));
	assert_int_equal(htab_count(&t), 2);
	assert_ptr_equal(htab_del(&t, "job-a"), &a);
	assert_null(htab_del(&t, "job-a"));
	assert_null(htab_get(&t, "job-a"));
	assert_int_equal(htab_put(&t, &a2), 0);
	assert_ptr_equal(htab_get(&t, "job-a"), &a2);
	htab_del(&t, "job-a");
	htab_del(&t, "job-b");
	assert_int_equal(htab_count(&t), 0);
	htab_fini(&t);
}

static void test_pointer_keys_grow_and_iterate(void **state)
{
	(void)state;
	enum { N = 200000 };
	struct htab t;
	struct by_pointer *v = calloc(N, sizeof(*v));
	char(*keys)[24] = calloc(N, sizeof(*keys));
	assert_non_null(v);
	assert_non_null(keys);
	assert_int_equal(htab_init(&t, HTAB_KEY_POINTER, 1), 0);
	for (int i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "task-%d", i);
		v[i] = (struct by_pointer){keys[i], i};
		assert_int_equal(htab_put(&t, &v[i]), 0);
	}
	assert_int_equal(htab_count(&t), N);
	for (int i = 0; i < N; i++) {
		char k[24];
		snprintf(k, sizeof(k), "task-%d", i); /* a probe that is not the stored pointer */
		struct by_pointer *o = htab_get(&t, k);
		assert_non_null(o);
		assert_int_equal(o->v, i);
	}
	unsigned char *seen = calloc(N, 1);
	struct htab_iter it;
	htab_iter_init(&it);
	size_t visits = 0;
	for (struct by_pointer *o; (o = htab_next(&t, &it)) != NULL; visits++)
		seen[o->v]++;
	assert_int_equal(visits, N);
	for (int i = 0; i < N; i++)
		assert_int_equal(seen[i], 1);
	for (int i = 0; i < N; i += 2)
		assert_ptr_equal(htab_del(&t, keys[i]), &v[i]);
	assert_int_equal(htab_count(&t), N / 2);
	for (int i = 0; i < N; i++)
		assert_true((htab_get(&t, keys[i]) != NULL) == (i % 2 == 1));
	for (int i = 1; i < N; i += 2)
		htab_del(&t, keys[i]);
	assert_int_equal(htab_count(&t), 0);
	htab_fini(&t);
	free(seen);
	free(keys);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_array_keys),
	    cmocka_unit_test(test_pointer_keys_grow_and_iterate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
