/*
 * bench_e2e: the whole scheduler end to end — mesos-sim with N agents and
 * pelotond as separate processes on loopback; one batch job of short tasks
 * created over gRPC; the job polled every 20 ms.
 *
 * One op = one task taken from Create to RUNNING: ops_per_s = instances /
 * (time from the Create call until no task waits to start). Also: time to
 * SUCCEEDED, pelotond's CPU seconds (user + system) during the job and its
 * peak RSS (VmHWM).
 *
 * impl=fast is pelotond as shipped (status updates join commit groups:
 * one WAL write and sync per group); impl=baseline is the same daemon with
 * --write-each-update (one synced RocksDB write per status update, on the
 * Mesos client's thread). Both run in alternation, the median of --reps.
 *
 * --split (case ...,placement=apart): impl=fast runs the placement engine
 * in a process of its own (`--roles placement`, reaching the daemon over
 * gRPC) beside `pelotond --roles jobmgr,resmgr,hostmgr`; impl=baseline is
 * all roles in one process. The ratio is what the split costs or gains;
 * CPU and RSS are the processes' sums.
 *
 * --split-each (case ...,roles=apart): impl=fast runs every role in a
 * process of its own (hostmgr, resmgr, placement, jobmgr: launches as
 * LaunchTasks, status updates through the event stream, everything between
 * them over gRPC); impl=baseline is all roles in one process.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "bench_util.h"
#include "grpccli.h"
#include "pjson.h"
#include "proto_codec.h"
#include "rpc.h"

static struct {
	unsigned agents, instances, reps;
	double task_secs;
	const char *sim, *daemon;
	unsigned port;
	int impl;  /* -1 both, 0 baseline only, 1 fast only (profiling) */
	int split; /* 0 no, SPLIT_PLACEMENT, SPLIT_EACH */
} o = {10000, 100000, 3, 5.0, NULL, NULL, 17050, -1, 0};

enum { SPLIT_PLACEMENT = 1, SPLIT_EACH = 2 };

static struct rpc_table *tab;

static void usage(void)
{
	printf(
	    "usage: bench_e2e [--quick] [--agents N] [--instances N] [--task-secs X] [--reps N]\n"
	    "                 [--sim PATH] [--daemon PATH] [--port-base P] [--impl fast|baseline]\n"
	    "                 [--split | --split-each]\n"
	    "One op = one task from Create to RUNNING (see the header of bench_e2e.c).\n"
	    "Defaults: 10000 agents, 100000 instances, 5 s tasks, 3 reps; --quick: 200 agents,\n"
	    "2000 instances, 0.5 s tasks, 1 rep. Binaries default to ../src/main/ next to\n"
	    "this program. --impl runs one implementation only (no ratio; for profiling).\n"
	    "--split: fast = a placement engine apart (--roles placement) beside the daemon's\n"
	    "other roles; baseline = all roles in one process.\n"
	    "--split-each: fast = every role in a process of its own; baseline = all in one.\n");
}

/* JSON request -> call -> JSON response (NULL on error, message on stderr). */
static json_t *call(struct grpccli *c, const char *svc, const char *method, const char *json)
{
	char path[200], err[256];
	snprintf(path, sizeof(path), "/%s/%s", svc, method);
	struct rpc_method *m = rpc_lookup_path(tab, path, strlen(path));
	ProtobufCMessage *req = pjson_loads(m->in, json, strlen(json), err, sizeof(err));
	if (!req) {
		fprintf(stderr, "bench_e2e: %s\n", err);
		return NULL;
	}
	size_t len, rlen;
	uint8_t *b = proto_pack_alloc(req, &len), *resp;
	protobuf_c_message_free_unpacked(req, NULL);
	struct rpc_status st;
	grpccli_call(c, path, b, len, 10000, &resp, &rlen, &st);
	free(b);
	if (st.code != RPC_OK)
		return NULL;
	const char *why;
	ProtobufCMessage *r = proto_decode(m->out, resp, rlen, NULL, &why);
	free(resp);
	if (!r)
		return NULL;
	json_t *j = pjson_encode(r);
	protobuf_c_message_free_unpacked(r, NULL);
	return j;
}

struct result {
	double to_running_s, to_done_s, cpu_s;
	long rss;
	bool ok;
};

static bool waiting_state(const char *k)
{
	static const char *const w[] = {"INITIALIZED", "PENDING",   "READY",   "PLACING",
	                                "PLACED",      "LAUNCHING", "LAUNCHED"};
	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
		if (!strcmp(k, w[i]))
			return true;
	return false;
}

static struct result run_once(bool baseline, unsigned port)
{
	struct result r = {0};
	char dir[] = "/tmp/bench_e2e.XXXXXX";
	if (!mkdtemp(dir))
		return r;
	char sp[16], gp[32], hp[16], ag[16], ts[32], master[64], db[256], slog[256], dlog[256];
	snprintf(sp, sizeof(sp), "%u", port);
	snprintf(hp, sizeof(hp), "%u", port + 1);
	snprintf(gp, sizeof(gp), "127.0.0.1:%u", port + 2);
	snprintf(ag, sizeof(ag), "%u", o.agents);
	snprintf(ts, sizeof(ts), "%g", o.task_secs);
	snprintf(master, sizeof(master), "127.0.0.1:%u", port);
	snprintf(db, sizeof(db), "%s/db", dir);
	snprintf(slog, sizeof(slog), "%s/sim.log", dir);
	snprintf(dlog, sizeof(dlog), "%s/d.log", dir);
	char *sargv[] = {(char *)o.sim, "--port", sp,  "--agents", ag, "--task-secs", ts,
	                 "--log-level", "warn",   NULL};
	pid_t sim = bench_spawn(sargv, slog);
	usleep(300000);
	char gport[16];
	snprintf(gport, sizeof(gport), "%u", port + 2);
	char *dargv[] = {(char *)o.daemon,
	                 "--master",
	                 master,
	                 "--db",
	                 db,
	                 "--grpc-port",
	                 gport,
	                 "--http-port",
	                 hp,
	                 "--log-level",
	                 "warn",
	                 NULL, /* the variant's flags go here */
	                 NULL,
	                 NULL};
	/* split: fast runs the daemon without its placement engine;
	 * not split: baseline writes each status update on its own */
	if (o.split && !baseline)
		dargv[11] = "--roles", dargv[12] = "jobmgr,resmgr,hostmgr";
	else if (!o.split && baseline)
		dargv[11] = "--write-each-update";
	/* each: the daemon above is the host manager alone */
	if (o.split == SPLIT_EACH && !baseline)
		dargv[11] = "--roles", dargv[12] = "hostmgr";
	pid_t d = bench_spawn(dargv, dlog), pe[3] = {0};
	char rmaddr[32] = "", jmaddr[32] = "";
	if (o.split && !baseline) {
		/* apart: placement at +3/+4; with each, resmgr at +5/+6, jobmgr at +7/+8 */
		static const char *const roles[3] = {"placement", "resmgr", "jobmgr"};
		snprintf(rmaddr, sizeof(rmaddr), "127.0.0.1:%u",
		         o.split == SPLIT_EACH ? port + 5 : port + 2);
		snprintf(jmaddr, sizeof(jmaddr), "127.0.0.1:%u",
		         o.split == SPLIT_EACH ? port + 7 : port + 2);
		/* the resource manager first (the others call it), then the job manager */
		static const int each[] = {1, 2, 0}, alone[] = {0};
		const int *order = o.split == SPLIT_EACH ? each : alone;
		int n = o.split == SPLIT_EACH ? 3 : 1;
		for (int x = 0; x < n; x++) {
			int k = order[x];
			char pg[16], ph[16], plog[256], pdb[256];
			snprintf(pg, sizeof(pg), "%u", port + 3 + 2 * (unsigned)k);
			snprintf(ph, sizeof(ph), "%u", port + 4 + 2 * (unsigned)k);
			snprintf(plog, sizeof(plog), "%s/%s.log", dir, roles[k]);
			snprintf(pdb, sizeof(pdb), "%s/%sdb", dir, roles[k]);
			char *pargv[] = {(char *)o.daemon,
			                 "--roles",
			                 (char *)roles[k],
			                 "--resmgr-address",
			                 rmaddr,
			                 "--hostmgr-address",
			                 gp,
			                 "--grpc-port",
			                 pg,
			                 "--http-port",
			                 ph,
			                 "--db",
			                 pdb,
			                 "--log-level",
			                 "warn",
			                 NULL};
			pe[k] = bench_spawn(pargv, plog);
			if (k == 1)
				usleep(300000); /* serving before the others call it */
		}
	} else {
		snprintf(rmaddr, sizeof(rmaddr), "%s", gp);
		snprintf(jmaddr, sizeof(jmaddr), "%s", gp);
	}
	/* c: the host manager; crm, cjm: the resource and job managers */
	struct grpccli *c = grpccli_create(gp), *crm = grpccli_create(rmaddr),
	               *cjm = grpccli_create(jmaddr);
	json_t *j = NULL;
	/* wait until every agent has offered */
	for (int i = 0; i < 600; i++) {
		j = call(c, "peloton.private.hostmgr.hostsvc.InternalHostService",
		         "ClusterCapacity", "{}");
		double cpus = 0;
		size_t k;
		json_t *v;
		json_array_foreach(
		    json_object_get(j, "physicalResources"), k,
		    v) if (!strcmp(json_string_value(json_object_get(v, "kind")) ?: "", "cpu"))
		    cpus = json_number_value(json_object_get(v, "capacity"));
		json_decref(j);
		if (cpus >= 32.0 * o.agents - 1)
			break;
		usleep(100000);
	}
	j = call(crm, "peloton.api.respool.ResourceManager", "CreateResourcePool",
	         "{\"config\":{\"name\":\"bench\",\"parent\":{\"value\":\"root\"},\"resources\":["
	         "{\"kind\":\"cpu\",\"reservation\":1000000,\"limit\":1000000,\"share\":1},"
	         "{\"kind\":\"memory\",\"reservation\":1e10,\"limit\":1e10,\"share\":1},"
	         "{\"kind\":\"disk\",\"reservation\":1e12,\"limit\":1e12,\"share\":1}]}}");
	char pid[64] = "";
	const char *ps = json_string_value(json_object_get(json_object_get(j, "result"), "value"));
	snprintf(pid, sizeof(pid), "%s", ps ? ps : "");
	json_decref(j);
	char req[1024];
	snprintf(
	    req, sizeof(req),
	    "{\"config\":{\"name\":\"bench\",\"type\":\"BATCH\",\"instanceCount\":%u,"
	    "\"respoolID\":{\"value\":\"%s\"},\"defaultConfig\":{\"resource\":{\"cpuLimit\":0.1,"
	    "\"memLimitMb\":32},\"command\":{\"shell\":true,\"value\":\"true\"}}}}",
	    o.instances, pid);
	/* a job manager of its own may still be opening its store */
	for (int i = 0; i < 300 && !(j = call(cjm, "peloton.api.job.JobManager", "Get", "{}")); i++)
		usleep(100000);
	json_decref(j);
	double cpu0 = bench_proc_cpu_s(d);
	for (int k = 0; k < 3; k++)
		cpu0 += pe[k] ? bench_proc_cpu_s(pe[k]) : 0;
	uint64_t t0 = bench_now_ns();
	j = call(cjm, "peloton.api.job.JobManager", "Create", req);
	char jid[64] = "";
	const char *js = json_string_value(json_object_get(json_object_get(j, "jobId"), "value"));
	if (js)
		snprintf(jid, sizeof(jid), "%s", js);
	else
		fprintf(stderr, "bench_e2e: Create gave no job id (pool \"%s\")\n", pid);
	json_decref(j);
	char get[128];
	snprintf(get, sizeof(get), "{\"id\":{\"value\":\"%s\"}}", jid);
	uint64_t t_run = 0, deadline = t0 + 600ull * 1000000000ull;
	while (jid[0] && bench_now_ns() < deadline) {
		j = call(cjm, "peloton.api.job.JobManager", "Get", get);
		json_t *rt = json_object_get(json_object_get(j, "jobInfo"), "runtime");
		const char *state = json_string_value(json_object_get(rt, "state"));
		bool waiting = false;
		const char *k;
		json_t *v;
		json_object_foreach(json_object_get(rt, "taskStats"), k, v) waiting |=
		    waiting_state(k);
		uint64_t now = bench_now_ns();
		if (!t_run && rt && !waiting)
			t_run = now;
		bool done = state && (!strcmp(state, "SUCCEEDED") || !strcmp(state, "FAILED"));
		if (done) {
			r.ok = !strcmp(state, "SUCCEEDED");
			r.to_done_s = (double)(now - t0) / 1e9;
		}
		json_decref(j);
		if (done)
			break;
		usleep(20000);
	}
	r.to_running_s = (double)(t_run - t0) / 1e9;
	r.cpu_s = bench_proc_cpu_s(d) - cpu0;
	r.rss = bench_proc_hwm_bytes(d);
	for (int k = 0; k < 3; k++)
		if (pe[k]) {
			r.cpu_s += bench_proc_cpu_s(pe[k]);
			r.rss += bench_proc_hwm_bytes(pe[k]);
		}
	static const int reap_order[3] = {0, 2, 1}; /* the resource manager, called by both, last */
	for (int k = 0; k < 3; k++)
		if (pe[reap_order[k]])
			bench_reap(pe[reap_order[k]]);
	grpccli_destroy(c);
	grpccli_destroy(crm);
	grpccli_destroy(cjm);
	bench_reap(d);
	bench_reap(sim);
	if (getenv("BENCH_E2E_KEEP"))
		fprintf(stderr, "bench_e2e: logs kept in %s\n", dir);
	else
		bench_rmtree(dir);
	return r;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_d);
	return v[n / 2];
}

int main(int argc, char **argv)
{
	static char simp[4200], dp[4200];
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage();
			return 0;
		} else if (!strcmp(a, "--quick")) {
			o.agents = 200, o.instances = 2000, o.task_secs = 0.5, o.reps = 1;
		} else if (v && !strcmp(a, "--agents")) {
			o.agents = (unsigned)atoi(v), i++;
		} else if (v && !strcmp(a, "--instances")) {
			o.instances = (unsigned)atoi(v), i++;
		} else if (v && !strcmp(a, "--task-secs")) {
			o.task_secs = atof(v), i++;
		} else if (v && !strcmp(a, "--reps")) {
			o.reps = (unsigned)atoi(v), i++;
		} else if (v && !strcmp(a, "--sim")) {
			o.sim = v, i++;
		} else if (v && !strcmp(a, "--daemon")) {
			o.daemon = v, i++;
		} else if (v && !strcmp(a, "--port-base")) {
			o.port = (unsigned)atoi(v), i++;
		} else if (v && !strcmp(a, "--impl") &&
		           (!strcmp(v, "fast") || !strcmp(v, "baseline"))) {
			o.impl = !strcmp(v, "fast"), i++;
		} else if (!strcmp(a, "--split")) {
			o.split = SPLIT_PLACEMENT;
		} else if (!strcmp(a, "--split-each")) {
			o.split = SPLIT_EACH;
		} else {
			fprintf(stderr, "bench_e2e: unknown argument %s\n", a);
			usage();
			return 2;
		}
	}
	if (!o.agents || !o.instances || !o.reps) {
		fprintf(stderr, "bench_e2e: counts must be > 0\n");
		return 2;
	}
	if (!o.sim)
		bench_sibling("mesos-sim", simp, sizeof(simp)), o.sim = simp;
	if (!o.daemon)
		bench_sibling("pelotond", dp, sizeof(dp)), o.daemon = dp;
	tab = rpc_table_create();
	double run[2][16], done[2][16], cpu[2][16], rss[2][16];
	unsigned reps = o.reps > 16 ? 16 : o.reps;
	bool ok = true;
	for (unsigned rep = 0; rep < reps; rep++)
		for (int impl = 0; impl < 2; impl++) {
			if (o.impl >= 0 && impl != o.impl)
				continue;
			struct result r =
			    run_once(impl == 0, o.port + 10 * (rep * 2 + (unsigned)impl));
			fprintf(stderr,
			        "bench_e2e: rep %u %s: running %.2fs done %.2fs cpu %.1fs%s\n", rep,
			        impl == 0 ? "baseline" : "fast", r.to_running_s, r.to_done_s,
			        r.cpu_s, r.ok ? "" : " (job did not succeed)");
			ok &= r.ok;
			run[impl][rep] = r.to_running_s;
			done[impl][rep] = r.to_done_s;
			cpu[impl][rep] = r.cpu_s;
			rss[impl][rep] = (double)r.rss;
		}
	double base_rate = o.impl < 0 ? o.instances / median(run[0], reps) : 0;
	for (int impl = 0; impl < 2; impl++) {
		if (o.impl >= 0 && impl != o.impl)
			continue;
		double tr = median(run[impl], reps), td = median(done[impl], reps);
		double rate = o.instances / tr;
		printf(
		    "{\"bench\":\"bench_e2e\",\"case\":\"agents=%u,instances=%u,task_secs=%g%s\","
		    "\"impl\":\"%s\",\"agents\":%u,\"instances\":%u,\"task_secs\":%g,"
		    "\"ops_per_s\":%.0f,\"time_to_running_s\":%.3f,\"time_to_succeeded_s\":%.3f,"
		    "\"pelotond_cpu_s\":%.2f,\"cpu_s_per_1k\":%.3f,\"rss_bytes\":%.0f,\"reps\":%u",
		    o.agents, o.instances, o.task_secs,
		    o.split == SPLIT_EACH ? ",roles=apart"
		    : o.split             ? ",placement=apart"
		                          : "",
		    impl ? "fast" : "baseline", o.agents, o.instances, o.task_secs, rate, tr, td,
		    median(cpu[impl], reps), median(cpu[impl], reps) * 1000 / o.instances,
		    median(rss[impl], reps), reps);
		if (impl && base_rate > 0)
			printf(",\"ratio_vs_baseline\":%.2f", rate / base_rate);
		printf("}\n");
	}
	rpc_table_destroy(tab);
	return ok ? 0 : 1;
}
