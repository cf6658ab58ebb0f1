/* Hardened decoding; see proto_codec.h. */
#include <stdbool.h>
#include <stdint.h>
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

static bool varint(const uint8_t *buf, size_t end, size_t *pos, uint64_t *v)
{
	*v = 0;
	for (unsigned shift = 0; shift < 70 && *pos < end; shift += 7) {
		uint8_t b = buf[(*pos)++];
		*v |= (uint64_t)(b & 0x7f) << (shift < 64 ? shift : 63);
		if (!(b & 0x80))
			return true;
	}
	return false;
}

/*
 * Walks the wire format with an explicit stack of the messages it is inside
 * (each with its descriptor and where it ends): NULL when the bytes nest no
 * deeper than PROTO_MAX_DEPTH, else the reason. Bytes it cannot walk are
 * malformed for protobuf-c too (it has no groups, no varints over 10 bytes).
 */
static const char *depth_check(const ProtobufCMessageDescriptor *desc, const uint8_t *buf,
                               size_t len)
{
	struct {
		const ProtobufCMessageDescriptor *d;
		size_t end;
	} st[PROTO_MAX_DEPTH];
	int top = 0;
	size_t pos = 0;

	st[0].d = desc;
	st[0].end = len;
	while (top >= 0) {
		size_t end = st[top].end;
		uint64_t key, n;

		if (pos == end) {
			top--;
			continue;
		}
		if (!varint(buf, end, &pos, &key))
			return "malformed protobuf";
		switch (key & 7) {
		case 0:
			if (!varint(buf, end, &pos, &n))
				return "malformed protobuf";
			continue;
		case 1:
			n = 8;
			break;
		case 5:
			n = 4;
			break;
		case 2: {
			if (!varint(buf, end, &pos, &n) || n > end - pos)
				return "malformed protobuf";
			const ProtobufCFieldDescriptor *f =
			    key >> 3 > UINT32_MAX ? NULL
			                          : protobuf_c_message_descriptor_get_field(
			                                st[top].d, (unsigned)(key >> 3));
			if (f == NULL || f->type != PROTOBUF_C_TYPE_MESSAGE)
				break;
			if (top + 1 == PROTO_MAX_DEPTH)
				return "messages nested more than 64 levels deep";
			top++;
			st[top].d = f->descriptor;
			st[top].end = pos + n;
			continue;
		}
		default:
			return "malformed protobuf";
		}
		if (n > end - pos)
			return "malformed protobuf";
		pos += n;
	}
	return NULL;
}

ProtobufCMessage *proto_decode(const ProtobufCMessageDescriptor *desc, const uint8_t *buf,
                               size_t len, ProtobufCAllocator *alloc, const char **why)
{
	const char *deep = depth_check(desc, buf, len), *ignored;
	if (why == NULL)
		why = &ignored;
	if (deep != NULL) {
		*why = deep;
		return NULL;
	}
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
