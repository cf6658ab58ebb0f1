/*
 * resmgr_seam: the resource manager as the other roles reach it.
 *
 * The job manager enqueues gangs, kills, reports task events, takes the
 * placements to launch and the tasks chosen for preemption, and asks about
 * pools; placement engines dequeue gangs, set placements and hand gangs
 * back. Every call is a member of struct resmgr_ops, so a caller does not
 * know where the resource manager runs. Two implementations:
 *
 *   resmgr_local_ops   in process, over the core and the pool tree
 *                      (resmgr/local.c);
 *   resmgr_client      over gRPC: ResourceManagerService and the v0 pool
 *                      service of a daemon running the resource manager
 *                      (resmgr/client.c).
 *
 * The server side binds the same calls to those services (resmgr/server.c).
 * The types here are the seam's vocabulary: the core (resmgr.h) takes and
 * gives them too.
 */
#ifndef RESMGR_SEAM_H
#define RESMGR_SEAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "taskstate.h"

/* Resource kinds, in respool.proto's order of ResourceConfig.kind names. */
enum respool_kind {
	RES_CPU = 0,
	RES_MEMORY = 1,
	RES_DISK = 2,
	RES_GPU = 3,
	RES_N = 4,
};

/* "cpu", "memory", "disk", "gpu" (respool.proto ResourceConfig.kind). */
const char *respool_kind_name(enum respool_kind k);
bool respool_kind_parse(const char *name, enum respool_kind *out);

/* A task label whose value (`pack` or `spread`) overrides the placement
 * engine's strategy for that task (placement.h). */
#define RESMGR_STRATEGY_LABEL "peloton.placement.strategy"

enum resmgr_task_type {
	RM_TYPE_UNKNOWN = 0, /* in DequeueGangs: any type */
	RM_TYPE_BATCH = 1,
	RM_TYPE_STATELESS = 2,
	RM_TYPE_STATEFUL = 3,
	RM_TYPE_DAEMON = 4,
	RM_N_TYPES = 5,
};

/* One task as enqueued (strings borrowed for the call). */
struct resmgr_task_spec {
	const char *id; /* peloton task id, "<job>-<instance>" */
	const char *job_id;
	double res[RES_N]; /* cpu cores, memory MB, disk MB, gpus */
	uint32_t priority;
	bool preemptible;
	bool controller; /* admitted within its pool's controller limit */
	enum resmgr_task_type type;
	uint32_t num_ports;
	const void *payload; /* opaque bytes kept with the task (the packed
	                      * resmgr.Task, convert/rmtask.h); copied; may be NULL */
	size_t payload_len;
};

struct resmgr_gang_spec {
	const struct resmgr_task_spec *tasks;
	size_t n_tasks;
};

/* Why a task was refused (EnqueueGangsFailure.FailedTask, SetPlacementsFailure). */
enum resmgr_fail {
	RM_OK = 0,
	RM_ALREADY_EXISTS, /* task id known and not finished */
	RM_POOL_NOT_FOUND, /* respool unknown */
	RM_POOL_NOT_LEAF,  /* tasks go to leaf pools only */
	RM_INVALID_TASK,   /* missing id, negative or NaN resources, bad type */
	RM_NOT_FOUND,      /* unknown task */
	RM_INVALID_STATE,  /* the task is not in a state this call applies to */
	RM_NO_MEMORY,      /* also: the resource manager apart did not answer */
	RM_N_FAILS,
};

/* "task already exists", ... (the texts EnqueueGangs failures carry). */
const char *resmgr_fail_name(enum resmgr_fail f);
/* The reason named by such a text; RM_INVALID_TASK for any other text. */
enum resmgr_fail resmgr_fail_parse(const char *name);

/*
 * A dequeued gang: its task ids and payloads (owned by the gang_out until
 * resmgr_gang_free). Its tasks are PLACING.
 */
struct resmgr_gang_out {
	size_t n_tasks;
	const char **task_ids;
	void **payloads; /* copies of each task's payload (NULL if none) */
	size_t *payload_lens;
	enum resmgr_task_type type;
};
/* Frees what *g owns (not g itself); NULL members ok. */
void resmgr_gang_free(struct resmgr_gang_out *g);

/* A placement of some tasks on one host (borrowed for the call). */
struct resmgr_placement {
	const char *hostname;
	const char *agent_id;
	const char *const *task_ids;
	size_t n_tasks;
	const uint32_t *ports;
	size_t n_ports;
	const char *const *offer_ids; /* the host's offers this placement spends */
	size_t n_offer_ids;
};

/* A placement handed to the launcher (owned; free with resmgr_placement_free). */
struct resmgr_placement_out {
	char *hostname, *agent_id;
	char **task_ids;
	size_t n_tasks;
	uint32_t *ports;
	size_t n_ports;
	char **offer_ids;
	size_t n_offer_ids;
};
void resmgr_placement_free(struct resmgr_placement_out *p);

/*
 * The calls. Each has the meaning of the core call (resmgr.h) or the RPC
 * it is named after; where a member is NULL the implementation does not
 * offer it (said per member). Any thread may call; implementations are
 * thread-safe. Failures of an implementation apart (the resource manager
 * did not answer) are given as the member says, and logged by it.
 */
struct resmgr_ops {
	/* --- the job manager's --- */

	/* EnqueueGangs into a leaf pool; fail[g] per gang; gangs accepted.
	 * Unreachable: every gang RM_NO_MEMORY (to be enqueued again). */
	size_t (*enqueue)(void *arg, const char *pool_id, const struct resmgr_gang_spec *gangs,
	                  size_t n, enum resmgr_fail *fail);
	/* KillTasks of one task. Unreachable: RM_NOT_FOUND. */
	enum resmgr_fail (*kill)(void *arg, const char *task_id);
	/* NotifyTaskUpdates of one event (LAUNCHED, STARTING, RUNNING or
	 * terminal). Apart, queued and sent in order by the client: RM_OK once
	 * queued. */
	enum resmgr_fail (*notify)(void *arg, const char *task_id, enum taskevent ev);
	/* The task's state there; TASK_UNKNOWN when unknown or unreachable. */
	enum taskstate (*task_state)(void *arg, const char *task_id);
	/* GetPlacements: up to limit, waiting up to timeout_ns; out[i] owned
	 * by the caller (resmgr_placement_free). Tasks move PLACED -> LAUNCHING. */
	size_t (*get_placements)(void *arg, size_t limit, uint64_t timeout_ns,
	                         struct resmgr_placement_out *out);
	/* GetPreemptibleTasks: up to max task ids, malloc'd (caller frees). */
	size_t (*get_preemptible)(void *arg, char **ids, size_t max);
	/* Pools: is `id` a leaf; its path "/a/b"; the id of a path. 0 or -1
	 * (not found, or unreachable: err says which). */
	bool (*pool_is_leaf)(void *arg, const char *id);
	int (*pool_path)(void *arg, const char *id, char *buf, size_t len);
	int (*pool_lookup)(void *arg, const char *path, char *id, size_t id_len, char *err,
	                   size_t errlen);
	/* True once each time the resource manager answers after not
	 * answering (it may have restarted and lost its queues). NULL in
	 * process. */
	bool (*came_back)(void *arg);

	/* --- placement engines' --- */

	/* DequeueGangs of any type: up to limit gangs, waiting up to
	 * timeout_ns; out[i] owned by the caller (resmgr_gang_free). */
	size_t (*dequeue)(void *arg, size_t limit, uint64_t timeout_ns,
	                  struct resmgr_gang_out *out);
	/* SetPlacements; fail[i] per placement; placements accepted. Apart,
	 * an unknown outcome (no answer) is RM_INVALID_STATE: the tasks stay
	 * PLACING until the PLACING timeout brings them back. */
	size_t (*set_placements)(void *arg, const struct resmgr_placement *p, size_t n,
	                         enum resmgr_fail *fail);
	/* Hands a dequeued gang back (PLACING -> READY). */
	void (*return_tasks)(void *arg, const struct resmgr_gang_out *g);
	/* TASK-kind constraints: how many of the resource manager's tasks on
	 * `host` carry `label` ("key=value"), every engine's placements
	 * included. 0 with *n, or -1 when not known: the engine then counts
	 * the tasks it placed there itself, all as alive. Answers only for
	 * hosts named to host_tasks_fetch since the calling thread's last
	 * dequeue. NULL in process: the engine counts its own placements,
	 * asking task_state whether each is alive. */
	int (*host_task_count)(void *arg, const char *host, const char *label, uint32_t *n);
	/* Prepares host_task_count for these hosts (one GetTasksByHosts). */
	void (*host_tasks_fetch)(void *arg, const char *const *hosts, size_t n);
	void *arg;
};

struct resmgr;

/* The in-process implementation over the core rm and its pool tree
 * (borrowed; they outlive every use of the ops). */
struct resmgr_ops resmgr_local_ops(struct resmgr *rm);

/*
 * The gRPC implementation: calls a daemon serving the resource manager at
 * `target` ("host:port"). `module` names the caller's role in logs
 * ("jobmgr", "placement"). Long polls and the status notifier have
 * connections of their own; placement calls one per calling thread.
 * Nothing is dialled until the first call. NULL on ENOMEM.
 */
struct resmgr_client;
struct resmgr_client *resmgr_client_create(const char *target, const char *module);
/* After every user of its ops stopped. Sends what is queued once more. NULL ok. */
void resmgr_client_destroy(struct resmgr_client *c);
struct resmgr_ops resmgr_client_ops(struct resmgr_client *c);
/* Prometheus text: calls made and failed, notifications queued and dropped. */
void resmgr_client_write_metrics(struct resmgr_client *c, FILE *f);
/* Calls made and calls failed so far. */
void resmgr_client_counts(struct resmgr_client *c, uint64_t *calls, uint64_t *failed);

#endif
