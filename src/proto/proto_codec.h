/*
 * proto_codec: the one way bytes from outside become messages.
 *
 * protobuf-c's unpacker accepts a few encodings it cannot reproduce: a
 * field numbered 0 (invalid in protobuf; reachable with a non-canonical tag
 * varint such as 80 00) is kept as an unknown field and re-packed as a tag
 * byte 00 that protobuf-c itself then refuses. A daemon that stored or
 * forwarded such a message would write bytes nobody can read back, so
 * every decode of untrusted bytes (RPC bodies, Mesos events, stored values)
 * goes through proto_decode, which also rejects that case.
 * Found by fuzz/fuzz_decode; the fuzzer keeps checking the fixed point.
 */
#ifndef PROTO_CODEC_H
#define PROTO_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/*
 * At most this many messages nest one in another (the outermost counts),
 * in protobuf and in JSON alike. protobuf-c unpacks, packs and frees
 * recursively, so an unchecked depth bomb (a 34 kB constraint tree 5,000
 * levels deep) exhausts a thread's stack; proto_decode measures the depth
 * on the wire, without recursing, before protobuf-c sees the bytes.
 */
#define PROTO_MAX_DEPTH 64

/*
 * Decodes `len` bytes as `desc`. Returns the message (free it with
 * protobuf_c_message_free_unpacked(msg, alloc)) or NULL with *why set to a
 * static reason ("malformed protobuf", "field number 0", "messages nested
 * more than 64 levels deep"); `why` may be NULL. `alloc` may be NULL for
 * malloc. Thread-safe; allocates only through `alloc`.
 */
ProtobufCMessage *proto_decode(const ProtobufCMessageDescriptor *desc, const uint8_t *buf,
                               size_t len, ProtobufCAllocator *alloc, const char **why);

/*
 * A deep copy of m (pack + unpack), allocated with malloc in the unpacked
 * layout; NULL on ENOMEM or for NULL. Free with protobuf_c_message_free_unpacked.
 */
ProtobufCMessage *proto_clone(const ProtobufCMessage *m);

/* A new zero-initialised message of type desc (malloc), or NULL. */
ProtobufCMessage *proto_new(const ProtobufCMessageDescriptor *desc);

/* Typed forms for building responses: PB_NEW(Foo, foo__descriptor) and PB_FREE(msg). */
#define PB_NEW(type, desc) ((type *)proto_new(&(desc)))
#define PB_FREE(m) protobuf_c_message_free_unpacked((ProtobufCMessage *)(m), NULL)

/* Packs m into a new malloc'd buffer; *len gets its size. NULL on ENOMEM. */
uint8_t *proto_pack_alloc(const ProtobufCMessage *m, size_t *len);

#endif
