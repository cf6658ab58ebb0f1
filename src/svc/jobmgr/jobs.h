/*
 * jobs: the job manager's operations, as the v0 and the svc handlers share
 * them — create, update, delete a job; stop, start and restart some of its
 * tasks. Each validates, changes memory under the job's mutex, makes the
 * change durable and only then hands tasks to the other roles. Errors as
 * the RPC layer's codes with a message (the handlers place them: inside
 * the response for v0, as the status for svc).
 */
#ifndef JM_JOBS_H
#define JM_JOBS_H

#include "jm.h"
#include "rpc.h"
#include "store.h"

/* The job named by id, unless deleted; NULL when none. */
/* An id a job may have (a client's own at Create): 1 to 47 characters, no
 * '/', whitespace or control character. */
bool jm__valid_job_id(const char *id);
/* The job config's changeLog (j->mu held): its version, the job's creation,
 * and when that version was made (the update that made it; ns since the
 * epoch). NULL on ENOMEM. */
Peloton__Api__Peloton__ChangeLog *jm__changelog(const struct jm_job *j);
struct jm_job *jm__live_job(struct jobmgr *jm, const Peloton__Api__Peloton__JobID *id);

/*
 * Create: validates cfg, persists it and every task (PENDING), then
 * enqueues the tasks. given_id NULL or "": a new UUID. The same id with the
 * same config again is an idempotent retry (RPC_OK). id_out gets the id.
 * RPC_OK, or RPC_INVALID_ARGUMENT / RPC_ALREADY_EXISTS / RPC_INTERNAL with err.
 */
enum rpc_code jm__create(struct jobmgr *jm, const char *given_id,
                         const Peloton__Api__Job__JobConfig *cfg, char *id_out, char *err,
                         size_t errlen);

/* Update: the new config as an update of the whole job in one batch
 * (rollout.h); RPC_OK at once when the config is the same. */
enum rpc_code jm__update(struct jobmgr *jm, struct jm_job *j,
                         const Peloton__Api__Job__JobConfig *cfg, char *err, size_t errlen);

/* Delete: a terminal job leaves the store at once; a live one has every
 * task stopped and goes once terminal (the sweeper). RPC_OK or RPC_INTERNAL
 * with err. */
enum rpc_code jm__delete(struct jobmgr *jm, struct jm_job *j, char *err, size_t errlen);

/* The instances [from, to) of one range (all of them without one), clipped. */
void jm__range(const struct jm_job *j, const Peloton__Api__Task__InstanceRange *rg, uint32_t *from,
               uint32_t *to);

/* The instances named by ranges [from, to) (all of them when nrg is 0),
 * clipped to the job's; malloc'd, *n set; NULL on ENOMEM. */
uint32_t *jm__instances(struct jm_job *j, Peloton__Api__Task__InstanceRange *const *rg, size_t nrg,
                        size_t *n);

/* Stop: goal KILLED; runs on Mesos killed, the others KILLED; committed. */
enum store_status jm__stop(struct jobmgr *jm, struct jm_job *j, const uint32_t *insts, size_t n);
/* Start: goal SUCCEEDED; terminal tasks PENDING and enqueued once
 * committed, their ids in started[] (room for n), *n_started. */
enum store_status jm__start(struct jobmgr *jm, struct jm_job *j, const uint32_t *insts, size_t n,
                            uint32_t *started, size_t *n_started);
/* Restart: a run on Mesos is killed and relaunched as a new run once Mesos
 * reports it terminal; a terminal task starts again; one not launched yet
 * is left as it is. */
enum store_status jm__restart(struct jobmgr *jm, struct jm_job *j, const uint32_t *insts, size_t n);

#endif
