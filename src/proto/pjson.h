/*
 * pjson: the proto3 JSON mapping for every message of the schema, driven by
 * protobuf-c descriptors (jansson values in and out).
 *
 * Encoding follows the canonical mapping: lowerCamelCase names, enums by
 * name, 64-bit integers as strings, bytes as base64, maps as objects,
 * fields at their default (proto3) or unset (proto2) left out, NaN and the
 * infinities as strings. Decoding accepts the lowerCamelCase name and the
 * proto field name, integers as numbers or strings, enums by name or
 * number (any int32: enums are open, as in the binary format), `null` as
 * "default"; it refuses unknown fields, wrong types,
 * out-of-range numbers and unknown enum names with a message naming the
 * field path ("config.instanceCount: expected an unsigned 32-bit
 * integer").
 *
 * PJSON_LOOSE_NAMES additionally matches names case-insensitively and
 * ignoring underscores, the way upstream's YAML job specs are written
 * (`instancecount`, `defaultconfig`).
 *
 * Thread-safe; no global state. Messages returned are malloc'd in
 * protobuf-c's unpacked layout: free with
 * protobuf_c_message_free_unpacked(m, NULL).
 */
#ifndef PJSON_H
#define PJSON_H

#include <stddef.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

enum pjson_flags {
	PJSON_LOOSE_NAMES = 1, /* decode */
	/* encode: proto field names and 64-bit integers as numbers, the way
	 * Mesos renders its protobufs as JSON (decoding accepts that already) */
	PJSON_PROTO_NAMES = 2,
	/* decode: a key naming no field is skipped, not refused (a newer peer's
	 * fields) */
	PJSON_IGNORE_UNKNOWN = 4,
	/* decode: keys are proto field names only (no lowerCamelCase) */
	PJSON_PROTO_NAMES_ONLY = 8,
	/* decode as a Mesos master parses JSON (stout's protobuf::parse) */
	PJSON_MESOS = PJSON_IGNORE_UNKNOWN | PJSON_PROTO_NAMES_ONLY,
};

/* A new JSON object for m (never NULL for a valid message, NULL on ENOMEM). */
json_t *pjson_encode(const ProtobufCMessage *m);

/* Encodes m as compact JSON text (malloc'd, NUL-terminated); NULL on ENOMEM. */
char *pjson_dumps(const ProtobufCMessage *m);

/* The same with pjson_flags (PJSON_PROTO_NAMES). */
char *pjson_dumps_flags(const ProtobufCMessage *m, unsigned flags);

/*
 * Decodes j as a `desc` message. Returns the message, or NULL with a
 * message in err (always NUL-terminated when errlen > 0).
 */
ProtobufCMessage *pjson_decode(const ProtobufCMessageDescriptor *desc, const json_t *j,
                               unsigned flags, char *err, size_t errlen);

/* A key PJSON_IGNORE_UNKNOWN skipped: its path ("sla.minimumInstanceCount")
 * and the message that has no such field. */
typedef void (*pjson_skip_f)(void *arg, const char *path, const char *message);

/* pjson_decode, telling `skipped` of each unknown key it skips. */
ProtobufCMessage *pjson_decode_skipping(const ProtobufCMessageDescriptor *desc, const json_t *j,
                                        unsigned flags, pjson_skip_f skipped, void *arg, char *err,
                                        size_t errlen);

/* Parses text (len bytes, need not be NUL-terminated) and decodes it. */
ProtobufCMessage *pjson_loads(const ProtobufCMessageDescriptor *desc, const char *text, size_t len,
                              char *err, size_t errlen);

/* The same with decode flags (PJSON_LOOSE_NAMES, PJSON_IGNORE_UNKNOWN, ...). */
ProtobufCMessage *pjson_loads_flags(const ProtobufCMessageDescriptor *desc, const char *text,
                                    size_t len, unsigned flags, char *err, size_t errlen);

/* The JSON name of a proto field name ("instance_count" -> "instanceCount"). */
void pjson_field_name(const char *proto_name, char *buf, size_t len);

#endif
