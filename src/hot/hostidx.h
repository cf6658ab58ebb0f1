/*
 * hostidx: the host offer index, the first half of the placement hot path.
 *
 * One record per Mesos agent (host) summarises the offers held for it:
 * aggregate free resources, offered port ranges, attributes as labels
 * ("name=value", plus "hostname=<name>"), a status and, while PLACING, a
 * lease. Placement workers call hostidx_acquire() to claim hosts that fit
 * a filter; they never take a lock.
 *
 * HOW IT WORKS
 *  - A host's resources live in an immutable snapshot (struct hostidx_snap)
 *    published with rcu_assign_pointer; writers build a new snapshot and
 *    retire the old one with call_rcu. Leases hold a reference on the
 *    snapshot they were granted with, so a holder can read its offers after
 *    leaving the read-side critical section.
 *  - Host records are type-stable: created on first sight of a hostname,
 *    never freed before hostidx_destroy (a lost agent is marked REMOVED and
 *    revived if the hostname returns). A lease's host pointer is therefore
 *    always valid, and a stale lease is detected by its token.
 *  - The status word is (generation << 8 | state). Acquire claims a host by
 *    one CAS READY(g) -> PLACING(g+1); the lease token is g+1. Release CASes
 *    PLACING(t) -> READY(t+1), so a second release, a release after lease
 *    expiry, or after removal fails: a host is held by at most one caller.
 *  - Candidates are found without a full scan: hosts with offers sit in a
 *    bucket grid by size class of free cpus (rows) and free memory
 *    (columns), one grid for hosts offering GPUs and one for the rest (the
 *    GPU rule then needs no scan of the other grid). A filter starts at the
 *    row and column of its minimum: every host in a later row/column has at
 *    least the bucket's lower bound, so only the boundary buckets hold
 *    hosts that fit cpu/mem partly. A per-row bitmap of non-empty columns
 *    skips empty buckets. Pack order walks rows and columns upward (the
 *    fullest hosts that can fit first); spread walks them downward.
 *    Bucket lists are RCU lists of small membership nodes; moving a host
 *    unlinks its node (freed by call_rcu) and links a new one, so a reader
 *    in the old list never strays into the new one.
 *
 * LIMITATIONS
 *  - Size classes approximate "fullest first" (within a bucket, order is
 *    most-recently-updated first).
 *  - filterResultCounts covers the hosts examined. When the search ends
 *    before maxHosts is met, hosts in buckets below the filter's minimum are
 *    added as INSUFFICIENT_OFFER_RESOURCES, GPU hosts for a non-GPU filter
 *    as MISMATCH_GPU, so an unplaceable filter gets counts over the whole
 *    cluster. When maxHosts is met, the hosts with offers not looked at
 *    count as MISMATCH_MAX_HOST_LIMIT (upstream checked the limit first,
 *    too). Hosts without offers always count as NO_OFFER.
 *  - Writers are serialised by one mutex (one Mesos event thread in
 *    practice); readers never wait for it.
 *
 * CONCURRENCY
 *   operation                      | may run concurrently with
 *   -------------------------------+------------------------------------
 *   hostidx_acquire      (reader)  | everything
 *   hostidx_release*     (reader)  | everything
 *   hostidx_lease_*      (reader)  | everything (lease is the caller's)
 *   writers (add/rescind/expire/   | readers; writers serialise on the
 *     remove/consume/capacity)     | index's writer mutex
 *   hostidx_destroy                | nothing
 * Threads that call any function here must be registered with liburcu
 * (rcu_register_thread) for as long as they use the index.
 */
#ifndef HOSTIDX_H
#define HOSTIDX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hostmatch.h"

struct hostidx;
struct hostidx_host;
struct hostidx_snap;

enum hostidx_state {
	HOSTIDX_READY = 1,   /* may be claimed (if it has offers) */
	HOSTIDX_PLACING = 2, /* claimed by one acquirer under a lease */
	HOSTIDX_REMOVED = 3, /* agent lost; revived by a new offer */
};

/* Search order of hostidx_acquire. */
enum hostidx_order {
	HOSTIDX_PACK = 0,   /* fullest host that fits first */
	HOSTIDX_SPREAD = 1, /* emptiest host first */
};

/* An inclusive port range [begin, end]. */
struct hostidx_range {
	uint32_t begin, end;
};

/* One Mesos offer, as the host manager ingests it. Borrowed for the call. */
struct hostidx_offer_in {
	const char *offer_id; /* unique across the index */
	const char *hostname;
	const char *agent_id;
	struct hostmatch_res res;      /* unreserved resources */
	struct hostmatch_res reserved; /* reserved resources (reported only) */
	uint32_t n_ranges;             /* unreserved port ranges */
	const struct hostidx_range *ranges;
	uint32_t n_attrs; /* attributes as "name=value" texts */
	const char *const *attrs;
	uint64_t recv_ns; /* when received (for hostidx_expire_offers_cb) */
};

struct hostidx_config {
	uint64_t lease_ns; /* PLACING lease; 0 = 300 s (upstream default) */
};

/* A claim on one host. Plain data, owned by the caller. */
struct hostidx_lease {
	struct hostidx_host *host;       /* valid until hostidx_destroy */
	const struct hostidx_snap *snap; /* referenced until release/consume */
	uint64_t token;                  /* status generation of this claim */
};

/* Output of hostidx_acquire; the caller provides `leases` with `cap` room. */
struct hostidx_acquire_out {
	struct hostidx_lease *leases;
	uint32_t cap;
	uint32_t n;                           /* leases granted */
	uint32_t counts[HOSTMATCH_N_RESULTS]; /* per HostFilterResult */
	uint32_t examined;                    /* hosts looked at */
};

/* Returns a new empty index, or NULL (errno ENOMEM). Free with destroy. */
struct hostidx *hostidx_create(const struct hostidx_config *cfg);

/* Frees everything. No other call may run and every lease must have been
 * released or consumed. NULL ok. */
void hostidx_destroy(struct hostidx *idx);

/*
 * Writers. Each returns 0, or -1 with errno (EINVAL for a bad argument,
 * EEXIST for an offer id already held, ENOENT for an unknown offer/host,
 * ENOMEM) and changes nothing.
 */

/* Adds offers (any mix of hosts); all or none are added. */
int hostidx_add_offers(struct hostidx *idx, const struct hostidx_offer_in *offers, size_t n);

/* Drops one offer (Mesos RESCIND). A PLACING host stays held. */
int hostidx_rescind(struct hostidx *idx, const char *offer_id);

/* Drops every offer received before `older_than_ns`, except on PLACING
 * hosts (a placement is about to use them), calling fn (when not NULL)
 * with each dropped offer's id after the index is updated (outside the
 * writer lock): to DECLINE them. Returns how many. */
size_t hostidx_expire_offers_cb(struct hostidx *idx, uint64_t older_than_ns,
                                void (*fn)(void *arg, const char *offer_id), void *arg);

/*
 * A new Mesos subscription: the master voided every offer of the old
 * stream. Drops every offer of every host and voids every lease (a PLACING
 * host is READY again under a new generation, so its holder's consume and
 * release fail). Returns how many offers were dropped.
 */
size_t hostidx_drop_all(struct hostidx *idx);

/* Agent lost: drops its offers, marks it REMOVED (voiding any lease). */
int hostidx_remove_host(struct hostidx *idx, const char *hostname);

/* Returns hosts whose PLACING lease ended before now_ns to READY. */
size_t hostidx_expire_leases(struct hostidx *idx, uint64_t now_ns);

/*
 * Readers.
 */

/*
 * Claims up to max_hosts hosts (0 = no limit, bounded by out->cap) that
 * fit `f`, in `order`, READY -> PLACING with a lease until now_ns + lease.
 * Returns 0 (possibly with out->n == 0), or -1 with errno EINVAL and *why
 * set when the filter is invalid (nothing claimed). Lock-free; allocates
 * nothing. Every lease granted must be released or consumed.
 */
int hostidx_acquire(struct hostidx *idx, const struct hostmatch_filter *f, uint32_t max_hosts,
                    enum hostidx_order order, uint64_t now_ns, struct hostidx_acquire_out *out,
                    const char **why);

/*
 * Gives a claimed host back: PLACING -> READY. Returns true, or false when
 * the lease is no longer held (released, expired, host removed); either way
 * the lease's snapshot reference is dropped and the lease zeroed.
 */
bool hostidx_release(struct hostidx *idx, struct hostidx_lease *lease);

/*
 * Releases whatever lease is held on `hostname` (the RPC edge, whose
 * callers name hosts, not leases). Returns true if the host was PLACING.
 */
bool hostidx_release_by_name(struct hostidx *idx, const char *hostname);

/*
 * Launch: takes every offer the lease's snapshot holds out of the index
 * (they are spent by one Mesos ACCEPT) and returns the host to READY.
 * On success returns the number of offer ids written to ids[0..cap) as
 * malloc'd strings the caller frees; -1 with errno ESTALE when the lease
 * is no longer held or an offer was rescinded meanwhile (nothing taken;
 * the lease is still released). The lease is consumed either way.
 */
int hostidx_consume(struct hostidx *idx, struct hostidx_lease *lease, char **ids, size_t cap);

/* Offer ids spent by one consumed lease (malloc'd; free with _fini). */
struct hostidx_offer_ids {
	char **ids;
	uint32_t n;
};
void hostidx_offer_ids_fini(struct hostidx_offer_ids *o);

/*
 * Launch of several hosts at once (a gang on several hosts): under one
 * writer section, checks that every lease is still held with all its
 * offers, and only then takes them all out of the index; out[i] gets lease
 * i's offer ids. All or nothing: on -1 (errno ESTALE) nothing was taken.
 * The leases are consumed either way (hosts back to READY). ENOMEM while
 * dropping can leave earlier hosts spent (-1, errno ENOMEM; logged).
 */
int hostidx_consume_all(struct hostidx *idx, struct hostidx_lease *leases, size_t n,
                        struct hostidx_offer_ids *out);

/* Lease accessors: valid while the lease is held. */
const char *hostidx_lease_hostname(const struct hostidx_lease *lease);
const char *hostidx_lease_agent_id(const struct hostidx_lease *lease);
const struct hostmatch_host *hostidx_lease_view(const struct hostidx_lease *lease);
uint32_t hostidx_lease_ranges(const struct hostidx_lease *lease,
                              const struct hostidx_range **ranges);
uint32_t hostidx_lease_n_offers(const struct hostidx_lease *lease);

/*
 * Read-only view of every live host for a dry run (placement explain):
 * nothing is claimed. Each READY host with offers is checked against `f`;
 * counts[] gets a HostFilterResult per live host (PLACING hosts count as
 * MISMATCH_STATUS, hosts without offers as NO_OFFER) and `fn` is called
 * once with the matching hosts. The records point into RCU snapshots and
 * are valid only during the call. Returns 0, or -1 with errno (EINVAL and
 * *why for an invalid filter, ENOMEM).
 */
struct hostidx_peek_host {
	const char *hostname;
	const struct hostmatch_host *view;
	const struct hostidx_range *ranges;
	uint32_t n_ranges;
};
typedef void (*hostidx_peek_f)(void *arg, const struct hostidx_peek_host *hosts, size_t n);
int hostidx_peek(struct hostidx *idx, const struct hostmatch_filter *f,
                 uint32_t counts[HOSTMATCH_N_RESULTS], hostidx_peek_f fn, void *arg,
                 const char **why);

/* Cluster totals (ClusterCapacity). */
struct hostidx_capacity {
	struct hostmatch_res offered;  /* free in current offers */
	struct hostmatch_res physical; /* largest ever offered per live host */
	uint32_t hosts;                /* live (not REMOVED) hosts */
	uint32_t hosts_with_offers;
	uint32_t placing;
};

void hostidx_capacity(struct hostidx *idx, struct hostidx_capacity *out);

/* Every live host in insertion order, for a read-only listing (the UI's
 * cluster picture): fn(arg, hostname, state, physical, free in its
 * offers). Under the writers' lock: nothing is claimed, placement goes on;
 * offers arriving meanwhile wait for the walk. */
typedef void (*hostidx_each_f)(void *arg, const char *hostname, int state,
                               const struct hostmatch_res *physical,
                               const struct hostmatch_res *free);
void hostidx_each(struct hostidx *idx, hostidx_each_f fn, void *arg);

/*
 * Debug check: recomputes every host's aggregates from its offers and the
 * bucket counts from the hosts; returns true when all agree. Takes the
 * writer lock. Builds with PELOTON_DEBUG_CHECKS also run it (asserting)
 * inside every 64th writer section.
 */
bool hostidx_check(struct hostidx *idx);

/* State of a host by name (tests, introspection): 0 if unknown. */
enum hostidx_state hostidx_host_state(struct hostidx *idx, const char *hostname);

#endif
