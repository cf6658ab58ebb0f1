/*
 * handoff: a job's tasks handed to the other roles outside a launch — to
 * the resource manager (enqueued as gangs, with the reasons it refused
 * any recorded on the task) and, for a run on Mesos, a kill to the host
 * manager.
 */
#ifndef JM_HANDOFF_H
#define JM_HANDOFF_H

#include "jm.h"

/* A kill is resent this often until Mesos reports the end. */
#define JM_KILL_RESEND_NS 10000000000ull

/* The reason on a task held back by sla.maximumRunningInstances (beside
 * WAITING_FOR_ADMISSION and WAITING_FOR_PLACEMENT). */
#define JM_HELD_REASON "WAITING_FOR_SLA"

/*
 * Enqueues instances insts[0..n) of j as gangs (sla.minimumRunningInstances
 * tasks each, or one). j->mu held. With sla.maximumRunningInstances, tasks
 * past the cap (counting every task admitted: neither INITIALIZED, held
 * nor terminal) stay PENDING, held, with JM_HELD_REASON; jm__admit_held__
 * lets them go as others end. A DAEMON job's tasks carry a label and a
 * TASK-kind constraint that keep two of them off one host. Tasks refused
 * for a transient reason (the resource manager unreachable, no memory)
 * get due_ns a second ahead, for the sweeper. Returns the tasks accepted
 * (or already there).
 */
size_t jm__enqueue(struct jobmgr *jm, struct jm_job *j, const uint32_t *insts, size_t n);

/* Held tasks enqueued, the lowest instances first, as far as the cap
 * allows now. j->mu held. */
void jm__admit_held__(struct jobmgr *jm, struct jm_job *j);

/*
 * Kills task inst's current run on Mesos and moves it to KILLING; the
 * sweeper resends the kill every JM_KILL_RESEND_NS until a terminal update
 * arrives. j->mu held.
 */
void jm__kill_run(struct jobmgr *jm, struct jm_job *j, uint32_t inst, uint64_t now);

/*
 * Stops task inst (j->mu held): goal KILLED; a run on Mesos killed, a task
 * not on Mesos yet dropped by the resource manager and KILLED. False when
 * it was done or being killed already (nothing changed but the goal).
 */
bool jm__stop_task__(struct jobmgr *jm, struct jm_job *j, uint32_t inst);

#endif
