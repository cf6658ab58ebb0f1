/*
 * The resource manager in process (resmgr_local_ops, resmgr_seam.h): each
 * member calls the core (resmgr.h) or its pool tree (respool.h) directly.
 */
#include <stdio.h>

#include "resmgr.h"
#include "respool.h"

static size_t l_enqueue(void *arg, const char *pool_id, const struct resmgr_gang_spec *gangs,
                        size_t n, enum resmgr_fail *fail)
{
	return resmgr_enqueue_gangs(arg, pool_id, gangs, n, fail);
}

static enum resmgr_fail l_kill(void *arg, const char *task_id)
{
	return resmgr_kill(arg, task_id);
}

static enum resmgr_fail l_notify(void *arg, const char *task_id, enum taskevent ev)
{
	return resmgr_notify(arg, task_id, ev);
}

static enum taskstate l_task_state(void *arg, const char *task_id)
{
	return resmgr_task_state(arg, task_id);
}

static size_t l_get_placements(void *arg, size_t limit, uint64_t timeout_ns,
                               struct resmgr_placement_out *out)
{
	return resmgr_get_placements(arg, limit, timeout_ns, out);
}

static size_t l_get_preemptible(void *arg, char **ids, size_t max)
{
	return resmgr_get_preemptible(arg, ids, max);
}

static bool l_pool_is_leaf(void *arg, const char *id)
{
	return respool_is_leaf(resmgr_pools(arg), id);
}

static int l_pool_path(void *arg, const char *id, char *buf, size_t len)
{
	return respool_path(resmgr_pools(arg), id, buf, len);
}

static int l_pool_lookup(void *arg, const char *path, char *id, size_t id_len, char *err,
                         size_t errlen)
{
	struct respool_error e;
	if (respool_lookup(resmgr_pools(arg), path, id, id_len, &e) == 0)
		return 0;
	snprintf(err, errlen, "%s", e.msg);
	return -1;
}

static size_t l_dequeue(void *arg, size_t limit, uint64_t timeout_ns, struct resmgr_gang_out *out)
{
	return resmgr_dequeue_gangs(arg, RM_TYPE_UNKNOWN, limit, timeout_ns, out);
}

static size_t l_set_placements(void *arg, const struct resmgr_placement *p, size_t n,
                               enum resmgr_fail *fail)
{
	return resmgr_set_placements(arg, p, n, fail);
}

static void l_return_tasks(void *arg, const struct resmgr_gang_out *g)
{
	resmgr_return_tasks(arg, g->task_ids, g->n_tasks);
}

struct resmgr_ops resmgr_local_ops(struct resmgr *rm)
{
	return (struct resmgr_ops){.enqueue = l_enqueue,
	                           .kill = l_kill,
	                           .notify = l_notify,
	                           .task_state = l_task_state,
	                           .get_placements = l_get_placements,
	                           .get_preemptible = l_get_preemptible,
	                           .pool_is_leaf = l_pool_is_leaf,
	                           .pool_path = l_pool_path,
	                           .pool_lookup = l_pool_lookup,
	                           .dequeue = l_dequeue,
	                           .set_placements = l_set_placements,
	                           .return_tasks = l_return_tasks,
	                           .arg = rm};
}
