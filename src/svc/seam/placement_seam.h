/*
 * placement_seam: what the placement engine tells the other roles — why a
 * task waits for a host (the job manager's TaskInfo of a PENDING task
 * carries it). In process only: an engine apart keeps its records to
 * itself, and the job manager then says the task waits for a placement.
 */
#ifndef PLACEMENT_SEAM_H
#define PLACEMENT_SEAM_H

#include <stddef.h>

struct placement_ops {
	/* Why `task_id` is not placed yet, rendered ("0/50000 hosts: 41000
	 * insufficient resources, ...; last attempt 1.2 s ago") into buf: 0,
	 * or -1 when the engine has no record of it. */
	int (*why)(void *arg, const char *task_id, char *buf, size_t len);
	void *arg;
};

#endif
