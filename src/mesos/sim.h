/*
 * sim: the simulated Mesos master behind `mesos-sim` — the state machine
 * only (agents, offers, tasks, status updates), no HTTP. The HTTP face
 * (sim_http.c) decodes Calls, hands them here and streams what `emit`
 * receives as RecordIO.
 *
 * One framework at a time (what pelotond needs). Offers: each agent with
 * free resources has at most one outstanding offer for all of them; spent
 * or declined resources come back in a new offer (after the DECLINE's
 * refuse_seconds, default 5 s, as a real master's filter). ACCEPT is
 * validated as a master does — offers outstanding, all of one agent,
 * LAUNCH resources within what they offer, task ids unique — and an
 * invalid launch becomes TASK_DROPPED / TASK_ERROR updates, not an HTTP
 * error. Tasks go STARTING → RUNNING → FINISHED (or FAILED at fail_rate)
 * after task_secs; KILL → KILLED. Updates carry a uuid and are resent
 * until ACKNOWLEDGEd, after `retry_secs` and then doubling intervals (at
 * most 10 minutes), as an agent retries. RECONCILE answers from state
 * (TASK_LOST for unknown tasks).
 *
 * Thread-safety: every call takes the sim's mutex; `emit` runs under it.
 */
#ifndef SIM_H
#define SIM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mesos/v1/scheduler/scheduler.pb-c.h"

struct sim_config {
	uint32_t agents;           /* default 10 */
	double cpus, mem_mb;       /* per agent; defaults 32, 131072 */
	double disk_mb;            /* default 1e6 */
	uint32_t port_lo, port_hi; /* default 31000..32000 */
	uint32_t racks;            /* attribute rack=rack-<i % racks>; default 10 */
	double task_secs;          /* RUNNING for this long; default 1 */
	double fail_rate;          /* share of tasks ending FAILED; default 0 */
	double heartbeat_secs;     /* default 15 */
	double retry_secs;         /* unacknowledged updates resent; default 10 */
	uint64_t seed;
	/* every accepted launch appends "<task id>\n" here (a witness for
	 * exactly-once tests); NULL for none. A task whose command value is
	 * "exit N" (N != 0) ends TASK_FAILED with that status. */
	FILE *launch_log;
};

/* Receives one packed mesos.v1.scheduler.Event (borrowed for the call). */
typedef void (*sim_emit_f)(void *arg, const uint8_t *event, size_t len);

struct sim;

struct sim *sim_create(const struct sim_config *cfg);
void sim_destroy(struct sim *s);

/*
 * SUBSCRIBE: 200 and the new stream's id (at most 64 bytes) in stream_id,
 * then SUBSCRIBED and the current offers through emit; 400 with a message
 * for a malformed subscribe. A new subscription replaces the old one.
 */
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

/* Advances time to now_ns: task ends, re-offers, update resends, heartbeats. */
void sim_tick(struct sim *s, uint64_t now_ns);

/*
 * A task's sandbox, as an agent's /files/browse would list it: writes the
 * sandbox directory ("/sandbox/<agent id>/<task id>") into dir and returns
 * true when the task was ever launched here; the simulated sandbox holds
 * "stdout" and "stderr".
 */
bool sim_sandbox(struct sim *s, const char *task_id, char *dir, size_t len);

struct sim_stats {
	uint64_t offers_sent, accepts, launched, dropped, running, finished, failed, killed,
	    updates_sent, acks, events;
};
void sim_get_stats(struct sim *s, struct sim_stats *out);

#endif
