/*
 * hostmatch: does one host fit one filter? The pure core of
 * AcquireHostOffers, shared by the host index, the benchmark baseline and
 * the tests. No locks, no allocation, no protobuf: a filter and a read-only
 * host view in, one hostmatch_result out.
 *
 * Semantics (hostsvc.proto, task.proto):
 *  - resources: the host's free (unreserved, offered) cpus, mem, disk and
 *    gpus must each be >= the filter's minimum; its offered port ranges
 *    must hold >= num_ports ports.
 *  - the GPU rule: a filter asking no GPUs never gets a host that offers
 *    GPUs (MISMATCH_GPU); a filter asking some needs a host with enough.
 *  - constraints: a tree of AND / OR nodes over label leaves. A HOST-kind
 *    leaf counts the host labels equal to its label ("name=value") and
 *    compares the count with `requirement` (LESS_THAN: count < req,
 *    EQUAL: count == req, GREATER_THAN: count > req). TASK-kind leaves are
 *    not host properties and evaluate true here (placement checks them).
 *    An empty AND is true; an empty OR is false.
 */
#ifndef HOSTMATCH_H
#define HOSTMATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Mirrors peloton.private.hostmgr.hostsvc.HostFilterResult values. */
enum hostmatch_result {
	HOSTMATCH_UNKNOWN = 0,
	HOSTMATCH_MATCH = 1,
	HOSTMATCH_INSUFFICIENT_RESOURCES = 2,
	HOSTMATCH_MISMATCH_CONSTRAINTS = 3,
	HOSTMATCH_MISMATCH_GPU = 4,
	HOSTMATCH_MISMATCH_STATUS = 5,
	HOSTMATCH_MISMATCH_MAX_HOST_LIMIT = 6,
	HOSTMATCH_NO_OFFER = 7,
	HOSTMATCH_N_RESULTS = 8,
};

/* The HostFilterResult enum name of r ("MATCH", "NO_OFFER", ...). */
const char *hostmatch_result_name(enum hostmatch_result r);

/* A resource vector. Units: cpus and gpus in cores, mem and disk in MB. */
struct hostmatch_res {
	double cpus, mem_mb, disk_mb, gpus;
};

/* A host label "name=value", with its 64-bit FNV-1a hash for fast compare. */
struct hostmatch_label {
	uint64_t hash;
	const char *text; /* "name=value", NUL-terminated; owner: whoever built it */
};

/* Hash of a label text (what hostmatch_label.hash holds). */
uint64_t hostmatch_label_hash(const char *text);

enum hostmatch_node_kind {
	HOSTMATCH_NODE_LABEL = 1,
	HOSTMATCH_NODE_AND = 2,
	HOSTMATCH_NODE_OR = 3,
};

enum hostmatch_condition {
	HOSTMATCH_LESS_THAN = 1,
	HOSTMATCH_EQUAL = 2,
	HOSTMATCH_GREATER_THAN = 3,
};

/* One node of a constraint tree (task.proto Constraint). */
struct hostmatch_node {
	enum hostmatch_node_kind kind;
	/* LABEL: */
	bool host_kind; /* false: a TASK-kind leaf (true here) */
	enum hostmatch_condition condition;
	uint32_t requirement;
	struct hostmatch_label label;
	/* AND / OR: */
	uint32_t n_children;
	const struct hostmatch_node *children;
};

struct hostmatch_filter {
	struct hostmatch_res min; /* every component >= 0 and finite */
	uint32_t num_ports;
	const struct hostmatch_node *constraint; /* NULL: none */
};

/* What the matcher reads of a host. Borrowed for the call. */
struct hostmatch_host {
	struct hostmatch_res free;
	uint32_t n_ports; /* ports in the offered ranges */
	uint32_t n_labels;
	const struct hostmatch_label *labels;
};

/*
 * MATCH, INSUFFICIENT_RESOURCES, MISMATCH_GPU or MISMATCH_CONSTRAINTS (in
 * that order of checks). Status, offers and max-hosts are the index's.
 */
enum hostmatch_result hostmatch_check(const struct hostmatch_filter *f,
                                      const struct hostmatch_host *h);

/* Evaluates a constraint tree against host labels; NULL is true. */
bool hostmatch_constraint_ok(const struct hostmatch_node *n, const struct hostmatch_label *labels,
                             uint32_t n_labels);

/* Counts the tasks on a host carrying `label` (TASK-kind constraints). */
typedef uint32_t (*hostmatch_task_count_f)(void *arg, const struct hostmatch_label *label);

/*
 * As hostmatch_constraint_ok, and TASK-kind leaves compare task_count()
 * (the tasks on the host with that label) with their requirement; with
 * task_count NULL they are true.
 */
bool hostmatch_constraint_eval(const struct hostmatch_node *n, const struct hostmatch_label *labels,
                               uint32_t n_labels, hostmatch_task_count_f task_count, void *arg);

/*
 * Validates a filter: resources finite and >= 0, node kinds and conditions
 * known, AND/OR with children only through `children`, depth <= 32.
 * Returns true, or false with a static message in *why.
 */
bool hostmatch_filter_valid(const struct hostmatch_filter *f, const char **why);

/* Whether the constraint tree n has a TASK-kind leaf (counts tasks on the host). */
bool hostmatch_has_task_leaves(const struct hostmatch_node *n);

#endif
