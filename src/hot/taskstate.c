/* Task state machine table; see taskstate.h. */
#include <pthread.h>
#include <stddef.h>

#include "taskstate.h"

static const char *const state_names[TASK_N_STATES] = {
    [TASK_UNKNOWN] = "UNKNOWN",       [TASK_INITIALIZED] = "INITIALIZED",
    [TASK_PENDING] = "PENDING",       [TASK_READY] = "READY",
    [TASK_PLACING] = "PLACING",       [TASK_PLACED] = "PLACED",
    [TASK_LAUNCHING] = "LAUNCHING",   [TASK_STARTING] = "STARTING",
    [TASK_RUNNING] = "RUNNING",       [TASK_SUCCEEDED] = "SUCCEEDED",
    [TASK_FAILED] = "FAILED",         [TASK_LOST] = "LOST",
    [TASK_PREEMPTING] = "PREEMPTING", [TASK_KILLING] = "KILLING",
    [TASK_KILLED] = "KILLED",         [TASK_LAUNCHED] = "LAUNCHED",
};

static const char *const event_names[TEV_N_EVENTS] = {
    [TEV_ENQUEUE] = "enqueue",
    [TEV_ADMIT] = "admit",
    [TEV_DEQUEUE] = "dequeue",
    [TEV_PLACE] = "place",
    [TEV_PLACING_TIMEOUT] = "placing-timeout",
    [TEV_RETURN] = "return",
    [TEV_LAUNCH] = "launch",
    [TEV_LAUNCHING_TIMEOUT] = "launching-timeout",
    [TEV_LAUNCHED] = "launched",
    [TEV_STARTING] = "starting",
    [TEV_RUNNING] = "running",
    [TEV_SUCCEEDED] = "succeeded",
    [TEV_FAILED] = "failed",
    [TEV_LOST] = "lost",
    [TEV_KILLED] = "killed",
    [TEV_KILL] = "kill",
    [TEV_PREEMPT] = "preempt",
};

struct transition {
	enum taskevent event;
	enum taskstate from, to;
};

/* Every allowed move. Mesos updates may skip states (RUNNING without STARTING). */
static const struct transition rows[] = {
    {TEV_ENQUEUE, TASK_INITIALIZED, TASK_PENDING},
    /* a finished task's next run is enqueued again */
    {TEV_ENQUEUE, TASK_SUCCEEDED, TASK_PENDING},
    {TEV_ENQUEUE, TASK_FAILED, TASK_PENDING},
    {TEV_ENQUEUE, TASK_LOST, TASK_PENDING},
    {TEV_ENQUEUE, TASK_KILLED, TASK_PENDING},
    {TEV_ADMIT, TASK_PENDING, TASK_READY},
    {TEV_DEQUEUE, TASK_READY, TASK_PLACING},
    {TEV_PLACE, TASK_PLACING, TASK_PLACED},
    {TEV_PLACING_TIMEOUT, TASK_PLACING, TASK_READY},
    {TEV_RETURN, TASK_PLACING, TASK_READY},
    {TEV_LAUNCH, TASK_PLACED, TASK_LAUNCHING},
    {TEV_LAUNCHING_TIMEOUT, TASK_LAUNCHING, TASK_PLACED},
    {TEV_LAUNCHED, TASK_LAUNCHING, TASK_LAUNCHED},
    {TEV_STARTING, TASK_LAUNCHED, TASK_STARTING},
    {TEV_RUNNING, TASK_LAUNCHED, TASK_RUNNING},
    {TEV_RUNNING, TASK_STARTING, TASK_RUNNING},
    /* terminal updates from anywhere Mesos knows the task */
    {TEV_SUCCEEDED, TASK_LAUNCHED, TASK_SUCCEEDED},
    {TEV_SUCCEEDED, TASK_STARTING, TASK_SUCCEEDED},
    {TEV_SUCCEEDED, TASK_RUNNING, TASK_SUCCEEDED},
    {TEV_SUCCEEDED, TASK_KILLING, TASK_SUCCEEDED},
    {TEV_SUCCEEDED, TASK_PREEMPTING, TASK_SUCCEEDED},
    {TEV_FAILED, TASK_LAUNCHED, TASK_FAILED},
    {TEV_FAILED, TASK_STARTING, TASK_FAILED},
    {TEV_FAILED, TASK_RUNNING, TASK_FAILED},
    {TEV_FAILED, TASK_KILLING, TASK_FAILED},
    {TEV_FAILED, TASK_PREEMPTING, TASK_FAILED},
    {TEV_LOST, TASK_LAUNCHING, TASK_LOST},
    {TEV_LOST, TASK_LAUNCHED, TASK_LOST},
    {TEV_LOST, TASK_STARTING, TASK_LOST},
    {TEV_LOST, TASK_RUNNING, TASK_LOST},
    {TEV_LOST, TASK_KILLING, TASK_LOST},
    {TEV_LOST, TASK_PREEMPTING, TASK_LOST},
    {TEV_KILLED, TASK_LAUNCHED, TASK_KILLED},
    {TEV_KILLED, TASK_STARTING, TASK_KILLED},
    {TEV_KILLED, TASK_RUNNING, TASK_KILLED},
    {TEV_KILLED, TASK_KILLING, TASK_KILLED},
    {TEV_KILLED, TASK_PREEMPTING, TASK_KILLED},
    /* kill: not yet on Mesos -> KILLED at once; on Mesos -> KILLING */
    {TEV_KILL, TASK_INITIALIZED, TASK_KILLED},
    {TEV_KILL, TASK_PENDING, TASK_KILLED},
    {TEV_KILL, TASK_READY, TASK_KILLED},
    {TEV_KILL, TASK_PLACING, TASK_KILLED},
    {TEV_KILL, TASK_PLACED, TASK_KILLED},
    {TEV_KILL, TASK_LAUNCHING, TASK_KILLING},
    {TEV_KILL, TASK_LAUNCHED, TASK_KILLING},
    {TEV_KILL, TASK_STARTING, TASK_KILLING},
    {TEV_KILL, TASK_RUNNING, TASK_KILLING},
    {TEV_KILL, TASK_PREEMPTING, TASK_KILLING},
    {TEV_PREEMPT, TASK_RUNNING, TASK_PREEMPTING},
    {TEV_PREEMPT, TASK_STARTING, TASK_PREEMPTING},
};

/* next_state[event][from], built once from rows[] (pthread_once). */
static pthread_once_t built = PTHREAD_ONCE_INIT;
static uint8_t next_state[TEV_N_EVENTS][TASK_N_STATES];
static _Atomic uint64_t refused[TEV_N_EVENTS];

static void build_table(void)
{
	for (unsigned i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		next_state[rows[i].event][rows[i].from] = (uint8_t)rows[i].to;
}

const char *taskstate_name(enum taskstate s)
{
	return (unsigned)s < TASK_N_STATES ? state_names[s] : "UNKNOWN";
}

const char *taskevent_name(enum taskevent e)
{
	return (unsigned)e < TEV_N_EVENTS ? event_names[e] : "unknown";
}

/* The events a task's reported state stands for (NotifyTaskUpdates). */
static const struct {
	enum taskstate st;
	enum taskevent ev;
} reported[] = {
    {TASK_LAUNCHED, TEV_LAUNCHED},   {TASK_STARTING, TEV_STARTING}, {TASK_RUNNING, TEV_RUNNING},
    {TASK_SUCCEEDED, TEV_SUCCEEDED}, {TASK_FAILED, TEV_FAILED},     {TASK_LOST, TEV_LOST},
    {TASK_KILLED, TEV_KILLED},
};

bool taskevent_of_reported(enum taskstate st, enum taskevent *ev)
{
	for (size_t i = 0; i < sizeof(reported) / sizeof(reported[0]); i++)
		if (reported[i].st == st) {
			*ev = reported[i].ev;
			return true;
		}
	return false;
}

bool taskstate_reported_by(enum taskevent ev, enum taskstate *st)
{
	for (size_t i = 0; i < sizeof(reported) / sizeof(reported[0]); i++)
		if (reported[i].ev == ev) {
			*st = reported[i].st;
			return true;
		}
	return false;
}

bool taskstate_terminal(enum taskstate s)
{
	return s == TASK_SUCCEEDED || s == TASK_FAILED || s == TASK_LOST || s == TASK_KILLED;
}

enum taskstate taskstate_next(enum taskstate from, enum taskevent event)
{
	if ((unsigned)from >= TASK_N_STATES || (unsigned)event >= TEV_N_EVENTS)
		return TASK_UNKNOWN;
	pthread_once(&built, build_table);
	return (enum taskstate)next_state[event][from];
}

enum taskstate taskstate_cas(_Atomic uint32_t *word, enum taskevent event, enum taskstate *seen)
{
	uint32_t cur = atomic_load_explicit(word, memory_order_acquire);
	enum taskstate to = taskstate_next((enum taskstate)cur, event);

	if (seen != NULL)
		*seen = (enum taskstate)cur;
	if (to == TASK_UNKNOWN ||
	    !atomic_compare_exchange_strong_explicit(word, &cur, (uint32_t)to, memory_order_acq_rel,
	                                             memory_order_acquire)) {
		if (seen != NULL)
			*seen = (enum taskstate)cur;
		if ((unsigned)event < TEV_N_EVENTS)
			atomic_fetch_add_explicit(&refused[event], 1, memory_order_relaxed);
		return TASK_UNKNOWN;
	}
	return to;
}

uint64_t taskstate_refused(enum taskevent e)
{
	return (unsigned)e < TEV_N_EVENTS ? atomic_load(&refused[e]) : 0;
}
