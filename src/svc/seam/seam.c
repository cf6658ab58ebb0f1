/*
 * The seams' own types: names of resource kinds and refusals, and the
 * frees of what the seams hand out (whichever implementation made it).
 */
#include <stdlib.h>
#include <string.h>

#include "jobmgr_seam.h"
#include "resmgr_seam.h"

static const char *const kind_names[RES_N] = {"cpu", "memory", "disk", "gpu"};

const char *respool_kind_name(enum respool_kind k)
{
	return (unsigned)k < RES_N ? kind_names[k] : "unknown";
}

bool respool_kind_parse(const char *name, enum respool_kind *out)
{
	for (int k = 0; name && k < RES_N; k++) {
		if (strcmp(name, kind_names[k]) == 0) {
			*out = (enum respool_kind)k;
			return true;
		}
	}
	return false;
}

static const char *const fail_names[] = {
    [RM_OK] = "ok",
    [RM_ALREADY_EXISTS] = "task already exists",
    [RM_POOL_NOT_FOUND] = "resource pool not found",
    [RM_POOL_NOT_LEAF] = "resource pool is not a leaf",
    [RM_INVALID_TASK] = "invalid task",
    [RM_NOT_FOUND] = "task not found",
    [RM_INVALID_STATE] = "task is not in a state this call applies to",
    [RM_NO_MEMORY] = "out of memory",
};

const char *resmgr_fail_name(enum resmgr_fail f)
{
	return (unsigned)f <= RM_NO_MEMORY ? fail_names[f] : "unknown";
}

enum resmgr_fail resmgr_fail_parse(const char *name)
{
	for (int f = RM_ALREADY_EXISTS; f < RM_N_FAILS; f++)
		if (name && strcmp(name, fail_names[f]) == 0)
			return (enum resmgr_fail)f;
	return RM_INVALID_TASK;
}

void resmgr_gang_free(struct resmgr_gang_out *g)
{
	if (g == NULL)
		return;
	for (size_t i = 0; g->payloads && i < g->n_tasks; i++)
		free(g->payloads[i]);
	free(g->payloads);
	free(g->payload_lens);
	free(g->task_ids);
	*g = (struct resmgr_gang_out){0};
}

void resmgr_placement_free(struct resmgr_placement_out *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; p->task_ids && i < p->n_tasks; i++)
		free(p->task_ids[i]);
	free(p->task_ids);
	for (size_t i = 0; p->offer_ids && i < p->n_offer_ids; i++)
		free(p->offer_ids[i]);
	free(p->offer_ids);
	free(p->hostname);
	free(p->agent_id);
	free(p->ports);
	*p = (struct resmgr_placement_out){0};
}

void jobmgr_live_fini(struct jobmgr_live *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->task_ids[i]);
		free(l->agent_ids[i]);
	}
	free(l->task_ids);
	free(l->agent_ids);
	memset(l, 0, sizeof(*l));
}
