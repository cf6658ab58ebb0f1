/*
 * grpcinit: the one place the gRPC C core is initialised (server, client,
 * benchmarks). Idempotent and thread-safe.
 */
#ifndef GRPCINIT_H
#define GRPCINIT_H

void pel_grpc_init(void);

#endif
