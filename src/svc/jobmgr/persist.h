/*
 * persist: a job's and its tasks' durable records as store batch entries —
 * task runtimes with a TaskEvent each, the job runtime (and its index
 * entry), the job's config and tasks at creation — and the job state
 * derived from the task counts. The callers submit or commit the batches.
 */
#ifndef JM_PERSIST_H
#define JM_PERSIST_H

#include "jm.h"

/* Task inst's runtime as a packed task.RuntimeInfo (malloc'd); NULL on ENOMEM. */
uint8_t *jm__pack_task(const struct jm_job *j, uint32_t inst, size_t *len);
/* A stored task runtime back onto task inst (state by jm__load). 0, or -1 (unreadable). */
int jm__restore_task(struct jm_job *j, uint32_t inst, const void *bytes, size_t len);
/* The job runtime as a message (malloc'd; free unpacked); NULL on ENOMEM. j->mu held. */
Peloton__Api__Job__RuntimeInfo *jm__job_runtime(const struct jm_job *j);
/* Adds the job runtime to b. j->mu held. 0 or -1. */
int jm__put_job_runtime(struct jobmgr *jm, struct store_batch *b, struct jm_job *j);
/* Adds task inst's runtime and a TaskEvent (msg) to b. j->mu held. 0 or -1. */
int jm__put_task(struct jobmgr *jm, struct store_batch *b, struct jm_job *j, uint32_t inst,
                 const char *msg);
/* Config version ver of job as stored (malloc'd; free unpacked); NULL when
 * absent or unreadable. */
Peloton__Api__Job__JobConfig *jm__load_config(struct jobmgr *jm, const char *job, uint64_t ver);
/* Commits the config version, tasks [from, n) and then the job runtime, in
 * batches of JOBMGR_CHUNK tasks. 0 or -1. */
int jm__persist_tasks(struct jobmgr *jm, struct jm_job *j, uint32_t from, const char *msg);
/* Recomputes the job state after task counts moved. j->mu held. True if it changed. */
bool jm__job_refresh(struct jm_job *j);
/* SUCCEEDED, FAILED or KILLED: the job is done. */
bool jm_job_terminal(Peloton__Api__Job__JobState s);

#endif
