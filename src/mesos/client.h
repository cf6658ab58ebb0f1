/*
 * client: the Mesos v1 scheduler HTTP client (libcurl multi, one I/O
 * thread).
 *
 * It SUBSCRIBEs with the configured FrameworkInfo (checkpoint, a long
 * failover timeout, GPU_RESOURCES and PARTITION_AWARE, the persisted
 * framework id when there is one), reads the event stream as RecordIO
 * across arbitrary chunk boundaries, keeps the Mesos-Stream-Id and sends
 * it on every other call. Events go to the `on_event` handler on the I/O
 * thread (the host manager's offer ingestion and the status-update stream
 * plug in there). A dropped stream, an ERROR event, a malformed frame or
 * ~5 missed heartbeats cause a resubscription with capped exponential
 * backoff and jitter; a 307 with a Location moves to that master. A
 * master reached through a 307 that then fails is left for the configured
 * one again (a leader that died must not be retried for ever); with
 * several configured ("h1:5050,h2:5050"), each failure moves to the next.
 *
 * Calls are asynchronous: queued from any thread, sent once subscribed.
 * A call answered 307 is re-issued at the master the Location names, one
 * answered 503 (no leading master) again after a backoff, up to 8 times;
 * other non-2xx answers are logged with their body, counted and handed
 * to `on_call_error`.
 *
 * Bodies are protobuf; `json` switches calls and events to JSON (Mesos's
 * rendering: proto field names), for debugging against a master.
 *
 * Launches are batched: mesos_client_launch() calls for one agent that
 * arrive within `batch_window_ms` (default 2) or until `batch_max_tasks`
 * (default 512) are sent as ONE ACCEPT with all their offer ids and one
 * LAUNCH of all their tasks; different agents go out concurrently.
 *
 * ACKNOWLEDGE is the caller's explicit step (mesos_client_acknowledge),
 * to be taken only after the update is durable.
 */
#ifndef MESOS_CLIENT_H
#define MESOS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mesos/v1/scheduler/scheduler.pb-c.h"

struct mesos_client_config {
	const char *master; /* "host:port" of a master, or several comma-separated;
	                     * 127.0.0.1:5050 default */
	const char *name, *user, *role, *principal; /* FrameworkInfo; defaults peloton, root, * */
	const char *framework_id;                   /* persisted id to resubscribe with, or NULL */
	/* the principal's secret: every call carries HTTP basic authentication
	 * (principal:secret), as a master with --authenticate_http_frameworks
	 * requires; NULL = none */
	const char *secret;
	double failover_timeout_s; /* default 100 weeks, as upstream */
	double backoff_max_s;      /* resubscribe backoff cap; default 15 */
	unsigned batch_window_ms;  /* default 2 */
	unsigned batch_max_tasks;  /* default 512 */
	double accept_refuse_s;    /* ACCEPT's Filters.refuse_seconds: the remainder of an agent
	                            * comes back after this; default 0 (the next allocation) */
	/* on the I/O thread; the event is borrowed for the call */
	void (*on_event)(void *arg, const Mesos__V1__Scheduler__Event *ev);
	void (*on_subscribed)(void *arg, const char *framework_id);
	/* a call that failed for good: its Call.Type, the HTTP status (0 when
	 * the transfer failed) and the answer's body or curl's error */
	void (*on_call_error)(void *arg, int call_type, long http_code, const char *body);
	void *arg;
	bool json; /* application/json instead of application/x-protobuf */
};

struct mesos_client;

/* Starts the I/O thread and the first SUBSCRIBE. NULL with err on failure. */
struct mesos_client *mesos_client_start(const struct mesos_client_config *cfg, char *err,
                                        size_t err_len);
void mesos_client_stop(struct mesos_client *c);

/* True once SUBSCRIBED arrived on the current stream; waits up to timeout_ms. */
bool mesos_client_wait_subscribed(struct mesos_client *c, unsigned timeout_ms);

/*
 * True when the master ended the framework for good (removed it, or another
 * scheduler failed it over), with the reason in why: the client no longer
 * subscribes, and nothing more can be launched.
 */
bool mesos_client_ended(struct mesos_client *c, char *why, size_t len);

/* The framework id (after SUBSCRIBED) into buf; false when none yet. */
bool mesos_client_framework_id(struct mesos_client *c, char *buf, size_t len);

/*
 * Queues a call (framework_id is filled in). The call is packed at once;
 * the caller keeps ownership of `call`. 0, or -1 (ENOMEM, stopping).
 */
int mesos_client_call(struct mesos_client *c, Mesos__V1__Scheduler__Call *call);

/*
 * Queues tasks to launch on `agent_id` with its offers (coalesced per
 * agent, see above). TaskInfos are copied. 0 or -1.
 */
int mesos_client_launch(struct mesos_client *c, const char *agent_id, const char *const *offer_ids,
                        size_t n_offers, Mesos__V1__TaskInfo *const *tasks, size_t n_tasks);

/* ACKNOWLEDGE of a status update (call after it is durable). */
int mesos_client_acknowledge(struct mesos_client *c, const Mesos__V1__TaskStatus *st);

/* DECLINE offers with Filters.refuse_seconds. */
int mesos_client_decline(struct mesos_client *c, const char *const *offer_ids, size_t n,
                         double refuse_seconds);

/* KILL of a task (agent_id may be NULL). */
int mesos_client_kill(struct mesos_client *c, const char *task_id, const char *agent_id);

/*
 * RECONCILE: explicit for n tasks (agent_ids may be NULL, or hold NULLs),
 * in calls of at most 1,000 tasks; n == 0 is implicit (every task the
 * master knows). The answers are UPDATE events. Retrying tasks that never
 * answer is the caller's part (it knows which are still in doubt).
 */
int mesos_client_reconcile(struct mesos_client *c, const char *const *task_ids,
                           const char *const *agent_ids, size_t n);

/* REVIVE (want offers again, filters cleared) or SUPPRESS (no more offers). */
int mesos_client_offers(struct mesos_client *c, bool want);

struct mesos_client_stats {
	uint64_t subscribes, events, calls_sent, calls_failed, calls_retried, accepts,
	    tasks_launched, redirects, bad_frames;
};
void mesos_client_get_stats(struct mesos_client *c, struct mesos_client_stats *out);

#endif
