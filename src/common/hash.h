/* FNV-1a, 64-bit: the string hash behind the project's chained tables. */
#ifndef PEL_HASH_H
#define PEL_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t pel_fnv1a(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

static inline uint64_t pel_fnv1a_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

#endif
