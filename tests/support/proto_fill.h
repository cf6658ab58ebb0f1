/*
 * proto_fill: builds a message with every field set, for any descriptor.
 *
 * Tests and fuzz seeds need populated instances of hundreds of message
 * types; writing them by hand would cover a few. proto_fill walks the
 * protobuf-c descriptor and gives each field a deterministic value derived
 * from (seed, field number): scalars non-zero, enums a non-zero listed
 * value where one exists, strings and bytes distinct, two elements per
 * repeated field (distinct map keys), the first member of each oneof.
 * Optional sub-messages are filled down to `depth` levels; required ones
 * always (a proto2 message is not packable without them).
 *
 * Everything is malloc'd in the layout protobuf-c's unpacker produces, so
 * the caller frees with protobuf_c_message_free_unpacked(msg, NULL).
 */
#ifndef PROTO_FILL_H
#define PROTO_FILL_H

#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* Returns a new filled message, or NULL on allocation failure. */
ProtobufCMessage *proto_fill_new(const ProtobufCMessageDescriptor *desc, unsigned depth,
                                 uint32_t seed);

#endif
