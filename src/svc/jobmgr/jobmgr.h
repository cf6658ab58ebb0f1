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
 * tasks (Mesos task id, config, ports: hostmgr_seam.h) to hm.launch, whose
 * host manager builds the TaskInfos. The Mesos task id is
 * "<job>-<instance>-<run>", so a relaunch is a distinct Mesos task.
 *
 * STATUS UPDATES (jobmgr_on_status, any thread): an update for the task's
 * current run moves the task (persisting runtime and a TaskEvent in one
 * batch through group commit); from the batch's completion the update is
 * acknowledged to Mesos (hm.ack) and the resource manager is told. An
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
 * every task and the sweeper removes the job when it is terminal. A
 * terminal job is also removed cfg.retention_ns after it ended. Deleted
 * jobs leave the store at once and memory after a grace period (a caller
 * may hold a job pointer for the length of one call).
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
#include "hostmgr_seam.h"
#include "jobmgr_seam.h"
#include "placement_seam.h"
#include "resmgr_seam.h"
#include "store.h"

#define JOBMGR_CHUNK 10000

struct jobmgr_config {
	struct store *store; /* borrowed */
	/* the other roles, in process or apart (seams; copied): the resource
	 * manager (rm.came_back set: it runs apart), the host manager, and the
	 * placement engine's why-pending (pl.why NULL: none in process) */
	struct resmgr_ops rm;
	struct hostmgr_ops hm;
	struct placement_ops pl;
	uint32_t max_instances; /* per job; 0 = 100,000 */
	uint32_t launch_batch;  /* placements per GetPlacements; 0 = 64 */
	/* a launch Mesos says nothing about this long is reconciled (explicit
	 * RECONCILE, then at doubling intervals up to 10 minutes); 0 = 2 min */
	uint64_t reconcile_after_ns;
	/* a terminal job is removed (store and memory) this long after it
	 * ended; 0 = kept until deleted */
	uint64_t retention_ns;
	/* benchmark baseline: each status update is its own synced RocksDB
	 * write on the caller's thread instead of joining a commit group */
	bool write_each_update;
};

struct jobmgr;

struct jobmgr *jobmgr_create(const struct jobmgr_config *cfg);
/* Stops the launcher (if started) and frees. NULL ok. */
void jobmgr_destroy(struct jobmgr *jm);

/* Starts / stops the launcher and sweeper threads and the status updates
 * (hm.start_updates / stop_updates). */
int jobmgr_start(struct jobmgr *jm);
void jobmgr_stop(struct jobmgr *jm);

/* Loads jobs and tasks from the store; re-enqueues unlaunched tasks. 0 or -1. */
int jobmgr_recover(struct jobmgr *jm, size_t *jobs, size_t *tasks);

/* A Mesos status update (borrowed for the call); acknowledged with hm.ack. */
void jobmgr_on_status(struct jobmgr *jm, const Mesos__V1__TaskStatus *st);

/*
 * The same as the host manager's consumer (hostmgr_update_f; arg is the
 * job manager): with done, reporting to done(done_arg, handled) instead of
 * acknowledging — for a host manager that acknowledges what its consumer
 * reports handled. jobmgr_start hands it to hm.start_updates.
 */
void jobmgr_on_status_cb(void *jm, const Mesos__V1__TaskStatus *st, hostmgr_update_done_f done,
                         void *done_arg);

/* Mesos task ids + agent ids of launched, non-terminal tasks (reconciliation). */
void jobmgr_reconcile_list(struct jobmgr *jm, struct jobmgr_live *out);

/* The seam for the host manager in this process: jobmgr_reconcile_list. */
struct jobmgr_ops jobmgr_seam_ops(struct jobmgr *jm);

/*
 * Checks cfg as Create would; 0, or -1 with a message naming the field.
 */
int jobmgr_validate(struct jobmgr *jm, const Peloton__Api__Job__JobConfig *cfg, char *err,
                    size_t errlen);

/* GET /ui/data/job-states/<job>: {"states": one letter per instance, 'a'
 * + its task.proto TaskState} (100,000 instances in 100 KB); GET
 * /ui/data/job-config/<job>/<version>: that config version. True when url
 * is one of them, with status and a malloc'd JSON body. */
bool jobmgr_http(struct jobmgr *jm, const char *method, const char *url, unsigned *status,
                 char **out);

/* Tasks per Peloton task state over all jobs (for /metrics). */
void jobmgr_count_states(struct jobmgr *jm, uint64_t counts[16]);
void jobmgr_write_metrics(struct jobmgr *jm, FILE *f);

struct rpc_table;
/* Binds JobManager and TaskManager (v0) handlers into the method table. */
void jobmgr_bind(struct jobmgr *jm, struct rpc_table *t);

#endif
