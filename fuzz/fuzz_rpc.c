/*
 * fuzz_rpc: arbitrary bytes as the body of any method of the table, in
 * protobuf or JSON; whatever decodes must re-encode and decode again to
 * the same bytes (JSON and protobuf fixed points).
 * Input: byte 0 picks the method, byte 1's low bit the encoding, the rest
 * is the body.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pjson.h"
#include "proto_codec.h"
#include "rpc.h"

static struct rpc_table *tab;
static struct rpc_method **methods;
static size_t n_methods;

/* Decoded fine: check the JSON fixed point on the request, then refuse. */
static ProtobufCMessage *check(void *ctx, const ProtobufCMessage *req, struct rpc_status *st)
{
	(void)ctx;
	char *s = pjson_dumps(req);
	if (s) {
		char err[256];
		ProtobufCMessage *back =
		    pjson_loads(req->descriptor, s, strlen(s), err, sizeof(err));
		if (!back)
			abort(); /* our own JSON must decode */
		char *s2 = pjson_dumps(back);
		if (!s2 || strcmp(s, s2) != 0)
			abort();
		free(s2);
		protobuf_c_message_free_unpacked(back, NULL);
		free(s);
	}
	return rpc_fail(st, RPC_NOT_FOUND, "fuzz");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!tab) {
		tab = rpc_table_create();
		n_methods = rpc_methods(tab, &methods);
		for (size_t i = 0; i < n_methods; i++)
			rpc_bind(tab, methods[i]->service_full, methods[i]->method, check, NULL);
	}
	if (size < 2 || !n_methods)
		return 0;
	struct rpc_method *m = methods[data[0] % n_methods];
	enum rpc_encoding enc = (data[1] & 1) ? RPC_ENC_JSON : RPC_ENC_PROTO;
	struct rpc_status st;
	uint8_t *out;
	size_t len;
	rpc_invoke(m, enc, data + 2, size - 2, &out, &len, &st);
	free(out);
	return 0;
}
