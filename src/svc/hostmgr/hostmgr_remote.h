/*
 * hostmgr_remote: the job manager's host manager over gRPC, for a job
 * manager in a process without the host manager (`--hostmgr-address`).
 *
 * Launches are LaunchTasks (hostname, agent, the tasks as LaunchableTasks:
 * Mesos task id, config, ports by name); the host manager spends the lease
 * it holds on the host and builds the TaskInfos. Placements carrying offer
 * ids cannot be launched this way (LaunchTasks names no offers): such a
 * launch fails, logged — the daemon runs its placement engine through
 * leases whenever the launcher is apart, so none arrive.
 *
 * Kills are queued and sent by a thread of their own, up to 1,000 task ids
 * per KillTasks (the job manager kills with a job mutex held; it resends
 * every kill until Mesos reports the end, so one lost while the host
 * manager is down is sent again).
 *
 * Status updates come from the host manager's event stream
 * (EventStreamService InitStream / WaitForEvents as client "jobmgr"): each
 * goes to jobmgr_on_status_cb, and the purge offset sent back moves past
 * an update only once the job manager reported it handled (durable): the
 * host manager acknowledges it to Mesos then. An update that could not be
 * persisted is given to the job manager again a second later. A host
 * manager that restarted (a new stream id) is followed with a new
 * InitStream; the updates it had not acknowledged Mesos sends again.
 *
 * Not over this interface: sandbox browsing (the agents' addresses live in
 * the host manager) and explicit reconciliation of one task (the host
 * manager reconciles the launches it made itself: launchwatch.h); both
 * ops are NULL.
 */
#ifndef HOSTMGR_REMOTE_H
#define HOSTMGR_REMOTE_H

#include <stdint.h>

#include "jobmgr.h"

struct hmremote;

/* target: "host:port" of the host manager's gRPC server. NULL on ENOMEM. */
struct hmremote *hmremote_create(const char *target);
/* Stops the threads (hmremote_stop) and frees. Call after the store that
 * runs the job manager's completions is closed. NULL ok. */
void hmremote_destroy(struct hmremote *h);

/* The jobmgr_ops over h: launch and kill (ack, browse, reconcile NULL). */
struct jobmgr_ops hmremote_ops(struct hmremote *h);

/* Starts the event-stream consumer feeding jm. 0 or -1. */
int hmremote_start_events(struct hmremote *h, struct jobmgr *jm);
/* Stops the consumer and the kill sender (before jm is destroyed). */
void hmremote_stop(struct hmremote *h);

struct hmremote_stats {
	uint64_t calls, failed_calls, launched, kills_sent, updates, updates_retried;
	uint64_t purge_offset;
};
void hmremote_get_stats(struct hmremote *h, struct hmremote_stats *out);

#endif
