/*
 * Every message of the schema survives pack -> unpack -> pack with identical
 * bytes, populated with every field (tests/support/proto_fill.h), at two
 * nesting depths; and the registry holds every service of the reference.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pjson.h"
#include "proto_codec.h"
#include "proto_fill.h"
#include "proto_registry.h"

static void roundtrip_one(const ProtobufCMessageDescriptor *d, unsigned depth, uint32_t seed)
{
	ProtobufCMessage *m = proto_fill_new(d, depth, seed);
	assert_non_null(m);
	assert_true(protobuf_c_message_check(m));

	size_t n1 = protobuf_c_message_get_packed_size(m);
	uint8_t *b1 = malloc(n1 + 1);
	assert_non_null(b1);
	assert_int_equal(protobuf_c_message_pack(m, b1), n1);

	ProtobufCMessage *u = protobuf_c_message_unpack(d, NULL, n1, b1);
	if (u == NULL)
		fail_msg("%s: unpack of %zu packed bytes failed", d->name, n1);
	size_t n2 = protobuf_c_message_get_packed_size(u);
	uint8_t *b2 = malloc(n2 + 1);
	assert_non_null(b2);
	assert_int_equal(protobuf_c_message_pack(u, b2), n2);
	if (n1 != n2 || memcmp(b1, b2, n1) != 0)
		fail_msg("%s: re-packed bytes differ (%zu vs %zu)", d->name, n1, n2);

	protobuf_c_message_free_unpacked(u, NULL);
	protobuf_c_message_free_unpacked(m, NULL);
	free(b1);
	free(b2);
}

static void test_every_message_roundtrips(void **state)
{
	(void)state;
	/* the reference documents 544 messages (map entries included) and 55
	 * enums; adopted from upstream (proto/spec/protocol/adopted.tsv): five
	 * messages (respool.ControllerLimit, peloton.HostOfferID, and
	 * GetActiveTasksResponse's TaskEntry, TaskEntries, TasksByStateEntry)
	 * and three enums (task.HealthState, job.PlacementStrategy,
	 * task.PreemptionPolicy.Type) */
	assert_int_equal(proto_registry_n_messages, 549);
	assert_int_equal(proto_registry_n_enums, 58);
	assert_int_equal(proto_registry_n_services, 12);
	for (size_t i = 0; i < proto_registry_n_messages; i++) {
		roundtrip_one(proto_registry_messages[i], 0, (uint32_t)i);
		roundtrip_one(proto_registry_messages[i], 2, (uint32_t)i * 7 + 1);
	}
}

/* A populated message is not empty: the filler must really set fields. */
static void test_filled_messages_are_not_empty(void **state)
{
	(void)state;
	for (size_t i = 0; i < proto_registry_n_messages; i++) {
		const ProtobufCMessageDescriptor *d = proto_registry_messages[i];
		ProtobufCMessage *m = proto_fill_new(d, 1, 3);
		assert_non_null(m);
		if (d->n_fields > 0 && protobuf_c_message_get_packed_size(m) == 0)
			fail_msg("%s: filled message packs to nothing", d->name);
		protobuf_c_message_free_unpacked(m, NULL);
	}
}

static void test_registry_lookup(void **state)
{
	(void)state;
	static const char *const services[] = {
	    "peloton.api.job.JobManager",
	    "peloton.api.job.svc.JobService",
	    "peloton.api.task.TaskManager",
	    "peloton.api.task.svc.TaskService",
	    "peloton.api.respool.ResourceManager",
	    "peloton.api.update.svc.UpdateService",
	    "peloton.api.volume.svc.VolumeService",
	    "peloton.private.resmgr.ResourceManagerService",
	    "peloton.private.hostmgr.hostsvc.InternalHostService",
	    "peloton.private.eventstream.EventStreamService",
	    "peloton.private.resmgr.taskqueue.TaskQueue",
	};
	for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++)
		if (proto_registry_service(services[i]) == NULL)
			fail_msg("service %s missing from the registry", services[i]);
	assert_non_null(proto_registry_message("mesos.v1.scheduler.Call"));
	assert_non_null(proto_registry_message("mesos.v1.scheduler.Event"));
	assert_non_null(proto_registry_enum("peloton.api.task.TaskState"));
	assert_null(proto_registry_message("no.such.Message"));
	assert_null(proto_registry_message(NULL));
}

/* Garbage must be refused, not crash: truncation of a valid encoding. */
static void test_truncated_bytes_refused_or_parsed(void **state)
{
	(void)state;
	const ProtobufCMessageDescriptor *d = proto_registry_message("mesos.v1.scheduler.Event");
	ProtobufCMessage *m = proto_fill_new(d, 3, 11);
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *b = malloc(n);
	protobuf_c_message_pack(m, b);
	size_t refused = 0;
	for (size_t cut = 0; cut < n; cut++) {
		ProtobufCMessage *u = protobuf_c_message_unpack(d, NULL, cut, b);
		if (u == NULL)
			refused++;
		protobuf_c_message_free_unpacked(u, NULL);
	}
	assert_true(refused > 0);
	protobuf_c_message_free_unpacked(m, NULL);
	free(b);
}

/* The fuzzer's first finding: tag 0 via a non-canonical varint is refused. */
static void test_decode_refuses_field_zero(void **state)
{
	(void)state;
	static const uint8_t field_zero[] = {0x80, 0x00, 0x10, 0x10, 0x10};
	static const uint8_t garbage[] = {0xff, 0xff, 0xff};
	const ProtobufCMessageDescriptor *d = proto_registry_message("peloton.api.job.GetRequest");
	const char *why = NULL;

	assert_null(proto_decode(d, field_zero, sizeof(field_zero), NULL, &why));
	assert_string_equal(why, "field number 0");
	assert_null(proto_decode(d, garbage, sizeof(garbage), NULL, &why));
	assert_string_equal(why, "malformed protobuf");
	ProtobufCMessage *m = proto_decode(d, field_zero + 3, 2, NULL, &why);
	assert_non_null(m); /* field 2 = 16: an unknown but valid field is kept */
	protobuf_c_message_free_unpacked(m, NULL);
}

/*
 * A chain of n messages, alternately peloton.api.task.Constraint (field 3,
 * andConstraint) and AndConstraint (field 1, constraints), the outermost a
 * Constraint: the shape of a depth bomb. Built from the inside out.
 */
static uint8_t *constraint_chain(size_t n, size_t *len)
{
	size_t cap = n * 12 + 1, pos = cap;
	uint8_t *buf = malloc(cap);

	assert_non_null(buf);
	for (size_t level = n - 1; level-- > 0;) {
		size_t child = cap - pos;
		uint8_t hdr[11];
		size_t k = 0;
		hdr[k++] = level % 2 == 0 ? (3 << 3 | 2) : (1 << 3 | 2);
		do {
			hdr[k++] = (uint8_t)(child & 0x7f) | (child > 0x7f ? 0x80 : 0);
			child >>= 7;
		} while (child);
		pos -= k;
		memcpy(buf + pos, hdr, k);
	}
	*len = cap - pos;
	memmove(buf, buf + pos, *len);
	return buf;
}

/* The same chain in proto3 JSON. */
static char *constraint_chain_json(size_t n)
{
	static const char open[] = "{\"andConstraint\":{\"constraints\":[";
	char *s = malloc(n * sizeof(open) + 8);
	size_t k = 0;

	assert_non_null(s);
	for (size_t i = 0; i + 2 < n; i += 2)
		k += (size_t)sprintf(s + k, "%s", open);
	k += (size_t)sprintf(s + k, n % 2 == 0 ? "{\"andConstraint\":{}}" : "{}");
	for (size_t i = 0; i + 2 < n; i += 2)
		k += (size_t)sprintf(s + k, "]}}");
	return s;
}

/* 64 messages nested one in another decode; 65 and depth bombs are refused, in both encodings. */
static void test_decode_bounds_nesting(void **state)
{
	(void)state;
	const ProtobufCMessageDescriptor *d = proto_registry_message("peloton.api.task.Constraint");
	static const size_t depths[] = {1, 2, 63, 64, 65, 66, 5000, 100000};

	for (size_t i = 0; i < sizeof(depths) / sizeof(depths[0]); i++) {
		size_t n = depths[i], len;
		uint8_t *b = constraint_chain(n, &len);
		const char *why = NULL;
		ProtobufCMessage *m = proto_decode(d, b, len, NULL, &why);
		if (n <= PROTO_MAX_DEPTH) {
			if (m == NULL)
				fail_msg("%zu levels refused: %s", n, why);
			size_t again = protobuf_c_message_get_packed_size(m);
			assert_int_equal(again, len);
		} else {
			assert_null(m);
			assert_string_equal(why, "messages nested more than 64 levels deep");
		}
		protobuf_c_message_free_unpacked(m, NULL);
		free(b);

		char *js = constraint_chain_json(n), err[200] = "";
		m = pjson_loads(d, js, strlen(js), err, sizeof(err));
		if (n <= PROTO_MAX_DEPTH) {
			if (m == NULL)
				fail_msg("%zu levels of JSON refused: %s", n, err);
		} else {
			assert_null(m);
			if (n < 1000 && strstr(err, "more than 64 levels deep") == NULL)
				fail_msg("%zu levels of JSON: %s", n, err);
		}
		protobuf_c_message_free_unpacked(m, NULL);
		free(js);
	}
}

/* The depth walk refuses only what protobuf-c refuses too: every cut of a valid encoding. */
static void test_depth_walk_agrees_with_protobuf_c(void **state)
{
	(void)state;
	for (size_t i = 0; i < proto_registry_n_messages; i += 7) {
		const ProtobufCMessageDescriptor *d = proto_registry_messages[i];
		ProtobufCMessage *m = proto_fill_new(d, 2, (uint32_t)i);
		size_t n = protobuf_c_message_get_packed_size(m);
		uint8_t *b = malloc(n + 1);
		protobuf_c_message_pack(m, b);
		for (size_t cut = n; cut + 64 > n && cut != (size_t)-1; cut--) {
			const char *why = NULL;
			ProtobufCMessage *u = protobuf_c_message_unpack(d, NULL, cut, b);
			ProtobufCMessage *v = proto_decode(d, b, cut, NULL, &why);
			if ((u == NULL) != (v == NULL))
				fail_msg(
				    "%s cut at %zu of %zu: protobuf-c %s, proto_decode %s (%s)",
				    d->name, cut, n, u ? "accepts" : "refuses",
				    v ? "accepts" : "refuses", why ? why : "");
			protobuf_c_message_free_unpacked(u, NULL);
			protobuf_c_message_free_unpacked(v, NULL);
		}
		protobuf_c_message_free_unpacked(m, NULL);
		free(b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_message_roundtrips),
	    cmocka_unit_test(test_filled_messages_are_not_empty),
	    cmocka_unit_test(test_registry_lookup),
	    cmocka_unit_test(test_truncated_bytes_refused_or_parsed),
	    cmocka_unit_test(test_decode_refuses_field_zero),
	    cmocka_unit_test(test_decode_bounds_nesting),
	    cmocka_unit_test(test_depth_walk_agrees_with_protobuf_c),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
