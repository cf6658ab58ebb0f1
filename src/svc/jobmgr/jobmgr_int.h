/* Job manager internals shared by jobmgr*.c (not a public header). */
#ifndef JOBMGR_INT_H
#define JOBMGR_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "clock.h"
#include "jobmgr.h"
#include "taskstate.h"

/* One instance. State values are task.proto's TaskState (= enum taskstate). */
struct jm_task {
	uint8_t state, goal;
	uint32_t run; /* Mesos run number; 0 before the first launch */
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
	uint64_t version;    /* runtime version in the store */
	uint32_t event_seq;
};

struct jm_job {
	char id[64];
	char pool[64];
	Peloton__Api__Job__JobConfig *cfg; /* owned */
	/* configs an UpdateJob replaced, freed with the job: a launch in flight
	 * reads its tasks' configs outside j->mu */
	Peloton__Api__Job__JobConfig **old_cfgs;
	size_t n_old_cfgs;
	uint8_t *cfg_bytes;
	size_t cfg_len;
	uint64_t cfg_version;
	Peloton__Api__Task__TaskConfig **merged; /* per instance; defaultconfig when shared */
	struct jm_task *tasks;
	uint32_t n;
	uint32_t counts[TASK_N_STATES];
	Peloton__Api__Job__JobState state, goal;
	uint64_t created_ns, started_ns, done_ns;
	uint64_t version; /* job runtime version */
	bool deleted;
	bool delete_pending; /* DeleteJob of a live job: removed once terminal */
	_Atomic bool purged; /* gone from the store: the sweeper unlinks it */
	uint64_t buried_ns;  /* when unlinked (the graveyard's clock) */
	pthread_mutex_t mu;
	struct jm_job *next, *all_next;
};

struct jobmgr {
	struct jobmgr_config cfg;
	pthread_rwlock_t lock;
	struct jm_job **buckets;
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
	bool rm_apart; /* rmops reach a resource manager in another process */
};

void jm__rfc3339(uint64_t ns, char *buf, size_t len);
void jm__uuid(char out[37]);
int jm__parse_task_id(const char *id, bool with_run, char *job, size_t jlen, uint32_t *inst,
                      uint32_t *run);
struct jm_job *jm__find(struct jobmgr *jm, const char *id);
/* Unlinks purged jobs and frees those buried longer than the grace period. */
void jm__bury(struct jobmgr *jm, uint64_t now);
void jm__insert(struct jobmgr *jm, struct jm_job *j);
struct jm_job *jm__job_new(const char *id, Peloton__Api__Job__JobConfig *cfg);
void jm__job_free(struct jm_job *j);
int jm__build_merged(struct jm_job *j);
/* instanceConfig over defaultConfig, field by field (malloc'd clone). */
Peloton__Api__Task__TaskConfig *jm__merge(const Peloton__Api__Task__TaskConfig *def,
                                          const Peloton__Api__Task__TaskConfig *inst);
uint8_t *jm__pack_task(const struct jm_job *j, uint32_t inst, size_t *len);
int jm__restore_task(struct jm_job *j, uint32_t inst, const void *bytes, size_t len);
Peloton__Api__Job__RuntimeInfo *jm__job_runtime(const struct jm_job *j);
int jm__put_job_runtime(struct jobmgr *jm, struct store_batch *b, struct jm_job *j);
bool jm__job_refresh(struct jm_job *j);
void jm__set_state(struct jm_job *j, uint32_t inst, enum taskstate s);
size_t jm__enqueue(struct jobmgr *jm, struct jm_job *j, const uint32_t *insts, size_t n);
/*
 * Kills task inst's current run on Mesos and marks it KILLING; the sweeper
 * resends the kill every 10 s until a terminal update arrives. j->mu held.
 */
void jm__kill_run(struct jobmgr *jm, struct jm_job *j, uint32_t inst, uint64_t now);
/* Persists task inst's runtime (+ an event) into b; j->mu held. */
int jm__put_task(struct jobmgr *jm, struct store_batch *b, struct jm_job *j, uint32_t inst,
                 const char *msg);

#endif
