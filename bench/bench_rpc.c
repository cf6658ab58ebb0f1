/*
 * bench_rpc: unary calls per second and their latency against a running
 * pelotond (spawned here, with mesos-sim), clients on loopback.
 *
 * Cases: method x connections (1, 16, 64). Each connection (its own gRPC
 * channel or curl handle) has one op in flight, the next starting as soon
 * as one completes (closed loop); the connections are spread over
 * --client-threads event loops (default 2: a gRPC completion queue, or a
 * curl multi handle, each), so the client spends its CPU on calls rather
 * than on scheduling one thread per connection.
 *   method=GetJob             one op = JobManager.Get of an existing job
 *   method=AcquireHostOffers  one op = AcquireHostOffers (1 host, 1 cpu)
 *                             followed by ReleaseHostOffers of what came
 *                             back: two RPCs, latency of the pair
 * impl=fast is gRPC (protobuf over HTTP/2, the C core on both sides);
 * impl=baseline is the same call over HTTP/1.1 POST /api/v1 with JSON
 * (keep-alive), the daemon's other transport. Median of --reps runs.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "bench_util.h"
#include "grpccli.h"
#include "grpcinit.h"
#include "peloton/api/job/job.pb-c.h"
#include "peloton/private/hostmgr/hostsvc/hostsvc.pb-c.h"
#include "pjson.h"
#include "proto_codec.h"
#include "rpc.h"

static struct {
	double secs;
	unsigned reps;
	unsigned client_threads;
	const char *only;
	bool quick;
} o = {2.0, 3, 2, NULL, false};

static char job_id[64];
static char grpc_addr[64], http_url[96];
static _Atomic bool go, stop_flag;
static _Atomic unsigned warm; /* drivers whose connections are up */

enum method { M_GET, M_ACQ };

static const char ACQ_JSON[] = "{\"filter\":{\"resourceConstraint\":{\"minimum\":{\"cpuLimit\":1,"
                               "\"memLimitMb\":100}},\"quantity\":{\"maxHosts\":1}}}";
static char get_json[128];
static uint8_t *get_req, *acq_req;
static size_t get_len, acq_len;

#define P_GET "/peloton.api.job.JobManager/Get"
#define P_ACQ "/peloton.private.hostmgr.hostsvc.InternalHostService/AcquireHostOffers"
#define P_REL "/peloton.private.hostmgr.hostsvc.InternalHostService/ReleaseHostOffers"

/*
 * A client thread drives its share of the connections from one event loop,
 * each connection with one op in flight (closed loop): a completed op is
 * recorded and the next one starts on the same connection at once.
 */
struct driver {
	pthread_t th;
	enum method m;
	unsigned first, n; /* its connections */
	struct bench_samples lat;
	bool failed;
};

/*
 * An op of a connection ended (r: 1 done, -1 failed) in round 0 (warm-up) or
 * 1 (measured): records it; true when the connection starts the next.
 */
static bool op_done(struct driver *d, int round, int r, uint64_t t0)
{
	if (r < 0)
		d->failed = true;
	bool more = round == 1 && !d->failed && !atomic_load(&stop_flag);
	if (r > 0 && more) {
		bench_samples_add(&d->lat, bench_now_ns() - t0);
		d->lat.ops++;
	}
	return more;
}

/* ---- gRPC: channels sharing the driver's completion queue ---- */

struct gconn {
	grpc_channel *ch;
	void *h_get, *h_acq, *h_rel; /* registered paths (per channel) */
	grpc_call *call;
	grpc_byte_buffer *send, *recv;
	uint8_t *rel_req; /* the pair's release request */
	grpc_metadata_array imd, tmd;
	grpc_status_code code;
	grpc_slice details;
	uint64_t t0;
	bool releasing; /* the pair's second call is in flight */
};

static bool g_start(grpc_completion_queue *cq, struct gconn *c, void *h, const uint8_t *req,
                    size_t len)
{
	gpr_timespec dl =
	    gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(10000, GPR_TIMESPAN));
	c->call = grpc_channel_create_registered_call(c->ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, h,
	                                              dl, NULL);
	grpc_slice body = grpc_slice_from_static_buffer(req, len);
	c->send = grpc_raw_byte_buffer_create(&body, 1);
	c->recv = NULL;
	grpc_metadata_array_init(&c->imd);
	grpc_metadata_array_init(&c->tmd);
	c->code = GRPC_STATUS_UNKNOWN;
	c->details = grpc_empty_slice();
	grpc_op ops[6];
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = c->send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &c->imd;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &c->recv;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &c->tmd;
	ops[5].data.recv_status_on_client.status = &c->code;
	ops[5].data.recv_status_on_client.status_details = &c->details;
	return grpc_call_start_batch(c->call, ops, 6, c, NULL) == GRPC_CALL_OK;
}

static void g_finish(struct gconn *c)
{
	if (c->recv)
		grpc_byte_buffer_destroy(c->recv);
	grpc_byte_buffer_destroy(c->send);
	grpc_slice_unref(c->details);
	grpc_metadata_array_destroy(&c->imd);
	grpc_metadata_array_destroy(&c->tmd);
	grpc_call_unref(c->call);
	c->call = NULL;
	c->recv = c->send = NULL;
}

static bool g_begin(grpc_completion_queue *cq, struct gconn *c, enum method m)
{
	c->t0 = bench_now_ns();
	c->releasing = false;
	return m == M_GET ? g_start(cq, c, c->h_get, get_req, get_len)
	                  : g_start(cq, c, c->h_acq, acq_req, acq_len);
}

/* A call of c completed: -1 failed, 0 the op goes on (release started), 1 op done. */
static int g_step(grpc_completion_queue *cq, struct gconn *c, enum method m, bool success)
{
	bool ok = success && c->code == GRPC_STATUS_OK;
	if (!ok || m == M_GET || c->releasing) {
		g_finish(c);
		free(c->rel_req);
		c->rel_req = NULL;
		return ok ? 1 : -1;
	}
	/* the acquire answered: release what it granted */
	Peloton__Private__Hostmgr__Hostsvc__AcquireHostOffersResponse *a = NULL;
	grpc_byte_buffer_reader rd;
	if (c->recv && grpc_byte_buffer_reader_init(&rd, c->recv)) {
		grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
		grpc_byte_buffer_reader_destroy(&rd);
		a = (void *)proto_decode(
		    &peloton__private__hostmgr__hostsvc__acquire_host_offers_response__descriptor,
		    GRPC_SLICE_START_PTR(all), GRPC_SLICE_LENGTH(all), NULL, NULL);
		grpc_slice_unref(all);
	}
	g_finish(c);
	if (!a)
		return -1;
	Peloton__Private__Hostmgr__Hostsvc__ReleaseHostOffersRequest r =
	    PELOTON__PRIVATE__HOSTMGR__HOSTSVC__RELEASE_HOST_OFFERS_REQUEST__INIT;
	r.n_hostoffers = a->n_hostoffers;
	r.hostoffers = a->hostoffers;
	size_t len;
	c->rel_req = proto_pack_alloc(&r.base, &len);
	protobuf_c_message_free_unpacked(&a->base, NULL);
	c->releasing = true;
	return c->rel_req && g_start(cq, c, c->h_rel, c->rel_req, len) ? 0 : -1;
}

static void *g_driver(void *arg)
{
	struct driver *d = arg;
	grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
	struct gconn *cs = calloc(d->n, sizeof(*cs));
	grpc_channel_credentials *cr = grpc_insecure_credentials_create();
	/* a connection per channel (no subchannel sharing between them) */
	grpc_channel_args ca = {grpccli_n_args, (grpc_arg *)grpccli_args};
	for (unsigned i = 0; i < d->n; i++) {
		cs[i].ch = grpc_channel_create(grpc_addr, cr, &ca);
		cs[i].h_get = grpc_channel_register_call(cs[i].ch, P_GET, NULL, NULL);
		cs[i].h_acq = grpc_channel_register_call(cs[i].ch, P_ACQ, NULL, NULL);
		cs[i].h_rel = grpc_channel_register_call(cs[i].ch, P_REL, NULL, NULL);
	}
	grpc_channel_credentials_release(cr);
	/* round 0 warms every connection up (not measured); round 1 is the run */
	for (int round = 0; round < 2 && !d->failed; round++) {
		if (round == 1)
			while (!atomic_load(&go))
				usleep(100);
		unsigned busy = 0;
		for (unsigned i = 0; i < d->n; i++)
			busy += g_begin(cq, &cs[i], d->m) ? 1 : (d->failed = true, 0);
		while (busy > 0) {
			grpc_event ev = grpc_completion_queue_next(
			    cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
			if (ev.type != GRPC_OP_COMPLETE)
				continue;
			struct gconn *c = ev.tag;
			int r = g_step(cq, c, d->m, ev.success);
			if (r == 0)
				continue;
			if (!op_done(d, round, r, c->t0) || !g_begin(cq, c, d->m))
				busy--;
		}
		if (round == 0)
			atomic_fetch_add(&warm, 1);
	}
	for (unsigned i = 0; i < d->n; i++)
		grpc_channel_destroy(cs[i].ch);
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
	       GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
	free(cs);
	return NULL;
}

/* ---- HTTP/JSON: easy handles on the driver's curl multi handle ---- */

struct buf {
	char *p;
	size_t n;
};
static size_t acc(char *p, size_t sz, size_t n, void *arg)
{
	struct buf *b = arg;
	char *np = realloc(b->p, b->n + sz * n + 1);
	if (!np)
		return 0;
	memcpy(np + b->n, p, sz * n);
	b->p = np;
	b->n += sz * n;
	b->p[b->n] = 0;
	return sz * n;
}

static struct curl_slist *h_get, *h_acq, *h_rel;

static struct curl_slist *rpc_headers(const char *proc)
{
	char hdr[128];
	snprintf(hdr, sizeof(hdr), "Rpc-Procedure: %s", proc);
	struct curl_slist *h = curl_slist_append(NULL, hdr);
	h = curl_slist_append(h, "Rpc-Encoding: json");
	return curl_slist_append(h, "Content-Type: application/json");
}

struct hconn {
	CURL *e;
	struct buf b;
	char *rel_body;
	uint64_t t0;
	bool releasing;
};

static void h_prepare(struct hconn *c, struct curl_slist *h, const char *body)
{
	c->b.n = 0;
	curl_easy_setopt(c->e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c->e, CURLOPT_POSTFIELDS, body);
}

static void h_begin(CURLM *m, struct hconn *c, enum method meth)
{
	c->t0 = bench_now_ns();
	c->releasing = false;
	if (meth == M_GET)
		h_prepare(c, h_get, get_json);
	else
		h_prepare(c, h_acq, ACQ_JSON);
	curl_multi_add_handle(m, c->e);
}

/* Blocking one call (setup): true on 200. */
static bool http_call(CURL *c, const char *proc, const char *body, struct buf *out)
{
	struct curl_slist *h = rpc_headers(proc);
	out->n = 0;
	curl_easy_setopt(c, CURLOPT_URL, http_url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, acc);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	CURLcode rc = curl_easy_perform(c);
	long code = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(h);
	return rc == CURLE_OK && code == 200;
}

/* A transfer of c completed (removed from m): like g_step. */
static int h_step(CURLM *m, struct hconn *c, enum method meth, CURLcode rc)
{
	long code = 0;
	curl_easy_getinfo(c->e, CURLINFO_RESPONSE_CODE, &code);
	bool ok = rc == CURLE_OK && code == 200;
	if (!ok || meth == M_GET || c->releasing) {
		free(c->rel_body);
		c->rel_body = NULL;
		return ok ? 1 : -1;
	}
	json_t *j = json_loadb(c->b.p, c->b.n, 0, NULL);
	json_t *rel =
	    json_pack("{s:O}", "hostOffers", json_object_get(j, "hostOffers") ?: json_array());
	c->rel_body = json_dumps(rel, JSON_COMPACT);
	json_decref(j);
	json_decref(rel);
	if (!c->rel_body)
		return -1;
	c->releasing = true;
	h_prepare(c, h_rel, c->rel_body);
	curl_multi_add_handle(m, c->e);
	return 0;
}

static void *h_driver(void *arg)
{
	struct driver *d = arg;
	CURLM *m = curl_multi_init();
	struct hconn *cs = calloc(d->n, sizeof(*cs));
	for (unsigned i = 0; i < d->n; i++) {
		cs[i].e = curl_easy_init();
		curl_easy_setopt(cs[i].e, CURLOPT_URL, http_url);
		curl_easy_setopt(cs[i].e, CURLOPT_WRITEFUNCTION, acc);
		curl_easy_setopt(cs[i].e, CURLOPT_WRITEDATA, &cs[i].b);
		curl_easy_setopt(cs[i].e, CURLOPT_PRIVATE, &cs[i]);
		curl_easy_setopt(cs[i].e, CURLOPT_TIMEOUT_MS, 10000L);
	}
	for (int round = 0; round < 2 && !d->failed; round++) {
		if (round == 1)
			while (!atomic_load(&go))
				usleep(100);
		unsigned busy = d->n;
		for (unsigned i = 0; i < d->n; i++)
			h_begin(m, &cs[i], d->m);
		while (busy > 0) {
			int running;
			curl_multi_perform(m, &running);
			CURLMsg *msg;
			int left;
			while ((msg = curl_multi_info_read(m, &left)) != NULL) {
				if (msg->msg != CURLMSG_DONE)
					continue;
				struct hconn *c;
				CURL *e = msg->easy_handle;
				CURLcode rc = msg->data.result;
				curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&c);
				curl_multi_remove_handle(m, e);
				int r = h_step(m, c, d->m, rc);
				if (r == 0)
					continue;
				if (op_done(d, round, r, c->t0))
					h_begin(m, c, d->m);
				else
					busy--;
			}
			if (busy > 0)
				curl_multi_poll(m, NULL, 0, 100, NULL);
		}
		if (round == 0)
			atomic_fetch_add(&warm, 1);
	}
	for (unsigned i = 0; i < d->n; i++) {
		curl_easy_cleanup(cs[i].e);
		free(cs[i].b.p);
		free(cs[i].rel_body);
	}
	curl_multi_cleanup(m);
	free(cs);
	return NULL;
}

/* One repetition: `conns` connections over the client threads, o.secs long. */
static struct bench_result run_case(enum method m, unsigned conns, bool grpc, bool *failed)
{
	unsigned nd = conns < o.client_threads ? conns : o.client_threads;
	struct driver *d = calloc(nd, sizeof(*d));
	atomic_store(&go, false);
	atomic_store(&stop_flag, false);
	atomic_store(&warm, 0);
	for (unsigned i = 0, first = 0; i < nd; i++) {
		d[i].m = m;
		d[i].first = first;
		d[i].n = conns / nd + (i < conns % nd);
		first += d[i].n;
		bench_samples_init(&d[i].lat, (1u << 21) / nd);
		pthread_create(&d[i].th, NULL, grpc ? g_driver : h_driver, &d[i]);
	}
	/* every connection up (a failed driver counts too), then a breath */
	for (int i = 0; i < 1000 && atomic_load(&warm) < nd; i++)
		usleep(10000);
	usleep(100000);
	uint64_t t0 = bench_now_ns();
	atomic_store(&go, true);
	usleep((useconds_t)(o.secs * 1e6));
	atomic_store(&stop_flag, true);
	uint64_t el = bench_now_ns() - t0;
	size_t total = 0;
	for (unsigned i = 0; i < nd; i++) {
		pthread_join(d[i].th, NULL);
		total += d[i].lat.n;
		*failed |= d[i].failed;
	}
	struct bench_samples all;
	bench_samples_init(&all, total ? total : 1);
	for (unsigned i = 0; i < nd; i++) {
		for (size_t k = 0; k < d[i].lat.n; k++)
			bench_samples_add(&all, d[i].lat.ns[k]);
		all.ops += d[i].lat.ops;
		bench_samples_fini(&d[i].lat);
	}
	all.elapsed_ns = el;
	struct bench_result r = bench_summarise(&all);
	bench_samples_fini(&all);
	free(d);
	return r;
}

int main(int argc, char **argv)
{
	static char simp[4200], dp[4200];
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf(
			    "usage: bench_rpc [--quick] [--secs X] [--reps N]\n"
			    "                 [--client-threads N] [--only SUBSTRING]\n"
			    "See the header of bench/bench_rpc.c: ops are GetJob calls, or\n"
			    "AcquireHostOffers+ReleaseHostOffers pairs; fast = gRPC, baseline =\n"
			    "HTTP/JSON; 1, 16 and 64 client connections on loopback, each with\n"
			    "one op in flight, driven by --client-threads event loops (default "
			    "2).\n");
			return 0;
		} else if (!strcmp(argv[i], "--quick")) {
			o.secs = 0.3, o.reps = 1, o.quick = true;
		} else if (i + 1 < argc && !strcmp(argv[i], "--secs")) {
			o.secs = atof(argv[++i]);
		} else if (i + 1 < argc && !strcmp(argv[i], "--reps")) {
			o.reps = (unsigned)atoi(argv[++i]);
		} else if (i + 1 < argc && !strcmp(argv[i], "--client-threads")) {
			o.client_threads = (unsigned)atoi(argv[++i]);
		} else if (i + 1 < argc && !strcmp(argv[i], "--only")) {
			o.only = argv[++i];
		} else {
			fprintf(stderr, "bench_rpc: unknown argument %s\n", argv[i]);
			return 2;
		}
	}
	if (!o.reps || o.reps > 15 || !(o.secs > 0) || !o.client_threads || o.client_threads > 64) {
		fprintf(stderr, "bench_rpc: --reps 1..15, --secs > 0, --client-threads 1..64\n");
		return 2;
	}
	bench_sibling("mesos-sim", simp, sizeof(simp));
	bench_sibling("pelotond", dp, sizeof(dp));
	char master[64], dir[] = "/tmp/bench_rpc.XXXXXX", db[64], sports[64], dports[64];
	if (!mkdtemp(dir))
		return 1;
	snprintf(db, sizeof(db), "%s/db", dir);
	snprintf(sports, sizeof(sports), "%s/sim.ports", dir);
	snprintf(dports, sizeof(dports), "%s/d.ports", dir);
	/* ports the kernel picks: each process writes the ones it bound */
	char *sargv[] = {simp,   "--port",       "0",    "--agents", "1000", "--task-secs",
	                 "3600", "--ports-file", sports, NULL};
	unsigned sport = 0, gport = 0, hport = 0;
	pid_t sim = bench_spawn(sargv, NULL), d = -1;
	if (bench_wait_ports(sports, sim, 30000, NULL, &sport) != 0) {
		bench_reap(sim);
		return 1;
	}
	snprintf(master, sizeof(master), "127.0.0.1:%u", sport);
	char *dargv[] = {dp,     "--master",    master, "--db",        db,     "--grpc-port",
	                 "0",    "--http-port", "0",    "--log-level", "warn", "--ports-file",
	                 dports, NULL};
	d = bench_spawn(dargv, NULL);
	if (bench_wait_ports(dports, d, 60000, &gport, &hport) != 0) {
		bench_reap(d);
		bench_reap(sim);
		return 1;
	}
	snprintf(grpc_addr, sizeof(grpc_addr), "127.0.0.1:%u", gport);
	snprintf(http_url, sizeof(http_url), "http://127.0.0.1:%u/api/v1", hport);
	curl_global_init(CURL_GLOBAL_ALL);
	sleep(1); /* the agents' first offers */
	/* a pool and a one-instance job to Get */
	CURL *c = curl_easy_init();
	struct buf b = {0};
	bool ok =
	    http_call(c, "ResourceManager::CreateResourcePool",
	              "{\"config\":{\"name\":\"b\",\"parent\":{\"value\":\"root\"},\"resources\":"
	              "[{\"kind\":\"cpu\",\"reservation\":10,\"limit\":10,\"share\":1},"
	              "{\"kind\":\"memory\",\"reservation\":1000,\"limit\":1000,\"share\":1}]}}",
	              &b);
	json_t *j = ok ? json_loadb(b.p, b.n, 0, NULL) : NULL;
	char body[512];
	snprintf(body, sizeof(body),
	         "{\"config\":{\"name\":\"bench-rpc\",\"instanceCount\":1,\"respoolID\":{\"value\":"
	         "\"%s\"},\"defaultConfig\":{\"resource\":{\"cpuLimit\":0.1,\"memLimitMb\":1}}}}",
	         json_string_value(json_object_get(json_object_get(j, "result"), "value")) ?: "");
	json_decref(j);
	ok = ok && http_call(c, "JobManager::Create", body, &b);
	j = ok ? json_loadb(b.p, b.n, 0, NULL) : NULL;
	snprintf(job_id, sizeof(job_id), "%s",
	         json_string_value(json_object_get(json_object_get(j, "jobId"), "value")) ?: "");
	json_decref(j);
	free(b.p);
	curl_easy_cleanup(c);
	if (!job_id[0]) {
		fprintf(stderr, "bench_rpc: could not create the job to Get\n");
		bench_reap(d);
		bench_reap(sim);
		bench_rmtree(dir);
		return 1;
	}
	Peloton__Api__Job__GetRequest gr = PELOTON__API__JOB__GET_REQUEST__INIT;
	Peloton__Api__Peloton__JobID jid = PELOTON__API__PELOTON__JOB_ID__INIT;
	jid.value = job_id;
	gr.id = &jid;
	get_req = proto_pack_alloc(&gr.base, &get_len);
	snprintf(get_json, sizeof(get_json), "{\"id\":{\"value\":\"%s\"}}", job_id);
	h_get = rpc_headers("JobManager::Get");
	h_acq = rpc_headers("InternalHostService::AcquireHostOffers");
	h_rel = rpc_headers("InternalHostService::ReleaseHostOffers");
	pel_grpc_init();
	char err[200];
	ProtobufCMessage *am = pjson_loads(
	    &peloton__private__hostmgr__hostsvc__acquire_host_offers_request__descriptor, ACQ_JSON,
	    strlen(ACQ_JSON), err, sizeof(err));
	acq_req = proto_pack_alloc(am, &acq_len);
	protobuf_c_message_free_unpacked(am, NULL);

	static const unsigned conns[] = {1, 16, 64};
	static const char *const mname[] = {"GetJob", "AcquireHostOffers"};
	int rc = 0;
	for (int m = 0; m < 2; m++)
		for (size_t ci = 0; ci < 3; ci++) {
			char cname[64];
			snprintf(cname, sizeof(cname), "method=%s,connections=%u", mname[m],
			         conns[ci]);
			if (o.only && !strstr(cname, o.only))
				continue;
			struct bench_result rs[2][16];
			bool failed[2] = {false, false};
			for (unsigned rep = 0; rep < o.reps; rep++)
				for (int impl = 0; impl < 2; impl++)
					rs[impl][rep] = run_case((enum method)m, conns[ci],
					                         impl == 1, &failed[impl]);
			struct bench_result base = bench_median(rs[0], o.reps);
			for (int impl = 0; impl < 2; impl++) {
				struct bench_result r = impl ? bench_median(rs[1], o.reps) : base;
				char extra[160];
				snprintf(extra, sizeof(extra),
				         "\"transport\":\"%s\",\"connections\":%u,"
				         "\"client_threads\":%u,\"reps\":%u%s",
				         impl ? "grpc" : "http_json", conns[ci],
				         conns[ci] < o.client_threads ? conns[ci]
				                                      : o.client_threads,
				         o.reps, failed[impl] ? ",\"failed\":true" : "");
				bench_print(
				    "bench_rpc", cname, impl ? "fast" : "baseline", extra, &r,
				    impl && base.ops_per_s > 0 ? r.ops_per_s / base.ops_per_s : -1);
				fflush(stdout);
				if (failed[impl])
					rc = 1;
			}
		}
	bench_reap(d);
	bench_reap(sim);
	bench_rmtree(dir);
	free(get_req);
	free(acq_req);
	curl_slist_free_all(h_get);
	curl_slist_free_all(h_acq);
	curl_slist_free_all(h_rel);
	grpc_shutdown();
	return rc;
}
