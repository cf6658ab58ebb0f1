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
 * are still alive in the resource manager (or, through a backend's
 * host_task_count, every engine's tasks there), plus those placed earlier
 * in the same decision.
 */
#ifndef PLACEMENT_H
#define PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hostidx.h"
#include "place.h"
#include "resmgr.h"

/*
 * Where the engine's gangs and hosts come from. The default (a config
 * without one) is the resource manager and host index of this process
 * (cfg.rm, cfg.idx); placement_remote gives one reaching them over gRPC,
 * for an engine running in its own process (`pelotond --roles placement`).
 * Each function has the meaning of the resmgr_* / hostidx_* call it is
 * named after; `filter_pb` is the packed HostFilter the filter came from.
 */
struct placement_backend {
	size_t (*dequeue)(void *arg, size_t limit, uint64_t timeout_ns,
	                  struct resmgr_gang_out *out);
	size_t (*set_placements)(void *arg, const struct resmgr_placement *p, size_t n,
	                         enum resmgr_fail *fail);
	void (*return_tasks)(void *arg, const struct resmgr_gang_out *g);
	enum taskstate (*task_state)(void *arg, const char *task_id);
	/* TASK-kind constraints: the tasks on `host` carrying `label`
	 * ("key=value") as whoever sees every engine's placements counts them;
	 * 0 with *n, or -1 to let the engine count the live tasks it placed
	 * itself. May be NULL (the engine counts). */
	int (*host_task_count)(void *arg, const char *host, const char *label, uint32_t *n);
	int (*acquire)(void *arg, const struct hostmatch_filter *f, const void *filter_pb,
	               size_t pb_len, uint32_t max_hosts, enum hostidx_order order, uint64_t now_ns,
	               struct hostidx_acquire_out *out, const char **why);
	void (*release)(void *arg, struct hostidx_lease *lease);
	int (*consume_all)(void *arg, struct hostidx_lease *leases, size_t n,
	                   struct hostidx_offer_ids *out);
	void *arg;
};

struct placement_config {
	struct resmgr *rm;   /* with idx: the in-process backend */
	struct hostidx *idx; /* also placement_explain's view (NULL: no explain) */
	const struct placement_backend *backend; /* instead of rm and idx; copied */
	unsigned workers;                        /* threads for placement_start; 0 = 2 */
	size_t batch;                            /* gangs per DequeueGangs; 0 = 64 */
	uint64_t dequeue_timeout_ns;             /* 0 = 100 ms */
	enum place_strategy strategy;            /* default pack */
	uint32_t max_rounds;                     /* attempts before handing back; 0 = 3 */
	uint64_t backoff_ns;                     /* first retry delay; 0 = 100 ms, doubling */
	uint64_t (*now)(void *arg);              /* clock; NULL = CLOCK_MONOTONIC */
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
 * onto every task it enqueues, so setting it on the job is enough).
 */
#define PLACEMENT_STRATEGY_LABEL "peloton.placement.strategy"

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

#endif
