/*
 * jm: the job manager's bottom layer — its types, the job table and task
 * ids. Every other file of the job manager builds on it; it calls only
 * config.c (a new job's per-instance configs).
 *
 * Files, bottom up (each calls only files below it, never one beside or
 * above):
 *   jm.h       table.c     the job table, ids, job memory
 *   config.h   config.c    validation, instanceConfig over defaultConfig
 *   fsm.h      fsm.c       the task state machine (every state change)
 *   persist.h  persist.c   runtimes and events into store batches
 *   handoff.h  handoff.c   tasks to the resource manager, kills to the host manager
 *   status.c               Mesos status updates; reconciliation list
 *   launch.c   sweep.c     the launcher and sweeper threads (run.h)
 *   recover.c              recovery from the store
 *   jobs.h     jobs.c      the operations: create, update, delete, stop, start, restart
 *   v0.h       v0.c        the v0 JobManager and TaskManager handlers
 *   svc.c                  the svc JobService and TaskService handlers, binding
 *   jobmgr.c               the role's lifecycle, metrics, seam
 *
 * Locks: the table's rwlock, then one job's mutex; the resource manager and
 * the store are called with a job mutex held, never the reverse. A
 * function ending in __ wants the job's mutex held.
 */
#ifndef JM_H
#define JM_H

#include <pthread.h>
#include <stdatomic.h>

#include "clock.h"
#include "htab.h"
#include "jobmgr.h"
#include "taskstate.h"

/* One instance. State values are task.proto's TaskState (= enum taskstate). */
struct jm_task {
	uint8_t state; /* written only by jm__move (fsm.c) */
	uint8_t goal;
	uint16_t lost_in_row; /* runs lost one after another (reset by RUNNING): backoff */
	uint32_t run;         /* Mesos run number; 0 before the first launch */
	uint32_t failures;
	uint64_t start_ns, done_ns; /* wall clock */
	char *host, *agent;
	uint32_t *ports; /* assigned dynamic/static ports in TaskConfig.ports order */
	uint32_t n_ports;
	char *message, *reason;
	uint64_t due_ns;     /* wall clock: relaunch after backoff, resend a kill, or
	                      * reconcile a silent launch; 0 = none */
	uint32_t reconciles; /* explicit reconciles of the current run */
	bool restart;        /* killed to be relaunched (RestartTasks) */
	bool held;           /* PENDING, kept from the resource manager by
	                      * sla.maximumRunningInstances (cleared by jm__move
	                      * on leaving PENDING, or by jm__enqueue) */
	uint16_t flaps;      /* long-running: runs in a row that ended early (backoff) */
	uint64_t version;    /* runtime version in the store */
	uint32_t event_seq;
	uint32_t cfg_ver; /* the job config version its current run was launched
	                   * with; 0 before the first launch */
};

struct jm_job {
	char id[64];
	char pool[64];
	Peloton__Api__Job__JobConfig *cfg; /* owned */
	/* configs an update replaced (with their per-instance configs), freed
	 * with the job: a launch in flight reads its tasks' configs outside
	 * j->mu */
	struct jm_retired {
		Peloton__Api__Job__JobConfig *cfg;
		Peloton__Api__Task__TaskConfig **merged; /* NULL: kept in merged */
		uint32_t n;
	} * retired;
	size_t n_retired;
	uint8_t *cfg_bytes;
	size_t cfg_len;
	uint64_t cfg_version;
	Peloton__Api__Task__TaskConfig **merged; /* per instance; defaultconfig when shared */
	struct jm_task *tasks;
	uint32_t n;
	uint32_t counts[TASK_N_STATES]; /* tasks per state; kept by jm__move */
	uint32_t n_held;                /* tasks with held set */
	Peloton__Api__Job__JobState state, goal;
	uint64_t created_ns, started_ns, done_ns;
	uint64_t version; /* job runtime version */
	bool deleted;
	bool delete_pending; /* DeleteJob of a live job: removed once terminal */
	_Atomic bool purged; /* gone from the store: the sweeper unlinks it */
	uint64_t buried_ns;  /* when unlinked (the graveyard's clock) */
	pthread_mutex_t mu;
	struct jm_job *all_next;
};

struct jobmgr {
	struct jobmgr_config cfg;
	pthread_rwlock_t lock;
	struct htab jobs; /* by id (jm_job.id is its first member) */
	struct jm_job *all;
	size_t n_jobs;
	/* deleted jobs, unlinked from the index and freed after a grace period:
	 * jm__find hands out pointers that callers use without the index lock
	 * for the length of one call */
	struct jm_job *graveyard;
	_Atomic uint32_t to_bury, buried; /* purged jobs still linked; graveyard size */
	pthread_t launcher, sweeper;
	bool launcher_on;
	pthread_mutex_t launch_mu; /* the launcher's batches in flight: their status */
	pthread_cond_t launch_cv;
	_Atomic bool stop;
	_Atomic uint64_t launched, updates;
	bool rm_apart; /* the resource manager runs in another process */
};

/* SERVICE and DAEMON jobs run until stopped: every end of a run is
 * followed by the next one. */
static inline bool jm_long_running(const Peloton__Api__Job__JobConfig *c)
{
	return c->type == PELOTON__API__JOB__JOB_TYPE__SERVICE ||
	       c->type == PELOTON__API__JOB__JOB_TYPE__DAEMON;
}

/* What a task of j is meant to reach: RUNNING for a long-running job,
 * SUCCEEDED for a batch one. */
static inline uint8_t jm_task_goal(const struct jm_job *j)
{
	return jm_long_running(j->cfg) ? TASK_RUNNING : TASK_SUCCEEDED;
}

/* The job's goal state when it is not being stopped. */
static inline Peloton__Api__Job__JobState jm_job_goal(const struct jm_job *j)
{
	return jm_long_running(j->cfg) ? PELOTON__API__JOB__JOB_STATE__RUNNING
	                               : PELOTON__API__JOB__JOB_STATE__SUCCEEDED;
}

/* ---- the table (table.c) ---- */

/* The job (live or being deleted) or NULL; the pointer stays valid for one
 * call (jm__bury's grace period). */
struct jm_job *jm__find(struct jobmgr *jm, const char *id);
/* 0, or -1 (a job of that id is there, or ENOMEM: j not inserted). */
int jm__insert(struct jobmgr *jm, struct jm_job *j);
/* Unlinks purged jobs and frees those buried longer than the grace period. */
void jm__bury(struct jobmgr *jm, uint64_t now);
/* A job of cfg (taken over) with every task INITIALIZED; NULL on ENOMEM
 * (cfg then not taken). */
struct jm_job *jm__job_new(const char *id, Peloton__Api__Job__JobConfig *cfg);
void jm__job_free(struct jm_job *j);
/* Frees a per-instance config array of n and the configs in it that are
 * not cfg's shared defaultConfig; NULL is nothing. */
void jm__free_merged(Peloton__Api__Task__TaskConfig **merged, uint32_t n,
                     const Peloton__Api__Job__JobConfig *cfg);
/* The table's memory and lock: 0 or -1 (ENOMEM); the end frees every
 * job, live and buried. */
int jm__table_init(struct jobmgr *jm);
void jm__table_fini(struct jobmgr *jm);

/* ---- ids ---- */

/* RFC 3339 of a wall-clock time; "" for 0. */
void jm__rfc3339(uint64_t ns, char *buf, size_t len);
/* "<job>-<instance>[-<run>]" -> job, instance, run (run 0 when absent). 0 or -1. */
int jm__parse_task_id(const char *id, bool with_run, char *job, size_t jlen, uint32_t *inst,
                      uint32_t *run);

#endif
