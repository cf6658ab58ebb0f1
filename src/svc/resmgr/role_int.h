/* The resource manager role's insides, shared by role.c and server.c. */
#ifndef RESMGR_ROLE_INT_H
#define RESMGR_ROLE_INT_H

#include "resmgr.h"
#include "resmgr_role.h"
#include "respool.h"
#include "taskqueuesvc.h"

struct resmgr_role {
	struct resmgr_role_config cfg;
	struct respool_tree *pools;
	struct resmgr *rm;
	struct taskqueue *tq;
	bool started;
};

#endif
