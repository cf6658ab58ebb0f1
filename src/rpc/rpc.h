/*
 * rpc: the method table every transport (gRPC, HTTP /api/v1) dispatches
 * through.
 *
 * The table is built from the schema's service descriptors
 * (proto_registry), so every method of every service has exactly one entry
 * from the start, under its full path "/peloton.api.job.JobManager/Create";
 * the public v0 services are also reachable under upstream's newer package
 * names ("/peloton.api.v0.job.JobManager/Create"), which share the entry.
 * A role binds a handler to a method with rpc_bind (one line per method);
 * an entry with no handler answers UNIMPLEMENTED naming the method.
 *
 * A handler gets the decoded request and returns the response (malloc'd in
 * protobuf-c's unpacked layout, freed by the transport), or NULL with a
 * status. v0 APIs report their errors inside an OK response, as upstream.
 *
 * Binding happens before the transports start; afterwards the table is
 * read-only and lookups are safe from any thread.
 */
#ifndef RPC_H
#define RPC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <protobuf-c/protobuf-c.h>

/* gRPC status codes (google.rpc.Code). */
enum rpc_code {
	RPC_OK = 0,
	RPC_CANCELLED = 1,
	RPC_UNKNOWN = 2,
	RPC_INVALID_ARGUMENT = 3,
	RPC_DEADLINE_EXCEEDED = 4,
	RPC_NOT_FOUND = 5,
	RPC_ALREADY_EXISTS = 6,
	RPC_PERMISSION_DENIED = 7,
	RPC_RESOURCE_EXHAUSTED = 8,
	RPC_FAILED_PRECONDITION = 9,
	RPC_ABORTED = 10,
	RPC_OUT_OF_RANGE = 11,
	RPC_UNIMPLEMENTED = 12,
	RPC_INTERNAL = 13,
	RPC_UNAVAILABLE = 14,
	RPC_N_CODES = 17,
};

const char *rpc_code_name(enum rpc_code c); /* "NOT_FOUND" */
int rpc_code_http(enum rpc_code c);         /* 404 for NOT_FOUND, ... */

struct rpc_status {
	enum rpc_code code;
	char msg[256];
};

/* Sets st and returns NULL, for `return rpc_fail(st, RPC_NOT_FOUND, "job %s", id);`. */
void *rpc_fail(struct rpc_status *st, enum rpc_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

typedef ProtobufCMessage *(*rpc_handler_f)(void *ctx, const ProtobufCMessage *req,
                                           struct rpc_status *st);

struct rpc_method {
	char *path;               /* "/peloton.api.job.JobManager/Create" */
	char *procedure;          /* "JobManager::Create" (HTTP Rpc-Procedure) */
	const char *service_full; /* "peloton.api.job.JobManager" (canonical, no alias) */
	const char *method;       /* "Create" */
	const ProtobufCMessageDescriptor *in, *out;
	rpc_handler_f fn; /* NULL: UNIMPLEMENTED */
	void *ctx;
	/* the handler may wait (a long poll: WaitForEvents, DequeueGangs): the
	 * transports run it off the threads that serve unary calls */
	bool long_poll;
	/* metrics (relaxed atomics) */
	_Atomic uint64_t calls, errors;
	_Atomic uint64_t lat_buckets[16]; /* see rpc_latency_bounds */
	_Atomic uint64_t lat_sum_us;
};

/* Latency histogram bucket upper bounds in microseconds (16 of them, last +Inf). */
extern const double rpc_latency_bounds_us[16];

struct rpc_table;

/* Builds the table from the registry (plus aliases). NULL on ENOMEM. */
struct rpc_table *rpc_table_create(void);
void rpc_table_destroy(struct rpc_table *t);

/*
 * Binds fn to "<full service name>/<method>" (canonical name). 0, or -1 when
 * the schema has no such method (a programming error: callers log it, and
 * the method keeps answering UNIMPLEMENTED).
 */
int rpc_bind(struct rpc_table *t, const char *service_full, const char *method, rpc_handler_f fn,
             void *ctx);

/* rpc_bind for a handler that may wait (sets long_poll). */
int rpc_bind_long_poll(struct rpc_table *t, const char *service_full, const char *method,
                       rpc_handler_f fn, void *ctx);

/* By gRPC path ("/pkg.Svc/M", aliases too); NULL when unknown. */
struct rpc_method *rpc_lookup_path(struct rpc_table *t, const char *path, size_t len);

/* By HTTP procedure "Svc::M" or "pkg.Svc::M"; NULL when unknown or ambiguous. */
struct rpc_method *rpc_lookup_procedure(struct rpc_table *t, const char *proc);

/* Every path (canonical and alias) with its entry: i in [0, rpc_n_paths). */
size_t rpc_n_paths(const struct rpc_table *t);
const char *rpc_path_at(const struct rpc_table *t, size_t i, struct rpc_method **m);

/* Every canonical entry (aliases excluded), for tests and /metrics. */
size_t rpc_methods(struct rpc_table *t, struct rpc_method ***out);

enum rpc_encoding { RPC_ENC_PROTO, RPC_ENC_JSON };

/*
 * One call: decodes `body` as the method's request, runs the handler and
 * encodes the response. On RPC_OK *out / *out_len hold the encoded response
 * (malloc'd; caller frees). On error st says why and *out is NULL.
 * Records the call in the method's metrics.
 */
void rpc_invoke(struct rpc_method *m, enum rpc_encoding enc, const uint8_t *body, size_t len,
                uint8_t **out, size_t *out_len, struct rpc_status *st);

/* Writes Prometheus text for the per-method metrics (counts, latency histograms). */
void rpc_write_metrics(struct rpc_table *t, FILE *f);

#endif
