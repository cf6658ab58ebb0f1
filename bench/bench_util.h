/*
 * bench_util: shared plumbing of the bench/ programs (BENCH.md).
 *
 * A bench parses the common flags (--quick, --seed, --reps, --help), runs
 * each case's fast and baseline implementations in alternation for `reps`
 * repetitions, keeps per-op latency samples, and prints one JSON line per
 * (case, impl) with the median repetition's rate and percentiles.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct bench_opts {
	bool quick;       /* shorten everything (CI smoke) */
	uint64_t seed;    /* data generator seed */
	unsigned reps;    /* repetitions per case and impl; median reported */
	double min_secs;  /* measured time per repetition */
	const char *only; /* run only cases whose name contains this (NULL: all) */
	const char *impl; /* "fast" or "baseline": run only that (profiling); NULL: both */
};

/* True when case `name` is selected by --only. */
bool bench_selected(const struct bench_opts *o, const char *name);

/*
 * Parses argv (--quick, --seed N, --reps N, --only SUBSTRING, --impl fast|baseline,
 * --help); prints `help` (what one op
 * is, what the cases mean) for
 * --help and exits 0; exits 2 on a bad flag.
 */
void bench_parse(int argc, char **argv, const char *help, struct bench_opts *out);

static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Latency samples of one repetition. */
struct bench_samples {
	uint64_t *ns; /* per-op latencies */
	size_t n, cap;
	uint64_t ops; /* ops done (may exceed n when sampling) */
	uint64_t elapsed_ns;
};

void bench_samples_init(struct bench_samples *s, size_t cap);
void bench_samples_fini(struct bench_samples *s);
/* Records one latency; drops samples beyond capacity (ops still count). */
void bench_samples_add(struct bench_samples *s, uint64_t ns);

/* Summary of one repetition. */
struct bench_result {
	double ops_per_s;
	uint64_t p50_ns, p99_ns, p999_ns;
	bool has_latency; /* percentiles from per-op samples (else left out of the line) */
};

/* Sorts the samples and summarises them. */
struct bench_result bench_summarise(struct bench_samples *s);

/* The repetition with the median ops_per_s of `n` results. */
struct bench_result bench_median(struct bench_result *r, size_t n);

/*
 * Prints one JSON line: {"bench":..,"case":..,"impl":.., <extra>,
 * "ops_per_s":.. [,"p50_ns":..,"p99_ns":..,"p999_ns":.. when has_latency]
 * [, "ratio_vs_baseline"]}.
 * `extra` is a pre-formatted fragment of further keys ("\"hosts\":100") or
 * NULL; ratio < 0 leaves ratio_vs_baseline out.
 */
void bench_print(const char *bench, const char *case_name, const char *impl, const char *extra,
                 const struct bench_result *r, double ratio);

/*
 * Benches that run the real binaries (mesos-sim, pelotond) as processes.
 */

/* The path of binary `name` built beside the benches: <build>/src/main/<name>. */
void bench_sibling(const char *name, char *buf, size_t len);

/* Starts argv[0] with argv, stdout and stderr appended to `log` (NULL:
 * /dev/null). The child's pid, or -1. */
pid_t bench_spawn(char *const argv[], const char *log);

/*
 * Waits up to timeout_ms for a process started with --ports-file path to
 * write its bound ports ({"grpc":N,"http":N}; mesos-sim writes http only:
 * *grpc 0). 0, or -1 (it exited, or nothing came; said on stderr). Either
 * out pointer may be NULL.
 */
int bench_wait_ports(const char *path, pid_t pid, unsigned timeout_ms, unsigned *grpc,
                     unsigned *http);

/* SIGTERM, then waits for it. */
void bench_reap(pid_t pid);

/* User + system CPU seconds of a live process (0 when unknown). */
double bench_proc_cpu_s(pid_t pid);

/* Peak resident set (VmHWM) of a live process in bytes (0 when unknown). */
long bench_proc_hwm_bytes(pid_t pid);

/* Removes a directory tree the bench created (rm -rf); complains on failure. */
void bench_rmtree(const char *dir);

#endif
