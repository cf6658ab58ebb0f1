/*
 * recordio: records split at every possible chunk boundary come out whole
 * and in order; records inside one chunk are passed in place; empty
 * records; malformed and oversized lengths refused, and the parser stays
 * failed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "recordio.h"

struct got {
	char recs[8][64];
	size_t lens[8];
	size_t n;
	const uint8_t *last_ptr;
};

static int keep(void *arg, const uint8_t *data, size_t len)
{
	struct got *g = arg;
	assert_true(g->n < 8 && len < 64);
	memcpy(g->recs[g->n], data, len);
	g->lens[g->n++] = len;
	g->last_ptr = data;
	return 0;
}

static const char stream[] = "5\nhello0\n11\nhello world3\n\n\n\n";

static void check_stream(const struct got *g)
{
	assert_int_equal(g->n, 4);
	assert_int_equal(g->lens[0], 5);
	assert_memory_equal(g->recs[0], "hello", 5);
	assert_int_equal(g->lens[1], 0);
	assert_int_equal(g->lens[2], 11);
	assert_memory_equal(g->recs[2], "hello world", 11);
	assert_int_equal(g->lens[3], 3);
	assert_memory_equal(g->recs[3], "\n\n\n", 3); /* bytes are bytes */
}

static void test_every_split(void **state)
{
	(void)state;
	size_t n = strlen(stream);
	const char *err;
	for (size_t a = 0; a <= n; a++) {
		for (size_t b = a; b <= n; b++) {
			struct recordio *r = recordio_new(0);
			struct got g = {0};
			assert_int_equal(recordio_feed(r, stream, a, keep, &g, &err), 0);
			assert_int_equal(recordio_feed(r, stream + a, b - a, keep, &g, &err), 0);
			assert_int_equal(recordio_feed(r, stream + b, n - b, keep, &g, &err), 0);
			check_stream(&g);
			assert_true(recordio_idle(r));
			recordio_free(r);
		}
	}
}

static void test_in_place_and_byte_by_byte(void **state)
{
	(void)state;
	const char *err;
	struct recordio *r = recordio_new(0);
	struct got g = {0};
	static const char in[] = "5\nhello";
	assert_int_equal(recordio_feed(r, in, 7, keep, &g, &err), 0);
	assert_ptr_equal(g.last_ptr, (const uint8_t *)in + 2); /* not copied */
	recordio_free(r);
	r = recordio_new(0);
	memset(&g, 0, sizeof(g));
	for (size_t i = 0; i < strlen(stream); i++)
		assert_int_equal(recordio_feed(r, stream + i, 1, keep, &g, &err), 0);
	check_stream(&g);
	/* a partial record: not idle */
	assert_int_equal(recordio_feed(r, "4\nab", 4, keep, &g, &err), 0);
	assert_false(recordio_idle(r));
	recordio_free(r);
}

static void test_refusals(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		const char *why;
	} bad[] = {
	    {"\nabc", "empty record length"},
	    {"1x\na", "non-digit"},
	    {"-1\n", "non-digit"},
	    {" 5\nhello", "non-digit"},
	    {"12345678901234567890\n", "too many digits"},
	    {"01\na", "leading zero"},
	    {"1025\n", "longer than the limit"},
	    {"99999999999\n", "longer than the limit"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *err = NULL;
		/* the digit test needs a limit the 20 digits do not reach first */
		struct recordio *r = recordio_new(strstr(bad[i].why, "digits") ? SIZE_MAX : 1024);
		struct got g = {0};
		assert_int_equal(recordio_feed(r, bad[i].in, strlen(bad[i].in), keep, &g, &err),
		                 -1);
		assert_non_null(strstr(err, bad[i].why));
		assert_int_equal(g.n, 0);
		/* stays failed: good bytes after a bad frame are not trusted */
		assert_int_equal(recordio_feed(r, "1\na", 3, keep, &g, &err), -1);
		assert_int_equal(g.n, 0);
		recordio_free(r);
	}
	/* a good record before the bad one is delivered */
	const char *err;
	struct recordio *r = recordio_new(1024);
	struct got g = {0};
	assert_int_equal(recordio_feed(r, "1\nax\n", 5, keep, &g, &err), -1);
	assert_int_equal(g.n, 1);
	recordio_free(r);
	char hdr[24];
	assert_int_equal(recordio_header(11, hdr), 3);
	assert_memory_equal(hdr, "11\n", 3);
}

static int stop_after_one(void *arg, const uint8_t *data, size_t len)
{
	(void)data;
	(void)len;
	(*(int *)arg)++;
	return 7;
}

static void test_callback_stops(void **state)
{
	(void)state;
	const char *err;
	int calls = 0;
	struct recordio *r = recordio_new(0);
	assert_int_equal(recordio_feed(r, "1\na1\nb", 6, stop_after_one, &calls, &err), 7);
	assert_int_equal(calls, 1);
	recordio_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_split),
	    cmocka_unit_test(test_in_place_and_byte_by_byte),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_callback_stops),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
