/*
 * volume: stateful tasks' persistent volumes in the job manager.
 *
 * A task whose config has `volume` gets one on its first launch: the
 * record (INITIALIZED, goal CREATED, the placement's host) is written with
 * the launch intent, and the host manager reserves the task's resources
 * (labels job_id, instance_id), creates the volume and launches in one
 * ACCEPT. The task's first RUNNING makes it CREATED. Every later run is
 * enqueued pinned: to the volume itself once CREATED (a constraint on the
 * host label the volume's offer gives, HOSTMGR_VOLUME_LABEL; the
 * placement engine then asks no unreserved resources of the host), to its
 * host while still INITIALIZED (the reserve-and-create is tried again
 * there). It never gets a fresh volume elsewhere: it waits for its host.
 *
 * DeleteVolume (its task not running) and the deletion of the job set the
 * goal DELETED; the sweeper destroys the volume and releases the
 * reservation on its host as soon as the host offers them, then marks it
 * DELETED (records stay, so GetVolume answers).
 */
#ifndef JM_VOLUME_H
#define JM_VOLUME_H

#include "jm.h"
#include "rpc.h"
#include "store.h"

int jm__volumes_init(struct jobmgr *jm);
void jm__volumes_fini(struct jobmgr *jm);
/* Reads every volume back and gives each live one to its task (after the jobs). */
int jm__volumes_recover(struct jobmgr *jm);

/* The task's config asks for a persistent volume. */
bool jm__wants_volume(const Peloton__Api__Task__TaskConfig *tc);

/*
 * A launch of task inst of j on host/agent (j->mu held): its volume, made
 * now (INITIALIZED, added to b) on a first launch. *create: the ACCEPT must
 * reserve and create it. NULL with why when the placement is on another
 * host than the volume's (the launch is refused) or on ENOMEM.
 */
struct jm_volume *jm__volume_for_launch__(struct jobmgr *jm, struct store_batch *b,
                                          struct jm_job *j, uint32_t inst, const char *host,
                                          const char *agent, bool *create, const char **why);

/* Task inst is RUNNING (j->mu held): its INITIALIZED volume is CREATED (into b). */
void jm__volume_running__(struct jobmgr *jm, struct store_batch *b, struct jm_job *j,
                          uint32_t inst);

/* A deleted job's volumes are to be destroyed (their goal DELETED, written). */
void jm__volumes_release_job(struct jobmgr *jm, const char *job_id);

/* The sweeper's pass: volumes whose goal is DELETED destroyed where their host offers them. */
void jm__volumes_sweep(struct jobmgr *jm);

/* VolumeService on the RPC table. */
void jm__volsvc_bind(struct jobmgr *jm, struct rpc_table *t);

/* Prometheus text. */
void jm__volumes_metrics(struct jobmgr *jm, FILE *f);

#endif
