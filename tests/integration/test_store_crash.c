/*
 * Crash test for the store's group commit. A child process writes task
 * updates from 4 threads through store_submit; each batch is a task
 * runtime, its event and a companion key in another column family. Only
 * when a batch's completion fires does the child append its sequence
 * number to a side file. The parent SIGKILLs the child at a random moment,
 * reopens the database and checks: every acknowledged batch is present,
 * and no batch is half visible (an event without its companion or the
 * reverse). Repeated --rounds times (default 12), each round continuing
 * the same database.
 * Usage: test_store_crash [--rounds N] [--seed N]
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

#define THREADS 4

static char dir[64], side[96];
static int side_fd;
static uint64_t base;
static _Atomic uint64_t next_seq;

static void die(const char *fmt, const char *a)
{
	fprintf(stderr, "test_store_crash: ");
	fprintf(stderr, fmt, a);
	fputc('\n', stderr);
	exit(1);
}

static void acked(void *arg, enum store_status st)
{
	uint64_t seq = (uint64_t)(uintptr_t)arg;
	if (st != STORE_OK)
		return;
	char line[32];
	int n = snprintf(line, sizeof(line), "%llu\n", (unsigned long long)seq);
	if (write(side_fd, line, (size_t)n) != n)
		_exit(3);
}

static struct store *s;

static void *writer(void *arg)
{
	(void)arg;
	for (;;) {
		uint64_t seq = atomic_fetch_add(&next_seq, 1);
		char job[32], rt[32], k[64];
		snprintf(job, sizeof(job), "job-%llu", (unsigned long long)(seq % 7));
		snprintf(rt, sizeof(rt), "runtime-%llu", (unsigned long long)seq);
		struct store_batch *b = store_batch_new(s);
		store_task_update(b, job, (uint32_t)(seq % 100), rt, strlen(rt), 0,
		                  STORE_ANY_VERSION, 0, rt, strlen(rt), seq, 0);
		size_t kl = (size_t)snprintf(k, sizeof(k), "%020llu", (unsigned long long)seq);
		store_put(b, STORE_UPDATES, k, kl, job, strlen(job), 0, STORE_ANY_VERSION);
		store_submit(s, b, acked, (void *)(uintptr_t)seq);
		if (seq % 64 == 0) {
			struct timespec d = {0, 200000};
			nanosleep(&d, NULL);
		}
	}
	return NULL;
}

static void child(void)
{
	char err[256];
	struct store_config c = {.path = dir};
	s = store_open(&c, err, sizeof(err));
	if (s == NULL)
		die("%s", err);
	side_fd = open(side, O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (side_fd < 0)
		die("cannot open %s", side);
	atomic_store(&next_seq, base);
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, writer, NULL);
	for (;;)
		pause(); /* until SIGKILL */
}

/* Events present in the database, as a set of sequence numbers. */
struct evset {
	uint8_t *bits;
	uint64_t cap;
	uint64_t n;
};

static bool note_event(void *arg, const void *key, size_t klen, const void *val, size_t vlen,
                       uint64_t version)
{
	struct evset *e = arg;
	(void)key;
	(void)klen;
	(void)version;
	char buf[40];
	snprintf(buf, sizeof(buf), "%.*s", (int)vlen, (const char *)val);
	uint64_t seq = strtoull(buf + strlen("runtime-"), NULL, 10);
	if (seq < e->cap) {
		e->bits[seq / 8] |= (uint8_t)(1u << (seq % 8));
		e->n++;
	}
	return true;
}

static bool note_companion(void *arg, const void *key, size_t klen, const void *val, size_t vlen,
                           uint64_t version)
{
	struct evset *e = arg;
	(void)val;
	(void)vlen;
	(void)version;
	char buf[32];
	snprintf(buf, sizeof(buf), "%.*s", (int)klen, (const char *)key);
	uint64_t seq = strtoull(buf, NULL, 10);
	if (seq >= e->cap || !(e->bits[seq / 8] & (1u << (seq % 8))))
		die("half a batch visible: companion %s without its event", buf);
	e->n--;
	return true;
}

static uint64_t check(uint64_t cap)
{
	char err[256];
	struct store_config c = {.path = dir};
	struct store *st = store_open(&c, err, sizeof(err));
	if (st == NULL)
		die("reopen failed: %s", err);
	struct evset e = {calloc(cap / 8 + 1, 1), cap, 0};
	store_scan(st, STORE_TASK_EVENTS, "", 0, false, note_event, &e);
	uint64_t events = e.n;
	store_scan(st, STORE_UPDATES, "", 0, false, note_companion, &e);
	if (e.n != 0)
		die("half a batch visible: %s events without companions", "some");
	/* every acknowledged batch is there */
	FILE *f = fopen(side, "r");
	uint64_t acks = 0;
	char line[64];
	while (f && fgets(line, sizeof(line), f)) {
		if (strchr(line, '\n') == NULL)
			break; /* a torn last line of the side file: the kill hit its write */
		uint64_t seq = strtoull(line, NULL, 10);
		if (seq >= cap || !(e.bits[seq / 8] & (1u << (seq % 8))))
			die("acknowledged batch %s is missing after the crash", line);
		acks++;
	}
	if (f)
		fclose(f);
	free(e.bits);
	store_close(st);
	printf("{\"check\":\"store_crash\",\"events\":%llu,\"acked\":%llu}\n",
	       (unsigned long long)events, (unsigned long long)acks);
	return acks;
}

int main(int argc, char **argv)
{
	int rounds = 12;
	unsigned seed = (unsigned)time(NULL);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			seed = (unsigned)strtoul(argv[++i], NULL, 10);
		else {
			fprintf(stderr, "usage: %s [--rounds N] [--seed N]\n", argv[0]);
			return 2;
		}
	}
	srand(seed);
	snprintf(dir, sizeof(dir), "/tmp/pel-crash-XXXXXX");
	if (mkdtemp(dir) == NULL)
		die("mkdtemp failed%s", "");
	snprintf(side, sizeof(side), "%s.acks", dir);
	uint64_t cap = (uint64_t)rounds * 10000000ull;
	uint64_t total = 0;
	for (int r = 0; r < rounds; r++) {
		base = (uint64_t)r * 10000000ull; /* each round's sequence numbers apart */
		pid_t pid = fork();
		if (pid < 0)
			die("fork failed%s", "");
		if (pid == 0)
			child();
		struct timespec d = {0, (long)(50 + rand() % 400) * 1000000L};
		nanosleep(&d, NULL);
		kill(pid, SIGKILL);
		int status;
		waitpid(pid, &status, 0);
		if (!WIFSIGNALED(status))
			die("the writer exited by itself%s", "");
		total = check(cap);
	}
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf %s %s", dir, side);
	if (system(cmd) != 0)
		return 1;
	printf("{\"check\":\"store_crash\",\"rounds\":%d,\"seed\":%u,\"acked_total\":%llu,"
	       "\"result\":\"ok\"}\n",
	       rounds, seed, (unsigned long long)total);
	return total > 0 ? 0 : 1; /* nothing acknowledged would mean nothing was tested */
}
