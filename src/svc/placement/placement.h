/*
 * placement: the placement engine — worker threads that turn READY gangs
 * into placements.
 *
 * A round (placement_round): DequeueGangs from the resource manager → each
 * task's resmgr.Task (its payload) becomes a HostFilter (resources, ports,
 * constraint) → tasks of single-task gangs are grouped by identical filter
 * → per group one hostidx_acquire with maxHosts = group size → the pure
 * decision (src/hot/place) assigns tasks and ports → every host that got
 * tasks has its offers consumed (the placement carries the offer ids for
 * the ACCEPT; Mesos re-offers the unused remainder) and the rest are
 * released → SetPlacements. A multi-task gang is placed whole or not at
 * all: its groups are acquired and decided together and, if any task does
 * not fit, every host it claimed is released untouched.
 *
 * Tasks that did not fit wait with exponential backoff (backoff, 2x, 4x,
 * ...) and are retried by later rounds; after max_rounds attempts they go
 * back to the resource manager (PLACING -> READY). For each, the engine
 * keeps the attempts, the last attempt time and the per-reason host counts
 * of its last attempt (placement_why).
 *
 * TASK-kind constraints count the tasks this engine placed on a host that
 * are still alive in the resource manager (or, through the resource
 * manager's host_task_count when it runs apart, every engine's tasks
 * there), plus those placed earlier in the same decision.
 *
 * The engine reaches the resource manager and the host manager's index
 * through their seams (resmgr_seam.h, hostmgr_seam.h), so one engine runs
 * beside them in the daemon or in a process of its own
 * (`pelotond --roles placement`), unchanged.
 */
#ifndef PLACEMENT_H
#define PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <stdio.h>

#include "hostidx.h"
#include "hostmgr_seam.h"
#include "place.h"
#include "placement_seam.h"
#include "resmgr_seam.h"

struct placement_config {
	/* where gangs and hosts come from: the resource manager and the host
	 * manager's index, in process or apart (the seams; copied) */
	struct resmgr_ops rm;
	struct hostmgr_index_ops hosts;
	struct hostidx *idx;          /* placement_explain's view (NULL: no explain) */
	unsigned workers;             /* threads for placement_start; 0 = 2 */
	size_t batch;                 /* gangs per DequeueGangs; 0 = 64 */
	uint64_t dequeue_timeout_ns;  /* 0 = 100 ms */
	enum place_strategy strategy; /* default pack */
	uint32_t max_rounds;          /* attempts before handing back; 0 = 3 */
	uint64_t backoff_ns;          /* first retry delay; 0 = 100 ms, doubling */
	uint64_t (*now)(void *arg);   /* clock; NULL = CLOCK_MONOTONIC */
	void *now_arg;
	/* called for every task placed (benchmarks measure latency); may be NULL */
	void (*on_placed)(void *arg, const char *task_id);
	void *on_placed_arg;
};

/* Extra reasons beside HostFilterResult's. */
enum placement_reason {
	PLREASON_GANG_INCOMPLETE = HOSTMATCH_N_RESULTS, /* other tasks of the gang did not fit */
	PLREASON_BAD_TASK,                              /* the task's filter is invalid */
	PLREASON_N,
};

/* Why a task is not placed yet. */
struct placement_why {
	uint32_t attempts;
	uint64_t last_attempt_ns;
	uint32_t counts[PLREASON_N]; /* hosts per HostFilterResult, plus own reasons */
	bool handed_back;            /* returned to the resource manager */
};

struct placement;

struct placement *placement_create(const struct placement_config *cfg);
void placement_destroy(struct placement *pl);

/* Starts / stops the worker threads (stop also returns held retries). */
int placement_start(struct placement *pl);
void placement_stop(struct placement *pl);

/* One round on the calling thread (tests); returns tasks placed. */
size_t placement_round(struct placement *pl);

/* Why `task_id` is not placed: 0 and *out, or -1 if nothing is known. */
int placement_why(struct placement *pl, const char *task_id, struct placement_why *out);

/*
 * Tasks not placed yet (attempted at least once) by the main reason of
 * their last attempt (the reason most hosts gave), for the metric
 * peloton_unplaceable_tasks{reason}. A task killed while waiting keeps its
 * record until the engine next sees it, so the counts can lag a kill.
 */
void placement_unplaceable(struct placement *pl, uint64_t out[PLREASON_N]);
/* "insufficient_resources", "constraint_mismatch", ... (metric labels). */
const char *placement_reason_name(int reason);

/* Renders *w as "0/50000 hosts: 41000 insufficient resources, ..." into buf. */
void placement_why_render(const struct placement_why *w, char *buf, size_t len);

/*
 * Per-job strategy: a task whose labels carry
 * `peloton.placement.strategy` = `pack` or `spread` is placed with that
 * strategy instead of the engine's (the job manager copies JobConfig.labels
 * onto every task it enqueues, so setting it on the job is enough, and
 * turns JobConfig.placementStrategy into this label).
 */
#define PLACEMENT_STRATEGY_LABEL RESMGR_STRATEGY_LABEL

/*
 * Dry run: where `count` tasks of one shape (a packed resmgr.Task: resource,
 * numPorts, constraint, labels) would go now and why not, read-only over
 * the index (nothing is claimed, no offer is spent). Hosts held by a
 * running placement count as "held by another placement". The decision is
 * the engine's (strategy, ports, TASK-kind constraints against tasks this
 * engine placed); it sees the whole cluster at once, where the engine sees
 * the hosts one acquire returns, so the two can pick different hosts of
 * equal fitness.
 */
struct placement_slot {
	char *hostname;
	uint32_t *ports; /* num_ports of them */
};
struct placement_explain {
	uint32_t requested, placed, num_ports;
	enum place_strategy strategy;
	uint32_t counts[PLREASON_N];  /* per live host (see placement_why_render) */
	struct placement_slot *slots; /* placed of them */
};
/* 0 and *out (free with _fini), or -1 with a message in err (bad task, ENOMEM). */
int placement_explain(struct placement *pl, const void *task, size_t len, uint32_t count,
                      struct placement_explain *out, char *err, size_t errlen);
void placement_explain_fini(struct placement_explain *e);

struct placement_stats {
	uint64_t rounds, placed, retried, handed_back, acquired_hosts;
};
void placement_get_stats(struct placement *pl, struct placement_stats *out);

/* Prometheus text: unplaceable tasks by reason, rounds, tasks placed. */
void placement_write_metrics(struct placement *pl, FILE *f);

/* The seam for the job manager: why a task is not placed (rendered). */
struct placement_ops placement_seam_ops(struct placement *pl);

/*
 * POST /placement/explain, body {"task": <resmgr.Task as JSON>, "count": N}:
 * placement_explain as JSON. False when url is another path (not ours);
 * else true with *status and *out (malloc'd JSON; caller frees). pl NULL:
 * 404, no engine in this process.
 */
bool placement_http(struct placement *pl, const char *method, const char *url, const uint8_t *body,
                    size_t len, unsigned *status, char **out);

#endif
