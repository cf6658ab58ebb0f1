/* LaunchableTask -> Mesos TaskInfo; see launchable.h. */
#include "launchable.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Mesos__V1__Resource *launchable_scalar(Mesos__V1__Resource *r, Mesos__V1__Value__Scalar *v,
                                       const char *name, double x)
{
	mesos__v1__resource__init(r);
	mesos__v1__value__scalar__init(v);
	r->name = (char *)name;
	r->type = MESOS__V1__VALUE__TYPE__SCALAR;
	v->value = x;
	r->scalar = v;
	return r;
}

static void add_env(struct taskinfo_buf *x, const char *name, const char *value)
{
	size_t n = x->env.n_variables;
	if (n >= 64 || x->n_own >= 24)
		return;
	Mesos__V1__Environment__Variable *v = &x->var[x->n_own++];
	mesos__v1__environment__variable__init(v);
	v->name = (char *)name;
	v->value = (char *)value;
	x->varp[n] = v;
	x->env.n_variables = n + 1;
}

int launchable_split_id(const char *id, char *job, size_t jl, char *inst, size_t il)
{
	const char *d1 = strrchr(id, '-'), *d2 = d1;
	if (!d1 || d1 == id || !d1[1] || strspn(d1 + 1, "0123456789") != strlen(d1 + 1))
		return -1;
	for (d2 = d1 - 1; d2 > id && *d2 != '-'; d2--)
		;
	size_t ilen = (size_t)(d1 - d2 - 1), jlen = (size_t)(d2 - id);
	if (d2 <= id || ilen == 0 || ilen >= il || jlen >= jl ||
	    strspn(d2 + 1, "0123456789") != ilen)
		return -1;
	memcpy(job, id, jlen);
	job[jlen] = 0;
	memcpy(inst, d2 + 1, ilen);
	inst[ilen] = 0;
	return 0;
}

/* "<job>-<inst>-<run>": job and instance into x (the job id has dashes). */
static int split_task_id(const char *id, struct taskinfo_buf *x)
{
	if (launchable_split_id(id, x->job, sizeof(x->job), x->inst, sizeof(x->inst)) != 0)
		return -1;
	snprintf(x->ptask, sizeof(x->ptask), "%s-%s", x->job, x->inst);
	return 0;
}

static void add_ports(const struct launchable *lt, struct taskinfo_buf *x, size_t *nr)
{
	const Peloton__Api__Task__TaskConfig *tc = lt->config;
	size_t np = 0;
	for (size_t i = 0; i < tc->n_ports && i < lt->n_ports && np < LAUNCHABLE_MAX_PORTS; i++) {
		snprintf(x->portv[np], sizeof(x->portv[np]), "%u", lt->ports[i]);
		if (tc->ports[i]->envname && tc->ports[i]->envname[0])
			add_env(x, tc->ports[i]->envname, x->portv[np]);
		mesos__v1__value__range__init(&x->rg[np]);
		x->rg[np].begin = x->rg[np].end = lt->ports[i];
		x->rgp[np] = &x->rg[np];
		np++;
	}
	if (!np)
		return;
	mesos__v1__resource__init(&x->res[*nr]);
	mesos__v1__value__ranges__init(&x->rgs);
	x->res[*nr].name = "ports";
	x->res[*nr].type = MESOS__V1__VALUE__TYPE__RANGES;
	x->rgs.n_range = np;
	x->rgs.range = x->rgp;
	x->res[*nr].ranges = &x->rgs;
	x->resp[*nr] = &x->res[*nr];
	(*nr)++;
}

/* An enabled COMMAND health check as Mesos's (a zero field leaves Mesos's
 * default: 15 s delay, every 10 s, 20 s timeout, 3 failures). */
static void health_check(const Peloton__Api__Task__HealthCheckConfig *h, struct taskinfo_buf *x)
{
	if (!h || !h->enabled ||
	    h->type != PELOTON__API__TASK__HEALTH_CHECK_CONFIG__TYPE__COMMAND || !h->commandcheck ||
	    !h->commandcheck->command || !h->commandcheck->command[0])
		return; /* validation refuses an enabled check it cannot send */
	mesos__v1__health_check__init(&x->hc);
	mesos__v1__command_info__init(&x->hc_cmd);
	x->hc_cmd.value = h->commandcheck->command;
	x->hc_cmd.has_shell = true;
	x->hc_cmd.shell = true;
	if (!h->commandcheck->unshareenvironments)
		x->hc_cmd.environment = &x->env;
	x->hc.has_type = true;
	x->hc.type = MESOS__V1__HEALTH_CHECK__TYPE__COMMAND;
	x->hc.command = &x->hc_cmd;
	x->hc.has_delay_seconds = h->initialintervalsecs > 0;
	x->hc.delay_seconds = h->initialintervalsecs;
	x->hc.has_interval_seconds = h->intervalsecs > 0;
	x->hc.interval_seconds = h->intervalsecs;
	x->hc.has_timeout_seconds = h->timeoutsecs > 0;
	x->hc.timeout_seconds = h->timeoutsecs;
	x->hc.has_consecutive_failures = h->maxconsecutivefailures > 0;
	x->hc.consecutive_failures = h->maxconsecutivefailures;
	x->ti.health_check = &x->hc;
}

int launchable_taskinfo(const struct launchable *lt, const char *agent_id, struct taskinfo_buf *x)
{
	const Peloton__Api__Task__TaskConfig *tc = lt->config;
	if (!tc || !lt->task_id || split_task_id(lt->task_id, x) != 0)
		return -1;
	const Peloton__Api__Task__ResourceConfig *rc = tc->resource;
	size_t nr = 0;

	mesos__v1__task_info__init(&x->ti);
	mesos__v1__task_id__init(&x->tid);
	mesos__v1__agent_id__init(&x->aid);
	x->tid.value = (char *)lt->task_id;
	x->aid.value = (char *)agent_id;
	x->ti.name = x->ptask;
	x->ti.task_id = &x->tid;
	x->ti.agent_id = &x->aid;
	if (rc) {
		x->resp[nr] = launchable_scalar(&x->res[nr], &x->sc[nr], "cpus", rc->cpulimit);
		nr++;
		x->resp[nr] = launchable_scalar(&x->res[nr], &x->sc[nr], "mem", rc->memlimitmb);
		nr++;
		if (rc->disklimitmb > 0) {
			x->resp[nr] =
			    launchable_scalar(&x->res[nr], &x->sc[nr], "disk", rc->disklimitmb);
			nr++;
		}
		if (rc->gpulimit > 0) {
			x->resp[nr] =
			    launchable_scalar(&x->res[nr], &x->sc[nr], "gpus", rc->gpulimit);
			nr++;
		}
	}
	/* environment: the config's, then ours */
	x->n_own = 0;
	mesos__v1__command_info__init(&x->cmd);
	mesos__v1__environment__init(&x->env);
	x->env.variables = x->varp;
	if (tc->command)
		x->cmd = *tc->command;
	if (tc->command && tc->command->environment)
		for (size_t i = 0; i < tc->command->environment->n_variables && i < 40; i++) {
			x->varp[i] = tc->command->environment->variables[i];
			x->env.n_variables++;
		}
	add_env(x, "PELOTON_JOB_ID", x->job);
	add_env(x, "PELOTON_INSTANCE_ID", x->inst);
	add_env(x, "PELOTON_TASK_ID", x->ptask);
	add_ports(lt, x, &nr);
	x->cmd.environment = &x->env;
	if (!x->cmd.value && !x->cmd.has_shell)
		x->cmd.value = "true";
	x->ti.command = &x->cmd;
	x->ti.container = tc->container;
	x->ti.n_resources = nr;
	x->ti.resources = x->resp;
	size_t nl = 0;
	mesos__v1__labels__init(&x->labels);
	for (size_t i = 0; i < tc->n_labels && nl < LAUNCHABLE_MAX_LABELS; i++, nl++) {
		mesos__v1__label__init(&x->lab[nl]);
		x->lab[nl].key = tc->labels[i]->key;
		x->lab[nl].value = tc->labels[i]->value;
		x->labp[nl] = &x->lab[nl];
	}
	if (nl) {
		x->labels.n_labels = nl;
		x->labels.labels = x->labp;
		x->ti.labels = &x->labels;
	}
	health_check(tc->healthcheck, x);
	return 0;
}

/* The reservation (role, principal, labels job_id and instance_id) on a resource. */
static void reserve_one(Mesos__V1__Resource *r, const char *role, struct taskinfo_buf *x)
{
	r->role = (char *)role;
	r->reservation = &x->ri;
}

void launchable_labels(Mesos__V1__Labels *l, Mesos__V1__Label lab[2], Mesos__V1__Label *labp[2],
                       const char *job, const char *inst)
{
	mesos__v1__labels__init(l);
	for (int i = 0; i < 2; i++) {
		mesos__v1__label__init(&lab[i]);
		labp[i] = &lab[i];
	}
	lab[0].key = "job_id";
	lab[0].value = (char *)job;
	lab[1].key = "instance_id";
	lab[1].value = (char *)inst;
	l->n_labels = 2;
	l->labels = labp;
}

void launchable_teardown(struct launchable_teardown *x, const char *volume_id, const char *job,
                         uint32_t instance)
{
	peloton__private__hostmgr__hostsvc__offer_operation__init(&x->des);
	peloton__private__hostmgr__hostsvc__offer_operation__init(&x->un);
	peloton__private__hostmgr__hostsvc__offer_operation__destroy__init(&x->d);
	peloton__private__hostmgr__hostsvc__offer_operation__unreserve__init(&x->u);
	/* the text reserved_labels_text gives for launchable_labels' labels */
	snprintf(x->label, sizeof(x->label), "job_id=%s,instance_id=%u", job, instance);
	x->d.volumeid = (char *)volume_id;
	x->u.label = x->label;
	x->des.type = PELOTON__PRIVATE__HOSTMGR__HOSTSVC__OFFER_OPERATION__TYPE__DESTROY;
	x->des.destroy = &x->d;
	x->un.type = PELOTON__PRIVATE__HOSTMGR__HOSTSVC__OFFER_OPERATION__TYPE__UNRESERVE;
	x->un.unreserve = &x->u;
	x->ops[0] = &x->des;
	x->ops[1] = &x->un;
}

void launchable_reserve(const struct launchable *lt, const char *role, const char *principal,
                        struct taskinfo_buf *x)
{
	const struct launchable_volume *v = lt->volume;
	x->n_resv = 0;
	x->vol = NULL;
	if (v == NULL)
		return;
	mesos__v1__resource__reservation_info__init(&x->ri);
	launchable_labels(&x->rlabels, x->rlab, x->rlabp, x->job, x->inst);
	x->ri.principal = (char *)principal;
	x->ri.labels = &x->rlabels;
	/* the scalars the config asked for, reserved; ports and gpus stay as offered */
	for (size_t i = 0; i < x->ti.n_resources; i++) {
		Mesos__V1__Resource *r = x->ti.resources[i];
		if (strcmp(r->name, "cpus") != 0 && strcmp(r->name, "mem") != 0 &&
		    strcmp(r->name, "disk") != 0)
			continue;
		reserve_one(r, role, x);
		x->resv[x->n_resv++] = r;
	}
	/* the volume's disk: reserved, then made a volume */
	x->vdisk = (Mesos__V1__Resource)MESOS__V1__RESOURCE__INIT;
	launchable_scalar(&x->vdisk, &x->vdisk_sc, "disk", v->size_mb);
	reserve_one(&x->vdisk, role, x);
	x->resv[x->n_resv++] = &x->vdisk;
	size_t n = x->ti.n_resources;
	x->res[n] = x->vdisk;
	mesos__v1__resource__disk_info__init(&x->vdi);
	mesos__v1__resource__disk_info__persistence__init(&x->vpe);
	mesos__v1__volume__init(&x->vvol);
	x->vpe.id = (char *)v->id;
	x->vpe.principal = (char *)principal;
	x->vvol.container_path = (char *)v->container_path;
	x->vvol.mode = MESOS__V1__VOLUME__MODE__RW;
	x->vdi.persistence = &x->vpe;
	x->vdi.volume = &x->vvol;
	x->res[n].disk = &x->vdi;
	x->resp[n] = &x->res[n];
	x->vol = &x->res[n];
	x->ti.n_resources = n + 1;
}

int launchable_from_proto(const Peloton__Private__Hostmgr__Hostsvc__LaunchableTask *p,
                          uint32_t *ports, size_t cap, struct launchable_volume *vol,
                          struct launchable *out, char *err, size_t errlen)
{
	if (!p->taskid || !p->taskid->value || !p->taskid->value[0]) {
		snprintf(err, errlen, "a task has no taskId");
		return -1;
	}
	if (!p->config) {
		snprintf(err, errlen, "task %s has no config", p->taskid->value);
		return -1;
	}
	const Peloton__Api__Task__TaskConfig *tc = p->config;
	if (tc->n_ports > cap) {
		snprintf(err, errlen, "task %s: %zu ports (at most %zu)", p->taskid->value,
		         tc->n_ports, cap);
		return -1;
	}
	for (size_t i = 0; i < tc->n_ports; i++) {
		ports[i] = tc->ports[i]->value;
		for (size_t k = 0; tc->ports[i]->name && k < p->n_ports; k++)
			if (p->ports[k]->key && strcmp(p->ports[k]->key, tc->ports[i]->name) == 0)
				ports[i] = p->ports[k]->value;
	}
	*out = (struct launchable){p->taskid->value, tc, ports, tc->n_ports, NULL};
	if (p->volume == NULL)
		return 0;
	const Peloton__Private__Hostmgr__Hostsvc__Volume *v = p->volume;
	double mb = v->resource && v->resource->scalar ? v->resource->scalar->value : 0;
	if (!v->id || !v->id->value || !v->id->value[0] || !v->containerpath ||
	    !v->containerpath[0] || !(mb >= 1 && mb <= 1e9)) {
		snprintf(err, errlen,
		         "task %s: its volume needs an id, a containerPath and a disk resource of "
		         "1 MB to 1e9 MB",
		         p->taskid->value);
		return -1;
	}
	*vol = (struct launchable_volume){v->id->value, v->containerpath, (uint32_t)mb, false};
	out->volume = vol;
	return 0;
}
