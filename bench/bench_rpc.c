/*
 * bench_rpc: unary calls per second and their latency against a running
 * pelotond (spawned here, with mesos-sim), clients on loopback.
 *
 * Cases: method x connections (1, 16, 64; one client thread per
 * connection, each with its own channel or curl handle, calls back to
 * back).
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

#include "bench_util.h"
#include "grpccli.h"
#include "peloton/api/job/job.pb-c.h"
#include "peloton/private/hostmgr/hostsvc/hostsvc.pb-c.h"
#include "pjson.h"
#include "proto_codec.h"
#include "rpc.h"

static struct {
	double secs;
	unsigned reps, port;
	const char *sim, *daemon;
	bool quick;
} o = {2.0, 3, 18050, NULL, NULL, false};

static char job_id[64];
static char grpc_addr[64], http_url[96];
static _Atomic bool go, stop_flag;

enum method { M_GET, M_ACQ };

struct worker {
	pthread_t th;
	enum method m;
	bool grpc;
	struct bench_samples lat; /* ops counts every call, samples up to its cap */
	bool failed;
};

/* HTTP: accumulate the body, then parse. */
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

static bool http_call(CURL *c, const char *proc, const char *body, struct buf *out)
{
	char hdr[128];
	snprintf(hdr, sizeof(hdr), "Rpc-Procedure: %s", proc);
	struct curl_slist *h = curl_slist_append(NULL, hdr);
	h = curl_slist_append(h, "Rpc-Encoding: json");
	h = curl_slist_append(h, "Content-Type: application/json");
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

static const char ACQ_JSON[] = "{\"filter\":{\"resourceConstraint\":{\"minimum\":{\"cpuLimit\":1,"
                               "\"memLimitMb\":100}},\"quantity\":{\"maxHosts\":1}}}";

static bool one_http(CURL *c, enum method m, struct buf *b)
{
	if (m == M_GET) {
		char body[128];
		snprintf(body, sizeof(body), "{\"id\":{\"value\":\"%s\"}}", job_id);
		return http_call(c, "JobManager::Get", body, b);
	}
	if (!http_call(c, "InternalHostService::AcquireHostOffers", ACQ_JSON, b))
		return false;
	json_t *j = json_loadb(b->p, b->n, 0, NULL);
	json_t *rel =
	    json_pack("{s:O}", "hostOffers", json_object_get(j, "hostOffers") ?: json_array());
	char *s = json_dumps(rel, JSON_COMPACT);
	json_decref(j);
	json_decref(rel);
	bool ok = s && http_call(c, "InternalHostService::ReleaseHostOffers", s, b);
	free(s);
	return ok;
}

static uint8_t *get_req, *acq_req;
static size_t get_len, acq_len;

static bool one_grpc(struct grpccli *c, enum method m)
{
	struct rpc_status st;
	uint8_t *resp;
	size_t rlen;
	if (m == M_GET) {
		grpccli_call(c, "/peloton.api.job.JobManager/Get", get_req, get_len, 10000, &resp,
		             &rlen, &st);
		free(resp);
		return st.code == RPC_OK;
	}
	grpccli_call(c, "/peloton.private.hostmgr.hostsvc.InternalHostService/AcquireHostOffers",
	             acq_req, acq_len, 10000, &resp, &rlen, &st);
	if (st.code != RPC_OK)
		return false;
	Peloton__Private__Hostmgr__Hostsvc__AcquireHostOffersResponse *a = (void *)proto_decode(
	    &peloton__private__hostmgr__hostsvc__acquire_host_offers_response__descriptor, resp,
	    rlen, NULL, NULL);
	free(resp);
	if (!a)
		return false;
	Peloton__Private__Hostmgr__Hostsvc__ReleaseHostOffersRequest r =
	    PELOTON__PRIVATE__HOSTMGR__HOSTSVC__RELEASE_HOST_OFFERS_REQUEST__INIT;
	r.n_hostoffers = a->n_hostoffers;
	r.hostoffers = a->hostoffers;
	size_t len;
	uint8_t *b = proto_pack_alloc(&r.base, &len);
	protobuf_c_message_free_unpacked(&a->base, NULL);
	grpccli_call(c, "/peloton.private.hostmgr.hostsvc.InternalHostService/ReleaseHostOffers", b,
	             len, 10000, &resp, &rlen, &st);
	free(b);
	free(resp);
	return st.code == RPC_OK;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct grpccli *g = w->grpc ? grpccli_create(grpc_addr) : NULL;
	CURL *c = w->grpc ? NULL : curl_easy_init();
	struct buf b = {0};
	/* one warm-up call opens the connection */
	bool ok = w->grpc ? one_grpc(g, w->m) : one_http(c, w->m, &b);
	while (!atomic_load(&go))
		usleep(100);
	while (ok && !atomic_load(&stop_flag)) {
		uint64_t t0 = bench_now_ns();
		ok = w->grpc ? one_grpc(g, w->m) : one_http(c, w->m, &b);
		if (ok) {
			bench_samples_add(&w->lat, bench_now_ns() - t0);
			w->lat.ops++;
		}
	}
	w->failed = !ok;
	free(b.p);
	grpccli_destroy(g);
	if (c)
		curl_easy_cleanup(c);
	return NULL;
}

/* One repetition: `conns` clients calling back to back for o.secs. */
static struct bench_result run_case(enum method m, unsigned conns, bool grpc, bool *failed)
{
	struct worker *w = calloc(conns, sizeof(*w));
	atomic_store(&go, false);
	atomic_store(&stop_flag, false);
	for (unsigned i = 0; i < conns; i++) {
		w[i].m = m;
		w[i].grpc = grpc;
		bench_samples_init(&w[i].lat, (1u << 20) / conns);
		pthread_create(&w[i].th, NULL, worker_main, &w[i]);
	}
	usleep(300000);
	uint64_t t0 = bench_now_ns();
	atomic_store(&go, true);
	usleep((useconds_t)(o.secs * 1e6));
	atomic_store(&stop_flag, true);
	uint64_t el = bench_now_ns() - t0;
	size_t total = 0;
	for (unsigned i = 0; i < conns; i++) {
		pthread_join(w[i].th, NULL);
		total += w[i].lat.n;
		*failed |= w[i].failed;
	}
	struct bench_samples all;
	bench_samples_init(&all, total ? total : 1);
	for (unsigned i = 0; i < conns; i++) {
		for (size_t k = 0; k < w[i].lat.n; k++)
			bench_samples_add(&all, w[i].lat.ns[k]);
		all.ops += w[i].lat.ops;
		bench_samples_fini(&w[i].lat);
	}
	all.elapsed_ns = el;
	struct bench_result r = bench_summarise(&all);
	bench_samples_fini(&all);
	free(w);
	return r;
}

int main(int argc, char **argv)
{
	static char simp[4200], dp[4200];
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf(
			    "usage: bench_rpc [--quick] [--secs X] [--reps N] [--port-base P]\n"
			    "See the header of bench/bench_rpc.c: ops are GetJob calls, or\n"
			    "AcquireHostOffers+ReleaseHostOffers pairs; fast = gRPC, baseline =\n"
			    "HTTP/JSON; 1, 16 and 64 client connections on loopback.\n");
			return 0;
		} else if (!strcmp(argv[i], "--quick")) {
			o.secs = 0.3, o.reps = 1, o.quick = true;
		} else if (i + 1 < argc && !strcmp(argv[i], "--secs")) {
			o.secs = atof(argv[++i]);
		} else if (i + 1 < argc && !strcmp(argv[i], "--reps")) {
			o.reps = (unsigned)atoi(argv[++i]);
		} else if (i + 1 < argc && !strcmp(argv[i], "--port-base")) {
			o.port = (unsigned)atoi(argv[++i]);
		} else {
			fprintf(stderr, "bench_rpc: unknown argument %s\n", argv[i]);
			return 2;
		}
	}
	if (!o.reps || o.reps > 15 || !(o.secs > 0)) {
		fprintf(stderr, "bench_rpc: --reps 1..15, --secs > 0\n");
		return 2;
	}
	bench_sibling("mesos-sim", simp, sizeof(simp));
	bench_sibling("pelotond", dp, sizeof(dp));
	char sp[16], hp[16], gp[16], master[64], db[] = "/tmp/bench_rpc.XXXXXX";
	if (!mkdtemp(db))
		return 1;
	snprintf(sp, sizeof(sp), "%u", o.port);
	snprintf(hp, sizeof(hp), "%u", o.port + 1);
	snprintf(gp, sizeof(gp), "%u", o.port + 2);
	snprintf(master, sizeof(master), "127.0.0.1:%u", o.port);
	snprintf(grpc_addr, sizeof(grpc_addr), "127.0.0.1:%u", o.port + 2);
	snprintf(http_url, sizeof(http_url), "http://127.0.0.1:%u/api/v1", o.port + 1);
	char *sargv[] = {simp, "--port", sp, "--agents", "1000", "--task-secs", "3600", NULL};
	pid_t sim = bench_spawn(sargv, NULL);
	usleep(300000);
	char *dargv[] = {dp, "--master",    master, "--db",        db,     "--grpc-port",
	                 gp, "--http-port", hp,     "--log-level", "warn", NULL};
	pid_t d = bench_spawn(dargv, NULL);
	curl_global_init(CURL_GLOBAL_ALL);
	sleep(2);
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
		bench_rmtree(db);
		return 1;
	}
	Peloton__Api__Job__GetRequest gr = PELOTON__API__JOB__GET_REQUEST__INIT;
	Peloton__Api__Peloton__JobID jid = PELOTON__API__PELOTON__JOB_ID__INIT;
	jid.value = job_id;
	gr.id = &jid;
	get_req = proto_pack_alloc(&gr.base, &get_len);
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
			struct bench_result rs[2][16];
			bool failed[2] = {false, false};
			for (unsigned rep = 0; rep < o.reps; rep++)
				for (int impl = 0; impl < 2; impl++)
					rs[impl][rep] = run_case((enum method)m, conns[ci],
					                         impl == 1, &failed[impl]);
			char cname[64];
			snprintf(cname, sizeof(cname), "method=%s,connections=%u", mname[m],
			         conns[ci]);
			struct bench_result base = bench_median(rs[0], o.reps);
			for (int impl = 0; impl < 2; impl++) {
				struct bench_result r = impl ? bench_median(rs[1], o.reps) : base;
				char extra[160];
				snprintf(extra, sizeof(extra),
				         "\"transport\":\"%s\",\"connections\":%u,\"reps\":%u%s",
				         impl ? "grpc" : "http_json", conns[ci], o.reps,
				         failed[impl] ? ",\"failed\":true" : "");
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
	bench_rmtree(db);
	free(get_req);
	free(acq_req);
	return rc;
}
