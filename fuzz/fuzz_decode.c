/*
 * fuzz_decode: arbitrary bytes as every RPC request type of every service
 * in the schema, and as mesos.v1.scheduler.Event (what the master sends).
 *
 * Whatever proto_decode (the daemon's decoder) accepts is re-encoded, decoded again, and must
 * re-encode to the same bytes: a decoder that accepts a message it then
 * cannot reproduce would corrupt what the daemon stores or forwards.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto_codec.h"
#include "proto_registry.h"

static void check_one(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t size)
{
	const char *why;
	ProtobufCMessage *m = proto_decode(d, data, size, NULL, &why);
	if (m == NULL)
		return;
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *b = malloc(n + 1);
	if (protobuf_c_message_pack(m, b) != n)
		abort();
	ProtobufCMessage *m2 = protobuf_c_message_unpack(d, NULL, n, b);
	if (m2 == NULL)
		abort(); /* our own encoding refused */
	size_t n2 = protobuf_c_message_get_packed_size(m2);
	uint8_t *b2 = malloc(n2 + 1);
	if (protobuf_c_message_pack(m2, b2) != n2 || n2 != n || memcmp(b, b2, n) != 0)
		abort(); /* not a fixed point */
	free(b2);
	free(b);
	protobuf_c_message_free_unpacked(m2, NULL);
	protobuf_c_message_free_unpacked(m, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const ProtobufCMessageDescriptor *event;

	if (event == NULL)
		event = proto_registry_message("mesos.v1.scheduler.Event");
	check_one(event, data, size);
	for (size_t s = 0; s < proto_registry_n_services; s++) {
		const ProtobufCServiceDescriptor *sd = proto_registry_services[s];
		for (unsigned m = 0; m < sd->n_methods; m++)
			check_one(sd->methods[m].input, data, size);
	}
	return 0;
}
