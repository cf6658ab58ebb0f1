/*
 * grpcsrv: the gRPC transport, on the gRPC C core.
 *
 * Every call is unary: the path ("/pkg.Service/Method") picks the entry of
 * the method table, the one request message is decoded with proto_decode,
 * the handler runs on the worker thread that received it and the response
 * (or the status with its message) goes back in one batch. Unknown paths
 * answer UNIMPLEMENTED naming the path; requests above max_request_bytes
 * are refused by the core with RESOURCE_EXHAUSTED; a call whose deadline
 * passed before its handler ran answers DEADLINE_EXCEEDED without running
 * it.
 *
 * Every path of the table (aliases too) is registered with the core, so
 * its payload arrives with the call (one batch: send response + status);
 * each worker keeps one request outstanding per path and posts the next as
 * soon as one arrives. Unregistered paths land in `slots` generic requests
 * per worker and are answered UNIMPLEMENTED.
 *
 * Threads: `workers` threads, each with its own completion queue, run the
 * unary calls. Calls of long_poll methods (rpc_bind_long_poll) run on
 * threads of their own, made on demand up to `max_long_polls`; past that a
 * long poll is answered RESOURCE_EXHAUSTED at once, so waiting callers
 * never hold back the others. grpcsrv_stop stops accepting,
 * lets calls in flight finish (up to the grace period, then cancels them)
 * and joins the threads.
 */
#ifndef GRPCSRV_H
#define GRPCSRV_H

#include <stddef.h>

#include "rpc.h"

struct grpcsrv_config {
	const char *addr;         /* "127.0.0.1:5392" */
	unsigned workers;         /* default 4 */
	unsigned slots;           /* generic request_calls per worker (unknown paths); default 8 */
	size_t max_request_bytes; /* default 4 MiB */
	unsigned grace_ms;        /* drain time at stop; default 5000 */
	unsigned max_long_polls;  /* long-poll calls running at once; default 32 */
};

struct grpcsrv;

/* Binds and starts serving t (borrowed; outlives the server). NULL with err. */
struct grpcsrv *grpcsrv_start(const struct grpcsrv_config *cfg, struct rpc_table *t, char *err,
                              size_t errlen);
/* The port actually bound (useful with port 0). */
int grpcsrv_port(const struct grpcsrv *s);
/* Drains and stops; NULL ok. */
void grpcsrv_stop(struct grpcsrv *s);

#endif
