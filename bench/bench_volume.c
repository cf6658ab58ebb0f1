#define _GNU_SOURCE /* timegm */
/*
 * bench_volume: the first launch of stateful tasks against plain ones, end
 * to end — mesos-sim with N agents and pelotond as separate processes on
 * loopback (started once for the run); SERVICE jobs of M instances
 * created one after the other, alternating: impl=baseline without a
 * volume, impl=fast with `volume` (each first launch is one ACCEPT with
 * RESERVE, CREATE and LAUNCH; the volume record is written with the launch
 * intent and the task's first RUNNING makes it CREATED).
 *
 * One op = one instance from JobManager.Create to RUNNING: ops_per_s = M /
 * (time from Create until every instance runs, polled every 10 ms); the
 * per-op latency samples are each task's startTime (the job manager's
 * clock when RUNNING arrived, in milliseconds) less the time Create was
 * sent. Each job is stopped and deleted after its rep (a stateful one's
 * volumes destroyed once their hosts offer them). A warm-up job of each
 * kind first, not counted; then the median of --reps.
 */
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
	const char *sim, *daemon;
} o = {200, 1000, 5, NULL, NULL};

static void usage(void)
{
	printf("usage: bench_volume [--quick] [--agents N] [--instances N] [--reps N]\n"
	       "                    [--sim PATH] [--daemon PATH]\n"
	       "One op = one instance of a SERVICE job from JobManager.Create to RUNNING (see\n"
	       "the header of bench_volume.c). impl=fast: every instance has a persistent\n"
	       "volume (its first launch reserves, creates and launches in one ACCEPT);\n"
	       "impl=baseline: the same job without one. p50/p99 are per instance (Create to\n"
	       "its startTime, millisecond resolution). Defaults: 200 agents, 1000 instances,\n"
	       "5 reps; --quick: 20 agents, 100 instances, 1 rep. A rep whose instances do not\n"
	       "all run within 120 s prints no result.\n");
}

static uint64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* "2026-12-04T22:04:21.876Z" as wall-clock ns; 0 when unreadable. */
static uint64_t parse_time(const char *s)
{
	struct tm tm = {0};
	unsigned ms = 0;
	if (!s || sscanf(s, "%d-%d-%dT%d:%d:%d.%uZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	                 &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	time_t t = timegm(&tm);
	return t < 0 ? 0 : (uint64_t)t * 1000000000ull + (uint64_t)ms * 1000000ull;
}

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

/* Every task's startTime less t0 into s; false when one is missing. */
static bool latencies(struct grpccli *d, const char *jid, uint64_t t0, struct bench_samples *s)
{
	char req[128];
	snprintf(req, sizeof(req), "{\"jobId\":{\"value\":\"%s\"}}", jid);
	json_t *j = bd_call(d, "peloton.api.task.TaskManager", "List", req, false);
	json_t *m = json_object_get(json_object_get(j, "result"), "value");
	const char *k;
	json_t *v;
	size_t n = 0;
	json_object_foreach(m, k, v)
	{
		uint64_t st = parse_time(
		    json_string_value(json_object_get(json_object_get(v, "runtime"), "startTime")));
		if (st) {
			bench_samples_add(s, st > t0 ? st - t0 : 0);
			n++;
		}
	}
	json_decref(j);
	return n == o.instances;
}

static void stop_delete(struct grpccli *d, const char *jid)
{
	char req[128];
	snprintf(req, sizeof(req), "{\"jobId\":{\"value\":\"%s\"}}", jid);
	json_decref(bd_call(d, "peloton.api.task.TaskManager", "Stop", req, true));
	snprintf(req, sizeof(req), "{\"id\":{\"value\":\"%s\"}}", jid);
	for (int i = 0; i < 600; i++) { /* deleted once terminal */
		json_t *j = bd_call(d, "peloton.api.job.JobManager", "Get", req, true);
		const char *st = json_string_value(json_object_get(
		    json_object_get(json_object_get(j, "jobInfo"), "runtime"), "state"));
		bool done = st && !strcmp(st, "KILLED");
		json_decref(j);
		if (done)
			break;
		usleep(100000);
	}
	json_decref(bd_call(d, "peloton.api.job.JobManager", "Delete", req, true));
}

/* One job of M instances, stateful or not, to all RUNNING; false on failure. */
static bool one_rep(struct grpccli *d, const char *pool, bool volume, unsigned rep,
                    struct bench_result *out)
{
	char req[1024], jid[64] = "";
	snprintf(req, sizeof(req),
	         "{\"config\":{\"name\":\"bench-%s-%u\",\"type\":\"SERVICE\",\"instanceCount\":%u,"
	         "\"respoolID\":{\"value\":\"%s\"},\"defaultConfig\":{\"resource\":{"
	         "\"cpuLimit\":0.1,\"memLimitMb\":32,\"diskLimitMb\":16},%s\"command\":{"
	         "\"shell\":true,\"value\":\"serve\"}}}}",
	         volume ? "vol" : "plain", rep, o.instances, pool,
	         volume ? "\"volume\":{\"containerPath\":\"data\",\"sizeMB\":64}," : "");
	uint64_t t0 = wall_ns(), m0 = bench_now_ns();
	json_t *j = bd_call(d, "peloton.api.job.JobManager", "Create", req, false);
	const char *js = json_string_value(json_object_get(json_object_get(j, "jobId"), "value"));
	snprintf(jid, sizeof(jid), "%s", js ? js : "");
	json_decref(j);
	if (!jid[0])
		return false;
	uint64_t deadline = m0 + 120ull * 1000000000ull;
	long n = 0;
	while ((n = running(d, jid)) < (long)o.instances && n >= 0 && bench_now_ns() < deadline)
		usleep(10000);
	uint64_t took = bench_now_ns() - m0;
	struct bench_samples s;
	bench_samples_init(&s, o.instances);
	bool ok = n == (long)o.instances && latencies(d, jid, t0, &s);
	if (ok) {
		s.ops = o.instances;
		s.elapsed_ns = took;
		*out = bench_summarise(&s);
	} else {
		fprintf(stderr, "bench_volume: %s job: %ld of %u instances running after %.1f s\n",
		        volume ? "stateful" : "plain", n, o.instances, (double)took / 1e9);
	}
	bench_samples_fini(&s);
	stop_delete(d, jid);
	return ok;
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
			o.agents = 20, o.instances = 100, o.reps = 1;
		} else if (v && !strcmp(a, "--agents")) {
			o.agents = (unsigned)atoi(v), i++;
		} else if (v && !strcmp(a, "--instances")) {
			o.instances = (unsigned)atoi(v), i++;
		} else if (v && !strcmp(a, "--reps")) {
			o.reps = (unsigned)atoi(v), i++;
		} else if (v && !strcmp(a, "--sim")) {
			o.sim = v, i++;
		} else if (v && !strcmp(a, "--daemon")) {
			o.daemon = v, i++;
		} else {
			fprintf(stderr, "bench_volume: unknown argument %s\n", a);
			usage();
			return 2;
		}
	}
	if (!o.agents || !o.instances || !o.reps || o.reps > 32 || o.instances > 100u * o.agents) {
		fprintf(stderr, "bench_volume: counts must be > 0, reps at most 32, at most 100 "
		                "instances per agent\n");
		return 2;
	}
	if (!o.sim)
		bench_sibling("mesos-sim", simp, sizeof(simp)), o.sim = simp;
	if (!o.daemon)
		bench_sibling("pelotond", dp, sizeof(dp)), o.daemon = dp;
	char dir[] = "/tmp/bench_volume.XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	unsigned sport = 0;
	pid_t sim, d;
	struct grpccli *c;
	bd_start_pair("bench_volume", dir, o.sim, o.daemon, o.agents, "86400", &sim, &d, &sport,
	              &c);
	char pool[64] = "";
	bool ok = c && bd_wait_capacity(c, o.agents) && bd_create_pool(c, pool, sizeof(pool));
	struct bench_result r[2][32], warm;
	/* a warm-up job of each kind, not counted (the first job after the start pays
	 * for cold caches and the first offers) */
	for (int impl = 0; impl < 2 && ok; impl++)
		ok = one_rep(c, pool, impl == 1, 99, &warm);
	for (unsigned rep = 0; rep < o.reps && ok; rep++)
		for (int impl = 0; impl < 2 && ok; impl++) {
			ok = one_rep(c, pool, impl == 1, rep, &r[impl][rep]);
			if (ok)
				fprintf(stderr,
				        "bench_volume: rep %u %s: %.0f instances/s, p50 %.1f ms\n",
				        rep, impl ? "stateful" : "plain", r[impl][rep].ops_per_s,
				        (double)r[impl][rep].p50_ns / 1e6);
		}
	double cpu = d > 0 ? bench_proc_cpu_s(d) : 0;
	if (d > 0)
		bench_reap(d);
	if (sim > 0)
		bench_reap(sim);
	grpccli_destroy(c);
	if (!ok) {
		/* a failed run gives no result line: no number stands for a failure */
		fprintf(stderr, "bench_volume: a run failed; no result (logs kept in %s)\n", dir);
		return 1;
	}
	bench_rmtree(dir);
	struct bench_result base = bench_median(r[0], o.reps), fast = bench_median(r[1], o.reps);
	char cs[96], extra[160];
	snprintf(cs, sizeof(cs), "agents=%u,instances=%u", o.agents, o.instances);
	snprintf(extra, sizeof(extra),
	         "\"agents\":%u,\"instances\":%u,\"reps\":%u,\"pelotond_cpu_s_whole_run\":%.1f",
	         o.agents, o.instances, o.reps, cpu);
	bench_print("bench_volume", cs, "baseline", extra, &base, -1);
	bench_print("bench_volume", cs, "fast", extra, &fast, fast.ops_per_s / base.ops_per_s);
	return 0;
}
