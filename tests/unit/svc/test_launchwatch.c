/*
 * launchwatch: a launch is reconciled when Mesos stays silent past the
 * wait, then after twice the wait each time (10 minutes at most); an
 * update ends the watch; all are reconciled on demand; the bound holds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "launchwatch.h"

#define S 1000000000ull

struct seen {
	char ids[8][32];
	char agents[8][32];
	size_t n;
};

static void on_due(void *arg, const char *task, const char *agent)
{
	struct seen *s = arg;
	if (s->n < 8) {
		snprintf(s->ids[s->n], 32, "%s", task);
		snprintf(s->agents[s->n++], 32, "%s", agent ? agent : "-");
	}
}

static size_t due(struct launchwatch *w, uint64_t now, int all, struct seen *s)
{
	memset(s, 0, sizeof(*s));
	return launchwatch_due(w, now, all, on_due, s);
}

static void doubling_and_seen(void **state)
{
	(void)state;
	struct launchwatch *w = launchwatch_new(120 * S, 0);
	assert_non_null(w);
	struct seen s;
	launchwatch_add(w, "j-0-1", "a1", 0);
	launchwatch_add(w, "j-1-1", "a2", 0);
	launchwatch_add(w, "j-2-1", NULL, 10 * S);
	assert_int_equal(launchwatch_size(w), 3);
	assert_int_equal(due(w, 119 * S, 0, &s), 0);
	assert_int_equal(due(w, 120 * S, 0, &s), 2); /* j-2-1 is due at 130 s */
	launchwatch_seen(w, "j-1-1");                /* Mesos answered for it */
	launchwatch_seen(w, "never-watched");
	assert_int_equal(launchwatch_size(w), 2);
	/* j-0-1 again after 240 s more; j-2-1 at 130 s */
	assert_int_equal(due(w, 130 * S, 0, &s), 1);
	assert_string_equal(s.ids[0], "j-2-1");
	assert_string_equal(s.agents[0], "-");
	assert_int_equal(due(w, 359 * S, 0, &s), 0);
	assert_int_equal(due(w, 360 * S, 0, &s), 1);
	assert_string_equal(s.ids[0], "j-0-1");
	assert_string_equal(s.agents[0], "a1");
	/* every one on demand (a new subscription) */
	assert_int_equal(due(w, 361 * S, 1, &s), 2);
	/* the wait stops doubling at 10 minutes */
	uint64_t t = 361 * S;
	for (int i = 0; i < 10; i++)
		t += 600 * S, due(w, t, 0, &s);
	assert_int_equal(due(w, t + 600 * S, 0, &s), 2);
	/* a launch renewed (launched again under the same id) waits anew */
	launchwatch_add(w, "j-0-1", "a3", t + 600 * S);
	assert_int_equal(launchwatch_size(w), 2);
	launchwatch_free(w);
}

static void bounded(void **state)
{
	(void)state;
	struct launchwatch *w = launchwatch_new(S, 2);
	launchwatch_add(w, "a", NULL, 0);
	launchwatch_add(w, "b", NULL, 0);
	launchwatch_add(w, "c", NULL, 0);
	assert_int_equal(launchwatch_size(w), 2);
	assert_int_equal(launchwatch_dropped(w), 1);
	launchwatch_seen(w, "a");
	launchwatch_add(w, "c", NULL, 0);
	assert_int_equal(launchwatch_size(w), 2);
	launchwatch_free(w);
	launchwatch_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(doubling_and_seen),
	    cmocka_unit_test(bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
