/*
 * fuzz_event_json: arbitrary bytes as a Mesos scheduler event in JSON, as
 * the Mesos client reads the stream with --mesos-json (and as mesos-sim
 * reads JSON calls): pjson must refuse or decode without crashing, and a
 * decoded event must re-encode to JSON (proto field names, as Mesos
 * writes them) that decodes to the same protobuf bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pjson.h"
#include "proto_codec.h"
#include "proto_registry.h"

static void check(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t size)
{
	char err[256];
	ProtobufCMessage *m = pjson_loads(d, (const char *)data, size, err, sizeof(err));
	if (m == NULL)
		return;
	char *s = pjson_dumps_flags(m, PJSON_PROTO_NAMES);
	if (s != NULL) {
		ProtobufCMessage *back = pjson_loads(d, s, strlen(s), err, sizeof(err));
		if (back == NULL)
			abort();
		size_t n1, n2;
		uint8_t *b1 = proto_pack_alloc(m, &n1), *b2 = proto_pack_alloc(back, &n2);
		if (b1 && b2 && (n1 != n2 || memcmp(b1, b2, n1) != 0))
			abort();
		free(b1);
		free(b2);
		protobuf_c_message_free_unpacked(back, NULL);
		free(s);
	}
	protobuf_c_message_free_unpacked(m, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const ProtobufCMessageDescriptor *event, *call;
	if (event == NULL) {
		event = proto_registry_message("mesos.v1.scheduler.Event");
		call = proto_registry_message("mesos.v1.scheduler.Call");
	}
	check(event, data, size);
	check(call, data, size);
	return 0;
}
