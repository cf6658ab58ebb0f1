/*
 * proto_xcheck: the C half of the cross-implementation check driven by
 * xcheck.py (Google's Python protobuf on the other side).
 *
 *   proto_xcheck emit DIR NAME...    fill each message (proto_fill, depth 3)
 *                                    and write DIR/NAME.c.bin
 *   proto_xcheck recode DIR NAME...  unpack DIR/NAME.py.bin with protobuf-c,
 *                                    re-pack, require identical bytes
 *
 * Exit 0 when every message passed; 1 with a line per failure otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto_fill.h"
#include "proto_registry.h"

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		*len = (size_t)n;
	}
	fclose(f);
	return buf;
}

static int emit(const char *dir, const ProtobufCMessageDescriptor *d, uint32_t seed)
{
	char path[4096];
	ProtobufCMessage *m = proto_fill_new(d, 3, seed);
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *b = malloc(n + 1);
	int rc = 0;

	protobuf_c_message_pack(m, b);
	snprintf(path, sizeof(path), "%s/%s.c.bin", dir, d->name);
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(b, 1, n, f) != n) {
		fprintf(stderr, "%s: cannot write %s\n", d->name, path);
		rc = 1;
	}
	if (f != NULL)
		fclose(f);
	free(b);
	protobuf_c_message_free_unpacked(m, NULL);
	return rc;
}

static int recode(const char *dir, const ProtobufCMessageDescriptor *d)
{
	char path[4096];
	size_t n = 0;
	int rc = 1;

	snprintf(path, sizeof(path), "%s/%s.py.bin", dir, d->name);
	uint8_t *in = read_file(path, &n);
	if (in == NULL) {
		fprintf(stderr, "%s: cannot read %s\n", d->name, path);
		return 1;
	}
	ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, n, in);
	if (m == NULL) {
		fprintf(stderr, "%s: protobuf-c refused Python's %zu bytes\n", d->name, n);
	} else {
		size_t n2 = protobuf_c_message_get_packed_size(m);
		uint8_t *out = malloc(n2 + 1);
		protobuf_c_message_pack(m, out);
		if (n2 != n || memcmp(in, out, n) != 0)
			fprintf(stderr, "%s: protobuf-c re-encoding differs (%zu vs %zu bytes)\n",
			        d->name, n2, n);
		else
			rc = 0;
		free(out);
		protobuf_c_message_free_unpacked(m, NULL);
	}
	free(in);
	return rc;
}

int main(int argc, char **argv)
{
	int failed = 0;

	if (argc < 4 || (strcmp(argv[1], "emit") != 0 && strcmp(argv[1], "recode") != 0)) {
		fprintf(stderr, "usage: proto_xcheck emit|recode DIR NAME...\n");
		return 2;
	}
	for (int i = 3; i < argc; i++) {
		const ProtobufCMessageDescriptor *d = proto_registry_message(argv[i]);
		if (d == NULL) {
			fprintf(stderr, "%s: no such message\n", argv[i]);
			failed++;
			continue;
		}
		failed += argv[1][0] == 'e' ? emit(argv[2], d, (uint32_t)i) : recode(argv[2], d);
	}
	return failed ? 1 : 0;
}
