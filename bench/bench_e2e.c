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

#include "bench_daemon.h"
#include "bench_util.h"
#include "grpccli.h"

static struct {
	unsigned agents, instances, reps;
	double task_secs;
	const char *sim, *daemon;
	int impl;  /* -1 both, 0 baseline only, 1 fast only (profiling) */
	int split; /* 0 no, SPLIT_PLACEMENT, SPLIT_EACH */
} o = {10000, 100000, 3, 5.0, NULL, NULL, -1, 0};

enum { SPLIT_PLACEMENT = 1, SPLIT_EACH = 2 };

static void usage(void)
{
	printf(
	    "usage: bench_e2e [--quick] [--agents N] [--instances N] [--task-secs X] [--reps N]\n"
	    "                 [--sim PATH] [--daemon PATH] [--impl fast|baseline]\n"
	    "                 [--split | --split-each]\n"
	    "One op = one task from Create to RUNNING (see the header of bench_e2e.c).\n"
	    "Defaults: 10000 agents, 100000 instances, 5 s tasks, 3 reps; --quick: 200 agents,\n"
	    "2000 instances, 0.5 s tasks, 1 rep. Binaries default to ../src/main/ next to\n"
	    "this program. --impl runs one implementation only (no ratio; for profiling).\n"
	    "--split: fast = a placement engine apart (--roles placement) beside the daemon's\n"
	    "other roles; baseline = all roles in one process.\n"
	    "--split-each: fast = every role in a process of its own; baseline = all in one.\n");
}

static json_t *call(struct grpccli *c, const char *svc, const char *method, const char *json)
{
	return bd_call(c, svc, method, json, false);
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

static pid_t spawn_listening(const char *dir, const char *name, const char **argv, size_t argc,
                             unsigned *grpc, unsigned *http)
{
	return bd_spawn_listening("bench_e2e", dir, name, argv, argc, grpc, http);
}

/* The processes of one run: the simulator, the daemon (all roles, or the
 * host manager alone), and the roles apart; their gRPC addresses. */
struct procs {
	pid_t sim, d, pe[3];
	char hm[32], rm[32], jm[32];
};

static const char *const apart_roles[3] = {"placement", "resmgr", "jobmgr"};

static void procs_stop(struct procs *p)
{
	static const int reap_order[3] = {0, 2, 1}; /* the resource manager, called by both, last */
	for (int k = 0; k < 3; k++)
		if (p->pe[reap_order[k]] > 0)
			bench_reap(p->pe[reap_order[k]]);
	if (p->d > 0)
		bench_reap(p->d);
	if (p->sim > 0)
		bench_reap(p->sim);
}

/* Starts the processes of a run on ports the kernel picks. 0 or -1. */
static int procs_start(struct procs *p, const char *dir, bool baseline)
{
	char ag[16], ts[32], master[64], db[256];
	unsigned sport = 0, g = 0;
	snprintf(ag, sizeof(ag), "%u", o.agents);
	snprintf(ts, sizeof(ts), "%g", o.task_secs);
	const char *sargv[16] = {o.sim,         "--port", "0",           "--agents", ag,
	                         "--task-secs", ts,       "--log-level", "warn"};
	if ((p->sim = spawn_listening(dir, "sim", sargv, 9, NULL, &sport)) < 0)
		return -1;
	snprintf(master, sizeof(master), "127.0.0.1:%u", sport);
	snprintf(db, sizeof(db), "%s/db", dir);
	const char *dargv[20] = {o.daemon, "--master",    master, "--db",
	                         db,       "--grpc-port", "0",    "--http-port",
	                         "0",      "--log-level", "warn"};
	size_t dn = 11;
	/* split: fast runs the daemon without its placement engine (each: the
	 * host manager alone); not split: baseline writes each status update
	 * on its own */
	if (o.split && !baseline) {
		dargv[dn++] = "--roles";
		dargv[dn++] = o.split == SPLIT_EACH ? "hostmgr" : "jobmgr,resmgr,hostmgr";
	} else if (!o.split && baseline) {
		dargv[dn++] = "--write-each-update";
	}
	if ((p->d = spawn_listening(dir, "pelotond", dargv, dn, &g, NULL)) < 0)
		return -1;
	snprintf(p->hm, sizeof(p->hm), "127.0.0.1:%u", g);
	snprintf(p->rm, sizeof(p->rm), "%s", p->hm);
	snprintf(p->jm, sizeof(p->jm), "%s", p->hm);
	if (!o.split || baseline)
		return 0;
	/* the resource manager first (the others call it), then the job manager */
	static const int each[] = {1, 2, 0}, alone[] = {0};
	const int *order = o.split == SPLIT_EACH ? each : alone;
	for (int x = 0; x < (o.split == SPLIT_EACH ? 3 : 1); x++) {
		int k = order[x];
		char pdb[256];
		snprintf(pdb, sizeof(pdb), "%s/%sdb", dir, apart_roles[k]);
		const char *pargv[24] = {o.daemon,
		                         "--roles",
		                         apart_roles[k],
		                         "--resmgr-address",
		                         p->rm,
		                         "--hostmgr-address",
		                         p->hm,
		                         "--grpc-port",
		                         "0",
		                         "--http-port",
		                         "0",
		                         "--db",
		                         pdb,
		                         "--log-level",
		                         "warn"};
		if ((p->pe[k] = spawn_listening(dir, apart_roles[k], pargv, 15, &g, NULL)) < 0)
			return -1;
		if (k == 1)
			snprintf(p->rm, sizeof(p->rm), "127.0.0.1:%u", g);
		if (k == 2)
			snprintf(p->jm, sizeof(p->jm), "127.0.0.1:%u", g);
	}
	return 0;
}

/* Creates the pool and the job; the job id into jid (empty on failure). */
static void create_job(struct grpccli *rm, struct grpccli *jm, char *jid, size_t len)
{
	char pid[64] = "", req[1024];
	bd_create_pool(rm, pid, sizeof(pid));
	snprintf(
	    req, sizeof(req),
	    "{\"config\":{\"name\":\"bench\",\"type\":\"BATCH\",\"instanceCount\":%u,"
	    "\"respoolID\":{\"value\":\"%s\"},\"defaultConfig\":{\"resource\":{\"cpuLimit\":0.1,"
	    "\"memLimitMb\":32},\"command\":{\"shell\":true,\"value\":\"true\"}}}}",
	    o.instances, pid);
	json_t *j = call(jm, "peloton.api.job.JobManager", "Create", req);
	const char *js = json_string_value(json_object_get(json_object_get(j, "jobId"), "value"));
	snprintf(jid, len, "%s", js ? js : "");
	if (!js)
		fprintf(stderr, "bench_e2e: Create gave no job id (pool \"%s\")\n", pid);
	json_decref(j);
}

/* Polls the job every 20 ms until it ends (10 min at most): the times. */
static void watch_job(struct grpccli *jm, const char *jid, uint64_t t0, struct result *r)
{
	char get[128];
	snprintf(get, sizeof(get), "{\"id\":{\"value\":\"%s\"}}", jid);
	uint64_t t_run = 0, deadline = t0 + 600ull * 1000000000ull;
	while (bench_now_ns() < deadline) {
		json_t *j = call(jm, "peloton.api.job.JobManager", "Get", get);
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
			r->ok = !strcmp(state, "SUCCEEDED") && t_run != 0;
			r->to_done_s = (double)(now - t0) / 1e9;
		}
		json_decref(j);
		if (done)
			break;
		usleep(20000);
	}
	r->to_running_s = t_run ? (double)(t_run - t0) / 1e9 : 0;
}

static struct result run_once(bool baseline)
{
	struct result r = {0};
	struct procs p = {0};
	char dir[] = "/tmp/bench_e2e.XXXXXX", jid[64] = "";
	if (!mkdtemp(dir))
		return r;
	if (procs_start(&p, dir, baseline) != 0) {
		procs_stop(&p);
		fprintf(stderr, "bench_e2e: logs kept in %s\n", dir);
		return r;
	}
	/* hm: the host manager; rm, jm: the resource and job managers */
	struct grpccli *hm = grpccli_create(p.hm), *rm = grpccli_create(p.rm),
	               *jm = grpccli_create(p.jm);
	json_t *j = NULL;
	/* a job manager of its own may still be opening its store */
	for (int i = 0; i < 300 && !(j = call(jm, "peloton.api.job.JobManager", "Get", "{}")); i++)
		usleep(100000);
	json_decref(j);
	if (bd_wait_capacity(hm, o.agents)) {
		double cpu0 = bench_proc_cpu_s(p.d);
		for (int k = 0; k < 3; k++)
			cpu0 += p.pe[k] ? bench_proc_cpu_s(p.pe[k]) : 0;
		uint64_t t0 = bench_now_ns();
		create_job(rm, jm, jid, sizeof(jid));
		if (jid[0])
			watch_job(jm, jid, t0, &r);
		r.cpu_s = bench_proc_cpu_s(p.d) - cpu0;
		r.rss = bench_proc_hwm_bytes(p.d);
		for (int k = 0; k < 3; k++)
			if (p.pe[k]) {
				r.cpu_s += bench_proc_cpu_s(p.pe[k]);
				r.rss += bench_proc_hwm_bytes(p.pe[k]);
			}
	}
	procs_stop(&p);
	grpccli_destroy(hm);
	grpccli_destroy(rm);
	grpccli_destroy(jm);
	if (getenv("BENCH_E2E_KEEP") || !r.ok)
		fprintf(stderr, "bench_e2e: logs kept in %s\n", dir);
	else
		bench_rmtree(dir);
	return r;
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
	double run[2][16], done[2][16], cpu[2][16], rss[2][16];
	unsigned reps = o.reps > 16 ? 16 : o.reps;
	bool ok = true;
	for (unsigned rep = 0; rep < reps; rep++)
		for (int impl = 0; impl < 2 && ok; impl++) {
			if (o.impl >= 0 && impl != o.impl)
				continue;
			struct result r = run_once(impl == 0);
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
	if (!ok) {
		/* a failed run gives no result line: no number stands for a failure */
		fprintf(stderr, "bench_e2e: a run failed; no result\n");
		return 1;
	}
	double base_rate = o.impl < 0 ? o.instances / bd_median(run[0], reps) : 0;
	for (int impl = 0; impl < 2; impl++) {
		if (o.impl >= 0 && impl != o.impl)
			continue;
		double tr = bd_median(run[impl], reps), td = bd_median(done[impl], reps);
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
		    bd_median(cpu[impl], reps), bd_median(cpu[impl], reps) * 1000 / o.instances,
		    bd_median(rss[impl], reps), reps);
		if (impl && base_rate > 0)
			printf(",\"ratio_vs_baseline\":%.2f", rate / base_rate);
		printf("}\n");
	}
	return 0;
}
