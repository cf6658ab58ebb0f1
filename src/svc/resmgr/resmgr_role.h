/*
 * resmgr_role: the resource manager role as a daemon runs it — the pool
 * tree (recovered from the store, every change persisted), the core and its
 * driver thread (admission, entitlement from the host manager's capacity,
 * timeouts, preemption), the legacy TaskQueue, and the services bound into
 * the method table: ResourceManagerService (private), the v0
 * ResourceManager (pools) and TaskQueue. The wiring in src/main creates
 * one per process that runs the role.
 */
#ifndef RESMGR_ROLE_H
#define RESMGR_ROLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hostmgr_seam.h"
#include "resmgr_seam.h"

struct store;
struct rpc_table;

struct resmgr_role_config {
	struct store *store;         /* borrowed; pools are recovered from and written to it */
	uint64_t placing_timeout_ns; /* 0 = 10 min */
	uint32_t preempt_ms;         /* preemption period; 0 = 60 s */
	/* the host manager, for the cluster's capacity (hm.index.capacity) and, when
	 * spend_leases, for SetPlacements: a placement naming hosts without
	 * offer ids (an engine apart leased them) has the leases spent here
	 * and their offer ids filled in — only where the host index and the
	 * launcher share this process; otherwise placements pass through and
	 * the launcher spends the leases by hostname */
	struct hostmgr_ops hm;
	bool spend_leases;
};

struct resmgr_role;

/* Creates the pool tree (recovering the stored pools, logged) and the core.
 * NULL with a message in err. */
struct resmgr_role *resmgr_role_create(const struct resmgr_role_config *cfg, char *err,
                                       size_t errlen);
/* Stops the driver if running, then frees. NULL ok. */
void resmgr_role_destroy(struct resmgr_role *r);

/* Starts / stops the driver thread. 0 or -1. */
int resmgr_role_start(struct resmgr_role *r);
void resmgr_role_stop(struct resmgr_role *r);

/* The seam over this role, in process. */
struct resmgr_ops resmgr_role_ops(struct resmgr_role *r);

/* Binds ResourceManagerService, the v0 ResourceManager and TaskQueue. */
void resmgr_role_bind(struct resmgr_role *r, struct rpc_table *t);

/* Prometheus text: tasks waiting per leaf pool (pending, ready). */
void resmgr_role_write_metrics(struct resmgr_role *r, FILE *f);

/* GET /ui/data/pools: the pool tree root first, each pool with its path,
 * depth, tasks waiting (PENDING or READY) and per resource kind its reservation,
 * limit, entitlement, allocation and demand. True when url is that route,
 * with status and a malloc'd JSON body. */
bool resmgr_role_http(struct resmgr_role *r, const char *method, const char *url, unsigned *status,
                      char **out);

#endif
