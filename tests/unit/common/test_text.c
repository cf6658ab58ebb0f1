/* text_check: what a name or label may hold. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "text.h"

static void test_accepts_printable_utf8(void **state)
{
	(void)state;
	static const char *const ok[] = {
	    "",
	    "batch",
	    "a b",
	    "/x/y",
	    "caf\xc3\xa9",
	    "\xe2\x82\xac",
	    "\xf0\x9f\x98\x80",
	    "\xc2\xa0" /* U+00A0, the first past C1 */,
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (text_check(ok[i], 64) != NULL)
			fail_msg("'%s' refused: %s", ok[i], text_check(ok[i], 64));
	assert_null(text_check(NULL, 0));
}

static void test_refuses_controls_and_bad_utf8(void **state)
{
	(void)state;
	static const struct {
		const char *s, *why;
	} bad[] = {
	    {"a\nb", "holds a control character"},     {"\t", "holds a control character"},
	    {"\x1b[31m", "holds a control character"}, {"\x7f", "holds a control character"},
	    {"\xc2\x85", "holds a control character"},                              /* U+0085, C1 */
	    {"\xc2\x9f", "holds a control character"}, {"\xe9", "not valid UTF-8"}, /* Latin-1 */
	    {"\xc0\xaf", "not valid UTF-8"},         /* overlong '/' */
	    {"\xe0\x80\xaf", "not valid UTF-8"},     /* overlong, 3 bytes */
	    {"\xed\xa0\x80", "not valid UTF-8"},     /* a surrogate */
	    {"\xf4\x90\x80\x80", "not valid UTF-8"}, /* past U+10FFFF */
	    {"\xe2\x82", "not valid UTF-8"},         /* truncated */
	    {"\xe2\x28\xa1", "not valid UTF-8"},     /* bad continuation */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *why = text_check(bad[i].s, 64);
		if (why == NULL || strcmp(why, bad[i].why) != 0)
			fail_msg("case %zu: got %s, want %s", i, why ? why : "accepted",
			         bad[i].why);
	}
	assert_string_equal(text_check("abcd", 3), "too long");
	assert_null(text_check("abc", 3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_accepts_printable_utf8),
	    cmocka_unit_test(test_refuses_controls_and_bad_utf8),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
