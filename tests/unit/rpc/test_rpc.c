/* The method table and the proto3 JSON codec. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "peloton/api/job/job.pb-c.h"
#include "pjson.h"
#include "proto_codec.h"
#include "proto_fill.h"
#include "proto_registry.h"
#include "rpc.h"
#include "yamljson.h"

/* Every method of every service has exactly one entry, found by its path. */
static void every_method_once(void **state)
{
	(void)state;
	struct rpc_table *t = rpc_table_create();
	assert_non_null(t);
	size_t expect = 0;
	for (size_t i = 0; i < proto_registry_n_services; i++)
		expect += proto_registry_services[i]->n_methods;
	struct rpc_method **v;
	size_t n = rpc_methods(t, &v);
	assert_int_equal(n, expect);
	assert_true(n >= 70);
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < i; k++)
			assert_string_not_equal(v[i]->path, v[k]->path);
		assert_ptr_equal(rpc_lookup_path(t, v[i]->path, strlen(v[i]->path)), v[i]);
		assert_null(v[i]->fn); /* nothing bound yet: UNIMPLEMENTED */
	}
	free(v);
	rpc_table_destroy(t);
}

static void lookups_and_aliases(void **state)
{
	(void)state;
	struct rpc_table *t = rpc_table_create();
	const char *p = "/peloton.api.job.JobManager/Create";
	struct rpc_method *m = rpc_lookup_path(t, p, strlen(p));
	assert_non_null(m);
	const char *alias = "/peloton.api.v0.job.JobManager/Create";
	assert_ptr_equal(rpc_lookup_path(t, alias, strlen(alias)), m);
	assert_ptr_equal(rpc_lookup_procedure(t, "JobManager::Create"), m);
	assert_ptr_equal(rpc_lookup_procedure(t, "peloton.api.job.JobManager::Create"), m);
	assert_ptr_equal(rpc_lookup_procedure(t, "peloton.api.v0.job.JobManager::Create"), m);
	/* "Get" exists on JobManager, TaskManager ... but the service decides */
	assert_non_null(rpc_lookup_procedure(t, "TaskManager::Get"));
	assert_null(rpc_lookup_procedure(t, "JobManager::Nope"));
	assert_null(rpc_lookup_procedure(t, "JobManager"));
	assert_null(rpc_lookup_procedure(t, "::Create"));
	assert_null(rpc_lookup_path(t, "/peloton.api.job.JobManager/Creat", 33));
	/* a prefix of a real path is not a match */
	assert_null(rpc_lookup_path(t, p, strlen(p) - 1));
	assert_int_equal(rpc_bind(t, "peloton.api.job.JobManager", "Nope", NULL, NULL), -1);
	rpc_table_destroy(t);
}

static ProtobufCMessage *echo_get(void *ctx, const ProtobufCMessage *req, struct rpc_status *st)
{
	(void)ctx;
	const Peloton__Api__Job__GetRequest *r = (const void *)req;
	if (!r->id)
		return rpc_fail(st, RPC_NOT_FOUND, "no id");
	Peloton__Api__Job__GetResponse *resp =
	    (void *)proto_new(&peloton__api__job__get_response__descriptor);
	resp->jobinfo = (void *)proto_new(&peloton__api__job__job_info__descriptor);
	resp->jobinfo->id = (void *)proto_clone(&r->id->base);
	return &resp->base;
}

static void invoke(void **state)
{
	(void)state;
	struct rpc_table *t = rpc_table_create();
	struct rpc_method *m = rpc_lookup_procedure(t, "JobManager::Get");
	struct rpc_status st;
	uint8_t *out;
	size_t len;
	rpc_invoke(m, RPC_ENC_JSON, (const uint8_t *)"{}", 2, &out, &len, &st);
	assert_int_equal(st.code, RPC_UNIMPLEMENTED);
	assert_non_null(strstr(st.msg, "JobManager/Get"));
	rpc_bind(t, "peloton.api.job.JobManager", "Get", echo_get, NULL);
	const char *req = "{\"id\":{\"value\":\"j1\"}}";
	rpc_invoke(m, RPC_ENC_JSON, (const uint8_t *)req, strlen(req), &out, &len, &st);
	assert_int_equal(st.code, RPC_OK);
	assert_string_equal((char *)out, "{\"jobInfo\":{\"id\":{\"value\":\"j1\"}}}");
	free(out);
	rpc_invoke(m, RPC_ENC_JSON, (const uint8_t *)"{}", 2, &out, &len, &st);
	assert_int_equal(st.code, RPC_NOT_FOUND);
	rpc_invoke(m, RPC_ENC_PROTO,
	           (const uint8_t *)"\x0a\x05"
	                            "ab",
	           4, &out, &len, &st);
	assert_int_equal(st.code, RPC_INVALID_ARGUMENT);
	rpc_invoke(m, RPC_ENC_JSON, (const uint8_t *)"{\"id\":3}", 8, &out, &len, &st);
	assert_int_equal(st.code, RPC_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "id"));
	assert_true(atomic_load(&m->calls) == 5);
	char *buf = NULL;
	size_t blen = 0;
	FILE *f = open_memstream(&buf, &blen);
	rpc_write_metrics(t, f);
	fclose(f);
	assert_non_null(strstr(buf, "peloton_rpc_requests_total{procedure=\"JobManager::Get\","
	                            "result=\"ok\"} 1"));
	free(buf);
	rpc_table_destroy(t);
}

/* Every message of the schema, filled, survives JSON -> decode -> pack. */
static void json_roundtrip_all(void **state)
{
	(void)state;
	for (size_t i = 0; i < proto_registry_n_messages; i++) {
		const ProtobufCMessageDescriptor *d = proto_registry_messages[i];
		for (unsigned depth = 0; depth <= 2; depth += 2) {
			ProtobufCMessage *m = proto_fill_new(d, depth, (uint32_t)i + 7);
			assert_non_null(m);
			char *s = pjson_dumps(m);
			assert_non_null(s);
			char err[256];
			ProtobufCMessage *back = pjson_loads(d, s, strlen(s), err, sizeof(err));
			if (!back)
				fail_msg("%s: %s\n%s", d->name, err, s);
			size_t a_len, b_len;
			uint8_t *a = proto_pack_alloc(m, &a_len),
			        *b = proto_pack_alloc(back, &b_len);
			/* byte-identical, except where a map entry without a value
			 * comes back with an empty one (the same map in proto3) */
			if (a_len != b_len || memcmp(a, b, a_len) != 0) {
				char *s2 = pjson_dumps(back);
				if (strcmp(s, s2) != 0 || !strstr(s, ":{}"))
					fail_msg("%s differs after JSON round trip\n%s\n%s",
					         d->name, s, s2);
				free(s2);
			}
			free(a);
			free(b);
			free(s);
			protobuf_c_message_free_unpacked(m, NULL);
			protobuf_c_message_free_unpacked(back, NULL);
		}
	}
}

static void json_errors(void **state)
{
	(void)state;
	const ProtobufCMessageDescriptor *d = &peloton__api__job__job_config__descriptor;
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"{\"instanceCount\":-1}", "instanceCount: expected an unsigned"},
	    {"{\"instanceCount\":4294967296}", "out of range"},
	    {"{\"instanceCount\":\"12x\"}", "not an integer"},
	    {"{\"type\":\"NOPE\"}", "unknown peloton.api.job.JobType value 'NOPE'"},
	    {"{\"nope\":1}", "nope: unknown field"},
	    {"{\"labels\":{}}", "labels: expected an array"},
	    {"{\"labels\":[{\"key\":5}]}", "labels[0].key: expected a string"},
	    {"{\"instanceConfig\":{\"x\":{}}}", "instanceConfig[x]: 'x' is not an integer"},
	    {"{\"defaultConfig\":{\"resource\":{\"cpuLimit\":\"many\"}}}",
	     "defaultConfig.resource.cpuLimit: 'many' is not a number"},
	    {"[1]", "expected an object"},
	    {"{\"name\":", "invalid JSON"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[256];
		ProtobufCMessage *m =
		    pjson_loads(d, cases[i].in, strlen(cases[i].in), err, sizeof(err));
		assert_null(m);
		if (!strstr(err, cases[i].want))
			fail_msg("%s: got '%s', want '%s'", cases[i].in, err, cases[i].want);
	}
	/* loose names: upstream YAML style keys */
	json_t *j = json_loads("{\"instancecount\":3,\"type\":\"batch\",\"default_config\":"
	                       "{\"resource\":{\"cpulimit\":1}}}",
	                       0, NULL);
	char err[128];
	Peloton__Api__Job__JobConfig *c =
	    (void *)pjson_decode(d, j, PJSON_LOOSE_NAMES, err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(c->instancecount, 3);
	assert_int_equal(c->type, PELOTON__API__JOB__JOB_TYPE__BATCH);
	assert_true(c->defaultconfig->resource->cpulimit == 1.0);
	protobuf_c_message_free_unpacked(&c->base, NULL);
	assert_null(pjson_decode(d, j, 0, err, sizeof(err)));
	json_decref(j);
}

static void yaml_lines(void **state)
{
	(void)state;
	const char *y = "name: x\n"
	                "defaultConfig:\n"
	                "  resource:\n"
	                "    cpuLimit: many\n"
	                "labels:\n"
	                "  - key: a\n"
	                "    value: b\n";
	char err[200];
	struct yamljson_lines *l;
	json_t *j = yamljson_parse(y, strlen(y), &l, err, sizeof(err));
	assert_non_null(j);
	assert_int_equal(yamljson_line(l, "defaultConfig.resource.cpuLimit"), 4);
	assert_int_equal(yamljson_line(l, "labels[0].value"), 7);
	assert_int_equal(yamljson_line(l, "labels[0].value.deeper"), 7);
	assert_int_equal(yamljson_line(l, "nothing"), 0);
	json_decref(j);
	yamljson_lines_free(l);
	assert_null(yamljson_parse("a: [1\n", 6, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "line "));
	assert_null(yamljson_parse("a: 1\na: 2\n", 10, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "duplicate key"));
	assert_null(yamljson_parse("a: &x 1\nb: *x\n", 14, NULL, err, sizeof(err)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(every_method_once),
	    cmocka_unit_test(lookups_and_aliases),
	    cmocka_unit_test(invoke),
	    cmocka_unit_test(json_roundtrip_all),
	    cmocka_unit_test(json_errors),
	    cmocka_unit_test(yaml_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
