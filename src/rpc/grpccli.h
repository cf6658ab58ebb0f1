/*
 * grpccli: a unary gRPC client on the C core (the peloton CLI, tests and
 * bench_rpc use it). One channel and completion queue per client; calls from
 * any thread take turns on a client (one connection each: make one client
 * per thread for parallel calls).
 */
#ifndef GRPCCLI_H
#define GRPCCLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "rpc.h"

struct grpccli;

/* The channel arguments every client channel here uses (grpc_arg[]). */
#include <grpc/grpc.h>
extern const grpc_arg grpccli_args[];
extern const size_t grpccli_n_args;

/* A channel to "host:port" (insecure). NULL on ENOMEM. */
struct grpccli *grpccli_create(const char *target);
void grpccli_destroy(struct grpccli *c);

/*
 * Calls `path` ("/pkg.Svc/Method") with the request bytes, waiting up to
 * timeout_ms. On OK *resp / *resp_len hold the response (malloc'd; caller
 * frees). Otherwise st has the code and message (UNAVAILABLE when the
 * daemon cannot be reached, DEADLINE_EXCEEDED on timeout).
 */
void grpccli_call(struct grpccli *c, const char *path, const uint8_t *req, size_t req_len,
                  unsigned timeout_ms, uint8_t **resp, size_t *resp_len, struct rpc_status *st);

/*
 * grpccli_call with messages: packs req, calls, decodes the answer as a
 * `rd`. The response (free with PB_FREE), or NULL with st set (an answer
 * that does not decode: INTERNAL, saying what failed).
 */
ProtobufCMessage *grpccli_call_msg(struct grpccli *c, const char *path, const ProtobufCMessage *req,
                                   const ProtobufCMessageDescriptor *rd, unsigned timeout_ms,
                                   struct rpc_status *st);

/*
 * A peer as the daemon's clients watch it: calls and failures counted, and
 * one log line when it stops answering (UNAVAILABLE; repeats stay quiet
 * until a call succeeds, which is logged too). Other failures are logged
 * each time. `down` is per connection (they reconnect apart).
 */
struct grpccli_watch {
	const char *module; /* log module: the caller's role */
	const char *peer;   /* "the host manager", for the log */
	_Atomic uint64_t *calls, *failed;
};

/* grpccli_call_msg, counted and logged as above; NULL on failure. */
ProtobufCMessage *grpccli_call_watched(struct grpccli *c, _Atomic bool *down,
                                       const struct grpccli_watch *w, const char *path,
                                       const ProtobufCMessage *req,
                                       const ProtobufCMessageDescriptor *rd, unsigned timeout_ms);

#endif
