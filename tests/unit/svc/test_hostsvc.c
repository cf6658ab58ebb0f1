/*
 * The InternalHostService edge: Mesos offers in, AcquireHostOffers /
 * ReleaseHostOffers / ClusterCapacity messages out, with protobuf filters
 * (constraint trees), invalid input refused with a message and nothing
 * changed, and every host given back at the end.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <urcu.h>

#include "hostfilter.h"
#include "hostsvc.h"

typedef Peloton__Api__Task__Constraint constraint_pb;

static Mesos__V1__Resource res_scalar(const char *name, Mesos__V1__Value__Scalar *v, double x)
{
	Mesos__V1__Resource r = MESOS__V1__RESOURCE__INIT;
	mesos__v1__value__scalar__init(v);
	v->value = x;
	r.name = (char *)name;
	r.type = MESOS__V1__VALUE__TYPE__SCALAR;
	r.scalar = v;
	return r;
}

/* An offer with cpus/mem/disk/ports 31000-31009 and a rack attribute. */
struct offer_buf {
	Mesos__V1__Offer o;
	Mesos__V1__OfferID id;
	Mesos__V1__AgentID agent;
	Mesos__V1__Resource res[4];
	Mesos__V1__Resource *resp[4];
	Mesos__V1__Value__Scalar sc[3];
	Mesos__V1__Value__Ranges ranges;
	Mesos__V1__Value__Range range, *rangep;
	Mesos__V1__Attribute attr, *attrp;
	Mesos__V1__Value__Text text;
};

static void make_offer(struct offer_buf *b, const char *id, const char *host, double cpus,
                       const char *rack)
{
	memset(b, 0, sizeof(*b));
	mesos__v1__offer__init(&b->o);
	mesos__v1__offer_id__init(&b->id);
	mesos__v1__agent_id__init(&b->agent);
	b->id.value = (char *)id;
	b->agent.value = (char *)host;
	b->o.id = &b->id;
	b->o.agent_id = &b->agent;
	b->o.hostname = (char *)host;
	b->res[0] = res_scalar("cpus", &b->sc[0], cpus);
	b->res[1] = res_scalar("mem", &b->sc[1], 8192);
	b->res[2] = res_scalar("disk", &b->sc[2], 10000);
	mesos__v1__resource__init(&b->res[3]);
	mesos__v1__value__ranges__init(&b->ranges);
	mesos__v1__value__range__init(&b->range);
	b->range.begin = 31000;
	b->range.end = 31009;
	b->rangep = &b->range;
	b->ranges.n_range = 1;
	b->ranges.range = &b->rangep;
	b->res[3].name = "ports";
	b->res[3].type = MESOS__V1__VALUE__TYPE__RANGES;
	b->res[3].ranges = &b->ranges;
	for (int i = 0; i < 4; i++)
		b->resp[i] = &b->res[i];
	b->o.n_resources = 4;
	b->o.resources = b->resp;
	mesos__v1__attribute__init(&b->attr);
	mesos__v1__value__text__init(&b->text);
	b->attr.name = "rack";
	b->attr.type = MESOS__V1__VALUE__TYPE__TEXT;
	b->text.value = (char *)rack;
	b->attr.text = &b->text;
	b->attrp = &b->attr;
	b->o.n_attributes = 1;
	b->o.attributes = &b->attrp;
}

static struct hostidx *idx;
static struct hostsvc *svc;

static int setup(void **state)
{
	(void)state;
	struct offer_buf a, b;
	Mesos__V1__Offer *offers[2] = {&a.o, &b.o};
	char err[256];
	idx = hostidx_create(NULL);
	svc = hostsvc_create(idx, HOSTIDX_PACK);
	make_offer(&a, "o-a", "host-a", 4, "r1");
	make_offer(&b, "o-b", "host-b", 16, "r2");
	assert_int_equal(hostsvc_ingest_offers(svc, offers, 2, 0, err, sizeof(err)), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	struct hostidx_capacity cap;
	hostsvc_destroy(svc);
	hostidx_capacity(idx, &cap);
	assert_int_equal(cap.placing, 0); /* the edge gave everything back */
	assert_true(hostidx_check(idx));
	hostidx_destroy(idx);
	return 0;
}

/* A request: cpus minimum, maxHosts, optional constraint. */
struct req_buf {
	hostsvc_acquire_req req;
	hostfilter_pb filter;
	Peloton__Private__Hostmgr__Hostsvc__ResourceConstraint rc;
	Peloton__Private__Hostmgr__Hostsvc__QuantityControl q;
	Peloton__Api__Task__ResourceConfig min;
};

static hostsvc_acquire_req *make_req(struct req_buf *b, double cpus, uint32_t max, constraint_pb *c)
{
	peloton__private__hostmgr__hostsvc__acquire_host_offers_request__init(&b->req);
	peloton__private__hostmgr__hostsvc__host_filter__init(&b->filter);
	peloton__private__hostmgr__hostsvc__resource_constraint__init(&b->rc);
	peloton__private__hostmgr__hostsvc__quantity_control__init(&b->q);
	peloton__api__task__resource_config__init(&b->min);
	b->min.cpulimit = cpus;
	b->rc.minimum = &b->min;
	b->q.maxhosts = max;
	b->filter.resourceconstraint = &b->rc;
	b->filter.quantity = &b->q;
	b->filter.schedulingconstraint = c;
	b->req.filter = &b->filter;
	return &b->req;
}

static uint32_t count_of(const hostsvc_acquire_resp *r, const char *name)
{
	for (size_t i = 0; i < r->n_filterresultcounts; i++)
		if (strcmp(r->filterresultcounts[i]->key, name) == 0)
			return r->filterresultcounts[i]->value;
	return 0;
}

static void release_all(const hostsvc_acquire_resp *r, uint32_t expect_missing)
{
	hostsvc_release_req rel =
	    PELOTON__PRIVATE__HOSTMGR__HOSTSVC__RELEASE_HOST_OFFERS_REQUEST__INIT;
	uint32_t missing = 99;
	rel.n_hostoffers = r->n_hostoffers;
	rel.hostoffers = r->hostoffers;
	hostsvc_release_resp *rr = hostsvc_release(svc, &rel, &missing);
	assert_non_null(rr);
	assert_int_equal(missing, expect_missing);
	protobuf_c_message_free_unpacked(&rr->base, NULL);
}

static void test_acquire_and_release(void **state)
{
	(void)state;
	struct req_buf b;
	hostsvc_acquire_resp *r = hostsvc_acquire(svc, make_req(&b, 8, 1, NULL), 0);
	assert_non_null(r);
	assert_null(r->error);
	assert_int_equal(r->n_hostoffers, 1);
	const Peloton__Private__Hostmgr__Hostsvc__HostOffer *o = r->hostoffers[0];
	assert_string_equal(o->hostname, "host-b");
	assert_string_equal(o->agentid->value, "host-b");
	assert_int_equal(o->n_attributes, 1);
	assert_string_equal(o->attributes[0]->name, "rack");
	assert_string_equal(o->attributes[0]->text->value, "r2");
	assert_int_equal(o->n_resources, 4); /* cpus, mem, disk, ports */
	assert_string_equal(o->resources[0]->name, "cpus");
	assert_true(fabs(o->resources[0]->scalar->value - 16) < 1e-9);
	assert_int_equal(o->resources[3]->ranges->range[0]->end, 31009);
	assert_int_equal(count_of(r, "MATCH"), 1);
	/* maxHosts met: the host not looked at counts as the limit, as upstream */
	assert_int_equal(count_of(r, "MISMATCH_MAX_HOST_LIMIT"), 1);

	/* the response round-trips through protobuf-c */
	size_t n = protobuf_c_message_get_packed_size(&r->base);
	uint8_t *buf = malloc(n);
	protobuf_c_message_pack(&r->base, buf);
	ProtobufCMessage *u = protobuf_c_message_unpack(r->base.descriptor, NULL, n, buf);
	assert_non_null(u);
	protobuf_c_message_free_unpacked(u, NULL);
	free(buf);

	release_all(r, 0);
	release_all(r, 1); /* second release: not held, reported */
	protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* A placement engine in another process named its hosts in SetPlacements. */
static void test_consume_held(void **state)
{
	(void)state;
	struct req_buf b;
	struct hostidx_offer_ids ids[2] = {0};
	char err[256];
	hostsvc_acquire_resp *r = hostsvc_acquire(svc, make_req(&b, 1, 2, NULL), 0);
	assert_int_equal(r->n_hostoffers, 2);
	/* one held, one never acquired: refused whole, and the held one is let go */
	const char *mixed[2] = {"host-a", "host-nope"};
	assert_int_equal(hostsvc_consume_held(svc, mixed, 2, ids, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "host-nope"));
	struct hostidx_capacity cap;
	hostidx_capacity(idx, &cap);
	assert_int_equal(cap.placing, 1); /* host-b still held */
	protobuf_c_message_free_unpacked(&r->base, NULL);
	/* again, both held: both spent, with their offer ids */
	r = hostsvc_acquire(svc, make_req(&b, 1, 2, NULL), 0);
	assert_int_equal(r->n_hostoffers, 1); /* host-a (host-b is held already) */
	protobuf_c_message_free_unpacked(&r->base, NULL);
	const char *both[2] = {"host-b", "host-a"};
	assert_int_equal(hostsvc_consume_held(svc, both, 2, ids, err, sizeof(err)), 0);
	assert_int_equal(ids[0].n, 1);
	assert_string_equal(ids[0].ids[0], "o-b");
	assert_string_equal(ids[1].ids[0], "o-a");
	hostidx_offer_ids_fini(&ids[0]);
	hostidx_offer_ids_fini(&ids[1]);
	/* spent: nothing left to acquire, nothing held */
	r = hostsvc_acquire(svc, make_req(&b, 1, 2, NULL), 0);
	assert_int_equal(r->n_hostoffers, 0);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	assert_int_equal(hostsvc_consume_held(svc, both, 1, ids, err, sizeof(err)), -1);
}

static void test_constraint_trees(void **state)
{
	(void)state;
	Peloton__Api__Peloton__Label l1 = PELOTON__API__PELOTON__LABEL__INIT;
	Peloton__Api__Task__LabelConstraint lc = PELOTON__API__TASK__LABEL_CONSTRAINT__INIT;
	constraint_pb leaf = PELOTON__API__TASK__CONSTRAINT__INIT, or = leaf, *kids[1] = {&leaf};
	Peloton__Api__Task__OrConstraint orc = PELOTON__API__TASK__OR_CONSTRAINT__INIT;
	l1.key = "rack";
	l1.value = "r1";
	lc.kind = PELOTON__API__TASK__LABEL_CONSTRAINT__KIND__HOST;
	lc.condition = PELOTON__API__TASK__LABEL_CONSTRAINT__CONDITION__CONDITION_EQUAL;
	lc.requirement = 1;
	lc.label = &l1;
	leaf.type = PELOTON__API__TASK__CONSTRAINT__TYPE__LABEL_CONSTRAINT;
	leaf.labelconstraint = &lc;
	orc.n_constraints = 1;
	orc.constraints = kids;
	or.type = PELOTON__API__TASK__CONSTRAINT__TYPE__OR_CONSTRAINT;
	or.orconstraint = &orc;

	struct req_buf b;
	hostsvc_acquire_resp *r = hostsvc_acquire(svc, make_req(&b, 1, 0, & or), 0);
	assert_non_null(r);
	assert_int_equal(r->n_hostoffers, 1);
	assert_string_equal(r->hostoffers[0]->hostname, "host-a");
	assert_int_equal(count_of(r, "MISMATCH_CONSTRAINTS"), 1);
	release_all(r, 0);
	protobuf_c_message_free_unpacked(&r->base, NULL);

	/* the implicit hostname label */
	l1.key = "hostname";
	l1.value = "host-b";
	r = hostsvc_acquire(svc, make_req(&b, 1, 0, &leaf), 0);
	assert_int_equal(r->n_hostoffers, 1);
	assert_string_equal(r->hostoffers[0]->hostname, "host-b");
	release_all(r, 0);
	protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void expect_invalid(hostsvc_acquire_req *req, const char *msg)
{
	hostsvc_acquire_resp *r = hostsvc_acquire(svc, req, 0);
	assert_non_null(r);
	assert_non_null(r->error);
	assert_non_null(r->error->invalidhostfilter);
	assert_string_equal(r->error->invalidhostfilter->message, msg);
	assert_int_equal(r->n_hostoffers, 0);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	assert_int_equal(hostidx_host_state(idx, "host-a"), HOSTIDX_READY);
	assert_int_equal(hostidx_host_state(idx, "host-b"), HOSTIDX_READY);
}

static void test_invalid_filters(void **state)
{
	(void)state;
	struct req_buf b;
	constraint_pb c = PELOTON__API__TASK__CONSTRAINT__INIT;
	expect_invalid(make_req(&b, -1, 1, NULL), "resource minimum is negative or not a number");
	expect_invalid(make_req(&b, NAN, 1, NULL), "resource minimum is negative or not a number");
	expect_invalid(make_req(&b, 1, 1, &c), "unknown constraint type 0");
	c.type = PELOTON__API__TASK__CONSTRAINT__TYPE__AND_CONSTRAINT;
	expect_invalid(make_req(&b, 1, 1, &c), "and constraint without its operands");
	c.type = PELOTON__API__TASK__CONSTRAINT__TYPE__LABEL_CONSTRAINT;
	expect_invalid(make_req(&b, 1, 1, &c), "label constraint without a label");
}

static void test_bad_offers_and_capacity(void **state)
{
	(void)state;
	struct offer_buf a, dup;
	Mesos__V1__Offer *offers[2] = {&a.o, &dup.o};
	char err[256];
	make_offer(&a, "o-c", "host-c", 2, "r3");
	make_offer(&dup, "o-a", "host-d", 2, "r3"); /* id already held */
	assert_int_equal(hostsvc_ingest_offers(svc, offers, 2, 0, err, sizeof(err)), -1);
	assert_int_equal(errno, EEXIST);
	assert_string_equal(err, "offers refused by the host index: duplicate offer id");
	make_offer(&dup, "o-d", "host-d", -2, "r3");
	assert_int_equal(hostsvc_ingest_offers(svc, offers, 2, 0, err, sizeof(err)), -1);
	assert_int_equal(errno, EINVAL);
	assert_string_equal(err, "offer 'o-d': resource 'cpus' has invalid value -2");
	make_offer(&dup, "o-d", "host-d", 2, "r3");
	dup.range.begin = 70000;
	dup.range.end = 70001;
	assert_int_equal(hostsvc_ingest_offers(svc, offers, 2, 0, err, sizeof(err)), -1);
	assert_int_equal(hostidx_host_state(idx, "host-c"), 0); /* nothing added */

	hostsvc_capacity_resp *cap = hostsvc_capacity(svc);
	assert_non_null(cap);
	assert_int_equal(cap->n_resources, 4);
	assert_string_equal(cap->resources[0]->kind, "cpu");
	assert_true(fabs(cap->resources[0]->capacity - 20) < 1e-9);
	assert_true(fabs(cap->physicalresources[1]->capacity - 16384) < 1e-9);
	protobuf_c_message_free_unpacked(&cap->base, NULL);
}

int main(void)
{
	rcu_register_thread();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_acquire_and_release, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_consume_held, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_constraint_trees, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_invalid_filters, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_offers_and_capacity, setup, teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	rcu_unregister_thread();
	return rc;
}
