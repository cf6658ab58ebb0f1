/*
 * jobmgr: the job manager — jobs and their tasks from Create to a terminal
 * state, in memory and durable in the store.
 *
 * CREATE validates the JobConfig (see jobmgr_validate), persists the config,
 * the job runtime and every task runtime (PENDING) in chunks of
 * JOBMGR_CHUNK tasks per batch, then hands the tasks to the resource
 * manager as gangs (minimumRunningInstances > 1 makes gangs of that size,
 * otherwise one task per gang).
 *
 * LAUNCH: a launcher thread takes placements (resmgr_get_placements, up
 * to launch_batch at a time), writes each task's intent — LAUNCHING with
 * its host, agent, ports and a new run number — all of the batch in one
 * store batch, and waits for it to be durable; only then gives the
 * tasks (Mesos task id, config, ports: launchable.h) to ops.launch, whose
 * host manager builds the TaskInfos. The Mesos task id is
 * "<job>-<instance>-<run>", so a relaunch is a distinct Mesos task.
 *
 * STATUS UPDATES (jobmgr_on_status, any thread): an update for the task's
 * current run moves the task (persisting runtime and a TaskEvent in one
 * batch through group commit); from the batch's completion the update is
 * acknowledged to Mesos (ops.ack) and the resource manager is told. An
 * update for an older run, or repeating the current state, changes nothing
 * and is acknowledged. FAILED tasks are relaunched while failureCount <=
 * restartPolicy.maxFailures, after a backoff of 1 s, 2 s, 4 s ... (60 s at
 * most); LOST tasks are relaunched at once.
 *
 * A sweeper thread (every 200 ms) enqueues relaunches whose backoff ended,
 * resends kills every 10 s until Mesos reports a terminal state, and kills
 * tasks running longer than sla.maxRunningTime. A task launched (or
 * recovered as launched) that has heard nothing from Mesos for 2 min is
 * reconciled explicitly, again after 4, 8 ... (10 min at most) minutes,
 * until an update for its run arrives. Tasks the resource manager preempts
 * are killed and, unless preemptionPolicy.killOnPreempt, launched again as
 * a new run (reason PREEMPTED). An update from an older run that is
 * still alive (an orphan) gets that run killed.
 *
 * RESTART (TaskManager.Restart) kills a running task's current run and
 * launches a new one once Mesos reports the kill (no failure counted).
 * DELETE of a terminal job removes it at once; of a live job it stops
 * every task and the sweeper removes the job when it is terminal. Deleted
 * jobs leave the store; their memory is kept until the manager is
 * destroyed.
 *
 * RECOVERY (jobmgr_recover): jobs and tasks come back from the store;
 * tasks never launched are enqueued again; launched ones wait for Mesos
 * reconciliation (jobmgr_reconcile_list gives their Mesos ids).
 *
 * Locks: the job table's rwlock, then one job's mutex; the resource
 * manager and the store are called with a job mutex held, never the reverse.
 */
#ifndef JOBMGR_H
#define JOBMGR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mesos/v1/mesos.pb-c.h"
#include "peloton/api/job/job.pb-c.h"
#include "launchable.h"
#include "resmgr.h"
#include "respool.h"
#include "store.h"

#define JOBMGR_CHUNK 10000

struct jobmgr_ops {
	/* launch tasks on one agent with its offers (the host manager builds
	 * the TaskInfos; one ACCEPT); no offer ids: the placement was made
	 * apart, spend the lease held on hostname */
	int (*launch)(void *arg, const char *hostname, const char *agent_id,
	              const char *const *offer_ids, size_t n_offers, const struct launchable *tasks,
	              size_t n_tasks);
	/* KILL of a Mesos task (agent_id may be ignored) */
	int (*kill)(void *arg, const char *mesos_task_id, const char *agent_id);
	/* ACKNOWLEDGE an update (called once it is durable) */
	int (*ack)(void *arg, const Mesos__V1__TaskStatus *st);
	/* a task's sandbox listing from its agent's files endpoint: host and port
	 * written, *paths malloc'd (each and the array); 0, or -1 with err.
	 * May be NULL (BrowseSandbox then answers failure). */
	int (*browse)(void *arg, const char *agent_id, const char *mesos_task_id, char *host,
	              size_t hlen, char *port, size_t plen, char ***paths, size_t *n, char *err,
	              size_t errlen);
	/* explicit RECONCILE of one task (may be NULL) */
	int (*reconcile)(void *arg, const char *mesos_task_id, const char *agent_id);
	void *arg;
};

/*
 * The resource manager and the pool tree as the job manager reaches them
 * (the calls of resmgr.h and respool.h it makes): in process by default,
 * from cfg.rm and cfg.pools; a job manager running apart from the resource
 * manager would give an implementation over its gRPC services.
 */
struct jobmgr_rm {
	size_t (*enqueue)(void *arg, const char *pool_id, const struct resmgr_gang_spec *gangs,
	                  size_t n, enum resmgr_fail *fail);
	enum resmgr_fail (*kill)(void *arg, const char *task_id);
	enum resmgr_fail (*notify)(void *arg, const char *task_id, enum taskevent ev);
	enum taskstate (*task_state)(void *arg, const char *task_id);
	size_t (*get_placements)(void *arg, size_t limit, uint64_t timeout_ns,
	                         struct resmgr_placement_out *out);
	size_t (*get_preemptible)(void *arg, char **ids, size_t max);
	bool (*pool_is_leaf)(void *arg, const char *id);
	int (*pool_path)(void *arg, const char *id, char *buf, size_t len);
	int (*pool_lookup)(void *arg, const char *path, char *id, size_t id_len,
	                   struct respool_error *err);
	/* true once each time the resource manager answers after not
	 * answering (it may have restarted and lost its queues); may be NULL */
	bool (*came_back)(void *arg);
	void *arg;
};

struct placement;

struct jobmgr_config {
	struct store *store; /* borrowed */
	/* the in-process resource manager and pools, used when rmops.enqueue
	 * is NULL (then both are required) */
	struct resmgr *rm;
	struct respool_tree *pools;
	struct jobmgr_rm rmops;
	struct placement *pl; /* why-pending of tasks waiting for a host; may be NULL */
	struct jobmgr_ops ops;
	uint32_t max_instances; /* per job; 0 = 100,000 */
	uint32_t launch_batch;  /* placements per GetPlacements; 0 = 64 */
	/* a launch Mesos says nothing about this long is reconciled (explicit
	 * RECONCILE, then at doubling intervals up to 10 minutes); 0 = 2 min */
	uint64_t reconcile_after_ns;
	/* benchmark baseline: each status update is its own synced RocksDB
	 * write on the caller's thread instead of joining a commit group */
	bool write_each_update;
};

struct jobmgr;

struct jobmgr *jobmgr_create(const struct jobmgr_config *cfg);
/* Stops the launcher (if started) and frees. NULL ok. */
void jobmgr_destroy(struct jobmgr *jm);

/* Starts / stops the launcher thread. */
int jobmgr_start(struct jobmgr *jm);
void jobmgr_stop(struct jobmgr *jm);

/* Loads jobs and tasks from the store; re-enqueues unlaunched tasks. 0 or -1. */
int jobmgr_recover(struct jobmgr *jm, size_t *jobs, size_t *tasks);

/* A Mesos status update (borrowed for the call); acknowledged with ops.ack. */
void jobmgr_on_status(struct jobmgr *jm, const Mesos__V1__TaskStatus *st);

/*
 * Called once per update given to jobmgr_on_status_cb, on any thread:
 * handled true once it may be acknowledged (applied and durable, or
 * nothing to change), false when it must come again (not persisted).
 */
typedef void (*jobmgr_status_done_f)(void *arg, bool handled);

/* The same, reporting to done instead of acknowledging (ops.ack unused):
 * for a consumer whose host manager acknowledges what it reports handled. */
void jobmgr_on_status_cb(struct jobmgr *jm, const Mesos__V1__TaskStatus *st,
                         jobmgr_status_done_f done, void *arg);

/* Mesos task ids + agent ids of launched, non-terminal tasks (reconciliation). */
struct jobmgr_live {
	char **task_ids, **agent_ids;
	size_t n;
};
void jobmgr_reconcile_list(struct jobmgr *jm, struct jobmgr_live *out);
void jobmgr_live_fini(struct jobmgr_live *l);

/*
 * Checks cfg as Create would; 0, or -1 with a message naming the field.
 */
int jobmgr_validate(struct jobmgr *jm, const Peloton__Api__Job__JobConfig *cfg, char *err,
                    size_t errlen);

/* Tasks per Peloton task state over all jobs (for /metrics). */
void jobmgr_count_states(struct jobmgr *jm, uint64_t counts[16]);
void jobmgr_write_metrics(struct jobmgr *jm, FILE *f);

struct rpc_table;
/* Binds JobManager and TaskManager (v0) handlers into the method table. */
void jobmgr_bind(struct jobmgr *jm, struct rpc_table *t);

#endif
