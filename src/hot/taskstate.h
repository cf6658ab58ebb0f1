/*
 * taskstate: the task state machine as a table.
 *
 * States mirror peloton.api.task.TaskState (same numbers, same names), so
 * logs and metric labels take their names from here and the service edge
 * converts by value. Transitions are rows (event, from, to); anything not
 * listed is refused. taskstate_cas() is the only way a state word changes:
 * it looks the row up, then compare-and-swaps, so two threads racing to
 * move one task can never both win, and an invalid move changes nothing.
 *
 * The life (DESIGN.md): INITIALIZED -> PENDING -> READY -> PLACING ->
 * PLACED -> LAUNCHING -> LAUNCHED -> STARTING -> RUNNING -> SUCCEEDED /
 * FAILED / KILLED / LOST, with PREEMPTING and KILLING on the way down;
 * PLACING and LAUNCHING time out back to READY and PLACED.
 */
#ifndef TASKSTATE_H
#define TASKSTATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum taskstate {
	TASK_UNKNOWN = 0,
	TASK_INITIALIZED = 1,
	TASK_PENDING = 2,
	TASK_READY = 3,
	TASK_PLACING = 4,
	TASK_PLACED = 5,
	TASK_LAUNCHING = 6,
	TASK_STARTING = 7,
	TASK_RUNNING = 8,
	TASK_SUCCEEDED = 9,
	TASK_FAILED = 10,
	TASK_LOST = 11,
	TASK_PREEMPTING = 12,
	TASK_KILLING = 13,
	TASK_KILLED = 14,
	TASK_LAUNCHED = 15,
	TASK_N_STATES = 16,
};

enum taskevent {
	TEV_ENQUEUE = 0,       /* job manager hands the task to the resource manager */
	TEV_ADMIT,             /* fits the pool's entitlement */
	TEV_DEQUEUE,           /* taken by a placement worker */
	TEV_PLACE,             /* host chosen */
	TEV_PLACING_TIMEOUT,   /* no placement in time: back to the ready queue */
	TEV_RETURN,            /* placement gave up after its retries */
	TEV_LAUNCH,            /* taken by the job manager's launcher */
	TEV_LAUNCHING_TIMEOUT, /* launcher did not confirm in time */
	TEV_LAUNCHED,          /* ACCEPT sent */
	TEV_STARTING,          /* Mesos TASK_STARTING */
	TEV_RUNNING,           /* Mesos TASK_RUNNING */
	TEV_SUCCEEDED,
	TEV_FAILED,
	TEV_LOST,
	TEV_KILLED,
	TEV_KILL,    /* user or system asks to kill a launched task */
	TEV_PREEMPT, /* chosen for preemption */
	TEV_N_EVENTS,
};

/* "PENDING", "RUNNING", ...; "UNKNOWN" for out-of-range values. */
const char *taskstate_name(enum taskstate s);
const char *taskevent_name(enum taskevent e);

/*
 * A task state as another component reports it (a Peloton TaskEvent in
 * NotifyTaskUpdates) and the event it stands for: LAUNCHED, STARTING,
 * RUNNING and the terminal ones. False for any other.
 */
bool taskevent_of_reported(enum taskstate st, enum taskevent *ev);
bool taskstate_reported_by(enum taskevent ev, enum taskstate *st);

/* True for SUCCEEDED, FAILED, LOST, KILLED. */
bool taskstate_terminal(enum taskstate s);

/* The state `event` leads to from `from`, or TASK_UNKNOWN if not allowed. */
enum taskstate taskstate_next(enum taskstate from, enum taskevent event);

/*
 * Applies `event` to the state word: if the row (event, current) exists,
 * CAS current -> next. Returns the new state, or TASK_UNKNOWN when the
 * transition is not allowed from the current state or another thread moved
 * the task first (*seen gets the state found; may be NULL). Lock-free.
 */
enum taskstate taskstate_cas(_Atomic uint32_t *word, enum taskevent event, enum taskstate *seen);

/* Refused transitions so far, per event (metrics). */
uint64_t taskstate_refused(enum taskevent e);

#endif
