/* See bench_util.h. */
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"

void bench_parse(int argc, char **argv, const char *help, struct bench_opts *out)
{
	static const struct option opts[] = {
	    {"quick", no_argument, NULL, 'q'},
	    {"seed", required_argument, NULL, 's'},
	    {"reps", required_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'},
	    {"only", required_argument, NULL, 'o'},
	    {"impl", required_argument, NULL, 'i'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	*out = (struct bench_opts){.quick = false, .seed = 42, .reps = 5, .min_secs = 1.0};
	while ((c = getopt_long(argc, argv, "qs:r:ho:i:", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out->only = optarg;
			break;
		case 'i':
			if (strcmp(optarg, "fast") != 0 && strcmp(optarg, "baseline") != 0) {
				fprintf(stderr, "%s: --impl must be fast or baseline\n", argv[0]);
				exit(2);
			}
			out->impl = optarg;
			break;
		case 'q':
			out->quick = true;
			break;
		case 's':
			out->seed = strtoull(optarg, NULL, 10);
			break;
		case 'r':
			out->reps = (unsigned)atoi(optarg);
			if (out->reps == 0 || out->reps > 100) {
				fprintf(stderr, "%s: --reps must be 1..100\n", argv[0]);
				exit(2);
			}
			break;
		case 'h':
			printf("usage: %s [--quick] [--seed N] [--reps N] [--only "
			       "CASE-SUBSTRING]\n\n%s\n",
			       argv[0], help);
			exit(0);
		default:
			fprintf(stderr,
			        "usage: %s [--quick] [--seed N] [--reps N] [--only CASE] [--impl "
			        "I] [--help]\n",
			        argv[0]);
			exit(2);
		}
	}
	if (out->quick) {
		out->reps = out->reps > 3 ? 3 : out->reps;
		out->min_secs = 0.05;
	}
}

bool bench_selected(const struct bench_opts *o, const char *name)
{
	return o->only == NULL || strstr(name, o->only) != NULL;
}

void bench_samples_init(struct bench_samples *s, size_t cap)
{
	*s = (struct bench_samples){.ns = malloc(cap * sizeof(uint64_t)), .cap = cap};
	if (s->ns == NULL) {
		fprintf(stderr, "bench: out of memory\n");
		exit(1);
	}
}

void bench_samples_fini(struct bench_samples *s)
{
	free(s->ns);
	s->ns = NULL;
}

void bench_samples_add(struct bench_samples *s, uint64_t ns)
{
	if (s->n < s->cap)
		s->ns[s->n++] = ns;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t pct(const struct bench_samples *s, double p)
{
	if (s->n == 0)
		return 0;
	size_t i = (size_t)(p * (double)(s->n - 1) + 0.5);
	return s->ns[i];
}

struct bench_result bench_summarise(struct bench_samples *s)
{
	struct bench_result r = {0};

	qsort(s->ns, s->n, sizeof(uint64_t), cmp_u64);
	if (s->elapsed_ns > 0)
		r.ops_per_s = (double)s->ops * 1e9 / (double)s->elapsed_ns;
	r.p50_ns = pct(s, 0.50);
	r.p99_ns = pct(s, 0.99);
	r.p999_ns = pct(s, 0.999);
	r.has_latency = s->n > 0;
	return r;
}

static int cmp_rate(const void *a, const void *b)
{
	double x = ((const struct bench_result *)a)->ops_per_s;
	double y = ((const struct bench_result *)b)->ops_per_s;
	return x < y ? -1 : x > y;
}

struct bench_result bench_median(struct bench_result *r, size_t n)
{
	qsort(r, n, sizeof(*r), cmp_rate);
	return r[n / 2];
}

void bench_print(const char *bench, const char *case_name, const char *impl, const char *extra,
                 const struct bench_result *r, double ratio)
{
	printf("{\"bench\":\"%s\",\"case\":\"%s\",\"impl\":\"%s\"%s%s,\"ops_per_s\":%.1f", bench,
	       case_name, impl, extra ? "," : "", extra ? extra : "", r->ops_per_s);
	if (r->has_latency) /* percentiles only from per-op samples */
		printf(",\"p50_ns\":%llu,\"p99_ns\":%llu,\"p999_ns\":%llu",
		       (unsigned long long)r->p50_ns, (unsigned long long)r->p99_ns,
		       (unsigned long long)r->p999_ns);
	if (ratio >= 0)
		printf(",\"ratio_vs_baseline\":%.3f", ratio);
	printf("}\n");
	fflush(stdout);
}

void bench_sibling(const char *name, char *buf, size_t len)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	char *slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	snprintf(buf, len, "%.3000s/../src/main/%s", exe, name);
}

pid_t bench_spawn(char *const argv[], const char *log)
{
	pid_t p = fork();
	if (p == 0) {
		int fd = log ? open(log, O_WRONLY | O_CREAT | O_APPEND, 0644)
		             : open("/dev/null", O_WRONLY);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	return p;
}

int bench_wait_ports(const char *path, pid_t pid, unsigned timeout_ms, unsigned *grpc,
                     unsigned *http)
{
	for (unsigned waited = 0; waited <= timeout_ms; waited += 20) {
		FILE *f = fopen(path, "r");
		char buf[128] = "";
		size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
		if (f)
			fclose(f);
		buf[n] = '\0';
		const char *g = strstr(buf, "\"grpc\":"), *h = strstr(buf, "\"http\":");
		if (h != NULL) {
			if (grpc)
				*grpc = g ? (unsigned)atoi(g + 7) : 0;
			if (http)
				*http = (unsigned)atoi(h + 7);
			return 0;
		}
		if (waitpid(pid, NULL, WNOHANG) != 0) {
			fprintf(stderr, "bench: process %d exited before it listened\n", (int)pid);
			return -1;
		}
		usleep(20000);
	}
	fprintf(stderr, "bench: no ports in %s after %u ms\n", path, timeout_ms);
	return -1;
}

void bench_reap(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

long bench_proc_hwm_bytes(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	long kb = 0;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb * 1024;
}

double bench_proc_cpu_s(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	unsigned long ut = 0, st = 0;
	if (p == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

void bench_rmtree(const char *dir)
{
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench: could not remove %s\n", dir);
}
