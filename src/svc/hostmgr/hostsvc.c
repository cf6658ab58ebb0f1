/* InternalHostService edge over the host index; see hostsvc.h. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostfilter.h"
#include "hostmgr_seam.h"
#include "hostsvc.h"
#include "htab.h"
#include "log.h"

#define ACQUIRE_CAP 4096 /* hosts per AcquireHostOffers (maxHosts 0 = this many) */

typedef Peloton__Private__Hostmgr__Hostsvc__HostOffer host_offer_pb;

struct held {
	const char *hostname; /* first: the table's key (htab.h); points at name */
	struct hostidx_lease lease;
	char name[];
};

struct hostsvc {
	struct hostidx *idx;
	enum hostidx_order order;
	pthread_mutex_t mu; /* guards held */
	struct htab held;   /* by hostname */
};

static void errf(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	if (err == NULL || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

struct hostsvc *hostsvc_create(struct hostidx *idx, enum hostidx_order order)
{
	struct hostsvc *svc = calloc(1, sizeof(*svc));
	if (svc == NULL || htab_init(&svc->held, HTAB_KEY_POINTER, 256) != 0) {
		free(svc);
		return NULL;
	}
	svc->idx = idx;
	svc->order = order;
	pthread_mutex_init(&svc->mu, NULL);
	return svc;
}

void hostsvc_destroy(struct hostsvc *svc)
{
	if (svc == NULL)
		return;
	struct htab_iter it;
	htab_iter_init(&it);
	for (struct held *h; (h = htab_next(&svc->held, &it)) != NULL;) {
		hostidx_release(svc->idx, &h->lease);
		free(h);
	}
	htab_fini(&svc->held);
	pthread_mutex_destroy(&svc->mu);
	free(svc);
}

/* --- the edge's leases ----------------------------------------------------- */

/* Keeps a lease under its hostname; false on ENOMEM (lease then released). */
static bool held_put(struct hostsvc *svc, struct hostidx_lease *lease)
{
	const char *name = hostidx_lease_hostname(lease);
	size_t len = strlen(name) + 1;
	struct held *h = malloc(sizeof(*h) + len);

	if (h == NULL) {
		hostidx_release(svc->idx, lease);
		return false;
	}
	memcpy(h->name, name, len);
	h->hostname = h->name;
	h->lease = *lease;
	pthread_mutex_lock(&svc->mu);
	/* a stale entry for the same host (lease expired, re-acquired) goes */
	struct held *old = htab_del(&svc->held, name);
	if (old != NULL) {
		hostidx_release(svc->idx, &old->lease);
		free(old);
	}
	bool ok = htab_put(&svc->held, h) == 0;
	pthread_mutex_unlock(&svc->mu);
	if (!ok) {
		hostidx_release(svc->idx, lease);
		free(h);
	}
	return ok;
}

void hostsvc_offer_id(const struct hostidx_lease *lease, char *buf, size_t len)
{
	snprintf(buf, len, "%s-%016" PRIx64, hostidx_lease_hostname(lease), lease->token);
}

int hostsvc_check_offer_id(struct hostsvc *svc, const char *hostname, const char *id, char *err,
                           size_t errlen)
{
	char cur[HOSTSVC_OFFER_ID_MAX] = "";
	pthread_mutex_lock(&svc->mu);
	struct held *h = htab_get(&svc->held, hostname);
	if (h != NULL)
		hostsvc_offer_id(&h->lease, cur, sizeof(cur));
	pthread_mutex_unlock(&svc->mu);
	if (h != NULL && strcmp(cur, id) == 0)
		return 0;
	errf(err, errlen, "host offer %s is not held for host %s (%s)", id, hostname,
	     h != NULL ? "another offer of that host is"
	               : "none is: released, expired, spent or never acquired");
	return -1;
}

/* Removes and returns the lease held for hostname, or NULL. */
static struct held *held_take(struct hostsvc *svc, const char *hostname)
{
	pthread_mutex_lock(&svc->mu);
	struct held *found = htab_del(&svc->held, hostname);
	pthread_mutex_unlock(&svc->mu);
	return found;
}

void hostsvc_unhold(struct hostsvc *svc, const char *hostname)
{
	struct held *h = held_take(svc, hostname);
	if (h != NULL) {
		hostidx_release(svc->idx, &h->lease);
		free(h);
	}
}

int hostsvc_hold(struct hostsvc *svc, struct hostidx_lease *leases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (held_put(svc, &leases[i])) /* on failure leases[i] is released */
			continue;
		for (size_t k = 0; k < i; k++) { /* none held, all released */
			struct held *h = held_take(svc, hostidx_lease_hostname(&leases[k]));
			if (h != NULL)
				hostidx_release(svc->idx, &h->lease);
			free(h);
		}
		for (size_t k = i + 1; k < n; k++)
			hostidx_release(svc->idx, &leases[k]);
		return -1;
	}
	return 0;
}

int hostsvc_consume_held(struct hostsvc *svc, const char *const *hostnames, size_t n,
                         struct hostidx_offer_ids *out, char *err, size_t errlen)
{
	struct held **taken = calloc(n ? n : 1, sizeof(*taken));
	struct hostidx_lease *leases = calloc(n ? n : 1, sizeof(*leases));
	size_t got = 0;
	int rc = -1;

	if (taken == NULL || leases == NULL) {
		errf(err, errlen, "out of memory");
		goto out;
	}
	for (; got < n; got++) {
		if ((taken[got] = held_take(svc, hostnames[got])) == NULL) {
			errf(err, errlen,
			     "host %s is not held for a placement (never acquired, "
			     "released, or its lease expired)",
			     hostnames[got]);
			break;
		}
		leases[got] = taken[got]->lease;
	}
	if (got < n) {
		for (size_t i = 0; i < got; i++)
			hostidx_release(svc->idx, &leases[i]);
		goto out;
	}
	if (hostidx_consume_all(svc->idx, leases, n, out) != 0) {
		errf(err, errlen,
		     "the offers of %zu host(s) moved meanwhile (rescinded or expired)", n);
		goto out;
	}
	rc = 0;
out:
	for (size_t i = 0; taken && i < got; i++)
		free(taken[i]);
	free(taken);
	free(leases);
	return rc;
}

int hostsvc_take_host(struct hostsvc *svc, const char *hostname, uint64_t now_ns,
                      struct hostidx_offer_ids *out, char *agent, size_t alen, char *err,
                      size_t errlen)
{
	struct hostidx_lease lease;
	struct held *h = held_take(svc, hostname);
	if (h != NULL) { /* held through AcquireHostOffers: that lease is spent */
		lease = h->lease;
		free(h);
	} else {
		char label[300];
		snprintf(label, sizeof(label), "hostname=%s", hostname);
		struct hostmatch_node byname = {.kind = HOSTMATCH_NODE_LABEL,
		                                .host_kind = true,
		                                .condition = HOSTMATCH_EQUAL,
		                                .requirement = 1,
		                                .label = {hostmatch_label_hash(label), label}};
		struct hostmatch_filter f = {.constraint = &byname};
		struct hostidx_acquire_out got = {.leases = &lease, .cap = 1};
		const char *why = NULL;
		if (hostidx_acquire(svc->idx, &f, 1, svc->order, now_ns, &got, &why) != 0 ||
		    got.n == 0) {
			errf(err, errlen,
			     "host %s has no offer now (unknown, down, fully used, or held for a "
			     "placement)",
			     hostname);
			return -1;
		}
	}
	snprintf(agent, alen, "%s", hostidx_lease_agent_id(&lease));
	if (hostidx_consume_all(svc->idx, &lease, 1, out) != 0) {
		errf(err, errlen, "the offers of host %s moved meanwhile (rescinded or expired)",
		     hostname);
		return -1;
	}
	return 0;
}

/* --- response building (malloc, protobuf-c's unpacked layout) -------------- */

static Mesos__V1__Resource *scalar_resource(const char *name, double v)
{
	Mesos__V1__Resource *r = malloc(sizeof(*r));
	Mesos__V1__Value__Scalar *sc = malloc(sizeof(*sc));
	char *n = strdup(name);

	if (r == NULL || sc == NULL || n == NULL) {
		free(r);
		free(sc);
		free(n);
		return NULL;
	}
	mesos__v1__resource__init(r);
	mesos__v1__value__scalar__init(sc);
	r->name = n;
	r->type = MESOS__V1__VALUE__TYPE__SCALAR;
	sc->value = v;
	r->scalar = sc;
	return r;
}

static Mesos__V1__Resource *ports_resource(const struct hostidx_range *ranges, uint32_t n)
{
	Mesos__V1__Resource *r = scalar_resource("ports", 0);

	if (r == NULL)
		return NULL;
	free(r->scalar);
	r->scalar = NULL;
	r->type = MESOS__V1__VALUE__TYPE__RANGES;
	r->ranges = malloc(sizeof(*r->ranges));
	if (r->ranges == NULL)
		goto fail;
	mesos__v1__value__ranges__init(r->ranges);
	r->ranges->range = calloc(n ? n : 1, sizeof(*r->ranges->range));
	if (r->ranges->range == NULL)
		goto fail;
	for (uint32_t i = 0; i < n; i++) {
		Mesos__V1__Value__Range *x = malloc(sizeof(*x));
		if (x == NULL)
			goto fail;
		mesos__v1__value__range__init(x);
		x->begin = ranges[i].begin;
		x->end = ranges[i].end;
		r->ranges->range[r->ranges->n_range++] = x;
	}
	return r;
fail:
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return NULL;
}

static Mesos__V1__Attribute *text_attribute(const char *label)
{
	const char *eq = strchr(label, '=');
	Mesos__V1__Attribute *a = malloc(sizeof(*a));
	Mesos__V1__Value__Text *t = malloc(sizeof(*t));

	if (a == NULL || t == NULL || eq == NULL) {
		free(a);
		free(t);
		return NULL;
	}
	mesos__v1__attribute__init(a);
	mesos__v1__value__text__init(t);
	a->type = MESOS__V1__VALUE__TYPE__TEXT;
	a->name = strndup(label, (size_t)(eq - label));
	t->value = strdup(eq + 1);
	a->text = t;
	if (a->name == NULL || t->value == NULL) {
		protobuf_c_message_free_unpacked(&a->base, NULL);
		return NULL;
	}
	return a;
}

static host_offer_pb *host_offer(const struct hostidx_lease *lease)
{
	const struct hostmatch_host *v = hostidx_lease_view(lease);
	const struct hostidx_range *ranges;
	uint32_t nr = hostidx_lease_ranges(lease, &ranges);
	host_offer_pb *o = malloc(sizeof(*o));
	Mesos__V1__AgentID *aid = malloc(sizeof(*aid));

	if (o == NULL || aid == NULL) {
		free(o);
		free(aid);
		return NULL;
	}
	peloton__private__hostmgr__hostsvc__host_offer__init(o);
	mesos__v1__agent_id__init(aid);
	o->agentid = aid;
	o->hostname = strdup(hostidx_lease_hostname(lease));
	aid->value = strdup(hostidx_lease_agent_id(lease));
	char id[HOSTSVC_OFFER_ID_MAX];
	hostsvc_offer_id(lease, id, sizeof(id));
	if ((o->id = malloc(sizeof(*o->id))) == NULL)
		goto fail;
	peloton__api__peloton__host_offer_id__init(o->id);
	if ((o->id->value = strdup(id)) == NULL)
		goto fail;
	o->resources = calloc(5, sizeof(*o->resources));
	o->attributes = calloc(v->n_labels ? v->n_labels : 1, sizeof(*o->attributes));
	if (o->hostname == NULL || aid->value == NULL || o->resources == NULL ||
	    o->attributes == NULL)
		goto fail;
	const double amounts[] = {v->free.cpus, v->free.mem_mb, v->free.disk_mb, v->free.gpus};
	static const char *const names[] = {"cpus", "mem", "disk", "gpus"};
	for (int i = 0; i < 4; i++) {
		if (amounts[i] <= 0)
			continue;
		if ((o->resources[o->n_resources] = scalar_resource(names[i], amounts[i])) == NULL)
			goto fail;
		o->n_resources++;
	}
	if (nr > 0) {
		if ((o->resources[o->n_resources] = ports_resource(ranges, nr)) == NULL)
			goto fail;
		o->n_resources++;
	}
	for (uint32_t i = 0; i < v->n_labels; i++) {
		if (strncmp(v->labels[i].text, "hostname=", 9) == 0)
			continue; /* implicit label, not a Mesos attribute */
		if ((o->attributes[o->n_attributes] = text_attribute(v->labels[i].text)) == NULL)
			goto fail;
		o->n_attributes++;
	}
	return o;
fail:
	protobuf_c_message_free_unpacked(&o->base, NULL);
	return NULL;
}

static bool add_count(hostsvc_acquire_resp *r, const char *name, uint32_t value)
{
	Peloton__Private__Hostmgr__Hostsvc__AcquireHostOffersResponse__FilterResultCountsEntry *e =
	    malloc(sizeof(*e));
	if (e == NULL)
		return false;
	peloton__private__hostmgr__hostsvc__acquire_host_offers_response__filter_result_counts_entry__init(
	    e);
	e->key = strdup(name);
	e->value = value;
	if (e->key == NULL) {
		free(e);
		return false;
	}
	r->filterresultcounts[r->n_filterresultcounts++] = e;
	return true;
}

static hostsvc_acquire_resp *invalid_filter(hostsvc_acquire_resp *r, const char *why)
{
	Peloton__Private__Hostmgr__Hostsvc__AcquireHostOffersResponse__Error *e =
	    malloc(sizeof(*e));
	Peloton__Private__Hostmgr__Hostsvc__InvalidHostFilter *inv = malloc(sizeof(*inv));

	if (e == NULL || inv == NULL) {
		free(e);
		free(inv);
		protobuf_c_message_free_unpacked(&r->base, NULL);
		return NULL;
	}
	peloton__private__hostmgr__hostsvc__acquire_host_offers_response__error__init(e);
	peloton__private__hostmgr__hostsvc__invalid_host_filter__init(inv);
	inv->message = strdup(why);
	e->invalidhostfilter = inv;
	r->error = e;
	if (inv->message == NULL) {
		protobuf_c_message_free_unpacked(&r->base, NULL);
		return NULL;
	}
	return r;
}

hostsvc_acquire_resp *hostsvc_acquire(struct hostsvc *svc, const hostsvc_acquire_req *req,
                                      uint64_t now_ns)
{
	char why[256];
	struct hostfilter f;
	hostsvc_acquire_resp *r = malloc(sizeof(*r));

	if (r == NULL)
		return NULL;
	peloton__private__hostmgr__hostsvc__acquire_host_offers_response__init(r);
	if (hostfilter_from_pb(req ? req->filter : NULL, &f, why, sizeof(why)) != 0) {
		log_info("hostsvc", "AcquireHostOffers: invalid filter: %s", why);
		return invalid_filter(r, why);
	}
	uint32_t cap = f.max_hosts && f.max_hosts < ACQUIRE_CAP ? f.max_hosts : ACQUIRE_CAP;
	struct hostidx_lease *leases = calloc(cap, sizeof(*leases));
	struct hostidx_acquire_out out = {.leases = leases, .cap = cap};
	const char *reason = NULL;
	r->hostoffers = calloc(cap, sizeof(*r->hostoffers));
	r->filterresultcounts = calloc(HOSTMATCH_N_RESULTS, sizeof(*r->filterresultcounts));
	if (leases == NULL || r->hostoffers == NULL || r->filterresultcounts == NULL)
		goto nomem;
	if (hostidx_acquire(svc->idx, &f.f, f.max_hosts, svc->order, now_ns, &out, &reason) != 0) {
		free(leases);
		hostfilter_fini(&f);
		return invalid_filter(r, reason);
	}
	for (uint32_t i = 0; i < out.n; i++) {
		host_offer_pb *o = host_offer(&leases[i]);
		if (o == NULL || !held_put(svc, &leases[i])) {
			if (o != NULL)
				protobuf_c_message_free_unpacked(&o->base, NULL);
			else
				hostidx_release(svc->idx, &leases[i]);
			for (uint32_t k = i + 1; k < out.n; k++)
				hostidx_release(svc->idx, &leases[k]);
			goto nomem;
		}
		r->hostoffers[r->n_hostoffers++] = o;
	}
	for (int k = 1; k < HOSTMATCH_N_RESULTS; k++)
		if (out.counts[k] > 0 && !add_count(r, hostmatch_result_name(k), out.counts[k]))
			goto nomem;
	free(leases);
	hostfilter_fini(&f);
	return r;
nomem:
	/* hosts already handed to r stay held by the edge: give them back */
	for (size_t i = 0; i < r->n_hostoffers; i++) {
		struct held *h = held_take(svc, r->hostoffers[i]->hostname);
		if (h != NULL) {
			hostidx_release(svc->idx, &h->lease);
			free(h);
		}
	}
	free(leases);
	hostfilter_fini(&f);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return NULL;
}

hostsvc_release_resp *hostsvc_release(struct hostsvc *svc, const hostsvc_release_req *req,
                                      uint32_t *not_held)
{
	uint32_t missing = 0;
	hostsvc_release_resp *r = malloc(sizeof(*r));

	if (r == NULL)
		return NULL;
	peloton__private__hostmgr__hostsvc__release_host_offers_response__init(r);
	for (size_t i = 0; req && i < req->n_hostoffers; i++) {
		const char *name = req->hostoffers[i]->hostname;
		struct held *h = name ? held_take(svc, name) : NULL;
		bool ok = h != NULL && hostidx_release(svc->idx, &h->lease);
		if (!ok) {
			missing++;
			log_warn("hostsvc",
			         "ReleaseHostOffers: host '%s' is not held (never "
			         "acquired, already released, lease expired or host lost)",
			         name ? name : "");
		}
		free(h);
	}
	if (not_held != NULL)
		*not_held = missing;
	return r;
}

static Peloton__Private__Hostmgr__Hostsvc__Resource *kind_resource(const char *kind, double v)
{
	Peloton__Private__Hostmgr__Hostsvc__Resource *r = malloc(sizeof(*r));
	if (r == NULL)
		return NULL;
	peloton__private__hostmgr__hostsvc__resource__init(r);
	r->capacity = v;
	if ((r->kind = strdup(kind)) == NULL) {
		free(r);
		return NULL;
	}
	return r;
}

static bool kind_list(Peloton__Private__Hostmgr__Hostsvc__Resource ***arr, size_t *n,
                      const struct hostmatch_res *res)
{
	static const char *const kinds[] = {"cpu", "memory", "disk", "gpu"};
	const double v[] = {res->cpus, res->mem_mb, res->disk_mb, res->gpus};

	*arr = calloc(4, sizeof(**arr));
	if (*arr == NULL)
		return false;
	for (int i = 0; i < 4; i++) {
		if (((*arr)[i] = kind_resource(kinds[i], v[i])) == NULL)
			return false;
		(*n)++;
	}
	return true;
}

hostsvc_capacity_resp *hostsvc_capacity(struct hostsvc *svc)
{
	struct hostidx_capacity cap;
	hostsvc_capacity_resp *r = malloc(sizeof(*r));

	if (r == NULL)
		return NULL;
	peloton__private__hostmgr__hostsvc__cluster_capacity_response__init(r);
	hostidx_capacity(svc->idx, &cap);
	if (!kind_list(&r->resources, &r->n_resources, &cap.offered) ||
	    !kind_list(&r->physicalresources, &r->n_physicalresources, &cap.physical)) {
		protobuf_c_message_free_unpacked(&r->base, NULL);
		return NULL;
	}
	return r;
}

/* --- Mesos offer ingestion ----------------------------------------------- */

/* Per-offer scratch: what hostidx_offer_in points into. */
struct offer_scratch {
	struct hostidx_range *ranges;
	char **attrs;
	uint32_t n_attrs;
};

static void scratch_fini(struct offer_scratch *s)
{
	for (uint32_t i = 0; i < s->n_attrs; i++)
		free(s->attrs[i]);
	free(s->attrs);
	free(s->ranges);
}

/* "name=value" for a Mesos attribute of any value type; NULL on ENOMEM. */
static char *attr_text(const Mesos__V1__Attribute *a)
{
	char buf[1024];
	size_t len = 0;

	len = (size_t)snprintf(buf, sizeof(buf), "%s=", a->name);
	if (a->type == MESOS__V1__VALUE__TYPE__TEXT && a->text) {
		snprintf(buf + len, sizeof(buf) - len, "%s", a->text->value);
	} else if (a->type == MESOS__V1__VALUE__TYPE__SCALAR && a->scalar) {
		snprintf(buf + len, sizeof(buf) - len, "%g", a->scalar->value);
	} else if (a->type == MESOS__V1__VALUE__TYPE__RANGES && a->ranges) {
		for (size_t i = 0; i < a->ranges->n_range && len < sizeof(buf) - 48; i++)
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s[%llu-%llu]",
			                        i ? "," : "",
			                        (unsigned long long)a->ranges->range[i]->begin,
			                        (unsigned long long)a->ranges->range[i]->end);
	} else if (a->type == MESOS__V1__VALUE__TYPE__SET && a->set) {
		for (size_t i = 0; i < a->set->n_item && len < sizeof(buf) - 2; i++)
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s", i ? "," : "",
			                        a->set->item[i]);
	}
	return strdup(buf);
}

static int convert_offer(const Mesos__V1__Offer *o, uint64_t now_ns, struct hostidx_offer_in *in,
                         struct offer_scratch *s, char *err, size_t errlen)
{
	const char *oid = o->id && o->id->value ? o->id->value : "";

	memset(in, 0, sizeof(*in));
	memset(s, 0, sizeof(*s));
	if (oid[0] == '\0' || o->hostname == NULL || o->hostname[0] == '\0' ||
	    o->agent_id == NULL) {
		errf(err, errlen, "offer '%s' lacks an id, hostname or agent id", oid);
		return EINVAL;
	}
	*in = (struct hostidx_offer_in){.offer_id = oid,
	                                .hostname = o->hostname,
	                                .agent_id = o->agent_id->value,
	                                .recv_ns = now_ns};
	size_t nr = 0;
	for (size_t i = 0; i < o->n_resources; i++)
		if (o->resources[i]->ranges)
			nr += o->resources[i]->ranges->n_range;
	s->ranges = calloc(nr ? nr : 1, sizeof(*s->ranges));
	s->attrs = calloc(o->n_attributes + o->n_resources + 1, sizeof(*s->attrs));
	if (s->ranges == NULL || s->attrs == NULL)
		return ENOMEM;
	for (size_t i = 0; i < o->n_resources; i++) {
		const Mesos__V1__Resource *r = o->resources[i];
		bool reserved = (r->role && strcmp(r->role, "*") != 0) || r->reservation != NULL;
		struct hostmatch_res *dst = reserved ? &in->reserved : &in->res;
		if (r->type == MESOS__V1__VALUE__TYPE__SCALAR && r->scalar) {
			double v = r->scalar->value;
			if (!isfinite(v) || v < 0) {
				errf(err, errlen, "offer '%s': resource '%s' has invalid value %g",
				     oid, r->name, v);
				return EINVAL;
			}
			if (strcmp(r->name, "cpus") == 0)
				dst->cpus += v;
			else if (strcmp(r->name, "mem") == 0)
				dst->mem_mb += v;
			else if (strcmp(r->name, "disk") == 0)
				dst->disk_mb += v;
			else if (strcmp(r->name, "gpus") == 0)
				dst->gpus += v;
		} else if (r->type == MESOS__V1__VALUE__TYPE__RANGES && r->ranges && !reserved &&
		           strcmp(r->name, "ports") == 0) {
			for (size_t k = 0; k < r->ranges->n_range; k++) {
				uint64_t b = r->ranges->range[k]->begin,
				         e = r->ranges->range[k]->end;
				if (b > e || e > 65535) {
					errf(err, errlen, "offer '%s': bad port range [%llu-%llu]",
					     oid, (unsigned long long)b, (unsigned long long)e);
					return EINVAL;
				}
				s->ranges[in->n_ranges++] =
				    (struct hostidx_range){(uint32_t)b, (uint32_t)e};
			}
		}
	}
	in->ranges = s->ranges;
	for (size_t i = 0; i < o->n_attributes; i++) {
		if ((s->attrs[s->n_attrs] = attr_text(o->attributes[i])) == NULL)
			return ENOMEM;
		s->n_attrs++;
	}
	/* each persistent volume offered (free: its task is not running) as a host
	 * label, so a stateful task's constraint finds the one host holding it */
	for (size_t i = 0; i < o->n_resources; i++) {
		const Mesos__V1__Resource *r = o->resources[i];
		if (!r->disk || !r->disk->persistence || !r->disk->persistence->id)
			continue;
		size_t len = strlen(HOSTMGR_VOLUME_LABEL) + strlen(r->disk->persistence->id) + 2;
		if ((s->attrs[s->n_attrs] = malloc(len)) == NULL)
			return ENOMEM;
		snprintf(s->attrs[s->n_attrs++], len, "%s=%s", HOSTMGR_VOLUME_LABEL,
		         r->disk->persistence->id);
	}
	in->n_attrs = s->n_attrs;
	in->attrs = (const char *const *)s->attrs;
	return 0;
}

int hostsvc_ingest_offers(struct hostsvc *svc, Mesos__V1__Offer *const *offers, size_t n,
                          uint64_t now_ns, char *err, size_t errlen)
{
	struct hostidx_offer_in *ins = calloc(n ? n : 1, sizeof(*ins));
	struct offer_scratch *sc = calloc(n ? n : 1, sizeof(*sc));
	int rc = 0;
	size_t done = 0;

	if (ins == NULL || sc == NULL) {
		rc = ENOMEM;
		errf(err, errlen, "out of memory");
	}
	for (; rc == 0 && done < n; done++)
		rc = convert_offer(offers[done], now_ns, &ins[done], &sc[done], err, errlen);
	if (rc == 0 && hostidx_add_offers(svc->idx, ins, n) != 0) {
		rc = errno;
		errf(err, errlen, "offers refused by the host index: %s",
		     rc == EEXIST ? "duplicate offer id" : strerror(rc));
	}
	for (size_t i = 0; sc && i < done; i++)
		scratch_fini(&sc[i]);
	free(ins);
	free(sc);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	return 0;
}
