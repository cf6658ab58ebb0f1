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
 *   rollout.h  rollout.c   updates: config versions installed, instances moved in batches
 *   status.c               Mesos status updates; reconciliation list
 *   launch.c   sweep.c     the launcher and sweeper threads (run.h)
 *   recover.c              recovery from the store
 *   jobs.h     jobs.c      the operations: create, update, delete, stop, start, restart
 *   v0.h       v0.c        the v0 JobManager and TaskManager handlers
 *   updsvc.h   updsvc.c    the UpdateService handlers
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
#include "hist.h"
#include "htab.h"
#include "jobmgr.h"
#include "peloton/api/task/task.pb-c.h"
#include "peloton/api/update/update.pb-c.h"
#include "taskstate.h"

/* One instance. State values are task.proto's TaskState (= enum taskstate). */
/*
 * A stateful task's persistent volume (TaskConfig.volume; volume.c): made
 * on the host of the task's first launch, where every later run goes.
 * Owned by jobmgr.volumes (kept after the job, until destroyed); tasks
 * borrow it. Fields change under jobmgr.vol_mu.
 */
struct jm_volume {
	char *id; /* first: the table's key (htab.h) */
	char *job, *host, *agent, *path;
	uint32_t inst, size_mb;
	uint8_t state, goal;           /* volume.VolumeState */
	bool nagged;                   /* "cannot destroy yet" logged */
	uint64_t create_ns, update_ns; /* wall clock */
	uint64_t refresh_ns;           /* monotonic: its host's offers last refreshed */
};

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
	uint64_t updated_ns; /* wall clock: its runtime last written (revision.updatedAt) */
	uint32_t event_seq;
	uint32_t cfg_ver;      /* the job config version its current run was launched
	                        * with (or one equal to it for this instance); 0
	                        * before the first launch */
	uint8_t healthy;       /* task.HealthState of the current run */
	uint8_t upd_fails;     /* runs on the config an update moves it to that
	                        * failed (rollout.c); reset when the update takes it */
	bool upd_taken;        /* its update asked it to move (killed to relaunch, enqueued
	                        * again): not asked twice */
	uint32_t fail_run;     /* the run upd_fails last counted (one per run) */
	uint64_t pending_ns;   /* monotonic: when this run became PENDING (0: not
	                        * in this process's life): submit->running */
	struct jm_volume *vol; /* its persistent volume once made (borrowed), or NULL */
};

/*
 * An update of a job (UpdateService, JobManager.Update): its instances move
 * to config version to_ver, at most `batch` of them between two states at
 * once. Guarded by the job's mutex; found by id in jobmgr.updates (under
 * jobmgr.lock). rollout.c drives it.
 */
struct jm_update {
	char id[40];       /* UUID; first: the updates table's key */
	uint8_t state;     /* update.State */
	uint8_t resume_to; /* PAUSED: the state ResumeUpdate goes back to */
	bool stop_first;   /* stopBeforeUpdate: every instance stopped first */
	bool rolled_back_by_failure;
	bool whole;         /* JobManager.Update's: the next one supersedes it */
	int32_t batch_size; /* UpdateConfig as given (GetUpdate answers it) */
	double batch_pct;
	bool start_paused;
	uint32_t batch;            /* instances in flight at most (resolved) */
	uint64_t from_ver, to_ver; /* instances move from from_ver to to_ver */
	uint32_t from_n, to_n;     /* instance counts of the two versions */
	uint32_t lo, next;         /* [0,lo) done; [lo,next) begun; [next,..) not begun */
	uint32_t done;             /* instances done (numTasksDone) */
	uint64_t created_ns, updated_ns;
	bool dirty;                 /* changed since last persisted */
	struct jm_job *job;         /* whose update it is */
	struct jm_update *job_next; /* the job's updates, newest first */
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
		Peloton__Api__Task__TaskConfig **merged;
		uint32_t n;
		uint64_t ver; /* the config version it was */
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
	struct jm_update *upd;          /* the job's updates, newest first (owned) */
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
	struct htab jobs;      /* by id (jm_job.id is its first member) */
	struct htab upd_index; /* jm_update by id; entries owned by their jobs */
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
	_Atomic uint64_t upd_created, upd_instances, upd_rollbacks; /* metrics */
	struct hist submit_to_running; /* PENDING -> RUNNING, each run */
	/* an instance of a moving update got where it was going: the sweeper
	 * runs the updates' passes now rather than at its next tick */
	pthread_mutex_t kick_mu;
	pthread_cond_t kick_cv; /* CLOCK_MONOTONIC */
	bool kicked;
	bool rm_apart;          /* the resource manager runs in another process */
	pthread_mutex_t vol_mu; /* guards volumes and the volumes' fields */
	struct htab volumes;    /* jm_volume by id (volume.c) */
	_Atomic uint64_t vol_created, vol_destroyed;
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

/* A health check Mesos runs for tasks of this config (validation refuses
 * an enabled one of another kind). */
/* A goal that keeps the task down: KILLED (stopped by its owner) or
 * PREEMPTING (preempted with preemptionPolicy.killOnPreempt, as upstream). */
static inline bool jm_goal_down(uint32_t goal)
{
	return goal == TASK_KILLED || goal == TASK_PREEMPTING;
}

static inline bool jm_health_checked(const Peloton__Api__Task__TaskConfig *tc)
{
	return tc && tc->healthcheck && tc->healthcheck->enabled;
}

/* An update that is neither finished nor aborted. */
static inline bool jm_update_live(const struct jm_update *u)
{
	return u && (u->state == PELOTON__API__UPDATE__STATE__ROLLING_FORWARD ||
	             u->state == PELOTON__API__UPDATE__STATE__ROLLING_BACK ||
	             u->state == PELOTON__API__UPDATE__STATE__PAUSED);
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
/* The update of id (any job, any state) or NULL; jm->lock held (read). */
struct jm_update *jm__update_find(struct jobmgr *jm, const char *id);
/* Files u (already on its job's list) in the updates table: 0, or -1
 * (ENOMEM). Takes jm->lock. */
int jm__update_index(struct jobmgr *jm, struct jm_update *u);
/* Frees what task t holds (host, agent, ports, message, reason), not t. */
void jm__task_fini(struct jm_task *t);
/* Frees a per-instance config array of n and the configs in it that are
 * not cfg's shared defaultConfig; NULL is nothing. */
void jm__free_merged(Peloton__Api__Task__TaskConfig **merged, uint32_t n,
                     const Peloton__Api__Job__JobConfig *cfg);
/* The table's memory and lock: 0 or -1 (ENOMEM); the end frees every
 * job, live and buried. */
int jm__table_init(struct jobmgr *jm);
void jm__table_fini(struct jobmgr *jm);

/* ---- ids ---- */

/* "<job>-<instance>[-<run>]" -> job, instance, run (run 0 when absent). 0 or -1. */
int jm__parse_task_id(const char *id, bool with_run, char *job, size_t jlen, uint32_t *inst,
                      uint32_t *run);

#endif
