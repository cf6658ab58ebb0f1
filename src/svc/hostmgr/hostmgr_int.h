/* The host manager's insides, shared by hostmgr.c, local.c and server.c. */
#ifndef HOSTMGR_INT_H
#define HOSTMGR_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "agents.h"
#include "client.h"
#include "eventstream.h"
#include "hostidx.h"
#include "hostmgr.h"
#include "hostsvc.h"
#include "launchwatch.h"
#include "reserved.h"

struct hostmgr {
	struct hostmgr_config cfg;
	char *master;
	char *role, *principal; /* the framework's: reservations and volumes are made for them */
	char *secret;           /* the principal's secret for the master, or NULL */
	struct hostidx *idx;
	struct hostsvc *hsvc;      /* the RPC edge's leases, offers into the index */
	struct eventstream *es;    /* status updates on their way to the consumer */
	struct agent_book *agents; /* agents' own addresses, from their offers */
	struct reserved *reserved; /* what each host offers reserved now (reserved.h) */
	struct launchwatch *lw;    /* the job manager apart: its launches, until Mesos answers */
	struct jobmgr_ops jm;      /* the job manager in process (live_tasks NULL: apart) */
	struct mesos_client *mc;
	uint64_t next_implicit_ns; /* the next periodic implicit reconciliation */
	/* the in-process consumer of the event stream (hostmgr_local_ops) */
	pthread_t es_thread;
	bool es_started;
	_Atomic bool es_stop;
	_Atomic bool es_healthy; /* its last read (or open) of the stream worked */
	hostmgr_update_f upd_fn;
	void *upd_arg;
	_Atomic uint64_t offers_in, offers_used, offers_declined, rescinds, updates_in, subscribes;
	_Atomic uint64_t events_by_type[16]; /* mesos.v1.scheduler.Event.Type */
	_Atomic uint64_t volumes_created;    /* CREATEs sent (with their RESERVE and LAUNCH) */
	_Atomic uint64_t volume_ops;         /* other offer operations sent (destroy, unreserve) */
	/* launches the master refused (invalid offers) since a task last started */
	_Atomic uint32_t refused_in_row;
};

/* Why a launch was refused (LaunchTasksResponse's errors). */
enum hostmgr_launch_result {
	LAUNCH_OK,
	LAUNCH_BAD_TASK, /* invalidArgument */
	LAUNCH_NO_LEASE, /* invalidOffers */
	LAUNCH_FAILED,   /* launchFailure */
};

/*
 * Launches tasks on one agent: TaskInfos built from the launchables, one
 * ACCEPT with the offers; without offer ids the lease held on `host` is
 * spent. LAUNCH_OK, or the reason with a message in err.
 */
enum hostmgr_launch_result hostmgr__launch(struct hostmgr *hm, const char *host, const char *agent,
                                           const char *const *offers, size_t n_offers,
                                           const struct launchable *lts, size_t n, char *err,
                                           size_t elen);

/* What an offer operation request came to (OfferOperationsResponse's errors). */
enum hostmgr_ops_result {
	HOSTMGR_OPS_OK,
	HOSTMGR_OPS_BAD_ARG,  /* invalidArgument: nothing sent */
	HOSTMGR_OPS_NO_OFFER, /* invalidOffers: the host offers nothing now (busy, down) */
	HOSTMGR_OPS_FAILED,   /* failure: the Mesos client refused the call */
};

/*
 * Peloton offer operations (hostsvc.OfferOperation) on `host`, as Mesos
 * operations in one ACCEPT of its offers (offerops.c): RESERVE of given
 * resources, CREATE of a volume, LAUNCH of launchable tasks, DESTROY of a
 * volume id, UNRESERVE of everything offered under a label text.
 */
enum hostmgr_ops_result
hostmgr__offer_ops(struct hostmgr *d, const char *host,
                   const Peloton__Private__Hostmgr__Hostsvc__OfferOperation *const *ops, size_t n,
                   char *err, size_t elen);

/*
 * ReserveResources / UnreserveResources / CreateVolumes / DestroyVolumes
 * (type: an OfferOperation.Type): the host found from the resources (a
 * reservation label hostname=<host> for RESERVE; where the volume or the
 * labelled reservation is offered for the others), then as one request.
 */
enum hostmgr_ops_result hostmgr__raw_op(struct hostmgr *d, int type,
                                        Mesos__V1__Resource *const *res, size_t n, char *err,
                                        size_t elen);

/* DESTROY of a stateful task's volume and UNRESERVE of its reservation
 * (labels job_id, instance_id) on host, in one ACCEPT. 0, or -1 with err. */
int hostmgr__destroy_volume(struct hostmgr *d, const char *host, const char *volume_id,
                            const char *job_id, uint32_t instance, char *err, size_t elen);

/* A SHUTDOWN call per executor; -1 when one lacks its ids (*bad, nothing
 * sent) or was not queued (*failed). */
int hostmgr__shutdown_executors(struct hostmgr *d,
                                Peloton__Private__Hostmgr__Hostsvc__ExecutorOnAgent *const *ex,
                                size_t n, size_t *bad, size_t *failed);

/* The sandbox listing of a task from its agent's files endpoint (hostmgr_ops.browse). */
int hostmgr__browse(void *arg, const char *agent, const char *task, char *host, size_t hlen,
                    char *port, size_t plen, char ***paths, size_t *n, char *err, size_t elen);

#endif
