/*
 * bench_mesos: launching tasks through the Mesos client over HTTP against
 * mesos-sim (a separate process, so its CPU is measured apart).
 *
 * One op: one task from the client's launch call to its RUNNING update
 * (acknowledged, as the real path does). As on a Mesos agent, RUNNING
 * follows only once TASK_STARTING is acknowledged: every task's path holds
 * one ACKNOWLEDGE call (pass --sim a wrapper adding --no-starting to see
 * the path without it).
 * fast: launches coalesced per agent (mesos_client_launch, 2 ms window):
 *       on each offer, `per_agent` tasks are launched one call each and
 *       leave as one ACCEPT.
 * baseline: one ACCEPT per task (batch of 1), so one task per offer; the
 *       agent's remainder comes back in the next offer (upstream's shape
 *       without batching).
 * Cases: 10,000 agents, 100,000 tasks (quick: 500 agents, 5,000 tasks);
 * --agents N --tasks N for others (50,000 and 1,000,000 is the scale the
 * simulator must hold). Each impl runs --reps times (at most 3 here); the
 * median run by tasks/s is reported.
 * Usage: bench_mesos [--quick] [--sim PATH] [--agents N] [--tasks N]
 *        (PATH default: next to this program, ../src/main/mesos-sim)
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "bench_util.h"
#include "client.h"
#include "proto_codec.h"

static size_t n_tasks, per_agent;
static _Atomic size_t launched, running;
static uint64_t *t_launch, *t_running;
static struct mesos_client *cl;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void launch_on(const Mesos__V1__Offer *o)
{
	double cpus = 0;
	for (size_t i = 0; i < o->n_resources; i++)
		if (strcmp(o->resources[i]->name, "cpus") == 0 && o->resources[i]->scalar)
			cpus = o->resources[i]->scalar->value;
	size_t k = per_agent;
	if (k > (size_t)cpus)
		k = (size_t)cpus;
	const char *ids[1] = {o->id->value};
	for (size_t j = 0; j < k; j++) {
		size_t n = atomic_fetch_add(&launched, 1);
		if (n >= n_tasks) {
			atomic_fetch_sub(&launched, 1);
			return;
		}
		char id[32];
		snprintf(id, sizeof(id), "t-%zu", n);
		Mesos__V1__TaskInfo ti = MESOS__V1__TASK_INFO__INIT, *tp = &ti;
		Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
		Mesos__V1__Resource r[2], *rp[2] = {&r[0], &r[1]};
		Mesos__V1__Value__Scalar sc[2];
		for (int i = 0; i < 2; i++) {
			mesos__v1__resource__init(&r[i]);
			mesos__v1__value__scalar__init(&sc[i]);
			r[i].type = MESOS__V1__VALUE__TYPE__SCALAR;
			r[i].scalar = &sc[i];
		}
		r[0].name = "cpus";
		sc[0].value = 1;
		r[1].name = "mem";
		sc[1].value = 64;
		tid.value = id;
		ti.name = id;
		ti.task_id = &tid;
		ti.agent_id = o->agent_id;
		ti.n_resources = 2;
		ti.resources = rp;
		t_launch[n] = bench_now_ns();
		mesos_client_launch(cl, o->agent_id->value, ids, 1, &tp, 1);
	}
}

static void on_event(void *arg, const Mesos__V1__Scheduler__Event *ev)
{
	(void)arg;
	if (ev->offers) {
		for (size_t i = 0; i < ev->offers->n_offers; i++)
			launch_on(ev->offers->offers[i]);
	} else if (ev->update) {
		const Mesos__V1__TaskStatus *st = ev->update->status;
		if (st->state == MESOS__V1__TASK_STATE__TASK_RUNNING &&
		    strncmp(st->task_id->value, "t-", 2) == 0) {
			size_t n = strtoull(st->task_id->value + 2, NULL, 10);
			pthread_mutex_lock(&mu);
			if (n < n_tasks && t_running[n] == 0) {
				t_running[n] = bench_now_ns();
				atomic_fetch_add(&running, 1);
			}
			pthread_mutex_unlock(&mu);
		}
		if (st->has_uuid)
			mesos_client_acknowledge(cl, st);
	}
}

/* CPU seconds used so far by process pid (utime + stime from /proc). */
struct run {
	struct bench_result r;
	double accepts_per_task, sim_cpu_share;
	long sim_rss;
	size_t done;
};

static struct run run_once(const char *sim_path, bool fast, unsigned agents)
{
	struct run out = {0};
	int pfd[2];
	if (pipe(pfd) != 0)
		exit(1);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		char a[32];
		snprintf(a, sizeof(a), "%u", agents);
		execl(sim_path, sim_path, "--port", "0", "--agents", a, "--task-secs", "36000",
		      "--log-level", "warn", (char *)NULL);
		fprintf(stderr, "bench_mesos: cannot run %s: %s\n", sim_path, strerror(errno));
		_exit(1);
	}
	close(pfd[1]);
	char line[128] = "";
	FILE *f = fdopen(pfd[0], "r");
	if (f == NULL || fgets(line, sizeof(line), f) == NULL) {
		fprintf(stderr, "bench_mesos: mesos-sim did not start (%s)\n", sim_path);
		exit(1);
	}
	const char *port = strrchr(line, ':');
	if (port == NULL || atoi(port + 1) <= 0) {
		fprintf(stderr, "bench_mesos: mesos-sim said no port: %s", line);
		exit(1);
	}
	char master[64];
	snprintf(master, sizeof(master), "127.0.0.1:%d", atoi(port + 1));

	atomic_store(&launched, 0);
	atomic_store(&running, 0);
	t_launch = calloc(n_tasks, sizeof(uint64_t));
	t_running = calloc(n_tasks, sizeof(uint64_t));
	per_agent = fast ? 20 : 1;
	struct mesos_client_config cfg = {.master = master,
	                                  .batch_window_ms = 2,
	                                  .batch_max_tasks = fast ? 512 : 1,
	                                  .on_event = on_event};
	char err[256];
	double sim0 = bench_proc_cpu_s(pid);
	uint64_t t0 = bench_now_ns();
	cl = mesos_client_start(&cfg, err, sizeof(err));
	if (cl == NULL) {
		fprintf(stderr, "bench_mesos: %s\n", err);
		exit(1);
	}
	while (atomic_load(&running) < n_tasks && bench_now_ns() - t0 < 300ull * 1000000000ull) {
		struct timespec d = {0, 2000000};
		nanosleep(&d, NULL);
	}
	uint64_t elapsed = bench_now_ns() - t0;
	double sim_cpu = bench_proc_cpu_s(pid) - sim0;
	out.sim_rss = bench_proc_hwm_bytes(pid);
	struct mesos_client_stats cs;
	mesos_client_get_stats(cl, &cs);
	mesos_client_stop(cl);
	bench_reap(pid);
	fclose(f);
	struct bench_samples s;
	bench_samples_init(&s, n_tasks);
	for (size_t i = 0; i < n_tasks; i++)
		if (t_running[i] && t_launch[i])
			bench_samples_add(&s, t_running[i] - t_launch[i]);
	out.done = atomic_load(&running);
	s.ops = out.done;
	s.elapsed_ns = elapsed;
	out.r = bench_summarise(&s);
	bench_samples_fini(&s);
	out.accepts_per_task = out.done ? (double)cs.accepts / (double)out.done : 0;
	out.sim_cpu_share = elapsed ? sim_cpu / ((double)elapsed / 1e9) : 0;
	free(t_launch);
	free(t_running);
	return out;
}

/* The median of `reps` runs by tasks/s. */
static struct run run_median(const char *sim_path, bool fast, unsigned agents, unsigned reps)
{
	struct run runs[3];
	for (unsigned i = 0; i < reps; i++)
		runs[i] = run_once(sim_path, fast, agents);
	for (unsigned i = 1; i < reps; i++)
		for (unsigned k = i; k > 0 && runs[k].r.ops_per_s < runs[k - 1].r.ops_per_s; k--) {
			struct run t = runs[k];
			runs[k] = runs[k - 1];
			runs[k - 1] = t;
		}
	return runs[reps / 2];
}

int main(int argc, char **argv)
{
	static const char help[] =
	    "One op: one task from the client's launch to its RUNNING update, over HTTP\n"
	    "against mesos-sim (its own process). fast = launches coalesced per agent\n"
	    "(20 per offer, one ACCEPT); baseline = one ACCEPT per task, one task per\n"
	    "offer. Cases: 10,000 agents and 100,000 tasks (quick: 500 and 5,000).\n"
	    "--sim PATH names mesos-sim (default: ../src/main/mesos-sim next to this).";
	char sim_path[PATH_MAX] = "";
	long want_agents = 0, want_tasks = 0;
	/* --sim, --agents and --tasks are ours; the rest are the common flags */
	int ac = 0;
	char *av[argc + 1];
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--sim") == 0 && i + 1 < argc) {
			snprintf(sim_path, sizeof(sim_path), "%s", argv[++i]);
		} else if ((strcmp(argv[i], "--agents") == 0 || strcmp(argv[i], "--tasks") == 0) &&
		           i + 1 < argc) {
			long *v = argv[i][2] == 'a' ? &want_agents : &want_tasks;
			char *end;
			*v = strtol(argv[i + 1], &end, 10);
			if (*end != '\0' || *v < 1 || *v > 10000000) {
				fprintf(stderr, "bench_mesos: %s wants a count, not '%s'\n",
				        argv[i], argv[i + 1]);
				return 2;
			}
			i++;
		} else {
			av[ac++] = argv[i];
		}
	}
	av[ac] = NULL;
	struct bench_opts o;
	bench_parse(ac, av, help, &o);
	if (!sim_path[0])
		bench_sibling("mesos-sim", sim_path, sizeof(sim_path));
	curl_global_init(CURL_GLOBAL_DEFAULT);
	unsigned agents = want_agents ? (unsigned)want_agents : o.quick ? 500 : 10000;
	n_tasks = want_tasks ? (size_t)want_tasks : o.quick ? 5000 : 100000;
	unsigned reps = o.quick ? 1 : o.reps < 3 ? o.reps : 3;
	char cname[64], extra[200];
	snprintf(cname, sizeof(cname), "agents=%u,tasks=%zu", agents, n_tasks);
	struct run b = {0}, f = {0};
	if (!o.impl || o.impl[0] == 'b')
		b = run_median(sim_path, false, agents, reps);
	if (!o.impl || o.impl[0] == 'f')
		f = run_median(sim_path, true, agents, reps);
	snprintf(extra, sizeof(extra),
	         "\"tasks_running\":%zu,\"accepts_per_task\":%.3f,\"sim_cpu_share\":%.2f,"
	         "\"sim_rss_bytes\":%ld",
	         b.done, b.accepts_per_task, b.sim_cpu_share, b.sim_rss);
	if (!o.impl || o.impl[0] == 'b')
		bench_print("bench_mesos", cname, "baseline", extra, &b.r, -1);
	snprintf(extra, sizeof(extra),
	         "\"tasks_running\":%zu,\"accepts_per_task\":%.3f,\"sim_cpu_share\":%.2f,"
	         "\"sim_rss_bytes\":%ld",
	         f.done, f.accepts_per_task, f.sim_cpu_share, f.sim_rss);
	if (!o.impl || o.impl[0] == 'f')
		bench_print("bench_mesos", cname, "fast", extra, &f.r,
		            b.r.ops_per_s > 0 ? f.r.ops_per_s / b.r.ops_per_s : -1);
	curl_global_cleanup();
	bool all = (o.impl && o.impl[0] == 'b' ? b.done : f.done) == n_tasks;
	return all ? 0 : 1;
}
