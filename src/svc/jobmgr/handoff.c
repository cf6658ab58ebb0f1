/* Tasks to the resource manager, kills to the host manager; see handoff.h. */
#include <stdlib.h>
#include <string.h>

#include "fsm.h"
#include "handoff.h"
#include "log.h"
#include "volume.h"
#include "peloton/api/volume/volume.pb-c.h"
#include "rmtask.h"

static enum resmgr_task_type rm_type(Peloton__Api__Job__JobType t)
{
	return t == PELOTON__API__JOB__JOB_TYPE__SERVICE ? RM_TYPE_STATELESS : RM_TYPE_BATCH;
}

#define ENQUEUE_RETRY_NS 1000000000ull

/* The label every task of a DAEMON job carries, and the TASK-kind
 * constraint on it that keeps two of the job's tasks off one host. */
#define DAEMON_LABEL "peloton.daemon"

/* Tasks of j admitted: not INITIALIZED, not terminal, not held. j->mu held. */
static uint32_t admitted__(const struct jm_job *j)
{
	uint32_t out = j->counts[TASK_INITIALIZED] + j->n_held;
	for (int s = 0; s < TASK_N_STATES; s++)
		if (taskstate_terminal((enum taskstate)s))
			out += j->counts[s];
	return j->n > out ? j->n - out : 0;
}

static uint32_t max_running(const struct jm_job *j)
{
	uint32_t mx = j->cfg->sla ? j->cfg->sla->maximumrunninginstances : 0;
	return mx && mx < j->n ? mx : 0;
}

/*
 * sla.maximumRunningInstances (j->mu held): of insts[0..n), the tasks the
 * cap lets go to the resource manager are copied to go[] (their count
 * returned, a whole number of gangs); the others are held PENDING with a
 * reason. Tasks held before are held first, then the last of the batch,
 * so a batch that re-sends tasks already admitted keeps them admitted.
 */
static size_t cap__(struct jm_job *j, const uint32_t *insts, size_t n, uint32_t gang, uint32_t *go)
{
	uint32_t mx = max_running(j);
	bool *was = mx ? calloc(n ? n : 1, sizeof(bool)) : NULL;
	if (!was) {
		memcpy(go, insts, n * sizeof(*insts));
		return n;
	}
	for (size_t k = 0; k < n; k++) { /* judged again below */
		struct jm_task *t = &j->tasks[insts[k]];
		if (t->held) {
			was[k] = true;
			t->held = false;
			j->n_held--;
		}
	}
	uint32_t adm = admitted__(j);
	size_t over = adm > mx ? adm - mx : 0;
	if (over > n)
		over = n;
	size_t keep = n - over;
	if (over && gang > 1)
		keep -= keep % gang;
	over = n - keep;
	for (size_t k = 0; k < n && over; k++) /* the held before, first */
		if (was[k]) {
			j->tasks[insts[k]].held = true;
			j->n_held++;
			over--;
		}
	for (size_t k = n; k-- > 0 && over;)
		if (!j->tasks[insts[k]].held) {
			j->tasks[insts[k]].held = true;
			j->n_held++;
			over--;
		}
	size_t ng = 0, nh = 0;
	for (size_t k = 0; k < n; k++) {
		struct jm_task *t = &j->tasks[insts[k]];
		if (!t->held) {
			go[ng++] = insts[k];
			continue;
		}
		nh++;
		if (!t->reason || strcmp(t->reason, JM_HELD_REASON) != 0) {
			free(t->reason);
			t->reason = strdup(JM_HELD_REASON);
		}
	}
	if (nh && nh != n)
		log_job(LOG_INFO, "jobmgr", j->id,
		        "job %s: %zu of %zu task(s) wait for sla.maximumRunningInstances %u", j->id,
		        nh, n, mx);
	free(was);
	return ng;
}

void jm__admit_held__(struct jobmgr *jm, struct jm_job *j)
{
	uint32_t mx = max_running(j);
	if (!mx || !j->n_held)
		return;
	uint32_t adm = admitted__(j);
	if (adm >= mx)
		return;
	uint32_t room = mx - adm;
	uint32_t *v = calloc(room, sizeof(uint32_t));
	size_t k = 0;
	for (uint32_t i = 0; v && i < j->n && k < room; i++)
		if (j->tasks[i].held && !jm_goal_down(j->tasks[i].goal) && !j->deleted)
			v[k++] = i;
	if (k)
		jm__enqueue(jm, j, v, k);
	free(v);
}

/* A DAEMON job's label and constraint for one task (the storage). */
struct daemon_rule {
	Peloton__Api__Peloton__Label label;
	Peloton__Api__Task__LabelConstraint lc;
	Peloton__Api__Task__Constraint leaf, both;
	Peloton__Api__Task__AndConstraint and;
	Peloton__Api__Task__Constraint *pair[2];
};

/* d->leaf: fewer than 1 task labelled DAEMON_LABEL=job on the host; d->both:
 * that and the task's own constraint. */
static void daemon_rule(struct daemon_rule *d, const char *job,
                        Peloton__Api__Task__Constraint *given)
{
	peloton__api__peloton__label__init(&d->label);
	d->label.key = DAEMON_LABEL;
	d->label.value = (char *)job;
	peloton__api__task__label_constraint__init(&d->lc);
	d->lc.kind = PELOTON__API__TASK__LABEL_CONSTRAINT__KIND__TASK;
	d->lc.condition = PELOTON__API__TASK__LABEL_CONSTRAINT__CONDITION__CONDITION_LESS_THAN;
	d->lc.label = &d->label;
	d->lc.requirement = 1;
	peloton__api__task__constraint__init(&d->leaf);
	d->leaf.type = PELOTON__API__TASK__CONSTRAINT__TYPE__LABEL_CONSTRAINT;
	d->leaf.labelconstraint = &d->lc;
	peloton__api__task__constraint__init(&d->both);
	peloton__api__task__and_constraint__init(&d->and);
	d->pair[0] = &d->leaf;
	d->pair[1] = given;
	d->and.constraints = d->pair;
	d->and.n_constraints = 2;
	d->both.type = PELOTON__API__TASK__CONSTRAINT__TYPE__AND_CONSTRAINT;
	d->both.andconstraint = &d->and;
}

/*
 * A stateful task's pin (the storage): once its volume exists, a HOST
 * constraint on the label its volume's offer gives (the placement engine
 * then asks only for what is reserved there); while the volume is not
 * confirmed, on its host by name. ANDed with the constraint so far.
 */
struct pin_rule {
	Peloton__Api__Peloton__Label label;
	Peloton__Api__Task__LabelConstraint lc;
	Peloton__Api__Task__Constraint leaf, both;
	Peloton__Api__Task__AndConstraint and;
	Peloton__Api__Task__Constraint *pair[2];
	char id[64], host[256];
	bool created;
};

/* Task i's pin from its volume (copied under vol_mu); false when it has none. */
static bool pin_of(struct jobmgr *jm, const struct jm_task *t, struct pin_rule *p)
{
	if (t->vol == NULL)
		return false;
	pthread_mutex_lock(&jm->vol_mu);
	snprintf(p->id, sizeof(p->id), "%s", t->vol->id);
	snprintf(p->host, sizeof(p->host), "%s", t->vol->host ? t->vol->host : "");
	p->created = t->vol->state == PELOTON__API__VOLUME__VOLUME_STATE__CREATED;
	pthread_mutex_unlock(&jm->vol_mu);
	return p->host[0] != '\0';
}

static Peloton__Api__Task__Constraint *pin_rule(struct pin_rule *p,
                                                Peloton__Api__Task__Constraint *given)
{
	peloton__api__peloton__label__init(&p->label);
	p->label.key = p->created ? HOSTMGR_VOLUME_LABEL : "hostname";
	p->label.value = p->created ? p->id : p->host;
	peloton__api__task__label_constraint__init(&p->lc);
	p->lc.kind = PELOTON__API__TASK__LABEL_CONSTRAINT__KIND__HOST;
	p->lc.condition = PELOTON__API__TASK__LABEL_CONSTRAINT__CONDITION__CONDITION_EQUAL;
	p->lc.label = &p->label;
	p->lc.requirement = 1;
	peloton__api__task__constraint__init(&p->leaf);
	p->leaf.type = PELOTON__API__TASK__CONSTRAINT__TYPE__LABEL_CONSTRAINT;
	p->leaf.labelconstraint = &p->lc;
	if (given == NULL)
		return &p->leaf;
	peloton__api__task__constraint__init(&p->both);
	peloton__api__task__and_constraint__init(&p->and);
	p->pair[0] = &p->leaf;
	p->pair[1] = given;
	p->and.constraints = p->pair;
	p->and.n_constraints = 2;
	p->both.type = PELOTON__API__TASK__CONSTRAINT__TYPE__AND_CONSTRAINT;
	p->both.andconstraint = &p->and;
	return &p->both;
}

/* Task i of j as the resource manager's task spec (its payload malloc'd:
 * the caller frees it); id is the spec's id. False on ENOMEM. */
static bool task_spec(struct jobmgr *jm, const struct jm_job *j, uint32_t i, uint32_t gang,
                      char *id, struct resmgr_task_spec *out)
{
	const Peloton__Api__Task__TaskConfig *tc = j->merged[i];
	bool daemon = j->cfg->type == PELOTON__API__JOB__JOB_TYPE__DAEMON;
	struct daemon_rule dr;
	struct pin_rule pr;
	Peloton__Api__Task__ResourceConfig with_volume;
	Peloton__Private__Resmgr__Task t = PELOTON__PRIVATE__RESMGR__TASK__INIT;
	Peloton__Api__Peloton__TaskID tid = PELOTON__API__PELOTON__TASK_ID__INIT;
	Peloton__Api__Peloton__JobID jid = PELOTON__API__PELOTON__JOB_ID__INIT;
	Mesos__V1__Labels labels = MESOS__V1__LABELS__INIT;
	Mesos__V1__Label lv[32], *lp[32];
	jid.value = (char *)j->id;
	tid.value = id;
	t.name = tc->name && tc->name[0] ? tc->name : j->cfg->name;
	t.id = &tid;
	t.jobid = &jid;
	t.resource = tc->resource;
	t.priority = j->cfg->sla ? j->cfg->sla->priority : 0;
	t.preemptible = j->cfg->sla ? j->cfg->sla->preemptible : false;
	if (tc->preemptionpolicy) /* an instance's own word beats the job's SLA (upstream) */
		switch (tc->preemptionpolicy->type) {
		case PELOTON__API__TASK__PREEMPTION_POLICY__TYPE__TYPE_PREEMPTIBLE:
			t.preemptible = true;
			break;
		case PELOTON__API__TASK__PREEMPTION_POLICY__TYPE__TYPE_NON_PREEMPTIBLE:
			t.preemptible = false;
			break;
		default:
			break;
		}
	t.type = (Peloton__Private__Resmgr__TaskType)rm_type(j->cfg->type);
	t.controller = tc->controller;
	t.numports = 0;
	for (size_t p = 0; p < tc->n_ports; p++)
		t.numports += tc->ports[p]->value == 0;
	t.constraint = tc->constraint;
	if (daemon) {
		daemon_rule(&dr, j->id, tc->constraint);
		t.constraint = tc->constraint ? &dr.both : &dr.leaf;
	}
	if (jm__wants_volume(tc) && tc->resource) {
		/* what it holds on its host: the volume's disk besides the task's,
		 * the same on every run (its reservation stays charged to the pool
		 * between runs, resmgr.c task_finished); stateful tasks are not
		 * preempted, as upstream's */
		with_volume = *tc->resource;
		with_volume.disklimitmb += tc->volume->sizemb;
		t.resource = &with_volume;
		t.type = PELOTON__PRIVATE__RESMGR__TASK_TYPE__STATEFUL;
		t.preemptible = false;
	}
	if (pin_of(jm, &j->tasks[i], &pr)) { /* back to its volume */
		t.constraint = pin_rule(&pr, t.constraint);
		if (pr.created) /* on what is reserved there (the placement engine) */
			t.hostname = pr.host;
	}
	t.mininstances = gang;
	/* the job's placementStrategy, then task labels, then the job's (a
	 * placement strategy label there wins: the engine reads the last), then
	 * a daemon's own; 32 at most */
	size_t nl = 0, room = daemon ? 31 : 32;
	if (j->cfg->placementstrategy ==
	        PELOTON__API__JOB__PLACEMENT_STRATEGY__PLACEMENT_STRATEGY_PACK_HOST ||
	    j->cfg->placementstrategy ==
	        PELOTON__API__JOB__PLACEMENT_STRATEGY__PLACEMENT_STRATEGY_SPREAD_JOB) {
		mesos__v1__label__init(&lv[nl]);
		lv[nl].key = RESMGR_STRATEGY_LABEL;
		lv[nl].value =
		    j->cfg->placementstrategy ==
		            PELOTON__API__JOB__PLACEMENT_STRATEGY__PLACEMENT_STRATEGY_SPREAD_JOB
		        ? "spread"
		        : "pack";
		lp[nl] = &lv[nl];
		nl++;
	}
	for (size_t l = 0; l < tc->n_labels && nl < room; l++, nl++) {
		mesos__v1__label__init(&lv[nl]);
		lv[nl].key = tc->labels[l]->key;
		lv[nl].value = tc->labels[l]->value;
		lp[nl] = &lv[nl];
	}
	for (size_t l = 0; l < j->cfg->n_labels && nl < room; l++, nl++) {
		mesos__v1__label__init(&lv[nl]);
		lv[nl].key = j->cfg->labels[l]->key;
		lv[nl].value = j->cfg->labels[l]->value;
		lp[nl] = &lv[nl];
	}
	if (daemon) {
		mesos__v1__label__init(&lv[nl]);
		lv[nl].key = DAEMON_LABEL;
		lv[nl].value = (char *)j->id;
		lp[nl] = &lv[nl];
		nl++;
	}
	labels.n_labels = nl;
	labels.labels = lp;
	t.labels = nl ? &labels : NULL;
	if (!rmtask_spec(&t, out))
		return false;
	out->id = id;
	out->job_id = j->id;
	return true;
}

/* Enqueues instances insts[0..n) of j (j->mu held). Returns tasks accepted. */
size_t jm__enqueue(struct jobmgr *jm, struct jm_job *j, const uint32_t *insts_in, size_t n_in)
{
	uint32_t gang = j->cfg->sla && j->cfg->sla->minimumrunninginstances > 1
	                    ? j->cfg->sla->minimumrunninginstances
	                    : 1;
	uint32_t *insts = calloc(n_in ? n_in : 1, sizeof(uint32_t));
	if (!insts)
		return 0;
	size_t n = cap__(j, insts_in, n_in, gang, insts);
	struct resmgr_task_spec *specs = calloc(n ? n : 1, sizeof(*specs));
	struct resmgr_gang_spec *gangs = calloc(n ? n : 1, sizeof(*gangs));
	char(*ids)[96] = calloc(n ? n : 1, sizeof(*ids));
	size_t ok = 0, ng = 0;
	if (!specs || !gangs || !ids)
		goto out;
	for (size_t k = 0; k < n; k++) {
		snprintf(ids[k], sizeof(ids[k]), "%s-%u", j->id, insts[k]);
		if (!task_spec(jm, j, insts[k], gang, ids[k], &specs[k]))
			goto out;
	}
	/* gangs: consecutive runs of `gang` tasks (the last may be shorter) */
	for (size_t k = 0; k < n; k += gang) {
		gangs[ng].tasks = &specs[k];
		gangs[ng].n_tasks = n - k < gang ? n - k : gang;
		ng++;
	}
	enum resmgr_fail *fail = calloc(ng ? ng : 1, sizeof(*fail));
	if (fail) /* else every task is retried (out of memory) */
		jm->cfg.rm.enqueue(jm->cfg.rm.arg, j->pool, gangs, ng, fail);
	/* one log line per reason for the call, naming the first task */
	const char *logged[RM_NO_MEMORY + 2] = {0};
	size_t n_why[RM_NO_MEMORY + 2] = {0};
	uint32_t first[RM_NO_MEMORY + 2] = {0};
	bool retry_why[RM_NO_MEMORY + 2] = {0};
	for (size_t g = 0; g < ng; g++) {
		for (size_t k = 0; k < gangs[g].n_tasks; k++) {
			uint32_t i = insts[(size_t)(gangs[g].tasks - specs) + k];
			/* already there: a resource manager apart kept it (the job
			 * manager restarted, or enqueued everything again after an
			 * outage) */
			if (fail && (fail[g] == RM_OK || fail[g] == RM_ALREADY_EXISTS)) {
				ok++;
				continue;
			}
			const char *why = fail ? resmgr_fail_name(fail[g]) : "out of memory";
			/* a resource manager apart that did not answer (or no memory):
			 * the sweeper enqueues it again in a second; other reasons
			 * (pool gone, invalid) are final */
			bool again = !fail || fail[g] == RM_NO_MEMORY;
			if (again)
				j->tasks[i].due_ns = clock_wall_ns() + ENQUEUE_RETRY_NS;
			int w = fail ? (int)fail[g] : RM_NO_MEMORY + 1;
			if (!again || !j->tasks[i].reason || strcmp(j->tasks[i].reason, why) != 0) {
				if (n_why[w]++ == 0)
					first[w] = i;
				logged[w] = why;
				retry_why[w] = again;
			}
			free(j->tasks[i].reason);
			j->tasks[i].reason = strdup(why);
		}
	}
	for (int w = 0; w < RM_NO_MEMORY + 2; w++)
		if (n_why[w])
			log_warn("jobmgr",
			         "%zu task(s) of job %s not enqueued (the first %s-%u): %s%s",
			         n_why[w], j->id, j->id, first[w], logged[w],
			         retry_why[w] ? " (retrying every second)" : "");
	free(fail);
out:
	for (size_t k = 0; specs && k < n; k++)
		free((void *)specs[k].payload);
	free(specs);
	free(gangs);
	free(ids);
	free(insts);
	return ok;
}

void jm__kill_run(struct jobmgr *jm, struct jm_job *j, uint32_t inst, uint64_t now)
{
	struct jm_task *t = &j->tasks[inst];
	char mid[128];
	snprintf(mid, sizeof(mid), "%s-%u-%u", j->id, inst, t->run);
	if (jm->cfg.hm.kill)
		jm->cfg.hm.kill(jm->cfg.hm.arg, mid, t->agent);
	jm__move(j, inst, JM_KILL);
	t->due_ns = now + JM_KILL_RESEND_NS;
}

bool jm__stop_task__(struct jobmgr *jm, struct jm_job *j, uint32_t inst)
{
	struct jm_task *t = &j->tasks[inst];
	t->goal = TASK_KILLED;
	if (taskstate_terminal((enum taskstate)t->state) || t->state == TASK_KILLING)
		return false; /* done, or being killed (the sweeper resends) */
	if (jm_on_mesos((enum taskstate)t->state) && t->agent) {
		jm__kill_run(jm, j, inst, clock_wall_ns());
	} else {
		char ptask[96];
		snprintf(ptask, sizeof(ptask), "%s-%u", j->id, inst);
		jm->cfg.rm.kill(jm->cfg.rm.arg, ptask);
		jm__move(j, inst, JM_KILL);
		t->done_ns = clock_wall_ns();
	}
	return true;
}
