/*
 * bench_daemon: what the benchmarks that run the real binaries share —
 * mesos-sim and pelotond started on ports the kernel picks, JSON calls to
 * the daemon over gRPC, the cluster's capacity awaited, a pool created.
 */
#ifndef BENCH_DAEMON_H
#define BENCH_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "grpccli.h"

/* svc/method with a JSON request: the response as JSON (caller decrefs),
 * or NULL (an error, said on stderr unless quiet). */
json_t *bd_call(struct grpccli *c, const char *svc, const char *method, const char *json,
                bool quiet);

/*
 * Starts argv (NULL-terminated, with room for three more entries:
 * "--ports-file", its path and NULL go there) logging to <dir>/<name>.log
 * and waits for its ports (either may be NULL). The pid, or -1 (said on
 * stderr, prefixed with who).
 */
pid_t bd_spawn_listening(const char *who, const char *dir, const char *name, const char **argv,
                         size_t argc, unsigned *grpc, unsigned *http);

/*
 * mesos-sim (`agents`, tasks running `task_secs`) and pelotond (every role,
 * a RocksDB in dir) started in dir on ports the kernel picks, and a gRPC
 * client of the daemon. Each of *sim, *d is -1 (and *c NULL) for what did
 * not start (said on stderr, prefixed with who); stop them with bench_reap.
 */
void bd_start_pair(const char *who, const char *dir, const char *sim_path, const char *daemon_path,
                   unsigned agents, const char *task_secs, pid_t *sim, pid_t *d, unsigned *sim_port,
                   struct grpccli **c);

/* Waits up to 60 s until `agents` agents of 32 cpus have offered. */
bool bd_wait_capacity(struct grpccli *hm, unsigned agents);

/* A pool "bench" under root, large enough for anything; its id into id. */
bool bd_create_pool(struct grpccli *rm, char *id, size_t len);

/* The median of v[0..n) (sorts v). */
double bd_median(double *v, unsigned n);

#endif
