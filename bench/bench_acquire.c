/*
 * bench_acquire: AcquireHostOffers + ReleaseHostOffers throughput.
 *
 * One op = one acquire call with a filter (maxHosts = max_hosts) followed by
 * the release of every host it granted. p50/p99 are of the acquire call
 * alone; hosts_examined_per_op counts hosts looked at per acquire.
 *
 * Data (fixed by --seed): `hosts` hosts of 16-96 cpus and 64-768 GB, 5%
 * with GPUs, attributes rack (40), zone (3), sku (4); about 80% allocated
 * and fragmented so that about 1 host in 10 fits the typical filter (the
 * measured fraction is printed as fit_ratio). 16 filters of mixed shapes
 * (1-8 cpus, 2-32 GB, some with ports, one with a GPU), a third with a
 * HOST constraint, used round-robin.
 *
 * Implementations, same data, same filters, run in alternation:
 *   fast:     src/hot/hostidx (RCU snapshots, size-class buckets, CAS claim)
 *   baseline: modelled on upstream Peloton's offer pool: host summaries
 *             behind one global pthread mutex, in a hash map scanned in map
 *             order from a random start until max_hosts hosts match.
 * Cases: hosts in {10000, 50000} x max_hosts in {1, 10, 100} x threads
 * (acquiring) in {1, 2} x churn in {0, 10000} offer events/s from a writer
 * thread (each event: rescind a host's offer, add a new one).
 *
 * Edge lines ("edge,hosts=...,max_hosts=1|10"): one op = decode an
 * AcquireHostOffersRequest (proto_decode), src/svc/hostsvc acquire, encode
 * the AcquireHostOffersResponse; p50/p99 cover those three; the hosts are
 * then released through ReleaseHostOffers. These lines have no baseline
 * (upstream's RPC edge is Go/YARPC, not modelled), hence no ratio.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <urcu.h>

#include "bench_cluster.h"
#include "bench_util.h"
#include "hostidx.h"
#include "hostfilter.h"
#include "hostsvc.h"
#include "proto_codec.h"

#define MAX_THREADS 2
#define N_FILTERS 16
#define LEASE_CAP 128

static struct bench_host *specs;
static size_t n_specs;
static struct hostmatch_filter filters[N_FILTERS];
static struct hostmatch_node nodes[N_FILTERS];

static void gen_free(struct bench_host *h, uint64_t *s)
{
	bench_host_gen(h, s, false);
}

static void gen_hosts(size_t n, uint64_t seed)
{
	specs = bench_cluster_gen(n, seed, false);
	n_specs = n;
}

static void gen_filters(void)
{
	static const double shapes[][3] = {{1, 2048, 0},  {2, 4096, 2}, {4, 16384, 0},
	                                   {8, 32768, 4}, {4, 8192, 1}, {2, 8192, 0},
	                                   {1, 4096, 0},  {6, 24576, 2}};
	static const char *const labels[] = {"zone=zone-1", "rack=rack-3", "sku=sku-2"};
	for (int i = 0; i < N_FILTERS; i++) {
		const double *sh = shapes[i % 8];
		filters[i] = (struct hostmatch_filter){.min = {sh[0], sh[1], 100, i == 5 ? 1 : 0},
		                                       .num_ports = (uint32_t)sh[2]};
		if (i % 3 == 0) {
			const char *t = labels[(i / 3) % 3];
			nodes[i] = (struct hostmatch_node){
			    .kind = HOSTMATCH_NODE_LABEL,
			    .host_kind = true,
			    .condition = i % 2 ? HOSTMATCH_LESS_THAN : HOSTMATCH_GREATER_THAN,
			    .requirement = i % 2 ? 1 : 0,
			    .label = {hostmatch_label_hash(t), t},
			};
			filters[i].constraint = &nodes[i];
		}
	}
}

/* --- baseline: upstream-style offer pool ----------------------------------- */

struct base_host {
	struct hostmatch_host view;
	struct bench_host *spec;
	int placing;
};

struct baseline {
	pthread_mutex_t mu;
	struct base_host **slots; /* open addressing by hostname hash */
	size_t n_slots;
};

static struct baseline base;

static void base_build(void)
{
	base.n_slots = 1;
	while (base.n_slots < n_specs * 2)
		base.n_slots <<= 1;
	base.slots = calloc(base.n_slots, sizeof(*base.slots));
	pthread_mutex_init(&base.mu, NULL);
	for (size_t i = 0; i < n_specs; i++) {
		struct base_host *b = calloc(1, sizeof(*b));
		b->spec = &specs[i];
		b->view =
		    (struct hostmatch_host){specs[i].free, specs[i].ports, 4, specs[i].labels};
		size_t k = hostmatch_label_hash(specs[i].name) & (base.n_slots - 1);
		while (base.slots[k] != NULL)
			k = (k + 1) & (base.n_slots - 1);
		base.slots[k] = b;
	}
}

static uint32_t base_acquire(const struct hostmatch_filter *f, uint32_t max, struct base_host **got,
                             uint64_t *rs, uint32_t *examined)
{
	uint32_t n = 0;
	size_t start = bench_rng(rs) & (base.n_slots - 1);

	pthread_mutex_lock(&base.mu);
	for (size_t i = 0; i < base.n_slots && n < max; i++) {
		struct base_host *b = base.slots[(start + i) & (base.n_slots - 1)];
		if (b == NULL)
			continue;
		(*examined)++;
		if (!b->placing && hostmatch_check(f, &b->view) == HOSTMATCH_MATCH) {
			b->placing = 1;
			got[n++] = b;
		}
	}
	pthread_mutex_unlock(&base.mu);
	return n;
}

static void base_release(struct base_host **got, uint32_t n)
{
	pthread_mutex_lock(&base.mu);
	for (uint32_t i = 0; i < n; i++)
		got[i]->placing = 0;
	pthread_mutex_unlock(&base.mu);
}

/* --- fast: the host index ---------------------------------------------------- */

static struct hostidx *idx;
static uint64_t offer_seq;

static void fast_offer(struct bench_host *h, uint64_t recv)
{
	const char *attrs[3] = {h->texts[1], h->texts[2], h->texts[3]};
	struct hostidx_range r = {31000, 31000 + (h->ports ? h->ports - 1 : 0)};
	snprintf(h->offer_id, sizeof(h->offer_id), "%s-%llu", h->name,
	         (unsigned long long)offer_seq++);
	struct hostidx_offer_in o = {
	    .offer_id = h->offer_id,
	    .hostname = h->name,
	    .agent_id = h->name,
	    .res = h->free,
	    .n_ranges = h->ports ? 1 : 0,
	    .ranges = &r,
	    .n_attrs = 3,
	    .attrs = attrs,
	    .recv_ns = recv,
	};
	if (hostidx_add_offers(idx, &o, 1) != 0) {
		fprintf(stderr, "bench_acquire: add_offers failed\n");
		exit(1);
	}
}

static void fast_build(void)
{
	idx = hostidx_create(NULL);
	for (size_t i = 0; i < n_specs; i++)
		fast_offer(&specs[i], i);
}

/* --- runner -------------------------------------------------------------------- */

struct run_cfg {
	bool fast;
	uint32_t max_hosts;
	int threads;
	uint32_t churn; /* offer events per second */
	double secs;
};

struct worker {
	const struct run_cfg *cfg;
	int id;
	struct bench_samples s;
	uint64_t examined, granted;
};

static _Atomic int go, stop_flag;

static void *acquirer(void *arg)
{
	struct worker *w = arg;
	const struct run_cfg *c = w->cfg;
	struct hostidx_lease leases[LEASE_CAP];
	struct base_host *got[LEASE_CAP];
	uint64_t rs = 0x9e3779b97f4a7c15ull * (uint64_t)(w->id + 1);
	uint32_t fi = (uint32_t)w->id * 5;

	rcu_register_thread();
	while (!atomic_load(&go))
		;
	while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
		const struct hostmatch_filter *f = &filters[fi++ % N_FILTERS];
		uint64_t t0 = bench_now_ns(), t1;
		if (c->fast) {
			struct hostidx_acquire_out out = {.leases = leases, .cap = LEASE_CAP};
			const char *why;
			hostidx_acquire(idx, f, c->max_hosts, HOSTIDX_PACK, t0, &out, &why);
			t1 = bench_now_ns();
			for (uint32_t i = 0; i < out.n; i++)
				hostidx_release(idx, &leases[i]);
			w->examined += out.examined;
			w->granted += out.n;
		} else {
			uint32_t ex = 0;
			uint32_t n = base_acquire(f, c->max_hosts, got, &rs, &ex);
			t1 = bench_now_ns();
			base_release(got, n);
			w->examined += ex;
			w->granted += n;
		}
		bench_samples_add(&w->s, t1 - t0);
		w->s.ops++;
	}
	rcu_unregister_thread();
	return NULL;
}

/* Offer churn: `churn` events/s, each replacing one host's offer. */
static void *churner(void *arg)
{
	const struct run_cfg *c = arg;
	uint64_t rs = 12345, done = 0, t0;

	rcu_register_thread();
	while (!atomic_load(&go))
		;
	t0 = bench_now_ns();
	while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
		uint64_t due = (bench_now_ns() - t0) * c->churn / 1000000000ull;
		for (; done < due; done++) {
			size_t i = bench_rng(&rs) % n_specs;
			struct bench_host *h = &specs[i];
			gen_free(h, &rs);
			h->free.gpus = i % 20 == 7 ? 4 : 0;
			if (c->fast) {
				hostidx_rescind(idx, h->offer_id);
				fast_offer(h, done);
			} else {
				pthread_mutex_lock(&base.mu);
				size_t k = hostmatch_label_hash(h->name) & (base.n_slots - 1);
				while (base.slots[k]->spec != h)
					k = (k + 1) & (base.n_slots - 1);
				base.slots[k]->view.free = h->free;
				base.slots[k]->view.n_ports = h->ports;
				pthread_mutex_unlock(&base.mu);
			}
		}
		struct timespec ts = {0, 200000};
		nanosleep(&ts, NULL);
	}
	rcu_unregister_thread();
	return NULL;
}

struct rep {
	struct bench_result r;
	double examined_per_op, granted_per_op;
};

static struct rep run_once(const struct run_cfg *c)
{
	struct worker w[MAX_THREADS];
	pthread_t th[MAX_THREADS], ch;
	struct bench_samples all;
	struct rep out = {0};

	atomic_store(&go, 0);
	atomic_store(&stop_flag, 0);
	for (int i = 0; i < c->threads; i++) {
		w[i] = (struct worker){.cfg = c, .id = i};
		bench_samples_init(&w[i].s, 1u << 22);
		pthread_create(&th[i], NULL, acquirer, &w[i]);
	}
	if (c->churn)
		pthread_create(&ch, NULL, churner, (void *)c);
	uint64_t t0 = bench_now_ns();
	atomic_store(&go, 1);
	struct timespec d = {(time_t)c->secs, (long)((c->secs - (time_t)c->secs) * 1e9)};
	nanosleep(&d, NULL);
	atomic_store(&stop_flag, 1);
	for (int i = 0; i < c->threads; i++)
		pthread_join(th[i], NULL);
	uint64_t elapsed = bench_now_ns() - t0;
	if (c->churn)
		pthread_join(ch, NULL);

	bench_samples_init(&all, (size_t)c->threads << 22);
	uint64_t ex = 0, gr = 0;
	for (int i = 0; i < c->threads; i++) {
		for (size_t k = 0; k < w[i].s.n; k++)
			bench_samples_add(&all, w[i].s.ns[k]);
		all.ops += w[i].s.ops;
		ex += w[i].examined;
		gr += w[i].granted;
		bench_samples_fini(&w[i].s);
	}
	all.elapsed_ns = elapsed;
	out.r = bench_summarise(&all);
	out.examined_per_op = all.ops ? (double)ex / (double)all.ops : 0;
	out.granted_per_op = all.ops ? (double)gr / (double)all.ops : 0;
	bench_samples_fini(&all);
	return out;
}

static int cmp_rep(const void *a, const void *b)
{
	double x = ((const struct rep *)a)->r.ops_per_s, y = ((const struct rep *)b)->r.ops_per_s;
	return x < y ? -1 : x > y;
}

static double fit_ratio(const struct hostmatch_filter *f)
{
	size_t fit = 0;
	for (size_t i = 0; i < n_specs; i++) {
		struct hostmatch_host v = {specs[i].free, specs[i].ports, 4, specs[i].labels};
		fit += hostmatch_check(f, &v) == HOSTMATCH_MATCH;
	}
	return (double)fit / (double)n_specs;
}

/* --- the protobuf edge ----------------------------------------------------- */

/* Encodes filters[i] as an AcquireHostOffersRequest with maxHosts = max. */
static uint8_t *edge_request(const struct hostmatch_filter *f, uint32_t max, size_t *len)
{
	hostsvc_acquire_req req =
	    PELOTON__PRIVATE__HOSTMGR__HOSTSVC__ACQUIRE_HOST_OFFERS_REQUEST__INIT;
	hostfilter_pb filter = PELOTON__PRIVATE__HOSTMGR__HOSTSVC__HOST_FILTER__INIT;
	Peloton__Private__Hostmgr__Hostsvc__ResourceConstraint rc =
	    PELOTON__PRIVATE__HOSTMGR__HOSTSVC__RESOURCE_CONSTRAINT__INIT;
	Peloton__Private__Hostmgr__Hostsvc__QuantityControl q =
	    PELOTON__PRIVATE__HOSTMGR__HOSTSVC__QUANTITY_CONTROL__INIT;
	Peloton__Api__Task__ResourceConfig min = PELOTON__API__TASK__RESOURCE_CONFIG__INIT;
	Peloton__Api__Task__Constraint c = PELOTON__API__TASK__CONSTRAINT__INIT;
	Peloton__Api__Task__LabelConstraint lc = PELOTON__API__TASK__LABEL_CONSTRAINT__INIT;
	Peloton__Api__Peloton__Label label = PELOTON__API__PELOTON__LABEL__INIT;
	char key[48];

	min.cpulimit = f->min.cpus;
	min.memlimitmb = f->min.mem_mb;
	min.disklimitmb = f->min.disk_mb;
	min.gpulimit = f->min.gpus;
	rc.minimum = &min;
	rc.numports = f->num_ports;
	q.maxhosts = max;
	filter.resourceconstraint = &rc;
	filter.quantity = &q;
	if (f->constraint != NULL) {
		const char *eq = strchr(f->constraint->label.text, '=');
		snprintf(key, sizeof(key), "%.*s", (int)(eq - f->constraint->label.text),
		         f->constraint->label.text);
		label.key = key;
		label.value = (char *)eq + 1;
		lc.kind = PELOTON__API__TASK__LABEL_CONSTRAINT__KIND__HOST;
		lc.condition =
		    (Peloton__Api__Task__LabelConstraint__Condition)f->constraint->condition;
		lc.requirement = f->constraint->requirement;
		lc.label = &label;
		c.type = PELOTON__API__TASK__CONSTRAINT__TYPE__LABEL_CONSTRAINT;
		c.labelconstraint = &lc;
		filter.schedulingconstraint = &c;
	}
	req.filter = &filter;
	*len = protobuf_c_message_get_packed_size(&req.base);
	uint8_t *buf = malloc(*len);
	protobuf_c_message_pack(&req.base, buf);
	return buf;
}

/*
 * One op: decode the request bytes (proto_decode), hostsvc_acquire, encode
 * the response, release the hosts through ReleaseHostOffers. One thread.
 */
static struct rep run_edge(uint32_t max, double secs)
{
	struct hostsvc *svc = hostsvc_create(idx, HOSTIDX_PACK);
	uint8_t *reqs[N_FILTERS], out[1 << 16];
	size_t lens[N_FILTERS];
	struct bench_samples s;
	uint64_t granted = 0;
	struct rep res = {0};

	for (int i = 0; i < N_FILTERS; i++)
		reqs[i] = edge_request(&filters[i], max, &lens[i]);
	bench_samples_init(&s, 1u << 22);
	uint64_t t0 = bench_now_ns(), end = t0 + (uint64_t)(secs * 1e9);
	for (uint32_t i = 0;; i++) {
		uint64_t a = bench_now_ns();
		if (a >= end)
			break;
		const char *why;
		ProtobufCMessage *m = proto_decode(
		    &peloton__private__hostmgr__hostsvc__acquire_host_offers_request__descriptor,
		    reqs[i % N_FILTERS], lens[i % N_FILTERS], NULL, &why);
		hostsvc_acquire_resp *r = hostsvc_acquire(svc, (hostsvc_acquire_req *)m, a);
		if (r == NULL || protobuf_c_message_get_packed_size(&r->base) > sizeof(out)) {
			fprintf(stderr, "bench_acquire: edge acquire failed\n");
			exit(1);
		}
		protobuf_c_message_pack(&r->base, out);
		bench_samples_add(&s, bench_now_ns() - a);
		hostsvc_release_req rel =
		    PELOTON__PRIVATE__HOSTMGR__HOSTSVC__RELEASE_HOST_OFFERS_REQUEST__INIT;
		rel.n_hostoffers = r->n_hostoffers;
		rel.hostoffers = r->hostoffers;
		granted += r->n_hostoffers;
		hostsvc_release_resp *rr = hostsvc_release(svc, &rel, NULL);
		protobuf_c_message_free_unpacked(&rr->base, NULL);
		protobuf_c_message_free_unpacked(&r->base, NULL);
		protobuf_c_message_free_unpacked(m, NULL);
		s.ops++;
	}
	s.elapsed_ns = bench_now_ns() - t0;
	res.r = bench_summarise(&s);
	res.granted_per_op = s.ops ? (double)granted / (double)s.ops : 0;
	bench_samples_fini(&s);
	for (int i = 0; i < N_FILTERS; i++)
		free(reqs[i]);
	hostsvc_destroy(svc);
	return res;
}

static void edge_cases(const struct bench_opts *o, size_t hosts)
{
	static const uint32_t maxes[] = {1, 10};
	for (int mi = 0; mi < 2; mi++) {
		struct rep reps[100];
		char cname[96], extra[160];
		snprintf(cname, sizeof(cname), "edge,hosts=%zu,max_hosts=%u,threads=1,churn=0",
		         hosts, maxes[mi]);
		if (!bench_selected(o, cname))
			continue;
		for (unsigned r = 0; r < o->reps; r++)
			reps[r] = run_edge(maxes[mi], o->min_secs);
		qsort(reps, o->reps, sizeof(reps[0]), cmp_rep);
		snprintf(extra, sizeof(extra),
		         "\"hosts\":%zu,\"max_hosts\":%u,\"threads\":1,\"churn\":0,"
		         "\"hosts_granted_per_op\":%.2f",
		         hosts, maxes[mi], reps[o->reps / 2].granted_per_op);
		/* no baseline: upstream's edge (Go, YARPC) is not modelled here */
		bench_print("bench_acquire", cname, "fast", extra, &reps[o->reps / 2].r, -1);
	}
}

int main(int argc, char **argv)
{
	static const char help[] =
	    "One op: one AcquireHostOffers call (in-process) with maxHosts=max_hosts,\n"
	    "then the release of every host granted. p50/p99: the acquire call alone.\n"
	    "fast = src/hot/hostidx; baseline = upstream-style pool (one global mutex,\n"
	    "hash map scanned from a random start until max_hosts match).\n"
	    "Cases: hosts {10000,50000} x max_hosts {1,10,100} x threads {1,2} x\n"
	    "churn {0,10000} offer events/s.";
	static const size_t host_counts[] = {10000, 50000};
	static const uint32_t maxes[] = {1, 10, 100};
	struct bench_opts o;

	bench_parse(argc, argv, help, &o);
	rcu_register_thread();
	gen_filters();
	for (size_t hc = 0; hc < 2; hc++) {
		size_t hosts = o.quick ? host_counts[hc] / 10 : host_counts[hc];
		gen_hosts(hosts, o.seed);
		fprintf(stderr, "hosts=%zu: typical filter (4 cpus, 16 GB) fits %.3f of hosts\n",
		        hosts, fit_ratio(&filters[2]));
		fast_build();
		base_build();
		for (size_t mi = 0; mi < 3; mi++)
			for (int threads = 1; threads <= MAX_THREADS; threads++)
				for (int churn = 0; churn <= 1; churn++) {
					struct rep fr[100], br[100];
					char cname[96], extra[256];
					snprintf(cname, sizeof(cname),
					         "hosts=%zu,max_hosts=%u,threads=%d,churn=%d",
					         hosts, maxes[mi], threads, churn ? 10000 : 0);
					if (!bench_selected(&o, cname))
						continue;
					for (unsigned r = 0; r < o.reps; r++) {
						struct run_cfg c = {false, maxes[mi], threads,
						                    churn ? 10000 : 0, o.min_secs};
						bool want_b = !o.impl || o.impl[0] == 'b';
						bool want_f = !o.impl || o.impl[0] == 'f';
						br[r] = want_b ? run_once(&c) : (struct rep){0};
						c.fast = true;
						fr[r] = want_f ? run_once(&c) : (struct rep){0};
					}
					qsort(br, o.reps, sizeof(br[0]), cmp_rep);
					qsort(fr, o.reps, sizeof(fr[0]), cmp_rep);
					struct rep *b = &br[o.reps / 2], *f = &fr[o.reps / 2];
					for (int k = 0; k < 2; k++) {
						struct rep *x = k ? f : b;
						if (o.impl && o.impl[0] != (k ? 'f' : 'b'))
							continue;
						snprintf(
						    extra, sizeof(extra),
						    "\"hosts\":%zu,\"max_hosts\":%u,\"threads\":%d,"
						    "\"churn\":%d,\"hosts_examined_per_op\":%.2f,"
						    "\"hosts_granted_per_op\":%.2f",
						    hosts, maxes[mi], threads, churn ? 10000 : 0,
						    x->examined_per_op, x->granted_per_op);
						bench_print("bench_acquire", cname,
						            k ? "fast" : "baseline", extra, &x->r,
						            k && !o.impl
						                ? f->r.ops_per_s / b->r.ops_per_s
						                : -1);
					}
				}
		edge_cases(&o, hosts);
		hostidx_destroy(idx);
		for (size_t i = 0; i < base.n_slots; i++)
			free(base.slots[i]);
		free(base.slots);
		free(specs);
	}
	rcu_unregister_thread();
	return 0;
}
