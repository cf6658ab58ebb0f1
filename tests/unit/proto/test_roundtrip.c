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
	/* the reference documents 544 messages (map entries included) */
	assert_int_equal(proto_registry_n_messages, 544);
	assert_int_equal(proto_registry_n_enums, 55);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_message_roundtrips),
	    cmocka_unit_test(test_filled_messages_are_not_empty),
	    cmocka_unit_test(test_registry_lookup),
	    cmocka_unit_test(test_truncated_bytes_refused_or_parsed),
	    cmocka_unit_test(test_decode_refuses_field_zero),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
