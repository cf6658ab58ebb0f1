/* yamljson_emit: YAML that loads back as the value it was written from. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "yamljson.h"

/* v written and parsed back by our own reader. */
static json_t *round_trip(const json_t *v, char **text)
{
	char err[200], *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(yamljson_emit(v, f, err, sizeof(err)), 0);
	fclose(f);
	json_t *back = yamljson_parse(buf, len, NULL, err, sizeof(err));
	if (!back)
		fail_msg("%s\n%s", err, buf);
	*text = buf;
	return back;
}

static void test_strings_that_look_like_other_things(void **state)
{
	(void)state;
	static const char *const tricky[] = {"true",
	                                     "False",
	                                     "yes",
	                                     "NO",
	                                     "on",
	                                     "off",
	                                     "y",
	                                     "n",
	                                     "null",
	                                     "~",
	                                     "",
	                                     "42",
	                                     "-1.5",
	                                     "1e3",
	                                     "0x1F",
	                                     "0o17",
	                                     "1_000",
	                                     "1:30",
	                                     ".inf",
	                                     ".NaN",
	                                     "2026-12-04",
	                                     "2026-12-04T23:59:59.123Z",
	                                     "a: b",
	                                     "- x",
	                                     "# not a comment",
	                                     "x #y",
	                                     "trailing ",
	                                     " leading",
	                                     "line\nbreak",
	                                     "tab\there",
	                                     "quote\"s",
	                                     "'single'",
	                                     "{flow}",
	                                     "[list]",
	                                     "&anchor",
	                                     "*alias",
	                                     "!tag",
	                                     "%dir",
	                                     "@at",
	                                     "`tick`",
	                                     "|",
	                                     ">",
	                                     "?",
	                                     ":",
	                                     ",",
	                                     "caf\xc3\xa9",
	                                     "host-00001",
	                                     "1cffc248-e034-441c-95ce-2794afe003ca"};
	json_t *obj = json_object(), *arr = json_array();
	for (size_t i = 0; i < sizeof(tricky) / sizeof(*tricky); i++) {
		json_array_append_new(arr, json_string(tricky[i]));
		if (tricky[i][0])
			json_object_set_new(obj, tricky[i], json_string(tricky[i]));
	}
	json_t *doc = json_pack("{s:o,s:o}", "list", arr, "map", obj);
	char *text;
	json_t *back = round_trip(doc, &text);
	if (!json_equal(doc, back)) {
		char *a = json_dumps(back, JSON_SORT_KEYS);
		fail_msg("loaded back differently:\n%s\nas\n%s", text, a);
	}
	/* names and ids stay plain: the output is for people too */
	assert_non_null(strstr(text, "- host-00001\n"));
	assert_non_null(strstr(text, "- 1cffc248-e034-441c-95ce-2794afe003ca\n"));
	free(text);
	json_decref(back);
	json_decref(doc);
}

static void test_numbers_bools_null_and_empties(void **state)
{
	(void)state;
	json_t *doc = json_pack("{s:i,s:f,s:b,s:n,s:{},s:[],s:{s:[i,{s:s}]}}", "count", 3, "share",
	                        0.5, "on", 1, "none", "empty", "nothing", "deep", "x", 1, "k", "v");
	char *text;
	json_t *back = round_trip(doc, &text);
	assert_true(json_equal(doc, back));
	assert_non_null(strstr(text, "count: 3\n"));
	free(text);
	json_decref(back);
	json_decref(doc);
}

static void test_too_deep_is_refused(void **state)
{
	(void)state;
	json_t *v = json_string("leaf");
	for (int i = 0; i < 300; i++)
		v = json_pack("[o]", v);
	char err[200], *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_int_equal(yamljson_emit(v, f, err, sizeof(err)), -1);
	fclose(f);
	assert_true(err[0] != 0);
	free(buf);
	json_decref(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_strings_that_look_like_other_things),
	    cmocka_unit_test(test_numbers_bools_null_and_empties),
	    cmocka_unit_test(test_too_deep_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
