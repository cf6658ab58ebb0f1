/*
 * jobmgr_remote: the job manager's resource manager (struct jobmgr_rm)
 * over gRPC — the private ResourceManagerService (EnqueueGangs, KillTasks,
 * NotifyTaskUpdates, GetActiveTasks, GetPlacements, GetPreemptibleTasks)
 * and the v0 respool ResourceManager (GetResourcePool,
 * LookupResourcePoolID) of a daemon running the resource manager.
 *
 * Failures: a call that cannot be made counts as refused — an enqueue's
 * gangs fail with RM_NO_MEMORY ("internal"), a kill or notify returns
 * RM_NOT_FOUND, a task's state is TASK_UNKNOWN, no placements, no pools —
 * and is logged (an unreachable daemon once until it answers again).
 * Status notifications are queued (notify returns RM_OK once queued) and
 * a thread of their own sends them in order, up to 1,000 per
 * NotifyTaskUpdates; while the resource manager does not answer they wait
 * and are tried again every second (up to 2^20 queued; newer ones are
 * then dropped, counted and logged). Thread-safe; calls on one connection
 * take turns, and the long polls (GetPlacements, GetPreemptibleTasks) and
 * the notifier have connections of their own. An enqueue waits (up to
 * 5 s) for the notifications queued before it, so a relaunch's "lost"
 * reaches the resource manager before the task is enqueued again. A
 * task's state comes from its job's active tasks (GetActiveTasks has no
 * task filter), a snapshot reused for 1 s and dropped when this client
 * kills or enqueues tasks of that job. After an
 * outage the first answer sets came_back: the job manager then enqueues
 * every waiting task again (a restarted resource manager has lost its
 * queues; one that kept them refuses the duplicates).
 */
#ifndef JOBMGR_REMOTE_H
#define JOBMGR_REMOTE_H

#include "jobmgr.h"

struct jmremote;

/* target: "host:port" of the resource manager's gRPC server. NULL on ENOMEM. */
struct jmremote *jmremote_create(const char *target);
void jmremote_destroy(struct jmremote *r);

/* The jobmgr_rm calls over r (r outlives the job manager using them). */
struct jobmgr_rm jmremote_ops(struct jmremote *r);

/* Calls made and calls failed so far (metrics). */
void jmremote_counts(struct jmremote *r, uint64_t *calls, uint64_t *failed);

#endif
