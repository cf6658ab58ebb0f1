/*
 * placement_remote: the placement engine's backend for an engine running
 * in its own process (`pelotond --roles placement`): the resource manager
 * and the host manager are reached over gRPC, with the calls and messages
 * of the reference (ResourceManagerService DequeueGangs / SetPlacements /
 * EnqueueGangs, InternalHostService AcquireHostOffers / ReleaseHostOffers).
 *
 * Hosts: AcquireHostOffers leases hosts in the host manager and answers
 * HostOffers (hostname, agent, free resources, attributes; no offer ids).
 * Each worker thread keeps a private host index that mirrors just the
 * hosts it holds, so the engine's decision code runs unchanged over
 * leases of it. A host the engine does not use is released (in the host
 * manager and the mirror); the hosts it uses are named in ONE
 * SetPlacements per round, where the host manager's process spends their
 * offers all or nothing and fills the offer ids in (pelotond's
 * SetPlacements handler, hostsvc_consume_held).
 *
 * Gangs the engine gives up on go back with EnqueueGangs (PLACING ->
 * READY, resmgrsvc). TASK-kind constraints count the tasks on a host as
 * the resource manager knows them, whichever engine placed them: for an
 * acquire with such a constraint, one GetTasksByHosts over the hosts
 * granted (a walk of the resource manager's tasks: the price of such
 * constraints apart). Not done: the placement explanation needs the
 * in-process index.
 */
#ifndef PLACEMENT_REMOTE_H
#define PLACEMENT_REMOTE_H

#include "placement.h"

struct plremote;

/*
 * A backend calling `resmgr_target` and `hostmgr_target` ("host:port" of
 * a pelotond serving those roles over gRPC); NULL on ENOMEM. Nothing is
 * dialled until the first call.
 */
struct plremote *plremote_create(const char *resmgr_target, const char *hostmgr_target);
/* After placement_stop (every worker gone). NULL ok. */
void plremote_destroy(struct plremote *r);
/* The backend to put in placement_config.backend. */
void plremote_backend(struct plremote *r, struct placement_backend *out);

struct plremote_stats {
	uint64_t calls, failed_calls, hosts_acquired, hosts_released;
};
void plremote_get_stats(struct plremote *r, struct plremote_stats *out);

#endif
