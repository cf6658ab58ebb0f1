/*
 * pel_assert: the project's assertion. Unlike assert(3) it stays on in
 * release builds (invariants here guard against double launches and lost
 * hosts, which are worse than a crash), prints expression, file and line,
 * and aborts so a core dump or sanitizer report follows.
 *
 * PEL_DEBUG_ASSERT is for costly checks and only runs with
 * -DPELOTON_DEBUG_CHECKS=ON.
 */
#ifndef PEL_ASSERT_H
#define PEL_ASSERT_H

#include <stdnoreturn.h>

noreturn void pel_assert_fail(const char *expr, const char *file, int line, const char *func);

#define PEL_ASSERT(expr) ((expr) ? (void)0 : pel_assert_fail(#expr, __FILE__, __LINE__, __func__))

#ifdef PELOTON_DEBUG_CHECKS
#define PEL_DEBUG_ASSERT(expr) PEL_ASSERT(expr)
#else
#define PEL_DEBUG_ASSERT(expr) ((void)0)
#endif

#define PEL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
