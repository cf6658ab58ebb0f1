/*
 * launchwatch: the tasks a host manager launched for a job manager in
 * another process, until Mesos first says anything about them. Such a
 * job manager cannot ask for one task's explicit reconciliation (the
 * InternalHostService has no such call), so the host manager does it: a
 * launch Mesos stays silent about for `after_ns` is reconciled explicitly,
 * again after twice as long each time (10 minutes at most), until an
 * update for it arrives; on every SUBSCRIBED all watched tasks are
 * reconciled. A launch Mesos never acted on then comes back as TASK_LOST
 * (or DROPPED), and the job manager launches it again.
 *
 * Bounded (`max` tasks; launches past it are not watched, counted); kept
 * in memory only (a host manager restarted relies on implicit
 * reconciliation). Thread-safe (one mutex).
 */
#ifndef LAUNCHWATCH_H
#define LAUNCHWATCH_H

#include <stddef.h>
#include <stdint.h>

struct launchwatch;

/* NULL on ENOMEM. after_ns 0: 2 minutes; max 0: 2^20. */
struct launchwatch *launchwatch_new(uint64_t after_ns, size_t max);
void launchwatch_free(struct launchwatch *w);

/* Watches a launched task (its Mesos id, the agent's); a watched one is renewed. */
void launchwatch_add(struct launchwatch *w, const char *task_id, const char *agent_id,
                     uint64_t now_ns);
/* An update for the task arrived: no longer watched. */
void launchwatch_seen(struct launchwatch *w, const char *task_id);

/* Called with each task due (all of them when `all`): ids borrowed for the call. */
typedef void (*launchwatch_f)(void *arg, const char *task_id, const char *agent_id);
/* The tasks due at now (their next time doubled), or every task; how many. */
size_t launchwatch_due(struct launchwatch *w, uint64_t now_ns, int all, launchwatch_f fn,
                       void *arg);

size_t launchwatch_size(struct launchwatch *w);
uint64_t launchwatch_dropped(struct launchwatch *w);

#endif
