/*
 * hostsvc: the protobuf face of the host index (InternalHostService's
 * AcquireHostOffers, ReleaseHostOffers, ClusterCapacity) and the ingestion
 * of Mesos offers into it.
 *
 * The hot path (src/hot/hostidx) speaks plain C; this module converts at
 * the edge: a HostFilter becomes a hostmatch_filter (convert/hostfilter.h),
 * granted leases become HostOffer messages, and
 * mesos.v1.Offer messages become hostidx_offer_in records. RPC callers name
 * hosts, not leases, so the leases granted through this edge are kept here
 * by hostname until ReleaseHostOffers (or a launch) gives them back.
 *
 * Responses are built with malloc in protobuf-c's unpacked layout: free
 * them with protobuf_c_message_free_unpacked(&resp->base, NULL).
 * Thread-safe: the lease table has its own mutex (the edge is not the hot
 * path; placement workers use hostidx directly). Calling threads must be
 * registered with liburcu.
 */
#ifndef HOSTSVC_H
#define HOSTSVC_H

#include <stddef.h>
#include <stdint.h>

#include "hostidx.h"
#include "mesos/v1/mesos.pb-c.h"
#include "peloton/private/hostmgr/hostsvc/hostsvc.pb-c.h"

typedef Peloton__Private__Hostmgr__Hostsvc__AcquireHostOffersRequest hostsvc_acquire_req;
typedef Peloton__Private__Hostmgr__Hostsvc__AcquireHostOffersResponse hostsvc_acquire_resp;
typedef Peloton__Private__Hostmgr__Hostsvc__ReleaseHostOffersRequest hostsvc_release_req;
typedef Peloton__Private__Hostmgr__Hostsvc__ReleaseHostOffersResponse hostsvc_release_resp;
typedef Peloton__Private__Hostmgr__Hostsvc__ClusterCapacityResponse hostsvc_capacity_resp;

struct hostsvc;

/* Returns a service over `idx` (borrowed; outlives the service), or NULL. */
struct hostsvc *hostsvc_create(struct hostidx *idx, enum hostidx_order order);

/* Releases every lease still held through the edge, then frees. NULL ok. */
void hostsvc_destroy(struct hostsvc *svc);

/*
 * AcquireHostOffers. Always returns a response (NULL only on ENOMEM): an
 * invalid filter gets error.invalidHostFilter with the reason and nothing
 * claimed; otherwise hostOffers and filterResultCounts.
 */
hostsvc_acquire_resp *hostsvc_acquire(struct hostsvc *svc, const hostsvc_acquire_req *req,
                                      uint64_t now_ns);

/*
 * ReleaseHostOffers: gives back each named host this edge holds. Hosts it
 * does not hold change nothing; they are counted in *not_held (may be
 * NULL) and logged. Returns a response, NULL on ENOMEM.
 */
hostsvc_release_resp *hostsvc_release(struct hostsvc *svc, const hostsvc_release_req *req,
                                      uint32_t *not_held);

/*
 * Spends the leases this edge holds on `hostnames` (a placement engine in
 * another process named them in SetPlacements): all or nothing, as one
 * hostidx_consume_all; out[i] gets host i's offer ids for the ACCEPT.
 * Returns 0, or -1 with a message in err: a host not held (never acquired,
 * released, or its lease expired) or whose offers moved (rescinded,
 * expired). On -1 nothing is spent, and the leases that were held are
 * released (the engine's round is void).
 */
int hostsvc_consume_held(struct hostsvc *svc, const char *const *hostnames, size_t n,
                         struct hostidx_offer_ids *out, char *err, size_t errlen);

/* The lease held for hostname (hostsvc_hold), if any, released: its
 * placement was refused. */
void hostsvc_unhold(struct hostsvc *svc, const char *hostname);

/*
 * Keeps leases taken from the index (by an engine in this process) as if
 * AcquireHostOffers had granted them, until a launch or SetPlacements
 * spends them by hostname, ReleaseHostOffers gives them back, or they
 * expire. All or none: 0, or -1 on ENOMEM with every lease released.
 */
int hostsvc_hold(struct hostsvc *svc, struct hostidx_lease *leases, size_t n);

/* ClusterCapacity: offered ("resources") and physical totals per kind. */
hostsvc_capacity_resp *hostsvc_capacity(struct hostsvc *svc);

/*
 * Adds Mesos offers to the index (all or none): scalars cpus, mem, disk,
 * gpus and the ports ranges; resources with a role other than "*" or with
 * a reservation count as reserved; attributes become "name=value" labels.
 * Returns 0, or -1 with errno and a message in err.
 */
int hostsvc_ingest_offers(struct hostsvc *svc, Mesos__V1__Offer *const *offers, size_t n,
                          uint64_t now_ns, char *err, size_t errlen);

/*
 * The id of a lease as HostOffer.id carries it ("<hostname>-<claim token>",
 * opaque to clients): LaunchTasksRequest.id names it back.
 */
#define HOSTSVC_OFFER_ID_MAX 300
void hostsvc_offer_id(const struct hostidx_lease *lease, char *buf, size_t len);

/* 0 when id is the lease held for hostname now; -1 with err otherwise. */
int hostsvc_check_offer_id(struct hostsvc *svc, const char *hostname, const char *id, char *err,
                           size_t errlen);

/*
 * The offers of one host for an operation now (RESERVE, CREATE, DESTROY,
 * UNRESERVE, a launch on reserved resources): the lease this edge holds on
 * it (AcquireHostOffers) if any, else a lease taken on it by name; spent
 * at once (out: its offer ids; agent: its agent id). 0, or -1 with err (no
 * offer from it now, or held by a placement).
 */
int hostsvc_take_host(struct hostsvc *svc, const char *hostname, uint64_t now_ns,
                      struct hostidx_offer_ids *out, char *agent, size_t alen, char *err,
                      size_t errlen);

#endif
