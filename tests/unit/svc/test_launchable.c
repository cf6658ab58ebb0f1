/*
 * launchable: a LaunchableTask (proto) becomes the launchable the job
 * manager hands over in process, and either becomes the Mesos TaskInfo
 * the host manager sends: resources, ports (by name from the map, static
 * ones kept), environment, labels; task ids that are not
 * <job>-<instance>-<run> are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "launchable.h"

struct cfg_buf {
	Peloton__Api__Task__TaskConfig tc;
	Peloton__Api__Task__ResourceConfig rc;
	Peloton__Api__Task__PortConfig pc[2], *pcp[2];
	Mesos__V1__CommandInfo cmd;
	Peloton__Api__Peloton__Label lab, *labp;
};

static void cfg_init(struct cfg_buf *b)
{
	peloton__api__task__task_config__init(&b->tc);
	peloton__api__task__resource_config__init(&b->rc);
	b->rc.cpulimit = 0.5;
	b->rc.memlimitmb = 64;
	b->rc.disklimitmb = 10;
	b->tc.resource = &b->rc;
	for (int i = 0; i < 2; i++) {
		peloton__api__task__port_config__init(&b->pc[i]);
		b->pcp[i] = &b->pc[i];
	}
	b->pc[0].name = "http";
	b->pc[0].envname = "PORT_HTTP";
	b->pc[1].name = "admin";
	b->pc[1].value = 9000; /* static */
	b->tc.n_ports = 2;
	b->tc.ports = b->pcp;
	mesos__v1__command_info__init(&b->cmd);
	b->cmd.value = "sleep 1";
	b->tc.command = &b->cmd;
	peloton__api__peloton__label__init(&b->lab);
	b->lab.key = "team";
	b->lab.value = "infra";
	b->labp = &b->lab;
	b->tc.n_labels = 1;
	b->tc.labels = &b->labp;
}

static const char *env_of(const Mesos__V1__TaskInfo *ti, const char *name)
{
	for (size_t i = 0; i < ti->command->environment->n_variables; i++)
		if (strcmp(ti->command->environment->variables[i]->name, name) == 0)
			return ti->command->environment->variables[i]->value;
	return NULL;
}

static const Mesos__V1__Resource *res_of(const Mesos__V1__TaskInfo *ti, const char *name)
{
	for (size_t i = 0; i < ti->n_resources; i++)
		if (strcmp(ti->resources[i]->name, name) == 0)
			return ti->resources[i];
	return NULL;
}

static void from_proto_to_taskinfo(void **state)
{
	(void)state;
	struct cfg_buf b;
	cfg_init(&b);
	Peloton__Private__Hostmgr__Hostsvc__LaunchableTask p =
	    PELOTON__PRIVATE__HOSTMGR__HOSTSVC__LAUNCHABLE_TASK__INIT;
	Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
	tid.value = "0f1e2d3c-aaaa-bbbb-cccc-000000000001-7-3";
	p.taskid = &tid;
	p.config = &b.tc;
	Peloton__Private__Hostmgr__Hostsvc__LaunchableTask__PortsEntry
	    e = PELOTON__PRIVATE__HOSTMGR__HOSTSVC__LAUNCHABLE_TASK__PORTS_ENTRY__INIT,
	    *ep = &e;
	e.key = "http";
	e.value = 31005;
	p.n_ports = 1;
	p.ports = &ep;

	uint32_t ports[4];
	struct launchable lt;
	struct launchable_volume vol;
	char err[128];
	assert_int_equal(launchable_from_proto(&p, ports, 4, &vol, &lt, err, sizeof(err)), 0);
	assert_int_equal(lt.n_ports, 2);
	assert_int_equal(ports[0], 31005); /* from the map, by name */
	assert_int_equal(ports[1], 9000);  /* static */

	struct taskinfo_buf x;
	assert_int_equal(launchable_taskinfo(&lt, "agent-9", &x), 0);
	const Mesos__V1__TaskInfo *ti = &x.ti;
	assert_string_equal(ti->task_id->value, tid.value);
	assert_string_equal(ti->agent_id->value, "agent-9");
	assert_string_equal(ti->name, "0f1e2d3c-aaaa-bbbb-cccc-000000000001-7");
	assert_string_equal(env_of(ti, "PELOTON_JOB_ID"), "0f1e2d3c-aaaa-bbbb-cccc-000000000001");
	assert_string_equal(env_of(ti, "PELOTON_INSTANCE_ID"), "7");
	assert_string_equal(env_of(ti, "PELOTON_TASK_ID"),
	                    "0f1e2d3c-aaaa-bbbb-cccc-000000000001-7");
	assert_string_equal(env_of(ti, "PORT_HTTP"), "31005");
	assert_string_equal(ti->command->value, "sleep 1");
	assert_true(res_of(ti, "cpus")->scalar->value == 0.5);
	assert_true(res_of(ti, "mem")->scalar->value == 64);
	assert_true(res_of(ti, "disk")->scalar->value == 10);
	assert_null(res_of(ti, "gpus"));
	const Mesos__V1__Resource *pr = res_of(ti, "ports");
	assert_non_null(pr);
	assert_int_equal(pr->ranges->n_range, 2);
	assert_int_equal(pr->ranges->range[0]->begin, 31005);
	assert_int_equal(pr->ranges->range[1]->end, 9000);
	assert_int_equal(ti->labels->n_labels, 1);
	assert_string_equal(ti->labels->labels[0]->value, "infra");

	/* the TaskInfo packs (every required field present) */
	size_t len = mesos__v1__task_info__get_packed_size(ti);
	uint8_t buf[4096];
	assert_true(len < sizeof(buf));
	mesos__v1__task_info__pack(ti, buf);
	Mesos__V1__TaskInfo *back = mesos__v1__task_info__unpack(NULL, len, buf);
	assert_non_null(back);
	mesos__v1__task_info__free_unpacked(back, NULL);
}

static void refused(void **state)
{
	(void)state;
	struct cfg_buf b;
	cfg_init(&b);
	uint32_t ports[4];
	struct launchable lt;
	struct launchable_volume vol;
	char err[128];
	Peloton__Private__Hostmgr__Hostsvc__LaunchableTask p =
	    PELOTON__PRIVATE__HOSTMGR__HOSTSVC__LAUNCHABLE_TASK__INIT;
	assert_int_equal(launchable_from_proto(&p, ports, 4, &vol, &lt, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "taskId"));
	Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
	tid.value = "job-1-0";
	p.taskid = &tid;
	assert_int_equal(launchable_from_proto(&p, ports, 4, &vol, &lt, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "config"));
	p.config = &b.tc;
	assert_int_equal(launchable_from_proto(&p, ports, 1, &vol, &lt, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "ports"));

	struct taskinfo_buf x;
	const char *bad[] = {"job", "job-1", "job-x-1", "job-1-", "-1-2", "job-1-2x", ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		lt = (struct launchable){bad[i], &b.tc, ports, 0, NULL};
		assert_int_equal(launchable_taskinfo(&lt, "a", &x), -1);
	}
	lt = (struct launchable){"job-1-0", NULL, ports, 0, NULL};
	assert_int_equal(launchable_taskinfo(&lt, "a", &x), -1);
	lt = (struct launchable){"job-1-0", &b.tc, ports, 0, NULL};
	assert_int_equal(launchable_taskinfo(&lt, "a", &x), 0);
	assert_null(res_of(&x.ti, "ports")); /* no ports given: none in the TaskInfo */
}

/* An enabled COMMAND health check goes to Mesos: the command in a shell,
 * the task's environment shared, zero fields left to Mesos's defaults. */
static void health_check(void **state)
{
	(void)state;
	struct cfg_buf b;
	cfg_init(&b);
	Peloton__Api__Task__HealthCheckConfig h = PELOTON__API__TASK__HEALTH_CHECK_CONFIG__INIT;
	Peloton__Api__Task__HealthCheckConfig__CommandCheck cc =
	    PELOTON__API__TASK__HEALTH_CHECK_CONFIG__COMMAND_CHECK__INIT;
	cc.command = "test -f /tmp/ok";
	h.type = PELOTON__API__TASK__HEALTH_CHECK_CONFIG__TYPE__COMMAND;
	h.commandcheck = &cc;
	h.intervalsecs = 5;
	b.tc.healthcheck = &h;
	uint32_t ports[4] = {0};
	struct launchable lt = {"job-1-0", &b.tc, ports, 0, NULL};
	struct taskinfo_buf x;
	assert_int_equal(launchable_taskinfo(&lt, "a", &x), 0);
	assert_null(x.ti.health_check); /* not enabled: not sent */
	h.enabled = true;
	assert_int_equal(launchable_taskinfo(&lt, "a", &x), 0);
	const Mesos__V1__HealthCheck *hc = x.ti.health_check;
	assert_non_null(hc);
	assert_int_equal(hc->type, MESOS__V1__HEALTH_CHECK__TYPE__COMMAND);
	assert_string_equal(hc->command->value, "test -f /tmp/ok");
	assert_true(hc->command->shell);
	assert_true(hc->has_interval_seconds && hc->interval_seconds == 5);
	assert_false(hc->has_delay_seconds || hc->has_timeout_seconds ||
	             hc->has_consecutive_failures);
	assert_ptr_equal(hc->command->environment, x.ti.command->environment);
	cc.unshareenvironments = true;
	assert_int_equal(launchable_taskinfo(&lt, "a", &x), 0);
	assert_null(x.ti.health_check->command->environment);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(from_proto_to_taskinfo),
	    cmocka_unit_test(refused),
	    cmocka_unit_test(health_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
