/*
 * fuzz_hostfilter: arbitrary bytes as an AcquireHostOffersRequest, through
 * the host service edge (filter conversion, constraint trees, validation)
 * into a small host index, then every granted host released. A crash, a
 * sanitizer report, or a host left PLACING is a finding.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <urcu.h>

#include "hostsvc.h"
#include "proto_codec.h"

static struct hostidx *idx;
static struct hostsvc *svc;

static void setup(void)
{
	static const char *const attrs[][2] = {{"rack=r1", "zone=z1"}, {"rack=r2", "zone=z1"}};
	rcu_register_thread();
	idx = hostidx_create(NULL);
	svc = hostsvc_create(idx, HOSTIDX_PACK);
	for (int i = 0; i < 8; i++) {
		char id[16], host[16];
		struct hostidx_range r = {31000, 31010};
		snprintf(id, sizeof(id), "o%d", i);
		snprintf(host, sizeof(host), "h%d", i);
		struct hostidx_offer_in o = {.offer_id = id,
		                             .hostname = host,
		                             .agent_id = host,
		                             .res = {1 << i, 1024 << i, 1000, i == 7 ? 2 : 0},
		                             .n_ranges = 1,
		                             .ranges = &r,
		                             .n_attrs = 2,
		                             .attrs = attrs[i % 2]};
		if (hostidx_add_offers(idx, &o, 1) != 0)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *why;

	if (idx == NULL)
		setup();
	ProtobufCMessage *m = proto_decode(
	    &peloton__private__hostmgr__hostsvc__acquire_host_offers_request__descriptor, data,
	    size, NULL, &why);
	if (m == NULL)
		return 0;
	hostsvc_acquire_resp *r = hostsvc_acquire(svc, (hostsvc_acquire_req *)m, 0);
	if (r == NULL)
		abort();
	hostsvc_release_req rel =
	    PELOTON__PRIVATE__HOSTMGR__HOSTSVC__RELEASE_HOST_OFFERS_REQUEST__INIT;
	uint32_t missing = 0;
	rel.n_hostoffers = r->n_hostoffers;
	rel.hostoffers = r->hostoffers;
	hostsvc_release_resp *rr = hostsvc_release(svc, &rel, &missing);
	if (rr == NULL || missing != 0)
		abort(); /* every granted host must be releasable */
	struct hostidx_capacity cap;
	hostidx_capacity(idx, &cap);
	if (cap.placing != 0)
		abort();
	protobuf_c_message_free_unpacked(&rr->base, NULL);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}
