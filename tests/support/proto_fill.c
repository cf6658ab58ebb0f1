/* Descriptor-driven message filler; see proto_fill.h. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto_fill.h"

#define FILL_REPEATED 2
#define FILL_MAX_DEPTH 16 /* bound for required-message chains */

static uint32_t mix(uint32_t seed, uint32_t id, uint32_t idx)
{
	uint32_t h = seed * 2654435761u ^ (id * 40503u + idx * 977u + 1u);
	h ^= h >> 15;
	h *= 2246822519u;
	h ^= h >> 13;
	return h;
}

static int enum_value(const ProtobufCEnumDescriptor *ed, uint32_t h)
{
	unsigned n = ed->n_values;
	for (unsigned k = 0; k < n; k++) {
		int v = ed->values[(h + k) % n].value;
		if (v != 0)
			return v;
	}
	return ed->values[0].value;
}

static bool is_map_entry(const ProtobufCMessageDescriptor *md)
{
	size_t len = strlen(md->short_name);
	return len > 5 && strcmp(md->short_name + len - 5, "Entry") == 0 && md->n_fields == 2 &&
	       md->fields[0].id == 1 && md->fields[1].id == 2;
}

static ProtobufCMessage *fill_message(const ProtobufCMessageDescriptor *desc, unsigned depth,
                                      uint32_t seed, unsigned level);

/* Writes one value of field f into slot; returns false on allocation failure. */
static bool fill_value(const ProtobufCFieldDescriptor *f, void *slot, uint32_t h, unsigned depth,
                       unsigned level, bool *absent)
{
	char buf[64];

	*absent = false;
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		*(int32_t *)slot = (int32_t)(h % 200001) - 100000 ?: 7;
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		*(uint32_t *)slot = h | 1u;
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		*(int64_t *)slot = -(int64_t)h * 1000003 - 1;
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		*(uint64_t *)slot = ((uint64_t)h << 20) | 1u;
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		*(float *)slot = (float)(h % 10000) / 8.0f + 0.5f;
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		*(double *)slot = (double)h / 16.0 + 0.25;
		break;
	case PROTOBUF_C_TYPE_BOOL:
		*(protobuf_c_boolean *)slot = 1;
		break;
	case PROTOBUF_C_TYPE_ENUM:
		*(int *)slot = enum_value(f->descriptor, h);
		break;
	case PROTOBUF_C_TYPE_STRING:
		snprintf(buf, sizeof(buf), "%s-%u", f->name, h % 1000);
		if ((*(char **)slot = strdup(buf)) == NULL)
			return false;
		break;
	case PROTOBUF_C_TYPE_BYTES: {
		ProtobufCBinaryData *b = slot;
		b->len = 5;
		if ((b->data = malloc(b->len)) == NULL)
			return false;
		memcpy(b->data, (uint8_t[]){0x00, 0xff, (uint8_t)h, 0x0a, 0x80}, b->len);
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		bool required = f->label == PROTOBUF_C_LABEL_REQUIRED;
		if ((!required && depth == 0) || level >= FILL_MAX_DEPTH) {
			*(void **)slot = NULL;
			*absent = true;
			break;
		}
		*(void **)slot = fill_message(f->descriptor, depth ? depth - 1 : 0, h, level + 1);
		if (*(void **)slot == NULL)
			return false;
		break;
	}
	}
	return true;
}

static size_t type_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_ENUM:
		return sizeof(int);
	default:
		return 4;
	}
}

static bool fill_repeated(const ProtobufCFieldDescriptor *f, char *base, uint32_t seed,
                          unsigned depth, unsigned level)
{
	size_t sz = type_size(f->type);
	size_t *count = (size_t *)(base + f->quantifier_offset);
	void **arr = (void **)(base + f->offset);
	bool absent;

	if (f->type == PROTOBUF_C_TYPE_MESSAGE && depth == 0)
		return true; /* leave empty below the depth limit */
	if ((*arr = calloc(FILL_REPEATED, sz)) == NULL)
		return false;
	for (unsigned i = 0; i < FILL_REPEATED; i++) {
		void *slot = (char *)*arr + i * sz;
		if (!fill_value(f, slot, mix(seed, f->id, i), depth, level, &absent))
			return false;
		*count = i + 1;
		if (f->type == PROTOBUF_C_TYPE_MESSAGE && is_map_entry(f->descriptor)) {
			/*
			 * Distinct, non-zero map keys: an entry whose key is the
			 * default is valid but encoded differently by protobuf-c
			 * (omits it) and Google's runtimes (write it), which would
			 * defeat the byte-identity cross-check.
			 */
			ProtobufCMessage *e = *(ProtobufCMessage **)slot;
			const ProtobufCFieldDescriptor *kf = &e->descriptor->fields[0];
			char *kslot = (char *)e + kf->offset;
			if (kf->type == PROTOBUF_C_TYPE_STRING)
				snprintf(*(char **)kslot, strlen(*(char **)kslot) + 1, "k%u",
				         i + 1);
			else if (type_size(kf->type) == 8)
				*(uint64_t *)kslot = i + 1;
			else
				*(uint32_t *)kslot = i + 1;
		}
	}
	return true;
}

static ProtobufCMessage *fill_message(const ProtobufCMessageDescriptor *desc, unsigned depth,
                                      uint32_t seed, unsigned level)
{
	ProtobufCMessage *msg = calloc(1, desc->sizeof_message);
	unsigned oneof_seen[64];
	unsigned n_oneof = 0;
	bool absent;

	if (msg == NULL)
		return NULL;
	protobuf_c_message_init(desc, msg);
	for (unsigned i = 0; i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &desc->fields[i];
		char *base = (char *)msg;
		uint32_t h = mix(seed, f->id, 99);

		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			if (!fill_repeated(f, base, seed, depth, level))
				goto fail;
			continue;
		}
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			bool seen = false;
			for (unsigned k = 0; k < n_oneof; k++)
				seen |= oneof_seen[k] == f->quantifier_offset;
			if (seen)
				continue;
			if (n_oneof < 64)
				oneof_seen[n_oneof++] = f->quantifier_offset;
		}
		if (!fill_value(f, base + f->offset, h, depth, level, &absent))
			goto fail;
		if (absent)
			continue;
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
			*(uint32_t *)(base + f->quantifier_offset) = f->id;
		else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset != 0)
			*(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
	}
	return msg;
fail:
	protobuf_c_message_free_unpacked(msg, NULL);
	return NULL;
}

ProtobufCMessage *proto_fill_new(const ProtobufCMessageDescriptor *desc, unsigned depth,
                                 uint32_t seed)
{
	return fill_message(desc, depth, seed, 0);
}
