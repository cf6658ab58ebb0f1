/*
 * fsm: the job manager's task state machine, as a table.
 *
 * The job manager holds a task from its creation to its end, in the
 * states of task.proto's TaskState (src/hot/taskstate.h); those between
 * PENDING and LAUNCHING (READY, PLACING, PLACED) are the resource
 * manager's, which it never records. Transitions are rows (event, from,
 * to); jm__move is the only writer of jm_task.state: it looks the row up,
 * moves the task and keeps the job's per-state counts. A move that is not
 * a row changes nothing — a stale or repeated Mesos update (RUNNING after
 * the kill was sent, STAGING after RUNNING) is refused here, not by
 * if-chains at each caller. Predicates on states (on Mesos, terminal) are
 * read off the same rows, never by comparing state numbers.
 *
 * The life: INITIALIZED -enqueue-> PENDING -launch-> LAUNCHING -staging->
 * LAUNCHED -starting-> STARTING -running-> RUNNING -finished/failed/
 * killed/lost-> SUCCEEDED/FAILED/KILLED/LOST; Mesos may skip states (RUNNING
 * straight after LAUNCHING). kill: PENDING -> KILLED (not on Mesos yet), a
 * run on Mesos -> KILLING (again: the resend). enqueue from a terminal
 * state: the next run (relaunch, start, restart). recover: a stored state
 * before LAUNCHING (the resource manager's ones included) -> PENDING.
 */
#ifndef JM_FSM_H
#define JM_FSM_H

#include <stdbool.h>

#include "jm.h"
#include "mesos/v1/mesos.pb-c.h"

enum jm_event {
	JM_ENQUEUE,  /* created, or its next run: relaunch, start, restart */
	JM_LAUNCH,   /* a placement taken: the launch intent */
	JM_STAGING,  /* Mesos TASK_STAGING */
	JM_STARTING, /* Mesos TASK_STARTING */
	JM_RUNNING,  /* Mesos TASK_RUNNING */
	JM_KILLING,  /* Mesos TASK_KILLING */
	JM_FINISHED, /* Mesos TASK_FINISHED */
	JM_FAILED,   /* Mesos TASK_FAILED, TASK_ERROR */
	JM_KILLED,   /* Mesos TASK_KILLED */
	JM_LOST,     /* Mesos TASK_LOST, DROPPED, GONE, UNREACHABLE, UNKNOWN, ... */
	JM_KILL,     /* stop, restart, preemption, sla.maxRunningTime */
	JM_RECOVER,  /* recovery of a task that never reached Mesos */
	JM_N_EVENTS,
};

/* "enqueue", "running", ... (logs). */
const char *jm_event_name(enum jm_event e);

/* The event a Mesos task state stands for, and the resource manager's
 * event for it (NotifyTaskUpdates). */
enum jm_event jm_event_of_mesos(Mesos__V1__TaskState s, enum taskevent *rm_ev);

/* The state ev leads to from `from`; TASK_UNKNOWN when no row allows it. */
enum taskstate jm_next(enum taskstate from, enum jm_event ev);

/* FINISHED, FAILED, KILLED, LOST: the event ends a run. */
bool jm_event_ends(enum jm_event e);

/* A run Mesos may know of: LAUNCHING, LAUNCHED, STARTING, RUNNING, KILLING
 * (the states a Mesos update moves from). */
bool jm_on_mesos(enum taskstate s);

/*
 * Moves task inst of j by ev (j->mu held): true with the state and the
 * counts changed; false when no row allows it (nothing changed).
 */
bool jm__move(struct jm_job *j, uint32_t inst, enum jm_event ev);

/* Tasks [from, to) come to be (zeroed, INITIALIZED, counted): a new job's,
 * or the instances an update adds. j->mu held or the job not yet shared. */
void jm__born(struct jm_job *j, uint32_t from, uint32_t to);

/*
 * Recovery only: puts a stored state on task inst (counts kept), not a
 * transition; a value outside TaskState becomes UNKNOWN. j->mu held or the
 * job not yet shared.
 */
void jm__load(struct jm_job *j, uint32_t inst, uint32_t stored);

#endif
