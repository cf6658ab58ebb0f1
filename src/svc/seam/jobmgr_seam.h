/*
 * jobmgr_seam: what the job manager tells the host manager in its process
 * — the launched tasks to reconcile explicitly after each SUBSCRIBED. A
 * host manager without one (the job manager apart) reconciles implicitly
 * and watches the launches it made itself (launchwatch.h).
 */
#ifndef JOBMGR_SEAM_H
#define JOBMGR_SEAM_H

#include <stddef.h>

/* Mesos task ids + agent ids of launched, non-terminal tasks (malloc'd). */
struct jobmgr_live {
	char **task_ids, **agent_ids;
	size_t n;
};
void jobmgr_live_fini(struct jobmgr_live *l);

struct jobmgr_ops {
	void (*live_tasks)(void *arg, struct jobmgr_live *out);
	void *arg;
};

#endif
