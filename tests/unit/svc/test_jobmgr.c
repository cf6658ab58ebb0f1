/*
 * jobmgr: the job manager alone, the other roles stubbed through their
 * seams (a resource manager and a host manager recording what they are
 * asked, a real store in a temp dir): config validation with its exact
 * messages, every row of the task state machine and the moves it refuses,
 * status updates end to end (launch, ack, relaunch after FAILED and LOST,
 * kills, orphans, stale runs), and recovery after a restart.
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "peloton/api/update/svc/update_svc.pb-c.h"
#include "fsm.h"
#include "jm.h"
#include "jobs.h"
#include "jobmgr.h"
#include "peloton/private/resmgr/resmgr.pb-c.h"
#include "proto_codec.h"
#include "rpc.h"
#include "store.h"

/* ---- the stubbed roles ---- */

#define MAXREC 256

static struct stub {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* resource manager */
	char enqueued[MAXREC][96];
	uint64_t enqueued_ns[MAXREC]; /* wall clock */
	uint8_t last_payload[4096];   /* the last task's resmgr.Task */
	size_t last_payload_len;
	size_t n_enqueued;
	char rm_killed[MAXREC][96];
	size_t n_rm_killed;
	size_t n_notified;
	enum taskevent notified[MAXREC];
	struct resmgr_placement_out placements[8];
	size_t n_placements;
	/* host manager */
	char launched[MAXREC][128];
	size_t n_launched;
	char killed[MAXREC][128];
	size_t n_killed;
	size_t n_acked;
} S = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void note(char (*v)[96], size_t *n, const char *s)
{
	pthread_mutex_lock(&S.mu);
	if (*n < MAXREC)
		snprintf(v[(*n)++], 96, "%s", s);
	pthread_cond_broadcast(&S.cv);
	pthread_mutex_unlock(&S.mu);
}

/* Waits (at most 20 s: a liveness bound, not a timing check) until *n >= want. */
static void wait_for(const size_t *n, size_t want)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 20;
	pthread_mutex_lock(&S.mu);
	while (*n < want && pthread_cond_timedwait(&S.cv, &S.mu, &until) == 0)
		;
	size_t got = *n;
	pthread_mutex_unlock(&S.mu);
	assert_true(got >= want);
}

static size_t rm_enqueue(void *arg, const char *pool, const struct resmgr_gang_spec *g, size_t n,
                         enum resmgr_fail *fail)
{
	(void)arg, (void)pool;
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < g[i].n_tasks; k++) {
			if (S.n_enqueued < MAXREC)
				S.enqueued_ns[S.n_enqueued] = clock_wall_ns();
			const struct resmgr_task_spec *ts = &g[i].tasks[k];
			if (ts->payload && ts->payload_len <= sizeof(S.last_payload)) {
				memcpy(S.last_payload, ts->payload, ts->payload_len);
				S.last_payload_len = ts->payload_len;
			}
			note(S.enqueued, &S.n_enqueued, g[i].tasks[k].id);
		}
		if (fail)
			fail[i] = RM_OK;
	}
	return n;
}

static enum resmgr_fail rm_kill(void *arg, const char *id)
{
	(void)arg;
	note(S.rm_killed, &S.n_rm_killed, id);
	return RM_OK;
}

static enum resmgr_fail rm_notify(void *arg, const char *id, enum taskevent ev)
{
	(void)arg, (void)id;
	pthread_mutex_lock(&S.mu);
	if (S.n_notified < MAXREC)
		S.notified[S.n_notified++] = ev;
	pthread_mutex_unlock(&S.mu);
	return RM_OK;
}

static enum taskstate rm_task_state(void *arg, const char *id)
{
	(void)arg, (void)id;
	return TASK_READY;
}

/* Placements pushed by the test, handed to the launcher once. */
static size_t rm_get_placements(void *arg, size_t limit, uint64_t timeout_ns,
                                struct resmgr_placement_out *out)
{
	(void)arg;
	pthread_mutex_lock(&S.mu);
	size_t n = S.n_placements < limit ? S.n_placements : limit;
	memcpy(out, S.placements, n * sizeof(*out));
	memmove(S.placements, S.placements + n, (S.n_placements - n) * sizeof(*out));
	S.n_placements -= n;
	pthread_mutex_unlock(&S.mu);
	if (n == 0) {
		struct timespec d = {0, (long)(timeout_ns < 5000000 ? timeout_ns : 5000000)};
		nanosleep(&d, NULL);
	}
	return n;
}

static size_t rm_get_preemptible(void *arg, char **ids, size_t max)
{
	(void)arg, (void)ids, (void)max;
	return 0;
}

static bool rm_pool_is_leaf(void *arg, const char *id)
{
	(void)arg;
	return strcmp(id, "leaf") == 0;
}

static int rm_pool_path(void *arg, const char *id, char *buf, size_t len)
{
	(void)arg;
	return snprintf(buf, len, "/%s", id) > 0 ? 0 : -1;
}

static int rm_pool_lookup(void *arg, const char *path, char *id, size_t idlen, char *err,
                          size_t errlen)
{
	(void)arg;
	if (strcmp(path, "/leaf") != 0)
		return snprintf(err, errlen, "resource pool path %s not found", path), -1;
	snprintf(id, idlen, "leaf");
	return 0;
}

static int hm_launch(void *arg, const char *host, const char *agent, const char *const *offers,
                     size_t n_offers, const struct launchable *lts, size_t n)
{
	(void)arg, (void)host, (void)agent, (void)offers, (void)n_offers;
	for (size_t i = 0; i < n; i++) {
		pthread_mutex_lock(&S.mu);
		snprintf(S.launched[S.n_launched++ % MAXREC], 128, "%s", lts[i].task_id);
		pthread_cond_broadcast(&S.cv);
		pthread_mutex_unlock(&S.mu);
	}
	return 0;
}

static int hm_kill(void *arg, const char *task, const char *agent)
{
	(void)arg, (void)agent;
	pthread_mutex_lock(&S.mu);
	snprintf(S.killed[S.n_killed++ % MAXREC], 128, "%s", task);
	pthread_cond_broadcast(&S.cv);
	pthread_mutex_unlock(&S.mu);
	return 0;
}

static int hm_ack(void *arg, const Mesos__V1__TaskStatus *st)
{
	(void)arg, (void)st;
	pthread_mutex_lock(&S.mu);
	S.n_acked++;
	pthread_cond_broadcast(&S.cv);
	pthread_mutex_unlock(&S.mu);
	return 0;
}

/* ---- fixture ---- */

static char dir[64];
static uint64_t retention_ns; /* the next open_jm's */
static struct store *store;
static struct jobmgr *jm;
static struct rpc_table *rpc;

static void open_jm(bool start)
{
	char err[256];
	struct store_config sc = {.path = dir, .no_sync = true};
	assert_non_null(store = store_open(&sc, err, sizeof(err)));
	struct jobmgr_config c = {
	    .store = store,
	    .rm = {.enqueue = rm_enqueue,
	           .kill = rm_kill,
	           .notify = rm_notify,
	           .task_state = rm_task_state,
	           .get_placements = rm_get_placements,
	           .get_preemptible = rm_get_preemptible,
	           .pool_is_leaf = rm_pool_is_leaf,
	           .pool_path = rm_pool_path,
	           .pool_lookup = rm_pool_lookup},
	    .hm = {.launch = hm_launch, .kill = hm_kill, .ack = hm_ack},
	    .max_instances = 1000,
	    .retention_ns = retention_ns,
	};
	assert_non_null(jm = jobmgr_create(&c));
	assert_int_equal(jobmgr_recover(jm, NULL, NULL), 0);
	assert_non_null(rpc = rpc_table_create());
	jobmgr_bind(jm, rpc);
	if (start)
		assert_int_equal(jobmgr_start(jm), 0);
}

static void close_jm(void)
{
	jobmgr_stop(jm);
	store_drain(store);
	jobmgr_destroy(jm);
	rpc_table_destroy(rpc);
	store_close(store);
	for (size_t i = 0; i < S.n_placements; i++)
		resmgr_placement_free(&S.placements[i]);
	pthread_mutex_t mu = S.mu;
	pthread_cond_t cv = S.cv;
	memset(&S, 0, sizeof(S));
	S.mu = mu;
	S.cv = cv;
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/pel-jm-XXXXXX");
	assert_non_null(mkdtemp(dir));
	open_jm(true);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	close_jm();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* One call through the method table: the response, or NULL with *code. */
static ProtobufCMessage *call(const char *path, const ProtobufCMessage *req, enum rpc_code *code)
{
	struct rpc_method *m = rpc_lookup_path(rpc, path, strlen(path));
	assert_non_null(m);
	assert_non_null(m->fn);
	struct rpc_status st = {RPC_OK, ""};
	ProtobufCMessage *r = m->fn(m->ctx, req, &st);
	if (code)
		*code = r ? RPC_OK : st.code;
	return r;
}

/* A valid job config: n instances of 1 cpu / 64 MB in pool "leaf". */
static Peloton__Api__Job__JobConfig *job_config(uint32_t n, uint32_t max_failures)
{
	static Peloton__Api__Job__JobConfig c;
	static Peloton__Api__Task__TaskConfig tc;
	static Peloton__Api__Task__ResourceConfig rc;
	static Peloton__Api__Task__RestartPolicy rp;
	static Peloton__Api__Peloton__ResourcePoolID pool;
	peloton__api__job__job_config__init(&c);
	peloton__api__task__task_config__init(&tc);
	peloton__api__task__resource_config__init(&rc);
	peloton__api__task__restart_policy__init(&rp);
	peloton__api__peloton__resource_pool_id__init(&pool);
	rc.cpulimit = 1;
	rc.memlimitmb = 64;
	tc.resource = &rc;
	rp.maxfailures = max_failures;
	tc.restartpolicy = &rp;
	pool.value = "leaf";
	c.name = "t";
	c.instancecount = n;
	c.respoolid = &pool;
	c.defaultconfig = &tc;
	return &c;
}

/* Creates a job of config c through JobManager.Create, as id. */
static void create_cfg(const char *id, Peloton__Api__Job__JobConfig *c)
{
	Peloton__Api__Job__CreateRequest req = PELOTON__API__JOB__CREATE_REQUEST__INIT;
	Peloton__Api__Peloton__JobID jid = PELOTON__API__PELOTON__JOB_ID__INIT;
	jid.value = (char *)id;
	req.id = &jid;
	req.config = c;
	Peloton__Api__Job__CreateResponse *r =
	    (void *)call("/peloton.api.job.JobManager/Create", &req.base, NULL);
	assert_non_null(r);
	assert_null(r->error);
	assert_string_equal(r->jobid->value, id);
	PB_FREE(r);
}

/* A batch job of n instances, restartPolicy.maxFailures max_failures. */
static void create(const char *id, uint32_t n, uint32_t max_failures)
{
	create_cfg(id, job_config(n, max_failures));
}

/* TaskManager.Get of task inst (a result is asserted); free with PB_FREE. */
static Peloton__Api__Task__GetResponse *task_get(const char *id, uint32_t inst)
{
	Peloton__Api__Task__GetRequest req = PELOTON__API__TASK__GET_REQUEST__INIT;
	Peloton__Api__Peloton__JobID jid = PELOTON__API__PELOTON__JOB_ID__INIT;
	jid.value = (char *)id;
	req.jobid = &jid;
	req.instanceid = inst;
	Peloton__Api__Task__GetResponse *r =
	    (void *)call("/peloton.api.task.TaskManager/Get", &req.base, NULL);
	assert_non_null(r);
	assert_non_null(r->result);
	return r;
}

/* Task inst's state name through TaskManager.Get. */
static const char *task_state(const char *id, uint32_t inst)
{
	static char name[32];
	Peloton__Api__Task__GetResponse *r = task_get(id, inst);
	snprintf(name, sizeof(name), "%s",
	         protobuf_c_enum_descriptor_get_value(&peloton__api__task__task_state__descriptor,
	                                              r->result->runtime->state)
	             ->name);
	PB_FREE(r);
	return name;
}

/* The job's state name through JobManager.Get. */
static const char *job_state(const char *id)
{
	static char name[32];
	Peloton__Api__Job__GetRequest req = PELOTON__API__JOB__GET_REQUEST__INIT;
	Peloton__Api__Peloton__JobID jid = PELOTON__API__PELOTON__JOB_ID__INIT;
	jid.value = (char *)id;
	req.id = &jid;
	Peloton__Api__Job__GetResponse *r =
	    (void *)call("/peloton.api.job.JobManager/Get", &req.base, NULL);
	assert_non_null(r);
	assert_non_null(r->jobinfo);
	snprintf(name, sizeof(name), "%s",
	         protobuf_c_enum_descriptor_get_value(&peloton__api__job__job_state__descriptor,
	                                              r->jobinfo->runtime->state)
	             ->name);
	PB_FREE(r);
	return name;
}

/* JobManager.Update of job id to config c: refused (an error in the
 * response) or accepted, as expected. */
static void update_job(const char *id, Peloton__Api__Job__JobConfig *c, bool refused)
{
	Peloton__Api__Job__UpdateRequest req = PELOTON__API__JOB__UPDATE_REQUEST__INIT;
	Peloton__Api__Peloton__JobID jid = PELOTON__API__PELOTON__JOB_ID__INIT;
	jid.value = (char *)id;
	req.id = &jid;
	req.config = c;
	Peloton__Api__Job__UpdateResponse *r =
	    (void *)call("/peloton.api.job.JobManager/Update", &req.base, NULL);
	assert_non_null(r);
	if (refused)
		assert_non_null(r->error);
	else
		assert_null(r->error);
	PB_FREE(r);
}

/* Task inst's runtime configVersion and desiredConfigVersion. */
static void task_versions(const char *id, uint32_t inst, uint64_t *cur, uint64_t *want)
{
	Peloton__Api__Task__GetResponse *r = task_get(id, inst);
	*cur = r->result->runtime->configversion;
	*want = r->result->runtime->desiredconfigversion;
	PB_FREE(r);
}

/* Task inst's runtime reason ("" when none). */
static const char *task_reason(const char *id, uint32_t inst)
{
	static char reason[128];
	Peloton__Api__Task__GetResponse *r = task_get(id, inst);
	snprintf(reason, sizeof(reason), "%s",
	         r->result->runtime->reason ? r->result->runtime->reason : "");
	PB_FREE(r);
	return reason;
}

/* TaskManager.Stop (stop) or Start of instances [from, to); to 0: the whole job. */
static void stop_or_start(const char *id, bool stop, uint32_t from, uint32_t to)
{
	Peloton__Api__Peloton__JobID jid = PELOTON__API__PELOTON__JOB_ID__INIT;
	Peloton__Api__Task__InstanceRange rg = PELOTON__API__TASK__INSTANCE_RANGE__INIT, *rgp = &rg;
	jid.value = (char *)id;
	rg.from = from;
	rg.to = to;
	ProtobufCMessage *r;
	if (stop) {
		Peloton__Api__Task__StopRequest req = PELOTON__API__TASK__STOP_REQUEST__INIT;
		req.jobid = &jid;
		req.n_ranges = to ? 1 : 0;
		req.ranges = &rgp;
		r = call("/peloton.api.task.TaskManager/Stop", &req.base, NULL);
	} else {
		Peloton__Api__Task__StartRequest req = PELOTON__API__TASK__START_REQUEST__INIT;
		req.jobid = &jid;
		req.n_ranges = to ? 1 : 0;
		req.ranges = &rgp;
		r = call("/peloton.api.task.TaskManager/Start", &req.base, NULL);
	}
	assert_non_null(r);
	PB_FREE(r);
}

/* Hands the launcher a placement of "<id>-<inst>" tasks on host-1. */
static void place(const char *id, const uint32_t *insts, size_t n)
{
	struct resmgr_placement_out p = {0};
	p.hostname = strdup("host-1");
	p.agent_id = strdup("agent-1");
	p.task_ids = calloc(n, sizeof(char *));
	p.ports = calloc(1, sizeof(uint32_t));
	p.offer_ids = calloc(1, sizeof(char *));
	p.offer_ids[0] = strdup("offer-1");
	p.n_offer_ids = 1;
	for (size_t i = 0; i < n; i++) {
		char t[96];
		snprintf(t, sizeof(t), "%s-%u", id, insts[i]);
		p.task_ids[p.n_tasks++] = strdup(t);
	}
	pthread_mutex_lock(&S.mu);
	S.placements[S.n_placements++] = p;
	pthread_mutex_unlock(&S.mu);
}

static size_t uuid_seq;

/* A Mesos update of "<id>-<inst>-<run>" in state s (with a uuid: acked). */
static void update(const char *id, uint32_t inst, uint32_t run, Mesos__V1__TaskState s)
{
	Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
	Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
	char mid[128];
	uint8_t uuid[16] = {0};
	memcpy(uuid, &uuid_seq, sizeof(uuid_seq));
	uuid_seq++;
	snprintf(mid, sizeof(mid), "%s-%u-%u", id, inst, run);
	tid.value = mid;
	aid.value = "agent-1";
	st.task_id = &tid;
	st.agent_id = &aid;
	st.state = s;
	st.has_uuid = true;
	st.uuid.data = uuid;
	st.uuid.len = sizeof(uuid);
	jobmgr_on_status(jm, &st);
}

/* The update is applied and durable: acknowledged (or refused: acked at once). */
static void update_acked(const char *id, uint32_t inst, uint32_t run, Mesos__V1__TaskState s)
{
	pthread_mutex_lock(&S.mu);
	size_t want = S.n_acked + 1;
	pthread_mutex_unlock(&S.mu);
	update(id, inst, run, s);
	wait_for(&S.n_acked, want);
}

/* True when the instance has a relaunch due (set in the same step as its PENDING). */
static bool relaunch_waits(const char *id, uint32_t inst)
{
	struct jm_job *j = jm__find(jm, id);
	assert_non_null(j);
	pthread_mutex_lock(&j->mu);
	bool waits = j->tasks[inst].due_ns != 0;
	pthread_mutex_unlock(&j->mu);
	return waits;
}

/*
 * Places instance 0, loses run `run` and waits for its enqueue; it must
 * come no sooner than min_s after the loss (a lower bound only: a
 * busy machine can make it later, never earlier).
 */
static void lose_and_requeue(const char *id, uint32_t run, unsigned min_s)
{
	uint32_t i0 = 0;
	size_t n = S.n_enqueued;
	place(id, &i0, 1);
	wait_for(&S.n_launched, run);
	uint64_t t0 = clock_wall_ns();
	update_acked(id, 0, run, MESOS__V1__TASK_STATE__TASK_LOST);
	wait_for(&S.n_enqueued, n + 1);
	if (S.enqueued_ns[n] < t0 + min_s * 1000000000ull)
		fail_msg("run %u: enqueued %.2f s after the loss, not %u s", run,
		         (double)(S.enqueued_ns[n] - t0) / 1e9, min_s);
}

/* ---- validation ---- */

static void expect_invalid(const Peloton__Api__Job__JobConfig *c, const char *msg)
{
	char err[256] = "";
	assert_int_equal(jobmgr_validate(jm, c, err, sizeof(err)), -1);
	assert_string_equal(err, msg);
}

static void test_validation(void **state)
{
	(void)state;
	char err[256];
	Peloton__Api__Job__JobConfig *c = job_config(3, 0);
	assert_int_equal(jobmgr_validate(jm, c, err, sizeof(err)), 0);
	c->instancecount = 0; /* as upstream: a job with no instances yet */
	assert_int_equal(jobmgr_validate(jm, c, err, sizeof(err)), 0);
	c->instancecount = 1001;
	expect_invalid(c, "instanceCount 1001 above the maximum 1000");
	c = job_config(3, 0);
	c->respoolid->value = "";
	expect_invalid(c, "respoolID is required");
	c->respoolid->value = "root";
	expect_invalid(c, "resource pool root does not exist or is not a leaf");
	c = job_config(3, 0);
	c->defaultconfig->resource->cpulimit = 0;
	expect_invalid(c, "defaultConfig: resource.cpuLimit must be > 0, got 0");
	c->defaultconfig->resource->cpulimit = NAN;
	expect_invalid(c, "defaultConfig: resource.cpuLimit must be a finite number");
	c->defaultconfig->resource->cpulimit = 1;
	c->defaultconfig->resource->disklimitmb = -1;
	expect_invalid(c, "defaultConfig: resource.diskLimitMb must be >= 0, got -1");
	c->defaultconfig->resource->disklimitmb = INFINITY;
	expect_invalid(c, "defaultConfig: resource.diskLimitMb must be a finite number");
	c->defaultconfig->resource->disklimitmb = 0;
	c->defaultconfig->resource->gpulimit = NAN;
	expect_invalid(c, "defaultConfig: resource.gpuLimit must be a finite number");
	c->defaultconfig->resource->gpulimit = 0;
	c->defaultconfig->resource->memlimitmb = 2e12;
	expect_invalid(c, "defaultConfig: resource.memLimitMb 2e+12 above the maximum 1e+12");
	c = job_config(3, 0);
	c->name = "bad\nname";
	expect_invalid(c, "name holds a control character");
	c->name = "caf\xc3\xa9"; /* UTF-8 is fine */
	assert_int_equal(jobmgr_validate(jm, c, err, sizeof(err)), 0);
	c->name = "caf\xe9"; /* Latin-1 is not */
	expect_invalid(c, "name not valid UTF-8");
	c->name = "ok";
	Peloton__Api__Peloton__Label l = PELOTON__API__PELOTON__LABEL__INIT, *lp = &l;
	l.key = "team";
	l.value = "a\x1b[31m";
	c->defaultconfig->labels = &lp;
	c->defaultconfig->n_labels = 1;
	expect_invalid(c, "defaultConfig: a label value holds a control character");
	c->defaultconfig->n_labels = 0;
	c->labels = &lp;
	c->n_labels = 1;
	expect_invalid(c, "a label value holds a control character");
	l.value = "ok";
	assert_int_equal(jobmgr_validate(jm, c, err, sizeof(err)), 0);
	c = job_config(3, 0);
	Peloton__Api__Job__SlaConfig sla = PELOTON__API__JOB__SLA_CONFIG__INIT;
	c->sla = &sla;
	sla.maximumrunninginstances = 4;
	expect_invalid(c, "sla.maximumRunningInstances 4 above instanceCount 3");
	sla.maximumrunninginstances = 2;
	sla.minimumrunninginstances = 3;
	expect_invalid(c, "sla.minimumRunningInstances 3 above maximumRunningInstances 2");
	c = job_config(3, 0);
	c->defaultconfig = NULL;
	expect_invalid(c, "defaultConfig missing and not every instance has a config");
}

static void test_validation_ports_and_constraints(void **state)
{
	(void)state;
	Peloton__Api__Job__JobConfig *c = job_config(1, 0);
	Peloton__Api__Task__PortConfig p1 = PELOTON__API__TASK__PORT_CONFIG__INIT,
	                               p2 = PELOTON__API__TASK__PORT_CONFIG__INIT;
	Peloton__Api__Task__PortConfig *ports[2] = {&p1, &p2};
	c->defaultconfig->ports = ports;
	c->defaultconfig->n_ports = 2;
	p1.name = "http";
	p2.name = "";
	expect_invalid(c, "defaultConfig: port 1 has no name");
	p2.name = "http";
	expect_invalid(c, "defaultConfig: port name 'http' used twice");
	p2.name = "admin";
	p2.value = 70000;
	expect_invalid(c, "defaultConfig: port admin value above 65535");
	c->defaultconfig->n_ports = 0;
	/* an enabled health check must be one Mesos can run */
	Peloton__Api__Task__HealthCheckConfig h = PELOTON__API__TASK__HEALTH_CHECK_CONFIG__INIT;
	h.enabled = true;
	h.type = PELOTON__API__TASK__HEALTH_CHECK_CONFIG__TYPE__HTTP;
	c->defaultconfig->healthcheck = &h;
	expect_invalid(c, "defaultConfig: healthCheck.type must be COMMAND (HTTP names no port or "
	                  "path in this API)");
	h.type = PELOTON__API__TASK__HEALTH_CHECK_CONFIG__TYPE__COMMAND;
	expect_invalid(c, "defaultConfig: healthCheck.commandCheck.command is required");
	c->defaultconfig->healthcheck = NULL;
	/* an AND nested 20 deep */
	Peloton__Api__Task__Constraint cs[20];
	Peloton__Api__Task__AndConstraint ands[20];
	Peloton__Api__Task__Constraint *kids[20];
	for (int i = 0; i < 20; i++) {
		peloton__api__task__constraint__init(&cs[i]);
		peloton__api__task__and_constraint__init(&ands[i]);
		cs[i].type = PELOTON__API__TASK__CONSTRAINT__TYPE__AND_CONSTRAINT;
		cs[i].andconstraint = &ands[i];
		if (i + 1 < 20) {
			kids[i] = &cs[i + 1];
			ands[i].constraints = &kids[i];
			ands[i].n_constraints = 1;
		}
	}
	c->defaultconfig->constraint = &cs[19];
	expect_invalid(c, "defaultConfig: AND constraint without children");
	c->defaultconfig->constraint = &cs[0];
	expect_invalid(c, "defaultConfig: constraint nested deeper than 16");
	c->defaultconfig->constraint = NULL;
}

/* Ranges are merged: repeats and overlaps name each instance once. */
static void test_instance_ranges_merge(void **state)
{
	(void)state;
	create("job-r", 10, 0);
	struct jm_job *j = jm__find(jm, "job-r");
	Peloton__Api__Task__InstanceRange r[4], *rp[30000];
	for (int i = 0; i < 4; i++)
		peloton__api__task__instance_range__init(&r[i]);
	r[0].from = 6, r[0].to = 8;
	r[1].from = 2, r[1].to = 4;
	r[2].from = 3, r[2].to = 7;
	r[3].from = 9, r[3].to = 0; /* to 0: to the end */
	for (size_t i = 0; i < 30000; i++)
		rp[i] = &r[i % 4];
	size_t n;
	uint32_t *v = jm__instances(j, rp, 30000, &n);
	assert_non_null(v);
	static const uint32_t want[] = {2, 3, 4, 5, 6, 7, 9};
	assert_int_equal(n, 7);
	assert_memory_equal(v, want, sizeof(want));
	free(v);
}

/* ---- the state machine ---- */

/* Every (event, from) pair against the table written out independently. */
static void test_fsm_every_row(void **state)
{
	(void)state;
	enum taskstate onm[] = {TASK_LAUNCHING, TASK_LAUNCHED, TASK_STARTING, TASK_RUNNING,
	                        TASK_KILLING};
	for (int ev = 0; ev < JM_N_EVENTS; ev++)
		for (int s = 0; s < TASK_N_STATES; s++) {
			bool on = false;
			for (size_t k = 0; k < 5; k++)
				on |= onm[k] == (enum taskstate)s;
			bool term = taskstate_terminal((enum taskstate)s);
			enum taskstate want = TASK_UNKNOWN;
			switch (ev) {
			case JM_ENQUEUE:
				want = s == TASK_INITIALIZED || term ? TASK_PENDING : TASK_UNKNOWN;
				break;
			case JM_LAUNCH:
				want = s == TASK_PENDING ? TASK_LAUNCHING : TASK_UNKNOWN;
				break;
			case JM_STAGING:
				want = s == TASK_LAUNCHING ? TASK_LAUNCHED : TASK_UNKNOWN;
				break;
			case JM_STARTING:
				want = s == TASK_LAUNCHING || s == TASK_LAUNCHED ? TASK_STARTING
				                                                 : TASK_UNKNOWN;
				break;
			case JM_RUNNING:
				want =
				    s == TASK_LAUNCHING || s == TASK_LAUNCHED || s == TASK_STARTING
				        ? TASK_RUNNING
				        : TASK_UNKNOWN;
				break;
			case JM_KILLING:
				want = on && s != TASK_KILLING ? TASK_KILLING : TASK_UNKNOWN;
				break;
			case JM_FINISHED:
				want = on ? TASK_SUCCEEDED : TASK_UNKNOWN;
				break;
			case JM_FAILED:
				want = on ? TASK_FAILED : TASK_UNKNOWN;
				break;
			case JM_KILLED:
				want = on ? TASK_KILLED : TASK_UNKNOWN;
				break;
			case JM_LOST:
				want = on ? TASK_LOST : TASK_UNKNOWN;
				break;
			case JM_KILL:
				want = s == TASK_INITIALIZED || s == TASK_PENDING ? TASK_KILLED
				       : on                                       ? TASK_KILLING
				                                                  : TASK_UNKNOWN;
				break;
			case JM_RECOVER:
				want = s == TASK_UNKNOWN || s == TASK_INITIALIZED ||
				               s == TASK_PENDING || s == TASK_READY ||
				               s == TASK_PLACING || s == TASK_PLACED
				           ? TASK_PENDING
				           : TASK_UNKNOWN;
				break;
			}
			if (jm_next((enum taskstate)s, (enum jm_event)ev) != want)
				fail_msg(
				    "%s from %s: %s, want %s", jm_event_name((enum jm_event)ev),
				    taskstate_name((enum taskstate)s),
				    taskstate_name(jm_next((enum taskstate)s, (enum jm_event)ev)),
				    taskstate_name(want));
			assert_int_equal(jm_on_mesos((enum taskstate)s), on);
		}
	assert_int_equal(jm_next(TASK_N_STATES, JM_ENQUEUE), TASK_UNKNOWN);
	assert_int_equal(jm_next(TASK_PENDING, JM_N_EVENTS), TASK_UNKNOWN);
	enum taskevent rm;
	assert_int_equal(jm_event_of_mesos(MESOS__V1__TASK_STATE__TASK_ERROR, &rm), JM_FAILED);
	assert_int_equal(rm, TEV_FAILED);
	assert_int_equal(jm_event_of_mesos(MESOS__V1__TASK_STATE__TASK_DROPPED, &rm), JM_LOST);
	assert_int_equal(rm, TEV_LOST);
	assert_int_equal(jm_event_of_mesos(MESOS__V1__TASK_STATE__TASK_KILLING, &rm), JM_KILLING);
	assert_int_equal(rm, TEV_KILL);
}

/* ---- status updates end to end ---- */

static void test_launch_run_finish(void **state)
{
	(void)state;
	create("job-a", 2, 0);
	assert_int_equal(S.n_enqueued, 2);
	assert_string_equal(S.enqueued[0], "job-a-0");
	assert_string_equal(task_state("job-a", 0), "PENDING");
	uint32_t insts[] = {0, 1};
	place("job-a", insts, 2);
	wait_for(&S.n_launched, 2);
	assert_string_equal(S.launched[0], "job-a-0-1");
	assert_string_equal(task_state("job-a", 0), "LAUNCHING");
	update_acked("job-a", 0, 1, MESOS__V1__TASK_STATE__TASK_STARTING);
	assert_string_equal(task_state("job-a", 0), "STARTING");
	update_acked("job-a", 0, 1, MESOS__V1__TASK_STATE__TASK_RUNNING);
	assert_string_equal(task_state("job-a", 0), "RUNNING");
	/* refused, acknowledged, nothing changes: a repeat, a step back */
	update_acked("job-a", 0, 1, MESOS__V1__TASK_STATE__TASK_RUNNING);
	update_acked("job-a", 0, 1, MESOS__V1__TASK_STATE__TASK_STAGING);
	assert_string_equal(task_state("job-a", 0), "RUNNING");
	update_acked("job-a", 0, 1, MESOS__V1__TASK_STATE__TASK_FINISHED);
	assert_string_equal(task_state("job-a", 0), "SUCCEEDED");
	/* Mesos skips states: LAUNCHING straight to RUNNING */
	update_acked("job-a", 1, 1, MESOS__V1__TASK_STATE__TASK_RUNNING);
	assert_string_equal(task_state("job-a", 1), "RUNNING");
	update_acked("job-a", 1, 1, MESOS__V1__TASK_STATE__TASK_FINISHED);
	/* the resource manager heard each change once: STARTING, RUNNING,
	 * SUCCEEDED, RUNNING, SUCCEEDED (plus LAUNCHED per launch) */
	wait_for(&S.n_notified, 7);
}

static void test_failed_relaunches_then_gives_up(void **state)
{
	(void)state;
	create("job-f", 1, 1);
	uint32_t i0 = 0;
	place("job-f", &i0, 1);
	wait_for(&S.n_launched, 1);
	update_acked("job-f", 0, 1, MESOS__V1__TASK_STATE__TASK_FAILED);
	/* failure 1 of maxFailures 1: back to PENDING, enqueued after a 1 s backoff */
	assert_string_equal(task_state("job-f", 0), "PENDING");
	wait_for(&S.n_enqueued, 2);
	place("job-f", &i0, 1);
	wait_for(&S.n_launched, 2);
	assert_string_equal(S.launched[1], "job-f-0-2");
	/* an update from run 1 now changes nothing */
	update_acked("job-f", 0, 1, MESOS__V1__TASK_STATE__TASK_FINISHED);
	assert_string_equal(task_state("job-f", 0), "LAUNCHING");
	update_acked("job-f", 0, 2, MESOS__V1__TASK_STATE__TASK_FAILED);
	assert_string_equal(task_state("job-f", 0), "FAILED"); /* the second failure: final */
}

static void test_lost_relaunches_at_once(void **state)
{
	(void)state;
	create("job-l", 1, 0);
	uint32_t i0 = 0;
	place("job-l", &i0, 1);
	wait_for(&S.n_launched, 1);
	update_acked("job-l", 0, 1, MESOS__V1__TASK_STATE__TASK_RUNNING);
	update_acked("job-l", 0, 1, MESOS__V1__TASK_STATE__TASK_LOST);
	assert_string_equal(task_state("job-l", 0), "PENDING");
	wait_for(&S.n_enqueued, 2);
	assert_string_equal(S.enqueued[1], "job-l-0");
	/* lost again before it ran (a refused launch): it waits 1 s, then 2 s */
	lose_and_requeue("job-l", 2, 1);
	lose_and_requeue("job-l", 3, 2);
	/* a run that reaches RUNNING ends the streak: the next loss goes at once */
	place("job-l", &i0, 1);
	wait_for(&S.n_launched, 4);
	update_acked("job-l", 0, 4, MESOS__V1__TASK_STATE__TASK_RUNNING);
	update_acked("job-l", 0, 4, MESOS__V1__TASK_STATE__TASK_LOST);
	assert_false(relaunch_waits("job-l", 0));
	wait_for(&S.n_enqueued, 5);
}

static void test_stop_kills_and_late_running_keeps_killing(void **state)
{
	(void)state;
	create("job-k", 2, 0);
	uint32_t i0 = 0;
	place("job-k", &i0, 1);
	wait_for(&S.n_launched, 1);
	update_acked("job-k", 0, 1, MESOS__V1__TASK_STATE__TASK_STARTING);
	Peloton__Api__Task__StopRequest req = PELOTON__API__TASK__STOP_REQUEST__INIT;
	Peloton__Api__Peloton__JobID jid = PELOTON__API__PELOTON__JOB_ID__INIT;
	jid.value = "job-k";
	req.jobid = &jid;
	Peloton__Api__Task__StopResponse *r =
	    (void *)call("/peloton.api.task.TaskManager/Stop", &req.base, NULL);
	assert_non_null(r);
	assert_int_equal(r->n_stoppedinstanceids, 2);
	PB_FREE(r);
	/* the launched one is killed on Mesos, the other dropped by the resource manager */
	wait_for(&S.n_killed, 1);
	assert_string_equal(S.killed[0], "job-k-0-1");
	assert_int_equal(S.n_rm_killed, 1);
	assert_string_equal(S.rm_killed[0], "job-k-1");
	assert_string_equal(task_state("job-k", 0), "KILLING");
	assert_string_equal(task_state("job-k", 1), "KILLED");
	/* a RUNNING that crossed the kill does not undo it */
	update_acked("job-k", 0, 1, MESOS__V1__TASK_STATE__TASK_RUNNING);
	assert_string_equal(task_state("job-k", 0), "KILLING");
	/* stopped: a LOST (the kill overtook the launch) counts as KILLED */
	update_acked("job-k", 0, 1, MESOS__V1__TASK_STATE__TASK_LOST);
	assert_string_equal(task_state("job-k", 0), "KILLED");
	/* the run alive on Mesos after all: an orphan, killed */
	size_t killed = S.n_killed;
	update_acked("job-k", 0, 1, MESOS__V1__TASK_STATE__TASK_RUNNING);
	wait_for(&S.n_killed, killed + 1);
	assert_string_equal(S.killed[killed], "job-k-0-1");
}

static void test_unknown_ids_are_acked(void **state)
{
	(void)state;
	update_acked("no-such-job", 0, 1, MESOS__V1__TASK_STATE__TASK_RUNNING);
	Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
	Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
	tid.value = "not-ours";
	st.task_id = &tid;
	st.has_uuid = true;
	uint8_t u[16] = {1};
	st.uuid.data = u;
	st.uuid.len = 16;
	size_t acked = S.n_acked;
	jobmgr_on_status(jm, &st);
	wait_for(&S.n_acked, acked + 1);
}

/* A terminal job is removed from memory and the store once its retention passed. */
static void test_retention(void **state)
{
	(void)state;
	close_jm();
	retention_ns = 1;
	open_jm(true);
	retention_ns = 0;
	create("job-old", 1, 0);
	uint32_t i0 = 0;
	place("job-old", &i0, 1);
	wait_for(&S.n_launched, 1);
	update_acked("job-old", 0, 1, MESOS__V1__TASK_STATE__TASK_FINISHED);
	Peloton__Api__Job__GetRequest req = PELOTON__API__JOB__GET_REQUEST__INIT;
	Peloton__Api__Peloton__JobID jid = PELOTON__API__PELOTON__JOB_ID__INIT;
	jid.value = "job-old";
	req.id = &jid;
	bool gone = false;
	for (int i = 0; i < 200 && !gone; i++) { /* the sweeper runs every 200 ms */
		Peloton__Api__Job__GetResponse *r =
		    (void *)call("/peloton.api.job.JobManager/Get", &req.base, NULL);
		assert_non_null(r);
		gone = r->error && r->error->notfound;
		PB_FREE(r);
		if (!gone) {
			struct timespec d = {0, 100000000};
			nanosleep(&d, NULL);
		}
	}
	assert_true(gone);
	void *v;
	assert_int_equal(store_get(store, STORE_JOB_RUNTIME, "job-old", 7, &v, NULL, NULL),
	                 STORE_ENOENT);
}

/* ---- recovery ---- */

static void test_recovery(void **state)
{
	(void)state;
	create("job-r", 3, 0);
	uint32_t i01[] = {0, 1};
	place("job-r", i01, 2);
	wait_for(&S.n_launched, 2);
	update_acked("job-r", 0, 1, MESOS__V1__TASK_STATE__TASK_RUNNING);
	update_acked("job-r", 1, 1, MESOS__V1__TASK_STATE__TASK_FINISHED);
	close_jm();
	open_jm(false);
	/* never launched: PENDING and enqueued again; on Mesos: kept, to reconcile */
	assert_string_equal(task_state("job-r", 0), "RUNNING");
	assert_string_equal(task_state("job-r", 1), "SUCCEEDED");
	assert_string_equal(task_state("job-r", 2), "PENDING");
	assert_int_equal(S.n_enqueued, 1);
	assert_string_equal(S.enqueued[0], "job-r-2");
	struct jobmgr_live live;
	jobmgr_reconcile_list(jm, &live);
	assert_int_equal(live.n, 1);
	assert_string_equal(live.task_ids[0], "job-r-0-1");
	assert_string_equal(live.agent_ids[0], "agent-1");
	jobmgr_live_fini(&live);
	/* and it goes on from there */
	assert_int_equal(jobmgr_start(jm), 0);
	update_acked("job-r", 0, 1, MESOS__V1__TASK_STATE__TASK_FINISHED);
	assert_string_equal(task_state("job-r", 0), "SUCCEEDED");
}

/* ---- long-running jobs and the SLA ---- */

/* A SERVICE task runs again whatever its end, with a backoff for runs
 * that end early; stopped, it stays KILLED; started, it runs again. */
static void test_service_restarts(void **state)
{
	(void)state;
	Peloton__Api__Job__JobConfig *c = job_config(1, 0);
	c->type = PELOTON__API__JOB__JOB_TYPE__SERVICE;
	create_cfg("svc", c);
	uint32_t i0 = 0;
	place("svc", &i0, 1);
	wait_for(&S.n_launched, 1);
	update_acked("svc", 0, 1, MESOS__V1__TASK_STATE__TASK_RUNNING);
	assert_string_equal(job_state("svc"), "RUNNING");
	/* it exits 0 at once: SUCCEEDED is not the end of a service */
	update_acked("svc", 0, 1, MESOS__V1__TASK_STATE__TASK_FINISHED);
	assert_string_equal(task_state("svc", 0), "PENDING");
	assert_true(relaunch_waits("svc", 0)); /* a flap: after a backoff */
	assert_string_equal(job_state("svc"), "RUNNING");
	wait_for(&S.n_enqueued, 2);
	place("svc", &i0, 1);
	wait_for(&S.n_launched, 2);
	/* it fails: maxFailures 0 does not apply to a service */
	update_acked("svc", 0, 2, MESOS__V1__TASK_STATE__TASK_FAILED);
	assert_string_equal(task_state("svc", 0), "PENDING");
	wait_for(&S.n_enqueued, 3);
	place("svc", &i0, 1);
	wait_for(&S.n_launched, 3);
	update_acked("svc", 0, 3, MESOS__V1__TASK_STATE__TASK_RUNNING);
	/* stopped: KILLED, and the job KILLED; no relaunch */
	stop_or_start("svc", true, 0, 0);
	wait_for(&S.n_killed, 1);
	update_acked("svc", 0, 3, MESOS__V1__TASK_STATE__TASK_KILLED);
	assert_string_equal(task_state("svc", 0), "KILLED");
	assert_string_equal(job_state("svc"), "KILLED");
	/* started again: PENDING, enqueued */
	size_t n = S.n_enqueued;
	stop_or_start("svc", false, 0, 0);
	assert_string_equal(task_state("svc", 0), "PENDING");
	wait_for(&S.n_enqueued, n + 1);
}

/* A DAEMON job's tasks carry the job's label and a TASK-kind constraint
 * on it (fewer than 1 on the host), beside the task's own constraint. */
static void test_daemon_one_per_host(void **state)
{
	(void)state;
	Peloton__Api__Job__JobConfig *c = job_config(3, 0);
	c->type = PELOTON__API__JOB__JOB_TYPE__DAEMON;
	create_cfg("dmn", c);
	wait_for(&S.n_enqueued, 3);
	Peloton__Private__Resmgr__Task *t =
	    peloton__private__resmgr__task__unpack(NULL, S.last_payload_len, S.last_payload);
	assert_non_null(t);
	bool labelled = false;
	for (size_t i = 0; t->labels && i < t->labels->n_labels; i++)
		labelled |= strcmp(t->labels->labels[i]->key, "peloton.daemon") == 0 &&
		            strcmp(t->labels->labels[i]->value, "dmn") == 0;
	assert_true(labelled);
	const Peloton__Api__Task__LabelConstraint *lc =
	    t->constraint ? t->constraint->labelconstraint : NULL;
	assert_non_null(lc);
	assert_int_equal(lc->kind, PELOTON__API__TASK__LABEL_CONSTRAINT__KIND__TASK);
	assert_int_equal(lc->condition,
	                 PELOTON__API__TASK__LABEL_CONSTRAINT__CONDITION__CONDITION_LESS_THAN);
	assert_int_equal(lc->requirement, 1);
	assert_string_equal(lc->label->value, "dmn");
	peloton__private__resmgr__task__free_unpacked(t, NULL);
}

/* sla.maximumRunningInstances: the rest wait, held with a reason, and go
 * as others end or are stopped. */
static void test_max_running_instances(void **state)
{
	(void)state;
	Peloton__Api__Job__JobConfig *c = job_config(5, 0);
	Peloton__Api__Job__SlaConfig sla = PELOTON__API__JOB__SLA_CONFIG__INIT;
	sla.maximumrunninginstances = 2;
	c->sla = &sla;
	create_cfg("cap", c);
	assert_int_equal(S.n_enqueued, 2);
	assert_string_equal(S.enqueued[0], "cap-0");
	assert_string_equal(S.enqueued[1], "cap-1");
	assert_string_equal(task_state("cap", 4), "PENDING");
	assert_string_equal(task_reason("cap", 4), "WAITING_FOR_SLA");
	/* a restart keeps the cap: two enqueued again, three held */
	close_jm();
	open_jm(true);
	assert_int_equal(S.n_enqueued, 2);
	assert_string_equal(task_reason("cap", 4), "WAITING_FOR_SLA");
	/* instance 0 runs and ends: instance 2 goes */
	uint32_t i0 = 0;
	place("cap", &i0, 1);
	wait_for(&S.n_launched, 1);
	update_acked("cap", 0, 1, MESOS__V1__TASK_STATE__TASK_RUNNING);
	update_acked("cap", 0, 1, MESOS__V1__TASK_STATE__TASK_FINISHED);
	wait_for(&S.n_enqueued, 3);
	assert_string_equal(S.enqueued[2], "cap-2");
	/* instance 1 stopped before it ran: instance 3 goes */
	stop_or_start("cap", true, 1, 2);
	wait_for(&S.n_enqueued, 4);
	assert_string_equal(S.enqueued[3], "cap-3");
	assert_string_equal(task_state("cap", 4), "PENDING");
	assert_int_equal(S.n_enqueued, 4);
	c->sla = NULL;
}

/* Each task's runtime says which config version its run was launched
 * with (or one equal to it for that instance: adding instances leaves the
 * others' config as it was); the job's current version is the one it is
 * meant to run; both survive a restart. */
static void test_config_version_per_task(void **state)
{
	(void)state;
	create("ver", 2, 0);
	uint32_t i0 = 0;
	place("ver", &i0, 1);
	wait_for(&S.n_launched, 1);
	update_acked("ver", 0, 1, MESOS__V1__TASK_STATE__TASK_RUNNING);
	update_job("ver", job_config(3, 0), false);
	uint64_t cur, want;
	task_versions("ver", 0, &cur, &want);
	assert_int_equal(cur, 2); /* launched with version 1, equal to 2 for it */
	assert_int_equal(want, 2);
	task_versions("ver", 2, &cur, &want);
	assert_int_equal(cur, 2); /* not launched: the current version */
	/* a change of the command: the running one is on version 2 until the
	 * update relaunches it (it waits for RUNNING of the other, a whole-job
	 * batch) */
	Mesos__V1__CommandInfo cmd = MESOS__V1__COMMAND_INFO__INIT;
	cmd.value = "echo v3";
	Peloton__Api__Job__JobConfig *c = job_config(3, 0);
	c->defaultconfig->command = &cmd;
	update_job("ver", c, false);
	c->defaultconfig->command = NULL;
	task_versions("ver", 0, &cur, &want);
	assert_int_equal(cur, 2);
	assert_int_equal(want, 3);
	/* durable: the same after a restart */
	close_jm();
	open_jm(true);
	task_versions("ver", 0, &cur, &want);
	assert_int_equal(cur, 2);
	assert_int_equal(want, 3);
	/* its next run is launched with version 3 */
	update_acked("ver", 0, 1, MESOS__V1__TASK_STATE__TASK_LOST);
	wait_for(&S.n_enqueued, 1);
	place("ver", &i0, 1);
	wait_for(&S.n_launched, 1);
	task_versions("ver", 0, &cur, &want);
	assert_int_equal(cur, 3);
}

/* An update that changes the config (here the command) restarts every
 * instance with it in one batch: the one on Mesos killed and launched
 * again, the one waiting for resources enqueued again. */
static void test_update_changes_config(void **state)
{
	(void)state;
	create("chg", 2, 0);
	uint32_t i0 = 0;
	place("chg", &i0, 1);
	wait_for(&S.n_launched, 1);
	update_acked("chg", 0, 1, MESOS__V1__TASK_STATE__TASK_RUNNING);
	size_t enq = S.n_enqueued;
	Mesos__V1__CommandInfo cmd = MESOS__V1__COMMAND_INFO__INIT;
	cmd.value = "echo v2";
	Peloton__Api__Job__JobConfig *c = job_config(2, 0);
	c->defaultconfig->command = &cmd;
	update_job("chg", c, false);
	c->defaultconfig->command = NULL;
	/* the running one killed (to run again), the waiting one taken back
	 * and enqueued again */
	wait_for(&S.n_killed, 1);
	assert_string_equal(S.killed[0], "chg-0-1");
	assert_string_equal(task_state("chg", 0), "KILLING");
	assert_int_equal(S.n_rm_killed, 1);
	assert_string_equal(S.rm_killed[0], "chg-1");
	wait_for(&S.n_enqueued, enq + 1);
	/* a crash while it is being killed: after the restart its kill still
	 * means "run again" */
	close_jm();
	open_jm(true);
	/* killed: launched again, with version 2 and the new command */
	update_acked("chg", 0, 1, MESOS__V1__TASK_STATE__TASK_KILLED);
	assert_string_equal(task_state("chg", 0), "PENDING");
	wait_for(&S.n_enqueued, 2); /* instance 1 at recovery, then instance 0 */
	place("chg", &i0, 1);
	wait_for(&S.n_launched, 1);
	assert_string_equal(S.launched[0], "chg-0-2");
	Peloton__Api__Task__GetResponse *g = task_get("chg", 0);
	assert_int_equal(g->result->runtime->configversion, 2);
	assert_non_null(g->result->config->command);
	assert_string_equal(g->result->config->command->value, "echo v2");
	PB_FREE(g);
}

/* CreateUpdate of job id to c with batch and pct: the call's code; the
 * update id into uid (40 bytes) when given. */
static enum rpc_code create_update(const char *id, Peloton__Api__Job__JobConfig *c, int32_t batch,
                                   double pct, bool paused, char *uid)
{
	Peloton__Api__Update__Svc__CreateUpdateRequest req =
	    PELOTON__API__UPDATE__SVC__CREATE_UPDATE_REQUEST__INIT;
	Peloton__Api__Peloton__JobID jid = PELOTON__API__PELOTON__JOB_ID__INIT;
	Peloton__Api__Update__UpdateConfig uc = PELOTON__API__UPDATE__UPDATE_CONFIG__INIT;
	jid.value = (char *)id;
	req.jobid = &jid;
	req.jobconfig = c;
	uc.batchsize = batch;
	uc.batchpercentage = pct;
	uc.startpaused = paused;
	req.updateconfig = &uc;
	enum rpc_code code;
	Peloton__Api__Update__Svc__CreateUpdateResponse *r =
	    (void *)call("/peloton.api.update.svc.UpdateService/CreateUpdate", &req.base, &code);
	if (r && uid)
		snprintf(uid, 40, "%s", r->result->value);
	PB_FREE(r);
	return code;
}

/* GetUpdate: the state (-1 when refused, *code set). */
static int update_state(const char *uid, enum rpc_code *code, int32_t *done)
{
	Peloton__Api__Update__Svc__GetUpdateRequest req =
	    PELOTON__API__UPDATE__SVC__GET_UPDATE_REQUEST__INIT;
	Peloton__Api__Update__UpdateID id = PELOTON__API__UPDATE__UPDATE_ID__INIT;
	id.value = (char *)uid;
	req.updateid = &id;
	Peloton__Api__Update__Svc__GetUpdateResponse *r =
	    (void *)call("/peloton.api.update.svc.UpdateService/GetUpdate", &req.base, code);
	int s = r ? (int)r->result->status->state : -1;
	if (r && done)
		*done = r->result->status->numtasksdone;
	PB_FREE(r);
	return s;
}

/* Pause, Resume, Rollback or Abort of uid: the code. */
static enum rpc_code update_op(const char *method, const char *uid)
{
	char path[128];
	snprintf(path, sizeof(path), "/peloton.api.update.svc.UpdateService/%s", method);
	Peloton__Api__Update__Svc__PauseUpdateRequest req =
	    PELOTON__API__UPDATE__SVC__PAUSE_UPDATE_REQUEST__INIT; /* (all four: field 1) */
	Peloton__Api__Update__UpdateID id = PELOTON__API__UPDATE__UPDATE_ID__INIT;
	id.value = (char *)uid;
	req.updateid = &id;
	enum rpc_code code;
	ProtobufCMessage *r = call(path, &req.base, &code);
	if (r)
		protobuf_c_message_free_unpacked(r, NULL);
	return code;
}

/* UpdateService's errors and state moves as the reference lists them:
 * NOT_FOUND for an unknown job or update, INVALID_ARGUMENT for bad
 * options, ALREADY_EXISTS for a second update, UNAVAILABLE for a move the
 * state does not allow; an update survives a restart in its state. */
static void test_update_service(void **state)
{
	(void)state;
	create("up", 2, 0);
	char uid[40];
	int32_t done = -1;
	enum rpc_code code;
	assert_int_equal(create_update("nope", job_config(2, 0), 1, 0, false, NULL), RPC_NOT_FOUND);
	assert_int_equal(create_update("up", job_config(2, 0), -1, 0, false, NULL),
	                 RPC_INVALID_ARGUMENT);
	assert_int_equal(create_update("up", job_config(2, 0), 1, NAN, false, NULL),
	                 RPC_INVALID_ARGUMENT);
	assert_int_equal(create_update("up", job_config(2, 0), 1, 101, false, NULL),
	                 RPC_INVALID_ARGUMENT);
	assert_int_equal(update_state("nope", &code, NULL), -1);
	assert_int_equal(code, RPC_NOT_FOUND);
	/* paused at creation; a second one refused */
	assert_int_equal(create_update("up", job_config(3, 0), 1, 0, true, uid), RPC_OK);
	assert_int_equal(update_state(uid, &code, &done), PELOTON__API__UPDATE__STATE__PAUSED);
	assert_int_equal(create_update("up", job_config(3, 0), 1, 0, false, NULL),
	                 RPC_ALREADY_EXISTS);
	assert_int_equal(update_op("PauseUpdate", uid), RPC_UNAVAILABLE);
	assert_int_equal(update_op("ResumeUpdate", uid), RPC_OK);
	assert_int_equal(update_state(uid, &code, NULL),
	                 PELOTON__API__UPDATE__STATE__ROLLING_FORWARD);
	assert_int_equal(update_op("ResumeUpdate", uid), RPC_UNAVAILABLE);
	assert_int_equal(update_op("PauseUpdate", uid), RPC_OK);
	/* durable: paused after a restart, with the job's 3 instances */
	close_jm();
	open_jm(true);
	assert_int_equal(update_state(uid, &code, NULL), PELOTON__API__UPDATE__STATE__PAUSED);
	assert_int_equal(update_op("RollbackUpdate", uid), RPC_OK);
	assert_int_equal(update_op("ResumeUpdate", uid), RPC_OK);
	assert_int_equal(update_state(uid, &code, NULL), PELOTON__API__UPDATE__STATE__ROLLING_BACK);
	assert_int_equal(update_op("RollbackUpdate", uid), RPC_UNAVAILABLE);
	assert_int_equal(update_op("AbortUpdate", uid), RPC_OK);
	assert_int_equal(update_state(uid, &code, NULL), PELOTON__API__UPDATE__STATE__ABORTED);
	assert_int_equal(update_op("AbortUpdate", uid), RPC_UNAVAILABLE);
	assert_int_equal(update_op("PauseUpdate", "nope"), RPC_NOT_FOUND);
	/* over: a new one may start */
	assert_int_equal(create_update("up", job_config(2, 0), 0, 50, false, NULL), RPC_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_validation_ports_and_constraints, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_instance_ranges_merge, setup, teardown),
	    cmocka_unit_test(test_fsm_every_row),
	    cmocka_unit_test_setup_teardown(test_launch_run_finish, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failed_relaunches_then_gives_up, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lost_relaunches_at_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_kills_and_late_running_keeps_killing, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_ids_are_acked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_recovery, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_service_restarts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_daemon_one_per_host, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_max_running_instances, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_version_per_task, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_update_changes_config, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_update_service, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
