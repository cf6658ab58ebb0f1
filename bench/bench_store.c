/*
 * bench_store: durable task runtime updates (src/svc/store).
 *
 * One op: one task update made durable — a versioned task runtime (the
 * writer's last version expected), its task_state index move and a task
 * event, as one batch, sync=true — counted when its completion fires.
 * fast: group commit (store_submit; each writer keeps up to 256 updates in
 * flight, as the status-update stream does, and acts on completions).
 * baseline: one WriteBatch with sync per update, written by the writer
 * itself and waited for (store_write_direct).
 * Cases: writers {1, 2, 8} over 10,000 jobs x 100 tasks (quick: 100 x 100),
 * each writer owning a disjoint set of tasks. Latency: submit to completion.
 * Then bytes per task on disk (runtime + state index + 3 events per task,
 * compacted), with zstd and without.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "store.h"

#define WINDOW 256

static size_t n_jobs, n_tasks_per_job;
static char dir[64];
static struct store *st;
static _Atomic int stop;

/* A task.RuntimeInfo-sized value (~140 bytes, mostly stable text) and an event. */
static size_t runtime_of(char *buf, size_t len, uint64_t v, uint32_t state)
{
	return (size_t)snprintf(buf, len,
	                        "state=%u host=host-%05llu agent=agent-%05llu-S0 "
	                        "mesosTaskId=job-%05llu-%llu-%llu message=\"Task is running\" "
	                        "ports=31000,31001",
	                        state, (unsigned long long)(v % 50000),
	                        (unsigned long long)(v % 50000), (unsigned long long)(v % 10000),
	                        (unsigned long long)(v % 100), (unsigned long long)v);
}

struct writer {
	unsigned id, n_writers;
	bool fast;
	uint64_t *versions; /* per owned task */
	size_t n_owned;
	_Atomic uint32_t inflight;
	struct bench_samples lat;
	uint64_t done;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* the writer sleeps here while its window is full */
};

struct pending {
	struct writer *w;
	uint64_t t0;
};

static void completed(void *arg, enum store_status s)
{
	struct pending *p = arg;
	struct writer *w = p->w;
	if (s != STORE_OK) {
		fprintf(stderr, "bench_store: update failed with status %d\n", s);
		exit(1);
	}
	pthread_mutex_lock(&w->mu);
	bench_samples_add(&w->lat, bench_now_ns() - p->t0);
	w->done++;
	if (atomic_fetch_sub(&w->inflight, 1) == WINDOW / 2 + 1)
		pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	free(p);
}

static struct store_batch *update(struct writer *w, size_t i)
{
	size_t task = i * w->n_writers + w->id; /* this writer's i-th task */
	char job[48], rt[200];
	snprintf(job, sizeof(job), "job-%05zu", task / n_tasks_per_job);
	uint32_t inst = (uint32_t)(task % n_tasks_per_job);
	uint64_t v = w->versions[i];
	uint32_t new_state = (uint32_t)((v + 1) % 3);
	size_t rl = runtime_of(rt, sizeof(rt), v + 1, new_state);
	struct store_batch *b = store_batch_new(st);
	store_task_update(b, job, inst, rt, rl, v + 1, v, new_state, rt, rl / 2, bench_now_ns(), 0);
	w->versions[i] = v + 1;
	return b;
}

static void *writer_run(void *arg)
{
	struct writer *w = arg;
	size_t i = 0;
	while (!atomic_load(&stop)) {
		struct store_batch *b = update(w, i);
		i = (i + 1) % w->n_owned;
		if (w->fast) {
			if (atomic_load(&w->inflight) >= WINDOW) {
				pthread_mutex_lock(&w->mu);
				while (atomic_load(&w->inflight) > WINDOW / 2)
					pthread_cond_wait(&w->cv, &w->mu);
				pthread_mutex_unlock(&w->mu);
			}
			struct pending *p = malloc(sizeof(*p));
			*p = (struct pending){w, bench_now_ns()};
			atomic_fetch_add(&w->inflight, 1);
			store_submit(st, b, completed, p);
		} else {
			uint64_t t0 = bench_now_ns();
			if (store_write_direct(st, b, true) != STORE_OK) {
				fprintf(stderr, "bench_store: direct write failed\n");
				exit(1);
			}
			bench_samples_add(&w->lat, bench_now_ns() - t0);
			w->done++;
		}
	}
	pthread_mutex_lock(&w->mu);
	while (atomic_load(&w->inflight) > 0) {
		struct timespec d = {0, 1000000};
		pthread_mutex_unlock(&w->mu);
		nanosleep(&d, NULL);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static struct store *open_fresh(bool compress)
{
	char err[256], cmd[128];
	if (dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			exit(1);
	}
	snprintf(dir, sizeof(dir), "/tmp/pel-bench-store-XXXXXX");
	if (mkdtemp(dir) == NULL)
		exit(1);
	struct store_config c = {.path = dir, .no_compression = !compress};
	struct store *s = store_open(&c, err, sizeof(err));
	if (s == NULL) {
		fprintf(stderr, "bench_store: %s\n", err);
		exit(1);
	}
	return s;
}

/*
 * Writes every task once in batches of 10,000 tasks: version 1, state 0,
 * `events` events each. Warm: through group commit, as the job manager
 * creates tasks, so the committer knows each task's version (as it does in
 * a running daemon); cold: written around it, so every first update reads
 * the version from RocksDB (as after a restart).
 */
static void populate(int events, bool warm)
{
	size_t total = n_jobs * n_tasks_per_job;
	char job[48], rt[200];
	for (size_t t0 = 0; t0 < total; t0 += 10000) {
		struct store_batch *b = store_batch_new(st);
		for (size_t t = t0; t < t0 + 10000 && t < total; t++) {
			snprintf(job, sizeof(job), "job-%05zu", t / n_tasks_per_job);
			size_t rl = runtime_of(rt, sizeof(rt), t, 0);
			store_task_update(b, job, (uint32_t)(t % n_tasks_per_job), rt, rl, 1,
			                  STORE_ANY_VERSION, 0, NULL, 0, 0, 0);
			for (int e = 0; e < events; e++) {
				char k[64];
				size_t kl =
				    store_key_task_event(k, job, (uint32_t)(t % n_tasks_per_job),
				                         1000000000ull * (uint64_t)(e + 1), 0);
				store_put(b, STORE_TASK_EVENTS, k, kl, rt, rl, 0,
				          STORE_ANY_VERSION);
			}
		}
		if (warm) {
			if (store_commit(st, b) != STORE_OK) {
				fprintf(stderr, "bench_store: populate failed\n");
				exit(1);
			}
		} else {
			store_write_direct(st, b, false);
		}
	}
}

static struct bench_result run(bool fast, unsigned n_writers, double secs, uint64_t *groups)
{
	struct writer w[8];
	pthread_t th[8];
	size_t total = n_jobs * n_tasks_per_job;
	struct store_stats s0, s1;

	store_get_stats(st, &s0);
	atomic_store(&stop, 0);
	for (unsigned i = 0; i < n_writers; i++) {
		w[i] = (struct writer){.id = i, .n_writers = n_writers, .fast = fast};
		w[i].n_owned = total / n_writers;
		w[i].versions = malloc(w[i].n_owned * sizeof(uint64_t));
		for (size_t k = 0; k < w[i].n_owned; k++)
			w[i].versions[k] = 1;
		pthread_mutex_init(&w[i].mu, NULL);
		pthread_cond_init(&w[i].cv, NULL);
		bench_samples_init(&w[i].lat, 1u << 21);
	}
	/* every run starts on a freshly populated store: all versions are 1 */
	uint64_t t0 = bench_now_ns();
	for (unsigned i = 0; i < n_writers; i++)
		pthread_create(&th[i], NULL, writer_run, &w[i]);
	struct timespec d = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
	nanosleep(&d, NULL);
	atomic_store(&stop, 1);
	for (unsigned i = 0; i < n_writers; i++)
		pthread_join(th[i], NULL);
	uint64_t elapsed = bench_now_ns() - t0;
	struct bench_samples all;
	bench_samples_init(&all, (size_t)n_writers << 21);
	for (unsigned i = 0; i < n_writers; i++) {
		for (size_t k = 0; k < w[i].lat.n; k++)
			bench_samples_add(&all, w[i].lat.ns[k]);
		all.ops += w[i].done - (w[i].lat.n < w[i].done ? w[i].lat.n : w[i].done);
		bench_samples_fini(&w[i].lat);
		free(w[i].versions);
		pthread_mutex_destroy(&w[i].mu);
		pthread_cond_destroy(&w[i].cv);
	}
	all.ops += all.n;
	all.elapsed_ns = elapsed;
	struct bench_result r = bench_summarise(&all);
	bench_samples_fini(&all);
	store_get_stats(st, &s1);
	*groups = s1.groups - s0.groups;
	if (getenv("BENCH_STORE_DEBUG"))
		fprintf(stderr,
		        "groups %llu, %.2f ms in RocksDB writes per group, committer %.0f ns "
		        "CPU per op\n",
		        (unsigned long long)*groups,
		        *groups ? (double)(s1.write_ns - s0.write_ns) / 1e6 / (double)*groups : 0,
		        (double)(s1.commit_cpu_ns - s0.commit_cpu_ns) /
		            (double)(s1.batches - s0.batches + 1));
	if (s1.stale != s0.stale) {
		fprintf(stderr, "bench_store: %llu stale updates (writers must own their tasks)\n",
		        (unsigned long long)(s1.stale - s0.stale));
		exit(1);
	}
	return r;
}

int main(int argc, char **argv)
{
	static const char help[] =
	    "One op: one task update (versioned runtime tagged with its state + event,\n"
	    "one batch) made durable with sync=true, counted at its completion.\n"
	    "fast = group commit (store_submit, up to 256 in flight per writer);\n"
	    "baseline = one WriteBatch with sync per update, waited for by its writer.\n"
	    "Cases: writers {1,2,8}; 10,000 jobs x 100 tasks (quick: 100 x 100), created\n"
	    "through group commit as the job manager does (the committer knows their\n"
	    "versions); writers=8,cold: created around it, so each first update reads\n"
	    "its version from RocksDB (the first minutes after a restart).\n"
	    "Also: bytes per task on disk after compaction, zstd vs none.";
	static const unsigned writers[] = {1, 2, 8, 8};
	struct bench_opts o;

	bench_parse(argc, argv, help, &o);
	n_jobs = o.quick ? 100 : 10000;
	n_tasks_per_job = 100;
	double secs = o.quick ? 0.3 : 2.0;
	unsigned reps = o.quick ? 1 : (o.reps ? o.reps : 3);
	if (reps > 5)
		reps = 5;
	for (int wi = 0; wi < 4; wi++) {
		char cname[64];
		bool warm = wi < 3;
		snprintf(cname, sizeof(cname), "writers=%u%s", writers[wi], warm ? "" : ",cold");
		if (!bench_selected(&o, cname))
			continue;
		struct bench_result f[5], b[5];
		uint64_t fg[5], bg[5];
		for (unsigned r = 0; r < reps; r++) {
			st = open_fresh(true);
			populate(0, warm);
			if (!o.impl || o.impl[0] == 'b')
				b[r] = run(false, writers[wi], secs, &bg[r]);
			store_close(st);
			st = open_fresh(true);
			populate(0, warm);
			if (!o.impl || o.impl[0] == 'f')
				f[r] = run(true, writers[wi], secs, &fg[r]);
			store_close(st);
		}
		char extra[160];
		struct bench_result bm = bench_median(b, reps), fm = bench_median(f, reps);
		snprintf(extra, sizeof(extra), "\"writers\":%u,\"tasks\":%zu,\"sync\":true",
		         writers[wi], n_jobs * n_tasks_per_job);
		if (!o.impl || o.impl[0] == 'b')
			bench_print("bench_store", cname, "baseline", extra, &bm, -1);
		if (!o.impl || o.impl[0] == 'f') {
			char e2[220];
			snprintf(e2, sizeof(e2), "%s,\"updates_per_group\":%.1f", extra,
			         fg[reps / 2] ? fm.ops_per_s * secs / (double)fg[reps / 2] : 0);
			bench_print("bench_store", cname, "fast", e2, &fm,
			            o.impl ? -1 : fm.ops_per_s / bm.ops_per_s);
		}
	}
	if (bench_selected(&o, "disk")) {
		/* every task's runtime and state index plus 3 events, compacted */
		for (int z = 1; z >= 0; z--) {
			st = open_fresh(z);
			populate(3, false);
			store_compact(st);
			uint64_t bytes = store_disk_bytes(st);
			printf("{\"bench\":\"bench_store\",\"case\":\"disk\",\"impl\":\"%s\","
			       "\"tasks\":%zu,\"bytes_on_disk\":%llu,\"bytes_per_task\":%.1f}\n",
			       z ? "zstd" : "none", n_jobs * n_tasks_per_job,
			       (unsigned long long)bytes,
			       (double)bytes / (double)(n_jobs * n_tasks_per_job));
			store_close(st);
		}
	}
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}
