/*
 * hostmgr_seam: the host manager as the other roles reach it.
 *
 * The job manager launches tasks on a host (as launchables: the host
 * manager builds the Mesos TaskInfos), kills them, acknowledges status
 * updates it made durable, browses sandboxes, reconciles a silent launch,
 * and reads the status updates; placement engines lease hosts from the
 * offer index and spend them; the resource manager asks for the cluster's
 * capacity and, when it shares the process with the host index and the
 * launcher, spends the leases a placement engine apart named in
 * SetPlacements. Two implementations:
 *
 *   hostmgr_local_ops  in process, over the host manager role
 *                      (hostmgr/local.c);
 *   hostmgr_client     over gRPC: InternalHostService and
 *                      EventStreamService of a daemon running the host
 *                      manager (hostmgr/client.c).
 *
 * The server side binds those services (hostmgr/server.c).
 */
#ifndef HOSTMGR_SEAM_H
#define HOSTMGR_SEAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hostidx.h"
#include "mesos/v1/mesos.pb-c.h"
#include "peloton/api/task/task.pb-c.h"
#include "resmgr_seam.h"

/*
 * A task as the host manager is asked to launch it (hostsvc.LaunchableTask:
 * the Mesos task id, the task's config, the ports chosen for it). Borrowed
 * for the call.
 */
struct launchable_volume {
	const char *id;             /* the Mesos persistence id (the Peloton VolumeID) */
	const char *container_path; /* where it is mounted in the container */
	uint32_t size_mb;
	bool create; /* its first launch: the ACCEPT reserves the task's resources and
	              * creates the volume before launching (RESERVE, CREATE, LAUNCH) */
};

struct launchable {
	const char *task_id; /* Mesos task id: <job>-<instance>-<run> */
	const Peloton__Api__Task__TaskConfig *config;
	const uint32_t *ports; /* one per config port, in order: static or chosen */
	size_t n_ports;
	/* a stateful task: its cpus, mem and disk are reserved for the framework's
	 * role (labels job_id, instance_id) and the volume is mounted; NULL: none */
	const struct launchable_volume *volume;
};

/* The host label each persistent volume in a host's offer appears as
 * ("peloton.volume=<id>"): a stateful task's constraint names it. */
#define HOSTMGR_VOLUME_LABEL "peloton.volume"

#define LAUNCHABLE_MAX_PORTS 16
#define LAUNCHABLE_MAX_LABELS 32

/*
 * A status update's end, reported by its consumer on any thread: handled
 * true once it may be acknowledged (applied and durable, or nothing to
 * change), false when it must come again (not persisted).
 */
typedef void (*hostmgr_update_done_f)(void *arg, bool handled);
/*
 * The consumer of status updates (the job manager). st is borrowed for the
 * call. done NULL: the consumer acknowledges through ops.ack itself once
 * the update is durable; otherwise it calls done(done_arg, handled)
 * exactly once and does not acknowledge.
 */
typedef void (*hostmgr_update_f)(void *arg, const Mesos__V1__TaskStatus *st,
                                 hostmgr_update_done_f done, void *done_arg);

/* The cluster's physical capacity per kind, RES_* order. */
typedef void (*hostmgr_capacity_f)(void *arg, double out[RES_N]);

/*
 * The host offer index as placement engines lease from it (hostidx.h
 * semantics), and the cluster's capacity; any thread.
 */
struct hostmgr_index_ops {
	/* Leases up to max_hosts hosts matching f (filter_pb: the packed
	 * HostFilter f was made from). 0, or -1 with *why. */
	int (*acquire)(void *arg, const struct hostmatch_filter *f, const void *filter_pb,
	               size_t pb_len, uint32_t max_hosts, enum hostidx_order order, uint64_t now_ns,
	               struct hostidx_acquire_out *out, const char **why);
	void (*release)(void *arg, struct hostidx_lease *lease);
	/* Spends the leased hosts' offers, all or none; out[i] gets host i's
	 * offer ids (none apart: SetPlacements names the hosts, and the host
	 * manager's process spends them). 0 or -1. */
	int (*consume_all)(void *arg, struct hostidx_lease *leases, size_t n,
	                   struct hostidx_offer_ids *out);
	/* Optional: the resource manager refused the placement on hostname
	 * (its tasks were killed or enqueued again meanwhile), so what
	 * consume_all spent for it (ids: the offers it gave) goes back at
	 * once. NULL: the host's offers wait for the host manager's hold
	 * limit (--offer-hold-secs). */
	void (*unspend)(void *arg, const char *hostname, const char *agent_id,
	                const struct hostidx_offer_ids *ids);
	/* The cluster's physical capacity (0s while unreachable, logged). */
	hostmgr_capacity_f capacity;
	void *arg;
};

/* The index members over a bare host index (borrowed): what the host
 * manager in process gives, and what tests and benchmarks use. */
struct hostmgr_index_ops hostmgr_index_ops(struct hostidx *idx);

/*
 * The calls; any thread. A NULL member is not offered by that
 * implementation (said per member).
 */
struct hostmgr_ops {
	/* --- the job manager's --- */

	/* Launches tasks on one agent in one ACCEPT. With offer ids (the
	 * placement spent them already) those offers are used; without, the
	 * lease held on `hostname` (AcquireHostOffers or SetPlacements of an
	 * engine apart) is spent. 0, or -1 (refused: logged; the job manager
	 * launches the tasks again as new runs). */
	int (*launch)(void *arg, const char *hostname, const char *agent_id,
	              const char *const *offer_ids, size_t n_offers, const struct launchable *tasks,
	              size_t n_tasks);
	/* A stateful task's volume destroyed and its reservation (labels job_id,
	 * instance_id) released on `hostname`, in one ACCEPT of the host's offers
	 * (OfferOperations apart). 0 once sent; -1 when it cannot go now (the host
	 * offers nothing, or not the volume: its task runs, or the host is down):
	 * try again later. */
	int (*destroy_volume)(void *arg, const char *hostname, const char *volume_id,
	                      const char *job_id, uint32_t instance);
	/* A stateful task waits for `hostname` and the offers held from it show
	 * no free volume: they go back to Mesos (declined, no filter) so the host
	 * is offered afresh with what its tasks freed. A master offers freed
	 * resources in offers of their own anyway; mesos-sim keeps one offer per
	 * agent, which this refreshes. 0, or -1 (nothing held from it, or held by
	 * a placement). NULL apart. */
	int (*refresh_host)(void *arg, const char *hostname);
	/* KILL of a Mesos task (agent_id may be ignored). Apart: queued. */
	int (*kill)(void *arg, const char *mesos_task_id, const char *agent_id);
	/* ACKNOWLEDGE an update once durable. NULL apart (the host manager
	 * acknowledges what the consumer reported handled). */
	int (*ack)(void *arg, const Mesos__V1__TaskStatus *st);
	/* A task's sandbox listing from its agent's files endpoint: host and
	 * port written, *paths malloc'd (each and the array); 0, or -1 with err.
	 * NULL apart (the agents' addresses live in the host manager). */
	int (*browse)(void *arg, const char *agent_id, const char *mesos_task_id, char *host,
	              size_t hlen, char *port, size_t plen, char ***paths, size_t *n, char *err,
	              size_t errlen);
	/* Explicit RECONCILE of one task. NULL apart (the host manager
	 * reconciles the launches it made for a consumer apart itself). */
	int (*reconcile)(void *arg, const char *mesos_task_id, const char *agent_id);
	/* Starts delivering status updates to fn(fn_arg, ...) from a thread of
	 * the implementation; 0 or -1. One consumer. */
	int (*start_updates)(void *arg, hostmgr_update_f fn, void *fn_arg);
	/* Stops delivering (joins that thread); no call to fn after it. */
	void (*stop_updates)(void *arg);

	/* --- placement engines' and the resource manager's: the offer index --- */
	struct hostmgr_index_ops index;

	/* --- the resource manager's --- */

	/* Spends the leases held through the RPC edge on `hostnames` (all or
	 * none), out[i] host i's offer ids; 0, or -1 with err (nothing spent,
	 * the held leases released). NULL apart. */
	int (*consume_held)(void *arg, const char *const *hostnames, size_t n,
	                    struct hostidx_offer_ids *out, char *err, size_t errlen);
	void *arg;
};

struct hostmgr;

/* The in-process implementation over the host manager role (borrowed; it
 * outlives every use of the ops). */
struct hostmgr_ops hostmgr_local_ops(struct hostmgr *hm);

/*
 * The gRPC implementation: calls a daemon serving the host manager at
 * `target` ("host:port"). `module` names the caller's role in logs and
 * metrics ("jobmgr", "placement", "resmgr"). Kills are queued and sent by
 * a thread of the client's; placement calls use one connection and one
 * mirror index per calling thread. NULL on ENOMEM.
 */
struct hostmgr_client;
struct hostmgr_client *hostmgr_client_create(const char *target, const char *module);
/* After every user of its ops stopped (stop_updates included). NULL ok. */
void hostmgr_client_destroy(struct hostmgr_client *c);
struct hostmgr_ops hostmgr_client_ops(struct hostmgr_client *c);
/* Prometheus text: calls, launches, kills, updates read, hosts leased. */
void hostmgr_client_write_metrics(struct hostmgr_client *c, FILE *f);
/* Readiness: false with why when the status-update stream has gone unread
 * (the host manager unreachable or refusing) for a while. */
bool hostmgr_client_health(struct hostmgr_client *c, char *why, size_t len);

#endif
