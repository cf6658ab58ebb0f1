/*
 * The job manager's resource manager over gRPC (resmgr_client, resmgr/client.c) against a
 * real pelotond: pools by path, enqueue (accepted, refused as a duplicate,
 * refused for a missing pool), task states, kill, notify, the long polls,
 * and what an unreachable daemon gives. argv[1]: the pelotond binary.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "grpccli.h"
#include "resmgr_seam.h"
#include "rmtask.h"
#include "peloton/api/respool/respool.pb-c.h"
#include "peloton/private/resmgr/resmgrsvc.pb-c.h"
#include "proto_codec.h"
#include "resmgrsvc.h"

static const char *pelotond;
static char dir[64], target[32];
static pid_t daemon_pid;
static struct resmgr_client *rem;
static struct resmgr_ops ops;

/* The gRPC port pelotond wrote to its --ports-file, or -1 (not yet). */
static int grpc_port_of(const char *path)
{
	FILE *f = fopen(path, "r");
	char buf[128] = "";
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	const char *g = strstr(buf, "\"grpc\":");
	return g ? atoi(g + 7) : -1;
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/pel-rmclient-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	char db[96], ports[96];
	snprintf(db, sizeof(db), "%s/db", dir);
	snprintf(ports, sizeof(ports), "%s/ports", dir);
	/* ports the kernel picks; no master listens on port 1: the resource
	 * manager serves regardless */
	daemon_pid = fork();
	if (daemon_pid == 0) {
		execl(pelotond, pelotond, "--master", "127.0.0.1:1", "--db", db, "--grpc-port", "0",
		      "--http-port", "0", "--ports-file", ports, "--log-level", "error",
		      (char *)NULL);
		_exit(127);
	}
	int grpc = -1;
	for (int i = 0; i < 600 && (grpc = grpc_port_of(ports)) < 0; i++) {
		struct timespec d = {0, 100000000};
		nanosleep(&d, NULL);
	}
	if (grpc < 0)
		return -1;
	snprintf(target, sizeof(target), "127.0.0.1:%d", grpc);
	rem = resmgr_client_create(target, "jobmgr");
	ops = resmgr_client_ops(rem);
	return rem ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	resmgr_client_destroy(rem);
	int st = 0;
	kill(daemon_pid, SIGTERM);
	waitpid(daemon_pid, &st, 0);
	char cmd[96];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* CreateResourcePool of `name` under root, straight over gRPC; its id. */
static void create_pool(const char *name, char *id, size_t len)
{
	Peloton__Api__Respool__ResourcePoolConfig c =
	    PELOTON__API__RESPOOL__RESOURCE_POOL_CONFIG__INIT;
	Peloton__Api__Respool__ResourceConfig r = PELOTON__API__RESPOOL__RESOURCE_CONFIG__INIT,
	                                      *rp[1] = {&r};
	Peloton__Api__Peloton__ResourcePoolID parent =
	    PELOTON__API__PELOTON__RESOURCE_POOL_ID__INIT;
	Peloton__Api__Respool__CreateRequest req = PELOTON__API__RESPOOL__CREATE_REQUEST__INIT;
	parent.value = "root";
	r.kind = "cpu";
	r.reservation = 10;
	r.limit = 10;
	r.share = 1;
	c.name = (char *)name;
	c.owningteam = "team";
	c.policy = PELOTON__API__RESPOOL__SCHEDULING_POLICY__PriorityFIFO;
	c.parent = &parent;
	c.resources = rp;
	c.n_resources = 1;
	req.config = &c;
	size_t n = 0, rlen = 0;
	uint8_t *buf = proto_pack_alloc(&req.base, &n), *resp = NULL;
	struct rpc_status st = {0};
	struct grpccli *cli = grpccli_create(target);
	grpccli_call(cli, "/peloton.api.respool.ResourceManager/CreateResourcePool", buf, n, 5000,
	             &resp, &rlen, &st);
	grpccli_destroy(cli);
	free(buf);
	assert_int_equal(st.code, RPC_OK);
	Peloton__Api__Respool__CreateResponse *cr =
	    peloton__api__respool__create_response__unpack(NULL, rlen, resp);
	free(resp);
	assert_non_null(cr);
	assert_null(cr->error);
	assert_non_null(cr->result);
	snprintf(id, len, "%s", cr->result->value);
	peloton__api__respool__create_response__free_unpacked(cr, NULL);
}

static void test_pools(void **state)
{
	(void)state;
	char id[128], path[256], batch[128];
	char err[160];
	assert_int_equal(ops.pool_lookup(ops.arg, "/", id, sizeof(id), err, sizeof(err)), 0);
	assert_string_equal(id, "root");
	assert_true(ops.pool_is_leaf(ops.arg, "root"));
	assert_int_equal(ops.pool_path(ops.arg, "root", path, sizeof(path)), 0);
	assert_string_equal(path, "/");
	create_pool("batch", batch, sizeof(batch));
	assert_false(ops.pool_is_leaf(ops.arg, "root"));
	assert_true(ops.pool_is_leaf(ops.arg, batch));
	assert_int_equal(ops.pool_path(ops.arg, batch, path, sizeof(path)), 0);
	assert_string_equal(path, "/batch");
	assert_int_equal(ops.pool_lookup(ops.arg, "/batch", id, sizeof(id), err, sizeof(err)), 0);
	assert_string_equal(id, batch);
	assert_int_equal(ops.pool_lookup(ops.arg, "/nope", id, sizeof(id), err, sizeof(err)), -1);
	assert_string_equal(err, "resource pool path /nope not found");
	assert_false(ops.pool_is_leaf(ops.arg, "no-such-pool"));
	assert_int_equal(ops.pool_path(ops.arg, "no-such-pool", path, sizeof(path)), -1);
}

/* A task spec as the job manager builds it: the packed resmgr.Task inside. */
struct spec_buf {
	char id[64];
	struct resmgr_task_spec s;
};

static void spec(struct spec_buf *b, const char *job, int inst)
{
	Peloton__Private__Resmgr__Task t = PELOTON__PRIVATE__RESMGR__TASK__INIT;
	Peloton__Api__Peloton__TaskID tid = PELOTON__API__PELOTON__TASK_ID__INIT;
	Peloton__Api__Peloton__JobID jid = PELOTON__API__PELOTON__JOB_ID__INIT;
	Peloton__Api__Task__ResourceConfig rc = PELOTON__API__TASK__RESOURCE_CONFIG__INIT;
	snprintf(b->id, sizeof(b->id), "%s-%d", job, inst);
	tid.value = b->id;
	jid.value = (char *)job;
	rc.cpulimit = 1;
	rc.memlimitmb = 64;
	t.id = &tid;
	t.jobid = &jid;
	t.resource = &rc;
	t.type = PELOTON__PRIVATE__RESMGR__TASK_TYPE__BATCH;
	t.mininstances = 2;
	assert_true(rmtask_spec(&t, &b->s));
	b->s.id = b->id;
	b->s.job_id = job;
}

static void spec_free(struct spec_buf *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free((void *)b[i].s.payload);
}

static void test_tasks(void **state)
{
	(void)state;
	char batch[128];
	char err[160];
	if (ops.pool_lookup(ops.arg, "/batch", batch, sizeof(batch), err, sizeof(err)) != 0)
		create_pool("batch", batch, sizeof(batch));
	struct spec_buf b[4];
	spec(&b[0], "job-a", 0);
	spec(&b[1], "job-a", 1);
	spec(&b[2], "job-a", 2);
	spec(&b[3], "job-a", 3);
	struct resmgr_task_spec s[4] = {b[0].s, b[1].s, b[2].s, b[3].s};
	struct resmgr_gang_spec g[2] = {{&s[0], 2}, {&s[2], 2}};
	enum resmgr_fail fail[2] = {RM_NO_MEMORY, RM_NO_MEMORY};
	assert_int_equal(ops.enqueue(ops.arg, batch, g, 2, fail), 2);
	assert_int_equal(fail[0], RM_OK);
	assert_int_equal(fail[1], RM_OK);
	/* again: both gangs refused, each with the reason of its tasks */
	assert_int_equal(ops.enqueue(ops.arg, batch, g, 2, fail), 0);
	assert_int_equal(fail[0], RM_ALREADY_EXISTS);
	assert_int_equal(fail[1], RM_ALREADY_EXISTS);
	/* a missing pool */
	assert_int_equal(ops.enqueue(ops.arg, "no-such-pool", g, 1, fail), 0);
	assert_int_equal(fail[0], RM_POOL_NOT_FOUND);
	/* a spec without its payload is refused here, nothing sent */
	struct resmgr_task_spec bare = s[0];
	bare.payload = NULL;
	struct resmgr_gang_spec gb = {&bare, 1};
	assert_int_equal(ops.enqueue(ops.arg, batch, &gb, 1, fail), 0);
	assert_int_equal(fail[0], RM_INVALID_TASK);
	spec_free(b, 4);

	enum taskstate st = ops.task_state(ops.arg, "job-a-1");
	assert_true(st == TASK_PENDING || st == TASK_READY);
	assert_int_equal(ops.task_state(ops.arg, "job-a-9"), TASK_UNKNOWN);
	assert_int_equal(ops.task_state(ops.arg, "nodash"), TASK_UNKNOWN);
	/* kill: known, then gone from the active tasks; unknown ones are not found */
	assert_int_equal(ops.kill(ops.arg, "job-a-1"), RM_OK);
	assert_int_equal(ops.task_state(ops.arg, "job-a-1"), TASK_UNKNOWN);
	assert_int_equal(ops.kill(ops.arg, "job-b-0"), RM_NOT_FOUND);
	/* notify: carried (the service answers nothing per task); an event the
	 * service has no state for is refused here */
	assert_int_equal(ops.notify(ops.arg, "job-a-0", TEV_RUNNING), RM_OK);
	assert_int_equal(ops.notify(ops.arg, "job-a-0", TEV_ADMIT), RM_INVALID_STATE);
	/* queued and sent in batches by the notifier: a burst takes few calls */
	uint64_t c0, f0, c1 = 0, f1;
	resmgr_client_counts(rem, &c0, &f0);
	for (int i = 0; i < 200; i++)
		assert_int_equal(ops.notify(ops.arg, "job-a-2", TEV_LAUNCHED), RM_OK);
	for (int i = 0; i < 100 && c1 < c0 + 1; i++) {
		struct timespec d = {0, 50000000};
		nanosleep(&d, NULL);
		resmgr_client_counts(rem, &c1, &f1);
	}
	assert_true(c1 >= c0 + 1);
	assert_true(c1 - c0 <= 20);
	/* no host offers here: the long polls come back empty, after their wait */
	struct resmgr_placement_out out[4];
	assert_int_equal(ops.get_placements(ops.arg, 4, 100000000, out), 0);
	char *ids[4];
	assert_int_equal(ops.get_preemptible(ops.arg, ids, 4), 0);
	uint64_t calls, failed;
	resmgr_client_counts(rem, &calls, &failed);
	assert_true(calls >= 10);
	assert_int_equal(failed, 0);
}

/* More tasks than one request may carry (the server takes 4 MiB): all go in. */
static void test_large_enqueue(void **state)
{
	(void)state;
	char batch[128];
	char err[160];
	if (ops.pool_lookup(ops.arg, "/batch", batch, sizeof(batch), err, sizeof(err)) != 0)
		create_pool("batch", batch, sizeof(batch));
	enum { N = 120000 }; /* ~5 MiB of packed tasks */
	struct spec_buf *b = calloc(N, sizeof(*b));
	struct resmgr_task_spec *s = calloc(N, sizeof(*s));
	struct resmgr_gang_spec *g = calloc(N / 2, sizeof(*g));
	enum resmgr_fail *fail = calloc(N / 2, sizeof(*fail));
	assert_true(b && s && g && fail);
	size_t bytes = 0;
	for (int i = 0; i < N; i++) {
		spec(&b[i], "job-large", i);
		s[i] = b[i].s;
		bytes += s[i].payload_len;
	}
	assert_true(bytes > 4u << 20);
	for (int k = 0; k < N / 2; k++)
		g[k] = (struct resmgr_gang_spec){&s[2 * k], 2};
	assert_int_equal(ops.enqueue(ops.arg, batch, g, N / 2, fail), N / 2);
	for (int k = 0; k < N / 2; k++)
		assert_int_equal(fail[k], RM_OK);
	/* their states: one GetActiveTasks for the job, reused for its other tasks */
	uint64_t c0, f0, c1, f1;
	struct timespec a0, a1;
	clock_gettime(CLOCK_MONOTONIC, &a0);
	resmgr_client_counts(rem, &c0, &f0);
	assert_int_not_equal(ops.task_state(ops.arg, "job-large-0"), TASK_UNKNOWN);
	for (int i = 1; i < 1000; i++) {
		char id[64];
		snprintf(id, sizeof(id), "job-large-%d", i * 119);
		assert_int_not_equal(ops.task_state(ops.arg, id), TASK_UNKNOWN);
	}
	assert_int_equal(ops.task_state(ops.arg, "job-large-120000"), TASK_UNKNOWN);
	resmgr_client_counts(rem, &c1, &f1);
	clock_gettime(CLOCK_MONOTONIC, &a1);
	assert_int_equal(f1, f0);
	/* one snapshot per second of lookups (it lives 1 s), never one call per
	 * task: 1,000 lookups on a loaded machine may take several seconds */
	uint64_t secs = (uint64_t)(a1.tv_sec - a0.tv_sec) + 1;
	if (c1 - c0 > secs + 2)
		fail_msg("%llu calls for 1,000 lookups in %llu s", (unsigned long long)(c1 - c0),
		         (unsigned long long)secs);
	/* the first and last gangs are there: enqueued again, they are duplicates */
	assert_int_equal(ops.enqueue(ops.arg, batch, &g[0], 1, fail), 0);
	assert_int_equal(fail[0], RM_ALREADY_EXISTS);
	assert_int_equal(ops.enqueue(ops.arg, batch, &g[N / 2 - 1], 1, fail), 0);
	assert_int_equal(fail[0], RM_ALREADY_EXISTS);
	spec_free(b, N);
	free(b);
	free(s);
	free(g);
	free(fail);
}

static void test_unreachable(void **state)
{
	(void)state;
	/* nothing listens on port 1 (privileged, never bound here) */
	struct resmgr_client *r = resmgr_client_create("127.0.0.1:1", "jobmgr");
	struct resmgr_ops o = resmgr_client_ops(r);
	struct spec_buf b;
	spec(&b, "job-c", 0);
	struct resmgr_gang_spec g = {&b.s, 1};
	enum resmgr_fail fail = RM_OK;
	assert_int_equal(o.enqueue(o.arg, "root", &g, 1, &fail), 0);
	assert_int_equal(fail, RM_NO_MEMORY);
	spec_free(&b, 1);
	assert_int_equal(o.task_state(o.arg, "job-c-0"), TASK_UNKNOWN);
	assert_int_equal(o.kill(o.arg, "job-c-0"), RM_NOT_FOUND);
	char id[64];
	char err[160];
	assert_int_equal(o.pool_lookup(o.arg, "/", id, sizeof(id), err, sizeof(err)), -1);
	assert_string_equal(err, "the resource manager did not answer");
	assert_false(o.pool_is_leaf(o.arg, "root"));
	uint64_t calls, failed;
	resmgr_client_counts(r, &calls, &failed);
	assert_int_equal(calls, failed);
	assert_true(failed >= 5);
	/* notifications wait in the queue (tried again every second); at
	 * destroy the notifier's last try fails and the note is reported unsent */
	assert_int_equal(o.notify(o.arg, "job-c-0", TEV_RUNNING), RM_OK);
	resmgr_client_destroy(r);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PELOTOND\n", argv[0]);
		return 2;
	}
	pelotond = argv[1];
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pools),
	    cmocka_unit_test(test_tasks),
	    cmocka_unit_test(test_large_enqueue),
	    cmocka_unit_test(test_unreachable),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
