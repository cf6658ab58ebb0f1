/*
 * clock: the two clocks the code reads, in nanoseconds. CLOCK_MONOTONIC for
 * intervals, timeouts and deadlines; CLOCK_REALTIME for timestamps that
 * leave the process (RFC 3339 times, stored event times).
 *
 * Timed waits on a condition variable go through clock_cond_init and
 * clock_cond_wait: the variable measures on CLOCK_MONOTONIC
 * (pthread_condattr_setclock), so a wall-clock step (NTP, an operator's
 * date) neither cuts a wait short nor stretches it.
 */
#ifndef CLOCK_H
#define CLOCK_H

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

static inline uint64_t clock_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t clock_wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Initialises cv to time its waits on CLOCK_MONOTONIC. 0 or an errno. */
static inline int clock_cond_init(pthread_cond_t *cv)
{
	pthread_condattr_t a;
	int rc = pthread_condattr_init(&a);
	if (rc == 0)
		rc = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(cv, &a);
	pthread_condattr_destroy(&a);
	return rc;
}

/*
 * Waits on cv (made by clock_cond_init; mu held) until signalled or
 * `deadline_ns` on clock_mono_ns() passed: 0, or ETIMEDOUT. Spurious
 * wake-ups return 0 as pthread_cond_timedwait's do: callers loop on their
 * predicate.
 */
static inline int clock_cond_wait(pthread_cond_t *cv, pthread_mutex_t *mu, uint64_t deadline_ns)
{
	struct timespec ts = {(time_t)(deadline_ns / 1000000000ull),
	                      (long)(deadline_ns % 1000000000ull)};
	int rc = pthread_cond_timedwait(cv, mu, &ts);
	return rc == ETIMEDOUT ? ETIMEDOUT : 0;
}

#endif
