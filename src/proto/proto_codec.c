/* Hardened decoding; see proto_codec.h. */
#include <stdbool.h>
#include <stdlib.h>

#include "proto_codec.h"

/* True when no message in the tree carries an unknown field numbered 0. */
static bool tags_valid(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;

	for (unsigned i = 0; i < m->n_unknown_fields; i++)
		if (m->unknown_fields[i].tag == 0)
			return false;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *base = (const char *)m;

		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			ProtobufCMessage *const *arr =
			    *(ProtobufCMessage *const *const *)(base + f->offset);
			for (size_t k = 0; k < n; k++)
				if (!tags_valid(arr[k]))
					return false;
			continue;
		}
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(const uint32_t *)(base + f->quantifier_offset) != f->id)
			continue;
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)(base + f->offset);
		if (sub != NULL && !tags_valid(sub))
			return false;
	}
	return true;
}

ProtobufCMessage *proto_decode(const ProtobufCMessageDescriptor *desc, const uint8_t *buf,
                               size_t len, ProtobufCAllocator *alloc, const char **why)
{
	ProtobufCMessage *m = protobuf_c_message_unpack(desc, alloc, len, buf);

	if (m == NULL) {
		*why = "malformed protobuf";
		return NULL;
	}
	if (!tags_valid(m)) {
		protobuf_c_message_free_unpacked(m, alloc);
		*why = "field number 0";
		return NULL;
	}
	return m;
}

uint8_t *proto_pack_alloc(const ProtobufCMessage *m, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(n ? n : 1);

	if (buf == NULL)
		return NULL;
	protobuf_c_message_pack(m, buf);
	*len = n;
	return buf;
}

ProtobufCMessage *proto_clone(const ProtobufCMessage *m)
{
	size_t n;
	uint8_t *buf;

	if (m == NULL || (buf = proto_pack_alloc(m, &n)) == NULL)
		return NULL;
	ProtobufCMessage *c = protobuf_c_message_unpack(m->descriptor, NULL, n, buf);
	free(buf);
	return c;
}

ProtobufCMessage *proto_new(const ProtobufCMessageDescriptor *desc)
{
	ProtobufCMessage *m = malloc(desc->sizeof_message);
	if (m != NULL)
		protobuf_c_message_init(desc, m);
	return m;
}
