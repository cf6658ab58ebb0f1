/*
 * hostfilter: a HostFilter protobuf (hostsvc.proto) as a hostmatch filter
 * for the host index — resources, ports, and the constraint tree flattened
 * into one node array. The host manager converts the filters of
 * AcquireHostOffers with it, placement engines the filters of the tasks
 * they place.
 */
#ifndef HOSTFILTER_H
#define HOSTFILTER_H

#include <stdint.h>

#include "hostmatch.h"
#include "peloton/private/hostmgr/hostsvc/hostsvc.pb-c.h"

typedef Peloton__Private__Hostmgr__Hostsvc__HostFilter hostfilter_pb;

/* A converted HostFilter; owns its node array and texts. */
struct hostfilter {
	struct hostmatch_filter f;
	uint32_t max_hosts;
	struct hostmatch_node *nodes;
	uint32_t n_nodes;
	char **texts;
};

/*
 * Converts and validates pb (NULL = match anything, one host). A
 * constraint tree deeper than 32 levels or of more than 4,096 nodes is
 * refused. 0, or -1 with a message in err (nothing to free). Free a
 * converted filter with hostfilter_fini (NULL ok).
 */
int hostfilter_from_pb(const hostfilter_pb *pb, struct hostfilter *out, char *err, size_t errlen);
void hostfilter_fini(struct hostfilter *f);

#endif
