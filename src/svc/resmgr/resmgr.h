/*
 * resmgr: the resource manager core — gangs from PENDING through admission
 * to the ready queues, placements, launches, status updates, kills,
 * timeouts and preemption (resmgr.proto, resmgrsvc.proto).
 *
 * Data:
 *  - the task table (liburcu cds_lfht keyed by task id): every task the
 *    resource manager knows; its state word changes only through
 *    taskstate_cas (src/hot/taskstate.h), so invalid moves are refused;
 *  - per leaf pool, a pending queue in SchedulingPolicy PriorityFIFO order
 *    (higher priority first, FIFO within a priority), under the pool's
 *    mutex;
 *  - one ready queue (src/hot/gangq, lock-free) per TaskType, and one
 *    placements queue.
 *
 * Admission (resmgr_admit): for each leaf pool, while the head gang fits —
 * for every kind, allocation + gang <= entitlement, and for non-preemptible
 * tasks allocation_np + gang <= reservation — the whole gang moves
 * PENDING -> READY and into its type's ready queue; the first gang that
 * does not fit stops the pool (no overtaking inside a pool). A gang is
 * admitted whole or not at all.
 *
 * Timeouts are driven by resmgr_tick() from one timer structure (per timed
 * state, a list in order of entry, popped from the head: O(expired) per
 * tick), never a thread per task: PLACING longer than placing_ns goes
 * back to READY (its gang re-queued), LAUNCHING longer than launching_ns
 * back to PLACED (its placement re-queued).
 *
 * The clock is injected (cfg.now), so tests run timeouts without sleeping.
 * Threads calling in must be registered with liburcu.
 */
#ifndef RESMGR_H
#define RESMGR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "resmgr_seam.h"
#include "respool.h"
#include "taskstate.h"

struct resmgr_config {
	struct respool_tree *pools;    /* borrowed; outlives the resource manager */
	uint64_t placing_timeout_ns;   /* 0 = 10 min */
	uint64_t launching_timeout_ns; /* 0 = 20 min */
	uint32_t preempt_periods;      /* over-entitled periods before preempting; 0 = 5 */
	uint32_t queue_capacity;       /* per ready queue; 0 = 65536 gangs */
	uint64_t (*now)(void *arg);    /* clock; NULL = CLOCK_MONOTONIC */
	void *now_arg;
};

struct resmgr;

struct resmgr *resmgr_create(const struct resmgr_config *cfg);
void resmgr_destroy(struct resmgr *rm);

/* The pool tree it was created with. */
struct respool_tree *resmgr_pools(struct resmgr *rm);

/*
 * EnqueueGangs: each gang's tasks enter PENDING in `pool_id` (a leaf).
 * A gang with any refused task is refused whole: fail[g] gets the first
 * reason (caller's array of n entries; may be NULL). Returns the number of
 * gangs accepted. Tasks already known (not terminal) are RM_ALREADY_EXISTS.
 */
size_t resmgr_enqueue_gangs(struct resmgr *rm, const char *pool_id,
                            const struct resmgr_gang_spec *gangs, size_t n, enum resmgr_fail *fail);

/* Runs admission over every leaf pool; returns the number of tasks admitted. */
size_t resmgr_admit(struct resmgr *rm);

/* Recomputes entitlement from capacity and runs admission. */
size_t resmgr_entitle(struct resmgr *rm, const double capacity[RES_N]);

/*
 * DequeueGangs: up to `limit` gangs of `type` (UNKNOWN: any), waiting up to
 * timeout_ns when none is ready; tasks move READY -> PLACING. Tasks killed
 * meanwhile are skipped (a gang left with none is dropped). Returns how
 * many were written to out[] (free each with resmgr_gang_free).
 */
size_t resmgr_dequeue_gangs(struct resmgr *rm, enum resmgr_task_type type, size_t limit,
                            uint64_t timeout_ns, struct resmgr_gang_out *out);

/*
 * Hands PLACING tasks back (the placement engine gave up after its
 * retries): each task's whole gang goes PLACING -> READY and back into its
 * ready queue. Returns the number of tasks moved.
 */
size_t resmgr_return_tasks(struct resmgr *rm, const char *const *task_ids, size_t n);

/*
 * SetPlacements: each placement's tasks PLACING -> PLACED, then the
 * placement joins the placements queue. A placement with a task not in
 * PLACING is refused whole (fail[i]). Returns placements accepted.
 */
size_t resmgr_set_placements(struct resmgr *rm, const struct resmgr_placement *p, size_t n,
                             enum resmgr_fail *fail);

/*
 * GetPlacements: up to `limit`, waiting up to timeout_ns; tasks PLACED ->
 * LAUNCHING. Tasks killed meanwhile are dropped from the placement.
 */
size_t resmgr_get_placements(struct resmgr *rm, size_t limit, uint64_t timeout_ns,
                             struct resmgr_placement_out *out);

/*
 * NotifyTaskUpdates: applies a task event (LAUNCHED, STARTING, RUNNING,
 * terminal ones). Terminal states release the task's allocation and
 * demand. Returns RM_OK, RM_NOT_FOUND or RM_INVALID_STATE (stale or
 * duplicate update: nothing changes).
 */
enum resmgr_fail resmgr_notify(struct resmgr *rm, const char *task_id, enum taskevent ev);

/* The schedule (READY -> PLACED) and launch (PLACED -> RUNNING) latency
 * histograms and the preemptions per pool, in Prometheus's text format. */
void resmgr_write_latency(struct resmgr *rm, FILE *f);

/* KillTasks: RM_OK, RM_NOT_FOUND or RM_INVALID_STATE (already terminal). An
 * ended STATEFUL task still holding its reservation's charge (its runs
 * keep it: task type RM_TYPE_STATEFUL) lets it go: RM_OK. */
enum resmgr_fail resmgr_kill(struct resmgr *rm, const char *task_id);

/* Timeouts (see above); returns how many tasks moved. */
size_t resmgr_tick(struct resmgr *rm);

/*
 * Preemption period: a leaf pool whose allocation exceeds its entitlement
 * (any kind) for preempt_periods consecutive calls gets enough of its
 * running preemptible tasks, lowest priority first then most recently
 * started, moved RUNNING -> PREEMPTING to cover the excess. Returns how
 * many; fetch them with resmgr_get_preemptible.
 */
size_t resmgr_preempt_tick(struct resmgr *rm);
size_t resmgr_get_preemptible(struct resmgr *rm, char **ids, size_t max);

/* A read-only view of one task, valid during a resmgr_foreach_task callback. */
struct resmgr_task_view {
	const char *id, *job_id, *pool_id;
	const char *hostname; /* set from its placement; NULL before */
	enum taskstate state;
	uint64_t age_ns; /* how long it has been in that state */
	enum resmgr_task_type type;
	const void *payload;
	size_t payload_len;
};

/* Calls cb for every known task (GetActiveTasks, GetTasksByHosts). */
void resmgr_foreach_task(struct resmgr *rm, void (*cb)(const struct resmgr_task_view *, void *),
                         void *arg);

/* A malloc'd copy of a task's payload (*len set), or NULL if unknown/none. */
void *resmgr_task_payload(struct resmgr *rm, const char *task_id, size_t *len);

/*
 * The periodic driver: one thread that every admit_ms runs admission and
 * the timeouts; every entitle_ms (and sooner when the cluster capacity or
 * the total demand moved by more than 10% since the last computation)
 * recomputes entitlement from capacity(); every preempt_ms runs a
 * preemption period. Zero periods take the defaults (100 ms, 10 s, 60 s).
 */
struct resmgr_driver_config {
	uint32_t admit_ms, entitle_ms, preempt_ms;
	void (*capacity)(void *arg, double out[RES_N]); /* e.g. from the host index */
	void *capacity_arg;
};

/* Starts the driver thread; 0, or -1 with errno. One driver per resmgr. */
int resmgr_start(struct resmgr *rm, const struct resmgr_driver_config *cfg);

/* Stops and joins the driver (no-op if not started). */
void resmgr_stop(struct resmgr *rm);

/* State of a task (TASK_UNKNOWN if not known). */
enum taskstate resmgr_task_state(struct resmgr *rm, const char *task_id);

/* Tasks per state (GetActiveTasks summary): counts[TASK_N_STATES]. */
void resmgr_count_states(struct resmgr *rm, size_t counts[TASK_N_STATES]);

#endif
