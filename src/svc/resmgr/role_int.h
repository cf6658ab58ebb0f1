/* The resource manager role's insides, shared by role.c and server.c. */
#ifndef RESMGR_ROLE_INT_H
#define RESMGR_ROLE_INT_H

#include "resmgr.h"
#include "resmgr_role.h"
#include "peloton/api/respool/respool.pb-c.h"
#include "respool.h"
#include "taskqueuesvc.h"

struct resmgr_role {
	struct resmgr_role_config cfg;
	struct respool_tree *pools;
	struct resmgr *rm;
	struct taskqueue *tq;
	bool started;
};

struct rpc_table;

/* A pool's config written to the store under its id (NULL: deleted). */
void resmgr_role__persist_pool(struct resmgr_role *r, const char *id,
                               const Peloton__Api__Respool__ResourcePoolConfig *cfg);

/* ResourcePoolService (poolsvc.c) on the RPC table. */
void resmgr_role__poolsvc_bind(struct resmgr_role *r, struct rpc_table *t);

#endif
