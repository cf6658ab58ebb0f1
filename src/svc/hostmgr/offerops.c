/*
 * Offer operations on one host (InternalHostService.OfferOperations, the
 * single-operation calls ReserveResources / UnreserveResources /
 * CreateVolumes / DestroyVolumes, the job manager's volume deletion) and
 * ShutdownExecutors; see hostmgr_int.h.
 *
 * Peloton's operations name things the way its callers know them: RESERVE
 * gives resources (reserved for the framework's role with the operation's
 * reservationLabels when they carry no reservation), CREATE a volume (id,
 * containerPath, its disk), LAUNCH launchable tasks, DESTROY a volume id,
 * UNRESERVE a label text ("k=v,k=v": everything the host offers reserved
 * under exactly those labels, and the disk of a volume destroyed earlier
 * in the same request). They become Mesos operations against what the
 * host offers now (reserved.h) and go out in one ACCEPT of its offers, in
 * order, as Mesos applies them. Mesos answers nothing about RESERVE,
 * CREATE, DESTROY or UNRESERVE without operation feedback (not used): the
 * result shows in the host's next offer.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "hostmgr_int.h"
#include "launchable.h"
#include "log.h"
#include "proto_codec.h"
#include "reserved.h"

typedef Peloton__Private__Hostmgr__Hostsvc__OfferOperation hs_op;
typedef Mesos__V1__Offer__Operation m_op;

/* The Mesos operations being built (heap copies, freed with ops_fini). */
struct ops {
	m_op **v;
	size_t n, cap;
	Mesos__V1__Resource **offered; /* the host's reserved resources now */
	size_t n_offered;
	bool have_offered;
	/* volumes destroyed so far in this request: their disk for a later UNRESERVE */
	const Mesos__V1__Resource *destroyed[16];
	size_t n_destroyed;
};

static void ops_fini(struct ops *o)
{
	for (size_t i = 0; i < o->n; i++)
		protobuf_c_message_free_unpacked(&o->v[i]->base, NULL);
	free(o->v);
	reserved_free_list(o->offered, o->n_offered);
	memset(o, 0, sizeof(*o));
}

/* Appends a deep copy of a stack-built operation. */
static int ops_add(struct ops *o, m_op *op)
{
	if (o->n == o->cap) {
		size_t nc = o->cap ? o->cap * 2 : 4;
		m_op **v = realloc(o->v, nc * sizeof(*v));
		if (v == NULL)
			return -1;
		o->v = v;
		o->cap = nc;
	}
	m_op *c = (m_op *)proto_clone(&op->base);
	if (c == NULL)
		return -1;
	o->v[o->n++] = c;
	return 0;
}

/* op (stack-built, its payload set) of type t appended; -1 with err on ENOMEM. */
static int push(struct ops *o, m_op *op, Mesos__V1__Offer__Operation__Type t, char *err, size_t el)
{
	op->has_type = true;
	op->type = t;
	if (ops_add(o, op) == 0)
		return 0;
	snprintf(err, el, "out of memory");
	return -1;
}

static bool scalar_ok(const Mesos__V1__Resource *r)
{
	return r && r->name &&
	       (strcmp(r->name, "cpus") == 0 || strcmp(r->name, "mem") == 0 ||
	        strcmp(r->name, "disk") == 0 || strcmp(r->name, "gpus") == 0) &&
	       r->scalar && isfinite(r->scalar->value) && r->scalar->value > 0 &&
	       r->scalar->value < 1e12;
}

/* r (a shallow copy) reserved for the framework's role with `labels`, unless reserved already. */
static void reserve_shallow(struct hostmgr *d, Mesos__V1__Resource *r,
                            Mesos__V1__Resource__ReservationInfo *ri, Mesos__V1__Labels *labels)
{
	if (r->reservation)
		return;
	mesos__v1__resource__reservation_info__init(ri);
	ri->principal = d->principal;
	ri->labels = labels;
	r->role = d->role;
	r->reservation = ri;
	r->type = MESOS__V1__VALUE__TYPE__SCALAR;
}

static int conv_reserve(struct hostmgr *d, const hs_op *p, struct ops *o, char *err, size_t el)
{
	size_t n = p->reserve ? p->reserve->n_resources : 0;
	if (n == 0 || n > 64)
		return snprintf(err, el, "RESERVE needs 1 to 64 resources"), -1;
	Mesos__V1__Resource rs[64], *rp[64];
	Mesos__V1__Resource__ReservationInfo ri[64];
	for (size_t i = 0; i < n; i++) {
		const Mesos__V1__Resource *r = p->reserve->resources[i];
		if (!scalar_ok(r))
			return snprintf(
			           err, el,
			           "RESERVE: resource %zu is not a positive cpus, mem, disk or "
			           "gpus amount",
			           i),
			       -1;
		if (r->disk && r->disk->persistence)
			return snprintf(err, el, "RESERVE: a volume is made by CREATE"), -1;
		rs[i] = *r;
		reserve_shallow(d, &rs[i], &ri[i], p->reservationlabels);
		rp[i] = &rs[i];
	}
	Mesos__V1__Offer__Operation__Reserve res = MESOS__V1__OFFER__OPERATION__RESERVE__INIT;
	m_op op = MESOS__V1__OFFER__OPERATION__INIT;
	res.n_resources = n;
	res.resources = rp;
	op.reserve = &res;
	return push(o, &op, MESOS__V1__OFFER__OPERATION__TYPE__RESERVE, err, el);
}

static int conv_create(struct hostmgr *d, const hs_op *p, struct ops *o, char *err, size_t el)
{
	const Peloton__Private__Hostmgr__Hostsvc__Volume *v = p->create ? p->create->volume : NULL;
	if (!v || !v->id || !v->id->value || !v->id->value[0] || !v->containerpath ||
	    !v->containerpath[0] || !v->resource || !scalar_ok(v->resource) ||
	    strcmp(v->resource->name, "disk") != 0)
		return snprintf(err, el,
		                "CREATE needs a volume with an id, a containerPath and a disk "
		                "resource"),
		       -1;
	Mesos__V1__Resource r = *v->resource;
	Mesos__V1__Resource__ReservationInfo ri;
	Mesos__V1__Resource__DiskInfo di = MESOS__V1__RESOURCE__DISK_INFO__INIT;
	Mesos__V1__Resource__DiskInfo__Persistence pe =
	    MESOS__V1__RESOURCE__DISK_INFO__PERSISTENCE__INIT;
	Mesos__V1__Volume vol = MESOS__V1__VOLUME__INIT;
	reserve_shallow(d, &r, &ri, p->reservationlabels);
	pe.id = v->id->value;
	pe.principal = d->principal;
	vol.container_path = v->containerpath;
	vol.mode = MESOS__V1__VOLUME__MODE__RW;
	di.persistence = &pe;
	di.volume = &vol;
	r.disk = &di;
	Mesos__V1__Resource *rp = &r;
	Mesos__V1__Offer__Operation__Create cre = MESOS__V1__OFFER__OPERATION__CREATE__INIT;
	m_op op = MESOS__V1__OFFER__OPERATION__INIT;
	cre.n_volumes = 1;
	cre.volumes = &rp;
	op.create = &cre;
	return push(o, &op, MESOS__V1__OFFER__OPERATION__TYPE__CREATE, err, el);
}

/* The host's reserved resources as offered now (once per request). */
static int offered(struct hostmgr *d, const char *host, struct ops *o)
{
	if (!o->have_offered && reserved_get(d->reserved, host, &o->offered, &o->n_offered) == 0)
		o->have_offered = true;
	return o->have_offered ? 0 : -1;
}

static int conv_destroy(struct hostmgr *d, const char *host, const hs_op *p, struct ops *o,
                        char *err, size_t el)
{
	const char *id = p->destroy ? p->destroy->volumeid : NULL;
	if (!id || !id[0])
		return snprintf(err, el, "DESTROY needs a volumeID"), -1;
	Mesos__V1__Resource *vol = NULL;
	for (size_t i = 0; offered(d, host, o) == 0 && i < o->n_offered && !vol; i++)
		if (o->offered[i]->disk && o->offered[i]->disk->persistence &&
		    strcmp(o->offered[i]->disk->persistence->id, id) == 0)
			vol = o->offered[i];
	if (vol == NULL)
		return snprintf(err, el,
		                "DESTROY: host %s offers no volume %s now (unknown there, or its "
		                "task is running)",
		                host, id),
		       -1;
	if (o->n_destroyed < 16)
		o->destroyed[o->n_destroyed++] = vol;
	Mesos__V1__Offer__Operation__Destroy des = MESOS__V1__OFFER__OPERATION__DESTROY__INIT;
	m_op op = MESOS__V1__OFFER__OPERATION__INIT;
	des.n_volumes = 1;
	des.volumes = &vol;
	op.destroy = &des;
	return push(o, &op, MESOS__V1__OFFER__OPERATION__TYPE__DESTROY, err, el);
}

static int conv_unreserve(struct hostmgr *d, const char *host, const hs_op *p, struct ops *o,
                          char *err, size_t el)
{
	const char *label = p->unreserve ? p->unreserve->label : NULL;
	if (!label || !label[0])
		return snprintf(err, el, "UNRESERVE needs a label (\"k=v,k=v\")"), -1;
	Mesos__V1__Resource rs[64], *rp[64];
	size_t n = 0;
	char text[1024];
	for (size_t i = 0; offered(d, host, o) == 0 && i < o->n_offered && n < 64; i++) {
		const Mesos__V1__Resource *r = o->offered[i];
		reserved_labels_text(r, text, sizeof(text));
		if ((r->disk && r->disk->persistence) || strcmp(text, label) != 0)
			continue;
		rs[n] = *r;
		rp[n] = &rs[n];
		n++;
	}
	for (size_t i = 0; i < o->n_destroyed && n < 64; i++) { /* their disk, now plain */
		reserved_labels_text(o->destroyed[i], text, sizeof(text));
		if (strcmp(text, label) != 0)
			continue;
		rs[n] = *o->destroyed[i];
		rs[n].disk = NULL;
		rp[n] = &rs[n];
		n++;
	}
	if (n == 0)
		return snprintf(err, el, "UNRESERVE: host %s offers nothing reserved under %s now",
		                host, label),
		       -1;
	Mesos__V1__Offer__Operation__Unreserve un = MESOS__V1__OFFER__OPERATION__UNRESERVE__INIT;
	m_op op = MESOS__V1__OFFER__OPERATION__INIT;
	un.n_resources = n;
	un.resources = rp;
	op.unreserve = &un;
	return push(o, &op, MESOS__V1__OFFER__OPERATION__TYPE__UNRESERVE, err, el);
}

static int conv_launch(struct hostmgr *d, const hs_op *p, const char *agent, struct ops *o,
                       char *err, size_t el)
{
	size_t n = p->launch ? p->launch->n_tasks : 0;
	if (n == 0 || n > 64)
		return snprintf(err, el, "LAUNCH needs 1 to 64 tasks"), -1;
	struct launchable lts[64];
	struct launchable_volume vols[64];
	uint32_t *ports = calloc(n * LAUNCHABLE_MAX_PORTS, sizeof(*ports));
	struct taskinfo_buf *x = calloc(n, sizeof(*x));
	Mesos__V1__TaskInfo *tis[64];
	int rc = -1;
	if (!ports || !x) {
		snprintf(err, el, "out of memory");
		goto out;
	}
	for (size_t k = 0; k < n; k++) {
		if (launchable_from_proto(p->launch->tasks[k], ports + k * LAUNCHABLE_MAX_PORTS,
		                          LAUNCHABLE_MAX_PORTS, &vols[k], &lts[k], err, el) != 0)
			goto out;
		if (launchable_taskinfo(&lts[k], agent, &x[k]) != 0) {
			snprintf(err, el, "LAUNCH: task %s is not <job>-<instance>-<run>",
			         lts[k].task_id);
			goto out;
		}
		launchable_reserve(&lts[k], d->role, d->principal, &x[k]);
		tis[k] = &x[k].ti;
	}
	Mesos__V1__Offer__Operation__Launch lau = MESOS__V1__OFFER__OPERATION__LAUNCH__INIT;
	m_op op = MESOS__V1__OFFER__OPERATION__INIT;
	lau.n_task_infos = n;
	lau.task_infos = tis;
	op.launch = &lau;
	rc = push(o, &op, MESOS__V1__OFFER__OPERATION__TYPE__LAUNCH, err, el);
out:
	free(ports);
	free(x);
	return rc;
}

/* One ACCEPT of the host's offers (already spent) with the operations. */
static int send_accept(struct hostmgr *d, const struct hostidx_offer_ids *offers,
                       const struct ops *o)
{
	Mesos__V1__OfferID oid[64], *oidp[64];
	size_t n = offers->n < 64 ? offers->n : 64;
	for (size_t i = 0; i < n; i++) {
		mesos__v1__offer_id__init(&oid[i]);
		oid[i].value = offers->ids[i];
		oidp[i] = &oid[i];
	}
	Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
	Mesos__V1__Scheduler__Call__Accept acc = MESOS__V1__SCHEDULER__CALL__ACCEPT__INIT;
	Mesos__V1__Filters f = MESOS__V1__FILTERS__INIT;
	f.has_refuse_seconds = true; /* the rest at the next allocation */
	acc.n_offer_ids = n;
	acc.offer_ids = oidp;
	acc.n_operations = o->n;
	acc.operations = o->v;
	acc.filters = &f;
	call.has_type = true;
	call.type = MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT;
	call.accept = &acc;
	if (mesos_client_call(d->mc, &call) != 0)
		return -1;
	atomic_fetch_add(&d->volume_ops, o->n);
	atomic_fetch_add(&d->offers_used, n);
	return 0;
}

enum hostmgr_ops_result hostmgr__offer_ops(struct hostmgr *d, const char *host,
                                           const hs_op *const *in, size_t n_in, char *err,
                                           size_t el)
{
	struct ops o = {0};
	struct hostidx_offer_ids offers = {0};
	char agent[256];
	enum hostmgr_ops_result rc = HOSTMGR_OPS_BAD_ARG;
	if (!host || !host[0] || n_in == 0 || n_in > 256) {
		snprintf(err, el, "a hostname and 1 to 256 operations are required");
		return rc;
	}
	if (d->mc == NULL) {
		snprintf(err, el, "not connected to Mesos");
		return HOSTMGR_OPS_FAILED;
	}
	/* the host's offers first: LAUNCH needs its agent id */
	if (hostsvc_take_host(d->hsvc, host, clock_mono_ns(), &offers, agent, sizeof(agent), err,
	                      el) != 0)
		return HOSTMGR_OPS_NO_OFFER;
	int bad = 0;
	for (size_t i = 0; i < n_in && !bad; i++) {
		const hs_op *p = in[i];
		switch (p->type) {
		case PELOTON__PRIVATE__HOSTMGR__HOSTSVC__OFFER_OPERATION__TYPE__RESERVE:
			bad = conv_reserve(d, p, &o, err, el);
			break;
		case PELOTON__PRIVATE__HOSTMGR__HOSTSVC__OFFER_OPERATION__TYPE__CREATE:
			bad = conv_create(d, p, &o, err, el);
			break;
		case PELOTON__PRIVATE__HOSTMGR__HOSTSVC__OFFER_OPERATION__TYPE__LAUNCH:
			bad = conv_launch(d, p, agent, &o, err, el);
			break;
		case PELOTON__PRIVATE__HOSTMGR__HOSTSVC__OFFER_OPERATION__TYPE__DESTROY:
			bad = conv_destroy(d, host, p, &o, err, el);
			break;
		case PELOTON__PRIVATE__HOSTMGR__HOSTSVC__OFFER_OPERATION__TYPE__UNRESERVE:
			bad = conv_unreserve(d, host, p, &o, err, el);
			break;
		default:
			snprintf(err, el,
			         "operation %zu: type %d is not LAUNCH, RESERVE, UNRESERVE, "
			         "CREATE or DESTROY",
			         i, (int)p->type);
			bad = -1;
		}
	}
	if (bad) {
		/* the offers were spent: declined back, at once */
		mesos_client_decline(d->mc, (const char *const *)offers.ids, offers.n, 0);
	} else if (send_accept(d, &offers, &o) != 0) {
		snprintf(err, el, "the Mesos client refused the ACCEPT");
		rc = HOSTMGR_OPS_FAILED;
	} else {
		rc = HOSTMGR_OPS_OK;
	}
	hostidx_offer_ids_fini(&offers);
	ops_fini(&o);
	return rc;
}

int hostmgr__destroy_volume(struct hostmgr *d, const char *host, const char *volume_id,
                            const char *job_id, uint32_t instance, char *err, size_t el)
{
	struct launchable_teardown x;
	launchable_teardown(&x, volume_id, job_id, instance);
	return hostmgr__offer_ops(d, host, (const hs_op *const *)x.ops, 2, err, el) ==
	               HOSTMGR_OPS_OK
	           ? 0
	           : -1;
}

/* The host a raw operation's resource names: for RESERVE its reservation
 * label "hostname", else where the host's offer holds it (a volume by id,
 * reserved resources by their labels). */
static bool raw_host(struct hostmgr *d, int type, const Mesos__V1__Resource *r, char *host,
                     size_t len)
{
	if (type == PELOTON__PRIVATE__HOSTMGR__HOSTSVC__OFFER_OPERATION__TYPE__RESERVE) {
		const Mesos__V1__Labels *l = r->reservation ? r->reservation->labels : NULL;
		for (size_t i = 0; l && i < l->n_labels; i++)
			if (l->labels[i]->key && strcmp(l->labels[i]->key, "hostname") == 0 &&
			    l->labels[i]->value && l->labels[i]->value[0])
				return snprintf(host, len, "%s", l->labels[i]->value), true;
		return false;
	}
	if (type == PELOTON__PRIVATE__HOSTMGR__HOSTSVC__OFFER_OPERATION__TYPE__DESTROY)
		return r->disk && r->disk->persistence && r->disk->persistence->id &&
		       reserved_find_volume(d->reserved, r->disk->persistence->id, host, len);
	char text[1024];
	reserved_labels_text(r, text, sizeof(text));
	return r->reservation && reserved_find_labels(d->reserved, text, host, len);
}

enum hostmgr_ops_result hostmgr__raw_op(struct hostmgr *d, int type,
                                        Mesos__V1__Resource *const *res, size_t n, char *err,
                                        size_t el)
{
	char host[256] = "", h[256];
	if (n == 0 || n > 16)
		return snprintf(err, el, "1 to 16 resources are required"), HOSTMGR_OPS_BAD_ARG;
	for (size_t i = 0; i < n; i++) {
		if (!raw_host(d, type, res[i], h, sizeof(h)))
			return snprintf(
			           err, el,
			           type == PELOTON__PRIVATE__HOSTMGR__HOSTSVC__OFFER_OPERATION__TYPE__RESERVE
			               ? "resource %zu: a reservation label hostname=<host> names "
			                 "the host to reserve on"
			               : "resource %zu: no host offers it now (unknown volume or "
			                 "labels, or in use)",
			           i),
			       HOSTMGR_OPS_BAD_ARG;
		if (host[0] && strcmp(host, h) != 0)
			return snprintf(err, el, "the resources are on more than one host (%s, %s)",
			                host, h),
			       HOSTMGR_OPS_BAD_ARG;
		snprintf(host, sizeof(host), "%s", h);
	}
	/* as Peloton operations on that host */
	hs_op p[16];
	const hs_op *pp[16];
	Peloton__Private__Hostmgr__Hostsvc__OfferOperation__Reserve rv =
	    PELOTON__PRIVATE__HOSTMGR__HOSTSVC__OFFER_OPERATION__RESERVE__INIT;
	Peloton__Private__Hostmgr__Hostsvc__OfferOperation__Create cr[16];
	Peloton__Private__Hostmgr__Hostsvc__OfferOperation__Destroy ds[16];
	Peloton__Private__Hostmgr__Hostsvc__OfferOperation__Unreserve ur[16];
	Peloton__Private__Hostmgr__Hostsvc__Volume vo[16];
	Peloton__Api__Peloton__VolumeID vid[16];
	char labels[16][1024];
	size_t np = 0;
	for (size_t i = 0; i < n; i++) {
		Peloton__Private__Hostmgr__Hostsvc__OfferOperation__Type t =
		    (Peloton__Private__Hostmgr__Hostsvc__OfferOperation__Type)type;
		peloton__private__hostmgr__hostsvc__offer_operation__init(&p[np]);
		p[np].type = t;
		const Mesos__V1__Resource *r = res[i];
		if (t == PELOTON__PRIVATE__HOSTMGR__HOSTSVC__OFFER_OPERATION__TYPE__RESERVE) {
			if (i > 0)
				continue; /* one RESERVE with every resource */
			rv.n_resources = n;
			rv.resources = (Mesos__V1__Resource **)res;
			p[np].reserve = &rv;
		} else if (t == PELOTON__PRIVATE__HOSTMGR__HOSTSVC__OFFER_OPERATION__TYPE__CREATE) {
			if (!r->disk || !r->disk->persistence || !r->disk->persistence->id ||
			    !r->disk->volume)
				return snprintf(
				           err, el,
				           "resource %zu: a volume needs disk.persistence.id and "
				           "disk.volume",
				           i),
				       HOSTMGR_OPS_BAD_ARG;
			peloton__private__hostmgr__hostsvc__offer_operation__create__init(&cr[i]);
			peloton__private__hostmgr__hostsvc__volume__init(&vo[i]);
			peloton__api__peloton__volume_id__init(&vid[i]);
			vid[i].value = r->disk->persistence->id;
			vo[i].id = &vid[i];
			vo[i].containerpath = r->disk->volume->container_path;
			vo[i].resource = (Mesos__V1__Resource *)r;
			cr[i].volume = &vo[i];
			p[np].create = &cr[i];
			p[np].reservationlabels = r->reservation ? r->reservation->labels : NULL;
		} else if (t ==
		           PELOTON__PRIVATE__HOSTMGR__HOSTSVC__OFFER_OPERATION__TYPE__DESTROY) {
			peloton__private__hostmgr__hostsvc__offer_operation__destroy__init(&ds[i]);
			ds[i].volumeid = r->disk->persistence->id;
			p[np].destroy = &ds[i];
		} else {
			peloton__private__hostmgr__hostsvc__offer_operation__unreserve__init(
			    &ur[i]);
			reserved_labels_text(r, labels[i], sizeof(labels[i]));
			ur[i].label = labels[i];
			p[np].unreserve = &ur[i];
		}
		pp[np] = &p[np];
		np++;
	}
	return hostmgr__offer_ops(d, host, pp, np, err, el);
}

int hostmgr__shutdown_executors(struct hostmgr *d,
                                Peloton__Private__Hostmgr__Hostsvc__ExecutorOnAgent *const *ex,
                                size_t n, size_t *bad, size_t *failed)
{
	*bad = *failed = 0;
	for (size_t i = 0; i < n; i++)
		if (!ex[i]->executorid || !ex[i]->executorid->value ||
		    !ex[i]->executorid->value[0] || !ex[i]->agentid || !ex[i]->agentid->value ||
		    !ex[i]->agentid->value[0])
			(*bad)++;
	if (*bad || n == 0)
		return -1; /* nothing sent */
	for (size_t i = 0; i < n; i++) {
		Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
		Mesos__V1__Scheduler__Call__Shutdown sd =
		    MESOS__V1__SCHEDULER__CALL__SHUTDOWN__INIT;
		sd.executor_id = ex[i]->executorid;
		sd.agent_id = ex[i]->agentid;
		call.has_type = true;
		call.type = MESOS__V1__SCHEDULER__CALL__TYPE__SHUTDOWN;
		call.shutdown = &sd;
		*failed += d->mc == NULL || mesos_client_call(d->mc, &call) != 0;
	}
	return *failed ? -1 : 0;
}
