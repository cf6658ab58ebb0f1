/*
 * httpsrv: the HTTP/1.1 transport (libmicrohttpd, a small thread pool).
 *
 *   POST /api/v1          Rpc-Procedure: JobManager::Create (or the full
 *                         service name), Rpc-Encoding: json | proto
 *                         (default json), Rpc-Caller, Context-TTL-MS.
 *                         200 with the response in the same encoding; an
 *                         error is the HTTP status of its gRPC code (see
 *                         rpc_code_http) with headers Rpc-Status: error and
 *                         Rpc-Error-Code: NOT_FOUND and a JSON body
 *                         {"code": "NOT_FOUND", "message": "..."}.
 *   GET  /health          200 "ok", or 503 with the reason the daemon
 *                         gives (the health callback)
 *   GET  /leaderhealth    200 when this instance leads, else 503
 *   GET  /version         the version as JSON
 *   GET  /metrics         Prometheus text format 0.0.4
 *   GET|PUT /logging-level  the log level (PUT body: debug|info|warn|error)
 *
 * An unknown procedure answers 404 (UNIMPLEMENTED); a known method no role
 * serves yet answers 501 (UNIMPLEMENTED).
 * Bodies above max_request_bytes answer 413 without running anything; a
 * connection idle for conn_timeout_s is closed (slow-body clients cannot
 * hold a thread forever); at most max_conns connections at once, and at
 * most max_conns_per_ip from one address, so one client holding idle
 * connections locks nobody else out. A call that outlives Context-TTL-MS
 * answers 504 DEADLINE_EXCEEDED.
 *
 * Long polls (rpc_bind_long_poll methods) hold one of the `threads` for as
 * long as they wait, so at most half of them (at least one) may: another
 * is answered 429 RESOURCE_EXHAUSTED at once (gRPC runs them on threads of
 * their own). Unary calls therefore always find a thread.
 */
#ifndef HTTPSRV_H
#define HTTPSRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rpc.h"

struct httpsrv_config {
	uint16_t port;             /* on 127.0.0.1 unless bind_any */
	bool bind_any;             /* 0.0.0.0 */
	unsigned threads;          /* default 4 */
	size_t max_request_bytes;  /* default 4 MiB */
	unsigned conn_timeout_s;   /* default 30 */
	unsigned max_conns;        /* default 1024 */
	unsigned max_conns_per_ip; /* default 64 */
	/* extra /metrics lines (gauges of the roles); may be NULL */
	void (*metrics)(void *arg, FILE *f);
	/* readiness for /health: true, or false with why (a sentence) in buf;
	 * NULL = always ok */
	bool (*health)(void *arg, char *why, size_t len);
	/* leadership for /leaderhealth; NULL = always leader */
	bool (*is_leader)(void *arg);
	/* further routes of the daemon (e.g. POST /placement/explain): true when
	 * the url is theirs, with the status and a malloc'd JSON body; may be NULL */
	bool (*route)(void *arg, const char *method, const char *url, const uint8_t *body,
	              size_t len, unsigned *status, char **out);
	void *arg;
};

struct httpsrv;

struct httpsrv *httpsrv_start(const struct httpsrv_config *cfg, struct rpc_table *t, char *err,
                              size_t errlen);
uint16_t httpsrv_port(const struct httpsrv *h);
/* Stops accepting, waits for requests in flight, frees. NULL ok. */
void httpsrv_stop(struct httpsrv *h);

#endif
