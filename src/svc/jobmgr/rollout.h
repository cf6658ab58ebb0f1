/*
 * rollout: a job's config changes and the updates that move its instances
 * onto them (UpdateService, and JobManager.Update as an update of the
 * whole job at once).
 *
 * A change installs the new config as the job's next version
 * (jm__install__); instances whose own config it leaves equal are counted
 * on it at once. An update then walks the instances in order, at most
 * `batch` of them in flight: an instance is taken (a run on Mesos killed
 * and launched again, a task waiting for resources enqueued again with
 * its new ones, a new instance enqueued, a removed one stopped) and is
 * done when it runs the new version (RUNNING, and HEALTHY when its config
 * has a health check), or is stopped. Each finished instance makes room
 * for the next (a sliding window, as upstream Peloton's update driver
 * does), so at most `batch` instances are away from RUNNING because of the
 * update at any moment.
 *
 * An instance whose runs on the new version fail JM_UPDATE_MAX_ATTEMPTS
 * times (a run that ends without being asked to, or a health check that
 * reports it UNHEALTHY: at most one count per run) fails the update, which
 * then rolls back by itself: the previous config is installed as a new
 * version and every instance is moved onto it the same way.
 *
 * Durable: the update record (its state and window) is written with the
 * tasks' runtimes; whether an instance is done is read off its runtime
 * (the version its run was launched with), so after a restart the update
 * continues where it was and takes no instance twice. Not kept across a
 * restart: the per-instance failure counts (they start over).
 *
 * Every function ending in __ wants the job's mutex held.
 */
#ifndef JM_ROLLOUT_H
#define JM_ROLLOUT_H

#include "jm.h"
#include "rpc.h"
#include "store.h"

#define JM_UPDATE_MAX_ATTEMPTS 3

/*
 * Installs nc as the job's next config version (nc and bytes, its packed
 * form, are taken over on success): per-instance configs for the larger
 * of the old and new instance counts, new instances INITIALIZED (started
 * by an update), the old config retired. Instances whose config is the
 * same in both versions, and those running version also_equal (0: none;
 * a rollback's original), are counted on the new version. 0, or -1
 * (ENOMEM: nothing changed, nothing taken).
 */
int jm__install__(struct jm_job *j, Peloton__Api__Job__JobConfig *nc, uint8_t *bytes, size_t blen,
                  uint64_t also_equal);

/*
 * A new update of j to cfg with options uc (NULL: the whole job in one
 * batch, as JobManager.Update): validated, installed, persisted with every
 * task, then driven by the sweeper. id_out (40 bytes) gets its id. RPC_OK,
 * or NOT_FOUND / ALREADY_EXISTS (another update is running) /
 * INVALID_ARGUMENT / INTERNAL with err.
 */
enum rpc_code jm__rollout_create(struct jobmgr *jm, struct jm_job *j,
                                 const Peloton__Api__Job__JobConfig *cfg,
                                 const Peloton__Api__Update__UpdateConfig *uc, char *id_out,
                                 char *err, size_t errlen);

/* Pause, resume, rollback, abort (update.State transitions as
 * UpdateService has them). RPC_OK, or UNAVAILABLE with err when the
 * update's state does not allow it; NOT_FOUND when it is gone. */
enum jm_update_op { JM_UPD_PAUSE, JM_UPD_RESUME, JM_UPD_ROLLBACK, JM_UPD_ABORT };
enum rpc_code jm__rollout_op(struct jobmgr *jm, const char *id, enum jm_update_op op, char *err,
                             size_t errlen);

/* One pass of j's running update (the sweeper's, every 200 ms): instances
 * done counted, the window refilled, failures turned into a rollback, the
 * end recorded. Changes go into b. */
void jm__rollout_step__(struct jobmgr *jm, struct jm_job *j, struct store_batch *b);

/* A status update was recorded on task inst: a failure of a run on the
 * version an update moves it to is counted. */
void jm__rollout_observe__(struct jm_job *j, uint32_t inst);

/* True when task inst just got where j's moving update wants it (the
 * caller then kicks: jm__rollout_kick). j->mu held. */
bool jm__rollout_arrived__(const struct jm_job *j, uint32_t inst);
/* Wakes the sweeper for a pass of the running updates now. */
void jm__rollout_kick(struct jobmgr *jm);

/* Not yet begun by j's running update (an INITIALIZED instance it adds:
 * recovery leaves it to the update). */
bool jm__rollout_holds__(const struct jm_job *j, uint32_t inst);

/* Recovery: j's update records read back (newest first); a running one
 * whose instances outnumber the config grows j to them. 0 or -1. */
int jm__rollout_load(struct jobmgr *jm, struct jm_job *j);

/* UpdateInfo of u (malloc'd; free unpacked); NULL on ENOMEM. j->mu held. */
Peloton__Api__Update__UpdateInfo *jm__update_info__(const struct jm_job *j,
                                                    const struct jm_update *u);

#endif
