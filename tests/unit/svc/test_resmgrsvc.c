/*
 * ResourceManagerService edge: requests as a client would send them,
 * responses checked field by field, errors where resmgrsvc.proto puts
 * them, and the resmgr.Task a job manager enqueues coming back whole.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <urcu.h>

#include "resmgrsvc.h"

#define FREE(m) protobuf_c_message_free_unpacked(&(m)->base, NULL)

static struct respool_tree *pools;
static struct resmgr *rm;
static char leaf[40];

static int setup(void **state)
{
	(void)state;
	struct respool_error e;
	struct respool_config c = {.name = "leaf"};
	c.res[RES_CPU] = (struct respool_res){2, 100, 1};
	c.res_set[RES_CPU] = true;
	pools = respool_tree_create();
	assert_int_equal(respool_create(pools, &c, leaf, sizeof(leaf), &e), 0);
	struct resmgr_config rc = {.pools = pools};
	rm = resmgr_create(&rc);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	resmgr_destroy(rm);
	respool_tree_destroy(pools);
	return 0;
}

/* Storage for one resmgr.Task built on the stack. */
struct task_buf {
	Peloton__Private__Resmgr__Task t;
	Peloton__Api__Peloton__TaskID id;
	Peloton__Api__Peloton__JobID job;
	Peloton__Api__Task__ResourceConfig res;
	char idtext[32];
};

static void make_task(struct task_buf *b, const char *id, double cpu)
{
	peloton__private__resmgr__task__init(&b->t);
	peloton__api__peloton__task_id__init(&b->id);
	peloton__api__peloton__job_id__init(&b->job);
	peloton__api__task__resource_config__init(&b->res);
	snprintf(b->idtext, sizeof(b->idtext), "%s", id);
	b->id.value = b->idtext;
	b->job.value = "job-1";
	b->res.cpulimit = cpu;
	b->t.id = &b->id;
	b->t.jobid = &b->job;
	b->t.resource = &b->res;
	b->t.name = "hello";
	b->t.numports = 2;
	b->t.type = PELOTON__PRIVATE__RESMGR__TASK_TYPE__BATCH;
}

static resmgrsvc_enqueue_resp *enqueue(const char *pool, struct task_buf *tasks, size_t n_gangs)
{
	Peloton__Private__Resmgr__Gang gangs[4], *gp[4];
	Peloton__Private__Resmgr__Task *tp[4];
	Peloton__Api__Peloton__ResourcePoolID rp = PELOTON__API__PELOTON__RESOURCE_POOL_ID__INIT;
	resmgrsvc_enqueue_req req = PELOTON__PRIVATE__RESMGR__ENQUEUE_GANGS_REQUEST__INIT;
	rp.value = (char *)pool;
	for (size_t i = 0; i < n_gangs; i++) {
		peloton__private__resmgr__gang__init(&gangs[i]);
		tp[i] = &tasks[i].t;
		gangs[i].n_tasks = 1;
		gangs[i].tasks = &tp[i];
		gp[i] = &gangs[i];
	}
	req.respool = &rp;
	req.n_gangs = n_gangs;
	req.gangs = gp;
	return resmgrsvc_enqueue_gangs(rm, &req);
}

static void test_enqueue_errors_and_roundtrip(void **state)
{
	(void)state;
	struct task_buf t[2];
	make_task(&t[0], "job-1-0", 1);
	make_task(&t[1], "job-1-1", 1);

	resmgrsvc_enqueue_resp *r = enqueue("no-such-pool", t, 1);
	assert_non_null(r->error);
	assert_non_null(r->error->notfound);
	assert_string_equal(r->error->notfound->message, "resource pool 'no-such-pool' not found");
	FREE(r);

	r = enqueue(leaf, t, 2);
	assert_null(r->error);
	FREE(r);
	r = enqueue(leaf, t, 1); /* again: already known */
	assert_non_null(r->error);
	assert_non_null(r->error->failure);
	assert_int_equal(r->error->failure->n_failed, 1);
	assert_string_equal(r->error->failure->failed[0]->message, "task already exists");
	assert_string_equal(r->error->failure->failed[0]->task->id->value, "job-1-0");
	FREE(r);

	double cap[RES_N] = {10, 0, 0, 0};
	resmgr_entitle(rm, cap);
	resmgrsvc_dequeue_req dq = PELOTON__PRIVATE__RESMGR__DEQUEUE_GANGS_REQUEST__INIT;
	dq.limit = 10;
	resmgrsvc_dequeue_resp *d = resmgrsvc_dequeue_gangs(rm, &dq);
	assert_int_equal(d->n_gangs, 2);
	const Peloton__Private__Resmgr__Task *got = d->gangs[0]->tasks[0];
	assert_string_equal(got->name, "hello"); /* the whole Task came back */
	assert_int_equal(got->numports, 2);
	assert_string_equal(got->jobid->value, "job-1");
	FREE(d);

	/* placements: one good, one naming an unknown task */
	Peloton__Private__Resmgr__Placement pl[2], *plp[2] = {&pl[0], &pl[1]};
	Peloton__Api__Peloton__TaskID ids[2], *idp[2] = {&ids[0], &ids[1]};
	Mesos__V1__AgentID agent = MESOS__V1__AGENT_ID__INIT;
	uint32_t ports[2] = {31000, 31001};
	agent.value = "agent-7";
	for (int i = 0; i < 2; i++) {
		peloton__private__resmgr__placement__init(&pl[i]);
		peloton__api__peloton__task_id__init(&ids[i]);
		pl[i].hostname = "host-7";
		pl[i].agentid = &agent;
		pl[i].n_tasks = 1;
		pl[i].tasks = &idp[i];
	}
	ids[0].value = "job-1-0";
	ids[1].value = "ghost";
	pl[0].n_ports = 2;
	pl[0].ports = ports;
	Mesos__V1__OfferID offer = MESOS__V1__OFFER_ID__INIT, *offerp = &offer;
	offer.value = "offer-42";
	pl[0].n_offerids = 1;
	pl[0].offerids = &offerp;
	resmgrsvc_setpl_req sp = PELOTON__PRIVATE__RESMGR__SET_PLACEMENTS_REQUEST__INIT;
	sp.n_placements = 2;
	sp.placements = plp;
	resmgrsvc_setpl_resp *s = resmgrsvc_set_placements(rm, &sp);
	assert_non_null(s->error);
	assert_int_equal(s->error->failure->n_failed, 1);
	assert_string_equal(s->error->failure->failed[0]->message, "task not found");
	assert_string_equal(s->error->failure->failed[0]->placement->tasks[0]->value, "ghost");
	FREE(s);

	resmgrsvc_byhost_req bh = PELOTON__PRIVATE__RESMGR__GET_TASKS_BY_HOSTS_REQUEST__INIT;
	char *hosts[1] = {"host-7"};
	bh.n_hostnames = 1;
	bh.hostnames = hosts;
	resmgrsvc_byhost_resp *b = resmgrsvc_get_tasks_by_hosts(rm, &bh);
	assert_int_equal(b->n_hosttasksmap, 1);
	assert_int_equal(b->hosttasksmap[0]->value->n_tasks, 1);
	assert_string_equal(b->hosttasksmap[0]->value->tasks[0]->name, "hello");
	FREE(b);

	resmgrsvc_getpl_req gp = PELOTON__PRIVATE__RESMGR__GET_PLACEMENTS_REQUEST__INIT;
	resmgrsvc_getpl_resp *g = resmgrsvc_get_placements(rm, &gp);
	assert_int_equal(g->n_placements, 1);
	assert_string_equal(g->placements[0]->hostname, "host-7");
	assert_string_equal(g->placements[0]->agentid->value, "agent-7");
	assert_int_equal(g->placements[0]->n_ports, 2);
	assert_int_equal(g->placements[0]->ports[1], 31001);
	assert_int_equal(g->placements[0]->n_offerids, 1); /* the launch spends these */
	assert_string_equal(g->placements[0]->offerids[0]->value, "offer-42");
	FREE(g);

	/* job-1-1, dequeued and not placed, enqueued again: handed back (a
	 * placement engine in another process gave up on it), then dequeued again */
	assert_int_equal(resmgr_task_state(rm, "job-1-1"), TASK_PLACING);
	r = enqueue(leaf, &t[1], 1);
	assert_null(r->error);
	FREE(r);
	assert_int_equal(resmgr_task_state(rm, "job-1-1"), TASK_READY);
	d = resmgrsvc_dequeue_gangs(rm, &dq);
	assert_int_equal(d->n_gangs, 1);
	assert_string_equal(d->gangs[0]->tasks[0]->id->value, "job-1-1");
	FREE(d);
	/* a task past PLACING is still refused as known */
	r = enqueue(leaf, t, 1);
	assert_non_null(r->error);
	assert_string_equal(r->error->failure->failed[0]->message, "task already exists");
	FREE(r);
}

static void test_updates_kills_queries(void **state)
{
	(void)state;
	struct task_buf t[1];
	make_task(&t[0], "job-2-0", 1);
	FREE(enqueue(leaf, t, 1));
	double cap[RES_N] = {10, 0, 0, 0};
	resmgr_entitle(rm, cap);
	struct resmgr_gang_out go;
	assert_int_equal(resmgr_dequeue_gangs(rm, RM_TYPE_UNKNOWN, 1, 0, &go), 1);
	resmgr_gang_free(&go);
	const char *ids[1] = {"job-2-0"};
	struct resmgr_placement p = {"h", "a", ids, 1, NULL, 0, NULL, 0};
	resmgr_set_placements(rm, &p, 1, NULL);
	struct resmgr_placement_out po;
	assert_int_equal(resmgr_get_placements(rm, 1, 0, &po), 1);
	resmgr_placement_free(&po);
	assert_int_equal(resmgr_notify(rm, "job-2-0", TEV_LAUNCHED), RM_OK);

	/* a Mesos update naming the run ("-1"), then a duplicate, then the end */
	Peloton__Private__Eventstream__Event ev[3], *evp[3] = {&ev[0], &ev[1], &ev[2]};
	Mesos__V1__TaskStatus st[3];
	Mesos__V1__TaskID mid = MESOS__V1__TASK_ID__INIT;
	mid.value = "job-2-0-1";
	static const int states[3] = {MESOS__V1__TASK_STATE__TASK_RUNNING,
	                              MESOS__V1__TASK_STATE__TASK_RUNNING,
	                              MESOS__V1__TASK_STATE__TASK_FINISHED};
	for (int i = 0; i < 3; i++) {
		peloton__private__eventstream__event__init(&ev[i]);
		mesos__v1__task_status__init(&st[i]);
		st[i].task_id = &mid;
		st[i].state = states[i];
		ev[i].offset = 10 + (uint64_t)i;
		ev[i].type = PELOTON__PRIVATE__EVENTSTREAM__EVENT__TYPE__MESOS_TASK_STATUS;
		ev[i].mesostaskstatus = &st[i];
	}
	resmgrsvc_notify_req nr = PELOTON__PRIVATE__RESMGR__NOTIFY_TASK_UPDATES_REQUEST__INIT;
	nr.n_events = 2;
	nr.events = evp;
	resmgrsvc_notify_resp *n = resmgrsvc_notify_task_updates(rm, &nr);
	assert_int_equal(n->purgeoffset, 11);
	FREE(n);
	assert_int_equal(resmgr_task_state(rm, "job-2-0"), TASK_RUNNING);

	resmgrsvc_active_req ar = PELOTON__PRIVATE__RESMGR__GET_ACTIVE_TASKS_REQUEST__INIT;
	ar.jobid = "job-2";
	resmgrsvc_active_resp *a = resmgrsvc_get_active_tasks(rm, &ar);
	assert_int_equal(a->n_taskstatesmap, 0); /* job id "job-2" is not "job-1" */
	FREE(a);
	ar.jobid = "job-1";
	a = resmgrsvc_get_active_tasks(rm, &ar);
	assert_int_equal(a->n_taskstatesmap, 1);
	assert_string_equal(a->taskstatesmap[0]->value, "RUNNING");
	/* the same task in tasksByState, with its state and when it entered it */
	assert_int_equal(a->n_tasksbystate, 1);
	assert_string_equal(a->tasksbystate[0]->key, "RUNNING");
	assert_int_equal(a->tasksbystate[0]->value->n_taskentry, 1);
	const Peloton__Private__Resmgr__GetActiveTasksResponse__TaskEntry *te =
	    a->tasksbystate[0]->value->taskentry[0];
	assert_string_equal(te->taskid, a->taskstatesmap[0]->key);
	assert_string_equal(te->taskstate, "RUNNING");
	assert_int_equal(strlen(te->lastupdatetime), 24); /* 2026-12-04T23:59:59.123Z */
	FREE(a);

	nr.n_events = 1;
	nr.events = &evp[2];
	n = resmgrsvc_notify_task_updates(rm, &nr);
	assert_int_equal(n->purgeoffset, 12);
	FREE(n);
	assert_int_equal(resmgr_task_state(rm, "job-2-0"), TASK_SUCCEEDED);

	Peloton__Api__Peloton__TaskID k[2], *kp[2] = {&k[0], &k[1]};
	peloton__api__peloton__task_id__init(&k[0]);
	peloton__api__peloton__task_id__init(&k[1]);
	k[0].value = "nobody";
	k[1].value = "job-2-0";
	resmgrsvc_kill_req kr = PELOTON__PRIVATE__RESMGR__KILL_TASKS_REQUEST__INIT;
	kr.n_tasks = 2;
	kr.tasks = kp;
	resmgrsvc_kill_resp *kresp = resmgrsvc_kill_tasks(rm, &kr);
	assert_int_equal(kresp->n_error, 2);
	assert_non_null(kresp->error[0]->notfound);
	assert_string_equal(kresp->error[0]->notfound->message, "task nobody: task not found");
	assert_non_null(kresp->error[1]->killerror); /* already finished */
	FREE(kresp);

	resmgrsvc_preempt_req pr = PELOTON__PRIVATE__RESMGR__GET_PREEMPTIBLE_TASKS_REQUEST__INIT;
	resmgrsvc_preempt_resp *pp = resmgrsvc_get_preemptible_tasks(rm, &pr);
	assert_int_equal(pp->n_tasks, 0);
	FREE(pp);
}

int main(void)
{
	rcu_register_thread();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_enqueue_errors_and_roundtrip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_updates_kills_queries, setup, teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	rcu_unregister_thread();
	return rc;
}
