/*
 * sim: the simulated Mesos master behind `mesos-sim` — the state machine
 * only (agents, offers, tasks, status updates, the operator API's views),
 * no HTTP. The HTTP face (sim_http.c) decodes Calls, hands them here and
 * streams what `emit` receives as RecordIO.
 *
 * One framework at a time (what pelotond needs).
 *
 * Agents come from profiles (count, resources, GPUs, a port range,
 * attributes such as rack/zone/sku); without profiles, from the flat
 * fields. Each agent with free resources has at most one outstanding
 * offer for all of them, carrying its attributes and `url` (the agent's
 * HTTP address: the simulator's own). Offers are made from a list of
 * agents whose resources changed (a launch, a task's end, an expired
 * DECLINE filter, a REVIVE, a new subscription), never by scanning every
 * agent, so 50,000 agents cost nothing while idle.
 *
 * ACCEPT is validated as a master does — offers outstanding, all of one
 * agent, LAUNCH resources within what they offer, task ids unique — and
 * an invalid launch becomes TASK_DROPPED / TASK_ERROR updates, not an HTTP
 * error. The filter of a DECLINE or an ACCEPT (`refuse_seconds`, 5 when
 * absent, as a master) keeps the agent's remainder from being offered for
 * that long.
 *
 * Tasks go STARTING, then (once that is acknowledged, as an agent's status
 * update manager sends one update of a task at a time; Mesos's command
 * executor sends STARTING first) RUNNING → FINISHED (or FAILED at fail_rate, or with the status
 * of a command "exit N") after a duration drawn from `task_dist` around
 * task_secs; KILL → KILLED. Updates carry a uuid and are resent until
 * ACKNOWLEDGEd, after `retry_secs` and then doubling intervals (at most 10
 * minutes), as an agent retries; `dup_rate` sends some twice. RECONCILE
 * answers from state (TASK_LOST for unknown tasks).
 *
 * Dynamic reservations and persistent volumes (sim_book.h): ACCEPT's
 * RESERVE / UNRESERVE / CREATE / DESTROY for the framework's role, applied
 * in order and dropped one by one when invalid, as a master does; offers
 * carry each reservation's free part and the volumes not in use; a
 * launch may use them; they survive tasks and the agent's loss and return.
 * SHUTDOWN of a command task's executor (its id is the task's) kills it.
 *
 * Faults: an agent can be taken down (its offer RESCINDed, a FAILURE
 * event, its tasks TASK_UNREACHABLE from the master, as for a
 * partition-aware framework) and brought back under a new agent id;
 * heartbeats can be stalled.
 *
 * Thread-safety: every call takes the sim's mutex; `emit` runs under it.
 */
#ifndef SIM_H
#define SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mesos/v1/master/master.pb-c.h"
#include "mesos/v1/scheduler/scheduler.pb-c.h"

/* A text attribute; agent k of a profile gets values[k % n_values]. */
struct sim_attr {
	const char *name;
	const char *const *values;
	size_t n_values;
};

#define SIM_MAX_ATTRS 8

/* A kind of agent. Strings are borrowed: they must outlive the sim. */
struct sim_profile {
	uint32_t count;
	double cpus, mem_mb, disk_mb, gpus; /* defaults 32, 131072, 1e6, 0 */
	uint32_t port_lo, port_hi;          /* default 31000..32000 */
	uint32_t racks; /* rack=rack-<i % racks> unless an attribute is named rack; default 10 */
	struct sim_attr attrs[SIM_MAX_ATTRS];
	size_t n_attrs;
	/* the agents' hostnames: "{i}" becomes the agent's index in the profile
	 * ("db-{i}" -> db-0, db-1, ...); NULL: host-<NNNNN>, their index overall */
	const char *hostname;
};

enum sim_dist {
	SIM_DIST_UNIFORM, /* uniform in [0.5, 1.5) x task_secs (default) */
	SIM_DIST_EXP,     /* exponential with mean task_secs (capped at 20x) */
	SIM_DIST_FIXED,   /* exactly task_secs */
};

struct sim_config {
	/* agents: the profiles when n_profiles > 0, else `agents` of the flat ones */
	const struct sim_profile *profiles;
	size_t n_profiles;
	uint32_t agents;           /* default 10 */
	double cpus, mem_mb;       /* per agent; defaults 32, 131072 */
	double disk_mb, gpus;      /* defaults 1e6, 0 */
	uint32_t port_lo, port_hi; /* default 31000..32000 */
	uint32_t racks;            /* attribute rack=rack-<i % racks>; default 10 */
	double task_secs;          /* RUNNING for about this long; default 1 */
	enum sim_dist task_dist;
	double fail_rate;      /* share of tasks ending FAILED; default 0 */
	double dup_rate;       /* share of updates sent twice; default 0 */
	double lose_rate;      /* share of launches lost without a trace; default 0 */
	bool no_starting;      /* skip TASK_STARTING (not what an agent does) */
	double heartbeat_secs; /* default 15 */
	double retry_secs;     /* unacknowledged updates resent; default 10 */
	uint64_t seed;
	const char *mesos_version; /* reported in MasterInfo and GET_VERSION; default 1.11.0 */
	/* every accepted launch appends "<task id>\n" here (a witness for
	 * exactly-once tests), "<task id> host=<hostname> volume=<id>\n" for
	 * one using a persistent volume; NULL for none. A task whose command value is
	 * "exit N" (N != 0) ends TASK_FAILED with that status. */
	FILE *launch_log;
	/* --exec: each task's command runs as a process in <exec_root>/<agent
	 * id>/<task id> (sim_exec.h) and the task ends when it does; NULL: tasks
	 * run for task_secs and nothing is run */
	const char *exec_root;
	/* every task that runs to its end appends "<task id> TASK_FINISHED\n"
	 * (or TASK_FAILED) here: with launch_log, a witness that each instance
	 * succeeded exactly once; NULL for none */
	FILE *outcome_log;
};

/* Receives one packed mesos.v1.scheduler.Event (borrowed for the call);
 * event NULL: the master ends this stream (close the connection). */
typedef void (*sim_emit_f)(void *arg, const uint8_t *event, size_t len);

struct sim;

/* NULL when out of memory. */
struct sim *sim_create(const struct sim_config *cfg);
void sim_destroy(struct sim *s);

/* The address agents advertise (Offer.url, AgentInfo.port, their pid). */
void sim_set_address(struct sim *s, const char *ip, uint16_t port);

/* Number of agents (all profiles). */
uint32_t sim_agent_count(struct sim *s);

/*
 * SUBSCRIBE: 200 and the new stream's id (at most 64 bytes) in stream_id,
 * then SUBSCRIBED, a HEARTBEAT and the current offers through emit; 400
 * with a message for a malformed subscribe. A subscription the master
 * refuses (a removed framework, another framework while one is
 * registered) is 200 with one ERROR event and the stream ended, as a
 * master answers. A resubscription fails the old stream over: it gets
 * ERROR "Framework failed over" and ends.
 *
 * One framework at a time (a master serves many): while one is registered
 * (connected, or disconnected within its failover_timeout) another is
 * refused. A framework disconnected past its failover_timeout (FrameworkInfo,
 * default 0) or torn down is removed: its tasks killed, its id refused.
 */
#define SIM_SUBSCRIBE_REFUSED 299 /* answered 200; the stream held one ERROR and ended */
int sim_subscribe(struct sim *s, const Mesos__V1__Scheduler__Call *call, sim_emit_f emit, void *arg,
                  char *stream_id, size_t id_len, char *err, size_t err_len);

/* The subscription's connection went away. */
void sim_unsubscribe(struct sim *s, const char *stream_id);

/*
 * Any other call, with the Mesos-Stream-Id it came with: 202, 400 (bad
 * call, message in err) or 403 (no such subscription or framework).
 */
int sim_call(struct sim *s, const char *stream_id, const Mesos__V1__Scheduler__Call *call,
             char *err, size_t err_len);

/* The operator tears the framework down (its tasks killed, its id refused
 * from now on; a master's operator TEARDOWN). 0, or -1 when none is registered. */
int sim_teardown(struct sim *s, char *err, size_t err_len);

/* Advances time to now_ns: task ends, re-offers, update resends, heartbeats. */
void sim_tick(struct sim *s, uint64_t now_ns);

/*
 * A task's sandbox, as an agent's /files/browse would list it: writes the
 * sandbox directory ("/sandbox/<agent id>/<task id>") into dir and returns
 * true when the task was ever launched here; the simulated sandbox holds
 * "stdout" and "stderr".
 */
bool sim_sandbox(struct sim *s, const char *task_id, char *dir, size_t len);
/* --exec: the task's real sandbox directory (its stdout, stderr and whatever
 * its command wrote); false without --exec or for an unknown task. */
bool sim_sandbox_dir(struct sim *s, const char *task_id, char *dir, size_t len);

/*
 * Fault: agent `agent` (its id, hostname or index) goes down — its
 * outstanding offer RESCINDed, a FAILURE event, each live task
 * TASK_UNREACHABLE (REASON_AGENT_REMOVED, from the master, no uuid).
 * 0, or -1 with err (unknown, already down).
 */
int sim_agent_down(struct sim *s, const char *agent, char *err, size_t err_len);

/* The agent comes back empty, under a new agent id ("...-S<n+1>"). 0 or -1. */
int sim_agent_up(struct sim *s, const char *agent, char *err, size_t err_len);

/* Fault: no HEARTBEAT events for `secs` seconds from now. */
void sim_stall_heartbeats(struct sim *s, double secs);

/* Fault: the share of status updates sent twice (same uuid). */
void sim_set_dup_rate(struct sim *s, double rate);

/* Fault: the share of valid launches lost without a trace (no task, no
 * update: as an ACCEPT lost before the master acted on it; reconciliation
 * then answers TASK_LOST). */
void sim_set_lose_rate(struct sim *s, double rate);

/*
 * The operator API (POST /api/v1, mesos.v1.master.Call): GET_HEALTH,
 * GET_VERSION, GET_AGENTS, GET_FRAMEWORKS, GET_TASKS and GET_STATE, the
 * Response packed (or as JSON with proto field names when json) in *out
 * (malloc'd). GET_TASKS/GET_STATE list every live and unreachable task
 * and at most 1,000 completed ones, as a master bounds them. 200, or 400 /
 * 501 (not simulated) with err.
 */
int sim_operator(struct sim *s, const Mesos__V1__Master__Call *call, bool json, char **out,
                 size_t *out_len, char *err, size_t err_len);

struct sim_stats {
	uint64_t offers_sent, accepts, launched, dropped, running, finished, failed, killed,
	    updates_sent, acks, events, rescinds, duplicates, unreachable, agents_down,
	    lost_launches;
	uint64_t running_peak; /* the most tasks alive at once (a witness for caps) */
	uint64_t health_checks, health_kills; /* checks run; tasks they killed */
	uint64_t running_low;                 /* the fewest tasks alive at once since sim_mark (a
	                                       * witness for how many an update takes down) */
	uint64_t ops_applied, ops_refused;    /* RESERVE/UNRESERVE/CREATE/DESTROY */
	uint64_t shutdowns;                   /* SHUTDOWN calls that stopped an executor */
};
void sim_get_stats(struct sim *s, struct sim_stats *out);
/* Starts a new window for running_low (at the tasks alive now). */
void sim_mark(struct sim *s);

#endif
