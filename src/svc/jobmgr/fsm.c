/* The job manager's task state machine; see fsm.h. */
#include <pthread.h>
#include <string.h>

#include "fsm.h"

static const char *const event_names[JM_N_EVENTS] = {
    [JM_ENQUEUE] = "enqueue",   [JM_LAUNCH] = "launch",   [JM_STAGING] = "staging",
    [JM_STARTING] = "starting", [JM_RUNNING] = "running", [JM_KILLING] = "killing",
    [JM_FINISHED] = "finished", [JM_FAILED] = "failed",   [JM_KILLED] = "killed",
    [JM_LOST] = "lost",         [JM_KILL] = "kill",       [JM_RECOVER] = "recover",
};

struct row {
	enum jm_event ev;
	enum taskstate from, to;
};

/* The runs Mesos may know of: the states its updates move from. */
#define ON_MESOS(ev, to)                                                            \
	{ev, TASK_LAUNCHING, to}, {ev, TASK_LAUNCHED, to}, {ev, TASK_STARTING, to}, \
	    {ev, TASK_RUNNING, to},                                                 \
	{                                                                           \
		ev, TASK_KILLING, to                                                \
	}

/* Every allowed move. */
static const struct row rows[] = {
    {JM_ENQUEUE, TASK_INITIALIZED, TASK_PENDING},
    /* the next run of a finished task */
    {JM_ENQUEUE, TASK_SUCCEEDED, TASK_PENDING},
    {JM_ENQUEUE, TASK_FAILED, TASK_PENDING},
    {JM_ENQUEUE, TASK_LOST, TASK_PENDING},
    {JM_ENQUEUE, TASK_KILLED, TASK_PENDING},
    {JM_LAUNCH, TASK_PENDING, TASK_LAUNCHING},
    /* Mesos updates: forward only, states may be skipped */
    {JM_STAGING, TASK_LAUNCHING, TASK_LAUNCHED},
    {JM_STARTING, TASK_LAUNCHING, TASK_STARTING},
    {JM_STARTING, TASK_LAUNCHED, TASK_STARTING},
    {JM_RUNNING, TASK_LAUNCHING, TASK_RUNNING},
    {JM_RUNNING, TASK_LAUNCHED, TASK_RUNNING},
    {JM_RUNNING, TASK_STARTING, TASK_RUNNING},
    {JM_KILLING, TASK_LAUNCHING, TASK_KILLING},
    {JM_KILLING, TASK_LAUNCHED, TASK_KILLING},
    {JM_KILLING, TASK_STARTING, TASK_KILLING},
    {JM_KILLING, TASK_RUNNING, TASK_KILLING},
    ON_MESOS(JM_FINISHED, TASK_SUCCEEDED),
    ON_MESOS(JM_FAILED, TASK_FAILED),
    ON_MESOS(JM_KILLED, TASK_KILLED),
    ON_MESOS(JM_LOST, TASK_LOST),
    /* kill: not on Mesos yet -> KILLED at once; on Mesos -> KILLING (a
     * resend keeps it there) */
    {JM_KILL, TASK_INITIALIZED, TASK_KILLED},
    {JM_KILL, TASK_PENDING, TASK_KILLED},
    ON_MESOS(JM_KILL, TASK_KILLING),
    /* recovery: never reached Mesos (the resource manager's states too) */
    {JM_RECOVER, TASK_UNKNOWN, TASK_PENDING},
    {JM_RECOVER, TASK_INITIALIZED, TASK_PENDING},
    {JM_RECOVER, TASK_PENDING, TASK_PENDING},
    {JM_RECOVER, TASK_READY, TASK_PENDING},
    {JM_RECOVER, TASK_PLACING, TASK_PENDING},
    {JM_RECOVER, TASK_PLACED, TASK_PENDING},
};

/* next[ev][from] (TASK_UNKNOWN = no row) and the states Mesos may know,
 * built once from rows[]. */
static pthread_once_t built = PTHREAD_ONCE_INIT;
static uint8_t next[JM_N_EVENTS][TASK_N_STATES];
static bool on_mesos[TASK_N_STATES], ends[JM_N_EVENTS];

static void build(void)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		next[rows[i].ev][rows[i].from] = (uint8_t)rows[i].to;
		if (rows[i].ev == JM_FINISHED)
			on_mesos[rows[i].from] = true;
		if (taskstate_terminal(rows[i].to) && rows[i].ev != JM_KILL)
			ends[rows[i].ev] = true;
	}
}

const char *jm_event_name(enum jm_event e)
{
	return (unsigned)e < JM_N_EVENTS ? event_names[e] : "unknown";
}

enum jm_event jm_event_of_mesos(Mesos__V1__TaskState s, enum taskevent *rm_ev)
{
	static const struct {
		Mesos__V1__TaskState mesos;
		enum jm_event ev;
		enum taskevent rm;
	} map[] = {
	    {MESOS__V1__TASK_STATE__TASK_STAGING, JM_STAGING, TEV_LAUNCHED},
	    {MESOS__V1__TASK_STATE__TASK_STARTING, JM_STARTING, TEV_STARTING},
	    {MESOS__V1__TASK_STATE__TASK_RUNNING, JM_RUNNING, TEV_RUNNING},
	    {MESOS__V1__TASK_STATE__TASK_KILLING, JM_KILLING, TEV_KILL},
	    {MESOS__V1__TASK_STATE__TASK_FINISHED, JM_FINISHED, TEV_SUCCEEDED},
	    {MESOS__V1__TASK_STATE__TASK_FAILED, JM_FAILED, TEV_FAILED},
	    {MESOS__V1__TASK_STATE__TASK_ERROR, JM_FAILED, TEV_FAILED},
	    {MESOS__V1__TASK_STATE__TASK_KILLED, JM_KILLED, TEV_KILLED},
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].mesos == s) {
			*rm_ev = map[i].rm;
			return map[i].ev;
		}
	*rm_ev = TEV_LOST; /* LOST, DROPPED, GONE, UNREACHABLE, UNKNOWN, ... */
	return JM_LOST;
}

enum taskstate jm_next(enum taskstate from, enum jm_event ev)
{
	if ((unsigned)from >= TASK_N_STATES || (unsigned)ev >= JM_N_EVENTS)
		return TASK_UNKNOWN;
	pthread_once(&built, build);
	return (enum taskstate)next[ev][from];
}

bool jm_event_ends(enum jm_event e)
{
	pthread_once(&built, build);
	return (unsigned)e < JM_N_EVENTS && ends[e];
}

bool jm_on_mesos(enum taskstate s)
{
	pthread_once(&built, build);
	return (unsigned)s < TASK_N_STATES && on_mesos[s];
}

static void put(struct jm_job *j, struct jm_task *t, enum taskstate s)
{
	if (j->counts[t->state])
		j->counts[t->state]--;
	if (t->held && s != TASK_PENDING) {
		t->held = false; /* stopped, or recovered into another state */
		j->n_held--;
	}
	t->state = (uint8_t)s;
	j->counts[s]++;
}

bool jm__move(struct jm_job *j, uint32_t inst, enum jm_event ev)
{
	struct jm_task *t = &j->tasks[inst];
	enum taskstate to = jm_next((enum taskstate)t->state, ev);
	if (to == TASK_UNKNOWN)
		return false;
	put(j, t, to);
	if (to == TASK_PENDING)
		t->pending_ns = clock_mono_ns(); /* (submit -> running) */
	return true;
}

void jm__born(struct jm_job *j, uint32_t from, uint32_t to)
{
	memset(&j->tasks[from], 0, (to - from) * sizeof(*j->tasks));
	for (uint32_t i = from; i < to; i++)
		j->tasks[i].state = TASK_INITIALIZED;
	j->counts[TASK_INITIALIZED] += to - from;
}

void jm__load(struct jm_job *j, uint32_t inst, uint32_t stored)
{
	put(j, &j->tasks[inst], stored < TASK_N_STATES ? (enum taskstate)stored : TASK_UNKNOWN);
}
