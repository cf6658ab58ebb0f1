/*
 * hist: a latency histogram for /metrics — fixed buckets from 0.5 ms to
 * 30 s (and +Inf), relaxed atomic counters, so any thread may add while
 * another writes it out in Prometheus's text format.
 */
#ifndef HIST_H
#define HIST_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#define HIST_N 16 /* buckets: HIST_N - 1 bounds, then +Inf */

struct hist {
	_Atomic uint64_t b[HIST_N];
	_Atomic uint64_t sum_ns;
};

/* Adds one observation of ns nanoseconds. */
void hist_add_ns(struct hist *h, uint64_t ns);

/*
 * Writes the series of name (a histogram in seconds) with labels (""
 * or `k="v",...` without braces): the _bucket lines, _sum and _count. The
 * caller writes HELP and TYPE once per family.
 */
void hist_write(struct hist *h, FILE *f, const char *name, const char *labels);

#endif
