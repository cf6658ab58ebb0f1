/*
 * bench_update: a rolling update of a long-running service end to end —
 * mesos-sim with N agents and pelotond as separate processes on loopback;
 * a SERVICE job of M instances (tasks that run for hours) created and
 * awaited RUNNING; then UpdateService.CreateUpdate with a new command,
 * polled every 50 ms until SUCCEEDED.
 *
 * One op = one instance moved onto the new config (killed, launched again
 * and RUNNING): ops_per_s = M / (time from CreateUpdate to SUCCEEDED).
 * Also: the most instances down at once during the update (the
 * simulator's own count: M minus the fewest tasks alive, its
 * running_low), which must not exceed the batch size; pelotond's CPU
 * seconds during the update.
 *
 * impl=fast is the update in batches of --batch (a sliding window: at most
 * that many in flight); impl=baseline is the same update as one batch with
 * stopBeforeUpdate (stop every instance, then start them all). Each run
 * starts fresh processes; the two alternate, the median of --reps.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "bench_daemon.h"
#include "bench_util.h"
#include "grpccli.h"
#include "httpcli.h"

static struct {
	unsigned agents, instances, batch, reps;
	const char *sim, *daemon;
} o = {1000, 10000, 1000, 3, NULL, NULL};

static void usage(void)
{
	printf("usage: bench_update [--quick] [--agents N] [--instances N] [--batch N] [--reps N]\n"
	       "                    [--sim PATH] [--daemon PATH]\n"
	       "One op = one instance of a SERVICE job moved onto a new config by a rolling\n"
	       "update (see the header of bench_update.c). impl=fast: batches of --batch;\n"
	       "impl=baseline: one batch with stopBeforeUpdate (stop all, then start all).\n"
	       "Defaults: 1000 agents, 10000 instances, batch 1000, 3 reps; --quick: 50 agents,\n"
	       "500 instances, batch 50, 1 rep. A run whose update does not succeed, or that\n"
	       "has more instances down at once than its batch, prints no result.\n");
}

struct result {
	double secs, cpu_s;
	unsigned max_down;
	bool ok;
};

/* The simulator's /sim/stats field (or -1); action: POST /sim/fault?action= instead. */
static long sim_get(unsigned port, const char *field, const char *action)
{
	char url[160], err[128], *out = NULL;
	long code = 0;
	if (action)
		snprintf(url, sizeof(url), "http://127.0.0.1:%u/sim/fault?action=%s", port, action);
	else
		snprintf(url, sizeof(url), "http://127.0.0.1:%u/sim/stats", port);
	if (httpcli_do(url, action ? "" : NULL, 10000, 1 << 20, &out, NULL, &code, err,
	               sizeof(err)) != 0 ||
	    code != 200) {
		free(out);
		return -1;
	}
	json_t *j = field ? json_loads(out, 0, NULL) : NULL;
	long v = j ? (long)json_integer_value(json_object_get(j, field)) : 0;
	json_decref(j);
	free(out);
	return v;
}

/* The job's tasks in state RUNNING (or -1). */
static long running(struct grpccli *d, const char *jid)
{
	char get[128];
	snprintf(get, sizeof(get), "{\"id\":{\"value\":\"%s\"}}", jid);
	json_t *j = bd_call(d, "peloton.api.job.JobManager", "Get", get, false);
	json_t *rt = json_object_get(json_object_get(j, "jobInfo"), "runtime");
	long n = j ? (long)json_integer_value(
	                 json_object_get(json_object_get(rt, "taskStats"), "RUNNING"))
	           : -1;
	json_decref(j);
	return n;
}

/* The SERVICE job; its id into jid (empty on failure). */
static void create_service(struct grpccli *d, const char *pool, char *jid, size_t len)
{
	char req[1024];
	snprintf(req, sizeof(req),
	         "{\"config\":{\"name\":\"bench\",\"type\":\"SERVICE\",\"instanceCount\":%u,"
	         "\"respoolID\":{\"value\":\"%s\"},\"defaultConfig\":{\"resource\":{"
	         "\"cpuLimit\":0.1,\"memLimitMb\":32},\"command\":{\"shell\":true,"
	         "\"value\":\"serve v1\"}}}}",
	         o.instances, pool);
	json_t *j = bd_call(d, "peloton.api.job.JobManager", "Create", req, false);
	const char *js = json_string_value(json_object_get(json_object_get(j, "jobId"), "value"));
	snprintf(jid, len, "%s", js ? js : "");
	json_decref(j);
}

/* CreateUpdate to the v2 command; polled until it ends. r->ok when it SUCCEEDED. */
static void update(struct grpccli *d, const char *pool, const char *jid, bool baseline,
                   struct result *r)
{
	char req[1400];
	snprintf(req, sizeof(req),
	         "{\"jobId\":{\"value\":\"%s\"},\"jobConfig\":{\"name\":\"bench\",\"type\":"
	         "\"SERVICE\",\"instanceCount\":%u,\"respoolID\":{\"value\":\"%s\"},"
	         "\"defaultConfig\":{\"resource\":{\"cpuLimit\":0.1,\"memLimitMb\":32},"
	         "\"command\":{\"shell\":true,\"value\":\"serve v2\"}}},\"updateConfig\":%s}",
	         jid, o.instances, pool,
	         baseline ? "{\"batchSize\":0,\"stopBeforeUpdate\":true}" : "{\"batchSize\":0}");
	if (!baseline) { /* (the batch into the template above) */
		char *p = strstr(req, "\"batchSize\":0}");
		snprintf(p, sizeof(req) - (size_t)(p - req), "\"batchSize\":%u}}", o.batch);
	}
	json_t *j = bd_call(d, "peloton.api.update.svc.UpdateService", "CreateUpdate", req, false);
	const char *uid = json_string_value(json_object_get(json_object_get(j, "result"), "value"));
	char get[160] = "";
	if (uid)
		snprintf(get, sizeof(get), "{\"updateId\":{\"value\":\"%s\"}}", uid);
	json_decref(j);
	uint64_t t0 = bench_now_ns(), deadline = t0 + 600ull * 1000000000ull;
	while (get[0] && bench_now_ns() < deadline) {
		j = bd_call(d, "peloton.api.update.svc.UpdateService", "GetUpdate", get, false);
		const char *st = json_string_value(json_object_get(
		    json_object_get(json_object_get(j, "result"), "status"), "state"));
		bool over = st && strcmp(st, "ROLLING_FORWARD") && strcmp(st, "ROLLING_BACK") &&
		            strcmp(st, "PAUSED");
		if (over) {
			r->ok = !strcmp(st, "SUCCEEDED");
			r->secs = (double)(bench_now_ns() - t0) / 1e9;
			if (!r->ok)
				fprintf(stderr, "bench_update: the update ended %s\n", st);
		}
		json_decref(j);
		if (over || !j)
			break;
		usleep(50000);
	}
}

static struct result run_once(bool baseline)
{
	struct result r = {0};
	char dir[] = "/tmp/bench_update.XXXXXX";
	if (!mkdtemp(dir))
		return r;
	unsigned sport = 0;
	pid_t sim, d;
	struct grpccli *c;
	bd_start_pair("bench_update", dir, o.sim, o.daemon, o.agents, "86400", &sim, &d, &sport,
	              &c);
	char pool[64] = "", jid[64] = "";
	if (c && bd_wait_capacity(c, o.agents) && bd_create_pool(c, pool, sizeof(pool)))
		create_service(c, pool, jid, sizeof(jid));
	uint64_t deadline = bench_now_ns() + 300ull * 1000000000ull;
	while (jid[0] && running(c, jid) < (long)o.instances && bench_now_ns() < deadline)
		usleep(100000);
	if (jid[0] && running(c, jid) == (long)o.instances && sim_get(sport, NULL, "mark") == 0) {
		double cpu0 = bench_proc_cpu_s(d);
		update(c, pool, jid, baseline, &r);
		r.cpu_s = bench_proc_cpu_s(d) - cpu0;
		long low = sim_get(sport, "running_low", NULL);
		r.max_down = low >= 0 ? o.instances - (unsigned)low : o.instances;
		if (low < 0)
			r.ok = false;
	} else if (jid[0]) {
		fprintf(stderr, "bench_update: the service did not all run within 300 s\n");
	}
	if (d > 0)
		bench_reap(d);
	if (sim > 0)
		bench_reap(sim);
	grpccli_destroy(c);
	if (getenv("BENCH_UPDATE_KEEP") || !r.ok)
		fprintf(stderr, "bench_update: logs kept in %s\n", dir);
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
			o.agents = 50, o.instances = 500, o.batch = 50, o.reps = 1;
		} else if (v && !strcmp(a, "--agents")) {
			o.agents = (unsigned)atoi(v), i++;
		} else if (v && !strcmp(a, "--instances")) {
			o.instances = (unsigned)atoi(v), i++;
		} else if (v && !strcmp(a, "--batch")) {
			o.batch = (unsigned)atoi(v), i++;
		} else if (v && !strcmp(a, "--reps")) {
			o.reps = (unsigned)atoi(v), i++;
		} else if (v && !strcmp(a, "--sim")) {
			o.sim = v, i++;
		} else if (v && !strcmp(a, "--daemon")) {
			o.daemon = v, i++;
		} else {
			fprintf(stderr, "bench_update: unknown argument %s\n", a);
			usage();
			return 2;
		}
	}
	if (!o.agents || !o.instances || !o.batch || !o.reps || o.instances > 320u * o.agents) {
		fprintf(stderr, "bench_update: counts must be > 0 (at most 320 instances per "
		                "agent: 0.1 of its 32 cpus each)\n");
		return 2;
	}
	if (!o.sim)
		bench_sibling("mesos-sim", simp, sizeof(simp)), o.sim = simp;
	if (!o.daemon)
		bench_sibling("pelotond", dp, sizeof(dp)), o.daemon = dp;
	double secs[2][16], cpu[2][16], down[2][16];
	unsigned reps = o.reps > 16 ? 16 : o.reps;
	bool ok = true;
	for (unsigned rep = 0; rep < reps && ok; rep++)
		for (int impl = 0; impl < 2 && ok; impl++) {
			struct result r = run_once(impl == 0);
			fprintf(stderr,
			        "bench_update: rep %u %s: %.2fs, cpu %.1fs, %u down at most%s\n",
			        rep, impl ? "fast" : "baseline", r.secs, r.cpu_s, r.max_down,
			        r.ok ? "" : " (the update did not succeed)");
			if (r.ok && impl && r.max_down > o.batch) {
				fprintf(stderr,
				        "bench_update: %u instances down at once, batch %u\n",
				        r.max_down, o.batch);
				r.ok = false;
			}
			ok &= r.ok;
			secs[impl][rep] = r.secs;
			cpu[impl][rep] = r.cpu_s;
			down[impl][rep] = r.max_down;
		}
	if (!ok) {
		/* a failed run gives no result line: no number stands for a failure */
		fprintf(stderr, "bench_update: a run failed; no result\n");
		return 1;
	}
	double base_rate = o.instances / bd_median(secs[0], reps);
	for (int impl = 0; impl < 2; impl++) {
		double t = bd_median(secs[impl], reps), rate = o.instances / t, most = 0;
		for (unsigned k = 0; k < reps; k++) /* the most of any run, not a median */
			most = down[impl][k] > most ? down[impl][k] : most;
		printf("{\"bench\":\"bench_update\",\"case\":\"agents=%u,instances=%u,batch=%u\","
		       "\"impl\":\"%s\",\"agents\":%u,\"instances\":%u,\"batch\":%u,"
		       "\"ops_per_s\":%.0f,\"time_to_succeeded_s\":%.3f,\"max_down\":%.0f,"
		       "\"pelotond_cpu_s\":%.2f,\"reps\":%u",
		       o.agents, o.instances, o.batch, impl ? "fast" : "baseline", o.agents,
		       o.instances, impl ? o.batch : o.instances, rate, t, most,
		       bd_median(cpu[impl], reps), reps);
		if (impl)
			printf(",\"ratio_vs_baseline\":%.2f", rate / base_rate);
		printf("}\n");
	}
	return 0;
}
