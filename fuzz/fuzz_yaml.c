/*
 * fuzz_yaml: arbitrary bytes as a YAML spec, the way the CLI reads job and
 * pool specs: YAML to JSON (yamljson, with its line table), then decoded
 * with upstream's loose field names as a JobConfig and as a
 * ResourcePoolConfig. Nothing may crash or leak; a decoded config must
 * re-encode to JSON that decodes again (strict names) to the same message.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pjson.h"
#include "proto_registry.h"
#include "yamljson.h"

static void as(const char *type, const json_t *j)
{
	const ProtobufCMessageDescriptor *d = proto_registry_message(type);
	char err[256];
	ProtobufCMessage *m = pjson_decode(d, j, PJSON_LOOSE_NAMES, err, sizeof(err));
	if (m == NULL)
		return;
	char *s = pjson_dumps(m);
	if (s != NULL) {
		ProtobufCMessage *back = pjson_loads(d, s, strlen(s), err, sizeof(err));
		if (back == NULL)
			abort(); /* our own JSON must decode */
		char *s2 = pjson_dumps(back);
		if (s2 == NULL || strcmp(s, s2) != 0)
			abort();
		free(s2);
		protobuf_c_message_free_unpacked(back, NULL);
		free(s);
	}
	protobuf_c_message_free_unpacked(m, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct yamljson_lines *lines = NULL;
	char err[256];
	json_t *j = yamljson_parse((const char *)data, size, &lines, err, sizeof(err));
	if (j != NULL) {
		(void)yamljson_line(lines, "defaultConfig.resource.cpuLimit");
		as("peloton.api.job.JobConfig", j);
		as("peloton.api.respool.ResourcePoolConfig", j);
		json_decref(j);
	}
	yamljson_lines_free(lines);
	return 0;
}
