/*
 * hostmgr: the host manager role — the one role that talks to Mesos.
 *
 * It subscribes (the framework id persisted in the store and reused),
 * turns offers into the host offer index (src/hot/hostidx) and rescinds
 * into removals, launches tasks on a host in one batched ACCEPT (the
 * TaskInfos built from launchables, launchable.h), kills, acknowledges
 * status updates once their consumer made them durable, declines offers
 * held past offer-hold-secs, frees hosts whose placement lease ran out,
 * and publishes every status update into the event stream
 * (eventstream.h) its consumer — the job manager, in process or apart —
 * reads.
 *
 * Reconciliation: after every SUBSCRIBED, the launched tasks the job
 * manager in this process names (jobmgr_seam.h) explicitly; with the job
 * manager apart, implicitly (every task Mesos knows) plus explicitly the
 * launches it made that Mesos has said nothing about (launchwatch.h).
 * Also implicitly every reconcile-secs (hostmgr_tick).
 *
 * The seam the other roles use is hostmgr_seam.h (hostmgr_local_ops here,
 * hostmgr_client apart); the services (InternalHostService,
 * EventStreamService) are bound by hostmgr_bind.
 */
#ifndef HOSTMGR_H
#define HOSTMGR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hostmgr_seam.h"
#include "jobmgr_seam.h"

struct store;
struct rpc_table;

struct hostmgr_config {
	struct store *store;      /* borrowed: the framework id */
	const char *master;       /* "host:port" of the Mesos master (copied) */
	const char *role;         /* FrameworkInfo.role; NULL or "" = peloton (copied) */
	const char *principal;    /* FrameworkInfo.principal; NULL or "" = none (copied) */
	const char *secret;       /* the principal's secret for the master; NULL = none (copied) */
	uint32_t lease_secs;      /* a placement lease on a host; 0 = 60 */
	uint32_t offer_hold_secs; /* offers unused this long are declined; 0 = never */
	uint32_t reconcile_secs;  /* implicit reconciliation period; 0 = never */
	uint32_t reconcile_launch_secs; /* a silent launch for a job manager apart; 0 = 120 */
	double failover_timeout_secs;   /* FrameworkInfo.failover_timeout; 0 = 100 weeks */
};

struct hostmgr;

/* The index, the event stream and the lease table; no Mesos yet. NULL on ENOMEM. */
struct hostmgr *hostmgr_create(const struct hostmgr_config *cfg);
/* Stops (hostmgr_stop) and frees. NULL ok. */
void hostmgr_destroy(struct hostmgr *hm);

/*
 * Subscribes to Mesos. jm: the job manager in this process (its live tasks
 * are reconciled after each SUBSCRIBED; its consumer acknowledges through
 * the seam's ack), or NULL when it runs apart (updates are acknowledged
 * once its consumer purged past them; launches are watched). 0, or -1 with
 * err.
 */
int hostmgr_start(struct hostmgr *hm, const struct jobmgr_ops *jm, char *err, size_t errlen);
/* Leaves Mesos (the stream closes; nothing is declined). */
void hostmgr_stop(struct hostmgr *hm);

/* The periodic work, about once a second (the daemon's main loop): expired
 * leases freed, held offers declined, silent launches and the periodic
 * implicit reconciliation sent. */
void hostmgr_tick(struct hostmgr *hm);

/*
 * The index for a placement engine in this process whose launcher runs
 * apart: leases are taken as hostmgr_local_ops's, but "spending" them keeps
 * them by hostname, as AcquireHostOffers does, for the launcher's
 * LaunchTasks (which names no offers) to spend.
 */
struct hostmgr_index_ops hostmgr_held_index_ops(struct hostmgr *hm);

/* The host offer index (placement's explain reads it). */
struct hostidx *hostmgr_index(struct hostmgr *hm);

/* Binds InternalHostService and EventStreamService. */
void hostmgr_bind(struct hostmgr *hm, struct rpc_table *t);

/* Prometheus text: Mesos subscription and events, hosts, offers, watched launches. */
void hostmgr_write_metrics(struct hostmgr *hm, FILE *f);

/*
 * Readiness for /health: true, or false with the reason in why (not
 * subscribed to the master, the master refusing launch after launch, the
 * in-process status-update consumer unable to read).
 */
bool hostmgr_health(struct hostmgr *hm, char *why, size_t len);

/* GET /ui/data/hosts: every live host as [name, state, cpus free, cpus,
 * memory MB free, memory MB] (compact: 50,000 hosts in ~2.5 MB) and the
 * cluster's totals, read-only. True when url is that route, with status
 * and a malloc'd JSON body. */
bool hostmgr_http(struct hostmgr *hm, const char *method, const char *url, unsigned *status,
                  char **out);

#endif
