/* Out-of-line half of PEL_ASSERT (pel_assert.h). */
#include <stdio.h>
#include <stdlib.h>

#include "pel_assert.h"

noreturn void pel_assert_fail(const char *expr, const char *file, int line, const char *func)
{
	fprintf(stderr, "pelotond: assertion failed: %s (%s:%d, %s)\n", expr, file, line, func);
	fflush(stderr);
	abort();
}
