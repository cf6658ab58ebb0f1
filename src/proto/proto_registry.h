/*
 * proto_registry: every message, enum and service descriptor of the schema.
 *
 * protobuf-c generates no file descriptors, so scripts/gen_registry.py writes
 * the arrays below from protoc-c's headers at build time. The RPC method
 * table, the JSON codec, the round-trip tests and the fuzzers walk them.
 * Everything here is immutable static data: safe from any thread.
 */
#ifndef PROTO_REGISTRY_H
#define PROTO_REGISTRY_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

/* Sorted by C symbol name; lengths in the matching proto_registry_n_*. */
extern const ProtobufCMessageDescriptor *const proto_registry_messages[];
extern const size_t proto_registry_n_messages;
extern const ProtobufCEnumDescriptor *const proto_registry_enums[];
extern const size_t proto_registry_n_enums;
extern const ProtobufCServiceDescriptor *const proto_registry_services[];
extern const size_t proto_registry_n_services;

/*
 * Look a descriptor up by its full proto name ("mesos.v1.scheduler.Call",
 * "peloton.api.job.JobManager"), without a leading dot. Returns the static
 * descriptor, or NULL when the schema has no such name. Linear: meant for
 * start-up and tools, not per-request paths.
 */
const ProtobufCMessageDescriptor *proto_registry_message(const char *full_name);
const ProtobufCEnumDescriptor *proto_registry_enum(const char *full_name);
const ProtobufCServiceDescriptor *proto_registry_service(const char *full_name);

#endif
